//! A throwaway PostgreSQL server for tests: one per test binary, started on first use
//! from the server binaries on this machine, on 127.0.0.1 and a free port, with a fresh
//! database for each test so tests run in parallel on it.
//!
//! The server outlives no test binary: a small watcher process waits for the binary to
//! exit (however it exits: passing, failing, killed) and then stops the server
//! immediately and removes its directory. Statics are never dropped, so nothing in this
//! process could do it.
//!
//! As root, `initdb` refuses to run: the server then runs as `nobody`, owning its
//! temporary directory.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections after `pg_ctl start`.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The binaries a server needs, in one directory.
const BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// A running server of this test binary.
#[derive(Debug)]
pub struct PgServer {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its temporary directory (data directory, socket, log).
    pub dir: PathBuf,
    /// The postmaster's pid.
    pub pid: u32,
    /// Where its binaries are.
    pub bin: PathBuf,
}

static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// The directory holding `initdb`, `pg_ctl` and `postgres`: the highest version under
/// `/usr/lib/postgresql/*/bin` (Debian), else the first on PATH that has all three.
pub fn binaries() -> Option<PathBuf> {
    let has_all = |dir: &Path| BINARIES.iter().all(|b| dir.join(b).is_file());
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Option<Vec<u32>> = name.split('.').map(|n| n.parse().ok()).collect();
            let bin = entry.path().join("bin");
            Some((version?, bin)).filter(|(_, bin)| has_all(bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_all(dir))
}

/// This binary's server, started on first use; `None` when the machine has no
/// PostgreSQL server binaries. Panics (failing the test) when it has them and the server
/// does not start: that is a broken setup, not a missing one.
pub fn start() -> Option<&'static PgServer> {
    SERVER
        .get_or_init(|| binaries().map(PgServer::start))
        .as_ref()
}

/// A fresh, empty database on this binary's server, as a store URL; `None` after a loud
/// `SKIPPED:` line naming the test (the harness names each test's thread after it) when
/// the machine has no PostgreSQL server binaries.
pub async fn database() -> Option<String> {
    let Some(server) = start() else {
        // Straight to the process's stderr: the harness hides what passing tests print.
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED: {test}: no PostgreSQL server binaries \
             (looked for {} in /usr/lib/postgresql/*/bin and on PATH; `apt-get install postgresql`)",
            BINARIES.join(", ")
        );
        return None;
    };
    Some(server.create_database().await)
}

/// The uid and gid of `nobody`, for running the server when this process is root.
#[cfg(unix)]
fn unprivileged() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"nobody") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    });
    Some(ids.unwrap_or((65534, 65534)))
}

#[cfg(not(unix))]
fn unprivileged() -> Option<(u32, u32)> {
    None
}

/// A command that runs as `as_user` when given (this process being root).
fn command(program: PathBuf, as_user: Option<(u32, u32)>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).stdin(Stdio::null());
    #[cfg(unix)]
    if let Some((uid, gid)) = as_user {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl PgServer {
    fn start(bin: PathBuf) -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("phonetree-pg-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let as_user = unprivileged();
        #[cfg(unix)]
        if let Some((uid, gid)) = as_user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the server's dir");
        }
        let data = dir.join("data");
        let log = dir.join("server.log");
        let out = command(bin.join("initdb"), as_user, &dir)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // No fsync: the tests check what the store commits, not the disk. In the config
        // file rather than on the command line, so `ALTER SYSTEM` can turn it back on.
        // The tests run in parallel, each with a pool of connections.
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        writeln!(
            conf,
            "\nfsync = off\nfull_page_writes = off\nmax_connections = 300\nlisten_addresses = '127.0.0.1'"
        )
        .expect("write postgresql.conf");
        let port = free_port();
        let options = format!("-p {port} -k {}", dir.display());
        let out = command(bin.join("pg_ctl"), as_user, &dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args([
                "-w",
                "-t",
                &START_LIMIT.as_secs().to_string(),
                "-o",
                &options,
                "start",
            ])
            .output()
            .expect("run pg_ctl");
        let pid = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
        let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
        let Some(pid) = pid.filter(|_| out.status.success()) else {
            panic!(
                "pg_ctl start failed:\n{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                server_log()
            );
        };
        let server = PgServer {
            port,
            dir,
            pid,
            bin,
        };
        server.stop_when_this_process_exits();
        let deadline = Instant::now() + START_LIMIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not accept connections on 127.0.0.1:{port} within {START_LIMIT:?}:\n{}",
                server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Spawns the watcher that stops the server (SIGQUIT: immediate shutdown, then
    /// SIGKILL if it lingers) and removes its directory once this process is gone. It is
    /// detached (a grandchild, adopted by init) and ignores the terminal's signals, so a
    /// Ctrl-C that stops the tests does not stop it first.
    fn stop_when_this_process_exits(&self) {
        let watcher = r#"
            trap '' INT HUP TERM
            while kill -0 "$0" 2>/dev/null; do sleep 0.2; done
            kill -QUIT "$1" 2>/dev/null
            i=0
            while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
            kill -KILL "$1" 2>/dev/null
            rm -rf "$2"
        "#;
        let status = Command::new("sh")
            .arg("-c")
            .arg(r#"sh -c "$0" "$1" "$2" "$3" &"#)
            .arg(watcher)
            .arg(std::process::id().to_string())
            .arg(self.pid.to_string())
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn the server's watcher");
        assert!(status.success(), "spawning the server's watcher: {status}");
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub async fn create_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect to the test server: {e:?}"));
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
        drop(client);
        let _ = connection.await;
        self.url(&name)
    }
}

/// Runs SQL statements on database `url` as the superuser.
pub async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e:?}"));
    let connection = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    drop(client);
    let _ = connection.await;
}

/// The rows a query answers on database `url`.
pub async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e:?}"));
    let connection = tokio::spawn(connection);
    let rows = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    drop(client);
    let _ = connection.await;
    rows
}
