//! Files the plan makes visible in the container: hostPath volumes and mounts for the files
//! new flag values name, and the files the node must have.

use super::{PlanError, Planner};
use crate::model::change::{Change, Planned, RequiredFile};
use crate::model::{host_path, Model, Mount, Volume};
use crate::paths::{clean_path, container_provided, parent_dir};
use crate::profile::{FlagType, Profile};

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
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|v| v.name == name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// What the node must have for a flag naming `path` inside the container: the file, or for a
/// log the directory, at its path on the node (a mount may show a host directory under another
/// name), with the profile's template for it.
fn required_file(
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

/// The files the new flag values name, made visible inside the container (the volumes they
/// need are added to the working model), and the files of existing flags that fix steps
/// mounted: what the node must have, each once.
pub(super) fn required_files(
    profile: &Profile,
    model: &Model,
    p: &mut Planner,
    changes: &[Planned],
) -> Result<Vec<RequiredFile>, PlanError> {
    let env = p.env;
    // Files the new flag values name: make them visible inside the container.
    let mut required = Vec::new();
    for c in changes {
        let Change::SetFlag { flag, value } = &c.change else {
            continue;
        };
        let Some(spec) = env.registry.flag(&p.work.component, flag) else {
            continue;
        };
        if !spec.kind.references_file() {
            continue;
        }
        let writable = spec.kind == FlagType::Logpath;
        // Only a new value can name a file the node lacks (a deduplicated flag keeps the value
        // the component already uses); standard output and /dev paths need nothing.
        if (writable && value == "-")
            || container_provided(value)
            || model.value(flag).as_deref() == Some(value.as_str())
        {
            continue;
        }
        if let Some(name) = ensure_mount(&mut p.work, flag, value, writable)? {
            p.volume_rules
                .entry(name)
                .or_default()
                .extend(c.rules.iter().cloned());
        }
        required.push(required_file(profile, &p.work, flag, value, writable));
    }
    for (flag, path) in &p.mounted_files {
        let writable = env
            .registry
            .flag(&p.work.component, flag)
            .is_some_and(|s| s.kind == FlagType::Logpath);
        required.push(required_file(profile, &p.work, flag, path, writable));
    }
    // A file can be both newly named and newly mounted: list it once.
    let mut seen_required: Vec<(String, String)> = Vec::new();
    required.retain(|r: &RequiredFile| {
        let key = (r.flag.clone(), r.path.clone());
        if seen_required.contains(&key) {
            false
        } else {
            seen_required.push(key);
            true
        }
    });
    Ok(required)
}

/// The volumes the working model has that the original lacks, with their mounts.
pub(super) fn new_volumes(model: &Model, p: &Planner) -> Vec<Planned> {
    let mut volumes = Vec::new();
    for v in &p.work.volumes {
        if model.volumes.iter().any(|o| o.name == v.name) {
            continue;
        }
        let Some(mount) = p.work.mounts.iter().find(|m| m.name == v.name) else {
            continue;
        };
        volumes.push(Planned {
            change: Change::AddVolume {
                volume: v.clone(),
                mount: mount.clone(),
            },
            rules: p.volume_rules.get(&v.name).cloned().unwrap_or_default(),
            before: None,
        });
    }
    volumes
}
