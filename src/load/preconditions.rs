//! Preconditions of risky changes, read on the node (`fix` in place, `check --root`): whether
//! what a change needs holds there, so that a risky change is made only when it does and is
//! refused, with what to do first, when it does not.

use super::certs::{self, Usage};
use super::node::Root;
use crate::model::report::Verdict;
use crate::model::Model;
use crate::profile::{NodeCheck, Wanted};

/// Reads `check` under `root`, for the component `model` describes.
pub(crate) fn on_node(check: &NodeCheck, root: &Root, model: &Model) -> Verdict {
    match check {
        NodeCheck::Sysctls(wanted) => sysctls(wanted, root),
        NodeCheck::KubeletServingSignedBy { ca_flag } => kubelet_serving(root, model, ca_flag),
        NodeCheck::ServingApprovedBefore { ca_flag } => approved_before(root, model, ca_flag),
        NodeCheck::AdminCredential { ca_flag, groups } => admin(root, model, ca_flag, groups),
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

/// The CA certificates of the file the flag `ca_flag` names, read under `root`.
fn ca_of(
    root: &Root,
    model: &Model,
    ca_flag: &str,
) -> Result<(String, Vec<rustls_pki_types::CertificateDer<'static>>), String> {
    let path = model
        .value(ca_flag)
        .ok_or_else(|| format!("no --{ca_flag} to take the CA from"))?;
    let bytes = read(root, &path)?;
    let cas = certs::pem_certs(&bytes).map_err(|e| format!("{path}: {e}"))?;
    Ok((path, cas))
}

/// A node file's bytes, read under `root`.
fn read(root: &Root, host: &str) -> Result<Vec<u8>, String> {
    root.resolve(host)
        .map_err(|e| e.to_string())
        .and_then(|p| std::fs::read(&p).map_err(|e| format!("cannot read {host}: {e}")))
}

/// Where kubelets keep their serving certificate (k/k pkg/kubelet/kubelet.go, the `pki`
/// directory under the kubelet's root directory): the one the CSR API issued, else the
/// self-signed one the kubelet makes.
const KUBELET_SERVING: &[&str] = &[
    "/var/lib/kubelet/pki/kubelet-server-current.pem",
    "/var/lib/kubelet/pki/kubelet.crt",
];

/// This node's kubelet serves a certificate signed by the CA `ca_flag` names.
fn kubelet_serving(root: &Root, model: &Model, ca_flag: &str) -> Verdict {
    let (ca_path, cas) = match ca_of(root, model, ca_flag) {
        Ok(c) => c,
        Err(e) => return Verdict::Unknown(e),
    };
    let Some((path, bytes)) = KUBELET_SERVING
        .iter()
        .find_map(|p| read(root, p).ok().map(|b| (*p, b)))
    else {
        return Verdict::Unknown(
            "no kubelet serving certificate under /var/lib/kubelet/pki".into(),
        );
    };
    let chain = match certs::pem_certs(&bytes) {
        Ok(c) => c,
        Err(e) => return Verdict::Unknown(format!("{path}: {e}")),
    };
    match certs::verify(&chain, &cas, Usage::Server) {
        Ok(()) => Verdict::Holds(format!(
            "this node's kubelet serves {path}, signed by {ca_path} (the other nodes' kubelets are not read)"
        )),
        Err(why) => Verdict::Fails(format!(
            "the kubelet serves {path}, which is {why} ({ca_path}): turn serverTLSBootstrap on in the kubelet configuration, approve the kubelet-serving certificate requests (kubectl get csr; kubectl certificate approve NAME), then run kubeharden again"
        )),
    }
}

/// A kubelet-serving certificate the CA signed was issued to this node before
/// (`kubelet-server-current.pem`): kubelet-serving requests get approved. Without one nothing
/// is known (no approver is visible from the node), so the change stays risky.
fn approved_before(root: &Root, model: &Model, ca_flag: &str) -> Verdict {
    let (ca_path, cas) = match ca_of(root, model, ca_flag) {
        Ok(c) => c,
        Err(e) => return Verdict::Unknown(e),
    };
    let path = KUBELET_SERVING[0];
    let Ok(bytes) = read(root, path) else {
        return Verdict::Unknown(format!(
            "no {path}: no kubelet-serving request was approved for this node yet"
        ));
    };
    match certs::pem_certs(&bytes).and_then(|c| certs::verify(&c, &cas, Usage::Server)) {
        Ok(()) => Verdict::Holds(format!(
            "{path}, signed by {ca_path}, was issued to this node: its kubelet-serving requests get approved"
        )),
        Err(why) => Verdict::Unknown(format!("{path} is {why}")),
    }
}

/// kubeadm's administrator kubeconfigs (cmd/kubeadm/app/constants: AdminKubeConfigFileName,
/// and SuperAdminKubeConfigFileName from 1.29).
const ADMIN_CONFIGS: &[&str] = &[
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/super-admin.conf",
];

/// An administrator's kubeconfig on this node holds a client certificate signed by the CA
/// `ca_flag` names, in one of `groups` (when any are given).
fn admin(root: &Root, model: &Model, ca_flag: &str, groups: &[String]) -> Verdict {
    let (ca_path, cas) = match ca_of(root, model, ca_flag) {
        Ok(c) => c,
        Err(e) => return Verdict::Unknown(e),
    };
    let mut tried = Vec::new();
    for conf in ADMIN_CONFIGS {
        let Ok(bytes) = read(root, conf) else {
            continue;
        };
        let chain = match client_cert_of(&bytes) {
            Ok(c) => c,
            Err(e) => {
                tried.push(format!("{conf}: {e}"));
                continue;
            }
        };
        if let Err(why) = certs::verify(&chain, &cas, Usage::Client) {
            tried.push(format!("{conf}: its client certificate is {why}"));
            continue;
        }
        let orgs = certs::subject_organizations(&chain[0]);
        if !groups.is_empty() && !orgs.iter().any(|o| groups.contains(o)) {
            tried.push(format!(
                "{conf}: its client certificate is in {} (not {})",
                if orgs.is_empty() {
                    "no group".to_string()
                } else {
                    orgs.join(", ")
                },
                groups.join(" or ")
            ));
            continue;
        }
        return Verdict::Holds(format!(
            "{conf} holds a client certificate signed by {ca_path}{}",
            orgs.first()
                .map(|o| format!(", in {o}"))
                .unwrap_or_default()
        ));
    }
    if tried.is_empty() {
        return Verdict::Unknown("no administrator kubeconfig under /etc/kubernetes".into());
    }
    Verdict::Fails(format!(
        "no administrator credential would remain: {}; give the admin a client certificate signed by {ca_path} first (kubeadm kubeconfig user --client-name=NAME --org=system:masters, or kubeadm init phase kubeconfig admin), then run kubeharden again",
        tried.join("; ")
    ))
}

/// The client certificate of a kubeconfig's first user (inline data, base64).
fn client_cert_of(
    kubeconfig: &[u8],
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    let v: serde_json::Value =
        yaml_serde::from_slice(kubeconfig).map_err(|e| format!("not a kubeconfig ({e})"))?;
    let data = v["users"][0]["user"]["client-certificate-data"]
        .as_str()
        .ok_or("no client-certificate-data for its first user")?;
    let pem = base64_decode(data).ok_or("client-certificate-data is not base64")?;
    certs::pem_certs(&pem)
}

/// Standard base64 (RFC 4648), whitespace ignored.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
