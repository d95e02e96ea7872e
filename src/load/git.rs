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
    let files: Vec<FileChange> = parse_patch(&patch)
        .into_iter()
        .filter(|(_, new, _)| pathspecs.iter().any(|p| top.join(new).starts_with(p)))
        .collect();
    let olds: Vec<&str> = files
        .iter()
        .filter_map(|(old, _, _)| old.as_deref())
        .collect();
    let mut befores = texts_at(&top, rev, &olds).map_err(fail)?.into_iter();
    let mut out = Vec::new();
    for (old, new, lines) in &files {
        let before = old.as_ref().and_then(|_| befores.next());
        out.push((
            top.join(new),
            Changed {
                lines: lines.clone(),
                before,
            },
        ));
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

/// The texts of the files `paths` (relative to the repository's root `top`) at `rev`, in their
/// order: read by one `git cat-file --batch` rather than a `git show` each, which took 2.5 ms a
/// file (5 s for a change of 2,000 files). A name with a line break, which the batch's lines
/// cannot carry, is read with `git show`.
fn texts_at(top: &Path, rev: &str, paths: &[&str]) -> Result<Vec<String>, String> {
    use std::io::{BufRead, Read, Write};
    let one = |p: &str| {
        git(top, &["show", &format!("{rev}:{p}")]).map_err(|e| format!("{p} at {rev}: {e}"))
    };
    let batched: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !p.contains('\n'))
        .collect();
    if batched.len() < 2 {
        return paths.iter().map(|p| one(p)).collect();
    }
    let mut child = command(top)
        .args(["cat-file", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let requests: String = batched.iter().map(|p| format!("{rev}:{p}\n")).collect();
    let mut stdin = child.stdin.take().ok_or("git cat-file has no input")?;
    // Written from a thread of its own: git answers while it reads, and a pipe holds only so
    // much of its answers before git waits for them to be read.
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()));
    let stdout = child.stdout.take().ok_or("git cat-file has no output")?;
    let mut answers = std::io::BufReader::new(stdout);
    let mut read = |p: &str| -> Result<String, String> {
        let broken = |e: std::io::Error| format!("git cat-file: {e}");
        let mut header = String::new();
        answers.read_line(&mut header).map_err(broken)?;
        // `<object> blob <size>`, or `<name> missing` (or `ambiguous`) for no such blob.
        let mut words = header.trim_end().rsplitn(3, ' ');
        let (size, kind) = (words.next(), words.next());
        let size = match (kind, size.and_then(|s| s.parse::<usize>().ok())) {
            (Some("blob"), Some(size)) => size,
            _ => return Err(format!("{p} at {rev}: not a file there")),
        };
        let mut text = vec![0; size + 1];
        answers.read_exact(&mut text).map_err(broken)?;
        text.pop();
        String::from_utf8(text).map_err(|_| "git's output is not UTF-8".to_string())
    };
    // Up to the first that fails.
    let texts = paths
        .iter()
        .map(|p| if p.contains('\n') { one(p) } else { read(p) })
        .collect();
    drop(answers);
    let _ = child.kill();
    let _ = child.wait();
    let _ = writer.join();
    texts
}

/// git, to be run in `dir`: no pager, messages in English.
fn command(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_PAGER", "cat")
        .env("LC_ALL", "C");
    c
}

/// Runs git in `dir`: its standard output, or what it said on standard error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = command(dir)
        .args(args)
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

    /// One batch reads what `git show` reads for each file, in the order asked: names with
    /// spaces, quotes, non-ASCII letters and a line break (read apart), an empty file, one
    /// without a last line break, one with CRLF lines, and files larger than a pipe holds,
    /// among others; a name that is not there is an error that names it. Fails when an
    /// answer's last line break is kept or its size misread, or the order is lost.
    #[test]
    fn a_batch_reads_what_git_show_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let top = dir.path();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .current_dir(top)
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .expect("git runs")
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q", "."]);
        let big: String = (0..12_000).map(|i| format!("    - --x{i}=1\n")).collect();
        let files: Vec<(String, String)> = [
            ("a.yaml", "kind: Pod\n".to_string()),
            ("sp ace.yaml", "a: 1\n".to_string()),
            ("q\"uote.yaml", "b: 2\n".to_string()),
            ("\u{fc}ber.yaml", "c: \u{e9}\n".to_string()),
            ("line\nbreak.yaml", "d: 4\n".to_string()),
            ("empty.yaml", String::new()),
            ("no-break.yaml", "e: 5".to_string()),
            ("crlf.yaml", "f: 6\r\ng: 7\r\n".to_string()),
            ("big.yaml", big.clone()),
            ("dir/big2.yaml", big.replace("--x", "--y")),
            ("dir/z.yaml", "z: 26\n\n".to_string()),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
        for (name, text) in &files {
            let path = top.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        run(&["add", "-A"]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "x",
        ]);
        // Every order of a few of them, and all of them twice over.
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let mut asks: Vec<Vec<&str>> = vec![names.iter().chain(&names).copied().collect()];
        let mut next = crate::testing::seeded();
        for _ in 0..20 {
            asks.push((0..1 + next(6)).map(|_| names[next(names.len())]).collect());
        }
        for ask in &asks {
            let got = texts_at(top, "HEAD", ask).expect("read");
            let want: Vec<String> = ask
                .iter()
                .map(|n| git(top, &["show", &format!("HEAD:{n}")]).expect("show"))
                .collect();
            assert_eq!(got, want, "{ask:?}");
            let written: Vec<&str> = ask
                .iter()
                .map(|n| files.iter().find(|(f, _)| f == n).map(|(_, t)| t.as_str()))
                .map(Option::unwrap_or_default)
                .collect();
            assert_eq!(got, written, "{ask:?}");
        }
        let err = texts_at(top, "HEAD", &["a.yaml", "gone.yaml", "big.yaml"])
            .expect_err("gone.yaml is not there");
        assert!(err.starts_with("gone.yaml at HEAD"), "{err}");
    }

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
