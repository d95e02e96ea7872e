//! Profiles and the lifecycle registry: rule data read strictly from YAML, then validated into
//! the types the checker uses. Built-in profiles are compiled into the binary.

pub(crate) mod kubeadm;
pub(crate) mod values;
pub mod version;

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use version::{Version, VersionReq};

const REGISTRY_YAML: &str = include_str!("../../profiles/registry.yaml");

/// Built-in profiles: (name, source text).
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../../profiles/baseline.yaml")),
    ("strict", include_str!("../../profiles/strict.yaml")),
];

/// Templates for the supporting files flags refer to: (name, source text).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    (
        "audit-policy",
        include_str!("../../profiles/templates/audit-policy.yaml"),
    ),
    (
        "admission-config",
        include_str!("../../profiles/templates/admission-config.yaml"),
    ),
    (
        "authentication-config",
        include_str!("../../profiles/templates/authentication-config.yaml"),
    ),
    (
        "kubeadm-config",
        include_str!("../../profiles/templates/kubeadm-config.yaml"),
    ),
    (
        "kubeadm-probe-patch",
        include_str!("../../profiles/templates/kubeadm-probe-patch.yaml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{origin}:{line}:{column}: {message}")]
    At {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{0}: cannot read profile: {1}")]
    Io(String, std::io::Error),
    #[error("unknown profile `{0}` (built-in profiles: baseline, strict; or give a path to a profile file)")]
    Unknown(String),
}

fn yaml_err(origin: &str, e: yaml_serde::Error) -> ProfileError {
    let message = e.to_string();
    // The library appends " at line L column C" to its messages; keep the message plain
    // and put the position in front, the way every other error of ours reads.
    let plain = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    match e.location() {
        Some(loc) => ProfileError::At {
            origin: origin.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: plain,
        },
        None => ProfileError::Invalid {
            origin: origin.to_string(),
            message,
        },
    }
}

// ---------------------------------------------------------------- registry

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
        self.since.is_none_or(|s| v.minor >= s) && self.removed.is_none_or(|r| v.minor < r)
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
        self.since.is_none_or(|s| v.minor >= s) && self.removed.is_none_or(|r| v.minor < r)
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
    pub kubeadm: kubeadm::Facts,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentSpec {
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
    pub(crate) api_versions: Vec<ApiVersionRange>,
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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiVersionRange {
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) since: Option<u32>,
    #[serde(default)]
    pub(crate) removed: Option<u32>,
}

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
                !set.iter().any(|k| {
                    k.value == *item
                        && v.is_none_or(|v| {
                            k.since.is_none_or(|s| v.minor >= s)
                                && k.removed.is_none_or(|r| v.minor < r)
                        })
                })
            })
            .map(str::to_string)
            .collect()
    }
}

impl Registry {
    pub fn builtin() -> Result<Registry, ProfileError> {
        let mut r: Registry = yaml_serde::from_str(REGISTRY_YAML)
            .map_err(|e| yaml_err("profiles/registry.yaml", e))?;
        r.kubeadm = kubeadm::Facts::builtin().map_err(|message| ProfileError::Invalid {
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

// ---------------------------------------------------------------- profile files (raw)

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    description: String,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    files: Vec<RawFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    flag: String,
    template: String,
    description: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    component: String,
    #[serde(default)]
    cis: Vec<String>,
    severity: Severity,
    title: String,
    rationale: String,
    risk: String,
    #[serde(default)]
    versions: Option<String>,
    check: RawCond,
    #[serde(default)]
    fix: Vec<RawVariant>,
    #[serde(default)]
    manual: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCond {
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    equals: Option<String>,
    #[serde(default)]
    one_of: Option<Vec<String>>,
    #[serde(default)]
    present: Option<bool>,
    #[serde(default)]
    absent: Option<bool>,
    #[serde(default)]
    contains: Option<Vec<String>>,
    #[serde(default)]
    excludes: Option<Vec<String>>,
    #[serde(default)]
    at_least: Option<i64>,
    #[serde(default)]
    subset_of: Option<Vec<String>>,
    #[serde(default)]
    gate_off: Option<String>,
    #[serde(default)]
    any: Option<Vec<RawCond>>,
    #[serde(default)]
    all: Option<Vec<RawCond>>,
    #[serde(default)]
    no_removed_flags: Option<bool>,
    #[serde(default)]
    no_removed_plugins: Option<bool>,
    #[serde(default)]
    probes_without_anonymous: Option<bool>,
    #[serde(default)]
    no_duplicate_flags: Option<bool>,
    #[serde(default)]
    files_mounted: Option<bool>,
    #[serde(default)]
    no_conflicting_flags: Option<bool>,
    #[serde(default)]
    no_split_flags: Option<bool>,
    #[serde(default)]
    version_at_least: Option<String>,
    #[serde(default)]
    not: Option<Box<RawCond>>,
    #[serde(default)]
    http_probes_within: Option<Vec<String>>,
    #[serde(default)]
    http_probes_on_local_host: Option<bool>,
    #[serde(default)]
    no_env_conflicts: Option<bool>,
    #[serde(default)]
    no_removed_gates: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    #[serde(default)]
    versions: Option<String>,
    #[serde(default)]
    unless: Option<RawCond>,
    /// Why the fix is left out when `unless` holds.
    #[serde(default)]
    because: Option<String>,
    /// More conditions that rule the variant out, each with its own reason.
    #[serde(default)]
    refuse: Vec<RawRefusal>,
    steps: Vec<RawStep>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRefusal {
    when: RawCond,
    because: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    set: Option<RawSet>,
    #[serde(default)]
    remove: Option<String>,
    #[serde(default)]
    add_to_list: Option<RawList>,
    #[serde(default)]
    remove_from_list: Option<RawList>,
    #[serde(default)]
    remove_keys: Option<RawList>,
    #[serde(default)]
    probes: Option<ProbeFix>,
    #[serde(default)]
    remove_removed: Option<bool>,
    #[serde(default)]
    dedupe: Option<bool>,
    #[serde(default)]
    mount_files: Option<bool>,
    #[serde(default)]
    join_split: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    flag: String,
    #[serde(default)]
    value: Option<String>,
    /// Take the value from another flag of the manifest (`value_from: client-ca-file`).
    #[serde(default)]
    value_from: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    flag: String,
    items: Vec<String>,
}

// ---------------------------------------------------------------- validated types

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Equals(String),
    OneOf(Vec<String>),
    Present,
    Absent,
    Contains(Vec<String>),
    Excludes(Vec<String>),
    AtLeast(i64),
    SubsetOf(Vec<String>),
    /// A `key=value` map flag (`--feature-gates`) turns this key off.
    GateOff(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cond {
    Flag {
        flag: String,
        op: Op,
    },
    Any(Vec<Cond>),
    All(Vec<Cond>),
    /// No flag is present that the target version no longer accepts.
    NoRemovedFlags,
    /// No admission plugin is named that the target version no longer has.
    NoRemovedPlugins,
    /// When anonymous requests are rejected, no probe depends on them.
    ProbesWithoutAnonymous,
    /// No flag is written more than once where that is ambiguous or wrong.
    NoDuplicateFlags,
    /// Every file a flag names is visible through a hostPath mount.
    FilesMounted,
    /// No two flags are set that the component refuses together.
    NoConflictingFlags,
    /// No flag is written as `--flag value` over two items.
    NoSplitFlags,
    /// The target version is at least 1.N.
    VersionAtLeast(u32),
    /// The inner condition does not hold.
    Not(Box<Cond>),
    /// Every unauthenticated HTTP probe uses one of these paths.
    HttpProbesWithin(Vec<String>),
    /// Every httpGet and tcpSocket probe connects to 127.0.0.1 or localhost, so the component
    /// may listen there only.
    ProbesOnLocalHost,
    /// No flag is set both on the command line and through the environment (etcd refuses it).
    NoEnvConflicts,
    /// No feature gate is named that the version no longer has.
    NoRemovedGates,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProbeFix {
    /// Turn HTTP GET probes into TCP socket probes on the same host and port.
    TcpSocket,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    Set {
        flag: String,
        value: String,
    },
    /// Set `flag` to the value `from` has in the manifest.
    SetFrom {
        flag: String,
        from: String,
    },
    Remove {
        flag: String,
    },
    AddToList {
        flag: String,
        items: Vec<String>,
    },
    RemoveFromList {
        flag: String,
        items: Vec<String>,
    },
    /// Removes every `key=value` item with one of these keys from a map flag
    /// (`--feature-gates`); the flag goes when nothing is left.
    RemoveKeys {
        flag: String,
        keys: Vec<String>,
    },
    Probes(ProbeFix),
    RemoveRemoved,
    /// Leaves one occurrence of each repeated flag, with the value in effect.
    Dedupe,
    /// Adds hostPath volumes for the files flags name that no mount makes visible.
    MountFiles,
    /// Rewrites every `--flag value` pair as `--flag=value`.
    JoinSplit,
}

#[derive(Clone, Debug)]
pub struct Variant {
    pub(crate) versions: VersionReq,
    pub(crate) unless: Option<Cond>,
    pub(crate) because: Option<String>,
    /// Conditions that rule the variant out, with the reason for each.
    pub(crate) refuse: Vec<(Cond, String)>,
    pub(crate) steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub component: String,
    pub(crate) cis: Vec<String>,
    pub severity: Severity,
    pub(crate) title: String,
    pub(crate) rationale: String,
    pub(crate) risk: String,
    pub(crate) versions: VersionReq,
    pub(crate) check: Cond,
    pub fix: Vec<Variant>,
    pub(crate) manual: Option<String>,
    /// The profile that defined the rule.
    pub(crate) origin: String,
}

impl Rule {
    /// Why no fix applies to version `v` although the rule has fixes: the reason of the first
    /// variant for that version that a condition rules out.
    pub(crate) fn blocked_because(
        &self,
        v: Version,
        holds: impl Fn(&Cond) -> bool,
    ) -> Option<String> {
        if self.variant_for(v, &holds).is_some() {
            return None;
        }
        self.fix
            .iter()
            .filter(|var| var.versions.matches(v))
            .find_map(|var| var.ruled_out(&holds))
    }

    /// The fix that applies to version `v`, if any.
    pub(crate) fn variant_for(
        &self,
        v: Version,
        holds: impl Fn(&Cond) -> bool,
    ) -> Option<&Variant> {
        self.fix
            .iter()
            .find(|var| var.versions.matches(v) && var.ruled_out(&holds).is_none())
    }
}

impl Variant {
    /// Why this variant does not apply, if a condition rules it out.
    pub(crate) fn ruled_out(&self, holds: &impl Fn(&Cond) -> bool) -> Option<String> {
        if let Some((_, why)) = self.refuse.iter().find(|(c, _)| holds(c)) {
            return Some(why.clone());
        }
        self.unless.as_ref().filter(|c| holds(c)).map(|_| {
            self.because
                .clone()
                .unwrap_or_else(|| "the fix does not apply to this manifest".to_string())
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SupportFile {
    pub(crate) flag: String,
    pub(crate) template: String,
    pub(crate) description: String,
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub(crate) description: String,
    /// The chain of profiles this one is built from, base first.
    pub(crate) lineage: Vec<String>,
    pub parameters: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
    pub(crate) files: Vec<SupportFile>,
}

impl Profile {
    /// A built-in profile by name (`None` when there is no such profile); a profile file is
    /// read by `load`.
    pub(crate) fn builtin(
        name: &str,
        registry: &Registry,
    ) -> Option<Result<Profile, ProfileError>> {
        let (name, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Some(Profile::from_text(
            &format!("profiles/{name}.yaml"),
            text,
            registry,
        ))
    }

    /// A profile from its text; `origin` names it in errors.
    pub(crate) fn from_text(
        origin: &str,
        text: &str,
        registry: &Registry,
    ) -> Result<Profile, ProfileError> {
        let merged = resolve(origin, text, 0)?;
        finish(merged, registry)
    }

    /// The profile cut down to the rules named (in the profile's order).
    pub fn only(&self, ids: &[String]) -> Profile {
        let mut p = self.clone();
        p.rules.retain(|r| ids.contains(&r.id));
        p
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub(crate) fn support_file(&self, flag: &str) -> Option<&SupportFile> {
        self.files.iter().find(|f| f.flag == flag)
    }
}

/// Finds a rule in any built-in profile (for `explain`).
pub(crate) fn find_builtin_rule(
    id: &str,
    registry: &Registry,
) -> Result<Option<Rule>, ProfileError> {
    for (name, text) in BUILTIN.iter().rev() {
        let p = Profile::from_text(&format!("profiles/{name}.yaml"), text, registry)?;
        if let Some(r) = p.rule(id) {
            return Ok(Some(r.clone()));
        }
    }
    Ok(None)
}

pub(crate) fn template(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

struct Merged {
    name: String,
    description: String,
    lineage: Vec<String>,
    parameters: BTreeMap<String, String>,
    /// The file that last set each parameter, and whether it is a built-in profile.
    param_origin: BTreeMap<String, (String, bool)>,
    rules: Vec<(String, RawRule)>,
    files: Vec<RawFile>,
}

fn resolve(origin: &str, text: &str, depth: usize) -> Result<Merged, ProfileError> {
    if depth > 8 {
        return Err(ProfileError::Invalid {
            origin: origin.to_string(),
            message: "`extends` chain is longer than 8 profiles (a cycle?)".into(),
        });
    }
    let raw: RawProfile = yaml_serde::from_str(text).map_err(|e| yaml_err(origin, e))?;
    let invalid = |message: String| ProfileError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let mut seen = BTreeSet::new();
    for r in &raw.rules {
        if !seen.insert(r.id.clone()) {
            return Err(invalid(format!("rule id `{}` is defined twice", r.id)));
        }
    }
    let mut merged = match &raw.extends {
        None => Merged {
            name: raw.name.clone(),
            description: raw.description.clone(),
            lineage: Vec::new(),
            parameters: BTreeMap::new(),
            param_origin: BTreeMap::new(),
            rules: Vec::new(),
            files: Vec::new(),
        },
        Some(parent) => {
            let Some((pname, ptext)) = BUILTIN.iter().find(|(n, _)| n == parent) else {
                return Err(invalid(format!(
                    "`extends: {parent}`: only built-in profiles (baseline, strict) can be extended"
                )));
            };
            resolve(&format!("profiles/{pname}.yaml"), ptext, depth + 1)?
        }
    };
    merged.lineage.push(raw.name.clone());
    merged.name = raw.name;
    merged.description = raw.description;
    for (k, v) in raw.parameters {
        let builtin = BUILTIN
            .iter()
            .any(|(n, _)| origin == format!("profiles/{n}.yaml"));
        merged
            .param_origin
            .insert(k.clone(), (origin.to_string(), builtin));
        merged.parameters.insert(k, v);
    }
    for (i, id) in raw.disable.iter().enumerate() {
        if raw.disable[..i].contains(id) {
            return Err(invalid(format!("`disable` names rule `{id}` twice")));
        }
        let before = merged.rules.len();
        merged.rules.retain(|(_, r)| &r.id != id);
        if merged.rules.len() == before {
            return Err(invalid(format!(
                "`disable` names rule `{id}`, which the profiles it extends do not define"
            )));
        }
    }
    for rule in raw.rules {
        if let Some(slot) = merged.rules.iter_mut().find(|(_, r)| r.id == rule.id) {
            *slot = (origin.to_string(), rule);
        } else {
            merged.rules.push((origin.to_string(), rule));
        }
    }
    for f in raw.files {
        merged.files.retain(|x| x.flag != f.flag);
        merged.files.push(f);
    }
    Ok(merged)
}

/// The rules of a merged profile, built and validated against the registry.
fn build_rules(
    raw_rules: Vec<(String, RawRule)>,
    m: &Merged,
    registry: &Registry,
    used: &std::cell::RefCell<BTreeSet<String>>,
) -> Result<Vec<Rule>, ProfileError> {
    let mut rules = Vec::new();
    for (origin, raw) in raw_rules {
        let rule = build_rule(&origin, raw, &m.parameters, registry, used).map_err(|e| {
            // Point at the file that set a parameter the rule could not use.
            match e {
                ProfileError::Invalid { origin, message } => {
                    let set_in: Vec<String> = m
                        .param_origin
                        .iter()
                        .filter(|(k, (o, _))| {
                            *o != origin && message.contains(&format!("`{}`", m.parameters[*k]))
                        })
                        .map(|(k, (o, _))| format!("parameter `{k}` is set in {o}"))
                        .collect();
                    let message = if set_in.is_empty() {
                        message
                    } else {
                        format!("{message} ({})", set_in.join("; "))
                    };
                    ProfileError::Invalid { origin, message }
                }
                other => other,
            }
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

/// Two rules that set one flag to different values for overlapping versions can never both
/// hold: the profile is refused rather than every manifest.
fn no_conflicting_sets(rules: &[Rule]) -> Result<(), ProfileError> {
    let sets = |r: &Rule| -> Vec<(String, String, VersionReq)> {
        r.fix
            .iter()
            .flat_map(|v| {
                v.steps.iter().filter_map(move |s| match s {
                    Step::Set { flag, value } => Some((flag.clone(), value.clone(), v.versions)),
                    _ => None,
                })
            })
            .collect()
    };
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            for (fa, va, ra) in sets(a) {
                for (fb, vb, rb) in sets(b) {
                    let overlap = |x: VersionReq, y: VersionReq| {
                        let lo = x.min.unwrap_or(0).max(y.min.unwrap_or(0));
                        let hi = x.below.unwrap_or(u32::MAX).min(y.below.unwrap_or(u32::MAX));
                        lo < hi
                    };
                    if fa == fb && va != vb && overlap(ra, rb) && overlap(a.versions, b.versions) {
                        return Err(ProfileError::Invalid {
                            origin: b.origin.clone(),
                            message: format!(
                                "rules `{}` ({}) and `{}` ({}) set --{fa} to `{va}` and `{vb}`; disable one of them",
                                a.id, a.origin, b.id, b.origin
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// A fix must satisfy its own rule: a parameter such as `audit_log_maxage: "5"` under an
/// `at_least: 30` check would fail on every manifest, so the profile is refused instead.
fn fixes_satisfy_rules(rules: &[Rule], m: &Merged) -> Result<(), ProfileError> {
    for r in rules {
        let leaves: Vec<&Cond> = match &r.check {
            Cond::All(cs) => cs.iter().collect(),
            c => vec![c],
        };
        for v in &r.fix {
            for step in &v.steps {
                let Step::Set { flag, value } = step else {
                    continue;
                };
                for leaf in &leaves {
                    if let Cond::Flag { flag: f, op } = leaf {
                        if f == flag && !op_accepts(op, value) {
                            return Err(ProfileError::Invalid {
                                origin: r.origin.clone(),
                                message: format!(
                                    "rule `{}`: its fix sets --{flag}={value}, which its own check rejects{}",
                                    r.id,
                                    m.param_origin
                                        .iter()
                                        .filter(|(k, _)| m.parameters.get(*k) == Some(value))
                                        .map(|(k, (o, _))| format!(" (parameter `{k}` is set in {o})"))
                                        .collect::<String>()
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A parameter no rule uses is a typo or a leftover: said rather than ignored. (Built-in
/// parameters of disabled rules are fine.)
fn parameters_used(m: &Merged, used: &BTreeSet<String>) -> Result<(), ProfileError> {
    for (k, (origin, builtin)) in &m.param_origin {
        if !builtin && !used.contains(k) {
            return Err(ProfileError::Invalid {
                origin: origin.clone(),
                message: format!("parameter `{k}` is not used by any rule"),
            });
        }
    }
    Ok(())
}

fn finish(mut m: Merged, registry: &Registry) -> Result<Profile, ProfileError> {
    let used = std::cell::RefCell::new(BTreeSet::new());
    let rules = build_rules(std::mem::take(&mut m.rules), &m, registry, &used)?;
    no_conflicting_sets(&rules)?;
    fixes_satisfy_rules(&rules, &m)?;
    parameters_used(&m, &used.borrow())?;
    let mut files = Vec::new();
    for f in m.files {
        if template(&f.template).is_none() {
            return Err(ProfileError::Invalid {
                origin: m.name.clone(),
                message: format!("file for --{}: unknown template `{}`", f.flag, f.template),
            });
        }
        files.push(SupportFile {
            flag: f.flag,
            template: f.template,
            description: f.description,
        });
    }
    Ok(Profile {
        name: m.name,
        description: m.description,
        lineage: m.lineage,
        parameters: m.parameters,
        rules,
        files,
    })
}

/// Whether a flag set to `value` alone satisfies `op`.
fn op_accepts(op: &Op, value: &str) -> bool {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    match op {
        Op::Present => true,
        Op::Absent => false,
        Op::Equals(v) => value == v,
        Op::OneOf(vs) => vs.iter().any(|v| v == value),
        Op::Contains(vs) => vs.iter().all(|v| items.contains(&v.as_str())),
        Op::Excludes(vs) => !vs.iter().any(|v| items.contains(&v.as_str())),
        Op::AtLeast(n) => values::parse_go_int(value).is_some_and(|x| x >= *n),
        Op::SubsetOf(vs) => !items.is_empty() && items.iter().all(|i| vs.iter().any(|v| v == i)),
        Op::GateOff(_) => true,
    }
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn build_rule(
    origin: &str,
    raw: RawRule,
    params: &BTreeMap<String, String>,
    registry: &Registry,
    used: &std::cell::RefCell<BTreeSet<String>>,
) -> Result<Rule, ProfileError> {
    let id = raw.id.clone();
    let invalid = |message: String| ProfileError::Invalid {
        origin: origin.to_string(),
        message: format!("rule `{id}`: {message}"),
    };
    if !is_kebab(&raw.id) {
        return Err(invalid("ids are kebab-case (a-z, 0-9, `-`)".into()));
    }
    if !registry.flags.contains_key(&raw.component) {
        return Err(invalid(format!("unknown component `{}`", raw.component)));
    }
    let versions = match &raw.versions {
        Some(v) => VersionReq::parse(v).map_err(&invalid)?,
        None => VersionReq::ANY,
    };
    let ctx = Ctx {
        component: &raw.component,
        params,
        registry,
        used,
    };
    let check = ctx.cond(&raw.check).map_err(&invalid)?;
    let mut fix = Vec::new();
    for var in &raw.fix {
        let vr = match &var.versions {
            Some(v) => VersionReq::parse(v).map_err(&invalid)?,
            None => VersionReq::ANY,
        };
        let unless = match &var.unless {
            Some(c) => Some(ctx.cond(c).map_err(&invalid)?),
            None => None,
        };
        let mut steps = Vec::new();
        for s in &var.steps {
            steps.push(ctx.step(s).map_err(&invalid)?);
        }
        if steps.is_empty() {
            return Err(invalid("a fix variant needs at least one step".into()));
        }
        fix.push(Variant {
            versions: vr,
            unless,
            because: var.because.as_ref().map(|b| b.trim().to_string()),
            refuse: var
                .refuse
                .iter()
                .map(|r| Ok((ctx.cond(&r.when)?, ctx.subst(r.because.trim())?)))
                .collect::<Result<Vec<_>, String>>()
                .map_err(&invalid)?,
            steps,
        });
    }
    if fix.is_empty() && raw.manual.is_none() {
        return Err(invalid(
            "needs either `fix` or `manual` (why it cannot be fixed automatically)".into(),
        ));
    }
    let title = ctx.subst(&raw.title).map_err(&invalid)?;
    let rationale = ctx.subst(raw.rationale.trim()).map_err(&invalid)?;
    let risk = ctx.subst(raw.risk.trim()).map_err(&invalid)?;
    let manual = match &raw.manual {
        Some(m) => Some(ctx.subst(m.trim()).map_err(&invalid)?),
        None => None,
    };
    Ok(Rule {
        id: raw.id,
        component: raw.component,
        cis: raw.cis,
        severity: raw.severity,
        title,
        rationale,
        risk,
        versions,
        check,
        fix,
        manual,
        origin: origin.to_string(),
    })
}

struct Ctx<'a> {
    component: &'a str,
    params: &'a BTreeMap<String, String>,
    registry: &'a Registry,
    used: &'a std::cell::RefCell<BTreeSet<String>>,
}

impl Ctx<'_> {
    fn subst(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                return Err(format!("unclosed `${{` in `{text}`"));
            };
            let key = &after[..j];
            self.used.borrow_mut().insert(key.to_string());
            let val = self.params.get(key).ok_or_else(|| {
                format!("`{text}` uses parameter `{key}`, which no profile defines")
            })?;
            out.push_str(val);
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn flag(&self, name: &str) -> Result<String, String> {
        let name = name.strip_prefix("--").unwrap_or(name);
        if self.registry.flag(self.component, name).is_none() {
            return Err(format!(
                "flag `--{name}` is not in the lifecycle registry for {} (profiles/registry.yaml)",
                self.component
            ));
        }
        Ok(name.to_string())
    }

    fn list(&self, items: &[String]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for i in items {
            for part in self.subst(i)?.split(',') {
                let p = part.trim();
                if !p.is_empty() {
                    out.push(p.to_string());
                }
            }
        }
        Ok(out)
    }

    fn cond(&self, c: &RawCond) -> Result<Cond, String> {
        let mut found: Vec<Cond> = Vec::new();
        if let Some(any) = &c.any {
            found.push(Cond::Any(
                any.iter().map(|x| self.cond(x)).collect::<Result<_, _>>()?,
            ));
        }
        if let Some(all) = &c.all {
            found.push(Cond::All(
                all.iter().map(|x| self.cond(x)).collect::<Result<_, _>>()?,
            ));
        }
        // The conditions that are there or not.
        for (on, cond) in [
            (c.no_removed_flags, Cond::NoRemovedFlags),
            (c.no_removed_plugins, Cond::NoRemovedPlugins),
            (c.probes_without_anonymous, Cond::ProbesWithoutAnonymous),
            (c.no_duplicate_flags, Cond::NoDuplicateFlags),
            (c.files_mounted, Cond::FilesMounted),
            (c.no_conflicting_flags, Cond::NoConflictingFlags),
            (c.no_split_flags, Cond::NoSplitFlags),
            (c.http_probes_on_local_host, Cond::ProbesOnLocalHost),
            (c.no_env_conflicts, Cond::NoEnvConflicts),
            (c.no_removed_gates, Cond::NoRemovedGates),
        ] {
            if on == Some(true) {
                found.push(cond);
            }
        }
        if let Some(v) = &c.version_at_least {
            let v = Version::parse(v)
                .ok_or_else(|| format!("`version_at_least: {v}` is not a 1.N version"))?;
            found.push(Cond::VersionAtLeast(v.minor));
        }
        if let Some(inner) = &c.not {
            found.push(Cond::Not(Box::new(self.cond(inner)?)));
        }
        if let Some(paths) = &c.http_probes_within {
            found.push(Cond::HttpProbesWithin(paths.clone()));
        }
        let mut ops = Vec::new();
        if let Some(v) = &c.equals {
            ops.push(Op::Equals(self.subst(v)?));
        }
        if let Some(v) = &c.one_of {
            ops.push(Op::OneOf(self.list(v)?));
        }
        if c.present == Some(true) {
            ops.push(Op::Present);
        }
        if c.absent == Some(true) {
            ops.push(Op::Absent);
        }
        if let Some(v) = &c.contains {
            ops.push(Op::Contains(self.list(v)?));
        }
        if let Some(v) = &c.excludes {
            ops.push(Op::Excludes(self.list(v)?));
        }
        if let Some(v) = c.at_least {
            ops.push(Op::AtLeast(v));
        }
        if let Some(v) = &c.subset_of {
            ops.push(Op::SubsetOf(self.list(v)?));
        }
        if let Some(v) = &c.gate_off {
            ops.push(Op::GateOff(v.clone()));
        }
        match (&c.flag, ops.len()) {
            (Some(f), 1) => found.push(Cond::Flag {
                flag: self.flag(f)?,
                op: ops.remove(0),
            }),
            (Some(f), n) => {
                return Err(format!(
                    "condition on `{f}` needs exactly one operator (equals, one_of, present, absent, contains, excludes, at_least, subset_of, gate_off), found {n}"
                ))
            }
            (None, 0) => {}
            (None, _) => return Err("an operator needs a `flag`".into()),
        }
        if found.len() != 1 {
            return Err(format!(
                "each condition has exactly one form (a flag test, any, all, no_removed_flags, no_removed_plugins, probes_without_anonymous, no_duplicate_flags, files_mounted, no_conflicting_flags, no_split_flags, version_at_least, not, http_probes_within, http_probes_on_local_host, no_env_conflicts, no_removed_gates), found {}",
                found.len()
            ));
        }
        Ok(found.remove(0))
    }

    fn step(&self, s: &RawStep) -> Result<Step, String> {
        let mut found = Vec::new();
        if let Some(set) = &s.set {
            let flag = self.flag(&set.flag)?;
            let kind = self.registry.flag(self.component, &flag).map(|s| s.kind);
            if matches!(
                kind,
                Some(FlagType::Array | FlagType::Files | FlagType::Map)
            ) {
                return Err(format!(
                    "`set` would replace every occurrence of the repeatable --{flag}; use a flag that takes one value"
                ));
            }
            match (&set.value, &set.value_from) {
                (Some(v), None) => {
                    let value = self.subst(v)?;
                    self.check_value(&flag, &value)?;
                    found.push(Step::Set { flag, value });
                }
                (None, Some(from)) => {
                    let from = self.flag(from)?;
                    let file = |k: Option<FlagType>| k.is_some_and(|k| k.references_file());
                    let from_kind = self.registry.flag(self.component, &from).map(|s| s.kind);
                    if from_kind != kind && !(file(kind) && file(from_kind)) {
                        return Err(format!(
                            "--{flag} cannot take its value from --{from}: their types differ"
                        ));
                    }
                    found.push(Step::SetFrom { flag, from })
                }
                _ => {
                    return Err(format!(
                        "`set` of --{flag} needs exactly one of `value` and `value_from`"
                    ))
                }
            }
        }
        if let Some(f) = &s.remove {
            found.push(Step::Remove {
                flag: self.flag(f)?,
            });
        }
        if let Some(l) = &s.add_to_list {
            let flag = self.list_flag(&l.flag)?;
            let items = self.list(&l.items)?;
            self.known_plugins(&flag, &items)?;
            for item in &items {
                self.check_value(&flag, item)?;
            }
            found.push(Step::AddToList { flag, items });
        }
        if let Some(l) = &s.remove_from_list {
            let flag = self.list_flag(&l.flag)?;
            let items = self.list(&l.items)?;
            self.known_plugins(&flag, &items)?;
            found.push(Step::RemoveFromList { flag, items });
        }
        if let Some(l) = &s.remove_keys {
            let flag = self.flag(&l.flag)?;
            if self.registry.flag(self.component, &flag).map(|s| s.kind) != Some(FlagType::Map) {
                return Err(format!("`--{flag}` is not a map flag (key=value,...)"));
            }
            let keys = self.list(&l.items)?;
            found.push(Step::RemoveKeys { flag, keys });
        }
        if let Some(p) = s.probes {
            found.push(Step::Probes(p));
        }
        // The steps that are there or not.
        for (on, step) in [
            (s.remove_removed, Step::RemoveRemoved),
            (s.dedupe, Step::Dedupe),
            (s.mount_files, Step::MountFiles),
            (s.join_split, Step::JoinSplit),
        ] {
            if on == Some(true) {
                found.push(step);
            }
        }
        if found.len() != 1 {
            return Err(format!(
                "each fix step has exactly one action (set, remove, add_to_list, remove_from_list, remove_keys, probes, remove_removed, dedupe, mount_files, join_split), found {}",
                found.len()
            ));
        }
        Ok(found.remove(0))
    }

    /// Admission plugin names must be ones kube-apiserver has had (a typo would be fatal).
    fn known_plugins(&self, flag: &str, items: &[String]) -> Result<(), String> {
        if self.registry.names_plugins(self.component, flag) {
            if let Some(bad) = items
                .iter()
                .find(|p| !self.registry.admission_plugins.contains_key(*p))
            {
                return Err(format!(
                    "`{bad}` is not an admission plugin kube-apiserver knows (profiles/registry.yaml)"
                ));
            }
        }
        Ok(())
    }

    fn list_flag(&self, name: &str) -> Result<String, String> {
        let f = self.flag(name)?;
        match self.registry.flag(self.component, &f).map(|s| s.kind) {
            Some(FlagType::List) => Ok(f),
            _ => Err(format!("`--{f}` is not a list flag")),
        }
    }

    fn check_value(&self, flag: &str, value: &str) -> Result<(), String> {
        let kind = self.registry.flag(self.component, flag).map(|s| s.kind);
        match kind {
            Some(FlagType::Bool) if value != "true" && value != "false" => Err(format!(
                "`--{flag}` is a boolean: `{value}` must be true or false"
            )),
            Some(FlagType::Int) if values::parse_go_int(value).is_none() => {
                Err(format!("`--{flag}` takes an integer, not `{value}`"))
            }
            // The audit log may go to standard output.
            Some(FlagType::Logpath) if value == "-" => Ok(()),
            Some(FlagType::Logpath) if crate::paths::clean_path(value) && crate::paths::parent_dir(value) == "/" => {
                Err(format!("`--{flag}` needs a file below a directory of its own, not `{value}` (the whole root would be mounted)"))
            }
            Some(FlagType::File | FlagType::Files | FlagType::Logpath) if !crate::paths::clean_path(value) => Err(format!(
                "`--{flag}` needs an absolute path without `.`, `..` or a trailing `/`, not `{value}`"
            )),
            _ if value.is_empty() => Err(format!("`--{flag}` would be set to an empty value")),
            _ if !self.registry.rejected_values(flag, value, None).is_empty() => Err(format!(
                "`--{flag}` does not accept `{}` (profiles/registry.yaml lists what it takes)",
                self.registry.rejected_values(flag, value, None).join("`, `")
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        Registry::builtin().expect("registry parses")
    }

    /// `text` as a profile file `mine.yaml`, loaded by its path.
    fn load_file(text: &str) -> Result<Profile, ProfileError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("mine.yaml");
        std::fs::write(&p, text).expect("write");
        Profile::load(p.to_str().expect("utf8"), &reg())
    }

    /// `text` as a profile file is refused, with an error that says each of `said`.
    fn refused(text: &str, said: &[&str]) {
        let err = load_file(text).expect_err("refused").to_string();
        for s in said {
            assert!(err.contains(s), "{s}: {err}");
        }
    }

    #[test]
    fn builtin_profiles_load() {
        let r = reg();
        let b = Profile::load("baseline", &r).expect("baseline");
        let s = Profile::load("strict", &r).expect("strict");
        assert_eq!(
            s.lineage,
            vec!["baseline".to_string(), "strict".to_string()]
        );
        assert!(s.rules.len() > b.rules.len());
    }

    #[test]
    fn rule_ids_are_unique_across_builtins() {
        let r = reg();
        let s = Profile::load("strict", &r).expect("strict");
        let mut ids = BTreeSet::new();
        for rule in &s.rules {
            assert!(ids.insert(rule.id.clone()), "duplicate id {}", rule.id);
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_line_numbers() {
        refused(
            "name: mine\ndescription: x\nextends: strict\nparameters:\n  audit_log_maxage: \"60\"\nsevrity: high\n",
            &[":6:1:", "sevrity"],
        );
    }

    #[test]
    fn user_profile_extends_overrides_and_disables() {
        let prof = load_file(
            "name: mine\ndescription: x\nextends: baseline\nparameters:\n  tls_min_version: VersionTLS13\ndisable: [apiserver-profiling]\n",
        ).expect("loads");
        assert!(prof.rule("apiserver-profiling").is_none());
        let tls = prof.rule("apiserver-tls-min-version").expect("tls rule");
        assert!(tls.fix[0].steps.contains(&Step::Set {
            flag: "tls-min-version".into(),
            value: "VersionTLS13".into()
        }));
    }

    #[test]
    fn rules_setting_one_flag_two_ways_are_refused_at_load() {
        refused(
            "name: m\ndescription: x\nextends: baseline\nrules:\n- id: my-profiling\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: none\n  check: {flag: profiling, equals: \"true\"}\n  fix: [{steps: [{set: {flag: profiling, value: \"true\"}}]}]\n",
            &["apiserver-profiling", "my-profiling", "mine.yaml"],
        );
    }

    #[test]
    fn unknown_admission_plugins_in_a_rule_are_refused() {
        refused(
            "name: m\ndescription: x\nrules:\n- id: my-plugin\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: none\n  check: {flag: enable-admission-plugins, contains: [NodeRestrictoin]}\n  fix: [{steps: [{add_to_list: {flag: enable-admission-plugins, items: [NodeRestrictoin]}}]}]\n",
            &["NodeRestrictoin"],
        );
    }

    #[test]
    fn values_a_flag_does_not_accept_are_refused_at_load() {
        for (value, bad) in [
            ("TLS_FOO_BAR", "TLS_FOO_BAR"),
            (
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                " TLS_ECDHE",
            ),
        ] {
            refused(
                &format!("name: m\ndescription: x\nextends: baseline\nparameters:\n  tls_cipher_suites: \"{value}\"\n"),
                &[bad],
            );
        }
        // Known names that some versions reject are a matter for the planner.
        let r = reg();
        assert_eq!(
            r.rejected_values(
                "tls-cipher-suites",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                Some(Version::minor(22))
            ),
            vec!["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_string()]
        );
        assert!(r
            .rejected_values(
                "tls-cipher-suites",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                Some(Version::minor(23))
            )
            .is_empty());
    }

    #[test]
    fn disabling_an_unknown_rule_is_an_error() {
        refused(
            "name: m\ndescription: x\nextends: baseline\ndisable: [no-such-rule]\n",
            &["no-such-rule"],
        );
    }

    #[test]
    fn unknown_flag_in_rule_is_an_error() {
        refused(
            "name: m\ndescription: x\nrules:\n- id: my-rule\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: none\n  check: {flag: profilin, equals: \"false\"}\n  manual: no\n",
            &["--profilin"],
        );
    }

    #[test]
    fn registry_lifecycles() {
        let r = reg();
        let kh = r.flag("kube-apiserver", "kubelet-https").expect("flag");
        assert!(kh.accepted_in(Version::minor(21)));
        assert!(!kh.accepted_in(Version::minor(22)));
        let scd = &r.admission_plugins["SecurityContextDeny"];
        assert!(scd.accepted_in(Version::minor(29)));
        assert!(!scd.accepted_in(Version::minor(30)));
    }
}

/// Renders a supporting-file template for Kubernetes `v`: `${api_version:Kind}` becomes the
/// apiVersion the registry gives for that kind and version, `${name}` a profile parameter, and
/// lines between `#% if version >= 1.N` and `#% endif` are kept only from that version on.
pub fn render_template(
    name: &str,
    v: Version,
    registry: &Registry,
    params: &BTreeMap<String, String>,
) -> Result<String, String> {
    let text = template(name).ok_or_else(|| format!("unknown template `{name}`"))?;
    let mut out = String::with_capacity(text.len());
    let mut keep = vec![true];
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if let Some(req) = t.strip_prefix("#% requires version >=") {
            let (ver, why) = req.split_once(':').unwrap_or((req, ""));
            let min = Version::parse(ver.trim())
                .ok_or_else(|| format!("template `{name}`: bad requirement `{t}`"))?;
            if v.minor < min.minor {
                return Err(format!(
                    "template `{name}` is for Kubernetes {min} or later, not {v}:{why}"
                ));
            }
            continue;
        }
        if let Some(cond) = t.strip_prefix("#% if version >=") {
            let min = Version::parse(cond.trim())
                .ok_or_else(|| format!("template `{name}`: bad condition `{t}`"))?;
            let outer = keep.last().copied().unwrap_or(true);
            keep.push(outer && v.minor >= min.minor);
            continue;
        }
        // `#% if set KEY` / `#% if unset KEY`: whether a parameter has a non-empty value.
        if let Some(key) = t
            .strip_prefix("#% if set ")
            .map(|k| (k, true))
            .or_else(|| t.strip_prefix("#% if unset ").map(|k| (k, false)))
        {
            let (k, want) = key;
            let is_set = params.get(k.trim()).is_some_and(|v| !v.is_empty());
            let outer = keep.last().copied().unwrap_or(true);
            keep.push(outer && is_set == want);
            continue;
        }
        if t == "#% endif" {
            if keep.len() < 2 {
                return Err(format!("template `{name}`: `#% endif` without `#% if`"));
            }
            keep.pop();
            continue;
        }
        if keep.last().copied().unwrap_or(true) {
            out.push_str(line);
        }
    }
    if keep.len() != 1 {
        return Err(format!("template `{name}`: `#% if` without `#% endif`"));
    }
    let mut rendered = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("${") {
        rendered.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after
            .find('}')
            .ok_or_else(|| format!("template `{name}`: unclosed `${{`"))?;
        let key = &after[..j];
        let value = match key.strip_prefix("api_version:") {
            Some(kind) => registry
                .api_version(kind, v)
                .ok_or_else(|| format!("template `{name}`: Kubernetes {v} has no {kind}"))?,
            None => params
                .get(key)
                .map(String::as_str)
                .ok_or_else(|| format!("template `{name}`: unknown parameter `{key}`"))?,
        };
        rendered.push_str(value);
        rest = &after[j + 1..];
    }
    rendered.push_str(rest);
    Ok(rendered)
}

#[cfg(test)]
mod template_tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, String)> {
        let v: yaml_serde::Value = yaml_serde::from_str(text).expect("renders to YAML");
        let mut out = Vec::new();
        fn walk(v: &yaml_serde::Value, out: &mut Vec<(String, String)>) {
            match v {
                yaml_serde::Value::Mapping(m) => {
                    if let (Some(a), Some(k)) = (m.get("apiVersion"), m.get("kind")) {
                        out.push((
                            a.as_str().unwrap_or("").to_string(),
                            k.as_str().unwrap_or("").to_string(),
                        ));
                    }
                    for (_, x) in m {
                        walk(x, out);
                    }
                }
                yaml_serde::Value::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&v, &mut out);
        out
    }

    #[test]
    fn templates_render_for_the_versions_that_use_them() {
        let reg = Registry::builtin().expect("registry");
        let params = BTreeMap::new();
        for minor in reg.versions.oldest..=reg.versions.newest {
            let v = Version::minor(minor);
            let audit = render_template("audit-policy", v, &reg, &params).expect("audit policy");
            assert_eq!(
                kinds(&audit),
                vec![("audit.k8s.io/v1".into(), "Policy".into())]
            );
            let adm = render_template("admission-config", v, &reg, &params).expect("admission");
            let k = kinds(&adm);
            assert_eq!(
                k[0],
                (
                    "apiserver.config.k8s.io/v1".into(),
                    "AdmissionConfiguration".into()
                )
            );
            let psa = k
                .iter()
                .find(|(_, kind)| kind == "PodSecurityConfiguration");
            match minor {
                ..=22 => assert!(
                    psa.is_none(),
                    "1.{minor}: PodSecurity is configured from 1.23"
                ),
                23 | 24 => assert_eq!(
                    psa.map(|x| x.0.as_str()),
                    Some("pod-security.admission.config.k8s.io/v1beta1")
                ),
                _ => assert_eq!(
                    psa.map(|x| x.0.as_str()),
                    Some("pod-security.admission.config.k8s.io/v1")
                ),
            }
            let authn = render_template("authentication-config", v, &reg, &params);
            if minor >= 32 {
                let text = authn.expect("authentication config");
                let want = if minor >= 34 {
                    "apiserver.config.k8s.io/v1"
                } else {
                    "apiserver.config.k8s.io/v1beta1"
                };
                assert_eq!(
                    kinds(&text),
                    vec![(want.to_string(), "AuthenticationConfiguration".to_string())]
                );
                assert!(!text.contains("${"));
            }
        }
        assert!(
            render_template("authentication-config", Version::minor(25), &reg, &params).is_err()
        );
    }

    #[test]
    fn the_audit_policy_covers_what_cis_3_2_2_asks() {
        let reg = Registry::builtin().expect("registry");
        let text = render_template("audit-policy", Version::minor(30), &reg, &BTreeMap::new())
            .expect("renders");
        let v: yaml_serde::Value = yaml_serde::from_str(&text).expect("yaml");
        let rules = v["rules"].as_sequence().expect("rules");
        let level_for = |resource: &str| -> Option<String> {
            rules
                .iter()
                .find(|r| {
                    r["resources"].as_sequence().is_some_and(|rs| {
                        rs.iter().any(|g| {
                            g["resources"].as_sequence().is_some_and(|names| {
                                names.iter().any(|n| n.as_str() == Some(resource))
                            })
                        })
                    })
                })
                .and_then(|r| r["level"].as_str().map(str::to_string))
        };
        for secretish in ["secrets", "configmaps", "tokenreviews"] {
            assert_eq!(
                level_for(secretish).as_deref(),
                Some("Metadata"),
                "{secretish}: metadata, never bodies"
            );
        }
        for access in [
            "pods/exec",
            "pods/portforward",
            "pods/proxy",
            "services/proxy",
            "pods",
        ] {
            assert!(
                level_for(access).is_some_and(|l| l != "None"),
                "{access} is logged"
            );
        }
        let deployments = level_for("deployments");
        assert!(deployments.is_some_and(|l| l != "None"));
        // Everything else falls through to a catch-all that logs.
        let last = rules.last().expect("a catch-all rule");
        assert_eq!(last["level"].as_str(), Some("Metadata"));
        assert!(last.get("resources").is_none());
    }
}
