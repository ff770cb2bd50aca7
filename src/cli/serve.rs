//! `phonetree serve`: runtime, signals (SIGTERM drains, SIGHUP reloads, SIGXFSZ is
//! ignored) and logging.

use std::process::ExitCode;
use std::sync::Arc;

use super::ServeArgs;

pub(super) fn serve(mut args: ServeArgs) -> ExitCode {
    // Held until the process returns: dropping it writes out the lines still queued.
    let _log_writer = crate::server::log_to_stderr();
    // `TWILIO_AUTH_TOKEN=` in a unit file or a shell is a token left out, not a token that is
    // empty: it must not turn signature checks off on a public address.
    args.auth_token = args.auth_token.filter(|token| !token.trim().is_empty());
    if args.auth_token.is_none() && !args.listen.ip().is_loopback() && !args.insecure {
        eprintln!(
            "error: refusing to listen on {} without TWILIO_AUTH_TOKEN: anyone could drive calls. \
             Set the token, listen on loopback, or pass --insecure.",
            args.listen
        );
        return ExitCode::from(2);
    }
    if args.public_url.is_none() && !args.listen.ip().is_loopback() {
        eprintln!(
            "error: listening on {} needs --public-url: the URLs phonetree writes into TwiML must be \
             the address the provider reaches (e.g. https://ivr.example.com).",
            args.listen
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve_async(args: ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    ignore_file_size_signal();
    let registry =
        crate::server::FlowRegistry::load(args.project.flows.clone(), args.project.prompts.clone())
            .context("flows do not compile; run `phonetree check` for details")?;
    let store = crate::store::open_store(&args.store)
        .with_context(|| format!("opening store {}", crate::store::shown_url(&args.store)))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let set = registry.current();
    tracing::info!(listen = %local, public_url, version = set.version, flows = ?set.flows.keys().collect::<Vec<_>>(), "phonetree serving");
    let options = crate::server::ServerOptions {
        public_url,
        auth_token: args.auth_token.clone(),
        clock: crate::server::system_clock(),
        timeouts: crate::server::Timeouts {
            header_read: args.header_timeout,
            body_read: args.body_timeout,
            shutdown_deadline: args.shutdown_deadline,
        },
    };
    // Every version served is kept in the store, so calls finish on theirs after a restart
    // or on another server.
    let registry = Arc::new(registry.with_store(store.clone()).await);
    spawn_reload_on_hangup(registry.clone());
    // Held until the server stops: dropping it stops watching.
    let _watching = (!args.no_watch).then(|| crate::server::watch::watch_or_warn(registry.clone()));
    crate::server::expiry::spawn_session_expiry(
        store.clone(),
        args.session_ttl,
        options.clock.clone(),
    );
    let state = crate::server::AppState::new(registry, store, options);
    crate::server::run(listener, state, shutdown_signal()).await?;
    tracing::info!("drained; bye");
    Ok(())
}

/// Recompiles the flows on SIGHUP; a version that fails to compile leaves the last good one serving.
fn spawn_reload_on_hangup(registry: Arc<crate::server::FlowRegistry>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            let registry = registry.clone();
            // Compiling reads files: keep it off the async workers.
            let result = tokio::task::spawn_blocking(move || registry.reload()).await;
            match result {
                Ok(Ok(set)) => tracing::info!(version = set.version, "flows reloaded"),
                Ok(Err(e)) => {
                    tracing::error!("reload failed, still serving the last good version: {e}")
                }
                Err(e) => tracing::error!("reload task failed: {e}"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = registry;
}

/// Keeps SIGXFSZ from killing the process: past a file-size limit (`ulimit -f`) a write then
/// fails with EFBIG, the store reports the error and calls go on being answered.
///
/// A registered listener replaces the signal's default action (terminate) for the whole
/// process; the task keeps it registered for as long as the runtime runs.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            Ok(mut file_size) => {
                tokio::spawn(async move {
                    // Once is enough: the store logs every write that fails.
                    if file_size.recv().await.is_some() {
                        tracing::warn!(
                            "a write went past the file-size limit (ulimit -f); it failed instead"
                        );
                    }
                    while file_size.recv().await.is_some() {}
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot ignore SIGXFSZ"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing webhooks in flight");
}
