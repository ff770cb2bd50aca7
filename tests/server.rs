//! Whole calls over real HTTP on 127.0.0.1, the way Twilio walks them: follow
//! `<Gather action>`, `<Redirect>`, `<Dial action>` and `<Record action>` URLs
//! with Twilio's form fields, then check the rows of each call. Each walk runs once on
//! SQLite and once on PostgreSQL (`NAME::sqlite`, `NAME::postgres`); the latter says
//! SKIPPED and passes on a machine without PostgreSQL server binaries.

mod common;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use common::*;
use phonetree::call::{EventKind, Outcome};

/// The store a walk's server keeps its calls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    /// A SQLite file in the server's temp dir.
    Sqlite,
    /// A fresh database on this test binary's PostgreSQL server.
    Postgres,
}

/// Runs each walk once per store, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Db::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Db::Postgres).await
            }
        }
    )*};
}

on_each_store!(
    spanish_caller_keeps_spanish_through_lookup_balance_and_survey,
    invalid_key_then_silence_then_on_fail,
    star_repeats_the_menu_and_zero_reaches_the_operator,
    transfer_no_answer_goes_to_voicemail_then_goodbye,
    lookup_timeout_goes_to_on_error_within_the_limit,
    closed_hours_go_to_after_hours_voicemail,
    caller_hang_up_closes_the_record_at_the_node_they_were_in,
    a_retried_webhook_gets_the_same_answer_and_one_set_of_rows,
    persian_and_korean_text_reach_twiml_intact,
    a_persian_caller_hears_the_account_number_from_digit_recordings,
    signed_requests_pass_and_unsigned_ones_are_refused_with_twiml,
    bad_input_gets_a_defined_twiml_answer,
    a_reload_keeps_calls_on_their_version_and_a_broken_edit_keeps_the_last_good_one,
    sensitive_input_never_reaches_the_store_in_clear,
    a_status_callback_before_the_last_action_result_keeps_the_result,
    stale_callbacks_and_a_second_voice_webhook_do_not_move_the_call,
    metrics_count_webhooks_calls_and_rejections,
    the_same_key_on_a_second_visit_is_a_new_request,
    a_stale_callback_during_a_transfer_leaves_the_call_alone,
    a_lost_session_is_rebuilt_and_the_log_continues,
);

/// The store URL for a walk on `db`: `Some(None)` for the server's own SQLite file, `None`
/// (after a SKIPPED line) when PostgreSQL is wanted and not here.
async fn store_url(db: Db) -> Option<Option<String>> {
    match db {
        Db::Sqlite => Some(None),
        Db::Postgres => pg::database().await.map(Some),
    }
}

/// [`TestServer::acme`] on `db`.
async fn acme(
    crm: &str,
    now: DateTime<Utc>,
    auth_token: Option<&str>,
    db: Db,
) -> Option<TestServer> {
    let url = store_url(db).await?;
    Some(TestServer::acme_on(crm, now, auth_token, url.as_deref()).await)
}

/// [`TestServer::start`] on `db`.
async fn start(
    dir: tempfile::TempDir,
    flows: PathBuf,
    prompts: PathBuf,
    now: DateTime<Utc>,
    db: Db,
) -> Option<TestServer> {
    let url = store_url(db).await?;
    Some(TestServer::start_with_store(dir, flows, prompts, now, None, None, url.as_deref()).await)
}

/// Runs SQL statements on the server's database behind the store's back.
async fn execute(server: &TestServer, sql: &str) {
    match server.store_url.strip_prefix("sqlite://") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        None => pg::execute(&server.store_url, sql).await,
    }
}

/// The one integer a query of the server's database answers.
async fn number(server: &TestServer, sql: &str) -> i64 {
    match server.store_url.strip_prefix("sqlite://") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap(),
        None => pg::query(&server.store_url, sql).await[0].get(0),
    }
}

/// The first (text) column of each row a query of the server's database answers.
async fn texts(server: &TestServer, sql: &str) -> Vec<String> {
    match server.store_url.strip_prefix("sqlite://") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect(),
        None => pg::query(&server.store_url, sql)
            .await
            .iter()
            .map(|row| row.get(0))
            .collect(),
    }
}

/// (kind, node, value) of every logged event of a call, in order.
async fn rows(server: &TestServer, sid: &str) -> Vec<(String, String, String)> {
    server
        .store
        .events(sid)
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            let value = e.value_text().unwrap_or_default();
            (
                e.kind.as_str().to_owned(),
                e.node.unwrap_or_default(),
                value,
            )
        })
        .collect()
}

fn kinds(rows: &[(String, String, String)]) -> Vec<String> {
    rows.iter().map(|(k, n, _)| format!("{k}@{n}")).collect()
}

async fn spanish_caller_keeps_spanish_through_lookup_balance_and_survey(db: Db) {
    let (crm, _crm) = start_crm().await;
    let Some(server) = acme(&crm, open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-spanish");

    let t = call.start().await;
    assert!(t.said().contains("For English, press 1."), "{}", t.said());
    assert!(t.said().contains("Para español, oprima 2."));
    let says = t.find_all("Say");
    assert_eq!(
        says[1].attr("language"),
        Some("es-MX"),
        "each option is spoken in its own language"
    );
    assert_eq!(says[1].attr("voice"), Some("Polly.Mia"));
    // No voice speaks Persian: its option is a recording, between the Spanish and Korean ones.
    let heard: Vec<&str> = t
        .find("Gather")
        .expect("gather")
        .children
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(heard, ["Say", "Say", "Play", "Say"]);
    assert!(
        t.find("Play")
            .is_some_and(|p| p.text.ends_with("/prompts/fa/press_3_persian.wav"))
    );
    assert_eq!(says[2].attr("language"), Some("ko-KR"));
    assert_eq!(says[2].attr("voice"), Some("Polly.Seoyeon"));

    let t = call.press("2").await;
    assert!(
        t.said().contains("Para el saldo de su cuenta"),
        "{}",
        t.said()
    );
    assert_eq!(
        t.find("Say").and_then(|s| s.attr("language")),
        Some("es-MX")
    );
    assert_eq!(
        t.find("Say").and_then(|s| s.attr("voice")),
        Some("Polly.Mia")
    );

    let t = call.press("1").await;
    assert!(
        t.said().contains("número de cuenta de seis dígitos"),
        "{}",
        t.said()
    );
    let g = t.find("Gather").expect("gather");
    assert_eq!(g.attr("numDigits"), Some("6"));
    assert_eq!(g.attr("finishOnKey"), Some("#"));

    let t = call.press("123456#").await;
    assert!(
        t.said()
            .contains("El saldo de la cuenta 1 2 3 4 5 6 es de 42.50 dólares."),
        "{}",
        t.said()
    );
    let survey = t.find("Gather").expect("the survey waits for a key");
    assert!(
        survey.said().starts_with("El saldo de la cuenta"),
        "the balance plays inside the survey's Gather, so a caller can answer at once: {:?}",
        t.verbs()
    );
    assert!(
        t.said().contains("qué tan satisfecho"),
        "survey in Spanish: {}",
        t.said()
    );

    let t = call.press("5").await;
    assert!(
        t.said().contains("Gracias por llamar a Acme"),
        "{}",
        t.said()
    );
    assert_eq!(t.verbs().last(), Some(&"Hangup"));

    call.status("completed").await;
    let rows = rows(&server, &sid("CA-spanish")).await;
    assert_eq!(
        kinds(&rows),
        [
            "call_started@",
            "entered@check_hours",
            "entered@language",
            "key@language",
            "set@language",
            "entered@main_menu",
            "key@main_menu",
            "entered@account",
            "input@account",
            "answer@account",
            "entered@lookup_account",
            "lookup_ok@lookup_account",
            "entered@balance",
            "entered@survey",
            "key@survey",
            "answer@survey",
            "entered@goodbye",
            "flow_hangup@goodbye",
            "call_ended@goodbye",
        ]
    );
    assert_eq!(rows[4].2, "language=es");
    assert_eq!(rows[8].2, "123456");
    let record = server
        .store
        .call(&sid("CA-spanish"))
        .await
        .expect("call")
        .expect("row");
    assert_eq!(record.language, "es");
    assert_eq!(record.outcome, Some(Outcome::SelfService));
    assert!(record.ended_at.is_some());
    let session = server
        .store
        .session(&sid("CA-spanish"))
        .await
        .expect("session")
        .expect("row");
    assert_eq!(
        session.vars.get("csat").and_then(|v| v.as_str()),
        Some("5"),
        "survey answer stored"
    );
    server.stop().await;
}

async fn invalid_key_then_silence_then_on_fail(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-fail");
    call.start().await;
    call.press("1").await;

    let t = call.press("9").await;
    let gather = t.find("Gather").expect("asked again");
    assert!(
        gather
            .said()
            .starts_with("Sorry, that is not one of the options."),
        "{}",
        gather.said()
    );
    assert!(gather.said().contains("For your account balance"));
    assert!(gather.attr("action").unwrap().contains("attempt=2"));

    let t = call.silence().await;
    assert!(
        t.said().starts_with("Sorry, I did not hear a choice."),
        "{}",
        t.said()
    );
    assert!(
        t.find("Gather")
            .unwrap()
            .attr("action")
            .unwrap()
            .contains("attempt=3")
    );

    let t = call.silence().await;
    let dial = t.find("Dial").expect("on_fail is the operator");
    assert_eq!(
        dial.find("Number").map(|n| n.text.as_str()),
        Some("+14155550100")
    );
    assert_eq!(dial.attr("timeout"), Some("20"));

    let rows = rows(&server, &sid("CA-fail")).await;
    let tail: Vec<String> = kinds(&rows).into_iter().skip(5).collect();
    assert_eq!(
        tail,
        [
            "entered@main_menu",
            "invalid@main_menu",
            "no_input@main_menu",
            "no_input@main_menu",
            "retries_exhausted@main_menu",
            "entered@operator",
            "transfer_started@operator",
        ]
    );
    let attempts: Vec<u32> = server
        .store
        .events(&sid("CA-fail"))
        .await
        .unwrap()
        .iter()
        .skip(6)
        .take(3)
        .map(|e| e.attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    server.stop().await;
}

async fn star_repeats_the_menu_and_zero_reaches_the_operator(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-repeat");
    call.start().await;
    let first = call.press("1").await;
    let again = call.press("*").await;
    assert_eq!(first.said(), again.said(), "repeat plays the same menu");
    let t = call.press("0").await;
    assert_eq!(
        t.find("Dial")
            .and_then(|d| d.find("Number"))
            .map(|n| n.text.clone()),
        Some("+14155550100".into())
    );
    let k = kinds(&rows(&server, &sid("CA-repeat")).await);
    assert_eq!(k.iter().filter(|k| *k == "entered@main_menu").count(), 2);
    assert!(k.contains(&"key@main_menu".to_owned()));
    server.stop().await;
}

async fn transfer_no_answer_goes_to_voicemail_then_goodbye(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-voicemail");
    call.start().await;
    call.press("1").await;
    call.press("0").await;
    let t = call.dial_result("no-answer").await;
    assert!(t.said().contains("Please leave your name"), "{}", t.said());
    let rec = t.find("Record").expect("record");
    assert_eq!(rec.attr("maxLength"), Some("120"));
    assert_eq!(rec.attr("finishOnKey"), Some("#"));
    let t = call.recorded(17).await;
    let play = t.find("Play").expect("the English goodbye is a recording");
    assert_eq!(play.text, format!("{}/prompts/en/goodbye.wav", server.base));
    assert_eq!(t.verbs(), ["Play", "Hangup"]);

    // The recording the TwiML points at is served.
    let wav = reqwest::get(&play.text).await.expect("get wav");
    assert_eq!(wav.status(), 200);
    assert!(wav.bytes().await.unwrap().starts_with(b"RIFF"));

    call.status("completed").await;
    let rows = rows(&server, &sid("CA-voicemail")).await;
    let mine: Vec<String> = kinds(&rows).into_iter().skip(9).collect();
    assert_eq!(
        mine,
        [
            "transfer_result@operator",
            "entered@voicemail",
            "recorded@voicemail",
            "entered@goodbye",
            "flow_hangup@goodbye",
            "call_ended@goodbye"
        ]
    );
    assert_eq!(rows[9].2, "no-answer");
    assert_eq!(
        rows[11].2,
        r#"{"seconds":17,"url":"https://api.twilio.com/recordings/RE1"}"#
    );
    let record = server
        .store
        .call(&sid("CA-voicemail"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Voicemail));
    server.stop().await;
}

async fn lookup_timeout_goes_to_on_error_within_the_limit(db: Db) {
    let (crm, _crm) = start_crm().await;
    let Some(server) = acme(&crm, open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-timeout");
    call.start().await;
    call.press("1").await;
    call.press("1").await;
    // The stand-in CRM answers this account only after 4 s, a good answer the 2 s timeout must not wait for.
    let t = call.press("999999#").await;
    assert!(
        t.find("Dial").is_some(),
        "on_error is the operator: {:?}",
        t.verbs()
    );
    let rows = rows(&server, &sid("CA-timeout")).await;
    assert!(
        rows.contains(&(
            "lookup_error".into(),
            "lookup_account".into(),
            "timeout".into()
        )),
        "{rows:?}"
    );
    server.stop().await;
}

async fn closed_hours_go_to_after_hours_voicemail(db: Db) {
    let Some(server) = acme("127.0.0.1:9", closed_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-closed");
    let t = call.start().await;
    assert!(
        t.said().contains("Acme support is closed right now"),
        "{}",
        t.said()
    );
    assert!(t.find("Record").is_some());
    assert!(t.find("Gather").is_none());
    let rows = rows(&server, &sid("CA-closed")).await;
    assert_eq!(
        rows[1],
        ("entered".into(), "check_hours".into(), "closed".into())
    );
    server.stop().await;
}

async fn caller_hang_up_closes_the_record_at_the_node_they_were_in(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-abandon");
    call.start().await;
    call.press("3").await; // Persian
    let t = call.status("completed").await;
    assert!(
        t.children.is_empty(),
        "status callbacks get an empty <Response/>"
    );
    let rows = rows(&server, &sid("CA-abandon")).await;
    let last_two: Vec<_> = rows.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        last_two,
        [
            ("caller_hangup".into(), "main_menu".into(), String::new()),
            ("call_ended".into(), "main_menu".into(), "abandoned".into())
        ]
    );
    let record = server
        .store
        .call(&sid("CA-abandon"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Abandoned));
    assert_eq!(record.last_node.as_deref(), Some("main_menu"));
    assert_eq!(record.language, "fa");
    assert!(record.ended_at.is_some());
    // A second delivery of the same callback changes nothing.
    call.status("completed").await;
    assert_eq!(
        rows.len(),
        self::rows(&server, &sid("CA-abandon")).await.len()
    );
    server.stop().await;
}

async fn a_retried_webhook_gets_the_same_answer_and_one_set_of_rows(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-retry");
    call.start().await;
    let url = call.gather_action();
    let (_, _, first) = call.post_raw(&url, &[("Digits", "1")]).await;
    let count = rows(&server, &sid("CA-retry")).await.len();
    let (_, _, second) = call.post_raw(&url, &[("Digits", "1")]).await;
    assert_eq!(first, second);
    assert_eq!(count, rows(&server, &sid("CA-retry")).await.len());
    server.stop().await;
}

async fn persian_and_korean_text_reach_twiml_intact(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-fa");
    call.start().await;
    let t = call.press("3").await;
    // Persian is recorded: nothing goes to a voice that cannot speak it.
    assert!(t.says().is_empty(), "{}", t.said());
    assert!(
        t.find("Play")
            .is_some_and(|p| p.text.ends_with("/prompts/fa/main_menu.wav")),
        "{:?}",
        t.verbs()
    );
    let mut call = server.call("CA-ko");
    call.start().await;
    let t = call.press("4").await;
    assert!(t.said().contains("계좌 잔액은 1번"), "{}", t.said());
    assert_eq!(
        t.find("Say").and_then(|s| s.attr("language")),
        Some("ko-KR")
    );
    server.stop().await;
}

/// A Persian caller's account number is read back from `prompts/fa/digits/*.wav`, digit by
/// digit in the order entered, and the balance composed from `prompts/fa/numbers/`; every
/// URL is absolute under `--public-url` and served.
async fn a_persian_caller_hears_the_account_number_from_digit_recordings(db: Db) {
    let (crm, _crm) = start_crm().await;
    let Some(server) = acme(&crm, open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-fa-digits");
    call.start().await;
    call.press("3").await;
    let t = call.press("1").await;
    assert!(
        t.find("Play")
            .is_some_and(|p| p.text.ends_with("/prompts/fa/enter_account.wav")),
        "{:?}",
        t.verbs()
    );
    let t = call.press("123456#").await;
    assert!(
        t.says().is_empty(),
        "nothing spoken by a voice: {}",
        t.said()
    );
    let plays: Vec<String> = t.find_all("Play").iter().map(|p| p.text.clone()).collect();
    let base = format!("{}/prompts/fa/", server.base);
    let heard: Vec<&str> = plays
        .iter()
        .map(|url| {
            url.strip_prefix(&base)
                .unwrap_or_else(|| panic!("{url} under {base}"))
        })
        .collect();
    assert_eq!(
        heard,
        [
            "balance_of_account.wav",
            "digits/1.wav",
            "digits/2.wav",
            "digits/3.wav",
            "digits/4.wav",
            "digits/5.wav",
            "digits/6.wav",
            "equals.wav",
            // چهل و دو دلار و پنجاه سنت: 42.50 as Persian says it.
            "numbers/40.wav",
            "numbers/and.wav",
            "numbers/2.wav",
            "numbers/currency.wav",
            "numbers/and.wav",
            "numbers/50.wav",
            "numbers/cents.wav",
            "is.wav",
            "rate_us_1_to_5.wav",
        ]
    );
    let http = reqwest::Client::new();
    for url in &plays[1..7] {
        let resp = http.get(url).send().await.expect("GET");
        assert_eq!(resp.status(), 200, "{url}");
        let bytes = resp.bytes().await.expect("body");
        assert_eq!(&bytes[..4], b"RIFF", "{url} is a WAV file");
    }
    server.stop().await;
}

async fn signed_requests_pass_and_unsigned_ones_are_refused_with_twiml(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), Some("s3cret"), db).await else {
        return;
    };
    let call = server.call("CA-signed");
    let url = format!("{}/twilio/voice", server.base);
    let (status, ctype, body) = call.post_raw(&url, &[]).await;
    assert_eq!(status, 403);
    assert_eq!(ctype, "text/xml; charset=utf-8");
    parse_twiml(&body);

    let form = vec![
        ("CallSid".to_owned(), sid("CA-signed")),
        ("From".to_owned(), "+15551230000".to_owned()),
        ("To".to_owned(), "+14155550199".to_owned()),
    ];
    let sig = phonetree::server::signature::twilio_signature("s3cret", &url, &form);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        parse_twiml(&resp.text().await.unwrap())
            .find("Gather")
            .is_some()
    );
    server.stop().await;
}

async fn bad_input_gets_a_defined_twiml_answer(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let call = server.call("CA-bad");
    let http = reqwest::Client::new();
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!(
                "{}/twilio/gather?flow=acme&v=nope&node=no_such_node&attempt=1",
                server.base
            ),
            vec![("Digits", "1")],
        ),
        (
            format!("{}/twilio/gather?flow=nope&node=main_menu", server.base),
            vec![("Digits", "1")],
        ),
        (
            format!(
                "{}/twilio/dial?flow=acme&node=main_menu&attempt=x",
                server.base
            ),
            vec![("DialCallStatus", "weird")],
        ),
        (format!("{}/twilio/teleport", server.base), vec![]),
        // Regressions found by tests/webhook_props.rs: these answered plain-text 404/400.
        (format!("{}/twilio/", server.base), vec![]),
        (format!("{}/twilio/%E5%.?flow=acme", server.base), vec![]),
        (format!("{}/twilio/voice/extra", server.base), vec![]),
        (
            format!("{}/twilio/status", server.base),
            vec![("CallStatus", "completed")],
        ),
    ];
    for (url, extra) in cases {
        let (status, ctype, body) = call.post_raw(&url, &extra).await;
        // Each carries a well-formed CallSid: a real call is never answered with an error status.
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(ctype, "text/xml; charset=utf-8", "{url}");
        parse_twiml(&body);
    }
    // Requests that cannot be a call keep their 4xx: no CallSid, a garbage body, a CallSid
    // that is not one, an oversized body.
    for (body, want) in [
        (String::new(), 400),
        ("%%%&&&=".to_owned(), 400),
        ("CallSid=CA-not-a-sid".to_owned(), 400),
        ("CallSid=CA%0Aforged".to_owned(), 400),
        ("a=".to_owned() + &"x".repeat(200_000), 413),
    ] {
        let resp = http
            .post(format!("{}/twilio/voice", server.base))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want);
        parse_twiml(&resp.text().await.unwrap());
    }
    let k = EventKind::Fault;
    assert_eq!(k.as_str(), "fault");
    server.stop().await;
}

async fn a_reload_keeps_calls_on_their_version_and_a_broken_edit_keeps_the_last_good_one(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let flows = server.dir.path().join("flows/acme.yaml");
    let mut old_call = server.call("CA-old");
    old_call.start().await;
    let v1 = server.registry.current().version.clone();

    // A broken edit: the registry keeps serving the last good version and says why.
    let good = std::fs::read_to_string(&flows).unwrap();
    std::fs::write(
        &flows,
        good.replace("on_no_answer: voicemail", "on_no_answer: voicemial"),
    )
    .unwrap();
    let err = server.registry.reload().expect_err("broken flow");
    assert!(
        err.to_string().contains("did you mean `voicemail`?"),
        "{err}"
    );
    assert_eq!(server.registry.current().version, v1);
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        health["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("voicemial")
    );

    // A good edit: new calls hear it, the call already in progress stays on its version.
    std::fs::write(&flows, good.replace("\"1\": account,", "\"1\": voicemail,")).unwrap();
    let v2 = server.registry.reload().expect("reloads").version.clone();
    assert_ne!(v1, v2);
    let t = old_call.press("1").await;
    assert!(
        t.find("Gather")
            .unwrap()
            .attr("action")
            .unwrap()
            .contains(&format!("v={v1}"))
    );
    let t = old_call.press("1").await;
    assert!(
        t.said().contains("six digit account number"),
        "old version: {}",
        t.said()
    );

    let mut new_call = server.call("CA-new");
    new_call.start().await;
    new_call.press("1").await;
    let t = new_call.press("1").await;
    assert!(
        t.find("Record").is_some(),
        "new version sends 1 to voicemail: {:?}",
        t.verbs()
    );
    server.stop().await;
}

async fn sensitive_input_never_reaches_the_store_in_clear(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(
        prompts.join("en.yaml"),
        "card: Enter your card number.\nthanks: Thank you.\n",
    )
    .unwrap();
    std::fs::write(
        flows.join("pay.yaml"),
        "default: true\nlanguages: [en]\nstart: card\nnodes:\n  card:\n    input: { prompt: card, store: pan, min_digits: 13, max_digits: 19, validate: luhn, next: copy }\n  copy:\n    set: { vars: { last: \"{pan}\" }, next: done }\n  done:\n    hangup: { prompt: [{ say: \"You entered {pan|digits}.\" }, thanks] }\n",
    )
    .unwrap();
    let Some(server) = start(dir, flows, prompts, open_time(), db).await else {
        return;
    };
    let mut call = server.call("CA-card");
    call.start().await;
    let t = call.press("4111111111111112#").await;
    assert!(t.find("Gather").is_some(), "a bad checksum asks again");
    let t = call.press("4111111111111111#").await;
    assert!(t.said().contains("Thank you."));
    assert!(
        t.said()
            .contains("You entered 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1."),
        "the caller hears it: {}",
        t.said()
    );
    call.status("completed").await;

    let mut kept = vec![
        ("call_events", "value"),
        ("sessions", "state"),
        ("webhook_replies", "twiml"),
    ];
    if server.store_url.starts_with("sqlite://") {
        // Every session and answer the SQLite store kept, not only the newest.
        kept.extend([("webhook_log", "session"), ("webhook_log", "reply")]);
    }
    for (table, column) in kept {
        let hits = number(
            &server,
            &format!("SELECT count(*) FROM {table} WHERE {column} LIKE '%411111111111111%'"),
        )
        .await;
        assert_eq!(hits, 0, "{table}.{column} holds the card number in clear");
    }
    let values = texts(
        &server,
        "SELECT value FROM call_events WHERE kind IN ('input', 'invalid') ORDER BY seq",
    )
    .await;
    assert_eq!(
        values,
        [
            r#"{"key":"****************"}"#,
            r#"{"digits":"****************"}"#
        ]
    );
    let spaced = number(
        &server,
        "SELECT count(*) FROM webhook_replies WHERE twiml LIKE '%4 1 1 1 1 1%'",
    )
    .await;
    assert_eq!(
        spaced, 0,
        "the stored answer does not read the card number back"
    );
    let set = texts(&server, "SELECT value FROM call_events WHERE kind = 'set'").await;
    assert_eq!(
        set,
        [r#"{"set":{"name":"last","value":"****************"}}"#],
        "a value made from sensitive input is sensitive"
    );
    server.stop().await;
}

async fn a_status_callback_before_the_last_action_result_keeps_the_result(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-race");
    call.start().await;
    call.press("1").await;
    call.press("3").await; // voicemail
    let record_action = call
        .last
        .find("Record")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    call.status("completed").await; // the caller hung up while recording...
    let (status, _, body) = call
        .post_raw(
            &record_action,
            &[
                ("RecordingUrl", "https://api.twilio.com/recordings/RE9"),
                ("RecordingDuration", "31"),
            ],
        )
        .await; // ...and the recording result comes after
    assert_eq!(status, 200);
    assert_eq!(parse_twiml(&body).verbs(), ["Hangup"]);
    let rows = rows(&server, &sid("CA-race")).await;
    assert_eq!(
        kinds(&rows).into_iter().rev().take(3).collect::<Vec<_>>(),
        [
            "recorded@voicemail",
            "call_ended@voicemail",
            "caller_hangup@voicemail"
        ]
    );
    assert!(
        rows.last().unwrap().2.contains("RE9"),
        "the recording's URL is kept"
    );
    let record = server.store.call(&sid("CA-race")).await.unwrap().unwrap();
    assert_eq!(
        record.outcome,
        Some(Outcome::Voicemail),
        "the late result fixes the outcome"
    );
    server.stop().await;
}

async fn stale_callbacks_and_a_second_voice_webhook_do_not_move_the_call(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-stale");
    call.start().await;
    let language_action = call.gather_action();
    call.press("1").await; // English, now at the main menu
    let main_menu = call.last.clone();

    // A late, different key for the language menu: that wait was answered already, so it gets
    // the stored answer (the main menu) and nothing changes.
    let (_, _, body) = call.post_raw(&language_action, &[("Digits", "2")]).await;
    let t = parse_twiml(&body);
    assert_eq!(t.said(), main_menu.said());
    // A key for a node the call never reached.
    let survey = format!(
        "{}/twilio/gather?flow=acme&node=survey&attempt=1",
        server.base
    );
    let (_, _, body) = call.post_raw(&survey, &[("Digits", "5")]).await;
    assert_eq!(parse_twiml(&body).said(), main_menu.said());
    // A second call-start webhook that differs from the first (a fallback URL adds ErrorCode).
    let voice = format!("{}/twilio/voice", server.base);
    let (_, _, body) = call.post_raw(&voice, &[("ErrorCode", "11200")]).await;
    assert_eq!(parse_twiml(&body).said(), main_menu.said());

    let session = server
        .store
        .session(&sid("CA-stale"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.language, "en");
    assert_eq!(session.node(), Some("main_menu"));
    let rows = rows(&server, &sid("CA-stale")).await;
    assert_eq!(
        rows.iter().filter(|r| r.0 == "fault").count(),
        2,
        "{rows:?}"
    );
    assert!(!rows.iter().any(|r| r.1 == "survey"));
    let seqs: Vec<u32> = server
        .store
        .events(&sid("CA-stale"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u32).collect::<Vec<_>>(),
        "no rows lost to sequence clashes"
    );
    server.stop().await;
}

async fn metrics_count_webhooks_calls_and_rejections(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-metrics");
    call.start().await;
    call.press("1").await;
    call.press("9").await;
    call.status("completed").await;
    let body = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "phonetree_webhooks_total{route=\"voice\"} 1",
        "phonetree_webhooks_total{route=\"gather\"} 2",
        "phonetree_webhooks_total{route=\"status\"} 1",
        "phonetree_calls_started_total 1",
        "phonetree_calls_ended_total 1",
        "phonetree_faults_total 0",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing `{line}` in:\n{body}"
        );
    }
    let version = server.registry.current().version.clone();
    assert!(body.contains(&format!("phonetree_flow_info{{version=\"{version}\"}} 1")));
    server.stop().await;
}

/// Regression: a second visit to a menu with the same key used to get the first visit's
/// stored answer (same URL, same form), and the caller's next key was then refused as stale.
async fn the_same_key_on_a_second_visit_is_a_new_request(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-twice");
    call.start().await;
    call.press("1").await;
    let first = call.gather_action();
    call.press("*").await;
    assert_ne!(call.gather_action(), first, "each visit has its own URL");
    call.press("*").await;
    let t = call.press("0").await;
    assert!(t.find("Dial").is_some(), "{:?}", t.verbs());
    let rows = rows(&server, &sid("CA-twice")).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.0 == "key" && r.1 == "main_menu")
            .count(),
        3
    );
    assert!(!rows.iter().any(|r| r.0 == "fault"), "{rows:?}");
    server.stop().await;
}

/// Regression: a stale callback while the caller is being transferred sent the call to on_fail.
async fn a_stale_callback_during_a_transfer_leaves_the_call_alone(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-dialing");
    call.start().await;
    call.press("1").await;
    let silence = call.last.find("Redirect").unwrap().text.clone();
    call.press("0").await;
    let (_, _, body) = call.post_raw(&silence, &[]).await;
    assert!(
        parse_twiml(&body).children.is_empty(),
        "nothing new to do: {body}"
    );
    let t = call.dial_result("completed").await;
    assert!(
        t.said().contains("how satisfied"),
        "the real dial result still counts: {}",
        t.said()
    );
    let record = server
        .store
        .call(&sid("CA-dialing"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Transferred));
    server.stop().await;
}

/// Regression: a call whose session was lost restarted its event numbering and every
/// later commit failed on the (call_sid, seq) key.
async fn a_lost_session_is_rebuilt_and_the_log_continues(db: Db) {
    let Some(server) = acme("127.0.0.1:9", open_time(), None, db).await else {
        return;
    };
    let mut call = server.call("CA-lost");
    call.start().await;
    call.press("1").await;
    let t = if server.store_url.starts_with("sqlite://") {
        // The SQLite store holds calls in progress in memory: a session is lost from the
        // file, and a second server on that file (which has only the file) takes the call.
        execute(
            &server,
            "UPDATE calls SET last_log_id = NULL, session_seq = NULL",
        )
        .await;
        let second =
            TestServer::acme_on("127.0.0.1:9", open_time(), None, Some(&server.store_url)).await;
        let url = call.gather_action().replacen(&server.base, &second.base, 1);
        let (status, _, body) = call.post_raw(&url, &[("Digits", "0")]).await;
        assert_eq!(status, 200, "{body}");
        call.last = parse_twiml(&body);
        second.stop().await;
        call.last.clone()
    } else {
        execute(&server, "DELETE FROM sessions").await;
        call.press("0").await
    };
    assert!(t.find("Dial").is_some(), "{:?}", t.verbs());
    call.status("completed").await;
    let seqs: Vec<u32> = server
        .store
        .events(&sid("CA-lost"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    assert!(
        rows(&server, &sid("CA-lost"))
            .await
            .iter()
            .any(|r| r.0 == "call_ended")
    );
    server.stop().await;
}
