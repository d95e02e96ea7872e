//! What an interrupted run left: a write killed between creating its temporary file and
//! renaming it leaves a `.kubeharden-*` file beside its target; a run killed while it made its
//! backup set, before the set's record was saved (and so before it wrote anything else), leaves
//! a set directory without `record.json`; one killed while it removed a set that held nothing
//! to restore leaves a `.discarded-*` directory. A later run that holds the lock removes them.

use super::files::TEMP_PREFIX;
use super::record::list_sets;
use crate::load::node::Root;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A temporary file without a live writer's id in its name (kubeharden 0.1 named them
/// `.kubeharden-XXXXXX`) counts as left over once it is this old: no write takes that long.
const OLD_ENOUGH: Duration = Duration::from_secs(3600);

/// Whether the process `pid` still runs (or runs as another user).
fn alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => !matches!(
            rustix::process::test_kill_process(p),
            Err(rustix::io::Errno::SRCH)
        ),
        None => false,
    }
}

/// Whether the entry `name` (with `meta`) is a temporary file kubeharden left: a regular file
/// owned by the user running kubeharden, named for a process that is gone, or old.
fn left_over(name: &str, meta: &fs::Metadata) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    if !meta.file_type().is_file() || meta.uid() != rustix::process::geteuid().as_raw() {
        return false;
    }
    let writer = rest
        .split_once('-')
        .and_then(|(pid, _)| pid.parse::<i32>().ok());
    let old = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age >= OLD_ENOUGH);
    old || writer.is_some_and(|pid| pid != std::process::id() as i32 && !alive(pid))
}

/// Removes the left-over temporary files in `dirs`. Returns what was removed, and what could
/// not be.
pub(crate) fn remove_left_over(dirs: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(meta) = fs::symlink_metadata(e.path()) else {
                continue;
            };
            if !left_over(&name, &meta) {
                continue;
            }
            match fs::remove_file(e.path()) {
                Ok(()) => removed.push(e.path()),
                Err(err) => failed.push(format!("{}: cannot remove: {err}", e.path().display())),
            }
        }
    }
    (removed, failed)
}

/// The directories kubeharden writes to on this node, where an interrupted run may have left
/// a temporary file: those given (the static pod directories, the inputs'), each backup set
/// and its `files/`, and the directories of every file a backup set records.
pub(crate) fn written_dirs(backups: &Path, root: &Root, given: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = given.to_vec();
    dirs.push(backups.to_path_buf());
    if let Ok((sets, _)) = list_sets(backups) {
        for set in sets {
            for f in &set.record.files {
                let local = if f.outside_root {
                    Some(PathBuf::from(&f.path))
                } else {
                    root.resolve(&f.path).ok()
                };
                if let Some(dir) = local.as_deref().and_then(Path::parent) {
                    dirs.push(dir.to_path_buf());
                }
            }
            dirs.push(set.dir.join("files"));
            dirs.push(set.dir);
        }
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

/// A backup set directory an interrupted run left before it wrote anything: named like a set
/// (`20261128T153012Z`, `.1` after it), owned by the user running kubeharden, without a
/// record; or a set being discarded.
fn unfinished_set(dir: &Path) -> bool {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return false;
    };
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return false;
    }
    if name.starts_with(".discarded-") {
        return true;
    }
    let stamp = name.split('.').next().unwrap_or("");
    let like_id = stamp.len() == 16
        && stamp.ends_with('Z')
        && stamp.as_bytes()[8] == b'T'
        && stamp
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit());
    like_id
        && matches!(fs::symlink_metadata(dir.join("record.json")), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// Removes the backup set directories interrupted runs left in `backups` before they wrote
/// anything. Returns what was removed, and what could not be.
pub(crate) fn remove_unfinished_sets(backups: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    let Ok(entries) = fs::read_dir(backups) else {
        return (removed, failed);
    };
    for e in entries.filter_map(Result::ok) {
        let dir = e.path();
        if !unfinished_set(&dir) {
            continue;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => removed.push(dir),
            Err(err) => failed.push(format!("{}: cannot remove: {err}", dir.display())),
        }
    }
    (removed, failed)
}
