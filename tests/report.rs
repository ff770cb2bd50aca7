//! `phonetree report` over calls driven through the real server: a known mix of 45 calls
//! on a clock the test moves, then every figure of the JSON report checked exactly, on
//! SQLite and on PostgreSQL (which says SKIPPED and passes without server binaries).
//!
//! The mix, each call one minute after the last, times in seconds from its start:
//! - A, 10 calls: hang up at the language menu at 4.
//! - B, 10 calls: English at 3, support queue at 8, bridged and hung up at 68.
//! - C, 10 calls: English at 3, voicemail at 8, recorded at 38, status at 39.
//! - D, 10 calls: English at 3, operator (0) at 8, the transfer ends at 128, rate 4 at 131,
//!   status at 132.
//! - E, 5 calls: an invalid key (9) at 3, silence at 9, English at 15, account at 20,
//!   account 123456 at 30 (lookup, balance, survey), rate 5 at 36, status at 37.

#[path = "common/bin.rs"]
mod bin;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bin::run_phonetree;
use chrono::{DateTime, Utc};
use common::*;
use serde_json::{Value, json};

/// A clock the test sets: milliseconds since the epoch.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn at(start: DateTime<Utc>) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(start.timestamp_millis())))
    }
    fn set(&self, t: DateTime<Utc>) {
        self.0.store(t.timestamp_millis(), Ordering::SeqCst);
    }
    fn clock(&self) -> phonetree::server::Clock {
        let millis = self.0.clone();
        Arc::new(move || {
            DateTime::from_timestamp_millis(millis.load(Ordering::SeqCst)).expect("a time")
        })
    }
}

/// The Acme flows served on `store_url` (default SQLite) at the test's clock.
async fn acme_server(crm: &str, clock: &TestClock, store_url: Option<&str>) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir");
    let acme = std::fs::read_to_string(repo().join("flows/acme.yaml")).expect("acme.yaml");
    std::fs::write(flows.join("acme.yaml"), acme.replace("127.0.0.1:9000", crm)).expect("write");
    TestServer::start_with_clock(
        dir,
        flows,
        repo().join("prompts"),
        clock.clock(),
        None,
        None,
        store_url,
    )
    .await
}

/// Drives the 45 calls of the module's mix.
async fn drive_mix(server: &TestServer, clock: &TestClock) {
    let t0 = open_time();
    let mut n = 0;
    let mut next_call = |label: &str| {
        let start = t0 + chrono::Duration::minutes(n);
        n += 1;
        (server.call(label), start)
    };
    let at = |start: DateTime<Utc>, secs: i64| start + chrono::Duration::seconds(secs);
    for i in 0..10 {
        let (mut call, s) = next_call(&format!("A{i}"));
        clock.set(s);
        call.start().await;
        clock.set(at(s, 4));
        call.status("completed").await;
    }
    for i in 0..10 {
        let (mut call, s) = next_call(&format!("B{i}"));
        clock.set(s);
        call.start().await;
        clock.set(at(s, 3));
        call.press("1").await;
        clock.set(at(s, 8));
        let t = call.press("2").await;
        assert!(t.find("Enqueue").is_some(), "queued: {t:?}");
        clock.set(at(s, 68));
        call.queue_result("bridged").await;
        call.status("completed").await;
    }
    for i in 0..10 {
        let (mut call, s) = next_call(&format!("C{i}"));
        clock.set(s);
        call.start().await;
        clock.set(at(s, 3));
        call.press("1").await;
        clock.set(at(s, 8));
        call.press("3").await;
        clock.set(at(s, 38));
        call.recorded(30).await;
        clock.set(at(s, 39));
        call.status("completed").await;
    }
    for i in 0..10 {
        let (mut call, s) = next_call(&format!("D{i}"));
        clock.set(s);
        call.start().await;
        clock.set(at(s, 3));
        call.press("1").await;
        clock.set(at(s, 8));
        call.press("0").await;
        clock.set(at(s, 128));
        call.dial_result("completed").await;
        clock.set(at(s, 131));
        call.press("4").await;
        clock.set(at(s, 132));
        call.status("completed").await;
    }
    for i in 0..5 {
        let (mut call, s) = next_call(&format!("E{i}"));
        clock.set(s);
        call.start().await;
        clock.set(at(s, 3));
        call.press("9").await;
        clock.set(at(s, 9));
        call.silence().await;
        clock.set(at(s, 15));
        call.press("1").await;
        clock.set(at(s, 20));
        call.press("1").await;
        clock.set(at(s, 30));
        let t = call.press("123456#").await;
        assert!(t.said().contains("42.50"), "balance: {}", t.said());
        clock.set(at(s, 36));
        call.press("5").await;
        clock.set(at(s, 37));
        call.status("completed").await;
    }
}

fn report_json(server: &TestServer, extra: &[&str]) -> Value {
    let flows = server.dir.path().join("flows");
    let prompts = repo().join("prompts");
    let mut args = vec![
        "report",
        "--store",
        &server.store_url,
        "--format",
        "json",
        "--flows",
        flows.to_str().expect("utf-8 path"),
        "--prompts",
        prompts.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_phonetree(&args, None);
    assert_eq!(code, 0, "report failed: {stderr}");
    assert!(
        !stderr.contains("warning"),
        "the flow version is kept in the store: {stderr}"
    );
    match serde_json::from_str(&stdout) {
        Ok(json) => json,
        Err(e) => panic!("report JSON ({e}): {stdout}"),
    }
}

/// A node's figures as the report writes them.
#[allow(clippy::too_many_arguments)]
fn node(
    kind: &str,
    entered: u64,
    keys: Value,
    invalid: u64,
    no_input: u64,
    abandoned: u64,
    median_seconds: f64,
) -> Value {
    let rate = |n: u64| n as f64 / entered as f64;
    json!({
        "flow": "acme",
        "kind": kind,
        "entered": entered,
        "keys": keys,
        "invalid": invalid,
        "no_input": no_input,
        "invalid_rate": rate(invalid),
        "no_input_rate": rate(no_input),
        "retries_exhausted": 0,
        "abandoned": abandoned,
        "abandoned_rate": rate(abandoned),
        "median_seconds": median_seconds,
    })
}

fn check_mix_report(r: &Value) {
    let calls = 45.0;
    assert_eq!(r["calls"], 45);
    assert_eq!(r["calls_per_day"], json!({ "2026-11-24": 45 }));
    assert_eq!(
        r["outcomes"],
        json!({ "self_service": 5, "transferred": 10, "queued": 10, "voicemail": 10, "failed": 0, "abandoned": 10 })
    );
    assert_eq!(
        r["outcome_rates"],
        json!({
            "self_service": 5.0 / calls, "transferred": 10.0 / calls, "queued": 10.0 / calls,
            "voicemail": 10.0 / calls, "failed": 0.0, "abandoned": 10.0 / calls,
        })
    );
    assert_eq!(r["in_progress"], 0);
    assert_eq!(r["containment_rate"], json!(5.0 / calls));
    assert_eq!(r["zero_outs"], 10);
    assert_eq!(r["zero_out_rate"], json!(10.0 / calls));

    // Visits: check_hours routes at once; the language menu lasts 4 s (A), 3 s (B, C, D)
    // or 15 s (E: invalid, silence, then a key); the main menu 5 s; and so on.
    let expected_nodes = json!({
        "check_hours": node("branch", 45, json!({}), 0, 0, 0, 0.0),
        "language": node("menu", 45, json!({ "1": 35 }), 5, 5, 10, 3.0),
        "main_menu": node("menu", 35, json!({ "0": 10, "1": 5, "2": 10, "3": 10 }), 0, 0, 0, 5.0),
        "support_queue": node("queue", 10, json!({}), 0, 0, 0, 60.0),
        "voicemail": node("voicemail", 10, json!({}), 0, 0, 0, 30.0),
        "operator": node("transfer", 10, json!({}), 0, 0, 0, 120.0),
        "survey": node("menu", 15, json!({ "4": 10, "5": 5 }), 0, 0, 0, 3.0),
        "goodbye": node("hangup", 25, json!({}), 0, 0, 0, 1.0),
        "account": node("input", 5, json!({}), 0, 0, 0, 10.0),
        "lookup_account": node("lookup", 5, json!({}), 0, 0, 0, 0.0),
        "balance": node("message", 5, json!({}), 0, 0, 0, 0.0),
    });
    for (id, want) in expected_nodes.as_object().expect("object") {
        assert_eq!(&r["nodes"][id], want, "node {id}");
    }
    assert_eq!(
        r["nodes"].as_object().expect("nodes").len(),
        expected_nodes.as_object().expect("object").len(),
        "no other node: {}",
        r["nodes"]
    );

    assert_eq!(
        r["paths"],
        json!([
            { "path": "check_hours -> language", "calls": 10 },
            { "path": "check_hours -> language -1-> main_menu -0-> operator -> survey -4-> goodbye", "calls": 10 },
            { "path": "check_hours -> language -1-> main_menu -2-> support_queue", "calls": 10 },
            { "path": "check_hours -> language -1-> main_menu -3-> voicemail -> goodbye", "calls": 10 },
            { "path": "check_hours -> language -1-> main_menu -1-> account -> lookup_account -> balance -> survey -5-> goodbye", "calls": 5 },
        ])
    );

    assert_eq!(
        r["answers"],
        json!({ "account": { "123456": 5 }, "csat": { "4": 10, "5": 5 } })
    );
    assert_eq!(
        r["answer_stats"]["csat"],
        json!({ "responses": 15, "too_many_values": false, "mean": 65.0 / 15.0, "nps": null })
    );
    // An account number is counted, but it is no score: no mean.
    assert_eq!(
        r["answer_stats"]["account"],
        json!({ "responses": 5, "too_many_values": false, "mean": null, "nps": null })
    );

    // In the IVR until the queue or the transfer (8 s), the end (voicemail 39 s, self
    // service 37 s) or the hang-up (4 s): 10 x 4, 20 x 8, 5 x 37, 10 x 39.
    assert_eq!(r["ivr_seconds"], json!({ "median": 8.0, "p90": 39.0 }));

    let transitions = r["transitions"].as_array().expect("transitions");
    let count = |from: &str, to: &str| {
        transitions
            .iter()
            .find(|t| t["from"] == from && t["to"] == to)
            .map(|t| t["count"].as_u64().expect("count"))
    };
    assert_eq!(count("call", "check_hours"), Some(45));
    assert_eq!(count("check_hours", "language"), Some(45));
    assert_eq!(count("language", "main_menu"), Some(35));
    assert_eq!(count("main_menu", "support_queue"), Some(10));
    assert_eq!(count("operator", "survey"), Some(10));
    assert_eq!(count("balance", "survey"), Some(5));
    assert_eq!(count("survey", "goodbye"), Some(15));
    assert_eq!(count("voicemail", "goodbye"), Some(10));
    let total: u64 = transitions
        .iter()
        .map(|t| t["count"].as_u64().expect("count"))
        .sum();
    // Every entry is one transition: 45 + 45 + 35 + 30 + 15 (account, lookup, balance) + 15 + 25.
    assert_eq!(total, 210);
    assert_eq!(r["warnings"], json!([]));
}

async fn the_mix_gives_every_figure_exactly(store_url: Option<String>) {
    let (crm, _crm) = start_crm().await;
    let clock = TestClock::at(open_time());
    let server = acme_server(&crm, &clock, store_url.as_deref()).await;
    drive_mix(&server, &clock).await;

    let r = report_json(&server, &["--flow", "acme"]);
    check_mix_report(&r);
    assert_eq!(r["range"]["flow"], "acme");
    // The same calls with no flow named: one flow, so the same figures.
    check_mix_report(&report_json(&server, &[]));

    // The range: the first 20 calls started in the first 20 minutes.
    let r = report_json(
        &server,
        &[
            "--since",
            "2026-11-24T15:00:00Z",
            "--until",
            "2026-11-24T15:20:00Z",
        ],
    );
    assert_eq!(r["calls"], 20);
    assert_eq!(r["outcomes"]["abandoned"], 10);
    assert_eq!(r["outcomes"]["queued"], 10);
    // A date as --until takes in that whole day; the day before has none.
    assert_eq!(
        report_json(&server, &["--until", "2026-11-24"])["calls"],
        45
    );
    assert_eq!(report_json(&server, &["--until", "2026-11-23"])["calls"], 0);
    assert_eq!(report_json(&server, &["--flow", "other"])["calls"], 0);

    // Text for a terminal carries the same headline figures.
    let flows = server.dir.path().join("flows");
    let (code, text, stderr) = run_phonetree(
        &[
            "report",
            "--store",
            &server.store_url,
            "--flows",
            flows.to_str().expect("path"),
            "--prompts",
            repo().join("prompts").to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("calls 45"), "{text}");
    assert!(text.contains("containment 11.1%"), "{text}");
    assert!(text.contains("zero-out 22.2% (10)"), "{text}");
    assert!(text.contains("csat: 4=10 5=5   mean 4.33"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn the_mix_gives_every_figure_exactly_on_sqlite() {
    the_mix_gives_every_figure_exactly(None).await;
}

#[tokio::test]
async fn the_mix_gives_every_figure_exactly_on_postgres() {
    let Some(url) = pg::database().await else {
        return;
    };
    the_mix_gives_every_figure_exactly(Some(url)).await;
}

#[test]
fn a_store_that_cannot_be_opened_is_trouble_not_an_empty_report() {
    let (code, _, stderr) = run_phonetree(
        &[
            "report",
            "--store",
            "postgres://nobody:secret@127.0.0.1:1/none",
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("error: reading"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is not shown: {stderr}"
    );

    // A SQLite file that is not there is not made: the admin named the wrong store.
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("calls.db");
    let url = format!("sqlite://{}", missing.display());
    let (code, _, stderr) = run_phonetree(&["report", "--store", &url], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no database file at"), "{stderr}");
    assert!(!missing.exists(), "no empty database is created");
}
