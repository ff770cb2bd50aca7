//! `phonetree report`: analytics over the recorded calls as text, JSON or HTML.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};

use super::{ReportArgs, ReportFormat};
use crate::report::{FlowCatalog, Report, build_report};

/// `--until`: a date-time (excluded), or a date, which includes that whole day.
pub(super) fn until_arg(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.succ_opt())
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| {
            format!(
                "`{text}` is not an RFC 3339 date or date-time (e.g. 2026-01-31 or 2026-01-31T18:00:00-05:00)"
            )
        })
}

/// A spinner with the number of calls read, on a terminal only.
pub(super) fn progress_bar(what: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {what}: {{pos}} calls ({{per_sec}}, {{elapsed}})"
    )) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A current-thread runtime for the read-only commands.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(2)
        })
}

/// Opens a store to read calls from; a SQLite file that is not there is an error, not a
/// new empty database.
pub(super) fn open_for_reading(
    url: &str,
) -> Result<std::sync::Arc<dyn crate::store::Store>, crate::store::StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://")
        && path != ":memory:"
        && !std::path::Path::new(path).exists()
    {
        return Err(crate::store::StoreError::Database(format!(
            "no database file at {path} (give the store `serve` used with --store or PHONETREE_STORE)"
        )));
    }
    crate::store::open_store(url)
}

pub(super) fn report(args: &ReportArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let bar = progress_bar("reading calls");
    let built = runtime.block_on(async {
        let store = open_for_reading(&args.range.store)?;
        let mut catalog = FlowCatalog::new(
            store.clone(),
            args.project.flows.clone(),
            args.project.prompts.clone(),
        );
        let report = build_report(
            store.as_ref(),
            &args.range.range(),
            &mut catalog,
            &mut |n| bar.set_position(n),
        )
        .await?;
        let now = chrono::Utc::now();
        let mut report = report;
        report.closed = store
            .closures()
            .await?
            .into_iter()
            .filter(|c| now < c.until)
            .collect();
        Ok::<_, crate::store::StoreError>((report, catalog))
    });
    bar.finish_and_clear();
    let (report, catalog) = match built {
        Ok(built) => built,
        Err(e) => {
            eprintln!(
                "error: reading {}: {e}",
                crate::store::shown_url(&args.range.store)
            );
            return ExitCode::from(2);
        }
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let text = match args.format {
        ReportFormat::Text => render_text(&report),
        ReportFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("error: encoding the report: {e}");
                return ExitCode::from(2);
            }
        },
        ReportFormat::Html => crate::report::render_html(&report, &catalog),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, text.as_bytes()),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        let to = args
            .output
            .as_ref()
            .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
        eprintln!("error: writing {to}: {e}");
        return ExitCode::from(2);
    }
    if let Some(path) = &args.output {
        eprintln!("wrote {} ({} calls)", path.display(), report.calls);
    }
    ExitCode::SUCCESS
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The report as tables for a terminal.
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let flow = r.range.flow.as_deref().unwrap_or("all flows");
    let open_start = r.range.since == DateTime::<Utc>::UNIX_EPOCH;
    let open_end = r.range.until.format("%Y").to_string() == "9999";
    let when = match (open_start, open_end) {
        (true, true) => "every call".to_owned(),
        (false, true) => format!("calls since {}", r.range.since.format("%Y-%m-%d %H:%M UTC")),
        (true, false) => format!(
            "calls before {}",
            r.range.until.format("%Y-%m-%d %H:%M UTC")
        ),
        (false, false) => format!(
            "calls from {} to {}",
            r.range.since.format("%Y-%m-%d %H:%M"),
            r.range.until.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    let _ = writeln!(out, "phonetree report: {flow}, {when}");
    let _ = writeln!(out);
    for c in &r.closed {
        let _ = writeln!(
            out,
            "closed: {} until {}{}",
            c.flow,
            c.until.format("%Y-%m-%d %H:%M UTC"),
            c.message
                .as_deref()
                .map(|m| format!(" (message {m})"))
                .unwrap_or_default()
        );
    }
    if !r.closed.is_empty() {
        let _ = writeln!(out);
    }
    if r.calls == 0 {
        let _ = writeln!(out, "no calls");
        return out;
    }
    let _ = writeln!(
        out,
        "calls {}   in progress {}   containment {}   zero-out {} ({})",
        r.calls,
        r.in_progress,
        pct(r.containment_rate),
        pct(r.zero_out_rate),
        r.zero_outs
    );
    let _ = writeln!(
        out,
        "time in IVR: median {:.1} s, p90 {:.1} s",
        r.ivr_seconds.median, r.ivr_seconds.p90
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "outcomes");
    let o = &r.outcomes;
    let rates = &r.outcome_rates;
    for (name, n, rate) in [
        ("self_service", o.self_service, rates.self_service),
        ("transferred", o.transferred, rates.transferred),
        ("queued", o.queued, rates.queued),
        ("voicemail", o.voicemail, rates.voicemail),
        ("failed", o.failed, rates.failed),
        ("abandoned", o.abandoned, rates.abandoned),
    ] {
        let _ = writeln!(out, "  {name:<13} {n:>9}  {:>6}", pct(rate));
    }
    if r.calls_per_day.len() > 1 {
        let _ = writeln!(out);
        let _ = writeln!(out, "calls per day");
        for (day, n) in &r.calls_per_day {
            let _ = writeln!(out, "  {day}  {n:>9}");
        }
    }
    let _ = writeln!(out);
    let width = r
        .nodes
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<9} {:>8} {:>8} {:>8} {:>9} {:>8}  keys",
        "node", "kind", "entered", "invalid", "silent", "hung up", "median"
    );
    let mut nodes: Vec<_> = r.nodes.iter().collect();
    nodes.sort_by(|a, b| b.1.entered.cmp(&a.1.entered).then_with(|| a.0.cmp(b.0)));
    for (id, n) in nodes {
        let keys = n
            .keys
            .iter()
            .map(|(k, c)| format!("{k}:{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "{id:<width$}  {:<9} {:>8} {:>8} {:>8} {:>9} {:>7.1}s  {keys}",
            n.kind.as_deref().unwrap_or("?"),
            n.entered,
            n.invalid,
            n.no_input,
            format!("{} {}", n.abandoned, pct(n.abandoned_rate)),
            n.median_seconds,
        );
    }
    for (node, ways) in &r.variants {
        let _ = writeln!(out);
        let _ = writeln!(out, "split {node}");
        for (way, v) in ways {
            let _ = writeln!(
                out,
                "  {way:<20} calls {:>7}   containment {:>6}   zero-out {:>6}   abandoned {:>6}   IVR median {:.1} s",
                v.calls,
                pct(v.containment_rate),
                pct(v.zero_out_rate),
                pct(v.outcome_rates.abandoned),
                v.ivr_seconds.median
            );
        }
    }
    if !r.paths.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "top paths");
        for p in &r.paths {
            let _ = writeln!(out, "  {:>9}  {}", p.calls, p.path);
        }
    }
    if !r.answers.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "answers");
        for (var, values) in &r.answers {
            let stats = r.answer_stats.get(var);
            let mut line = format!("  {var}:");
            for (v, n) in values {
                let _ = write!(line, " {v}={n}");
            }
            if let Some(mean) = stats.and_then(|s| s.mean) {
                let _ = write!(line, "   mean {mean:.2}");
            }
            if let Some(nps) = stats.and_then(|s| s.nps) {
                let _ = write!(
                    line,
                    "   NPS {:.0} ({} promoters, {} passives, {} detractors)",
                    nps.score, nps.promoters, nps.passives, nps.detractors
                );
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_a_date_includes_that_day() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(until_arg("2026-01-31"), Ok(utc("2026-02-01T00:00:00Z")));
        assert_eq!(until_arg("2026-12-31"), Ok(utc("2027-01-01T00:00:00Z")));
        assert_eq!(
            until_arg("2026-01-31T18:00:00-05:00"),
            Ok(utc("2026-01-31T23:00:00Z"))
        );
        assert!(until_arg("31/01/2026").is_err());
    }
}
