//! `explain RULE-ID`: the rule's section of docs/rules.md; `explain CIS-ID`: the sections of the
//! rules that cite that check.

use super::exit::Exit;
use crate::model::report::UsageError;
use crate::profile::{self, Registry};
use crate::render::ruledoc;
use std::io::Write;

pub(super) fn run(rule: &str, stdout: &mut dyn Write) -> Result<Exit, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    if is_cis_id(rule) {
        return by_cis_id(rule, &registry, stdout);
    }
    let found =
        profile::find_builtin_rule(rule, &registry).map_err(|e| UsageError(e.to_string()))?;
    let Some(r) = found else {
        return Err(UsageError(format!(
            "unknown rule `{rule}`; `kubeharden profiles show strict` lists every rule"
        )));
    };
    let profiles = ruledoc::builtin_profiles(&registry).map_err(|e| UsageError(e.to_string()))?;
    stdout
        .write_all(ruledoc::section(&r, &profiles, &registry).as_bytes())
        .map_err(|e| UsageError(format!("cannot write: {e}")))?;
    Ok(Exit::Ok)
}

/// `1.2.1`, `4.2.14`, `2.1`: a CIS check id (rule ids are words).
fn is_cis_id(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The sections of the rules that cite the CIS check `id`, in the order of docs/rules.md.
fn by_cis_id(id: &str, registry: &Registry, stdout: &mut dyn Write) -> Result<Exit, UsageError> {
    let profiles = ruledoc::builtin_profiles(registry).map_err(|e| UsageError(e.to_string()))?;
    let citing: Vec<_> = ruledoc::all_rules(&profiles)
        .into_iter()
        .filter(|r| r.cis.iter().any(|c| c == id))
        .collect();
    if citing.is_empty() {
        return Err(UsageError(format!(
            "no rule cites CIS {id} of the {}; docs/rules.md lists the ids each rule cites",
            registry.cis_benchmark.title()
        )));
    }
    let sections: Vec<String> = citing
        .iter()
        .map(|r| ruledoc::section(r, &profiles, registry))
        .collect();
    stdout
        .write_all(sections.join("\n").as_bytes())
        .map_err(|e| UsageError(format!("cannot write: {e}")))?;
    Ok(Exit::Ok)
}
