//! Flow versions kept in the store, through the real `phonetree serve` on a SQLite file:
//! a call that started before its flows were edited finishes on the version it started
//! with after the server is killed and restarted, and on a second server that never
//! compiled that version; new calls get the new version. `phonetree prune` then removes
//! old call logs and the versions no call is on.
#![cfg(unix)]

#[path = "common/bin.rs"]
mod bin;
mod common;
#[path = "common/process.rs"]
mod process;

use std::path::PathBuf;

use bin::run_phonetree;
use common::{Call, copy_dir, edit, parse_twiml, sid};
use process::{ServeProcess, write_acme_without_hours};

/// The main menu's first sentence before the edit, and after it.
const OLD_MENU: &str = "For your account balance, press 1.";
const NEW_MENU: &str = "Welcome to the new Acme menu, press 1.";
/// Key 3 leaves a message before the edit; after it, it reaches the operator.
const OLD_THREE: &str = r#""3": voicemail"#;
const NEW_THREE: &str = r#""3": operator"#;

struct Project {
    dir: tempfile::TempDir,
    flows: PathBuf,
    prompts: PathBuf,
    store: String,
}

impl Project {
    /// The Acme flows (starting at the language menu) and the shipped prompts, copied, on a
    /// SQLite file.
    fn new() -> Project {
        Project::on(None)
    }

    /// The same on `store` (a SQLite file in the project when `None`).
    fn on(store: Option<String>) -> Project {
        let dir = tempfile::tempdir().unwrap();
        // No lookup is reached here; the address only has to be on the loopback.
        let flows = write_acme_without_hours(dir.path(), "127.0.0.1:9");
        let prompts = dir.path().join("prompts");
        copy_dir(&common::repo().join("prompts"), &prompts);
        let store =
            store.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("calls.db").display()));
        Project {
            dir,
            flows,
            prompts,
            store,
        }
    }

    /// `phonetree serve` on this project and store, reloading only when restarted.
    fn serve(&self) -> ServeProcess {
        let (flows, prompts) = (self.flows.display(), self.prompts.display());
        let (flows, prompts) = (flows.to_string(), prompts.to_string());
        ServeProcess::start(
            &[
                "--flows",
                &flows,
                "--prompts",
                &prompts,
                "--store",
                &self.store,
                "--no-watch",
            ],
            None,
        )
    }

    /// The menu text and a key's target change.
    fn edit(&self) {
        edit(&self.prompts.join("en.yaml"), OLD_MENU, NEW_MENU);
        edit(&self.flows.join("acme.yaml"), OLD_THREE, NEW_THREE);
    }
}

async fn version(server: &ServeProcess) -> String {
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", server.base()))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("JSON");
    health["version"].as_str().expect("version").to_owned()
}

/// A call placed on `server`: it comes in and picks English, reaching the main menu.
async fn call_to_main_menu(server: &ServeProcess, label: &str) -> Call {
    let mut call = Call {
        http: reqwest::Client::new(),
        base: server.base(),
        sid: sid(label),
        from: "+15551230000".into(),
        to: "+14155550199".into(),
        last: Default::default(),
    };
    call.start().await;
    call.press("1").await;
    call
}

/// The caller presses `digits` at the last `<Gather>`, and Twilio posts its action to
/// `server` (as a load balancer would send it there, whatever host wrote the URL).
async fn press_on(call: &mut Call, server: &ServeProcess, digits: &str) -> String {
    let action = call.gather_action();
    let path = action
        .split_once("/twilio/")
        .map(|(_, rest)| rest)
        .expect("a /twilio/ URL");
    let url = format!("{}/twilio/{path}", server.base());
    let (status, _, body) = call.post_raw(&url, &[("Digits", digits)]).await;
    assert_eq!(status, 200, "{url}: {body}");
    call.last = parse_twiml(&body);
    body
}

/// The version a `<Gather action>` URL names.
fn url_version(call: &Call) -> String {
    let action = call.gather_action();
    let query = action.split_once('?').expect("a query").1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "v")
        .map(|(_, v)| v.into_owned())
        .expect("v=")
}

#[tokio::test]
async fn calls_finish_on_their_version_after_a_restart_and_on_another_server() {
    calls_finish_on_their_version(Project::new()).await;
}

#[tokio::test]
async fn calls_finish_on_their_version_after_a_restart_and_on_another_server_on_postgres() {
    let Some(url) = common::pg::database().await else {
        return;
    };
    calls_finish_on_their_version(Project::on(Some(url))).await;
}

async fn calls_finish_on_their_version(project: Project) {
    let first = project.serve();
    let old = version(&first).await;
    let mut restarted_call = call_to_main_menu(&first, "CA-across-restart").await;
    let mut moved_call = call_to_main_menu(&first, "CA-to-other-server").await;
    for call in [&restarted_call, &moved_call] {
        assert!(call.last.said().contains(OLD_MENU), "{:?}", call.last);
        assert_eq!(url_version(call), old);
    }

    project.edit();
    first.kill();
    let restarted = project.serve();
    let new = version(&restarted).await;
    assert_ne!(new, old, "the restart compiled the edited files");

    // The call in progress hears its menu again as it was, and key 3 goes where it went.
    let heard = press_on(&mut restarted_call, &restarted, "*").await;
    assert!(heard.contains(OLD_MENU), "{heard}");
    assert!(!heard.contains(NEW_MENU), "{heard}");
    assert_eq!(url_version(&restarted_call), old);
    let heard = press_on(&mut restarted_call, &restarted, "3").await;
    assert!(
        restarted_call.last.find("Record").is_some(),
        "voicemail, as before the edit: {heard}"
    );
    assert!(restarted_call.last.find("Dial").is_none(), "{heard}");
    assert!(
        restarted
            .log()
            .contains("flow version loaded from the store"),
        "{}",
        restarted.log()
    );

    // A new call gets the new version.
    let mut new_call = call_to_main_menu(&restarted, "CA-after-edit").await;
    assert!(
        new_call.last.said().contains(NEW_MENU),
        "{:?}",
        new_call.last
    );
    assert_eq!(url_version(&new_call), new);
    let heard = press_on(&mut new_call, &restarted, "3").await;
    assert!(
        new_call.last.find("Dial").is_some(),
        "the operator: {heard}"
    );

    // A second server, started after the edit beside the first, has only compiled the
    // new version; it answers the other old call on the old one, from the store.
    let second = project.serve();
    assert_eq!(version(&second).await, new);
    let heard = press_on(&mut moved_call, &second, "*").await;
    assert!(heard.contains(OLD_MENU), "{heard}");
    let heard = press_on(&mut moved_call, &second, "3").await;
    assert!(moved_call.last.find("Record").is_some(), "{heard}");
    let log = second.log();
    assert!(
        log.contains("flow version loaded from the store") && log.contains(&old),
        "{log}"
    );
    drop(project.dir);
}

/// `phonetree prune` on the project's store, with its flows.
fn prune(project: &Project, before: &str) -> (i32, String, String) {
    let (flows, prompts) = (project.flows.display(), project.prompts.display());
    let (flows, prompts) = (flows.to_string(), prompts.to_string());
    run_phonetree(
        &[
            "prune",
            "--before",
            before,
            "--store",
            &project.store,
            "--flows",
            &flows,
            "--prompts",
            &prompts,
        ],
        None,
    )
}

#[tokio::test]
async fn prune_removes_old_calls_and_the_versions_no_call_is_on() {
    let project = Project::new();
    // v1 takes a call; v2 is served but takes none; v3 is what the flows are now.
    let server = project.serve();
    let v1 = version(&server).await;
    let mut call = call_to_main_menu(&server, "CA-pruned").await;
    call.status("completed").await;
    server.kill();
    project.edit();
    let server = project.serve();
    let v2 = version(&server).await;
    server.kill();
    edit(&project.flows.join("acme.yaml"), NEW_THREE, OLD_THREE);
    let server = project.serve();
    let v3 = version(&server).await;
    server.kill();
    assert!(v1 != v2 && v2 != v3 && v1 != v3);

    // Nothing started before 2000; v2 goes: no call is on it and it is not being served.
    let (code, out, err) = prune(&project, "2000-01-01");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("removed 0 call(s)") && out.contains("1 flow version(s)"),
        "{out}"
    );
    // Every call started before tomorrow: the call goes, then v1 with it; v3 stays.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (code, out, err) = prune(&project, &tomorrow);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("removed 1 call(s)"), "{out}");
    assert!(out.contains("1 flow version(s)"), "{out}");

    let store = phonetree::store::open_store(&project.store).unwrap();
    assert!(store.call(&sid("CA-pruned")).await.unwrap().is_none());
    assert!(store.events(&sid("CA-pruned")).await.unwrap().is_empty());
    for gone in [&v1, &v2] {
        assert!(store.flow_version(gone).await.unwrap().is_none(), "{gone}");
    }
    assert!(store.flow_version(&v3).await.unwrap().is_some());
    drop(store);

    // Trouble is exit 2: a date that is not one, a store that cannot be opened.
    let (code, _, err) = prune(&project, "last tuesday");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RFC 3339"), "{err}");
    let (code, _, err) = run_phonetree(
        &["prune", "--before", "2000-01-01", "--store", "mysql://x"],
        None,
    );
    assert_eq!(code, 2, "{err}");
}
