//! The PostgreSQL store: the same tables as SQLite in a server several `phonetree serve`
//! processes share, reached through a pool of connections.
//!
//! Each webhook is one transaction at READ COMMITTED whose row locks decide the races
//! between servers (see [`PostgresStore`]); the server's `synchronous_commit` (on by
//! default) makes a commit durable before it returns. Timestamps are RFC 3339 text, as in
//! SQLite, so the same SQL reads both.
//!
//! Connections are not encrypted yet (no TLS): `sslmode=disable`, `prefer` and `allow`
//! connect in the clear, `require`, `verify-ca` and `verify-full` are refused.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::{Config, NoTls};

use futures_util::StreamExt;

use super::rows::{
    call_columns, decode_value, encode_value, event_columns, parse_name, parse_ts, range_query,
    to_u32, ts,
};
use super::{
    CallRange, CallRecord, CommitOutcome, Pruned, RowStream, Store, StoreError, WebhookCommit,
    schema, until_error,
};
use crate::call::{CallSession, EventKind, FlowClosure, LogEvent, Outcome};

/// Connections kept open when the URL does not say `pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Most connections one store may keep, whatever the URL says.
const MAX_POOL_SIZE: usize = 1024;
/// How long opening a connection may take when the URL does not say `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a free connection of the pool. With the lookup budget
/// (10 s) and one retry of a failed commit it keeps a webhook inside Twilio's 15 s.
const POOL_WAIT: Duration = Duration::from_secs(2);
/// The advisory lock that lets one server at a time migrate the schema ("phonetre").
const SCHEMA_LOCK: i64 = 0x7068_6f6e_6574_7265;

const INSERT_REPLY: &str = "INSERT INTO webhook_replies (call_sid, fingerprint, twiml, created_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (call_sid, fingerprint) DO NOTHING";
const SELECT_REPLY: &str =
    "SELECT twiml FROM webhook_replies WHERE call_sid = $1 AND fingerprint = $2";
const INSERT_FIRST_SESSION: &str = "INSERT INTO sessions (call_sid, state, updated_at, seq)
     VALUES ($1, $2, $3, $4) ON CONFLICT (call_sid) DO NOTHING";
const UPDATE_SESSION: &str = "UPDATE sessions SET state = $2, updated_at = $3, seq = $4
     WHERE call_sid = $1 AND seq = $5";
// Each event keeps its call's start as the call row holds it (the row is written first).
const INSERT_EVENTS: &str = "INSERT INTO call_events (call_sid, seq, at, flow, flow_version, node, kind, value, attempt, call_started_at)
     SELECT e.*, (SELECT c.started_at FROM calls c WHERE c.call_sid = e.call_sid)
     FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[])
       AS e (call_sid, seq, at, flow, flow_version, node, kind, value, attempt)";
const UPSERT_CALL: &str = "INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at, ended_at, outcome, last_node)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (call_sid) DO UPDATE SET flow = excluded.flow, flow_version = excluded.flow_version,
       language = excluded.language, outcome = COALESCE(excluded.outcome, calls.outcome),
       last_node = COALESCE(excluded.last_node, calls.last_node), ended_at = COALESCE(calls.ended_at, excluded.ended_at)";

const SELECT_CALL: &str = concat!(
    "SELECT ",
    call_columns!(""),
    " FROM calls WHERE call_sid = $1"
);
const SELECT_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(""),
    " FROM call_events WHERE call_sid = $1 ORDER BY seq"
);
// Compared and ordered in byte order ("C"), as SQLite does and as the indexes of migration 3
// are built, whatever collation the database has: the calls come out of
// `calls_by_start_and_sid` (or `calls_by_flow_start_and_sid`) already sorted.
const SELECT_CALLS_IN: &str = concat!(
    "SELECT ",
    call_columns!("c."),
    r#" FROM calls c
     WHERE c.started_at COLLATE "C" >= $1 AND c.started_at COLLATE "C" < $2
     ORDER BY c.started_at COLLATE "C", c.call_sid COLLATE "C""#
);
const SELECT_CALLS_IN_FLOW: &str = concat!(
    "SELECT ",
    call_columns!("c."),
    r#" FROM calls c
     WHERE c.flow = $3 AND c.started_at COLLATE "C" >= $1 AND c.started_at COLLATE "C" < $2
     ORDER BY c.started_at COLLATE "C", c.call_sid COLLATE "C""#
);
// The events in call order from `call_events_in_call_order` (migration 5); of one flow, each
// call's events by that index too.
const SELECT_EVENTS_IN: &str = concat!(
    "SELECT ",
    event_columns!("e."),
    r#" FROM call_events e
     WHERE e.call_started_at COLLATE "C" >= $1 AND e.call_started_at COLLATE "C" < $2
     ORDER BY e.call_started_at COLLATE "C", e.call_sid COLLATE "C", e.seq"#
);
const SELECT_EVENTS_IN_FLOW: &str = concat!(
    "SELECT ",
    event_columns!("e."),
    r#" FROM calls c JOIN call_events e
       ON e.call_started_at COLLATE "C" = c.started_at COLLATE "C" AND e.call_sid COLLATE "C" = c.call_sid COLLATE "C"
     WHERE c.flow = $3 AND c.started_at COLLATE "C" >= $1 AND c.started_at COLLATE "C" < $2
     ORDER BY c.started_at COLLATE "C", c.call_sid COLLATE "C", e.seq"#
);

/// A call row, selected as [`call_columns`] lists.
fn call_from_row(row: &tokio_postgres::Row) -> Result<CallRecord, StoreError> {
    let started: &str = row.try_get(6).map_err(db)?;
    let ended: Option<&str> = row.try_get(7).map_err(db)?;
    let outcome: Option<&str> = row.try_get(8).map_err(db)?;
    Ok(CallRecord {
        call_sid: row.try_get(0).map_err(db)?,
        flow: row.try_get(1).map_err(db)?,
        flow_version: row.try_get(2).map_err(db)?,
        from_number: row.try_get(3).map_err(db)?,
        to_number: row.try_get(4).map_err(db)?,
        language: row.try_get(5).map_err(db)?,
        started_at: parse_ts(started)?,
        ended_at: ended.map(parse_ts).transpose()?,
        outcome: outcome.map(|o| parse_name("outcome", o)).transpose()?,
        last_node: row.try_get(9).map_err(db)?,
    })
}

/// A call-log row, selected as [`event_columns`] lists.
fn event_from_row(row: &tokio_postgres::Row) -> Result<LogEvent, StoreError> {
    let at: &str = row.try_get(2).map_err(db)?;
    Ok(LogEvent {
        call_sid: row.try_get(0).map_err(db)?,
        seq: to_u32("seq", row.try_get::<_, i32>(1).map_err(db)?)?,
        at: parse_ts(at)?,
        flow: row.try_get(3).map_err(db)?,
        version: row.try_get(4).map_err(db)?,
        node: row.try_get(5).map_err(db)?,
        kind: parse_name::<EventKind>("event kind", row.try_get(6).map_err(db)?)?,
        value: decode_value(row.try_get(7).map_err(db)?)?,
        attempt: to_u32("attempt", row.try_get::<_, i32>(8).map_err(db)?)?,
    })
}

/// Streams the rows of `sql` as the server sends them. The pooled connection moves into
/// the stream and goes back to the pool when the stream ends or is dropped; tokio-postgres
/// reads the socket only as fast as the rows are taken, so the rows not yet asked for wait
/// in the server. After a drop, the connection skips the rest of the answer before its
/// next query.
fn stream_rows<T: Send + 'static>(
    pool: Pool,
    (sql, params): (&'static str, Vec<String>),
    decode: fn(&tokio_postgres::Row) -> Result<T, StoreError>,
) -> RowStream<T> {
    let start = async move {
        let client = pool.get().await.map_err(pool_error)?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        let rows = client.query_raw(&stmt, params.iter()).await.map_err(db)?;
        Ok::<_, StoreError>((client, Box::pin(rows)))
    };
    let rows = futures_util::stream::once(start).flat_map(move |started| match started {
        Ok(state) => futures_util::stream::unfold(state, move |(client, mut rows)| async move {
            let row = rows.next().await?;
            Some((row.map_err(db).and_then(|row| decode(&row)), (client, rows)))
        })
        .boxed(),
        Err(e) => futures_util::stream::iter([Err(e)]).boxed(),
    });
    until_error(rows)
}

/// Sessions, call log and webhook replies in a PostgreSQL database.
///
/// How concurrent webhooks of one call are decided, in the one transaction of a commit:
/// the reply row is inserted first with `ON CONFLICT DO NOTHING`, so a second delivery of
/// the same request waits for the first one's transaction and, once that committed, finds
/// its row: the commit is rolled back and answers [`CommitOutcome::Duplicate`]. Then the
/// session moves only from the `seq` the step started from (`UPDATE ... WHERE seq = base`,
/// or the first session's `INSERT ... ON CONFLICT DO NOTHING`): a writer that lost the race
/// waits on the winner's row lock, re-reads the row once it committed, changes nothing
/// and answers [`CommitOutcome::Conflict`]. Every commit locks the reply key, then the
/// session row, then the call's new rows, always in that order, so two commits never wait
/// on each other in a cycle. The four statements are sent together: a commit is three
/// round trips (`BEGIN`, the four, `COMMIT` or `ROLLBACK`).
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("pool_size", &status.max_size)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database a `postgres://user@host:port/db` URL names (libpq's URL
    /// form; `?pool_size=N` sets how many connections are kept, default
    /// [`DEFAULT_POOL_SIZE`]) and brings its schema up to date.
    ///
    /// Blocks while it migrates (on a thread of its own, so it may be called from inside
    /// a runtime of either flavour); the pool's connections open when first needed.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let (config, pool_size) = parse_url(url)?;
        let migrating = config.clone();
        std::thread::Builder::new()
            .name("phonetree-migrate".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        StoreError::Database(format!("starting the migration runtime: {e}"))
                    })?
                    .block_on(migrate(&migrating))
            })
            .map_err(|e| StoreError::Database(format!("starting the migration thread: {e}")))?
            .join()
            .map_err(|_| StoreError::Database("the migration thread panicked".into()))??;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection whose socket closed is noticed without a round trip; one that
                // dies in use fails that query and is dropped on its way back.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Database(format!("building the connection pool: {e}")))?;
        Ok(PostgresStore { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// Splits phonetree's own `pool_size` parameter off the URL and checks the TLS mode,
/// which this build cannot honour beyond "prefer".
fn parse_url(url: &str) -> Result<(Config, usize), StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pool_size = DEFAULT_POOL_SIZE;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (key, value) {
            ("pool_size", n) => {
                pool_size = n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                    .ok_or_else(|| {
                        StoreError::Database(format!(
                            "store URL: pool_size `{n}` is not a number from 1 to {MAX_POOL_SIZE}"
                        ))
                    })?;
            }
            ("sslmode", "require" | "verify-ca" | "verify-full") => {
                return Err(StoreError::Database(format!(
                    "store URL: sslmode={value} needs TLS, which phonetree does not speak to \
                     PostgreSQL yet; use sslmode=disable on a trusted network or a local tunnel"
                )));
            }
            // Without TLS, "try plain first" and "try TLS first" both end in plain.
            ("sslmode", "allow") => kept.push("sslmode=prefer"),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    // The URL may hold a password: errors name what is wrong, never the URL.
    let mut config = Config::from_str(&url)
        .map_err(|e| StoreError::Database(format!("store URL: {}", message(&e))))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("phonetree");
    }
    Ok((config, pool_size))
}

/// Applies the migrations the database lacks, in one transaction that holds the schema
/// lock, so servers starting together migrate one after the other and the later ones
/// find nothing to do.
async fn migrate(config: &Config) -> Result<(), StoreError> {
    let (mut client, connection) = config.connect(NoTls).await.map_err(db)?;
    let connection = tokio::spawn(connection);
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await
        .map_err(db)?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_version",
            &[],
        )
        .await
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    if current > schema::latest() {
        return Err(StoreError::Database(format!(
            "schema version {current} is newer than this phonetree ({})",
            schema::latest()
        )));
    }
    for m in schema::MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.postgres).await.map_err(|e| {
            StoreError::Database(format!(
                "migration {} ({}): {}",
                m.version,
                m.summary,
                message(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&m.version],
        )
        .await
        .map_err(db)?;
        tracing::info!(
            version = m.version,
            summary = m.summary,
            "store schema migrated"
        );
    }
    tx.commit().await.map_err(db)?;
    drop(client);
    // The connection ends once the client is gone; its error, if any, changes nothing now.
    let _ = connection.await;
    Ok(())
}

/// The error's own words and those of its causes: tokio-postgres keeps the server's
/// message in the source chain, behind "db error".
fn message(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(message(&e))
}

/// Whether `e` means the connection is gone (rather than the statement refused), as when
/// the server shut it down: the error may come before the client has noticed the close.
fn connection_lost(e: &tokio_postgres::Error, client: &tokio_postgres::Client) -> bool {
    use tokio_postgres::error::SqlState;
    client.is_closed()
        || e.is_closed()
        || e.code().is_some_and(|code| {
            [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code)
        })
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => StoreError::Database(message(&e)),
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Database(format!("connection pool: {other}")),
    }
}

/// What can stop a commit half-way: the database, or a value it cannot hold.
enum CommitError {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for CommitError {
    fn from(e: tokio_postgres::Error) -> CommitError {
        CommitError::Pg(e)
    }
}

impl From<CommitError> for StoreError {
    fn from(e: CommitError) -> StoreError {
        match e {
            CommitError::Pg(e) => db(e),
            CommitError::Store(e) => e,
        }
    }
}

/// An `INTEGER` column holds 31 bits.
fn to_i32(what: &str, n: u32) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(|_| StoreError::Database(format!("{what} {n} is too large to store")))
}

/// A commit's events as one array per column, for a single `INSERT ... UNNEST`.
struct EventColumns<'a> {
    call_sid: Vec<&'a str>,
    seq: Vec<i32>,
    at: Vec<String>,
    flow: Vec<&'a str>,
    version: Vec<&'a str>,
    node: Vec<Option<&'a str>>,
    kind: Vec<&'static str>,
    value: Vec<Option<String>>,
    attempt: Vec<i32>,
}

impl<'a> EventColumns<'a> {
    fn of(events: &'a [LogEvent]) -> Result<EventColumns<'a>, StoreError> {
        let mut c = EventColumns {
            call_sid: Vec::with_capacity(events.len()),
            seq: Vec::with_capacity(events.len()),
            at: Vec::with_capacity(events.len()),
            flow: Vec::with_capacity(events.len()),
            version: Vec::with_capacity(events.len()),
            node: Vec::with_capacity(events.len()),
            kind: Vec::with_capacity(events.len()),
            value: Vec::with_capacity(events.len()),
            attempt: Vec::with_capacity(events.len()),
        };
        for e in events {
            c.call_sid.push(&e.call_sid);
            c.seq.push(to_i32("event seq", e.seq)?);
            c.at.push(ts(e.at));
            c.flow.push(&e.flow);
            c.version.push(&e.version);
            c.node.push(e.node.as_deref());
            c.kind.push(e.kind.as_str());
            c.value.push(encode_value(e.value.as_ref())?);
            c.attempt.push(to_i32("event attempt", e.attempt)?);
        }
        Ok(c)
    }
}

/// One try of a commit on one connection; see [`PostgresStore`] for how races are decided.
async fn commit_on(
    client: &mut deadpool_postgres::Client,
    commit: &WebhookCommit,
) -> Result<CommitOutcome, CommitError> {
    let s = &commit.session;
    let now = ts(commit.now);
    let state = serde_json::to_string(s).map_err(|e| {
        CommitError::Store(StoreError::Database(format!("encoding the session: {e}")))
    })?;
    let seq = i64::from(s.seq);
    let events = EventColumns::of(&commit.events).map_err(CommitError::Store)?;
    let ended_at = (s.is_ended() && s.outcome().is_some()).then_some(now.as_str());
    let started_at = ts(s.started_at);
    let outcome = s.outcome().map(Outcome::as_str);

    // Prepared before the transaction (once per connection, then from its cache), so the
    // four statements below go out in one write, in this order: every commit takes the
    // reply key, the session row and the call's rows (its call row, then its events, which
    // copy the row's start) in the same order, and never waits on a commit that waits on it.
    let insert_reply = client.prepare_cached(INSERT_REPLY).await?;
    let move_session = client
        .prepare_cached(match commit.base_seq {
            None => INSERT_FIRST_SESSION,
            Some(_) => UPDATE_SESSION,
        })
        .await?;
    let insert_events = client.prepare_cached(INSERT_EVENTS).await?;
    let upsert_call = client.prepare_cached(UPSERT_CALL).await?;
    let tx = client.transaction().await?;
    let reply = async {
        match &commit.reply {
            Some((fingerprint, twiml)) => tx
                .execute(&insert_reply, &[&s.call_sid, fingerprint, twiml, &now])
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let moved = async {
        match commit.base_seq {
            None => {
                tx.execute(&move_session, &[&s.call_sid, &state, &now, &seq])
                    .await
            }
            Some(base) => {
                let base = i64::from(base);
                tx.execute(&move_session, &[&s.call_sid, &state, &now, &seq, &base])
                    .await
            }
        }
    };
    let logged = async {
        if commit.events.is_empty() {
            return Ok(0);
        }
        tx.execute(
            &insert_events,
            &[
                &events.call_sid,
                &events.seq,
                &events.at,
                &events.flow,
                &events.version,
                &events.node,
                &events.kind,
                &events.value,
                &events.attempt,
            ],
        )
        .await
    };
    let called = async {
        tx.execute(
            &upsert_call,
            &[
                &s.call_sid,
                &s.flow,
                &s.version,
                &s.caller,
                &s.called,
                &s.language,
                &started_at,
                &ended_at,
                &outcome,
                &s.node(),
            ],
        )
        .await
    };
    // One round trip for all four. The later ones run even when an earlier one decided
    // the commit (a duplicate, a conflict) and then fail or do work that the rollback
    // undoes; the first that decided is what counts.
    let (reply, moved, called, logged) = tokio::join!(reply, moved, called, logged);
    if let Some(fingerprint) = commit.reply.as_ref().map(|(f, _)| f)
        && reply? == Some(0)
    {
        tx.rollback().await?;
        // Outside the transaction, at READ COMMITTED: the row the insert collided with.
        let select = client.prepare_cached(SELECT_REPLY).await?;
        let earlier = client
            .query_opt(&select, &[&s.call_sid, fingerprint])
            .await?;
        return Ok(match earlier {
            Some(row) => CommitOutcome::Duplicate(row.try_get(0)?),
            // Expired between the two statements: the call moved on; step again.
            None => CommitOutcome::Conflict,
        });
    }
    if moved? == 0 {
        tx.rollback().await?;
        return Ok(CommitOutcome::Conflict);
    }
    called?;
    logged?;
    tx.commit().await?;
    Ok(CommitOutcome::Stored)
}

#[async_trait]
impl Store for PostgresStore {
    async fn session(&self, call_sid: &str) -> Result<Option<CallSession>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT state FROM sessions WHERE call_sid = $1")
            .await
            .map_err(db)?;
        let Some(row) = client.query_opt(&stmt, &[&call_sid]).await.map_err(db)? else {
            return Ok(None);
        };
        let json: String = row.try_get(0).map_err(db)?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("session of {call_sid}: {e}")))
    }

    async fn reply(&self, call_sid: &str, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(SELECT_REPLY).await.map_err(db)?;
        client
            .query_opt(&stmt, &[&call_sid, &fingerprint])
            .await
            .map_err(db)?
            .map(|row| row.try_get(0).map_err(db))
            .transpose()
    }

    async fn commit(&self, commit: WebhookCommit) -> Result<CommitOutcome, StoreError> {
        let mut client = self.client().await?;
        match commit_on(&mut client, &commit).await {
            // A pooled connection the server closed since (a restart, an idle timeout, an
            // operator) fails at its first query, its transaction undone with it: try once
            // more on a fresh one. Had the commit landed after all (the answer to COMMIT
            // lost on the way), the retry finds its reply: Duplicate, the same answer.
            Err(CommitError::Pg(e)) if connection_lost(&e, &client) => {
                // Out of the pool, or the next checkout could be this one again.
                drop(deadpool_postgres::Object::take(client));
                let mut client = self.client().await?;
                Ok(commit_on(&mut client, &commit).await?)
            }
            other => Ok(other?),
        }
    }

    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(SELECT_CALL).await.map_err(db)?;
        client
            .query_opt(&stmt, &[&call_sid])
            .await
            .map_err(db)?
            .as_ref()
            .map(call_from_row)
            .transpose()
    }

    async fn events(&self, call_sid: &str) -> Result<Vec<LogEvent>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(SELECT_EVENTS).await.map_err(db)?;
        let rows = client.query(&stmt, &[&call_sid]).await.map_err(db)?;
        rows.iter().map(event_from_row).collect()
    }

    fn calls_in(&self, range: &CallRange) -> RowStream<CallRecord> {
        let query = range_query(range, SELECT_CALLS_IN, SELECT_CALLS_IN_FLOW);
        stream_rows(self.pool.clone(), query, call_from_row)
    }

    fn events_in(&self, range: &CallRange) -> RowStream<LogEvent> {
        let query = range_query(range, SELECT_EVENTS_IN, SELECT_EVENTS_IN_FLOW);
        stream_rows(self.pool.clone(), query, event_from_row)
    }

    async fn check(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }

    async fn put_flow_version(
        &self,
        version: &str,
        bundle: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO flow_versions (version, bundle, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (version) DO NOTHING",
                &[&version, &bundle, &ts(now)],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn flow_version(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT bundle FROM flow_versions WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(db)?
            .map(|row| row.try_get(0).map_err(db))
            .transpose()
    }

    async fn close_flow(&self, closure: &FlowClosure) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO flow_closures (flow, until, message, closed_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (flow) DO UPDATE SET until = excluded.until, message = excluded.message,
                 closed_at = excluded.closed_at",
                &[
                    &closure.flow,
                    &ts(closure.until),
                    &closure.message,
                    &ts(closure.closed_at),
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn open_flow(&self, flow: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM flow_closures WHERE flow = $1", &[&flow])
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn closures(&self) -> Result<Vec<FlowClosure>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT flow, until, message, closed_at FROM flow_closures ORDER BY flow COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let until: String = r.try_get(1).map_err(db)?;
                let closed_at: String = r.try_get(3).map_err(db)?;
                Ok(FlowClosure {
                    flow: r.try_get(0).map_err(db)?,
                    until: parse_ts(&until)?,
                    message: r.try_get(2).map_err(db)?,
                    closed_at: parse_ts(&closed_at)?,
                })
            })
            .collect()
    }

    async fn expire_sessions(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = ts(ended_before);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let ended = "SELECT call_sid FROM calls WHERE ended_at IS NOT NULL AND ended_at < $1";
        tx.execute(
            &format!("DELETE FROM webhook_replies WHERE call_sid IN ({ended})"),
            &[&before],
        )
        .await
        .map_err(db)?;
        let n = tx
            .execute(
                &format!("DELETE FROM sessions WHERE call_sid IN ({ended})"),
                &[&before],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn prune(
        &self,
        started_before: DateTime<Utc>,
        keep: &[String],
    ) -> Result<Pruned, StoreError> {
        let before = ts(started_before);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let old = "SELECT call_sid FROM calls WHERE started_at < $1";
        let events = tx
            .execute(
                &format!("DELETE FROM call_events WHERE call_sid IN ({old})"),
                &[&before],
            )
            .await
            .map_err(db)?;
        for table in ["webhook_replies", "sessions"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE call_sid IN ({old})"),
                &[&before],
            )
            .await
            .map_err(db)?;
        }
        let calls = tx
            .execute("DELETE FROM calls WHERE started_at < $1", &[&before])
            .await
            .map_err(db)?;
        let flow_versions = tx
            .execute(
                "DELETE FROM flow_versions WHERE NOT (version = ANY($1)) AND version NOT IN
                   (SELECT flow_version FROM calls UNION SELECT flow_version FROM call_events)",
                &[&keep],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Pruned {
            calls,
            events,
            flow_versions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_libpq_parameters_and_takes_out_the_pool_size() {
        let (config, size) =
            parse_url("postgres://ivr@db.example:6543/calls?sslmode=disable&pool_size=4").unwrap();
        assert_eq!(size, 4);
        assert_eq!(config.get_user(), Some("ivr"));
        assert_eq!(config.get_dbname(), Some("calls"));
        assert_eq!(config.get_ports(), [6543]);
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(config.get_application_name(), Some("phonetree"));

        let (config, size) = parse_url("postgresql://ivr@localhost/calls?sslmode=allow").unwrap();
        assert_eq!(size, DEFAULT_POOL_SIZE);
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
        let (config, _) =
            parse_url("postgres://ivr@localhost/calls?connect_timeout=9&application_name=x")
                .unwrap();
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(9)));
        assert_eq!(config.get_application_name(), Some("x"));
    }

    #[test]
    fn urls_it_cannot_honour_are_refused_without_echoing_the_password() {
        for url in [
            "postgres://ivr:hunter2@localhost/calls?pool_size=0",
            "postgres://ivr:hunter2@localhost/calls?pool_size=many",
            "postgres://ivr:hunter2@localhost/calls?sslmode=require",
            "postgres://ivr:hunter2@localhost/calls?sslmode=verify-full",
            "postgres://ivr:hunter2@localhost/calls?no_such_option=1",
        ] {
            let err = parse_url(url).expect_err(url).to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.starts_with("database: store URL"), "{err}");
        }
    }
}
