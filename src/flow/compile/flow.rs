//! Flow-wide checks: node ids, languages, variables, hours, defaults.

use super::*;

impl<'a> FlowCompiler<'a> {
    pub(super) fn new(
        src: &'a SourceFile,
        raw: &'a RawFlowFile,
        id: &'a str,
        node_names: &'a HashMap<String, Vec<String>>,
        library: &'a mut PromptLibrary,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
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
            unresolved: false,
            regexes: HashMap::new(),
            pattern_lengths: HashMap::new(),
            spoken: Vec::new(),
            spoken_seen: HashSet::new(),
        }
    }

    pub(super) fn error(
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

    /// The flow as far as it compiles (errors are in the diagnostics), and whether its
    /// graph is whole: every target resolved, to its node or to the one it nearly names.
    pub(super) fn compile(&mut self) -> Option<(Flow, bool)> {
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
            let kind = self.node(name, node, &defaults);
            nodes.push(Node {
                name: name.clone(),
                kind,
            });
        }
        // Every text is known now: which values read from recordings, which languages
        // no voice speaks.
        self.readings();
        self.unspoken_languages();
        if nodes.is_empty() {
            self.error(
                Code::MissingField,
                "a flow needs at least one node",
                self.src.locate(&["nodes"]),
                "empty",
                None,
            );
            return None;
        }
        Some((
            Flow {
                id: self.id.to_owned(),
                source: self.src.path.clone(),
                numbers: raw.numbers.clone(),
                is_default: raw.default,
                languages: self.languages.clone(),
                start,
                nodes,
                max_steps: defaults.max_steps,
                on_fail: defaults.on_fail.clone(),
                apology: defaults.apology.clone(),
                closed_messages: defaults.closed_messages.clone(),
            },
            !self.unresolved,
        ))
    }

    pub(super) fn languages(&mut self) {
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
            let (locale, voice) = self.locale_and_voice(code);
            self.languages.push(Language {
                code: code.clone(),
                locale,
                voice,
                readings: Readings::default(),
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
    pub(super) fn collect_vars(&mut self) {
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

    pub(super) fn hours(&mut self) {
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

    pub(super) fn defaults(&mut self) -> Defaults {
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
        let apology = match &d.apology {
            Some(p) => self.prompt(p, &["defaults", "apology"]),
            None => self.fault_apology(),
        };
        let closed_messages = d
            .closed_messages
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let idx = i.to_string();
                let prompt = self.prompt(
                    &RawPrompt::One(RawPromptItem::Id(id.clone())),
                    &["defaults", "closed_messages", &idx],
                );
                (id.clone(), prompt)
            })
            .collect();
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
            apology,
            closed_messages,
            on_fail,
            options,
            max_steps,
        }
    }

    pub(super) fn retries(&mut self, n: Option<u32>, path: P) -> Option<u32> {
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
}
