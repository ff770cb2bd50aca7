//! What callers of each language hear: one reprompt per retry, the fault apology in the
//! caller's language, numbers composed from a language's recordings (and spoken when the
//! value is none the recordings can read), and long texts cut for Twilio's `<Say>`.

use std::path::Path;

use chrono::{DateTime, Utc};
use phonetree::call::{At, CallEvent, Step, Verb, start_call, step};
use phonetree::flow::numbers::NumberRules;
use phonetree::flow::{FlowSet, compile_paths};

fn now() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

fn wav(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for _ in 0..800 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Compiles `flow` (as `flows/f.yaml`) against catalogs and recordings in a temp dir.
fn compile(
    flow: &str,
    catalogs: &[(&str, &str)],
    recordings: &[&str],
) -> (tempfile::TempDir, FlowSet) {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    for (lang, text) in catalogs {
        std::fs::write(prompts.join(format!("{lang}.yaml")), text).unwrap();
    }
    for rel in recordings {
        wav(&prompts.join(rel));
    }
    let path = dir.path().join("f.yaml");
    std::fs::write(&path, flow).unwrap();
    let compiled = compile_paths(&[path], &prompts).unwrap();
    assert_eq!(compiled.error_count(), 0, "{}", compiled.rendered_errors());
    (dir, compiled.flows.expect("compiles"))
}

fn at(set: &FlowSet, prev: &Step, node: &str, attempt: u32) -> At {
    At {
        node: set.get("f").unwrap().node_by_name(node).expect(node),
        attempt,
        visit: prev.session.visit(),
    }
}

/// What the caller hears, one entry per Say (its text) or Play (its file).
fn heard(verbs: &[Verb]) -> Vec<String> {
    let mut out = Vec::new();
    for v in verbs {
        match v {
            Verb::Say { text, .. } => out.push(text.clone()),
            Verb::Play { file, .. } => out.push(file.clone()),
            Verb::Gather { prompt, .. } => out.extend(heard(prompt)),
            _ => {}
        }
    }
    out
}

#[test]
fn each_retry_hears_its_reprompt_and_the_last_one_repeats() {
    let flow = r#"
languages: [en]
start: menu
defaults: { retries: 3 }
nodes:
  menu:
    menu:
      prompt: { say: "For sales press 1." }
      reprompts: [{ say: "Press 1 for sales." }, { say: "Press 1." }]
      options: { "1": pin }
  pin:
    input: { prompt: { say: "Enter your PIN." }, reprompt: { say: "Your PIN, please." }, store: pin, digits: 4, next: bye }
  bye:
    hangup: { prompt: { say: "Bye." } }
"#;
    let (_dir, set) = compile(flow, &[("en", "x: y\n")], &[]);
    let f = set.get("f").unwrap().clone();
    let mut turn = start_call(&set, &f, "CA1", "+15550100000", "+15550100001", now());
    let mut got = vec![heard(&turn.verbs)];
    for attempt in 1..=3 {
        let silence = CallEvent::Silence {
            at: at(&set, &turn, "menu", attempt),
        };
        turn = step(&set, &turn.session, &silence, now());
        got.push(heard(&turn.verbs));
    }
    assert_eq!(
        got,
        [
            ["For sales press 1."],
            ["Press 1 for sales."],
            ["Press 1."],
            ["Press 1."],
        ]
    );
    let keys = CallEvent::Digits {
        at: at(&set, &turn, "menu", 4),
        digits: "1".into(),
    };
    turn = step(&set, &turn.session, &keys, now());
    assert_eq!(heard(&turn.verbs), ["Enter your PIN."]);
    let wrong = CallEvent::Digits {
        at: at(&set, &turn, "pin", 1),
        digits: "12".into(),
    };
    turn = step(&set, &turn.session, &wrong, now());
    assert_eq!(heard(&turn.verbs), ["Your PIN, please."]);
}

#[test]
fn the_fault_apology_is_in_the_callers_language() {
    let flow = r#"
languages: [en, ko, fa]
start: menu
nodes:
  menu:
    menu:
      prompt: pick
      options:
        "1": { goto: menu, set: { language: ko } }
        "2": { goto: menu, set: { language: fa } }
        "9": bye
  bye:
    hangup: { prompt: pick }
"#;
    let (_dir, set) = compile(
        flow,
        &[
            ("en", "pick: \"Pick.\"\n"),
            ("ko", "pick: \"고르세요.\"\n"),
            ("fa", "pick: \"x\"\n"),
        ],
        &["fa/pick.wav", "fa/fault_apology.wav"],
    );
    let f = set.get("f").unwrap().clone();
    let first = start_call(&set, &f, "CA1", "+15550100000", "+15550100001", now());
    let fault = CallEvent::Fault {
        reason: "a test fault".into(),
    };
    let english = step(&set, &first.session, &fault, now());
    assert_eq!(heard(&english.verbs)[0], "Sorry, something went wrong.");

    for (key, apology, locale, voice) in [
        (
            "1",
            "죄송합니다. 문제가 발생했습니다.",
            Some("ko-KR"),
            Some("Polly.Seoyeon"),
        ),
        ("2", "fa/fault_apology.wav", None, None),
    ] {
        let chosen = step(
            &set,
            &first.session,
            &CallEvent::Digits {
                at: at(&set, &first, "menu", 1),
                digits: key.into(),
            },
            now(),
        );
        let sorry = step(&set, &chosen.session, &fault, now());
        assert_eq!(heard(&sorry.verbs)[0], apology, "{key}");
        if let Some(Verb::Say {
            locale: l,
            voice: v,
            ..
        }) = sorry.verbs.iter().find(|v| matches!(v, Verb::Say { .. }))
        {
            assert_eq!((l.as_deref(), v.as_deref()), (locale, voice));
        }
    }
}

#[test]
fn korean_numbers_are_composed_from_its_recordings_and_other_values_are_spoken() {
    let fragments: Vec<String> = NumberRules::Korean
        .number_fragments()
        .into_iter()
        .map(|f| format!("ko/numbers/{f}.wav"))
        .collect();
    let recordings: Vec<&str> = fragments.iter().map(String::as_str).collect();
    let flow = r#"
languages: [ko]
start: amount
nodes:
  amount:
    input: { prompt: enter, store: amount, min_digits: 1, max_digits: 13, next: bye }
  bye:
    hangup: { prompt: entered }
"#;
    let (_dir, set) = compile(
        flow,
        &[(
            "ko",
            "enter: \"금액을 입력하세요.\"\nentered: \"{amount|number}원을 입력하셨습니다.\"\n",
        )],
        &recordings,
    );
    let f = set.get("f").unwrap().clone();
    let first = start_call(&set, &f, "CA1", "+15550100000", "+15550100001", now());
    let entered = |digits: &str| {
        let next = step(
            &set,
            &first.session,
            &CallEvent::Digits {
                at: at(&set, &first, "amount", 1),
                digits: digits.into(),
            },
            now(),
        );
        heard(&next.verbs)
    };
    // 12,345: 만 이천삼백사십오, then the text around the number, spoken.
    assert_eq!(
        entered("12345"),
        [
            "ko/numbers/10000.wav",
            "ko/numbers/2.wav",
            "ko/numbers/1000.wav",
            "ko/numbers/3.wav",
            "ko/numbers/100.wav",
            "ko/numbers/4.wav",
            "ko/numbers/10.wav",
            "ko/numbers/5.wav",
            "원을 입력하셨습니다.",
        ]
    );
    // Over 999,999,999,999 the rules do not reach and Korean has no digit recordings:
    // the value is spoken as written.
    assert_eq!(
        entered("9000000000000"),
        ["9000000000000원을 입력하셨습니다."]
    );
}

/// A sensitive value is never read from recordings, even where the language has them: the
/// kept copy of the answer (what a retry hears) masks spoken text, and a run of digit
/// recordings would be the card number itself.
#[test]
fn a_sensitive_value_is_spoken_never_played_from_digit_recordings() {
    let digits: Vec<String> = (0..10).map(|d| format!("fa/digits/{d}.wav")).collect();
    let recordings: Vec<&str> = digits.iter().map(String::as_str).collect();
    let flow = r#"
languages: [fa]
start: pin
nodes:
  pin:
    input: { prompt: enter, store: pin, sensitive: true, min_digits: 4, max_digits: 4, next: acct }
  acct:
    input: { prompt: enter, store: acct, min_digits: 4, max_digits: 4, next: bye }
  bye:
    hangup: { prompt: entered }
"#;
    let (_dir, set) = compile(
        flow,
        &[("fa", "entered: \"{pin|digits} {acct|digits}\"\n")],
        &[recordings.as_slice(), &["fa/enter.wav"]].concat(),
    );
    let f = set.get("f").unwrap().clone();
    let first = start_call(&set, &f, "CA1", "+15550100000", "+15550100001", now());
    let pin = step(
        &set,
        &first.session,
        &CallEvent::Digits {
            at: at(&set, &first, "pin", 1),
            digits: "4821".into(),
        },
        now(),
    );
    let acct = step(
        &set,
        &pin.session,
        &CallEvent::Digits {
            at: at(&set, &pin, "acct", 1),
            digits: "1234".into(),
        },
        now(),
    );
    // The PIN is spoken (and masked in every kept copy); the account number, not
    // sensitive, is read from the recordings.
    assert_eq!(
        heard(&acct.verbs),
        [
            "4 8 2 1 ",
            "fa/digits/1.wav",
            "fa/digits/2.wav",
            "fa/digits/3.wav",
            "fa/digits/4.wav"
        ]
    );
}

/// Regressions: a flow naming a voice but no locale got the voice's first locale of the
/// language (`alice` for `en` said en-AU); a whole number written as a float (`1000.0`, as a
/// JSON answer gives it) and a phone number with `+` were not read from recordings; a
/// language written `en-GB` had no built-in fault apology.
#[test]
fn usual_locales_floats_and_phone_numbers_are_read_as_callers_expect() {
    let flow = r#"
languages: [en]
voice: { en: alice }
start: hello
nodes:
  hello:
    hangup: { prompt: [{ say: "Hello." }] }
"#;
    let (_dir, set) = compile(flow, &[("en", "x: X\n")], &[]);
    let f = set.get("f").unwrap().clone();
    let first = start_call(&set, &f, "CA1", "+15550100000", "+15550100001", now());
    let locales: Vec<Option<String>> = first
        .verbs
        .iter()
        .filter_map(|v| match v {
            Verb::Say { locale, .. } => Some(locale.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(locales, [Some("en-US".to_owned())]);

    let fragments: Vec<String> = NumberRules::Korean
        .number_fragments()
        .into_iter()
        .map(|f| format!("ko/numbers/{f}.wav"))
        .chain((0..10).map(|d| format!("ko/digits/{d}.wav")))
        .collect();
    let recordings: Vec<&str> = fragments.iter().map(String::as_str).collect();
    let flow = r#"
languages: [ko]
start: copy
nodes:
  copy:
    set: { vars: { total: "1000.0" }, next: bye }
  bye:
    hangup: { prompt: said }
"#;
    let (_dir, set) = compile(
        flow,
        &[("ko", "said: \"{total|number} {caller|digits}\"\n")],
        &recordings,
    );
    let f = set.get("f").unwrap().clone();
    let first = start_call(&set, &f, "CA1", "+12", "+15550100001", now());
    assert_eq!(
        heard(&first.verbs),
        ["ko/numbers/1000.wav", "ko/digits/1.wav", "ko/digits/2.wav"]
    );
    assert_eq!(
        phonetree::flow::prompts::builtin_text("fault_apology", "en-GB"),
        Some("Sorry, something went wrong.")
    );
}
