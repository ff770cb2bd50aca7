//! Analytics over the call log: what `phonetree report` prints (text, JSON, HTML), one
//! call's journey (`phonetree trace`, [`trace`]) and the log as rows for other tools
//! (`phonetree export`, [`export`]).
//!
//! A report is built in one pass over the store's range reads ([`Store::calls_in`] and
//! [`Store::events_in`], both in call order): each call's events are folded into running
//! totals and dropped, so memory grows with the number of distinct nodes, paths and
//! answers, and with one duration per call and per node visit (for medians), not with
//! the log.
//!
//! [`Store::calls_in`]: crate::store::Store::calls_in
//! [`Store::events_in`]: crate::store::Store::events_in

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod aggregate;
mod catalog;
pub mod export;
mod flow_svg;
mod html;
mod layout;
pub mod trace;

pub use aggregate::{MAX_ANSWER_VALUES, ReportBuilder, TOP_PATHS, build_report};
pub use catalog::FlowCatalog;
pub use export::{ExportError, ExportFormat, Exported, export_events};
pub use html::render_html;
pub use trace::{Trace, TraceError, build_trace};

/// The figures of `phonetree report`. Field names are stable: the JSON report is this
/// struct, documented in the README.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was reported on.
    pub range: ReportRange,
    /// Calls that started in the range.
    pub calls: u64,
    /// Calls by the UTC day they started (`YYYY-MM-DD`).
    pub calls_per_day: BTreeMap<String, u64>,
    /// Calls by how they ended, all six names always present.
    pub outcomes: Outcomes,
    /// Each outcome's share of `calls`.
    pub outcome_rates: OutcomeRates,
    /// Calls not ended yet (no outcome).
    pub in_progress: u64,
    /// Share of calls the flow finished itself (`self_service` / `calls`).
    pub containment_rate: f64,
    /// Share of calls that pressed a key leading straight to a transfer: a menu's operator
    /// option or a global key.
    pub zero_out_rate: f64,
    /// Calls that zeroed out.
    pub zero_outs: u64,
    /// Per node, by node id (`flow/node` when the report spans several flows).
    pub nodes: BTreeMap<String, NodeFigures>,
    /// How often callers went from one node to the next (`from` is `call` for the start),
    /// busiest first: the traffic on the flow's edges.
    pub transitions: Vec<Transition>,
    /// The most common paths, most calls first.
    pub paths: Vec<PathCount>,
    /// Answers stored by menus and inputs that are not sensitive: variable -> value -> times
    /// (variables with more than 100 distinct values are identifiers and left out).
    pub answers: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per answered variable: responses, mean of numeric answers, NPS when marked so.
    pub answer_stats: BTreeMap<String, AnswerStats>,
    /// Seconds from a call's start to its hand-off to a person (transfer or queue) or its end.
    pub ivr_seconds: Spread,
    /// Where a flow has an A/B split: split node -> way (its target) -> the same figures
    /// over the calls the split sent that way (their own `variants` empty).
    pub variants: BTreeMap<String, BTreeMap<String, Report>>,
    /// The flow set version of the latest call in the range (its `flow_version`): the
    /// newest set the calls ran on; `None` without calls.
    #[serde(default)]
    pub newest_version: Option<String>,
    /// Flows an admin has closed (`phonetree close`) at the time of the report.
    #[serde(default)]
    pub closed: Vec<crate::call::FlowClosure>,
    /// Flow versions whose definitions could not be had (their figures that need the flow,
    /// such as zero-outs and node kinds, are missing).
    pub warnings: Vec<String>,
}

/// The range a report covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRange {
    /// The flow, or `None` for every flow.
    pub flow: Option<String>,
    /// Earliest call start, included.
    pub since: DateTime<Utc>,
    /// Latest call start, excluded.
    pub until: DateTime<Utc>,
}

/// Calls per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    /// The flow finished the call itself.
    pub self_service: u64,
    /// Connected to a person.
    pub transferred: u64,
    /// Put in a queue.
    pub queued: u64,
    /// Left a voicemail.
    pub voicemail: u64,
    /// The flow gave up.
    pub failed: u64,
    /// The caller hung up in the IVR.
    pub abandoned: u64,
}

/// Each outcome's share of all calls, 0 to 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRates {
    /// See [`Outcomes::self_service`].
    pub self_service: f64,
    /// See [`Outcomes::transferred`].
    pub transferred: f64,
    /// See [`Outcomes::queued`].
    pub queued: f64,
    /// See [`Outcomes::voicemail`].
    pub voicemail: f64,
    /// See [`Outcomes::failed`].
    pub failed: f64,
    /// See [`Outcomes::abandoned`].
    pub abandoned: f64,
}

/// What happened at one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFigures {
    /// The flow the node belongs to.
    pub flow: String,
    /// Its kind (`menu`, `input`, ...), when the flow version is known.
    pub kind: Option<String>,
    /// Times callers entered it.
    pub entered: u64,
    /// Menu options pressed: key -> times.
    pub keys: BTreeMap<String, u64>,
    /// Keys or entries not accepted.
    pub invalid: u64,
    /// Times the caller said nothing.
    pub no_input: u64,
    /// `invalid` per entry.
    pub invalid_rate: f64,
    /// `no_input` per entry.
    pub no_input_rate: f64,
    /// Times retries ran out here.
    pub retries_exhausted: u64,
    /// Callers who hung up while in it.
    pub abandoned: u64,
    /// `abandoned` per entry.
    pub abandoned_rate: f64,
    /// Median seconds a visit lasted (to the next node or the call's end).
    pub median_seconds: f64,
}

/// A path through the flow and how many calls took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathCount {
    /// Node ids in order, each key pressed between them: `language -1-> main_menu -> operator`.
    pub path: String,
    /// Calls that took exactly this path.
    pub calls: u64,
}

/// Callers moving from one node to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The node left (keyed as in [`Report::nodes`]), or `call` for the call's start.
    pub from: String,
    /// The node entered.
    pub to: String,
    /// Times.
    pub count: u64,
}

/// Figures over one answered variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerStats {
    /// Answers recorded (a call answering twice counts twice).
    pub responses: u64,
    /// More distinct values than [`MAX_ANSWER_VALUES`](MAX_ANSWER_VALUES): an
    /// identifier such as an account number, so [`Report::answers`] leaves it out.
    pub too_many_values: bool,
    /// Mean of the answers that are numbers; `None` when none is.
    pub mean: Option<f64>,
    /// Net Promoter Score figures, for a variable marked `scale: nps`.
    pub nps: Option<Nps>,
}

/// Net Promoter Score: promoters answer 9-10, passives 7-8, detractors 0-6.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nps {
    /// Answers 9 or 10.
    pub promoters: u64,
    /// Answers 7 or 8.
    pub passives: u64,
    /// Answers 0 to 6.
    pub detractors: u64,
    /// Percent promoters minus percent detractors, -100 to 100.
    pub score: f64,
}

/// Median and 90th percentile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median (the mean of the two middle values when their number is even).
    pub median: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
}
