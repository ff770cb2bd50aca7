//! The JSON Schemas (`phonetree schema`, `phonetree schema scenario`) agree with the
//! compiler: the shipped flow and scenario file and a set of good and bad variants of
//! them get the same verdict from a real JSON Schema validator (the Python `jsonschema`
//! package) as from `check`. Each YAML text is turned into JSON the way an editor's YAML
//! language server reads it (YAML 1.2 core schema).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use phonetree::flow::parse::{SourceFile, parse_scenarios};
use phonetree::flow::yaml::{from_tree, load};
use phonetree::flow::{compile_sources, json_schema, scenario_json_schema};
use phonetree::tools::scenario::{ScenarioFile, check_scenarios};

/// The validator: `$PHONETREE_JSONSCHEMA_PYTHON` (set by .ci/run), else `python3` if it
/// imports `jsonschema`.
fn python() -> Option<String> {
    if let Some(p) = std::env::var_os("PHONETREE_JSONSCHEMA_PYTHON").filter(|p| !p.is_empty()) {
        let p = p.to_string_lossy().into_owned();
        let ok = Command::new(&p)
            .args(["-c", "import jsonschema"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "PHONETREE_JSONSCHEMA_PYTHON={p} cannot import jsonschema"
        );
        return Some(p);
    }
    let ok = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| "python3".to_owned())
}

const VALIDATE: &str = r#"
import json, sys, jsonschema
job = json.load(sys.stdin)
schema = job["schema"]
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema, format_checker=None)
out = []
for instance in job["instances"]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    out.append([e.message[:200] for e in errors[:3]])
json.dump(out, sys.stdout)
"#;

/// The validator's errors for each instance (empty: valid).
fn validate(
    python: &str,
    schema: &serde_json::Value,
    instances: &[serde_json::Value],
) -> Vec<Vec<String>> {
    let mut child = Command::new(python)
        .args(["-c", VALIDATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let job = serde_json::json!({ "schema": schema, "instances": instances });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "the validator failed");
    serde_json::from_slice(&out.stdout).expect("the validator's answer")
}

fn as_json(text: &str) -> serde_json::Value {
    from_tree(&load(text).expect("YAML")).expect("JSON")
}

/// Variants of the shipped flow: (what, from, to, valid).
const FLOW_VARIANTS: &[(&str, &str, &str, bool)] = &[
    ("shipped", "", "", true),
    (
        "duration with a space and unit word",
        "timeout: 2s, store",
        "timeout: 1.5 secs, store",
        true,
    ),
    (
        "duration in milliseconds",
        "timeout: 2s, store",
        "timeout: 500ms, store",
        true,
    ),
    (
        "duration as a bare number",
        "timeout: 20s",
        "timeout: 20",
        true,
    ),
    (
        "duration with an unknown unit",
        "timeout: 20s",
        "timeout: 20 parsecs",
        false,
    ),
    ("negative duration", "timeout: 20s", "timeout: -20", false),
    (
        "lookup method in lower case",
        "timeout: 2s, store",
        "method: post, timeout: 2s, store",
        true,
    ),
    (
        "lookup method that is not GET or POST",
        "timeout: 2s, store",
        "method: PUT, timeout: 2s, store",
        false,
    ),
    (
        "menu key that is two keys",
        "\"0\": operator",
        "\"10\": operator",
        false,
    ),
    (
        "menu key that is no phone key",
        "\"*\": repeat",
        "\"a\": repeat",
        false,
    ),
    (
        "default options on a phone key",
        "on_fail: operator }",
        "on_fail: operator, options: { \"#\": operator } }",
        true,
    ),
    (
        "default option on no phone key",
        "on_fail: operator }",
        "on_fail: operator, options: { \"x\": operator } }",
        false,
    ),
    (
        "max_steps in range",
        "on_fail: operator }",
        "on_fail: operator, max_steps: 50 }",
        true,
    ),
    (
        "max_steps too low",
        "on_fail: operator }",
        "on_fail: operator, max_steps: 5 }",
        false,
    ),
    (
        "max_steps too high",
        "on_fail: operator }",
        "on_fail: operator, max_steps: 20000 }",
        false,
    ),
    ("retries too many", "retries: 2", "retries: 11", false),
    (
        "branch with hours and when",
        "closed: after_hours }",
        "closed: after_hours, when: [{ if: { var: language, equals: en }, goto: main_menu }] }",
        false,
    ),
    (
        "branch with when instead of hours",
        "{ hours: business, open: language, closed: after_hours }",
        "{ when: [{ if: { var: language, equals: en }, goto: main_menu }], else: language }",
        true,
    ),
    (
        "branch with when and open",
        "{ hours: business, open: language, closed: after_hours }",
        "{ when: [{ if: { var: language, equals: en }, goto: main_menu }], else: language, open: language }",
        false,
    ),
    (
        "branch with hours but no closed",
        "open: language, closed: after_hours }",
        "open: language }",
        false,
    ),
    (
        "branch with nothing to route by",
        "{ hours: business, open: language, closed: after_hours }",
        "{ else: language }",
        false,
    ),
    (
        "input that ends on a digit",
        "finish_on: \"#\"",
        "finish_on: \"1\"",
        false,
    ),
    (
        "input with an unknown check",
        "finish_on: \"#\",",
        "finish_on: \"#\", validate: crc,",
        false,
    ),
    (
        "input with the luhn check",
        "finish_on: \"#\",",
        "finish_on: \"#\", validate: luhn,",
        true,
    ),
    ("input of no digits", "digits: 6", "digits: 0", false),
    (
        "unknown field",
        "store: csat,",
        "store: csat, colour: blue,",
        false,
    ),
    (
        "unknown node kind",
        "hangup: { prompt: goodbye }",
        "hangpu: { prompt: goodbye }",
        false,
    ),
    (
        "hangup without settings",
        "hangup: { prompt: goodbye }",
        "hangup:",
        true,
    ),
    (
        "queue leave key",
        "hold: hold.wav }",
        "hold: hold.wav, leave_key: \"9\", on_leave: voicemail }",
        true,
    ),
    (
        "queue leave key of two keys",
        "hold: hold.wav }",
        "hold: hold.wav, leave_key: \"99\", on_leave: voicemail }",
        false,
    ),
    ("missing start", "start: check_hours\n", "", false),
    (
        "reprompts on a menu",
        "prompt: main_menu\n",
        "prompt: main_menu\n      reprompts: [main_menu, { say: \"Press 1, 2 or 3.\" }]\n",
        true,
    ),
    (
        "reprompts on an input",
        "store: account,",
        "reprompts: [enter_account], store: account,",
        true,
    ),
    (
        "no reprompts",
        "store: account,",
        "reprompts: [], store: account,",
        false,
    ),
];

/// Variants of the shipped scenario file.
const SCENARIO_VARIANTS: &[(&str, &str, &str, bool)] = &[
    ("shipped", "", "", true),
    (
        "an ending that is no ending",
        "ends: queue",
        "ends: queued",
        false,
    ),
    (
        "a dial result that is none",
        "dial: [no-answer]",
        "dial: [no-reply]",
        false,
    ),
    (
        "keys no phone has",
        "keys: [\"3\", \"0\"]",
        "keys: [\"3\", \"0x\"]",
        false,
    ),
    (
        "silence among the keys",
        "keys: [\"3\", \"0\"]",
        "keys: [\"3\", \"\", \"0\"]",
        true,
    ),
    ("unknown field", "  expect:\n", "  expct:\n", false),
];

fn variant(text: &str, from: &str, to: &str, what: &str) -> String {
    if from.is_empty() {
        return text.to_owned();
    }
    assert!(
        text.contains(from),
        "{what}: `{from}` is not in the shipped file"
    );
    text.replacen(from, to, 1)
}

#[test]
fn the_flow_schema_and_the_compiler_agree() {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED: no Python `jsonschema` (set PHONETREE_JSONSCHEMA_PYTHON or run .ci/run)"
        );
        return;
    };
    let shipped = std::fs::read_to_string("flows/acme.yaml").unwrap();
    let texts: Vec<String> = FLOW_VARIANTS
        .iter()
        .map(|(what, from, to, _)| variant(&shipped, from, to, what))
        .collect();
    let instances: Vec<serde_json::Value> = texts.iter().map(|t| as_json(t)).collect();
    let verdicts = validate(&python, &json_schema(), &instances);
    let mut disagreements = Vec::new();
    for (((what, _, _, valid), text), schema_errors) in
        FLOW_VARIANTS.iter().zip(&texts).zip(&verdicts)
    {
        let compiled = compile_sources(
            vec![SourceFile::new("flows/acme.yaml", text.clone())],
            Path::new("prompts"),
        );
        let compiler_ok = compiled.error_count() == 0;
        let schema_ok = schema_errors.is_empty();
        if compiler_ok != *valid || schema_ok != *valid {
            disagreements.push(format!(
                "{what}: expected {}, compiler {}, schema {}\n  compiler: {}\n  schema: {:?}",
                if *valid { "valid" } else { "invalid" },
                compiler_ok,
                schema_ok,
                compiled.rendered_errors().lines().next().unwrap_or(""),
                schema_errors
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn the_scenario_schema_and_the_checks_agree() {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED: no Python `jsonschema` (set PHONETREE_JSONSCHEMA_PYTHON or run .ci/run)"
        );
        return;
    };
    let compiled = phonetree::flow::compile_paths(&["flows".into()], Path::new("prompts")).unwrap();
    let set = compiled.flows.expect("acme compiles");
    let acme = set.get("acme").expect("acme");
    let shipped = std::fs::read_to_string("flows/acme.test.yaml").unwrap();
    let texts: Vec<String> = SCENARIO_VARIANTS
        .iter()
        .map(|(what, from, to, _)| variant(&shipped, from, to, what))
        .collect();
    let instances: Vec<serde_json::Value> = texts.iter().map(|t| as_json(t)).collect();
    let verdicts = validate(&python, &scenario_json_schema(), &instances);
    let mut disagreements = Vec::new();
    for (((what, _, _, valid), text), schema_errors) in
        SCENARIO_VARIANTS.iter().zip(&texts).zip(&verdicts)
    {
        let src = SourceFile::new("flows/acme.test.yaml", text.clone());
        let checked = match parse_scenarios(&src) {
            Err(d) => d,
            Ok(scenarios) => check_scenarios(&ScenarioFile { src, scenarios }, acme),
        };
        let check_ok = checked.is_empty();
        let schema_ok = schema_errors.is_empty();
        if check_ok != *valid || schema_ok != *valid {
            disagreements.push(format!(
                "{what}: expected {}, check {check_ok}, schema {schema_ok}\n  check: {:?}\n  schema: {schema_errors:?}",
                if *valid { "valid" } else { "invalid" },
                checked.first().map(|d| d.message.clone()),
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn the_committed_scenario_schema_is_the_generated_one_and_the_shipped_file_points_at_it() {
    let generated = serde_json::to_string_pretty(&scenario_json_schema()).unwrap();
    let committed = std::fs::read_to_string("schema/scenario.schema.json").unwrap();
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "run `cargo run -- schema scenario > schema/scenario.schema.json`"
    );
    let tests = std::fs::read_to_string("flows/acme.test.yaml").unwrap();
    assert!(tests.starts_with("# yaml-language-server: $schema=../schema/scenario.schema.json"));
}

/// Variants of the shipped Persian catalog: (what, from, to, valid).
const CATALOG_VARIANTS: &[(&str, &str, &str, bool)] = &[
    ("shipped", "", "", true),
    (
        "a text as a sequence of one text",
        "press_3_persian: \"برای فارسی، ۳ را فشار دهید.\"",
        "press_3_persian: [\"برای فارسی، ۳ را فشار دهید.\"]",
        true,
    ),
    (
        "a pause in a sequence",
        "  - play: is.wav",
        "  - pause: 500ms\n  - play: is.wav",
        true,
    ),
    (
        "a sequence item with a recording and a pause",
        "  - play: is.wav",
        "  - { play: is.wav, pause: 1s }",
        false,
    ),
    (
        "a sequence item with an unknown field",
        "  - play: is.wav",
        "  - plya: is.wav",
        false,
    ),
    (
        "an entry that is a map",
        "goodbye: \"از تماس شما با اکمی سپاسگزاریم. خدانگهدار.\"",
        "goodbye: { play: goodbye.wav }",
        false,
    ),
    (
        "a pause that is no duration",
        "  - play: is.wav",
        "  - pause: soon",
        false,
    ),
];

#[test]
fn the_catalog_schema_and_the_compiler_agree() {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED: no Python `jsonschema` (set PHONETREE_JSONSCHEMA_PYTHON or run .ci/run)"
        );
        return;
    };
    let shipped = std::fs::read_to_string("prompts/fa.yaml").unwrap();
    let texts: Vec<String> = CATALOG_VARIANTS
        .iter()
        .map(|(what, from, to, _)| variant(&shipped, from, to, what))
        .collect();
    let instances: Vec<serde_json::Value> = texts.iter().map(|t| as_json(t)).collect();
    let verdicts = validate(&python, &phonetree::flow::catalog_json_schema(), &instances);
    let acme = std::fs::read_to_string("flows/acme.yaml").unwrap();
    let mut disagreements = Vec::new();
    for (((what, _, _, valid), text), schema_errors) in
        CATALOG_VARIANTS.iter().zip(&texts).zip(&verdicts)
    {
        let dir = tempfile::tempdir().unwrap();
        copy(Path::new("prompts"), dir.path());
        std::fs::write(dir.path().join("fa.yaml"), text).unwrap();
        let compiled = compile_sources(
            vec![SourceFile::new("flows/acme.yaml", acme.clone())],
            dir.path(),
        );
        let compiler_ok = compiled.error_count() == 0;
        let schema_ok = schema_errors.is_empty();
        if compiler_ok != *valid || schema_ok != *valid {
            disagreements.push(format!(
                "{what}: expected {}, compiler {compiler_ok}, schema {schema_ok}\n  compiler: {}\n  schema: {schema_errors:?}",
                if *valid { "valid" } else { "invalid" },
                compiled.rendered_errors().lines().next().unwrap_or(""),
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn the_committed_catalog_schema_is_the_generated_one_and_the_shipped_catalogs_point_at_it() {
    let generated = serde_json::to_string_pretty(&phonetree::flow::catalog_json_schema()).unwrap();
    let committed = std::fs::read_to_string("schema/catalog.schema.json").unwrap();
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "run `cargo run -- schema catalog > schema/catalog.schema.json`"
    );
    for lang in ["en", "es", "fa", "ko"] {
        let catalog = std::fs::read_to_string(format!("prompts/{lang}.yaml")).unwrap();
        assert!(
            catalog.starts_with("# yaml-language-server: $schema=../schema/catalog.schema.json"),
            "{lang}"
        );
    }
}
