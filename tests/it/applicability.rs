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
/// the admin (client certificates, and RBAC for AlwaysAllow), risky when it does not.
#[test]
fn lockout_changes_are_safe_only_with_another_admin_credential() {
    let text = fs::read_to_string(example("kube-apiserver")).expect("example");
    assert!(
        text.contains("    - --client-ca-file="),
        "the example has a client CA"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let with = |extra: &str, drop_ca: bool| {
        let mut t = text.replacen(
            "    - kube-apiserver\n",
            &format!("    - kube-apiserver\n{extra}"),
            1,
        );
        if drop_ca {
            t = t
                .lines()
                .filter(|l| !l.contains("--client-ca-file="))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        let p = dir.path().join("kube-apiserver.yaml");
        fs::write(&p, t).expect("write");
        json_findings(&p, "baseline")
    };
    let token = "    - --token-auth-file=/etc/kubernetes/tokens.csv\n";
    let all = with(token, false);
    assert_eq!(
        applicability(&all, "apiserver-token-auth-file")["applicability"],
        "safe"
    );
    let all = with(token, true);
    assert_eq!(
        applicability(&all, "apiserver-token-auth-file")["applicability"],
        "risky"
    );
    let always = "    - --authorization-mode=Node,RBAC,AlwaysAllow\n";
    let all = with(always, false);
    assert_eq!(
        applicability(&all, "apiserver-authorization-no-always-allow")["applicability"],
        "safe"
    );
    let all = with(always, true);
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
