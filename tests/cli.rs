//! The real `phonetree` binary: exit codes and output of `check` and `schema`.

#[path = "common/bin.rs"]
mod bin;

fn phonetree(args: &[&str]) -> (i32, String, String) {
    bin::run_phonetree(args, None)
}

#[test]
fn check_passes_on_the_shipped_flows() {
    let (code, _, err) = phonetree(&["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok: 1 flow(s), 12 node(s)"), "{err}");
}

#[test]
fn check_exits_1_with_every_diagnostic_on_errors() {
    let (code, _, err) = phonetree(&[
        "check",
        "--prompts",
        "tests/fixtures/prompts",
        "tests/fixtures/reject/E006-unknown-target.yaml",
        "tests/fixtures/reject/E002-unknown-field.yaml",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error[E006]: target `suport` names no node"),
        "{err}"
    );
    assert!(
        err.contains("--> tests/fixtures/reject/E006-unknown-target.yaml:5:48"),
        "{err}"
    );
    assert!(err.contains("error[E002]: unknown field `optons`"), "{err}");
    assert!(err.contains("error: 2 error(s), 0 warning(s)"), "{err}");
}

#[test]
fn check_exits_0_on_warnings_only() {
    let (code, _, err) = phonetree(&[
        "check",
        "--prompts",
        "tests/fixtures/prompts",
        "tests/fixtures/reject/W001-unreachable-node.yaml",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning[W001]"), "{err}");
}

#[test]
fn check_exits_2_on_usage_and_io_trouble() {
    assert_eq!(phonetree(&["check", "--flows", "no/such/dir"]).0, 2);
    assert_eq!(phonetree(&["check", "--prompts", "no/such/dir"]).0, 2);
    assert_eq!(phonetree(&["check", "--no-such-flag"]).0, 2);
    assert_eq!(phonetree(&["frobnicate"]).0, 2);
}

#[test]
fn schema_is_json_schema_of_flow_files() {
    let (code, out, _) = phonetree(&["schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(schema["title"], "phonetree flow");
    let props = schema["properties"].as_object().expect("properties");
    for key in [
        "languages",
        "start",
        "nodes",
        "defaults",
        "hours",
        "numbers",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let (code, _, err) = phonetree(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--store",
        "sqlite::memory:",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("without TWILIO_AUTH_TOKEN"), "{err}");
}

#[test]
fn serve_needs_a_public_url_off_loopback() {
    let (code, _, err) = phonetree(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--insecure",
        "--store",
        "sqlite::memory:",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("needs --public-url"), "{err}");
}

#[test]
fn check_also_reads_the_scenario_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("flows/acme.yaml", dir.path().join("acme.yaml")).unwrap();
    std::fs::write(
        dir.path().join("acme.test.yaml"),
        "- name: typo\n  kyes: [\"1\"]\n",
    )
    .unwrap();
    let flows = dir.path().display().to_string();
    let (code, _, err) = phonetree(&["check", "--flows", &flows]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown field `kyes`"), "{err}");
    assert!(err.contains("did you mean `keys`?"), "{err}");
    assert!(err.contains("acme.test.yaml:2:3"), "{err}");
}
