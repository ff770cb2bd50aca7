//! `phonetree simulate`: a call in the terminal. Shows what the caller hears and
//! where the call is, reads keys (interactively or from a script) and prints the
//! caller's path at the end.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::call::{CallEvent, DialStatus, EventKind, EventValue, LookupOutcome, LookupRequest};
use crate::flow::{Flow, FlowSet, NodeKind, Prompt};
use crate::lookup::LookupClient;
use crate::tools::driver::{CallDriver, CannedLookups, LookupResolver, Turn, Waiting, transcript};

/// How a simulated call is run.
pub struct SimulateOptions {
    /// Scripted input; `None` reads the terminal. Entries: keys, `""` for silence,
    /// `h` to hang up; at a transfer a dial status (`no-answer`); at a voicemail the seconds recorded.
    pub keys: Option<Vec<String>>,
    /// Time the call happens at.
    pub at: DateTime<Utc>,
    /// Language to start in.
    pub language: Option<String>,
    /// Caller number.
    pub caller: String,
    /// Canned lookup answers by node; other lookups go to the real URL.
    pub mock_lookups: CannedLookups,
}

/// Lookups answered from the canned set first, else over HTTP.
struct TerminalLookups {
    canned: CannedLookups,
    client: LookupClient,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LookupResolver for TerminalLookups {
    fn resolve(&mut self, node: &str, req: &LookupRequest) -> LookupOutcome {
        if self.canned.answers.contains_key(node) {
            return self.canned.resolve(node, req);
        }
        if self.runtime.is_none() {
            self.runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok();
        }
        match &self.runtime {
            Some(rt) => rt.block_on(self.client.perform(req, Instant::now() + req.timeout)),
            None => LookupOutcome::Failed("cannot start the HTTP client".into()),
        }
    }
}

/// Where the next input comes from.
enum Input<'a> {
    Script(VecDeque<String>),
    Terminal(&'a mut dyn BufRead),
}

impl Input<'_> {
    /// The next entry; `None` when the script or the terminal is done.
    fn next(&mut self, out: &mut dyn Write, prompt: &str) -> Option<String> {
        match self {
            Input::Script(q) => {
                let k = q.pop_front()?;
                let _ = writeln!(out, "{prompt}{k}");
                Some(k)
            }
            Input::Terminal(r) => {
                let _ = write!(out, "{prompt}");
                let _ = out.flush();
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim().to_owned()),
                }
            }
        }
    }
    fn peek(&self) -> Option<&str> {
        match self {
            Input::Script(q) => q.front().map(String::as_str),
            Input::Terminal(_) => None,
        }
    }
    fn is_script(&self) -> bool {
        matches!(self, Input::Script(_))
    }
}

/// How a simulated call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Connected to a person.
    Transfer(String),
    /// Waiting in a queue.
    Queue(String),
    /// A voicemail was being recorded when input ran out.
    Voicemail,
    /// The flow hung up.
    Hangup,
    /// The caller hung up (or input ran out while the flow waited for keys).
    CallerHangup,
    /// The `--keys` script does not fit where the call is.
    ScriptError(String),
}

/// Runs a call and prints it to `out`; returns the path and how it ended.
pub fn simulate(
    set: &FlowSet,
    flow: &Flow,
    opts: SimulateOptions,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> (Vec<String>, Ending) {
    let mut resolver = TerminalLookups {
        canned: opts.mock_lookups,
        client: LookupClient::new(),
        runtime: None,
    };
    let mut input = match opts.keys {
        Some(k) => Input::Script(k.into()),
        None => Input::Terminal(stdin),
    };
    let _ = writeln!(
        out,
        "call from {} to flow `{}` at {} (version {})",
        opts.caller,
        flow.id,
        opts.at.to_rfc3339(),
        set.version
    );
    let called = flow.numbers.first().cloned().unwrap_or_default();
    let (mut driver, mut turn) = CallDriver::start(
        set,
        flow,
        &opts.caller,
        &called,
        opts.language.as_deref(),
        opts.at,
        &mut resolver,
    );
    let ending = loop {
        show_turn(&turn, set, &driver.session.language, out);
        match turn.waiting.clone() {
            Waiting::Ended => break Ending::Hangup,
            Waiting::Keys {
                at,
                timeout_secs,
                num_digits,
                finish_on_key,
                ..
            } => {
                let how = match (num_digits, finish_on_key) {
                    (Some(1), _) => "a key".to_owned(),
                    (Some(n), Some(f)) => format!("up to {n} digits, end with {f}"),
                    (Some(n), None) => format!("{n} digits"),
                    _ => "digits".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  ... waiting for {how} ({timeout_secs} s; Enter alone = silence, h = hang up)"
                );
                match input.next(out, "keys> ") {
                    None => {
                        driver.hang_up();
                        break Ending::CallerHangup;
                    }
                    Some(k) if k == "h" => {
                        driver.hang_up();
                        break Ending::CallerHangup;
                    }
                    Some(k) if k.is_empty() => turn = driver.send(&CallEvent::Silence { at }),
                    Some(k) => turn = driver.send(&CallEvent::Digits { at, digits: k }),
                }
            }
            Waiting::Dial { at, target } => {
                let _ = writeln!(out, "  ... dialing {target}");
                let status = if input.is_script() {
                    match input.peek().map(|k| (k.to_owned(), parse_dial_status(k))) {
                        None => break Ending::Transfer(target),
                        Some((_, Some(s))) => {
                            input.next(out, "dial> ");
                            s
                        }
                        Some((k, None)) => {
                            break Ending::ScriptError(format!(
                                "`{k}` at a transfer is not a dial result (completed, no-answer, busy, failed)"
                            ));
                        }
                    }
                } else {
                    let mut answer = None;
                    while answer.is_none() {
                        match input.next(
                            out,
                            "dial outcome? [c]ompleted [n]o-answer [b]usy [f]ailed, h = hang up> ",
                        ) {
                            None => break,
                            Some(k) if k == "h" => {
                                driver.hang_up();
                                break;
                            }
                            Some(k) => {
                                answer = parse_dial_status(&k);
                                if answer.is_none() {
                                    let _ = writeln!(out, "  `{k}` is not a dial result");
                                }
                            }
                        }
                    }
                    match answer {
                        Some(s) => s,
                        None => break Ending::Transfer(target),
                    }
                };
                turn = driver.send(&CallEvent::DialResult { at, status });
            }
            Waiting::Queue { name, .. } => {
                let _ = writeln!(out, "  ... the caller waits in queue `{name}` for an agent");
                break Ending::Queue(name);
            }
            Waiting::Record {
                at,
                max_length_secs,
            } => {
                let _ = writeln!(
                    out,
                    "  ... recording after the beep (up to {max_length_secs} s)"
                );
                let seconds = if input.is_script() {
                    match input.peek().map(|k| (k.to_owned(), k.parse::<u32>().ok())) {
                        None => break Ending::Voicemail,
                        Some((_, Some(s))) => {
                            input.next(out, "recorded seconds> ");
                            s
                        }
                        Some((k, None)) => {
                            break Ending::ScriptError(format!(
                                "`{k}` at a voicemail is not a number of seconds recorded"
                            ));
                        }
                    }
                } else {
                    match input.next(out, "press Enter to finish the message (h = hang up)> ") {
                        None => break Ending::Voicemail,
                        Some(k) if k == "h" => {
                            driver.hang_up();
                            break Ending::Voicemail;
                        }
                        Some(k) => k.parse().unwrap_or(10),
                    }
                };
                turn = driver.send(&CallEvent::Recorded {
                    at,
                    url: None,
                    duration_secs: Some(seconds),
                });
            }
        }
    };
    let ending = match (&ending, &input) {
        (Ending::ScriptError(_), _) => ending,
        (_, Input::Script(left)) if !left.is_empty() => {
            let left: Vec<String> = left.iter().map(|k| format!("{k:?}")).collect();
            Ending::ScriptError(format!(
                "the call ended with script entries left over: {}",
                left.join(", ")
            ))
        }
        _ => ending,
    };
    let path = driver.path();
    let _ = writeln!(out, "path: {}", path.join(" -> "));
    let how = match &ending {
        Ending::Transfer(t) => format!("transfer to {t}"),
        Ending::Queue(q) => format!("queue `{q}`"),
        Ending::Voicemail => "voicemail".into(),
        Ending::Hangup => "hangup".into(),
        Ending::CallerHangup => "caller hung up".into(),
        Ending::ScriptError(why) => format!("script error: {why}"),
    };
    let _ = writeln!(out, "ended: {how}");
    (path, ending)
}

fn parse_dial_status(k: &str) -> Option<DialStatus> {
    match k {
        "c" => Some(DialStatus::Completed),
        "n" => Some(DialStatus::NoAnswer),
        "b" => Some(DialStatus::Busy),
        "f" => Some(DialStatus::Failed),
        other => DialStatus::parse(other),
    }
}

/// The prompt a node plays before it moves on or waits outside a `<Gather>`.
fn spoken_prompt(kind: &NodeKind) -> Option<&Prompt> {
    match kind {
        NodeKind::Message(m) => Some(&m.prompt),
        NodeKind::Hangup(h) => h.prompt.as_ref(),
        NodeKind::Transfer(t) => t.prompt.as_ref(),
        NodeKind::Voicemail(v) => v.prompt.as_ref(),
        _ => None,
    }
}

/// Prints the nodes a turn went through and what the caller heard, each prompt under
/// the node that played it: the caller hears the nodes that speak on their way
/// (messages, transfers, voicemail, hangup) in the order they were entered, one line
/// per part of their prompt (a `<Gather>` opens with what they said before it); what
/// is left belongs to the node that waits, the last one entered.
fn show_turn(turn: &Turn, set: &FlowSet, language: &str, out: &mut dyn Write) {
    let mut said: VecDeque<String> = transcript(&turn.verbs).into();
    for e in &turn.events {
        let node = e.node.clone().unwrap_or_default();
        let line = match e.kind {
            EventKind::Entered => {
                let kind = set
                    .get(&e.flow)
                    .and_then(|f| f.node_by_name(&node).map(|id| f.node(id).kind.name()))
                    .unwrap_or("?");
                match &e.value {
                    Some(v) => format!("-> {node} ({kind}): {v}"),
                    None => format!("-> {node} ({kind})"),
                }
            }
            EventKind::Key => format!("   key {} accepted", e.value_text().unwrap_or_default()),
            EventKind::Invalid => format!(
                "   `{}` is not accepted (attempt {})",
                e.value_text().unwrap_or_default(),
                e.attempt
            ),
            EventKind::NoInput => format!("   silence (attempt {})", e.attempt),
            EventKind::Input => format!("   entered {}", e.value_text().unwrap_or_default()),
            EventKind::Set => format!("   set {}", e.value_text().unwrap_or_default()),
            EventKind::RetriesExhausted => "   retries spent: on to on_fail".to_owned(),
            EventKind::BudgetExhausted => "   step budget spent: on to on_fail".to_owned(),
            EventKind::TransferResult => {
                format!("   transfer ended: {}", e.value_text().unwrap_or_default())
            }
            EventKind::Recorded => {
                let seconds = match &e.value {
                    Some(EventValue::Recording { seconds, .. }) => seconds.unwrap_or(0),
                    _ => 0,
                };
                format!("   voicemail recorded ({seconds} s)")
            }
            EventKind::Fault => format!("   fault: {}", e.value_text().unwrap_or_default()),
            // Said after what the caller hears last, below.
            EventKind::FlowHangup => continue,
            EventKind::LookupOk | EventKind::LookupError => {
                let Some((_, req, outcome)) = turn.lookups.iter().find(|(n, _, _)| *n == node)
                else {
                    continue;
                };
                let result = match outcome {
                    LookupOutcome::Answer(json) => format!("ok {json}"),
                    LookupOutcome::Failed(reason) => format!("failed: {reason}"),
                };
                let method = match req.method {
                    crate::flow::LookupMethod::Get => "GET",
                    crate::flow::LookupMethod::Post => "POST",
                };
                format!("   {method} {} -> {result}", req.url)
            }
            _ => continue,
        };
        let _ = writeln!(out, "{line}");
        if e.kind == EventKind::Entered {
            let parts = set.get(&e.flow).and_then(|f| {
                let id = f.node_by_name(&node)?;
                let prompt = spoken_prompt(&f.node(id).kind)?;
                let lang = f
                    .language(language)
                    .or_else(|| f.language(&f.languages.first()?.code))?;
                Some(prompt.parts(lang).len())
            });
            for _ in 0..parts.unwrap_or(0) {
                match said.pop_front() {
                    Some(l) => {
                        let _ = writeln!(out, "   {l}");
                    }
                    None => break,
                }
            }
        }
    }
    for line in &said {
        let _ = writeln!(out, "   {line}");
    }
    if turn.events.iter().any(|e| e.kind == EventKind::FlowHangup) {
        let _ = writeln!(out, "   the flow hangs up");
    }
}

/// Parses `--at`: RFC 3339 (`2026-11-24T10:00:00-05:00`) or a UTC date and time.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// Splits `--keys 1,2,,123456#` into entries (an empty entry is silence).
pub fn parse_keys(s: &str) -> Vec<String> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    s.split(',').map(|k| k.trim().to_owned()).collect()
}
