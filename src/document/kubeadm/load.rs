//! Reading a kubeadm configuration file: the ClusterConfiguration among its documents,
//! `apiServer.extraArgs` and `apiServer.extraVolumes` with their spans, and the model of the
//! kube-apiserver manifest kubeadm would generate from it (kubeadm's defaults, replaced by name
//! by the extra arguments), which the profiles are checked against.

use super::config::{substitute, ArgEntry, ArgsEncoding, KubeadmConfig, VolumeEntry, GROUP};
use crate::document::kind::LoadError;
use crate::model::report::COMPONENT;
use crate::model::{Flag, Handler, Model, Mount, Probe, Volume};
use crate::profile::kubeadm::Facts;
use crate::profile::version::Version;
use crate::yaml::{self, Kind, Node, Style};
use std::collections::BTreeMap;

/// A plain scalar that YAML 1.1 reads as something other than a string (kubeadm decodes
/// through go-yaml v2 and JSON, so `false`, `yes` or `30` where a string belongs is an error
/// there).
fn plain_non_string(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar { value, style: Style::Plain } if yaml::yaml11_non_string(value))
}

/// A string field of kubeadm's types: a scalar that YAML reads as a string.
pub(super) fn string_of(node: &Node, what: &str) -> Result<String, LoadError> {
    if node.decorated {
        return Err(LoadError::at(
            node,
            format!("{what} carries an anchor or tag; kubeharden edits plain values only"),
        ));
    }
    match &node.kind {
        Kind::Scalar { value, .. } if !plain_non_string(node) => Ok(value.clone()),
        Kind::Scalar { value, .. } => Err(LoadError::at(
            node,
            format!(
                "{what} `{value}` is not a string; kubeadm decodes it as JSON and rejects it: quote it"
            ),
        )),
        Kind::Alias => Err(LoadError::at(
            node,
            format!("{what} is an alias; kubeharden edits plain values only"),
        )),
        _ => Err(LoadError::at(node, format!("{what} must be a string"))),
    }
}

fn doc_kind(root: &Node) -> (Option<&str>, Option<&str>) {
    (
        root.get("apiVersion").and_then(|n| n.as_str()),
        root.get("kind").and_then(|n| n.as_str()),
    )
}

/// Whether `text` looks like a kubeadm configuration file (a document of the kubeadm group).
pub fn is_kubeadm(docs: &[yaml::Document]) -> bool {
    docs.iter().any(|d| {
        d.root.is_map()
            && doc_kind(&d.root)
                .0
                .is_some_and(|a| a.starts_with(&format!("{GROUP}/")))
    })
}

/// What kubeadm refuses in how a file is split into documents, though YAML allows it: kubeadm
/// cuts the file at `---` lines itself (k8s.io/apimachinery's YAMLReader) and reads each part
/// alone, so a part with only comments is a document without `kind`, and go-yaml v2 knows no
/// `%YAML 1.2` directive.
fn kubeadm_split_error(text: &str) -> Option<LoadError> {
    let mut part_start = 0;
    let mut offset = 0;
    let mut has_comment = false;
    let mut has_content = false;
    let check = |start: usize, comment: bool, content: bool| -> Option<LoadError> {
        (comment && !content).then(|| LoadError {
            offset: Some(start),
            line_col: None,
            message: "this part of the file between `---` lines holds only comments; kubeadm reads it as a document without apiVersion and kind and refuses the file: move the comments into a document".into(),
            unrecognized: false,
        })
    };
    for line in text.split_inclusive('\n') {
        let t = line.trim_end_matches(['\n', '\r']);
        if t.starts_with("%YAML") && !t.starts_with("%YAML 1.1") {
            return Some(LoadError {
                offset: Some(offset),
                line_col: None,
                message: "kubeadm's YAML reader (go-yaml v2) refuses a `%YAML` directive other than 1.1; remove it".into(),
                unrecognized: false,
            });
        }
        let separator = t.strip_prefix("---").is_some_and(|rest| {
            let r = rest.trim();
            r.is_empty() || r.starts_with('#')
        });
        if separator {
            if let Some(e) = check(part_start, has_comment, has_content) {
                return Some(e);
            }
            part_start = offset + line.len();
            has_comment = false;
            has_content = false;
        } else {
            let body = t.trim();
            if body.starts_with('#') {
                has_comment = true;
            } else if !body.is_empty() && !body.starts_with('%') && body != "..." {
                has_content = true;
            }
        }
        offset += line.len();
    }
    check(part_start, has_comment, has_content)
}

/// The file's kubeadm documents: which is the ClusterConfiguration and which the
/// InitConfiguration, and their API version.
struct Scan {
    cluster: Option<usize>,
    init: Option<usize>,
    api_version: String,
}

/// Finds the kubeadm documents, refusing what kubeadm refuses: documents that are no mapping
/// or lack `apiVersion` and `kind`, a kind given twice, two kubeadm API versions.
fn scan(docs: &[yaml::Document], facts: &Facts) -> Result<Scan, LoadError> {
    let mut cluster = None;
    let mut init = None;
    let mut api: Option<(String, &Node)> = None;
    let mut kinds: Vec<String> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if !d.root.is_map() {
            return Err(LoadError::at(
                &d.root,
                "a kubeadm configuration document must be a mapping",
            ));
        }
        let (Some(api_version), Some(kind)) = doc_kind(&d.root) else {
            return Err(LoadError::at(
                &d.root,
                "every document of a kubeadm configuration file needs `apiVersion` and `kind` (kubeadm refuses the file otherwise)",
            ));
        };
        // kubeadm refuses a kind given twice (SplitConfigDocuments).
        if kinds.iter().any(|k| k == kind) {
            return Err(LoadError::at(
                d.root.get("kind").unwrap_or(&d.root),
                format!("kind {kind} appears twice; kubeadm refuses the file"),
            ));
        }
        kinds.push(kind.to_string());
        if !api_version.starts_with(&format!("{GROUP}/")) {
            continue;
        }
        match &api {
            Some((a, _)) if a != api_version => {
                return Err(LoadError::at(
                    d.root.get("apiVersion").unwrap_or(&d.root),
                    format!(
                        "this document is {api_version} and another is {a}; use one kubeadm API version in a file"
                    ),
                ));
            }
            None => {
                api = Some((
                    api_version.to_string(),
                    d.root.get("apiVersion").unwrap_or(&d.root),
                ))
            }
            _ => {}
        }
        match kind {
            "ClusterConfiguration" => cluster = Some(i),
            "InitConfiguration" => init = Some(i),
            _ => {}
        }
    }
    // kubeadm join reads only the JoinConfiguration of its file and takes the
    // ClusterConfiguration from the cluster: there is nothing for kubeharden to change here.
    if cluster.is_none() && init.is_none() && kinds.iter().any(|k| k == "JoinConfiguration") {
        return Err(LoadError {
            unrecognized: true,
            ..LoadError::whole("a JoinConfiguration file: `kubeadm join` takes the ClusterConfiguration from the cluster (the kubeadm-config ConfigMap); harden that")
        });
    }
    let Some((api_version, api_node)) = api else {
        return Err(LoadError {
            unrecognized: true,
            ..LoadError::whole("the file has no kubeadm.k8s.io document")
        });
    };
    if !facts.api_versions.contains_key(&api_version) {
        return Err(LoadError::at(
            api_node,
            format!(
                "{api_version} is not a kubeadm configuration API kubeharden reads ({})",
                facts
                    .api_versions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(Scan {
        cluster,
        init,
        api_version,
    })
}

/// `kubernetesVersion` of the ClusterConfiguration, when it names a version.
fn kubernetes_version(croot: Option<&Node>) -> Result<Option<Version>, LoadError> {
    let kubernetes_version = match croot.and_then(|c| c.get("kubernetesVersion")) {
        None => None,
        Some(n) => {
            let s = string_of(n, "kubernetesVersion")?;
            // `v1.31.2`, `1.31`, `v1.31.0-rc.1` (a pre-release of 1.31), `stable-1.31`,
            // `latest-1.30`; a label without a version (`latest`, `stable`, `ci/latest`) says
            // nothing kubeharden can use.
            let plain = s.split(['-', '+']).next().unwrap_or(&s);
            Version::parse(plain).or_else(|| {
                s.rsplit('-')
                    .next()
                    .filter(|t| t.starts_with("1.") || t.starts_with("v1."))
                    .and_then(Version::parse)
            })
        }
    };
    match kubernetes_version {
        Some(v) => Ok(Some(v)),
        None => {
            // A version that is there but unreadable is an error only when it looks like one.
            if let Some(n) = croot.and_then(|c| c.get("kubernetesVersion")) {
                let s = n.as_str().unwrap_or("");
                if s.starts_with("v1.") || s.starts_with("1.") {
                    return Err(LoadError::at(
                        n,
                        format!("kubernetesVersion `{s}` is not a Kubernetes 1.x version"),
                    ));
                }
            }
            Ok(None)
        }
    }
}

/// `apiServer` is a plain mapping with only the fields kubeadm's APIServer type has.
fn check_api_server(
    api_server: Option<&Node>,
    encoding: ArgsEncoding,
    api_version: &str,
) -> Result<(), LoadError> {
    if let Some(a) = api_server {
        if !a.is_map() && !a.is_null() {
            return Err(LoadError::at(a, "`apiServer` must be a mapping"));
        }
        if a.decorated {
            return Err(LoadError::at(
                a,
                "`apiServer` carries an anchor or tag; kubeharden edits plain mappings only",
            ));
        }
    }
    // The fields of kubeadm's APIServer type (cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go,
    // v1beta4/types.go): an unknown one is an error for `kubeadm config validate`.
    if let Some(a) = api_server.filter(|a| a.is_map()) {
        let known: &[&str] = match encoding {
            ArgsEncoding::Map => &[
                "extraArgs",
                "extraVolumes",
                "certSANs",
                "timeoutForControlPlane",
            ],
            ArgsEncoding::List => &["extraArgs", "extraVolumes", "extraEnvs", "certSANs"],
        };
        for (k, _) in a.entries() {
            let key = k.as_str().unwrap_or("");
            if !known.contains(&key) {
                return Err(LoadError::at(
                    k,
                    format!(
                        "unknown field `{key}` in apiServer of {api_version} (it has {}); `kubeadm config validate` rejects it",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `extraArgs` entries, in the file's encoding.
fn extra_args(
    api_server: Option<&Node>,
    encoding: ArgsEncoding,
    api_version: &str,
) -> Result<Vec<ArgEntry>, LoadError> {
    let mut args = Vec::new();
    if let Some(ea) = api_server.and_then(|a| a.get("extraArgs")) {
        if ea.decorated || matches!(ea.kind, Kind::Alias) {
            return Err(LoadError::at(
                ea,
                "`extraArgs` carries an anchor, tag or alias; kubeharden edits plain values only",
            ));
        }
        match (encoding, &ea.kind) {
            (_, Kind::Scalar { .. }) if ea.is_null() => {}
            (ArgsEncoding::Map, Kind::Map { entries, .. }) => {
                for (k, v) in entries {
                    let name = string_of(k, "an extraArgs key")?;
                    let value = string_of(v, &format!("extraArgs `{name}`"))?;
                    args.push(ArgEntry {
                        name,
                        value,
                        key: k.clone(),
                        value_node: v.clone(),
                    });
                }
            }
            (ArgsEncoding::List, Kind::Seq { items, .. }) => {
                for item in items {
                    if !item.is_map() || item.decorated {
                        return Err(LoadError::at(
                            item,
                            "each v1beta4 extraArgs item is a plain mapping with `name` and `value`",
                        ));
                    }
                    let name_node = item
                        .get("name")
                        .ok_or_else(|| LoadError::at(item, "an extraArgs item has no `name`"))?;
                    let name = string_of(name_node, "an extraArgs name")?;
                    if name.is_empty() {
                        return Err(LoadError::at(
                            name_node,
                            "an extraArgs item has an empty `name`",
                        ));
                    }
                    let value_node = item.get("value").ok_or_else(|| {
                        LoadError::at(item, format!("extraArgs item `{name}` has no `value`"))
                    })?;
                    let value = string_of(value_node, &format!("extraArgs `{name}`"))?;
                    for (k, _) in item.entries() {
                        let key = k.as_str().unwrap_or("");
                        if key != "name" && key != "value" {
                            return Err(LoadError::at(
                                k,
                                format!("unknown field `{key}` in an extraArgs item (kubeadm's Arg has `name` and `value`)"),
                            ));
                        }
                    }
                    args.push(ArgEntry {
                        name,
                        value,
                        key: item.clone(),
                        value_node: value_node.clone(),
                    });
                }
            }
            (ArgsEncoding::Map, _) => {
                return Err(LoadError::at(
                    ea,
                    format!("in {api_version} `extraArgs` is a mapping of flag names to strings"),
                ))
            }
            (ArgsEncoding::List, _) => {
                return Err(LoadError::at(
                    ea,
                    format!("in {api_version} `extraArgs` is a list of `{{name, value}}` items"),
                ))
            }
        }
    }
    for a in &args {
        if a.name.starts_with('-') {
            return Err(LoadError::at(
                &a.key,
                format!(
                    "extraArgs name `{}` starts with `-`; kubeadm adds the dashes itself (it would write `--{}`)",
                    a.name, a.name
                ),
            ));
        }
    }
    Ok(args)
}

/// The `extraVolumes` items.
fn extra_volumes(api_server: Option<&Node>) -> Result<Vec<VolumeEntry>, LoadError> {
    let mut volumes = Vec::new();
    if let Some(ev) = api_server.and_then(|a| a.get("extraVolumes")) {
        if !ev.is_null() {
            if !ev.is_seq() || ev.decorated {
                return Err(LoadError::at(ev, "`extraVolumes` must be a plain list"));
            }
            for item in ev.items() {
                if !item.is_map() || item.decorated {
                    return Err(LoadError::at(
                        item,
                        "each extraVolumes item is a plain mapping",
                    ));
                }
                let field = |key: &str| -> Result<Option<String>, LoadError> {
                    item.get(key)
                        .map(|n| string_of(n, &format!("extraVolumes `{key}`")))
                        .transpose()
                };
                let need = |key: &str| -> Result<String, LoadError> {
                    field(key)?.ok_or_else(|| {
                        LoadError::at(item, format!("an extraVolumes item has no `{key}`"))
                    })
                };
                for (k, _) in item.entries() {
                    let key = k.as_str().unwrap_or("");
                    if !["name", "hostPath", "mountPath", "readOnly", "pathType"].contains(&key) {
                        return Err(LoadError::at(
                            k,
                            format!("unknown field `{key}` in an extraVolumes item (kubeadm's HostPathMount has name, hostPath, mountPath, readOnly, pathType)"),
                        ));
                    }
                }
                // A YAML 1.1 boolean, unquoted (a quoted "true" is a string to kubeadm).
                let read_only = match item.get("readOnly") {
                    None => false,
                    Some(n) => yaml::yaml11_bool(n)
                        .filter(|_| !n.decorated)
                        .ok_or_else(|| {
                            LoadError::at(
                                n,
                                "extraVolumes `readOnly` must be an unquoted true or false",
                            )
                        })?,
                };
                let path_type = field("pathType")?;
                // corev1.HostPathType.
                if let Some(t) = &path_type {
                    const TYPES: [&str; 8] = [
                        "",
                        "DirectoryOrCreate",
                        "Directory",
                        "FileOrCreate",
                        "File",
                        "Socket",
                        "CharDevice",
                        "BlockDevice",
                    ];
                    if !TYPES.contains(&t.as_str()) {
                        return Err(LoadError::at(
                            item.get("pathType").unwrap_or(item),
                            format!(
                                "extraVolumes pathType `{t}` is not a HostPathType ({})",
                                TYPES[1..].join(", ")
                            ),
                        ));
                    }
                }
                volumes.push(VolumeEntry {
                    name: need("name")?,
                    host_path: need("hostPath")?,
                    mount_path: need("mountPath")?,
                    read_only,
                    path_type,
                });
            }
        }
    }

    Ok(volumes)
}

/// What kubeadm fills in from the configuration (`certificates_dir`, the etcd endpoints and
/// files), and the directories of an external etcd's files, which kubeadm mounts.
fn fill_ins(
    facts: &Facts,
    croot: Option<&Node>,
    iroot: Option<&Node>,
) -> (BTreeMap<String, String>, Vec<String>) {
    // What kubeadm fills in from the configuration.
    let mut vars = facts.defaults.clone();
    let text_at = |root: Option<&Node>, path: &[&str]| -> Option<String> {
        let mut n = root?;
        for p in path {
            n = n.get(p)?;
        }
        n.as_str().map(str::to_string)
    };
    for (var, root, path) in [
        ("certificates_dir", croot, &["certificatesDir"][..]),
        (
            "service_subnet",
            croot,
            &["networking", "serviceSubnet"][..],
        ),
        ("dns_domain", croot, &["networking", "dnsDomain"][..]),
        (
            "advertise_address",
            iroot,
            &["localAPIEndpoint", "advertiseAddress"][..],
        ),
        ("bind_port", iroot, &["localAPIEndpoint", "bindPort"][..]),
    ] {
        if let Some(v) = text_at(root, path).filter(|v| !v.is_empty()) {
            vars.insert(var.to_string(), v);
        }
    }
    let cert_dir = vars.get("certificates_dir").cloned().unwrap_or_default();
    let external = croot
        .and_then(|c| c.get("etcd"))
        .and_then(|e| e.get("external"));
    let mut extra_etcd_dirs = Vec::new();
    match external {
        Some(ext) => {
            let endpoints: Vec<String> = ext
                .get("endpoints")
                .map(|e| {
                    e.items()
                        .iter()
                        .filter_map(|i| i.as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            vars.insert("etcd_servers".into(), endpoints.join(","));
            let f = |k: &str| {
                ext.get(k)
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let (ca, cert, key) = (f("caFile"), f("certFile"), f("keyFile"));
            vars.insert("etcd_cafile".into(), ca.clone());
            let both = !cert.is_empty() && !key.is_empty();
            vars.insert(
                "etcd_certfile".into(),
                if both { cert.clone() } else { String::new() },
            );
            vars.insert(
                "etcd_keyfile".into(),
                if both { key.clone() } else { String::new() },
            );
            for f in [ca, cert, key] {
                let dir = crate::paths::parent_dir(&f);
                if !f.is_empty() && !extra_etcd_dirs.contains(&dir) {
                    extra_etcd_dirs.push(dir);
                }
            }
        }
        None => {
            vars.insert("etcd_servers".into(), "https://127.0.0.1:2379".into());
            vars.insert("etcd_cafile".into(), format!("{cert_dir}/etcd/ca.crt"));
            vars.insert(
                "etcd_certfile".into(),
                format!("{cert_dir}/apiserver-etcd-client.crt"),
            );
            vars.insert(
                "etcd_keyfile".into(),
                format!("{cert_dir}/apiserver-etcd-client.key"),
            );
        }
    }

    (vars, extra_etcd_dirs)
}

/// The kube-apiserver manifest kubeadm would write, as a model.
fn apiserver_model(
    facts: &Facts,
    vars: &BTreeMap<String, String>,
    args: &[ArgEntry],
    volumes: &[VolumeEntry],
    extra_etcd_dirs: &[String],
) -> Model {
    // The command: defaults, minus those an extra argument names, then the extra arguments.
    let has = |n: &str| args.iter().any(|a| a.name == n);
    let mut flags: Vec<Flag> = Vec::new();
    for (name, value) in &facts.apiserver_flags {
        if has(name) || (name == "authorization-mode" && has("authorization-config")) {
            continue;
        }
        let v = substitute(value, vars);
        if v.is_empty() {
            continue;
        }
        flags.push(Flag {
            name: name.clone(),
            value: Some(v),
        });
    }
    flags.extend(args.iter().map(|a| Flag {
        name: a.name.clone(),
        value: Some(a.value.clone()),
    }));

    // Volumes: kubeadm's, with extra volumes of the same name replacing them.
    let mut vols: Vec<(String, String, bool, Option<String>)> = facts
        .apiserver_volumes
        .iter()
        .map(|(n, p)| {
            let p = substitute(p, vars);
            (n.clone(), p, true, Some("DirectoryOrCreate".to_string()))
        })
        .collect();
    for (i, d) in extra_etcd_dirs.iter().enumerate() {
        let covered = vols
            .iter()
            .any(|(_, p, _, _)| crate::paths::path_within(d, p));
        if !covered {
            vols.push((
                format!("etcd-certs-{i}"),
                d.clone(),
                true,
                Some("DirectoryOrCreate".into()),
            ));
        }
    }
    let mut mounts = Vec::new();
    let mut volumes_model = Vec::new();
    for (name, path, ro, ty) in &vols {
        if volumes.iter().any(|v| &v.name == name) {
            continue;
        }
        mounts.push(Mount {
            name: name.clone(),
            mount_path: path.clone(),
            read_only: *ro,
            sub_path: None,
        });
        volumes_model.push(Volume {
            name: name.clone(),
            host_path: Some(path.clone()),
            path_type: ty.clone(),
        });
    }
    for v in volumes {
        mounts.push(Mount {
            name: v.name.clone(),
            mount_path: v.mount_path.clone(),
            read_only: v.read_only,
            sub_path: None,
        });
        volumes_model.push(Volume {
            name: v.name.clone(),
            host_path: Some(v.host_path.clone()),
            path_type: v.path_type.clone(),
        });
    }
    let probes = facts
        .apiserver_probes
        .iter()
        .map(|(kind, path)| Probe {
            kind: kind.clone(),
            handler: Handler::HttpGet {
                path: Some(path.clone()),
                authenticated: false,
            },
            // kubeadm probes the advertise address (GetAPIServerProbeAddress), which the
            // model does not need.
            host: None,
        })
        .collect();
    Model {
        component: COMPONENT.to_string(),
        flags,
        mounts,
        volumes: volumes_model,
        probes,
        split_flags: Vec::new(),
        env: Vec::new(),
        config_api: None,
    }
}

/// Loads the already-parsed documents of a kubeadm configuration file.
pub fn load(
    text: &str,
    docs: Vec<yaml::Document>,
    facts: &Facts,
) -> Result<KubeadmConfig, LoadError> {
    if let Some(e) = kubeadm_split_error(text) {
        return Err(e);
    }
    let docs: Vec<yaml::Document> = docs.into_iter().filter(|d| !d.root.is_null()).collect();
    let Scan {
        cluster,
        init,
        api_version,
    } = scan(&docs, facts)?;
    let encoding = ArgsEncoding::of(&api_version);
    let croot = cluster.map(|i| &docs[i].root);
    let kubernetes_version = kubernetes_version(croot)?;
    let api_server = croot.and_then(|c| c.get("apiServer"));
    check_api_server(api_server, encoding, &api_version)?;
    let args = extra_args(api_server, encoding, &api_version)?;
    let volumes = extra_volumes(api_server)?;
    let (vars, extra_etcd_dirs) = fill_ins(facts, croot, init.map(|i| &docs[i].root));
    let mut model = apiserver_model(facts, &vars, &args, &volumes, &extra_etcd_dirs);
    model.config_api = Some(api_version.clone());
    let patches_dir = patches_dir(&docs)?;
    Ok(KubeadmConfig {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        text: text.to_string(),
        docs,
        cluster,
        api_version,
        encoding,
        kubernetes_version,
        args,
        model,
        vars,
        patches_dir,
        patched_probes: None,
    })
}

/// `patches.directory` of the file's InitConfiguration or JoinConfiguration: the directory
/// kubeadm reads its patches from (`patch.rs`). The InitConfiguration's, when both name one.
fn patches_dir(docs: &[yaml::Document]) -> Result<Option<String>, LoadError> {
    for kind in ["InitConfiguration", "JoinConfiguration"] {
        let found = docs.iter().find(|d| {
            matches!(doc_kind(&d.root), (Some(api), Some(k)) if k == kind && api.starts_with(&format!("{GROUP}/")))
        });
        let Some(dir) = found.and_then(|d| d.root.get("patches")?.get("directory")) else {
            continue;
        };
        let dir = string_of(dir, "patches.directory")?;
        if !dir.is_empty() {
            return Ok(Some(dir));
        }
    }
    Ok(None)
}

/// kubeadm's types for the part of a ClusterConfiguration kubeharden writes, read strictly:
/// a field they do not have, or a value of the wrong type, is an error (as for
/// `kubeadm config validate`). The values are read only to check their types.
#[allow(dead_code)]
mod types {
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct HostPathMount {
        pub(crate) name: String,
        pub(crate) host_path: String,
        pub(crate) mount_path: String,
        #[serde(default)]
        pub(crate) read_only: bool,
        #[serde(default)]
        pub(crate) path_type: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Arg {
        pub(crate) name: String,
        pub(crate) value: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ApiServerV1beta3 {
        #[serde(default)]
        pub(crate) extra_args: Option<BTreeMap<String, String>>,
        #[serde(default)]
        pub(crate) extra_volumes: Option<Vec<HostPathMount>>,
        #[serde(default, rename = "certSANs")]
        pub(crate) cert_sans: Option<Vec<String>>,
        #[serde(default)]
        pub(crate) timeout_for_control_plane: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ApiServerV1beta4 {
        #[serde(default)]
        pub(crate) extra_args: Option<Vec<Arg>>,
        #[serde(default)]
        pub(crate) extra_volumes: Option<Vec<HostPathMount>>,
        #[serde(default)]
        pub(crate) extra_envs: Option<Vec<serde_json::Value>>,
        #[serde(default, rename = "certSANs")]
        pub(crate) cert_sans: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", bound(deserialize = "A: Deserialize<'de>"))]
    pub(crate) struct Cluster<A> {
        pub(crate) api_version: String,
        pub(crate) kind: String,
        #[serde(default)]
        pub(crate) kubernetes_version: Option<String>,
        #[serde(default = "none")]
        pub(crate) api_server: Option<A>,
    }

    fn none<A>() -> Option<A> {
        None
    }
}

/// Reads every ClusterConfiguration document of `text` with kubeadm's types for the fields
/// kubeharden writes.
pub fn validate_types(text: &str) -> Result<(), String> {
    let docs = yaml::parse(text).map_err(|e| e.to_string())?;
    for d in &docs {
        let (Some(api), Some("ClusterConfiguration")) = doc_kind(&d.root) else {
            continue;
        };
        // To the end of the document's last line (an empty last value ends before its `:`).
        let end =
            yaml::line_end_inclusive(text, d.root.content_end().max(d.root.span.start + 1) - 1);
        let src = &text[d.root.span.start..end.max(d.root.span.start)];
        let r = if ArgsEncoding::of(api) == ArgsEncoding::List {
            yaml_serde::from_str::<types::Cluster<types::ApiServerV1beta4>>(src).map(|_| ())
        } else {
            yaml_serde::from_str::<types::Cluster<types::ApiServerV1beta3>>(src).map(|_| ())
        };
        r.map_err(|e| {
            format!("the ClusterConfiguration does not read as kubeadm's {api} type: {e}")
        })?;
    }
    Ok(())
}

/// Parses `text` and loads it when it is a kubeadm configuration file; `None` when it is not.
pub fn try_load(text: &str, facts: &Facts) -> Option<Result<KubeadmConfig, LoadError>> {
    let docs = yaml::parse(text).ok()?;
    if !is_kubeadm(&docs) {
        return None;
    }
    Some(load(text, docs, facts))
}
