//! Loads a kubeadm configuration file: finds the ClusterConfiguration among its documents,
//! reads `apiServer.extraArgs` and `apiServer.extraVolumes` with their spans, and builds the
//! model of the kube-apiserver manifest kubeadm would generate from it (kubeadm's defaults,
//! replaced by name by the extra arguments), which the profiles are checked against.

mod edit;

use super::component::{self, Filled};
use super::{Document, LoadError, Part};
use crate::check::suppress::Target;
use crate::check::Env;
use crate::edit::{EditError, Splice};
use crate::model::change::Change;
use crate::model::report::{Region, VersionSource, COMPONENT};
use crate::model::{Flag, Handler, Model, Mount, Probe, Volume};
use crate::plan::Plan;
use crate::profile::kubeadm::Facts;
use crate::profile::version::Version;
use crate::profile::Registry;
use crate::verify::Nouns;
use crate::yaml::compare::value_of;
use crate::yaml::{self, Kind, Node, Style};
use serde_json::Value;
use std::collections::BTreeMap;

pub const GROUP: &str = "kubeadm.k8s.io";

/// The encoding of `extraArgs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgsEncoding {
    /// v1beta2 and v1beta3: a map of flag name to string.
    Map,
    /// v1beta4: a list of `{name, value}`, names may repeat.
    List,
}

/// One `extraArgs` entry.
#[derive(Clone, Debug)]
pub struct ArgEntry {
    pub name: String,
    pub value: String,
    /// The map key (Map) or the list item (List).
    pub key: Node,
    /// The value scalar.
    pub value_node: Node,
}

/// One `extraVolumes` entry.
#[derive(Clone, Debug)]
pub struct VolumeEntry {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    pub read_only: bool,
    pub path_type: Option<String>,
}

#[derive(Debug)]
pub struct KubeadmConfig {
    pub text: String,
    pub docs: Vec<yaml::Document>,
    /// The ClusterConfiguration document, if the file has one.
    pub cluster: Option<usize>,
    /// The kubeadm API version of the file's kubeadm documents.
    pub api_version: String,
    pub encoding: ArgsEncoding,
    /// `kubernetesVersion` of the ClusterConfiguration.
    pub kubernetes_version: Option<Version>,
    pub args: Vec<ArgEntry>,
    /// The kube-apiserver manifest kubeadm would generate, as kubeharden models manifests.
    pub model: Model,
    /// `\r\n` when the file uses CRLF line endings.
    pub newline: &'static str,
    /// What kubeadm fills in from the configuration (`certificates_dir`, ...).
    pub vars: BTreeMap<String, String>,
}

impl KubeadmConfig {
    /// kubeadm's defaults for the KubeletConfiguration document, for this file.
    pub fn kubelet_defaults(&self, facts: &Facts) -> Vec<Filled> {
        let unset = facts.kubelet_defaults.iter().map(|(k, v)| (k, v, false));
        let forced = facts.kubelet_forced.iter().map(|(k, v)| (k, v, true));
        unset
            .chain(forced)
            .map(|(k, v, forced)| Filled {
                path: k.clone(),
                value: substitute(v, &self.vars),
                forced,
            })
            .collect()
    }

    pub fn cluster_root(&self) -> Option<&Node> {
        self.cluster.map(|i| &self.docs[i].root)
    }

    pub fn api_server(&self) -> Option<&Node> {
        self.cluster_root().and_then(|c| c.get("apiServer"))
    }
}

/// Why a rule's fix cannot be made through extraArgs and extraVolumes, if it cannot.
fn inexpressible(cfg: &KubeadmConfig, c: &Change) -> Option<String> {
    match c {
        Change::ProbeToTcp { probe } => Some(format!(
            "kubeadm writes the {probe} itself and extraArgs cannot change it; save the patch `kubeharden profiles template kubeadm-probe-patch` prints as kube-apiserver+strategic.yaml in kubeadm's --patches directory (it turns the probes into TCP probes), then set this flag; or use Kubernetes 1.32 or later, where the strict profile needs no probe change (on a running node `kubeharden fix` rewrites the manifest's probes itself)"
        )),
        Change::RemoveFlag { flag } if !cfg.args.iter().any(|a| &a.name == flag) => Some(format!(
            "kubeadm writes --{flag} itself, and extraArgs can replace a default flag but not remove it"
        )),
        _ => None,
    }
}

/// Where a finding points: the extraArgs entry of its flag, else `apiServer`, else the
/// ClusterConfiguration, else the start of the file.
/// The region covers the whole entry (`name: value`, or the `{name, value}` item), or the
/// `apiServer` key, or the ClusterConfiguration's first key, or the first line of the file.
fn locate(cfg: &KubeadmConfig, flag: Option<&str>) -> Region {
    let text = &cfg.text;
    if let Some(a) = flag.and_then(|f| cfg.args.iter().find(|a| a.name == f)) {
        let end = a.key.content_end().max(a.value_node.span.end);
        return Region::of(text, a.key.span.start, end);
    }
    if let Some(c) = cfg.cluster_root() {
        return match c
            .entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some("apiServer"))
        {
            Some((k, _)) => Region::of(text, k.span.start, k.span.end),
            None => Region::of(text, c.span.start, yaml::head_end(c)),
        };
    }
    let first_line = text.find(['\r', '\n']).unwrap_or(text.len());
    Region::of(text, 0, first_line)
}

/// A kubeadm document's meaning without what kubeharden edits (`apiServer.extraArgs` and
/// `apiServer.extraVolumes`).
fn kubeadm_rest(doc: &Node) -> Value {
    let mut v = value_of(doc);
    if let Some(api) = v.get_mut("apiServer").and_then(|a| a.as_object_mut()) {
        api.remove("extraArgs");
        api.remove("extraVolumes");
        if api.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.remove("apiServer");
            }
        }
    }
    // `apiServer:`, `apiServer: ~` and `apiServer: {}` all mean nothing in it.
    let empty = v.get("apiServer").is_some_and(|a| match a {
        Value::Null => true,
        Value::String(s) => matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"),
        Value::Object(o) => o.is_empty(),
        _ => false,
    });
    if empty {
        if let Some(o) = v.as_object_mut() {
            o.remove("apiServer");
        }
    }
    v
}

impl Part for KubeadmConfig {
    fn model(&self) -> &Model {
        &self.model
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn locate(&self, flag: Option<&str>) -> Region {
        locate(self, flag)
    }

    fn edits(&self, plan: &Plan, _registry: &Registry) -> Result<Vec<Splice>, EditError> {
        edit::edits(self, plan)
    }

    /// Every document means what it did, and the ClusterConfiguration outside what was edited
    /// (a ClusterConfiguration kubeharden added holds nothing else).
    fn reread(&self, _plan: &Plan, edited: &str, registry: &Registry) -> Result<Model, String> {
        let docs =
            yaml::parse(edited).map_err(|e| format!("the edited file no longer parses ({e})"))?;
        let after = load(edited, docs, &registry.kubeadm)
            .map_err(|e| format!("the edited file no longer loads ({})", e.message))?;
        validate_types(edited)?;
        let before: Vec<Value> = self.docs.iter().map(|d| kubeadm_rest(&d.root)).collect();
        let mut now: Vec<Value> = after.docs.iter().map(|d| kubeadm_rest(&d.root)).collect();
        if self.cluster.is_none() {
            let Some(i) = after.cluster else {
                return Err("the edited file has no ClusterConfiguration".into());
            };
            let added = now.remove(i);
            let expected = serde_json::json!({
                "apiVersion": self.api_version,
                "kind": "ClusterConfiguration",
            });
            if added != expected {
                return Err(
                    "the ClusterConfiguration kubeharden added holds more than planned".into(),
                );
            }
        }
        if before != now {
            return Err("a part of the file outside the planned changes differs".into());
        }
        Ok(after.model)
    }

    fn nouns(&self) -> Nouns {
        Nouns {
            flags: "extraArgs",
            volumes: "extraVolumes",
        }
    }

    fn inexpressible(&self, change: &Change) -> Option<String> {
        inexpressible(self, change)
    }
}

impl Document for KubeadmConfig {
    fn component(&self) -> &str {
        COMPONENT
    }

    fn named_version(&self, _registry: &Registry) -> Option<(Version, VersionSource)> {
        self.kubernetes_version.map(|v| (v, VersionSource::Config))
    }

    fn takes_node_version(&self, _registry: &Registry) -> bool {
        false
    }

    fn assumed_note(&self, v: Version, _registry: &Registry) -> String {
        format!("no kubernetesVersion in a ClusterConfiguration and no --kubernetes-version: assuming {v}, the newest kubeharden knows")
    }

    fn refusals(&self, env: Env, _source: VersionSource, notes: &mut Vec<String>) -> Vec<String> {
        let mut cannot = env
            .registry
            .kubeadm
            .api_rejected(&self.api_version, env.version);
        let old = super::version_range(env, notes);
        cannot = cannot.or(old);
        if super::has_bare_cr(&self.text) {
            cannot.get_or_insert(super::BARE_CR.into());
        }
        if self.text.trim_start().starts_with('{') {
            cannot.get_or_insert(
                "kubeharden edits kubeadm configuration written as YAML, not JSON".into(),
            );
        }
        cannot.into_iter().collect()
    }

    /// Every document of the file: a comment silences the rules of the ClusterConfiguration
    /// and of the KubeletConfiguration alike.
    fn suppression_targets(&self) -> Vec<Target> {
        self.docs
            .iter()
            .filter(|d| d.root.is_map())
            .map(|d| Target::document(&self.text, &d.root))
            .collect()
    }

    fn is_kubeadm(&self) -> bool {
        true
    }

    /// The file's KubeletConfiguration, with what kubeadm fills in where it is silent: checked
    /// and edited like the kubelet's own file, after the ClusterConfiguration's edits.
    fn next_part(
        &self,
        text: &str,
        registry: &Registry,
    ) -> Result<Option<Box<dyn Part>>, LoadError> {
        let defaults = self.kubelet_defaults(&registry.kubeadm);
        let docs = yaml::parse(text).map_err(|e| LoadError {
            offset: None,
            line_col: Some((e.line, e.column)),
            message: e.message,
            unrecognized: false,
        })?;
        let found = component::find(text, docs, registry, component::KIND, &defaults)?;
        Ok(found.map(|c| Box::new(c.embedded()) as Box<dyn Part>))
    }
}

/// A plain scalar that YAML 1.1 reads as something other than a string (kubeadm decodes
/// through go-yaml v2 and JSON, so `false`, `yes` or `30` where a string belongs is an error
/// there).
fn plain_non_string(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar { value, style: Style::Plain } if yaml::yaml11_non_string(value))
}

/// A string field of kubeadm's types: a scalar that YAML reads as a string.
fn string_of(node: &Node, what: &str) -> Result<String, LoadError> {
    if node.decorated {
        return Err(LoadError::at(
            node,
            format!("{what} carries an anchor or tag; kubeharden edits plain values only"),
        ));
    }
    match &node.kind {
        Kind::Scalar { value, .. } if !plain_non_string(node) => Ok(value.clone()),
        Kind::Scalar { value, .. } => Err(LoadError::at(
            node,
            format!(
                "{what} `{value}` is not a string; kubeadm decodes it as JSON and rejects it: quote it"
            ),
        )),
        Kind::Alias => Err(LoadError::at(
            node,
            format!("{what} is an alias; kubeharden edits plain values only"),
        )),
        _ => Err(LoadError::at(node, format!("{what} must be a string"))),
    }
}

fn doc_kind(root: &Node) -> (Option<&str>, Option<&str>) {
    (
        root.get("apiVersion").and_then(|n| n.as_str()),
        root.get("kind").and_then(|n| n.as_str()),
    )
}

/// Whether `text` looks like a kubeadm configuration file (a document of the kubeadm group).
pub fn is_kubeadm(docs: &[yaml::Document]) -> bool {
    docs.iter().any(|d| {
        d.root.is_map()
            && doc_kind(&d.root)
                .0
                .is_some_and(|a| a.starts_with(&format!("{GROUP}/")))
    })
}

fn substitute(template: &str, vars: &BTreeMap<String, String>) -> String {
    // Most values name no variable at all.
    if !template.contains("${") {
        return template.to_string();
    }
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

/// What kubeadm refuses in how a file is split into documents, though YAML allows it: kubeadm
/// cuts the file at `---` lines itself (k8s.io/apimachinery's YAMLReader) and reads each part
/// alone, so a part with only comments is a document without `kind`, and go-yaml v2 knows no
/// `%YAML 1.2` directive.
fn kubeadm_split_error(text: &str) -> Option<LoadError> {
    let mut part_start = 0;
    let mut offset = 0;
    let mut has_comment = false;
    let mut has_content = false;
    let check = |start: usize, comment: bool, content: bool| -> Option<LoadError> {
        (comment && !content).then(|| LoadError {
            offset: Some(start),
            line_col: None,
            message: "this part of the file between `---` lines holds only comments; kubeadm reads it as a document without apiVersion and kind and refuses the file: move the comments into a document".into(),
            unrecognized: false,
        })
    };
    for line in text.split_inclusive('\n') {
        let t = line.trim_end_matches(['\n', '\r']);
        if t.starts_with("%YAML") && !t.starts_with("%YAML 1.1") {
            return Some(LoadError {
                offset: Some(offset),
                line_col: None,
                message: "kubeadm's YAML reader (go-yaml v2) refuses a `%YAML` directive other than 1.1; remove it".into(),
                unrecognized: false,
            });
        }
        let separator = t.strip_prefix("---").is_some_and(|rest| {
            let r = rest.trim();
            r.is_empty() || r.starts_with('#')
        });
        if separator {
            if let Some(e) = check(part_start, has_comment, has_content) {
                return Some(e);
            }
            part_start = offset + line.len();
            has_comment = false;
            has_content = false;
        } else {
            let body = t.trim();
            if body.starts_with('#') {
                has_comment = true;
            } else if !body.is_empty() && !body.starts_with('%') && body != "..." {
                has_content = true;
            }
        }
        offset += line.len();
    }
    check(part_start, has_comment, has_content)
}

/// Loads the already-parsed documents of a kubeadm configuration file.
pub fn load(
    text: &str,
    docs: Vec<yaml::Document>,
    facts: &Facts,
) -> Result<KubeadmConfig, LoadError> {
    if let Some(e) = kubeadm_split_error(text) {
        return Err(e);
    }
    let docs: Vec<yaml::Document> = docs.into_iter().filter(|d| !d.root.is_null()).collect();
    let mut cluster = None;
    let mut init = None;
    let mut api: Option<(String, &Node)> = None;
    let mut kinds: Vec<String> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if !d.root.is_map() {
            return Err(LoadError::at(
                &d.root,
                "a kubeadm configuration document must be a mapping",
            ));
        }
        let (Some(api_version), Some(kind)) = doc_kind(&d.root) else {
            return Err(LoadError::at(
                &d.root,
                "every document of a kubeadm configuration file needs `apiVersion` and `kind` (kubeadm refuses the file otherwise)",
            ));
        };
        // kubeadm refuses a kind given twice (SplitConfigDocuments).
        if kinds.iter().any(|k| k == kind) {
            return Err(LoadError::at(
                d.root.get("kind").unwrap_or(&d.root),
                format!("kind {kind} appears twice; kubeadm refuses the file"),
            ));
        }
        kinds.push(kind.to_string());
        if !api_version.starts_with(&format!("{GROUP}/")) {
            continue;
        }
        match &api {
            Some((a, _)) if a != api_version => {
                return Err(LoadError::at(
                    d.root.get("apiVersion").unwrap_or(&d.root),
                    format!(
                        "this document is {api_version} and another is {a}; use one kubeadm API version in a file"
                    ),
                ));
            }
            None => {
                api = Some((
                    api_version.to_string(),
                    d.root.get("apiVersion").unwrap_or(&d.root),
                ))
            }
            _ => {}
        }
        match kind {
            "ClusterConfiguration" => cluster = Some(i),
            "InitConfiguration" => init = Some(i),
            _ => {}
        }
    }
    // kubeadm join reads only the JoinConfiguration of its file and takes the
    // ClusterConfiguration from the cluster: there is nothing for kubeharden to change here.
    if cluster.is_none() && init.is_none() && kinds.iter().any(|k| k == "JoinConfiguration") {
        return Err(LoadError {
            unrecognized: true,
            ..LoadError::whole("a JoinConfiguration file: `kubeadm join` takes the ClusterConfiguration from the cluster (the kubeadm-config ConfigMap); harden that")
        });
    }
    let Some((api_version, api_node)) = api else {
        return Err(LoadError {
            unrecognized: true,
            ..LoadError::whole("the file has no kubeadm.k8s.io document")
        });
    };
    if !facts.api_versions.contains_key(&api_version) {
        return Err(LoadError::at(
            api_node,
            format!(
                "{api_version} is not a kubeadm configuration API kubeharden reads ({})",
                facts
                    .api_versions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let encoding = if api_version.ends_with("/v1beta4") {
        ArgsEncoding::List
    } else {
        ArgsEncoding::Map
    };
    let croot = cluster.map(|i| &docs[i].root);
    let kubernetes_version = match croot.and_then(|c| c.get("kubernetesVersion")) {
        None => None,
        Some(n) => {
            let s = string_of(n, "kubernetesVersion")?;
            // `v1.31.2`, `1.31`, `v1.31.0-rc.1` (a pre-release of 1.31), `stable-1.31`,
            // `latest-1.30`; a label without a version (`latest`, `stable`, `ci/latest`) says
            // nothing kubeharden can use.
            let plain = s.split(['-', '+']).next().unwrap_or(&s);
            Version::parse(plain).or_else(|| {
                s.rsplit('-')
                    .next()
                    .filter(|t| t.starts_with("1.") || t.starts_with("v1."))
                    .and_then(Version::parse)
            })
        }
    };
    let kubernetes_version = match kubernetes_version {
        Some(v) => Some(v),
        None => {
            // A version that is there but unreadable is an error only when it looks like one.
            if let Some(n) = croot.and_then(|c| c.get("kubernetesVersion")) {
                let s = n.as_str().unwrap_or("");
                if s.starts_with("v1.") || s.starts_with("1.") {
                    return Err(LoadError::at(
                        n,
                        format!("kubernetesVersion `{s}` is not a Kubernetes 1.x version"),
                    ));
                }
            }
            None
        }
    };

    let api_server = croot.and_then(|c| c.get("apiServer"));
    if let Some(a) = api_server {
        if !a.is_map() && !a.is_null() {
            return Err(LoadError::at(a, "`apiServer` must be a mapping"));
        }
        if a.decorated {
            return Err(LoadError::at(
                a,
                "`apiServer` carries an anchor or tag; kubeharden edits plain mappings only",
            ));
        }
    }
    // The fields of kubeadm's APIServer type (cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go,
    // v1beta4/types.go): an unknown one is an error for `kubeadm config validate`.
    if let Some(a) = api_server.filter(|a| a.is_map()) {
        let known: &[&str] = match encoding {
            ArgsEncoding::Map => &[
                "extraArgs",
                "extraVolumes",
                "certSANs",
                "timeoutForControlPlane",
            ],
            ArgsEncoding::List => &["extraArgs", "extraVolumes", "extraEnvs", "certSANs"],
        };
        for (k, _) in a.entries() {
            let key = k.as_str().unwrap_or("");
            if !known.contains(&key) {
                return Err(LoadError::at(
                    k,
                    format!(
                        "unknown field `{key}` in apiServer of {api_version} (it has {}); `kubeadm config validate` rejects it",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    let mut args = Vec::new();
    if let Some(ea) = api_server.and_then(|a| a.get("extraArgs")) {
        if ea.decorated || matches!(ea.kind, Kind::Alias) {
            return Err(LoadError::at(
                ea,
                "`extraArgs` carries an anchor, tag or alias; kubeharden edits plain values only",
            ));
        }
        match (encoding, &ea.kind) {
            (_, Kind::Scalar { .. }) if ea.is_null() => {}
            (ArgsEncoding::Map, Kind::Map { entries, .. }) => {
                for (k, v) in entries {
                    let name = string_of(k, "an extraArgs key")?;
                    let value = string_of(v, &format!("extraArgs `{name}`"))?;
                    args.push(ArgEntry {
                        name,
                        value,
                        key: k.clone(),
                        value_node: v.clone(),
                    });
                }
            }
            (ArgsEncoding::List, Kind::Seq { items, .. }) => {
                for item in items {
                    if !item.is_map() || item.decorated {
                        return Err(LoadError::at(
                            item,
                            "each v1beta4 extraArgs item is a plain mapping with `name` and `value`",
                        ));
                    }
                    let name_node = item
                        .get("name")
                        .ok_or_else(|| LoadError::at(item, "an extraArgs item has no `name`"))?;
                    let name = string_of(name_node, "an extraArgs name")?;
                    if name.is_empty() {
                        return Err(LoadError::at(
                            name_node,
                            "an extraArgs item has an empty `name`",
                        ));
                    }
                    let value_node = item.get("value").ok_or_else(|| {
                        LoadError::at(item, format!("extraArgs item `{name}` has no `value`"))
                    })?;
                    let value = string_of(value_node, &format!("extraArgs `{name}`"))?;
                    for (k, _) in item.entries() {
                        let key = k.as_str().unwrap_or("");
                        if key != "name" && key != "value" {
                            return Err(LoadError::at(
                                k,
                                format!("unknown field `{key}` in an extraArgs item (kubeadm's Arg has `name` and `value`)"),
                            ));
                        }
                    }
                    args.push(ArgEntry {
                        name,
                        value,
                        key: item.clone(),
                        value_node: value_node.clone(),
                    });
                }
            }
            (ArgsEncoding::Map, _) => {
                return Err(LoadError::at(
                    ea,
                    format!("in {api_version} `extraArgs` is a mapping of flag names to strings"),
                ))
            }
            (ArgsEncoding::List, _) => {
                return Err(LoadError::at(
                    ea,
                    format!("in {api_version} `extraArgs` is a list of `{{name, value}}` items"),
                ))
            }
        }
    }
    for a in &args {
        if a.name.starts_with('-') {
            return Err(LoadError::at(
                &a.key,
                format!(
                    "extraArgs name `{}` starts with `-`; kubeadm adds the dashes itself (it would write `--{}`)",
                    a.name, a.name
                ),
            ));
        }
    }
    let mut volumes = Vec::new();
    if let Some(ev) = api_server.and_then(|a| a.get("extraVolumes")) {
        if !ev.is_null() {
            if !ev.is_seq() || ev.decorated {
                return Err(LoadError::at(ev, "`extraVolumes` must be a plain list"));
            }
            for item in ev.items() {
                if !item.is_map() || item.decorated {
                    return Err(LoadError::at(
                        item,
                        "each extraVolumes item is a plain mapping",
                    ));
                }
                let field = |key: &str| -> Result<Option<String>, LoadError> {
                    item.get(key)
                        .map(|n| string_of(n, &format!("extraVolumes `{key}`")))
                        .transpose()
                };
                let need = |key: &str| -> Result<String, LoadError> {
                    field(key)?.ok_or_else(|| {
                        LoadError::at(item, format!("an extraVolumes item has no `{key}`"))
                    })
                };
                for (k, _) in item.entries() {
                    let key = k.as_str().unwrap_or("");
                    if !["name", "hostPath", "mountPath", "readOnly", "pathType"].contains(&key) {
                        return Err(LoadError::at(
                            k,
                            format!("unknown field `{key}` in an extraVolumes item (kubeadm's HostPathMount has name, hostPath, mountPath, readOnly, pathType)"),
                        ));
                    }
                }
                // A YAML 1.1 boolean, unquoted (a quoted "true" is a string to kubeadm).
                let read_only = match item.get("readOnly") {
                    None => false,
                    Some(n) => match (&n.kind, n.decorated) {
                        (
                            Kind::Scalar {
                                value,
                                style: Style::Plain,
                            },
                            false,
                        ) if matches!(
                            value.as_str(),
                            "true"
                                | "True"
                                | "TRUE"
                                | "yes"
                                | "Yes"
                                | "YES"
                                | "on"
                                | "On"
                                | "ON"
                                | "y"
                                | "Y"
                        ) =>
                        {
                            true
                        }
                        (
                            Kind::Scalar {
                                value,
                                style: Style::Plain,
                            },
                            false,
                        ) if matches!(
                            value.as_str(),
                            "false"
                                | "False"
                                | "FALSE"
                                | "no"
                                | "No"
                                | "NO"
                                | "off"
                                | "Off"
                                | "OFF"
                                | "n"
                                | "N"
                        ) =>
                        {
                            false
                        }
                        _ => {
                            return Err(LoadError::at(
                                n,
                                "extraVolumes `readOnly` must be an unquoted true or false",
                            ))
                        }
                    },
                };
                let path_type = field("pathType")?;
                // corev1.HostPathType.
                if let Some(t) = &path_type {
                    const TYPES: [&str; 8] = [
                        "",
                        "DirectoryOrCreate",
                        "Directory",
                        "FileOrCreate",
                        "File",
                        "Socket",
                        "CharDevice",
                        "BlockDevice",
                    ];
                    if !TYPES.contains(&t.as_str()) {
                        return Err(LoadError::at(
                            item.get("pathType").unwrap_or(item),
                            format!(
                                "extraVolumes pathType `{t}` is not a HostPathType ({})",
                                TYPES[1..].join(", ")
                            ),
                        ));
                    }
                }
                volumes.push(VolumeEntry {
                    name: need("name")?,
                    host_path: need("hostPath")?,
                    mount_path: need("mountPath")?,
                    read_only,
                    path_type,
                });
            }
        }
    }

    // What kubeadm fills in from the configuration.
    let mut vars = facts.defaults.clone();
    let text_at = |root: Option<&Node>, path: &[&str]| -> Option<String> {
        let mut n = root?;
        for p in path {
            n = n.get(p)?;
        }
        n.as_str().map(str::to_string)
    };
    let iroot = init.map(|i| &docs[i].root);
    for (var, root, path) in [
        ("certificates_dir", croot, &["certificatesDir"][..]),
        (
            "service_subnet",
            croot,
            &["networking", "serviceSubnet"][..],
        ),
        ("dns_domain", croot, &["networking", "dnsDomain"][..]),
        (
            "advertise_address",
            iroot,
            &["localAPIEndpoint", "advertiseAddress"][..],
        ),
        ("bind_port", iroot, &["localAPIEndpoint", "bindPort"][..]),
    ] {
        if let Some(v) = text_at(root, path).filter(|v| !v.is_empty()) {
            vars.insert(var.to_string(), v);
        }
    }
    let cert_dir = vars.get("certificates_dir").cloned().unwrap_or_default();
    let external = croot
        .and_then(|c| c.get("etcd"))
        .and_then(|e| e.get("external"));
    let mut extra_etcd_dirs = Vec::new();
    match external {
        Some(ext) => {
            let endpoints: Vec<String> = ext
                .get("endpoints")
                .map(|e| {
                    e.items()
                        .iter()
                        .filter_map(|i| i.as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            vars.insert("etcd_servers".into(), endpoints.join(","));
            let f = |k: &str| {
                ext.get(k)
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let (ca, cert, key) = (f("caFile"), f("certFile"), f("keyFile"));
            vars.insert("etcd_cafile".into(), ca.clone());
            let both = !cert.is_empty() && !key.is_empty();
            vars.insert(
                "etcd_certfile".into(),
                if both { cert.clone() } else { String::new() },
            );
            vars.insert(
                "etcd_keyfile".into(),
                if both { key.clone() } else { String::new() },
            );
            for f in [ca, cert, key] {
                let dir = crate::paths::parent_dir(&f);
                if !f.is_empty() && !extra_etcd_dirs.contains(&dir) {
                    extra_etcd_dirs.push(dir);
                }
            }
        }
        None => {
            vars.insert("etcd_servers".into(), "https://127.0.0.1:2379".into());
            vars.insert("etcd_cafile".into(), format!("{cert_dir}/etcd/ca.crt"));
            vars.insert(
                "etcd_certfile".into(),
                format!("{cert_dir}/apiserver-etcd-client.crt"),
            );
            vars.insert(
                "etcd_keyfile".into(),
                format!("{cert_dir}/apiserver-etcd-client.key"),
            );
        }
    }

    // The command: defaults, minus those an extra argument names, then the extra arguments.
    let has = |n: &str| args.iter().any(|a| a.name == n);
    let mut flags: Vec<Flag> = Vec::new();
    for (name, value) in &facts.apiserver_flags {
        if has(name) || (name == "authorization-mode" && has("authorization-config")) {
            continue;
        }
        let v = substitute(value, &vars);
        if v.is_empty() {
            continue;
        }
        flags.push(Flag {
            name: name.clone(),
            value: Some(v),
        });
    }
    flags.extend(args.iter().map(|a| Flag {
        name: a.name.clone(),
        value: Some(a.value.clone()),
    }));

    // Volumes: kubeadm's, with extra volumes of the same name replacing them.
    let mut vols: Vec<(String, String, bool, Option<String>)> = facts
        .apiserver_volumes
        .iter()
        .map(|(n, p)| {
            let p = substitute(p, &vars);
            (n.clone(), p, true, Some("DirectoryOrCreate".to_string()))
        })
        .collect();
    for (i, d) in extra_etcd_dirs.iter().enumerate() {
        let covered = vols
            .iter()
            .any(|(_, p, _, _)| crate::paths::path_within(d, p));
        if !covered {
            vols.push((
                format!("etcd-certs-{i}"),
                d.clone(),
                true,
                Some("DirectoryOrCreate".into()),
            ));
        }
    }
    let mut mounts = Vec::new();
    let mut volumes_model = Vec::new();
    for (name, path, ro, ty) in &vols {
        if volumes.iter().any(|v| &v.name == name) {
            continue;
        }
        mounts.push(Mount {
            name: name.clone(),
            mount_path: path.clone(),
            read_only: *ro,
            sub_path: None,
        });
        volumes_model.push(Volume {
            name: name.clone(),
            host_path: Some(path.clone()),
            path_type: ty.clone(),
        });
    }
    for v in &volumes {
        mounts.push(Mount {
            name: v.name.clone(),
            mount_path: v.mount_path.clone(),
            read_only: v.read_only,
            sub_path: None,
        });
        volumes_model.push(Volume {
            name: v.name.clone(),
            host_path: Some(v.host_path.clone()),
            path_type: v.path_type.clone(),
        });
    }
    let probes = facts
        .apiserver_probes
        .iter()
        .map(|(kind, path)| Probe {
            kind: kind.clone(),
            handler: Handler::HttpGet {
                path: Some(path.clone()),
                authenticated: false,
            },
            // kubeadm probes the advertise address (GetAPIServerProbeAddress), which the
            // model does not need.
            host: None,
        })
        .collect();
    let model = Model {
        component: COMPONENT.to_string(),
        flags,
        mounts,
        volumes: volumes_model,
        probes,
        split_flags: Vec::new(),
        env: Vec::new(),
    };
    Ok(KubeadmConfig {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        text: text.to_string(),
        docs,
        cluster,
        api_version,
        encoding,
        kubernetes_version,
        args,
        model,
        vars,
    })
}

/// kubeadm's types for the part of a ClusterConfiguration kubeharden writes, read strictly:
/// a field they do not have, or a value of the wrong type, is an error (as for
/// `kubeadm config validate`). The values are read only to check their types.
#[allow(dead_code)]
mod types {
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct HostPathMount {
        pub name: String,
        pub host_path: String,
        pub mount_path: String,
        #[serde(default)]
        pub read_only: bool,
        #[serde(default)]
        pub path_type: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Arg {
        pub name: String,
        pub value: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ApiServerV1beta3 {
        #[serde(default)]
        pub extra_args: Option<BTreeMap<String, String>>,
        #[serde(default)]
        pub extra_volumes: Option<Vec<HostPathMount>>,
        #[serde(default, rename = "certSANs")]
        pub cert_sans: Option<Vec<String>>,
        #[serde(default)]
        pub timeout_for_control_plane: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ApiServerV1beta4 {
        #[serde(default)]
        pub extra_args: Option<Vec<Arg>>,
        #[serde(default)]
        pub extra_volumes: Option<Vec<HostPathMount>>,
        #[serde(default)]
        pub extra_envs: Option<Vec<serde_json::Value>>,
        #[serde(default, rename = "certSANs")]
        pub cert_sans: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", bound(deserialize = "A: Deserialize<'de>"))]
    pub struct Cluster<A> {
        pub api_version: String,
        pub kind: String,
        #[serde(default)]
        pub kubernetes_version: Option<String>,
        #[serde(default = "none")]
        pub api_server: Option<A>,
    }

    fn none<A>() -> Option<A> {
        None
    }
}

/// Reads every ClusterConfiguration document of `text` with kubeadm's types for the fields
/// kubeharden writes.
pub fn validate_types(text: &str) -> Result<(), String> {
    let docs = yaml::parse(text).map_err(|e| e.to_string())?;
    for d in &docs {
        let (Some(api), Some("ClusterConfiguration")) = doc_kind(&d.root) else {
            continue;
        };
        // To the end of the document's last line (an empty last value ends before its `:`).
        let end =
            yaml::line_end_inclusive(text, d.root.content_end().max(d.root.span.start + 1) - 1);
        let src = &text[d.root.span.start..end.max(d.root.span.start)];
        let r = if api.ends_with("/v1beta4") {
            yaml_serde::from_str::<types::Cluster<types::ApiServerV1beta4>>(src).map(|_| ())
        } else {
            yaml_serde::from_str::<types::Cluster<types::ApiServerV1beta3>>(src).map(|_| ())
        };
        r.map_err(|e| {
            format!("the ClusterConfiguration does not read as kubeadm's {api} type: {e}")
        })?;
    }
    Ok(())
}

/// Parses `text` and loads it when it is a kubeadm configuration file; `None` when it is not.
pub fn try_load(text: &str, facts: &Facts) -> Option<Result<KubeadmConfig, LoadError>> {
    let docs = yaml::parse(text).ok()?;
    if !is_kubeadm(&docs) {
        return None;
    }
    Some(load(text, docs, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts::builtin().expect("facts")
    }

    const V1BETA3: &str = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.5\n  bindPort: 6444\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\napiServer:\n  extraArgs:\n    profiling: \"false\"\n    authorization-config: /etc/kubernetes/authz.yaml\n  extraVolumes:\n  - name: authz\n    hostPath: /etc/kubernetes/authz.yaml\n    mountPath: /etc/kubernetes/authz.yaml\n    readOnly: true\n    pathType: File\n";

    #[test]
    fn builds_the_command_kubeadm_would_write() {
        let c = try_load(V1BETA3, &facts())
            .expect("kubeadm")
            .expect("loads");
        assert_eq!(c.encoding, ArgsEncoding::Map);
        assert_eq!(c.kubernetes_version.map(|v| v.minor), Some(30));
        let m = &c.model;
        assert_eq!(m.value("profiling").as_deref(), Some("false"));
        assert_eq!(m.value("advertise-address").as_deref(), Some("10.0.0.5"));
        assert_eq!(m.value("secure-port").as_deref(), Some("6444"));
        assert!(
            !m.present("authorization-mode"),
            "authorization-config replaces it"
        );
        assert_eq!(
            m.value("etcd-cafile").as_deref(),
            Some("/etc/kubernetes/pki/etcd/ca.crt")
        );
        assert!(m.mount_covering("/etc/kubernetes/authz.yaml").is_some());
        assert!(m.mount_covering("/etc/kubernetes/pki/ca.crt").is_some());
    }

    #[test]
    fn v1beta4_lists_and_refusals() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - name: audit-log-maxage\n    value: \"30\"\n  - name: profiling\n    value: \"false\"\n";
        let c = try_load(text, &facts()).expect("kubeadm").expect("loads");
        assert_eq!(c.encoding, ArgsEncoding::List);
        assert_eq!(c.args.len(), 2);
        assert_eq!(c.model.value("audit-log-maxage").as_deref(), Some("30"));
        let bad = text.replace("value: \"30\"", "value: 30");
        let e = try_load(&bad, &facts())
            .expect("kubeadm")
            .expect_err("not a string");
        assert!(e.message.contains("not a string"), "{}", e.message);
        let twice = format!("{text}---\n{text}");
        let e = try_load(&twice, &facts())
            .expect("kubeadm")
            .expect_err("twice");
        assert!(e.message.contains("twice"), "{}", e.message);
        assert!(try_load("apiVersion: v1\nkind: Pod\n", &facts()).is_none());
    }

    #[test]
    fn kubeadm_types_read_strictly() {
        let ok = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - name: a\n    value: \"1\"\n  extraVolumes:\n  - name: v\n    hostPath: /x\n    mountPath: /x\n    readOnly: true\n";
        validate_types(ok).expect("valid");
        let unknown = ok.replace("readOnly: true", "readOnly: true\n    mode: 3");
        assert!(validate_types(&unknown).is_err());
        let typed = ok.replace("readOnly: true", "readOnly: \"yes\"");
        assert!(validate_types(&typed).is_err());
        let v3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n    profiling: \"false\"\n  timeoutForControlPlane: 4m0s\n";
        validate_types(v3).expect("valid v1beta3");
        // (A plain `false` where a string belongs reads as "false" here; `load` refuses it.)
        assert!(validate_types(&v3.replace("v1beta3", "v1beta4")).is_err());
    }

    #[test]
    fn api_versions_per_kubeadm_release() {
        let f = facts();
        let v = |m| Version {
            minor: m,
            patch: None,
        };
        assert!(f.api_rejected("kubeadm.k8s.io/v1beta2", v(26)).is_none());
        assert!(f.api_rejected("kubeadm.k8s.io/v1beta2", v(27)).is_some());
        assert!(f.api_rejected("kubeadm.k8s.io/v1beta3", v(35)).is_none());
        assert!(f.api_rejected("kubeadm.k8s.io/v1beta4", v(30)).is_some());
        assert!(f.api_rejected("kubeadm.k8s.io/v1beta4", v(31)).is_none());
    }
}
