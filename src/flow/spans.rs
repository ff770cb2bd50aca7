//! Source positions of the keys and values of a YAML document, keyed by path.
//!
//! serde_yaml reports line and column only for its own syntax errors. Errors
//! found later (a `goto` naming no node, an unknown field located through
//! serde_path_to_error) know the path of the offending key or value, and this
//! index, built from the same text with yaml-rust2's event parser, turns that
//! path back into a `line:column` and a length to underline.
//!
//! Conventions:
//! - Lines are 1-based and end at `\n`, `\r\n` or a lone `\r`, as in YAML;
//!   the line break itself belongs to no line.
//! - Columns are 1-based and count chars (a tab is one column). A leading
//!   byte order mark is not counted, as editors and libyaml do not count it.
//! - A span never leaves its line: a scalar that goes on over several lines
//!   (block scalars, folded plain or quoted scalars) is cut at the end of its
//!   first line. A block scalar's span is its first content line: yaml-rust2
//!   marks the content, not the `|`/`>` header.
//! - An empty value (`key:` and nothing after it) has no value span;
//!   `locate` then gives the key.
//! - Only the first document of a stream is indexed. On a syntax error the
//!   index keeps everything reported before it.
//! - With duplicate keys the first one wins: `key`/`value` give the first
//!   occurrence and nothing under a later duplicate is indexed, while `keys`
//!   lists every occurrence so that callers can report the duplicates.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use yaml_rust2::Event;
use yaml_rust2::parser::Parser;
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a piece of YAML source sits: 1-based line and column (columns count chars, not bytes), and its length in chars on that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in chars.
    pub column: usize,
    /// Length in chars, at least 1, never past the end of the line.
    pub len: usize,
}

/// Positions of every mapping key and value in a YAML document, keyed by path.
#[derive(Debug, Default, Clone)]
pub struct SpanIndex {
    keys: HashMap<Vec<String>, Span>,
    values: HashMap<Vec<String>, Span>,
    children: HashMap<Vec<String>, Vec<(String, Span)>>,
}

impl SpanIndex {
    /// Indexes `text`; never panics; on a syntax error keeps what was indexed before it.
    pub fn build(text: &str) -> SpanIndex {
        const MAX_DEPTH: usize = 256;
        let text = untab(text.strip_prefix('\u{feff}').unwrap_or(text));
        let mut builder = Builder {
            src: Source::new(&text),
            index: SpanIndex::default(),
            stack: Vec::new(),
            waiting: Vec::new(),
        };
        let mut parser = Parser::new_from_str(&text);
        while let Ok((event, mark)) = parser.next_token() {
            // Paths are copied per event, so absurd nesting would cost quadratic time;
            // no flow nests anywhere near this deep (serde_yaml itself stops at 128).
            if builder.stack.len() > MAX_DEPTH || !builder.event(event, mark) {
                break;
            }
        }
        builder.index
    }

    /// The span of the mapping key that ends `path` (e.g. ["nodes","main_menu","menu","options","1"] -> the `"1"` key).
    pub fn key(&self, path: &[&str]) -> Option<Span> {
        self.keys.get(&owned(path)).copied()
    }

    /// The span of the value at `path`: the whole scalar (quotes included when quoted), or the first char of a collection (`{`, `[`, or the first key/dash of a block collection).
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

/// yaml-rust2 rejects tabs in the blanks right after a `:` or `?` indicator
/// (`key:\tvalue`), which libyaml and so serde_yaml accept. Spaces in their
/// place keep every position; only a quoted key spelling `:\t` would be
/// indexed differently. `?` counts as an indicator first on its line or
/// after `- ` or `? `.
pub(crate) fn untab(text: &str) -> Cow<'_, str> {
    if !text.contains('\t') {
        return Cow::Borrowed(text);
    }
    // `at_start`: a node may start here (indentation, or after `- `/`? `);
    // `opener`: the last char was a `-` or `?` at such a place.
    let (mut after_indicator, mut at_start, mut opener) = (false, true, false);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        out.push(if c == '\t' && after_indicator { ' ' } else { c });
        match c {
            '\n' | '\r' => (after_indicator, at_start, opener) = (false, true, false),
            ' ' | '\t' => {
                at_start |= opener;
                opener = false;
            }
            _ => {
                after_indicator = c == ':' || (c == '?' && at_start);
                opener = at_start && matches!(c, '-' | '?');
                at_start = false;
            }
        }
    }
    Cow::Owned(out)
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

/// The text split into lines the way the YAML scanner counts them, with a
/// cursor so that markers met in document order are found in linear time.
/// Markers are looked up by line and column only: their `index` counts chars
/// but adds bytes for the content lines of block scalars.
struct Source<'a> {
    lines: Vec<&'a str>,
    /// Last position found: line (1-based), char column and byte offset.
    cursor: (usize, usize, usize),
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Self {
        let mut lines = Vec::new();
        let bytes = text.as_bytes();
        let (mut start, mut i) = (0, 0);
        while let Some(&b) = bytes.get(i) {
            if b == b'\n' || b == b'\r' {
                // Line breaks are ASCII, so `start` and `i` are char boundaries.
                lines.push(text.get(start..i).unwrap_or_default());
                i += if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            } else {
                i += 1;
            }
        }
        lines.push(text.get(start..).unwrap_or_default());
        Source {
            lines,
            cursor: (0, 0, 0),
        }
    }

    /// The line holding `line`/`col` (1-based line, 0-based char column, as
    /// yaml-rust2 markers count) and the byte offset of that char in it.
    fn at(&mut self, line: usize, col: usize) -> Option<(&'a str, usize)> {
        let text = *self.lines.get(line.checked_sub(1)?)?;
        let (l, mut c, mut b) = self.cursor;
        if l != line || c > col {
            (c, b) = (0, 0);
        }
        let mut chars = text.get(b..)?.chars();
        while c < col {
            b += chars.next()?.len_utf8();
            c += 1;
        }
        self.cursor = (line, c, b);
        Some((text, b))
    }

    /// The source from `mark` to the end of its line.
    fn rest(&mut self, mark: Marker) -> Option<&'a str> {
        let (text, b) = self.at(mark.line(), mark.col())?;
        text.get(b..)
    }
}

fn span(mark: Marker, len: usize) -> Option<Span> {
    (len > 0).then_some(Span {
        line: mark.line(),
        column: mark.col() + 1,
        len,
    })
}

/// Length of a quoted scalar starting at the opening quote of `rest`, cut at
/// the end of the line when the closing quote is on a later line.
fn quoted_len(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.chars();
    if chars.next()? != quote {
        return None;
    }
    let mut n = 1;
    while let Some(c) = chars.next() {
        n += 1;
        if quote == '"' && c == '\\' {
            // Escaped char; a backslash ending the line is a line continuation.
            if chars.next().is_some() {
                n += 1;
            }
        } else if c == quote {
            if quote == '\'' && chars.clone().next() == Some('\'') {
                chars.next();
                n += 1;
            } else {
                return Some(n);
            }
        }
    }
    Some(rest.trim_end_matches([' ', '\t']).chars().count())
}

/// How many chars of `rest` spell the start of `value`, with trailing blanks
/// dropped if `trim`. A plain or block scalar's first line is a prefix of its
/// value (folding only changes what follows a line break), so this is exact
/// and stops by itself at comments, flow indicators and `: `.
fn matched_len(rest: &str, value: &str, trim: bool) -> usize {
    let mut len = 0;
    for (i, (a, b)) in rest.chars().zip(value.chars()).enumerate() {
        if a != b {
            break;
        }
        if !trim || (a != ' ' && a != '\t') {
            len = i + 1;
        }
    }
    len
}

/// Length of an alias (`*name`) starting at `rest`.
fn alias_len(rest: &str) -> usize {
    let mut chars = rest.chars();
    if chars.next() != Some('*') {
        return 0;
    }
    1 + chars
        .take_while(|c| !matches!(c, ' ' | '\t' | ',' | '[' | ']' | '{' | '}'))
        .count()
}

enum Kind {
    Seq {
        next: usize,
    },
    Map {
        /// `None` while a key is expected; then the key the next node is the
        /// value of (`Some(None)`: a value not to index).
        key: Option<Option<String>>,
        seen: HashSet<String>,
    },
}

struct Frame {
    /// Path of the collection; `None` inside a node that is not indexed.
    path: Option<Vec<String>>,
    kind: Kind,
}

/// Where a node sits in its parent.
enum Role {
    Value(Option<Vec<String>>),
    /// A key of the mapping at this path.
    Key(Option<Vec<String>>),
}

struct Builder<'a> {
    src: Source<'a>,
    index: SpanIndex,
    stack: Vec<Frame>,
    /// Collections whose value span is the start of the next node (block
    /// mappings, whose markers point past their first key).
    waiting: Vec<Vec<String>>,
}

impl Builder<'_> {
    /// Handles one event; `false` once the first document is over.
    fn event(&mut self, event: Event, mark: Marker) -> bool {
        match event {
            Event::StreamStart | Event::DocumentStart | Event::Nothing => true,
            Event::DocumentEnd | Event::StreamEnd => false,
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
                !self.stack.is_empty()
            }
            Event::Scalar(value, style, ..) => {
                let at = self.scalar(mark, &value, style);
                self.node(at, Some(value), None);
                true
            }
            Event::Alias(_) => {
                let at = self.src.rest(mark).and_then(|r| span(mark, alias_len(r)));
                self.node(at, None, None);
                true
            }
            Event::MappingStart(..) => {
                let at = self.opening(mark, '{');
                let kind = Kind::Map {
                    key: None,
                    seen: HashSet::new(),
                };
                self.node(at, None, Some(kind));
                true
            }
            Event::SequenceStart(..) => {
                let at = self.opening(mark, '[').or_else(|| self.dash(mark));
                self.node(at, None, Some(Kind::Seq { next: 0 }));
                true
            }
        }
    }

    fn scalar(&mut self, mark: Marker, value: &str, style: TScalarStyle) -> Option<Span> {
        let rest = self.src.rest(mark)?;
        let len = match style {
            TScalarStyle::DoubleQuoted => quoted_len(rest, '"')?,
            TScalarStyle::SingleQuoted => quoted_len(rest, '\'')?,
            TScalarStyle::Plain => matched_len(rest, value, true),
            TScalarStyle::Literal | TScalarStyle::Folded => {
                matched_len(rest, value.trim_start_matches('\n'), false)
            }
        };
        span(mark, len)
    }

    /// `{` or `[` at the marker of a flow collection.
    fn opening(&mut self, mark: Marker, open: char) -> Option<Span> {
        let rest = self.src.rest(mark)?;
        if rest.starts_with(open) {
            span(mark, 1)
        } else {
            None
        }
    }

    /// The dash of a block sequence: at the marker, or before it when the
    /// sequence is not indented (its marker is then at the first item).
    fn dash(&mut self, mark: Marker) -> Option<Span> {
        let (text, b) = self.src.at(mark.line(), mark.col())?;
        if text.get(b..)?.starts_with('-') {
            return span(mark, 1);
        }
        let before = text.get(..b)?;
        let trimmed = before.trim_end_matches([' ', '\t']);
        if trimmed.len() == before.len() || !trimmed.ends_with('-') {
            return None;
        }
        Some(Span {
            line: mark.line(),
            column: trimmed.chars().count(),
            len: 1,
        })
    }

    /// Records a node (scalar or alias if `kind` is `None`, else the start of
    /// a collection) at its place in the parent.
    fn node(&mut self, at: Option<Span>, scalar: Option<String>, kind: Option<Kind>) {
        let is_map = matches!(kind, Some(Kind::Map { .. }));
        // A block mapping's marker points past its first key: its span is
        // that of the next node, which may itself be waiting.
        let waits = is_map && at.is_none();
        if !waits {
            for path in self.waiting.drain(..) {
                if let Some(s) = at {
                    self.index
                        .values
                        .entry(path)
                        .or_insert(Span { len: 1, ..s });
                }
            }
        }
        let path = match self.role() {
            Role::Value(path) => {
                if let (Some(p), Some(s)) = (&path, at) {
                    let len = if kind.is_some() { 1 } else { s.len };
                    self.index
                        .values
                        .entry(p.clone())
                        .or_insert(Span { len, ..s });
                }
                path
            }
            Role::Key(map) => {
                let key = scalar.filter(|_| kind.is_none());
                let next = self.key(map, key, at);
                if let Some(Frame {
                    kind: Kind::Map { key, .. },
                    ..
                }) = self.stack.last_mut()
                {
                    *key = Some(next);
                }
                None
            }
        };
        if let Some(kind) = kind {
            if waits && let Some(p) = &path {
                self.waiting.push(p.clone());
            }
            self.stack.push(Frame { path, kind });
        }
    }

    /// Records a mapping key; returns the key its value is to be indexed under.
    fn key(
        &mut self,
        map: Option<Vec<String>>,
        key: Option<String>,
        at: Option<Span>,
    ) -> Option<String> {
        let (map, key) = (map?, key?);
        let Some(Frame {
            kind: Kind::Map { seen, .. },
            ..
        }) = self.stack.last_mut()
        else {
            return None;
        };
        let first = seen.insert(key.clone());
        if let Some(s) = at {
            self.index
                .children
                .entry(map.clone())
                .or_default()
                .push((key.clone(), s));
            if first {
                let mut path = map;
                path.push(key.clone());
                self.index.keys.insert(path, s);
            }
        }
        first.then_some(key)
    }

    /// The role of the next node, advancing the parent's state.
    fn role(&mut self) -> Role {
        let Some(frame) = self.stack.last_mut() else {
            return Role::Value(Some(Vec::new()));
        };
        let child = |name: String| {
            frame.path.clone().map(|mut p| {
                p.push(name);
                p
            })
        };
        match &mut frame.kind {
            Kind::Seq { next } => {
                *next += 1;
                Role::Value(child((*next - 1).to_string()))
            }
            Kind::Map { key, .. } => match key.take() {
                None => Role::Key(frame.path.clone()),
                Some(name) => Role::Value(name.and_then(child)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sp(line: usize, column: usize, len: usize) -> Span {
        Span { line, column, len }
    }

    /// Lines of `text` as YAML counts them, written independently of `Source`.
    fn lines(text: &str) -> Vec<String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        text.replace("\r\n", "\n")
            .replace('\r', "\n")
            .split('\n')
            .map(str::to_owned)
            .collect()
    }

    /// The source text a span covers.
    fn cut(text: &str, span: Option<Span>) -> String {
        let span = span.expect("span");
        lines(text)[span.line - 1]
            .chars()
            .skip(span.column - 1)
            .take(span.len)
            .collect()
    }

    const FLOW: &str = "nodes:
  main_menu:
    menu:
      prompt: main_menu
      options: { \"1\": account, \"2\": suport, \"*\": repeat }
";

    #[test]
    fn flow_mapping_inside_block() {
        let idx = SpanIndex::build(FLOW);
        let p = ["nodes", "main_menu", "menu", "options", "2"];
        assert_eq!(idx.value(&p), Some(sp(5, 37, 6)));
        assert_eq!(idx.key(&p), Some(sp(5, 32, 3)));
        assert_eq!(idx.locate(&p), Some(sp(5, 32, 3)));
        assert_eq!(cut(FLOW, idx.key(&p)), "\"2\"");
        let opts = ["nodes", "main_menu", "menu", "options"];
        assert_eq!(idx.value(&opts), Some(sp(5, 16, 1)));
        assert_eq!(idx.key(&opts), Some(sp(5, 7, 7)));
        let names: Vec<String> = idx.keys(&opts).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["1", "2", "*"]);
        assert_eq!(idx.keys(&opts)[2].1, sp(5, 45, 3));
        assert_eq!(
            cut(
                FLOW,
                idx.value(&["nodes", "main_menu", "menu", "options", "*"])
            ),
            "repeat"
        );
        assert_eq!(
            idx.value(&["nodes", "main_menu", "menu", "prompt"]),
            Some(sp(4, 15, 9))
        );
    }

    #[test]
    fn block_collections_point_at_first_key_or_dash() {
        let idx = SpanIndex::build(FLOW);
        assert_eq!(idx.value(&[]), Some(sp(1, 1, 1)));
        assert_eq!(idx.key(&[]), None);
        assert_eq!(idx.locate(&[]), Some(sp(1, 1, 1)));
        assert_eq!(idx.value(&["nodes"]), Some(sp(2, 3, 1)));
        assert_eq!(
            idx.value(&["nodes", "main_menu", "menu"]),
            Some(sp(4, 7, 1))
        );
        assert_eq!(idx.keys(&[]), vec![("nodes".to_owned(), sp(1, 1, 5))]);
        assert_eq!(idx.key(&["nodes", "missing"]), None);
        assert!(idx.keys(&["nodes", "missing"]).is_empty());

        let text =
            "steps:\n  - say: hi\n    then: [a, b]\n  - - x\n    - y\nflat:\n- one\n-   two\n";
        let idx = SpanIndex::build(text);
        assert_eq!(idx.value(&["steps"]), Some(sp(2, 3, 1)));
        assert_eq!(idx.value(&["steps", "0"]), Some(sp(2, 5, 1)));
        assert_eq!(idx.locate(&["steps", "0"]), Some(sp(2, 5, 1)));
        assert_eq!(idx.key(&["steps", "0", "then"]), Some(sp(3, 5, 4)));
        assert_eq!(idx.value(&["steps", "0", "then"]), Some(sp(3, 11, 1)));
        assert_eq!(cut(text, idx.value(&["steps", "0", "then", "1"])), "b");
        assert_eq!(idx.value(&["steps", "1"]), Some(sp(4, 5, 1)));
        assert_eq!(idx.value(&["steps", "1", "1"]), Some(sp(5, 7, 1)));
        // A sequence that is not indented under its key: the dash, not the item.
        assert_eq!(idx.value(&["flat"]), Some(sp(7, 1, 1)));
        assert_eq!(idx.value(&["flat", "1"]), Some(sp(8, 5, 3)));
    }

    #[test]
    fn nested_sequence_of_flow_maps() {
        let text = "nodes:\n  route:\n    when: [{if: {var: tier, equals: gold}, goto: vip}]\n";
        let idx = SpanIndex::build(text);
        let base = ["nodes", "route", "when"];
        assert_eq!(idx.value(&base), Some(sp(3, 11, 1)));
        assert_eq!(
            idx.value(&["nodes", "route", "when", "0"]),
            Some(sp(3, 12, 1))
        );
        let goto = ["nodes", "route", "when", "0", "goto"];
        assert_eq!(idx.key(&goto), Some(sp(3, 44, 4)));
        assert_eq!(idx.value(&goto), Some(sp(3, 50, 3)));
        let equals = ["nodes", "route", "when", "0", "if", "equals"];
        assert_eq!(cut(text, idx.key(&equals)), "equals");
        assert_eq!(cut(text, idx.value(&equals)), "gold");
        assert_eq!(
            idx.value(&["nodes", "route", "when", "0", "if"]),
            Some(sp(3, 17, 1))
        );
    }

    #[test]
    fn quoted_and_bare_keys_and_values() {
        let text = concat!(
            "1: bare\n",
            "\"2\": double\n",
            "'3': single\n",
            "\"a\\\"b\": \"x\\\"y\\\\\" # comment\n",
            "'it''s': 'don''t'\n",
            "plain: some words here   # trailing\n",
            "flow: {k: \"v, w\" , 'q': [\"]\"]}\n",
        );
        let idx = SpanIndex::build(text);
        assert_eq!(idx.key(&["1"]), Some(sp(1, 1, 1)));
        assert_eq!(idx.key(&["2"]), Some(sp(2, 1, 3)));
        assert_eq!(idx.key(&["3"]), Some(sp(3, 1, 3)));
        assert_eq!(cut(text, idx.key(&["a\"b"])), "\"a\\\"b\"");
        assert_eq!(cut(text, idx.value(&["a\"b"])), "\"x\\\"y\\\\\"");
        assert_eq!(cut(text, idx.key(&["it's"])), "'it''s'");
        assert_eq!(cut(text, idx.value(&["it's"])), "'don''t'");
        assert_eq!(idx.value(&["plain"]), Some(sp(6, 8, 15)));
        assert_eq!(cut(text, idx.value(&["flow", "k"])), "\"v, w\"");
        assert_eq!(cut(text, idx.key(&["flow", "q"])), "'q'");
        assert_eq!(cut(text, idx.value(&["flow", "q", "0"])), "\"]\"");
    }

    #[test]
    fn columns_count_chars_in_korean_and_persian() {
        let text = "پیام: سلام # خوش آمدید\n인사: {이름: 값, 'ключ': \"안녕\"}\nمنو: [یک, دو]\n";
        let idx = SpanIndex::build(text);
        assert_eq!(idx.key(&["پیام"]), Some(sp(1, 1, 4)));
        assert_eq!(idx.value(&["پیام"]), Some(sp(1, 7, 4)));
        assert_eq!(idx.value(&["인사", "이름"]), Some(sp(2, 10, 1)));
        assert_eq!(idx.key(&["인사", "ключ"]), Some(sp(2, 13, 6)));
        assert_eq!(idx.value(&["인사", "ключ"]), Some(sp(2, 21, 4)));
        assert_eq!(cut(text, idx.value(&["منو", "1"])), "دو");
        assert_eq!(idx.value(&["منو", "1"]), Some(sp(3, 11, 2)));
    }

    #[test]
    fn tabs_crlf_comments_and_bom() {
        let lf = "# head\na:\t1 # one\nb:\n  - x\t# tab\n  - {c:\t\"d\"}\n";
        let crlf = lf.replace('\n', "\r\n");
        let bom = format!("\u{feff}{crlf}");
        for text in [lf, crlf.as_str(), bom.as_str()] {
            let idx = SpanIndex::build(text);
            assert_eq!(idx.key(&["a"]), Some(sp(2, 1, 1)), "{text:?}");
            assert_eq!(idx.value(&["a"]), Some(sp(2, 4, 1)), "{text:?}");
            assert_eq!(idx.value(&["b"]), Some(sp(4, 3, 1)), "{text:?}");
            assert_eq!(idx.value(&["b", "0"]), Some(sp(4, 5, 1)), "{text:?}");
            assert_eq!(idx.value(&["b", "1", "c"]), Some(sp(5, 9, 3)), "{text:?}");
        }
        let idx = SpanIndex::build("x:\ty\n? \tz\n:\t{w:\t1}");
        assert_eq!(idx.value(&["x"]), Some(sp(1, 4, 1)));
        assert_eq!(idx.value(&["z", "w"]), Some(sp(3, 7, 1)));
        let idx = SpanIndex::build("\u{feff}k: v");
        assert_eq!(idx.key(&["k"]), Some(sp(1, 1, 1)));
        assert_eq!(idx.value(&["k"]), Some(sp(1, 4, 1)));
    }

    #[test]
    fn multi_line_scalars_stop_at_end_of_first_line() {
        let text = concat!(
            "lit: |\n  hello there\n  world\n",
            "fold: >-\n\n  first line\n  second\n",
            "plain: foo bar   \n  baz\n",
            "dq: \"one \\\n  two\"\n",
            "sq: 'a b  \n  c'\n",
            "after: end\n",
        );
        let idx = SpanIndex::build(text);
        assert_eq!(idx.value(&["lit"]), Some(sp(2, 3, 11)));
        assert_eq!(cut(text, idx.value(&["fold"])), "first line");
        assert_eq!(idx.value(&["plain"]), Some(sp(8, 8, 7)));
        assert_eq!(cut(text, idx.value(&["dq"])), "\"one \\");
        assert_eq!(cut(text, idx.value(&["sq"])), "'a b");
        assert_eq!(idx.value(&["after"]), Some(sp(14, 8, 3)));
    }

    #[test]
    fn aliases_anchors_tags_and_empty_values() {
        let text = "base: &b {x: 1}\nother: *b\nmerged:\n  <<: *b\n  y: !!str 2\nempty:\nnull: ~\nlast: &s text\n";
        let idx = SpanIndex::build(text);
        assert_eq!(cut(text, idx.value(&["base", "x"])), "1");
        assert_eq!(idx.value(&["other"]), Some(sp(2, 8, 2)));
        assert_eq!(cut(text, idx.value(&["merged", "<<"])), "*b");
        assert_eq!(idx.value(&["merged", "y"]), Some(sp(5, 12, 1)));
        // An empty value has no span of its own; `locate` falls back to the key.
        assert_eq!(idx.value(&["empty"]), None);
        assert_eq!(idx.locate(&["empty"]), Some(sp(6, 1, 5)));
        assert_eq!(idx.value(&["null"]), Some(sp(7, 7, 1)));
        assert_eq!(idx.value(&["last"]), Some(sp(8, 10, 4)));
    }

    #[test]
    fn syntax_error_keeps_what_came_before() {
        let text = "first: 1\nsecond: {a: [b, c]}\nthird: [oops\nfourth: 4\n";
        let idx = SpanIndex::build(text);
        assert_eq!(idx.value(&["first"]), Some(sp(1, 8, 1)));
        assert_eq!(cut(text, idx.value(&["second", "a", "1"])), "c");
        assert_eq!(idx.key(&["third"]), Some(sp(3, 1, 5)));
        assert_eq!(idx.key(&["fourth"]), None);

        let idx = SpanIndex::build("a: 1\nb: \"unterminated\nc: 3\n");
        assert_eq!(idx.value(&["a"]), Some(sp(1, 4, 1)));
        assert_eq!(idx.key(&["c"]), None);
    }

    #[test]
    fn duplicate_keys_first_wins_but_all_are_listed() {
        let text = "a: 1\nb: {x: 1}\na: 2\nb: {y: 2}\n";
        let idx = SpanIndex::build(text);
        assert_eq!(idx.key(&["a"]), Some(sp(1, 1, 1)));
        assert_eq!(idx.value(&["a"]), Some(sp(1, 4, 1)));
        assert!(idx.value(&["b", "x"]).is_some());
        assert_eq!(idx.value(&["b", "y"]), None);
        let keys = idx.keys(&[]);
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["a", "b", "a", "b"]);
        assert_eq!(keys[2].1, sp(3, 1, 1));
    }

    #[test]
    fn only_first_document_and_complex_keys_skipped() {
        let idx = SpanIndex::build("---\na: 1\n...\n---\nb: 2\n");
        assert_eq!(idx.value(&["a"]), Some(sp(2, 4, 1)));
        assert_eq!(idx.key(&["b"]), None);

        let text = "? [k1, k2]\n: v\n? {m: n}\n: w\nc: d\n";
        let idx = SpanIndex::build(text);
        assert_eq!(idx.value(&["c"]), Some(sp(5, 4, 1)));
        let names: Vec<String> = idx.keys(&[]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["c"]);
        assert_eq!(idx.key(&["m"]), None);

        let idx = SpanIndex::build("just a scalar\n");
        assert_eq!(idx.value(&[]), Some(sp(1, 1, 13)));
        assert_eq!(SpanIndex::build("").value(&[]), None);
    }

    /// Every span lies on an existing line, inside it, and is not empty.
    fn check_inside(text: &str, idx: &SpanIndex) -> Result<(), TestCaseError> {
        let lines = lines(text);
        let listed = idx.children.values().flatten().map(|(_, s)| s);
        for s in idx.keys.values().chain(idx.values.values()).chain(listed) {
            prop_assert!(s.len >= 1 && s.column >= 1, "{s:?}");
            prop_assert!(s.line >= 1 && s.line <= lines.len(), "{s:?}");
            let chars = lines[s.line - 1].chars().count();
            prop_assert!(s.column + s.len - 1 <= chars, "{s:?} in {chars} chars");
        }
        // A plain key's span spells the start of the key; a quoted one starts with its quote.
        for (name, s) in idx.children.values().flatten() {
            let got = cut(text, Some(*s));
            let ok = got.starts_with(['"', '\'']) || name.starts_with(&got);
            prop_assert!(ok, "{got:?} for key {name:?}");
        }
        Ok(())
    }

    const SAMPLE: &str = "# flow\nnodes:\n  main_menu:\n    menu:\n      prompt: \"main menu\"\n      options: { \"1\": account, '2': suport, \"*\": repeat }\n    when: [{if: {var: tier, equals: gold}, goto: vip}]\n  say:\n    - text: |\n        안녕하세요\n    - text: >-\n        سلام\n      next: &n end\n    - *n\n";

    fn mutated() -> impl Strategy<Value = String> {
        let alphabet = prop::sample::select(vec![
            ' ', '\t', '\n', '\r', ':', '-', '?', ',', '[', ']', '{', '}', '"', '\'', '\\', '#',
            '|', '>', '&', '*', '!', '%', '@', 'a', '1', '한', 'س', '\u{feff}',
        ]);
        prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, alphabet), 1..8).prop_map(
            |edits| {
                let mut chars: Vec<char> = SAMPLE.chars().collect();
                for (at, op, c) in edits {
                    let i = at.index(chars.len() + 1);
                    match op {
                        0 => chars.insert(i, c),
                        1 if i < chars.len() => {
                            chars.remove(i);
                        }
                        _ if i < chars.len() => chars[i] = c,
                        _ => chars.push(c),
                    }
                }
                chars.into_iter().collect()
            },
        )
    }

    #[test]
    fn absurd_nesting_stops_early() {
        let deep = "x: ".to_owned() + &"[".repeat(50_000);
        // Without the depth cap this takes minutes; with it, the index stops at the cap.
        let idx = SpanIndex::build(&deep);
        assert!(idx.key(&["x"]).is_some());
    }

    #[test]
    fn sample_is_indexed() {
        let idx = SpanIndex::build(SAMPLE);
        assert_eq!(
            cut(SAMPLE, idx.value(&["nodes", "say", "0", "text"])),
            "안녕하세요"
        );
        assert_eq!(
            cut(SAMPLE, idx.value(&["nodes", "say", "1", "text"])),
            "سلام"
        );
        assert_eq!(cut(SAMPLE, idx.value(&["nodes", "say", "2"])), "*n");
        assert_eq!(
            cut(
                SAMPLE,
                idx.value(&["nodes", "main_menu", "menu", "options", "2"])
            ),
            "suport"
        );
        check_inside(SAMPLE, &idx).expect("inside");
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn never_panics_on_any_string(text in any::<String>()) {
            check_inside(&text, &SpanIndex::build(&text))?;
        }

        #[test]
        fn never_panics_on_yaml_like_text(text in "[a-c1 :\\-?,\\[\\]{}\"'\\\\#|>&*!\n\r\t한س\u{feff}]{0,80}") {
            check_inside(&text, &SpanIndex::build(&text))?;
        }

        #[test]
        fn never_panics_on_mutated_yaml(text in mutated()) {
            check_inside(&text, &SpanIndex::build(&text))?;
        }
    }
}
