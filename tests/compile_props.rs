//! Property tests: whatever YAML an admin writes, the compiler answers with
//! diagnostics, never a panic.

use std::path::Path;

use phonetree::flow::compile_sources;
use phonetree::flow::parse::SourceFile;
use proptest::prelude::*;

fn acme() -> String {
    std::fs::read_to_string("flows/acme.yaml").expect("acme.yaml")
}

fn compile(text: &str) {
    let compiled = compile_sources(
        vec![SourceFile::new("flows/fuzz.yaml", text)],
        Path::new("prompts"),
    );
    for d in &compiled.diagnostics {
        // Rendering must not panic either, and every location in the text lies inside it
        // (a catalog's diagnostics point into the catalog).
        let _ = d.to_string();
        if let Some(loc) = d
            .location
            .as_ref()
            .filter(|l| l.file == Path::new("flows/fuzz.yaml"))
        {
            // Lines as YAML counts them: a lone `\r` ends one too.
            let lines = text
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .lines()
                .count();
            assert!(
                loc.span.line >= 1 && loc.span.line <= lines.max(1) + 1,
                "{d}"
            );
        }
    }
    assert_eq!(
        compiled.flows.is_some(),
        !compiled.diagnostics.iter().any(|d| d.is_error())
    );
}

/// Edits that keep text mostly YAML-shaped: delete, duplicate or replace a slice, swap a token.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, String),
    Replace(String, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let tokens = prop::sample::select(vec![
        "menu",
        "input",
        "message",
        "hangup",
        "options",
        "prompt",
        "next",
        "\"1\"",
        "goodbye",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\n",
        "  ",
        "repeat",
        "back",
        "start",
        "-",
        "#",
        "'",
        "\"",
        "5s",
        "99999h",
        "&a",
        "*a",
        "!!str",
        "?",
        "acme:main_menu",
        "{x}",
        "|",
    ]);
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        (any::<usize>(), tokens.clone()).prop_map(|(a, t)| Edit::Insert(a, t.to_owned())),
        (tokens.clone(), tokens).prop_map(|(a, b)| Edit::Replace(a.to_owned(), b.to_owned())),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| if chars.is_empty() { 0 } else { i % chars.len() };
    match e {
        Edit::Delete(a, n) => {
            let s = at(*a);
            let end = (s + n).min(chars.len());
            chars[..s].iter().chain(&chars[end..]).collect()
        }
        Edit::Duplicate(a, n) => {
            let s = at(*a);
            let end = (s + n).min(chars.len());
            chars[..end].iter().chain(&chars[s..]).collect()
        }
        Edit::Insert(a, t) => {
            let s = at(*a);
            chars[..s].iter().collect::<String>() + t + &chars[s..].iter().collect::<String>()
        }
        Edit::Replace(a, b) => text.replacen(a.as_str(), b, 1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        compile(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "([a-z_]{1,8}: (\\{ ?|\\[ ?|[a-z0-9\"#*]{0,6}|- )?\n?  ?){0,30}") {
        compile(&text);
    }

    #[test]
    fn mutated_acme_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        let mut text = acme();
        for e in &edits {
            text = apply(&text, e);
        }
        compile(&text);
    }
}

/// A flow that compiles; hostile shapes are appended under the key `x`.
const HEAD: &str =
    "languages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\nx:\n";

/// One level of nesting: block ones first (a sequence entry, a mapping key), then flow ones.
#[derive(Debug, Clone, Copy)]
enum Level {
    BlockSeq,
    BlockMap,
    FlowSeq,
    FlowMap,
}

/// YAML nesting `levels`, each valid on its own; `closed` decides whether the brackets close.
fn nested(block: &[Level], flow: &[Level], closed: bool) -> String {
    let (mut text, mut col) = (" ".to_owned(), 1);
    for level in block {
        match level {
            Level::BlockSeq => {
                text.push_str("- ");
                col += 2;
            }
            _ => {
                text.push_str("k:\n");
                col += 1;
                text.push_str(&" ".repeat(col));
            }
        }
    }
    for level in flow {
        text.push_str(match level {
            Level::FlowSeq => "[",
            _ => "{k: ",
        });
    }
    text.push('x');
    if closed {
        for level in flow.iter().rev() {
            text.push(match level {
                Level::FlowSeq => ']',
                _ => '}',
            });
        }
    }
    format!("{HEAD}{text}\n")
}

fn codes(text: &str) -> Vec<&'static str> {
    let compiled = compile_sources(
        vec![SourceFile::new("flows/hostile.yaml", text)],
        Path::new("prompts"),
    );
    assert!(compiled.flows.is_none(), "a hostile file must not compile");
    for d in &compiled.diagnostics {
        let _ = d.to_string();
        assert!(d.location.is_some(), "{d}");
    }
    compiled
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// The flow, catalog and scenario parsers all answer `text` with `code`.
fn every_reader_says(text: &str, code: &str) {
    assert_eq!(codes(text), [code], "flow");
    let src = SourceFile::new("prompts/en.yaml", text);
    let catalog = phonetree::flow::parse::parse_catalog(&src).expect_err("catalog");
    assert_eq!(catalog.code.as_str(), code, "catalog: {catalog}");
    let src = SourceFile::new("flows/hostile.test.yaml", text);
    let scenarios = phonetree::flow::parse::parse_scenarios(&src).expect_err("scenarios");
    assert_eq!(scenarios.len(), 1, "scenarios: {scenarios:?}");
    assert_eq!(
        scenarios[0].code.as_str(),
        code,
        "scenarios: {}",
        scenarios[0]
    );
}

fn levels(kinds: Vec<Level>, len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Level>> {
    prop::collection::vec(prop::sample::select(kinds), len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn deep_nesting_is_refused(
        block in levels(vec![Level::BlockSeq, Level::BlockMap], 0..80),
        flow in levels(vec![Level::FlowSeq, Level::FlowMap], 0..400),
        closed in any::<bool>(),
    ) {
        prop_assume!(block.len() + flow.len() > 70);
        every_reader_says(&nested(&block, &flow, closed), "E023");
    }

    #[test]
    fn nesting_within_the_cap_is_no_nesting_error(
        block in levels(vec![Level::BlockSeq, Level::BlockMap], 0..25),
        flow in levels(vec![Level::FlowSeq, Level::FlowMap], 0..25),
    ) {
        // `x` is no field of a flow: the answer is that, not the depth.
        prop_assert_eq!(codes(&nested(&block, &flow, true)), ["E002"]);
    }

    #[test]
    fn anchors_and_aliases_are_refused(
        items in 1usize..200,
        aliases in 0usize..200,
        name in "[a-z][a-z0-9_]{0,8}",
        inside_node in any::<bool>(),
    ) {
        let list = vec!["x"; items].join(",");
        let refs = vec![format!("*{name}"); aliases].join(",");
        let text = if inside_node {
            format!("languages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: {{ prompt: goodbye, a: &{name} [{list}], b: [{refs}] }}\n")
        } else {
            format!("{HEAD} a: &{name} [{list}]\n b: [{refs}]\n")
        };
        every_reader_says(&text, "E022");
    }

    #[test]
    fn an_alias_without_its_anchor_is_refused_too(name in "[a-z][a-z0-9_]{0,8}") {
        every_reader_says(&format!("{HEAD} - *{name}\n"), "E022");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn oversized_text_is_refused_before_it_is_parsed(
        extra in 1usize..4096,
        as_comment in any::<bool>(),
    ) {
        let room = phonetree::flow::parse::MAX_FILE_BYTES as usize - HEAD.len();
        let pad = if as_comment {
            format!("# {}\n", "p".repeat(room + extra - 3))
        } else {
            format!(" {}\n", "p".repeat(room + extra - 2))
        };
        every_reader_says(&format!("{HEAD}{pad}"), "E021");
    }
}
