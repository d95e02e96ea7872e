//! Unified diffs with `a/` and `b/` headers that `git apply` and `patch -p1` accept.

use crate::model::report::FileReport;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Unified diff with `a/` and `b/` headers that `git apply` and `patch -p1` accept.
pub fn diff(out: &mut dyn Write, report: &FileReport, header_path: &str) -> io::Result<()> {
    let Some(edited) = &report.edited else {
        return Ok(());
    };
    out.write_all(diff_text(&report.original, edited, header_path).as_bytes())
}

/// The path in diff headers: as given, with `.` and `..` resolved lexically, without a leading
/// `/` (git refuses `..` in patch paths). A path that climbs above the current directory keeps
/// its leading `..`; the caller gives the absolute path for those.
pub fn diff_path(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// A unified diff that creates the file `path` with `content` (`--- /dev/null`).
pub fn new_file_diff(content: &str, path: &str) -> String {
    let p = diff_path(path);
    unified("", content, "/dev/null", &format!("b/{p}"))
}

/// A unified diff of two texts with `a/` and `b/` headers.
pub fn diff_text(old: &str, new: &str, path: &str) -> String {
    let p = diff_path(path);
    unified(old, new, &format!("a/{p}"), &format!("b/{p}"))
}

/// A unified diff of `old` and `new` under the headers `---` `a` and `+++` `b`, with three lines
/// of context: what `similar`'s own writer prints (`unified_diff()`, the hint after a last line
/// without a line break included), the lines copied into the string as they are rather than
/// each written through `format_args!` (about 3% of `diff`'s instructions on 200 manifests).
fn unified(old: &str, new: &str, a: &str, b: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    for ops in diff.grouped_ops(3) {
        if ops.is_empty() {
            continue;
        }
        if out.is_empty() {
            for (sign, name) in [("--- ", a), ("+++ ", b)] {
                out.push_str(sign);
                out.push_str(name);
                out.push('\n');
            }
        }
        let _ = writeln!(out, "{}", similar::udiff::UnifiedHunkHeader::new(&ops));
        for op in &ops {
            for change in diff.iter_changes(op) {
                out.push(match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                });
                out.push_str(change.value());
                if !diff.newline_terminated() {
                    out.push('\n');
                } else if change.missing_newline() {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// A change of a file's mode as git writes it in a patch (`old mode 100644`, `new mode
/// 100600`); nothing when the mode stays.
pub fn mode_diff(path: &str, from: u32, to: u32) -> String {
    if from == to {
        return String::new();
    }
    let p = diff_path(path);
    format!("diff --git a/{p} b/{p}\nold mode 10{from:04o}\nnew mode 10{to:04o}\n")
}

#[cfg(test)]
mod tests {
    use super::{mode_diff, unified};

    /// What `similar`'s own unified-diff writer prints.
    fn by_similar(old: &str, new: &str, a: &str, b: &str) -> String {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .missing_newline_hint(true)
            .header(a, b)
            .to_string()
    }

    /// The diffs written here are what `similar` writes: for the repository's YAML files, each
    /// against variants of itself with lines taken out, added, changed and moved, and without
    /// or with an added last line break; and for empty and equal texts.
    #[test]
    fn diffs_are_what_similar_writes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = vec![String::new(), "x".to_string(), "x\n".to_string()];
        texts.extend(crate::testing::yaml_texts(
            &root.join("tests/fixtures/kubeadm"),
        ));
        let mut next = crate::testing::seeded();
        let mut compared = 0;
        for old in &texts {
            let mut variants = vec![String::new(), old.clone()];
            for _ in 0..20 {
                let mut lines: Vec<String> =
                    old.split_inclusive('\n').map(str::to_string).collect();
                for _ in 0..1 + next(6) {
                    let at = next(lines.len() + 1);
                    match next(4) {
                        0 if at < lines.len() => {
                            lines.remove(at);
                        }
                        1 if at < lines.len() => lines[at] = format!("    - --changed-{at}=x\n"),
                        2 if at < lines.len() => {
                            let l = lines.remove(at);
                            let to = next(lines.len() + 1);
                            lines.insert(to, l);
                        }
                        _ => lines.insert(at, "      readOnly: true\n".to_string()),
                    }
                }
                let mut v = lines.concat();
                match next(3) {
                    0 => v.truncate(v.trim_end_matches('\n').len()),
                    1 => v.push('\n'),
                    _ => {}
                }
                variants.push(v);
            }
            for new in &variants {
                for (a, b) in [(old, new), (new, old)] {
                    assert_eq!(
                        unified(a, b, "a/x", "b/x"),
                        by_similar(a, b, "a/x", "b/x"),
                        "{a:?}\n{b:?}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 1_000, "{compared} pairs");
    }

    #[test]
    fn a_mode_change_is_written_as_git_writes_it() {
        assert_eq!(
            mode_diff("/etc/kubernetes/pki/ca.key", 0o755, 0o600),
            "diff --git a/etc/kubernetes/pki/ca.key b/etc/kubernetes/pki/ca.key\nold mode 100755\nnew mode 100600\n"
        );
        assert_eq!(mode_diff("/etc/kubernetes/admin.conf", 0o600, 0o600), "");
    }
}
