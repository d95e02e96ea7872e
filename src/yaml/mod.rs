//! A YAML tree that remembers where every node came from.
//!
//! The tree is built from `saphyr-parser` events. Each node carries the byte range it occupies
//! in the original text, so that the patcher can splice replacements into the untouched text
//! instead of re-serialising the document (DESIGN invariant 1).
//!
//! Aliases are recorded, never expanded, so an alias bomb costs nothing; nesting depth is
//! bounded; duplicate mapping keys are an error (the Kubernetes decoders reject them too).

pub(crate) mod compare;

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::fmt;

/// Deepest nesting accepted. Pod manifests are a dozen levels deep; anything near this
/// bound is hostile or broken input.
const MAX_DEPTH: usize = 64;

/// A byte range `[start, end)` in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Scalar {
        value: String,
        style: Style,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    Alias,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
    /// The node carries an anchor (`&x`) or a tag (`!!str`): editing it in place could change
    /// what other nodes mean, so the patcher leaves such nodes alone.
    pub decorated: bool,
}

/// A YAML syntax or structure error at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq { items, .. } => items,
            _ => &[],
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map { entries, .. } => entries,
            _ => &[],
        }
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq { .. })
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map { .. })
    }

    pub fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            Kind::Seq { flow: true, .. } | Kind::Map { flow: true, .. }
        )
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: Style::Plain } if value.is_empty() || value == "~" || value == "null")
    }

    /// The end of the last byte that belongs to this node's content. For block collections
    /// the parser's end marker sits at the next token, possibly lines later; the content
    /// really ends where the last child ends.
    pub fn content_end(&self) -> usize {
        match &self.kind {
            Kind::Seq { items, flow: false } => {
                items.last().map_or(self.span.end, |n| n.content_end())
            }
            Kind::Map {
                entries,
                flow: false,
            } => entries
                .last()
                .map_or(self.span.end, |(_, v)| v.content_end()),
            _ => self.span.end,
        }
    }
}

/// One document of a (possibly multi-document) YAML stream.
#[derive(Clone, Debug)]
pub struct Document {
    pub root: Node,
}

/// Maps the parser's character indices to byte offsets.
struct Offsets {
    /// `None` when the text is ASCII, where index and byte offset agree.
    table: Option<Vec<usize>>,
}

impl Offsets {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            return Offsets { table: None };
        }
        let mut table: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        table.push(text.len());
        Offsets { table: Some(table) }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index,
            Some(t) => t.get(char_index).copied().unwrap_or_else(|| {
                // Past the end: clamp. The parser never reports such an index for real input.
                t.last().copied().unwrap_or(0)
            }),
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        flow: bool,
        decorated: bool,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        flow: bool,
        decorated: bool,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

/// Parses every document in `text`.
pub fn parse(text: &str) -> Result<Vec<Document>, YamlError> {
    let offsets = Offsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;

    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                // The position from the character index, like every other position: the
                // parser's own line number runs past the last line at the end of a file
                // without a final newline, and counts a bare carriage return as a line break.
                let (line, column) = line_col(text, offsets.byte(e.marker().index()));
                return Err(YamlError {
                    line,
                    column,
                    message: e.info().to_string(),
                });
            }
        };
        let start = offsets.byte(span.start.index());
        let end = offsets.byte(span.end.index());
        let err_here = |message: String| {
            let (line, column) = line_col(text, start);
            YamlError {
                line,
                column,
                message,
            }
        };
        let finished: Option<Node> = match event {
            Event::StreamStart | Event::Nothing => None,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                root = None;
                None
            }
            Event::DocumentEnd => {
                let node = root.take().unwrap_or(Node {
                    kind: Kind::Scalar {
                        value: String::new(),
                        style: Style::Plain,
                    },
                    span: Span { start, end },
                    decorated: false,
                });
                docs.push(Document { root: node });
                None
            }
            Event::Alias(_) => Some(Node {
                kind: Kind::Alias,
                span: Span { start, end },
                decorated: true,
            }),
            Event::Scalar(value, style, anchor, tag) => Some(Node {
                // The parser's end of a quoted scalar may run on over a comment after it.
                span: Span {
                    start,
                    end: match style {
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                            quoted_end(text, start, end)
                        }
                        _ => end,
                    },
                },
                kind: Kind::Scalar {
                    value: value.into_owned(),
                    style: match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::SingleQuoted,
                        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                        ScalarStyle::Literal => Style::Literal,
                        ScalarStyle::Folded => Style::Folded,
                    },
                },
                decorated: anchor != 0 || tag.is_some(),
            }),
            Event::SequenceStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err_here(format!(
                        "nesting deeper than {MAX_DEPTH} levels is not accepted"
                    )));
                }
                stack.push(Frame::Seq {
                    start,
                    flow: end > start,
                    decorated: anchor != 0 || tag.is_some(),
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err_here(format!(
                        "nesting deeper than {MAX_DEPTH} levels is not accepted"
                    )));
                }
                stack.push(Frame::Map {
                    start,
                    flow: end > start,
                    decorated: anchor != 0 || tag.is_some(),
                    entries: Vec::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start: s,
                    flow,
                    decorated,
                    items,
                }) => Some(Node {
                    kind: Kind::Seq { items, flow },
                    span: Span {
                        start: s,
                        end: if flow { end } else { start.max(s) },
                    },
                    decorated,
                }),
                _ => return Err(err_here("unbalanced sequence end".into())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start: s,
                    flow,
                    decorated,
                    entries,
                    pending_key,
                }) => {
                    if pending_key.is_some() {
                        return Err(err_here("mapping key without a value".into()));
                    }
                    Some(Node {
                        kind: Kind::Map { entries, flow },
                        span: Span {
                            start: s,
                            end: if flow { end } else { start.max(s) },
                        },
                        decorated,
                    })
                }
                _ => return Err(err_here("unbalanced mapping end".into())),
            },
        };

        if let Some(node) = finished {
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map {
                    entries,
                    pending_key,
                    ..
                }) => match pending_key.take() {
                    None => {
                        if let Some(k) = node.as_str() {
                            if entries.iter().any(|(e, _)| e.as_str() == Some(k)) {
                                let (line, column) = line_col(text, node.span.start);
                                return Err(YamlError {
                                    line,
                                    column,
                                    message: format!("duplicate mapping key `{k}`"),
                                });
                            }
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => entries.push((key, node)),
                },
            }
        }
    }
    Ok(docs)
}

/// 1-based line and column (in characters) of a byte offset.
/// Where a quoted scalar starting at `start` ends: after its closing quote (`end` when that
/// cannot be found before it).
fn quoted_end(text: &str, start: usize, end: usize) -> usize {
    let bytes = text.as_bytes();
    let Some(&quote) = bytes.get(start) else {
        return end;
    };
    if quote != b'"' && quote != b'\'' {
        return end;
    }
    let mut i = start + 1;
    while i < bytes.len() && i < end.max(start + 1) {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    end
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    // Summed in chunks the compiler turns into vector instructions: this runs for every
    // finding of every file.
    let line = before
        .as_bytes()
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum::<usize>()
        + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(1, |s| s.chars().count() + 1);
    (line, column)
}

/// Byte offset of the start of the line containing `offset`.
pub fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// Byte offset just past the end of the line containing `offset` (past its `\n`, or the end
/// of the text when the last line has no final newline).
pub fn line_end_inclusive(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|s| s.find('\n'))
        .map_or(text.len(), |i| offset + i + 1)
}

/// Renders `value` as a scalar in the given style, or `None` when that style cannot hold it.
pub fn render_scalar(value: &str, style: Style, flow: bool) -> Option<String> {
    match style {
        Style::Plain => plain_ok(value, flow).then(|| value.to_string()),
        Style::SingleQuoted => {
            (!value.contains('\n')).then(|| format!("'{}'", value.replace('\'', "''")))
        }
        Style::DoubleQuoted => Some(double_quote(value)),
        Style::Literal | Style::Folded => None,
    }
}

pub fn double_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` reads back as the same string when written as a plain scalar.
pub fn plain_ok(value: &str, flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value != value.trim() || value.contains('\n') || value.contains('\t') {
        return false;
    }
    if "!&*{}[],#|>@`\"'%".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && value.chars().nth(1).is_none_or(|c| c == ' ') {
        return false;
    }
    if value.contains(": ") || value.contains(" #") || value.ends_with(':') {
        return false;
    }
    if flow && value.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    // Words a YAML 1.1 or 1.2 reader turns into something other than a string.
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) {
        return false;
    }
    if value.parse::<f64>().is_ok() || value.starts_with("0x") || value.starts_with("0o") {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_quoted_scalars_and_flow_collections() {
        let text = "a:\n  - \"--x=1\"\n  - 'y'\nb: [c, \"d\"]\n";
        let docs = parse(text).expect("parses");
        let root = &docs[0].root;
        let a = root.get("a").expect("a");
        assert!(!a.is_flow());
        let item = &a.items()[0];
        assert_eq!(&text[item.span.start..item.span.end], "\"--x=1\"");
        assert_eq!(item.as_str(), Some("--x=1"));
        let b = root.get("b").expect("b");
        assert!(b.is_flow());
        assert_eq!(&text[b.span.start..b.span.end], "[c, \"d\"]");
    }

    #[test]
    fn non_ascii_text_maps_to_byte_offsets() {
        let text = "# ünïcödé\na: \"ß=1\"\n";
        let docs = parse(text).expect("parses");
        let a = docs[0].root.get("a").expect("a");
        assert_eq!(&text[a.span.start..a.span.end], "\"ß=1\"");
    }

    #[test]
    fn duplicate_keys_are_rejected_with_position() {
        let err = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!((err.line, err.column), (3, 1));
        assert!(err.message.contains("duplicate mapping key `a`"));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
        assert!(err.line >= 1 && err.column >= 1, "{err}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "[".repeat(200) + &"]".repeat(200);
        let err = parse(&text).expect_err("too deep");
        assert!(err.message.contains("nesting"), "{err}");
    }

    #[test]
    fn aliases_are_not_expanded() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
        let docs = parse(bomb).expect("parses");
        assert_eq!(docs[0].root.get("c").expect("c").items().len(), 9);
    }

    #[test]
    fn plain_scalar_safety() {
        assert!(plain_ok("--profiling=false", false));
        assert!(plain_ok("--enable-admission-plugins=A,B", false));
        assert!(!plain_ok("--enable-admission-plugins=A,B", true));
        assert!(!plain_ok("false", false));
        assert!(!plain_ok("a: b", false));
        assert!(!plain_ok("", false));
        assert!(!plain_ok("30", false));
        assert_eq!(
            render_scalar("it's", Style::SingleQuoted, false).as_deref(),
            Some("'it''s'")
        );
        assert_eq!(double_quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn line_helpers() {
        let t = "ab\ncd\nef";
        assert_eq!(line_start(t, 4), 3);
        assert_eq!(line_end_inclusive(t, 4), 6);
        assert_eq!(line_end_inclusive(t, 7), 8);
        assert_eq!(line_col(t, 4), (2, 2));
    }
}

/// Whether a plain scalar is not a string to a YAML 1.1 reader (go-yaml v2, which kubeadm's
/// decoder uses through sigs.k8s.io/yaml): a null, a boolean (`yes`, `on`, `y`, ... count), an
/// integer (binary, octal, hex, base 60, with `_`) or a float (`.inf`, `.nan` included).
/// See the YAML 1.1 type repository (yaml.org/type/bool.html, int.html, float.html, null.html).
pub fn yaml11_non_string(v: &str) -> bool {
    const WORDS: [&str; 28] = [
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".nan",
    ];
    if v.is_empty() || WORDS.contains(&v) {
        return true;
    }
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(v);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(v, ".NaN" | ".NAN") {
        return true;
    }
    let digits = |s: &str, ok: &dyn Fn(char) -> bool| {
        !s.is_empty() && s.chars().all(|c| ok(c) || c == '_') && s.chars().any(ok)
    };
    if let Some(b) = unsigned.strip_prefix("0b") {
        return digits(b, &|c| c == '0' || c == '1');
    }
    if let Some(x) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        return digits(x, &|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = unsigned.strip_prefix("0o") {
        return digits(o, &|c| ('0'..='7').contains(&c));
    }
    // Decimal and octal integers, base 60 (`1:20`), floats (`1.5`, `.5`, `1e3`, `1:20.5`).
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let mut parts = mantissa.splitn(2, '.');
    let int_part = parts.next().unwrap_or("");
    let frac = parts.next();
    let int_ok = int_part.is_empty()
        || int_part.split(':').enumerate().all(|(i, seg)| {
            if i == 0 {
                digits(seg, &|c| c.is_ascii_digit())
            } else {
                !seg.is_empty() && seg.len() <= 2 && seg.chars().all(|c| c.is_ascii_digit())
            }
        });
    let frac_ok = frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'));
    let has_digit = mantissa.chars().any(|c| c.is_ascii_digit());
    int_ok && frac_ok && has_digit && (frac.is_some() || !int_part.is_empty())
}

/// Whether a string may be written as a plain scalar and read back as the same string by both
/// YAML 1.1 and 1.2 readers: otherwise it is quoted.
pub fn plain_string_ok(v: &str, flow: bool) -> bool {
    plain_ok(v, flow)
        && !yaml11_non_string(v)
        && v.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && !(v.len() >= 10
            && v.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && v.as_bytes()[4] == b'-')
}

#[cfg(test)]
mod yaml11_tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars_that_are_not_strings() {
        for v in [
            "yes", "On", "n", "NULL", "~", "", "30", "-0x1F", "0X1F", "0b11", "-0b11", "1_000",
            "017", "1:20", "1.5", ".5", "1e3", "+.inf", ".NaN", "3.0e-2",
        ] {
            assert!(yaml11_non_string(v), "{v}");
        }
        for v in [
            "VersionTLS12",
            "/etc/x",
            "Node,RBAC",
            "1.2.3.4",
            "10.0.0.0/8",
            "abc",
            "1a",
            "e3",
            "0x",
            "v1.31",
            "-",
            ".",
        ] {
            assert!(!yaml11_non_string(v), "{v}");
        }
        assert!(!plain_string_ok("2001-12-14", false));
        assert!(!plain_string_ok("<<", false));
        assert!(!plain_string_ok("12345", false));
        assert!(plain_string_ok("/var/log/audit.log", false));
        assert!(plain_string_ok("NodeRestriction,AlwaysPullImages", false));
    }
}

/// Where the first element of a node ends: a scalar's or flow collection's end, the end of a
/// block sequence's first item, the end of a block mapping's first key. A finding that points
/// at a list or a mapping covers that much of it.
pub fn head_end(n: &Node) -> usize {
    match &n.kind {
        Kind::Seq { items, flow: false } => items.first().map_or(n.span.start, head_end),
        Kind::Map {
            entries,
            flow: false,
        } => entries.first().map_or(n.span.start, |(k, _)| k.span.end),
        _ => n.span.end,
    }
}
