//! Prompt parts to verbs: text to `<Say>` in the part's language, recordings to `<Play>`,
//! and values read from recordings where the language has them: `{var|digits}` from
//! `prompts/<lang>/digits/`, `{var|number}` and `{var|amount}` composed from
//! `prompts/<lang>/numbers/`.

use crate::call::Verb;
use crate::call::session::CallSession;
use crate::call::step::{Run, whole_seconds};
use crate::call::vars::{lookup_var, render_template, spaced_digits};
use crate::flow::numbers::{Amount, digit_value, parse_number};
use crate::flow::{Language, Prompt, PromptPart, Reading, Recorded, Segment, Template};

impl Run<'_> {
    pub(super) fn prompt_verbs(&mut self, prompt: &Prompt) -> Vec<Verb> {
        let lang = self.lang();
        let flow = self.flow.clone();
        let mut out = Vec::new();
        for part in prompt.parts(lang) {
            match part {
                PromptPart::Say { text, lang } => {
                    let spoken = speak(text, flow.lang(*lang), &self.s);
                    for m in spoken.missing {
                        self.warnings
                            .push(format!("placeholder `{{{m}}}` has no value"));
                    }
                    self.warnings.extend(spoken.warnings);
                    out.extend(spoken.verbs);
                }
                PromptPart::Play { file, duration } => out.push(Verb::Play {
                    file: file.clone(),
                    duration: *duration,
                }),
                PromptPart::Pause(d) => out.push(Verb::Pause {
                    seconds: whole_seconds(*d),
                }),
            }
        }
        out
    }
}

/// What a text becomes for one call.
struct Spoken {
    verbs: Vec<Verb>,
    /// Placeholders without a value.
    missing: Vec<String>,
    /// Values the recordings could not read (never the values themselves).
    warnings: Vec<String>,
}

/// A text in `language` for this call: one `<Say>` when nothing in it is read from
/// recordings, else `<Say>`s for the text between `<Play>`s of the recordings.
fn speak(text: &Template, language: &Language, session: &CallSession) -> Spoken {
    let say = |text: String| Verb::Say {
        text,
        locale: language.locale.clone(),
        voice: language.voice.clone(),
    };
    let recorded = text.segments.iter().any(|s| match s {
        Segment::Var { reading, .. } => language.readings.records(*reading),
        Segment::Text(_) => false,
    });
    if !recorded {
        let (text, missing) = render_template(text, session);
        return Spoken {
            verbs: vec![say(text)],
            missing,
            warnings: Vec::new(),
        };
    }
    let mut spoken = Spoken {
        verbs: Vec::new(),
        missing: Vec::new(),
        warnings: Vec::new(),
    };
    let mut pending = String::new();
    let flush = |pending: &mut String, verbs: &mut Vec<Verb>| {
        if !pending.trim().is_empty() {
            verbs.push(say(std::mem::take(pending)));
        }
        pending.clear();
    };
    for seg in &text.segments {
        let (path, reading) = match seg {
            Segment::Text(t) => {
                pending.push_str(t);
                continue;
            }
            Segment::Var { path, reading } => (path, *reading),
        };
        let Some(value) = lookup_var(session, path) else {
            spoken.missing.push(path.clone());
            continue;
        };
        // A value holding something sensitive is never read from recordings: the copy of
        // the answer that is kept (and answers a retry) masks spoken text, and a run of
        // digit recordings would be the value itself.
        if session.redact_text(&value) != value {
            match reading {
                Reading::Digits => pending.push_str(&spaced_digits(&value)),
                _ => pending.push_str(&value),
            }
            continue;
        }
        let files = match reading {
            Reading::Plain => None,
            Reading::Digits => digit_files(&value, language),
            Reading::Number => number_files(&value, language),
            Reading::Amount => amount_files(&value, language),
        };
        match files {
            Some(files) => {
                flush(&mut pending, &mut spoken.verbs);
                spoken.verbs.extend(files.into_iter().map(|r| Verb::Play {
                    file: r.file.clone(),
                    duration: r.duration,
                }));
            }
            None => {
                if reading != Reading::Plain && language.readings.records(reading) {
                    spoken.warnings.push(format!(
                        "`{{{path}|{}}}` in `{}` is not something its recordings read; spoken as text",
                        reading.as_str(),
                        language.code
                    ));
                }
                match reading {
                    Reading::Digits => pending.push_str(&spaced_digits(&value)),
                    _ => pending.push_str(&value),
                }
            }
        }
    }
    flush(&mut pending, &mut spoken.verbs);
    spoken
}

/// The digit recordings of a value, in order; `None` when the language has none or the
/// value holds something other than digits and what numbers are written with (spaces,
/// `-`, `.`, `,`, `+`, parentheses).
fn digit_files<'l>(value: &str, language: &'l Language) -> Option<Vec<&'l Recorded>> {
    let digits = language.readings.digits.as_ref()?;
    let mut out = Vec::new();
    for c in value.chars() {
        match digit_value(c) {
            Some(d) => out.push(digits.get(usize::try_from(d).ok()?)?),
            // What numbers are written with, not read: `+1 (415) 555-0199`, `1,234.50`.
            None if c.is_whitespace() || matches!(c, '-' | '.' | ',' | '+' | '(' | ')') => {}
            None => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn fragment_files(names: Vec<String>, language: &Language) -> Option<Vec<&Recorded>> {
    let numbers = language.readings.numbers.as_ref()?;
    names.iter().map(|n| numbers.files.get(n)).collect()
}

/// The fragments of a whole number, or its digits when it is too large for the rules.
fn number_files<'l>(value: &str, language: &'l Language) -> Option<Vec<&'l Recorded>> {
    let rules = language.readings.numbers.as_ref()?.rules;
    // A whole number written as a float (`1000.0`, from a JSON answer) is that number.
    let value = value.trim();
    let integral = match value.split_once('.') {
        Some((whole, fraction)) if fraction.chars().all(|c| c == '0') => whole,
        Some(_) => return None,
        None => value,
    };
    match parse_number(integral).and_then(|n| rules.number(n)) {
        Some(names) => fragment_files(names, language),
        // Too long to be a number (past 20 digits), or past what the rules name: its digits.
        None if !integral.is_empty()
            && integral
                .chars()
                .all(|c| digit_value(c).is_some() || matches!(c, ',' | ' ')) =>
        {
            digit_files(integral, language)
        }
        None => None,
    }
}

fn amount_files<'l>(value: &str, language: &'l Language) -> Option<Vec<&'l Recorded>> {
    let rules = language.readings.numbers.as_ref()?.rules;
    let names = rules.amount(Amount::parse(value)?)?;
    fragment_files(names, language)
}
