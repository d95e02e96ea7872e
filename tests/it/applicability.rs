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
