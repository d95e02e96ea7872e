//! `check --format sarif`: one SARIF 2.1.0 log with one run, for code-scanning services.
//!
//! Section numbers (§) refer to the OASIS standard "Static Analysis Results Interchange Format
//! (SARIF) Version 2.1.0" (sarif-v2.1.0-os). docs/sarif.md describes the output.
//!
//! - `tool.driver.rules` holds every rule of the profile in use, in the profile's order;
//!   results point into it by `ruleIndex` (§3.27.6).
//! - Locations are relative URIs under the base id `%SRCROOT%`, the directory kubeharden runs
//!   in (§3.4.4, §3.14.14); columns count Unicode code points (§3.14.27), as the text output's
//!   do, and a region's end is the position after its last character (§3.30.8).
//! - Fixes (§3.55) are line replacements computed from the original and the verified edited
//!   text: one fix holding all of a file's replacements, attached to each fixable finding of the
//!   file, because kubeharden verifies the changes of a file together, not rule by rule.
//! - Errors, skipped files, notes and suppression comments that silence nothing are
//!   notifications of the invocation (§3.20.21, §3.58).

use super::json::write_item;
use crate::model::report::{FileReport, Outcome, ReportFinding};
use crate::profile::{Profile, Rule, Severity};
use serde_json::{json, Value};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// §3.13.2: the only value for SARIF 2.1.0.
pub(crate) const VERSION: &str = "2.1.0";
/// §3.13.3: where the JSON schema of this version of the format is published.
pub(crate) const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json";
/// The URI base id of the files (§3.4.4): the directory kubeharden ran in.
pub const SRCROOT: &str = "%SRCROOT%";

/// The notification descriptors of `tool.driver.notifications` (§3.19.24), in this order;
/// notifications refer to them by id and index (§3.58.2, §3.52).
const NOTIFICATIONS: [(&str, &str); 5] = [
    (
        "kubeharden-file-error",
        "A file could not be read, parsed or checked",
    ),
    (
        "kubeharden-file-skipped",
        "A file in a directory is not a control-plane manifest or configuration",
    ),
    ("kubeharden-file-note", "Something to know about a file"),
    (
        "kubeharden-unused-suppression",
        "A suppression comment silences nothing",
    ),
    (
        "kubeharden-invalid-suppression",
        "A suppression comment is ignored: no reason, not understood, or misplaced",
    ),
];

/// What the log needs beyond the outcomes.
pub struct Context<'a> {
    /// The directory file URIs are relative to (the current directory).
    pub cwd: &'a Path,
    /// A path as the file system resolves it (symbolic links followed), when it can.
    pub real: &'a (dyn Fn(&Path) -> Option<PathBuf> + Sync),
    /// Suppression comments were read (not `--no-ignores`): every result then carries a
    /// `suppressions` array, empty when it is not suppressed (§3.27.23).
    pub ignores: bool,
    /// A run with nothing to check is fine (`--skip-unrecognized`): said as a note.
    pub nothing_is_fine: bool,
}

/// §3.27.10, §3.50.3: critical and high are errors, medium warnings, low notes.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning's `security-severity` property (a CVSS-like score as a string).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// A readable rule name (§3.49.7): the id in CamelCase, `apiserver-profiling` →
/// `ApiserverProfiling`.
pub(crate) fn camel(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A rule as a reportingDescriptor (§3.49). There is no absolute URI for the documentation, so
/// `helpUri` (§3.49.12, an absolute URI) is left out and `help` (§3.49.13) says where it is.
fn rule_descriptor(r: &Rule, benchmark: &str) -> Value {
    let docs = format!("docs/rules.md#{}", r.id);
    let cis = if r.cis.is_empty() {
        "none (a kubeharden safety rule)".to_string()
    } else {
        r.cis.join(", ")
    };
    // The same words twice: plain, and in Markdown with the headings in bold.
    let say = |b: &str, link: &str| {
        format!(
            "{b}{}{b}\n\n{b}Why:{b} {}\n\n{b}Risk:{b} {}\n\n{b}CIS ({benchmark}):{b} {cis}\n\n{b}Severity:{b} {}\n\nDocumentation: {link} in the kubeharden sources; `kubeharden explain {}` prints it.",
            r.title,
            r.rationale,
            r.risk,
            r.severity.as_str(),
            r.id
        )
    };
    let text = say("", &docs);
    let markdown = say("**", &format!("[`{docs}`]({docs})"));
    json!({
        "id": r.id,
        "name": camel(&r.id),
        "shortDescription": { "text": r.title },
        "fullDescription": { "text": r.rationale },
        "help": { "text": text, "markdown": markdown },
        "defaultConfiguration": { "level": level(r.severity) },
        "properties": {
            "cis": r.cis,
            "cis_benchmark": benchmark,
            "severity": r.severity.as_str(),
            "component": r.component,
            "docs": docs,
            // Tags are unique (§3.8.2); the CIS ids are a classification, so they are a
            // property of their own, not tags.
            "tags": ["security", "kubernetes", r.component],
            "security-severity": security_severity(r.severity),
        },
    })
}

/// `path` lexically normalised: no `.` components, `..` resolved where possible.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Percent-encodes a path component for a URI (RFC 3986 §2.1): everything but the
/// unreserved characters.
fn encode(component: &str) -> String {
    let mut s = String::new();
    for b in component.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn encode_path(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(encode(&n.to_string_lossy())),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The artifactLocation (§3.4) of a file as given on the command line: a relative reference
/// under `%SRCROOT%` when the file is inside `cwd` (§3.4.3, §3.4.4), else an absolute `file`
/// URI without a base id (§3.4.4, §3.10.2).
pub(crate) fn artifact_location(
    path: &str,
    cwd: &Path,
    real: &dyn Fn(&Path) -> Option<PathBuf>,
) -> Value {
    // `..` after a symbolic link leads where the link's target says, not where the text says:
    // such a path is resolved on the file system first.
    let resolved;
    let p = if Path::new(path)
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        match real(Path::new(path)) {
            Some(r) => {
                resolved = r;
                resolved.as_path()
            }
            None => Path::new(path),
        }
    } else {
        Path::new(path)
    };
    let cwd_real;
    let cwd = if p.is_absolute() && !p.starts_with(cwd) {
        match real(cwd) {
            Some(c) => {
                cwd_real = c;
                cwd_real.as_path()
            }
            None => cwd,
        }
    } else {
        cwd
    };
    let abs = lexical(&if p.is_absolute() || cwd.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    });
    if !abs.is_absolute() {
        return json!({ "uri": encode_path(&abs), "uriBaseId": SRCROOT });
    }
    match abs.strip_prefix(lexical(cwd)) {
        Ok(rel) if !cwd.as_os_str().is_empty() && !rel.as_os_str().is_empty() => {
            json!({ "uri": encode_path(rel), "uriBaseId": SRCROOT })
        }
        _ => json!({ "uri": format!("file:///{}", encode_path(&abs)) }),
    }
}

/// A text region by lines and columns (§3.30.2, §3.30.5–§3.30.8).
fn region(line: usize, column: usize, end_line: usize, end_column: usize) -> Value {
    json!({
        "startLine": line,
        "startColumn": column,
        "endLine": end_line,
        "endColumn": end_column,
    })
}

/// The line and column of byte `offset` of `text` for a region's start or end (§3.30.2). The
/// end of a text that ends with a line break is the column after that break on the last line
/// (§3.30.2, the insertion point after the last character), not a line after it.
fn position(text: &str, offset: usize) -> (usize, usize) {
    if offset == text.len() && offset > 0 && text.ends_with('\n') {
        let body = &text[..offset - 1];
        let start = body.rfind('\n').map_or(0, |i| i + 1);
        let line = body.matches('\n').count() + 1;
        return (line, text[start..].chars().count() + 1);
    }
    crate::yaml::line_col(text, offset)
}

/// One replacement: the byte range of the original text it deletes and the text it inserts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub inserted: String,
}

/// The minimal whole-line replacements that turn `old` into `new`.
pub fn line_replacements(old: &str, new: &str) -> Vec<Replacement> {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let starts = |lines: &[&str]| {
        let mut v = Vec::with_capacity(lines.len() + 1);
        let mut o = 0;
        v.push(0);
        for l in lines {
            o += l.len();
            v.push(o);
        }
        v
    };
    let old_at = starts(&old_lines);
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old_lines, &new_lines);
    let mut out: Vec<Replacement> = Vec::new();
    for op in ops {
        let (o, n) = (op.old_range(), op.new_range());
        if matches!(op, similar::DiffOp::Equal { .. }) {
            continue;
        }
        let inserted: String = new_lines[n].concat();
        let (start, end) = (old_at[o.start], old_at[o.end]);
        match out.last_mut() {
            // Adjacent changes (a deletion next to an insertion) are one replacement.
            Some(last) if last.end == start => {
                last.end = end;
                last.inserted.push_str(&inserted);
            }
            _ => out.push(Replacement {
                start,
                end,
                inserted,
            }),
        }
    }
    out
}

/// The replacement objects (§3.57) of `line_replacements`.
fn replacements(old: &str, new: &str) -> Vec<Value> {
    line_replacements(old, new)
        .into_iter()
        .map(|r| {
            let (l, c) = position(old, r.start);
            let (el, ec) = position(old, r.end);
            let mut v = json!({ "deletedRegion": region(l, c, el, ec) });
            // §3.57.4: absent insertedContent inserts nothing.
            if !r.inserted.is_empty() {
                v["insertedContent"] = json!({ "text": r.inserted });
            }
            v
        })
        .collect()
}

/// The fix (§3.55) of a file: every replacement `kubeharden fix` makes, or `None`.
fn file_fix(r: &FileReport, location: &Value, profile: &Profile) -> Option<Value> {
    let edited = r.edited.as_deref()?;
    // Positions do not count a byte-order mark (§3.30.2); the edit keeps it.
    let strip = |t: &'_ str| t.strip_prefix('\u{feff}').unwrap_or(t).to_string();
    let (old, new) = (strip(&r.original), strip(edited));
    let reps = replacements(&old, &new);
    if reps.is_empty() {
        return None;
    }
    Some(json!({
        "description": {
            "text": format!(
                "Every change `kubeharden fix --profile {}` makes to this file, verified together; the same fix is attached to each fixable finding of the file, so apply it once.",
                profile.name
            )
        },
        "artifactChanges": [{ "artifactLocation": location, "replacements": reps }],
    }))
}

fn result(
    f: &ReportFinding,
    r: &FileReport,
    rule_index: usize,
    location: &Value,
    fix: Option<&Value>,
    ctx: &Context,
) -> Value {
    let mut text = format!("{}: {} → {}", f.rule.title, f.current, f.desired);
    if let (false, Some(m)) = (f.fixed, &f.manual) {
        if f.active() {
            text.push_str(&format!(". Not fixed automatically: {m}"));
        }
    }
    let mut v = json!({
        "ruleId": f.rule.id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level(f.rule.severity),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": location,
                "region": region(f.line, f.column, f.end_line, f.end_column),
            }
        }],
        "properties": {
            "fixable": f.fixed,
            "status": f.status(),
            "applicability": if f.risky.is_some() { "risky" } else { "safe" },
            "component": f.rule.component,
            "kubernetesVersion": r.version.to_string(),
            "versionSource": r.version_source.as_str(),
        },
    });
    if let Some(a) = f.risky {
        v["properties"]["riskyBecause"] = json!(a.risky);
        v["properties"]["precondition"] = json!(a.precondition);
    }
    if let Some(r) = &f.on_node {
        let (holds, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        v["properties"]["onNode"] = json!({ "holds": holds, "detail": detail });
    }
    if let Some(o) = &f.overridden_by {
        // §3.27.22: where the flag that decides the setting is written.
        v["relatedLocations"] = json!([{
            "id": 0,
            "message": { "text": format!("{} overrides {}", o.written, o.setting) },
            "physicalLocation": {
                "artifactLocation": {
                    "uri": format!("file:///{}", encode_path(Path::new(&o.file)))
                },
                "region": { "startLine": o.line, "startColumn": o.column },
            }
        }]);
    }
    if ctx.ignores {
        // §3.35: a suppression in the file itself is `inSource`, with the user's reason.
        v["suppressions"] = match &f.suppressed {
            Some(s) => json!([{
                "kind": "inSource",
                "justification": s.reason,
                "location": {
                    "physicalLocation": {
                        "artifactLocation": location,
                        "region": { "startLine": s.line, "startColumn": s.column },
                    }
                },
            }]),
            None => json!([]),
        };
    }
    if let (Some(fix), true, true) = (fix, f.fixed, f.active()) {
        v["fixes"] = json!([fix]);
    }
    v
}

fn notification(kind: usize, level: &str, text: &str, location: Option<Value>) -> Value {
    let mut v = json!({
        "descriptor": { "id": NOTIFICATIONS[kind].0, "index": kind },
        "level": level,
        "message": { "text": text },
    });
    if let Some(l) = location {
        v["locations"] = json!([{ "physicalLocation": l }]);
    }
    v
}

/// One file's results and notifications: its notes, its suppression comments that silence
/// nothing (each handed to `note` as it is made), and a result per finding.
fn report(
    r: &FileReport,
    profile: &Profile,
    ctx: &Context,
    results: &mut Vec<Value>,
    note: &mut dyn FnMut(&Value) -> io::Result<()>,
) -> io::Result<()> {
    let index_of = |id: &str| profile.rules.iter().position(|r| r.id == id);
    let location = artifact_location(&r.path, ctx.cwd, ctx.real);
    for n in &r.notes {
        let loc = json!({ "artifactLocation": location });
        note(&notification(2, "note", n, Some(loc)))?;
    }
    for u in &r.unused_suppressions {
        let loc = json!({
            "artifactLocation": location,
            "region": region(u.line, u.column, u.line, u.end_column),
        });
        let (kind, level) = if u.kind.is_invalid() {
            (4, "warning")
        } else {
            (3, "note")
        };
        let mut n = notification(kind, level, &u.message, Some(loc));
        // §3.58.3: the rule the comment names, when the profile has it.
        if let Some((id, i)) = u
            .rule_id
            .as_deref()
            .and_then(|id| Some((id, index_of(id)?)))
        {
            n["associatedRule"] = json!({ "id": id, "index": i });
        }
        note(&n)?;
    }
    // The file's fix is one edit: it goes once, with the first result it fixes, so
    // that a log of many files does not repeat it per finding.
    let mut fix = file_fix(r, &location, profile);
    let mut ordered: Vec<&ReportFinding> = r.findings.iter().collect();
    ordered.sort_by_key(|f| (f.line, f.column));
    for f in ordered {
        let Some(i) = index_of(&f.rule.id) else {
            continue;
        };
        let here = if f.fixed && f.active() {
            fix.take()
        } else {
            None
        };
        results.push(result(f, r, i, &location, here.as_ref(), ctx));
    }
    Ok(())
}

/// The log written file by file: each file's results and notifications go to spools of their
/// own as the outcomes come, and the log is written at the end around them, with the same
/// bytes as serializing it whole (`invocations` comes before `results`, and it holds every
/// file's notifications; neither is held in memory, however many a run has).
pub struct SarifStream<'a> {
    profile: &'a Profile,
    ctx: &'a Context<'a>,
    /// How many notifications the notifications' spool holds.
    notifications: usize,
    failed: bool,
    checked: bool,
    results: usize,
}

/// Where the results go in the log (serde_json writes objects' keys sorted).
const RESULTS_MARK: &str = "\u{0}results\u{0}";
/// The indentation of a result in the pretty-printed log: `runs[0].results[i]`.
const RESULT_INDENT: usize = 8;
/// Where the notifications go in the log.
const NOTIFICATIONS_MARK: &str = "\u{0}notifications\u{0}";
/// The indentation of a notification in the pretty-printed log:
/// `runs[0].invocations[0].toolExecutionNotifications[i]`.
const NOTIFICATION_INDENT: usize = 12;

impl<'a> SarifStream<'a> {
    pub fn new(profile: &'a Profile, ctx: &'a Context<'a>) -> Self {
        SarifStream {
            profile,
            ctx,
            notifications: 0,
            failed: false,
            checked: false,
            results: 0,
        }
    }

    /// Adds one outcome: its results are written to `spool`, its notifications to `notes`.
    pub fn file(
        &mut self,
        spool: &mut dyn Write,
        notes: &mut dyn Write,
        o: &Outcome,
    ) -> io::Result<()> {
        let ctx = self.ctx;
        let count = &mut self.notifications;
        let mut note = |n: &Value| write_item(notes, n, NOTIFICATION_INDENT, count);
        match o {
            Outcome::Error(e) => {
                self.failed = true;
                self.checked = true;
                let mut loc =
                    json!({ "artifactLocation": artifact_location(&e.path, ctx.cwd, ctx.real) });
                if let Some((l, c)) = e.line_col {
                    loc["region"] = json!({ "startLine": l, "startColumn": c });
                }
                note(&notification(0, "error", &e.message, Some(loc)))?;
            }
            Outcome::Skipped { path, reason } => {
                let loc = json!({ "artifactLocation": artifact_location(path, ctx.cwd, ctx.real) });
                note(&notification(
                    1,
                    "note",
                    &format!("skipped: {reason}"),
                    Some(loc),
                ))?;
            }
            Outcome::Report(r) => {
                self.checked = true;
                let mut results = Vec::new();
                report(r, self.profile, ctx, &mut results, &mut note)?;
                for v in results {
                    write_item(spool, &v, RESULT_INDENT, &mut self.results)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the log to `out`, with the results `spool` holds and the notifications `notes`
    /// holds copied in their places.
    pub fn end(
        mut self,
        out: &mut dyn Write,
        spool: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
        notes: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let ctx = self.ctx;
        // Nothing checked and nothing failed: said once, first, as the text output says it
        // (a run that failed on its files already has their errors).
        let first = (!self.checked).then(|| {
            self.failed |= !ctx.nothing_is_fine;
            notification(
                0,
                if ctx.nothing_is_fine { "note" } else { "error" },
                "no control-plane manifest or kubelet configuration found among the inputs",
                None,
            )
        });
        let log = self.log(
            Value::String(RESULTS_MARK.into()),
            Value::String(NOTIFICATIONS_MARK.into()),
        );
        let text = serde_json::to_string_pretty(&log).map_err(io::Error::other)?;
        let mark = |m: &str| serde_json::to_string(m).map_err(io::Error::other);
        let no_place = || io::Error::other("the log has no place for its notifications or results");
        let (before, rest) = text
            .split_once(&mark(NOTIFICATIONS_MARK)?)
            .ok_or_else(no_place)?;
        let (between, after) = rest.split_once(&mark(RESULTS_MARK)?).ok_or_else(no_place)?;
        out.write_all(before.as_bytes())?;
        spooled_list(
            out,
            first.as_ref(),
            self.notifications,
            NOTIFICATION_INDENT,
            notes,
        )?;
        out.write_all(between.as_bytes())?;
        spooled_list(out, None, self.results, RESULT_INDENT, spool)?;
        out.write_all(after.as_bytes())?;
        writeln!(out)
    }

    /// The log, with `results` as its results and `notifications` as its invocation's
    /// notifications.
    fn log(&mut self, results: Value, notifications: Value) -> Log {
        let rules: Vec<Value> = self
            .profile
            .rules
            .iter()
            .map(|r| rule_descriptor(r, &self.profile.cis_benchmark))
            .collect();
        let descriptors: Vec<Value> = NOTIFICATIONS
            .iter()
            .map(|(id, text)| json!({ "id": id, "shortDescription": { "text": text } }))
            .collect();
        Log {
            version: VERSION,
            schema: SCHEMA,
            runs: json!([{
                "tool": {
                    "driver": {
                        // No informationUri: §3.19.17 asks for an absolute URI, and the
                        // project has no public one.
                        "name": env!("CARGO_PKG_NAME"),
                        "version": env!("CARGO_PKG_VERSION"),
                        "semanticVersion": env!("CARGO_PKG_VERSION"),
                        "rules": rules,
                        "notifications": descriptors,
                    }
                },
                "invocations": [{
                    // §3.20.14; §3.20.21: an error notification means the run failed.
                    "executionSuccessful": !self.failed,
                    "toolExecutionNotifications": notifications,
                }],
                // §3.14.14: the absolute URI is left out (it may be omitted), so the log does
                // not depend on the machine it was made on.
                "originalUriBaseIds": {
                    SRCROOT: {
                        "description": { "text": "The directory kubeharden ran in; file URIs are relative to it." }
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": { "profile": self.profile.name },
            }]),
        }
    }
}

/// A JSON array as serde_json prints it nested `indent - 2` spaces deep: `first`, when there is
/// one, then the `n` items `spooled` holds (written with `write_item`, `indent` deep), or `[]`
/// when there are none.
fn spooled_list(
    out: &mut dyn Write,
    first: Option<&Value>,
    n: usize,
    indent: usize,
    spooled: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    if first.is_none() && n == 0 {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    if let Some(v) = first {
        write_item(out, v, indent, &mut 0)?;
        if n > 0 {
            // The spool's first item starts its line without the comma.
            out.write_all(b",")?;
        }
    }
    spooled(out)?;
    write!(out, "\n{}]", " ".repeat(indent - 2))
}

/// §3.13.2: `version` SHOULD come first (object keys are otherwise written sorted).
#[derive(serde::Serialize)]
struct Log {
    version: &'static str,
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: Value,
}

/// The whole log of `outcomes`, written at once (the results are held in memory).
pub fn write(
    out: &mut dyn Write,
    outcomes: &[Outcome],
    profile: &Profile,
    ctx: &Context,
) -> io::Result<()> {
    let mut stream = SarifStream::new(profile, ctx);
    let (mut results, mut notes) = (Vec::new(), Vec::new());
    for o in outcomes {
        stream.file(&mut results, &mut notes, o)?;
    }
    stream.end(out, &mut |out| out.write_all(&results), &mut |out| {
        out.write_all(&notes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies replacements given by line and column to `text`, as a SARIF consumer would.
    fn apply(text: &str, reps: &[Value]) -> String {
        let offset = |l: u64, c: u64| -> usize {
            let mut start = 0;
            for _ in 1..l {
                start += text[start..]
                    .find('\n')
                    .map_or(text.len() - start, |i| i + 1);
            }
            start
                + text[start..]
                    .char_indices()
                    .nth(c as usize - 1)
                    .map_or(text.len() - start, |(i, _)| i)
        };
        let mut out = text.to_string();
        for r in reps.iter().rev() {
            let d = &r["deletedRegion"];
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            let (a, b) = (
                offset(n("startLine"), n("startColumn")),
                offset(n("endLine"), n("endColumn")),
            );
            let ins = r["insertedContent"]["text"].as_str().unwrap_or("");
            out.replace_range(a..b, ins);
        }
        out
    }

    #[test]
    fn replacements_rebuild_the_new_text() {
        let cases = [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\n", "a\nb\nc\nd\n"),
            ("a\nb\nc", "a\nb\nc\nd"),
            ("a\nb\nc\n", "x\na\nc\n"),
            ("a\r\nb\r\n", "a\r\nb2\r\nnew\r\n"),
            ("é\nü\n", "é\nü\nß\n"),
            ("a\nb\n", "b\n"),
            ("a\nb\nc\nd\n", "a\n"),
        ];
        for (old, new) in cases {
            let reps = replacements(old, new);
            assert!(!reps.is_empty());
            assert_eq!(apply(old, &reps), new, "{old:?} → {new:?}: {reps:#?}");
        }
        // An insertion at the end of a text with a final newline is an insertion point on its
        // last line (§3.30.2 EXAMPLE 8), not on a line after it.
        let reps = replacements("a\nbc\n", "a\nbc\nd\n");
        assert_eq!(
            reps[0]["deletedRegion"],
            json!({"startLine": 2, "startColumn": 4, "endLine": 2, "endColumn": 4})
        );
    }

    #[test]
    fn uris_are_relative_to_the_directory_and_encoded() {
        let cwd = Path::new("/srv/checkout");
        let uri = |p: &str| artifact_location(p, cwd, &|_| None);
        assert_eq!(
            uri("./manifests/kube-apiserver.yaml"),
            json!({"uri": "manifests/kube-apiserver.yaml", "uriBaseId": SRCROOT})
        );
        assert_eq!(
            uri("/srv/checkout/a b/x+y.yaml"),
            json!({"uri": "a%20b/x%2By.yaml", "uriBaseId": SRCROOT})
        );
        assert_eq!(
            uri("sub/../k.yaml"),
            json!({"uri": "k.yaml", "uriBaseId": SRCROOT})
        );
        assert_eq!(
            uri("../other/k.yaml"),
            json!({"uri": "file:///srv/other/k.yaml"})
        );
        assert_eq!(uri("/etc/k.yaml"), json!({"uri": "file:///etc/k.yaml"}));
        assert_eq!(camel("apiserver-tls-min-version"), "ApiserverTlsMinVersion");
    }
}
