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
    /// Node the caller is in.
    pub node: Option<String>,
    /// Attempt at that node.
    pub attempt: u32,
    /// The current wait's token, written into its continuation URLs.
    #[serde(default)]
    pub visit: u32,
    /// Node entries so far (loop guard).
    pub steps: u32,
    /// The step budget was spent once already.
    pub budget_spent: bool,
    /// How the call is ending, once known.
    pub outcome: Option<Outcome>,
    /// The call is over (flow hung up or status callback).
    pub ended: bool,
    /// When the call started.
    pub started_at: DateTime<Utc>,
    /// Sequence number of the last logged event.
    pub seq: u32,
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
            node: None,
            attempt: 0,
            visit: 0,
            steps: 0,
            budget_spent: false,
            outcome: None,
            ended: false,
            started_at: now,
            seq: 0,
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
            node: None,
            attempt: 1,
            visit: 0,
            steps: 0,
            budget_spent: false,
            outcome: None,
            ended: false,
            started_at: DateTime::<Utc>::MIN_UTC,
            seq: 0,
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
            node: None,
            attempt: 1,
            visit: 0,
            steps: 0,
            budget_spent: false,
            outcome: None,
            ended: false,
            started_at: DateTime::<Utc>::MIN_UTC,
            seq: 0,
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
}
