//! Menu semantics of the pure state machine, driven in process: the loop guard,
//! `back`, `start`, cross-flow targets, branches on variables and callers,
//! retries running out into the default hang-up, and a call that already ended.

use std::path::Path;

use chrono::{DateTime, Utc};
use phonetree::call::{
    At, CallEvent, CallStatus, EventKind, Outcome, Step, Verb, start_call, step,
};
use phonetree::flow::{FlowSet, compile_paths};

const MAIN: &str = r#"
flow: main
default: true
languages: [en]
start: top
defaults: { max_steps: 12, on_fail: sorry }
nodes:
  top:
    menu:
      prompt: { say: "Top menu." }
      options: { "1": sub, "2": vip_check, "3": "billing:entry", "4": { goto: vip_check, set: { tier: gold } }, "*": repeat }
  sub:
    menu:
      prompt: { say: "Sub menu." }
      options: { "9": back, "0": start, "5": quiet }
  quiet:
    menu: { prompt: { say: "Quiet menu." }, retries: 1, on_fail: hangup, options: { "1": top } }
  vip_check:
    branch:
      when:
        - { if: { caller: ["+15550000001"] }, goto: vip }
        - { if: { var: tier, equals: gold }, goto: vip }
      else: sorry
  vip:
    hangup: { prompt: { say: "Hello VIP." } }
  sorry:
    hangup: { prompt: { say: "Sorry, goodbye." } }
"#;

const BILLING: &str = r#"
flow: billing
languages: [en]
start: entry
nodes:
  entry:
    message: { prompt: { say: "Billing, {caller}." }, next: done }
  done:
    hangup: {}
"#;

fn flows() -> (tempfile::TempDir, FlowSet) {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("en.yaml"), "x: y\n").unwrap();
    std::fs::write(dir.path().join("main.yaml"), MAIN).unwrap();
    std::fs::write(dir.path().join("billing.yaml"), BILLING).unwrap();
    let compiled = compile_paths(&[dir.path().to_path_buf()], &prompts).unwrap();
    assert_eq!(compiled.error_count(), 0, "{}", compiled.rendered_errors());
    assert!(Path::new(&prompts).exists());
    (dir, compiled.flows.unwrap())
}

fn now() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

fn at(set: &FlowSet, flow: &str, node: &str, attempt: u32, visit: u32) -> At {
    At {
        node: set.get(flow).unwrap().node_by_name(node).unwrap(),
        attempt,
        visit,
    }
}

fn press(set: &FlowSet, prev: &Step, node: &str, key: &str) -> Step {
    let flow = prev.session.flow.clone();
    step(
        set,
        &prev.session,
        &CallEvent::Digits {
            at: at(
                set,
                &flow,
                node,
                prev.session.attempt().max(1),
                prev.session.visit(),
            ),
            digits: key.into(),
        },
        now(),
    )
}

fn said(s: &Step) -> String {
    let mut out = Vec::new();
    for v in &s.verbs {
        match v {
            Verb::Say { text, .. } => out.push(text.clone()),
            Verb::Gather { prompt, .. } => {
                for p in prompt {
                    if let Verb::Say { text, .. } = p {
                        out.push(text.clone());
                    }
                }
            }
            _ => {}
        }
    }
    out.join(" ")
}

fn start(set: &FlowSet, caller: &str) -> Step {
    let flow = set.get("main").unwrap().clone();
    start_call(set, &flow, "CA1", caller, "+14155550199", now())
}

#[test]
fn pressing_star_for_ever_spends_the_budget_once_then_hangs_up() {
    let (_d, set) = flows();
    let mut s = start(&set, "+15550000000");
    let mut presses = 0;
    while said(&s) == "Top menu." {
        s = press(&set, &s, "top", "*");
        presses += 1;
        assert!(presses < 100, "the loop guard never fired");
    }
    // max_steps is 12: the 12th re-entry spends it and the call goes once to on_fail.
    assert_eq!(presses, 12);
    assert_eq!(said(&s), "Sorry, goodbye.");
    assert_eq!(s.verbs.last(), Some(&Verb::Hangup));
    assert!(
        s.events
            .iter()
            .any(|e| e.kind == EventKind::BudgetExhausted)
    );
    assert_eq!(s.session.outcome(), Some(Outcome::Failed));
    // Anything after the end just hangs up.
    let after = press(&set, &s, "top", "*");
    assert_eq!(after.verbs, vec![Verb::Hangup]);
    assert!(after.events.is_empty());
}

#[test]
fn back_returns_to_the_previous_menu_and_start_to_the_top() {
    let (_d, set) = flows();
    let s = start(&set, "+15550000000");
    let s = press(&set, &s, "top", "1");
    assert_eq!(said(&s), "Sub menu.");
    let back = press(&set, &s, "sub", "9");
    assert_eq!(said(&back), "Top menu.");
    let restart = press(&set, &s, "sub", "0");
    assert_eq!(said(&restart), "Top menu.");
    assert_eq!(restart.session.node(), Some("top"));
}

#[test]
fn a_target_in_another_flow_switches_flow() {
    let (_d, set) = flows();
    let s = start(&set, "+15550000007");
    let s = press(&set, &s, "top", "3");
    assert_eq!(said(&s), "Billing, +15550000007.");
    assert_eq!(s.session.flow, "billing");
    assert_eq!(s.verbs.last(), Some(&Verb::Hangup));
    let entered: Vec<(String, String)> = s
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Entered)
        .map(|e| (e.flow.clone(), e.node.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        entered,
        [
            ("billing".into(), "entry".into()),
            ("billing".into(), "done".into())
        ]
    );
}

#[test]
fn branches_on_the_caller_and_on_variables() {
    let (_d, set) = flows();
    let vip = press(&set, &start(&set, "+15550000001"), "top", "2");
    assert_eq!(said(&vip), "Hello VIP.");
    let other = press(&set, &start(&set, "+15550000002"), "top", "2");
    assert_eq!(said(&other), "Sorry, goodbye.");
    let gold = press(&set, &start(&set, "+15550000002"), "top", "4");
    assert_eq!(said(&gold), "Hello VIP.");
    assert_eq!(
        gold.session.vars.get("tier"),
        Some(&serde_json::json!("gold"))
    );
    let arm = gold
        .events
        .iter()
        .find(|e| e.node.as_deref() == Some("vip_check"))
        .unwrap();
    assert_eq!(arm.value_text().as_deref(), Some("when 2"));
}

#[test]
fn retries_running_out_into_hangup_fail_the_call() {
    let (_d, set) = flows();
    let s = press(
        &set,
        &press(&set, &start(&set, "+1"), "top", "1"),
        "sub",
        "5",
    );
    assert_eq!(said(&s), "Quiet menu.");
    let quiet = |attempt, visit| At {
        node: set.get("main").unwrap().node_by_name("quiet").unwrap(),
        attempt,
        visit,
    };
    let again = step(
        &set,
        &s.session,
        &CallEvent::Silence {
            at: quiet(1, s.session.visit()),
        },
        now(),
    );
    assert_eq!(
        said(&again),
        "Quiet menu.",
        "no no_input prompt configured: just the prompt again"
    );
    let done = step(
        &set,
        &again.session,
        &CallEvent::Silence {
            at: quiet(2, again.session.visit()),
        },
        now(),
    );
    assert_eq!(done.verbs, vec![Verb::Hangup]);
    assert_eq!(done.session.outcome(), Some(Outcome::Failed));
    let closed = step(
        &set,
        &done.session,
        &CallEvent::Status {
            status: CallStatus::Completed,
        },
        now(),
    );
    let kinds: Vec<EventKind> = closed.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::CallEnded],
        "the flow hung up: no caller_hangup"
    );
    assert_eq!(closed.events[0].value_text().as_deref(), Some("failed"));
}

#[test]
fn a_callback_for_somewhere_else_asks_again_where_the_caller_is() {
    let (_d, set) = flows();
    let s = press(&set, &start(&set, "+1"), "top", "1");
    assert_eq!(said(&s), "Sub menu.");
    // A late key for the top menu, a key for a node never reached, an old attempt: nothing moves.
    for (node, attempt) in [("top", 1), ("quiet", 1), ("sub", 3)] {
        let event = CallEvent::Digits {
            at: at(&set, "main", node, attempt, s.session.visit()),
            digits: "1".into(),
        };
        let stale = step(&set, &s.session, &event, now());
        assert_eq!(said(&stale), "Sub menu.", "{node}");
        assert_eq!(stale.session.node(), Some("sub"));
        assert_eq!(stale.session.vars, s.session.vars);
        let kinds: Vec<EventKind> = stale.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Fault], "{node}");
    }
    let stale = step(
        &set,
        &s.session,
        &CallEvent::Stale {
            reason: "node gone".into(),
        },
        now(),
    );
    assert_eq!(said(&stale), "Sub menu.");
}

#[test]
fn results_that_arrive_after_the_hang_up_are_logged_and_fix_the_outcome() {
    let (_d, set) = flows();
    let s = start(&set, "+1");
    let hung_up = step(
        &set,
        &s.session,
        &CallEvent::Status {
            status: CallStatus::Completed,
        },
        now(),
    );
    assert_eq!(hung_up.session.outcome(), Some(Outcome::Abandoned));
    let late = step(
        &set,
        &hung_up.session,
        &CallEvent::Recorded {
            at: at(&set, "main", "top", 1, hung_up.session.visit()),
            url: Some("https://r/1".into()),
            duration_secs: Some(9),
        },
        now(),
    );
    assert_eq!(late.verbs, vec![Verb::Hangup]);
    assert_eq!(late.session.outcome(), Some(Outcome::Voicemail));
    assert_eq!(late.events[0].kind, EventKind::Recorded);
    assert_eq!(
        late.events[0].value_text().as_deref(),
        Some(r#"{"seconds":9,"url":"https://r/1"}"#)
    );
}
