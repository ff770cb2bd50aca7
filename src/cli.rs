//! The command line: `phonetree check|schema|...`.
//!
//! Exit codes: 0 success (warnings allowed), 1 the answer is "no" (errors in
//! flows, failing scenarios), 2 trouble (bad usage, unreadable directories).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::flow;

/// phonetree: an IVR engine for phone menus described in YAML.
#[derive(Debug, Parser)]
#[command(name = "phonetree", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile flows and prompts; print every error and warning.
    Check(CheckArgs),
    /// Print the JSON Schema of flow files (for yaml-language-server).
    Schema,
    /// Answer Twilio voice webhooks for the flows.
    Serve(ServeArgs),
}

/// `phonetree serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where flows and prompts live.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Address to listen on.
    #[arg(long, env = "PHONETREE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Where sessions and the call log are kept.
    #[arg(long, env = "PHONETREE_STORE", default_value = "sqlite://phonetree.db")]
    pub store: String,
    /// Public base URL of this server, as Twilio reaches it (absolute URLs, signature checks).
    #[arg(long, env = "PHONETREE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Twilio auth token: when set, every webhook's X-Twilio-Signature is checked.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Listen on a non-loopback address without a token (signatures unchecked).
    #[arg(long, env = "PHONETREE_INSECURE")]
    pub insecure: bool,
}

/// Where flows and prompts live.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectArgs {
    /// Directory of flow files.
    #[arg(long, env = "PHONETREE_FLOWS", default_value = "flows")]
    pub flows: PathBuf,
    /// Directory of prompt catalogs and recordings.
    #[arg(long, env = "PHONETREE_PROMPTS", default_value = "prompts")]
    pub prompts: PathBuf,
}

/// `phonetree check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Flow files or directories (default: the flows directory).
    pub paths: Vec<PathBuf>,
    /// Where flows and prompts live.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Serve(args) => serve(args),
        Command::Schema => {
            let text = serde_json::to_string_pretty(&flow::json_schema()).unwrap_or_default();
            println!("{text}");
            ExitCode::SUCCESS
        }
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    let paths = if args.paths.is_empty() {
        vec![args.project.flows.clone()]
    } else {
        args.paths.clone()
    };
    let compiled = match flow::compile_paths(&paths, &args.project.prompts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut err = std::io::stderr().lock();
    for d in &compiled.diagnostics {
        let _ = writeln!(err, "{d}");
    }
    let errors = compiled.error_count();
    let warnings = compiled.diagnostics.len() - errors;
    match &compiled.flows {
        Some(set) => {
            let nodes: usize = set.flows.values().map(|f| f.nodes.len()).sum();
            let _ = writeln!(
                err,
                "ok: {} flow(s), {nodes} node(s), version {}{}",
                set.flows.len(),
                set.version,
                if warnings > 0 {
                    format!(", {warnings} warning(s)")
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        None => {
            let _ = writeln!(err, "error: {errors} error(s), {warnings} warning(s)");
            ExitCode::from(1)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    init_tracing();
    if args.auth_token.is_none() && !args.listen.ip().is_loopback() && !args.insecure {
        eprintln!(
            "error: refusing to listen on {} without TWILIO_AUTH_TOKEN: anyone could drive calls. \
             Set the token, listen on loopback, or pass --insecure.",
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
    let registry =
        crate::server::FlowRegistry::load(args.project.flows.clone(), args.project.prompts.clone())
            .context("flows do not compile; run `phonetree check` for details")?;
    let store = crate::store::open_store(&args.store)
        .with_context(|| format!("opening store {}", args.store))?;
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
    };
    let state = crate::server::AppState::new(std::sync::Arc::new(registry), store, options);
    crate::server::run(listener, state, shutdown_signal()).await?;
    tracing::info!("drained; bye");
    Ok(())
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
    tracing::info!("shutting down: finishing webhooks in flight");
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
