//! The fleet manifests of deploy/: what they run, where, and with which access; and that
//! kubeharden itself skips them.

use crate::cli::kubeharden;
use std::path::{Path, PathBuf};
use yaml_serde::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(deploy().join(name)).expect("read");
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What the Job's and the DaemonSet's pods have in common: control-plane nodes only, the node's
/// files read-only at their own paths, nothing more than reading them.
fn check_pod(name: &str, pod: &Value) {
    let spec = &pod["spec"];
    assert_eq!(
        spec["nodeSelector"]["node-role.kubernetes.io/control-plane"].as_str(),
        Some(""),
        "{name}: control-plane nodes only"
    );
    let tolerated: Vec<&str> = spec["tolerations"]
        .as_sequence()
        .expect("tolerations")
        .iter()
        .filter(|t| t["operator"].as_str() == Some("Exists"))
        .filter_map(|t| t["key"].as_str())
        .collect();
    for taint in [
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    ] {
        assert!(tolerated.contains(&taint), "{name}: tolerates {taint}");
    }
    for host in ["hostPID", "hostNetwork", "hostIPC"] {
        assert_ne!(spec[host].as_bool(), Some(true), "{name}: no {host}");
    }
    assert_eq!(
        spec["automountServiceAccountToken"].as_bool(),
        Some(false),
        "{name}"
    );
    assert_eq!(
        spec["securityContext"]["runAsUser"].as_u64(),
        Some(0),
        "{name}"
    );
    let containers = spec["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1, "{name}");
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{name}");
    assert_eq!(
        sc["allowPrivilegeEscalation"].as_bool(),
        Some(false),
        "{name}"
    );
    assert_ne!(sc["privileged"].as_bool(), Some(true), "{name}");
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
    assert!(
        sc["capabilities"]["add"].is_null(),
        "{name}: adds no capability"
    );
    // Each mount is a hostPath volume, read-only, at the path it has on the node.
    let volumes = spec["volumes"].as_sequence().expect("volumes");
    let mut mounted = Vec::new();
    for m in c["volumeMounts"].as_sequence().expect("volumeMounts") {
        let at = m["mountPath"].as_str().expect("mountPath");
        assert_eq!(
            m["readOnly"].as_bool(),
            Some(true),
            "{name}: {at} read-only"
        );
        let v = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap_or_else(|| panic!("{name}: no volume for {at}"));
        assert_eq!(v["hostPath"]["path"].as_str(), Some(at), "{name}: {at}");
        mounted.push(at);
    }
    mounted.sort();
    // The kubelet's configuration file alone, not /var/lib/kubelet, which holds every pod's
    // secret and token volumes.
    assert_eq!(
        mounted,
        ["/etc/kubernetes", "/var/lib/kubelet/config.yaml"],
        "{name}"
    );
    assert_eq!(volumes.len(), 2, "{name}: no other volume");
}

#[test]
fn the_job_checks_one_control_plane_node() {
    let job = load("kubeharden-job.yaml");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(
        job["spec"]["backoffLimit"].as_u64(),
        Some(0),
        "findings are not retried"
    );
    let pod = &job["spec"]["template"];
    assert_eq!(pod["spec"]["restartPolicy"].as_str(), Some("Never"));
    check_pod("job", pod);
    let c = &pod["spec"]["containers"][0];
    assert_eq!(
        strs(&c["command"]),
        ["/usr/local/bin/kubeharden", "check", "--format", "json"]
    );
}

#[test]
fn the_daemonset_checks_every_control_plane_node() {
    let ds = load("kubeharden-daemonset.yaml");
    assert_eq!(ds["apiVersion"].as_str(), Some("apps/v1"));
    assert_eq!(ds["kind"].as_str(), Some("DaemonSet"));
    let pod = &ds["spec"]["template"];
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"],
        "the selector matches the pods"
    );
    check_pod("daemonset", pod);
    let command = strs(&pod["spec"]["containers"][0]["command"]);
    assert_eq!(command[..3], ["/bin/busybox", "sh", "-c"]);
    let script = command[3];
    assert!(
        script.starts_with("/usr/local/bin/kubeharden check --format json\n"),
        "{script}"
    );
    assert!(
        script.contains("/bin/busybox sleep") && script.contains("while :"),
        "the pod stays up: {script}"
    );
    // A shell as PID 1 ignores SIGTERM unless it traps it (the pod would wait out its grace
    // period on every stop).
    assert!(script.contains("trap 'exit 0' TERM"), "{script}");
}

#[test]
fn the_image_has_the_paths_the_manifests_run() {
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).expect("Dockerfile");
    for copy in [
        "COPY --from=build /kubeharden /usr/local/bin/kubeharden\n",
        "COPY --from=build /bin/busybox /bin/busybox\n",
    ] {
        assert!(dockerfile.contains(copy), "the image lacks: {copy}");
    }
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(
        dockerfile.contains("\nFROM scratch\n"),
        "nothing else in the image"
    );
}

#[test]
fn the_ansible_playbook_goes_one_node_at_a_time() {
    let play = &load("ansible/harden.yml")[0];
    assert_eq!(play["serial"].as_u64(), Some(1));
    assert_eq!(play["any_errors_fatal"].as_bool(), Some(true));
    let text = std::fs::read_to_string(deploy().join("ansible/harden.yml")).expect("read");
    assert!(
        text.contains("'fix', '--yes', '--profile', kubeharden_profile, '--wait-healthy'"),
        "fix --yes --profile strict --wait-healthy"
    );
    assert_eq!(play["vars"]["kubeharden_profile"].as_str(), Some("strict"));
    // Check mode runs kubeharden diff, and only then.
    let tasks = play["tasks"].as_sequence().expect("tasks");
    let dry = tasks
        .iter()
        .find(|t| t["when"].as_str() == Some("ansible_check_mode"))
        .expect("a check-mode block");
    let diff = dry["block"]
        .as_sequence()
        .expect("block")
        .iter()
        .find(|t| t["name"].as_str() == Some("kubeharden diff"))
        .expect("kubeharden diff");
    assert_eq!(
        strs(&diff["ansible.builtin.command"]["argv"])[1..],
        ["diff", "--profile", "{{ kubeharden_profile }}"]
    );
    let wet = tasks
        .iter()
        .find(|t| t["when"].as_str() == Some("not ansible_check_mode"))
        .expect("a block for the real run");
    assert!(
        wet["rescue"].as_sequence().is_some_and(|r| !r.is_empty()),
        "a failure rolls back"
    );
}

/// The manifests in deploy/ are not control-plane manifests: kubeharden skips them, in a
/// directory and (with --skip-unrecognized, as the pre-commit hook runs it) when named.
#[test]
fn kubeharden_skips_its_own_deploy_files() {
    let out = kubeharden()
        .arg("check")
        .arg(deploy())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    // The walk is recursive: the playbook below deploy/ansible is met too.
    for name in [
        "kubeharden-job.yaml",
        "kubeharden-daemonset.yaml",
        "ansible/harden.yml",
    ] {
        assert!(text.contains(&format!("{name}: skipped:")), "{text}");
    }
    // Nothing was checked, which a directory scan reports (exit 2), and no file is an error.
    assert_eq!(out.status.code(), Some(2));
    assert!(text.contains("0 error(s), 3 skipped"), "{text}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no control-plane manifest"), "{err}");

    let out = kubeharden()
        .current_dir(deploy())
        .args([
            "check",
            "--skip-unrecognized",
            "kubeharden-job.yaml",
            "kubeharden-daemonset.yaml",
            "ansible/harden.yml",
            "../.pre-commit-hooks.yaml",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("0 error(s), 4 skipped"), "{text}");
}
