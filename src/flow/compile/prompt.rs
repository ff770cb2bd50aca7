//! Prompts resolved for every language: recordings first, then catalog text.

use super::*;

impl FlowCompiler<'_> {
    /// Resolves a prompt for every language of the flow.
    pub(super) fn prompt(&mut self, raw: &RawPrompt, path: P) -> Prompt {
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
                match self.item(item, &langs[lang], lang_idx, &ipath, parts) {
                    Ok(()) => {}
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
        let items: Vec<String> = raw.items().iter().map(summarize_item).collect();
        Prompt {
            by_language,
            summary: items.join(", "),
            items,
        }
    }

    pub(super) fn report_missing_prompt(
        &mut self,
        item: &RawPromptItem,
        missing: &[String],
        path: P,
    ) {
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

    pub(super) fn item(
        &mut self,
        item: &RawPromptItem,
        lang: &str,
        lang_idx: LangIdx,
        path: P,
        out: &mut Vec<PromptPart>,
    ) -> Result<(), ItemMissing> {
        match item {
            RawPromptItem::Id(id) => self.prompt_id(id, lang, lang_idx, path, out),
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
                    return self.prompt_id(id, lang, lang_idx, &p, out);
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
                    let text = self.template(text, &text_path);
                    self.said(
                        &text,
                        lang_idx,
                        || say_label(path),
                        || TextAt::Flow(text_path.iter().map(|s| (*s).to_owned()).collect()),
                    );
                    out.push(PromptPart::Say {
                        text,
                        lang: lang_idx,
                    });
                    return Ok(());
                }
                if let Some(file) = &m.play {
                    let mut p = path.to_vec();
                    p.push("play");
                    let src = self.src;
                    let loc = || src.value_at(&p);
                    return match self.library.play(file, lang, &loc) {
                        Some((file, duration)) => {
                            out.push(PromptPart::Play { file, duration });
                            Ok(())
                        }
                        None => Err(ItemMissing::Reported),
                    };
                }
                if let Some(d) = &m.pause {
                    let mut p = path.to_vec();
                    p.push("pause");
                    let pause =
                        self.duration(d, &p, Duration::from_millis(100), Duration::from_secs(60));
                    out.push(PromptPart::Pause(pause));
                    return Ok(());
                }
                Err(ItemMissing::Reported)
            }
        }
    }

    pub(super) fn prompt_id(
        &mut self,
        id: &str,
        lang: &str,
        lang_idx: LangIdx,
        path: P,
        out: &mut Vec<PromptPart>,
    ) -> Result<(), ItemMissing> {
        let src = self.src;
        let loc = || src.value_at(path);
        if id.ends_with(".wav") {
            // `hold: hold.wav` names a file, not a prompt id.
            return self
                .library
                .play(id, lang, &loc)
                .map(|(file, duration)| out.push(PromptPart::Play { file, duration }))
                .ok_or(ItemMissing::Reported);
        }
        if let Some(found) = self.library.recording_for_id(id, lang, &loc) {
            return found
                .map(|(file, duration)| out.push(PromptPart::Play { file, duration }))
                .ok_or(ItemMissing::Reported);
        }
        match self.library.entry(lang, id, &self.known_vars) {
            Some(Ok(entry)) => {
                for part in entry.iter().cloned() {
                    out.push(match part {
                        CatalogPart::Text(text) => {
                            self.said(
                                &text,
                                lang_idx,
                                || format!("`{id}`"),
                                || TextAt::Catalog {
                                    lang: lang.to_owned(),
                                    id: id.to_owned(),
                                },
                            );
                            PromptPart::Say {
                                text,
                                lang: lang_idx,
                            }
                        }
                        CatalogPart::Play { file, duration } => PromptPart::Play { file, duration },
                        CatalogPart::Pause(d) => PromptPart::Pause(d),
                    });
                }
                Ok(())
            }
            Some(Err(())) => Err(ItemMissing::Reported),
            None => match builtin_text(id, lang).map(parse_template) {
                Some(Ok(text)) => {
                    self.said(
                        &text,
                        lang_idx,
                        || format!("`{id}` (built in)"),
                        || TextAt::Nowhere,
                    );
                    out.push(PromptPart::Say {
                        text,
                        lang: lang_idx,
                    });
                    Ok(())
                }
                _ => Err(ItemMissing::Language),
            },
        }
    }

    /// Notes text a language speaks: refused when longer than its voice's `<Say>` takes,
    /// and kept for the checks that look at every text of a language no voice speaks and
    /// at every value read from recordings. What it is and where it is written are only
    /// made when needed: a clean compile of a large flow never makes them.
    pub(super) fn said(
        &mut self,
        text: &Template,
        lang: LangIdx,
        label: impl FnOnce() -> String,
        at: impl FnOnce() -> TextAt,
    ) {
        let voice = self
            .languages
            .get(lang.index())
            .and_then(|l| l.voice.as_deref());
        let engine = crate::flow::voices::Engine::of(voice);
        let bytes: usize = text
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => t.len(),
                Segment::Var { .. } => 0,
            })
            .sum();
        let reads = text
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Var { reading, .. } if *reading != Reading::Plain));
        let encoded: usize = text
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => crate::flow::voices::encoded_len(t),
                Segment::Var { .. } => 0,
            })
            .sum();
        let too_long =
            bytes > engine.say_limit() || encoded > crate::flow::voices::SAY_ENCODED_LIMIT;
        let kept = voice.is_none() || reads;
        if !too_long && !kept {
            return;
        }
        let who = voice.unwrap_or("Twilio's basic voice").to_owned();
        let (label, at) = (label(), at());
        if too_long {
            let loc = self.locate(&at);
            self.error(
                Code::ProviderLimit,
                format!(
                    "{label} is {bytes} bytes of text, {encoded} characters URL-encoded; one <Say> of {who} takes at most {} bytes and {} characters URL-encoded",
                    engine.say_limit(),
                    crate::flow::voices::SAY_ENCODED_LIMIT
                ),
                loc,
                "too long for one <Say>",
                Some("split it into several prompts or items".into()),
            );
        }
        // One entry per text, place and language: a catalog prompt is resolved at every use
        // (and a sequence holds several texts).
        if kept && self.spoken_seen.insert((lang, at.clone(), text.clone())) {
            self.spoken.push(Spoken {
                lang,
                label,
                text: text.clone(),
                at,
            });
        }
    }

    /// The location of a spoken text.
    pub(super) fn locate(&self, at: &TextAt) -> Option<Location> {
        match at {
            TextAt::Catalog { lang, id } => self.library.entry_location(lang, id),
            TextAt::Flow(path) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                self.src.value_at(&path)
            }
            TextAt::Nowhere => None,
        }
    }

    /// The fault apology when `defaults.apology` names none: the prompt `fault_apology` in
    /// every language, from a recording, the catalog, or the built-in text.
    pub(super) fn fault_apology(&mut self) -> Prompt {
        let langs: Vec<String> = self.languages.iter().map(|l| l.code.clone()).collect();
        let mut by_language = Vec::with_capacity(langs.len());
        for (i, code) in langs.iter().enumerate() {
            let idx = LangIdx(u16::try_from(i).unwrap_or(0));
            let path = ["languages".to_owned(), i.to_string()];
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let mut parts = Vec::new();
            match self.prompt_id(FAULT_APOLOGY, code, idx, &path, &mut parts) {
                Ok(()) => by_language.push(parts),
                Err(missing) => {
                    if matches!(missing, ItemMissing::Language) {
                        self.error(
                            Code::MissingPrompt,
                            format!("language `{code}` has no fault apology (prompt `{FAULT_APOLOGY}`)"),
                            self.src.value_at(&path),
                            "no apology in this language",
                            Some(format!(
                                "add `{FAULT_APOLOGY}: \"...\"` to {} or record {} (built in for en, es, fa and ko), or set `defaults.apology`",
                                self.library.catalog_path(code).display(),
                                self.library.recording_hint(code, FAULT_APOLOGY)
                            )),
                        );
                    }
                    by_language.push(Vec::new());
                }
            }
        }
        Prompt {
            by_language,
            summary: FAULT_APOLOGY.to_owned(),
            items: vec![FAULT_APOLOGY.to_owned()],
        }
    }
}

/// What a `say` item is called in messages: "`say` in node `x`".
fn say_label(path: P) -> String {
    match path {
        ["nodes", node, ..] => format!("`say` in node `{node}`"),
        _ => format!("`say` in `{}`", path.join(".")),
    }
}

/// A prompt item as a short label: its id, file, or the start of its text.
fn summarize_item(item: &RawPromptItem) -> String {
    match item {
        RawPromptItem::Id(id) => id.clone(),
        RawPromptItem::Map(m) => {
            if let Some(id) = &m.prompt {
                id.clone()
            } else if let Some(file) = &m.play {
                file.clone()
            } else if let Some(d) = &m.pause {
                format!("pause {}", d.0)
            } else {
                let text = match &m.say {
                    Some(RawText::Same(t)) => t.as_str(),
                    Some(RawText::PerLanguage(map)) => {
                        map.values().next().map_or("", String::as_str)
                    }
                    None => "",
                };
                let short: String = text.chars().take(24).collect();
                if short.chars().count() < text.chars().count() {
                    format!("\"{short}…\"")
                } else {
                    format!("\"{short}\"")
                }
            }
        }
    }
}
