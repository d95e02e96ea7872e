//! Turns a plan into byte splices of a kubeadm configuration file: `apiServer.extraArgs`
//! entries in the file's own encoding (a map of strings in v1beta3, `{name, value}` items in
//! v1beta4) and `apiServer.extraVolumes` items, in the indentation and quoting of their
//! neighbours. Keys that are missing (`extraArgs`, `apiServer`, even the ClusterConfiguration
//! document) are added.

use super::config::{ArgsEncoding, KubeadmConfig};
use crate::edit::lines::{
    after_line, child_block, column, insert_lines, keep_end, remove_lines, scalar_end,
};
use crate::edit::scalar::{key_scalar, string_scalar};
use crate::edit::{merge_inserts, refuse, EditError, Splice};
use crate::model::change::Change;
use crate::model::{Mount, Volume};
use crate::plan::Plan;
use crate::yaml::{self, line_end_inclusive, line_start, Kind, Node, Style};

/// The indices of the extraArgs entries for `flag`, in file order.
fn entries_of(cfg: &KubeadmConfig, flag: &str) -> Vec<usize> {
    cfg.args
        .iter()
        .enumerate()
        .filter(|(_, a)| a.name == flag)
        .map(|(i, _)| i)
        .collect()
}

struct NewArg {
    name: String,
    value: String,
}

/// The splices for `plan` on `cfg`.
pub(crate) fn edits(cfg: &KubeadmConfig, plan: &Plan) -> Result<Vec<Splice>, EditError> {
    let text = cfg.text.as_str();
    let mut splices = Vec::new();
    // The final extraArgs: (index of the original entry, new value) or removal, and new ones.
    let mut set_value: Vec<(usize, String)> = Vec::new();
    let mut remove: Vec<usize> = Vec::new();
    let mut add: Vec<NewArg> = Vec::new();
    let mut volumes: Vec<(Volume, Mount)> = Vec::new();
    for p in &plan.changes {
        match &p.change {
            Change::SetFlag { flag, value } => {
                let idx = entries_of(cfg, flag);
                match idx.split_first() {
                    Some((first, rest)) => {
                        if cfg.args[*first].value != *value {
                            set_value.push((*first, value.clone()));
                        }
                        remove.extend(rest);
                    }
                    None => add.push(NewArg {
                        name: flag.clone(),
                        value: value.clone(),
                    }),
                }
            }
            Change::RemoveFlag { flag } => {
                let idx = entries_of(cfg, flag);
                if idx.is_empty() {
                    return Err(refuse(
                        None,
                        format!("kubeadm writes --{flag} itself, and extraArgs can replace a default but not remove it; use a kubeadm patch"),
                    ));
                }
                remove.extend(idx);
            }
            Change::AddVolume { volume, mount } => volumes.push((volume.clone(), mount.clone())),
            // Not a change of this file: the plan never holds one (the report adds it).
            Change::JoinFlag { .. } | Change::TakeOutFlag { .. } => {}
            Change::ProbeToTcp { probe } => {
                return Err(refuse(
                    None,
                    format!("kubeadm writes the {probe} itself; changing it needs a kubeadm patch"),
                ))
            }
        }
    }

    let extra_args = cfg.api_server().and_then(|a| a.get("extraArgs"));
    let flow_args = extra_args.is_some_and(|n| n.is_flow());
    // Values changed in place, in the quoting style they had.
    for (i, value) in &set_value {
        let node = &cfg.args[*i].value_node;
        let style = match &node.kind {
            Kind::Scalar { style, .. } => Some(*style),
            _ => None,
        };
        if matches!(style, Some(Style::Literal | Style::Folded)) {
            return Err(refuse(
                Some(node.span.start),
                "a block scalar value in extraArgs; write it on one line",
            ));
        }
        splices.push(Splice {
            start: node.span.start,
            end: scalar_end(text, node),
            text: string_scalar(value, style, flow_args),
        });
    }
    for i in &remove {
        let a = &cfg.args[*i];
        if flow_args {
            return Err(refuse(
                Some(a.key.span.start),
                "removing an entry from a flow-style extraArgs is not supported; write it in block style",
            ));
        }
        let node = match cfg.encoding {
            ArgsEncoding::Map => &a.value_node,
            ArgsEncoding::List => &a.key,
        };
        splices.push(remove_lines(text, a.key.span.start, node));
    }

    let api_usable = cfg
        .api_server()
        .is_some_and(|a| a.is_map() && !a.entries().is_empty());
    if !api_usable && !add.is_empty() && !volumes.is_empty() {
        // apiServer is new: one block with both keys.
        let args = |indent: usize| match cfg.encoding {
            ArgsEncoding::Map => arg_lines(cfg, &add, indent + 2, 0),
            ArgsEncoding::List => arg_lines(cfg, &add, indent + 2, 2),
        };
        let vols = |indent: usize| volume_lines(cfg, &volumes, indent + 2, 2);
        splices.push(new_api_server_keys(
            cfg,
            &[("extraArgs", &args), ("extraVolumes", &vols)],
        )?);
    } else {
        // Two insertions at one place (a new key after a list that ends apiServer): the items
        // continuing the list come first, then the new key.
        let volumes_continue = cfg
            .api_server()
            .and_then(|a| a.get("extraVolumes"))
            .is_some_and(|n| !n.is_null());
        let args = (!add.is_empty()).then(|| add_args(cfg, &add)).transpose()?;
        let vols = (!volumes.is_empty())
            .then(|| add_volumes(cfg, &volumes))
            .transpose()?;
        if volumes_continue {
            splices.extend(vols);
            splices.extend(args);
        } else {
            splices.extend(args);
            splices.extend(vols);
        }
    }
    Ok(merge_inserts(splices))
}

/// The lines of new extraArgs entries at indentation `indent` (the key column for a map, the
/// dash column for a list).
fn arg_lines(cfg: &KubeadmConfig, add: &[NewArg], indent: usize, item_indent: usize) -> String {
    let nl = cfg.newline;
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for a in add {
        match cfg.encoding {
            ArgsEncoding::Map => out.push_str(&format!(
                "{pad}{}: {}{nl}",
                key_scalar(&a.name),
                string_scalar(&a.value, Some(Style::Plain), false)
            )),
            ArgsEncoding::List => {
                // `- name:` or `-   name:`: the dash, then spaces up to the keys' column.
                let inner = " ".repeat(item_indent);
                let gap = " ".repeat(item_indent.max(2) - 1);
                out.push_str(&format!(
                    "{pad}-{gap}name: {}{nl}{pad}{inner}value: {}{nl}",
                    key_scalar(&a.name),
                    string_scalar(&a.value, Some(Style::Plain), false)
                ));
            }
        }
    }
    out
}

fn add_args(cfg: &KubeadmConfig, add: &[NewArg]) -> Result<Splice, EditError> {
    let text = cfg.text.as_str();
    let nl = cfg.newline;
    let api = cfg.api_server();
    match api
        .and_then(|a| a.get("extraArgs"))
        .filter(|n| !n.is_null())
    {
        Some(ea) if ea.is_flow() => {
            // `{a: "1"}` / `[{name: a, value: "1"}]`: before the closing bracket (the node's
            // span may run on over spaces and a comment after it).
            let close = text[..ea.span.end]
                .rfind(['}', ']'])
                .filter(|i| *i > ea.span.start)
                .ok_or_else(|| {
                    refuse(
                        Some(ea.span.start),
                        "cannot find the end of the flow-style extraArgs",
                    )
                })?;
            let empty = match &ea.kind {
                Kind::Map { entries, .. } => entries.is_empty(),
                Kind::Seq { items, .. } => items.is_empty(),
                _ => true,
            };
            let mut s = String::new();
            for (i, a) in add.iter().enumerate() {
                if !empty || i > 0 {
                    s.push_str(", ");
                }
                match cfg.encoding {
                    ArgsEncoding::Map => s.push_str(&format!(
                        "{}: {}",
                        key_scalar(&a.name),
                        yaml::double_quote(&a.value)
                    )),
                    ArgsEncoding::List => s.push_str(&format!(
                        "{{name: {}, value: {}}}",
                        key_scalar(&a.name),
                        yaml::double_quote(&a.value)
                    )),
                }
            }
            // Keep whatever whitespace preceded the bracket after the new entries.
            let trimmed = text[..close].trim_end_matches([' ', '\t']).len();
            Ok(Splice {
                start: trimmed,
                end: trimmed,
                text: s,
            })
        }
        Some(ea) => {
            let (indent, item_indent) = match (&ea.kind, cfg.encoding) {
                (Kind::Map { entries, .. }, ArgsEncoding::Map) => (
                    entries
                        .first()
                        .map_or(4, |(k, _)| column(text, k.span.start)),
                    0,
                ),
                (Kind::Seq { items, .. }, ArgsEncoding::List) => {
                    let first = items.first();
                    let dash = first.map_or(2, |i| {
                        // The dash sits before the item's first key.
                        let col = column(text, i.span.start);
                        let line = &text[line_start(text, i.span.start)..i.span.start];
                        line.rfind('-').unwrap_or(col.saturating_sub(2))
                    });
                    let key_col = first.map_or(dash + 2, |i| column(text, i.span.start));
                    (dash, key_col - dash)
                }
                _ => {
                    return Err(refuse(
                        Some(ea.span.start),
                        "extraArgs has an unexpected shape",
                    ))
                }
            };
            Ok(insert_lines(
                text,
                after_line(text, ea),
                &arg_lines(cfg, add, indent, item_indent),
                nl,
            ))
        }
        None => {
            // A new `extraArgs:` key (replacing an empty one).
            let body = |indent: usize| -> String {
                match cfg.encoding {
                    ArgsEncoding::Map => arg_lines(cfg, add, indent + 2, 0),
                    ArgsEncoding::List => arg_lines(cfg, add, indent + 2, 2),
                }
            };
            new_api_server_keys(cfg, &[("extraArgs", &body)])
        }
    }
}

type Body<'a> = (&'a str, &'a dyn Fn(usize) -> String);

/// The entry `k: v` (all its lines) written anew as `key:` with `body(indent of k)` below.
fn rewrite_entry(
    text: &str,
    k: &Node,
    v: &Node,
    key: &str,
    body: &dyn Fn(usize) -> String,
    nl: &str,
) -> Splice {
    let indent = column(text, k.span.start);
    let start = line_start(text, k.span.start);
    let end = after_line(text, v).max(line_end_inclusive(text, k.span.start));
    Splice {
        start,
        end,
        text: keep_end(
            text,
            end,
            format!("{}{key}:{nl}{}", " ".repeat(indent), body(indent)),
            nl,
        ),
    }
}

/// Adds each `key:` with the block `body(indent of key)` under apiServer, creating apiServer
/// (and the ClusterConfiguration) when missing.
fn new_api_server_keys(cfg: &KubeadmConfig, parts: &[Body]) -> Result<Splice, EditError> {
    let text = cfg.text.as_str();
    let nl = cfg.newline;
    let api = cfg.api_server();
    let blocks = |indent: usize| -> String {
        parts
            .iter()
            .map(|(key, body)| format!("{}{key}:{nl}{}", " ".repeat(indent), body(indent)))
            .collect()
    };
    if let (Some(a), [(key, body)]) = (api, parts) {
        let key = *key;
        if let Some(existing) = a.get(key) {
            // `extraArgs:` / `extraArgs: {}` with nothing in it: replace it.
            let (k, _) = a
                .entries()
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .ok_or_else(|| refuse(Some(existing.span.start), "key not found"))?;
            return Ok(rewrite_entry(text, k, existing, key, *body, nl));
        }
    }
    if let Some(a) = api {
        if a.is_flow() && !a.entries().is_empty() {
            return Err(refuse(
                Some(a.span.start),
                "`apiServer` is written in flow style; write it in block style to let kubeharden add to it",
            ));
        }
        if a.is_map() && !a.entries().is_empty() {
            let (at, indent) = child_block(text, a, 2);
            return Ok(insert_lines(text, at, &blocks(indent), nl));
        }
        // `apiServer:` or `apiServer: {}` with nothing in it.
        let croot = cfg
            .cluster_root()
            .ok_or_else(|| refuse(None, "no ClusterConfiguration"))?;
        let (k, v) = croot
            .entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some("apiServer"))
            .ok_or_else(|| refuse(None, "apiServer not found"))?;
        return Ok(rewrite_entry(
            text,
            k,
            v,
            "apiServer",
            &|indent| blocks(indent + 2),
            nl,
        ));
    }
    match cfg.cluster_root() {
        Some(c) if c.is_flow() => Err(refuse(
            Some(c.span.start),
            "the ClusterConfiguration is written in flow style; kubeharden adds to block style only",
        )),
        Some(c) => {
            let (at, indent) = child_block(text, c, 0);
            let inner = indent + 2;
            Ok(insert_lines(
                text,
                at,
                &format!("{}apiServer:{nl}{}", " ".repeat(indent), blocks(inner)),
                nl,
            ))
        }
        None => {
            // A new document at the end of the file (which keeps its missing final newline).
            let lines = format!(
                "---{nl}apiVersion: {}{nl}kind: ClusterConfiguration{nl}apiServer:{nl}{}",
                cfg.api_version,
                blocks(2)
            );
            Ok(insert_lines(text, text.len(), &lines, nl))
        }
    }
}

fn volume_lines(
    cfg: &KubeadmConfig,
    volumes: &[(Volume, Mount)],
    dash: usize,
    inner: usize,
) -> String {
    let nl = cfg.newline;
    let pad = " ".repeat(dash);
    let ipad = " ".repeat(dash + inner);
    let gap = " ".repeat(inner.max(2) - 1);
    let mut out = String::new();
    for (v, m) in volumes {
        out.push_str(&format!("{pad}-{gap}name: {}{nl}", key_scalar(&v.name)));
        out.push_str(&format!(
            "{ipad}hostPath: {}{nl}",
            string_scalar(
                v.host_path.as_deref().unwrap_or(""),
                Some(Style::Plain),
                false
            )
        ));
        out.push_str(&format!(
            "{ipad}mountPath: {}{nl}",
            string_scalar(&m.mount_path, Some(Style::Plain), false)
        ));
        out.push_str(&format!("{ipad}readOnly: {}{nl}", m.read_only));
        if let Some(t) = &v.path_type {
            out.push_str(&format!("{ipad}pathType: {t}{nl}"));
        }
    }
    out
}

fn add_volumes(cfg: &KubeadmConfig, volumes: &[(Volume, Mount)]) -> Result<Splice, EditError> {
    let text = cfg.text.as_str();
    match cfg
        .api_server()
        .and_then(|a| a.get("extraVolumes"))
        .filter(|n| !n.is_null())
    {
        Some(ev) if ev.is_flow() => Err(refuse(
            Some(ev.span.start),
            "`extraVolumes` is written in flow style; write it in block style to let kubeharden add to it",
        )),
        Some(ev) => {
            let first = ev.items().first();
            let dash = first.map_or(2, |i| {
                let line = &text[line_start(text, i.span.start)..i.span.start];
                line.rfind('-').unwrap_or(0)
            });
            let key_col = first.map_or(dash + 2, |i| column(text, i.span.start));
            Ok(insert_lines(
                text,
                after_line(text, ev),
                &volume_lines(cfg, volumes, dash, key_col - dash),
                cfg.newline,
            ))
        }
        None => {
            let body = |indent: usize| volume_lines(cfg, volumes, indent + 2, 2);
            new_api_server_keys(cfg, &[("extraVolumes", &body)])
        }
    }
}
