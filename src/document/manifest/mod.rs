//! Loads a static Pod manifest: finds the component's container and reads its flags, volumes,
//! mounts and probes together with where each of them sits in the text.

mod compare;
mod edit;

use super::{Document, LoadError, Part};
use crate::check::suppress::Target;
use crate::check::{self, Env};
use crate::edit::{EditError, Splice};
use crate::model::report::{Region, VersionSource};
use crate::model::{Flag, Handler, Model, Mount, Probe, Volume};
use crate::plan::Plan;
use crate::profile::version::Version;
use crate::profile::{FlagType, Registry};
use crate::verify::Nouns;
use crate::yaml::{self, head_end, line_col, Kind, Node, Span};

/// Where an argument list lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgList {
    Command,
    Args,
}

/// How a flag is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `--name=value` in one item.
    Joined,
    /// `--name` and `value` in two items.
    Split,
    /// `--name` alone (a boolean set to true).
    Bare,
}

#[derive(Clone, Debug)]
pub struct FlagItem {
    pub name: String,
    pub value: Option<String>,
    pub list: ArgList,
    /// Index of the item holding `--name` in its list.
    pub index: usize,
    pub form: Form,
    /// Span of the `--name...` item.
    pub span: Span,
    /// Where the value item of `Form::Split` is: its list (pflag reads `command` and `args` as
    /// one argv, so the value may start `args`) and index.
    pub value_at: Option<(ArgList, usize)>,
}

/// An environment variable of the container that sets a flag.
#[derive(Clone, Debug)]
pub struct EnvItem {
    pub flag: String,
    pub value: String,
    /// Index of the item in the container's `env` list.
    pub index: usize,
    /// The item's `value` scalar, if it has one.
    pub value_span: Option<Span>,
}

/// The probes kubeharden reads and may rewrite.
pub const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

/// A loaded manifest: the text, the tree, and the parts kubeharden reads and edits.
#[derive(Debug)]
pub struct Manifest {
    pub text: String,
    pub component: String,
    pub image: Option<String>,
    /// Number of leading items of `command` that name the program (`kube-apiserver`, or
    /// `hyperkube kube-apiserver`).
    pub program_items: usize,
    pub flags: Vec<FlagItem>,
    /// Flags set through the container's environment (etcd's `ETCD_*` variables).
    pub env: Vec<EnvItem>,
    pub model: Model,
    /// `\r\n` when the file uses CRLF line endings.
    pub newline: &'static str,
    /// Index of the component's container in `spec.containers`.
    pub container_index: usize,
    pub root: Node,
}

impl Manifest {
    /// The Pod's `spec` (checked to be a mapping when loading).
    pub fn spec(&self) -> &Node {
        self.root.get("spec").unwrap_or(&self.root)
    }

    /// The component's container.
    pub fn container(&self) -> &Node {
        self.spec()
            .get("containers")
            .and_then(|c| c.items().get(self.container_index))
            .unwrap_or(&self.root)
    }

    pub fn command(&self) -> Option<&Node> {
        self.container().get("command")
    }

    pub fn args(&self) -> Option<&Node> {
        self.container().get("args")
    }

    pub fn probe(&self, kind: &str) -> Option<&Node> {
        self.container().get(kind)
    }
}

/// Where a finding points: the flag's first occurrence (the whole item), else the start of the
/// container's argument list (its first item), else the container (its first key).
fn locate(m: &Manifest, flag: Option<&str>) -> Region {
    // The occurrence in effect: the last one (pflag and Go's flag package keep the last).
    if let Some(item) = flag.and_then(|f| m.flags.iter().rfind(|x| x.name == f)) {
        return Region::of(&m.text, item.span.start, item.span.end);
    }
    // A setting etcd takes from a variable: its value.
    if let Some(span) = flag
        .filter(|f| m.model.from_env(f))
        .and_then(|f| m.env.iter().rfind(|e| e.flag == f))
        .and_then(|e| e.value_span)
    {
        return Region::of(&m.text, span.start, span.end);
    }
    let node = m
        .args()
        .filter(|_| m.flags.iter().any(|f| f.list == ArgList::Args))
        .or_else(|| m.command())
        .unwrap_or(m.container());
    // A missing flag: the list's first item (the program), in block and flow lists alike.
    match node.items().first() {
        Some(first) => Region::of(&m.text, first.span.start, head_end(first)),
        None => Region::of(&m.text, node.span.start, head_end(node)),
    }
}

/// What a suppression comment in a manifest can silence: the component's container.
fn suppression_targets(m: &Manifest) -> Vec<Target> {
    let line = |o: usize| line_col(&m.text, o).0;
    let c = m.container();
    let head = line(c.span.start);
    let mut trailing = vec![(head, head)];
    for key in ["command", "args", "env"] {
        if let Some((k, v)) = c.entry(key) {
            trailing.push((line(k.span.start), line(v.content_end())));
        }
    }
    vec![Target {
        head_line: head,
        lines: (head, line(c.content_end())),
        trailing,
    }]
}

impl Part for Manifest {
    fn model(&self) -> &Model {
        &self.model
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn locate(&self, flag: Option<&str>) -> Region {
        locate(self, flag)
    }

    fn edits(&self, plan: &Plan, _registry: &Registry) -> Result<Vec<Splice>, EditError> {
        edit::edits(self, plan)
    }

    fn reread(&self, _plan: &Plan, edited: &str, registry: &Registry) -> Result<Model, String> {
        let after = load(edited, &self.component, registry)
            .map_err(|e| format!("the edited manifest no longer loads ({})", e.message))?;
        if compare::probe_rest(&after) != compare::probe_rest(self) {
            return Err("the edited probes differ from the planned ones".into());
        }
        if !compare::same_outside_edits(self, &after) {
            return Err("a part of the document outside the planned changes differs".into());
        }
        Ok(after.model)
    }

    fn nouns(&self) -> Nouns {
        Nouns {
            flags: "flags",
            volumes: "volumes or mounts",
        }
    }

    fn fallback(&self) -> &'static str {
        "no automatic fix applies to this manifest and version"
    }
}

impl Document for Manifest {
    fn component(&self) -> &str {
        &self.component
    }

    /// The image tag's, unless the image carries the component's own version (etcd's
    /// `etcd:3.5.15-0`).
    fn named_version(&self, registry: &Registry) -> Option<(Version, VersionSource)> {
        let v = self
            .image
            .as_deref()
            .filter(|_| registry.image_is_kubernetes(&self.component))
            .and_then(image_version)?;
        Some((v, VersionSource::Image))
    }

    fn takes_node_version(&self, registry: &Registry) -> bool {
        !registry.image_is_kubernetes(&self.component)
    }

    fn assumed_note(&self, v: Version, registry: &Registry) -> String {
        let what = if registry.image_is_kubernetes(&self.component) {
            "no Kubernetes version in the image tag"
        } else {
            "the image tag names the component's own version, not Kubernetes'"
        };
        format!("{what} and no --kubernetes-version: assuming {v}, the newest kubeharden knows")
    }

    fn refusals(&self, env: Env, source: VersionSource, notes: &mut Vec<String>) -> Vec<String> {
        let mut cannot = super::version_range(env, notes);
        let version = env.version;
        // A guessed version that the manifest contradicts (it has flags or plugins that version
        // rejects) must not steer edits: the fix could write flags the real version lacks.
        if source == VersionSource::Assumed {
            let mut evidence: Vec<String> = check::rejected_flags(&self.model, env)
                .iter()
                .map(|f| format!("--{f}"))
                .collect();
            evidence.extend(
                check::rejected_plugins(&self.model, env)
                    .into_iter()
                    .map(|(_, p)| p),
            );
            evidence.extend(
                check::rejected_gates(&self.model, env)
                    .into_iter()
                    .map(|(_, g)| format!("the feature gate {g}")),
            );
            if !evidence.is_empty() {
                cannot.get_or_insert(format!(
                    "the image tag names no version and the manifest uses {}, which {version} rejects, so it is older than {version}; pass --kubernetes-version",
                    evidence.join(", ")
                ));
            }
        }
        if let Some(flag) = env
            .registry
            .components
            .get(&self.component)
            .and_then(|c| c.overriding_flag.as_deref())
            .filter(|f| self.model.present(f))
        {
            cannot.get_or_insert(format!(
                "{} reads its whole configuration from --{flag} and then ignores its other flags and environment variables; kubeharden does not read that file, so the findings come from settings {} does not use",
                self.component, self.component
            ));
        }
        cannot.into_iter().collect()
    }

    fn suppression_targets(&self) -> Vec<Target> {
        suppression_targets(self)
    }
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "busybox"];

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The repository name of an image reference without registry, tag or digest:
/// `registry.k8s.io/kube-apiserver:v1.31.0` → `kube-apiserver`.
fn image_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = basename(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// The version in an image tag: `registry.k8s.io/kube-apiserver:v1.31.0` → 1.31.0.
pub fn image_version(image: &str) -> Option<Version> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = basename(no_digest);
    let tag = last.split_once(':')?.1;
    Version::parse(tag)
}

enum Role {
    /// The component itself; the number of items naming the program.
    Component(usize),
    /// A shell whose script starts the component.
    Shell,
    Other,
}

fn scalar_items(node: Option<&Node>) -> Vec<&str> {
    node.map(|n| n.items().iter().filter_map(|i| i.as_str()).collect())
        .unwrap_or_default()
}

fn role(container: &Node, component: &str) -> Role {
    let command = container.get("command");
    let cmd = scalar_items(command);
    let image = container
        .get("image")
        .and_then(|n| n.as_str())
        .unwrap_or("");
    let short = component.strip_prefix("kube-").unwrap_or(component);
    match cmd.first().map(|c| basename(c)) {
        Some(c) if c == component => Role::Component(1),
        Some("hyperkube") if cmd.get(1).is_some_and(|s| *s == component || *s == short) => {
            Role::Component(2)
        }
        Some(c) if SHELLS.contains(&c) => {
            // The component named as a program in the script (`etcdctl` does not count).
            let all = scalar_items(command).join(" ")
                + " "
                + &scalar_items(container.get("args")).join(" ");
            let named = all
                .split(|ch: char| {
                    ch.is_whitespace() || matches!(ch, ';' | '&' | '|' | '(' | ')' | '"' | '\'')
                })
                .any(|w| basename(w) == component);
            if named {
                Role::Shell
            } else {
                Role::Other
            }
        }
        Some(_) => Role::Other,
        None if image_name(image) == component => Role::Component(0),
        None => Role::Other,
    }
}

/// The components whose static Pod manifests kubeharden reads, in the order it looks for them.
pub const COMPONENTS: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
];

/// Loads `text` as a static Pod manifest of whichever control-plane component it runs.
pub fn load_any(text: &str, registry: &Registry) -> Result<Manifest, LoadError> {
    let root = parse_pod(text)?;
    let containers = pod_containers(&root)?;
    // The first container that runs a component decides (a Pod runs one component).
    let found = containers.items().iter().find_map(|c| {
        COMPONENTS
            .iter()
            .find(|comp| matches!(role(c, comp), Role::Component(_)))
    });
    let component = match found {
        Some(c) => *c,
        None => {
            // Say which component a shell wraps, else that none runs.
            let wrapped = containers.items().iter().find_map(|c| {
                COMPONENTS
                    .iter()
                    .find(|comp| matches!(role(c, comp), Role::Shell))
            });
            match wrapped {
                Some(c) => c,
                None => {
                    return Err(LoadError::at(
                        containers,
                        "the Pod runs no control-plane component (none of its containers runs kube-apiserver, kube-controller-manager, kube-scheduler or etcd)",
                    )
                    .unrecognized())
                }
            }
        }
    };
    // kubeadm labels each static pod with its component: a Pod labelled for one component
    // that runs another is a copy-and-paste accident the kubelet would run as it is.
    if let Some(label) = root
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.get("component"))
    {
        if let Some(l) = label.as_str() {
            if l != component && COMPONENTS.contains(&l) {
                return Err(LoadError::at(
                    label,
                    format!("the Pod is labelled `component: {l}` but runs {component}; fix the label or the command"),
                ));
            }
        }
    }
    load_root(text, root, component, registry)
}

/// Loads `text` as a static Pod manifest for `component`.
pub fn load(text: &str, component: &str, registry: &Registry) -> Result<Manifest, LoadError> {
    let root = parse_pod(text)?;
    load_root(text, root, component, registry)
}

/// The Pod's `spec.containers` list.
fn pod_containers(root: &Node) -> Result<&Node, LoadError> {
    let spec = root
        .get("spec")
        .filter(|s| s.is_map())
        .ok_or_else(|| LoadError::at(root, "the Pod has no `spec` mapping"))?;
    spec.get("containers")
        .filter(|c| c.is_seq())
        .ok_or_else(|| LoadError::at(spec, "the Pod has no `spec.containers` list"))
}

/// Parses `text` and checks that it holds exactly one Pod.
fn parse_pod(text: &str) -> Result<Node, LoadError> {
    // Valid YAML that holds nothing: not ours, like any other file of another kind.
    if text.trim().is_empty() {
        return Err(LoadError::whole("the file is empty").unrecognized());
    }
    let docs = yaml::parse(text).map_err(|e| LoadError {
        offset: None,
        line_col: Some((e.line, e.column)),
        message: e.message,
        unrecognized: false,
    })?;
    let docs: Vec<_> = docs.into_iter().filter(|d| !d.root.is_null()).collect();
    let root = match docs.len() {
        0 => return Err(LoadError::whole("the file holds no YAML document").unrecognized()),
        1 => docs
            .into_iter()
            .next()
            .map(|d| d.root)
            .ok_or_else(|| LoadError::whole("no document"))?,
        n => {
            let err = LoadError::whole(format!(
                "the file holds {n} YAML documents; a static pod manifest holds exactly one Pod"
            ));
            // Several documents of which none is a Pod (a Deployment and its Service, say)
            // are someone else's; with a Pod among them, it is a manifest gone wrong.
            let pod = docs
                .iter()
                .any(|d| d.root.get("kind").and_then(|k| k.as_str()) == Some("Pod"));
            return Err(if pod { err } else { err.unrecognized() });
        }
    };
    if !root.is_map() {
        // A list or a scalar (an Ansible playbook, say) is no Kubernetes object at all.
        return Err(
            LoadError::at(&root, "the document is not a mapping, so it is not a Pod")
                .unrecognized(),
        );
    }
    let kind = root.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "Pod" {
        let what = if kind.is_empty() {
            "has no `kind`".to_string()
        } else {
            format!("is a {kind}")
        };
        let hint = if kind.ends_with("Configuration") {
            " (kubeharden reads static pod manifests and kubeadm configuration files; other component configuration files are not supported yet)"
        } else {
            ""
        };
        return Err(LoadError::at(
            root.get("kind").unwrap_or(&root),
            format!("the document {what}, not a Pod{hint}"),
        )
        .unrecognized());
    }
    Ok(root)
}

fn load_root(
    text: &str,
    root: Node,
    component: &str,
    registry: &Registry,
) -> Result<Manifest, LoadError> {
    let spec = root
        .get("spec")
        .filter(|s| s.is_map())
        .ok_or_else(|| LoadError::at(&root, "the Pod has no `spec` mapping"))?;
    let containers = spec
        .get("containers")
        .filter(|c| c.is_seq())
        .ok_or_else(|| LoadError::at(spec, "the Pod has no `spec.containers` list"))?;

    let mut found: Option<(usize, usize)> = None;
    let mut shell: Option<&Node> = None;
    for (i, c) in containers.items().iter().enumerate() {
        match role(c, component) {
            Role::Component(n) => {
                if found.is_some() {
                    return Err(LoadError::at(
                        c,
                        format!("the Pod has more than one {component} container"),
                    ));
                }
                found = Some((i, n));
            }
            Role::Shell => {
                shell.get_or_insert(c);
            }
            Role::Other => {}
        }
    }
    if let (None, Some(c)) = (found, shell) {
        return Err(LoadError::at(
            c,
            format!(
                "the {component} flags are folded into a shell command (`sh -c ...`); kubeharden cannot edit them safely: list each flag as its own `command` or `args` item"
            ),
        ));
    }
    let Some((container_index, program_items)) = found else {
        return Err(LoadError::at(
            containers,
            format!("the Pod has no {component} container (none runs `{component}`)"),
        )
        .unrecognized());
    };
    let container = &containers.items()[container_index];
    for key in ["command", "args"] {
        if let Some(n) = container.get(key) {
            // `args: ~` (or `args:` with nothing) is an empty list to the Pod schema.
            if n.is_null() && !n.decorated {
                continue;
            }
            if !n.is_seq() || n.decorated {
                return Err(LoadError::at(
                    n,
                    format!("`{key}` must be a plain YAML list"),
                ));
            }
        }
    }
    let command = container.get("command");
    let args = container.get("args");
    let image = container
        .get("image")
        .and_then(|n| n.as_str())
        .map(str::to_string);

    let flags = read_flags(component, command, args, program_items, registry)?;
    let env = match registry.env_prefix(component) {
        Some(prefix) => read_env(container, prefix)?,
        None => Vec::new(),
    };
    let (mounts, volumes) = read_volumes(container, spec)?;
    let mut split_flags: Vec<String> = Vec::new();
    for f in flags.iter().filter(|f| f.form == Form::Split) {
        if !split_flags.contains(&f.name) {
            split_flags.push(f.name.clone());
        }
    }
    let model = Model {
        component: component.to_string(),
        split_flags,
        flags: flags
            .iter()
            .map(|f| Flag {
                name: f.name.clone(),
                value: f.value.clone(),
            })
            .collect(),
        env: env
            .iter()
            .map(|e| Flag {
                name: e.flag.clone(),
                value: Some(e.value.clone()),
            })
            .collect(),
        mounts,
        volumes,
        probes: PROBES
            .iter()
            .filter_map(|k| {
                container.get(k).map(|n| Probe {
                    kind: (*k).to_string(),
                    handler: probe_handler(n),
                    host: ["httpGet", "tcpSocket"]
                        .iter()
                        .find_map(|h| n.get(h))
                        .and_then(|h| str_field(h, "host")),
                })
            })
            .collect(),
    };
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    Ok(Manifest {
        text: text.to_string(),
        component: component.to_string(),
        image,
        program_items,
        flags,
        env,
        model,
        newline,
        container_index,
        root,
    })
}

fn probe_handler(node: &Node) -> Handler {
    if let Some(h) = node.get("httpGet") {
        let authenticated = h.get("httpHeaders").is_some_and(|hs| {
            hs.items().iter().any(|i| {
                i.get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| n.eq_ignore_ascii_case("authorization"))
            })
        });
        return Handler::HttpGet {
            path: h.get("path").and_then(|p| p.as_str()).map(str::to_string),
            authenticated,
        };
    }
    if node.get("tcpSocket").is_some() {
        return Handler::TcpSocket;
    }
    if let Some(e) = node.get("exec") {
        let cmd = e
            .get("command")
            .map(|c| {
                c.items()
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let lower = cmd.to_ascii_lowercase();
        return Handler::Exec {
            http: lower.contains("http://") || lower.contains("https://"),
            authenticated: lower.contains("--cert")
                || lower.contains("authorization")
                || lower.contains("--oauth2-bearer"),
        };
    }
    Handler::Other
}

/// A plain scalar that the kubelet's YAML reader (YAML 1.1 booleans, sigs.k8s.io/yaml) takes
/// for `true`. Quoted `"true"` is a string, which the Pod schema rejects for a boolean.
fn yaml_true(n: &Node) -> bool {
    matches!(&n.kind, Kind::Scalar { value, style: yaml::Style::Plain }
        if matches!(value.as_str(), "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y"))
}

fn read_flags(
    component: &str,
    command: Option<&Node>,
    args: Option<&Node>,
    program_items: usize,
    registry: &Registry,
) -> Result<Vec<FlagItem>, LoadError> {
    // argv after the program name: the rest of `command`, then `args`.
    let mut items: Vec<(ArgList, usize, &Node)> = Vec::new();
    if let Some(c) = command {
        for (i, n) in c.items().iter().enumerate().skip(program_items) {
            items.push((ArgList::Command, i, n));
        }
    }
    if let Some(a) = args {
        for (i, n) in a.items().iter().enumerate() {
            items.push((ArgList::Args, i, n));
        }
    }
    // `- 6443` or `- true` is a number or boolean, which the Pod schema refuses in a list of
    // strings (the kubelet cannot decode the manifest).
    for (_, _, node) in &items {
        if let Kind::Scalar {
            value: text,
            style: yaml::Style::Plain,
        } = &node.kind
        {
            if !text.is_empty() && !text.starts_with('-') && !yaml::plain_ok(text, false) {
                return Err(LoadError::at(
                    node,
                    format!("`{text}` is not a string in this list of arguments; quote it"),
                ));
            }
        }
    }
    let mut flags = Vec::new();
    let mut k = 0;
    while k < items.len() {
        let (list, index, node) = items[k];
        let Some(text) = node.as_str() else {
            return Err(LoadError::at(
                node,
                "an argument must be a string, not a list or mapping",
            ));
        };
        if node.decorated {
            return Err(LoadError::at(
                node,
                "an argument carries a YAML anchor, alias or tag; kubeharden does not edit those",
            ));
        }
        if matches!(
            &node.kind,
            Kind::Scalar {
                style: yaml::Style::Literal | yaml::Style::Folded,
                ..
            }
        ) {
            return Err(LoadError::at(
                node,
                "an argument is a block scalar (`|` or `>`); write it as a plain or quoted string",
            ));
        }
        if text == "--" {
            // pflag stops reading flags here; anything kubeharden added after it would be a
            // positional argument, which the component refuses.
            return Err(LoadError::at(
                node,
                "`--` ends the flags in this argument list; kubeharden does not edit such lists (remove the `--`)",
            ));
        }
        let Some(body) = text
            .strip_prefix("--")
            .or_else(|| text.strip_prefix('-').filter(|b| !b.is_empty()))
        else {
            // Say so when the previous flag swallowed a flag as its value, which is how a
            // value usually ends up stranded.
            let hint = flags
                .iter()
                .find(|f: &&FlagItem| {
                    f.form == Form::Split && f.value.as_deref().is_some_and(|v| v.starts_with('-'))
                })
                .map(|f| {
                    format!(
                        " (`--{}` took `{}` as its value)",
                        f.name,
                        f.value.as_deref().unwrap_or("")
                    )
                })
                .unwrap_or_default();
            return Err(LoadError::at(
                node,
                format!(
                    "`{text}` is not a flag, and {component} takes no positional arguments{hint}"
                ),
            ));
        };
        // pflag (every Kubernetes component) reads `-name` as a run of one-letter flags and
        // refuses it ("unknown shorthand flag"); Go's flag package (etcd) takes `-name`.
        let long_name = body.split('=').next().unwrap_or("").chars().count() > 1;
        if !text.starts_with("--") && long_name && !registry.single_dash_flags(component) {
            return Err(LoadError::at(
                node,
                format!("`{text}`: {component} reads a single dash as one-letter flags and refuses to start; write `-{text}`"),
            ));
        }
        if body.is_empty() || body.starts_with('=') {
            return Err(LoadError::at(
                node,
                format!("`{text}` is a flag without a name"),
            ));
        }
        if let Some((name, value)) = body.split_once('=') {
            flags.push(FlagItem {
                name: name.to_string(),
                value: Some(value.to_string()),
                list,
                index,
                form: Form::Joined,
                span: node.span,
                value_at: None,
            });
            k += 1;
            continue;
        }
        let spec = registry.flag(component, body);
        let is_bool = spec.is_some_and(|s| s.kind == FlagType::Bool);
        // pflag gives a non-boolean flag written without `=` the next argument as its value,
        // whatever it looks like (`--audit-log-path -` logs to stdout). For flags the registry
        // does not know, an item that looks like another flag is taken as one.
        let next = items.get(k + 1).filter(|(_, _, n)| {
            !n.decorated
                && n.as_str().is_some_and(|s| {
                    (spec.is_some() && !is_bool) || !s.starts_with('-') || s == "-"
                })
        });
        match next {
            Some((vlist, vindex, vnode)) if !is_bool => {
                flags.push(FlagItem {
                    name: body.to_string(),
                    value: vnode.as_str().map(str::to_string),
                    list,
                    index,
                    form: Form::Split,
                    span: node.span,
                    value_at: Some((*vlist, *vindex)),
                });
                k += 2;
            }
            Some((_, _, vnode)) => {
                // pflag never takes a boolean's value from the next item: `--profiling false`
                // leaves profiling on and makes `false` a positional argument, which the
                // component rejects at start-up.
                return Err(LoadError::at(
                    vnode,
                    format!(
                        "`{}` follows the boolean flag `--{body}` as a separate item: {component} reads it as a positional argument and refuses to start; write `--{body}={}`",
                        vnode.as_str().unwrap_or(""),
                        vnode.as_str().unwrap_or("")
                    ),
                ));
            }
            None => {
                flags.push(FlagItem {
                    name: body.to_string(),
                    value: None,
                    list,
                    index,
                    form: Form::Bare,
                    span: node.span,
                    value_at: None,
                });
                k += 1;
            }
        }
    }
    Ok(flags)
}

/// The container's environment variables named `<prefix><FLAG>`, as the flags they set:
/// `ETCD_PEER_AUTO_TLS` sets `--peer-auto-tls` (etcd's `flags.FlagToEnv`: upper case, `-` as
/// `_`). An empty value sets nothing (etcd skips empty variables).
fn read_env(container: &Node, prefix: &str) -> Result<Vec<EnvItem>, LoadError> {
    let Some(list) = container.get("env") else {
        return Ok(Vec::new());
    };
    if list.is_null() && !list.decorated {
        return Ok(Vec::new());
    }
    if !list.is_seq() || list.decorated {
        return Err(LoadError::at(list, "`env` must be a plain YAML list"));
    }
    let mut out = Vec::new();
    for (index, item) in list.items().iter().enumerate() {
        let Some(name) = item.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        // etcd looks each flag up by exactly this name (flags.FlagToEnv: upper case, `_`);
        // any other spelling is a variable it ignores.
        if rest.is_empty()
            || !rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let flag = rest.to_ascii_lowercase().replace('_', "-");
        if item.get("valueFrom").is_some() {
            return Err(LoadError::at(
                item,
                format!("`{name}` takes its value from `valueFrom`, which kubeharden cannot read; give it a `value`"),
            ));
        }
        let Some(v) = item.get("value") else {
            // An empty variable: it sets nothing, but etcd still refuses it beside the flag.
            out.push(EnvItem {
                flag,
                value: String::new(),
                index,
                value_span: None,
            });
            continue;
        };
        if matches!(
            &v.kind,
            Kind::Scalar {
                style: yaml::Style::Literal | yaml::Style::Folded,
                ..
            }
        ) {
            return Err(LoadError::at(
                v,
                format!("the value of `{name}` is a block scalar (`|` or `>`); write it as a plain or quoted string"),
            ));
        }
        if v.decorated || !matches!(v.kind, Kind::Scalar { .. }) {
            return Err(LoadError::at(
                v,
                format!("the value of `{name}` must be a plain string"),
            ));
        }
        if let Kind::Scalar {
            value: text,
            style: yaml::Style::Plain,
        } = &v.kind
        {
            if !text.is_empty() && !yaml::plain_ok(text, false) {
                return Err(LoadError::at(
                    v,
                    format!("the value of `{name}`, `{text}`, is not a string; quote it"),
                ));
            }
        }
        let value = if v.is_null() {
            String::new()
        } else {
            v.as_str().unwrap_or("").to_string()
        };
        out.push(EnvItem {
            flag,
            value,
            index,
            value_span: Some(v.span),
        });
    }
    Ok(out)
}

fn str_field(n: &Node, key: &str) -> Option<String> {
    n.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

fn read_volumes(container: &Node, spec: &Node) -> Result<(Vec<Mount>, Vec<Volume>), LoadError> {
    let mut mounts = Vec::new();
    if let Some(vm) = container.get("volumeMounts") {
        if !vm.is_seq() && !vm.is_null() {
            return Err(LoadError::at(vm, "`volumeMounts` must be a list"));
        }
        for m in vm.items() {
            mounts.push(Mount {
                name: str_field(m, "name").unwrap_or_default(),
                mount_path: str_field(m, "mountPath").unwrap_or_default(),
                read_only: m.get("readOnly").is_some_and(yaml_true),
                sub_path: str_field(m, "subPath").filter(|s| !s.is_empty()),
            });
        }
    }
    let mut volumes = Vec::new();
    if let Some(vs) = spec.get("volumes") {
        if !vs.is_seq() && !vs.is_null() {
            return Err(LoadError::at(vs, "`volumes` must be a list"));
        }
        for v in vs.items() {
            let hp = v.get("hostPath");
            volumes.push(Volume {
                name: str_field(v, "name").unwrap_or_default(),
                host_path: hp.and_then(|h| str_field(h, "path")),
                path_type: hp.and_then(|h| str_field(h, "type")),
            });
        }
    }
    Ok((mounts, volumes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        Registry::builtin().expect("registry")
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: sidecar\n    image: busybox\n    command: [sleep, \"3600\"]\n  - command:\n    - kube-apiserver\n    # a comment between items\n    - --profiling=true\n    - \"--authorization-mode=Node,RBAC\"\n    - --audit-log-maxage\n    - '30'\n    - --anonymous-auth\n    args: [\"--secure-port=6443\", --v=2]\n    image: registry.k8s.io/kube-apiserver:v1.29.3\n    name: kube-apiserver\n";

    #[test]
    fn finds_the_container_by_command_and_reads_every_form() {
        let m = load(POD, "kube-apiserver", &reg()).expect("loads");
        assert_eq!(m.container_index, 1);
        let names: Vec<_> = m
            .flags
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_deref(), f.form))
            .collect();
        assert_eq!(
            names,
            vec![
                ("profiling", Some("true"), Form::Joined),
                ("authorization-mode", Some("Node,RBAC"), Form::Joined),
                ("audit-log-maxage", Some("30"), Form::Split),
                ("anonymous-auth", None, Form::Bare),
                ("secure-port", Some("6443"), Form::Joined),
                ("v", Some("2"), Form::Joined),
            ]
        );
        assert_eq!(m.flags[4].list, ArgList::Args);
        assert_eq!(
            image_version(m.image.as_deref().unwrap_or("")),
            Some(Version {
                minor: 29,
                patch: Some(3)
            })
        );
    }

    #[test]
    fn refuses_shell_wrapped_flags() {
        let text = "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [\"/bin/sh\", \"-c\", \"kube-apiserver --profiling=true\"]\n";
        let err = load(text, "kube-apiserver", &reg()).expect_err("shell");
        assert!(err.message.contains("shell"), "{}", err.message);
    }

    #[test]
    fn refuses_non_pods_and_missing_containers() {
        let err =
            load("kind: Deployment\nspec: {}\n", "kube-apiserver", &reg()).expect_err("not a pod");
        assert!(err.message.contains("is a Deployment, not a Pod"));
        let err = load(
            "kind: Pod\nspec:\n  containers:\n  - name: x\n    command: [etcd]\n",
            "kube-apiserver",
            &reg(),
        )
        .expect_err("no container");
        assert!(err.message.contains("no kube-apiserver container"));
    }

    #[test]
    fn refuses_boolean_with_separate_value() {
        let text = "kind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --profiling\n    - \"false\"\n";
        let err = load(text, "kube-apiserver", &reg()).expect_err("stray value");
        assert!(err.message.contains("positional"), "{}", err.message);
    }

    #[test]
    fn hyperkube_and_image_only_containers() {
        let text = "kind: Pod\nspec:\n  containers:\n  - command: [/hyperkube, kube-apiserver, --profiling=false]\n";
        let m = load(text, "kube-apiserver", &reg()).expect("hyperkube");
        assert_eq!(m.program_items, 2);
        assert_eq!(m.model.value("profiling").as_deref(), Some("false"));
        let text = "kind: Pod\nspec:\n  containers:\n  - image: registry.k8s.io/kube-apiserver:v1.30.1\n    args: [--profiling=false]\n";
        let m = load(text, "kube-apiserver", &reg()).expect("args only");
        assert_eq!(m.program_items, 0);
        assert_eq!(m.flags.len(), 1);
    }
}
