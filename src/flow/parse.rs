//! YAML to raw types, with every error of a file reported at once.
//!
//! Flow text is written by admins and treated as untrusted: [`read_source`]
//! reads no more of a file than [`MAX_FILE_BYTES`], [`guard`] refuses a larger
//! one, and the YAML loader ([`crate::flow::yaml`]) refuses anchors and aliases,
//! whose expansion can make a 50 KB file stand for gigabytes, and nesting deeper
//! than [`MAX_NESTING`]. Every parser of flow text (flows, prompt catalogs,
//! scenario files) goes through [`guard`].
//!
//! A file is parsed once, into a tree that keeps the position of every key and
//! value; typed values are read from that tree. When a part does not read, the
//! error is reported and the part is read again with the offending field renamed
//! to the field it nearly spells, or left out (unknown fields, repeated keys,
//! misspelt node kinds), so that one mistake does not hide the next. A node that
//! still does not read is kept as a placeholder, so that targets naming it resolve.

use std::borrow::Cow;
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;
use serde::de::DeserializeOwned;

use crate::flow::diagnostic::{Code, Diagnostic, Location, did_you_mean};
use crate::flow::raw::{RawCatalog, RawFlowFile, RawHangup, RawNode, RawScenario};
use crate::flow::yaml::{
    LoadError, Span, SpanIndex, Yaml, YamlKind, from_tree, from_tree_with_path,
};

/// A source file read into memory with its span index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given (relative paths stay relative, for short diagnostics).
    pub path: std::path::PathBuf,
    /// Contents.
    pub text: String,
    /// The YAML tree, read on first use.
    tree: std::sync::OnceLock<Result<Yaml, LoadError>>,
    /// Positions of keys and values, built from the tree on first use: a clean compile never needs them.
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
            tree: std::sync::OnceLock::new(),
            spans: std::sync::OnceLock::new(),
            line_starts,
        }
    }

    /// Size of the file in bytes, even when only its start was read.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The YAML tree of the text, or why it has none.
    pub fn tree(&self) -> Result<&Yaml, &LoadError> {
        self.tree
            .get_or_init(|| crate::flow::yaml::load(&self.text))
            .as_ref()
    }

    /// The span index of the text (empty when the text is not YAML).
    pub fn spans(&self) -> &SpanIndex {
        self.spans.get_or_init(|| match self.tree() {
            Ok(tree) => SpanIndex::build(tree),
            Err(_) => SpanIndex::default(),
        })
    }

    /// The location of the first of `needles` found inside the value at `path` (a
    /// `{var}` in a template), else of the whole value.
    pub fn value_part(&self, path: &[&str], needles: &[&str]) -> Option<Location> {
        let span = self.spans().value(path)?;
        let line = self.location(span).line_text;
        let start: usize = line
            .char_indices()
            .nth(span.column.saturating_sub(1))
            .map_or(line.len(), |(b, _)| b);
        let within: String = line
            .get(start..)
            .unwrap_or("")
            .chars()
            .take(span.len)
            .collect();
        let Some((at, needle)) = needles
            .iter()
            .find_map(|n| within.find(n).map(|at| (at, *n)))
        else {
            return Some(self.location(span));
        };
        let column = span.column + within[..at].chars().count();
        Some(self.location(Span {
            line: span.line,
            column,
            len: needle.chars().count(),
        }))
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

    /// A location from a line and column.
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

pub use crate::flow::yaml::MAX_NESTING;

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

/// Refuses flow text that would cost far more than its size to read, and text
/// that is not YAML: too large, nested too deep, using anchors and aliases, or
/// with a syntax error. On success the file's tree is ready.
///
/// Anchors and aliases are refused outright rather than capped: no flow needs
/// them (FLOW-SPEC does not mention them), errors inside an alias would point at
/// the anchor, and a cap on the expanded size would still let a 50 KB file cost 100 MB.
pub fn guard(src: &SourceFile) -> Result<&Yaml, Diagnostic> {
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
    src.tree().map_err(|e| load_diagnostic(src, e))
}

fn load_diagnostic(src: &SourceFile, err: &LoadError) -> Diagnostic {
    match err {
        LoadError::Anchor { at, name, alias } => {
            let (what, label, sigil) = if *alias {
                ("alias", "an alias", '*')
            } else {
                ("anchor", "an anchor", '&')
            };
            Diagnostic::new(
                Code::YamlAlias,
                format!("YAML {what} `{sigil}{name}`: anchors and aliases are not allowed"),
            )
            .at(Some(src.location(Span {
                len: at.len.max(name.chars().count() + 1),
                ..*at
            })))
            .label(label)
            .hint(Some(
                "write the value out in full at each place it is used".into(),
            ))
        }
        LoadError::TooDeep { at, depth } => Diagnostic::new(
            Code::NestingTooDeep,
            format!("collections nest more than {MAX_NESTING} levels deep"),
        )
        .at(Some(src.location(*at)))
        .label(match depth {
            Some(depth) => format!("level {depth} starts here"),
            None => "too deep by here".into(),
        })
        .hint(Some(
            "flows need only a few levels: look for brackets that are never closed, or indentation that keeps growing".into(),
        )),
        LoadError::Syntax { at, message, tab } => {
            let hint = if *tab {
                "indent with spaces; set your editor to insert spaces for the Tab key"
            } else {
                "check brackets, indentation and quoting; keys need a space after the colon"
            };
            Diagnostic::new(Code::YamlSyntax, format!("YAML syntax: {message}"))
                .at(Some(src.location(*at)))
                .label(if *tab {
                    "a tab"
                } else {
                    "the parser stopped here"
                })
                .hint(Some(hint.into()))
        }
    }
}

/// How many fields of one part are renamed or left out before it is given up.
const MAX_REPAIRS: usize = 64;

/// Reads `T` from `node` (found at `prefix` in the file). A field that is unknown
/// or repeated is reported, then renamed to the field it nearly spells or left
/// out, and the part read again; `None` when it still does not read.
fn read_repairing<T: DeserializeOwned>(
    src: &SourceFile,
    node: &Yaml,
    prefix: &[&str],
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let mut node = Cow::Borrowed(node);
    for _ in 0..MAX_REPAIRS {
        let err = match from_tree_with_path::<T>(&node) {
            Ok(value) => return Some(value),
            Err(err) => err,
        };
        let rel: Vec<String> = err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = err.into_inner();
        let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        path.extend(rel.iter().cloned());
        let mut d = yaml_error_diagnostic(src, &path, &inner.message, inner.at);
        if d.code == Code::DuplicateKey
            && let Some(span) = second_key(&node, &rel, &inner.message)
        {
            // The tree as repaired knows the key's place even under a name it was given.
            d = d.at(Some(src.location(span)));
        }
        let repaired = repair(node.to_mut(), &rel, &d, &inner.message);
        diags.push(d);
        if !repaired {
            return None;
        }
    }
    None
}

/// Renames or removes the field a diagnostic is about; false when it cannot.
fn repair(tree: &mut Yaml, rel: &[String], d: &Diagnostic, message: &str) -> bool {
    let words: Vec<String> = BACKTICKED
        .captures_iter(message)
        .map(|c| c[1].to_owned())
        .collect();
    let Some(bad) = words.first() else {
        return false;
    };
    let mut map_path = rel;
    if map_path.last() == Some(bad) {
        map_path = &map_path[..map_path.len() - 1];
    }
    let Some(YamlKind::Map(entries)) = walk_mut(tree, map_path).map(|n| &mut n.kind) else {
        return false;
    };
    match d.code {
        Code::UnknownField | Code::UnknownNodeKind => {
            let Some(i) = entries.iter().position(|(k, _)| k.as_str() == Some(bad)) else {
                return false;
            };
            let expected = words.iter().skip(1).map(String::as_str);
            let rename = did_you_mean(bad, expected).and_then(|hint| {
                let name = BACKTICKED.captures(&hint)?.get(1)?.as_str().to_owned();
                let taken = entries.iter().any(|(k, _)| k.as_str() == Some(&name));
                (!taken).then_some(name)
            });
            match rename {
                // Every spelling of it: a repeat then shows up as a repeated key.
                Some(name) => {
                    for (key, _) in entries.iter_mut() {
                        if let YamlKind::Scalar { text, .. } = &mut key.kind
                            && text == bad
                        {
                            text.clone_from(&name);
                        }
                    }
                }
                None if d.code == Code::UnknownField => {
                    entries.remove(i);
                }
                None => return false,
            }
            true
        }
        Code::DuplicateKey => {
            let mut seen = 0;
            let second = entries.iter().position(|(k, _)| {
                seen += usize::from(k.as_str() == Some(bad));
                seen == 2
            });
            match second {
                Some(i) => {
                    entries.remove(i);
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// Where the second key named in a duplicate-key `message` sits in the map at `rel`.
fn second_key(tree: &Yaml, rel: &[String], message: &str) -> Option<Span> {
    let key = BACKTICKED.captures(message)?.get(1)?.as_str();
    let mut node = tree;
    for seg in rel {
        node = match &node.kind {
            YamlKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(seg.as_str()))
                .map(|(_, v)| v)?,
            YamlKind::Seq(items) => items.get(seg.parse::<usize>().ok()?)?,
            YamlKind::Scalar { .. } => return None,
        };
    }
    node.entries()?
        .iter()
        .filter(|(k, _)| k.as_str() == Some(key))
        .nth(1)
        .map(|(k, _)| k.span)
}

fn walk_mut<'t>(mut node: &'t mut Yaml, path: &[String]) -> Option<&'t mut Yaml> {
    for seg in path {
        node = match &mut node.kind {
            YamlKind::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(seg.as_str()))
                .map(|(_, v)| v)?,
            YamlKind::Seq(items) => items.get_mut(seg.parse::<usize>().ok()?)?,
            YamlKind::Scalar { .. } => return None,
        };
    }
    Some(node)
}

/// A flow file as far as it reads, with the diagnostics of every part that does not.
#[derive(Debug)]
pub struct ParsedFlow {
    /// The flow, when its top level reads; nodes that did not read are placeholders.
    pub flow: Option<RawFlowFile>,
    /// Ids of the nodes that did not read.
    pub broken_nodes: Vec<String>,
    /// Every node id the file names, read or not.
    pub node_ids: Vec<String>,
    /// What does not read.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a flow file, reporting every shape error of every node.
pub fn parse_flow(src: &SourceFile) -> ParsedFlow {
    let mut parsed = ParsedFlow {
        flow: None,
        broken_nodes: Vec::new(),
        node_ids: Vec::new(),
        diagnostics: Vec::new(),
    };
    let tree = match guard(src) {
        Ok(tree) => tree,
        Err(d) => {
            parsed.diagnostics.push(d);
            return parsed;
        }
    };
    let nodes_tree = tree.get("nodes");
    if let Some(entries) = nodes_tree.and_then(Yaml::entries) {
        parsed.node_ids = entries
            .iter()
            .filter_map(|(k, _)| k.as_str().map(str::to_owned))
            .collect();
    }
    // Most files are fine: read once without path tracking, and pay for precise errors only on failure.
    if let Ok(flow) = from_tree::<RawFlowFile>(tree) {
        parsed.flow = Some(flow);
        return parsed;
    }
    let diags = &mut parsed.diagnostics;
    let mut nodes: IndexMap<String, RawNode> = IndexMap::new();
    let mut head = tree.clone();
    if let Some(entries) = nodes_tree.and_then(Yaml::entries) {
        for (key, value) in entries {
            let Some(id) = key.as_str() else { continue };
            if nodes.contains_key(id) {
                let path = ["nodes".to_owned()];
                diags.push(yaml_error_diagnostic(
                    src,
                    &path,
                    &format!("duplicate key `{id}`"),
                    None,
                ));
                continue;
            }
            let node = read_repairing::<RawNode>(src, value, &["nodes", id], diags);
            if node.is_none() {
                parsed.broken_nodes.push(id.to_owned());
            }
            nodes.insert(
                id.to_owned(),
                node.unwrap_or(RawNode::Hangup(RawHangup::default())),
            );
        }
        // The top level is read with the nodes already read.
        if let YamlKind::Map(top) = &mut head.kind {
            for (k, v) in top.iter_mut() {
                if k.as_str() == Some("nodes") {
                    v.kind = YamlKind::Map(Vec::new());
                }
            }
        }
    }
    if let Some(mut flow) = read_repairing::<RawFlowFile>(src, &head, &[], diags) {
        if nodes_tree.and_then(Yaml::entries).is_some() {
            flow.nodes = nodes;
        }
        parsed.flow = Some(flow);
    }
    parsed
}

/// Parses a prompt catalog (`prompts/<lang>.yaml`).
pub fn parse_catalog(src: &SourceFile) -> Result<RawCatalog, Diagnostic> {
    let tree = guard(src)?;
    if src.text.trim().is_empty() {
        return Ok(RawCatalog::default());
    }
    if let Ok(map) =
        from_tree::<crate::flow::raw::UniqueMap<crate::flow::raw::RawCatalogEntry>>(tree)
    {
        return Ok(map.0);
    }
    let mut diags = Vec::new();
    read_repairing::<crate::flow::raw::UniqueMap<crate::flow::raw::RawCatalogEntry>>(
        src,
        tree,
        &[],
        &mut diags,
    );
    Err(diags.into_iter().next().unwrap_or_else(|| {
        Diagnostic::new(Code::InvalidValue, "the catalog does not read")
            .at(Some(src.at_line_col(1, 1)))
    }))
}

/// Parses a scenario file (`flows/<flow>.test.yaml`): the scenarios that read, and
/// a diagnostic for every shape error of every scenario.
pub fn parse_scenarios(src: &SourceFile) -> Result<Vec<RawScenario>, Vec<Diagnostic>> {
    let tree = guard(src).map_err(|d| vec![d])?;
    if let Ok(all) = from_tree::<Vec<RawScenario>>(tree) {
        return Ok(all);
    }
    let mut diags = Vec::new();
    let YamlKind::Seq(items) = &tree.kind else {
        read_repairing::<Vec<RawScenario>>(src, tree, &[], &mut diags);
        return Err(diags);
    };
    for (i, item) in items.iter().enumerate() {
        read_repairing::<RawScenario>(src, item, &[&i.to_string()], &mut diags);
    }
    Err(diags)
}

static BACKTICKED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`([^`]*)`").expect("static regex"));

/// Turns a serde error into a diagnostic with code, location and hint.
fn yaml_error_diagnostic(
    src: &SourceFile,
    path: &[String],
    msg: &str,
    own: Option<Span>,
) -> Diagnostic {
    let path_ref: Vec<&str> = path.iter().map(String::as_str).collect();
    let words: Vec<String> = BACKTICKED
        .captures_iter(msg)
        .map(|c| c[1].to_owned())
        .collect();
    let context = describe_path(&path_ref);
    let own_location = own.filter(|s| s.len > 0).map(|s| src.location(s));
    let d = if msg.starts_with("unknown field") || msg.starts_with("unknown variant") {
        let bad = words.first().cloned().unwrap_or_default();
        let expected: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        let is_kind = msg.starts_with("unknown variant");
        let mut at = path_ref.clone();
        if at.last() != Some(&bad.as_str()) {
            at.push(&bad);
        }
        let location = src
            .key_at(&at)
            .or(own_location)
            .or_else(|| src.locate(&path_ref));
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
        Diagnostic::new(code, message)
            .at(location)
            .label(label)
            .hint(hint)
    } else if msg.starts_with("duplicate key") || msg.starts_with("duplicate field") {
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
        Diagnostic::new(Code::DuplicateKey, message)
            .at(second.or_else(|| src.locate(&path_ref)))
            .label("second definition")
            .hint(Some(
                "YAML would keep only the last one; remove or merge the two".into(),
            ))
    } else if msg.starts_with("missing field") {
        let field = words.first().cloned().unwrap_or_default();
        let location = src.key_at(&path_ref).or_else(|| src.locate(&path_ref));
        Diagnostic::new(
            Code::MissingField,
            format!("missing field `{field}` {context}"),
        )
        .at(location.or(own_location))
        .label(format!("needs `{field}`"))
        .hint(Some(format!("add `{field}:`")))
    } else {
        let location = src.value_at(&path_ref).or(own_location);
        Diagnostic::new(
            Code::InvalidValue,
            format!("{msg} {context}").trim_end().to_owned(),
        )
        .at(location)
        .label("unexpected value")
    };
    // A diagnostic always names its file, at worst its first line.
    if d.location.is_none() {
        let start = Some(src.at_line_col(1, 1));
        return d.at(start);
    }
    d
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

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(d: &[Diagnostic]) -> Vec<&'static str> {
        d.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn a_broken_node_is_read_again_without_what_broke_it() {
        let text = "languages: [en]\nstart: a\nnodes:\n  a:\n    message: { prompt: hi, colour: blue, nxet: b }\n  b:\n    hangpu: { prompt: bye }\n    hangpu: {}\n  c:\n    menu: { prompt: hi, options: { \"1\": a, \"1\": b } }\n  d:\n    message: { prompt: 5 }\n";
        let parsed = parse_flow(&SourceFile::new("x.yaml", text));
        // `colour` is left out, `nxet` read as `next`, `hangpu` as `hangup` (its repeat
        // reported), the second option `1` left out; `d` does not read (a number is no
        // prompt) and stands in.
        assert_eq!(
            codes(&parsed.diagnostics),
            ["E002", "E002", "E003", "E009", "E009", "E004"],
            "{:#?}",
            parsed.diagnostics
        );
        let flow = parsed.flow.expect("the top level reads");
        match &flow.nodes["a"] {
            RawNode::Message(m) => assert_eq!(m.next.as_deref(), Some("b")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(flow.nodes["b"], RawNode::Hangup(_)));
        match &flow.nodes["c"] {
            RawNode::Menu(m) => assert_eq!(m.options.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(parsed.broken_nodes, ["d"]);
        let at: Vec<(usize, usize)> = parsed
            .diagnostics
            .iter()
            .filter_map(|d| d.location.as_ref().map(|l| (l.span.line, l.span.column)))
            .collect();
        assert_eq!(at, [(5, 28), (5, 42), (7, 5), (8, 5), (10, 44), (12, 24)]);
    }

    #[test]
    fn a_node_that_still_does_not_read_is_a_placeholder() {
        let text = "languages: [en]\nstart: a\nnodes:\n  a:\n    message: { prompt: [1, [2]] }\n";
        let parsed = parse_flow(&SourceFile::new("x.yaml", text));
        assert_eq!(parsed.broken_nodes, ["a"]);
        assert!(parsed.flow.is_some_and(|f| f.nodes.contains_key("a")));
        assert_eq!(
            codes(&parsed.diagnostics),
            ["E004"],
            "{:#?}",
            parsed.diagnostics
        );
    }

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
        let parsed = parse_flow(&SourceFile::new("x.yaml", "?\r0"));
        assert!(parsed.flow.is_none());
        assert!(parsed.diagnostics[0].location.is_some());
    }
}
