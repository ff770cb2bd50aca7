//! Where sessions and the call log live, behind one [`Store`] trait.
//!
//! The embedded default is SQLite ([`sqlite::SqliteStore`]): one file, WAL, one
//! writer thread that commits a batch of webhooks in one transaction (group
//! commit), so every webhook's rows are durable before its response is sent. It holds
//! the calls in progress in memory, so a webhook reads nothing from the file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::call::{CallSession, FlowClosure, LogEvent, Outcome};

mod live_calls;
pub mod postgres;
mod row_batch;
mod rows;
pub mod schema;
pub mod sqlite;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("database: {0}")]
    Database(String),
    /// A stored session or row could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store is shutting down or its writer is gone.
    #[error("store is closed")]
    Closed,
    /// The database file was removed or replaced while the store had it open: commits would
    /// go to a file nobody can open again.
    #[error("database file {0} was removed or replaced while open")]
    Vanished(String),
    /// The store URL is not understood.
    #[error("unsupported store `{0}` (use sqlite://PATH or postgres://USER@HOST:PORT/DB)")]
    Unsupported(String),
}

/// Everything one answered webhook changes, committed atomically.
#[derive(Debug, Clone)]
pub struct WebhookCommit {
    /// The session after the step (sensitive variables already masked).
    pub session: CallSession,
    /// The `seq` of the stored session the step started from; `None` when the call had no
    /// stored session. A commit whose base is no longer the stored session is a
    /// [`CommitOutcome::Conflict`] and writes nothing.
    pub base_seq: Option<u32>,
    /// New call-log rows, in order.
    pub events: Vec<LogEvent>,
    /// The request's fingerprint and the TwiML answered, so a retried request gets the same answer.
    pub reply: Option<(String, String)>,
    /// When the webhook was answered; closes the call row when the session has ended.
    pub now: DateTime<Utc>,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The rows are durable.
    Stored,
    /// The same request was committed before; nothing was written; here is its answer.
    Duplicate(String),
    /// Another webhook of the call was committed since its session was read; nothing was
    /// written. Read the session again and step again.
    Conflict,
}

/// One row per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Provider call id.
    pub call_sid: String,
    /// Flow id (where the call is or ended).
    pub flow: String,
    /// Flow set version.
    pub flow_version: String,
    /// Caller.
    pub from_number: String,
    /// Called number.
    pub to_number: String,
    /// Language in use.
    pub language: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once the status callback (or the flow's hang-up) closed it.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// The node the caller was in last.
    pub last_node: Option<String>,
}

/// Calls that started in `[from, to)`, of one flow or of all: what the range reads
/// ([`Store::calls_in`], [`Store::events_in`]) select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRange {
    /// Only calls whose flow is this one; `None` for every flow. A call's flow is where it
    /// is or ended (the flow it started in may be another one).
    pub flow: Option<String>,
    /// Earliest start, included.
    pub from: DateTime<Utc>,
    /// Latest start, excluded.
    pub to: DateTime<Utc>,
}

/// Rows read one by one as the consumer asks for them, never all held at once. An error
/// is the last item; dropping the stream stops the read.
pub type RowStream<T> = futures_util::stream::BoxStream<'static, Result<T, StoreError>>;

/// Ends `rows` after its first error, so a consumer never sees rows past a failure.
fn until_error<T: Send + 'static>(
    rows: impl futures_util::Stream<Item = Result<T, StoreError>> + Send + 'static,
) -> RowStream<T> {
    rows.scan(false, |failed, row| {
        let seen = !*failed;
        *failed |= row.is_err();
        std::future::ready(seen.then_some(row))
    })
    .boxed()
}

/// Sessions and the call log.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The session of a call, if it has one.
    async fn session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError>;
    /// The answer given before to the request with this fingerprint, if any.
    async fn reply(&self, call_sid: &str, fingerprint: &str) -> Result<Option<String>, StoreError>;
    /// [`Store::session`] as far as the store can tell without reading its database: for a
    /// call-start webhook, which is almost always a new call. `None` may also be a call
    /// the store keeps only on disk; committing a fresh session for it is then a
    /// [`CommitOutcome::Conflict`] (or a [`CommitOutcome::Duplicate`]), after which
    /// this reads it.
    async fn resident_session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError> {
        self.session(call_sid).await
    }
    /// [`Store::reply`] as far as the store can tell without reading its database (see
    /// [`Store::resident_session`]): the commit still finds a duplicate it missed.
    async fn resident_reply(
        &self,
        call_sid: &str,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        self.reply(call_sid, fingerprint).await
    }
    /// Makes a webhook's session, events, call row and reply durable, atomically; returns once committed.
    async fn commit(&self, commit: WebhookCommit) -> Result<CommitOutcome, StoreError>;
    /// A call's row.
    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>, StoreError>;
    /// A call's events in order.
    async fn events(&self, call_sid: &str) -> Result<Vec<LogEvent>, StoreError>;
    /// The calls of `range`, in (`started_at`, `call_sid`) order (`call_sid` compared
    /// byte by byte). Nothing is read until the stream is polled.
    fn calls_in(&self, range: &CallRange) -> RowStream<CallRecord>;
    /// The events of the calls of `range` (all of each call's events, whatever flow each
    /// was logged in), call after call in the order of [`Store::calls_in`], each call's
    /// in `seq` order. Nothing is read until the stream is polled.
    fn events_in(&self, range: &CallRange) -> RowStream<LogEvent>;
    /// Whether the store can still keep what it is given (its database file is still there).
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Keeps the source files of a flow set under its version; keeping it again is a no-op.
    async fn put_flow_version(
        &self,
        version: &str,
        bundle: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The source files of a flow set version, as kept by [`Store::put_flow_version`].
    async fn flow_version(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Closes a flow until a time (replacing any closure it had); every server sharing the
    /// store sees it.
    async fn close_flow(&self, closure: &FlowClosure) -> Result<(), StoreError>;
    /// Opens a closed flow again; `false` when it was not closed.
    async fn open_flow(&self, flow: &str) -> Result<bool, StoreError>;
    /// Every closure kept, by flow (ones whose time has passed included).
    async fn closures(&self) -> Result<Vec<FlowClosure>, StoreError>;
    /// Forgets the sessions and stored answers of calls that ended before `ended_before`
    /// (their call log stays); returns how many calls.
    async fn expire_sessions(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Removes everything about calls that started before `started_before`, then the flow
    /// versions no remaining call is on, except `keep` (the versions being served).
    async fn prune(
        &self,
        started_before: DateTime<Utc>,
        keep: &[String],
    ) -> Result<Pruned, StoreError>;
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    /// Calls (with their events, session and stored answers).
    pub calls: u64,
    /// Call-log rows.
    pub events: u64,
    /// Flow versions no call is on any more.
    pub flow_versions: u64,
}

/// Opens the store a URL names: `sqlite://PATH` (`sqlite::memory:` for a throwaway one), or
/// `postgres://USER@HOST:PORT/DB` (also `postgresql://`; libpq's URL parameters, plus
/// `pool_size=N`) for a PostgreSQL database several servers share.
pub fn open_store(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(std::sync::Arc::new(sqlite::SqliteStore::open_in_memory()?));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(std::sync::Arc::new(sqlite::SqliteStore::open(
            std::path::Path::new(path),
        )?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(postgres::PostgresStore::open(url)?));
    }
    Err(StoreError::Unsupported(shown_url(url)))
}

/// A store URL fit to print: the password, if any, replaced by `***`.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown_url("postgres://ivr:s3cr%40t@db:5432/phonetree?pool_size=4"),
            "postgres://ivr:***@db:5432/phonetree?pool_size=4"
        );
        assert_eq!(
            shown_url("postgres://ivr@db/phonetree"),
            "postgres://ivr@db/phonetree"
        );
        assert_eq!(shown_url("sqlite://phonetree.db"), "sqlite://phonetree.db");
        assert_eq!(shown_url("sqlite::memory:"), "sqlite::memory:");
    }
}
