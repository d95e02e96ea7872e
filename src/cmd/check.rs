//! `check`: the findings of a profile, as text, JSON or SARIF.

use super::args::{CheckArgs, Format};
use super::batch::{process_all, process_each};
use super::exit::{summarise, written, Exit};
use crate::load::inputs::{node_files_under, settings, DEFAULT_MANIFESTS_DIR};
use crate::load::node::Root;
use crate::model::report::UsageError;
use crate::model::report::{Outcome, COMPONENT};
use crate::render::{self, messages, sarif, Paint};
use std::io::Write;
use std::path::Path;

pub(super) fn run(
    args: &CheckArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    paint: Paint,
) -> Result<Exit, UsageError> {
    // A node scan, or a node tree under --root: the preconditions of risky changes are read
    // there too.
    let node = match &args.root {
        Some(dir) => Some(Root::new(dir).map_err(|e| UsageError(e.to_string()))?),
        None => args.common.paths.is_empty().then(Root::system),
    };
    let pods = match (&args.root, &node) {
        (Some(_), Some(r)) => r
            .resolve(DEFAULT_MANIFESTS_DIR)
            .map_err(|e| UsageError(e.to_string()))?,
        _ => Path::new(DEFAULT_MANIFESTS_DIR).to_path_buf(),
    };
    let mut s = settings(
        &args.common.asked(),
        &pods,
        node_files_under(&args.common.paths, node.as_ref().unwrap_or(&Root::system()))?,
    )?;
    if args.skip_unrecognized {
        // A named file that is not ours is skipped as one found in a directory would be.
        for i in &mut s.inputs {
            i.from_dir = true;
        }
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
    let node_scan = args.root.is_some() || args.common.paths.is_empty();
    let (outcomes, res) = match args.format {
        // Written file by file as the files are done: a run holds no more than it must.
        Format::Json => json_streamed(stdout, &s, &files),
        // Written a batch of neighbouring files at a time, as they are done.
        Format::Text => {
            let (outcomes, res) = text_streamed(stdout, &s, &files, paint);
            let res = res
                .and_then(|()| messages::below_fail_on(stdout, &outcomes, fail_on))
                .and_then(|()| fix_hint(stdout, &outcomes, args, node_scan));
            (outcomes, res)
        }
        // Built whole, not yet streamed (docs/performance.md). SARIF carries the fixes, so
        // the edits are made and verified as for `fix`.
        Format::Sarif => {
            let mut outcomes = process_all(&s, true, true, true);
            let mut node = NodeFindings::new(&s, &files);
            for o in &mut outcomes {
                node.join(o);
            }
            let rest = node.rest(&s, &outcomes);
            outcomes.extend(rest);
            // File URIs are relative to the directory kubeharden runs in.
            let cwd = std::env::current_dir().unwrap_or_default();
            let ctx = sarif::Context {
                cwd: &cwd,
                real: &crate::load::node::canonical,
                ignores: s.ignores,
                nothing_is_fine: args.skip_unrecognized,
            };
            let res = sarif::write(stdout, &outcomes, &s.profile, &ctx);
            (outcomes, res)
        }
    };
    written(res, "the report")?;
    Ok(finish(args, &s, &outcomes, fail_on, stderr))
}

/// What follows the report: the notes and errors on standard error, and the exit code.
fn finish(
    args: &CheckArgs,
    s: &crate::load::inputs::Settings,
    outcomes: &[Outcome],
    fail_on: crate::model::report::FailOn,
    stderr: &mut dyn Write,
) -> Exit {
    if args.skip_unrecognized
        && outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Skipped { .. }))
    {
        // Nothing of ours among the files a hook passed: nothing to report.
        return Exit::Ok;
    }
    messages::newer_to(stderr, messages::versions(outcomes), &s.registry);
    messages::errors_to(stderr, outcomes);
    // Suppressed findings, those below --fail-on and (unless it names them) the manual ones do
    // not fail the check.
    summarise(outcomes, |r| r.counts().failing(fail_on) > 0)
}

/// `check --format json`: each file's entry written as soon as it and the files before it are
/// done, the node's files' findings joined to the entry of the same file (the others after
/// the rest); what is kept of each outcome is what the exit code and the messages after the
/// report need (see [`counted`]).
fn json_streamed<'p>(
    out: &mut dyn Write,
    s: &'p crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
) -> (Vec<Outcome<'p>>, std::io::Result<()>) {
    let mut node = NodeFindings::new(s, files);
    let mut kept: Vec<Outcome<'p>> = Vec::with_capacity(s.inputs.len());
    let mut stream = match render::json::JsonStream::begin(out, &s.profile) {
        Ok(st) => st,
        Err(e) => return (kept, Err(e)),
    };
    let mut failed: Option<std::io::Error> = None;
    let mut emit = |o: Outcome<'p>, kept: &mut Vec<Outcome<'p>>, out: &mut dyn Write| {
        if failed.is_none() {
            failed = stream.file(out, &o).err();
        }
        kept.push(counted(o));
    };
    process_each(s, true, false, true, &mut |mut o| {
        node.join(&mut o);
        emit(o, &mut kept, out);
    });
    for o in node.rest(s, &kept) {
        emit(o, &mut kept, out);
    }
    let res = match failed {
        Some(e) => Err(e),
        None => stream.end(out),
    };
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
        if let Outcome::Report(r) = o {
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
    fn rest(self, s: &crate::load::inputs::Settings, kept: &[Outcome]) -> Vec<Outcome<'p>> {
        let newest = crate::profile::version::Version::minor(s.registry.versions.newest);
        let version = kept
            .iter()
            .find_map(|o| match o {
                Outcome::Report(r) if r.component == COMPONENT => Some(r.version),
                _ => None,
            })
            .unwrap_or(newest);
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

/// `check` as text: the files' blocks written a batch at a time, as they are done; of each
/// written file the run keeps what the lines after the blocks, the messages and the exit code
/// count (see [`counted`]).
fn text_streamed<'p>(
    out: &mut dyn Write,
    s: &'p crate::load::inputs::Settings,
    files: &[crate::model::NodeFile],
    paint: Paint,
) -> (Vec<Outcome<'p>>, std::io::Result<()>) {
    let mut node = NodeFindings::new(s, files);
    let mut kept: Vec<Outcome<'p>> = Vec::with_capacity(s.inputs.len());
    let mut batch: Vec<Outcome<'p>> = Vec::new();
    let mut tally = render::text::Tally::default();
    let mut failed: Option<std::io::Error> = None;
    let mut flush =
        |batch: &mut Vec<Outcome<'p>>, kept: &mut Vec<Outcome<'p>>, out: &mut dyn Write| {
            if failed.is_none() {
                failed = render::text::text_batch(out, batch, &s.profile, paint, &mut tally).err();
            }
            kept.extend(batch.drain(..).map(counted));
        };
    process_each(s, true, false, false, &mut |mut o| {
        node.join(&mut o);
        batch.push(o);
        if batch.len() == render::text::TEXT_BATCH {
            flush(&mut batch, &mut kept, out);
        }
    });
    for o in node.rest(s, &kept) {
        batch.push(o);
        if batch.len() == render::text::TEXT_BATCH {
            flush(&mut batch, &mut kept, out);
        }
    }
    flush(&mut batch, &mut kept, out);
    let res = match failed {
        Some(e) => Err(e),
        None => render::text::text_end(out, &kept, tally, paint),
    };
    (kept, res)
}

/// What is kept of a written report: what its findings count (for the lines after the report,
/// the messages and the exit code), its file, component and version; errors and skipped files
/// whole (they are small, and said again on standard error).
fn counted(o: Outcome) -> Outcome {
    match o {
        Outcome::Report(mut r) => {
            r.counted = Some(r.counts());
            r.findings = Vec::new();
            r.notes = Vec::new();
            r.changes = Vec::new();
            r.required_files = Vec::new();
            r.removals = Vec::new();
            r.unused_suppressions = Vec::new();
            r.original = String::new();
            r.edited = None;
            Outcome::Report(r)
        }
        other => other,
    }
}

/// How to fix what `check` found, in the words that fit where it ran: on a node, `fix` in
/// place; for files (a repository), a patch to apply or a copy to write.
fn fix_hint(
    out: &mut dyn Write,
    outcomes: &[Outcome],
    args: &CheckArgs,
    node_scan: bool,
) -> std::io::Result<()> {
    let fixable: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Report(r) if r.counts().fixable() > 0 => Some(r.path.as_str()),
            _ => None,
        })
        .collect();
    if fixable.is_empty() {
        return Ok(());
    }
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
    let (files, one) = if fixable.len() == 1 {
        (fixable[0].to_string(), fixable[0])
    } else {
        ("FILE...".to_string(), "FILE")
    };
    writeln!(
        out,
        "to fix: kubeharden diff{profile} {files} | git apply, or kubeharden fix{profile} {one} --output NEW-FILE"
    )
}
