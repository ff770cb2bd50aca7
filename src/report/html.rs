//! The HTML report: one self-contained page (inline CSS and SVG; no scripts, fonts,
//! images or anything else fetched) with summary cards, the outcomes, calls per day, each
//! flow drawn with its traffic, the per-node table, the top paths and the answers.
//! Every text from the call log or the flows is escaped; the page depends only on the
//! report and the flows, so the same report gives the same page.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::Datelike;

use super::flow_svg::{NodeKeys, esc, flow_svg};
use super::{AnswerStats, FlowCatalog, Report};
use crate::flow::FlowSet;

/// The page's style sheet.
const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;background:#f4f6f9;color:#1f2933;font:14px/1.45 "DejaVu Sans","Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 2px}
h2{font-size:17px;margin:0 0 12px}
h3{font-size:14px;margin:0 0 8px}
.range{color:#52606d;margin:0 0 18px}
section{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:16px 18px;margin:0 0 18px}
.warnings{background:#fff8e6;border-color:#f0d58c}
.warnings li{margin:2px 0}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;background:none;border:0;padding:0}
.card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:12px 14px}
.card .v{font-size:26px;font-weight:700;line-height:1.2}
.card .k{color:#52606d;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .s{color:#52606d;font-size:12px}
.stack{display:flex;height:26px;border-radius:5px;overflow:hidden;background:#eef1f4;margin:4px 0 10px}
.stack span{display:block;height:100%}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px;color:#323f4b}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.legend b{font-weight:700}
.o-self_service{background:#2f9e5b}.o-transferred{background:#3d6fb0}.o-queued{background:#7b5cc4}
.o-voicemail{background:#d8a021}.o-failed{background:#616e7c}.o-abandoned{background:#d64545}.o-in_progress{background:#c3cad3}
.days svg{display:block;width:100%;height:auto}
.days rect{fill:#3d6fb0}.days text{font-size:11px;fill:#52606d;text-anchor:middle}
.graph{overflow-x:auto;text-align:center}
.graph svg{max-width:100%;height:auto}
.flow text{font-family:"DejaVu Sans","Segoe UI",Helvetica,Arial,sans-serif}
.flow .edge path{fill:none;stroke-linecap:butt}
.flow .edge.busy path{stroke:#3d6fb0;stroke-opacity:.72}.flow .edge.busy polygon{fill:#3d6fb0}
.flow .edge.idle path{stroke:#b8c1cc;stroke-dasharray:5 4}.flow .edge.idle polygon{fill:#b8c1cc}
.flow .edge.unknown path{stroke:#8795a5}.flow .edge.unknown polygon{fill:#8795a5}
.flow .edge.extra path{stroke:#e07b24;stroke-opacity:.8;stroke-dasharray:7 4}.flow .edge.extra polygon{fill:#e07b24}
.flow .shape{stroke:#3e4c59;stroke-width:1.3}
.flow .node.entry circle{stroke:none}
.flow .node .inner,.flow .node .rim{fill:none;stroke:#3e4c59;stroke-width:1}
.flow .quiet .shape,.flow .pseudo .shape{stroke:#9aa5b1}
.flow .title{font-size:13px;font-weight:700;text-anchor:middle;fill:#1f2933}
.flow .title.small{font-size:12px;font-weight:400;fill:#52606d}
.flow .detail{font-size:11px;text-anchor:middle;fill:#616e7c}
.flow .figures{font-size:11px;text-anchor:middle;fill:#323f4b}
.flow .quiet text{fill:#8a96a3}
.flow .count{font-weight:700;fill:#1d4f91}
.flow .lost{fill:#c62828;font-weight:700}
.flow .bar-track{fill:#eddcdc}.flow .bar-lost{fill:#d93636}
.flow .label rect{fill:#fff;fill-opacity:.9;stroke:#dde2e8;stroke-width:.8}
.flow .label.extra rect{stroke:#f0b27a}
.flow .label text{font-size:11px;fill:#323f4b}
.flow .entry-text{font-size:12px;font-weight:700;fill:#fff;text-anchor:middle}
.glegend{display:flex;flex-wrap:wrap;justify-content:center;gap:6px 22px;font-size:12px;color:#52606d;margin:0 0 10px}
.glegend svg{vertical-align:middle;margin-right:6px}
.note{color:#52606d;font-size:12px;margin:8px 0 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-weight:600;color:#52606d;border-bottom:2px solid #dde2e8;padding:6px 8px;white-space:nowrap}
td{border-bottom:1px solid #edf0f3;padding:5px 8px;vertical-align:middle}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.id{font-weight:600;word-break:break-all}
.rate{color:#7b8794;font-size:12px}
.key{display:inline-block;background:#eef2f7;border-radius:4px;padding:0 5px;margin:1px 3px 1px 0;font-size:12px;white-space:nowrap}
.key b{color:#1d4f91}
.meter{display:inline-block;width:70px;height:8px;background:#f1e3e3;border-radius:4px;vertical-align:middle;margin-left:6px;overflow:hidden}
.meter span{display:block;height:100%;background:#d93636}
.share{display:block;height:10px;background:#3d6fb0;border-radius:3px;min-width:2px}
.path{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;word-break:break-word}
.path .arrow{color:#9aa5b1}
.answers{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}
.answer{border:1px solid #edf0f3;border-radius:6px;padding:12px}
.answer .meta{color:#52606d;font-size:12px;margin:-4px 0 8px}
.bars{display:grid;grid-template-columns:auto 1fr auto;gap:4px 10px;align-items:center;font-size:13px}
.bars .bar{height:14px;background:#3d6fb0;border-radius:3px;min-width:2px}
.bars .c{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nps{margin-top:10px}
.nps .score{font-size:22px;font-weight:700}
.nps .stack{height:16px;margin:4px 0 6px}
.p-det{background:#d64545}.p-pas{background:#c3cad3}.p-pro{background:#2f9e5b}
footer{color:#7b8794;font-size:12px;text-align:center}
"#;

/// The six outcomes: field name, shown name, count, rate.
fn outcomes(r: &Report) -> [(&'static str, &'static str, u64, f64); 6] {
    let (o, rate) = (&r.outcomes, &r.outcome_rates);
    [
        (
            "self_service",
            "self-service",
            o.self_service,
            rate.self_service,
        ),
        (
            "transferred",
            "transferred",
            o.transferred,
            rate.transferred,
        ),
        ("queued", "queued", o.queued, rate.queued),
        ("voicemail", "voicemail", o.voicemail, rate.voicemail),
        ("failed", "failed", o.failed, rate.failed),
        ("abandoned", "abandoned", o.abandoned, rate.abandoned),
    ]
}

fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// Seconds for a card: `42 s`, `3 min 5 s`.
fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// The report as one HTML page; `catalog` gives the flows drawn: its newest set (the
/// flows directory's, else the version of the report's latest call).
pub fn render_html(report: &Report, catalog: &FlowCatalog) -> String {
    let set: Option<Arc<FlowSet>> = catalog.current().cloned().or_else(|| {
        report
            .newest_version
            .as_deref()
            .and_then(|v| catalog.loaded(v))
    });
    render_page(report, set.as_deref())
}

/// The page for `report`, drawing the flows of `set`.
fn render_page(report: &Report, set: Option<&FlowSet>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let flow = report.range.flow.as_deref().unwrap_or("all flows");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>phonetree report: {}</title><style>{STYLE}</style></head><body><main>",
        esc(flow)
    );
    let since = if report.range.since.timestamp() <= 0 {
        "the first call".to_owned()
    } else {
        report.range.since.format("%Y-%m-%d %H:%M UTC").to_string()
    };
    let until = if report.range.until.year() >= 9999 {
        "the last".to_owned()
    } else {
        report.range.until.format("%Y-%m-%d %H:%M UTC").to_string()
    };
    let _ = write!(
        out,
        "<header><h1>phonetree report · {}</h1><p class=\"range\">Calls started from {} to {}",
        esc(flow),
        esc(&since),
        esc(&until)
    );
    if let Some(set) = set {
        let _ = write!(out, " · flows drawn from version {}", esc(&set.version));
    }
    out.push_str("</p></header>");
    if !report.closed.is_empty() {
        out.push_str("<section class=\"warnings\"><h2>Closed now</h2><ul>");
        for c in &report.closed {
            let _ = write!(
                out,
                "<li>{} is closed until {}{}</li>",
                esc(&c.flow),
                esc(&c.until.format("%Y-%m-%d %H:%M UTC").to_string()),
                c.message
                    .as_deref()
                    .map(|m| format!(", callers hear <code>{}</code>", esc(m)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</ul></section>");
    }
    if !report.warnings.is_empty() {
        out.push_str("<section class=\"warnings\"><h2>Warnings</h2><ul>");
        for w in &report.warnings {
            let _ = write!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul></section>");
    }
    cards(&mut out, report);
    outcome_bar(&mut out, report);
    calls_per_day(&mut out, report);
    flows(&mut out, report, set);
    splits(&mut out, report);
    node_table(&mut out, report);
    top_paths(&mut out, report);
    answers(&mut out, report);
    out.push_str(
        "<footer>phonetree report · figures from the call log</footer></main></body></html>\n",
    );
    out
}

fn cards(out: &mut String, r: &Report) {
    out.push_str("<section class=\"cards\">");
    let card = |out: &mut String, key: &str, value: String, sub: String| {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"s\">{}</div></div>",
            esc(key),
            esc(&value),
            esc(&sub)
        );
    };
    card(
        out,
        "calls",
        r.calls.to_string(),
        "started in the range".into(),
    );
    card(
        out,
        "containment",
        pct(r.containment_rate),
        format!("{} finished by the flow", r.outcomes.self_service),
    );
    card(
        out,
        "zero-out",
        pct(r.zero_out_rate),
        format!("{} pressed for a person", r.zero_outs),
    );
    card(
        out,
        "median in IVR",
        duration(r.ivr_seconds.median),
        "start to hand-off or end".into(),
    );
    card(
        out,
        "p90 in IVR",
        duration(r.ivr_seconds.p90),
        "9 in 10 calls took at most".into(),
    );
    card(
        out,
        "in progress",
        r.in_progress.to_string(),
        "not ended yet".into(),
    );
    out.push_str("</section>");
}

fn outcome_bar(out: &mut String, r: &Report) {
    out.push_str("<section><h2>Outcomes</h2><div class=\"stack\">");
    let share = |n: u64| {
        if r.calls == 0 {
            0.0
        } else {
            n as f64 / r.calls as f64
        }
    };
    for (field, name, n, rate) in outcomes(r) {
        if n > 0 {
            let _ = write!(
                out,
                "<span class=\"o-{field}\" style=\"width:{:.3}%\" title=\"{name}: {n} ({})\"></span>",
                rate * 100.0,
                pct(rate)
            );
        }
    }
    if r.in_progress > 0 {
        let _ = write!(
            out,
            "<span class=\"o-in_progress\" style=\"width:{:.3}%\" title=\"in progress: {}\"></span>",
            share(r.in_progress) * 100.0,
            r.in_progress
        );
    }
    out.push_str("</div><div class=\"legend\">");
    for (field, name, n, rate) in outcomes(r) {
        let _ = write!(
            out,
            "<span><i class=\"o-{field}\"></i>{name} <b>{n}</b> · {}</span>",
            pct(rate)
        );
    }
    let _ = write!(
        out,
        "<span><i class=\"o-in_progress\"></i>in progress <b>{}</b> · {}</span>",
        r.in_progress,
        pct(share(r.in_progress))
    );
    out.push_str("</div></section>");
}

fn calls_per_day(out: &mut String, r: &Report) {
    if r.calls_per_day.is_empty() {
        return;
    }
    let days = r.calls_per_day.len();
    let most = r.calls_per_day.values().copied().max().unwrap_or(1).max(1);
    let slot = (1200.0 / days as f64).clamp(6.0, 90.0);
    let bar = (slot * 0.7).max(3.0);
    let (chart_h, top, bottom) = (120.0, 18.0, 20.0);
    let width = slot * days as f64;
    let every = days.div_ceil(16).max(1);
    let _ = write!(
        out,
        "<section class=\"days\"><h2>Calls per day</h2><svg viewBox=\"0 0 {width:.0} {:.0}\" preserveAspectRatio=\"xMinYMin meet\" style=\"max-width:{width:.0}px\" role=\"img\" aria-label=\"calls per day\">",
        chart_h + top + bottom
    );
    for (i, (day, &n)) in r.calls_per_day.iter().enumerate() {
        let h = chart_h * n as f64 / most as f64;
        let x = slot * i as f64 + (slot - bar) / 2.0;
        let y = top + chart_h - h;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" rx=\"2\"><title>{}: {n} calls</title></rect>",
            h.max(1.0),
            esc(day)
        );
        let cx = slot * i as f64 + slot / 2.0;
        if days <= 40 {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{:.1}\">{n}</text>",
                (y - 4.0).max(11.0)
            );
        }
        if i % every == 0 {
            let shown = day.get(5..).unwrap_or(day);
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{:.1}\">{}</text>",
                top + chart_h + 15.0,
                esc(shown)
            );
        }
    }
    out.push_str("</svg></section>");
}

fn flows(out: &mut String, r: &Report, set: Option<&FlowSet>) {
    let keys = NodeKeys::of(r);
    let Some(set) = set else {
        out.push_str("<section><h2>Flow</h2><p class=\"note\">No flow to draw: the flows directory does not compile and the store keeps no version of the calls' flows.</p></section>");
        return;
    };
    let in_report: BTreeSet<&str> = r.nodes.values().map(|n| n.flow.as_str()).collect();
    let drawn: Vec<&Arc<crate::flow::Flow>> = set
        .flows
        .values()
        .filter(|f| match &r.range.flow {
            Some(only) => &f.id == only,
            None => in_report.contains(f.id.as_str()),
        })
        .collect();
    if drawn.is_empty() {
        let why = if r.nodes.is_empty() {
            "no call entered a node"
        } else {
            "the calls' flows are not in the newest flow set"
        };
        let _ = write!(
            out,
            "<section><h2>Flow</h2><p class=\"note\">No flow to draw: {why}.</p></section>"
        );
        return;
    }
    for flow in drawn {
        let _ = write!(out, "<section><h2>Flow {}</h2>", esc(&flow.id));
        out.push_str(GRAPH_LEGEND);
        let _ = write!(
            out,
            "<div class=\"graph\">{}</div>",
            flow_svg(flow, r, keys)
        );
        let missing: Vec<&str> = r
            .nodes
            .iter()
            .filter(|(_, n)| n.flow == flow.id)
            .filter(|(key, _)| {
                !flow
                    .nodes
                    .iter()
                    .any(|node| keys.key(&flow.id, &node.name) == **key)
            })
            .map(|(key, _)| key.as_str())
            .collect();
        if !missing.is_empty() {
            let _ = write!(
                out,
                "<p class=\"note\">Nodes of older versions, not drawn (see the table): {}</p>",
                esc(&missing.join(", "))
            );
        }
        out.push_str("</section>");
    }
}

/// What the flow drawing's marks mean.
const GRAPH_LEGEND: &str = concat!(
    "<div class=\"glegend\">",
    "<span><svg width=\"34\" height=\"12\"><path d=\"M2 6 H32\" stroke=\"#3d6fb0\" stroke-opacity=\".72\" stroke-width=\"8\"/></svg>width: callers who took the edge</span>",
    "<span><svg width=\"34\" height=\"12\"><path d=\"M2 6 H32\" stroke=\"#e07b24\" stroke-width=\"2.5\" stroke-dasharray=\"7 4\"/></svg>traffic on no edge of this version</span>",
    "<span><svg width=\"34\" height=\"12\"><path d=\"M2 6 H32\" stroke=\"#b8c1cc\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/></svg>no calls</span>",
    "<span><svg width=\"40\" height=\"12\"><rect x=\"1\" y=\"3\" width=\"38\" height=\"6\" rx=\"2\" fill=\"#eddcdc\"/><rect x=\"1\" y=\"3\" width=\"14\" height=\"6\" rx=\"2\" fill=\"#d93636\"/></svg>red bar and tint: share who hung up there</span>",
    "</div>"
);

fn rate_cell(n: u64, rate: f64) -> String {
    if n == 0 {
        "0".to_owned()
    } else {
        format!("{n} <span class=\"rate\">{}</span>", pct(rate))
    }
}

/// Each split's ways side by side: the headline figures of the calls each way got.
fn splits(out: &mut String, r: &Report) {
    for (node, ways) in &r.variants {
        let _ = write!(
            out,
            "<section><h2>Split {}</h2><table><thead><tr><th>way</th><th class=\"n\">calls</th><th class=\"n\">containment</th><th class=\"n\">zero-out</th><th class=\"n\">transferred</th><th class=\"n\">queued</th><th class=\"n\">voicemail</th><th class=\"n\">failed</th><th class=\"n\">abandoned</th><th class=\"n\">IVR median</th></tr></thead><tbody>",
            esc(node)
        );
        for (way, v) in ways {
            let o = &v.outcomes;
            let rates = &v.outcome_rates;
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(way),
                v.calls,
                pct(v.containment_rate),
                pct(v.zero_out_rate),
                rate_cell(o.transferred, rates.transferred),
                rate_cell(o.queued, rates.queued),
                rate_cell(o.voicemail, rates.voicemail),
                rate_cell(o.failed, rates.failed),
                rate_cell(o.abandoned, rates.abandoned),
                duration(v.ivr_seconds.median),
            );
        }
        out.push_str("</tbody></table></section>");
    }
}

fn node_table(out: &mut String, r: &Report) {
    if r.nodes.is_empty() {
        return;
    }
    out.push_str("<section><h2>Nodes</h2><table><thead><tr><th>node</th><th>kind</th><th class=\"n\">entered</th><th>keys pressed</th><th class=\"n\">invalid</th><th class=\"n\">no input</th><th class=\"n\">retries out</th><th class=\"n\">hung up</th><th class=\"n\">median</th></tr></thead><tbody>");
    let mut nodes: Vec<_> = r.nodes.iter().collect();
    nodes.sort_by(|a, b| b.1.entered.cmp(&a.1.entered).then_with(|| a.0.cmp(b.0)));
    for (id, n) in nodes {
        let keys: String = n
            .keys
            .iter()
            .map(|(k, c)| format!("<span class=\"key\"><b>{}</b> {c}</span>", esc(k)))
            .collect();
        let _ = write!(
            out,
            "<tr><td class=\"id\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}<span class=\"meter\"><span style=\"width:{:.1}%\"></span></span></td><td class=\"n\">{:.1} s</td></tr>",
            esc(id),
            esc(n.kind.as_deref().unwrap_or("?")),
            n.entered,
            keys,
            rate_cell(n.invalid, n.invalid_rate),
            rate_cell(n.no_input, n.no_input_rate),
            n.retries_exhausted,
            rate_cell(n.abandoned, n.abandoned_rate),
            (n.abandoned_rate * 100.0).clamp(0.0, 100.0),
            n.median_seconds
        );
    }
    out.push_str("</tbody></table></section>");
}

/// A path (`a -1-> b -> c`) with its arrows and keys marked up, every part escaped.
fn path_html(path: &str) -> String {
    let mut out = String::new();
    for (i, token) in path.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if token == "->" {
            out.push_str("<span class=\"arrow\">→</span>");
        } else if let Some(key) = token
            .strip_prefix('-')
            .and_then(|t| t.strip_suffix("->"))
            .filter(|k| !k.is_empty())
        {
            let _ = write!(
                out,
                "<span class=\"key\"><b>{}</b></span><span class=\"arrow\">→</span>",
                esc(key)
            );
        } else {
            out.push_str(&esc(token));
        }
    }
    out
}

fn top_paths(out: &mut String, r: &Report) {
    if r.paths.is_empty() {
        return;
    }
    let most = r.paths.iter().map(|p| p.calls).max().unwrap_or(1).max(1);
    out.push_str("<section><h2>Top paths</h2><table><thead><tr><th class=\"n\">calls</th><th class=\"n\">share</th><th style=\"width:22%\"></th><th>path</th></tr></thead><tbody>");
    for p in &r.paths {
        let share = if r.calls == 0 {
            0.0
        } else {
            p.calls as f64 / r.calls as f64
        };
        let _ = write!(
            out,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td><span class=\"share\" style=\"width:{:.1}%\"></span></td><td class=\"path\">{}</td></tr>",
            p.calls,
            pct(share),
            100.0 * p.calls as f64 / most as f64,
            path_html(&p.path)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn answers(out: &mut String, r: &Report) {
    if r.answer_stats.is_empty() {
        return;
    }
    out.push_str("<section><h2>Answers</h2><div class=\"answers\">");
    for (var, stats) in &r.answer_stats {
        let _ = write!(out, "<div class=\"answer\"><h3>{}</h3>", esc(var));
        let mut meta = format!("{} responses", stats.responses);
        if let Some(mean) = stats.mean {
            let _ = write!(meta, " · mean {mean:.2}");
        }
        let _ = write!(out, "<p class=\"meta\">{}</p>", esc(&meta));
        match r.answers.get(var) {
            Some(values) if !stats.too_many_values => answer_bars(out, values, stats),
            _ => out.push_str(
                "<p class=\"note\">Too many distinct values to chart: an identifier, not an answer.</p>",
            ),
        }
        if let Some(nps) = stats.nps {
            let rated = (nps.promoters + nps.passives + nps.detractors).max(1) as f64;
            let _ = write!(
                out,
                "<div class=\"nps\"><span class=\"score\">NPS {:.0}</span><div class=\"stack\"><span class=\"p-det\" style=\"width:{:.2}%\"></span><span class=\"p-pas\" style=\"width:{:.2}%\"></span><span class=\"p-pro\" style=\"width:{:.2}%\"></span></div><div class=\"legend\"><span><i class=\"p-det\"></i>detractors (0-6) <b>{}</b></span><span><i class=\"p-pas\"></i>passives (7-8) <b>{}</b></span><span><i class=\"p-pro\"></i>promoters (9-10) <b>{}</b></span></div></div>",
                nps.score,
                100.0 * nps.detractors as f64 / rated,
                100.0 * nps.passives as f64 / rated,
                100.0 * nps.promoters as f64 / rated,
                nps.detractors,
                nps.passives,
                nps.promoters
            );
        }
        out.push_str("</div>");
    }
    out.push_str("</div></section>");
}

/// One bar per value: numbers in numeric order, other values most given first.
fn answer_bars(
    out: &mut String,
    values: &std::collections::BTreeMap<String, u64>,
    stats: &AnswerStats,
) {
    let mut rows: Vec<(&String, u64)> = values.iter().map(|(v, &n)| (v, n)).collect();
    let numeric: Option<Vec<f64>> = rows.iter().map(|(v, _)| v.parse::<f64>().ok()).collect();
    match numeric {
        Some(nums) if nums.iter().all(|x| x.is_finite()) => {
            let mut keyed: Vec<(f64, (&String, u64))> = nums.into_iter().zip(rows).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.0.cmp(b.1.0)));
            rows = keyed.into_iter().map(|(_, row)| row).collect();
        }
        _ => rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0))),
    }
    let most = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let total = stats.responses.max(1) as f64;
    out.push_str("<div class=\"bars\">");
    for (value, n) in rows {
        let _ = write!(
            out,
            "<span>{}</span><div><div class=\"bar\" style=\"width:{:.1}%\"></div></div><span class=\"c\">{n} <span class=\"rate\">{}</span></span>",
            esc(value),
            100.0 * n as f64 / most as f64,
            pct(n as f64 / total)
        );
    }
    out.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::report::{
        NodeFigures, Nps, OutcomeRates, Outcomes, PathCount, ReportRange, Spread, Transition,
    };

    fn figures(flow: &str, kind: &str, entered: u64, abandoned: u64) -> NodeFigures {
        NodeFigures {
            flow: flow.into(),
            kind: Some(kind.into()),
            entered,
            keys: BTreeMap::new(),
            invalid: 0,
            no_input: 0,
            invalid_rate: 0.0,
            no_input_rate: 0.0,
            retries_exhausted: 0,
            abandoned,
            abandoned_rate: if entered == 0 {
                0.0
            } else {
                abandoned as f64 / entered as f64
            },
            median_seconds: 2.5,
        }
    }

    fn report(nodes: BTreeMap<String, NodeFigures>, transitions: Vec<Transition>) -> Report {
        Report {
            range: ReportRange {
                flow: None,
                since: chrono::DateTime::UNIX_EPOCH,
                until: "9999-12-31T00:00:00Z".parse().expect("time"),
            },
            calls: 10,
            calls_per_day: BTreeMap::from([("2026-11-24".into(), 10)]),
            outcomes: Outcomes {
                self_service: 4,
                abandoned: 6,
                ..Outcomes::default()
            },
            outcome_rates: OutcomeRates {
                self_service: 0.4,
                abandoned: 0.6,
                ..OutcomeRates::default()
            },
            in_progress: 0,
            containment_rate: 0.4,
            zero_out_rate: 0.0,
            zero_outs: 0,
            nodes,
            transitions,
            paths: vec![],
            answers: BTreeMap::new(),
            answer_stats: BTreeMap::new(),
            ivr_seconds: Spread::default(),
            newest_version: None,
            variants: BTreeMap::new(),
            closed: Vec::new(),
            warnings: vec![],
        }
    }

    fn compile(dir: &Path, flow: &str) -> FlowSet {
        let flows = dir.join("flows");
        let prompts = dir.join("prompts");
        std::fs::create_dir_all(&flows).expect("mkdir");
        std::fs::create_dir_all(&prompts).expect("mkdir");
        std::fs::write(prompts.join("en.yaml"), "hi: \"Hello\"\n").expect("write");
        std::fs::write(flows.join("main.yaml"), flow).expect("write");
        let compiled = crate::flow::compile_paths(&[flows], &prompts).expect("read");
        let errors: Vec<String> = compiled.diagnostics.iter().map(|d| d.to_string()).collect();
        compiled
            .flows
            .unwrap_or_else(|| panic!("{}", errors.join("\n")))
    }

    /// Everything between `<` and `>` that opens a tag, by name.
    fn tag_names(html: &str) -> BTreeSet<String> {
        html.split('<')
            .skip(1)
            .map(|t| {
                t.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '!')
                    .collect::<String>()
                    .trim_start_matches('/')
                    .to_ascii_lowercase()
            })
            .collect()
    }

    #[test]
    fn hostile_ids_and_values_are_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let evil = "<script>alert(1)</script>";
        let flow = format!(
            "languages: [en]\nstart: '{evil}'\nnodes:\n  '{evil}':\n    menu: {{ prompt: {{ say: '\"><img src=x onerror=alert(2)>' }}, store: \"answer\", options: {{ \"1\": done }} }}\n  done:\n    hangup: {{}}\n"
        );
        let set = compile(dir.path(), &flow);
        let mut nodes = BTreeMap::new();
        let mut menu = figures("main", "menu", 5, 1);
        menu.keys.insert("1".into(), 4);
        nodes.insert(evil.to_owned(), menu);
        nodes.insert("done".into(), figures("main", "hangup", 4, 0));
        let mut r = report(
            nodes,
            vec![
                Transition {
                    from: "call".into(),
                    to: evil.into(),
                    count: 5,
                },
                Transition {
                    from: evil.into(),
                    to: "done".into(),
                    count: 4,
                },
            ],
        );
        r.paths = vec![PathCount {
            path: format!("{evil} -1-> done"),
            calls: 4,
        }];
        r.answers.insert(
            "answer".into(),
            BTreeMap::from([(evil.to_owned(), 3), ("<b>bold</b>".to_owned(), 1)]),
        );
        r.answer_stats.insert(
            "answer".into(),
            AnswerStats {
                responses: 4,
                too_many_values: false,
                mean: None,
                nps: None,
            },
        );
        r.warnings.push(format!("flow version {evil} is odd"));
        r.range.flow = Some("main".into());
        let html = render_page(&r, Some(&set));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>bold"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The hostile node is drawn, escaped, with its traffic.
        assert!(html.contains("<svg class=\"flow\""), "{html}");
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
        let tags = tag_names(&html);
        for bad in ["script", "img", "iframe", "link", "object", "embed"] {
            assert!(!tags.contains(bad), "<{bad}> in the page");
        }
    }

    #[test]
    fn the_page_draws_the_flow_with_its_traffic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flow = "languages: [en]\nstart: pick\nnodes:\n  pick:\n    menu: { prompt: hi, options: { \"1\": a, \"2\": b, \"*\": repeat } }\n  a:\n    message: { prompt: hi, next: pick }\n  b:\n    hangup: {}\n";
        let set = compile(dir.path(), flow);
        let nodes = BTreeMap::from([
            ("pick".to_owned(), figures("main", "menu", 90, 9)),
            ("a".to_owned(), figures("main", "message", 40, 0)),
            ("b".to_owned(), figures("main", "hangup", 30, 0)),
            ("gone".to_owned(), figures("main", "menu", 3, 3)),
        ]);
        let t = |from: &str, to: &str, count| Transition {
            from: from.into(),
            to: to.into(),
            count,
        };
        let mut r = report(
            nodes,
            vec![
                t("call", "pick", 50),
                t("pick", "a", 40),
                t("a", "pick", 40),
                t("pick", "b", 30),
                t("b", "pick", 2),
                t("call", "gone", 3),
            ],
        );
        r.answer_stats.insert(
            "nps".into(),
            AnswerStats {
                responses: 3,
                too_many_values: false,
                mean: Some(8.0),
                nps: Some(Nps {
                    promoters: 2,
                    passives: 0,
                    detractors: 1,
                    score: 33.3,
                }),
            },
        );
        r.answers.insert(
            "nps".into(),
            BTreeMap::from([
                ("10".to_owned(), 1),
                ("9".to_owned(), 1),
                ("2".to_owned(), 1),
            ]),
        );
        let html = render_page(&r, Some(&set));
        // Every diagram edge is drawn once, with its count.
        let d = crate::tools::graph::diagram(set.get("main").expect("main"));
        for e in &d.edges {
            let mark = format!("data-from=\"{}\" data-to=\"{}\"", e.from, e.to);
            assert_eq!(html.matches(&mark).count(), 1, "{mark}");
        }
        assert!(
            html.contains("<tspan class=\"count\">50 calls</tspan>"),
            "{html}"
        );
        assert!(
            html.contains("<tspan class=\"count\">40</tspan> · 1"),
            "{html}"
        );
        // The transition b -> pick is on no edge: drawn dashed, orange.
        assert_eq!(html.matches("class=\"edge extra\"").count(), 1, "{html}");
        // Drop-off on the node and the note about the node no longer in the flow.
        assert!(html.contains("9 hung up (10.0%)"), "{html}");
        assert!(html.contains("not drawn (see the table): gone"), "{html}");
        // The NPS card, numbers in numeric order.
        assert!(html.contains("NPS 33"), "{html}");
        let (two, nine, ten) = (
            html.find("<span>2</span>").expect("2"),
            html.find("<span>9</span>").expect("9"),
            html.find("<span>10</span>").expect("10"),
        );
        assert!(two < nine && nine < ten);
        // Nothing fetched from elsewhere.
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert_eq!(html, render_page(&r, Some(&set)), "deterministic");
    }

    #[test]
    fn a_report_without_calls_is_a_page_too() {
        let mut r = report(BTreeMap::new(), vec![]);
        r.calls = 0;
        r.calls_per_day.clear();
        r.outcomes = Outcomes::default();
        r.outcome_rates = OutcomeRates::default();
        r.containment_rate = 0.0;
        let html = render_page(&r, None);
        assert!(html.contains("<div class=\"k\">calls</div><div class=\"v\">0</div>"));
        assert!(html.contains("No flow to draw"), "{html}");
        assert!(!html.contains("<h2>Nodes</h2>") && !html.contains("<h2>Calls per day</h2>"));
        assert!(html.ends_with("</html>\n"));
        let dir = tempfile::tempdir().expect("tempdir");
        let set = compile(
            dir.path(),
            "languages: [en]\nstart: done\nnodes:\n  done:\n    hangup: {}\n",
        );
        r.range.flow = Some("main".into());
        let html = render_page(&r, Some(&set));
        assert!(
            html.contains("<svg class=\"flow\""),
            "the flow asked for, without traffic"
        );
        assert!(html.contains(">no calls</text>"), "{html}");
    }

    #[test]
    fn paths_mark_keys_and_arrows() {
        assert_eq!(
            path_html("language -1-> main_menu -> <x>"),
            "language <span class=\"key\"><b>1</b></span><span class=\"arrow\">→</span> main_menu <span class=\"arrow\">→</span> &lt;x&gt;"
        );
    }
}
