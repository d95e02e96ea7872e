//! Items of YAML sequences, block or flow: deleted with their comment lines and separators,
//! replaced in the style of their neighbours, added before or after others, and mappings
//! appended to a list (creating the list when missing).

use super::scalar::{block_map, flow_map, key_text, Value};
use super::splice::{refuse, EditError, Splice};
use crate::yaml::{self, line_end_inclusive, line_start, Kind, Node, Style};

pub(crate) struct Editor<'a> {
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
        || names_word(comment, &["--", name].concat())
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
pub(crate) fn flow_ranges(items: &[(usize, usize)], delete: &[bool]) -> Vec<(usize, usize)> {
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

impl<'a> Editor<'a> {
    /// An editor of `text`, whose lines end with `nl` where nothing else says.
    pub(crate) fn new(text: &'a str, nl: &'static str) -> Editor<'a> {
        Editor {
            text,
            nl,
            json: text.trim_start().starts_with('{'),
            splices: Vec::new(),
            flow_deletes: Vec::new(),
            flow_inserts: Vec::new(),
        }
    }

    /// The splices made, with the deletions and insertions of flow sequences placed together.
    pub(crate) fn finish(mut self) -> Vec<Splice> {
        self.flush_flow_deletes();
        self.splices
    }

    /// Item `index` of the flow sequence `seq` is being deleted.
    pub(crate) fn deletes(&self, seq: &Node, index: usize) -> bool {
        self.flow_deletes
            .iter()
            .any(|(s, i)| s.span == seq.span && *i == index)
    }

    /// Adds `rendered` to the flow sequence `seq`, before its item `before` (`None`: after the
    /// last), placed together with the deletions, which may take that item and its line.
    pub(crate) fn insert_flow_item(
        &mut self,
        seq: &'a Node,
        before: Option<usize>,
        rendered: String,
    ) {
        self.flow_inserts.push((seq, before, rendered));
    }

    /// An insertion is made at `at` already.
    pub(crate) fn inserts_at(&self, at: usize) -> bool {
        self.splices.iter().any(|s| s.start == at && s.end == at)
    }

    pub(crate) fn push(&mut self, start: usize, end: usize, text: String) {
        self.splices.push(Splice { start, end, text });
    }

    /// Renders a scalar in the style of `like`, falling back to double quotes.
    pub(crate) fn scalar(&self, value: &str, like: Option<&Node>, flow: bool) -> String {
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
    pub(crate) fn own_lines(&self, node: &Node) -> Result<(usize, usize), EditError> {
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

    pub(crate) fn delete_item(&mut self, seq: &'a Node, index: usize) -> Result<(), EditError> {
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

    pub(crate) fn flush_flow_deletes(&mut self) {
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

    /// Adds `rendered` as a new line after `last`, the last item of a flow list written one
    /// item a line (indented by `indent`). A comment after the last item (`--a=b,  # why`)
    /// stays on its line, with the item it was written for: the new item goes after it (with
    /// a comma after it when the list had one after its last item).
    pub(crate) fn append_flow_line(&mut self, last: &Node, indent: &str, rendered: &str) {
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
    pub(crate) fn nl_near(&self, offset: usize) -> &'static str {
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
    pub(crate) fn own_line_indent(&self, node: &Node) -> Option<&'a str> {
        let text: &'a str = self.text;
        let ls = line_start(text, node.span.start);
        let before = &text[ls..node.span.start];
        before
            .chars()
            .all(|c| c == ' ' || c == '\t')
            .then_some(before)
    }

    /// The indentation and dash in front of a block item (`    - `).
    pub(crate) fn item_prefix(&self, item: &Node) -> Result<String, EditError> {
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
    pub(crate) fn comment_block_start(&self, mut ls: usize) -> usize {
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
    pub(crate) fn append_lines_after(&mut self, node: &Node, lines: &[String]) {
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

    /// Appends mapping items to the list `key` of `parent`, creating the key when needed.
    /// `nested[i]`, when given, becomes a `hostPath` mapping inside item `i`. A new block list
    /// puts its dashes `dash_offset` columns right of its key.
    pub(crate) fn add_items(
        &mut self,
        parent: &Node,
        key: &str,
        rows: &[Vec<(&str, String)>],
        nested: &[Vec<(&str, String)>],
        dash_offset: usize,
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
                    format!("`{key}` carries a YAML anchor, alias or tag, so kubeharden does not extend it: write the list out in full without them (an anchor shares the list with its aliases, so an edit would change them all), then run kubeharden again"),
                ));
            }
        }
        match parent.entry(key) {
            Some((_, list)) if list.is_seq() && !list.items().is_empty() => {
                self.append_items(list, rows.len(), &build)
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
                let lines = self.block_items(key_col + dash_offset, rows.len(), &build);
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
                lines.extend(self.block_items(key_col + dash_offset, rows.len(), &build));
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

    /// Appends `n` mapping items (`build(i)`) to a list that has items, in its style.
    fn append_items(
        &mut self,
        list: &Node,
        n: usize,
        build: &dyn Fn(usize) -> Vec<(String, Value)>,
    ) -> Result<(), EditError> {
        let last = list
            .items()
            .last()
            .ok_or_else(|| refuse(None, "empty list"))?;
        if list.is_flow() {
            let mut text = String::new();
            for i in 0..n {
                text.push_str(", ");
                text.push_str(&flow_map(&build(i), self.json));
            }
            self.push(last.span.end, last.span.end, text);
        } else if last.is_flow() || !last.is_map() {
            let prefix = self.item_prefix(last)?;
            let lines: Vec<String> = (0..n)
                .map(|i| format!("{prefix}{}", flow_map(&build(i), self.json)))
                .collect();
            self.append_lines_after(last, &lines);
        } else {
            let prefix = self.item_prefix(last)?;
            let key_col = prefix.len();
            let nested_indent = last
                .get("hostPath")
                .filter(|h| h.is_map() && !h.is_flow())
                .and_then(|h| h.entries().first())
                .map(|(k, _)| k.span.start - line_start(self.text, k.span.start))
                .unwrap_or(key_col + 2);
            let mut lines = Vec::new();
            for i in 0..n {
                block_map(&build(i), &prefix, key_col, nested_indent, &mut lines);
            }
            self.append_lines_after(last, &lines);
        }
        Ok(())
    }

    /// Block items for a new list whose dashes are at column `dash_col`.
    fn block_items(
        &self,
        dash_col: usize,
        n: usize,
        build: &dyn Fn(usize) -> Vec<(String, Value)>,
    ) -> Vec<String> {
        let prefix = format!("{}- ", " ".repeat(dash_col));
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
