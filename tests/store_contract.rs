//! What every store promises the server, checked on SQLite and on PostgreSQL alike: each
//! contract runs as `NAME::sqlite` and `NAME::postgres` (the latter says SKIPPED and
//! passes on a machine without PostgreSQL server binaries).
//!
//! Two stores opened on one database stand for two `phonetree serve` processes sharing it.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use phonetree::call::{
    CallSession, CallState, DialStatus, EventKind, EventValue, LogEvent, Outcome, QueueResult,
};
use phonetree::store::{
    CallRange, CallRecord, CommitOutcome, Pruned, Store, StoreError, WebhookCommit, open_store,
    schema,
};

use common::pg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// One database of one kind, which any number of stores may open.
struct Database {
    kind: Kind,
    url: String,
    _dir: tempfile::TempDir,
}

impl Database {
    /// A fresh database; `None` (after a SKIPPED line) when PostgreSQL is not here.
    async fn new(kind: Kind) -> Option<Database> {
        let dir = tempfile::tempdir().unwrap();
        let url = match kind {
            Kind::Sqlite => format!("sqlite://{}", dir.path().join("calls.db").display()),
            Kind::Postgres => pg::database().await?,
        };
        Some(Database {
            kind,
            url,
            _dir: dir,
        })
    }

    /// A store on it, as one server opens it.
    fn open(&self) -> Arc<dyn Store> {
        open_store(&self.url).unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }

    fn sqlite_path(&self) -> &str {
        self.url.strip_prefix("sqlite://").unwrap()
    }

    /// Runs SQL statements behind the stores' backs.
    async fn execute(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => rusqlite::Connection::open(self.sqlite_path())
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Kind::Postgres => pg::execute(&self.url, sql).await,
        }
    }

    /// The one integer a query answers.
    async fn number(&self, sql: &str) -> i64 {
        match self.kind {
            Kind::Sqlite => rusqlite::Connection::open(self.sqlite_path())
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Kind::Postgres => pg::query(&self.url, sql).await[0].get(0),
        }
    }

    async fn count(&self, table: &str) -> i64 {
        self.number(&format!("SELECT COUNT(*) FROM {table}")).await
    }
}

/// Runs each contract once per kind of store, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Kind::Postgres).await
            }
        }
    )*};
}

on_each_store!(
    round_trip_survives_reopening,
    events_come_back_in_seq_order_with_all_fields,
    a_duplicate_fingerprint_returns_the_first_answer_and_writes_nothing,
    a_stale_base_and_a_second_first_writer_are_conflicts,
    an_ended_call_is_closed_once_and_keeps_its_last_node,
    a_failing_commit_writes_nothing_and_the_store_goes_on,
    corrupt_rows_are_errors,
    stores_opening_at_once_migrate_once,
    a_version_1_database_is_migrated_in_place,
    a_version_3_database_has_its_text_values_rewritten_as_json,
    a_version_4_database_reads_each_calls_events_after_it,
    concurrent_commits_for_many_calls_are_all_durable,
    two_servers_racing_on_one_call_store_one_commit_per_base,
    two_servers_answering_the_same_webhooks_log_each_once,
    flow_versions_are_kept_once_and_pruned_when_no_call_is_on_them,
    sessions_of_ended_calls_expire_and_their_log_stays,
    range_reads_select_calls_started_in_the_range_in_order,
    range_reads_of_an_empty_range_are_empty,
    a_range_read_dropped_after_its_first_row_frees_the_store,
    a_large_range_reads_back_completely_and_in_order,
    events_follow_their_call_when_its_session_starts_over,
);

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn session(sid: &str, node: Option<&str>, seq: u32) -> CallSession {
    CallSession {
        call_sid: sid.to_owned(),
        flow: "main".into(),
        version: "v7".into(),
        caller: "+15550001".into(),
        called: "+15550002".into(),
        language: "en".into(),
        vars: BTreeMap::from([("account".to_owned(), serde_json::json!("1234"))]),
        sensitive: vec![],
        menu_stack: vec!["welcome".into()],
        state: node.map_or(CallState::Starting, |node| CallState::Active {
            node: node.to_owned(),
            attempt: 1,
            visit: 4,
            budget_spent: false,
            outcome: None,
        }),
        steps: 3,
        started_at: t("2026-11-24T15:00:00.000Z"),
        seq,
        pressed_leave_key: false,
    }
}

fn event(sid: &str, seq: u32, kind: EventKind) -> LogEvent {
    LogEvent {
        call_sid: sid.to_owned(),
        seq,
        flow: "main".into(),
        version: "v7".into(),
        at: t("2026-11-24T15:00:01.250Z") + chrono::Duration::milliseconds(i64::from(seq)),
        node: seq.is_multiple_of(2).then(|| format!("node{seq}")),
        kind,
        value: seq
            .is_multiple_of(3)
            .then(|| EventValue::Key("2".to_owned())),
        attempt: seq % 4,
    }
}

/// A first webhook of `sid` (no stored session) logging events `seqs`.
fn commit(sid: &str, seqs: &[u32], fingerprint: Option<&str>) -> WebhookCommit {
    WebhookCommit {
        session: session(sid, Some("menu"), seqs.iter().copied().max().unwrap_or(0)),
        base_seq: None,
        events: seqs
            .iter()
            .map(|&n| event(sid, n, EventKind::Entered))
            .collect(),
        reply: fingerprint.map(|f| (f.to_owned(), format!("<Response><Say>{f}</Say></Response>"))),
        now: t("2026-11-24T15:00:02.000Z"),
    }
}

/// The webhook after the one that left the session at `base`, logging `n` events.
fn next(sid: &str, base: u32, n: u32, fingerprint: &str) -> WebhookCommit {
    let seqs: Vec<u32> = (base + 1..=base + n).collect();
    WebhookCommit {
        base_seq: Some(base),
        ..commit(sid, &seqs, Some(fingerprint))
    }
}

/// A first webhook of `sid`, a call of `flow` started at `started_at`, logging `seqs`
/// (each one millisecond after the start times its number).
fn call_at(sid: &str, flow: &str, started_at: DateTime<Utc>, seqs: &[u32]) -> WebhookCommit {
    let mut c = commit(sid, seqs, None);
    c.session.flow = flow.into();
    c.session.started_at = started_at;
    for e in &mut c.events {
        e.flow = flow.into();
        e.at = started_at + chrono::Duration::milliseconds(i64::from(e.seq));
    }
    c
}

fn range(flow: Option<&str>, from: &str, to: &str) -> CallRange {
    CallRange {
        flow: flow.map(str::to_owned),
        from: t(from),
        to: t(to),
    }
}

/// The call ids `calls_in` answers, in its order.
async fn sids_in(store: &dyn Store, range: &CallRange) -> Vec<String> {
    store
        .calls_in(range)
        .map_ok(|c| c.call_sid)
        .try_collect()
        .await
        .unwrap()
}

/// What `events_in` answers, as (call id, seq).
async fn event_keys_in(store: &dyn Store, range: &CallRange) -> Vec<(String, u32)> {
    store
        .events_in(range)
        .map_ok(|e| (e.call_sid, e.seq))
        .try_collect()
        .await
        .unwrap()
}

async fn round_trip_survives_reopening(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let mut c = commit("CA1", &[1, 2, 3], Some("fp1"));
    c.events = vec![
        event("CA1", 1, EventKind::CallStarted),
        event("CA1", 2, EventKind::Entered),
        event("CA1", 3, EventKind::Key),
    ];
    assert_eq!(
        store.commit(c.clone()).await.unwrap(),
        CommitOutcome::Stored
    );
    let want_call = CallRecord {
        call_sid: "CA1".into(),
        flow: "main".into(),
        flow_version: "v7".into(),
        from_number: "+15550001".into(),
        to_number: "+15550002".into(),
        language: "en".into(),
        started_at: t("2026-11-24T15:00:00.000Z"),
        ended_at: None,
        outcome: None,
        last_node: Some("menu".into()),
    };
    let reads_back = |store: Arc<dyn Store>| {
        let (c, want_call) = (c.clone(), want_call.clone());
        async move {
            assert_eq!(store.session("CA1").await.unwrap(), Some(c.session.clone()));
            assert_eq!(store.events("CA1").await.unwrap(), c.events);
            assert_eq!(
                store.reply("CA1", "fp1").await.unwrap(),
                Some(c.reply.clone().unwrap().1)
            );
            assert_eq!(store.call("CA1").await.unwrap(), Some(want_call));
            assert_eq!(store.session("nope").await.unwrap(), None);
            assert_eq!(store.reply("CA1", "other").await.unwrap(), None);
            assert_eq!(store.call("nope").await.unwrap(), None);
            assert!(store.events("nope").await.unwrap().is_empty());
            store.check().await.unwrap();
        }
    };
    reads_back(store.clone()).await;
    drop(store);
    // As after a restart.
    reads_back(db.open()).await;
    assert_eq!(db.count("schema_version").await, schema::latest());
}

async fn events_come_back_in_seq_order_with_all_fields(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let mut c = commit("CA2", &[], None);
    c.events = [5, 1, 4, 2, 3]
        .iter()
        .map(|&n| event("CA2", n, EventKind::NoInput))
        .collect();
    store.commit(c.clone()).await.unwrap();
    let mut then = commit("CA2", &[6], None);
    then.base_seq = Some(0);
    assert_eq!(store.commit(then).await.unwrap(), CommitOutcome::Stored);
    let got = store.events("CA2").await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let mut want = c.events;
    want.sort_by_key(|e| e.seq);
    assert_eq!(&got[..5], &want[..]);
    assert_eq!(got[2].value_text().as_deref(), Some("2"));
    assert_eq!(got[3].node.as_deref(), Some("node4"));
    assert_eq!(got[4].at, t("2026-11-24T15:00:01.255Z"));
}

async fn a_duplicate_fingerprint_returns_the_first_answer_and_writes_nothing(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let first = commit("CA3", &[1, 2], Some("fp"));
    assert_eq!(
        store.commit(first.clone()).await.unwrap(),
        CommitOutcome::Stored
    );
    let mut again = commit("CA3", &[3, 4], Some("fp"));
    again.reply = Some(("fp".into(), "<Response><Hangup/></Response>".into()));
    if let CallState::Active { attempt, .. } = &mut again.session.state {
        *attempt = 9;
    }
    let twiml = first.reply.unwrap().1;
    assert_eq!(
        store.commit(again.clone()).await.unwrap(),
        CommitOutcome::Duplicate(twiml.clone())
    );
    // Whatever its base: the answer, not a conflict.
    again.base_seq = Some(2);
    assert_eq!(
        store.commit(again).await.unwrap(),
        CommitOutcome::Duplicate(twiml.clone())
    );
    assert_eq!(store.events("CA3").await.unwrap().len(), 2);
    assert_eq!(store.session("CA3").await.unwrap().unwrap().attempt(), 1);
    assert_eq!(store.reply("CA3", "fp").await.unwrap(), Some(twiml));
    assert_eq!(db.count("webhook_replies").await, 1);
}

async fn a_stale_base_and_a_second_first_writer_are_conflicts(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    assert_eq!(
        store
            .commit(commit("CC1", &[1, 2], Some("a")))
            .await
            .unwrap(),
        CommitOutcome::Stored
    );
    // A second writer that also saw no session.
    assert_eq!(
        store
            .commit(commit("CC1", &[1, 2], Some("b")))
            .await
            .unwrap(),
        CommitOutcome::Conflict
    );
    // One that read the session before the last commit.
    assert_eq!(
        store.commit(next("CC1", 1, 1, "c")).await.unwrap(),
        CommitOutcome::Conflict
    );
    // One that read a session that is not there.
    assert_eq!(
        store.commit(next("CX1", 4, 1, "c")).await.unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(
        store.commit(next("CC1", 2, 1, "d")).await.unwrap(),
        CommitOutcome::Stored
    );
    assert_eq!(store.events("CC1").await.unwrap().len(), 3);
    assert_eq!(store.session("CC1").await.unwrap().unwrap().seq, 3);
    assert_eq!(db.count("webhook_replies").await, 2);
    assert_eq!(db.count("calls").await, 1);
}

async fn an_ended_call_is_closed_once_and_keeps_its_last_node(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    store.commit(commit("CA4", &[1], Some("a"))).await.unwrap();
    let mut hangup = next("CA4", 1, 1, "b");
    hangup.session.close(Outcome::Abandoned);
    hangup.now = t("2026-11-24T15:03:00.000Z");
    assert_eq!(
        store.commit(hangup.clone()).await.unwrap(),
        CommitOutcome::Stored
    );
    let mut late = hangup;
    late.base_seq = Some(2);
    late.session.seq = 3;
    late.events = vec![event("CA4", 3, EventKind::CallEnded)];
    late.reply = Some(("c".into(), "<Response/>".into()));
    late.now = t("2026-11-24T15:09:00.000Z");
    assert_eq!(store.commit(late).await.unwrap(), CommitOutcome::Stored);
    let call = store.call("CA4").await.unwrap().unwrap();
    assert_eq!(call.ended_at, Some(t("2026-11-24T15:03:00.000Z")));
    assert_eq!(call.outcome, Some(Outcome::Abandoned));
    assert_eq!(call.last_node.as_deref(), Some("menu"));
}

async fn a_failing_commit_writes_nothing_and_the_store_goes_on(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    store.commit(commit("CA5", &[1], None)).await.unwrap();
    // Past the order check, into the (call_sid, seq) key of the first row.
    let mut bad = commit("CA5", &[1], Some("x"));
    bad.base_seq = Some(1);
    if let CallState::Active { attempt, .. } = &mut bad.session.state {
        *attempt = 9;
    }
    let err = store.commit(bad).await.expect_err("a clashing event row");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert_eq!(store.session("CA5").await.unwrap().unwrap().attempt(), 1);
    assert_eq!(store.reply("CA5", "x").await.unwrap(), None);
    assert_eq!(db.count("call_events").await, 1);
    // The connection it failed on serves the next commits.
    for i in 0..20 {
        assert_eq!(
            store
                .commit(commit(&format!("CB{i}"), &[1], Some("y")))
                .await
                .unwrap(),
            CommitOutcome::Stored
        );
    }
    assert_eq!(
        store.commit(next("CA5", 1, 1, "z")).await.unwrap(),
        CommitOutcome::Stored
    );
    assert_eq!(db.count("calls").await, 21);
}

async fn corrupt_rows_are_errors(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    store.commit(commit("CA8", &[1], None)).await.unwrap();
    drop(store);
    db.execute(match kind {
        // SQLite keeps each webhook's session in its log row.
        Kind::Sqlite => {
            "UPDATE call_events SET kind = 'bogus'; UPDATE webhook_log SET session = '{'"
        }
        Kind::Postgres => "UPDATE call_events SET kind = 'bogus'; UPDATE sessions SET state = '{'",
    })
    .await;
    // A store opened on the file reads it (one that was open holds what it committed).
    let store = db.open();
    let events = store.events("CA8").await.map(|_| ());
    let session = store.session("CA8").await.map(|_| ());
    // After the events: SQLite finds a call's events by its start.
    db.execute("UPDATE calls SET started_at = 'yesterday'")
        .await;
    for (what, result) in [
        ("events", events),
        ("session", session),
        ("call", store.call("CA8").await.map(|_| ())),
    ] {
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{what}: {result:?}"
        );
    }
}

async fn stores_opening_at_once_migrate_once(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let url = db.url.clone();
    let open = move || open_store(&url).map(drop);
    // Regression (SQLite): two first opens of one file at once failed with `database is
    // locked`, since the switch to WAL does not wait out the busy timeout.
    let opening: Vec<_> = (0..4).map(|_| std::thread::spawn(open.clone())).collect();
    for handle in opening {
        handle.join().unwrap().unwrap();
    }
    assert_eq!(db.count("schema_version").await, schema::latest());
    let store = db.open();
    store.commit(commit("CM0", &[1], Some("a"))).await.unwrap();
    drop(store);
    // Opening again applies nothing twice and keeps what was stored.
    let store = db.open();
    assert_eq!(db.count("schema_version").await, schema::latest());
    assert_eq!(store.events("CM0").await.unwrap().len(), 1);
}

async fn a_version_1_database_is_migrated_in_place(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let v1 = &schema::MIGRATIONS[0];
    let state = serde_json::to_string(&session("CM1", Some("menu"), 7)).unwrap();
    db.execute(&format!(
        "{}\nCREATE TABLE schema_version (version {}); INSERT INTO schema_version VALUES (1);\n\
         INSERT INTO sessions (call_sid, state, updated_at) VALUES ('CM1', '{}', 'x');",
        if kind == Kind::Sqlite {
            v1.sqlite
        } else {
            v1.postgres
        },
        if kind == Kind::Sqlite {
            "INTEGER NOT NULL"
        } else {
            "BIGINT NOT NULL"
        },
        state.replace('\'', "''")
    ))
    .await;
    let store = db.open();
    assert_eq!(db.count("schema_version").await, schema::latest());
    assert_eq!(
        store.commit(next("CM1", 7, 1, "a")).await.unwrap(),
        CommitOutcome::Stored,
        "the session's seq column was filled from its state"
    );
    drop(store);
    db.open();
    assert_eq!(db.count("schema_version").await, schema::latest());
}

async fn a_version_3_database_has_its_text_values_rewritten_as_json(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let old: &[(&str, Option<&str>, Option<EventValue>)] = &[
        (
            "call_started",
            Some("+15550001"),
            Some(EventValue::Caller("+15550001".into())),
        ),
        ("entered", None, None),
        (
            "entered",
            Some("when 2"),
            Some(EventValue::Branch("when 2".into())),
        ),
        ("key", Some("1"), Some(EventValue::Key("1".into()))),
        ("invalid", Some("**"), Some(EventValue::Key("**".into()))),
        (
            "input",
            Some("1234"),
            Some(EventValue::Digits("1234".into())),
        ),
        (
            "set",
            Some("plan=gold=x"),
            Some(EventValue::Set {
                name: "plan".into(),
                value: "gold=x".into(),
            }),
        ),
        (
            "set",
            Some("empty="),
            Some(EventValue::Set {
                name: "empty".into(),
                value: String::new(),
            }),
        ),
        (
            "lookup_error",
            Some("timeout"),
            Some(EventValue::Reason("timeout".into())),
        ),
        ("lookup_ok", None, None),
        (
            "fault",
            Some("it's \"odd\""),
            Some(EventValue::Reason("it's \"odd\"".into())),
        ),
        ("budget_exhausted", Some("40"), Some(EventValue::Budget(40))),
        (
            "transfer_started",
            Some("+15550003"),
            Some(EventValue::Target("+15550003".into())),
        ),
        (
            "transfer_result",
            Some("no-answer"),
            Some(EventValue::DialStatus(DialStatus::NoAnswer)),
        ),
        (
            "queued",
            Some("support"),
            Some(EventValue::Queue("support".into())),
        ),
        (
            "queue_left",
            Some("queue-full"),
            Some(EventValue::QueueResult(QueueResult::QueueFull)),
        ),
        (
            "recorded",
            Some(r#"{"seconds":17,"url":"https://example.com/r.wav"}"#),
            Some(EventValue::Recording {
                seconds: Some(17),
                url: Some("https://example.com/r.wav".into()),
            }),
        ),
        (
            "recorded",
            Some(r#"{"seconds":null,"url":null}"#),
            Some(EventValue::Recording {
                seconds: None,
                url: None,
            }),
        ),
        (
            "call_ended",
            Some("voicemail"),
            Some(EventValue::Outcome(Outcome::Voicemail)),
        ),
    ];
    let mut sql = String::new();
    for m in &schema::MIGRATIONS[..3] {
        sql.push_str(if kind == Kind::Sqlite {
            m.sqlite
        } else {
            m.postgres
        });
    }
    sql.push_str(&format!(
        "CREATE TABLE schema_version (version {}); INSERT INTO schema_version VALUES (1), (2), (3);\n",
        if kind == Kind::Sqlite {
            "INTEGER NOT NULL"
        } else {
            "BIGINT NOT NULL"
        }
    ));
    for (i, (event_kind, text, _)) in old.iter().enumerate() {
        let text = text.map_or("NULL".to_owned(), |t| {
            format!("'{}'", t.replace('\'', "''"))
        });
        sql.push_str(&format!(
            "INSERT INTO call_events (call_sid, seq, at, flow, flow_version, node, kind, value, attempt) \
             VALUES ('CM3', {}, '2026-11-24T15:00:01.250Z', 'main', 'v7', 'menu', '{event_kind}', {text}, 1);\n",
            i + 1
        ));
    }
    db.execute(&sql).await;
    let store = db.open();
    assert_eq!(db.count("schema_version").await, schema::latest());
    let events = store.events("CM3").await.unwrap();
    assert_eq!(events.len(), old.len());
    for (e, (event_kind, text, typed)) in events.iter().zip(old) {
        assert_eq!(e.kind.as_str(), *event_kind);
        assert_eq!(&e.value, typed, "{event_kind} {text:?}");
        assert_eq!(e.value_text().as_deref(), *text, "reads as it did");
    }
    drop(store);
    let store = db.open();
    assert_eq!(store.events("CM3").await.unwrap(), events, "migrated once");
}

async fn a_version_4_database_reads_each_calls_events_after_it(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let mut sql = String::new();
    for m in &schema::MIGRATIONS[..4] {
        sql.push_str(if kind == Kind::Sqlite {
            m.sqlite
        } else {
            m.postgres
        });
    }
    sql.push_str(&format!(
        "CREATE TABLE schema_version (version {}); INSERT INTO schema_version VALUES (1), (2), (3), (4);\n",
        if kind == Kind::Sqlite {
            "INTEGER NOT NULL"
        } else {
            "BIGINT NOT NULL"
        }
    ));
    // Logged in time order, so the rows of the two calls interleave; CO1's call row is gone.
    for (sid, start) in [
        ("CB1", "2026-11-24T10:00:00.000Z"),
        ("CA2", "2026-11-24T10:00:00.500Z"),
    ] {
        sql.push_str(&format!(
            "INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at) \
             VALUES ('{sid}', 'main', 'v7', '+15550001', '+15550002', 'en', '{start}');\n"
        ));
    }
    for (sid, seq, at) in [
        ("CB1", 1, "2026-11-24T10:00:00.000Z"),
        ("CO1", 1, "2026-11-24T10:00:00.100Z"),
        ("CA2", 1, "2026-11-24T10:00:00.500Z"),
        ("CB1", 2, "2026-11-24T10:00:03.000Z"),
        ("CA2", 2, "2026-11-24T10:00:04.000Z"),
        ("CB1", 3, "2026-11-24T10:00:09.000Z"),
    ] {
        sql.push_str(&format!(
            "INSERT INTO call_events (call_sid, seq, at, flow, flow_version, node, kind, value, attempt) \
             VALUES ('{sid}', {seq}, '{at}', 'main', 'v7', 'menu', 'entered', NULL, 1);\n"
        ));
    }
    db.execute(&sql).await;
    let store = db.open();
    assert_eq!(db.count("schema_version").await, schema::latest());
    let day = range(None, "2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z");
    assert_eq!(sids_in(&*store, &day).await, ["CB1", "CA2"]);
    let want: Vec<(String, u32)> = [("CB1", 1), ("CB1", 2), ("CB1", 3), ("CA2", 1), ("CA2", 2)]
        .into_iter()
        .map(|(sid, seq)| (sid.to_owned(), seq))
        .collect();
    assert_eq!(event_keys_in(&*store, &day).await, want);
    let main = range(
        Some("main"),
        "2026-11-24T00:00:00.000Z",
        "2026-11-25T00:00:00.000Z",
    );
    assert_eq!(event_keys_in(&*store, &main).await, want);
    let everything = range(None, "0001-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z");
    assert_eq!(
        event_keys_in(&*store, &everything).await,
        want,
        "an event without its call row is in no range"
    );
    assert_eq!(store.events("CO1").await.unwrap().len(), 1, "and is kept");
    // Its session is not in the old file: the next webhook makes one, started later.
    assert_eq!(
        store
            .commit(commit("CB1", &[4], Some("after")))
            .await
            .unwrap(),
        CommitOutcome::Stored
    );
    assert_eq!(event_keys_in(&*store, &day).await[3], ("CB1".to_owned(), 4));
}

async fn concurrent_commits_for_many_calls_are_all_durable(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let sid = format!("CA{i}");
                let first = store.commit(commit(&sid, &[1, 2], Some("fp"))).await?;
                let second = store.commit(next(&sid, 2, 2, "fp2")).await?;
                Ok::<_, StoreError>((first, second))
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap(),
            (CommitOutcome::Stored, CommitOutcome::Stored)
        );
    }
    assert_eq!(db.count("calls").await, 200);
    assert_eq!(db.count("sessions").await, 200);
    assert_eq!(db.count("call_events").await, 800);
    assert_eq!(db.count("webhook_replies").await, 400);
    assert_eq!(store.events("CA199").await.unwrap().len(), 4);
}

/// Rounds of eight webhooks from the same session, four on each of two servers, in pairs
/// that are the same request delivered to both.
async fn two_servers_racing_on_one_call_store_one_commit_per_base(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let servers = [db.open(), db.open()];
    let mut base: Option<u32> = None;
    for round in 0..20 {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&servers[i % 2]);
                let fingerprint = format!("r{round}-{}", i / 2);
                let from = base.unwrap_or(0);
                let mut c = next("CR1", from, 2, &fingerprint);
                c.base_seq = base;
                tokio::spawn(async move { (fingerprint, store.commit(c).await.unwrap()) })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let stored: Vec<&String> = outcomes
            .iter()
            .filter(|(_, o)| *o == CommitOutcome::Stored)
            .map(|(fp, _)| fp)
            .collect();
        assert_eq!(stored.len(), 1, "round {round}: {outcomes:?}");
        let winner = stored[0];
        for (fp, outcome) in &outcomes {
            match outcome {
                CommitOutcome::Stored | CommitOutcome::Conflict => {}
                CommitOutcome::Duplicate(twiml) => {
                    assert_eq!(fp, winner, "round {round}: only the stored request repeats");
                    assert_eq!(twiml, &format!("<Response><Say>{winner}</Say></Response>"));
                }
            }
        }
        let seq = base.unwrap_or(0) + 2;
        base = Some(seq);
        let session = servers[round % 2].session("CR1").await.unwrap().unwrap();
        assert_eq!(session.seq, seq);
        let events = servers[round % 2].events("CR1").await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=seq).collect::<Vec<_>>()
        );
    }
    assert_eq!(db.count("webhook_replies").await, 20);
    assert_eq!(db.count("sessions").await, 1);
    assert_eq!(db.count("calls").await, 1);
}

/// Twenty calls of ten webhooks, each webhook delivered to both servers at once; each
/// server handles it as the real one does: read the session, step, commit from its seq,
/// and on a conflict read again and step again.
async fn two_servers_answering_the_same_webhooks_log_each_once(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let servers = [db.open(), db.open()];
    let handle = |store: Arc<dyn Store>, sid: String, step: u32| async move {
        let fingerprint = format!("step{step}");
        for _ in 0..100 {
            let base = store.session(&sid).await.unwrap().map(|s| s.seq);
            let mut c = next(&sid, base.unwrap_or(0), 2, &fingerprint);
            c.base_seq = base;
            match store.commit(c).await.unwrap() {
                CommitOutcome::Conflict => continue,
                outcome => return outcome,
            }
        }
        panic!("{sid} step {step}: still conflicting after 100 tries");
    };
    let calls: Vec<_> = (0..20)
        .map(|n| {
            let servers = servers.clone();
            tokio::spawn(async move {
                let sid = format!("CW{n}");
                for step in 0..10 {
                    let (a, b) = tokio::join!(
                        handle(Arc::clone(&servers[0]), sid.clone(), step),
                        handle(Arc::clone(&servers[1]), sid.clone(), step),
                    );
                    let stored = [&a, &b]
                        .iter()
                        .filter(|o| ***o == CommitOutcome::Stored)
                        .count();
                    assert_eq!(stored, 1, "{sid} step {step}: {a:?} {b:?}");
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    for n in 0..20 {
        let events = servers[n % 2].events(&format!("CW{n}")).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=20).collect::<Vec<_>>()
        );
    }
    assert_eq!(db.count("webhook_replies").await, 200);
    assert_eq!(db.count("call_events").await, 400);
}

async fn flow_versions_are_kept_once_and_pruned_when_no_call_is_on_them(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let now = t("2026-11-24T15:00:00.000Z");
    store.put_flow_version("v7", b"seven", now).await.unwrap();
    store.put_flow_version("v7", b"other", now).await.unwrap();
    store.put_flow_version("v8", b"eight", now).await.unwrap();
    store.put_flow_version("v9", b"nine", now).await.unwrap();
    let bytes: Vec<u8> = (0..=255).collect();
    store.put_flow_version("vb", &bytes, now).await.unwrap();
    assert_eq!(
        store.flow_version("v7").await.unwrap().as_deref(),
        Some(&b"seven"[..])
    );
    assert_eq!(store.flow_version("vb").await.unwrap(), Some(bytes));
    assert_eq!(store.flow_version("nope").await.unwrap(), None);
    // CA1 started on v7 (the test session's version) and is kept; v9 is being served.
    store.commit(commit("CA1", &[1], None)).await.unwrap();
    let keep = ["v9".to_owned()];
    let pruned = store
        .prune(t("2026-01-01T00:00:00.000Z"), &keep)
        .await
        .unwrap();
    assert_eq!(
        pruned,
        Pruned {
            calls: 0,
            events: 0,
            flow_versions: 2
        }
    );
    assert!(store.flow_version("v8").await.unwrap().is_none());
    assert!(store.flow_version("v7").await.unwrap().is_some());
    // Once CA1 is pruned, v7 goes too.
    let pruned = store
        .prune(t("2027-01-01T00:00:00.000Z"), &keep)
        .await
        .unwrap();
    assert_eq!(
        (pruned.calls, pruned.events, pruned.flow_versions),
        (1, 1, 1)
    );
    assert_eq!(db.count("sessions").await, 0);
    assert_eq!(db.count("calls").await, 0);
    assert!(store.flow_version("v9").await.unwrap().is_some());
    // Nothing to keep.
    let pruned = store
        .prune(t("2027-01-01T00:00:00.000Z"), &[])
        .await
        .unwrap();
    assert_eq!(pruned.flow_versions, 1);
}

async fn sessions_of_ended_calls_expire_and_their_log_stays(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    store.commit(commit("CE1", &[1], Some("a"))).await.unwrap();
    let mut ended = next("CE1", 1, 1, "b");
    ended.session.set_outcome(Outcome::SelfService);
    ended.session.end();
    ended.now = t("2026-11-24T15:05:00.000Z");
    store.commit(ended).await.unwrap();
    store.commit(commit("CE2", &[1], Some("a"))).await.unwrap();
    assert_eq!(
        store
            .expire_sessions(t("2026-11-24T15:04:00.000Z"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .expire_sessions(t("2026-11-24T15:06:00.000Z"))
            .await
            .unwrap(),
        1
    );
    assert!(store.session("CE1").await.unwrap().is_none());
    assert!(store.reply("CE1", "a").await.unwrap().is_none());
    assert_eq!(store.events("CE1").await.unwrap().len(), 2);
    assert!(
        store.session("CE2").await.unwrap().is_some(),
        "a live call keeps its session"
    );
    assert!(store.reply("CE2", "a").await.unwrap().is_some());
}

#[test]
fn an_unreachable_postgres_is_an_error_at_open_not_a_panic() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let err = open_store("postgres://phonetree:secret@127.0.0.1:1/calls?sslmode=disable")
        .err()
        .expect("no server there");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Database(_)), "{text}");
    assert!(text.contains("connect"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn store_urls_of_other_kinds_are_unsupported() {
    assert!(matches!(
        open_store("mysql://root@127.0.0.1/calls"),
        Err(StoreError::Unsupported(_))
    ));
}

/// Commits per second of one store, 32 tasks committing 2000 webhooks (250 calls of eight,
/// three events each); prints, asserts nothing about time. PostgreSQL is measured as the
/// test server runs (fsync off) and with fsync on. Run it with
/// `cargo test --release --test store_contract -- --ignored --nocapture commit_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn commit_throughput() {
    async fn measure(store: Arc<dyn Store>) -> f64 {
        const CALLS: u32 = 250;
        const WEBHOOKS: u32 = 8;
        let next_call = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let started = std::time::Instant::now();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (store, next_call) = (Arc::clone(&store), Arc::clone(&next_call));
                tokio::spawn(async move {
                    loop {
                        let n = next_call.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= CALLS {
                            return;
                        }
                        let sid = format!("CT{n}");
                        let mut base = None;
                        for w in 0..WEBHOOKS {
                            let from = base.unwrap_or(0);
                            let mut c = next(&sid, from, 3, &format!("w{w}"));
                            c.base_seq = base;
                            assert_eq!(store.commit(c).await.unwrap(), CommitOutcome::Stored);
                            base = Some(from + 3);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        f64::from(CALLS * WEBHOOKS) / started.elapsed().as_secs_f64()
    }
    let report = |what: &str, per_second: f64| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "commit_throughput: {what}: {per_second:.0} commits/s"
        );
    };
    let sqlite = Database::new(Kind::Sqlite).await.unwrap();
    report(
        "SQLite (WAL, synchronous=FULL)",
        measure(sqlite.open()).await,
    );
    let Some(pg) = Database::new(Kind::Postgres).await else {
        return;
    };
    report("PostgreSQL (fsync off)", measure(pg.open()).await);
    let fresh = Database::new(Kind::Postgres).await.unwrap();
    // ALTER SYSTEM runs outside a transaction, so alone.
    pg::execute(&fresh.url, "ALTER SYSTEM SET fsync = on").await;
    pg::execute(&fresh.url, "SELECT pg_reload_conf()").await;
    let fsync: String = pg::query(&fresh.url, "SHOW fsync").await[0].get(0);
    assert_eq!(fsync, "on");
    report("PostgreSQL (fsync on)", measure(fresh.open()).await);
    pg::execute(&fresh.url, "ALTER SYSTEM RESET fsync").await;
    pg::execute(&fresh.url, "SELECT pg_reload_conf()").await;
}

/// A pooled connection that the server closed (a restart, an idle timeout, an operator's
/// `pg_terminate_backend`) is replaced: the next commit and read do not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_postgres_server_closed_is_replaced() {
    let Some(db) = Database::new(Kind::Postgres).await else {
        return;
    };
    let store = db.open();
    store.commit(commit("CK1", &[1], Some("a"))).await.unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    for round in 0..10u32 {
        let terminated = db
            .number(&format!(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND application_name = 'phonetree'"
            ))
            .await;
        assert!(
            terminated >= 1,
            "round {round}: the store had a connection open"
        );
        let base = 1 + round;
        assert_eq!(
            store
                .commit(next("CK1", base, 1, &format!("b{round}")))
                .await
                .unwrap(),
            CommitOutcome::Stored,
            "round {round}"
        );
    }
    assert_eq!(store.events("CK1").await.unwrap().len(), 11);
    store.check().await.unwrap();
}

async fn range_reads_select_calls_started_in_the_range_in_order(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    // Committed out of start order; CB2 and CA9 start at the same instant, so the call id
    // decides; events are logged out of seq order and over two webhooks.
    let calls = [
        ("CC1", "billing", "2026-11-24T12:00:00.000Z"),
        ("CB2", "main", "2026-11-24T10:00:00.000Z"),
        ("CA9", "main", "2026-11-24T10:00:00.000Z"),
        ("CD4", "billing", "2026-11-24T09:59:59.999Z"),
        ("CE5", "main", "2026-11-24T14:00:00.000Z"),
        ("CF6", "sales", "2026-11-24T11:30:00.000Z"),
    ];
    for (sid, flow, start) in calls {
        assert_eq!(
            store
                .commit(call_at(sid, flow, t(start), &[3, 1, 2]))
                .await
                .unwrap(),
            CommitOutcome::Stored
        );
        let mut then = call_at(sid, flow, t(start), &[4]);
        then.base_seq = Some(3);
        assert_eq!(store.commit(then).await.unwrap(), CommitOutcome::Stored);
    }
    // `from` is in, `to` is out: CB2/CA9 start at `from`, CE5 at `to`, CD4 just before.
    let day = range(None, "2026-11-24T10:00:00.000Z", "2026-11-24T14:00:00.000Z");
    let sids = sids_in(&*store, &day).await;
    assert_eq!(sids, ["CA9", "CB2", "CF6", "CC1"]);
    let records: Vec<CallRecord> = store.calls_in(&day).try_collect().await.unwrap();
    for record in &records {
        assert_eq!(
            Some(record),
            store.call(&record.call_sid).await.unwrap().as_ref()
        );
    }
    let mut want_events = Vec::new();
    for sid in &sids {
        want_events.extend(store.events(sid).await.unwrap());
    }
    assert_eq!(want_events.len(), 16);
    let events: Vec<_> = store.events_in(&day).try_collect().await.unwrap();
    assert_eq!(events, want_events);
    assert_eq!(
        event_keys_in(&*store, &day).await[..5],
        [
            ("CA9".to_owned(), 1),
            ("CA9".to_owned(), 2),
            ("CA9".to_owned(), 3),
            ("CA9".to_owned(), 4),
            ("CB2".to_owned(), 1)
        ]
    );

    let wider = range(None, "2026-11-24T09:59:59.999Z", "2026-11-24T14:00:00.001Z");
    assert_eq!(
        sids_in(&*store, &wider).await,
        ["CD4", "CA9", "CB2", "CF6", "CC1", "CE5"]
    );
    let billing = range(
        Some("billing"),
        "2026-11-24T00:00:00.000Z",
        "2026-11-25T00:00:00.000Z",
    );
    assert_eq!(sids_in(&*store, &billing).await, ["CD4", "CC1"]);
    let keys = event_keys_in(&*store, &billing).await;
    let want: Vec<(String, u32)> = ["CD4", "CC1"]
        .iter()
        .flat_map(|sid| (1..=4).map(move |seq| (sid.to_string(), seq)))
        .collect();
    assert_eq!(keys, want);
    let main_by_ten = range(
        Some("main"),
        "2026-11-24T00:00:00.000Z",
        "2026-11-24T10:00:00.001Z",
    );
    assert_eq!(sids_in(&*store, &main_by_ten).await, ["CA9", "CB2"]);
}

async fn range_reads_of_an_empty_range_are_empty(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let at = t("2026-11-24T10:00:00.000Z");
    store
        .commit(call_at("CA1", "main", at, &[1, 2]))
        .await
        .unwrap();
    for empty in [
        range(None, "2026-11-24T10:00:00.000Z", "2026-11-24T10:00:00.000Z"),
        range(None, "2026-11-24T10:00:00.001Z", "2026-11-25T00:00:00.000Z"),
        range(None, "2026-11-24T00:00:00.000Z", "2026-11-24T10:00:00.000Z"),
        range(
            Some("billing"),
            "2026-11-24T00:00:00.000Z",
            "2026-11-25T00:00:00.000Z",
        ),
    ] {
        assert!(sids_in(&*store, &empty).await.is_empty(), "{empty:?}");
        assert!(event_keys_in(&*store, &empty).await.is_empty(), "{empty:?}");
    }
    let all = range(None, "2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z");
    assert_eq!(sids_in(&*store, &all).await, ["CA1"]);
}

/// More rows than a read sends ahead, so the reader is waiting on its consumer when the
/// consumer goes; more dropped reads than the PostgreSQL pool has connections.
async fn a_range_read_dropped_after_its_first_row_frees_the_store(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let start = t("2026-11-24T10:00:00.000Z");
    let tasks: Vec<_> = (0..600)
        .map(|i| {
            let store = Arc::clone(&store);
            let at = start + chrono::Duration::seconds(i);
            tokio::spawn(async move {
                store
                    .commit(call_at(&format!("CA{i:04}"), "main", at, &[1, 2]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), CommitOutcome::Stored);
    }
    let all = range(None, "2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z");
    let within = std::time::Duration::from_secs(60);
    for round in 0..24 {
        let mut calls = store.calls_in(&all);
        let first = tokio::time::timeout(within, calls.next())
            .await
            .expect("first call within a minute")
            .unwrap()
            .unwrap();
        assert_eq!(first.call_sid, "CA0000");
        drop(calls);
        let mut events = store.events_in(&all);
        let first = tokio::time::timeout(within, events.next())
            .await
            .expect("first event within a minute")
            .unwrap()
            .unwrap();
        assert_eq!((first.call_sid.as_str(), first.seq), ("CA0000", 1));
        drop(events);
        if round % 8 == 0 {
            let commit = call_at(&format!("CD{round}"), "main", start, &[1]);
            let stored = tokio::time::timeout(within, store.commit(commit)).await;
            assert_eq!(
                stored.expect("commit within a minute").unwrap(),
                CommitOutcome::Stored
            );
        }
    }
    let read = tokio::time::timeout(within, sids_in(&*store, &all))
        .await
        .expect("a full read within a minute");
    assert_eq!(read.len(), 603);
    assert_eq!(store.events("CA0599").await.unwrap().len(), 2);
}

async fn a_large_range_reads_back_completely_and_in_order(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    const CALLS: u32 = 3000;
    let start = t("2026-11-24T00:00:00.000Z");
    // Three calls start each second; the call ids are not in start order.
    let calls: Vec<(String, DateTime<Utc>)> = (0..CALLS)
        .map(|i| {
            let sid = format!("CL{:05}", (i * 7919) % CALLS);
            (sid, start + chrono::Duration::seconds(i64::from(i / 3)))
        })
        .collect();
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let store = Arc::clone(&store);
            let mine: Vec<_> = calls.iter().skip(w).step_by(32).cloned().collect();
            tokio::spawn(async move {
                for (sid, at) in mine {
                    let flow = if sid.ends_with('7') {
                        "billing"
                    } else {
                        "main"
                    };
                    let stored = store
                        .commit(call_at(&sid, flow, at, &[1, 2, 3, 4, 5]))
                        .await?;
                    assert_eq!(stored, CommitOutcome::Stored);
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let mut want = calls.clone();
    want.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let want: Vec<String> = want.into_iter().map(|(sid, _)| sid).collect();
    let all = range(None, "2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z");
    let sids = sids_in(&*store, &all).await;
    assert_eq!(sids.len(), CALLS as usize);
    assert!(sids == want, "calls out of start or call id order");
    let keys = event_keys_in(&*store, &all).await;
    assert_eq!(keys.len(), 5 * CALLS as usize);
    let want_keys: Vec<(String, u32)> = want
        .iter()
        .flat_map(|sid| (1..=5).map(move |seq| (sid.clone(), seq)))
        .collect();
    assert!(keys == want_keys, "events out of call or seq order");
    let billing = range(
        Some("billing"),
        "2026-11-24T00:00:00.000Z",
        "2026-11-25T00:00:00.000Z",
    );
    let want_billing: Vec<String> = want.iter().filter(|s| s.ends_with('7')).cloned().collect();
    assert_eq!(want_billing.len(), 300);
    assert!(sids_in(&*store, &billing).await == want_billing);
    // Enough calls of one flow for a read cut between readers (SQLite).
    let main = range(
        Some("main"),
        "2026-11-24T00:00:00.000Z",
        "2026-11-25T00:00:00.000Z",
    );
    let want_main: Vec<(String, u32)> = want_keys
        .into_iter()
        .filter(|(sid, _)| !sid.ends_with('7'))
        .collect();
    assert!(
        event_keys_in(&*store, &main).await == want_main,
        "events of one flow out of call or seq order"
    );
}

/// A call whose session was made again (its stored one lost) with another start: the call
/// row keeps the first start, and so do all its events.
async fn events_follow_their_call_when_its_session_starts_over(kind: Kind) {
    let Some(db) = Database::new(kind).await else {
        return;
    };
    let store = db.open();
    let first = t("2026-11-24T10:00:00.000Z");
    store
        .commit(call_at("CA1", "main", first, &[1, 2]))
        .await
        .unwrap();
    store
        .commit(call_at("CB1", "main", t("2026-11-24T11:00:00.000Z"), &[1]))
        .await
        .unwrap();
    let mut again = call_at("CA1", "main", t("2026-11-24T12:00:00.000Z"), &[3]);
    again.base_seq = Some(2);
    assert_eq!(store.commit(again).await.unwrap(), CommitOutcome::Stored);
    assert_eq!(store.call("CA1").await.unwrap().unwrap().started_at, first);
    let want: Vec<(String, u32)> = [("CA1", 1), ("CA1", 2), ("CA1", 3), ("CB1", 1)]
        .into_iter()
        .map(|(sid, seq)| (sid.to_owned(), seq))
        .collect();
    for flow in [None, Some("main")] {
        let day = range(flow, "2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z");
        assert_eq!(sids_in(&*store, &day).await, ["CA1", "CB1"]);
        assert_eq!(event_keys_in(&*store, &day).await, want, "{flow:?}");
    }
    let morning = range(None, "2026-11-24T00:00:00.000Z", "2026-11-24T10:30:00.000Z");
    assert_eq!(
        event_keys_in(&*store, &morning).await,
        want[..3],
        "a range holds a call's events by the call's start"
    );
}
