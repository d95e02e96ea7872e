//! Planned changes as data: what a rule's fix does to a file, before any text is touched.

use super::{Mount, Volume};

/// A symbolic change to a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The flag ends up with exactly one occurrence, `--flag=value`.
    SetFlag { flag: String, value: String },
    /// Every occurrence of the flag goes.
    RemoveFlag { flag: String },
    /// A hostPath volume and its mount in the component's container.
    AddVolume { volume: Volume, mount: Mount },
    /// An HTTP GET probe becomes a TCP socket probe on the same host and port.
    ProbeToTcp { probe: String },
    /// Every `--flag value` pair of this flag is written `--flag=value`; the values stay.
    JoinFlag { flag: String },
    /// The kubelet's flag `flag` (as written) is taken out of the environment file `file` on the
    /// node, so that `setting` of the configuration file counts.
    TakeOutFlag {
        flag: String,
        file: String,
        setting: String,
    },
}

#[derive(Clone, Debug)]
pub struct Planned {
    pub change: Change,
    /// The rules that asked for it.
    pub rules: Vec<String>,
    /// The flag's value before, for display (`None` when it was not set).
    pub(crate) before: Option<String>,
}

/// A file a planned flag refers to, which must exist on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredFile {
    pub(crate) flag: String,
    pub(crate) path: String,
    /// A directory the component writes into, rather than a file it reads.
    pub(crate) directory: bool,
    pub(crate) template: Option<String>,
    pub(crate) description: Option<String>,
}
