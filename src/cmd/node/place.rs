//! Where a run on a node works: the root, the static pod directory, the state directory
//! (lock, backups) and the backup directory, and the checks those pass before anything is
//! made there.

use crate::apply::node::{self, Lock};
use crate::cmd::args::{FixArgs, NodeArgs};
use crate::load::inputs::DEFAULT_MANIFESTS_DIR;
use crate::load::node::{is_dir, is_within, Root};
use crate::model::report::UsageError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the node is, and where kubeharden keeps what it needs.
pub(crate) struct Place {
    pub(crate) root: Root,
    pub(crate) root_given: bool,
    pub(crate) state: PathBuf,
    pub(crate) backups: PathBuf,
    pub(crate) pods: PathBuf,
}

/// The root, and whether `--root` gave it.
fn root_of(args: &NodeArgs) -> Result<(Root, bool), UsageError> {
    match &args.root {
        None => Ok((Root::system(), false)),
        Some(dir) => {
            if !is_dir(dir) {
                return Err(UsageError(format!(
                    "--root {}: not a directory",
                    dir.display()
                )));
            }
            let root = Root::new(dir).map_err(|e| UsageError(e.to_string()))?;
            Ok((root, true))
        }
    }
}

/// Where kubeharden keeps backups and its lock: the system location under the root (as root,
/// or with --root), else the user's own data directory.
fn state_dir(root: &Root, root_given: bool) -> Result<PathBuf, UsageError> {
    if root_given || rustix::process::geteuid().is_root() {
        return root
            .resolve(node::STATE_DIR)
            .map_err(|e| UsageError(e.to_string()));
    }
    directories::ProjectDirs::from("", "", "kubeharden")
        .map(|d| d.data_local_dir().to_path_buf())
        .ok_or_else(|| {
            UsageError(
                "no home directory to keep backups in; pass --backup-dir DIR (or run as root)"
                    .into(),
            )
        })
}

/// The state directory and the backup directory: `--backup-dir`, else `backups` in the state
/// directory (resolved under the root like every node path, so that no link leads out of it).
/// A user without a data directory who names `--backup-dir` keeps state there.
fn state_and_backups(
    root: &Root,
    root_given: bool,
    args: &NodeArgs,
) -> Result<(PathBuf, PathBuf), UsageError> {
    let state = match (state_dir(root, root_given), &args.backup_dir) {
        (Ok(s), _) => s,
        (Err(_), Some(b)) => b.clone(),
        (Err(e), None) => return Err(e),
    };
    let backups = match &args.backup_dir {
        Some(b) => b.clone(),
        None if root_given || rustix::process::geteuid().is_root() => root
            .resolve(&format!("{}/backups", node::STATE_DIR))
            .map_err(|e| UsageError(e.to_string()))?,
        None => state.join("backups"),
    };
    Ok((state, backups))
}

/// The lock: in the state directory, except for a user other than root who names the backup
/// directory (a user's home may hold no data directory), where it sits in that directory.
fn lock_path(state: &Path, args: &NodeArgs, root_given: bool) -> PathBuf {
    match &args.backup_dir {
        Some(b) if !root_given && !rustix::process::geteuid().is_root() => b.join(".lock"),
        _ => state.join("lock"),
    }
}

/// The node's static pod directory: `--manifests-dir` or the default, under `--root` when given.
fn manifests_dir(dir: Option<&Path>, root: &Root, root_given: bool) -> Result<PathBuf, UsageError> {
    match dir {
        Some(d) if !root_given => Ok(d.to_path_buf()),
        Some(d) => root.resolve(&d.to_string_lossy()),
        None => root.resolve(DEFAULT_MANIFESTS_DIR),
    }
    .map_err(|e| UsageError(e.to_string()))
}

impl Place {
    /// The place of a run: `--root`, the static pod directory (`--manifests-dir`, or the
    /// default under the root), the state and backup directories.
    pub(crate) fn of(args: &NodeArgs, manifests: Option<&Path>) -> Result<Place, UsageError> {
        let (root, root_given) = root_of(args)?;
        let pods = manifests_dir(manifests, &root, root_given)?;
        let (state, backups) = state_and_backups(&root, root_given, args)?;
        Ok(Place {
            root,
            root_given,
            state,
            backups,
            pods,
        })
    }

    /// Before anything is made there: the backup and state directories may not be inside the
    /// static pod directory, and nobody but root and the user running kubeharden may be able
    /// to change them (or the directories above them).
    pub(crate) fn guard(&self) -> Result<(), UsageError> {
        self.not_in_pod_dir(&self.pods)?;
        let top = |p: &Path| -> PathBuf {
            if self.root_given && p.starts_with(self.root.dir()) {
                self.root.dir().to_path_buf()
            } else {
                PathBuf::from("/")
            }
        };
        for (what, p) in [
            ("the backup directory", &self.backups),
            ("the state directory", &self.state),
        ] {
            node::trusted_dir(p, &top(p), what).map_err(|e| UsageError(e.to_string()))?;
        }
        Ok(())
    }

    /// The backup and state directories are not inside `pods`, a directory of static pod
    /// manifests.
    pub(crate) fn not_in_pod_dir(&self, pods: &Path) -> Result<(), UsageError> {
        for (what, p) in [
            ("--backup-dir", &self.backups),
            ("the state directory", &self.state),
        ] {
            if is_within(p, pods) {
                return Err(UsageError(format!(
                    "{what} {} is inside {}, a directory of static pod manifests: the kubelet runs every file there whose name does not start with a dot; keep backups elsewhere; nothing was written",
                    p.display(),
                    pods.display()
                )));
            }
        }
        Ok(())
    }

    /// The run lock, taken before any file of the node is read.
    pub(crate) fn lock(&self, args: &NodeArgs) -> Result<Lock, UsageError> {
        Lock::acquire(&lock_path(&self.state, args, self.root_given))
            .map_err(|e| UsageError(e.to_string()))
    }

    /// A path as the node names it (under the root), else as this machine does.
    pub(crate) fn host(&self, local: &Path) -> String {
        self.root
            .host_path(local)
            .unwrap_or_else(|| local.display().to_string())
    }

    /// Removes what interrupted runs left: temporary files in the directories kubeharden writes
    /// to (with `dirs`, those of this run's files) and backup sets they had not finished making;
    /// and says so.
    pub(crate) fn clean(&self, dirs: &[PathBuf], stderr: &mut dyn Write) {
        let dirs = node::written_dirs(&self.backups, &self.root, dirs);
        let (removed, failed) = node::remove_left_over(&dirs);
        for p in removed {
            let _ = writeln!(
                stderr,
                "kubeharden: removed {}, a temporary file an interrupted run left",
                self.host(&p)
            );
        }
        let (sets, unremoved) = node::remove_unfinished_sets(&self.backups);
        for p in sets {
            let _ = writeln!(
                stderr,
                "kubeharden: removed {}, a backup set an interrupted run left before it wrote anything",
                self.host(&p)
            );
        }
        for f in failed.into_iter().chain(unremoved) {
            let _ = writeln!(stderr, "kubeharden: warning: {f}");
        }
    }
}

/// The default input directory for `fix --output`, which also honours `--root` and
/// `--manifests-dir`.
pub(crate) fn fix_default_dir(args: &FixArgs) -> Result<PathBuf, UsageError> {
    let (root, given) = root_of(&args.node)?;
    manifests_dir(args.manifests_dir.as_deref(), &root, given)
}

/// A word for a POSIX shell: as it is when that is safe, else in single quotes.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `rollback` command line that undoes backup set `id`.
pub(crate) fn rollback_command(id: &str, args: &NodeArgs) -> String {
    let mut cmd = format!("kubeharden rollback {}", shell_quote(id));
    if let Some(r) = &args.root {
        cmd.push_str(&format!(
            " --root {}",
            shell_quote(&r.display().to_string())
        ));
    }
    if let Some(b) = &args.backup_dir {
        cmd.push_str(&format!(
            " --backup-dir {}",
            shell_quote(&b.display().to_string())
        ));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("/tmp/node"), "/tmp/node");
        assert_eq!(shell_quote("/tmp/sp ace"), "'/tmp/sp ace'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
