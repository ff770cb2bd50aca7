//! Compile time of a generated 10,000-node flow (menus, inputs, messages, sets,
//! branches, lookups, transfers), prompts resolved in two languages.

use std::fmt::Write;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use phonetree::flow::compile_sources;
use phonetree::flow::parse::SourceFile;

/// A flow of `n` nodes where every node is reachable and no loop lacks caller input.
fn generate(n: usize) -> String {
    let mut y = String::from(
        "languages: [en, es]\nstart: n0\ndefaults: { timeout: 5s, retries: 2, invalid: invalid, no_input: silence, on_fail: operator, options: { \"0\": operator } }\nnodes:\n",
    );
    y.push_str("  operator:\n    transfer: { to: \"+14155550100\", timeout: 20s, on_no_answer: bye, next: bye }\n");
    y.push_str("  bye:\n    hangup: { prompt: goodbye }\n");
    for i in 0..n - 2 {
        let next = if i + 1 < n - 2 {
            format!("n{}", i + 1)
        } else {
            "bye".into()
        };
        let node = match i % 6 {
            0 => format!(
                "menu: {{ prompt: p{}, options: {{ \"1\": {next}, \"2\": n{}, \"*\": repeat, \"9\": back }} }}",
                i % 500,
                i / 2
            ),
            1 => format!(
                "input: {{ prompt: p{}, store: v{i}, digits: 4, pattern: \"^[0-9]{{4}}$\", next: {next} }}",
                i % 500
            ),
            2 => format!(
                "message: {{ prompt: [p{}, {{ say: \"Hello {{v{}}}\" }}], next: {next} }}",
                i % 500,
                i - 1
            ),
            3 => format!("set: {{ vars: {{ tier{i}: gold }}, next: {next} }}"),
            4 => format!(
                "branch: {{ when: [{{ if: {{ var: tier{}, equals: gold }}, goto: {next} }}], else: operator }}",
                i - 1
            ),
            _ => format!(
                "lookup: {{ url: \"http://127.0.0.1:9/x/{{v{}}}\", store: r{i}, next: {next}, on_error: operator }}",
                i - 4
            ),
        };
        let _ = writeln!(y, "  n{i}:\n    {node}");
    }
    y
}

fn prompts(dir: &Path) {
    for lang in ["en", "es"] {
        let mut catalog = String::from("invalid: Invalid.\nsilence: Silence.\ngoodbye: Bye.\n");
        for p in 0..500 {
            let _ = writeln!(
                catalog,
                "p{p}: \"Prompt {p} in {lang}. For the next step press 1.\""
            );
        }
        std::fs::write(dir.join(format!("{lang}.yaml")), catalog).expect("catalog");
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    prompts(dir.path());
    let text = generate(10_000);
    let check = compile_sources(vec![SourceFile::new("big.yaml", text.clone())], dir.path());
    assert!(
        check.flows.is_some(),
        "{:?}",
        check.diagnostics.first().map(ToString::to_string)
    );
    assert_eq!(
        check.flows.as_ref().map(|s| s.flows["big"].nodes.len()),
        Some(10_000)
    );
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("10k_nodes", |b| {
        b.iter(|| compile_sources(vec![SourceFile::new("big.yaml", text.clone())], dir.path()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
