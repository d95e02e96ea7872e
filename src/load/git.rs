//! What a git repository says changed since a revision, for `check --changed-since REV`: the
//! files whose text differs from the revision's (in the working tree, committed or not, and the
//! files git does not track yet), the lines of each that the change added or touched, and each
//! file's text at the revision. Read with the `git` command (plumbing output, no pager, no
//! colour, no external diff), run in the repository.

use crate::model::report::UsageError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file the change touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Changed {
    /// The lines of the file as it is now that the change added or touched (1-based, inclusive
    /// ranges); `None`: the whole file is new.
    pub(crate) lines: Option<Vec<(usize, usize)>>,
    /// The file's text at the revision (under its old name when it was renamed); `None` for a
    /// new file.
    pub(crate) before: Option<String>,
}

impl Changed {
    /// Whether the change added or touched `line`.
    pub(crate) fn touches(&self, line: usize) -> bool {
        match &self.lines {
            None => true,
            Some(ranges) => ranges.iter().any(|(a, b)| (*a..=*b).contains(&line)),
        }
    }
}

/// The files under `paths` (relative to `dir`) changed since `rev`, by their canonical path,
/// for the repository `dir` is in. A path outside the repository is an error.
pub(crate) fn changed_since(
    rev: &str,
    dir: &Path,
    paths: &[PathBuf],
) -> Result<Vec<(PathBuf, Changed)>, UsageError> {
    let fail = |m: String| UsageError(format!("--changed-since {rev}: {m}"));
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        fail(format!(
            "{} is not in a git repository ({e})",
            dir.display()
        ))
    })?;
    let top = PathBuf::from(top.trim_end_matches('\n'));
    // The paths asked about, under the repository's root as git names it (links resolved):
    // only their files count, and a path outside the repository is refused.
    let real_top = super::node::canonical(&top).unwrap_or_else(|| top.clone());
    let mut pathspecs = Vec::new();
    for p in paths {
        let abs = super::node::canonical(&dir.join(p))
            .ok_or_else(|| fail(format!("{}: no such file or directory", p.display())))?;
        let inside = abs.strip_prefix(&real_top).map_err(|_| {
            fail(format!(
                "{} is outside the repository {}",
                p.display(),
                top.display()
            ))
        })?;
        pathspecs.push(top.join(inside));
    }
    let commit = format!("{rev}^{{commit}}");
    git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &commit,
        ],
    )
    .map_err(|_| {
        // A CI checkout is often shallow: the base of a pull request is then not there.
        let shallow = git(&top, &["rev-parse", "--is-shallow-repository"])
            .is_ok_and(|s| s.trim() == "true");
        fail(if shallow {
            "no such commit in this repository, which is a shallow clone: fetch the history (`git fetch --unshallow`, or actions/checkout with fetch-depth: 0)".into()
        } else {
            "no such commit in this repository".into()
        })
    })?;
    // The working tree against the revision: what a pull request's head changes when the
    // revision is its base. Renames are followed, so a file that only moved reports nothing.
    let patch = git(
        &top,
        &[
            "-c",
            "core.quotePath=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--unified=0",
            "--find-renames",
            "--diff-filter=AMR",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            rev,
            "--",
        ],
    )
    .map_err(fail)?;
    let mut out = Vec::new();
    for (old, new, lines) in parse_patch(&patch) {
        let path = top.join(&new);
        if !pathspecs.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        let before = match &old {
            Some(old) => Some(
                git(&top, &["show", &format!("{rev}:{old}")])
                    .map_err(|e| fail(format!("{old} at {rev}: {e}")))?,
            ),
            None => None,
        };
        out.push((path, Changed { lines, before }));
    }
    // Files git does not track (and does not ignore) are new since any revision.
    let mut ls = vec!["-c", "core.quotePath=false", "ls-files", "-z", "--others"];
    ls.extend(["--exclude-standard", "--"]);
    ls.extend(pathspecs.iter().filter_map(|p| p.to_str()));
    let untracked = git(&top, &ls).map_err(fail)?;
    for name in untracked.split('\0').filter(|n| !n.is_empty()) {
        let changed = Changed {
            lines: None,
            before: None,
        };
        out.push((top.join(name), changed));
    }
    Ok(out
        .into_iter()
        .map(|(p, c)| (super::node::canonical(&p).unwrap_or(p), c))
        .collect())
}

/// Runs git in `dir`: its standard output, or what it said on standard error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_PAGER", "cat")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.trim();
        return Err(if said.is_empty() {
            format!("git {} failed", args.first().unwrap_or(&""))
        } else {
            said.lines().next().unwrap_or(said).to_string()
        });
    }
    String::from_utf8(out.stdout).map_err(|_| "git's output is not UTF-8".to_string())
}

/// The files of a `git diff --unified=0` patch: (old name, new name, the new file's lines the
/// change added or touched); no old name and no lines for a new file.
type FileChange = (Option<String>, String, Option<Vec<(usize, usize)>>);

fn parse_patch(patch: &str) -> Vec<FileChange> {
    let mut files: Vec<FileChange> = Vec::new();
    let mut old: Option<String> = None;
    for line in patch.lines() {
        if line.starts_with("diff --git ") {
            old = None;
        } else if let Some(rest) = line.strip_prefix("--- ") {
            old = (rest != "/dev/null").then(|| unquote(rest, "a/"));
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            if rest != "/dev/null" {
                let lines = old.is_some().then(Vec::new);
                files.push((old.clone(), unquote(rest, "b/"), lines));
            }
        } else if let Some(hunk) = line.strip_prefix("@@ ") {
            let Some((_, Some(ranges))) = files.last_mut().map(|f| (&f.0, &mut f.2)) else {
                continue;
            };
            if let Some(range) = touched(hunk) {
                ranges.push(range);
            }
        }
    }
    files
}

/// The lines of the new file a hunk header (`-a,b +c,d @@`) adds or touches: `c` to
/// `c+d-1`; for a hunk that only removes lines (`d` is 0, after line `c`), the lines on either
/// side of the cut.
fn touched(hunk: &str) -> Option<(usize, usize)> {
    let new = hunk.split(' ').find_map(|w| w.strip_prefix('+'))?;
    let (start, count) = match new.split_once(',') {
        Some((s, c)) => (s.parse::<usize>().ok()?, c.parse::<usize>().ok()?),
        None => (new.parse::<usize>().ok()?, 1),
    };
    Some(if count == 0 {
        (start.max(1), start + 1)
    } else {
        (start, start + count - 1)
    })
}

/// A path of a patch header without its prefix, unquoted when git quoted it (a name with a
/// double quote, a backslash or a control character: C-style escapes, octal for bytes).
fn unquote(field: &str, prefix: &str) -> String {
    let Some(inner) = field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) else {
        return field.strip_prefix(prefix).unwrap_or(field).to_string();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(b'a') => bytes.push(7),
            Some(b'b') => bytes.push(8),
            Some(b'f') => bytes.push(12),
            Some(b'v') => bytes.push(11),
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&n @ b'0'..=b'7') = it.peek() {
                        v = v * 8 + u32::from(n - b'0');
                        it.next();
                    }
                }
                bytes.push(v as u8);
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    let s = String::from_utf8_lossy(&bytes).into_owned();
    s.strip_prefix(prefix).map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_give_the_new_lines_each_hunk_adds_or_touches() {
        let patch = "diff --git a/m.yaml b/m.yaml\nindex 1..2 100644\n--- a/m.yaml\n+++ b/m.yaml\n@@ -3 +3 @@ spec:\n-    - --a=1\n+    - --a=2\n@@ -10,2 +10,0 @@\n-x\n-y\n@@ -20,0 +19,3 @@\n+p\n+q\n+r\ndiff --git a/new.yaml b/new.yaml\nnew file mode 100644\n--- /dev/null\n+++ b/new.yaml\n@@ -0,0 +1,2 @@\n+a\n+b\ndiff --git a/old.yaml b/\"sp ace\\\"q.yaml\"\nsimilarity index 90%\nrename from old.yaml\nrename to sp ace\"q.yaml\n--- a/old.yaml\n+++ \"b/sp ace\\\"q.yaml\"\n@@ -1 +1 @@\n-a\n+b\n";
        let files = parse_patch(patch);
        assert_eq!(
            files,
            vec![
                (
                    Some("m.yaml".to_string()),
                    "m.yaml".to_string(),
                    Some(vec![(3, 3), (10, 11), (19, 21)])
                ),
                (None, "new.yaml".to_string(), None),
                (
                    Some("old.yaml".to_string()),
                    "sp ace\"q.yaml".to_string(),
                    Some(vec![(1, 1)])
                ),
            ]
        );
    }

    #[test]
    fn quoted_names_are_unquoted() {
        assert_eq!(unquote("\"b/a\\tb\\303\\251.yaml\"", "b/"), "a\tbé.yaml");
        assert_eq!(unquote("b/plain.yaml", "b/"), "plain.yaml");
    }
}
