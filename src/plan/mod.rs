//! Planning: findings become symbolic changes to the model. Conflicts between rules and fixes
//! that do not satisfy their own rule are found here, before any text is touched.

use crate::check::{self, Env};
use crate::model::change::{Change, Planned, RequiredFile};
use crate::model::host_path;
use crate::model::{Flag, Handler, Model, Mount, Volume};
use crate::paths::{clean_path, container_provided, parent_dir};
use crate::profile::{FlagType, Profile, Rule, Step};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub changes: Vec<Planned>,
    pub required_files: Vec<RequiredFile>,
    /// The model after the plan.
    pub after: Model,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "rule {rule}: its fix would write --{flag}, which Kubernetes {version} does not accept"
    )]
    RejectedFlag {
        rule: String,
        flag: String,
        version: String,
    },
    #[error("rule {rule}: rewriting --{flag} would keep {plugin}, which Kubernetes {version} does not have; remove it first (the strict profile does) or give the right --kubernetes-version")]
    RejectedPlugin {
        rule: String,
        flag: String,
        plugin: String,
        version: String,
    },
    #[error(
        "rule {rule}: --{flag} would get `{value}`, which Kubernetes {version} does not accept"
    )]
    RejectedValue {
        rule: String,
        flag: String,
        value: String,
        version: String,
    },
    #[error("rule {rule}: its fix does not satisfy the rule ({detail})")]
    Unsatisfied { rule: String, detail: String },
    #[error("rules {rules} keep undoing each other's changes; disable one of them in a profile")]
    Conflict { rules: String },
    #[error("rule {rule}: --{flag} cannot be combined with --{other}, which the manifest sets; the component would refuse to start")]
    Exclusive {
        rule: String,
        flag: String,
        other: String,
    },
    #[error("--{flag}: {path} needs a {need} hostPath mount at {dir}, but the container already mounts {what} there")]
    MountConflict {
        flag: String,
        path: String,
        dir: String,
        need: &'static str,
        what: &'static str,
    },
    #[error("--{flag}={path}: kubeharden only mounts absolute paths without `.`, `..` or a trailing `/`, below a directory other than `/`")]
    BadPath { flag: String, path: String },
}

/// Applies one fix step to the working model. Returns the flags it touched.
fn apply_step(
    step: &Step,
    work: &mut Model,
    env: Env,
    rule: &str,
    volumes: &mut Vec<(String, String, String)>,
    joined: &mut Vec<String>,
) -> Result<Vec<String>, PlanError> {
    let emit_ok = |flag: &str| -> Result<(), PlanError> {
        match env.registry.flag(&work.component, flag) {
            Some(spec) if spec.accepted_in(env.version) => Ok(()),
            _ => Err(PlanError::RejectedFlag {
                rule: rule.to_string(),
                flag: flag.to_string(),
                version: env.version.to_string(),
            }),
        }
    };
    match step {
        Step::Set { flag, value } => {
            emit_ok(flag)?;
            set_flag(work, flag, value);
            Ok(vec![flag.clone()])
        }
        Step::SetFrom { flag, from } => {
            let Some(value) = work.value(from) else {
                return Err(PlanError::Unsatisfied {
                    rule: rule.to_string(),
                    detail: format!("--{from} is not set, so --{flag} cannot take its value"),
                });
            };
            emit_ok(flag)?;
            set_flag(work, flag, &value);
            Ok(vec![flag.clone()])
        }
        Step::JoinSplit => {
            let names = std::mem::take(&mut work.split_flags);
            *joined = names.clone();
            Ok(vec![])
        }
        Step::MountFiles => {
            // Shallow directories first, so that one mount covers the files below it.
            let mut files = check::unmounted_files(work, env);
            files.sort_by_key(|(_, p)| p.matches('/').count());
            for (flag, path) in files {
                let writable = env
                    .registry
                    .flag(&work.component, &flag)
                    .is_some_and(|s| s.kind == FlagType::Logpath);
                if let Some(name) = ensure_mount(work, &flag, &path, writable)? {
                    volumes.push((name, flag.clone(), path.clone()));
                }
            }
            Ok(vec![])
        }
        Step::Remove { flag } => {
            work.flags.retain(|f| &f.name != flag);
            work.env.retain(|f| &f.name != flag);
            work.split_flags.retain(|n| n != flag);
            Ok(vec![flag.clone()])
        }
        Step::AddToList { flag, items } => {
            let mut list = work.list(flag).unwrap_or_default();
            let mut changed = false;
            for item in items {
                // Never write an admission plugin the version does not have.
                if env.registry.names_plugins(&work.component, flag) {
                    match env.registry.admission_plugins.get(item) {
                        Some(l) if l.accepted_in(env.version) => {}
                        _ => continue,
                    }
                }
                if !list.contains(item) {
                    list.push(item.clone());
                    changed = true;
                }
            }
            let before = list.len();
            dedup(&mut list);
            if list.len() != before {
                changed = true;
            }
            if changed {
                emit_ok(flag)?;
                set_flag(work, flag, &list.join(","));
                Ok(vec![flag.clone()])
            } else {
                Ok(vec![])
            }
        }
        Step::RemoveFromList { flag, items } => remove_items(work, flag, items),
        Step::RemoveKeys { flag, keys } => {
            let Some(list) = work.list(flag) else {
                return Ok(vec![]);
            };
            let doomed: Vec<String> = list
                .into_iter()
                .filter(|kv| {
                    let k = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
                    keys.iter().any(|x| x == k.trim())
                })
                .collect();
            remove_items(work, flag, &doomed)
        }
        Step::Probes(_) => {
            // Probes that already authenticate keep working without anonymous access.
            for p in &mut work.probes {
                if matches!(
                    p.handler,
                    Handler::HttpGet {
                        authenticated: false,
                        ..
                    }
                ) {
                    p.handler = Handler::TcpSocket;
                }
            }
            Ok(vec![])
        }
        Step::Dedupe => {
            let names = check::duplicated_flags(work, env);
            for name in &names {
                let is_list = env
                    .registry
                    .flag(&work.component, name)
                    .is_some_and(|s| s.kind == FlagType::List);
                let value = if is_list {
                    work.list(name).map(|mut l| {
                        dedup(&mut l);
                        l.join(",")
                    })
                } else {
                    work.value(name)
                };
                if let Some(v) = value {
                    set_flag(work, name, &v);
                }
            }
            Ok(names)
        }
        Step::RemoveRemoved => {
            let mut touched = Vec::new();
            for flag in check::rejected_flags(work, env) {
                work.flags.retain(|f| f.name != flag);
                touched.push(flag);
            }
            let mut by_flag: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (flag, plugin) in check::rejected_plugins(work, env) {
                by_flag.entry(flag).or_default().push(plugin);
            }
            for (flag, plugins) in by_flag {
                touched.extend(remove_items(work, &flag, &plugins)?);
            }
            let mut gates: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (flag, gate) in check::rejected_gates(work, env) {
                gates.entry(flag).or_default().push(gate);
            }
            for (flag, keys) in gates {
                let doomed: Vec<String> = work
                    .list(&flag)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|kv| {
                        let k = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
                        keys.iter().any(|x| x == k.trim())
                    })
                    .collect();
                touched.extend(remove_items(work, &flag, &doomed)?);
            }
            Ok(touched)
        }
    }
}

/// Drops repeated items, keeping the first of each.
fn dedup(list: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::with_capacity(list.len());
    list.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
}

/// Makes `path` visible in the container with a hostPath volume for its directory, unless a
/// mount already covers it. Returns the new volume's name.
fn ensure_mount(
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

fn remove_items(work: &mut Model, flag: &str, items: &[String]) -> Result<Vec<String>, PlanError> {
    let Some(list) = work.list(flag) else {
        return Ok(vec![]);
    };
    let kept: Vec<String> = list
        .iter()
        .filter(|i| !items.contains(i))
        .cloned()
        .collect();
    if kept.len() == list.len() {
        return Ok(vec![]);
    }
    if kept.is_empty() {
        work.flags.retain(|f| f.name != flag);
        work.env.retain(|f| f.name != flag);
    } else {
        set_flag(work, flag, &kept.join(","));
    }
    Ok(vec![flag.to_string()])
}

/// Leaves exactly one occurrence of `flag`, with `value`, where the first one was.
fn set_flag(work: &mut Model, flag: &str, value: &str) {
    // A flag set only through the environment keeps its place there, with one variable.
    // A flag set through the environment keeps its place there: every variable for it (the
    // container gets the last of repeated names) takes the value.
    if work.from_env(flag) {
        for f in work.env.iter_mut().filter(|f| f.name == flag) {
            f.value = Some(value.to_string());
        }
        return;
    }
    // Written anew, the flag is one `--flag=value` item.
    work.split_flags.retain(|n| n != flag);
    let first = work.flags.iter().position(|f| f.name == flag);
    work.flags.retain(|f| f.name != flag);
    let new = Flag {
        name: flag.to_string(),
        value: Some(value.to_string()),
    };
    match first {
        Some(i) => work.flags.insert(i.min(work.flags.len()), new),
        None => work.flags.push(new),
    }
}

/// The entry of [`flag_meaning`] for one key, without building the whole map.
fn meaning_of<'a>(m: &'a Model, key: &str) -> Option<Vec<Option<&'a str>>> {
    let mut v: Vec<Option<&str>> = m
        .flags
        .iter()
        .filter(|f| f.name == key)
        .map(|f| f.value.as_deref())
        .collect();
    if let Some(name) = key.strip_prefix('$') {
        v.extend(
            m.env
                .iter()
                .filter(|f| f.name == name)
                .map(|f| f.value.as_deref()),
        );
    }
    (!v.is_empty()).then_some(v)
}

/// The occurrences of each flag, in order: what the component makes of its arguments.
pub fn flag_meaning(m: &Model) -> BTreeMap<String, Vec<Option<String>>> {
    // Environment settings are told apart from flags by a `$` in front of the name.
    m.flags
        .iter()
        .map(|f| f.name.clone())
        .chain(m.env.iter().map(|f| format!("${}", f.name)))
        .filter_map(|key| {
            let occ = meaning_of(m, &key)?
                .into_iter()
                .map(|v| v.map(str::to_string))
                .collect();
            Some((key, occ))
        })
        .collect()
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

/// Plans the changes that make `model` satisfy every fixable rule of `profile`.
pub fn plan(profile: &Profile, model: &Model, env: Env) -> Result<Plan, PlanError> {
    plan_from(profile, model, env, None)
}

/// [`plan`], given the ids of the rules that fail on `model` when the caller has checked it
/// already (rules of `profile` not named there are taken to hold).
pub fn plan_from(
    profile: &Profile,
    model: &Model,
    env: Env,
    failing_first: Option<&[&str]>,
) -> Result<Plan, PlanError> {
    const ROUNDS: usize = 4;
    let mut work = model.clone();
    let mut touched: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Volumes added by fix steps, with the rules that added them.
    let mut volume_rules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Flags whose `--flag value` pairs a fix step joined, with the rules that did it.
    let mut join_rules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Files of existing flags that a fix step made visible with a new mount.
    let mut mounted_files: Vec<(String, String)> = Vec::new();
    let mut probe_rules: Vec<String> = Vec::new();
    for round in 0..=ROUNDS {
        let failing: Vec<&Rule> = match failing_first.filter(|_| round == 0) {
            Some(ids) => profile
                .rules
                .iter()
                .filter(|r| ids.contains(&r.id.as_str()))
                .collect(),
            None => check::failing(profile, &work, env).collect(),
        };
        let fixable: Vec<&Rule> = failing
            .into_iter()
            .filter(|r| {
                r.variant_for(env.version, |c| check::holds(c, &work, env))
                    .is_some()
            })
            .collect();
        if fixable.is_empty() {
            break;
        }
        if round == ROUNDS {
            // The rules still failing, and the rules that changed the same flags.
            let mut rules: Vec<String> = Vec::new();
            for r in &fixable {
                rules.push(r.id.clone());
                if let Some(flag) = check::evaluate(r, &work, env).and_then(|f| f.flag) {
                    rules.extend(touched.get(&flag).into_iter().flatten().cloned());
                }
            }
            rules.sort();
            rules.dedup();
            return Err(PlanError::Conflict {
                rules: rules.join(", "),
            });
        }
        for rule in fixable {
            // A previous fix in this round may already have satisfied the rule.
            if check::holds(&rule.check, &work, env) {
                continue;
            }
            let Some(variant) = rule.variant_for(env.version, |c| check::holds(c, &work, env))
            else {
                continue;
            };
            for step in &variant.steps {
                let mut added = Vec::new();
                let mut joined = Vec::new();
                let flags = apply_step(step, &mut work, env, &rule.id, &mut added, &mut joined)?;
                for flag in joined {
                    join_rules.entry(flag).or_default().push(rule.id.clone());
                }
                for (name, flag, path) in added {
                    volume_rules.entry(name).or_default().push(rule.id.clone());
                    mounted_files.push((flag, path));
                }
                for flag in flags {
                    let rules = touched.entry(flag).or_default();
                    if !rules.contains(&rule.id) {
                        rules.push(rule.id.clone());
                    }
                }
                if matches!(step, Step::Probes(_)) && !probe_rules.contains(&rule.id) {
                    probe_rules.push(rule.id.clone());
                }
            }
            if !check::holds(&rule.check, &work, env) {
                let (_, current, desired) = check::evaluate(rule, &work, env)
                    .map(|f| (f.flag, f.current, f.desired))
                    .unwrap_or_default();
                return Err(PlanError::Unsatisfied {
                    rule: rule.id.clone(),
                    detail: format!("after the fix: {current}; wanted {desired}"),
                });
            }
        }
    }

    // A plugin both enabled and disabled stops kube-apiserver ("... in
    // --enable-admission-plugins and --disable-admission-plugins overlapped": Validate in
    // staging/src/k8s.io/apiserver/pkg/server/options/admission.go). A plugin a fix enables
    // therefore leaves the disable list, by the rules that enabled it.
    const ENABLE: &str = "enable-admission-plugins";
    const DISABLE: &str = "disable-admission-plugins";
    if let (Some(en), Some(dis)) = (work.list(ENABLE), work.list(DISABLE)) {
        let was_en = model.list(ENABLE).unwrap_or_default();
        let was_dis = model.list(DISABLE).unwrap_or_default();
        let clash: Vec<String> = dis
            .iter()
            .filter(|p| en.contains(p) && !(was_en.contains(p) && was_dis.contains(p)))
            .cloned()
            .collect();
        if !clash.is_empty() {
            let keep: Vec<String> = dis.into_iter().filter(|p| !clash.contains(p)).collect();
            work.flags.retain(|f| f.name != DISABLE);
            if !keep.is_empty() {
                work.flags.push(Flag {
                    name: DISABLE.to_string(),
                    value: Some(keep.join(",")),
                });
            }
            let rules = touched.get(ENABLE).cloned().unwrap_or_default();
            let entry = touched.entry(DISABLE.to_string()).or_default();
            for r in rules {
                if !entry.contains(&r) {
                    entry.push(r);
                }
            }
        }
    }

    // Never combine flags the component refuses together (e.g. --admission-control with
    // --enable-admission-plugins): the safety net under the profiles' own `unless` conditions.
    for (flag, rules) in &touched {
        if !work.present(flag) {
            continue;
        }
        let Some(spec) = env.registry.flag(&work.component, flag) else {
            continue;
        };
        let others = spec.conflicts_with.iter().cloned().chain(
            env.registry
                .flags
                .get(&work.component)
                .into_iter()
                .flat_map(|m| m.iter())
                .filter(|(_, s)| s.conflicts_with.contains(flag))
                .map(|(n, _)| n.clone()),
        );
        for other in others {
            if work.present(&other) {
                return Err(PlanError::Exclusive {
                    rule: rules.join(", "),
                    flag: flag.clone(),
                    other,
                });
            }
        }
    }

    // A value kubeharden writes must be one the version accepts (a cipher suite name, say).
    for (flag, rules) in &touched {
        for occ in work.occurrences(flag) {
            let Some(value) = &occ.value else { continue };
            let bad = env.registry.rejected_values(flag, value, Some(env.version));
            let had = model.values(env.registry, flag).unwrap_or_default();
            if let Some(v) = bad
                .into_iter()
                .find(|v| !had.iter().any(|h| h.split(',').any(|x| x == v)))
            {
                return Err(PlanError::RejectedValue {
                    rule: rules.join(", "),
                    flag: flag.clone(),
                    value: v,
                    version: env.version.to_string(),
                });
            }
        }
    }

    // A list kubeharden rewrites must not name what the version rejects.
    for (flag, rules) in &touched {
        if !env.registry.names_plugins(&work.component, flag) {
            continue;
        }
        for (f, plugin) in check::rejected_plugins(&work, env) {
            if &f == flag {
                return Err(PlanError::RejectedPlugin {
                    rule: rules.join(", "),
                    flag: f,
                    plugin,
                    version: env.version.to_string(),
                });
            }
        }
    }

    let mut changes = Vec::new();
    for (flag, rules) in &touched {
        // A setting held in the environment is compared there.
        let key = if model.from_env(flag) {
            format!("${flag}")
        } else {
            flag.clone()
        };
        let b = meaning_of(model, &key);
        let a = meaning_of(&work, &key);
        if b == a {
            continue;
        }
        let shown_before = model.values(env.registry, flag).map(|v| v.join(","));
        let change = match a {
            None => Change::RemoveFlag { flag: flag.clone() },
            Some(occ) => Change::SetFlag {
                flag: flag.clone(),
                value: occ
                    .last()
                    .copied()
                    .flatten()
                    .unwrap_or_default()
                    .to_string(),
            },
        };
        changes.push(Planned {
            change,
            rules: rules.clone(),
            before: shown_before,
        });
    }
    for (flag, rules) in &join_rules {
        // A flag that is set or removed anyway is rewritten by that change.
        if touched.contains_key(flag) && meaning_of(model, flag) != meaning_of(&work, flag) {
            continue;
        }
        changes.push(Planned {
            change: Change::JoinFlag { flag: flag.clone() },
            rules: rules.clone(),
            before: model.values(env.registry, flag).map(|v| v.join(",")),
        });
    }
    for (p_before, p_after) in model.probes.iter().zip(work.probes.iter()) {
        if p_before != p_after {
            changes.push(Planned {
                change: Change::ProbeToTcp {
                    probe: p_before.kind.clone(),
                },
                rules: probe_rules.clone(),
                before: None,
            });
        }
    }

    // Files the new flag values name: make them visible inside the container.
    let mut required = Vec::new();
    for p in &changes {
        let Change::SetFlag { flag, value } = &p.change else {
            continue;
        };
        let Some(spec) = env.registry.flag(&work.component, flag) else {
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
        if let Some(name) = ensure_mount(&mut work, flag, value, writable)? {
            volume_rules
                .entry(name)
                .or_default()
                .extend(p.rules.iter().cloned());
        }
        required.push(required_file(profile, &work, flag, value, writable));
    }
    for (flag, path) in mounted_files {
        let writable = env
            .registry
            .flag(&work.component, &flag)
            .is_some_and(|s| s.kind == FlagType::Logpath);
        required.push(required_file(profile, &work, &flag, &path, writable));
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
    let mut volumes = Vec::new();
    for v in &work.volumes {
        if model.volumes.iter().any(|o| o.name == v.name) {
            continue;
        }
        let Some(mount) = work.mounts.iter().find(|m| m.name == v.name) else {
            continue;
        };
        volumes.push(Planned {
            change: Change::AddVolume {
                volume: v.clone(),
                mount: mount.clone(),
            },
            rules: volume_rules.get(&v.name).cloned().unwrap_or_default(),
            before: None,
        });
    }
    changes.extend(volumes);
    Ok(Plan {
        changes,
        required_files: required,
        after: work,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::version::Version;
    use crate::profile::Registry;

    fn env(minor: u32) -> Env<'static> {
        static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        Env {
            registry: REGISTRY.get_or_init(|| Registry::builtin().expect("registry")),
            version: Version::minor(minor),
        }
    }

    fn profile(rules: &str) -> Profile {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p.yaml");
        std::fs::write(&p, format!("name: t\ndescription: t\nrules:\n{rules}")).expect("write");
        Profile::load(
            p.to_str().expect("utf8"),
            &Registry::builtin().expect("registry"),
        )
        .expect("profile")
    }

    fn model(flags: &[&str]) -> Model {
        Model {
            component: "kube-apiserver".into(),
            flags: flags
                .iter()
                .map(|f| {
                    let (n, v) = f.split_once('=').expect("name=value");
                    Flag {
                        name: n.into(),
                        value: Some(v.into()),
                    }
                })
                .collect(),
            ..Model::default()
        }
    }

    const RULE: &str = "- id: ID\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: r\n";

    #[test]
    fn rules_that_undo_each_other_are_a_conflict() {
        let p = profile(&format!(
            "{}  check: {{flag: enable-admission-plugins, excludes: [AlwaysAdmit]}}\n  fix: [{{steps: [{{remove_from_list: {{flag: enable-admission-plugins, items: [AlwaysAdmit]}}}}]}}]\n{}  check: {{flag: enable-admission-plugins, contains: [AlwaysAdmit]}}\n  fix: [{{steps: [{{add_to_list: {{flag: enable-admission-plugins, items: [AlwaysAdmit]}}}}]}}]\n",
            RULE.replace("ID", "off"),
            RULE.replace("ID", "on")
        ));
        let env = env(30);
        let err = plan(
            &p,
            &model(&["enable-admission-plugins=NodeRestriction"]),
            env,
        )
        .expect_err("conflict");
        assert!(
            matches!(&err, PlanError::Conflict { rules } if rules == "off, on"),
            "{err}"
        );
    }

    #[test]
    fn a_fix_that_cannot_satisfy_its_rule_is_refused() {
        // PodSecurityPolicy does not exist in 1.30, so adding it is skipped and the rule still fails.
        let p = profile(&format!(
            "{}  check: {{flag: enable-admission-plugins, contains: [PodSecurityPolicy]}}\n  fix: [{{steps: [{{add_to_list: {{flag: enable-admission-plugins, items: [PodSecurityPolicy]}}}}]}}]\n",
            RULE.replace("ID", "psp")
        ));
        let env = env(30);
        let err = plan(
            &p,
            &model(&["enable-admission-plugins=NodeRestriction"]),
            env,
        )
        .expect_err("unsatisfiable");
        assert!(matches!(err, PlanError::Unsatisfied { .. }), "{err}");
        // In 1.24 the plugin exists and the same fix works.
        let env = self::env(24);
        let ok = plan(
            &p,
            &model(&["enable-admission-plugins=NodeRestriction"]),
            env,
        )
        .expect("plan");
        assert_eq!(
            ok.after.list("enable-admission-plugins"),
            Some(vec!["NodeRestriction".into(), "PodSecurityPolicy".into()])
        );
    }

    #[test]
    fn flags_the_component_refuses_together_are_never_combined() {
        let p = profile(&format!(
            "{}  check: {{flag: authorization-mode, contains: [RBAC]}}\n  fix: [{{steps: [{{add_to_list: {{flag: authorization-mode, items: [RBAC]}}}}]}}]\n",
            RULE.replace("ID", "rbac")
        ));
        let env = env(31);
        let err = plan(
            &p,
            &model(&["authorization-config=/etc/kubernetes/authz.yaml"]),
            env,
        )
        .expect_err("exclusive");
        assert!(
            matches!(&err, PlanError::Exclusive { other, .. } if other == "authorization-config"),
            "{err}"
        );
    }

    #[test]
    fn writing_a_flag_the_version_rejects_is_refused() {
        let p = profile(&format!(
            "{}  check: {{flag: kubelet-https, equals: \"true\"}}\n  fix: [{{steps: [{{set: {{flag: kubelet-https, value: \"true\"}}}}]}}]\n",
            RULE.replace("ID", "https")
        ));
        let env = env(25);
        let err = plan(&p, &model(&[]), env).expect_err("rejected");
        assert!(matches!(err, PlanError::RejectedFlag { .. }), "{err}");
    }

    #[test]
    fn volumes_follow_new_file_flags_and_existing_mounts_are_reused() {
        let p = profile(&format!(
            "{}  check: {{flag: audit-policy-file, present: true}}\n  fix: [{{steps: [{{set: {{flag: audit-policy-file, value: /etc/kubernetes/pki/audit.yaml}}}}]}}]\n{}  check: {{flag: audit-log-path, present: true}}\n  fix: [{{steps: [{{set: {{flag: audit-log-path, value: /var/log/audit/a.log}}}}]}}]\n",
            RULE.replace("ID", "policy"),
            RULE.replace("ID", "log")
        ));
        let env = env(30);
        let mut m = model(&[]);
        m.mounts.push(Mount {
            name: "k8s-certs".into(),
            mount_path: "/etc/kubernetes/pki".into(),
            read_only: true,
            sub_path: None,
        });
        m.volumes.push(Volume {
            name: "k8s-certs".into(),
            host_path: Some("/etc/kubernetes/pki".into()),
            path_type: None,
        });
        let pl = plan(&p, &m, env).expect("plan");
        let added: Vec<_> = pl
            .changes
            .iter()
            .filter_map(|c| match &c.change {
                Change::AddVolume { mount, .. } => {
                    Some((mount.mount_path.clone(), mount.read_only))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            added,
            vec![("/var/log/audit".to_string(), false)],
            "the pki mount already covers the policy"
        );
        assert_eq!(pl.required_files.len(), 2);
    }
}
