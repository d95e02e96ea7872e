//! `generate kubeadm`: a hardened kubeadm configuration for a new cluster, with the supporting
//! files its flags name and a README saying where each goes. The configuration is the
//! `kubeadm-config` template with the profile applied by the same pipeline that edits existing
//! kubeadm files, so it is planned, edited and verified the same way.

use super::args::GenerateKubeadmArgs;
use super::exit::Exit;
use super::probe_patch::PROBE_PATCH;
use crate::apply::output::{write_files, OutFile};
use crate::model::report::FileReport;
use crate::model::report::UsageError;
use crate::pipeline::{self, Options};
use crate::profile::version::Version;
use crate::profile::{render_template, Profile, Registry};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

/// `generate kubeadm`: the files, written atomically into the output directory. An existing
/// file with other content is not overwritten.
pub(super) fn run(args: &GenerateKubeadmArgs, stderr: &mut dyn Write) -> Result<Exit, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let profile = Profile::load(&args.profile, &registry).map_err(|e| UsageError(e.to_string()))?;
    let v = Version::parse(&args.kubernetes_version).ok_or_else(|| {
        UsageError(format!(
            "--kubernetes-version: `{}` is not a Kubernetes 1.x version (e.g. 1.31 or v1.31.2)",
            args.kubernetes_version
        ))
    })?;
    let known = &registry.versions;
    if v.minor < known.oldest {
        return Err(UsageError(format!(
            "--kubernetes-version {v}: kubeharden has facts for 1.{} to 1.{}, and a newer release is judged as 1.{} (docs/versions.md)",
            known.oldest, known.newest, known.newest
        )));
    }
    crate::render::messages::newer_to(stderr, [v], &registry);
    let api = api_version(&registry, v, args.api_version.as_deref()).map_err(UsageError)?;
    let sets = args
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(UsageError)?;
    let files = kubeadm(&registry, &profile, v, &api, &sets).map_err(UsageError)?;
    let dir = &args.output_dir;
    write_files(dir, &files, stderr)?;
    let _ = writeln!(
        stderr,
        "kubeharden: {api} for Kubernetes {v}, profile {}; {} says where each file goes",
        profile.name,
        dir.join("README.md").display()
    );
    Ok(Exit::Ok)
}

fn check_setting(key: &str, value: &str) -> Result<(), String> {
    let ok = match key {
        "advertise-address" => value.parse::<std::net::IpAddr>().is_ok(),
        "bind-port" => value.parse::<u16>().is_ok_and(|p| p > 0),
        "pod-subnet" | "service-subnet" => value.split(',').all(|c| {
            c.split_once('/').is_some_and(|(ip, n)| {
                ip.parse::<std::net::IpAddr>().is_ok() && n.parse::<u8>().is_ok()
            })
        }),
        "cri-socket" => value.starts_with("unix:///") || value.starts_with('/'),
        "patches-dir" => value.starts_with('/') && !value.contains(['\n', '\r', '\t']),
        // A DNS-1123 subdomain (kubeadm's node name validation).
        "node-name" => {
            value.len() <= 253
                && value.split('.').all(|l| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
        }
        _ => !value.is_empty() && !value.contains(['\n', '\r', '\t']),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("--set {key}={value}: not a valid value for {key}"))
    }
}

/// The kubeadm API version to write for Kubernetes `v`: the one asked for, if kubeadm `v`
/// accepts it, else the newest it accepts.
fn api_version(registry: &Registry, v: Version, asked: Option<&str>) -> Result<String, String> {
    let facts = &registry.kubeadm;
    if let Some(a) = asked {
        let full = format!("kubeadm.k8s.io/{a}");
        if let Some(why) = facts.api_rejected(&full, v) {
            return Err(format!("--api-version {a}: {why}"));
        }
        return Ok(full);
    }
    facts
        .api_versions
        .keys()
        .rev()
        .find(|a| facts.api_rejected(a, v).is_none())
        .cloned()
        .ok_or_else(|| {
            format!("no kubeadm configuration API kubeharden knows is accepted by kubeadm {v}")
        })
}

/// Named values: template parameters, `--set` settings.
type Values = BTreeMap<String, String>;

/// The parameters of the `kubeadm-config` template: the profile's, the `--set` settings (with
/// kubeadm's defaults), the API and the version; and the settings.
fn parameters(
    registry: &Registry,
    profile: &Profile,
    v: Version,
    api: &str,
    sets: &[(String, String)],
) -> Result<(Values, Values), String> {
    // What `--set` may fill, with the defaults (profiles/kubeadm.yaml).
    let mut values: BTreeMap<String, String> = registry.kubeadm.generate_settings.clone();
    for (k, val) in sets {
        if !values.contains_key(k) {
            return Err(format!(
                "--set {k}: unknown setting; the settings are {}",
                registry
                    .kubeadm
                    .generate_settings
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        check_setting(k, val)?;
        values.insert(k.clone(), val.clone());
    }
    let mut params = profile.parameters.clone();
    for (k, val) in &values {
        // Strings are quoted wherever YAML would read them as something else (`node-name=12345`).
        let v = if k == "bind-port" || val.is_empty() || crate::yaml::plain_string_ok(val, false) {
            val.clone()
        } else {
            crate::yaml::double_quote(val)
        };
        params.insert(k.replace('-', "_"), v);
    }
    params.insert("kubeadm_api".into(), api.to_string());
    // v1beta4 writes extraArgs as a list of name/value items, older APIs as a map (as the
    // loader reads them).
    let list = crate::document::kubeadm::ArgsEncoding::of(api)
        == crate::document::kubeadm::ArgsEncoding::List;
    params.insert("args_list".into(), if list { "yes" } else { "" }.into());
    params.insert(
        "kubernetes_version".into(),
        format!("v1.{}.{}", v.minor, v.patch.unwrap_or(0)),
    );
    params.insert("profile".into(), profile.name.clone());
    Ok((params, values))
}

/// The supporting files the configuration's flags name, and what the README says of them.
fn supporting_files(
    report: &FileReport,
    registry: &Registry,
    profile: &Profile,
    v: Version,
    files: &mut Vec<OutFile>,
    readme: &mut String,
) -> Result<(), String> {
    let mut copies = Vec::new();
    let mut dirs = Vec::new();
    let mut needs = Vec::new();
    for rf in &report.required_files {
        if rf.directory {
            dirs.push(rf.path.clone());
            continue;
        }
        match &rf.template {
            Some(t) => {
                let name = rf.path.rsplit('/').next().unwrap_or(t).to_string();
                let params = with_key(&profile.parameters)?;
                let content = render_template(t, v, registry, &params)?;
                if files.iter().any(|f| f.name == name) {
                    return Err(format!("two supporting files are both named {name}"));
                }
                // A file with a fresh key: one already there may be in use, and is kept.
                let keep = content.contains(&params["encryption_key"]);
                files.push(OutFile {
                    name: name.clone(),
                    content,
                    mode: 0o600,
                    keep,
                });
                copies.push((name, rf.path.clone(), rf.flag.clone()));
            }
            None => needs.push((rf.path.clone(), rf.flag.clone())),
        }
    }
    for (name, path, flag) in &copies {
        let _ = writeln!(
            readme,
            "- `{name}` goes to `{path}` (for `--{flag}`):\n\n      sudo install -D -m 0600 {name} {path}\n"
        );
        if flag == "encryption-provider-config" {
            let _ = writeln!(
                readme,
                "  It holds the key that encrypts the cluster's Secrets in etcd: copy this same file to every control-plane node (a node with another key cannot read the Secrets the others wrote), and keep a copy outside the cluster, for without it the Secrets cannot be read back.\n"
            );
        }
    }
    for d in &dirs {
        let _ = writeln!(
            readme,
            "- Create the directory `{d}`:\n\n      sudo install -d -m 0700 {d}\n"
        );
    }
    for (path, flag) in &needs {
        let _ = writeln!(
            readme,
            "- `{path}` (for `--{flag}`) must exist; kubeadm creates it when it makes the cluster's certificates.\n"
        );
    }
    Ok(())
}

/// Builds the files of `generate kubeadm`.
fn kubeadm(
    registry: &Registry,
    profile: &Profile,
    v: Version,
    api: &str,
    sets: &[(String, String)],
) -> Result<Vec<OutFile>, String> {
    let (mut params, values) = parameters(registry, profile, v, api, sets)?;
    let patch = render_template("kubeadm-probe-patch", v, registry, &profile.parameters)?
        .replace("port: 6443", &format!("port: {}", values["bind-port"]));
    let lookup = |_: &str, _: &str| Ok(vec![(PROBE_PATCH.to_string(), patch.clone())]);
    let process = |params: &Values, with_patch: bool| {
        let skeleton = render_template("kubeadm-config", v, registry, params)?;
        let opts = Options {
            version: Some(v),
            patches: with_patch.then_some(&lookup as &pipeline::PatchLookup),
            new_cluster: true,
            ..Options::new(registry, profile)
        };
        pipeline::process("kubeadm-config.yaml", &skeleton, &opts)
            .map(|r| (r, skeleton))
            .map_err(|e| format!("the profile cannot be applied to a kubeadm configuration: {e}"))
    };
    let (mut report, mut skeleton) = process(&params, false)?;
    // A rule that needs kubeadm's probes changed (rejecting anonymous requests before 1.32): the
    // configuration names the patches directory, and the patch goes beside it, for that
    // directory; the profile is then applied again with the patch.
    let probe_patch = report.needs_probe_patch;
    if probe_patch {
        if registry.kubeadm.api_version_lacks_patches(api) {
            return Err(format!(
                "{api} has no patches directory, which kubeadm needs to change the API server's probes before anonymous requests can be rejected; use Kubernetes 1.22 or later (kubeadm.k8s.io/v1beta3)"
            ));
        }
        params.insert("probe_patch".into(), "yes".into());
        (report, skeleton) = process(&params, true)?;
    }
    let config = report.edited.clone().unwrap_or(skeleton);

    let mut files = vec![OutFile {
        name: "kubeadm-config.yaml".into(),
        content: config,
        mode: 0o600,
        keep: false,
    }];
    let mut readme = String::new();
    let _ = writeln!(
        readme,
        "# Hardened kubeadm configuration\n\nFor Kubernetes {v} with the `{}` profile ({api}), written by `kubeharden generate kubeadm`.\n",
        profile.name
    );
    let _ = writeln!(
        readme,
        "## On every control-plane node, before `kubeadm init` or `kubeadm join`\n"
    );
    supporting_files(&report, registry, profile, v, &mut files, &mut readme)?;
    let left: Vec<_> = report.findings.iter().filter(|f| !f.fixed).collect();
    if probe_patch {
        files.push(OutFile {
            name: PROBE_PATCH.into(),
            content: patch.clone(),
            mode: 0o600,
            keep: false,
        });
        let dir = &values["patches-dir"];
        let _ = writeln!(
            readme,
            "- `{PROBE_PATCH}` goes to `{dir}` (the InitConfiguration's `patches.directory`): the kubeadm patch that turns the API server's probes into TCP probes, which `--anonymous-auth=false` needs before Kubernetes 1.32 (kubeadm's probes are HTTPS requests without credentials):\n\n      sudo install -D -m 0600 {PROBE_PATCH} {dir}/{PROBE_PATCH}\n\n  Keep it there on every control-plane node: `kubeadm join` needs it in its JoinConfiguration's `patches.directory` or `--patches {dir}`, and `kubeadm upgrade apply` and `upgrade node` need `--patches {dir}`, or the API server gets its HTTPS probes back, fails them and is restarted again and again.\n"
        );
    }
    let _ = writeln!(
        readme,
        "Then `sudo kubeadm init --config kubeadm-config.yaml` on the first node.\n\n## After `kubeadm init`\n\n- The kubelets request serving certificates from the cluster CA (`serverTLSBootstrap: true`), which `--kubelet-certificate-authority` relies on: approve them with `kubectl get csr` and `kubectl certificate approve NAME`, or `kubectl logs` and `kubectl exec` fail with x509 errors.\n- `kubeharden check /etc/kubernetes/manifests --profile {}` on each control-plane node confirms the result.\n",
        profile.name
    );
    if !left.is_empty() {
        let _ = writeln!(readme, "## Not covered by this configuration\n");
        for f in left {
            let _ = writeln!(
                readme,
                "- `{}`: {}\n",
                f.rule.id,
                f.manual.as_deref().unwrap_or("")
            );
        }
    }
    files.push(OutFile {
        name: "README.md".into(),
        content: readme,
        mode: 0o644,
        keep: false,
    });
    Ok(files)
}

/// The profile's parameters and a fresh key for an encryption configuration: each generated
/// cluster gets its own.
pub(super) fn with_key(params: &Values) -> Result<Values, String> {
    let mut p = params.clone();
    p.insert("encryption_key".into(), super::key::fresh_key()?);
    Ok(p)
}

/// `KEY=VALUE` of `--set`.
fn parse_set(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("--set {s}: expected KEY=VALUE"))
}
