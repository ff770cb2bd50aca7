//! Records a week of made-up calls to the Acme line, for trying `phonetree report`.
//!
//! ```sh
//! cargo run --example report_demo -- target/report-demo
//! cargo run -- report --store sqlite://target/report-demo/calls.db --format html -o report.html
//! ```
//!
//! It serves the shipped flow on 127.0.0.1 with a stand-in CRM and a clock it moves
//! itself, and calls it the way Twilio would: a few hundred callers over seven days who
//! pick languages, hang up at menus, press wrong keys or nothing, check balances, wait in
//! the queue, leave voicemail, reach the operator (or not) and rate the call 1 to 5. The
//! callers are drawn from a fixed seed, so every run records the same calls.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use phonetree::server::{AppState, FlowRegistry, ServerOptions, run};
use phonetree::store::open_store;

/// A small deterministic generator (xorshift64*).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// A whole number in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    /// One of `options` by weight.
    fn pick<'a>(&mut self, options: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = options.iter().map(|(_, w)| w).sum();
        let mut at = (self.next() % u64::from(total.max(1))) as u32;
        for (value, w) in options {
            if at < *w {
                return value;
            }
            at -= w;
        }
        options.first().map_or("", |(v, _)| v)
    }
}

/// The demo's clock: every webhook sees the time the caller has reached.
#[derive(Clone)]
struct Clock(Arc<Mutex<DateTime<Utc>>>);

impl Clock {
    fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = at;
        }
    }
    fn advance(&self, seconds: i64) {
        if let Ok(mut now) = self.0.lock() {
            *now += Duration::seconds(seconds);
        }
    }
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map_or(DateTime::UNIX_EPOCH, |now| *now)
    }
}

/// The one attribute or text of the first `tag` element in a TwiML answer.
fn find(twiml: &str, tag: &str, attr: Option<&str>) -> Option<String> {
    let start = twiml.find(&format!("<{tag}"))?;
    let rest = &twiml[start..];
    let end = rest.find('>')?;
    let raw = match attr {
        Some(a) => {
            let open = format!(" {a}=\"");
            let head = &rest[..end];
            let from = head.find(&open)? + open.len();
            let len = head[from..].find('"')?;
            head[from..from + len].to_owned()
        }
        None => {
            let close = rest.find(&format!("</{tag}>"))?;
            rest[end + 1..close].to_owned()
        }
    };
    Some(
        raw.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// One caller, talking to the server as Twilio does.
struct Caller {
    http: reqwest::Client,
    base: String,
    sid: String,
    last: String,
}

impl Caller {
    async fn post(&mut self, url: &str, extra: &[(&str, &str)]) -> Result<()> {
        let mut form: Vec<(&str, &str)> = vec![
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("CallSid", &self.sid),
            ("From", "+15551230000"),
            ("To", "+14155550199"),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
        ];
        for (k, v) in extra {
            form.retain(|(key, _)| key != k);
            form.push((k, v));
        }
        let answer = self.http.post(url).form(&form).send().await?;
        if !answer.status().is_success() {
            bail!("{url} answered {}", answer.status());
        }
        self.last = answer.text().await?;
        Ok(())
    }
    fn has(&self, tag: &str) -> bool {
        self.last.contains(&format!("<{tag}"))
    }
    async fn start(&mut self) -> Result<()> {
        let url = format!("{}/twilio/voice", self.base);
        self.post(&url, &[]).await
    }
    async fn press(&mut self, digits: &str) -> Result<()> {
        let url = find(&self.last, "Gather", Some("action")).context("no <Gather>")?;
        self.post(&url, &[("Digits", digits)]).await
    }
    async fn silence(&mut self) -> Result<()> {
        let url = find(&self.last, "Redirect", None).context("no <Redirect>")?;
        self.post(&url, &[]).await
    }
    async fn dialed(&mut self, status: &str, seconds: i64) -> Result<()> {
        let url = find(&self.last, "Dial", Some("action")).context("no <Dial>")?;
        let secs = seconds.to_string();
        self.post(
            &url,
            &[("DialCallStatus", status), ("DialCallDuration", &secs)],
        )
        .await
    }
    async fn recorded(&mut self, seconds: i64) -> Result<()> {
        let url = find(&self.last, "Record", Some("action")).context("no <Record>")?;
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
    async fn hang_up(&mut self) -> Result<()> {
        let url = format!("{}/twilio/status", self.base);
        self.post(&url, &[("CallStatus", "completed"), ("CallDuration", "60")])
            .await
    }
}

/// One call, from the first ring to the status callback.
async fn call(caller: &mut Caller, dice: &mut Dice, clock: &Clock) -> Result<()> {
    caller.start().await?;
    if caller.has("Record") {
        // After hours: the closed message, then voicemail.
        clock.advance(dice.between(8, 14));
        if dice.chance(0.4) {
            return caller.hang_up().await;
        }
        clock.advance(dice.between(15, 70));
        caller.recorded(dice.between(10, 60)).await?;
        return caller.hang_up().await;
    }
    // The language menu.
    clock.advance(dice.between(5, 12));
    if dice.chance(0.05) {
        return caller.hang_up().await;
    }
    if dice.chance(0.03) {
        for _ in 0..3 {
            caller.silence().await?;
            clock.advance(5);
        }
        return operator(caller, dice, clock).await;
    }
    if dice.chance(0.05) {
        caller.press("9").await?;
        clock.advance(dice.between(4, 8));
    }
    caller
        .press(dice.pick(&[("1", 70), ("2", 20), ("3", 5), ("4", 5)]))
        .await?;
    // The main menu.
    clock.advance(dice.between(6, 18));
    if dice.chance(0.07) {
        return caller.hang_up().await;
    }
    if dice.chance(0.05) {
        caller.press("*").await?;
        clock.advance(dice.between(8, 14));
    }
    if dice.chance(0.06) {
        caller.press("7").await?;
        clock.advance(dice.between(4, 8));
    } else if dice.chance(0.05) {
        caller.silence().await?;
        clock.advance(5);
    }
    match dice.pick(&[("1", 36), ("2", 24), ("3", 10), ("0", 30)]) {
        "1" => {
            caller.press("1").await?;
            account(caller, dice, clock).await
        }
        "2" => {
            caller.press("2").await?;
            clock.advance(dice.between(30, 300));
            caller.hang_up().await
        }
        "3" => {
            caller.press("3").await?;
            voicemail(caller, dice, clock).await
        }
        _ => {
            caller.press("0").await?;
            operator(caller, dice, clock).await
        }
    }
}

async fn account(caller: &mut Caller, dice: &mut Dice, clock: &Clock) -> Result<()> {
    clock.advance(dice.between(8, 22));
    if dice.chance(0.06) {
        return caller.hang_up().await;
    }
    if dice.chance(0.06) {
        caller.silence().await?;
        clock.advance(6);
    }
    let number = dice.pick(&[("123456#", 75), ("500500#", 12), ("111111#", 13)]);
    caller.press(number).await?;
    clock.advance(1);
    if caller.has("Dial") {
        // The lookup failed: on to the operator.
        return operator_dial(caller, dice, clock).await;
    }
    clock.advance(dice.between(6, 10));
    survey(caller, dice, clock).await
}

async fn operator(caller: &mut Caller, dice: &mut Dice, clock: &Clock) -> Result<()> {
    if !caller.has("Dial") {
        bail!("expected the operator's <Dial>: {}", caller.last);
    }
    operator_dial(caller, dice, clock).await
}

async fn operator_dial(caller: &mut Caller, dice: &mut Dice, clock: &Clock) -> Result<()> {
    if dice.chance(0.05) {
        clock.advance(dice.between(5, 20));
        return caller.hang_up().await;
    }
    if dice.chance(0.22) {
        clock.advance(20);
        caller.dialed("no-answer", 0).await?;
        return voicemail(caller, dice, clock).await;
    }
    let talk = dice.between(60, 420);
    clock.advance(talk);
    caller.dialed("completed", talk).await?;
    survey(caller, dice, clock).await
}

async fn voicemail(caller: &mut Caller, dice: &mut Dice, clock: &Clock) -> Result<()> {
    clock.advance(dice.between(5, 9));
    if dice.chance(0.1) {
        return caller.hang_up().await;
    }
    let seconds = dice.between(12, 90);
    clock.advance(seconds);
    caller.recorded(seconds).await?;
    clock.advance(3);
    caller.hang_up().await
}

async fn survey(caller: &mut Caller, dice: &mut Dice, clock: &Clock) -> Result<()> {
    clock.advance(dice.between(4, 10));
    if dice.chance(0.18) {
        return caller.hang_up().await;
    }
    if dice.chance(0.04) {
        caller.press("8").await?;
        clock.advance(4);
    }
    let rating = dice.pick(&[("5", 38), ("4", 30), ("3", 15), ("2", 9), ("1", 8)]);
    caller.press(rating).await?;
    clock.advance(3);
    caller.hang_up().await
}

/// A stand-in CRM: account 123456 has a balance, 500500 fails, the rest are unknown.
async fn start_crm() -> Result<String> {
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/accounts/{id}",
        get(|Path(id): Path<String>| async move {
            match id.as_str() {
                "123456" => (
                    StatusCode::OK,
                    axum::Json(serde_json::json!({"balance": "42.50", "tier": "gold"})),
                ),
                "500500" => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(serde_json::json!({})),
                ),
                _ => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({}))),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/report-demo".into()),
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = out.join("flows");
    std::fs::create_dir_all(&flows)?;
    let db = out.join("calls.db");
    for stale in ["calls.db", "calls.db-wal", "calls.db-shm"] {
        let _ = std::fs::remove_file(out.join(stale));
    }
    let crm = start_crm().await?;
    let acme = std::fs::read_to_string(repo.join("flows/acme.yaml"))?;
    std::fs::write(
        flows.join("acme.yaml"),
        acme.replace("127.0.0.1:9000", &crm),
    )?;

    let store_url = format!("sqlite://{}", db.display());
    let store = open_store(&store_url)?;
    let registry = FlowRegistry::load(flows.clone(), repo.join("prompts"))?;
    let registry = Arc::new(registry.with_store(store.clone()).await);
    let clock = Clock(Arc::new(Mutex::new(DateTime::UNIX_EPOCH)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let read = clock.clone();
    let options = ServerOptions {
        public_url: base.clone(),
        auth_token: None,
        clock: Arc::new(move || read.now()),
        timeouts: Default::default(),
    };
    let state = AppState::new(registry, store, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, state, async {
        let _ = stopped.await;
    }));

    let mut dice = Dice(0x5eed_1234_abcd_0001);
    let http = reqwest::Client::new();
    // Monday 2026-11-16 to Sunday 2026-11-22; Acme is open 08:00-18:00 New York time
    // (13:00-23:00 UTC) on weekdays.
    let first_day: DateTime<Utc> = "2026-11-16T00:00:00Z".parse()?;
    let per_day = [64, 81, 72, 90, 58, 14, 9];
    let mut calls = 0;
    for (day, &count) in per_day.iter().enumerate() {
        let mut starts: Vec<i64> = (0..count)
            .map(|_| {
                if dice.chance(0.9) {
                    dice.between(13 * 3600, 23 * 3600 - 600)
                } else {
                    dice.between(0, 24 * 3600 - 600)
                }
            })
            .collect();
        starts.sort_unstable();
        for start in starts {
            calls += 1;
            let at = first_day + Duration::days(day as i64) + Duration::seconds(start);
            clock.set(at);
            let mut caller = Caller {
                http: http.clone(),
                base: base.clone(),
                sid: format!("CA{calls:032x}"),
                last: String::new(),
            };
            call(&mut caller, &mut dice, &clock)
                .await
                .with_context(|| format!("call {calls} at {at}"))?;
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    println!(
        "recorded {calls} calls in {}\nnow: cargo run -- report --store {store_url} --format html -o report.html",
        db.display()
    );
    Ok(())
}
