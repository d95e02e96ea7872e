//! The meaning of a manifest, as the checker and the verifier see it: the component's flags in
//! argv order, its volumes and mounts, and its probes. Spans and formatting live in `manifest`.

pub mod change;
pub mod report;

use crate::paths::path_within;
use crate::profile::{same_name, FlagType, Registry};
use std::collections::{HashMap, HashSet};

/// A file of the node whose mode and owner rules check (CIS 1.1.x, 4.1.x), as read there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFile {
    /// Its role (registry `node_files`: `apiserver-manifest`, `pki-keys`, ...) and what that is.
    pub role: String,
    pub what: String,
    /// Its path on the node, and as this machine reaches it (under `--root`).
    pub host: String,
    pub local: String,
    pub directory: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `user:group` as the node's /etc/passwd and /etc/group name them (numbers where they
    /// name none).
    pub owner: String,
    /// The owners rules want that the node has no account for (`etcd:etcd` on a kubeadm node,
    /// which runs etcd as root).
    pub missing_accounts: Vec<String>,
    /// The uid and gid of each owner rules want (`user:group`) that the node has accounts for.
    pub owner_ids: Vec<(String, u32, u32)>,
}

/// A setting of a configuration file that a command-line flag overrides: the kubelet's flags in
/// its systemd unit and environment files win over its configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The setting, named as in the file (`authentication.anonymous.enabled`).
    pub setting: String,
    /// The value the flag gives, as the model holds the setting (`true`, `10255`, list items
    /// joined by commas, `key=value` items for a map).
    pub value: String,
    /// The flag as written (`--anonymous-auth=true`).
    pub written: String,
    /// Where it is written: the file on the node, the line and column of the flag, and the
    /// variable that holds it (`KUBELET_EXTRA_ARGS`), if one does.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub variable: Option<String>,
    /// kubeadm writes that file (`kubeadm-flags.env`), from `nodeRegistration.kubeletExtraArgs`.
    pub kubeadm_writes: bool,
    /// Every place a flag for the setting is written (the last wins, or for lists and maps all
    /// count): taking them all out leaves the setting to the file.
    pub places: Vec<FlagPlace>,
}

/// Where a flag is written on the node: the bytes `start..end` of `file` (the flag, its value
/// and the whitespace that separates it from its neighbours), which read `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagPlace {
    pub file: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// In an environment file (`NAME=value` lines), which kubeharden edits; not in a systemd
    /// unit, where a change also needs `systemctl daemon-reload`, nor with its value written
    /// apart from it.
    pub editable: bool,
    /// The flag's value is written apart from it (in another variable, or another file): the
    /// place is the flag alone, which cannot be taken out without leaving the value behind.
    pub value_apart: bool,
}

impl Override {
    /// The flags can be taken out where they are written: every place is in an environment file.
    pub fn removable(&self) -> bool {
        !self.places.is_empty() && self.places.iter().all(|p| p.editable)
    }

    /// `--anonymous-auth=true in /var/lib/kubelet/kubeadm-flags.env:1:31 (KUBELET_KUBEADM_ARGS)`.
    pub fn at(&self) -> String {
        let var = self
            .variable
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v})"));
        format!(
            "{} in {}:{}:{}{var}",
            self.written, self.file, self.line, self.column
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    /// `None` for a bare boolean flag (`--x`, meaning true).
    pub value: Option<String>,
}

impl Flag {
    /// As a variable of the environment, whether it sets its flag: an empty one sets nothing
    /// (etcd skips it).
    pub(crate) fn sets(&self) -> bool {
        self.value.as_deref() != Some("")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub(crate) name: String,
    pub(crate) mount_path: String,
    pub read_only: bool,
    /// The part of the volume mounted (`subPath`), if not all of it.
    pub(crate) sub_path: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub(crate) name: String,
    /// `None` for volumes that are not hostPath volumes.
    pub(crate) host_path: Option<String>,
    pub path_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    HttpGet {
        path: Option<String>,
        /// The probe sends an Authorization header.
        authenticated: bool,
    },
    TcpSocket,
    /// A command run in the container; `http` when it fetches an HTTP(S) URL (curl, wget).
    Exec {
        http: bool,
        authenticated: bool,
    },
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// `livenessProbe`, `readinessProbe` or `startupProbe`.
    pub kind: String,
    pub handler: Handler,
    /// The `host` an httpGet or tcpSocket probe connects to; `None` means the pod's IP.
    pub host: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Model {
    pub component: String,
    pub flags: Vec<Flag>,
    pub mounts: Vec<Mount>,
    pub volumes: Vec<Volume>,
    pub probes: Vec<Probe>,
    /// Flags written at least once as `--flag value` over two items, which scanners such as
    /// kube-bench misread (they take the value to be `true`).
    pub split_flags: Vec<String>,
    /// Settings given as environment variables of the container (`ETCD_CLIENT_CERT_AUTH` for
    /// etcd's `--client-cert-auth`), named by the flag they set, in order, empty ones included.
    /// etcd applies a non-empty one only when the command line does not set the flag.
    pub(crate) env: Vec<Flag>,
    /// The apiVersion of the configuration file the settings come from (a kubeadm API, a
    /// component configuration kind), which a release may not read; `None` for a manifest.
    pub config_api: Option<String>,
}

impl Model {
    /// The same settings, whatever their order: the flags (a repeated flag's occurrences in
    /// their order, since the last one wins), the mounts, volumes, probes and environment. A
    /// change that only reorders them changes nothing the component sees.
    pub(crate) fn same_settings(&self, other: &Model) -> bool {
        fn sorted<T: Clone>(v: &[T], key: impl Fn(&T) -> String) -> Vec<T> {
            let mut v = v.to_vec();
            v.sort_by_key(|x| key(x));
            v
        }
        self.component == other.component
            && self.config_api == other.config_api
            && sorted(&self.flags, |f| f.name.clone()) == sorted(&other.flags, |f| f.name.clone())
            && sorted(&self.env, |f| f.name.clone()) == sorted(&other.env, |f| f.name.clone())
            && sorted(&self.mounts, |m| format!("{}\0{}", m.mount_path, m.name))
                == sorted(&other.mounts, |m| format!("{}\0{}", m.mount_path, m.name))
            && sorted(&self.volumes, |v| v.name.clone())
                == sorted(&other.volumes, |v| v.name.clone())
            && sorted(&self.probes, |p| p.kind.clone()) == sorted(&other.probes, |p| p.kind.clone())
    }

    /// The occurrences that set a flag: those on the command line, or, when there are none,
    /// those in the environment (etcd's `flags.SetFlagsFromEnv` only fills flags the command
    /// line leaves unset).
    /// An empty variable sets nothing (etcd skips it).
    pub(crate) fn occurrences<'a, 'n>(&'a self, name: &'n str) -> Occurrences<'a, 'n> {
        // The command line from its first occurrence of the flag on, else the environment.
        let first = self.flags.iter().position(|f| same_name(&f.name, name));
        let (from, on_line) = match first {
            Some(i) => (&self.flags[i..], true),
            None => (&self.env[..], false),
        };
        Occurrences {
            rest: from.iter(),
            name,
            on_line,
        }
    }

    /// The flag has a variable in the environment (even an empty one) and is not on the
    /// command line: a change to it goes to the variable, since etcd refuses both.
    pub fn from_env(&self, name: &str) -> bool {
        !self.flags.iter().any(|f| same_name(&f.name, name))
            && self.env.iter().any(|f| same_name(&f.name, name))
    }

    pub fn present(&self, name: &str) -> bool {
        self.occurrences(name).next().is_some()
    }

    /// The value the component uses: the last occurrence wins (pflag), a bare flag means true.
    pub fn value(&self, name: &str) -> Option<String> {
        self.value_ref(name).map(str::to_string)
    }

    /// [`Model::value`] without copying it.
    pub(crate) fn value_ref<'a>(&'a self, name: &str) -> Option<&'a str> {
        // The last of the occurrences, looked for from the end: the command line's last, else
        // the environment's last non-empty variable.
        let same = |f: &&Flag| same_name(&f.name, name);
        let last = match self.flags.iter().rfind(same) {
            Some(f) => f,
            None => self.env.iter().rfind(|f| same(f) && f.sets())?,
        };
        Some(last.value.as_deref().unwrap_or("true"))
    }

    /// The items of a list flag: every occurrence's comma-separated items, in order
    /// (pflag slices append across repeated flags).
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.list_ref(name).map(owned)
    }

    /// [`Model::list`] without copying the items.
    pub(crate) fn list_ref<'a>(&'a self, name: &str) -> Option<Vec<&'a str>> {
        self.each_value(Some(FlagType::List), name)
            .map(Iterator::collect)
    }

    /// Values of a flag as the component reads them, according to its type.
    pub(crate) fn values(&self, registry: &Registry, name: &str) -> Option<Vec<String>> {
        self.values_ref(registry, name).map(owned)
    }

    /// [`Model::values`] joined by commas, as a change shows what a flag was: written into one
    /// string, without copying the values first.
    pub(crate) fn shown_values(&self, registry: &Registry, name: &str) -> Option<String> {
        let mut shown = String::new();
        push_joined(&mut shown, self.values_of(registry, name)?, ",");
        Some(shown)
    }

    /// [`Model::values`] without copying them.
    pub(crate) fn values_ref<'a>(
        &'a self,
        registry: &Registry,
        name: &str,
    ) -> Option<Vec<&'a str>> {
        self.values_of(registry, name).map(Iterator::collect)
    }

    /// [`Model::each_value`] for the type the registry gives the flag.
    pub(crate) fn values_of<'a, 'n>(
        &'a self,
        registry: &Registry,
        name: &'n str,
    ) -> Option<Values<'a, 'n>> {
        let kind = registry.flag(&self.component, name).map(|s| s.kind);
        self.each_value(kind, name)
    }

    /// [`Model::values_ref`] one by one, for a flag of the type `kind` (as the registry has
    /// it, if it has it), without collecting them: the conditions of every rule read them.
    pub(crate) fn each_value<'a, 'n>(
        &'a self,
        kind: Option<FlagType>,
        name: &'n str,
    ) -> Option<Values<'a, 'n>> {
        match kind {
            // Found when the flag is given at all, even bare (no items, then).
            Some(FlagType::List | FlagType::Map) => {
                let occurrences = self.occurrences(name);
                occurrences.clone().next()?;
                Some(Values::Items {
                    occurrences,
                    items: None,
                })
            }
            // Found when an occurrence has a value.
            Some(FlagType::Files | FlagType::Array) => {
                let occurrences = self.occurrences(name);
                occurrences.clone().find(|f| f.value.is_some())?;
                Some(Values::Whole(occurrences))
            }
            _ => self.value_ref(name).map(|v| Values::One(Some(v))),
        }
    }

    /// The mount that makes a path inside the container visible from the node, if any (and
    /// whether it is writable is its `read_only`): of the mounts of hostPath volumes that hold
    /// the path, the one with the longest mount path, the last of those as long.
    pub fn mount_covering(&self, path: &str) -> Option<&Mount> {
        // A pod mounts a directory once or twice: each such mount's volume is looked up among
        // the volumes. Thousands of mounts of the same directory (a file written to hurt) have
        // their volumes found in a set of the hostPath volumes' names, not each among all the
        // volumes, which would take time to the square of their number.
        const FEW: usize = 4;
        let mut few: [Option<&Mount>; FEW] = [None; FEW];
        let mut covering = 0;
        for m in &self.mounts {
            if path_within(path, &m.mount_path) {
                if let Some(slot) = few.get_mut(covering) {
                    *slot = Some(m);
                }
                covering += 1;
            }
        }
        if covering <= FEW {
            let host = |m: &&Mount| {
                self.volumes
                    .iter()
                    .any(|v| v.name == m.name && v.host_path.is_some())
            };
            return few
                .into_iter()
                .flatten()
                .filter(host)
                .max_by_key(|m| m.mount_path.len());
        }
        let names: HashSet<&str> = self
            .volumes
            .iter()
            .filter(|v| v.host_path.is_some())
            .map(|v| v.name.as_str())
            .collect();
        self.mounts
            .iter()
            .filter(|m| path_within(path, &m.mount_path))
            .filter(|m| names.contains(m.name.as_str()))
            .max_by_key(|m| m.mount_path.len())
    }
}

/// The occurrences that set a flag ([`Model::occurrences`]).
#[derive(Clone)]
pub(crate) struct Occurrences<'a, 'n> {
    rest: std::slice::Iter<'a, Flag>,
    name: &'n str,
    /// The occurrences are on the command line, where an empty value counts.
    on_line: bool,
}

impl<'a> Iterator for Occurrences<'a, '_> {
    type Item = &'a Flag;

    fn next(&mut self) -> Option<&'a Flag> {
        let (name, on_line) = (self.name, self.on_line);
        self.rest
            .find(|f| same_name(&f.name, name) && (on_line || f.sets()))
    }
}

/// A flag's values as the component reads them ([`Model::each_value`]).
#[derive(Clone)]
pub(crate) enum Values<'a, 'n> {
    /// A list or a map: the comma-separated items of every occurrence, trimmed, empty ones
    /// left out (pflag slices append across repeated flags).
    Items {
        occurrences: Occurrences<'a, 'n>,
        /// What is left of the current occurrence's items.
        items: Option<std::str::Split<'a, char>>,
    },
    /// Files or an array: every occurrence's value, whole.
    Whole(Occurrences<'a, 'n>),
    /// Any other type: the value in effect (the last occurrence's).
    One(Option<&'a str>),
}

impl<'a> Iterator for Values<'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Values::Items { occurrences, items } => loop {
                if let Some(item) = items
                    .as_mut()
                    .and_then(|split| split.by_ref().map(str::trim).find(|t| !t.is_empty()))
                {
                    return Some(item);
                }
                *items = occurrences.next()?.value.as_deref().map(|v| v.split(','));
            },
            Values::Whole(occurrences) => occurrences.find_map(|f| f.value.as_deref()),
            Values::One(v) => v.take(),
        }
    }
}

/// `items` written at the end of `out`, `sep` between them: a list shown in words, without
/// joining it into a string of its own first.
pub(crate) fn push_joined<'a>(
    out: &mut String,
    items: impl IntoIterator<Item = &'a str>,
    sep: &str,
) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(item);
    }
}

fn owned(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(str::to_string).collect()
}

pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Up to this many mounts, a path is held against each of them ([`Model::mount_covering`]); past
/// it, the loops that look up many paths index them first ([`MountIndex`]).
pub(crate) const MOUNTS_SCANNED: usize = 64;

impl Model {
    /// An index of the mounts, when there are more than [`MOUNTS_SCANNED`] (a pod mounts a
    /// handful of directories, which are scanned faster than they are indexed).
    pub(crate) fn mount_index(&self) -> Option<MountIndex> {
        (self.mounts.len() > MOUNTS_SCANNED).then(|| MountIndex::new(self))
    }

    /// [`Model::mount_covering`], through `index` when there is one.
    pub(crate) fn mount_covering_with<'m>(
        &'m self,
        index: Option<&MountIndex>,
        path: &str,
    ) -> Option<&'m Mount> {
        match index {
            Some(i) => i.covering(self, path),
            None => self.mount_covering(path),
        }
    }
}

/// A model's mounts by the directory each mounts, and its volumes by name, for the loops that
/// hold many paths against many mounts: [`MountIndex::covering`] finds the mount
/// [`Model::mount_covering`] finds, from the directories the path lies in rather than by holding
/// it against every mount. A pod of 20,000 file flags, each fixed with a mount of its own, took
/// 13 s to check, each flag's file held against all the mounts several times over. Mounts and
/// volumes pushed to the model afterwards are taken in with [`MountIndex::add`].
#[derive(Default)]
pub(crate) struct MountIndex {
    /// The mounts' positions by their mount path without its trailing `/`s, in the mounts'
    /// order.
    by_dir: HashMap<String, Vec<usize>>,
    /// The position of the first volume of each name.
    first_volume: HashMap<String, usize>,
    /// The names of the hostPath volumes.
    host: HashSet<String>,
    /// How many of the model's mounts and volumes are in the index.
    mounts: usize,
    volumes: usize,
}

impl MountIndex {
    pub(crate) fn new(model: &Model) -> Self {
        let mut index = MountIndex::default();
        index.add(model);
        index
    }

    /// Takes in the mounts and volumes pushed to `model` since the index last saw it.
    pub(crate) fn add(&mut self, model: &Model) {
        for (at, m) in model.mounts.iter().enumerate().skip(self.mounts) {
            let dir = m.mount_path.trim_end_matches('/');
            self.by_dir.entry(dir.to_string()).or_default().push(at);
        }
        for (at, v) in model.volumes.iter().enumerate().skip(self.volumes) {
            self.first_volume.entry(v.name.clone()).or_insert(at);
            if v.host_path.is_some() {
                self.host.insert(v.name.clone());
            }
        }
        (self.mounts, self.volumes) = (model.mounts.len(), model.volumes.len());
    }

    /// [`Model::mount_covering`] of `model`, whose mounts the index holds: the mounts of
    /// `path` itself and of each directory above it (`/` the last), of a hostPath volume, the
    /// longest mount path winning and the last such mount of a length.
    pub(crate) fn covering<'m>(&self, model: &'m Model, path: &str) -> Option<&'m Mount> {
        // `path_within`: `dir` (without its trailing `/`s) is the path, or the path up to a
        // `/` of its own; an empty one (the mount of `/`) holds every absolute path.
        let above = path
            .bytes()
            .enumerate()
            .filter(|&(i, b)| b == b'/' && i > 0)
            .map(|(i, _)| &path[..i]);
        let whole = (!path.is_empty()).then_some(path);
        let root = path.starts_with('/').then_some("");
        above
            .chain(whole)
            .chain(root)
            .filter_map(|dir| self.by_dir.get(dir))
            .flatten()
            .map(|&at| (at, &model.mounts[at]))
            .filter(|(_, m)| self.host.contains(&m.name))
            .max_by_key(|&(at, m)| (m.mount_path.len(), at))
            .map(|(_, m)| m)
    }

    /// The first mount of the directory `dir` (given without a trailing `/`).
    pub(crate) fn mount_of<'m>(&self, model: &'m Model, dir: &str) -> Option<&'m Mount> {
        let at = *self.by_dir.get(dir)?.first()?;
        Some(&model.mounts[at])
    }

    /// The first volume named `name`.
    pub(crate) fn volume<'m>(&self, model: &'m Model, name: &str) -> Option<&'m Volume> {
        Some(&model.volumes[*self.first_volume.get(name)?])
    }

    /// Whether a volume is named `name`.
    pub(crate) fn has_volume(&self, name: &str) -> bool {
        self.first_volume.contains_key(name)
    }
}

/// Where a path inside the container lives on the node, through the mount that covers it.
pub(crate) fn host_path(work: &Model, path: &str) -> String {
    host_path_with(work, None, path)
}

/// [`host_path`], with the model's mounts looked up in `index` when the caller has one.
pub(crate) fn host_path_with(work: &Model, index: Option<&MountIndex>, path: &str) -> String {
    let Some(m) = work.mount_covering_with(index, path) else {
        return path.to_string();
    };
    let volume = match index {
        Some(i) => i.volume(work, &m.name),
        None => work.volumes.iter().find(|v| v.name == m.name),
    };
    let Some(host) = volume.and_then(|v| v.host_path.as_deref()) else {
        return path.to_string();
    };
    let rest = &path[m.mount_path.trim_end_matches('/').len()..];
    // Put together without `format!`: every file a fix needs is placed on the node this way.
    let (slash, sub) = match m.sub_path.as_deref() {
        Some(s) => ("/", s.trim_matches('/')),
        None => ("", ""),
    };
    [host.trim_end_matches('/'), slash, sub, rest].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flag's values read one by one are those collected, and shown joined by commas the
    /// same: over random command lines and environments of list, files, single-valued and
    /// unknown flags, bare, empty and with values.
    #[test]
    fn values_read_one_by_one_are_those_collected() {
        let reg = Registry::builtin().expect("registry");
        let names = [
            "tls-cipher-suites",
            "service-account-key-file",
            "profiling",
            "no-such-flag",
        ];
        let values = [None, Some(""), Some("a"), Some("a, b,,c"), Some(" ")];
        let mut next = crate::testing::seeded();
        for _ in 0..3000 {
            let flags = |next: &mut dyn FnMut(usize) -> usize, most: usize| {
                (0..next(most))
                    .map(|_| Flag {
                        name: names[next(names.len())].into(),
                        value: values[next(values.len())].map(str::to_string),
                    })
                    .collect::<Vec<_>>()
            };
            let m = Model {
                component: "kube-apiserver".into(),
                flags: flags(&mut next, 6),
                env: flags(&mut next, 3),
                ..Model::default()
            };
            for name in names {
                let kind = reg.flag("kube-apiserver", name).map(|s| s.kind);
                let collected = match kind {
                    // As the list was read before: every occurrence's items, trimmed.
                    Some(FlagType::List | FlagType::Map) => {
                        let mut found = false;
                        let mut items = Vec::new();
                        for f in m.occurrences(name) {
                            found = true;
                            if let Some(v) = &f.value {
                                items.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()));
                            }
                        }
                        found.then_some(items)
                    }
                    Some(FlagType::Files | FlagType::Array) => {
                        let v: Vec<&str> = m
                            .occurrences(name)
                            .filter_map(|f| f.value.as_deref())
                            .collect();
                        (!v.is_empty()).then_some(v)
                    }
                    _ => m.value_ref(name).map(|v| vec![v]),
                };
                assert_eq!(m.values_ref(&reg, name), collected, "{name} {m:?}");
                let last = m.occurrences(name).last();
                assert_eq!(
                    m.value_ref(name),
                    last.map(|f| f.value.as_deref().unwrap_or("true")),
                    "{name} {m:?}"
                );
                assert_eq!(
                    m.shown_values(&reg, name),
                    collected.map(|v| v.join(",")),
                    "{name} {m:?}"
                );
            }
        }
    }

    /// `mount_covering` as it was first written (each covering mount's volume looked up among
    /// all the volumes): the oracle.
    fn mount_covering_by_scans<'m>(model: &'m Model, path: &str) -> Option<&'m Mount> {
        model
            .mounts
            .iter()
            .filter(|m| path_within(path, &m.mount_path))
            .filter(|m| {
                model
                    .volumes
                    .iter()
                    .any(|v| v.name == m.name && v.host_path.is_some())
            })
            .max_by_key(|m| m.mount_path.len())
    }

    /// The same mount (the very one, not one equal to it) as the scans find, for random pods
    /// with few and with many mounts holding a path: mount paths with and without a trailing
    /// slash, repeated mounts of one directory (read-only or not), volume names repeated,
    /// missing, or of volumes that are not hostPath ones; found by `mount_covering` and by a
    /// [`MountIndex`] made of part of the pod and given the rest, for paths below mounts,
    /// with a trailing or a doubled `/`, relative, `/` and empty. The node paths found through
    /// either are the same. Fails when the tie between mounts as long goes to the first, or a
    /// volume that is not a hostPath one counts.
    #[test]
    fn the_covering_mount_is_the_one_the_scans_find() {
        let dirs = [
            "/",
            "/etc",
            "/etc/",
            "/etc/kubernetes",
            "/etc/kubernetes/",
            "/etc/kubernetes/pki",
            "/etc/kubernetes/pki/",
            "/var",
            "/var/log",
            "/etc/kube",
        ];
        let paths = [
            "/etc/kubernetes/pki/ca.crt",
            "/etc/kubernetes/audit.yaml",
            "/var/log/audit.log",
            "/etc/kubernetes",
            "/opt/x",
            "/etc/kubernetes/",
            "/etc//kubernetes/pki/ca.crt",
            "/",
            "etc/kubernetes",
            "",
        ];
        let mut next = crate::testing::seeded();
        let mut found = 0;
        for round in 0..3_000 {
            let n = if round % 10 == 0 {
                20 + next(200)
            } else {
                next(8)
            };
            let names = 1 + next(n + 2);
            let mut m = Model::default();
            for _ in 0..n {
                m.mounts.push(Mount {
                    name: format!("v{}", next(names)),
                    mount_path: dirs[next(dirs.len())].to_string(),
                    read_only: next(2) == 0,
                    sub_path: None,
                });
            }
            for _ in 0..next(n + 3) {
                m.volumes.push(Volume {
                    name: format!("v{}", next(names)),
                    host_path: (next(4) != 0).then(|| format!("/h{}", next(3))),
                    path_type: None,
                });
            }
            // The index, made of the first mounts and volumes and then given the rest.
            let mut index = MountIndex::new(&Model {
                mounts: m.mounts[..m.mounts.len() / 2].to_vec(),
                volumes: m.volumes[..m.volumes.len() / 3].to_vec(),
                ..Model::default()
            });
            index.add(&m);
            for path in paths {
                let want = mount_covering_by_scans(&m, path);
                for (how, got) in [
                    ("scans", m.mount_covering(path)),
                    ("index", index.covering(&m, path)),
                ] {
                    assert!(
                        match (got, want) {
                            (Some(a), Some(b)) => std::ptr::eq(a, b),
                            (a, b) => a.is_none() && b.is_none(),
                        },
                        "{how}, {path}: {got:?} against {want:?} in {m:?}"
                    );
                }
                assert_eq!(
                    host_path_with(&m, Some(&index), path),
                    host_path(&m, path),
                    "{path} in {m:?}"
                );
                found += usize::from(want.is_some());
            }
        }
        assert!(found > 6_000 && found < 24_000, "{found}");
    }

    /// A flag's occurrences: the command line's from the first on, the environment's only when
    /// the command line has none (and an empty variable not), names that differ only inside or
    /// only at the end told apart.
    #[test]
    fn occurrences_of_a_flag_by_its_name() {
        let flag = |n: &str, v: &str| Flag {
            name: n.into(),
            value: Some(v.into()),
        };
        let m = Model {
            flags: vec![
                flag("tls-cert-file", "a"),
                flag("tls-key-file", "b"),
                flag("tls-cert-filf", "c"),
                flag("tls-cert-file", "d"),
                flag("tlx-cert-file", "e"),
            ],
            env: vec![
                flag("tls-key-file", "env"),
                flag("data-dir", ""),
                flag("name", "n"),
            ],
            ..Model::default()
        };
        let values = |name: &str| -> Vec<&str> {
            m.occurrences(name)
                .filter_map(|f| f.value.as_deref())
                .collect()
        };
        assert_eq!(values("tls-cert-file"), ["a", "d"]);
        assert_eq!(values("tls-cert-filf"), ["c"]);
        assert_eq!(values("tlx-cert-file"), ["e"]);
        assert_eq!(values("tls-key-file"), ["b"]);
        assert_eq!(values("name"), ["n"]);
        assert!(values("data-dir").is_empty());
        assert!(values("tls-cert-fil").is_empty());
        assert_eq!(m.value_ref("tls-cert-file"), Some("d"));
    }

    #[test]
    fn effective_values_follow_pflag() {
        let flag = |name: &str, value: Option<&str>| Flag {
            name: name.into(),
            value: value.map(str::to_string),
        };
        let m = Model {
            component: "kube-apiserver".into(),
            flags: vec![
                flag("profiling", Some("true")),
                flag("profiling", Some("false")),
                flag("enable-admission-plugins", Some("A,B")),
                flag("enable-admission-plugins", Some("C")),
                flag("anonymous-auth", None),
            ],
            ..Model::default()
        };
        assert_eq!(m.value("profiling").as_deref(), Some("false"));
        assert_eq!(m.value("anonymous-auth").as_deref(), Some("true"));
        assert_eq!(
            m.list("enable-admission-plugins"),
            Some(vec!["A".into(), "B".into(), "C".into()])
        );
        assert_eq!(m.list("nope"), None);
    }

    #[test]
    fn paths() {
        assert!(path_within(
            "/etc/kubernetes/pki/ca.crt",
            "/etc/kubernetes/pki"
        ));
        assert!(path_within("/etc/kubernetes/pki", "/etc/kubernetes/pki/"));
        assert!(!path_within(
            "/etc/kubernetes/pki2/x",
            "/etc/kubernetes/pki"
        ));
    }

    #[test]
    fn reordered_settings_are_the_same_and_a_repeat_keeps_its_order() {
        let flag = |n: &str, v: &str| Flag {
            name: n.into(),
            value: Some(v.into()),
        };
        let mount = |n: &str, p: &str| Mount {
            name: n.into(),
            mount_path: p.into(),
            read_only: true,
            sub_path: None,
        };
        let a = Model {
            component: "kube-apiserver".into(),
            flags: vec![flag("a", "1"), flag("b", "2"), flag("a", "3")],
            mounts: vec![mount("x", "/x"), mount("y", "/y")],
            ..Model::default()
        };
        let mut b = a.clone();
        b.flags = vec![flag("b", "2"), flag("a", "1"), flag("a", "3")];
        b.mounts.reverse();
        assert!(a.same_settings(&b));
        // The last occurrence wins: swapping a repeated flag's values is a change.
        b.flags = vec![flag("b", "2"), flag("a", "3"), flag("a", "1")];
        assert!(!a.same_settings(&b));
        let mut c = a.clone();
        c.mounts[0].read_only = false;
        assert!(!a.same_settings(&c));
    }
}
