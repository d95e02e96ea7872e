//! The findings where reviewers read them: `check --format github`, workflow commands that a
//! GitHub Actions run turns into annotations on the lines of a pull request, and
//! `check --format gitlab`, a GitLab Code Quality report. docs/review.md describes both.

use super::json::indented;
use crate::model::report::{Kept, Outcome, ReportFinding};
use crate::profile::Severity;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// A report's path as the repository names it: relative to the directory kubeharden runs in
/// (a workflow runs in the repository's root), without `./`; an absolute path outside it stays
/// absolute.
pub(crate) fn repository_path(path: &str, cwd: &Path) -> String {
    let p = Path::new(path);
    let rel = if p.is_absolute() {
        p.strip_prefix(cwd).unwrap_or(p)
    } else {
        p
    };
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out.to_string_lossy().into_owned()
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
        (_, true) => text.push_str(" (kubeharden fix makes the change)"),
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
            let text = serde_json::to_string_pretty(&issue).map_err(io::Error::other)?;
            let sep = if self.issues == 0 { "\n" } else { ",\n" };
            self.issues += 1;
            write!(out, "{sep}{}", indented(&text, 2, true))?;
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
