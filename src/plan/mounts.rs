//! Files the plan makes visible in the container: hostPath volumes and mounts for the files
//! new flag values name, and the files the node must have.

use super::error::PlanError;
use crate::model::change::RequiredFile;
use crate::model::{host_path_with, Model, Mount, MountIndex, Volume};
use crate::paths::{clean_path, container_provided, parent_dir};
use crate::profile::Profile;

/// Makes `path` visible in the container with a hostPath volume for its directory, unless a
/// mount already covers it. Returns the new volume's name. `index`, when the caller keeps one,
/// holds the mounts and volumes of `work`, and is given the ones added.
pub(super) fn ensure_mount(
    work: &mut Model,
    index: Option<&mut MountIndex>,
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
        .mount_covering_with(index.as_deref(), path)
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
    let mounted = match index.as_deref() {
        Some(i) => i.mount_of(work, &dir),
        None => work
            .mounts
            .iter()
            .find(|m| m.mount_path.trim_end_matches('/') == dir),
    };
    if let Some(m) = mounted {
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
    let name = volume_name(&dir, &work.volumes, index.as_deref());
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
    if let Some(i) = index {
        i.add(work);
    }
    Ok(Some(name))
}

/// A DNS-1123 label for a volume that mounts `dir`, unique among `taken`, whose names `index`
/// holds when there is one.
fn volume_name(dir: &str, taken: &[Volume], index: Option<&MountIndex>) -> String {
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
    // `base`, `base-2`, `base-3` ... takes no time to the square of that. The index has them
    // all (thousands of volumes added one by one, each named among all the others).
    let near: std::collections::HashSet<&str> = match index {
        Some(_) => Default::default(),
        None => taken
            .iter()
            .map(|v| v.name.as_str())
            .filter(|v| v.starts_with(base.as_str()))
            .collect(),
    };
    let is_taken = |name: &str| match index {
        Some(i) => i.has_volume(name),
        None => near.contains(name),
    };
    let mut name = base.clone();
    let mut n = 2;
    while is_taken(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// What the node must have for a flag naming `path` inside the container: the file, or for a
/// log the directory, at its path on the node (a mount may show a host directory under another
/// name, found through `index` when the caller has one), with the profile's template for it.
pub(super) fn required_file(
    profile: &Profile,
    work: &Model,
    index: Option<&MountIndex>,
    flag: &str,
    path: &str,
    writable: bool,
) -> RequiredFile {
    let on_host = host_path_with(work, index, path);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Files made visible one after another, in a pod that mounts some of their directories
    /// (read-only or not, with and without a trailing `/`, some through volumes that are no
    /// hostPath or not there) and has volumes named as the new ones would be: with the mounts
    /// looked up in an index given each new one, every call gives what it gives scanning
    /// them (the same volume name, or the same refusal), the files are found at the same
    /// places on the node, and the pods end the same. Fails when the index is not given the
    /// mounts added, names a volume without its volumes, or gives the last mount of a
    /// directory where the scan gives the first.
    #[test]
    fn an_indexed_pod_is_given_the_mounts_a_scanned_one_is() {
        let dirs = [
            "/etc/k",
            "/etc/k/pki",
            "/var/log/a",
            "/srv/d1",
            "/srv/d2",
            "/srv",
            "/",
        ];
        let mut next = crate::testing::seeded();
        let (mut added, mut refused) = (0, 0);
        for _ in 0..400 {
            let mut scanned = Model::default();
            for i in 0..next(6) {
                let dir = dirs[next(dirs.len())];
                // Some named as a mount the files below would be given.
                let below = format!(
                    "{}/f{}",
                    dirs[next(dirs.len())].trim_end_matches('/'),
                    next(3)
                );
                let name = match next(3) {
                    0 => volume_name(&below, &[], None),
                    _ => format!("m{i}"),
                };
                scanned.mounts.push(Mount {
                    name: name.clone(),
                    mount_path: [dir, ["", "/"][next(2)]].concat(),
                    read_only: next(2) == 0,
                    sub_path: None,
                });
                if next(4) != 0 {
                    scanned.volumes.push(Volume {
                        name,
                        host_path: (next(4) != 0).then(|| dir.to_string()),
                        path_type: None,
                    });
                }
            }
            let mut indexed = scanned.clone();
            let mut index = MountIndex::new(&indexed);
            for _ in 0..next(30) {
                let dir = dirs[next(dirs.len())];
                // In one of the directories, or in one below it.
                let path = match next(2) {
                    0 => format!("{}/x{}", dir.trim_end_matches('/'), next(2)),
                    _ => format!("{}/f{}/x{}", dir.trim_end_matches('/'), next(3), next(2)),
                };
                let writable = next(3) == 0;
                let want = ensure_mount(&mut scanned, None, "f", &path, writable);
                let got = ensure_mount(&mut indexed, Some(&mut index), "f", &path, writable);
                assert_eq!(got, want, "{path}");
                added += usize::from(matches!(want, Ok(Some(_))));
                refused += usize::from(want.is_err());
                let on_node = host_path_with(&scanned, None, &path);
                assert_eq!(host_path_with(&indexed, Some(&index), &path), on_node);
            }
            assert_eq!(indexed, scanned);
        }
        assert!(added > 1_000 && refused > 100, "{added} {refused}");
    }
}
