//! The calls a SQLite store holds in memory: each call's latest committed session and
//! which of its requests were answered, so that a webhook reads neither from the
//! database. Only the store's writer thread changes it, after the rows it describes are
//! committed; webhooks read it.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::{FxBuildHasher, FxHashMap};

use chrono::{DateTime, Utc};

use super::StoreError;
use super::rows::{parse_ts_millis, ts};
use crate::call::CallSession;

/// Shards of the map: a webhook locks one, and a shard grows in small steps (one map
/// under one lock stalled every webhook while it doubled).
const SHARDS: usize = 64;

/// What the store holds of one call.
#[derive(Debug, Clone)]
pub(super) struct LiveCall {
    /// The session as last committed (sensitive values masked); `None` for a call whose
    /// session is gone (expired) or was never kept, though its answers were.
    pub session: Option<HeldSession>,
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
    pub started_at: Option<CallStart>,
}

/// A held call's session as the JSON its log row holds: one allocation where a
/// [`CallSession`] takes a dozen (which, spread over the allocator's pages between
/// short-lived ones, cost a held call about twice their size), read back when a webhook
/// asks for it. Copies share the text.
#[derive(Debug, Clone)]
pub(super) struct HeldSession {
    /// The JSON, then the session's flow, version and language, one after the other.
    text: Arc<str>,
    /// Where the flow, the version and the language start in `text`.
    flow_at: u32,
    version_at: u32,
    language_at: u32,
    closed: bool,
}

impl HeldSession {
    /// Holds `session`, whose JSON (as [`serde_json::to_string`] wrote it) is `json`.
    pub fn new(mut json: String, session: &CallSession) -> HeldSession {
        let at = |text: &String| u32::try_from(text.len()).unwrap_or(u32::MAX);
        let flow_at = at(&json);
        json.push_str(&session.flow);
        let version_at = at(&json);
        json.push_str(&session.version);
        let language_at = at(&json);
        json.push_str(&session.language);
        HeldSession {
            text: json.into(),
            flow_at,
            version_at,
            language_at,
            closed: session.is_closed(),
        }
    }

    /// The session.
    pub fn session(&self) -> Result<CallSession, StoreError> {
        let json = self.text.get(..self.flow_at as usize).unwrap_or("");
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("a held session: {e}")))
    }

    /// Whether the session is closed (the call's record is complete).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether `other` is on the same flow, version and language.
    pub fn same_place(&self, other: &CallSession) -> bool {
        let (f, v, l) = (
            self.flow_at as usize,
            self.version_at as usize,
            self.language_at as usize,
        );
        self.text.get(f..v) == Some(other.flow.as_str())
            && self.text.get(v..l) == Some(other.version.as_str())
            && self.text.get(l..) == Some(other.language.as_str())
    }
}

/// A call's start as its row in the database holds it, which each of its event rows
/// repeats. The store's own form is kept as the instant it names, so a held call costs no
/// allocation for it; any other text (a row written by an older release) as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CallStart {
    /// Text that [`ts`] writes for this instant.
    Instant(DateTime<Utc>),
    /// Any other text.
    Text(Arc<str>),
}

impl CallStart {
    /// The start a row holds as `text`.
    pub fn of_row(text: &str) -> CallStart {
        // That parser takes exactly the form `ts` writes, so the text need not be written
        // again to be compared.
        match parse_ts_millis(text.as_bytes()) {
            Some(t) => CallStart::Instant(t),
            None => CallStart::Text(text.into()),
        }
    }

    /// The text the row holds.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            CallStart::Instant(t) => Cow::Owned(ts(*t)),
            CallStart::Text(text) => Cow::Borrowed(text),
        }
    }
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

/// A held call's CallSid as a map key: Twilio's form (`CA` and 32 lowercase hexadecimal
/// digits) as the number it spells, so that a key needs no allocation of its own and is
/// compared without following a pointer; any other id as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SidKey {
    /// `CA` followed by these 128 bits in lowercase hexadecimal.
    Twilio(u128),
    /// Any other id.
    Text(Box<str>),
}

impl SidKey {
    fn of(call_sid: &str) -> SidKey {
        let hex = call_sid
            .strip_prefix("CA")
            .filter(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        match hex.and_then(|h| u128::from_str_radix(h, 16).ok()) {
            Some(n) => SidKey::Twilio(n),
            None => SidKey::Text(call_sid.into()),
        }
    }
}

/// One shard of [`LiveCalls`].
type Shard = Mutex<FxHashMap<SidKey, LiveCall>>;

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
    /// The shard of `key`, locked.
    fn shard(&self, key: &SidKey) -> MutexGuard<'_, FxHashMap<SidKey, LiveCall>> {
        let mut h = rustc_hash::FxHasher::default();
        key.hash(&mut h);
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
    pub fn session(&self, call_sid: &str) -> Option<HeldSession> {
        let key = SidKey::of(call_sid);
        self.shard(&key).get(&key).and_then(|c| c.session.clone())
    }

    /// Whether the call is held.
    #[cfg(test)]
    pub fn holds(&self, call_sid: &str) -> bool {
        let key = SidKey::of(call_sid);
        self.shard(&key).contains_key(&key)
    }

    /// Where the answer to `fingerprint` was kept, as far as memory knows.
    pub fn reply(&self, call_sid: &str, fingerprint: &str) -> ReplyLookup {
        let key = SidKey::of(call_sid);
        self.shard(&key)
            .get(&key)
            .map_or(ReplyLookup::NotHeld, |call| call.reply(fingerprint))
    }

    /// A copy of what is held of a call.
    pub fn get(&self, call_sid: &str) -> Option<LiveCall> {
        let key = SidKey::of(call_sid);
        self.shard(&key).get(&key).cloned()
    }

    /// Holds `call` (replacing what was held).
    pub fn put(&self, call_sid: &str, call: LiveCall) {
        let key = SidKey::of(call_sid);
        self.shard(&key).insert(key, call);
    }

    /// Holds `call` unless the call is held already.
    pub fn put_if_absent(&self, call_sid: &str, call: LiveCall) {
        let key = SidKey::of(call_sid);
        self.shard(&key).entry(key).or_insert(call);
    }

    /// Forgets a call (the database still has it).
    pub fn forget(&self, call_sid: &str) {
        let key = SidKey::of(call_sid);
        self.shard(&key).remove(&key);
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

    fn session(sid: &str, seq: u32) -> CallSession {
        CallSession {
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
        }
    }

    fn held(s: &CallSession) -> HeldSession {
        HeldSession::new(serde_json::to_string(s).unwrap(), s)
    }

    fn call(sid: &str, seq: u32) -> LiveCall {
        LiveCall {
            touched: seq,
            session: Some(held(&session(sid, seq))),
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
        assert_eq!(
            live.session("CA1").map(|s| s.session().unwrap().seq),
            Some(3)
        );
    }

    #[test]
    fn a_start_in_the_stores_form_is_kept_as_its_instant_and_any_other_as_text() {
        let ours = CallStart::of_row("2026-11-24T15:00:00.123Z");
        assert!(matches!(ours, CallStart::Instant(_)), "{ours:?}");
        assert_eq!(ours.text(), "2026-11-24T15:00:00.123Z");
        // Rows written otherwise keep their text exactly: events are found by it.
        for other in [
            "2026-11-24T15:00:00.123456789Z",
            "2026-11-24T15:00:00Z",
            "2026-11-24T10:00:00.123-05:00",
            "",
            "yesterday",
        ] {
            let kept = CallStart::of_row(other);
            assert!(matches!(kept, CallStart::Text(_)), "{other}: {kept:?}");
            assert_eq!(kept.text(), other);
        }
    }

    #[test]
    fn twilio_call_sids_are_keys_by_number_and_other_ids_by_text() {
        let twilio = "CA0123456789abcdef0123456789abcdef";
        assert_eq!(
            SidKey::of(twilio),
            SidKey::Twilio(0x0123456789abcdef0123456789abcdef)
        );
        // Upper-case digits spell the same number: the id stays text, so the two stay apart.
        let upper = "CA0123456789ABCDEF0123456789ABCDEF";
        for other in [
            upper,
            "CA1",
            "CA0123456789abcdef0123456789abcdef0",
            "XX0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(SidKey::of(other), SidKey::Text(other.into()));
        }
        let live = LiveCalls::default();
        live.put(twilio, call(twilio, 1));
        live.put(upper, call(upper, 2));
        assert_eq!(live.get(twilio).and_then(|c| c.seq), Some(1));
        assert_eq!(live.get(upper).and_then(|c| c.seq), Some(2));
        live.forget(twilio);
        assert!(!live.holds(twilio) && live.holds(upper));
    }

    #[test]
    fn a_held_session_reads_back_whole_and_knows_its_place() {
        let mut s = session("CA1", 4);
        s.vars.insert("balance".into(), serde_json::json!(12.5));
        let h = held(&s);
        assert_eq!(h.session().unwrap(), s);
        assert!(!h.is_closed());
        assert!(h.same_place(&s));
        for (flow, version, language) in [("fv", "", "en"), ("f", "ven", ""), ("f", "v", "es")] {
            let mut other = s.clone();
            (other.flow, other.version, other.language) =
                (flow.into(), version.into(), language.into());
            assert!(!h.same_place(&other), "{flow} {version} {language}");
        }
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
