//! Two real `phonetree serve` processes on one PostgreSQL database, as behind a load
//! balancer: every webhook of every call is delivered to both at once (a provider retry
//! that lands on the other server), and each call's next webhook goes to either. Says
//! SKIPPED and passes on a machine without PostgreSQL server binaries.
#![cfg(unix)]

mod common;
#[path = "common/process.rs"]
mod process;

use common::{Element, parse_twiml, pg};
use phonetree::call::EventKind;
use process::{ServeProcess, write_acme_without_hours};

/// The address both servers write into their TwiML, as the balancer's would be; the test
/// sends each request to a real server in its place (nothing listens here).
const PUBLIC_URL: &str = "http://127.0.0.1:9";

/// One caller, whose every webhook both servers answer.
struct Caller {
    http: reqwest::Client,
    sid: String,
    last: Element,
}

impl Caller {
    /// Posts `path` (with `extra` form fields) to both servers at once; both must give the
    /// same answer, which becomes the call's last.
    async fn both(&mut self, servers: &[String; 2], path: &str, extra: &[(&str, &str)]) {
        let mut form: Vec<(&str, &str)> = vec![
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("CallSid", &self.sid),
            ("From", "+15551230000"),
            ("To", "+14155550199"),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ];
        for (k, v) in extra {
            form.retain(|(key, _)| key != k);
            form.push((k, v));
        }
        let post = |base: &String| {
            let request = self.http.post(format!("{base}{path}")).form(&form).send();
            async move {
                let response = request.await.expect("request");
                assert_eq!(response.status(), 200, "{path}");
                response.text().await.expect("body")
            }
        };
        let (a, b) = tokio::join!(post(&servers[0]), post(&servers[1]));
        assert_eq!(
            a, b,
            "{} {path}: the two servers answered differently",
            self.sid
        );
        self.last = parse_twiml(&a);
    }

    /// The path and query of a URL in the last answer.
    fn path_of(&self, verb: &str, attr: Option<&str>) -> String {
        let element = self
            .last
            .find(verb)
            .unwrap_or_else(|| panic!("no <{verb}> in {:?}", self.last));
        let url = match attr {
            Some(attr) => element.attr(attr).expect("URL attribute").to_owned(),
            None => element.text.clone(),
        };
        url.strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
            .to_owned()
    }

    /// The caller presses `digits` at the last `<Gather>`.
    async fn press(&mut self, servers: &[String; 2], digits: &str) {
        let path = self.path_of("Gather", Some("action"));
        self.both(servers, &path, &[("Digits", digits)]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_answer_each_webhook_once() {
    let Some(url) = pg::database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = write_acme_without_hours(dir.path(), "127.0.0.1:9");
    let prompts = common::repo().join("prompts");
    let args = [
        "--flows",
        flows.to_str().expect("utf-8 path"),
        "--prompts",
        prompts.to_str().expect("utf-8 path"),
        "--store",
        &url,
        "--public-url",
        PUBLIC_URL,
        "--no-watch",
    ];
    let (a, b) = (
        ServeProcess::start(&args, None),
        ServeProcess::start(&args, None),
    );
    let bases = [a.base(), b.base()];
    for base in &bases {
        let health = reqwest::get(format!("{base}/healthz"))
            .await
            .expect("healthz");
        assert_eq!(
            health.status(),
            200,
            "{}",
            health.text().await.unwrap_or_default()
        );
    }

    let calls: Vec<_> = (0..8)
        .map(|n| {
            // Half the calls start with the servers the other way round.
            let servers = if n % 2 == 0 {
                bases.clone()
            } else {
                [bases[1].clone(), bases[0].clone()]
            };
            tokio::spawn(async move {
                let mut caller = Caller {
                    http: reqwest::Client::new(),
                    sid: common::sid(&format!("CA-shared-{n}")),
                    last: Element::default(),
                };
                caller.both(&servers, "/twilio/voice", &[]).await;
                caller.press(&servers, "1").await; // English
                assert!(caller.last.said().contains("For your account balance"));
                caller.press(&servers, "*").await; // the menu again
                caller.press(&servers, "0").await; // the operator
                let dial = caller.path_of("Dial", Some("action"));
                let result = [("DialCallStatus", "completed"), ("DialCallDuration", "42")];
                caller.both(&servers, &dial, &result).await;
                assert!(
                    caller.last.said().contains("how satisfied"),
                    "{}",
                    caller.last.said()
                );
                caller.press(&servers, "5").await;
                assert_eq!(caller.last.verbs().last(), Some(&"Hangup"));
                caller
                    .both(&servers, "/twilio/status", &[("CallStatus", "completed")])
                    .await;
                caller.sid
            })
        })
        .collect();
    let mut sids = Vec::new();
    for call in calls {
        sids.push(call.await.expect("call"));
    }

    let store = phonetree::store::open_store(&url).expect("open the shared store");
    for sid in &sids {
        let events = store.events(sid).await.expect("events");
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=events.len() as u32).collect::<Vec<_>>(),
            "{sid}: one gap-free log"
        );
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert!(!kinds.contains(&EventKind::Fault), "{sid}: {kinds:?}");
        for once in [EventKind::CallStarted, EventKind::CallEnded] {
            assert_eq!(
                kinds.iter().filter(|k| **k == once).count(),
                1,
                "{sid}: {kinds:?}"
            );
        }
        assert_eq!(
            kinds.iter().filter(|k| **k == EventKind::Key).count(),
            4,
            "{sid}: each key once: {kinds:?}"
        );
        let record = store.call(sid).await.expect("call").expect("row");
        assert!(record.ended_at.is_some(), "{sid}");
    }
    let replies: i64 = pg::query(&url, "SELECT COUNT(*) FROM webhook_replies").await[0].get(0);
    assert_eq!(replies, 8 * 7, "one stored answer per webhook");
}
