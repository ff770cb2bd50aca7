//! Forgetting the sessions of finished calls: their call log stays for analysis,
//! the state needed to answer their webhooks does not.

use std::sync::Arc;
use std::time::Duration;

use crate::server::Clock;
use crate::store::Store;

/// How often expired sessions are looked for.
const EVERY: Duration = Duration::from_secs(300);

/// Runs until the process ends: every few minutes, drops the sessions and stored answers
/// of calls that ended more than `ttl` ago. A late retry of such a call's webhook then
/// gets a defined answer (a call phonetree does not know) instead of its first one.
pub fn spawn_session_expiry(store: Arc<dyn Store>, ttl: Duration, clock: Clock) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let Ok(ttl) = chrono::Duration::from_std(ttl) else {
                return;
            };
            let before = clock() - ttl;
            match store.expire_sessions(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(calls = n, "expired the sessions of finished calls"),
                Err(e) => {
                    tracing::warn!(error = %e, "expiring sessions failed; trying again later")
                }
            }
        }
    });
}
