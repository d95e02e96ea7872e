//! The lifecycle registry (`profiles/registry.yaml`): for each component, the flags and
//! settings kubeharden knows with their types and the versions that accept them; admission
//! plugins, feature gates, value sets and what kubeharden knows of each component besides.

use super::builtin::REGISTRY_YAML;
use super::error::{yaml_err, ProfileError};
use super::kubeadm::Facts;
use super::version::Version;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagType {
    Bool,
    String,
    Int,
    List,
    /// One value per occurrence, repeatable (pflag StringArray and the like).
    Array,
    /// `key=value` pairs, comma-separated; repeated occurrences merge.
    Map,
    File,
    Files,
    Logpath,
}

impl FlagType {
    pub fn references_file(self) -> bool {
        matches!(self, FlagType::File | FlagType::Files | FlagType::Logpath)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    #[serde(rename = "type")]
    pub kind: FlagType,
    #[serde(default)]
    pub(crate) since: Option<u32>,
    #[serde(default)]
    pub(crate) removed: Option<u32>,
    /// The release that deprecated the flag: documentation in the data, not used by the code.
    #[serde(default, rename = "deprecated")]
    pub(crate) _deprecated: Option<u32>,
    /// Flags the component refuses to start with alongside this one.
    #[serde(default)]
    pub(crate) conflicts_with: Vec<String>,
    /// The values are admission plugin names (checked against `admission_plugins`).
    #[serde(default)]
    pub(crate) names_admission_plugins: bool,
    /// A `key=value` map of feature gates (checked against `feature_gates`).
    #[serde(default)]
    pub(crate) names_feature_gates: bool,
    /// Where the facts come from: required in the data, for its reviewers.
    #[serde(rename = "source")]
    pub(crate) _source: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    #[serde(default)]
    pub(crate) since: Option<u32>,
    #[serde(default)]
    pub(crate) removed: Option<u32>,
    /// Where the facts come from: required in the data, for its reviewers.
    #[serde(rename = "source")]
    pub(crate) _source: String,
}

impl Lifecycle {
    pub fn accepted_in(&self, v: Version) -> bool {
        v.within(self.since, self.removed)
    }
}

/// A component's flags, listed in name order and looked up by hash: the checker looks flags up
/// many times for every file it reads.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlagTable {
    sorted: BTreeMap<String, FlagSpec>,
    index: HashMap<String, FlagSpec, FxLike>,
}

impl From<BTreeMap<String, FlagSpec>> for FlagTable {
    fn from(sorted: BTreeMap<String, FlagSpec>) -> Self {
        let index = sorted.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        FlagTable { sorted, index }
    }
}

impl<'de> Deserialize<'de> for FlagTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, FlagSpec>::deserialize(d).map(FlagTable::from)
    }
}

impl FlagTable {
    pub(crate) fn get(&self, name: &str) -> Option<&FlagSpec> {
        self.index.get(name)
    }

    /// The flags in name order.
    pub(crate) fn iter(&self) -> std::collections::btree_map::Iter<'_, String, FlagSpec> {
        self.sorted.iter()
    }
}

impl<'a> IntoIterator for &'a FlagTable {
    type Item = (&'a String, &'a FlagSpec);
    type IntoIter = std::collections::btree_map::Iter<'a, String, FlagSpec>;
    fn into_iter(self) -> Self::IntoIter {
        self.sorted.iter()
    }
}

/// A multiply-rotate hash over eight bytes at a time (as rustc's FxHasher): flag names are short,
/// and the standard hasher's protection against chosen keys buys nothing for a table built
/// from kubeharden's own data.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxLike(u64);

impl FxLike {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for FxLike {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
}

impl std::hash::BuildHasher for FxLike {
    type Hasher = FxLike;
    fn build_hasher(&self) -> FxLike {
        FxLike(0)
    }
}

impl FlagSpec {
    pub fn accepted_in(&self, v: Version) -> bool {
        v.within(self.since, self.removed)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiVersionStep {
    pub(crate) since: u32,
    pub(crate) value: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionBounds {
    pub oldest: u32,
    pub newest: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub versions: VersionBounds,
    pub(crate) flags: BTreeMap<String, FlagTable>,
    pub admission_plugins: BTreeMap<String, Lifecycle>,
    #[serde(default)]
    pub(crate) config_api_versions: BTreeMap<String, Vec<ApiVersionStep>>,
    /// Accepted values of some flags, with the versions that accept them.
    #[serde(default)]
    pub(crate) value_sets: BTreeMap<String, Vec<KnownValue>>,
    /// Settings that take the values of another's set (the kubelet's `tlsCipherSuites` those
    /// of `tls-cipher-suites`).
    #[serde(default)]
    pub(crate) value_set_aliases: BTreeMap<String, String>,
    /// What kubeharden knows about each component besides its flags.
    #[serde(default)]
    pub(crate) components: BTreeMap<String, ComponentSpec>,
    /// Feature gates kubeharden reads or removes, with the versions that know them.
    #[serde(default)]
    pub(crate) feature_gates: BTreeMap<String, Lifecycle>,
    /// What kubeadm makes of its configuration (`profiles/kubeadm.yaml`).
    #[serde(skip)]
    pub kubeadm: Facts,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// Environment variables `<prefix><FLAG>` set flags the command line leaves unset.
    #[serde(default)]
    pub(crate) env_prefix: Option<String>,
    /// The image tag is a Kubernetes version (etcd's image carries etcd's own).
    #[serde(default = "yes")]
    pub(crate) image_is_kubernetes: bool,
    /// A flag that makes the component ignore its other flags and environment (etcd's
    /// `--config-file`): with it set, kubeharden edits nothing.
    #[serde(default)]
    pub(crate) overriding_flag: Option<String>,
    /// The `kind` of the configuration file that configures this component, when it is one
    /// (KubeletConfiguration), with the API versions it is read in.
    #[serde(default)]
    pub(crate) config_kind: Option<String>,
    #[serde(default)]
    pub(crate) api_versions: Vec<KnownValue>,
    /// The flag naming a configuration file the component reads (kube-scheduler's `config`),
    /// which a node scan checks too.
    #[serde(default)]
    pub(crate) config_flag: Option<String>,
    /// The component (of this registry) that file configures: its kind and rules.
    #[serde(default)]
    pub(crate) config_file: Option<String>,
    /// The component reads `-name` like `--name` (Go's `flag` package); pflag, which every
    /// Kubernetes component uses, reads it as one-letter flags.
    #[serde(default)]
    pub(crate) single_dash_flags: bool,
    /// How to restart the component after its configuration changed, when the component does
    /// not notice by itself (the kubelet restarts static pods when their manifest changes).
    #[serde(default)]
    pub(crate) restart: Option<String>,
    /// Where the facts come from: required in the data, for its reviewers.
    #[serde(rename = "source")]
    pub(crate) _source: String,
}

fn yes() -> bool {
    true
}

/// A value (of a flag, or a configuration API version) with the releases that accept it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KnownValue {
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) since: Option<u32>,
    #[serde(default)]
    pub(crate) removed: Option<u32>,
}

impl Registry {
    /// Values of `flag` (one value, or the items of a list) that Kubernetes `v` rejects,
    /// or that are unknown altogether (with `v` = None: unknown in every version).
    pub(crate) fn rejected_values(
        &self,
        flag: &str,
        value: &str,
        v: Option<Version>,
    ) -> Vec<String> {
        let name = self
            .value_set_aliases
            .get(flag)
            .map_or(flag, String::as_str);
        let Some(set) = self.value_sets.get(name) else {
            return Vec::new();
        };
        value
            .split(',')
            .filter(|item| {
                !set.iter()
                    .any(|k| k.value == *item && v.is_none_or(|v| v.within(k.since, k.removed)))
            })
            .map(str::to_string)
            .collect()
    }
}

impl Registry {
    pub fn builtin() -> Result<Registry, ProfileError> {
        let mut r: Registry = yaml_serde::from_str(REGISTRY_YAML)
            .map_err(|e| yaml_err("profiles/registry.yaml", e))?;
        r.kubeadm = Facts::builtin().map_err(|message| ProfileError::Invalid {
            origin: "profiles/kubeadm.yaml".into(),
            message,
        })?;
        Ok(r)
    }

    pub fn flag(&self, component: &str, name: &str) -> Option<&FlagSpec> {
        self.flags.get(component).and_then(|m| m.get(name))
    }

    /// The flags of `component` whose values name admission plugins.
    pub(crate) fn plugin_list_flags<'a>(
        &'a self,
        component: &str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.flags
            .get(component)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, s)| s.names_admission_plugins)
            .map(|(n, _)| n.as_str())
    }

    pub(crate) fn env_prefix(&self, component: &str) -> Option<&str> {
        self.components
            .get(component)
            .and_then(|c| c.env_prefix.as_deref())
    }

    /// The component configured by files of `kind`, with its spec.
    pub(crate) fn config_component(&self, kind: &str) -> Option<(&str, &ComponentSpec)> {
        self.components
            .iter()
            .find(|(_, c)| c.config_kind.as_deref() == Some(kind))
            .map(|(n, c)| (n.as_str(), c))
    }

    pub(crate) fn single_dash_flags(&self, component: &str) -> bool {
        self.components
            .get(component)
            .is_some_and(|c| c.single_dash_flags)
    }

    /// Whether the component's image tag names the Kubernetes version.
    pub(crate) fn image_is_kubernetes(&self, component: &str) -> bool {
        self.components
            .get(component)
            .is_none_or(|c| c.image_is_kubernetes)
    }

    pub(crate) fn names_plugins(&self, component: &str, flag: &str) -> bool {
        self.flag(component, flag)
            .is_some_and(|s| s.names_admission_plugins)
    }

    pub(crate) fn newest(&self) -> Version {
        Version::minor(self.versions.newest)
    }

    /// The version `v` is judged as: itself, or for a release newer than the newest kubeharden
    /// knows, that newest one (docs/versions.md): what it accepts counts as accepted, and
    /// nothing it does not accept is written.
    pub(crate) fn judged(&self, v: Version) -> Version {
        if v.minor > self.versions.newest {
            self.newest()
        } else {
            v
        }
    }

    /// What a run says, once, when it meets Kubernetes `v` newer than the newest it knows.
    pub(crate) fn newer_note(&self, v: Version) -> Option<String> {
        let newest = self.newest();
        (v.minor > newest.minor).then(|| {
            format!(
                "Kubernetes 1.{} is newer than {newest}, the newest version kubeharden knows: it is judged as {newest} (what {newest} accepts counts as accepted, and nothing {newest} does not accept is written); flags, plugins and gates that 1.{} added or removed are not known",
                v.minor, v.minor
            )
        })
    }

    /// The apiVersion a configuration kind has in Kubernetes `v`, newest first.
    pub(crate) fn api_version(&self, kind: &str, v: Version) -> Option<&str> {
        self.config_api_versions
            .get(kind)?
            .iter()
            .filter(|s| v.minor >= s.since)
            .max_by_key(|s| s.since)
            .map(|s| s.value.as_str())
    }
}
