//! Clients that hold connections open without finishing a request: slowloris headers,
//! trickled bodies, idle keep-alive connections. The real server on 127.0.0.1 must close
//! every one of them while it goes on answering whole calls.
#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use phonetree::server::{AppState, FlowRegistry, ServerOptions, Timeouts, run};
use phonetree::store::open_store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Slowloris connections opened at once.
const SLOW_HEADERS: usize = 500;
/// Connections that send their headers, then trickle the body.
const SLOW_BODIES: usize = 50;
/// Every slow connection must be closed by the server within this.
const CLOSE_LIMIT: Duration = Duration::from_secs(30);
/// A slow client sends one byte this often.
const TRICKLE: Duration = Duration::from_millis(300);

struct Server {
    base: String,
    addr: String,
    _dir: tempfile::TempDir,
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The shipped Acme flow, its lookup pointed at `crm`, served at an open hour with `timeouts`.
    async fn acme(crm: &str, timeouts: Timeouts) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = dir.path().join("flows");
        std::fs::create_dir_all(&flows).expect("mkdir");
        let acme = std::fs::read_to_string(repo().join("flows/acme.yaml")).expect("acme.yaml");
        std::fs::write(flows.join("acme.yaml"), acme.replace("127.0.0.1:9000", crm))
            .expect("write");
        let registry = FlowRegistry::load(flows, repo().join("prompts")).expect("flows compile");
        let db = dir.path().join("calls.db");
        let store = open_store(&format!("sqlite://{}", db.display())).expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let base = format!("http://{addr}");
        let now = open_time();
        let options = ServerOptions {
            public_url: base.clone(),
            auth_token: None,
            clock: Arc::new(move || now),
            timeouts,
        };
        let state = AppState::new(Arc::new(registry), store, options);
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(run(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            base,
            addr,
            _dir: dir,
            stop,
            handle,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("run returns by the shutdown deadline")
            .expect("server task")
            .expect("run");
    }
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        header_read: Duration::from_secs(2),
        body_read: Duration::from_secs(2),
        shutdown_deadline: Duration::from_secs(5),
    }
}

/// Makes room for `needed` more file descriptors (both ends of every socket live in this
/// process); returns the soft limit now in force.
fn raise_open_file_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return soft;
    }
    let wanted = limit.maximum.map_or(needed, |hard| hard.min(needed));
    let raised = rustix::process::Rlimit {
        current: Some(wanted),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => wanted,
        Err(_) => soft,
    }
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Writes `first`, then one byte of `trickle` every [`TRICKLE`] until the server closes the
/// connection; returns what the server answered and how long the connection lasted.
async fn hold_open(mut stream: TcpStream, first: &[u8], trickle: &[u8]) -> (String, Duration) {
    let opened = Instant::now();
    stream.write_all(first).await.expect("first bytes");
    let (mut read, mut write) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut answer = Vec::new();
        // Ends at EOF or a reset: either way the server let go of the connection.
        let _ = read.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    for byte in trickle.iter().cycle() {
        if reader.is_finished() {
            break;
        }
        tokio::time::sleep(TRICKLE).await;
        if write.write_all(&[*byte]).await.is_err() {
            break;
        }
    }
    let answer = reader.await.expect("reader");
    (answer, opened.elapsed())
}

/// One caller's whole call through the Acme flow: language, account balance by lookup, survey.
async fn whole_call(base: &str, sid: &str) {
    let mut call = Call {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        sid: common::sid(sid),
        from: "+15551230000".to_owned(),
        to: "+14155550199".to_owned(),
        last: Element::default(),
    };
    call.start().await;
    call.press("1").await;
    call.press("1").await;
    let t = call.press("123456#").await;
    assert!(t.said().contains("42.50"), "{}", t.said());
    call.press("5").await;
    call.status("completed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_slow_bodies_are_cut_off_while_calls_go_on() {
    let needed = (2 * (SLOW_HEADERS + SLOW_BODIES) + 256) as u64;
    let limit = raise_open_file_limit(needed);
    assert!(
        limit >= needed,
        "RLIMIT_NOFILE is {limit}, {needed} descriptors are needed and the limit cannot be raised"
    );
    let (crm, _crm) = start_crm().await;
    let server = Server::acme(&crm, short_timeouts()).await;
    let before = open_descriptors();

    let started = Instant::now();
    let mut slow = tokio::task::JoinSet::new();
    let opened = Arc::new(AtomicUsize::new(0));
    for i in 0..SLOW_HEADERS + SLOW_BODIES {
        let stream = TcpStream::connect(&server.addr)
            .await
            .unwrap_or_else(|e| panic!("slow connection {i} could not connect: {e}"));
        opened.fetch_add(1, Ordering::Relaxed);
        if i < SLOW_HEADERS {
            slow.spawn(async move {
                let (answer, lasted) = hold_open(
                    stream,
                    b"POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                    b"X-Slow: abcdefghijklmnopqrstuvwxyz\r\n",
                )
                .await;
                ("headers", answer, lasted)
            });
        } else {
            slow.spawn(async move {
                let (answer, lasted) = hold_open(
                    stream,
                    b"POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                      Content-Type: application/x-www-form-urlencoded\r\n\
                      Content-Length: 1000\r\n\r\nCallSid=CA",
                    b"0123456789",
                )
                .await;
                ("body", answer, lasted)
            });
        }
    }
    let peak = open_descriptors();
    eprintln!(
        "{} slow connections open after {:?}; descriptors in this process: {before} before, {peak} with them open (limit {limit})",
        opened.load(Ordering::Relaxed),
        started.elapsed()
    );

    // Whole calls keep being answered while the slow connections hold their sockets.
    let all_closed = Arc::new(AtomicBool::new(false));
    let callers = tokio::spawn({
        let base = server.base.clone();
        let all_closed = all_closed.clone();
        async move {
            let mut answered = 0usize;
            while answered == 0 || !all_closed.load(Ordering::Relaxed) {
                whole_call(&base, &format!("CA-meanwhile-{answered}")).await;
                answered += 1;
            }
            answered
        }
    });

    let mut closed = 0usize;
    let mut slowest = Duration::ZERO;
    let waited = tokio::time::timeout(CLOSE_LIMIT, async {
        while let Some(result) = slow.join_next().await {
            let (kind, answer, lasted) = result.expect("slow connection task");
            if kind == "body" {
                assert!(
                    answer.starts_with("HTTP/1.1 408"),
                    "a body that does not arrive in time is refused: {answer:?}"
                );
            } else {
                assert!(
                    answer.is_empty(),
                    "headers that never end get no answer: {answer:?}"
                );
            }
            closed += 1;
            slowest = slowest.max(lasted);
        }
    })
    .await;
    all_closed.store(true, Ordering::Relaxed);
    assert!(
        waited.is_ok(),
        "{} of {} slow connections still open after {CLOSE_LIMIT:?}",
        SLOW_HEADERS + SLOW_BODIES - closed,
        SLOW_HEADERS + SLOW_BODIES
    );
    let answered = callers.await.expect("callers");
    eprintln!(
        "{closed} slow connections ({SLOW_HEADERS} slowloris, {SLOW_BODIES} slow bodies) closed by the server, \
         the last after {slowest:?} (header and body timeouts 2 s); {answered} whole calls answered meanwhile"
    );
    assert_eq!(closed, SLOW_HEADERS + SLOW_BODIES);
    assert!(
        answered > 0,
        "calls were answered while slow clients held on"
    );

    // Nothing is left behind: a new call still goes through.
    whole_call(&server.base, "CA-after").await;
    server.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = Server::acme("127.0.0.1:9", short_timeouts()).await;
    let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let idle_since = loop {
        let n = stream.read(&mut buf).await.expect("answer");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break Instant::now();
        }
    };
    let head = String::from_utf8_lossy(&answer).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "the first answer keeps the connection alive: {head}"
    );
    let closed = tokio::time::timeout(CLOSE_LIMIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection was still open after {CLOSE_LIMIT:?}"
    );
    eprintln!(
        "idle keep-alive connection closed {:?} after its answer",
        idle_since.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_body_sent_slowly_but_in_time_is_answered() {
    let server = Server::acme("127.0.0.1:9", short_timeouts()).await;
    let form = "CallSid=CA0123456789abcdef0123456789abcdef&From=%2B15551230000&To=%2B14155550199&CallStatus=in-progress";
    let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
    let head = format!(
        "POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    // Two pieces a moment apart, well within the 2 s body limit.
    let (first, rest) = form.split_at(form.len() / 2);
    stream.write_all(first.as_bytes()).await.expect("body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(rest.as_bytes()).await.expect("body");
    let mut answer = String::new();
    tokio::time::timeout(CLOSE_LIMIT, stream.read_to_string(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("<Gather"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn run_returns_by_the_deadline_with_a_half_sent_request_open() {
    let timeouts = Timeouts {
        header_read: Duration::from_secs(120),
        body_read: Duration::from_secs(120),
        shutdown_deadline: Duration::from_secs(1),
    };
    let server = Server::acme("127.0.0.1:9", timeouts).await;
    let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
    stream
        .write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("half a request");
    // The request is in the server's hands before shutdown starts.
    reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("healthz");
    let addr = server.addr.clone();
    let stopping = Instant::now();
    server.stop().await;
    eprintln!(
        "run returned {:?} after shutdown with a half-sent request open (deadline 1 s, header timeout 120 s)",
        stopping.elapsed()
    );
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(CLOSE_LIMIT, stream.read(&mut buf))
        .await
        .expect("the half-sent request's connection is closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "the listener is closed"
    );
}
