//! Reading a provider request: the form, the continuation query, the signature
//! check and the CallSid, as one extractor ([`Webhook`]) whose rejection
//! ([`WebhookError`]) is itself a TwiML answer.

use std::fmt;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::server::AppState;
use crate::server::metrics::Counter;
use crate::server::signature::signature_matches;
use crate::twiml::empty_response;

/// Largest webhook body accepted; Twilio's are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// A TwiML answer with the headers every provider answer carries.
pub fn xml(status: StatusCode, body: String) -> Response {
    let length = body.len();
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    resp
}

/// A provider call id: `CA` followed by 32 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSid(String);

impl CallSid {
    /// Accepts only what a Twilio CallSid looks like.
    pub fn parse(s: &str) -> Option<CallSid> {
        let hex = s.strip_prefix("CA")?;
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| CallSid(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request is not a webhook phonetree can answer for a call. Each is a
/// request that cannot belong to a real call, so it keeps its 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The body is larger than [`MAX_BODY`].
    #[error("request body over {MAX_BODY} bytes")]
    TooLarge,
    /// The body did not arrive within the body timeout.
    #[error("request body did not arrive in time")]
    TooSlow,
    /// The body could not be read (the connection failed).
    #[error("request body could not be read")]
    Unreadable,
    /// A token is configured and the signature is missing or wrong.
    #[error("bad or missing X-Twilio-Signature")]
    BadSignature,
    /// No `CallSid` parameter.
    #[error("no CallSid")]
    NoCallSid,
    /// A `CallSid` that is not `CA` + 32 hex digits.
    #[error("CallSid is not CA followed by 32 hex digits")]
    BadCallSid,
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match self {
            WebhookError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            WebhookError::BadSignature => StatusCode::FORBIDDEN,
            WebhookError::Unreadable | WebhookError::NoCallSid | WebhookError::BadCallSid => {
                StatusCode::BAD_REQUEST
            }
        };
        xml(status, empty_response())
    }
}

/// A provider request, read and (when a token is configured) verified.
#[derive(Debug)]
pub struct Webhook {
    /// The form parameters (the POST body, or the query of a GET webhook), in arrival order.
    pub params: Vec<(String, String)>,
    /// The URL's raw query (the continuation phonetree wrote), without `?`.
    pub query: String,
    /// The call: a request without a well-formed one is not a webhook.
    pub call_sid: CallSid,
}

impl Webhook {
    /// The first value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Identifies a request so a retried delivery gets the same answer: the route, the
    /// query and every parameter.
    ///
    /// `Digits` is left out: a continuation URL names one wait of one call (its visit token),
    /// which the provider answers once, and a hash of a short PIN could be reversed by trying
    /// every PIN.
    pub fn fingerprint(&self, route: &str) -> String {
        let mut params: Vec<&(String, String)> =
            self.params.iter().filter(|(k, _)| k != "Digits").collect();
        params.sort();
        let mut h = Sha256::new();
        h.update(route.as_bytes());
        h.update([2]);
        h.update(self.query.as_bytes());
        for (k, v) in params {
            h.update([0]);
            h.update(k.as_bytes());
            h.update([1]);
            h.update(v.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}

impl FromRequest<AppState> for Webhook {
    type Rejection = WebhookError;

    async fn from_request(req: Request, state: &AppState) -> Result<Webhook, WebhookError> {
        let (parts, body) = req.into_parts();
        let query = parts.uri.query().unwrap_or("").to_owned();
        // `to_bytes` stops reading as soon as the limit is passed.
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| body_error(&e))?;
        let get = parts.method == Method::GET;
        let params: Vec<(String, String)> = if get {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        } else {
            form_urlencoded::parse(&bytes).into_owned().collect()
        };
        let options = state.options();
        if let Some(token) = &options.auth_token {
            let url = format!(
                "{}{}",
                options.public_url.trim_end_matches('/'),
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let signed: &[(String, String)] = if get { &[] } else { &params };
            let signature = parts
                .headers
                .get("x-twilio-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !signature_matches(token, &url, signed, signature) {
                // The path only: a GET webhook's query carries the caller's keys.
                tracing::warn!(
                    path = %LogSafe(parts.uri.path()),
                    "rejected a request with a bad or missing X-Twilio-Signature"
                );
                state.count(Counter::SignatureRejected);
                return Err(WebhookError::BadSignature);
            }
        }
        let call_sid = match params.iter().find(|(k, _)| k == "CallSid") {
            None => return Err(WebhookError::NoCallSid),
            Some((_, v)) => CallSid::parse(v).ok_or(WebhookError::BadCallSid)?,
        };
        Ok(Webhook {
            params,
            query,
            call_sid,
        })
    }
}

/// Why reading a body failed, from the error chain `to_bytes` returns.
fn body_error(e: &axum::Error) -> WebhookError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return WebhookError::TooLarge;
        }
        if let Some(crate::server::BodyReadError::TooSlow(_)) = s.downcast_ref() {
            return WebhookError::TooSlow;
        }
        source = s.source();
    }
    WebhookError::Unreadable
}

/// Text from a request, fit for one log line: control characters (newline, ESC, ...)
/// and bidirectional overrides are written as `\u{..}` escapes, so a value cannot
/// forge a line or recolour a terminal.
pub struct LogSafe<'a>(pub &'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            let unsafe_char = c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}');
            if unsafe_char {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            } else if c == '\\' {
                f.write_str("\\\\")?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_sids_must_look_like_twilio_ones() {
        assert!(CallSid::parse("CA0123456789abcdef0123456789ABCDEF").is_some());
        for bad in [
            "",
            "CA",
            "CA-spanish",
            "CA0123456789abcdef0123456789abcde",
            "CA0123456789abcdef0123456789abcdef0",
            "CA0123456789abcdef0123456789abcdeg",
            "XX0123456789abcdef0123456789abcdef",
            "CA0123456789abcdef0123456789abcd\nf",
        ] {
            assert!(CallSid::parse(bad).is_none(), "{bad:?}");
        }
    }

    /// Regression: a CallSid or node name with a newline forged a log line.
    #[test]
    fn log_safe_text_stays_on_one_line() {
        let forged = "x\n2026-12-01T00:00:00Z  INFO forged\u{1b}[31m\u{202e}\\";
        let shown = LogSafe(forged).to_string();
        assert!(!shown.contains('\n') && !shown.contains('\u{1b}') && !shown.contains('\u{202e}'));
        assert_eq!(
            shown,
            "x\\u{a}2026-12-01T00:00:00Z  INFO forged\\u{1b}[31m\\u{202e}\\\\"
        );
        assert_eq!(LogSafe("Ünïcödé 한국어").to_string(), "Ünïcödé 한국어");
    }
}
