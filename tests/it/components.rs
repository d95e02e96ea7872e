//! The control plane beyond the API server: kube-controller-manager, kube-scheduler and etcd
//! manifests and the kubelet's KubeletConfiguration, checked against kube-bench's scored
//! checks for CIS 1.3, 1.4, 2 and 4.2, and the edits that are special to them (etcd's
//! environment, the scheduler's --config, the kubelet's nested settings).

use crate::cli::kubeharden;
use crate::conformance::{builtins, fixture_dir};
use crate::kube_bench::{self, Inputs, Outcome};
use kubeharden::model::report::FileReport;
use kubeharden::pipeline::{self as engine, Options};
use kubeharden::profile::version::Version;
use std::path::Path;
use std::process::Command;

/// The fixture versions that carry all five files.
const NODE_VERSIONS: [u32; 8] = [19, 23, 25, 27, 29, 31, 33, 34];

/// How kubeadm starts the kubelet (its systemd drop-in and kubeadm-flags.env), for kube-bench's
/// command-line reads; every 4.2 setting is in the configuration file.
const KUBELET_CMDLINE: &str =
    "/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \
--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock";

fn read(minor: u32, file: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(format!("v1.{minor}")).join(file))
        .unwrap_or_else(|e| panic!("v1.{minor}/{file}: {e}"))
}

fn process(
    name: &str,
    text: &str,
    profile: &str,
    version: Option<&str>,
) -> Result<FileReport<'static>, kubeharden::model::report::FileError> {
    let (registry, baseline, strict) = builtins();
    let profile = if profile == "strict" {
        strict
    } else {
        baseline
    };
    let opts = Options {
        version: version.map(|v| Version::parse(v).expect("version")),
        ..Options::new(registry, profile)
    };
    engine::process(name, text, &opts)
}

/// The environment of the manifest's container as `KEY=value` lines.
fn environ(manifest: &str) -> String {
    let pod: serde_json::Value = yaml_serde::from_str(manifest).expect("yaml");
    let mut out = String::new();
    for e in pod["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        out.push_str(&format!(
            "{}={}\n",
            e["name"].as_str().unwrap_or(""),
            e["value"].as_str().unwrap_or("")
        ));
    }
    out
}

/// The scored kube-bench checks of `group` that fail on a component's file.
fn failing(minor: u32, group: &str, file_text: &str) -> Vec<String> {
    let checks = kube_bench::load_own_for_minor(minor, group);
    if group == "4.2" {
        let config: serde_json::Value = yaml_serde::from_str(file_text).expect("kubelet yaml");
        let inputs = Inputs {
            cmdline: KUBELET_CMDLINE,
            config: Some(&config),
            environ: None,
        };
        return kube_bench::ids_with(&checks, &inputs, Outcome::Fail);
    }
    let cmdline = kube_bench::cmdline_from_manifest(file_text);
    let env = environ(file_text);
    let inputs = Inputs {
        cmdline: &cmdline,
        config: None,
        environ: Some(&env),
    };
    kube_bench::ids_with(&checks, &inputs, Outcome::Fail)
}

const FILES: [(&str, &str, &str); 4] = [
    (
        "kube-controller-manager.yaml",
        "kube-controller-manager",
        "1.3",
    ),
    ("kube-scheduler.yaml", "kube-scheduler", "1.4"),
    ("etcd.yaml", "etcd", "2"),
    ("kubelet-config.yaml", "kubelet", "4.2"),
];

#[test]
fn strict_output_for_kubeadm_files_passes_the_scored_kube_bench_checks() {
    let mut oracle_failed_somewhere = Vec::new();
    for minor in NODE_VERSIONS {
        let version = format!("1.{minor}");
        for (file, component, group) in FILES {
            let text = read(minor, file);
            let before = failing(minor, group, &text);
            if !before.is_empty() {
                oracle_failed_somewhere.push(format!("v{version}/{file}: {before:?}"));
            }
            let report = process(file, &text, "strict", Some(&version))
                .unwrap_or_else(|e| panic!("v{version}/{file}: {e}"));
            assert_eq!(report.component, component, "v{version}/{file}");
            let hardened = report.edited.clone().unwrap_or_else(|| text.clone());
            let after = failing(minor, group, &hardened);
            assert!(
                after.is_empty(),
                "v{version}/{file} ({}): scored checks fail after strict: {after:?}",
                kube_bench::benchmark_for_minor(minor)
            );
            // Every finding strict leaves is one it leaves on purpose, with a reason.
            for f in report.findings.iter().filter(|f| !f.fixed) {
                assert!(
                    f.manual.as_deref().is_some_and(|m| !m.is_empty()),
                    "v{version}/{file}: {} left without a reason",
                    f.rule.id
                );
            }
            // Idempotent: strict on its own output changes nothing.
            let again = process(file, &hardened, "strict", Some(&version)).expect("again");
            assert!(
                again.edited.is_none(),
                "v{version}/{file}: a second run changes the file again"
            );
            // Minimal: every changed line is a line the plan touches, the rest is byte for byte.
            if let Some(h) = &report.edited {
                let kept = text.lines().filter(|l| h.lines().any(|x| x == *l)).count();
                assert!(
                    text.lines().count() - kept <= report.changes.len() * 3 + 2,
                    "v{version}/{file}: too many lines changed"
                );
            }
        }
    }
    // The oracle bites: kubeadm's own files fail 1.3.2 and 1.4.1 (profiling) everywhere.
    for minor in NODE_VERSIONS {
        assert!(
            oracle_failed_somewhere
                .iter()
                .any(|s| s.contains(&format!("v1.{minor}/kube-scheduler.yaml"))
                    && s.contains("1.4.1")),
            "v1.{minor}: {oracle_failed_somewhere:?}"
        );
        assert!(
            oracle_failed_somewhere.iter().any(|s| s
                .contains(&format!("v1.{minor}/kube-controller-manager.yaml"))
                && s.contains("1.3.2")),
            "v1.{minor}: {oracle_failed_somewhere:?}"
        );
    }
}

#[test]
fn kube_bench_own_files_agree_on_the_hardened_components() {
    let Some(dir) = kube_bench::shared_kube_bench_dir() else {
        return;
    };
    for minor in [29u32, 31, 33, 34] {
        let bench = kube_bench::benchmark_for_minor(minor);
        let version = format!("1.{minor}");
        for (file, _, group) in FILES {
            let control = match group {
                "2" => "etcd.yaml",
                "4.2" => "node.yaml",
                _ => "master.yaml",
            };
            let theirs = kube_bench::load_kube_bench(&dir.join(bench).join(control), group);
            let text = read(minor, file);
            let hardened = process(file, &text, "strict", Some(&version))
                .expect("strict")
                .edited
                .unwrap_or(text);
            let config: serde_json::Value = yaml_serde::from_str(&hardened).expect("yaml");
            let cmdline = if group == "4.2" {
                KUBELET_CMDLINE.to_string()
            } else {
                kube_bench::cmdline_from_manifest(&hardened)
            };
            let env = environ(&hardened);
            let inputs = Inputs {
                cmdline: &cmdline,
                config: (group == "4.2").then_some(&config),
                environ: Some(&env),
            };
            let failed = kube_bench::ids_with(&theirs, &inputs, Outcome::Fail);
            assert!(failed.is_empty(), "v{version}/{file} ({bench}): {failed:?}");
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs")
}

#[test]
fn a_whole_node_is_checked_diffed_and_patched_per_component() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("etc/kubernetes/manifests");
    let kubelet = dir.path().join("var/lib/kubelet");
    std::fs::create_dir_all(&manifests).expect("mkdir");
    std::fs::create_dir_all(&kubelet).expect("mkdir");
    for f in [
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
        "etcd.yaml",
    ] {
        std::fs::write(manifests.join(f), read(33, f)).expect("write");
    }
    std::fs::write(kubelet.join("config.yaml"), read(33, "kubelet-config.yaml")).expect("write");
    assert!(git(dir.path(), &["init", "-q"]).status.success());
    let paths = ["etc/kubernetes/manifests", "var/lib/kubelet/config.yaml"];

    let out = kubeharden()
        .current_dir(dir.path())
        .arg("check")
        .args(paths)
        .args(["--profile", "strict"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for (component, rule) in [
        ("kube-apiserver", "apiserver-profiling"),
        ("kube-controller-manager", "controller-manager-profiling"),
        ("kube-scheduler", "scheduler-profiling"),
        ("kubelet", "kubelet-tls-cipher-suites"),
    ] {
        assert!(text.contains(rule), "{rule}: {text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with(component) && l.len() > 40),
            "no summary row for {component}: {text}"
        );
    }
    // The kubelet's configuration names no version: it takes the API server's.
    assert!(
        text.contains("kubelet 1.33.0 (from a manifest of the same run)"),
        "{text}"
    );

    let diff = kubeharden()
        .current_dir(dir.path())
        .arg("diff")
        .args(paths)
        .args(["--profile", "strict"])
        .output()
        .expect("runs");
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let patch = dir.path().join("harden.patch");
    std::fs::write(&patch, &diff.stdout).expect("write");
    let patch_text = String::from_utf8_lossy(&diff.stdout);
    for f in [
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
        "kubelet/config.yaml",
    ] {
        assert!(
            patch_text
                .lines()
                .any(|l| l.starts_with("+++ b/") && l.ends_with(f)),
            "{f}: {patch_text}"
        );
    }
    let applied = git(dir.path(), &["apply", "harden.patch"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    // Re-running changes nothing.
    let again = kubeharden()
        .current_dir(dir.path())
        .arg("diff")
        .args(paths)
        .args(["--profile", "strict"])
        .output()
        .expect("runs");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(again.stdout.is_empty());
    // kube-bench's scored checks for 1.3, 1.4, 2 and 4.2 pass on the patched node.
    for (file, group) in [
        (
            "etc/kubernetes/manifests/kube-controller-manager.yaml",
            "1.3",
        ),
        ("etc/kubernetes/manifests/kube-scheduler.yaml", "1.4"),
        ("etc/kubernetes/manifests/etcd.yaml", "2"),
        ("var/lib/kubelet/config.yaml", "4.2"),
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).expect("read");
        assert_eq!(failing(33, group, &text), Vec::<String>::new(), "{file}");
    }
}

// ------------------------------------------------------------------------------------- etcd

const ETCD_ENV: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --data-dir=/var/lib/etcd\n    env:\n    - name: ETCD_CERT_FILE\n      value: /etc/kubernetes/pki/etcd/server.crt\n    - name: ETCD_KEY_FILE\n      value: /etc/kubernetes/pki/etcd/server.key\n    - name: ETCD_TRUSTED_CA_FILE\n      value: /etc/kubernetes/pki/etcd/ca.crt\n    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"false\"\n    - name: ETCD_AUTO_TLS\n      value: 'true'\n    - name: ETCD_PEER_CERT_FILE\n      value: /etc/kubernetes/pki/etcd/peer.crt\n    - name: ETCD_PEER_KEY_FILE\n      value: /etc/kubernetes/pki/etcd/peer.key\n    - name: ETCD_PEER_TRUSTED_CA_FILE\n      value: /etc/kubernetes/pki/etcd/ca.crt\n    - name: ETCD_PEER_CLIENT_CERT_AUTH\n      value: \"true\"\n    - name: HTTP_PROXY\n      value: \"\"\n    image: registry.k8s.io/etcd:3.5.15-0\n    name: etcd\n";

#[test]
fn etcd_settings_in_the_environment_are_edited_where_they_are() {
    assert!(
        !failing(31, "2", ETCD_ENV).is_empty(),
        "the oracle must fail first"
    );
    let report = process("etcd.yaml", ETCD_ENV, "strict", Some("1.31")).expect("processes");
    let edited = report.edited.expect("changes");
    // Two values change in place; no flag is added (etcd refuses a flag and its variable
    // together).
    let changed: Vec<(&str, &str)> = ETCD_ENV
        .lines()
        .zip(edited.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [
            ("      value: \"false\"", "      value: \"true\""),
            ("      value: 'true'", "      value: 'false'"),
        ]
    );
    assert_eq!(ETCD_ENV.lines().count(), edited.lines().count());
    assert_eq!(failing(31, "2", &edited), Vec::<String>::new());
    assert!(process("etcd.yaml", &edited, "strict", Some("1.31"))
        .expect("again")
        .edited
        .is_none());
}

#[test]
fn etcd_with_a_config_file_is_reported_but_not_edited() {
    let text = read(31, "etcd.yaml").replace(
        "    - --data-dir=/var/lib/etcd\n",
        "    - --data-dir=/var/lib/etcd\n    - --config-file=/etc/etcd/etcd.yaml\n    - --auto-tls=true\n",
    );
    assert_ne!(text, read(31, "etcd.yaml"), "the fixture has --data-dir");
    let err = process("etcd.yaml", &text, "strict", Some("1.31")).expect_err("refused");
    assert!(err.message.contains("--config-file"), "{}", err.message);
    let dir = crate::cli::scratch("etcd.yaml", text.as_bytes());
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "etcd.yaml"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("etcd-auto-tls"), "{stdout}");
    assert!(stdout.contains("ignores its other flags"), "{stdout}");
}

#[test]
fn a_value_from_a_secret_is_an_error_with_its_position() {
    let text = ETCD_ENV.replace(
        "    - name: ETCD_AUTO_TLS\n      value: 'true'\n",
        "    - name: ETCD_AUTO_TLS\n      valueFrom:\n        configMapKeyRef: {name: x, key: y}\n",
    );
    let err = process("etcd.yaml", &text, "baseline", Some("1.31")).expect_err("refused");
    assert_eq!(err.line_col, Some((20, 7)), "{err}");
    assert!(err.message.contains("valueFrom"), "{err}");
}

// ------------------------------------------------------------------- scheduler and controller

#[test]
fn a_scheduler_with_a_config_file_gets_no_profiling_flag() {
    let text = read(31, "kube-scheduler.yaml").replace(
        "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n",
        "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n    - --config=/etc/kubernetes/scheduler-config.yaml\n",
    );
    assert_ne!(text, read(31, "kube-scheduler.yaml"));
    let report = process("kube-scheduler.yaml", &text, "strict", Some("1.31")).expect("ok");
    let edited = report.edited.clone().unwrap_or(text.clone());
    assert!(!edited.contains("--profiling"), "{edited}");
    let left = report
        .findings
        .iter()
        .find(|f| f.rule.id == "scheduler-profiling")
        .expect("reported");
    assert!(!left.fixed);
    assert!(
        left.manual
            .as_deref()
            .is_some_and(|m| m.contains("enableProfiling: false")),
        "{:?}",
        left.manual
    );
}

#[test]
fn controller_manager_gate_and_bind_address() {
    let base = read(31, "kube-controller-manager.yaml");
    let text = base.replace(
        "    - --bind-address=127.0.0.1\n",
        "    - --bind-address=0.0.0.0\n    - --feature-gates=RotateKubeletServerCertificate=false,EventedPLEG=true\n",
    );
    assert_ne!(text, base);
    let report = process("kcm.yaml", &text, "baseline", None).expect("ok");
    let edited = report.edited.expect("changes");
    assert!(
        edited.contains("    - --bind-address=127.0.0.1\n"),
        "{edited}"
    );
    assert!(
        edited.contains("    - --feature-gates=EventedPLEG=true\n"),
        "{edited}"
    );
    assert_eq!(failing(31, "1.3", &edited), Vec::<String>::new());
    // Probes that reach the controller manager on another address keep it listening there.
    let remote = text.replace("host: 127.0.0.1", "host: 192.168.0.10");
    assert_ne!(remote, text);
    let report = process("kcm.yaml", &remote, "baseline", None).expect("ok");
    let edited = report.edited.expect("the gate still goes");
    assert!(edited.contains("--bind-address=0.0.0.0"), "{edited}");
    let f = report
        .findings
        .iter()
        .find(|f| f.rule.id == "controller-manager-bind-address")
        .expect("reported");
    assert!(!f.fixed && f.manual.as_deref().unwrap_or("").contains("probes"));
}

#[test]
fn a_pod_labelled_for_another_component_is_an_error() {
    let text = read(31, "kube-scheduler.yaml").replace(
        "    component: kube-scheduler",
        "    component: kube-controller-manager",
    );
    let err = process("s.yaml", &text, "baseline", None).expect_err("refused");
    assert!(err.message.contains("labelled"), "{err}");
    assert!(err.line_col.is_some(), "{err}");
}

// ------------------------------------------------------------------------------------ kubelet

#[test]
fn kubelet_settings_are_added_in_place_keeping_everything_else() {
    let text = "# kubelet settings of this node\r\napiVersion: kubelet.config.k8s.io/v1beta1\r\nkind: KubeletConfiguration\r\nauthentication:\r\n    webhook:\r\n        enabled: true  # keep\r\nfeatureGates:\r\n    RotateKubeletServerCertificate: false\r\nreadOnlyPort: 10255\r\nstaticPodPath: /etc/kubernetes/manifests\r\n";
    let report = process("config.yaml", text, "baseline", Some("1.30")).expect("ok");
    let edited = report.edited.expect("changes");
    assert!(edited.starts_with("# kubelet settings of this node\r\n"));
    assert!(!edited.replace("\r\n", "").contains('\n'), "CRLF kept");
    assert!(
        edited.contains("        enabled: true  # keep\r\n"),
        "{edited}"
    );
    // Four-space indentation, as the file has it; nested mappings added under `authentication`.
    assert!(
        edited.contains("authentication:\r\n    webhook:\r\n        enabled: true  # keep\r\n    anonymous:\r\n        enabled: false\r\n    x509:")
            || edited.contains("authentication:\r\n    anonymous:\r\n        enabled: false\r\n"),
        "{edited}"
    );
    assert!(!edited.contains("featureGates"), "{edited}");
    assert!(edited.contains("readOnlyPort: 0\r\n"), "{edited}");
    assert!(
        edited.contains("authorization:\r\n    mode: Webhook\r\n"),
        "{edited}"
    );
    let config: serde_json::Value = yaml_serde::from_str(&edited).expect("yaml");
    assert_eq!(config["authentication"]["webhook"]["enabled"], true);
    assert_eq!(config["staticPodPath"], "/etc/kubernetes/manifests");
    assert!(process("config.yaml", &edited, "baseline", Some("1.30"))
        .expect("again")
        .edited
        .is_none());
}

#[test]
fn kubelet_inputs_it_will_not_guess_about() {
    // Not a boolean.
    let bad = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: \"false\"\n";
    let err = process("config.yaml", bad, "baseline", Some("1.31")).expect_err("bad");
    assert_eq!(err.line_col, Some((5, 14)), "{err}");
    // A flow mapping on the way is not rewritten; check still reports.
    let flow = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication: {webhook: {enabled: true}}\n";
    let err = process("config.yaml", flow, "baseline", Some("1.31")).expect_err("flow");
    assert!(err.message.contains("flow mapping"), "{err}");
    // Unknown API version.
    let other = "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n";
    let err = process("config.yaml", other, "baseline", Some("1.31")).expect_err("api");
    assert!(err.message.contains("apiVersion"), "{err}");
    // Without a version, version-bound rules are left alone (seccompDefault needs 1.25).
    let min = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
    let report = process("config.yaml", min, "strict", None).expect("ok");
    let edited = report.edited.expect("changes");
    assert!(!edited.contains("seccompDefault"), "{edited}");
    let f = report
        .findings
        .iter()
        .find(|f| f.rule.id == "kubelet-seccomp-default")
        .expect("reported");
    assert!(f
        .manual
        .as_deref()
        .unwrap_or("")
        .contains("--kubernetes-version"));
    // With 1.24 the rule does not apply at all; with 1.25 it is fixed.
    let r24 = process("config.yaml", min, "strict", Some("1.24")).expect("ok");
    assert!(!r24
        .findings
        .iter()
        .any(|f| f.rule.id == "kubelet-seccomp-default"));
    let r25 = process("config.yaml", min, "strict", Some("1.25")).expect("ok");
    assert!(r25
        .edited
        .expect("changes")
        .contains("seccompDefault: true\n"));
}

#[test]
fn the_kubelet_document_of_a_kubeadm_file_is_hardened_with_kubeadm_defaults_in_mind() {
    let text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\napiServer:\n  extraArgs:\n    profiling: \"false\"\n---\n# the node agent\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: true\nreadOnlyPort: 10255\ncgroupDriver: systemd\n";
    let report = process("kubeadm.yaml", text, "baseline", None).expect("ok");
    assert!(report.kubeadm);
    let edited = report.edited.clone().expect("changes");
    let kubelet_part = edited.split("---\n").nth(1).expect("two documents");
    assert!(
        kubelet_part.starts_with("# the node agent\n"),
        "{kubelet_part}"
    );
    assert!(
        kubelet_part.contains("    enabled: false\n"),
        "{kubelet_part}"
    );
    assert!(kubelet_part.contains("readOnlyPort: 0\n"), "{kubelet_part}");
    // What kubeadm fills in itself (clientCAFile, authorization mode, certificate rotation) is
    // not written again.
    for kubeadm_sets in ["clientCAFile", "authorization", "rotateCertificates"] {
        assert!(!kubelet_part.contains(kubeadm_sets), "{kubelet_part}");
    }
    assert!(report
        .findings
        .iter()
        .any(|f| f.rule.id == "kubelet-anonymous-auth" && f.fixed));
    // The file kubeadm would write from it passes kube-bench's scored 4.2 checks.
    let mut config: serde_json::Value = yaml_serde::from_str(kubelet_part).expect("yaml");
    config["authentication"]["x509"]["clientCAFile"] = "/etc/kubernetes/pki/ca.crt".into();
    config["authentication"]["webhook"]["enabled"] = true.into();
    config["authorization"]["mode"] = "Webhook".into();
    config["rotateCertificates"] = true.into();
    let checks = kube_bench::load_own_for_minor(30, "4.2");
    let inputs = Inputs {
        cmdline: KUBELET_CMDLINE,
        config: Some(&config),
        environ: None,
    };
    assert_eq!(
        kube_bench::ids_with(&checks, &inputs, Outcome::Fail),
        Vec::<String>::new()
    );
    // The ClusterConfiguration document is untouched, and a second run changes nothing.
    assert!(edited.starts_with(text.split("---\n").next().unwrap_or("")));
    assert!(process("kubeadm.yaml", &edited, "baseline", None)
        .expect("again")
        .edited
        .is_none());
}

// ----------------------------------------------------------------- inputs found by a tester

fn etcd_with(env: &str, drop_flag: &str) -> String {
    let base = read(31, "etcd.yaml");
    let text = base.replace(&format!("    - {drop_flag}\n"), "");
    assert_ne!(text, base, "the fixture has {drop_flag}");
    text.replace(
        "    image: registry.k8s.io/etcd",
        &format!("    env:\n{env}    image: registry.k8s.io/etcd"),
    )
}

#[test]
fn an_empty_etcd_variable_still_conflicts_with_a_flag() {
    // etcd refuses a flag whose variable is set, even to "": the value goes to the variable.
    for env in [
        "    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"\"\n",
        "    - name: ETCD_CLIENT_CERT_AUTH\n      value: ''\n",
    ] {
        let text = etcd_with(env, "--client-cert-auth=true");
        let report = process("etcd.yaml", &text, "baseline", Some("1.31")).expect("ok");
        let edited = report.edited.expect("changes");
        assert!(!edited.contains("--client-cert-auth"), "{edited}");
        assert!(
            edited.contains("      value: \"true\"\n") || edited.contains("      value: 'true'\n"),
            "{edited}"
        );
    }
    // A variable without a value cannot take one; it is refused with its position.
    let text = etcd_with(
        "    - name: ETCD_CLIENT_CERT_AUTH\n",
        "--client-cert-auth=true",
    );
    let err = process("etcd.yaml", &text, "baseline", Some("1.31")).expect_err("refused");
    assert!(err.message.contains("no `value`"), "{err}");
    assert!(err.line_col.is_some(), "{err}");
    // Flag and empty variable together: reported.
    let text = read(31, "etcd.yaml").replace(
        "    image: registry.k8s.io/etcd",
        "    env:\n    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"\"\n    image: registry.k8s.io/etcd",
    );
    let report = process("etcd.yaml", &text, "baseline", Some("1.31")).expect("ok");
    assert!(report
        .findings
        .iter()
        .any(|f| f.rule.id == "etcd-flag-and-variable"));
}

#[test]
fn etcd_variables_count_only_under_their_exact_name() {
    for name in ["ETCD_Client_Cert_Auth", "ETCD_CLIENT-CERT-AUTH"] {
        let text = etcd_with(
            &format!("    - name: {name}\n      value: \"true\"\n"),
            "--client-cert-auth=true",
        );
        let report = process("etcd.yaml", &text, "baseline", Some("1.31")).expect("ok");
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.rule.id == "etcd-client-cert-auth"),
            "{name} is not etcd's variable"
        );
    }
}

#[test]
fn repeated_etcd_variables_all_take_the_value() {
    let text = etcd_with(
        "    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"true\"\n    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"false\"\n",
        "--client-cert-auth=true",
    );
    let report = process("etcd.yaml", &text, "baseline", Some("1.31")).expect("ok");
    let edited = report.edited.expect("changes");
    assert_eq!(
        edited.matches("      value: \"true\"\n").count(),
        2,
        "{edited}"
    );
    let block = etcd_with(
        "    - name: ETCD_AUTO_TLS\n      value: >-\n        true\n",
        "--client-cert-auth=true",
    );
    let err = process("etcd.yaml", &block, "baseline", Some("1.31")).expect_err("refused");
    assert!(err.message.contains("block scalar"), "{err}");
}

#[test]
fn comments_after_quoted_values_stay() {
    let text = read(31, "kube-controller-manager.yaml").replace(
        "    - --bind-address=127.0.0.1\n",
        "    - '--bind-address=0.0.0.0'  # for now\n",
    );
    let edited = process("kcm.yaml", &text, "baseline", None)
        .expect("ok")
        .edited
        .expect("changes");
    assert!(
        edited.contains("    - '--bind-address=127.0.0.1'  # for now\n"),
        "{edited}"
    );
    let kubelet = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: 'AlwaysAllow'  # c\n";
    let edited = process("c.yaml", kubelet, "baseline", Some("1.31"))
        .expect("ok")
        .edited
        .expect("changes");
    assert!(edited.contains("  mode: Webhook  # c\n"), "{edited}");
}

#[test]
fn kubelet_values_that_are_empty_or_at_the_end_of_the_file() {
    // No final newline: still none after an insertion at the end.
    let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: Webhook\nrotateCertificates: true\ntlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\nauthentication:";
    let edited = process("c.yaml", text, "baseline", Some("1.31"))
        .expect("ok")
        .edited
        .expect("changes");
    assert!(!edited.ends_with('\n'), "{edited:?}");
    assert!(
        edited.ends_with("authentication:\n  anonymous:\n    enabled: false"),
        "{edited:?}"
    );
    // `enabled:` with nothing, `rotateCertificates: ~`, `tlsCipherSuites:` with nothing.
    let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization: ~\nrotateCertificates: ~\ntlsCipherSuites:\n";
    let edited = process("c.yaml", text, "baseline", Some("1.31"))
        .expect("ok")
        .edited
        .expect("changes");
    assert!(edited.contains("    enabled: false\n"), "{edited}");
    assert!(
        edited.contains("authorization:\n  mode: Webhook\n"),
        "{edited}"
    );
    assert!(edited.contains("rotateCertificates: true\n"), "{edited}");
    assert!(edited.contains("tlsCipherSuites:\n- TLS_"), "{edited}");
    // A block list keeps its own dash layout.
    let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ntlsCipherSuites:\n  -   TLS_RSA_WITH_AES_128_CBC_SHA\n";
    let edited = process("c.yaml", text, "baseline", Some("1.31"))
        .expect("ok")
        .edited
        .expect("changes");
    assert!(
        edited.contains("tlsCipherSuites:\n  -   TLS_ECDHE_"),
        "{edited}"
    );
}

#[test]
fn kubelet_files_kubeharden_refuses_to_guess_about() {
    let cases: [(&str, &str); 5] = [
        // A merge key hides settings from a reader that does not merge.
        ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nx-common: &common\n  readOnlyPort: 10255\n<<: *common\n", "merge key"),
        ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication: &a\n  webhook:\n    enabled: true\n", "anchor or tag"),
        ("# comment\n{\"apiVersion\": \"kubelet.config.k8s.io/v1beta1\", \"kind\": \"KubeletConfiguration\"}\n", "JSON"),
        ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n---\napiVersion: v1\nkind: ConfigMap\n", "2 YAML documents"),
        ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: >-\n    AlwaysAllow\n", "block scalar"),
    ];
    for (text, expect) in cases {
        let err = process("c.yaml", text, "baseline", Some("1.31")).expect_err(expect);
        assert!(err.message.contains(expect), "{expect}: {err}");
    }
}

#[test]
fn seccomp_default_is_not_written_while_its_gate_is_off() {
    let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  SeccompDefault: false\n";
    let report = process("c.yaml", text, "strict", Some("1.25")).expect("ok");
    assert!(!report
        .edited
        .as_deref()
        .unwrap_or("")
        .contains("seccompDefault"));
    let f = report
        .findings
        .iter()
        .find(|f| f.rule.id == "kubelet-seccomp-default")
        .expect("reported");
    assert!(f.manual.as_deref().unwrap_or("").contains("SeccompDefault"));
}

#[test]
fn single_dash_long_flags_are_refused_where_pflag_refuses_them() {
    let text = read(31, "kube-scheduler.yaml").replace(
        "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n",
        "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n    - -config=/etc/kubernetes/sched.yaml\n",
    );
    let err = process("s.yaml", &text, "baseline", None).expect_err("refused");
    assert!(
        err.message.contains("--config=/etc/kubernetes/sched.yaml"),
        "{err}"
    );
    // etcd's flag package takes them.
    let etcd = read(31, "etcd.yaml").replace(
        "    - --client-cert-auth=true\n",
        "    - -client-cert-auth=true\n",
    );
    let report = process("etcd.yaml", &etcd, "baseline", Some("1.31")).expect("etcd takes -flag");
    assert!(!report
        .findings
        .iter()
        .any(|f| f.rule.id == "etcd-client-cert-auth"));
    // An empty --config is no configuration file: --profiling is added.
    let text = read(31, "kube-scheduler.yaml").replace(
        "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n",
        "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n    - --config=\n",
    );
    let edited = process("s.yaml", &text, "baseline", None)
        .expect("ok")
        .edited
        .expect("changes");
    assert!(edited.contains("--profiling=false"), "{edited}");
}

// ------------------------------------------------------------------- the scheduler's --config

#[test]
fn a_scheduler_configuration_file_is_checked_and_fixed() {
    let text = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: /etc/kubernetes/scheduler.conf\nenableProfiling: true # for a benchmark\n";
    let report = process("sched.yaml", text, "baseline", Some("1.31")).expect("ok");
    assert_eq!(report.component, "kube-scheduler-config");
    let edited = report.edited.expect("changes");
    assert_eq!(
        edited,
        text.replace("enableProfiling: true", "enableProfiling: false")
    );
    assert!(process("sched.yaml", &edited, "baseline", Some("1.31"))
        .expect("again")
        .edited
        .is_none());
    // An API version the target Kubernetes no longer reads: reported, not edited.
    let old = text.replace("config.k8s.io/v1\n", "config.k8s.io/v1beta1\n");
    let err = process("sched.yaml", &old, "baseline", Some("1.25")).expect_err("refused");
    assert!(err.message.contains("does not read"), "{err}");
}

#[test]
fn a_node_scan_follows_the_schedulers_config_flag() {
    let root = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node");
    let manifests = root.path().join("etc/kubernetes/manifests");
    std::fs::create_dir_all(&manifests).expect("mkdir");
    std::fs::create_dir_all(root.path().join("etc/kubernetes/sched")).expect("mkdir");
    let sched = std::fs::read_to_string(examples.join("etc/kubernetes/manifests/kube-scheduler.yaml"))
        .expect("read")
        .replace(
            "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n",
            "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n    - --config=/etc/sched/config.yaml\n",
        )
        .replace(
            "  volumes:\n",
            "  volumes:\n  - hostPath:\n      path: /etc/kubernetes/sched\n      type: DirectoryOrCreate\n    name: sched\n",
        )
        .replace(
            "    volumeMounts:\n",
            "    volumeMounts:\n    - mountPath: /etc/sched\n      name: sched\n      readOnly: true\n",
        );
    assert!(sched.contains("name: sched\n") && sched.contains("--config="));
    std::fs::write(manifests.join("kube-scheduler.yaml"), &sched).expect("write");
    let config = root.path().join("etc/kubernetes/sched/config.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n",
    )
    .expect("write");
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(root.path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The file the container sees at /etc/sched is the node's /etc/kubernetes/sched.
    assert!(std::fs::read_to_string(&config)
        .expect("read")
        .contains("\nenableProfiling: false\n"));
    assert!(
        !std::fs::read_to_string(manifests.join("kube-scheduler.yaml"))
            .expect("read")
            .contains("--profiling")
    );
    assert!(
        err.contains("kube-scheduler reads its configuration file only when it starts"),
        "{err}"
    );
}

#[test]
fn feature_gates_a_version_no_longer_has_are_removed_by_strict() {
    let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  SeccompDefault: true\n  SomeGateOfMine: true\n";
    // 1.28 still has the gate: nothing to remove.
    let r28 = process("c.yaml", text, "strict", Some("1.28")).expect("ok");
    assert!(r28
        .edited
        .expect("changes")
        .contains("  SeccompDefault: true\n"));
    // 1.29 refuses it at start-up: strict removes it and keeps the gate it does not know.
    let r29 = process("c.yaml", text, "strict", Some("1.29")).expect("ok");
    let edited = r29.edited.expect("changes");
    assert!(!edited.contains("SeccompDefault: true"), "{edited}");
    assert!(
        edited.contains("featureGates:\n  SomeGateOfMine: true\n"),
        "{edited}"
    );
    // The controller manager's --feature-gates alike.
    let kcm = read(31, "kube-controller-manager.yaml").replace(
        "    - --bind-address=127.0.0.1\n",
        "    - --bind-address=127.0.0.1\n    - --feature-gates=SeccompDefault=true\n",
    );
    let edited = process("kcm.yaml", &kcm, "strict", None)
        .expect("ok")
        .edited
        .expect("changes");
    assert!(!edited.contains("--feature-gates"), "{edited}");
    let baseline = process("kcm.yaml", &kcm, "baseline", None).expect("ok");
    assert!(baseline
        .edited
        .unwrap_or_default()
        .contains("--feature-gates=SeccompDefault=true"));
}

// ------------------------------------------------------------------- a second tester's inputs

#[test]
fn a_guessed_version_removes_no_feature_gate() {
    let kubelet = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  SeccompDefault: true\nseccompDefault: true\n";
    let err = process("c.yaml", kubelet, "strict", None).expect_err("refused");
    assert!(err.message.contains("--kubernetes-version"), "{err}");
    let kcm = read(31, "kube-controller-manager.yaml")
        .replace(":v1.31.0", ":latest")
        .replace(
            "    - --bind-address=127.0.0.1\n",
            "    - --bind-address=127.0.0.1\n    - --feature-gates=SeccompDefault=true\n",
        );
    let err = process("kcm.yaml", &kcm, "strict", None).expect_err("refused");
    assert!(err.message.contains("SeccompDefault"), "{err}");
}

#[test]
fn every_component_with_feature_gates_loses_retired_ones_under_strict() {
    for (file, minor) in [("kube-apiserver.yaml", 31u32), ("kube-scheduler.yaml", 31)] {
        let text = read(minor, file).replace(
            "    - --authorization-kubeconfig=",
            "    - --feature-gates=SeccompDefault=true,Other=false\n    - --authorization-kubeconfig=",
        );
        let text = if file == "kube-apiserver.yaml" {
            read(minor, file).replace(
                "    - --allow-privileged=true\n",
                "    - --allow-privileged=true\n    - --feature-gates=SeccompDefault=true,Other=false\n",
            )
        } else {
            text
        };
        assert!(text.contains("SeccompDefault"), "{file}");
        let edited = process(file, &text, "strict", None)
            .expect("ok")
            .edited
            .expect("changes");
        assert!(
            edited.contains("--feature-gates=Other=false"),
            "{file}: {edited}"
        );
    }
}

/// A node under a scratch root with the example files and the scheduler reading `config` at
/// `container_path`, mounted as `mounts` says.
fn node_with_scheduler_config(
    container_path: &str,
    volume: &str,
    mount: &str,
) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node");
    let manifests = root.path().join("etc/kubernetes/manifests");
    std::fs::create_dir_all(&manifests).expect("mkdir");
    for f in ["kube-apiserver.yaml", "kube-scheduler.yaml"] {
        std::fs::copy(
            examples.join("etc/kubernetes/manifests").join(f),
            manifests.join(f),
        )
        .expect("copy");
    }
    let p = manifests.join("kube-scheduler.yaml");
    let text = std::fs::read_to_string(&p)
        .expect("read")
        .replace(
            "    - --kubeconfig=/etc/kubernetes/scheduler.conf\n",
            &format!("    - --kubeconfig=/etc/kubernetes/scheduler.conf\n    - --config={container_path}\n"),
        )
        .replace("  volumes:\n", &format!("  volumes:\n{volume}"))
        .replace("    volumeMounts:\n", &format!("    volumeMounts:\n{mount}"));
    std::fs::write(&p, text).expect("write");
    root
}

const SCHED_CONFIG: &str =
    "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";

fn write_at(root: &Path, rel: &str, text: &str) -> std::path::PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
    std::fs::write(&p, text).expect("write");
    p
}

fn fix_node(root: &Path) -> (Option<i32>, String) {
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_scheduler_config_the_container_cannot_see_is_not_edited() {
    // Not mounted at all.
    let root = node_with_scheduler_config("/etc/kubernetes/sched.yaml", "", "");
    let file = write_at(root.path(), "etc/kubernetes/sched.yaml", SCHED_CONFIG);
    let (code, err) = fix_node(root.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("no volume mounts it"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), SCHED_CONFIG);
    // Shadowed by an emptyDir below a hostPath mount.
    let root = node_with_scheduler_config(
        "/etc/kubernetes/s/c.yaml",
        "  - hostPath:\n      path: /etc/kubernetes\n    name: k8s\n  - emptyDir: {}\n    name: scratch\n",
        "    - mountPath: /etc/kubernetes\n      name: k8s\n    - mountPath: /etc/kubernetes/s\n      name: scratch\n",
    );
    let file = write_at(root.path(), "etc/kubernetes/s/c.yaml", SCHED_CONFIG);
    let (code, err) = fix_node(root.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("not a plain hostPath mount"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), SCHED_CONFIG);
    // Inside the static pod directory.
    let root = node_with_scheduler_config(
        "/etc/kubernetes/manifests/c.yaml",
        "  - hostPath:\n      path: /etc/kubernetes/manifests\n    name: m\n",
        "    - mountPath: /etc/kubernetes/manifests\n      name: m\n",
    );
    write_at(root.path(), "etc/kubernetes/manifests/c.yaml", SCHED_CONFIG);
    let (code, err) = fix_node(root.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("static pod directory"), "{err}");
}

#[test]
fn a_scheduler_config_of_another_kind_is_an_error_and_versions_follow_the_scheduler() {
    let mounts = (
        "  - hostPath:\n      path: /etc/kubernetes/sched\n    name: sched\n",
        "    - mountPath: /etc/kubernetes/sched\n      name: sched\n",
    );
    let root = node_with_scheduler_config("/etc/kubernetes/sched/c.yaml", mounts.0, mounts.1);
    let kubelet = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
    let file = write_at(root.path(), "etc/kubernetes/sched/c.yaml", kubelet);
    let (code, err) = fix_node(root.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not one"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), kubelet);
    // A v1beta2 file (read up to 1.27) with a 1.27 scheduler beside a 1.28 API server.
    let root = node_with_scheduler_config("/etc/kubernetes/sched/c.yaml", mounts.0, mounts.1);
    for (f, tag) in [
        ("kube-apiserver.yaml", "v1.28.2"),
        ("kube-scheduler.yaml", "v1.27.3"),
    ] {
        let p = root.path().join("etc/kubernetes/manifests").join(f);
        let t = std::fs::read_to_string(&p)
            .expect("read")
            .replace("v1.33.0", tag);
        std::fs::write(&p, t).expect("write");
    }
    let file = write_at(
        root.path(),
        "etc/kubernetes/sched/c.yaml",
        &SCHED_CONFIG.replace("/v1\n", "/v1beta2\n"),
    );
    let (code, err) = fix_node(root.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(std::fs::read_to_string(&file)
        .expect("read")
        .contains("enableProfiling: false"));
}

#[test]
fn kubeadm_fills_in_what_its_kubelet_document_leaves_empty() {
    let text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: \"\"\nrotateCertificates: false\n";
    let report = process("kubeadm.yaml", text, "baseline", None).expect("ok");
    for id in [
        "kubelet-authorization-webhook",
        "kubelet-rotate-certificates",
    ] {
        assert!(
            !report.findings.iter().any(|f| f.rule.id == id),
            "{id}: kubeadm sets it"
        );
    }
    // An error in the kubelet document points at the file as it is.
    let flow = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization: {mode: AlwaysAllow}\n";
    let err = process("kubeadm.yaml", flow, "strict", None).expect_err("flow");
    assert_eq!(err.line_col.map(|(l, _)| l), Some(7), "{err}");
}

#[test]
fn findings_point_at_the_setting_in_effect_or_the_program() {
    let find = |text: &str, id: &str| {
        let r = process("m.yaml", text, "baseline", Some("1.31")).expect("ok");
        let f = r
            .findings
            .iter()
            .find(|f| f.rule.id == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone();
        (f.line, f.column, f.end_line, f.end_column)
    };
    // A flow command list: a missing flag points at the program item, not the whole list.
    let flow = "kind: Pod\nspec:\n  containers:\n  - name: s\n    image: registry.k8s.io/kube-scheduler:v1.31.0\n    command: [kube-scheduler, --bind-address=127.0.0.1,\n      --leader-elect=true]\n";
    assert_eq!(find(flow, "scheduler-profiling"), (6, 15, 6, 29));
    // A flag given twice: the occurrence in effect, the last.
    let twice = "kind: Pod\nspec:\n  containers:\n  - name: s\n    image: registry.k8s.io/kube-scheduler:v1.31.0\n    command:\n    - kube-scheduler\n    - --profiling=false\n    - --profiling=true\n";
    assert_eq!(find(twice, "scheduler-profiling").0, 9);
    // A setting from an ETCD_* variable: its value.
    let env = etcd_with(
        "    - name: ETCD_AUTO_TLS\n      value: \"true\"\n",
        "--client-cert-auth=true",
    );
    let line = env
        .lines()
        .position(|l| l == "      value: \"true\"")
        .expect("value line")
        + 1;
    assert_eq!(find(&env, "etcd-auto-tls").0, line);
}
