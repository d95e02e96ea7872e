//! What kubeharden trusts before it writes: directories nobody else can change, and under
//! `--root`, paths that no symbolic link leads out of.

use super::files::io_err;
use crate::load::node::Root;
use crate::model::report::NodeError;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

/// The user running kubeharden.
fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Only the user running kubeharden (or root) may have made what a rollback trusts, and nobody
/// else may be able to change it: a backup set decides which bytes, modes and owners land on
/// the node.
pub(crate) fn trusted(path: &Path) -> Result<fs::Metadata, NodeError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, "inspect", e))?;
    if meta.file_type().is_symlink() {
        return Err(NodeError::new(format!(
            "{}: a symbolic link inside a backup set; kubeharden does not trust this set",
            path.display()
        )));
    }
    if (meta.uid() != me() && meta.uid() != 0) || meta.mode() & 0o022 != 0 {
        return Err(NodeError::new(format!(
            "{}: owned by uid {} with mode {:o}; kubeharden trusts only backups that it made for this user or root and that nobody else can change",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(meta)
}

/// The directory kubeharden keeps backups (or its lock) in, and every directory above it up
/// to `top`, as far as they exist: each must belong to root or to the user running kubeharden,
/// and nobody else may write to it (a directory above may when its sticky bit keeps others
/// from renaming what is not theirs, as `/tmp`'s does). Whoever can change the backup
/// location decides what a rollback writes to the node; ssh and sudo refuse their own files
/// for the same reason.
pub(crate) fn trusted_dir(dir: &Path, top: &Path, what: &str) -> Result<(), NodeError> {
    let mut cur = Some(dir);
    let mut first = true;
    while let Some(d) = cur {
        match fs::metadata(d) {
            Ok(meta) => {
                let others_write = meta.mode() & 0o022 != 0;
                let sticky = meta.mode() & 0o1000 != 0;
                let owner_ok = meta.uid() == me() || meta.uid() == 0;
                if !owner_ok || (others_write && (first || !sticky)) {
                    let which = if first {
                        String::new()
                    } else {
                        format!(" (above {})", dir.display())
                    };
                    return Err(NodeError::new(format!(
                        "{what} {}{which}: owned by uid {} with mode {:04o}; kubeharden keeps backups only where nobody but root and the user running it (uid {}) can change them: fix the owner or the mode, or choose another --backup-dir; nothing was written",
                        d.display(),
                        meta.uid(),
                        meta.mode() & 0o7777,
                        me()
                    )));
                }
                first = false;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(d, "inspect", e)),
        }
        if d == top {
            break;
        }
        cur = d.parent();
    }
    Ok(())
}

/// Under `--root`, no part of `path` below the root may be a symbolic link: kubeharden resolved
/// the links of every node path the way the node would (inside the root), so a link found now
/// appeared since, and the kernel would follow it out of the root. Paths outside the root (files
/// named on the command line) are used as given.
pub(crate) fn no_link_below(root: &Root, path: &Path) -> Result<(), NodeError> {
    if root.is_system() {
        return Ok(());
    }
    let Ok(rel) = path.strip_prefix(root.dir()) else {
        return Ok(());
    };
    let mut cur = root.dir().to_path_buf();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(NodeError::new(format!(
                "{}: not a plain path under --root {}; nothing was written",
                path.display(),
                root.dir().display()
            )));
        };
        cur.push(name);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(NodeError::new(format!(
                    "{}: {} is a symbolic link, which would lead out of --root {}; nothing was written",
                    path.display(),
                    cur.display(),
                    root.dir().display()
                )));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}
