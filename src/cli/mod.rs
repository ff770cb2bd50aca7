//! The command line: `phonetree check|schema|...`.
//!
//! Exit codes: 0 success (warnings allowed), 1 the answer is "no" (errors in
//! flows, failing scenarios), 2 trouble (bad usage, unreadable directories).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::flow;

mod closure;
mod prune;
mod report;
mod serve;
mod tools;
// call-path analytics: one call's journey, the log as rows
mod export;
mod trace;

use prune::prune;
use report::report;
use serve::serve;
use tools::{graph, run_scenarios, simulate};
// call-path analytics
pub use export::ExportArgs;
pub use trace::{TraceArgs, TraceFormat};

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
    /// Print the JSON Schema of flow files, or of scenario files (for yaml-language-server).
    Schema(SchemaArgs),
    /// Answer Twilio voice webhooks for the flows.
    Serve(ServeArgs),
    /// Draw a flow as a diagram.
    Graph(GraphArgs),
    /// A call in the terminal: hear the flow, press keys, see the path.
    Simulate(SimulateArgs),
    /// Run the flows' `*.test.yaml` scenarios.
    Test(TestArgs),
    /// Close a flow until a time: its `hours` branches go their closed way on every server.
    Close(CloseArgs),
    /// Open a flow closed with `phonetree close`.
    Open(OpenArgs),
    /// Analytics over the recorded calls: outcomes, drop-off per node, paths, survey answers.
    Report(ReportArgs),
    /// Remove everything about calls that started before a date (call logs, sessions),
    /// then the flow versions no remaining call is on.
    Prune(PruneArgs),
    /// One caller's journey in order: nodes, prompts heard, keys, retries, how it ended.
    Trace(TraceArgs),
    /// Write the call log as CSV or JSON Lines, one row per event.
    Export(ExportArgs),
}

/// `phonetree prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Calls that started before this are removed, even one still in progress: an RFC 3339
    /// date (midnight UTC) or date-time, e.g. 2026-01-01 or 2026-01-01T00:00:00-05:00.
    #[arg(long, value_parser = prune::before_arg)]
    pub before: chrono::DateTime<chrono::Utc>,
    /// The store to prune.
    #[arg(long, env = "PHONETREE_STORE", default_value = "sqlite://phonetree.db")]
    pub store: String,
    /// Where flows and prompts live: the version they compile to is kept, as it is being served.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `phonetree close`.
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The flow to close.
    pub flow: String,
    /// Until when: an RFC 3339 date-time (2026-12-24T18:00:00-05:00) or a duration from now
    /// (`2h`, `90m`).
    #[arg(long, value_parser = closure::until_arg)]
    pub until: closure::Until,
    /// A prompt id of the flow's `defaults.closed_messages`, played on the closed way.
    #[arg(long)]
    pub message: Option<String>,
    /// The store the servers share.
    #[arg(long, env = "PHONETREE_STORE", default_value = "sqlite://phonetree.db")]
    pub store: String,
    /// Where flows and prompts live: the flow and the message are checked against them.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `phonetree open`.
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// The flow to open.
    pub flow: String,
    /// The store the servers share.
    #[arg(long, env = "PHONETREE_STORE", default_value = "sqlite://phonetree.db")]
    pub store: String,
}

/// Which calls a command reads: a store, a flow, a time range.
#[derive(Debug, Clone, clap::Args)]
pub struct RangeArgs {
    /// The store the calls were recorded in.
    #[arg(long, env = "PHONETREE_STORE", default_value = "sqlite://phonetree.db")]
    pub store: String,
    /// Only calls of this flow (where each call is or ended); default every flow.
    #[arg(long)]
    pub flow: Option<String>,
    /// Calls that started at or after this: an RFC 3339 date (midnight UTC) or date-time.
    #[arg(long, value_parser = prune::before_arg)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Calls that started before this: a date-time, or a date, which includes that whole
    /// day (UTC).
    #[arg(long, value_parser = report::until_arg)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl RangeArgs {
    /// The store's range: no `--since` reads from the first call, no `--until` to the last.
    pub fn range(&self) -> crate::store::CallRange {
        let earliest = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let latest = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(earliest, |t| t.and_utc());
        crate::store::CallRange {
            flow: self.flow.clone(),
            from: self.since.unwrap_or(earliest),
            to: self.until.unwrap_or(latest),
        }
    }
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Tables for a terminal.
    Text,
    /// The figures as JSON (field names in the README).
    Json,
    /// One self-contained HTML page: cards, the flow drawn by its traffic, tables, charts.
    Html,
}

/// `phonetree report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Which calls.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Where flows and prompts live: they stand in for flow versions the store does not keep.
    #[command(flatten)]
    pub project: ProjectArgs,
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
    /// Where sessions and the call log are kept: `sqlite://PATH`, or
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB` for several servers on one database.
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
    /// A request's line and headers must arrive within this (`10s`, `500ms`, or seconds);
    /// idle keep-alive connections are closed after it too.
    #[arg(long, env = "PHONETREE_HEADER_TIMEOUT", default_value = "10s", value_parser = timeout_arg)]
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this, once its headers are in.
    #[arg(long, env = "PHONETREE_BODY_TIMEOUT", default_value = "10s", value_parser = timeout_arg)]
    pub body_timeout: Duration,
    /// On SIGTERM or Ctrl-C, how long webhooks in flight may finish before open connections are
    /// dropped; the default outlasts the longest webhook (lookups, a commit and its retry).
    #[arg(long, env = "PHONETREE_SHUTDOWN_DEADLINE", default_value = "15s", value_parser = duration_arg)]
    pub shutdown_deadline: Duration,
    /// Reload only on SIGHUP, not when a file in the flows or prompts directory changes.
    #[arg(long, env = "PHONETREE_NO_WATCH", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub no_watch: bool,
    /// How long the session of a finished call is kept (its call log stays): a retried
    /// webhook of the call within this gets its first answer.
    #[arg(long, env = "PHONETREE_SESSION_TTL", default_value = "24h", value_parser = timeout_arg)]
    pub session_ttl: Duration,
}

/// A duration option as admins write durations in flows: `10s`, `500ms`, `2m`, or seconds.
fn duration_arg(text: &str) -> Result<Duration, String> {
    flow::duration::parse_duration(text).ok_or_else(|| {
        format!("`{text}` is not a duration (try 10s, 500ms, 2m or a number of seconds)")
    })
}

/// A duration that is not zero: a zero timeout would cut off every client.
fn timeout_arg(text: &str) -> Result<Duration, String> {
    match duration_arg(text)? {
        d if d.is_zero() => Err("a timeout must be longer than zero".into()),
        d => Ok(d),
    }
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

/// Which files a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// Flow files (`flows/<flow>.yaml`).
    Flow,
    /// Scenario files (`flows/<flow>.test.yaml`).
    Scenario,
    /// Prompt catalogs (`prompts/<lang>.yaml`).
    Catalog,
}

/// `phonetree schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The files the schema is for.
    #[arg(value_enum, default_value = "flow")]
    pub kind: SchemaKind,
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
        Command::Prune(args) => prune(&args),
        Command::Report(args) => report(&args),
        Command::Close(args) => closure::close(&args),
        Command::Open(args) => closure::open(&args),
        Command::Trace(args) => trace::trace(&args),
        Command::Export(args) => export::export(&args),
        Command::Schema(args) => {
            let schema = match args.kind {
                SchemaKind::Flow => flow::json_schema(),
                SchemaKind::Scenario => flow::scenario_json_schema(),
                SchemaKind::Catalog => flow::catalog_json_schema(),
            };
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            println!("{text}");
            ExitCode::SUCCESS
        }
    }
}

impl ProjectArgs {
    /// The prompts directory for flows at `paths`: `--prompts` when it exists, else
    /// `prompts/` beside the flows directory of the first path (so that
    /// `phonetree check ../shop/flows/main.yaml` finds `../shop/prompts`).
    pub fn prompts_for(&self, paths: &[PathBuf]) -> PathBuf {
        if self.prompts.is_dir() || self.prompts != std::path::Path::new("prompts") {
            return self.prompts.clone();
        }
        let Some(first) = paths.first() else {
            return self.prompts.clone();
        };
        let flows_dir = if first.is_dir() {
            Some(first.as_path())
        } else {
            first.parent()
        };
        flows_dir
            .map(|d| {
                if d.as_os_str().is_empty() {
                    std::path::Path::new(".")
                } else {
                    d
                }
            })
            .and_then(|d| d.join("..").join("prompts").canonicalize().ok())
            .filter(|p| p.is_dir())
            .map(|p| {
                // Named as reached from the flows, for short diagnostics.
                flows_dir.map(|d| d.join("..").join("prompts")).unwrap_or(p)
            })
            .unwrap_or_else(|| self.prompts.clone())
    }
}

/// Scenario files `check` reads: those in the directories given, and `<stem>.test.yaml`
/// beside each flow file given.
fn scenario_files_for(paths: &[PathBuf]) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
    let mut files = crate::tools::scenario::scenario_files(&dirs).unwrap_or_default();
    for p in paths.iter().filter(|p| p.is_file()) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let stem = name.trim_end_matches(".yaml").trim_end_matches(".yml");
        if name.contains(".test.") {
            files.push(p.clone());
            continue;
        }
        for ext in ["test.yaml", "test.yml"] {
            let beside = p.with_file_name(format!("{stem}.{ext}"));
            if beside.is_file() && !files.contains(&beside) {
                files.push(beside);
            }
        }
    }
    files
}

fn check(args: &CheckArgs) -> ExitCode {
    let paths = if args.paths.is_empty() {
        vec![args.project.flows.clone()]
    } else {
        args.paths.clone()
    };
    // Scenario files given by name are checked, not compiled as flows.
    let flow_paths: Vec<PathBuf> = paths
        .iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !(p.is_file() && name.contains(".test."))
        })
        .cloned()
        .collect();
    let prompts = args.project.prompts_for(&paths);
    let (compiled, as_far) = match flow::check_paths(&flow_paths, &prompts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Scenario files beside the flows are checked too, against the flows as far as they
    // compiled, so a mistake in one shows up here and not first in `phonetree test`.
    let mut diagnostics = compiled.diagnostics.clone();
    for file in scenario_files_for(&paths) {
        match crate::tools::scenario::read_scenario_file(&file) {
            Err(mut e) => diagnostics.append(&mut e.diagnostics),
            Ok(read) => {
                if let Some(flow) = crate::tools::scenario::flow_among(&as_far, &file) {
                    diagnostics.extend(crate::tools::scenario::check_scenarios(&read, flow));
                }
            }
        }
    }
    diagnostics.sort_by(|a, b| {
        let key = |d: &flow::Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (l.file.clone(), l.span.line, l.span.column))
        };
        key(a).cmp(&key(b))
    });
    let mut err = std::io::stderr().lock();
    for d in &diagnostics {
        let _ = writeln!(err, "{d}");
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match &compiled.flows {
        Some(set) if errors == 0 => {
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
        _ => {
            let files: std::collections::BTreeSet<&std::path::Path> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .filter_map(|d| d.location.as_ref().map(|l| l.file.as_path()))
                .collect();
            let _ = writeln!(
                err,
                "error: {errors} error(s), {warnings} warning(s){}",
                if files.len() > 1 {
                    format!(" in {} files", files.len())
                } else {
                    String::new()
                }
            );
            ExitCode::from(1)
        }
    }
}
