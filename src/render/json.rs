//! The JSON report (`check --format json`), schema version 1: a separate type from the
//! internal model, so that refactoring does not change what users read (docs/json-output.md).

use super::pretty::{Pretty, Written};
use crate::model::change::{Change, Planned};
use crate::model::report::Outcome;
use crate::profile::Profile;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::io::{self, Write};

/// The JSON report's schema version; see docs/json-output.md.
pub(crate) const SCHEMA_VERSION: u32 = 1;

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
    manual: usize,
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

/// A finding's texts that come from its rule are written as JSON strings escaped once per run
/// ([`RuleTexts`]): the same bytes as the strings themselves, which are most of a report.
#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    title: &'a RawValue,
    severity: &'static str,
    cis: &'a [String],
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    current: &'a str,
    desired: &'a str,
    rationale: &'a RawValue,
    risk: &'a RawValue,
    fixable: bool,
    /// `safe`, or `risky` with `risky_because` and `precondition`: whether the fix can stop a
    /// component or lock someone out given what the file says.
    applicability: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    risky_because: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precondition: Option<Text<'a>>,
    /// The risky fix's precondition as read on the node: whether it holds, and what was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    on_node: Option<JsonOnNode<'a>>,
    manual: Option<&'a str>,
    /// `fixable`, `manual` (left to the user: does not fail `check` unless `--fail-on` names
    /// it) or `blocked` (the file cannot be changed).
    status: &'static str,
    /// The command-line flag that overrides the setting, where it is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    overridden_by: Option<JsonOverride<'a>>,
    docs: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<JsonSuppressed<'a>>,
    /// The fields that are the rule's, as written in its first finding (none: written anew).
    #[serde(skip)]
    runs: Option<&'a RuleRuns>,
}

/// The runs of a finding's fields that come from its rule alone, as [`JsonFinding::write`]
/// wrote them first: from `rule_id` to `cis`, `rationale` and `risk`, and `docs`.
#[derive(Default)]
struct RuleRuns {
    head: Written,
    texts: Written,
    docs: Written,
}

/// A text written as a JSON string: escaped already, or as it is.
#[derive(Clone, Copy, Serialize)]
#[serde(untagged)]
enum Text<'a> {
    Escaped(&'a RawValue),
    Plain(&'a str),
}

/// The texts of a rule as JSON strings: its title, rationale, risk, the anchor of its page in
/// docs/rules.md, and why its fix is risky and what makes it safe, if it is.
struct RuleTexts {
    title: Box<RawValue>,
    rationale: Box<RawValue>,
    risk: Box<RawValue>,
    docs: Box<RawValue>,
    risky: Option<(Box<RawValue>, Box<RawValue>)>,
    runs: RuleRuns,
}

/// `s` as a JSON string.
fn escaped(s: &str) -> io::Result<Box<RawValue>> {
    let json = serde_json::to_string(s).map_err(io::Error::other)?;
    RawValue::from_string(json).map_err(io::Error::other)
}

impl RuleTexts {
    fn of(rule: &crate::profile::Rule) -> io::Result<RuleTexts> {
        Ok(RuleTexts {
            title: escaped(&rule.title)?,
            rationale: escaped(&rule.rationale)?,
            risk: escaped(&rule.risk)?,
            docs: escaped(&format!("docs/rules.md#{}", rule.id))?,
            risky: match &rule.applicability {
                Some(a) => Some((escaped(&a.risky)?, escaped(&a.precondition)?)),
                None => None,
            },
            runs: RuleRuns::default(),
        })
    }
}

#[derive(Serialize)]
struct JsonOverride<'a> {
    flag: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    variable: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonOnNode<'a> {
    holds: bool,
    detail: &'a str,
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

fn json_change(p: &Planned) -> JsonChange<'_> {
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
        Change::TakeOutFlag {
            flag,
            file,
            setting,
        } => {
            c.kind = "take_out_flag";
            c.flag = Some(setting);
            c.before = Some(flag);
            c.after = Some(file);
        }
    }
    c
}

pub fn json(out: &mut dyn Write, outcomes: &[Outcome], profile: &Profile) -> io::Result<()> {
    let mut stream = JsonStream::begin(out, profile)?;
    for o in outcomes {
        stream.file(out, o)?;
    }
    stream.end(out)
}

/// The JSON report written file by file, as the outcomes come: the same bytes as serializing
/// the whole report at once (serde_json's pretty printer indents by two spaces, and a JSON
/// text has no line break but between tokens), holding only the summary, the texts of the
/// rules found so far, and the last entries until [`WRITE_AT`] bytes of them wait.
pub struct JsonStream {
    summary: JsonSummary,
    files: usize,
    /// The texts of each rule found so far, by id: a report's findings are those of the
    /// profile it begins with, where no two rules have the same id (`Profile` refuses it).
    texts: HashMap<String, RuleTexts>,
    /// The entries not written out yet, each written whole into it as its file comes.
    waiting: Vec<u8>,
}

/// The entries are written out once this many bytes of them wait: what the buffered standard
/// output holds (`apply::output::stdout`), so that they go out without being copied into its
/// buffer first (an entry of a kube-apiserver manifest with strict is 25 kB, and copying them
/// was 3% of the instructions of `check --format json`).
const WRITE_AT: usize = 1 << 16;

#[derive(Serialize)]
struct JsonHead<'a> {
    schema_version: u32,
    tool: JsonTool,
    profile: &'a str,
    cis_benchmark: &'a str,
}

/// Writes `value` as the next item of a pretty-printed JSON array whose items are indented by
/// `by` spaces (the array's `[` already written; `written` counts the items so far): the
/// separator, then the value with every line indented, as serde_json prints a nested value.
pub(super) fn write_item<T: Serialize>(
    out: &mut dyn Write,
    value: &T,
    by: usize,
    written: &mut usize,
) -> io::Result<()> {
    out.write_all(if *written == 0 { b"\n" } else { b",\n" })?;
    *written += 1;
    // The value is printed whole into a buffer (the serializer's many small writes are cheap
    // there), nested `by` spaces deep, and the buffer written at once.
    let mut item = Vec::with_capacity(16 * 1024);
    item.extend(std::iter::repeat_n(b' ', by));
    print_nested(value, by, &mut item)?;
    out.write_all(&item)
}

/// `value` pretty-printed into `buf` as serde_json prints a value nested `by` spaces deep (its
/// first line not indented: it follows what is already on the line).
fn print_nested<T: Serialize>(value: &T, by: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(buf, Nested::new(by));
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// serde_json's pretty printing (two spaces a level) of a value nested `base` spaces deep: the
/// same bytes as its `PrettyFormatter` with `base` spaces put after every line break.
struct Nested {
    base: usize,
    level: usize,
    has_value: bool,
}

impl Nested {
    fn new(base: usize) -> Nested {
        Nested {
            base,
            level: 0,
            has_value: false,
        }
    }

    fn line<W: ?Sized + Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }

    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut n = self.base + 2 * self.level;
        while n > 0 {
            let k = n.min(SPACES.len());
            w.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

impl JsonStream {
    /// Writes what comes before the files.
    pub fn begin(out: &mut dyn Write, profile: &Profile) -> io::Result<JsonStream> {
        let head = serde_json::to_string_pretty(&JsonHead {
            schema_version: SCHEMA_VERSION,
            tool: JsonTool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            profile: &profile.name,
            cis_benchmark: &profile.cis_benchmark,
        })
        .map_err(io::Error::other)?;
        let open = head.strip_suffix("\n}").unwrap_or(&head);
        write!(out, "{open},\n  \"files\": [")?;
        Ok(JsonStream {
            summary: JsonSummary {
                files: 0,
                findings: 0,
                fixable: 0,
                manual: 0,
                errors: 0,
                skipped: 0,
                suppressed: 0,
            },
            files: 0,
            texts: HashMap::new(),
            waiting: Vec::new(),
        })
    }

    /// Writes one file's entry and counts it.
    pub fn file(&mut self, out: &mut dyn Write, o: &Outcome) -> io::Result<()> {
        if let Outcome::Report(r) = o {
            for x in &r.findings {
                if !self.texts.contains_key(&x.rule.id) {
                    self.texts.insert(x.rule.id.clone(), RuleTexts::of(x.rule)?);
                }
            }
        }
        let f = json_file(o, &mut self.summary, &self.texts);
        let waiting = &mut self.waiting;
        waiting.extend_from_slice(if self.files == 0 { b"\n" } else { b",\n" });
        self.files += 1;
        // Nested 4 spaces deep.
        waiting.extend_from_slice(b"    ");
        f.write(&mut Pretty::new(waiting, 4));
        if waiting.len() >= WRITE_AT {
            out.write_all(waiting)?;
            waiting.clear();
        }
        Ok(())
    }

    /// Writes the summary and the end.
    pub fn end(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.waiting)?;
        let close = if self.files == 0 { "]" } else { "\n  ]" };
        let mut summary = Vec::new();
        print_nested(&self.summary, 2, &mut summary)?;
        write!(out, "{close},\n  \"summary\": ")?;
        out.write_all(&summary)?;
        writeln!(out, "\n}}")
    }
}

/// The file entries written by hand as serde_json would print them ([`Pretty`]): field by field
/// in the order of the structs' fields, which the derived `Serialize` follows too (a test holds
/// the two to each other).
impl JsonFile<'_> {
    fn write(&self, p: &mut Pretty) {
        let mut o = p.object();
        o.str("path", self.path).str("status", self.status);
        if let Some(e) = &self.error {
            let mut e_o = o.field("error").object();
            e_o.str("message", e.message)
                .opt_uint("line", e.line)
                .opt_uint("column", e.column);
            e_o.end();
        }
        if let Some(r) = self.skipped_reason {
            o.str("skipped_reason", r);
        }
        o.opt_str("component", self.component)
            .opt_str("kubernetes_version", self.kubernetes_version.as_deref())
            .opt_str("version_source", self.version_source)
            .strs("notes", self.notes.iter().copied());
        o.field("findings").array(&self.findings, |p, f| f.write(p));
        o.field("changes").array(&self.changes, |p, c| c.write(p));
        o.field("required_files")
            .array(&self.required_files, |p, r| {
                let mut r_o = p.object();
                r_o.str("flag", r.flag)
                    .str("path", r.path)
                    .bool("directory", r.directory)
                    .opt_str("template", r.template);
                r_o.end();
            });
        o.field("unused_suppressions")
            .array(&self.unused_suppressions, |p, u| {
                let mut u_o = p.object();
                u_o.str("kind", u.kind)
                    .opt_str("rule_id", u.rule_id)
                    .uint("line", u.line)
                    .uint("column", u.column)
                    .str("message", u.message);
                u_o.end();
            });
        o.end();
    }
}

impl JsonFinding<'_> {
    fn write(&self, p: &mut Pretty) {
        let runs = self.runs;
        let mut o = p.object();
        o.fields(runs.map(|r| &r.head), |o| {
            o.str("rule_id", self.rule_id)
                .raw("title", self.title)
                .str("severity", self.severity)
                .strs("cis", self.cis.iter().map(String::as_str));
        })
        .uint("line", self.line)
        .uint("column", self.column)
        .uint("end_line", self.end_line)
        .uint("end_column", self.end_column)
        .str("current", self.current)
        .str("desired", self.desired)
        .fields(runs.map(|r| &r.texts), |o| {
            o.raw("rationale", self.rationale).raw("risk", self.risk);
        })
        .bool("fixable", self.fixable)
        .str("applicability", self.applicability);
        for (name, text) in [
            ("risky_because", &self.risky_because),
            ("precondition", &self.precondition),
        ] {
            match text {
                Some(Text::Escaped(r)) => {
                    o.raw(name, r);
                }
                Some(Text::Plain(s)) => {
                    o.str(name, s);
                }
                None => {}
            }
        }
        if let Some(n) = &self.on_node {
            let mut n_o = o.field("on_node").object();
            n_o.bool("holds", n.holds).str("detail", n.detail);
            n_o.end();
        }
        o.opt_str("manual", self.manual).str("status", self.status);
        if let Some(v) = &self.overridden_by {
            let mut v_o = o.field("overridden_by").object();
            v_o.str("flag", v.flag)
                .str("path", v.path)
                .uint("line", v.line)
                .uint("column", v.column)
                .opt_str("variable", v.variable);
            v_o.end();
        }
        o.fields(runs.map(|r| &r.docs), |o| {
            o.raw("docs", self.docs);
        });
        if let Some(s) = &self.suppressed {
            let mut s_o = o.field("suppressed").object();
            s_o.str("reason", s.reason)
                .uint("line", s.line)
                .uint("column", s.column);
            s_o.end();
        }
        o.end();
    }
}

impl JsonChange<'_> {
    fn write(&self, p: &mut Pretty) {
        let mut o = p.object();
        o.str("kind", self.kind)
            .strs("rules", self.rules.iter().map(String::as_str));
        for (name, value) in [
            ("flag", self.flag),
            ("before", self.before),
            ("after", self.after),
        ] {
            if let Some(v) = value {
                o.str(name, v);
            }
        }
        if let Some(v) = &self.volume {
            let mut v_o = o.field("volume").object();
            v_o.str("name", v.name)
                .opt_str("host_path", v.host_path)
                .str("mount_path", v.mount_path)
                .bool("read_only", v.read_only);
            v_o.end();
        }
        if let Some(v) = self.probe {
            o.str("probe", v);
        }
        o.end();
    }
}

/// One file's entry, counted in `summary`.
fn json_file<'a>(
    o: &'a Outcome,
    summary: &mut JsonSummary,
    texts: &'a HashMap<String, RuleTexts>,
) -> JsonFile<'a> {
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
            f
        }
        Outcome::Error(e) => {
            summary.errors += 1;
            let mut f = empty(&e.path, "error");
            f.error = Some(JsonError {
                message: &e.message,
                line: e.line_col.map(|x| x.0),
                column: e.line_col.map(|x| x.1),
            });
            f
        }
        Outcome::Report(r) => {
            summary.files += 1;
            let active = r.findings.iter().filter(|f| f.active());
            summary.findings += active.clone().count();
            summary.fixable += active.clone().filter(|f| f.fixed).count();
            summary.manual += active.filter(|f| f.is_manual()).count();
            summary.suppressed += r.findings.iter().filter(|f| !f.active()).count();
            let mut f = empty(&r.path, "ok");
            f.component = Some(&r.component);
            f.kubernetes_version = Some(r.version.to_string());
            f.version_source = Some(r.version_source.as_str());
            f.notes = r.notes.iter().map(String::as_str).collect();
            f.findings = r
                .findings
                .iter()
                .map(|x| json_finding(x, &texts[&x.rule.id]))
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
            f
        }
    }
}

/// One finding as the report has it.
fn json_finding<'a>(
    x: &'a crate::model::report::ReportFinding,
    texts: &'a RuleTexts,
) -> JsonFinding<'a> {
    // The risky fix's texts, escaped already where they are the rule's (`pipeline::risky`).
    let rules = |a| {
        x.rule
            .applicability
            .as_ref()
            .is_some_and(|o| std::ptr::eq(o, a))
    };
    let risky = x.risky.map(|a| match &texts.risky {
        Some((r, p)) if rules(a) => (Text::Escaped(r), Text::Escaped(p)),
        _ => (Text::Plain(&a.risky), Text::Plain(&a.precondition)),
    });
    JsonFinding {
        rule_id: &x.rule.id,
        title: &texts.title,
        severity: x.rule.severity.as_str(),
        cis: &x.rule.cis,
        line: x.line,
        column: x.column,
        end_line: x.end_line,
        end_column: x.end_column,
        current: &x.current,
        desired: &x.desired,
        rationale: &texts.rationale,
        risk: &texts.risk,
        fixable: x.fixed,
        applicability: if x.risky.is_some() { "risky" } else { "safe" },
        risky_because: risky.as_ref().map(|(r, _)| *r),
        precondition: risky.map(|(_, p)| p),
        on_node: x.on_node.as_ref().map(|r| match r {
            Ok(d) => JsonOnNode {
                holds: true,
                detail: d,
            },
            Err(d) => JsonOnNode {
                holds: false,
                detail: d,
            },
        }),
        manual: x.manual.as_deref(),
        status: x.status(),
        overridden_by: x.overridden_by.as_ref().map(|o| JsonOverride {
            flag: &o.written,
            path: &o.file,
            line: o.line,
            column: o.column,
            variable: o.variable.as_deref(),
        }),
        docs: &texts.docs,
        suppressed: x.suppressed.as_ref().map(|s| JsonSuppressed {
            reason: &s.reason,
            line: s.line,
            column: s.column,
        }),
        runs: Some(&texts.runs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::{file_error, Outcome};
    use crate::pipeline::{self, Options};
    use crate::profile::Registry;
    use std::path::Path;

    /// What serde_json prints for an entry, and what is written by hand, nested as the report
    /// nests them.
    fn both(f: &JsonFile) -> (String, String) {
        let mut serde = Vec::new();
        print_nested(f, 4, &mut serde).expect("prints");
        let mut hand = Vec::new();
        f.write(&mut Pretty::new(&mut hand, 4));
        let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8");
        (text(serde), text(hand))
    }

    fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }

    /// A string with characters JSON escapes and some it does not.
    const ODD: &str = "a \"quoted\" \\ back\tslash\nnew line \u{1} \u{1f} \u{7f} \u{2028} é";

    fn no_summary() -> JsonSummary {
        JsonSummary {
            files: 0,
            findings: 0,
            fixable: 0,
            manual: 0,
            errors: 0,
            skipped: 0,
            suppressed: 0,
        }
    }

    /// Every fixture's entry with both built-in profiles: the bytes written by hand are
    /// serde_json's.
    #[test]
    fn fixture_entries_written_by_hand_are_what_serde_json_prints() {
        let registry = Registry::builtin().expect("registry");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        yaml_files(&root.join("tests/fixtures"), &mut paths);
        yaml_files(&root.join("examples"), &mut paths);
        paths.sort();
        assert!(paths.len() > 100, "{} files", paths.len());
        let mut findings = 0;
        for name in ["baseline", "strict"] {
            let profile = Profile::load(name, &registry).expect("profile");
            let opts = Options {
                report_only: true,
                ..Options::new(&registry, &profile)
            };
            let mut texts = HashMap::new();
            let mut summary = no_summary();
            for path in &paths {
                let Ok(text) = std::fs::read_to_string(path) else {
                    continue;
                };
                let shown = path.display().to_string();
                let o = match pipeline::process(&shown, &text, &opts) {
                    Ok(r) => Outcome::Report(Box::new(r)),
                    Err(e) => Outcome::Error(e),
                };
                if let Outcome::Report(r) = &o {
                    findings += r.findings.len();
                    for x in &r.findings {
                        if !texts.contains_key(&x.rule.id) {
                            texts.insert(x.rule.id.clone(), RuleTexts::of(x.rule).expect("texts"));
                        }
                    }
                }
                let (serde, hand) = both(&json_file(&o, &mut summary, &texts));
                assert_eq!(serde, hand, "{shown} with {name}");
            }
        }
        assert!(findings > 1_000, "{findings} findings");
    }

    /// A report longer than the entries wait for ([`WRITE_AT`]) goes out in several writes,
    /// each of whole entries, and is one JSON document with every file once, in order, and
    /// the summary of them all.
    #[test]
    fn a_long_report_is_written_in_pieces_of_whole_entries() {
        let registry = Registry::builtin().expect("registry");
        let profile = Profile::load("strict", &registry).expect("profile");
        let opts = Options {
            report_only: true,
            ..Options::new(&registry, &profile)
        };
        let example = include_str!("../../examples/kube-apiserver.yaml");
        let outcomes: Vec<Outcome> = (0..20)
            .map(|i| {
                let path = format!("m{i}.yaml");
                match pipeline::process(&path, example, &opts) {
                    Ok(r) => Outcome::Report(Box::new(r)),
                    Err(e) => Outcome::Error(e),
                }
            })
            .collect();
        /// Keeps each write apart.
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.push(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Writes(Vec::new());
        json(&mut out, &outcomes, &profile).expect("writes");
        let whole = out.0.concat();
        assert!(whole.len() > 3 * WRITE_AT, "{} bytes", whole.len());
        // The entries: written when as many bytes wait, and at the end.
        let entries: Vec<&Vec<u8>> = out
            .0
            .iter()
            .filter(|w| w.starts_with(b"\n    {") || w.starts_with(b",\n    {"))
            .collect();
        assert!(entries.len() >= 3, "{} writes of entries", entries.len());
        for w in &entries[..entries.len() - 1] {
            assert!(
                w.len() >= WRITE_AT && w.len() < 2 * WRITE_AT,
                "{} bytes",
                w.len()
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&whole).expect("one JSON document");
        let paths: Vec<&str> = report["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["path"].as_str().expect("path"))
            .collect();
        let expected: Vec<String> = (0..20).map(|i| format!("m{i}.yaml")).collect();
        assert_eq!(paths, expected);
        assert_eq!(report["summary"]["files"], 20);
    }

    /// Entries of errors, skipped files and each ASCII character alone: what JSON escapes is
    /// escaped as serde_json does it.
    #[test]
    fn odd_strings_written_by_hand_are_what_serde_json_prints() {
        let odd = ODD;
        let error = Outcome::Error(file_error("m.yaml", "a: b\n", Some(2), None, odd.into()));
        let skipped = Outcome::Skipped {
            path: odd.into(),
            reason: odd.into(),
        };
        let mut summary = no_summary();
        let texts = HashMap::new();
        for o in [&error, &skipped] {
            let (serde, hand) = both(&json_file(o, &mut summary, &texts));
            assert_eq!(serde, hand);
        }
        // Each ASCII character alone among letters, and a few others.
        let mut alone: Vec<String> = (0..0x80u8).map(|c| format!("x{}y", c as char)).collect();
        alone.extend(["\u{80}", "\u{2028}", "\u{feff}", "é"].map(String::from));
        for one in &alone {
            let skipped = Outcome::Skipped {
                path: one.clone(),
                reason: one.clone(),
            };
            let (serde, hand) = both(&json_file(&skipped, &mut summary, &texts));
            assert_eq!(serde, hand, "{one:?}");
        }
    }

    /// An entry with every optional field, both ways each can be written.
    #[test]
    fn every_field_written_by_hand_is_what_serde_json_prints() {
        let odd = ODD;
        let raw = escaped(odd).expect("escapes");
        let cis = vec!["1.2.3".to_string(), odd.to_string()];
        let rules = vec!["r1".to_string(), odd.to_string()];
        let finding = |plain: bool| JsonFinding {
            rule_id: odd,
            title: &raw,
            severity: "high",
            cis: &cis,
            line: 1,
            column: 22,
            end_line: 333,
            end_column: 4444,
            current: odd,
            desired: "",
            rationale: &raw,
            risk: &raw,
            fixable: plain,
            applicability: "risky",
            risky_because: Some(if plain {
                Text::Plain(odd)
            } else {
                Text::Escaped(&raw)
            }),
            precondition: Some(Text::Plain(odd)),
            on_node: Some(JsonOnNode {
                holds: plain,
                detail: odd,
            }),
            manual: plain.then_some(odd),
            status: "manual",
            overridden_by: Some(JsonOverride {
                flag: odd,
                path: odd,
                line: 5,
                column: 0,
                variable: plain.then_some(odd),
            }),
            docs: &raw,
            suppressed: Some(JsonSuppressed {
                reason: odd,
                line: 7,
                column: 8,
            }),
            runs: None,
        };
        let change = |plain: bool| JsonChange {
            kind: "add_volume",
            rules: &rules,
            flag: plain.then_some(odd),
            before: Some(odd),
            after: plain.then_some(odd),
            volume: Some(JsonVolume {
                name: odd,
                host_path: plain.then_some(odd),
                mount_path: odd,
                read_only: plain,
            }),
            probe: Some(odd),
        };
        for plain in [false, true] {
            let f = JsonFile {
                path: odd,
                status: "ok",
                error: Some(JsonError {
                    message: odd,
                    line: plain.then_some(3),
                    column: None,
                }),
                skipped_reason: Some(odd),
                component: Some(odd),
                kubernetes_version: Some(odd.to_string()),
                version_source: None,
                notes: vec![odd, ""],
                findings: vec![finding(plain), finding(!plain)],
                changes: vec![change(plain), change(!plain)],
                required_files: vec![JsonRequiredFile {
                    flag: odd,
                    path: odd,
                    directory: plain,
                    template: plain.then_some(odd),
                }],
                unused_suppressions: vec![JsonUnused {
                    kind: "unknown_rule",
                    rule_id: plain.then_some(odd),
                    line: 9,
                    column: 10,
                    message: odd,
                }],
            };
            let (serde, hand) = both(&f);
            assert_eq!(serde, hand);
        }
    }
}
