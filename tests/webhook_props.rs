//! Whatever arrives at `/twilio/*` (any path, method, query, body, CallSid or
//! none, stale nodes, garbage bytes), the answer is never a 5xx and always a
//! well-formed TwiML document with a `<Response>` root. Requests go through the
//! real router (`tower::ServiceExt::oneshot`), no socket needed.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::{Method, Request};
use phonetree::server::{AppState, FlowRegistry, ServerOptions, router};
use phonetree::store::open_store;
use proptest::prelude::*;
use tower::ServiceExt;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

static STATE: LazyLock<AppState> = LazyLock::new(|| {
    let registry = FlowRegistry::load(PathBuf::from("flows"), PathBuf::from("prompts"))
        .expect("flows compile");
    let store = open_store("sqlite::memory:").expect("store");
    let now = "2026-11-24T15:00:00Z".parse().expect("time");
    AppState::new(
        Arc::new(registry),
        store,
        ServerOptions {
            public_url: "https://ivr.example.com".into(),
            auth_token: None,
            clock: Arc::new(move || now),
            timeouts: Default::default(),
        },
    )
});

fn answer(method: Method, uri: &str, body: Vec<u8>) -> (u16, String, String) {
    let state = STATE.clone();
    RUNTIME.block_on(async {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let resp = router(state).oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
    })
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "voice", "status", "gather", "silence", "dial", "record", "queue", "hold"
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9%._~-]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "acme",
            "main_menu",
            "language",
            "operator",
            "survey",
            "1",
            "0",
            "*",
            "#",
            "completed",
            "no-answer",
            "",
            "CA1",
            "+14155550199"
        ])
        .prop_map(str::to_owned),
        ".{0,16}",
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "CallSid",
            "From",
            "To",
            "Digits",
            "CallStatus",
            "DialCallStatus",
            "RecordingDuration",
            "QueueResult",
            "flow",
            "v",
            "node",
            "attempt"
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{0,8}",
    ];
    prop::collection::vec((key, value()), 0..8)
}

fn encode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn check(status: u16, ctype: &str, body: &str, what: &str) {
    assert!(status < 500, "{what}: {status}");
    assert_eq!(ctype, "text/xml; charset=utf-8", "{what}: {body}");
    if let Err(e) = common::try_parse_twiml(body) {
        panic!("{what}: not TwiML ({e}): {body}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_form_request_gets_twiml(
        method in prop::sample::select(vec![Method::POST, Method::GET, Method::PUT]),
        seg in segment(),
        query in pairs(),
        form in pairs(),
    ) {
        let uri = format!("/twilio/{seg}?{}", encode(&query));
        let (status, ctype, body) = answer(method.clone(), &uri, encode(&form).into_bytes());
        check(status, &ctype, &body, &format!("{method} {uri} {form:?}"));
    }

    #[test]
    fn raw_bytes_get_twiml(seg in segment(), body in prop::collection::vec(any::<u8>(), 0..300)) {
        let (status, ctype, text) = answer(Method::POST, &format!("/twilio/{seg}"), body);
        check(status, &ctype, &text, &seg);
    }

    #[test]
    fn continuations_of_a_real_call_get_twiml(
        sid in "CA[0-9a-f]{32}",
        steps in prop::collection::vec((segment(), value(), value(), 0u32..5, value()), 1..6),
    ) {
        let start = encode(&[("CallSid".into(), sid.clone()), ("From".into(), "+15551230000".into()), ("To".into(), "+14155550199".into())]);
        let (status, ctype, body) = answer(Method::POST, "/twilio/voice", start.into_bytes());
        check(status, &ctype, &body, "voice");
        for (seg, node, digits, attempt, status_value) in steps {
            let query = encode(&[("flow".into(), "acme".into()), ("node".into(), node), ("attempt".into(), attempt.to_string())]);
            let form = encode(&[
                ("CallSid".into(), sid.clone()),
                ("Digits".into(), digits),
                ("DialCallStatus".into(), status_value.clone()),
                ("CallStatus".into(), status_value),
            ]);
            let uri = format!("/twilio/{seg}?{query}");
            let (status, ctype, body) = answer(Method::POST, &uri, form.into_bytes());
            check(status, &ctype, &body, &uri);
            // A request of a real call is never answered with an error status.
            prop_assert_eq!(status, 200, "{}: {}", uri, body);
        }
    }
}
