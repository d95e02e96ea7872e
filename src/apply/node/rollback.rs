//! `rollback`: a backup set's files put back, as one more transaction (with a backup set of
//! its own, so a rollback can be undone too).

use super::files::{current, sha256_hex, Perms};
use super::record::{backup_bytes, save_record, BackupSet, FileRecord};
use super::transaction::{apply, RunInfo, Target, Write1};
use crate::load::node::Root;
use crate::model::report::NodeError;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a rollback did, for the caller to tell.
#[derive(Default)]
pub(crate) struct Restored {
    /// The set holding the state before the rollback; `None` when every file already was as
    /// the set has it, and nothing was written.
    pub(crate) undo: Option<BackupSet>,
    /// Files whose content had changed since the set's run wrote them.
    pub(crate) changed_since: Vec<String>,
    /// The files given their original bytes back, with those bytes.
    pub(crate) restored: Vec<(String, Vec<u8>)>,
    pub(crate) removed: Vec<String>,
    /// Directories given their mode and owner back.
    pub(crate) perms: Vec<String>,
    /// Files the set's run was to create that hold something else than it wrote: its run
    /// stopped before writing them, and someone else put them there. Left alone.
    pub(crate) left: Vec<String>,
    /// What failed after every file was restored (recording the directories removed, marking
    /// the set complete).
    pub(crate) warnings: Vec<String>,
}

/// Where a recorded file is now: node paths under the current root (an image prepared with
/// --root and then booted is rolled back under `/`), files outside the root where they were.
fn local_path(root: &Root, f: &FileRecord) -> Result<PathBuf, NodeError> {
    if f.outside_root {
        Ok(PathBuf::from(&f.path))
    } else {
        root.resolve(&f.path)
    }
}

/// The write that gives one recorded file back its state before the set's run, if it needs
/// one.
fn restore_write(
    set: &BackupSet,
    f: &FileRecord,
    local: PathBuf,
    done: &mut Restored,
) -> Result<Option<Write1>, NodeError> {
    let now = current(&local)?;
    let written = now.as_deref().map(sha256_hex) == f.written_sha256;
    if !f.existed {
        let Some(now) = now else {
            return Ok(None);
        };
        if !written && set.record.incomplete {
            done.left.push(f.path.clone());
            return Ok(None);
        }
        if !written {
            done.changed_since.push(f.path.clone());
        }
        done.removed.push(f.path.clone());
        return Ok(Some(Write1 {
            path: local,
            target: Target::Remove { current: now },
        }));
    }
    let new = backup_bytes(set, f)?;
    let perms_now = fs::metadata(&local).ok().map(|m| Perms::of(&m));
    if now.as_deref() == Some(new.as_slice()) && perms_now == f.perms {
        return Ok(None);
    }
    if !written && now.as_deref() != Some(new.as_slice()) {
        done.changed_since.push(f.path.clone());
    }
    done.restored.push((f.path.clone(), new.clone()));
    let target = match now {
        Some(original) => Target::Replace {
            original,
            new,
            perms: f.perms,
        },
        None => Target::Create {
            new,
            mode: f.perms.map_or(0o600, |p| p.mode),
            owner: f.perms.map(|p| (p.uid, p.gid)),
        },
    };
    Ok(Some(Write1 {
        path: local,
        target,
    }))
}

/// Restores backup set `set`: checks every backup against its sha256 first, backs up the current
/// state into a new set (so the rollback can be undone), then puts each file that is not as the
/// set has it back atomically and removes the files (and then-empty directories) the run
/// created.
/// What restoring `set` would put back: each file's node path, its bytes now (`None`: missing)
/// and the bytes it would get back. Files the run created, which a rollback removes, are left
/// out.
pub(crate) type Pending = (String, Option<Vec<u8>>, Vec<u8>);

pub(crate) fn pending(set: &BackupSet, root: &Root) -> Result<Vec<Pending>, NodeError> {
    let mut out = Vec::new();
    for f in set.record.files.iter().filter(|f| f.existed) {
        let local = local_path(root, f)?;
        out.push((f.path.clone(), current(&local)?, backup_bytes(set, f)?));
    }
    Ok(out)
}

pub(crate) fn rollback(
    set: &BackupSet,
    backups: &Path,
    root: &Root,
) -> Result<Restored, NodeError> {
    let mut done = Restored::default();
    let mut writes = Vec::new();
    for f in &set.record.files {
        let local = local_path(root, f)?;
        if let Some(w) = restore_write(set, f, local, &mut done)? {
            writes.push(w);
        }
    }
    // Directories whose mode or owner the run changed get them back.
    for d in &set.record.dir_perms {
        let local = root.resolve(&d.path)?;
        let Ok(meta) = fs::metadata(&local) else {
            continue;
        };
        let now = Perms::of(&meta);
        if now != d.before {
            done.perms.push(d.path.clone());
            writes.push(Write1 {
                path: local,
                target: Target::DirPerms {
                    before: now,
                    after: d.before,
                },
            });
        }
    }
    if writes.is_empty() {
        return Ok(done);
    }
    // Directories an undone rollback removed come back first, as the files in them do.
    let mut recreate = Vec::new();
    for d in &set.record.removed_dirs {
        let local = root.resolve(d)?;
        if !local.exists() {
            let mode = set.record.dir_modes.get(d).map_or(0o700, |m| m & 0o7777);
            recreate.push(Write1 {
                path: local,
                target: Target::Directory {
                    mode,
                    parents: 0o700,
                },
            });
        }
    }
    // Files come back before the files the fix created go: the restored manifests no longer
    // name them by then.
    writes.sort_by_key(|w| matches!(w.target, Target::Remove { .. }));
    recreate.extend(writes);
    let info = RunInfo {
        command: "rollback",
        profile: None,
        restores: Some(&set.record.id),
        root,
    };
    let applied = apply(&recreate, backups, &info)?;
    let mut undo = applied.set;
    if let Some(e) = applied.unfinished {
        done.warnings.push(format!(
            "backup set {} could not be marked complete: {e}",
            undo.record.id
        ));
    }
    remove_created_dirs(set, &mut undo, root, &mut done);
    done.undo = Some(undo);
    Ok(done)
}

/// Removes the directories the set's run created, when empty (anything put there since
/// stays), and records them in the rollback's own set with their modes.
fn remove_created_dirs(set: &BackupSet, undo: &mut BackupSet, root: &Root, done: &mut Restored) {
    let mut removed_dirs = Vec::new();
    for d in set.record.created_dirs.iter().rev() {
        let Ok(local) = root.resolve(d) else {
            continue;
        };
        let mode = fs::metadata(&local).map(|m| m.mode() & 0o7777);
        if fs::remove_dir(&local).is_ok() {
            removed_dirs.insert(0, d.clone());
            if let Ok(mode) = mode {
                undo.record.dir_modes.insert(d.clone(), mode);
            }
        }
    }
    if removed_dirs.is_empty() {
        return;
    }
    undo.record.removed_dirs = removed_dirs;
    if let Err(e) = save_record(undo) {
        done.warnings.push(format!(
            "the directories it removed ({}) could not be recorded in backup set {} ({e}): undoing this rollback will not make them again",
            undo.record.removed_dirs.join(", "),
            undo.record.id
        ));
    }
}

/// Marks a set complete: a rollback that stopped part-way, found finished after all.
pub(crate) fn mark_complete(set: &mut BackupSet) -> Result<(), NodeError> {
    set.record.incomplete = false;
    save_record(set)
}
