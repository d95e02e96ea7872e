//! The tree as it is built, node by node, from what a reader finds: the full parser's events
//! (`parse.rs`) or the block reader's (`block.rs`). Both readers give the same calls for the
//! same text, so both trees are the same; nesting depth and duplicate keys are checked here.

use super::tree::{line_col, Document, Kind, Node, Span, Style, YamlError};
use std::collections::HashSet;

/// Deepest nesting accepted. Pod manifests are a dozen levels deep; anything near this
/// bound is hostile or broken input.
const MAX_DEPTH: usize = 64;

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
pub(super) struct Builder<'t> {
    text: &'t str,
    stack: Vec<Frame>,
    root: Option<Node>,
    pub(super) docs: Vec<Document>,
}

impl<'t> Builder<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Builder {
            text,
            stack: Vec::new(),
            root: None,
            docs: Vec::new(),
        }
    }

    /// A document starts: nothing is read of it yet.
    pub(super) fn start_document(&mut self) {
        self.root = None;
    }

    /// The document ends at `[start, end)`: its root, or an empty scalar there.
    pub(super) fn end_document(&mut self, start: usize, end: usize) {
        let node = self.root.take().unwrap_or(Node {
            kind: Kind::Scalar {
                value: String::new(),
                style: Style::Plain,
            },
            span: Span { start, end },
            decorated: false,
        });
        self.docs.push(Document { root: node });
    }

    /// An error at the byte `offset` of the text.
    pub(super) fn error_at(&self, offset: usize, message: String) -> YamlError {
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
    ) -> Result<(), YamlError> {
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
        Ok(())
    }

    /// Opens a sequence at `[start, end)` (a flow sequence when the text there ends with `[`);
    /// `decorated`: it has an anchor or a tag.
    pub(super) fn open_seq(
        &mut self,
        start: usize,
        end: usize,
        decorated: bool,
    ) -> Result<(), YamlError> {
        self.open(start, end, decorated, Body::Seq(Vec::new()))
    }

    /// Opens a mapping at `[start, end)` (a flow mapping when the text there ends with `{`);
    /// `decorated`: it has an anchor or a tag.
    pub(super) fn open_map(
        &mut self,
        start: usize,
        end: usize,
        decorated: bool,
    ) -> Result<(), YamlError> {
        let body = Body::Map {
            entries: Vec::new(),
            pending_key: None,
            keys: None,
        };
        self.open(start, end, decorated, body)
    }

    /// The text being read.
    pub(super) fn text(&self) -> &'t str {
        self.text
    }

    /// Closes the innermost collection at the event `[start, end)`: the node it makes.
    pub(super) fn close(&mut self, start: usize, end: usize) -> Result<Option<Node>, YamlError> {
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
    pub(super) fn attach(&mut self, node: Node) -> Result<(), YamlError> {
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
}
