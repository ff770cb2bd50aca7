//! Flows an admin closed (`phonetree close`): what hours branches see besides the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One flow closed until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowClosure {
    /// The flow.
    pub flow: String,
    /// Closed before this; open again from it.
    pub until: DateTime<Utc>,
    /// A prompt id of the flow's `defaults.closed_messages`, played on the closed way.
    pub message: Option<String>,
    /// When it was closed.
    pub closed_at: DateTime<Utc>,
}

/// The closures in force, by flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closures {
    by_flow: BTreeMap<String, FlowClosure>,
}

impl Closures {
    /// Closures from rows read from the store.
    pub fn new(closures: impl IntoIterator<Item = FlowClosure>) -> Closures {
        Closures {
            by_flow: closures.into_iter().map(|c| (c.flow.clone(), c)).collect(),
        }
    }

    /// The closure of `flow` at `now`, if the flow is closed then.
    pub fn closed(&self, flow: &str, now: DateTime<Utc>) -> Option<&FlowClosure> {
        self.by_flow.get(flow).filter(|c| now < c.until)
    }

    /// Every closure, open ones (past their `until`) included, by flow.
    pub fn all(&self) -> impl Iterator<Item = &FlowClosure> {
        self.by_flow.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_is_closed_until_its_time() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let closures = Closures::new([FlowClosure {
            flow: "acme".into(),
            until: t("2026-12-02T18:00:00Z"),
            message: None,
            closed_at: t("2026-12-02T12:00:00Z"),
        }]);
        assert!(closures.closed("acme", t("2026-12-02T17:59:59Z")).is_some());
        assert!(closures.closed("acme", t("2026-12-02T18:00:00Z")).is_none());
        assert!(
            closures
                .closed("other", t("2026-12-02T13:00:00Z"))
                .is_none()
        );
        assert_eq!(closures.all().count(), 1);
    }
}
