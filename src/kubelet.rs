//! KubeletConfiguration files (`kubelet.config.k8s.io/v1beta1`, `/var/lib/kubelet/config.yaml`).
//!
//! The settings kubeharden knows (`kubelet` in `profiles/registry.yaml`, named by their path in
//! the document: `authentication.anonymous.enabled`) become the model's flags, so the same
//! checks and plans apply as to a manifest. The edits set, add and remove mapping entries in
//! the text; verification reads the result again and compares the whole document with the
//! original plus the planned changes.

use crate::check::{self, Env};
use crate::edit::{EditError, Splice};
use crate::engine::{file_error, FileError, FileReport, Options, Region, VersionSource};
use crate::manifest::LoadError;
use crate::model::{Flag, Model};
use crate::plan::{self, Change, Plan};
use crate::profile::{FlagType, Profile, Registry};
use crate::yaml::{self, line_end_inclusive, line_start, Document, Kind, Node, Style};
use serde_json::{Map, Value};

pub const COMPONENT: &str = "kubelet";
pub const KIND: &str = "KubeletConfiguration";

/// A value another tool fills into the configuration (kubeadm, into the KubeletConfiguration of
/// its configuration file): where the document leaves it unset, or always (`forced`).
#[derive(Clone, Debug)]
pub struct Filled {
    pub path: String,
    pub value: String,
    pub forced: bool,
}

/// A loaded KubeletConfiguration.
#[derive(Debug)]
pub struct KubeletConfig {
    /// The whole file (a kubeadm configuration file holds other documents too).
    pub text: String,
    /// The KubeletConfiguration document.
    pub root: Node,
    /// Its index among the file's non-empty documents.
    pub index: usize,
    pub newline: &'static str,
    pub model: Model,
    /// Values the settings take when the document leaves them out, because another tool fills
    /// them in (kubeadm, for the KubeletConfiguration of its configuration file).
    pub defaults: Vec<Filled>,
    /// The component the file configures (`kubelet`, `kube-scheduler-config`) and its kind.
    pub component: String,
    pub kind: String,
    pub api_version: String,
}

fn err_at(node: &Node, message: impl Into<String>) -> LoadError {
    LoadError {
        offset: Some(node.span.start),
        line_col: None,
        message: message.into(),
        unrecognized: false,
    }
}

/// Whether the parsed file is a KubeletConfiguration (one document of that kind).
/// The configuration kind of the file's documents that kubeharden reads (KubeletConfiguration,
/// KubeSchedulerConfiguration), if any.
pub fn config_kind<'a>(docs: &'a [Document], registry: &Registry) -> Option<&'a str> {
    docs.iter()
        .filter_map(|d| d.root.get("kind").and_then(Node::as_str))
        .find(|k| registry.config_component(k).is_some())
}

/// A `<<` merge key: the kubelet's YAML reader merges the mapping in, kubeharden would not see
/// what it sets.
fn merge_key(n: &Node) -> Option<&Node> {
    n.entries()
        .iter()
        .find_map(|(k, v)| {
            let plain_merge = k.as_str() == Some("<<")
                && matches!(
                    k.kind,
                    Kind::Scalar {
                        style: Style::Plain,
                        ..
                    }
                );
            if plain_merge {
                Some(k)
            } else {
                merge_key(v)
            }
        })
        .or_else(|| n.items().iter().find_map(merge_key))
}

/// A boolean as the kubelet's YAML reader (YAML 1.1, sigs.k8s.io/yaml) reads a plain scalar.
fn yaml_bool(n: &Node) -> Option<bool> {
    match &n.kind {
        Kind::Scalar {
            value,
            style: Style::Plain,
        } => match value.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                Some(true)
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
            | "N" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn is_plain(n: &Node) -> bool {
    matches!(
        n.kind,
        Kind::Scalar {
            style: Style::Plain,
            ..
        }
    )
}

/// The node at a dotted path under `root`, with the mapping holding it.
fn lookup<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for seg in path.split('.') {
        node = node.get(seg)?;
    }
    Some(node)
}

/// One setting's value as the model holds it, or `None` when it is unset (missing or null).
fn read_value(node: &Node, kind: FlagType, path: &str) -> Result<Option<String>, LoadError> {
    if node.decorated {
        return Err(err_at(
            node,
            format!("`{path}` carries a YAML anchor, alias or tag; kubeharden does not edit those"),
        ));
    }
    if node.is_null() {
        return Ok(None);
    }
    match kind {
        FlagType::Bool => match yaml_bool(node) {
            Some(b) => Ok(Some(b.to_string())),
            None => Err(err_at(
                node,
                format!("`{path}` must be a boolean (true or false); the component refuses anything else"),
            )),
        },
        FlagType::Int => match node.as_str() {
            Some(v) if is_plain(node) && check::parse_go_int(v).is_some() => Ok(Some(v.to_string())),
            _ => Err(err_at(node, format!("`{path}` must be an integer"))),
        },
        FlagType::List => {
            if !node.is_seq() {
                return Err(err_at(node, format!("`{path}` must be a list")));
            }
            let mut items = Vec::new();
            for i in node.items() {
                match i.as_str() {
                    Some(v) if !i.decorated => items.push(v.to_string()),
                    _ => return Err(err_at(i, format!("the items of `{path}` must be strings"))),
                }
            }
            Ok(Some(items.join(",")))
        }
        FlagType::Map => {
            if !node.is_map() {
                return Err(err_at(node, format!("`{path}` must be a mapping")));
            }
            let mut kv = Vec::new();
            for (k, v) in node.entries() {
                let key = k
                    .as_str()
                    .ok_or_else(|| err_at(k, format!("a key of `{path}` is not a string")))?;
                let b = yaml_bool(v).ok_or_else(|| {
                    err_at(v, format!("`{path}.{key}` must be a boolean (true or false)"))
                })?;
                kv.push(format!("{key}={b}"));
            }
            Ok(Some(kv.join(",")))
        }
        _ => match node.as_str() {
            Some(v) => Ok(Some(v.to_string())),
            None => Err(err_at(node, format!("`{path}` must be a string"))),
        },
    }
}

/// Reads the settings the registry knows into a model; `defaults` fill what is unset.
fn model_of(
    root: &Node,
    component: &str,
    registry: &Registry,
    defaults: &[Filled],
) -> Result<Model, LoadError> {
    let mut model = read_model(root, component, registry)?;
    for d in defaults {
        let unset = model.value(&d.path).is_none_or(|v| v.is_empty());
        if d.forced || unset {
            model.flags.retain(|f| f.name != d.path);
            model.flags.push(Flag {
                name: d.path.clone(),
                value: Some(d.value.clone()),
            });
        }
    }
    Ok(model)
}

fn read_model(root: &Node, component: &str, registry: &Registry) -> Result<Model, LoadError> {
    let mut flags = Vec::new();
    for (path, spec) in registry.flags.get(component).into_iter().flatten() {
        // Every mapping on the way must be a mapping.
        let mut node = root;
        let mut found = true;
        for seg in path.split('.') {
            if !node.is_map() {
                if node.is_null() {
                    found = false;
                    break;
                }
                return Err(err_at(
                    node,
                    format!("expected a mapping on the way to `{path}`"),
                ));
            }
            match node.get(seg) {
                Some(n) => node = n,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        if let Some(value) = read_value(node, spec.kind, path)? {
            flags.push(Flag {
                name: path.clone(),
                value: Some(value),
            });
        }
    }
    Ok(Model {
        component: component.to_string(),
        flags,
        ..Model::default()
    })
}

/// Loads a KubeletConfiguration file from its parsed documents.
pub fn load(
    text: &str,
    docs: Vec<Document>,
    registry: &Registry,
) -> Result<KubeletConfig, LoadError> {
    let n = docs.iter().filter(|d| !d.root.is_null()).count();
    let kind = config_kind(&docs, registry).unwrap_or(KIND).to_string();
    if n > 1 {
        return Err(LoadError {
            offset: None,
            line_col: None,
            message: format!("the file holds {n} YAML documents; a {kind} file holds one"),
            unrecognized: false,
        });
    }
    find(text, docs, registry, &kind, &[])?.ok_or_else(|| LoadError {
        offset: None,
        line_col: None,
        message: format!("the file holds no {kind}"),
        unrecognized: true,
    })
}

/// The document of configuration `kind` among a file's documents, if there is one.
pub fn find(
    text: &str,
    docs: Vec<Document>,
    registry: &Registry,
    kind: &str,
    defaults: &[Filled],
) -> Result<Option<KubeletConfig>, LoadError> {
    let Some((component, spec)) = registry.config_component(kind) else {
        return Ok(None);
    };
    let roots: Vec<Node> = docs
        .into_iter()
        .map(|d| d.root)
        .filter(|r| !r.is_null())
        .collect();
    let mut found = roots
        .iter()
        .enumerate()
        .filter(|(_, r)| r.get("kind").and_then(Node::as_str) == Some(kind));
    let Some((index, _)) = found.next() else {
        return Ok(None);
    };
    if let Some((_, second)) = found.next() {
        return Err(err_at(
            second,
            format!("the file holds more than one {kind}"),
        ));
    }
    let Some(root) = roots.into_iter().nth(index) else {
        return Ok(None);
    };
    if !root.is_map() {
        return Err(err_at(&root, "the document is not a mapping"));
    }
    let known: Vec<&str> = spec.api_versions.iter().map(|a| a.value.as_str()).collect();
    let api_version = match root.get("apiVersion").and_then(Node::as_str) {
        Some(v) if known.contains(&v) => v.to_string(),
        Some(other) => {
            return Err(err_at(
                root.get("apiVersion").unwrap_or(&root),
                format!(
                    "apiVersion `{other}` is not one kubeharden knows for a {kind} ({})",
                    known.join(", ")
                ),
            ))
        }
        None => return Err(err_at(&root, format!("the {kind} has no apiVersion"))),
    };
    if let Some(k) = merge_key(&root) {
        return Err(err_at(
            k,
            "a `<<` merge key: the component merges that mapping in, and kubeharden does not; write the settings out",
        ));
    }
    let model = model_of(&root, component, registry, defaults)?;
    Ok(Some(KubeletConfig {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        text: text.to_string(),
        root,
        index,
        model,
        defaults: defaults.to_vec(),
        component: component.to_string(),
        kind: kind.to_string(),
        api_version,
    }))
}

/// Why Kubernetes `v` does not read this file's apiVersion, if it does not.
fn api_rejected(
    cfg: &KubeletConfig,
    registry: &Registry,
    v: crate::version::Version,
) -> Option<String> {
    let (_, spec) = registry.config_component(&cfg.kind)?;
    let r = spec
        .api_versions
        .iter()
        .find(|a| a.value == cfg.api_version)?;
    let ok = r.since.is_none_or(|s| v.minor >= s) && r.removed.is_none_or(|x| v.minor < x);
    (!ok).then(|| {
        format!(
            "Kubernetes {v} does not read {} (it is read from 1.{} until 1.{}); the component would not start with this file",
            cfg.api_version,
            r.since.unwrap_or(registry.versions.oldest),
            r.removed.map_or(registry.versions.newest, |x| x - 1)
        )
    })
}

// ------------------------------------------------------------------------------------ edits

fn refuse(offset: Option<usize>, message: impl Into<String>) -> EditError {
    EditError {
        offset,
        message: message.into(),
    }
}

/// A setting's value as written in the file.
#[derive(Clone, Debug, PartialEq)]
enum New {
    Scalar(String),
    List(Vec<String>),
}

/// The scalar text for a value of a setting of type `kind`.
fn render(kind: FlagType, value: &str) -> String {
    match kind {
        FlagType::Bool | FlagType::Int => value.to_string(),
        _ if yaml::plain_string_ok(value, false) => value.to_string(),
        _ => yaml::double_quote(value),
    }
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
                        out.push_str(&format!("{ipad}- {}{nl}", render(FlagType::String, i)));
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

struct Editor<'a> {
    cfg: &'a KubeletConfig,
    splices: Vec<Splice>,
    /// Insertions grouped by the existing mapping they go into (by its start offset).
    inserts: Vec<(usize, Tree)>,
    step: usize,
    seq_indent: usize,
}

fn column(text: &str, offset: usize) -> usize {
    offset - line_start(text, offset)
}

/// The start of the line after `node`'s content.
fn after(text: &str, node: &Node) -> usize {
    line_end_inclusive(
        text,
        node.content_end().saturating_sub(1).max(node.span.start),
    )
}

impl<'a> Editor<'a> {
    fn new(cfg: &'a KubeletConfig) -> Self {
        // The document's own indentation step and sequence style, where it shows them.
        let text = cfg.text.as_str();
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
        walk(text, &cfg.root, &mut step, &mut seq_indent);
        Editor {
            cfg,
            splices: Vec::new(),
            inserts: Vec::new(),
            step: step.unwrap_or(2),
            seq_indent: seq_indent.unwrap_or(0),
        }
    }

    fn text(&self) -> &'a str {
        self.cfg.text.as_str()
    }

    /// Sets the value at `path`, adding the entries on the way that are missing.
    fn set(&mut self, path: &str, value: New) -> Result<(), EditError> {
        let segs: Vec<&str> = path.split('.').collect();
        let mut node = &self.cfg.root;
        for (i, seg) in segs.iter().enumerate() {
            let here = if i == 0 {
                "the document".to_string()
            } else {
                format!("`{}`", segs[..i].join("."))
            };
            if node.decorated {
                return Err(refuse(
                    Some(node.span.start),
                    format!("{here} carries a YAML anchor or tag; kubeharden does not edit those"),
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
                    t.lines(
                        indent,
                        self.step,
                        self.seq_indent,
                        self.cfg.newline,
                        &mut lines,
                    );
                    let at = after(self.text(), k);
                    self.splices
                        .push(insert(self.text(), at, lines, self.cfg.newline));
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
                        lines.push_str(&format!(
                            "{pad}- {}{}",
                            render(FlagType::String, i),
                            self.cfg.newline
                        ));
                    }
                    let at = after(self.text(), key);
                    self.splices
                        .push(insert(self.text(), at, lines, self.cfg.newline));
                }
            }
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
            }
            New::List(items) => {
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
                } else if old.is_seq() && !old.items().is_empty() {
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
                    let end = after(text, last);
                    let pad = " ".repeat(dash_col);
                    let gap = " ".repeat(gap.max(1));
                    let mut lines = String::new();
                    for i in &items {
                        lines.push_str(&format!(
                            "{pad}-{gap}{}{}",
                            render(FlagType::String, i),
                            self.cfg.newline
                        ));
                    }
                    if end == text.len() && !text.ends_with('\n') {
                        lines.truncate(lines.len() - self.cfg.newline.len());
                    }
                    self.splices.push(Splice {
                        start,
                        end,
                        text: lines,
                    });
                } else {
                    return Err(refuse(
                        Some(old.span.start),
                        format!("`{path}` is not a list kubeharden can rewrite"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Removes the entry at `path`, with its value's lines.
    fn remove(&mut self, path: &str) -> Result<(), EditError> {
        let (parent, last) = match path.rsplit_once('.') {
            Some((p, l)) => (lookup(&self.cfg.root, p), l),
            None => (Some(&self.cfg.root), path),
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
        let mut end = after(text, if v.span.start == v.span.end { k } else { v });
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

    fn finish(mut self) -> Result<Vec<Splice>, EditError> {
        let text = self.text();
        for (start, tree) in std::mem::take(&mut self.inserts) {
            let map = find_map(&self.cfg.root, start)
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
                after(text, if v.span.start == v.span.end { k } else { v })
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
                t.lines(
                    indent,
                    self.step,
                    self.seq_indent,
                    self.cfg.newline,
                    &mut lines,
                );
                self.splices.push(insert(text, at, lines, self.cfg.newline));
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

/// Lines inserted at `at`, which starts a line or is the end of a file without a final
/// newline (which stays without one).
fn insert(text: &str, at: usize, lines: String, nl: &str) -> Splice {
    let open_end = at > 0 && !text[..at].ends_with('\n');
    let text = if open_end {
        format!("{nl}{}", lines.strip_suffix(nl).unwrap_or(&lines))
    } else {
        lines
    };
    Splice {
        start: at,
        end: at,
        text,
    }
}

/// The column of a block sequence item's dash, and the spaces between the dash and the item.
fn dash_of(text: &str, item: &Node) -> (usize, usize) {
    let ls = line_start(text, item.span.start);
    let before = &text[ls..item.span.start];
    match before.rfind('-') {
        Some(d) => (d, before.len() - d - 1),
        None => (column(text, item.span.start).saturating_sub(2), 1),
    }
}

/// Just after the `:` that follows a mapping key.
fn colon_end(text: &str, key: &Node) -> usize {
    let rest = &text[key.span.end..];
    match rest.find(':') {
        Some(i) if rest[..i].trim().is_empty() => key.span.end + i + 1,
        _ => key.span.end,
    }
}

fn map_pairs(v: &str) -> Vec<(String, String)> {
    crate::model::split_list(v)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (kv, "true".to_string()),
        })
        .collect()
}

/// The splices for `plan` on `cfg`.
pub fn edits(
    cfg: &KubeletConfig,
    plan: &Plan,
    registry: &Registry,
) -> Result<Vec<Splice>, EditError> {
    let mut ed = Editor::new(cfg);
    for p in &plan.changes {
        match &p.change {
            Change::SetFlag { flag, value } => {
                let kind = registry
                    .flag(&cfg.component, flag)
                    .map(|s| s.kind)
                    .unwrap_or(FlagType::String);
                match kind {
                    FlagType::List => ed.set(flag, New::List(crate::model::split_list(value)))?,
                    FlagType::Map => {
                        let old = cfg
                            .model
                            .value(flag)
                            .map(|v| map_pairs(&v))
                            .unwrap_or_default();
                        let new = map_pairs(value);
                        for (k, _) in &old {
                            if !new.iter().any(|(n, _)| n == k) {
                                ed.remove(&format!("{flag}.{k}"))?;
                            }
                        }
                        for (k, v) in &new {
                            if !old.iter().any(|(o, ov)| o == k && ov == v) {
                                ed.set(
                                    &format!("{flag}.{k}"),
                                    New::Scalar(render(FlagType::Bool, v)),
                                )?;
                            }
                        }
                    }
                    _ => ed.set(flag, New::Scalar(render(kind, value)))?,
                }
            }
            Change::RemoveFlag { flag } => ed.remove(flag)?,
            other => {
                return Err(refuse(
                    None,
                    format!("{other:?} is not a change a KubeletConfiguration can take"),
                ))
            }
        }
    }
    ed.finish()
}

// ------------------------------------------------------------------------------- verification

fn set_json(root: &mut Value, path: &str, v: Option<Value>) {
    let segs: Vec<&str> = path.split('.').collect();
    let mut node = root;
    for (i, seg) in segs.iter().enumerate() {
        let Some(obj) = node.as_object_mut() else {
            return;
        };
        if i + 1 == segs.len() {
            match v {
                Some(v) => {
                    obj.insert((*seg).to_string(), v);
                }
                None => {
                    obj.remove(*seg);
                }
            }
            return;
        }
        let entry = obj
            .entry((*seg).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if matches!(entry.as_str(), Some("" | "~" | "null" | "Null" | "NULL")) {
            *entry = Value::Object(Map::new());
        }
        node = entry;
    }
}

/// Checks the edited text: it loads, means the original plus exactly the planned changes, and
/// planning it again changes nothing.
pub fn verify(
    orig: &KubeletConfig,
    plan: &Plan,
    edited: &str,
    profile: &Profile,
    env: Env,
) -> Result<(), String> {
    let docs =
        yaml::parse(edited).map_err(|e| format!("the edited file no longer parses ({e})"))?;
    let others = |docs: &[Document], skip: usize| -> Vec<Value> {
        docs.iter()
            .filter(|d| !d.root.is_null())
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, d)| crate::verify::value_of(&d.root))
            .collect()
    };
    let before_docs =
        yaml::parse(&orig.text).map_err(|e| format!("the file no longer parses ({e})"))?;
    if others(&before_docs, orig.index) != others(&docs, orig.index) {
        return Err("another document of the file changed".into());
    }
    let after = find(edited, docs, env.registry, &orig.kind, &orig.defaults)
        .map_err(|e| format!("the edited file no longer loads ({})", e.message))?
        .ok_or("the edited file has no KubeletConfiguration any more")?;
    if after.index != orig.index {
        return Err("the documents of the file moved".into());
    }
    if plan::flag_meaning(&after.model) != plan::flag_meaning(&plan.after) {
        return Err("the edited settings differ from the planned ones".into());
    }
    let mut want = crate::verify::value_of(&orig.root);
    for p in &plan.changes {
        match &p.change {
            Change::SetFlag { flag, value } => {
                let kind = env.registry.flag(&orig.component, flag).map(|s| s.kind);
                match kind {
                    Some(FlagType::List) => set_json(
                        &mut want,
                        flag,
                        Some(Value::Array(
                            crate::model::split_list(value)
                                .into_iter()
                                .map(Value::String)
                                .collect(),
                        )),
                    ),
                    Some(FlagType::Map) => {
                        let old = orig
                            .model
                            .value(flag)
                            .map(|v| map_pairs(&v))
                            .unwrap_or_default();
                        let new = map_pairs(value);
                        for (k, _) in &old {
                            if !new.iter().any(|(n, _)| n == k) {
                                set_json(&mut want, &format!("{flag}.{k}"), None);
                            }
                        }
                        for (k, v) in &new {
                            if !old.iter().any(|(o, ov)| o == k && ov == v) {
                                set_json(
                                    &mut want,
                                    &format!("{flag}.{k}"),
                                    Some(Value::String(v.clone())),
                                );
                            }
                        }
                    }
                    _ => set_json(&mut want, flag, Some(Value::String(value.clone()))),
                }
            }
            Change::RemoveFlag { flag } => set_json(&mut want, flag, None),
            _ => return Err("a change a KubeletConfiguration cannot take".into()),
        }
    }
    if crate::verify::value_of(&after.root) != want {
        return Err("a part of the file outside the planned changes differs".into());
    }
    let again = plan::plan(profile, &after.model, env)
        .map_err(|e| format!("re-planning the result failed: {e}"))?;
    if !again.is_empty() {
        return Err(
            "a second run would still change the result (the edit is not idempotent)".into(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------- pipeline

/// Where a finding points: the setting's entry, else the top of the document.
/// The region covers the whole entry (key and value), or the document's first key.
pub(crate) fn locate(cfg: &KubeletConfig, flag: Option<&str>) -> Region {
    let entry = flag.and_then(|f| {
        let (parent, last) = match f.rsplit_once('.') {
            Some((p, l)) => (lookup(&cfg.root, p)?, l),
            None => (&cfg.root, f),
        };
        parent.entry(last)
    });
    match entry {
        // An empty value has no text of its own.
        Some((k, v)) if v.as_str() == Some("") => Region::of(&cfg.text, k.span.start, k.span.end),
        Some((k, v)) => Region::of(&cfg.text, k.span.start, v.content_end().max(k.span.end)),
        None => Region::of(
            &cfg.text,
            cfg.root.span.start,
            crate::engine::head_end(&cfg.root),
        ),
    }
}

/// Plans, edits and verifies the KubeletConfiguration of `cfg` (the rules of other components
/// find nothing to do). Returns the plan and the whole file's new text, if anything changes.
pub(crate) fn plan_and_edit(
    path: &str,
    cfg: &KubeletConfig,
    profile: &Profile,
    registry: &Registry,
    env: Env,
    verifies: bool,
) -> Result<(Plan, Option<String>), FileError> {
    let text = cfg.text.as_str();
    let plan = plan::plan(profile, &cfg.model, env).map_err(|e| {
        file_error(
            path,
            text,
            None,
            Some(locate(cfg, None).start()),
            format!("cannot plan a safe change: {e}; nothing was written"),
        )
    })?;
    if plan.is_empty() {
        return Ok((plan, None));
    }
    let splices = edits(cfg, &plan, registry).map_err(|e| {
        file_error(
            path,
            text,
            e.offset,
            None,
            format!("cannot edit safely: {}; nothing was written", e.message),
        )
    })?;
    let new_text = crate::edit::apply(text, splices)
        .map_err(|e| file_error(path, text, e.offset, None, e.message))?;
    if verifies {
        verify(cfg, &plan, &new_text, profile, env).map_err(|e| {
            file_error(
                path,
                text,
                None,
                None,
                format!("verification failed: {e}; nothing was written"),
            )
        })?;
    }
    Ok((plan, Some(new_text)))
}

/// With a guessed Kubernetes version, the rules of `component` that hold for some versions only
/// are left out of `profile` (the component may be older than the guess); they are returned
/// with the reason, which says that `what` names no version.
pub(crate) fn leave_version_bound(
    profile: &mut Profile,
    component: &str,
    what: &str,
) -> Vec<(String, String)> {
    let left: Vec<(String, String)> = profile
        .rules
        .iter()
        .filter(|r| r.component == component && !r.versions.is_any())
        .map(|r| {
            (
                r.id.clone(),
                format!("the rule depends on the Kubernetes version ({}), which {what} does not name; pass --kubernetes-version", r.versions),
            )
        })
        .collect();
    profile
        .rules
        .retain(|r| !left.iter().any(|(id, _)| id == &r.id));
    left
}

pub fn process<'p>(
    path: &str,
    full_text: &str,
    bom: &str,
    cfg: KubeletConfig,
    opts: &Options<'p>,
) -> Result<FileReport<'p>, FileError> {
    let text = cfg.text.as_str();
    let mut notes = Vec::new();
    let (version, version_source) = match (opts.version, opts.node_version) {
        (Some(v), _) => (v, VersionSource::Option),
        (None, Some(v)) => (v, VersionSource::Node),
        (None, None) => {
            let v = opts.registry.newest();
            notes.push(format!(
                "a {} names no Kubernetes version and no --kubernetes-version was given: assuming {v}, the newest kubeharden knows; rules that depend on the version are not fixed",
                cfg.kind
            ));
            (v, VersionSource::Assumed)
        }
    };
    let env = Env {
        registry: opts.registry,
        version,
    };
    let mut cannot: Option<String> = None;
    if crate::engine::has_bare_cr(text) {
        cannot = Some(crate::engine::BARE_CR.into());
    }
    if let Some(why) = api_rejected(&cfg, opts.registry, version) {
        cannot.get_or_insert(why);
    }
    if cfg.root.is_flow() {
        cannot.get_or_insert(format!(
            "kubeharden edits a {} written as block YAML, not as JSON or a flow mapping",
            cfg.kind
        ));
    }
    if let Some(why) = &cannot {
        crate::engine::refuse_or_note(path, text, why, opts.report_only, &mut notes)?;
    }
    // A guessed version that the file contradicts (it names gates that version no longer has)
    // must not steer edits: removing such a gate is right only for the versions without it.
    if version_source == VersionSource::Assumed {
        let gates: Vec<String> = check::rejected_gates(&cfg.model, env)
            .into_iter()
            .map(|(_, g)| g)
            .collect();
        if !gates.is_empty() {
            let why = format!(
                "the file names the feature gate(s) {}, which {version} no longer has, so the component is older than {version}; pass --kubernetes-version",
                gates.join(", ")
            );
            crate::engine::refuse_or_note(path, text, &why, opts.report_only, &mut notes)?;
            cannot.get_or_insert(why);
        }
    }
    // With a guessed version, rules limited to some versions are left alone: the kubelet may
    // be older than the guess.
    // Suppression comments: the rules they silence are left out of the plan.
    let sup = crate::suppress::Suppressions::read(
        text,
        opts.ignores,
        vec![crate::suppress::Target::document(text, &cfg.root)],
    );
    let mut profile: Profile = sup
        .without_silenced(opts.profile, || {
            check::check(opts.profile, &cfg.model, env)
                .into_iter()
                .map(|f| (f.rule_id, locate(&cfg, f.flag.as_deref()).line))
                .collect::<Vec<_>>()
        })
        .unwrap_or_else(|| opts.profile.clone());
    let left = if version_source == VersionSource::Assumed {
        leave_version_bound(&mut profile, &cfg.component, &format!("a {}", cfg.kind))
    } else {
        Vec::new()
    };
    let attempt = || plan_and_edit(path, &cfg, &profile, opts.registry, env, opts.verifies());
    let result = match cannot {
        Some(_) => Ok((Plan::default(), None)),
        None => attempt(),
    };
    let (plan, edited) = crate::engine::failure_as_note(
        result,
        opts.report_only,
        "this file",
        &mut notes,
        &mut cannot,
    )?
    .map_or((Plan::default(), None), |(plan, edited)| {
        (plan, edited.map(|t| format!("{bom}{t}")))
    });
    let mut findings = crate::engine::report_findings(
        crate::check::check(opts.profile, &cfg.model, env),
        opts.profile,
        &cfg.model,
        env,
        &plan,
        &left,
        cannot.as_deref(),
        |flag| locate(&cfg, flag),
        "no automatic fix applies to this file and version",
    );
    let unused_suppressions = sup.apply(&mut findings, opts.profile);
    let edited = if opts.keeps_texts() { edited } else { None };
    Ok(FileReport {
        path: path.to_string(),
        component: cfg.component.clone(),
        version,
        version_source,
        notes,
        findings,
        changes: plan.changes,
        required_files: plan.required_files,
        original: if opts.keeps_texts() {
            full_text.to_string()
        } else {
            String::new()
        },
        edited,
        kubeadm: false,
        needs_probe_patch: false,
        unused_suppressions,
    })
}
