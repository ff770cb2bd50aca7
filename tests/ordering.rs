//! The store orders each call's webhooks, over real HTTP on 127.0.0.1: copies
//! of one request delivered at once, and different webhooks of one call racing,
//! with no lock in the server process to serialise them.

mod common;

use common::*;

/// The provider delivers the same key press many times at once: every copy gets the same
/// answer and the call log has one set of rows for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_of_one_webhook_at_once_get_one_answer_and_one_set_of_rows() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let mut call = server.call("CA-copies");
    call.start().await;
    call.press("1").await; // English, at the main menu
    let before = server.store.events(&call.sid).await.unwrap().len();
    let url = call.gather_action();
    let copies: Vec<_> = (0..12)
        .map(|_| {
            let call = server.call("CA-copies");
            let url = url.clone();
            tokio::spawn(async move { call.post_raw(&url, &[("Digits", "2")]).await })
        })
        .collect();
    let mut answers = Vec::new();
    for c in copies {
        let (status, _, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "copies answered differently: {answers:#?}"
    );
    assert!(parse_twiml(&answers[0]).find("Enqueue").is_some());
    let rows = server.store.events(&call.sid).await.unwrap();
    let seqs: Vec<u32> = rows.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    let keys = rows
        .iter()
        .filter(|e| {
            e.kind == phonetree::call::EventKind::Key && e.node.as_deref() == Some("main_menu")
        })
        .count();
    assert_eq!(keys, 1, "one key row for twelve copies");
    assert_eq!(
        rows.len(),
        before + 3,
        "key, entered, queued rows once: {rows:?}"
    );
    server.stop().await;
}

/// A key press and the status callback of a caller who hangs up race: both are answered,
/// both are logged, in one order, with no gap or clash in the sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_press_racing_the_hang_up_keeps_one_order() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    for n in 0..10 {
        let label = format!("CA-race-{n}");
        let mut call = server.call(&label);
        call.start().await;
        call.press("1").await;
        let url = call.gather_action();
        let press = {
            let call = server.call(&label);
            tokio::spawn(async move { call.post_raw(&url, &[("Digits", "3")]).await })
        };
        let hang_up = {
            let call = server.call(&label);
            let status = format!("{}/twilio/status", server.base);
            tokio::spawn(
                async move { call.post_raw(&status, &[("CallStatus", "completed")]).await },
            )
        };
        assert_eq!(press.await.unwrap().0, 200);
        assert_eq!(hang_up.await.unwrap().0, 200);
        let rows = server.store.events(&call.sid).await.unwrap();
        let seqs: Vec<u32> = rows.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u32).collect::<Vec<_>>(),
            "{rows:?}"
        );
        let kinds: Vec<&str> = rows.iter().map(|e| e.kind.as_str()).collect();
        assert!(kinds.contains(&"call_ended"), "{kinds:?}");
        let record = server.store.call(&call.sid).await.unwrap().unwrap();
        assert!(record.ended_at.is_some());
    }
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let conflicts = metrics
        .lines()
        .find(|l| l.starts_with("phonetree_commit_conflicts_total "))
        .unwrap_or_default();
    eprintln!("10 races of a key press and a hang-up: {conflicts}");
    server.stop().await;
}

/// The caller hangs up while their key press waits on a slow lookup: the hang-up commits
/// first, the key press finds the call moved on, steps again on the ended call, and the log
/// keeps one order. (With a lock held across the lookup, the hang-up would have waited.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hang_up_during_a_slow_lookup_wins_and_the_lookup_steps_again() {
    let (crm, _crm) = start_crm().await;
    let server = TestServer::acme(&crm, open_time(), None).await;
    let mut call = server.call("CA-slow-lookup");
    call.start().await;
    call.press("1").await;
    call.press("1").await; // account number
    let url = call.gather_action();
    let press = {
        let call = server.call("CA-slow-lookup");
        tokio::spawn(async move { call.post_raw(&url, &[("Digits", "999999#")]).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, _, _) = call
        .post_raw(
            &format!("{}/twilio/status", server.base),
            &[("CallStatus", "completed")],
        )
        .await;
    assert_eq!(status, 200);
    let record = server.store.call(&call.sid).await.unwrap().unwrap();
    assert!(
        record.ended_at.is_some(),
        "the hang-up did not wait for the lookup"
    );
    let (status, _, body) = press.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(parse_twiml(&body).verbs(), ["Hangup"], "{body}");
    let rows = server.store.events(&call.sid).await.unwrap();
    let seqs: Vec<u32> = rows.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u32).collect::<Vec<_>>(),
        "{rows:?}"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("phonetree_commit_conflicts_total 1"),
        "{metrics}"
    );
    server.stop().await;
}
