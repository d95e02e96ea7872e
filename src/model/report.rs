//! What the pipeline makes of one file, as the renderers and the commands take it: findings
//! with their positions, planned changes, notes, the texts before and after, and errors.

use super::change::{Planned, RequiredFile};
use crate::profile::version::Version;
use crate::profile::{Rule, Severity};
use crate::yaml::line_col;
use std::fmt;

/// The component whose flags kubeadm configuration files set in `apiServer.extraArgs`.
pub const COMPONENT: &str = "kube-apiserver";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSource {
    /// `--kubernetes-version`.
    Option,
    /// The container image tag.
    Image,
    /// `kubernetesVersion` of a kubeadm ClusterConfiguration.
    Config,
    /// The image tag of the kube-apiserver manifest read in the same run (for files that name
    /// no Kubernetes version: a KubeletConfiguration, etcd's manifest).
    Node,
    /// Nothing said: the newest version kubeharden knows.
    Assumed,
}

impl VersionSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VersionSource::Option => "option",
            VersionSource::Image => "image",
            VersionSource::Config => "config",
            VersionSource::Node => "node",
            VersionSource::Assumed => "assumed",
        }
    }
}

/// A stretch of a file's text by 1-based lines and columns (columns count characters), the
/// end exclusive: the column after the last character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) end_line: usize,
    pub(crate) end_column: usize,
}

impl Region {
    /// The region of the byte range `[start, end)` of `text`.
    pub(crate) fn of(text: &str, start: usize, end: usize) -> Region {
        let (line, column) = line_col(text, start);
        let end = end.max(start);
        // The end counted on from the start, over the bytes between them only (a region is
        // mostly one item of a line, and every finding of every file is located).
        let (end_line, end_column) = match text.get(start..end) {
            Some(between) if start <= text.len() => match between.bytes().rposition(|b| b == b'\n')
            {
                None => (line, column + between.chars().count()),
                Some(last) => (
                    line + between.bytes().filter(|&b| b == b'\n').count(),
                    between[last + 1..].chars().count() + 1,
                ),
            },
            _ => line_col(text, end),
        };
        Region {
            line,
            column,
            end_line,
            end_column,
        }
    }

    pub(crate) fn start(&self) -> (usize, usize) {
        (self.line, self.column)
    }
}

/// What the node says of a risky change's precondition (read by the loader's preconditions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It holds: what was read.
    Holds(String),
    /// It does not: what was read, and what to do first.
    Fails(String),
    /// It could not be read: why. The change stays risky.
    Unknown(String),
}

/// Reads a precondition on the node, for the component a model describes.
pub type NodeLookup<'a> =
    dyn Fn(&crate::profile::NodeCheck, &crate::model::Model) -> Verdict + Sync + 'a;

#[derive(Clone, Debug)]
pub struct ReportFinding<'p> {
    /// The rule, borrowed from the profile.
    pub rule: &'p Rule,
    pub(crate) current: String,
    pub desired: String,
    /// Where the finding points (the setting, or where it is missing from); `line` and
    /// `column` are its start, `end_line` and `end_column` the position after its end.
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// The plan changes something for this rule.
    pub fixed: bool,
    /// Why it is not fixed, when it is not: the profile leaves it to the user, or (`blocked`)
    /// something in the file keeps kubeharden from changing it.
    pub manual: Option<String>,
    /// Not fixed because the file cannot be changed (a construct kubeharden does not edit, a
    /// version it cannot tell, an edit that failed verification): such a finding fails `check`
    /// like a fixable one. A finding neither fixed nor blocked is manual: the profile leaves it
    /// to the user with its reason, and it fails `check` only when `--fail-on` asks.
    pub blocked: bool,
    /// A command-line flag overrides the setting (the kubelet's, in its unit or environment
    /// files): the finding is judged with the flag's value and is not fixed in the file.
    pub overridden_by: Option<Box<crate::model::Override>>,
    /// The fix can stop a component or lock someone out unless its precondition holds, and the
    /// file does not show that it holds; `None`: safe.
    pub risky: Option<&'p crate::profile::Applicability>,
    /// The risky fix's precondition as read on the node (`check` of a node, `check --root`):
    /// what shows it holds (the fix is then safe), or why it fails (the fix is then not made).
    pub on_node: Option<Result<String, String>>,
    /// A `# kubeharden: ignore[...]` comment silences it.
    pub(crate) suppressed: Option<Suppressed>,
}

impl FileReport<'_> {
    /// What its active findings count.
    pub fn counts(&self) -> Counts {
        Counts::of(&self.findings)
    }
}

impl ReportFinding<'_> {
    /// Counts for the exit code and the totals: not silenced by a suppression.
    pub fn active(&self) -> bool {
        self.suppressed.is_none()
    }

    /// Left to the user by the profile, with its reason (see `blocked`).
    pub fn is_manual(&self) -> bool {
        !self.fixed && !self.blocked
    }

    /// `fixable`, `manual` or `blocked`: how the report names what becomes of the finding.
    pub(crate) fn status(&self) -> &'static str {
        match (self.fixed, self.blocked) {
            (true, _) => "fixable",
            (false, false) => "manual",
            (false, true) => "blocked",
        }
    }
}

/// What a report's active (not suppressed) findings count, by severity (low to critical) and
/// kind (fixable, manual, blocked): all that the lines after a report and the exit code need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    by: [[usize; 3]; 4],
}

impl Counts {
    pub fn of(findings: &[ReportFinding]) -> Counts {
        let mut c = Counts::default();
        for f in findings.iter().filter(|f| f.active()) {
            let kind = match (f.fixed, f.is_manual()) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 2,
            };
            c.by[f.rule.severity as usize][kind] += 1;
        }
        c
    }

    /// Adds what `other` counts.
    pub fn add(&mut self, other: &Counts) {
        for (mine, theirs) in self.by.iter_mut().zip(other.by.iter()) {
            for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                *m += t;
            }
        }
    }

    fn sum(&self, severities: std::ops::Range<usize>, kinds: &[usize]) -> usize {
        self.by[severities]
            .iter()
            .map(|k| kinds.iter().map(|&i| k[i]).sum::<usize>())
            .sum()
    }

    /// Active findings, and those of them that are fixable.
    pub fn active(&self) -> usize {
        self.sum(0..4, &[0, 1, 2])
    }

    pub fn fixable(&self) -> usize {
        self.sum(0..4, &[0])
    }

    /// Findings that make `check` exit 1 under `fail_on`.
    pub fn failing(&self, fail_on: FailOn) -> usize {
        let kinds: &[usize] = if fail_on.manual { &[0, 1, 2] } else { &[0, 2] };
        self.sum(fail_on.severity as usize..4, kinds)
    }

    /// Active findings below `fail_on`'s severity, and the manual ones at or above it that
    /// `fail_on` does not count.
    pub fn below(&self, fail_on: FailOn) -> (usize, usize) {
        let below = self.sum(0..fail_on.severity as usize, &[0, 1, 2]);
        let manual = if fail_on.manual {
            0
        } else {
            self.sum(fail_on.severity as usize..4, &[1])
        };
        (below, manual)
    }
}

/// What makes `check` exit 1 (`--fail-on`): active findings of `severity` or higher that are
/// fixable or blocked, and the manual ones too when `manual` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailOn {
    pub severity: Severity,
    pub manual: bool,
}

impl FailOn {
    /// `--fail-on`'s value: a comma-separated list of one severity (`low`, `medium`, `high`,
    /// `critical`; `low` when none is given) and `manual`.
    pub fn parse(value: &str) -> Result<FailOn, String> {
        let mut out = FailOn {
            severity: Severity::Low,
            manual: false,
        };
        let mut severity = None;
        for word in value.split(',').map(str::trim) {
            let s = match word {
                "manual" => {
                    out.manual = true;
                    continue;
                }
                "low" => Severity::Low,
                "medium" => Severity::Medium,
                "high" => Severity::High,
                "critical" => Severity::Critical,
                other => {
                    return Err(format!(
                        "`{other}` is none of low, medium, high, critical, manual"
                    ))
                }
            };
            if severity.replace(s).is_some() {
                return Err(
                    "give one severity (with `manual` if wanted, as in high,manual)".into(),
                );
            }
        }
        out.severity = severity.unwrap_or(Severity::Low);
        Ok(out)
    }

    /// The finding makes `check` exit 1.
    pub fn fails(&self, f: &ReportFinding) -> bool {
        f.active() && f.rule.severity >= self.severity && (self.manual || !f.is_manual())
    }

    /// As given on the command line.
    pub fn as_arg(&self) -> String {
        let manual = if self.manual { ",manual" } else { "" };
        format!("{}{manual}", self.severity.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct FileReport<'p> {
    pub path: String,
    pub component: String,
    pub version: Version,
    pub(crate) version_source: VersionSource,
    pub notes: Vec<String>,
    pub findings: Vec<ReportFinding<'p>>,
    pub changes: Vec<Planned>,
    pub required_files: Vec<RequiredFile>,
    /// Flags the fix takes out of the kubelet's environment files on the node (the places are
    /// in those files, not in this one).
    pub removals: Vec<crate::model::FlagPlace>,
    /// The file's text (empty in `report_only` mode, which keeps no texts).
    pub original: String,
    /// The hardened text, when the plan changes anything (`None` in `report_only` mode).
    pub edited: Option<String>,
    /// The file is a kubeadm configuration, not a static pod manifest.
    pub kubeadm: bool,
    /// A rule needs kubeadm's probes of kube-apiserver changed, which only a kubeadm patch
    /// (the `kubeadm-probe-patch` template) can do.
    pub(crate) needs_probe_patch: bool,
    /// Suppression comments that silence nothing (unused, unknown rule, no reason, not
    /// understood, misplaced).
    pub(crate) unused_suppressions: Vec<Unused>,
}

/// A finding silenced by a comment: the reason given and where the comment is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Suppressed {
    pub(crate) reason: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Why a suppression comment silences nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnusedKind {
    /// The rule finds nothing there.
    Unused,
    /// The profile has no rule of that id.
    UnknownRule,
    /// No reason after `]`: ignored.
    NoReason,
    /// A `# kubeharden:` comment that is not `ignore[...]`.
    Malformed,
    /// On its own line, but not directly above a container or a document.
    Misplaced,
}

impl UnusedKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UnusedKind::Unused => "unused",
            UnusedKind::UnknownRule => "unknown_rule",
            UnusedKind::NoReason => "no_reason",
            UnusedKind::Malformed => "malformed",
            UnusedKind::Misplaced => "misplaced",
        }
    }

    /// The comment is wrong (rather than merely without effect in this run).
    pub(crate) fn is_invalid(self) -> bool {
        matches!(
            self,
            UnusedKind::NoReason | UnusedKind::Malformed | UnusedKind::Misplaced
        )
    }
}

/// A suppression comment (or one rule id of it) that silences nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unused {
    /// The comment: its `#` and the position after its last character.
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) end_column: usize,
    /// The rule id concerned, when the problem is about one.
    pub(crate) rule_id: Option<String>,
    pub(crate) kind: UnusedKind,
    pub(crate) message: String,
}

/// An error for one file: bad input, or a change that cannot be made safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub(crate) path: String,
    pub line_col: Option<(usize, usize)>,
    pub message: String,
    /// Not a manifest of the component at all (see `manifest::LoadError::unrecognized`).
    pub unrecognized: bool,
}

/// `s` on one line: line breaks and other control characters written as escapes, so that a
/// value quoted from a file (a multi-line `kind`, say) cannot start a line of its own in an
/// error message.
pub(crate) fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One line: the path, the position when known, and the message.
impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, message) = (one_line(&self.path), one_line(&self.message));
        match self.line_col {
            Some((l, c)) => write!(f, "{path}:{l}:{c}: {message}"),
            None => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for FileError {}

pub(crate) fn file_error(
    path: &str,
    text: &str,
    offset: Option<usize>,
    line_col: Option<(usize, usize)>,
    message: String,
) -> FileError {
    FileError {
        path: path.to_string(),
        line_col: line_col.or_else(|| offset.map(|o| crate::yaml::line_col(text, o))),
        message,
        unrecognized: false,
    }
}

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

/// What a run keeps of its outcomes once each is written (a streamed report): what the lines
/// after the report, the messages on standard error and the exit code need, the same for ten
/// files or a hundred thousand (errors are kept whole: they are said again on standard error).
#[derive(Debug, Default)]
pub struct Kept {
    /// Files checked (reports).
    pub reports: usize,
    pub skipped: usize,
    pub errors: Vec<FileError>,
    /// The Kubernetes versions of the reports, each once, and the first report's.
    pub versions: std::collections::BTreeSet<Version>,
    pub first_version: Option<Version>,
    /// Per component, in the order they come: its files, with what their findings count, and
    /// how many of them have active findings.
    pub components: Vec<(String, usize, usize, Counts)>,
    /// What the findings of every report count.
    pub counts: Counts,
    /// The files with fixable findings: how many, and the first one's path.
    pub fixable_files: usize,
    pub first_fixable: Option<String>,
}

impl Kept {
    /// Keeps what `o` adds.
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Report(r) => {
                let c = r.counts();
                self.reports += 1;
                self.versions.insert(r.version);
                self.first_version.get_or_insert(r.version);
                match self.components.iter_mut().find(|k| k.0 == r.component) {
                    Some(k) => {
                        k.1 += 1;
                        k.2 += usize::from(c.active() > 0);
                        k.3.add(&c);
                    }
                    None => self.components.push((
                        r.component.clone(),
                        1,
                        usize::from(c.active() > 0),
                        c,
                    )),
                }
                self.counts.add(&c);
                if c.fixable() > 0 {
                    self.fixable_files += 1;
                    self.first_fixable.get_or_insert_with(|| r.path.clone());
                }
            }
            Outcome::Error(e) => self.errors.push(e.clone()),
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }

    pub fn of(outcomes: &[Outcome]) -> Kept {
        let mut k = Kept::default();
        outcomes.iter().for_each(|o| k.add(o));
        k
    }

    /// Nothing but skipped files.
    pub fn only_skipped(&self) -> bool {
        self.reports == 0 && self.errors.is_empty()
    }
}

/// An error that stops a write or a rollback; nothing (more) is written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NodeError(pub String, pub Option<String>);

impl NodeError {
    pub(crate) fn new(message: String) -> NodeError {
        NodeError(message, None)
    }

    /// The backup set a failed run left behind, holding the originals of files it could not
    /// put back.
    pub(crate) fn kept_set(&self) -> Option<&str> {
        self.1.as_deref()
    }
}

/// A usage or set-up error (exit 2), reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[cfg(test)]
mod tests {
    use super::{FailOn, Region};
    use crate::profile::Severity;
    use crate::yaml::line_col;

    /// A region's end counted on from its start is where the whole text says it is: every
    /// pair of offsets of texts with several lines, CRLF, characters of 2 to 4 bytes, offsets
    /// inside a character and past the end.
    #[test]
    fn a_region_ends_where_the_whole_text_says() {
        let texts = [
            "",
            "a",
            "ab\ncd\n",
            "\n\n",
            "é: ü\r\n  - --x=€\n\n𝄞 y\nz",
            "no newline é",
        ];
        for text in texts {
            for start in 0..=text.len() + 2 {
                for end in 0..=text.len() + 2 {
                    let r = Region::of(text, start, end);
                    let whole = line_col(text, end.max(start));
                    assert_eq!(
                        (r.start(), (r.end_line, r.end_column)),
                        (line_col(text, start), whole),
                        "{text:?} {start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn fail_on_takes_one_severity_and_manual() {
        let p = |s: &str| FailOn::parse(s);
        assert_eq!(
            p("low").map(|f| (f.severity, f.manual)),
            Ok((Severity::Low, false))
        );
        assert_eq!(
            p("high,manual").map(|f| (f.severity, f.manual)),
            Ok((Severity::High, true))
        );
        assert_eq!(
            p("manual").map(|f| (f.severity, f.manual)),
            Ok((Severity::Low, true))
        );
        assert_eq!(
            p("manual, critical").map(|f| f.as_arg()),
            Ok("critical,manual".to_string())
        );
        assert!(p("high,low").is_err());
        assert!(p("severe").expect_err("refused").contains("`severe`"));
        assert!(p("").is_err());
    }
}
