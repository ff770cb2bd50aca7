//! Filling `{placeholders}` from a call's session.

use crate::call::session::CallSession;
use crate::flow::{Reading, Segment, Template};

/// The text of a variable (dotted paths reach into lookup answers); `None` when unset.
pub fn lookup_var(session: &CallSession, path: &str) -> Option<String> {
    match path {
        "caller" => return Some(session.caller.clone()),
        "called" => return Some(session.called.clone()),
        "language" => return Some(session.language.clone()),
        "call_sid" => return Some(session.call_sid.clone()),
        _ => {}
    }
    let mut parts = path.split('.');
    let mut value = session.vars.get(parts.next()?)?;
    for part in parts {
        value = match value {
            serde_json::Value::Object(map) => map.get(part)?,
            serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Bytes escaped in a URL component: all but RFC 3986's unreserved characters, so a value
/// can never add a path segment, a query parameter or a fragment.
pub const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value that cannot go into a lookup URL's path safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{{{0}}}` holds `/`, `\\` or `..`, which a server in front of the lookup could read as a path"
)]
pub struct UnsafeUrlValue(pub String);

/// Renders a lookup URL template: every value is percent-encoded for the part of the URL it
/// lands in (host, path segment, query value, fragment). In the path, a value holding `/`,
/// `\` or `..` is refused: URL parsers resolve `..` even when encoded, and proxies in front
/// of a CRM often decode `%2F` before routing.
pub fn render_url_template(
    template: &Template,
    session: &CallSession,
) -> Result<(String, Vec<String>), UnsafeUrlValue> {
    #[derive(Clone, Copy, PartialEq)]
    enum Part {
        Authority,
        Path,
        Query,
    }
    let mut part = Part::Authority;
    let mut out = String::new();
    let mut missing = Vec::new();
    for seg in &template.segments {
        match seg {
            Segment::Text(t) => {
                out.push_str(t);
                // Where the next value lands: the template's own text decides.
                let mut rest = t.as_str();
                while let Some(i) = rest.find(['/', '?', '#']) {
                    let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
                    part = match (part, c) {
                        (Part::Authority, b'/')
                            if rest[..i].ends_with(':') && after.starts_with('/') =>
                        {
                            // `scheme://`: the authority follows.
                            rest = &after[1..];
                            continue;
                        }
                        (Part::Authority, b'/') => Part::Path,
                        (Part::Authority | Part::Path, b'?') | (_, b'#') => Part::Query,
                        (p, _) => p,
                    };
                    rest = after;
                }
            }
            Segment::Var { path, reading } => match lookup_var(session, path) {
                Some(v) => {
                    let v = if *reading == Reading::Digits {
                        spaced_digits(&v)
                    } else {
                        v
                    };
                    if part == Part::Path
                        && (v.contains(['/', '\\']) || v.contains("..") || v == ".")
                    {
                        return Err(UnsafeUrlValue(path.clone()));
                    }
                    out.extend(percent_encoding::utf8_percent_encode(&v, URL_COMPONENT));
                }
                None => missing.push(path.clone()),
            },
        }
    }
    Ok((out, missing))
}

pub(crate) fn spaced_digits(v: &str) -> String {
    let spaced: Vec<String> = v
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(String::from)
        .collect();
    spaced.join(" ")
}

/// Renders a template; placeholders with no value render empty and are returned as missing.
pub fn render_template(template: &Template, session: &CallSession) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut missing = Vec::new();
    for seg in &template.segments {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Var { path, reading } => match lookup_var(session, path) {
                Some(v) if *reading == Reading::Digits => out.push_str(&spaced_digits(&v)),
                Some(v) => out.push_str(&v),
                None => missing.push(path.clone()),
            },
        }
    }
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::template::parse_template;

    fn session(caller: &str) -> CallSession {
        let mut s = CallSession {
            call_sid: "CA1".into(),
            flow: "f".into(),
            version: "v".into(),
            caller: caller.into(),
            called: "+15550002".into(),
            language: "en".into(),
            vars: Default::default(),
            sensitive: vec![],
            menu_stack: vec![],
            state: crate::call::CallState::Starting,
            steps: 0,
            started_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
            seq: 0,
            pressed_leave_key: false,
        };
        s.vars
            .insert("acct".into(), serde_json::json!({"id": "a b&c=d"}));
        s
    }

    fn url(template: &str, caller: &str) -> Result<String, UnsafeUrlValue> {
        let t = parse_template(template).unwrap();
        render_url_template(&t, &session(caller)).map(|(u, _)| u)
    }

    /// Regression: `From=../../admin?evil=1#` turned `/accounts/{caller}` into `GET /admin?evil=1`.
    #[test]
    fn caller_values_cannot_leave_their_url_component() {
        assert_eq!(
            url(
                "http://crm:9000/accounts/{caller}?who={caller}",
                "+1 555?evil=1&x#"
            )
            .unwrap(),
            "http://crm:9000/accounts/%2B1%20555%3Fevil%3D1%26x%23?who=%2B1%20555%3Fevil%3D1%26x%23"
        );
        assert_eq!(
            url("http://crm:9000/a?who={caller}", "../../admin?evil=1#").unwrap(),
            "http://crm:9000/a?who=..%2F..%2Fadmin%3Fevil%3D1%23"
        );
        assert_eq!(
            url("https://crm/a?q={acct.id}#{caller}", "+1 555").unwrap(),
            "https://crm/a?q=a%20b%26c%3Dd#%2B1%20555"
        );
        assert_eq!(
            url("https://{caller}.crm.example/x", "evil.com/").unwrap(),
            "https://evil.com%2F.crm.example/x"
        );
        assert_eq!(
            url("127.0.0.1:9000/accounts/{caller}", "123").unwrap(),
            "127.0.0.1:9000/accounts/123"
        );
    }

    #[test]
    fn path_values_that_a_proxy_could_read_as_a_path_are_refused() {
        for dots in [".", "..", "../../admin", "a/b", "a\\b", "x..y"] {
            assert_eq!(
                url("http://crm/accounts/{caller}/x", dots),
                Err(UnsafeUrlValue("caller".into()))
            );
        }
        // In a query value dots are just text.
        assert_eq!(
            url("http://crm/a?x={caller}", "..").unwrap(),
            "http://crm/a?x=.."
        );
    }
}
