//! `phonetree report` over a large call log: a month of the shipped Acme flow's traffic
//! in a SQLite store, reported on by the release binary.
//!
//! The call log is made the way the server makes it: every call is driven through the
//! pure state machine ([`CallDriver`] over `start_call` and `step`, the engine of
//! `simulate`) with seeded random callers, so its event rows are exactly what the server
//! logs. The callers take a realistic mix of paths: hanging up or saying nothing at the
//! language menu, pressing keys that are not options, the account balance (an account
//! number, a lookup that answers or fails, the balance, the survey), the support queue,
//! voicemail, the operator (answered, busy, not answered: then voicemail) and the survey
//! (1 to 5, or hanging up on it). Calls start over 30 days, mostly in Acme's business
//! hours (New York), some after hours (then the flow takes a message).
//!
//! Rows go into the store's own schema ([`SqliteStore::open`] runs the migrations) with
//! the store's own formats (timestamps, enum names, event values as JSON), inserted
//! directly through one connection in large transactions, in the order the server would
//! commit them: webhook by webhook, the webhooks of concurrent calls interleaved by time.
//! The flow set's version is kept with `put_flow_version`, as the server keeps it. Sessions
//! and stored answers are left out: they expire soon after a call ends, and the report
//! does not read them. The database is cached under `target/bench-report/`, named by its
//! parameters, so a second run skips making it.
//!
//! Then it measures:
//!
//! - `phonetree report --store sqlite://FILE --format json` (the binary this bench was
//!   built with: `cargo bench` builds it in the release profile), run from the crate
//!   directory so the report finds `flows/`: wall time and peak RSS (`/usr/bin/time`'s
//!   maximum resident set size; without it, the highest `VmHWM` seen while it runs),
//!   after one unmeasured run that brings the file into the page cache. The JSON of the
//!   last run is kept next to the database (`.report.json`).
//! - The store's two range reads alone, in this process: draining `calls_in` and
//!   `events_in` over every call, one after the other.
//!
//! ```sh
//! cargo bench --bench report
//! PHONETREE_BENCH_CALLS=50000 PHONETREE_BENCH_RUNS=1 cargo bench --bench report
//! ```
//!
//! `PHONETREE_BENCH_CALLS` (default 1,000,000), `PHONETREE_BENCH_SEED` (default 1) and
//! `PHONETREE_BENCH_RUNS` (default 3) change the call count, the callers' choices and the
//! number of measured runs. There are no timing assertions; the program fails (status 1)
//! when the report fails or counts other calls than were made.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Timelike, Utc, Weekday};
use futures_util::StreamExt;
use phonetree::call::{
    CallEvent, CallSession, DialStatus, LogEvent, LookupOutcome, LookupRequest, Outcome,
    QueueResult,
};
use phonetree::flow::{FlowSet, compile_paths};
use phonetree::store::sqlite::SqliteStore;
use phonetree::store::{CallRange, Store};
use phonetree::tools::driver::{CallDriver, LookupResolver, Waiting};
use rusqlite::params;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Bumped whenever the generator changes what it writes, so a cached database of an
/// older generator is not reused.
const GENERATOR: u32 = 1;
/// The first day of the month of calls (midnight UTC).
const FIRST_DAY: &str = "2026-11-02T00:00:00Z";
/// Days of calls.
const DAYS: i64 = 30;
/// The number Acme's flow answers.
const TO: &str = "+14155550199";
/// Distinct callers (some call more than once in the month).
const CALLERS: u64 = 400_000;
/// Calls generated ahead of the inserter.
const CHUNK: usize = 2048;
/// Calls per insert transaction.
const CALLS_PER_TRANSACTION: u64 = 50_000;
/// A call that is still talking after this many webhooks hangs up.
const MAX_TURNS: usize = 40;

fn main() -> Result<()> {
    let calls: u64 = env_number("PHONETREE_BENCH_CALLS", 1_000_000)?;
    let seed: u64 = env_number("PHONETREE_BENCH_SEED", 1)?;
    let runs: usize = env_number("PHONETREE_BENCH_RUNS", 3)?;
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let compiled = compile_paths(&[crate_dir.join("flows")], &crate_dir.join("prompts"))?;
    let set = compiled
        .flows
        .ok_or("the shipped flows do not compile (run `phonetree check`)")?;
    let dir = crate_dir.join("target").join("bench-report");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join(format!(
        "acme-{calls}-calls-seed{seed}-v{}-schema{}-g{GENERATOR}.db",
        set.version,
        phonetree::store::schema::latest()
    ));
    if db.exists() {
        eprintln!("using {}", db.display());
    } else {
        let started = Instant::now();
        let made = generate(&set, calls, seed, &db)?;
        eprintln!(
            "made {} in {:.1} s: {} calls, {} events ({:.2} per call)",
            db.display(),
            started.elapsed().as_secs_f64(),
            made.calls,
            made.events,
            made.events as f64 / made.calls as f64
        );
    }
    let (in_db, events_in_db) = counts(&db)?;
    let size = std::fs::metadata(&db)?.len();

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_phonetree"));
    let json_out = db.with_extension("report.json");
    eprintln!("warm-up run");
    run_report(&bin, &crate_dir, &db, &json_out)?;
    let mut measured = Vec::new();
    for i in 0..runs {
        let run = run_report(&bin, &crate_dir, &db, &json_out)?;
        eprintln!(
            "run {}: {:.2} s, {:.0} MiB peak RSS, {} CPU",
            i + 1,
            run.wall.as_secs_f64(),
            run.peak_rss_kib as f64 / 1024.0,
            run.cpu_secs
                .map_or_else(|| "unmeasured".to_owned(), |c| format!("{c:.2} s"))
        );
        measured.push(run);
    }
    let reported = reported_calls(&json_out)?;
    if reported != in_db {
        return Err(format!("the report counts {reported} calls, the store holds {in_db}").into());
    }
    let reads = time_reads(&db)?;

    let mut walls: Vec<f64> = measured.iter().map(|r| r.wall.as_secs_f64()).collect();
    let mut rss: Vec<f64> = measured
        .iter()
        .map(|r| r.peak_rss_kib as f64 / 1024.0)
        .collect();
    println!("| what | value |");
    println!("|---|---|");
    println!("| database | `{}` |", db.display());
    println!("| size on disk | {:.0} MiB |", size as f64 / 1048576.0);
    println!("| calls | {in_db} |");
    println!(
        "| events | {events_in_db} ({:.2} per call) |",
        events_in_db as f64 / in_db.max(1) as f64
    );
    println!(
        "| `phonetree report --format json`, wall (median, min-max of {runs}) | {} |",
        summary(&mut walls, "s", 2)
    );
    println!(
        "| `phonetree report --format json`, peak RSS (median, min-max of {runs}) | {} |",
        summary(&mut rss, "MiB", 0)
    );
    let mut cpu: Vec<f64> = measured.iter().filter_map(|r| r.cpu_secs).collect();
    if !cpu.is_empty() {
        println!(
            "| `phonetree report --format json`, user + system CPU (median, min-max) | {} |",
            summary(&mut cpu, "s", 2)
        );
    }
    println!(
        "| `calls_in` alone ({} rows) | {:.2} s |",
        reads.calls,
        reads.calls_time.as_secs_f64()
    );
    println!(
        "| `events_in` alone ({} rows) | {:.2} s |",
        reads.events,
        reads.events_time.as_secs_f64()
    );
    Ok(())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(text) => text
            .replace(['_', ','], "")
            .parse()
            .map_err(|_| format!("{name}=`{text}` is not a number").into()),
        Err(_) => Ok(default),
    }
}

fn summary(values: &mut [f64], unit: &str, decimals: usize) -> String {
    values.sort_by(f64::total_cmp);
    let (Some(min), Some(max)) = (values.first(), values.last()) else {
        return "no runs".into();
    };
    let median = values[values.len() / 2];
    format!("{median:.decimals$} {unit} ({min:.decimals$} to {max:.decimals$})")
}

// ---------------------------------------------------------------------------------------
// The callers.

/// SplitMix64: small, fast and seedable; good enough for choosing keys.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of `choices`, by weight.
    fn pick<'a, T>(&mut self, choices: &'a [(f64, T)]) -> &'a T {
        let total: f64 = choices.iter().map(|(w, _)| w).sum();
        let mut x = self.unit() * total;
        for (w, choice) in choices {
            if x < *w {
                return choice;
            }
            x -= w;
        }
        &choices[choices.len() - 1].1
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

/// The account service: most lookups answer with a balance, some time out.
struct Accounts(Rng);

impl LookupResolver for Accounts {
    fn resolve(&mut self, _node: &str, _req: &LookupRequest) -> LookupOutcome {
        if self.0.chance(0.04) {
            LookupOutcome::Failed("timed out after 2 s".into())
        } else {
            let cents = self.0.between(0, 500_000);
            LookupOutcome::Answer(serde_json::json!({
                "balance": format!("{}.{:02}", cents / 100, cents % 100)
            }))
        }
    }
}

/// What a caller does when asked for keys.
enum Press {
    Keys(String),
    Silence,
    HangUp,
}

/// The caller's answer at a menu or input, by node.
fn choose_keys(rng: &mut Rng, node: &str, attempt: u32) -> Press {
    let keys = |k: &str| Press::Keys(k.to_owned());
    // Callers who failed once are more likely to give up.
    let hang_up_more = if attempt > 1 { 0.10 } else { 0.0 };
    match node {
        "language" => {
            if rng.chance(0.45 + hang_up_more) {
                return Press::HangUp;
            }
            match *rng.pick(&[
                (0.07, 0u8),
                (0.04, 1),
                (0.62, 2),
                (0.18, 3),
                (0.05, 4),
                (0.04, 5),
            ]) {
                0 => Press::Silence,
                1 => keys(["9", "0", "#"][rng.between(0, 2) as usize]),
                2 => keys("1"),
                3 => keys("2"),
                4 => keys("3"),
                _ => keys("4"),
            }
        }
        "main_menu" => {
            if rng.chance(0.14 + hang_up_more) {
                return Press::HangUp;
            }
            match *rng.pick(&[
                (0.05, 0u8),
                (0.05, 1),
                (0.05, 2),
                (0.36, 3),
                (0.19, 4),
                (0.08, 5),
                (0.22, 6),
            ]) {
                0 => Press::Silence,
                1 => keys(["7", "8", "9", "#"][rng.between(0, 3) as usize]),
                2 => keys("*"),
                3 => keys("1"),
                4 => keys("2"),
                5 => keys("3"),
                _ => keys("0"),
            }
        }
        "account" => {
            if rng.chance(0.05 + hang_up_more) {
                return Press::HangUp;
            }
            match *rng.pick(&[(0.05, 0u8), (0.07, 1), (0.88, 2)]) {
                0 => Press::Silence,
                1 => {
                    let n = rng.between(1, 4) as usize;
                    Press::Keys(format!("{}#", rng.digits(n)))
                }
                _ => Press::Keys(format!("{}#", rng.digits(6))),
            }
        }
        "survey" => {
            if rng.chance(0.50 + hang_up_more) {
                return Press::HangUp;
            }
            match *rng.pick(&[
                (0.04, 0u8),
                (0.03, 1),
                (0.08, 2),
                (0.07, 3),
                (0.14, 4),
                (0.30, 5),
                (0.34, 6),
            ]) {
                0 => Press::Silence,
                1 => keys(["0", "9"][rng.between(0, 1) as usize]),
                2 => keys("1"),
                3 => keys("2"),
                4 => keys("3"),
                5 => keys("4"),
                _ => keys("5"),
            }
        }
        _ => {
            if rng.chance(0.2) {
                Press::HangUp
            } else {
                keys("1")
            }
        }
    }
}

/// Seconds a caller listens at a node before pressing keys.
fn listen_secs(rng: &mut Rng, node: &str) -> u64 {
    match node {
        "language" => rng.between(3, 11),
        "main_menu" => rng.between(4, 16),
        "account" => rng.between(7, 16),
        "survey" => rng.between(5, 12),
        _ => rng.between(2, 8),
    }
}

/// One generated call: its final call row and its webhooks' events, as committed.
struct GeneratedCall {
    call_sid: String,
    flow: String,
    version: String,
    from_number: String,
    language: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    outcome: Option<Outcome>,
    last_node: Option<String>,
    /// Each webhook that logged something: when, and its events.
    webhooks: Vec<(DateTime<Utc>, Vec<LogEvent>)>,
}

impl GeneratedCall {
    /// What the store's call row holds after a webhook left `s` at `now` (the commit's
    /// upsert: outcome and node kept when the new session has none, the end set once).
    fn absorb(&mut self, s: &CallSession, now: DateTime<Utc>, events: Vec<LogEvent>) {
        self.flow.clone_from(&s.flow);
        self.version.clone_from(&s.version);
        self.language.clone_from(&s.language);
        self.outcome = s.outcome().or(self.outcome);
        if let Some(node) = s.node() {
            self.last_node = Some(node.to_owned());
        }
        if self.ended_at.is_none() && s.is_ended() && s.outcome().is_some() {
            self.ended_at = Some(now);
        }
        if !events.is_empty() {
            self.webhooks.push((now, events));
        }
    }
}

/// Drives call number `n` of the month, starting at `start`, through the flow.
fn make_call(set: &FlowSet, seed: u64, n: u64, start: DateTime<Utc>) -> Result<GeneratedCall> {
    let mut rng = Rng::new(seed, n.wrapping_mul(2));
    let mut accounts = Accounts(Rng::new(seed, n.wrapping_mul(2) + 1));
    let flow = set.route(TO).ok_or("no flow answers Acme's number")?;
    let call_sid = format!("CA{:016x}{:016x}", rng.next(), rng.next());
    let from_number = format!("+1{:010}", 2_000_000_000 + rng.between(0, CALLERS - 1) * 17);
    let (mut driver, first) =
        CallDriver::start(set, flow, &from_number, TO, None, start, &mut accounts);
    let mut call = GeneratedCall {
        call_sid: call_sid.clone(),
        flow: String::new(),
        version: String::new(),
        from_number,
        language: String::new(),
        started_at: start,
        ended_at: None,
        outcome: None,
        last_node: None,
        webhooks: Vec::new(),
    };
    let rename = |mut events: Vec<LogEvent>| {
        for e in &mut events {
            e.call_sid.clone_from(&call_sid);
        }
        events
    };
    call.absorb(&driver.session, driver.now, rename(first.events));
    let mut waiting = first.waiting;
    // Whole seconds of listening or talking, and a part of a second.
    let secs = |s: u64, rng: &mut Rng| {
        chrono::Duration::milliseconds((s * 1000 + rng.between(0, 999)) as i64)
    };
    for turn in 0.. {
        let next = match &waiting {
            Waiting::Ended => {
                // The status callback, a moment after the flow hung up.
                driver.now += chrono::Duration::milliseconds(rng.between(300, 1500) as i64);
                let end = driver.hang_up();
                call.absorb(&driver.session, driver.now, rename(end.events));
                break;
            }
            _ if turn >= MAX_TURNS => None,
            Waiting::Keys {
                at,
                node,
                timeout_secs,
                ..
            } => match choose_keys(&mut rng, node, at.attempt) {
                Press::Keys(digits) => {
                    driver.now += secs(listen_secs(&mut rng, node), &mut rng);
                    Some(CallEvent::Digits { at: *at, digits })
                }
                Press::Silence => {
                    driver.now += secs(
                        listen_secs(&mut rng, node) + u64::from(*timeout_secs),
                        &mut rng,
                    );
                    Some(CallEvent::Silence { at: *at })
                }
                Press::HangUp => {
                    driver.now += secs(rng.between(1, 9), &mut rng);
                    None
                }
            },
            Waiting::Dial { at, .. } => {
                let (status, talk) = *rng.pick(&[
                    (0.74, (DialStatus::Completed, (40, 900))),
                    (0.14, (DialStatus::NoAnswer, (20, 22))),
                    (0.07, (DialStatus::Busy, (2, 5))),
                    (0.05, (DialStatus::Failed, (1, 3))),
                ]);
                driver.now += secs(rng.between(talk.0, talk.1), &mut rng);
                Some(CallEvent::DialResult { at: *at, status })
            }
            Waiting::Queue { at, .. } => {
                let (result, wait) = *rng.pick(&[
                    (0.68, (QueueResult::Bridged, (60, 1200))),
                    (0.28, (QueueResult::Hangup, (20, 600))),
                    (0.04, (QueueResult::QueueFull, (0, 1))),
                ]);
                driver.now += secs(rng.between(wait.0, wait.1), &mut rng);
                Some(CallEvent::QueueLeft {
                    at: *at,
                    result,
                    waited_secs: Some(60),
                })
            }
            Waiting::Record {
                at,
                max_length_secs,
            } => {
                if rng.chance(0.08) {
                    driver.now += secs(rng.between(1, 6), &mut rng);
                    None
                } else {
                    let seconds = rng.between(4, u64::from(*max_length_secs)) as u32;
                    driver.now += secs(u64::from(seconds) + 2, &mut rng);
                    Some(CallEvent::Recorded {
                        at: *at,
                        url: Some(format!(
                            "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE{:016x}",
                            rng.next()
                        )),
                        duration_secs: Some(seconds),
                    })
                }
            }
        };
        let Some(event) = next else {
            // The caller hangs up: the status callback closes the call.
            let end = driver.hang_up();
            call.absorb(&driver.session, driver.now, rename(end.events));
            break;
        };
        let t = driver.send(&event);
        call.absorb(&driver.session, driver.now, rename(t.events));
        waiting = t.waiting;
    }
    Ok(call)
}

/// Weight of a call starting at `t`: Acme's phones ring mostly on weekdays 8 to 18 in New
/// York, much less in the evening and at weekends.
fn traffic_weight(t: DateTime<Utc>) -> f64 {
    let local = chrono_tz::America::New_York.from_utc_datetime(&t.naive_utc());
    let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    let hour = local.hour();
    match (weekend, hour) {
        (false, 8..=17) => 1.0,
        (false, 7 | 18..=20) => 0.25,
        (true, 9..=17) => 0.12,
        _ => 0.03,
    }
}

/// `calls` start times over the month, in order.
fn start_times(seed: u64, calls: u64) -> Result<Vec<DateTime<Utc>>> {
    let first: DateTime<Utc> = FIRST_DAY.parse()?;
    let span_ms = DAYS * 86_400_000;
    let mut rng = Rng::new(seed, u64::MAX);
    let mut starts = Vec::with_capacity(calls as usize);
    while (starts.len() as u64) < calls {
        let t = first + chrono::Duration::milliseconds((rng.next() % span_ms as u64) as i64);
        if rng.unit() < traffic_weight(t) {
            starts.push(t);
        }
    }
    starts.sort();
    Ok(starts)
}

// ---------------------------------------------------------------------------------------
// The store.

/// As the store writes a timestamp: RFC 3339 UTC with milliseconds.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Made {
    calls: u64,
    events: u64,
}

/// A webhook commit waiting for its time: the call row goes in with the call's first
/// webhook, events with each webhook.
struct Pending {
    at: DateTime<Utc>,
    order: (u64, usize),
    call: Option<Box<GeneratedCall>>,
    events: Vec<LogEvent>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Makes the database at `db`: the store's schema and flow version, then the calls.
fn generate(set: &FlowSet, calls: u64, seed: u64, db: &Path) -> Result<Made> {
    let tmp = db.with_extension("partial");
    for stale in [tmp.clone(), tmp.with_extension("partial-wal")] {
        let _ = std::fs::remove_file(stale);
    }
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let store = SqliteStore::open(&tmp)?;
        runtime.block_on(store.put_flow_version(
            &set.version,
            &set.sources.to_bundle(),
            FIRST_DAY.parse()?,
        ))?;
    }
    let mut conn = rusqlite::Connection::open(&tmp)?;
    // Nothing to recover: a crash leaves a `.partial` file that the next run replaces.
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -2_000_000)?;

    let starts = start_times(seed, calls)?;
    let (chunks, receiver) = std::sync::mpsc::sync_channel::<Vec<GeneratedCall>>(4);
    let made = std::thread::scope(|scope| -> Result<Made> {
        let generator = scope.spawn(move || -> std::result::Result<(), String> {
            for (i, window) in starts.chunks(CHUNK).enumerate() {
                let base = (i * CHUNK) as u64;
                let chunk = window
                    .iter()
                    .enumerate()
                    .map(|(j, &start)| make_call(set, seed, base + j as u64, start))
                    .collect::<Result<Vec<_>>>()
                    .map_err(|e| e.to_string())?;
                if chunks.send(chunk).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let mut made = Made {
            calls: 0,
            events: 0,
        };
        let mut pending: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
        let mut tx = conn.transaction()?;
        let mut since_commit = 0;
        let mut received = 0u64;
        for chunk in receiver {
            for call in chunk {
                // Every webhook before this call's start is committed before it.
                while pending.peek().is_some_and(|p| p.0.at < call.started_at) {
                    if let Some(Reverse(p)) = pending.pop() {
                        insert(&tx, p, &mut made)?;
                    }
                }
                let n = received;
                received += 1;
                let mut call = Box::new(call);
                let webhooks = std::mem::take(&mut call.webhooks);
                for (i, (at, events)) in webhooks.into_iter().enumerate() {
                    pending.push(Reverse(Pending {
                        at,
                        order: (n, i + 1),
                        call: None,
                        events,
                    }));
                }
                pending.push(Reverse(Pending {
                    at: call.started_at,
                    order: (n, 0),
                    call: Some(call),
                    events: Vec::new(),
                }));
                since_commit += 1;
                if since_commit == CALLS_PER_TRANSACTION {
                    tx.commit()?;
                    tx = conn.transaction()?;
                    since_commit = 0;
                    eprintln!("  {} calls, {} events", made.calls, made.events);
                }
            }
        }
        while let Some(Reverse(p)) = pending.pop() {
            insert(&tx, p, &mut made)?;
        }
        tx.commit()?;
        generator
            .join()
            .map_err(|_| "the generator thread panicked")??;
        Ok(made)
    })?;
    conn.execute_batch("ANALYZE")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    drop(conn);
    std::fs::rename(&tmp, db)?;
    Ok(made)
}

fn insert(tx: &rusqlite::Transaction<'_>, p: Pending, made: &mut Made) -> Result<()> {
    if let Some(c) = p.call {
        // The call row as the store's upserts leave it once the call has ended.
        tx.prepare_cached(
            "INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at, ended_at, outcome, last_node)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            c.call_sid,
            c.flow,
            c.version,
            c.from_number,
            TO,
            c.language,
            ts(c.started_at),
            c.ended_at.map(ts),
            c.outcome.map(Outcome::as_str),
            c.last_node
        ])?;
        made.calls += 1;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO call_events (call_sid, seq, at, flow, flow_version, node, kind, value, attempt, call_started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, (SELECT started_at FROM calls WHERE call_sid = ?1))",
    )?;
    for e in &p.events {
        let value = e.value.as_ref().map(serde_json::to_string).transpose()?;
        stmt.execute(params![
            e.call_sid,
            e.seq,
            ts(e.at),
            e.flow,
            e.version,
            e.node,
            e.kind.as_str(),
            value,
            e.attempt
        ])?;
        made.events += 1;
    }
    Ok(())
}

fn counts(db: &Path) -> Result<(u64, u64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let calls: i64 = conn.query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))?;
    let events: i64 = conn.query_row("SELECT COUNT(*) FROM call_events", [], |r| r.get(0))?;
    Ok((u64::try_from(calls)?, u64::try_from(events)?))
}

// ---------------------------------------------------------------------------------------
// Measuring.

struct Run {
    wall: Duration,
    peak_rss_kib: u64,
    /// User plus system CPU seconds, when `/usr/bin/time` measured them.
    cpu_secs: Option<f64>,
}

/// One `phonetree report --format json`, its JSON written to `json_out`.
fn run_report(bin: &Path, crate_dir: &Path, db: &Path, json_out: &Path) -> Result<Run> {
    let time = Path::new("/usr/bin/time");
    let store = format!("sqlite://{}", db.display());
    let args = ["report", "--store", &store, "--format", "json"];
    let rusage = db.with_extension("time");
    let mut command = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M %U %S").arg("-o").arg(&rusage).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    command
        .args(args)
        .current_dir(crate_dir)
        .stdout(Stdio::from(std::fs::File::create(json_out)?))
        .stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = command.spawn()?;
    let mut sampled_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if !time.exists() {
            sampled_kib = sampled_kib.max(vm_hwm_kib(child.id()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    if !status.success() {
        return Err(format!("phonetree report failed: {status}").into());
    }
    if !time.exists() {
        return Ok(Run {
            wall,
            peak_rss_kib: sampled_kib,
            cpu_secs: None,
        });
    }
    let measured = std::fs::read_to_string(&rusage)?;
    let fields: Vec<&str> = measured
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let [rss, user, system] = fields[..] else {
        return Err(format!("/usr/bin/time wrote `{measured}`").into());
    };
    Ok(Run {
        wall,
        peak_rss_kib: rss.parse()?,
        cpu_secs: Some(user.parse::<f64>()? + system.parse::<f64>()?),
    })
}

/// The peak resident set of a running process (or of `/usr/bin/time`'s child, which is
/// not this one: the fallback only runs without `/usr/bin/time`).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn reported_calls(json: &Path) -> Result<u64> {
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(json)?)?;
    report["calls"]
        .as_u64()
        .ok_or_else(|| "the report has no `calls`".into())
}

struct Reads {
    calls: u64,
    calls_time: Duration,
    events: u64,
    events_time: Duration,
}

/// Drains each range read over every call, one after the other, as the report's runtime
/// (one thread) would.
fn time_reads(db: &Path) -> Result<Reads> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = SqliteStore::open(db)?;
    let range = CallRange {
        flow: None,
        from: DateTime::<Utc>::UNIX_EPOCH,
        to: "9999-12-31T00:00:00Z".parse()?,
    };
    runtime.block_on(async {
        let started = Instant::now();
        let mut calls = 0;
        let mut rows = store.calls_in(&range);
        while let Some(row) = rows.next().await {
            row?;
            calls += 1;
        }
        let calls_time = started.elapsed();
        let started = Instant::now();
        let mut events = 0;
        let mut rows = store.events_in(&range);
        while let Some(row) = rows.next().await {
            row?;
            events += 1;
        }
        Ok(Reads {
            calls,
            calls_time,
            events,
            events_time: started.elapsed(),
        })
    })
}
