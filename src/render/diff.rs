//! Unified diffs with `a/` and `b/` headers that `git apply` and `patch -p1` accept.

use crate::model::report::FileReport;
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
    similar::TextDiff::from_lines("", content)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header("/dev/null", &format!("b/{p}"))
        .to_string()
}

/// A unified diff of two texts with `a/` and `b/` headers.
pub fn diff_text(old: &str, new: &str, path: &str) -> String {
    let p = diff_path(path);
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(&format!("a/{p}"), &format!("b/{p}"))
        .to_string()
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
    use super::mode_diff;

    #[test]
    fn a_mode_change_is_written_as_git_writes_it() {
        assert_eq!(
            mode_diff("/etc/kubernetes/pki/ca.key", 0o755, 0o600),
            "diff --git a/etc/kubernetes/pki/ca.key b/etc/kubernetes/pki/ca.key\nold mode 100755\nnew mode 100600\n"
        );
        assert_eq!(mode_diff("/etc/kubernetes/admin.conf", 0o600, 0o600), "");
    }
}
