//! What the caller's keys and silence do: menu options, input checks, retries.

use crate::call::event::{EventKind, EventValue};
use crate::call::step::{Run, luhn, mask, whole_seconds};
use crate::call::vars::render_template;
use crate::call::{At, Resume, Verb};
use crate::flow::{NodeId, NodeKind, Retry};

impl Run<'_> {
    pub(super) fn digits(&mut self, at: At, digits: &str) {
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
                            Some(EventValue::Key(opt.key.to_string())),
                            at.attempt,
                        );
                        if let Some(var) = &m.store {
                            self.log(
                                Some(node),
                                EventKind::Answer,
                                Some(EventValue::Answer {
                                    name: var.clone(),
                                    value: opt.key.to_string(),
                                }),
                                at.attempt,
                            );
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
                        Some(EventValue::Key(digits.to_owned())),
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
                    && i.pattern.as_ref().is_none_or(|p| p.is_match(entered))
                    && (!i.nps || entered.parse::<u32>().is_ok_and(|n| n <= 10));
                if !valid {
                    return self.retry(
                        node,
                        at.attempt,
                        EventKind::Invalid,
                        Some(EventValue::Key(shown)),
                    );
                }
                self.log(
                    Some(node),
                    EventKind::Input,
                    Some(EventValue::Digits(shown)),
                    at.attempt,
                );
                if !i.sensitive {
                    self.log(
                        Some(node),
                        EventKind::Answer,
                        Some(EventValue::Answer {
                            name: i.store.clone(),
                            value: entered.to_owned(),
                        }),
                        at.attempt,
                    );
                }
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
    pub(super) fn assign(
        &mut self,
        node: Option<NodeId>,
        name: &str,
        template: &crate::flow::Template,
    ) {
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
        let attempt = self.s.attempt();
        let shown = if sensitive {
            mask(&value)
        } else {
            value.clone()
        };
        self.log(
            node,
            EventKind::Set,
            Some(EventValue::Set {
                name: name.to_owned(),
                value: shown,
            }),
            attempt,
        );
        self.s
            .vars
            .insert(name.to_owned(), serde_json::Value::String(value));
    }

    pub(super) fn retry_of(&self, node: NodeId) -> Option<Retry> {
        match &self.flow.node(node).kind {
            NodeKind::Menu(m) => Some(m.retry.clone()),
            NodeKind::Input(i) => Some(i.retry.clone()),
            _ => None,
        }
    }

    /// An invalid entry or silence at attempt `attempt`: play the matching prompt and ask again,
    /// or send the caller to `on_fail` when retries are spent.
    pub(super) fn retry(
        &mut self,
        node: NodeId,
        attempt: u32,
        reason: EventKind,
        value: Option<EventValue>,
    ) {
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
    pub(super) fn ask(&mut self, node: NodeId, attempt: u32, lead: Vec<Verb>) {
        let flow = self.flow.clone();
        let (prompt, num_digits, finish_on_key, timeout) = match &flow.node(node).kind {
            NodeKind::Menu(m) => (m.prompt_for(attempt), Some(1), None, m.retry.timeout),
            NodeKind::Input(i) => (
                i.prompt_for(attempt),
                Some(i.digits.max),
                i.finish_on,
                i.retry.timeout,
            ),
            _ => return,
        };
        // Whatever plays just before (a message on the way here, an apology) goes inside the
        // Gather too: callers may press a key at any time and never wait for a prompt to end.
        let spoken = self
            .verbs
            .iter()
            .rev()
            .take_while(|v| matches!(v, Verb::Say { .. } | Verb::Play { .. } | Verb::Pause { .. }))
            .count();
        let mut inner: Vec<Verb> = self.verbs.split_off(self.verbs.len() - spoken);
        inner.extend(lead);
        inner.extend(self.prompt_verbs(prompt));
        // In the node before its token is set: the token lives with the node.
        self.s.enter_node(&flow.node(node).name, attempt);
        if !self.same_visit {
            self.s.set_visit(self.s.seq);
        }
        self.verbs.push(Verb::Gather {
            prompt: inner,
            num_digits,
            finish_on_key,
            timeout_secs: whole_seconds(timeout),
            action: self.cont(Resume::Gather, node, attempt),
        });
        self.verbs
            .push(Verb::Redirect(self.cont(Resume::Silence, node, attempt)));
    }
}
