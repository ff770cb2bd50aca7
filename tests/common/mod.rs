//! Test harness: runs the real server on 127.0.0.1 and talks to it the way
//! Twilio does, following the URLs in the TwiML it answers.
#![allow(dead_code, deprecated)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use phonetree::server::{AppState, FlowRegistry, ServerOptions, run};
use phonetree::store::{Store, open_store};
use quick_xml::Reader;
use quick_xml::events::Event;
use tokio::sync::oneshot;

pub mod pg;

/// A parsed TwiML element.
#[derive(Debug, Clone, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// All descendants (depth first) with this name.
    pub fn find_all(&self, name: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            out.extend(c.find_all(name));
        }
        out
    }
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.find_all(name).into_iter().next()
    }
    /// Everything spoken, in order.
    pub fn says(&self) -> Vec<String> {
        self.find_all("Say")
            .iter()
            .map(|e| e.text.clone())
            .collect()
    }
    pub fn said(&self) -> String {
        self.says().join(" | ")
    }
    pub fn verbs(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Parses a TwiML document; panics (fails the test) when it is not well-formed or the root is not `<Response>`.
pub fn parse_twiml(xml: &str) -> Element {
    try_parse_twiml(xml).unwrap_or_else(|e| panic!("invalid TwiML ({e}):\n{xml}"))
}

/// Parses a TwiML document, checking it is well-formed with a `<Response>` root.
pub fn try_parse_twiml(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(s) => {
                let mut el = Element {
                    name: s.name().0.to_owned(),
                    ..Default::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
                    el.attrs.push((a.key.0.to_owned(), v));
                }
                stack.push(el);
            }
            Event::Empty(s) => {
                let mut el = Element {
                    name: s.name().0.to_owned(),
                    ..Default::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
                    el.attrs.push((a.key.0.to_owned(), v));
                }
                stack.last_mut().ok_or("no parent")?.children.push(el);
            }
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner().into_owned();
                let ch = match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => {
                        let code = other
                            .strip_prefix("#x")
                            .map(|h| u32::from_str_radix(h, 16))
                            .or_else(|| other.strip_prefix('#').map(str::parse::<u32>))
                            .ok_or_else(|| format!("unknown entity &{other};"))?
                            .map_err(|e| e.to_string())?;
                        let c = char::from_u32(code).ok_or("bad char ref")?;
                        if let Some(top) = stack.last_mut() {
                            top.text.push(c);
                        }
                        continue;
                    }
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(ch);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced")?;
                stack.last_mut().ok_or("unbalanced end")?.children.push(el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = stack.pop().ok_or("empty")?;
    if !stack.is_empty() {
        return Err("unclosed elements".into());
    }
    let elements: Vec<Element> = root.children;
    match elements.as_slice() {
        [only] if only.name == "Response" => Ok(only.clone()),
        _ => Err(format!(
            "root is not a single <Response>: {:?}",
            elements.iter().map(|e| &e.name).collect::<Vec<_>>()
        )),
    }
}

/// A running server and what the test needs to reach it.
pub struct TestServer {
    pub base: String,
    pub registry: Arc<FlowRegistry>,
    pub store: Arc<dyn Store>,
    /// The URL the store was opened with (`sqlite://DIR/calls.db` unless a test gave one).
    pub store_url: String,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Copies the shipped flows and prompts into a temp dir, pointing the Acme
    /// lookup at `crm` (a `127.0.0.1:PORT` address), and serves them at a fixed time.
    pub async fn acme(crm: &str, now: DateTime<Utc>, auth_token: Option<&str>) -> TestServer {
        TestServer::acme_on(crm, now, auth_token, None).await
    }

    /// [`TestServer::acme`], keeping its calls in the store `store_url` names (default: a
    /// SQLite file in the temp dir).
    pub async fn acme_on(
        crm: &str,
        now: DateTime<Utc>,
        auth_token: Option<&str>,
        store_url: Option<&str>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = dir.path().join("flows");
        std::fs::create_dir_all(&flows).expect("mkdir");
        let acme = std::fs::read_to_string(repo().join("flows/acme.yaml")).expect("acme.yaml");
        std::fs::write(flows.join("acme.yaml"), acme.replace("127.0.0.1:9000", crm))
            .expect("write");
        let prompts = repo().join("prompts");
        TestServer::start_with_store(dir, flows, prompts, now, auth_token, None, store_url).await
    }

    /// Serves `flows` and `prompts` at a fixed time.
    pub async fn start(
        dir: tempfile::TempDir,
        flows: PathBuf,
        prompts: PathBuf,
        now: DateTime<Utc>,
        auth_token: Option<&str>,
    ) -> TestServer {
        TestServer::start_at(dir, flows, prompts, now, auth_token, None).await
    }

    /// Serves `flows` and `prompts` at a fixed time, telling the flows it is reached at
    /// `public_url` (default: its own address), as behind a proxy.
    pub async fn start_at(
        dir: tempfile::TempDir,
        flows: PathBuf,
        prompts: PathBuf,
        now: DateTime<Utc>,
        auth_token: Option<&str>,
        public_url: Option<&str>,
    ) -> TestServer {
        TestServer::start_with_store(dir, flows, prompts, now, auth_token, public_url, None).await
    }

    /// [`TestServer::start_at`] on the store `store_url` names (default: a SQLite file
    /// `calls.db` in `dir`).
    pub async fn start_with_store(
        dir: tempfile::TempDir,
        flows: PathBuf,
        prompts: PathBuf,
        now: DateTime<Utc>,
        auth_token: Option<&str>,
        public_url: Option<&str>,
        store_url: Option<&str>,
    ) -> TestServer {
        let clock: phonetree::server::Clock = Arc::new(move || now);
        TestServer::start_with_clock(
            dir, flows, prompts, clock, auth_token, public_url, store_url,
        )
        .await
    }

    /// [`TestServer::start_with_store`] telling the time by `clock` (a test moves it).
    pub async fn start_with_clock(
        dir: tempfile::TempDir,
        flows: PathBuf,
        prompts: PathBuf,
        clock: phonetree::server::Clock,
        auth_token: Option<&str>,
        public_url: Option<&str>,
        store_url: Option<&str>,
    ) -> TestServer {
        let registry = FlowRegistry::load(flows, prompts)
            .unwrap_or_else(|e| panic!("flows must compile: {e}"));
        let store_url = store_url.map_or_else(
            || format!("sqlite://{}", dir.path().join("calls.db").display()),
            str::to_owned,
        );
        let store = open_store(&store_url).expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let options = ServerOptions {
            public_url: public_url.map_or_else(|| base.clone(), str::to_owned),
            auth_token: auth_token.map(str::to_owned),
            clock,
            timeouts: Default::default(),
        };
        let registry = Arc::new(registry.with_store(store.clone()).await);
        let state = AppState::new(registry.clone(), store.clone(), options);
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(run(listener, state, async {
            let _ = rx.await;
        }));
        TestServer {
            base,
            registry,
            store,
            store_url,
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// A caller; `label` names the call in the test and becomes a Twilio-shaped CallSid ([`sid`]).
    pub fn call(&self, label: &str) -> Call {
        Call {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            sid: sid(label),
            from: "+15551230000".to_owned(),
            to: "+14155550199".to_owned(),
            last: Element::default(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }
}

/// The CallSid a test's call label stands for: `CA` and 32 hex digits, the same for the same label.
pub fn sid(label: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(label.as_bytes());
    format!("CA{}", hex::encode(&digest[..16]))
}

/// Copies the directory `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Replaces `from` by `to` in `file`, writing it in place.
pub fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One caller's call, driven like Twilio drives it.
pub struct Call {
    pub http: reqwest::Client,
    pub base: String,
    pub sid: String,
    pub from: String,
    pub to: String,
    /// The last TwiML answered.
    pub last: Element,
}

impl Call {
    fn form(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = vec![
            (
                "AccountSid".into(),
                "AC00000000000000000000000000000000".into(),
            ),
            ("CallSid".into(), self.sid.clone()),
            ("From".into(), self.from.clone()),
            ("To".into(), self.to.clone()),
            ("CallStatus".into(), "in-progress".into()),
            ("Direction".into(), "inbound".into()),
            ("ApiVersion".into(), "2010-04-01".into()),
        ];
        for (k, v) in extra {
            f.retain(|(key, _)| key != k);
            f.push((k.to_string(), v.to_string()));
        }
        f
    }

    /// The form Twilio would send with `extra`, for tests that sign or send it themselves.
    pub fn form_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        self.form(extra)
    }

    /// POSTs a form to `url` and returns the raw answer.
    pub async fn post_raw(&self, url: &str, extra: &[(&str, &str)]) -> (u16, String, String) {
        let resp = self
            .http
            .post(url)
            .form(&self.form(extra))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, ctype, resp.text().await.expect("body"))
    }

    async fn post(&mut self, url: &str, extra: &[(&str, &str)]) -> Element {
        let (status, ctype, body) = self.post_raw(url, extra).await;
        assert_eq!(status, 200, "{url} answered {status}: {body}");
        assert_eq!(ctype, "text/xml; charset=utf-8", "{url}");
        self.last = parse_twiml(&body);
        self.last.clone()
    }

    /// The call comes in.
    pub async fn start(&mut self) -> Element {
        let url = format!("{}/twilio/voice", self.base);
        self.post(&url, &[]).await
    }

    /// The `<Gather action>` URL of the last answer.
    pub fn gather_action(&self) -> String {
        let g = self
            .last
            .find("Gather")
            .unwrap_or_else(|| panic!("no <Gather> in {:?}", self.last));
        g.attr("action").expect("Gather action").to_owned()
    }

    /// The caller presses keys at the current Gather.
    pub async fn press(&mut self, digits: &str) -> Element {
        let url = self.gather_action();
        self.post(&url, &[("Digits", digits)]).await
    }

    /// The caller says nothing: Twilio falls through the Gather to the Redirect.
    pub async fn silence(&mut self) -> Element {
        let r = self
            .last
            .find("Redirect")
            .unwrap_or_else(|| panic!("no <Redirect> in {:?}", self.last));
        let url = r.text.clone();
        self.post(&url, &[]).await
    }

    /// The `<Dial>` ends with `status`.
    pub async fn dial_result(&mut self, status: &str) -> Element {
        let d = self
            .last
            .find("Dial")
            .unwrap_or_else(|| panic!("no <Dial> in {:?}", self.last));
        let url = d.attr("action").expect("Dial action").to_owned();
        self.post(
            &url,
            &[("DialCallStatus", status), ("DialCallDuration", "42")],
        )
        .await
    }

    /// The `<Record>` ends.
    pub async fn recorded(&mut self, seconds: u32) -> Element {
        let r = self
            .last
            .find("Record")
            .unwrap_or_else(|| panic!("no <Record> in {:?}", self.last));
        let url = r.attr("action").expect("Record action").to_owned();
        let secs = seconds.to_string();
        self.post(
            &url,
            &[
                ("RecordingUrl", "https://api.twilio.com/recordings/RE1"),
                ("RecordingDuration", &secs),
            ],
        )
        .await
    }

    /// The caller leaves the queue of the last `<Enqueue>` with `result` (`bridged`, `hangup`...).
    pub async fn queue_result(&mut self, result: &str) -> Element {
        let e = self
            .last
            .find("Enqueue")
            .unwrap_or_else(|| panic!("no <Enqueue> in {:?}", self.last));
        let url = e.attr("action").expect("Enqueue action").to_owned();
        self.post(&url, &[("QueueResult", result), ("QueueTime", "60")])
            .await
    }

    /// The status callback: the call is over.
    pub async fn status(&mut self, status: &str) -> Element {
        let url = format!("{}/twilio/status", self.base);
        self.post(&url, &[("CallStatus", status), ("CallDuration", "61")])
            .await
    }
}

/// A stand-in CRM on 127.0.0.1: `/accounts/123456` answers a balance, `/accounts/999999`
/// answers too late, `/accounts/500500` fails, anything else is 404.
pub async fn start_crm() -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Path;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/accounts/{id}",
        get(|Path(id): Path<String>| async move {
            match id.as_str() {
                "123456" => (
                    axum::http::StatusCode::OK,
                    axum::Json(serde_json::json!({"balance": "42.50", "tier": "gold"})),
                ),
                "999999" => {
                    tokio::time::sleep(Duration::from_secs(4)).await;
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(serde_json::json!({"balance": "0"})),
                    )
                }
                "500500" => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(serde_json::json!({})),
                ),
                _ => (
                    axum::http::StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({})),
                ),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind crm");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, handle)
}

/// A weekday during Acme's business hours: Tuesday 2026-11-24 10:00 in New York.
pub fn open_time() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().expect("time")
}

/// A weeknight after hours: Monday 2026-11-23 22:00 in New York.
pub fn closed_time() -> DateTime<Utc> {
    "2026-11-24T03:00:00Z".parse().expect("time")
}
