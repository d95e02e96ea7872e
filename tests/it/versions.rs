//! Kubernetes versions: a release newer than the newest kubeharden knows is judged as that newest
//! one, the same way in check, diff, fix and generate, and each run says so once
//! (docs/versions.md).

use crate::cli::kubeharden;
use crate::conformance::builtins;
use std::fs;
use std::path::Path;

fn newest() -> u32 {
    builtins().0.versions.newest
}

/// The example kube-apiserver manifest, its image at Kubernetes 1.`minor`.
fn apiserver_at(dir: &Path, name: &str, minor: u32) -> std::path::PathBuf {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"),
    )
    .expect("example");
    let text = text.replace(
        "kube-apiserver:v1.31.0",
        &format!("kube-apiserver:v1.{minor}.0"),
    );
    assert!(text.contains(&format!(":v1.{minor}.0")), "image tag moved");
    let path = dir.join(name);
    fs::write(&path, text).expect("write");
    path
}

fn run(args: &[&str], path: &Path) -> (String, String, Option<i32>) {
    let out = kubeharden().args(args).arg(path).output().expect("runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn newer_notes(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("is newer than"))
        .collect()
}

#[test]
fn a_newer_release_is_judged_as_the_newest_known_and_said_once() {
    let n = newest();
    let dir = tempfile::tempdir().expect("tempdir");
    let known = tempfile::tempdir().expect("tempdir");
    apiserver_at(dir.path(), "a.yaml", n + 3);
    apiserver_at(dir.path(), "b.yaml", n + 3);
    apiserver_at(dir.path(), "c.yaml", n + 1);
    let same = apiserver_at(known.path(), "a.yaml", n);
    // check over a directory: one note per release, not per file.
    let (_, err, code) = run(&["check", "--profile", "strict"], dir.path());
    assert_eq!(code, Some(1), "{err}");
    let notes = newer_notes(&err);
    assert_eq!(notes.len(), 2, "{err}");
    assert!(notes[0].contains(&format!("1.{} is newer than 1.{n}", n + 1)));
    assert!(notes[1].contains(&format!("1.{} is newer than 1.{n}", n + 3)));
    assert!(!err.contains("outside the versions"), "{err}");
    // The findings, the diff and the fixed file are those of the newest known release; the
    // report keeps the file's own version.
    let json = |p: &Path| {
        let (out, _, _) = run(&["check", "--profile", "strict", "--format", "json"], p);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["files"][0].clone()
    };
    let (newer, known_report) = (json(&dir.path().join("a.yaml")), json(&same));
    assert_eq!(newer["kubernetes_version"], format!("1.{}.0", n + 3));
    assert_eq!(known_report["kubernetes_version"], format!("1.{n}.0"));
    assert_eq!(newer["findings"], known_report["findings"]);
    assert!(newer["findings"].as_array().is_some_and(|f| !f.is_empty()));
    for args in [
        &["diff", "--profile", "strict"][..],
        &["fix", "--profile", "strict", "--output", "-"][..],
    ] {
        let (out_newer, err_newer, code_newer) = run(args, &dir.path().join("a.yaml"));
        let (out_known, _, code_known) = run(args, &same);
        assert_eq!(code_newer, code_known, "{args:?}: {err_newer}");
        let strip = |s: &str, d: &Path| {
            s.replace(&d.display().to_string(), "DIR")
                .replace(&format!(":v1.{}.0", n + 3), ":v1.N.0")
                .replace(&format!(":v1.{n}.0"), ":v1.N.0")
        };
        assert_eq!(
            strip(&out_newer, dir.path()),
            strip(&out_known, known.path()),
            "{args:?}"
        );
        assert_eq!(newer_notes(&err_newer).len(), 1, "{args:?}: {err_newer}");
    }
}

#[test]
fn generate_for_a_newer_release_writes_what_the_newest_known_accepts() {
    let n = newest();
    let newer = tempfile::tempdir().expect("tempdir");
    let known = tempfile::tempdir().expect("tempdir");
    let gen = |dir: &Path, minor: u32| {
        let out = kubeharden()
            .args(["generate", "kubeadm", "--output-dir"])
            .arg(dir)
            .args(["--kubernetes-version", &format!("1.{minor}")])
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = gen(newer.path(), n + 1);
    assert_eq!(newer_notes(&err).len(), 1, "{err}");
    assert!(newer_notes(&gen(known.path(), n)).is_empty());
    // The same files, but for the version the configuration names.
    let mut names: Vec<_> = fs::read_dir(known.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    for name in &names {
        let a = fs::read_to_string(newer.path().join(name)).expect("written");
        let b = fs::read_to_string(known.path().join(name)).expect("written");
        let a = without_key(&a.replace(&format!("1.{}", n + 1), "1.N"));
        let b = without_key(&b.replace(&format!("1.{n}"), "1.N"));
        assert_eq!(a, b, "{name:?}");
    }
    assert!(fs::read_to_string(newer.path().join("kubeadm-config.yaml"))
        .expect("config")
        .contains(&format!("kubernetesVersion: v1.{}.0", n + 1)));
}

/// The text without the value of its `secret:` lines (a fresh key each time).
fn without_key(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once("secret: ") {
            Some((head, _)) => format!("{head}secret: KEY"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The node example's file for `component`, with `insert` after the line `after`.
fn node_file(component: &str, after: &str, insert: &str) -> String {
    let path = match component {
        "kubelet" => "examples/node/var/lib/kubelet/config.yaml".to_string(),
        c => format!("examples/node/etc/kubernetes/manifests/{c}.yaml"),
    };
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("example");
    assert!(text.contains(after), "{component}: no `{after}`");
    text.replacen(after, &format!("{after}{insert}"), 1)
}

/// `check --profile strict` on `text` for Kubernetes `version`: the findings as JSON.
fn findings(name: &str, text: &str, version: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    fs::write(&path, text).expect("write");
    let (out, err, _) = run(
        &[
            "check",
            "--profile",
            "strict",
            "--format",
            "json",
            "--kubernetes-version",
            version,
        ],
        &path,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    v["files"][0]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn finding<'a>(all: &'a [serde_json::Value], rule: &str) -> Option<&'a serde_json::Value> {
    all.iter().find(|f| f["rule_id"] == rule)
}

/// A feature gate the target version does not have stops the component ("unrecognized feature
/// gate"): reported on every component that takes gates, with the release that removed it, and
/// not on the releases that still have it.
#[test]
fn removed_feature_gates_are_reported_on_every_component_with_their_release() {
    let cases = [
        (
            "kubelet",
            "config.yaml",
            "kind: KubeletConfiguration\n",
            "featureGates:\n  DynamicKubeletConfig: true\n",
            "kubelet-removed-feature-gates",
            "DynamicKubeletConfig",
            "1.25",
            "removed in 1.26",
        ),
        (
            "kube-apiserver",
            "kube-apiserver.yaml",
            "    - kube-apiserver\n",
            "    - --feature-gates=StructuredAuthenticationConfiguration=true\n",
            "apiserver-removed-flags",
            "StructuredAuthenticationConfiguration",
            "1.36",
            "removed in 1.37",
        ),
        (
            "kube-apiserver",
            "kube-apiserver.yaml",
            "    - kube-apiserver\n",
            "    - --feature-gates=StructuredAuthorizationConfiguration=true\n",
            "apiserver-removed-flags",
            "StructuredAuthorizationConfiguration",
            "1.35",
            "removed in 1.36",
        ),
        (
            "kube-controller-manager",
            "kube-controller-manager.yaml",
            "    - kube-controller-manager\n",
            "    - --feature-gates=CSIMigration=true\n",
            "controller-manager-removed-flags",
            "CSIMigration",
            "1.26",
            "removed in 1.27",
        ),
        (
            "kube-scheduler",
            "kube-scheduler.yaml",
            "    - kube-scheduler\n",
            "    - --feature-gates=PodSecurity=true\n",
            "scheduler-removed-feature-gates",
            "PodSecurity",
            "1.27",
            "removed in 1.28",
        ),
    ];
    for (component, name, after, insert, rule, gate, still, why) in cases {
        let text = node_file(component, after, insert);
        let all = findings(name, &text, "1.37");
        let f = finding(&all, rule).unwrap_or_else(|| panic!("{gate}: {all:?}"));
        let found = f["current"].as_str().unwrap_or_default();
        assert!(found.contains(gate) && found.contains(why), "{found}");
        assert!(
            finding(&findings(name, &text, still), rule).is_none(),
            "{gate} on {still}"
        );
        // strict takes it out.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        fs::write(&path, &text).expect("write");
        let (diff, _, _) = run(
            &[
                "diff",
                "--profile",
                "strict",
                "--kubernetes-version",
                "1.37",
            ],
            &path,
        );
        assert!(
            diff.lines().any(|l| l.starts_with('-') && l.contains(gate)),
            "{diff}"
        );
        assert!(
            !diff.lines().any(|l| l.starts_with('+') && l.contains(gate)),
            "{diff}"
        );
    }
}

/// The gate lifecycles are those of the sources (scripts/feature-gates.py); a few facts checked
/// by hand against them.
#[test]
fn feature_gate_lifecycles_hold_known_facts() {
    let gates = builtins().0.feature_gates();
    assert!(gates.len() > 400, "{}", gates.len());
    for (name, g) in gates {
        if let (Some(s), Some(r)) = (g.since, g.removed) {
            assert!(s < r, "{name}");
        }
        for stage in [g.ga, g.locked, g.deprecated].into_iter().flatten() {
            assert!(g.removed.is_none_or(|r| stage < r), "{name}");
        }
    }
    let removed = |n: &str| gates.get(n).unwrap_or_else(|| panic!("{n}")).removed;
    for (name, gone) in [
        ("DynamicKubeletConfig", Some(26)),
        ("SeccompDefault", Some(29)),
        ("PodSecurity", Some(28)),
        ("CSIMigration", Some(27)),
        ("AdvancedAuditing", Some(28)),
        ("StructuredAuthorizationConfiguration", Some(36)),
        ("StructuredAuthenticationConfiguration", Some(37)),
        ("AnonymousAuthConfigurableEndpoints", Some(37)),
        ("AuthorizeWithSelectors", Some(37)),
        ("AuthorizeNodeWithSelectors", Some(37)),
        ("RotateKubeletServerCertificate", None),
        ("KubeletFineGrainedAuthz", None),
    ] {
        assert_eq!(removed(name), gone, "{name}");
    }
    let g = &gates["KubeletFineGrainedAuthz"];
    assert_eq!((g.ga, g.locked), (Some(36), Some(36)));
}

/// Facts of 1.36 and 1.37 in the registry: flags and plugins they added or removed.
#[test]
fn releases_1_36_and_1_37_flags_and_plugins() {
    // kube-controller-manager --concurrent-service-syncs: gone in 1.37.
    let kcm = node_file(
        "kube-controller-manager",
        "    - kube-controller-manager\n",
        "    - --concurrent-service-syncs=2\n",
    );
    let rule = "controller-manager-removed-flags";
    assert!(finding(&findings("kcm.yaml", &kcm, "1.37"), rule).is_some());
    assert!(finding(&findings("kcm.yaml", &kcm, "1.36"), rule).is_none());
    // --tls-curve-preferences: from 1.36.
    let api = node_file(
        "kube-apiserver",
        "    - kube-apiserver\n",
        "    - --tls-curve-preferences=23,29\n",
    );
    let rule = "apiserver-removed-flags";
    assert!(finding(&findings("api.yaml", &api, "1.35"), rule).is_some());
    assert!(finding(&findings("api.yaml", &api, "1.36"), rule).is_none());
    // PodGroupWorkloadExists: an admission plugin of 1.36 only.
    let api = node_file(
        "kube-apiserver",
        "    - --enable-admission-plugins=NodeRestriction",
        ",PodGroupWorkloadExists",
    );
    let rule = "apiserver-removed-admission-plugins";
    assert!(finding(&findings("api.yaml", &api, "1.37"), rule).is_some());
    assert!(finding(&findings("api.yaml", &api, "1.36"), rule).is_none());
}

/// A kubeadm file that names no Kubernetes version is judged as the newest release whose kubeadm
/// reads its API version: v1beta3 as 1.36, since kubeadm 1.37 refuses it.
#[test]
fn a_kubeadm_file_without_a_version_is_judged_by_its_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeadm.yaml");
    for (api, want) in [("v1beta3", "1.36"), ("v1beta4", "1.37")] {
        fs::write(
            &path,
            format!("apiVersion: kubeadm.k8s.io/{api}\nkind: ClusterConfiguration\n"),
        )
        .expect("write");
        let (out, err, code) = run(&["check", "--format", "json"], &path);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        assert_eq!(v["files"][0]["kubernetes_version"], want, "{api}");
        assert_eq!(v["files"][0]["version_source"], "assumed", "{api}");
        assert_eq!(code, Some(1));
        let (_, err, code) = run(&["diff"], &path);
        assert_eq!(code, Some(1), "{api}: {err}");
    }
}

/// CIS Kubernetes Benchmark v2.0: every id a rule cites is a check of kube-bench's cis-2.0 (and
/// the same check in cis-1.12); `explain` takes a CIS id; the report says which benchmark the
/// ids are of, in JSON, SARIF and docs/rules.md.
#[test]
fn cis_ids_are_of_benchmark_2_0_and_explain_takes_them() {
    let (registry, _, strict) = builtins();
    assert_eq!(
        registry.cis_benchmark.title(),
        "CIS Kubernetes Benchmark v2.0.1"
    );
    let groups = ["1.1", "1.2", "1.3", "1.4", "2", "4.2"];
    let known = |bench: &str, id: &str| {
        groups
            .iter()
            .filter(|g| crate::kube_bench::own_groups(bench).contains(g))
            .flat_map(|g| crate::kube_bench::load_own(bench, g))
            .find(|c| c.id == id)
    };
    let mut cited = std::collections::BTreeSet::new();
    for r in &strict.rules {
        for id in r.cis() {
            cited.insert(id.clone());
            // The node's files (1.1.x, 4.1.x): tests/it/node_files.rs holds them against
            // kube-bench's definitions.
            if r.component == kubeharden::profile::NODE_FILES {
                continue;
            }
            // Groups kubeharden's data restates; 3.2.1 (audit policy) is not among them.
            if id.starts_with("3.") {
                continue;
            }
            let two = known("cis-2.0", id).unwrap_or_else(|| panic!("{}: {id}", r.id));
            assert_eq!(Some(two), known("cis-1.12", id), "{id}");
        }
    }
    for id in &cited {
        let out = kubeharden().args(["explain", id]).output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{id}");
        let sections: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
        let want: Vec<String> = strict
            .rules
            .iter()
            .filter(|r| r.cis().contains(id))
            .map(|r| format!("## {}", r.id))
            .collect();
        let mut sections: Vec<String> = sections.iter().map(|s| s.to_string()).collect();
        sections.sort();
        let mut want = want;
        want.sort();
        assert_eq!(sections, want, "{id}");
        assert!(
            text.contains("CIS (CIS Kubernetes Benchmark v2.0.1)"),
            "{text}"
        );
    }
    // An id no rule cites, and a made-up rule: one line, exit 2.
    for bad in ["1.2.20", "9.9.9", "no-such-rule"] {
        let out = kubeharden().args(["explain", bad]).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    // JSON and SARIF name the benchmark.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml");
    let (json, _, _) = run(&["check", "--format", "json"], &example);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["cis_benchmark"], "CIS Kubernetes Benchmark v2.0.1");
    let (sarif, _, _) = run(&["check", "--format", "sarif"], &example);
    let v: serde_json::Value = serde_json::from_str(&sarif).expect("sarif");
    let rules = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert!(rules
        .iter()
        .all(|r| r["properties"]["cis_benchmark"] == "CIS Kubernetes Benchmark v2.0.1"));
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md"))
        .expect("rules.md");
    assert!(doc.contains("CIS ids are those of the CIS Kubernetes Benchmark v2.0.1"));
}

/// A gate locked to its default and set otherwise stops the component too ("cannot set feature
/// gate ... locked"): reported from the release that locked it, with the lock; and gate_off
/// conditions of strict stop counting once the gates they name are locked (1.34).
#[test]
fn gates_set_against_their_lock_are_reported_and_locked_gates_no_longer_rule_fixes_out() {
    let kubelet = node_file(
        "kubelet",
        "kind: KubeletConfiguration\n",
        "featureGates:\n  SeccompDefault: false\n",
    );
    let rule = "kubelet-removed-feature-gates";
    let all = findings("config.yaml", &kubelet, "1.28");
    let f = finding(&all, rule).expect("reported");
    assert!(f["current"]
        .as_str()
        .is_some_and(|c| c.contains("locked to true from 1.27")));
    assert!(finding(&findings("config.yaml", &kubelet, "1.26"), rule).is_none());
    let on = kubelet.replace("SeccompDefault: false", "SeccompDefault: true");
    assert!(finding(&findings("config.yaml", &on, "1.28"), rule).is_none());
    // AllBeta=false turned the authentication configuration's gates off before 1.34 only.
    let api = node_file(
        "kube-apiserver",
        "    - kube-apiserver\n",
        "    - --feature-gates=AllBeta=false\n",
    );
    let anonymous = |v: &str| {
        let all = findings("kube-apiserver.yaml", &api, v);
        finding(&all, "apiserver-anonymous-auth")
            .map(|f| f["desired"].as_str().unwrap_or_default().to_string())
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kube-apiserver.yaml");
    fs::write(&path, &api).expect("write");
    for (v, config) in [("1.33", false), ("1.35", true)] {
        assert!(anonymous(v).is_some(), "{v}");
        let (diff, _, _) = run(
            &["diff", "--profile", "strict", "--kubernetes-version", v],
            &path,
        );
        assert_eq!(
            diff.contains("+    - --authentication-config="),
            config,
            "{v}: {diff}"
        );
    }
}

/// `fix --output` writes nothing for a v1beta3 file targeting 1.37, whose kubeadm does not read
/// it, and says how to convert it; after `migrate` it is fixed.
#[test]
fn fix_writes_no_v1beta3_for_1_37_and_points_to_migrate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cluster.yaml");
    fs::write(
        &path,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.37.0\n",
    )
    .expect("write");
    let out = dir.path().join("out.yaml");
    let o = kubeharden()
        .args(["fix", "--profile", "strict", "-o"])
        .arg(&out)
        .arg(&path)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("kubeharden migrate kubeadm"), "{err}");
    assert!(!out.exists());
    let m = kubeharden()
        .args(["migrate", "kubeadm"])
        .arg(&path)
        .args(["--to", "v1beta4", "-o"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(m.status.code(), Some(0));
    let o = kubeharden()
        .args(["fix", "--profile", "strict", "-o"])
        .arg(&out)
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let fixed = fs::read_to_string(&out).expect("written");
    assert!(fixed.contains("kubeadm.k8s.io/v1beta4") && fixed.contains("- name: profiling"));
}
