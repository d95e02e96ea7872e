//! The one-line messages of `diff` and `fix` on standard error, and `check`'s closing remark
//! on `--fail-on`: errors, notes, what is left for the user, and the files the node needs.

use crate::model::report::{one_line, FailOn, FileReport, Kept, Outcome};
use std::io::Write;

pub(crate) fn errors_to(stderr: &mut dyn Write, kept: &Kept) {
    if kept.only_skipped() {
        let _ = writeln!(
            stderr,
            "kubeharden: error: no control-plane manifest or kubelet configuration found among the inputs ({} skipped); hidden files and what .gitignore and .ignore files list are not read",
            kept.skipped
        );
    }
    for e in &kept.errors {
        let _ = writeln!(stderr, "kubeharden: error: {e}");
    }
}

/// Once per run: the releases among `versions` newer than the newest kubeharden knows, and how
/// they are judged.
pub(crate) fn newer_to(
    stderr: &mut dyn Write,
    versions: impl IntoIterator<Item = crate::profile::version::Version>,
    registry: &crate::profile::Registry,
) {
    let mut minors: Vec<u32> = versions.into_iter().map(|v| v.minor).collect();
    minors.sort_unstable();
    minors.dedup();
    for m in minors {
        if let Some(note) = registry.newer_note(crate::profile::version::Version::minor(m)) {
            let _ = writeln!(stderr, "kubeharden: note: {note}");
        }
    }
}

/// For diff and fix --output: the risky changes the output holds, each with what can go wrong
/// and what must hold first.
pub(crate) fn risky_to(stderr: &mut dyn Write, outcomes: &[Outcome]) {
    for o in outcomes {
        let Outcome::Report(r) = o else { continue };
        for f in r.findings.iter().filter(|f| f.fixed && f.active()) {
            if let Some(a) = f.risky {
                let _ = writeln!(
                    stderr,
                    "kubeharden: {}: risky change: {}: {}; make sure first: {}",
                    r.path, f.rule.id, a.risky, a.precondition
                );
            }
        }
    }
}

/// For diff and fix: a file's notes and the suppression comments that silence nothing.
/// Each on one line, whatever the file's text quoted in it holds.
pub(crate) fn notes_to(stderr: &mut dyn Write, r: &FileReport) {
    let path = one_line(&r.path);
    for n in &r.notes {
        let _ = writeln!(stderr, "kubeharden: {path}: note: {}", one_line(n));
    }
    for u in &r.unused_suppressions {
        let _ = writeln!(
            stderr,
            "kubeharden: {path}:{}:{}: note: {}",
            u.line,
            u.column,
            one_line(&u.message)
        );
    }
}

/// `check --fail-on`: how many findings are reported without failing the check, and why.
pub(crate) fn below_fail_on(
    out: &mut dyn Write,
    kept: &Kept,
    fail_on: FailOn,
) -> std::io::Result<()> {
    let (below, manual) = kept.counts.below(fail_on);
    if below > 0 {
        writeln!(
            out,
            "{below} finding(s) below --fail-on {} do not fail the check",
            fail_on.severity.as_str()
        )?;
    }
    if manual > 0 {
        writeln!(
            out,
            "{manual} manual finding(s) (left to you, with the reason) do not fail the check; --fail-on {},manual makes them",
            fail_on.severity.as_str()
        )?;
    }
    Ok(())
}

/// For diff and fix: the findings the change leaves for the user, with the reason.
pub(crate) fn left_over_to(stderr: &mut dyn Write, outcomes: &[Outcome]) {
    for o in outcomes {
        if let Outcome::Report(r) = o {
            for f in r.findings.iter().filter(|f| !f.fixed) {
                let why = f.manual.as_deref().unwrap_or("");
                let _ = writeln!(
                    stderr,
                    "kubeharden: {}: not changed: {}: {why}",
                    r.path, f.rule.id
                );
            }
        }
    }
}

pub(crate) fn required_files_to(stderr: &mut dyn Write, outcomes: &[Outcome]) {
    for o in outcomes {
        if let Outcome::Report(r) = o {
            for rf in &r.required_files {
                let what = if rf.directory { "directory" } else { "file" };
                let tmpl = rf
                    .template
                    .as_ref()
                    .map(|t| {
                        format!(
                            "; print it with `kubeharden profiles template {t} --kubernetes-version {}`",
                            r.version
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    stderr,
                    "kubeharden: {}: needs the {what} {} on the node (--{}{tmpl})",
                    r.path, rf.path, rf.flag
                );
            }
        }
    }
}
