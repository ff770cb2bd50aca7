//! The command line: `phonetree check|schema|...`.
//!
//! Exit codes: 0 success (warnings allowed), 1 the answer is "no" (errors in
//! flows, failing scenarios), 2 trouble (bad usage, unreadable directories).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::sync::Arc;

use crate::flow::{self, Flow, FlowSet};

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
    /// Draw a flow as a diagram.
    Graph(GraphArgs),
    /// A call in the terminal: hear the flow, press keys, see the path.
    Simulate(SimulateArgs),
    /// Run the flows' `*.test.yaml` scenarios.
    Test(TestArgs),
}

/// `phonetree test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Scenario files or directories (default: the flows directory).
    pub paths: Vec<PathBuf>,
    /// Where flows and prompts live.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `phonetree simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Flow id, or the path of a flow file.
    pub flow: String,
    /// Scripted input, comma separated: keys per prompt, empty for silence, `h` to hang up;
    /// at a transfer a dial status (`no-answer`), at a voicemail the seconds recorded.
    #[arg(long, allow_hyphen_values = true)]
    pub keys: Option<String>,
    /// When the call happens (RFC 3339, e.g. 2026-11-24T10:00:00-05:00); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Language to start in (default: the flow's first).
    #[arg(long)]
    pub lang: Option<String>,
    /// Caller number.
    #[arg(long, default_value = "+15550100000")]
    pub caller: String,
    /// Answer lookup NODE with the JSON in FILE instead of calling its URL (repeatable).
    #[arg(long = "mock-lookup", value_name = "NODE=FILE.json")]
    pub mock_lookup: Vec<String>,
    /// Where flows and prompts live.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// Diagram formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Mermaid flowchart (renders on GitHub).
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// `phonetree graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Flow id, or the path of a flow file.
    pub flow: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: GraphFormat,
    /// Where flows and prompts live.
    #[command(flatten)]
    pub project: ProjectArgs,
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
    #[arg(long, env = "PHONETREE_INSECURE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
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
        Command::Graph(args) => graph(&args),
        Command::Simulate(args) => simulate(&args),
        Command::Test(args) => run_scenarios(&args),
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
    let registry = Arc::new(registry);
    spawn_reload_on_hangup(registry.clone());
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Compiles the project and picks one flow by id or file path; prints diagnostics on failure.
fn load_flow(project: &ProjectArgs, which: &str) -> Result<(Arc<FlowSet>, Arc<Flow>), ExitCode> {
    let as_path = std::path::Path::new(which);
    let flows_dir = if as_path.is_file() {
        as_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| project.flows.clone())
    } else {
        project.flows.clone()
    };
    let compiled = match flow::compile_paths(&[flows_dir], &project.prompts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let Some(set) = compiled.flows else {
        for d in compiled.diagnostics.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
        eprintln!("error: the flows do not compile; see `phonetree check`");
        return Err(ExitCode::from(1));
    };
    let found = set.get(which).cloned().or_else(|| {
        set.flows
            .values()
            .find(|f| as_path.is_file() && same_file(&f.source, as_path))
            .cloned()
    });
    match found {
        Some(f) => Ok((Arc::new(set), f)),
        None => {
            let ids: Vec<&str> = set.flows.keys().map(String::as_str).collect();
            let hint =
                flow::diagnostic::did_you_mean(which, ids.iter().copied()).unwrap_or_default();
            eprintln!(
                "error: no flow `{which}` (flows: {}) {hint}",
                ids.join(", ")
            );
            Err(ExitCode::from(2))
        }
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn graph(args: &GraphArgs) -> ExitCode {
    let (_, flow) = match load_flow(&args.project, &args.flow) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let text = match args.format {
        GraphFormat::Mermaid => crate::tools::graph::render_mermaid(&flow),
        GraphFormat::Dot => crate::tools::graph::render_dot(&flow),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

fn simulate(args: &SimulateArgs) -> ExitCode {
    use crate::call::LookupOutcome;
    use crate::tools::driver::CannedLookups;
    use crate::tools::simulate::{SimulateOptions, parse_keys, parse_time};
    let (set, flow) = match load_flow(&args.project, &args.flow) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let at = match &args.at {
        None => chrono::Utc::now(),
        Some(text) => match parse_time(text) {
            Some(t) => t,
            None => {
                eprintln!(
                    "error: `--at {text}` is not a time; use RFC 3339, e.g. 2026-11-24T10:00:00-05:00"
                );
                return ExitCode::from(2);
            }
        },
    };
    if let Some(lang) = &args.lang
        && flow.language(lang).is_none()
    {
        let codes: Vec<&str> = flow.languages.iter().map(|l| l.code.as_str()).collect();
        eprintln!(
            "error: flow `{}` does not speak `{lang}` (languages: {})",
            flow.id,
            codes.join(", ")
        );
        return ExitCode::from(2);
    }
    let mut mocks = CannedLookups::default();
    for spec in &args.mock_lookup {
        let Some((node, file)) = spec.split_once('=') else {
            eprintln!("error: `--mock-lookup {spec}` must be NODE=FILE.json");
            return ExitCode::from(2);
        };
        let json = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()));
        match json {
            Ok(v) => {
                mocks
                    .answers
                    .insert(node.to_owned(), LookupOutcome::Answer(v));
            }
            Err(e) => {
                eprintln!("error: --mock-lookup {spec}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let opts = SimulateOptions {
        keys: args.keys.as_deref().map(parse_keys),
        at,
        language: args.lang.clone(),
        caller: args.caller.clone(),
        mock_lookups: mocks,
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (_, ending) = crate::tools::simulate::simulate(&set, &flow, opts, &mut input, &mut out);
    match ending {
        crate::tools::simulate::Ending::ScriptError(why) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
        _ => ExitCode::SUCCESS,
    }
}

fn run_scenarios(args: &TestArgs) -> ExitCode {
    use crate::tools::scenario::{
        flow_for, load_scenarios, run_scenario, scenario_files, uncovered,
    };
    // The flows tested are the ones beside the scenario files.
    let mut flow_dirs: Vec<PathBuf> = Vec::new();
    for p in &args.paths {
        let dir = if p.is_dir() {
            p.clone()
        } else {
            p.parent().map(PathBuf::from).unwrap_or_default()
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        if !flow_dirs.contains(&dir) {
            flow_dirs.push(dir);
        }
    }
    if flow_dirs.is_empty() {
        flow_dirs.push(args.project.flows.clone());
    }
    let compiled = match flow::compile_paths(&flow_dirs, &args.project.prompts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(set) = compiled.flows else {
        for d in compiled.diagnostics.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
        eprintln!("error: the flows do not compile; no scenario ran");
        return ExitCode::from(1);
    };
    let paths = if args.paths.is_empty() {
        vec![args.project.flows.clone()]
    } else {
        args.paths.clone()
    };
    let files = match scenario_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut coverage: Vec<String> = Vec::new();
    for file in &files {
        let Some(flow) = flow_for(&set, file) else {
            let _ = writeln!(
                out,
                "{}: no flow to test (expected {} beside it)",
                file.display(),
                file.display().to_string().replace(".test.", ".")
            );
            failed += 1;
            continue;
        };
        let scenarios = match load_scenarios(file) {
            Ok(s) => s,
            Err(d) => {
                let _ = writeln!(out, "{d}");
                failed += 1;
                continue;
            }
        };
        let _ = writeln!(
            out,
            "running {} scenario(s) from {} (flow `{}`)",
            scenarios.len(),
            file.display(),
            flow.id
        );
        let mut results = Vec::new();
        for sc in &scenarios {
            let result = run_scenario(&set, flow, sc);
            match &result.failure {
                None => {
                    passed += 1;
                    let _ = writeln!(out, "scenario {} ... ok", result.name);
                }
                Some(why) => {
                    failed += 1;
                    let _ = writeln!(out, "scenario {} ... FAILED", result.name);
                    failures.push((format!("{}: {}", flow.id, result.name), why.clone()));
                }
            }
            results.push(result);
        }
        let missing = uncovered(flow, &results);
        let total = flow.nodes.len();
        coverage.push(if missing.is_empty() {
            format!("coverage: flow `{}`: {total}/{total} nodes", flow.id)
        } else {
            format!(
                "coverage: flow `{}`: {}/{total} nodes; never entered: {}",
                flow.id,
                total - missing.len(),
                missing.join(", ")
            )
        });
    }
    if files.is_empty() {
        let _ = writeln!(out, "no *.test.yaml scenario files found");
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for (name, why) in &failures {
            let _ = writeln!(out, "\n---- {name} ----\n    {why}");
        }
    }
    let _ = writeln!(out);
    for line in &coverage {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
