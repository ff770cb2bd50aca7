//! A/B splits through the real server: the weights hold over a few hundred callers, a
//! caller who calls again goes the same way, the way is logged as the split's `entered`
//! value, and `phonetree report` gives the same figures per way.

#[path = "common/bin.rs"]
mod bin;
mod common;

use bin::{run_phonetree, run_phonetree_on};
use common::*;
use phonetree::call::{EventKind, EventValue};

const FLOW: &str = r#"
languages: [en]
start: greeting
nodes:
  greeting:
    split: { ways: [ { weight: 70, goto: menu_a }, { weight: 30, goto: menu_b } ] }
  menu_a:
    menu: { prompt: long_menu, options: { "1": agent, "2": bye } }
  menu_b:
    menu: { prompt: short_menu, options: { "1": agent, "2": bye } }
  agent:
    transfer: { to: "+14155550100" }
  bye:
    hangup: { prompt: goodbye }
"#;

const PROMPTS: &str = r#"
long_menu: "Welcome to Acme. For sales, press 1. To end this call, press 2."
short_menu: "Sales 1, goodbye 2."
goodbye: "Goodbye."
"#;

async fn server() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::create_dir_all(&prompts).expect("mkdir");
    std::fs::write(flows.join("ab.yaml"), FLOW).expect("write");
    std::fs::write(prompts.join("en.yaml"), PROMPTS).expect("write");
    TestServer::start(dir, flows, prompts, open_time(), None).await
}

/// Which menu the caller heard first: `a` or `b`.
fn way(said: &str) -> char {
    if said.contains("Welcome to Acme") {
        'a'
    } else if said.contains("Sales 1") {
        'b'
    } else {
        panic!("neither menu: {said}")
    }
}

#[tokio::test]
async fn a_split_holds_its_weights_keeps_each_caller_on_one_way_and_is_reported_per_way() {
    let server = server().await;
    let mut first = Vec::new();
    for n in 0..400 {
        let mut call = server.call(&format!("first {n}"));
        call.from = format!("+1555{n:07}");
        let t = call.start().await;
        let w = way(&t.said());
        first.push(w);
        // Menu A's callers reach an agent, menu B's say goodbye.
        if w == 'a' {
            call.press("1").await;
            call.dial_result("completed").await;
        } else {
            call.press("2").await;
        }
        call.status("completed").await;
    }
    let a = first.iter().filter(|&&w| w == 'a').count();
    // 70% of 400 is 280; the binomial spread is about 9, so 4 spreads either side.
    assert!((244..=316).contains(&a), "{a} of 400 callers went way a");

    // Every caller who calls again hears the same menu.
    for (n, w) in first.iter().enumerate().step_by(7) {
        let mut call = server.call(&format!("again {n}"));
        call.from = format!("+1555{n:07}");
        let t = call.start().await;
        assert_eq!(way(&t.said()), *w, "caller {n} went another way");
        call.status("completed").await;
    }

    // Withheld numbers are split by the call instead, so they do not all go one way.
    let mut withheld = Vec::new();
    for n in 0..40 {
        let mut call = server.call(&format!("anonymous {n}"));
        call.from = "anonymous".to_owned();
        withheld.push(way(&call.start().await.said()));
        call.status("completed").await;
    }
    assert!(
        withheld.contains(&'a') && withheld.contains(&'b'),
        "{withheld:?}"
    );

    // The way is the split's `entered` value.
    let events = server.store.events(&sid("first 0")).await.expect("events");
    let entered = events
        .iter()
        .find(|e| e.kind == EventKind::Entered && e.node.as_deref() == Some("greeting"))
        .expect("the split was entered");
    let menu = if first[0] == 'a' { "menu_a" } else { "menu_b" };
    assert_eq!(entered.value, Some(EventValue::Way(menu.into())));

    // The report compares the ways over the first 400 calls.
    let flows = server.dir.path().join("flows");
    let prompts = server.dir.path().join("prompts");
    let (code, stdout, stderr) = run_phonetree_on(
        &["report", "--store", &server.store_url, "--format", "json"],
        &flows,
        &prompts,
    );
    assert_eq!(code, 0, "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let again = first.iter().step_by(7).count();
    let again_a = first.iter().step_by(7).filter(|&&w| w == 'a').count();
    let anon_a = withheld.iter().filter(|&&w| w == 'a').count();
    let a_calls = a + again_a + anon_a;
    let b_calls = 400 + again + 40 - a_calls;
    assert_eq!(r["calls"], 400 + again as u64 + 40);
    let ways = &r["variants"]["greeting"];
    assert_eq!(ways["menu_a"]["calls"], a_calls as u64, "{ways}");
    assert_eq!(ways["menu_b"]["calls"], b_calls as u64, "{ways}");
    // Way a's first callers reached an agent; way b's said goodbye themselves.
    assert_eq!(ways["menu_a"]["outcomes"]["transferred"], a as u64);
    assert_eq!(ways["menu_a"]["outcomes"]["self_service"], 0);
    assert_eq!(ways["menu_b"]["outcomes"]["self_service"], (400 - a) as u64);
    assert_eq!(ways["menu_b"]["outcomes"]["transferred"], 0);
    assert_eq!(ways["menu_a"]["nodes"]["menu_b"], serde_json::Value::Null);
    assert_eq!(ways["menu_b"]["nodes"]["menu_b"]["entered"], b_calls as u64);
    assert_eq!(ways["menu_a"]["variants"], serde_json::json!({}));

    // The text and HTML reports put the ways side by side.
    let common = [
        "--store",
        server.store_url.as_str(),
        "--flows",
        flows.to_str().expect("path"),
        "--prompts",
        prompts.to_str().expect("path"),
    ];
    let (code, text, stderr) = run_phonetree(&[&["report"][..], &common].concat(), None);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("split greeting"), "{text}");
    assert!(
        text.contains(&format!("  menu_a               calls {a_calls:>7}")),
        "{text}"
    );
    let page = server.dir.path().join("report.html");
    let page_arg = page.to_str().expect("path");
    let (code, _, stderr) = run_phonetree(
        &[&["report", "--format", "html", "-o", page_arg][..], &common].concat(),
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("<h2>Split greeting</h2>"), "split section");
    assert!(html.contains(&format!(
        "<tr><td>menu_b</td><td class=\"n\">{b_calls}</td>"
    )));
    server.stop().await;
}

#[test]
fn graph_draws_a_split_with_each_way_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("flows")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("prompts")).expect("mkdir");
    std::fs::write(dir.path().join("flows/ab.yaml"), FLOW).expect("write");
    std::fs::write(dir.path().join("prompts/en.yaml"), PROMPTS).expect("write");
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    let (code, mermaid, stderr) = run_phonetree_on(&["graph", "ab"], &flows, &prompts);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("split_mermaid", mermaid);
    let (code, dot, stderr) =
        run_phonetree_on(&["graph", "ab", "--format", "dot"], &flows, &prompts);
    assert_eq!(code, 0, "{stderr}");
    assert!(dot.contains("label=\"70%\""), "{dot}");
    assert!(dot.contains("label=\"30%\""), "{dot}");
}

#[test]
fn simulate_and_scenarios_follow_the_callers_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::create_dir_all(&prompts).expect("mkdir");
    std::fs::write(flows.join("ab.yaml"), FLOW).expect("write");
    std::fs::write(prompts.join("en.yaml"), PROMPTS).expect("write");
    // Which way each of two callers takes, from the pinned hash of the flow, node and number.
    let way_of = |caller: &str| {
        let (code, out, err) = run_phonetree_on(
            &["simulate", "ab", "--keys", "2", "--caller", caller],
            &flows,
            &prompts,
        );
        assert_eq!(code, 0, "{err}");
        if out.contains("Welcome to Acme") {
            "menu_a"
        } else {
            assert!(out.contains("Sales 1, goodbye 2."), "{out}");
            "menu_b"
        }
    };
    let callers: Vec<String> = (0..20).map(|n| format!("+1555{n:07}")).collect();
    let ways: Vec<&str> = callers.iter().map(|c| way_of(c)).collect();
    assert!(
        ways.contains(&"menu_a") && ways.contains(&"menu_b"),
        "{ways:?}"
    );
    // The same caller, again: the same way.
    assert_eq!(way_of(&callers[0]), ways[0]);

    // A scenario names the caller to test one way.
    let a = callers[ways
        .iter()
        .position(|w| *w == "menu_a")
        .expect("a caller of way a")]
    .clone();
    let b = callers[ways
        .iter()
        .position(|w| *w == "menu_b")
        .expect("a caller of way b")]
    .clone();
    std::fs::write(
        flows.join("ab.test.yaml"),
        format!(
            "- name: way a\n  caller: \"{a}\"\n  keys: [\"2\"]\n  expect: {{ path: [greeting, menu_a, bye] }}\n\
             - name: way b\n  caller: \"{b}\"\n  keys: [\"2\"]\n  expect: {{ path: [greeting, menu_b, bye] }}\n"
        ),
    )
    .expect("write");
    let (code, out, err) = run_phonetree_on(&["test"], &flows, &prompts);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 passed"), "{out}");
}
