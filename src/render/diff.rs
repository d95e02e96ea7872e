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
