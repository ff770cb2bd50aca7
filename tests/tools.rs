//! The admin tools through the real binary: `simulate` (scripted and typed keys,
//! mocked and real lookups) and `test` (passing and failing scenarios).

use std::io::Write;
use std::path::Path;

#[path = "common/bin.rs"]
mod bin;

use bin::run_phonetree as phonetree;

const OPEN: &str = "2026-11-24T10:00:00-05:00";

#[test]
fn simulate_with_scripted_keys_shows_what_the_caller_hears_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("acct.json");
    std::fs::write(&json, r#"{"balance": "42.50"}"#).unwrap();
    let mock = format!("lookup_account={}", json.display());
    let (code, out, err) = phonetree(
        &[
            "simulate",
            "acme",
            "--at",
            OPEN,
            "--keys",
            "2,9,,1,123456#,5",
            "--mock-lookup",
            &mock,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-> check_hours (branch): open"), "{out}");
    assert!(
        out.contains("say (es-MX): Para el saldo de su cuenta"),
        "{out}"
    );
    assert!(out.contains("`9` is not accepted (attempt 1)"), "{out}");
    assert!(out.contains("silence (attempt 2)"), "{out}");
    assert!(
        out.contains("GET http://127.0.0.1:9000/accounts/123456 -> ok"),
        "{out}"
    );
    assert!(
        out.contains("say (es-MX): El saldo de la cuenta 1 2 3 4 5 6 es de 42.50 dólares."),
        "{out}"
    );
    assert!(out.contains("path: check_hours -> language -> main_menu -> account -> lookup_account -> balance -> survey -> goodbye"), "{out}");
    assert!(out.contains("ended: hangup"), "{out}");
    // Each prompt is printed under the node that played it, even when a message's
    // prompt opens the next menu's <Gather>.
    assert!(
        out.contains("-> balance (message)\n   say (es-MX): El saldo de la cuenta 1 2 3 4 5 6 es de 42.50 dólares.\n-> survey (menu)\n   say (es-MX): "),
        "{out}"
    );
}

#[test]
fn a_scenario_file_that_does_not_read_or_fit_its_flow_counts_its_scenarios_as_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::copy("flows/acme.yaml", flows.join("acme.yaml")).unwrap();
    std::fs::write(
        flows.join("acme.test.yaml"),
        "- name: one\n  keys: [\"1\"\n- name: two\n  keys: [\"2\"]\n",
    )
    .unwrap();
    let (code, out, err) = bin::run_phonetree_on(&["test"], &flows, Path::new("prompts"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("error[E001]"), "{out}");
    assert!(out.lines().any(|l| l.ends_with(" not run")), "{out}");
    assert!(!out.contains("1 failed"), "{out}");

    // It reads, but names a node the flow does not have: checked before anything runs.
    std::fs::write(
        flows.join("acme.test.yaml"),
        "- name: one\n  keys: [\"1\"]\n  expect: { path: [check_hours, lanugage] }\n- name: two\n  keys: [\"2\"]\n",
    )
    .unwrap();
    let (code, out, err) = bin::run_phonetree_on(&["test"], &flows, Path::new("prompts"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("error[E006]"), "{out}");
    assert!(out.contains("did you mean `language`?"), "{out}");
    assert!(
        out.lines().any(|l| l == "0 passed, 0 failed, 2 not run"),
        "{out}"
    );
}

#[test]
fn simulate_shows_recordings_transfers_and_voicemail() {
    let (code, out, err) = phonetree(
        &[
            "simulate",
            "flows/acme.yaml",
            "--at",
            OPEN,
            "--keys",
            "1,0,no-answer,12",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("... dialing +14155550100"), "{out}");
    assert!(out.contains("transfer ended: no-answer"), "{out}");
    assert!(out.contains("voicemail recorded (12 s)"), "{out}");
    assert!(out.contains("[play prompts/en/goodbye.wav 2.8 s]"), "{out}");
    assert!(
        out.contains(
            "path: check_hours -> language -> main_menu -> operator -> voicemail -> goodbye"
        ),
        "{out}"
    );
}

#[test]
fn simulate_reads_keys_typed_at_the_terminal() {
    // Korean, then silence (Enter alone), then hang up.
    let (code, out, err) = phonetree(&["simulate", "acme", "--at", OPEN], Some("4\n\nh\n"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("say (ko-KR): 계좌 잔액은 1번"), "{out}");
    assert!(out.contains("silence (attempt 1)"), "{out}");
    assert!(
        out.contains("say (ko-KR): 죄송합니다. 선택을 듣지 못했습니다."),
        "{out}"
    );
    assert!(out.contains("ended: caller hung up"), "{out}");
    // The end of input is a hang-up too.
    let (code, out, _) = phonetree(
        &["simulate", "acme", "--at", OPEN, "--lang", "es"],
        Some(""),
    );
    assert_eq!(code, 0);
    assert!(out.contains("ended: caller hung up"), "{out}");
}

#[test]
fn simulate_after_hours_and_bad_arguments() {
    let (code, out, _) = phonetree(
        &[
            "simulate",
            "acme",
            "--at",
            "2026-11-23T22:00:00-05:00",
            "--keys",
            "",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains("-> check_hours (branch): closed"), "{out}");
    assert!(out.contains("ended: voicemail"), "{out}");
    assert_eq!(
        phonetree(&["simulate", "acme", "--at", "yesterday"], None).0,
        2
    );
    assert_eq!(phonetree(&["simulate", "acme", "--lang", "de"], None).0, 2);
    let (code, _, err) = phonetree(&["simulate", "acmee"], None);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `acme`?"), "{err}");
}

#[test]
fn simulate_calls_the_real_lookup_url() {
    // A one-request HTTP server on 127.0.0.1 standing in for the CRM.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let body = r#"{"balance":"7.25"}"#;
        write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
        request_line
    });
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    let acme = std::fs::read_to_string("flows/acme.yaml")
        .unwrap()
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{port}"));
    std::fs::write(flows.join("acme.yaml"), acme).unwrap();
    let flows_arg = flows.display().to_string();
    let (code, out, err) = phonetree(
        &[
            "simulate",
            "acme",
            "--flows",
            &flows_arg,
            "--at",
            OPEN,
            "--keys",
            "1,1,555123#",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server.join().unwrap().trim(),
        "GET /accounts/555123 HTTP/1.1"
    );
    assert!(
        out.contains("The balance of account 5 5 5 1 2 3 is 7.25 dollars."),
        "{out}"
    );
}

#[test]
fn test_runs_the_shipped_scenarios_and_covers_every_node() {
    let (code, out, err) = phonetree(&["test"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("scenario Spanish caller waits for technical support ... ok"),
        "{out}"
    );
    assert!(out.contains("coverage: flow `acme`: 12/12 nodes"), "{out}");
    assert!(out.lines().any(|l| l == "13 passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_scenario_really_fails_with_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::copy("flows/acme.yaml", flows.join("acme.yaml")).unwrap();
    std::fs::write(
        flows.join("acme.test.yaml"),
        r#"
- name: right
  at: "2026-11-24T10:00:00-05:00"
  keys: ["1", "2"]
  expect: { path: [check_hours, language, main_menu, support_queue], ends: queue }
- name: wrong path
  at: "2026-11-24T10:00:00-05:00"
  keys: ["2", "1"]
  expect: { path: [check_hours, language, main_menu, voicemail] }
- name: wrong words
  at: "2026-11-24T10:00:00-05:00"
  keys: ["2"]
  expect: { says: "factura electrónica" }
- name: wrong ending
  at: "2026-11-23T22:00:00-05:00"
  expect: { ends: transfer }
- name: keys left over
  at: "2026-11-24T10:00:00-05:00"
  keys: ["1", "2", "3"]
"#,
    )
    .unwrap();
    let flows_arg = flows.display().to_string();
    let (code, out, _) = phonetree(&["test", "--flows", &flows_arg], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("scenario right ... ok"), "{out}");
    assert!(out.contains("scenario wrong path ... FAILED"), "{out}");
    assert!(
        out.contains("path differs at step 4: expected `voicemail`, got `account`"),
        "{out}"
    );
    assert!(out.contains("never said \"factura electrónica\""), "{out}");
    assert!(
        out.contains("expected the call to end with `transfer`, it ended with `voicemail`"),
        "{out}"
    );
    assert!(out.contains("with keys left over: \"3\""), "{out}");
    assert!(out.lines().any(|l| l == "1 passed, 4 failed"), "{out}");

    // A malformed scenario file is a diagnostic with its position.
    std::fs::write(flows.join("acme.test.yaml"), "- name: typo\n  expct: {}\n").unwrap();
    let (code, out, _) = phonetree(&["test", "--flows", &flows_arg], None);
    assert_eq!(code, 1);
    assert!(out.contains("unknown field `expct`"), "{out}");
    assert!(out.contains("acme.test.yaml:2:3"), "{out}");
    assert!(Path::new(&flows_arg).exists());
}

#[test]
fn a_script_that_does_not_fit_the_call_is_an_error() {
    let (code, _, err) = phonetree(
        &["simulate", "acme", "--at", OPEN, "--keys", "1,0,banana"],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("`banana` at a transfer is not a dial result"),
        "{err}"
    );
    let (code, _, err) = phonetree(
        &["simulate", "acme", "--at", OPEN, "--keys", "1,3,soon"],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("`soon` at a voicemail is not a number"),
        "{err}"
    );
    let (code, _, err) = phonetree(
        &[
            "simulate",
            "acme",
            "--at",
            OPEN,
            "--keys",
            "1,0,completed,5,9,9",
        ],
        None,
    );
    assert_eq!(code, 2, "keys after the goodbye");
    assert!(err.contains("left over: \"9\", \"9\""), "{err}");
}

#[test]
fn test_accepts_scenario_files_outside_the_flows_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("flows/acme.yaml", dir.path().join("acme.yaml")).unwrap();
    std::fs::write(
        dir.path().join("acme.test.yaml"),
        "- name: unused dial result\n  at: \"2026-11-24T10:00:00-05:00\"\n  keys: [\"1\", \"2\"]\n  dial: [busy]\n",
    )
    .unwrap();
    let file = dir.path().join("acme.test.yaml").display().to_string();
    let (code, out, err) = phonetree(&["test", &file], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("the call ended (queue) with 1 `dial` entry unused"),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "0 passed, 1 failed"), "{out}");
}

/// Regression: `simulate` kept a sensitive value between turns while the server's stored
/// session has it masked, so a repeated prompt read the card back in `simulate` only. Both
/// now follow one rule: spoken in the turn that took it, masked from then on.
#[test]
fn simulate_masks_a_sensitive_value_after_the_turn_that_took_it() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("en.yaml"), "card: Enter your card number.\n").unwrap();
    std::fs::write(
        flows.join("pay.yaml"),
        "default: true\nlanguages: [en]\nstart: card\nnodes:\n  card:\n    input: { prompt: card, store: pan, min_digits: 13, max_digits: 19, validate: luhn, next: confirm }\n  confirm:\n    menu: { prompt: [{ say: \"You entered {pan|digits}. Press 1.\" }], options: { \"1\": done } }\n  done:\n    hangup: { prompt: [{ say: \"Bye.\" }] }\n",
    )
    .unwrap();
    let flows_arg = flows.display().to_string();
    let prompts_arg = prompts.display().to_string();
    let (code, out, err) = phonetree(
        &[
            "simulate",
            "pay",
            "--flows",
            &flows_arg,
            "--prompts",
            &prompts_arg,
            "--keys",
            "4111111111111111#,9,1",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.matches("You entered 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1.")
            .count(),
        1,
        "read back once, in the turn that took it:\n{out}"
    );
    assert!(
        out.contains("You entered * * * *"),
        "masked on the repeat:\n{out}"
    );
}
