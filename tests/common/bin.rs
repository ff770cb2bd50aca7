//! Runs the real `phonetree` binary with a clean environment.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `phonetree ARGS`, feeding `stdin` when given; returns (exit code, stdout, stderr).
pub fn run_phonetree(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(args)
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("PHONETREE_FLOWS")
        .env_remove("PHONETREE_PROMPTS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run phonetree");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `phonetree ARGS --flows FLOWS --prompts PROMPTS`: a command on a test's own project.
#[allow(dead_code)]
pub fn run_phonetree_on(
    args: &[&str],
    flows: &std::path::Path,
    prompts: &std::path::Path,
) -> (i32, String, String) {
    let (flows, prompts) = (flows.display().to_string(), prompts.display().to_string());
    let mut all = args.to_vec();
    all.extend_from_slice(&["--flows", &flows, "--prompts", &prompts]);
    run_phonetree(&all, None)
}
