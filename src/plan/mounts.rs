//! Files the plan makes visible in the container: hostPath volumes and mounts for the files
//! new flag values name, and the files the node must have.

use super::error::PlanError;
use crate::model::change::RequiredFile;
use crate::model::{host_path, Model, Mount, Volume};
use crate::paths::{clean_path, container_provided, parent_dir};
use crate::profile::Profile;

/// Makes `path` visible in the container with a hostPath volume for its directory, unless a
/// mount already covers it. Returns the new volume's name.
pub(super) fn ensure_mount(
    work: &mut Model,
    flag: &str,
    path: &str,
    writable: bool,
) -> Result<Option<String>, PlanError> {
    if container_provided(path) {
        return Ok(None);
    }
    if !clean_path(path) {
        return Err(PlanError::BadPath {
            flag: flag.to_string(),
            path: path.to_string(),
        });
    }
    let covered = work
        .mount_covering(path)
        .is_some_and(|m| !writable || !m.read_only);
    if covered {
        return Ok(None);
    }
    let dir = parent_dir(path);
    if dir == "/" {
        return Err(PlanError::BadPath {
            flag: flag.to_string(),
            path: path.to_string(),
        });
    }
    if let Some(m) = work
        .mounts
        .iter()
        .find(|m| m.mount_path.trim_end_matches('/') == dir)
    {
        let host = work
            .volumes
            .iter()
            .any(|v| v.name == m.name && v.host_path.is_some());
        return Err(PlanError::MountConflict {
            flag: flag.to_string(),
            path: path.to_string(),
            dir,
            need: if writable { "writable" } else { "read-only" },
            what: if host && m.read_only && writable {
                "a read-only hostPath volume, which the audit log cannot be written to,"
            } else {
                "a volume that is not a hostPath"
            },
        });
    }
    let name = volume_name(&dir, &work.volumes);
    work.volumes.push(Volume {
        name: name.clone(),
        host_path: Some(dir.clone()),
        path_type: Some("DirectoryOrCreate".to_string()),
    });
    work.mounts.push(Mount {
        name: name.clone(),
        mount_path: dir,
        read_only: !writable,
        sub_path: None,
    });
    Ok(Some(name))
}

/// A DNS-1123 label for a volume that mounts `dir`, unique among `taken`.
fn volume_name(dir: &str, taken: &[Volume]) -> String {
    let mut base: String = dir
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let base = base.trim_matches('-');
    let base: String = if base.is_empty() {
        "host".to_string()
    } else {
        base.chars().take(55).collect()
    };
    // The names that could be taken, in a set: a pod of thousands of volumes named
    // `base`, `base-2`, `base-3` ... takes no time to the square of that.
    let taken: std::collections::HashSet<&str> = taken
        .iter()
        .map(|v| v.name.as_str())
        .filter(|v| v.starts_with(base.as_str()))
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(name.as_str()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// What the node must have for a flag naming `path` inside the container: the file, or for a
/// log the directory, at its path on the node (a mount may show a host directory under another
/// name), with the profile's template for it.
pub(super) fn required_file(
    profile: &Profile,
    work: &Model,
    flag: &str,
    path: &str,
    writable: bool,
) -> RequiredFile {
    let on_host = host_path(work, path);
    let support = profile.support_file(flag);
    RequiredFile {
        flag: flag.to_string(),
        path: if writable {
            parent_dir(&on_host)
        } else {
            on_host
        },
        directory: writable,
        template: support.map(|s| s.template.clone()),
        description: support.map(|s| s.description.clone()),
    }
}
