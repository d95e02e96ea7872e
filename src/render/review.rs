//! The findings where reviewers read them: `check --format github`, workflow commands that a
//! GitHub Actions run turns into annotations on the lines of a pull request, and
//! `check --format gitlab`, a GitLab Code Quality report. docs/review.md describes both.

use super::json::write_item;
use crate::model::report::{Kept, Outcome, ReportFinding};
use crate::profile::Severity;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

/// A report's path as the repository names it: relative to the directory kubeharden runs in
/// (a workflow runs in the repository's root), without `./`; an absolute path outside it stays
/// absolute.
pub(crate) fn repository_path(path: &str, cwd: &Path) -> String {
    let p = Path::new(path);
    match p.strip_prefix(cwd) {
        Ok(rel) => super::diff_path(&rel.to_string_lossy()),
        Err(_) if p.is_absolute() => path.to_string(),
        Err(_) => super::diff_path(path),
    }
}

/// The active findings of a report, in the file's order.
fn in_order<'a, 'p>(findings: &'a [ReportFinding<'p>]) -> Vec<&'a ReportFinding<'p>> {
    let mut v: Vec<&ReportFinding> = findings.iter().filter(|f| f.active()).collect();
    v.sort_by_key(|f| (f.line, f.column));
    v
}

/// What a finding says, on one line.
fn message(f: &ReportFinding) -> String {
    let mut text = format!("{}: {} → {}", f.rule.title, f.current, f.desired);
    match (&f.manual, f.fixed) {
        (_, true) => match f.risky {
            Some(a) => text.push_str(&format!(
                " (kubeharden fix makes the change, which is risky: {}; make sure first: {})",
                a.risky, a.precondition
            )),
            None => text.push_str(" (kubeharden fix makes the change)"),
        },
        (Some(m), false) => text.push_str(&format!(". Not fixed automatically: {m}")),
        (None, false) => {}
    }
    if !f.rule.cis().is_empty() {
        text.push_str(&format!(" [CIS {}]", f.rule.cis().join(", ")));
    }
    text
}

/// GitHub's escaping of a workflow command's message (actions/toolkit,
/// packages/core/src/command.ts, `escapeData`).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// ... and of a property's value (`escapeProperty`): `:` and `,` too.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The annotation level: errors for critical and high, warnings for medium, notices for low
/// and for what the profile leaves to the user (it does not fail the check by default).
fn github_level(f: &ReportFinding) -> &'static str {
    if f.is_manual() {
        return "notice";
    }
    match f.rule.severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "notice",
    }
}

/// One file's workflow commands: an annotation per finding (with its range), a notice per note,
/// an error for a file that could not be checked. Skipped files say nothing.
pub fn github_file(out: &mut dyn Write, o: &Outcome, cwd: &Path) -> io::Result<()> {
    match o {
        Outcome::Report(r) => {
            let file = escape_property(&repository_path(&r.path, cwd));
            for f in in_order(&r.findings) {
                writeln!(
                    out,
                    "::{} file={file},line={},endLine={},col={},endColumn={},title={}::{}",
                    github_level(f),
                    f.line,
                    f.end_line,
                    f.column,
                    f.end_column,
                    escape_property(&format!("kubeharden {}", f.rule.id)),
                    escape_data(&message(f)),
                )?;
            }
            for n in &r.notes {
                writeln!(out, "::notice file={file}::{}", escape_data(n))?;
            }
        }
        Outcome::Error(e) => {
            let file = escape_property(&repository_path(&e.path, cwd));
            let at = e
                .line_col
                .map(|(l, c)| format!(",line={l},col={c}"))
                .unwrap_or_default();
            writeln!(
                out,
                "::error file={file}{at},title=kubeharden::{}",
                escape_data(&e.message)
            )?;
        }
        Outcome::Skipped { .. } => {}
    }
    Ok(())
}

/// The line after the commands: what the run counted (a plain line in the job's log).
pub fn github_end(out: &mut dyn Write, kept: &Kept) -> io::Result<()> {
    writeln!(
        out,
        "kubeharden: {} file(s) checked, {} finding(s) ({} fixable), {} error(s), {} skipped",
        kept.reports,
        kept.counts.active(),
        kept.counts.fixable(),
        kept.errors.len(),
        kept.skipped
    )
}

/// GitLab's severities (info, minor, major, critical, blocker), one step above kubeharden's;
/// `info` for what the profile leaves to the user.
fn gitlab_severity(f: &ReportFinding) -> &'static str {
    if f.is_manual() {
        return "info";
    }
    match f.rule.severity {
        Severity::Critical => "blocker",
        Severity::High => "critical",
        Severity::Medium => "major",
        Severity::Low => "minor",
    }
}

/// A GitLab Code Quality report (a JSON array of issues), written file by file.
#[derive(Default)]
pub struct GitlabStream {
    issues: usize,
}

impl GitlabStream {
    pub fn begin(out: &mut dyn Write) -> io::Result<GitlabStream> {
        out.write_all(b"[")?;
        Ok(GitlabStream::default())
    }

    /// One file's issues. The fingerprint names the file, the rule and which of the file's
    /// findings of that rule it is (a kubeadm file fails a rule once per document), not the
    /// line: a finding keeps its fingerprint when lines above it come or go, so GitLab sees it
    /// as the same issue from one pipeline to the next.
    pub fn file(&mut self, out: &mut dyn Write, o: &Outcome, cwd: &Path) -> io::Result<()> {
        let Outcome::Report(r) = o else {
            return Ok(());
        };
        let path = repository_path(&r.path, cwd);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for f in in_order(&r.findings) {
            let n = seen.entry(f.rule.id.as_str()).or_default();
            *n += 1;
            let fingerprint = Sha256::digest(format!("kubeharden\0{path}\0{}\0{n}", f.rule.id));
            let issue = serde_json::json!({
                "type": "issue",
                "check_name": f.rule.id,
                "description": message(f),
                "categories": ["Security"],
                "severity": gitlab_severity(f),
                "fingerprint": fingerprint.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "location": {
                    "path": path,
                    "lines": { "begin": f.line, "end": f.end_line.max(f.line) },
                },
            });
            write_item(out, &issue, 2, &mut self.issues)?;
        }
        Ok(())
    }

    pub fn end(self, out: &mut dyn Write) -> io::Result<()> {
        if self.issues == 0 {
            writeln!(out, "]")
        } else {
            writeln!(out, "\n]")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_as_github_documents() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn suggestions_carried_out_give_the_new_text() {
        for (old, new) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\n", "a\nb\nx\ny\nc\n"),
            ("a\nb\n", "top\na\nb\n"),
            ("a\nb\n", "a\nb\nend\n"),
            ("a\r\nb\r\n", "a\r\nx\r\nb\r\n"),
            ("a\nb", "a\nb\nc"),
            ("a\nb\nc\nd\n", "a\nc\nd\n"),
            ("a\nb\nc\nd\ne\n", "A\nb\nc\nd\nE\nf\n"),
        ] {
            let all = suggestions(old, new);
            assert!(all.iter().all(|s| s.start >= 1 && s.start <= s.end));
            let refs: Vec<&Suggestion> = all.iter().collect();
            assert_eq!(applied(old, &refs), new, "{old:?} → {new:?}: {all:?}");
        }
    }

    #[test]
    fn fences_are_longer_than_the_backticks_inside() {
        assert_eq!(fence(&["a".into()]), "```");
        assert_eq!(fence(&["x ```` y".into()]), "`````");
    }

    #[test]
    fn paths_are_the_repository_s() {
        let cwd = Path::new("/repo");
        assert_eq!(repository_path("./m/a.yaml", cwd), "m/a.yaml");
        assert_eq!(repository_path("/repo/m/a.yaml", cwd), "m/a.yaml");
        assert_eq!(repository_path("m/../a.yaml", cwd), "a.yaml");
        assert_eq!(
            repository_path("/elsewhere/a.yaml", cwd),
            "/elsewhere/a.yaml"
        );
    }
}

/// One change of a file as a review comment: the lines of the file as it is that it replaces
/// (1-based, inclusive) and what replaces them.
#[derive(Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub start: usize,
    pub end: usize,
    pub lines: Vec<String>,
}

/// The changes of `old` into `new` as suggestions: each hunk of a diff without context, as
/// the lines it replaces and their replacement. A hunk that only adds lines replaces the line
/// above it (the first line, at the top of the file) with itself and the new lines, because a
/// suggestion replaces at least one line.
pub fn suggestions(old: &str, new: &str) -> Vec<Suggestion> {
    let diff = similar::TextDiff::from_lines(old, new);
    let line = |s: &str| s.trim_end_matches('\n').trim_end_matches('\r').to_string();
    // The lines as the diff counts them (each with its line break).
    let old_lines: Vec<String> = old.split_inclusive('\n').map(line).collect();
    let new_lines: Vec<String> = new.split_inclusive('\n').map(line).collect();
    let mut out = Vec::new();
    for hunk in diff.unified_diff().context_radius(0).iter_hunks() {
        let (Some(first), Some(last)) = (hunk.ops().first(), hunk.ops().last()) else {
            continue;
        };
        let (o0, o1) = (first.old_range().start, last.old_range().end);
        let (n0, n1) = (first.new_range().start, last.new_range().end);
        let mut lines: Vec<String> = new_lines[n0..n1].to_vec();
        let (start, end) = if o1 > o0 {
            (o0 + 1, o1)
        } else if o0 > 0 {
            lines.insert(0, old_lines[o0 - 1].clone());
            (o0, o0)
        } else if !old_lines.is_empty() {
            lines.push(old_lines[0].clone());
            (1, 1)
        } else {
            // A new file has no line to comment on.
            continue;
        };
        out.push(Suggestion { start, end, lines });
    }
    out
}

/// `old` with `suggestions` (of `old`, in its order, not overlapping) carried out, as GitHub
/// carries them out: each replaces its lines. New lines end as the file's lines end (CRLF in a
/// CRLF file); a replacement of the last line keeps it without a line break when it had none.
pub fn applied(old: &str, suggestions: &[&Suggestion]) -> String {
    let eol = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut out = String::with_capacity(old.len());
    let mut next = 1;
    for s in suggestions {
        for l in &lines[next - 1..s.start - 1] {
            out.push_str(l);
        }
        let last_has_eol = lines.get(s.end - 1).is_some_and(|l| l.ends_with('\n'));
        for (i, l) in s.lines.iter().enumerate() {
            out.push_str(l);
            if i + 1 < s.lines.len() || last_has_eol {
                out.push_str(eol);
            }
        }
        next = s.end + 1;
    }
    for l in lines.iter().skip(next - 1) {
        out.push_str(l);
    }
    out
}

/// A fence for a code block around `lines`: three backticks, or one more than the longest run
/// of backticks in them.
fn fence(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// A review for GitHub's pull request review API (`POST /repos/OWNER/REPO/pulls/N/reviews`):
/// a comment with a ```` ```suggestion ```` block per change on lines the pull request's diff
/// shows, and the other changes as patches in the review's body.
#[derive(Default)]
pub struct Review {
    comments: Vec<serde_json::Value>,
    elsewhere: Vec<String>,
    files: usize,
}

impl Review {
    /// Adds the changes of one file. `path` is the repository's name for it; `commentable`
    /// says whether a line of the file as it is can carry a comment (GitHub accepts comments
    /// only on the lines of a pull request's diff).
    pub fn file(
        &mut self,
        r: &crate::model::report::FileReport,
        path: &str,
        profile: &str,
        commentable: &dyn Fn(usize) -> bool,
    ) {
        let Some(edited) = r.edited.as_deref() else {
            return;
        };
        self.files += 1;
        let fixed: Vec<&ReportFinding> = r
            .findings
            .iter()
            .filter(|f| f.fixed && f.active())
            .collect();
        let all = suggestions(&r.original, edited);
        let (here, elsewhere): (Vec<&Suggestion>, Vec<&Suggestion>) =
            all.iter().partition(|s| (s.start..=s.end).all(commentable));
        if !elsewhere.is_empty() {
            // The changes a review cannot suggest, as a patch with context that `git apply`
            // takes, of the file as it is.
            let partial = applied(&r.original, &elsewhere);
            self.elsewhere
                .push(super::diff::diff_text(&r.original, &partial, path));
        }
        for s in here {
            let here: Vec<String> = fixed
                .iter()
                .filter(|f| (s.start..=s.end).contains(&f.line))
                .map(|f| {
                    let risk = f
                        .risky
                        .map(|a| {
                            format!("; risky: {}; make sure first: {}", a.risky, a.precondition)
                        })
                        .unwrap_or_default();
                    format!(
                        "- `{}`: {} ({} → {}){risk}",
                        f.rule.id, f.rule.title, f.current, f.desired
                    )
                })
                .collect();
            let why = if here.is_empty() {
                format!("Part of what `kubeharden fix --profile {profile}` changes in this file.")
            } else {
                format!(
                    "`kubeharden fix --profile {profile}` changes these lines:\n{}",
                    here.join("\n")
                )
            };
            let f = fence(&s.lines);
            let mut body = format!("{why}\n\n{f}suggestion\n");
            for l in &s.lines {
                body.push_str(l);
                body.push('\n');
            }
            body.push_str(&f);
            let mut c = serde_json::json!({
                "path": path,
                "line": s.end,
                "side": "RIGHT",
                "body": body,
            });
            if s.start < s.end {
                c["start_line"] = serde_json::json!(s.start);
                c["start_side"] = serde_json::json!("RIGHT");
            }
            self.comments.push(c);
        }
    }

    /// A change no suggestion can make (a file the fix creates), as a patch for the body.
    pub fn patch(&mut self, patch: String) {
        self.elsewhere.push(patch);
    }

    /// Writes the review as JSON.
    pub fn write(self, out: &mut dyn Write, profile: &str) -> io::Result<()> {
        let mut body = format!(
            "kubeharden diff --profile {profile}: {} suggestion(s) in {} file(s).",
            self.comments.len(),
            self.files
        );
        if !self.elsewhere.is_empty() {
            let patch = self.elsewhere.concat();
            let f = fence(&patch.lines().map(str::to_string).collect::<Vec<_>>());
            body.push_str(&format!(
                "\n\nThese changes cannot be suggestions (they are on lines this pull request does not change, or they create files); apply them with `git apply`:\n\n{f}diff\n{patch}{f}"
            ));
        }
        let review = serde_json::json!({
            "event": "COMMENT",
            "body": body,
            "comments": self.comments,
        });
        serde_json::to_writer_pretty(&mut *out, &review).map_err(io::Error::other)?;
        writeln!(out)
    }
}
