//! YAML to raw types. The only module that knows serde_yaml, so replacing the
//! YAML library touches this file alone.
//!
//! Flow text is written by admins and treated as untrusted: before serde_yaml
//! sees a file, [`guard`] caps its size ([`MAX_FILE_BYTES`]) and nesting
//! ([`MAX_NESTING`]) and refuses YAML anchors and aliases, whose expansion can
//! make a 50 KB file stand for gigabytes. Every parser of flow text (flows,
//! prompt catalogs, scenario files) goes through it, and [`read_source`] reads
//! no more of a file than the cap.
//!
//! serde_yaml stops at the first error of a document; to report every broken node
//! of a file at once, a failed file is parsed again node by node. Positions come
//! from the [`SpanIndex`] of the same text, keyed by the path serde_path_to_error
//! reports, so value-level errors point at the exact key or value.

use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;

use crate::flow::diagnostic::{Code, Diagnostic, Location, did_you_mean};
use crate::flow::raw::{RawCatalog, RawFlowFile, RawNode, RawScenario};
use crate::flow::spans::{Span, SpanIndex};

/// A source file read into memory with its span index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given (relative paths stay relative, for short diagnostics).
    pub path: std::path::PathBuf,
    /// Contents.
    pub text: String,
    /// Positions of keys and values, built on first use: a clean compile never needs them.
    spans: std::sync::OnceLock<SpanIndex>,
    /// Byte offset where each line starts, so a location costs no scan of the text.
    line_starts: Vec<usize>,
    /// Size of the whole file in bytes; more than `text` holds when [`read_source`] stopped at the cap.
    size: u64,
}

impl SourceFile {
    /// Indexes `text` read from `path`.
    pub fn new(path: impl Into<std::path::PathBuf>, text: impl Into<String>) -> SourceFile {
        let mut text = text.into();
        // Editors on some systems start files with a byte-order mark; YAML does not want it.
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        // Lines end at `\n`, `\r\n` or a lone `\r`, as YAML (and so every reported position) counts them.
        let bytes = text.as_bytes();
        let line_starts = std::iter::once(0)
            .chain(bytes.iter().enumerate().filter_map(|(i, &b)| {
                let ends = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
                ends.then_some(i + 1)
            }))
            .collect();
        SourceFile {
            path: path.into(),
            size: text.len() as u64,
            text,
            spans: std::sync::OnceLock::new(),
            line_starts,
        }
    }

    /// Size of the file in bytes, even when only its start was read.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The span index of the text.
    pub fn spans(&self) -> &SpanIndex {
        self.spans.get_or_init(|| SpanIndex::build(&self.text))
    }

    /// The location of a span in this file, with its source line.
    pub fn location(&self, span: Span) -> Location {
        let line = span.line.saturating_sub(1);
        let text = match (self.line_starts.get(line), self.line_starts.get(line + 1)) {
            (Some(&start), Some(&end)) => self.text.get(start..end).unwrap_or(""),
            (Some(&start), None) => self.text.get(start..).unwrap_or(""),
            _ => "",
        };
        let text = text.trim_end_matches(['\n', '\r']);
        // A hostile file can be one line of a megabyte: show the line up to a little past the span.
        let keep = span.column.saturating_sub(1) + span.len + SNIPPET_CONTEXT;
        let line_text = match text.char_indices().nth(keep) {
            Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
            None => text.to_owned(),
        };
        Location {
            file: self.path.clone(),
            span,
            line_text,
        }
    }

    /// The location of the key or value at `path`, if present.
    pub fn locate(&self, path: &[&str]) -> Option<Location> {
        self.spans().locate(path).map(|s| self.location(s))
    }

    /// The location of the value at `path`, if present.
    pub fn value_at(&self, path: &[&str]) -> Option<Location> {
        self.spans().value(path).map(|s| self.location(s))
    }

    /// The location of the key ending `path`, if present.
    pub fn key_at(&self, path: &[&str]) -> Option<Location> {
        self.spans().key(path).map(|s| self.location(s))
    }

    /// A location from a line and column (serde_yaml's own errors).
    pub fn at_line_col(&self, line: usize, column: usize) -> Location {
        self.location(Span {
            line: line.max(1),
            column: column.max(1),
            len: 1,
        })
    }
}

/// The largest file of flow text read: the shipped flow is 2 KB, a flow of 10,000
/// nodes about 1 MB. Larger is a mistake or an attack, and costs memory to parse.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// How deep collections may nest in flow text. Flows nest about six levels; serde_yaml
/// gives up at 128, and libyaml's scanner slows down quadratically with deep brackets.
pub const MAX_NESTING: usize = 64;

/// Chars of a long source line shown after a diagnostic's span.
const SNIPPET_CONTEXT: usize = 80;

/// How much of an oversized file is kept: enough for its first line in the diagnostic.
const OVERSIZED_PREFIX: u64 = 4096;

/// Reads a file of flow text (flow, prompt catalog, scenarios), never more than
/// [`MAX_FILE_BYTES`] and a byte of it: the parsers then report a larger file as
/// too large instead of reading it whole.
pub fn read_source(path: impl Into<std::path::PathBuf>) -> std::io::Result<SourceFile> {
    use std::io::Read;
    let path = path.into();
    let file = std::fs::File::open(&path)?;
    let on_disk = file.metadata()?.len();
    // A special file (a pipe, /dev/zero) reports no size: `take` still stops it.
    let limit = if on_disk > MAX_FILE_BYTES {
        OVERSIZED_PREFIX
    } else {
        MAX_FILE_BYTES + 1
    };
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    let size = on_disk.max(bytes.len() as u64);
    if size > MAX_FILE_BYTES {
        bytes.truncate(OVERSIZED_PREFIX as usize);
        let mut src = SourceFile::new(path, String::from_utf8_lossy(&bytes).into_owned());
        src.size = size;
        return Ok(src);
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })?;
    Ok(SourceFile::new(path, text))
}

/// Refuses flow text that would cost serde_yaml (or the span index) far more
/// than its size: too large, nested too deep, or using anchors and aliases.
///
/// Anchors and aliases are refused outright rather than capped: no flow needs
/// them (FLOW-SPEC does not mention them), an alias expands where serde_yaml
/// reads it so that errors inside it would point at the anchor, and a cap on the
/// expanded size would still let a 50 KB file cost 100 MB.
///
/// The check runs yaml-rust2's scanner, which hands out tokens one at a time and
/// is stopped at the first offence, before anything is built. It counts block
/// and flow collections; a sequence written flush under its key (`key:` then
/// `- a`) has no token of its own, so that count can miss one level in two.
pub fn guard(src: &SourceFile) -> Result<(), Diagnostic> {
    use yaml_rust2::scanner::{Scanner, TokenType};
    if src.size > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            Code::FileTooLarge,
            format!(
                "the file is {} KiB; flow, prompt and scenario files may be at most {} KiB",
                src.size.div_ceil(1024),
                MAX_FILE_BYTES / 1024
            ),
        )
        .at(Some(src.at_line_col(1, 1)))
        .label("not parsed")
        .hint(Some(
            "split it into several files; each flow can have its own".into(),
        )));
    }
    let text = crate::flow::spans::untab(&src.text);
    let mut scanner = Scanner::new(text.chars());
    let mut depth = 0usize;
    for yaml_rust2::scanner::Token(mark, token) in scanner.by_ref() {
        let at = |len: usize| {
            src.location(Span {
                line: mark.line(),
                column: mark.col() + 1,
                len: len.max(1),
            })
        };
        match token {
            TokenType::Anchor(name) => return Err(anchor_diagnostic(at, '&', &name)),
            TokenType::Alias(name) => return Err(anchor_diagnostic(at, '*', &name)),
            TokenType::BlockSequenceStart
            | TokenType::BlockMappingStart
            | TokenType::FlowSequenceStart
            | TokenType::FlowMappingStart => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(nesting_diagnostic(
                        at(1),
                        format!("level {depth} starts here"),
                    ));
                }
            }
            TokenType::BlockEnd | TokenType::FlowSequenceEnd | TokenType::FlowMappingEnd => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    match scanner.get_error() {
        None => Ok(()),
        // The scanner reads ahead inside brackets and has a limit of its own (255 levels).
        Some(err) if err.info() == "recursion limit exceeded" => {
            let mark = err.marker();
            let at = src.at_line_col(mark.line(), mark.col() + 1);
            Err(nesting_diagnostic(at, "too deep by here".into()))
        }
        Some(err) => unscanned(src, &err),
    }
}

fn nesting_diagnostic(at: Location, label: String) -> Diagnostic {
    Diagnostic::new(
        Code::NestingTooDeep,
        format!("collections nest more than {MAX_NESTING} levels deep"),
    )
    .at(Some(at))
    .label(label)
    .hint(Some(
        "flows need only a few levels: look for brackets that are never closed, or indentation that keeps growing".into(),
    ))
}

fn anchor_diagnostic(at: impl Fn(usize) -> Location, sigil: char, name: &str) -> Diagnostic {
    let (what, label) = match sigil {
        '&' => ("anchor", "an anchor"),
        _ => ("alias", "an alias"),
    };
    Diagnostic::new(
        Code::YamlAlias,
        format!("YAML {what} `{sigil}{name}`: anchors and aliases are not allowed"),
    )
    .at(Some(at(name.chars().count() + 1)))
    .label(label)
    .hint(Some(
        "write the value out in full at each place it is used".into(),
    ))
}

static ALIAS_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|[\s\[\]{},:?-])[&*][^\s\[\]{},]").expect("static regex")
});

/// The scanner stopped at a syntax error. libyaml, behind serde_yaml, agrees
/// on nearly every one and stops there too; where it does not (the two differ
/// in corners of the spec), it would read on past what was checked. So the
/// text must be plainly harmless for serde_yaml to go on, which then reports
/// the error in its own words: nothing that may be an anchor or an alias and
/// no more flow brackets in all than [`MAX_NESTING`] allows deep. Otherwise
/// the scanner's error is the diagnostic.
fn unscanned(src: &SourceFile, err: &yaml_rust2::ScanError) -> Result<(), Diagnostic> {
    let brackets = src
        .text
        .bytes()
        .filter(|b| matches!(b, b'[' | b'{'))
        .count();
    if brackets <= MAX_NESTING && !ALIAS_LIKE.is_match(&src.text) {
        return Ok(());
    }
    let mark = err.marker();
    Err(
        Diagnostic::new(Code::YamlSyntax, format!("YAML syntax: {}", err.info()))
            .at(Some(src.at_line_col(mark.line(), mark.col() + 1)))
            .label("the parser stopped here")
            .hint(Some(
                "check brackets, indentation and quoting; keys need a space after the colon".into(),
            )),
    )
}

/// Parses a flow file, reporting every shape error of every node.
pub fn parse_flow(src: &SourceFile) -> Result<RawFlowFile, Vec<Diagnostic>> {
    guard(src).map_err(|d| vec![d])?;
    // Most files are fine: parse once without path tracking, and pay for precise errors only on failure.
    if let Ok(flow) = serde_yaml::from_str::<RawFlowFile>(&src.text) {
        return Ok(flow);
    }
    syntax_check(src).map_err(|d| vec![d])?;
    let first = match parse_as::<RawFlowFile>(src, &src.text, &[]) {
        Ok(flow) => return Ok(flow),
        Err(d) => d,
    };
    if first.code == Code::YamlSyntax {
        return Err(vec![first]);
    }
    // Parse again piece by piece so that one bad node does not hide the next.
    let Ok(serde_yaml::Value::Mapping(mut doc)) =
        serde_yaml::from_str::<serde_yaml::Value>(&src.text)
    else {
        return Err(vec![first]);
    };
    let mut errors = Vec::new();
    if let Some(serde_yaml::Value::Mapping(nodes)) = doc.get("nodes") {
        for (id, node) in nodes {
            let Some(id) = scalar_text(id) else { continue };
            let Ok(text) = serde_yaml::to_string(node) else {
                continue;
            };
            if let Err(d) = parse_as::<RawNode>(src, &text, &["nodes", &id]) {
                errors.push(d);
            }
        }
    }
    doc.insert(
        "nodes".into(),
        serde_yaml::Value::Mapping(Default::default()),
    );
    if let Ok(text) = serde_yaml::to_string(&doc)
        && let Err(d) = parse_as::<RawFlowFile>(src, &text, &[])
    {
        errors.push(d);
    }
    if errors.is_empty() {
        errors.push(first);
    }
    Err(errors)
}

/// Reports YAML that does not parse at all, at the position the parser stopped.
fn syntax_check(src: &SourceFile) -> Result<(), Diagnostic> {
    let Err(err) = serde_yaml::from_str::<serde_yaml::Value>(&src.text) else {
        return Ok(());
    };
    if err.to_string().contains("duplicate entry") {
        // Not a syntax error: the typed parse reports it at the second key.
        return Ok(());
    }
    let msg = TRAILING_POS.replace(&err.to_string(), "").to_string();
    let location = err
        .location()
        .map(|l| src.at_line_col(l.line(), l.column()))
        .or_else(|| Some(src.at_line_col(1, 1)));
    Err(
        Diagnostic::new(Code::YamlSyntax, format!("YAML syntax: {msg}"))
            .at(location)
            .label("the parser stopped here")
            .hint(Some(
                "check brackets, indentation and quoting; keys need a space after the colon".into(),
            )),
    )
}

/// Parses a prompt catalog (`prompts/<lang>.yaml`).
pub fn parse_catalog(src: &SourceFile) -> Result<RawCatalog, Diagnostic> {
    guard(src)?;
    if src.text.trim().is_empty() {
        return Ok(RawCatalog::default());
    }
    syntax_check(src)?;
    parse_as::<crate::flow::raw::UniqueMap<String>>(src, &src.text, &[]).map(|m| m.0)
}

/// Parses a scenario file (`flows/<flow>.test.yaml`).
pub fn parse_scenarios(src: &SourceFile) -> Result<Vec<RawScenario>, Diagnostic> {
    guard(src)?;
    syntax_check(src)?;
    parse_as::<Vec<RawScenario>>(src, &src.text, &[])
}

/// Parses any YAML document of `src` into `T`; `text` is `src.text` or a re-serialised
/// part of it found at `prefix`.
pub fn parse_as<T: DeserializeOwned>(
    src: &SourceFile,
    text: &str,
    prefix: &[&str],
) -> Result<T, Diagnostic> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|err| {
        let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        path.extend(err.path().iter().filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        }));
        let inner = err.into_inner();
        let own_location = (prefix.is_empty() && text.len() == src.text.len())
            .then(|| inner.location())
            .flatten();
        let d = yaml_error_diagnostic(
            src,
            &path,
            &inner.to_string(),
            own_location.map(|l| (l.line(), l.column())),
        );
        // A diagnostic always names its file, at worst its first line.
        if d.location.is_none() {
            let start = Some(src.at_line_col(1, 1));
            return d.at(start);
        }
        d
    })
}

static TRAILING_POS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r" at line \d+ column \d+").expect("static regex"));
static LEADING_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^\s:]+: ").expect("static regex"));
static BACKTICKED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`([^`]*)`").expect("static regex"));

/// Turns a serde_yaml / serde error into a diagnostic with code, location and hint.
fn yaml_error_diagnostic(
    src: &SourceFile,
    path: &[String],
    raw: &str,
    own: Option<(usize, usize)>,
) -> Diagnostic {
    let msg = TRAILING_POS.replace(raw, "").to_string();
    let msg = LEADING_PATH.replace(&msg, "").to_string();
    let path_ref: Vec<&str> = path.iter().map(String::as_str).collect();
    let words: Vec<String> = BACKTICKED
        .captures_iter(&msg)
        .map(|c| c[1].to_owned())
        .collect();
    let context = describe_path(&path_ref);

    if msg.starts_with("unknown field") || msg.starts_with("unknown variant") {
        let bad = words.first().cloned().unwrap_or_default();
        let expected: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        let is_kind = msg.starts_with("unknown variant");
        let mut at = path_ref.clone();
        if at.last() != Some(&bad.as_str()) {
            at.push(&bad);
        }
        let location = src.key_at(&at).or_else(|| src.locate(&path_ref));
        let (code, message, label) = if is_kind {
            (
                Code::UnknownNodeKind,
                format!("unknown node kind `{bad}`"),
                "not a node kind",
            )
        } else {
            (
                Code::UnknownField,
                format!("unknown field `{bad}` {context}"),
                "unknown field",
            )
        };
        let hint = did_you_mean(&bad, expected.iter().copied()).or_else(|| {
            (!expected.is_empty()).then(|| format!("expected one of: {}", expected.join(", ")))
        });
        return Diagnostic::new(code, message)
            .at(location)
            .label(label)
            .hint(hint);
    }
    if msg.starts_with("duplicate key") || msg.starts_with("duplicate field") {
        let key = words.first().cloned().unwrap_or_default();
        let second = src
            .spans()
            .keys(&path_ref)
            .into_iter()
            .filter(|(k, _)| *k == key)
            .nth(1)
            .map(|(_, span)| src.location(span));
        let in_options = path_ref.last() == Some(&"options");
        let message = if in_options {
            format!("two options on key `{key}` {context}")
        } else {
            format!("`{key}` appears twice {context}")
        };
        return Diagnostic::new(Code::DuplicateKey, message)
            .at(second.or_else(|| src.locate(&path_ref)))
            .label("second definition")
            .hint(Some(
                "YAML would keep only the last one; remove or merge the two".into(),
            ));
    }
    if msg.starts_with("missing field") {
        let field = words.first().cloned().unwrap_or_default();
        let location = src.key_at(&path_ref).or_else(|| src.locate(&path_ref));
        return Diagnostic::new(
            Code::MissingField,
            format!("missing field `{field}` {context}"),
        )
        .at(location)
        .label(format!("needs `{field}`"))
        .hint(Some(format!("add `{field}:`")));
    }
    let location = if path.is_empty() {
        own.map(|(l, c)| src.at_line_col(l, c))
    } else {
        src.value_at(&path_ref)
            .or_else(|| own.map(|(l, c)| src.at_line_col(l, c)))
    };
    let is_syntax =
        path.is_empty() && !msg.starts_with("invalid type") && !msg.starts_with("invalid value");
    if is_syntax {
        return Diagnostic::new(Code::YamlSyntax, format!("YAML syntax: {msg}"))
            .at(location)
            .label("here")
            .hint(Some(
                "check indentation and quoting; keys need a space after the colon".into(),
            ));
    }
    Diagnostic::new(
        Code::InvalidValue,
        format!("{msg} {context}").trim_end().to_owned(),
    )
    .at(location)
    .label("unexpected value")
}

/// Names where in the file a path points, for messages: "in node `main_menu`".
fn describe_path(path: &[&str]) -> String {
    match path {
        ["nodes", id, ..] => format!("in node `{id}`"),
        [] => "at the top level".into(),
        [index, ..] if index.parse::<usize>().is_ok() => {
            format!("in entry {}", index.parse::<usize>().unwrap_or(0) + 1)
        }
        [section, ..] => format!("in `{section}`"),
    }
}

fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a lone `\r` ends a line for YAML, so a position past it must find its line
    /// (found by the compiler property test with `?\r0`).
    #[test]
    fn lone_carriage_returns_end_lines() {
        let src = SourceFile::new("x.yaml", "a: 1\rb: [\r\nc: 2\n");
        assert_eq!(
            src.location(Span {
                line: 2,
                column: 1,
                len: 1
            })
            .line_text,
            "b: ["
        );
        assert_eq!(
            src.location(Span {
                line: 3,
                column: 1,
                len: 1
            })
            .line_text,
            "c: 2"
        );
        let d = parse_flow(&SourceFile::new("x.yaml", "?\r0")).unwrap_err();
        assert_eq!(d[0].code, Code::YamlSyntax);
    }
}
