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
            .redirect(reqwest::redirect::Policy::limited(3))
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
            let bytes = resp.bytes().await.map_err(|e| describe(&e))?;
            if bytes.len() > MAX_ANSWER_BYTES {
                return Err("answer too large".into());
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

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_decode() || e.is_body() {
        "bad answer".into()
    } else {
        "request failed".into()
    }
}
