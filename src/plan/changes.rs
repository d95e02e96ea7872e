//! The planned changes: what differs between the model and the working model, as symbolic
//! changes with the rules that asked for them.

use super::{meaning_of, Planner};
use crate::model::change::{Change, Planned};
use crate::model::Model;

/// The flags set or removed, the `--flag value` pairs joined, and the probes turned into TCP
/// probes.
pub(super) fn changes(model: &Model, p: &Planner) -> Vec<Planned> {
    let (env, work) = (p.env, &p.work);
    let mut changes = Vec::new();
    for (flag, rules) in &p.touched {
        // A setting held in the environment is compared there.
        let key = if model.from_env(flag) {
            format!("${flag}")
        } else {
            flag.clone()
        };
        let b = meaning_of(model, &key);
        let a = meaning_of(work, &key);
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
    for (flag, rules) in &p.join_rules {
        // A flag that is set or removed anyway is rewritten by that change.
        if p.touched.contains_key(flag) && meaning_of(model, flag) != meaning_of(work, flag) {
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
                rules: p.probe_rules.clone(),
                before: None,
            });
        }
    }

    changes
}
