//! A loaded component configuration file, and the values others fill into it.

use crate::model::Model;
use crate::yaml::Node;

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

impl ComponentConfig {
    /// The same document as part of a kubeadm configuration file.
    pub(crate) fn embedded(self) -> ComponentConfig {
        ComponentConfig {
            embedded: true,
            ..self
        }
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
