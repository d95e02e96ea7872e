//! Lines of YAML text: where they start and end, and whole lines inserted or removed so that
//! a file without a final newline stays without one.

use super::splice::Splice;
use crate::yaml::{line_end_inclusive, line_start, Node};

/// The column (in bytes from the line start) where `offset` sits.
pub(crate) fn column(text: &str, offset: usize) -> usize {
    offset - line_start(text, offset)
}

/// Where a new line goes after `node`'s content: the start of the next line.
pub(crate) fn after_line(text: &str, node: &Node) -> usize {
    line_end_inclusive(
        text,
        node.content_end().saturating_sub(1).max(node.span.start),
    )
}

/// Text inserted at `at`, which must start a line or be the end of a file without a final
/// newline; such a file gets the line break before the lines instead of after them, and stays
/// without a final newline.
pub(crate) fn insert_lines(text: &str, at: usize, lines: &str, nl: &str) -> Splice {
    let open_end = at > 0 && !text[..at].ends_with('\n');
    let text = if open_end {
        format!("{nl}{}", lines.strip_suffix(nl).unwrap_or(lines))
    } else {
        lines.to_string()
    };
    Splice {
        start: at,
        end: at,
        text,
    }
}

/// Lines that replace the text up to `end`: without the newline after the last when they
/// replace the end of a file that has no final newline.
pub(crate) fn keep_end(text: &str, end: usize, lines: String, nl: &str) -> String {
    if end == text.len() && !text.ends_with('\n') {
        if let Some(l) = lines.strip_suffix(nl) {
            return l.to_string();
        }
    }
    lines
}

/// Removes the whole lines `node` occupies (a block mapping entry or sequence item).
pub(crate) fn remove_lines(text: &str, from: usize, node: &Node) -> Splice {
    Splice {
        start: line_start(text, from),
        end: after_line(text, node),
        text: String::new(),
    }
}

/// Indentation of the keys of a block mapping.
pub(crate) fn map_indent(text: &str, map: &Node) -> Option<usize> {
    map.entries()
        .first()
        .map(|(k, _)| column(text, k.span.start))
}

/// Where a child block of `parent` (a block mapping) goes, and its indentation.
pub(crate) fn child_block(text: &str, parent: &Node, default_indent: usize) -> (usize, usize) {
    let indent = map_indent(text, parent).unwrap_or(default_indent);
    (after_line(text, parent), indent)
}

/// The column of a block sequence item's dash, and the spaces between the dash and the item.
pub(crate) fn dash_of(text: &str, item: &Node) -> (usize, usize) {
    let ls = line_start(text, item.span.start);
    let before = &text[ls..item.span.start];
    match before.rfind('-') {
        Some(d) => (d, before.len() - d - 1),
        None => (column(text, item.span.start).saturating_sub(2), 1),
    }
}

/// Just after the `:` that follows a mapping key.
pub(crate) fn colon_end(text: &str, key: &Node) -> usize {
    let rest = &text[key.span.end..];
    match rest.find(':') {
        Some(i) if rest[..i].trim().is_empty() => key.span.end + i + 1,
        _ => key.span.end,
    }
}

/// Where a scalar's own text ends: after its closing quote for a quoted scalar (the parser's
/// span may run on over a comment after it), else at the end of its span.
pub(crate) fn scalar_end(text: &str, node: &Node) -> usize {
    let start = node.span.start;
    let bytes = text.as_bytes();
    match bytes.get(start) {
        Some(b'"') => {
            let mut i = start + 1;
            while i < node.span.end.max(start + 1) && i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => return i + 1,
                    _ => i += 1,
                }
            }
            node.span.end
        }
        Some(b'\'') => {
            let mut i = start + 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i += 1;
            }
            node.span.end
        }
        _ => node.span.end,
    }
}
