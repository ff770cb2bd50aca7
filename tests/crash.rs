//! kill -9 under load: the real `phonetree serve` on a SQLite file answers 32 concurrent
//! callers walking whole calls, is killed mid-load, and no webhook it acknowledged with a
//! 200 is missing from the database; restarted on the same file, it answers each call's last
//! acknowledged request again with the same bytes and adds no rows.
#![cfg(unix)]

mod common;
#[path = "common/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{parse_twiml, start_crm};
use phonetree::call::EventValue;
use process::{ServeProcess, write_acme_without_hours};

const CALLERS: usize = 32;
/// Acknowledged webhooks before the kill: enough that every caller is in the middle of calls.
const KILL_AFTER: usize = 600;

/// The rows (`kind@node`) each step of the walk adds, in order.
const STEP_ROWS: [&[&str]; 6] = [
    &["call_started@", "entered@language"],
    &["key@language", "set@language", "entered@main_menu"],
    &["key@main_menu", "entered@account"],
    &[
        "input@account",
        "answer@account",
        "entered@lookup_account",
        "lookup_ok@lookup_account",
        "entered@balance",
        "entered@survey",
    ],
    &[
        "key@survey",
        "answer@survey",
        "entered@goodbye",
        "flow_hangup@goodbye",
    ],
    &["call_ended@goodbye"],
];

/// One webhook the server answered with a 200.
#[derive(Debug, Clone)]
struct Acknowledged {
    url: String,
    form: Vec<(String, String)>,
    body: String,
}

fn form(sid: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("CallSid", sid),
        ("From", "+15551230000"),
        ("To", "+14155550199"),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        f.retain(|(key, _)| key != k);
        f.push((k.to_string(), v.to_string()));
    }
    f
}

/// POSTs; `None` once the server is gone (or answers anything but a 200).
async fn post(
    http: &reqwest::Client,
    url: &str,
    form: &[(String, String)],
) -> Option<(u16, String)> {
    let resp = http.post(url).form(form).send().await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.text().await.ok()?;
    Some((status, body))
}

/// Walks whole calls until the server stops answering; returns each call's acknowledged steps.
async fn caller(
    base: String,
    who: usize,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<(String, Vec<Acknowledged>)> {
    let http = reqwest::Client::new();
    let mut calls = Vec::new();
    for n in 0.. {
        let sid = format!("CA{who:016x}{n:016x}");
        let mut steps: Vec<Acknowledged> = Vec::new();
        let walk: [&[(&str, &str)]; 6] = [
            &[],
            &[("Digits", "1")],
            &[("Digits", "1")],
            &[("Digits", "123456#")],
            &[("Digits", "5")],
            &[("CallStatus", "completed"), ("CallDuration", "61")],
        ];
        let mut gather_action = String::new();
        let mut alive = true;
        for (i, extra) in walk.iter().enumerate() {
            let url = match i {
                0 => format!("{base}/twilio/voice"),
                5 => format!("{base}/twilio/status"),
                _ => gather_action.clone(),
            };
            let form = form(&sid, extra);
            match post(&http, &url, &form).await {
                Some((200, body)) => {
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    if i < 4 {
                        let twiml = parse_twiml(&body);
                        gather_action = twiml
                            .find("Gather")
                            .and_then(|g| g.attr("action"))
                            .unwrap_or_else(|| panic!("{sid} step {i}: no Gather action in {body}"))
                            .to_owned();
                    }
                    steps.push(Acknowledged { url, form, body });
                }
                Some((status, body)) => panic!("{sid} step {i}: {status} {body}"),
                None => {
                    alive = false;
                    break;
                }
            }
        }
        calls.push((sid, steps));
        if !alive {
            break;
        }
    }
    calls
}

/// (`kind@node`, value) of a call's rows, in order.
fn rows(db: &rusqlite::Connection, sid: &str) -> Vec<(String, String)> {
    let mut stmt = db
        .prepare(
            "SELECT kind, COALESCE(node, ''), value FROM call_events \
             WHERE call_sid = ?1 ORDER BY seq",
        )
        .expect("prepare");
    stmt.query_map([sid], |r| {
        let value = r.get::<_, Option<String>>(2)?.map_or(String::new(), |v| {
            serde_json::from_str::<EventValue>(&v)
                .expect("a typed value")
                .to_string()
        });
        Ok((
            format!("{}@{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            value,
        ))
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

fn total_rows(db: &rusqlite::Connection) -> i64 {
    db.query_row("SELECT COUNT(*) FROM call_events", [], |r| r.get(0))
        .expect("count")
}

fn start(dir: &Path, crm: &str) -> ServeProcess {
    let flows = write_acme_without_hours(dir, crm);
    let store = format!("sqlite://{}", dir.join("calls.db").display());
    let prompts = common::repo().join("prompts");
    ServeProcess::start(
        &[
            "--flows",
            flows.to_str().expect("utf-8 path"),
            "--prompts",
            prompts.to_str().expect("utf-8 path"),
            "--store",
            &store,
        ],
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_webhook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (crm, _crm) = start_crm().await;
    let server = start(dir.path(), &crm);
    let base = server.base();

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|who| tokio::spawn(caller(base.clone(), who, acknowledged.clone())))
        .collect();
    tokio::time::timeout(Duration::from_secs(120), async {
        while acknowledged.load(Ordering::Relaxed) < KILL_AFTER {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server keeps answering under load");
    tokio::task::spawn_blocking(move || server.kill())
        .await
        .expect("kill -9");

    let mut calls: BTreeMap<String, Vec<Acknowledged>> = BTreeMap::new();
    for c in callers {
        let done = tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("callers stop once the server is gone")
            .expect("caller");
        calls.extend(done);
    }
    let webhooks: usize = calls.values().map(Vec::len).sum();
    let cut_short = calls
        .values()
        .filter(|s| !s.is_empty() && s.len() < STEP_ROWS.len())
        .count();

    // Every acknowledged step has its rows; at most one more step (committed, but killed
    // before its answer left) follows.
    let db = rusqlite::Connection::open(dir.path().join("calls.db")).expect("open the database");
    let mut events = 0usize;
    let mut committed_unanswered = 0usize;
    for (sid, steps) in &calls {
        let got = rows(&db, sid);
        let acked: Vec<&str> = STEP_ROWS[..steps.len()].concat();
        let one_more: Vec<&str> = STEP_ROWS[..(steps.len() + 1).min(STEP_ROWS.len())].concat();
        let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        if kinds != acked {
            assert_eq!(kinds, one_more, "{sid}: {} acknowledged steps", steps.len());
            committed_unanswered += 1;
        }
        events += acked.len();
        for (kind, value) in &got {
            match kind.as_str() {
                "key@language" | "key@main_menu" => assert_eq!(value, "1", "{sid}"),
                "input@account" => assert_eq!(value, "123456", "{sid}"),
                "key@survey" => assert_eq!(value, "5", "{sid}"),
                _ => {}
            }
        }
        if steps.len() == STEP_ROWS.len() {
            let ended: Option<String> = db
                .query_row(
                    "SELECT ended_at FROM calls WHERE call_sid = ?1",
                    [sid],
                    |r| r.get(0),
                )
                .expect("call row");
            assert!(ended.is_some(), "{sid}: acknowledged end of call recorded");
        }
    }
    let rows_before = total_rows(&db);
    drop(db);

    // Restarted on the same file, each call's last acknowledged request gets its stored answer.
    let server = start(dir.path(), &crm);
    let http = reqwest::Client::new();
    let mut resent = 0usize;
    for (sid, steps) in &calls {
        let Some(last) = steps.last() else { continue };
        let url = last.url.replace(&base, &server.base());
        let (status, body) = post(&http, &url, &last.form)
            .await
            .unwrap_or_else(|| panic!("{sid}: the restarted server answers"));
        assert_eq!(status, 200, "{sid}: {body}");
        assert_eq!(body, last.body, "{sid}: the answer is the stored one");
        resent += 1;
    }
    let db = rusqlite::Connection::open(dir.path().join("calls.db")).expect("open the database");
    assert_eq!(total_rows(&db), rows_before, "re-sent requests add no rows");
    drop(db);
    server.kill();

    eprintln!(
        "kill -9 after {KILL_AFTER}+ acknowledged webhooks from {CALLERS} callers: {} calls \
         ({cut_short} cut short), {webhooks} acknowledged webhooks, {events} events checked \
         present, {committed_unanswered} calls had one more step committed than answered; \
         {resent} last requests re-sent after restart, byte-identical, no rows added",
        calls.len()
    );
    assert!(webhooks >= KILL_AFTER);
}
