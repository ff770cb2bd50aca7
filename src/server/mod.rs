//! The webhook server: axum routes for Twilio, recordings and health.
//!
//! [`run`] is handed its listener and a shutdown future, so tests bind port 0
//! and stop it cleanly. Connections are served by hyper directly, so each one is
//! held to [`Timeouts`]: a client that trickles its headers or body is cut off,
//! and on shutdown the listener closes at once, in-flight webhooks are drained, and
//! connections still open at the deadline are dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::store::Store;

pub mod expiry;
mod handlers;
pub mod metrics;
pub mod registry;
mod settle;
pub mod signature;
pub mod watch;
pub mod webhook;

pub use registry::{FlowRegistry, LoadError};

/// The server's clock; tests pass a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Sets up the server's logging (`RUST_LOG`, else `info`) and returns the guard that keeps
/// it running: hold it until the server stops, and drop it to flush the last lines.
///
/// Lines go to stderr from a thread of its own, so a webhook does not wait on a write to the
/// terminal or a pipe. No line is dropped: once 128,000 lines are queued (a reader stuck
/// for long), logging waits for it. The lines queued when the thread wakes go out in one
/// write, flushed before it sleeps again: one write per line cost a system call per call
/// start under load.
pub fn log_to_stderr() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer)
        .try_init();
    guard
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
    /// How long a connection may keep phonetree waiting, and how long shutdown waits for them.
    pub timeouts: Timeouts,
}

/// How long phonetree waits on clients, and on itself when shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request's line and headers must arrive within this; an idle keep-alive connection
    /// is closed after it too.
    pub header_read: Duration,
    /// A request's whole body must arrive within this, counted from the end of its headers.
    pub body_read: Duration,
    /// After the shutdown signal, how long requests in flight may run before every
    /// connection still open is dropped.
    pub shutdown_deadline: Duration,
}

impl Default for Timeouts {
    /// Ten seconds each: Twilio sends a webhook in one go and gives up on an answer after 15 s.
    fn default() -> Timeouts {
        Timeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(15),
        }
    }
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
    /// Flows an admin closed, as last read from the store.
    closures: std::sync::RwLock<Arc<crate::call::Closures>>,
}

/// How often a server reads the flows admins closed (`phonetree close`) from the store.
pub const CLOSURE_REFRESH: Duration = Duration::from_secs(1);

impl AppState {
    /// Builds the shared state.
    pub fn new(
        registry: Arc<FlowRegistry>,
        store: Arc<dyn Store>,
        options: ServerOptions,
    ) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                registry,
                store,
                options,
                lookups: crate::lookup::LookupClient::new(),
                metrics: metrics::Metrics::default(),
                closures: Default::default(),
            }),
        }
    }

    /// The flows being served.
    pub fn registry(&self) -> &Arc<FlowRegistry> {
        &self.inner.registry
    }

    /// The server's settings.
    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
    }

    /// The flows admins closed, as last read from the store.
    pub fn closures(&self) -> Arc<crate::call::Closures> {
        self.inner
            .closures
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the closures from the store; on failure the last ones read stay.
    pub async fn refresh_closures(&self) {
        match self.inner.store.closures().await {
            Ok(rows) => {
                let closures = Arc::new(crate::call::Closures::new(rows));
                *self
                    .inner
                    .closures
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = closures;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading closed flows failed; keeping the last read")
            }
        }
    }

    /// Counts one occurrence in `/metrics`.
    pub fn count(&self, counter: metrics::Counter) {
        self.inner.metrics.add(counter, 1);
    }
}

/// The routes, ready for [`run`] or `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let prompts = ServeDir::new(state.inner.registry.prompts_dir());
    Router::new()
        .route("/twilio/voice", any(handlers::voice))
        .route("/twilio/status", any(handlers::status))
        .route("/twilio/{*resume}", any(handlers::resume))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .nest_service("/prompts", prompts)
        .fallback(handlers::not_found)
        .layer(CatchPanicLayer::custom(handlers::panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting, finishes the requests in flight,
/// and returns by the shutdown deadline whatever clients still hold open.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeouts = state.inner.options.timeouts;
    let body_read = timeouts.body_read;
    // Closures are read before the first call is answered, then every CLOSURE_REFRESH.
    state.refresh_closures().await;
    let refresher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CLOSURE_REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.refresh_closures().await;
            }
        })
    };
    let _stop_refreshing = AbortOnDrop(refresher);
    let service = hyper_util::service::TowerToHyperService::new(
        tower_http::map_request_body::MapRequestBody::new(
            router(state),
            move |body: hyper::body::Incoming| DeadlineBody::new(body, body_read),
        ),
    );
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper starts the header timer whenever it waits for a request head, so the same
    // limit closes keep-alive connections that sit idle.
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: wait for connections to close
                // instead of spinning on accept.
                tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = graceful
            .watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service.clone()));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        connections = connections.len(),
        "stopped accepting; finishing requests in flight"
    );
    let deadline = timeouts.shutdown_deadline;
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        while connections.try_join_next().is_some() {}
        tracing::warn!(
            connections = connections.len(),
            deadline = %crate::flow::duration::format_duration(deadline),
            "shutdown deadline passed; dropping the connections still open"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Errors of one connection that never reached the server; accepting goes on at once.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    /// The client had not sent the whole body when its time ran out.
    #[error("the request body did not arrive within {}", crate::flow::duration::format_duration(*.0))]
    TooSlow(Duration),
    /// The connection failed while the body was arriving.
    #[error("reading the request body: {0}")]
    Read(#[from] hyper::Error),
}

/// A request body that must have arrived whole by a deadline set when its headers were read:
/// a per-read timeout would let a client trickle one byte at a time forever.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = BodyReadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(BodyReadError::from)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadError::TooSlow(this.limit)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
