//! What a run on a node writes: the supporting files and directories, the manifests (and the
//! kubeadm configuration with `--kubeadm-config`), shown once more and written as one
//! transaction.

use super::edited::{Edited, Stop};
use super::place::{rollback_command, Place};
use crate::apply::node::{self, Target, Write1};
use crate::apply::prompt::Terminal;
use crate::cmd::args::FixArgs;
use crate::cmd::batch::{kubeadm_options, kubeadm_version};
use crate::cmd::exit::Exit;
use crate::load::inputs::Settings;
use crate::load::node::real_path;
use crate::load::read::read_input;
use crate::model::report::UsageError;
use crate::pipeline;
use crate::render::{diff_text, new_file_diff, visible};
use std::io::Write;
use std::path::Path;

/// What will be written: supporting directories and files, then the manifests, with the
/// whole change as one patch.
#[derive(Default)]
pub(super) struct Writes {
    supporting: Vec<Write1>,
    pub(super) manifests: Vec<Write1>,
    /// The patch of the manifests.
    combined: String,
    /// The patch that creates the supporting files.
    new_diffs: String,
}

impl Writes {
    /// A change of a file's mode, as git writes it, joins the patch.
    pub(super) fn add_mode_diff(&mut self, diff: &str) {
        self.combined.push_str(diff);
    }

    /// Supporting directories and files first (directories before the files in them),
    /// manifests last, so the kubelet never starts a component whose files are missing; the
    /// whole patch; and how many writes are supporting ones.
    pub(super) fn in_order(self) -> (Vec<Write1>, String, usize) {
        let mut writes = self.supporting;
        writes.sort_by_key(|w| !matches!(w.target, Target::Directory { .. }));
        let supporting = writes.len();
        writes.extend(self.manifests);
        (
            writes,
            format!("{}{}", self.new_diffs, self.combined),
            supporting,
        )
    }
}

/// The writes the choices come to. Two manifests may need the same supporting file only with
/// the same content (the templates differ between versions).
pub(super) fn planned_writes(edited: &[Edited], stderr: &mut dyn Write) -> Result<Writes, Stop> {
    let mut w = Writes::default();
    for e in edited {
        let Some(text) = e.sel.edited.as_ref() else {
            continue;
        };
        for nf in &e.sel.new_files {
            if let Some(have) = w.supporting.iter().find(|x| x.path == nf.local) {
                let same = match (&have.target, &nf.content) {
                    (Target::Directory { .. }, None) => true,
                    (Target::Create { new, .. }, Some((_, content))) => new == content.as_bytes(),
                    _ => false,
                };
                if !same {
                    let _ = writeln!(
                        stderr,
                        "kubeharden: error: {} is needed by several manifests with different content (their Kubernetes versions differ); fix them one at a time, with a different path for the file; nothing was written",
                        nf.host
                    );
                    return Err(Stop::Exit(Exit::Error));
                }
                continue;
            }
            if let Some((_, content)) = &nf.content {
                w.new_diffs.push_str(&new_file_diff(content, &nf.host));
            }
            w.supporting.push(Write1 {
                path: nf.local.clone(),
                target: match &nf.content {
                    None => Target::LOG_DIRECTORY,
                    Some((_, content)) => Target::Create {
                        new: content.clone().into_bytes(),
                        mode: 0o600,
                        owner: None,
                    },
                },
            });
        }
        // Taking the kubelet's flags out of its environment files may be all a change does.
        if *text != e.original {
            w.combined.push_str(&diff_text(&e.original, text, &e.shown));
            w.manifests.push(Write1 {
                path: e.real.clone(),
                target: Target::Replace {
                    original: e.original.clone().into_bytes(),
                    new: text.clone().into_bytes(),
                    perms: None,
                },
            });
        }
        for env in &e.sel.env_edits {
            w.combined.push_str(&diff_text(
                &env.original,
                &env.new,
                &env.local.display().to_string(),
            ));
            w.manifests.push(Write1 {
                path: real_path(&env.local),
                target: Target::Replace {
                    original: env.original.clone().into_bytes(),
                    new: env.new.clone().into_bytes(),
                    perms: None,
                },
            });
        }
    }
    Ok(w)
}

/// `--kubeadm-config`: the same accepted rules in the kubeadm configuration, so `kubeadm
/// upgrade` keeps them.
pub(super) fn kubeadm_too(
    kc: &Path,
    s: &Settings,
    edited: &[Edited],
    w: &mut Writes,
    stderr: &mut dyn Write,
) -> Result<(), Stop> {
    let mut accepted: Vec<String> = Vec::new();
    for e in edited {
        for r in &e.sel.accepted {
            if !accepted.contains(r) {
                accepted.push(r.clone());
            }
        }
    }
    let restricted = s.profile.only(&accepted);
    let version = edited
        .iter()
        .find(|e| e.sel.edited.is_some())
        .map(|e| e.sel.version);
    let shown = kc.display().to_string();
    let result = read_input(kc).and_then(|text| {
        let (version, note) = kubeadm_version(s, version, &text, &shown);
        if let Some(n) = note {
            let _ = writeln!(stderr, "kubeharden: {n}");
        }
        pipeline::process(&shown, &text, &kubeadm_options(s, &restricted, version))
    });
    match result {
        Ok(r) if r.kubeadm => {
            for f in r.findings.iter().filter(|f| !f.fixed) {
                if accepted.contains(&f.rule.id) {
                    let _ = writeln!(
                        stderr,
                        "kubeharden: {shown}: not changed: {}: {}",
                        f.rule.id,
                        f.manual.as_deref().unwrap_or("")
                    );
                }
            }
            if let Some(text) = &r.edited {
                w.combined.push_str(&diff_text(&r.original, text, &shown));
                w.manifests.push(Write1 {
                    path: real_path(kc),
                    target: Target::Replace {
                        original: r.original.clone().into_bytes(),
                        new: text.clone().into_bytes(),
                        perms: None,
                    },
                });
            }
            Ok(())
        }
        Ok(_) => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: --kubeadm-config {shown}: not a kubeadm configuration file; nothing was written"
            );
            Err(Stop::Exit(Exit::Error))
        }
        Err(e) => {
            let said = if e.message.ends_with("nothing was written") {
                ""
            } else {
                "; nothing was written"
            };
            let _ = writeln!(stderr, "kubeharden: error: {e}{said}");
            Err(Stop::Exit(Exit::Error))
        }
    }
}

/// Shows what will be written and asks once more.
pub(super) fn confirmed(
    terminal: &mut Terminal,
    combined: &str,
    supporting: &[Write1],
    place: &Place,
) -> Result<bool, UsageError> {
    let mut summary = String::from("\nkubeharden will write:\n");
    summary.push_str(&terminal.diff(combined));
    for w in supporting {
        let host = visible(
            &place
                .root
                .host_path(&w.path)
                .unwrap_or_else(|| w.path.display().to_string()),
        );
        match &w.target {
            Target::Directory { .. } => summary.push_str(&format!(
                "and create the directory {host} ({})\n",
                w.target.modes()
            )),
            _ => summary.push_str(&format!("and write {host} ({})\n", w.target.modes())),
        }
    }
    summary.push_str(&format!(
        "The original bytes go to a backup set in {} first.\n",
        visible(&place.backups.display().to_string())
    ));
    terminal.print(&summary);
    terminal
        .confirm("Write these changes?")
        .map_err(|e| UsageError(format!("cannot ask: {e}; nothing was written")))
}

/// The transaction: with `--yes`, what will be written is shown first as one patch (if it
/// cannot be shown, nothing is written); then the backups and the writes.
pub(super) fn write(
    args: &FixArgs,
    s: &Settings,
    place: &Place,
    writes: &[Write1],
    combined: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<node::Applied, Stop> {
    let info = node::RunInfo {
        command: "fix",
        profile: Some(&s.profile.name),
        restores: None,
        root: &place.root,
    };
    if args.yes {
        if let Err(e) = stdout
            .write_all(combined.as_bytes())
            .and_then(|()| stdout.flush())
        {
            let _ = writeln!(
                stderr,
                "kubeharden: error: cannot write to standard output ({e}); nothing was written"
            );
            return Err(Stop::Exit(Exit::Error));
        }
    }
    node::apply(writes, &place.backups, &info).map_err(|e| {
        let _ = writeln!(stderr, "kubeharden: error: {e}");
        if let Some(id) = e.kept_set() {
            let _ = writeln!(
                stderr,
                "kubeharden: to put them back: {}",
                rollback_command(id, &args.node)
            );
        }
        Stop::Exit(Exit::Error)
    })
}
