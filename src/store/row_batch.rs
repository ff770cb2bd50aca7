//! Rows copied out of SQLite in batches, to be decoded where they are consumed.
//!
//! A range read steps its statement on a blocking thread. Decoding a row there would
//! allocate its strings on that thread and free them on the consumer's, which costs the
//! allocator far more than the allocations themselves. The reader copies each batch of
//! rows into one buffer instead ([`RowCopier::push`]), and the consumer decodes the rows
//! from it ([`RowBatch::decode`]): every string of a row is allocated and freed on
//! the same thread, and a batch costs the reader three allocations however many rows it
//! holds.

use super::StoreError;

/// One column of one copied row.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Integer(i64),
    /// Bytes `start..end` of the batch's text.
    Text {
        start: usize,
        end: usize,
    },
    /// A REAL or BLOB, which no column the store reads this way holds.
    Other,
}

/// The text of a batch: checked as UTF-8 once, or left as bytes when some cell is not.
#[derive(Debug)]
enum Text {
    Checked(String),
    Unchecked(Vec<u8>),
}

/// Rows of one statement being copied out of SQLite, all of `columns` columns.
#[derive(Debug)]
pub(super) struct RowCopier {
    columns: usize,
    text: Vec<u8>,
    cells: Vec<Cell>,
}

impl RowCopier {
    /// An empty batch for rows of `columns` columns, with room for `rows` rows.
    pub(super) fn new(columns: usize, rows: usize) -> RowCopier {
        RowCopier {
            columns,
            text: Vec::with_capacity(rows * columns * 16),
            cells: Vec::with_capacity(rows * columns),
        }
    }

    /// Copies the row the cursor is on.
    pub(super) fn push(&mut self, row: &rusqlite::Row<'_>) -> Result<(), StoreError> {
        use rusqlite::types::ValueRef;
        for i in 0..self.columns {
            let cell = match row
                .get_ref(i)
                .map_err(|e| StoreError::Database(e.to_string()))?
            {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Integer(n),
                ValueRef::Text(bytes) => {
                    let start = self.text.len();
                    self.text.extend_from_slice(bytes);
                    Cell::Text {
                        start,
                        end: self.text.len(),
                    }
                }
                ValueRef::Real(_) | ValueRef::Blob(_) => Cell::Other,
            };
            self.cells.push(cell);
        }
        Ok(())
    }

    /// Rows copied so far.
    pub(super) fn len(&self) -> usize {
        self.cells.len().checked_div(self.columns).unwrap_or(0)
    }

    /// The batch, its text checked as UTF-8 once for all its rows, so reading a cell only
    /// checks that it starts and ends on character boundaries.
    pub(super) fn seal(self) -> RowBatch {
        RowBatch {
            columns: self.columns,
            text: match String::from_utf8(self.text) {
                Ok(text) => Text::Checked(text),
                Err(e) => Text::Unchecked(e.into_bytes()),
            },
            cells: self.cells,
        }
    }
}

/// Emptied batches kept for the reader to fill again: a batch's buffers are large, and
/// giving them back to the allocator on the consumer's thread and taking new ones on the
/// reader's costs more than the copying.
#[derive(Debug, Default)]
pub(super) struct SpareBatches(std::sync::Mutex<Vec<RowCopier>>);

/// Most emptied batches kept: about as many as two readers have queued.
const MAX_SPARE_BATCHES: usize = 72;

impl SpareBatches {
    /// An empty batch for rows of `columns` columns, with room for `rows` rows, reused
    /// when one is kept.
    pub(super) fn take(&self, columns: usize, rows: usize) -> RowCopier {
        let spare = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some(mut batch) if batch.columns == columns => {
                batch.text.clear();
                batch.cells.clear();
                batch
            }
            _ => RowCopier::new(columns, rows),
        }
    }

    /// Keeps `batch`'s buffers for [`SpareBatches::take`].
    pub(super) fn keep(&self, batch: RowBatch) {
        let mut spare = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < MAX_SPARE_BATCHES {
            spare.push(RowCopier {
                columns: batch.columns,
                text: match batch.text {
                    Text::Checked(text) => text.into_bytes(),
                    Text::Unchecked(bytes) => bytes,
                },
                cells: batch.cells,
            });
        }
    }
}

/// Rows copied out of SQLite, all of `columns` columns, ready to be decoded.
#[derive(Debug)]
pub(super) struct RowBatch {
    columns: usize,
    text: Text,
    cells: Vec<Cell>,
}

impl RowBatch {
    /// Rows in the batch.
    pub(super) fn len(&self) -> usize {
        self.cells.len().checked_div(self.columns).unwrap_or(0)
    }

    /// Row `i` decoded by `decode`, or `None` past the last row.
    pub(super) fn decode<T>(
        &self,
        i: usize,
        decode: fn(&CopiedRow<'_>) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        let cells = self.cells.get(i * self.columns..(i + 1) * self.columns)?;
        Some(decode(&CopiedRow { batch: self, cells }))
    }

    /// Every row, decoded by `decode`.
    pub(super) fn decode_all<T>(
        &self,
        decode: fn(&CopiedRow<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        (0..self.len())
            .filter_map(|i| self.decode(i, decode))
            .collect()
    }
}

/// One row of a [`RowBatch`].
pub(super) struct CopiedRow<'a> {
    batch: &'a RowBatch,
    cells: &'a [Cell],
}

impl CopiedRow<'_> {
    fn cell(&self, i: usize) -> Result<Cell, StoreError> {
        self.cells
            .get(i)
            .copied()
            .ok_or_else(|| StoreError::Database(format!("no column {i}")))
    }

    fn wrong_type(i: usize, wanted: &str, found: Cell) -> StoreError {
        let found = match found {
            Cell::Null => "NULL",
            Cell::Integer(_) => "an integer",
            Cell::Text { .. } => "text",
            Cell::Other => "a real or blob",
        };
        StoreError::Database(format!("column {i}: {wanted} expected, {found} found"))
    }

    /// A text column that may be NULL.
    pub(super) fn optional_text(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text { start, end } => {
                let text = match &self.batch.text {
                    Text::Checked(text) => text.get(start..end),
                    Text::Unchecked(_) => None,
                };
                match text {
                    Some(text) => Ok(Some(text)),
                    None => {
                        let bytes = match &self.batch.text {
                            Text::Checked(text) => text.as_bytes().get(start..end),
                            Text::Unchecked(bytes) => bytes.get(start..end),
                        };
                        std::str::from_utf8(bytes.unwrap_or_default())
                            .map(Some)
                            .map_err(|e| StoreError::Database(format!("column {i}: {e}")))
                    }
                }
            }
            other => Err(Self::wrong_type(i, "text", other)),
        }
    }

    /// A text column.
    pub(super) fn text(&self, i: usize) -> Result<&str, StoreError> {
        match self.optional_text(i)? {
            Some(text) => Ok(text),
            None => Err(Self::wrong_type(i, "text", Cell::Null)),
        }
    }

    /// A text column, owned.
    pub(super) fn string(&self, i: usize) -> Result<String, StoreError> {
        self.text(i).map(str::to_owned)
    }

    /// A text column that may be NULL, owned.
    pub(super) fn optional_string(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.optional_text(i)?.map(str::to_owned))
    }

    /// An integer column.
    pub(super) fn integer(&self, i: usize) -> Result<i64, StoreError> {
        match self.cell(i)? {
            Cell::Integer(n) => Ok(n),
            other => Err(Self::wrong_type(i, "an integer", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(sql: &str) -> RowBatch {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let mut batch = RowCopier::new(stmt.column_count(), 2);
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            batch.push(row).unwrap();
        }
        batch.seal()
    }

    #[test]
    fn rows_read_back_as_copied() {
        let batch =
            batch_of("SELECT 'CA1', 7, NULL, 'é' UNION ALL SELECT 'CA2', -1, 'x', '' ORDER BY 1");
        assert_eq!(batch.len(), 2);
        let rows = batch
            .decode_all(|r| {
                Ok((
                    r.string(0)?,
                    r.integer(1)?,
                    r.optional_string(2)?,
                    r.text(3)?.to_owned(),
                ))
            })
            .unwrap();
        assert_eq!(
            rows,
            [
                ("CA1".to_owned(), 7, None, "é".to_owned()),
                ("CA2".to_owned(), -1, Some("x".to_owned()), String::new())
            ]
        );
    }

    #[test]
    fn a_cell_of_the_wrong_type_or_not_utf8_is_an_error() {
        let batch = batch_of("SELECT NULL, 'text', 1.5, CAST(x'c3' AS TEXT), CAST(x'a9' AS TEXT)");
        let errors: Vec<String> = batch
            .decode_all(|r| {
                Ok([
                    r.text(0).err(),
                    r.integer(1).err(),
                    r.text(2).err(),
                    r.text(3).err(),
                    r.text(4).err(),
                    r.text(9).err(),
                ])
            })
            .unwrap()
            .into_iter()
            .flatten()
            .map(|e| e.map(|e| e.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(
            errors,
            [
                "database: column 0: text expected, NULL found",
                "database: column 1: an integer expected, text found",
                "database: column 2: text expected, a real or blob found",
                "database: column 3: incomplete utf-8 byte sequence from index 0",
                "database: column 4: invalid utf-8 sequence of 1 bytes from index 0",
                "database: no column 9",
            ]
        );
    }
}
