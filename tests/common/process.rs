//! Runs the real `phonetree serve` binary as a child process on 127.0.0.1 and reads its log.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `phonetree serve`.
pub struct ServeProcess {
    pub child: Child,
    /// `127.0.0.1:PORT`, as the server logged it.
    pub addr: String,
    log: Arc<Mutex<String>>,
}

/// The Acme flow copied into `dir/flows`, its lookup pointed at `crm` and starting at the
/// language menu: the binary runs on the real clock, and the hours check would make the
/// path depend on when the test runs. The lookup may take up to 8 s.
pub fn write_acme_without_hours(dir: &Path, crm: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir flows");
    let acme = std::fs::read_to_string(root.join("flows/acme.yaml")).expect("acme.yaml");
    let acme = acme
        .replace("127.0.0.1:9000", crm)
        .replace("start: check_hours", "start: language")
        .replace("timeout: 2s, store: acct", "timeout: 8s, store: acct");
    std::fs::write(flows.join("acme.yaml"), acme).expect("write acme.yaml");
    flows
}

/// A clean environment: nothing from the caller's shell changes how the server runs.
fn clean(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("PHONETREE_") || name == "TWILIO_AUTH_TOKEN" || name == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    command
}

impl ServeProcess {
    /// Starts `phonetree serve --listen 127.0.0.1:0 ARGS`, under `ulimit -f FILE_BLOCKS` when
    /// given, and waits until it is listening.
    pub fn start(args: &[&str], file_blocks: Option<u32>) -> ServeProcess {
        let bin = env!("CARGO_BIN_EXE_phonetree");
        let mut command = match file_blocks {
            Some(blocks) => {
                let mut c = Command::new("bash");
                c.arg("-c")
                    .arg(format!("ulimit -f {blocks} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        clean(&mut command)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start phonetree serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn({
            let log = log.clone();
            move || {
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("listen=").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                        let _ = tx.send(addr);
                    }
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                panic!("phonetree serve did not start listening ({status:?}):\n{log}");
            }
        };
        ServeProcess { child, addr, log }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
