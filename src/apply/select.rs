//! In-place `fix` on a node: which of the planned changes are made, decided rule by rule, and
//! the supporting files they need. Pure apart from looking at which files exist on the node;
//! writing is [`super::node`]'s business.
//!
//! A change offered to the user is everything one rule's fix does (the flag, the volume and
//! mount its file needs, the probe it has to switch), so declining it declines all of it. Each
//! offer is computed by running the whole pipeline on the original text with the rules accepted
//! so far plus this one, so whatever combination the user picks is planned, edited and verified
//! as a whole, exactly as `fix --yes` would do it.

use crate::load::node::{self as found, is_within, real_path, Entry, Root};
use crate::model::change::RequiredFile;
use crate::model::report::{FileError, FileReport};
use crate::pipeline::{self, Options};
use crate::profile::version::Version;
use crate::profile::{self, Rule};
use crate::render::diff_text;
use crate::render::words::describe_change;
use std::io;
use std::path::{Path, PathBuf};

/// The user's answer to one offered change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// This one and every one after it, without asking.
    All,
    /// Not this one nor any after it.
    Quit,
}

/// A supporting file (or directory) that accepting a change creates on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewFile {
    /// The flag that names it.
    pub(crate) flag: String,
    /// Its path on the node.
    pub(crate) host: String,
    /// Its path on this machine (under the root).
    pub(crate) local: PathBuf,
    /// The template it is written from and the text; `None` for a directory.
    pub(crate) content: Option<(String, String)>,
}

/// An environment file of the kubelet's unit with flags taken out (the kubelet's command line
/// overrode its configuration file with them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvEdit {
    /// Its path on the node.
    pub(crate) host: String,
    /// Its path on this machine (under the root).
    pub(crate) local: PathBuf,
    pub(crate) original: String,
    pub(crate) new: String,
}

/// The environment files with the flags at `places` taken out, or why they cannot be.
fn env_edits(places: &[crate::model::FlagPlace], node: &Node) -> Result<Vec<EnvEdit>, String> {
    let mut out = Vec::new();
    for (host, here) in crate::document::env_file::by_file(places) {
        let local = node.root.resolve(host).map_err(|e| e.to_string())?;
        let original = found::bytes(&local)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| format!("{host}: cannot read it again"))?;
        let new = crate::document::env_file::without_flags(&original, &here)?;
        out.push(EnvEdit {
            host: host.to_string(),
            local,
            original,
            new,
        });
    }
    Ok(out)
}

/// The diff `next` adds to the environment files as `before` left them.
fn env_diff(before: &[EnvEdit], next: &[EnvEdit]) -> String {
    next.iter()
        .map(|e| {
            let from = before
                .iter()
                .find(|b| b.host == e.host)
                .map_or(&e.original, |b| &b.new);
            diff_text(from, &e.new, &e.local.display().to_string())
        })
        .collect()
}

/// One change offered to the user: a rule's whole fix.
pub struct Offer<'a> {
    pub(crate) file: &'a str,
    pub rule: &'a Rule,
    pub(crate) changes: Vec<String>,
    /// The diff this change adds to the ones accepted before it.
    pub diff: String,
    pub(crate) new_files: Vec<NewFile>,
    /// What can go wrong and what must hold first, when the change is risky.
    pub risky: Option<&'a profile::Applicability>,
    /// What was read on the node that shows a risky change's precondition holds.
    pub(crate) checked: Option<String>,
    /// Its position among the file's offers (1-based), and how many there are.
    pub(crate) index: usize,
    pub(crate) total: usize,
}

/// Whoever decides: a person at a terminal, or `--yes`.
pub trait Decide {
    fn offer(&mut self, offer: &Offer) -> io::Result<Answer>;
    /// Something to tell the person deciding (a change that cannot be offered, say).
    fn tell(&mut self, message: &str);
}

/// What the decisions came to for one file.
pub struct Selection {
    /// The rules accepted, in the order offered.
    pub accepted: Vec<String>,
    /// Rules declined by the user.
    pub declined: Vec<String>,
    /// Rules that could not be offered, with the reason.
    pub(crate) refused: Vec<(String, String)>,
    /// The text with the accepted changes, planned, edited and verified as a whole; `None`
    /// when nothing is accepted.
    pub edited: Option<String>,
    pub(crate) new_files: Vec<NewFile>,
    /// The kubelet's environment files with the accepted changes' flags taken out.
    pub(crate) env_edits: Vec<EnvEdit>,
    /// Required files that exist already and are kept, though they differ from the template.
    pub(crate) kept: Vec<String>,
    /// The notes of the whole profile's report (the version assumed, say).
    pub(crate) notes: Vec<String>,
    /// Findings the profile leaves to the user, with the reason.
    pub(crate) left_over: Vec<(String, String)>,
    /// The Kubernetes version the file was planned for.
    pub(crate) version: Version,
    /// The component the file configures.
    pub(crate) component: String,
}

impl Selection {
    /// Nothing chosen yet, with what the whole profile's report says of the file.
    fn of(full: &FileReport) -> Selection {
        Selection {
            accepted: Vec::new(),
            declined: Vec::new(),
            refused: Vec::new(),
            edited: None,
            new_files: Vec::new(),
            env_edits: Vec::new(),
            kept: Vec::new(),
            notes: full
                .notes
                .iter()
                .cloned()
                .chain(
                    full.unused_suppressions
                        .iter()
                        .map(|u| format!("line {}: {}", u.line, u.message)),
                )
                .collect(),
            version: full.version,
            component: full.component.clone(),
            left_over: full
                .findings
                .iter()
                .filter(|f| !f.fixed)
                .map(|f| (f.rule.id.clone(), f.manual.clone().unwrap_or_default()))
                .collect(),
        }
    }
}

/// Where the node is: the root host paths are resolved under, and directories nothing but
/// manifests may be written into.
pub struct Node<'a> {
    pub root: &'a Root,
    pub pod_dirs: &'a [PathBuf],
}

/// The supporting files a report needs that the node lacks, or why a change cannot be made.
fn new_files(
    report: &FileReport,
    opts: &Options,
    node: &Node,
    kept: &mut Vec<String>,
) -> Result<Vec<NewFile>, String> {
    let mut out = Vec::new();
    for rf in &report.required_files {
        let local = node.root.resolve(&rf.path).map_err(|e| e.to_string())?;
        if let Some(dir) = node.pod_dirs.iter().find(|d| is_within(&local, d)) {
            return Err(format!(
                "--{} names {}, inside the static pod directory {}, where the kubelet would try to run it as a pod; point the flag elsewhere",
                rf.flag,
                rf.path,
                dir.display()
            ));
        }
        // A link that leads nowhere is not written through: kubeharden would create a file
        // somewhere the user did not name.
        let (dir, name) = rf.path.rsplit_once('/').unwrap_or(("", &rf.path));
        let unresolved = node
            .root
            .resolve(if dir.is_empty() { "/" } else { dir })
            .map_err(|e| e.to_string())?
            .join(name);
        if found::is_dangling_link(&unresolved, &local) {
            return Err(format!(
                "--{} names {}, a symbolic link to something that does not exist; fix or remove the link",
                rf.flag, rf.path
            ));
        }
        match found::entry(&local) {
            Entry::Directory if rf.directory => {}
            Entry::File if !rf.directory => {
                if let Some(t) = &rf.template {
                    let want = template_text(t, report, opts)?;
                    if found::bytes(&local).as_deref() != Some(want.as_bytes()) {
                        kept.push(format!(
                            "{} exists and differs from the profile's {t} template; kubeharden keeps it (compare: kubeharden profiles template {t} --kubernetes-version {})",
                            rf.path, report.version
                        ));
                    }
                }
            }
            Entry::Directory | Entry::File | Entry::Other => {
                return Err(format!(
                    "--{} needs the {} {} on the node, and something else is there",
                    rf.flag,
                    if rf.directory { "directory" } else { "file" },
                    rf.path
                ))
            }
            Entry::Missing => {
                out.push(new_file(rf, local, report, opts)?);
            }
            Entry::Unreadable(e) => {
                return Err(format!("{}: cannot inspect: {e}", local.display()))
            }
        }
    }
    Ok(out)
}

fn template_text(name: &str, report: &FileReport, opts: &Options) -> Result<String, String> {
    profile::render_template(
        name,
        report.version,
        opts.registry,
        &opts.profile.parameters,
    )
}

fn new_file(
    rf: &RequiredFile,
    local: PathBuf,
    report: &FileReport,
    opts: &Options,
) -> Result<NewFile, String> {
    let content = if rf.directory {
        None
    } else {
        let Some(t) = &rf.template else {
            return Err(format!(
                "--{} needs {} on the node, which does not exist, and the profile has no template for it; create it and run kubeharden again",
                rf.flag, rf.path
            ));
        };
        Some((t.clone(), template_text(t, report, opts)?))
    };
    Ok(NewFile {
        flag: rf.flag.clone(),
        host: rf.path.clone(),
        local,
        content,
    })
}

/// The rules whose fixes the full plan makes, in the order of the findings.
fn candidates(full: &FileReport) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for f in &full.findings {
        if full.changes.iter().any(|c| c.rules.contains(&f.rule.id)) && !ids.contains(&f.rule.id) {
            ids.push(f.rule.id.clone());
        }
    }
    // A change made for a rule that has no finding of its own stays with the plan.
    for c in &full.changes {
        for r in &c.rules {
            if !ids.contains(r) {
                ids.push(r.clone());
            }
        }
    }
    ids
}

/// `next` holds the settings of `current`, in another order only.
fn only_reorders(current: &str, next: &str, opts: &Options) -> bool {
    let model = |t: &str| crate::document::load(t, opts.registry).map(|d| d.model().clone());
    match (model(current), model(next)) {
        (Ok(a), Ok(b)) => a.same_settings(&b),
        _ => false,
    }
}

/// Whether `rule`'s change is risky, from the file (`full`) and, where its precondition can be
/// read on the node, from the node: risky (and what was read, when it holds there), or why it
/// is not offered (the precondition fails there).
fn risk_on_node<'p>(
    full: &FileReport<'p>,
    rule: &'p Rule,
) -> Result<(Option<&'p profile::Applicability>, Option<String>), String> {
    let Some(f) = full.findings.iter().find(|f| f.rule.id == rule.id) else {
        return Ok((rule.applicability.as_ref(), None));
    };
    match &f.on_node {
        Some(Ok(what)) => Ok((None, Some(what.clone()))),
        Some(Err(why)) => Err(format!("not offered: on this node {why}")),
        None => Ok((f.risky, None)),
    }
}

/// `opts` for the rules accepted so far and the one offered (`restricted`): the fix as `fix
/// --yes` would make it, the node's preconditions judged once for the whole file.
fn only_accepted<'a>(opts: &Options<'a>, restricted: &'a profile::Profile) -> Options<'a> {
    Options {
        version: opts.version,
        node_version: opts.node_version,
        ignores: opts.ignores,
        patches: opts.patches,
        overrides: opts.overrides,
        ..Options::new(opts.registry, restricted)
    }
}

/// `decide`'s answer to `offer`, unless every change is taken already.
fn ask(decide: &mut dyn Decide, offer: &Offer, state: Option<Answer>) -> Result<Answer, FileError> {
    if state == Some(Answer::All) {
        return Ok(Answer::All);
    }
    decide.offer(offer).map_err(|e| FileError {
        path: offer.file.to_string(),
        line_col: None,
        message: format!("cannot ask: {e}; nothing was written"),
        unrecognized: false,
    })
}

/// Lets `decide` choose among the changes the profile makes to one file. `state` carries
/// "all" and "quit" over to the next file.
pub fn select(
    path: &str,
    text: &str,
    opts: &Options,
    node: &Node,
    decide: &mut dyn Decide,
    state: &mut Option<Answer>,
) -> Result<Selection, FileError> {
    let full = pipeline::process(path, text, opts)?;
    let ids = candidates(&full);
    let mut sel = Selection::of(&full);
    let mut current = text.to_string();
    let total = ids.len();
    for (i, id) in ids.iter().enumerate() {
        if *state == Some(Answer::Quit) {
            sel.declined.push(id.clone());
            continue;
        }
        let mut with = sel.accepted.clone();
        with.push(id.clone());
        let restricted = opts.profile.only(&with);
        let sub = only_accepted(opts, &restricted);
        let report = match pipeline::process(path, text, &sub) {
            Ok(r) => r,
            Err(e) => {
                let why = format!(
                    "cannot be made with the changes accepted before it: {}",
                    e.message.trim_end_matches("; nothing was written")
                );
                decide.tell(&format!("{path}: {id}: {why}"));
                sel.refused.push((id.clone(), why));
                continue;
            }
        };
        let next = report.edited.clone().unwrap_or_else(|| text.to_string());
        let env = match env_edits(&report.removals, node) {
            Ok(e) => e,
            Err(why) => {
                decide.tell(&format!("{path}: {id}: not offered: {why}"));
                sel.refused.push((id.clone(), why));
                continue;
            }
        };
        if env == sel.env_edits && (next == current || only_reorders(&current, &next, opts)) {
            // The changes accepted already satisfy it, or all it would do is reorder what the
            // component sees anyway: nothing to offer.
            continue;
        }
        let mut kept = Vec::new();
        let files = match new_files(&report, &sub, node, &mut kept) {
            Ok(f) => f,
            Err(why) => {
                decide.tell(&format!("{path}: {id}: not offered: {why}"));
                sel.refused.push((id.clone(), why));
                continue;
            }
        };
        let fresh: Vec<NewFile> = files
            .into_iter()
            .filter(|f| !sel.new_files.contains(f))
            .collect();
        let Some(rule) = opts.profile.rule(id) else {
            continue;
        };
        let (risky, checked) = match risk_on_node(&full, rule) {
            Ok(r) => r,
            Err(why) => {
                decide.tell(&format!("{path}: {id}: {why}"));
                sel.refused.push((id.clone(), why));
                continue;
            }
        };
        let offer = Offer {
            file: path,
            rule,
            risky,
            checked,
            changes: report
                .changes
                .iter()
                .filter(|c| c.rules.contains(id))
                .map(describe_change)
                .collect(),
            diff: diff_text(&current, &next, path) + &env_diff(&sel.env_edits, &env),
            new_files: fresh.clone(),
            index: i + 1,
            total,
        };
        let answer = ask(decide, &offer, *state)?;
        match answer {
            Answer::Yes | Answer::All => {
                if answer == Answer::All {
                    *state = Some(Answer::All);
                }
                sel.accepted.push(id.clone());
                sel.new_files.extend(fresh);
                for k in kept {
                    if !sel.kept.contains(&k) {
                        sel.kept.push(k);
                    }
                }
                sel.edited = Some(next.clone());
                sel.env_edits = env;
                current = next;
            }
            Answer::No => sel.declined.push(id.clone()),
            Answer::Quit => {
                *state = Some(Answer::Quit);
                sel.declined.push(id.clone());
            }
        }
    }
    // The files the accepted changes need, in a stable order (directories before the files in
    // them).
    sel.new_files.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(sel)
}

/// The manifest directories a run must keep clean: the static pod directory and the directory
/// of every manifest it edits.
pub(crate) fn pod_dirs(manifests_dir: &Path, manifests: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![real_path(manifests_dir)];
    for m in manifests {
        if let Some(parent) = real_path(m).parent() {
            let p = parent.to_path_buf();
            if !dirs.contains(&p) {
                dirs.push(p);
            }
        }
    }
    dirs
}
