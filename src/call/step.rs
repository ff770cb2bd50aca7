//! The one transition function of a call.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::call::event::{CallEvent, CallStatus, EventKind, LogEvent, LookupOutcome, Outcome};
use crate::call::session::{At, CallSession};
use crate::call::vars::render_template;
use crate::call::{Continuation, Resume, Verb};
use crate::flow::hours::is_open;
use crate::flow::{
    BranchNode, Condition, Flow, FlowSet, LangIdx, LookupMethod, NodeId, NodeKind, Prompt,
    PromptPart, Retry, Target,
};

/// Said before sending a caller to `on_fail` after an internal fault.
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
    let Some(flow) = flows.get(&session.flow).cloned() else {
        // The flow is gone from this set; nothing sensible can be played.
        let mut s = session.clone();
        s.ended = true;
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
        failing: false,
    };
    if run.s.ended && !matches!(event, CallEvent::Status { .. }) {
        run.late_result(event);
        run.verbs.push(Verb::Hangup);
        return run.finish();
    }
    run.handle(event);
    run.finish()
}

struct Run<'a> {
    flows: &'a FlowSet,
    flow: Arc<Flow>,
    s: CallSession,
    verbs: Vec<Verb>,
    events: Vec<LogEvent>,
    warnings: Vec<String>,
    lookup: Option<LookupRequest>,
    now: DateTime<Utc>,
    /// The caller is on the way to `on_fail`: a hang-up now means the flow failed them.
    failing: bool,
}

impl Run<'_> {
    fn finish(self) -> Step {
        Step {
            session: self.s,
            verbs: self.verbs,
            lookup: self.lookup,
            events: self.events,
            warnings: self.warnings,
        }
    }

    fn log(&mut self, node: Option<NodeId>, kind: EventKind, value: Option<String>, attempt: u32) {
        self.s.seq += 1;
        let node = node
            .map(|n| self.flow.node(n).name.clone())
            .or_else(|| self.s.node.clone());
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

    fn lang(&self) -> LangIdx {
        self.flow
            .language(&self.s.language)
            .unwrap_or(LangIdx::DEFAULT)
    }

    fn cont(&self, resume: Resume, node: NodeId, attempt: u32) -> Continuation {
        Continuation {
            resume,
            flow: self.flow.id.clone(),
            version: self.s.version.clone(),
            node: self.flow.node(node).name.clone(),
            attempt,
        }
    }

    fn prompt_verbs(&mut self, prompt: &Prompt) -> Vec<Verb> {
        let lang = self.lang();
        let mut out = Vec::new();
        for part in prompt.parts(lang) {
            match part {
                PromptPart::Say { text, lang } => {
                    let (text, missing) = render_template(text, &self.s);
                    for m in missing {
                        self.warnings
                            .push(format!("placeholder `{{{m}}}` has no value"));
                    }
                    let l = self.flow.lang(*lang);
                    out.push(Verb::Say {
                        text,
                        locale: l.locale.clone(),
                        voice: l.voice.clone(),
                    });
                }
                PromptPart::Play { file, duration } => out.push(Verb::Play {
                    file: file.clone(),
                    duration: *duration,
                }),
                PromptPart::Pause(d) => out.push(Verb::Pause {
                    seconds: whole_seconds(*d),
                }),
            }
        }
        out
    }

    fn node_at(&mut self, at: At) -> Option<NodeId> {
        (at.node.index() < self.flow.nodes.len()).then_some(at.node)
    }

    /// A dial, recording or queue result that arrives after the status callback closed the
    /// call (the provider does not order them): logged, and the outcome upgraded.
    fn late_result(&mut self, event: &CallEvent) {
        let upgradable = matches!(self.s.outcome, None | Some(Outcome::Abandoned));
        match event {
            CallEvent::DialResult { at, status } if self.node_at(*at).is_some() => {
                self.log(
                    Some(at.node),
                    EventKind::TransferResult,
                    Some(status.as_str().to_owned()),
                    at.attempt,
                );
                if status.connected() && upgradable {
                    self.s.outcome = Some(Outcome::Transferred);
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
                    Some(recording_value(url, *duration_secs)),
                    at.attempt,
                );
                if upgradable && duration_secs.unwrap_or(0) > 0 {
                    self.s.outcome = Some(Outcome::Voicemail);
                }
            }
            CallEvent::QueueLeft { at, result } if self.node_at(*at).is_some() => {
                self.log(
                    Some(at.node),
                    EventKind::QueueLeft,
                    Some(result.clone()),
                    at.attempt,
                );
            }
            _ => {}
        }
    }

    /// True when a callback is for the node and attempt the call is at.
    fn is_current(&self, at: At) -> bool {
        at.node.index() < self.flow.nodes.len()
            && self.s.node.as_deref() == Some(self.flow.node(at.node).name.as_str())
            && self.s.attempt == at.attempt
    }

    /// A callback for somewhere the call is not (a late or forged request, a second
    /// `voice` webhook): logged; the caller is asked again where they are.
    fn stale(&mut self, reason: String) {
        let current = self.s.node.clone().and_then(|n| self.flow.node_by_name(&n));
        let attempt = self.s.attempt;
        self.log(current, EventKind::Fault, Some(reason.clone()), attempt);
        self.warnings.push(reason);
        match current {
            Some(node)
                if matches!(
                    self.flow.node(node).kind,
                    NodeKind::Menu(_) | NodeKind::Input(_)
                ) =>
            {
                self.ask(node, attempt.max(1), Vec::new());
            }
            _ => {
                self.verbs.push(apology());
                self.failing = true;
                let on_fail = self.flow.on_fail.clone();
                self.go(current, &on_fail);
            }
        }
    }

    fn handle(&mut self, event: &CallEvent) {
        let position = match event {
            CallEvent::Digits { at, .. }
            | CallEvent::Silence { at }
            | CallEvent::DialResult { at, .. }
            | CallEvent::Recorded { at, .. }
            | CallEvent::QueueLeft { at, .. } => Some(*at),
            _ => None,
        };
        if let Some(at) = position.filter(|at| !self.is_current(*at)) {
            let name = self
                .flow
                .nodes
                .get(at.node.index())
                .map_or("?", |n| n.name.as_str())
                .to_owned();
            let here = self.s.node.clone().unwrap_or_default();
            return self.stale(format!(
                "callback for `{name}` attempt {} while the call is at `{here}` attempt {}",
                at.attempt, self.s.attempt
            ));
        }
        match event {
            CallEvent::Start => {
                let caller = self.s.caller.clone();
                self.log(None, EventKind::CallStarted, Some(caller), 0);
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
                    Some(status.as_str().to_owned()),
                    at.attempt,
                );
                if status.connected() {
                    self.s.outcome = Some(Outcome::Transferred);
                    self.go(Some(at.node), &t.next);
                } else {
                    self.go(Some(at.node), &t.on_no_answer);
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
                self.log(
                    Some(at.node),
                    EventKind::Recorded,
                    Some(recording_value(url, *duration_secs)),
                    at.attempt,
                );
                self.s.outcome = Some(Outcome::Voicemail);
                self.go(Some(at.node), &v.next);
            }
            CallEvent::QueueLeft { at, result } => {
                let flow = self.flow.clone();
                let Some(NodeKind::Queue(q)) = self.node_at(*at).map(|n| &flow.node(n).kind) else {
                    return self.fault(*at, "queue result for a node that does not queue");
                };
                self.log(
                    Some(at.node),
                    EventKind::QueueLeft,
                    Some(result.clone()),
                    at.attempt,
                );
                if result == "hangup" {
                    self.verbs.push(Verb::Hangup);
                } else {
                    self.go(Some(at.node), &q.next);
                }
            }
            CallEvent::Hold { at } => {
                let flow = self.flow.clone();
                if let Some(NodeKind::Queue(q)) = self.node_at(*at).map(|n| &flow.node(n).kind)
                    && let Some(hold) = &q.hold
                {
                    self.verbs = self.prompt_verbs(hold);
                }
                // Hold music is fetched over and over while the caller waits; it is not logged.
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
                            Some(reason.clone()),
                            at.attempt,
                        );
                        self.go(Some(at.node), &l.on_error);
                    }
                }
            }
            CallEvent::Stale { reason } => self.stale(reason.clone()),
            CallEvent::Status { status } => {
                if *status == CallStatus::Active
                    || self.s.ended && self.s.outcome.is_some() && self.events_closed()
                {
                    return;
                }
                if !self.s.ended {
                    let attempt = self.s.attempt;
                    self.log(None, EventKind::CallerHangup, None, attempt);
                    self.s.outcome = Some(self.s.outcome.unwrap_or(Outcome::Abandoned));
                    self.s.ended = true;
                }
                let outcome = self.s.outcome.unwrap_or(Outcome::SelfService);
                self.s.outcome = Some(outcome);
                self.log(
                    None,
                    EventKind::CallEnded,
                    Some(outcome.as_str().to_owned()),
                    0,
                );
                self.s.node = None;
            }
        }
    }

    /// True once the call's record has been closed (its node cleared by the status callback).
    fn events_closed(&self) -> bool {
        self.s.node.is_none() && self.s.seq > 0
    }

    fn digits(&mut self, at: At, digits: &str) {
        let flow = self.flow.clone();
        let Some(node) = self.node_at(at) else {
            return self.fault(at, "keys for a node this flow does not have");
        };
        match &flow.node(node).kind {
            NodeKind::Menu(m) => {
                let key = digits.chars().next();
                match key.and_then(|k| m.option(k)) {
                    Some(opt) => {
                        self.log(
                            Some(node),
                            EventKind::Key,
                            Some(opt.key.to_string()),
                            at.attempt,
                        );
                        if let Some(var) = &m.store {
                            self.s.vars.insert(
                                var.clone(),
                                serde_json::Value::String(opt.key.to_string()),
                            );
                        }
                        for (name, value) in &opt.set {
                            self.assign(Some(node), name, value);
                        }
                        self.go(Some(node), &opt.target);
                    }
                    None if digits.is_empty() => {
                        self.retry(node, at.attempt, EventKind::NoInput, None)
                    }
                    None => self.retry(
                        node,
                        at.attempt,
                        EventKind::Invalid,
                        Some(digits.to_owned()),
                    ),
                }
            }
            NodeKind::Input(i) => {
                let entered = match i.finish_on {
                    Some(f) => digits.trim_end_matches(f),
                    None => digits,
                };
                if entered.is_empty() {
                    return self.retry(node, at.attempt, EventKind::NoInput, None);
                }
                let shown = if i.sensitive {
                    mask(entered)
                } else {
                    entered.to_owned()
                };
                let count = u32::try_from(entered.chars().count()).unwrap_or(u32::MAX);
                let valid = entered.chars().all(|c| c.is_ascii_digit())
                    && (i.digits.min..=i.digits.max).contains(&count)
                    && (!i.luhn || luhn(entered))
                    && i.pattern.as_ref().is_none_or(|p| p.is_match(entered));
                if !valid {
                    return self.retry(node, at.attempt, EventKind::Invalid, Some(shown));
                }
                self.log(Some(node), EventKind::Input, Some(shown), at.attempt);
                self.s.vars.insert(
                    i.store.clone(),
                    serde_json::Value::String(entered.to_owned()),
                );
                if i.sensitive && !self.s.sensitive.contains(&i.store) {
                    self.s.sensitive.push(i.store.clone());
                }
                self.go(Some(node), &i.next);
            }
            _ => self.fault(at, "keys for a node that does not gather"),
        }
    }

    /// Sets a variable from a template; a value made from sensitive input is sensitive too.
    fn assign(&mut self, node: Option<NodeId>, name: &str, template: &crate::flow::Template) {
        let (value, _) = render_template(template, &self.s);
        let derived = template.vars().any(|v| {
            self.s
                .sensitive
                .iter()
                .any(|s| v.split('.').next() == Some(s.as_str()))
        });
        if derived && !self.s.sensitive.iter().any(|s| s == name) {
            self.s.sensitive.push(name.to_owned());
        }
        let sensitive = self.s.sensitive.iter().any(|s| s == name);
        if name == "language" {
            if self.flow.language(&value).is_some() {
                self.s.language = value.clone();
            } else {
                self.warnings.push(format!(
                    "language `{value}` is not a language of flow `{}`",
                    self.flow.id
                ));
                return;
            }
        }
        let attempt = self.s.attempt;
        let shown = if sensitive {
            mask(&value)
        } else {
            value.clone()
        };
        self.log(
            node,
            EventKind::Set,
            Some(format!("{name}={shown}")),
            attempt,
        );
        self.s
            .vars
            .insert(name.to_owned(), serde_json::Value::String(value));
    }

    fn retry_of(&self, node: NodeId) -> Option<Retry> {
        match &self.flow.node(node).kind {
            NodeKind::Menu(m) => Some(m.retry.clone()),
            NodeKind::Input(i) => Some(i.retry.clone()),
            _ => None,
        }
    }

    /// An invalid entry or silence at attempt `attempt`: play the matching prompt and ask again,
    /// or send the caller to `on_fail` when retries are spent.
    fn retry(&mut self, node: NodeId, attempt: u32, reason: EventKind, value: Option<String>) {
        let Some(retry) = self.retry_of(node) else {
            return;
        };
        self.log(Some(node), reason, value, attempt);
        if attempt > retry.retries {
            self.log(Some(node), EventKind::RetriesExhausted, None, attempt);
            self.failing = true;
            return self.go(Some(node), &retry.on_fail);
        }
        let lead = match reason {
            EventKind::Invalid => retry.invalid.as_ref(),
            _ => retry.no_input.as_ref(),
        };
        let lead = lead.map(|p| self.prompt_verbs(p)).unwrap_or_default();
        self.ask(node, attempt + 1, lead);
    }

    /// Plays a menu's or input's prompt inside a Gather, with the silence path after it.
    fn ask(&mut self, node: NodeId, attempt: u32, lead: Vec<Verb>) {
        let flow = self.flow.clone();
        let (prompt, num_digits, finish_on_key, timeout) = match &flow.node(node).kind {
            NodeKind::Menu(m) => {
                let p = if attempt > 1 {
                    m.reprompt.as_ref().unwrap_or(&m.prompt)
                } else {
                    &m.prompt
                };
                (p, Some(1), None, m.retry.timeout)
            }
            NodeKind::Input(i) => (&i.prompt, Some(i.digits.max), i.finish_on, i.retry.timeout),
            _ => return,
        };
        let mut inner = lead;
        inner.extend(self.prompt_verbs(prompt));
        self.verbs.push(Verb::Gather {
            prompt: inner,
            num_digits,
            finish_on_key,
            timeout_secs: whole_seconds(timeout),
            action: self.cont(Resume::Gather, node, attempt),
        });
        self.verbs
            .push(Verb::Redirect(self.cont(Resume::Silence, node, attempt)));
        self.s.node = Some(flow.node(node).name.clone());
        self.s.attempt = attempt;
    }

    fn fault(&mut self, at: At, reason: &str) {
        let node = self.node_at(at);
        self.log(node, EventKind::Fault, Some(reason.to_owned()), at.attempt);
        self.warnings.push(reason.to_owned());
        self.verbs.push(apology());
        if self.failing {
            self.verbs.push(Verb::Hangup);
            return;
        }
        self.failing = true;
        let on_fail = self.flow.on_fail.clone();
        self.go(node, &on_fail);
    }

    /// Follows a target through every node that needs no answer from the caller,
    /// stopping at the first that does (menu, input, transfer, queue, voicemail, lookup, hangup).
    fn go(&mut self, from: Option<NodeId>, target: &Target) {
        let mut from = from;
        let mut target = target.clone();
        loop {
            let node = match &target {
                Target::Hangup => {
                    let attempt = self.s.attempt;
                    self.log(from, EventKind::FlowHangup, None, attempt);
                    let outcome = if self.failing {
                        Outcome::Failed
                    } else {
                        Outcome::SelfService
                    };
                    self.s.outcome = Some(self.s.outcome.unwrap_or(outcome));
                    self.s.ended = true;
                    self.verbs.push(Verb::Hangup);
                    return;
                }
                Target::Node(n) => *n,
                Target::Start => self.flow.start,
                Target::Repeat => from.unwrap_or(self.flow.start),
                Target::Back => {
                    let current = from.map(|n| self.flow.node(n).name.clone());
                    while self.s.menu_stack.last().is_some()
                        && self.s.menu_stack.last() == current.as_ref()
                    {
                        self.s.menu_stack.pop();
                    }
                    let previous = self.s.menu_stack.pop();
                    previous
                        .and_then(|name| self.flow.node_by_name(&name))
                        .unwrap_or(self.flow.start)
                }
                Target::Flow { flow, node } => {
                    let Some(next_flow) = self.flows.get(flow).cloned() else {
                        self.warnings.push(format!("flow `{flow}` is gone"));
                        self.verbs.push(Verb::Hangup);
                        self.s.ended = true;
                        return;
                    };
                    let Some(id) = next_flow.node_by_name(node) else {
                        self.verbs.push(Verb::Hangup);
                        self.s.ended = true;
                        return;
                    };
                    if next_flow.language(&self.s.language).is_none() {
                        self.s.language = next_flow.languages[0].code.clone();
                    }
                    self.flow = next_flow;
                    self.s.flow = flow.clone();
                    self.s.menu_stack.clear();
                    id
                }
            };
            self.s.steps += 1;
            if self.s.steps > self.flow.max_steps {
                let attempt = self.s.attempt;
                self.log(
                    Some(node),
                    EventKind::BudgetExhausted,
                    Some(self.flow.max_steps.to_string()),
                    attempt,
                );
                if self.s.budget_spent || self.failing {
                    self.s.outcome = Some(Outcome::Failed);
                    self.s.ended = true;
                    self.verbs.push(Verb::Hangup);
                    return;
                }
                // One more budget for the way out through `on_fail`; spending it too hangs up.
                self.s.budget_spent = true;
                self.s.steps = 0;
                self.failing = true;
                from = Some(node);
                target = self.flow.on_fail.clone();
                continue;
            }
            match self.enter(node) {
                Some(next) => {
                    from = Some(node);
                    target = next;
                }
                None => return,
            }
        }
    }

    /// Enters a node; returns where to go next for nodes that do not wait.
    fn enter(&mut self, node: NodeId) -> Option<Target> {
        let flow = self.flow.clone();
        let n = flow.node(node);
        self.s.node = Some(n.name.clone());
        self.s.attempt = 1;
        match &n.kind {
            NodeKind::Menu(_) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                if self.s.menu_stack.last() != Some(&n.name) {
                    self.s.menu_stack.push(n.name.clone());
                }
                self.ask(node, 1, Vec::new());
                None
            }
            NodeKind::Input(_) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                self.ask(node, 1, Vec::new());
                None
            }
            NodeKind::Message(m) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                let verbs = self.prompt_verbs(&m.prompt);
                self.verbs.extend(verbs);
                Some(m.next.clone())
            }
            NodeKind::Set(s) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                for (name, value) in &s.vars {
                    self.assign(Some(node), name, value);
                }
                Some(s.next.clone())
            }
            NodeKind::Branch(BranchNode::Hours {
                schedule,
                open,
                closed,
                ..
            }) => {
                let is = is_open(schedule, self.now);
                self.log(
                    Some(node),
                    EventKind::Entered,
                    Some(if is { "open" } else { "closed" }.to_owned()),
                    1,
                );
                Some(if is { open.clone() } else { closed.clone() })
            }
            NodeKind::Branch(BranchNode::When { arms, otherwise }) => {
                let hit = arms.iter().position(|(c, _)| self.holds(c));
                let label = hit.map_or("else".to_owned(), |i| format!("when {}", i + 1));
                self.log(Some(node), EventKind::Entered, Some(label), 1);
                Some(hit.map_or_else(|| otherwise.clone(), |i| arms[i].1.clone()))
            }
            NodeKind::Lookup(l) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                let (url, _) = render_template(&l.url, &self.s);
                let body = (l.method == LookupMethod::Post).then(|| {
                    let mut map = serde_json::Map::new();
                    for (k, v) in &self.s.vars {
                        map.insert(k.clone(), v.clone());
                    }
                    map.insert("caller".into(), self.s.caller.clone().into());
                    map.insert("called".into(), self.s.called.clone().into());
                    serde_json::Value::Object(map)
                });
                self.lookup = Some(LookupRequest {
                    at: At { node, attempt: 1 },
                    url,
                    method: l.method,
                    timeout: l.timeout,
                    body,
                });
                None
            }
            NodeKind::Transfer(t) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                let target = t.to.to_string();
                self.log(Some(node), EventKind::TransferStarted, Some(target), 1);
                if let Some(p) = &t.prompt {
                    let verbs = self.prompt_verbs(p);
                    self.verbs.extend(verbs);
                }
                self.verbs.push(Verb::Dial {
                    target: t.to.clone(),
                    caller_id: t.caller_id.clone(),
                    timeout_secs: whole_seconds(t.timeout),
                    action: self.cont(Resume::Dial, node, 1),
                });
                None
            }
            NodeKind::Queue(q) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                self.log(Some(node), EventKind::Queued, Some(q.name.clone()), 1);
                self.s.outcome = Some(Outcome::Queued);
                self.verbs.push(Verb::Enqueue {
                    name: q.name.clone(),
                    wait: q.hold.as_ref().map(|_| self.cont(Resume::Hold, node, 1)),
                    action: self.cont(Resume::Queue, node, 1),
                });
                None
            }
            NodeKind::Voicemail(v) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                if let Some(p) = &v.prompt {
                    let verbs = self.prompt_verbs(p);
                    self.verbs.extend(verbs);
                }
                self.verbs.push(Verb::Record {
                    max_length_secs: whole_seconds(v.max_length),
                    finish_on_key: v.finish_on,
                    action: self.cont(Resume::Record, node, 1),
                });
                None
            }
            NodeKind::Hangup(h) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                if let Some(p) = &h.prompt {
                    let verbs = self.prompt_verbs(p);
                    self.verbs.extend(verbs);
                }
                self.log(Some(node), EventKind::FlowHangup, None, 1);
                let outcome = if self.failing {
                    Outcome::Failed
                } else {
                    Outcome::SelfService
                };
                self.s.outcome = Some(self.s.outcome.unwrap_or(outcome));
                self.s.ended = true;
                self.verbs.push(Verb::Hangup);
                None
            }
        }
    }

    fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::VarIn { var, values } => {
                crate::call::vars::lookup_var(&self.s, var).is_some_and(|v| values.contains(&v))
            }
            Condition::VarExists { var, exists } => {
                crate::call::vars::lookup_var(&self.s, var).is_some() == *exists
            }
            Condition::CallerIn(numbers) => numbers.contains(&self.s.caller),
        }
    }
}

/// The `recorded` event's value: `{"seconds":17,"url":"https://..."}`.
fn recording_value(url: &Option<String>, seconds: Option<u32>) -> String {
    serde_json::json!({ "seconds": seconds, "url": url }).to_string()
}

fn apology() -> Verb {
    Verb::Say {
        text: FAULT_APOLOGY.to_owned(),
        locale: Some("en-US".to_owned()),
        voice: None,
    }
}

/// Seconds for the provider, rounded up, at least 1.
fn whole_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_millis().div_ceil(1000))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// Hides entered digits: every character becomes `*`.
fn mask(digits: &str) -> String {
    "*".repeat(digits.chars().count())
}

/// The Luhn checksum of card numbers.
pub(crate) fn luhn(digits: &str) -> bool {
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
    fn seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(5001)), 6);
        assert_eq!(whole_seconds(Duration::from_secs(20)), 20);
    }
}
