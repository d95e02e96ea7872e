//! `fix` on a node: the modes and owners of its files (the `node-files` rules, CIS 1.1.x and
//! 4.1.x). Each rule that fails on a file is offered like any other change; what is accepted
//! joins the run's writes as the file's own bytes with the new mode and owner (merged into
//! the write of a file whose content changes too), so it is backed up (old mode, uid, gid),
//! written atomically in the same transaction, and undone by `rollback`. Modes are only ever
//! tightened; an owner is given only to an account the node has, and only when kubeharden runs
//! as root (or the file's owner stays the same).

use super::writes::Writes;
use crate::apply::node::{Perms, Target, Write1};
use crate::apply::select::{Answer, Decide, Offer};
use crate::load::node::{bytes, real_path};
use crate::model::NodeFile;
use crate::profile::Profile;
use std::io::Write;
use std::path::PathBuf;

/// A node file's new mode and owner, and the rules that asked for them.
pub(super) struct ModeChange {
    host: String,
    directory: bool,
    local: PathBuf,
    rules: Vec<String>,
    before: (u32, u32, u32),
    mode: u32,
    owner: (u32, u32),
}

/// Offers the changes the profile's node-file rules make to `files`; the accepted ones.
pub(super) fn choose_modes(
    profile: &Profile,
    files: &[NodeFile],
    decide: &mut dyn Decide,
    state: &mut Option<Answer>,
    stderr: &mut dyn Write,
) -> Vec<ModeChange> {
    let root = rustix::process::geteuid().is_root();
    let mut out: Vec<ModeChange> = Vec::new();
    for f in files {
        let wrongs = crate::check::files::changes(profile, f);
        let total = wrongs.len();
        let mut change = ModeChange {
            host: f.host.clone(),
            directory: f.directory,
            local: PathBuf::from(&f.local),
            rules: Vec::new(),
            before: (f.mode, f.uid, f.gid),
            mode: f.mode,
            owner: (f.uid, f.gid),
        };
        for (i, (rule, w)) in wrongs.into_iter().enumerate() {
            if w.owner != (f.uid, f.gid) && !root {
                let _ = writeln!(
                    stderr,
                    "kubeharden: {}: {}: not made: only root can give the file another owner; run kubeharden as root, or `{}`",
                    f.host, rule.id, w.command
                );
                continue;
            }
            let what = if w.mode != f.mode {
                format!("mode {:04o} → {:04o}", f.mode, w.mode)
            } else {
                format!(
                    "owner {} → {}",
                    f.owner,
                    w.desired.trim_start_matches("owned by ")
                )
            };
            let offer = Offer {
                file: &f.host,
                rule,
                changes: vec![what],
                diff: crate::render::mode_diff(&f.host, f.mode, w.mode),
                new_files: Vec::new(),
                risky: None,
                checked: None,
                index: i + 1,
                total,
            };
            let answer = match *state {
                Some(Answer::All) => Answer::All,
                Some(Answer::Quit) => Answer::Quit,
                _ => decide.offer(&offer).unwrap_or(Answer::Quit),
            };
            match answer {
                Answer::Yes | Answer::All => {
                    if answer == Answer::All {
                        *state = Some(Answer::All);
                    }
                    change.rules.push(rule.id.clone());
                    // Bits are only taken away: several rules on one file take all theirs.
                    change.mode &= w.mode;
                    if w.owner != (f.uid, f.gid) {
                        change.owner = w.owner;
                    }
                }
                Answer::No => {}
                Answer::Quit => *state = Some(Answer::Quit),
            }
        }
        if !change.rules.is_empty() {
            out.push(change);
        }
    }
    out
}

/// The accepted changes as writes: into the write of a file whose content changes too, else a
/// write of the file's own bytes with the new mode and owner.
pub(super) fn add_writes(w: &mut Writes, changes: &[ModeChange], stderr: &mut dyn Write) -> bool {
    let mut ok = true;
    for c in changes {
        let path = real_path(&c.local);
        let perms = Perms {
            mode: c.mode,
            uid: c.owner.0,
            gid: c.owner.1,
        };
        w.add_mode_diff(&crate::render::mode_diff(&c.host, c.before.0, c.mode));
        if c.directory {
            w.manifests.push(Write1 {
                path,
                target: Target::DirPerms {
                    before: Perms {
                        mode: c.before.0,
                        uid: c.before.1,
                        gid: c.before.2,
                    },
                    after: perms,
                },
            });
            continue;
        }
        if let Some(existing) = w.manifests.iter_mut().find(|x| x.path == path) {
            if let Target::Replace { perms: p, .. } = &mut existing.target {
                *p = Some(perms);
                continue;
            }
        }
        let Some(content) = bytes(&path) else {
            let _ = writeln!(
                stderr,
                "kubeharden: error: {}: cannot read it again; nothing was written",
                c.host
            );
            ok = false;
            continue;
        };
        w.manifests.push(Write1 {
            path,
            target: Target::Replace {
                original: content.clone(),
                new: content,
                perms: Some(perms),
            },
        });
    }
    ok
}

/// What was changed, in words, for the files whose bytes stayed.
pub(super) fn said(changes: &[ModeChange], stderr: &mut dyn Write) {
    for c in changes {
        let mut what = Vec::new();
        if c.mode != c.before.0 {
            what.push(format!("mode {:04o} → {:04o}", c.before.0, c.mode));
        }
        if c.owner != (c.before.1, c.before.2) {
            what.push(format!(
                "owner {}:{} → {}:{}",
                c.before.1, c.before.2, c.owner.0, c.owner.1
            ));
        }
        let _ = writeln!(
            stderr,
            "kubeharden: {}: {} ({})",
            c.host,
            what.join(", "),
            c.rules.join(", ")
        );
    }
}
