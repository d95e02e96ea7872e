//! How a plan is written into a component configuration file: each setting set, replaced or
//! removed by its path in the document ([`crate::edit::mapping`]), a map setting (feature gates)
//! key by key.

use super::config::{map_changes, ComponentConfig};
use crate::edit::mapping::{MapEditor, New};
use crate::edit::{refuse, EditError, Splice};
use crate::model::change::Change;
use crate::plan::Plan;
use crate::profile::{FlagType, Registry};
use crate::yaml;

/// The scalar text for a value of a setting of type `kind`.
fn render(kind: FlagType, value: &str) -> String {
    match kind {
        FlagType::Bool | FlagType::Int => value.to_string(),
        _ if yaml::plain_string_ok(value, false) => value.to_string(),
        _ => yaml::double_quote(value),
    }
}

/// The splices for `plan` on `cfg`.
pub(crate) fn edits(
    cfg: &ComponentConfig,
    plan: &Plan,
    registry: &Registry,
) -> Result<Vec<Splice>, EditError> {
    let mut ed = MapEditor::new(&cfg.text, &cfg.root, cfg.newline);
    for p in &plan.changes {
        match &p.change {
            Change::SetFlag { flag, value } => {
                let kind = registry
                    .flag(&cfg.component, flag)
                    .map(|s| s.kind)
                    .unwrap_or(FlagType::String);
                match kind {
                    FlagType::List => ed.set(flag, New::List(crate::model::split_list(value)))?,
                    FlagType::Map => {
                        for (path, v) in map_changes(cfg, flag, value) {
                            match v {
                                None => ed.remove(&path)?,
                                Some(v) => {
                                    ed.set(&path, New::Scalar(render(FlagType::Bool, &v)))?;
                                }
                            }
                        }
                    }
                    _ => ed.set(flag, New::Scalar(render(kind, value)))?,
                }
            }
            Change::RemoveFlag { flag } => ed.remove(flag)?,
            other => {
                return Err(refuse(
                    None,
                    format!("{other:?} is not a change a KubeletConfiguration can take"),
                ))
            }
        }
    }
    ed.finish()
}
