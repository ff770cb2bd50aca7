//! Admin-facing compiler messages: code, `file:line:col`, the source line with a
//! caret under the bad span, a label and a hint, rendered like rustc or cargo.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::flow::yaml::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Does not fail `check`.
    Warning,
    /// Fails `check`; the flow is not served.
    Error,
}

/// Stable identifier of a diagnostic, part of the contract with admins and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// E001: the YAML does not parse.
    YamlSyntax,
    /// E002: a field the node or section does not have.
    UnknownField,
    /// E003: a node kind that does not exist.
    UnknownNodeKind,
    /// E004: a value of the wrong type or shape.
    InvalidValue,
    /// E005: a required field is missing.
    MissingField,
    /// E006: a target that names no node.
    UnknownTarget,
    /// E007: a cycle no caller input breaks.
    EndlessLoop,
    /// E008: a menu option key other than 0-9, * and #.
    InvalidKey,
    /// E009: two options on the same key.
    DuplicateKey,
    /// E010: a prompt id with neither text nor recording in some language.
    MissingPrompt,
    /// E011: a recording that is missing, unreadable or unfit.
    BadRecording,
    /// E012: a number claimed by two flows.
    DuplicateNumber,
    /// E013: an unknown `hours` name.
    UnknownHours,
    /// E014: an invalid schedule or time zone.
    InvalidHours,
    /// E015: an input whose digit count can never satisfy its pattern.
    UnsatisfiablePattern,
    /// E016: a duration out of range or unreadable.
    InvalidDuration,
    /// E017: a language with no catalog, or an unknown language code.
    UnknownLanguage,
    /// E018: a template placeholder no part of the flow sets.
    UnknownVariable,
    /// E019: two flows with the same id, or two default flows.
    DuplicateFlow,
    /// E020: a file that cannot be read.
    Io,
    /// E021: a file larger than flow text may be.
    FileTooLarge,
    /// E022: a YAML anchor or alias.
    YamlAlias,
    /// E023: collections nested deeper than flow text may nest.
    NestingTooDeep,
    /// E024: a value Twilio refuses (a `<Record>` shorter than 2 s, a queue name longer than
    /// 64 characters, a `<Say>` longer than its voice takes, a `<Gather>` of no digits).
    ProviderLimit,
    /// E025: a voice Twilio does not offer, or one that does not speak its language's locale.
    VoiceLocale,
    /// E026: a value read from recordings (`{var|digits}`, `{var|number}`,
    /// `{var|amount}`) whose recordings are incomplete.
    MissingReading,
    /// W001: a node no path reaches.
    UnreachableNode,
    /// W002: a recording longer than 30 seconds.
    LongPrompt,
    /// W003: a language whose locale no Twilio voice speaks, with prompts that have no recording.
    NoVoice,
}

impl Code {
    /// The code as printed (`E006`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "E001",
            Code::UnknownField => "E002",
            Code::UnknownNodeKind => "E003",
            Code::InvalidValue => "E004",
            Code::MissingField => "E005",
            Code::UnknownTarget => "E006",
            Code::EndlessLoop => "E007",
            Code::InvalidKey => "E008",
            Code::DuplicateKey => "E009",
            Code::MissingPrompt => "E010",
            Code::BadRecording => "E011",
            Code::DuplicateNumber => "E012",
            Code::UnknownHours => "E013",
            Code::InvalidHours => "E014",
            Code::UnsatisfiablePattern => "E015",
            Code::InvalidDuration => "E016",
            Code::UnknownLanguage => "E017",
            Code::UnknownVariable => "E018",
            Code::DuplicateFlow => "E019",
            Code::Io => "E020",
            Code::FileTooLarge => "E021",
            Code::YamlAlias => "E022",
            Code::NestingTooDeep => "E023",
            Code::ProviderLimit => "E024",
            Code::VoiceLocale => "E025",
            Code::MissingReading => "E026",
            Code::UnreachableNode => "W001",
            Code::LongPrompt => "W002",
            Code::NoVoice => "W003",
        }
    }

    /// Errors fail `check`; warnings do not.
    pub fn severity(self) -> Severity {
        match self {
            Code::UnreachableNode | Code::LongPrompt | Code::NoVoice => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// Where a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, column and length in chars.
    pub span: Span,
    /// The whole source line.
    pub line_text: String,
}

impl Location {
    /// A location in `text` (the file's contents) at `span`.
    pub fn new(file: &Path, text: &str, span: Span) -> Location {
        let line_text = text
            .lines()
            .nth(span.line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_owned();
        Location {
            file: file.to_path_buf(),
            span,
            line_text,
        }
    }
}

/// One compiler message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// What is wrong, one line.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// Short text under the caret.
    pub label: Option<String>,
    /// How to fix it (`did you mean `support`?`).
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without location, label or hint.
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            location: None,
            label: None,
            hint: None,
        }
    }
    /// Sets the location.
    pub fn at(mut self, location: Option<Location>) -> Diagnostic {
        self.location = location;
        self
    }
    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }
    /// Sets the hint, if any.
    pub fn hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }
    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// Renders without colour, the way `check` prints and snapshot tests pin.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{kind}[{}]: {}", self.code.as_str(), self.message)?;
        let Some(loc) = &self.location else {
            if let Some(hint) = &self.hint {
                writeln!(f, "  = help: {hint}")?;
            }
            return Ok(());
        };
        let line_no = loc.span.line.to_string();
        let pad = " ".repeat(line_no.len());
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            loc.file.display(),
            loc.span.line,
            loc.span.column
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line_no} | {}", loc.line_text)?;
        // The caret sits under the span; tabs before it are kept so it lines up.
        let lead: String = loc
            .line_text
            .chars()
            .take(loc.span.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(loc.span.len.max(1));
        match &self.label {
            Some(label) => writeln!(f, "{pad} | {lead}{carets} {label}")?,
            None => writeln!(f, "{pad} | {lead}{carets}")?,
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "{pad} |")?;
            writeln!(f, "{pad} = help: {hint}")?;
        }
        Ok(())
    }
}

/// The nearest candidate to `word` when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            *d <= (c.chars().count().max(word.chars().count()) / 3).max(1)
                || c.to_lowercase() == lower
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let nodes = ["support", "support_queue", "billing"];
        assert_eq!(
            did_you_mean("suport", nodes).as_deref(),
            Some("did you mean `support`?")
        );
        assert_eq!(
            did_you_mean("Billing", nodes).as_deref(),
            Some("did you mean `billing`?")
        );
        assert_eq!(did_you_mean("voicemail", nodes), None);
    }

    #[test]
    fn renders_caret_under_span() {
        let text = "a: 1\n  options: { \"1\": suport }\n";
        let loc = Location::new(
            Path::new("flows/x.yaml"),
            text,
            Span {
                line: 2,
                column: 20,
                len: 6,
            },
        );
        let d = Diagnostic::new(Code::UnknownTarget, "target `suport` names no node")
            .at(Some(loc))
            .label("no such node")
            .hint(Some("did you mean `support`?".into()));
        let out = d.to_string();
        assert!(out.contains(" --> flows/x.yaml:2:20"), "{out}");
        assert!(out.contains("2 |   options: { \"1\": suport }"), "{out}");
        assert!(
            out.contains("  |                    ^^^^^^ no such node"),
            "{out}"
        );
        assert!(out.contains("  = help: did you mean `support`?"), "{out}");
    }
}
