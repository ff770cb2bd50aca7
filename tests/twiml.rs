//! The TwiML of every node kind, pinned by snapshots, plus escaping of text
//! that callers, admins and CRMs can put into it.

use std::path::Path;

use chrono::{DateTime, Utc};
use phonetree::call::{At, CallEvent, DialStatus, LookupOutcome, Step, Verb, start_call, step};
use phonetree::flow::{FlowSet, compile_paths};
use phonetree::twiml::{render_twiml, render_twiml_pretty};

const BASE: &str = "https://ivr.example.com";

const KINDS: &str = r##"
flow: kinds
languages: [en, fa]
locale: { en: en-US, fa: fa-IR }
voice: { en: Polly.Joanna }
start: menu
defaults: { invalid: { say: "Not an option." }, no_input: { say: "Still there?" } }
nodes:
  menu:
    menu:
      prompt: [{ say: "Tom & Jerry <3 say: press 1; موجودی ۱; 계좌", lang: en }, { pause: 1s }, { play: beep.wav }]
      reprompt: { say: "Press 1 or 2." }
      options: { "1": input, "2": { goto: persian, set: { language: fa } }, "3": transfer, "4": queue, "5": voicemail, "6": lookup, "#": bye }
  persian:
    message: { prompt: { say: { en: "Hello", fa: "سلام & خوش آمدید" } }, next: bye }
  input:
    input: { prompt: { say: "Enter your card number." }, store: card, min_digits: 12, max_digits: 19, validate: luhn, next: bye }
  transfer:
    transfer: { to: "sip:agent@pbx.example.com?x=1&y=2", caller_id: "+14155550100", timeout: 15s, prompt: { say: "Connecting." }, next: bye, on_no_answer: bye }
  queue:
    queue: { name: "support & billing", hold: beep.wav, next: bye }
  voicemail:
    voicemail: { prompt: { say: "After the tone." }, max_length: 60s, finish_on: "*", next: bye }
  lookup:
    lookup: { url: "http://127.0.0.1:9/x?caller={caller}", store: crm, next: greet, on_error: bye }
  greet:
    set: { vars: { who: "{crm.name}" }, next: hello }
  hello:
    message: { prompt: { say: "Hello {who}, tier {crm.tier}." }, next: bye }
  bye:
    hangup: { prompt: { say: "Goodbye." } }
"##;

fn flows() -> (tempfile::TempDir, FlowSet) {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("en.yaml"), "x: y\n").unwrap();
    std::fs::write(prompts.join("fa.yaml"), "x: y\n").unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(prompts.join("beep.wav"), spec).unwrap();
    for i in 0..800 {
        w.write_sample(((i as f32 * 0.3).sin() * 3000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    let flow = dir.path().join("kinds.yaml");
    std::fs::write(&flow, KINDS).unwrap();
    let compiled = compile_paths(&[flow], &prompts).unwrap();
    assert_eq!(compiled.error_count(), 0, "{}", compiled.rendered_errors());
    (dir, compiled.flows.expect("compiles"))
}

fn now() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

fn at(set: &FlowSet, node: &str, attempt: u32, visit: u32) -> At {
    At {
        node: set.get("kinds").unwrap().node_by_name(node).expect(node),
        attempt,
        visit,
    }
}

fn press(set: &FlowSet, prev: &Step, node: &str, attempt: u32, digits: &str) -> Step {
    step(
        set,
        &prev.session,
        &CallEvent::Digits {
            at: at(set, node, attempt, prev.session.visit()),
            digits: digits.into(),
        },
        now(),
    )
}

fn twiml(step: &Step) -> String {
    let pretty = render_twiml_pretty(&step.verbs, BASE);
    // The compact form the provider gets is the same document.
    let compact = render_twiml(&step.verbs, BASE);
    assert_eq!(
        compact.replace(['\n', ' '], ""),
        pretty.replace(['\n', ' '], "")
    );
    pretty
}

#[test]
fn twiml_of_every_node_kind() {
    let (_dir, set) = flows();
    let flow = set.get("kinds").unwrap().clone();
    let start = start_call(&set, &flow, "CA1", "+15551230000", "+14155550199", now());
    insta::assert_snapshot!("menu", twiml(&start));

    let invalid = press(&set, &start, "menu", 1, "9");
    insta::assert_snapshot!("menu_invalid_retry", twiml(&invalid));
    let silent = step(
        &set,
        &start.session,
        &CallEvent::Silence {
            at: at(&set, "menu", 1, start.session.visit()),
        },
        now(),
    );
    insta::assert_snapshot!("menu_silence_retry", twiml(&silent));

    let input = press(&set, &start, "menu", 1, "1");
    insta::assert_snapshot!("input", twiml(&input));
    let card = press(&set, &input, "input", 1, "4111111111111111");
    insta::assert_snapshot!("hangup_after_input", twiml(&card));
    let ev = card
        .events
        .iter()
        .find(|e| e.kind.as_str() == "input")
        .unwrap();
    assert_eq!(
        ev.value_text().as_deref(),
        Some("****************"),
        "luhn input is sensitive: masked in the log"
    );
    assert!(!format!("{:?}", card.session.redacted()).contains("4111111111111111"));

    let persian = press(&set, &start, "menu", 1, "2");
    insta::assert_snapshot!("message_in_persian_then_hangup", twiml(&persian));

    let transfer = press(&set, &start, "menu", 1, "3");
    insta::assert_snapshot!("transfer", twiml(&transfer));
    let after = step(
        &set,
        &transfer.session,
        &CallEvent::DialResult {
            at: at(&set, "transfer", 1, transfer.session.visit()),
            status: DialStatus::Busy,
        },
        now(),
    );
    assert_eq!(after.verbs.last(), Some(&Verb::Hangup));

    let queue = press(&set, &start, "menu", 1, "4");
    insta::assert_snapshot!("queue", twiml(&queue));
    let hold = step(
        &set,
        &queue.session,
        &CallEvent::Hold {
            at: at(&set, "queue", 1, queue.session.visit()),
            wait: Default::default(),
        },
        now(),
    );
    insta::assert_snapshot!("queue_hold_music", twiml(&hold));
    assert!(hold.events.is_empty(), "hold music fetches are not logged");

    let voicemail = press(&set, &start, "menu", 1, "5");
    insta::assert_snapshot!("voicemail", twiml(&voicemail));

    let lookup = press(&set, &start, "menu", 1, "6");
    let req = lookup.lookup.clone().expect("a lookup request");
    // `+` is encoded: a bare `+` in a query value reads as a space.
    assert_eq!(req.url, "http://127.0.0.1:9/x?caller=%2B15551230000");
    assert!(lookup.verbs.is_empty());
    let answer = serde_json::json!({"name": "Zoë & <Co>", "tier": "gold"});
    let looked = step(
        &set,
        &lookup.session,
        &CallEvent::LookupResult {
            at: req.at,
            outcome: LookupOutcome::Answer(answer),
        },
        now(),
    );
    insta::assert_snapshot!("lookup_answer_set_message_hangup", twiml(&looked));
    let failed = step(
        &set,
        &lookup.session,
        &CallEvent::LookupResult {
            at: req.at,
            outcome: LookupOutcome::Failed("timeout".into()),
        },
        now(),
    );
    insta::assert_snapshot!("lookup_error", twiml(&failed));
}

#[test]
fn text_with_markup_characters_and_control_bytes_stays_well_formed() {
    let verbs = vec![
        Verb::Say {
            text: "a & b < c > d \" ' \u{0} \u{7} \u{1b}[31m ]]> موجودی 계좌".into(),
            locale: Some("fa-IR\"><x".into()),
            voice: None,
        },
        Verb::Hangup,
    ];
    let xml = render_twiml(&verbs, "https://ivr.example.com/base/");
    assert!(xml.contains("a &amp; b &lt; c &gt; d"), "{xml}");
    assert!(xml.contains("موجودی 계좌"));
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    assert!(xml.contains(r#"language="fa-IR&quot;&gt;&lt;x""#), "{xml}");
    assert!(Path::new(BASE).to_str().is_some());
}

#[test]
fn a_say_longer_than_its_voice_takes_goes_out_as_several_cut_between_words() {
    let text = "Please hold while we look at your account. ".repeat(200);
    let xml = render_twiml(
        &[Verb::Say {
            text: text.clone(),
            locale: Some("en-US".into()),
            voice: Some("Polly.Joanna".into()),
        }],
        BASE,
    );
    let parts: Vec<&str> = xml
        .split("<Say language=\"en-US\" voice=\"Polly.Joanna\">")
        .skip(1)
        .map(|p| p.split("</Say>").next().unwrap())
        .collect();
    assert_eq!(
        parts.len(),
        3,
        "{} bytes in Polly's 3,000-byte pieces",
        text.len()
    );
    assert!(
        parts
            .iter()
            .all(|p| p.len() <= 3000 && !p.ends_with(char::is_whitespace))
    );
    assert_eq!(parts.join(" "), text.trim_end());
}
