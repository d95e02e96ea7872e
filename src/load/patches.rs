//! kubeadm's patches for a kubeadm configuration file that names a patches directory: the files
//! kubeadm would apply to kube-apiserver's manifest, read so that the file is judged with them
//! (`crate::document::kubeadm::patch`).

use super::read::read_input;
use crate::document::kubeadm::patch::targets_apiserver;
use std::path::{Path, PathBuf};

/// The kube-apiserver patches of `dir` (kubeadm's `patches.directory` in the file `config`),
/// sorted by name as kubeadm applies them. The directory is read as kubeadm reads it (a relative
/// one from the configuration's directory); when it is not on this machine, the patches beside
/// the configuration are read, which is where `generate kubeadm` and `diff` put them.
pub(crate) fn kube_apiserver(config: &str, dir: &str) -> Result<Vec<(String, String)>, String> {
    let beside = Path::new(config)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let named = beside.join(dir);
    let mut looked = Vec::new();
    for candidate in [named.as_path(), beside] {
        if !candidate.is_dir() {
            looked.push(candidate.display().to_string());
            continue;
        }
        let files = apiserver_files(candidate)
            .map_err(|e| format!("cannot read the directory {}: {e}", candidate.display()))?;
        if files.is_empty() {
            looked.push(candidate.display().to_string());
            continue;
        }
        return files
            .iter()
            .map(|f| {
                read_input(f)
                    .map(|text| (f.display().to_string(), text))
                    .map_err(|e| format!("{}: {}", e.path, e.message))
            })
            .collect();
    }
    Err(format!(
        "no kube-apiserver patch in {}",
        looked.join(" or ")
    ))
}

/// The files of `dir` kubeadm applies to kube-apiserver, by name.
fn apiserver_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        if name.to_str().is_some_and(targets_apiserver) && e.path().is_file() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}
