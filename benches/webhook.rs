//! The pure part of answering a webhook: step the call for a key press and render
//! the TwiML, on the shipped Acme flow. No I/O, so it is the floor under the
//! HTTP and SQLite costs of a real webhook.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use phonetree::call::{CallEvent, start_call, step};
use phonetree::flow::compile_paths;
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

criterion_group!(benches, bench);
criterion_main!(benches);
