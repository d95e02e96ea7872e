//! A loaded static Pod manifest: the text, the tree, and the parts kubeharden reads and
//! edits, each with where it sits in the text.

use crate::model::report::Region;
use crate::model::Model;
use crate::yaml::{Node, Span};

/// Where an argument list lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgList {
    Command,
    Args,
}

/// How a flag is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `--name=value` in one item.
    Joined,
    /// `--name` and `value` in two items.
    Split,
    /// `--name` alone (a boolean set to true).
    Bare,
}

#[derive(Clone, Debug)]
pub struct FlagItem {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
    pub(crate) list: ArgList,
    /// Index of the item holding `--name` in its list.
    pub(crate) index: usize,
    pub(crate) form: Form,
    /// Span of the `--name...` item.
    pub span: Span,
    /// Where the value item of `Form::Split` is: its list (pflag reads `command` and `args` as
    /// one argv, so the value may start `args`) and index.
    pub(crate) value_at: Option<(ArgList, usize)>,
}

/// An environment variable of the container that sets a flag.
#[derive(Clone, Debug)]
pub(crate) struct EnvItem {
    pub(crate) flag: String,
    pub(crate) value: String,
    /// Index of the item in the container's `env` list.
    pub(crate) index: usize,
    /// The item's `value` scalar, if it has one.
    pub(crate) value_span: Option<Span>,
}

/// The probes kubeharden reads and may rewrite.
pub(crate) const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

/// A loaded manifest: the text, the tree, and the parts kubeharden reads and edits.
#[derive(Debug)]
pub struct Manifest {
    pub(crate) text: String,
    pub(crate) component: String,
    pub(crate) image: Option<String>,
    /// Number of leading items of `command` that name the program (`kube-apiserver`, or
    /// `hyperkube kube-apiserver`).
    pub(crate) program_items: usize,
    pub flags: Vec<FlagItem>,
    /// Flags set through the container's environment (etcd's `ETCD_*` variables).
    pub(crate) env: Vec<EnvItem>,
    pub model: Model,
    /// `\r\n` when the file uses CRLF line endings.
    pub(crate) newline: &'static str,
    /// Index of the component's container in `spec.containers`.
    pub(crate) container_index: usize,
    pub root: Node,
    /// Where a finding about a flag the manifest does not set points, once found: most
    /// findings of most files are about such flags, and the place is the same for all of them.
    pub(crate) unset_at: std::sync::OnceLock<Region>,
}

impl Manifest {
    /// The Pod's `spec` (checked to be a mapping when loading).
    pub(crate) fn spec(&self) -> &Node {
        self.root.get("spec").unwrap_or(&self.root)
    }

    /// The component's container.
    pub(crate) fn container(&self) -> &Node {
        self.spec()
            .get("containers")
            .and_then(|c| c.items().get(self.container_index))
            .unwrap_or(&self.root)
    }

    pub(crate) fn command(&self) -> Option<&Node> {
        self.container().get("command")
    }

    pub(crate) fn args(&self) -> Option<&Node> {
        self.container().get("args")
    }

    pub(crate) fn probe(&self, kind: &str) -> Option<&Node> {
        self.container().get(kind)
    }
}
