//! The node as kubeharden finds it: host paths resolved under `--root` the way the node would
//! resolve them, real paths through symbolic links, and what is at a path.

use crate::model::report::NodeError;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

fn io_err(path: &Path, what: &str, e: io::Error) -> NodeError {
    NodeError::new(format!("{}: cannot {what}: {e}", path.display()))
}

/// The directory host paths are resolved under: `/` on a node, or `--root DIR` for a node
/// image prepared offline (and for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    /// The root directory, with symbolic links resolved: paths recorded under it must not
    /// depend on the link it was reached through.
    pub fn new(dir: &Path) -> Result<Root, NodeError> {
        let real = fs::canonicalize(dir)
            .map_err(|e| NodeError::new(format!("--root {}: {e}", dir.display())))?;
        Ok(Root(real))
    }

    pub(crate) fn system() -> Root {
        Root(PathBuf::from("/"))
    }

    pub(crate) fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.0
    }

    /// The path on this machine of the node path `host` (absolute, as the node sees it).
    ///
    /// Under a root other than `/`, symbolic links are followed the way the node would follow
    /// them: an absolute target starts again at the root, and `..` never climbs above it (as
    /// `openat2(RESOLVE_IN_ROOT)` does). A link inside a node image therefore never leads to
    /// this machine's own files. The part of the path that does not exist is kept as written.
    /// More than 40 links (a loop) is an error, as it is for the kernel: the path is never
    /// handed on half-resolved.
    pub fn resolve(&self, host: &str) -> Result<PathBuf, NodeError> {
        if self.is_system() {
            return Ok(normalize(Path::new(&format!(
                "/{}",
                host.trim_start_matches('/')
            ))));
        }
        // Components still to walk, last first.
        let mut todo: Vec<std::ffi::OsString> = Path::new(host)
            .components()
            .rev()
            .filter_map(|c| match c {
                Component::Normal(x) => Some(x.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect();
        let mut cur = self.0.clone();
        let mut links = 0;
        let mut missing = false;
        while let Some(c) = todo.pop() {
            if c == ".." {
                if cur != self.0 {
                    cur.pop();
                }
                continue;
            }
            let next = cur.join(&c);
            if missing {
                cur = next;
                continue;
            }
            match fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > 40 {
                        return Err(NodeError::new(format!(
                            "{host} under --root {}: too many levels of symbolic links",
                            self.0.display()
                        )));
                    }
                    let target =
                        fs::read_link(&next).map_err(|e| io_err(&next, "read the link", e))?;
                    if target.is_absolute() {
                        cur = self.0.clone();
                    }
                    for t in target.components().rev() {
                        match t {
                            Component::Normal(x) => todo.push(x.to_os_string()),
                            Component::ParentDir => todo.push("..".into()),
                            _ => {}
                        }
                    }
                }
                Ok(_) => cur = next,
                Err(_) => {
                    missing = true;
                    cur = next;
                }
            }
        }
        Ok(cur)
    }

    /// The node path of a path on this machine, when it lies under the root.
    pub(crate) fn host_path(&self, local: &Path) -> Option<String> {
        let rel = local.strip_prefix(&self.0).ok()?;
        Some(format!("/{}", rel.display()))
    }
}

/// `.` and `..` resolved lexically; the path must be absolute.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(x) => out.push(x),
            _ => {}
        }
    }
    out
}

/// The path with symbolic links resolved as far as it exists (by the kernel, so `..` after a
/// link goes where the kernel goes), the rest appended lexically.
pub(crate) fn real_path(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return normalize(&out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return normalize(&abs),
        }
    }
}

/// `path` is `dir` or below it (both resolved through symbolic links).
pub(crate) fn is_within(path: &Path, dir: &Path) -> bool {
    real_path(path).starts_with(real_path(dir))
}

/// What is at a path on this machine.
pub(crate) enum Entry {
    Directory,
    /// A regular file.
    File,
    /// Something else (a device, a socket).
    Other,
    Missing,
    Unreadable(io::Error),
}

/// What is at `path` (symbolic links followed).
pub(crate) fn entry(path: &Path) -> Entry {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Entry::Directory,
        Ok(m) if m.is_file() => Entry::File,
        Ok(_) => Entry::Other,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Entry::Missing,
        Err(e) => Entry::Unreadable(e),
    }
}

/// `path` is a symbolic link to something that does not exist.
pub(crate) fn is_dangling_link(path: &Path, target: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && fs::metadata(target).is_err()
}

/// The bytes of a file, if it can be read.
pub(crate) fn bytes(path: &Path) -> Option<Vec<u8>> {
    fs::read(path).ok()
}

/// `path` exists.
pub(crate) fn exists(path: &Path) -> bool {
    path.exists()
}

/// `path` is a directory (symbolic links followed).
pub(crate) fn is_dir(path: &Path) -> bool {
    path.is_dir()
}

/// `path` with symbolic links resolved, when it exists.
pub(crate) fn canonical(path: &Path) -> Option<PathBuf> {
    fs::canonicalize(path).ok()
}

/// Where the kubelet keeps container logs: `<namespace>_<pod>_<pod uid>/<container>/<restart
/// count>.log` below it (`DefaultPodLogsDir`, pkg/kubelet/apis/config/v1beta1/defaults.go;
/// `BuildContainerLogsDirectory` and `buildContainerLogsPath`,
/// pkg/kubelet/kuberuntime/helpers.go).
pub(crate) const POD_LOGS_DIR: &str = "/var/log/pods";

/// For each pod log directory of a static pod of `component` in kube-system (its pod is named
/// `<component>-<node>`), the highest restart count of the container `component` logs tell of;
/// `None` when the node keeps no pod logs there. A static pod's UID is a hash of its manifest
/// (`applyDefaults`, pkg/kubelet/config/common.go), so a changed manifest starts a new
/// directory, whose restart count says whether the new container crashed.
pub(crate) fn container_restarts(root: &Root, component: &str) -> Option<BTreeMap<String, u32>> {
    let dir = root.resolve(POD_LOGS_DIR).ok()?;
    let prefix = format!("kube-system_{component}-");
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with(&prefix) {
            continue;
        }
        let restarts = fs::read_dir(e.path().join(component))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|f| {
                let n = f.file_name().to_string_lossy().to_string();
                n.split_once('.')
                    .filter(|(_, ext)| ext.starts_with("log"))
                    .and_then(|(count, _)| count.parse::<u32>().ok())
            })
            .max()
            .unwrap_or(0);
        out.insert(name, restarts);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_under_root() {
        let r = Root(PathBuf::from("/tmp/x"));
        assert_eq!(
            r.resolve("/etc/kubernetes/manifests").expect("resolves"),
            PathBuf::from("/tmp/x/etc/kubernetes/manifests")
        );
        assert_eq!(
            r.host_path(Path::new("/tmp/x/etc/a")).as_deref(),
            Some("/etc/a")
        );
        assert_eq!(r.host_path(Path::new("/etc/a")), None);
        assert_eq!(
            Root::system().resolve("/etc/a").expect("resolves"),
            PathBuf::from("/etc/a")
        );
    }
}
