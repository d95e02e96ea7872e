//! A loaded kubeadm configuration file: its documents, the `apiServer` extra arguments and
//! volumes with their spans, and the kube-apiserver model kubeadm would generate from them.

use crate::document::component::Filled;
use crate::model::Model;
use crate::profile::kubeadm::Facts;
use crate::profile::version::Version;
use crate::yaml::{self, Node};
use std::collections::BTreeMap;

pub(crate) const GROUP: &str = "kubeadm.k8s.io";

/// The encoding of `extraArgs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgsEncoding {
    /// v1beta2 and v1beta3: a map of flag name to string.
    Map,
    /// v1beta4: a list of `{name, value}`, names may repeat.
    List,
}

impl ArgsEncoding {
    /// The encoding of `extraArgs` in the kubeadm API `api` (v1beta4 made it a list).
    pub(crate) fn of(api: &str) -> ArgsEncoding {
        if api.ends_with("/v1beta4") {
            ArgsEncoding::List
        } else {
            ArgsEncoding::Map
        }
    }
}

/// One `extraArgs` entry.
#[derive(Clone, Debug)]
pub(crate) struct ArgEntry {
    pub(crate) name: String,
    pub(crate) value: String,
    /// The map key (Map) or the list item (List).
    pub(crate) key: Node,
    /// The value scalar.
    pub(crate) value_node: Node,
}

/// One `extraVolumes` entry.
#[derive(Clone, Debug)]
pub(crate) struct VolumeEntry {
    pub(crate) name: String,
    pub(crate) host_path: String,
    pub(crate) mount_path: String,
    pub(crate) read_only: bool,
    pub(crate) path_type: Option<String>,
}

#[derive(Debug)]
pub struct KubeadmConfig {
    pub(crate) text: String,
    pub(crate) docs: Vec<yaml::Document>,
    /// The ClusterConfiguration document, if the file has one.
    pub cluster: Option<usize>,
    /// The kubeadm API version of the file's kubeadm documents.
    pub api_version: String,
    pub(crate) encoding: ArgsEncoding,
    /// `kubernetesVersion` of the ClusterConfiguration.
    pub kubernetes_version: Option<Version>,
    pub(crate) args: Vec<ArgEntry>,
    /// The kube-apiserver manifest kubeadm would generate, as kubeharden models manifests.
    pub model: Model,
    /// `\r\n` when the file uses CRLF line endings.
    pub(crate) newline: &'static str,
    /// What kubeadm fills in from the configuration (`certificates_dir`, ...).
    pub(crate) vars: BTreeMap<String, String>,
    /// `patches.directory` of the InitConfiguration or JoinConfiguration (v1beta3 and later).
    pub(crate) patches_dir: Option<String>,
    /// The kube-apiserver probes once kubeadm's patches are applied, when they were read
    /// (`patch.rs`); kept for the model of the edited file.
    pub(crate) patched_probes: Option<Vec<crate::model::Probe>>,
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

    pub(crate) fn cluster_root(&self) -> Option<&Node> {
        self.cluster.map(|i| &self.docs[i].root)
    }

    pub(crate) fn api_server(&self) -> Option<&Node> {
        self.cluster_root().and_then(|c| c.get("apiServer"))
    }
}

pub(super) fn substitute(template: &str, vars: &BTreeMap<String, String>) -> String {
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
