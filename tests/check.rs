//! The flow compiler's diagnostics: one fixture per rejection rule, each pinned
//! by a snapshot of exactly what `phonetree check` prints (line, column, caret, hint).

use std::path::{Path, PathBuf};

use phonetree::flow::{Code, NodeKind, PromptPart, Segment, compile_paths};

fn fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/reject")
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    all.sort();
    all
}

#[test]
fn every_rejection_rule_has_a_pinned_diagnostic() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 21, "one fixture per rule");
    for path in fixtures {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let code = &name[..4];
        let compiled = compile_paths(
            std::slice::from_ref(&path),
            Path::new("tests/fixtures/prompts"),
        )
        .expect("readable");
        let rendered: Vec<String> = compiled
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            compiled.diagnostics.len(),
            1,
            "{name}: exactly one diagnostic, got:\n{}",
            rendered.join("\n")
        );
        let d = &compiled.diagnostics[0];
        assert_eq!(d.code.as_str(), code, "{name}: {d}");
        assert!(
            d.location.is_some(),
            "{name}: a diagnostic points at file:line:col"
        );
        assert_eq!(
            compiled.flows.is_none(),
            d.is_error(),
            "{name}: errors fail, warnings do not"
        );
        insta::assert_snapshot!(name, rendered.join("\n"));
    }
}

#[test]
fn all_errors_of_all_files_are_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "languages: [en]\nstart: main\nnodes:\n  main:\n    menu: { prompt: main_menu, options: { \"1\": nowhere, \"x\": bye } }\n  bye:\n    hangpu: {}\n  more:\n    message: { promt: welcome }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "languages: [en]\nstart: missing\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n",
    )
    .unwrap();
    let compiled = compile_paths(
        &[dir.path().to_path_buf()],
        Path::new("tests/fixtures/prompts"),
    )
    .unwrap();
    let codes: Vec<&str> = compiled
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    // The unknown target and the bad key of `main`, the misspelt kind of `bye`, the
    // unknown field of `more` (read as the field it nearly spells) and `b.yaml`'s start.
    assert_eq!(
        codes,
        ["E006", "E008", "E003", "E002", "E006"],
        "{:#?}",
        compiled.diagnostics
    );
    assert!(compiled.flows.is_none());

    // Once the shapes are right, the value errors of a file all appear together.
    std::fs::write(
        dir.path().join("a.yaml"),
        "languages: [en]\nstart: main\nnodes:\n  main:\n    menu: { prompt: main_menu, timeout: 0s, options: { \"1\": nowhere, \"x\": bye } }\n  bye:\n    hangup: { prompt: goodbye }\n",
    )
    .unwrap();
    let compiled = compile_paths(
        &[dir.path().to_path_buf()],
        Path::new("tests/fixtures/prompts"),
    )
    .unwrap();
    let codes: Vec<Code> = compiled.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            Code::InvalidDuration,
            Code::UnknownTarget,
            Code::InvalidKey,
            Code::UnknownTarget
        ]
    );
}

#[test]
fn shipped_flows_compile_and_keep_persian_and_korean_text_unchanged() {
    let compiled = compile_paths(&[PathBuf::from("flows")], Path::new("prompts")).unwrap();
    assert_eq!(compiled.error_count(), 0, "{}", compiled.rendered_errors());
    let set = compiled.flows.expect("acme compiles");
    let acme = set.get("acme").expect("acme");
    let menu = acme
        .node_by_name("main_menu")
        .map(|id| acme.node(id))
        .expect("main_menu");
    let NodeKind::Menu(menu) = &menu.kind else {
        panic!("main_menu is a menu")
    };
    let text_in = |code: &str| -> String {
        let lang = acme.language(code).expect("language");
        match &menu.prompt.parts(lang)[0] {
            PromptPart::Say { text, .. } => text
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Text(t) => t.clone(),
                    Segment::Var { path, .. } => path.clone(),
                })
                .collect(),
            other => panic!("expected text, got {other:?}"),
        }
    };
    let catalog = |code: &str| -> String {
        let text = std::fs::read_to_string(format!("prompts/{code}.yaml")).unwrap();
        let line = text.lines().find(|l| l.starts_with("main_menu:")).unwrap();
        line.trim_start_matches("main_menu: ")
            .trim_matches('"')
            .to_owned()
    };
    assert_eq!(text_in("ko"), catalog("ko"));
    assert!(text_in("ko").contains("계좌 잔액은 1번"));
    // No voice speaks Persian: the shipped flow plays its recording.
    let fa = acme.language("fa").expect("fa");
    assert!(
        matches!(menu.prompt.parts(fa), [PromptPart::Play { file, .. }] if file == "fa/main_menu.wav"),
        "{:?}",
        menu.prompt.parts(fa)
    );
    assert!(catalog("fa").contains("برای موجودی حساب، ۱ را فشار دهید"));
}

/// The shipped flow is the example to copy: every language spoken by a voice of its
/// locale or recorded, nothing for `check` to say.
#[test]
fn the_shipped_flow_checks_clean() {
    let compiled = compile_paths(&[PathBuf::from("flows")], Path::new("prompts")).unwrap();
    let rendered: Vec<String> = compiled
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(rendered.is_empty(), "{}", rendered.join("\n"));
    let set = compiled.flows.expect("acme compiles");
    let acme = set.get("acme").expect("acme");
    let voices: Vec<(&str, Option<&str>, Option<&str>)> = acme
        .languages
        .iter()
        .map(|l| (l.code.as_str(), l.locale.as_deref(), l.voice.as_deref()))
        .collect();
    assert_eq!(
        voices,
        [
            ("en", Some("en-US"), Some("Polly.Joanna")),
            ("es", Some("es-MX"), Some("Polly.Mia")),
            ("fa", Some("fa-IR"), None),
            ("ko", Some("ko-KR"), Some("Polly.Seoyeon")),
        ]
    );
    let fa = &acme.languages[2].readings;
    assert_eq!(fa.digits.as_ref().map(Vec::len), Some(10));
    assert!(fa.records(phonetree::flow::Reading::Amount));
}

/// Where the admin names no voice, each language gets its locale's default voice; a
/// language with no voice and text to speak is warned about, not refused.
#[test]
fn default_voices_and_locales_fill_in_what_a_flow_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    for (lang, text) in [("en", "Bye."), ("ko", "안녕히 계세요."), ("es", "Adiós.")] {
        std::fs::write(
            prompts.join(format!("{lang}.yaml")),
            format!("bye: \"{text}\"\n"),
        )
        .unwrap();
    }
    let flow = dir.path().join("f.yaml");
    std::fs::write(
        &flow,
        "languages: [en, ko, es]\nlocale: { es: es-ES }\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: bye }\n",
    )
    .unwrap();
    let compiled = compile_paths(&[flow], &prompts).unwrap();
    assert!(
        compiled.diagnostics.is_empty(),
        "{}",
        compiled.rendered_errors()
    );
    let set = compiled.flows.expect("compiles");
    let f = set.get("f").expect("f");
    let got: Vec<(Option<&str>, Option<&str>)> = f
        .languages
        .iter()
        .map(|l| (l.locale.as_deref(), l.voice.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("en-US"), Some("Polly.Joanna")),
            (Some("ko-KR"), Some("Polly.Seoyeon")),
            (Some("es-ES"), Some("Polly.Lucia")),
        ]
    );
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&phonetree::flow::json_schema()).unwrap();
    let committed =
        std::fs::read_to_string("schema/flow.schema.json").expect("schema/flow.schema.json");
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "run `cargo run -- schema > schema/flow.schema.json`"
    );
    let acme = std::fs::read_to_string("flows/acme.yaml").unwrap();
    assert!(acme.starts_with("# yaml-language-server: $schema=../schema/flow.schema.json"));
}

#[test]
fn long_recordings_draw_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(prompts.join("en")).unwrap();
    std::fs::write(prompts.join("en.yaml"), "goodbye: Bye.\n").unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(prompts.join("en/terms.wav"), spec).unwrap();
    for _ in 0..8000 * 31 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let flow = dir.path().join("long.yaml");
    std::fs::write(&flow, "languages: [en]\nstart: terms\nnodes:\n  terms:\n    message: { prompt: terms, next: bye }\n  bye:\n    hangup: { prompt: goodbye }\n").unwrap();
    let compiled = compile_paths(&[flow], &prompts).unwrap();
    let codes: Vec<&str> = compiled
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["W002"]);
    assert!(
        compiled.diagnostics[0].message.contains("31.0 s"),
        "{}",
        compiled.diagnostics[0]
    );
    assert!(compiled.flows.is_some());
}

#[test]
fn a_byte_order_mark_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("bom.yaml");
    std::fs::write(
        &flow,
        "\u{feff}languages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n",
    )
    .unwrap();
    let compiled = compile_paths(&[flow], Path::new("tests/fixtures/prompts")).unwrap();
    assert!(
        compiled.diagnostics.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
}

#[path = "common/bin.rs"]
mod bin;

/// The fixture has two flow files and a scenario file with a mistake of each kind:
/// a syntax error (sales.yaml); an unknown field, an unknown target in that same node, a
/// duplicate node, a bad time zone and an endless loop (support.yaml); a lookup, a path
/// node, an ending and a variable that do not exist (support.test.yaml).
#[test]
fn one_check_run_reports_every_mistake_of_every_file() {
    let (code, out, err) = bin::run_phonetree(
        &[
            "check",
            "tests/fixtures/one-run",
            "--prompts",
            "tests/fixtures/prompts",
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    let headers: Vec<&str> = err.lines().filter(|l| l.starts_with("error[")).collect();
    let codes: Vec<&str> = headers.iter().map(|l| &l[6..10]).collect();
    for code in [
        "E001", "E002", "E006", "E009", "E014", "E007", "E004", "E018",
    ] {
        assert!(codes.contains(&code), "{code} missing from\n{err}");
    }
    assert!(headers.len() >= 8, "{err}");
    // Ordered by file, then line.
    let mut at: Vec<(String, usize)> = err
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .map(|l| {
            let mut parts = l.rsplitn(3, ':');
            let _col = parts.next();
            let line = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            (parts.next().unwrap_or("").to_owned(), line)
        })
        .collect();
    let in_order = at.clone();
    at.sort();
    assert_eq!(at, in_order, "{err}");
    assert!(
        err.trim_end().ends_with(&format!(
            "error: {} error(s), 0 warning(s) in 3 files",
            headers.len()
        )),
        "{err}"
    );
    insta::assert_snapshot!("one-run", err);
}

#[test]
fn check_of_a_flow_file_from_another_directory_finds_the_prompts_beside_its_flows() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shop");
    std::fs::create_dir_all(project.join("flows")).unwrap();
    std::fs::create_dir_all(project.join("prompts")).unwrap();
    std::fs::write(project.join("prompts/en.yaml"), "goodbye: Bye.\n").unwrap();
    std::fs::write(
        project.join("flows/main.yaml"),
        "languages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n",
    )
    .unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(["check", "../shop/flows/main.yaml"])
        .current_dir(&elsewhere)
        .env_remove("PHONETREE_PROMPTS")
        .env_remove("PHONETREE_FLOWS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("ok: 1 flow(s), 1 node(s)"), "{err}");
}

#[test]
fn a_tab_in_indentation_and_an_unclosed_bracket_are_syntax_errors_that_say_so() {
    let compile = |text: &str| {
        phonetree::flow::compile_sources(
            vec![phonetree::flow::parse::SourceFile::new(
                "flows/x.yaml",
                text,
            )],
            Path::new("tests/fixtures/prompts"),
        )
    };
    let tab =
        compile("languages: [en]\nstart: bye\nnodes:\n\tbye:\n    hangup: { prompt: goodbye }\n");
    assert_eq!(tab.diagnostics.len(), 1, "{}", tab.rendered_errors());
    let d = &tab.diagnostics[0];
    assert_eq!(d.code, Code::YamlSyntax);
    assert!(d.message.contains("tab"), "{d}");
    assert_eq!(d.location.as_ref().map(|l| l.span.line), Some(4), "{d}");
    let unclosed =
        compile("languages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: [goodbye }\n");
    let codes: Vec<Code> = unclosed.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::YamlSyntax], "{}", unclosed.rendered_errors());
}

/// What `check` says about voices and retry prompts beyond the pinned fixtures: a voice for
/// a locale no voice speaks, a voice Twilio does not offer, and both `reprompt` and
/// `reprompts` on one menu.
#[test]
fn voices_and_reprompts_that_cannot_work_are_refused_with_a_way_out() {
    let compile = |text: &str| {
        phonetree::flow::compile_sources(
            vec![phonetree::flow::parse::SourceFile::new(
                "flows/x.yaml",
                text,
            )],
            Path::new("tests/fixtures/prompts"),
        )
    };
    let persian = compile(
        "languages: [en, fa]\nvoice: { fa: Polly.Joanna }\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n",
    );
    let d: Vec<&phonetree::flow::Diagnostic> = persian.errors().collect();
    assert_eq!(d.len(), 1, "{}", persian.rendered_errors());
    assert_eq!(d[0].code, Code::VoiceLocale);
    assert!(d[0].message.contains("speaks en-US, not fa-IR"), "{}", d[0]);
    assert!(
        d[0].hint
            .as_deref()
            .is_some_and(|h| h.contains("no Twilio voice speaks fa-IR")),
        "{}",
        d[0]
    );

    let typo = compile(
        "languages: [en]\nvoice: { en: Polly.Jonna }\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n",
    );
    let d: Vec<&phonetree::flow::Diagnostic> = typo.errors().collect();
    assert_eq!(d.len(), 1, "{}", typo.rendered_errors());
    assert_eq!(d[0].code, Code::VoiceLocale);
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `Polly.Joanna`?"));

    let both = compile(
        "languages: [en]\nstart: menu\nnodes:\n  menu:\n    menu: { prompt: main_menu, reprompt: main_menu, reprompts: [main_menu], options: { \"1\": bye } }\n  bye:\n    hangup: { prompt: goodbye }\n",
    );
    let codes: Vec<Code> = both.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::InvalidValue], "{}", both.rendered_errors());
    assert!(
        both.diagnostics[0]
            .message
            .contains("`reprompt` and `reprompts`")
    );
}
