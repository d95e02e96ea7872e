//! `explain RULE-ID`: the rule's section of docs/rules.md.

use super::exit::Exit;
use crate::model::report::UsageError;
use crate::profile::{self, Registry};
use crate::render::ruledoc;
use std::io::Write;

pub(super) fn run(rule: &str, stdout: &mut dyn Write) -> Result<Exit, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
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
