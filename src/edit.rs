//! Turns a plan into byte splices of the original text. Nothing is re-serialised: the output
//! is the untouched text with the planned lines replaced, inserted or removed, in the style
//! (indentation, quoting, flow or block) of their neighbours.

use crate::manifest::{ArgList, FlagItem, Form, Manifest};
use crate::model::{Mount, Volume};
use crate::plan::{Change, Plan};
use crate::yaml::{self, line_end_inclusive, line_start, Kind, Node, Style};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct EditError {
    pub offset: Option<usize>,
    pub message: String,
}

fn refuse(offset: Option<usize>, message: impl Into<String>) -> EditError {
    EditError {
        offset,
        message: message.into(),
    }
}

/// Applies splices to `text`; they must not overlap.
pub fn apply(text: &str, mut splices: Vec<Splice>) -> Result<String, EditError> {
    // Stable: splices at one offset keep the order they were made in.
    splices.sort_by_key(|s| (s.start, s.end));
    // Deletions that overlap (a removed line next to a removed line at the end of a file
    // without a final newline) are one deletion.
    let mut merged: Vec<Splice> = Vec::with_capacity(splices.len());
    for s in splices {
        match merged.last_mut() {
            Some(prev) if prev.text.is_empty() && s.text.is_empty() && s.start < prev.end => {
                prev.end = prev.end.max(s.end);
            }
            _ => merged.push(s),
        }
    }
    // Deleting the last lines of a file without a final newline: take the line break before
    // them too, so the file still ends without one.
    if let Some(last) = merged.last_mut() {
        if last.text.is_empty()
            && last.end == text.len()
            && !text.ends_with('\n')
            && last.start > 0
            && text[..last.start].ends_with('\n')
        {
            last.start -= if text[..last.start].ends_with("\r\n") {
                2
            } else {
                1
            };
        }
    }
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0;
    for s in &merged {
        if s.start < pos || s.end < s.start || s.end > text.len() {
            return Err(refuse(
                Some(s.start),
                "cannot edit safely: two planned edits overlap; nothing was written",
            ));
        }
        out.push_str(&text[pos..s.start]);
        out.push_str(&s.text);
        pos = s.end;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

struct Editor<'a> {
    m: &'a Manifest,
    text: &'a str,
    nl: &'a str,
    /// The document is JSON: everything inserted is written as JSON too.
    json: bool,
    splices: Vec<Splice>,
    /// Items to delete from flow sequences, applied together so that neighbouring deletions
    /// share their commas correctly.
    flow_deletes: Vec<(&'a Node, usize)>,
    /// Items to add to flow sequences: before the item of that index (`None`: after the last),
    /// placed with the deletions, which may take that item (and its line).
    flow_inserts: Vec<(&'a Node, Option<usize>, String)>,
}

/// Whether a comment line is about the flag `name`: it spells `--name`, or starts with the
/// name, or names a multi-word flag (`token-auth-file`) as a word. A short name used as
/// ordinary prose (`port`, `profiling` mid-sentence) does not count.
fn names_flag(comment: &str, name: &str) -> bool {
    let body = comment.trim_start_matches('#').trim_start();
    let starts = body.starts_with(name)
        && !body[name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    starts
        || names_word(comment, &format!("--{name}"))
        || (name.contains('-') && names_word(comment, name))
}

/// Whether `word` appears in `text` with no letter, digit or `-` joined to either side.
fn names_word(text: &str, word: &str) -> bool {
    let joined =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        // `--word` counts: the dashes are the flag's own.
        let before = if text[..i].ends_with("--") {
            text[..i - 2].chars().next_back()
        } else {
            before
        };
        !joined(before) && !joined(after)
    })
}

/// Byte ranges that delete the marked items of a flow collection with their separators.
fn flow_ranges(items: &[(usize, usize)], delete: &[bool]) -> Vec<(usize, usize)> {
    let n = items.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !delete[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < n && delete[i] {
            i += 1;
        }
        if i < n {
            out.push((items[first].0, items[i].0));
        } else if first > 0 {
            out.push((items[first - 1].1, items[n - 1].1));
        } else {
            out.push((items[0].0, items[n - 1].1));
        }
    }
    out
}

/// How the items of a flow sequence after item `k` are deleted when each starts its own line
/// and nothing but a comma and a comment follows the last on its line: their whole lines go (so
/// a comment after the last item goes with it, and item `k` keeps its own).
struct TrailingLines {
    /// The lines of the deleted items.
    lines: (usize, usize),
    /// The comma after item `k`, which goes when nothing is added and the last item had none.
    kept_comma: usize,
    /// The last item had a comma after it.
    comma: bool,
    /// The indentation of the first deleted item.
    indent: String,
}

fn trailing_lines(text: &str, items: &[(usize, usize)], k: usize) -> Option<TrailingLines> {
    let first = items.get(k + 1)?.0;
    let (_, last_end) = *items.last()?;
    let kept_end = items[k].1;
    let ls = line_start(text, first);
    if ls <= kept_end || !text[ls..first].chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let eol = line_end_inclusive(text, last_end);
    if !text[..eol].ends_with('\n') {
        return None;
    }
    let rest = text[last_end..eol]
        .trim_end_matches(['\n', '\r'])
        .trim_start_matches([' ', '\t']);
    let (comma, after) = match rest.strip_prefix(',') {
        Some(a) => (true, a.trim_start_matches([' ', '\t'])),
        None => (false, rest),
    };
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let kept_comma =
        kept_end + text[kept_end..].len() - text[kept_end..].trim_start_matches([' ', '\t']).len();
    if !text[kept_comma..].starts_with(',') {
        return None;
    }
    Some(TrailingLines {
        lines: (ls, eol),
        kept_comma,
        comma,
        indent: text[ls..first].to_string(),
    })
}

/// Produces the splices that carry out `plan` on `m`.
pub fn edits(m: &Manifest, plan: &Plan) -> Result<Vec<Splice>, EditError> {
    let mut ed = Editor {
        m,
        text: &m.text,
        nl: m.newline,
        json: m.text.trim_start().starts_with('{'),
        splices: Vec::new(),
        flow_deletes: Vec::new(),
        flow_inserts: Vec::new(),
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
    ed.flush_flow_deletes();
    Ok(ed.splices)
}

impl<'a> Editor<'a> {
    fn push(&mut self, start: usize, end: usize, text: String) {
        self.splices.push(Splice { start, end, text });
    }

    fn list_node(&self, list: ArgList) -> Option<&'a Node> {
        let m: &'a Manifest = self.m;
        match list {
            ArgList::Command => m.command(),
            ArgList::Args => m.args(),
        }
    }

    /// Renders a scalar in the style of `like`, falling back to double quotes.
    fn scalar(&self, value: &str, like: Option<&Node>, flow: bool) -> String {
        if self.json {
            return yaml::double_quote(value);
        }
        let style = match like.map(|n| &n.kind) {
            Some(Kind::Scalar { style, .. }) => *style,
            _ => Style::Plain,
        };
        yaml::render_scalar(value, style, flow)
            .or_else(|| yaml::render_scalar(value, Style::Plain, flow))
            .unwrap_or_else(|| yaml::double_quote(value))
    }

    /// Checks that a block item sits alone on its line(s) and returns (line start, line end).
    fn own_lines(&self, node: &Node) -> Result<(usize, usize), EditError> {
        let ls = line_start(self.text, node.span.start);
        let before = &self.text[ls..node.span.start];
        let after_end = line_end_inclusive(self.text, node.content_end());
        let after = self.text[node.content_end()..after_end].trim_end_matches(['\n', '\r']);
        let dash_only = before.trim_start().trim_end() == "-" || before.trim().is_empty();
        let tail_ok = after.trim().is_empty() || after.trim_start().starts_with('#');
        if !dash_only || !tail_ok {
            return Err(refuse(
                Some(node.span.start),
                "an item shares its line with other YAML content; kubeharden only edits items that stand on their own line",
            ));
        }
        Ok((ls, after_end))
    }

    fn delete_item(&mut self, seq: &'a Node, index: usize) -> Result<(), EditError> {
        if seq.is_flow() {
            self.flow_deletes.push((seq, index));
            return Ok(());
        }
        let item = &seq.items()[index];
        let (s, e) = self.own_lines(item)?;
        // Comment lines directly above the item go with it while they name the flag it sets
        // (as a word); a comment that does not, such as a section header, stays with the rest.
        let mut s = s;
        let name = item
            .as_str()
            .map(|t| {
                t.trim_start_matches('-')
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        if !name.is_empty() {
            while s > 0 {
                let prev = line_start(self.text, s - 1);
                let line = self.text[prev..s].trim();
                if line.starts_with('#') && names_flag(line, &name) {
                    s = prev;
                } else {
                    break;
                }
            }
        }
        // Removing the last line of a file without a final newline: take the newline before it,
        // so the file still ends without one.
        if e == self.text.len() && !self.text.ends_with('\n') && s > 0 {
            s -= if self.text[..s].ends_with("\r\n") {
                2
            } else {
                1
            };
        }
        self.push(s, e, String::new());
        Ok(())
    }

    fn flush_flow_deletes(&mut self) {
        let mut seqs: Vec<&'a Node> = Vec::new();
        let touched = self.flow_deletes.iter().map(|(s, _)| *s);
        for seq in touched.chain(self.flow_inserts.iter().map(|(s, _, _)| *s)) {
            if !seqs.iter().any(|s| s.span == seq.span) {
                seqs.push(seq);
            }
        }
        for seq in seqs {
            let items: Vec<(usize, usize)> = seq
                .items()
                .iter()
                .map(|n| (n.span.start, n.span.end))
                .collect();
            let mut delete = vec![false; items.len()];
            for (s, i) in &self.flow_deletes {
                if s.span == seq.span {
                    delete[*i] = true;
                }
            }
            // An item to go before a deleted one goes before the next one kept, or last.
            let mut appends: Vec<String> = Vec::new();
            let adds: Vec<(Option<usize>, String)> = self
                .flow_inserts
                .iter()
                .filter(|(s, _, _)| s.span == seq.span)
                .map(|(_, b, r)| (*b, r.clone()))
                .collect();
            for (before, rendered) in adds {
                match before.and_then(|b| (b..items.len()).find(|j| !delete[*j])) {
                    Some(j) => {
                        let b = &seq.items()[j];
                        let text = match self.own_line_indent(b) {
                            Some(indent) => {
                                format!("{rendered},{}{indent}", self.nl_near(b.span.start))
                            }
                            None => format!("{rendered}, "),
                        };
                        self.push(b.span.start, b.span.start, text);
                    }
                    None => appends.push(rendered),
                }
            }
            // The last items, one a line: their whole lines go, comments included, and the
            // kept items keep theirs; items added after them take their place.
            let kept_last = delete.iter().rposition(|d| !d);
            let trailing = kept_last
                .filter(|k| k + 1 < items.len())
                .and_then(|k| trailing_lines(self.text, &items, k).map(|t| (k, t)));
            match trailing {
                Some((k, t)) => {
                    delete[k + 1..].iter_mut().for_each(|d| *d = false);
                    let (ls, eol) = t.lines;
                    self.push(ls, eol, String::new());
                    if appends.is_empty() {
                        if !t.comma {
                            self.push(t.kept_comma, t.kept_comma + 1, String::new());
                        }
                    } else {
                        let nl = if self.text[..eol].ends_with("\r\n") {
                            "\r\n"
                        } else {
                            "\n"
                        };
                        let n = appends.len();
                        let lines: String = appends
                            .iter()
                            .enumerate()
                            .map(|(i, r)| {
                                let sep = if i + 1 < n || t.comma { "," } else { "" };
                                format!("{}{r}{sep}{nl}", t.indent)
                            })
                            .collect();
                        self.push(eol, eol, lines);
                    }
                }
                None => {
                    if let (Some(last), false) = (seq.items().last(), appends.is_empty()) {
                        let own = self.own_line_indent(last);
                        // Every item deleted: the first new one takes their place.
                        let all = delete.iter().all(|d| *d);
                        let nl = self.nl_near(last.span.end);
                        for (i, r) in appends.iter().enumerate() {
                            match own {
                                Some(indent) if delete.last() != Some(&true) => {
                                    self.append_flow_line(last, indent, r)
                                }
                                _ => {
                                    // Right after the last item (deleted with it, if it is).
                                    let lead = match own {
                                        _ if all && i == 0 => String::new(),
                                        Some(indent) => format!(",{nl}{indent}"),
                                        None => ", ".to_string(),
                                    };
                                    self.push(last.span.end, last.span.end, format!("{lead}{r}"));
                                }
                            }
                        }
                    }
                }
            }
            for (a, b) in flow_ranges(&items, &delete) {
                self.push(a, b, String::new());
            }
        }
    }

    fn delete_flag(&mut self, occ: &FlagItem) -> Result<(), EditError> {
        let Some(seq) = self.list_node(occ.list) else {
            return Ok(());
        };
        self.delete_item(seq, occ.index)?;
        self.delete_split_value(occ)
    }

    /// Rewrites a `--flag value` pair as one `--flag=value` item; the value stays.
    fn join_flag(&mut self, occ: &FlagItem) -> Result<(), EditError> {
        let seq = self
            .list_node(occ.list)
            .ok_or_else(|| refuse(None, "argument list vanished"))?;
        let node = &seq.items()[occ.index];
        let text = format!("--{}={}", occ.name, occ.value.as_deref().unwrap_or(""));
        let rendered = self.scalar(&text, Some(node), seq.is_flow());
        self.push(node.span.start, node.span.end, rendered);
        self.delete_split_value(occ)
    }

    /// Deletes the separate value item of a `--flag value` pair, wherever it is.
    fn delete_split_value(&mut self, occ: &FlagItem) -> Result<(), EditError> {
        if let Some((list, index)) = occ.value_at {
            if let Some(seq) = self.list_node(list) {
                self.delete_item(seq, index)?;
            }
        }
        Ok(())
    }

    fn set_flag(&mut self, flag: &str, value: &str) -> Result<(), EditError> {
        let m = self.m;
        let occs: Vec<&FlagItem> = m.flags.iter().filter(|f| f.name == flag).collect();
        let item_text = format!("--{flag}={value}");
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
            let rendered = self.scalar(&item_text, Some(node), seq.is_flow());
            self.push(node.span.start, node.span.end, rendered);
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
                Some(n) => self.scalar(value, Some(n), env.is_flow()),
                None => yaml::double_quote(value),
            };
            self.push(node.span.start, node.span.end, rendered);
        }
        Ok(())
    }

    /// Where new flags go: the list that already holds flags, `args` before `command`.
    fn target_list(&self) -> Result<(ArgList, &'a Node), EditError> {
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

    fn insert_flag(&mut self, flag: &str, item_text: &str) -> Result<(), EditError> {
        let (list, seq) = self.target_list()?;
        let skip = if list == ArgList::Command {
            self.m.program_items
        } else {
            0
        };
        // Items being deleted from a flow list are no place to insert before.
        let doomed = |f: &FlagItem| {
            seq.is_flow()
                && self
                    .flow_deletes
                    .iter()
                    .any(|(s, i)| s.span == seq.span && *i == f.index)
        };
        let flag_items: Vec<(&FlagItem, &Node)> = self
            .m
            .flags
            .iter()
            .filter(|f| f.list == list && !doomed(f))
            .map(|f| (f, &seq.items()[f.index]))
            .collect();
        let sorted = flag_items.windows(2).all(|w| w[0].0.name <= w[1].0.name);
        let before: Option<&Node> = if sorted {
            flag_items
                .iter()
                .find(|(f, _)| f.name.as_str() > flag)
                .map(|(_, n)| *n)
        } else {
            None
        };
        let items = seq.items();
        let like = before
            .or(flag_items.last().map(|(_, n)| *n))
            .or(items.last());
        if seq.is_flow() {
            let rendered = self.scalar(item_text, like, true);
            match (before, items.last()) {
                // Placed with the deletions, which may take the item (and its line).
                (Some(b), _) => {
                    let index = items.iter().position(|n| n.span == b.span);
                    self.flow_inserts.push((seq, index, rendered))
                }
                (None, Some(_)) => self.flow_inserts.push((seq, None, rendered)),
                (None, None) => {
                    let at = seq.span.start + 1;
                    let earlier = self.splices.iter().any(|s| s.start == at && s.end == at);
                    let text = if earlier {
                        format!(", {rendered}")
                    } else {
                        rendered
                    };
                    self.push(at, at, text)
                }
            }
            return Ok(());
        }
        let _ = skip;
        let rendered = self.scalar(item_text, like, false);
        match before {
            Some(b) => {
                let prefix = self.item_prefix(b)?;
                let at = self.comment_block_start(line_start(self.text, b.span.start));
                self.push(
                    at,
                    at,
                    format!("{prefix}{rendered}{}", self.nl_near(b.span.start)),
                );
            }
            None => {
                let last = items.last().ok_or_else(|| {
                    refuse(
                        Some(seq.span.start),
                        "an empty block list cannot be extended",
                    )
                })?;
                let prefix = self.item_prefix(last)?;
                self.append_lines_after(last, &[format!("{prefix}{rendered}")]);
            }
        }
        Ok(())
    }

    /// Adds `rendered` as a new line after `last`, the last item of a flow list written one
    /// item a line (indented by `indent`). A comment after the last item (`--a=b,  # why`)
    /// stays on its line, with the item it was written for: the new item goes after it (with
    /// a comma after it when the list had one after its last item).
    fn append_flow_line(&mut self, last: &Node, indent: &str, rendered: &str) {
        let nl = self.nl_near(last.span.end);
        let eol = line_end_inclusive(self.text, last.span.end);
        let rest = self.text[last.span.end..eol].trim_end_matches(['\n', '\r']);
        let after = rest.trim_start_matches([' ', '\t']);
        let (comma, after) = match after.strip_prefix(',') {
            Some(a) => (true, a.trim_start_matches([' ', '\t'])),
            None => (false, after),
        };
        if !after.starts_with('#') {
            self.push(
                last.span.end,
                last.span.end,
                format!(",{nl}{indent}{rendered}"),
            );
            return;
        }
        let at = last.span.end + rest.len();
        if comma {
            self.push(at, at, format!("{nl}{indent}{rendered},"));
            return;
        }
        // `--a=b  # why` then `]`: the comma goes after the item, once.
        let first = !self.splices.iter().any(|s| s.start == at && s.end == at);
        if first {
            self.push(last.span.end, last.span.end, ",".to_string());
            self.push(at, at, format!("{nl}{indent}{rendered}"));
        } else {
            self.push(at, at, format!(",{nl}{indent}{rendered}"));
        }
    }

    /// The line ending of the line holding `offset` (the previous line's for a last line
    /// without one), so that inserted lines match their neighbours even in a mixed file.
    fn nl_near(&self, offset: usize) -> &'static str {
        let text = self.text;
        let mut end = line_end_inclusive(text, offset.min(text.len()));
        if !text[..end].ends_with('\n') {
            let ls = line_start(text, offset.min(text.len()));
            if ls == 0 {
                return if self.nl == "\r\n" { "\r\n" } else { "\n" };
            }
            end = ls;
        }
        if text[..end].ends_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// The indentation in front of a node that starts its own line, if it does.
    fn own_line_indent(&self, node: &Node) -> Option<&'a str> {
        let text: &'a str = self.text;
        let ls = line_start(text, node.span.start);
        let before = &text[ls..node.span.start];
        before
            .chars()
            .all(|c| c == ' ' || c == '\t')
            .then_some(before)
    }

    /// The indentation and dash in front of a block item (`    - `).
    fn item_prefix(&self, item: &Node) -> Result<String, EditError> {
        let ls = line_start(self.text, item.span.start);
        let before = &self.text[ls..item.span.start];
        let t = before.trim();
        if t == "-" && before.chars().all(|c| c == ' ' || c == '-') {
            Ok(before.to_string())
        } else {
            Err(refuse(
                Some(item.span.start),
                "cannot tell the indentation of this list item; kubeharden only edits lists with one item per line",
            ))
        }
    }

    /// The first of the comment lines directly above `ls` (comments above an item belong to it).
    fn comment_block_start(&self, mut ls: usize) -> usize {
        while ls > 0 {
            let prev = line_start(self.text, ls - 1);
            let line = self.text[prev..ls].trim();
            if line.starts_with('#') {
                ls = prev;
            } else {
                break;
            }
        }
        ls
    }

    /// Inserts whole lines after the line where `node` ends.
    fn append_lines_after(&mut self, node: &Node, lines: &[String]) {
        // A block scalar's content ends with its line break, so its end marker sits at the
        // start (or in the indentation) of the next line: insert at that line's start.
        let ce = node.content_end();
        let ls = line_start(self.text, ce);
        let end = if ce > 0 && self.text[ls..ce].trim().is_empty() {
            ls
        } else {
            line_end_inclusive(self.text, ce)
        };
        let nl = self.nl_near(node.content_end());
        let ends_with_nl = self.text[..end].ends_with('\n');
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            if !ends_with_nl && i == 0 {
                text.push_str(nl);
            }
            text.push_str(l);
            if ends_with_nl || i + 1 < lines.len() {
                text.push_str(nl);
            }
        }
        self.push(end, end, text);
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
                format!("{kind}.httpGet is not a plain mapping"),
            ));
        }
        let renamed = self.scalar("tcpSocket", Some(key), value.is_flow());
        self.push(key.span.start, key.span.end, renamed);
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
                self.push(a, b, String::new());
            }
            return Ok(());
        }
        for ((k, v), gone) in entries.iter().zip(doomed) {
            if !gone {
                continue;
            }
            let ls = line_start(self.text, k.span.start);
            if !self.text[ls..k.span.start].trim().is_empty() {
                return Err(refuse(
                    Some(k.span.start),
                    format!(
                        "{kind}.httpGet.{} shares its line with other content",
                        k.as_str().unwrap_or("")
                    ),
                ));
            }
            let end = line_end_inclusive(self.text, v.content_end());
            let mut ls = ls;
            if end == self.text.len() && !self.text.ends_with('\n') && ls > 0 {
                ls -= if self.text[..ls].ends_with("\r\n") {
                    2
                } else {
                    1
                };
            }
            self.push(ls, end, String::new());
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
        self.add_items(container, "volumeMounts", &rows, &[])
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
        self.add_items(spec, "volumes", &rows, &nested)
    }

    /// Appends mapping items to the list `key` of `parent`, creating the key when needed.
    /// `nested[i]`, when given, becomes a `hostPath` mapping inside item `i`.
    fn add_items(
        &mut self,
        parent: &Node,
        key: &str,
        rows: &[Vec<(&str, String)>],
        nested: &[Vec<(&str, String)>],
    ) -> Result<(), EditError> {
        // Items as ordered key lists: kubeadm's order is alphabetical (hostPath, mountPath, name, readOnly).
        let build = |i: usize| -> Vec<(String, Value)> {
            let mut kv: Vec<(String, Value)> = rows[i]
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::Scalar(v.clone())))
                .collect();
            if let Some(n) = nested.get(i) {
                kv.push((
                    "hostPath".to_string(),
                    Value::Map(
                        n.iter()
                            .map(|(k, v)| ((*k).to_string(), v.clone()))
                            .collect(),
                    ),
                ));
            }
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            kv
        };
        if let Some((k, list)) = parent.entry(key) {
            if list.decorated
                || k.decorated
                || list.items().iter().any(|i| matches!(i.kind, Kind::Alias))
            {
                return Err(refuse(
                    Some(k.span.start),
                    format!("`{key}` carries a YAML anchor, alias or tag; kubeharden does not extend such lists"),
                ));
            }
        }
        match parent.entry(key) {
            Some((_, list)) if list.is_seq() && !list.items().is_empty() => {
                let last = list
                    .items()
                    .last()
                    .cloned()
                    .ok_or_else(|| refuse(None, "empty list"))?;
                if list.is_flow() {
                    let mut text = String::new();
                    for i in 0..rows.len() {
                        text.push_str(", ");
                        text.push_str(&flow_map(&build(i), self.json));
                    }
                    self.push(last.span.end, last.span.end, text);
                } else if last.is_flow() || !last.is_map() {
                    let prefix = self.item_prefix(&last)?;
                    let lines: Vec<String> = (0..rows.len())
                        .map(|i| format!("{prefix}{}", flow_map(&build(i), self.json)))
                        .collect();
                    self.append_lines_after(&last, &lines);
                } else {
                    let prefix = self.item_prefix(&last)?;
                    let key_col = prefix.len();
                    let nested_indent = last
                        .get("hostPath")
                        .filter(|h| h.is_map() && !h.is_flow())
                        .and_then(|h| h.entries().first())
                        .map(|(k, _)| k.span.start - line_start(self.text, k.span.start))
                        .unwrap_or(key_col + 2);
                    let mut lines = Vec::new();
                    for i in 0..rows.len() {
                        block_map(&build(i), &prefix, key_col, nested_indent, &mut lines);
                    }
                    self.append_lines_after(&last, &lines);
                }
                Ok(())
            }
            Some((_, list)) if list.is_seq() && list.is_flow() => {
                let items: Vec<String> = (0..rows.len())
                    .map(|i| flow_map(&build(i), self.json))
                    .collect();
                let at = list.span.start + 1;
                self.push(at, at, items.join(", "));
                Ok(())
            }
            Some((k, list)) if list.is_null() && !parent.is_flow() => {
                // `key:` with no value: put the items below it.
                let key_col = k.span.start - line_start(self.text, k.span.start);
                let lines = self.block_items(key_col, rows.len(), &build);
                let end = line_end_inclusive(self.text, k.span.end.max(list.span.end));
                self.insert_lines_at(end, &lines);
                Ok(())
            }
            Some((k, _)) => Err(refuse(
                Some(k.span.start),
                format!("`{key}` is not a list kubeharden can extend"),
            )),
            None if parent.is_flow() => {
                // `{..., key: [item, ...]}`, after the mapping's last entry.
                let last_value = parent
                    .entries()
                    .last()
                    .map(|(_, v)| v.span.end)
                    .ok_or_else(|| refuse(Some(parent.span.start), "empty mapping"))?;
                let items: Vec<String> = (0..rows.len())
                    .map(|i| flow_map(&build(i), self.json))
                    .collect();
                let text = format!(", {}: [{}]", key_text(key, self.json), items.join(", "));
                self.push(last_value, last_value, text);
                Ok(())
            }
            None => {
                let first_key = parent
                    .entries()
                    .first()
                    .map(|(k, _)| k)
                    .ok_or_else(|| refuse(Some(parent.span.start), "empty mapping"))?;
                let key_col = first_key.span.start - line_start(self.text, first_key.span.start);
                let mut lines = vec![format!("{}{key}:", " ".repeat(key_col))];
                lines.extend(self.block_items(key_col, rows.len(), &build));
                let last_value = parent
                    .entries()
                    .last()
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| refuse(None, "empty mapping"))?;
                self.append_lines_after(&last_value, &lines);
                Ok(())
            }
        }
    }

    /// Block items for a new list under a key at `key_col`, indented like the pod's `command`.
    fn block_items(
        &self,
        key_col: usize,
        n: usize,
        build: &dyn Fn(usize) -> Vec<(String, Value)>,
    ) -> Vec<String> {
        let dash_offset = self
            .m
            .container()
            .entry("command")
            .or_else(|| self.m.container().entry("args"))
            .filter(|(_, v)| !v.is_flow())
            .and_then(|(k, v)| {
                let kc = k.span.start - line_start(self.text, k.span.start);
                let first = v.items().first()?;
                let ic = first.span.start - line_start(self.text, first.span.start);
                ic.checked_sub(kc + 2)
            })
            .unwrap_or(0);
        let prefix = format!("{}- ", " ".repeat(key_col + dash_offset));
        let mut lines = Vec::new();
        for i in 0..n {
            block_map(
                &build(i),
                &prefix,
                prefix.len(),
                prefix.len() + 2,
                &mut lines,
            );
        }
        lines
    }

    fn insert_lines_at(&mut self, at: usize, lines: &[String]) {
        let needs_nl = at > 0 && !self.text[..at].ends_with('\n');
        let nl = self.nl_near(at.saturating_sub(1));
        let mut text = String::new();
        if needs_nl {
            text.push_str(nl);
        }
        for (i, l) in lines.iter().enumerate() {
            text.push_str(l);
            if !needs_nl || i + 1 < lines.len() {
                text.push_str(nl);
            }
        }
        self.push(at, at, text);
    }
}

enum Value {
    Scalar(String),
    Map(Vec<(String, String)>),
}

fn scalar_text(v: &str, flow: bool, json: bool) -> String {
    if v == "true" || v == "false" {
        return v.to_string();
    }
    if json {
        return yaml::double_quote(v);
    }
    yaml::render_scalar(v, Style::Plain, flow).unwrap_or_else(|| yaml::double_quote(v))
}

fn key_text(k: &str, json: bool) -> String {
    if json {
        yaml::double_quote(k)
    } else {
        k.to_string()
    }
}

fn flow_map(kv: &[(String, Value)], json: bool) -> String {
    let parts: Vec<String> = kv
        .iter()
        .map(|(k, v)| match v {
            Value::Scalar(s) => format!("{}: {}", key_text(k, json), scalar_text(s, true, json)),
            Value::Map(m) => format!(
                "{}: {{{}}}",
                key_text(k, json),
                m.iter()
                    .map(|(a, b)| format!("{}: {}", key_text(a, json), scalar_text(b, true, json)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn block_map(
    kv: &[(String, Value)],
    prefix: &str,
    key_col: usize,
    nested_col: usize,
    out: &mut Vec<String>,
) {
    for (i, (k, v)) in kv.iter().enumerate() {
        let lead = if i == 0 {
            prefix.to_string()
        } else {
            " ".repeat(key_col)
        };
        match v {
            Value::Scalar(s) => out.push(format!("{lead}{k}: {}", scalar_text(s, false, false))),
            Value::Map(m) => {
                out.push(format!("{lead}{k}:"));
                for (a, b) in m {
                    out.push(format!(
                        "{}{a}: {}",
                        " ".repeat(nested_col),
                        scalar_text(b, false, false)
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_splices_are_refused() {
        let r = apply(
            "abcdef",
            vec![
                Splice {
                    start: 1,
                    end: 3,
                    text: "X".into(),
                },
                Splice {
                    start: 2,
                    end: 4,
                    text: "Y".into(),
                },
            ],
        );
        assert!(r.is_err());
        let ok = apply(
            "abcdef",
            vec![
                Splice {
                    start: 3,
                    end: 3,
                    text: "+".into(),
                },
                Splice {
                    start: 0,
                    end: 1,
                    text: "A".into(),
                },
            ],
        )
        .expect("disjoint");
        assert_eq!(ok, "Abc+def");
    }
}
