//! The full parser: `saphyr-parser` events handed to the builder (`builder.rs`), which makes
//! them the tree of nodes with byte spans.

use super::builder::Builder;
use super::tree::{Document, Kind, Node, Span, Style, YamlError};
use saphyr_parser::{Event, Parser, ScalarStyle};

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

impl Builder<'_> {
    /// Takes one event spanning `[start, end)`: the node it finishes, if any.
    fn event(&mut self, event: Event, start: usize, end: usize) -> Result<Option<Node>, YamlError> {
        let decorated = |anchor: usize, tag: bool| anchor != 0 || tag;
        match event {
            Event::StreamStart | Event::Nothing | Event::StreamEnd => Ok(None),
            Event::DocumentStart(_) => {
                self.start_document();
                Ok(None)
            }
            Event::DocumentEnd => {
                self.end_document(start, end);
                Ok(None)
            }
            Event::Alias(_) => Ok(Some(Node {
                kind: Kind::Alias,
                span: Span { start, end },
                decorated: true,
            })),
            Event::Scalar(value, style, anchor, tag) => Ok(Some(scalar(
                self.text(),
                value.into_owned(),
                style,
                Span { start, end },
                decorated(anchor, tag.is_some()),
            ))),
            // `!!seq` on a sequence and `!!map` on a mapping say what the node is anyway: they
            // change nothing, for kubeharden or for the kubelet's reader.
            Event::SequenceStart(anchor, tag) => {
                let tagged = tag.is_some_and(|t| !core(&t, "seq"));
                self.open_seq(start, end, decorated(anchor, tagged))?;
                Ok(None)
            }
            Event::MappingStart(anchor, tag) => {
                let tagged = tag.is_some_and(|t| !core(&t, "map"));
                self.open_map(start, end, decorated(anchor, tagged))?;
                Ok(None)
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

/// Parses every document in `text` with the full YAML parser, whatever the text: what
/// [`parse`] gives for every text (tests hold the two to each other).
pub fn parse_full(text: &str) -> Result<Vec<Document>, YamlError> {
    let offsets = Offsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder::new(text);
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
