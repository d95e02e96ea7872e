//! Renderers: pure functions of a report and a writer.

use crate::check::{setting, setting_is};
use crate::engine::{FileError, FileReport};
use crate::plan::Change;
use crate::profile::{Profile, Rule, Severity};
use anstyle::{AnsiColor, Style};
use serde::Serialize;
use std::io::{self, Write};

/// The JSON report's schema version; see docs/json-output.md.
pub const SCHEMA_VERSION: u32 = 1;

/// One input's outcome.
pub enum Outcome<'p> {
    Report(Box<FileReport<'p>>),
    Error(FileError),
    /// A file inside a directory that is not a kube-apiserver manifest.
    Skipped {
        path: String,
        reason: String,
    },
}

/// Set when standard output takes no colour (not a terminal, or NO_COLOR): the text report is
/// then written without escape codes, instead of with codes that a stream strips byte by byte.
static PLAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes the text report without colour codes from now on.
pub fn set_plain(plain: bool) {
    PLAIN.store(plain, std::sync::atomic::Ordering::Relaxed);
}

/// The style, or no style when the output takes no colour.
fn styled(s: Style) -> Style {
    if PLAIN.load(std::sync::atomic::Ordering::Relaxed) {
        Style::new()
    } else {
        s
    }
}

fn severity_style(s: Severity) -> Style {
    let color = match s {
        Severity::Critical | Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low => AnsiColor::Cyan,
    };
    styled(Style::new().fg_color(Some(color.into())).bold())
}

fn cis(rule: &Rule) -> String {
    if rule.cis.is_empty() {
        String::new()
    } else {
        format!(" [CIS {}]", rule.cis.join(", "))
    }
}

/// Text from the files shown on a terminal without its control characters acting on it.
fn visible(s: &str) -> String {
    crate::prompt::visible(s)
}

/// Human report. Colour codes are written unless [`set_plain`] said not to; the caller's
/// stream strips them when the output is not a terminal or NO_COLOR is set.
pub fn text(out: &mut dyn Write, outcomes: &[Outcome], profile: &Profile) -> io::Result<()> {
    let bold = styled(Style::new().bold());
    // The files' blocks are rendered on every core, in batches of neighbouring files (which
    // bounds what is held), and written in order.
    const BATCH: usize = 2048;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t = Tally::default();
    for batch in outcomes.chunks(BATCH) {
        let per = batch.len().div_ceil(workers).max(64);
        let rendered: Vec<io::Result<(Vec<u8>, Tally)>> = if per >= batch.len() {
            vec![blocks(batch, profile)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .chunks(per)
                    .map(|run| scope.spawn(move || blocks(run, profile)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(io::Error::other("rendering failed")))
                    })
                    .collect()
            })
        };
        for r in rendered {
            let (bytes, part) = r?;
            out.write_all(&bytes)?;
            t.add(&part);
        }
    }
    let Tally {
        findings,
        fixable,
        errors,
        files,
        skipped,
        suppressed,
    } = t;
    // One line per component when the run covers more than one (a node scan).
    let mut by_component: Vec<(&str, usize, usize, usize, usize)> = Vec::new();
    for o in outcomes {
        if let Outcome::Report(r) = o {
            let n = r.findings.iter().filter(|f| f.active()).count();
            let fixed = r.findings.iter().filter(|f| f.active() && f.fixed).count();
            let failing = usize::from(n > 0);
            match by_component.iter_mut().find(|c| c.0 == r.component) {
                Some(c) => {
                    c.1 += 1;
                    c.2 += failing;
                    c.3 += n;
                    c.4 += fixed;
                }
                None => by_component.push((&r.component, 1, failing, n, fixed)),
            }
        }
    }
    if by_component.len() > 1 {
        by_component.sort_by_key(|c| {
            crate::manifest::COMPONENTS
                .iter()
                .chain(std::iter::once(&crate::kubelet::COMPONENT))
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
    let suppressed = if suppressed > 0 {
        format!(", {suppressed} suppressed")
    } else {
        String::new()
    };
    writeln!(
        out,
        "{files} file(s) checked, {findings} finding(s) ({fixable} fixable with `kubeharden fix`), {errors} error(s), {skipped} skipped{suppressed}"
    )
}

/// What the summary line counts.
#[derive(Default)]
struct Tally {
    findings: usize,
    fixable: usize,
    errors: usize,
    files: usize,
    skipped: usize,
    suppressed: usize,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.findings += other.findings;
        self.fixable += other.fixable;
        self.errors += other.errors;
        self.files += other.files;
        self.skipped += other.skipped;
        self.suppressed += other.suppressed;
    }
}

/// The text blocks of a run of files, and what they count.
fn blocks(outcomes: &[Outcome], profile: &Profile) -> io::Result<(Vec<u8>, Tally)> {
    let mut buf = Vec::with_capacity(outcomes.len() * 1024);
    let out = &mut buf;
    let bold = styled(Style::new().bold());
    let dim = styled(Style::new().dimmed());
    let mut t = Tally::default();
    let Tally {
        findings,
        fixable,
        errors,
        files,
        skipped,
        suppressed,
    } = &mut t;
    for o in outcomes {
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
                        crate::engine::VersionSource::Option => "from --kubernetes-version",
                        crate::engine::VersionSource::Node => "from a manifest of the same run",
                        crate::engine::VersionSource::Image => "from the image tag",
                        crate::engine::VersionSource::Config => "from kubernetesVersion",
                        crate::engine::VersionSource::Assumed => "assumed",
                    },
                    profile.name
                )?;
                // A note quotes the file at times: one line each all the same.
                for n in &r.notes {
                    writeln!(out, "  note: {}", crate::engine::one_line(n))?;
                }
                for u in &r.unused_suppressions {
                    writeln!(
                        out,
                        "  note: line {}: {}",
                        u.line,
                        crate::engine::one_line(&u.message)
                    )?;
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
                    let sev = severity_style(f.rule.severity);
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
                    let how = if f.fixed {
                        "fixable".to_string()
                    } else {
                        "not fixed, see `kubeharden explain`".to_string()
                    };
                    writeln!(out, "         {dim}{} ({how}){dim:#}", f.rule.title)?;
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
    }
    Ok((buf, t))
}

/// SARIF 2.1.0 (`check --format sarif`): see [`crate::sarif`].
pub fn sarif(
    out: &mut dyn Write,
    outcomes: &[Outcome],
    profile: &Profile,
    ctx: &crate::sarif::Context,
) -> io::Result<()> {
    crate::sarif::write(out, outcomes, profile, ctx)
}

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

// ---------------------------------------------------------------- JSON (schema version 1)

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool: JsonTool,
    profile: &'a str,
    files: Vec<JsonFile<'a>>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonTool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonSummary {
    files: usize,
    findings: usize,
    fixable: usize,
    errors: usize,
    skipped: usize,
    suppressed: usize,
}

#[derive(Serialize)]
struct JsonError<'a> {
    message: &'a str,
    line: Option<usize>,
    column: Option<usize>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_reason: Option<&'a str>,
    component: Option<&'a str>,
    kubernetes_version: Option<String>,
    version_source: Option<&'static str>,
    notes: Vec<&'a str>,
    findings: Vec<JsonFinding<'a>>,
    changes: Vec<JsonChange<'a>>,
    required_files: Vec<JsonRequiredFile<'a>>,
    unused_suppressions: Vec<JsonUnused<'a>>,
}

#[derive(Serialize)]
struct JsonSuppressed<'a> {
    reason: &'a str,
    line: usize,
    column: usize,
}

#[derive(Serialize)]
struct JsonUnused<'a> {
    kind: &'static str,
    rule_id: Option<&'a str>,
    line: usize,
    column: usize,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    title: &'a str,
    severity: &'static str,
    cis: &'a [String],
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    current: &'a str,
    desired: &'a str,
    rationale: &'a str,
    risk: &'a str,
    fixable: bool,
    manual: Option<&'a str>,
    docs: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<JsonSuppressed<'a>>,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    kind: &'static str,
    rules: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<JsonVolume<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonVolume<'a> {
    name: &'a str,
    host_path: Option<&'a str>,
    mount_path: &'a str,
    read_only: bool,
}

#[derive(Serialize)]
struct JsonRequiredFile<'a> {
    flag: &'a str,
    path: &'a str,
    directory: bool,
    template: Option<&'a str>,
}

fn json_change(p: &crate::plan::Planned) -> JsonChange<'_> {
    let mut c = JsonChange {
        kind: "",
        rules: &p.rules,
        flag: None,
        before: p.before.as_deref(),
        after: None,
        volume: None,
        probe: None,
    };
    match &p.change {
        Change::SetFlag { flag, value } => {
            c.kind = "set_flag";
            c.flag = Some(flag);
            c.after = Some(value);
        }
        Change::RemoveFlag { flag } => {
            c.kind = "remove_flag";
            c.flag = Some(flag);
        }
        Change::AddVolume { volume, mount } => {
            c.kind = "add_volume";
            c.volume = Some(JsonVolume {
                name: &volume.name,
                host_path: volume.host_path.as_deref(),
                mount_path: &mount.mount_path,
                read_only: mount.read_only,
            });
        }
        Change::ProbeToTcp { probe } => {
            c.kind = "probe_to_tcp";
            c.probe = Some(probe);
        }
        Change::JoinFlag { flag } => {
            c.kind = "join_flag";
            c.flag = Some(flag);
        }
    }
    c
}

pub fn json(out: &mut dyn Write, outcomes: &[Outcome], profile: &Profile) -> io::Result<()> {
    let mut files = Vec::new();
    let mut summary = JsonSummary {
        files: 0,
        findings: 0,
        fixable: 0,
        errors: 0,
        skipped: 0,
        suppressed: 0,
    };
    for o in outcomes {
        let empty = |path, status| JsonFile {
            path,
            status,
            error: None,
            skipped_reason: None,
            component: None,
            kubernetes_version: None,
            version_source: None,
            notes: vec![],
            findings: vec![],
            changes: vec![],
            required_files: vec![],
            unused_suppressions: vec![],
        };
        match o {
            Outcome::Skipped { path, reason } => {
                summary.skipped += 1;
                let mut f = empty(path, "skipped");
                f.skipped_reason = Some(reason);
                files.push(f);
            }
            Outcome::Error(e) => {
                summary.errors += 1;
                let mut f = empty(&e.path, "error");
                f.error = Some(JsonError {
                    message: &e.message,
                    line: e.line_col.map(|x| x.0),
                    column: e.line_col.map(|x| x.1),
                });
                files.push(f);
            }
            Outcome::Report(r) => {
                summary.files += 1;
                let active = r.findings.iter().filter(|f| f.active());
                summary.findings += active.clone().count();
                summary.fixable += active.filter(|f| f.fixed).count();
                summary.suppressed += r.findings.iter().filter(|f| !f.active()).count();
                let mut f = empty(&r.path, "ok");
                f.component = Some(&r.component);
                f.kubernetes_version = Some(r.version.to_string());
                f.version_source = Some(r.version_source.as_str());
                f.notes = r.notes.iter().map(String::as_str).collect();
                f.findings = r
                    .findings
                    .iter()
                    .map(|x| JsonFinding {
                        rule_id: &x.rule.id,
                        title: &x.rule.title,
                        severity: x.rule.severity.as_str(),
                        cis: &x.rule.cis,
                        line: x.line,
                        column: x.column,
                        end_line: x.end_line,
                        end_column: x.end_column,
                        current: &x.current,
                        desired: &x.desired,
                        rationale: &x.rule.rationale,
                        risk: &x.rule.risk,
                        fixable: x.fixed,
                        manual: x.manual.as_deref(),
                        docs: format!("docs/rules.md#{}", x.rule.id),
                        suppressed: x.suppressed.as_ref().map(|s| JsonSuppressed {
                            reason: &s.reason,
                            line: s.line,
                            column: s.column,
                        }),
                    })
                    .collect();
                f.unused_suppressions = r
                    .unused_suppressions
                    .iter()
                    .map(|u| JsonUnused {
                        kind: u.kind.as_str(),
                        rule_id: u.rule_id.as_deref(),
                        line: u.line,
                        column: u.column,
                        message: &u.message,
                    })
                    .collect();
                f.changes = r.changes.iter().map(json_change).collect();
                f.required_files = r
                    .required_files
                    .iter()
                    .map(|x| JsonRequiredFile {
                        flag: &x.flag,
                        path: &x.path,
                        directory: x.directory,
                        template: x.template.as_deref(),
                    })
                    .collect();
                files.push(f);
            }
        }
    }
    let report = JsonReport {
        schema_version: SCHEMA_VERSION,
        tool: JsonTool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        profile: &profile.name,
        files,
        summary,
    };
    serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::other)?;
    writeln!(out)
}

pub fn profile_show(out: &mut dyn Write, p: &Profile) -> io::Result<()> {
    match p.lineage.split_last() {
        Some((_, parents)) if !parents.is_empty() => {
            writeln!(out, "{} (extends {})", p.name, parents.join(" → "))?
        }
        _ => writeln!(out, "{}", p.name)?,
    }
    writeln!(out, "{}", p.description)?;
    writeln!(out)?;
    writeln!(out, "parameters:")?;
    for (k, v) in &p.parameters {
        writeln!(out, "  {k}: {v}")?;
    }
    writeln!(out)?;
    writeln!(out, "rules ({}):", p.rules.len())?;
    for r in &p.rules {
        let how = if r.fix.is_empty() { "report" } else { "fix" };
        writeln!(
            out,
            "  {:<48} {:<8} {:<6} {:<16} {}",
            r.id,
            r.severity.as_str(),
            how,
            r.versions.to_string(),
            r.cis.join(",")
        )?;
    }
    if !p.files.is_empty() {
        writeln!(out)?;
        writeln!(out, "supporting files:")?;
        for f in &p.files {
            writeln!(
                out,
                "  --{} → template {}: {}",
                f.flag, f.template, f.description
            )?;
        }
    }
    Ok(())
}

/// One step of a rule's fix in words, for the rule documentation.
pub(crate) fn describe_step(step: &crate::profile::Step) -> String {
    use crate::profile::{ProbeFix, Step};
    match step {
        Step::Set { flag, value } => format!("set `{}`", setting_is(flag, value)),
        Step::SetFrom { flag, from } => {
            format!(
                "set `{}` to the value of `{}`",
                setting(flag),
                setting(from)
            )
        }
        Step::MountFiles => {
            "add hostPath volumes and mounts for the files flags name that no mount makes visible"
                .to_string()
        }
        Step::JoinSplit => "write each `--flag value` pair as `--flag=value`".to_string(),
        Step::Remove { flag } => format!("remove `{}`", setting(flag)),
        Step::AddToList { flag, items } => format!(
            "add {} to `{}` (only names the version has)",
            items.join(", "),
            setting(flag)
        ),
        Step::RemoveFromList { flag, items } => {
            format!("remove {} from `{}`", items.join(", "), setting(flag))
        }
        Step::RemoveKeys { flag, keys } => {
            format!(
                "remove the {} entries from `{}`",
                keys.join(", "),
                setting(flag)
            )
        }
        Step::Probes(ProbeFix::TcpSocket) => {
            "turn HTTP GET probes into TCP socket probes on the same host and port".to_string()
        }
        Step::Dedupe => {
            "keep one occurrence of each repeated single-valued flag, with the value in effect"
                .to_string()
        }
        Step::RemoveRemoved => {
            "remove the flags, admission plugins and feature gates the version no longer accepts"
                .to_string()
        }
    }
}

/// One planned change in words, for prompts and summaries.
pub fn describe_change(p: &crate::plan::Planned) -> String {
    match &p.change {
        Change::SetFlag { flag, value } => match &p.before {
            Some(b) => format!("set {} (was {b})", setting_is(flag, value)),
            None => format!("set {}", setting_is(flag, value)),
        },
        Change::RemoveFlag { flag } => match &p.before {
            Some(b) if !b.is_empty() => format!("remove {} (was {b})", setting(flag)),
            _ => format!("remove {}", setting(flag)),
        },
        Change::AddVolume { volume, mount } => format!(
            "mount {} from the node at {}{} (volume {})",
            volume.host_path.as_deref().unwrap_or("?"),
            mount.mount_path,
            if mount.read_only {
                ", read-only"
            } else {
                ", writable"
            },
            volume.name
        ),
        Change::ProbeToTcp { probe } => {
            format!("turn the {probe} into a TCP socket probe on the same host and port")
        }
        Change::JoinFlag { flag } => format!("write --{flag} VALUE as --{flag}=VALUE"),
    }
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

#[cfg(test)]
mod tests {
    use super::{diff_path, text, Outcome};
    use crate::engine::{FileReport, VersionSource};

    #[test]
    fn a_note_quoting_the_file_stays_on_one_line() {
        let registry = crate::profile::Registry::builtin().expect("registry");
        let profile = crate::profile::Profile::load("baseline", &registry).expect("profile");
        let report = FileReport {
            path: "m.yaml".into(),
            component: "kube-apiserver".into(),
            version: registry.newest(),
            version_source: VersionSource::Assumed,
            notes: vec!["the value `a\nkubeharden: forged` is odd".into()],
            findings: Vec::new(),
            changes: Vec::new(),
            required_files: Vec::new(),
            original: String::new(),
            edited: None,
            kubeadm: false,
            needs_probe_patch: false,
            unused_suppressions: Vec::new(),
        };
        let mut out = Vec::new();
        text(&mut out, &[Outcome::Report(Box::new(report))], &profile).expect("rendered");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains("  note: the value `a\\nkubeharden: forged` is odd\n"),
            "{out}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("kubeharden: forged")),
            "{out}"
        );
    }

    #[test]
    fn diff_paths_are_what_git_apply_takes() {
        assert_eq!(diff_path("./kube-apiserver.yaml"), "kube-apiserver.yaml");
        assert_eq!(
            diff_path("/etc/kubernetes/manifests/kube-apiserver.yaml"),
            "etc/kubernetes/manifests/kube-apiserver.yaml"
        );
        assert_eq!(diff_path("m/../m/sub/./a.yaml"), "m/sub/a.yaml");
        assert_eq!(diff_path("../x/a.yaml"), "../x/a.yaml");
    }
}
