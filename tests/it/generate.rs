//! `generate kubeadm`: a configuration kubeadm of that version accepts (its API version), whose
//! kube-apiserver passes the scored kube-bench checks, with the supporting files and a README.

use crate::cli::kubeharden;
use crate::conformance::builtins;
use crate::kube_bench::{self, Inputs, Outcome};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn generate(dir: &Path, args: &[&str]) -> std::process::Output {
    kubeharden()
        .args(["generate", "kubeadm", "--output-dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("runs")
}

/// Every version generate writes for, the first with kubeadm's patches directory (1.22) to one
/// newer than the newest known, with the API it picks; and the older API where two are accepted.
fn generated_versions() -> Vec<(String, Option<&'static str>, &'static str)> {
    let newest = builtins().0.versions.newest;
    let mut out: Vec<_> = (22..=newest + 1)
        .map(|m| {
            let api = if m < 31 {
                "kubeadm.k8s.io/v1beta3"
            } else {
                "kubeadm.k8s.io/v1beta4"
            };
            (format!("1.{m}"), None, api)
        })
        .collect();
    out.push(("1.31".into(), Some("v1beta3"), "kubeadm.k8s.io/v1beta3"));
    out.push(("1.34.2".into(), None, "kubeadm.k8s.io/v1beta4"));
    out
}

#[test]
fn generated_configs_are_accepted_hardened_and_complete() {
    let (registry, _, _) = builtins();
    for (version, api, expect_api) in generated_versions() {
        let version = version.as_str();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec![
            "--kubernetes-version",
            version,
            "--set",
            "advertise-address=10.1.2.3",
        ];
        if let Some(a) = api {
            args.extend(["--api-version", a]);
        }
        let out = generate(dir.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{version}: {err}");
        let config_path = dir.path().join("kubeadm-config.yaml");
        let config = fs::read_to_string(&config_path).expect("config");
        assert_eq!(
            fs::metadata(&config_path)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let cfg = kubeharden::document::kubeadm::try_load(&config, &registry.kubeadm)
            .expect("kubeadm")
            .expect("loads");
        assert_eq!(cfg.api_version, expect_api, "{version}");
        let minor = cfg.kubernetes_version.expect("kubernetesVersion").minor;
        // The version asked for, not another.
        let patch = version.split('.').nth(2).unwrap_or("0");
        assert!(
            config.contains(&format!("\nkubernetesVersion: v1.{minor}.{patch}\n")),
            "{version}"
        );
        assert!(
            registry
                .kubeadm
                .api_rejected(&cfg.api_version, cfg.kubernetes_version.expect("v"))
                .is_none(),
            "{version}: kubeadm would reject {}",
            cfg.api_version
        );
        assert_eq!(
            cfg.model.value("advertise-address").as_deref(),
            Some("10.1.2.3")
        );
        // Its kube-apiserver passes the scored checks of the version's benchmark.
        let argv: Vec<String> = std::iter::once("kube-apiserver".to_string())
            .chain(
                cfg.model
                    .flags
                    .iter()
                    .map(|f| format!("--{}={}", f.name, f.value.clone().unwrap_or_default())),
            )
            .collect();
        let cmdline = kube_bench::cmdline_from_argv(&argv);
        let checks = kube_bench::load_own_for_minor(minor, "1.2");
        let failed = kube_bench::ids_with(
            &checks,
            &Inputs {
                cmdline: &cmdline,
                ..Inputs::default()
            },
            Outcome::Fail,
        );
        assert!(failed.is_empty(), "{version}: {failed:?}");
        // The controller manager and the scheduler kubeadm writes from it pass theirs.
        for (group, component) in [("1.3", "controllerManager"), ("1.4", "scheduler")] {
            let checks = kube_bench::load_own_for_minor(minor, group);
            let argv = kubeadm_command(component, &extra_args(&config, component));
            let cmdline = kube_bench::cmdline_from_argv(&argv);
            let inputs = Inputs {
                cmdline: &cmdline,
                ..Inputs::default()
            };
            let failed = kube_bench::ids_with(&checks, &inputs, Outcome::Fail);
            assert!(failed.is_empty(), "{version} {component}: {failed:?}");
            // The oracle can fail: kubeadm's command alone does not pass.
            let bare = kube_bench::cmdline_from_argv(&kubeadm_command(component, &[]));
            let inputs = Inputs {
                cmdline: &bare,
                ..Inputs::default()
            };
            assert!(!kube_bench::ids_with(&checks, &inputs, Outcome::Fail).is_empty());
        }
        // Before 1.32 the probe patch comes along for rejecting anonymous requests.
        assert_eq!(
            dir.path().join("kube-apiserver+strategic.yaml").exists(),
            minor < 32,
            "{version}"
        );
        // It passes the strict profile as it is: nothing left to do by hand.
        let strict = kubeharden()
            .args(["check", "--profile", "strict"])
            .arg(&config_path)
            .output()
            .expect("runs");
        assert_eq!(
            strict.status.code(),
            Some(0),
            "{version}: {}",
            String::from_utf8_lossy(&strict.stdout)
        );
        // No pod subnet unless one was asked for.
        assert!(!config.contains("\n  podSubnet:"), "{version}");
        // Nothing left for the profile to change in it.
        let again = kubeharden()
            .args(["diff", "--profile", "strict"])
            .arg(&config_path)
            .output()
            .expect("runs");
        assert_eq!(
            again.status.code(),
            Some(0),
            "{version}: {}",
            String::from_utf8_lossy(&again.stdout)
        );
        // Every supporting file is there, as `profiles template` prints it, and the README
        // says where it goes.
        let readme = fs::read_to_string(dir.path().join("README.md")).expect("readme");
        for (flag, template) in [
            ("audit-policy-file", "audit-policy"),
            ("admission-control-config-file", "admission-config"),
            ("authentication-config", "authentication-config"),
        ] {
            let Some(path) = cfg.model.value(flag) else {
                assert!(
                    flag == "authentication-config" && minor < 32,
                    "{version}: no --{flag}"
                );
                continue;
            };
            let name = path.rsplit('/').next().expect("name");
            let written = fs::read(dir.path().join(name)).expect("supporting file");
            let want = kubeharden()
                .args([
                    "profiles",
                    "template",
                    template,
                    "--kubernetes-version",
                    version,
                ])
                .output()
                .expect("runs");
            assert_eq!(written, want.stdout, "{version}: {name}");
            assert!(
                readme.contains(&format!("install -D -m 0600 {name} {path}")),
                "{readme}"
            );
        }
    }
}

#[test]
fn refused_combinations_and_bad_settings_write_nothing() {
    for args in [
        vec!["--kubernetes-version", "1.29", "--api-version", "v1beta4"],
        vec!["--kubernetes-version", "1.30", "--api-version", "v1beta4"],
        // kubeadm 1.37 reads v1beta4 only.
        vec!["--kubernetes-version", "1.37", "--api-version", "v1beta3"],
        vec!["--kubernetes-version", "1.31", "--set", "colour=blue"],
        vec![
            "--kubernetes-version",
            "1.31",
            "--set",
            "advertise-address=not-an-ip",
        ],
        vec!["--kubernetes-version", "1.31", "--set", "advertise-address"],
        vec!["--kubernetes-version", "1.12"],
        // No patches directory in kubeadm's v1beta2, which rejecting anonymous requests needs.
        vec!["--kubernetes-version", "1.21"],
        vec![
            "--kubernetes-version",
            "1.31",
            "--set",
            "patches-dir=patches",
        ],
        vec!["--kubernetes-version", "one"],
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out_dir = dir.path().join("out");
        let out = generate(&out_dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!out_dir.exists(), "{args:?}");
    }
}

#[test]
fn an_existing_file_with_other_content_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("README.md"), b"mine\n").expect("write");
    let out = generate(dir.path(), &["--kubernetes-version", "1.33"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        fs::read(dir.path().join("README.md")).expect("read"),
        b"mine\n"
    );
    assert!(!dir.path().join("kubeadm-config.yaml").exists());
    // The same content again is fine: generating twice into one directory works.
    let again = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        generate(again.path(), &["--kubernetes-version", "1.33"])
            .status
            .code(),
        Some(0)
    );
    let key = fs::read(again.path().join("encryption-config.yaml")).expect("written");
    let second = generate(again.path(), &["--kubernetes-version", "1.33"]);
    assert_eq!(second.status.code(), Some(0));
    // The encryption configuration is kept: its key may be in use already.
    assert_eq!(
        fs::read(again.path().join("encryption-config.yaml")).expect("kept"),
        key
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("kept "));
}

/// Encryption at rest (CIS 1.2.27 and 1.2.28): the configuration names an EncryptionConfiguration
/// whose first provider is one CIS accepts, under a fresh 32-byte key, mounted into the API
/// server; a running cluster's file is never given one.
#[test]
fn generated_configs_encrypt_secrets_at_rest_with_a_fresh_key() {
    let mut keys = std::collections::BTreeSet::new();
    for version in ["1.24", "1.33"] {
        for _ in 0..2 {
            let dir = tempfile::tempdir().expect("tempdir");
            assert_eq!(
                generate(dir.path(), &["--kubernetes-version", version])
                    .status
                    .code(),
                Some(0)
            );
            let path = dir.path().join("encryption-config.yaml");
            let text = fs::read_to_string(&path).expect("written");
            assert_eq!(
                fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
                0o600
            );
            // kube-bench's 1.2.28 audit: the line after `providers:`, its words.
            let lines: Vec<&str> = text.lines().collect();
            let after = lines
                .iter()
                .rposition(|l| l.contains("providers:"))
                .map(|i| lines[i + 1])
                .expect("providers");
            let words: Vec<&str> = after
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty())
                .collect();
            assert_eq!(words, ["secretbox"], "{after}");
            let key = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("secret: "))
                .expect("a key")
                .to_string();
            assert_eq!(key.len(), 44, "32 bytes in base64: {key}");
            assert!(keys.insert(key), "a fresh key each time");
            let config =
                fs::read_to_string(dir.path().join("kubeadm-config.yaml")).expect("config");
            assert!(config.contains("/etc/kubernetes/enc/encryption-config.yaml"));
            assert!(
                config.contains("mountPath: /etc/kubernetes/enc"),
                "{config}"
            );
            let readme = fs::read_to_string(dir.path().join("README.md")).expect("readme");
            assert!(readme.contains("every control-plane node"), "{readme}");
        }
    }
    // The template alone gets a fresh key too.
    let t = |_| {
        kubeharden()
            .args([
                "profiles",
                "template",
                "encryption-config",
                "--kubernetes-version",
                "1.33",
            ])
            .output()
            .expect("runs")
            .stdout
    };
    assert_ne!(t(1), t(2));
}

#[test]
fn the_generated_kubelet_configuration_passes_the_scored_kubelet_checks() {
    for (version, _, _) in generated_versions() {
        let version = version.as_str();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = generate(dir.path(), &["--kubernetes-version", version]);
        assert_eq!(out.status.code(), Some(0));
        let text = fs::read_to_string(dir.path().join("kubeadm-config.yaml")).expect("config");
        let kubelet = text
            .split("\n---\n")
            .find(|d| d.contains("kind: KubeletConfiguration"))
            .expect("a KubeletConfiguration");
        let config: serde_json::Value = yaml_serde::from_str(kubelet).expect("yaml");
        let minor: u32 = version[2..]
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .expect("minor");
        let checks = kube_bench::load_own_for_minor(minor, "4.2");
        assert!(!checks.is_empty());
        // kubeadm starts the kubelet with --config and the bootstrap/kubeconfig flags only.
        let cmdline = "/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml";
        let inputs = Inputs {
            cmdline,
            config: Some(&config),
            ..Inputs::default()
        };
        let failed = kube_bench::ids_with(&checks, &inputs, Outcome::Fail);
        assert!(failed.is_empty(), "{version}: {failed:?}");
        // The oracle can fail: kubelet defaults (an empty configuration) do not pass.
        let empty = serde_json::json!({});
        let defaults = kube_bench::ids_with(
            &checks,
            &Inputs {
                cmdline,
                config: Some(&empty),
                ..Inputs::default()
            },
            Outcome::Fail,
        );
        assert!(!defaults.is_empty(), "{version}");
    }
}

#[test]
fn a_pod_subnet_is_written_only_when_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = generate(
        dir.path(),
        &[
            "--kubernetes-version",
            "1.33",
            "--set",
            "pod-subnet=192.168.0.0/16",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let config = fs::read_to_string(dir.path().join("kubeadm-config.yaml")).expect("config");
    assert!(
        config.contains("\n  podSubnet: \"192.168.0.0/16\"\n"),
        "{config}"
    );
}

/// The `extraArgs` of `component` (`controllerManager`, `scheduler`) in a generated
/// configuration, in either encoding (a map before v1beta4, a name/value list from it).
fn extra_args(config: &str, component: &str) -> Vec<(String, String)> {
    let cluster = config
        .split("\n---\n")
        .find(|d| d.contains("kind: ClusterConfiguration"))
        .expect("a ClusterConfiguration");
    let v: serde_json::Value = yaml_serde::from_str(cluster).expect("yaml");
    match &v[component]["extraArgs"] {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap_or_default().to_string(),
                    i["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The command kubeadm writes for `component`: its flags (k/k
/// cmd/kubeadm/app/phases/controlplane/manifests.go, getControllerManagerCommand and
/// getSchedulerCommand, with kubeadm's default paths; the same from 1.22 to 1.37 for the flags
/// CIS 1.3 and 1.4 read), each replaced by an extraArgs entry of the same name.
fn kubeadm_command(component: &str, extra: &[(String, String)]) -> Vec<String> {
    let (binary, defaults): (&str, &[(&str, &str)]) = match component {
        "controllerManager" => (
            "kube-controller-manager",
            &[
                (
                    "authentication-kubeconfig",
                    "/etc/kubernetes/controller-manager.conf",
                ),
                (
                    "authorization-kubeconfig",
                    "/etc/kubernetes/controller-manager.conf",
                ),
                ("bind-address", "127.0.0.1"),
                ("client-ca-file", "/etc/kubernetes/pki/ca.crt"),
                ("cluster-name", "kubernetes"),
                ("cluster-signing-cert-file", "/etc/kubernetes/pki/ca.crt"),
                ("cluster-signing-key-file", "/etc/kubernetes/pki/ca.key"),
                ("controllers", "*,bootstrapsigner,tokencleaner"),
                ("kubeconfig", "/etc/kubernetes/controller-manager.conf"),
                ("leader-elect", "true"),
                (
                    "requestheader-client-ca-file",
                    "/etc/kubernetes/pki/front-proxy-ca.crt",
                ),
                ("root-ca-file", "/etc/kubernetes/pki/ca.crt"),
                (
                    "service-account-private-key-file",
                    "/etc/kubernetes/pki/sa.key",
                ),
                ("use-service-account-credentials", "true"),
            ],
        ),
        _ => (
            "kube-scheduler",
            &[
                (
                    "authentication-kubeconfig",
                    "/etc/kubernetes/scheduler.conf",
                ),
                ("authorization-kubeconfig", "/etc/kubernetes/scheduler.conf"),
                ("bind-address", "127.0.0.1"),
                ("kubeconfig", "/etc/kubernetes/scheduler.conf"),
                ("leader-elect", "true"),
            ],
        ),
    };
    let mut flags: Vec<(String, String)> = defaults
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in extra {
        match flags.iter_mut().find(|(n, _)| n == k) {
            Some(f) => f.1.clone_from(v),
            None => flags.push((k.clone(), v.clone())),
        }
    }
    std::iter::once(binary.to_string())
        .chain(flags.iter().map(|(k, v)| format!("--{k}={v}")))
        .collect()
}
