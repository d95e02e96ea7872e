//! Backup sets: `<backups>/<ID>/` (0700) holding `record.json` and the original bytes of every
//! file a run changed under `files/` (0600). The record names each file by its path on the
//! node, with its sha256, size, mode, owner and whether it existed, so `rollback` can restore
//! the exact bytes and remove what the run created.

use super::files::{atomic_write, io_err, read_bytes, sha256_hex, Perms};
use super::trust::trusted;
use crate::model::report::NodeError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The version of `record.json`'s layout.
pub(crate) const RECORD_VERSION: u32 = 1;

/// One file a run changed or created, as the backup set records it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    /// The path on the node (under the run's root), or, with `outside_root`, the absolute
    /// path of a file named outside the root.
    pub(crate) path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) outside_root: bool,
    /// The file existed before the run; `false` for a file the run created.
    pub(crate) existed: bool,
    /// The original bytes inside the set (`files/N`), when the file existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) perms: Option<Perms>,
    /// The sha256 of what the run wrote (absent when the run removed the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) written_sha256: Option<String>,
}

/// A directory's mode and owner before and after a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DirPermsRecord {
    pub(crate) path: String,
    pub(crate) before: Perms,
    pub(crate) after: Perms,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) record_version: u32,
    pub(crate) id: String,
    pub(crate) created: String,
    pub(crate) created_unix: u64,
    pub(crate) created_nanos: u32,
    pub(crate) kubeharden_version: String,
    /// `fix` or `rollback`.
    pub(crate) command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) profile: Option<String>,
    /// The backup set a rollback restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) restores: Option<String>,
    /// The root the paths are under (`/` on a node).
    pub(crate) root: String,
    pub(crate) files: Vec<FileRecord>,
    /// Directories the run created (outermost first), removed again by a rollback when empty.
    #[serde(default)]
    pub(crate) created_dirs: Vec<String>,
    /// Directories a rollback removed (outermost first), created again when it is undone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) removed_dirs: Vec<String>,
    /// Directories whose mode or owner the run changed (their contents untouched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) dir_perms: Vec<DirPermsRecord>,
    /// The modes of the directories in `created_dirs` and `removed_dirs`, so that undoing a
    /// rollback makes them again as they were (0700 where a record has none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) dir_modes: BTreeMap<String, u32>,
    /// The run has not finished its writes: written `true` before the first write and `false`
    /// after the last, so a set whose run stopped part-way (and could not put everything
    /// back, or was killed) says so. It holds the originals of every file the run was to
    /// change; `rollback` restores it like any other, and finishes a rollback that stopped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) incomplete: bool,
}

/// A backup set on disk.
#[derive(Debug)]
pub(crate) struct BackupSet {
    pub(crate) dir: PathBuf,
    pub(crate) record: Record,
}

impl Record {
    /// A rollback that stopped part-way: running `rollback` again finishes it.
    pub(crate) fn unfinished_rollback(&self) -> Option<&str> {
        self.restores.as_deref().filter(|_| self.incomplete)
    }
}

/// Writes the set's record anew, atomically.
pub(crate) fn save_record(set: &BackupSet) -> Result<(), NodeError> {
    let path = set.dir.join("record.json");
    let mut json = serde_json::to_vec_pretty(&set.record)
        .map_err(|e| NodeError::new(format!("{}: {e}", path.display())))?;
    json.push(b'\n');
    Ok(atomic_write(&path, &json, 0o600, None, None)?)
}

/// An absolute path without `.`, `..`, empty components or a trailing `/`.
fn clean_absolute(p: &str) -> bool {
    p.len() > 1
        && p.starts_with('/')
        && !p.ends_with('/')
        && p[1..]
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The backed-up bytes of a file, checked against the recorded sha256.
pub(crate) fn backup_bytes(set: &BackupSet, f: &FileRecord) -> Result<Vec<u8>, NodeError> {
    let name = f.backup.as_deref().unwrap_or("");
    let file = name.strip_prefix("files/").unwrap_or("");
    if file.is_empty() || file.contains('/') || file == "." || file == ".." {
        return Err(NodeError::new(format!(
            "{}: the record of {} names no usable backup file",
            set.dir.display(),
            f.path
        )));
    }
    trusted(&set.dir.join("files"))?;
    let path = set.dir.join(name);
    trusted(&path)?;
    let bytes = read_bytes(&path, 64 * 1024 * 1024)?;
    if Some(sha256_hex(&bytes)) != f.sha256 {
        return Err(NodeError::new(format!(
            "{}: its sha256 does not match the record of {}; the backup is damaged and nothing was restored",
            path.display(),
            f.path
        )));
    }
    Ok(bytes)
}

/// Every backup set below `backups`, oldest first, and what is wrong with the directories
/// there that are not usable sets.
pub(crate) fn list_sets(backups: &Path) -> Result<(Vec<BackupSet>, Vec<String>), NodeError> {
    let entries = match fs::read_dir(backups) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io_err(backups, "read", e)),
    };
    let mut sets = Vec::new();
    let mut problems = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let dir = e.path();
        if !dir.is_dir() || e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        match load_set(&dir) {
            Ok(set) => sets.push(set),
            Err(err) => problems.push(err.to_string()),
        }
    }
    sets.sort_by(|a, b| {
        (a.record.created_unix, a.record.created_nanos, &a.record.id).cmp(&(
            b.record.created_unix,
            b.record.created_nanos,
            &b.record.id,
        ))
    });
    problems.sort();
    Ok((sets, problems))
}

pub(crate) fn load_set(dir: &Path) -> Result<BackupSet, NodeError> {
    trusted(dir)?;
    let path = dir.join("record.json");
    trusted(&path)?;
    let bytes = read_bytes(&path, 16 * 1024 * 1024)?;
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| {
        NodeError::new(format!(
            "{}: not a kubeharden backup record: {e}",
            path.display()
        ))
    })?;
    if record.record_version != RECORD_VERSION {
        return Err(NodeError::new(format!(
            "{}: record version {} is not one this kubeharden reads ({RECORD_VERSION})",
            path.display(),
            record.record_version
        )));
    }
    let bad = record
        .files
        .iter()
        .map(|f| &f.path)
        .chain(&record.created_dirs)
        .chain(&record.removed_dirs)
        .find(|p| !clean_absolute(p));
    if let Some(p) = bad {
        return Err(NodeError::new(format!(
            "{}: `{p}` is not a clean absolute path; kubeharden does not trust this record",
            path.display()
        )));
    }
    if record.id
        != dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    {
        return Err(NodeError::new(format!(
            "{}: the record is for backup set {}, not this directory",
            path.display(),
            record.id
        )));
    }
    Ok(BackupSet {
        dir: dir.to_path_buf(),
        record,
    })
}

/// The backup set `rollback` restores: the one named `id`; else the newest set, whether its
/// run finished or stopped part-way (its record lists every file the run was to change, so
/// restoring it puts back whatever the run got to). A newest set made by a rollback that
/// stopped part-way is finished instead: the set it was restoring is restored again. The
/// second value names that unfinished rollback.
pub(crate) fn find_set(
    backups: &Path,
    id: Option<&str>,
) -> Result<(BackupSet, Option<String>), NodeError> {
    if let Some(id) = id {
        return Ok((named_set(backups, id)?, None));
    }
    let (sets, problems) = list_sets(backups)?;
    if let Some(p) = problems.first() {
        // The unreadable one may be the newest: never guess past it.
        return Err(NodeError::new(format!(
            "{p}; name the backup set to restore (`kubeharden rollback --list` lists the others)"
        )));
    }
    let Some(newest) = sets.into_iter().next_back() else {
        return Err(NodeError::new(format!(
            "no backup sets in {}",
            backups.display()
        )));
    };
    match newest.record.unfinished_rollback() {
        Some(restores) => {
            let set = named_set(backups, restores).map_err(|e| {
                NodeError::new(format!(
                    "backup set {} is a rollback of {restores} that stopped part-way, and {restores} cannot be read to finish it: {e}",
                    newest.record.id
                ))
            })?;
            Ok((set, Some(newest.record.id)))
        }
        None => Ok((newest, None)),
    }
}

fn named_set(backups: &Path, id: &str) -> Result<BackupSet, NodeError> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(NodeError::new(format!("`{id}` is not a backup set id")));
    }
    let dir = backups.join(id);
    if !dir.is_dir() {
        return Err(NodeError::new(format!(
            "no backup set `{id}` in {}; `kubeharden rollback --list` lists them",
            backups.display()
        )));
    }
    load_set(&dir)
}

/// Removes a set whose run changed nothing after all. It is first renamed to a hidden name,
/// which `rollback` passes over, so a removal that stops half-way leaves no set behind that a
/// rollback would pick.
pub(crate) fn discard(set: &BackupSet) -> Result<(), NodeError> {
    let hidden = set
        .dir
        .with_file_name(format!(".discarded-{}", set.record.id));
    let dir = match fs::rename(&set.dir, &hidden) {
        Ok(()) => hidden,
        Err(_) => set.dir.clone(),
    };
    fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, "remove", e))
}
