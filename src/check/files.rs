//! The rules about a node's files (component `node-files`): modes and owners, judged against
//! the files as read on the node (`load::node_files`). A mode passes when it has no bit outside
//! the rule's `at_most`, as kube-bench's `bitmask` test (`(max & actual) == actual`); an owner
//! passes when `user:group` is the one wanted.

use crate::model::report::{FileReport, ReportFinding, VersionSource};
use crate::model::NodeFile;
use crate::profile::version::Version;
use crate::profile::{Cond, Profile, Rule, NODE_FILES};

/// What a rule finds wrong with a file: what it is and what it should be, and why it is not
/// changed.
pub(crate) struct Wrong {
    pub(crate) current: String,
    pub(crate) desired: String,
    /// The change is left to the user (an account the node does not have), with why.
    pub(crate) manual: Option<String>,
    /// The command that makes it right.
    pub(crate) command: String,
    /// The mode, and the owner (uid, gid), the file gets.
    pub(crate) mode: u32,
    pub(crate) owner: (u32, u32),
}

/// What `rule` finds wrong with `f`, if anything.
fn judge(rule: &Rule, f: &NodeFile) -> Option<Wrong> {
    match &rule.check {
        Cond::FileMode { file, at_most } if *file == f.role => {
            (f.mode & !at_most != 0).then(|| Wrong {
                current: format!("{} ({}) mode {:04o}", f.host, f.what, f.mode),
                desired: format!("mode {at_most:04o} or stricter"),
                manual: None,
                command: format!("chmod {:04o} {}", f.mode & at_most, f.host),
                mode: f.mode & at_most,
                owner: (f.uid, f.gid),
            })
        }
        Cond::FileOwner { file, owner } if *file == f.role => (f.owner != *owner).then(|| {
            let mut missing: Vec<&str> = owner
                .split(':')
                .filter(|a| f.missing_accounts.iter().any(|m| m == a))
                .collect();
            missing.dedup();
            Wrong {
                current: format!("{} ({}) owned by {}", f.host, f.what, f.owner),
                desired: format!("owned by {owner}"),
                manual: (!missing.is_empty()).then(|| {
                    format!(
                        "the node has no {} account for {} (kubeadm runs etcd as root): create the account and run the component as it, then `chown -R {owner} {}`; kubeharden does not create accounts",
                        missing.join(" or "),
                        f.host,
                        f.host
                    )
                }),
                command: format!("chown {owner} {}", f.host),
                mode: f.mode,
                owner: f
                    .owner_ids
                    .iter()
                    .find(|(o, _, _)| o == owner)
                    .map_or((f.uid, f.gid), |(_, u, g)| (*u, *g)),
            }
        }),
        _ => None,
    }
}

/// What `fix` changes on `f` for `profile`'s node-file rules: each failing rule with what it
/// finds, leaving out those left to the user (an account the node does not have).
pub(crate) fn changes<'p>(profile: &'p Profile, f: &NodeFile) -> Vec<(&'p Rule, Wrong)> {
    profile
        .rules
        .iter()
        .filter_map(|r| judge(r, f).map(|w| (r, w)))
        .filter(|(_, w)| w.manual.is_none())
        .collect()
}

/// The findings of `profile`'s node-file rules on `files`, one report per file that has any
/// (in the order of `files`), for Kubernetes `version`.
pub fn reports<'p>(
    profile: &'p Profile,
    files: &[NodeFile],
    version: Version,
) -> Vec<FileReport<'p>> {
    let rules: Vec<&Rule> = profile
        .rules
        .iter()
        .filter(|r| r.component == NODE_FILES && r.versions.matches(version))
        .collect();
    let mut out: Vec<FileReport> = Vec::new();
    for f in files {
        let findings: Vec<ReportFinding> = rules
            .iter()
            .filter_map(|r| judge(r, f).map(|w| (r, w)))
            .map(|(rule, w)| ReportFinding {
                rule,
                current: w.current,
                desired: w.desired,
                line: 1,
                column: 1,
                end_line: 1,
                end_column: 1,
                // `fix` on the node changes the mode and owner.
                fixed: w.manual.is_none(),
                blocked: false,
                manual: w.manual,
                overridden_by: None,
                risky: None,
                on_node: None,
                suppressed: None,
            })
            .collect();
        if findings.is_empty() {
            continue;
        }
        match out.iter_mut().find(|r| r.path == f.local) {
            Some(r) => r.findings.extend(findings),
            None => out.push(FileReport {
                path: f.local.clone(),
                component: NODE_FILES.to_string(),
                version,
                version_source: VersionSource::Node,
                notes: Vec::new(),
                findings,
                changes: Vec::new(),
                required_files: Vec::new(),
                removals: Vec::new(),
                original: String::new(),
                edited: None,
                kubeadm: false,
                needs_probe_patch: false,
                unused_suppressions: Vec::new(),
            }),
        }
    }
    out
}
