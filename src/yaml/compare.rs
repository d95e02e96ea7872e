//! What a YAML tree means, without spans, comments or quoting: for comparing a document
//! before and after an edit.

use super::tree::{Kind, Node};
use serde_json::Value;

/// The document's meaning, without spans, comments or quoting.
pub(crate) fn value_of(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar { value, .. } => Value::String(value.clone()),
        Kind::Alias => Value::String("*alias".into()),
        Kind::Seq { items, .. } => Value::Array(items.iter().map(value_of).collect()),
        Kind::Map { entries, .. } => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map_or_else(|| value_of(k).to_string(), str::to_string),
                        value_of(v),
                    )
                })
                .collect(),
        ),
    }
}

/// Whether two nodes mean the same, ignoring spans, comments and quoting.
pub(crate) fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar { value: x, .. }, Kind::Scalar { value: y, .. }) => x == y,
        (Kind::Alias, Kind::Alias) => true,
        (Kind::Seq { items: x, .. }, Kind::Seq { items: y, .. }) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Kind::Map { entries: x, .. }, Kind::Map { entries: y, .. }) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => false,
    }
}

/// Compares the value of one mapping entry.
pub(crate) type EntryCmp<'a> = &'a dyn Fn(&Node, &Node) -> bool;

/// Like `same` for mappings, but entries whose key is in `skip` are ignored and the entry
/// named `descend` is compared with `inner`.
pub(crate) fn same_map_except(
    a: &Node,
    b: &Node,
    skip: &[&str],
    descend: Option<(&str, EntryCmp<'_>)>,
) -> bool {
    let keep = |e: &&(Node, Node)| !e.0.as_str().is_some_and(|k| skip.contains(&k));
    let x: Vec<_> = a.entries().iter().filter(keep).collect();
    let y: Vec<_> = b.entries().iter().filter(keep).collect();
    a.is_map() == b.is_map()
        && x.len() == y.len()
        && x.iter().zip(&y).all(|((k1, v1), (k2, v2))| {
            if !same(k1, k2) {
                return false;
            }
            match descend {
                Some((key, inner)) if k1.as_str() == Some(key) => inner(v1, v2),
                _ => same(v1, v2),
            }
        })
}

/// Sequences of the same length whose items pair up: `each(index, a, b)` holds for every pair.
pub(crate) fn same_items(a: &Node, b: &Node, each: impl Fn(usize, &Node, &Node) -> bool) -> bool {
    a.items().len() == b.items().len()
        && a.items()
            .iter()
            .zip(b.items())
            .enumerate()
            .all(|(i, (x, y))| each(i, x, y))
}
