//! A store that fails under a live call, over real HTTP on 127.0.0.1: the caller
//! is never trapped on a menu whose every callback would be stale.

mod common;

use common::*;

async fn metric(server: &TestServer, name: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

/// Regression: when the rows could not be committed the answer was sent anyway and the
/// session was not saved, so every next callback was stale and the caller heard the same
/// menu forever. Now the caller hears the flow's apology and goes to `on_fail`.
#[tokio::test]
async fn a_locked_database_sends_the_caller_to_on_fail_and_the_call_goes_on() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let mut call = server.call("CA-locked");
    call.start().await;
    call.press("1").await; // English, at the main menu

    // Another process holds the write lock for longer than the store waits.
    let db = server.dir.path().join("calls.db");
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let t = call.press("2").await;
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);

    assert!(
        t.said()
            .starts_with("Sorry, something went wrong. Let me connect you"),
        "{}",
        t.said()
    );
    assert!(
        t.find("Enqueue").is_none(),
        "not the queue the key asked for"
    );
    let dial = t.find("Dial").expect("on_fail: the operator");
    assert_eq!(dial.find("Number").unwrap().text, "+14155550100");
    assert_eq!(metric(&server, "phonetree_store_fallbacks_total").await, 1);
    assert!(metric(&server, "phonetree_store_errors_total").await >= 1);

    // The store works again: the operator's result is answered and logged.
    let t = call.dial_result("no-answer").await;
    assert!(
        t.find("Record").is_some(),
        "voicemail after no answer: {t:?}"
    );
    let kinds: Vec<String> = server
        .store
        .events(&call.sid)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    assert!(kinds.contains(&"transfer_result".to_owned()), "{kinds:?}");
    server.stop().await;
}

/// Regression: SQLite keeps writing into a deleted database file, so every answer after a
/// `rm phonetree.db` was acknowledged and lost without a word.
#[tokio::test]
async fn a_deleted_database_fails_healthz_and_sends_callers_to_on_fail() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let health = || async {
        let resp = reqwest::get(format!("{}/healthz", server.base))
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(health().await.0, 200);
    let mut call = server.call("CA-deleted-db");
    call.start().await;
    std::fs::remove_file(server.dir.path().join("calls.db")).unwrap();

    let (status, body) = health().await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "failing");
    assert!(
        body["store_error"]
            .as_str()
            .unwrap()
            .contains("removed or replaced"),
        "{body}"
    );
    let t = call.press("1").await;
    assert!(
        t.said().starts_with("Sorry, something went wrong."),
        "{t:?}"
    );
    assert!(t.find("Dial").is_some(), "{t:?}");
    assert_eq!(metric(&server, "phonetree_store_fallbacks_total").await, 1);
    server.stop().await;
}
