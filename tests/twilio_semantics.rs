//! What Twilio does that a naive webhook server gets wrong, over real HTTP on
//! 127.0.0.1: error statuses end the call, an empty recording skips the
//! `<Record action>`, hold music may only hold a few verbs, queue results other
//! than "left", the headers of every answer.

mod common;

use common::*;
use phonetree::call::EventKind;

/// Regression: an unknown `/twilio/...` path answered 404, which Twilio turns into
/// "an application error has occurred" and a dropped call.
#[tokio::test]
async fn a_callback_to_an_unknown_path_gets_an_apology_in_the_callers_language_and_on_fail() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let mut call = server.call("CA-unknown-path");
    call.start().await;
    call.press("2").await; // Spanish
    let url = format!("{}/twilio/teleport?flow=acme&node=main_menu", server.base);
    let (status, ctype, body) = call.post_raw(&url, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ctype, "text/xml; charset=utf-8");
    let t = parse_twiml(&body);
    assert!(
        t.said().starts_with("Lo siento, algo salió mal."),
        "the apology is in the caller's language: {}",
        t.said()
    );
    let dial = t.find("Dial").expect("on_fail is the operator transfer");
    assert_eq!(dial.find("Number").unwrap().text, "+14155550100");
    let rows = server.store.events(&call.sid).await.unwrap();
    let fault = rows
        .iter()
        .find(|e| e.kind == EventKind::Fault)
        .expect("fault row");
    assert!(
        fault
            .value_text()
            .as_deref()
            .unwrap()
            .contains("/twilio/teleport")
    );
    // Nested unknown paths and `/twilio/` itself are answered the same way.
    for path in ["/twilio/a/b/c", "/twilio/"] {
        let (status, _, body) = call.post_raw(&format!("{}{path}", server.base), &[]).await;
        assert_eq!(status, 200, "{path}: {body}");
        parse_twiml(&body);
    }
    server.stop().await;
}

/// Regression: Twilio does not call `<Record action>` on an empty recording and goes on to
/// the next verb; with nothing after `<Record>` the silent caller was hung up on.
#[tokio::test]
async fn a_silent_caller_at_the_voicemail_still_reaches_its_next() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let mut call = server.call("CA-empty-recording");
    call.start().await;
    call.press("1").await;
    let t = call.press("3").await;
    assert_eq!(t.verbs().last(), Some(&"Redirect"), "{t:?}");
    let record = t.find("Record").unwrap().attr("action").unwrap().to_owned();
    let redirect = t.find("Redirect").unwrap().text.clone();
    assert_eq!(redirect, record, "the redirect reports to the record URL");
    let t = call.silence().await;
    assert_eq!(t.verbs(), ["Play", "Hangup"], "{t:?}");
    assert!(
        t.find("Play")
            .unwrap()
            .text
            .ends_with("/prompts/en/goodbye.wav")
    );
    let rows = server.store.events(&call.sid).await.unwrap();
    assert!(
        rows.iter()
            .any(|e| e.kind == EventKind::NoInput && e.node.as_deref() == Some("voicemail")),
        "silence at the voicemail: {rows:?}"
    );
    assert!(!rows.iter().any(|e| e.kind == EventKind::Recorded));
    let record = server.store.call(&call.sid).await.unwrap().unwrap();
    assert_ne!(
        record.outcome,
        Some(phonetree::call::Outcome::Voicemail),
        "no message, no voicemail"
    );
    server.stop().await;
}

/// Regression: a hold-music request for a node that is no queue (a stale or vanished node)
/// answered `<Dial>`, which a `waitUrl` answer may not hold.
#[tokio::test]
async fn hold_music_answers_hold_only_verbs() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let mut call = server.call("CA-hold");
    call.start().await;
    call.press("1").await;
    let t = call.press("2").await;
    let enqueue = t.find("Enqueue").expect("queued");
    let wait = enqueue.attr("waitUrl").unwrap().to_owned();
    let (status, _, body) = call.post_raw(&wait, &[]).await;
    assert_eq!(status, 200);
    let hold = parse_twiml(&body);
    assert_eq!(hold.verbs(), ["Play"]);
    let allowed = [
        "Play", "Say", "Pause", "Redirect", "Leave", "Hangup", "Gather",
    ];
    for node in ["operator", "vanished_node", "main_menu"] {
        let url = wait.replace("node=support_queue", &format!("node={node}"));
        let (status, _, body) = call.post_raw(&url, &[]).await;
        assert_eq!(status, 200, "{node}");
        let t = parse_twiml(&body);
        for verb in t.verbs() {
            assert!(
                allowed.contains(&verb),
                "{node}: <{verb}> in a wait answer: {body}"
            );
        }
        assert_eq!(t.verbs(), ["Leave"], "{node}: the caller leaves the queue");
    }
    server.stop().await;
}

/// Regression: `queue-full`, `error` and `system-error` went on as if the caller had left
/// the queue (the acme queue's `next` hangs up): now they go to `on_error`, by default the
/// flow's `on_fail`.
#[tokio::test]
async fn a_queue_that_cannot_take_the_caller_goes_to_on_error() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    for result in ["queue-full", "error", "system-error", "leave", "bridged"] {
        let mut call = server.call(&format!("CA-queue-{result}"));
        call.start().await;
        call.press("1").await;
        let t = call.press("2").await;
        let action = t
            .find("Enqueue")
            .unwrap()
            .attr("action")
            .unwrap()
            .to_owned();
        let (status, _, body) = call.post_raw(&action, &[("QueueResult", result)]).await;
        assert_eq!(status, 200);
        let t = parse_twiml(&body);
        if matches!(result, "leave" | "bridged") {
            assert_eq!(t.verbs(), ["Hangup"], "{result}");
        } else {
            let dial = t.find("Dial").unwrap_or_else(|| panic!("{result}: {body}"));
            assert_eq!(dial.find("Number").unwrap().text, "+14155550100");
        }
        let rows = server.store.events(&call.sid).await.unwrap();
        assert!(
            rows.iter().any(
                |e| e.kind == EventKind::QueueLeft && e.value_text().as_deref() == Some(result)
            ),
            "{result}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn every_answer_says_its_type_charset_and_length() {
    let server = TestServer::acme("127.0.0.1:9", open_time(), None).await;
    let call = server.call("CA-headers");
    let http = reqwest::Client::new();
    let form = call.form_with(&[]);
    for (path, form) in [
        ("/twilio/voice", form.clone()),
        ("/twilio/gather?flow=acme", form.clone()),
        ("/twilio/status", form.clone()),
        ("/twilio/voice", vec![]),
    ] {
        let resp = http
            .post(format!("{}{path}", server.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap();
        assert_eq!(
            headers.get("content-type").unwrap(),
            "text/xml; charset=utf-8",
            "{path}"
        );
        let length: usize = headers
            .get("content-length")
            .unwrap_or_else(|| panic!("{path}: no Content-Length"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len(), "{path}");
    }
    server.stop().await;
}

/// Twilio signs some requests over the URL with the default port and some without; a server
/// behind a TLS proxy must accept both.
#[tokio::test]
async fn a_signature_over_the_url_with_or_without_the_default_port_is_accepted() {
    let public = "https://ivr.example.com";
    let dir = tempfile::tempdir().unwrap();
    let flows = repo().join("flows");
    let server = TestServer::start_at(
        dir,
        flows,
        repo().join("prompts"),
        open_time(),
        Some("tok"),
        Some(public),
    )
    .await;
    let call = server.call("CA-ports");
    let form = call.form_with(&[]);
    let http = reqwest::Client::new();
    let sign = |url: &str| phonetree::server::signature::twilio_signature("tok", url, &form);
    for (signed_over, want) in [
        ("https://ivr.example.com/twilio/voice", 200),
        ("https://ivr.example.com:443/twilio/voice", 200),
        ("https://ivr.example.com:8443/twilio/voice", 403),
        ("http://ivr.example.com/twilio/voice", 403),
    ] {
        let resp = http
            .post(format!("{}/twilio/voice", server.base))
            .header("X-Twilio-Signature", sign(signed_over))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "signed over {signed_over}");
    }
    server.stop().await;
}
