//! One check per node kind.

use super::*;

/// The longest queue name Twilio's `<Enqueue>` takes
/// (<https://www.twilio.com/docs/voice/twiml/enqueue>).
const MAX_QUEUE_NAME: usize = 64;

/// The shortest and longest `<Record maxLength>` Twilio takes: an integer greater than 1,
/// at most 14,400 s on an account with the default call length.
const MIN_RECORD: Duration = Duration::from_secs(2);
const MAX_RECORD: Duration = Duration::from_secs(14_400);

impl FlowCompiler<'_> {
    pub(super) fn node(&mut self, name: &str, node: &RawNode, defaults: &Defaults) -> NodeKind {
        let kind = node.kind();
        let base = ["nodes", name, kind];
        let p = |field: &'static str| -> [&str; 4] { [base[0], base[1], base[2], field] };
        match node {
            RawNode::Menu(m) => {
                let prompt = self.prompt(&m.prompt, &p("prompt"));
                let reprompts = self.reprompts(m.reprompt.as_ref(), m.reprompts.as_deref(), &base);
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
                    reprompts,
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
                let to = self.dial_spec(&t.to, &p("to"));
                let send_digits = t
                    .send_digits
                    .as_ref()
                    .map(|d| self.send_digits(d, &to, &p("send_digits")));
                if let Some(cid) = &t.caller_id
                    && !is_e164(cid)
                {
                    self.error(
                        Code::InvalidValue,
                        format!("caller id `{cid}` is not a phone number"),
                        self.src.value_at(&p("caller_id")),
                        "expected E.164",
                        Some("e.g. \"+14155550100\"".into()),
                    );
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
                let on_no_answer = self.opt_target(
                    t.on_no_answer.as_ref(),
                    &p("on_no_answer"),
                    defaults.on_fail.clone(),
                );
                NodeKind::Transfer(TransferNode {
                    to,
                    send_digits,
                    caller_id: t.caller_id.clone(),
                    timeout,
                    prompt: t.prompt.as_ref().map(|pr| self.prompt(pr, &p("prompt"))),
                    next: self.opt_target(t.next.as_ref(), &p("next"), Target::Hangup),
                    on_busy: self.opt_target(
                        t.on_busy.as_ref(),
                        &p("on_busy"),
                        on_no_answer.clone(),
                    ),
                    on_failed: self.opt_target(
                        t.on_failed.as_ref(),
                        &p("on_failed"),
                        on_no_answer.clone(),
                    ),
                    on_no_answer,
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
                let length = q.name.chars().count();
                if length > MAX_QUEUE_NAME {
                    self.error(
                        Code::ProviderLimit,
                        format!(
                            "queue name is {length} characters; Twilio's <Enqueue> takes at most {MAX_QUEUE_NAME}"
                        ),
                        self.src.value_at(&p("name")),
                        "too long",
                        Some("use a shorter name (https://www.twilio.com/docs/voice/twiml/enqueue)".into()),
                    );
                }
                let next = self.opt_target(q.next.as_ref(), &p("next"), Target::Hangup);
                // The announcement alone may name the queue's figures.
                let added: Vec<&str> = QUEUE_VARS
                    .into_iter()
                    .filter(|v| self.known_vars.insert((*v).to_owned()))
                    .collect();
                let announce = q.announce.as_ref().map(|a| self.prompt(a, &p("announce")));
                for v in added {
                    self.known_vars.remove(v);
                }
                let max_wait = q.max_wait.as_ref().map(|d| {
                    self.duration(
                        d,
                        &p("max_wait"),
                        Duration::from_secs(10),
                        Duration::from_secs(4 * 3600),
                    )
                });
                if q.on_timeout.is_some() && max_wait.is_none() {
                    self.error(
                        Code::MissingField,
                        "`on_timeout` needs `max_wait`",
                        self.src.key_at(&p("on_timeout")),
                        "never taken",
                        Some("add `max_wait: 5m`".into()),
                    );
                }
                let leave_key = self.key_char(q.leave_key.as_deref(), &p("leave_key"));
                if q.on_leave.is_some() && q.leave_key.is_none() {
                    self.error(
                        Code::MissingField,
                        "`on_leave` needs `leave_key`",
                        self.src.key_at(&p("on_leave")),
                        "never taken",
                        Some("add `leave_key: \"1\"`".into()),
                    );
                }
                NodeKind::Queue(QueueNode {
                    name: q.name.clone(),
                    hold: q.hold.as_ref().map(|h| self.prompt(h, &p("hold"))),
                    announce,
                    max_wait,
                    on_timeout: self.opt_target(
                        q.on_timeout.as_ref(),
                        &p("on_timeout"),
                        next.clone(),
                    ),
                    leave_key,
                    on_leave: self.opt_target(q.on_leave.as_ref(), &p("on_leave"), next.clone()),
                    next,
                    on_error: self.opt_target(
                        q.on_error.as_ref(),
                        &p("on_error"),
                        defaults.on_fail.clone(),
                    ),
                })
            }
            RawNode::Voicemail(v) => {
                let max_length = match &v.max_length {
                    Some(d) => self.record_length(d, &p("max_length")),
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
            RawNode::Split(s) => self.split(name, s),
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
    pub(super) fn retry(
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

    pub(super) fn input(&mut self, name: &str, i: &RawInput, defaults: &Defaults) -> NodeKind {
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
        // Located only for a diagnostic: a clean compile builds no span index.
        let src = self.src;
        let digits_at = || {
            src.locate(&p(if i.digits.is_some() {
                "digits"
            } else {
                "min_digits"
            }))
            .or_else(|| src.key_at(&["nodes", name, "input"]))
        };
        if digits.min == 0 || digits.max == 0 {
            self.error(
                Code::ProviderLimit,
                "an input of no digits: Twilio's <Gather numDigits> is a positive number"
                    .to_owned(),
                digits_at(),
                "at least 1",
                Some("take at least one digit".into()),
            );
        } else if digits.max > 30 || digits.min > digits.max {
            self.error(
                Code::InvalidValue,
                format!("digit count {}..{} is out of range", digits.min, digits.max),
                digits_at(),
                "1 to 30 digits, min <= max",
                None,
            );
        }
        let finish_on = self.key_char(i.finish_on.as_deref(), &p("finish_on"));
        if let Some(k) = finish_on.filter(|k| k.is_ascii_digit()) {
            self.error(
                Code::InvalidKey,
                format!("`{k}` cannot end an input: it is a digit the caller may enter"),
                self.src.value_at(&p("finish_on")),
                "a digit",
                Some("use \"#\" or \"*\"".into()),
            );
        }
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
        let pattern = i.pattern.as_ref().and_then(|pat| {
            let compiled = self
                .regexes
                .entry(pat.clone())
                .or_insert_with(|| {
                    regex::Regex::new(pat).map_err(|e| {
                        e.to_string().lines().last().unwrap_or("").trim().to_owned()
                    })
                })
                .clone();
            match compiled {
                Ok(re) => {
                    let accepts = *self
                        .pattern_lengths
                        .entry((pat.clone(), digits.min, digits.max))
                        .or_insert_with(|| {
                            crate::flow::graph_check::pattern_accepts_some_length(
                                pat, digits.min, digits.max,
                            )
                        });
                    if !accepts {
                        let count = if digits.min == digits.max { format!("{} digits", digits.min) } else { format!("{} to {} digits", digits.min, digits.max) };
                        self.error(Code::UnsatisfiablePattern, format!("pattern `{pat}` never matches {count}"), self.src.value_at(&p("pattern")), "no digit string of that length matches", Some("make `digits` and `pattern` agree, e.g. `digits: 6` with `^[0-9]{6}$`".into()));
                    }
                    Some(re)
                }
                Err(first) => {
                    self.error(Code::InvalidValue, format!("pattern `{pat}` is not a regular expression: {first}"), self.src.value_at(&p("pattern")), "invalid regex", None);
                    None
                }
            }
        });
        let sensitive = i.sensitive.unwrap_or(luhn);
        let nps = match i.scale.as_deref() {
            None => false,
            Some("nps") if digits.max < 2 => {
                self.error(
                    Code::InvalidValue,
                    "an NPS answer goes up to 10, which takes two digits",
                    self.src.value_at(&p("scale")),
                    "needs up to 2 digits",
                    Some("take 1 or 2 digits: `min_digits: 1, max_digits: 2`".into()),
                );
                true
            }
            Some("nps") if sensitive => {
                self.error(
                    Code::InvalidValue,
                    "a sensitive input's answers are never reported, so it cannot be scored",
                    self.src.value_at(&p("scale")),
                    "sensitive input",
                    Some("drop `scale` or `sensitive`".into()),
                );
                false
            }
            Some("nps") => true,
            Some(other) => {
                self.error(
                    Code::InvalidValue,
                    format!("unknown scale `{other}`"),
                    self.src.value_at(&p("scale")),
                    "not a scale",
                    did_you_mean(other, ["nps"]).or_else(|| Some("the scale is `nps`".into())),
                );
                false
            }
        };
        let reprompts = self.reprompts(
            i.reprompt.as_ref(),
            i.reprompts.as_deref(),
            &["nodes", name, "input"],
        );
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
            reprompts,
            store: i.store.clone(),
            digits,
            finish_on,
            luhn,
            pattern,
            sensitive,
            nps,
            next: self.target(&i.next, &p("next")),
            retry,
        })
    }

    /// The retry prompts of a menu or input: `reprompt` (one) or `reprompts` (one per
    /// retry, the last repeating), never both.
    pub(super) fn reprompts(
        &mut self,
        one: Option<&RawPrompt>,
        many: Option<&[RawPrompt]>,
        base: P,
    ) -> Vec<Prompt> {
        let at = |field: &'static str| -> Vec<&str> { [base, &[field]].concat() };
        match (one, many) {
            (Some(_), Some(_)) => {
                self.error(
                    Code::InvalidValue,
                    "`reprompt` and `reprompts` exclude each other",
                    self.src.key_at(&at("reprompts")),
                    "pick one",
                    Some("list every retry prompt under `reprompts`".into()),
                );
                Vec::new()
            }
            (Some(r), None) => vec![self.prompt(r, &at("reprompt"))],
            (None, Some([])) => {
                self.error(
                    Code::InvalidValue,
                    "`reprompts` is empty",
                    self.src.value_at(&at("reprompts")),
                    "no prompts",
                    Some("list one prompt per retry, or leave `reprompts` out".into()),
                );
                Vec::new()
            }
            (None, Some(list)) => list
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let idx = i.to_string();
                    let path = [base, &["reprompts", idx.as_str()]].concat();
                    self.prompt(r, &path)
                })
                .collect(),
            (None, None) => Vec::new(),
        }
    }

    /// A voicemail's `max_length` within what Twilio's `<Record maxLength>` takes: more than
    /// 1 s and at most 4 h (<https://www.twilio.com/docs/voice/twiml/record>).
    fn record_length(&mut self, raw: &RawDuration, path: P) -> Duration {
        let (min, max) = (MIN_RECORD, MAX_RECORD);
        match parse_duration(&raw.0) {
            Some(d) if d < min || d > max => {
                self.error(
                    Code::ProviderLimit,
                    format!(
                        "`max_length: {}` is outside what Twilio's <Record> takes",
                        raw.0
                    ),
                    self.src.value_at(path),
                    &format!("{} here", format_duration(d)),
                    Some(
                        "<Record maxLength> is 2s to 4h (https://www.twilio.com/docs/voice/twiml/record)"
                            .into(),
                    ),
                );
                d.clamp(min, max)
            }
            _ => self.duration(raw, path, min, max),
        }
    }

    pub(super) fn split(&mut self, name: &str, s: &RawSplit) -> NodeKind {
        let mut ways: Vec<SplitWay> = Vec::with_capacity(s.ways.len());
        for (i, w) in s.ways.iter().enumerate() {
            let idx = i.to_string();
            let path = ["nodes", name, "split", "ways", &idx, "goto"];
            if ways.iter().any(|seen| seen.name == w.goto) {
                self.error(
                    Code::InvalidValue,
                    format!("two ways of split `{name}` go to `{}`", w.goto),
                    self.src.value_at(&path),
                    "already a way",
                    Some("one way per target: add their weights together".into()),
                );
            }
            ways.push(SplitWay {
                weight: w.weight,
                target: self.target(&w.goto, &path),
                name: w.goto.clone(),
            });
        }
        if ways.len() < 2 || ways.iter().all(|w| w.weight == 0) {
            let message = if ways.len() < 2 {
                format!("split `{name}` needs at least two ways")
            } else {
                format!("every way of split `{name}` has weight 0")
            };
            self.error(
                Code::InvalidValue,
                message,
                self.src.key_at(&["nodes", name, "split", "ways"]),
                "no choice to make",
                Some(
                    "e.g. `ways: [{ weight: 50, goto: menu_a }, { weight: 50, goto: menu_b }]`"
                        .into(),
                ),
            );
        }
        NodeKind::Split(SplitNode { ways })
    }

    pub(super) fn branch(&mut self, name: &str, b: &RawBranch) -> NodeKind {
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
        if let Some(field) = [("open", &b.open), ("closed", &b.closed)]
            .into_iter()
            .find_map(|(f, v)| v.is_some().then_some(f))
        {
            self.error(
                Code::InvalidValue,
                format!("`{field}` goes with `hours`, and this branch has none"),
                self.src.key_at(&p(field)),
                "never taken",
                Some("add `hours: NAME`, or route with `when` and `else`".into()),
            );
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

    pub(super) fn lookup(&mut self, name: &str, l: &RawLookup) -> NodeKind {
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
}
