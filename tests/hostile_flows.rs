//! Flow text is untrusted: files built to exhaust memory or time (an anchor
//! aliased ten thousand times, nesting a hundred thousand deep, a file of
//! megabytes) get a diagnostic from the real `phonetree check`, and a reload
//! of such a file fails while the last good version keeps serving.

use std::path::{Path, PathBuf};

use phonetree::server::FlowRegistry;

#[path = "common/bin.rs"]
mod bin;

/// A flow that compiles, to which the hostile parts are appended.
const HEAD: &str = "languages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n";

/// One anchor holding 10,000 items, aliased 10,000 times: 50 KB that stands for 10^8 values.
fn quadratic_alias() -> String {
    let items = vec!["x"; 10_000].join(",");
    let aliases = vec!["*a"; 10_000].join(",");
    format!("{HEAD}a: &a [{items}]\nb: [{aliases}]\n")
}

/// The hostile files: name, text, the code expected and the line it points at.
fn hostile() -> Vec<(&'static str, String, &'static str, usize)> {
    let deep = 100_000;
    vec![
        ("alias", quadratic_alias(), "E022", 6),
        (
            "flow_sequences",
            format!("{HEAD}x: {}{}\n", "[".repeat(deep), "]".repeat(deep)),
            "E023",
            6,
        ),
        (
            "unclosed",
            format!("{HEAD}x: {}\n", "[".repeat(deep)),
            "E023",
            6,
        ),
        (
            "flow_mappings",
            format!("{HEAD}x: {}1{}\n", "{a: ".repeat(deep), "}".repeat(deep)),
            "E023",
            6,
        ),
        (
            "block_sequences",
            format!("{HEAD}x:\n{}x\n", "- ".repeat(deep)),
            "E023",
            7,
        ),
        (
            "block_mappings",
            format!(
                "{HEAD}x:\n{}",
                // Each level indents one more: 1,000 levels are already half a megabyte.
                (1..=1_000)
                    .map(|i| format!("{}a:\n", " ".repeat(i)))
                    .collect::<String>()
            ),
            "E023",
            70,
        ),
        (
            "oversized",
            format!("{HEAD}{}", "# padding padding padding\n".repeat(50_000)),
            "E021",
            1,
        ),
    ]
}

fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("en.yaml"), "goodbye: \"Goodbye.\"\n").unwrap();
    std::fs::write(flows.join("good.yaml"), HEAD).unwrap();
    (dir, flows, prompts)
}

fn check(flows: &Path, prompts: &Path) -> (i32, String) {
    let (code, _, err) = bin::run_phonetree(
        &[
            "check",
            "--flows",
            flows.to_str().unwrap(),
            "--prompts",
            prompts.to_str().unwrap(),
        ],
        None,
    );
    (code, err)
}

#[test]
fn check_answers_every_hostile_flow_with_one_diagnostic() {
    for (name, text, code, line) in hostile() {
        let (_dir, flows, prompts) = project();
        let file = flows.join(format!("{name}.yaml"));
        std::fs::write(&file, &text).unwrap();
        let (exit, err) = check(&flows, &prompts);
        assert_eq!(exit, 1, "{name}: {err}");
        assert!(err.contains(&format!("error[{code}]")), "{name}: {err}");
        let at = format!("--> {}:{line}:", file.display());
        assert!(err.contains(&at), "{name}: wants {at} in\n{err}");
        assert!(err.contains("= help: "), "{name}: {err}");
        assert!(err.contains("error: 1 error(s)"), "{name}: {err}");
        // The snippet is cut: the diagnostic of a one-line megabyte is not a megabyte.
        assert!(
            err.len() < 2_000,
            "{name}: {} bytes of diagnostic",
            err.len()
        );
    }
}

#[test]
fn catalogs_and_scenario_files_get_the_same_protection() {
    let (_dir, flows, prompts) = project();
    std::fs::write(
        prompts.join("en.yaml"),
        "goodbye: &g \"Goodbye.\"\nagain: *g\n",
    )
    .unwrap();
    let (exit, err) = check(&flows, &prompts);
    assert_eq!(exit, 1, "{err}");
    assert!(err.contains("error[E022]: YAML anchor `&g`"), "{err}");
    assert!(err.contains("en.yaml:1:10"), "{err}");

    let (_dir, flows, prompts) = project();
    std::fs::write(
        prompts.join("en.yaml"),
        format!("goodbye: \"Goodbye.\"\n{}", "#\n".repeat(600_000)),
    )
    .unwrap();
    let (exit, err) = check(&flows, &prompts);
    assert_eq!(exit, 1, "{err}");
    assert!(err.contains("error[E021]: the file is 1172 KiB"), "{err}");

    let (_dir, flows, prompts) = project();
    let deep = "[".repeat(100_000);
    std::fs::write(
        flows.join("good.test.yaml"),
        format!("- name: deep\n  keys: {deep}\n"),
    )
    .unwrap();
    let (exit, err) = check(&flows, &prompts);
    assert_eq!(exit, 1, "{err}");
    assert!(err.contains("error[E023]"), "{err}");
    assert!(err.contains("good.test.yaml:2:"), "{err}");
}

#[test]
fn a_hostile_reload_fails_and_the_last_good_version_keeps_serving() {
    let (_dir, flows, prompts) = project();
    let registry = FlowRegistry::load(flows.clone(), prompts.clone()).expect("good flows load");
    let good = registry.current().version.clone();
    for (name, text, code, _) in hostile() {
        let file = flows.join(format!("{name}.yaml"));
        std::fs::write(&file, &text).unwrap();
        let err = registry.reload().expect_err(name).to_string();
        assert!(err.contains(&format!("error[{code}]")), "{name}: {err}");
        assert_eq!(registry.current().version, good, "{name}");
        let last = registry.last_error().expect("the failure is recorded");
        assert!(last.contains(code), "{name}: {last}");
        std::fs::remove_file(&file).unwrap();
    }
    registry.reload().expect("the good flows load again");
    assert_eq!(registry.last_error(), None);
    assert_eq!(registry.current().version, good);
}
