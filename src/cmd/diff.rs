//! `diff`: the changes as one unified diff, for `git apply` or `patch -p1`.

use super::args::{DiffArgs, DiffFormat};
use super::batch::{kubeadm_options, kubeadm_version, process_each};
use super::exit::Exit;
use super::probe_patch;
use crate::apply::output::Spool;
use crate::load::inputs::{node_files, settings, Settings, DEFAULT_MANIFESTS_DIR};
use crate::load::node::{canonical, exists};
use crate::load::read::read_input;
use crate::model::report::UsageError;
use crate::model::report::{FileReport, Kept, Outcome};
use crate::pipeline;
use crate::render::{self, messages};
use std::io::Write;
use std::path::Path;

/// `diff`'s closing line: files read, files the patch changes, errors, files skipped.
#[derive(Default)]
struct Tally {
    files: usize,
    changed: usize,
    errors: usize,
    skipped: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Report(r) => {
                self.files += 1;
                self.changed += usize::from(r.edited.is_some());
            }
            Outcome::Error(_) => self.errors += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }

    /// The exit code of the diff: nothing checked or an error is an error (a CI gate must not
    /// pass on an empty or wrong directory), a change is a finding.
    fn exit(&self, nothing_is_fine: bool) -> Exit {
        if (self.files == 0 && !nothing_is_fine) || self.errors > 0 {
            Exit::Error
        } else if self.changed > 0 {
            Exit::Findings
        } else {
            Exit::Ok
        }
    }
}

/// The messages said on standard error after the diff, gathered file by file as the diff is
/// written: the findings the change leaves, its risky changes, and the files it needs. They
/// are spooled: a run over many files says a line or more of each.
#[derive(Default)]
struct After {
    left_over: Spool,
    risky: Spool,
    required: Spool,
}

impl After {
    fn add(&mut self, o: &Outcome) {
        let one = std::slice::from_ref(o);
        messages::left_over_to(&mut self.left_over, one);
        messages::risky_to(&mut self.risky, one);
        messages::required_files_to(&mut self.required, one);
    }

    fn write(&mut self, stderr: &mut dyn Write) {
        for part in [&mut self.left_over, &mut self.risky, &mut self.required] {
            let _ = part.copy_to(stderr);
        }
    }
}

pub(super) fn run(
    args: &DiffArgs,
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
) -> Result<Exit, UsageError> {
    let common = &args.common;
    let paths = &*super::batch::read_paths(args.changed_since.as_deref(), &common.paths);
    let mut s = settings(
        &crate::load::inputs::Asked {
            paths,
            ..common.asked()
        },
        Path::new(DEFAULT_MANIFESTS_DIR),
        node_files(paths)?,
    )?;
    if let Some(rev) = &args.changed_since {
        super::batch::changed_inputs(rev, paths, &mut s)?;
    }
    let suggest = args.format == DiffFormat::GithubSuggestions;
    let commentable = Commentable::of(&s);
    let mut review = render::review::Review::default();
    let cwd = std::env::current_dir().unwrap_or_default();
    // Each file's diff is written as soon as it and the files before it are done; of each,
    // the run keeps what the messages after the diff and the exit code need.
    let mut tally = Tally::default();
    let mut after = After::default();
    let mut kept = Kept::default();
    let mut extra_files = false;
    let mut stopped: Result<bool, UsageError> = Ok(false);
    process_each(&s, false, false, true, &mut |o| {
        tally.add(&o);
        if suggest {
            if let Outcome::Report(r) = &o {
                let path = render::review::repository_path(&r.path, &cwd);
                review.file(r, &path, &s.profile.name, &|l| commentable.at(&r.path, l));
                // The kubeadm probe patch the fix creates goes to the body, as a new file.
                let mut patch = Vec::new();
                if let Ok(true) = probe_patch_diff(&mut patch, stderr, r, &path, &s) {
                    review.patch(String::from_utf8_lossy(&patch).into_owned());
                    extra_files = true;
                    if r.edited.is_none() {
                        tally.changed += 1;
                    }
                }
            }
            notes_and_skips(&o, stderr);
        } else if let Ok(false) = stopped {
            stopped = diff_one(&o, &s, &mut tally, stdout, stderr).map(|(created, stop)| {
                extra_files |= created;
                stop
            });
        }
        after.add(&o);
        kept.add(&o);
        // A diff that cannot be written ends the run with an error: no more files are read.
        match stopped {
            Err(_) => std::ops::ControlFlow::Break(()),
            Ok(_) => std::ops::ControlFlow::Continue(()),
        }
    });
    stopped?;
    if suggest {
        if let Err(e) = review.write(stdout, &s.profile.name) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(UsageError(format!("cannot write the review: {e}")));
            }
        }
    }
    // On a node: the modes the node-file rules change, as git writes them.
    if paths.is_empty() {
        extra_files |= node_modes(&s, stderr);
    }
    messages::newer_to(stderr, kept.versions.iter().copied(), &s.registry);
    messages::errors_to(stderr, &kept);
    after.write(stderr);
    let mut exit = tally.exit(args.changed_since.is_some());
    if extra_files && matches!(exit, Exit::Ok) {
        exit = Exit::Findings;
    }
    if let Some(kc) = &args.kubeadm_config {
        kubeadm_config(
            kc,
            kept.first_version,
            &s,
            &mut tally,
            &mut exit,
            stdout,
            stderr,
        )?;
    }
    let _ = writeln!(
        stderr,
        "kubeharden: {} file(s) checked, {} with changes, {} error(s), {} skipped",
        tally.files, tally.changed, tally.errors, tally.skipped
    );
    Ok(exit)
}

/// Writes the diff of one outcome: whether it created a kubeadm patch file, and whether the
/// reader stopped reading (`| head`), after which nothing more is written.
fn diff_one(
    o: &Outcome,
    s: &Settings,
    tally: &mut Tally,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(bool, bool), UsageError> {
    match o {
        Outcome::Report(r) => {
            // git refuses `..` in patch paths: a file above the current directory is named by
            // its absolute path (without the leading `/`).
            let mut header = r.path.clone();
            if render::diff_path(&header).starts_with("..") {
                if let Some(abs) = canonical(Path::new(&r.path)) {
                    header = abs.display().to_string();
                }
            }
            let created = match render::diff(stdout, r, &header)
                .and_then(|()| env_files_diff(stdout, stderr, r))
                .and_then(|env| probe_patch_diff(stdout, stderr, r, &header, s).map(|p| p || env))
            {
                Ok(created) => created,
                // A reader that stops early is not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok((false, true)),
                Err(e) => return Err(UsageError(format!("cannot write the diff: {e}"))),
            };
            if created && r.edited.is_none() {
                tally.changed += 1;
            }
            notes_and_skips(o, stderr);
            Ok((created, false))
        }
        other => {
            notes_and_skips(other, stderr);
            Ok((false, false))
        }
    }
}

/// A report's notes, or that a file was skipped, on standard error.
fn notes_and_skips(o: &Outcome, stderr: &mut dyn Write) {
    match o {
        Outcome::Report(r) => messages::notes_to(stderr, r),
        Outcome::Skipped { path, reason } => {
            let _ = writeln!(stderr, "kubeharden: {path}: skipped: {reason}");
        }
        Outcome::Error(_) => {}
    }
}

/// The lines of each file a review can comment on: with `--changed-since`, those a pull
/// request's diff shows (what the change added or touched, and the three lines of context git
/// shows around each hunk; every line of a new file); without, every line.
struct Commentable(std::collections::HashMap<String, Option<Vec<(usize, usize)>>>);

impl Commentable {
    fn of(s: &Settings) -> Commentable {
        Commentable(
            s.inputs
                .listed()
                .iter()
                .filter_map(|i| {
                    let c = i.changed()?;
                    let around = c.lines.as_ref().map(|ranges| {
                        ranges
                            .iter()
                            .map(|(a, b)| (a.saturating_sub(3).max(1), b + 3))
                            .collect()
                    });
                    Some((i.path.display().to_string(), around))
                })
                .collect(),
        )
    }

    fn at(&self, path: &str, line: usize) -> bool {
        match self.0.get(path) {
            None | Some(None) => true,
            Some(Some(ranges)) => ranges.iter().any(|(a, b)| (*a..=*b).contains(&line)),
        }
    }
}

/// The node's files whose mode or owner `fix` changes, said on standard error: a patch cannot
/// carry them (git keeps only a file's executable bit, so `new mode 100600` would apply as
/// 0644). True when there is any.
fn node_modes(s: &Settings, stderr: &mut dyn Write) -> bool {
    let root = crate::load::node::Root::system();
    let mut any = false;
    for f in crate::load::node_files::read(&root, &s.registry, &s.profile) {
        let wrongs = crate::check::files::changes(&s.profile, &f);
        for (_, w) in &wrongs {
            let _ = writeln!(
                stderr,
                "kubeharden: {} → {}: a patch cannot carry it; `sudo kubeharden fix` makes it",
                w.current, w.desired
            );
        }
        any |= !wrongs.is_empty();
    }
    any
}

/// The kubelet's flags the fix takes out of its environment files (on a node), as a diff of
/// those files; true when there is one.
fn env_files_diff(
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    r: &FileReport,
) -> std::io::Result<bool> {
    let mut any = false;
    for (f, here) in crate::document::env_file::by_file(&r.removals) {
        let edited = read_input(Path::new(f))
            .map_err(|e| e.message)
            .and_then(|text| {
                crate::document::env_file::without_flags(&text, &here).map(|new| (text, new))
            });
        match edited {
            Ok((text, new)) => {
                write!(stdout, "{}", render::diff_text(&text, &new, f))?;
                any = true;
            }
            Err(why) => {
                let _ = writeln!(stderr, "kubeharden: error: {f}: {why}");
            }
        }
    }
    Ok(any)
}

/// `--kubeadm-config`: the same profile on the kubeadm file, for the manifests' version, in
/// the same patch.
fn kubeadm_config(
    kc: &Path,
    version: Option<crate::profile::version::Version>,
    s: &Settings,
    tally: &mut Tally,
    exit: &mut Exit,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), UsageError> {
    let shown = kc.display().to_string();
    let result = read_input(kc).and_then(|text| {
        let (version, note) = kubeadm_version(s, version, &text, &shown);
        if let Some(n) = note {
            let _ = writeln!(stderr, "kubeharden: {n}");
        }
        pipeline::process(&shown, &text, &kubeadm_options(s, &s.profile, version))
    });
    match result {
        Ok(r) if r.kubeadm => {
            let wrote = render::diff(stdout, &r, &shown)
                .and_then(|()| probe_patch_diff(stdout, stderr, &r, &shown, s));
            tally.files += 1;
            let created = wrote.as_ref().is_ok_and(|w| *w);
            if r.edited.is_some() || created {
                tally.changed += 1;
            }
            if created && matches!(exit, Exit::Ok) {
                *exit = Exit::Findings;
            }
            if let Err(e) = wrote {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(UsageError(format!("cannot write the diff: {e}")));
                }
            }
            let one = [Outcome::Report(Box::new(r))];
            messages::left_over_to(stderr, &one);
            if let (Exit::Ok, Outcome::Report(r)) = (&*exit, &one[0]) {
                if r.edited.is_some() {
                    *exit = Exit::Findings;
                }
            }
        }
        Ok(_) => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: --kubeadm-config {shown}: not a kubeadm configuration file"
            );
            tally.errors += 1;
            *exit = Exit::Error;
        }
        Err(e) => {
            let _ = writeln!(stderr, "kubeharden: error: {e}");
            tally.errors += 1;
            *exit = Exit::Error;
        }
    }
    Ok(())
}

/// For a kubeadm file whose profile needs kubeadm's probes changed (extraArgs cannot do it):
/// the kubeadm patch that does it, as a new file `kube-apiserver+strategic.yaml` beside the
/// file, in the same patch, unless that file exists already.
fn probe_patch_diff(
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    r: &FileReport,
    header: &str,
    s: &Settings,
) -> std::io::Result<bool> {
    let Some(text) = probe_patch::for_report(r, s) else {
        return Ok(false);
    };
    let dir = Path::new(&r.path).parent().unwrap_or(Path::new(""));
    let name = probe_patch::PROBE_PATCH;
    if exists(&dir.join(name)) {
        return Ok(false);
    }
    let shown = Path::new(header)
        .parent()
        .unwrap_or(Path::new(""))
        .join(name)
        .display()
        .to_string();
    stdout.write_all(render::new_file_diff(&text, &shown).as_bytes())?;
    let _ = writeln!(
        stderr,
        "kubeharden: {}: the patch creates {shown}, the kubeadm patch that makes kube-apiserver's probes TCP probes; pass its directory to kubeadm with --patches, then anonymous requests can be rejected",
        r.path
    );
    Ok(true)
}
