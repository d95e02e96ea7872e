//! `fix` in place on a node: the lock taken, the manifests (and the kubelet's configuration)
//! read, each change offered at a terminal or taken with `--yes`, then one transaction that
//! backs up and writes, what to watch next, and with `--wait-healthy` the wait for the API
//! server (rolled back if it does not come back).

use super::edited::{Edited, Read, Stop};
use super::modes::{add_writes, choose_modes, said as modes_said};
use super::place::Place;
use super::tell::{next_steps, say_left_over, say_written};
use super::wait::{serving_before, wait_healthy};
use super::writes::{confirmed, kubeadm_too, planned_writes, write};
use crate::apply::interrupt::Interrupts;
use crate::apply::prompt::{Everything, Terminal};
use crate::apply::select::{self, Answer, Decide, Node};
use crate::cmd::args::FixArgs;
use crate::cmd::batch::node_version_of;
use crate::cmd::exit::Exit;
use crate::document::{is_config_text, is_kubeadm_text};
use crate::load::inputs::{kubelet_input, referenced_configs, settings, Input, Settings};
use crate::load::node::{is_within, normalize, real_path, Root};
use crate::load::read::read_input;
use crate::model::report::{FileError, UsageError};
use crate::pipeline::Options;
use crate::profile::Registry;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

pub(crate) fn run(
    args: &FixArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    match fix(args, stdout, stderr) {
        Ok(exit) | Err(Stop::Exit(exit)) => Ok(exit),
        Err(Stop::Usage(e)) => Err(e),
    }
}

/// Without `--yes` only at a terminal, and with `--interactive` always there.
fn may_ask(args: &FixArgs) -> Result<(), UsageError> {
    let tty = io::stdin().is_terminal() && io::stderr().is_terminal();
    if args.interactive && !tty {
        return Err(UsageError(
            "fix --interactive asks on a terminal, and standard input or standard error is not one; nothing was written".into(),
        ));
    }
    if !args.yes && !tty {
        return Err(UsageError(
            "fix edits manifests in place only after asking at a terminal, and there is none; pass --yes to make every change without asking, or --output FILE to write elsewhere; nothing was written".into(),
        ));
    }
    Ok(())
}

fn fix(args: &FixArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<Exit, Stop> {
    may_ask(args)?;
    let place = Place::of(&args.node, args.manifests_dir.as_deref())?;
    place.guard()?;
    // From here on an interrupt is noted, not obeyed at once: no write is cut off.
    let interrupts = Interrupts::install();
    // The lock comes first: what is read under it is what the run decides on.
    let lock = place.lock(&args.node)?;
    let mut s = settings(
        &args.common.asked(),
        &place.pods,
        node_configs(args, &place.root, &place.pods)?,
    )?;
    // Every input is read up front.
    s.inputs.list();
    let texts = read_all(&s, &place)?;
    let pod_dirs = match static_pod_dirs(&s, &texts, &place) {
        Ok(d) => d,
        Err(e) => {
            lock.abandon();
            return Err(e.into());
        }
    };
    place.clean(&input_dirs(&pod_dirs, &texts, args), stderr);
    let node_ctx = Node {
        root: &place.root,
        pod_dirs: &pod_dirs,
    };
    let mut terminal = Terminal::new();
    let (edited, failed, mut answers) = choose(
        args,
        &s,
        texts,
        &node_ctx,
        &mut terminal,
        &interrupts,
        stderr,
    )?;
    crate::render::messages::newer_to(stderr, edited.iter().map(|e| e.sel.version), &s.registry);
    let mut w = planned_writes(&edited, stderr)?;
    if let (Some(kc), false) = (&args.kubeadm_config, w.manifests.is_empty()) {
        kubeadm_too(kc, &s, &edited, &mut w, stderr)?;
    }
    // The modes and owners of the node's files, on a node scan.
    let modes = if args.common.paths.is_empty() && args.manifests_dir.is_none() {
        let files = crate::load::node_files::read(&place.root, &s.registry, &s.profile);
        let mut everything = Everything {
            risky: args.risky,
            ..Everything::default()
        };
        let decide: &mut dyn Decide = if args.yes {
            &mut everything
        } else {
            &mut terminal
        };
        // "all" and "quit" at the files' offers carry on to these.
        let chosen = choose_modes(&s.profile, &files, decide, &mut answers, stderr);
        if terminal.broken {
            let _ = writeln!(
                stderr,
                "kubeharden: the questions were interrupted; nothing was written"
            );
            return Err(Stop::Exit(Exit::Error));
        }
        if !add_writes(&mut w, &chosen, stderr) {
            return Err(Stop::Exit(Exit::Error));
        }
        chosen
    } else {
        Vec::new()
    };
    let (writes, combined, supporting) = w.in_order();
    say_left_over(&edited, stderr);
    let done = if failed { Exit::Error } else { Exit::Ok };
    if writes.len() == supporting {
        let nothing = if edited.iter().any(|e| !e.sel.declined.is_empty()) {
            "no change accepted; nothing was written"
        } else {
            "nothing to change; nothing was written"
        };
        let _ = writeln!(stderr, "kubeharden: {nothing}");
        return Ok(done);
    }
    if !args.yes && !confirmed(&mut terminal, &combined, &writes[..supporting], &place)? {
        let _ = writeln!(stderr, "kubeharden: nothing was written");
        return Ok(done);
    }
    let before = serving_before(args, &edited, &s.registry, &place.root, stderr)?;
    stop_if_interrupted(&interrupts, stderr)?;
    let applied = write(args, &s, &place, &writes, &combined, stdout, stderr)?;
    say_written(&writes, &edited, &place, &applied.set, stderr);
    modes_said(&modes, stderr);
    next_steps(args, &s.registry, &edited, &applied.set, stderr);
    let mut done = done;
    if let Some(e) = &applied.unfinished {
        let _ = writeln!(
            stderr,
            "kubeharden: error: every change is written, but backup set {} could not be marked complete ({e}); it holds the originals all the same, and `kubeharden rollback` puts them back",
            applied.set.record.id
        );
        done = Exit::Error;
    }
    if args.wait_healthy {
        if !wait_healthy(args, &before, &applied.set, &place, &interrupts, stderr) {
            return Ok(Exit::Error);
        }
    } else if let Some(sig) = interrupts.received() {
        let _ = writeln!(
            stderr,
            "kubeharden: interrupted ({sig}) while writing; kubeharden finished the writes first, so every change above is in place"
        );
        return Ok(Exit::Error);
    }
    Ok(done)
}

/// An interrupt before the writes ends the run with nothing written.
fn stop_if_interrupted(interrupts: &Interrupts, stderr: &mut dyn Write) -> Result<(), Stop> {
    match interrupts.received() {
        Some(sig) => {
            let _ = writeln!(
                stderr,
                "kubeharden: interrupted ({sig}); nothing was written"
            );
            Err(Stop::Exit(Exit::Error))
        }
        None => Ok(()),
    }
}

/// The directories this run's files are in: where a write of an earlier, interrupted run may
/// have left a temporary file.
fn input_dirs(pod_dirs: &[PathBuf], texts: &[Read], args: &FixArgs) -> Vec<PathBuf> {
    let mut dirs = pod_dirs.to_vec();
    dirs.extend(
        texts
            .iter()
            .flatten()
            .filter_map(|(p, _)| p.parent().map(Path::to_path_buf)),
    );
    if let Some(kc) = &args.kubeadm_config {
        dirs.extend(real_path(kc).parent().map(Path::to_path_buf));
    }
    dirs
}

/// With neither paths nor --manifests-dir, the whole node: its static pods and the kubelet.
fn node_configs(args: &FixArgs, root: &Root, pods: &Path) -> Result<Vec<Input>, UsageError> {
    if args.manifests_dir.is_some() || !args.common.paths.is_empty() {
        return Ok(Vec::new());
    }
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let mut files: Vec<Input> = kubelet_input(root, &registry).into_iter().collect();
    files.extend(referenced_configs(pods, &registry, &|p| {
        root.resolve(p).ok()
    }));
    Ok(files)
}

/// Every input read once, up front; the bytes are compared again right before anything is
/// written. Under --root, links are followed inside the root, never out to this machine's own
/// files.
fn read_all(s: &Settings, place: &Place) -> Result<Vec<Read>, UsageError> {
    let real_of = |p: &Path| -> Result<PathBuf, UsageError> {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match place
            .root_given
            .then(|| place.root.host_path(&normalize(&abs)))
            .flatten()
        {
            Some(host) => place
                .root
                .resolve(&host)
                .map_err(|e| UsageError(e.to_string())),
            None => Ok(real_path(p)),
        }
    };
    let mut texts: Vec<Read> = Vec::new();
    for i in s.inputs.listed() {
        if let Some(e) = i.read_error() {
            // A directory of a walk that could not be read: an error for that path.
            texts.push(Some((i.path.clone(), Err(e))));
            continue;
        }
        if i.note().is_some() {
            texts.push(None);
            continue;
        }
        let real = real_of(&i.path)?;
        let text = read_input(&real);
        texts.push(Some((real, text)));
    }
    Ok(texts)
}

/// The directories of static pod manifests (not of kubeadm or component configuration
/// files): nothing else may be written into them, backups and state included.
fn static_pod_dirs(
    s: &Settings,
    texts: &[Read],
    place: &Place,
) -> Result<Vec<PathBuf>, UsageError> {
    let named: Vec<PathBuf> = texts
        .iter()
        .zip(s.inputs.listed())
        .filter(|(_, i)| i.error().is_none())
        .filter_map(|(t, _)| t.as_ref())
        .filter(|(_, t)| {
            !t.as_ref()
                .is_ok_and(|t| is_kubeadm_text(t) || is_config_text(t, &s.registry))
        })
        .map(|(p, _)| p.clone())
        .collect();
    let pod_dirs = select::pod_dirs(&place.pods, &named);
    for d in &pod_dirs {
        place.not_in_pod_dir(d)?;
    }
    Ok(pod_dirs)
}

/// Offers each file's changes (or takes them all with `--yes`); the files with their choices,
/// whether any input failed, and "all" or "quit" when that was the last answer.
fn choose(
    args: &FixArgs,
    s: &Settings,
    texts: Vec<Read>,
    node_ctx: &Node,
    terminal: &mut Terminal,
    interrupts: &Interrupts,
    stderr: &mut dyn Write,
) -> Result<(Vec<Edited>, bool, Option<Answer>), Stop> {
    let node_version = node_version_of(
        texts
            .iter()
            .flatten()
            .filter_map(|(_, t)| t.as_ref().ok().map(String::as_str)),
        &s.registry,
    );
    // The preconditions of risky changes are read on this node (under --root).
    let root = node_ctx.root;
    let look = move |c: &crate::profile::NodeCheck, m: &crate::model::Model| {
        crate::load::preconditions::on_node(c, root, m)
    };
    let opts = Options {
        version: s.version,
        node_version,
        ignores: s.ignores,
        patches: Some(&crate::load::patches::kube_apiserver),
        on_node: Some(&look),
        ..Options::new(&s.registry, &s.profile)
    };
    let mut everything = Everything {
        risky: args.risky,
        ..Everything::default()
    };
    let mut answers: Option<Answer> = None;
    let mut edited: Vec<Edited> = Vec::new();
    let mut failed = false;
    let mut reports = 0;
    for (input, read) in s.inputs.listed().iter().zip(texts) {
        let shown = input.path.display().to_string();
        let Some((real, text)) = read else {
            let note = input.note().unwrap_or("");
            let _ = writeln!(stderr, "kubeharden: {shown}: skipped: {note}");
            continue;
        };
        let text = match fixable(input, text, &real, s, node_ctx, &shown) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(stderr, "kubeharden: error: {e}");
                failed = true;
                continue;
            }
        };
        let decide: &mut dyn Decide = if args.yes {
            &mut everything
        } else {
            &mut *terminal
        };
        let with_version = Options {
            node_version: input.version().or(opts.node_version),
            overrides: input.overrides(),
            ..opts
        };
        let opts = if s.version.is_none() || !input.overrides().is_empty() {
            &with_version
        } else {
            &opts
        };
        let result = select::select(&shown, &text, opts, node_ctx, decide, &mut answers);
        for m in everything.messages.drain(..) {
            let _ = writeln!(stderr, "kubeharden: {m}");
        }
        match result {
            Ok(sel) => {
                reports += 1;
                for n in &sel.notes {
                    let _ = writeln!(stderr, "kubeharden: {shown}: note: {n}");
                }
                edited.push(Edited {
                    shown,
                    real,
                    original: text,
                    sel,
                });
            }
            Err(e) if e.unrecognized && input.from_dir => {
                let _ = writeln!(stderr, "kubeharden: {shown}: skipped: {}", e.message);
            }
            Err(e) => {
                let _ = writeln!(stderr, "kubeharden: error: {e}");
                failed = true;
            }
        }
        if terminal.broken {
            // An interrupted or failed question ends the run: the answers so far were for
            // a whole that will not be.
            let _ = writeln!(
                stderr,
                "kubeharden: the questions were interrupted; nothing was written"
            );
            return Err(Stop::Exit(Exit::Error));
        }
        stop_if_interrupted(interrupts, stderr)?;
    }
    if reports == 0 && !failed {
        let _ = writeln!(
            stderr,
            "kubeharden: error: no control-plane manifest or kubelet configuration found among the inputs; hidden files and what .gitignore and .ignore files list are not read"
        );
        return Err(Stop::Exit(Exit::Error));
    }
    Ok((edited, failed, answers))
}

/// The text of an input, unless it could not be read, is of the wrong kind, or is a
/// component's configuration file inside a static pod directory (the kubelet tries to run it as
/// a pod, and nothing but manifests is written there): then the error to say.
fn fixable(
    input: &Input,
    text: Result<String, FileError>,
    real: &Path,
    s: &Settings,
    node_ctx: &Node,
    shown: &str,
) -> Result<String, String> {
    let text = text.map_err(|e| e.to_string())?;
    if let Some(e) = input.kind_error(&text, &s.registry) {
        return Err(e.to_string());
    }
    if is_config_text(&text, &s.registry)
        && !is_kubeadm_text(&text)
        && node_ctx.pod_dirs.iter().any(|d| is_within(real, d))
    {
        return Err(format!(
            "{shown}: a component's configuration file inside the static pod directory, where the kubelet tries to run every file as a pod; move it out; nothing was written"
        ));
    }
    Ok(text)
}
