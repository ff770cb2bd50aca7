//! What happens to a call (input to the state machine) and what is logged of it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::session::At;

/// Something that happened to a call, as the provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The call came in.
    Start,
    /// Keys pressed at a Gather.
    Digits {
        /// Node and attempt from the URL.
        at: At,
        /// The keys, finish key included if pressed.
        digits: String,
    },
    /// A Gather fell through without keys.
    Silence {
        /// Node and attempt from the URL.
        at: At,
    },
    /// A `<Dial>` ended.
    DialResult {
        /// The transfer node.
        at: At,
        /// How it ended.
        status: DialStatus,
    },
    /// A `<Record>` ended.
    Recorded {
        /// The voicemail node.
        at: At,
        /// Where the provider keeps the recording.
        url: Option<String>,
        /// Seconds recorded.
        duration_secs: Option<u32>,
    },
    /// The caller left a queue (`QueueResult`).
    QueueLeft {
        /// The queue node.
        at: At,
        /// How the caller left.
        result: QueueResult,
        /// Seconds the caller waited (`QueueTime`), when reported.
        waited_secs: Option<u32>,
    },
    /// The provider fetches hold music for a queue.
    Hold {
        /// The queue node.
        at: At,
        /// Where the caller stands in the queue.
        wait: QueueWait,
    },
    /// The caller pressed keys while waiting in a queue.
    HoldKey {
        /// The queue node.
        at: At,
        /// The keys.
        digits: String,
    },
    /// A lookup the previous step asked for has finished.
    LookupResult {
        /// The lookup node.
        at: At,
        /// Its result.
        outcome: LookupOutcome,
    },
    /// A callback phonetree cannot place (a node the flow no longer has): the caller goes to `on_fail`.
    Stale {
        /// What was wrong, for the log.
        reason: String,
    },
    /// Something phonetree cannot answer where the call is (a callback path it does not know,
    /// a store that failed): the caller hears an apology and goes to `on_fail`.
    Fault {
        /// What went wrong, for the log.
        reason: String,
    },
    /// The status callback: the call ended.
    Status {
        /// Final status.
        status: CallStatus,
    },
}

/// How a `<Dial>` ended (`DialCallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialStatus {
    /// Connected and finished.
    Completed,
    /// Connected.
    Answered,
    /// Busy.
    Busy,
    /// Rang out.
    NoAnswer,
    /// Could not be placed.
    Failed,
    /// Cancelled before answer.
    Canceled,
}

impl DialStatus {
    /// Parses Twilio's `DialCallStatus`.
    pub fn parse(s: &str) -> Option<DialStatus> {
        Some(match s {
            "completed" => DialStatus::Completed,
            "answered" => DialStatus::Answered,
            "busy" => DialStatus::Busy,
            "no-answer" => DialStatus::NoAnswer,
            "failed" => DialStatus::Failed,
            "canceled" => DialStatus::Canceled,
            _ => return None,
        })
    }
    /// As Twilio writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DialStatus::Completed => "completed",
            DialStatus::Answered => "answered",
            DialStatus::Busy => "busy",
            DialStatus::NoAnswer => "no-answer",
            DialStatus::Failed => "failed",
            DialStatus::Canceled => "canceled",
        }
    }
    /// True when the callee picked up.
    pub fn connected(self) -> bool {
        matches!(self, DialStatus::Completed | DialStatus::Answered)
    }
}

/// A call's status from the status callback (`CallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// Still going (`queued`, `ringing`, `in-progress`): nothing to close.
    Active,
    /// Ended normally.
    Completed,
    /// Busy.
    Busy,
    /// Failed.
    Failed,
    /// Not answered.
    NoAnswer,
    /// Cancelled.
    Canceled,
}

impl CallStatus {
    /// Parses Twilio's `CallStatus`.
    pub fn parse(s: &str) -> Option<CallStatus> {
        Some(match s {
            "queued" | "initiated" | "ringing" | "in-progress" => CallStatus::Active,
            "completed" => CallStatus::Completed,
            "busy" => CallStatus::Busy,
            "failed" => CallStatus::Failed,
            "no-answer" => CallStatus::NoAnswer,
            "canceled" => CallStatus::Canceled,
            _ => return None,
        })
    }
    /// As Twilio writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Active => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Canceled => "canceled",
        }
    }
}

/// A waiting caller's place in a queue, from the hold request (each `None` when not sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueWait {
    /// Position, 1 for the next caller to be answered (`QueuePosition`).
    pub position: Option<u32>,
    /// Callers in the queue (`CurrentQueueSize`).
    pub size: Option<u32>,
    /// Seconds this caller has waited (`QueueTime`).
    pub waited_secs: Option<u32>,
    /// Average seconds callers wait in this queue (`AvgQueueTime`).
    pub avg_wait_secs: Option<u32>,
}

/// How a caller left a queue (`QueueResult` of the `<Enqueue action>` request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueResult {
    /// Connected to an agent, and the agent's call ended.
    Bridged,
    /// Being connected when the action was requested.
    BridgingInProcess,
    /// Taken out of the queue by a redirect.
    Redirected,
    /// Connected to an agent, then moved on by the agent (a transfer).
    RedirectedFromBridged,
    /// The caller hung up while waiting.
    Hangup,
    /// Hold music answered `<Leave>`.
    Leave,
    /// The queue was full.
    QueueFull,
    /// The provider could not queue the caller.
    Error,
    /// The provider failed.
    SystemError,
}

impl QueueResult {
    /// Parses a `QueueResult`; anything unknown is an error result, so the flow's error path runs.
    pub fn parse(s: &str) -> QueueResult {
        match s {
            "bridged" => QueueResult::Bridged,
            "bridging-in-process" => QueueResult::BridgingInProcess,
            "redirected" => QueueResult::Redirected,
            "redirected-from-bridged" => QueueResult::RedirectedFromBridged,
            "hangup" => QueueResult::Hangup,
            "leave" => QueueResult::Leave,
            "queue-full" => QueueResult::QueueFull,
            "system-error" => QueueResult::SystemError,
            _ => QueueResult::Error,
        }
    }

    /// As Twilio spells it, and as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueResult::Bridged => "bridged",
            QueueResult::BridgingInProcess => "bridging-in-process",
            QueueResult::Redirected => "redirected",
            QueueResult::RedirectedFromBridged => "redirected-from-bridged",
            QueueResult::Hangup => "hangup",
            QueueResult::Leave => "leave",
            QueueResult::QueueFull => "queue-full",
            QueueResult::Error => "error",
            QueueResult::SystemError => "system-error",
        }
    }

    /// True when the caller could not be queued: the flow's error path follows.
    pub fn failed(self) -> bool {
        matches!(
            self,
            QueueResult::QueueFull | QueueResult::Error | QueueResult::SystemError
        )
    }
}

/// What a lookup returned.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupOutcome {
    /// A 2xx JSON answer.
    Answer(serde_json::Value),
    /// Timeout, non-2xx, bad JSON or connection failure, with a short reason.
    Failed(String),
}

/// How a call ended, for analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The flow finished the call itself.
    SelfService,
    /// Connected to a person.
    Transferred,
    /// Put in a queue.
    Queued,
    /// Left a voicemail.
    Voicemail,
    /// The flow gave up (retries or step budget spent, a fault).
    Failed,
    /// The caller hung up in the IVR.
    Abandoned,
}

impl Outcome {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::SelfService => "self_service",
            Outcome::Transferred => "transferred",
            Outcome::Queued => "queued",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// Kind of a call-log event row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The call started (value: [`EventValue::Caller`]).
    CallStarted,
    /// A node was entered.
    Entered,
    /// A menu key that is an option (value: [`EventValue::Key`]).
    Key,
    /// A key or entry that is not accepted (value: [`EventValue::Key`], masked when sensitive).
    Invalid,
    /// Silence at a menu or input.
    NoInput,
    /// Digits accepted by an input (value: [`EventValue::Digits`], masked when sensitive).
    Input,
    /// A variable was set (value: [`EventValue::Set`]).
    Set,
    /// A menu or input that is not sensitive stored the caller's answer in its variable
    /// (value: [`EventValue::Answer`]): what surveys report.
    Answer,
    /// Retries ran out; the caller goes to `on_fail`.
    RetriesExhausted,
    /// The call spent its step budget (value: [`EventValue::Budget`]).
    BudgetExhausted,
    /// A lookup answered.
    LookupOk,
    /// A lookup failed (value: [`EventValue::Reason`]).
    LookupError,
    /// A transfer was dialed (value: [`EventValue::Target`]).
    TransferStarted,
    /// A transfer ended (value: [`EventValue::DialStatus`]).
    TransferResult,
    /// The caller was queued (value: [`EventValue::Queue`]).
    Queued,
    /// The caller left the queue (value: [`EventValue::QueueResult`]).
    QueueLeft,
    /// A voicemail was recorded (value: [`EventValue::Recording`]).
    Recorded,
    /// The flow hung up.
    FlowHangup,
    /// The caller hung up (tied to the node the caller was in).
    CallerHangup,
    /// The call record was closed (value: [`EventValue::Outcome`]).
    CallEnded,
    /// Something went wrong inside phonetree; the caller was sent to `on_fail` (value: [`EventValue::Reason`]).
    Fault,
}

impl EventKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallStarted => "call_started",
            EventKind::Entered => "entered",
            EventKind::Key => "key",
            EventKind::Invalid => "invalid",
            EventKind::NoInput => "no_input",
            EventKind::Input => "input",
            EventKind::Set => "set",
            EventKind::Answer => "answer",
            EventKind::RetriesExhausted => "retries_exhausted",
            EventKind::BudgetExhausted => "budget_exhausted",
            EventKind::LookupOk => "lookup_ok",
            EventKind::LookupError => "lookup_error",
            EventKind::TransferStarted => "transfer_started",
            EventKind::TransferResult => "transfer_result",
            EventKind::Queued => "queued",
            EventKind::QueueLeft => "queue_left",
            EventKind::Recorded => "recorded",
            EventKind::FlowHangup => "flow_hangup",
            EventKind::CallerHangup => "caller_hangup",
            EventKind::CallEnded => "call_ended",
            EventKind::Fault => "fault",
        }
    }
}

/// What a call-log event carries, by kind of event.
///
/// Stored as JSON in `call_events.value`, one key naming the variant:
/// `{"key":"1"}`, `{"set":{"name":"plan","value":"gold"}}`,
/// `{"recording":{"seconds":17,"url":"https://..."}}`. [`Display`](fmt::Display) gives the
/// plain text the log shows (`1`, `plan=gold`, `{"seconds":17,"url":"https://..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventValue {
    /// A key pressed at a menu, or an entry not accepted (`key`, `invalid`), masked when sensitive.
    Key(String),
    /// Digits an input accepted (`input`), masked when sensitive.
    Digits(String),
    /// A variable set (`set`), its value masked when sensitive.
    Set {
        /// The variable.
        name: String,
        /// What it was set to.
        value: String,
    },
    /// The caller's answer a menu or input stored (`answer`).
    Answer {
        /// The variable.
        name: String,
        /// The key or digits.
        value: String,
    },
    /// The way a branch took (`entered` of a branch): `open`, `closed`, `when 1`, `else`.
    Branch(String),
    /// The way a split sent the caller (`entered` of a split): the way's target.
    Way(String),
    /// Why something failed (`lookup_error`, `fault`).
    Reason(String),
    /// The step budget the call spent (`budget_exhausted`).
    Budget(u32),
    /// What a transfer dialed (`transfer_started`).
    Target(String),
    /// How a transfer ended (`transfer_result`).
    DialStatus(DialStatus),
    /// The queue the caller joined (`queued`).
    Queue(String),
    /// How the caller left the queue (`queue_left`).
    QueueResult(QueueResult),
    /// A voicemail (`recorded`).
    Recording {
        /// Seconds recorded.
        seconds: Option<u32>,
        /// Where the provider keeps it.
        url: Option<String>,
    },
    /// How the call ended (`call_ended`).
    Outcome(Outcome),
    /// The caller's number (`call_started`).
    Caller(String),
}

impl fmt::Display for EventValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventValue::Key(s)
            | EventValue::Digits(s)
            | EventValue::Branch(s)
            | EventValue::Way(s)
            | EventValue::Reason(s)
            | EventValue::Target(s)
            | EventValue::Queue(s)
            | EventValue::Caller(s) => f.write_str(s),
            EventValue::Set { name, value } | EventValue::Answer { name, value } => {
                write!(f, "{name}={value}")
            }
            EventValue::Budget(n) => write!(f, "{n}"),
            EventValue::DialStatus(d) => f.write_str(d.as_str()),
            EventValue::QueueResult(q) => f.write_str(q.as_str()),
            EventValue::Outcome(o) => f.write_str(o.as_str()),
            EventValue::Recording { seconds, url } => {
                let text = serde_json::json!({ "seconds": seconds, "url": url });
                write!(f, "{text}")
            }
        }
    }
}

/// One row of the call log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// The call.
    pub call_sid: String,
    /// Order within the call (1-based, gap-free).
    pub seq: u32,
    /// When.
    pub at: DateTime<Utc>,
    /// Flow id.
    pub flow: String,
    /// Flow set version.
    pub version: String,
    /// Node, when the event belongs to one.
    pub node: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// The key, value or reason, typed by what the event is.
    pub value: Option<EventValue>,
    /// Attempt at the node (1-based; 0 when not applicable).
    pub attempt: u32,
}

impl LogEvent {
    /// The value as the log shows it (see [`EventValue`]'s `Display`).
    pub fn value_text(&self) -> Option<String> {
        self.value.as_ref().map(ToString::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_objects_named_by_their_kind_and_read_as_plain_text() {
        let cases = [
            (EventValue::Key("1".into()), r#"{"key":"1"}"#, "1"),
            (
                EventValue::Digits("****".into()),
                r#"{"digits":"****"}"#,
                "****",
            ),
            (
                EventValue::Set {
                    name: "plan".into(),
                    value: "gold".into(),
                },
                r#"{"set":{"name":"plan","value":"gold"}}"#,
                "plan=gold",
            ),
            (
                EventValue::Branch("when 1".into()),
                r#"{"branch":"when 1"}"#,
                "when 1",
            ),
            (EventValue::Budget(50), r#"{"budget":50}"#, "50"),
            (
                EventValue::DialStatus(DialStatus::NoAnswer),
                r#"{"dial_status":"no-answer"}"#,
                "no-answer",
            ),
            (
                EventValue::QueueResult(QueueResult::BridgingInProcess),
                r#"{"queue_result":"bridging-in-process"}"#,
                "bridging-in-process",
            ),
            (
                EventValue::Recording {
                    seconds: Some(17),
                    url: None,
                },
                r#"{"recording":{"seconds":17,"url":null}}"#,
                r#"{"seconds":17,"url":null}"#,
            ),
            (
                EventValue::Outcome(Outcome::SelfService),
                r#"{"outcome":"self_service"}"#,
                "self_service",
            ),
            (
                EventValue::Caller("+1555".into()),
                r#"{"caller":"+1555"}"#,
                "+1555",
            ),
        ];
        for (value, json, text) in cases {
            assert_eq!(serde_json::to_string(&value).unwrap(), json);
            assert_eq!(serde_json::from_str::<EventValue>(json).unwrap(), value);
            assert_eq!(value.to_string(), text);
        }
    }
}
