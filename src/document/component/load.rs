//! Reading a component configuration file: the document of its kind, and the settings the
//! registry knows, each by its path in the document.

use super::config::{ComponentConfig, Filled, KIND};
use crate::document::kind::LoadError;
use crate::model::{Flag, Model};
use crate::profile::version::Version;
use crate::profile::{FlagType, Registry};
use crate::yaml::{self, Kind, Node, Style};

/// Whether the parsed file is a KubeletConfiguration (one document of that kind).
/// The configuration kind of the file's documents that kubeharden reads (KubeletConfiguration,
/// KubeSchedulerConfiguration), if any.
pub fn config_kind<'a>(docs: &'a [yaml::Document], registry: &Registry) -> Option<&'a str> {
    docs.iter()
        .filter_map(|d| d.root.get("kind").and_then(Node::as_str))
        .find(|k| registry.config_component(k).is_some())
}

/// A `<<` merge key: the kubelet's YAML reader merges the mapping in, kubeharden would not see
/// what it sets.
fn merge_key(n: &Node) -> Option<&Node> {
    n.entries()
        .iter()
        .find_map(|(k, v)| {
            let plain_merge = k.as_str() == Some("<<")
                && matches!(
                    k.kind,
                    Kind::Scalar {
                        style: Style::Plain,
                        ..
                    }
                );
            if plain_merge {
                Some(k)
            } else {
                merge_key(v)
            }
        })
        .or_else(|| n.items().iter().find_map(merge_key))
}

fn is_plain(n: &Node) -> bool {
    matches!(
        n.kind,
        Kind::Scalar {
            style: Style::Plain,
            ..
        }
    )
}

/// One setting's value as the model holds it, or `None` when it is unset (missing or null).
fn read_value(node: &Node, kind: FlagType, path: &str) -> Result<Option<String>, LoadError> {
    if node.decorated {
        return Err(LoadError::at(
            node,
            format!("`{path}` carries a YAML anchor, alias or tag, which kubeharden does not edit: write it out in full without them (an anchor shares the value with its aliases, so an edit would change them all), then run kubeharden again"),
        ));
    }
    if node.is_null() {
        return Ok(None);
    }
    match kind {
        FlagType::Bool => match yaml::yaml11_bool(node) {
            Some(b) => Ok(Some(b.to_string())),
            None => Err(LoadError::at(
                node,
                format!("`{path}` must be a boolean (true or false); the component refuses anything else"),
            )),
        },
        FlagType::Int => match node.as_str() {
            Some(v) if is_plain(node) && crate::profile::values::parse_go_int(v).is_some() => Ok(Some(v.to_string())),
            _ => Err(LoadError::at(node, format!("`{path}` must be an integer"))),
        },
        FlagType::List => {
            if !node.is_seq() {
                return Err(LoadError::at(node, format!("`{path}` must be a list")));
            }
            let mut items = Vec::new();
            for i in node.items() {
                match i.as_str() {
                    Some(v) if !i.decorated => items.push(v.to_string()),
                    _ => return Err(LoadError::at(i, format!("the items of `{path}` must be strings"))),
                }
            }
            Ok(Some(items.join(",")))
        }
        FlagType::Map => {
            if !node.is_map() {
                return Err(LoadError::at(node, format!("`{path}` must be a mapping")));
            }
            let mut kv = Vec::new();
            for (k, v) in node.entries() {
                let key = k
                    .as_str()
                    .ok_or_else(|| LoadError::at(k, format!("a key of `{path}` is not a string")))?;
                let b = yaml::yaml11_bool(v).ok_or_else(|| {
                    LoadError::at(v, format!("`{path}.{key}` must be a boolean (true or false)"))
                })?;
                kv.push(format!("{key}={b}"));
            }
            Ok(Some(kv.join(",")))
        }
        _ => match node.as_str() {
            Some(v) => Ok(Some(v.to_string())),
            None => Err(LoadError::at(node, format!("`{path}` must be a string"))),
        },
    }
}

/// Reads the settings the registry knows into a model; `defaults` fill what is unset.
fn model_of(
    root: &Node,
    component: &str,
    registry: &Registry,
    defaults: &[Filled],
) -> Result<Model, LoadError> {
    let mut model = read_model(root, component, registry)?;
    for d in defaults {
        let unset = model.value(&d.path).is_none_or(|v| v.is_empty());
        if d.forced || unset {
            model.flags.retain(|f| f.name != d.path);
            model.flags.push(Flag {
                name: d.path.clone(),
                value: Some(d.value.clone()),
            });
        }
    }
    Ok(model)
}

fn read_model(root: &Node, component: &str, registry: &Registry) -> Result<Model, LoadError> {
    let mut flags = Vec::new();
    for (path, spec) in registry.flags.get(component).into_iter().flatten() {
        // Every mapping on the way must be a mapping.
        let mut node = root;
        let mut found = true;
        for seg in path.split('.') {
            if !node.is_map() {
                if node.is_null() {
                    found = false;
                    break;
                }
                return Err(LoadError::at(
                    node,
                    format!("expected a mapping on the way to `{path}`"),
                ));
            }
            match node.get(seg) {
                Some(n) => node = n,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        if let Some(value) = read_value(node, spec.kind, path)? {
            flags.push(Flag {
                name: path.clone(),
                value: Some(value),
            });
        }
    }
    Ok(Model {
        component: component.to_string(),
        flags,
        ..Model::default()
    })
}

/// Loads a KubeletConfiguration file from its parsed documents.
pub fn load(
    text: &str,
    docs: Vec<yaml::Document>,
    registry: &Registry,
) -> Result<ComponentConfig, LoadError> {
    let n = docs.iter().filter(|d| !d.root.is_null()).count();
    let kind = config_kind(&docs, registry).unwrap_or(KIND).to_string();
    if n > 1 {
        return Err(LoadError::whole(format!(
            "the file holds {n} YAML documents; a {kind} file holds one"
        )));
    }
    find(text, docs, registry, &kind, &[])?
        .ok_or_else(|| LoadError::whole(format!("the file holds no {kind}")).unrecognized())
}

/// The document of configuration `kind` among a file's documents, if there is one.
pub fn find(
    text: &str,
    docs: Vec<yaml::Document>,
    registry: &Registry,
    kind: &str,
    defaults: &[Filled],
) -> Result<Option<ComponentConfig>, LoadError> {
    let Some((component, spec)) = registry.config_component(kind) else {
        return Ok(None);
    };
    let roots: Vec<Node> = docs
        .into_iter()
        .map(|d| d.root)
        .filter(|r| !r.is_null())
        .collect();
    let mut found = roots
        .iter()
        .enumerate()
        .filter(|(_, r)| r.get("kind").and_then(Node::as_str) == Some(kind));
    let Some((index, _)) = found.next() else {
        return Ok(None);
    };
    if let Some((_, second)) = found.next() {
        return Err(LoadError::at(
            second,
            format!("the file holds more than one {kind}"),
        ));
    }
    let Some(root) = roots.into_iter().nth(index) else {
        return Ok(None);
    };
    if !root.is_map() {
        return Err(LoadError::at(&root, "the document is not a mapping"));
    }
    let known: Vec<&str> = spec.api_versions.iter().map(|a| a.value.as_str()).collect();
    let api_version = match root.get("apiVersion").and_then(Node::as_str) {
        Some(v) if known.contains(&v) => v.to_string(),
        Some(other) => {
            return Err(LoadError::at(
                root.get("apiVersion").unwrap_or(&root),
                format!(
                    "apiVersion `{other}` is not one kubeharden knows for a {kind} ({})",
                    known.join(", ")
                ),
            ))
        }
        None => {
            return Err(LoadError::at(
                &root,
                format!("the {kind} has no apiVersion"),
            ))
        }
    };
    if let Some(k) = merge_key(&root) {
        return Err(LoadError::at(
            k,
            "a `<<` merge key: the component merges that mapping in, and kubeharden does not; write the settings out",
        ));
    }
    let mut model = model_of(&root, component, registry, defaults)?;
    model.config_api = Some(api_version.clone());
    Ok(Some(ComponentConfig {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        text: text.to_string(),
        root,
        index,
        model,
        defaults: defaults.to_vec(),
        component: component.to_string(),
        kind: kind.to_string(),
        api_version,
        embedded: false,
    }))
}

/// Why Kubernetes `v` does not read this file's apiVersion, if it does not.
pub(super) fn api_rejected(
    cfg: &ComponentConfig,
    registry: &Registry,
    v: Version,
) -> Option<String> {
    let (_, spec) = registry.config_component(&cfg.kind)?;
    let r = spec
        .api_versions
        .iter()
        .find(|a| a.value == cfg.api_version)?;
    (!v.within(r.since, r.removed)).then(|| {
        format!(
            "Kubernetes {v} does not read {} (it is read from 1.{} until 1.{}); the component would not start with this file",
            cfg.api_version,
            r.since.unwrap_or(registry.versions.oldest),
            r.removed.map_or(registry.versions.newest, |x| x - 1)
        )
    })
}
