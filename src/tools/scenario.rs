//! `phonetree test`: runs the scenarios of `flows/<flow>.test.yaml` against the
//! compiled flow, in process, with a fixed clock, and reports the first
//! difference of each failing one.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::call::{CallEvent, DialStatus, LookupOutcome, QueueResult, lookup_var};
use crate::flow::diagnostic::did_you_mean;
use crate::flow::parse::{SourceFile, parse_scenarios, read_source};
use crate::flow::raw::RawScenario;
use crate::flow::{Code, Diagnostic, Flow, FlowSet, NodeKind};
use crate::tools::driver::{CallDriver, CannedLookups, Waiting, transcript};

/// The time a scenario without `at` runs at: Wednesday 2026-01-07 17:00 UTC.
pub const DEFAULT_TIME: &str = "2026-01-07T17:00:00Z";

/// The caller of a scenario without `caller`.
pub const DEFAULT_CALLER: &str = "+15550100000";

/// How a scenario's call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// At a transfer.
    Transfer,
    /// In a queue.
    Queue,
    /// At a voicemail.
    Voicemail,
    /// The flow hung up.
    Hangup,
    /// The keys ran out while the flow waited for more.
    CallerHangup,
}

impl End {
    /// As written in `expect.ends`.
    pub fn as_str(self) -> &'static str {
        match self {
            End::Transfer => "transfer",
            End::Queue => "queue",
            End::Voicemail => "voicemail",
            End::Hangup => "hangup",
            End::CallerHangup => "caller_hangup",
        }
    }
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// The first difference, when it failed.
    pub failure: Option<String>,
    /// Nodes entered.
    pub path: Vec<String>,
}

/// The `*.test.yaml` files under the given files and directories, sorted.
pub fn scenario_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in std::fs::read_dir(p)? {
                let path = entry?.path();
                if is_scenario_file(&path) {
                    out.push(path);
                }
            }
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", p.display()),
            ));
        }
    }
    out.sort();
    Ok(out)
}

fn is_scenario_file(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

/// The flow a scenario file tests: the one compiled from `<stem>.yaml` beside it, else the flow with id `<stem>`.
pub fn flow_for<'a>(set: &'a FlowSet, file: &Path) -> Option<&'a std::sync::Arc<Flow>> {
    flow_among(&set.flows, file)
}

/// [`flow_for`] among flows by id.
pub fn flow_among<'a>(
    flows: &'a indexmap::IndexMap<String, std::sync::Arc<Flow>>,
    file: &Path,
) -> Option<&'a std::sync::Arc<Flow>> {
    let name = file.file_name()?.to_str()?;
    let stem = name
        .trim_end_matches(".test.yaml")
        .trim_end_matches(".test.yml");
    let dir = file.parent();
    flows
        .values()
        .find(|f| {
            let same_dir = match (f.source.parent(), dir) {
                (Some(a), Some(b)) => same_dir(a, b),
                _ => true,
            };
            same_dir
                && f.source
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == format!("{stem}.yaml") || n == format!("{stem}.yml"))
        })
        .or_else(|| flows.get(stem))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| {
        if p.as_os_str().is_empty() {
            Path::new(".").canonicalize().ok()
        } else {
            p.canonicalize().ok()
        }
    };
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A scenario file that does not read, or whose scenarios do not fit their flow.
#[derive(Debug)]
pub struct ScenarioFileError {
    /// What is wrong, at file:line:col.
    pub diagnostics: Vec<Diagnostic>,
    /// How many scenarios the file holds (entries of its list), none of which runs.
    pub scenarios: usize,
}

/// A scenario file read, with its source for positions.
pub struct ScenarioFile {
    /// The text and its tree.
    pub src: SourceFile,
    /// The scenarios.
    pub scenarios: Vec<RawScenario>,
}

/// Reads a scenario file; a malformed one is diagnostics with file, line and column.
pub fn read_scenario_file(path: &Path) -> Result<ScenarioFile, ScenarioFileError> {
    let src = read_source(path).map_err(|e| ScenarioFileError {
        diagnostics: vec![Diagnostic::new(
            crate::flow::Code::Io,
            format!("cannot read {}: {e}", path.display()),
        )],
        scenarios: 0,
    })?;
    match parse_scenarios(&src) {
        Ok(scenarios) => Ok(ScenarioFile { src, scenarios }),
        Err(diagnostics) => Err(ScenarioFileError {
            diagnostics,
            scenarios: entries(&src),
        }),
    }
}

fn entries(src: &SourceFile) -> usize {
    match src.tree().map(|t| &t.kind) {
        Ok(crate::flow::yaml::YamlKind::Seq(items)) => items.len(),
        _ => 0,
    }
}

/// Reads a scenario file and checks it against `flow`: every mistake `check` reports.
pub fn load_scenarios_for(path: &Path, flow: &Flow) -> Result<Vec<RawScenario>, ScenarioFileError> {
    let file = read_scenario_file(path)?;
    let diagnostics = check_scenarios(&file, flow);
    if diagnostics.is_empty() {
        Ok(file.scenarios)
    } else {
        Err(ScenarioFileError {
            diagnostics,
            scenarios: file.scenarios.len(),
        })
    }
}

/// Reads a scenario file without checking it against a flow.
pub fn load_scenarios(path: &Path) -> Result<Vec<RawScenario>, ScenarioFileError> {
    read_scenario_file(path).map(|f| f.scenarios)
}

/// Ways `expect.ends` can be written.
pub const ENDS: [&str; 5] = ["transfer", "queue", "voicemail", "hangup", "caller_hangup"];

/// Dial results a `dial:` entry can be.
pub const DIAL_RESULTS: [&str; 4] = ["completed", "no-answer", "busy", "failed"];

/// Ways a caller can leave a queue in `queue:`.
pub const QUEUE_RESULTS: [&str; 6] = [
    "bridged",
    "hangup",
    "leave-key",
    "timeout",
    "queue-full",
    "error",
];

/// Every variable `flow` can set, and the call's own.
fn flow_vars(flow: &Flow) -> BTreeSet<String> {
    let mut vars: BTreeSet<String> = ["caller", "called", "language", "call_sid"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for node in &flow.nodes {
        match &node.kind {
            NodeKind::Menu(m) => {
                vars.extend(m.store.iter().cloned());
                for o in &m.options {
                    vars.extend(o.set.iter().map(|(k, _)| k.clone()));
                }
            }
            NodeKind::Input(i) => {
                vars.insert(i.store.clone());
            }
            NodeKind::Lookup(l) => {
                vars.insert(l.store.clone());
            }
            NodeKind::Set(set) => vars.extend(set.vars.iter().map(|(k, _)| k.clone())),
            _ => {}
        }
    }
    vars
}

/// What in a scenario file cannot fit `flow`: node names in `expect.path` and
/// `lookups:` that name no node (or no lookup), `ends:`, `dial:` and `queue:`
/// values that are none of their words, `keys:` no menu or input can take,
/// `expect.vars` the flow never sets and `at:` that is no time.
pub fn check_scenarios(file: &ScenarioFile, flow: &Flow) -> Vec<Diagnostic> {
    let src = &file.src;
    let mut out = Vec::new();
    let names: Vec<&str> = flow.nodes.iter().map(|n| n.name.as_str()).collect();
    let lookups: Vec<&str> = flow
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Lookup(_)))
        .map(|n| n.name.as_str())
        .collect();
    let has_input = flow
        .nodes
        .iter()
        .any(|n| matches!(n.kind, NodeKind::Input(_)));
    let vars = flow_vars(flow);
    let flow_id = &flow.id;
    let mut error = |code: Code,
                     message: String,
                     at: Option<crate::flow::diagnostic::Location>,
                     label: &str,
                     hint: Option<String>| {
        out.push(
            Diagnostic::new(code, message)
                .at(at.or_else(|| Some(src.at_line_col(1, 1))))
                .label(label)
                .hint(hint),
        );
    };
    for (i, sc) in file.scenarios.iter().enumerate() {
        let idx = i.to_string();
        let name = &sc.name;
        if let Some(path) = &sc.expect.path {
            for (j, node) in path.iter().enumerate() {
                if !names.contains(&node.as_str()) {
                    let hint = did_you_mean(node, names.iter().copied());
                    error(
                        Code::UnknownTarget,
                        format!(
                            "scenario `{name}`: `expect.path` names `{node}`, which is no node of flow `{flow_id}`"
                        ),
                        src.value_at(&[&idx, "expect", "path", &j.to_string()]),
                        "no such node",
                        hint,
                    );
                }
            }
        }
        for node in sc.lookups.keys() {
            if lookups.contains(&node.as_str()) {
                continue;
            }
            let what = if names.contains(&node.as_str()) {
                "is not a lookup"
            } else {
                "names no node"
            };
            let hint = did_you_mean(node, lookups.iter().copied()).or_else(|| {
                Some(if lookups.is_empty() {
                    format!("flow `{flow_id}` has no lookup nodes")
                } else {
                    format!("its lookups: {}", lookups.join(", "))
                })
            });
            error(
                Code::UnknownTarget,
                format!("scenario `{name}`: `lookups` key `{node}` {what} in flow `{flow_id}`"),
                src.key_at(&[&idx, "lookups", node]),
                "no such lookup",
                hint,
            );
        }
        for (node, mock) in &sc.lookups {
            if mock.answer.is_some() == mock.error.is_some() {
                error(
                    Code::InvalidValue,
                    format!(
                        "scenario `{name}`: lookup `{node}` needs exactly one of `answer` or `error`"
                    ),
                    src.key_at(&[&idx, "lookups", node]),
                    "answer or error",
                    Some(
                        "e.g. `{ answer: { balance: \"42.50\" } }` or `{ error: timeout }`".into(),
                    ),
                );
            }
        }
        if let Some(ends) = &sc.expect.ends
            && !ENDS.contains(&ends.as_str())
        {
            let hint =
                did_you_mean(ends, ENDS).or_else(|| Some(format!("one of: {}", ENDS.join(", "))));
            error(
                Code::InvalidValue,
                format!("scenario `{name}`: a call cannot end with `{ends}`"),
                src.value_at(&[&idx, "expect", "ends"]),
                "not a way to end",
                hint,
            );
        }
        for (section, words, list) in [
            ("dial", &DIAL_RESULTS[..], &sc.dial),
            ("queue", &QUEUE_RESULTS[..], &sc.queue),
        ] {
            for (j, value) in list.iter().enumerate() {
                if !words.contains(&value.as_str()) {
                    let hint = did_you_mean(value, words.iter().copied())
                        .or_else(|| Some(format!("one of: {}", words.join(", "))));
                    error(
                        Code::InvalidValue,
                        format!("scenario `{name}`: `{value}` is not a `{section}` result"),
                        src.value_at(&[&idx, section, &j.to_string()]),
                        "unknown result",
                        hint,
                    );
                }
            }
        }
        for (j, key) in sc.keys.iter().enumerate() {
            let k = key.0.as_str();
            let at = || src.value_at(&[&idx, "keys", &j.to_string()]);
            if !k
                .chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                error(
                    Code::InvalidKey,
                    format!("scenario `{name}`: `{k}` is not keys a phone can press"),
                    at(),
                    "not 0-9, * or #",
                    Some("keys are digits, `*` and `#`; `\"\"` is silence".into()),
                );
            } else if k.chars().count() > 1 && !has_input {
                error(
                    Code::InvalidKey,
                    format!(
                        "scenario `{name}`: `{k}` is several keys, and flow `{flow_id}` has no input to take them"
                    ),
                    at(),
                    "a menu takes one key",
                    Some(format!(
                        "write one entry per menu: {}",
                        k.chars()
                            .map(|c| format!("\"{c}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        for var in sc.expect.vars.keys() {
            let root = var.split('.').next().unwrap_or(var);
            if !vars.contains(root) {
                let hint = did_you_mean(root, vars.iter().map(String::as_str));
                error(
                    Code::UnknownVariable,
                    format!("scenario `{name}`: flow `{flow_id}` never sets `{root}`"),
                    src.key_at(&[&idx, "expect", "vars", var]),
                    "never set",
                    hint,
                );
            }
        }
        if let Some(at) = &sc.at
            && DateTime::parse_from_rfc3339(at).is_err()
        {
            error(
                Code::InvalidValue,
                format!("scenario `{name}`: `at: {at}` is not an RFC 3339 time"),
                src.value_at(&[&idx, "at"]),
                "not a time",
                Some("e.g. \"2026-11-24T10:00:00-05:00\"".into()),
            );
        }
    }
    out
}

/// Runs one scenario against `flow`.
pub fn run_scenario(set: &FlowSet, flow: &Flow, sc: &RawScenario) -> ScenarioResult {
    let mut path = Vec::new();
    let failure = run(set, flow, sc, &mut path).err();
    ScenarioResult {
        name: sc.name.clone(),
        failure,
        path,
    }
}

fn run(
    set: &FlowSet,
    flow: &Flow,
    sc: &RawScenario,
    path_out: &mut Vec<String>,
) -> Result<(), String> {
    let at_text = sc.at.as_deref().unwrap_or(DEFAULT_TIME);
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(at_text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            format!("`at: {at_text}` is not an RFC 3339 time (e.g. 2026-11-24T10:00:00-05:00)")
        })?;
    let mut canned = CannedLookups::default();
    for (node, mock) in &sc.lookups {
        let outcome = match (&mock.answer, &mock.error) {
            (Some(json), None) => LookupOutcome::Answer(json.clone()),
            (None, Some(reason)) => LookupOutcome::Failed(reason.clone()),
            _ => {
                return Err(format!(
                    "lookup `{node}` needs exactly one of `answer` or `error`"
                ));
            }
        };
        canned.answers.insert(node.clone(), outcome);
    }
    let mut keys: VecDeque<String> = sc.keys.iter().map(|k| k.0.clone()).collect();
    let mut dials: VecDeque<&String> = sc.dial.iter().collect();
    let mut recordings: VecDeque<u32> = sc.voicemail.iter().copied().collect();
    let mut queues: VecDeque<&String> = sc.queue.iter().collect();
    let caller = sc.caller.as_deref().unwrap_or(DEFAULT_CALLER);
    let called = flow.numbers.first().cloned().unwrap_or_default();
    let (mut driver, mut turn) =
        CallDriver::start(set, flow, caller, &called, None, now, &mut canned);
    let mut heard: Vec<String> = Vec::new();
    let mut turns = 0;
    let end = loop {
        heard.extend(transcript(&turn.verbs));
        turns += 1;
        if turns > 1000 {
            return Err("the call did not end within 1000 turns".into());
        }
        match turn.waiting.clone() {
            Waiting::Ended => break End::Hangup,
            Waiting::Queue { at, .. } => {
                let queue = driver
                    .flow()
                    .map(|f| f.node(at.node))
                    .and_then(|n| match &n.kind {
                        crate::flow::NodeKind::Queue(q) => {
                            Some((q.leave_key, q.max_wait, q.answers_hold()))
                        }
                        _ => None,
                    });
                let (leave_key, max_wait, answers_hold) = queue.unwrap_or((None, None, false));
                if answers_hold {
                    // The caller hears the hold answer once, first in line.
                    let first_in_line = crate::call::QueueWait {
                        position: Some(1),
                        size: Some(1),
                        waited_secs: Some(0),
                        avg_wait_secs: Some(0),
                    };
                    heard.extend(transcript(&driver.hold(at, first_in_line)));
                }
                let Some(how) = queues.pop_front() else {
                    break End::Queue;
                };
                let (result, waited) = match how.as_str() {
                    "bridged" => (QueueResult::Bridged, Some(60)),
                    "hangup" => (QueueResult::Hangup, Some(60)),
                    "queue-full" => (QueueResult::QueueFull, Some(0)),
                    "error" => (QueueResult::Error, Some(0)),
                    "leave-key" if leave_key.is_some() => {
                        let key = leave_key.map(String::from).unwrap_or_default();
                        driver.send(&CallEvent::HoldKey { at, digits: key });
                        (QueueResult::Leave, Some(0))
                    }
                    "timeout" => match max_wait {
                        Some(max) => (
                            QueueResult::Leave,
                            Some(u32::try_from(max.as_secs()).unwrap_or(u32::MAX)),
                        ),
                        None => return Err("`queue: timeout` at a queue without `max_wait`".into()),
                    },
                    "leave-key" => {
                        return Err("`queue: leave-key` at a queue without `leave_key`".into());
                    }
                    other => {
                        return Err(format!(
                            "`queue: {other}` is not a way to leave a queue (bridged, hangup, leave-key, timeout, queue-full, error)"
                        ));
                    }
                };
                turn = driver.send(&CallEvent::QueueLeft {
                    at,
                    result,
                    waited_secs: waited,
                });
            }
            Waiting::Keys { at, .. } => match keys.pop_front() {
                None => {
                    driver.hang_up();
                    break End::CallerHangup;
                }
                Some(k) if k.is_empty() => turn = driver.send(&CallEvent::Silence { at }),
                Some(k) => turn = driver.send(&CallEvent::Digits { at, digits: k }),
            },
            Waiting::Dial { at, .. } => {
                match dials.pop_front() {
                    None => break End::Transfer,
                    Some(s) => {
                        let status = DialStatus::parse(s)
                        .ok_or_else(|| format!("`dial: {s}` is not a dial status (completed, no-answer, busy, failed)"))?;
                        turn = driver.send(&CallEvent::DialResult { at, status });
                    }
                }
            }
            Waiting::Record { at, .. } => match recordings.pop_front() {
                None => break End::Voicemail,
                Some(secs) => {
                    turn = driver.send(&CallEvent::Recorded {
                        at,
                        url: None,
                        duration_secs: Some(secs),
                    })
                }
            },
        }
    };
    let path = driver.path();
    *path_out = path.clone();
    let expect = &sc.expect;
    if let Some(want) = &expect.path
        && *want != path
    {
        let i = want
            .iter()
            .zip(&path)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(path.len()));
        let (w, g) = (
            want.get(i).map_or("(end)", String::as_str),
            path.get(i).map_or("(end)", String::as_str),
        );
        return Err(format!(
            "path differs at step {}: expected `{w}`, got `{g}`\n    expected: {}\n    actual:   {}",
            i + 1,
            want.join(" -> "),
            path.join(" -> ")
        ));
    }
    if let Some(says) = &expect.says {
        let all = heard.join("\n");
        for text in says.all() {
            if !all.contains(text) {
                return Err(format!(
                    "never said {text:?}; the caller heard:\n      {}",
                    heard.join("\n      ")
                ));
            }
        }
    }
    if let Some(want) = &expect.ends
        && want != end.as_str()
    {
        return Err(format!(
            "expected the call to end with `{want}`, it ended with `{}` (path: {})",
            end.as_str(),
            path.join(" -> ")
        ));
    }
    for (var, want) in &expect.vars {
        let got = lookup_var(&driver.session, var);
        if got.as_deref() != Some(want.0.as_str()) {
            return Err(format!(
                "expected `{var}` = {:?}, got {}",
                want.0,
                got.map_or("nothing".to_owned(), |g| format!("{g:?}"))
            ));
        }
    }
    let unused: Vec<String> = [
        ("dial", dials.len()),
        ("voicemail", recordings.len()),
        ("queue", queues.len()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{n} `{what}`"))
    .collect();
    if !unused.is_empty() {
        let total = dials.len() + recordings.len() + queues.len();
        return Err(format!(
            "the call ended ({}) with {} {} unused",
            end.as_str(),
            unused.join(" and "),
            if total == 1 { "entry" } else { "entries" }
        ));
    }
    if !keys.is_empty() {
        let left: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
        return Err(format!(
            "the call ended ({}) with keys left over: {}",
            end.as_str(),
            left.join(", ")
        ));
    }
    Ok(())
}

/// Nodes of `flow` that no scenario entered.
pub fn uncovered(flow: &Flow, results: &[ScenarioResult]) -> Vec<String> {
    let seen: BTreeSet<&str> = results
        .iter()
        .flat_map(|r| r.path.iter().map(String::as_str))
        .collect();
    flow.nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| !seen.contains(n.as_str()))
        .collect()
}
