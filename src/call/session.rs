//! Per-call state kept between webhooks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::event::Outcome;
use crate::flow::NodeId;

/// Where a callback says the call is: the node, attempt and visit carried in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// The node.
    pub node: NodeId,
    /// 1-based attempt.
    pub attempt: u32,
    /// The wait it answers ([`CallSession::visit`] when it was asked).
    pub visit: u32,
}

/// Everything phonetree remembers about a call between webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredSession")]
pub struct CallSession {
    /// Provider's call id.
    pub call_sid: String,
    /// Current flow id.
    pub flow: String,
    /// Flow set version the call started on.
    pub version: String,
    /// Caller number (`From`).
    pub caller: String,
    /// Called number (`To`).
    pub called: String,
    /// Language code in use.
    pub language: String,
    /// Variables set by menus, inputs, `set` and lookups.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Variables holding sensitive input: masked whenever the session leaves memory.
    #[serde(default)]
    pub sensitive: Vec<String>,
    /// Menus visited, most recent last (for `back`).
    pub menu_stack: Vec<String>,
    /// Where the call is in its life: in a node, ended, or closed.
    pub state: CallState,
    /// Node entries so far (loop guard).
    pub steps: u32,
    /// When the call started.
    pub started_at: DateTime<Utc>,
    /// Sequence number of the last logged event.
    pub seq: u32,
    /// The caller pressed the leave key of the queue they wait in: its `<Leave/>` goes
    /// `on_leave`. Cleared on entering a node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pressed_leave_key: bool,
}

impl CallSession {
    /// A fresh session for a call that has just come in.
    pub fn new(
        call_sid: &str,
        flow: &crate::flow::Flow,
        version: &str,
        caller: &str,
        called: &str,
        now: DateTime<Utc>,
    ) -> CallSession {
        CallSession {
            call_sid: call_sid.to_owned(),
            flow: flow.id.clone(),
            version: version.to_owned(),
            caller: caller.to_owned(),
            called: called.to_owned(),
            language: flow
                .languages
                .first()
                .map(|l| l.code.clone())
                .unwrap_or_default(),
            vars: BTreeMap::new(),
            sensitive: Vec::new(),
            menu_stack: Vec::new(),
            state: CallState::Starting,
            steps: 0,
            started_at: now,
            seq: 0,
            pressed_leave_key: false,
        }
    }
}

/// Where a call is in its life. Each variant carries only what is true of it: an ended call has
/// no attempt to count, and a closed one has a final outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Just come in: no node entered yet.
    Starting,
    /// In a node, waiting for the caller or the provider.
    Active {
        /// Node the caller is in.
        node: String,
        /// Attempt at that node.
        attempt: u32,
        /// The current wait's token, written into its continuation URLs.
        visit: u32,
        /// The step budget was spent once already.
        budget_spent: bool,
        /// How the call is ending, when known before it ends (a transfer that connected).
        outcome: Option<Outcome>,
    },
    /// Over (the flow hung up, or its flow is gone); the status callback has not closed it yet.
    Ended {
        /// Node the call ended in, if it entered one.
        node: Option<String>,
        /// How it ended, once known; the status callback settles it.
        outcome: Option<Outcome>,
    },
    /// Closed by the status callback: its record is complete.
    Closed {
        /// How the call ended (a late dial or recording result may still upgrade it).
        outcome: Outcome,
    },
}

impl CallSession {
    /// Node the caller is in, or ended in.
    pub fn node(&self) -> Option<&str> {
        match &self.state {
            CallState::Active { node, .. } => Some(node),
            CallState::Ended { node, .. } => node.as_deref(),
            CallState::Starting | CallState::Closed { .. } => None,
        }
    }

    /// Attempt at the current node (0 outside a node).
    pub fn attempt(&self) -> u32 {
        match &self.state {
            CallState::Active { attempt, .. } => *attempt,
            _ => 0,
        }
    }

    /// The current wait's token (0 outside a node).
    pub fn visit(&self) -> u32 {
        match &self.state {
            CallState::Active { visit, .. } => *visit,
            _ => 0,
        }
    }

    /// How the call is ending, once known.
    pub fn outcome(&self) -> Option<Outcome> {
        match &self.state {
            CallState::Active { outcome, .. } | CallState::Ended { outcome, .. } => *outcome,
            CallState::Closed { outcome } => Some(*outcome),
            CallState::Starting => None,
        }
    }

    /// The call is over (ended or closed).
    pub fn is_ended(&self) -> bool {
        matches!(
            self.state,
            CallState::Ended { .. } | CallState::Closed { .. }
        )
    }

    /// The status callback has closed the call's record.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, CallState::Closed { .. })
    }

    /// The step budget was spent once already.
    pub fn budget_spent(&self) -> bool {
        matches!(
            self.state,
            CallState::Active {
                budget_spent: true,
                ..
            }
        )
    }

    /// Puts the call in `node` at `attempt`, keeping the visit token, budget and outcome so far.
    pub fn enter_node(&mut self, name: &str, at_attempt: u32) {
        self.pressed_leave_key = false;
        match &mut self.state {
            CallState::Active { node, attempt, .. } => {
                name.clone_into(node);
                *attempt = at_attempt;
            }
            _ => {
                self.state = CallState::Active {
                    node: name.to_owned(),
                    attempt: at_attempt,
                    visit: 0,
                    budget_spent: false,
                    outcome: None,
                }
            }
        }
    }

    /// Sets the current wait's token; outside a node there is no wait to mark.
    pub fn set_visit(&mut self, token: u32) {
        if let CallState::Active { visit, .. } = &mut self.state {
            *visit = token;
        }
    }

    /// Records that the step budget was spent once.
    pub fn spend_budget(&mut self) {
        if let CallState::Active { budget_spent, .. } = &mut self.state {
            *budget_spent = true;
        }
    }

    /// Sets how the call is ending; a call not yet in a node has no outcome to set.
    pub fn set_outcome(&mut self, to: Outcome) {
        match &mut self.state {
            CallState::Active { outcome, .. } | CallState::Ended { outcome, .. } => {
                *outcome = Some(to)
            }
            CallState::Closed { outcome } => *outcome = to,
            CallState::Starting => {
                self.state = CallState::Ended {
                    node: None,
                    outcome: Some(to),
                }
            }
        }
    }

    /// Ends the call where it is, keeping its node and outcome so far.
    pub fn end(&mut self) {
        let state = match &self.state {
            CallState::Active { node, outcome, .. } => CallState::Ended {
                node: Some(node.clone()),
                outcome: *outcome,
            },
            CallState::Starting => CallState::Ended {
                node: None,
                outcome: None,
            },
            CallState::Ended { .. } | CallState::Closed { .. } => return,
        };
        self.state = state;
    }

    /// Closes the call's record with its final outcome.
    pub fn close(&mut self, outcome: Outcome) {
        self.state = CallState::Closed { outcome };
    }
}

/// A session as stored: today's `state`, or the flags sessions were stored with before it.
#[derive(Deserialize)]
struct StoredSession {
    call_sid: String,
    flow: String,
    version: String,
    caller: String,
    called: String,
    language: String,
    vars: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    sensitive: Vec<String>,
    menu_stack: Vec<String>,
    #[serde(default)]
    state: Option<CallState>,
    steps: u32,
    started_at: DateTime<Utc>,
    seq: u32,
    #[serde(default)]
    pressed_leave_key: bool,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    attempt: u32,
    #[serde(default)]
    visit: u32,
    #[serde(default)]
    budget_spent: bool,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    ended: bool,
}

impl From<StoredSession> for CallSession {
    fn from(s: StoredSession) -> CallSession {
        // The old flags: the status callback closed a call by clearing its node.
        let state = s.state.unwrap_or(match (s.node, s.ended, s.outcome) {
            (None, true, Some(outcome)) if s.seq > 0 => CallState::Closed { outcome },
            (node, true, outcome) => CallState::Ended { node, outcome },
            (Some(node), false, outcome) => CallState::Active {
                node,
                attempt: s.attempt,
                visit: s.visit,
                budget_spent: s.budget_spent,
                outcome,
            },
            (None, false, _) => CallState::Starting,
        });
        CallSession {
            call_sid: s.call_sid,
            flow: s.flow,
            version: s.version,
            caller: s.caller,
            called: s.called,
            language: s.language,
            vars: s.vars,
            sensitive: s.sensitive,
            menu_stack: s.menu_stack,
            state,
            steps: s.steps,
            started_at: s.started_at,
            seq: s.seq,
            pressed_leave_key: s.pressed_leave_key,
        }
    }
}

impl CallSession {
    /// `text` with every sensitive value masked, also when read digit by digit (`4 1 1 1`).
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for name in &self.sensitive {
            let Some(value) = self.vars.get(name).and_then(|v| v.as_str()) else {
                continue;
            };
            if value.chars().count() < 2 {
                continue;
            }
            let spaced = value
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ");
            for form in [spaced, value.to_owned()] {
                let stars = form
                    .chars()
                    .map(|c| if c == ' ' { ' ' } else { '*' })
                    .collect::<String>();
                out = out.replace(&form, &stars);
            }
        }
        out
    }

    /// `verbs` with sensitive values masked in everything spoken; URLs and numbers are left alone.
    pub fn redact_verbs(&self, verbs: &[crate::call::Verb]) -> Vec<crate::call::Verb> {
        use crate::call::Verb;
        verbs
            .iter()
            .map(|v| match v {
                Verb::Say {
                    text,
                    locale,
                    voice,
                } => Verb::Say {
                    text: self.redact_text(text),
                    locale: locale.clone(),
                    voice: voice.clone(),
                },
                Verb::Gather {
                    prompt,
                    num_digits,
                    finish_on_key,
                    timeout_secs,
                    action,
                } => Verb::Gather {
                    prompt: self.redact_verbs(prompt),
                    num_digits: *num_digits,
                    finish_on_key: *finish_on_key,
                    timeout_secs: *timeout_secs,
                    action: action.clone(),
                },
                other => other.clone(),
            })
            .collect()
    }

    /// A copy fit to store or log: sensitive variables masked, and every copy of a sensitive
    /// value inside other variables too (a lookup answer that echoes the card number).
    ///
    /// This is the only form in which a session outlives its webhook: a sensitive value is
    /// spoken in the answer of the webhook that took it, and masked from then on.
    pub fn redacted(&self) -> CallSession {
        let mut copy = self.clone();
        if self.sensitive.is_empty() {
            return copy;
        }
        for (name, v) in copy.vars.iter_mut() {
            if self.sensitive.contains(name) {
                let len = match &*v {
                    serde_json::Value::String(s) => s.chars().count(),
                    other => other.to_string().chars().count(),
                };
                *v = serde_json::Value::String("*".repeat(len));
            } else {
                self.redact_json(v);
            }
        }
        copy
    }

    fn redact_json(&self, v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                let masked = self.redact_text(s);
                if masked != *s {
                    *s = masked;
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                let masked = self.redact_text(&text);
                if masked != text {
                    *v = Value::String(masked);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_json(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_json(i)),
            Value::Null | Value::Bool(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{Continuation, Resume, Verb};

    /// Regression: masking the stored answer replaced the value everywhere in the TwiML,
    /// URLs included, so a retried webhook got a broken action URL.
    #[test]
    fn redaction_touches_spoken_text_only() {
        let mut s = CallSession {
            call_sid: "CA1".into(),
            flow: "f".into(),
            version: "v".into(),
            caller: String::new(),
            called: String::new(),
            language: "en".into(),
            vars: BTreeMap::from([("pin".to_owned(), serde_json::json!("8555"))]),
            sensitive: vec!["pin".into()],
            menu_stack: vec![],
            state: CallState::Starting,
            steps: 0,
            started_at: DateTime::<Utc>::MIN_UTC,
            seq: 0,
            pressed_leave_key: false,
        };
        let action = Continuation {
            resume: Resume::Gather,
            flow: "f".into(),
            version: "8555".into(),
            node: "n".into(),
            attempt: 1,
            visit: 8555,
        };
        let verbs = vec![Verb::Gather {
            prompt: vec![Verb::Say {
                text: "You entered 8 5 5 5, code 8555.".into(),
                locale: None,
                voice: None,
            }],
            num_digits: Some(1),
            finish_on_key: None,
            timeout_secs: 5,
            action: action.clone(),
        }];
        let redacted = s.redact_verbs(&verbs);
        let Verb::Gather {
            prompt,
            action: kept,
            ..
        } = &redacted[0]
        else {
            panic!("gather")
        };
        assert_eq!(kept, &action);
        assert_eq!(
            prompt[0],
            Verb::Say {
                text: "You entered * * * *, code ****.".into(),
                locale: None,
                voice: None
            }
        );
        s.sensitive.clear();
        assert_eq!(s.redact_verbs(&verbs), verbs);
    }

    /// Regression: a lookup answer that echoed the card number was stored in clear.
    #[test]
    fn copies_of_a_sensitive_value_are_masked_everywhere_in_the_session() {
        let mut s = CallSession {
            call_sid: "CA1".into(),
            flow: "f".into(),
            version: "v".into(),
            caller: String::new(),
            called: String::new(),
            language: "en".into(),
            vars: BTreeMap::from([
                ("card".to_owned(), serde_json::json!("4111111111111111")),
                (
                    "payment".to_owned(),
                    serde_json::json!({"echo": "card 4111111111111111 ok", "n": 4111111111111111u64,
                        "spaced": ["4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"], "last4": "1111", "ok": true}),
                ),
            ]),
            sensitive: vec!["card".into()],
            menu_stack: vec![],
            state: CallState::Starting,
            steps: 0,
            started_at: DateTime::<Utc>::MIN_UTC,
            seq: 0,
            pressed_leave_key: false,
        };
        let stored = serde_json::to_string(&s.redacted()).unwrap();
        assert!(!stored.contains("4111111111111111"), "{stored}");
        assert!(!stored.contains("4 1 1 1 1"), "{stored}");
        let r = s.redacted();
        assert_eq!(r.vars["card"], serde_json::json!("****************"));
        assert_eq!(r.vars["payment"]["last4"], serde_json::json!("1111"));
        assert_eq!(r.vars["payment"]["ok"], serde_json::json!(true));
        assert_eq!(
            r.vars["payment"]["echo"],
            serde_json::json!("card **************** ok")
        );
        s.sensitive.clear();
        assert_eq!(s.redacted(), s);
    }

    /// Sessions stored before the state type carried flags; they load into the same state.
    #[test]
    fn sessions_stored_with_the_old_flags_still_load() {
        let old = |fields: &str| {
            let json = format!(
                r#"{{"call_sid":"CA1","flow":"f","version":"v","caller":"","called":"",
                "language":"en","vars":{{}},"menu_stack":[],"steps":3,
                "started_at":"2026-11-24T15:00:00Z",{fields}}}"#
            );
            serde_json::from_str::<CallSession>(&json).unwrap().state
        };
        assert_eq!(
            old(
                r#""node":"main_menu","attempt":2,"visit":7,"budget_spent":true,"outcome":"transferred","ended":false,"seq":7"#
            ),
            CallState::Active {
                node: "main_menu".into(),
                attempt: 2,
                visit: 7,
                budget_spent: true,
                outcome: Some(Outcome::Transferred),
            }
        );
        assert_eq!(
            old(
                r#""node":"bye","attempt":1,"visit":4,"budget_spent":false,"outcome":"self_service","ended":true,"seq":5"#
            ),
            CallState::Ended {
                node: Some("bye".into()),
                outcome: Some(Outcome::SelfService),
            }
        );
        assert_eq!(
            old(
                r#""node":null,"attempt":1,"visit":4,"budget_spent":false,"outcome":"abandoned","ended":true,"seq":6"#
            ),
            CallState::Closed {
                outcome: Outcome::Abandoned
            }
        );
        assert_eq!(
            old(
                r#""node":null,"attempt":0,"budget_spent":false,"outcome":null,"ended":false,"seq":0"#
            ),
            CallState::Starting
        );
        let json = r#"{"call_sid":"CA1","flow":"f","version":"v","caller":"","called":"",
            "language":"en","vars":{},"menu_stack":[],"steps":3,"started_at":"2026-11-24T15:00:00Z",
            "node":"main_menu","attempt":1,"visit":2,"budget_spent":false,"outcome":null,"ended":false,"seq":2}"#;
        let s = serde_json::from_str::<CallSession>(json).unwrap();
        let round = serde_json::from_str::<CallSession>(&serde_json::to_string(&s).unwrap());
        assert_eq!(round.unwrap(), s);
    }
}
