//! Reload on save, through the real `phonetree serve` on a copy of the shipped
//! flows and prompts: a saved change is what the next call hears, a broken
//! one is reported in `/healthz` while the last good version keeps serving,
//! and SIGHUP still reloads when watching is turned off.

mod common;

use common::{copy_dir, edit};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any wait here lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The shipped flows and prompts, copied; the flow starts at `after_hours` so
/// that what a call hears does not depend on the clock.
fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let prompts = dir.path().join("prompts");
    copy_dir(Path::new("flows"), &flows);
    copy_dir(Path::new("prompts"), &prompts);
    edit(
        &flows.join("acme.yaml"),
        "start: check_hours",
        "start: after_hours",
    );
    (dir, flows, prompts)
}

/// Saves like most editors: the new text goes to a temporary file renamed over the old one.
fn save_by_rename(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} in {}", file.display());
    let temp = file.with_extension("yaml.tmp");
    std::fs::write(&temp, text.replacen(from, to, 1)).unwrap();
    std::fs::rename(&temp, file).unwrap();
}

/// Saves like vim with `backup`: the old file moves aside, the new one is written fresh.
fn save_with_backup(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} in {}", file.display());
    let backup = PathBuf::from(format!("{}~", file.display()));
    std::fs::rename(file, &backup).unwrap();
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
    std::fs::remove_file(&backup).unwrap();
}

/// A running `phonetree serve`, stopped when dropped.
struct Serve {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Serve {
    /// Starts the server and waits until its log shows `ready`.
    fn start(flows: &Path, prompts: &Path, extra: &[&str], ready: &str) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phonetree"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--store",
                "sqlite::memory:",
            ])
            .arg("--flows")
            .arg(flows)
            .arg("--prompts")
            .arg(prompts)
            .args(extra)
            .env_remove("TWILIO_AUTH_TOKEN")
            .env_remove("PHONETREE_NO_WATCH")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run phonetree serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started = Instant::now();
        let port = loop {
            let text = log.lock().unwrap().clone();
            let port = text
                .split_once("listen=127.0.0.1:")
                .and_then(|(_, rest)| rest.split(' ').next())
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(port) = port
                && text.contains(ready)
            {
                break port;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "serve did not get ready:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::new(),
        }
    }

    async fn healthz(&self) -> serde_json::Value {
        let resp = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .expect("healthz");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("JSON")
    }

    /// Polls `/healthz` until `done` holds; fails after [`PATIENCE`].
    async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let health = self.healthz().await;
            if done(&health) {
                return health;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited in vain for {what}; /healthz: {health}\nlog:\n{}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What a new call hears first: the TwiML answer to its first webhook.
    async fn new_call(&self, label: &str) -> String {
        let sid = common::sid(label);
        let form = [
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("CallSid", sid.as_str()),
            ("From", "+15551230000"),
            ("To", "+14155550199"),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ];
        let resp = self
            .http
            .post(format!("{}/twilio/voice", self.base))
            .form(&form)
            .send()
            .await
            .expect("voice webhook");
        assert_eq!(resp.status(), 200);
        resp.text().await.expect("TwiML")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn version(health: &serde_json::Value) -> String {
    health["version"].as_str().expect("version").to_owned()
}

const CLOSED: &str = "Acme support is closed right now.";
const MOVED: &str = "Acme support has moved to a new office.";
/// The goodbye prompt has a recording.
const GOODBYE: &str = "/prompts/en/goodbye.wav";

#[tokio::test]
async fn a_saved_change_is_served_and_a_broken_one_is_not() {
    let (_dir, flows, prompts) = project();
    let serve = Serve::start(&flows, &prompts, &[], "watching flows and prompts");
    let first = version(&serve.healthz().await);
    assert!(serve.new_call("CA-before").await.contains(CLOSED));

    // A prompt text, saved in place.
    edit(&prompts.join("en.yaml"), CLOSED, MOVED);
    let health = serve
        .wait_for("the new prompt text", |h| version(h) != first)
        .await;
    let second = version(&health);
    assert!(health["last_reload_error"].is_null(), "{health}");
    let heard = serve.new_call("CA-moved").await;
    assert!(heard.contains(MOVED), "{heard}");

    // A broken flow: reported, and the last good version keeps serving.
    let acme = flows.join("acme.yaml");
    edit(
        &acme,
        "message: { prompt: closed_now, next: voicemail }",
        "message: { prompt: closed_now, next: voicemial }",
    );
    let health = serve
        .wait_for("the reload error", |h| !h["last_reload_error"].is_null())
        .await;
    let error = health["last_reload_error"].as_str().unwrap();
    assert!(error.contains("error[E006]"), "{error}");
    assert!(error.contains("voicemial"), "{error}");
    assert_eq!(version(&health), second);
    assert_eq!(health["status"], "ok", "the server is alive: {health}");
    let heard = serve.new_call("CA-broken").await;
    assert!(heard.contains(MOVED), "{heard}");
    // Reading files (the reload itself, a recording served) is no change: the error is logged once.
    let wav = serve
        .http
        .get(format!("{}/prompts/en/goodbye.wav", serve.base))
        .send()
        .await
        .expect("recording");
    assert_eq!(wav.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let failures = serve
        .log
        .lock()
        .unwrap()
        .matches("reload after a change failed")
        .count();
    assert_eq!(failures, 1, "{}", serve.log.lock().unwrap());

    // Fixed with a save by rename, and another flow edit: the error clears.
    save_by_rename(&acme, "next: voicemial", "next: voicemail");
    save_by_rename(&acme, "start: after_hours", "start: goodbye");
    let health = serve
        .wait_for("the fixed flow", |h| {
            h["last_reload_error"].is_null() && version(h) != second
        })
        .await;
    let third = version(&health);
    let heard = serve.new_call("CA-fixed").await;
    assert!(heard.contains(GOODBYE), "{heard}");

    // Moving the old file aside and writing a new one is followed too.
    save_with_backup(&acme, "start: goodbye", "start: after_hours");
    serve
        .wait_for("the flow saved with a backup", |h| version(h) != third)
        .await;
    let heard = serve.new_call("CA-backup").await;
    assert!(heard.contains(MOVED), "{heard}");
}

#[cfg(unix)]
#[tokio::test]
async fn with_no_watch_only_sighup_reloads() {
    let (_dir, flows, prompts) = project();
    let serve = Serve::start(&flows, &prompts, &["--no-watch"], "phonetree serving");
    let first = version(&serve.healthz().await);
    edit(&prompts.join("en.yaml"), CLOSED, MOVED);
    // Several debounce periods: a watcher would have reloaded by now (this can only fail wrongly by passing).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(version(&serve.healthz().await), first);
    assert!(!serve.log.lock().unwrap().contains("watching flows"));

    let status = Command::new("kill")
        .args(["-HUP", &serve.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    serve
        .wait_for("the reload on SIGHUP", |h| version(h) != first)
        .await;
    let heard = serve.new_call("CA-hup").await;
    assert!(heard.contains(MOVED), "{heard}");
}
