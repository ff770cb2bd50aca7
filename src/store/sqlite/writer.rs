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

use super::super::live_calls::{CallStart, HeldSession, LiveCall, LiveCalls, fingerprint_hash};
use super::super::rows::{encode_value, ts};
use super::super::{CommitOutcome, StoreError, WebhookCommit};
use super::{FileIdentity, db};
use crate::call::{CallSession, Outcome};

/// Most webhooks in one transaction: bounds how long the first waiter of a batch waits for the others.
const MAX_BATCH: usize = 256;
/// A held call untouched this long leaves memory (the file has it): a call whose status
/// callback never came, or that went on on another server.
const IDLE_LIMIT_SECS: u32 = 600;
/// How often held calls are looked over for [`IDLE_LIMIT_SECS`].
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// The ended calls whose log rows an expiry chunk removes: `?3 <= ended_at < ?1`, in end
/// order, `?2` at most. Served by the partial index of ended calls (`calls_by_end`).
pub(super) const SELECT_ENDED_CALLS: &str = "SELECT call_sid, last_log_id, ended_at FROM calls
     WHERE ended_at >= ?3 AND ended_at < ?1 AND last_log_id IS NOT NULL
     ORDER BY ended_at LIMIT ?2";
/// Calls one expiry or pruning transaction takes: the writer's commits wait for no longer.
pub(super) const REMOVAL_CHUNK: usize = 500;

/// Work that runs on the writer thread, with the writer's connection and memory.
pub(super) type Job = Box<dyn FnOnce(&mut Writer) + Send>;

/// Webhooks to commit in one transaction, each with where its outcome goes.
pub(super) type Batch = Vec<(
    WebhookCommit,
    oneshot::Sender<Result<CommitOutcome, StoreError>>,
)>;

/// What the writer thread is asked to do.
// Nearly every request is a commit: boxing it would cost an allocation per webhook.
#[allow(clippy::large_enum_variant)]
pub(super) enum Request {
    /// Commit a webhook's rows.
    Commit {
        commit: WebhookCommit,
        reply: oneshot::Sender<Result<CommitOutcome, StoreError>>,
    },
    /// Read a call memory does not hold from the file, into memory; answers what is
    /// held of it then. It writes nothing, so it does not wait for a batch to commit.
    Load {
        call_sid: String,
        reply: oneshot::Sender<Result<Option<LiveCall>, StoreError>>,
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
    /// `store_changes.removals` as this writer last saw it: another process expired or
    /// pruned calls when it moves.
    removals: i64,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        live: Arc<LiveCalls>,
        file: Option<FileIdentity>,
    ) -> Result<Writer, StoreError> {
        let (seen, removals) = changes(&conn)?;
        Ok(Writer {
            conn,
            live,
            file,
            seen,
            removals,
        })
    }

    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, queue: mpsc::Receiver<Request>) {
        let mut swept = std::time::Instant::now();
        // One buffer for every batch: a batch's commits are large, and a fresh buffer of
        // each batch's size made the allocator take (and zero) new pages again and again.
        let mut commits: Batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = match queue.recv_timeout(SWEEP_EVERY) {
                Ok(request) => Some(request),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut next = first;
            while let Some(request) = next.take() {
                match request {
                    Request::Commit { commit, reply } => commits.push((commit, reply)),
                    Request::Load { call_sid, reply } => {
                        let _ = reply.send(self.load(&call_sid));
                    }
                    Request::Job(job) => {
                        // A job runs between batches: commits queued before it go first.
                        self.commit_batch(&mut commits);
                        job(&mut self);
                    }
                }
                if commits.len() < MAX_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            self.commit_batch(&mut commits);
            if swept.elapsed() >= SWEEP_EVERY {
                swept = std::time::Instant::now();
                let before = self.live.now().saturating_sub(IDLE_LIMIT_SECS);
                let n = self.live.forget_untouched_since(before);
                if n > 0 {
                    tracing::debug!(calls = n, "calls idle in memory left it");
                }
            }
        }
    }

    /// Commits the webhooks of `batch` and answers each; leaves `batch` empty.
    pub(super) fn commit_batch(&mut self, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        // One stat per batch: a commit into a deleted file would be acknowledged and lost.
        let results = match self.file.as_ref().map(FileIdentity::still_there) {
            Some(Err(e)) => batch.iter().map(|_| Err(e.clone())).collect(),
            _ => match self.write(batch, false) {
                // A commit that failed alone (not the transaction) is tried again with
                // every webhook in a savepoint of its own, so it fails alone.
                Ok(results) if results.iter().all(Result::is_ok) => results,
                Ok(_) => self
                    .write(batch, true)
                    .unwrap_or_else(|e| batch.iter().map(|_| Err(e.clone())).collect()),
                Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
            },
        };
        for ((_, reply), result) in batch.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }

    /// Writes `commits` in one transaction; `Err` when the transaction failed as a whole.
    /// Without `savepoints` the transaction is rolled back as soon as one commit fails
    /// (its results then say which). Memory learns what was committed once it is.
    fn write(
        &mut self,
        commits: &Batch,
        savepoints: bool,
    ) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
        let live = Arc::clone(&self.live);
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let (seen, removals) = absorb_foreign_changes(&tx, self.seen, self.removals, &live)?;
        // What each call touched in this batch looks like once committed.
        let mut batch: FxHashMap<String, LiveCall> =
            FxHashMap::with_capacity_and_hasher(commits.len(), Default::default());
        let mut results = Vec::with_capacity(commits.len());
        for (commit, _) in commits {
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
        self.removals = removals;
        let now = live.now();
        for (sid, mut call) in batch {
            // A closed call's record is complete: it leaves memory, and a late callback
            // reads it from the database.
            if call.session.as_ref().is_some_and(|s| s.is_closed()) {
                live.forget(&sid);
            } else {
                call.touched = now;
                live.put(&sid, call);
            }
        }
        Ok(results)
    }

    /// What is held of a call, read from the file into memory first when memory does not
    /// hold it; `None` when the file has nothing of it either.
    pub(super) fn load(&mut self, call_sid: &str) -> Result<Option<LiveCall>, StoreError> {
        if let Some(held) = self.live.get(call_sid) {
            return Ok(Some(held));
        }
        let read = read_call(&self.conn, call_sid)?;
        if let Some(call) = &read {
            let mut held = call.clone();
            held.touched = self.live.now();
            self.live.put_if_absent(call_sid, held);
        }
        Ok(read)
    }
}

/// The newest log row (0 when there is none) and `store_changes.removals`.
fn changes(conn: &Connection) -> Result<(i64, i64), StoreError> {
    conn.prepare_cached(
        "SELECT COALESCE((SELECT MAX(id) FROM webhook_log), 0), (SELECT removals FROM store_changes)",
    )
    .map_err(db)?
    .query_row([], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0))))
    .map_err(db)
}

/// Catches memory up with what another process sharing the file did since this writer
/// last looked: the calls it wrote are forgotten (memory would be behind the file), and
/// when it expired or pruned calls everything is. Returns the newest log row and the
/// removals count. Holding the write lock, nobody writes meanwhile; log ids only grow
/// (AUTOINCREMENT), so a row past `seen` is one this writer did not write.
fn absorb_foreign_changes(
    tx: &Transaction<'_>,
    seen: i64,
    removals: i64,
    live: &LiveCalls,
) -> Result<(i64, i64), StoreError> {
    let (newest, now_removals) = changes(tx)?;
    if now_removals != removals {
        live.clear();
    } else if newest > seen {
        let mut stmt = tx
            .prepare_cached("SELECT DISTINCT call_sid FROM webhook_log WHERE id > ?1")
            .map_err(db)?;
        let mut rows = stmt.query([seen]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let sid: String = row.get(0).map_err(db)?;
            live.forget(&sid);
        }
    }
    Ok((newest, now_removals))
}

/// Counts one removal of calls (expiry, pruning), for other processes to notice.
fn count_removal(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    tx.prepare_cached("UPDATE store_changes SET removals = removals + 1 RETURNING removals")
        .map_err(db)?
        .query_row([], |r| r.get(0))
        .map_err(db)
}

/// A call as the database has it: its newest session and the chain of its answers.
pub(super) fn read_call(conn: &Connection, call_sid: &str) -> Result<Option<LiveCall>, StoreError> {
    let head: Option<(Option<i64>, Option<i64>, String)> = conn
        .prepare_cached(
            "SELECT last_log_id, session_seq, started_at FROM calls WHERE call_sid = ?1",
        )
        .map_err(db)?
        .query_row([call_sid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db)?;
    let Some((Some(head), seq, started_at)) = head else {
        return Ok(None);
    };
    let mut session = None;
    let mut replies = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT prev, fingerprint, session FROM webhook_log WHERE id = ?1 AND call_sid = ?2",
        )
        .map_err(db)?;
    let mut link = Some(head);
    while let Some(id) = link {
        let row: Option<(Option<i64>, Option<String>, Option<String>)> = stmt
            .query_row(params![id, call_sid], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
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
            let read = serde_json::from_str::<CallSession>(&json)
                .map_err(|e| StoreError::Corrupt(format!("session of {call_sid}: {e}")))?;
            session = Some((read.seq, HeldSession::new(json, &read)));
        }
        // A chain only goes back: a loop would be a corrupt file.
        link = prev.filter(|p| *p < id);
    }
    if session.is_none() && replies.is_empty() {
        return Ok(None);
    }
    replies.reverse();
    Ok(Some(LiveCall {
        seq: seq
            .and_then(|s| u32::try_from(s).ok())
            .or(session.as_ref().map(|(seq, _)| *seq)),
        session: session.map(|(_, held)| held),
        log_id: Some(head),
        replies,
        touched: 0,
        started_at: Some(CallStart::of_row(&started_at)),
    }))
}

/// The answer kept in a log row of `call_sid`, if that row answered `fingerprint`.
pub(super) fn reply_in_row(
    conn: &Connection,
    call_sid: &str,
    id: i64,
    fingerprint: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT fingerprint, reply FROM webhook_log WHERE id = ?1 AND call_sid = ?2",
        )
        .map_err(db)?
        .query_row(params![id, call_sid], |r| Ok((r.get(0)?, r.get(1)?)))
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
    let sid = &commit.session.call_sid;
    let held = match batch.get(sid) {
        Some(call) => Some(call.clone()),
        None => live.get(sid),
    };
    // A new call (nothing stored when its step was taken) that neither the batch nor memory
    // holds is written without reading the file first: its row's insert finds out whether
    // the file had the call after all (a call start sent again after a restart), and only
    // then is the webhook undone and decided against what the file holds.
    if held.is_none()
        && commit.base_seq.is_none()
        && let Some(outcome) = write_decided(conn, commit, None, touched, false)?
    {
        return Ok(outcome);
    }
    let known = match held {
        Some(call) => Some(call),
        None => {
            let read = read_call(conn, sid)?;
            // Memory learns the call whatever this commit turns out to be, so the try
            // after a conflict reads it from there.
            if let Some(call) = &read {
                *touched = Some((sid.clone(), call.clone()));
            }
            read
        }
    };
    write_decided(conn, commit, known, touched, true)?
        .ok_or_else(|| StoreError::Database(format!("the row of call {sid} was not written")))
}

/// Writes one webhook's rows against `known`, what its call is. Without `upsert` the call
/// is taken to be new, and `None` means the file had a row of it: nothing of the webhook
/// is left written.
fn write_decided(
    conn: &Connection,
    commit: &WebhookCommit,
    known: Option<LiveCall>,
    touched: &mut Option<(String, LiveCall)>,
    upsert: bool,
) -> Result<Option<CommitOutcome>, StoreError> {
    let s = &commit.session;
    if let (Some((fingerprint, _)), Some(call)) = (&commit.reply, &known) {
        for id in call.reply_rows(fingerprint) {
            if let Some(first) = reply_in_row(conn, &s.call_sid, id, fingerprint)? {
                return Ok(Some(CommitOutcome::Duplicate(first)));
            }
        }
    }
    // The store orders each call's webhooks: the step was computed from the session at
    // `base_seq`, so it only lands if that is still the stored one.
    let stored_seq = known.as_ref().and_then(|c| c.seq);
    if stored_seq != commit.base_seq {
        return Ok(Some(CommitOutcome::Conflict));
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
    let before = known.as_ref().and_then(|c| c.session.as_ref());
    let Some(started_at) = write_call_row(
        conn,
        s,
        before,
        known.as_ref().and_then(|c| c.started_at.clone()),
        ended_at,
        id,
        upsert,
    )?
    else {
        // The file has a row of this call: the log row goes, and the webhook is decided
        // again with the call read.
        conn.prepare_cached("DELETE FROM webhook_log WHERE id = ?1")
            .map_err(db)?
            .execute([id])
            .map_err(db)?;
        return Ok(None);
    };
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO call_events (call_sid, seq, at, flow, flow_version, node, kind, value, attempt, call_started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(db)?;
    let call_started_at = started_at.text();
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
                &*call_started_at
            ])
            .map_err(db)?;
    }
    // A held call's first answer takes room for one, not the four a growing Vec starts with.
    let mut replies = known.map_or_else(|| Vec::with_capacity(1), |c| c.replies);
    if let Some(fp) = fingerprint {
        replies.push((fingerprint_hash(fp), id));
    }
    *touched = Some((
        s.call_sid.clone(),
        LiveCall {
            session: Some(HeldSession::new(state, s)),
            seq: Some(s.seq),
            log_id: Some(id),
            replies,
            touched: 0,
            started_at: Some(started_at),
        },
    ));
    Ok(Some(CommitOutcome::Stored))
}

/// Writes a call's row for the webhook logged as `log_id` and returns the call's start as
/// the row holds it. A call whose row memory knows (`known_start`) is one `UPDATE`, a new
/// call one `INSERT`: neither reads anything back nor needs a statement journal. A step
/// that changed neither the call's flow, version nor language and did not end it (`before`
/// is the session it started from) sets no indexed column, so no index entry of the row is
/// rewritten. Only a call whose row memory did not know of (written by a server before a
/// restart, or before its session expired) takes the upsert that reads the row's start back;
/// without `upsert` it is left alone and the answer is `None`.
fn write_call_row(
    conn: &Connection,
    s: &CallSession,
    before: Option<&HeldSession>,
    known_start: Option<CallStart>,
    ended_at: Option<&str>,
    log_id: i64,
    upsert: bool,
) -> Result<Option<CallStart>, StoreError> {
    let outcome = s.outcome().map(Outcome::as_str);
    let same_place = before.is_some_and(|b| b.same_place(s));
    if let Some(start) = known_start
        .as_ref()
        .filter(|_| same_place && outcome.is_none() && ended_at.is_none())
    {
        let updated = conn
            .prepare_cached(
                "UPDATE calls SET last_node = COALESCE(?2, last_node), session_seq = ?3, last_log_id = ?4
                 WHERE call_sid = ?1",
            )
            .map_err(db)?
            .execute(params![s.call_sid, s.node(), s.seq, log_id])
            .map_err(db)?;
        if updated == 1 {
            return Ok(Some(start.clone()));
        }
    } else if let Some(start) = known_start {
        let updated = conn
            .prepare_cached(
                "UPDATE calls SET flow = ?2, flow_version = ?3, language = ?4,
                   outcome = COALESCE(?5, outcome), last_node = COALESCE(?6, last_node),
                   ended_at = COALESCE(ended_at, ?7), session_seq = ?8, last_log_id = ?9
                 WHERE call_sid = ?1",
            )
            .map_err(db)?
            .execute(params![
                s.call_sid,
                s.flow,
                s.version,
                s.language,
                outcome,
                s.node(),
                ended_at,
                s.seq,
                log_id
            ])
            .map_err(db)?;
        if updated == 1 {
            return Ok(Some(start));
        }
    } else {
        let started_at = ts(s.started_at);
        let node = s.node();
        let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at, ended_at, outcome, last_node, session_seq, last_log_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .map_err(db)?
            .execute(call_row(s, &started_at, &ended_at, &outcome, &node, &log_id))
            .map_err(db)?;
        if inserted == 1 {
            return Ok(Some(CallStart::of_row(&started_at)));
        }
        if !upsert {
            return Ok(None);
        }
    }
    let (started_at, node) = (ts(s.started_at), s.node());
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
            call_row(s, &started_at, &ended_at, &outcome, &node, &log_id),
            |r| r.get(0),
        )
        .map_err(db)?;
    Ok(Some(CallStart::of_row(&started_at)))
}

/// A call row's twelve columns, in the order the inserts of [`write_call_row`] name them.
fn call_row<'a>(
    s: &'a CallSession,
    started_at: &'a dyn rusqlite::ToSql,
    ended_at: &'a Option<&'a str>,
    outcome: &'a Option<&'a str>,
    node: &'a Option<&'a str>,
    log_id: &'a i64,
) -> [&'a dyn rusqlite::ToSql; 12] {
    [
        &s.call_sid,
        &s.flow,
        &s.version,
        &s.caller,
        &s.called,
        &s.language,
        started_at,
        ended_at,
        outcome,
        node,
        &s.seq,
        log_id,
    ]
}

/// Deletes the log rows of a call's chain, from its newest row `head` back.
fn unlink_chain(tx: &Transaction<'_>, call_sid: &str, head: i64) -> Result<(), StoreError> {
    let mut unlink = tx
        .prepare_cached("DELETE FROM webhook_log WHERE id = ?1 AND call_sid = ?2 RETURNING prev")
        .map_err(db)?;
    let mut link = Some(head);
    while let Some(id) = link {
        let prev: Option<Option<i64>> = unlink
            .query_row(params![id, call_sid], |r| r.get(0))
            .optional()
            .map_err(db)?;
        link = prev.flatten().filter(|p| *p < id);
    }
    Ok(())
}

/// Expires the sessions of up to [`REMOVAL_CHUNK`] calls that ended before `before`, from
/// `from` on (the end of the chunk before): their log rows go, their call rows stay (for
/// analysis), and memory forgets them. Returns how many calls (fewer than the chunk when
/// none is left) and where the next chunk starts.
pub(super) fn expire_chunk(
    writer: &mut Writer,
    before: &str,
    from: &str,
) -> Result<(usize, String), StoreError> {
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let ended: Vec<(String, i64, String)> = {
        let mut stmt = tx.prepare_cached(SELECT_ENDED_CALLS).map_err(db)?;
        let rows = stmt
            .query_map(params![before, REMOVAL_CHUNK as i64, from], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let Some((_, _, last)) = ended.last() else {
        return Ok((0, from.to_owned()));
    };
    let next = last.clone();
    {
        let mut clear = tx
            .prepare_cached(
                "UPDATE calls SET last_log_id = NULL, session_seq = NULL WHERE call_sid = ?1",
            )
            .map_err(db)?;
        for (sid, head, _) in &ended {
            unlink_chain(&tx, sid, *head)?;
            clear.execute([sid]).map_err(db)?;
        }
    }
    let removals = count_removal(&tx)?;
    tx.commit().map_err(db)?;
    writer.removals = removals;
    for (sid, _, _) in &ended {
        writer.live.forget(sid);
    }
    Ok((ended.len(), next))
}

/// Removes everything about up to [`REMOVAL_CHUNK`] calls that started before `before`,
/// oldest first (memory forgets them); returns how many calls and events.
pub(super) fn prune_chunk(writer: &mut Writer, before: &str) -> Result<(u64, u64), StoreError> {
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let old: Vec<(String, Option<i64>, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT call_sid, last_log_id, started_at FROM calls WHERE started_at < ?1
                 ORDER BY started_at LIMIT ?2",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![before, REMOVAL_CHUNK as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let mut events = 0;
    if old.is_empty() {
        // The events no call row holds any more (written without one): by their start.
        events = tx
            .execute(
                "DELETE FROM call_events WHERE call_started_at < ?1",
                [before],
            )
            .map_err(db)? as u64;
    } else {
        let mut drop_events = tx
            .prepare_cached("DELETE FROM call_events WHERE call_started_at = ?1 AND call_sid = ?2")
            .map_err(db)?;
        let mut drop_call = tx
            .prepare_cached("DELETE FROM calls WHERE call_sid = ?1")
            .map_err(db)?;
        for (sid, head, started_at) in &old {
            if let Some(head) = head {
                unlink_chain(&tx, sid, *head)?;
            }
            events += drop_events.execute([started_at, sid]).map_err(db)? as u64;
            drop_call.execute([sid]).map_err(db)?;
        }
    }
    let removals = count_removal(&tx)?;
    tx.commit().map_err(db)?;
    writer.removals = removals;
    for (sid, _, _) in &old {
        writer.live.forget(sid);
    }
    Ok((old.len() as u64, events))
}

/// Removes the flow versions no call is on any more, except `keep`; returns how many.
pub(super) fn prune_versions(writer: &mut Writer, keep: &[String]) -> Result<u64, StoreError> {
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let n = super::prune_flow_versions(&tx, keep)?;
    tx.commit().map_err(db)?;
    Ok(n)
}
