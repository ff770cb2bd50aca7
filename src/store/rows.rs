//! What both stores write and read the same way: the column lists of the call and
//! event rows, timestamps as RFC 3339 text, enum names, event values as JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::call::EventValue;

/// The columns each store's `call_from_row` reads, in its order.
macro_rules! call_columns {
    ($t:literal) => {
        concat!(
            $t,
            "call_sid, ",
            $t,
            "flow, ",
            $t,
            "flow_version, ",
            $t,
            "from_number, ",
            $t,
            "to_number, ",
            $t,
            "language, ",
            $t,
            "started_at, ",
            $t,
            "ended_at, ",
            $t,
            "outcome, ",
            $t,
            "last_node"
        )
    };
}

/// The columns each store's `event_from_row` reads, in its order.
macro_rules! event_columns {
    ($t:literal) => {
        concat!(
            $t,
            "call_sid, ",
            $t,
            "seq, ",
            $t,
            "at, ",
            $t,
            "flow, ",
            $t,
            "flow_version, ",
            $t,
            "node, ",
            $t,
            "kind, ",
            $t,
            "value, ",
            $t,
            "attempt"
        )
    };
}

pub(super) use {call_columns, event_columns};

/// RFC 3339 UTC with milliseconds, so text order is time order.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a timestamp written by [`ts`].
pub(super) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

/// Decodes a stored enum name through its serde (snake_case) name.
pub(super) fn parse_name<T: DeserializeOwned>(what: &str, s: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|e| StoreError::Corrupt(format!("unknown {what}: {e}")))
}

/// A stored count back to the `u32` it was.
pub(super) fn to_u32<N>(what: &str, n: N) -> Result<u32, StoreError>
where
    N: TryInto<u32> + std::fmt::Display + Copy,
{
    n.try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} {n} out of range")))
}

/// An event's value as `call_events.value` holds it: [`EventValue`]'s JSON.
pub(super) fn encode_value(value: Option<&EventValue>) -> Result<Option<String>, StoreError> {
    value
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Database(format!("encoding an event value: {e}")))
}

/// Reads `call_events.value` back.
pub(super) fn decode_value(text: Option<String>) -> Result<Option<EventValue>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("event value `{t}`: {e}")))
    })
    .transpose()
}
