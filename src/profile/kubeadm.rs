//! What kubeadm makes of its configuration: the API versions each release reads, the defaults
//! it fills in, and the kube-apiserver flags, volumes and probes it writes (`profiles/kubeadm.yaml`).

use super::builtin::{read, KUBEADM_FACTS};
use super::error::ProfileError;
use super::version::Version;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiRange {
    pub(crate) since: u32,
    #[serde(default)]
    pub(crate) removed: Option<u32>,
    /// The Init and Join configurations have `patches.directory`.
    #[serde(default)]
    pub(crate) patches: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    pub(crate) api_versions: BTreeMap<String, ApiRange>,
    pub(crate) defaults: BTreeMap<String, String>,
    pub(crate) apiserver_flags: Vec<(String, String)>,
    pub(crate) apiserver_volumes: Vec<(String, String)>,
    pub(crate) apiserver_probes: BTreeMap<String, String>,
    /// `generate kubeadm`'s settings and their defaults.
    pub(crate) generate_settings: BTreeMap<String, String>,
    /// What kubeadm fills into the KubeletConfiguration where the document leaves it unset,
    /// by setting path (`${...}` from the ClusterConfiguration).
    #[serde(default)]
    pub(crate) kubelet_defaults: BTreeMap<String, String>,
    /// What kubeadm writes into the KubeletConfiguration whatever the document says.
    #[serde(default)]
    pub(crate) kubelet_forced: BTreeMap<String, String>,
}

impl Facts {
    /// The facts in `profiles/kubeadm.yaml`.
    pub(crate) fn builtin() -> Result<Facts, ProfileError> {
        read("profiles/kubeadm.yaml", KUBEADM_FACTS)
    }

    /// The API's Init and Join configurations cannot name a patches directory.
    pub(crate) fn api_version_lacks_patches(&self, api_version: &str) -> bool {
        !self
            .api_versions
            .get(api_version)
            .is_some_and(|r| r.patches)
    }

    /// Why kubeadm `v` does not take `api_version`, if it does not.
    pub fn api_rejected(&self, api_version: &str, v: Version) -> Option<String> {
        let Some(r) = self.api_versions.get(api_version) else {
            return Some(format!(
                "{api_version} is not a kubeadm configuration API kubeharden knows (it reads {})",
                self.api_versions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if v.minor < r.since {
            return Some(format!(
                "kubeadm {v} does not accept {api_version}, which kubeadm 1.{} introduced",
                r.since
            ));
        }
        if let Some(gone) = r.removed {
            if v.minor >= gone {
                let how = if api_version.ends_with("/v1beta3") {
                    "`kubeharden migrate kubeadm FILE --to v1beta4` converts the file and keeps its comments"
                } else {
                    "convert the file with `kubeadm config migrate` of a kubeadm that still reads it"
                };
                return Some(format!(
                    "kubeadm 1.{gone} and later no longer accept {api_version}; {how}"
                ));
            }
        }
        None
    }
}
