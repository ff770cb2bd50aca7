//! What a webhook's commit costs the SQLite store, apart from the disk: the rows of new
//! calls and of a call's next step, as the server commits them (the state machine's
//! session and events, the rendered answer), 16 at a time so that the writer batches them,
//! into a store in a fresh file (WAL, `synchronous=FULL`, as `phonetree serve` keeps it).
//! What is timed is the CPU time of the store's writer thread
//! (`/proc/self/task/TID/schedstat`): SQLite's B-trees, the WAL writes, the fsync and the
//! checkpoints, the log row and what the writer keeps in memory, per webhook; not the time
//! spent waiting for the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use phonetree::call::{At, CallEvent, start_call, step};
use phonetree::flow::compile_paths;
use phonetree::store::sqlite::SqliteStore;
use phonetree::store::{Store, WebhookCommit};
use phonetree::twiml::render_twiml;

/// Commits in flight at once: what the writer finds queued and takes as one batch.
const IN_FLIGHT: usize = 16;

/// The CPU time the store's writer thread has used so far.
fn writer_cpu() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks {
        let dir = task.expect("task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == "phonetree-store" {
            let stat = std::fs::read_to_string(dir.join("schedstat")).expect("schedstat");
            let ns: u64 = stat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("CPU ns");
            return Duration::from_nanos(ns);
        }
    }
    panic!("no phonetree-store thread")
}

/// Commits `commits` with [`IN_FLIGHT`] of them at a time; the writer's CPU time for them.
async fn commit_all(store: &Arc<SqliteStore>, commits: Vec<WebhookCommit>) -> Duration {
    let mut lanes: Vec<Vec<WebhookCommit>> = (0..IN_FLIGHT).map(|_| Vec::new()).collect();
    for (i, c) in commits.into_iter().enumerate() {
        lanes[i % IN_FLIGHT].push(c);
    }
    let started = writer_cpu();
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                for c in lane {
                    store.commit(c).await.expect("committed");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("lane");
    }
    writer_cpu() - started
}

fn bench(c: &mut Criterion) {
    let compiled =
        compile_paths(&[PathBuf::from("flows")], Path::new("prompts")).expect("readable");
    let set = compiled.flows.expect("acme compiles");
    let flow = set.get("acme").expect("acme").clone();
    let now = "2026-11-24T15:00:00Z".parse().expect("time");
    let language = flow.node_by_name("language").expect("language");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).expect("store"));
    let mut next_call = 0u64;
    // The first webhook of a call, as the server commits it.
    let new_call = |n: u64| {
        let sid = format!("CA{n:032x}");
        let first = start_call(&set, &flow, &sid, "+15551230000", "+14155550199", now);
        WebhookCommit {
            reply: Some((
                format!("{n:032x}"),
                render_twiml(&first.verbs, "https://ivr.example.com"),
            )),
            session: first.session,
            base_seq: None,
            events: first.events,
            now,
        }
    };
    // The writer thread names itself once it runs: one commit first.
    runtime
        .block_on(store.commit(new_call(0)))
        .expect("first commit");
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("writer_cpu_per_new_call", |b| {
        b.iter_custom(|iters| {
            let commits: Vec<_> = (0..iters)
                .map(|_| {
                    next_call += 1;
                    new_call(next_call)
                })
                .collect();
            runtime.block_on(commit_all(&store, commits))
        })
    });
    group.bench_function("writer_cpu_per_key_press", |b| {
        b.iter_custom(|iters| {
            // Calls at the language menu (not timed), then the key press of each.
            let starts: Vec<_> = (0..iters)
                .map(|_| {
                    next_call += 1;
                    new_call(next_call)
                })
                .collect();
            let presses: Vec<_> = starts
                .iter()
                .map(|start| {
                    let press = CallEvent::Digits {
                        at: At {
                            node: language,
                            attempt: 1,
                            visit: start.session.visit(),
                        },
                        digits: "1".into(),
                    };
                    let next = step(&set, &start.session, &press, now);
                    WebhookCommit {
                        reply: Some((
                            format!("{}-1", start.session.call_sid),
                            render_twiml(&next.verbs, "https://ivr.example.com"),
                        )),
                        base_seq: Some(start.session.seq),
                        session: next.session,
                        events: next.events,
                        now,
                    }
                })
                .collect();
            runtime.block_on(commit_all(&store, starts));
            runtime.block_on(commit_all(&store, presses))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
