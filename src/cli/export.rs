//! `phonetree export`: the call log as CSV or JSON Lines, one row per event, streamed.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::RangeArgs;
use super::report::{progress_bar, runtime};
use crate::report::{ExportError, ExportFormat, Exported, export_events};

/// Bytes gathered before each write to the output.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// `phonetree export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Which calls.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Write the rows to this file instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub(super) fn export(args: &ExportArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let shown = crate::store::shown_url(&args.range.store);
    let store = match super::report::open_for_reading(&args.range.store) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: reading {shown}: {e}");
            return ExitCode::from(2);
        }
    };
    // A spinner on the terminal the rows are printed to would be mixed into them.
    let bar = if args.output.is_none() && std::io::stdout().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        progress_bar("exporting")
    };
    let range = args.range.range();
    let mut progress = |n| bar.set_position(n);
    let written: Result<Exported, ExportError> = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => {
                let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, file);
                runtime
                    .block_on(export_events(
                        store.as_ref(),
                        &range,
                        args.format,
                        &mut out,
                        &mut progress,
                    ))
                    .and_then(|done| {
                        out.flush().map_err(ExportError::Write)?;
                        Ok(done)
                    })
            }
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("error: creating {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => {
            let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout().lock());
            runtime
                .block_on(export_events(
                    store.as_ref(),
                    &range,
                    args.format,
                    &mut out,
                    &mut progress,
                ))
                .and_then(|done| {
                    out.flush().map_err(ExportError::Write)?;
                    Ok(done)
                })
        }
    };
    bar.finish_and_clear();
    match written {
        Ok(done) => {
            if let Some(path) = &args.output {
                eprintln!(
                    "wrote {} ({} events of {} calls)",
                    path.display(),
                    done.events,
                    done.calls
                );
            }
            ExitCode::SUCCESS
        }
        // The reader has what it wanted (`| head`): nothing failed.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(ExportError::Store(e)) => {
            eprintln!("error: reading {shown}: {e}");
            ExitCode::from(2)
        }
        Err(ExportError::Write(e)) => {
            let to = args
                .output
                .as_ref()
                .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
            eprintln!("error: writing {to}: {e}");
            ExitCode::from(2)
        }
    }
}
