//! Preconditions of risky changes, read on the node (`fix` in place, `check --root`): whether
//! what a change needs holds there, so that a risky change is made only when it does and is
//! refused, with what to do first, when it does not.

use super::node::Root;
use crate::model::report::FileReport;
use crate::profile::{NodeCheck, Wanted};

/// What the node says of a precondition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It holds: what was read.
    Holds(String),
    /// It does not: what was read, and what to do first.
    Fails(String),
    /// It could not be read: why. The change stays risky.
    Unknown(String),
}

/// Reads `check` under `root`.
pub(crate) fn on_node(check: &NodeCheck, root: &Root) -> Verdict {
    match check {
        NodeCheck::Sysctls(wanted) => sysctls(wanted, root),
    }
}

/// Kernel settings under /proc/sys (the node's, or the tree's under `--root`).
fn sysctls(wanted: &[(String, Wanted)], root: &Root) -> Verdict {
    let mut wrong = Vec::new();
    for (name, want) in wanted {
        let host = format!("/proc/sys/{}", name.replace('.', "/"));
        let read = root
            .resolve(&host)
            .map_err(|e| e.to_string())
            .and_then(|p| std::fs::read_to_string(&p).map_err(|e| e.to_string()));
        let value = match read {
            Ok(t) => t.trim().to_string(),
            Err(e) => return Verdict::Unknown(format!("cannot read {host}: {e}")),
        };
        match value.parse::<i64>() {
            Ok(v) if want.admits(v) => {}
            Ok(v) => wrong.push(format!("{name} is {v}, the kubelet wants {want}")),
            Err(_) => return Verdict::Unknown(format!("{host} holds `{value}`, not a number")),
        }
    }
    if wrong.is_empty() {
        Verdict::Holds(format!(
            "the kernel settings it checks are as it wants ({} read under /proc/sys)",
            wanted.len()
        ))
    } else {
        Verdict::Fails(format!(
            "{}: set them first (a file in /etc/sysctl.d/ and `sysctl --system`), then run kubeharden again",
            wrong.join(", ")
        ))
    }
}

/// The report's risky fixes judged on the node: one whose precondition holds there becomes safe,
/// one whose precondition fails is not fixable, with the reason and what to do first.
pub(crate) fn judge(report: &mut FileReport, root: &Root) {
    for f in &mut report.findings {
        let (true, Some(a)) = (f.fixed, f.risky) else {
            continue;
        };
        let Some(check) = &a.on_node else { continue };
        match on_node(check, root) {
            Verdict::Holds(what) => {
                f.risky = None;
                f.on_node = Some(Ok(what));
            }
            Verdict::Fails(why) => {
                f.fixed = false;
                f.manual = Some(format!("not made: on this node {why}"));
                f.on_node = Some(Err(why));
            }
            Verdict::Unknown(_) => {}
        }
    }
}
