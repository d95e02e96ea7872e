//! The only code that changes files on a node: the run lock, atomic writes that keep mode and
//! owner, backup sets, and rollback.
//!
//! A backup set is a directory `<backups>/<ID>/` (0700) holding `record.json` and the original
//! bytes of every file a run changed, under `files/` (0600). The record names each file by its
//! path on the node, with its sha256, size, mode, owner and whether it existed, so `rollback`
//! can restore the exact bytes and remove what the run created. Backups never go into the static
//! pod directory: the kubelet runs every file there whose name does not start with a dot.

use crate::load::node::Root;
use crate::model::report::NodeError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where kubeharden keeps its state on a node (backups, the lock), below the root.
pub(crate) const STATE_DIR: &str = "/var/lib/kubeharden";

/// The version of `record.json`'s layout.
pub(crate) const RECORD_VERSION: u32 = 1;

fn io_err(path: &Path, what: &str, e: io::Error) -> NodeError {
    NodeError::new(format!("{}: cannot {what}: {e}", path.display()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A point in time as kubeharden records it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    pub(crate) unix: u64,
    pub(crate) nanos: u32,
}

impl Stamp {
    pub(crate) fn now() -> Stamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Stamp {
            unix: d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }

    /// (year, month, day, hour, minute, second) in UTC.
    fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = (self.unix / 86_400) as i64;
        let secs = (self.unix % 86_400) as u32;
        // Days since 1970-01-01 to a proleptic Gregorian date (the era-based conversion).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// `2026-11-28T15:30:12Z`.
    pub(crate) fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// `20261128T153012Z`: sorts in time order and is safe in a file name.
    pub(crate) fn compact(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

/// Held while a run may write: two runs never edit the same node at once. The lock is an
/// advisory `flock` on a file in the state directory; the kernel releases it when the process
/// ends, however it ends.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    pub(crate) fn acquire(path: &Path) -> Result<Lock, NodeError> {
        if let Some(dir) = path.parent() {
            create_private_dirs(dir)?;
        }
        // Never through a symbolic link: the lock file is written to.
        if fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
            return Err(NodeError::new(format!(
                "{}: the lock file is not a regular file; remove it",
                path.display()
            )));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(|e| io_err(path, "open the lock file", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                };
                return Err(NodeError::new(format!(
                    "{}: another kubeharden run holds the lock{who}; wait for it to finish",
                    path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(path, "lock", e)),
        }
        // Who holds it, for the message another run prints.
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(Lock { _file: file })
    }
}

/// Creates `dir` and any missing parents with mode 0700. Returns the directories it created,
/// outermost first.
pub(crate) fn create_private_dirs(dir: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    missing.reverse();
    for d in &missing {
        match fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(e) => return Err(io_err(d, "create the directory", e)),
        }
        // The umask may have taken bits away, never added any; make it exactly 0700.
        fs::set_permissions(d, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(d, "set the mode of", e))?;
    }
    if !dir.is_dir() {
        return Err(NodeError::new(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    Ok(missing)
}

fn sync_dir(dir: &Path) -> Result<(), NodeError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "sync the directory", e))
}

/// Mode and owner a write gives the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Perms {
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Perms {
    pub(crate) fn of(meta: &fs::Metadata) -> Perms {
        Perms {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// Reads a file's bytes, bounded.
pub(crate) fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, NodeError> {
    let f = File::open(path).map_err(|e| io_err(path, "read", e))?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(path, "read", e))?;
    if bytes.len() as u64 > limit {
        return Err(NodeError::new(format!(
            "{}: larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Replaces (or creates) `path` with `bytes` atomically: a dot-prefixed temporary file in the
/// same directory, written, given `mode` and `owner` (uid, gid; when it differs from the
/// writer's), synced, renamed over the path, and the directory synced. When `expect` is given
/// the file must still hold exactly those bytes just before the rename (`None` inside it: the
/// file must not exist), else nothing is replaced.
pub(crate) fn atomic_write(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    expect: Option<Option<&[u8]>>,
) -> Result<(), NodeError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |what: &str, e: io::Error| io_err(path, what, e);
    // Only regular files are replaced: a rename over a device, a pipe or a directory would
    // put a file in its place.
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.file_type().is_file() {
            return Err(NodeError::new(format!(
                "{}: not a regular file; kubeharden replaces regular files only",
                path.display()
            )));
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeharden-")
        .tempfile_in(dir)
        .map_err(|e| fail("create a temporary file beside", e))?;
    tmp.write_all(bytes).map_err(|e| fail("write", e))?;
    // Owner first: changing it clears the setuid and setgid bits, which the mode then sets.
    if let Some((uid, gid)) = owner {
        let meta = tmp
            .as_file()
            .metadata()
            .map_err(|e| fail("inspect the temporary file for", e))?;
        if meta.uid() != uid || meta.gid() != gid {
            std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid)).map_err(|e| {
                NodeError::new(format!(
                    "{}: cannot give it its owner {uid}:{gid} ({e}); run kubeharden as root",
                    path.display(),
                ))
            })?;
        }
    }
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| fail("set the mode of", e))?;
    tmp.as_file().sync_all().map_err(|e| fail("sync", e))?;
    if let Some(expected) = expect {
        let now = match fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail("read", e)),
        };
        if now.as_deref() != expected {
            return Err(NodeError::new(format!(
                "{}: the file changed while kubeharden was working on it; nothing was written to it",
                path.display()
            )));
        }
    }
    tmp.persist(path).map_err(|e| fail("replace", e.error))?;
    sync_dir(dir)
}

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
    /// The run stopped part-way and could not put everything back: this set holds the
    /// originals, but `rollback` without an id does not pick it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) incomplete: bool,
}

/// A backup set on disk.
#[derive(Debug)]
pub(crate) struct BackupSet {
    pub(crate) dir: PathBuf,
    pub(crate) record: Record,
}

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
    /// (else the user running kubeharden owns it).
    Create {
        new: Vec<u8>,
        mode: u32,
        owner: Option<(u32, u32)>,
    },
    /// Create the directory (and missing parents), mode 0700.
    Directory,
    /// Remove the file (a rollback of a file a run created); it must hold `current`.
    Remove { current: Vec<u8> },
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

/// The path as a record keeps it, and whether it lies outside the root.
fn node_path(root: &Root, local: &Path) -> (String, bool) {
    match root.host_path(local) {
        Some(p) => (p, false),
        None => (local.display().to_string(), true),
    }
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

/// Creates a new, empty backup set directory below `backups` with a fresh id.
fn new_set_dir(backups: &Path, stamp: Stamp) -> Result<(String, PathBuf), NodeError> {
    create_private_dirs(backups)?;
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

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err(path, "create", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err(path, "write", e))
}

fn save_record(set: &BackupSet) -> Result<(), NodeError> {
    let path = set.dir.join("record.json");
    let mut json = serde_json::to_vec_pretty(&set.record)
        .map_err(|e| NodeError::new(format!("{}: {e}", path.display())))?;
    json.push(b'\n');
    atomic_write(&path, &json, 0o600, None, None)
}

/// Backs up what `writes` will change into a new set below `backups`, then makes the writes in
/// order. If one fails, the files already written are restored from the set and the error says
/// so. Returns the set.
pub(crate) fn apply(
    writes: &[Write1],
    backups: &Path,
    info: &RunInfo,
) -> Result<BackupSet, NodeError> {
    let stamp = Stamp::now();
    // Check everything before anything is touched.
    for w in writes {
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
            Target::Directory => {}
        }
    }
    let (id, dir) = new_set_dir(backups, stamp)?;
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
            incomplete: true,
        },
    };
    // Until the writes are done the set says it is incomplete; a set that never got as far
    // as a write is removed again.
    if let Err(e) = prepare(&mut set, writes, info) {
        let _ = fs::remove_dir_all(&set.dir);
        return Err(e);
    }
    write_all(set, writes, info)
}

/// Copies the originals into the set and saves its record.
fn prepare(set: &mut BackupSet, writes: &[Write1], info: &RunInfo) -> Result<(), NodeError> {
    let files_dir = set.dir.join("files");
    create_private_dirs(&files_dir)?;
    // Directories that will be created, known before anything is.
    let mut new_dirs: Vec<PathBuf> = Vec::new();
    for w in writes {
        let want = match &w.target {
            Target::Directory => Some(w.path.as_path()),
            Target::Create { .. } => w.path.parent(),
            _ => None,
        };
        let mut cur = want;
        let mut chain = Vec::new();
        while let Some(d) = cur {
            if d.as_os_str().is_empty() || d.exists() || new_dirs.iter().any(|x| x == d) {
                break;
            }
            chain.push(d.to_path_buf());
            cur = d.parent();
        }
        chain.reverse();
        new_dirs.extend(chain);
    }
    // Only directories under the root are recorded: a rollback removes them when empty.
    set.record.created_dirs = new_dirs
        .iter()
        .filter_map(|d| info.root.host_path(d))
        .collect();
    for (n, w) in writes.iter().enumerate() {
        let (host, outside_root) = node_path(info.root, &w.path);
        // Short enough for any file system's name limit, whatever the original's length.
        let stem: String = w
            .path
            .file_name()
            .map(|n| n.to_string_lossy().chars().take(64).collect())
            .unwrap_or_default();
        // What is there now, kept in the set: the original of a file replaced or removed.
        let (kept, written) = match &w.target {
            Target::Replace { original, new, .. } => (Some(original), Some(sha256_hex(new))),
            Target::Remove { current } => (Some(current), None),
            Target::Create { .. } | Target::Directory => (None, None),
        };
        let rec = match (&w.target, kept) {
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
            (Target::Create { new, .. }, None) => FileRecord {
                path: host,
                outside_root,
                existed: false,
                backup: None,
                sha256: None,
                size: None,
                perms: None,
                written_sha256: Some(sha256_hex(new)),
            },
            _ => continue,
        };
        set.record.files.push(rec);
    }
    sync_dir(&files_dir)?;
    save_record(set)?;
    set.dir.parent().map_or(Ok(()), sync_dir)
}

/// Makes the writes, in the order given (supporting files before the manifests that name
/// them); on a failure, puts back what was written.
fn write_all(
    mut set: BackupSet,
    writes: &[Write1],
    info: &RunInfo,
) -> Result<BackupSet, NodeError> {
    let mut done: Vec<&Write1> = Vec::new();
    let mut created: Vec<PathBuf> = Vec::new();
    let mut failure: Option<NodeError> = None;
    for w in writes {
        let r = match &w.target {
            Target::Directory => create_private_dirs(&w.path).map(|c| created.extend(c)),
            Target::Create { new, mode, owner } => w
                .path
                .parent()
                .map_or(Ok(Vec::new()), create_private_dirs)
                .and_then(|c| {
                    created.extend(c);
                    atomic_write(&w.path, new, *mode, *owner, Some(None))
                }),
            Target::Replace {
                original,
                new,
                perms,
            } => {
                let perms = match perms {
                    Some(p) => Ok(*p),
                    None => fs::metadata(&w.path)
                        .map(|m| Perms::of(&m))
                        .map_err(|e| io_err(&w.path, "inspect", e)),
                };
                perms.and_then(|p| {
                    atomic_write(
                        &w.path,
                        new,
                        p.mode,
                        Some((p.uid, p.gid)),
                        Some(Some(original)),
                    )
                })
            }
            Target::Remove { current } => {
                if fs::read(&w.path).ok().as_deref() != Some(current.as_slice()) {
                    Err(NodeError::new(format!(
                        "{}: the file changed while kubeharden was working on it; it was not removed",
                        w.path.display()
                    )))
                } else {
                    fs::remove_file(&w.path)
                        .map_err(|e| io_err(&w.path, "remove", e))
                        .and_then(|()| w.path.parent().map_or(Ok(()), sync_dir))
                }
            }
        };
        match r {
            Ok(()) => done.push(w),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let Some(e) = failure else {
        set.record.incomplete = false;
        save_record(&set)?;
        return Ok(set);
    };
    // Undo what was done, newest first.
    let mut undo_errors = Vec::new();
    for w in done.iter().rev() {
        let (host, _) = node_path(info.root, &w.path);
        let r = match set.record.files.iter().find(|f| f.path == host) {
            Some(f) => restore_one(&set, f, &w.path),
            None => Ok(()),
        };
        if let Err(x) = r {
            undo_errors.push(x.to_string());
        }
    }
    for d in created.iter().rev() {
        let _ = fs::remove_dir(d);
    }
    if undo_errors.is_empty() {
        // Everything is as it was: the set has nothing to restore.
        let _ = fs::remove_dir_all(&set.dir);
        if done.is_empty() {
            Err(NodeError::new(format!("{e}; nothing was written")))
        } else {
            Err(NodeError::new(format!(
                "{e}; the files already written were put back as they were"
            )))
        }
    } else {
        Err(NodeError(
            format!(
                "{e}; putting back the files already written failed too ({}); backup set {} holds their originals",
                undo_errors.join("; "),
                set.record.id
            ),
            Some(set.record.id.clone()),
        ))
    }
}

/// Puts one file back as the record has it: its original bytes, mode and owner, or gone if the
/// run created it.
fn restore_one(set: &BackupSet, f: &FileRecord, local: &Path) -> Result<(), NodeError> {
    if !f.existed {
        return match fs::remove_file(local) {
            Ok(()) => local.parent().map_or(Ok(()), sync_dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(local, "remove", e)),
        };
    }
    let bytes = backup_bytes(set, f)?;
    if let Some(parent) = local.parent() {
        create_private_dirs(parent)?;
    }
    let (mode, owner) = f
        .perms
        .map_or((0o600, None), |p| (p.mode, Some((p.uid, p.gid))));
    atomic_write(local, &bytes, mode, owner, None)
}

/// Only the user running kubeharden (or root) may have made what a rollback trusts, and nobody
/// else may be able to change it: a backup set decides which bytes, modes and owners land on
/// the node.
fn trusted(path: &Path) -> Result<fs::Metadata, NodeError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, "inspect", e))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.file_type().is_symlink() {
        return Err(NodeError::new(format!(
            "{}: a symbolic link inside a backup set; kubeharden does not trust this set",
            path.display()
        )));
    }
    if (meta.uid() != me && meta.uid() != 0) || meta.mode() & 0o022 != 0 {
        return Err(NodeError::new(format!(
            "{}: owned by uid {} with mode {:o}; kubeharden trusts only backups that it made for this user or root and that nobody else can change",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(meta)
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
fn backup_bytes(set: &BackupSet, f: &FileRecord) -> Result<Vec<u8>, NodeError> {
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

/// What a rollback did, for the caller to tell.
pub(crate) struct Restored {
    pub(crate) undo: BackupSet,
    /// Files whose content had changed since the set's run wrote them.
    pub(crate) changed_since: Vec<String>,
    pub(crate) restored: Vec<String>,
    pub(crate) removed: Vec<String>,
}

/// Restores backup set `set`: checks every backup against its sha256 first, backs up the current
/// state into a new set (so the rollback can be undone), then puts each file back atomically
/// and removes the files (and then-empty directories) the run created.
pub(crate) fn rollback(
    set: &BackupSet,
    backups: &Path,
    root: &Root,
) -> Result<Restored, NodeError> {
    let mut writes = Vec::new();
    let mut changed_since = Vec::new();
    let mut restored = Vec::new();
    let mut removed = Vec::new();
    for f in &set.record.files {
        let local = local_path(root, f)?;
        let current = match fs::read(&local) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&local, "read", e)),
        };
        if current.as_deref().map(sha256_hex) != f.written_sha256 {
            changed_since.push(f.path.clone());
        }
        if f.existed {
            let new = backup_bytes(set, f)?;
            let target = match current {
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
            restored.push(f.path.clone());
            writes.push(Write1 {
                path: local,
                target,
            });
        } else if let Some(current) = current {
            removed.push(f.path.clone());
            writes.push(Write1 {
                path: local,
                target: Target::Remove { current },
            });
        }
    }
    let info = RunInfo {
        command: "rollback",
        profile: None,
        restores: Some(&set.record.id),
        root,
    };
    // Directories an undone rollback removed come back first, as the files in them do.
    let mut recreated = Vec::new();
    for d in &set.record.removed_dirs {
        let local = root.resolve(d)?;
        if !local.exists() {
            writes.insert(
                recreated.len(),
                Write1 {
                    path: local,
                    target: Target::Directory,
                },
            );
            recreated.push(d.clone());
        }
    }
    // Files come back before the files the fix created go: the restored manifests no longer
    // name them by then.
    writes.sort_by_key(|w| matches!(w.target, Target::Remove { .. }));
    let mut undo = apply(&writes, backups, &info)?;
    let mut removed_dirs = Vec::new();
    for d in set.record.created_dirs.iter().rev() {
        let Ok(local) = root.resolve(d) else {
            continue;
        };
        // Only when empty: anything else put there since stays.
        if fs::remove_dir(&local).is_ok() {
            removed_dirs.insert(0, d.clone());
        }
    }
    if !removed_dirs.is_empty() {
        undo.record.removed_dirs = removed_dirs;
        save_record(&undo)?;
    }
    Ok(Restored {
        undo,
        changed_since,
        restored,
        removed,
    })
}

/// The newest backup set, or the one named `id`.
pub(crate) fn find_set(backups: &Path, id: Option<&str>) -> Result<BackupSet, NodeError> {
    if let Some(id) = id {
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
        return load_set(&dir);
    }
    let (sets, problems) = list_sets(backups)?;
    if let Some(p) = problems.first() {
        // The unreadable one may be the newest: never guess past it.
        return Err(NodeError::new(format!(
            "{p}; name the backup set to restore (`kubeharden rollback --list` lists the others)"
        )));
    }
    if let Some(newest) = sets.iter().rev().find(|s| !s.record.incomplete) {
        let id = newest.record.id.clone();
        return sets
            .into_iter()
            .find(|s| s.record.id == id)
            .ok_or_else(|| NodeError::new(format!("backup set {id} vanished")));
    }
    match sets.last() {
        Some(s) => Err(NodeError::new(format!(
            "the only backup sets in {} are incomplete (their runs failed part-way); the newest is {}: restore it by naming it",
            backups.display(),
            s.record.id
        ))),
        None => Err(NodeError::new(format!("no backup sets in {}", backups.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let s = |unix| Stamp { unix, nanos: 0 }.rfc3339();
        assert_eq!(s(0), "1970-01-01T00:00:00Z");
        assert_eq!(s(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(s(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(
            Stamp {
                unix: 1_709_210_096,
                nanos: 0
            }
            .compact(),
            "20240229T123456Z"
        );
    }

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
        assert!(err.0.contains("put back as they were"), "{err}");
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
        assert!(err.0.contains("changed while kubeharden"), "{err}");
        assert_eq!(fs::read(&m).expect("read"), b"someone else's edit\n");
        let err = atomic_write(&m, b"new\n", 0o600, None, Some(None)).expect_err("exists");
        assert!(err.0.contains("changed"), "{err}");
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
            ids.push(apply(&w, &backups, &info(&root)).expect("apply").record.id);
        }
        let listed: Vec<String> = list_sets(&backups)
            .expect("list")
            .0
            .into_iter()
            .map(|s| s.record.id)
            .collect();
        assert_eq!(listed, ids);
        assert_eq!(find_set(&backups, None).expect("newest").record.id, ids[2]);
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
