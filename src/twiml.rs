//! Provider-neutral [`Verb`]s to Twilio's TwiML, written with quick-xml.
//!
//! The only module that knows TwiML; another provider dialect is another
//! renderer. Every string goes through quick-xml's escaping, and characters XML
//! 1.0 cannot carry are dropped, so any caller or CRM data yields well-formed XML.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::call::{Continuation, Verb};
use crate::flow::DialTarget;
use crate::flow::voices::Engine;

use crate::call::URL_COMPONENT as PATH_SEGMENT;

/// Renders verbs as a TwiML document with a `<Response>` root.
pub fn render_twiml(verbs: &[Verb], public_url: &str) -> String {
    render(Writer::new(Vec::with_capacity(512)), verbs, public_url)
}

/// Renders verbs as indented TwiML, for people (snapshots, `simulate --twiml`).
pub fn render_twiml_pretty(verbs: &[Verb], public_url: &str) -> String {
    render(
        Writer::new_with_indent(Vec::with_capacity(1024), b' ', 2),
        verbs,
        public_url,
    )
}

fn render(mut w: Writer<Vec<u8>>, verbs: &[Verb], public_url: &str) -> String {
    // Writing into a Vec cannot fail; the fallback keeps the contract of always answering XML.
    let written = write_document(&mut w, verbs, public_url.trim_end_matches('/'));
    match written {
        Ok(()) => String::from_utf8(w.into_inner()).unwrap_or_else(|_| empty_response()),
        Err(_) => empty_response(),
    }
}

/// `<Response/>`: the answer to requests that need no instructions (status callbacks).
pub fn empty_response() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_owned()
}

/// The absolute URL of a continuation: `{public}/twilio/{resume}?flow=..&v=..&node=..&attempt=..`.
pub fn continuation_url(public_url: &str, c: &Continuation) -> String {
    let base = public_url.trim_end_matches('/');
    let resume = c.resume.as_str();
    let mut url = String::with_capacity(base.len() + resume.len() + 96);
    url.push_str(base);
    url.push_str("/twilio/");
    url.push_str(resume);
    url.push('?');
    c.write_query(&mut url);
    url
}

/// The absolute URL of a recording under `prompts/`.
pub fn prompt_url(public_url: &str, file: &str) -> String {
    let path: Vec<String> = file
        .split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, PATH_SEGMENT).to_string())
        .collect();
    format!(
        "{}/prompts/{}",
        public_url.trim_end_matches('/'),
        path.join("/")
    )
}

fn write_document(w: &mut Writer<Vec<u8>>, verbs: &[Verb], base: &str) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    if verbs.is_empty() {
        w.create_element("Response").write_empty()?;
        return Ok(());
    }
    w.create_element("Response").write_inner_content(|w| {
        for verb in verbs {
            write_verb(w, verb, base)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb, base: &str) -> io::Result<()> {
    match verb {
        Verb::Say {
            text,
            locale,
            voice,
        } => {
            let text = clean(text);
            // Twilio cuts a <Say> longer than its voice takes: a long text (a value from a
            // lookup) goes out as several, split between words.
            for chunk in say_chunks(&text, Engine::of(voice.as_deref())) {
                let mut el = w.create_element("Say");
                if let Some(l) = locale {
                    el = el.with_attribute(("language", &*clean(l)));
                }
                if let Some(v) = voice {
                    el = el.with_attribute(("voice", &*clean(v)));
                }
                el.write_text_content(BytesText::new(chunk))?;
            }
        }
        Verb::Play { file, .. } => {
            w.create_element("Play")
                .write_text_content(BytesText::new(&clean(&prompt_url(base, file))))?;
        }
        Verb::Pause { seconds } => {
            w.create_element("Pause")
                .with_attribute(("length", itoa::Buffer::new().format(*seconds)))
                .write_empty()?;
        }
        Verb::Gather {
            prompt,
            num_digits,
            finish_on_key,
            timeout_secs,
            action,
        } => {
            let action = continuation_url(base, action);
            let mut timeout = itoa::Buffer::new();
            // Twilio's finishOnKey defaults to `#`; an empty value turns it off so `#` can be a menu key.
            let mut key = [0u8; 4];
            let finish: &str = match finish_on_key {
                Some(k) => k.encode_utf8(&mut key),
                None => "",
            };
            let mut el = w
                .create_element("Gather")
                .with_attribute(("input", "dtmf"))
                .with_attribute(("action", &*clean(&action)))
                .with_attribute(("method", "POST"))
                .with_attribute(("timeout", timeout.format(*timeout_secs)))
                .with_attribute(("finishOnKey", finish));
            if let Some(n) = num_digits {
                el = el.with_attribute(("numDigits", itoa::Buffer::new().format(*n)));
            }
            if prompt.is_empty() {
                el.write_empty()?;
            } else {
                el.write_inner_content(|w| {
                    for v in prompt {
                        write_verb(w, v, base)?;
                    }
                    Ok(())
                })?;
            }
        }
        Verb::Redirect(c) => {
            w.create_element("Redirect")
                .with_attribute(("method", "POST"))
                .write_text_content(BytesText::new(&clean(&continuation_url(base, c))))?;
        }
        Verb::Dial {
            target,
            send_digits,
            caller_id,
            timeout_secs,
            action,
        } => {
            let action = continuation_url(base, action);
            let mut timeout = itoa::Buffer::new();
            let mut el = w
                .create_element("Dial")
                .with_attribute(("action", &*clean(&action)))
                .with_attribute(("method", "POST"))
                .with_attribute(("timeout", timeout.format(*timeout_secs)));
            if let Some(cid) = caller_id {
                el = el.with_attribute(("callerId", &*clean(cid)));
            }
            el.write_inner_content(|w| {
                let (noun, value) = match target {
                    DialTarget::Number(n) => ("Number", n.as_str()),
                    DialTarget::Sip(s) => ("Sip", s.as_str()),
                    DialTarget::Client(c) => ("Client", c.as_str()),
                };
                let mut el = w.create_element(noun);
                if let (DialTarget::Number(_), Some(keys)) = (target, send_digits) {
                    el = el.with_attribute(("sendDigits", &*clean(keys)));
                }
                el.write_text_content(BytesText::new(&clean(value)))?;
                Ok(())
            })?;
        }
        Verb::Enqueue { name, wait, action } => {
            let action = continuation_url(base, action);
            let mut el = w
                .create_element("Enqueue")
                .with_attribute(("action", &*clean(&action)))
                .with_attribute(("method", "POST"));
            let wait_url = wait.as_ref().map(|c| continuation_url(base, c));
            if let Some(url) = &wait_url {
                el = el
                    .with_attribute(("waitUrl", &*clean(url)))
                    .with_attribute(("waitUrlMethod", "POST"));
            }
            el.write_text_content(BytesText::new(&clean(name)))?;
        }
        Verb::Record {
            max_length_secs,
            finish_on_key,
            action,
        } => {
            let action = continuation_url(base, action);
            let mut max = itoa::Buffer::new();
            let mut key = [0u8; 4];
            let finish: &str = finish_on_key.unwrap_or('#').encode_utf8(&mut key);
            w.create_element("Record")
                .with_attribute(("action", &*clean(&action)))
                .with_attribute(("method", "POST"))
                .with_attribute(("maxLength", max.format(*max_length_secs)))
                .with_attribute(("finishOnKey", finish))
                .with_attribute(("playBeep", "true"))
                .write_empty()?;
            // Twilio skips the action on an empty recording and goes on to the next verb:
            // the same URL then tells phonetree that nothing was recorded.
            w.create_element("Redirect")
                .with_attribute(("method", "POST"))
                .write_text_content(BytesText::new(&clean(&action)))?;
        }
        Verb::Leave => {
            w.create_element("Leave").write_empty()?;
        }
        Verb::Hangup => {
            w.create_element("Hangup").write_empty()?;
        }
    }
    Ok(())
}

/// `text` in pieces that each fit one `<Say>` of `engine` ([`Engine::say_fits`]), cut
/// after the last whitespace that fits (inside a word only when a word alone is longer);
/// one piece when it fits.
fn say_chunks(text: &str, engine: Engine) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !engine.say_fits(rest) {
        let cut = fitting_prefix(rest, engine);
        let at_space = if rest[cut..].starts_with(char::is_whitespace) {
            Some(cut)
        } else {
            rest[..cut]
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_whitespace())
                .map(|(i, c)| i + c.len_utf8())
        };
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let cut = at_space.filter(|&i| i > 0).unwrap_or(cut).max(first);
        let (head, tail) = rest.split_at(cut);
        if !head.trim().is_empty() {
            out.push(head.trim_end());
        }
        rest = tail.trim_start();
    }
    if out.is_empty() {
        out.push(rest);
    } else if !rest.trim().is_empty() {
        out.push(rest.trim_end());
    }
    out
}

/// The byte length of the longest prefix of `text` (whole characters) that fits one
/// `<Say>` of `engine`.
fn fitting_prefix(text: &str, engine: Engine) -> usize {
    let mut encoded = 0;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        encoded += crate::flow::voices::encoded_len(&text[i..end]);
        if end > engine.say_limit() || encoded > crate::flow::voices::SAY_ENCODED_LIMIT {
            return i;
        }
    }
    text.len()
}

/// Drops characters XML 1.0 cannot carry (control characters, unpaired surrogates are
/// impossible in `str`); text that has none, nearly all of it, is not copied.
fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| xml_char(c)).collect())
    }
}

/// Whether XML 1.0 can carry `c`.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::{clean, say_chunks};
    use std::borrow::Cow;

    #[test]
    fn clean_text_is_not_copied_and_what_xml_cannot_carry_is_dropped() {
        assert!(matches!(
            clean("Para español, oprima 2. 한국어 ✓"),
            Cow::Borrowed(_)
        ));
        assert_eq!(clean("a\u{0}b\u{1b}c\td\u{FFFE}e\u{FFFF}"), "abc\tde");
        assert!(matches!(clean("x\u{8}"), Cow::Owned(_)));
    }

    use crate::flow::voices::{Engine, SAY_ENCODED_LIMIT, encoded_len};

    #[test]
    fn long_text_is_cut_between_words_within_the_limits() {
        assert_eq!(say_chunks("short", Engine::Polly), ["short"]);
        assert_eq!(say_chunks("", Engine::Polly), [""]);
        let words = "word ".repeat(1000);
        let chunks = say_chunks(&words, Engine::Polly);
        assert!(chunks.len() > 1);
        assert!(
            chunks
                .iter()
                .all(|c| c.len() <= 3000 && c.ends_with("word"))
        );
        // Persian is 2 bytes a letter, 6 characters URL-encoded: the encoded limit cuts it.
        let persian = "موجودی ".repeat(1000);
        let chunks = say_chunks(&persian, Engine::Polly);
        assert!(
            chunks.iter().all(|c| {
                !c.is_empty() && c.len() <= 3000 && encoded_len(c) <= SAY_ENCODED_LIMIT
            })
        );
        assert_eq!(chunks.concat().replace(' ', ""), persian.replace(' ', ""));
        let word = "a".repeat(5000);
        assert_eq!(
            say_chunks(&word, Engine::Basic)[0].len(),
            4096.min(SAY_ENCODED_LIMIT)
        );
    }
}
