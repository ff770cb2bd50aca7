//! YAML text to a located tree, and the tree to typed values: the one place that
//! parses YAML.
//!
//! [`load`] reads a document with granit-parser (the YAML 1.2 parser under
//! serde-saphyr) into a [`Yaml`] tree in which every key and value keeps its
//! [`Span`]. The same tree then serves three purposes: typed values are
//! deserialized from it ([`from_tree`]), positions of keys and values are found
//! in it when a diagnostic needs one ([`SpanIndex`]), and a node with a broken
//! field can be deserialized again with that field renamed or left out, so that
//! one mistake does not hide the rest of its node.
//!
//! Flow text is untrusted. While it reads, [`load`] refuses anchors and aliases
//! ([`LoadError::Anchor`]) and collections nested deeper than
//! [`MAX_NESTING`] ([`LoadError::TooDeep`]), stopping at the first offending
//! event before anything more is built; the size cap is the caller's
//! ([`crate::flow::parse::MAX_FILE_BYTES`]).
//!
//! Span conventions:
//! - Lines are 1-based and end at `\n`, `\r\n` or a lone `\r`, as in YAML.
//! - Columns are 1-based and count chars (a tab is one column).
//! - A span never leaves its line: a scalar that goes on over several lines is
//!   cut at the end of its first line.
//! - A collection's span is its first char (`{`, `[`, or the first key or dash
//!   of a block collection).
//! - An empty value (`key:` and nothing after it) has an empty span; the index
//!   then has no value span for it and `locate` gives the key.

use std::collections::HashMap;
use std::fmt;

use granit_parser::{ErrorKind, Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// How deep collections may nest in flow text. Flows nest about six levels.
pub const MAX_NESTING: usize = 64;

/// Where a piece of YAML source sits: 1-based line and column (columns count chars, not bytes), and its length in chars on that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in chars.
    pub column: usize,
    /// Length in chars, never past the end of the line; 0 for an empty value.
    pub len: usize,
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Yaml {
    /// Where the node is written.
    pub span: Span,
    /// What it is.
    pub kind: YamlKind,
}

/// The kinds of YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlKind {
    /// A scalar: its text after escapes, and whether it was written plain (unquoted,
    /// not a block scalar), which decides whether `5` is a number or a text.
    Scalar {
        /// The text.
        text: String,
        /// Written without quotes or block indicator.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A mapping, every entry in document order (duplicate keys included).
    Map(Vec<(Yaml, Yaml)>),
}

impl Yaml {
    /// The scalar's text, for a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            YamlKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn entries(&self) -> Option<&[(Yaml, Yaml)]> {
        match &self.kind {
            YamlKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a mapping (the first, if the key is repeated).
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    fn is_null(&self) -> bool {
        matches!(&self.kind, YamlKind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    fn is_empty_plain(&self) -> bool {
        matches!(&self.kind, YamlKind::Scalar { text, plain: true } if text.is_empty())
    }
}

/// Why a text is not a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Not YAML, or more than one document.
    Syntax {
        /// Where the parser stopped.
        at: Span,
        /// What it said.
        message: String,
        /// A tab where YAML allows only spaces.
        tab: bool,
    },
    /// An anchor (`&name`) or alias (`*name`).
    Anchor {
        /// Where it is written, sigil included.
        at: Span,
        /// The name, without sigil.
        name: String,
        /// True for an alias, false for an anchor.
        alias: bool,
    },
    /// Collections nested deeper than [`MAX_NESTING`].
    TooDeep {
        /// Where the first level too deep starts, or where the scanner gave up.
        at: Span,
        /// That level, when known.
        depth: Option<usize>,
    },
}

/// Line starts of `text`, for spans of scalars that go on over several lines.
struct Lines<'a> {
    text: &'a str,
}

impl Lines<'_> {
    /// Chars from byte `start` to the end of its line, trailing blanks dropped.
    fn rest_of_line(&self, start: usize) -> usize {
        let rest = self.text.get(start..).unwrap_or("");
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        rest[..end].trim_end_matches([' ', '\t']).chars().count()
    }
}

fn span_of(s: &granit_parser::Span, lines: &Lines<'_>) -> Span {
    let (start, end) = (s.start, s.end);
    let len = if end.line() == start.line() {
        end.index().saturating_sub(start.index())
    } else {
        start
            .byte_offset()
            .map_or(1, |b| lines.rest_of_line(b).max(1))
    };
    Span {
        line: start.line(),
        column: start.col() + 1,
        len,
    }
}

fn point(m: &granit_parser::Marker) -> Span {
    Span {
        line: m.line().max(1),
        column: m.col() + 1,
        len: 1,
    }
}

/// A collection being read.
struct Frame {
    node: Yaml,
    key: Option<Yaml>,
}

/// Reads the (first and only) document of `text` into a tree.
pub fn load(text: &str) -> Result<Yaml, LoadError> {
    let mut options = granit_parser::Options::default();
    options.emit_anchor_events = true;
    options.emit_unresolved_aliases = true;
    // The scanner reads a run of brackets ahead of the events, so its own limits stop
    // deep flow collections; the check on events below stops the rest.
    options.flow_nesting_limit = MAX_NESTING;
    options.block_nesting_limit = MAX_NESTING;
    let mut parser = Parser::new_from_str_with_options(text, options);
    let lines = Lines { text };
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Yaml> = None;
    let mut documents = 0usize;
    // Where the last event ended: (byte offset, line, 0-based column).
    let mut last = (0usize, 1usize, 0usize);
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ok) => ok,
            Err(e) => {
                if let Some(deep) = unclosed_too_deep(text, last, stack.len(), e.marker()) {
                    return Err(deep);
                }
                let mut err = scan_error(&e);
                // Say where the bracket that is not closed was opened.
                if let (LoadError::Syntax { message, .. }, Some(open)) = (&mut err, stack.last())
                    && (message.contains("flow") || message.contains("bracket"))
                {
                    let at = open.node.span;
                    message.push_str(&format!(
                        " (the collection opened at line {}, column {})",
                        at.line, at.column
                    ));
                }
                return Err(err);
            }
        };
        if let Some(b) = span.end.byte_offset() {
            last = (b, span.end.line(), span.end.col());
        }
        let node = match event {
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd => continue,
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(LoadError::Syntax {
                        at: point(&span.start),
                        message: "a second YAML document; a file holds one".into(),
                        tab: false,
                    });
                }
                continue;
            }
            Event::Anchor(_, name) => {
                return Err(LoadError::Anchor {
                    at: span_of(&span, &lines),
                    name: name.into_owned(),
                    alias: false,
                });
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                let written = span.slice(text).unwrap_or("*");
                return Err(LoadError::Anchor {
                    at: span_of(&span, &lines),
                    name: written.trim_start_matches('*').to_owned(),
                    alias: true,
                });
            }
            Event::Scalar(value, style, _, _) => Yaml {
                span: span_of(&span, &lines),
                kind: YamlKind::Scalar {
                    text: value.into_owned(),
                    plain: style == ScalarStyle::Plain,
                },
            },
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let depth = stack.len() + 1;
                if depth > MAX_NESTING {
                    return Err(LoadError::TooDeep {
                        at: point(&span.start),
                        depth: Some(depth),
                    });
                }
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    YamlKind::Seq(Vec::new())
                } else {
                    YamlKind::Map(Vec::new())
                };
                let mut at = point(&span.start);
                at.len = 1;
                stack.push(Frame {
                    node: Yaml { span: at, kind },
                    key: None,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(frame) => frame.node,
                None => continue,
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(frame) => match &mut frame.node.kind {
                YamlKind::Seq(items) => items.push(node),
                YamlKind::Map(entries) => match frame.key.take() {
                    None => frame.key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                YamlKind::Scalar { .. } => {}
            },
        }
    }
    Ok(root.unwrap_or(Yaml {
        span: Span {
            line: 1,
            column: 1,
            len: 0,
        },
        kind: YamlKind::Scalar {
            text: String::new(),
            plain: true,
        },
    }))
}

/// A syntax error the scanner found reading ahead through a run of flow
/// brackets (one never closed, say) hides how deep they went: counted from the
/// last event, the brackets open up to the error may take the nesting past the cap.
fn unclosed_too_deep(
    text: &str,
    (from, mut line, mut col): (usize, usize, usize),
    depth: usize,
    error_at: &granit_parser::Marker,
) -> Option<LoadError> {
    let until = error_at.byte_offset()?;
    let run = text.get(from..until.min(text.len()))?;
    let mut depth = depth;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut after_cr = false;
    for c in run.chars() {
        match (quote, c) {
            (_, '\n' | '\r') => comment = false,
            _ if comment => {}
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(LoadError::TooDeep {
                        at: Span {
                            line,
                            column: col + 1,
                            len: 1,
                        },
                        depth: Some(depth),
                    });
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        match c {
            '\n' if after_cr => {}
            '\n' | '\r' => {
                line += 1;
                col = 0;
            }
            _ => col += 1,
        }
        after_cr = c == '\r';
    }
    None
}

fn scan_error(e: &granit_parser::ScanError) -> LoadError {
    let at = point(e.marker());
    match e.kind() {
        ErrorKind::RecursionLimitExceeded => LoadError::TooDeep { at, depth: None },
        ErrorKind::TabInIndentation
        | ErrorKind::TabInBlockIndentation
        | ErrorKind::TabNotAllowed
        | ErrorKind::TabAtBlockScalarStart => LoadError::Syntax {
            at,
            message: "a tab in indentation: YAML indents with spaces only".into(),
            tab: true,
        },
        kind => LoadError::Syntax {
            at,
            message: kind.to_string(),
            tab: false,
        },
    }
}

/// Positions of every mapping key and value of a tree, keyed by path.
///
/// With duplicate keys the first one wins: `key`/`value` give the first
/// occurrence and nothing under a later duplicate is indexed, while `keys`
/// lists every occurrence so that callers can report the duplicates.
#[derive(Debug, Default, Clone)]
pub struct SpanIndex {
    keys: HashMap<Vec<String>, Span>,
    values: HashMap<Vec<String>, Span>,
    children: HashMap<Vec<String>, Vec<(String, Span)>>,
}

impl SpanIndex {
    /// Indexes a tree.
    pub fn build(tree: &Yaml) -> SpanIndex {
        let mut index = SpanIndex::default();
        let mut path = Vec::new();
        index.walk(tree, &mut path);
        index
    }

    fn walk(&mut self, node: &Yaml, path: &mut Vec<String>) {
        if node.span.len > 0 {
            self.values.entry(path.clone()).or_insert(node.span);
        }
        match &node.kind {
            YamlKind::Scalar { .. } => {}
            YamlKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    self.walk(item, path);
                    path.pop();
                }
            }
            YamlKind::Map(entries) => {
                for (key, value) in entries {
                    let name = key.as_str().unwrap_or("").to_owned();
                    self.children
                        .entry(path.clone())
                        .or_default()
                        .push((name.clone(), key.span));
                    path.push(name);
                    if !self.keys.contains_key(path.as_slice()) {
                        self.keys.insert(path.clone(), key.span);
                        self.walk(value, path);
                    }
                    path.pop();
                }
            }
        }
    }

    /// The span of the mapping key that ends `path` (e.g. ["nodes","main_menu","menu","options","1"] -> the `"1"` key).
    pub fn key(&self, path: &[&str]) -> Option<Span> {
        self.keys.get(&owned(path)).copied()
    }

    /// The span of the value at `path`: the whole scalar (quotes included when quoted), or the first char of a collection.
    pub fn value(&self, path: &[&str]) -> Option<Span> {
        self.values.get(&owned(path)).copied()
    }

    /// The key span if the path ends in a mapping key, else the value span: the best place to point at.
    pub fn locate(&self, path: &[&str]) -> Option<Span> {
        self.key(path).or_else(|| self.value(path))
    }

    /// Keys of the mapping at `path`, in document order, with their spans.
    pub fn keys(&self, path: &[&str]) -> Vec<(String, Span)> {
        self.children.get(&owned(path)).cloned().unwrap_or_default()
    }
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

/// A deserialization error, at the node it arose at when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    /// What serde said.
    pub message: String,
    /// The node.
    pub at: Option<Span>,
}

impl DeError {
    fn or_at(mut self, span: Span) -> DeError {
        if self.at.is_none() {
            self.at = Some(span);
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Deserializes `T` from a tree, without tracking the path.
pub fn from_tree<T: DeserializeOwned>(tree: &Yaml) -> Result<T, DeError> {
    T::deserialize(TreeDeserializer(tree))
}

/// Deserializes `T` from a tree, reporting the path of the first error.
pub fn from_tree_with_path<T: DeserializeOwned>(
    tree: &Yaml,
) -> Result<T, serde_path_to_error::Error<DeError>> {
    serde_path_to_error::deserialize(TreeDeserializer(tree))
}

/// A serde deserializer over a tree node.
#[derive(Clone, Copy)]
pub struct TreeDeserializer<'a>(pub &'a Yaml);

/// What a plain scalar means under the YAML 1.2 core schema.
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text,
}

fn resolve(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let bytes = text.as_bytes();
    let first = bytes[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Resolved::Text;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_or(Resolved::Text, Resolved::Uint);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return u64::from_str_radix(oct, 8).map_or(Resolved::Text, Resolved::Uint);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if first == b'-' {
            if let Ok(n) = text.parse::<i64>() {
                return Resolved::Int(n);
            }
        } else if let Ok(n) = digits.parse::<u64>() {
            return Resolved::Uint(n);
        }
        return text.parse::<f64>().map_or(Resolved::Text, Resolved::Float);
    }
    let is_float = !digits.is_empty()
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit())
        && !digits.starts_with(['e', 'E']);
    if is_float && let Ok(f) = text.parse::<f64>() {
        return Resolved::Float(f);
    }
    Resolved::Text
}

impl<'de> de::Deserializer<'de> for TreeDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.0;
        let result = match &node.kind {
            YamlKind::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(n) => visitor.visit_i64(n),
                Resolved::Uint(n) => visitor.visit_u64(n),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Text => visitor.visit_str(text),
            },
            YamlKind::Scalar { text, plain: false } => visitor.visit_str(text),
            YamlKind::Seq(items) => visitor.visit_seq(SeqReader(items.iter())),
            YamlKind::Map(entries) => visitor.visit_map(MapReader {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.or_at(node.span))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            YamlKind::Scalar { text, .. } => visitor
                .visit_str(text)
                .map_err(|e: DeError| e.or_at(self.0.span)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor
                .visit_none()
                .map_err(|e: DeError| e.or_at(self.0.span))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_empty_plain() {
            return visitor
                .visit_seq(SeqReader([].iter()))
                .map_err(|e| e.or_at(self.0.span));
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_empty_plain() {
            return visitor
                .visit_map(MapReader {
                    entries: [].iter(),
                    value: None,
                })
                .map_err(|e| e.or_at(self.0.span));
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.0.kind {
            YamlKind::Scalar { text, .. } => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| e.or_at(self.0.span)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

struct SeqReader<'a>(std::slice::Iter<'a, Yaml>);

impl<'de> de::SeqAccess<'de> for SeqReader<'_> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.0.next() {
            Some(item) => seed.deserialize(TreeDeserializer(item)).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapReader<'a> {
    entries: std::slice::Iter<'a, (Yaml, Yaml)>,
    value: Option<&'a Yaml>,
}

impl<'de> de::MapAccess<'de> for MapReader<'_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(TreeDeserializer(key)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(value) => seed.deserialize(TreeDeserializer(value)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_positions() {
        let tree = load("a: 1\nb:\n  c: \"x y\"\n  d: [p, {q: r}]\ne:\n").unwrap();
        let index = SpanIndex::build(&tree);
        let s = |line, column, len| Span { line, column, len };
        assert_eq!(index.key(&["b", "c"]), Some(s(3, 3, 1)));
        assert_eq!(index.value(&["b", "c"]), Some(s(3, 6, 5)));
        assert_eq!(index.value(&["b", "d", "1", "q"]), Some(s(4, 14, 1)));
        assert_eq!(index.value(&["b", "d"]), Some(s(4, 6, 1)));
        assert_eq!(index.value(&["e"]), None);
        assert_eq!(index.locate(&["e"]), Some(s(5, 1, 1)));
    }

    #[test]
    fn multi_line_scalars_are_cut_at_their_first_line() {
        let tree = load("a: \"one\n  two\"\nb: plain  \n  more\n").unwrap();
        let index = SpanIndex::build(&tree);
        assert_eq!(index.value(&["a"]).map(|s| s.len), Some(4));
        assert_eq!(index.value(&["b"]).map(|s| s.len), Some(5));
    }

    #[test]
    fn anchors_aliases_and_depth_are_refused_where_written() {
        match load("a: &x 1\n") {
            Err(LoadError::Anchor { at, name, alias }) => {
                assert_eq!((at.line, at.column, at.len), (1, 4, 2));
                assert_eq!((name.as_str(), alias), ("x", false));
            }
            other => panic!("{other:?}"),
        }
        let deep = format!("x:\n{}x\n", "- ".repeat(100));
        match load(&deep) {
            Err(LoadError::TooDeep { at, .. }) => assert_eq!(at.line, 2),
            other => panic!("{other:?}"),
        }
        let deep = format!("x: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(matches!(load(&deep), Err(LoadError::TooDeep { .. })));
    }

    #[test]
    fn plain_scalars_resolve_by_the_core_schema() {
        let tree = load("a: 5\nb: \"5\"\nc: true\nd: ~\ne: 1.5\nf: +14155550100\ng: -3\n").unwrap();
        let v: serde_json::Value = from_tree(&tree).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 5, "b": "5", "c": true, "d": null, "e": 1.5, "f": 14155550100u64, "g": -3})
        );
        #[derive(serde::Deserialize)]
        struct Texts {
            f: String,
        }
        let t: Texts = from_tree(&load("f: +14155550100\n").unwrap()).unwrap();
        assert_eq!(t.f, "+14155550100");
    }

    #[test]
    fn a_tab_in_indentation_says_so() {
        match load("a:\n\tb: 1\n") {
            Err(LoadError::Syntax { tab: true, at, .. }) => assert_eq!(at.line, 2),
            other => panic!("{other:?}"),
        }
    }
}
