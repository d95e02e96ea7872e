//! What an edit of a component configuration file may change: the document, loaded again,
//! must equal the original with the planned settings set or removed, and no other document of
//! the file may change.

use super::config::{map_changes, ComponentConfig};
use super::load::find;
use crate::model::change::Change;
use crate::model::Model;
use crate::plan::Plan;
use crate::profile::{FlagType, Registry};
use crate::yaml;
use crate::yaml::compare::value_of;
use serde_json::{Map, Value};

fn set_json(root: &mut Value, path: &str, v: Option<Value>) {
    let segs: Vec<&str> = path.split('.').collect();
    let mut node = root;
    for (i, seg) in segs.iter().enumerate() {
        let Some(obj) = node.as_object_mut() else {
            return;
        };
        if i + 1 == segs.len() {
            match v {
                Some(v) => {
                    obj.insert((*seg).to_string(), v);
                }
                None => {
                    obj.remove(*seg);
                }
            }
            return;
        }
        let entry = obj
            .entry((*seg).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if matches!(entry.as_str(), Some("" | "~" | "null" | "Null" | "NULL")) {
            *entry = Value::Object(Map::new());
        }
        node = entry;
    }
}

/// The edited text loaded again: no other document changed, and the document equals the
/// original with the planned changes made; the model it means.
pub(crate) fn reread(
    orig: &ComponentConfig,
    plan: &Plan,
    edited: &str,
    registry: &Registry,
) -> Result<Model, String> {
    let docs =
        yaml::parse(edited).map_err(|e| format!("the edited file no longer parses ({e})"))?;
    let others = |docs: &[yaml::Document], skip: usize| -> Vec<Value> {
        docs.iter()
            .filter(|d| !d.root.is_null())
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, d)| value_of(&d.root))
            .collect()
    };
    let before_docs =
        yaml::parse(&orig.text).map_err(|e| format!("the file no longer parses ({e})"))?;
    if others(&before_docs, orig.index) != others(&docs, orig.index) {
        return Err("another document of the file changed".into());
    }
    let after = find(edited, docs, registry, &orig.kind, &orig.defaults)
        .map_err(|e| format!("the edited file no longer loads ({})", e.message))?
        .ok_or("the edited file has no KubeletConfiguration any more")?;
    if after.index != orig.index {
        return Err("the documents of the file moved".into());
    }
    let mut want = value_of(&orig.root);
    for p in &plan.changes {
        match &p.change {
            Change::SetFlag { flag, value } => {
                let kind = registry.flag(&orig.component, flag).map(|s| s.kind);
                match kind {
                    Some(FlagType::List) => set_json(
                        &mut want,
                        flag,
                        Some(Value::Array(
                            crate::model::split_list(value)
                                .into_iter()
                                .map(Value::String)
                                .collect(),
                        )),
                    ),
                    Some(FlagType::Map) => {
                        for (path, v) in map_changes(orig, flag, value) {
                            set_json(&mut want, &path, v.map(Value::String));
                        }
                    }
                    _ => set_json(&mut want, flag, Some(Value::String(value.clone()))),
                }
            }
            Change::RemoveFlag { flag } => set_json(&mut want, flag, None),
            _ => return Err("a change a KubeletConfiguration cannot take".into()),
        }
    }
    if value_of(&after.root) != want {
        return Err("a part of the file outside the planned changes differs".into());
    }
    Ok(after.model)
}
