//! The call state machine: one pure function, [`step`], that takes a compiled
//! flow, a call's session and what just happened, and returns what to tell the
//! provider, the session after it, and the events to log.
//!
//! No I/O, no clock, no tokio: time is passed in, lookups are returned as a
//! request for the caller of `step` to perform. The server, `simulate` and
//! `phonetree test` all drive this one function.

mod closures;
mod event;
mod keys;
mod session;
mod speech;
mod step;
mod vars;
mod walk;

pub use closures::{Closures, FlowClosure};
pub use event::{
    CallEvent, CallStatus, DialStatus, EventKind, EventValue, LogEvent, LookupOutcome, Outcome,
    QueueResult, QueueWait,
};
pub use session::{At, CallSession, CallState};
pub use step::{LookupRequest, Step, start_call, step, step_with};
pub use vars::{URL_COMPONENT, UnsafeUrlValue, lookup_var, render_template, render_url_template};

/// What phonetree asks the provider to do, independent of TwiML.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// Speak text.
    Say {
        /// The text, placeholders filled in.
        text: String,
        /// Provider language attribute (`en-US`).
        locale: Option<String>,
        /// Provider voice (`Polly.Joanna`).
        voice: Option<String>,
    },
    /// Play a recording from `prompts/`.
    Play {
        /// Path relative to `prompts/`.
        file: String,
        /// How long it plays.
        duration: std::time::Duration,
    },
    /// Silence.
    Pause {
        /// Whole seconds (at least 1).
        seconds: u32,
    },
    /// Wait for keys while playing `prompt` (barge-in allowed).
    Gather {
        /// Say/Play/Pause verbs played while waiting.
        prompt: Vec<Verb>,
        /// Stop after this many keys.
        num_digits: Option<u32>,
        /// Key that ends entry early.
        finish_on_key: Option<char>,
        /// Seconds to wait after the prompt.
        timeout_secs: u32,
        /// Where the keys are sent.
        action: Continuation,
    },
    /// Continue at another phonetree URL (the silence path after a Gather).
    Redirect(Continuation),
    /// Connect the caller.
    Dial {
        /// Who.
        target: crate::flow::DialTarget,
        /// Keys sent once a number answers (`sendDigits`).
        send_digits: Option<String>,
        /// Caller id shown.
        caller_id: Option<String>,
        /// Ring seconds.
        timeout_secs: u32,
        /// Where the dial result is sent.
        action: Continuation,
    },
    /// Put the caller in a queue.
    Enqueue {
        /// Queue name.
        name: String,
        /// Hold music URL, fetched while waiting (provider default when `None`).
        wait: Option<Continuation>,
        /// Where the caller goes after leaving the queue.
        action: Continuation,
    },
    /// Record a message after a beep.
    Record {
        /// Longest recording, seconds.
        max_length_secs: u32,
        /// Key that ends recording.
        finish_on_key: Option<char>,
        /// Where the recording result is sent.
        action: Continuation,
    },
    /// Take the caller out of the queue they wait in (hold music only): the queue's action follows.
    Leave,
    /// End the call.
    Hangup,
}

impl Verb {
    /// True for the verbs a hold-music (`waitUrl`) answer may hold: Play, Say, Pause, Redirect,
    /// Leave, Hangup and Gather.
    pub fn allowed_while_waiting(&self) -> bool {
        !matches!(
            self,
            Verb::Dial { .. } | Verb::Enqueue { .. } | Verb::Record { .. }
        )
    }
}

/// A phonetree URL the provider calls back: the flow version, node and attempt travel in it,
/// so a retried request gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// What the request reports.
    pub resume: Resume,
    /// Flow id.
    pub flow: String,
    /// Flow set version the call runs on.
    pub version: String,
    /// Node name.
    pub node: String,
    /// Attempt number at that node (1-based).
    pub attempt: u32,
    /// Which wait of the call this is (the call's event count when it was asked), so a
    /// second visit to the same menu is a new request and a late one is recognised.
    pub visit: u32,
}

/// Why a continuation URL's query does not name a place in a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContinuationError {
    /// A field is missing.
    #[error("continuation without `{0}`")]
    Missing(&'static str),
    /// A number field is not a number.
    #[error("continuation `{0}` is not a number")]
    NotANumber(&'static str),
}

impl Continuation {
    /// The URL query phonetree writes for this continuation: `flow=..&v=..&node=..&attempt=..&s=..`.
    pub fn to_query(&self) -> String {
        let mut query = String::with_capacity(64);
        self.write_query(&mut query);
        query
    }

    /// Appends [`Continuation::to_query`]'s text to `out`.
    pub fn write_query(&self, out: &mut String) {
        let start = out.len();
        let (mut attempt, mut visit) = (itoa::Buffer::new(), itoa::Buffer::new());
        form_urlencoded::Serializer::for_suffix(out, start)
            .append_pair("flow", &self.flow)
            .append_pair("v", &self.version)
            .append_pair("node", &self.node)
            .append_pair("attempt", attempt.format(self.attempt))
            .append_pair("s", visit.format(self.visit));
    }

    /// Reads back a query written by [`Continuation::to_query`] for a callback of kind `resume`.
    pub fn from_query(resume: Resume, query: &str) -> Result<Continuation, ContinuationError> {
        let (mut flow, mut version, mut node, mut attempt, mut visit) =
            (None, None, None, None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "flow" => &mut flow,
                "v" => &mut version,
                "node" => &mut node,
                "attempt" => &mut attempt,
                "s" => &mut visit,
                _ => continue,
            };
            // The first value wins, as in every other reader of these URLs.
            slot.get_or_insert(v.into_owned());
        }
        let number = |v: Option<String>, name: &'static str| {
            v.ok_or(ContinuationError::Missing(name))?
                .parse::<u32>()
                .map_err(|_| ContinuationError::NotANumber(name))
        };
        Ok(Continuation {
            resume,
            flow: flow.ok_or(ContinuationError::Missing("flow"))?,
            version: version.ok_or(ContinuationError::Missing("v"))?,
            node: node.ok_or(ContinuationError::Missing("node"))?,
            attempt: number(attempt, "attempt")?,
            visit: number(visit, "s")?,
        })
    }
}

/// The kind of callback a continuation URL receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resume {
    /// `<Gather action>`: keys pressed.
    Gather,
    /// `<Redirect>` after a Gather: silence.
    Silence,
    /// `<Dial action>`: dial result.
    Dial,
    /// `<Record action>`: recording done.
    Record,
    /// `<Enqueue action>`: left the queue.
    Queue,
    /// `<Enqueue waitUrl>`: hold music.
    Hold,
    /// The `<Gather action>` of a hold answer: keys pressed while waiting.
    HoldKey,
}

impl Resume {
    /// The URL path segment (`/twilio/<segment>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Resume::Gather => "gather",
            Resume::Silence => "silence",
            Resume::Dial => "dial",
            Resume::Record => "record",
            Resume::Queue => "queue",
            Resume::Hold => "hold",
            Resume::HoldKey => "hold-key",
        }
    }

    /// Parses a URL path segment.
    pub fn parse(s: &str) -> Option<Resume> {
        [
            Resume::Gather,
            Resume::Silence,
            Resume::Dial,
            Resume::Record,
            Resume::Queue,
            Resume::Hold,
            Resume::HoldKey,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_query_round_trips() {
        let c = Continuation {
            resume: Resume::Gather,
            flow: "acme support".into(),
            version: "3f2a".into(),
            node: "main_menu&x=1".into(),
            attempt: 2,
            visit: 17,
        };
        let q = c.to_query();
        assert_eq!(
            q,
            "flow=acme+support&v=3f2a&node=main_menu%26x%3D1&attempt=2&s=17"
        );
        assert_eq!(Continuation::from_query(Resume::Gather, &q), Ok(c));
    }

    proptest::proptest! {
        /// Whatever the names hold, the query reads back as written; any query at all reads
        /// back as a continuation or an error, never a panic.
        #[test]
        fn continuation_queries_round_trip(
            flow in ".*", version in ".*", node in ".*", attempt: u32, visit: u32, junk in ".*",
        ) {
            let c = Continuation { resume: Resume::Silence, flow, version, node, attempt, visit };
            proptest::prop_assert_eq!(Continuation::from_query(Resume::Silence, &c.to_query()), Ok(c));
            let _ = Continuation::from_query(Resume::Gather, &junk);
        }
    }

    #[test]
    fn a_broken_continuation_query_says_what_is_wrong() {
        assert_eq!(
            Continuation::from_query(Resume::Dial, "flow=a&v=1&attempt=1&s=1"),
            Err(ContinuationError::Missing("node"))
        );
        assert_eq!(
            Continuation::from_query(Resume::Dial, "flow=a&v=1&node=n&attempt=x&s=1"),
            Err(ContinuationError::NotANumber("attempt"))
        );
        let first =
            Continuation::from_query(Resume::Dial, "flow=a&v=1&node=n&node=m&attempt=1&s=1");
        assert_eq!(first.map(|c| c.node), Ok("n".to_owned()));
    }
}
