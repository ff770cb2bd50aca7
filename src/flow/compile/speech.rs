//! How each language is spoken: its locale and voice against Twilio's voice table, the
//! recordings its values are read from, and the languages no voice speaks.

use super::*;
use crate::flow::numbers::NumberRules;
use crate::flow::prompts::RecordingState;
use crate::flow::voices::{self, Voice};

/// Voices named in a hint, at most.
const HINT_VOICES: usize = 6;

impl FlowCompiler<'_> {
    /// The locale and voice of language `code`: as the flow writes them, checked against
    /// Twilio's table; where it writes none, the locale of the voice or the language's
    /// usual locale, and the locale's default voice.
    pub(super) fn locale_and_voice(&mut self, code: &str) -> (Option<String>, Option<String>) {
        let raw = self.raw;
        let written_voice = raw.voice.get(code);
        let voice = written_voice.map(|name| (name, voices::voice(name)));
        if let Some((name, None)) = &voice {
            let all = voices::all_voices();
            let hint = did_you_mean(name, all.iter().map(|v| v.name.as_str())).or_else(|| {
                Some("Twilio's voices are `man`, `woman`, `Polly.NAME` and `Google.LOCALE-...` (see README, \"Voices\")".into())
            });
            self.error(
                Code::VoiceLocale,
                format!("`{name}` is not a Twilio voice"),
                self.src.value_at(&["voice", code]),
                "unknown voice",
                hint,
            );
        }
        let locale = match raw.locale.get(code) {
            Some(written) => match voices::known_locale(written) {
                Some(known) => Some(known.to_owned()),
                None => {
                    let hint = locale_hint(written);
                    self.error(
                        Code::UnknownLanguage,
                        format!("`{written}` is not a locale Twilio knows"),
                        self.src.value_at(&["locale", code]),
                        "unknown locale",
                        hint,
                    );
                    Some(written.clone())
                }
            },
            // The voice's locale of the language (`en` with `Polly.Amy` is `en-GB`), else the
            // language's usual locale, checked against the voice below.
            None => {
                let base = code.split(['-', '_']).next().unwrap_or(code);
                let of_voice = match &voice {
                    Some((_, Some(v))) => v
                        .locales
                        .iter()
                        .find(|l| {
                            l.split('-')
                                .next()
                                .is_some_and(|b| b.eq_ignore_ascii_case(base))
                        })
                        .copied(),
                    _ => None,
                };
                let first = match &voice {
                    Some((_, Some(v))) => v.locales.first().copied(),
                    _ => None,
                };
                // The language's usual locale when the voice speaks it (`alice` speaks
                // en-AU first in the table, but `en` means en-US).
                let usual = voices::default_locale(code).filter(|l| match &voice {
                    Some((_, Some(v))) => voices::speaks(v, l),
                    _ => true,
                });
                usual
                    .or(of_voice)
                    .or_else(|| voices::default_locale(code))
                    .or(first)
                    .map(str::to_owned)
            }
        };
        let voice = match voice {
            Some((name, Some(v))) => {
                if let Some(locale) = &locale
                    && voices::known_locale(locale).is_some()
                    && !voices::speaks(&v, locale)
                {
                    self.voice_mismatch(code, name, &v, locale);
                }
                Some(name.clone())
            }
            Some((name, None)) => Some(name.clone()),
            None => locale.as_deref().and_then(voices::default_voice),
        };
        (locale, voice)
    }

    fn voice_mismatch(&mut self, code: &str, name: &str, voice: &Voice, locale: &str) {
        let speakers = voices::voices_for(locale);
        let hint = if speakers.is_empty() {
            format!(
                "no Twilio voice speaks {locale}: remove `voice` for `{code}` and record its prompts (see README, \"Languages no voice speaks\")"
            )
        } else {
            let names: Vec<&str> = speakers
                .iter()
                .take(HINT_VOICES)
                .map(|v| v.name.as_str())
                .collect();
            let more = speakers.len().saturating_sub(HINT_VOICES);
            format!(
                "voices that speak {locale}: {}{}; without `voice`, `{code}` gets {}",
                names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                names[0]
            )
        };
        self.error(
            Code::VoiceLocale,
            format!(
                "`{name}` speaks {}, not {locale} (the locale of `{code}`)",
                voice.locales.join(", ")
            ),
            self.src.value_at(&["voice", code]),
            &format!("does not speak {locale}"),
            Some(hint),
        );
    }

    /// The recordings each language reads `{var|digits}`, `{var|number}` and
    /// `{var|amount}` from: where `prompts/<lang>/digits/` or `prompts/<lang>/numbers/`
    /// holds any file, every recording the reading needs must be there.
    pub(super) fn readings(&mut self) {
        let mut uses: Vec<(LangIdx, Reading, String, TextAt)> = Vec::new();
        for spoken in &self.spoken {
            for seg in &spoken.text.segments {
                if let Segment::Var { reading, path } = seg
                    && *reading != Reading::Plain
                    && !uses
                        .iter()
                        .any(|(l, r, _, _)| *l == spoken.lang && r == reading)
                {
                    let label = format!("`{{{path}|{}}}` in {}", reading.as_str(), spoken.label);
                    uses.push((spoken.lang, *reading, label, spoken.at.clone()));
                }
            }
        }
        uses.sort_by_key(|(l, r, _, _)| (l.index(), *r));
        for (lang, reading, label, at) in uses {
            let code = self.languages[lang.index()].code.clone();
            match reading {
                Reading::Digits => self.digit_recordings(lang, &code, &label, &at),
                Reading::Number | Reading::Amount => {
                    self.number_recordings(lang, &code, reading, &label, &at)
                }
                Reading::Plain => {}
            }
        }
    }

    fn digit_recordings(&mut self, lang: LangIdx, code: &str, label: &str, at: &TextAt) {
        let dir = format!("{code}/digits/");
        if self.languages[lang.index()].readings.digits.is_some()
            || !self.library.has_files_under(&dir)
        {
            return;
        }
        let loc = self.locate(at);
        let mut found = Vec::new();
        let mut missing = Vec::new();
        let mut unfit = false;
        for d in 0..10 {
            let rel = format!("{dir}{d}.wav");
            let at = loc.clone();
            match self.library.recording(&rel, &move || at.clone()) {
                RecordingState::Ready(duration) => found.push(Recorded {
                    file: rel,
                    duration,
                }),
                RecordingState::Missing => missing.push(format!("{d}.wav")),
                RecordingState::Unfit => unfit = true,
            }
        }
        if !missing.is_empty() {
            self.error(
                Code::MissingReading,
                format!(
                    "{label} plays {}{dir}, which lacks {}",
                    self.prompts_prefix(),
                    missing.join(", ")
                ),
                loc,
                "digits read from recordings",
                Some(format!(
                    "record 0.wav to 9.wav in {}{dir} (one digit each), or remove the directory to have the digits spoken",
                    self.prompts_prefix()
                )),
            );
        } else if !unfit {
            self.languages[lang.index()].readings.digits = Some(found);
        }
    }

    fn number_recordings(
        &mut self,
        lang: LangIdx,
        code: &str,
        reading: Reading,
        label: &str,
        at: &TextAt,
    ) {
        let dir = format!("{code}/numbers/");
        if !self.library.has_files_under(&dir) {
            return;
        }
        let loc = self.locate(at);
        let Some(rules) = NumberRules::for_language(code) else {
            self.error(
                Code::MissingReading,
                format!(
                    "{label}: phonetree has no number rules for `{code}`, so {}{dir} cannot be composed",
                    self.prompts_prefix()
                ),
                loc,
                "no number rules",
                Some("numbers are composed in English (en), Persian (fa) and Korean (ko); remove the directory to have numbers spoken".into()),
            );
            return;
        };
        let mut needed = rules.number_fragments();
        if reading == Reading::Amount {
            needed.extend(rules.amount_fragments());
        }
        let mut files = self.languages[lang.index()]
            .readings
            .numbers
            .take()
            .map(|n| n.files)
            .unwrap_or_default();
        let mut missing = Vec::new();
        let mut unfit = false;
        for name in &needed {
            if files.contains_key(name) {
                continue;
            }
            let rel = format!("{dir}{name}.wav");
            let at = loc.clone();
            match self.library.recording(&rel, &move || at.clone()) {
                RecordingState::Ready(duration) => {
                    files.insert(
                        name.clone(),
                        Recorded {
                            file: rel,
                            duration,
                        },
                    );
                }
                RecordingState::Missing => missing.push(format!("{name}.wav")),
                RecordingState::Unfit => unfit = true,
            }
        }
        if !missing.is_empty() {
            let what = if reading == Reading::Amount {
                "an amount"
            } else {
                "a number"
            };
            self.error(
                Code::MissingReading,
                format!(
                    "{label} composes {what} from {}{dir}, which lacks {} of the {} fragments: {}",
                    self.prompts_prefix(),
                    missing.len(),
                    needed.len(),
                    missing.join(", ")
                ),
                loc,
                "read from recordings",
                Some(format!(
                    "a {} {} needs {}.wav (see README, \"Numbers from recordings\")",
                    rules.language(),
                    if reading == Reading::Amount {
                        "amount"
                    } else {
                        "number"
                    },
                    needed.join(".wav, ")
                )),
            );
        }
        if missing.is_empty() && !unfit {
            self.languages[lang.index()].readings.numbers = Some(NumberFragments { rules, files });
        } else if reading == Reading::Amount {
            // The numbers alone may still be whole.
            let whole = rules
                .number_fragments()
                .iter()
                .all(|f| files.contains_key(f));
            if whole && !unfit {
                self.languages[lang.index()].readings.numbers =
                    Some(NumberFragments { rules, files });
            }
        }
    }

    /// `prompts/` as the diagnostics name it.
    fn prompts_prefix(&self) -> String {
        let dir = self.library.catalog_path("x");
        dir.parent()
            .map(|p| format!("{}/", p.display()))
            .unwrap_or_default()
    }

    /// W003 for each language whose locale no Twilio voice speaks while some of its prompts
    /// would still go to text to speech.
    pub(super) fn unspoken_languages(&mut self) {
        for (i, language) in self.languages.clone().iter().enumerate() {
            // A locale Twilio does not know is an error of its own (E017).
            let unknown = language
                .locale
                .as_deref()
                .is_some_and(|l| voices::known_locale(l).is_none());
            if language.voice.is_some() || unknown {
                continue;
            }
            let lang = LangIdx(u16::try_from(i).unwrap_or(0));
            let mut unrecorded: Vec<String> = Vec::new();
            for spoken in self.spoken.iter().filter(|s| s.lang == lang) {
                let needs_voice = spoken.text.segments.iter().any(|seg| match seg {
                    Segment::Text(t) => !t.trim().is_empty(),
                    Segment::Var { reading, .. } => !language.readings.records(*reading),
                });
                if needs_voice && !unrecorded.contains(&spoken.label) {
                    unrecorded.push(spoken.label.clone());
                }
            }
            if unrecorded.is_empty() {
                continue;
            }
            let code = &language.code;
            let locale = language.locale.as_deref().unwrap_or(code);
            let loc = self
                .src
                .value_at(&["locale", code])
                .or_else(|| self.src.value_at(&["languages", &i.to_string()]));
            let count = unrecorded.len();
            let message = format!(
                "no Twilio voice speaks {locale}, and {count} prompt{} of `{code}` {} no recording: {}",
                if count == 1 { "" } else { "s" },
                if count == 1 { "has" } else { "have" },
                unrecorded.join(", ")
            );
            let hint = format!(
                "record each as {}{code}/ID.wav, or compose it in {} from recordings (a list of `{{ play: FILE }}` items and values such as \"{{account|digits}}\" read from {}{code}/digits/)",
                self.prompts_prefix(),
                self.library.catalog_path(code).display(),
                self.prompts_prefix(),
            );
            self.diags.push(
                Diagnostic::new(Code::NoVoice, message)
                    .at(loc)
                    .label(format!("no voice speaks {locale}"))
                    .hint(Some(hint)),
            );
        }
    }
}

/// What to write instead of a locale Twilio does not know: the locales it knows for the same
/// language (`en-UK`: en-AU, en-CA, en-GB ...), else a near spelling, else examples.
fn locale_hint(written: &str) -> Option<String> {
    let language = written.split(['-', '_']).next().unwrap_or(written);
    let mut same: Vec<&str> = voices::known_locales()
        .filter(|l| {
            l.len() > language.len()
                && l[..language.len()].eq_ignore_ascii_case(language)
                && l.as_bytes()[language.len()] == b'-'
        })
        .collect();
    // One spelling each (`en-GB`, not also the basic voices' `en-gb`).
    same.sort_unstable_by_key(|l| (l.to_ascii_lowercase(), *l));
    same.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let spoken: Vec<&str> = same
        .iter()
        .copied()
        .filter(|l| !voices::voices_for(l).is_empty())
        .collect();
    if !spoken.is_empty() {
        return Some(format!(
            "locales of `{language}` that Twilio's voices speak: {}",
            spoken.join(", ")
        ));
    }
    if !same.is_empty() {
        return Some(format!(
            "Twilio's locales for `{language}`: {}",
            same.join(", ")
        ));
    }
    did_you_mean(written, voices::known_locales())
        .or_else(|| Some("write a locale Twilio knows, e.g. `en-US`, `es-MX`, `ko-KR`".into()))
}
