//! Every planned change is safe or risky: risky when it can stop a component or lock someone
//! out unless a precondition holds that the file does not show. The label is in the text
//! report, JSON, SARIF and on diff's standard error; `fix --yes` makes safe changes only
//! (tests/it/node.rs).

use crate::cli::kubeharden;
use std::fs;
use std::path::{Path, PathBuf};

fn example(component: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "examples/node/etc/kubernetes/manifests/{component}.yaml"
    ))
}

fn json_findings(path: &Path, profile: &str) -> Vec<serde_json::Value> {
    let out = kubeharden()
        .args(["check", "--profile", profile, "--format", "json"])
        .arg(path)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["files"][0]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn applicability<'a>(all: &'a [serde_json::Value], rule: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|f| f["rule_id"] == rule)
        .unwrap_or_else(|| panic!("no {rule}"))
}

#[test]
fn risky_and_safe_changes_are_labelled_in_every_output() {
    let api = example("kube-apiserver");
    let all = json_findings(&api, "strict");
    let ca = applicability(&all, "apiserver-kubelet-certificate-authority");
    assert_eq!(ca["applicability"], "risky");
    assert!(ca["risky_because"]
        .as_str()
        .is_some_and(|s| s.contains("self-signed")));
    assert!(ca["precondition"]
        .as_str()
        .is_some_and(|s| s.contains("serverTLSBootstrap")));
    let profiling = applicability(&all, "apiserver-profiling");
    assert_eq!(profiling["applicability"], "safe");
    assert!(profiling.get("precondition").is_none());
    // SARIF: a property of each result.
    let sarif = kubeharden()
        .args(["check", "--profile", "strict", "--format", "sarif"])
        .arg(&api)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("sarif");
    let results = v["runs"][0]["results"].as_array().expect("results");
    let by = |rule: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == rule)
            .map(|r| r["properties"].clone())
            .expect("result")
    };
    assert_eq!(
        by("apiserver-kubelet-certificate-authority")["applicability"],
        "risky"
    );
    assert!(by("apiserver-kubelet-certificate-authority")["precondition"].is_string());
    assert_eq!(by("apiserver-profiling")["applicability"], "safe");
    // Text: the label and, for a risky one, what must hold first.
    let text = kubeharden()
        .args(["check", "--profile", "strict"])
        .arg(&api)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Verify kubelet serving certificates (fixable, risky)"),
        "{text}"
    );
    assert!(text.contains("(fixable, safe)"), "{text}");
    assert!(
        text.contains("make sure first: every kubelet serves a certificate"),
        "{text}"
    );
    // diff and fix --output include risky changes and say so.
    for args in [
        &["diff", "--profile", "strict"][..],
        &["fix", "--profile", "strict", "--output", "-"][..],
    ] {
        let out = kubeharden().args(args).arg(&api).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("risky change: apiserver-kubelet-certificate-authority: ")
                && err.contains("make sure first: "),
            "{args:?}: {err}"
        );
        assert!(!err.contains("risky change: apiserver-profiling"), "{err}");
    }
}

/// Removing a static token file or AlwaysAllow is safe when the file shows another way in for
/// the admin that the node cannot read (OIDC, an authentication configuration); with client
/// certificates only, the admin's certificate is read on the node (below), and from the file
/// alone it is risky.
#[test]
fn lockout_changes_are_safe_only_with_another_admin_credential() {
    let text = fs::read_to_string(example("kube-apiserver")).expect("example");
    assert!(
        text.contains("    - --client-ca-file="),
        "the example has a client CA"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let with = |extra: &str| {
        let t = text.replacen(
            "    - kube-apiserver\n",
            &format!("    - kube-apiserver\n{extra}"),
            1,
        );
        let p = dir.path().join("kube-apiserver.yaml");
        fs::write(&p, t).expect("write");
        json_findings(&p, "baseline")
    };
    let token = "    - --token-auth-file=/etc/kubernetes/tokens.csv\n";
    let all = with(token);
    assert_eq!(
        applicability(&all, "apiserver-token-auth-file")["applicability"],
        "risky"
    );
    let oidc = format!(
        "{token}    - --oidc-issuer-url=https://issuer.example.com\n    - --oidc-client-id=k8s\n"
    );
    let all = with(&oidc);
    assert_eq!(
        applicability(&all, "apiserver-token-auth-file")["applicability"],
        "safe"
    );
    let always = "    - --authorization-mode=Node,RBAC,AlwaysAllow\n";
    let all = with(always);
    assert_eq!(
        applicability(&all, "apiserver-authorization-no-always-allow")["applicability"],
        "risky"
    );
}

/// A copy of examples/node (kubeadm 1.33's files), with the kernel settings the kubelet checks
/// under its /proc/sys, `kernel.panic` at `panic` (the kubelet wants 10).
fn node_tree(panic: Option<&str>) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    crate::support::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node"),
        root.path(),
    );
    if let Some(panic) = panic {
        for (name, value) in [
            ("vm/overcommit_memory", "1"),
            ("vm/panic_on_oom", "0"),
            ("kernel/panic", panic),
            ("kernel/panic_on_oops", "1"),
            ("kernel/keys/root_maxkeys", "1000000"),
            ("kernel/keys/root_maxbytes", "25000000"),
        ] {
            let p = root.path().join("proc/sys").join(name);
            fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
            fs::write(&p, format!("{value}\n")).expect("write");
        }
    }
    root
}

fn kernel_finding(root: &Path) -> serde_json::Value {
    let out = kubeharden()
        .args(["check", "--profile", "strict", "--format", "json", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["files"]
        .as_array()
        .expect("files")
        .iter()
        .flat_map(|f| f["findings"].as_array().cloned().unwrap_or_default())
        .find(|f| f["rule_id"] == "kubelet-protect-kernel-defaults")
        .expect("the kernel rule")
}

/// protectKernelDefaults is made only when the node's kernel settings are what the kubelet
/// wants: read under /proc/sys (of the tree under --root), the change is then safe; when one
/// differs it is refused with the setting and what to do first; when they cannot be read it
/// stays risky.
#[test]
fn kernel_settings_are_read_on_the_node_before_protect_kernel_defaults() {
    let kubelet = |root: &Path| {
        fs::read_to_string(root.join("var/lib/kubelet/config.yaml")).expect("kubelet config")
    };
    // They hold: safe, and fix --yes makes it without --risky.
    let good = node_tree(Some("10"));
    let f = kernel_finding(good.path());
    assert_eq!(f["applicability"], "safe", "{f}");
    assert_eq!(f["on_node"]["holds"], true, "{f}");
    assert_eq!(f["fixable"], true);
    let out = crate::node::fix(good.path(), &["--profile", "strict", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kubelet(good.path()).contains("protectKernelDefaults: true"));
    // One differs: not fixable, with the setting; fix --yes --risky leaves it and says why.
    let bad = node_tree(Some("0"));
    let f = kernel_finding(bad.path());
    assert_eq!(f["fixable"], false, "{f}");
    assert_eq!(f["on_node"]["holds"], false, "{f}");
    let detail = f["on_node"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("kernel.panic is 0, the kubelet wants 10"),
        "{detail}"
    );
    assert!(detail.contains("/etc/sysctl.d/"), "{detail}");
    let out = crate::node::fix(bad.path(), &["--profile", "strict", "--yes", "--risky"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "kubelet-protect-kernel-defaults: not offered: on this node kernel.panic is 0"
        ),
        "{err}"
    );
    assert!(!kubelet(bad.path()).contains("protectKernelDefaults"));
    // Not readable: risky, as the file alone says.
    let unknown = node_tree(None);
    let f = kernel_finding(unknown.path());
    assert_eq!(f["applicability"], "risky", "{f}");
    assert!(f.get("on_node").is_none(), "{f}");
    let out = crate::node::fix(unknown.path(), &["--profile", "strict", "--yes"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("kubelet-protect-kernel-defaults: not made, risky"));
}

/// A certificate authority, and certificates it signs (or that sign themselves).
struct Pki {
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca_pem = params.self_signed(&key).expect("ca").pem();
        Pki {
            ca: rcgen::Issuer::new(params, key),
            ca_pem,
        }
    }

    /// A certificate for `usage`, in `org`, signed by this CA (or by itself).
    fn leaf(&self, usage: rcgen::ExtendedKeyUsagePurpose, org: &str, self_signed: bool) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["node-1".to_string()]).expect("params");
        params.extended_key_usages = vec![usage];
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "node-1");
        if self_signed {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.self_signed(&key).expect("cert").pem()
        } else {
            params.signed_by(&key, &self.ca).expect("cert").pem()
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ABC[(n >> (18 - 6 * i)) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

fn write(root: &Path, host: &str, text: &str) {
    let p = root.join(host.trim_start_matches('/'));
    fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
    fs::write(p, text).expect("write");
}

fn finding_of(root: &Path, profile: &str, rule: &str) -> serde_json::Value {
    let out = kubeharden()
        .args(["check", "--profile", profile, "--format", "json", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["files"]
        .as_array()
        .expect("files")
        .iter()
        .flat_map(|f| f["findings"].as_array().cloned().unwrap_or_default())
        .find(|f| f["rule_id"] == rule)
        .unwrap_or_else(|| panic!("no {rule}"))
}

/// --kubelet-certificate-authority is made only when this node's kubelet serves a certificate
/// signed by the CA it would name: one the CA signed (safe, made by fix --yes), a self-signed
/// one (refused, with what to do first), none to read (risky).
#[test]
fn the_kubelet_serving_certificate_is_read_before_kubelet_certificate_authority() {
    let rule = "apiserver-kubelet-certificate-authority";
    let pki = Pki::new("kubernetes");
    let manifest = |root: &Path| {
        fs::read_to_string(root.join("etc/kubernetes/manifests/kube-apiserver.yaml"))
            .expect("manifest")
    };
    // Signed by the cluster CA (an approved kubelet-serving request).
    let signed = node_tree(None);
    write(signed.path(), "/etc/kubernetes/pki/ca.crt", &pki.ca_pem);
    write(
        signed.path(),
        "/var/lib/kubelet/pki/kubelet-server-current.pem",
        &pki.leaf(
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            "system:nodes",
            false,
        ),
    );
    let f = finding_of(signed.path(), "strict", rule);
    assert_eq!(f["applicability"], "safe", "{f}");
    assert_eq!(f["on_node"]["holds"], true, "{f}");
    // The same certificate shows kubelet-serving requests get approved here: serverTLSBootstrap
    // is safe too. Without one nothing is known, and it stays risky (below).
    let tls = finding_of(signed.path(), "strict", "kubelet-serving-certificate");
    assert_eq!(tls["applicability"], "safe", "{tls}");
    assert!(
        tls["on_node"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("get approved")),
        "{tls}"
    );
    let out = crate::node::fix(signed.path(), &["--profile", "strict", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(manifest(signed.path())
        .contains("--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt"));
    // Self-signed, as kubeadm's kubelets are by default.
    let own = node_tree(None);
    write(own.path(), "/etc/kubernetes/pki/ca.crt", &pki.ca_pem);
    write(
        own.path(),
        "/var/lib/kubelet/pki/kubelet.crt",
        &pki.leaf(rcgen::ExtendedKeyUsagePurpose::ServerAuth, "node-1", true),
    );
    let f = finding_of(own.path(), "strict", rule);
    assert_eq!(f["fixable"], false, "{f}");
    let detail = f["on_node"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("/var/lib/kubelet/pki/kubelet.crt")
            && detail.contains("serverTLSBootstrap"),
        "{detail}"
    );
    let out = crate::node::fix(own.path(), &["--profile", "strict", "--yes", "--risky"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{rule}: not offered: on this node the kubelet serves"
        )),
        "{err}"
    );
    assert!(!manifest(own.path()).contains("--kubelet-certificate-authority"));
    // Signed by another CA.
    let other = Pki::new("elsewhere");
    write(
        own.path(),
        "/var/lib/kubelet/pki/kubelet-server-current.pem",
        &other.leaf(
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            "system:nodes",
            false,
        ),
    );
    let f = finding_of(own.path(), "strict", rule);
    assert!(
        f["on_node"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not signed by that CA")),
        "{f}"
    );
    // Nothing to read.
    let none = node_tree(None);
    let f = finding_of(none.path(), "strict", rule);
    assert_eq!(f["applicability"], "risky", "{f}");
    write(none.path(), "/etc/kubernetes/pki/ca.crt", &pki.ca_pem);
    let tls = finding_of(none.path(), "strict", "kubelet-serving-certificate");
    assert_eq!(tls["applicability"], "risky", "{tls}");
    assert_eq!(tls["fixable"], true, "{tls}");
}

/// Removing a static token file, or AlwaysAllow, is made only when an administrator kubeconfig
/// on the node holds a client certificate the API server's client CA signed (in system:masters
/// or kubeadm:cluster-admins for AlwaysAllow); refused when none would remain.
#[test]
fn an_admin_credential_is_read_before_removing_a_way_in() {
    let pki = Pki::new("kubernetes");
    let tree = |admin_org: &str, signer: &Pki| {
        let root = node_tree(None);
        let m = root
            .path()
            .join("etc/kubernetes/manifests/kube-apiserver.yaml");
        let text = fs::read_to_string(&m)
            .expect("manifest")
            .replacen(
                "    - kube-apiserver\n",
                "    - kube-apiserver\n    - --token-auth-file=/etc/kubernetes/tokens.csv\n",
                1,
            )
            .replace(
                "--authorization-mode=Node,RBAC",
                "--authorization-mode=Node,RBAC,AlwaysAllow",
            );
        fs::write(&m, text).expect("write");
        write(root.path(), "/etc/kubernetes/pki/ca.crt", &pki.ca_pem);
        let cert = signer.leaf(rcgen::ExtendedKeyUsagePurpose::ClientAuth, admin_org, false);
        write(
            root.path(),
            "/etc/kubernetes/admin.conf",
            &format!(
                "apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: {}\n",
                base64(cert.as_bytes())
            ),
        );
        root
    };
    let good = tree("kubeadm:cluster-admins", &pki);
    for rule in [
        "apiserver-token-auth-file",
        "apiserver-authorization-no-always-allow",
    ] {
        let f = finding_of(good.path(), "baseline", rule);
        assert_eq!(f["applicability"], "safe", "{rule}: {f}");
        assert!(
            f["on_node"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("/etc/kubernetes/admin.conf")),
            "{f}"
        );
    }
    let out = crate::node::fix(good.path(), &["--profile", "baseline", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = fs::read_to_string(
        good.path()
            .join("etc/kubernetes/manifests/kube-apiserver.yaml"),
    )
    .expect("manifest");
    assert!(
        !m.contains("--token-auth-file") && !m.contains("AlwaysAllow"),
        "{m}"
    );
    // A certificate outside the admin groups authenticates but is not let through by RBAC alone.
    let weak = tree("developers", &pki);
    assert_eq!(
        finding_of(weak.path(), "baseline", "apiserver-token-auth-file")["applicability"],
        "safe"
    );
    let f = finding_of(
        weak.path(),
        "baseline",
        "apiserver-authorization-no-always-allow",
    );
    assert_eq!(f["fixable"], false, "{f}");
    assert!(
        f["on_node"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("developers")),
        "{f}"
    );
    // Signed by another CA: no credential would remain.
    let stranger = Pki::new("elsewhere");
    let bad = tree("system:masters", &stranger);
    let f = finding_of(bad.path(), "baseline", "apiserver-token-auth-file");
    assert_eq!(f["fixable"], false, "{f}");
    assert!(
        f["on_node"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no administrator credential would remain")),
        "{f}"
    );
    let out = crate::node::fix(bad.path(), &["--profile", "baseline", "--yes", "--risky"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apiserver-token-auth-file: not offered: on this node no administrator credential would remain"), "{err}");
}

/// `rollback` never takes away the administrator credential that works now: after a fix, the
/// cluster CA was rotated (the manifest names a new CA, which signs admin.conf); restoring the
/// manifest from before would name the old CA, so the rollback is refused and nothing written.
/// Without the rotation the same rollback goes through.
#[test]
fn rollback_refuses_to_lock_the_administrator_out() {
    let admin_conf = |pki: &Pki| {
        let cert = pki.leaf(
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            "kubeadm:cluster-admins",
            false,
        );
        format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: {}\n",
            base64(cert.as_bytes())
        )
    };
    let rollback = |root: &Path| {
        kubeharden()
            .arg("rollback")
            .arg("--root")
            .arg(root)
            .output()
            .expect("runs")
    };
    for rotate in [true, false] {
        let old = Pki::new("kubernetes");
        let root = node_tree(None);
        write(root.path(), "/etc/kubernetes/pki/ca.crt", &old.ca_pem);
        write(root.path(), "/etc/kubernetes/admin.conf", &admin_conf(&old));
        let out = crate::node::fix(root.path(), &["--profile", "baseline", "--yes"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest = root
            .path()
            .join("etc/kubernetes/manifests/kube-apiserver.yaml");
        if rotate {
            let new = Pki::new("kubernetes-2");
            write(root.path(), "/etc/kubernetes/pki/ca-2.crt", &new.ca_pem);
            write(root.path(), "/etc/kubernetes/admin.conf", &admin_conf(&new));
            let text = fs::read_to_string(&manifest).expect("manifest").replace(
                "--client-ca-file=/etc/kubernetes/pki/ca.crt",
                "--client-ca-file=/etc/kubernetes/pki/ca-2.crt",
            );
            fs::write(&manifest, text).expect("write");
        }
        let before = fs::read(&manifest).expect("manifest");
        let out = rollback(root.path());
        let err = String::from_utf8_lossy(&out.stderr);
        if rotate {
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(
                err.contains("would lock the administrator out")
                    && err.contains("nothing was written"),
                "{err}"
            );
            assert_eq!(fs::read(&manifest).expect("manifest"), before);
        } else {
            assert_eq!(out.status.code(), Some(0), "{err}");
            assert_ne!(fs::read(&manifest).expect("manifest"), before);
        }
    }
}
