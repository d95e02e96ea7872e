//! Component configuration files: the KubeletConfiguration (`kubelet.config.k8s.io/v1beta1`,
//! `/var/lib/kubelet/config.yaml`) and the KubeSchedulerConfiguration.
//!
//! The settings kubeharden knows (`kubelet` in `profiles/registry.yaml`, named by their path in
//! the document: `authentication.anonymous.enabled`) become the model's flags, so the same
//! checks and plans apply as to a manifest. The edits set, add and remove mapping entries in
//! the text; the check after editing reads the result again and compares the whole document
//! with the original plus the planned changes.

mod compare;
mod edit;

use super::{Document, LoadError, Part};
use crate::check::suppress::Target;
use crate::check::{self, Env};
use crate::edit::mapping::lookup;
use crate::edit::{EditError, Splice};
use crate::model::report::{Region, VersionSource};
use crate::model::{Flag, Model};
use crate::plan::Plan;
use crate::profile::version::Version;
use crate::profile::{FlagType, Registry};
use crate::verify::Nouns;
use crate::yaml::{self, head_end, Kind, Node, Style};

pub const COMPONENT: &str = "kubelet";

pub const KIND: &str = "KubeletConfiguration";

/// A value another tool fills into the configuration (kubeadm, into the KubeletConfiguration of
/// its configuration file): where the document leaves it unset, or always (`forced`).
#[derive(Clone, Debug)]
pub struct Filled {
    pub(crate) path: String,
    pub(crate) value: String,
    pub(crate) forced: bool,
}

/// A loaded KubeletConfiguration.
#[derive(Debug)]
pub struct ComponentConfig {
    /// The whole file (a kubeadm configuration file holds other documents too).
    pub(crate) text: String,
    /// The KubeletConfiguration document.
    pub(crate) root: Node,
    /// Its index among the file's non-empty documents.
    pub(crate) index: usize,
    pub(crate) newline: &'static str,
    pub model: Model,
    /// Values the settings take when the document leaves them out, because another tool fills
    /// them in (kubeadm, for the KubeletConfiguration of its configuration file).
    pub(crate) defaults: Vec<Filled>,
    /// The component the file configures (`kubelet`, `kube-scheduler-config`) and its kind.
    pub(crate) component: String,
    pub(crate) kind: String,
    pub(crate) api_version: String,
    /// The document is part of a kubeadm configuration file.
    pub(crate) embedded: bool,
}

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
            format!("`{path}` carries a YAML anchor, alias or tag; kubeharden does not edit those"),
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
    let model = model_of(&root, component, registry, defaults)?;
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
fn api_rejected(cfg: &ComponentConfig, registry: &Registry, v: Version) -> Option<String> {
    let (_, spec) = registry.config_component(&cfg.kind)?;
    let r = spec
        .api_versions
        .iter()
        .find(|a| a.value == cfg.api_version)?;
    let ok = r.since.is_none_or(|s| v.minor >= s) && r.removed.is_none_or(|x| v.minor < x);
    (!ok).then(|| {
        format!(
            "Kubernetes {v} does not read {} (it is read from 1.{} until 1.{}); the component would not start with this file",
            cfg.api_version,
            r.since.unwrap_or(registry.versions.oldest),
            r.removed.map_or(registry.versions.newest, |x| x - 1)
        )
    })
}

impl ComponentConfig {
    /// The same document as part of a kubeadm configuration file.
    pub(crate) fn embedded(self) -> ComponentConfig {
        ComponentConfig {
            embedded: true,
            ..self
        }
    }
}

impl Part for ComponentConfig {
    fn text(&self) -> &str {
        &self.text
    }

    fn nouns(&self) -> Nouns {
        Nouns {
            flags: "settings",
            volumes: "volumes",
        }
    }

    fn model(&self) -> &Model {
        &self.model
    }

    /// Where a finding points: the setting's entry, else the top of the document.
    /// The region covers the whole entry (key and value), or the document's first key.
    fn locate(&self, flag: Option<&str>) -> Region {
        let entry = flag.and_then(|f| {
            let (parent, last) = match f.rsplit_once('.') {
                Some((p, l)) => (lookup(&self.root, p)?, l),
                None => (&self.root, f),
            };
            parent.entry(last)
        });
        match entry {
            // An empty value has no text of its own.
            Some((k, v)) if v.as_str() == Some("") => {
                Region::of(&self.text, k.span.start, k.span.end)
            }
            Some((k, v)) => Region::of(&self.text, k.span.start, v.content_end().max(k.span.end)),
            None => Region::of(&self.text, self.root.span.start, head_end(&self.root)),
        }
    }

    fn edits(&self, plan: &Plan, registry: &Registry) -> Result<Vec<Splice>, EditError> {
        edit::edits(self, plan, registry)
    }

    fn reread(&self, plan: &Plan, edited: &str, registry: &Registry) -> Result<Model, String> {
        compare::reread(self, plan, edited, registry)
    }

    fn subject(&self) -> &'static str {
        if self.embedded {
            "the KubeletConfiguration"
        } else {
            "this file"
        }
    }

    fn unversioned_subject(&self) -> Option<String> {
        Some(if self.embedded {
            "the file".to_string()
        } else {
            format!("a {}", self.kind)
        })
    }
}

impl Document for ComponentConfig {
    fn component(&self) -> &str {
        &self.component
    }

    fn named_version(&self, _registry: &Registry) -> Option<(Version, VersionSource)> {
        None
    }

    fn takes_node_version(&self, _registry: &Registry) -> bool {
        true
    }

    fn assumed_note(&self, v: Version, _registry: &Registry) -> String {
        format!(
            "a {} names no Kubernetes version and no --kubernetes-version was given: assuming {v}, the newest kubeharden knows; rules that depend on the version are not fixed",
            self.kind
        )
    }

    fn refusals(&self, env: Env, source: VersionSource, _notes: &mut Vec<String>) -> Vec<String> {
        let mut cannot: Option<String> = None;
        if super::has_bare_cr(&self.text) {
            cannot = Some(super::BARE_CR.into());
        }
        if let Some(why) = api_rejected(self, env.registry, env.version) {
            cannot.get_or_insert(why);
        }
        if self.root.is_flow() {
            cannot.get_or_insert(format!(
                "kubeharden edits a {} written as block YAML, not as JSON or a flow mapping",
                self.kind
            ));
        }
        let mut out: Vec<String> = cannot.into_iter().collect();
        // A guessed version that the file contradicts (it names gates that version no longer
        // has) must not steer edits: removing such a gate is right only for the versions
        // without it.
        if source == VersionSource::Assumed {
            let gates: Vec<String> = check::rejected_gates(&self.model, env)
                .into_iter()
                .map(|(_, g)| g)
                .collect();
            if !gates.is_empty() {
                out.push(format!(
                    "the file names the feature gate(s) {}, which {} no longer has, so the component is older than {}; pass --kubernetes-version",
                    gates.join(", "),
                    env.version,
                    env.version
                ));
            }
        }
        out
    }

    fn suppression_targets(&self) -> Vec<Target> {
        vec![Target::document(&self.text, &self.root)]
    }
}

fn map_pairs(v: &str) -> Vec<(String, String)> {
    crate::model::split_list(v)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (kv, "true".to_string()),
        })
        .collect()
}

/// What setting the map setting `flag` (feature gates) to `value` does, key by key: the paths
/// of the keys that go (`None`) and of the keys set anew or to another value.
pub(crate) fn map_changes(
    cfg: &ComponentConfig,
    flag: &str,
    value: &str,
) -> Vec<(String, Option<String>)> {
    let old = cfg
        .model
        .value(flag)
        .map(|v| map_pairs(&v))
        .unwrap_or_default();
    let new = map_pairs(value);
    let mut out = Vec::new();
    for (k, _) in &old {
        if !new.iter().any(|(n, _)| n == k) {
            out.push((format!("{flag}.{k}"), None));
        }
    }
    for (k, v) in &new {
        if !old.iter().any(|(o, ov)| o == k && ov == v) {
            out.push((format!("{flag}.{k}"), Some(v.clone())));
        }
    }
    out
}
