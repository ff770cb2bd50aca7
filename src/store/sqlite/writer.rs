//! The SQLite store's writer thread: it commits webhooks in batches (one transaction,
//! one fsync for all of them) and is the only one to change what the store holds in
//! memory ([`LiveCalls`]), after the rows are committed.
//!
//! A webhook is one row of `webhook_log` (its session, the request's fingerprint and the
//! answer, appended under a growing key), its events in `call_events` and its call's row
//! in `calls`, which points at the call's newest log row. Whether a webhook is a duplicate
//! or lost a race with another webhook of its call is decided from memory, so a commit
//! reads nothing from the database unless the call is not held (after a restart, or when
//! another process wrote it).

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::super::live_calls::{LiveCall, LiveCalls, fingerprint_hash};
use super::super::rows::{encode_value, ts};
use super::super::{CommitOutcome, StoreError, WebhookCommit};
use super::{FileIdentity, db};
use crate::call::{CallSession, Outcome};

/// Most webhooks in one transaction: bounds how long the first waiter of a batch waits for the others.
const MAX_BATCH: usize = 256;

/// Work that runs on the writer thread, with the writer's connection and memory.
pub(super) type Job = Box<dyn FnOnce(&mut Writer) + Send>;

/// What the writer thread is asked to do.
// Nearly every request is a commit: boxing it would cost an allocation per webhook.
#[allow(clippy::large_enum_variant)]
pub(super) enum Request {
    /// Commit a webhook's rows.
    Commit {
        commit: WebhookCommit,
        reply: oneshot::Sender<Result<CommitOutcome, StoreError>>,
    },
    /// Any other write that must see and change memory and file together.
    Job(Job),
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) live: Arc<LiveCalls>,
    file: Option<FileIdentity>,
    /// The newest log row this writer knows of: rows past it were written by another
    /// process sharing the file.
    seen: i64,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        live: Arc<LiveCalls>,
        file: Option<FileIdentity>,
    ) -> Result<Writer, StoreError> {
        let seen = newest_log_row(&conn)?;
        Ok(Writer {
            conn,
            live,
            file,
            seen,
        })
    }

    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, queue: mpsc::Receiver<Request>) {
        while let Ok(first) = queue.recv() {
            let mut commits = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Commit { commit, reply } => commits.push((commit, reply)),
                    Request::Job(job) => {
                        // A job runs between batches: commits queued before it go first.
                        self.commit_batch(std::mem::take(&mut commits));
                        job(&mut self);
                    }
                }
                if commits.len() < MAX_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            self.commit_batch(commits);
        }
    }

    pub(super) fn commit_batch(
        &mut self,
        batch: Vec<(
            WebhookCommit,
            oneshot::Sender<Result<CommitOutcome, StoreError>>,
        )>,
    ) {
        if batch.is_empty() {
            return;
        }
        let (commits, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        // One stat per batch: a commit into a deleted file would be acknowledged and lost.
        let results = match self.file.as_ref().map(FileIdentity::still_there) {
            Some(Err(e)) => commits.iter().map(|_| Err(e.clone())).collect(),
            _ => match self.write(&commits, false) {
                // A commit that failed alone (not the transaction) is tried again with
                // every webhook in a savepoint of its own, so it fails alone.
                Ok(results) if results.iter().all(Result::is_ok) => results,
                Ok(_) => self
                    .write(&commits, true)
                    .unwrap_or_else(|e| commits.iter().map(|_| Err(e.clone())).collect()),
                Err(e) => commits.iter().map(|_| Err(e.clone())).collect(),
            },
        };
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }

    /// Writes `commits` in one transaction; `Err` when the transaction failed as a whole.
    /// Without `savepoints` the transaction is rolled back as soon as one commit fails
    /// (its results then say which). Memory learns what was committed once it is.
    fn write(
        &mut self,
        commits: &[WebhookCommit],
        savepoints: bool,
    ) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
        let live = Arc::clone(&self.live);
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let seen = absorb_foreign_rows(&tx, self.seen, &live)?;
        // What each call touched in this batch looks like once committed.
        let mut batch: FxHashMap<String, LiveCall> = FxHashMap::default();
        let mut results = Vec::with_capacity(commits.len());
        for commit in commits {
            let result = if savepoints {
                let sp = tx.savepoint().map_err(db)?;
                let mut touched = None;
                let result = write_one(&sp, commit, &batch, &live, &mut touched);
                if result.is_ok() {
                    sp.commit().map_err(db)?;
                    if let Some((sid, call)) = touched {
                        batch.insert(sid, call);
                    }
                }
                result
            } else {
                let mut touched = None;
                let result = write_one(&tx, commit, &batch, &live, &mut touched);
                if let Some((sid, call)) = touched {
                    batch.insert(sid, call);
                }
                result
            };
            // Some errors (disk full, I/O) make SQLite roll back the whole
            // transaction; carrying on would autocommit the rest one by one.
            if let Err(e) = &result {
                if tx.is_autocommit() {
                    return Err(StoreError::Database(format!("batch rolled back: {e}")));
                }
                if !savepoints {
                    results.push(result);
                    drop(tx);
                    return Ok(results);
                }
            }
            results.push(result);
        }
        // Holding the write lock, the newest row is this batch's last one or what was seen.
        let newest = batch.values().filter_map(|c| c.log_id).max().unwrap_or(0);
        tx.commit().map_err(db)?;
        self.seen = newest.max(seen);
        for (sid, call) in batch {
            // A closed call's record is complete: it leaves memory, and a late callback
            // reads it from the database.
            if call.session.is_closed() {
                live.forget(&sid);
            } else {
                live.put(&sid, call);
            }
        }
        Ok(results)
    }

    /// Reads a call the memory does not hold into memory, if the database has its session.
    pub(super) fn load(&mut self, call_sid: &str) -> Result<(), StoreError> {
        if self.live.holds(call_sid) {
            return Ok(());
        }
        if let Some(call) = read_call(&self.conn, call_sid)? {
            self.live.put_if_absent(call_sid, call);
        }
        Ok(())
    }
}

/// The id of the newest log row (0 when there is none).
fn newest_log_row(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM webhook_log")
        .map_err(db)?
        .query_row([], |r| r.get(0))
        .map_err(db)
}

/// Forgets the calls another process wrote since `seen` (memory would be behind the
/// file); returns the newest log row. Holding the write lock, nobody writes meanwhile.
fn absorb_foreign_rows(
    tx: &Transaction<'_>,
    seen: i64,
    live: &LiveCalls,
) -> Result<i64, StoreError> {
    let newest = newest_log_row(tx)?;
    if newest > seen {
        let mut stmt = tx
            .prepare_cached("SELECT DISTINCT call_sid FROM webhook_log WHERE id > ?1")
            .map_err(db)?;
        let mut rows = stmt.query([seen]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let sid: String = row.get(0).map_err(db)?;
            live.forget(&sid);
        }
    }
    Ok(newest)
}

/// A call as the database has it: its newest session and the chain of its answers.
pub(super) fn read_call(conn: &Connection, call_sid: &str) -> Result<Option<LiveCall>, StoreError> {
    let head: Option<(Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT last_log_id, session_seq FROM calls WHERE call_sid = ?1")
        .map_err(db)?
        .query_row([call_sid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db)?;
    let Some((Some(head), seq)) = head else {
        return Ok(None);
    };
    let mut session = None;
    let mut replies = Vec::new();
    let mut stmt = conn
        .prepare_cached("SELECT prev, fingerprint, session FROM webhook_log WHERE id = ?1")
        .map_err(db)?;
    let mut link = Some(head);
    while let Some(id) = link {
        let row: Option<(Option<i64>, Option<String>, Option<String>)> = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(db)?;
        let Some((prev, fingerprint, stored)) = row else {
            break;
        };
        if let Some(fp) = fingerprint {
            replies.push((fingerprint_hash(&fp), id));
        }
        if session.is_none()
            && let Some(json) = stored
        {
            session = Some(
                serde_json::from_str::<CallSession>(&json)
                    .map_err(|e| StoreError::Corrupt(format!("session of {call_sid}: {e}")))?,
            );
        }
        // A chain only goes back: a loop would be a corrupt file.
        link = prev.filter(|p| *p < id);
    }
    let Some(session) = session else {
        return Ok(None);
    };
    replies.reverse();
    Ok(Some(LiveCall {
        seq: seq
            .and_then(|s| u32::try_from(s).ok())
            .or(Some(session.seq)),
        session: Arc::new(session),
        log_id: Some(head),
        replies,
    }))
}

/// The answer kept in a log row, if that row answered `fingerprint`.
pub(super) fn reply_in_row(
    conn: &Connection,
    id: i64,
    fingerprint: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached("SELECT fingerprint, reply FROM webhook_log WHERE id = ?1")
        .map_err(db)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db)?;
    Ok(row.and_then(|(fp, reply)| (fp.as_deref() == Some(fingerprint)).then_some(reply)?))
}

/// Decides one webhook against what its call is (in this batch, in memory, else in the
/// file) and writes its rows; `touched` is what the call looks like if the batch commits.
fn write_one(
    conn: &Connection,
    commit: &WebhookCommit,
    batch: &FxHashMap<String, LiveCall>,
    live: &LiveCalls,
    touched: &mut Option<(String, LiveCall)>,
) -> Result<CommitOutcome, StoreError> {
    let s = &commit.session;
    let known = match batch.get(&s.call_sid) {
        Some(call) => Some(call.clone()),
        None => match live.get(&s.call_sid) {
            Some(call) => Some(call),
            None => {
                let read = read_call(conn, &s.call_sid)?;
                // Memory learns the call whatever this commit turns out to be, so the
                // try after a conflict reads it from there.
                if let Some(call) = &read {
                    *touched = Some((s.call_sid.clone(), call.clone()));
                }
                read
            }
        },
    };
    if let (Some((fingerprint, _)), Some(call)) = (&commit.reply, &known) {
        let hash = fingerprint_hash(fingerprint);
        for (_, id) in call.replies.iter().rev().filter(|(h, _)| *h == hash) {
            if let Some(first) = reply_in_row(conn, *id, fingerprint)? {
                return Ok(CommitOutcome::Duplicate(first));
            }
        }
    }
    // The store orders each call's webhooks: the step was computed from the session at
    // `base_seq`, so it only lands if that is still the stored one.
    let stored_seq = known.as_ref().and_then(|c| c.seq);
    if stored_seq != commit.base_seq {
        return Ok(CommitOutcome::Conflict);
    }
    let now = ts(commit.now);
    let state = serde_json::to_string(s)
        .map_err(|e| StoreError::Database(format!("encoding the session: {e}")))?;
    let (fingerprint, reply) = match &commit.reply {
        Some((f, r)) => (Some(f.as_str()), Some(r.as_str())),
        None => (None, None),
    };
    let prev = known.as_ref().and_then(|c| c.log_id);
    conn.prepare_cached(
        "INSERT INTO webhook_log (call_sid, prev, seq, at, fingerprint, reply, session)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(db)?
    .execute(params![
        s.call_sid,
        prev,
        s.seq,
        now,
        fingerprint,
        reply,
        state
    ])
    .map_err(db)?;
    let id = conn.last_insert_rowid();
    // The call row first: each event keeps its start as the row holds it.
    let ended_at = (s.is_ended() && s.outcome().is_some()).then_some(now.as_str());
    let started_at: String = conn
        .prepare_cached(
            "INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at, ended_at, outcome, last_node, session_seq, last_log_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (call_sid) DO UPDATE SET flow = excluded.flow, flow_version = excluded.flow_version,
               language = excluded.language, outcome = COALESCE(excluded.outcome, calls.outcome),
               last_node = COALESCE(excluded.last_node, calls.last_node), ended_at = COALESCE(calls.ended_at, excluded.ended_at),
               session_seq = excluded.session_seq, last_log_id = excluded.last_log_id
             RETURNING started_at",
        )
        .map_err(db)?
        .query_row(
            params![
                s.call_sid,
                s.flow,
                s.version,
                s.caller,
                s.called,
                s.language,
                ts(s.started_at),
                ended_at,
                s.outcome().map(Outcome::as_str),
                s.node(),
                s.seq,
                id
            ],
            |r| r.get(0),
        )
        .map_err(db)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO call_events (call_sid, seq, at, flow, flow_version, node, kind, value, attempt, call_started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(db)?;
    for e in &commit.events {
        let value = encode_value(e.value.as_ref())?;
        insert
            .execute(params![
                e.call_sid,
                e.seq,
                ts(e.at),
                e.flow,
                e.version,
                e.node,
                e.kind.as_str(),
                value,
                e.attempt,
                started_at
            ])
            .map_err(db)?;
    }
    let mut replies = known.map(|c| c.replies).unwrap_or_default();
    if let Some(fp) = fingerprint {
        replies.push((fingerprint_hash(fp), id));
    }
    *touched = Some((
        s.call_sid.clone(),
        LiveCall {
            session: Arc::new(s.clone()),
            seq: Some(s.seq),
            log_id: Some(id),
            replies,
        },
    ));
    Ok(CommitOutcome::Stored)
}

/// Expires the sessions of calls that ended before `before`: their log rows go, their
/// call rows stay (for analysis), and memory forgets them. Returns how many calls.
pub(super) fn expire(writer: &mut Writer, before: &str) -> Result<u64, StoreError> {
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let ended: Vec<(String, i64)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT call_sid, last_log_id FROM calls
                 WHERE ended_at IS NOT NULL AND ended_at < ?1 AND last_log_id IS NOT NULL",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([before], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    {
        let mut unlink = tx
            .prepare_cached("DELETE FROM webhook_log WHERE id = ?1 RETURNING prev")
            .map_err(db)?;
        let mut clear = tx
            .prepare_cached(
                "UPDATE calls SET last_log_id = NULL, session_seq = NULL WHERE call_sid = ?1",
            )
            .map_err(db)?;
        for (sid, head) in &ended {
            let mut link = Some(*head);
            while let Some(id) = link {
                let prev: Option<Option<i64>> = unlink
                    .query_row([id], |r| r.get(0))
                    .optional()
                    .map_err(db)?;
                link = prev.flatten().filter(|p| *p < id);
            }
            clear.execute([sid]).map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    for (sid, _) in &ended {
        writer.live.forget(sid);
    }
    Ok(ended.len() as u64)
}

/// Removes everything about calls that started before `before` (memory forgets them).
pub(super) fn prune_calls(
    writer: &mut Writer,
    before: &str,
    keep: &[String],
) -> Result<super::super::Pruned, StoreError> {
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let old: Vec<String> = {
        let mut stmt = tx
            .prepare_cached("SELECT call_sid FROM calls WHERE started_at < ?1")
            .map_err(db)?;
        let rows = stmt.query_map([before], |r| r.get(0)).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    // Each event keeps its call's start: the events of calls started before are a range.
    let events = tx
        .execute(
            "DELETE FROM call_events WHERE call_started_at < ?1",
            [before],
        )
        .map_err(db)?;
    tx.execute(
        "DELETE FROM webhook_log WHERE call_sid IN (SELECT call_sid FROM calls WHERE started_at < ?1)",
        [before],
    )
    .map_err(db)?;
    let calls = tx
        .execute("DELETE FROM calls WHERE started_at < ?1", [before])
        .map_err(db)?;
    let flow_versions = super::prune_flow_versions(&tx, keep)?;
    tx.commit().map_err(db)?;
    for sid in &old {
        writer.live.forget(sid);
    }
    Ok(super::super::Pruned {
        calls: calls as u64,
        events: events as u64,
        flow_versions,
    })
}
