//! The call state machine: one pure function, [`step`], that takes a compiled
//! flow, a call's session and what just happened, and returns what to tell the
//! provider, the session after it, and the events to log.
//!
//! No I/O, no clock, no tokio: time is passed in, lookups are returned as a
//! request for the caller of `step` to perform. The server, `simulate` and
//! `phonetree test` all drive this one function.

mod event;
mod keys;
mod session;
mod step;
mod vars;
mod walk;

pub use event::{CallEvent, CallStatus, DialStatus, EventKind, LogEvent, LookupOutcome, Outcome};
pub use session::{At, CallSession};
pub use step::{LookupRequest, Step, start_call, step};
pub use vars::{lookup_var, render_template};

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
    /// End the call.
    Hangup,
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
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}
