//! `phonetree close` and `phonetree open`: an admin's closure switch, kept in the store so
//! every server sharing it sees it within a second.

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::{CloseArgs, OpenArgs};
use crate::call::FlowClosure;
use crate::flow::{self, diagnostic::did_you_mean};

/// `--until`: a time, or a duration from when the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// This time.
    At(DateTime<Utc>),
    /// This long from now.
    In(std::time::Duration),
}

/// Reads `--until`.
pub(super) fn until_arg(text: &str) -> Result<Until, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Until::At(at.with_timezone(&Utc)));
    }
    match flow::duration::parse_duration(text) {
        Some(d) if !d.is_zero() => Ok(Until::In(d)),
        _ => Err(format!(
            "`{text}` is neither an RFC 3339 date-time (2026-12-24T18:00:00-05:00) nor a duration (2h, 90m)"
        )),
    }
}

pub(super) fn close(args: &CloseArgs) -> ExitCode {
    let now = Utc::now();
    let until = match args.until {
        Until::At(t) => t,
        Until::In(d) => match chrono::Duration::from_std(d) {
            Ok(d) => now + d,
            Err(_) => {
                eprintln!("error: `--until` is too far away");
                return ExitCode::from(2);
            }
        },
    };
    if until <= now {
        eprintln!(
            "error: `--until {}` has passed; nothing would be closed",
            until.to_rfc3339()
        );
        return ExitCode::from(2);
    }
    // The flow and its message are checked against the flows being served.
    match flow::compile_paths(
        std::slice::from_ref(&args.project.flows),
        &args.project.prompts,
    ) {
        Ok(flow::Compiled {
            flows: Some(set), ..
        }) => {
            let Some(f) = set.get(&args.flow) else {
                let hint = did_you_mean(&args.flow, set.flows.keys().map(String::as_str))
                    .unwrap_or_else(|| {
                        format!(
                            "the flows are: {}",
                            set.flows.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    });
                eprintln!(
                    "error: no flow `{}` in {}; {hint}",
                    args.flow,
                    args.project.flows.display()
                );
                return ExitCode::from(1);
            };
            if let Some(message) = &args.message
                && !f.closed_messages.iter().any(|(id, _)| id == message)
            {
                let ids: Vec<&str> = f
                    .closed_messages
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect();
                let hint = did_you_mean(message, ids.iter().copied()).unwrap_or_else(|| {
                    if ids.is_empty() {
                        format!("list it in flow `{}`'s `defaults.closed_messages`", f.id)
                    } else {
                        format!("flow `{}` has: {}", f.id, ids.join(", "))
                    }
                });
                eprintln!(
                    "error: `{message}` is not a closed message of flow `{}`; {hint}",
                    f.id
                );
                return ExitCode::from(1);
            }
        }
        _ => eprintln!(
            "warning: the flows in {} do not compile; `{}` and its message are not checked",
            args.project.flows.display(),
            args.flow
        ),
    }
    let closure = FlowClosure {
        flow: args.flow.clone(),
        until,
        message: args.message.clone(),
        closed_at: now,
    };
    let done = run(&args.store, |store| async move {
        store.close_flow(&closure).await
    });
    match done {
        Ok(()) => {
            println!(
                "closed {} until {}",
                args.flow,
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", crate::store::shown_url(&args.store));
            ExitCode::from(2)
        }
    }
}

pub(super) fn open(args: &OpenArgs) -> ExitCode {
    let flow = args.flow.clone();
    match run(
        &args.store,
        |store| async move { store.open_flow(&flow).await },
    ) {
        Ok(true) => {
            println!("opened {}", args.flow);
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("{} was not closed", args.flow);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", crate::store::shown_url(&args.store));
            ExitCode::from(2)
        }
    }
}

/// Runs one store operation on a current-thread runtime.
fn run<T, F, Fut>(url: &str, op: F) -> Result<T, crate::store::StoreError>
where
    F: FnOnce(std::sync::Arc<dyn crate::store::Store>) -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::store::StoreError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::store::StoreError::Database(format!("cannot start the runtime: {e}"))
        })?;
    runtime.block_on(async {
        let store = super::report::open_for_reading(url)?;
        op(store).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_a_time_or_a_duration() {
        assert_eq!(
            until_arg("2026-12-24T18:00:00-05:00"),
            Ok(Until::At("2026-12-24T23:00:00Z".parse().unwrap()))
        );
        assert_eq!(
            until_arg("2h"),
            Ok(Until::In(std::time::Duration::from_secs(7200)))
        );
        assert!(until_arg("0s").is_err());
        assert!(until_arg("tomorrow").is_err());
    }
}
