//! kubeadm's patches for kube-apiserver: the probes a patch in `patches.directory` gives the
//! static pod kubeadm writes.
//!
//! kubeadm reads the files of the directory named `TARGET[SUFFIX][+PATCHTYPE].{yaml,yml,json}`,
//! sorted by name, and applies those whose target is `kube-apiserver` to the manifest it
//! generates; the patch type is `strategic` unless named (`merge`, `json`)
//! (k/k cmd/kubeadm/app/util/patches/patches.go, `pathsFilesPattern`, `GetPatchManager`).
//! `patches.directory` is a field of InitConfiguration and JoinConfiguration from v1beta3
//! (cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go, `Patches`).
//!
//! kubeharden reads what it needs of a strategic merge patch: the `kube-apiserver` container's
//! probes. A probe given as `tcpSocket` with `httpGet: null` becomes a TCP probe (what the
//! `kubeadm-probe-patch` template writes). Other patch types are not read, and the probes are
//! then judged as kubeadm writes them.

use crate::model::{Handler, Model, Probe};
use crate::yaml::{self, Node};

/// The target kubeadm gives the kube-apiserver manifest.
pub(crate) const TARGET: &str = "kube-apiserver";

/// The file kubeharden writes the probe patch to (template kubeadm-probe-patch): a strategic
/// merge patch of kube-apiserver, as kubeadm names them.
pub(crate) const PROBE_PATCH: &str = "kube-apiserver+strategic.yaml";

/// The patch type of a patch file's name (`kube-apiserver+strategic.yaml` → `strategic`).
pub(crate) fn patch_type(name: &str) -> &str {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.split_once('+').map_or("strategic", |(_, t)| t)
}

/// Whether kubeadm applies the file `name` of the patches directory to kube-apiserver.
pub(crate) fn targets_apiserver(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    matches!(ext, "yaml" | "yml" | "json")
        && stem
            .split_once('+')
            .map_or(stem, |(t, _)| t)
            .strip_prefix(TARGET)
            // A suffix orders patches of one target; it does not start with a letter kubeadm
            // would read as another target (kube-apiserver0.yaml, kube-apiserver-a.yaml).
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// The probes of `model` once the patches (name, text) are applied, in order; or why they
/// cannot be read. `port` is the API server's secure port: a TCP probe elsewhere would fail.
pub(crate) fn patched_probes(
    model: &Model,
    patches: &[(String, String)],
    port: &str,
) -> Result<Vec<Probe>, String> {
    let mut probes = model.probes.clone();
    for (name, text) in patches {
        let file = name.rsplit('/').next().unwrap_or(name);
        let ty = patch_type(file);
        if ty != "strategic" {
            return Err(format!(
                "{name}: a {ty} patch, which kubeharden does not read (it reads strategic merge patches)"
            ));
        }
        let docs = yaml::parse(text).map_err(|e| format!("{name}: {e}"))?;
        let Some(root) = docs.first().map(|d| &d.root).filter(|r| r.is_map()) else {
            return Err(format!("{name}: not a mapping"));
        };
        let containers = root.get("spec").and_then(|s| s.get("containers"));
        let Some(c) = containers.and_then(|cs| {
            cs.items()
                .iter()
                .find(|c| c.get("name").and_then(Node::as_str) == Some(TARGET))
        }) else {
            continue;
        };
        for kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
            let Some(p) = c.get(kind) else { continue };
            apply_probe(&mut probes, kind, p, port).map_err(|e| format!("{name}: {kind}: {e}"))?;
        }
    }
    Ok(probes)
}

/// One probe of a strategic merge patch: `null` removes it; a `tcpSocket` with `httpGet:
/// null` replaces an HTTP probe; anything else is not read.
fn apply_probe(probes: &mut Vec<Probe>, kind: &str, p: &Node, port: &str) -> Result<(), String> {
    if p.is_null() {
        probes.retain(|q| q.kind != kind);
        return Ok(());
    }
    let Some(tcp) = p.get("tcpSocket") else {
        return Err("only a tcpSocket probe is read".into());
    };
    let existing = probes.iter().any(|q| q.kind == kind);
    let http_kept = existing
        && probes
            .iter()
            .any(|q| q.kind == kind && matches!(q.handler, Handler::HttpGet { .. }))
        && !p.get("httpGet").is_some_and(Node::is_null);
    if http_kept {
        return Err(
            "it adds tcpSocket without `httpGet: null`, so the probe would have two handlers"
                .into(),
        );
    }
    let probe_port = tcp.get("port").and_then(Node::as_str).unwrap_or_default();
    if probe_port != port {
        return Err(format!(
            "the TCP probe's port {probe_port} is not the API server's port {port}"
        ));
    }
    let host = tcp.get("host").and_then(Node::as_str).map(str::to_string);
    probes.retain(|q| q.kind != kind);
    probes.push(Probe {
        kind: kind.to_string(),
        handler: Handler::TcpSocket,
        host,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(kind: &str) -> Probe {
        Probe {
            kind: kind.into(),
            handler: Handler::HttpGet {
                path: Some("/livez".into()),
                authenticated: false,
            },
            host: None,
        }
    }

    #[test]
    fn names_kubeadm_applies_to_kube_apiserver() {
        for (name, yes) in [
            ("kube-apiserver+strategic.yaml", true),
            ("kube-apiserver.yaml", true),
            ("kube-apiserver0+merge.json", true),
            ("kube-apiserver.txt", false),
            ("kube-scheduler.yaml", false),
            ("kube-apiserverx.yaml", false),
        ] {
            assert_eq!(targets_apiserver(name), yes, "{name}");
        }
        assert_eq!(patch_type("kube-apiserver.yaml"), "strategic");
        assert_eq!(patch_type("kube-apiserver1+json.json"), "json");
    }

    #[test]
    fn a_tcp_patch_replaces_the_http_probes() {
        let model = Model {
            probes: vec![http("livenessProbe"), http("readinessProbe")],
            ..Model::default()
        };
        let patch = "spec:\n  containers:\n  - name: kube-apiserver\n    livenessProbe:\n      httpGet: null\n      tcpSocket:\n        port: 6443\n    readinessProbe: null\n";
        let p = patched_probes(&model, &[("p+strategic.yaml".into(), patch.into())], "6443")
            .expect("reads");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].handler, Handler::TcpSocket);
        let e =
            patched_probes(&model, &[("p.yaml".into(), patch.into())], "6444").expect_err("port");
        assert!(e.contains("6444"), "{e}");
        let both = patch.replace("      httpGet: null\n", "");
        assert!(patched_probes(&model, &[("p.yaml".into(), both)], "6443").is_err());
        assert!(patched_probes(&model, &[("p+json.json".into(), "[]".into())], "6443").is_err());
    }
}
