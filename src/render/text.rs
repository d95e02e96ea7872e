//! The human report of `check`: a block per file, findings in file order, a summary line,
//! and a line per component when the run covers more than one.

use crate::model::report::{one_line, Kept, Outcome, ReportFinding, VersionSource};
use crate::profile::{Profile, Rule, Severity};
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};

/// Whether the report is written with colour codes: not when standard output takes no colour
/// (not a terminal, or NO_COLOR), instead of codes that a stream strips byte by byte.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    /// The style, or no style when the output takes no colour.
    fn styled(self, s: Style) -> Style {
        if self.color {
            s
        } else {
            Style::new()
        }
    }

    fn severity(self, s: Severity) -> Style {
        let color = match s {
            Severity::Critical | Severity::High => AnsiColor::Red,
            Severity::Medium => AnsiColor::Yellow,
            Severity::Low => AnsiColor::Cyan,
        };
        self.styled(Style::new().fg_color(Some(color.into())).bold())
    }
}

fn cis(rule: &Rule) -> String {
    if rule.cis.is_empty() {
        String::new()
    } else {
        format!(" [CIS {}]", rule.cis.join(", "))
    }
}

/// The human report, in colour as `paint` says.
pub fn text(
    out: &mut dyn Write,
    outcomes: &[Outcome],
    profile: &Profile,
    paint: Paint,
) -> io::Result<()> {
    let mut t = Tally::default();
    for o in outcomes {
        text_file(out, o, profile, paint, &mut t)?;
    }
    text_end(out, &Kept::of(outcomes), t, paint)
}

/// Writes the block of one file, and counts it.
pub fn text_file(
    out: &mut dyn Write,
    o: &Outcome,
    profile: &Profile,
    paint: Paint,
    t: &mut Tally,
) -> io::Result<()> {
    let bold = paint.styled(Style::new().bold());
    let dim = paint.styled(Style::new().dimmed());
    let Tally {
        findings,
        fixable,
        manual,
        errors,
        files,
        skipped,
        suppressed,
    } = t;
    match o {
        Outcome::Skipped { path, reason } => {
            *skipped += 1;
            writeln!(
                out,
                "{dim}{}: skipped: {}{dim:#}",
                visible(path),
                visible(reason)
            )?;
        }
        // Errors are the caller's to print, on standard error.
        Outcome::Error(_) => *errors += 1,
        Outcome::Report(r) => {
            *files += 1;
            writeln!(
                out,
                "{bold}{}{bold:#}: {} {} ({}), profile {}",
                visible(&r.path),
                r.component,
                r.version,
                match r.version_source {
                    VersionSource::Option => "from --kubernetes-version",
                    VersionSource::Node => "from a manifest of the same run",
                    VersionSource::Image => "from the image tag",
                    VersionSource::Config => "from kubernetesVersion",
                    VersionSource::Assumed => "assumed",
                },
                profile.name
            )?;
            // A note quotes the file at times: one line each all the same.
            for n in &r.notes {
                writeln!(out, "  note: {}", one_line(n))?;
            }
            for u in &r.unused_suppressions {
                writeln!(out, "  note: line {}: {}", u.line, one_line(&u.message))?;
            }
            let silenced = r.findings.iter().filter(|f| !f.active()).count();
            *suppressed += silenced;
            if silenced == r.findings.len() {
                writeln!(out, "  no findings")?;
            }
            // In file order, as a reader goes through the manifest.
            let mut ordered: Vec<_> = r.findings.iter().filter(|f| f.active()).collect();
            ordered.sort_by_key(|f| (f.line, f.column));
            for f in ordered {
                *findings += 1;
                if f.fixed {
                    *fixable += 1;
                }
                if f.is_manual() {
                    *manual += 1;
                }
                finding_to(out, f, paint)?;
            }
            if silenced > 0 {
                writeln!(
                    out,
                    "  {silenced} suppressed (by `# kubeharden: ignore` comments; --no-ignores shows them)"
                )?;
            }
            if !r.required_files.is_empty() {
                writeln!(out, "  files the fix needs on the node:")?;
                for rf in &r.required_files {
                    let what = if rf.directory {
                        "directory, created if missing"
                    } else {
                        "file"
                    };
                    let tmpl = rf
                        .template
                        .as_ref()
                        .map(|t| format!("; kubeharden template `{t}`"))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "    {} ({what}, --{}{tmpl})",
                        visible(&rf.path),
                        rf.flag
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The lines after the files' blocks: one per component when the run covers more than one (a
/// node scan), and the summary, from what the run kept of its files.
pub fn text_end(out: &mut dyn Write, kept: &Kept, t: Tally, paint: Paint) -> io::Result<()> {
    let bold = paint.styled(Style::new().bold());
    // One line per component when the run covers more than one (a node scan).
    let mut by_component: Vec<(&str, usize, usize, usize, usize)> = kept
        .components
        .iter()
        .map(|(c, files, failing, n)| (c.as_str(), *files, *failing, n.active(), n.fixable()))
        .collect();
    if by_component.len() > 1 {
        by_component.sort_by_key(|c| {
            crate::document::manifest::COMPONENTS
                .iter()
                .chain(std::iter::once(&crate::document::component::COMPONENT))
                .position(|x| *x == c.0)
                .unwrap_or(usize::MAX)
        });
        writeln!(
            out,
            "{bold}{:<24} {:>5} {:>13} {:>8} {:>7}{bold:#}",
            "component", "files", "with findings", "findings", "fixable"
        )?;
        for (c, n, failing, f, fx) in &by_component {
            writeln!(out, "{c:<24} {n:>5} {failing:>13} {f:>8} {fx:>7}")?;
        }
    }
    let suppressed = if t.suppressed > 0 {
        format!(", {} suppressed", t.suppressed)
    } else {
        String::new()
    };
    let manual = if t.manual > 0 {
        format!(", {} manual", t.manual)
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} file(s) checked, {} finding(s) ({} fixable{manual}), {} error(s), {} skipped{suppressed}",
        t.files, t.findings, t.fixable, t.errors, t.skipped
    )
}

/// What the summary line counts.
#[derive(Default)]
pub struct Tally {
    findings: usize,
    fixable: usize,
    manual: usize,
    errors: usize,
    files: usize,
    skipped: usize,
    suppressed: usize,
}

/// Text from the files shown on a terminal without its control characters acting on it:
/// control characters other than newline and tab (escape sequences that could retitle the
/// terminal, move the cursor or hide lines of the diff) are shown as `\x1b`, not sent.
pub fn visible(text: &str) -> String {
    // Most text has no control characters at all: C0 and DEL are single bytes, and C1
    // (U+0080–U+009F) is encoded as 0xC2 followed by 0x80–0x9F.
    let plain = |b: &u8| (*b >= 0x20 && *b != 0x7f && *b != 0xc2) || *b == b'\n' || *b == b'\t';
    if text.as_bytes().iter().all(plain) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One finding: where, what and what it should be; the rule and whether it is fixable, and for a
/// risky fix what can go wrong and what must hold first.
fn finding_to(out: &mut dyn Write, f: &ReportFinding, paint: Paint) -> io::Result<()> {
    let dim = paint.styled(Style::new().dimmed());
    let sev = paint.severity(f.rule.severity);
    writeln!(
        out,
        "  {}:{:<4} {sev}{:<8}{sev:#} {}{}: {} → {}",
        f.line,
        f.column,
        f.rule.severity.as_str(),
        f.rule.id,
        cis(f.rule),
        visible(&f.current),
        visible(&f.desired)
    )?;
    let how = match (f.fixed, f.risky, &f.on_node) {
        (false, _, Some(Err(_))) => "manual: its precondition fails on this node",
        (true, _, Some(Ok(_))) => "fixable, safe: checked on this node",
        (true, Some(_), _) => "fixable, risky",
        (true, None, _) => "fixable, safe",
        (false, _, _) if f.overridden_by.is_some() => {
            "not fixed: a flag of the kubelet's command line overrides it"
        }
        (false, _, _) if f.blocked => "not fixed: kubeharden cannot change this file",
        (false, _, _) => "manual: left to you",
    };
    writeln!(out, "         {dim}{} ({how}){dim:#}", f.rule.title)?;
    if let Some(o) = &f.overridden_by {
        writeln!(out, "         {dim}set by: {}{dim:#}", visible(&o.at()))?;
    }
    // Why not, unless the node's reading below says it.
    if let (false, Some(why), None) = (f.fixed, &f.manual, &f.on_node) {
        writeln!(out, "         {dim}why: {}{dim:#}", visible(why))?;
    }
    match &f.on_node {
        Some(Ok(what)) => writeln!(
            out,
            "         {dim}checked on this node: {}{dim:#}",
            visible(what)
        )?,
        Some(Err(why)) => writeln!(out, "         {dim}on this node: {}{dim:#}", visible(why))?,
        None => {}
    }
    if let (true, Some(a)) = (f.fixed, f.risky) {
        writeln!(out, "         {dim}risky: {}{dim:#}", visible(&a.risky))?;
        writeln!(
            out,
            "         {dim}make sure first: {}{dim:#}",
            visible(&a.precondition)
        )?;
    }
    Ok(())
}
