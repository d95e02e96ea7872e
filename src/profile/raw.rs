//! Profile files as written: read strictly (an unknown key is an error with its line), before
//! they are validated into rules.

use super::rule::{ProbeFix, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    pub(super) name: String,
    pub(super) description: String,
    #[serde(default)]
    pub(super) extends: Option<String>,
    #[serde(default)]
    pub(super) parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) disable: Vec<String>,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
    #[serde(default)]
    pub(super) files: Vec<RawFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) flag: String,
    pub(super) template: String,
    pub(super) description: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) id: String,
    pub(super) component: String,
    #[serde(default)]
    pub(super) cis: Vec<String>,
    pub(super) severity: Severity,
    pub(super) title: String,
    pub(super) rationale: String,
    pub(super) risk: String,
    #[serde(default)]
    pub(super) versions: Option<String>,
    pub(super) check: RawCond,
    #[serde(default)]
    pub(super) fix: Vec<RawVariant>,
    #[serde(default)]
    pub(super) manual: Option<String>,
    #[serde(default)]
    pub(super) applicability: Option<RawApplicability>,
}

/// A fix that can stop a component or lock someone out when a precondition does not hold.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplicability {
    /// What can go wrong, in one line.
    pub(super) risky: String,
    /// What makes it safe, in one line.
    pub(super) precondition: String,
    /// When the file itself shows the precondition holds.
    #[serde(default)]
    pub(super) safe_when: Option<RawCond>,
    /// What to read on the node to see whether the precondition holds.
    #[serde(default)]
    pub(super) on_node: Option<RawNodeCheck>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNodeCheck {
    /// Kernel settings (`vm.overcommit_memory`) and the value wanted: `"1"`, or `">=1000000"`.
    #[serde(default)]
    pub(super) sysctls: Option<std::collections::BTreeMap<String, String>>,
    /// The flag naming the CA this node's kubelet serving certificate must be signed by.
    #[serde(default)]
    pub(super) kubelet_serving_signed_by: Option<String>,
    /// The flag naming the CA that signed a kubelet-serving certificate issued to this node
    /// before (evidence that such requests get approved).
    #[serde(default)]
    pub(super) serving_approved_before: Option<String>,
    /// An administrator credential that must remain.
    #[serde(default)]
    pub(super) admin_credential: Option<RawAdminCredential>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdminCredential {
    pub(super) ca_flag: String,
    #[serde(default)]
    pub(super) groups: Vec<String>,
}

/// Every key may be left out.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawCond {
    pub(super) flag: Option<String>,
    pub(super) equals: Option<String>,
    pub(super) one_of: Option<Vec<String>>,
    pub(super) present: Option<bool>,
    pub(super) absent: Option<bool>,
    pub(super) contains: Option<Vec<String>>,
    pub(super) excludes: Option<Vec<String>>,
    pub(super) at_least: Option<i64>,
    pub(super) subset_of: Option<Vec<String>>,
    pub(super) gate_off: Option<String>,
    pub(super) any: Option<Vec<RawCond>>,
    pub(super) all: Option<Vec<RawCond>>,
    pub(super) no_removed_flags: Option<bool>,
    pub(super) no_removed_plugins: Option<bool>,
    pub(super) probes_without_anonymous: Option<bool>,
    pub(super) no_duplicate_flags: Option<bool>,
    pub(super) files_mounted: Option<bool>,
    pub(super) no_conflicting_flags: Option<bool>,
    pub(super) no_split_flags: Option<bool>,
    pub(super) version_at_least: Option<String>,
    pub(super) not: Option<Box<RawCond>>,
    pub(super) http_probes_within: Option<Vec<String>>,
    pub(super) http_probes_on_local_host: Option<bool>,
    pub(super) no_env_conflicts: Option<bool>,
    pub(super) no_removed_gates: Option<bool>,
    pub(super) existing_cluster: Option<bool>,
    pub(super) config_api_read: Option<bool>,
    pub(super) exec_http_probes: Option<bool>,
    pub(super) file_mode: Option<RawFileMode>,
    pub(super) file_owner: Option<RawFileOwner>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFileMode {
    pub(super) file: String,
    /// Octal, as kube-bench writes it (`"600"`).
    pub(super) at_most: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFileOwner {
    pub(super) file: String,
    pub(super) owner: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    #[serde(default)]
    pub(super) versions: Option<String>,
    #[serde(default)]
    pub(super) unless: Option<RawCond>,
    /// Why the fix is left out when `unless` holds.
    #[serde(default)]
    pub(super) because: Option<String>,
    /// More conditions that rule the variant out, each with its own reason.
    #[serde(default)]
    pub(super) refuse: Vec<RawRefusal>,
    pub(super) steps: Vec<RawStep>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRefusal {
    pub(super) when: RawCond,
    pub(super) because: String,
}

/// Every key may be left out.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) set: Option<RawSet>,
    pub(super) remove: Option<String>,
    pub(super) add_to_list: Option<RawList>,
    pub(super) remove_from_list: Option<RawList>,
    pub(super) remove_keys: Option<RawList>,
    pub(super) probes: Option<ProbeFix>,
    pub(super) remove_removed: Option<bool>,
    pub(super) dedupe: Option<bool>,
    pub(super) mount_files: Option<bool>,
    pub(super) join_split: Option<bool>,
    pub(super) chmod: Option<bool>,
    pub(super) chown: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSet {
    pub(super) flag: String,
    #[serde(default)]
    pub(super) value: Option<String>,
    /// Take the value from another flag of the manifest (`value_from: client-ca-file`).
    #[serde(default)]
    pub(super) value_from: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawList {
    pub(super) flag: String,
    pub(super) items: Vec<String>,
}
