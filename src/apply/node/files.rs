//! Writing one file so that a crash or a failing disk leaves either its old or its new content:
//! a temporary file beside it, synced, renamed over it, and the directory synced.

use crate::model::report::NodeError;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What every temporary file kubeharden writes is named with, followed by the writing
/// process's id and `-`: the kubelet skips names that start with a dot, and a later run knows
/// a file whose process is gone for a leftover.
pub(crate) const TEMP_PREFIX: &str = ".kubeharden-";

pub(crate) fn io_err(path: &Path, what: &str, e: io::Error) -> NodeError {
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

/// Mode and owner a write gives the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Creates `dir` and any missing parents with `mode`, adding each directory to `created` as
/// soon as it exists (outermost first), so a caller that fails later still knows what to
/// remove.
pub(crate) fn create_dirs(
    dir: &Path,
    mode: u32,
    created: &mut Vec<PathBuf>,
) -> Result<(), NodeError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    for d in missing.iter().rev() {
        match fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => created.push(d.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(e) => return Err(io_err(d, "create the directory", e)),
        }
        // The umask may have taken bits away, never added any: make it exactly `mode`.
        fs::set_permissions(d, fs::Permissions::from_mode(mode))
            .map_err(|e| io_err(d, "set the mode of", e))?;
    }
    if !dir.is_dir() {
        return Err(NodeError::new(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    Ok(())
}

/// Creates `dir` and any missing parents with mode 0700. Returns the directories it created,
/// outermost first.
pub(crate) fn create_private_dirs(dir: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let mut created = Vec::new();
    create_dirs(dir, 0o700, &mut created)?;
    Ok(created)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), NodeError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "sync the directory", e))
}

/// The directory a file is in (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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

/// The bytes at `path` now, `None` when nothing is there.
pub(crate) fn current(path: &Path) -> Result<Option<Vec<u8>>, NodeError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, "read", e)),
    }
}

/// Creates a new file holding `bytes`, mode 0600, synced; never through a link or over a file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
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

/// A write that failed: why, and whether the new content had already replaced the old (the
/// directory could not be synced after the rename), so the file holds the new bytes.
#[derive(Debug)]
pub(crate) struct WriteFailure {
    pub(crate) error: NodeError,
    pub(crate) replaced: bool,
}

impl From<NodeError> for WriteFailure {
    fn from(error: NodeError) -> WriteFailure {
        WriteFailure {
            error,
            replaced: false,
        }
    }
}

impl From<WriteFailure> for NodeError {
    fn from(f: WriteFailure) -> NodeError {
        f.error
    }
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
) -> Result<(), WriteFailure> {
    let dir = parent_of(path);
    let fail = |what: &str, e: io::Error| io_err(path, what, e);
    // Only regular files are replaced: a rename over a device, a pipe or a directory would
    // put a file in its place.
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.file_type().is_file() {
            return Err(NodeError::new(format!(
                "{}: not a regular file; kubeharden replaces regular files only",
                path.display()
            ))
            .into());
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
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
        if current(path)?.as_deref() != expected {
            return Err(NodeError::new(format!(
                "{}: the file changed while kubeharden was working on it; nothing was written to it",
                path.display()
            ))
            .into());
        }
    }
    tmp.persist(path).map_err(|e| fail("replace", e.error))?;
    sync_dir(dir).map_err(|error| WriteFailure {
        error,
        replaced: true,
    })
}

/// Removes the file at `path`, which must hold `expected`, and syncs its directory. A failure
/// says whether the file is gone.
pub(crate) fn remove_file(path: &Path, expected: &[u8]) -> Result<(), WriteFailure> {
    if current(path)?.as_deref() != Some(expected) {
        return Err(NodeError::new(format!(
            "{}: the file changed while kubeharden was working on it; it was not removed",
            path.display()
        ))
        .into());
    }
    fs::remove_file(path).map_err(|e| io_err(path, "remove", e))?;
    sync_dir(parent_of(path)).map_err(|error| WriteFailure {
        error,
        replaced: true,
    })
}
