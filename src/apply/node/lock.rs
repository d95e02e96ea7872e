//! The run lock: two runs of `fix` or `rollback` never edit the same node at once.

use super::files::{create_private_dirs, io_err};
use crate::model::report::NodeError;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where kubeharden keeps its state on a node (backups, the lock), below the root.
pub(crate) const STATE_DIR: &str = "/var/lib/kubeharden";

/// Held while a run may write. The lock is an advisory `flock` on a file in the state
/// directory; the kernel releases it when the process ends, however it ends.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
    path: PathBuf,
    /// This run made the lock file, and these directories for it (outermost first).
    made_file: bool,
    made_dirs: Vec<PathBuf>,
}

impl Lock {
    pub(crate) fn acquire(path: &Path) -> Result<Lock, NodeError> {
        let made_dirs = match path.parent() {
            Some(dir) => create_private_dirs(dir)?,
            None => Vec::new(),
        };
        // Never through a symbolic link: the lock file is written to.
        let existing = fs::symlink_metadata(path).ok();
        if existing.as_ref().is_some_and(|m| !m.file_type().is_file()) {
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
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
            made_file: existing.is_none(),
            made_dirs,
        })
    }

    /// Gives the lock up for a run that turned out not to belong here (its state directory
    /// is where it may not be): removes the lock file and the directories this run made for
    /// it, when they are empty.
    pub(crate) fn abandon(self) {
        if self.made_file {
            let _ = fs::remove_file(&self.path);
        }
        for d in self.made_dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}
