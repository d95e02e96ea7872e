//! Reading a static Pod manifest: the component's container, its flags (from `command` and
//! `args`, in every form pflag takes), the variables that set flags, volumes, mounts and
//! probes, each with where it sits in the text.

use super::pod::{ArgList, EnvItem, FlagItem, Form, Manifest, PROBES};
use crate::document::kind::LoadError;
use crate::model::{Flag, Handler, Model, Mount, Probe, Volume};
use crate::profile::version::Version;
use crate::profile::{FlagType, Registry};
use crate::yaml::{self, Kind, Node};

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
    let docs = yaml::parse(text).map_err(LoadError::from)?;
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
    // `kubectl -n kube-system get cm kubeadm-config -o yaml`: kubeadm's ClusterConfiguration as a
    // string inside a ConfigMap (cmd/kubeadm/app/constants: KubeadmConfigConfigMap,
    // ClusterConfigurationConfigMapKey). Not read in place: say how to take it out.
    if kind == "ConfigMap" {
        if let Some(key) = root
            .get("data")
            .and_then(|d| d.entry("ClusterConfiguration"))
            .map(|(k, _)| k)
        {
            let name = root
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Node::as_str)
                .unwrap_or("kubeadm-config");
            return Err(LoadError::at(
                key,
                format!(
                    "a ConfigMap holding kubeadm's ClusterConfiguration as text, which kubeharden does not edit in place; take it out with `kubectl -n kube-system get cm {name} -o jsonpath='{{.data.ClusterConfiguration}}' > cluster.yaml`, check or fix cluster.yaml, and put it back with `kubectl -n kube-system edit cm {name}`"
                ),
            )
            .unrecognized());
        }
    }
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

    let (container_index, program_items) = find_container(containers, component)?;
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
    let model = model_of(component, &flags, &env, container, mounts, volumes);
    let newline = if crate::document::kind::has(text, "\r\n") {
        "\r\n"
    } else {
        "\n"
    };
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
        unset_at: std::sync::OnceLock::new(),
    })
}

/// The component's container: its index in `containers`, and how many leading items of its
/// `command` name the program.
fn find_container(containers: &Node, component: &str) -> Result<(usize, usize), LoadError> {
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
    found.ok_or_else(|| {
        LoadError::at(
            containers,
            format!("the Pod has no {component} container (none runs `{component}`)"),
        )
        .unrecognized()
    })
}

/// The model of the container: its flags and variables as the component reads them, its
/// mounts and the Pod's volumes, its probes.
fn model_of(
    component: &str,
    flags: &[FlagItem],
    env: &[EnvItem],
    container: &Node,
    mounts: Vec<Mount>,
    volumes: Vec<Volume>,
) -> Model {
    let mut split_flags: Vec<String> = Vec::new();
    for f in flags.iter().filter(|f| f.form == Form::Split) {
        if !split_flags.contains(&f.name) {
            split_flags.push(f.name.clone());
        }
    }
    Model {
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
        config_api: None,
    }
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
        let (flag, taken) = read_flag(&items, k, &flags, component, registry)?;
        flags.push(flag);
        k += taken;
    }
    Ok(flags)
}

/// The text of an argument item: a plain or quoted string, not `--`.
fn argument_text(node: &Node) -> Result<&str, LoadError> {
    let Some(text) = node.as_str() else {
        return Err(LoadError::at(
            node,
            "an argument must be a string, not a list or mapping",
        ));
    };
    if node.decorated {
        return Err(LoadError::at(
            node,
            "an argument carries a YAML anchor, alias or tag, which kubeharden does not edit: write it out in full without them (an anchor shares the value with its aliases, so an edit would change them all), then run kubeharden again",
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
    Ok(text)
}

/// The flag that starts at item `k` of the argument list, and how many items it takes (two
/// for `--name value`). `flags` are those before it, for the hint when a value is stranded.
fn read_flag(
    items: &[(ArgList, usize, &Node)],
    k: usize,
    flags: &[FlagItem],
    component: &str,
    registry: &Registry,
) -> Result<(FlagItem, usize), LoadError> {
    let (list, index, node) = items[k];
    let text = argument_text(node)?;
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
            format!("`{text}` is not a flag, and {component} takes no positional arguments{hint}"),
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
        let item = FlagItem {
            name: name.to_string(),
            value: Some(value.to_string()),
            list,
            index,
            form: Form::Joined,
            span: node.span,
            value_at: None,
        };
        return Ok((item, 1));
    }
    let spec = registry.flag(component, body);
    let is_bool = spec.is_some_and(|s| s.kind == FlagType::Bool);
    // pflag gives a non-boolean flag written without `=` the next argument as its value,
    // whatever it looks like (`--audit-log-path -` logs to stdout). For flags the registry
    // does not know, an item that looks like another flag is taken as one.
    let next = items.get(k + 1).filter(|(_, _, n)| {
        !n.decorated
            && n.as_str()
                .is_some_and(|s| (spec.is_some() && !is_bool) || !s.starts_with('-') || s == "-")
    });
    match next {
        Some((vlist, vindex, vnode)) if !is_bool => Ok((
            FlagItem {
                name: body.to_string(),
                value: vnode.as_str().map(str::to_string),
                list,
                index,
                form: Form::Split,
                span: node.span,
                value_at: Some((*vlist, *vindex)),
            },
            2,
        )),
        Some((_, _, vnode)) => {
            // pflag never takes a boolean's value from the next item: `--profiling false`
            // leaves profiling on and makes `false` a positional argument, which the
            // component rejects at start-up.
            Err(LoadError::at(
                vnode,
                format!(
                    "`{}` follows the boolean flag `--{body}` as a separate item: {component} reads it as a positional argument and refuses to start; write `--{body}={}`",
                    vnode.as_str().unwrap_or(""),
                    vnode.as_str().unwrap_or("")
                ),
            ))
        }
        None => Ok((
            FlagItem {
                name: body.to_string(),
                value: None,
                list,
                index,
                form: Form::Bare,
                span: node.span,
                value_at: None,
            },
            1,
        )),
    }
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
