//! Filling `{placeholders}` from a call's session.

use crate::call::session::CallSession;
use crate::flow::{Segment, Template};

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

/// Renders a template; placeholders with no value render empty and are returned as missing.
pub fn render_template(template: &Template, session: &CallSession) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut missing = Vec::new();
    for seg in &template.segments {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Var { path, digits } => match lookup_var(session, path) {
                Some(v) if *digits => {
                    let spaced: Vec<String> = v
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .map(String::from)
                        .collect();
                    out.push_str(&spaced.join(" "));
                }
                Some(v) => out.push_str(&v),
                None => missing.push(path.clone()),
            },
        }
    }
    (out, missing)
}
