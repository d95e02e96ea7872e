//! The tree: nodes with the byte range each occupies, and lines and columns of offsets.

use std::fmt;

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
    pub(crate) decorated: bool,
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
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq { items, .. } => items,
            _ => &[],
        }
    }

    pub(crate) fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map { entries, .. } => entries,
            _ => &[],
        }
    }

    pub(crate) fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq { .. })
    }

    pub(crate) fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map { .. })
    }

    pub(crate) fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            Kind::Seq { flow: true, .. } | Kind::Map { flow: true, .. }
        )
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: Style::Plain } if value.is_empty() || value == "~" || value == "null")
    }

    /// The end of the last byte that belongs to this node's content. For block collections
    /// the parser's end marker sits at the next token, possibly lines later; the content
    /// really ends where the last child ends.
    pub(crate) fn content_end(&self) -> usize {
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
pub(crate) fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// Byte offset just past the end of the line containing `offset` (past its `\n`, or the end
/// of the text when the last line has no final newline).
pub(crate) fn line_end_inclusive(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|s| s.find('\n'))
        .map_or(text.len(), |i| offset + i + 1)
}

/// Where the first element of a node ends: a scalar's or flow collection's end, the end of a
/// block sequence's first item, the end of a block mapping's first key. A finding that points
/// at a list or a mapping covers that much of it.
pub(crate) fn head_end(n: &Node) -> usize {
    match &n.kind {
        Kind::Seq { items, flow: false } => items.first().map_or(n.span.start, head_end),
        Kind::Map {
            entries,
            flow: false,
        } => entries.first().map_or(n.span.start, |(k, _)| k.span.end),
        _ => n.span.end,
    }
}
