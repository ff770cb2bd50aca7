//! How fast `phonetree serve` could answer new calls if its store cost nothing: the ceiling
//! any store work is measured under, on the machine at hand.
//!
//! It serves the flows of `--flows` exactly as `phonetree serve` does (the same router,
//! signature checks, step, TwiML, logging and runtime), with a store that keeps nothing:
//! every webhook's commit is answered `Stored` and dropped. With `--commit now` the answer
//! comes at once, on the webhook's own thread. With `--commit thread` the commit goes to a
//! thread of its own, as the SQLite store's writer does, which gathers whatever is queued
//! into a batch, spends `--spin-us` of CPU per webhook in it, waits `--wait-us` once (an
//! fsync's latency: about 200 µs on the virtual disk where this was written), and answers.
//!
//! Only calls' first webhooks mean anything here (nothing is stored, so a call's next
//! webhook finds no session): drive it with the load tool's `new-calls` test.
//!
//! ```sh
//! cargo build --release --example store_ceiling --bench load
//! TWILIO_AUTH_TOKEN=benchtoken target/release/examples/store_ceiling \
//!     --listen 127.0.0.1:18080 --flows flows --commit thread --wait-us 200 &
//! cargo bench --bench load -- --target http://127.0.0.1:18080 --token benchtoken \
//!     --test new-calls --rounds 1
//! ```
//!
//! The flows' Acme checks its opening hours first; outside them a new call is answered with
//! the closed message. `cargo bench --bench load -- --skip-hours` serves a copy that starts
//! at the language menu; for the same answers here, serve such a copy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use phonetree::call::{CallSession, FlowClosure, LogEvent};
use phonetree::server::{AppState, FlowRegistry, ServerOptions, Timeouts};
use phonetree::store::sqlite::SqliteStore;
use phonetree::store::{
    CallRange, CallRecord, CommitOutcome, Pruned, RowStream, Store, StoreError, WebhookCommit,
};
use tokio::sync::oneshot;

/// Where a webhook's commit is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CommitAt {
    /// On the webhook's own thread, at once.
    Now,
    /// On a thread of its own, in batches, as the SQLite store's writer does.
    Thread,
}

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(about = "phonetree serve with a store that keeps nothing: the ceiling for new calls")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Flow files.
    #[arg(long, default_value = "flows")]
    flows: PathBuf,
    /// Prompt texts and recordings.
    #[arg(long, default_value = "prompts")]
    prompts: PathBuf,
    /// Twilio auth token: when set, every webhook must be signed with it.
    #[arg(long, env = "TWILIO_AUTH_TOKEN")]
    auth_token: Option<String>,
    /// Where commits are answered.
    #[arg(long, value_enum, default_value = "thread")]
    commit: CommitAt,
    /// With `--commit thread`: the wait of each batch, in microseconds.
    #[arg(long, default_value_t = 200)]
    wait_us: u64,
    /// With `--commit thread`: CPU spent per webhook of a batch, in microseconds.
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
}

/// A commit on its way to the batch thread, with where its outcome goes.
type Queued = (WebhookCommit, oneshot::Sender<CommitOutcome>);

/// A store that keeps nothing: commits are answered `Stored`; every read is answered by an
/// empty SQLite store in memory, as a real store answers for calls it does not hold.
struct KeepNothing {
    reads: SqliteStore,
    batches: Option<mpsc::Sender<Queued>>,
}

impl KeepNothing {
    fn new(commit: CommitAt, wait: Duration, spin: Duration) -> Result<KeepNothing, StoreError> {
        let batches = match commit {
            CommitAt::Now => None,
            CommitAt::Thread => {
                let (queue, queued) = mpsc::channel::<Queued>();
                std::thread::Builder::new()
                    .name("ceiling-commits".into())
                    .spawn(move || answer_in_batches(queued, wait, spin))
                    .map_err(|e| StoreError::Database(format!("starting the batch thread: {e}")))?;
                Some(queue)
            }
        };
        Ok(KeepNothing {
            reads: SqliteStore::open_in_memory()?,
            batches,
        })
    }
}

/// Answers what is queued, a batch at a time: `spin` of CPU per webhook, one `wait`.
fn answer_in_batches(queued: mpsc::Receiver<Queued>, wait: Duration, spin: Duration) {
    let mut batch = Vec::new();
    let mut state = 0u64;
    while let Ok(first) = queued.recv() {
        batch.push(first);
        batch.extend(queued.try_iter());
        let started = Instant::now();
        let busy = spin * u32::try_from(batch.len()).unwrap_or(u32::MAX);
        while started.elapsed() < busy {
            for _ in 0..64 {
                state = std::hint::black_box(
                    state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407),
                );
            }
        }
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        for (commit, answer) in batch.drain(..) {
            drop(commit);
            let _ = answer.send(CommitOutcome::Stored);
        }
    }
}

#[async_trait]
impl Store for KeepNothing {
    async fn session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError> {
        self.reads.session(call_sid).await
    }
    async fn reply(&self, call_sid: &str, fingerprint: &str) -> Result<Option<String>, StoreError> {
        self.reads.reply(call_sid, fingerprint).await
    }
    async fn resident_session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError> {
        self.reads.resident_session(call_sid).await
    }
    async fn resident_reply(
        &self,
        call_sid: &str,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        self.reads.resident_reply(call_sid, fingerprint).await
    }
    async fn commit(&self, commit: WebhookCommit) -> Result<CommitOutcome, StoreError> {
        let Some(batches) = &self.batches else {
            return Ok(CommitOutcome::Stored);
        };
        let (answer, answered) = oneshot::channel();
        batches
            .send((commit, answer))
            .map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)
    }
    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>, StoreError> {
        self.reads.call(call_sid).await
    }
    async fn events(&self, call_sid: &str) -> Result<Vec<LogEvent>, StoreError> {
        self.reads.events(call_sid).await
    }
    fn calls_in(&self, range: &CallRange) -> RowStream<CallRecord> {
        self.reads.calls_in(range)
    }
    fn events_in(&self, range: &CallRange) -> RowStream<LogEvent> {
        self.reads.events_in(range)
    }
    async fn put_flow_version(
        &self,
        version: &str,
        bundle: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.reads.put_flow_version(version, bundle, now).await
    }
    async fn flow_version(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.flow_version(version).await
    }
    async fn close_flow(&self, closure: &FlowClosure) -> Result<(), StoreError> {
        self.reads.close_flow(closure).await
    }
    async fn open_flow(&self, flow: &str) -> Result<bool, StoreError> {
        self.reads.open_flow(flow).await
    }
    async fn closures(&self) -> Result<Vec<FlowClosure>, StoreError> {
        self.reads.closures().await
    }
    async fn expire_sessions(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.reads.expire_sessions(ended_before).await
    }
    async fn prune(
        &self,
        started_before: DateTime<Utc>,
        keep: &[String],
    ) -> Result<Pruned, StoreError> {
        self.reads.prune(started_before, keep).await
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let registry = FlowRegistry::load(args.flows.clone(), args.prompts.clone())?;
    let store: Arc<dyn Store> = Arc::new(KeepNothing::new(
        args.commit,
        Duration::from_micros(args.wait_us),
        Duration::from_micros(args.spin_us),
    )?);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let public_url = format!("http://{local}");
    tracing::info!(listen = %local, public_url, commit = ?args.commit, wait_us = args.wait_us, spin_us = args.spin_us, "store ceiling serving");
    let options = ServerOptions {
        public_url,
        auth_token: args.auth_token.clone(),
        clock: phonetree::server::system_clock(),
        timeouts: Timeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(1),
        },
    };
    let state = AppState::new(Arc::new(registry), store, options);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    phonetree::server::run(listener, state, stop).await?;
    Ok(())
}

fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    let _log_writer = phonetree::server::log_to_stderr();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
