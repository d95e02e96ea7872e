//! What a plan must never do, checked once the fixes are made: enable and disable one
//! admission plugin, combine flags the component refuses together, write a value or an
//! admission plugin the version rejects.

use super::error::PlanError;
use crate::check::{self, Env};
use crate::model::{Flag, Model};
use crate::profile::FlagSpec;
use std::collections::{BTreeMap, HashSet};

/// A plugin both enabled and disabled stops kube-apiserver ("... in
/// --enable-admission-plugins and --disable-admission-plugins overlapped": Validate in
/// staging/src/k8s.io/apiserver/pkg/server/options/admission.go). A plugin a fix enables
/// therefore leaves the disable list, by the rules that enabled it.
pub(super) fn settle_admission_overlap(
    model: &Model,
    work: &mut Model,
    touched: &mut BTreeMap<String, Vec<String>>,
) {
    const ENABLE: &str = "enable-admission-plugins";
    const DISABLE: &str = "disable-admission-plugins";
    if let (Some(en), Some(dis)) = (work.list(ENABLE), work.list(DISABLE)) {
        let (was_en, was_dis) = (model.list(ENABLE), model.list(DISABLE));
        // In sets: lists of thousands of plugins were each looked for in the others.
        fn set(v: Option<&Vec<String>>) -> HashSet<&str> {
            v.into_iter().flatten().map(String::as_str).collect()
        }
        let (en, was_en, was_dis) = (set(Some(&en)), set(was_en.as_ref()), set(was_dis.as_ref()));
        let clash: HashSet<&str> = dis
            .iter()
            .map(String::as_str)
            .filter(|p| en.contains(p) && !(was_en.contains(p) && was_dis.contains(p)))
            .collect();
        if !clash.is_empty() {
            let keep: Vec<&str> = dis
                .iter()
                .map(String::as_str)
                .filter(|p| !clash.contains(p))
                .collect();
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
}

/// The flags the fixes touched, checked in the working model.
pub(super) fn check(
    model: &Model,
    work: &Model,
    touched: &BTreeMap<String, Vec<String>>,
    env: Env,
) -> Result<(), PlanError> {
    // Never combine flags the component refuses together (e.g. --admission-control with
    // --enable-admission-plugins): the safety net under the profiles' own `unless` conditions.
    // The component's flags that name others they conflict with, in the registry's order,
    // found once rather than for each flag touched (a component has hundreds of flags).
    let table = env.registry.flags_of(&work.component);
    let refusing: Vec<(&String, &FlagSpec)> = table
        .iter()
        .filter(|(_, s)| !s.conflicts_with.is_empty())
        .collect();
    for (flag, rules) in touched {
        if !work.present(flag) {
            continue;
        }
        let Some(spec) = table.get(flag) else {
            continue;
        };
        let others = spec.conflicts_with.iter().cloned().chain(
            refusing
                .iter()
                .filter(|(_, s)| s.conflicts_with.contains(flag))
                .map(|(n, _)| (*n).clone()),
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
    for (flag, rules) in touched {
        for occ in work.occurrences(flag) {
            let Some(value) = &occ.value else { continue };
            let bad = env.registry.rejected_values(flag, value, Some(env.version));
            if bad.is_empty() {
                continue;
            }
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
    for (flag, rules) in touched {
        if !env.registry.names_plugins(&work.component, flag) {
            continue;
        }
        for (f, plugin) in check::rejected_plugins(work, env) {
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

    Ok(())
}
