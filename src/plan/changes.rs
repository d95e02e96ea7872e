//! The planned changes: what differs between the model and the working model, as symbolic
//! changes with the rules that asked for them.

use super::error::PlanError;
use super::meaning::meaning_of;
use super::mounts::{ensure_mount, required_file};
use super::planner::Planner;
use crate::model::change::{Change, Planned, RequiredFile};
use crate::model::{Model, Mount, MOUNTS_SCANNED};
use crate::paths::container_provided;
use crate::profile::{FlagType, Profile};
use std::collections::{HashMap, HashSet};

/// The flags set or removed, the `--flag value` pairs joined, and the probes turned into TCP
/// probes. The rules that asked for each are taken out of the planner (the changes are all
/// that is made of them), not copied.
pub(super) fn changes(model: &Model, p: &mut Planner) -> Vec<Planned> {
    let (env, work) = (p.env, &p.work);
    let touched = std::mem::take(&mut p.touched);
    let mut joins = Vec::new();
    for (flag, rules) in std::mem::take(&mut p.join_rules) {
        // A flag that is set or removed anyway is rewritten by that change.
        if touched.contains_key(&flag) && meaning_of(model, &flag) != meaning_of(work, &flag) {
            continue;
        }
        joins.push(Planned {
            before: model.shown_values(env.registry, &flag),
            change: Change::JoinFlag { flag },
            rules,
        });
    }
    let mut changes = Vec::new();
    for (flag, rules) in touched {
        // A setting held in the environment is compared there.
        let key = if model.from_env(&flag) {
            format!("${flag}")
        } else {
            flag.clone()
        };
        let b = meaning_of(model, &key);
        let a = meaning_of(work, &key);
        if b == a {
            continue;
        }
        let shown_before = model.shown_values(env.registry, &flag);
        let change = match a {
            None => Change::RemoveFlag { flag },
            Some(occ) => Change::SetFlag {
                value: occ
                    .last()
                    .copied()
                    .flatten()
                    .unwrap_or_default()
                    .to_string(),
                flag,
            },
        };
        changes.push(Planned {
            change,
            rules,
            before: shown_before,
        });
    }
    changes.extend(joins);
    for (p_before, p_after) in model.probes.iter().zip(work.probes.iter()) {
        if p_before != p_after {
            changes.push(Planned {
                change: Change::ProbeToTcp {
                    probe: p_before.kind.clone(),
                },
                rules: p.probe_rules.clone(),
                before: None,
            });
        }
    }

    changes
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
        if let Some(name) = ensure_mount(&mut p.work, None, flag, value, writable)? {
            p.volume_rules
                .entry(name)
                .or_default()
                .extend(c.rules.iter().cloned());
        }
        required.push(required_file(profile, &p.work, None, flag, value, writable));
    }
    // Each file the fix steps mounted is placed on the node through the mounts: many of them
    // are looked up in an index of the mounts.
    let index = p.work.mount_index();
    for (flag, path) in &p.mounted_files {
        let writable = env
            .registry
            .flag(&p.work.component, flag)
            .is_some_and(|s| s.kind == FlagType::Logpath);
        let index = index.as_ref();
        required.push(required_file(profile, &p.work, index, flag, path, writable));
    }
    // A file can be both newly named and newly mounted: list it once (the ones seen are told
    // apart in a set when there are many, else by a scan).
    let many = required.len() > MOUNTS_SCANNED;
    let (mut seen_few, mut seen_many) = (Vec::new(), HashSet::new());
    required.retain(|r: &RequiredFile| {
        let key = (r.flag.clone(), r.path.clone());
        if many {
            seen_many.insert(key)
        } else if seen_few.contains(&key) {
            false
        } else {
            seen_few.push(key);
            true
        }
    });
    Ok(required)
}

/// The volumes the working model has that the original lacks, with their mounts.
pub(super) fn new_volumes(model: &Model, p: &Planner) -> Vec<Planned> {
    let mut volumes = Vec::new();
    // A set of the names: a pod of tens of thousands of volumes takes no time to the square
    // of that.
    let had: HashSet<&str> = model.volumes.iter().map(|o| o.name.as_str()).collect();
    // The first mount of each volume, found in a map when there are many new volumes and many
    // mounts to look for their mounts among.
    let new = p.work.volumes.len().saturating_sub(model.volumes.len());
    let mut first_mount: HashMap<&str, &Mount> = HashMap::new();
    if new > 1 && new * p.work.mounts.len() > MOUNTS_SCANNED * MOUNTS_SCANNED {
        for m in p.work.mounts.iter().rev() {
            first_mount.insert(&m.name, m);
        }
    }
    for v in &p.work.volumes {
        if had.contains(v.name.as_str()) {
            continue;
        }
        let mount = if first_mount.is_empty() {
            p.work.mounts.iter().find(|m| m.name == v.name)
        } else {
            first_mount.get(v.name.as_str()).copied()
        };
        let Some(mount) = mount else {
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
