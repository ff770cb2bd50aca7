//! Raw flow files plus prompt catalogs and recordings to a checked [`FlowSet`].
//!
//! Every error of every file is collected; nothing stops at the first one. The
//! flow-wide checks (cycles, reachability) live in [`crate::flow::graph_check`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use crate::flow::diagnostic::{Code, Diagnostic, Location, did_you_mean};
use crate::flow::duration::{format_duration, parse_duration};
use crate::flow::hours::{HoursField, Schedule};
use crate::flow::model::*;
use crate::flow::parse::{SourceFile, parse_flow};
use crate::flow::prompts::PromptLibrary;
use crate::flow::raw::*;
use crate::flow::template::parse_template;

/// Target words that are not node ids.
pub const RESERVED_TARGETS: [&str; 4] = ["repeat", "back", "start", "hangup"];

/// What a compile produced: the flows when there was no error, and every diagnostic.
#[derive(Debug)]
pub struct Compiled {
    /// The flows; `None` when any error was found.
    pub flows: Option<FlowSet>,
    /// Errors and warnings in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// A problem that stops a compile before it starts (missing directory).
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A directory or file that cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// The flow files to compile: `*.yaml`/`*.yml` in `dir` except `*.test.yaml`, sorted.
pub fn flow_files(dir: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    let read = |source| ProjectError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        let is_test = name.ends_with(".test.yaml") || name.ends_with(".test.yml");
        if path.is_file() && is_yaml && !is_test {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and compiles flow files (and directories of them) against `prompts_dir`.
pub fn compile_paths(paths: &[PathBuf], prompts_dir: &Path) -> Result<Compiled, ProjectError> {
    let mut sources = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            flow_files(path)?
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| ProjectError::Read {
                path: file.clone(),
                source,
            })?;
            sources.push(SourceFile::new(file, text));
        }
    }
    if !prompts_dir.is_dir() {
        return Err(ProjectError::Read {
            path: prompts_dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    Ok(compile_sources(sources, prompts_dir))
}

/// Compiles flow sources already in memory; catalogs and recordings come from `prompts_dir`.
pub fn compile_sources(sources: Vec<SourceFile>, prompts_dir: &Path) -> Compiled {
    let mut diags = Vec::new();
    let mut parsed: Vec<(SourceFile, RawFlowFile, String)> = Vec::new();
    for src in sources {
        match parse_flow(&src) {
            Ok(raw) => {
                let id = raw
                    .flow
                    .clone()
                    .unwrap_or_else(|| flow_id_from_path(&src.path));
                parsed.push((src, raw, id));
            }
            Err(mut d) => diags.append(&mut d),
        }
    }

    // Flow ids, numbers and the default flow are checked across files.
    let mut seen_ids: HashMap<String, PathBuf> = HashMap::new();
    let mut numbers: BTreeMap<String, String> = BTreeMap::new();
    let mut default_flow: Option<String> = None;
    for (src, raw, id) in &parsed {
        if let Some(first) = seen_ids.insert(id.clone(), src.path.clone()) {
            diags.push(
                Diagnostic::new(Code::DuplicateFlow, format!("flow id `{id}` is used twice"))
                    .at(src.locate(&["flow"]))
                    .label(format!("also the id of {}", first.display()))
                    .hint(Some("give one of them another `flow:` id".into())),
            );
        }
        for (i, number) in raw.numbers.iter().enumerate() {
            let path = ["numbers", &i.to_string()];
            if let Some(other) = numbers.get(number) {
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateNumber,
                        format!("number `{number}` is claimed by two flows"),
                    )
                    .at(src.value_at(&path))
                    .label(format!("already routed to flow `{other}`"))
                    .hint(Some(
                        "a number routes to one flow; remove it from one of them".into(),
                    )),
                );
            } else {
                if !is_e164(number) && !number.starts_with("sip:") && !number.starts_with("client:")
                {
                    diags.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            format!("`{number}` is not a phone number"),
                        )
                        .at(src.value_at(&path))
                        .label("expected E.164")
                        .hint(Some("write numbers as E.164, e.g. \"+14155550199\"".into())),
                    );
                }
                numbers.insert(number.clone(), id.clone());
            }
        }
        if raw.default {
            if let Some(other) = &default_flow {
                diags.push(
                    Diagnostic::new(Code::DuplicateFlow, "two flows say `default: true`")
                        .at(src.locate(&["default"]))
                        .label(format!("flow `{other}` is the default already"))
                        .hint(Some(
                            "only one flow takes calls to unclaimed numbers".into(),
                        )),
                );
            } else {
                default_flow = Some(id.clone());
            }
        }
    }

    let node_names: HashMap<String, Vec<String>> = parsed
        .iter()
        .map(|(_, raw, id)| (id.clone(), raw.nodes.keys().cloned().collect()))
        .collect();
    let mut library = PromptLibrary::new(prompts_dir);
    let mut flows = IndexMap::new();
    for (src, raw, id) in &parsed {
        let mut cx = FlowCompiler::new(src, raw, id, &node_names, &mut library, &mut diags);
        if let Some(flow) = cx.compile() {
            crate::flow::graph_check::check_flow(&flow, src, &mut diags);
            flows.insert(id.clone(), Arc::new(flow));
        }
    }
    // Targets from other flows make a node reachable; recompute reachability across flows.
    crate::flow::graph_check::check_reachability(
        &flows,
        &parsed.iter().map(|(s, _, id)| (id.clone(), s)).collect(),
        &mut diags,
    );
    let mut library_diags = library.take_diagnostics();
    diags.append(&mut library_diags);

    diags.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (l.file.clone(), l.span.line, l.span.column))
        };
        key(a).cmp(&key(b))
    });
    diags.dedup();
    let has_error = diags.iter().any(Diagnostic::is_error);
    let flows = (!has_error).then(|| {
        let mut hasher = Sha256::new();
        // Names, not paths: the same files give the same version on every server.
        for (src, _, _) in &parsed {
            hasher.update(
                src.path
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
                    .as_bytes(),
            );
            hasher.update([0]);
            hasher.update(src.text.as_bytes());
            hasher.update([0]);
        }
        library.hash_into(&mut hasher);
        let version = hex::encode(&hasher.finalize()[..6]);
        FlowSet {
            version,
            flows,
            numbers,
            default_flow,
            prompts_dir: prompts_dir.to_path_buf(),
        }
    });
    Compiled {
        flows,
        diagnostics: diags,
    }
}

fn flow_id_from_path(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.trim_end_matches(".yaml")
                .trim_end_matches(".yml")
                .to_owned()
        })
        .unwrap_or_default()
}

/// True for an E.164 number: `+` then 7 to 15 digits, not starting with 0.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Compiles one flow; holds what every node check needs.
struct FlowCompiler<'a> {
    src: &'a SourceFile,
    raw: &'a RawFlowFile,
    id: &'a str,
    node_names: &'a HashMap<String, Vec<String>>,
    library: &'a mut PromptLibrary,
    diags: &'a mut Vec<Diagnostic>,
    index: HashMap<&'a str, NodeId>,
    languages: Vec<Language>,
    known_vars: HashSet<String>,
    schedules: HashMap<String, Schedule>,
    errors_before: usize,
}

type P<'p> = &'p [&'p str];

impl<'a> FlowCompiler<'a> {
    fn new(
        src: &'a SourceFile,
        raw: &'a RawFlowFile,
        id: &'a str,
        node_names: &'a HashMap<String, Vec<String>>,
        library: &'a mut PromptLibrary,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        let errors_before = diags.iter().filter(|d| d.is_error()).count();
        FlowCompiler {
            src,
            raw,
            id,
            node_names,
            library,
            diags,
            index: HashMap::new(),
            languages: Vec::new(),
            known_vars: HashSet::new(),
            schedules: HashMap::new(),
            errors_before,
        }
    }

    fn error(
        &mut self,
        code: Code,
        message: impl Into<String>,
        loc: Option<Location>,
        label: &str,
        hint: Option<String>,
    ) {
        self.diags.push(
            Diagnostic::new(code, message)
                .at(loc)
                .label(label)
                .hint(hint),
        );
    }

    fn compile(&mut self) -> Option<Flow> {
        let raw = self.raw;
        for (i, name) in raw.nodes.keys().enumerate() {
            let path = ["nodes", name.as_str()];
            if RESERVED_TARGETS.contains(&name.as_str()) || name.contains(':') || name.is_empty() {
                self.error(
                    Code::InvalidValue,
                    format!("`{name}` cannot be a node id"),
                    self.src.key_at(&path),
                    "reserved",
                    Some("`repeat`, `back`, `start` and `hangup` are targets of their own, and `:` separates flow and node; rename the node".into()),
                );
            }
            self.index
                .insert(name.as_str(), NodeId(u32::try_from(i).unwrap_or(u32::MAX)));
        }
        self.check_duplicate_keys(&[]);
        self.languages();
        self.collect_vars();
        self.hours();

        let start = match self.target(&raw.start, &["start"]) {
            Target::Node(n) => n,
            _ => {
                if self.index.contains_key(raw.start.as_str())
                    || !RESERVED_TARGETS.contains(&raw.start.as_str())
                {
                    NodeId(0)
                } else {
                    self.error(
                        Code::InvalidValue,
                        "`start` must name a node of this flow",
                        self.src.value_at(&["start"]),
                        "not a node",
                        None,
                    );
                    NodeId(0)
                }
            }
        };
        let defaults = self.defaults();
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        for (name, node) in &raw.nodes {
            let line = self.src.spans.key(&["nodes", name]).map_or(0, |s| s.line);
            let kind = self.node(name, node, &defaults);
            nodes.push(Node {
                name: name.clone(),
                line,
                kind,
            });
        }
        let errors_now = self.diags.iter().filter(|d| d.is_error()).count();
        if errors_now > self.errors_before || nodes.is_empty() {
            if nodes.is_empty() {
                self.error(
                    Code::MissingField,
                    "a flow needs at least one node",
                    self.src.locate(&["nodes"]),
                    "empty",
                    None,
                );
            }
            return None;
        }
        Some(Flow {
            id: self.id.to_owned(),
            source: self.src.path.clone(),
            numbers: raw.numbers.clone(),
            is_default: raw.default,
            languages: self.languages.clone(),
            start,
            nodes,
            max_steps: defaults.max_steps,
            on_fail: defaults.on_fail.clone(),
        })
    }

    /// YAML lets a key appear twice with the last one silently winning; a flow never wants that.
    fn check_duplicate_keys(&mut self, path: &[&str]) {
        let keys = self.src.spans.keys(path);
        let mut seen: HashSet<&str> = HashSet::new();
        for (key, span) in &keys {
            if !seen.insert(key.as_str()) {
                let in_options = path.last() == Some(&"options");
                let (code, what) = if in_options {
                    (Code::DuplicateKey, format!("two options on key `{key}`"))
                } else {
                    (Code::DuplicateKey, format!("`{key}` appears twice"))
                };
                self.diags.push(
                    Diagnostic::new(code, what)
                        .at(Some(Location::new(&self.src.path, &self.src.text, *span)))
                        .label("second definition")
                        .hint(Some(
                            "YAML keeps only the last one; remove or merge the two".into(),
                        )),
                );
            }
        }
        for (key, _) in &keys {
            let mut child: Vec<&str> = path.to_vec();
            child.push(key);
            if !self.src.spans.keys(&child).is_empty() {
                self.check_duplicate_keys(&child);
            }
        }
    }

    fn languages(&mut self) {
        let raw = self.raw;
        if raw.languages.is_empty() {
            self.error(
                Code::MissingField,
                "a flow needs at least one language",
                self.src.locate(&["languages"]),
                "empty",
                Some("e.g. `languages: [en]`".into()),
            );
        }
        for (i, code) in raw.languages.iter().enumerate() {
            let path = ["languages".to_string(), i.to_string()];
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            if self.library.catalog(code).is_none() {
                let hint = Some(format!(
                    "create {} with the prompt texts",
                    self.library.catalog_path(code).display()
                ));
                self.error(
                    Code::UnknownLanguage,
                    format!("language `{code}` has no prompt catalog"),
                    self.src.value_at(&path),
                    "no catalog",
                    hint,
                );
            }
            self.languages.push(Language {
                code: code.clone(),
                locale: raw.locale.get(code).cloned(),
                voice: raw.voice.get(code).cloned(),
            });
        }
        for section in ["locale", "voice"] {
            let map = if section == "locale" {
                &raw.locale
            } else {
                &raw.voice
            };
            for code in map.keys() {
                if !raw.languages.contains(code) {
                    let hint = did_you_mean(code, raw.languages.iter().map(String::as_str))
                        .or_else(|| Some(format!("add `{code}` to `languages`")));
                    self.error(
                        Code::UnknownLanguage,
                        format!("`{section}` names language `{code}` the flow does not declare"),
                        self.src.key_at(&[section, code]),
                        "not in `languages`",
                        hint,
                    );
                }
            }
        }
    }

    /// Every variable a template may name: the call's own and whatever the flow sets.
    fn collect_vars(&mut self) {
        for v in ["caller", "called", "language", "call_sid"] {
            self.known_vars.insert(v.to_owned());
        }
        let mut add = |v: &str| {
            self.known_vars.insert(v.to_owned());
        };
        for opt in self.raw.defaults.options.values() {
            if let RawOption::Full(f) = opt {
                f.set.keys().for_each(|k| add(k));
            }
        }
        for node in self.raw.nodes.values() {
            match node {
                RawNode::Menu(m) => {
                    m.store.iter().for_each(|s| add(s));
                    for opt in m.options.values() {
                        if let RawOption::Full(f) = opt {
                            f.set.keys().for_each(|k| add(k));
                        }
                    }
                }
                RawNode::Input(i) => add(&i.store),
                RawNode::Lookup(l) => add(&l.store),
                RawNode::Set(s) => s.vars.keys().for_each(|k| add(k)),
                _ => {}
            }
        }
    }

    fn hours(&mut self) {
        for (name, h) in &self.raw.hours {
            let weekly: Vec<(String, String)> = h
                .weekly
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match Schedule::parse(&h.timezone, &weekly, &h.closed) {
                Ok(s) => {
                    self.schedules.insert(name.clone(), s);
                }
                Err(errors) => {
                    for e in errors {
                        let loc = match &e.field {
                            HoursField::Timezone => self.src.value_at(&["hours", name, "timezone"]),
                            HoursField::WeeklyKey(i) => weekly
                                .get(*i)
                                .and_then(|(k, _)| self.src.key_at(&["hours", name, "weekly", k])),
                            HoursField::WeeklyValue(i) => weekly.get(*i).and_then(|(k, _)| {
                                self.src.value_at(&["hours", name, "weekly", k])
                            }),
                            HoursField::Closed(i) => {
                                self.src
                                    .value_at(&["hours", name, "closed", &i.to_string()])
                            }
                        };
                        let label = if e.field == HoursField::Timezone {
                            "unknown time zone"
                        } else {
                            "invalid"
                        };
                        self.error(
                            Code::InvalidHours,
                            format!("hours `{name}`: {}", e.message),
                            loc,
                            label,
                            e.hint.clone(),
                        );
                    }
                }
            }
        }
    }

    fn defaults(&mut self) -> Defaults {
        let d = &self.raw.defaults;
        let timeout = match &d.timeout {
            Some(t) => self.duration(
                t,
                &["defaults", "timeout"],
                Duration::from_secs(1),
                Duration::from_secs(60),
            ),
            None => Duration::from_secs(5),
        };
        let retries = self
            .retries(d.retries, &["defaults", "retries"])
            .unwrap_or(2);
        let invalid = d
            .invalid
            .as_ref()
            .map(|p| self.prompt(p, &["defaults", "invalid"]));
        let no_input = d
            .no_input
            .as_ref()
            .map(|p| self.prompt(p, &["defaults", "no_input"]));
        let on_fail = match &d.on_fail {
            Some(t) => self.target(t, &["defaults", "on_fail"]),
            None => Target::Hangup,
        };
        let options = self.options(&d.options, &["defaults", "options"], true);
        let max_steps = match d.max_steps {
            Some(n) if !(10..=10_000).contains(&n) => {
                self.error(
                    Code::InvalidValue,
                    format!("`max_steps: {n}` is out of range"),
                    self.src.value_at(&["defaults", "max_steps"]),
                    "between 10 and 10000",
                    None,
                );
                100
            }
            Some(n) => n,
            None => 100,
        };
        Defaults {
            timeout,
            retries,
            invalid,
            no_input,
            on_fail,
            options,
            max_steps,
        }
    }

    fn retries(&mut self, n: Option<u32>, path: P) -> Option<u32> {
        match n {
            Some(n) if n > 10 => {
                self.error(
                    Code::InvalidValue,
                    format!("`retries: {n}` is out of range"),
                    self.src.value_at(path),
                    "at most 10",
                    Some("callers rarely try more than 3 times".into()),
                );
                None
            }
            n => n,
        }
    }

    fn node(&mut self, name: &str, node: &RawNode, defaults: &Defaults) -> NodeKind {
        let kind = node.kind();
        let base = ["nodes", name, kind];
        let p = |field: &'static str| -> [&str; 4] { [base[0], base[1], base[2], field] };
        match node {
            RawNode::Menu(m) => {
                let prompt = self.prompt(&m.prompt, &p("prompt"));
                let reprompt = m.reprompt.as_ref().map(|r| self.prompt(r, &p("reprompt")));
                let mut options = self.options(&m.options, &p("options"), false);
                for inherited in &defaults.options {
                    if !options.iter().any(|o| o.key == inherited.key) {
                        options.push(inherited.clone());
                    }
                }
                if m.options.is_empty() && defaults.options.is_empty() {
                    self.error(
                        Code::MissingField,
                        format!("menu `{name}` has no options"),
                        self.src.key_at(&base),
                        "no options",
                        Some("add `options: { \"1\": some_node }`".into()),
                    );
                }
                let store = m.store.clone();
                let retry = self.retry(
                    name,
                    kind,
                    m.timeout.as_ref(),
                    m.retries,
                    m.invalid.as_ref(),
                    m.no_input.as_ref(),
                    m.on_fail.as_ref(),
                    defaults,
                );
                NodeKind::Menu(MenuNode {
                    prompt,
                    reprompt,
                    options,
                    store,
                    retry,
                })
            }
            RawNode::Input(i) => self.input(name, i, defaults),
            RawNode::Message(m) => NodeKind::Message(MessageNode {
                prompt: self.prompt(&m.prompt, &p("prompt")),
                next: self.opt_target(m.next.as_ref(), &p("next"), Target::Hangup),
            }),
            RawNode::Transfer(t) => {
                let to = self.dial_target(&t.to, &p("to"));
                if let Some(cid) = &t.caller_id {
                    if !is_e164(cid) {
                        self.error(
                            Code::InvalidValue,
                            format!("caller id `{cid}` is not a phone number"),
                            self.src.value_at(&p("caller_id")),
                            "expected E.164",
                            Some("e.g. \"+14155550100\"".into()),
                        );
                    }
                }
                let timeout = match &t.timeout {
                    Some(d) => self.duration(
                        d,
                        &p("timeout"),
                        Duration::from_secs(5),
                        Duration::from_secs(600),
                    ),
                    None => Duration::from_secs(30),
                };
                NodeKind::Transfer(TransferNode {
                    to,
                    caller_id: t.caller_id.clone(),
                    timeout,
                    prompt: t.prompt.as_ref().map(|pr| self.prompt(pr, &p("prompt"))),
                    next: self.opt_target(t.next.as_ref(), &p("next"), Target::Hangup),
                    on_no_answer: self.opt_target(
                        t.on_no_answer.as_ref(),
                        &p("on_no_answer"),
                        defaults.on_fail.clone(),
                    ),
                })
            }
            RawNode::Queue(q) => {
                if q.name.trim().is_empty() {
                    self.error(
                        Code::InvalidValue,
                        "a queue needs a name",
                        self.src.value_at(&p("name")),
                        "empty",
                        None,
                    );
                }
                NodeKind::Queue(QueueNode {
                    name: q.name.clone(),
                    hold: q.hold.as_ref().map(|h| self.prompt(h, &p("hold"))),
                    next: self.opt_target(q.next.as_ref(), &p("next"), Target::Hangup),
                })
            }
            RawNode::Voicemail(v) => {
                let max_length = match &v.max_length {
                    Some(d) => self.duration(
                        d,
                        &p("max_length"),
                        Duration::from_secs(1),
                        Duration::from_secs(3600),
                    ),
                    None => Duration::from_secs(120),
                };
                let finish_on = self
                    .key_char(v.finish_on.as_deref(), &p("finish_on"))
                    .or(Some('#'));
                NodeKind::Voicemail(VoicemailNode {
                    prompt: v.prompt.as_ref().map(|pr| self.prompt(pr, &p("prompt"))),
                    max_length,
                    finish_on,
                    next: self.opt_target(v.next.as_ref(), &p("next"), Target::Hangup),
                })
            }
            RawNode::Branch(b) => self.branch(name, b),
            RawNode::Set(s) => {
                let vars = self.assignments(&s.vars, &p("vars"));
                NodeKind::Set(SetNode {
                    vars,
                    next: self.target(&s.next, &p("next")),
                })
            }
            RawNode::Lookup(l) => self.lookup(name, l),
            RawNode::Hangup(h) => NodeKind::Hangup(HangupNode {
                prompt: h.prompt.as_ref().map(|pr| self.prompt(pr, &p("prompt"))),
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn retry(
        &mut self,
        name: &str,
        kind: &str,
        timeout: Option<&RawDuration>,
        retries: Option<u32>,
        invalid: Option<&RawPrompt>,
        no_input: Option<&RawPrompt>,
        on_fail: Option<&String>,
        defaults: &Defaults,
    ) -> Retry {
        let p = |field: &'static str| -> [&str; 4] { ["nodes", name, kind, field] };
        Retry {
            timeout: match timeout {
                Some(t) => self.duration(
                    t,
                    &p("timeout"),
                    Duration::from_secs(1),
                    Duration::from_secs(60),
                ),
                None => defaults.timeout,
            },
            retries: self
                .retries(retries, &p("retries"))
                .unwrap_or(defaults.retries),
            invalid: match invalid {
                Some(pr) => Some(self.prompt(pr, &p("invalid"))),
                None => defaults.invalid.clone(),
            },
            no_input: match no_input {
                Some(pr) => Some(self.prompt(pr, &p("no_input"))),
                None => defaults.no_input.clone(),
            },
            on_fail: self.opt_target(on_fail, &p("on_fail"), defaults.on_fail.clone()),
        }
    }

    fn input(&mut self, name: &str, i: &RawInput, defaults: &Defaults) -> NodeKind {
        let p = |field: &'static str| -> [&str; 4] { ["nodes", name, "input", field] };
        let digits = match (i.digits, i.min_digits, i.max_digits) {
            (Some(n), None, None) => DigitCount { min: n, max: n },
            (Some(_), _, _) => {
                self.error(Code::InvalidValue, "`digits` and `min_digits`/`max_digits` exclude each other", self.src.key_at(&p("digits")), "pick one", Some("use `digits: 6` for an exact count or `min_digits`/`max_digits` for a range".into()));
                DigitCount { min: 1, max: 1 }
            }
            (None, min, max) => DigitCount {
                min: min.unwrap_or(1),
                max: max.unwrap_or(20),
            },
        };
        if digits.min == 0 || digits.max > 30 || digits.min > digits.max {
            self.error(
                Code::InvalidValue,
                format!("digit count {}..{} is out of range", digits.min, digits.max),
                self.src
                    .locate(&p(if i.digits.is_some() {
                        "digits"
                    } else {
                        "min_digits"
                    }))
                    .or_else(|| self.src.key_at(&["nodes", name, "input"])),
                "1 to 30 digits, min <= max",
                None,
            );
        }
        let finish_on = self.key_char(i.finish_on.as_deref(), &p("finish_on"));
        let finish_on = match (finish_on, digits.min == digits.max) {
            (None, false) => Some('#'),
            (f, _) => f,
        };
        let luhn = match i.validate.as_deref() {
            None => false,
            Some("luhn") => true,
            Some(other) => {
                let hint = did_you_mean(other, ["luhn"]).or_else(|| {
                    Some("the built-in check is `luhn`; use `pattern:` for others".into())
                });
                self.error(
                    Code::InvalidValue,
                    format!("unknown check `{other}`"),
                    self.src.value_at(&p("validate")),
                    "not a check",
                    hint,
                );
                false
            }
        };
        let pattern = i.pattern.as_ref().and_then(|pat| match regex::Regex::new(pat) {
            Ok(re) => {
                if !crate::flow::graph_check::pattern_accepts_some_length(pat, digits.min, digits.max) {
                    let count = if digits.min == digits.max { format!("{} digits", digits.min) } else { format!("{} to {} digits", digits.min, digits.max) };
                    self.error(Code::UnsatisfiablePattern, format!("pattern `{pat}` never matches {count}"), self.src.value_at(&p("pattern")), "no digit string of that length matches", Some("make `digits` and `pattern` agree, e.g. `digits: 6` with `^[0-9]{6}$`".into()));
                }
                Some(re)
            }
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or("").trim().to_owned();
                self.error(Code::InvalidValue, format!("pattern `{pat}` is not a regular expression: {first}"), self.src.value_at(&p("pattern")), "invalid regex", None);
                None
            }
        });
        let retry = self.retry(
            name,
            "input",
            i.timeout.as_ref(),
            i.retries,
            i.invalid.as_ref(),
            i.no_input.as_ref(),
            i.on_fail.as_ref(),
            defaults,
        );
        NodeKind::Input(InputNode {
            prompt: self.prompt(&i.prompt, &p("prompt")),
            store: i.store.clone(),
            digits,
            finish_on,
            luhn,
            pattern,
            sensitive: i.sensitive.unwrap_or(luhn),
            next: self.target(&i.next, &p("next")),
            retry,
        })
    }

    fn branch(&mut self, name: &str, b: &RawBranch) -> NodeKind {
        let p = |field: &'static str| -> [&str; 4] { ["nodes", name, "branch", field] };
        if let Some(hours) = &b.hours {
            if b.when.is_some() || b.otherwise.is_some() {
                self.error(
                    Code::InvalidValue,
                    "a branch routes by `hours` or by `when`, not both",
                    self.src
                        .key_at(&p("when"))
                        .or_else(|| self.src.key_at(&p("else"))),
                    "second kind of branch",
                    Some("split it into two branch nodes".into()),
                );
            }
            let open = self.required_target(b.open.as_ref(), name, "branch", "open");
            let closed = self.required_target(b.closed.as_ref(), name, "branch", "closed");
            let Some(schedule) = self.schedules.get(hours).cloned() else {
                if !self.raw.hours.contains_key(hours) {
                    let hint = did_you_mean(hours, self.raw.hours.keys().map(String::as_str))
                        .or_else(|| {
                            Some("declare it under `hours:` at the top of the flow".into())
                        });
                    self.error(
                        Code::UnknownHours,
                        format!("unknown hours `{hours}`"),
                        self.src.value_at(&p("hours")),
                        "no such schedule",
                        hint,
                    );
                }
                // The flow has an error and will not be served; keep compiling for more diagnostics.
                return NodeKind::Branch(BranchNode::When {
                    arms: vec![],
                    otherwise: closed,
                });
            };
            return NodeKind::Branch(BranchNode::Hours {
                name: hours.clone(),
                schedule: Box::new(schedule),
                open,
                closed,
            });
        }
        let Some(when) = &b.when else {
            self.error(
                Code::MissingField,
                "a branch needs `hours` (with `open`/`closed`) or `when` (with `else`)",
                self.src.key_at(&["nodes", name, "branch"]),
                "nothing to route by",
                None,
            );
            return NodeKind::Branch(BranchNode::When {
                arms: vec![],
                otherwise: Target::Hangup,
            });
        };
        let mut arms = Vec::new();
        for (i, arm) in when.iter().enumerate() {
            let idx = i.to_string();
            let cpath = ["nodes", name, "branch", "when", &idx, "if"];
            let c = &arm.condition;
            let cond = match (&c.var, &c.caller) {
                (Some(var), None) => {
                    let root = var.split('.').next().unwrap_or(var);
                    if !self.known_vars.contains(root) {
                        let hint = did_you_mean(root, self.known_vars.iter().map(String::as_str));
                        self.error(
                            Code::UnknownVariable,
                            format!("no part of the flow sets `{root}`"),
                            self.src.value_at(&[cpath.as_slice(), &["var"]].concat()),
                            "unknown variable",
                            hint,
                        );
                    }
                    match (&c.equals, &c.one_of, c.exists) {
                        (Some(v), None, None) => Condition::VarIn {
                            var: var.clone(),
                            values: vec![v.0.clone()],
                        },
                        (None, Some(vs), None) => Condition::VarIn {
                            var: var.clone(),
                            values: vs.iter().map(|v| v.0.clone()).collect(),
                        },
                        (None, None, Some(e)) => Condition::VarExists {
                            var: var.clone(),
                            exists: e,
                        },
                        _ => {
                            self.error(Code::InvalidValue, "a `var` condition needs exactly one of `equals`, `one_of`, `exists`", self.src.value_at(&cpath), "ambiguous condition", None);
                            Condition::VarExists {
                                var: var.clone(),
                                exists: true,
                            }
                        }
                    }
                }
                (None, Some(numbers))
                    if c.equals.is_none() && c.one_of.is_none() && c.exists.is_none() =>
                {
                    Condition::CallerIn(numbers.clone())
                }
                _ => {
                    self.error(Code::InvalidValue, "a condition is `{var: NAME, equals: VALUE}` (or `one_of`, `exists`) or `{caller: [NUMBERS]}`", self.src.value_at(&cpath), "unreadable condition", None);
                    Condition::CallerIn(vec![])
                }
            };
            let target = self.target(&arm.goto, &["nodes", name, "branch", "when", &idx, "goto"]);
            arms.push((cond, target));
        }
        let otherwise = self.required_target(b.otherwise.as_ref(), name, "branch", "else");
        NodeKind::Branch(BranchNode::When { arms, otherwise })
    }

    fn lookup(&mut self, name: &str, l: &RawLookup) -> NodeKind {
        let p = |field: &'static str| -> [&str; 4] { ["nodes", name, "lookup", field] };
        let url = self.template(&l.url, &p("url"));
        if !(l.url.starts_with("http://") || l.url.starts_with("https://")) {
            self.error(
                Code::InvalidValue,
                format!("lookup url `{}` is not http(s)", l.url),
                self.src.value_at(&p("url")),
                "expected http:// or https://",
                None,
            );
        }
        let method = match l.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("GET") => LookupMethod::Get,
            Some("POST") => LookupMethod::Post,
            Some(other) => {
                self.error(
                    Code::InvalidValue,
                    format!("unknown method `{other}`"),
                    self.src.value_at(&p("method")),
                    "GET or POST",
                    did_you_mean(other, ["GET", "POST"]),
                );
                LookupMethod::Get
            }
        };
        let timeout = match &l.timeout {
            Some(t) => self.duration(
                t,
                &p("timeout"),
                Duration::from_millis(100),
                Duration::from_secs(10),
            ),
            None => Duration::from_secs(2),
        };
        NodeKind::Lookup(LookupNode {
            url,
            method,
            timeout,
            store: l.store.clone(),
            next: self.target(&l.next, &p("next")),
            on_error: self.target(&l.on_error, &p("on_error")),
        })
    }

    fn required_target(
        &mut self,
        t: Option<&String>,
        name: &str,
        kind: &str,
        field: &str,
    ) -> Target {
        match t {
            Some(t) => self.target(t, &["nodes", name, kind, field]),
            None => {
                self.error(
                    Code::MissingField,
                    format!("missing field `{field}` in node `{name}`"),
                    self.src.key_at(&["nodes", name, kind]),
                    &format!("needs `{field}`"),
                    Some(format!("add `{field}: NODE`")),
                );
                Target::Hangup
            }
        }
    }

    fn opt_target(&mut self, t: Option<&String>, path: P, default: Target) -> Target {
        match t {
            Some(t) => self.target(t, path),
            None => default,
        }
    }

    /// Resolves a target word; reports a node that does not exist with the nearest id.
    fn target(&mut self, text: &str, path: P) -> Target {
        match text {
            "repeat" => return Target::Repeat,
            "back" => return Target::Back,
            "start" => return Target::Start,
            "hangup" => return Target::Hangup,
            _ => {}
        }
        if let Some(id) = self.index.get(text) {
            return Target::Node(*id);
        }
        if let Some((flow, node)) = text.split_once(':') {
            match self.node_names.get(flow) {
                Some(nodes) if nodes.iter().any(|n| n == node) => {
                    return Target::Flow {
                        flow: flow.to_owned(),
                        node: node.to_owned(),
                    };
                }
                Some(nodes) => {
                    let hint = did_you_mean(node, nodes.iter().map(String::as_str))
                        .map(|h| h.replace("`?", &format!("` (`{flow}:…`)?")));
                    self.error(
                        Code::UnknownTarget,
                        format!("flow `{flow}` has no node `{node}`"),
                        self.src.value_at(path),
                        "no such node",
                        hint,
                    );
                }
                None => {
                    let hint = did_you_mean(flow, self.node_names.keys().map(String::as_str));
                    self.error(
                        Code::UnknownTarget,
                        format!("target `{text}` names flow `{flow}`, which does not exist"),
                        self.src.value_at(path),
                        "no such flow",
                        hint,
                    );
                }
            }
            return Target::Hangup;
        }
        let candidates = self.index.keys().copied().chain(RESERVED_TARGETS);
        let hint = did_you_mean(text, candidates).or_else(|| Some("a target is a node id of this flow, `flow:node`, `repeat`, `back`, `start` or `hangup`".into()));
        self.error(
            Code::UnknownTarget,
            format!("target `{text}` names no node"),
            self.src.value_at(path),
            "no such node",
            hint,
        );
        Target::Hangup
    }

    fn options(
        &mut self,
        raw: &IndexMap<String, RawOption>,
        path: P,
        inherited: bool,
    ) -> Vec<MenuOption> {
        let mut out = Vec::new();
        for (key, opt) in raw {
            let mut kpath = path.to_vec();
            kpath.push(key);
            let mut chars = key.chars();
            let key_char = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
                _ => {
                    self.error(
                        Code::InvalidKey,
                        format!("`{key}` is not a phone key"),
                        self.src.key_at(&kpath),
                        "not 0-9, * or #",
                        Some("menu keys are single keys: \"0\" to \"9\", \"*\" or \"#\"".into()),
                    );
                    continue;
                }
            };
            let (goto, set) = match opt {
                RawOption::Goto(g) => (g, Vec::new()),
                RawOption::Full(f) => {
                    let mut spath = kpath.clone();
                    spath.push("set");
                    let set = self.assignments(&f.set, &spath);
                    (&f.goto, set)
                }
            };
            let mut tpath = kpath.clone();
            if matches!(opt, RawOption::Full(_)) {
                tpath.push("goto");
            }
            let target = self.target(goto, &tpath);
            out.push(MenuOption {
                key: key_char,
                target,
                set,
                inherited,
            });
        }
        out
    }

    fn assignments(
        &mut self,
        vars: &IndexMap<String, RawScalar>,
        path: P,
    ) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        for (name, value) in vars {
            let mut vpath = path.to_vec();
            vpath.push(name);
            if name == "language"
                && !value.0.contains('{')
                && !self.raw.languages.contains(&value.0)
            {
                let hint = did_you_mean(&value.0, self.raw.languages.iter().map(String::as_str))
                    .or_else(|| {
                        Some(format!(
                            "declared languages: {}",
                            self.raw.languages.join(", ")
                        ))
                    });
                self.error(
                    Code::UnknownLanguage,
                    format!("`language: {}` is not a language of this flow", value.0),
                    self.src.value_at(&vpath),
                    "not in `languages`",
                    hint,
                );
            }
            out.push((name.clone(), self.template(&value.0, &vpath)));
        }
        out
    }

    fn template(&mut self, text: &str, path: P) -> Template {
        match parse_template(text) {
            Ok(t) => {
                for var in t.vars() {
                    let root = var.split('.').next().unwrap_or(var);
                    if !self.known_vars.contains(root) {
                        let hint = did_you_mean(root, self.known_vars.iter().map(String::as_str));
                        self.error(
                            Code::UnknownVariable,
                            format!("no part of the flow sets `{root}`"),
                            self.src.value_at(path),
                            &format!("`{{{var}}}` is never set"),
                            hint,
                        );
                    }
                }
                t
            }
            Err(e) => {
                self.error(
                    Code::InvalidValue,
                    format!("template: {e}"),
                    self.src.value_at(path),
                    "bad template",
                    None,
                );
                Template::literal(text)
            }
        }
    }

    fn duration(&mut self, raw: &RawDuration, path: P, min: Duration, max: Duration) -> Duration {
        match parse_duration(&raw.0) {
            Some(d) if d >= min && d <= max => d,
            Some(d) => {
                let hint = Some(format!(
                    "between {} and {}",
                    format_duration(min),
                    format_duration(max)
                ));
                self.error(
                    Code::InvalidDuration,
                    format!("duration `{}` is out of range", raw.0),
                    self.src.value_at(path),
                    &format!("{} here", format_duration(d)),
                    hint,
                );
                d.clamp(min, max)
            }
            None => {
                self.error(
                    Code::InvalidDuration,
                    format!("`{}` is not a duration", raw.0),
                    self.src.value_at(path),
                    "not a duration",
                    Some("write `500ms`, `5s`, `2m` or a number of seconds".into()),
                );
                min
            }
        }
    }

    fn key_char(&mut self, key: Option<&str>, path: P) -> Option<char> {
        let key = key?;
        let mut chars = key.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Some(c),
            _ => {
                self.error(
                    Code::InvalidKey,
                    format!("`{key}` is not a phone key"),
                    self.src.value_at(path),
                    "not 0-9, * or #",
                    Some("use a single key, usually \"#\"".into()),
                );
                None
            }
        }
    }

    fn dial_target(&mut self, to: &str, path: P) -> DialTarget {
        if let Some(sip) = to.strip_prefix("sip:") {
            if sip.contains('@') {
                return DialTarget::Sip(to.to_owned());
            }
        } else if let Some(client) = to.strip_prefix("client:") {
            if !client.is_empty() {
                return DialTarget::Client(client.to_owned());
            }
        } else if is_e164(to) {
            return DialTarget::Number(to.to_owned());
        }
        self.error(
            Code::InvalidValue,
            format!("cannot dial `{to}`"),
            self.src.value_at(path),
            "not a number or address",
            Some("use an E.164 number (\"+14155550100\"), `sip:user@host` or `client:name`".into()),
        );
        DialTarget::Number(to.to_owned())
    }

    /// Resolves a prompt for every language of the flow.
    fn prompt(&mut self, raw: &RawPrompt, path: P) -> Prompt {
        let langs: Vec<String> = self.languages.iter().map(|l| l.code.clone()).collect();
        let mut by_language = vec![Vec::new(); langs.len()];
        for (i, item) in raw.items().iter().enumerate() {
            let idx = i.to_string();
            let mut ipath = path.to_vec();
            if raw.is_list() {
                ipath.push(&idx);
            }
            let forced = match item {
                RawPromptItem::Map(m) => m.lang.as_ref(),
                RawPromptItem::Id(_) => None,
            };
            let forced = match forced {
                Some(code) => match langs.iter().position(|l| l == code) {
                    Some(pos) => Some(pos),
                    None => {
                        let mut lpath = ipath.clone();
                        lpath.push("lang");
                        let hint = did_you_mean(code, langs.iter().map(String::as_str))
                            .or_else(|| Some(format!("declared languages: {}", langs.join(", "))));
                        self.error(
                            Code::UnknownLanguage,
                            format!("`lang: {code}` is not a language of this flow"),
                            self.src.value_at(&lpath),
                            "not in `languages`",
                            hint,
                        );
                        continue;
                    }
                },
                None => None,
            };
            let mut missing = Vec::new();
            for (li, parts) in by_language.iter_mut().enumerate() {
                let lang = forced.unwrap_or(li);
                let lang_idx = LangIdx(u16::try_from(lang).unwrap_or(0));
                match self.item(item, &langs[lang], lang_idx, &ipath) {
                    Ok(part) => parts.push(part),
                    Err(ItemMissing::Language) => {
                        if !missing.contains(&langs[lang]) {
                            missing.push(langs[lang].clone());
                        }
                    }
                    Err(ItemMissing::Reported) => {}
                }
            }
            if !missing.is_empty() {
                self.report_missing_prompt(item, &missing, &ipath);
            }
        }
        Prompt { by_language }
    }

    fn report_missing_prompt(&mut self, item: &RawPromptItem, missing: &[String], path: P) {
        let (what, id) = match item {
            RawPromptItem::Id(id) => (format!("prompt `{id}`"), Some(id.as_str())),
            RawPromptItem::Map(m) => match (&m.prompt, &m.say) {
                (Some(id), _) => (format!("prompt `{id}`"), Some(id.as_str())),
                _ => ("`say`".to_owned(), None),
            },
        };
        let mut loc_path = path.to_vec();
        if let RawPromptItem::Map(m) = item {
            loc_path.push(if m.prompt.is_some() { "prompt" } else { "say" });
        }
        let langs = missing.join("`, `");
        let hint = match id {
            Some(id) => missing
                .first()
                .and_then(|l| self.library.catalog(l))
                .and_then(|c| did_you_mean(id, c.keys().map(String::as_str)))
                .or_else(|| {
                    Some(format!(
                        "add `{id}: \"...\"` to {} or record {}",
                        self.library.catalog_path(&missing[0]).display(),
                        self.library.recording_hint(&missing[0], id)
                    ))
                }),
            None => Some(format!("add a `{}:` text to the `say` map", missing[0])),
        };
        self.error(
            Code::MissingPrompt,
            format!("{what} has no text or recording in `{langs}`"),
            self.src.value_at(&loc_path),
            &format!("missing in `{langs}`"),
            hint,
        );
    }

    fn item(
        &mut self,
        item: &RawPromptItem,
        lang: &str,
        lang_idx: LangIdx,
        path: P,
    ) -> Result<PromptPart, ItemMissing> {
        match item {
            RawPromptItem::Id(id) => self.prompt_id(id, lang, lang_idx, path),
            RawPromptItem::Map(m) => {
                let given = [
                    m.say.is_some(),
                    m.play.is_some(),
                    m.pause.is_some(),
                    m.prompt.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if given != 1 {
                    self.error(
                        Code::InvalidValue,
                        "a prompt item has exactly one of `say`, `play`, `pause`, `prompt`",
                        self.src.value_at(path),
                        if given == 0 {
                            "none given"
                        } else {
                            "more than one"
                        },
                        Some("split it into a list of items".into()),
                    );
                    return Err(ItemMissing::Reported);
                }
                if let Some(id) = &m.prompt {
                    let mut p = path.to_vec();
                    p.push("prompt");
                    return self.prompt_id(id, lang, lang_idx, &p);
                }
                if let Some(say) = &m.say {
                    let mut p = path.to_vec();
                    p.push("say");
                    let text = match say {
                        RawText::Same(t) => t.as_str(),
                        RawText::PerLanguage(map) => {
                            for code in map.keys() {
                                if !self.raw.languages.contains(code) {
                                    let mut kp = p.clone();
                                    kp.push(code);
                                    let hint = did_you_mean(
                                        code,
                                        self.raw.languages.iter().map(String::as_str),
                                    );
                                    self.error(Code::UnknownLanguage, format!("`say` has text for `{code}`, which the flow does not declare"), self.src.key_at(&kp), "not in `languages`", hint);
                                }
                            }
                            match map.get(lang) {
                                Some(t) => t.as_str(),
                                None => return Err(ItemMissing::Language),
                            }
                        }
                    };
                    let text_path = match say {
                        RawText::PerLanguage(_) => [p.as_slice(), &[lang]].concat(),
                        RawText::Same(_) => p.clone(),
                    };
                    return Ok(PromptPart::Say {
                        text: self.template(text, &text_path),
                        lang: lang_idx,
                    });
                }
                if let Some(file) = &m.play {
                    let mut p = path.to_vec();
                    p.push("play");
                    let loc = self.src.value_at(&p);
                    return match self.library.play(file, lang, loc) {
                        Some((file, duration)) => Ok(PromptPart::Play { file, duration }),
                        None => Err(ItemMissing::Reported),
                    };
                }
                if let Some(d) = &m.pause {
                    let mut p = path.to_vec();
                    p.push("pause");
                    return Ok(PromptPart::Pause(self.duration(
                        d,
                        &p,
                        Duration::from_millis(100),
                        Duration::from_secs(60),
                    )));
                }
                Err(ItemMissing::Reported)
            }
        }
    }

    fn prompt_id(
        &mut self,
        id: &str,
        lang: &str,
        lang_idx: LangIdx,
        path: P,
    ) -> Result<PromptPart, ItemMissing> {
        let loc = self.src.value_at(path);
        if id.ends_with(".wav") {
            // `hold: hold.wav` names a file, not a prompt id.
            return self
                .library
                .play(id, lang, loc)
                .map(|(file, duration)| PromptPart::Play { file, duration })
                .ok_or(ItemMissing::Reported);
        }
        if let Some(found) = self.library.recording_for_id(id, lang, loc) {
            return found
                .map(|(file, duration)| PromptPart::Play { file, duration })
                .ok_or(ItemMissing::Reported);
        }
        match self.library.text(lang, id, &self.known_vars) {
            Some(Ok(text)) => Ok(PromptPart::Say {
                text,
                lang: lang_idx,
            }),
            Some(Err(())) => Err(ItemMissing::Reported),
            None => Err(ItemMissing::Language),
        }
    }
}

enum ItemMissing {
    /// Nothing for this language; the caller gathers languages into one diagnostic.
    Language,
    /// A diagnostic was already pushed.
    Reported,
}

/// Flow-wide defaults after checking.
struct Defaults {
    timeout: Duration,
    retries: u32,
    invalid: Option<Prompt>,
    no_input: Option<Prompt>,
    on_fail: Target,
    options: Vec<MenuOption>,
    max_steps: u32,
}
