//! Moving through the flow: entering nodes until one waits for the caller, faults.

use crate::call::event::{EventKind, EventValue, Outcome};
use crate::call::step::{Run, mask, whole_seconds};
use crate::call::{At, LookupRequest, Resume, Verb};
use crate::flow::hours::is_open;
use crate::flow::{
    BranchNode, Condition, DialSpec, DialTarget, LookupMethod, NodeId, NodeKind, Prompt, Target,
    is_send_digits,
};

impl Run<'_> {
    pub(super) fn fault(&mut self, at: At, reason: &str) {
        let node = self.node_at(at);
        self.log(
            node,
            EventKind::Fault,
            Some(EventValue::Reason(reason.to_owned())),
            at.attempt,
        );
        self.warnings.push(reason.to_owned());
        let sorry = self.apology_verbs();
        self.verbs.extend(sorry);
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
    pub(super) fn go(&mut self, from: Option<NodeId>, target: &Target) {
        let mut from = from;
        let mut target = target.clone();
        loop {
            let node = match &target {
                Target::Hangup => {
                    let attempt = self.s.attempt();
                    return self.hang_up(from, attempt);
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
                        self.s.end();
                        return;
                    };
                    let Some(id) = next_flow.node_by_name(node) else {
                        self.verbs.push(Verb::Hangup);
                        self.s.end();
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
                let attempt = self.s.attempt();
                self.log(
                    Some(node),
                    EventKind::BudgetExhausted,
                    Some(EventValue::Budget(self.flow.max_steps)),
                    attempt,
                );
                if self.s.budget_spent() || self.failing {
                    self.s.set_outcome(Outcome::Failed);
                    self.s.end();
                    self.verbs.push(Verb::Hangup);
                    return;
                }
                // One more budget for the way out through `on_fail`; spending it too hangs up.
                self.s.spend_budget();
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
    pub(super) fn enter(&mut self, node: NodeId) -> Option<Target> {
        let flow = self.flow.clone();
        let n = flow.node(node);
        self.s.enter_node(&n.name, 1);
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
                if let Some(closure) = self.closures.closed(&flow.id, self.now) {
                    // An admin closed the flow: the closed way, after the message if any.
                    self.log(
                        Some(node),
                        EventKind::Entered,
                        Some(EventValue::Branch("closed by switch".to_owned())),
                        1,
                    );
                    let message = closure.message.as_deref().and_then(|id| {
                        flow.closed_messages
                            .iter()
                            .find(|(m, _)| m == id)
                            .map(|(_, p)| p.clone())
                    });
                    if let Some(prompt) = message {
                        let verbs = self.prompt_verbs(&prompt);
                        self.verbs.extend(verbs);
                    }
                    return Some(closed.clone());
                }
                let is = is_open(schedule, self.now);
                self.log(
                    Some(node),
                    EventKind::Entered,
                    Some(EventValue::Branch(
                        if is { "open" } else { "closed" }.to_owned(),
                    )),
                    1,
                );
                Some(if is { open.clone() } else { closed.clone() })
            }
            NodeKind::Branch(BranchNode::When { arms, otherwise }) => {
                let hit = arms.iter().position(|(c, _)| self.holds(c));
                let label = hit.map_or("else".to_owned(), |i| format!("when {}", i + 1));
                self.log(
                    Some(node),
                    EventKind::Entered,
                    Some(EventValue::Branch(label)),
                    1,
                );
                Some(hit.map_or_else(|| otherwise.clone(), |i| arms[i].1.clone()))
            }
            NodeKind::Split(split) => {
                let hash = split_hash(&flow.id, &n.name, &self.s.caller, &self.s.call_sid);
                let Some(way) = split.way(hash) else {
                    // Every weight 0: `check` refuses it, so no compiled flow gets here.
                    self.log(Some(node), EventKind::Entered, None, 1);
                    return Some(Target::Hangup);
                };
                self.log(
                    Some(node),
                    EventKind::Entered,
                    Some(EventValue::Way(way.name.clone())),
                    1,
                );
                Some(way.target.clone())
            }
            NodeKind::Lookup(l) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                let url = match crate::call::vars::render_url_template(&l.url, &self.s) {
                    Ok((url, _)) => url,
                    Err(e) => {
                        self.log(
                            Some(node),
                            EventKind::LookupError,
                            Some(EventValue::Reason(e.to_string())),
                            1,
                        );
                        return Some(l.on_error.clone());
                    }
                };
                let body = (l.method == LookupMethod::Post).then(|| {
                    let mut map = serde_json::Map::new();
                    for (k, v) in &self.s.vars {
                        map.insert(k.clone(), v.clone());
                    }
                    map.insert("caller".into(), self.s.caller.clone().into());
                    map.insert("called".into(), self.s.called.clone().into());
                    serde_json::Value::Object(map)
                });
                self.s.set_visit(self.s.seq);
                self.lookup = Some(LookupRequest {
                    at: At {
                        node,
                        attempt: 1,
                        visit: self.s.visit(),
                    },
                    url,
                    method: l.method,
                    timeout: l.timeout,
                    body,
                });
                None
            }
            NodeKind::Transfer(t) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                let (target, digits) = match self.dial_of(t) {
                    Ok(dial) => dial,
                    Err(reason) => {
                        // Nothing to dial: the call goes where a failed dial goes.
                        self.log(
                            Some(node),
                            EventKind::Fault,
                            Some(EventValue::Reason(reason)),
                            1,
                        );
                        self.log(
                            Some(node),
                            EventKind::TransferResult,
                            Some(EventValue::DialStatus(crate::call::DialStatus::Failed)),
                            1,
                        );
                        return Some(t.on_failed.clone());
                    }
                };
                let shown = if self.derived_from_sensitive(&t.to) {
                    mask(&target.to_string())
                } else {
                    target.to_string()
                };
                self.log(
                    Some(node),
                    EventKind::TransferStarted,
                    Some(EventValue::Target(shown)),
                    1,
                );
                self.play(t.prompt.as_ref());
                self.s.set_visit(self.s.seq);
                self.verbs.push(Verb::Dial {
                    target,
                    send_digits: digits,
                    caller_id: t.caller_id.clone(),
                    timeout_secs: whole_seconds(t.timeout),
                    action: self.cont(Resume::Dial, node, 1),
                });
                None
            }
            NodeKind::Queue(q) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                self.log(
                    Some(node),
                    EventKind::Queued,
                    Some(EventValue::Queue(q.name.clone())),
                    1,
                );
                self.s.set_outcome(Outcome::Queued);
                self.s.set_visit(self.s.seq);
                self.verbs.push(Verb::Enqueue {
                    name: q.name.clone(),
                    wait: q.answers_hold().then(|| self.cont(Resume::Hold, node, 1)),
                    action: self.cont(Resume::Queue, node, 1),
                });
                None
            }
            NodeKind::Voicemail(v) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                self.play(v.prompt.as_ref());
                self.s.set_visit(self.s.seq);
                self.verbs.push(Verb::Record {
                    max_length_secs: whole_seconds(v.max_length),
                    finish_on_key: v.finish_on,
                    action: self.cont(Resume::Record, node, 1),
                });
                None
            }
            NodeKind::Hangup(h) => {
                self.log(Some(node), EventKind::Entered, None, 1);
                self.play(h.prompt.as_ref());
                self.hang_up(Some(node), 1);
                None
            }
        }
    }

    /// Plays an optional prompt outside any Gather.
    fn play(&mut self, prompt: Option<&Prompt>) {
        if let Some(p) = prompt {
            let verbs = self.prompt_verbs(p);
            self.verbs.extend(verbs);
        }
    }

    /// The flow ends the call: self-service, or failed when it was on the way to `on_fail`.
    fn hang_up(&mut self, node: Option<NodeId>, attempt: u32) {
        self.log(node, EventKind::FlowHangup, None, attempt);
        let outcome = if self.failing {
            Outcome::Failed
        } else {
            Outcome::SelfService
        };
        self.s.set_outcome(self.s.outcome().unwrap_or(outcome));
        self.s.end();
        self.verbs.push(Verb::Hangup);
    }

    pub(super) fn holds(&self, condition: &Condition) -> bool {
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

impl Run<'_> {
    /// What a transfer dials for this call, and the keys sent once a number answers; why
    /// not, when `to` or `send_digits` does not expand to something dialable.
    fn dial_of(
        &self,
        t: &crate::flow::TransferNode,
    ) -> Result<(crate::flow::DialTarget, Option<String>), String> {
        let sensitive = self.derived_from_sensitive(&t.to)
            || t.send_digits
                .as_ref()
                .is_some_and(|d| self.derived_from_sensitive(&DialSpec::Template(d.clone())));
        if sensitive {
            return Err("transfer: a sensitive value is never dialed".into());
        }
        let target = match &t.to {
            DialSpec::Fixed(target) => target.clone(),
            DialSpec::Template(template) => {
                let (text, missing) = crate::call::vars::render_template(template, &self.s);
                if let Some(var) = missing.first() {
                    return Err(format!("transfer: `{{{var}}}` is not set, nothing to dial"));
                }
                DialTarget::parse(&text).ok_or_else(|| {
                    let shown = if self.derived_from_sensitive(&t.to) {
                        mask(&text)
                    } else {
                        text.clone()
                    };
                    format!("transfer: `{shown}` is not a number or address")
                })?
            }
        };
        let digits = match &t.send_digits {
            None => None,
            Some(template) => {
                let (text, missing) = crate::call::vars::render_template(template, &self.s);
                if let Some(var) = missing.first() {
                    return Err(format!("transfer: `{{{var}}}` is not set, no keys to send"));
                }
                if !is_send_digits(&text) {
                    return Err(
                        "transfer: `send_digits` expands to something other than keys".into(),
                    );
                }
                Some(text)
            }
        };
        if digits.is_some() && !matches!(target, DialTarget::Number(_)) {
            return Err(format!(
                "transfer: keys to send, but `{target}` is not a phone number"
            ));
        }
        Ok((target, digits))
    }

    /// True when a dial template uses a sensitive variable: what it dials is masked in the log.
    fn derived_from_sensitive(&self, to: &DialSpec) -> bool {
        let DialSpec::Template(template) = to else {
            return false;
        };
        template.vars().any(|v| {
            let root = v.split('.').next().unwrap_or(v);
            self.s.sensitive.iter().any(|s| s == root)
        })
    }
}

/// What Twilio sends as `From` when the caller's number is withheld: the keypad spellings
/// of ANONYMOUS, RESTRICTED, BLOCKED, UNAVAILABLE and UNKNOWN, shared by every such caller.
const WITHHELD: [&str; 5] = [
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
];

/// The number a split reduces onto its ways: the first 8 bytes of SHA-256 over the flow,
/// the node and the caller's number, so the same caller takes the same way at the same
/// split on every call, on every server and version. A caller with no number (withheld,
/// `anonymous`) is split by the call instead.
pub(crate) fn split_hash(flow: &str, node: &str, caller: &str, call_sid: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let who = if caller.chars().any(|c| c.is_ascii_digit()) && !WITHHELD.contains(&caller) {
        caller
    } else {
        call_sid
    };
    let digest = Sha256::new()
        .chain_update(flow.as_bytes())
        .chain_update([0])
        .chain_update(node.as_bytes())
        .chain_update([0])
        .chain_update(who.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::split_hash;
    use crate::flow::{SplitNode, SplitWay, Target};

    fn ab(a: u32, b: u32) -> SplitNode {
        let way = |weight, name: &str| SplitWay {
            weight,
            target: Target::Hangup,
            name: name.into(),
        };
        SplitNode {
            ways: vec![way(a, "a"), way(b, "b"), way(0, "off")],
        }
    }

    #[test]
    fn the_hash_is_pinned_so_callers_keep_their_way_across_releases() {
        // Changing these numbers moves callers to the other way of every running test.
        assert_eq!(
            split_hash("acme", "greeting", "+15550100000", "CA1"),
            split_hash("acme", "greeting", "+15550100000", "CA2"),
        );
        assert_eq!(
            split_hash("acme", "greeting", "+15550100000", "CA1"),
            // Python: int.from_bytes(sha256(b"acme\0greeting\0+15550100000").digest()[:8], "big")
            0x39ab_3899_6724_2008_u64,
        );
        for withheld in ["anonymous", "+266696687", "+7378742833", ""] {
            assert_ne!(
                split_hash("acme", "greeting", withheld, "CA1"),
                split_hash("acme", "greeting", withheld, "CA2"),
                "{withheld:?}"
            );
        }
        // The node is part of it: two splits in one flow are independent.
        assert_ne!(
            split_hash("acme", "greeting", "+15550100000", "CA1"),
            split_hash("acme", "farewell", "+15550100000", "CA1"),
        );
    }

    #[test]
    fn ways_take_their_weight_of_the_hashes() {
        let split = ab(70, 30);
        assert_eq!(split.way(0).map(|w| w.name.as_str()), Some("a"));
        assert_eq!(split.way(69).map(|w| w.name.as_str()), Some("a"));
        assert_eq!(split.way(70).map(|w| w.name.as_str()), Some("b"));
        assert_eq!(split.way(99).map(|w| w.name.as_str()), Some("b"));
        assert_eq!(split.way(100).map(|w| w.name.as_str()), Some("a"));
        let a = (0..10_000u32)
            .map(|n| split_hash("f", "n", &format!("+1555{n:07}"), ""))
            .filter(|&h| split.way(h).is_some_and(|w| w.name == "a"))
            .count();
        assert!((6_800..=7_200).contains(&a), "{a} of 10,000");
        assert!(ab(0, 0).way(5).is_none());
        assert_eq!(split.percent(0), 70.0);
        assert_eq!(split.percent(2), 0.0);
    }
}
