//! `phonetree prune`: removes the call logs of calls that started before a date, then
//! the flow versions no remaining call is on.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};

use super::PruneArgs;
use crate::flow;

/// `--before`: an RFC 3339 date-time, or a date (midnight UTC).
pub(super) fn before_arg(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| {
            format!(
                "`{text}` is not an RFC 3339 date or date-time (e.g. 2026-01-01 or 2026-01-01T00:00:00-05:00)"
            )
        })
}

pub(super) fn prune(args: &PruneArgs) -> ExitCode {
    let mut err = std::io::stderr().lock();
    // The version the flows compile to now is being served, or about to be: a call may
    // start on it any moment, and other servers must be able to load it then.
    let paths = [args.project.flows.clone()];
    let keep = match flow::compile_paths(&paths, &args.project.prompts) {
        Ok(flow::Compiled {
            flows: Some(set), ..
        }) => vec![set.version],
        Ok(compiled) => {
            let _ = writeln!(
                err,
                "warning: the flows in {} do not compile ({} error(s)); no version is kept for being served",
                args.project.flows.display(),
                compiled.error_count()
            );
            vec![]
        }
        Err(e) => {
            let _ = writeln!(err, "warning: {e}; no version is kept for being served");
            vec![]
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let pruned = runtime.block_on(async {
        let store = crate::store::open_store(&args.store)?;
        store.prune(args.before, &keep).await
    });
    match pruned {
        Ok(pruned) => {
            println!(
                "removed {} call(s) started before {}, {} call-log row(s), {} flow version(s) no call is on{}",
                pruned.calls,
                args.before
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                pruned.events,
                pruned.flow_versions,
                keep.first()
                    .map(|v| format!(
                        " (kept {v}, the version of {})",
                        args.project.flows.display()
                    ))
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "error: pruning {}: {e}",
                crate::store::shown_url(&args.store)
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_date_times() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(before_arg("2026-01-01"), Ok(utc("2026-01-01T00:00:00Z")));
        assert_eq!(
            before_arg("2026-01-01T00:00:00-05:00"),
            Ok(utc("2026-01-01T05:00:00Z"))
        );
        for bad in ["2026-13-01", "yesterday", "2026-01-01 00:00", ""] {
            assert!(before_arg(bad).is_err(), "{bad}");
        }
    }
}
