//! The shape of src/ (docs/architecture.md): the modules depend on each other one way, with no
//! cycle between folders or between files; only load/ reads files and only apply/ writes them;
//! no function is longer than 120 lines. The source is read as text: references are the
//! `crate::`, `super::` and `self::` paths of the code outside `#[cfg(test)]` items, and the
//! paths into a module the file declares (`child::item`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under src/, by its path relative to src/.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p
                    .strip_prefix(root)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).expect("UTF-8 source")));
            }
        }
    }
    let mut out = Vec::new();
    walk(&src(), &src(), &mut out);
    out
}

/// The text without comments, string and character literals (replaced by spaces, so that line
/// numbers stay), and without the items marked `#[cfg(test)]`.
fn code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            while i < b.len() && !b[i..].starts_with(b"*/") {
                blank(&mut out, b[i]);
                i += 1;
            }
            out.extend_from_slice(b"  ");
            i += 2;
        } else if b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#")) {
            // A raw string: r"...", r#"..."#.
            let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = i + 2 + hashes;
            let end = (start..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .map_or(b.len(), |j| j + close.len());
            for &c in &b[i..end] {
                blank(&mut out, c);
            }
            i = end;
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                let n = if b[i] == b'\\' { 2 } else { 1 };
                for &c in &b[i..(i + n).min(b.len())] {
                    blank(&mut out, c);
                }
                i += n;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' && is_char_literal(&b[i..]) {
            let n = b[i + 1..]
                .iter()
                .position(|c| *c == b'\'')
                .map_or(1, |p| p + 2);
            out.extend(std::iter::repeat_n(b' ', n));
            i += n;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    without_tests(&String::from_utf8_lossy(&out))
}

/// `'x'`, `'\n'`, `'\u{..}'`, not a lifetime (`'a`).
fn is_char_literal(b: &[u8]) -> bool {
    match b.get(1) {
        Some(b'\\') => true,
        Some(_) => {
            let s = String::from_utf8_lossy(&b[1..b.len().min(6)]).to_string();
            s.chars().nth(1) == Some('\'')
        }
        None => false,
    }
}

/// The text with every item after `#[cfg(test)]` blanked (to its closing brace).
fn without_tests(text: &str) -> String {
    let mut out = text.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find('{').map(|o| at + o) else {
            break;
        };
        let mut depth = 0;
        let mut end = out.len();
        for (j, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blanked: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
    }
    out
}

/// The module path of a source file: `document/kubeadm/mod.rs` → [document, kubeadm].
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The file that defines the module `path`, or its longest prefix that is a file.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    for n in (1..=path.len()).rev() {
        let p = path[..n].join("/");
        for f in [format!("{p}.rs"), format!("{p}/mod.rs")] {
            if files.contains(&f) {
                return Some(f);
            }
        }
    }
    None
}

/// The modules a file refers to: `crate::a::b`, `super::x`, `self::y`, also inside `use`
/// groups (`use crate::a::{b, c::d}`).
fn references(file: &str, code: &str) -> Vec<Vec<String>> {
    let here = module_of(file);
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let b = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(start) {
            if at > 0 && (ident(b[at - 1] as char) || b[at - 1] == b':') {
                continue;
            }
            // The module the path starts from, then the segments that follow.
            let mut base: Option<Vec<String>> = None;
            let mut rest = &code[at..];
            loop {
                let seg: String = rest.chars().take_while(|c| ident(*c)).collect();
                match seg.as_str() {
                    "crate" => base = Some(Vec::new()),
                    "super" => {
                        let mut m = base.unwrap_or_else(|| here.clone());
                        m.pop();
                        base = Some(m);
                    }
                    "self" => base = Some(base.unwrap_or_else(|| here.clone())),
                    _ => break,
                }
                rest = &rest[seg.len()..];
                match rest.strip_prefix("::") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            let base = base.unwrap_or_default();
            for tail in paths_after(rest) {
                let mut p = base.clone();
                p.extend(tail);
                out.push(p);
            }
        }
    }
    // Paths relative to the file's own module: `child::item` for a module it declares.
    for child in children(code) {
        let start = format!("{child}::");
        for (at, _) in code.match_indices(&start) {
            if at > 0 && (ident(b[at - 1] as char) || b[at - 1] == b':') {
                continue;
            }
            for tail in paths_after(&code[at..]) {
                let mut p = here.clone();
                p.extend(tail);
                out.push(p);
            }
        }
    }
    out
}

/// The modules a file declares (`mod x;`, `pub(crate) mod x;`).
fn children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("mod ").or_else(|| {
                l.split_once(" mod ")
                    .filter(|(vis, _)| vis.starts_with("pub"))
                    .map(|(_, r)| r)
            })?;
            let name = rest.strip_suffix(';')?;
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then(|| name.to_string())
        })
        .collect()
}

/// The paths at the start of `rest`: `a::b`, or each of a `{a, b::c}` group.
fn paths_after(rest: &str) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &group[..end];
        let mut parts = Vec::new();
        let (mut depth, mut from) = (0, 0);
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&body[from..i]);
                    from = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&body[from..]);
        return parts
            .into_iter()
            .flat_map(|p| {
                let p = p.trim();
                let head: Vec<String> = p
                    .split("::")
                    .take_while(|s| !s.trim_start().starts_with('{'))
                    .map(|s| {
                        s.trim()
                            .chars()
                            .take_while(|c| ident(*c))
                            .collect::<String>()
                    })
                    .filter(|s| !s.is_empty() && s != "self")
                    .collect();
                let inner = p.find('{').map(|i| &p[i..]).unwrap_or("");
                let tails = if inner.is_empty() {
                    vec![Vec::new()]
                } else {
                    paths_after(inner)
                };
                tails
                    .into_iter()
                    .map(|t| head.iter().cloned().chain(t).collect())
                    .collect::<Vec<Vec<String>>>()
            })
            .collect();
    }
    let mut segs = Vec::new();
    let mut r = rest;
    loop {
        let seg: String = r.chars().take_while(|c| ident(*c)).collect();
        if seg.is_empty() {
            break;
        }
        r = &r[seg.len()..];
        segs.push(seg);
        match r.strip_prefix("::") {
            Some(x) if !x.starts_with('{') => r = x,
            _ => break,
        }
    }
    vec![segs]
}

/// The dependency graph of the files of src/ (edges between different files).
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<(String, String)> = sources();
    let names: BTreeSet<String> = files.iter().map(|(f, _)| f.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in &files {
        if file == "main.rs" {
            continue;
        }
        let code = code(text);
        let edges = graph.entry(file.clone()).or_default();
        for r in references(file, &code) {
            if let Some(target) = file_of(&r, &names) {
                // A module's own file, or the crate root: not a dependency.
                if &target != file && target != "lib.rs" {
                    edges.insert(target);
                }
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one, as the nodes along it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut c = stack[from..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n.as_str()) {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The top-level module (folder or file) of a file: `document/kubeadm/edit.rs` → `document`.
fn top(file: &str) -> String {
    file.split('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_cycle_between_files() {
    let graph = file_graph();
    assert!(graph.len() > 40, "too few files read: {}", graph.len());
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 100, "too few references found: {edges}");
    if let Some(c) = cycle(&graph) {
        panic!(
            "the files of src/ depend on each other in a cycle: {}",
            c.join(" → ")
        );
    }
}

#[test]
fn no_cycle_between_folders() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, deps) in file_graph() {
        let from = top(&file);
        let edges = graph.entry(from.clone()).or_default();
        for d in deps {
            let to = top(&d);
            if to != from {
                edges.insert(to);
            }
        }
    }
    // The pipeline's stages are there, and depend on each other one way.
    for (from, to) in [
        ("pipeline", "document"),
        ("document", "edit"),
        ("cmd", "apply"),
        ("apply", "render"),
        ("plan", "check"),
    ] {
        assert!(
            graph.get(from).is_some_and(|e| e.contains(to)),
            "{from} should depend on {to}: {graph:?}"
        );
    }
    if let Some(c) = cycle(&graph) {
        panic!(
            "the folders of src/ depend on each other in a cycle: {}",
            c.join(" → ")
        );
    }
}

/// What reads or writes files, wherever it is called from.
const FILE_ACCESS: &[&str] = &[
    "std::fs",
    "fs::",
    "File::",
    "OpenOptions",
    "read_dir(",
    "canonicalize(",
    ".exists()",
    ".is_file()",
    ".is_dir()",
    "symlink_metadata(",
    "tempfile::",
];

/// Places outside load/ and apply/ that may touch files: (file, what it calls, why). Each must
/// still be there; none is needed today (the built-in profiles and templates are compiled in
/// with `include_str!`, which reads nothing at run time).
const ALLOWED: &[(&str, &str, &str)] = &[];

#[test]
fn only_load_reads_and_only_apply_writes() {
    let mut found = Vec::new();
    let mut allowed_used = vec![false; ALLOWED.len()];
    let mut touching = 0;
    for (file, text) in sources() {
        let code = code(&text);
        if file.starts_with("load/") || file.starts_with("apply/") {
            touching += usize::from(FILE_ACCESS.iter().any(|p| code.contains(p)));
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            let Some(p) = FILE_ACCESS.iter().find(|p| line.contains(*p)) else {
                continue;
            };
            match ALLOWED
                .iter()
                .position(|(f, what, _)| *f == file && what == p)
            {
                Some(i) => allowed_used[i] = true,
                None => found.push(format!("src/{file}:{}: {p}: {}", n + 1, line.trim())),
            }
        }
    }
    assert!(
        touching >= 4,
        "load/ and apply/ should be where files are touched ({touching} files do)"
    );
    assert!(
        found.is_empty(),
        "file access outside load/ and apply/:\n{}",
        found.join("\n")
    );
    for (used, (file, what, _)) in allowed_used.iter().zip(ALLOWED) {
        assert!(
            used,
            "the allowed {what} in src/{file} is gone: take it off the list"
        );
    }
}

#[test]
fn no_function_is_longer_than_120_lines() {
    let mut long = Vec::new();
    let mut count = 0;
    for (file, text) in sources() {
        // Comments and literals blanked, test items kept: tests are functions too.
        let plain = code(&text.replace("#[cfg(test)]", "#[cfg(tests)]"));
        let lines: Vec<&str> = plain.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let t = t
                .strip_prefix("pub(crate) ")
                .or_else(|| t.strip_prefix("pub(super) "))
                .or_else(|| t.strip_prefix("pub "))
                .unwrap_or(t);
            let Some(rest) = t.strip_prefix("fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // The body: from the first `{` after the signature to its closing brace.
            let mut depth = 0;
            let mut opened = false;
            let mut end = None;
            'lines: for (j, l) in lines.iter().enumerate().skip(i) {
                for c in l.chars() {
                    match c {
                        ';' if !opened && depth == 0 => break 'lines,
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => {
                            depth -= 1;
                            if opened && depth == 0 {
                                end = Some(j);
                                break 'lines;
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(end) = end {
                count += 1;
                let n = end - i + 1;
                if n > 120 {
                    long.push(format!("src/{file}:{}: fn {name}: {n} lines", i + 1));
                }
            }
        }
    }
    assert!(count > 300, "too few functions found: {count}");
    assert!(
        long.is_empty(),
        "functions over 120 lines:\n{}",
        long.join("\n")
    );
}
