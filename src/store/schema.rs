//! The store's schema as numbered migrations, shared by SQLite and PostgreSQL.
//!
//! Each migration runs once, in the transaction that records it in
//! `schema_version`, so a crash half-way leaves the schema as it was. Where the
//! two dialects agree (most of it) the SQL is written once; where they do not
//! (binary columns, JSON functions) each migration says both.

/// One step of the schema.
pub struct Migration {
    /// Its number, counted from 1; `schema_version` holds the highest applied.
    pub version: i64,
    /// What it does, for the log.
    pub summary: &'static str,
    /// SQL for SQLite.
    pub sqlite: &'static str,
    /// SQL for PostgreSQL.
    pub postgres: &'static str,
}

const V1: &str = "
CREATE TABLE IF NOT EXISTS calls (call_sid TEXT PRIMARY KEY, flow TEXT NOT NULL, flow_version TEXT NOT NULL, from_number TEXT NOT NULL, to_number TEXT NOT NULL, language TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, outcome TEXT, last_node TEXT);
CREATE TABLE IF NOT EXISTS call_events (call_sid TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, flow TEXT NOT NULL, flow_version TEXT NOT NULL, node TEXT, kind TEXT NOT NULL, value TEXT, attempt INTEGER NOT NULL, PRIMARY KEY (call_sid, seq));
CREATE INDEX IF NOT EXISTS call_events_by_node ON call_events (flow, node, kind);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (flow, started_at);
CREATE TABLE IF NOT EXISTS sessions (call_sid TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_replies (call_sid TEXT NOT NULL, fingerprint TEXT NOT NULL, twiml TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (call_sid, fingerprint));
";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        summary: "calls, call events, sessions and webhook replies",
        sqlite: V1,
        postgres: V1,
    },
    Migration {
        version: 2,
        summary: "the session's sequence number as a column (the store orders each call's webhooks); flow versions",
        sqlite: "
ALTER TABLE sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET seq = COALESCE(json_extract(state, '$.seq'), 0);
CREATE TABLE IF NOT EXISTS flow_versions (version TEXT PRIMARY KEY, bundle BLOB NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calls_by_end ON calls (ended_at);
",
        postgres: "
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET seq = COALESCE((state::jsonb ->> 'seq')::bigint, 0);
CREATE TABLE IF NOT EXISTS flow_versions (version TEXT PRIMARY KEY, bundle BYTEA NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calls_by_end ON calls (ended_at);
",
    },
    Migration {
        version: 3,
        summary: "indexes that read calls in start order, of all flows or of one",
        // Calls come out of these already in range-read order; the (flow, started_at) index
        // is a prefix of the second one.
        sqlite: "
DROP INDEX IF EXISTS calls_by_start;
CREATE INDEX IF NOT EXISTS calls_by_start_and_sid ON calls (started_at, call_sid);
CREATE INDEX IF NOT EXISTS calls_by_flow_start_and_sid ON calls (flow, started_at, call_sid);
",
        // Byte order ("C"), whatever the database's collation: the same order as SQLite.
        postgres: r#"
DROP INDEX IF EXISTS calls_by_start;
CREATE INDEX IF NOT EXISTS calls_by_start_and_sid ON calls (started_at COLLATE "C", call_sid COLLATE "C");
CREATE INDEX IF NOT EXISTS calls_by_flow_start_and_sid ON calls (flow, started_at COLLATE "C", call_sid COLLATE "C");
"#,
    },
    Migration {
        version: 4,
        summary: "call-event values as typed JSON (`{\"key\":\"1\"}`), rewritten from their text by kind",
        // `set` splits at the first `=` (a variable's name has none); `recorded` was JSON already.
        sqlite: "
UPDATE call_events SET value = CASE kind
  WHEN 'call_started' THEN json_object('caller', value)
  WHEN 'key' THEN json_object('key', value)
  WHEN 'invalid' THEN json_object('key', value)
  WHEN 'input' THEN json_object('digits', value)
  WHEN 'set' THEN json_object('set', json_object('name', substr(value, 1, instr(value, '=') - 1), 'value', substr(value, instr(value, '=') + 1)))
  WHEN 'entered' THEN json_object('branch', value)
  WHEN 'lookup_error' THEN json_object('reason', value)
  WHEN 'fault' THEN json_object('reason', value)
  WHEN 'budget_exhausted' THEN json_object('budget', CAST(value AS INTEGER))
  WHEN 'transfer_started' THEN json_object('target', value)
  WHEN 'transfer_result' THEN json_object('dial_status', value)
  WHEN 'queued' THEN json_object('queue', value)
  WHEN 'queue_left' THEN json_object('queue_result', value)
  WHEN 'recorded' THEN json_object('recording', json(value))
  WHEN 'call_ended' THEN json_object('outcome', value)
  ELSE NULL END
WHERE value IS NOT NULL;
",
        postgres: "
UPDATE call_events SET value = (CASE kind
  WHEN 'call_started' THEN json_build_object('caller', value)
  WHEN 'key' THEN json_build_object('key', value)
  WHEN 'invalid' THEN json_build_object('key', value)
  WHEN 'input' THEN json_build_object('digits', value)
  WHEN 'set' THEN json_build_object('set', json_build_object('name', split_part(value, '=', 1), 'value', substr(value, strpos(value, '=') + 1)))
  WHEN 'entered' THEN json_build_object('branch', value)
  WHEN 'lookup_error' THEN json_build_object('reason', value)
  WHEN 'fault' THEN json_build_object('reason', value)
  WHEN 'budget_exhausted' THEN json_build_object('budget', value::integer)
  WHEN 'transfer_started' THEN json_build_object('target', value)
  WHEN 'transfer_result' THEN json_build_object('dial_status', value)
  WHEN 'queued' THEN json_build_object('queue', value)
  WHEN 'queue_left' THEN json_build_object('queue_result', value)
  WHEN 'recorded' THEN json_build_object('recording', value::json)
  WHEN 'call_ended' THEN json_build_object('outcome', value)
  ELSE NULL END)::text
WHERE value IS NOT NULL;
",
    },
    Migration {
        version: 5,
        summary: "each event keeps its call's start, and range reads take the events in call order from one index",
        // A range read in start order then walks call_events alone, instead of looking up
        // each call's events by call_sid (a random place in the log) and each event's row.
        // SQLite keeps the rows themselves in that order (WITHOUT ROWID): the table is
        // rewritten once. An event whose call row is missing (the store writes none) gets
        // an empty start, which no range holds: range reads leave it out, as before.
        sqlite: "
CREATE TABLE call_events_in_call_order (call_sid TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, flow TEXT NOT NULL, flow_version TEXT NOT NULL, node TEXT, kind TEXT NOT NULL, value TEXT, attempt INTEGER NOT NULL, call_started_at TEXT NOT NULL, PRIMARY KEY (call_started_at, call_sid, seq)) WITHOUT ROWID;
INSERT INTO call_events_in_call_order (call_sid, seq, at, flow, flow_version, node, kind, value, attempt, call_started_at)
  SELECT e.call_sid, e.seq, e.at, e.flow, e.flow_version, e.node, e.kind, e.value, e.attempt, COALESCE(c.started_at, '')
  FROM call_events e LEFT JOIN calls c ON c.call_sid = e.call_sid;
DROP TABLE call_events;
ALTER TABLE call_events_in_call_order RENAME TO call_events;
CREATE UNIQUE INDEX call_events_by_call ON call_events (call_sid, seq);
CREATE INDEX call_events_by_node ON call_events (flow, node, kind);
",
        postgres: r#"
ALTER TABLE call_events ADD COLUMN IF NOT EXISTS call_started_at TEXT;
UPDATE call_events e SET call_started_at = c.started_at FROM calls c
  WHERE c.call_sid = e.call_sid AND e.call_started_at IS NULL;
UPDATE call_events SET call_started_at = '' WHERE call_started_at IS NULL;
ALTER TABLE call_events ALTER COLUMN call_started_at SET NOT NULL;
CREATE INDEX IF NOT EXISTS call_events_in_call_order ON call_events (call_started_at COLLATE "C", call_sid COLLATE "C", seq);
"#,
    },
    Migration {
        version: 6,
        summary: "flows an admin closed until a time (`phonetree close`)",
        sqlite: V6,
        postgres: V6,
    },
    Migration {
        version: 7,
        summary: "SQLite: one append-only log row per webhook (its session and answer), the call row pointing at the newest; unused event indexes dropped",
        // A webhook then appends one row under a growing key instead of rewriting a session
        // row and adding an answer row, each at a random place in its own table. The
        // call's row says where its newest session is (`last_log_id`), and each log row
        // where the call's previous one is (`prev`): a chain of the call's answers. Old
        // answers become log rows first and the session last, so the session's row is the
        // newest of its call; a session whose call has no row (never written so) gets one
        // from its state. `sessions` and `webhook_replies` stay readable as views.
        // The events are found by call through their key (the call's start, then its sid):
        // `call_events_by_call` and `call_events_by_node` (used by no query) go. Log ids
        // only grow (AUTOINCREMENT): a row past the newest a server wrote is another
        // process's. `store_changes.removals` counts expiries and prunings, so a server
        // holding calls in memory notices another process removing some.
        sqlite: "
CREATE TABLE webhook_log (id INTEGER PRIMARY KEY AUTOINCREMENT, call_sid TEXT NOT NULL, prev INTEGER, seq INTEGER, at TEXT NOT NULL, fingerprint TEXT, reply TEXT, session TEXT);
CREATE TABLE store_changes (id INTEGER PRIMARY KEY CHECK (id = 1), removals INTEGER NOT NULL);
INSERT INTO store_changes (id, removals) VALUES (1, 0);
INSERT INTO webhook_log (call_sid, at, fingerprint, reply)
  SELECT call_sid, created_at, fingerprint, twiml FROM webhook_replies ORDER BY created_at, rowid;
INSERT INTO webhook_log (call_sid, seq, at, session)
  SELECT call_sid, seq, updated_at, state FROM sessions ORDER BY updated_at, rowid;
CREATE INDEX webhook_log_migrating ON webhook_log (call_sid, id);
UPDATE webhook_log SET prev = (SELECT MAX(p.id) FROM webhook_log p WHERE p.call_sid = webhook_log.call_sid AND p.id < webhook_log.id);
INSERT INTO calls (call_sid, flow, flow_version, from_number, to_number, language, started_at)
  SELECT s.call_sid, COALESCE(json_extract(s.state, '$.flow'), ''), COALESCE(json_extract(s.state, '$.version'), ''),
    COALESCE(json_extract(s.state, '$.caller'), ''), COALESCE(json_extract(s.state, '$.called'), ''),
    COALESCE(json_extract(s.state, '$.language'), ''), COALESCE(json_extract(s.state, '$.started_at'), s.updated_at)
  FROM sessions s WHERE json_valid(s.state) AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.call_sid = s.call_sid);
ALTER TABLE calls ADD COLUMN session_seq INTEGER;
ALTER TABLE calls ADD COLUMN last_log_id INTEGER;
UPDATE calls SET last_log_id = (SELECT MAX(l.id) FROM webhook_log l WHERE l.call_sid = calls.call_sid),
  session_seq = (SELECT s.seq FROM sessions s WHERE s.call_sid = calls.call_sid);
DROP INDEX webhook_log_migrating;
DROP TABLE sessions;
DROP TABLE webhook_replies;
DROP INDEX IF EXISTS call_events_by_call;
DROP INDEX IF EXISTS call_events_by_node;
CREATE VIEW sessions AS SELECT c.call_sid AS call_sid, l.session AS state, l.at AS updated_at, c.session_seq AS seq
  FROM calls c JOIN webhook_log l ON l.id = c.last_log_id WHERE l.session IS NOT NULL;
CREATE VIEW webhook_replies AS SELECT call_sid, fingerprint, reply AS twiml, at AS created_at
  FROM webhook_log WHERE fingerprint IS NOT NULL;
",
        // PostgreSQL keeps its tables (each of its servers reads them); only the index no
        // query uses goes.
        postgres: "
DROP INDEX IF EXISTS call_events_by_node;
",
    },
    Migration {
        version: 8,
        summary: "calls in progress are left out of the index of ended calls",
        // Only ended calls are looked up by their end (expiry: `ended_at >= ? AND ended_at <
        // ?`, which implies `ended_at IS NOT NULL`, so the partial index serves it). A new
        // call then adds no entry to it, and its end adds one instead of moving one.
        sqlite: CALLS_BY_END_PARTIAL,
        postgres: CALLS_BY_END_PARTIAL,
    },
];

const CALLS_BY_END_PARTIAL: &str = "
DROP INDEX IF EXISTS calls_by_end;
CREATE INDEX calls_by_end ON calls (ended_at) WHERE ended_at IS NOT NULL;
";

const V6: &str = "
CREATE TABLE IF NOT EXISTS flow_closures (flow TEXT PRIMARY KEY, until TEXT NOT NULL, message TEXT, closed_at TEXT NOT NULL);
";

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.summary);
        }
        assert_eq!(latest(), MIGRATIONS.len() as i64);
    }
}
