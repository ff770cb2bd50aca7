//! The call log as rows for other tools: what `phonetree export` writes, one row per
//! event, as CSV or JSON Lines.
//!
//! Rows are read from [`Store::events_in`] and written one by one as they arrive, so an
//! export of any size holds one event at a time.
//!
//! [`Store::events_in`]: crate::store::Store::events_in

use std::io::Write;

use chrono::SecondsFormat;
use futures_util::StreamExt;
use serde::Serialize;

use crate::call::{EventValue, LogEvent};
use crate::store::{CallRange, Store, StoreError};

/// The columns of an export, in order; JSON Lines objects have the same field names.
pub const EXPORT_COLUMNS: [&str; 10] = [
    "call_sid",
    "seq",
    "at",
    "flow",
    "flow_version",
    "node",
    "kind",
    "value",
    "value_json",
    "attempt",
];

/// How exported rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values (RFC 4180) with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The call log could not be read.
    #[error("reading the call log: {0}")]
    Store(#[from] StoreError),
    /// The rows could not be written.
    #[error("writing: {0}")]
    Write(#[source] std::io::Error),
}

impl ExportError {
    /// True when the reader went away (`phonetree export | head`): the export is over,
    /// not failed.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ExportError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exported {
    /// Rows (events).
    pub events: u64,
    /// Calls those events belong to.
    pub calls: u64,
}

/// One event as a JSON Lines object.
#[derive(Serialize)]
struct JsonRow<'a> {
    call_sid: &'a str,
    seq: u32,
    at: String,
    flow: &'a str,
    flow_version: &'a str,
    node: Option<&'a str>,
    kind: &'static str,
    value: Option<String>,
    value_json: Option<&'a EventValue>,
    attempt: u32,
}

/// Where rows go, in their format.
enum RowWriter<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
}

fn csv_error(e: csv::Error) -> ExportError {
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ExportError::Write(io),
        _ => ExportError::Write(std::io::Error::other(text)),
    }
}

fn json_error(e: serde_json::Error) -> ExportError {
    // An I/O error comes back as itself (a broken pipe stays one).
    ExportError::Write(std::io::Error::from(e))
}

impl<W: Write> RowWriter<W> {
    fn new(format: ExportFormat, out: W) -> Result<RowWriter<W>, ExportError> {
        Ok(match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(EXPORT_COLUMNS).map_err(csv_error)?;
                RowWriter::Csv(Box::new(w))
            }
            ExportFormat::Jsonl => RowWriter::Jsonl(out),
        })
    }

    fn write(&mut self, ev: &LogEvent) -> Result<(), ExportError> {
        let at = ev.at.to_rfc3339_opts(SecondsFormat::Millis, true);
        match self {
            RowWriter::Csv(w) => {
                let value_json = ev
                    .value
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(json_error)?;
                w.write_record([
                    ev.call_sid.as_str(),
                    &ev.seq.to_string(),
                    &at,
                    &ev.flow,
                    &ev.version,
                    ev.node.as_deref().unwrap_or(""),
                    ev.kind.as_str(),
                    ev.value_text().as_deref().unwrap_or(""),
                    value_json.as_deref().unwrap_or(""),
                    &ev.attempt.to_string(),
                ])
                .map_err(csv_error)
            }
            RowWriter::Jsonl(w) => {
                let row = JsonRow {
                    call_sid: &ev.call_sid,
                    seq: ev.seq,
                    at,
                    flow: &ev.flow,
                    flow_version: &ev.version,
                    node: ev.node.as_deref(),
                    kind: ev.kind.as_str(),
                    value: ev.value_text(),
                    value_json: ev.value.as_ref(),
                    attempt: ev.attempt,
                };
                serde_json::to_writer(&mut *w, &row).map_err(json_error)?;
                w.write_all(b"\n").map_err(ExportError::Write)
            }
        }
    }

    fn finish(self) -> Result<(), ExportError> {
        match self {
            RowWriter::Csv(mut w) => w.flush().map_err(ExportError::Write),
            RowWriter::Jsonl(mut w) => w.flush().map_err(ExportError::Write),
        }
    }
}

/// Writes every event of the calls of `range` to `out` as `format`, call after call in
/// start order, each call's in `seq` order; `progress` is told the number of calls
/// written so far, every few hundred calls and at the end. `out` should be buffered.
pub async fn export_events<W: Write>(
    store: &dyn Store,
    range: &CallRange,
    format: ExportFormat,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<Exported, ExportError> {
    let mut writer = RowWriter::new(format, out)?;
    let mut rows = store.events_in(range);
    let mut done = Exported::default();
    let mut last_call: Option<String> = None;
    while let Some(ev) = rows.next().await {
        let ev = ev?;
        if last_call.as_deref() != Some(ev.call_sid.as_str()) {
            done.calls += 1;
            if done.calls.is_multiple_of(256) {
                progress(done.calls);
            }
            last_call = Some(ev.call_sid.clone());
        }
        writer.write(&ev)?;
        done.events += 1;
    }
    writer.finish()?;
    progress(done.calls);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallSession, EventKind};
    use crate::store::{WebhookCommit, sqlite::SqliteStore};
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    async fn store_with_one_call() -> SqliteStore {
        let store = SqliteStore::open_in_memory().unwrap();
        let started = t("2026-11-24T15:00:00Z");
        let flows = {
            let prompts = tempfile::tempdir().unwrap();
            std::fs::write(prompts.path().join("en.yaml"), "hi: Hi.\n").unwrap();
            let yaml = "languages: [en]\nstart: main\nnodes:\n  main:\n    menu: { prompt: hi, options: { \"1\": bye } }\n  bye:\n    hangup: {}\n";
            crate::flow::compile_sources(
                vec![crate::flow::parse::SourceFile::new("flows/demo.yaml", yaml)],
                prompts.path(),
            )
            .flows
            .unwrap()
        };
        let flow = flows.get("demo").unwrap();
        let session = CallSession::new("CA1", flow, &flows.version, "+1555", "+1556", started);
        let ev = |seq: u32, kind: EventKind, value: Option<EventValue>| LogEvent {
            call_sid: "CA1".into(),
            seq,
            at: started + chrono::Duration::milliseconds(i64::from(seq) * 250),
            flow: "demo".into(),
            version: flows.version.clone(),
            node: (seq > 1).then(|| "main".to_owned()),
            kind,
            value,
            attempt: u32::from(seq > 1),
        };
        let commit = WebhookCommit {
            session,
            base_seq: None,
            events: vec![
                ev(
                    1,
                    EventKind::CallStarted,
                    Some(EventValue::Caller("+1555".into())),
                ),
                ev(2, EventKind::Entered, None),
                ev(
                    3,
                    EventKind::Set,
                    Some(EventValue::Set {
                        name: "note".into(),
                        value: "a, \"quoted\"\nline".into(),
                    }),
                ),
            ],
            reply: None,
            now: started,
        };
        store.commit(commit).await.unwrap();
        store
    }

    fn everything() -> CallRange {
        CallRange {
            flow: None,
            from: DateTime::<Utc>::UNIX_EPOCH,
            to: t("2100-01-01T00:00:00Z"),
        }
    }

    #[tokio::test]
    async fn csv_quotes_what_needs_it_and_jsonl_keeps_the_stored_json() {
        let store = store_with_one_call().await;
        let mut csv_out = Vec::new();
        let done = export_events(
            &store,
            &everything(),
            ExportFormat::Csv,
            &mut csv_out,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(
            done,
            Exported {
                events: 3,
                calls: 1
            }
        );
        let mut reader = csv::Reader::from_reader(csv_out.as_slice());
        assert_eq!(reader.headers().unwrap(), EXPORT_COLUMNS.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[0][2], "2026-11-24T15:00:00.250Z");
        assert_eq!(&rows[0][5], "", "no node");
        assert_eq!(&rows[1][8], "", "no value");
        assert_eq!(&rows[2][7], "note=a, \"quoted\"\nline");
        assert_eq!(
            &rows[2][8],
            r#"{"set":{"name":"note","value":"a, \"quoted\"\nline"}}"#
        );

        let mut jsonl = Vec::new();
        export_events(
            &store,
            &everything(),
            ExportFormat::Jsonl,
            &mut jsonl,
            &mut |_| {},
        )
        .await
        .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["value_json"], serde_json::Value::Null);
        assert_eq!(
            lines[0]["value_json"],
            serde_json::json!({"caller": "+1555"})
        );
        assert_eq!(lines[0]["value"], "+1555");
        assert_eq!(lines[2]["kind"], "set");
        let keys: Vec<&String> = lines[2].as_object().unwrap().keys().collect();
        let mut columns = EXPORT_COLUMNS.to_vec();
        columns.sort_unstable();
        assert_eq!(keys, columns);
    }

    /// A writer whose reader has gone away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[tokio::test]
    async fn a_closed_pipe_is_told_apart_from_other_failures() {
        let store = store_with_one_call().await;
        for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
            let err = export_events(&store, &everything(), format, ClosedPipe, &mut |_| {})
                .await
                .unwrap_err();
            assert!(err.is_broken_pipe(), "{format:?}: {err}");
        }
        assert!(!ExportError::Store(StoreError::Closed).is_broken_pipe());
    }
}
