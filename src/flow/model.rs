//! The compiled flow: proof that a flow file is valid.
//!
//! Node ids are resolved to [`NodeId`] indices, prompts are resolved per language,
//! defaults are applied. Later code (the call state machine, renderers, tools)
//! never re-checks what the compiler proved.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::flow::hours::Schedule;

/// Index of a node inside its [`Flow`]; only the compiler makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The index into [`Flow::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of a language inside [`Flow::languages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LangIdx(pub(crate) u16);

impl LangIdx {
    /// The flow's default (first) language.
    pub const DEFAULT: LangIdx = LangIdx(0);
    /// The index into [`Flow::languages`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Everything compiled together from one `flows/` and `prompts/` pair.
#[derive(Debug)]
pub struct FlowSet {
    /// Content hash of every source file and recording (first 12 hex digits of SHA-256).
    pub version: String,
    /// The flows by id, in file order.
    pub flows: IndexMap<String, Arc<Flow>>,
    /// The `To` number to flow id.
    pub numbers: BTreeMap<String, String>,
    /// The flow that takes calls no number claims.
    pub default_flow: Option<String>,
    /// Where recordings live; `<Play>` URLs are paths relative to it.
    pub prompts_dir: PathBuf,
    /// The files the set was compiled from, as hashed into `version`.
    pub sources: crate::flow::sources::FlowSources,
}

impl FlowSet {
    /// The flow with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Flow>> {
        self.flows.get(id)
    }

    /// The flow a call to `to` is routed to: by number, else the default flow, else the only flow.
    pub fn route(&self, to: &str) -> Option<&Arc<Flow>> {
        if let Some(id) = self.numbers.get(to) {
            return self.flows.get(id);
        }
        self.default_flow
            .as_deref()
            .and_then(|id| self.flows.get(id))
            .or_else(|| {
                (self.flows.len() == 1)
                    .then(|| self.flows.values().next())
                    .flatten()
            })
    }
}

/// One compiled call flow.
#[derive(Debug)]
pub struct Flow {
    /// Flow id (file stem unless `flow:` says otherwise).
    pub id: String,
    /// Source file.
    pub source: PathBuf,
    /// Numbers routed here.
    pub numbers: Vec<String>,
    /// Takes calls no number claims.
    pub is_default: bool,
    /// Languages; index 0 is the default.
    pub languages: Vec<Language>,
    /// The start node.
    pub start: NodeId,
    /// Nodes in file order.
    pub nodes: Vec<Node>,
    /// Node budget of one call (loop guard).
    pub max_steps: u32,
    /// Where a call goes when the flow fails it (step budget spent, internal fault).
    pub on_fail: Target,
    /// Said before `on_fail` after an internal fault, in the caller's language.
    pub apology: Prompt,
    /// What `phonetree close --message ID` may play while an admin has the flow closed, by id.
    pub closed_messages: Vec<(String, Prompt)>,
}

impl Flow {
    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Finds a node by its name.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(NodeId)
    }

    /// Finds a language by its code.
    pub fn language(&self, code: &str) -> Option<LangIdx> {
        self.languages
            .iter()
            .position(|l| l.code == code)
            .and_then(|i| u16::try_from(i).ok())
            .map(LangIdx)
    }

    /// The language behind an index (the default one if out of range).
    pub fn lang(&self, idx: LangIdx) -> &Language {
        self.languages
            .get(idx.index())
            .unwrap_or(&self.languages[0])
    }
}

/// A language a flow speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    /// Code as written (`en`, `fa`).
    pub code: String,
    /// TwiML `language` attribute (`en-US`): as configured, else the language's usual
    /// locale ([`crate::flow::voices::default_locale`]); `None` when neither is known.
    pub locale: Option<String>,
    /// TwiML `voice` attribute (`Polly.Joanna`): as configured, else the default voice of
    /// the locale; `None` when no Twilio voice speaks it.
    pub voice: Option<String>,
    /// Recordings that read `{var|digits}`, `{var|number}` and `{var|amount}` in this
    /// language instead of text to speech.
    pub readings: Readings,
}

/// A recording and how long it plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Path relative to `prompts/`, with `/` separators.
    pub file: String,
    /// Its duration.
    pub duration: Duration,
}

/// The recordings a language reads values from, when it has them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Readings {
    /// `prompts/<lang>/digits/0.wav` to `9.wav`, by digit.
    pub digits: Option<Vec<Recorded>>,
    /// `prompts/<lang>/numbers/`: the fragments numbers (and amounts) are composed of.
    pub numbers: Option<NumberFragments>,
}

/// A language's number fragments and the rules that compose them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFragments {
    /// The language's rules.
    pub rules: crate::flow::numbers::NumberRules,
    /// Each fragment by name (`20`, `and`, `thousand`).
    pub files: BTreeMap<String, Recorded>,
}

impl Readings {
    /// True when a value read this way plays from recordings in this language.
    pub fn records(&self, reading: Reading) -> bool {
        match reading {
            Reading::Plain => false,
            Reading::Digits => self.digits.is_some(),
            Reading::Number | Reading::Amount => self.numbers.as_ref().is_some_and(|n| {
                reading == Reading::Number
                    || n.rules
                        .amount_fragments()
                        .iter()
                        .all(|f| n.files.contains_key(f))
            }),
        }
    }
}

/// A compiled node.
#[derive(Debug)]
pub struct Node {
    /// Node id as written.
    pub name: String,
    /// What it does.
    pub kind: NodeKind,
}

/// What a node does, with only the data valid for its kind.
#[derive(Debug)]
pub enum NodeKind {
    /// Gather one key and route by it.
    Menu(MenuNode),
    /// Gather several digits into a variable.
    Input(InputNode),
    /// Play and move on.
    Message(MessageNode),
    /// Dial out.
    Transfer(TransferNode),
    /// Enqueue.
    Queue(QueueNode),
    /// Record.
    Voicemail(VoicemailNode),
    /// Route without asking.
    Branch(BranchNode),
    /// Send each caller one way by weight, the same way every time.
    Split(SplitNode),
    /// Set variables.
    Set(SetNode),
    /// Ask an HTTP service.
    Lookup(LookupNode),
    /// Goodbye.
    Hangup(HangupNode),
}

impl NodeKind {
    /// The kind's name as written in YAML.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Menu(_) => "menu",
            NodeKind::Input(_) => "input",
            NodeKind::Message(_) => "message",
            NodeKind::Transfer(_) => "transfer",
            NodeKind::Queue(_) => "queue",
            NodeKind::Voicemail(_) => "voicemail",
            NodeKind::Branch(_) => "branch",
            NodeKind::Split(_) => "split",
            NodeKind::Set(_) => "set",
            NodeKind::Lookup(_) => "lookup",
            NodeKind::Hangup(_) => "hangup",
        }
    }
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A node of this flow.
    Node(NodeId),
    /// A node of another flow of the same set.
    Flow {
        /// Flow id.
        flow: String,
        /// Node id in that flow.
        node: String,
    },
    /// Play the current menu again.
    Repeat,
    /// The previous menu.
    Back,
    /// The flow's start.
    Start,
    /// End the call.
    Hangup,
}

/// Retry behaviour shared by menus and inputs.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Wait after the prompt.
    pub timeout: Duration,
    /// Re-prompts after the first attempt.
    pub retries: u32,
    /// Played after an invalid entry.
    pub invalid: Option<Prompt>,
    /// Played after silence.
    pub no_input: Option<Prompt>,
    /// Where the caller goes when retries run out.
    pub on_fail: Target,
}

/// A menu option.
#[derive(Debug, Clone)]
pub struct MenuOption {
    /// Key: `0`-`9`, `*` or `#`.
    pub key: char,
    /// Where it leads.
    pub target: Target,
    /// Variables set on the way.
    pub set: Vec<(String, Template)>,
    /// True when inherited from `defaults.options`.
    pub inherited: bool,
}

/// `menu`.
#[derive(Debug)]
pub struct MenuNode {
    /// First prompt.
    pub prompt: Prompt,
    /// One prompt per retry, the last repeating; empty: the first prompt again.
    pub reprompts: Vec<Prompt>,
    /// Options, own first then inherited, each key once.
    pub options: Vec<MenuOption>,
    /// Variable that keeps the key pressed.
    pub store: Option<String>,
    /// Retries.
    pub retry: Retry,
}

impl MenuNode {
    /// The option for a key.
    pub fn option(&self, key: char) -> Option<&MenuOption> {
        self.options.iter().find(|o| o.key == key)
    }

    /// The prompt of attempt `attempt` (1-based).
    pub fn prompt_for(&self, attempt: u32) -> &Prompt {
        prompt_for(&self.prompt, &self.reprompts, attempt)
    }
}

/// Attempt 1 hears `prompt`; retry n hears the n-th reprompt, the last one repeating.
fn prompt_for<'p>(prompt: &'p Prompt, reprompts: &'p [Prompt], attempt: u32) -> &'p Prompt {
    if attempt <= 1 {
        return prompt;
    }
    let retry = usize::try_from(attempt - 2).unwrap_or(usize::MAX);
    reprompts
        .get(retry)
        .or_else(|| reprompts.last())
        .unwrap_or(prompt)
}

/// How many digits an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitCount {
    /// Fewest.
    pub min: u32,
    /// Most.
    pub max: u32,
}

/// `input`.
#[derive(Debug)]
pub struct InputNode {
    /// Prompt.
    pub prompt: Prompt,
    /// One prompt per retry, the last repeating; empty: the first prompt again.
    pub reprompts: Vec<Prompt>,
    /// Variable that receives the digits.
    pub store: String,
    /// Digit count.
    pub digits: DigitCount,
    /// Key that ends entry.
    pub finish_on: Option<char>,
    /// Luhn check.
    pub luhn: bool,
    /// Pattern the digits must match.
    pub pattern: Option<regex::Regex>,
    /// Never in clear in logs or store.
    pub sensitive: bool,
    /// The answer is a Net Promoter Score (`scale: nps`): the report scores it.
    pub nps: bool,
    /// Where valid digits lead.
    pub next: Target,
    /// Retries.
    pub retry: Retry,
}

impl InputNode {
    /// The prompt of attempt `attempt` (1-based).
    pub fn prompt_for(&self, attempt: u32) -> &Prompt {
        prompt_for(&self.prompt, &self.reprompts, attempt)
    }
}

/// `message`.
#[derive(Debug)]
pub struct MessageNode {
    /// Prompt.
    pub prompt: Prompt,
    /// Next.
    pub next: Target,
}

/// `transfer`.
#[derive(Debug)]
pub struct TransferNode {
    /// Number, `sip:` or `client:` address, fixed or expanded per call.
    pub to: DialSpec,
    /// Keys dialed once a number answers.
    pub send_digits: Option<Template>,
    /// Caller id.
    pub caller_id: Option<String>,
    /// Ring time.
    pub timeout: Duration,
    /// Played before dialing.
    pub prompt: Option<Prompt>,
    /// After a completed call.
    pub next: Target,
    /// When nobody answers (or the dial is cancelled).
    pub on_no_answer: Target,
    /// When the line is busy.
    pub on_busy: Target,
    /// When the call cannot be placed or `to` expands to nothing dialable.
    pub on_failed: Target,
}

/// What a transfer dials: known when the flow compiles, or a template expanded per call.
#[derive(Debug, Clone, PartialEq)]
pub enum DialSpec {
    /// Always the same.
    Fixed(DialTarget),
    /// Expanded from the call's variables, then checked ([`DialTarget::parse`]).
    Template(Template),
}

impl QueueNode {
    /// True when the caller's wait needs phonetree's hold answer (hold audio, an
    /// announcement, a leave key or a longest wait), not the provider's default music.
    pub fn answers_hold(&self) -> bool {
        self.hold.is_some()
            || self.announce.is_some()
            || self.leave_key.is_some()
            || self.max_wait.is_some()
    }
}

/// The variables an announcement may name, from the provider's hold request.
pub const QUEUE_VARS: [&str; 4] = [
    "queue_position",
    "queue_size",
    "queue_waited",
    "queue_avg_wait",
];

impl std::fmt::Display for DialSpec {
    /// The target, or the template as written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialSpec::Fixed(t) => t.fmt(f),
            DialSpec::Template(t) => f.write_str(&t.source()),
        }
    }
}

/// True for `sendDigits` Twilio accepts: digits, `*`, `#` and `w`, at most 32 of them.
pub fn is_send_digits(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'w'))
}

/// What a transfer dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// E.164 number.
    Number(String),
    /// SIP URI.
    Sip(String),
    /// Client identity (without `client:`).
    Client(String),
}

impl DialTarget {
    /// Reads a dialable address: an E.164 number (`+14155550100`), `sip:user@host[:port]`
    /// (user and host of URI-safe characters, no parameters or spaces) or `client:name`.
    pub fn parse(text: &str) -> Option<DialTarget> {
        fn user_ok(s: &str) -> bool {
            !s.is_empty()
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '.' | '_' | '~' | '-' | '+' | '*' | '#')
                })
        }
        // `;transport=tls` parameters and `?X-Header=value` headers after the host, as
        // Twilio's <Sip> takes them.
        fn tail_ok(s: &str) -> bool {
            s.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, ';' | '?' | '=' | '&' | '.' | '_' | '~' | '%' | '+' | '-')
            })
        }
        fn host_ok(s: &str) -> bool {
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            };
            !host.is_empty()
                && !host.starts_with(['.', '-'])
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
                && port.is_none_or(|p| {
                    !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit())
                })
        }
        if let Some(sip) = text.strip_prefix("sip:") {
            let (user, rest) = sip.split_once('@')?;
            let (host, tail) = rest.split_at(rest.find([';', '?']).unwrap_or(rest.len()));
            return (user_ok(user) && host_ok(host) && tail_ok(tail))
                .then(|| DialTarget::Sip(text.to_owned()));
        }
        if let Some(client) = text.strip_prefix("client:") {
            return (!client.is_empty()
                && client.len() <= 256
                && client
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| DialTarget::Client(client.to_owned()));
        }
        crate::flow::compile::is_e164(text).then(|| DialTarget::Number(text.to_owned()))
    }
}

impl std::fmt::Display for DialTarget {
    /// As written in the flow: `+14155550100`, `sip:agent@pbx`, `client:alice`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialTarget::Number(s) | DialTarget::Sip(s) => f.write_str(s),
            DialTarget::Client(c) => write!(f, "client:{c}"),
        }
    }
}

/// `queue`.
#[derive(Debug)]
pub struct QueueNode {
    /// Queue name.
    pub name: String,
    /// Hold prompt, looped.
    pub hold: Option<Prompt>,
    /// Said before each play of the hold prompt, with the queue's figures as variables.
    pub announce: Option<Prompt>,
    /// Longest wait before `on_timeout`.
    pub max_wait: Option<Duration>,
    /// After `max_wait`.
    pub on_timeout: Target,
    /// Key that leaves the queue.
    pub leave_key: Option<char>,
    /// After the leave key.
    pub on_leave: Target,
    /// After leaving the queue without an agent.
    pub next: Target,
    /// When the caller could not be queued (queue full, provider error).
    pub on_error: Target,
}

/// `voicemail`.
#[derive(Debug)]
pub struct VoicemailNode {
    /// Before the beep.
    pub prompt: Option<Prompt>,
    /// Longest recording.
    pub max_length: Duration,
    /// Key that ends the recording.
    pub finish_on: Option<char>,
    /// After recording.
    pub next: Target,
}

/// `branch`.
#[derive(Debug)]
pub enum BranchNode {
    /// By opening hours.
    Hours {
        /// Schedule name.
        name: String,
        /// The schedule.
        schedule: Box<Schedule>,
        /// While open.
        open: Target,
        /// While closed.
        closed: Target,
    },
    /// By conditions, first that holds.
    When {
        /// Condition and target.
        arms: Vec<(Condition, Target)>,
        /// When none holds.
        otherwise: Target,
    },
}

/// `split`.
#[derive(Debug)]
pub struct SplitNode {
    /// The ways, in file order.
    pub ways: Vec<SplitWay>,
}

/// One way of a split.
#[derive(Debug)]
pub struct SplitWay {
    /// Its weight; a caller goes this way with probability weight / sum of weights.
    pub weight: u32,
    /// Where it leads.
    pub target: Target,
    /// The variant's name: the target as written.
    pub name: String,
}

impl SplitNode {
    /// The way a caller whose hash is `hash` takes: the ways laid end to end by weight, and
    /// `hash` reduced onto them. `None` only when every weight is 0 (refused by `check`).
    pub fn way(&self, hash: u64) -> Option<&SplitWay> {
        let total: u64 = self.ways.iter().map(|w| u64::from(w.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut point = hash % total;
        for way in &self.ways {
            let weight = u64::from(way.weight);
            if point < weight {
                return Some(way);
            }
            point -= weight;
        }
        None
    }

    /// A way's share of callers, in percent.
    pub fn percent(&self, index: usize) -> f64 {
        let total: u64 = self.ways.iter().map(|w| u64::from(w.weight)).sum();
        match self.ways.get(index) {
            Some(w) if total > 0 => 100.0 * f64::from(w.weight) / total as f64,
            _ => 0.0,
        }
    }
}

/// A branch condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Variable (dotted path) equals one of the values.
    VarIn {
        /// Variable path.
        var: String,
        /// Accepted values.
        values: Vec<String>,
    },
    /// Variable is set (or unset when `false`).
    VarExists {
        /// Variable path.
        var: String,
        /// Wanted presence.
        exists: bool,
    },
    /// Caller number is one of these.
    CallerIn(Vec<String>),
}

/// `set`.
#[derive(Debug)]
pub struct SetNode {
    /// Variables and their values.
    pub vars: Vec<(String, Template)>,
    /// Next.
    pub next: Target,
}

/// HTTP method of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupMethod {
    /// GET.
    Get,
    /// POST with the call's variables as a JSON body.
    Post,
}

/// `lookup`.
#[derive(Debug)]
pub struct LookupNode {
    /// URL template.
    pub url: Template,
    /// Method.
    pub method: LookupMethod,
    /// Hard timeout.
    pub timeout: Duration,
    /// Variable for the JSON answer.
    pub store: String,
    /// On success.
    pub next: Target,
    /// On timeout, non-2xx, bad JSON.
    pub on_error: Target,
}

/// `hangup`.
#[derive(Debug)]
pub struct HangupNode {
    /// Goodbye prompt.
    pub prompt: Option<Prompt>,
}

/// A prompt resolved for every language of its flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Parts to play, indexed by [`LangIdx`].
    pub by_language: Vec<Vec<PromptPart>>,
    /// What the admin wrote, in short (`main_menu`, `hold.wav`, `"Hello…"`), for diagrams and traces.
    pub summary: String,
    /// Each item of the prompt in short, in order (a prompt id, a recording, `pause 1s` or
    /// a quoted text): what `summary` joins.
    pub items: Vec<String>,
}

impl Prompt {
    /// The parts to play in a language.
    pub fn parts(&self, lang: LangIdx) -> &[PromptPart] {
        self.by_language
            .get(lang.index())
            .or_else(|| self.by_language.first())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// One resolved piece of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptPart {
    /// Text to speak in a language.
    Say {
        /// Text template.
        text: Template,
        /// Language it is spoken in (may differ from the call's: the language picker).
        lang: LangIdx,
    },
    /// A recording.
    Play {
        /// Path relative to `prompts/`, with `/` separators.
        file: String,
        /// Its duration.
        duration: Duration,
    },
    /// Silence.
    Pause(Duration),
}

/// Text with `{placeholders}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Template {
    /// Literal and placeholder segments in order.
    pub segments: Vec<Segment>,
}

/// A segment of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// `{name}`, `{name.field}`, `{caller}`, `{called}`, with how the value is read:
    /// `{name|digits}`, `{name|number}`, `{name|amount}`.
    Var {
        /// Dotted path.
        path: String,
        /// How the value is read.
        reading: Reading,
    },
}

/// How a placeholder's value is read to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reading {
    /// As text (`{name}`).
    Plain,
    /// Digit by digit (`{name|digits}`): from `prompts/<lang>/digits/` where recorded.
    Digits,
    /// As a number (`{name|number}`): composed from `prompts/<lang>/numbers/` where recorded.
    Number,
    /// As an amount of money (`{name|amount}`): a number, the currency, and its hundredths.
    Amount,
}

impl Reading {
    /// The form as written after `|`; empty for [`Reading::Plain`].
    pub fn as_str(self) -> &'static str {
        match self {
            Reading::Plain => "",
            Reading::Digits => "digits",
            Reading::Number => "number",
            Reading::Amount => "amount",
        }
    }
}

impl Template {
    /// A template without placeholders.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            segments: vec![Segment::Text(text.into())],
        }
    }
    /// The placeholder paths it uses.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var { path, .. } => Some(path.as_str()),
            Segment::Text(_) => None,
        })
    }
    /// The template as written.
    pub fn source(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(&t.replace('{', "{{").replace('}', "}}")),
                Segment::Var { path, reading } => {
                    out.push('{');
                    out.push_str(path);
                    if *reading != Reading::Plain {
                        out.push('|');
                        out.push_str(reading.as_str());
                    }
                    out.push('}');
                }
            }
        }
        out
    }
}

/// Why a call follows an edge; labels diagrams and tells the loop check which edges wait for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeLabel {
    /// A menu key.
    Key(char),
    /// Digits accepted by an input.
    Digits,
    /// Retries ran out (invalid keys or silence).
    Fail {
        /// Attempts before giving up.
        attempts: u32,
    },
    /// The plain next step of a message, set or lookup.
    Next,
    /// A transferred call that completed.
    Completed,
    /// A transfer nobody answered.
    NoAnswer,
    /// A transfer to a busy line.
    Busy,
    /// A transfer that could not be placed.
    DialFailed,
    /// The caller left a queue without an agent.
    LeftQueue,
    /// The caller could not be queued.
    QueueError,
    /// The caller waited `max_wait`.
    QueueTimeout,
    /// The caller pressed the queue's leave key.
    LeaveKey(char),
    /// A voicemail was recorded.
    Recorded,
    /// Hours branch, open.
    Open,
    /// Hours branch, closed.
    Closed,
    /// The n-th `when` arm held.
    When(usize),
    /// No `when` arm held.
    Else,
    /// The n-th way of a split.
    Way(usize),
    /// A lookup failed.
    LookupError,
}

impl EdgeLabel {
    /// True when taking the edge needs the caller (or the far end) to do something,
    /// so a cycle through it cannot spin without a person in it.
    pub fn waits(self) -> bool {
        !matches!(
            self,
            EdgeLabel::Next
                | EdgeLabel::Open
                | EdgeLabel::Closed
                | EdgeLabel::When(_)
                | EdgeLabel::Else
                | EdgeLabel::Way(_)
                | EdgeLabel::LookupError
        )
    }
}

impl std::fmt::Display for EdgeLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EdgeLabel::Key(k) => write!(f, "{k}"),
            EdgeLabel::Digits => f.write_str("digits"),
            EdgeLabel::Fail { attempts } => write!(f, "invalid/timeout x{attempts}"),
            EdgeLabel::Next => f.write_str("next"),
            EdgeLabel::Completed => f.write_str("completed"),
            EdgeLabel::NoAnswer => f.write_str("no-answer"),
            EdgeLabel::Busy => f.write_str("busy"),
            EdgeLabel::DialFailed => f.write_str("failed"),
            EdgeLabel::LeftQueue => f.write_str("left queue"),
            EdgeLabel::QueueError => f.write_str("queue full/error"),
            EdgeLabel::QueueTimeout => f.write_str("waited too long"),
            EdgeLabel::LeaveKey(k) => write!(f, "{k} (leave queue)"),
            EdgeLabel::Recorded => f.write_str("recorded"),
            EdgeLabel::Open => f.write_str("open"),
            EdgeLabel::Closed => f.write_str("closed"),
            EdgeLabel::When(i) => write!(f, "when #{}", i + 1),
            EdgeLabel::Else => f.write_str("else"),
            EdgeLabel::Way(i) => write!(f, "way #{}", i + 1),
            EdgeLabel::LookupError => f.write_str("error"),
        }
    }
}

impl Flow {
    /// The edges leaving a node, in a stable order.
    pub fn edges(&self, id: NodeId) -> Vec<(EdgeLabel, &Target)> {
        fn fail(r: &Retry) -> (EdgeLabel, &Target) {
            (
                EdgeLabel::Fail {
                    attempts: r.retries + 1,
                },
                &r.on_fail,
            )
        }
        match &self.node(id).kind {
            NodeKind::Menu(m) => {
                let mut out: Vec<_> = m
                    .options
                    .iter()
                    .map(|o| (EdgeLabel::Key(o.key), &o.target))
                    .collect();
                out.push(fail(&m.retry));
                out
            }
            NodeKind::Input(i) => vec![(EdgeLabel::Digits, &i.next), fail(&i.retry)],
            NodeKind::Message(m) => vec![(EdgeLabel::Next, &m.next)],
            NodeKind::Transfer(t) => vec![
                (EdgeLabel::Completed, &t.next),
                (EdgeLabel::NoAnswer, &t.on_no_answer),
                (EdgeLabel::Busy, &t.on_busy),
                (EdgeLabel::DialFailed, &t.on_failed),
            ],
            NodeKind::Queue(q) => {
                let mut out = vec![
                    (EdgeLabel::LeftQueue, &q.next),
                    (EdgeLabel::QueueError, &q.on_error),
                ];
                if q.max_wait.is_some() {
                    out.push((EdgeLabel::QueueTimeout, &q.on_timeout));
                }
                if let Some(k) = q.leave_key {
                    out.push((EdgeLabel::LeaveKey(k), &q.on_leave));
                }
                out
            }
            NodeKind::Voicemail(v) => vec![(EdgeLabel::Recorded, &v.next)],
            NodeKind::Branch(BranchNode::Hours { open, closed, .. }) => {
                vec![(EdgeLabel::Open, open), (EdgeLabel::Closed, closed)]
            }
            NodeKind::Branch(BranchNode::When { arms, otherwise }) => {
                let mut out: Vec<_> = arms
                    .iter()
                    .enumerate()
                    .map(|(i, (_, t))| (EdgeLabel::When(i), t))
                    .collect();
                out.push((EdgeLabel::Else, otherwise));
                out
            }
            NodeKind::Split(s) => s
                .ways
                .iter()
                .enumerate()
                .map(|(i, w)| (EdgeLabel::Way(i), &w.target))
                .collect(),
            NodeKind::Set(s) => vec![(EdgeLabel::Next, &s.next)],
            NodeKind::Lookup(l) => vec![
                (EdgeLabel::Next, &l.next),
                (EdgeLabel::LookupError, &l.on_error),
            ],
            NodeKind::Hangup(_) => vec![],
        }
    }

    /// The node a target leads to from `from`, when it is known without a call's history.
    pub fn resolve_static(&self, from: NodeId, target: &Target) -> Option<NodeId> {
        match target {
            Target::Node(n) => Some(*n),
            Target::Start => Some(self.start),
            Target::Repeat => Some(from),
            Target::Back | Target::Hangup | Target::Flow { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DialTarget, is_send_digits};

    #[test]
    fn dialable_addresses_are_numbers_sip_uris_and_clients() {
        let number = DialTarget::Number("+14155550100".into());
        assert_eq!(DialTarget::parse("+14155550100"), Some(number));
        assert_eq!(
            DialTarget::parse("sip:1234@pbx.example.com:5060"),
            Some(DialTarget::Sip("sip:1234@pbx.example.com:5060".into()))
        );
        assert_eq!(
            DialTarget::parse("sip:agent@pbx.example.com;transport=tls?x=1&y=2"),
            Some(DialTarget::Sip(
                "sip:agent@pbx.example.com;transport=tls?x=1&y=2".into()
            ))
        );
        assert_eq!(
            DialTarget::parse("client:alice_1"),
            Some(DialTarget::Client("alice_1".into()))
        );
        for bad in [
            "",
            "14155550100",
            "+1 415 555 0100",
            "sip:@pbx.example.com",
            "sip:1234@",
            "sip:1234",
            "sip:12 34@pbx",
            "sip:1234@pbx;transport=tcp x",
            "sip:1234@pbx?X-A=<b>",
            "sip:a@b@c",
            "sip:1234@pbx:",
            "sip:1234@-pbx",
            "client:",
            "client:a b",
            "the front desk",
        ] {
            assert_eq!(DialTarget::parse(bad), None, "{bad:?}");
        }
        assert!(is_send_digits("ww1234#"));
        assert!(!is_send_digits(""));
        assert!(!is_send_digits("12a"));
        assert!(!is_send_digits(&"1".repeat(33)));
    }
}
