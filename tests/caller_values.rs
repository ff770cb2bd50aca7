//! Values a caller (or whoever fakes one) controls, over real HTTP on 127.0.0.1:
//! they must not steer a lookup, forge a log line, or leave a card number in the
//! store.

mod common;

use std::sync::{Arc, Mutex};

use common::*;

/// A CRM stand-in that records every request target and answers `answer` as JSON.
async fn recording_crm(answer: serde_json::Value) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        let answer = answer.clone();
        async move {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            log.lock().unwrap().push(target);
            axum::Json(answer)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

fn project(
    flow: &str,
    catalog: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("en.yaml"), catalog).unwrap();
    std::fs::write(flows.join("f.yaml"), flow).unwrap();
    (dir, flows, prompts)
}

/// Regression: `From=../../admin?evil=1#` turned `/accounts/{caller}` into `GET /admin?evil=1`.
#[tokio::test]
async fn a_callers_number_cannot_rewrite_the_lookup_url() {
    let (crm, seen) = recording_crm(serde_json::json!({"name": "Ann"})).await;
    let flow = format!(
        "default: true\nlanguages: [en]\nstart: who\nnodes:\n  who:\n    lookup: {{ url: \"http://{crm}/accounts/{{caller}}?from={{caller}}\", store: c, next: hi, on_error: sorry }}\n  hi:\n    hangup: {{ prompt: [{{ say: \"Hello {{c.name}}.\" }}] }}\n  sorry:\n    hangup: {{ prompt: [{{ say: \"Sorry.\" }}] }}\n"
    );
    let (dir, flows, prompts) = project(&flow, "x: X\n");
    let server = TestServer::start(dir, flows, prompts, open_time(), None).await;
    let mut call = server.call("CA-odd-number");
    call.from = "+1 555?evil=1&x#".into();
    let t = call.start().await;
    assert_eq!(t.said(), "Hello Ann.");
    for from in ["../../admin?evil=1#", "..", "a/b"] {
        let mut call = server.call(&format!("CA-path-{from}"));
        call.from = from.into();
        let t = call.start().await;
        assert_eq!(t.said(), "Sorry.", "{from}: refused, not sent");
        let rows = server.store.events(&call.sid).await.unwrap();
        assert!(
            rows.iter()
                .any(|e| e.kind == phonetree::call::EventKind::LookupError)
        );
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["/accounts/%2B1%20555%3Fevil%3D1%26x%23?from=%2B1%20555%3Fevil%3D1%26x%23"]
    );
    server.stop().await;
}

/// A call start sent again (a retry after a restart, or to another server) reaches a server
/// that knows the call only from its file: it answers the first answer, and the CRM the
/// flow asks at the start is asked once, not once per copy.
#[tokio::test]
async fn a_call_start_sent_again_to_another_server_asks_the_crm_once() {
    let (crm, seen) = recording_crm(serde_json::json!({"name": "Ann"})).await;
    let flow = format!(
        "default: true\nlanguages: [en]\nstart: who\nnodes:\n  who:\n    lookup: {{ url: \"http://{crm}/accounts/{{caller}}\", store: c, next: hi, on_error: hi }}\n  hi:\n    menu: {{ prompt: [{{ say: \"Hello {{c.name}}. Press 1.\" }}], options: {{ \"1\": bye }} }}\n  bye:\n    hangup: {{ prompt: [{{ say: \"Bye.\" }}] }}\n"
    );
    let (dir, flows, prompts) = project(&flow, "x: X\n");
    let first = TestServer::start(dir, flows.clone(), prompts.clone(), open_time(), None).await;
    let call = first.call("CA-again");
    let (status, _, answer) = call
        .post_raw(&format!("{}/twilio/voice", first.base), &[])
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(parse_twiml(&answer).said(), "Hello Ann. Press 1.");
    // A second server on the same file holds nothing of the call in memory.
    let second = TestServer::start_with_store(
        tempfile::tempdir().unwrap(),
        flows,
        prompts,
        open_time(),
        None,
        None,
        Some(&first.store_url),
    )
    .await;
    let (status, _, again) = call
        .post_raw(&format!("{}/twilio/voice", second.base), &[])
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, answer, "the copy gets the first answer");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the CRM was asked again for a copy"
    );
    second.stop().await;
    first.stop().await;
}

/// Regression: a lookup answer that echoed the card number was stored in clear in
/// `sessions.state`. The rule: a sensitive value is spoken only in the answer to the
/// webhook that took it; the store, a retried delivery and every later step see it masked.
#[tokio::test]
async fn a_lookup_that_echoes_a_card_number_does_not_store_it_and_a_retry_hears_it_masked() {
    let (crm, _) =
        recording_crm(serde_json::json!({"card": "4111111111111111", "status": "ok"})).await;
    let flow = format!(
        "default: true\nlanguages: [en]\nstart: card\nnodes:\n  card:\n    input: {{ prompt: card, store: pan, min_digits: 13, max_digits: 19, validate: luhn, next: pay }}\n  pay:\n    lookup: {{ url: \"http://{crm}/pay\", method: post, store: payment, next: confirm, on_error: confirm }}\n  confirm:\n    menu: {{ prompt: [{{ say: \"Card {{payment.card|digits}} is {{payment.status}}. Press 1.\" }}], options: {{ \"1\": done }} }}\n  done:\n    hangup: {{ prompt: [{{ say: \"Bye.\" }}] }}\n"
    );
    let (dir, flows, prompts) = project(&flow, "card: Enter your card number.\n");
    let server = TestServer::start(dir, flows, prompts, open_time(), None).await;
    let mut call = server.call("CA-echo");
    call.start().await;
    let action = call.gather_action();
    let t = call.press("4111111111111111#").await;
    assert!(
        t.said()
            .contains("Card 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 is ok."),
        "the webhook that took the card reads it back: {}",
        t.said()
    );
    // The provider delivers the same request again: the stored answer, masked.
    let (status, _, body) = call
        .post_raw(&action, &[("Digits", "4111111111111111#")])
        .await;
    assert_eq!(status, 200);
    let retry = parse_twiml(&body);
    assert!(retry.said().contains("Card * * * *"), "{}", retry.said());
    // A wrong key at the confirm menu repeats the prompt: masked too, in the server as in
    // `simulate` (tests/tools.rs).
    let t = call.press("9").await;
    assert!(!t.said().contains("4 1 1 1"), "{}", t.said());
    let conn = rusqlite::Connection::open(server.dir.path().join("calls.db")).unwrap();
    for (table, column) in [
        ("call_events", "value"),
        ("sessions", "state"),
        ("webhook_replies", "twiml"),
        // Every session and answer the SQLite store kept, not only the newest.
        ("webhook_log", "session"),
        ("webhook_log", "reply"),
    ] {
        let hits: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE {column} LIKE '%4111111111111111%' OR {column} LIKE '%4 1 1 1 1 1%'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hits, 0, "{table}.{column} holds the card number in clear");
    }
    server.stop().await;
}

/// Regression: a node name (or any request value) with a newline forged a log line.
#[test]
fn request_values_cannot_forge_a_log_line() {
    use std::io::Read;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("calls.db").display());
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(["serve", "--listen", &listen, "--store", &db])
        .args(["--flows", &repo().join("flows").display().to_string()])
        .args(["--prompts", &repo().join("prompts").display().to_string()])
        .env_remove("TWILIO_AUTH_TOKEN")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let base = format!("http://{listen}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let form = [
            ("CallSid", sid("CA-forge")),
            (
                "From",
                "+15551230000\n2026-12-01T00:00:00.000000Z ERROR forged from".into(),
            ),
            (
                "To",
                "+19999999999\n2026-12-01T00:00:00.000000Z ERROR forged to".into(),
            ),
        ];
        let r = http
            .post(format!("{base}/twilio/voice"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let forged_node = "main_menu\n2026-12-01T00:00:00.000000Z ERROR forged node\u{1b}[2J";
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("flow", "acme")
            .append_pair("v", "x")
            .append_pair("node", forged_node)
            .append_pair("attempt", "1")
            .append_pair("s", "1")
            .finish();
        let r = http
            .post(format!("{base}/twilio/gather?{query}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let _ = child.kill();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    assert!(
        log.contains("forged node"),
        "the stale callback is logged:\n{log}"
    );
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-12-01T00:00:00.000000Z"),
            "forged line:\n{log}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "escape sequence reached the log:\n{log}"
        );
    }
}
