//! The pure part of answering a webhook: step the call for a key press and render
//! the TwiML, on the shipped Acme flow, and check a call-start webhook's signature. No
//! I/O, so it is the floor under the HTTP and SQLite costs of a real webhook.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use phonetree::call::{CallEvent, start_call, step};
use phonetree::flow::compile_paths;
use phonetree::server::signature::{signature_matches, twilio_signature};
use phonetree::twiml::render_twiml;

fn bench(c: &mut Criterion) {
    let compiled =
        compile_paths(&[PathBuf::from("flows")], Path::new("prompts")).expect("readable");
    let set = compiled.flows.expect("acme compiles");
    let flow = set.get("acme").expect("acme").clone();
    let now = "2026-11-24T15:00:00Z".parse().expect("time");
    let first = start_call(&set, &flow, "CA1", "+15551230000", "+14155550199", now);
    let language = flow.node_by_name("language").expect("language");
    let press = CallEvent::Digits {
        at: phonetree::call::At {
            node: language,
            attempt: 1,
            visit: first.session.visit(),
        },
        digits: "3".into(),
    };
    c.bench_function("webhook/start_call_and_render", |b| {
        b.iter(|| {
            let s = start_call(&set, &flow, "CA1", "+15551230000", "+14155550199", now);
            render_twiml(&s.verbs, "https://ivr.example.com")
        })
    });
    c.bench_function("webhook/key_press_step_and_render", |b| {
        b.iter(|| {
            let s = step(&set, &first.session, &press, now);
            render_twiml(&s.verbs, "https://ivr.example.com")
        })
    });
}

/// The parameters Twilio sends with a call's first webhook (its voice request).
const VOICE_REQUEST: &[(&str, &str)] = &[
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("ApiVersion", "2010-04-01"),
    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
    ("CallStatus", "ringing"),
    ("Called", "+14155550199"),
    ("CalledCity", "SAN FRANCISCO"),
    ("CalledCountry", "US"),
    ("CalledState", "CA"),
    ("CalledZip", "94105"),
    ("Caller", "+15551230000"),
    ("CallerCity", "OAKLAND"),
    ("CallerCountry", "US"),
    ("CallerState", "CA"),
    ("CallerZip", "94612"),
    ("Direction", "inbound"),
    ("From", "+15551230000"),
    ("FromCity", "OAKLAND"),
    ("FromCountry", "US"),
    ("FromState", "CA"),
    ("FromZip", "94612"),
    ("To", "+14155550199"),
    ("ToCity", "SAN FRANCISCO"),
    ("ToCountry", "US"),
    ("ToState", "CA"),
    ("ToZip", "94105"),
];

fn signature(c: &mut Criterion) {
    let url = "https://ivr.example.com/twilio/voice";
    let params: Vec<(String, String)> = VOICE_REQUEST
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signed = twilio_signature("0123456789abcdef0123456789abcdef", url, &params);
    c.bench_function("webhook/signature_check", |b| {
        b.iter(|| {
            assert!(signature_matches(
                "0123456789abcdef0123456789abcdef",
                url,
                &params,
                &signed
            ))
        })
    });
}

criterion_group!(benches, bench, signature);
criterion_main!(benches);
