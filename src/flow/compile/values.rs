//! Targets, menu keys, variable assignments, templates, durations and dial targets.

use super::*;

impl FlowCompiler<'_> {
    pub(super) fn required_target(
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

    pub(super) fn opt_target(&mut self, t: Option<&String>, path: P, default: Target) -> Target {
        match t {
            Some(t) => self.target(t, path),
            None => default,
        }
    }

    /// Resolves a target word; reports a node that does not exist with the nearest id.
    pub(super) fn target(&mut self, text: &str, path: P) -> Target {
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
            self.unresolved = true;
            return Target::Hangup;
        }
        let candidates = self.index.keys().copied().chain(RESERVED_TARGETS);
        let near = did_you_mean(text, candidates);
        // The graph checks of this run go where the target nearly points, as they would after the fix.
        let stands_for = near
            .as_deref()
            .and_then(|h| h.split('`').nth(1))
            .and_then(|name| self.index.get(name).copied());
        let hint = near.or_else(|| Some("a target is a node id of this flow, `flow:node`, `repeat`, `back`, `start` or `hangup`".into()));
        self.error(
            Code::UnknownTarget,
            format!("target `{text}` names no node"),
            self.src.value_at(path),
            "no such node",
            hint,
        );
        match stands_for {
            Some(id) => Target::Node(id),
            None => {
                self.unresolved = true;
                Target::Hangup
            }
        }
    }

    pub(super) fn options(
        &mut self,
        raw: &IndexMap<String, RawOption>,
        path: P,
        inherited: bool,
    ) -> Vec<MenuOption> {
        let mut out = Vec::new();
        for (key, opt) in raw {
            let mut kpath = path.to_vec();
            kpath.push(key);
            let key_char = match phone_key(key) {
                Some(c) => c,
                None => {
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

    pub(super) fn assignments(
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

    pub(super) fn template(&mut self, text: &str, path: P) -> Template {
        match parse_template(text) {
            Ok(t) => {
                for var in t.vars() {
                    let root = var.split('.').next().unwrap_or(var);
                    if !self.known_vars.contains(root) {
                        let hint = did_you_mean(root, self.known_vars.iter().map(String::as_str));
                        self.error(
                            Code::UnknownVariable,
                            format!("no part of the flow sets `{root}`"),
                            self.src
                                .value_part(path, &[&format!("{{{var}}}"), &format!("{{{var}")]),
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

    pub(super) fn duration(
        &mut self,
        raw: &RawDuration,
        path: P,
        min: Duration,
        max: Duration,
    ) -> Duration {
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

    pub(super) fn key_char(&mut self, key: Option<&str>, path: P) -> Option<char> {
        let key = key?;
        match phone_key(key) {
            Some(c) => Some(c),
            None => {
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

    /// A transfer's `to`: a fixed address, or a template whose variables exist and whose
    /// shape, with a sample value in each, is dialable.
    pub(super) fn dial_spec(&mut self, to: &str, path: P) -> DialSpec {
        if !to.contains('{') {
            return DialSpec::Fixed(self.dial_target(to, path));
        }
        let template = self.template(to, path);
        self.no_sensitive_dial(&template, path);
        let sample: String = template
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => t.as_str(),
                _ => "5550100",
            })
            .collect();
        let single_value = template.segments.len() == 1
            && !matches!(template.segments.first(), Some(Segment::Text(_)));
        if !single_value && DialTarget::parse(&sample).is_none() {
            self.error(
                Code::InvalidValue,
                format!("`{to}` does not expand to a number or address"),
                self.src.value_at(path),
                "not dialable with any value",
                Some(
                    "write `sip:{ext}@pbx.example.com`, `+1415555{ext}`, or a number in `to` with `send_digits: \"{ext}\"`"
                        .into(),
                ),
            );
        }
        DialSpec::Template(template)
    }

    /// Refuses a sensitive input's variable in what a transfer dials: it is masked after
    /// the webhook that collected it, and a stored answer would keep it in clear.
    fn no_sensitive_dial(&mut self, template: &Template, path: P) {
        let sensitive: Vec<&str> = self
            .raw
            .nodes
            .values()
            .filter_map(|n| match n {
                RawNode::Input(i)
                    if i.sensitive.unwrap_or(i.validate.as_deref() == Some("luhn")) =>
                {
                    Some(i.store.as_str())
                }
                _ => None,
            })
            .collect();
        if let Some(var) = template
            .vars()
            .map(|v| v.split('.').next().unwrap_or(v))
            .find(|v| sensitive.contains(v))
        {
            self.error(
                Code::InvalidValue,
                format!("`{{{var}}}` is sensitive input and is never dialed"),
                self.src.value_at(path),
                "sensitive",
                Some("a sensitive value is masked once collected; dial a value that is not sensitive".into()),
            );
        }
    }

    /// `send_digits`: keys a number's answerer gets; only a number takes them.
    pub(super) fn send_digits(&mut self, text: &str, to: &DialSpec, path: P) -> Template {
        let template = self.template(text, path);
        self.no_sensitive_dial(&template, path);
        let sample: String = template
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => t.as_str(),
                _ => "1",
            })
            .collect();
        if !is_send_digits(&sample) {
            self.error(
                Code::InvalidValue,
                format!("`{text}` is not keys to dial"),
                self.src.value_at(path),
                "digits, *, # and w only",
                Some("e.g. `send_digits: \"ww{ext}#\"` (w waits half a second)".into()),
            );
        }
        let to_number = match to {
            DialSpec::Fixed(DialTarget::Number(_)) => true,
            DialSpec::Fixed(_) => false,
            DialSpec::Template(t) => {
                !t.source().starts_with("sip:") && !t.source().starts_with("client:")
            }
        };
        if !to_number {
            self.error(
                Code::InvalidValue,
                "`send_digits` goes with a phone number".to_owned(),
                self.src.value_at(path),
                "the target is a SIP or client address",
                Some(
                    "put the extension in the address instead: `sip:{ext}@pbx.example.com`".into(),
                ),
            );
        }
        template
    }

    pub(super) fn dial_target(&mut self, to: &str, path: P) -> DialTarget {
        if let Some(target) = DialTarget::parse(to) {
            return target;
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
}

/// The key of a one-key string: `0`-`9`, `*` or `#`.
fn phone_key(key: &str) -> Option<char> {
    let mut chars = key.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Some(c),
        _ => None,
    }
}
