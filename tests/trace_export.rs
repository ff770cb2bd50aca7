//! `phonetree trace` and `phonetree export` on calls driven through the real server:
//! the Acme flows with a sensitive account number, plus a second flow on its own number,
//! on two days. The binary reads the call log the server wrote, on SQLite and on
//! PostgreSQL (which says SKIPPED and passes on a machine without its server binaries).
#![cfg(unix)]

#[path = "common/bin.rs"]
mod bin;
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bin::run_phonetree;
use chrono::{DateTime, Utc};
use common::{TestServer, copy_dir, edit, pg, repo, sid, start_crm};
use phonetree::store::open_store;

/// The columns `export` writes, in order.
const COLUMNS: [&str; 10] = [
    "call_sid",
    "seq",
    "at",
    "flow",
    "flow_version",
    "node",
    "kind",
    "value",
    "value_json",
    "attempt",
];

/// The account number the journey enters; the flow marks it sensitive.
const ACCOUNT: &str = "123456";

/// The flows and prompts the servers serve.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// Acme with a sensitive account number and its lookup at `crm`, and flow `hello` on
    /// +14155550123 that says goodbye.
    fn new(crm: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::copy(repo().join("flows/acme.yaml"), flows.join("acme.yaml")).unwrap();
        let acme = flows.join("acme.yaml");
        edit(&acme, "127.0.0.1:9000", crm);
        edit(
            &acme,
            "digits: 6, finish_on",
            "digits: 6, sensitive: true, finish_on",
        );
        std::fs::write(
            flows.join("hello.yaml"),
            "numbers: [\"+14155550123\"]\nlanguages: [en]\nstart: bye\nnodes:\n  bye:\n    hangup: { prompt: goodbye }\n",
        )
        .unwrap();
        copy_dir(&repo().join("prompts"), &dir.path().join("prompts"));
        Project { dir }
    }

    fn flows(&self) -> PathBuf {
        self.dir.path().join("flows")
    }

    fn prompts(&self) -> PathBuf {
        self.dir.path().join("prompts")
    }

    /// A server on `store_url` whose clock stands at `now`.
    async fn serve(&self, store_url: &str, now: DateTime<Utc>) -> TestServer {
        TestServer::start_with_store(
            tempfile::tempdir().unwrap(),
            self.flows(),
            self.prompts(),
            now,
            None,
            None,
            Some(store_url),
        )
        .await
    }

    /// `--flows DIR --prompts DIR` for the binary.
    fn project_args(&self) -> Vec<String> {
        vec![
            "--flows".into(),
            self.flows().display().to_string(),
            "--prompts".into(),
            self.prompts().display().to_string(),
        ]
    }
}

/// Tuesday 2026-11-24, 10:00 in New York: Acme is open.
fn day_one() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

/// Wednesday 2026-11-25, 10:00 in New York: open too.
fn day_two() -> DateTime<Utc> {
    "2026-11-25T15:00:00Z".parse().unwrap()
}

/// The calls [`record_calls`] makes, by label.
const JOURNEY: &str = "trace-journey";
const VOICEMAIL: &str = "trace-voicemail";
const HELLO: &str = "trace-hello";
const HUNG_UP: &str = "trace-hung-up";

/// A caller who picks English, presses a wrong key, says nothing, enters the account
/// (sensitive), hears the balance and rates the call 5.
async fn journey(server: &TestServer, label: &str) {
    let mut call = server.call(label);
    call.start().await;
    call.press("1").await;
    let t = call.press("9").await;
    assert!(t.find("Gather").is_some(), "asked again");
    call.silence().await;
    call.press("1").await;
    let t = call.press(&format!("{ACCOUNT}#")).await;
    assert!(
        t.said().contains("42.50"),
        "the lookup answered: {}",
        t.said()
    );
    call.press("5").await;
    call.status("completed").await;
}

/// Day one: the journey, and a caller whose operator does not answer and who leaves a
/// message. Day two: a call to `hello`, and an Acme caller who hangs up at the main menu.
async fn record_calls(project: &Project, store_url: &str) {
    let server = project.serve(store_url, day_one()).await;
    journey(&server, JOURNEY).await;
    let mut call = server.call(VOICEMAIL);
    call.start().await;
    call.press("1").await;
    call.press("0").await;
    call.dial_result("no-answer").await;
    call.recorded(17).await;
    call.status("completed").await;
    server.stop().await;

    let server = project.serve(store_url, day_two()).await;
    let mut call = server.call(HELLO);
    call.to = "+14155550123".to_owned();
    let t = call.start().await;
    assert!(t.verbs().contains(&"Hangup"), "{:?}", t.verbs());
    call.status("completed").await;
    let mut call = server.call(HUNG_UP);
    call.start().await;
    call.press("1").await;
    call.status("completed").await;
    server.stop().await;
}

/// (call_sid, seq) of every event of the calls with these labels, in the order given.
async fn stored_events(store_url: &str, labels: &[&str]) -> Vec<(String, String)> {
    let store = open_store(store_url).unwrap();
    let mut out = Vec::new();
    for label in labels {
        let events = store.events(&sid(label)).await.unwrap();
        assert!(!events.is_empty(), "{label} has events");
        out.extend(events.into_iter().map(|e| (e.call_sid, e.seq.to_string())));
    }
    out
}

fn phonetree(args: &[String]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_phonetree(&args, None)
}

/// `phonetree export --store URL EXTRA...` as CSV records, after checking the header.
fn export_csv(store_url: &str, extra: &[&str]) -> Vec<csv::StringRecord> {
    let mut args = vec!["export".to_owned(), "--store".into(), store_url.into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let (code, out, err) = phonetree(&args);
    assert_eq!(code, 0, "export {extra:?}: {err}");
    assert_eq!(err, "", "nothing on stderr when not a terminal");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(reader.headers().unwrap(), COLUMNS.as_slice());
    reader.records().map(Result::unwrap).collect()
}

fn keys_of(rows: &[csv::StringRecord]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (r[0].to_owned(), r[1].to_owned()))
        .collect()
}

/// `phonetree trace SID --format json`.
fn trace_json(project: &Project, store_url: &str, label: &str) -> serde_json::Value {
    let mut args = vec![
        "trace".to_owned(),
        sid(label),
        "--store".into(),
        store_url.into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(project.project_args());
    let (code, out, err) = phonetree(&args);
    assert_eq!(code, 0, "trace {label}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("trace JSON ({e}): {out}"))
}

/// The values of the steps of `kind`.
fn values(trace: &serde_json::Value, kind: &str) -> Vec<String> {
    trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == kind)
        .map(|s| s["value"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The prompts heard at the steps of `kind` at `node`.
fn prompts(trace: &serde_json::Value, node: &str, kind: &str) -> Vec<Vec<String>> {
    trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == kind && s["node"] == node)
        .map(|s| serde_json::from_value(s["prompts"].clone()).unwrap())
        .collect()
}

/// What holds of the journey's trace whatever the store.
fn check_journey(trace: &serde_json::Value) {
    let call = &trace["call"];
    assert_eq!(call["call_sid"], sid(JOURNEY).as_str());
    assert_eq!(call["flow"], "acme");
    assert_eq!(call["from"], "+15551230000");
    assert_eq!(call["to"], "+14155550199");
    assert_eq!(call["language"], "en");
    assert_eq!(call["outcome"], "self_service");
    assert_eq!(call["started_at"], "2026-11-24T15:00:00.000Z");
    assert!(call["ended_at"].is_string(), "{call}");
    let entered: Vec<String> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "entered")
        .map(|s| format!("{}:{}", s["node"].as_str().unwrap(), s["node_kind"]))
        .collect();
    assert_eq!(
        entered,
        [
            "check_hours:\"branch\"",
            "language:\"menu\"",
            "main_menu:\"menu\"",
            "account:\"input\"",
            "lookup_account:\"lookup\"",
            "balance:\"message\"",
            "survey:\"menu\"",
            "goodbye:\"hangup\"",
        ]
    );
    assert_eq!(values(trace, "key"), ["1", "1", "5"]);
    assert_eq!(values(trace, "invalid"), ["9"]);
    assert_eq!(values(trace, "input"), ["******"], "masked in the log");
    assert_eq!(values(trace, "answer"), ["csat=5"]);
    assert_eq!(values(trace, "set"), ["language=en"]);
    assert_eq!(values(trace, "call_ended"), ["self_service"]);
    assert_eq!(
        prompts(trace, "language", "entered"),
        [[
            "press_1_english",
            "press_2_spanish",
            "press_3_persian",
            "press_4_korean"
        ]]
    );
    assert_eq!(prompts(trace, "main_menu", "entered"), [["main_menu"]]);
    assert_eq!(
        prompts(trace, "main_menu", "invalid"),
        [["invalid_choice", "main_menu"]]
    );
    assert_eq!(
        prompts(trace, "main_menu", "no_input"),
        [["no_input", "main_menu"]]
    );
    assert_eq!(prompts(trace, "account", "entered"), [["enter_account"]]);
    assert_eq!(prompts(trace, "balance", "entered"), [["your_balance"]]);
    assert_eq!(prompts(trace, "survey", "entered"), [["rate_us_1_to_5"]]);
    assert_eq!(prompts(trace, "goodbye", "entered"), [["goodbye"]]);
    let attempts: Vec<u64> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["node"] == "main_menu" && s["kind"] != "entered")
        .map(|s| s["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3], "invalid, no input, then the key");
    let seqs: Vec<u64> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "in order"
    );
    assert!(
        !trace.to_string().contains(ACCOUNT),
        "the account number is nowhere in the trace"
    );
}

#[tokio::test]
async fn trace_tells_one_callers_journey() {
    let (crm, _crm) = start_crm().await;
    let project = Project::new(&crm);
    let store_url = format!("sqlite://{}", project.dir.path().join("calls.db").display());
    record_calls(&project, &store_url).await;

    check_journey(&trace_json(&project, &store_url, JOURNEY));

    let mut args = vec![
        "trace".to_owned(),
        sid(JOURNEY),
        "--store".into(),
        store_url.clone(),
    ];
    args.extend(project.project_args());
    let (code, text, err) = phonetree(&args);
    assert_eq!(code, 0, "{err}");
    for line in [
        format!("call {}  flow acme  version ", sid(JOURNEY)),
        "from +15551230000  to +14155550199  language en".to_owned(),
        "started 2026-11-24 15:00:00.000 UTC  ended 2026-11-24 15:00:00.000 UTC".to_owned(),
        "outcome self_service".to_owned(),
        "15:00:00.000     +0.0s  check_hours (branch) -> open".to_owned(),
        "language (menu)  says: press_1_english, press_2_spanish, press_3_persian, press_4_korean"
            .to_owned(),
        "    key 1".to_owned(),
        "    invalid 9, attempt 1  says: invalid_choice, main_menu".to_owned(),
        "    no input, attempt 2  says: no_input, main_menu".to_owned(),
        "    digits ******".to_owned(),
        "    lookup ok".to_owned(),
        "    answer stored: csat=5".to_owned(),
        "  goodbye (hangup)  says: goodbye".to_owned(),
        "    flow hung up".to_owned(),
        "  call ended: self_service".to_owned(),
    ] {
        assert!(text.contains(&line), "no `{line}` in:\n{text}");
    }
    assert!(!text.contains(ACCOUNT), "{text}");
    assert!(!text.contains("note:"), "the version is known:\n{text}");

    // A transfer nobody answers, then a voicemail.
    let voicemail = trace_json(&project, &store_url, VOICEMAIL);
    assert_eq!(voicemail["call"]["outcome"], "voicemail");
    assert_eq!(values(&voicemail, "transfer_started"), ["+14155550100"]);
    assert_eq!(values(&voicemail, "transfer_result"), ["no-answer"]);
    assert_eq!(
        prompts(&voicemail, "voicemail", "entered"),
        [["leave_message"]]
    );
    let recorded = voicemail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "recorded")
        .expect("recorded");
    assert_eq!(
        recorded["value_json"],
        serde_json::json!({"recording": {"seconds": 17, "url": "https://api.twilio.com/recordings/RE1"}})
    );
    // The caller who hung up at the main menu.
    let hung_up = trace_json(&project, &store_url, HUNG_UP);
    assert_eq!(hung_up["call"]["outcome"], "abandoned");
    assert_eq!(hung_up["call"]["started_at"], "2026-11-25T15:00:00.000Z");
    let last: Vec<String> = hung_up["steps"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .map(|s| {
            format!(
                "{}@{}",
                s["kind"].as_str().unwrap(),
                s["node"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(last, ["call_ended@main_menu", "caller_hangup@main_menu"]);

    // An unknown CallSid is a "no"; an unreadable store is trouble.
    let (code, out, err) = phonetree(&[
        "trace".to_owned(),
        sid("nobody called"),
        "--store".into(),
        store_url.clone(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "");
    assert!(
        err.contains(&format!("no call {}", sid("nobody called"))),
        "{err}"
    );
    let missing = project.dir.path().join("no/such/calls.db");
    let (code, _, err) = phonetree(&[
        "trace".to_owned(),
        sid(JOURNEY),
        "--store".into(),
        format!("sqlite://{}", missing.display()),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: reading sqlite://"), "{err}");

    // A version neither the store nor the flows directory has: said once, prompts left out.
    rusqlite::Connection::open(project.dir.path().join("calls.db"))
        .unwrap()
        .execute("DELETE FROM flow_versions", [])
        .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, text, err) = phonetree(&[
        "trace".to_owned(),
        sid(JOURNEY),
        "--store".into(),
        store_url.clone(),
        "--flows".into(),
        elsewhere.path().display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(text.matches("could not be loaded").count(), 1, "{text}");
    assert!(!text.contains("says:"), "{text}");
    assert!(text.contains("    digits ******"), "{text}");
}

#[tokio::test]
async fn export_writes_every_event_as_csv_and_jsonl() {
    let (crm, _crm) = start_crm().await;
    let project = Project::new(&crm);
    let store_url = format!("sqlite://{}", project.dir.path().join("calls.db").display());
    record_calls(&project, &store_url).await;
    check_export(&store_url).await;

    // Python's csv module reads the file as standard CSV.
    let python = Command::new("python3")
        .args(["-c", "import csv"])
        .status()
        .is_ok_and(|s| s.success());
    if !python {
        eprintln!("SKIPPED: the Python csv check: no python3 with its csv module");
        return;
    }
    let file = project.dir.path().join("calls.csv");
    let (code, out, err) = phonetree(&[
        "export".to_owned(),
        "--store".into(),
        store_url.clone(),
        "-o".into(),
        file.display().to_string(),
    ]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.starts_with(&format!("wrote {} (", file.display())),
        "{err}"
    );
    let script = r#"
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))
assert all(len(r) == 10 and None not in r for r in rows), "ragged rows"
for r in rows:
    if r["value_json"]:
        json.loads(r["value_json"])
recording = [json.loads(r["value"]) for r in rows if r["kind"] == "recorded"]
print(len(rows), recording[0]["seconds"], recording[0]["url"])
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let all = stored_events(&store_url, &[JOURNEY, VOICEMAIL, HELLO, HUNG_UP]).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{} 17 https://api.twilio.com/recordings/RE1", all.len())
    );
}

#[tokio::test]
async fn export_on_postgres() {
    let Some(store_url) = pg::database().await else {
        return;
    };
    let (crm, _crm) = start_crm().await;
    let project = Project::new(&crm);
    record_calls(&project, &store_url).await;
    check_export(&store_url).await;
    check_journey(&trace_json(&project, &store_url, JOURNEY));
}

/// The export checks on a store [`record_calls`] filled.
async fn check_export(store_url: &str) {
    // Every event, call after call in start order, each in seq order.
    let rows = export_csv(store_url, &[]);
    let all = stored_events(store_url, &[JOURNEY, VOICEMAIL, HELLO, HUNG_UP]).await;
    let mut expected = all.clone();
    let day_one_sids = [sid(JOURNEY), sid(VOICEMAIL)];
    let day_two_sids = [sid(HELLO), sid(HUNG_UP)];
    // Calls that start at the same moment come in CallSid order.
    let order = |sids: &[String]| {
        let mut sids = sids.to_vec();
        sids.sort();
        sids
    };
    let rank: Vec<String> = [order(&day_one_sids), order(&day_two_sids)].concat();
    expected.sort_by_key(|(call, seq)| {
        (
            rank.iter().position(|s| s == call),
            seq.parse::<u32>().unwrap(),
        )
    });
    assert_eq!(keys_of(&rows), expected);

    let input = rows
        .iter()
        .find(|r| &r[6] == "input")
        .expect("an input row");
    assert_eq!(&input[0], sid(JOURNEY));
    assert_eq!(&input[5], "account");
    assert_eq!(&input[7], "******");
    assert_eq!(&input[8], r#"{"digits":"******"}"#);
    assert!(
        rows.iter()
            .all(|r| r.iter().all(|field| !field.contains(ACCOUNT))),
        "the account number is in the export"
    );
    let first = &rows[0];
    assert_eq!(&first[2], "2026-11-24T15:00:00.000Z");
    assert_eq!(&first[3], "acme");
    assert_eq!(&first[6], "call_started");
    assert_eq!(&first[7], "+15551230000");
    assert_eq!(&first[8], r#"{"caller":"+15551230000"}"#);
    assert_eq!(&first[9], "0");
    let entered = rows
        .iter()
        .find(|r| &r[6] == "entered" && &r[5] == "main_menu")
        .unwrap();
    assert_eq!(&entered[8], "", "no value");

    // --since, --until and --flow select calls by their start and flow.
    let since = export_csv(store_url, &["--since", "2026-11-25"]);
    assert_eq!(
        keys_of(&since),
        expected
            .iter()
            .filter(|(c, _)| day_two_sids.contains(c))
            .cloned()
            .collect::<Vec<_>>()
    );
    let until = export_csv(store_url, &["--until", "2026-11-24"]);
    assert_eq!(
        keys_of(&until),
        expected
            .iter()
            .filter(|(c, _)| day_one_sids.contains(c))
            .cloned()
            .collect::<Vec<_>>()
    );
    let hello = export_csv(store_url, &["--flow", "hello"]);
    assert!(!hello.is_empty());
    assert!(hello.iter().all(|r| r[0] == sid(HELLO) && &r[3] == "hello"));
    assert_eq!(
        hello.len(),
        all.iter().filter(|(c, _)| *c == sid(HELLO)).count()
    );
    let none = export_csv(
        store_url,
        &[
            "--flow",
            "acme",
            "--since",
            "2026-11-24T15:00:00.001Z",
            "--until",
            "2026-11-25T00:00:00Z",
        ],
    );
    assert!(none.is_empty(), "{none:?}");

    // JSON Lines: the same rows, the stored value as an object or null.
    let (code, out, err) = phonetree(&[
        "export".to_owned(),
        "--store".into(),
        store_url.into(),
        "--format".into(),
        "jsonl".into(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), rows.len());
    for (line, row) in lines.iter().zip(&rows) {
        let fields: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut columns = COLUMNS.to_vec();
        columns.sort_unstable();
        assert_eq!(fields, columns);
        assert_eq!(line["call_sid"], &row[0]);
        assert_eq!(line["seq"].as_u64().unwrap().to_string(), &row[1]);
        assert_eq!(line["at"], &row[2]);
        assert_eq!(line["kind"], &row[6]);
        assert_eq!(line["attempt"].as_u64().unwrap().to_string(), &row[9]);
        match &line["value_json"] {
            serde_json::Value::Null => {
                assert_eq!(&row[8], "");
                assert_eq!(line["value"], serde_json::Value::Null);
            }
            object => {
                assert!(object.is_object(), "{object}");
                assert_eq!(
                    object,
                    &serde_json::from_str::<serde_json::Value>(&row[8]).unwrap()
                );
                assert_eq!(line["value"], &row[7]);
            }
        }
    }
    let input = lines.iter().find(|l| l["kind"] == "input").unwrap();
    assert_eq!(input["value"], "******");
    assert_eq!(input["value_json"], serde_json::json!({"digits": "******"}));
}

/// `phonetree export | head -1`: the reader goes away after one line, and the export
/// ends quietly with exit 0.
#[tokio::test]
async fn export_into_a_closed_pipe_ends_quietly() {
    let (crm, _crm) = start_crm().await;
    let project = Project::new(&crm);
    let store_url = format!("sqlite://{}", project.dir.path().join("calls.db").display());
    let server = project.serve(&store_url, day_one()).await;
    // About 240 KB of CSV, more of JSON Lines: more than a pipe and the output buffer hold.
    for batch in 0..10 {
        let calls = (0..10).map(|n| {
            let label = format!("pipe-{batch}-{n}");
            let server = &server;
            async move { journey(server, &label).await }
        });
        futures_util::future::join_all(calls).await;
    }
    server.stop().await;
    let (code, whole, err) = run_phonetree(&["export", "--store", &store_url], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        whole.len() > 3 * 64 * 1024,
        "{} bytes fit in a pipe and the output buffer",
        whole.len()
    );
    for format in ["jsonl", "csv"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phonetree"))
            .args(["export", "--store", &store_url, "--format", format])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        assert!(
            first.starts_with(if format == "csv" { "call_sid," } else { "{" }),
            "{first}"
        );
        // The reader is dropped here: its end of the pipe is closed.
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{format}");
    }
}
