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

/// Reads a timestamp written by [`ts`]; any other RFC 3339 text too.
pub(super) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Some(t) = parse_ts_millis(s.as_bytes()) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

/// The exact form [`ts`] writes, `YYYY-MM-DDTHH:MM:SS.mmmZ`, read without a general
/// parser; `None` for anything else (another form, a leap second, a date that does not
/// exist), which [`parse_ts`] leaves to chrono.
pub(super) fn parse_ts_millis(b: &[u8]) -> Option<DateTime<Utc>> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        i0,
        i1,
        b':',
        s0,
        s1,
        b'.',
        f0,
        f1,
        f2,
        b'Z',
    ] = b
    else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let number = |cs: &[u8]| cs.iter().try_fold(0, |n, &c| Some(n * 10 + digit(c)?));
    let year = number(&[y0, y1, y2, y3])?;
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        number(&[m0, m1])?,
        number(&[d0, d1])?,
    )?;
    let time = date.and_hms_milli_opt(
        number(&[h0, h1])?,
        number(&[i0, i1])?,
        number(&[s0, s1])?,
        number(&[f0, f1, f2])?,
    )?;
    Some(time.and_utc())
}

/// Decodes a stored enum name through its serde (snake_case) name.
pub(super) fn parse_name<T: DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s))
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
pub(super) fn decode_value(text: Option<&str>) -> Result<Option<EventValue>, StoreError> {
    text.map(|t| {
        if let Some(value) = decode_plain_value(t) {
            return Ok(value);
        }
        serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("event value `{t}`: {e}")))
    })
    .transpose()
}

/// The shapes [`encode_value`] writes most, read without a general parser:
/// `{"key":"1"}` (any variant holding one string or a unit enum) and
/// `{"answer":{"name":"csat","value":"5"}}` (`answer`, `set`), with strings that need no
/// escaping. `None` for anything else, which serde reads (and judges).
fn decode_plain_value(t: &str) -> Option<EventValue> {
    /// Text that reads as itself inside JSON quotes.
    fn plain(s: &str) -> Option<&str> {
        (!s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)).then_some(s)
    }
    fn named<T: DeserializeOwned>(s: &str) -> Option<T> {
        parse_name("", s).ok()
    }
    let body = t.strip_prefix("{\"")?.strip_suffix('}')?;
    let end = body.find('"')?;
    let (variant, rest) = (&body[..end], body[end + 1..].strip_prefix(':')?);
    if let Some(s) = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .and_then(plain)
    {
        let owned = || s.to_owned();
        return Some(match variant {
            "key" => EventValue::Key(owned()),
            "digits" => EventValue::Digits(owned()),
            "branch" => EventValue::Branch(owned()),
            "reason" => EventValue::Reason(owned()),
            "target" => EventValue::Target(owned()),
            "queue" => EventValue::Queue(owned()),
            "caller" => EventValue::Caller(owned()),
            "dial_status" => EventValue::DialStatus(named(s)?),
            "queue_result" => EventValue::QueueResult(named(s)?),
            "outcome" => EventValue::Outcome(named(s)?),
            _ => return None,
        });
    }
    // {"name":"..","value":".."}: a plain name holds no quote, so the first one ends it.
    let fields = rest.strip_prefix("{\"name\":\"")?.strip_suffix("\"}")?;
    let end = fields.find('"')?;
    let name = plain(&fields[..end])?.to_owned();
    let value = plain(fields[end..].strip_prefix("\",\"value\":\"")?)?.to_owned();
    match variant {
        "answer" => Some(EventValue::Answer { name, value }),
        "set" => Some(EventValue::Set { name, value }),
        _ => None,
    }
}

/// A range read's statement (all flows, or one) and its parameters: the two start bounds
/// (`?1`/`$1`, `?2`/`$2`), then the flow when there is one (`?3`/`$3`).
pub(super) fn range_query(
    range: &super::CallRange,
    all_flows: &'static str,
    one_flow: &'static str,
) -> (&'static str, Vec<String>) {
    let mut params = vec![ts(range.from), ts(range.to)];
    match &range.flow {
        None => (all_flows, params),
        Some(flow) => {
            params.push(flow.clone());
            (one_flow, params)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_back_as_chrono_reads_them() {
        for text in [
            "2026-11-24T15:00:00.000Z",
            "2026-11-24T15:00:01.250Z",
            "1970-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2028-02-29T12:34:56.789Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_ts_millis(text.as_bytes()), Some(chrono), "{text}");
            assert_eq!(parse_ts(text).unwrap(), chrono);
            assert_eq!(ts(chrono), text);
        }
    }

    #[test]
    fn other_timestamp_forms_are_left_to_chrono() {
        for text in [
            "2026-11-24T10:00:00-05:00",
            "2026-11-24T15:00:00Z",
            "2026-11-24T15:00:00.5Z",
            "2026-11-24t15:00:00.000z",
            "2016-12-31T23:59:60.000Z",
        ] {
            assert_eq!(parse_ts_millis(text.as_bytes()), None, "{text}");
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_ts(text).unwrap(), chrono, "{text}");
        }
        for bad in [
            "2026-02-30T15:00:00.000Z",
            "2026-13-01T15:00:00.000Z",
            "2026-11-24T24:00:00.000Z",
            "2026-11-24T15:00:00.00xZ",
            "+026-11-24T15:00:00.000Z",
            "",
        ] {
            assert_eq!(parse_ts_millis(bad.as_bytes()), None, "{bad}");
            assert!(
                matches!(parse_ts(bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn values_read_back_as_serde_reads_them() {
        use crate::call::{DialStatus, Outcome, QueueResult};
        let written = [
            EventValue::Key("1".into()),
            EventValue::Key("*".into()),
            EventValue::Digits("123456#".into()),
            EventValue::Branch("when 1".into()),
            EventValue::Reason("timed out after 2 s".into()),
            EventValue::Target("+14155550100".into()),
            EventValue::Queue("support".into()),
            EventValue::Caller("+15550001".into()),
            EventValue::DialStatus(DialStatus::NoAnswer),
            EventValue::QueueResult(QueueResult::BridgingInProcess),
            EventValue::Outcome(Outcome::SelfService),
            EventValue::Answer {
                name: "csat".into(),
                value: "5".into(),
            },
            EventValue::Set {
                name: "language".into(),
                value: "fa".into(),
            },
            EventValue::Set {
                name: "note".into(),
                value: "say \"hi\", then \\ and \u{1}".into(),
            },
            EventValue::Key("é,\"value\":".into()),
            EventValue::Budget(50),
            EventValue::Recording {
                seconds: Some(17),
                url: None,
            },
        ];
        for value in written {
            let text = encode_value(Some(&value)).unwrap().unwrap();
            assert_eq!(decode_value(Some(&text)).unwrap(), Some(value), "{text}");
        }
        for text in [
            r#"{"key":"1"}"#,
            r#"{"set":{"name":"a","value":"b"}}"#,
            r#"{"answer":{"name":"a","value":"b"}}"#,
            r#"{"answer":{"value":"b","name":"a"}}"#,
            r#"{ "key" : "1" }"#,
            r#"{"key":"tab\there"}"#,
            "{\"key\":\"tab\there\"}",
            r#"{"key":"1","digits":"2"}"#,
            r#"{"dial_status":"engaged"}"#,
            r#"{"outcome":"voicemail"}"#,
            r#"{"bogus":"1"}"#,
            r#"{"set":{"name":"a","value":"b","x":"c"}}"#,
            r#"{"key":1}"#,
            r#"{"key":"1"#,
            "",
        ] {
            let serde: Result<EventValue, _> = serde_json::from_str(text);
            match (decode_value(Some(text)), serde) {
                (Ok(Some(ours)), Ok(theirs)) => assert_eq!(ours, theirs, "{text}"),
                (Err(StoreError::Corrupt(_)), Err(_)) => {}
                (ours, theirs) => panic!("{text}: {ours:?} but serde says {theirs:?}"),
            }
        }
    }

    #[test]
    fn names_read_back_by_their_serde_names() {
        use crate::call::{EventKind, Outcome};
        assert_eq!(
            parse_name::<EventKind>("event kind", "retries_exhausted").unwrap(),
            EventKind::RetriesExhausted
        );
        assert_eq!(
            parse_name::<Outcome>("outcome", "self_service").unwrap(),
            Outcome::SelfService
        );
        let Err(StoreError::Corrupt(why)) = parse_name::<EventKind>("event kind", "bogus") else {
            panic!("`bogus` is no event kind");
        };
        assert!(
            why.starts_with("unknown event kind: unknown variant `bogus`"),
            "{why}"
        );
    }
}
