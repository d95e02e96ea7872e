//! The pipeline for one file: load → model → check → plan → edit → verify. Pure: it takes text
//! and returns a report; reading and writing files is the caller's business.

use crate::check::{self, Env};
use crate::edit;
use crate::manifest::{self, image_version, Manifest};
use crate::plan::{self, Planned, RequiredFile};
use crate::profile::{Profile, Registry, Rule};
use crate::verify;
use crate::version::Version;
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
    pub fn as_str(self) -> &'static str {
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
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Region {
    /// The region of the byte range `[start, end)` of `text`.
    pub fn of(text: &str, start: usize, end: usize) -> Region {
        let (line, column) = line_col(text, start);
        let (end_line, end_column) = line_col(text, end.max(start));
        Region {
            line,
            column,
            end_line,
            end_column,
        }
    }

    pub fn start(&self) -> (usize, usize) {
        (self.line, self.column)
    }
}

/// Where the first element of a node ends: a scalar's or flow collection's end, the end of a
/// block sequence's first item, the end of a block mapping's first key. A finding that points
/// at a list or a mapping covers that much of it.
pub(crate) fn head_end(n: &crate::yaml::Node) -> usize {
    use crate::yaml::Kind;
    match &n.kind {
        Kind::Seq { items, flow: false } => items.first().map_or(n.span.start, head_end),
        Kind::Map {
            entries,
            flow: false,
        } => entries.first().map_or(n.span.start, |(k, _)| k.span.end),
        _ => n.span.end,
    }
}

#[derive(Clone, Debug)]
pub struct ReportFinding<'p> {
    /// The rule, borrowed from the profile.
    pub rule: &'p Rule,
    pub current: String,
    pub desired: String,
    /// Where the finding points (the setting, or where it is missing from); `line` and
    /// `column` are its start, `end_line` and `end_column` the position after its end.
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// The plan changes something for this rule.
    pub fixed: bool,
    /// Why the profile leaves it to the user, when it does.
    pub manual: Option<String>,
    /// A `# kubeharden: ignore[...]` comment silences it.
    pub suppressed: Option<crate::suppress::Suppressed>,
}

impl ReportFinding<'_> {
    /// Counts for the exit code and the totals: not silenced by a suppression.
    pub fn active(&self) -> bool {
        self.suppressed.is_none()
    }
}

#[derive(Clone, Debug)]
pub struct FileReport<'p> {
    pub path: String,
    pub component: String,
    pub version: Version,
    pub version_source: VersionSource,
    pub notes: Vec<String>,
    pub findings: Vec<ReportFinding<'p>>,
    pub changes: Vec<Planned>,
    pub required_files: Vec<RequiredFile>,
    /// The file's text (empty in `report_only` mode, which keeps no texts).
    pub original: String,
    /// The hardened text, when the plan changes anything (`None` in `report_only` mode).
    pub edited: Option<String>,
    /// The file is a kubeadm configuration, not a static pod manifest.
    pub kubeadm: bool,
    /// A rule needs kubeadm's probes of kube-apiserver changed, which only a kubeadm patch
    /// (the `kubeadm-probe-patch` template) can do.
    pub needs_probe_patch: bool,
    /// Suppression comments that silence nothing (unused, unknown rule, no reason, not
    /// understood, misplaced).
    pub unused_suppressions: Vec<crate::suppress::Unused>,
}

/// The report's findings: for each of `found` (what `check::check(profile, model, env)` made),
/// whether the plan fixes it (a change made for it, or the changes made for others satisfy
/// it), and if not, why: the reason given in `left` for that rule, the rule's own, the
/// version's, `cannot`, or `fallback`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn report_findings<'p>(
    found: Vec<check::Finding>,
    profile: &'p Profile,
    model: &crate::model::Model,
    env: Env,
    plan: &plan::Plan,
    left: &[(String, String)],
    cannot: Option<&str>,
    locate: impl Fn(Option<&str>) -> Region,
    fallback: &str,
) -> Vec<ReportFinding<'p>> {
    let planned = plan.after.component == model.component && !plan.is_empty();
    let mut findings = Vec::new();
    for f in found {
        let Some(rule) = profile.rule(&f.rule_id) else {
            continue;
        };
        let at = locate(f.flag.as_deref());
        let fixed = plan.changes.iter().any(|c| c.rules.contains(&rule.id))
            || (planned && check::evaluate(rule, &plan.after, env).is_none());
        let manual = (!fixed).then(|| {
            left.iter()
                .find(|(r, _)| r == &rule.id)
                .map(|(_, why)| why.clone())
                .or_else(|| rule.manual.clone())
                .or_else(|| rule.blocked_because(env.version, |c| check::holds(c, model, env)))
                .or_else(|| cannot.map(str::to_string))
                .unwrap_or_else(|| fallback.to_string())
        });
        findings.push(ReportFinding {
            rule,
            current: f.current,
            desired: f.desired,
            line: at.line,
            column: at.column,
            end_line: at.end_line,
            end_column: at.end_column,
            fixed,
            manual,
            suppressed: None,
        });
    }
    findings
}

/// A reason no change can be made to a file: for `diff` and `fix` an error (nothing is
/// written), for `check` a note beside the findings.
pub(crate) fn refuse_or_note(
    path: &str,
    text: &str,
    why: &str,
    report_only: bool,
    notes: &mut Vec<String>,
) -> Result<(), FileError> {
    if !report_only {
        return Err(file_error(
            path,
            text,
            None,
            None,
            format!("{why}; nothing was written"),
        ));
    }
    notes.push(format!(
        "kubeharden cannot fix this file automatically: {why}"
    ));
    Ok(())
}

/// The outcome of planning and editing, as `check` takes it: a failure becomes a note and the
/// reason the findings are not fixed (`None`); for `diff` and `fix` it stays an error. `what`
/// names what could not be fixed in the note ("this file").
pub(crate) fn failure_as_note<T>(
    result: Result<T, FileError>,
    report_only: bool,
    what: &str,
    notes: &mut Vec<String>,
    cannot: &mut Option<String>,
) -> Result<Option<T>, FileError> {
    match result {
        Ok(x) => Ok(Some(x)),
        Err(e) if report_only => {
            let why = e
                .message
                .trim_end_matches("; nothing was written")
                .to_string();
            notes.push(format!("kubeharden cannot fix {what} automatically: {why}"));
            *cannot = Some(why);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The text ends a line with a carriage return alone, which kubeharden does not edit.
pub(crate) fn has_bare_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
}

/// Why kubeharden edits no file that [`has_bare_cr`].
pub(crate) const BARE_CR: &str =
    "the file ends lines with bare carriage returns; kubeharden edits files with LF or CRLF line endings";

/// An error for one file: bad input, or a change that cannot be made safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub path: String,
    pub line_col: Option<(usize, usize)>,
    pub message: String,
    /// Not a manifest of the component at all (see `manifest::LoadError::unrecognized`).
    pub unrecognized: bool,
}

/// `s` on one line: line breaks and other control characters written as escapes, so that a
/// value quoted from a file (a multi-line `kind`, say) cannot start a line of its own in an
/// error message.
pub fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
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

pub struct Options<'a> {
    pub registry: &'a Registry,
    pub profile: &'a Profile,
    pub version: Option<Version>,
    /// The node's Kubernetes version, from its kube-apiserver manifest, for files that name
    /// none (used when `version` is not given).
    pub node_version: Option<Version>,
    /// `check`: report findings even when no safe fix can be made (the reason becomes a note),
    /// and skip the final verification, which only matters before writing.
    pub report_only: bool,
    /// With `report_only`: still verify the edit and keep the original and edited texts (for
    /// the fixes of `check --format sarif`); an edit that fails verification becomes a note.
    pub keep_edits: bool,
    /// Read `# kubeharden: ignore[...]` comments (`--no-ignores` turns this off).
    pub ignores: bool,
}

impl Options<'_> {
    /// The edit is verified before it is reported.
    pub fn verifies(&self) -> bool {
        !self.report_only || self.keep_edits
    }

    /// The report keeps the original and edited texts.
    pub fn keeps_texts(&self) -> bool {
        !self.report_only || self.keep_edits
    }
}

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

/// Where a finding points: the flag's first occurrence (the whole item), else the start of the
/// container's argument list (its first item), else the container (its first key).
fn locate(m: &Manifest, flag: Option<&str>) -> Region {
    // The occurrence in effect: the last one (pflag and Go's flag package keep the last).
    if let Some(item) = flag.and_then(|f| m.flags.iter().rfind(|x| x.name == f)) {
        return Region::of(&m.text, item.span.start, item.span.end);
    }
    // A setting etcd takes from a variable: its value.
    if let Some(span) = flag
        .filter(|f| m.model.from_env(f))
        .and_then(|f| m.env.iter().rfind(|e| e.flag == f))
        .and_then(|e| e.value_span)
    {
        return Region::of(&m.text, span.start, span.end);
    }
    let node = m
        .args()
        .filter(|_| m.flags.iter().any(|f| f.list == manifest::ArgList::Args))
        .or_else(|| m.command())
        .unwrap_or(m.container());
    // A missing flag: the list's first item (the program), in block and flow lists alike.
    match node.items().first() {
        Some(first) => Region::of(&m.text, first.span.start, head_end(first)),
        None => Region::of(&m.text, node.span.start, head_end(node)),
    }
}

/// What a suppression comment in a manifest can silence: the component's container.
fn suppression_targets(m: &Manifest) -> Vec<crate::suppress::Target> {
    let line = |o: usize| line_col(&m.text, o).0;
    let c = m.container();
    let head = line(c.span.start);
    let mut trailing = vec![(head, head)];
    for key in ["command", "args", "env"] {
        if let Some((k, v)) = c.entry(key) {
            trailing.push((line(k.span.start), line(v.content_end())));
        }
    }
    vec![crate::suppress::Target {
        head_line: head,
        lines: (head, line(c.content_end())),
        trailing,
    }]
}

/// Runs the whole pipeline on one file's text.
/// The offset of the first U+0085, U+2028 or U+2029 in `text` (UTF-8 `C2 85`, `E2 80 A8`,
/// `E2 80 A9`), found by bytes: the text is scanned once for every file.
fn line_separator(text: &str) -> Option<usize> {
    const SEPARATORS: [&[u8]; 3] = [&[0xc2, 0x85], &[0xe2, 0x80, 0xa8], &[0xe2, 0x80, 0xa9]];
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&x| x == 0xc2 || x == 0xe2) {
        let at = from + i;
        if SEPARATORS.iter().any(|s| b[at..].starts_with(s)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

pub fn process<'p>(
    path: &str,
    full_text: &str,
    opts: &Options<'p>,
) -> Result<FileReport<'p>, FileError> {
    // A byte-order mark is kept as it is; only the text after it is YAML.
    let bom = if full_text.starts_with('\u{feff}') {
        "\u{feff}"
    } else {
        ""
    };
    let text = &full_text[bom.len()..];
    if text.contains('\0') {
        return Err(file_error(
            path,
            text,
            None,
            None,
            "the file contains NUL bytes; it is not a YAML manifest".into(),
        ));
    }
    // YAML 1.1, which the kubelet reads manifests with (sigs.k8s.io/yaml on go-yaml v2), breaks
    // lines at U+0085, U+2028 and U+2029; YAML 1.2, which kubeharden reads, does not. Where
    // the two disagree kubeharden would check a different manifest than the kubelet runs.
    if let Some(offset) = line_separator(text) {
        return Err(file_error(
            path,
            text,
            Some(offset),
            None,
            "the file contains a Unicode line or paragraph separator (U+0085, U+2028 or U+2029), which the kubelet's YAML reader takes for a line break and kubeharden's does not; replace it".into(),
        ));
    }
    // kubeadm configuration files: a cheap look before parsing anything twice.
    if text.contains(crate::kubeadm::GROUP) {
        if let Ok(docs) = crate::yaml::parse(text) {
            if crate::kubeadm::is_kubeadm(&docs) {
                let cfg =
                    crate::kubeadm::load(text, docs, &opts.registry.kubeadm).map_err(|e| {
                        FileError {
                            unrecognized: e.unrecognized,
                            ..file_error(path, text, e.offset, e.line_col, e.message)
                        }
                    })?;
                return crate::kubeadm_engine::process(path, full_text, bom, cfg, opts);
            }
        }
    }
    // Component configuration files (KubeletConfiguration, KubeSchedulerConfiguration).
    if text.contains("Configuration") {
        if let Ok(docs) = crate::yaml::parse(text) {
            if crate::kubelet::config_kind(&docs, opts.registry).is_some() {
                let cfg = crate::kubelet::load(text, docs, opts.registry)
                    .map_err(|e| file_error(path, text, e.offset, e.line_col, e.message))?;
                return crate::kubelet::process(path, full_text, bom, cfg, opts);
            }
        }
    }
    let m = manifest::load_any(text, opts.registry).map_err(|e| FileError {
        unrecognized: e.unrecognized,
        ..file_error(path, text, e.offset, e.line_col, e.message)
    })?;

    let mut notes = Vec::new();
    // etcd's image carries etcd's own version (`etcd:3.5.15-0`), not Kubernetes'.
    let tag_version = m
        .image
        .as_deref()
        .filter(|_| opts.registry.image_is_kubernetes(&m.component))
        .and_then(image_version);
    let (version, version_source) = match (opts.version, tag_version, opts.node_version) {
        (Some(v), _, _) => (v, VersionSource::Option),
        (None, Some(v), _) => (v, VersionSource::Image),
        (None, None, Some(v)) if !opts.registry.image_is_kubernetes(&m.component) => {
            (v, VersionSource::Node)
        }
        (None, None, _) => {
            let v = opts.registry.newest();
            let what = if opts.registry.image_is_kubernetes(&m.component) {
                "no Kubernetes version in the image tag"
            } else {
                "the image tag names the component's own version, not Kubernetes'"
            };
            notes.push(format!(
                "{what} and no --kubernetes-version: assuming {v}, the newest kubeharden knows"
            ));
            (v, VersionSource::Assumed)
        }
    };
    if let (VersionSource::Option, Some(tag)) = (version_source, tag_version) {
        if tag.minor != version.minor {
            notes.push(format!(
                "--kubernetes-version {version} differs from the image tag ({tag}); kubeharden follows the option"
            ));
        }
    }
    let known = &opts.registry.versions;
    // Why no change can be made to this file at all, when that is known before planning:
    // `diff` and `fix` refuse the file, `check` reports the findings as not fixable.
    let mut cannot: Option<String> = None;
    // Older than anything kubeharden has facts for (or a typo such as 1.3): editing could write
    // what that version lacks, so only report.
    if version.minor < known.oldest {
        cannot = Some(format!(
            "Kubernetes {version} is older than 1.{}, the oldest version kubeharden has lifecycle facts for",
            known.oldest
        ));
    }
    if version.minor > known.newest || version.minor < known.oldest {
        notes.push(format!(
            "Kubernetes {version} is outside the versions kubeharden has lifecycle facts for (1.{}–1.{}); flags and plugins may be misjudged",
            known.oldest, known.newest
        ));
    }
    let env = Env {
        registry: opts.registry,
        version,
    };
    // A guessed version that the manifest contradicts (it has flags or plugins that version
    // rejects) must not steer edits: the fix could write flags the real version lacks.
    if version_source == VersionSource::Assumed {
        let mut evidence: Vec<String> = check::rejected_flags(&m.model, env)
            .iter()
            .map(|f| format!("--{f}"))
            .collect();
        evidence.extend(
            check::rejected_plugins(&m.model, env)
                .into_iter()
                .map(|(_, p)| p),
        );
        evidence.extend(
            check::rejected_gates(&m.model, env)
                .into_iter()
                .map(|(_, g)| format!("the feature gate {g}")),
        );
        if !evidence.is_empty() {
            let message = format!(
                "the image tag names no version and the manifest uses {}, which {version} rejects, so it is older than {version}; pass --kubernetes-version",
                evidence.join(", ")
            );
            cannot.get_or_insert(message);
        }
    }
    if let Some(flag) = opts
        .registry
        .components
        .get(&m.component)
        .and_then(|c| c.overriding_flag.as_deref())
        .filter(|f| m.model.present(f))
    {
        cannot.get_or_insert(format!(
            "{} reads its whole configuration from --{flag} and then ignores its other flags and environment variables; kubeharden does not read that file, so the findings come from settings {} does not use",
            m.component, m.component
        ));
    }
    if let Some(why) = &cannot {
        crate::engine::refuse_or_note(path, text, why, opts.report_only, &mut notes)?;
    }

    // Suppression comments: the rules they silence are left out of the plan.
    let sup = crate::suppress::Suppressions::read(text, opts.ignores, suppression_targets(&m));
    // The findings on the file as it is: for suppressions, planning and the report alike.
    let found = check::check(opts.profile, &m.model, env);
    let reduced = sup.without_silenced(opts.profile, || {
        found
            .iter()
            .map(|f| (f.rule_id.clone(), locate(&m, f.flag.as_deref()).line))
            .collect::<Vec<_>>()
    });
    let profile: &Profile = reduced.as_ref().unwrap_or(opts.profile);
    let failing: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();

    // Plan and render the change; a failure is an error for diff and fix, a note for check.
    let attempt = || -> Result<(plan::Plan, Option<String>), FileError> {
        let plan = plan::plan_from(profile, &m.model, env, Some(&failing)).map_err(|e| {
            let loc = locate(&m, None);
            file_error(
                path,
                text,
                None,
                Some(loc.start()),
                format!("cannot plan a safe change: {e}; nothing was written"),
            )
        })?;
        if plan.is_empty() {
            return Ok((plan, None));
        }
        if has_bare_cr(text) {
            return Err(file_error(
                path,
                text,
                None,
                None,
                format!("{BARE_CR}; nothing was written"),
            ));
        }
        let splices = edit::edits(&m, &plan).map_err(|e| {
            file_error(
                path,
                text,
                e.offset,
                None,
                format!("cannot edit safely: {}; nothing was written", e.message),
            )
        })?;
        let new_text = edit::apply(text, splices)
            .map_err(|e| file_error(path, text, e.offset, None, e.message))?;
        if opts.verifies() {
            verify::verify(&m, &plan, &new_text, profile, env)
                .map_err(|e| file_error(path, text, None, None, e.to_string()))?;
        }
        Ok((plan, Some(format!("{bom}{new_text}"))))
    };
    // Nothing is planned for a file already known to be unfixable.
    let result = match cannot {
        Some(_) => Ok((plan::Plan::default(), None)),
        None => attempt(),
    };
    let (plan, edited) = failure_as_note(
        result,
        opts.report_only,
        "this file",
        &mut notes,
        &mut cannot,
    )?
    .unwrap_or_default();

    let mut findings = report_findings(
        found,
        opts.profile,
        &m.model,
        env,
        &plan,
        &[],
        cannot.as_deref(),
        |flag| locate(&m, flag),
        "no automatic fix applies to this manifest and version",
    );
    let unused_suppressions = sup.apply(&mut findings, opts.profile);

    // `check` needs to know that a safe edit exists, not to keep it.
    let edited = if opts.keeps_texts() { edited } else { None };
    Ok(FileReport {
        path: path.to_string(),
        component: m.component.clone(),
        version,
        version_source,
        notes,
        findings,
        changes: plan.changes,
        required_files: plan.required_files,
        original: if opts.keeps_texts() {
            full_text.to_string()
        } else {
            String::new()
        },
        edited,
        kubeadm: false,
        needs_probe_patch: false,
        unused_suppressions,
    })
}

#[cfg(test)]
mod tests {
    use super::line_separator;

    #[test]
    fn line_separators_are_found_by_their_bytes() {
        assert_eq!(line_separator("a: b\u{85}c"), Some(4));
        assert_eq!(line_separator("é… a\u{2028}"), Some(7));
        assert_eq!(line_separator("x\u{2029}"), Some(1));
        // Neighbours that share a first byte are not separators.
        assert_eq!(line_separator("\u{a0}\u{2026}\u{2027}\u{202a}é"), None);
        assert_eq!(line_separator(""), None);
        // The same answer as a search by characters, over text with many near misses.
        let text = "é\u{a0}…\u{2027} naïve \u{80}\u{9f} x\u{2029}y\u{85}";
        assert_eq!(
            line_separator(text),
            text.find(['\u{85}', '\u{2028}', '\u{2029}'])
        );
    }
}
