//! A reader for the plain block YAML that manifests and configuration files are written in:
//! mappings and sequences in block style, one scalar to a line (plain, or quoted without
//! escapes), `{}` and `[]`, comments, `---` between documents. It builds the same tree, with
//! the same spans, as the full parser ([`super::parse::parse_full`]) would, in a fraction of the
//! time (the full parser reads a plain scalar a character at a time), and gives up on the first
//! thing outside that subset: then the full parser reads the text from its start. So does any
//! error, so that the full parser words every error kubeharden reports.
//!
//! Giving up is always safe; taking something that YAML reads otherwise is not. Anything that
//! could mean something else is therefore left to the full parser: tabs, a carriage return
//! that is not part of a `\r\n` line break (lines broken as Windows breaks them are read
//! here), bytes outside printable ASCII, anchors, aliases, tags, directives, block scalars,
//! flow collections with content, escapes, a scalar over more than one line, a mapping key
//! that is not a plain name (letters, digits, `.`, `_`, `/`, `-`), an empty document. A test
//! reads every YAML file of the repository, with its lines broken both ways, and thousands of
//! generated variants both ways and requires the same trees.
//!
//! The positions follow the full parser's events, which the tree keeps: a block mapping
//! starts at its first key, a block sequence at its first `-` (or, when it sits at its key's
//! column, at its first item), and a block collection ends where the next token starts, past
//! blank lines and comments (the end of the text at the end).

use super::builder::Builder;
use super::tree::{Document, Kind, Node, Span, Style, YamlError};

/// The text is outside the subset read here (or has an error): the full parser reads it.
struct Outside;

type Read<T> = Result<T, Outside>;

impl From<YamlError> for Outside {
    fn from(_: YamlError) -> Self {
        Outside
    }
}

/// A line with content (not blank, not a comment).
#[derive(Clone, Copy)]
struct Line {
    /// Where the line starts.
    start: usize,
    /// Where its first byte other than a space is.
    content: usize,
    /// Where it ends, before its line break (`\n`, or `\r\n`).
    end: usize,
    /// Where the line after it starts.
    next: usize,
    /// A `---` line between documents.
    marker: bool,
}

impl Line {
    fn indent(&self) -> usize {
        self.content - self.start
    }
}

struct Reader<'t> {
    bytes: &'t [u8],
    text: &'t str,
    /// The line being read; `None` at the end of the text.
    line: Option<Line>,
    tree: Builder<'t>,
}

/// Reads `text` if it is plain block YAML (see the module's documentation); `None` otherwise.
pub(super) fn parse(text: &str) -> Option<Vec<Document>> {
    if !printable(text.as_bytes()) {
        return None;
    }
    let mut r = Reader {
        bytes: text.as_bytes(),
        text,
        line: None,
        tree: Builder::new(text),
    };
    r.stream().ok()?;
    Some(r.tree.docs)
}

/// Whether `b` holds only printable ASCII and line breaks (`\n`, and `\r\n` as Windows
/// writes them; a carriage return alone is left to the full parser): checked a block of bytes
/// at a time, without stopping at the first other byte, which the compiler turns into vector
/// operations; a text with carriage returns is looked at again, byte by byte.
fn printable(b: &[u8]) -> bool {
    let plain = |c: u8| (b' '..=b'~').contains(&c) | (c == b'\n');
    b.chunks(64)
        .all(|block| block.iter().fold(true, |ok, &c| ok & plain(c)))
        || b.iter()
            .enumerate()
            .all(|(i, &c)| plain(c) || c == b'\r' && b.get(i + 1) == Some(&b'\n'))
}

/// A byte a mapping key read here may hold: a Kubernetes field name, label or annotation key.
fn key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-')
}

/// The longest implicit key YAML allows.
const MAX_KEY: usize = 1024;

impl Reader<'_> {
    /// Moves to the first line with content from `from` (the start of a line) on.
    fn advance(&mut self, mut from: usize) -> Read<()> {
        let b = self.bytes;
        while from < b.len() {
            let brk = memchr::memchr(b'\n', &b[from..]).map_or(b.len(), |i| from + i);
            // A `\r` is only ever before a `\n` here (`printable`): it is part of the break.
            let end = if brk > from && b[brk - 1] == b'\r' {
                brk - 1
            } else {
                brk
            };
            let content = b[from..end]
                .iter()
                .position(|&c| c != b' ')
                .map_or(end, |i| from + i);
            if content < end && b[content] != b'#' {
                let line = &b[from..end];
                let marker = line.starts_with(b"---") || line.starts_with(b"...");
                if marker && (line[..3] != *b"---" || line[3..].iter().any(|&c| c != b' ')) {
                    return Err(Outside);
                }
                self.line = Some(Line {
                    start: from,
                    content,
                    end,
                    next: brk + 1,
                    marker,
                });
                return Ok(());
            }
            from = brk + 1;
        }
        self.line = None;
        Ok(())
    }

    /// Where the line after the current one starts.
    fn next_line(&self, line: Line) -> usize {
        line.next
    }

    fn stream(&mut self) -> Read<()> {
        self.advance(0)?;
        loop {
            if let Some(l) = self.line.filter(|l| l.marker) {
                self.advance(self.next_line(l))?;
            }
            // An empty document (or an empty text) is left to the full parser.
            let Some(l) = self.line.filter(|l| !l.marker) else {
                return Err(Outside);
            };
            self.tree.start_document();
            self.block(l)?;
            match self.line {
                None => {
                    let end = self.bytes.len();
                    self.tree.end_document(end, end);
                    return Ok(());
                }
                Some(l) if l.marker => self.tree.end_document(l.content, l.content + 3),
                Some(_) => return Err(Outside),
            }
        }
    }

    /// The block collection that starts on the line `l`, at its content.
    fn block(&mut self, l: Line) -> Read<()> {
        if entry(self.bytes, l.content, l.end) {
            self.seq(l.indent(), l.content, false)
        } else if key_end(self.bytes, l.content, l.end).is_some() {
            self.map(l.indent(), l.content)
        } else {
            Err(Outside)
        }
    }

    /// Where the collections that end before the current line end: at its first token, or at
    /// the end of the text.
    fn end_mark(&self) -> usize {
        self.line.map_or(self.bytes.len(), |l| l.content)
    }

    /// Whether the current line ends the collection at column `col` (`item`: a sequence, whose
    /// lines start with `- `, else a mapping; `indentless`: a sequence at its key's column,
    /// which the key's mapping goes on after): `Ok(false)` when the collection goes on with this
    /// line, `Ok(true)` when it ends before it, `Err` when the line fits neither.
    fn ends(&self, col: usize, item: bool, indentless: bool) -> Read<bool> {
        match self.line {
            None => Ok(true),
            Some(l) if l.marker || l.indent() < col => Ok(true),
            Some(l) if l.indent() == col => {
                let is_entry = entry(self.bytes, l.content, l.end);
                if is_entry == item {
                    Ok(false)
                } else if indentless {
                    Ok(true)
                } else {
                    Err(Outside)
                }
            }
            Some(_) => Err(Outside),
        }
    }

    /// A block mapping whose keys are at column `col`, the first at `at` on the current line.
    fn map(&mut self, col: usize, mut at: usize) -> Read<()> {
        self.tree.open_map(at, at, false)?;
        loop {
            let l = self.line.ok_or(Outside)?;
            let colon = key_end(self.bytes, at, l.end).ok_or(Outside)?;
            self.scalar(at, colon, self.text[at..colon].to_string(), Style::Plain)?;
            let after = skip_spaces(self.bytes, colon + 1, l.end);
            if after < l.end && self.bytes[after] != b'#' {
                self.value(after, l.end)?;
                self.advance(self.next_line(l))?;
            } else {
                self.advance(self.next_line(l))?;
                match self.line {
                    Some(n) if !n.marker && n.indent() > col => self.block(n)?,
                    Some(n)
                        if !n.marker
                            && n.indent() == col
                            && entry(self.bytes, n.content, n.end) =>
                    {
                        self.seq(col, n.content, true)?
                    }
                    // No value: an empty scalar where the key's `:` is.
                    _ => self.scalar(colon, colon, String::new(), Style::Plain)?,
                }
            }
            if self.ends(col, false, false)? {
                return self.close();
            }
            at = self.line.ok_or(Outside)?.content;
        }
    }

    /// A block sequence whose `-` are at column `col`, the first at `at` on the current line;
    /// `indentless`: at the column of the key whose value it is.
    fn seq(&mut self, col: usize, mut at: usize, indentless: bool) -> Read<()> {
        let mut started = false;
        loop {
            let l = self.line.ok_or(Outside)?;
            // `- ` and the item on the same line.
            let item = skip_spaces(self.bytes, at + 1, l.end);
            if item == at + 1 || item == l.end || self.bytes[item] == b'#' {
                return Err(Outside);
            }
            if !started {
                let start = if indentless { item } else { at };
                self.tree.open_seq(start, start, false)?;
                started = true;
            }
            if entry(self.bytes, item, l.end) {
                return Err(Outside);
            }
            if key_end(self.bytes, item, l.end).is_some() {
                self.map(item - l.start, item)?;
            } else {
                self.value(item, l.end)?;
                self.advance(self.next_line(l))?;
            }
            if self.ends(col, true, indentless)? {
                return self.close();
            }
            at = self.line.ok_or(Outside)?.content;
        }
    }

    /// Closes the innermost collection before the current line.
    fn close(&mut self) -> Read<()> {
        let at = self.end_mark();
        let node = self.tree.close(at, at)?.ok_or(Outside)?;
        self.tree.attach(node)?;
        Ok(())
    }

    fn scalar(&mut self, start: usize, end: usize, value: String, style: Style) -> Read<()> {
        let node = Node {
            kind: Kind::Scalar { value, style },
            span: Span { start, end },
            decorated: false,
        };
        self.tree.attach(node)?;
        Ok(())
    }

    /// The scalar (or `{}`, `[]`) at `at`, which is the rest of the line up to `end` but for
    /// a comment.
    fn value(&mut self, at: usize, end: usize) -> Read<()> {
        let b = self.bytes;
        let after = match b[at] {
            b'"' => {
                let close = at
                    + 1
                    + b[at + 1..end]
                        .iter()
                        .position(|&c| c == b'"')
                        .ok_or(Outside)?;
                if b[at + 1..close].contains(&b'\\') {
                    return Err(Outside);
                }
                let value = self.text[at + 1..close].to_string();
                self.scalar(at, close + 1, value, Style::DoubleQuoted)?;
                close + 1
            }
            b'\'' => {
                let mut i = at + 1;
                let close = loop {
                    let q = i + b[i..end].iter().position(|&c| c == b'\'').ok_or(Outside)?;
                    if b.get(q + 1) == Some(&b'\'') && q + 1 < end {
                        i = q + 2;
                    } else {
                        break q;
                    }
                };
                let value = self.text[at + 1..close].replace("''", "'");
                self.scalar(at, close + 1, value, Style::SingleQuoted)?;
                close + 1
            }
            open @ (b'{' | b'[') => {
                let empty = if open == b'{' { b'}' } else { b']' };
                if b.get(at + 1) != Some(&empty) || at + 1 >= end {
                    return Err(Outside);
                }
                rest(b, at + 2, end)?;
                if open == b'{' {
                    self.tree.open_map(at, at + 1, false)?;
                } else {
                    self.tree.open_seq(at, at + 1, false)?;
                }
                // The full parser's end of a flow collection runs on over the spaces and the
                // comment after it, to the end of the line; the tree keeps it.
                let node = self.tree.close(at + 1, end)?.ok_or(Outside)?;
                self.tree.attach(node)?;
                return Ok(());
            }
            _ => {
                let stop = plain_end(b, at, end)?;
                self.scalar(at, stop, self.text[at..stop].to_string(), Style::Plain)?;
                return Ok(());
            }
        };
        rest(b, after, end)
    }
}

/// After a quoted scalar or `{}` at `after`, up to `end`: nothing but spaces, and a comment
/// after one.
fn rest(b: &[u8], after: usize, end: usize) -> Read<()> {
    let at = skip_spaces(b, after, end);
    if at == end || (at > after && b[at] == b'#') {
        Ok(())
    } else {
        Err(Outside)
    }
}

/// Whether a sequence entry (`-` then a space or the end of the line) is at `at`.
fn entry(b: &[u8], at: usize, end: usize) -> bool {
    b[at] == b'-' && (at + 1 == end || b[at + 1] == b' ')
}

fn skip_spaces(b: &[u8], mut at: usize, end: usize) -> usize {
    while at < end && b[at] == b' ' {
        at += 1;
    }
    at
}

/// Where the mapping key at `at` ends (at its `:`, which a space or the end of the line
/// follows), if the line up to `end` starts with a key read here.
fn key_end(b: &[u8], at: usize, end: usize) -> Option<usize> {
    if !b[at].is_ascii_alphanumeric() {
        return None;
    }
    let mut i = at;
    while i < end && key_byte(b[i]) {
        i += 1;
    }
    let key = i < end && b[i] == b':' && (i + 1 == end || b[i + 1] == b' ');
    (key && i - at <= MAX_KEY).then_some(i)
}

/// Where the plain scalar at `at` ends: before a comment and the spaces before it, or before
/// the spaces at the end of the line.
fn plain_end(b: &[u8], at: usize, end: usize) -> Read<usize> {
    let first = b[at];
    let space_after = at + 1 == end || b[at + 1] == b' ';
    if matches!(first, b'-' | b'?' | b':') && space_after
        || matches!(
            first,
            b',' | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'%'
                | b'@'
                | b'`'
        )
    {
        return Err(Outside);
    }
    let mut stop = end;
    for i in at + 1..end {
        match b[i] {
            b'#' if b[i - 1] == b' ' => {
                stop = i;
                break;
            }
            // `: ` (or a `:` at the end) would make a mapping, which is an error here.
            b':' if i + 1 == end || b[i + 1] == b' ' => return Err(Outside),
            _ => {}
        }
    }
    while b[stop - 1] == b' ' {
        stop -= 1;
    }
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_full;
    use super::*;
    use std::path::Path;

    /// What the full parser reads of `text`, when this reader reads it too; `Ok(false)` when
    /// this reader gives up. The trees must be the same, spans and all.
    fn same(text: &str) -> Result<bool, String> {
        let Some(mine) = parse(text) else {
            return Ok(false);
        };
        match parse_full(text) {
            Ok(full) => {
                let (full, mine) = (format!("{full:?}"), format!("{mine:?}"));
                let Some(at) = full.bytes().zip(mine.bytes()).position(|(a, b)| a != b) else {
                    return Ok(true);
                };
                let from = at.saturating_sub(300);
                let (a, b) = (&full[from..], &mine[from..]);
                let cut = |s: &str| s.chars().take(600).collect::<String>();
                Err(format!(
                    "different trees, full parser then this reader:\n{}\n{}",
                    cut(a),
                    cut(b)
                ))
            }
            Err(e) => Err(format!(
                "the full parser refuses it ({e}), this reader took it"
            )),
        }
    }

    /// The repository's YAML: manifests, kubeadm and component configuration files, profiles.
    fn corpus() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for dir in ["tests", "examples", "profiles", "deploy"] {
            out.extend(crate::testing::yaml_texts(&root.join(dir)));
        }
        out
    }

    /// Every YAML file of the repository reads the same both ways.
    #[test]
    fn the_repository_s_yaml_reads_the_same_as_with_the_full_parser() {
        let files = corpus();
        assert!(files.len() > 100, "{} files", files.len());
        let mut taken = 0;
        for text in &files {
            match same(text) {
                Ok(t) => taken += usize::from(t),
                Err(e) => panic!("{e}\n--- text:\n{text}"),
            }
            // The same file as Windows writes it.
            let crlf = text.replace('\n', "\r\n");
            if let Err(e) = same(&crlf) {
                panic!("{e}\n--- text with CRLF:\n{crlf}");
            }
        }
        // Most of them are plain block YAML; kubeadm's manifests all are.
        assert!(
            taken * 2 > files.len(),
            "{taken} of {} read here",
            files.len()
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm");
        let kubeadm = crate::testing::yaml_texts(&root);
        assert!(!kubeadm.is_empty());
        for text in &kubeadm {
            assert_eq!(same(text), Ok(true), "{text}");
            let crlf = text.replace('\n', "\r\n");
            assert_eq!(same(&crlf), Ok(true), "{crlf:?}");
        }
    }

    /// Small texts at the edges of the subset, each either read the same or left alone.
    #[test]
    fn edges_read_the_same_or_are_left_to_the_full_parser() {
        let taken = [
            "a: 1\nb:\n  c: x  # hi\n  d:\n  - --e=f\n  - g\n  h: \"q\" # z\ni: {}\nj: []\nk:\nl: x\n",
            "---\n# c\na:\n    - x\n    - y\n# between\n\nb:\n- name: n1\n  value: v1\n-   name: n2\n- z\nc: 'it''s'\n---\n- p\n- q: 1\n  # tail\n",
            "a: b",
            "k:   # c\nm: # c\n  n: 1   \nd:\n-   x\n-  y\ne: a b  c\n",
            "x:\n  - a: 1\n    b:\n    - c\n  - d\n",
            "- a:\n- x\n",
            "k:",
            "a: b\nk:\n",
            "a:\n  b:\n    c: 1\nd: 2\n",
            "a: http://x:80/y#z\nb: x#y\nc: '' \nd: \"\"\n",
            "  a: 1\n  b: 2\n",
            "a: {} # c\nb: []  \nc: \"x\"  # d\n",
            "a: b\r\n",
            "a:\r\n  - x\r\n  - 'y' # c\r\n\r\n  # d\r\nb: {}  \r\nc:\r\n",
            "---\r\na: 1\r\n---\r\nb: \"q\" \r\n",
            "a: 1\nb:\r\n  c: x y\r\n",
        ];
        for text in taken {
            assert_eq!(same(text), Ok(true), "{text:?}");
        }
        let left = [
            "",
            "# only a comment\n",
            "---\n",
            "a: 1\n---\n",
            "a: 1\n...\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  x\n",
            "a: b\n  c\n",
            "a: [1]\n",
            "a: \"x\\ty\"\n",
            "a:\tb\n",
            "a: b\rc: d\n",
            "a: b\r",
            "a: b\r\r\n",
            "\r\n",
            "\"a\": b\n",
            "a: b: c\n",
            "a: - x\n",
            "- - x\n",
            "-\n  a: 1\n",
            "a: 1\na: 2\n",
            "a:\n    b: 1\n  c: 2\n",
            "scalar\n",
            "a: ü\n",
            "%YAML 1.2\n---\na: 1\n",
            "? a\n: b\n",
            "a: 'x\n  y'\n",
        ];
        for text in left {
            assert_eq!(same(text), Ok(false), "{text:?}");
        }
    }

    /// `per_text` variants of each of `texts`, each a byte changed, inserted (or one of
    /// `inserts`) or taken out, or a line moved in or out: whatever this reader takes, the full
    /// parser must read the same way. How many were tried, and how many this reader took.
    fn variants(texts: &[String], inserts: &[&str], per_text: usize) -> (usize, usize) {
        let mut next = crate::testing::seeded();
        let (mut taken, mut tried) = (0, 0);
        for text in texts.iter().filter(|t| t.len() < 8_000) {
            for _ in 0..per_text {
                let mut v = text.clone();
                for _ in 0..1 + next(3) {
                    let at = next(v.len() + 1);
                    let at = (0..=at).rev().find(|&i| v.is_char_boundary(i)).unwrap_or(0);
                    match next(5) {
                        0 => v.insert_str(at, inserts[next(inserts.len())]),
                        1 if at < v.len() => {
                            let end = (at + 1..=v.len()).find(|&i| v.is_char_boundary(i));
                            v.replace_range(at..end.unwrap_or(v.len()), "");
                        }
                        2 => {
                            let start = v[..at].rfind('\n').map_or(0, |i| i + 1);
                            v.insert(start, ' ');
                        }
                        3 => {
                            let start = v[..at].rfind('\n').map_or(0, |i| i + 1);
                            if v[start..].starts_with(' ') {
                                v.remove(start);
                            }
                        }
                        _ if next(4) == 0 => v.truncate(at),
                        _ => {}
                    }
                }
                tried += 1;
                match same(&v) {
                    Ok(t) => taken += usize::from(t),
                    Err(e) => panic!("{e}\n--- text:\n{v:?}"),
                }
            }
        }
        (tried, taken)
    }

    const INSERTS: &[&str] = &[
        ":", " ", "#", "-", "- ", "'", "\"", "{", "}", "[", "]", "\n", "&", "*", "!", "|", ">",
        "?", "%", "x", ": ", " #", "\n-", "\n ", "{}", "[]", "''", "---\n", ",", "@",
    ];

    /// Thousands of variants of the repository's manifests: whatever this reader takes, the
    /// full parser reads the same way.
    #[test]
    fn variants_read_the_same_or_are_left_to_the_full_parser() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let (tried, taken) = variants(&crate::testing::yaml_texts(&root), INSERTS, 60);
        assert!(tried > 5_000, "{tried} variants");
        assert!(taken * 8 > tried, "{taken} of {tried} read here");
    }

    /// The same with the lines broken as Windows breaks them (`\r\n`), and carriage returns
    /// and line breaks of either kind inserted.
    #[test]
    fn variants_with_crlf_read_the_same_or_are_left_to_the_full_parser() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm");
        let texts: Vec<String> = crate::testing::yaml_texts(&root)
            .iter()
            .map(|t| t.replace('\n', "\r\n"))
            .collect();
        let mut inserts = INSERTS.to_vec();
        inserts.extend(["\r", "\r\n", "\r\n-", "\r\n ", "---\r\n", " \r\n"]);
        let (tried, taken) = variants(&texts, &inserts, 60);
        assert!(tried > 2_000, "{tried} variants");
        assert!(taken * 8 > tried, "{taken} of {tried} read here");
    }
}
