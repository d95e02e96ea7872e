//! The pipeline for one file, the same for every document kind: load → check → plan → edit →
//! verify, then the report. Pure: it takes text and returns a report; reading and writing files
//! is the commands' business. What differs between kinds is behind [`Document`] and [`Part`].

use crate::check::suppress::Suppressions;
use crate::check::{self, Env, Finding};
use crate::document::{self, Document, LoadError, Part, BARE_CR};
use crate::edit;
use crate::model::change::{Change, Planned, RequiredFile};
use crate::model::report::{
    file_error, FileError, FileReport, Region, ReportFinding, Verdict, VersionSource,
};
use crate::model::Override;
use crate::plan::{self, Plan};
use crate::profile::version::Version;
use crate::profile::{same_name, Profile, Registry};
use crate::verify::{self, VerifyError};
use std::borrow::Cow;

/// How a file is processed.
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
    /// Where kubeadm's patches are found for a kubeadm file that names a patches directory
    /// (`None`: they are not read, and the file is judged without them).
    pub patches: Option<&'a PatchLookup<'a>>,
    /// The file is the configuration of a new cluster (`generate kubeadm`): the fixes that only
    /// a new cluster can take safely apply (`existing_cluster` conditions do not hold).
    pub new_cluster: bool,
    /// Reads a risky change's precondition on the node the file is from (`fix` in place,
    /// `check` of a node); `None`: the file alone decides.
    pub on_node: Option<&'a NodeLookup<'a>>,
    /// The kubelet's command-line flags that override settings of its configuration file
    /// (read on the node), for the kubelet's configuration file: it is judged as the kubelet
    /// runs it, and what a flag overrides is not changed in the file.
    pub overrides: &'a [crate::model::Override],
}

pub use crate::model::report::NodeLookup;

/// Finds the kube-apiserver patches kubeadm would apply for the file `path` whose patches
/// directory is `dir`: each file's name as shown and its text, in the order kubeadm applies
/// them; or why there are none to read.
pub type PatchLookup<'a> = dyn Fn(&str, &str) -> Result<Vec<(String, String)>, String> + Sync + 'a;

impl<'a> Options<'a> {
    /// `diff` of a file on its own: the version the file names, suppression comments read, no
    /// patches, node or command-line flags, the configuration of a running cluster. A run sets
    /// what differs with `Options { report_only: true, ..Options::new(registry, profile) }`.
    pub fn new(registry: &'a Registry, profile: &'a Profile) -> Options<'a> {
        Options {
            registry,
            profile,
            version: None,
            node_version: None,
            report_only: false,
            keep_edits: false,
            ignores: true,
            patches: None,
            new_cluster: false,
            on_node: None,
            overrides: &[],
        }
    }

    /// The edit is verified before it is reported.
    pub(crate) fn verifies(&self) -> bool {
        !self.report_only || self.keep_edits
    }

    /// The report keeps the original and edited texts.
    pub(crate) fn keeps_texts(&self) -> bool {
        !self.report_only || self.keep_edits
    }
}

/// The offset of the first U+0085, U+2028 or U+2029 in `text` (UTF-8 `C2 85`, `E2 80 A8`,
/// `E2 80 A9`), found by bytes: the text is scanned once for every file.
fn line_separator(text: &str) -> Option<usize> {
    const SEPARATORS: [&[u8]; 3] = [&[0xc2, 0x85], &[0xe2, 0x80, 0xa8], &[0xe2, 0x80, 0xa9]];
    // Most files are ASCII, which a word-at-a-time check tells without looking at each byte.
    if text.is_ascii() {
        return None;
    }
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

/// Refuses text that is no YAML manifest, or that the kubelet would read differently.
fn screen(path: &str, text: &str) -> Result<(), FileError> {
    // The byte searches of every file's whole text are memchr's (a vector at a time).
    if memchr::memchr(0, text.as_bytes()).is_some() {
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
    // A template (Helm and Go templates, Jinja): what it deploys is known only once it is
    // rendered, and an edit could land in a branch that is never used. Found inside a
    // directory (a chart in a repository) it is skipped as not ours.
    if let Some(offset) = template_tag(text) {
        return Err(FileError {
            unrecognized: true,
            ..file_error(
                path,
                text,
                Some(offset),
                None,
                "a templated file (`{{ }}` or `{% %}` tags): kubeharden reads rendered YAML; render it first (helm template, jinja2, ...) and check the result".into(),
            )
        });
    }
    Ok(())
}

/// The offset of the first template tag (`{{`, `{%`) outside a comment line.
fn template_tag(text: &str) -> Option<usize> {
    // Most files have no `{` followed by `{` or `%` at all, and few `{`: each is found with
    // `memchr`, which skips the bytes between them a vector at a time.
    let b = text.as_bytes();
    let mut from = 0;
    let opens_tag = loop {
        match memchr::memchr(b'{', &b[from..]) {
            Some(i) if matches!(b.get(from + i + 1), Some(b'{' | b'%')) => break true,
            Some(i) => from += i + 1,
            None => break false,
        }
    };
    if !opens_tag {
        return None;
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim_start().starts_with('#') {
            for open in ["{{", "{%"] {
                if let Some(i) = line.find(open) {
                    let close = if open == "{{" { "}}" } else { "%}" };
                    if line[i..].contains(close) {
                        return Some(offset + i);
                    }
                }
            }
        }
        offset += line.len();
    }
    None
}

/// A loader's error as an error of the file `path`, whose text is `text`.
pub(crate) fn load_error(path: &str, text: &str, e: LoadError) -> FileError {
    FileError {
        unrecognized: e.unrecognized,
        ..file_error(path, text, e.offset, e.line_col, e.message)
    }
}

/// The Kubernetes version the file is checked for, and where it comes from.
fn resolve_version(
    doc: &dyn Document,
    opts: &Options,
    notes: &mut Vec<String>,
) -> (Version, VersionSource) {
    let registry = opts.registry;
    let named = doc.named_version(registry);
    let (version, source) = match (opts.version, named, opts.node_version) {
        (Some(v), _, _) => (v, VersionSource::Option),
        (None, Some(found), _) => found,
        (None, None, Some(v)) if doc.takes_node_version(registry) => (v, VersionSource::Node),
        (None, None, _) => {
            let v = doc.assumed_version(registry);
            notes.push(doc.assumed_note(v, registry));
            (v, VersionSource::Assumed)
        }
    };
    if let (VersionSource::Option, Some((tag, VersionSource::Image))) = (source, named) {
        if tag.minor != version.minor {
            notes.push(format!(
                "--kubernetes-version {version} differs from the image tag ({tag}); kubeharden follows the option"
            ));
        }
    }
    (version, source)
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

/// The report's findings: for each of `found` (what `check::check(profile, model, env)` made),
/// whether the plan fixes it (a change made for it, or the changes made for others satisfy
/// it), and if not, why: the reason given in `left` for that rule, the rule's own, the
/// version's, `cannot`, or `fallback`. A finding about a setting a kubelet flag overrides
/// (`flagged`) is fixed only when the flag can be taken out of an environment file and the
/// file is right; one whose flag sits in a systemd unit is blocked with what to do.
#[allow(clippy::too_many_arguments)]
pub(crate) fn report_findings<'p>(
    found: Vec<check::Finding>,
    profile: &'p Profile,
    model: &crate::model::Model,
    env: Env,
    plan: &plan::Plan,
    left: &[(String, String)],
    flagged: &[(String, &Override)],
    cannot: Option<&str>,
    locate: impl Fn(Option<&str>) -> Region,
    fallback: &str,
    on_node: Option<&NodeLookup>,
) -> Vec<ReportFinding<'p>> {
    let planned = plan.after.component == model.component && !plan.is_empty();
    let mut findings = Vec::new();
    // The findings come in the profile's order: each rule is looked for from the last one on.
    let mut at = 0;
    for f in found {
        let Some(rule) = profile.position_from(&f.rule_id, at).map(|i| {
            at = i + 1;
            &profile.rules[i]
        }) else {
            continue;
        };
        let at = locate(f.flag.as_deref());
        // A setting a command-line flag overrides is not fixed by changing the file.
        let overridden_by = flagged
            .iter()
            .find(|(id, _)| id == &rule.id)
            .map(|(_, o)| Box::new((*o).clone()));
        let fixed = match &overridden_by {
            // Taken out where it is written: fixed when the file is right after the plan.
            Some(o) if o.removable() => {
                check::evaluate(rule, if planned { &plan.after } else { model }, env).is_none()
            }
            Some(_) => false,
            None => {
                plan.changes
                    .iter()
                    .any(|c| c.rules.iter().any(|r| same_name(r, &rule.id)))
                    || (planned && check::evaluate(rule, &plan.after, env).is_none())
            }
        };
        // Left to the user: the reasons the profile's data gives (a rule for a person, a fix
        // the document cannot express, a version or a condition that rules the fix out).
        // Blocked: the file cannot be changed at all, or a flag in a systemd unit decides.
        let in_unit = overridden_by.as_ref().is_some_and(|o| !o.removable());
        let left_to_user = (!fixed && !in_unit)
            .then(|| {
                left.iter()
                    .find(|(r, _)| r == &rule.id)
                    .map(|(_, why)| why.clone())
                    .or_else(|| rule.manual.clone())
                    .or_else(|| rule.blocked_because(env.version, |c| check::holds(c, model, env)))
            })
            .flatten();
        let blocked = !fixed && left_to_user.is_none();
        let manual = (!fixed).then(|| {
            left_to_user.unwrap_or_else(|| match &overridden_by {
                Some(o) => overridden_reason(o),
                None => cannot.unwrap_or(fallback).to_string(),
            })
        });
        let mut finding = ReportFinding {
            rule,
            current: f.current,
            desired: f.desired,
            line: at.line,
            column: at.column,
            end_line: at.end_line,
            end_column: at.end_column,
            fixed,
            manual,
            blocked,
            overridden_by,
            risky: risky(rule, model, env),
            on_node: None,
            suppressed: None,
        };
        judge_on_node(&mut finding, model, on_node);
        findings.push(finding);
    }
    findings
}

/// The findings about a setting that a command-line flag overrides, with the flag.
fn held_by_flags<'o>(found: &[Finding], overrides: &'o [Override]) -> Vec<(String, &'o Override)> {
    found
        .iter()
        .filter_map(|f| {
            let o = overrides
                .iter()
                .find(|o| f.flag.as_deref() == Some(o.setting.as_str()))?;
            Some((f.rule_id.clone(), o))
        })
        .collect()
}

/// Why a finding about a setting that a flag in a systemd unit overrides is not fixed, and
/// what to do.
fn overridden_reason(o: &Override) -> String {
    if o.places.iter().any(|p| p.value_apart) {
        return format!(
            "{} overrides {} of this file, and the kubelet uses the flag. Its value is written apart from it (in another variable or file), so kubeharden cannot take the flag out without leaving the value behind as an argument of its own: take both out (or give the flag the value the rule wants), run `systemctl daemon-reload` if a unit changed and `systemctl restart kubelet`, then run kubeharden again",
            o.at(),
            o.setting
        );
    }
    format!(
        "{} overrides {} of this file, and the kubelet uses the flag. It is written in a systemd unit, which kubeharden does not edit: take it out there (or give it the value the rule wants), run `systemctl daemon-reload` and `systemctl restart kubelet`, then run kubeharden again",
        o.at(),
        o.setting
    )
}

/// `model` with the settings that `overrides` give, as the kubelet takes them: a flag replaces
/// the file's value; the items of a map flag (`--feature-gates`) replace those of the same key.
fn with_overrides(
    model: &crate::model::Model,
    overrides: &[Override],
    registry: &Registry,
) -> crate::model::Model {
    let mut out = model.clone();
    for o in overrides {
        let map = registry
            .flag(&model.component, &o.setting)
            .is_some_and(|s| s.kind == crate::profile::FlagType::Map);
        let mut value = o.value.clone();
        if map {
            if let Some(old) = model.value_ref(&o.setting) {
                let key = |kv: &str| kv.split('=').next().unwrap_or("").trim().to_string();
                let given: Vec<String> = o.value.split(',').map(key).collect();
                let kept = old
                    .split(',')
                    .filter(|kv| !kv.is_empty() && !given.contains(&key(kv)));
                value = kept.chain(o.value.split(',')).collect::<Vec<_>>().join(",");
            }
        }
        out.flags.retain(|f| f.name != o.setting);
        out.flags.push(crate::model::Flag {
            name: o.setting.clone(),
            value: Some(value),
        });
    }
    out
}

/// A risky fix whose precondition the node can tell: safe when it holds there, not made (with
/// what was read and what to do first) when it fails, risky still when it cannot be read.
fn judge_on_node(f: &mut ReportFinding, model: &crate::model::Model, on_node: Option<&NodeLookup>) {
    let (true, Some(a), Some(look)) = (f.fixed, f.risky, on_node) else {
        return;
    };
    let Some(check) = &a.on_node else { return };
    match look(check, model) {
        Verdict::Holds(what) => {
            f.risky = None;
            f.on_node = Some(Ok(what));
        }
        Verdict::Fails(why) => {
            f.fixed = false;
            f.manual = Some(format!("not made: on this node {why}"));
            f.on_node = Some(Err(why));
        }
        Verdict::Unknown(_) => {}
    }
}

/// What can go wrong with `rule`'s fix on `model`, unless the file shows its precondition holds.
pub(crate) fn risky<'p>(
    rule: &'p crate::profile::Rule,
    model: &crate::model::Model,
    env: Env,
) -> Option<&'p crate::profile::Applicability> {
    rule.applicability.as_ref().filter(|a| {
        !a.safe_when
            .as_ref()
            .is_some_and(|c| check::holds(c, model, env))
    })
}

/// With a guessed Kubernetes version, the rules of `component` that hold for some versions only
/// are left out of `profile` (the component may be older than the guess); they are returned
/// with the reason, which says that `what` names no version.
fn leave_version_bound(
    profile: &mut Profile,
    component: &str,
    what: &str,
) -> Vec<(String, String)> {
    let left: Vec<(String, String)> = profile
        .rules
        .iter()
        .filter(|r| r.component == component && !r.versions.is_any())
        .map(|r| {
            (
                r.id.clone(),
                format!("the rule depends on the Kubernetes version ({}), which {what} does not name; pass --kubernetes-version", r.versions),
            )
        })
        .collect();
    profile
        .rules
        .retain(|r| !left.iter().any(|(id, _)| id == &r.id));
    left
}

/// What planning and editing one part came to.
#[derive(Default)]
struct Attempt {
    plan: Plan,
    /// Rules left out of the plan because the document cannot express their fix, with why.
    left: Vec<(String, String)>,
    /// Those of them whose fix changes the probes.
    probe_rules: Vec<String>,
    /// The part's text with the plan carried out, when the plan changes anything.
    edited: Option<String>,
}

/// Checks an edit before anything is written: the kind loads the edited text again and finds
/// nothing changed outside the plan, and the meaning is what the plan says.
fn verified(
    part: &dyn Part,
    plan: &Plan,
    edited: &str,
    profile: &Profile,
    env: Env,
) -> Result<(), VerifyError> {
    let after = part
        .reread(plan, edited, env.registry)
        .map_err(VerifyError)?;
    verify::verify(part.model(), &after, plan, profile, env, part.nouns())
}

/// One file on its way through the pipeline: what is known of it, and the report as its parts
/// add to it.
struct Run<'a, 'p> {
    path: &'a str,
    /// The file's text, without a byte-order mark.
    text: &'a str,
    opts: &'a Options<'p>,
    env: Env<'a>,
    source: VersionSource,
    /// The profile without the rules that suppression comments silence.
    base: &'a Profile,
    notes: Vec<String>,
    /// Why no change can be made to the file (or to the parts still to come).
    cannot: Option<String>,
    /// The text as the parts edited so far left it.
    current: Option<String>,
    findings: Vec<ReportFinding<'p>>,
    changes: Vec<Planned>,
    required_files: Vec<RequiredFile>,
    needs_probe_patch: bool,
    /// The command-line flags that override settings of the file's first part.
    overrides: &'a [Override],
    /// The flags the fix takes out of the kubelet's environment files.
    removals: Vec<crate::model::FlagPlace>,
}

impl<'p> Run<'_, 'p> {
    fn error(&self, text: &str, offset: Option<usize>, message: String) -> FileError {
        file_error(self.path, text, offset, None, message)
    }

    /// Plans, edits and verifies `part`. Rules whose fix the document cannot express are left
    /// out (with the reason) and the rest planned again.
    fn attempt(
        &self,
        part: &dyn Part,
        profile: &Profile,
        failing: Option<&[&str]>,
    ) -> Result<Attempt, FileError> {
        let (text, env) = (part.text(), self.env);
        let mut profile = Cow::Borrowed(profile);
        let mut out = Attempt::default();
        loop {
            let plan = plan::plan_from(&profile, part.model(), env, failing).map_err(|e| {
                file_error(
                    self.path,
                    text,
                    None,
                    Some(part.locate(None).start()),
                    format!("cannot plan a safe change: {e}; nothing was written"),
                )
            })?;
            let mut drop: Vec<String> = Vec::new();
            for p in &plan.changes {
                let Some(why) = part.inexpressible(&p.change) else {
                    continue;
                };
                for r in p
                    .rules
                    .iter()
                    .filter(|r| !drop.contains(r))
                    .collect::<Vec<_>>()
                {
                    drop.push(r.clone());
                    out.left.push((r.clone(), why.clone()));
                    if matches!(p.change, Change::ProbeToTcp { .. }) {
                        out.probe_rules.push(r.clone());
                    }
                }
            }
            if !drop.is_empty() {
                profile.to_mut().rules.retain(|r| !drop.contains(&r.id));
                continue;
            }
            if !plan.is_empty() {
                out.edited = Some(self.edit(part, &plan, &profile)?);
            }
            out.plan = plan;
            return Ok(out);
        }
    }

    /// The text of `part` with `plan` carried out, verified when the run verifies.
    fn edit(&self, part: &dyn Part, plan: &Plan, profile: &Profile) -> Result<String, FileError> {
        let text = part.text();
        if document::has_bare_cr(text) {
            return Err(self.error(text, None, format!("{BARE_CR}; nothing was written")));
        }
        let splices = part.edits(plan, self.env.registry).map_err(|e| {
            self.error(
                text,
                e.offset,
                format!("cannot edit safely: {}; nothing was written", e.message),
            )
        })?;
        let new_text =
            edit::apply(text, splices).map_err(|e| self.error(text, e.offset, e.message))?;
        if self.opts.verifies() {
            verified(part, plan, &new_text, profile, self.env)
                .map_err(|e| self.error(text, None, e.to_string()))?;
        }
        Ok(new_text)
    }

    /// The attempt on a later part, read from the text as the parts before it left it. A
    /// failure is reported at its position in the file as it is.
    fn attempt_later(&self, doc: &dyn Document, profile: &Profile) -> Result<Attempt, FileError> {
        let current = self.current.as_deref().unwrap_or(self.text);
        let run = |t: &str| -> Result<Attempt, FileError> {
            let part = doc
                .next_part(t, self.env.registry)
                .map_err(|e| load_error(self.path, t, e))?;
            match part {
                Some(p) => self.attempt(&*p, profile, None),
                None => Ok(Attempt::default()),
            }
        };
        match run(current) {
            Err(e) if current != self.text => Err(run(self.text).err().unwrap_or(e)),
            other => other,
        }
    }

    /// For each fixed finding about a setting that flags in environment files override: the
    /// change that takes them out, and where they are.
    fn take_out_flags(&mut self, findings: &[ReportFinding]) {
        for f in findings.iter().filter(|f| f.fixed) {
            let Some(o) = f.overridden_by.as_ref().filter(|o| o.removable()) else {
                continue;
            };
            if o.kubeadm_writes {
                let note = format!("kubeadm writes {} when it sets a node up (kubeadm init or join, from nodeRegistration.kubeletExtraArgs): take {} out of the kubeadm configuration too, or the nodes set up later get it again", o.file, o.written);
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
            }
            self.changes.push(Planned {
                change: Change::TakeOutFlag {
                    flag: o.written.clone(),
                    file: o.file.clone(),
                    setting: o.setting.clone(),
                },
                rules: vec![f.rule.id.clone()],
                before: Some(o.value.clone()),
            });
            for p in &o.places {
                if !self
                    .removals
                    .iter()
                    .any(|r| r.file == p.file && r.start == p.start)
                {
                    self.removals.push(p.clone());
                }
            }
        }
    }

    /// Takes `part` through the pipeline and adds what it finds and changes to the report.
    /// `found`: the findings on the part as it is; `later`: the part is not the file's first,
    /// and is read again from the text as the parts before it left it.
    fn part(
        &mut self,
        part: &dyn Part,
        found: Vec<Finding>,
        later: Option<&dyn Document>,
    ) -> Result<(), FileError> {
        let (opts, env) = (self.opts, self.env);
        // With a guessed version, rules limited to some versions are left alone where the
        // part says so: the component may be older than the guess.
        let mut profile = Cow::Borrowed(self.base);
        let mut left = match part.unversioned_subject() {
            Some(what) if self.source == VersionSource::Assumed => {
                leave_version_bound(profile.to_mut(), &part.model().component, &what)
            }
            _ => Vec::new(),
        };
        // What a command-line flag overrides: when the flag is written in environment files,
        // the fix takes it out there and makes the file right; when it is written in a unit,
        // the finding is held (the file's change would not count), with the flag's place.
        let flagged: Vec<(String, &Override)> = if later.is_none() {
            held_by_flags(&found, self.overrides)
        } else {
            Vec::new()
        };
        let held: Vec<&(String, &Override)> =
            flagged.iter().filter(|(_, o)| !o.removable()).collect();
        if !held.is_empty() {
            profile
                .to_mut()
                .rules
                .retain(|r| !held.iter().any(|(id, _)| id == &r.id));
        }
        // Nothing is planned for a file already known to be unfixable.
        let result = match (&self.cannot, later) {
            (Some(_), _) => Ok(Attempt::default()),
            (None, None) => {
                let failing: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
                self.attempt(part, &profile, Some(&failing))
            }
            (None, Some(doc)) => self.attempt_later(doc, &profile),
        };
        let attempt = failure_as_note(
            result,
            opts.report_only,
            part.subject(),
            &mut self.notes,
            &mut self.cannot,
        )?
        .unwrap_or_default();
        left.extend(attempt.left);
        let findings = report_findings(
            found,
            opts.profile,
            part.model(),
            env,
            &attempt.plan,
            &left,
            &flagged,
            self.cannot.as_deref(),
            |flag| part.locate(flag),
            part.fallback(),
            opts.on_node,
        );
        self.needs_probe_patch |= findings
            .iter()
            .any(|f| !f.fixed && attempt.probe_rules.contains(&f.rule.id));
        self.changes.extend(attempt.plan.changes);
        self.take_out_flags(&findings);
        self.findings.extend(findings);
        self.required_files.extend(attempt.plan.required_files);
        if let Some(t) = attempt.edited {
            self.current = Some(t);
        }
        Ok(())
    }
}

/// The findings on a part, with the line each is reported at: what suppression comments are
/// matched against.
fn located(found: &[Finding], part: &dyn Part) -> Vec<(String, usize)> {
    found
        .iter()
        .map(|f| (f.rule_id.clone(), part.locate(f.flag.as_deref()).line))
        .collect()
}

/// Runs the whole pipeline on one file's text.
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
    screen(path, text)?;
    let mut doc = document::load(text, opts.registry).map_err(|e| load_error(path, text, e))?;
    let mut notes = Vec::new();
    if let Some(dir) = doc.patches_dir().map(str::to_string) {
        take_patches(path, &dir, &mut *doc, opts, &mut notes);
    }
    let (version, source) = resolve_version(&*doc, opts, &mut notes);
    // A release newer than kubeharden knows is judged as the newest it knows; the run says so
    // once (docs/versions.md).
    let env = Env {
        registry: opts.registry,
        version: opts.registry.judged(version),
        new_cluster: opts.new_cluster,
    };
    // Why no change can be made to the file at all, when that is known before planning:
    // `diff` and `fix` refuse the file, `check` reports the findings as not fixable.
    let mut cannot: Option<String> = None;
    for why in doc.refusals(env, source, &mut notes) {
        refuse_or_note(path, text, &why, opts.report_only, &mut notes)?;
        cannot.get_or_insert(why);
    }
    // The file's later part (kubeadm's KubeletConfiguration), as the file is.
    let later = doc.next_part(text, opts.registry);
    // Suppression comments: the rules they silence are left out of the plan.
    let sup = Suppressions::read(text, opts.ignores, doc.suppression_targets());
    // The kubelet runs with the flags of its command line over its configuration file
    // (k/k cmd/kubelet/app/options/options.go, AddKubeletConfigFlags): the file is judged as
    // the kubelet runs it.
    let overrides = if doc.is_kubeadm() || doc.component() != crate::document::component::COMPONENT
    {
        &[][..]
    } else {
        opts.overrides
    };
    let effective =
        (!overrides.is_empty()).then(|| with_overrides(doc.model(), overrides, opts.registry));
    for o in overrides {
        notes.push(format!(
            "the kubelet's command line sets {}, which wins over this file: {}",
            o.setting,
            o.at()
        ));
    }
    // The findings on the file as it is: for suppressions, planning and the report alike.
    let found = check::check(opts.profile, effective.as_ref().unwrap_or(doc.model()), env);
    let reduced = sup.without_silenced(opts.profile, || {
        let mut all = located(&found, &*doc);
        if let Ok(Some(p)) = &later {
            all.extend(located(&check::check(opts.profile, p.model(), env), &**p));
        }
        all
    });
    let mut run = Run {
        path,
        text,
        opts,
        env,
        source,
        base: reduced.as_ref().unwrap_or(opts.profile),
        notes,
        cannot,
        current: None,
        findings: Vec::new(),
        changes: Vec::new(),
        required_files: Vec::new(),
        needs_probe_patch: false,
        overrides,
        removals: Vec::new(),
    };
    run.part(&*doc, found, None)?;
    if let Some(p) = later.map_err(|e| load_error(path, text, e))? {
        let found = check::check(opts.profile, p.model(), env);
        run.part(&*p, found, Some(&*doc))?;
    }
    let unused_suppressions = sup.apply(&mut run.findings, opts.profile);
    let keep = opts.keeps_texts();
    Ok(FileReport {
        path: path.to_string(),
        component: doc.component().to_string(),
        version,
        version_source: source,
        notes: run.notes,
        findings: run.findings,
        changes: run.changes,
        required_files: run.required_files,
        original: if keep {
            full_text.to_string()
        } else {
            String::new()
        },
        edited: run.current.filter(|_| keep).map(|t| format!("{bom}{t}")),
        kubeadm: doc.is_kubeadm(),
        needs_probe_patch: run.needs_probe_patch,
        removals: run.removals,
        unused_suppressions,
    })
}

/// The patches of kubeadm's patches directory `dir`, taken into the model of the file at
/// `path`, and a note saying which were read or why none were.
fn take_patches(
    path: &str,
    dir: &str,
    doc: &mut dyn Document,
    opts: &Options,
    notes: &mut Vec<String>,
) {
    let Some(lookup) = opts.patches else {
        return;
    };
    let read = lookup(path, dir).and_then(|found| doc.take_patches(&found).map(|()| found));
    notes.push(match read {
        Ok(found) => format!(
            "kube-apiserver's probes are judged with kubeadm's patches {}",
            found
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(why) => format!(
            "patches.directory {dir}: {why}; kube-apiserver's probes are judged as kubeadm writes them"
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::{line_separator, template_tag};

    #[test]
    fn template_tags_are_found_outside_comment_lines() {
        let cases = [
            (Some(7), "image: {{ .Values.image }}\n"),
            (Some(12), "a: b\nc: \"x\" {% if x %}y{% endif %}\n"),
            (Some(32), "# {{ not this }}\nvolumes: {}\nx: {{y}}"),
            // Braces that open no tag, a tag that never closes, a file ending in a brace.
            (None, "a: {}\nb: {x: {}}\nc: { {\n"),
            (None, "a: {{ open\n"),
            (None, "a: {"),
            (None, ""),
        ];
        for (at, text) in cases {
            assert_eq!(template_tag(text), at, "{text:?}");
        }
    }

    #[test]
    fn line_separators_are_found_by_their_bytes() {
        let cases = [
            (Some(4), "a: b\u{85}c"),
            (Some(7), "é… a\u{2028}"),
            (Some(1), "x\u{2029}"),
            // Neighbours that share a first byte are not separators.
            (None, "\u{a0}\u{2026}\u{2027}\u{202a}é"),
            (None, ""),
        ];
        for (at, text) in cases {
            assert_eq!(line_separator(text), at, "{text:?}");
        }
        // The same answer as a search by characters, over text with many near misses.
        let text = "é\u{a0}…\u{2027} naïve \u{80}\u{9f} x\u{2029}y\u{85}";
        assert_eq!(
            line_separator(text),
            text.find(['\u{85}', '\u{2028}', '\u{2029}'])
        );
    }
}

#[cfg(test)]
mod verify_tests {
    use super::verified;
    use crate::check::Env;
    use crate::document::manifest::{self, Manifest};
    use crate::plan::{self, Plan};
    use crate::profile::version::Version;
    use crate::profile::{Profile, Registry};

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --enable-admission-plugins=NodeRestriction\n    - --profiling=true\n    image: registry.k8s.io/kube-apiserver:v1.30.0\n    name: kube-apiserver\n";

    /// Kubernetes 1.30 with the built-in registry, the baseline profile, and [`POD`] loaded.
    fn setup() -> (Env<'static>, Profile, Manifest) {
        static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        let registry = REGISTRY.get_or_init(|| Registry::builtin().expect("registry"));
        let env = Env {
            registry,
            version: Version::minor(30),
            new_cluster: false,
        };
        let profile = Profile::load("baseline", registry).expect("profile");
        let m = manifest::load(POD, "kube-apiserver", registry).expect("loads");
        (env, profile, m)
    }

    fn edited(m: &Manifest, p: &Plan, reg: &Registry) -> String {
        use crate::document::Part;
        crate::edit::apply(&m.text, m.edits(p, reg).expect("edits")).expect("apply")
    }

    #[test]
    fn the_real_edit_passes_and_tampering_is_caught() {
        let (env, prof, m) = setup();
        let p = plan::plan(&prof, &m.model, env).expect("plan");
        let good = edited(&m, &p, env.registry);
        verified(&m, &p, &good, &prof, env).expect("the real edit verifies");
        let check = |text: &str| verified(&m, &p, text, &prof, env);

        let renamed = good.replace("name: kube-apiserver\nspec", "name: other\nspec");
        let err = check(&renamed).expect_err("metadata changed");
        assert!(err.0.contains("outside the planned changes"), "{err}");

        let dropped = good.replace("    - --profiling=false\n", "");
        let err = check(&dropped).expect_err("a planned flag is missing");
        assert!(err.0.contains("flags differ"), "{err}");

        let extra = good.replace(
            "    - --profiling=false\n",
            "    - --profiling=false\n    - --v=4\n",
        );
        assert!(check(&extra).is_err(), "an unplanned flag");

        let broken = good.replace("kind: Pod", "kind: [Pod");
        let err = check(&broken).expect_err("unparseable");
        assert!(err.0.contains("no longer loads"), "{err}");
    }

    /// The edited text's mounts and volumes must be the planned ones, field by field.
    #[test]
    fn mounts_and_volumes_other_than_the_planned_ones_are_caught() {
        use crate::model::{Mount, Volume};
        let (env, prof, m) = setup();
        let mut p = plan::plan(&prof, &m.model, env).expect("plan");
        let good = edited(&m, &p, env.registry);
        // A plan whose model has one mount and its volume more than the edit makes.
        p.after.mounts.push(Mount {
            name: "logs".into(),
            mount_path: "/var/log/kubernetes".into(),
            read_only: false,
            sub_path: None,
        });
        p.after.volumes.push(Volume {
            name: "logs".into(),
            host_path: Some("/var/log/kubernetes".into()),
            path_type: Some("DirectoryOrCreate".into()),
        });
        let with_good = |p: &Plan| verified(&m, p, &good, &prof, env);
        let err = with_good(&p).expect_err("a planned mount is missing");
        assert!(err.0.contains("differ from the planned ones"), "{err}");
        // The edit makes that mount and volume: each field told apart.
        let added = [
            good.as_str(),
            "    volumeMounts:\n    - mountPath: /var/log/kubernetes\n      name: logs\n",
            "  volumes:\n  - hostPath:\n      path: /var/log/kubernetes\n      type: DirectoryOrCreate\n    name: logs\n",
        ]
        .concat();
        let check = |p: &Plan| verified(&m, p, &added, &prof, env);
        check(&p).expect("the mount and volume as planned");
        for change in [
            |p: &mut Plan| p.after.mounts[0].read_only = true,
            |p: &mut Plan| p.after.mounts[0].mount_path = "/var/log".into(),
            |p: &mut Plan| p.after.volumes[0].path_type = None,
            |p: &mut Plan| p.after.volumes[0].host_path = Some("/var/log".into()),
            |p: &mut Plan| p.after.volumes[0].name = "other".into(),
        ] {
            let mut q = p.clone();
            change(&mut q);
            let err = check(&q).expect_err("a field differs");
            assert!(err.0.contains("differ from the planned ones"), "{err}");
        }
    }

    #[test]
    fn a_plan_that_leaves_work_behind_is_not_idempotent() {
        let (env, prof, m) = setup();
        // An empty plan checked against the unchanged text: re-planning still finds work.
        let empty = Plan {
            after: m.model.clone(),
            ..Plan::default()
        };
        let err = verified(&m, &empty, POD, &prof, env).expect_err("not idempotent");
        assert!(err.0.contains("second run"), "{err}");
    }
}
