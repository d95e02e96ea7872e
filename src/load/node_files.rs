//! The files of a node whose mode and owner the profile's `node-files` rules check, found
//! where the node's own files name them (the kubelet's command line and configuration, the
//! static pod manifests), else where kubeadm puts them (registry `node_files`), and read with
//! their mode and owner. Files that do not exist are not judged, as kube-bench's
//! `if test -e` leaves them out.

use super::kubelet_flags;
use super::node::Root;
use crate::model::NodeFile;
use crate::profile::NodeFileSpec;
use crate::profile::{Cond, Profile, Registry, NODE_FILES};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the node's files say about where the others are.
struct Named<'r> {
    registry: &'r Registry,
    /// The kubelet's command-line flags.
    command_line: Vec<(String, String)>,
    units: Vec<String>,
    /// The kubelet's configuration file, parsed.
    kubelet: Option<Vec<crate::yaml::Document>>,
    static_pods: String,
    /// The flags of each control-plane component's manifest.
    manifests: BTreeMap<String, crate::model::Model>,
}

/// The node files the profile's rules name, under `root`.
pub(crate) fn read(root: &Root, registry: &Registry, profile: &Profile) -> Vec<NodeFile> {
    let mut roles: Vec<&str> = Vec::new();
    let mut owners: Vec<&str> = Vec::new();
    for r in profile.rules.iter().filter(|r| r.component == NODE_FILES) {
        match &r.check {
            Cond::FileMode { file, .. } => roles.push(file),
            Cond::FileOwner { file, owner } => {
                roles.push(file);
                owners.push(owner);
            }
            _ => {}
        }
    }
    if roles.is_empty() {
        return Vec::new();
    }
    let named = named(root, registry);
    let accounts = Accounts::read(root);
    let mut missing: Vec<String> = owners
        .iter()
        .flat_map(|o| o.split(':'))
        .filter(|a| !accounts.has(a))
        .map(str::to_string)
        .collect();
    missing.sort();
    missing.dedup();
    let owner_ids: Vec<(String, u32, u32)> = owners
        .iter()
        .filter_map(|o| {
            let (u, g) = o.split_once(':')?;
            Some((
                o.to_string(),
                accounts.id(&accounts.users, u)?,
                accounts.id(&accounts.groups, g)?,
            ))
        })
        .collect();
    let mut out: Vec<NodeFile> = Vec::new();
    for (role, spec) in &registry.node_files {
        if !roles.contains(&role.as_str()) {
            continue;
        }
        for host in paths(root, spec, &named) {
            let Ok(local) = root.resolve(&host) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(&local) else {
                continue;
            };
            out.push(NodeFile {
                role: role.clone(),
                what: spec.what.clone(),
                host,
                local: local.display().to_string(),
                directory: meta.is_dir(),
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                owner: accounts.owner(meta.uid(), meta.gid()),
                missing_accounts: missing.clone(),
                owner_ids: owner_ids.clone(),
            });
        }
    }
    out
}

fn named<'r>(root: &Root, registry: &'r Registry) -> Named<'r> {
    let cl = kubelet_flags::read(root, registry);
    let config = cl
        .config
        .clone()
        .unwrap_or_else(|| super::inputs::DEFAULT_KUBELET_CONFIG.to_string());
    let kubelet = root
        .resolve(&config)
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| crate::yaml::parse(&t).ok());
    let static_pods = kubelet
        .as_deref()
        .and_then(|d| setting(d, "staticPodPath"))
        .unwrap_or_else(|| super::inputs::DEFAULT_MANIFESTS_DIR.to_string());
    let mut manifests = BTreeMap::new();
    if let Some(entries) = root
        .resolve(&static_pods)
        .ok()
        .and_then(|d| std::fs::read_dir(d).ok())
    {
        for e in entries.flatten() {
            let Some(text) = std::fs::read_to_string(e.path()).ok() else {
                continue;
            };
            if let Ok(doc) = crate::document::load(&text, registry) {
                let m = doc.model().clone();
                manifests.entry(m.component.clone()).or_insert(m);
            }
        }
    }
    Named {
        registry,
        command_line: cl.flags,
        units: cl.units,
        kubelet,
        static_pods,
        manifests,
    }
}

impl Named<'_> {
    /// The value of the kubelet's command-line flag `name`, if it is given.
    fn flag(&self, name: &str) -> Option<String> {
        self.command_line
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The kubelet's flag for a setting of its configuration file.
    fn registry_flag(&self, setting: &str) -> Option<&str> {
        self.registry
            .flag(crate::document::component::COMPONENT, setting)?
            .command_line
            .as_deref()
    }
}

/// The value of a dotted `key` of a YAML document's top mapping, when it is a string.
fn setting(docs: &[crate::yaml::Document], key: &str) -> Option<String> {
    let mut node = &docs.first()?.root;
    for k in key.split('.') {
        node = node.get(k)?;
    }
    node.as_str().map(str::to_string)
}

/// The paths on the node that a role stands for.
fn paths(root: &Root, spec: &NodeFileSpec, named: &Named) -> Vec<String> {
    let by = spec.named_by.as_ref();
    let one: Option<String> = match by {
        Some(b) if b.kubelet_units => {
            if !named.units.is_empty() {
                return named.units.clone();
            }
            None
        }
        Some(b) => match (&b.static_pod, b.component.as_deref(), b.setting.as_deref()) {
            (Some(name), _, _) => Some(format!(
                "{}/{name}",
                named.static_pods.trim_end_matches('/')
            )),
            (None, Some("kubelet-command-line"), Some(s)) => named.flag(s),
            // A flag of the kubelet's command line wins over its configuration file.
            (None, Some(c), Some(s)) if c == crate::document::component::COMPONENT => named
                .registry_flag(s)
                .and_then(|f| named.flag(f))
                .or_else(|| named.kubelet.as_deref().and_then(|d| setting(d, s))),
            (None, Some(c), Some(s)) => named.manifests.get(c).and_then(|m| m.value(s)),
            _ => None,
        },
        None => None,
    };
    let base = one
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| spec.default.clone());
    match &spec.matching {
        None => vec![base],
        Some(m) => {
            let mut out = Vec::new();
            if m == "**" {
                out.push(base.clone());
            }
            if let Ok(dir) = root.resolve(&base) {
                walk(&dir, &base, m, &mut out);
            }
            out
        }
    }
}

/// The entries below `dir` (shown under `host`) that `matching` takes, depth first in name
/// order; links are not followed into directories.
fn walk(dir: &Path, host: &str, matching: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let shown = format!("{}/{name}", host.trim_end_matches('/'));
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if matching == "**" || (!is_dir && name.ends_with(matching)) {
            out.push(shown.clone());
        }
        if is_dir {
            walk(&e.path(), &shown, matching, out);
        }
    }
}

/// The node's accounts (its /etc/passwd and /etc/group), by id and by name.
struct Accounts {
    users: BTreeMap<u32, String>,
    groups: BTreeMap<u32, String>,
}

impl Accounts {
    fn read(root: &Root) -> Accounts {
        let table = |host: &str| -> BTreeMap<u32, String> {
            let text = root
                .resolve(host)
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            let mut t: BTreeMap<u32, String> = text
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let id = f.nth(1)?.parse().ok()?;
                    Some((id, name.to_string()))
                })
                .collect();
            // POSIX: id 0 is root's, with or without the file.
            t.entry(0).or_insert_with(|| "root".to_string());
            t
        };
        Accounts {
            users: table("/etc/passwd"),
            groups: table("/etc/group"),
        }
    }

    fn id(&self, table: &BTreeMap<u32, String>, name: &str) -> Option<u32> {
        table.iter().find(|(_, n)| *n == name).map(|(id, _)| *id)
    }

    fn has(&self, name: &str) -> bool {
        self.users
            .values()
            .chain(self.groups.values())
            .any(|n| n == name)
    }

    /// `user:group`, by name where the node names the ids.
    fn owner(&self, uid: u32, gid: u32) -> String {
        let user = self.users.get(&uid).cloned().unwrap_or(uid.to_string());
        let group = self.groups.get(&gid).cloned().unwrap_or(gid.to_string());
        format!("{user}:{group}")
    }
}
