//! The webhook server: axum routes for Twilio, recordings and health.
//!
//! [`run`] is handed its listener and a shutdown future, so tests bind port 0
//! and stop it cleanly; on shutdown, in-flight webhooks are drained.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::store::Store;

mod handlers;
pub mod metrics;
pub mod registry;
pub mod signature;
pub mod watch;

pub use registry::{FlowRegistry, LoadError};

/// The server's clock; tests pass a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Settings of a running server.
#[derive(Clone)]
pub struct ServerOptions {
    /// Base of every absolute URL phonetree writes (`https://ivr.example.com`), also the URL Twilio signs.
    pub public_url: String,
    /// Twilio auth token; when set, every `/twilio/*` request must carry a valid signature.
    pub auth_token: Option<String>,
    /// Time source for hours and the call log.
    pub clock: Clock,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    registry: Arc<FlowRegistry>,
    store: Arc<dyn Store>,
    options: ServerOptions,
    lookups: crate::lookup::LookupClient,
    metrics: metrics::Metrics,
    // Striped per-call locks: webhooks of one call (an action and a racing status
    // callback) are processed one at a time, so their log sequence numbers never clash.
    call_locks: Vec<tokio::sync::Mutex<()>>,
}

impl AppState {
    /// Builds the shared state.
    pub fn new(
        registry: Arc<FlowRegistry>,
        store: Arc<dyn Store>,
        options: ServerOptions,
    ) -> AppState {
        let call_locks = (0..256).map(|_| tokio::sync::Mutex::new(())).collect();
        AppState {
            inner: Arc::new(Shared {
                registry,
                store,
                options,
                lookups: crate::lookup::LookupClient::new(),
                metrics: metrics::Metrics::default(),
                call_locks,
            }),
        }
    }

    /// The flows being served.
    pub fn registry(&self) -> &Arc<FlowRegistry> {
        &self.inner.registry
    }
}

/// The routes, ready for `axum::serve` or `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let prompts = ServeDir::new(state.inner.registry.prompts_dir());
    Router::new()
        .route("/twilio/voice", any(handlers::voice))
        .route("/twilio/status", any(handlers::status))
        .route("/twilio/{resume}", any(handlers::resume))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .nest_service("/prompts", prompts)
        .fallback(handlers::not_found)
        .layer(CatchPanicLayer::custom(handlers::panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
