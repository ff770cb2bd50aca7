//! The flow file as written: types that mirror the YAML one to one.
//!
//! Nothing here is checked beyond its shape; [`crate::flow::compile`] turns these
//! into the compiled [`crate::flow::Flow`]. The same types generate the JSON Schema
//! (`phonetree schema`), so editors complete exactly what the parser accepts.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// One flow file (`flows/<id>.yaml`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "phonetree flow")]
pub struct RawFlowFile {
    /// Flow id; defaults to the file stem.
    pub flow: Option<String>,
    /// The `To` numbers routed to this flow (E.164, e.g. "+14155550199").
    #[serde(default)]
    pub numbers: Vec<String>,
    /// This flow answers calls to numbers no flow claims.
    #[serde(default)]
    pub default: bool,
    /// Languages the flow speaks; the first is the default. Each needs `prompts/<lang>.yaml`.
    pub languages: Vec<String>,
    /// TwiML `language` attribute (e.g. `en-US`) per language.
    #[serde(default, deserialize_with = "unique_keys")]
    pub locale: IndexMap<String, String>,
    /// TwiML `voice` (e.g. `Polly.Joanna`) per language.
    #[serde(default, deserialize_with = "unique_keys")]
    pub voice: IndexMap<String, String>,
    /// The node a call starts in.
    pub start: String,
    /// Settings every menu and input inherits unless it overrides them.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// Named opening-hours schedules, used by `branch: { hours: NAME }`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub hours: IndexMap<String, RawHours>,
    /// The nodes of the flow, by id.
    #[serde(deserialize_with = "unique_keys")]
    pub nodes: IndexMap<String, RawNode>,
}

/// Settings inherited by menus and inputs.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// How long to wait for a key after the prompt (`5s`, `500ms`; a bare number means seconds).
    pub timeout: Option<RawDuration>,
    /// Re-prompts after the first attempt before `on_fail`.
    #[schemars(range(max = 10))]
    pub retries: Option<u32>,
    /// Prompt played after a key that is not an option.
    pub invalid: Option<RawPrompt>,
    /// Prompt played after silence.
    pub no_input: Option<RawPrompt>,
    /// Said before a caller is sent to `on_fail` after an internal fault (default: the prompt
    /// `fault_apology`, with a built-in text in en, es, fa and ko).
    pub apology: Option<RawPrompt>,
    /// Prompt ids `phonetree close FLOW --message ID` may play to callers while an admin has
    /// the flow closed (besides any prompt id a node of the flow plays on its own).
    #[serde(default)]
    pub closed_messages: Vec<String>,
    /// Where a caller goes when retries run out.
    pub on_fail: Option<String>,
    /// Keys every menu accepts unless it defines the same key.
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(extend("propertyNames" = { "pattern": "^[0-9*#]$" }))]
    pub options: IndexMap<String, RawOption>,
    /// Node entries a call may spend before it is sent to `on_fail` (loop guard), 10 to 10000.
    #[schemars(range(min = 10, max = 10000))]
    pub max_steps: Option<u32>,
}

/// An opening-hours schedule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHours {
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    /// Days (`mon-fri`, `sat`, `daily`) to time ranges (`"08:00-18:00"`, `"closed"`, `"24h"`).
    #[serde(default, deserialize_with = "unique_keys")]
    pub weekly: IndexMap<String, String>,
    /// Dates (`2026-12-25`) or inclusive ranges (`2026-12-24..2026-12-26`) when closed all day.
    #[serde(default)]
    pub closed: Vec<String>,
}

/// A node: a map with exactly one key, its kind.
#[derive(Debug, Clone, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawNode {
    /// Plays a prompt inside one `<Gather>` and routes by the key pressed.
    Menu(RawMenu),
    /// Collects several digits into a variable.
    Input(RawInput),
    /// Plays a prompt and moves on.
    Message(RawMessage),
    /// Connects the caller to a number, SIP address or client.
    Transfer(RawTransfer),
    /// Puts the caller in a named queue with hold audio.
    Queue(RawQueue),
    /// Records a message.
    Voicemail(RawVoicemail),
    /// Routes without asking the caller.
    Branch(RawBranch),
    /// Sends each caller one of several ways by weight, the same way every time they call.
    Split(RawSplit),
    /// Sets variables.
    Set(RawSet),
    /// Asks an external HTTP service and keeps its JSON answer.
    Lookup(RawLookup),
    /// Says goodbye and ends the call.
    Hangup(#[schemars(with = "Option<RawHangup>")] RawHangup),
}

/// Node kinds, in the order the schema and error hints list them.
pub const NODE_KINDS: [&str; 11] = [
    "menu",
    "input",
    "message",
    "transfer",
    "queue",
    "voicemail",
    "branch",
    "split",
    "set",
    "lookup",
    "hangup",
];

impl RawNode {
    /// The kind's name as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            RawNode::Menu(_) => "menu",
            RawNode::Input(_) => "input",
            RawNode::Message(_) => "message",
            RawNode::Transfer(_) => "transfer",
            RawNode::Queue(_) => "queue",
            RawNode::Voicemail(_) => "voicemail",
            RawNode::Branch(_) => "branch",
            RawNode::Split(_) => "split",
            RawNode::Set(_) => "set",
            RawNode::Lookup(_) => "lookup",
            RawNode::Hangup(_) => "hangup",
        }
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with one key, the node kind (menu, input, message, ...)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
                let Some(kind) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "a node needs a kind: one of menu, input, message, transfer, queue, voicemail, branch, split, set, lookup, hangup",
                    ));
                };
                let node = match kind.as_str() {
                    "menu" => RawNode::Menu(map.next_value()?),
                    "input" => RawNode::Input(map.next_value()?),
                    "message" => RawNode::Message(map.next_value()?),
                    "transfer" => RawNode::Transfer(map.next_value()?),
                    "queue" => RawNode::Queue(map.next_value()?),
                    "voicemail" => RawNode::Voicemail(map.next_value()?),
                    "branch" => RawNode::Branch(map.next_value()?),
                    "split" => RawNode::Split(map.next_value()?),
                    "set" => RawNode::Set(map.next_value()?),
                    "lookup" => RawNode::Lookup(map.next_value()?),
                    "hangup" => {
                        RawNode::Hangup(map.next_value::<Option<RawHangup>>()?.unwrap_or_default())
                    }
                    other => return Err(de::Error::unknown_variant(other, &NODE_KINDS)),
                };
                if let Some(second) = map.next_key::<String>()? {
                    if second == kind {
                        return Err(de::Error::custom(format!("duplicate key `{second}`")));
                    }
                    return Err(de::Error::custom(format!(
                        "a node has exactly one kind, but `{second}` follows `{kind}`"
                    )));
                }
                Ok(node)
            }
        }
        deserializer.deserialize_map(NodeVisitor)
    }
}

/// `menu`: a prompt inside one `<Gather>`, routed by key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMenu {
    /// What the caller hears first.
    pub prompt: RawPrompt,
    /// A shorter prompt for retries (default: `prompt`).
    pub reprompt: Option<RawPrompt>,
    /// One prompt per retry, in order; the last one repeats (instead of `reprompt`).
    #[schemars(length(min = 1))]
    pub reprompts: Option<Vec<RawPrompt>>,
    /// Key (`0`-`9`, `*`, `#`) to target.
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(extend("propertyNames" = { "pattern": "^[0-9*#]$" }))]
    pub options: IndexMap<String, RawOption>,
    /// Keep the key pressed in this variable (e.g. a survey score).
    pub store: Option<String>,
    /// Wait for a key after the prompt.
    pub timeout: Option<RawDuration>,
    /// Re-prompts before `on_fail`.
    #[schemars(range(max = 10))]
    pub retries: Option<u32>,
    /// Prompt after an invalid key.
    pub invalid: Option<RawPrompt>,
    /// Prompt after silence.
    pub no_input: Option<RawPrompt>,
    /// Where the caller goes when retries run out.
    pub on_fail: Option<String>,
}

/// `input`: several digits into a variable.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// What the caller hears.
    pub prompt: RawPrompt,
    /// A shorter prompt for retries (default: `prompt`).
    pub reprompt: Option<RawPrompt>,
    /// One prompt per retry, in order; the last one repeats (instead of `reprompt`).
    #[schemars(length(min = 1))]
    pub reprompts: Option<Vec<RawPrompt>>,
    /// Variable that receives the digits.
    pub store: String,
    /// Exact number of digits.
    #[schemars(range(min = 1, max = 30))]
    pub digits: Option<u32>,
    /// Fewest digits accepted.
    #[schemars(range(min = 1, max = 30))]
    pub min_digits: Option<u32>,
    /// Most digits accepted.
    #[schemars(range(min = 1, max = 30))]
    pub max_digits: Option<u32>,
    /// Key that ends the entry early (`#` or `*`).
    #[schemars(regex(pattern = r"^[*#]$"))]
    pub finish_on: Option<String>,
    /// Built-in check: `luhn` (card numbers).
    #[schemars(extend("enum" = ["luhn", null]))]
    pub validate: Option<String>,
    /// Regular expression the digits must match, e.g. `^[0-9]{6}$`.
    pub pattern: Option<String>,
    /// Never log or store the digits in clear (default for `luhn`).
    pub sensitive: Option<bool>,
    /// What the answer measures, for `phonetree report`: `nps` (a Net Promoter Score, 0 to 10:
    /// promoters, passives, detractors and the score).
    #[schemars(extend("enum" = ["nps", null]))]
    pub scale: Option<String>,
    /// Where the caller goes with valid digits.
    pub next: String,
    /// Wait for digits after the prompt.
    pub timeout: Option<RawDuration>,
    /// Re-prompts before `on_fail`.
    #[schemars(range(max = 10))]
    pub retries: Option<u32>,
    /// Prompt after digits that fail validation.
    pub invalid: Option<RawPrompt>,
    /// Prompt after silence.
    pub no_input: Option<RawPrompt>,
    /// Where the caller goes when retries run out.
    pub on_fail: Option<String>,
}

/// `message`: play and move on.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    /// What the caller hears.
    pub prompt: RawPrompt,
    /// Where the call goes next (default: hang up).
    pub next: Option<String>,
}

/// `transfer`: connect the caller with `<Dial>`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTransfer {
    /// `+1...`, `sip:...` or `client:...`; may hold variables: `"sip:{ext}@pbx.example.com"`.
    pub to: String,
    /// Keys dialed once the callee answers (a number's extension), e.g. `"ww{ext}"`: digits,
    /// `*`, `#` and `w` (half a second's wait); may hold variables.
    pub send_digits: Option<String>,
    /// Caller id shown to the callee.
    pub caller_id: Option<String>,
    /// How long to ring.
    pub timeout: Option<RawDuration>,
    /// Played before dialing.
    pub prompt: Option<RawPrompt>,
    /// Where the caller goes after a completed call (default: hang up).
    pub next: Option<String>,
    /// Where the caller goes when nobody answers (default: `on_fail`).
    pub on_no_answer: Option<String>,
    /// Where the caller goes when the line is busy (default: `on_no_answer`).
    pub on_busy: Option<String>,
    /// Where the caller goes when the call cannot be placed, or `to` does not expand to
    /// something dialable (default: `on_no_answer`).
    pub on_failed: Option<String>,
}

/// `queue`: wait in a named queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    /// Queue name.
    pub name: String,
    /// Prompt looped while waiting.
    pub hold: Option<RawPrompt>,
    /// Said before each play of the hold prompt; may name `queue_position`, `queue_size`,
    /// `queue_waited` and `queue_avg_wait` (seconds): "You are number {queue_position} in line."
    pub announce: Option<RawPrompt>,
    /// Longest wait: once the caller has waited this long they leave the queue for
    /// `on_timeout` (checked each time the hold prompt ends).
    pub max_wait: Option<RawDuration>,
    /// Where the caller goes after `max_wait` (default: `next`).
    pub on_timeout: Option<String>,
    /// A key that takes the caller out of the queue while they wait (offered during the
    /// announcement and the hold prompt).
    #[schemars(regex(pattern = r"^[0-9*#]$"))]
    pub leave_key: Option<String>,
    /// Where the caller goes after pressing `leave_key` (default: `next`).
    pub on_leave: Option<String>,
    /// Where the caller goes on leaving the queue without an agent (default: hang up).
    pub next: Option<String>,
    /// Where the caller goes when the queue is full or the provider cannot queue them
    /// (`queue-full`, `error`, `system-error`; default: the flow's `on_fail`).
    pub on_error: Option<String>,
}

/// `voicemail`: record a message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVoicemail {
    /// Played before the beep.
    pub prompt: Option<RawPrompt>,
    /// Longest recording.
    pub max_length: Option<RawDuration>,
    /// Key that ends the recording.
    #[schemars(regex(pattern = r"^[0-9*#]$"))]
    pub finish_on: Option<String>,
    /// Where the caller goes after recording (default: hang up).
    pub next: Option<String>,
}

/// `branch`: route by hours, variables or caller.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["hours", "open", "closed"], "properties": { "when": false, "else": false } },
    { "required": ["when", "else"], "properties": { "hours": false, "open": false, "closed": false } }
]))]
pub struct RawBranch {
    /// Name of a schedule under `hours:`.
    pub hours: Option<String>,
    /// Target while the schedule is open.
    pub open: Option<String>,
    /// Target while it is closed.
    pub closed: Option<String>,
    /// Conditions tried in order.
    pub when: Option<Vec<RawWhen>>,
    /// Target when no condition holds.
    #[serde(rename = "else")]
    pub otherwise: Option<String>,
}

/// `split`: an A/B test. Each caller goes one of the ways, chosen by weight from a stable
/// hash of their number and the node, so a caller who calls again goes the same way.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSplit {
    /// The ways, each with its weight: `[{ weight: 70, goto: menu_a }, { weight: 30, goto: menu_b }]`.
    pub ways: Vec<RawWay>,
}

/// One way of a split.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWay {
    /// Its share, relative to the other ways' weights (0 turns it off).
    pub weight: u32,
    /// Where callers sent this way go; it names the variant in the call log and the report.
    pub goto: String,
}

/// One `when` entry of a branch.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWhen {
    /// The condition.
    #[serde(rename = "if")]
    pub condition: RawCondition,
    /// Target when it holds.
    pub goto: String,
}

/// A branch condition: on a variable or on the caller's number.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// Variable to test (`tier`, `acct.status`).
    pub var: Option<String>,
    /// Holds when the variable equals this value.
    pub equals: Option<RawScalar>,
    /// Holds when the variable equals one of these.
    pub one_of: Option<Vec<RawScalar>>,
    /// Holds when the variable is set (`true`) or unset (`false`).
    pub exists: Option<bool>,
    /// Holds when the caller's number is one of these.
    pub caller: Option<Vec<String>>,
}

/// `set`: set variables.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSet {
    /// Variable to value (templates allowed); `language` switches the call's language.
    #[serde(deserialize_with = "unique_keys")]
    pub vars: IndexMap<String, RawScalar>,
    /// Where the call goes next.
    pub next: String,
}

/// `lookup`: ask an HTTP service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    /// URL (templated).
    pub url: String,
    /// `GET` (default) or `POST`, in any case.
    #[schemars(regex(pattern = r"^([Gg][Ee][Tt]|[Pp][Oo][Ss][Tt])$"))]
    pub method: Option<String>,
    /// Hard limit (default 2s, at most 10s).
    pub timeout: Option<RawDuration>,
    /// Variable that receives the JSON answer.
    pub store: String,
    /// Where the call goes after a good answer.
    pub next: String,
    /// Where the call goes on timeout, non-2xx or bad JSON.
    pub on_error: String,
}

/// `hangup`: goodbye.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHangup {
    /// Played before hanging up.
    pub prompt: Option<RawPrompt>,
}

/// A menu option: a target, or `{goto, set}`.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawOption {
    /// Just the target.
    Goto(String),
    /// A target plus variables to set.
    Full(RawOptionFull),
}

/// The map form of a menu option.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOptionFull {
    /// Target.
    pub goto: String,
    /// Variables to set first (`language: es` switches language).
    #[serde(default, deserialize_with = "unique_keys")]
    pub set: IndexMap<String, RawScalar>,
}

impl<'de> Deserialize<'de> for RawOption {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptionVisitor;
        impl<'de> Visitor<'de> for OptionVisitor {
            type Value = RawOption;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a target (node id) or a map `{ goto: TARGET, set: {...} }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawOption, E> {
                Ok(RawOption::Goto(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawOption, A::Error> {
                RawOptionFull::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawOption::Full)
            }
        }
        deserializer.deserialize_any(OptionVisitor)
    }
}

/// A prompt: one item or a list of items played in order.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawPrompt {
    /// A single item.
    One(RawPromptItem),
    /// Items played in order.
    Many(Vec<RawPromptItem>),
}

impl RawPrompt {
    /// The items in play order.
    pub fn items(&self) -> &[RawPromptItem] {
        match self {
            RawPrompt::One(item) => std::slice::from_ref(item),
            RawPrompt::Many(items) => items,
        }
    }
    /// True when the prompt is a list (so item paths carry an index).
    pub fn is_list(&self) -> bool {
        matches!(self, RawPrompt::Many(_))
    }
}

impl<'de> Deserialize<'de> for RawPrompt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PromptVisitor;
        impl<'de> Visitor<'de> for PromptVisitor {
            type Value = RawPrompt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a prompt id, a map such as `{ say: \"...\" }`, or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPrompt, E> {
                Ok(RawPrompt::One(RawPromptItem::Id(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawPrompt, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<RawPromptItem>()? {
                    items.push(item);
                }
                Ok(RawPrompt::Many(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPrompt, A::Error> {
                RawPromptMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| RawPrompt::One(RawPromptItem::Map(m)))
            }
        }
        deserializer.deserialize_any(PromptVisitor)
    }
}

/// One prompt item: a bare prompt id or a map.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawPromptItem {
    /// A prompt id, resolved per language (recording first, then catalog text).
    Id(String),
    /// A map item: `say`, `play`, `pause` or `prompt`, optionally with `lang`.
    Map(RawPromptMap),
}

impl<'de> Deserialize<'de> for RawPromptItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = RawPromptItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a prompt id or a map such as `{ say: \"...\" }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPromptItem, E> {
                Ok(RawPromptItem::Id(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPromptItem, A::Error> {
                RawPromptMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPromptItem::Map)
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// The map form of a prompt item; exactly one of `say`, `play`, `pause`, `prompt`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPromptMap {
    /// Literal text (templates allowed), or text per language.
    pub say: Option<RawText>,
    /// A recording in `prompts/<lang>/`, else `prompts/`.
    pub play: Option<String>,
    /// Silence.
    pub pause: Option<RawDuration>,
    /// A prompt id (the map form of a bare id).
    pub prompt: Option<String>,
    /// Force this item's language.
    pub lang: Option<String>,
}

/// Text for `say`: one text, or one per language.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawText {
    /// The same text in every language.
    Same(String),
    /// Language to text.
    PerLanguage(IndexMap<String, String>),
}

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = RawText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text, or a map of language to text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText, E> {
                Ok(RawText::Same(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawText, A::Error> {
                unique_keys(de::value::MapAccessDeserializer::new(map)).map(RawText::PerLanguage)
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// A duration as written: `500ms`, `5s`, `2m`, or a bare number of seconds.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(with = "DurationSchema")]
pub struct RawDuration(pub String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum DurationSchema {
    Text(
        #[schemars(regex(
            pattern = r"^\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*(ms|s|sec|secs|seconds|m|min|mins|minutes|h|hours)?\s*$"
        ))]
        String,
    ),
    Seconds(#[schemars(range(min = 0))] f64),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawScalar::deserialize(deserializer).map(|s| RawDuration(s.0))
    }
}

/// A scalar (text, number or boolean) kept as its text.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "ScalarSchema")]
pub struct RawScalar(pub String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ScalarSchema {
    Text(String),
    Number(f64),
    Flag(bool),
}

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = RawScalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, number or true/false")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawScalar, E> {
                Ok(RawScalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawScalar, E> {
                Ok(RawScalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawScalar, E> {
                Ok(RawScalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawScalar, E> {
                Ok(RawScalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawScalar, E> {
                Ok(RawScalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A prompt catalog (`prompts/<lang>.yaml`): prompt id to its entry.
pub type RawCatalog = IndexMap<String, RawCatalogEntry>;

/// A prompt catalog file (`prompts/<lang>.yaml`), for its JSON Schema.
#[derive(JsonSchema)]
#[schemars(title = "phonetree prompt catalog")]
#[allow(dead_code)]
pub struct RawCatalogFile(IndexMap<String, RawCatalogEntry>);

/// A catalog entry: text to speak (a template), or a sequence of recordings and texts
/// played in order, so that a sentence can be recorded around its values.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum RawCatalogEntry {
    /// Text, with placeholders: `{var}`, `{var|digits}`, `{var|number}`, `{var|amount}`.
    Text(String),
    /// Recordings, pauses and texts in play order.
    Sequence(#[schemars(length(min = 1))] Vec<RawCatalogItem>),
}

/// One item of a catalog sequence.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum RawCatalogItem {
    /// Text or a template value (`"{account|digits}"`).
    Text(String),
    /// A recording or a pause.
    Part(RawCatalogPart),
}

/// A recording or a pause in a catalog sequence; exactly one of `play`, `pause`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct RawCatalogPart {
    /// A recording in `prompts/<lang>/`, else `prompts/`.
    pub play: Option<String>,
    /// Silence.
    pub pause: Option<RawDuration>,
}

fn scalar_text<E: de::Error>(v: impl fmt::Display) -> Result<String, E> {
    Ok(v.to_string())
}

impl<'de> Deserialize<'de> for RawCatalogEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = RawCatalogEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text, or a list of texts and `{ play: FILE }` / `{ pause: 1s }` items")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCatalogEntry, E> {
                Ok(RawCatalogEntry::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCatalogEntry, E> {
                scalar_text(v).map(RawCatalogEntry::Text)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCatalogEntry, E> {
                scalar_text(v).map(RawCatalogEntry::Text)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawCatalogEntry, E> {
                scalar_text(v).map(RawCatalogEntry::Text)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawCatalogEntry, E> {
                scalar_text(v).map(RawCatalogEntry::Text)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawCatalogEntry, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<RawCatalogItem>()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom("a sequence needs at least one item"));
                }
                Ok(RawCatalogEntry::Sequence(items))
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

impl<'de> Deserialize<'de> for RawCatalogItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = RawCatalogItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text, `{ play: FILE }` or `{ pause: 1s }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCatalogItem, E> {
                Ok(RawCatalogItem::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCatalogItem, E> {
                scalar_text(v).map(RawCatalogItem::Text)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCatalogItem, E> {
                scalar_text(v).map(RawCatalogItem::Text)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawCatalogItem, E> {
                scalar_text(v).map(RawCatalogItem::Text)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawCatalogItem, A::Error> {
                RawCatalogPart::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawCatalogItem::Part)
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// A scenario file (`flows/<flow>.test.yaml`): the scenarios `phonetree test` runs.
#[derive(JsonSchema)]
#[schemars(title = "phonetree scenarios")]
#[allow(dead_code)]
pub struct RawScenarioFile(Vec<RawScenario>);

/// One scenario of a `flows/<flow>.test.yaml` file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// What the scenario shows.
    pub name: String,
    /// Fixed time of the call (RFC 3339); default 2026-01-07T17:00:00Z.
    pub at: Option<String>,
    /// Caller number (`{caller}`, `branch: { when: [{ if: { caller: [...] } }] }`).
    pub caller: Option<String>,
    /// One entry per prompt that waits for keys: digits, `*` and `#`; `""` is silence.
    #[serde(default)]
    #[schemars(extend("items" = { "anyOf": [{ "type": "string", "pattern": "^[0-9*#]*$" }, { "type": "integer", "minimum": 0 }] }))]
    pub keys: Vec<RawScalar>,
    /// Dial results for the transfers reached, in order (`completed`, `no-answer`, `busy`, `failed`);
    /// a transfer with none left ends the scenario.
    #[serde(default)]
    #[schemars(extend("items" = { "enum": ["completed", "no-answer", "busy", "failed"] }))]
    pub dial: Vec<String>,
    /// Seconds recorded at each voicemail reached, in order; a voicemail with none left ends the scenario.
    #[serde(default)]
    pub voicemail: Vec<u32>,
    /// How the caller leaves each queue reached, in order: `bridged` (an agent took the
    /// call), `hangup`, `leave-key` (pressed the queue's leave key), `timeout` (waited
    /// `max_wait`), `queue-full` or `error`; a queue with none left ends the scenario.
    #[serde(default)]
    #[schemars(extend("items" = { "enum": ["bridged", "hangup", "leave-key", "timeout", "queue-full", "error"] }))]
    pub queue: Vec<String>,
    /// Canned answers of lookup nodes, by node id.
    #[serde(default, deserialize_with = "unique_keys")]
    pub lookups: IndexMap<String, RawLookupMock>,
    /// What must hold (besides ending without keys left over).
    #[serde(default)]
    pub expect: RawExpect,
}

/// A canned lookup result: `{ answer: JSON }` or `{ error: reason }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLookupMock {
    /// The JSON the service answers.
    pub answer: Option<serde_json::Value>,
    /// Why the lookup fails (`timeout`, `http 500`).
    pub error: Option<String>,
}

/// Expectations of a scenario.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The nodes entered, in order, from the start.
    pub path: Option<Vec<String>>,
    /// Text (or texts) that must be spoken at some point; recordings count as `[play prompts/FILE ...]`.
    pub says: Option<RawTexts>,
    /// How the call ends: `transfer`, `queue`, `voicemail`, `hangup` or `caller_hangup`.
    #[schemars(extend("enum" = ["transfer", "queue", "voicemail", "hangup", "caller_hangup", null]))]
    pub ends: Option<String>,
    /// Variables and their values at the end.
    #[serde(default, deserialize_with = "unique_keys")]
    pub vars: IndexMap<String, RawScalar>,
}

/// One text or several.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawTexts {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl RawTexts {
    /// The texts.
    pub fn all(&self) -> Vec<&str> {
        match self {
            RawTexts::One(t) => vec![t.as_str()],
            RawTexts::Many(ts) => ts.iter().map(String::as_str).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for RawTexts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextsVisitor;
        impl<'de> Visitor<'de> for TextsVisitor {
            type Value = RawTexts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text or a list of texts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTexts, E> {
                Ok(RawTexts::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawTexts, A::Error> {
                let mut all = Vec::new();
                while let Some(t) = seq.next_element::<String>()? {
                    all.push(t);
                }
                Ok(RawTexts::Many(all))
            }
        }
        deserializer.deserialize_any(TextsVisitor)
    }
}

/// Deserializes a map that rejects a key given twice (YAML would silently keep the last).
pub(crate) fn unique_keys<'de, D, V>(deserializer: D) -> Result<IndexMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct UniqueVisitor<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueVisitor<V> {
        type Value = IndexMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(IndexMap::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format!("duplicate key `{key}`")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(UniqueVisitor(std::marker::PhantomData))
}

/// A map whose keys are unique; for top-level documents such as prompt catalogs.
#[derive(Debug, Clone, Default)]
pub struct UniqueMap<V>(pub IndexMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        unique_keys(deserializer).map(UniqueMap)
    }
}
