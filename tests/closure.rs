//! The closure switch across two servers sharing one store: `phonetree close` sends new
//! calls on both down the `hours` branch's closed way with the admin's message, `/healthz`
//! and the report show it, and `phonetree open` undoes it. Runs on PostgreSQL when its
//! server binaries are here, and on one SQLite file shared by both servers.

#[path = "common/bin.rs"]
mod bin;
mod common;

use std::time::{Duration, Instant};

use bin::{run_phonetree, run_phonetree_on};
use common::*;

const STORM: [(&str, &str); 4] = [
    ("en", "Our office is closed for the storm."),
    ("es", "Nuestra oficina está cerrada por la tormenta."),
    ("fa", "دفتر ما به دلیل طوفان بسته است."),
    ("ko", "폭풍으로 사무실이 문을 닫았습니다."),
];

/// The Acme project with a closed message the switch may play.
fn project(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let flows = dir.join("flows");
    let prompts = dir.join("prompts");
    std::fs::create_dir_all(&flows).expect("mkdir");
    let acme = std::fs::read_to_string(repo().join("flows/acme.yaml")).expect("acme");
    let acme = acme.replace(
        "apology: sorry_error,",
        "apology: sorry_error, closed_messages: [storm_closed],",
    );
    std::fs::write(flows.join("acme.yaml"), acme).expect("write");
    copy_dir(&repo().join("prompts"), &prompts);
    for (lang, text) in STORM {
        let path = prompts.join(format!("{lang}.yaml"));
        let mut catalog = std::fs::read_to_string(&path).expect("catalog");
        catalog.push_str(&format!("storm_closed: \"{text}\"\n"));
        std::fs::write(&path, catalog).expect("write");
    }
    (flows, prompts)
}

fn cli(args: &[&str], flows: &std::path::Path, prompts: &std::path::Path) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    let (f, p) = (flows.display().to_string(), prompts.display().to_string());
    if matches!(args.first(), Some(&"close")) {
        all.extend_from_slice(&["--flows", &f, "--prompts", &p]);
    }
    run_phonetree(&all, None)
}

/// Places calls on `server` until one hears `text` first (or gives up after 10 s); that
/// call's label and first answer.
async fn first_words_become(server: &TestServer, label: &str, text: &str) -> (String, Element) {
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let this = format!("{label} {n}");
        let mut call = server.call(&this);
        let t = call.start().await;
        call.status("completed").await;
        if t.said().contains(text) {
            return (this, t);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{label}: callers still hear {}",
            t.said()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn healthz(server: &TestServer) -> serde_json::Value {
    reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json")
}

async fn two_servers_see_one_switch(store_url: &str, dir: tempfile::TempDir) {
    let (flows, prompts) = project(dir.path());
    let a = TestServer::start_with_store(
        tempfile::tempdir().expect("tempdir"),
        flows.clone(),
        prompts.clone(),
        open_time(),
        None,
        None,
        Some(store_url),
    )
    .await;
    let b = TestServer::start_with_store(
        tempfile::tempdir().expect("tempdir"),
        flows.clone(),
        prompts.clone(),
        open_time(),
        None,
        None,
        Some(store_url),
    )
    .await;
    for server in [&a, &b] {
        let t = server.call("before").start().await;
        assert!(t.said().contains("For English, press 1."), "{}", t.said());
    }

    // Wrong flows and messages are refused with a hint, and nothing is closed.
    let (code, _, err) = cli(
        &["close", "acmee", "--until", "2h", "--store", store_url],
        &flows,
        &prompts,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean `acme`"), "{err}");
    let (code, _, err) = cli(
        &[
            "close",
            "acme",
            "--until",
            "2h",
            "--message",
            "storm",
            "--store",
            store_url,
        ],
        &flows,
        &prompts,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("storm_closed"), "{err}");

    let (code, out, err) = cli(
        &[
            "close",
            "acme",
            "--until",
            "2h",
            "--message",
            "storm_closed",
            "--store",
            store_url,
        ],
        &flows,
        &prompts,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("closed acme until "), "{out}");

    // Both servers send new calls the closed way, after the message, within a second or so.
    let mut closed_calls = Vec::new();
    for (label, server) in [("a closed", &a), ("b closed", &b)] {
        let (call, t) = first_words_become(server, label, "closed for the storm").await;
        closed_calls.push(call);
        let says = t.says();
        assert_eq!(says[0], STORM[0].1, "the message comes first: {says:?}");
        assert!(
            t.find("Record").is_some(),
            "then after-hours voicemail: {t:?}"
        );
        let health = healthz(server).await;
        assert_eq!(health["closed"][0]["flow"], "acme", "{health}");
        assert_eq!(health["closed"][0]["message"], "storm_closed", "{health}");
    }
    let events = a
        .store
        .events(&sid(&closed_calls[0]))
        .await
        .expect("events");
    let branch = events
        .iter()
        .find(|e| e.node.as_deref() == Some("check_hours"))
        .and_then(|e| e.value_text());
    assert_eq!(branch.as_deref(), Some("closed by switch"));

    // The report says so too.
    let (code, json, err) = run_phonetree_on(
        &["report", "--store", store_url, "--format", "json"],
        &flows,
        &prompts,
    );
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["closed"][0]["flow"], "acme", "{json}");

    let (code, out, err) = cli(&["open", "acme", "--store", store_url], &flows, &prompts);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "opened acme");
    for (label, server) in [("a open", &a), ("b open", &b)] {
        first_words_become(server, label, "For English, press 1.").await;
        assert_eq!(healthz(server).await["closed"], serde_json::json!([]));
    }
    let (_, out, _) = cli(&["open", "acme", "--store", store_url], &flows, &prompts);
    assert_eq!(out.trim(), "acme was not closed");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_switch_reaches_every_server_on_postgres() {
    let Some(url) = pg::database().await else {
        return;
    };
    two_servers_see_one_switch(&url, tempfile::tempdir().expect("tempdir")).await;
}

#[tokio::test]
async fn the_switch_reaches_every_server_on_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    two_servers_see_one_switch(&url, dir).await;
}
