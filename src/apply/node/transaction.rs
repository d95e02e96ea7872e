//! One run's changes as a transaction: every file checked, its original kept in a new backup
//! set, then the writes in order; if one fails, what was written is put back and read again,
//! and the error says what the files now hold.

use super::files::{
    atomic_write, create_dirs, io_err, parent_of, remove_file, sha256_hex, sync_dir, write_private,
    Perms, WriteFailure,
};
use super::record::{
    discard, save_record, BackupSet, DirPermsRecord, FileRecord, Record, RECORD_VERSION,
};
use super::stamp::Stamp;
use super::trust::no_link_below;
use crate::load::node::Root;
use crate::model::report::NodeError;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The content a run will give a path, and how.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// Replace the file, which must still hold the bytes read; mode and owner kept, or set to
    /// `perms` when given.
    Replace {
        original: Vec<u8>,
        new: Vec<u8>,
        perms: Option<Perms>,
    },
    /// Create the file, which must not exist, with `mode`, and `owner` (uid, gid) when given
    /// (else the user running kubeharden owns it). Missing directories above it get 0700.
    Create {
        new: Vec<u8>,
        mode: u32,
        owner: Option<(u32, u32)>,
    },
    /// Create the directory with `mode`, and missing directories above it with `parents`.
    Directory { mode: u32, parents: u32 },
    /// Remove the file (a rollback of a file a run created); it must hold `current`.
    Remove { current: Vec<u8> },
    /// Give an existing directory the mode and owner `after`; it must have `before`.
    DirPerms { before: Perms, after: Perms },
}

impl Target {
    /// A directory for a log file: 0700 as kube-apiserver makes the directory of its audit log
    /// (`ensureLogFile`, staging/src/k8s.io/apiserver/pkg/server/options/audit.go, since 1.22),
    /// and 0755 above it, as the kubelet makes the directories of a `DirectoryOrCreate`
    /// hostPath (pkg/volume/hostpath/host_path.go) and as `/var/log` is.
    pub(crate) const LOG_DIRECTORY: Target = Target::Directory {
        mode: 0o700,
        parents: 0o755,
    };

    /// The modes a directory target gives, in words: `mode 0700, 0755 for any missing
    /// directory above it`.
    pub(crate) fn modes(&self) -> String {
        match self {
            Target::Directory { mode, parents } if mode != parents => {
                format!("mode {mode:04o}, {parents:04o} for any missing directory above it")
            }
            Target::Directory { mode, .. } | Target::Create { mode, .. } => {
                format!("mode {mode:04o}")
            }
            Target::DirPerms { after, .. } => format!("mode {:04o}", after.mode),
            Target::Replace { .. } | Target::Remove { .. } => String::new(),
        }
    }

    /// What the path holds before the run: the bytes of a file replaced or removed, nothing
    /// for one created.
    fn before(&self) -> Option<&[u8]> {
        match self {
            Target::Replace { original, .. } => Some(original),
            Target::Remove { current } => Some(current),
            Target::Create { .. } | Target::Directory { .. } | Target::DirPerms { .. } => None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Write1 {
    /// Path on this machine.
    pub(crate) path: PathBuf,
    pub(crate) target: Target,
}

/// What a run is about to do, for its backup set.
pub(crate) struct RunInfo<'a> {
    pub(crate) command: &'a str,
    pub(crate) profile: Option<&'a str>,
    pub(crate) restores: Option<&'a str>,
    pub(crate) root: &'a Root,
}

/// A transaction that wrote everything. `unfinished` says why its record could not be
/// marked complete: every file is written and the set holds the originals all the same.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) set: BackupSet,
    pub(crate) unfinished: Option<NodeError>,
}

/// The path as a record keeps it, and whether it lies outside the root.
pub(crate) fn node_path(root: &Root, local: &Path) -> (String, bool) {
    match root.host_path(local) {
        Some(p) => (p, false),
        None => (local.display().to_string(), true),
    }
}

/// Creates a new, empty backup set directory below `backups` with a fresh id.
fn new_set_dir(backups: &Path, stamp: Stamp) -> Result<(String, PathBuf), NodeError> {
    let mut made = Vec::new();
    create_dirs(backups, 0o700, &mut made)?;
    let base = stamp.compact();
    for n in 0..1000u32 {
        let id = if n == 0 {
            base.clone()
        } else {
            format!("{base}.{n}")
        };
        let dir = backups.join(&id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                    .map_err(|e| io_err(&dir, "set the mode of", e))?;
                return Ok((id, dir));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&dir, "create the backup directory", e)),
        }
    }
    Err(NodeError::new(format!(
        "{}: too many backup sets for one second",
        backups.display()
    )))
}

/// Every write still possible as planned: the files hold what was read, the files to create
/// do not exist, and under `--root` no link leads out of it.
fn check(writes: &[Write1], backups: &Path, root: &Root) -> Result<(), NodeError> {
    no_link_below(root, backups)?;
    for w in writes {
        no_link_below(root, &w.path)?;
        match &w.target {
            Target::Replace { original, .. } | Target::Remove { current: original } => {
                let now = fs::read(&w.path).map_err(|e| io_err(&w.path, "read", e))?;
                if &now != original {
                    return Err(NodeError::new(format!(
                        "{}: the file changed while kubeharden was working on it; nothing was written",
                        w.path.display()
                    )));
                }
            }
            Target::Create { .. } => {
                if w.path.symlink_metadata().is_ok() {
                    return Err(NodeError::new(format!(
                        "{}: appeared while kubeharden was working; nothing was written",
                        w.path.display()
                    )));
                }
            }
            Target::Directory { .. } => {}
            Target::DirPerms { before, .. } => {
                let now =
                    fs::symlink_metadata(&w.path).map_err(|e| io_err(&w.path, "inspect", e))?;
                if !now.is_dir() || Perms::of(&now) != *before {
                    return Err(NodeError::new(format!(
                        "{}: its mode or owner changed while kubeharden was working; nothing was written",
                        w.path.display()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Backs up what `writes` will change into a new set below `backups`, then makes the writes in
/// order. If one fails, the files already written are restored from the set, read again, and
/// the error says what they hold.
pub(crate) fn apply(
    writes: &[Write1],
    backups: &Path,
    info: &RunInfo,
) -> Result<Applied, NodeError> {
    let stamp = Stamp::now();
    // Check everything before anything is touched.
    check(writes, backups, info.root)?;
    let (id, dir) = new_set_dir(backups, stamp)
        .map_err(|e| NodeError::new(format!("{e}; nothing was written")))?;
    let mut set = BackupSet {
        dir,
        record: Record {
            record_version: RECORD_VERSION,
            id,
            created: stamp.rfc3339(),
            created_unix: stamp.unix,
            created_nanos: stamp.nanos,
            kubeharden_version: env!("CARGO_PKG_VERSION").to_string(),
            command: info.command.to_string(),
            profile: info.profile.map(str::to_string),
            restores: info.restores.map(str::to_string),
            root: info.root.dir().display().to_string(),
            files: Vec::new(),
            created_dirs: Vec::new(),
            removed_dirs: Vec::new(),
            dir_perms: Vec::new(),
            dir_modes: BTreeMap::new(),
            incomplete: true,
        },
    };
    // Until the writes are done the set says it is incomplete; a set that never got as far
    // as a write is removed again.
    if let Err(e) = prepare(&mut set, writes, info) {
        let _ = discard(&set);
        return Err(NodeError::new(format!("{e}; nothing was written")));
    }
    write_all(set, writes, info)
}

/// The directories the writes will create, outermost first, with their modes.
fn new_dirs(writes: &[Write1]) -> Vec<(PathBuf, u32)> {
    let mut out: Vec<(PathBuf, u32)> = Vec::new();
    for w in writes {
        let (want, leaf, parents) = match &w.target {
            Target::Directory { mode, parents } => (Some(w.path.as_path()), *mode, *parents),
            Target::Create { .. } => (w.path.parent(), 0o700, 0o700),
            _ => continue,
        };
        let mut cur = want;
        let mut chain = Vec::new();
        while let Some(d) = cur {
            if d.as_os_str().is_empty()
                || fs::symlink_metadata(d).is_ok()
                || out.iter().any(|(x, _)| x == d)
            {
                break;
            }
            let mode = if Some(d) == want { leaf } else { parents };
            chain.push((d.to_path_buf(), mode));
            cur = d.parent();
        }
        chain.reverse();
        out.extend(chain);
    }
    out
}

/// Copies the originals into the set and saves its record, all synced.
fn prepare(set: &mut BackupSet, writes: &[Write1], info: &RunInfo) -> Result<(), NodeError> {
    let files_dir = set.dir.join("files");
    create_dirs(&files_dir, 0o700, &mut Vec::new())?;
    // Only directories under the root are recorded: a rollback removes them when empty.
    for (d, mode) in new_dirs(writes) {
        if let Some(host) = info.root.host_path(&d) {
            set.record.dir_modes.insert(host.clone(), mode);
            set.record.created_dirs.push(host);
        }
    }
    for (n, w) in writes.iter().enumerate() {
        let (host, outside_root) = node_path(info.root, &w.path);
        // Short enough for any file system's name limit, whatever the original's length.
        let stem: String = w
            .path
            .file_name()
            .map(|n| n.to_string_lossy().chars().take(64).collect())
            .unwrap_or_default();
        let written = match &w.target {
            Target::Replace { new, .. } | Target::Create { new, .. } => Some(sha256_hex(new)),
            Target::Remove { .. } | Target::Directory { .. } | Target::DirPerms { .. } => None,
        };
        let rec = match (&w.target, w.target.before()) {
            (_, Some(bytes)) => {
                let meta = fs::metadata(&w.path).map_err(|e| io_err(&w.path, "inspect", e))?;
                let name = format!("files/{}-{stem}", n + 1);
                write_private(&set.dir.join(&name), bytes)?;
                FileRecord {
                    path: host,
                    outside_root,
                    existed: true,
                    backup: Some(name),
                    sha256: Some(sha256_hex(bytes)),
                    size: Some(bytes.len() as u64),
                    perms: Some(Perms::of(&meta)),
                    written_sha256: written,
                }
            }
            (Target::DirPerms { before, after }, None) => {
                set.record.dir_perms.push(DirPermsRecord {
                    path: host,
                    before: *before,
                    after: *after,
                });
                continue;
            }
            (Target::Create { .. }, None) => FileRecord {
                path: host,
                outside_root,
                existed: false,
                backup: None,
                sha256: None,
                size: None,
                perms: None,
                written_sha256: written,
            },
            _ => continue,
        };
        set.record.files.push(rec);
    }
    sync_dir(&files_dir)?;
    save_record(set)?;
    sync_dir(parent_of(&set.dir))
}

/// Makes one write; the directories it creates join `made` as they are made.
fn write_one(w: &Write1, made: &mut Vec<PathBuf>) -> Result<(), WriteFailure> {
    match &w.target {
        Target::Directory { mode, parents } => {
            if let Some(parent) = w.path.parent() {
                create_dirs(parent, *parents, made)?;
            }
            Ok(create_dirs(&w.path, *mode, made)?)
        }
        Target::Create { new, mode, owner } => {
            create_dirs(parent_of(&w.path), 0o700, made)?;
            atomic_write(&w.path, new, *mode, *owner, Some(None))
        }
        Target::Replace {
            original,
            new,
            perms,
        } => {
            let p = match perms {
                Some(p) => *p,
                None => fs::metadata(&w.path)
                    .map(|m| Perms::of(&m))
                    .map_err(|e| io_err(&w.path, "inspect", e))?,
            };
            atomic_write(
                &w.path,
                new,
                p.mode,
                Some((p.uid, p.gid)),
                Some(Some(original)),
            )
        }
        Target::Remove { current } => remove_file(&w.path, current),
        Target::DirPerms { before, after } => Ok(dir_perms(&w.path, Some(before), after)?),
    }
}

/// Gives the directory `path` the mode and owner `to`, when it still has `from` (when given):
/// owner first, since changing it clears the setuid and setgid bits the mode then sets.
fn dir_perms(path: &Path, from: Option<&Perms>, to: &Perms) -> Result<(), NodeError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, "inspect", e))?;
    if !meta.is_dir() || from.is_some_and(|f| *f != Perms::of(&meta)) {
        return Err(NodeError::new(format!(
            "{}: its mode or owner changed since it was read; nothing more is written",
            path.display()
        )));
    }
    if (meta.uid(), meta.gid()) != (to.uid, to.gid) {
        std::os::unix::fs::chown(path, Some(to.uid), Some(to.gid)).map_err(|e| {
            NodeError::new(format!(
                "{}: cannot give it its owner {}:{} ({e}); run kubeharden as root",
                path.display(),
                to.uid,
                to.gid
            ))
        })?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(to.mode))
        .map_err(|e| io_err(path, "set the mode of", e))?;
    sync_dir(path)
}

/// Makes the writes, in the order given (supporting files before the manifests that name
/// them); on a failure, puts back what was written.
fn write_all(mut set: BackupSet, writes: &[Write1], info: &RunInfo) -> Result<Applied, NodeError> {
    let mut done: Vec<&Write1> = Vec::new();
    let mut made: Vec<PathBuf> = Vec::new();
    let mut failure = None;
    for w in writes {
        match write_one(w, &mut made) {
            Ok(()) => done.push(w),
            Err(f) => {
                // A file renamed into place before the failure holds the new bytes: it is put
                // back like the ones before it.
                if f.replaced {
                    done.push(w);
                }
                failure = Some(f.error);
                break;
            }
        }
    }
    let Some(e) = failure else {
        set.record.incomplete = false;
        let unfinished = save_record(&set).err();
        return Ok(Applied { set, unfinished });
    };
    let undo_errors = undo(&set, &done, info);
    let mut left_dirs = Vec::new();
    for d in made.iter().rev() {
        if fs::remove_dir(d).is_err() && d.exists() {
            left_dirs.push(d.display().to_string());
        }
    }
    let wrote = !done.is_empty() || !made.is_empty();
    Err(failed(
        e,
        &set,
        writes,
        info,
        wrote,
        &undo_errors,
        &left_dirs,
    ))
}

/// Puts back, newest first, each file `done` wrote: its original bytes, mode and owner as the
/// set recorded them, or gone if the run created it. Returns what failed.
fn undo(set: &BackupSet, done: &[&Write1], info: &RunInfo) -> Vec<String> {
    let mut errors = Vec::new();
    for w in done.iter().rev() {
        if let Target::DirPerms { before, .. } = &w.target {
            if let Err(e) = dir_perms(&w.path, None, before) {
                errors.push(e.to_string());
            }
            continue;
        }
        let (host, _) = node_path(info.root, &w.path);
        let rec = set.record.files.iter().find(|f| f.path == host);
        let r = match (w.target.before(), rec) {
            (Some(bytes), Some(f)) => {
                let (mode, owner) = f
                    .perms
                    .map_or((0o600, None), |p| (p.mode, Some((p.uid, p.gid))));
                create_dirs(parent_of(&w.path), 0o700, &mut Vec::new())
                    .map_err(WriteFailure::from)
                    .and_then(|()| atomic_write(&w.path, bytes, mode, owner, None))
                    .map_err(NodeError::from)
            }
            (None, Some(_)) => match fs::remove_file(&w.path) {
                Ok(()) => sync_dir(parent_of(&w.path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(&w.path, "remove", e)),
            },
            _ => Ok(()),
        };
        if let Err(x) = r {
            errors.push(x.to_string());
        }
    }
    errors
}

/// The files not as they were before the run, read again after putting back.
fn still_changed(writes: &[Write1], info: &RunInfo) -> Vec<String> {
    writes
        .iter()
        .filter(|w| !matches!(w.target, Target::Directory { .. }))
        .filter(|w| match (w.target.before(), &w.target) {
            (_, Target::DirPerms { before, .. }) => {
                fs::metadata(&w.path).map(|m| Perms::of(&m)).ok() != Some(*before)
            }
            (Some(bytes), _) => fs::read(&w.path).ok().as_deref() != Some(bytes),
            // Created by the run: as before when nothing is there (or nothing can be).
            (None, _) => fs::symlink_metadata(&w.path).is_ok(),
        })
        .map(|w| node_path(info.root, &w.path).0)
        .collect()
}

/// The error of a transaction that failed at `e`, saying truthfully what the files hold now:
/// as they were (the set is removed) or, where putting back failed too, which are still
/// changed (the set is kept, with the originals).
fn failed(
    e: NodeError,
    set: &BackupSet,
    writes: &[Write1],
    info: &RunInfo,
    wrote: bool,
    undo_errors: &[String],
    left_dirs: &[String],
) -> NodeError {
    let changed = still_changed(writes, info);
    let dirs = if left_dirs.is_empty() {
        String::new()
    } else {
        format!(
            "; the directories it created are left: {}",
            left_dirs.join(", ")
        )
    };
    if changed.is_empty() && !undo_errors.is_empty() {
        // Every file reads as it was, but not all of the putting back reached the disk: a
        // crash could bring a new file back, so the set stays, to restore it then.
        return NodeError::new(format!(
            "{e}; the files already written were put back, and every file reads as it was{dirs}, but not all of it could be synced to disk ({}); backup set {} is kept: should a crash bring a changed file back, `kubeharden rollback {}` restores the originals",
            undo_errors.join("; "),
            set.record.id,
            set.record.id
        ));
    }
    if changed.is_empty() {
        let kept = match discard(set) {
            Ok(()) => String::new(),
            Err(x) => format!(
                "; its backup set could not be removed ({x}): it holds nothing to restore, remove it"
            ),
        };
        if !wrote {
            return NodeError::new(format!("{e}; nothing was written{kept}"));
        }
        return NodeError::new(format!(
            "{e}; the files already written were put back: every file is as it was{dirs}{kept}"
        ));
    }
    let why = if undo_errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", undo_errors.join("; "))
    };
    NodeError(
        format!(
            "{e}; putting the files back failed too{why}: still changed: {}{dirs}; backup set {} holds their originals",
            changed.join(", "),
            set.record.id
        ),
        Some(set.record.id.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::files::{atomic_write, create_private_dirs, sha256_hex};
    use super::super::record::{find_set, list_sets};
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn info(root: &Root) -> RunInfo<'_> {
        RunInfo {
            command: "fix",
            profile: Some("strict"),
            restores: None,
            root,
        }
    }

    #[test]
    fn a_failed_write_restores_what_was_written_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root::new(dir.path()).expect("root");
        let m = dir.path().join("m.yaml");
        fs::write(&m, b"old\n").expect("write");
        let blocker = dir.path().join("blocker");
        fs::write(&blocker, b"a file, not a directory").expect("write");
        let writes = vec![
            Write1 {
                path: m.clone(),
                target: Target::Replace {
                    original: b"old\n".to_vec(),
                    new: b"new\n".to_vec(),
                    perms: None,
                },
            },
            Write1 {
                path: blocker.join("policy.yaml"),
                target: Target::Create {
                    new: b"x".to_vec(),
                    mode: 0o600,
                    owner: None,
                },
            },
        ];
        let backups = dir.path().join("backups");
        let err = apply(&writes, &backups, &info(&root)).expect_err("fails");
        assert!(err.0.contains("put back: every file is as it was"), "{err}");
        assert_eq!(fs::read(&m).expect("read"), b"old\n");
        // Nothing to restore, so no backup set is left to confuse a later rollback.
        assert_eq!(fs::read_dir(&backups).expect("backups").count(), 0);
        // No temporary file is left behind.
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_file_changed_before_the_write_is_refused_before_any_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root::new(dir.path()).expect("root");
        let m = dir.path().join("m.yaml");
        fs::write(&m, b"someone else's edit\n").expect("write");
        let writes = vec![Write1 {
            path: m.clone(),
            target: Target::Replace {
                original: b"old\n".to_vec(),
                new: b"new\n".to_vec(),
                perms: None,
            },
        }];
        let backups = dir.path().join("backups");
        let err = apply(&writes, &backups, &info(&root)).expect_err("fails");
        assert!(err.0.contains("changed while kubeharden"), "{err}");
        assert_eq!(fs::read(&m).expect("read"), b"someone else's edit\n");
        assert!(!backups.exists());
        // And atomic_write itself checks right before the rename.
        let err = atomic_write(&m, b"new\n", 0o600, None, Some(Some(b"old\n"))).expect_err("x");
        assert!(!err.replaced);
        let err = err.error;
        assert!(err.0.contains("changed while kubeharden"), "{err}");
        assert_eq!(fs::read(&m).expect("read"), b"someone else's edit\n");
        let err = atomic_write(&m, b"new\n", 0o600, None, Some(None)).expect_err("exists");
        assert!(err.error.0.contains("changed"), "{}", err.error);
    }

    #[test]
    fn private_dirs_are_0700_and_listed_outermost_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        let made = create_private_dirs(&deep).expect("mkdir");
        assert_eq!(
            made,
            vec![dir.path().join("a"), dir.path().join("a/b"), deep.clone()]
        );
        for d in &made {
            let mode = fs::metadata(d).expect("meta").mode() & 0o7777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        assert!(create_private_dirs(&deep).expect("again").is_empty());
    }

    #[test]
    fn backup_set_ids_are_checked_and_sets_listed_in_time_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root::new(dir.path()).expect("root");
        let backups = dir.path().join("backups");
        for bad in ["", ".", "..", "../x", "a/b"] {
            assert!(find_set(&backups, Some(bad)).is_err(), "{bad}");
        }
        assert!(find_set(&backups, None).is_err());
        let f = dir.path().join("f");
        let mut ids = Vec::new();
        for n in 0..3u8 {
            fs::write(&f, [n]).expect("write");
            let w = vec![Write1 {
                path: f.clone(),
                target: Target::Replace {
                    original: vec![n],
                    new: vec![n + 1],
                    perms: None,
                },
            }];
            ids.push(
                apply(&w, &backups, &info(&root))
                    .expect("apply")
                    .set
                    .record
                    .id,
            );
        }
        let listed: Vec<String> = list_sets(&backups)
            .expect("list")
            .0
            .into_iter()
            .map(|s| s.record.id)
            .collect();
        assert_eq!(listed, ids);
        assert_eq!(
            find_set(&backups, None).expect("newest").0.record.id,
            ids[2]
        );
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
