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
    /// The same figures per way of each split, for the calls a split sent that way; `None`
    /// in a variant's own builder (a variant is not split again).
    variants: Option<HashMap<(NodeKey, String), ReportBuilder>>,
    /// Start and flow version of the latest call.
    newest: Option<(chrono::DateTime<chrono::Utc>, String)>,
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
            variants: Some(HashMap::new()),
            newest: None,
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
        self.calls += 1;
        if self
            .newest
            .as_ref()
            .is_none_or(|(at, _)| call.started_at >= *at)
        {
            self.newest = Some((call.started_at, call.flow_version.clone()));
        }
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

        let mut path = String::new();
        let mut visit: Option<(NodeKey, chrono::DateTime<chrono::Utc>)> = None;
        let mut key_since_entry: Option<String> = None;
        let mut handoff = None;
        let mut zeroed_out = false;
        let mut last_at = call.started_at;
        let mut ways: Vec<(NodeKey, String)> = Vec::new();
        for ev in events {
            last_at = last_at.max(ev.at);
            let set = sets.get(&ev.version).and_then(Option::as_ref);
            let flow = set.and_then(|s| s.get(&ev.flow));
            let node = ev.node.as_deref();
            match ev.kind {
                EventKind::Entered => {
                    let Some(name) = node else { continue };
                    let key = (self.intern(&ev.flow), self.intern(name));
                    let kind =
                        flow.and_then(|f| f.node_by_name(name).map(|n| f.node(n).kind.name()));
                    if let (Some(EventValue::Way(way)), Some(_)) = (&ev.value, &self.variants) {
                        let variant = (key.clone(), way.clone());
                        if !ways.contains(&variant) {
                            ways.push(variant);
                        }
                    }
                    let tally = self.nodes.entry(key.clone()).or_default();
                    tally.entered += 1;
                    tally.kind = tally.kind.or(kind);
                    let from = match visit.take() {
                        Some((prev, since)) => {
                            self.visit_ended(&prev, since, ev.at);
                            Some(prev)
                        }
                        None => None,
                    };
                    *self.transitions.entry((from, key.clone())).or_default() += 1;
                    if !path.is_empty() {
                        match key_since_entry.take() {
                            Some(k) => {
                                path.push_str(" -");
                                path.push_str(&k);
                                path.push_str("-> ");
                            }
                            None => path.push_str(" -> "),
                        }
                    }
                    path.push_str(name);
                    key_since_entry = None;
                    visit = Some((key, ev.at));
                }
                EventKind::Key => {
                    let Some(EventValue::Key(k)) = &ev.value else {
                        continue;
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
                            zeroed_out |= leads_to_transfer(set, flow, name, k);
                        }
                    }
                    key_since_entry = Some(k.clone());
                }
                EventKind::Invalid => self.at_node(ev, |t| t.invalid += 1),
                EventKind::NoInput => self.at_node(ev, |t| t.no_input += 1),
                EventKind::RetriesExhausted => self.at_node(ev, |t| t.retries_exhausted += 1),
                EventKind::CallerHangup => self.at_node(ev, |t| t.abandoned += 1),
                EventKind::TransferStarted | EventKind::Queued => {
                    handoff = handoff.or(Some(ev.at));
                }
                EventKind::Answer => {
                    let Some(EventValue::Answer { name, value }) = &ev.value else {
                        continue;
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
        // A call's end is its last event (the status callback's `call_ended`), or the row's
        // end when that is later; a call in progress has none.
        let end = call
            .outcome
            .map(|_| call.ended_at.map_or(last_at, |e| e.max(last_at)));
        if let (Some((key, since)), Some(end)) = (visit, end) {
            self.visit_ended(&key, since, end);
        }
        if let Some(end) = end {
            self.ivr_ms
                .push(millis(call.started_at, handoff.unwrap_or(end)));
        }
        if zeroed_out {
            self.zero_outs += 1;
        }
        if !path.is_empty() {
            *self.paths.entry(path).or_default() += 1;
        }
        if let Some(variants) = &mut self.variants {
            for variant in ways {
                variants
                    .entry(variant)
                    .or_insert_with(|| ReportBuilder {
                        variants: None,
                        ..ReportBuilder::new(self.range.clone())
                    })
                    .add_call(call, events, sets);
            }
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
        let mut variants: BTreeMap<String, BTreeMap<String, Report>> = BTreeMap::new();
        for ((node, way), builder) in self.variants.into_iter().flatten() {
            variants
                .entry(name(&node))
                .or_default()
                .insert(way, builder.finish(Vec::new()));
        }
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
            variants,
            closed: Vec::new(),
            newest_version: self.newest.map(|(_, version)| version),
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
    // A mean is a score's: every answer a whole number from 0 to 100 (1-5, 0-10, 0-100).
    let scores = t
        .values
        .keys()
        .all(|v| v.parse::<u32>().is_ok_and(|x| x <= 100) && !v.starts_with('+'));
    let (mut sum, mut numeric) = (0.0, 0u64);
    let (mut promoters, mut passives, mut detractors) = (0, 0, 0);
    for (value, &n) in &t.values {
        let Ok(x) = value.parse::<u32>() else {
            continue;
        };
        if !scores {
            continue;
        }
        sum += f64::from(x) * n as f64;
        numeric += n;
        match x {
            9 | 10 => promoters += n,
            7 | 8 => passives += n,
            0..=6 => detractors += n,
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
    let mut batch: Vec<LogEvent> = Vec::new();
    while let Some(call) = calls.next().await {
        let call = call?;
        batch.clear();
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
                if !sets.contains_key(&ev.version) {
                    let set = catalog.version(&ev.version).await;
                    sets.insert(ev.version.clone(), set);
                }
                batch.push(ev);
            }
        }
        builder.add_call(&call, &batch, &sets);
        if builder.calls().is_multiple_of(4096) {
            progress(builder.calls());
        }
    }
    progress(builder.calls());
    Ok(builder.finish(catalog.warnings().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::EventValue;
    use crate::flow::compile_sources;
    use crate::flow::parse::SourceFile;
    use chrono::{DateTime, Duration, Utc};

    fn t0() -> DateTime<Utc> {
        "2026-11-24T15:00:00Z".parse().unwrap()
    }

    fn range() -> ReportRange {
        ReportRange {
            flow: None,
            since: DateTime::<Utc>::UNIX_EPOCH,
            until: t0() + Duration::days(1),
        }
    }

    /// A survey flow compiled from text: a menu rating and an NPS input.
    fn survey_set() -> Arc<FlowSet> {
        let prompts = tempfile::tempdir().unwrap();
        std::fs::write(prompts.path().join("en.yaml"), "q: \"Rate us.\"\n").unwrap();
        let yaml = r#"
languages: [en]
start: rate
nodes:
  rate:
    menu: { prompt: q, store: csat, options: { "1": nps, "5": nps, "0": agent } }
  nps:
    input: { prompt: q, store: recommend, min_digits: 1, max_digits: 2, scale: nps, next: bye }
  agent:
    transfer: { to: "+14155550100" }
  bye:
    hangup: { prompt: q }
"#;
        let compiled = compile_sources(
            vec![SourceFile::new("flows/survey.yaml", yaml)],
            prompts.path(),
        );
        Arc::new(
            compiled
                .flows
                .unwrap_or_else(|| panic!("compiles: {:?}", compiled.diagnostics)),
        )
    }

    struct CallLog {
        sid: String,
        version: String,
        at: DateTime<Utc>,
        events: Vec<LogEvent>,
    }

    impl CallLog {
        fn new(n: usize, version: &str) -> CallLog {
            CallLog {
                sid: format!("CA{n:032x}"),
                version: version.to_owned(),
                at: t0() + Duration::minutes(n as i64),
                events: Vec::new(),
            }
        }
        fn ev(
            mut self,
            secs: i64,
            node: Option<&str>,
            kind: EventKind,
            value: Option<EventValue>,
        ) -> CallLog {
            self.events.push(LogEvent {
                call_sid: self.sid.clone(),
                seq: self.events.len() as u32 + 1,
                at: self.at + Duration::seconds(secs),
                flow: "survey".into(),
                version: self.version.clone(),
                node: node.map(str::to_owned),
                kind,
                value,
                attempt: 1,
            });
            self
        }
        fn entered(self, secs: i64, node: &str) -> CallLog {
            self.ev(secs, Some(node), EventKind::Entered, None)
        }
        fn answer(self, secs: i64, node: &str, name: &str, value: &str) -> CallLog {
            self.ev(
                secs,
                Some(node),
                EventKind::Answer,
                Some(EventValue::Answer {
                    name: name.into(),
                    value: value.into(),
                }),
            )
        }
        fn record(&self, outcome: Option<Outcome>) -> CallRecord {
            CallRecord {
                call_sid: self.sid.clone(),
                flow: "survey".into(),
                flow_version: self.version.clone(),
                from_number: "+15550100000".into(),
                to_number: "+15550100001".into(),
                language: "en".into(),
                started_at: self.at,
                ended_at: outcome.map(|_| self.events.last().map_or(self.at, |e| e.at)),
                outcome,
                last_node: None,
            }
        }
    }

    #[test]
    fn spreads_are_the_median_and_the_nearest_rank_p90() {
        assert_eq!(spread(&mut []), Spread::default());
        assert_eq!(
            spread(&mut [7000]),
            Spread {
                median: 7.0,
                p90: 7.0
            }
        );
        assert_eq!(
            spread(&mut [4000, 1000]),
            Spread {
                median: 2.5,
                p90: 4.0
            }
        );
        let mut ten: Vec<u32> = (1..=10).rev().map(|s| s * 1000).collect();
        assert_eq!(
            spread(&mut ten),
            Spread {
                median: 5.5,
                p90: 9.0
            }
        );
        let mut eleven: Vec<u32> = (1..=11).map(|s| s * 1000).collect();
        assert_eq!(
            spread(&mut eleven),
            Spread {
                median: 6.0,
                p90: 10.0
            }
        );
    }

    #[test]
    fn nps_is_scored_for_inputs_marked_so_and_zero_outs_follow_the_operator_key() {
        let set = survey_set();
        let sets = HashMap::from([(set.version.clone(), Some(set.clone()))]);
        let mut b = ReportBuilder::new(range());
        // Ten callers: answers 0..=9 and 10 to the NPS question, one zeroes out.
        let scores = ["10", "9", "9", "8", "7", "6", "3", "0", "10", "10"];
        for (n, score) in scores.iter().enumerate() {
            let log = CallLog::new(n, &set.version)
                .entered(0, "rate")
                .ev(
                    2,
                    Some("rate"),
                    EventKind::Key,
                    Some(EventValue::Key("5".into())),
                )
                .answer(2, "rate", "csat", "5")
                .entered(2, "nps")
                .ev(
                    5,
                    Some("nps"),
                    EventKind::Input,
                    Some(EventValue::Digits((*score).into())),
                )
                .answer(5, "nps", "recommend", score)
                .entered(5, "bye")
                .ev(6, None, EventKind::CallEnded, None);
            b.add_call(&log.record(Some(Outcome::SelfService)), &log.events, &sets);
        }
        let log = CallLog::new(10, &set.version)
            .entered(0, "rate")
            .ev(
                1,
                Some("rate"),
                EventKind::Key,
                Some(EventValue::Key("0".into())),
            )
            .entered(1, "agent")
            .ev(1, Some("agent"), EventKind::TransferStarted, None);
        b.add_call(&log.record(Some(Outcome::Transferred)), &log.events, &sets);
        // A call still going has no outcome, no end and no time in the IVR yet.
        let log = CallLog::new(11, &set.version).entered(0, "rate");
        b.add_call(&log.record(None), &log.events, &sets);

        let r = b.finish(vec![]);
        assert_eq!(r.calls, 12);
        assert_eq!(r.in_progress, 1);
        assert_eq!(r.zero_outs, 1);
        let stats = &r.answer_stats["recommend"];
        assert_eq!(stats.responses, 10);
        assert_eq!(stats.mean, Some(72.0 / 10.0));
        // 5 promoters (9, 9, 10, 10, 10), 2 passives (7, 8), 3 detractors (6, 3, 0).
        assert_eq!(
            stats.nps,
            Some(Nps {
                promoters: 5,
                passives: 2,
                detractors: 3,
                score: 20.0
            })
        );
        assert_eq!(
            r.answer_stats["csat"].nps, None,
            "a menu's answer is not an NPS"
        );
        assert_eq!(r.answers["csat"], BTreeMap::from([("5".to_owned(), 10)]));
        // 11 ended calls: ten of 6 s, the transfer handed off at 1 s.
        assert_eq!(
            r.ivr_seconds,
            Spread {
                median: 6.0,
                p90: 6.0
            }
        );
        assert_eq!(r.nodes["rate"].entered, 12);
        assert_eq!(r.nodes["rate"].kind.as_deref(), Some("menu"));
        assert_eq!(r.nodes["agent"].kind.as_deref(), Some("transfer"));
        // The call in progress is still at `rate`: its visit has not ended.
        assert_eq!(r.nodes["rate"].median_seconds, 2.0);
    }

    #[test]
    fn identifiers_are_counted_but_not_distributed() {
        let mut b = ReportBuilder::new(range());
        for n in 0..=MAX_ANSWER_VALUES {
            let log = CallLog::new(n, "v1")
                .entered(0, "account")
                .answer(1, "account", "account", &format!("{n:06}"))
                .answer(1, "account", "plan", "gold");
            b.add_call(
                &log.record(Some(Outcome::SelfService)),
                &log.events,
                &HashMap::new(),
            );
        }
        let r = b.finish(vec!["flow version v1 is not kept".into()]);
        assert!(!r.answers.contains_key("account"));
        assert_eq!(r.answers["plan"]["gold"], MAX_ANSWER_VALUES as u64 + 1);
        let account = &r.answer_stats["account"];
        assert!(account.too_many_values);
        assert_eq!(account.responses, MAX_ANSWER_VALUES as u64 + 1);
        assert_eq!(account.mean, None);
        // With the flow version unknown, kinds are unknown, and nothing fails.
        assert_eq!(r.nodes["account"].kind, None);
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn nodes_of_several_flows_are_named_with_their_flow() {
        let mut b = ReportBuilder::new(range());
        let mut log = CallLog::new(0, "v1").entered(0, "main");
        log.events.push(LogEvent {
            flow: "billing".into(),
            ..log.events[0].clone()
        });
        log.events[1].seq = 2;
        b.add_call(
            &log.record(Some(Outcome::SelfService)),
            &log.events,
            &HashMap::new(),
        );
        let r = b.finish(vec![]);
        let ids: Vec<&String> = r.nodes.keys().collect();
        assert_eq!(ids, ["billing/main", "survey/main"]);
        assert_eq!(r.transitions[0].from, "call");
        assert_eq!(r.paths[0].path, "main -> main");
    }
}
