//! Contact-centre transfers through the real server: busy, failed and unanswered routes,
//! a dial target expanded per call (`sip:{ext}@...`), keys sent after a number answers,
//! and an expansion that is not dialable taking the failed route; then the same flow
//! driven by `phonetree test` scenarios (`dial: [busy]`).

#[path = "common/bin.rs"]
mod bin;
mod common;

use bin::run_phonetree_on;
use common::*;

const FLOW: &str = r##"
languages: [en]
start: ext
defaults: { on_fail: bye }
nodes:
  ext:
    input: { prompt: enter_ext, store: ext, min_digits: 3, max_digits: 4, finish_on: "#", next: how }
  how:
    menu:
      prompt: how
      options:
        "1": sip_desk
        "2": front_desk
        "3": { goto: anywhere, set: { dest: "the front desk" } }
  sip_desk:
    transfer: { to: "sip:{ext}@pbx.example.com", on_busy: busy, on_failed: failed, on_no_answer: nobody, next: bye }
  front_desk:
    transfer: { to: "+14155550100", send_digits: "ww{ext}#", on_busy: busy, next: bye }
  anywhere:
    transfer: { to: "{dest}", on_failed: failed, next: bye }
  busy:
    message: { prompt: busy_now, next: bye }
  failed:
    message: { prompt: cannot_connect, next: bye }
  nobody:
    message: { prompt: nobody_there, next: bye }
  bye:
    hangup: { prompt: goodbye }
"##;

const PROMPTS: &str = r#"
enter_ext: "Enter the extension, then press pound."
how: "For the desk phone press 1, for the front desk press 2, anywhere press 3."
busy_now: "That line is busy."
cannot_connect: "We cannot connect you."
nobody_there: "Nobody answered."
goodbye: "Goodbye."
"#;

const SCENARIOS: &str = r##"
- name: a busy extension gets the busy message
  keys: ["1234#", "1"]
  dial: [busy]
  expect:
    path: [ext, how, sip_desk, busy, bye]
    says: ["That line is busy."]
    ends: hangup
- name: a failed dial gets its own route
  keys: ["1234#", "1"]
  dial: [failed]
  expect:
    path: [ext, how, sip_desk, failed, bye]
    says: ["We cannot connect you."]
- name: the front desk defaults busy and failed to no-answer, which is on_fail
  keys: ["567#", "2"]
  dial: [failed]
  expect:
    path: [ext, how, front_desk, bye]
- name: an address that is not dialable goes the failed way without dialing
  keys: ["567#", "3"]
  expect:
    path: [ext, how, anywhere, failed, bye]
"##;

fn project() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::create_dir_all(&prompts).expect("mkdir");
    std::fs::write(flows.join("desk.yaml"), FLOW).expect("write");
    std::fs::write(flows.join("desk.test.yaml"), SCENARIOS).expect("write");
    std::fs::write(prompts.join("en.yaml"), PROMPTS).expect("write");
    (dir, flows, prompts)
}

async fn server() -> TestServer {
    let (dir, flows, prompts) = project();
    TestServer::start(dir, flows, prompts, open_time(), None).await
}

async fn kinds_and_values(server: &TestServer, label: &str) -> Vec<String> {
    server
        .store
        .events(&sid(label))
        .await
        .expect("events")
        .iter()
        .map(|e| match e.value_text() {
            Some(v) => format!("{}={v}", e.kind.as_str()),
            None => e.kind.as_str().to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn sip_templates_send_digits_and_each_dial_status_route() {
    let server = server().await;

    // The extension lands in a SIP address; each dial status has its way.
    for (status, then) in [
        ("busy", "That line is busy."),
        ("failed", "We cannot connect you."),
        ("no-answer", "Nobody answered."),
        ("canceled", "Nobody answered."),
    ] {
        let label = format!("sip {status}");
        let mut call = server.call(&label);
        call.start().await;
        call.press("1234#").await;
        let t = call.press("1").await;
        let dial = t.find("Dial").expect("dials");
        let sip = dial.find("Sip").expect("a <Sip> noun");
        assert_eq!(sip.text, "sip:1234@pbx.example.com");
        assert!(dial.find("Number").is_none());
        let t = call.dial_result(status).await;
        assert!(t.said().contains(then), "{status}: {}", t.said());
        call.status("completed").await;
        let log = kinds_and_values(&server, &label).await;
        assert!(
            log.contains(&"transfer_started=sip:1234@pbx.example.com".to_owned()),
            "{log:?}"
        );
        assert!(
            log.contains(&format!("transfer_result={status}")),
            "{log:?}"
        );
    }

    // A number with keys to send once it answers; busy and failed fall back to no-answer,
    // which falls back to on_fail.
    let mut call = server.call("front desk");
    call.start().await;
    call.press("567#").await;
    let t = call.press("2").await;
    let number = t
        .find("Dial")
        .and_then(|d| d.find("Number"))
        .expect("<Number>");
    assert_eq!(number.text, "+14155550100");
    assert_eq!(number.attr("sendDigits"), Some("ww567#"));
    let t = call.dial_result("busy").await;
    assert!(t.said().contains("That line is busy."), "{}", t.said());
    let mut call = server.call("front desk failed");
    call.start().await;
    call.press("567#").await;
    call.press("2").await;
    let t = call.dial_result("failed").await;
    assert!(t.said().contains("Goodbye."), "on_fail: {}", t.said());

    // An expansion that is not dialable is refused without a <Dial>.
    let mut call = server.call("nowhere");
    call.start().await;
    call.press("567#").await;
    let t = call.press("3").await;
    assert!(t.find("Dial").is_none(), "{t:?}");
    assert!(t.said().contains("We cannot connect you."), "{}", t.said());
    let log = kinds_and_values(&server, "nowhere").await;
    assert!(
        log.iter()
            .any(|e| e.starts_with("fault=") && e.contains("the front desk")),
        "{log:?}"
    );
    assert!(
        log.contains(&"transfer_result=failed".to_owned()),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|e| e.starts_with("transfer_started")),
        "{log:?}"
    );
    server.stop().await;
}

#[test]
fn scenarios_drive_each_route_and_graph_draws_them() {
    let (_dir, flows, prompts) = project();
    let (code, out, err) = run_phonetree_on(&["test"], &flows, &prompts);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("4 passed"), "{out}");

    let (code, dot, err) =
        run_phonetree_on(&["graph", "desk", "--format", "dot"], &flows, &prompts);
    assert_eq!(code, 0, "{err}");
    assert!(dot.contains("sip:{ext}@pbx.example.com"), "{dot}");
    for label in ["busy", "failed", "no-answer"] {
        assert!(
            dot.contains(&format!("label=\"{label}\"")),
            "{label}: {dot}"
        );
    }
}
