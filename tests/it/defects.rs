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

/// A URL given twice inside `--etcd-servers` is no duplicate flag (the API server takes the list
/// as it is), and no fix touches it; an authorization mode given twice is (the API server
/// refuses it), and the fix keeps each mode once.
#[test]
fn repeated_list_items_are_a_duplicate_only_where_the_component_refuses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kube-apiserver.yaml");
    let text = kubeadm_apiserver();
    let etcd = text
        .lines()
        .find(|l| l.contains("--etcd-servers="))
        .expect("etcd servers")
        .to_string();
    let twice = format!("{etcd},{}", etcd.split('=').nth(1).expect("value"));
    fs::write(&path, text.replace(&etcd, &twice)).expect("write");
    let out = kubeharden()
        .args(["check", "--profile", "strict", "--format", "json"])
        .arg(&path)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rules: Vec<&str> = v["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert!(!rules.contains(&"apiserver-duplicate-flags"), "{rules:?}");
    let diff = kubeharden()
        .args(["diff", "--profile", "strict"])
        .arg(&path)
        .output()
        .expect("runs");
    let d = String::from_utf8_lossy(&diff.stdout);
    assert!(
        !d.lines()
            .any(|l| (l.starts_with('+') || l.starts_with('-')) && l.contains("--etcd-servers")),
        "{d}"
    );
    // A mode twice: reported, and kept once.
    fs::write(
        &path,
        text.replace(
            "--authorization-mode=Node,RBAC",
            "--authorization-mode=Node,RBAC,Node",
        ),
    )
    .expect("write");
    let diff = kubeharden()
        .args(["diff", "--profile", "baseline"])
        .arg(&path)
        .output()
        .expect("runs");
    let d = String::from_utf8_lossy(&diff.stdout);
    assert!(d.contains("+    - --authorization-mode=Node,RBAC\n"), "{d}");
}

/// A templated manifest (Helm, Go templates, Jinja) is refused with its first tag's position,
/// not read as YAML and "fixed" for the newest version; in a directory it is skipped.
#[test]
fn templated_files_are_refused_not_patched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = kubeadm_apiserver();
    let helm = text.replacen(
        "    - kube-apiserver\n",
        "    - kube-apiserver\n{{- if .Values.audit }}\n    - --audit-log-path={{ .Values.audit.path }}\n{{- end }}\n",
        1,
    );
    let jinja = text.replacen(
        "    - kube-apiserver\n",
        "    - kube-apiserver\n    {% for f in flags %}- {{ f }}\n    {% endfor %}\n",
        1,
    );
    for (name, t) in [("helm.yaml", &helm), ("jinja.yaml", &jinja)] {
        let path = dir.path().join(name);
        fs::write(&path, t).expect("write");
        for cmd in [&["check"][..], &["diff", "--profile", "strict"][..]] {
            let out = kubeharden().args(cmd).arg(&path).output().expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {cmd:?}: {err}");
            assert!(
                err.contains(&format!("{name}:")) && err.contains("templated file"),
                "{err}"
            );
            assert!(out.stdout.is_empty() || cmd[0] == "check", "{cmd:?}");
        }
        let out = kubeharden()
            .args(["fix", "-o", "-"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
    }
    // Inside a directory: skipped, the rest checked.
    fs::write(dir.path().join("plain.yaml"), &text).expect("write");
    let out = kubeharden()
        .arg("check")
        .arg(dir.path())
        .output()
        .expect("runs");
    let text_out = String::from_utf8_lossy(&out.stdout);
    assert!(
        text_out.contains("helm.yaml: skipped: a templated file"),
        "{text_out}"
    );
    assert!(text_out.contains("1 file(s) checked"), "{text_out}");
}

/// The hint after `check` fits where it ran: for files, a patch to apply or a copy to write; for
/// a node (no PATH, or --root), `sudo kubeharden fix`; with the profile used.
#[test]
fn the_fix_hint_fits_the_context() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml");
    let out = kubeharden()
        .args(["check", "--profile", "strict"])
        .arg(&example)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let shown = example.display().to_string();
    assert!(
        text.ends_with(&format!(
            "to fix: kubeharden diff --profile strict {shown} | git apply, or kubeharden fix --profile strict {shown} --output NEW-FILE\n"
        )),
        "{text}"
    );
    let root = tempfile::tempdir().expect("tempdir");
    crate::support::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node"),
        root.path(),
    );
    let out = kubeharden()
        .args(["check", "--root"])
        .arg(root.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with(&format!(
            "to fix: sudo kubeharden fix --root {} (asks about each change, backs up first)\n",
            root.path().display()
        )),
        "{text}"
    );
    assert!(!text.contains("git apply"));
}

/// `--kubeadm-config` whose kubernetesVersion is older than the node's manifests: said, and
/// judged for the older, so nothing only the newer accepts (an AuthenticationConfiguration,
/// 1.32) lands in a 1.31 file.
#[test]
fn a_kubeadm_config_older_than_the_node_gets_only_what_it_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("kube-apiserver.yaml");
    fs::write(&manifest, kubeadm_apiserver()).expect("write");
    let kc = dir.path().join("cluster.yaml");
    fs::write(
        &kc,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.4\n",
    )
    .expect("write");
    let out = kubeharden()
        .args(["diff", "--profile", "strict"])
        .arg(&manifest)
        .arg("--kubeadm-config")
        .arg(&kc)
        .output()
        .expect("runs");
    let (diff, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        err.contains("its kubernetesVersion (1.31.4) and the manifests' version (1.33.0) differ"),
        "{err}"
    );
    let kc_part = diff
        .split("--- a/")
        .find(|p| p.contains("cluster.yaml"))
        .expect("the kubeadm file's part");
    assert!(kc_part.contains("+    - name: profiling"), "{kc_part}");
    assert!(!kc_part.contains("authentication-config"), "{kc_part}");
    // The manifest (1.33) gets it.
    assert!(diff.contains("+    - --authentication-config="), "{diff}");
}

/// With the legacy `--admission-control`, a finding about admission plugins names that flag,
/// not an absent `--enable-admission-plugins`.
#[test]
fn a_finding_names_the_admission_flag_actually_present() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kube-apiserver.yaml");
    let text = kubeadm_apiserver().replace(
        "    - --enable-admission-plugins=NodeRestriction",
        "    - --admission-control=NamespaceLifecycle,ServiceAccount",
    );
    assert!(text.contains("--admission-control="));
    fs::write(&path, text).expect("write");
    let out = kubeharden()
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = v["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule_id"] == "apiserver-admission-node-restriction")
        .expect("finding")
        .clone();
    assert_eq!(
        f["current"], "--admission-control=NamespaceLifecycle,ServiceAccount",
        "{f}"
    );
}

/// A plugin the version no longer has in the legacy `--admission-control` (Initializers, gone
/// since 1.14: the API server would not start) is reported and removed by strict, the rest of
/// the list kept in order.
#[test]
fn a_removed_plugin_in_the_legacy_admission_control_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kube-apiserver.yaml");
    fs::write(
        &path,
        kubeadm_apiserver().replace(
            "    - --enable-admission-plugins=NodeRestriction",
            "    - --admission-control=NamespaceLifecycle,Initializers,NodeRestriction",
        ),
    )
    .expect("write");
    let out = kubeharden()
        .args(["diff", "--profile", "strict"])
        .arg(&path)
        .output()
        .expect("runs");
    let d = String::from_utf8_lossy(&out.stdout);
    assert!(
        d.contains("-    - --admission-control=NamespaceLifecycle,Initializers,NodeRestriction\n")
            && d.contains("+    - --admission-control=NamespaceLifecycle,NodeRestriction\n"),
        "{d}"
    );
}

/// `fix --output` on a kubeadm file whose profile needs kubeadm's probe patch writes the patch
/// beside its output, as `diff` proposes it: `diff` on the result then proposes nothing.
#[test]
fn fix_output_writes_the_probe_patch_so_diff_has_nothing_left() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubeadm-config/v1beta3-init-cluster.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("cluster.yaml");
    let fix = kubeharden()
        .args(["fix", "--profile", "strict", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("runs");
    assert_eq!(
        fix.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fix.stderr)
    );
    let patch = dir.path().join("kube-apiserver+strategic.yaml");
    assert!(fs::read_to_string(&patch)
        .expect("the probe patch")
        .contains("tcpSocket"));
    let diff = kubeharden()
        .args(["diff", "--profile", "strict"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(
        diff.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    assert_eq!(diff.status.code(), Some(0));
    // An existing patch there is kept.
    fs::write(&patch, "mine\n").expect("write");
    let again = kubeharden()
        .args(["fix", "--profile", "strict", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(fs::read_to_string(&patch).expect("kept"), "mine\n");
}

/// A ConfigMap holding kubeadm's ClusterConfiguration (`kubectl get cm kubeadm-config -o
/// yaml`) is refused with the command that takes the configuration out, and the one that puts
/// it back; in a directory, or with --skip-unrecognized, it is skipped with the same words.
#[test]
fn a_configmap_wrapped_kubeadm_configuration_says_how_to_extract_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeadm-config.yaml");
    fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kubeadm-config\n  namespace: kube-system\ndata:\n  ClusterConfiguration: |\n    apiVersion: kubeadm.k8s.io/v1beta4\n    kind: ClusterConfiguration\n    kubernetesVersion: v1.33.1\n",
    )
    .expect("write");
    let out = kubeharden().arg("check").arg(&path).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("kubeadm-config.yaml:7:3: a ConfigMap holding kubeadm's ClusterConfiguration")
            && err.contains("kubectl -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' > cluster.yaml"),
        "{err}"
    );
    let skip = kubeharden()
        .args(["check", "--skip-unrecognized"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(skip.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&skip.stdout).contains("skipped: a ConfigMap holding kubeadm's")
    );
}

/// Point 1: `check --profile baseline` passes on what `fix --output --profile baseline` wrote
/// for stock kubeadm manifests: what baseline leaves (anonymous access) is manual, reported
/// with its reason, and fails the check only when `--fail-on` names `manual`. A file kubeharden
/// cannot change at all still fails it (blocked, not manual).
#[test]
fn baseline_passes_after_its_own_fix_and_manual_findings_fail_only_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node/etc/kubernetes/manifests");
    for name in [
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
        "etcd.yaml",
    ] {
        let out = kubeharden()
            .args(["fix", "--profile", "baseline", "--output"])
            .arg(dir.path().join(name))
            .arg(manifests.join(name))
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let check = |extra: &[&str]| {
        kubeharden()
            .args(["check", "--profile", "baseline"])
            .args(extra)
            .arg(dir.path())
            .output()
            .expect("runs")
    };
    let out = check(&[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("apiserver-anonymous-auth"), "{text}");
    assert!(text.contains("(manual: left to you)"), "{text}");
    assert!(
        text.contains("why: baseline does not change this"),
        "{text}"
    );
    assert!(text.contains("(0 fixable, 1 manual)"), "{text}");
    assert_eq!(check(&["--fail-on", "manual"]).status.code(), Some(1));
    assert_eq!(
        check(&["--fail-on", "medium,manual"]).status.code(),
        Some(1)
    );
    assert_eq!(check(&["--fail-on", "high,manual"]).status.code(), Some(0));
    let json = check(&["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["summary"]["manual"], 1, "{v}");
    let statuses: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .flat_map(|f| f["findings"].as_array().expect("findings"))
        .map(|f| f["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["manual"], "{v}");

    // Blocked: the volume list carries an anchor, so nothing can be changed; the check fails.
    let blocked =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/styles/anchor-on-volumes.yaml");
    let out = kubeharden()
        .args(["check", "--profile", "strict", "--format", "json"])
        .arg(&blocked)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let statuses: Vec<&str> = v["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["status"].as_str().expect("status"))
        .collect();
    assert!(statuses.contains(&"blocked"), "{statuses:?}");
}

/// Point 14: a refusal says which construct blocks the change and what to do; files that can be
/// edited safely are edited (a probe that fetches a URL by a command leaves anonymous access to
/// the user instead of refusing the whole file; `!!seq` on a list is no reason to refuse it).
#[test]
fn refusals_say_what_blocks_and_what_to_do_and_safe_files_are_edited() {
    let styles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/styles");
    let fix = |name: &str| {
        kubeharden()
            .args(["fix", "--profile", "strict", "--output", "-"])
            .arg(styles.join(name))
            .output()
            .expect("runs")
    };
    let out = fix("probe-exec-curl.yaml");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "not changed: apiserver-anonymous-auth: A probe runs a command that fetches a URL"
        ),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("--audit-log-path="));
    assert_eq!(fix("volumes-tagged.yaml").status.code(), Some(0));
    for (name, says) in [
        (
            "anchor-on-volumes.yaml",
            "write the list out in full without them",
        ),
        ("audit-log-relative.yaml", "write the absolute path"),
        (
            "audit-policy-dotdot.yaml",
            "write the path without `.` and `..`",
        ),
        ("env-ref.yaml", "write the path out"),
        (
            "client-ca-empty.yaml",
            "give the file's path or remove the flag",
        ),
        ("audit-mount-readonly.yaml", "make that mount writable"),
        ("audit-emptydir.yaml", "put the file in that volume"),
        ("probe-alias.yaml", "write the probe out in full"),
        ("cr-only.yaml", "convert them first"),
        ("v1.18.yaml", "upgrade the cluster first"),
    ] {
        let out = fix(name);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(err.contains(says), "{name}: {err}");
    }
}

/// A node tree for the kubelet's command line: the example node's manifests and kubelet
/// configuration, and the given files (path below the root, text).
fn kubelet_node(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node"),
        dir.path(),
    );
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }
    dir
}

fn kubelet_findings(root: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = kubeharden()
        .args(["check", "--format", "json", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let kubelet = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["component"] == "kubelet")
        .cloned()
        .unwrap_or_default();
    (out.status.code(), kubelet)
}

fn finding<'a>(file: &'a serde_json::Value, rule: &str) -> Option<&'a serde_json::Value> {
    file["findings"]
        .as_array()?
        .iter()
        .find(|f| f["rule_id"] == rule)
}

/// Point 9: flags in kubeadm-flags.env and /etc/default/kubelet win over config.yaml: the
/// kubelet is judged with them, the finding names the flag's place, `fix` takes the flags out
/// of those files (the rest of each file byte for byte as it was) in the same transaction as
/// config.yaml, and `rollback` puts them back.
#[test]
fn kubelet_flags_in_environment_files_override_its_configuration() {
    let node = kubelet_node(&[
        (
            "var/lib/kubelet/kubeadm-flags.env",
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --anonymous-auth=true\"\n",
        ),
        (
            "etc/default/kubelet",
            "# local additions\nKUBELET_EXTRA_ARGS=--read-only-port 10255 --node-ip=10.0.0.7\n",
        ),
    ]);
    let config = node.path().join("var/lib/kubelet/config.yaml");
    let before = fs::read_to_string(&config).expect("config");
    assert!(
        before.contains("anonymous:\n    enabled: false"),
        "{before}"
    );
    let (code, kubelet) = kubelet_findings(node.path(), &[]);
    assert_eq!(code, Some(1));
    let anon =
        finding(&kubelet, "kubelet-anonymous-auth").expect("anonymous access judged with the flag");
    assert_eq!(anon["status"], "fixable", "{anon}");
    assert_eq!(
        anon["overridden_by"]["path"],
        "/var/lib/kubelet/kubeadm-flags.env"
    );
    assert_eq!(anon["overridden_by"]["line"], 1);
    assert_eq!(anon["overridden_by"]["column"], 95);
    assert_eq!(anon["overridden_by"]["flag"], "--anonymous-auth=true");
    assert_eq!(anon["overridden_by"]["variable"], "KUBELET_KUBEADM_ARGS");
    assert!(
        kubelet["notes"].as_array().expect("notes").iter().any(|n| n
            .as_str()
            .unwrap_or("")
            .contains("nodeRegistration.kubeletExtraArgs")),
        "{kubelet}"
    );
    let port = finding(&kubelet, "kubelet-read-only-port").expect("read-only port from the flag");
    assert_eq!(port["overridden_by"]["path"], "/etc/default/kubelet");
    assert_eq!(port["overridden_by"]["line"], 2);
    assert_eq!(port["overridden_by"]["column"], 20);
    assert_eq!(port["overridden_by"]["flag"], "--read-only-port 10255");
    assert!(
        port["current"].as_str().unwrap_or("").contains("10255"),
        "{port}"
    );
    // Both reports keep their schemas; SARIF points at the flag as a related location.
    let json = kubeharden()
        .args(["check", "--format", "json", "--root"])
        .arg(node.path())
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let schema = crate::schema::load_schema("docs/report.schema.json");
    assert_eq!(crate::schema::errors(&schema, &json), Vec::<String>::new());
    let sarif = kubeharden()
        .args(["check", "--format", "sarif", "--root"])
        .arg(node.path())
        .output()
        .expect("runs");
    let sarif: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("sarif");
    let schema = crate::schema::load_schema("tests/data/sarif-2.1.0-subset.schema.json");
    assert_eq!(crate::schema::errors(&schema, &sarif), Vec::<String>::new());
    let related: Vec<&serde_json::Value> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r.get("relatedLocations"))
        .collect();
    assert_eq!(related.len(), 2, "{sarif}");
    assert!(related
        .iter()
        .any(|r| r[0]["physicalLocation"]["artifactLocation"]["uri"]
            == "file:///var/lib/kubelet/kubeadm-flags.env"));

    // fix: the flags go, where they are written; the rest of those files stays.
    let flags_env = node.path().join("var/lib/kubelet/kubeadm-flags.env");
    let default = node.path().join("etc/default/kubelet");
    let before_env = (
        fs::read(&flags_env).expect("env"),
        fs::read(&default).expect("default"),
    );
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(node.path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let shown = String::from_utf8_lossy(&out.stdout).to_string() + &err;
    assert!(
        shown.contains("-KUBELET_EXTRA_ARGS=--read-only-port 10255 --node-ip=10.0.0.7\n+KUBELET_EXTRA_ARGS=--node-ip=10.0.0.7\n"),
        "{shown}"
    );
    assert_eq!(
        fs::read_to_string(&flags_env).expect("env"),
        "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock\"\n"
    );
    assert_eq!(
        fs::read_to_string(&default).expect("default"),
        "# local additions\nKUBELET_EXTRA_ARGS=--node-ip=10.0.0.7\n"
    );
    let after = fs::read_to_string(&config).expect("config");
    assert!(after.contains("anonymous:\n    enabled: false"), "{after}");
    let (code, kubelet) = kubelet_findings(node.path(), &[]);
    assert_eq!(code, Some(0), "{kubelet}");
    assert!(
        finding(&kubelet, "kubelet-anonymous-auth").is_none(),
        "{kubelet}"
    );
    assert!(
        finding(&kubelet, "kubelet-read-only-port").is_none(),
        "{kubelet}"
    );
    // rollback: byte for byte.
    let out = kubeharden()
        .args(["rollback", "--root"])
        .arg(node.path())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(&flags_env).expect("env"), before_env.0);
    assert_eq!(fs::read(&default).expect("default"), before_env.1);
    assert_eq!(fs::read_to_string(&config).expect("config"), before);
}

/// Point 9: the command line as systemd builds it: a drop-in's `Environment=` and
/// `ExecStart=` (`$VAR` split at whitespace), its own `--config` path, an environment file
/// that overrides the drop-in's variable; a flag that makes a setting compliant wins too.
#[test]
fn kubelet_command_line_follows_the_systemd_drop_in() {
    let drop_in = "[Unit]\nDescription=kubelet\n\n[Service]\n\
Environment=\"KUBELET_CONFIG_ARGS=--config=/etc/kubelet/custom.yaml\"\n\
Environment=\"KUBELET_EXTRA_ARGS=--protect-kernel-defaults=false\"\n\
Environment=\"EXTRA=--read-only-port=0 --anonymous-auth\"\n\
EnvironmentFile=-/etc/sysconfig/kubelet\n\
ExecStart=\n\
ExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS $KUBELET_EXTRA_ARGS $EXTRA\n";
    let custom = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node/var/lib/kubelet/config.yaml"),
    )
    .expect("config")
    .replace("readOnlyPort: 0", "")
        + "readOnlyPort: 10255\n";
    let node = kubelet_node(&[
        (
            "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            drop_in,
        ),
        ("etc/kubelet/custom.yaml", &custom),
        (
            "etc/sysconfig/kubelet",
            "KUBELET_EXTRA_ARGS='--rotate-certificates=false'\n",
        ),
    ]);
    let (_, kubelet) = kubelet_findings(node.path(), &["--profile", "strict"]);
    assert!(
        kubelet["path"]
            .as_str()
            .unwrap_or("")
            .ends_with("etc/kubelet/custom.yaml"),
        "the drop-in's --config names the file: {kubelet}"
    );
    // The environment file's KUBELET_EXTRA_ARGS wins over the drop-in's.
    let rotate =
        finding(&kubelet, "kubelet-rotate-certificates").expect("rotation off by the flag");
    assert_eq!(rotate["overridden_by"]["path"], "/etc/sysconfig/kubelet");
    assert!(finding(&kubelet, "kubelet-protect-kernel-defaults")
        .is_none_or(|f| f.get("overridden_by").is_none()));
    // The drop-in's own flags: --read-only-port=0 makes the file's 10255 harmless, and a bare
    // --anonymous-auth means true.
    assert!(
        finding(&kubelet, "kubelet-read-only-port").is_none(),
        "{kubelet}"
    );
    let anon = finding(&kubelet, "kubelet-anonymous-auth").expect("bare flag is true");
    assert_eq!(
        anon["overridden_by"]["path"],
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
    );
    assert_eq!(anon["overridden_by"]["line"], 7);
    // Written in a unit: blocked, with what to do; fix leaves the unit alone.
    assert_eq!(anon["status"], "blocked", "{anon}");
    assert!(
        anon["manual"]
            .as_str()
            .unwrap_or("")
            .contains("systemctl daemon-reload"),
        "{anon}"
    );
    let unit = node
        .path()
        .join("etc/systemd/system/kubelet.service.d/10-kubeadm.conf");
    let out = kubeharden()
        .args(["fix", "--yes", "--profile", "strict", "--root"])
        .arg(node.path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not changed: kubelet-anonymous-auth:"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&unit).expect("unit"), drop_in);
    // The flag from the environment file was taken out; the unit's variable is left.
    assert_eq!(
        fs::read_to_string(node.path().join("etc/sysconfig/kubelet")).expect("sysconfig"),
        "KUBELET_EXTRA_ARGS=''\n"
    );
}

/// A flag whose value comes from another variable (`$FLAG $VALUE`, the value defined first):
/// the kubelet is judged with it, the finding says that the flag cannot be taken out without
/// its value, and `fix` leaves the environment file as it is (it used to stop with a panic).
#[test]
fn a_kubelet_flag_whose_value_is_in_another_variable_is_held() {
    let drop_in = "[Service]\n\
Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\n\
EnvironmentFile=-/etc/sysconfig/kubelet\n\
ExecStart=\n\
ExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS $PORT_FLAG $PORT\n";
    let env = "PORT=10255\nPORT_FLAG=--read-only-port\n";
    let node = kubelet_node(&[
        (
            "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            drop_in,
        ),
        ("etc/sysconfig/kubelet", env),
    ]);
    let (code, kubelet) = kubelet_findings(node.path(), &[]);
    assert_eq!(code, Some(1), "{kubelet}");
    let port = finding(&kubelet, "kubelet-read-only-port").expect("the flag's 10255");
    assert_eq!(
        port["overridden_by"]["path"], "/etc/sysconfig/kubelet",
        "{port}"
    );
    assert_eq!(port["overridden_by"]["line"], 2, "{port}");
    assert_eq!(port["status"], "blocked", "{port}");
    let why = port["manual"].as_str().unwrap_or("");
    assert!(why.contains("written apart from it"), "{port}");
    let out = crate::node::fix(node.path(), &["--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("not changed: kubelet-read-only-port:"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(node.path().join("etc/sysconfig/kubelet")).expect("env"),
        env
    );
}
