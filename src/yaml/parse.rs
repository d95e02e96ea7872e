//! The parser: `saphyr-parser` events folded into a tree of nodes with byte spans.

use super::tree::{line_col, Document, Kind, Node, Span, Style, YamlError};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashSet;

/// Deepest nesting accepted. Pod manifests are a dozen levels deep; anything near this
/// bound is hostile or broken input.
const MAX_DEPTH: usize = 64;

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

/// A collection being read: where it starts, its style, and what it holds so far.
struct Frame {
    start: usize,
    flow: bool,
    decorated: bool,
    body: Body,
}

enum Body {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        /// The scalar keys so far, once there are [`KEYS_SCANNED`] entries: a duplicate is
        /// looked up in it rather than among all the entries, so that a mapping of tens of
        /// thousands of keys takes no time to the square of that.
        keys: Option<HashSet<String>>,
    },
}

/// Whether the key `k` of a large mapping is among its keys so far, which go into `keys` the
/// first time (away from the loop over a small mapping's keys, which every manifest takes).
#[cold]
#[inline(never)]
fn seen_in_set(entries: &[(Node, Node)], keys: &mut Option<HashSet<String>>, k: &str) -> bool {
    let set = keys.get_or_insert_with(|| {
        let all = entries.iter().filter_map(|(e, _)| e.as_str());
        all.map(str::to_string).collect()
    });
    !set.insert(k.to_string())
}

/// Up to this many entries, a mapping's keys are compared one by one (a manifest's mappings
/// are small); from it on, they are looked up in a set.
const KEYS_SCANNED: usize = 32;

/// The tree being built: the collections open around the current event, and the root of the
/// current document.
struct Builder<'t> {
    text: &'t str,
    stack: Vec<Frame>,
    root: Option<Node>,
    docs: Vec<Document>,
}

impl Builder<'_> {
    fn error_at(&self, offset: usize, message: String) -> YamlError {
        let (line, column) = line_col(self.text, offset);
        YamlError {
            line,
            column,
            message,
        }
    }

    /// Opens a collection at the event `[start, end)` (a flow collection's event has a
    /// length), unless that would nest deeper than [`MAX_DEPTH`].
    fn open(
        &mut self,
        start: usize,
        end: usize,
        decorated: bool,
        body: Body,
    ) -> Result<Option<Node>, YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error_at(
                start,
                format!("nesting deeper than {MAX_DEPTH} levels is not accepted"),
            ));
        }
        self.stack.push(Frame {
            start,
            // The event spans `[` or `{` of a flow collection, and nothing or the properties
            // (an anchor, a tag) of a block one.
            flow: self.text[start..end].trim_end().ends_with(['[', '{']),
            decorated,
            body,
        });
        Ok(None)
    }

    /// Closes the innermost collection at the event `[start, end)`: the node it makes.
    fn close(&mut self, start: usize, end: usize) -> Result<Option<Node>, YamlError> {
        let Some(Frame {
            start: s,
            flow,
            decorated,
            body,
        }) = self.stack.pop()
        else {
            return Err(self.error_at(start, "unbalanced collection end".into()));
        };
        let kind = match body {
            Body::Seq(items) => Kind::Seq { items, flow },
            Body::Map {
                entries,
                pending_key,
                ..
            } => {
                if pending_key.is_some() {
                    return Err(self.error_at(start, "mapping key without a value".into()));
                }
                Kind::Map { entries, flow }
            }
        };
        Ok(Some(Node {
            kind,
            span: Span {
                start: s,
                end: if flow { end } else { start.max(s) },
            },
            decorated,
        }))
    }

    /// Puts a finished node where it belongs: the root, an item, a key or a value.
    fn attach(&mut self, node: Node) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame {
                body: Body::Seq(items),
                ..
            }) => items.push(node),
            Some(Frame {
                body:
                    Body::Map {
                        entries,
                        pending_key,
                        keys,
                    },
                ..
            }) => match pending_key.take() {
                None => {
                    if let Some(k) = node.as_str() {
                        let seen = if keys.is_none() && entries.len() < KEYS_SCANNED {
                            entries.iter().any(|(e, _)| e.as_str() == Some(k))
                        } else {
                            seen_in_set(entries, keys, k)
                        };
                        if seen {
                            let message = format!("duplicate mapping key `{k}`");
                            return Err(self.error_at(node.span.start, message));
                        }
                    }
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }

    /// Takes one event spanning `[start, end)`: the node it finishes, if any.
    fn event(&mut self, event: Event, start: usize, end: usize) -> Result<Option<Node>, YamlError> {
        let decorated = |anchor: usize, tag: bool| anchor != 0 || tag;
        match event {
            Event::StreamStart | Event::Nothing | Event::StreamEnd => Ok(None),
            Event::DocumentStart(_) => {
                self.root = None;
                Ok(None)
            }
            Event::DocumentEnd => {
                let node = self.root.take().unwrap_or(Node {
                    kind: Kind::Scalar {
                        value: String::new(),
                        style: Style::Plain,
                    },
                    span: Span { start, end },
                    decorated: false,
                });
                self.docs.push(Document { root: node });
                Ok(None)
            }
            Event::Alias(_) => Ok(Some(Node {
                kind: Kind::Alias,
                span: Span { start, end },
                decorated: true,
            })),
            Event::Scalar(value, style, anchor, tag) => Ok(Some(scalar(
                self.text,
                value.into_owned(),
                style,
                Span { start, end },
                decorated(anchor, tag.is_some()),
            ))),
            // `!!seq` on a sequence and `!!map` on a mapping say what the node is anyway: they
            // change nothing, for kubeharden or for the kubelet's reader.
            Event::SequenceStart(anchor, tag) => self.open(
                start,
                end,
                decorated(anchor, tag.is_some_and(|t| !core(&t, "seq"))),
                Body::Seq(Vec::new()),
            ),
            Event::MappingStart(anchor, tag) => {
                let body = Body::Map {
                    entries: Vec::new(),
                    pending_key: None,
                    keys: None,
                };
                let tagged = tag.is_some_and(|t| !core(&t, "map"));
                self.open(start, end, decorated(anchor, tagged), body)
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(start, end),
        }
    }
}

/// A scalar node. The parser's end of a quoted scalar may run on over a comment after it.
/// `tag` is the YAML core schema's tag `name` (`!!seq`, `!!map`).
fn core(tag: &saphyr_parser::Tag, name: &str) -> bool {
    tag.is_yaml_core_schema() && tag.suffix == name
}

fn scalar(text: &str, value: String, style: ScalarStyle, span: Span, decorated: bool) -> Node {
    let end = match style {
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
            quoted_end(text, span.start, span.end)
        }
        _ => span.end,
    };
    Node {
        span: Span {
            start: span.start,
            end,
        },
        kind: Kind::Scalar {
            value,
            style: match style {
                ScalarStyle::Plain => Style::Plain,
                ScalarStyle::SingleQuoted => Style::SingleQuoted,
                ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                ScalarStyle::Literal => Style::Literal,
                ScalarStyle::Folded => Style::Folded,
            },
        },
        decorated,
    }
}

/// Parses every document in `text`.
pub fn parse(text: &str) -> Result<Vec<Document>, YamlError> {
    let offsets = Offsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder {
        text,
        stack: Vec::new(),
        root: None,
        docs: Vec::new(),
    };
    loop {
        let (event, span) = match parser.next_event() {
            None | Some(Ok((Event::StreamEnd, _))) => break,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                // The position from the character index, like every other position: the
                // parser's own line number runs past the last line at the end of a file
                // without a final newline, and counts a bare carriage return as a line break.
                let offset = offsets.byte(e.marker().index());
                return Err(b.error_at(offset, e.info().to_string()));
            }
        };
        let start = offsets.byte(span.start.index());
        let end = offsets.byte(span.end.index());
        if let Some(node) = b.event(event, start, end)? {
            b.attach(node)?;
        }
    }
    Ok(b.docs)
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
