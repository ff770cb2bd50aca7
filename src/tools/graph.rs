//! A compiled flow as a diagram: Mermaid (renders on GitHub) or Graphviz DOT.
//!
//! Both formats draw the same picture: an entry point `call` into the start node,
//! every node with its id, kind and prompt, edges labelled by what makes a call
//! follow them (parallel edges merged), and small pseudo-nodes for `hangup`,
//! `back` and nodes of other flows. Output order follows the file, so it can be
//! snapshotted. The model both draw from ([`diagram`]) is also what the HTML report
//! lays out.

use std::fmt::Write as _;

use crate::flow::{BranchNode, Condition, EdgeLabel, Flow, LookupMethod, NodeId, NodeKind, Target};

/// Longest text kept in one label line before it is cut with `…`.
const MAX_LINE: usize = 48;
/// Width at which lists (`a, b, c`) wrap onto the next label line.
const WRAP: usize = 40;
/// Most lines a node's description takes.
const MAX_LINES: usize = 3;

/// How a vertex is drawn; each format maps it to a shape of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The incoming call.
    Entry,
    /// Waits for keys: menus and inputs.
    Wait,
    /// Routes without asking: branches.
    Decision,
    /// Hands the call to someone else: transfers, queues, voicemail.
    Handoff,
    /// Plays or sets and moves on: messages and sets.
    Step,
    /// Asks an HTTP service.
    Data,
    /// Ends the call: hangup nodes and the `hangup` target.
    Terminal,
    /// The `back` target.
    Back,
    /// A node of another flow.
    External,
}

/// One box of the diagram.
#[derive(Debug)]
pub(crate) struct Vertex {
    /// Unique within the diagram: `entry`, `n3` (node 3), `hangup`, `back`, `ext0`.
    pub(crate) id: String,
    /// The label: the node's id, then what it is and does.
    pub(crate) lines: Vec<String>,
    pub(crate) shape: Shape,
    /// The flow's node this vertex draws; `None` for the entry and pseudo-nodes.
    pub(crate) node: Option<NodeId>,
    /// For a node of another flow: that flow and node.
    pub(crate) elsewhere: Option<(String, String)>,
}

/// One arrow: every way from one vertex to another, merged.
#[derive(Debug)]
pub(crate) struct Edge {
    /// [`Vertex::id`] of the source.
    pub(crate) from: String,
    /// [`Vertex::id`] of the target.
    pub(crate) to: String,
    /// What makes a call follow it (a key, an outcome), one per merged way; may be empty.
    pub(crate) labels: Vec<String>,
}

impl Edge {
    /// The labels escaped and joined by `, `, or one a line when one has a comma of its own.
    pub(crate) fn label(&self, escape: fn(&str) -> String, line_break: &str) -> String {
        let parts: Vec<&String> = self.labels.iter().filter(|l| !l.is_empty()).collect();
        let sep = if parts.iter().any(|l| l.contains(',')) {
            line_break
        } else {
            ", "
        };
        let escaped: Vec<String> = parts.iter().map(|l| escape(l)).collect();
        escaped.join(sep)
    }
}

/// The picture both formats draw (and the HTML report lays out): vertices in file order,
/// then pseudo-nodes; edges by source, each (from, to) pair once.
#[derive(Debug, Default)]
pub(crate) struct Diagram {
    pub(crate) vertices: Vec<Vertex>,
    pub(crate) edges: Vec<Edge>,
}

/// The diagram of `flow`.
pub(crate) fn diagram(flow: &Flow) -> Diagram {
    Diagram::of(flow)
}

impl Diagram {
    fn of(flow: &Flow) -> Diagram {
        let mut d = Diagram::default();
        d.vertices.push(Vertex {
            id: "entry".into(),
            lines: vec!["call".into()],
            shape: Shape::Entry,
            node: None,
            elsewhere: None,
        });
        let start = node_id(flow.start);
        d.edges.push(Edge {
            from: "entry".into(),
            to: start.clone(),
            labels: vec![],
        });
        let mut pseudo: Vec<Vertex> = Vec::new();
        for (i, node) in flow.nodes.iter().enumerate() {
            let from = format!("n{i}");
            let Ok(raw) = u32::try_from(i) else { break };
            d.vertices.push(Vertex {
                id: from.clone(),
                lines: [vec![short(&node.name)], describe(&node.kind)].concat(),
                shape: shape(&node.kind),
                node: Some(NodeId(raw)),
                elsewhere: None,
            });
            let mut out: Vec<Edge> = Vec::new();
            for (label, target) in flow.edges(NodeId(raw)) {
                let to = match target {
                    Target::Node(n) => node_id(*n),
                    Target::Start => start.clone(),
                    Target::Repeat => from.clone(),
                    Target::Back => pseudo_vertex(&mut pseudo, "previous menu", Shape::Back, None),
                    Target::Hangup => pseudo_vertex(&mut pseudo, "hangup", Shape::Terminal, None),
                    Target::Flow { flow, node } => pseudo_vertex(
                        &mut pseudo,
                        &format!("{flow}:{node}"),
                        Shape::External,
                        Some((flow.clone(), node.clone())),
                    ),
                };
                let text = edge_text(&node.kind, label);
                match out.iter_mut().find(|e| e.to == to) {
                    Some(e) => e.labels.push(text),
                    None => out.push(Edge {
                        from: from.clone(),
                        to,
                        labels: vec![text],
                    }),
                }
            }
            d.edges.extend(out);
        }
        d.vertices.extend(pseudo);
        d
    }
}

fn node_id(id: NodeId) -> String {
    format!("n{}", id.index())
}

/// The id of the pseudo-node with this label, added on first use; `elsewhere` is the
/// other flow's node it stands for.
fn pseudo_vertex(
    pseudo: &mut Vec<Vertex>,
    label: &str,
    shape: Shape,
    elsewhere: Option<(String, String)>,
) -> String {
    if let Some(v) = pseudo
        .iter()
        .find(|v| v.shape == shape && v.lines.first().map(String::as_str) == Some(label))
    {
        return v.id.clone();
    }
    let id = match shape {
        Shape::Terminal => "hangup".to_string(),
        Shape::Back => "back".to_string(),
        _ => format!(
            "ext{}",
            pseudo.iter().filter(|v| v.shape == Shape::External).count()
        ),
    };
    pseudo.push(Vertex {
        id: id.clone(),
        lines: vec![short(label)],
        shape,
        node: None,
        elsewhere,
    });
    id
}

fn shape(kind: &NodeKind) -> Shape {
    match kind {
        NodeKind::Menu(_) | NodeKind::Input(_) => Shape::Wait,
        NodeKind::Branch(_) | NodeKind::Split(_) => Shape::Decision,
        NodeKind::Transfer(_) | NodeKind::Queue(_) | NodeKind::Voicemail(_) => Shape::Handoff,
        NodeKind::Message(_) | NodeKind::Set(_) => Shape::Step,
        NodeKind::Lookup(_) => Shape::Data,
        NodeKind::Hangup(_) => Shape::Terminal,
    }
}

/// The label lines under the id: the kind and what matters most about the node.
fn describe(kind: &NodeKind) -> Vec<String> {
    let detail = match kind {
        NodeKind::Menu(m) => Some(m.prompt.summary.clone()),
        NodeKind::Input(i) => Some(i.prompt.summary.clone()),
        NodeKind::Message(m) => Some(m.prompt.summary.clone()),
        NodeKind::Transfer(t) => Some(t.to.to_string()),
        NodeKind::Queue(q) => Some(q.name.clone()),
        NodeKind::Voicemail(v) => v.prompt.as_ref().map(|p| p.summary.clone()),
        NodeKind::Branch(BranchNode::Hours { name, .. }) => Some(format!("hours: {name}")),
        NodeKind::Branch(BranchNode::When { .. }) => Some("when".into()),
        NodeKind::Split(s) => Some(format!("{} ways", s.ways.len())),
        NodeKind::Set(s) => Some(list(s.vars.iter().map(|(k, _)| k.as_str()), 4)),
        NodeKind::Lookup(l) => {
            let method = match l.method {
                LookupMethod::Get => "GET",
                LookupMethod::Post => "POST",
            };
            Some(format!("{method} {}", short_url(&l.url.source())))
        }
        NodeKind::Hangup(h) => h.prompt.as_ref().map(|p| p.summary.clone()),
    };
    let mut lines = match detail {
        Some(d) if !d.is_empty() => wrap(&format!("{} · {d}", kind.name())),
        _ => vec![kind.name().to_string()],
    };
    if let NodeKind::Branch(BranchNode::Hours { schedule, .. }) = kind {
        lines.push(short(&schedule.describe()));
    }
    lines
}

/// Text split after `, ` into lines of about [`WRAP`] characters, at most [`MAX_LINES`].
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for piece in text.split_inclusive(", ") {
        let width = line.chars().count() + piece.trim_end().chars().count();
        if !line.is_empty() && width > WRAP {
            lines.push(line.trim_end().to_string());
            line.clear();
        }
        line.push_str(piece);
    }
    lines.push(line.trim_end().to_string());
    if lines.len() > MAX_LINES {
        lines.truncate(MAX_LINES);
        if let Some(last) = lines.last_mut() {
            last.push_str(" …");
        }
    }
    lines.iter().map(|l| short(l)).collect()
}

/// A URL as host and path, without scheme and query; a long path keeps its last segments.
fn short_url(url: &str) -> String {
    const MAX: usize = 34;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let Some((host, path)) = rest.split_once('/') else {
        return rest.to_string();
    };
    if rest.chars().count() <= MAX {
        return rest.to_string();
    }
    let mut width = host.chars().count() + 2;
    let mut tail: Vec<&str> = Vec::new();
    for segment in path.rsplit('/') {
        width += segment.chars().count() + 1;
        if width > MAX && !tail.is_empty() {
            break;
        }
        tail.push(segment);
    }
    tail.reverse();
    format!("{host}/…/{}", tail.join("/"))
}

/// What an edge says: the key, the outcome or the branch condition.
fn edge_text(kind: &NodeKind, label: EdgeLabel) -> String {
    match (kind, label) {
        (NodeKind::Lookup(_), EdgeLabel::Next) => "ok".into(),
        (_, EdgeLabel::Next) => String::new(),
        (NodeKind::Split(s), EdgeLabel::Way(i)) => percent(s.percent(i)),
        (NodeKind::Branch(BranchNode::When { arms, .. }), EdgeLabel::When(i)) => arms
            .get(i)
            .map_or_else(|| label.to_string(), |(c, _)| condition(c)),
        _ => label.to_string(),
    }
}

/// A split way's share: `70%`, `33.3%`.
fn percent(p: f64) -> String {
    let rounded = (p * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}%")
    } else {
        format!("{rounded:.1}%")
    }
}

fn condition(c: &Condition) -> String {
    let text = match c {
        Condition::VarIn { var, values } => match values.as_slice() {
            [one] => format!("{var} = {one}"),
            _ => format!("{var} in [{}]", list(values.iter().map(String::as_str), 3)),
        },
        Condition::VarExists { var, exists: true } => format!("{var} set"),
        Condition::VarExists { var, exists: false } => format!("{var} not set"),
        Condition::CallerIn(numbers) => {
            format!(
                "caller in [{}]",
                list(numbers.iter().map(String::as_str), 2)
            )
        }
    };
    short(&text)
}

/// The first `keep` items joined by `, `, then `…` for the rest.
fn list<'a>(items: impl ExactSizeIterator<Item = &'a str>, keep: usize) -> String {
    let more = items.len() > keep;
    let mut out: Vec<&str> = items.take(keep).collect();
    if more {
        out.push("…");
    }
    out.join(", ")
}

/// One line of text: control characters as spaces, cut at [`MAX_LINE`] characters.
fn short(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= MAX_LINE {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX_LINE - 1).collect();
    cut.push('…');
    cut
}

/// Text for inside a Mermaid `"…"` string: quotes and markup characters as entities.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            '%' => out.push_str("#37;"),
            _ => out.push(c),
        }
    }
    out
}

/// The flow as a Mermaid `flowchart`, top to bottom, ready for a ```` ```mermaid ```` block.
pub fn render_mermaid(flow: &Flow) -> String {
    let d = Diagram::of(flow);
    let mut out = String::from("flowchart TD\n");
    for v in &d.vertices {
        let text: Vec<String> = v.lines.iter().map(|l| mermaid_text(l)).collect();
        let text = text.join("<br/>");
        let (open, close) = match v.shape {
            Shape::Entry => ("((", "))"),
            Shape::Wait => ("[/", "/]"),
            Shape::Decision => ("{", "}"),
            Shape::Handoff => ("[[", "]]"),
            Shape::Step => ("[", "]"),
            Shape::Data => ("[(", ")]"),
            Shape::Terminal | Shape::Back => ("([", "])"),
            Shape::External => (">", "]"),
        };
        let _ = writeln!(out, "  {}{open}\"{text}\"{close}", v.id);
    }
    for e in &d.edges {
        let label = e.label(mermaid_text, "<br/>");
        if label.is_empty() {
            let _ = writeln!(out, "  {} --> {}", e.from, e.to);
        } else {
            let _ = writeln!(out, "  {} -->|\"{label}\"| {}", e.from, e.to);
        }
    }
    out
}

/// Text for inside a DOT `"…"` string.
fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The flow as a Graphviz `digraph`, for `dot -Tsvg`.
pub fn render_dot(flow: &Flow) -> String {
    let d = Diagram::of(flow);
    let mut out = format!("digraph \"{}\" {{\n", dot_text(&flow.id));
    out.push_str("  node [shape=box];\n");
    for v in &d.vertices {
        let text: Vec<String> = v.lines.iter().map(|l| dot_text(l)).collect();
        let attrs = match v.shape {
            Shape::Entry => "shape=circle",
            Shape::Wait => "shape=parallelogram",
            Shape::Decision => "shape=diamond",
            Shape::Handoff => "shape=box, peripheries=2",
            Shape::Step => "shape=box",
            Shape::Data => "shape=cylinder",
            Shape::Terminal => "shape=box, style=\"rounded,bold\"",
            Shape::Back => "shape=box, style=\"rounded,dashed\"",
            Shape::External => "shape=cds",
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\", {attrs}];",
            v.id,
            text.join("\\n")
        );
    }
    for e in &d.edges {
        let label = e.label(dot_text, "\\n");
        if label.is_empty() {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", e.from, e.to);
        } else {
            let _ = writeln!(out, "  \"{}\" -> \"{}\" [label=\"{label}\"];", e.from, e.to);
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;

    fn compile(flows: &Path, prompts: &Path) -> crate::flow::FlowSet {
        let compiled = crate::flow::compile_paths(&[flows.to_path_buf()], prompts).expect("read");
        let errors: Vec<String> = compiled.diagnostics.iter().map(|d| d.to_string()).collect();
        compiled
            .flows
            .unwrap_or_else(|| panic!("{}", errors.join("\n")))
    }

    fn acme() -> Arc<Flow> {
        let set = compile(&PathBuf::from("flows"), Path::new("prompts"));
        set.get("acme").cloned().expect("acme")
    }

    /// The Mermaid id of a node.
    fn id(flow: &Flow, name: &str) -> String {
        node_id(flow.node_by_name(name).expect(name))
    }

    /// Mermaid edge lines from one node to another.
    fn edges_between<'a>(text: &'a str, from: &str, to: &str) -> Vec<&'a str> {
        let (head, tail) = (format!("  {from} -->"), format!(" {to}"));
        text.lines()
            .filter(|l| l.starts_with(&head) && l.ends_with(&tail))
            .collect()
    }

    #[test]
    fn every_node_appears_once_in_both_formats() {
        let flow = acme();
        let mermaid = render_mermaid(&flow);
        let dot = render_dot(&flow);
        assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
        assert!(
            dot.starts_with("digraph \"acme\" {\n") && dot.ends_with("}\n"),
            "{dot}"
        );
        for (i, node) in flow.nodes.iter().enumerate() {
            let defs: Vec<&str> = mermaid
                .lines()
                .filter(|l| l.contains(&format!("\"{}<br/>", node.name)))
                .collect();
            assert_eq!(defs.len(), 1, "{}: {defs:?}", node.name);
            assert!(defs[0].starts_with(&format!("  n{i}")), "{defs:?}");
            let in_dot = format!("  \"n{i}\" [label=\"{}\\n", node.name);
            assert_eq!(dot.matches(&in_dot).count(), 1, "{}\n{dot}", node.name);
        }
        assert!(mermaid.contains("  entry((\"call\"))\n"), "{mermaid}");
        assert!(mermaid.contains(&format!("  entry --> {}\n", id(&flow, "check_hours"))));
        assert!(mermaid.contains(r#"[/"main_menu<br/>menu · main_menu"/]"#));
        assert!(mermaid.contains("transfer · +14155550100"), "{mermaid}");
        assert!(mermaid.contains("queue · support"), "{mermaid}");
        assert!(mermaid.contains("lookup · GET 127.0.0.1:9000/accounts/{account}"));
        assert!(mermaid.contains("branch · hours: business<br/>mon-fri 08:00-18:00"));
        assert_eq!(mermaid.matches("([\"hangup\"])").count(), 1, "{mermaid}");
    }

    #[test]
    fn edges_are_labelled_and_merged() {
        let flow = acme();
        let m = render_mermaid(&flow);
        let n = |name: &str| id(&flow, name);
        let survey = edges_between(&m, &n("survey"), &n("goodbye"));
        assert_eq!(
            survey,
            [format!(
                "  {} -->|\"1, 2, 3, 4, 5\"| {}",
                n("survey"),
                n("goodbye")
            )]
        );
        let main = n("main_menu");
        assert_eq!(
            edges_between(&m, &main, &main),
            [format!("  {main} -->|\"*\"| {main}")]
        );
        let closed = edges_between(&m, &n("check_hours"), &n("after_hours"));
        assert_eq!(closed.len(), 1);
        assert!(closed[0].contains("|\"closed\"|"), "{closed:?}");
        let no_answer = edges_between(&m, &n("operator"), &n("voicemail"));
        assert_eq!(no_answer.len(), 1);
        assert!(
            no_answer[0].contains("|\"no-answer, busy, failed\"|"),
            "{no_answer:?}"
        );
        for from in ["language", "account", "survey"] {
            let fail = edges_between(&m, &n(from), &n("operator"));
            assert_eq!(fail.len(), 1, "{from}");
            assert!(fail[0].contains("|\"invalid/timeout x3\"|"), "{fail:?}");
        }
        let zero = edges_between(&m, &main, &n("operator"));
        assert_eq!(
            zero,
            [format!(
                "  {main} -->|\"0, invalid/timeout x3\"| {}",
                n("operator")
            )]
        );
        let lookup = n("lookup_account");
        assert!(edges_between(&m, &lookup, &n("balance"))[0].contains("|\"ok\"|"));
        assert!(edges_between(&m, &lookup, &n("operator"))[0].contains("|\"error\"|"));
        assert!(m.contains(&format!(
            "  {} -->|\"left queue\"| hangup\n",
            n("support_queue")
        )));
        // One edge per (from, to) pair.
        let edges: Vec<&str> = m.lines().filter(|l| l.contains("-->")).collect();
        let mut pairs: Vec<(&str, &str)> = edges
            .iter()
            .map(|l| {
                let mut words = l.split_whitespace();
                (words.next().unwrap_or(""), words.last().unwrap_or(""))
            })
            .collect();
        let count = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), count, "{m}");
        let dot = render_dot(&flow);
        let dot_survey = format!(
            "\"{}\" -> \"{}\" [label=\"1, 2, 3, 4, 5\"]",
            n("survey"),
            n("goodbye")
        );
        assert!(dot.contains(&dot_survey), "{dot}");
        assert!(
            dot.contains(&format!("\"{main}\" -> \"{main}\" [label=\"*\"]")),
            "{dot}"
        );
    }

    /// A project with two flows that use every target kind, quotes, backslashes,
    /// Persian and Korean.
    fn odd_project() -> (tempfile::TempDir, crate::flow::FlowSet) {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = dir.path().join("flows");
        let prompts = dir.path().join("prompts");
        std::fs::create_dir_all(&flows).expect("mkdir");
        std::fs::create_dir_all(&prompts).expect("mkdir");
        std::fs::write(prompts.join("en.yaml"), "hi: \"Hello\"\n").expect("write");
        let main = r##"languages: [en]
start: 'say "hi" \ now'
nodes:
  'say "hi" \ now':
    message: { prompt: { say: 'He said "hi" \ ok' }, next: pick }
  pick:
    menu:
      prompt: hi
      options: { "1": tiers, "#": back, "*": hangup, "9": other:done, "0": start, "5": "سلام" }
  tiers:
    lookup: { url: "https://api.example.com/v1/customers/by-number/{caller}?key=abc", store: cust, next: route, on_error: hangup }
  route:
    branch:
      when:
        - { if: { var: cust.tier, equals: gold }, goto: done }
        - { if: { var: cust.tier, one_of: [silver, bronze, copper, tin] }, goto: done }
        - { if: { caller: ["+15551230001", "+15551230002", "+15551230003"] }, goto: "سلام" }
      else: "안녕"
  "سلام":
    message: { prompt: { say: "به پشتیبانی خوش آمدید" }, next: "안녕" }
  "안녕":
    message: { prompt: { say: "안녕하세요" }, next: done }
  done:
    hangup: {}
"##;
        std::fs::write(flows.join("main.yaml"), main).expect("write");
        let other = "languages: [en]\nstart: done\nnodes:\n  done:\n    hangup: { prompt: hi }\n";
        std::fs::write(flows.join("other.yaml"), other).expect("write");
        let set = compile(&flows, &prompts);
        (dir, set)
    }

    #[test]
    fn labels_are_escaped_and_unicode_passes_through() {
        let (_dir, set) = odd_project();
        let flow = set.get("main").cloned().expect("main");
        let m = render_mermaid(&flow);
        assert!(
            m.contains(r#"  n0["say #quot;hi#quot; \ now<br/>message · #quot;He said #quot;hi#quot; \ ok#quot;"]"#),
            "{m}"
        );
        for line in m.lines().skip(1) {
            // Labels are the only quoted parts; no raw quote inside them.
            assert!(line.matches('"').count() % 2 == 0, "{line}");
            assert!(!line.contains("\"\""), "{line}");
        }
        for text in ["سلام", "به پشتیبانی خوش آمدید", "안녕", "안녕하세요"]
        {
            assert!(m.contains(text), "{text}\n{m}");
        }
        let d = render_dot(&flow);
        assert!(
            d.contains(r#"  "n0" [label="say \"hi\" \\ now\nmessage · \"He said \"hi\" \\ ok\"", shape=box];"#),
            "{d}"
        );
        for text in ["سلام", "안녕하세요"] {
            assert!(d.contains(text), "{text}\n{d}");
        }
        assert_eq!(
            mermaid_text("#1; <br/> `x` 100%% & \""),
            "#35;1; #lt;br/#gt; #96;x#96; 100#37;#37; #amp; #quot;"
        );
        assert_eq!(dot_text(r#"a\"b"#), r#"a\\\"b"#);
    }

    #[test]
    fn targets_become_pseudo_nodes_and_conditions_label_branches() {
        let (_dir, set) = odd_project();
        let flow = set.get("main").cloned().expect("main");
        let m = render_mermaid(&flow);
        let n = |name: &str| id(&flow, name);
        let pick = n("pick");
        let start = n("say \"hi\" \\ now");
        for line in [
            "  back([\"previous menu\"])\n".to_string(),
            "  hangup([\"hangup\"])\n".to_string(),
            "  ext0>\"other:done\"]\n".to_string(),
            format!("  {pick} -->|\"#35;\"| back\n"),
            format!("  {pick} -->|\"*, invalid/timeout x3\"| hangup\n"),
            format!("  {pick} -->|\"9\"| ext0\n"),
            format!("  {pick} -->|\"0\"| {start}\n"),
            format!("  {} -->|\"error\"| hangup\n", n("tiers")),
        ] {
            assert_eq!(m.matches(&line).count(), 1, "{line}\n{m}");
        }
        assert!(m.contains("lookup · GET api.example.com/…/{caller}"), "{m}");
        let route = n("route");
        let done = edges_between(&m, &route, &n("done"));
        assert_eq!(
            done,
            [format!(
                "  {route} -->|\"cust.tier = gold<br/>cust.tier in [silver, bronze, copper, …]\"| {}",
                n("done")
            )]
        );
        let caller = edges_between(&m, &route, &n("سلام"));
        assert!(
            caller[0].contains("|\"caller in [+15551230001, +15551230002, …]\"|"),
            "{caller:?}"
        );
        assert!(edges_between(&m, &route, &n("안녕"))[0].contains("|\"else\"|"));
        let d = render_dot(&flow);
        assert!(
            d.contains("\"back\" [label=\"previous menu\", shape=box, style=\"rounded,dashed\"];"),
            "{d}"
        );
        assert!(
            d.contains("label=\"cust.tier = gold\\ncust.tier in [silver, bronze, copper, …]\""),
            "{d}"
        );
    }

    #[test]
    fn acme_snapshots() {
        let flow = acme();
        insta::assert_snapshot!("acme_mermaid", render_mermaid(&flow));
        insta::assert_snapshot!("acme_dot", render_dot(&flow));
    }
}
