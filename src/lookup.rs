//! Performs the HTTP lookups a call step asks for (a CRM answering JSON).
//!
//! Lookups are the only I/O inside a call step; each is bounded by its own
//! timeout and all of one webhook's lookups by [`WEBHOOK_LOOKUP_BUDGET`], so the
//! provider's 15 s webhook limit is never reached.

use std::time::{Duration, Instant};

use crate::call::{LookupOutcome, LookupRequest};
use crate::flow::LookupMethod;

/// Total lookup time one webhook may spend, whatever the nodes say.
pub const WEBHOOK_LOOKUP_BUDGET: Duration = Duration::from_secs(10);

/// Largest answer accepted.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Makes lookup requests; cheap to clone.
#[derive(Clone)]
pub struct LookupClient {
    http: reqwest::Client,
}

impl Default for LookupClient {
    fn default() -> Self {
        LookupClient::new()
    }
}

impl LookupClient {
    /// A client with no default timeout (each request brings its own) and no redirects to other hosts.
    pub fn new() -> LookupClient {
        let http = reqwest::Client::builder()
            .redirect(same_origin_redirects())
            .user_agent(concat!("phonetree/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        LookupClient { http }
    }

    /// Performs a lookup within its timeout and what is left of `deadline`.
    pub async fn perform(&self, req: &LookupRequest, deadline: Instant) -> LookupOutcome {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = req.timeout.min(left);
        if timeout.is_zero() {
            return LookupOutcome::Failed("webhook time budget spent".into());
        }
        let builder = match req.method {
            LookupMethod::Get => self.http.get(&req.url),
            LookupMethod::Post => self.http.post(&req.url).json(&req.body),
        };
        let request = async {
            let resp = builder
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("http {}", status.as_u16()));
            }
            // Read chunk by chunk and stop at the limit: a CRM (or whoever answers in its
            // place) cannot make phonetree buffer more than that.
            if resp
                .content_length()
                .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
            {
                return Err("answer too large".into());
            }
            let mut resp = resp;
            let mut bytes = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
                if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err("answer too large".into());
                }
                bytes.extend_from_slice(&chunk);
            }
            serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|_| "bad json".to_owned())
        };
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(json)) => LookupOutcome::Answer(json),
            Ok(Err(reason)) => LookupOutcome::Failed(reason),
            Err(_) => LookupOutcome::Failed("timeout".into()),
        }
    }
}

/// At most three redirects, each to the scheme, host and port of the lookup's own URL: a
/// CRM answer cannot send phonetree (and the caller's data in a POST body) elsewhere.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let same = first.scheme() == attempt.url().scheme()
            && first.host_str() == attempt.url().host_str()
            && first.port_or_known_default() == attempt.url().port_or_known_default();
        if !same {
            attempt.error("redirect to another host")
        } else if attempt.previous().len() > 3 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_redirect() {
        "redirect refused".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_decode() || e.is_body() {
        "bad answer".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;

    use super::*;
    use crate::call::At;
    use crate::flow::NodeId;

    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    async fn get_url(url: String) -> LookupOutcome {
        let req = LookupRequest {
            at: At {
                node: NodeId(0),
                attempt: 1,
                visit: 0,
            },
            url,
            method: LookupMethod::Get,
            timeout: Duration::from_secs(5),
            body: None,
        };
        LookupClient::new()
            .perform(&req, Instant::now() + Duration::from_secs(5))
            .await
    }

    /// Regression: the answer was buffered whole before its size was checked, so an endless
    /// answer ran until the timeout.
    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_limit() {
        let app = Router::new().route(
            "/endless",
            get(|| async {
                let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
                let endless = futures_util::stream::repeat_with(move || {
                    Ok::<_, std::io::Error>(chunk.clone())
                });
                Body::from_stream(endless).into_response()
            }),
        );
        let base = serve(app).await;
        assert_eq!(
            get_url(format!("{base}/endless")).await,
            LookupOutcome::Failed("answer too large".into())
        );
    }

    #[tokio::test]
    async fn redirects_stay_on_the_lookups_host() {
        let app = Router::new()
            .route("/here", get(|| async { Redirect::temporary("/answer") }))
            .route(
                "/away",
                get(|| async { Redirect::temporary("http://127.0.0.2:9/answer") }),
            )
            .route(
                "/answer",
                get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
            );
        let base = serve(app).await;
        assert_eq!(
            get_url(format!("{base}/here")).await,
            LookupOutcome::Answer(serde_json::json!({"ok": true}))
        );
        assert_eq!(
            get_url(format!("{base}/away")).await,
            LookupOutcome::Failed("redirect refused".into())
        );
    }
}
