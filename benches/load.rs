//! Webhooks under load, as a provider drives them: phonetree's real server process against
//! a bare axum baseline (`examples/baseline.rs`), in the same run, on this machine.
//!
//! # What it measures
//!
//! A lean load generator (hyper 1 client connections over tokio `TcpStream`, keep-alive, one
//! request in flight per connection, on a tokio runtime with 2 worker threads, like wrk) plays
//! Twilio: each connection places calls one after another, every call with a fresh `CallSid`
//! (`CA` + 32 hex digits) and Twilio's form fields (`AccountSid`, `CallSid`, `From`,
//! `To=+14155550199`, `CallStatus`, `Direction`, `ApiVersion`, `Digits` on gathers), signed
//! with `X-Twilio-Signature` over the exact URL the server sees when a token is set.
//!
//! - `new-calls`: every request is the first webhook of a new call (`POST /twilio/voice`).
//! - `whole-calls`: `/twilio/voice`, then the answers are followed to the end of the call,
//!   then `POST /twilio/status` with `CallStatus=completed`. `phonetree serve` runs on the
//!   real clock and Acme's flow starts with its business hours (Mon-Fri 08:00-18:00 New York),
//!   so the first answer says which way the call went and the walk follows it:
//!   - open: the language menu's `<Gather>`; the caller presses `1` (English), `*` and `*`
//!     (the main menu repeats) and `0` (the operator: `<Dial>`), each time following the
//!     answer's `<Gather action>`: 6 webhooks per call;
//!   - closed: the closed message and voicemail's `<Record>`; the caller leaves a recording
//!     (the `<Record action>` with `RecordingUrl`) and hears goodbye: 3 webhooks per call.
//!
//!   The report says how many calls went each way. `--skip-hours` serves a copy of the shipped
//!   flows whose Acme starts at the language menu (as the process tests do), so the menu walk
//!   is measured at any hour. The baseline always answers a `<Gather>`, so its calls walk the
//!   menus.
//!
//! Every answer is checked: status 200, `content-type: text/xml`, a body that quick-xml reads
//! as one `<Response>` document, and the `<Gather action>` (or `<Record action>`) the walk
//! follows must be there. Per run it reports webhooks/s, p50/p99/max latency (from sending the
//! request to its last body byte) and the errors, with the first few messages. Runs are bounded
//! by time: `--warmup` seconds unmeasured, then `--seconds` measured; a webhook counts when it
//! is answered inside the measured window.
//!
//! # Orchestration (the default, without `--target`)
//!
//! The bench spawns `phonetree serve` (the binary cargo built for it) on `127.0.0.1:0` with the
//! shipped `flows/` and `prompts/`, a SQLite store in a temporary directory (or `--store`), an
//! auth token (so webhooks are signed and checked), and the baseline
//! (`target/release/examples/baseline`, built with `cargo build --release --example baseline`
//! first). For each of `--rounds` rounds, for each test, phonetree runs, then the baseline;
//! each phonetree run gets fresh servers on a fresh store (a `--store` URL is reused, with
//! fresh CallSids). It prints a Markdown table: per test and server the median webhooks/s and
//! p99 with their min-max over the rounds, and phonetree/baseline ratios, with the machine,
//! the command line and the date. Warnings and errors phonetree logs are counted and the first
//! ones shown.
//!
//! # Held calls and cold start
//!
//! `--hold N` spawns one phonetree and places N calls to the point where each waits: voice
//! and `1` at the language menu (the call waits at the main menu), or, when Acme is closed,
//! voice alone (the call waits at voicemail's `<Record>`). It prints the process's `VmRSS`
//! and `VmHWM` (from `/proc/PID/status`) before and after, and the RSS growth per held call.
//! With `--cold-start` it then kills the process with SIGKILL, starts it again on the same
//! store and address, and measures from the spawn to the first correct answer to one held
//! call's next webhook (`*` at the main menu must answer the main menu again; at voicemail, a
//! recording must answer goodbye and `<Hangup/>`), then checks a sample of other held calls
//! the same way, and prints the RSS after.
//!
//! Every spawned process is killed when the bench ends, on success or error; any error makes
//! it exit with status 1. It only ever connects to 127.0.0.1. A server's address is read from
//! the line it logs once bound (`... listen=127.0.0.1:PORT ...`, as `phonetree serve` logs it
//! and the baseline prints it).
//!
//! # Reading the numbers
//!
//! - The client, the server under test and whatever else runs share the machine's CPUs: on a
//!   small machine the client's own CPU time is taken from the server, and against the
//!   baseline the 2-worker client may be what saturates first, so the baseline's webhooks/s is
//!   a floor for what the machine can serve, not a ceiling. Compare the ratios of one run,
//!   taken on a quiet machine.
//! - Whole calls that went to voicemail are 3 webhooks, through the menus 6; webhooks/s is per
//!   webhook either way, but the mix differs (the report names it).
//! - RSS growth per held call includes the store's caches (SQLite's page cache in the process)
//!   and memory the allocator keeps: it is what the process grew by, not the size of a session.
//!
//! # Running it
//!
//! ```sh
//! cargo bench --bench load                                  # 3 rounds, both tests, 10 s each
//! cargo bench --bench load -- --seconds 5 --rounds 1 --test whole-calls
//! cargo bench --bench load -- --skip-hours                  # the menu walk at any hour
//! cargo bench --bench load -- --store postgres://USER@127.0.0.1:5432/DB --servers 2
//! cargo bench --bench load -- --hold 20000 --cold-start
//! cargo bench --bench load -- --target http://127.0.0.1:8080 --token "$TWILIO_AUTH_TOKEN"
//! ```
//!
//! Options: `--connections N` (64), `--seconds S` (10), `--warmup S` (2), `--rounds N` (3),
//! `--test new-calls|whole-calls|all`, `--token T` (or `TWILIO_AUTH_TOKEN`), `--store URL`,
//! `--servers N` (phonetree processes on the store; each call's webhooks go to them in turn),
//! `--target URL` (repeatable: drive servers already running, in turn, instead of spawning),
//! `--skip-hours`, `--hold N`, `--cold-start`.

use std::collections::VecDeque;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use phonetree::server::signature::twilio_signature;
use quick_xml::XmlVersion;
use quick_xml::events::Event;

/// The number Acme's flow answers.
const TO: &str = "+14155550199";
/// Keys pressed after the language menu: English, the main menu twice more, the operator.
const MENU_KEYS: [&str; 4] = ["1", "*", "*", "0"];
/// How the main menu starts in the shipped English prompts (`prompts/en.yaml`).
const MAIN_MENU_TEXT: &str = "For your account balance, press 1.";
/// The token spawned servers check when none is given.
const DEFAULT_TOKEN: &str = "load-bench-auth-token";
/// A stuck request fails instead of stalling the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a spawned server may take to announce its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Error messages kept per run.
const MESSAGES_KEPT: usize = 5;
/// Held calls checked after a cold start, besides the first.
const COLD_START_SAMPLE: usize = 100;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// Which test(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TestChoice {
    NewCalls,
    WholeCalls,
    All,
}

/// One test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    /// Every request is the first webhook of a new call.
    NewCalls,
    /// Calls from `/twilio/voice` to `/twilio/status`.
    WholeCalls,
}

impl Test {
    fn name(self) -> &'static str {
        match self {
            Test::NewCalls => "new-calls",
            Test::WholeCalls => "whole-calls",
        }
    }
}

/// The command line (after `cargo bench --bench load --`).
#[derive(Debug, Parser)]
#[command(
    name = "load",
    about = "Webhooks under load: phonetree serve against a bare axum baseline"
)]
struct Options {
    /// Drive servers already running (`http://127.0.0.1:PORT`, repeatable; each call's
    /// webhooks go to them in turn) instead of spawning phonetree and the baseline.
    #[arg(long, value_name = "URL")]
    target: Vec<String>,
    /// Store for the spawned phonetree (default: SQLite in a fresh temporary directory).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// phonetree processes to spawn on the store; each call's webhooks go to them in turn.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    servers: u16,
    /// Concurrent connections (callers), each with one request in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds before each run's measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Rounds; each runs every test on phonetree, then on the baseline.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Which test to run.
    #[arg(long, value_enum, default_value = "all")]
    test: TestChoice,
    /// Twilio auth token to sign webhooks with (spawned servers check it; default: a fixed
    /// token for spawned servers, unsigned for `--target`).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve a copy of the flows whose Acme starts at the language menu, skipping the hours
    /// check, so calls walk the menus at any hour.
    #[arg(long)]
    skip_hours: bool,
    /// Place this many calls up to a menu and report phonetree's memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    hold: Option<u32>,
    /// After `--hold`: SIGKILL phonetree, start it again on the same store and time the
    /// first correct answer to a held call.
    #[arg(long, requires = "hold")]
    cold_start: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Options {
    fn tests(&self) -> Vec<Test> {
        match self.test {
            TestChoice::NewCalls => vec![Test::NewCalls],
            TestChoice::WholeCalls => vec![Test::WholeCalls],
            TestChoice::All => vec![Test::NewCalls, Test::WholeCalls],
        }
    }

    fn window(&self) -> Result<Window, String> {
        let seconds = |what: &str, s: f64| {
            Duration::try_from_secs_f64(s).map_err(|_| format!("--{what} {s} is not a duration"))
        };
        let measured = seconds("seconds", self.seconds)?;
        if measured.is_zero() {
            return Err("--seconds must be more than 0".into());
        }
        Ok(Window {
            warmup: seconds("warmup", self.warmup)?,
            measured,
        })
    }
}

/// How long a run lasts.
#[derive(Debug, Clone, Copy)]
struct Window {
    warmup: Duration,
    measured: Duration,
}

// ---------------------------------------------------------------------------------------------
// Servers: addresses, TwiML answers, one client connection
// ---------------------------------------------------------------------------------------------

/// A server to send webhooks to.
#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    /// `http://127.0.0.1:PORT`: the public URL the server signs and writes into its answers.
    base: String,
}

impl Target {
    fn new(addr: SocketAddr) -> Result<Target, String> {
        if addr.ip() != std::net::Ipv4Addr::LOCALHOST {
            return Err(format!(
                "{addr} is not on 127.0.0.1; this bench only drives 127.0.0.1"
            ));
        }
        Ok(Target {
            addr,
            base: format!("http://{addr}"),
        })
    }

    /// `http://127.0.0.1:PORT` with an optional trailing `/`.
    fn parse(url: &str) -> Result<Target, String> {
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--target {url}: expected http://127.0.0.1:PORT"))?
            .trim_end_matches('/');
        let addr: SocketAddr = authority
            .parse()
            .map_err(|e| format!("--target {url}: expected http://127.0.0.1:PORT ({e})"))?;
        Target::new(addr)
    }
}

/// What a walk needs from an answer.
#[derive(Debug, Default)]
struct Answer {
    /// The first `<Gather action>`.
    gather_action: Option<String>,
    /// The text of the first `<Say>` inside the first `<Gather>`.
    gather_say: Option<String>,
    /// The first `<Record action>`.
    record_action: Option<String>,
    /// A `<Hangup/>` is there.
    hangup: bool,
}

/// Reads a TwiML document: well-formed, with one `<Response>` root.
fn read_twiml(xml: &str) -> Result<Answer, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut answer = Answer::default();
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut in_gather_say = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("bad XML: {e}"))?;
        let (element, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(element) = element {
            let name = element.name().0.to_owned();
            if open.is_empty() {
                roots += 1;
                if name != "Response" || roots > 1 {
                    return Err(format!("root element <{name}>"));
                }
            }
            let action = |answer_slot: &Option<String>| -> Result<Option<String>, String> {
                if answer_slot.is_some() {
                    return Ok(None);
                }
                for attribute in element.attributes() {
                    let attribute = attribute.map_err(|e| format!("bad attribute: {e}"))?;
                    if attribute.key.0 == "action" {
                        let value = attribute
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|e| format!("bad action: {e}"))?;
                        return Ok(Some(value.into_owned()));
                    }
                }
                Ok(None)
            };
            match name.as_str() {
                "Gather" => {
                    if let Some(a) = action(&answer.gather_action)? {
                        answer.gather_action = Some(a);
                    }
                }
                "Record" => {
                    if let Some(a) = action(&answer.record_action)? {
                        answer.record_action = Some(a);
                    }
                }
                "Hangup" => answer.hangup = true,
                "Say" => {
                    in_gather_say = !empty
                        && answer.gather_say.is_none()
                        && open.last().is_some_and(|parent| parent == "Gather");
                }
                _ => {}
            }
            if !empty {
                open.push(name);
            }
            continue;
        }
        match event {
            Event::Text(text) if in_gather_say => {
                answer.gather_say = Some(text.xml10_content().into_owned());
                in_gather_say = false;
            }
            Event::End(_) => {
                open.pop();
                in_gather_say = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 || !open.is_empty() {
        return Err("not one closed <Response> document".into());
    }
    Ok(answer)
}

/// The path and query of `url`, absolute (as phonetree writes them) or already relative.
fn path_and_query(url: &str) -> Result<&str, String> {
    if url.starts_with('/') {
        return Ok(url);
    }
    let after_scheme = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("action `{url}` is not a URL"))?;
    let slash = after_scheme
        .find('/')
        .ok_or_else(|| format!("action `{url}` has no path"))?;
    Ok(&after_scheme[slash..])
}

/// One keep-alive HTTP/1.1 connection with at most one request in flight.
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY on {addr}: {e}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        // The connection's errors surface on the request that meets them.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender, driver })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One answered webhook.
struct Answered {
    answer: Answer,
    /// From sending the request to its last body byte.
    latency: Duration,
    /// When the last body byte arrived.
    at: Instant,
}

/// Sends webhooks over one connection per target, opening (and after an error, reopening)
/// them as needed.
struct Client {
    targets: Arc<[Target]>,
    connections: Vec<Option<Connection>>,
    token: Option<Arc<str>>,
}

impl Client {
    fn new(targets: Arc<[Target]>, token: Option<Arc<str>>) -> Client {
        let connections = targets.iter().map(|_| None).collect();
        Client {
            targets,
            connections,
            token,
        }
    }

    /// POSTs `params` to `path_and_query` on target `to`, signed over the URL that target
    /// sees, and checks that the answer is a 200 TwiML document.
    async fn post(
        &mut self,
        to: usize,
        path_and_query: &str,
        params: &[(&str, &str)],
    ) -> Result<Answered, String> {
        let target = &self.targets[to];
        let url = format!("{}{path_and_query}", target.base);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut request = hyper::Request::post(path_and_query)
            .header(HOST, target.addr.to_string())
            .header(USER_AGENT, "TwilioProxy/1.1")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(token) = &self.token {
            let owned: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            request = request.header("X-Twilio-Signature", twilio_signature(token, &url, &owned));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("POST {url}: building the request: {e}"))?;
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.send(to, request))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
        let (status, content_type, body, latency, at) = match result {
            Ok(r) => r,
            Err(e) => {
                // A connection that failed or timed out is not reused.
                self.connections[to] = None;
                return Err(format!("POST {url}: {e}"));
            }
        };
        let text = String::from_utf8_lossy(&body);
        if status != hyper::StatusCode::OK {
            return Err(format!("POST {url} answered {status}: {text}"));
        }
        if !content_type.starts_with("text/xml") {
            return Err(format!("POST {url} answered content-type `{content_type}`"));
        }
        let answer = read_twiml(&text).map_err(|e| format!("POST {url}: {e}: {text}"))?;
        Ok(Answered {
            answer,
            latency,
            at,
        })
    }

    /// Sends on target `to`'s connection; the clock runs from the send to the last body byte.
    async fn send(
        &mut self,
        to: usize,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(hyper::StatusCode, String, Bytes, Duration, Instant), String> {
        let slot = &mut self.connections[to];
        let connection = match slot {
            Some(c) if !c.sender.is_closed() => c,
            _ => slot.insert(Connection::open(self.targets[to].addr).await?),
        };
        connection
            .sender
            .ready()
            .await
            .map_err(|e| format!("connection not ready: {e}"))?;
        let started = Instant::now();
        let response = connection
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        let at = Instant::now();
        Ok((status, content_type, body, at - started, at))
    }
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

/// Makes every CallSid of the process unique: a per-process prefix, then a counter.
struct CallIds {
    prefix: u64,
    next: AtomicU64,
}

impl CallIds {
    fn new() -> CallIds {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        CallIds {
            prefix: nanos ^ (u64::from(std::process::id()) << 40),
            next: AtomicU64::new(0),
        }
    }

    /// A new call: its CallSid and a caller number.
    fn call(&self) -> Call {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Call {
            sid: format!("CA{:016x}{n:016x}", self.prefix),
            from: format!("+1555{:07}", n % 10_000_000),
            turn: n as usize,
        }
    }
}

/// One simulated call.
#[derive(Debug, Clone)]
struct Call {
    sid: String,
    from: String,
    /// Where its first webhook goes when there are several targets.
    turn: usize,
}

/// What a webhook carries besides the fields every webhook has.
enum Step<'a> {
    Voice,
    Gather(&'a str),
    Record,
    Completed,
}

impl Call {
    /// Twilio's form for `step`.
    fn params<'a>(&'a self, step: &Step<'a>) -> Vec<(&'a str, &'a str)> {
        let status = match step {
            Step::Voice => "ringing",
            Step::Gather(_) | Step::Record => "in-progress",
            Step::Completed => "completed",
        };
        let mut params = vec![
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", self.sid.as_str()),
            ("CallStatus", status),
            ("Direction", "inbound"),
            ("From", self.from.as_str()),
            ("To", TO),
        ];
        match step {
            Step::Voice => {}
            Step::Gather(digits) => params.push(("Digits", digits)),
            Step::Record => params.extend([
                (
                    "RecordingUrl",
                    "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
                ),
                ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
                ("RecordingDuration", "7"),
                ("Digits", "#"),
            ]),
            Step::Completed => params.extend([("CallDuration", "61")]),
        }
        params
    }
}

/// Which way a whole call went.
#[derive(Debug, Clone, Copy)]
enum Walked {
    Menus,
    Voicemail,
}

/// One caller's measurements.
#[derive(Debug, Default)]
struct Tally {
    /// Latencies of the webhooks answered inside the measured window, in µs.
    latencies: Vec<u32>,
    errors: u64,
    messages: Vec<String>,
    menu_calls: u64,
    voicemail_calls: u64,
}

impl Tally {
    fn fail(&mut self, message: String) {
        self.errors += 1;
        if self.messages.len() < MESSAGES_KEPT {
            self.messages.push(message);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        for m in other.messages {
            if self.messages.len() < MESSAGES_KEPT {
                self.messages.push(m);
            }
        }
        self.menu_calls += other.menu_calls;
        self.voicemail_calls += other.voicemail_calls;
    }
}

/// A caller placing calls back to back on its connection(s).
struct Caller {
    client: Client,
    ids: Arc<CallIds>,
    /// Webhooks answered from here on are measured...
    measure_from: Instant,
    /// ...up to here, when the caller stops.
    until: Instant,
    tally: Tally,
}

impl Caller {
    /// Posts the call's `k`-th webhook, to the target whose turn it is, and measures it.
    async fn post(
        &mut self,
        call: &Call,
        k: usize,
        url: &str,
        step: Step<'_>,
    ) -> Result<Answer, String> {
        let to = (call.turn + k) % self.client.targets.len();
        let path = path_and_query(url)?;
        let answered = self.client.post(to, path, &call.params(&step)).await?;
        if answered.at >= self.measure_from && answered.at <= self.until {
            let micros = u32::try_from(answered.latency.as_micros()).unwrap_or(u32::MAX);
            self.tally.latencies.push(micros);
        }
        Ok(answered.answer)
    }

    /// A new call's first webhook.
    async fn new_call(&mut self) -> Result<(), String> {
        let call = self.ids.call();
        self.post(&call, 0, "/twilio/voice", Step::Voice).await?;
        Ok(())
    }

    /// A call from its first webhook to its status callback.
    async fn whole_call(&mut self) -> Result<Walked, String> {
        let call = self.ids.call();
        let mut k = 0;
        let first = self.post(&call, k, "/twilio/voice", Step::Voice).await?;
        let walked = if let Some(mut action) = first.gather_action {
            for (i, key) in MENU_KEYS.iter().enumerate() {
                k += 1;
                let answer = self.post(&call, k, &action, Step::Gather(key)).await?;
                if i + 1 < MENU_KEYS.len() {
                    action = answer.gather_action.ok_or_else(|| {
                        format!("{}: no <Gather action> after pressing {key}", call.sid)
                    })?;
                }
            }
            Walked::Menus
        } else if let Some(action) = first.record_action {
            k += 1;
            self.post(&call, k, &action, Step::Record).await?;
            Walked::Voicemail
        } else {
            return Err(format!(
                "{}: the first answer has neither <Gather action> nor <Record action>",
                call.sid
            ));
        };
        k += 1;
        self.post(&call, k, "/twilio/status", Step::Completed)
            .await?;
        Ok(walked)
    }

    /// Places calls until the window closes.
    async fn run(mut self, test: Test) -> Tally {
        while Instant::now() < self.until {
            let result = match test {
                Test::NewCalls => self.new_call().await.map(|()| None),
                Test::WholeCalls => self.whole_call().await.map(Some),
            };
            match result {
                Ok(Some(Walked::Menus)) => self.tally.menu_calls += 1,
                Ok(Some(Walked::Voicemail)) => self.tally.voicemail_calls += 1,
                Ok(None) => {}
                Err(e) => {
                    self.tally.fail(e);
                    // A server that refuses connections must not turn the caller into a spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        self.tally
    }
}

/// One run's results.
#[derive(Debug)]
struct Run {
    /// CPU time (user and system) the servers under test used in the measured window, per
    /// webhook answered in it, in µs: what a webhook costs whatever else the machine runs.
    server_cpu_us: Option<f64>,
    webhooks_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    webhooks: usize,
    tally: Tally,
}

/// `q` (0..=1) of sorted latencies in µs, in ms.
fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1e3
}

/// CPU time (user and system) process `pid` has used so far, from `/proc/PID/stat`.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces), from field 3 (state) on:
    // utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Some(Duration::from_micros(ticks * 1_000_000 / per_second))
}

/// The CPU time all of `pids` have used so far.
fn servers_cpu(pids: &[u32]) -> Option<Duration> {
    pids.iter().map(|&pid| process_cpu(pid)).sum()
}

/// Runs `test` against `targets` with `connections` callers for `window`; `pids` are the
/// server processes whose CPU time is measured over the window (none for `--target`).
async fn run_load(
    targets: &Arc<[Target]>,
    token: Option<Arc<str>>,
    ids: &Arc<CallIds>,
    test: Test,
    connections: u32,
    window: Window,
    pids: &[u32],
) -> Run {
    let measure_from = Instant::now() + window.warmup;
    let until = measure_from + window.measured;
    let cpu = {
        let pids = pids.to_vec();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = servers_cpu(&pids)?;
            tokio::time::sleep_until(until.into()).await;
            Some(servers_cpu(&pids)? - before)
        })
    };
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let caller = Caller {
            client: Client::new(targets.clone(), token.clone()),
            ids: ids.clone(),
            measure_from,
            until,
            tally: Tally::default(),
        };
        callers.spawn(caller.run(test));
    }
    let mut tally = Tally::default();
    while let Some(done) = callers.join_next().await {
        match done {
            Ok(t) => tally.merge(t),
            Err(e) => tally.fail(format!("a caller task failed: {e}")),
        }
    }
    tally.latencies.sort_unstable();
    let l = &tally.latencies;
    let cpu = if pids.is_empty() {
        None
    } else {
        cpu.await.ok().flatten()
    };
    Run {
        server_cpu_us: cpu
            .filter(|_| !l.is_empty())
            .map(|c| c.as_secs_f64() * 1e6 / l.len() as f64),
        webhooks_per_second: l.len() as f64 / window.measured.as_secs_f64(),
        p50_ms: quantile_ms(l, 0.50),
        p99_ms: quantile_ms(l, 0.99),
        max_ms: quantile_ms(l, 1.0),
        webhooks: l.len(),
        tally,
    }
}

// ---------------------------------------------------------------------------------------------
// Spawned processes
// ---------------------------------------------------------------------------------------------

/// What a spawned process logged: the last lines, and its warnings and errors.
#[derive(Debug, Default)]
struct ProcessLog {
    /// Warnings that are expected (and not counted), as substrings of their lines.
    expected: Vec<&'static str>,
    tail: VecDeque<String>,
    problems: u64,
    first_problems: Vec<String>,
}

impl ProcessLog {
    fn push(&mut self, line: String) {
        let problem =
            line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked");
        if problem && !self.expected.iter().any(|e| line.contains(e)) {
            self.problems += 1;
            if self.first_problems.len() < MESSAGES_KEPT {
                self.first_problems.push(line.clone());
            }
        }
        if self.tail.len() == 20 {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// Memory of a process, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

/// A child process listening on 127.0.0.1, killed (SIGKILL) when dropped.
struct ServerProcess {
    name: String,
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<ProcessLog>>,
}

impl ServerProcess {
    /// Spawns `command` and waits for the line that announces its address
    /// (`... listen=127.0.0.1:PORT ...`, on stdout or stderr).
    fn spawn(
        name: &str,
        mut command: Command,
        expected: Vec<&'static str>,
    ) -> Result<ServerProcess, String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {name} ({command:?}): {e}"))?;
        let log = Arc::new(Mutex::new(ProcessLog {
            expected,
            ..ProcessLog::default()
        }));
        let (announced, listening) = std::sync::mpsc::channel::<String>();
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let log = log.clone();
            let announced = announced.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split(" listen=").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                        let _ = announced.send(addr);
                    }
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let mut process = ServerProcess {
            name: name.to_owned(),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        // Only the readers hold a sender now: when the process exits, they end and the wait does.
        drop(announced);
        let addr = match listening.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = process.child.kill();
                let status = process
                    .child
                    .wait()
                    .map_or_else(|e| format!("unknown: {e}"), |s| s.to_string());
                let why = match e {
                    std::sync::mpsc::RecvTimeoutError::Timeout => {
                        format!("did not announce its address within {START_TIMEOUT:?}")
                    }
                    std::sync::mpsc::RecvTimeoutError::Disconnected => {
                        "exited before announcing its address".to_owned()
                    }
                };
                return Err(format!(
                    "{name} {why} ({status}); its last lines:\n{}",
                    process.tail()
                ));
            }
        };
        process.addr = addr
            .parse()
            .map_err(|e| format!("{name} announced `{addr}`, not an address: {e}"))?;
        Target::new(process.addr)?;
        Ok(process)
    }

    fn target(&self) -> Target {
        Target {
            addr: self.addr,
            base: format!("http://{}", self.addr),
        }
    }

    fn tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.tail.iter().map(|l| format!("  {l}\n")).collect()
    }

    /// Warnings and errors logged so far: how many, and the first few.
    fn problems(&self) -> (u64, Vec<String>) {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        (log.problems, log.first_problems.clone())
    }

    /// An error if the process has exited.
    fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); its last lines:\n{}",
                self.name,
                self.tail()
            )),
            Err(e) => Err(format!("{}: waiting on it: {e}", self.name)),
        }
    }

    fn memory(&self) -> Result<Memory, String> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
        let field = |name: &str| -> Result<u64, String> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| format!("{path} has no {name} in kB"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The project directory.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// How phonetree is spawned.
struct PhonetreeSetup {
    store: String,
    flows: PathBuf,
    token: Arc<str>,
    /// What phonetree rightly warns about these flows.
    expected_warnings: Vec<&'static str>,
    /// Keeps the temporary store and flows alive.
    _dir: tempfile::TempDir,
}

impl PhonetreeSetup {
    /// A store (`--store`, or SQLite in a fresh temporary directory) and the flows.
    fn new(options: &Options, token: &Arc<str>) -> Result<PhonetreeSetup, String> {
        let dir = tempfile::Builder::new()
            .prefix("phonetree-load-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let store = match &options.store {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", dir.path().join("phonetree.db").display()),
        };
        let flows = if options.skip_hours {
            let flows = dir.path().join("flows");
            copy_flows_skipping_hours(&repo().join("flows"), &flows)?;
            flows
        } else {
            repo().join("flows")
        };
        let expected_warnings = if options.skip_hours {
            // The hours check and the closed branch are left behind on purpose.
            vec![
                "node `check_hours` is never reached",
                "node `after_hours` is never reached",
            ]
        } else {
            Vec::new()
        };
        Ok(PhonetreeSetup {
            store,
            flows,
            token: token.clone(),
            expected_warnings,
            _dir: dir,
        })
    }

    /// `phonetree serve` on `listen` (127.0.0.1, port 0 for any).
    fn spawn(&self, listen: SocketAddr) -> Result<ServerProcess, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_phonetree"));
        // Nothing from the caller's shell changes how the server runs.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("PHONETREE_") || name == "TWILIO_AUTH_TOKEN" || name == "RUST_LOG" {
                command.env_remove(name.as_ref());
            }
        }
        command
            .arg("serve")
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--store")
            .arg(&self.store)
            .arg("--flows")
            .arg(&self.flows)
            .arg("--prompts")
            .arg(repo().join("prompts"))
            .arg("--no-watch")
            .env("TWILIO_AUTH_TOKEN", self.token.as_ref());
        ServerProcess::spawn("phonetree", command, self.expected_warnings.clone())
    }
}

/// Copies the flow files of `from` into `to`, Acme's starting at its language menu instead
/// of its hours check.
fn copy_flows_skipping_hours(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("listing {}: {e}", from.display()))?;
    let mut patched = false;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("listing {}: {e}", from.display()))?
            .path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let text = if name == "acme.yaml" {
            let skipped = text.replace("start: check_hours", "start: language");
            patched = skipped != text;
            skipped
        } else {
            text
        };
        let dest = to.join(name);
        std::fs::write(&dest, text).map_err(|e| format!("writing {}: {e}", dest.display()))?;
    }
    if patched {
        Ok(())
    } else {
        Err(format!(
            "--skip-hours: {}/acme.yaml has no `start: check_hours` to replace",
            from.display()
        ))
    }
}

/// `target/release/examples/baseline`, built first.
fn baseline_binary() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--example", "baseline"])
        .current_dir(repo())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running {cargo:?} build --release --example baseline: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release --example baseline failed ({status})"
        ));
    }
    // This bench runs from target/release/deps; the example is in target/release/examples.
    let exe = std::env::current_exe().map_err(|e| format!("this bench's path: {e}"))?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in target/<profile>/deps", exe.display()))?;
    let baseline = release.join("examples").join("baseline");
    if !baseline.is_file() {
        return Err(format!("{} is missing after the build", baseline.display()));
    }
    Ok(baseline)
}

fn spawn_baseline(binary: &Path) -> Result<ServerProcess, String> {
    let mut command = Command::new(binary);
    command.args(["--listen", "127.0.0.1:0"]);
    ServerProcess::spawn("baseline", command, Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Machine, command line and date, as Markdown lines.
fn print_context(options: &Options) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    println!(
        "Command: `cargo bench --bench load{}{}`  ",
        if args.is_empty() { "" } else { " -- " },
        args.join(" ")
    );
    println!(
        "Date: {}  ",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!(
        "Machine: {} ({cpus} CPUs by nproc); load average at the start {}  ",
        cpu_model(),
        load_average()
    );
    let runs = if options.hold.is_some() {
        String::new()
    } else {
        format!(
            "; {} s warm-up, {} s measured per run; latency from send to last body byte",
            options.warmup, options.seconds
        )
    };
    println!(
        "Client: {} connections, keep-alive, one request in flight each, hyper 1 on 2 tokio workers{runs}.\n",
        options.connections
    );
}

/// Prints one run's line on stderr, with its errors.
fn print_run(label: &str, run: &Run) {
    eprintln!(
        "load: {label}: {:.0} webhooks/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, server CPU {} µs/webhook, {} webhooks measured, {} error(s){}",
        run.webhooks_per_second,
        run.p50_ms,
        run.p99_ms,
        run.max_ms,
        run.server_cpu_us
            .map_or("-".to_owned(), |c| format!("{c:.1}")),
        run.webhooks,
        run.tally.errors,
        match (run.tally.menu_calls, run.tally.voicemail_calls) {
            (0, 0) => String::new(),
            (m, v) => format!("; whole calls: {m} through the menus, {v} to voicemail"),
        }
    );
    for m in &run.tally.messages {
        eprintln!("  error: {m}");
    }
}

/// Median, min and max.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    (median, v[0], v[v.len() - 1])
}

/// The runs of one test on one server.
struct Series {
    test: Test,
    server: &'static str,
    runs: Vec<Run>,
}

impl Series {
    fn throughput(&self) -> (f64, f64, f64) {
        spread(
            &self
                .runs
                .iter()
                .map(|r| r.webhooks_per_second)
                .collect::<Vec<_>>(),
        )
    }

    fn p99(&self) -> (f64, f64, f64) {
        spread(&self.runs.iter().map(|r| r.p99_ms).collect::<Vec<_>>())
    }

    fn cpu_us(&self) -> Option<(f64, f64, f64)> {
        let values: Option<Vec<f64>> = self.runs.iter().map(|r| r.server_cpu_us).collect();
        values.filter(|v| !v.is_empty()).map(|v| spread(&v))
    }

    fn p50(&self) -> f64 {
        spread(&self.runs.iter().map(|r| r.p50_ms).collect::<Vec<_>>()).0
    }

    fn max(&self) -> f64 {
        self.runs.iter().map(|r| r.max_ms).fold(f64::NAN, f64::max)
    }

    fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.tally.errors).sum()
    }

    fn walks(&self) -> String {
        let menus: u64 = self.runs.iter().map(|r| r.tally.menu_calls).sum();
        let voicemail: u64 = self.runs.iter().map(|r| r.tally.voicemail_calls).sum();
        match self.test {
            Test::NewCalls => "voice".to_owned(),
            Test::WholeCalls => match (menus, voicemail) {
                (m, 0) => format!("menus ({m} calls)"),
                (0, v) => format!("voicemail ({v} calls)"),
                (m, v) => format!("menus {m}, voicemail {v}"),
            },
        }
    }
}

fn print_table(series: &[Series]) {
    println!(
        "| test | server | calls walked | webhooks/s median (min-max) | p50 ms | p99 ms median (min-max) | max ms | server CPU µs/webhook median (min-max) | errors |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for s in series {
        let (t, t_min, t_max) = s.throughput();
        let (p, p_min, p_max) = s.p99();
        let cpu = s.cpu_us().map_or("-".to_owned(), |(c, lo, hi)| {
            format!("{c:.1} ({lo:.1}-{hi:.1})")
        });
        println!(
            "| {} | {} | {} | {t:.0} ({t_min:.0}-{t_max:.0}) | {:.2} | {p:.2} ({p_min:.2}-{p_max:.2}) | {:.2} | {cpu} | {} |",
            s.test.name(),
            s.server,
            s.walks(),
            s.p50(),
            s.max(),
            s.errors()
        );
    }
    println!();
    for test in [Test::NewCalls, Test::WholeCalls] {
        let of = |server: &str| series.iter().find(|s| s.test == test && s.server == server);
        if let (Some(p), Some(b)) = (of("phonetree"), of("baseline")) {
            let cpu = match (p.cpu_us(), b.cpu_us()) {
                (Some(p), Some(b)) => format!(", server CPU per webhook {:.2}", p.0 / b.0),
                _ => String::new(),
            };
            println!(
                "- {}: phonetree/baseline throughput {:.2}, p99 {:.2}{cpu}",
                test.name(),
                p.throughput().0 / b.throughput().0,
                p.p99().0 / b.p99().0
            );
        }
    }
    println!("\nEvery run:\n");
    println!(
        "| round | test | server | webhooks/s | p50 ms | p99 ms | max ms | server CPU µs/webhook | webhooks | errors |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let rounds = series.iter().map(|s| s.runs.len()).max().unwrap_or(0);
    for round in 0..rounds {
        for s in series {
            if let Some(r) = s.runs.get(round) {
                println!(
                    "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                    round + 1,
                    s.test.name(),
                    s.server,
                    r.webhooks_per_second,
                    r.p50_ms,
                    r.p99_ms,
                    r.max_ms,
                    r.server_cpu_us
                        .map_or("-".to_owned(), |c| format!("{c:.1}")),
                    r.webhooks,
                    r.tally.errors
                );
            }
        }
    }
    for s in series {
        for (round, r) in s.runs.iter().enumerate() {
            if r.tally.errors > 0 {
                println!(
                    "\nErrors, round {}, {}, {}: {} in all; the first:\n",
                    round + 1,
                    s.test.name(),
                    s.server,
                    r.tally.errors
                );
                for m in &r.tally.messages {
                    println!("- `{m}`");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

/// Spawned phonetree processes for one run, on one store.
struct Phonetrees {
    processes: Vec<ServerProcess>,
    _setup: PhonetreeSetup,
}

impl Phonetrees {
    fn start(options: &Options, token: &Arc<str>) -> Result<Phonetrees, String> {
        let setup = PhonetreeSetup::new(options, token)?;
        let mut processes = Vec::new();
        for _ in 0..options.servers {
            processes.push(setup.spawn(SocketAddr::from(([127, 0, 0, 1], 0)))?);
        }
        Ok(Phonetrees {
            processes,
            _setup: setup,
        })
    }

    fn targets(&self) -> Arc<[Target]> {
        self.processes.iter().map(ServerProcess::target).collect()
    }

    fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(|p| p.child.id()).collect()
    }

    /// Errors if a process died; prints what they logged as warnings or errors.
    fn check(&mut self, label: &str) -> Result<(), String> {
        for p in &mut self.processes {
            let (count, first) = p.problems();
            if count > 0 {
                eprintln!("load: {label}: phonetree logged {count} warning/error line(s), first:");
                for line in first {
                    eprintln!("  {line}");
                }
            }
            p.check_running()?;
        }
        Ok(())
    }
}

/// Interleaved rounds of phonetree and the baseline (the default mode).
async fn compare(options: &Options) -> Result<u64, String> {
    let window = options.window()?;
    let token: Arc<str> = options.token.as_deref().unwrap_or(DEFAULT_TOKEN).into();
    let ids = Arc::new(CallIds::new());
    let mut baseline = spawn_baseline(&baseline_binary()?)?;
    let baseline_targets: Arc<[Target]> = Arc::new([baseline.target()]);
    let tests = options.tests();
    let mut series: Vec<Series> = tests
        .iter()
        .flat_map(|&test| {
            ["phonetree", "baseline"].map(|server| Series {
                test,
                server,
                runs: Vec::new(),
            })
        })
        .collect();
    let mut errors = 0;
    for round in 1..=options.rounds {
        for &test in &tests {
            let label = format!("round {round}, {}, phonetree", test.name());
            let mut phonetrees = Phonetrees::start(options, &token)?;
            let run = run_load(
                &phonetrees.targets(),
                Some(token.clone()),
                &ids,
                test,
                options.connections,
                window,
                &phonetrees.pids(),
            )
            .await;
            print_run(&label, &run);
            phonetrees.check(&label)?;
            drop(phonetrees);
            errors += run.tally.errors;
            push_run(&mut series, test, "phonetree", run);

            let label = format!("round {round}, {}, baseline", test.name());
            let run = run_load(
                &baseline_targets,
                Some(token.clone()),
                &ids,
                test,
                options.connections,
                window,
                &[baseline.child.id()],
            )
            .await;
            print_run(&label, &run);
            baseline.check_running()?;
            errors += run.tally.errors;
            push_run(&mut series, test, "baseline", run);
        }
    }
    println!("## Webhooks under load: phonetree serve and a bare axum baseline\n");
    print_context(options);
    println!(
        "phonetree: {} process(es) on {}, signed webhooks; a fresh store and fresh servers per run. \
         Baseline: examples/baseline.rs (axum, fixed main-menu answer).\n",
        options.servers,
        options
            .store
            .as_deref()
            .map_or("SQLite in a temporary directory", |s| {
                if s.starts_with("postgres") {
                    "PostgreSQL"
                } else {
                    s
                }
            })
    );
    print_table(&series);
    Ok(errors)
}

fn push_run(series: &mut [Series], test: Test, server: &str, run: Run) {
    if let Some(s) = series
        .iter_mut()
        .find(|s| s.test == test && s.server == server)
    {
        s.runs.push(run);
    }
}

/// Drives servers already running (`--target`).
async fn drive_targets(options: &Options) -> Result<u64, String> {
    let window = options.window()?;
    let targets: Arc<[Target]> = options
        .target
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?
        .into();
    let token: Option<Arc<str>> = options.token.as_deref().map(Into::into);
    let ids = Arc::new(CallIds::new());
    let tests = options.tests();
    let mut series: Vec<Series> = tests
        .iter()
        .map(|&test| Series {
            test,
            server: "target",
            runs: Vec::new(),
        })
        .collect();
    let mut errors = 0;
    for round in 1..=options.rounds {
        for &test in &tests {
            let run = run_load(
                &targets,
                token.clone(),
                &ids,
                test,
                options.connections,
                window,
                &[],
            )
            .await;
            print_run(&format!("round {round}, {}", test.name()), &run);
            errors += run.tally.errors;
            push_run(&mut series, test, "target", run);
        }
    }
    println!("## Webhooks under load\n");
    print_context(options);
    println!(
        "Targets: {} (each call's webhooks in turn); {}.\n",
        options.target.join(", "),
        if token.is_some() {
            "signed"
        } else {
            "unsigned"
        }
    );
    print_table(&series);
    Ok(errors)
}

/// A call waiting at a menu (or at voicemail), and its next webhook.
#[derive(Debug, Clone)]
struct HeldCall {
    call: Call,
    /// The `<Gather action>` or `<Record action>` the call waits on.
    action: String,
    at_menu: bool,
}

impl HeldCall {
    /// The held call's next webhook, checked: `*` at the main menu answers the main menu
    /// again; a recording at voicemail answers `<Hangup/>`.
    async fn resume(&self, client: &mut Client) -> Result<Duration, String> {
        let path = path_and_query(&self.action)?;
        let (step, what) = if self.at_menu {
            (Step::Gather("*"), "the main menu again after *")
        } else {
            (Step::Record, "<Hangup/> after the recording")
        };
        let answered = client.post(0, path, &self.call.params(&step)).await?;
        let a = &answered.answer;
        let right = if self.at_menu {
            a.gather_action.is_some()
                && a.gather_say
                    .as_deref()
                    .is_some_and(|s| s.starts_with(MAIN_MENU_TEXT))
        } else {
            a.hangup
        };
        if right {
            Ok(answered.latency)
        } else {
            Err(format!("{}: expected {what}, got {a:?}", self.call.sid))
        }
    }
}

/// Places one call up to where it waits: the main menu (voice, `1`), or voicemail when
/// Acme is closed (voice).
async fn hold_call(client: &mut Client, ids: &CallIds) -> Result<HeldCall, String> {
    let call = ids.call();
    let first = client
        .post(0, "/twilio/voice", &call.params(&Step::Voice))
        .await?
        .answer;
    if let Some(action) = first.gather_action {
        let path = path_and_query(&action)?;
        let menu = client
            .post(0, path, &call.params(&Step::Gather("1")))
            .await?
            .answer;
        let action = menu
            .gather_action
            .filter(|_| {
                menu.gather_say
                    .as_deref()
                    .is_some_and(|s| s.starts_with(MAIN_MENU_TEXT))
            })
            .ok_or_else(|| format!("{}: pressing 1 did not answer the main menu", call.sid))?;
        Ok(HeldCall {
            call,
            action,
            at_menu: true,
        })
    } else if let Some(action) = first.record_action {
        Ok(HeldCall {
            call,
            action,
            at_menu: false,
        })
    } else {
        Err(format!(
            "{}: the first answer has neither <Gather action> nor <Record action>",
            call.sid
        ))
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `--hold N` and `--cold-start`.
async fn hold(options: &Options, n: u32) -> Result<u64, String> {
    let token: Arc<str> = options.token.as_deref().unwrap_or(DEFAULT_TOKEN).into();
    let setup = PhonetreeSetup::new(options, &token)?;
    let mut phonetree = setup.spawn(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let targets: Arc<[Target]> = Arc::new([phonetree.target()]);
    let ids = Arc::new(CallIds::new());
    // "Before" is a server that has answered: one call placed and left out of the count.
    hold_call(&mut Client::new(targets.clone(), Some(token.clone())), &ids).await?;
    let before = phonetree.memory()?;

    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..options.connections.min(n) {
        let mut client = Client::new(targets.clone(), Some(token.clone()));
        let (ids, next) = (ids.clone(), next.clone());
        callers.spawn(async move {
            let mut held = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < u64::from(n) {
                held.push(hold_call(&mut client, &ids).await?);
            }
            Ok::<_, String>(held)
        });
    }
    let mut held: Vec<HeldCall> = Vec::with_capacity(n as usize);
    while let Some(done) = callers.join_next().await {
        held.extend(done.map_err(|e| format!("a caller task failed: {e}"))??);
    }
    let placing = started.elapsed();
    let after = phonetree.memory()?;
    let at_menu = held.iter().filter(|h| h.at_menu).count();

    println!("## Held calls: phonetree's memory\n");
    print_context(options);
    println!(
        "{} calls held ({} at the main menu, {} at voicemail) in {:.1} s, {} connections.\n",
        held.len(),
        at_menu,
        held.len() - at_menu,
        placing.as_secs_f64(),
        options.connections.min(n)
    );
    println!("| phonetree | VmRSS MiB | VmHWM MiB |");
    println!("|---|---:|---:|");
    println!(
        "| before the calls (one warm-up call held) | {:.1} | {:.1} |",
        mib(before.rss_kib),
        mib(before.hwm_kib)
    );
    println!(
        "| with {} calls held | {:.1} | {:.1} |",
        held.len(),
        mib(after.rss_kib),
        mib(after.hwm_kib)
    );
    println!();
    println!(
        "RSS growth per held call: {:.0} bytes ((VmRSS after - before) / calls; it includes the store's caches and what the allocator keeps).",
        (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0 / held.len() as f64
    );
    phonetree.check_running()?;

    if options.cold_start {
        let addr = phonetree.addr;
        phonetree.kill();
        drop(phonetree);
        let spawned = Instant::now();
        let mut restarted = setup.spawn(addr)?;
        let announced = spawned.elapsed();
        let mut client = Client::new(targets.clone(), Some(token.clone()));
        let first = &held[0];
        let mut attempts = 0u32;
        let first_latency = loop {
            attempts += 1;
            match first.resume(&mut client).await {
                Ok(latency) => break latency,
                // Until the listener accepts, connecting fails; any other failure is an error.
                Err(e) if e.contains("connect ") && spawned.elapsed() < START_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(format!("after the restart: {e}")),
            }
        };
        let answered = spawned.elapsed();
        let memory = restarted.memory()?;
        // A sample of the other held calls, spread over them, must answer the same way.
        let step = (held.len() / COLD_START_SAMPLE).max(1);
        let mut sampled = 0;
        let mut slowest = Duration::ZERO;
        for h in held.iter().skip(1).step_by(step).take(COLD_START_SAMPLE) {
            let latency = h
                .resume(&mut client)
                .await
                .map_err(|e| format!("after the restart: {e}"))?;
            slowest = slowest.max(latency);
            sampled += 1;
        }
        let after_sample = restarted.memory()?;
        restarted.check_running()?;
        println!();
        println!("### Cold start: SIGKILL, then `phonetree serve` again on the same store\n");
        println!("| measured | value |");
        println!("|---|---:|");
        println!(
            "| spawn to the `listen=` line | {:.1} ms |",
            announced.as_secs_f64() * 1e3
        );
        println!(
            "| spawn to the first correct answer to a held call | {:.1} ms |",
            answered.as_secs_f64() * 1e3
        );
        println!(
            "| that webhook alone (send to last byte; {attempts} attempt(s)) | {:.2} ms |",
            first_latency.as_secs_f64() * 1e3
        );
        println!(
            "| {sampled} more held calls answered correctly, slowest | {:.2} ms |",
            slowest.as_secs_f64() * 1e3
        );
        println!(
            "| VmRSS / VmHWM after the first answer | {:.1} / {:.1} MiB |",
            mib(memory.rss_kib),
            mib(memory.hwm_kib)
        );
        println!(
            "| VmRSS / VmHWM after the sample | {:.1} / {:.1} MiB |",
            mib(after_sample.rss_kib),
            mib(after_sample.hwm_kib)
        );
        let (count, first_problems) = restarted.problems();
        if count > 0 {
            eprintln!("load: the restarted phonetree logged {count} warning/error line(s), first:");
            for line in first_problems {
                eprintln!("  {line}");
            }
        }
    }
    Ok(0)
}

async fn run(options: Options) -> Result<u64, String> {
    if options.servers > 1 && options.store.is_none() {
        eprintln!(
            "load: note: --servers {} on the default SQLite store: several processes on one SQLite file",
            options.servers
        );
    }
    if let Some(n) = options.hold {
        if !options.target.is_empty() {
            return Err("--hold spawns its own phonetree; it does not take --target".into());
        }
        return hold(&options, n).await;
    }
    if options.target.is_empty() {
        compare(&options).await
    } else {
        drive_targets(&options).await
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!("load: error: {errors} webhook(s) failed; the numbers above are not valid");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("load: error: {e}");
            ExitCode::FAILURE
        }
    }
}
