//! A flow drawn with its traffic, as inline SVG: the diagram `phonetree graph` draws,
//! laid out in layers, each edge as wide as the callers who took it and labelled with
//! their number, each node with the callers who entered it and a red bar (and tint) for
//! those who hung up there.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::layout::{self, Anchor, EdgeSpec, NodeSize, Rect};
use super::{NodeFigures, Report};
use crate::flow::Flow;
use crate::tools::graph::{Diagram, Shape, Vertex, diagram};

/// Widest stroke, for the busiest edge.
const MAX_STROKE: f64 = 14.0;
/// Stroke of an edge without traffic.
const THIN_STROKE: f64 = 1.3;
/// Longest node description kept, in characters.
const MAX_DETAIL: usize = 40;

/// How the report names nodes: `node`, or `flow/node` when it spans several flows.
#[derive(Debug, Clone, Copy)]
pub(super) struct NodeKeys {
    several_flows: bool,
}

impl NodeKeys {
    /// The naming `report` uses.
    pub(super) fn of(report: &Report) -> NodeKeys {
        let mut flows = report.nodes.values().map(|n| n.flow.as_str());
        let first = flows.next();
        NodeKeys {
            several_flows: flows.any(|f| Some(f) != first),
        }
    }

    /// The key of `node` of `flow` in [`Report::nodes`] and [`Report::transitions`].
    pub(super) fn key(&self, flow: &str, node: &str) -> String {
        if self.several_flows {
            format!("{flow}/{node}")
        } else {
            node.to_owned()
        }
    }
}

/// Escapes text for HTML and SVG element content and attribute values.
pub(super) fn esc(s: &str) -> String {
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

/// About how wide `text` is at `px` pixels in a sans-serif font (DejaVu Sans widths,
/// which are on the wide side of common fonts).
pub(super) fn text_width(text: &str, px: f64, bold: bool) -> f64 {
    let em: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.3,
            ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '/' | '-' => 0.4,
            'm' | 'w' | 'M' | 'W' | '%' => 0.95,
            'A'..='Z' => 0.72,
            '0'..='9' => 0.64,
            c if c.is_ascii() => 0.62,
            // Wide scripts and symbols.
            _ => 0.95,
        })
        .sum();
    em * px * if bold { 1.1 } else { 1.0 }
}

/// Text cut to `max` characters, with `…`.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// What one drawn edge carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// Callers who took it.
    Calls(u64),
    /// The report cannot tell (the edge ends the call or leaves the flow's nodes).
    Unknown,
}

/// An edge to draw: a diagram edge, or traffic between two drawn nodes that no edge of
/// this version has (an older version's edge, a fault's detour).
struct DrawnEdge {
    from: usize,
    to: usize,
    lines: Vec<String>,
    traffic: Traffic,
    in_diagram: bool,
}

/// An edge's label where it was put: its lines, the first led by the count.
#[derive(Clone)]
struct PlacedLabel {
    rect: Rect,
    lines: Vec<String>,
    count: Option<String>,
}

/// What a vertex shows.
struct Face<'a> {
    title: String,
    detail: Option<String>,
    figures: Option<&'a NodeFigures>,
}

/// A vertex's description on one line: its label lines after the id, a wrapped list
/// joined back, other lines after ` · `, cut to [`MAX_DETAIL`] characters.
fn detail(lines: &[String]) -> Option<String> {
    let mut out = String::new();
    for line in lines.iter().skip(1) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(',') { " " } else { " · " });
        }
        out.push_str(line);
    }
    (!out.is_empty()).then(|| cut(&out, MAX_DETAIL))
}

/// Shape geometry: the room at the top and bottom edges' ends, and at mid height.
fn insets(shape: Shape, h: f64) -> (f64, f64) {
    match shape {
        Shape::Wait => (16.0, 7.0),
        Shape::Decision => (16.0, 0.0),
        Shape::External => (14.0, 0.0),
        Shape::Terminal | Shape::Back => (h / 2.0, 0.0),
        Shape::Entry => (h / 2.0 - 6.0, 0.0),
        Shape::Handoff | Shape::Step | Shape::Data => (8.0, 0.0),
    }
}

/// The flow's diagram with the report's traffic, as an `<svg>` element.
pub(super) fn flow_svg(flow: &Flow, report: &Report, keys: NodeKeys) -> String {
    render(flow, &arrange(flow, report, keys))
}

/// Everything placed, before it is written out.
struct Arranged<'a> {
    d: Diagram,
    faces: Vec<Face<'a>>,
    edges: Vec<DrawnEdge>,
    specs: Vec<EdgeSpec>,
    placed: layout::Layout,
    labels: Vec<Option<PlacedLabel>>,
}

/// Lays out the diagram of `flow` with the report's traffic, and places the labels.
fn arrange<'a>(flow: &Flow, report: &'a Report, keys: NodeKeys) -> Arranged<'a> {
    let d = diagram(flow);
    let key_of = |v: &Vertex| -> Option<String> {
        if let Some(id) = v.node {
            return Some(keys.key(&flow.id, &flow.node(id).name));
        }
        v.elsewhere.as_ref().map(|(f, n)| keys.key(f, n))
    };
    let vertex_keys: Vec<Option<String>> = d.vertices.iter().map(key_of).collect();
    let faces: Vec<Face> = d
        .vertices
        .iter()
        .zip(&vertex_keys)
        .map(|(v, key)| Face {
            title: v.lines.first().cloned().unwrap_or_default(),
            detail: detail(&v.lines),
            // Only the flow's own nodes show figures.
            figures: v.node.and(key.as_ref()).and_then(|k| report.nodes.get(k)),
        })
        .collect();
    let edges = drawn_edges(&d, &vertex_keys, report);
    let busiest = edges
        .iter()
        .filter_map(|e| match e.traffic {
            Traffic::Calls(n) => Some(n),
            Traffic::Unknown => None,
        })
        .max()
        .unwrap_or(0);
    let stroke = |t: Traffic| match t {
        Traffic::Calls(n) if n > 0 && busiest > 0 => {
            1.6 + (MAX_STROKE - 1.6) * n as f64 / busiest as f64
        }
        _ => THIN_STROKE,
    };

    let sizes: Vec<NodeSize> = d
        .vertices
        .iter()
        .zip(&faces)
        .map(|(v, f)| node_size(v.shape, f))
        .collect();
    let specs: Vec<EdgeSpec> = edges
        .iter()
        .map(|e| EdgeSpec {
            from: e.from,
            to: e.to,
            thickness: stroke(e.traffic),
        })
        .collect();
    let placed = layout::layout(&sizes, &specs);

    // Labels: the busiest edges choose their spots first.
    let mut label_order: Vec<usize> = (0..edges.len()).collect();
    label_order.sort_by_key(|&i| {
        let n = match edges[i].traffic {
            Traffic::Calls(n) => n,
            Traffic::Unknown => 0,
        };
        (std::cmp::Reverse(n), i)
    });
    let mut taken: Vec<Rect> = placed
        .boxes
        .iter()
        .map(|b| Rect {
            x: b.x - 3.0,
            y: b.y - 3.0,
            w: b.w + 6.0,
            h: b.h + 6.0,
        })
        .collect();
    let mut labels: Vec<Option<PlacedLabel>> = vec![None; edges.len()];
    for &i in &label_order {
        let e = &edges[i];
        let count = match e.traffic {
            Traffic::Calls(n) if n > 0 || !e.in_diagram => Some(n),
            _ => None,
        };
        let count_text = count.map(|n| {
            if d.vertices[e.from].shape == Shape::Entry {
                format!("{n} calls")
            } else {
                n.to_string()
            }
        });
        let mut lines = e.lines.clone();
        if lines.is_empty() && count_text.is_none() {
            continue;
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
        let widths: Vec<f64> = lines
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let lead = match (&count_text, k) {
                    (Some(c), 0) => {
                        text_width(c, 11.0, true) + if l.is_empty() { 0.0 } else { 10.0 }
                    }
                    _ => 0.0,
                };
                lead + text_width(l, 11.0, false)
            })
            .collect();
        let w = widths.iter().copied().fold(0.0, f64::max) + 8.0;
        let h = lines.len() as f64 * 13.0 + 3.0;
        let route = &placed.routes[i];
        let rect_at = |(p, anchor): &(layout::Point, Anchor)| {
            let x = match anchor {
                Anchor::Middle => p.x - w / 2.0,
                Anchor::Start => p.x,
                Anchor::End => p.x - w,
            };
            Rect {
                x,
                y: p.y - h / 2.0,
                w,
                h,
            }
        };
        let Some(first) = route.label_spots.first() else {
            continue;
        };
        let chosen = route
            .label_spots
            .iter()
            .map(rect_at)
            .find(|r| !taken.iter().any(|t| t.overlaps(r)))
            .unwrap_or_else(|| rect_at(first));
        taken.push(chosen);
        labels[i] = Some(PlacedLabel {
            rect: chosen,
            lines,
            count: count_text,
        });
    }

    Arranged {
        d,
        faces,
        edges,
        specs,
        placed,
        labels,
    }
}

/// The arranged picture as an `<svg>` element.
fn render(flow: &Flow, arranged: &Arranged) -> String {
    let Arranged {
        d,
        faces,
        edges,
        specs,
        placed,
        labels,
    } = arranged;
    // The picture's extent: the layout and every label.
    let (mut x0, mut y0, mut x1, mut y1) = (0.0f64, 0.0f64, placed.width, placed.height);
    for PlacedLabel { rect: r, .. } in labels.iter().flatten() {
        x0 = x0.min(r.x - 6.0);
        y0 = y0.min(r.y - 6.0);
        x1 = x1.max(r.x + r.w + 6.0);
        y1 = y1.max(r.y + r.h + 6.0);
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"flow\" viewBox=\"{:.0} {:.0} {:.0} {:.0}\" width=\"{:.0}\" height=\"{:.0}\" role=\"img\" aria-label=\"flow {} with traffic\">",
        x0,
        y0,
        x1 - x0,
        y1 - y0,
        x1 - x0,
        y1 - y0,
        esc(&flow.id)
    );
    svg.push_str("<g class=\"edges\">");
    for (i, e) in edges.iter().enumerate() {
        let route = &placed.routes[i];
        if route.segments.is_empty() {
            continue;
        }
        let class = match (e.in_diagram, e.traffic) {
            (false, _) => "edge extra",
            (true, Traffic::Calls(n)) if n > 0 => "edge busy",
            (true, Traffic::Calls(_)) => "edge idle",
            (true, Traffic::Unknown) => "edge unknown",
        };
        let width = specs[i].thickness;
        let from = &d.vertices[e.from];
        let to = &d.vertices[e.to];
        let tip = route.tip;
        let dir = route.arrival();
        let alen = layout::arrow_length(width);
        let half = 3.5 + width * 0.55;
        let base = layout::Point {
            x: tip.x - dir.x * alen,
            y: tip.y - dir.y * alen,
        };
        let (nx, ny) = (-dir.y, dir.x);
        let tooltip = match e.traffic {
            Traffic::Calls(n) => format!(
                "{} → {}: {n} {}",
                faces[e.from].title,
                faces[e.to].title,
                if n == 1 { "call" } else { "calls" }
            ),
            Traffic::Unknown => format!("{} → {}", faces[e.from].title, faces[e.to].title),
        };
        let _ = write!(
            svg,
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title><path d=\"{}\" stroke-width=\"{width:.1}\"/><polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\"/></g>",
            esc(&from.id),
            esc(&to.id),
            esc(&tooltip),
            route.svg_path(),
            tip.x,
            tip.y,
            base.x + nx * half,
            base.y + ny * half,
            base.x - nx * half,
            base.y - ny * half,
        );
    }
    svg.push_str("</g><g class=\"nodes\">");
    for (i, v) in d.vertices.iter().enumerate() {
        node_svg(&mut svg, v, &faces[i], &placed.boxes[i]);
    }
    svg.push_str("</g><g class=\"labels\">");
    for (i, label) in labels.iter().enumerate() {
        let Some(PlacedLabel {
            rect: r,
            lines,
            count,
        }) = label
        else {
            continue;
        };
        let class = if edges[i].in_diagram {
            "label"
        } else {
            "label extra"
        };
        let _ = write!(
            svg,
            "<g class=\"{class}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\"/>",
            r.x, r.y, r.w, r.h
        );
        for (k, line) in lines.iter().enumerate() {
            let y = r.y + 12.0 + k as f64 * 13.0;
            let _ = write!(svg, "<text x=\"{:.1}\" y=\"{y:.1}\">", r.x + 4.0);
            if let (0, Some(shown)) = (k, count) {
                let _ = write!(svg, "<tspan class=\"count\">{}</tspan>", esc(shown));
                if !line.is_empty() {
                    svg.push_str(" · ");
                }
            }
            let _ = write!(svg, "{}</text>", esc(line));
        }
        svg.push_str("</g>");
    }
    svg.push_str("</g></svg>");
    svg
}

/// The diagram's edges with their traffic, then the transitions between drawn vertices
/// that no diagram edge carries.
fn drawn_edges(d: &Diagram, keys: &[Option<String>], report: &Report) -> Vec<DrawnEdge> {
    let index: BTreeMap<&str, usize> = d
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.as_str(), i))
        .collect();
    // Report key -> vertex; `call` is the entry.
    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (v, k)) in d.vertices.iter().zip(keys).enumerate() {
        if v.shape == Shape::Entry {
            by_key.insert("call", i);
        } else if let Some(k) = k {
            by_key.entry(k.as_str()).or_insert(i);
        }
    }
    let traffic: BTreeMap<(&str, &str), u64> = report
        .transitions
        .iter()
        .map(|t| ((t.from.as_str(), t.to.as_str()), t.count))
        .collect();
    let key_at = |i: usize| -> Option<&str> {
        if d.vertices[i].shape == Shape::Entry {
            Some("call")
        } else {
            keys[i].as_deref()
        }
    };
    let mut out: Vec<DrawnEdge> = Vec::new();
    for e in &d.edges {
        let (Some(&from), Some(&to)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
        else {
            continue;
        };
        let label = e.label(str::to_owned, "\n");
        let lines: Vec<String> = if label.is_empty() {
            Vec::new()
        } else {
            label.split('\n').map(|l| cut(l, 44)).collect()
        };
        let t = match (key_at(from), key_at(to)) {
            (Some(a), Some(b)) => Traffic::Calls(traffic.get(&(a, b)).copied().unwrap_or(0)),
            _ => Traffic::Unknown,
        };
        out.push(DrawnEdge {
            from,
            to,
            lines,
            traffic: t,
            in_diagram: true,
        });
    }
    for t in &report.transitions {
        let (Some(&from), Some(&to)) = (by_key.get(t.from.as_str()), by_key.get(t.to.as_str()))
        else {
            continue;
        };
        if out.iter().any(|e| e.from == from && e.to == to) {
            continue;
        }
        out.push(DrawnEdge {
            from,
            to,
            lines: Vec::new(),
            traffic: Traffic::Calls(t.count),
            in_diagram: false,
        });
    }
    out
}

/// How big a vertex is drawn.
fn node_size(shape: Shape, face: &Face) -> NodeSize {
    if shape == Shape::Entry {
        return NodeSize {
            width: 52.0,
            height: 52.0,
            inset: 20.0,
            side_inset: 0.0,
        };
    }
    let pseudo = face.detail.is_none() && face.figures.is_none();
    let title_w = text_width(&face.title, 13.0, true);
    let detail_w = face
        .detail
        .as_ref()
        .map_or(0.0, |d| text_width(d, 11.0, false));
    let figures_w = text_width(&figures_line(face.figures), 11.0, false);
    let height = if pseudo {
        30.0
    } else {
        let mut h = 12.0 + 15.0 + 14.0;
        if face.detail.is_some() {
            h += 14.0;
        }
        h += 12.0; // the drop-off bar
        if shape == Shape::Data { h + 10.0 } else { h }
    };
    let (inset, side_inset) = insets(shape, height);
    let text = if pseudo {
        title_w
    } else {
        title_w.max(detail_w).max(figures_w)
    };
    let shape_room = match shape {
        Shape::Wait | Shape::Decision => 2.0 * 14.0,
        Shape::External => 16.0,
        Shape::Terminal | Shape::Back => height * 0.6,
        _ => 0.0,
    };
    NodeSize {
        width: (text + 24.0 + shape_room).max(if pseudo { 70.0 } else { 120.0 }),
        height,
        inset,
        side_inset,
    }
}

/// The node's figures line: entered, and hung up when any.
fn figures_line(figures: Option<&NodeFigures>) -> String {
    match figures {
        Some(f) if f.entered > 0 && f.abandoned > 0 => format!(
            "{} entered · {} hung up ({})",
            f.entered,
            f.abandoned,
            pct(f.abandoned_rate)
        ),
        Some(f) if f.entered > 0 => format!("{} entered · none hung up", f.entered),
        _ => "no calls".to_owned(),
    }
}

/// Mixes white into red by `t` (0 white, 1 a light red).
fn tint(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let mix = |white: f64, red: f64| (white + (red - white) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(255.0, 248.0),
        mix(255.0, 196.0),
        mix(255.0, 196.0)
    )
}

/// One vertex: its shape, texts and, for a node with figures, the drop-off bar.
fn node_svg(svg: &mut String, v: &Vertex, face: &Face, b: &Rect) {
    let (x, y, w, h) = (b.x, b.y, b.w, b.h);
    let active = face.figures.is_some_and(|f| f.entered > 0);
    let fill = match face.figures {
        Some(f) if f.entered > 0 => tint(f.abandoned_rate / 0.4),
        Some(_) => "#f1f3f6".to_owned(),
        None => match v.shape {
            Shape::Entry => "#2f5f98".to_owned(),
            _ => "#f7f8fa".to_owned(),
        },
    };
    let class = match (v.shape, active) {
        (Shape::Entry, _) => "node entry",
        (_, true) => "node",
        (_, false) if face.figures.is_some() => "node quiet",
        _ => "node pseudo",
    };
    let mut tooltip = face.title.clone();
    if let Some(f) = face.figures {
        let _ = write!(
            tooltip,
            " ({}): entered {}, hung up {} ({}), invalid {}, no input {}, median {:.1} s",
            f.kind.as_deref().unwrap_or("?"),
            f.entered,
            f.abandoned,
            pct(f.abandoned_rate),
            f.invalid,
            f.no_input,
            f.median_seconds
        );
    }
    let _ = write!(
        svg,
        "<g class=\"{class}\" data-id=\"{}\"><title>{}</title>",
        esc(&v.id),
        esc(&tooltip)
    );
    let style = format!("class=\"shape\" fill=\"{fill}\"");
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    match v.shape {
        Shape::Entry => {
            let _ = write!(
                svg,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{:.1}\" {style}/>",
                w / 2.0
            );
        }
        Shape::Wait => {
            let s = 14.0;
            let _ = write!(
                svg,
                "<polygon points=\"{:.1},{y:.1} {:.1},{y:.1} {:.1},{:.1} {x:.1},{:.1}\" {style}/>",
                x + s,
                x + w,
                x + w - s,
                y + h,
                y + h
            );
        }
        Shape::Decision => {
            let s = 14.0;
            let _ = write!(
                svg,
                "<polygon points=\"{x:.1},{cy:.1} {:.1},{y:.1} {:.1},{y:.1} {:.1},{cy:.1} {:.1},{:.1} {:.1},{:.1}\" {style}/>",
                x + s,
                x + w - s,
                x + w,
                x + w - s,
                y + h,
                x + s,
                y + h
            );
        }
        Shape::Handoff => {
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\" {style}/><rect class=\"inner\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"1\"/>",
                x + 3.5,
                y + 3.5,
                w - 7.0,
                h - 7.0
            );
        }
        Shape::Step => {
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\" {style}/>"
            );
        }
        Shape::Data => {
            let ry = 6.0;
            let rx = w / 2.0;
            let _ = write!(
                svg,
                "<path d=\"M{x:.1} {:.1} A{rx:.1} {ry:.1} 0 0 1 {:.1} {:.1} V{:.1} A{rx:.1} {ry:.1} 0 0 1 {x:.1} {:.1} Z\" {style}/><path class=\"rim\" d=\"M{x:.1} {:.1} A{rx:.1} {ry:.1} 0 0 0 {:.1} {:.1}\"/>",
                y + ry,
                x + w,
                y + ry,
                y + h - ry,
                y + h - ry,
                y + ry,
                x + w,
                y + ry
            );
        }
        Shape::Terminal | Shape::Back => {
            let dashed = if v.shape == Shape::Back {
                " stroke-dasharray=\"4 3\""
            } else {
                " style=\"stroke-width:2\""
            };
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{:.1}\" {style}{dashed}/>",
                h / 2.0
            );
        }
        Shape::External => {
            let s = 14.0;
            let _ = write!(
                svg,
                "<polygon points=\"{x:.1},{y:.1} {:.1},{y:.1} {:.1},{cy:.1} {:.1},{:.1} {x:.1},{:.1}\" {style}/>",
                x + w - s,
                x + w,
                x + w - s,
                y + h,
                y + h
            );
        }
    }
    if v.shape == Shape::Entry {
        let _ = write!(
            svg,
            "<text class=\"entry-text\" x=\"{cx:.1}\" y=\"{:.1}\">{}</text></g>",
            cy + 4.5,
            esc(&face.title)
        );
        return;
    }
    let pseudo = face.detail.is_none() && face.figures.is_none();
    if pseudo {
        let _ = write!(
            svg,
            "<text class=\"title small\" x=\"{cx:.1}\" y=\"{:.1}\">{}</text></g>",
            cy + 4.0,
            esc(&face.title)
        );
        return;
    }
    let mut ty = y + 12.0 + 12.0 + if v.shape == Shape::Data { 8.0 } else { 0.0 };
    let _ = write!(
        svg,
        "<text class=\"title\" x=\"{cx:.1}\" y=\"{ty:.1}\">{}</text>",
        esc(&face.title)
    );
    if let Some(detail) = &face.detail {
        ty += 14.0;
        let _ = write!(
            svg,
            "<text class=\"detail\" x=\"{cx:.1}\" y=\"{ty:.1}\">{}</text>",
            esc(detail)
        );
    }
    ty += 14.0;
    let figures = figures_line(face.figures);
    match face.figures {
        Some(f) if f.entered > 0 && f.abandoned > 0 => {
            let _ = write!(
                svg,
                "<text class=\"figures\" x=\"{cx:.1}\" y=\"{ty:.1}\"><tspan class=\"count\">{}</tspan> entered · <tspan class=\"lost\">{} hung up ({})</tspan></text>",
                f.entered,
                f.abandoned,
                pct(f.abandoned_rate)
            );
        }
        Some(f) if f.entered > 0 => {
            let _ = write!(
                svg,
                "<text class=\"figures\" x=\"{cx:.1}\" y=\"{ty:.1}\"><tspan class=\"count\">{}</tspan> entered · none hung up</text>",
                f.entered
            );
        }
        _ => {
            let _ = write!(
                svg,
                "<text class=\"figures\" x=\"{cx:.1}\" y=\"{ty:.1}\">{}</text>",
                esc(&figures)
            );
        }
    }
    // The drop-off bar: the share of entries that hung up here.
    let (inset, _) = insets(v.shape, h);
    let bar_x = x + inset.max(10.0);
    let bar_w = (w - 2.0 * inset.max(10.0)).max(10.0);
    let bar_y = y + h - if v.shape == Shape::Data { 12.0 } else { 11.0 };
    let rate = face
        .figures
        .map_or(0.0, |f| f.abandoned_rate.clamp(0.0, 1.0));
    let _ = write!(
        svg,
        "<rect class=\"bar-track\" x=\"{bar_x:.1}\" y=\"{bar_y:.1}\" width=\"{bar_w:.1}\" height=\"5\" rx=\"2\"/>"
    );
    if rate > 0.0 {
        let _ = write!(
            svg,
            "<rect class=\"bar-lost\" x=\"{bar_x:.1}\" y=\"{bar_y:.1}\" width=\"{:.1}\" height=\"5\" rx=\"2\"/>",
            (bar_w * rate).max(2.0)
        );
    }
    svg.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::report::{OutcomeRates, Outcomes, ReportRange, Spread, Transition};

    /// The shipped flow with traffic on every edge between its nodes.
    fn acme_report(flow: &Flow) -> Report {
        let d = diagram(flow);
        let name = |id: &str| -> Option<String> {
            if id == "entry" {
                return Some("call".into());
            }
            d.vertices
                .iter()
                .find(|v| v.id == id)
                .and_then(|v| v.node)
                .map(|n| flow.node(n).name.clone())
        };
        let transitions: Vec<Transition> = d
            .edges
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                Some(Transition {
                    from: name(&e.from)?,
                    to: name(&e.to)?,
                    count: (i as u64 * 37) % 120 + 1,
                })
            })
            .collect();
        let nodes = flow
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let entered = 40 + i as u64 * 11;
                let abandoned = i as u64 % 4;
                (
                    n.name.clone(),
                    NodeFigures {
                        flow: flow.id.clone(),
                        kind: Some(n.kind.name().into()),
                        entered,
                        keys: BTreeMap::new(),
                        invalid: 0,
                        no_input: 0,
                        invalid_rate: 0.0,
                        no_input_rate: 0.0,
                        retries_exhausted: 0,
                        abandoned,
                        abandoned_rate: abandoned as f64 / entered as f64,
                        median_seconds: 1.0,
                    },
                )
            })
            .collect();
        Report {
            range: ReportRange {
                flow: Some(flow.id.clone()),
                since: chrono::DateTime::UNIX_EPOCH,
                until: chrono::DateTime::UNIX_EPOCH,
            },
            calls: 100,
            calls_per_day: BTreeMap::new(),
            outcomes: Outcomes::default(),
            outcome_rates: OutcomeRates::default(),
            in_progress: 0,
            containment_rate: 0.0,
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

    fn acme() -> std::sync::Arc<Flow> {
        let compiled = crate::flow::compile_paths(&[PathBuf::from("flows")], Path::new("prompts"))
            .expect("read");
        compiled
            .flows
            .and_then(|set| set.get("acme").cloned())
            .expect("acme compiles")
    }

    #[test]
    fn the_shipped_flow_lays_out_without_overlaps() {
        let flow = acme();
        let report = acme_report(&flow);
        let keys = NodeKeys::of(&report);
        let a = arrange(&flow, &report, keys);
        assert_eq!(a.placed.boxes.len(), a.d.vertices.len());
        for (i, p) in a.placed.boxes.iter().enumerate() {
            for (j, q) in a.placed.boxes.iter().enumerate().skip(i + 1) {
                assert!(
                    !p.overlaps(q),
                    "{} overlaps {}",
                    a.d.vertices[i].id,
                    a.d.vertices[j].id
                );
            }
        }
        // Every edge of the diagram is drawn, with its traffic where it has any.
        assert_eq!(
            a.edges.iter().filter(|e| e.in_diagram).count(),
            a.d.edges.len()
        );
        for (e, route) in a.edges.iter().zip(&a.placed.routes) {
            assert!(!route.segments.is_empty());
            if let Traffic::Calls(n) = e.traffic {
                assert!(n > 0, "every edge between nodes has traffic here");
            }
        }
        let heaviest = a.specs.iter().map(|s| s.thickness).fold(0.0, f64::max);
        assert!((heaviest - MAX_STROKE).abs() < 1e-9, "{heaviest}");
        // Labels sit on no box and on no other label.
        let placed: Vec<&Rect> = a.labels.iter().flatten().map(|l| &l.rect).collect();
        assert!(
            placed.len() >= a.d.edges.len() - 2,
            "nearly every edge is labelled"
        );
        for (i, l) in placed.iter().enumerate() {
            for b in &a.placed.boxes {
                assert!(!l.overlaps(b), "label {l:?} on box {b:?}");
            }
            for m in placed.iter().skip(i + 1) {
                assert!(!l.overlaps(m), "label {l:?} on label {m:?}");
            }
        }
        // The same report gives the same picture.
        assert_eq!(
            flow_svg(&flow, &report, keys),
            flow_svg(&flow, &report, keys)
        );
    }

    #[test]
    fn text_is_measured_wider_for_bold_and_wide_scripts() {
        assert!(text_width("main_menu", 13.0, true) > text_width("main_menu", 13.0, false));
        assert!(text_width("안녕", 12.0, false) > text_width("ab", 12.0, false));
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(
            detail(&[
                "n".into(),
                "menu · a, b,".into(),
                "c".into(),
                "hours".into()
            ]),
            Some("menu · a, b, c · hours".into())
        );
    }
}
