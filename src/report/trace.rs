//! One caller's journey through the flow, step by step: what `phonetree trace` prints.
//!
//! A [`Trace`] is the call's row and its events in order, each event placed in time
//! (its offset from the call's start) and, when the flow version it names can be had,
//! given the kind of its node and the prompts the caller heard there, read from the
//! compiled flow the same way the state machine chose them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::FlowCatalog;
use crate::call::{EventKind, EventValue, LogEvent, Outcome};
use crate::flow::{FlowSet, Node, NodeKind, Prompt, Retry};
use crate::store::{CallRecord, Store, StoreError};

/// Why a trace could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TraceError {
    /// The store has no call with this CallSid.
    #[error("no call {0} in the call log")]
    UnknownCall(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One call, from its start to how it ended. Field names are stable: `phonetree trace
/// --format json` prints this struct.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The call's row.
    pub call: TracedCall,
    /// What happened, in order.
    pub steps: Vec<TraceStep>,
    /// Flow versions that could not be had: their steps have no node kinds and no prompts.
    pub warnings: Vec<String>,
}

/// The call a trace follows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracedCall {
    /// Provider call id.
    pub call_sid: String,
    /// The flow the call is in or ended in.
    pub flow: String,
    /// The flow version the call is on.
    pub flow_version: String,
    /// The caller's number.
    pub from: String,
    /// The number called.
    pub to: String,
    /// The language in use at the end.
    pub language: String,
    /// When the call started (RFC 3339, milliseconds, UTC).
    #[serde(serialize_with = "rfc3339_millis")]
    pub started_at: DateTime<Utc>,
    /// When its record was closed; `None` while in progress.
    #[serde(serialize_with = "rfc3339_millis_or_null")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from start to end, when ended.
    pub duration_seconds: Option<f64>,
    /// How it ended; `None` while in progress.
    pub outcome: Option<Outcome>,
    /// The node the caller was in last.
    pub last_node: Option<String>,
}

/// One event of the call, placed in time and in the flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    /// Order within the call (the log's `seq`).
    pub seq: u32,
    /// When (RFC 3339, milliseconds, UTC).
    #[serde(serialize_with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// Seconds since the call started.
    pub offset_seconds: f64,
    /// The flow the event was logged in.
    pub flow: String,
    /// The node it belongs to, when it belongs to one.
    pub node: Option<String>,
    /// That node's kind (`menu`, `input`, ...); `None` when the flow version is unknown.
    pub node_kind: Option<String>,
    /// What happened (`entered`, `key`, `input`, ...).
    pub kind: EventKind,
    /// The value as plain text (`1`, `******`, `plan=gold`), masked where the log masks it.
    pub value: Option<String>,
    /// The value as the log stores it (`{"key":"1"}`).
    pub value_json: Option<EventValue>,
    /// Attempt at the node (1-based; 0 when not applicable).
    pub attempt: u32,
    /// The prompt ids the caller heard at this step, in order; `None` when the flow
    /// version is unknown.
    pub prompts: Option<Vec<String>>,
}

fn rfc3339_millis<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn rfc3339_millis_or_null<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339_millis(at, s),
        None => s.serialize_none(),
    }
}

/// Reads the call `call_sid` and its events from `store` and traces it; `catalog` gives
/// the flow versions its events name.
pub async fn build_trace(
    store: &dyn Store,
    call_sid: &str,
    catalog: &mut FlowCatalog,
) -> Result<Trace, TraceError> {
    let call = store
        .call(call_sid)
        .await?
        .ok_or_else(|| TraceError::UnknownCall(call_sid.to_owned()))?;
    let events = store.events(call_sid).await?;
    let mut sets: HashMap<String, Option<Arc<FlowSet>>> = HashMap::new();
    for ev in &events {
        if !sets.contains_key(&ev.version) {
            let set = catalog.version(&ev.version).await;
            sets.insert(ev.version.clone(), set);
        }
    }
    Ok(trace_of(&call, &events, &sets))
}

/// The trace of `call` and its `events` (in `seq` order); `sets` are the flow sets of the
/// versions the events name, `None` where a version is unknown.
pub fn trace_of(
    call: &CallRecord,
    events: &[LogEvent],
    sets: &HashMap<String, Option<Arc<FlowSet>>>,
) -> Trace {
    let mut warnings = Vec::new();
    let mut steps = Vec::with_capacity(events.len());
    for ev in events {
        let set = match sets.get(&ev.version) {
            Some(Some(set)) => Some(set),
            _ => {
                let warning = format!(
                    "flow version {} could not be loaded from the store or the flows directory: \
                     its steps are shown without node kinds and prompts",
                    ev.version
                );
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
                None
            }
        };
        let node = set
            .and_then(|s| s.get(&ev.flow))
            .zip(ev.node.as_deref())
            .and_then(|(flow, name)| flow.node_by_name(name).map(|id| flow.node(id)));
        steps.push(TraceStep {
            seq: ev.seq,
            at: ev.at,
            offset_seconds: seconds_between(call.started_at, ev.at),
            flow: ev.flow.clone(),
            node: ev.node.clone(),
            node_kind: node.map(|n| n.kind.name().to_owned()),
            kind: ev.kind,
            value: ev.value_text(),
            value_json: ev.value.clone(),
            attempt: ev.attempt,
            prompts: set.map(|_| node.map(|n| prompts_heard(n, ev)).unwrap_or_default()),
        });
    }
    Trace {
        call: TracedCall {
            call_sid: call.call_sid.clone(),
            flow: call.flow.clone(),
            flow_version: call.flow_version.clone(),
            from: call.from_number.clone(),
            to: call.to_number.clone(),
            language: call.language.clone(),
            started_at: call.started_at,
            ended_at: call.ended_at,
            duration_seconds: call
                .ended_at
                .map(|end| seconds_between(call.started_at, end)),
            outcome: call.outcome,
            last_node: call.last_node.clone(),
        },
        steps,
        warnings,
    }
}

/// Seconds from `from` to `to`, to the millisecond.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// The prompt ids played at `node` for `ev`, as the state machine picks them: a node's
/// prompt on entry; after an invalid entry or silence that leaves a retry, the
/// `invalid` or `no_input` prompt and then the reprompt of the next attempt (the node's
/// prompt when it has none); nothing once retries are spent.
fn prompts_heard(node: &Node, ev: &LogEvent) -> Vec<String> {
    let items = |p: Option<&Prompt>| p.map(|p| p.items.clone()).unwrap_or_default();
    match (ev.kind, &node.kind) {
        (EventKind::Entered, NodeKind::Menu(m)) => items(Some(&m.prompt)),
        (EventKind::Entered, NodeKind::Input(i)) => items(Some(&i.prompt)),
        (EventKind::Entered, NodeKind::Message(m)) => items(Some(&m.prompt)),
        (EventKind::Entered, NodeKind::Transfer(t)) => items(t.prompt.as_ref()),
        (EventKind::Entered, NodeKind::Voicemail(v)) => items(v.prompt.as_ref()),
        (EventKind::Entered, NodeKind::Hangup(h)) => items(h.prompt.as_ref()),
        (EventKind::Invalid | EventKind::NoInput, NodeKind::Menu(m)) => {
            retry_prompts(&m.retry, ev, m.prompt_for(ev.attempt + 1))
        }
        (EventKind::Invalid | EventKind::NoInput, NodeKind::Input(i)) => {
            retry_prompts(&i.retry, ev, i.prompt_for(ev.attempt + 1))
        }
        _ => Vec::new(),
    }
}

fn retry_prompts(retry: &Retry, ev: &LogEvent, again: &Prompt) -> Vec<String> {
    if ev.attempt > retry.retries {
        return Vec::new();
    }
    let lead = match ev.kind {
        EventKind::Invalid => retry.invalid.as_ref(),
        _ => retry.no_input.as_ref(),
    };
    let mut out = lead.map(|p| p.items.clone()).unwrap_or_default();
    out.extend(again.items.iter().cloned());
    out
}

/// `+12.4s`.
fn offset_text(seconds: f64) -> String {
    if seconds < 0.0 {
        format!("-{:.1}s", -seconds)
    } else {
        format!("+{seconds:.1}s")
    }
}

/// The trace as lines for a terminal: a header, then one line per step with its time
/// (UTC) and its offset from the start. Nodes entered start a line; what happens in a
/// node is indented under it.
pub fn render_text(trace: &Trace) -> String {
    let mut out = String::new();
    let c = &trace.call;
    let full = "%Y-%m-%d %H:%M:%S%.3f UTC";
    let _ = writeln!(
        out,
        "call {}  flow {}  version {}",
        c.call_sid, c.flow, c.flow_version
    );
    let _ = writeln!(out, "from {}  to {}  language {}", c.from, c.to, c.language);
    let ended = match (c.ended_at, c.duration_seconds) {
        (Some(end), Some(secs)) => format!("ended {}  duration {secs:.1}s", end.format(full)),
        _ => "not ended".to_owned(),
    };
    let _ = writeln!(out, "started {}  {ended}", c.started_at.format(full));
    let _ = writeln!(
        out,
        "outcome {}",
        c.outcome.map_or("none yet (in progress)", Outcome::as_str)
    );
    for w in &trace.warnings {
        let _ = writeln!(out, "note: {w}");
    }
    let _ = writeln!(out);

    let home = trace
        .steps
        .first()
        .map_or(c.flow.as_str(), |s| s.flow.as_str());
    let start_day = c.started_at.date_naive();
    let mut current: Option<(&str, &str)> = None;
    for step in &trace.steps {
        let time = if step.at.date_naive() == start_day {
            step.at.format("%H:%M:%S%.3f").to_string()
        } else {
            step.at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
        };
        let node_name = step.node.as_deref().map(|n| {
            if step.flow == home {
                n.to_owned()
            } else {
                format!("{}:{n}", step.flow)
            }
        });
        let value = step.value.as_deref().unwrap_or("?");
        let attempt = step.attempt;
        let mut line = match step.kind {
            EventKind::Entered => {
                current = step.node.as_deref().map(|n| (step.flow.as_str(), n));
                let mut s = node_name.clone().unwrap_or_else(|| "?".to_owned());
                if let Some(kind) = &step.node_kind {
                    let _ = write!(s, " ({kind})");
                }
                if let Some(EventValue::Branch(way) | EventValue::Way(way)) = &step.value_json {
                    let _ = write!(s, " -> {way}");
                }
                s
            }
            EventKind::CallStarted => format!("call started, caller {value}"),
            EventKind::Key => format!("  key {value}"),
            EventKind::Input => format!("  digits {value}"),
            EventKind::Invalid => format!("  invalid {value}, attempt {attempt}"),
            EventKind::NoInput => format!("  no input, attempt {attempt}"),
            EventKind::RetriesExhausted => format!("  retries exhausted after attempt {attempt}"),
            EventKind::BudgetExhausted => format!("  step budget of {value} spent"),
            EventKind::Set => format!("  set {value}"),
            EventKind::Answer => format!("  answer stored: {value}"),
            EventKind::LookupOk => "  lookup ok".to_owned(),
            EventKind::LookupError => format!("  lookup error: {value}"),
            EventKind::TransferStarted => format!("  transfer to {value}"),
            EventKind::TransferResult => format!("  dial status {value}"),
            EventKind::Queued => format!("  joined queue {value}"),
            EventKind::QueueLeft => format!("  left queue: {value}"),
            EventKind::Recorded => match &step.value_json {
                Some(EventValue::Recording { seconds, url }) => format!(
                    "  voicemail recorded: {}, {}",
                    seconds.map_or_else(|| "length unknown".to_owned(), |s| format!("{s}s")),
                    url.as_deref().unwrap_or("no url")
                ),
                _ => format!("  voicemail recorded: {value}"),
            },
            EventKind::FlowHangup => "  flow hung up".to_owned(),
            EventKind::CallerHangup => "  caller hung up".to_owned(),
            EventKind::CallEnded => format!("call ended: {value}"),
            EventKind::Fault => format!("  fault: {value}"),
        };
        let elsewhere = step.kind != EventKind::Entered
            && step.node.is_some()
            && current != step.node.as_deref().map(|n| (step.flow.as_str(), n));
        if let (true, Some(name)) = (elsewhere, &node_name) {
            let _ = write!(line, " (at {name})");
        }
        if let Some(prompts) = step.prompts.as_ref().filter(|p| !p.is_empty()) {
            let _ = write!(line, "  says: {}", prompts.join(", "));
        }
        let _ = writeln!(
            out,
            "{time}  {:>8}  {line}",
            offset_text(step.offset_seconds)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{compile_sources, parse::SourceFile};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn set() -> Arc<FlowSet> {
        let prompts = tempfile::tempdir().unwrap();
        std::fs::write(
            prompts.path().join("en.yaml"),
            "hello: Hello.\nagain: Press 1.\nwhat: Sorry.\nsilent: Are you there?\nbye: Bye.\n",
        )
        .unwrap();
        let yaml = "languages: [en]\nstart: main\ndefaults: { retries: 1, invalid: what, no_input: silent }\nnodes:\n  main:\n    menu: { prompt: hello, reprompt: again, options: { \"1\": done } }\n  done:\n    hangup: { prompt: [bye, { say: \"Thanks, bye\" }] }\n";
        let compiled = compile_sources(
            vec![SourceFile::new("flows/demo.yaml", yaml)],
            prompts.path(),
        );
        Arc::new(compiled.flows.expect("compiles"))
    }

    fn event(seq: u32, ms: i64, node: Option<&str>, kind: EventKind, attempt: u32) -> LogEvent {
        LogEvent {
            call_sid: "CA1".into(),
            seq,
            at: t("2026-11-24T15:00:00Z") + chrono::Duration::milliseconds(ms),
            flow: "demo".into(),
            version: "v1".into(),
            node: node.map(str::to_owned),
            kind,
            value: None,
            attempt,
        }
    }

    fn call() -> CallRecord {
        CallRecord {
            call_sid: "CA1".into(),
            flow: "demo".into(),
            flow_version: "v1".into(),
            from_number: "+15550001".into(),
            to_number: "+15550002".into(),
            language: "en".into(),
            started_at: t("2026-11-24T15:00:00Z"),
            ended_at: Some(t("2026-11-24T15:00:20.500Z")),
            outcome: Some(Outcome::SelfService),
            last_node: Some("done".into()),
        }
    }

    fn events() -> Vec<LogEvent> {
        let mut key = event(5, 12_400, Some("main"), EventKind::Key, 3);
        key.value = Some(EventValue::Key("1".into()));
        let mut invalid = event(3, 6_000, Some("main"), EventKind::Invalid, 2);
        invalid.value = Some(EventValue::Key("9".into()));
        vec![
            event(1, 0, Some("main"), EventKind::Entered, 1),
            event(2, 5_000, Some("main"), EventKind::NoInput, 1),
            invalid,
            event(4, 6_000, Some("main"), EventKind::RetriesExhausted, 2),
            key,
            event(6, 12_400, Some("done"), EventKind::Entered, 1),
        ]
    }

    #[test]
    fn prompts_follow_the_menu_its_retries_and_the_hangup() {
        let set = set();
        let sets = HashMap::from([("v1".to_owned(), Some(set))]);
        let trace = trace_of(&call(), &events(), &sets);
        let prompts: Vec<Vec<String>> = trace
            .steps
            .iter()
            .map(|s| s.prompts.clone().unwrap())
            .collect();
        assert_eq!(
            prompts,
            [
                vec!["hello".to_owned()],
                vec!["silent".to_owned(), "again".to_owned()],
                vec![],
                vec![],
                vec![],
                vec!["bye".to_owned(), "\"Thanks, bye\"".to_owned()],
            ]
        );
        assert_eq!(trace.steps[4].offset_seconds, 12.4);
        assert_eq!(trace.steps[0].node_kind.as_deref(), Some("menu"));
        assert_eq!(trace.call.duration_seconds, Some(20.5));
        assert!(trace.warnings.is_empty());
        let text = render_text(&trace);
        assert!(text.contains("15:00:12.400    +12.4s    key 1"), "{text}");
        assert!(text.contains("main (menu)  says: hello"), "{text}");
        assert!(
            text.contains("no input, attempt 1  says: silent, again"),
            "{text}"
        );
        assert!(text.contains("outcome self_service"), "{text}");
    }

    #[test]
    fn an_unknown_version_is_said_once_and_prompts_are_left_out() {
        let sets = HashMap::from([("v1".to_owned(), None)]);
        let trace = trace_of(&call(), &events(), &sets);
        assert_eq!(trace.warnings.len(), 1, "{:?}", trace.warnings);
        assert!(trace.warnings[0].contains("v1"));
        assert!(trace.steps.iter().all(|s| s.prompts.is_none()));
        assert!(trace.steps.iter().all(|s| s.node_kind.is_none()));
        let text = render_text(&trace);
        assert_eq!(text.matches("could not be loaded").count(), 1, "{text}");
        assert!(!text.contains("says:"), "{text}");
        let json = serde_json::to_value(&trace).unwrap();
        assert_eq!(json["steps"][0]["prompts"], serde_json::Value::Null);
        assert_eq!(json["steps"][4]["at"], "2026-11-24T15:00:12.400Z");
        assert_eq!(
            json["steps"][4]["value_json"],
            serde_json::json!({"key": "1"})
        );
        assert_eq!(json["call"]["outcome"], "self_service");
    }
}
