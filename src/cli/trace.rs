//! `phonetree trace`: one caller's journey through the flow, step by step.

use std::io::Write;
use std::process::ExitCode;

use super::ProjectArgs;
use super::report::runtime;
use crate::report::trace::render_text;
use crate::report::{FlowCatalog, TraceError, build_trace};

/// Trace formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// A header and one line per step.
    Text,
    /// The same as one JSON object (`call`, `steps`, `warnings`).
    Json,
}

/// `phonetree trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The call's CallSid (`CA` and 32 hex digits).
    #[arg(value_name = "CALLSID")]
    pub call_sid: String,
    /// The store the call was recorded in.
    #[arg(long, env = "PHONETREE_STORE", default_value = "sqlite://phonetree.db")]
    pub store: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TraceFormat,
    /// Where flows and prompts live: they stand in for a flow version the store does not keep.
    #[command(flatten)]
    pub project: ProjectArgs,
}

pub(super) fn trace(args: &TraceArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let built = runtime.block_on(async {
        let store = super::report::open_for_reading(&args.store)?;
        let mut catalog = FlowCatalog::new(
            store.clone(),
            args.project.flows.clone(),
            args.project.prompts.clone(),
        );
        build_trace(store.as_ref(), &args.call_sid, &mut catalog).await
    });
    let trace = match built {
        Ok(trace) => trace,
        Err(TraceError::UnknownCall(sid)) => {
            eprintln!(
                "error: no call {sid} in {}",
                crate::store::shown_url(&args.store)
            );
            return ExitCode::from(1);
        }
        Err(TraceError::Store(e)) => {
            eprintln!(
                "error: reading {}: {e}",
                crate::store::shown_url(&args.store)
            );
            return ExitCode::from(2);
        }
    };
    let text = match args.format {
        TraceFormat::Text => render_text(&trace),
        TraceFormat::Json => match serde_json::to_string_pretty(&trace) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("error: encoding the trace: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has what it wanted (`| head`).
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing standard output: {e}");
            ExitCode::from(2)
        }
    }
}
