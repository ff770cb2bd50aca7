//! Per-call state kept between webhooks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::event::Outcome;
use crate::flow::NodeId;

/// Where a callback says the call is: the node and attempt carried in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// The node.
    pub node: NodeId,
    /// 1-based attempt.
    pub attempt: u32,
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

    /// A copy fit to store or log: sensitive variables masked.
    pub fn redacted(&self) -> CallSession {
        let mut copy = self.clone();
        for name in &self.sensitive {
            if let Some(v) = copy.vars.get_mut(name) {
                let len = v.as_str().map_or(0, |s| s.chars().count());
                *v = serde_json::Value::String("*".repeat(len));
            }
        }
        copy
    }
}
