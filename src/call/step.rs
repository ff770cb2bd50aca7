//! The one transition function of a call.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::call::closures::Closures;
use crate::call::event::{
    CallEvent, CallStatus, DialStatus, EventKind, EventValue, LogEvent, LookupOutcome, Outcome,
    QueueResult,
};
use crate::call::session::{At, CallSession};
use crate::call::{Continuation, Resume, Verb};
use crate::flow::{Flow, FlowSet, LangIdx, LookupMethod, NodeId, NodeKind, Target};

/// Said when the call's flow is gone from the set, so its own apology cannot be played.
const FAULT_APOLOGY: &str = "Sorry, something went wrong.";

/// The result of one step: what to tell the provider, the session after it, what to log.
#[derive(Debug, Clone)]
pub struct Step {
    /// The session after the step.
    pub session: CallSession,
    /// Verbs for the provider, in order.
    pub verbs: Vec<Verb>,
    /// A lookup to perform before answering; feed its result back with [`CallEvent::LookupResult`]
    /// and append the verbs of that step to these.
    pub lookup: Option<LookupRequest>,
    /// Call-log rows.
    pub events: Vec<LogEvent>,
    /// Things an operator should know (placeholders without value); never caller data.
    pub warnings: Vec<String>,
}

/// An HTTP request a lookup node asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupRequest {
    /// The lookup node.
    pub at: At,
    /// Rendered URL.
    pub url: String,
    /// Method.
    pub method: LookupMethod,
    /// Hard timeout.
    pub timeout: Duration,
    /// JSON body for POST: the call's variables, caller and called number.
    pub body: Option<serde_json::Value>,
}

/// Starts a call on `flow`: a fresh session stepped with [`CallEvent::Start`].
pub fn start_call(
    flows: &FlowSet,
    flow: &Flow,
    call_sid: &str,
    caller: &str,
    called: &str,
    now: DateTime<Utc>,
) -> Step {
    let session = CallSession::new(call_sid, flow, &flows.version, caller, called, now);
    step(flows, &session, &CallEvent::Start, now)
}

/// Advances a call by one event. Pure: no I/O, `now` is the only clock.
pub fn step(flows: &FlowSet, session: &CallSession, event: &CallEvent, now: DateTime<Utc>) -> Step {
    step_with(flows, session, event, now, &Closures::default())
}

/// [`step`] with the flows an admin closed: an `hours` branch of a closed flow goes its
/// closed way.
pub fn step_with(
    flows: &FlowSet,
    session: &CallSession,
    event: &CallEvent,
    now: DateTime<Utc>,
    closures: &Closures,
) -> Step {
    let Some(flow) = flows.get(&session.flow).cloned() else {
        // The flow is gone from this set; nothing sensible can be played.
        let mut s = session.clone();
        s.end();
        return Step {
            session: s,
            verbs: vec![apology(), Verb::Hangup],
            lookup: None,
            events: vec![],
            warnings: vec![format!(
                "flow `{}` is not in version {}",
                session.flow, flows.version
            )],
        };
    };
    let mut run = Run {
        flows,
        flow,
        s: session.clone(),
        verbs: Vec::new(),
        events: Vec::new(),
        warnings: Vec::new(),
        lookup: None,
        now,
        closures,
        failing: false,
        same_visit: false,
    };
    if run.s.is_ended() && !matches!(event, CallEvent::Status { .. } | CallEvent::Hold { .. }) {
        run.late_result(event);
        run.verbs.push(Verb::Hangup);
        return run.finish();
    }
    run.handle(event);
    run.finish()
}

pub(super) struct Run<'a> {
    pub(super) flows: &'a FlowSet,
    pub(super) flow: Arc<Flow>,
    pub(super) s: CallSession,
    pub(super) verbs: Vec<Verb>,
    pub(super) events: Vec<LogEvent>,
    pub(super) warnings: Vec<String>,
    pub(super) lookup: Option<LookupRequest>,
    pub(super) now: DateTime<Utc>,
    /// Flows an admin closed.
    pub(super) closures: &'a Closures,
    /// The caller is on the way to `on_fail`: a hang-up now means the flow failed them.
    pub(super) failing: bool,
    /// Re-asking after a stale callback: keep the current visit token.
    pub(super) same_visit: bool,
}

impl Run<'_> {
    pub(super) fn finish(self) -> Step {
        Step {
            session: self.s,
            verbs: self.verbs,
            lookup: self.lookup,
            events: self.events,
            warnings: self.warnings,
        }
    }

    pub(super) fn log(
        &mut self,
        node: Option<NodeId>,
        kind: EventKind,
        value: Option<EventValue>,
        attempt: u32,
    ) {
        self.s.seq += 1;
        let node = node
            .map(|n| self.flow.node(n).name.clone())
            .or_else(|| self.s.node().map(str::to_owned));
        self.events.push(LogEvent {
            call_sid: self.s.call_sid.clone(),
            seq: self.s.seq,
            at: self.now,
            flow: self.flow.id.clone(),
            version: self.s.version.clone(),
            node,
            kind,
            value,
            attempt,
        });
    }

    pub(super) fn lang(&self) -> LangIdx {
        self.flow
            .language(&self.s.language)
            .unwrap_or(LangIdx::DEFAULT)
    }

    pub(super) fn cont(&self, resume: Resume, node: NodeId, attempt: u32) -> Continuation {
        Continuation {
            resume,
            flow: self.flow.id.clone(),
            version: self.s.version.clone(),
            node: self.flow.node(node).name.clone(),
            attempt,
            visit: self.s.visit(),
        }
    }

    pub(super) fn node_at(&mut self, at: At) -> Option<NodeId> {
        (at.node.index() < self.flow.nodes.len()).then_some(at.node)
    }

    /// A dial, recording or queue result that arrives after the status callback closed the
    /// call (the provider does not order them): logged, and the outcome upgraded.
    pub(super) fn late_result(&mut self, event: &CallEvent) {
        let upgradable = matches!(self.s.outcome(), None | Some(Outcome::Abandoned));
        match event {
            CallEvent::DialResult { at, status } if self.node_at(*at).is_some() => {
                self.log(
                    Some(at.node),
                    EventKind::TransferResult,
                    Some(EventValue::DialStatus(*status)),
                    at.attempt,
                );
                if status.connected() && upgradable {
                    self.s.set_outcome(Outcome::Transferred);
                }
            }
            CallEvent::Recorded {
                at,
                url,
                duration_secs,
            } if self.node_at(*at).is_some() => {
                self.log(
                    Some(at.node),
                    EventKind::Recorded,
                    Some(EventValue::Recording {
                        seconds: *duration_secs,
                        url: url.clone(),
                    }),
                    at.attempt,
                );
                if upgradable && duration_secs.unwrap_or(0) > 0 {
                    self.s.set_outcome(Outcome::Voicemail);
                }
            }
            CallEvent::QueueLeft { at, result, .. } if self.node_at(*at).is_some() => {
                self.log(
                    Some(at.node),
                    EventKind::QueueLeft,
                    Some(EventValue::QueueResult(*result)),
                    at.attempt,
                );
            }
            _ => {}
        }
    }

    /// True when a callback is for the node and attempt the call is at.
    pub(super) fn is_current(&self, at: At) -> bool {
        at.node.index() < self.flow.nodes.len()
            && self.s.node() == Some(self.flow.node(at.node).name.as_str())
            && self.s.attempt() == at.attempt
            && self.s.visit() == at.visit
    }

    /// A callback for somewhere the call is not (a late or forged request, a second
    /// `voice` webhook): logged; the caller is asked again where they are.
    pub(super) fn stale(&mut self, reason: String) {
        let current = self.s.node().and_then(|n| self.flow.node_by_name(n));
        let attempt = self.s.attempt();
        self.log(
            current,
            EventKind::Fault,
            Some(EventValue::Reason(reason.clone())),
            attempt,
        );
        self.warnings.push(reason);
        match current {
            Some(node)
                if matches!(
                    self.flow.node(node).kind,
                    NodeKind::Menu(_) | NodeKind::Input(_)
                ) =>
            {
                // Same visit token: the Gather the provider is already running stays current.
                self.same_visit = true;
                self.ask(node, attempt.max(1), Vec::new());
                self.same_visit = false;
            }
            // Dialing, queued or recording: the provider is busy with the real verb; answer
            // nothing new and leave the call where it is.
            Some(_) => {}
            None => {
                let sorry = self.apology_verbs();
                self.verbs.extend(sorry);
                self.failing = true;
                let on_fail = self.flow.on_fail.clone();
                self.go(current, &on_fail);
            }
        }
    }

    pub(super) fn handle(&mut self, event: &CallEvent) {
        let position = match event {
            CallEvent::Digits { at, .. }
            | CallEvent::Silence { at }
            | CallEvent::DialResult { at, .. }
            | CallEvent::Recorded { at, .. }
            | CallEvent::QueueLeft { at, .. }
            | CallEvent::HoldKey { at, .. } => Some(*at),
            _ => None,
        };
        if let Some(at) = position.filter(|at| !self.is_current(*at)) {
            let name = self
                .flow
                .nodes
                .get(at.node.index())
                .map_or("?", |n| n.name.as_str())
                .to_owned();
            let here = self.s.node().unwrap_or_default().to_owned();
            return self.stale(format!(
                "callback for `{name}` attempt {} while the call is at `{here}` attempt {}",
                at.attempt,
                self.s.attempt()
            ));
        }
        match event {
            CallEvent::Start => {
                let caller = self.s.caller.clone();
                self.log(
                    None,
                    EventKind::CallStarted,
                    Some(EventValue::Caller(caller)),
                    0,
                );
                let start = self.flow.start;
                self.go(None, &Target::Node(start));
            }
            CallEvent::Digits { at, digits } => self.digits(*at, digits),
            CallEvent::Silence { at } => match self.node_at(*at).map(|n| &self.flow.node(n).kind) {
                Some(NodeKind::Menu(_) | NodeKind::Input(_)) => {
                    self.retry(at.node, at.attempt, EventKind::NoInput, None)
                }
                _ => self.fault(*at, "silence reported for a node that does not gather"),
            },
            CallEvent::DialResult { at, status } => {
                let flow = self.flow.clone();
                let Some(NodeKind::Transfer(t)) = self.node_at(*at).map(|n| &flow.node(n).kind)
                else {
                    return self.fault(*at, "dial result for a node that does not transfer");
                };
                self.log(
                    Some(at.node),
                    EventKind::TransferResult,
                    Some(EventValue::DialStatus(*status)),
                    at.attempt,
                );
                match status {
                    s if s.connected() => {
                        self.s.set_outcome(Outcome::Transferred);
                        self.go(Some(at.node), &t.next);
                    }
                    DialStatus::Busy => self.go(Some(at.node), &t.on_busy),
                    DialStatus::Failed => self.go(Some(at.node), &t.on_failed),
                    _ => self.go(Some(at.node), &t.on_no_answer),
                }
            }
            CallEvent::Recorded {
                at,
                url,
                duration_secs,
            } => {
                let flow = self.flow.clone();
                let Some(NodeKind::Voicemail(v)) = self.node_at(*at).map(|n| &flow.node(n).kind)
                else {
                    return self.fault(*at, "recording for a node that does not record");
                };
                // An empty recording reaches here through the `<Redirect>` after `<Record>`,
                // with nothing recorded: the caller said nothing, and left no voicemail.
                if url.is_none() && duration_secs.unwrap_or(0) == 0 {
                    self.log(Some(at.node), EventKind::NoInput, None, at.attempt);
                } else {
                    self.log(
                        Some(at.node),
                        EventKind::Recorded,
                        Some(EventValue::Recording {
                            seconds: *duration_secs,
                            url: url.clone(),
                        }),
                        at.attempt,
                    );
                    self.s.set_outcome(Outcome::Voicemail);
                }
                self.go(Some(at.node), &v.next);
            }
            CallEvent::QueueLeft {
                at,
                result,
                waited_secs,
            } => {
                let flow = self.flow.clone();
                let Some(NodeKind::Queue(q)) = self.node_at(*at).map(|n| &flow.node(n).kind) else {
                    return self.fault(*at, "queue result for a node that does not queue");
                };
                self.log(
                    Some(at.node),
                    EventKind::QueueLeft,
                    Some(EventValue::QueueResult(*result)),
                    at.attempt,
                );
                // A <Leave/> came from the leave key (the session says so), from the longest
                // wait (the time waited says so), or from a wait phonetree could not place.
                let pressed_key = self.s.pressed_leave_key;
                let timed_out = q
                    .max_wait
                    .zip(*waited_secs)
                    .is_some_and(|(max, waited)| u64::from(waited) >= max.as_secs());
                match result {
                    QueueResult::Hangup => self.verbs.push(Verb::Hangup),
                    r if r.failed() => {
                        self.failing = true;
                        self.go(Some(at.node), &q.on_error)
                    }
                    QueueResult::Leave if pressed_key => self.go(Some(at.node), &q.on_leave),
                    QueueResult::Leave if timed_out => self.go(Some(at.node), &q.on_timeout),
                    _ => self.go(Some(at.node), &q.next),
                }
            }
            CallEvent::HoldKey { at, digits } => {
                let flow = self.flow.clone();
                let Some(NodeKind::Queue(q)) = self.node_at(*at).map(|n| &flow.node(n).kind) else {
                    self.verbs.push(Verb::Leave);
                    return;
                };
                let key = digits.chars().next();
                if key.is_some() && key == q.leave_key {
                    self.log(
                        Some(at.node),
                        EventKind::Key,
                        Some(EventValue::Key(digits.chars().take(1).collect())),
                        at.attempt,
                    );
                    self.s.pressed_leave_key = true;
                    self.verbs.push(Verb::Leave);
                }
                // Another key: an empty answer ends this round of the wait, and the provider
                // fetches the hold answer again, with fresh figures.
            }
            CallEvent::Hold { at, wait } => {
                let flow = self.flow.clone();
                // Hold music is fetched over and over while the caller waits; it is not logged,
                // and it never moves the call: a wait the flow cannot place (a node that is no
                // queue with hold music, an ended call) takes the caller out of the queue, so the
                // queue's own callback carries the call on.
                match self.node_at(*at).map(|n| &flow.node(n).kind) {
                    Some(NodeKind::Queue(q)) if !self.s.is_ended() => {
                        self.verbs = self.hold_answer(*at, q, wait)
                    }
                    _ => self.verbs.push(Verb::Leave),
                }
            }
            CallEvent::LookupResult { at, outcome } => {
                let flow = self.flow.clone();
                let Some(NodeKind::Lookup(l)) = self.node_at(*at).map(|n| &flow.node(n).kind)
                else {
                    return self.fault(*at, "lookup result for a node that does not look up");
                };
                match outcome {
                    LookupOutcome::Answer(json) => {
                        self.s.vars.insert(l.store.clone(), json.clone());
                        self.log(Some(at.node), EventKind::LookupOk, None, at.attempt);
                        self.go(Some(at.node), &l.next);
                    }
                    LookupOutcome::Failed(reason) => {
                        self.log(
                            Some(at.node),
                            EventKind::LookupError,
                            Some(EventValue::Reason(reason.clone())),
                            at.attempt,
                        );
                        self.go(Some(at.node), &l.on_error);
                    }
                }
            }
            CallEvent::Stale { reason } => self.stale(reason.clone()),
            CallEvent::Fault { reason } => {
                let current = self.s.node().and_then(|n| self.flow.node_by_name(n));
                let at = At {
                    node: current.unwrap_or(self.flow.start),
                    attempt: self.s.attempt(),
                    visit: self.s.visit(),
                };
                self.fault(at, reason);
            }
            CallEvent::Status { status } => {
                if *status == CallStatus::Active
                    || self.s.is_ended() && self.s.outcome().is_some() && self.events_closed()
                {
                    return;
                }
                if !self.s.is_ended() {
                    let attempt = self.s.attempt();
                    self.log(None, EventKind::CallerHangup, None, attempt);
                    let outcome = self.s.outcome().unwrap_or(Outcome::Abandoned);
                    self.s.set_outcome(outcome);
                    self.s.end();
                }
                let outcome = self.s.outcome().unwrap_or(Outcome::SelfService);
                self.log(
                    None,
                    EventKind::CallEnded,
                    Some(EventValue::Outcome(outcome)),
                    0,
                );
                self.s.close(outcome);
            }
        }
    }

    /// What a waiting caller hears until the provider asks again: `<Leave/>` once they have
    /// waited `max_wait`; else the announcement (with the queue's figures) and the hold
    /// prompt, inside a one-key `<Gather>` when the queue has a leave key.
    fn hold_answer(
        &mut self,
        at: At,
        q: &crate::flow::QueueNode,
        wait: &crate::call::QueueWait,
    ) -> Vec<Verb> {
        if q.max_wait
            .zip(wait.waited_secs)
            .is_some_and(|(max, waited)| u64::from(waited) >= max.as_secs())
        {
            return vec![Verb::Leave];
        }
        // The figures live for this answer only: a hold answer is never kept.
        for (name, value) in [
            ("queue_position", wait.position),
            ("queue_size", wait.size),
            ("queue_waited", wait.waited_secs),
            ("queue_avg_wait", wait.avg_wait_secs),
        ] {
            match value {
                Some(v) => {
                    self.s
                        .vars
                        .insert(name.to_owned(), serde_json::Value::String(v.to_string()));
                }
                None => {
                    self.s.vars.remove(name);
                }
            }
        }
        let mut heard = Vec::new();
        // Without the provider's figures there is nothing to announce.
        if let (Some(announce), Some(_)) = (&q.announce, wait.position) {
            heard.extend(self.prompt_verbs(announce));
        }
        match &q.hold {
            Some(hold) => heard.extend(self.prompt_verbs(hold)),
            None => heard.push(Verb::Pause { seconds: 10 }),
        }
        match q.leave_key {
            Some(_) => vec![Verb::Gather {
                prompt: heard,
                num_digits: Some(1),
                finish_on_key: None,
                timeout_secs: 1,
                action: self.cont(Resume::HoldKey, at.node, at.attempt),
            }],
            None => heard,
        }
    }

    /// True once the status callback has closed the call's record.
    pub(super) fn events_closed(&self) -> bool {
        self.s.is_closed()
    }
}

impl Run<'_> {
    /// The fault apology, in the caller's language.
    pub(super) fn apology_verbs(&mut self) -> Vec<Verb> {
        let flow = self.flow.clone();
        let verbs = self.prompt_verbs(&flow.apology);
        if verbs.is_empty() {
            // A flow as far as it compiled may lack it; a served flow never does.
            return vec![apology()];
        }
        verbs
    }
}

pub(super) fn apology() -> Verb {
    Verb::Say {
        text: FAULT_APOLOGY.to_owned(),
        locale: Some("en-US".to_owned()),
        voice: None,
    }
}

/// Seconds for the provider, rounded up, at least 1.
pub(super) fn whole_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_millis().div_ceil(1000))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// Hides entered digits: every character becomes `*`.
pub(super) fn mask(digits: &str) -> String {
    "*".repeat(digits.chars().count())
}

/// The Luhn checksum of card numbers.
pub(super) fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    digits.len() >= 2 && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_checks_card_numbers() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("79927398713"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn("0"));
    }

    #[test]
    fn an_nps_answer_is_0_to_10() {
        let prompts = tempfile::tempdir().unwrap();
        std::fs::write(prompts.path().join("en.yaml"), "q: \"How likely?\"\n").unwrap();
        let yaml = "languages: [en]\nstart: nps\nnodes:\n  nps:\n    input: { prompt: q, store: score, min_digits: 1, max_digits: 2, scale: nps, next: bye }\n  bye:\n    hangup: { prompt: q }\n";
        let compiled = crate::flow::compile_sources(
            vec![crate::flow::parse::SourceFile::new("flows/nps.yaml", yaml)],
            prompts.path(),
        );
        let set = compiled.flows.expect("compiles");
        let flow = set.get("nps").expect("flow").clone();
        let now: DateTime<Utc> = "2026-11-24T15:00:00Z".parse().unwrap();
        let first = start_call(&set, &flow, "CA1", "+15550100000", "+15550100001", now);
        let at = At {
            node: flow.node_by_name("nps").expect("node"),
            attempt: 1,
            visit: first.session.visit(),
        };
        for (digits, accepted) in [
            ("0", true),
            ("10", true),
            ("7", true),
            ("11", false),
            ("42", false),
        ] {
            let next = step(
                &set,
                &first.session,
                &CallEvent::Digits {
                    at,
                    digits: digits.into(),
                },
                now,
            );
            let kinds: Vec<EventKind> = next.events.iter().map(|e| e.kind).collect();
            assert_eq!(
                kinds.contains(&EventKind::Answer),
                accepted,
                "{digits}: {kinds:?}"
            );
            assert_eq!(
                kinds.contains(&EventKind::Invalid),
                !accepted,
                "{digits}: {kinds:?}"
            );
        }
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(5001)), 6);
        assert_eq!(whole_seconds(Duration::from_secs(20)), 20);
    }
}
