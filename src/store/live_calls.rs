//! The calls a SQLite store holds in memory: each call's latest committed session and
//! which of its requests were answered, so that a webhook reads neither from the
//! database. Only the store's writer thread changes it, after the rows it describes are
//! committed; webhooks read it.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::call::CallSession;

/// Shards of the map: a webhook locks one, and a shard grows in small steps (one map
/// under one lock stalled every webhook while it doubled).
const SHARDS: usize = 64;

/// What the store holds of one call.
#[derive(Debug, Clone)]
pub(super) struct LiveCall {
    /// The session as last committed (sensitive values masked); `None` for a call whose
    /// session is gone (expired) or was never kept, though its answers were.
    pub session: Option<Arc<CallSession>>,
    /// The session's `seq`: what the call's next commit must start from.
    pub seq: Option<u32>,
    /// The newest log row of the call (the first link of its chain), if it has one.
    pub log_id: Option<i64>,
    /// The requests answered, as (hash of the fingerprint, log row holding the answer).
    pub replies: Vec<(u64, i64)>,
    /// When the call last changed, in seconds of the store's clock ([`LiveCalls::now`]).
    pub touched: u32,
    /// The call's start as its row in the database holds it (each event row keeps it);
    /// `None` when not known.
    pub started_at: Option<Arc<str>>,
}

impl LiveCall {
    /// The log rows that may hold the answer to `fingerprint`, newest first (a hash
    /// matched: the row's own fingerprint says).
    pub fn reply_rows(&self, fingerprint: &str) -> impl Iterator<Item = i64> + '_ {
        let hash = fingerprint_hash(fingerprint);
        self.replies
            .iter()
            .rev()
            .filter(move |(h, _)| *h == hash)
            .map(|(_, row)| *row)
    }

    /// Where the answer to `fingerprint` was kept, as far as this call knows.
    pub fn reply(&self, fingerprint: &str) -> ReplyLookup {
        self.reply_rows(fingerprint)
            .next()
            .map_or(ReplyLookup::None, ReplyLookup::Row)
    }
}

/// What memory says about a request's earlier answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplyLookup {
    /// The call is not held: only the database can tell.
    NotHeld,
    /// The call is held and this request was never answered.
    None,
    /// Answered before; the answer is in this log row (whose fingerprint must be compared:
    /// two fingerprints may share a hash).
    Row(i64),
}

/// One shard of [`LiveCalls`].
type Shard = Mutex<FxHashMap<Box<str>, LiveCall>>;

/// Calls held in memory, by CallSid.
pub(super) struct LiveCalls {
    shards: Box<[Shard]>,
    started: std::time::Instant,
}

impl Default for LiveCalls {
    fn default() -> LiveCalls {
        LiveCalls {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            started: std::time::Instant::now(),
        }
    }
}

/// The hash a fingerprint is kept as.
pub(super) fn fingerprint_hash(fingerprint: &str) -> u64 {
    FxBuildHasher.hash_one(fingerprint)
}

impl LiveCalls {
    fn shard(&self, call_sid: &str) -> MutexGuard<'_, FxHashMap<Box<str>, LiveCall>> {
        let mut h = rustc_hash::FxHasher::default();
        call_sid.hash(&mut h);
        // The low bits pick the map's bucket too; the high ones spread the shards.
        let i = (h.finish() >> 58) as usize % SHARDS;
        // A panic while holding a shard leaves a map that is still whole.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds since the store started: how [`LiveCall::touched`] is told.
    pub fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// The held session of a call.
    pub fn session(&self, call_sid: &str) -> Option<Arc<CallSession>> {
        self.shard(call_sid)
            .get(call_sid)
            .and_then(|c| c.session.clone())
    }

    /// Whether the call is held.
    #[cfg(test)]
    pub fn holds(&self, call_sid: &str) -> bool {
        self.shard(call_sid).contains_key(call_sid)
    }

    /// Where the answer to `fingerprint` was kept, as far as memory knows.
    pub fn reply(&self, call_sid: &str, fingerprint: &str) -> ReplyLookup {
        self.shard(call_sid)
            .get(call_sid)
            .map_or(ReplyLookup::NotHeld, |call| call.reply(fingerprint))
    }

    /// A copy of what is held of a call.
    pub fn get(&self, call_sid: &str) -> Option<LiveCall> {
        self.shard(call_sid).get(call_sid).cloned()
    }

    /// Holds `call` (replacing what was held).
    pub fn put(&self, call_sid: &str, call: LiveCall) {
        self.shard(call_sid).insert(call_sid.into(), call);
    }

    /// Holds `call` unless the call is held already.
    pub fn put_if_absent(&self, call_sid: &str, call: LiveCall) {
        self.shard(call_sid).entry(call_sid.into()).or_insert(call);
    }

    /// Forgets a call (the database still has it).
    pub fn forget(&self, call_sid: &str) {
        self.shard(call_sid).remove(call_sid);
    }

    /// Forgets every call.
    pub fn clear(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Forgets the calls untouched since `before` (seconds of [`LiveCalls::now`]); returns
    /// how many.
    pub fn forget_untouched_since(&self, before: u32) -> usize {
        let mut n = 0;
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            let held = map.len();
            map.retain(|_, call| call.touched >= before);
            n += held - map.len();
        }
        n
    }

    /// How many calls are held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallState;

    fn call(sid: &str, seq: u32) -> LiveCall {
        LiveCall {
            touched: seq,
            session: Some(Arc::new(CallSession {
                call_sid: sid.into(),
                flow: "f".into(),
                version: "v".into(),
                caller: String::new(),
                called: String::new(),
                language: "en".into(),
                vars: Default::default(),
                sensitive: vec![],
                menu_stack: vec![],
                state: CallState::Starting,
                steps: 0,
                started_at: chrono::DateTime::UNIX_EPOCH,
                seq,
                pressed_leave_key: false,
            })),
            seq: Some(seq),
            log_id: Some(i64::from(seq)),
            replies: vec![
                (fingerprint_hash("fp-a"), 10),
                (fingerprint_hash("fp-b"), 11),
            ],
            started_at: None,
        }
    }

    #[test]
    fn replies_are_found_by_fingerprint_and_unknown_calls_are_not_held() {
        let live = LiveCalls::default();
        assert_eq!(live.reply("CA1", "fp-a"), ReplyLookup::NotHeld);
        live.put("CA1", call("CA1", 3));
        assert_eq!(live.reply("CA1", "fp-a"), ReplyLookup::Row(10));
        assert_eq!(live.reply("CA1", "fp-b"), ReplyLookup::Row(11));
        assert_eq!(live.reply("CA1", "fp-c"), ReplyLookup::None);
        assert_eq!(live.session("CA1").map(|s| s.seq), Some(3));
    }

    #[test]
    fn put_if_absent_keeps_what_is_held() {
        let live = LiveCalls::default();
        live.put("CA1", call("CA1", 5));
        live.put_if_absent("CA1", call("CA1", 2));
        assert_eq!(live.get("CA1").and_then(|c| c.seq), Some(5));
        for i in 0..1000 {
            live.put(&format!("CA{i:04}"), call("x", i));
        }
        assert_eq!(live.len(), 1001);
        live.forget("CA1");
        assert_eq!(live.len(), 1000);
        // `touched` is the seq here: calls 0..500 were untouched since 500.
        assert_eq!(live.forget_untouched_since(500), 500);
        assert_eq!(live.len(), 500);
        live.clear();
        assert_eq!(live.len(), 0);
        assert!(!live.holds("CA1"));
    }
}
