//! The embedded SQLite store: one database file in WAL mode, written by a
//! single thread that commits webhooks in batches, read through a small pool
//! of separate connections.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use tokio::sync::oneshot;

use futures_util::StreamExt;

use super::live_calls::{LiveCalls, ReplyLookup};
use super::row_batch::{CopiedRow, RowBatch, RowCopier, SpareBatches};
use super::rows::{
    call_columns, decode_value, event_columns, parse_name, parse_ts, range_query, to_u32, ts,
};
use super::{
    CallRange, CallRecord, CommitOutcome, RowStream, Store, StoreError, WebhookCommit, schema,
};
use crate::call::{CallSession, EventKind, FlowClosure, LogEvent};
use writer::{Request, Writer};

mod writer;

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 4;
/// How long a commit waits for another process's write lock. With the lookup budget
/// (10 s) and one retry of a failed commit it keeps a webhook inside Twilio's 15 s.
const BUSY_TIMEOUT: Duration = Duration::from_millis(2000);

/// The database file as opened, to notice it being deleted or replaced underneath: SQLite
/// then goes on writing into an unlinked file, and every commit from then on is lost.
#[derive(Debug, Clone)]
struct FileIdentity {
    path: PathBuf,
    id: (u64, u64),
}

impl FileIdentity {
    fn of(path: &Path) -> Result<FileIdentity, StoreError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| StoreError::Database(format!("{}: {e}", path.display())))?;
        Ok(FileIdentity {
            path: path.to_path_buf(),
            id: file_id(&meta),
        })
    }

    fn still_there(&self) -> Result<(), StoreError> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if file_id(&meta) == self.id => Ok(()),
            _ => Err(StoreError::Vanished(self.path.display().to_string())),
        }
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

// Without inode numbers a file cannot be told from its replacement: only its removal is noticed.
#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// Sessions, call log and webhook replies in one SQLite database.
pub struct SqliteStore {
    requests: Option<mpsc::Sender<Request>>,
    file: Option<FileIdentity>,
    writer: Option<JoinHandle<()>>,
    checkpoints: Option<Checkpointer>,
    readers: Arc<ReadPool>,
    /// The calls held in memory (changed only by the writer thread).
    live: Arc<LiveCalls>,
    /// An in-memory database lives only while a connection to it is open.
    _anchor: Option<Mutex<Connection>>,
}

/// Read connections, opened on demand and reused.
struct ReadPool {
    source: PathBuf,
    flags: OpenFlags,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::start(path.to_path_buf(), OpenFlags::empty(), false)
    }

    /// Opens a fresh database that lives in memory for as long as the store does.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // The memdb VFS rather than a shared cache: its conflicts are SQLITE_BUSY,
        // which busy_timeout waits out, while shared-cache table locks fail at
        // once with SQLITE_LOCKED whenever a read meets the writer.
        let uri = format!("file:/phonetree-{}-{n}?vfs=memdb", std::process::id());
        SqliteStore::start(PathBuf::from(uri), OpenFlags::SQLITE_OPEN_URI, true)
    }

    fn start(source: PathBuf, extra: OpenFlags, memory: bool) -> Result<SqliteStore, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra;
        let writer = open_writer(&source, flags, memory)?;
        let file = if memory {
            None
        } else {
            Some(FileIdentity::of(&source)?)
        };
        let writer_file = file.clone();
        let readers = Arc::new(ReadPool {
            source,
            flags,
            idle: Mutex::new(Vec::new()),
        });
        let anchor = if memory {
            Some(Mutex::new(readers.open()?))
        } else {
            None
        };
        let (requests, queue) = mpsc::channel();
        let live = Arc::new(LiveCalls::default());
        let writer = Writer::new(writer, Arc::clone(&live), writer_file)?;
        // A dedicated thread rather than spawn_blocking per commit: one
        // connection may only run one transaction, and a long-lived loop is
        // what lets a batch of queued webhooks share a single fsync.
        let writer = std::thread::Builder::new()
            .name("phonetree-store".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StoreError::Database(format!("starting the writer thread: {e}")))?;
        let checkpoints = if memory {
            None
        } else {
            Some(Checkpointer::start(&readers)?)
        };
        Ok(SqliteStore {
            requests: Some(requests),
            file,
            writer: Some(writer),
            checkpoints,
            readers,
            live,
            _anchor: anchor,
        })
    }

    /// Runs `f` in a transaction of its own connection, off the async threads: for the rare
    /// writes that are not webhooks (flow versions, expiry, pruning), which wait for the
    /// writer thread's lock like another process would.
    async fn write_aside<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let flags = pool.flags;
            let mut conn = Connection::open_with_flags(&pool.source, flags).map_err(db)?;
            configure(&conn)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let out = f(&tx)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Database(format!("write task: {e}")))?
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        self.requests
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(request)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on the writer thread, between two batches of webhooks.
    async fn on_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.send(Request::Job(Box::new(move |w| {
            let _ = done.send(f(w));
        })))?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// What is held of a call, read from the database into memory when memory does not
    /// hold it.
    async fn load(
        &self,
        call_sid: &str,
    ) -> Result<Option<super::live_calls::LiveCall>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Load {
            call_sid: call_sid.to_owned(),
            reply,
        })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The answer a memory lookup points at.
    async fn reply_of(
        &self,
        call_sid: &str,
        lookup: ReplyLookup,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        let ReplyLookup::Row(id) = lookup else {
            return Ok(None);
        };
        let (sid, fingerprint) = (call_sid.to_owned(), fingerprint.to_owned());
        self.read(move |conn| writer::reply_in_row(conn, &sid, id, &fingerprint))
            .await
    }

    /// How many calls the store holds in memory.
    pub fn calls_in_memory(&self) -> usize {
        self.live.len()
    }

    /// Runs `f` on a read connection off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let out = f(&conn);
            pool.put(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer once its current batch is
        // committed; joining it means the file is closed when drop returns,
        // so a reopen or process exit right after sees a settled database.
        self.requests.take();
        self.checkpoints.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl ReadPool {
    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(&self.source, self.flags).map_err(db)?;
        configure(&conn)?;
        conn.pragma_update(None, "query_only", "ON").map_err(db)?;
        Ok(conn)
    }
}

/// How often the WAL is copied back into the database file beside the writer.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A thread that checkpoints the WAL beside the writer, on its own connection, so that
/// the writer's own automatic checkpoint (SQLite's, after a commit that leaves 1,000 pages
/// in the WAL) finds most pages copied already and is short. Only the writer's can finish
/// the job: while it checkpoints nothing is written, so the WAL then starts over instead
/// of growing (a checkpoint that runs while commits go on never catches up).
struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    fn start(pool: &ReadPool) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(&pool.source, pool.flags).map_err(db)?;
        configure(&conn)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("phonetree-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE never waits for the writer or readers; what it cannot copy
                    // now is copied next time.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed; trying again");
                    }
                }
            })
            .map_err(|e| StoreError::Database(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Removes the flow versions no call is on any more, except `keep`; returns how many.
fn prune_flow_versions(tx: &Transaction<'_>, keep: &[String]) -> Result<u64, StoreError> {
    let mut unused: Vec<String> = tx
        .prepare(
            "SELECT version FROM flow_versions WHERE version NOT IN
               (SELECT flow_version FROM calls UNION SELECT flow_version FROM call_events)",
        )
        .map_err(db)?
        .query_map([], |r| r.get(0))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    unused.retain(|v| !keep.contains(v));
    for v in &unused {
        tx.execute("DELETE FROM flow_versions WHERE version = ?1", [v])
            .map_err(db)?;
    }
    Ok(unused.len() as u64)
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(db)
}

fn open_writer(source: &Path, flags: OpenFlags, memory: bool) -> Result<Connection, StoreError> {
    let mut conn =
        Connection::open_with_flags(source, flags | OpenFlags::SQLITE_OPEN_CREATE).map_err(db)?;
    configure(&conn)?;
    // WAL lets readers see the last commit while the writer is busy with the next one.
    // Switching to it takes a lock the busy timeout does not wait for: two servers opening
    // a new file at once would see "database is locked", so the switch is tried again.
    let started = std::time::Instant::now();
    let mode: String = loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Ok(mode) => break mode,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(db(e)),
        }
    };
    if !memory && !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "journal_mode is `{mode}`, WAL is required"
        )));
    }
    // FULL syncs the WAL on every commit: a webhook is answered only after its
    // commit returns, so its session and log rows must survive a power cut
    // from that moment (NORMAL could lose the last commits).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db)?;

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db)?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if current > schema::latest() {
        return Err(StoreError::Database(format!(
            "schema version {current} is newer than this phonetree ({})",
            schema::latest()
        )));
    }
    for m in schema::MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sqlite).map_err(|e| {
            StoreError::Database(format!("migration {} ({}): {e}", m.version, m.summary))
        })?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [m.version],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    Ok(conn)
}

const SELECT_CALL: &str = concat!(
    "SELECT ",
    call_columns!(""),
    " FROM calls WHERE call_sid = ?1"
);
// A call's events are a range of call_events' key: the call's start, then its sid.
const SELECT_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(""),
    " FROM call_events WHERE call_started_at = COALESCE((SELECT started_at FROM calls WHERE call_sid = ?1), '')
       AND call_sid = ?1 ORDER BY seq"
);
// The calls come out of `calls_by_start_and_sid` (or `calls_by_flow_start_and_sid`) in
// order, and the events out of call_events' own key (call_started_at, call_sid, seq): no
// sorting. Of one flow, each call's events are found by that key; the CROSS JOIN keeps the
// calls outside (SQLite would rather scan the events and sort), and `c.rowid` (which changes
// no order: call_sid is unique) tells SQLite that no two rows of the index are one call (a
// nullable call_sid does not), so each call's events come in key order after it.
const SELECT_CALLS_IN: &str = concat!(
    "SELECT ",
    call_columns!("c."),
    " FROM calls c
     WHERE c.started_at >= ?1 AND c.started_at < ?2 ORDER BY c.started_at, c.call_sid"
);
const SELECT_CALLS_IN_FLOW: &str = concat!(
    "SELECT ", call_columns!("c."), " FROM calls c
     WHERE c.flow = ?3 AND c.started_at >= ?1 AND c.started_at < ?2 ORDER BY c.started_at, c.call_sid"
);
const SELECT_EVENTS_IN: &str = concat!(
    "SELECT ",
    event_columns!("e."),
    " FROM call_events e
     WHERE e.call_started_at >= ?1 AND e.call_started_at < ?2 ORDER BY e.call_started_at, e.call_sid, e.seq"
);
const SELECT_EVENTS_IN_FLOW: &str = concat!(
    "SELECT ", event_columns!("e."), " FROM calls c CROSS JOIN call_events e
       ON e.call_started_at = c.started_at AND e.call_sid = c.call_sid
     WHERE c.flow = ?3 AND c.started_at >= ?1 AND c.started_at < ?2 ORDER BY c.started_at, c.call_sid, c.rowid, e.seq"
);

// How many calls a range has, and its first and last start: how events_in is cut.
const PLAN_CALLS_IN: &str = "SELECT COUNT(*), MIN(started_at), MAX(started_at) FROM calls
     WHERE started_at >= ?1 AND started_at < ?2";
const PLAN_CALLS_IN_FLOW: &str = "SELECT COUNT(*), MIN(started_at), MAX(started_at) FROM calls
     WHERE flow = ?3 AND started_at >= ?1 AND started_at < ?2";

/// Rows a range read copies and hands over at a time: one channel message per batch, not
/// per row.
const STREAM_BATCH: usize = 1024;
/// Batches each reader of a range read keeps ready ahead of its consumer (32,768 rows, a
/// few MiB): with the readers and the consumer sharing two cores, a shallow queue left
/// them waiting on each other whenever one was descheduled.
const STREAM_BATCHES_AHEAD: usize = 32;

/// A call row, selected as [`call_columns`] lists.
fn call_from_row(r: &CopiedRow<'_>) -> Result<CallRecord, StoreError> {
    Ok(CallRecord {
        call_sid: r.string(0)?,
        flow: r.string(1)?,
        flow_version: r.string(2)?,
        from_number: r.string(3)?,
        to_number: r.string(4)?,
        language: r.string(5)?,
        started_at: parse_ts(r.text(6)?)?,
        ended_at: r.optional_text(7)?.map(parse_ts).transpose()?,
        outcome: r
            .optional_text(8)?
            .map(|o| parse_name("outcome", o))
            .transpose()?,
        last_node: r.optional_string(9)?,
    })
}

/// A call-log row, selected as [`event_columns`] lists.
fn event_from_row(r: &CopiedRow<'_>) -> Result<LogEvent, StoreError> {
    Ok(LogEvent {
        call_sid: r.string(0)?,
        seq: to_u32("seq", r.integer(1)?)?,
        at: parse_ts(r.text(2)?)?,
        flow: r.string(3)?,
        version: r.string(4)?,
        node: r.optional_string(5)?,
        kind: parse_name::<EventKind>("event kind", r.text(6)?)?,
        value: decode_value(r.optional_text(7)?)?,
        attempt: to_u32("attempt", r.integer(8)?)?,
    })
}

/// Every row `sql` selects with `params`, decoded by `decode`.
fn all_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&CopiedRow<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut copied = RowCopier::new(stmt.column_count(), 1);
    let mut rows = stmt.query(params).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        copied.push(row)?;
    }
    copied.seal().decode_all(decode)
}

/// Streams the rows of `sql`: blocking tasks step the statement on read connections and
/// send the rows, copied in batches of [`STREAM_BATCH`], through bounded channels, each at
/// most [`STREAM_BATCHES_AHEAD`] batches ahead of the consumer, which decodes them as it
/// takes them. With `plan` (a query of the count, first and last start of the calls of the
/// range, with the same parameters), a large range is cut by start time into slices of
/// about [`CALLS_PER_SLICE`] calls, which [`READERS`] readers take in turn, so reading
/// runs on several threads while the rows still come out in order. Nothing is read until
/// the first poll; the read stops at the first error (the stream's last item) or once the
/// stream is dropped.
fn stream_rows<T: Send + 'static>(
    pool: Arc<ReadPool>,
    (sql, params): (&'static str, Vec<String>),
    plan: Option<&'static str>,
    decode: fn(&CopiedRow<'_>) -> Result<T, StoreError>,
) -> RowStream<T> {
    RangeRead::NotStarted {
        read: RangeQuery {
            pool,
            sql,
            params,
            spare: Arc::default(),
        },
        plan,
        decode,
    }
    .boxed()
}

/// Calls per slice of a range read cut between readers.
const CALLS_PER_SLICE: i64 = 512;
/// Readers a range read with a plan is cut between.
const READERS: usize = 2;

/// What a range read runs.
struct RangeQuery {
    pool: Arc<ReadPool>,
    sql: &'static str,
    /// `?1` and `?2` the range's bounds.
    params: Vec<String>,
    /// Batches the consumer is done with, for the readers to fill again.
    spare: Arc<SpareBatches>,
}

/// Rows of one slice of a range read; `last` on the slice's last batch.
struct SliceRows {
    rows: RowBatch,
    last: bool,
}

/// The state of a [`stream_rows`] read.
enum RangeRead<T> {
    NotStarted {
        read: RangeQuery,
        plan: Option<&'static str>,
        decode: fn(&CopiedRow<'_>) -> Result<T, StoreError>,
    },
    Reading {
        /// One channel per reader; slice `i` comes from reader `i % readers`.
        readers: Vec<tokio::sync::mpsc::Receiver<Result<SliceRows, StoreError>>>,
        /// The reader of the slice being read.
        turn: usize,
        /// The batch being decoded and its next row.
        batch: Option<(SliceRows, usize)>,
        spare: Arc<SpareBatches>,
        decode: fn(&CopiedRow<'_>) -> Result<T, StoreError>,
    },
    Done,
}

impl<T> futures_util::Stream for RangeRead<T> {
    type Item = Result<T, StoreError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            match this {
                RangeRead::NotStarted { .. } => {
                    let RangeRead::NotStarted { read, plan, decode } =
                        std::mem::replace(this, RangeRead::Done)
                    else {
                        continue;
                    };
                    let spare = Arc::clone(&read.spare);
                    *this = RangeRead::Reading {
                        readers: start_readers(read, plan),
                        turn: 0,
                        batch: None,
                        spare,
                        decode,
                    };
                }
                RangeRead::Reading {
                    readers,
                    turn,
                    batch,
                    spare,
                    decode,
                } => {
                    if let Some((slice, next)) = batch {
                        if let Some(row) = slice.rows.decode(*next, *decode) {
                            *next += 1;
                            if row.is_err() {
                                *this = RangeRead::Done;
                            }
                            return Poll::Ready(Some(row));
                        }
                        if slice.last {
                            *turn = (*turn + 1) % readers.len();
                        }
                        if let Some((slice, _)) = batch.take() {
                            spare.keep(slice.rows);
                        }
                    }
                    match readers[*turn].poll_recv(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(Ok(slice))) => *batch = Some((slice, 0)),
                        Poll::Ready(Some(Err(e))) => {
                            *this = RangeRead::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                        // That reader has no slice left, so there is none: slices alternate.
                        Poll::Ready(None) => {
                            *this = RangeRead::Done;
                            return Poll::Ready(None);
                        }
                    }
                }
                RangeRead::Done => return Poll::Ready(None),
            }
        }
    }
}

/// Slices of a range read, as the `?1` and `?2` of each.
type Slices = Arc<Vec<(String, String)>>;

/// Starts the readers of a range read on blocking threads; with `plan` the first one cuts
/// the range into slices and hands them to the others.
fn start_readers(
    read: RangeQuery,
    plan: Option<&'static str>,
) -> Vec<tokio::sync::mpsc::Receiver<Result<SliceRows, StoreError>>> {
    let readers = if plan.is_some() { READERS } else { 1 };
    let read = Arc::new(read);
    let mut receivers = Vec::with_capacity(readers);
    let mut handed = Vec::with_capacity(readers - 1);
    for reader in 1..readers {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BATCHES_AHEAD);
        receivers.push(receiver);
        let (hand, slices) = mpsc::channel::<Slices>();
        handed.push(hand);
        let read = Arc::clone(&read);
        tokio::task::spawn_blocking(move || {
            // No slices: the first reader failed, and says why.
            if let Ok(slices) = slices.recv() {
                read_slices(&read, &slices, reader, readers, &sender);
            }
        });
    }
    let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BATCHES_AHEAD);
    receivers.insert(0, receiver);
    tokio::task::spawn_blocking(move || {
        let whole = || vec![(read.params[0].clone(), read.params[1].clone())];
        let slices = match plan {
            Some(plan) => match read.pool.take().and_then(|conn| {
                let slices = plan_slices(&conn, plan, &read.params);
                read.pool.put(conn);
                slices
            }) {
                Ok(slices) => slices,
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            },
            None => whole(),
        };
        let slices = Arc::new(slices);
        for hand in handed {
            let _ = hand.send(Arc::clone(&slices));
        }
        read_slices(&read, &slices, 0, readers, &sender);
    });
    receivers
}

/// Most slices a range read is cut into.
const MAX_SLICES: i64 = 1 << 16;

/// Cuts the range of `params` into slices by start time, about [`CALLS_PER_SLICE`] calls
/// each, from `plan`'s count, first and last start of the range's calls; the whole range
/// when it is small. A start is never split between two slices.
fn plan_slices(
    conn: &Connection,
    plan: &str,
    params: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let whole = vec![(params[0].clone(), params[1].clone())];
    let (count, first, last): (i64, Option<String>, Option<String>) = conn
        .prepare_cached(plan)
        .map_err(db)?
        .query_row(rusqlite::params_from_iter(params), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(db)?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(whole);
    };
    let (Ok(first), Ok(last)) = (parse_ts(&first), parse_ts(&last)) else {
        return Ok(whole);
    };
    let span = i128::from((last - first).num_milliseconds()) + 1;
    let slices = i128::from((count / CALLS_PER_SLICE).min(MAX_SLICES)).min(span);
    if slices < 2 {
        return Ok(whole);
    }
    // Inside (first, last], strictly increasing (a slice spans at least 1 ms), so inside
    // the range's own bounds.
    let mut bounds = vec![params[0].clone()];
    for i in 1..slices {
        let offset = i64::try_from(span * i / slices).unwrap_or(i64::MAX);
        bounds.push(ts(first + chrono::Duration::milliseconds(offset)));
    }
    bounds.push(params[1].clone());
    Ok(bounds
        .windows(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect())
}

/// One reader of a range read, on a blocking thread: sends the rows of slices `first`,
/// `first + step`, ... in batches, the last batch of each slice marked, then an error if
/// reading failed; stops early once the stream is dropped. Its slices are read in one
/// transaction, so they see one state of the database.
fn read_slices(
    read: &RangeQuery,
    slices: &[(String, String)],
    first: usize,
    step: usize,
    batches: &tokio::sync::mpsc::Sender<Result<SliceRows, StoreError>>,
) {
    let conn = match read.pool.take() {
        Ok(conn) => conn,
        Err(e) => {
            let _ = batches.blocking_send(Err(e));
            return;
        }
    };
    // Ok(false): the consumer is gone.
    let run = || -> Result<bool, StoreError> {
        let _snapshot = conn.unchecked_transaction().map_err(db)?;
        let mut stmt = conn.prepare_cached(read.sql).map_err(db)?;
        let columns = stmt.column_count();
        let mut params = read.params.clone();
        for (lower, upper) in slices.iter().skip(first).step_by(step) {
            params[0].clone_from(lower);
            params[1].clone_from(upper);
            let mut cursor = stmt
                .query(rusqlite::params_from_iter(&params))
                .map_err(db)?;
            let mut batch = read.spare.take(columns, STREAM_BATCH);
            while let Some(row) = cursor.next().map_err(db)? {
                batch.push(row)?;
                if batch.len() == STREAM_BATCH {
                    let full =
                        std::mem::replace(&mut batch, read.spare.take(columns, STREAM_BATCH));
                    let rows = SliceRows {
                        rows: full.seal(),
                        last: false,
                    };
                    if batches.blocking_send(Ok(rows)).is_err() {
                        return Ok(false);
                    }
                }
            }
            let rows = SliceRows {
                rows: batch.seal(),
                last: true,
            };
            if batches.blocking_send(Ok(rows)).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    };
    if let Err(e) = run() {
        let _ = batches.blocking_send(Err(e));
    }
    read.pool.put(conn);
}

#[async_trait]
impl Store for SqliteStore {
    async fn session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError> {
        if let Some(held) = self.live.session(call_sid) {
            return held.session().map(Some);
        }
        let loaded = self.load(call_sid).await?;
        loaded
            .and_then(|c| c.session)
            .map(|held| held.session())
            .transpose()
    }

    async fn resident_session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError> {
        self.live
            .session(call_sid)
            .map(|held| held.session())
            .transpose()
    }

    async fn reply(&self, call_sid: &str, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let mut lookup = self.live.reply(call_sid, fingerprint);
        if lookup == ReplyLookup::NotHeld {
            lookup = self
                .load(call_sid)
                .await?
                .map_or(ReplyLookup::None, |call| call.reply(fingerprint));
        }
        self.reply_of(call_sid, lookup, fingerprint).await
    }

    async fn resident_reply(
        &self,
        call_sid: &str,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        self.reply_of(
            call_sid,
            self.live.reply(call_sid, fingerprint),
            fingerprint,
        )
        .await
    }

    async fn commit(&self, commit: WebhookCommit) -> Result<CommitOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Commit { commit, reply })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn check(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(file) => file.still_there(),
            None => Ok(()),
        }
    }

    async fn put_flow_version(
        &self,
        version: &str,
        bundle: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (version, bundle, now) = (version.to_owned(), bundle.to_vec(), ts(now));
        self.write_aside(move |tx| {
            tx.execute(
                "INSERT INTO flow_versions (version, bundle, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (version) DO NOTHING",
                params![version, bundle, now],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn flow_version(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let version = version.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT bundle FROM flow_versions WHERE version = ?1")
                .map_err(db)?
                .query_row([&version], |r| r.get(0))
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn close_flow(&self, closure: &FlowClosure) -> Result<(), StoreError> {
        let c = closure.clone();
        self.write_aside(move |tx| {
            tx.execute(
                "INSERT INTO flow_closures (flow, until, message, closed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (flow) DO UPDATE SET until = excluded.until, message = excluded.message,
                 closed_at = excluded.closed_at",
                params![c.flow, ts(c.until), c.message, ts(c.closed_at)],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn open_flow(&self, flow: &str) -> Result<bool, StoreError> {
        let flow = flow.to_owned();
        self.write_aside(move |tx| {
            let n = tx
                .execute("DELETE FROM flow_closures WHERE flow = ?1", [&flow])
                .map_err(db)?;
            Ok(n > 0)
        })
        .await
    }

    async fn closures(&self) -> Result<Vec<FlowClosure>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT flow, until, message, closed_at FROM flow_closures ORDER BY flow",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (flow, until, message, closed_at) = row.map_err(db)?;
                out.push(FlowClosure {
                    flow,
                    until: parse_ts(&until)?,
                    message,
                    closed_at: parse_ts(&closed_at)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn expire_sessions(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = ts(ended_before);
        let mut expired = 0;
        let mut from = String::new();
        // In chunks, each its own job: webhooks are committed in between.
        loop {
            let before = before.clone();
            let (n, next) = self
                .on_writer(move |w| writer::expire_chunk(w, &before, &from))
                .await?;
            expired += n as u64;
            if n < writer::REMOVAL_CHUNK {
                return Ok(expired);
            }
            from = next;
        }
    }

    async fn prune(
        &self,
        started_before: DateTime<Utc>,
        keep: &[String],
    ) -> Result<super::Pruned, StoreError> {
        let before = ts(started_before);
        let mut pruned = super::Pruned::default();
        loop {
            let before = before.clone();
            let (calls, events) = self
                .on_writer(move |w| writer::prune_chunk(w, &before))
                .await?;
            pruned.calls += calls;
            pruned.events += events;
            if calls == 0 {
                break;
            }
        }
        let keep = keep.to_vec();
        pruned.flow_versions = self
            .on_writer(move |w| writer::prune_versions(w, &keep))
            .await?;
        Ok(pruned)
    }

    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>, StoreError> {
        let sid = call_sid.to_owned();
        self.read(move |conn| {
            Ok(all_rows(conn, SELECT_CALL, [&sid], call_from_row)?
                .into_iter()
                .next())
        })
        .await
    }

    async fn events(&self, call_sid: &str) -> Result<Vec<LogEvent>, StoreError> {
        let sid = call_sid.to_owned();
        self.read(move |conn| all_rows(conn, SELECT_EVENTS, [&sid], event_from_row))
            .await
    }

    fn calls_in(&self, range: &CallRange) -> RowStream<CallRecord> {
        let query = range_query(range, SELECT_CALLS_IN, SELECT_CALLS_IN_FLOW);
        stream_rows(Arc::clone(&self.readers), query, None, call_from_row)
    }

    fn events_in(&self, range: &CallRange) -> RowStream<LogEvent> {
        let query = range_query(range, SELECT_EVENTS_IN, SELECT_EVENTS_IN_FLOW);
        let plan = match &range.flow {
            None => PLAN_CALLS_IN,
            Some(_) => PLAN_CALLS_IN_FLOW,
        };
        stream_rows(Arc::clone(&self.readers), query, Some(plan), event_from_row)
    }
}

// The behaviour both stores share is tested once for both in tests/store_contract.rs;
// what is SQLite's own (batches, the memdb VFS, WAL) is tested here.
#[cfg(test)]
mod tests {
    use crate::call::{CallState, Outcome};
    use std::collections::BTreeMap;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn session(sid: &str, node: Option<&str>, seq: u32) -> CallSession {
        CallSession {
            call_sid: sid.to_owned(),
            flow: "main".into(),
            version: "v7".into(),
            caller: "+15550001".into(),
            called: "+15550002".into(),
            language: "en".into(),
            vars: BTreeMap::from([("account".to_owned(), serde_json::json!("1234"))]),
            sensitive: vec![],
            menu_stack: vec!["welcome".into()],
            state: node.map_or(CallState::Starting, |node| CallState::Active {
                node: node.to_owned(),
                attempt: 1,
                visit: 4,
                budget_spent: false,
                outcome: None,
            }),
            steps: 3,
            started_at: t("2026-11-24T15:00:00.000Z"),
            seq,
            pressed_leave_key: false,
        }
    }

    fn event(sid: &str, seq: u32, kind: EventKind) -> LogEvent {
        LogEvent {
            call_sid: sid.to_owned(),
            seq,
            flow: "main".into(),
            version: "v7".into(),
            at: t("2026-11-24T15:00:01.250Z") + chrono::Duration::milliseconds(i64::from(seq)),
            node: seq.is_multiple_of(2).then(|| format!("node{seq}")),
            kind,
            value: seq
                .is_multiple_of(3)
                .then(|| crate::call::EventValue::Key("2".to_owned())),
            attempt: seq % 4,
        }
    }

    fn commit(sid: &str, seqs: &[u32], fingerprint: Option<&str>) -> WebhookCommit {
        WebhookCommit {
            session: session(sid, Some("menu"), seqs.iter().copied().max().unwrap_or(0)),
            base_seq: None,
            events: seqs
                .iter()
                .map(|&n| event(sid, n, EventKind::Entered))
                .collect(),
            reply: fingerprint
                .map(|f| (f.to_owned(), format!("<Response><Say>{f}</Say></Response>"))),
            now: t("2026-11-24T15:00:02.000Z"),
        }
    }

    async fn count(store: &SqliteStore, table: &'static str) -> i64 {
        store
            .read(move |c| {
                c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .map_err(db)
            })
            .await
            .unwrap()
    }

    async fn round_trip(store: &SqliteStore) {
        let mut c = commit("CA1", &[1, 2, 3], Some("fp1"));
        c.events = vec![
            event("CA1", 1, EventKind::CallStarted),
            event("CA1", 2, EventKind::Entered),
            event("CA1", 3, EventKind::Key),
        ];
        assert_eq!(
            store.commit(c.clone()).await.unwrap(),
            CommitOutcome::Stored
        );
        assert_eq!(store.session("CA1").await.unwrap(), Some(c.session.clone()));
        assert_eq!(store.events("CA1").await.unwrap(), c.events);
        assert_eq!(
            store.reply("CA1", "fp1").await.unwrap(),
            Some(c.reply.clone().unwrap().1)
        );
        let call = store.call("CA1").await.unwrap().unwrap();
        assert_eq!(
            call,
            CallRecord {
                call_sid: "CA1".into(),
                flow: "main".into(),
                flow_version: "v7".into(),
                from_number: "+15550001".into(),
                to_number: "+15550002".into(),
                language: "en".into(),
                started_at: t("2026-11-24T15:00:00.000Z"),
                ended_at: None,
                outcome: None,
                last_node: Some("menu".into()),
            }
        );
        assert_eq!(store.session("nope").await.unwrap(), None);
        assert_eq!(store.reply("CA1", "other").await.unwrap(), None);
        assert_eq!(store.call("nope").await.unwrap(), None);
        assert!(store.events("nope").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn in_memory_round_trip() {
        let store = SqliteStore::open_in_memory().unwrap();
        round_trip(&store).await;
        let other = SqliteStore::open_in_memory().unwrap();
        assert_eq!(
            other.session("CA1").await.unwrap(),
            None,
            "each in-memory store is its own database"
        );
    }

    #[tokio::test]
    async fn range_reads_walk_the_indexes_without_sorting() {
        let store = SqliteStore::open_in_memory().unwrap();
        let plans = store
            .read(|c| {
                let mut plans = Vec::new();
                for sql in [
                    SELECT_CALLS_IN,
                    SELECT_CALLS_IN_FLOW,
                    SELECT_EVENTS_IN,
                    SELECT_EVENTS_IN_FLOW,
                ] {
                    let mut stmt = c
                        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .map_err(db)?;
                    let params = &["a", "b", "main"][..stmt.parameter_count()];
                    let steps: Vec<String> = stmt
                        .query_map(rusqlite::params_from_iter(params), |r| r.get(3))
                        .map_err(db)?
                        .collect::<Result<_, _>>()
                        .map_err(db)?;
                    plans.push(steps.join("; "));
                }
                Ok(plans)
            })
            .await
            .unwrap();
        for (i, plan) in plans.iter().enumerate() {
            println!("{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            assert!(i == 2 || plan.contains("INDEX calls_by_"), "{plan}");
        }
        assert!(
            plans[1].contains("calls_by_flow_start_and_sid"),
            "{}",
            plans[1]
        );
        assert!(
            !plans[2].contains("calls")
                && plans[2].contains(
                    "SEARCH e USING PRIMARY KEY (call_started_at>? AND call_started_at<?)"
                ),
            "{}",
            plans[2]
        );
        assert!(
            plans[3].contains("SEARCH e USING PRIMARY KEY (call_started_at=? AND call_sid=?)"),
            "{}",
            plans[3]
        );
    }

    /// Expiry finds ended calls through the index of ended calls, which leaves calls in
    /// progress out (so that a new call adds no entry to it).
    #[tokio::test]
    async fn expiry_reads_the_partial_index_of_ended_calls() {
        let store = SqliteStore::open_in_memory().unwrap();
        let (plan, indexed) = store
            .read(|c| {
                let plan: Vec<String> = c
                    .prepare(&format!(
                        "EXPLAIN QUERY PLAN {}",
                        writer::SELECT_ENDED_CALLS
                    ))
                    .map_err(db)?
                    .query_map(params!["b", 500, "a"], |r| r.get(3))
                    .map_err(db)?
                    .collect::<Result<_, _>>()
                    .map_err(db)?;
                let indexed: String = c
                    .query_row(
                        "SELECT sql FROM sqlite_master WHERE name = 'calls_by_end'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                Ok((plan.join("; "), indexed))
            })
            .await
            .unwrap();
        assert!(indexed.ends_with("WHERE ended_at IS NOT NULL"), "{indexed}");
        assert!(plan.contains("USING INDEX calls_by_end"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[tokio::test]
    async fn wal_mode_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("calls.db")).unwrap();
        let mode: String = store
            .read(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(db)
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_failing_commit_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = open_writer(&dir.path().join("calls.db"), flags, false).unwrap();
        let mut writer = Writer::new(conn, Arc::new(LiveCalls::default()), None).unwrap();
        // Past the order check, into the (call_started_at, call_sid, seq) key of the first row.
        let mut bad = commit("CA5", &[1], Some("x"));
        bad.base_seq = Some(1);
        if let CallState::Active { attempt, .. } = &mut bad.session.state {
            *attempt = 9;
        }
        let mut waiters = Vec::new();
        let mut batch: Vec<_> = [
            commit("CA5", &[1], None),
            bad,
            commit("CA6", &[1], Some("y")),
        ]
        .into_iter()
        .map(|commit| {
            let (reply, rx) = oneshot::channel();
            waiters.push(rx);
            (commit, reply)
        })
        .collect();
        writer.commit_batch(&mut batch);
        assert!(batch.is_empty());
        let results: Vec<_> = waiters
            .into_iter()
            .map(|mut w| w.try_recv().unwrap())
            .collect();
        assert_eq!(results[0].as_ref().unwrap(), &CommitOutcome::Stored);
        assert!(
            matches!(results[1], Err(StoreError::Database(_))),
            "{:?}",
            results[1]
        );
        assert_eq!(results[2].as_ref().unwrap(), &CommitOutcome::Stored);
        let conn = &writer.conn;
        let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(q("SELECT COUNT(*) FROM call_events"), 2);
        assert_eq!(q("SELECT COUNT(*) FROM webhook_log"), 2);
        assert_eq!(
            q("SELECT COUNT(*) FROM webhook_replies WHERE fingerprint = 'x'"),
            0
        );
        assert_eq!(q("SELECT COUNT(*) FROM calls"), 2);
        let state: String = conn
            .query_row(
                "SELECT state FROM sessions WHERE call_sid = 'CA5'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            serde_json::from_str::<CallSession>(&state)
                .unwrap()
                .attempt(),
            1
        );
    }

    #[tokio::test]
    async fn failing_commit_through_the_store_leaves_others_committed() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        store.commit(commit("CA7", &[1], None)).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = Arc::clone(&store);
                let c = if i == 10 {
                    WebhookCommit {
                        base_seq: Some(1),
                        ..commit("CA7", &[1], None)
                    }
                } else {
                    commit(&format!("CB{i}"), &[1], None)
                };
                tokio::spawn(async move { store.commit(c).await })
            })
            .collect();
        let mut failed = 0;
        for task in tasks {
            failed += usize::from(task.await.unwrap().is_err());
        }
        assert_eq!(failed, 1);
        assert_eq!(count(&store, "calls").await, 20);
    }

    /// `commit` continuing the call from `base`, ending in `state`.
    fn next(sid: &str, base: u32, state: CallState, fingerprint: &str) -> WebhookCommit {
        let mut c = commit(sid, &[base + 1], Some(fingerprint));
        c.base_seq = Some(base);
        c.session.state = state;
        c
    }

    #[tokio::test]
    async fn calls_in_progress_are_answered_from_memory_and_closed_ones_leave_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let store = SqliteStore::open(&path).unwrap();
        store.commit(commit("CA1", &[1], Some("a"))).await.unwrap();
        store.commit(commit("CA2", &[1], Some("b"))).await.unwrap();
        assert_eq!(store.calls_in_memory(), 2);
        // Behind the store's back: memory is what answers, not the file.
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch("UPDATE webhook_log SET session = '{' WHERE call_sid = 'CA1'")
            .unwrap();
        assert_eq!(store.session("CA1").await.unwrap().unwrap().seq, 1);
        assert_eq!(
            store.reply("CA1", "a").await.unwrap().as_deref(),
            Some("<Response><Say>a</Say></Response>")
        );
        assert_eq!(store.reply("CA1", "b").await.unwrap(), None);
        drop(raw);
        let closed = next(
            "CA2",
            1,
            CallState::Closed {
                outcome: Outcome::SelfService,
            },
            "c",
        );
        assert_eq!(store.commit(closed).await.unwrap(), CommitOutcome::Stored);
        assert_eq!(store.calls_in_memory(), 1, "a closed call leaves memory");
        // A late copy of its last request still gets the first answer, read from the file.
        let again = next(
            "CA2",
            1,
            CallState::Closed {
                outcome: Outcome::SelfService,
            },
            "c",
        );
        assert_eq!(
            store.commit(again).await.unwrap(),
            CommitOutcome::Duplicate("<Response><Say>c</Say></Response>".into())
        );
        assert_eq!(
            store.reply("CA2", "b").await.unwrap().as_deref(),
            Some("<Response><Say>b</Say></Response>")
        );
        assert!(store.session("CA2").await.unwrap().unwrap().is_closed());
    }

    /// The calls of one flow, as a range read finds them through its index.
    async fn calls_of(store: &SqliteStore, flow: &str) -> Vec<String> {
        let range = CallRange {
            flow: Some(flow.to_owned()),
            from: t("2026-01-01T00:00:00Z"),
            to: t("2027-01-01T00:00:00Z"),
        };
        store
            .calls_in(&range)
            .map(|c| c.unwrap().call_sid)
            .collect()
            .await
    }

    #[tokio::test]
    async fn the_call_row_follows_every_step_whichever_way_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let store = SqliteStore::open(&path).unwrap();
        // A new call: its row is inserted.
        store.commit(commit("CA1", &[1], Some("a"))).await.unwrap();
        let row = store.call("CA1").await.unwrap().unwrap();
        assert_eq!(
            (
                row.flow.as_str(),
                row.language.as_str(),
                row.last_node.as_deref()
            ),
            ("main", "en", Some("menu"))
        );
        // A step in the same flow and language: only the row's own columns change.
        let active = |node: &str| CallState::Active {
            node: node.into(),
            attempt: 1,
            visit: 2,
            budget_spent: false,
            outcome: None,
        };
        assert_eq!(
            store
                .commit(next("CA1", 1, active("main_menu"), "b"))
                .await
                .unwrap(),
            CommitOutcome::Stored
        );
        let row = store.call("CA1").await.unwrap().unwrap();
        assert_eq!(row.last_node.as_deref(), Some("main_menu"));
        assert_eq!(calls_of(&store, "main").await, ["CA1"]);
        // Another flow and language: the indexes that hold the flow follow.
        let mut moved = next("CA1", 2, active("billing"), "c");
        moved.session.flow = "billing".into();
        moved.session.language = "es".into();
        assert_eq!(store.commit(moved).await.unwrap(), CommitOutcome::Stored);
        let row = store.call("CA1").await.unwrap().unwrap();
        assert_eq!(
            (row.flow.as_str(), row.language.as_str()),
            ("billing", "es")
        );
        assert_eq!(calls_of(&store, "billing").await, ["CA1"]);
        assert!(calls_of(&store, "main").await.is_empty());
        // Ended: the end and the outcome.
        let mut ended = next(
            "CA1",
            3,
            CallState::Closed {
                outcome: Outcome::SelfService,
            },
            "d",
        );
        ended.session.flow = "billing".into();
        ended.session.language = "es".into();
        assert_eq!(store.commit(ended).await.unwrap(), CommitOutcome::Stored);
        let row = store.call("CA1").await.unwrap().unwrap();
        assert_eq!(row.outcome, Some(Outcome::SelfService));
        assert!(row.ended_at.is_some());
        assert_eq!(store.events("CA1").await.unwrap().len(), 4);
        drop(store);

        // A call whose row memory never knew (its session expired before a restart, and its
        // row says another start, in a form this release does not write): the row keeps its
        // start, and the new events are found under it.
        let raw = Connection::open(&path).unwrap();
        let store = SqliteStore::open(&path).unwrap();
        store.commit(commit("CA2", &[1], Some("e"))).await.unwrap();
        drop(store);
        raw.execute_batch(
            "UPDATE calls SET started_at = '2026-11-24T14:59:59.123456789Z', last_log_id = NULL, session_seq = NULL WHERE call_sid = 'CA2';
             UPDATE call_events SET call_started_at = '2026-11-24T14:59:59.123456789Z' WHERE call_sid = 'CA2';
             DELETE FROM webhook_log WHERE call_sid = 'CA2';",
        )
        .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.commit(commit("CA2", &[2], Some("f"))).await.unwrap(),
            CommitOutcome::Stored
        );
        let row = store.call("CA2").await.unwrap().unwrap();
        assert_eq!(row.started_at, t("2026-11-24T14:59:59.123456789Z"));
        let seqs: Vec<u32> = store
            .events("CA2")
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 2]);
        // Held in memory now, with the row's start: the next step goes on under it.
        assert_eq!(
            store
                .commit(next("CA2", 2, active("x"), "g"))
                .await
                .unwrap(),
            CommitOutcome::Stored
        );
        assert_eq!(store.events("CA2").await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_restarted_store_reads_its_calls_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let store = SqliteStore::open(&path).unwrap();
        store.commit(commit("CA1", &[1], Some("a"))).await.unwrap();
        let second = next(
            "CA1",
            1,
            CallState::Active {
                node: "main".into(),
                attempt: 1,
                visit: 2,
                budget_spent: false,
                outcome: None,
            },
            "b",
        );
        store.commit(second).await.unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.calls_in_memory(),
            0,
            "nothing is read before it is asked for"
        );
        // A call-start webhook guesses from memory alone; the commit knows better.
        assert_eq!(store.resident_session("CA1").await.unwrap(), None);
        let restart = commit("CA1", &[1], Some("z"));
        assert_eq!(
            store.commit(restart).await.unwrap(),
            CommitOutcome::Conflict
        );
        assert_eq!(
            store.resident_session("CA1").await.unwrap().map(|s| s.seq),
            Some(2),
            "the conflict taught memory the call"
        );
        let copy = next("CA1", 0, CallState::Starting, "a");
        assert_eq!(
            store.commit(copy).await.unwrap(),
            CommitOutcome::Duplicate("<Response><Say>a</Say></Response>".into())
        );
        let third = next(
            "CA1",
            2,
            CallState::Ended {
                node: Some("main".into()),
                outcome: None,
            },
            "c",
        );
        assert_eq!(store.commit(third).await.unwrap(), CommitOutcome::Stored);
        let seqs: Vec<u32> = store
            .events("CA1")
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        let chain: Vec<(i64, Option<i64>)> = store
            .read(|c| {
                let mut stmt = c
                    .prepare("SELECT id, prev FROM webhook_log ORDER BY id")
                    .map_err(db)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)
            })
            .await
            .unwrap();
        // Three webhooks were stored, each linked to the one before: the call start sent
        // again, written before the file was found to hold the call, left no row.
        assert_eq!(chain.len(), 3, "{chain:?}");
        assert_eq!(chain[0].1, None);
        for pair in chain.windows(2) {
            assert_eq!(pair[1].1, Some(pair[0].0), "{chain:?}");
        }
    }

    #[tokio::test]
    async fn another_process_removing_calls_makes_memory_read_the_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let a = SqliteStore::open(&path).unwrap();
        a.commit(commit("CA1", &[1], Some("a"))).await.unwrap();
        let ended = next(
            "CA1",
            1,
            CallState::Ended {
                node: Some("bye".into()),
                outcome: Some(Outcome::SelfService),
            },
            "b",
        );
        a.commit(ended).await.unwrap();
        assert!(a.resident_session("CA1").await.unwrap().is_some());
        // Another process (a second server, `phonetree prune`) removes the call.
        let b = SqliteStore::open(&path).unwrap();
        let pruned = b.prune(t("2030-01-01T00:00:00.000Z"), &[]).await.unwrap();
        assert_eq!(pruned.calls, 1);
        drop(b);
        // A's next commit for the call finds memory behind the file: it is forgotten, and
        // the file (which has no session now) says the step started from a stale one.
        let late = next(
            "CA1",
            2,
            CallState::Closed {
                outcome: Outcome::SelfService,
            },
            "c",
        );
        assert_eq!(a.commit(late).await.unwrap(), CommitOutcome::Conflict);
        assert_eq!(a.session("CA1").await.unwrap(), None);
        // Log ids are never handed out again, so the new rows are not taken for A's own.
        a.commit(commit("CA2", &[1], Some("d"))).await.unwrap();
        let ids: Vec<i64> = a
            .read(|c| {
                let mut stmt = c.prepare("SELECT id FROM webhook_log").map_err(db)?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)
            })
            .await
            .unwrap();
        assert_eq!(ids, [3]);
    }

    #[tokio::test]
    async fn expiry_removes_sessions_in_chunks_and_keeps_the_call_log() {
        let store = SqliteStore::open_in_memory().unwrap();
        let calls = writer::REMOVAL_CHUNK + 7;
        for i in 0..calls {
            let sid = format!("CA{i:05}");
            store.commit(commit(&sid, &[1], Some("a"))).await.unwrap();
            let done = next(
                &sid,
                1,
                CallState::Closed {
                    outcome: Outcome::SelfService,
                },
                "b",
            );
            store.commit(done).await.unwrap();
        }
        assert_eq!(store.calls_in_memory(), 0, "closed calls leave memory");
        assert_eq!(count(&store, "webhook_log").await, 2 * calls as i64);
        let expired = store
            .expire_sessions(t("2030-01-01T00:00:00.000Z"))
            .await
            .unwrap();
        assert_eq!(expired, calls as u64);
        assert_eq!(count(&store, "webhook_log").await, 0);
        assert_eq!(count(&store, "calls").await, calls as i64);
        assert_eq!(count(&store, "call_events").await, 2 * calls as i64);
        assert_eq!(store.session("CA00003").await.unwrap(), None);
        assert_eq!(store.reply("CA00003", "a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_version_6_database_keeps_its_sessions_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")
            .unwrap();
        for m in &schema::MIGRATIONS[..6] {
            raw.execute_batch(m.sqlite).unwrap();
            raw.execute("INSERT INTO schema_version VALUES (?1)", [m.version])
                .unwrap();
        }
        let live = serde_json::to_string(&session("CA1", Some("menu"), 4)).unwrap();
        raw.execute(
            "INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at)
             VALUES ('CA1', 'main', 'v7', '+1', '+2', 'en', '2026-11-24T15:00:00.000Z')",
            [],
        )
        .unwrap();
        raw.execute(
            "INSERT INTO sessions (call_sid, state, updated_at, seq) VALUES ('CA1', ?1, 'x', 4)",
            [&live],
        )
        .unwrap();
        for (fp, at) in [("f1", "1"), ("f2", "2")] {
            raw.execute(
                "INSERT INTO webhook_replies (call_sid, fingerprint, twiml, created_at) VALUES ('CA1', ?1, ?2, ?3)",
                params![fp, format!("<Response>{fp}</Response>"), at],
            )
            .unwrap();
        }
        // A call whose answers were kept but whose session was lost.
        raw.execute_batch(
            "INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at)
               VALUES ('CA2', 'main', 'v7', '+1', '+2', 'en', '2026-11-24T15:00:00.000Z');
             INSERT INTO webhook_replies (call_sid, fingerprint, twiml, created_at)
               VALUES ('CA2', 'g1', '<Response>g1</Response>', '3');",
        )
        .unwrap();
        drop(raw);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.session("CA1").await.unwrap().unwrap().seq, 4);
        assert_eq!(store.session("CA2").await.unwrap(), None);
        assert_eq!(
            store.reply("CA2", "g1").await.unwrap().as_deref(),
            Some("<Response>g1</Response>")
        );
        let first = commit("CA2", &[1], Some("g1"));
        assert_eq!(
            store.commit(first).await.unwrap(),
            CommitOutcome::Duplicate("<Response>g1</Response>".into())
        );
        for fp in ["f1", "f2"] {
            assert_eq!(
                store.reply("CA1", fp).await.unwrap(),
                Some(format!("<Response>{fp}</Response>"))
            );
        }
        // The old tables read the same through their views.
        assert_eq!(count(&store, "webhook_replies").await, 3);
        assert_eq!(count(&store, "sessions").await, 1);
        let on = next("CA1", 4, CallState::Starting, "f3");
        assert_eq!(store.commit(on).await.unwrap(), CommitOutcome::Stored);
        assert_eq!(count(&store, "webhook_replies").await, 4);
    }

    #[tokio::test]
    async fn corrupt_rows_and_closed_writer_are_errors() {
        let mut store = SqliteStore::open_in_memory().unwrap();
        store.commit(commit("CA8", &[1], None)).await.unwrap();
        let raw = Connection::open_with_flags(
            &store.readers.source,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        raw.execute_batch(
            "UPDATE call_events SET kind = 'bogus'; UPDATE webhook_log SET session = '{'",
        )
        .unwrap();
        // What memory holds was committed whole; the file is read for a call it lets go.
        store.live.forget("CA8");
        assert!(matches!(
            store.events("CA8").await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.session("CA8").await,
            Err(StoreError::Corrupt(_))
        ));
        store.requests.take();
        assert!(matches!(
            store.commit(commit("CA9", &[1], None)).await,
            Err(StoreError::Closed)
        ));
    }
}
