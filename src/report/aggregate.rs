//! Folding calls into a [`Report`], one call at a time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;

use super::{
    AnswerStats, FlowCatalog, NodeFigures, Nps, OutcomeRates, Outcomes, PathCount, Report,
    ReportRange, Spread, Transition,
};
use crate::call::{EventKind, EventValue, LogEvent, Outcome};
use crate::flow::{FlowSet, NodeKind, Target};
use crate::store::{CallRange, CallRecord, Store, StoreError};

/// Most paths a report lists.
pub const TOP_PATHS: usize = 20;

/// Most distinct values an answered variable keeps a distribution of; past it the
/// variable is an identifier (an account number), not an answer, and only its responses
/// are counted.
pub const MAX_ANSWER_VALUES: usize = 100;

/// Where a node's figures are kept: its flow and id.
type NodeKey = (Arc<str>, Arc<str>);

#[derive(Default)]
struct NodeTally {
    entered: u64,
    keys: BTreeMap<String, u64>,
    invalid: u64,
    no_input: u64,
    retries_exhausted: u64,
    abandoned: u64,
    kind: Option<&'static str>,
    /// Milliseconds of each finished visit.
    visits_ms: Vec<u32>,
}

#[derive(Default)]
struct AnswerTally {
    values: BTreeMap<String, u64>,
    /// Answers no longer in `values` (past [`MAX_ANSWER_VALUES`]).
    dropped: u64,
    nps: bool,
}

/// Running totals of a report; [`ReportBuilder::add_call`] folds in one call with its
/// events, [`ReportBuilder::finish`] computes the rates and spreads.
pub struct ReportBuilder {
    range: ReportRange,
    calls: u64,
    per_day: BTreeMap<String, u64>,
    outcomes: Outcomes,
    in_progress: u64,
    zero_outs: u64,
    /// Interned flow and node ids, so a node's key costs no allocation per event.
    names: HashMap<String, Arc<str>>,
    nodes: HashMap<NodeKey, NodeTally>,
    transitions: HashMap<(Option<NodeKey>, NodeKey), u64>,
    paths: HashMap<String, u64>,
    answers: BTreeMap<String, AnswerTally>,
    ivr_ms: Vec<u32>,
    /// The call being folded in.
    current: CallFold,
}

/// What is known of the call being folded in, between its events.
struct CallFold {
    /// Its path so far (see [`PathCount::path`]).
    path: String,
    /// The node it is in, since when.
    visit: Option<(NodeKey, chrono::DateTime<chrono::Utc>)>,
    /// The key pressed since it entered that node.
    key_since_entry: Option<String>,
    /// When it was handed to a person (transfer or queue).
    handoff: Option<chrono::DateTime<chrono::Utc>>,
    zeroed_out: bool,
    /// Its start, or its latest event.
    last_at: chrono::DateTime<chrono::Utc>,
}

impl ReportBuilder {
    /// An empty report over `range`.
    pub fn new(range: ReportRange) -> ReportBuilder {
        ReportBuilder {
            range,
            calls: 0,
            per_day: BTreeMap::new(),
            outcomes: Outcomes::default(),
            in_progress: 0,
            zero_outs: 0,
            names: HashMap::new(),
            nodes: HashMap::new(),
            transitions: HashMap::new(),
            paths: HashMap::new(),
            answers: BTreeMap::new(),
            ivr_ms: Vec::new(),
            current: CallFold {
                path: String::new(),
                visit: None,
                key_since_entry: None,
                handoff: None,
                zeroed_out: false,
                last_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            },
        }
    }

    /// Calls folded in so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.names.insert(name.to_owned(), n.clone());
        n
    }

    /// Folds in one call and its events (in `seq` order); `sets` are the flow sets of the
    /// versions its events name, `None` where a version is unknown.
    pub fn add_call(
        &mut self,
        call: &CallRecord,
        events: &[LogEvent],
        sets: &HashMap<String, Option<Arc<FlowSet>>>,
    ) {
        self.begin_call(call);
        for ev in events {
            self.add_event(ev, sets);
        }
        self.end_call(call);
    }

    /// Starts folding in `call`; its events follow with [`ReportBuilder::add_event`], then
    /// [`ReportBuilder::end_call`].
    fn begin_call(&mut self, call: &CallRecord) {
        self.calls += 1;
        *self
            .per_day
            .entry(call.started_at.format("%Y-%m-%d").to_string())
            .or_default() += 1;
        match call.outcome {
            Some(Outcome::SelfService) => self.outcomes.self_service += 1,
            Some(Outcome::Transferred) => self.outcomes.transferred += 1,
            Some(Outcome::Queued) => self.outcomes.queued += 1,
            Some(Outcome::Voicemail) => self.outcomes.voicemail += 1,
            Some(Outcome::Failed) => self.outcomes.failed += 1,
            Some(Outcome::Abandoned) => self.outcomes.abandoned += 1,
            None => self.in_progress += 1,
        }
        self.current = CallFold {
            path: std::mem::take(&mut self.current.path),
            visit: None,
            key_since_entry: None,
            handoff: None,
            zeroed_out: false,
            last_at: call.started_at,
        };
        self.current.path.clear();
    }

    /// Folds in the next event of the call begun with [`ReportBuilder::begin_call`].
    fn add_event(&mut self, ev: &LogEvent, sets: &HashMap<String, Option<Arc<FlowSet>>>) {
        self.current.last_at = self.current.last_at.max(ev.at);
        let set = sets.get(&ev.version).and_then(Option::as_ref);
        let flow = set.and_then(|s| s.get(&ev.flow));
        let node = ev.node.as_deref();
        match ev.kind {
            EventKind::Entered => {
                let Some(name) = node else { return };
                let key = (self.intern(&ev.flow), self.intern(name));
                let kind = flow.and_then(|f| f.node_by_name(name).map(|n| f.node(n).kind.name()));
                let tally = self.nodes.entry(key.clone()).or_default();
                tally.entered += 1;
                tally.kind = tally.kind.or(kind);
                let from = match self.current.visit.take() {
                    Some((prev, since)) => {
                        self.visit_ended(&prev, since, ev.at);
                        Some(prev)
                    }
                    None => None,
                };
                *self.transitions.entry((from, key.clone())).or_default() += 1;
                let current = &mut self.current;
                if !current.path.is_empty() {
                    match current.key_since_entry.take() {
                        Some(k) => {
                            current.path.push_str(" -");
                            current.path.push_str(&k);
                            current.path.push_str("-> ");
                        }
                        None => current.path.push_str(" -> "),
                    }
                }
                current.path.push_str(name);
                current.key_since_entry = None;
                current.visit = Some((key, ev.at));
            }
            EventKind::Key => {
                let Some(EventValue::Key(k)) = &ev.value else {
                    return;
                };
                if let Some(name) = node {
                    let key = (self.intern(&ev.flow), self.intern(name));
                    *self
                        .nodes
                        .entry(key)
                        .or_default()
                        .keys
                        .entry(k.clone())
                        .or_default() += 1;
                    if let (Some(set), Some(flow)) = (set, flow) {
                        self.current.zeroed_out |= leads_to_transfer(set, flow, name, k);
                    }
                }
                self.current.key_since_entry = Some(k.clone());
            }
            EventKind::Invalid => self.at_node(ev, |t| t.invalid += 1),
            EventKind::NoInput => self.at_node(ev, |t| t.no_input += 1),
            EventKind::RetriesExhausted => self.at_node(ev, |t| t.retries_exhausted += 1),
            EventKind::CallerHangup => self.at_node(ev, |t| t.abandoned += 1),
            EventKind::TransferStarted | EventKind::Queued => {
                self.current.handoff = self.current.handoff.or(Some(ev.at));
            }
            EventKind::Answer => {
                let Some(EventValue::Answer { name, value }) = &ev.value else {
                    return;
                };
                let nps = flow
                    .zip(node)
                    .and_then(|(f, n)| f.node_by_name(n).map(|id| f.node(id)))
                    .is_some_and(|n| matches!(&n.kind, NodeKind::Input(i) if i.nps));
                let tally = self.answers.entry(name.clone()).or_default();
                tally.nps |= nps;
                if tally.dropped > 0 {
                    tally.dropped += 1;
                } else if let Some(n) = tally.values.get_mut(value) {
                    *n += 1;
                } else if tally.values.len() < MAX_ANSWER_VALUES {
                    tally.values.insert(value.clone(), 1);
                } else {
                    tally.dropped = tally.values.values().sum::<u64>() + 1;
                    tally.values = BTreeMap::new();
                }
            }
            _ => {}
        }
    }

    /// Ends the call begun with [`ReportBuilder::begin_call`], once its last event is in.
    fn end_call(&mut self, call: &CallRecord) {
        let ended = call.ended_at;
        let last_at = self.current.last_at;
        if let (Some((key, since)), Some(end)) = (
            self.current.visit.take(),
            ended.or(call.outcome.map(|_| last_at)),
        ) {
            self.visit_ended(&key, since, end);
        }
        if call.outcome.is_some() {
            let end = self.current.handoff.or(ended).unwrap_or(last_at);
            self.ivr_ms.push(millis(call.started_at, end));
        }
        if self.current.zeroed_out {
            self.zero_outs += 1;
        }
        if !self.current.path.is_empty() {
            let path = self.current.path.clone();
            *self.paths.entry(path).or_default() += 1;
        }
    }

    fn at_node(&mut self, ev: &LogEvent, count: impl FnOnce(&mut NodeTally)) {
        if let Some(name) = ev.node.as_deref() {
            let key = (self.intern(&ev.flow), self.intern(name));
            count(self.nodes.entry(key).or_default());
        }
    }

    fn visit_ended(
        &mut self,
        key: &NodeKey,
        since: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) {
        if let Some(t) = self.nodes.get_mut(key) {
            t.visits_ms.push(millis(since, end));
        }
    }

    /// The report, with `warnings` (flow versions that could not be had).
    pub fn finish(self, warnings: Vec<String>) -> Report {
        let calls = self.calls;
        let share = |n: u64| {
            if calls == 0 {
                0.0
            } else {
                n as f64 / calls as f64
            }
        };
        let several_flows = {
            let mut flows = self.nodes.keys().map(|(f, _)| f);
            let first = flows.next();
            flows.any(|f| Some(f) != first)
        };
        let name = |key: &NodeKey| -> String {
            if several_flows {
                format!("{}/{}", key.0, key.1)
            } else {
                key.1.to_string()
            }
        };
        let nodes = self
            .nodes
            .iter()
            .map(|(key, t)| {
                let per_entry = |n: u64| {
                    if t.entered == 0 {
                        0.0
                    } else {
                        n as f64 / t.entered as f64
                    }
                };
                let mut visits = t.visits_ms.clone();
                let figures = NodeFigures {
                    flow: key.0.to_string(),
                    kind: t.kind.map(str::to_owned),
                    entered: t.entered,
                    keys: t.keys.clone(),
                    invalid: t.invalid,
                    no_input: t.no_input,
                    invalid_rate: per_entry(t.invalid),
                    no_input_rate: per_entry(t.no_input),
                    retries_exhausted: t.retries_exhausted,
                    abandoned: t.abandoned,
                    abandoned_rate: per_entry(t.abandoned),
                    median_seconds: spread(&mut visits).median,
                };
                (name(key), figures)
            })
            .collect();
        let mut transitions: Vec<Transition> = self
            .transitions
            .iter()
            .map(|((from, to), &count)| Transition {
                from: from.as_ref().map_or_else(|| "call".to_owned(), name),
                to: name(to),
                count,
            })
            .collect();
        transitions.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
        });
        let mut paths: Vec<PathCount> = self
            .paths
            .into_iter()
            .map(|(path, calls)| PathCount { path, calls })
            .collect();
        paths.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.path.cmp(&b.path)));
        paths.truncate(TOP_PATHS);
        let answer_stats = self
            .answers
            .iter()
            .map(|(var, t)| (var.clone(), answer_stats(t)))
            .collect();
        let answers = self
            .answers
            .into_iter()
            .filter(|(_, t)| t.dropped == 0)
            .map(|(var, t)| (var, t.values))
            .collect();
        let o = self.outcomes;
        let mut ivr = self.ivr_ms;
        Report {
            range: self.range,
            calls,
            calls_per_day: self.per_day,
            outcomes: o,
            outcome_rates: OutcomeRates {
                self_service: share(o.self_service),
                transferred: share(o.transferred),
                queued: share(o.queued),
                voicemail: share(o.voicemail),
                failed: share(o.failed),
                abandoned: share(o.abandoned),
            },
            in_progress: self.in_progress,
            containment_rate: share(o.self_service),
            zero_out_rate: share(self.zero_outs),
            zero_outs: self.zero_outs,
            nodes,
            transitions,
            paths,
            answers,
            answer_stats,
            ivr_seconds: spread(&mut ivr),
            warnings,
        }
    }
}

/// True when `key` at menu `node` leads straight to a transfer (an operator option or a
/// global key).
fn leads_to_transfer(set: &FlowSet, flow: &crate::flow::Flow, node: &str, key: &str) -> bool {
    let Some(id) = flow.node_by_name(node) else {
        return false;
    };
    let NodeKind::Menu(menu) = &flow.node(id).kind else {
        return false;
    };
    let Some(option) = key.chars().next().and_then(|k| menu.option(k)) else {
        return false;
    };
    let target: Option<(&crate::flow::Flow, crate::flow::NodeId)> = match &option.target {
        Target::Flow { flow, node } => set
            .get(flow)
            .and_then(|f| f.node_by_name(node).map(|n| (f.as_ref(), n))),
        other => flow.resolve_static(id, other).map(|n| (flow, n)),
    };
    target.is_some_and(|(f, n)| matches!(f.node(n).kind, NodeKind::Transfer(_)))
}

fn answer_stats(t: &AnswerTally) -> AnswerStats {
    if t.dropped > 0 {
        return AnswerStats {
            responses: t.dropped,
            too_many_values: true,
            mean: None,
            nps: None,
        };
    }
    let responses: u64 = t.values.values().sum();
    let (mut sum, mut numeric) = (0.0, 0u64);
    let (mut promoters, mut passives, mut detractors) = (0, 0, 0);
    for (value, &n) in &t.values {
        let Ok(x) = value.parse::<f64>() else {
            continue;
        };
        sum += x * n as f64;
        numeric += n;
        match value.parse::<u32>() {
            Ok(9 | 10) => promoters += n,
            Ok(7 | 8) => passives += n,
            Ok(0..=6) => detractors += n,
            _ => {}
        }
    }
    let rated = promoters + passives + detractors;
    AnswerStats {
        responses,
        too_many_values: false,
        mean: (numeric > 0).then(|| sum / numeric as f64),
        nps: t.nps.then(|| Nps {
            promoters,
            passives,
            detractors,
            score: if rated == 0 {
                0.0
            } else {
                100.0 * (promoters as f64 - detractors as f64) / rated as f64
            },
        }),
    }
}

fn millis(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> u32 {
    u32::try_from((to - from).num_milliseconds().max(0)).unwrap_or(u32::MAX)
}

/// Median and nearest-rank 90th percentile of milliseconds, in seconds; zeros when empty.
fn spread(ms: &mut [u32]) -> Spread {
    if ms.is_empty() {
        return Spread::default();
    }
    let n = ms.len();
    let mut nth = |i: usize| -> f64 {
        let (_, v, _) = ms.select_nth_unstable(i);
        f64::from(*v) / 1000.0
    };
    let median = if n % 2 == 1 {
        nth(n / 2)
    } else {
        (nth(n / 2 - 1) + nth(n / 2)) / 2.0
    };
    // Nearest rank: the smallest value with at least 90% of values at or below it.
    let rank = (n * 9).div_ceil(10).max(1);
    let p90 = nth(rank - 1);
    Spread { median, p90 }
}

/// Reads the calls of `range` and their events in one pass and folds them into a report;
/// `progress` is told the number of calls read so far, every few thousand calls.
pub async fn build_report(
    store: &dyn Store,
    range: &CallRange,
    catalog: &mut FlowCatalog,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, StoreError> {
    let mut builder = ReportBuilder::new(ReportRange {
        flow: range.flow.clone(),
        since: range.from,
        until: range.to,
    });
    let mut calls = store.calls_in(range);
    let mut events = store.events_in(range).peekable();
    let mut sets: HashMap<String, Option<Arc<FlowSet>>> = HashMap::new();
    // The version of the event before: most events are on the same one as the last.
    let mut last_version = String::new();
    // Each event is folded in as it is read and dropped at once, not held with its call's.
    while let Some(call) = calls.next().await {
        let call = call?;
        builder.begin_call(&call);
        loop {
            let next = std::pin::Pin::new(&mut events).peek().await;
            match next {
                Some(Ok(ev)) if ev.call_sid == call.call_sid => {}
                Some(Ok(_)) | None => break,
                Some(Err(_)) => {
                    if let Some(Err(e)) = events.next().await {
                        return Err(e);
                    }
                    break;
                }
            }
            if let Some(Ok(ev)) = events.next().await {
                if ev.version != last_version {
                    if !sets.contains_key(&ev.version) {
                        let set = catalog.version(&ev.version).await;
                        sets.insert(ev.version.clone(), set);
                    }
                    last_version.clone_from(&ev.version);
                }
                builder.add_event(&ev, &sets);
            }
        }
        builder.end_call(&call);
        if builder.calls().is_multiple_of(4096) {
            progress(builder.calls());
        }
    }
    progress(builder.calls());
    Ok(builder.finish(catalog.warnings().to_vec()))
}
