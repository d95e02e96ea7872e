//! The fix steps of a rule, applied to the working model.

use super::error::PlanError;
use super::mounts::ensure_mount;
use crate::check::{self, Env};
use crate::model::{Flag, Handler, Model, MountIndex, MOUNTS_SCANNED};
use crate::profile::{same_name, FlagType, Step};
use std::collections::BTreeMap;

/// The error for a fix of `rule` that would write `flag`, unless the version accepts it.
fn emit_ok(work: &Model, env: Env, rule: &str, flag: &str) -> Result<(), PlanError> {
    match env.registry.flag(&work.component, flag) {
        Some(spec) if spec.accepted_in(env.version) => Ok(()),
        _ => Err(PlanError::RejectedFlag {
            rule: rule.to_string(),
            flag: flag.to_string(),
            version: env.version.to_string(),
        }),
    }
}

/// Applies one fix step to the working model. Returns the flags it touched.
pub(super) fn apply_step(
    step: &Step,
    work: &mut Model,
    env: Env,
    rule: &str,
    volumes: &mut Vec<(String, String, String)>,
    joined: &mut Vec<String>,
) -> Result<Vec<String>, PlanError> {
    match step {
        Step::Set { flag, value } => {
            emit_ok(work, env, rule, flag)?;
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
            emit_ok(work, env, rule, flag)?;
            set_flag(work, flag, &value);
            Ok(vec![flag.clone()])
        }
        Step::JoinSplit => {
            let names = std::mem::take(&mut work.split_flags);
            *joined = names.clone();
            Ok(vec![])
        }
        Step::MountFiles => mount_files(work, env, volumes),
        Step::Remove { flag } => {
            work.flags.retain(|f| &f.name != flag);
            work.env.retain(|f| &f.name != flag);
            work.split_flags.retain(|n| n != flag);
            Ok(vec![flag.clone()])
        }
        Step::AddToList { flag, items } => add_to_list(work, env, rule, flag, items),
        Step::RemoveFromList { flag, items } => remove_items(work, flag, items),
        Step::RemoveKeys { flag, keys } => {
            let doomed = keyed_items(work, flag, keys);
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
        Step::Dedupe => Ok(dedupe(work, env)),
        Step::RemoveRemoved => remove_removed(work, env),
        // A node file's mode and owner are no setting of a document: the rules of the
        // node-files component never match a document's component, so no plan gets here.
        Step::Chmod | Step::Chown => Ok(vec![]),
    }
}

/// Mounts the files flags name that no mount makes visible; the volumes added go to
/// `volumes`, with the flag and the file.
fn mount_files(
    work: &mut Model,
    env: Env,
    volumes: &mut Vec<(String, String, String)>,
) -> Result<Vec<String>, PlanError> {
    // Shallow directories first, so that one mount covers the files below it.
    let mut files = check::unmounted_files(work, env);
    files.sort_by_key(|(_, p)| p.bytes().filter(|&b| b == b'/').count());
    // Each file is held against the mounts the files before it were given, too: with many of
    // either, the mounts are indexed as they come.
    let mut index =
        (work.mounts.len() + files.len() > MOUNTS_SCANNED).then(|| MountIndex::new(work));
    for (flag, path) in files {
        let writable = env
            .registry
            .flag(&work.component, &flag)
            .is_some_and(|s| s.kind == FlagType::Logpath);
        if let Some(name) = ensure_mount(work, index.as_mut(), &flag, &path, writable)? {
            volumes.push((name, flag.clone(), path.clone()));
        }
    }
    Ok(vec![])
}

/// Adds `items` to the list `flag`, never an admission plugin the version does not have.
fn add_to_list(
    work: &mut Model,
    env: Env,
    rule: &str,
    flag: &str,
    items: &[String],
) -> Result<Vec<String>, PlanError> {
    let mut list = work.list(flag).unwrap_or_default();
    let mut changed = false;
    for item in items {
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
    if !changed {
        return Ok(vec![]);
    }
    emit_ok(work, env, rule, flag)?;
    set_flag(work, flag, &list.join(","));
    Ok(vec![flag.to_string()])
}

/// The items `key=value` of the list `flag` whose key is one of `keys`.
fn keyed_items(work: &Model, flag: &str, keys: &[String]) -> Vec<String> {
    work.list(flag)
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| {
            let k = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            keys.iter().any(|x| x == k.trim())
        })
        .collect()
}

/// Leaves one occurrence of each repeated single-valued flag, with the value in effect; a
/// repeated list flag becomes one with all its items, each once only where the component
/// refuses a repeat (`unique_items`).
fn dedupe(work: &mut Model, env: Env) -> Vec<String> {
    let names = check::duplicated_flags(work, env);
    for name in &names {
        let spec = env.registry.flag(&work.component, name);
        let is_list = spec.is_some_and(|s| s.kind == FlagType::List);
        let unique = spec.is_some_and(|s| s.unique_items);
        let value = if is_list {
            work.list(name).map(|mut l| {
                if unique {
                    dedup(&mut l);
                }
                l.join(",")
            })
        } else {
            work.value(name)
        };
        if let Some(v) = value {
            set_flag(work, name, &v);
        }
    }
    names
}

/// Removes the flags, admission plugins and feature gates the version no longer accepts.
fn remove_removed(work: &mut Model, env: Env) -> Result<Vec<String>, PlanError> {
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
        let doomed = keyed_items(work, &flag, &keys);
        touched.extend(remove_items(work, &flag, &doomed)?);
    }
    Ok(touched)
}

/// Drops repeated items, keeping the first of each: found in the places sorted by item (a
/// stable sort keeps the first of equal items first), so that a list of hundreds of thousands
/// of items takes no time to the square of that.
fn dedup(list: &mut Vec<String>) {
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| list[a].cmp(&list[b]));
    let mut first = vec![false; list.len()];
    for same in order.chunk_by(|&a, &b| list[a] == list[b]) {
        first[same[0]] = true;
    }
    let mut at = 0;
    list.retain(|_| {
        at += 1;
        first[at - 1]
    });
}

fn remove_items(work: &mut Model, flag: &str, items: &[String]) -> Result<Vec<String>, PlanError> {
    let Some(list) = work.list(flag) else {
        return Ok(vec![]);
    };
    // A set of the items to remove: a list of a hundred thousand items, half of them plugins
    // the version no longer has, takes no time to the square of that.
    let doomed: std::collections::HashSet<&str> = items.iter().map(String::as_str).collect();
    let kept: Vec<String> = list
        .iter()
        .filter(|i| !doomed.contains(i.as_str()))
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
pub(super) fn set_flag(work: &mut Model, flag: &str, value: &str) {
    // A flag set only through the environment keeps its place there, with one variable.
    // A flag set through the environment keeps its place there: every variable for it (the
    // container gets the last of repeated names) takes the value.
    if work.from_env(flag) {
        for f in work.env.iter_mut().filter(|f| f.name == flag) {
            f.value = Some(value.to_string());
        }
        return;
    }
    // Written anew, the flag is one `--flag=value` item, where its first occurrence was.
    work.split_flags.retain(|n| n != flag);
    let same = |f: &Flag| same_name(&f.name, flag);
    let first = work.flags.iter().position(same);
    // Given once: only its value changes.
    if let Some(i) = first.filter(|&i| !work.flags[i + 1..].iter().any(same)) {
        work.flags[i].value = Some(value.to_string());
        return;
    }
    work.flags.retain(|f| !same(f));
    let new = Flag {
        name: flag.to_string(),
        value: Some(value.to_string()),
    };
    match first {
        Some(i) => work.flags.insert(i.min(work.flags.len()), new),
        None => work.flags.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::{dedup, set_flag};
    use crate::model::{Flag, Model};

    /// A flag set on the command line is one `--flag=value` item where its first occurrence was,
    /// given once or many times, bare or with values, or at the end when it was not there:
    /// over random command lines, what the written-out rule makes of them.
    #[test]
    fn a_flag_set_is_one_item_where_it_first_was() {
        let names = ["a", "b", "profiling", "tls-cipher-suites"];
        let mut next = crate::testing::seeded();
        for _ in 0..3000 {
            let flags: Vec<Flag> = (0..next(7))
                .map(|_| Flag {
                    name: names[next(names.len())].into(),
                    value: [None, Some("1".to_string()), Some(String::new())][next(3)].clone(),
                })
                .collect();
            let flag = names[next(names.len())];
            let mut expected = flags.clone();
            let first = expected.iter().position(|f| f.name == flag);
            expected.retain(|f| f.name != flag);
            let new = Flag {
                name: flag.into(),
                value: Some("v".into()),
            };
            match first {
                Some(i) => expected.insert(i.min(expected.len()), new),
                None => expected.push(new),
            }
            let mut work = Model {
                component: "kube-apiserver".into(),
                flags: flags.clone(),
                ..Model::default()
            };
            set_flag(&mut work, flag, "v");
            assert_eq!(work.flags, expected, "{flag} in {flags:?}");
        }
    }

    /// The first of each item stays where it was, short list or long.
    #[test]
    fn dedup_keeps_the_first_of_each_item_in_place() {
        let mut l: Vec<String> = ["b", "a", "b", "c", "a"].map(String::from).to_vec();
        dedup(&mut l);
        assert_eq!(l, ["b", "a", "c"]);
        let mut long: Vec<String> = (0..3000).map(|i| format!("p{}", (i * 7) % 1000)).collect();
        let mut expected: Vec<String> = Vec::new();
        for x in &long {
            if !expected.contains(x) {
                expected.push(x.clone());
            }
        }
        dedup(&mut long);
        assert_eq!(long.len(), 1000);
        assert_eq!(long, expected);
    }
}
