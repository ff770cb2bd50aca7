//! Several `phonetree serve` processes on one store, the way a load balancer
//! spreads a call's webhooks: every webhook of a call may reach another server.
//! Each test body runs on every store kind: one SQLite file shared by the
//! processes, and (when its server binaries are there) a throwaway PostgreSQL.

mod common;
#[path = "common/process.rs"]
mod process;

use common::*;
use process::{ServeProcess, write_acme_without_hours};

/// What every server calls itself in the TwiML it writes; the test sends each request to
/// the server it picks instead, as a load balancer would.
const PUBLIC: &str = "https://ivr.example.test";

/// Servers on one store, and the caller's side of a call spread over them.
struct Cluster {
    servers: Vec<Option<ServeProcess>>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(n: usize, store: &str, crm: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = write_acme_without_hours(dir.path(), crm);
        let prompts = repo().join("prompts");
        let servers = (0..n)
            .map(|_| {
                Some(ServeProcess::start(
                    &[
                        "--flows",
                        flows.to_str().expect("utf-8"),
                        "--prompts",
                        prompts.to_str().expect("utf-8"),
                        "--store",
                        store,
                        "--public-url",
                        PUBLIC,
                        "--no-watch",
                    ],
                    None,
                ))
            })
            .collect();
        Cluster { servers, _dir: dir }
    }

    fn base(&self, i: usize) -> String {
        self.servers[i].as_ref().expect("server running").base()
    }

    fn kill(&mut self, i: usize) {
        if let Some(s) = self.servers[i].take() {
            s.kill();
        }
    }

    fn logs(&self) -> String {
        self.servers
            .iter()
            .flatten()
            .map(|s| s.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// `url` as written by a server, sent to server `i` instead.
fn at(cluster: &Cluster, i: usize, url: &str) -> String {
    url.replacen(PUBLIC, &cluster.base(i), 1)
}

/// POSTs Twilio's form for `call` to `url` and parses the answer, which must be a 200.
async fn post(cluster: &Cluster, call: &mut Call, url: &str, extra: &[(&str, &str)]) -> Element {
    let (status, _, body) = call.post_raw(url, extra).await;
    assert_eq!(status, 200, "{url}: {body}\n{}", cluster.logs());
    call.last = parse_twiml(&body);
    call.last.clone()
}

async fn press(cluster: &Cluster, i: usize, call: &mut Call, digits: &str) -> Element {
    let url = at(cluster, i, &call.gather_action());
    post(cluster, call, &url, &[("Digits", digits)]).await
}

async fn silence(cluster: &Cluster, i: usize, call: &mut Call) -> Element {
    let redirect = call.last.find("Redirect").expect("a Redirect").text.clone();
    let url = at(cluster, i, &redirect);
    post(cluster, call, &url, &[]).await
}

fn caller(cluster: &Cluster, label: &str) -> Call {
    Call {
        http: reqwest::Client::new(),
        base: cluster.base(0),
        sid: sid(label),
        from: "+15551230000".into(),
        to: "+14155550199".into(),
        last: Element::default(),
    }
}

async fn kinds(store: &str, sid: &str) -> Vec<String> {
    let store = phonetree::store::open_store(store).expect("store");
    store
        .events(sid)
        .await
        .expect("events")
        .iter()
        .map(|e| format!("{}@{}", e.kind.as_str(), e.node.as_deref().unwrap_or("")))
        .collect()
}

/// Every webhook of one call goes to the other server than the last: the language, the
/// variables and the retry counter carry over, every answer is a 200.
async fn alternating_servers_carry_the_call(store: &str) {
    let (crm, _crm) = start_crm().await;
    let cluster = Cluster::start(2, store, &crm);
    let mut call = caller(&cluster, "CA-alternating");
    let start = format!("{}/twilio/voice", cluster.base(0));
    post(&cluster, &mut call, &start, &[]).await;
    let t = press(&cluster, 1, &mut call, "2").await; // Spanish, on server 1
    assert!(t.said().contains("Para el saldo"), "{}", t.said());
    let t = press(&cluster, 0, &mut call, "9").await; // invalid, on server 0
    assert!(t.said().starts_with("Lo siento, esa no es"), "{}", t.said());
    assert!(call.gather_action().contains("attempt=2"));
    let t = silence(&cluster, 1, &mut call).await; // no input, on server 1
    assert!(
        t.said().starts_with("Lo siento, no escuché"),
        "{}",
        t.said()
    );
    assert!(
        call.gather_action().contains("attempt=3"),
        "the retry counter carried over"
    );
    press(&cluster, 0, &mut call, "1").await;
    let t = press(&cluster, 1, &mut call, "123456#").await;
    assert!(
        t.said()
            .contains("El saldo de la cuenta 1 2 3 4 5 6 es de 42.50 dólares."),
        "the account from server 0, the lookup on server 1: {}",
        t.said()
    );
    let t = press(&cluster, 0, &mut call, "5").await;
    assert_eq!(t.verbs().last(), Some(&"Hangup"));
    let status = format!("{}/twilio/status", cluster.base(1));
    post(&cluster, &mut call, &status, &[("CallStatus", "completed")]).await;
    let kinds = kinds(store, &call.sid).await;
    for want in [
        "invalid@main_menu",
        "no_input@main_menu",
        "lookup_ok@lookup_account",
        "key@survey",
        "call_ended@goodbye",
    ] {
        assert!(kinds.iter().any(|k| k == want), "{want} in {kinds:?}");
    }
}

/// The same continuation webhook delivered to both servers at once, three copies each:
/// identical answers and one set of rows.
async fn copies_to_both_servers_get_one_answer(store: &str) {
    let cluster = Cluster::start(2, store, "127.0.0.1:9");
    let mut call = caller(&cluster, "CA-copies-both");
    let start = format!("{}/twilio/voice", cluster.base(0));
    post(&cluster, &mut call, &start, &[]).await;
    press(&cluster, 1, &mut call, "1").await;
    let action = call.gather_action();
    let copies: Vec<_> = (0..6)
        .map(|i| {
            let url = at(&cluster, i % 2, &action);
            let call = caller(&cluster, "CA-copies-both");
            tokio::spawn(async move { call.post_raw(&url, &[("Digits", "2")]).await })
        })
        .collect();
    let mut answers = Vec::new();
    for c in copies {
        let (status, _, body) = c.await.expect("task");
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "{answers:#?}\n{}",
        cluster.logs()
    );
    assert!(parse_twiml(&answers[0]).find("Enqueue").is_some());
    let kinds = kinds(store, &call.sid).await;
    let keys = kinds.iter().filter(|k| *k == "key@main_menu").count();
    assert_eq!(keys, 1, "{kinds:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "queued@support_queue")
            .count(),
        1
    );
}

/// One server is killed mid-call; the call goes on on the other and its log is whole.
async fn a_killed_server_loses_nothing(store: &str) {
    let cluster = Cluster::start(2, store, "127.0.0.1:9");
    let mut cluster = cluster;
    let mut call = caller(&cluster, "CA-kill-one");
    let start = format!("{}/twilio/voice", cluster.base(0));
    post(&cluster, &mut call, &start, &[]).await;
    press(&cluster, 0, &mut call, "1").await;
    cluster.kill(0);
    let t = press(&cluster, 1, &mut call, "3").await; // voicemail, on the survivor
    assert!(t.find("Record").is_some(), "{t:?}");
    let record = t.find("Record").unwrap().attr("action").unwrap().to_owned();
    let url = at(&cluster, 1, &record);
    post(
        &cluster,
        &mut call,
        &url,
        &[
            ("RecordingUrl", "https://api.twilio.com/recordings/RE1"),
            ("RecordingDuration", "9"),
        ],
    )
    .await;
    let kinds = kinds(store, &call.sid).await;
    assert_eq!(
        kinds,
        [
            "call_started@",
            "entered@language",
            "key@language",
            "set@language",
            "entered@main_menu",
            "key@main_menu",
            "entered@voicemail",
            "recorded@voicemail",
            "entered@goodbye",
            "flow_hangup@goodbye",
        ],
        "{}",
        cluster.logs()
    );
}

fn sqlite_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternating_servers_carry_the_call_on_sqlite() {
    let (_dir, store) = sqlite_store();
    alternating_servers_carry_the_call(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_both_servers_get_one_answer_on_sqlite() {
    let (_dir, store) = sqlite_store();
    copies_to_both_servers_get_one_answer(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_nothing_on_sqlite() {
    let (_dir, store) = sqlite_store();
    a_killed_server_loses_nothing(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternating_servers_carry_the_call_on_postgres() {
    let Some(store) = pg::database().await else {
        return;
    };
    alternating_servers_carry_the_call(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_both_servers_get_one_answer_on_postgres() {
    let Some(store) = pg::database().await else {
        return;
    };
    copies_to_both_servers_get_one_answer(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_nothing_on_postgres() {
    let Some(store) = pg::database().await else {
        return;
    };
    a_killed_server_loses_nothing(&store).await;
}
