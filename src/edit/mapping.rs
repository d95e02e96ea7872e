//! Entries of a YAML block mapping, named by their dotted path (`authentication.anonymous.enabled`):
//! set (adding the mappings on the way), replaced in place, and removed with their lines. New
//! keys go where they sort when the mapping's keys are sorted, else after its last entry, in
//! the document's own indentation.

use super::lines::{after_line, colon_end, column, dash_of, insert_lines};
use super::scalar::string_item;
use super::splice::{refuse, EditError, Splice};
use crate::yaml::{self, line_start, Kind, Node, Style};

/// A value as written in the file: a scalar's text, or the items of a block list.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum New {
    Scalar(String),
    List(Vec<String>),
}

/// Nested insertions under one existing mapping: key → either a value or deeper keys.
#[derive(Default, Debug)]
struct Tree {
    entries: Vec<(String, Leaf)>,
}

#[derive(Debug)]
enum Leaf {
    Value(New),
    Tree(Tree),
}

impl Tree {
    fn insert(&mut self, segs: &[&str], value: New) {
        let Some((first, rest)) = segs.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.entries
                .push(((*first).to_string(), Leaf::Value(value)));
            return;
        }
        let pos = self
            .entries
            .iter()
            .position(|(k, l)| k == first && matches!(l, Leaf::Tree(_)));
        let idx = match pos {
            Some(i) => i,
            None => {
                self.entries
                    .push(((*first).to_string(), Leaf::Tree(Tree::default())));
                self.entries.len() - 1
            }
        };
        if let Leaf::Tree(t) = &mut self.entries[idx].1 {
            t.insert(rest, value);
        }
    }

    fn lines(&self, indent: usize, step: usize, seq_indent: usize, nl: &str, out: &mut String) {
        let pad = " ".repeat(indent);
        for (k, leaf) in &self.entries {
            match leaf {
                Leaf::Value(New::Scalar(s)) => out.push_str(&format!("{pad}{k}: {s}{nl}")),
                Leaf::Value(New::List(items)) => {
                    out.push_str(&format!("{pad}{k}:{nl}"));
                    let ipad = " ".repeat(indent + seq_indent);
                    for i in items {
                        out.push_str(&format!("{ipad}- {}{nl}", string_item(i)));
                    }
                }
                Leaf::Tree(t) => {
                    out.push_str(&format!("{pad}{k}:{nl}"));
                    t.lines(indent + step, step, seq_indent, nl, out);
                }
            }
        }
    }
}

/// Edits one block mapping document (its root `root`) of `text`.
pub(crate) struct MapEditor<'a> {
    text: &'a str,
    root: &'a Node,
    nl: &'static str,
    splices: Vec<Splice>,
    /// Insertions grouped by the existing mapping they go into (by its start offset).
    inserts: Vec<(usize, Tree)>,
    step: usize,
    seq_indent: usize,
}

impl<'a> MapEditor<'a> {
    pub(crate) fn new(text: &'a str, root: &'a Node, nl: &'static str) -> Self {
        // The document's own indentation step and sequence style, where it shows them.
        let mut step = None;
        let mut seq_indent = None;
        fn walk(text: &str, n: &Node, step: &mut Option<usize>, seq: &mut Option<usize>) {
            for (k, v) in n.entries() {
                if v.is_map() && !v.is_flow() {
                    if let Some((ck, _)) = v.entries().first() {
                        let d =
                            column(text, ck.span.start).saturating_sub(column(text, k.span.start));
                        if d > 0 && step.is_none() {
                            *step = Some(d);
                        }
                    }
                    walk(text, v, step, seq);
                }
                if v.is_seq() && !v.is_flow() {
                    if let Some(first) = v.items().first() {
                        let dash = dash_of(text, first).0;
                        if seq.is_none() {
                            *seq = Some(dash.saturating_sub(column(text, k.span.start)));
                        }
                    }
                }
            }
        }
        walk(text, root, &mut step, &mut seq_indent);
        MapEditor {
            text,
            root,
            nl,
            splices: Vec::new(),
            inserts: Vec::new(),
            step: step.unwrap_or(2),
            seq_indent: seq_indent.unwrap_or(0),
        }
    }

    fn text(&self) -> &'a str {
        self.text
    }

    /// Sets the value at `path`, adding the entries on the way that are missing.
    pub(crate) fn set(&mut self, path: &str, value: New) -> Result<(), EditError> {
        let segs: Vec<&str> = path.split('.').collect();
        let mut node = self.root;
        for (i, seg) in segs.iter().enumerate() {
            let here = if i == 0 {
                "the document".to_string()
            } else {
                format!("`{}`", segs[..i].join("."))
            };
            if node.decorated {
                return Err(refuse(
                    Some(node.span.start),
                    format!("{here} carries a YAML anchor or tag, which kubeharden does not edit: write it out in full without them (an anchor shares the value with its aliases, so an edit would change them all), then run kubeharden again"),
                ));
            }
            if node.is_flow() {
                return Err(refuse(
                    Some(node.span.start),
                    format!(
                        "{here} is a flow mapping ({{...}}); kubeharden only edits block mappings"
                    ),
                ));
            }
            match node.entry(seg) {
                Some((k, v)) if i + 1 == segs.len() => return self.replace(path, k, v, value),
                Some((k, v)) if v.is_null() && !v.decorated => {
                    // `key:` with nothing (or `~`): the rest goes below it.
                    if v.span.end > v.span.start {
                        let from = colon_end(self.text(), k);
                        self.splices.push(Splice {
                            start: from,
                            end: v.span.end,
                            text: String::new(),
                        });
                    }
                    let mut t = Tree::default();
                    t.insert(&segs[i + 1..], value);
                    let mut lines = String::new();
                    let indent = column(self.text(), k.span.start) + self.step;
                    t.lines(indent, self.step, self.seq_indent, self.nl, &mut lines);
                    let at = after_line(self.text(), k);
                    self.splices
                        .push(insert_lines(self.text(), at, &lines, self.nl));
                    return Ok(());
                }
                Some((_, v)) if v.is_map() => node = v,
                Some((_, v)) => {
                    return Err(refuse(
                        Some(v.span.start),
                        format!("`{}` is not a mapping", segs[..=i].join(".")),
                    ))
                }
                None => {
                    let start = node.span.start;
                    match self.inserts.iter_mut().find(|(s, _)| *s == start) {
                        Some((_, t)) => t.insert(&segs[i..], value),
                        None => {
                            let mut t = Tree::default();
                            t.insert(&segs[i..], value);
                            self.inserts.push((start, t));
                        }
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn replace(&mut self, path: &str, key: &Node, old: &Node, value: New) -> Result<(), EditError> {
        if old.decorated {
            return Err(refuse(
                Some(old.span.start),
                format!("`{path}` carries an anchor or tag"),
            ));
        }
        if matches!(
            &old.kind,
            Kind::Scalar {
                style: Style::Literal | Style::Folded,
                ..
            }
        ) {
            return Err(refuse(
                Some(old.span.start),
                format!(
                    "`{path}` is a block scalar (`|` or `>`); write it as a plain or quoted value"
                ),
            ));
        }
        // `key:` with nothing, `~` or `null`: the value goes after the colon (a list below it).
        if old.is_null() {
            self.fill_null(key, old, value);
            return Ok(());
        }
        match value {
            New::Scalar(s) => {
                if !matches!(old.kind, Kind::Scalar { .. }) || old.span.start == old.span.end {
                    return Err(refuse(
                        Some(old.span.start),
                        format!("`{path}` is not a plain value kubeharden can replace"),
                    ));
                }
                if matches!(&old.kind, Kind::Scalar { value, .. } if value.contains('\n')) {
                    return Err(refuse(
                        Some(old.span.start),
                        format!("`{path}` spans several lines"),
                    ));
                }
                self.splices.push(Splice {
                    start: old.span.start,
                    end: old.span.end,
                    text: s,
                });
                Ok(())
            }
            New::List(items) => self.replace_list(path, old, &items),
        }
    }

    /// `key:` with nothing, `~` or `null` gets its value: after the colon, or a list below it.
    fn fill_null(&mut self, key: &Node, old: &Node, value: New) {
        let from = colon_end(self.text(), key);
        let to = old.span.end.max(from);
        match value {
            New::Scalar(s) => self.splices.push(Splice {
                start: from,
                end: to,
                text: format!(" {s}"),
            }),
            New::List(items) => {
                self.splices.push(Splice {
                    start: from,
                    end: to,
                    text: String::new(),
                });
                let mut lines = String::new();
                let pad = " ".repeat(column(self.text(), key.span.start) + self.seq_indent);
                for i in &items {
                    lines.push_str(&format!("{pad}- {}{}", string_item(i), self.nl));
                }
                let at = after_line(self.text(), key);
                self.splices
                    .push(insert_lines(self.text(), at, &lines, self.nl));
            }
        }
    }

    /// A list rewritten with `items`: in its flow style, or one item a line as it was.
    fn replace_list(&mut self, path: &str, old: &Node, items: &[String]) -> Result<(), EditError> {
        if old.is_seq() && old.is_flow() {
            let body: Vec<String> = items
                .iter()
                .map(|i| {
                    if yaml::plain_string_ok(i, true) {
                        i.clone()
                    } else {
                        yaml::double_quote(i)
                    }
                })
                .collect();
            self.splices.push(Splice {
                start: old.span.start,
                end: old.span.end,
                text: format!("[{}]", body.join(", ")),
            });
            return Ok(());
        }
        if !old.is_seq() || old.items().is_empty() {
            return Err(refuse(
                Some(old.span.start),
                format!("`{path}` is not a list kubeharden can rewrite"),
            ));
        }
        let text = self.text();
        let first = &old.items()[0];
        let start = line_start(text, first.span.start);
        let (dash_col, gap) = dash_of(text, first);
        // Every item on its own line, `- value`.
        for it in old.items() {
            let before = &text[line_start(text, it.span.start)..it.span.start];
            if before.trim() != "-" {
                return Err(refuse(
                    Some(it.span.start),
                    format!("an item of `{path}` does not stand on its own line"),
                ));
            }
        }
        let last = old.items().last().unwrap_or(first);
        let end = after_line(text, last);
        let pad = " ".repeat(dash_col);
        let gap = " ".repeat(gap.max(1));
        let mut lines = String::new();
        for i in items {
            lines.push_str(&format!("{pad}-{gap}{}{}", string_item(i), self.nl));
        }
        if end == text.len() && !text.ends_with('\n') {
            lines.truncate(lines.len() - self.nl.len());
        }
        self.splices.push(Splice {
            start,
            end,
            text: lines,
        });
        Ok(())
    }

    /// Removes the entry at `path`, with its value's lines.
    pub(crate) fn remove(&mut self, path: &str) -> Result<(), EditError> {
        let (parent, last) = match path.rsplit_once('.') {
            Some((p, l)) => (lookup(self.root, p), l),
            None => (Some(self.root), path),
        };
        let Some(parent) = parent else { return Ok(()) };
        let Some((k, v)) = parent.entry(last) else {
            return Ok(());
        };
        if parent.is_flow() {
            return Err(refuse(
                Some(k.span.start),
                format!(
                    "`{path}` is in a flow mapping ({{...}}); kubeharden only edits block mappings"
                ),
            ));
        }
        let text = self.text();
        let start = line_start(text, k.span.start);
        if !text[start..k.span.start].trim().is_empty() {
            return Err(refuse(
                Some(k.span.start),
                format!("`{path}` does not start its own line"),
            ));
        }
        let mut end = after_line(text, if v.span.start == v.span.end { k } else { v });
        let mut start = start;
        if end == text.len() && !text.ends_with('\n') && start > 0 {
            start -= if text[..start].ends_with("\r\n") {
                2
            } else {
                1
            };
            end = text.len();
        }
        self.splices.push(Splice {
            start,
            end,
            text: String::new(),
        });
        Ok(())
    }

    /// The splices that make the changes asked for.
    pub(crate) fn finish(mut self) -> Result<Vec<Splice>, EditError> {
        let text = self.text();
        for (start, tree) in std::mem::take(&mut self.inserts) {
            let map = find_map(self.root, start)
                .ok_or_else(|| refuse(Some(start), "a mapping vanished"))?;
            let Some((first, _)) = map.entries().first() else {
                return Err(refuse(
                    Some(start),
                    "an empty mapping; kubeharden adds settings to mappings that have entries",
                ));
            };
            let indent = column(text, first.span.start);
            let keys: Vec<&str> = map
                .entries()
                .iter()
                .map(|(k, _)| k.as_str().unwrap_or(""))
                .collect();
            let sorted = keys.windows(2).all(|w| w[0] <= w[1]);
            let end = {
                let (k, v) = map.entries().last().unwrap_or(&map.entries()[0]);
                after_line(text, if v.span.start == v.span.end { k } else { v })
            };
            // In a mapping whose keys are sorted (as kubeadm writes them), each new key goes
            // where it sorts; otherwise after the last entry.
            let mut groups: Vec<(usize, Tree)> = Vec::new();
            let mut entries = tree.entries;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, leaf) in entries {
                let at = if sorted {
                    map.entries()
                        .iter()
                        .find(|(k, _)| k.as_str().unwrap_or("") > key.as_str())
                        .map_or(end, |(k, _)| line_start(text, k.span.start))
                } else {
                    end
                };
                match groups.iter_mut().find(|(a, _)| *a == at) {
                    Some((_, t)) => t.entries.push((key, leaf)),
                    None => groups.push((
                        at,
                        Tree {
                            entries: vec![(key, leaf)],
                        },
                    )),
                }
            }
            for (at, t) in groups {
                let mut lines = String::new();
                t.lines(indent, self.step, self.seq_indent, self.nl, &mut lines);
                self.splices.push(insert_lines(text, at, &lines, self.nl));
            }
        }
        Ok(self.splices)
    }
}

fn find_map(root: &Node, start: usize) -> Option<&Node> {
    if root.span.start == start && root.is_map() {
        return Some(root);
    }
    root.entries()
        .iter()
        .map(|(_, v)| v)
        .chain(root.items())
        .find_map(|n| find_map(n, start))
}

/// The node at a dotted path under `root`.
pub(crate) fn lookup<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for seg in path.split('.') {
        node = node.get(seg)?;
    }
    Some(node)
}
