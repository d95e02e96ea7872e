//! What a run reads: the profile and the registry, and the inputs the paths name (files,
//! directories walked, and on a node the kubelet's configuration and the files the static pods
//! read), each with what is known of it before it is read.

use super::node::{is_within, real_path};
use super::read::read_input;
use super::walk;
use crate::document::{component, manifest};
use crate::model::host_path;
use crate::model::report::{FileError, UsageError};
use crate::paths::{clean_path, path_within};
use crate::profile::version::Version;
use crate::profile::{Profile, Registry};
use std::path::{Path, PathBuf};

/// Where the kubelet reads static pod manifests on a kubeadm node.
pub(crate) const DEFAULT_MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";

/// Where kubeadm has the kubelet read its configuration (the kubelet's `--config`).
pub(crate) const DEFAULT_KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";

/// What every command that reads files starts from.
pub(crate) struct Settings {
    pub(crate) registry: Registry,
    pub(crate) profile: Profile,
    pub(crate) version: Option<Version>,
    pub(crate) inputs: Inputs,
    /// Read `# kubeharden: ignore[...]` comments (not with `--no-ignores`).
    pub(crate) ignores: bool,
    /// The node the files are from, where the preconditions of risky changes are read (`check`
    /// of a node or of a tree under `--root`); `None`: the files alone decide.
    pub(crate) node_root: Option<Box<crate::model::report::NodeLookup<'static>>>,
}

#[derive(Clone)]
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    /// Found inside a directory rather than named.
    pub(crate) from_dir: bool,
    /// What only some inputs have (the files of a walk, thousands of them, have none of it):
    /// kept apart, so that the list of inputs a run holds stays small.
    more: Option<Box<More>>,
}

#[derive(Clone, Default)]
struct More {
    /// Not processed; this is said instead.
    note: Option<String>,
    /// A file a manifest names (kube-scheduler's `--config`): the kind it must be, and the
    /// Kubernetes version of the manifest that reads it.
    expect_kind: Option<String>,
    version: Option<Version>,
    /// Could not be read (a directory of a walk): an error for this path, said instead.
    error: Option<String>,
    /// For the kubelet's configuration file on a node: the flags of its command line that
    /// override its settings.
    overrides: Vec<crate::model::Override>,
    /// `check --changed-since`: what the change did to the file (its findings are those of
    /// what it changed).
    changed: Option<super::git::Changed>,
}

impl Input {
    pub(crate) fn plain(path: PathBuf, from_dir: bool, note: Option<String>) -> Input {
        let mut input = Input {
            path,
            from_dir,
            more: None,
        };
        if note.is_some() {
            input.more().note = note;
        }
        input
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Not processed; this is said instead.
    pub(crate) fn note(&self) -> Option<&str> {
        self.more.as_ref()?.note.as_deref()
    }

    /// Could not be read: this error is said instead.
    pub(crate) fn error(&self) -> Option<&str> {
        self.more.as_ref()?.error.as_deref()
    }

    /// The Kubernetes version of the manifest that names this file.
    pub(crate) fn version(&self) -> Option<Version> {
        self.more.as_ref()?.version
    }

    /// The command-line flags that override settings of this file (the kubelet's).
    pub(crate) fn overrides(&self) -> &[crate::model::Override] {
        self.more.as_ref().map_or(&[], |m| &m.overrides)
    }

    /// What the change since a revision did to this file (`--changed-since`).
    pub(crate) fn changed(&self) -> Option<&super::git::Changed> {
        self.more.as_ref()?.changed.as_ref()
    }

    /// Sets what the change did to this file; `None` takes it away.
    pub(crate) fn set_changed(&mut self, changed: Option<super::git::Changed>) {
        if changed.is_some() || self.more.is_some() {
            self.more().changed = changed;
        }
    }

    /// The error this input stands for, if it is one.
    pub(crate) fn read_error(&self) -> Option<FileError> {
        self.error().map(|message| FileError {
            path: self.path.display().to_string(),
            line_col: None,
            message: message.to_string(),
            unrecognized: false,
        })
    }

    /// For a file a manifest names: an error unless it is of the kind the component reads.
    pub(crate) fn kind_error(&self, text: &str, registry: &Registry) -> Option<FileError> {
        let want = self.more.as_ref()?.expect_kind.as_deref()?;
        let docs = crate::yaml::parse(text.trim_start_matches('\u{feff}')).ok();
        let found = docs
            .as_deref()
            .and_then(|d| component::config_kind(d, registry));
        (found != Some(want)).then(|| FileError {
            path: self.path.display().to_string(),
            line_col: None,
            message: format!(
                "a manifest names this file as its {want}, and it is not one; the component would not start with it"
            ),
            unrecognized: false,
        })
    }
}

/// The configuration files the static pods in `dir` read (kube-scheduler's `--config`), found
/// on this machine through `resolve` (under `--root`, say). A file that cannot be followed to the
/// node (not mounted from a hostPath, missing, relative, inside the static pod directory) comes
/// with a note saying why it is not checked.
pub(crate) fn referenced_configs(
    dir: &Path,
    registry: &Registry,
    resolve: &dyn Fn(&str) -> Option<PathBuf>,
) -> Vec<Input> {
    let mut out: Vec<Input> = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let pods = real_path(dir);
    for f in files {
        let is_yaml = matches!(
            f.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if !is_yaml
            || f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let Ok(text) = read_input(&f) else { continue };
        let Ok(m) = manifest::load_any(text.trim_start_matches('\u{feff}'), registry) else {
            continue;
        };
        let Some(spec) = registry.components.get(&m.component) else {
            continue;
        };
        let Some(flag) = spec.config_flag.as_deref() else {
            continue;
        };
        let Some(path) = m.model.value(flag).filter(|p| !p.is_empty()) else {
            continue;
        };
        let Some(kind) = spec
            .config_file
            .as_deref()
            .and_then(|c| registry.components.get(c))
            .and_then(|c| c.config_kind.as_deref())
        else {
            continue;
        };
        let who = format!("{} --{flag}={path}", m.component);
        let skip = |why: String| {
            Input::plain(
                PathBuf::from(&path),
                true,
                Some(format!("{who}: {why}; kubeharden did not check it")),
            )
        };
        if !clean_path(&path) {
            out.push(skip("not a clean absolute path".into()));
            continue;
        }
        // The mount that decides what the container sees there: the deepest one, of any type.
        let Some(mount) = m
            .model
            .mounts
            .iter()
            .filter(|mt| path_within(&path, &mt.mount_path))
            .max_by_key(|mt| mt.mount_path.len())
        else {
            out.push(skip(
                "no volume mounts it into the container, so the scheduler cannot read it".into(),
            ));
            continue;
        };
        let host_volume = m
            .model
            .volumes
            .iter()
            .any(|v| v.name == mount.name && v.host_path.is_some());
        let expr = m
            .container()
            .get("volumeMounts")
            .map(|l| {
                l.items().iter().any(|i| {
                    i.get("mountPath").and_then(|p| p.as_str()) == Some(mount.mount_path.as_str())
                        && i.get("subPathExpr").is_some()
                })
            })
            .unwrap_or(false);
        if !host_volume || expr {
            out.push(skip(format!(
                "the container sees it through the volume `{}`, which is not a plain hostPath mount",
                mount.name
            )));
            continue;
        }
        let host = host_path(&m.model, &path);
        let Some(local) = resolve(&host).filter(|l| l.is_file()) else {
            out.push(skip(format!("{host} is not a file on the node")));
            continue;
        };
        if is_within(&real_path(&local), &pods) {
            out.push(skip(format!(
                "{host} is inside the static pod directory, where the kubelet tries to run every file as a pod; move it out"
            )));
            continue;
        }
        if !out.iter().any(|i| i.path == local) {
            let mut input = Input::plain(local, false, None);
            let more = input.more();
            more.expect_kind = Some(kind.to_string());
            more.version = m.image.as_deref().and_then(manifest::image_version);
            out.push(input);
        }
    }
    out
}

/// For a node scan (no path given): the kubelet's configuration and the files the static pods
/// read, besides the static pod directory.
pub(crate) fn node_files(paths: &[PathBuf]) -> Result<Vec<Input>, UsageError> {
    node_files_under(paths, &super::node::Root::system())
}

/// As [`node_files`], for the node tree under `root` (`check --root`).
pub(crate) fn node_files_under(
    paths: &[PathBuf],
    root: &super::node::Root,
) -> Result<Vec<Input>, UsageError> {
    if !paths.is_empty() {
        return Ok(Vec::new());
    }
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let resolve = |p: &str| root.resolve(p).ok();
    let mut files = Vec::new();
    files.extend(kubelet_input(root, &registry));
    if let Some(dir) = resolve(DEFAULT_MANIFESTS_DIR) {
        files.extend(referenced_configs(&dir, &registry, &resolve));
    }
    Ok(files)
}

/// The kubelet's configuration file on the node under `root`: the one its command line names
/// (`--config`; kubeadm's /var/lib/kubelet/config.yaml when it names none), with the flags of
/// that command line that override its settings. `None` when there is no such file.
pub(crate) fn kubelet_input(root: &super::node::Root, registry: &Registry) -> Option<Input> {
    let cl = super::kubelet_flags::read(root, registry);
    let config = cl.config.as_deref().unwrap_or(DEFAULT_KUBELET_CONFIG);
    let path = root.resolve(config).ok().filter(|p| p.exists())?;
    let mut input = Input::plain(path, false, None);
    if !cl.overrides.is_empty() {
        input.more().overrides = cl.overrides;
    }
    Some(input)
}

/// What the command line asks of the inputs.
pub(crate) struct Asked<'a> {
    pub(crate) paths: &'a [PathBuf],
    pub(crate) profile: &'a str,
    pub(crate) kubernetes_version: Option<&'a str>,
    /// Read `# kubeharden: ignore[...]` comments.
    pub(crate) ignores: bool,
}

/// The settings shared by the commands that read manifests; when no path is given,
/// `default_dir` is read, and each of `default_files` that exists.
pub(crate) fn settings(
    common: &Asked,
    default_dir: &Path,
    default_files: Vec<Input>,
) -> Result<Settings, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let profile =
        Profile::load(common.profile, &registry).map_err(|e| UsageError(e.to_string()))?;
    let version = match common.kubernetes_version {
        None => None,
        Some(v) => Some(Version::parse(v).ok_or_else(|| {
            UsageError(format!("--kubernetes-version: `{v}` is not a Kubernetes 1.x version (e.g. 1.30 or v1.30.4)"))
        })?),
    };
    let node_scan = common.paths.is_empty();
    let paths = if node_scan {
        vec![default_dir.to_path_buf()]
    } else {
        common.paths.to_vec()
    };
    // The static pod directory is read one level deep wherever it is met: the kubelet reads
    // only the files directly in it.
    let pods = walk::DirId::of(default_dir);
    let mut sources: Vec<Source> = Vec::new();
    for p in paths {
        if !p.is_dir() {
            sources.push(Source::Input(Input::plain(p, false, None)));
        } else if node_scan || (pods.is_some() && walk::DirId::of(&p) == pods) {
            let found = walk::one_level(&p)
                .map_err(|e| UsageError(format!("{}: cannot read directory: {e}", p.display())))?;
            sources.extend(found.into_iter().map(Source::Found));
        } else {
            sources.push(Source::Walk(p, pods));
        }
    }
    if node_scan {
        sources.extend(default_files.into_iter().map(Source::Extra));
    }
    Ok(Settings {
        registry,
        profile,
        version,
        inputs: Inputs::Sources(sources),
        ignores: common.ignores,
        node_root: None,
    })
}

/// A run's inputs, in the order of the paths, each file once however often it is reached (two
/// patches for one file would not apply). A directory is walked as the run reads its files
/// ([`Inputs::each`]), so that a run holds no list of them; the commands that need the whole
/// list first ([`Inputs::list`]) make it.
pub(crate) enum Inputs {
    /// Not listed yet: what the paths are, with the directories still to walk.
    Sources(Vec<Source>),
    Listed(Vec<Input>),
}

pub(crate) enum Source {
    /// A file named.
    Input(Input),
    /// An entry of a static pod directory, read one level deep when the settings were made.
    Found(walk::Found),
    /// A directory to walk, and the static pod directory, read one level deep where the walk
    /// meets it.
    Walk(PathBuf, Option<walk::DirId>),
    /// A file of the node read besides the paths (the kubelet's configuration, a file a
    /// manifest names); one with a note is said however often it is reached.
    Extra(Input),
}

impl Inputs {
    /// Every input, in order, walking the directories as it goes.
    pub(crate) fn each(&self) -> Each<'_> {
        let (sources, listed) = match self {
            Inputs::Sources(sources) => (sources.iter(), [].iter()),
            Inputs::Listed(list) => ([].iter(), list.iter()),
        };
        Each {
            sources,
            listed,
            walking: None,
            walked: Vec::new(),
            walked_at: std::collections::HashMap::new(),
            linked: std::collections::HashSet::new(),
            seen: std::collections::HashSet::new(),
        }
    }

    /// The whole list of inputs, made now if it is not yet.
    pub(crate) fn list(&mut self) -> &mut Vec<Input> {
        if let Inputs::Sources(_) = self {
            let list = self.each().map(std::borrow::Cow::into_owned).collect();
            *self = Inputs::Listed(list);
        }
        match self {
            Inputs::Listed(list) => list,
            Inputs::Sources(_) => unreachable!("listed above"),
        }
    }

    /// The list [`Inputs::list`] made; empty before.
    pub(crate) fn listed(&self) -> &[Input] {
        match self {
            Inputs::Listed(list) => list,
            Inputs::Sources(_) => &[],
        }
    }

    /// Every input is taken as one found in a directory (a file that is none of kubeharden's
    /// is skipped rather than an error).
    pub(crate) fn all_from_dir(&mut self) {
        let set = |i: &mut Input| i.from_dir = true;
        match self {
            Inputs::Listed(list) => list.iter_mut().for_each(set),
            Inputs::Sources(sources) => {
                for s in sources {
                    if let Source::Input(i) | Source::Extra(i) = s {
                        set(i);
                    }
                }
            }
        }
    }
}

/// The inputs one after the other (see [`Inputs::each`]): those named borrowed, those a walk
/// finds made as it gives them out.
pub(crate) struct Each<'a> {
    sources: std::slice::Iter<'a, Source>,
    listed: std::slice::Iter<'a, Input>,
    walking: Option<walk::Walk>,
    /// The walks done, while inputs remain that one of them may have given already.
    walked: Vec<walk::Walk>,
    /// The walks done by the real path of their directory: only a walk of a directory that
    /// holds a file gives it but through a link, so a file is looked for in those alone, not
    /// in every walk (thousands of directories named would take time to the square of that).
    walked_at: std::collections::HashMap<PathBuf, Vec<usize>>,
    /// The real paths of the files the walks done gave through links.
    linked: std::collections::HashSet<PathBuf>,
    /// The real paths of the files named or read besides (a walk keeps its own), and the
    /// absolute paths of the notes and errors given out.
    seen: std::collections::HashSet<Box<Path>>,
}

impl Each<'_> {
    /// Whether an input before gave the file whose real path is `key`.
    fn given(&self, key: &Path) -> bool {
        self.seen.contains(key) || self.walked_gave(key)
    }

    /// Keeps `key` for what follows; false when an input before had it.
    fn first(&mut self, key: PathBuf) -> bool {
        !self.walked_gave(&key) && self.seen.insert(key.into_boxed_path())
    }

    /// Whether a walk done gave the file whose real path is `key`.
    fn walked_gave(&self, key: &Path) -> bool {
        self.linked.contains(key)
            || key.ancestors().any(|dir| {
                self.walked_at
                    .get(dir)
                    .is_some_and(|ws| ws.iter().any(|&w| self.walked[w].gives(key)))
            })
    }

    /// Keeps a walk given out to the end for the inputs that follow.
    fn keep(&mut self, mut w: walk::Walk) {
        self.linked.extend(w.finish());
        self.walked_at
            .entry(w.real_root().to_path_buf())
            .or_default()
            .push(self.walked.len());
        self.walked.push(w);
    }
}

impl<'a> Iterator for Each<'a> {
    type Item = std::borrow::Cow<'a, Input>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::borrow::Cow;
        if let Some(i) = self.listed.next() {
            return Some(Cow::Borrowed(i));
        }
        loop {
            if let Some(w) = &mut self.walking {
                match w.next() {
                    // A walk gives each of its files once; another input may have given it.
                    Some(walk::Found::File { path, key }) => {
                        if !self.given(&key) {
                            return Some(Cow::Owned(Input::plain(path, true, None)));
                        }
                    }
                    Some(f) => {
                        let (input, key) = found_input(f);
                        if self.first(key) {
                            return Some(Cow::Owned(input));
                        }
                    }
                    None => {
                        let done = self.walking.take();
                        if let Some(w) = done.filter(|_| self.sources.len() > 0) {
                            self.keep(w);
                        }
                    }
                }
                continue;
            }
            let i = match self.sources.next()? {
                Source::Walk(root, pods) => {
                    self.walking = Some(walk::walk(root, *pods));
                    continue;
                }
                Source::Found(f) => {
                    let (input, key) = found_input(f.clone());
                    if self.first(key) {
                        return Some(Cow::Owned(input));
                    }
                    continue;
                }
                // Said however often it is reached.
                Source::Extra(i) if i.note().is_some() => i,
                Source::Input(i) | Source::Extra(i) => {
                    let key = std::fs::canonicalize(&i.path).unwrap_or_else(|_| i.path.clone());
                    if !self.first(key) {
                        continue;
                    }
                    i
                }
            };
            return Some(Cow::Borrowed(i));
        }
    }
}

/// The input a directory's entry stands for, and the key that makes it once: a file's real
/// path, a note's or an error's absolute path.
fn found_input(f: walk::Found) -> (Input, PathBuf) {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match f {
        walk::Found::File { path, key } => (Input::plain(path, true, None), key),
        walk::Found::Note { path, reason } => {
            let key = absolute(&path);
            (Input::plain(path, true, Some(reason)), key)
        }
        walk::Found::Error { path, message } => {
            let key = absolute(&path);
            let mut input = Input::plain(path, true, None);
            input.more().error = Some(message);
            (input, key)
        }
    }
}
