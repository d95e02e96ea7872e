//! Defects found on real files written by others, one regression test each (files of the same
//! shape, written here).

use crate::cli::kubeharden;
use std::fs;
use std::path::Path;

fn kubeadm_apiserver() -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/node/etc/kubernetes/manifests/kube-apiserver.yaml"),
    )
    .expect("example")
}

/// strict writes `--service-account-lookup=true` out (CIS 1.2.21, Checkov CKV_K8S_96 want the
/// flag itself); baseline accepts the default.
#[test]
fn strict_writes_service_account_lookup_explicitly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kube-apiserver.yaml");
    let text = kubeadm_apiserver();
    assert!(!text.contains("service-account-lookup"));
    fs::write(&path, &text).expect("write");
    let diff = |profile: &str| {
        let out = kubeharden()
            .args(["diff", "--profile", profile])
            .arg(&path)
            .output()
            .expect("runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(diff("strict").contains("+    - --service-account-lookup=true"));
    assert!(!diff("baseline").contains("service-account-lookup"));
    // Explicitly false: both profiles set it true.
    fs::write(
        &path,
        text.replacen(
            "    - kube-apiserver\n",
            "    - kube-apiserver\n    - --service-account-lookup=false\n",
            1,
        ),
    )
    .expect("write");
    for p in ["baseline", "strict"] {
        let d = diff(p);
        assert!(
            d.contains("-    - --service-account-lookup=false")
                && d.contains("+    - --service-account-lookup=true"),
            "{p}: {d}"
        );
    }
}
