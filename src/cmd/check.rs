//! `check`: the findings of a profile, as text, JSON or SARIF.

use super::args::{CheckArgs, Format};
use super::batch::process_each;
use super::exit::{ends_run, summarise, written, Exit};
use crate::load::inputs::{node_files_under, settings, DEFAULT_MANIFESTS_DIR};
use crate::load::node::Root;
use crate::model::report::UsageError;
use crate::model::report::{Kept, Outcome, COMPONENT};
use crate::render::{self, messages, sarif, Paint};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

pub(super) fn run(
    args: &CheckArgs,
    stdout: &mut (dyn Write + Send),
    stderr: &mut dyn Write,
    paint: Paint,
) -> Result<Exit, UsageError> {
    let paths = &*super::batch::read_paths(args.changed_since.as_deref(), &args.common.paths);
    // A node scan, or a node tree under --root: the preconditions of risky changes are read
    // there too.
    let node = match &args.root {
        Some(dir) => Some(Root::new(dir).map_err(|e| UsageError(e.to_string()))?),
        None => paths.is_empty().then(Root::system),
    };
    let pods = match (&args.root, &node) {
        (Some(_), Some(r)) => r
            .resolve(DEFAULT_MANIFESTS_DIR)
            .map_err(|e| UsageError(e.to_string()))?,
        _ => Path::new(DEFAULT_MANIFESTS_DIR).to_path_buf(),
    };
    let mut s = settings(
        &crate::load::inputs::Asked {
            paths,
            ..args.common.asked()
        },
        &pods,
        node_files_under(paths, node.as_ref().unwrap_or(&Root::system()))?,
    )?;
    if let Some(rev) = &args.changed_since {
        super::batch::changed_inputs(rev, paths, &mut s)?;
    }
    // A change that touches no file of ours is nothing to fail on.
    let skip_unrecognized = args.skip_unrecognized || args.changed_since.is_some();
    if args.skip_unrecognized {
        // A named file that is not ours is skipped as one found in a directory would be.
        s.inputs.all_from_dir();
    }
    s.node_root = node.clone().map(|root| {
        Box::new(
            move |c: &crate::profile::NodeCheck, m: &crate::model::Model| {
                crate::load::preconditions::on_node(c, &root, m)
            },
        ) as Box<crate::model::report::NodeLookup<'static>>
    });
    // The node's files themselves: their modes and owners (CIS 1.1.x, 4.1.x).
    let files = match (&node, args.common.paths.is_empty()) {
        (Some(root), true) => crate::load::node_files::read(root, &s.registry, &s.profile),
        _ => Vec::new(),
    };
    let fail_on = args.fail_on;
    let node_scan = args.root.is_some() || paths.is_empty();
    // Every format is written file by file as the files are done: a run holds no more than it
    // must, however many files it checks.
    let (kept, res) = match args.format {
        Format::Json => json_streamed(stdout, &s, &files),
        Format::Text => {
            let (kept, res) = text_streamed(stdout, &s, &files, paint);
            let res = res
                .and_then(|()| messages::below_fail_on(stdout, &kept, fail_on))
                .and_then(|()| fix_hint(stdout, &kept, args, node_scan));
            (kept, res)
        }
        Format::Sarif => sarif_streamed(stdout, &s, &files, skip_unrecognized),
        Format::Github => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let (kept, res) = streamed(&s, &files, false, false, &mut |o| {
                render::review::github_file(stdout, o, &cwd)
            });
            let res = res.and_then(|()| render::review::github_end(stdout, &kept));
            (kept, res)
        }
        Format::Gitlab => gitlab_streamed(stdout, &s, &files),
    };
    written(res, "the report")?;
    Ok(finish(skip_unrecognized, &s, &kept, fail_on, stderr))
}

/// What follows the report: the notes and errors on standard error, and the exit code.
fn finish(
    skip_unrecognized: bool,
    s: &crate::load::inputs::Settings,
    kept: &Kept,
    fail_on: crate::model::report::FailOn,
    stderr: &mut dyn Write,
) -> Exit {
    if skip_unrecognized && kept.only_skipped() {
        // Nothing of ours among the files a hook passed: nothing to report.
        return Exit::Ok;
    }
    messages::newer_to(stderr, kept.versions.iter().copied(), &s.registry);
    messages::errors_to(stderr, kept);
    // Suppressed findings, those below --fail-on and (unless it names them) the manual ones do
    // not fail the check.
    summarise(kept, kept.counts.failing(fail_on) > 0)
}

/// Runs the files and writes each outcome with `write` as it is done, in the inputs' order,
/// with the node's files' findings joined; then the node's files no report is of. Of each
/// outcome it keeps what [`Kept`] keeps; after a write fails, it writes no more.
fn streamed<'p>(
    s: &'p crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
    keep_edits: bool,
    keep_changes: bool,
    write: &mut (dyn FnMut(&Outcome<'p>) -> std::io::Result<()> + Send),
) -> (Kept, std::io::Result<()>) {
    let mut node = NodeFindings::new(s, files);
    let mut kept = Kept::default();
    let mut res = Ok(());
    let mut apiserver = None;
    let mut sink = |o: Outcome<'p>, kept: &mut Kept| {
        if res.is_ok() {
            res = write(&o);
        }
        kept.add(&o);
        // A reader that stopped reading (`| head`) leaves the exit code to every file; any
        // other failure ends the run with an error, and nothing more need be read.
        match &res {
            Err(e) if ends_run(e) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    };
    process_each(s, true, keep_edits, keep_changes, &mut |mut o| {
        node.join(&mut o);
        if let (None, Outcome::Report(r)) = (apiserver, &o) {
            apiserver = (r.component == COMPONENT).then_some(r.version);
        }
        sink(o, &mut kept)
    });
    for o in node.rest(s, apiserver) {
        if sink(o, &mut kept).is_break() {
            break;
        }
    }
    (kept, res)
}

/// `check --format json`: written file by file as the files are done (with each file's
/// changes).
fn json_streamed(
    out: &mut (dyn Write + Send),
    s: &crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
) -> (Kept, std::io::Result<()>) {
    let mut stream = match render::json::JsonStream::begin(out, &s.profile) {
        Ok(st) => st,
        Err(e) => return (Kept::default(), Err(e)),
    };
    let (kept, res) = streamed(s, files, false, true, &mut |o| stream.file(out, o));
    (kept, res.and_then(|()| stream.end(out)))
}

/// `check --format gitlab`: the issues written file by file as the files are done.
fn gitlab_streamed(
    out: &mut (dyn Write + Send),
    s: &crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
) -> (Kept, std::io::Result<()>) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut stream = match render::review::GitlabStream::begin(out) {
        Ok(st) => st,
        Err(e) => return (Kept::default(), Err(e)),
    };
    let (kept, res) = streamed(s, files, false, false, &mut |o| stream.file(out, o, &cwd));
    (kept, res.and_then(|()| stream.end(out)))
}

/// `check --format sarif`: each file's results and notifications written to spools of their
/// own as the files are done, and the log around them at the end. SARIF carries the fixes, so
/// the edits are made and verified as for `fix`.
fn sarif_streamed(
    out: &mut (dyn Write + Send),
    s: &crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
    nothing_is_fine: bool,
) -> (Kept, std::io::Result<()>) {
    // File URIs are relative to the directory kubeharden runs in.
    let cwd = std::env::current_dir().unwrap_or_default();
    let ctx = sarif::Context {
        cwd: &cwd,
        real: &crate::load::node::canonical,
        ignores: s.ignores,
        nothing_is_fine,
    };
    let mut stream = sarif::SarifStream::new(&s.profile, &ctx);
    let (mut spool, mut notes) = (
        crate::apply::output::Spool::new(),
        crate::apply::output::Spool::new(),
    );
    let (kept, res) = streamed(s, files, true, true, &mut |o| {
        stream.file(&mut spool, &mut notes, o)
    });
    let res = res.and_then(|()| {
        stream.end(out, &mut |out| spool.copy_to(out), &mut |out| {
            notes.copy_to(out)
        })
    });
    (kept, res)
}

/// `check` as text: each file's block written as it is done; the lines after the blocks count
/// from what is kept of each file (see [`Kept`]).
fn text_streamed(
    out: &mut (dyn Write + Send),
    s: &crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
    paint: Paint,
) -> (Kept, std::io::Result<()>) {
    let mut tally = render::text::Tally::default();
    let (kept, res) = streamed(s, files, false, false, &mut |o| {
        render::text::text_file(out, o, &s.profile, paint, &mut tally)
    });
    let res = res.and_then(|()| render::text::text_end(out, &kept, tally, paint));
    (kept, res)
}

/// The node's files' findings joined to the report of the same file, as the reports come; the
/// files no report is of, after them.
struct NodeFindings<'p> {
    pending: Vec<Option<crate::model::report::FileReport<'p>>>,
    at: Vec<Option<std::path::PathBuf>>,
}

impl<'p> NodeFindings<'p> {
    fn new(s: &'p crate::load::inputs::Settings, files: &[crate::model::NodeFile]) -> Self {
        let newest = crate::profile::version::Version::minor(s.registry.versions.newest);
        let pending = crate::check::files::reports(&s.profile, files, s.registry.judged(newest));
        let at = pending
            .iter()
            .map(|p| crate::load::node::canonical(Path::new(&p.path)))
            .collect();
        NodeFindings {
            pending: pending.into_iter().map(Some).collect(),
            at,
        }
    }

    /// Joins the findings on `o`'s file to it.
    fn join(&mut self, o: &mut Outcome<'p>) {
        if let (Outcome::Report(r), false) = (o, self.pending.iter().all(Option::is_none)) {
            let here = crate::load::node::canonical(Path::new(&r.path));
            if let Some(i) = self.at.iter().position(|p| p.is_some() && *p == here) {
                if let Some(p) = self.pending[i].take() {
                    r.findings.extend(p.findings);
                }
            }
        }
    }

    /// The files no report was of, for the version of the node's kube-apiserver (the newest
    /// kubeharden knows without one).
    fn rest(
        self,
        s: &crate::load::inputs::Settings,
        apiserver: Option<crate::profile::version::Version>,
    ) -> Vec<Outcome<'p>> {
        let newest = crate::profile::version::Version::minor(s.registry.versions.newest);
        let version = apiserver.unwrap_or(newest);
        self.pending
            .into_iter()
            .flatten()
            .map(|mut r| {
                r.version = s.registry.judged(version);
                Outcome::Report(Box::new(r))
            })
            .collect()
    }
}

/// How to fix what `check` found, in the words that fit where it ran: on a node, `fix` in
/// place; for files (a repository), a patch to apply or a copy to write.
fn fix_hint(
    out: &mut dyn Write,
    kept: &Kept,
    args: &CheckArgs,
    node_scan: bool,
) -> std::io::Result<()> {
    let Some(first) = kept.first_fixable.as_deref() else {
        return Ok(());
    };
    let profile = if args.common.profile == "baseline" {
        String::new()
    } else {
        format!(" --profile {}", args.common.profile)
    };
    if node_scan {
        let root = args
            .root
            .as_ref()
            .map(|r| format!(" --root {}", r.display()))
            .unwrap_or_default();
        return writeln!(
            out,
            "to fix: sudo kubeharden fix{profile}{root} (asks about each change, backs up first)"
        );
    }
    let (files, one) = if kept.fixable_files == 1 {
        (first.to_string(), first)
    } else {
        ("FILE...".to_string(), "FILE")
    };
    writeln!(
        out,
        "to fix: kubeharden diff{profile} {files} | git apply, or kubeharden fix{profile} {one} --output NEW-FILE"
    )
}
