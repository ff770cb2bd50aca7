//! phonetree's signature check against Twilio's own validator, `RequestValidator` of the
//! official `twilio` Python package.
//!
//! `tests/support/twilio_signatures.py` makes random requests from a fixed seed (http and
//! https URLs with and without an explicit default port, other ports, IPv6 and unicode
//! hosts, unicode and percent-encoded paths, queries with empty values; GETs signed over
//! the URL alone, POSTs with unicode names and values, empty values, repeated names with
//! identical and different values), signs each with `compute_signature` over the request
//! URL or over it with the default port added or removed, tampers with each twice, one
//! character each time (in the signature, and in the URL or a parameter's name or
//! value), and records `validate`'s verdict on every request.
//!
//! `signature_matches` must accept every signed request, refuse every tampered one, and
//! agree with `validate`, except where the two are known to differ:
//! - a share of the requests with repeated names is signed the way twilio-node joined
//!   them (values in arrival order, repeats kept), rewritten in the script since the
//!   `twilio` package has no such join: phonetree accepts them, `validate` refuses those
//!   whose join differs from its own `sorted(set(values))`;
//! - `validate` drops any port, not only the default one, so it accepts a request at a
//!   non-default port signed over the URL without that port; phonetree refuses it (its
//!   URL is built from its own public URL, and Twilio keeps a non-default port);
//! - `validate` compares the URL `urlparse` rebuilds, so it accepts a tampered URL whose
//!   scheme differs only in case; phonetree compares the bytes it was given.
//!
//! A `validate` that raises (a port that is not a number) counts as a refusal.
//!
//! The script runs under `$PHONETREE_TWILIO_PYTHON`, else `python3` if it imports
//! `twilio`; without either the tests print `SKIPPED: ...` on stderr and pass.

mod common;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use phonetree::server::signature::signature_matches;
use serde::Deserialize;

use common::{TestServer, repo};

const SEED: &str = "20240611";
const CASES: &str = "10000";
const PORT_STRIPPED_CASES: &str = "200";
const SERVER_CASES: &str = "300";

/// Why `validate` may accept a tampered URL that phonetree refuses.
const PYTHON_URL_QUIRKS: [&str; 3] = [
    "python-normalises-url",
    "python-strips-any-port",
    "python-cuts-ipv6-host",
];

#[derive(Deserialize)]
struct Meta {
    twilio: String,
    python: String,
    seed: u64,
}

#[derive(Deserialize)]
struct Case {
    id: u64,
    group: String,
    method: String,
    token: String,
    url: String,
    signed_url: String,
    params: Vec<(String, String)>,
    signature: String,
    forms_coincide: bool,
    py_valid: Option<bool>,
    tampered: Vec<Tampered>,
}

#[derive(Deserialize)]
struct Tampered {
    target: String,
    url: Option<String>,
    params: Option<Vec<(String, String)>>,
    signature: Option<String>,
    py_valid: Option<bool>,
    py_note: Option<String>,
}

impl Tampered {
    fn url<'a>(&'a self, case: &'a Case) -> &'a str {
        self.url.as_deref().unwrap_or(&case.url)
    }
    fn params<'a>(&'a self, case: &'a Case) -> &'a [(String, String)] {
        self.params.as_deref().unwrap_or(&case.params)
    }
    fn signature<'a>(&'a self, case: &'a Case) -> &'a str {
        self.signature.as_deref().unwrap_or(&case.signature)
    }
}

/// Written to the process's stderr rather than through the test harness, which hides
/// what passing tests print.
fn report(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn imports_twilio(python: &OsStr) -> bool {
    Command::new(python)
        .args(["-c", "import twilio.request_validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python that imports `twilio`, or `None` after saying loudly that the test is skipped.
fn twilio_python() -> Option<OsString> {
    if let Some(python) = std::env::var_os("PHONETREE_TWILIO_PYTHON").filter(|p| !p.is_empty()) {
        assert!(
            imports_twilio(&python),
            "PHONETREE_TWILIO_PYTHON={} cannot import twilio",
            python.to_string_lossy()
        );
        return Some(python);
    }
    let python = OsString::from("python3");
    if imports_twilio(&python) {
        return Some(python);
    }
    report(
        "SKIPPED: signature differential: no Python with the `twilio` package \
         (set PHONETREE_TWILIO_PYTHON or `pip install twilio`); the signature check \
         was NOT compared with Twilio's validator",
    );
    None
}

/// Runs the generator once and parses its JSON lines.
fn generate(python: &OsStr, args: &[&str]) -> (Meta, Vec<Case>, Duration) {
    let started = Instant::now();
    let output = Command::new(python)
        .arg(repo().join("tests/support/twilio_signatures.py"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/support/twilio_signatures.py");
    assert!(
        output.status.success(),
        "twilio_signatures.py failed: {}",
        output.status
    );
    let text = String::from_utf8(output.stdout).expect("JSON lines are UTF-8");
    let mut lines = text.lines();
    let meta: Meta = serde_json::from_str(lines.next().expect("a meta line")).expect("meta");
    let cases: Vec<Case> = lines
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (meta, cases, started.elapsed())
}

fn describe(case: &Case) -> String {
    format!(
        "case {} ({}, {}): url {:?} signed over {:?} params {:?} signature {}",
        case.id, case.group, case.method, case.url, case.signed_url, case.params, case.signature
    )
}

#[test]
fn phonetree_accepts_what_twilio_signs_and_refuses_every_tampered_request() {
    let Some(python) = twilio_python() else {
        return;
    };
    let (meta, cases, python_time) = generate(
        &python,
        &[
            "--seed",
            SEED,
            "--cases",
            CASES,
            "--port-stripped",
            PORT_STRIPPED_CASES,
        ],
    );
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let (mut signed, mut accepted, mut python_join, mut node_join) = (0, 0, 0, 0);
    let (mut node_refused_by_python, mut stripped, mut stripped_refused) = (0, 0, 0);
    let (mut tampered, mut refused, mut agreed) = (0, 0, 0);
    let mut by_target: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut quirks: std::collections::BTreeMap<String, usize> = Default::default();
    for case in &cases {
        let rust = signature_matches(&case.token, &case.url, &case.params, &case.signature);
        match case.group.as_str() {
            "python" | "node" => {
                signed += 1;
                accepted += usize::from(rust);
                if !rust {
                    failures.push(format!("refused a signed request: {}", describe(case)));
                }
                let python_expected = case.group == "python" || case.forms_coincide;
                if case.group == "python" {
                    python_join += 1;
                } else {
                    node_join += 1;
                    node_refused_by_python += usize::from(case.py_valid != Some(true));
                }
                if case.py_valid != Some(python_expected) {
                    failures.push(format!(
                        "validate said {:?}, expected {python_expected}: {}",
                        case.py_valid,
                        describe(case)
                    ));
                }
            }
            "python-strips-any-port" => {
                stripped += 1;
                stripped_refused += usize::from(!rust);
                if rust || case.py_valid != Some(true) {
                    failures.push(format!(
                        "expected validate to accept and phonetree to refuse (rust {rust}, python {:?}): {}",
                        case.py_valid,
                        describe(case)
                    ));
                }
            }
            other => failures.push(format!("unknown group {other}: {}", describe(case))),
        }
        for t in &case.tampered {
            tampered += 1;
            *by_target.entry(t.target.as_str()).or_default() += 1;
            let rust =
                signature_matches(&case.token, t.url(case), t.params(case), t.signature(case));
            refused += usize::from(!rust);
            let python = t.py_valid == Some(true);
            if rust {
                failures.push(format!(
                    "accepted a request tampered in its {} (url {:?} params {:?} signature {}): {}",
                    t.target,
                    t.url(case),
                    t.params(case),
                    t.signature(case),
                    describe(case)
                ));
            } else if !python {
                agreed += 1;
            } else {
                let note = t.py_note.clone().unwrap_or_default();
                if PYTHON_URL_QUIRKS.contains(&note.as_str()) && t.target == "url" {
                    *quirks.entry(note).or_default() += 1;
                } else {
                    failures.push(format!(
                        "validate accepted a request tampered in its {} ({note}): url {:?}: {}",
                        t.target,
                        t.url(case),
                        describe(case)
                    ));
                }
            }
        }
    }
    let rust_time = started.elapsed();
    let quirk_total: usize = quirks.values().sum();
    report(&format!(
        "signature differential against twilio {} (Python {}), seed {}:\n\
         \x20 signed requests: {signed}, accepted {accepted}, refused {} \
         ({python_join} joined as twilio-python, {node_join} as twilio-node); \
         validate refuses {node_refused_by_python} twilio-node joins that differ from its own\n\
         \x20 tampered requests: {tampered}, refused {refused}, accepted {} ({by_target:?}); \
         validate agrees on {agreed}, accepts {quirk_total} by its URL handling {quirks:?}\n\
         \x20 non-default port signed without it: {stripped}, refused {stripped_refused}; validate accepts them\n\
         \x20 time: Python {:.2} s, Rust {:.2} s",
        meta.twilio,
        meta.python,
        meta.seed,
        signed - accepted,
        tampered - refused,
        python_time.as_secs_f64(),
        rust_time.as_secs_f64(),
    ));
    assert!(
        failures.is_empty(),
        "{} disagreements, the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    assert_eq!(signed, CASES.parse::<usize>().expect("number"));
    assert_eq!(tampered, 2 * signed, "every request is tampered with twice");
}

#[tokio::test]
async fn the_server_answers_python_signed_callbacks_and_refuses_tampered_ones() {
    let Some(python) = twilio_python() else {
        return;
    };
    let token = "0123456789abcdef0123456789abcdef";
    let now = Utc.with_ymd_and_hms(2024, 6, 11, 15, 0, 0).unwrap();
    let server = TestServer::acme("127.0.0.1:9", now, Some(token)).await;
    let (_, cases, _) = generate(
        &python,
        &[
            "--seed",
            SEED,
            "--cases",
            SERVER_CASES,
            "--base",
            &server.base,
            "--token",
            token,
        ],
    );
    let http = reqwest::Client::new();
    let post = |url: &str, params: &[(String, String)], signature: &str| {
        let request = http
            .post(url)
            .header("X-Twilio-Signature", signature)
            .form(params);
        async move { request.send().await.expect("the server answers").status() }
    };
    let (mut signed, mut tampered) = (0, 0);
    for case in &cases {
        // The query must reach the server as Python signed it.
        assert_eq!(
            reqwest::Url::parse(&case.url).expect("url").as_str(),
            case.url
        );
        assert_eq!(
            case.py_valid,
            Some(case.group == "python" || case.forms_coincide)
        );
        let status = post(&case.url, &case.params, &case.signature).await;
        assert_eq!(status, 200, "{}", describe(case));
        signed += 1;
        for t in &case.tampered {
            assert_ne!(
                t.py_valid,
                Some(true),
                "validate accepted a tampered {}",
                t.target
            );
            let status = post(t.url(case), t.params(case), t.signature(case)).await;
            assert_eq!(
                status,
                403,
                "tampered {} (url {:?} params {:?} signature {}): {}",
                t.target,
                t.url(case),
                t.params(case),
                t.signature(case),
                describe(case)
            );
            tampered += 1;
        }
    }
    report(&format!(
        "signature differential over HTTP: {signed} signed status callbacks answered 200, \
         {tampered} tampered ones refused with 403"
    ));
    server.stop().await;
}
