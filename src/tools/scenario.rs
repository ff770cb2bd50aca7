//! `phonetree test`: runs the scenarios of `flows/<flow>.test.yaml` against the
//! compiled flow, in process, with a fixed clock, and reports the first
//! difference of each failing one.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::call::{CallEvent, DialStatus, LookupOutcome, QueueResult, lookup_var};
use crate::flow::parse::{parse_scenarios, read_source};
use crate::flow::raw::RawScenario;
use crate::flow::{Diagnostic, Flow, FlowSet};
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
    let name = file.file_name()?.to_str()?;
    let stem = name
        .trim_end_matches(".test.yaml")
        .trim_end_matches(".test.yml");
    set.flows
        .values()
        .find(|f| {
            f.source
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == format!("{stem}.yaml") || n == format!("{stem}.yml"))
        })
        .or_else(|| set.get(stem))
}

/// A scenario file that does not read.
#[derive(Debug)]
pub struct ScenarioFileError {
    /// What is wrong, at file:line:col.
    pub diagnostics: Vec<Diagnostic>,
    /// How many scenarios the file holds (entries of its list), none of which runs.
    pub scenarios: usize,
}

/// Reads a scenario file; a malformed one is diagnostics with file, line and column.
pub fn load_scenarios(path: &Path) -> Result<Vec<RawScenario>, ScenarioFileError> {
    let src = read_source(path).map_err(|e| ScenarioFileError {
        diagnostics: vec![Diagnostic::new(
            crate::flow::Code::Io,
            format!("cannot read {}: {e}", path.display()),
        )],
        scenarios: 0,
    })?;
    parse_scenarios(&src).map_err(|diagnostics| ScenarioFileError {
        diagnostics,
        scenarios: match src.tree().map(|t| &t.kind) {
            Ok(crate::flow::yaml::YamlKind::Seq(items)) => items.len(),
            _ => 0,
        },
    })
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
