//! Webhooks under load: phonetree's real server against a bare axum handler.
//!
//! Both servers run in this process on `127.0.0.1:0`, and the same simulated
//! callers drive them: one `reqwest::Client` (keep-alive), a fixed number of
//! concurrent callers, each walking whole calls the way Twilio does
//! (`/twilio/voice`, three key presses following `<Gather action>`, then the
//! `/twilio/status` callback), with Twilio's form fields.
//!
//! - phonetree serves the shipped `flows/` and `prompts/` at a fixed time inside
//!   business hours, with its SQLite store in a temporary directory. Each call
//!   picks English (`1`), repeats the main menu (`*`), asks for the operator
//!   (`0`, answered with `<Dial>`) and hangs up (`CallStatus=completed`). Every
//!   answer is committed to SQLite (WAL, `synchronous=FULL`, group commit)
//!   before it is sent, so its latency includes an fsync.
//! - The bare handler answers every POST with one constant TwiML document of the
//!   same shape (a `<Gather>` with a `<Say>`, then a `<Redirect>`): the floor that
//!   HTTP, the client and the runtime set on this machine.
//!
//! For each concurrency level it reports per-request latency (p50, p90, p99,
//! max, send to last body byte), throughput and CPU use (this process's, and the
//! rest of the machine's, from `/proc`), as a Markdown table, with the machine and
//! the time of a 4 KiB write plus fsync in the store's directory. Every answer
//! must be 200 `text/xml` holding what the step expects; afterwards the server is
//! stopped, the store closed and reopened, and every phonetree call is read back
//! from it (call row closed, events in order, ending with `call_ended`). Any error
//! is printed and makes the program exit with status 1. There are no timing
//! assertions.
//!
//! Run it with:
//!
//! ```sh
//! cargo bench --bench load
//! PHONETREE_BENCH_STORE=postgres://USER@127.0.0.1:5432/DB PHONETREE_BENCH_SERVERS=2 cargo bench --bench load
//! ```
//!
//! `PHONETREE_BENCH_STORE` points phonetree at another store (default: a SQLite file in a
//! temporary directory); `PHONETREE_BENCH_SERVERS` runs that many phonetree servers on it,
//! each with its own store connection, and sends the webhooks of every call to them in
//! turn, as a load balancer would (default 1).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use phonetree::call::{EventKind, LogEvent};
use phonetree::server::{AppState, FlowRegistry, ServerOptions, run};
use phonetree::store::{Store, open_store};
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// Simultaneous callers, one level after the other.
const CONCURRENCY: [usize; 2] = [16, 64];
/// Measured calls per level and server.
const CALLS_PER_LEVEL: usize = 5_000;
/// Unmeasured calls per level and server first, to open connections and warm caches.
const WARMUP_CALLS: usize = 128;
/// `/twilio/voice`, three key presses, `/twilio/status`.
const REQUESTS_PER_CALL: usize = 5;
/// The keys each caller presses, in order: English, repeat the main menu, operator.
const KEYS: [&str; 3] = ["1", "*", "0"];
/// A Tuesday, 10:00 in New York: Acme is open.
const OPEN_TIME: &str = "2026-11-24T15:00:00Z";
/// The number Acme's flow answers.
const TO: &str = "+14155550199";
/// Where Acme's operator node dials.
const OPERATOR: &str = "+14155550100";
/// A stuck request fails the call instead of stalling the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND: &str = "cargo bench --bench load";

/// What the bare handler answers to every POST: the shape of phonetree's main
/// menu. The URLs are relative, which Twilio resolves against the request URL.
const BARE_TWIML: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<Response><Gather input="dtmf" action="/twilio/gather?flow=acme&amp;node=main_menu&amp;attempt=1" method="POST" timeout="5" numDigits="1">"#,
    r#"<Say language="en-US" voice="Polly.Joanna">For your account balance, press 1. For technical support, press 2. "#,
    r#"To leave a message, press 3. To speak to an operator, press 0. To hear these options again, press star.</Say>"#,
    r#"</Gather><Redirect method="POST">/twilio/silence?flow=acme&amp;node=main_menu&amp;attempt=1</Redirect></Response>"#,
);

/// Which server a level drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Phonetree,
    Bare,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Phonetree => "phonetree",
            Target::Bare => "bare axum",
        }
    }
}

/// A server running in this process until `stop`.
struct Running {
    base: String,
    shutdown: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(self) -> Result<(), String> {
        let _ = self.shutdown.send(());
        match tokio::time::timeout(Duration::from_secs(10), self.handle).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("{} stopped with an error: {e}", self.base)),
            Ok(Err(e)) => Err(format!("{} server task failed: {e}", self.base)),
            Err(_) => Err(format!("{} did not stop within 10 s", self.base)),
        }
    }
}

/// phonetree's real server on `store_url`, set up the way `tests/common/mod.rs` does it.
async fn start_phonetree(store_url: &str) -> (Running, Arc<dyn Store>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let registry = FlowRegistry::load(repo.join("flows"), repo.join("prompts"))
        .unwrap_or_else(|e| panic!("the shipped flows must compile: {e}"));
    let store = open_store(store_url).unwrap_or_else(|e| panic!("open the store {store_url}: {e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind phonetree on 127.0.0.1:0");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("phonetree's address")
    );
    let now: DateTime<Utc> = OPEN_TIME.parse().expect("OPEN_TIME is a timestamp");
    let options = ServerOptions {
        public_url: base.clone(),
        auth_token: None,
        clock: Arc::new(move || now),
        timeouts: Default::default(),
    };
    let state = AppState::new(Arc::new(registry), store.clone(), options);
    let (shutdown, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(run(listener, state, async {
        let _ = stopped.await;
    }));
    (
        Running {
            base,
            shutdown,
            handle,
        },
        store,
    )
}

/// An axum server answering every POST with [`BARE_TWIML`].
async fn start_bare() -> Running {
    use axum::http::header;
    let app = axum::Router::new().fallback(axum::routing::post(|| async {
        (
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            BARE_TWIML,
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the bare handler on 127.0.0.1:0");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("bare handler's address")
    );
    let (shutdown, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        base,
        shutdown,
        handle,
    }
}

/// What the caller needs from an answer.
#[derive(Debug, Default)]
struct Twiml {
    /// The first `<Gather action>`.
    gather_action: Option<String>,
    /// The text of the first `<Number>` inside a `<Dial>`.
    dial_number: Option<String>,
}

/// Reads a TwiML document: well-formed, one `<Response>` root.
fn scan_twiml(xml: &str) -> Result<Twiml, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Twiml::default();
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    loop {
        let event = reader.read_event().map_err(|e| format!("bad XML: {e}"))?;
        let (start, empty) = match &event {
            Event::Start(s) => (Some(s), false),
            Event::Empty(s) => (Some(s), true),
            _ => (None, false),
        };
        if let Some(s) = start {
            let name = s.name().0.to_owned();
            if open.is_empty() {
                roots += 1;
                if name != "Response" {
                    return Err(format!("root is <{name}>"));
                }
            }
            if name == "Gather" && out.gather_action.is_none() {
                for a in s.attributes() {
                    let a = a.map_err(|e| format!("bad attribute: {e}"))?;
                    if a.key.0 == "action" {
                        let v = a
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|e| format!("bad action: {e}"))?;
                        out.gather_action = Some(v.into_owned());
                    }
                }
            }
            if !empty {
                open.push(name);
            }
            continue;
        }
        match event {
            Event::Text(t) => {
                let in_dial_number = open.len() >= 2
                    && open[open.len() - 1] == "Number"
                    && open[open.len() - 2] == "Dial";
                if in_dial_number && out.dial_number.is_none() {
                    out.dial_number = Some(t.xml10_content().trim().to_owned());
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 || !open.is_empty() {
        return Err(format!(
            "expected one closed <Response>, found {roots} root(s)"
        ));
    }
    Ok(out)
}

/// One caller's tally.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    bytes: u64,
    errors: usize,
    messages: Vec<String>,
    /// Calls whose every request was answered as expected.
    completed: Vec<String>,
}

impl Tally {
    fn fail(&mut self, message: String) {
        self.errors += 1;
        if self.messages.len() < 5 {
            self.messages.push(message);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.bytes += other.bytes;
        self.errors += other.errors;
        for m in other.messages {
            if self.messages.len() < 5 {
                self.messages.push(m);
            }
        }
        self.completed.extend(other.completed);
    }
}

/// A simulated call: the fields Twilio posts with every webhook.
struct Caller<'a> {
    http: &'a reqwest::Client,
    /// The servers; the call's `k`-th request goes to `bases[(turn + k) % len]`.
    bases: &'a [String],
    turn: usize,
    sid: &'a str,
    from: &'a str,
}

impl Caller<'_> {
    /// The server for the call's `k`-th request, and `url` (written by any of the servers)
    /// sent to it.
    fn route(&self, url: &str, k: usize) -> String {
        let base = &self.bases[(self.turn + k) % self.bases.len()];
        match url.find("/twilio/") {
            Some(at) => format!("{base}{}", &url[at..]),
            None => url.to_owned(),
        }
    }

    /// Posts one webhook, times it from send to the last body byte, and checks the answer.
    async fn post(
        &self,
        url: &str,
        extra: &[(&str, &str)],
        tally: &mut Tally,
    ) -> Result<Twiml, String> {
        let mut form: Vec<(&str, &str)> = vec![
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("CallSid", self.sid),
            ("From", self.from),
            ("To", TO),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ];
        for (k, v) in extra {
            form.retain(|(key, _)| key != k);
            form.push((k, v));
        }
        let started = Instant::now();
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("POST {url}: reading the body: {e}"))?;
        let took = started.elapsed();
        if status != reqwest::StatusCode::OK {
            return Err(format!("POST {url} answered {status}: {body}"));
        }
        if ctype != "text/xml; charset=utf-8" {
            return Err(format!("POST {url} answered content-type `{ctype}`"));
        }
        let twiml = scan_twiml(&body).map_err(|e| format!("POST {url}: {e}:\n{body}"))?;
        tally.latencies.push(took);
        tally.bytes += body.len() as u64;
        Ok(twiml)
    }

    /// The URL of the answer's `<Gather action>`.
    fn gather_url(&self, twiml: &Twiml, after: &str) -> Result<String, String> {
        match &twiml.gather_action {
            Some(a) => Ok(a.clone()),
            None => Err(format!("no <Gather action> after {after}")),
        }
    }

    /// Walks one whole call; the first unexpected answer ends it.
    async fn walk(&self, target: Target, tally: &mut Tally) -> Result<(), String> {
        let voice = self.route("/twilio/voice", 0);
        let mut answer = self.post(&voice, &[], tally).await?;
        let mut after = "/twilio/voice".to_owned();
        for (i, key) in KEYS.iter().enumerate() {
            let url = self.route(&self.gather_url(&answer, &after)?, i + 1);
            answer = self.post(&url, &[("Digits", key)], tally).await?;
            after = format!("pressing {key}");
            let last = i + 1 == KEYS.len();
            match (target, last) {
                (Target::Phonetree, true) => {
                    if answer.dial_number.as_deref() != Some(OPERATOR) {
                        return Err(format!(
                            "{}: expected <Dial><Number>{OPERATOR}</Number></Dial> after {after}, got {:?}",
                            self.sid, answer.dial_number
                        ));
                    }
                }
                _ => {
                    self.gather_url(&answer, &after)?;
                }
            }
        }
        let status = self.route("/twilio/status", KEYS.len() + 1);
        self.post(
            &status,
            &[("CallStatus", "completed"), ("CallDuration", "61")],
            tally,
        )
        .await?;
        Ok(())
    }
}

/// One measured level against one server.
struct Level {
    target: Target,
    callers: usize,
    calls: usize,
    elapsed: Duration,
    /// CPU time of this whole process (callers and server) during the level.
    cpu: Duration,
    /// CPU time of the whole machine during the level, this process included.
    machine_cpu: Duration,
    tally: Tally,
}

/// `callers` concurrent callers share `calls` calls; returns when all are done.
async fn drive(
    http: &reqwest::Client,
    bases: &[String],
    target: Target,
    callers: usize,
    calls: usize,
    tag: &str,
) -> Level {
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = process_cpu();
    let machine_before = machine_cpu();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        let http = http.clone();
        let bases = bases.to_vec();
        let tag = tag.to_owned();
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    break;
                }
                // A Twilio-shaped CallSid: the run's tag, then the call's number.
                let tag_bits = tag
                    .bytes()
                    .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
                let sid = format!("CA{tag_bits:016x}{i:016x}");
                let from = format!("+1555{i:07}");
                let caller = Caller {
                    http: &http,
                    bases: &bases,
                    turn: i,
                    sid: &sid,
                    from: &from,
                };
                match caller.walk(target, &mut tally).await {
                    Ok(()) => tally.completed.push(sid),
                    Err(e) => tally.fail(e),
                }
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(t) => tally.merge(t),
            Err(e) => tally.fail(format!("a caller task failed: {e}")),
        }
    }
    Level {
        target,
        callers,
        calls,
        elapsed: started.elapsed(),
        cpu: process_cpu().saturating_sub(cpu_before),
        machine_cpu: machine_cpu().saturating_sub(machine_before),
        tally,
    }
}

/// Reads every listed call back from the store; returns the outcome and event kinds seen, by count.
async fn verify_rows(
    store: &dyn Store,
    sids: &[String],
) -> Result<BTreeMap<String, usize>, Vec<String>> {
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for sid in sids {
        match verify_call(store, sid).await {
            Ok(shape) => *shapes.entry(shape).or_default() += 1,
            Err(e) => {
                if problems.len() < 5 {
                    problems.push(e);
                } else if problems.len() == 5 {
                    problems.push("(more not shown)".to_owned());
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(shapes)
    } else {
        Err(problems)
    }
}

/// Checks one call's rows; returns `outcome: kind@node, ...` for the summary.
async fn verify_call(store: &dyn Store, sid: &str) -> Result<String, String> {
    let record = store
        .call(sid)
        .await
        .map_err(|e| format!("{sid}: reading the call row: {e}"))?
        .ok_or_else(|| format!("{sid}: no call row"))?;
    let outcome = record
        .outcome
        .ok_or_else(|| format!("{sid}: the call row has no outcome"))?;
    if record.ended_at.is_none() {
        return Err(format!("{sid}: the call row is not closed"));
    }
    let events: Vec<LogEvent> = store
        .events(sid)
        .await
        .map_err(|e| format!("{sid}: reading the events: {e}"))?;
    for (i, e) in events.iter().enumerate() {
        if e.seq as usize != i + 1 {
            return Err(format!("{sid}: event {} has seq {}", i + 1, e.seq));
        }
    }
    let count = |kind: EventKind, node: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.node.as_deref() == Some(node))
            .count()
    };
    if events.first().map(|e| e.kind) != Some(EventKind::CallStarted) {
        return Err(format!("{sid}: the first event is not call_started"));
    }
    if count(EventKind::Entered, "main_menu") != 2 {
        return Err(format!("{sid}: main_menu was not entered twice"));
    }
    if count(EventKind::TransferStarted, "operator") != 1 {
        return Err(format!("{sid}: no transfer_started at operator"));
    }
    match events.last() {
        Some(e) if e.kind == EventKind::CallEnded => {
            if e.value_text().as_deref() != Some(outcome.as_str()) {
                return Err(format!(
                    "{sid}: call_ended says {:?}, the call row {}",
                    e.value,
                    outcome.as_str()
                ));
            }
        }
        _ => return Err(format!("{sid}: the last event is not call_ended")),
    }
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match &e.node {
            Some(n) => format!("{}@{n}", e.kind.as_str()),
            None => e.kind.as_str().to_owned(),
        })
        .collect();
    Ok(format!("{}: {}", outcome.as_str(), kinds.join(", ")))
}

/// The `p`-th percentile (nearest rank) of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// User plus system CPU time of this process so far, all threads, from `/proc/self/stat`.
fn process_cpu() -> Duration {
    // Fields 14 and 15 count clock ticks of USER_HZ, which is 100 on Linux.
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The command name (field 2) may hold spaces; count from after it.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Busy CPU time of the whole machine so far (every CPU, idle and I/O wait excluded), from `/proc/stat`.
fn machine_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let line = stat.lines().find(|l| l.starts_with("cpu "))?;
            let n: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            Some(n.iter().take(8).sum::<u64>() - n.get(3)? - n.get(4)?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Median time of a 4 KiB write plus `fdatasync` (what SQLite's `synchronous=FULL`
/// commit waits on) in `dir`, over `rounds` rounds.
fn fsync_p50(dir: &Path, rounds: usize) -> std::io::Result<Duration> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let page = [0x5au8; 4096];
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        file.write_all(&page)?;
        file.sync_data()?;
        times.push(started.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

/// The CPU model, from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The filesystem type holding `path`, from `/proc/mounts` (the longest mount point that contains it).
fn filesystem_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let device = fields.next()?;
            let mount = PathBuf::from(fields.next()?);
            let kind = fields.next()?;
            path.starts_with(&mount)
                .then(|| (mount, format!("{kind} ({device})")))
        })
        .max_by_key(|(mount, _)| mount.as_os_str().len())
        .map(|(_, kind)| kind)
        .unwrap_or_else(|| "unknown".to_owned())
}

#[tokio::main]
async fn main() {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned());
    let dir = tempfile::tempdir().expect("create a temporary directory for the store");
    let fsync = fsync_p50(dir.path(), 200).expect("probe fsync in the store's directory");
    let db = dir.path().join("calls.db");
    let store_url = std::env::var("PHONETREE_BENCH_STORE")
        .unwrap_or_else(|_| format!("sqlite://{}", db.display()));
    let servers: usize = std::env::var("PHONETREE_BENCH_SERVERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let mut phonetrees = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..servers {
        let (server, store) = start_phonetree(&store_url).await;
        phonetrees.push(server);
        stores.push(store);
    }
    let phonetree_bases: Vec<String> = phonetrees.iter().map(|p| p.base.clone()).collect();
    let store_kind = if store_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let bare = start_bare().await;
    let bare_bases = vec![bare.base.clone()];
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("build the HTTP client");

    eprintln!(
        "load: phonetree ({servers} server(s) on {store_kind}) at {}, bare axum at {}; {} calls ({} requests) per level, after {} warm-up calls",
        phonetree_bases.join(", "),
        bare.base,
        CALLS_PER_LEVEL,
        CALLS_PER_LEVEL * REQUESTS_PER_CALL,
        WARMUP_CALLS
    );
    let run_started = Instant::now();
    let mut levels: Vec<Level> = Vec::new();
    let mut errors = 0usize;
    let mut to_verify: Vec<String> = Vec::new();
    for callers in CONCURRENCY {
        for (target, base) in [
            (Target::Phonetree, &phonetree_bases),
            (Target::Bare, &bare_bases),
        ] {
            let short = match target {
                Target::Phonetree => "p",
                Target::Bare => "b",
            };
            let warm = drive(
                &http,
                base,
                target,
                callers,
                WARMUP_CALLS,
                &format!("warm-{short}{callers}-"),
            )
            .await;
            let level = drive(
                &http,
                base,
                target,
                callers,
                CALLS_PER_LEVEL,
                &format!("load-{short}{callers}-"),
            )
            .await;
            for (what, t) in [("warm-up", &warm.tally), ("measured", &level.tally)] {
                if t.errors > 0 {
                    eprintln!(
                        "load: ERROR: {} {what} calls with {callers} callers: {} failed request(s), e.g.:",
                        target.label(),
                        t.errors
                    );
                    for m in &t.messages {
                        eprintln!("  {m}");
                    }
                }
            }
            errors += warm.tally.errors + level.tally.errors;
            if target == Target::Phonetree {
                to_verify.extend(warm.tally.completed.iter().cloned());
                to_verify.extend(level.tally.completed.iter().cloned());
            }
            eprintln!(
                "load: {} with {callers} callers: {} requests in {:.2} s",
                target.label(),
                level.tally.latencies.len(),
                level.elapsed.as_secs_f64()
            );
            levels.push(level);
        }
    }
    let load_time = run_started.elapsed();

    // Idle keep-alive connections go first, so both servers can stop cleanly.
    drop(http);
    let named = phonetrees
        .into_iter()
        .map(|p| ("phonetree", p))
        .chain([("bare axum", bare)]);
    for (name, server) in named {
        if let Err(e) = server.stop().await {
            errors += 1;
            eprintln!("load: ERROR: stopping {name}: {e}");
        }
    }
    // Closing the store joins its writer; reopening it proves the rows were
    // committed, not merely held in memory.
    drop(stores);
    let verify_started = Instant::now();
    let reopened = open_store(&store_url).expect("reopen the store");
    let shapes = match verify_rows(reopened.as_ref(), &to_verify).await {
        Ok(shapes) => shapes,
        Err(problems) => {
            errors += problems.len();
            eprintln!("load: ERROR: the store does not hold what the calls wrote:");
            for p in &problems {
                eprintln!("  {p}");
            }
            BTreeMap::new()
        }
    };
    let verify_time = verify_started.elapsed();
    drop(reopened);

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("## Results\n");
    println!("Command: `{COMMAND}`  ");
    println!(
        "phonetree: {servers} server(s) on {store_kind}; each call's webhooks go to them in turn  "
    );
    println!(
        "Machine: {cpus} logical CPU(s), {}; store on {}, 4 KiB write + fdatasync p50 {:.2} ms; load average before the run {load_average}  ",
        cpu_model(),
        filesystem_of(dir.path()),
        fsync.as_secs_f64() * 1e3,
    );
    println!(
        "Each call is {REQUESTS_PER_CALL} requests; {CALLS_PER_LEVEL} measured calls per row, after {WARMUP_CALLS} warm-up calls. \
         Latency is per request, send to last body byte, in ms. \
         CPU is this process's CPU time (callers and server together) over the level's wall time and {cpus} CPU(s); \
         other is what the rest of the machine used meanwhile (other processes, kernel threads), same scale.\n"
    );
    println!(
        "| server | callers | calls | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | CPU | other | CPU µs/req | bytes/answer |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for level in &mut levels {
        level.tally.latencies.sort_unstable();
        let l = &level.tally.latencies;
        let answered = l.len();
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% | {:.0}% | {:.0} | {} |",
            level.target.label(),
            level.callers,
            level.calls,
            answered,
            level.tally.errors,
            answered as f64 / level.elapsed.as_secs_f64(),
            percentile_ms(l, 50.0),
            percentile_ms(l, 90.0),
            percentile_ms(l, 99.0),
            percentile_ms(l, 100.0),
            100.0 * level.cpu.as_secs_f64() / (level.elapsed.as_secs_f64() * cpus as f64),
            100.0 * level.machine_cpu.saturating_sub(level.cpu).as_secs_f64()
                / (level.elapsed.as_secs_f64() * cpus as f64),
            level.cpu.as_secs_f64() * 1e6 / answered.max(1) as f64,
            level.tally.bytes / answered.max(1) as u64,
        );
    }
    println!();
    println!(
        "Load phase: {:.1} s. Store check after shutdown and reopen: {} phonetree calls read back in {:.1} s.",
        load_time.as_secs_f64(),
        to_verify.len(),
        verify_time.as_secs_f64()
    );
    for (shape, n) in &shapes {
        println!("- {n} call(s): {shape}");
    }

    if errors > 0 {
        eprintln!();
        eprintln!("load: ERROR: {errors} error(s); the numbers above are not valid.");
        std::process::exit(1);
    }
}
