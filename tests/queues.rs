//! Queues through the real server as Twilio drives them: the hold answer (`waitUrl`) with
//! the caller's position spoken, a leave key offered around the hold prompt, the longest
//! wait, and where each way out of the queue leads; then the same flow driven by
//! `phonetree test` scenarios (`queue: [leave-key]`) and drawn by `phonetree graph`.

#[path = "common/bin.rs"]
mod bin;
mod common;

use bin::{run_phonetree, run_phonetree_on};
use common::*;

const FLOW: &str = r#"
languages: [en]
start: wait
nodes:
  wait:
    queue:
      name: support
      hold: hold_music
      announce: position
      max_wait: 2m
      on_timeout: late
      leave_key: "1"
      on_leave: callback
      next: bye
  late:
    message: { prompt: sorry_wait, next: bye }
  callback:
    message: { prompt: will_call, next: bye }
  bye:
    hangup: { prompt: goodbye }
"#;

const PROMPTS: &str = r#"
hold_music: "Please hold."
position: "You are number {queue_position} of {queue_size}, after {queue_waited} seconds; most wait {queue_avg_wait} seconds."
sorry_wait: "Sorry for the wait."
will_call: "We will call you back."
goodbye: "Goodbye."
"#;

const SCENARIOS: &str = r#"
- name: the caller presses the leave key
  queue: [leave-key]
  expect:
    path: [wait, callback, bye]
    says: ["You are number 1 of 1", "Please hold.", "We will call you back."]
- name: the caller waits too long
  queue: [timeout]
  expect:
    path: [wait, late, bye]
    says: "Sorry for the wait."
- name: an agent takes the call
  queue: [bridged]
  expect:
    path: [wait, bye]
- name: still waiting
  expect:
    path: [wait]
    ends: queue
"#;

fn project() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::create_dir_all(&prompts).expect("mkdir");
    std::fs::write(flows.join("line.yaml"), FLOW).expect("write");
    std::fs::write(flows.join("line.test.yaml"), SCENARIOS).expect("write");
    std::fs::write(prompts.join("en.yaml"), PROMPTS).expect("write");
    (dir, flows, prompts)
}

/// Verbs Twilio accepts in a `waitUrl` answer.
const WAIT_VERBS: [&str; 7] = [
    "Play", "Say", "Pause", "Redirect", "Leave", "Hangup", "Gather",
];

fn only_wait_verbs(e: &Element) {
    for c in &e.children {
        assert!(
            WAIT_VERBS.contains(&c.name.as_str()),
            "<{}> in a wait answer",
            c.name
        );
        if c.name == "Gather" {
            only_wait_verbs(c);
        }
    }
}

/// POSTs a form to `url` as Twilio does for a call in the queue; the TwiML answered.
async fn post(call: &Call, url: &str, extra: &[(&str, &str)]) -> Element {
    let (status, _, body) = call.post_raw(url, extra).await;
    assert_eq!(status, 200, "{url}: {body}");
    parse_twiml(&body)
}

#[tokio::test]
async fn the_hold_answer_speaks_the_position_offers_the_leave_key_and_enforces_the_longest_wait() {
    let (dir, flows, prompts) = project();
    let server = TestServer::start(dir, flows, prompts, open_time(), None).await;

    // The caller is queued with phonetree's hold answer.
    let mut call = server.call("leaves by key");
    let t = call.start().await;
    let enqueue = t.find("Enqueue").expect("queued").clone();
    assert_eq!(enqueue.text, "support");
    let wait_url = enqueue.attr("waitUrl").expect("a waitUrl").to_owned();
    let action = enqueue.attr("action").expect("an action").to_owned();

    let hold = post(
        &call,
        &wait_url,
        &[
            ("QueuePosition", "3"),
            ("CurrentQueueSize", "5"),
            ("QueueTime", "30"),
            ("AvgQueueTime", "45"),
            ("QueueSid", "QU00000000000000000000000000000000"),
        ],
    )
    .await;
    only_wait_verbs(&hold);
    assert_eq!(hold.verbs(), ["Gather"], "{hold:?}");
    let gather = hold.find("Gather").expect("gather");
    assert_eq!(gather.attr("numDigits"), Some("1"));
    assert_eq!(
        hold.says(),
        [
            "You are number 3 of 5, after 30 seconds; most wait 45 seconds.",
            "Please hold."
        ]
    );
    let key_url = gather.attr("action").expect("gather action").to_owned();
    assert!(key_url.contains("/twilio/hold-key"), "{key_url}");

    // Without the provider's figures, only the hold prompt.
    let bare = post(&call, &wait_url, &[]).await;
    assert_eq!(bare.says(), ["Please hold."]);

    // Another key ends this round of the wait (Twilio fetches the hold answer again, with
    // fresh figures); the leave key leaves the queue.
    let other = post(&call, &key_url, &[("Digits", "5")]).await;
    assert!(other.children.is_empty(), "{other:?}");
    let leave = post(&call, &key_url, &[("Digits", "1")]).await;
    assert_eq!(leave.verbs(), ["Leave"], "{leave:?}");
    // Pressed late in a long hold prompt: past max_wait, but the caller chose to leave.
    let after = post(
        &call,
        &action,
        &[("QueueResult", "leave"), ("QueueTime", "130")],
    )
    .await;
    assert!(
        after.said().contains("We will call you back."),
        "{}",
        after.said()
    );
    call.status("completed").await;
    let log: Vec<String> = server
        .store
        .events(&sid("leaves by key"))
        .await
        .expect("events")
        .iter()
        .map(|e| format!("{}@{}", e.kind.as_str(), e.node.as_deref().unwrap_or("")))
        .collect();
    assert!(
        log.contains(&"key@wait".to_owned()),
        "the leave key is logged: {log:?}"
    );
    assert!(log.contains(&"queue_left@wait".to_owned()), "{log:?}");

    // Two minutes in, the hold answer is <Leave/>, and the caller goes `on_timeout`.
    let mut call = server.call("waits too long");
    let t = call.start().await;
    let enqueue = t.find("Enqueue").expect("queued").clone();
    let wait_url = enqueue.attr("waitUrl").expect("waitUrl").to_owned();
    let action = enqueue.attr("action").expect("action").to_owned();
    let early = post(
        &call,
        &wait_url,
        &[("QueuePosition", "1"), ("QueueTime", "119")],
    )
    .await;
    assert_ne!(early.verbs(), ["Leave"]);
    let late = post(
        &call,
        &wait_url,
        &[("QueuePosition", "1"), ("QueueTime", "120")],
    )
    .await;
    assert_eq!(late.verbs(), ["Leave"], "{late:?}");
    let after = post(
        &call,
        &action,
        &[("QueueResult", "leave"), ("QueueTime", "121")],
    )
    .await;
    assert!(
        after.said().contains("Sorry for the wait."),
        "{}",
        after.said()
    );

    // A <Leave/> nobody asked for (a wait phonetree could not place) goes `next`, not
    // `on_leave`.
    let mut call = server.call("left without a key");
    let t = call.start().await;
    let action = t
        .find("Enqueue")
        .and_then(|e| e.attr("action"))
        .expect("action")
        .to_owned();
    let after = post(
        &call,
        &action,
        &[("QueueResult", "leave"), ("QueueTime", "15")],
    )
    .await;
    assert!(after.said().contains("Goodbye."), "{}", after.said());
    assert!(!after.said().contains("call you back"), "{}", after.said());

    // An agent answers: the caller goes `next` when the agent's call ends.
    let mut call = server.call("bridged");
    call.start().await;
    let t = call.queue_result("bridged").await;
    assert!(t.said().contains("Goodbye."), "{}", t.said());
    server.stop().await;
}

#[test]
fn scenarios_drive_each_way_out_of_the_queue_and_graph_draws_them() {
    let (_dir, flows, prompts) = project();
    let args = |cmd: &'static str| {
        vec![
            cmd.to_owned(),
            "--flows".to_owned(),
            flows.display().to_string(),
            "--prompts".to_owned(),
            prompts.display().to_string(),
        ]
    };
    let test_args = args("test");
    let test_args: Vec<&str> = test_args.iter().map(String::as_str).collect();
    let (code, out, err) = run_phonetree(&test_args, None);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("4 passed"), "{out}");

    let mut graph_args = args("graph");
    graph_args.insert(1, "line".to_owned());
    let graph_args: Vec<&str> = graph_args.iter().map(String::as_str).collect();
    let (code, mermaid, err) = run_phonetree(&graph_args, None);
    assert_eq!(code, 0, "{err}");
    assert!(mermaid.contains("|\"1 (leave queue)\"|"), "{mermaid}");
    assert!(mermaid.contains("|\"waited too long\"|"), "{mermaid}");
}

#[test]
fn check_refuses_queue_exits_that_can_never_be_taken() {
    let (_dir, flows, prompts) = project();
    std::fs::write(
        flows.join("line.yaml"),
        FLOW.replace("      max_wait: 2m\n", "")
            .replace("      leave_key: \"1\"\n", ""),
    )
    .expect("write");
    std::fs::remove_file(flows.join("line.test.yaml")).expect("rm");
    let (code, _, err) = run_phonetree_on(&["check"], &flows, &prompts);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`on_timeout` needs `max_wait`"), "{err}");
    assert!(err.contains("`on_leave` needs `leave_key`"), "{err}");
}
