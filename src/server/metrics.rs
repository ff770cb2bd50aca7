//! Prometheus counters for `GET /metrics`: webhooks by route, calls, faults,
//! lookups, store errors and signature rejections.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Webhook routes counted separately.
pub const ROUTES: [&str; 9] = [
    "voice", "status", "gather", "silence", "dial", "record", "queue", "hold", "hold-key",
];

/// Counters shared by the handlers; lock-free.
#[derive(Default)]
pub struct Metrics {
    webhooks: [AtomicU64; ROUTES.len()],
    calls_started: AtomicU64,
    calls_ended: AtomicU64,
    faults: AtomicU64,
    lookups_ok: AtomicU64,
    lookups_failed: AtomicU64,
    store_errors: AtomicU64,
    store_fallbacks: AtomicU64,
    commit_conflicts: AtomicU64,
    signature_rejections: AtomicU64,
    duplicate_webhooks: AtomicU64,
}

/// Something worth counting.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    /// A call started.
    CallStarted,
    /// A call's record was closed.
    CallEnded,
    /// A fault or stale callback was logged.
    Fault,
    /// A lookup answered.
    LookupOk,
    /// A lookup failed.
    LookupFailed,
    /// The store failed a read or a commit.
    StoreError,
    /// A webhook whose rows could not be committed was answered with the flow's `on_fail`.
    StoreFallback,
    /// A commit found another webhook of its call committed first, and was stepped again.
    CommitConflict,
    /// A request failed the signature check.
    SignatureRejected,
    /// A retried webhook was answered from the stored reply.
    DuplicateWebhook,
}

impl Metrics {
    /// Counts a webhook on `route` (one of [`ROUTES`]; others are not counted).
    pub fn webhook(&self, route: &str) {
        if let Some(i) = ROUTES.iter().position(|r| *r == route) {
            self.webhooks[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds `n` to a counter.
    pub fn add(&self, counter: Counter, n: u64) {
        let c = match counter {
            Counter::CallStarted => &self.calls_started,
            Counter::CallEnded => &self.calls_ended,
            Counter::Fault => &self.faults,
            Counter::LookupOk => &self.lookups_ok,
            Counter::LookupFailed => &self.lookups_failed,
            Counter::StoreError => &self.store_errors,
            Counter::StoreFallback => &self.store_fallbacks,
            Counter::CommitConflict => &self.commit_conflicts,
            Counter::SignatureRejected => &self.signature_rejections,
            Counter::DuplicateWebhook => &self.duplicate_webhooks,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the flow version being served.
    pub fn render(&self, version: &str) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP phonetree_webhooks_total Provider webhooks answered, by route."
        );
        let _ = writeln!(out, "# TYPE phonetree_webhooks_total counter");
        for (route, c) in ROUTES.iter().zip(&self.webhooks) {
            let _ = writeln!(
                out,
                "phonetree_webhooks_total{{route=\"{route}\"}} {}",
                get(c)
            );
        }
        let simple = [
            (
                "phonetree_calls_started_total",
                "Calls started.",
                &self.calls_started,
            ),
            (
                "phonetree_calls_ended_total",
                "Call records closed by the status callback.",
                &self.calls_ended,
            ),
            (
                "phonetree_faults_total",
                "Faults and stale callbacks logged.",
                &self.faults,
            ),
            (
                "phonetree_lookups_ok_total",
                "Lookups that answered.",
                &self.lookups_ok,
            ),
            (
                "phonetree_lookups_failed_total",
                "Lookups that timed out or failed.",
                &self.lookups_failed,
            ),
            (
                "phonetree_store_errors_total",
                "Store reads or commits that failed.",
                &self.store_errors,
            ),
            (
                "phonetree_store_fallbacks_total",
                "Webhooks answered with the flow's on_fail because their rows could not be committed.",
                &self.store_fallbacks,
            ),
            (
                "phonetree_commit_conflicts_total",
                "Webhooks stepped again because another webhook of the call was committed first.",
                &self.commit_conflicts,
            ),
            (
                "phonetree_signature_rejections_total",
                "Requests refused for a bad signature.",
                &self.signature_rejections,
            ),
            (
                "phonetree_duplicate_webhooks_total",
                "Retried webhooks answered from the stored reply.",
                &self.duplicate_webhooks,
            ),
        ];
        for (name, help, c) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP phonetree_flow_info The flow set version new calls start on."
        );
        let _ = writeln!(out, "# TYPE phonetree_flow_info gauge");
        let _ = writeln!(out, "phonetree_flow_info{{version=\"{version}\"}} 1");
        out
    }
}
