//! How a plan is written into a static pod manifest: flags as items of the container's
//! `command` or `args`, settings etcd takes from `ETCD_*` variables in `env`, probes, and the
//! volumes and mounts that make files visible. The editing itself is [`crate::edit`]'s.

use super::pod::{ArgList, FlagItem, Form, Manifest};
use crate::edit::sequence::flow_ranges;
use crate::edit::{refuse, EditError, Editor, Splice};
use crate::model::change::Change;
use crate::model::{Mount, Volume};
use crate::plan::Plan;
use crate::profile::same_name;
use crate::yaml::{self, line_end_inclusive, line_start, Kind, Node, Style};

/// The editor of one manifest.
struct FlagEditor<'a> {
    m: &'a Manifest,
    ed: Editor<'a>,
    /// The flags of the block lists `command` and `args`, in order, and whether they are in
    /// name order: made once, for every flag added to the list (a flow list's flags are read
    /// again each time, as they leave out those whose items the edit deletes).
    block_flags: [Option<(Vec<&'a FlagItem>, bool)>; 2],
    /// The list new flags go into, once found (every flag added asks for it).
    target: Option<(ArgList, &'a Node)>,
}

/// Produces the splices that carry out `plan` on `m`.
pub(crate) fn edits(m: &Manifest, plan: &Plan) -> Result<Vec<Splice>, EditError> {
    let mut ed = FlagEditor {
        m,
        ed: Editor::new(&m.text, m.newline),
        block_flags: [None, None],
        target: None,
    };
    // New flags are inserted in name order so that several insertions at one place stay sorted.
    let mut sets: Vec<(&String, &String)> = Vec::new();
    for p in &plan.changes {
        match &p.change {
            Change::SetFlag { flag, value } => sets.push((flag, value)),
            Change::RemoveFlag { flag } => {
                if let Some(e) = m.env.iter().find(|e| &e.flag == flag) {
                    return Err(refuse(
                        Some(e.value_span.map_or(m.container().span.start, |s| s.start)),
                        format!("--{flag} is set through the environment; kubeharden changes such variables but does not remove them"),
                    ));
                }
                for occ in m.flags.iter().filter(|f| &f.name == flag) {
                    ed.delete_flag(occ)?;
                }
            }
            Change::ProbeToTcp { probe } => ed.probe_to_tcp(probe)?,
            // Not a change of this file: the plan never holds one (the report adds it).
            Change::TakeOutFlag { .. } => {}
            Change::JoinFlag { flag } => {
                for occ in m
                    .flags
                    .iter()
                    .filter(|f| &f.name == flag && f.form == Form::Split)
                {
                    ed.join_flag(occ)?;
                }
            }
            Change::AddVolume { .. } => {}
        }
    }
    sets.sort();
    for (flag, value) in sets {
        ed.set_flag(flag, value)?;
    }
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for p in &plan.changes {
        if let Change::AddVolume { volume, mount } = &p.change {
            mounts.push(mount.clone());
            volumes.push(volume.clone());
        }
    }
    if !mounts.is_empty() {
        ed.add_mounts(&mounts)?;
        ed.add_volumes(&volumes)?;
    }
    Ok(ed.ed.finish())
}

impl<'a> FlagEditor<'a> {
    fn list_node(&self, list: ArgList) -> Option<&'a Node> {
        let m: &'a Manifest = self.m;
        match list {
            ArgList::Command => m.command(),
            ArgList::Args => m.args(),
        }
    }

    fn delete_flag(&mut self, occ: &FlagItem) -> Result<(), EditError> {
        let Some(seq) = self.list_node(occ.list) else {
            return Ok(());
        };
        self.ed.delete_item(seq, occ.index)?;
        self.delete_split_value(occ)
    }

    /// Rewrites a `--flag value` pair as one `--flag=value` item; the value stays.
    fn join_flag(&mut self, occ: &FlagItem) -> Result<(), EditError> {
        let seq = self
            .list_node(occ.list)
            .ok_or_else(|| refuse(None, "argument list vanished"))?;
        let node = &seq.items()[occ.index];
        let text = format!("--{}={}", occ.name, occ.value.as_deref().unwrap_or(""));
        let rendered = self.ed.scalar(&text, Some(node), seq.is_flow());
        self.ed.push(node.span.start, node.span.end, rendered);
        self.delete_split_value(occ)
    }

    /// Deletes the separate value item of a `--flag value` pair, wherever it is.
    fn delete_split_value(&mut self, occ: &FlagItem) -> Result<(), EditError> {
        if let Some((list, index)) = occ.value_at {
            if let Some(seq) = self.list_node(list) {
                self.ed.delete_item(seq, index)?;
            }
        }
        Ok(())
    }

    fn set_flag(&mut self, flag: &str, value: &str) -> Result<(), EditError> {
        let m = self.m;
        let occs: Vec<&FlagItem> = m
            .flags
            .iter()
            .filter(|f| same_name(&f.name, flag))
            .collect();
        // Put together without `format!`, as the lines below: a flag is added to most files.
        let item_text = ["--", flag, "=", value].concat();
        if occs.is_empty() {
            if m.model.from_env(flag) {
                return self.set_env(flag, value);
            }
            return self.insert_flag(flag, &item_text);
        }
        // Keep the occurrence that already says the right thing (the one in effect, when
        // duplicates are removed), else rewrite the first; the others go.
        let keep = occs
            .iter()
            .rposition(|o| o.form == Form::Joined && o.value.as_deref() == Some(value))
            .unwrap_or(0);
        let first = occs[keep];
        let seq = self
            .list_node(first.list)
            .ok_or_else(|| refuse(None, "argument list vanished"))?;
        let node = &seq.items()[first.index];
        let unchanged = first.form == Form::Joined && first.value.as_deref() == Some(value);
        if !unchanged {
            if matches!(&node.kind, Kind::Scalar { value: v, .. } if v.contains('\n')) {
                return Err(refuse(
                    Some(node.span.start),
                    format!("--{flag} spans several lines; kubeharden will not rewrite it"),
                ));
            }
            let rendered = self.ed.scalar(&item_text, Some(node), seq.is_flow());
            self.ed.push(node.span.start, node.span.end, rendered);
            self.delete_split_value(first)?;
        }
        for (i, occ) in occs.iter().enumerate() {
            if i != keep {
                self.delete_flag(occ)?;
            }
        }
        Ok(())
    }

    /// A flag set through the environment gets its new value there: every variable that sets
    /// it is rewritten (the kubelet passes the last of repeated names).
    fn set_env(&mut self, flag: &str, value: &str) -> Result<(), EditError> {
        let m = self.m;
        let env = m
            .container()
            .get("env")
            .ok_or_else(|| refuse(None, "the env list vanished"))?;
        for item in m.env.iter().filter(|e| e.flag == flag) {
            let node = env
                .items()
                .get(item.index)
                .and_then(|i| i.get("value"))
                .ok_or_else(|| {
                    refuse(
                        env.items().get(item.index).map(|i| i.span.start),
                        format!("the variable for --{flag} has no `value` to change; give it one"),
                    )
                })?;
            if node.span.start == node.span.end {
                return Err(refuse(
                    Some(node.span.start),
                    format!("the variable for --{flag} has an empty `value`; write `value: \"\"` or a value"),
                ));
            }
            if matches!(&node.kind, Kind::Scalar { value: v, .. } if v.contains('\n')) {
                return Err(refuse(
                    Some(node.span.start),
                    format!("the variable setting --{flag} spans several lines; kubeharden will not rewrite it"),
                ));
            }
            // The Pod schema wants a string: a value YAML would read otherwise is quoted.
            let like = match &node.kind {
                Kind::Scalar {
                    style: Style::Plain,
                    ..
                } if !yaml::plain_string_ok(value, env.is_flow()) => None,
                _ => Some(node),
            };
            let rendered = match like {
                Some(n) => self.ed.scalar(value, Some(n), env.is_flow()),
                None => yaml::double_quote(value),
            };
            self.ed.push(node.span.start, node.span.end, rendered);
        }
        Ok(())
    }

    /// Where new flags go ([`FlagEditor::find_target_list`]), found once for all of them.
    fn target_list(&mut self) -> Result<(ArgList, &'a Node), EditError> {
        if let Some(found) = self.target {
            return Ok(found);
        }
        let found = self.find_target_list()?;
        self.target = Some(found);
        Ok(found)
    }

    /// Where new flags go: the list that already holds flags, `args` before `command`.
    fn find_target_list(&self) -> Result<(ArgList, &'a Node), EditError> {
        let has_flags = |l: ArgList| self.m.flags.iter().any(|f| f.list == l);
        // Without a program in `command` (an empty or missing one), the image's entrypoint
        // runs, and flags belong in `args`: anything put in `command` would replace it.
        let m: &'a Manifest = self.m;
        if m.program_items == 0 {
            return match m.args() {
                Some(n) if n.is_seq() => Ok((ArgList::Args, n)),
                _ => Err(refuse(
                    Some(self.m.container().span.start),
                    "the container runs its image's entrypoint and has no `args` list to add flags to; add `args: []`",
                )),
            };
        }
        let pick = if has_flags(ArgList::Args) {
            ArgList::Args
        } else if has_flags(ArgList::Command) {
            ArgList::Command
        } else if self.m.args().is_some_and(|a| a.is_seq()) {
            ArgList::Args
        } else {
            ArgList::Command
        };
        match self.list_node(pick) {
            Some(n) if n.is_seq() => Ok((pick, n)),
            _ => Err(refuse(
                Some(self.m.container().span.start),
                "the container has no `command` or `args` list to add flags to",
            )),
        }
    }

    /// The flags of the block list `list` in order, and whether they are in name order.
    fn block_flags(&mut self, list: ArgList) -> (&[&'a FlagItem], bool) {
        let m: &'a Manifest = self.m;
        let slot = &mut self.block_flags[usize::from(list == ArgList::Args)];
        let (flags, sorted) = slot.get_or_insert_with(|| {
            let flags: Vec<&FlagItem> = m.flags.iter().filter(|f| f.list == list).collect();
            let sorted = flags.windows(2).all(|w| w[0].name <= w[1].name);
            (flags, sorted)
        });
        (flags, *sorted)
    }

    fn insert_flag(&mut self, flag: &str, item_text: &str) -> Result<(), EditError> {
        let (list, seq) = self.target_list()?;
        // The list's flags: whether they are in name order, the first that comes after `flag`,
        // and the last.
        let (sorted, after, last) = if seq.is_flow() {
            let (mut sorted, mut after, mut last): (bool, Option<&FlagItem>, Option<&FlagItem>) =
                (true, None, None);
            // Items being deleted from a flow list are no place to insert before.
            let kept = |f: &&FlagItem| f.list == list && !self.ed.deletes(seq, f.index);
            for f in self.m.flags.iter().filter(kept) {
                sorted &= last.is_none_or(|l| l.name <= f.name);
                if after.is_none() && f.name.as_str() > flag {
                    after = Some(f);
                }
                last = Some(f);
            }
            (sorted, after, last)
        } else {
            let (flags, sorted) = self.block_flags(list);
            let after = sorted
                .then(|| flags.partition_point(|f| f.name.as_str() <= flag))
                .and_then(|i| flags.get(i).copied());
            (sorted, after, flags.last().copied())
        };
        let items = seq.items();
        let before: Option<&Node> = after.filter(|_| sorted).map(|f| &items[f.index]);
        let like = before.or(last.map(|f| &items[f.index])).or(items.last());
        if seq.is_flow() {
            let rendered = self.ed.scalar(item_text, like, true);
            match (before, items.last()) {
                // Placed with the deletions, which may take the item (and its line).
                (Some(b), _) => {
                    let index = items.iter().position(|n| n.span == b.span);
                    self.ed.insert_flow_item(seq, index, rendered)
                }
                (None, Some(_)) => self.ed.insert_flow_item(seq, None, rendered),
                (None, None) => {
                    let at = seq.span.start + 1;
                    let earlier = self.ed.inserts_at(at);
                    let text = if earlier {
                        format!(", {rendered}")
                    } else {
                        rendered
                    };
                    self.ed.push(at, at, text)
                }
            }
            return Ok(());
        }
        let rendered = self.ed.scalar(item_text, like, false);
        match before {
            Some(b) => {
                let prefix = self.ed.item_prefix(b)?;
                let at = self
                    .ed
                    .comment_block_start(line_start(self.m.text.as_str(), b.span.start));
                self.ed.push(
                    at,
                    at,
                    [prefix.as_str(), &rendered, self.ed.nl_near(b.span.start)].concat(),
                );
            }
            None => {
                let last = items.last().ok_or_else(|| {
                    refuse(
                        Some(seq.span.start),
                        "an empty block list cannot be extended",
                    )
                })?;
                let prefix = self.ed.item_prefix(last)?;
                self.ed
                    .append_lines_after(last, &[[prefix, rendered].concat()]);
            }
        }
        Ok(())
    }

    fn probe_to_tcp(&mut self, kind: &str) -> Result<(), EditError> {
        let m: &'a Manifest = self.m;
        let probe = m
            .probe(kind)
            .ok_or_else(|| refuse(None, format!("no {kind} to change")))?;
        let Some((key, value)) = probe.entry("httpGet") else {
            return Ok(());
        };
        if !value.is_map() || key.decorated || value.decorated {
            return Err(refuse(
                Some(key.span.start),
                format!("{kind}.httpGet is an alias, or carries an anchor or a tag, so turning it into a TCP probe would change every probe that shares it: write the probe out in full, then run kubeharden again"),
            ));
        }
        let renamed = self.ed.scalar("tcpSocket", Some(key), value.is_flow());
        self.ed.push(key.span.start, key.span.end, renamed);
        let entries = value.entries();
        let doomed: Vec<bool> = entries
            .iter()
            .map(|(k, _)| matches!(k.as_str(), Some("path" | "scheme" | "httpHeaders")))
            .collect();
        if value.is_flow() {
            let spans: Vec<(usize, usize)> = entries
                .iter()
                .map(|(k, v)| (k.span.start, v.span.end))
                .collect();
            for (a, b) in flow_ranges(&spans, &doomed) {
                self.ed.push(a, b, String::new());
            }
            return Ok(());
        }
        for ((k, v), gone) in entries.iter().zip(doomed) {
            if !gone {
                continue;
            }
            let ls = line_start(self.m.text.as_str(), k.span.start);
            if !self.m.text.as_str()[ls..k.span.start].trim().is_empty() {
                return Err(refuse(
                    Some(k.span.start),
                    format!(
                        "{kind}.httpGet.{} shares its line with other content",
                        k.as_str().unwrap_or("")
                    ),
                ));
            }
            let end = line_end_inclusive(self.m.text.as_str(), v.content_end());
            let mut ls = ls;
            if end == self.m.text.as_str().len() && !self.m.text.as_str().ends_with('\n') && ls > 0
            {
                ls -= if self.m.text.as_str()[..ls].ends_with("\r\n") {
                    2
                } else {
                    1
                };
            }
            self.ed.push(ls, end, String::new());
        }
        Ok(())
    }

    fn add_mounts(&mut self, mounts: &[Mount]) -> Result<(), EditError> {
        let m: &'a Manifest = self.m;
        let container = m.container();
        let rows: Vec<Vec<(&str, String)>> = mounts
            .iter()
            .map(|m| {
                vec![
                    ("mountPath", m.mount_path.clone()),
                    ("name", m.name.clone()),
                    ("readOnly", m.read_only.to_string()),
                ]
            })
            .collect();
        self.ed
            .add_items(container, "volumeMounts", &rows, &[], self.dash_offset())
    }

    fn add_volumes(&mut self, volumes: &[Volume]) -> Result<(), EditError> {
        let m: &'a Manifest = self.m;
        let spec = m.spec();
        let rows: Vec<Vec<(&str, String)>> = volumes
            .iter()
            .map(|v| vec![("name", v.name.clone())])
            .collect();
        let nested: Vec<Vec<(&str, String)>> = volumes
            .iter()
            .map(|v| {
                vec![
                    ("path", v.host_path.clone().unwrap_or_default()),
                    ("type", v.path_type.clone().unwrap_or_default()),
                ]
            })
            .collect();
        self.ed
            .add_items(spec, "volumes", &rows, &nested, self.dash_offset())
    }

    /// How far right of its key a new block list puts its dashes: as the container's
    /// `command` (or `args`) does.
    fn dash_offset(&self) -> usize {
        let text = self.m.text.as_str();
        self.m
            .container()
            .entry("command")
            .or_else(|| self.m.container().entry("args"))
            .filter(|(_, v)| !v.is_flow())
            .and_then(|(k, v)| {
                let kc = k.span.start - line_start(text, k.span.start);
                let first = v.items().first()?;
                let ic = first.span.start - line_start(text, first.span.start);
                ic.checked_sub(kc + 2)
            })
            .unwrap_or(0)
    }
}
