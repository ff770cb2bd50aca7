//! The real `phonetree graph` binary: Mermaid and DOT output, exit codes, and the
//! README's diagram kept in step with the shipped flow.

use std::io::Write as _;
use std::process::{Command, Stdio};

#[path = "common/bin.rs"]
mod bin;

fn phonetree(args: &[&str]) -> (i32, String, String) {
    bin::run_phonetree(args, None)
}

fn mermaid() -> String {
    let (code, out, err) = phonetree(&["graph", "acme", "--format", "mermaid"]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn mermaid_shows_every_node_and_merged_edges() {
    let out = mermaid();
    assert!(out.starts_with("flowchart TD\n"), "{out}");
    for name in [
        "check_hours",
        "language",
        "main_menu",
        "account",
        "lookup_account",
        "balance",
        "support_queue",
        "voicemail",
        "operator",
        "survey",
        "after_hours",
        "goodbye",
    ] {
        assert_eq!(
            out.matches(&format!("\"{name}<br/>")).count(),
            1,
            "{name}\n{out}"
        );
    }
    assert!(
        out.contains("  entry((\"call\"))\n  n0{\"check_hours<br/>"),
        "{out}"
    );
    assert!(out.contains("  entry --> n0\n"), "{out}");
    assert!(out.contains(" -->|\"1, 2, 3, 4, 5\"| "), "{out}");
    assert!(out.contains("  n2 -->|\"*\"| n2\n"), "{out}");
    assert!(out.contains("-->|\"no-answer, busy, failed\"|"), "{out}");
    assert_eq!(out.matches("invalid/timeout x3").count(), 4, "{out}");
    // The default format is Mermaid.
    let (code, default, err) = phonetree(&["graph", "acme"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(default, out);
}

#[test]
fn dot_is_a_digraph_with_every_node() {
    let (code, out, err) = phonetree(&["graph", "acme", "--format", "dot"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("digraph \"acme\" {\n"), "{out}");
    assert!(out.ends_with("}\n"), "{out}");
    assert!(out.contains("  \"entry\" -> \"n0\";\n"), "{out}");
    assert!(out.contains("[label=\"1, 2, 3, 4, 5\"]"), "{out}");
    assert!(out.contains("  \"n2\" -> \"n2\" [label=\"*\"];\n"), "{out}");
    assert_eq!(
        out.matches(", shape=").count(),
        14,
        "12 nodes, call and hangup\n{out}"
    );
}

#[test]
fn dot_output_renders_with_graphviz() {
    let (code, out, err) = phonetree(&["graph", "acme", "--format", "dot"]);
    assert_eq!(code, 0, "{err}");
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("note: Graphviz `dot` is not on PATH; skipping the SVG rendering check");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(out.as_bytes())
        .expect("write to dot");
    let rendered = child.wait_with_output().expect("run dot");
    let stderr = String::from_utf8_lossy(&rendered.stderr);
    assert!(rendered.status.success(), "{stderr}\n{out}");
    assert!(stderr.trim().is_empty(), "dot warned: {stderr}");
    let svg = String::from_utf8_lossy(&rendered.stdout);
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("main_menu"), "{svg}");
}

#[test]
fn a_flow_file_path_works_like_its_id() {
    let (code, out, err) = phonetree(&["graph", "flows/acme.yaml", "--format", "mermaid"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, mermaid());
}

#[test]
fn an_unknown_flow_exits_2_and_names_the_flows() {
    let (code, out, err) = phonetree(&["graph", "acmee", "--format", "dot"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no flow `acmee`"), "{err}");
    assert!(err.contains("acme"), "{err}");
}

#[test]
fn readme_diagram_matches_the_shipped_flow() {
    let readme = std::fs::read_to_string("README.md").expect("read README.md");
    let start = readme
        .find("```mermaid\n")
        .expect("a ```mermaid block in README.md")
        + 11;
    let len = readme[start..]
        .find("```\n")
        .expect("the block's closing fence");
    assert_eq!(
        &readme[start..start + len],
        mermaid(),
        "README.md's diagram is stale: paste `cargo run -- graph acme --format mermaid` into it"
    );
}
