//! Rules as the checker and the planner use them: conditions over a model, fix steps, and the
//! variants of a fix for ranges of versions.

use super::version::{Version, VersionReq};
use serde::{Deserialize, Serialize};

/// The component of the rules about the modes and owners of a node's files (CIS 1.1.x, 4.1.x),
/// which a node scan checks against the files themselves rather than a document's settings.
pub const NODE_FILES: &str = "node-files";

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Cond {
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
    /// The file is one of a running cluster, not the configuration of a new one that
    /// `generate kubeadm` writes (`existing_cluster: true`).
    ExistingCluster,
    /// The target version reads the configuration file's apiVersion (`config_api_read: true`).
    ConfigApiRead,
    /// A probe is a command that fetches a URL without credentials (`exec_http_probes: true`):
    /// kubeharden cannot rewrite it, so a fix that turns anonymous access off cannot keep it
    /// working.
    ExecHttpProbes,
    /// A node file of this role (registry `node_files`) has no permission bit outside
    /// `at_most` (`file_mode: { file, at_most: "600" }`, kube-bench's `bitmask`).
    FileMode {
        file: String,
        at_most: u32,
    },
    /// A node file of this role belongs to `owner` (`user:group`).
    FileOwner {
        file: String,
        owner: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFix {
    /// Turn HTTP GET probes into TCP socket probes on the same host and port.
    TcpSocket,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
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
    /// Takes the bits its `file_mode` check forbids away from a node file (never adds any).
    Chmod,
    /// Gives a node file the owner its `file_owner` check wants.
    Chown,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Variant {
    pub(crate) versions: VersionReq,
    pub(crate) unless: Option<Cond>,
    pub(crate) because: Option<String>,
    /// Conditions that rule the variant out, with the reason for each.
    pub(crate) refuse: Vec<(Cond, String)>,
    pub(crate) steps: Vec<Step>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The fix is risky unless a precondition holds; `None`: safe.
    pub(crate) applicability: Option<Applicability>,
    /// The profile that defined the rule.
    pub(crate) origin: String,
}

/// What can go wrong with a rule's fix, and what makes it safe (`applicability` in a profile).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Applicability {
    pub risky: String,
    pub precondition: String,
    /// The fix is safe when the file shows this.
    pub(crate) safe_when: Option<Cond>,
    /// What to read on the node (`fix` in place, `check --root`) to see whether it holds.
    pub(crate) on_node: Option<NodeCheck>,
}

/// A precondition read on the node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum NodeCheck {
    /// Kernel settings under /proc/sys and the values wanted.
    Sysctls(Vec<(String, Wanted)>),
    /// This node's kubelet serves a certificate signed by the CA the flag names.
    KubeletServingSignedBy { ca_flag: String },
    /// A kubelet-serving certificate signed by the CA the flag names was issued to this node
    /// before: kubelet-serving requests get approved here. Its absence proves nothing.
    ServingApprovedBefore { ca_flag: String },
    /// An administrator kubeconfig on the node holds a client certificate signed by the CA the
    /// flag names, in one of the groups (any, when none are given).
    AdminCredential {
        ca_flag: String,
        groups: Vec<String>,
    },
}

/// A kernel setting's wanted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wanted {
    Equals(i64),
    AtLeast(i64),
}

impl Wanted {
    pub fn admits(self, v: i64) -> bool {
        match self {
            Wanted::Equals(w) => v == w,
            Wanted::AtLeast(w) => v >= w,
        }
    }
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wanted::Equals(w) => write!(f, "{w}"),
            Wanted::AtLeast(w) => write!(f, "at least {w}"),
        }
    }
}

impl Rule {
    /// The CIS check ids the rule stands for.
    pub fn cis(&self) -> &[String] {
        &self.cis
    }

    /// Some fix applies to a file of a running cluster (not only to the configuration of a new
    /// one that `generate kubeadm` writes).
    pub fn fixes_running_clusters(&self) -> bool {
        self.fix
            .iter()
            .any(|v| !matches!(v.unless, Some(Cond::ExistingCluster)))
    }

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
        // A reason the profile states wins over the general one of a variant without `because`.
        let ruled_out = || self.fix.iter().filter(|var| var.versions.matches(v));
        ruled_out()
            .find_map(|var| var.stated_reason(&holds))
            .or_else(|| ruled_out().find_map(|var| var.ruled_out(&holds)))
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
        self.stated_reason(holds).or_else(|| {
            self.unless
                .as_ref()
                .filter(|c| holds(c))
                .map(|_| "the fix does not apply to this manifest".to_string())
        })
    }

    /// The profile's own words for why a condition rules this variant out, when it has them.
    fn stated_reason(&self, holds: &impl Fn(&Cond) -> bool) -> Option<String> {
        if let Some((_, why)) = self.refuse.iter().find(|(c, _)| holds(c)) {
            return Some(why.clone());
        }
        self.unless.as_ref().filter(|c| holds(c))?;
        self.because.clone()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupportFile {
    pub(crate) flag: String,
    pub(crate) template: String,
    pub(crate) description: String,
}
