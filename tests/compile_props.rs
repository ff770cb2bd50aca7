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
        // Rendering must not panic either, and every location lies inside the text.
        let _ = d.to_string();
        if let Some(loc) = &d.location {
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
