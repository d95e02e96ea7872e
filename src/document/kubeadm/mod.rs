//! Loads a kubeadm configuration file: finds the ClusterConfiguration among its documents,
//! reads `apiServer.extraArgs` and `apiServer.extraVolumes` with their spans, and builds the
//! model of the kube-apiserver manifest kubeadm would generate from it (kubeadm's defaults,
//! replaced by name by the extra arguments), which the profiles are checked against.

mod config;
mod edit;
mod load;
pub mod migrate;
pub(crate) mod patch;

pub use config::KubeadmConfig;
pub(crate) use config::{ArgsEncoding, GROUP};
pub use load::{is_kubeadm, load, try_load, validate_types};

use super::component::{self};
use crate::check::suppress::Target;
use crate::check::Env;
use crate::document::kind::{has_bare_cr, version_range, Document, LoadError, Part, BARE_CR};
use crate::edit::{EditError, Splice};
use crate::model::change::Change;
use crate::model::report::{Region, VersionSource, COMPONENT};
use crate::model::Model;
use crate::plan::Plan;
use crate::profile::version::Version;
use crate::profile::Registry;
use crate::verify::Nouns;
use crate::yaml::compare::value_of;
use crate::yaml::{self, Node};
use serde_json::Value;

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
        let mut model = after.model;
        if let Some(p) = &self.patched_probes {
            model.probes.clone_from(p);
        }
        Ok(model)
    }

    fn text(&self) -> &str {
        &self.text
    }

    /// Where a finding points: the extraArgs entry of its flag, else `apiServer`, else the
    /// ClusterConfiguration, else the start of the file.
    /// The region covers the whole entry (`name: value`, or the `{name, value}` item), or the
    /// `apiServer` key, or the ClusterConfiguration's first key, or the first line of the file.
    fn locate(&self, flag: Option<&str>) -> Region {
        let text = &self.text;
        if let Some(a) = flag.and_then(|f| self.args.iter().find(|a| a.name == f)) {
            let end = a.key.content_end().max(a.value_node.span.end);
            return Region::of(text, a.key.span.start, end);
        }
        if let Some(c) = self.cluster_root() {
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

    fn model(&self) -> &Model {
        &self.model
    }

    fn edits(&self, plan: &Plan, _registry: &Registry) -> Result<Vec<Splice>, EditError> {
        edit::edits(self, plan)
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

    /// The newest version whose kubeadm still reads the file's API version (1.36 for v1beta3,
    /// which kubeadm 1.37 no longer accepts).
    fn assumed_version(&self, registry: &Registry) -> Version {
        let newest = registry.newest();
        match registry.kubeadm.api_versions.get(&self.api_version) {
            Some(r) => match r.removed {
                Some(gone) if gone <= newest.minor && gone > r.since => Version::minor(gone - 1),
                _ => newest,
            },
            None => newest,
        }
    }

    fn assumed_note(&self, v: Version, registry: &Registry) -> String {
        if v == registry.newest() {
            format!("no kubernetesVersion in a ClusterConfiguration and no --kubernetes-version: assuming {v}, the newest kubeharden knows")
        } else {
            format!(
                "no kubernetesVersion in a ClusterConfiguration and no --kubernetes-version: assuming {v}, the newest kubeadm that reads {}",
                self.api_version
            )
        }
    }

    fn refusals(&self, env: Env, _source: VersionSource, notes: &mut Vec<String>) -> Vec<String> {
        let mut cannot = env
            .registry
            .kubeadm
            .api_rejected(&self.api_version, env.version);
        let old = version_range(env, notes);
        cannot = cannot.or(old);
        if has_bare_cr(&self.text) {
            cannot.get_or_insert(BARE_CR.into());
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

    fn patches_dir(&self) -> Option<&str> {
        self.patches_dir.as_deref()
    }

    fn take_patches(&mut self, patches: &[(String, String)]) -> Result<(), String> {
        let port = self
            .model
            .value("secure-port")
            .unwrap_or_else(|| "6443".into());
        let probes = patch::patched_probes(&self.model, patches, &port)?;
        self.model.probes.clone_from(&probes);
        self.patched_probes = Some(probes);
        Ok(())
    }

    /// The file's KubeletConfiguration, with what kubeadm fills in where it is silent: checked
    /// and edited like the kubelet's own file, after the ClusterConfiguration's edits.
    fn next_part(
        &self,
        text: &str,
        registry: &Registry,
    ) -> Result<Option<Box<dyn Part>>, LoadError> {
        let defaults = self.kubelet_defaults(&registry.kubeadm);
        let docs = yaml::parse(text).map_err(LoadError::from)?;
        let found = component::find(text, docs, registry, component::KIND, &defaults)?;
        Ok(found.map(|c| Box::new(c.embedded()) as Box<dyn Part>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::kubeadm::Facts;
    use config::ArgsEncoding;

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
