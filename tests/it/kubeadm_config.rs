//! kubeadm configuration files: `check`, `diff` and `fix --output` edit `apiServer.extraArgs`
//! and `apiServer.extraVolumes` in the file's own encoding; the result applies with
//! `git apply`, changes nothing on a second run, and the kube-apiserver kubeadm would generate
//! from it passes the scored kube-bench checks.

use crate::cli::{diff_apply_and_fix, kubeharden};
use crate::conformance::builtins;
use crate::kube_bench::{self, Inputs, Outcome};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm-config")
}

fn fixtures(sub: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir().join(sub))
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().to_string(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "{sub}: {}", out.len());
    out
}

/// The command line of the kube-apiserver kubeadm would generate from `text`.
fn generated_cmdline(text: &str) -> (String, u32) {
    let (registry, _, _) = builtins();
    let cfg = kubeharden::document::kubeadm::try_load(text, &registry.kubeadm)
        .expect("a kubeadm file")
        .expect("loads");
    let argv: Vec<String> = std::iter::once("kube-apiserver".to_string())
        .chain(
            cfg.model
                .flags
                .iter()
                .map(|f| format!("--{}={}", f.name, f.value.clone().unwrap_or_default())),
        )
        .collect();
    let minor = cfg
        .kubernetes_version
        .map_or(registry.versions.newest, |v| v.minor);
    (kube_bench::cmdline_from_argv(&argv), minor)
}

#[test]
fn diff_applies_fix_matches_and_a_second_run_changes_nothing() {
    for (name, bytes) in fixtures("") {
        for profile in ["baseline", "strict"] {
            let (patched, fixed) = diff_apply_and_fix(&name, &bytes, &["--profile", profile]);
            assert_eq!(patched, fixed, "{name} {profile}: git apply and fix differ");
            // The whole patch applied (with a kubeadm probe patch file it may create).
            let scratch = crate::cli::scratch(&name, &bytes);
            let first = kubeharden()
                .current_dir(scratch.path())
                .args(["diff", &name, "--profile", profile])
                .output()
                .expect("runs");
            std::fs::write(scratch.path().join("p.patch"), &first.stdout).expect("write");
            let applied = std::process::Command::new("git")
                .current_dir(scratch.path())
                .args(["apply", "p.patch"])
                .output()
                .expect("git");
            assert!(applied.status.success(), "{name} {profile}");
            let again = kubeharden()
                .current_dir(scratch.path())
                .args(["diff", &name, "--profile", profile])
                .output()
                .expect("runs");
            assert_eq!(
                again.status.code(),
                Some(0),
                "{name} {profile}: a second diff is not empty:\n{}",
                String::from_utf8_lossy(&again.stdout)
            );
            assert!(again.stdout.is_empty());
            // Everything the profile can fix through kubeadm's configuration is fixed.
            let check = kubeharden()
                .current_dir(scratch.path())
                .args(["check", &name, "--profile", profile, "--format", "json"])
                .output()
                .expect("runs");
            let report: serde_json::Value = serde_json::from_slice(&check.stdout).expect("json");
            for f in report["files"][0]["findings"].as_array().expect("findings") {
                assert_eq!(f["fixable"], false, "{name} {profile}: {f}");
            }
        }
    }
}

#[test]
fn the_generated_apiserver_passes_the_scored_kube_bench_checks_after_strict() {
    for (name, bytes) in fixtures("") {
        let text = String::from_utf8(bytes).expect("utf8");
        let (before, minor) = generated_cmdline(&text);
        let checks = kube_bench::load_own_for_minor(minor, "1.2");
        let inputs = |c: &str| -> Vec<String> {
            kube_bench::ids_with(
                &checks,
                &Inputs {
                    cmdline: c,
                    ..Inputs::default()
                },
                Outcome::Fail,
            )
        };
        let scratch = crate::cli::scratch(&name, text.as_bytes());
        let out = scratch.path().join("out.yaml");
        let fix = kubeharden()
            .current_dir(scratch.path())
            .args(["fix", &name, "--profile", "strict", "--output"])
            .arg(&out)
            .output()
            .expect("runs");
        assert_eq!(fix.status.code(), Some(0), "{name}");
        let hardened = std::fs::read_to_string(&out).expect("out");
        let (after, _) = generated_cmdline(&hardened);
        let failed = inputs(&after);
        assert!(
            failed.is_empty(),
            "{name}: scored checks fail: {failed:?}\n{after}"
        );
        if !before.contains("--profiling=false") {
            assert!(
                inputs(&before).contains(&"1.2.15".to_string()),
                "{name}: the oracle must see the unfixed profiling flag"
            );
        }
    }
}

#[test]
fn edits_keep_the_rest_of_the_file() {
    let (registry, _, _) = builtins();
    for (name, bytes) in fixtures("") {
        let text = String::from_utf8(bytes).expect("utf8");
        let scratch = crate::cli::scratch(&name, text.as_bytes());
        let out = scratch.path().join("out.yaml");
        let fix = kubeharden()
            .current_dir(scratch.path())
            .args(["fix", &name, "--profile", "strict", "--output"])
            .arg(&out)
            .output()
            .expect("runs");
        assert_eq!(fix.status.code(), Some(0), "{name}");
        let hardened = std::fs::read_to_string(&out).expect("out");
        // Every original line outside extraArgs survives, in order.
        let kept: Vec<&str> = hardened.lines().collect();
        let mut at = 0;
        let indent = |l: &str| l.len() - l.trim_start().len();
        let mut in_args: Option<usize> = None;
        for line in text.lines() {
            if let Some(i) = in_args {
                if indent(line) > i || line.trim_start().starts_with('-') && indent(line) == i {
                    continue;
                }
                in_args = None;
            }
            if line.trim_start().starts_with("extraArgs:") {
                if !line.contains('{') {
                    in_args = Some(indent(line));
                }
                continue;
            }
            match kept[at..].iter().position(|k| *k == line) {
                Some(i) => at += i + 1,
                None => panic!("{name}: line {line:?} lost\n{hardened}"),
            }
        }
        assert_eq!(
            text.contains("\r\n"),
            hardened.contains("\r\n"),
            "{name}: line endings"
        );
        let cfg = kubeharden::document::kubeadm::try_load(&hardened, &registry.kubeadm)
            .expect("kubeadm")
            .expect("loads");
        assert!(cfg.cluster.is_some(), "{name}");
    }
}

#[test]
fn bad_kubeadm_files_exit_2_name_the_file_and_write_nothing() {
    for (name, bytes) in fixtures("bad") {
        let scratch = crate::cli::scratch(&name, &bytes);
        for args in [
            vec!["check", name.as_str()],
            vec!["diff", name.as_str()],
            vec!["fix", name.as_str(), "--output", "out.yaml"],
        ] {
            let out = kubeharden()
                .current_dir(scratch.path())
                .args(&args)
                .output()
                .expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(&name), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(!scratch.path().join("out.yaml").exists());
        }
    }
}

#[test]
fn v1beta2_is_read_and_reported_as_rejected_by_newer_kubeadm() {
    let name = "v1beta2-on-1.29.yaml";
    let bytes = std::fs::read(dir().join("old").join(name)).expect("fixture");
    let scratch = crate::cli::scratch(name, &bytes);
    let check = kubeharden()
        .current_dir(scratch.path())
        .args(["check", name])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(
        text.contains("no longer accept kubeadm.k8s.io/v1beta2"),
        "{text}"
    );
    let diff = kubeharden()
        .current_dir(scratch.path())
        .args(["diff", name])
        .output()
        .expect("runs");
    assert_eq!(diff.status.code(), Some(2));
    assert!(diff.stdout.is_empty());
}

#[test]
fn diff_with_kubeadm_config_patches_both_files_in_one_patch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"))
            .expect("example");
    std::fs::write(dir.path().join("kube-apiserver.yaml"), &manifest).expect("write");
    std::fs::copy(
        dir_of("v1beta4-kubelet.yaml"),
        dir.path().join("kubeadm.yaml"),
    )
    .expect("copy");
    let out = kubeharden()
        .current_dir(dir.path())
        .args([
            "diff",
            "kube-apiserver.yaml",
            "--kubeadm-config",
            "kubeadm.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let patch = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(patch.contains("+++ b/kube-apiserver.yaml"), "{patch}");
    assert!(patch.contains("+++ b/kubeadm.yaml"), "{patch}");
    std::fs::write(dir.path().join("p.patch"), &out.stdout).expect("write");
    let apply = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["apply", "p.patch"])
        .output()
        .expect("git");
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let again = kubeharden()
        .current_dir(dir.path())
        .args([
            "diff",
            "kube-apiserver.yaml",
            "--kubeadm-config",
            "kubeadm.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(0));
    assert!(again.stdout.is_empty());
}

fn dir_of(name: &str) -> PathBuf {
    dir().join(name)
}

/// A strategic merge patch as kubeadm applies it, for what the probe patch uses: maps merge,
/// `null` deletes, the container list merges by name.
fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if k == "containers" {
                    let items = t.entry(k.clone()).or_insert(serde_json::json!([]));
                    for pc in v.as_array().expect("list") {
                        let name = &pc["name"];
                        if let Some(tc) = items
                            .as_array_mut()
                            .expect("list")
                            .iter_mut()
                            .find(|c| &c["name"] == name)
                        {
                            merge(tc, pc);
                        }
                    }
                } else {
                    merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[test]
fn the_probe_patch_keeps_kubeadm_probes_working_without_anonymous_access() {
    let patch_text = kubeharden()
        .args(["profiles", "template", "kubeadm-probe-patch"])
        .output()
        .expect("runs")
        .stdout;
    let patch: serde_json::Value = yaml_serde::from_slice(&patch_text).expect("yaml");
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kubeadm/v1.29/kube-apiserver.yaml"),
    )
    .expect("fixture");
    let findings = |pod: &serde_json::Value| -> Vec<String> {
        let mut pod = pod.clone();
        pod["spec"]["containers"][0]["command"]
            .as_array_mut()
            .expect("command")
            .push(serde_json::json!("--anonymous-auth=false"));
        let text = yaml_serde::to_string(&pod).expect("yaml");
        let scratch = crate::cli::scratch("kube-apiserver.yaml", text.as_bytes());
        let out = kubeharden()
            .current_dir(scratch.path())
            .args([
                "check",
                "kube-apiserver.yaml",
                "--profile",
                "strict",
                "--format",
                "json",
            ])
            .output()
            .expect("runs");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        report["files"][0]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["rule_id"].as_str().expect("rule_id").to_string())
            .collect()
    };
    let mut pod: serde_json::Value = yaml_serde::from_str(&manifest).expect("yaml");
    // Without the patch, rejecting anonymous requests breaks kubeadm's probes.
    let unpatched = findings(&pod);
    assert!(
        unpatched.iter().any(|i| i.contains("probe")),
        "{unpatched:?}"
    );
    merge(&mut pod, &patch);
    let c = &pod["spec"]["containers"][0];
    for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert!(c[p].get("httpGet").is_none(), "{p}: {}", c[p]);
        assert_eq!(c[p]["tcpSocket"]["port"], 6443, "{p}");
        assert!(
            c[p].get("failureThreshold").is_some(),
            "{p}: the rest is kept"
        );
    }
    let patched = findings(&pod);
    assert!(
        !patched
            .iter()
            .any(|i| i.contains("anonymous") || i.contains("probe")),
        "{patched:?}"
    );
}

#[test]
fn strict_diffs_of_the_kubeadm_fixtures() {
    for (name, bytes) in fixtures("") {
        let scratch = crate::cli::scratch(&name, &bytes);
        let out = kubeharden()
            .current_dir(scratch.path())
            .args(["diff", &name, "--profile", "strict"])
            .output()
            .expect("runs");
        let snap = format!(
            "kubeadm_strict_{}",
            name.trim_end_matches(".yaml").replace(['-', '.'], "_")
        );
        insta::assert_snapshot!(
            snap,
            String::from_utf8_lossy(&out.stdout).replace('\r', "\\r")
        );
    }
}

/// A configuration whose InitConfiguration names kubeadm's patches directory is judged with the
/// kube-apiserver patches kubeadm would apply: TCP probes from a strategic patch let anonymous
/// requests be rejected before 1.32; a missing patch, another patch type or a probe on another
/// port are said, and the probes are then judged as kubeadm writes them.
#[test]
fn patches_directory_probes_are_read() {
    let config = |dir: &str| {
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\npatches:\n  directory: {dir}\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.29.4\napiServer:\n  extraArgs:\n    anonymous-auth: \"false\"\n"
        )
    };
    let patch = "spec:\n  containers:\n  - name: kube-apiserver\n    livenessProbe:\n      httpGet: null\n      tcpSocket:\n        port: 6443\n    readinessProbe:\n      httpGet: null\n      tcpSocket:\n        port: 6443\n    startupProbe:\n      httpGet: null\n      tcpSocket:\n        port: 6443\n";
    let check = |dir: &Path| {
        let out = kubeharden()
            .args(["check", "--profile", "baseline"])
            .arg(dir.join("kubeadm.yaml"))
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let probes_rule = "apiserver-probes-need-anonymous";
    // In the directory named (relative to the configuration), and beside the configuration.
    for (dir_named, patch_at) in [("patches", "patches"), ("/nonexistent/patches", ".")] {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("kubeadm.yaml"), config(dir_named)).expect("write");
        std::fs::create_dir_all(tmp.path().join(patch_at)).expect("mkdir");
        let at = tmp
            .path()
            .join(patch_at)
            .join("kube-apiserver+strategic.yaml");
        std::fs::write(&at, patch).expect("write");
        let (code, out) = check(tmp.path());
        assert!(!out.contains(probes_rule), "{dir_named}: {out}");
        assert!(out.contains("judged with kubeadm's patches"), "{out}");
        assert_eq!(code, Some(1), "{out}");
        // The patch probes another port: not taken.
        std::fs::write(&at, patch.replace("6443", "7443")).expect("write");
        let (code, out) = check(tmp.path());
        assert!(out.contains(probes_rule), "{out}");
        assert!(out.contains("port 7443"), "{out}");
        assert_eq!(code, Some(1));
        // A JSON patch is not read.
        std::fs::remove_file(&at).expect("rm");
        std::fs::write(at.with_file_name("kube-apiserver+json.json"), "[]").expect("write");
        let (_, out) = check(tmp.path());
        assert!(
            out.contains("json patch") && out.contains(probes_rule),
            "{out}"
        );
    }
    // No patch anywhere.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("kubeadm.yaml"), config("patches")).expect("write");
    let (code, out) = check(tmp.path());
    assert!(out.contains("no kube-apiserver patch in"), "{out}");
    assert!(out.contains(probes_rule), "{out}");
    assert_eq!(code, Some(1));
}

/// Every comment of a YAML text, in order: whole-line comments and the ones after a value.
fn comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            if t.starts_with('#') {
                return Some(t.trim_end().to_string());
            }
            l.find(" #").map(|i| l[i + 1..].trim_end().to_string())
        })
        .collect()
}

/// `migrate kubeadm FILE --to v1beta4` on every v1beta3 file of the fixtures: the result is
/// v1beta4, keeps every comment, builds the same kube-apiserver, gets the same findings
/// as the original did, and a second run has nothing to do; a file it cannot convert is refused
/// with its line and column and nothing is written.
#[test]
fn migrate_converts_every_v1beta3_fixture_and_keeps_its_comments() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["kubeadm-config", "kubeadm-config/bad", "kubeadm-migrate"] {
        for e in std::fs::read_dir(root.join(sub)).expect("fixtures") {
            let p = e.expect("entry").path();
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            if p.extension().is_some_and(|x| x == "yaml") && text.contains("kubeadm.k8s.io/v1beta3")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 14, "{}", files.len());
    let (registry, _, _) = builtins();
    let mut converted = 0;
    for f in &files {
        let name = f.file_name().expect("name").to_string_lossy().to_string();
        let original = std::fs::read_to_string(f).expect("read");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join(&name);
        let run = kubeharden()
            .args(["migrate", "kubeadm"])
            .arg(f)
            .args(["--to", "v1beta4", "-o"])
            .arg(&out)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&run.stderr).to_string();
        if f.parent().is_some_and(|d| d.ends_with("bad")) && run.status.code() == Some(2) {
            // Refused: one line naming the file (with a position where one applies); nothing
            // written.
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(err.contains(&name), "{name}: {err}");
            assert!(!out.exists(), "{name}");
            continue;
        }
        assert_eq!(run.status.code(), Some(0), "{name}: {err}");
        let migrated = std::fs::read_to_string(&out).expect("written");
        assert!(!migrated.contains("kubeadm.k8s.io/v1beta3"), "{name}");
        assert!(migrated.contains("kubeadm.k8s.io/v1beta4"), "{name}");
        // Every comment is kept (one that went with a moved timeout moved with it).
        let sorted = |mut v: Vec<String>| {
            v.retain(|c| !c.contains("which v1beta4 keeps here"));
            v.sort();
            v
        };
        assert_eq!(
            sorted(comments(&original)),
            sorted(comments(&migrated)),
            "{name}"
        );
        assert_eq!(
            original.contains("\r\n"),
            migrated.contains("\r\n"),
            "{name}"
        );
        // The same kube-apiserver, when kubeharden reads the file.
        let load = |t: &str| kubeharden::document::kubeadm::try_load(t, &registry.kubeadm);
        if let Some(Ok(before)) = load(&original) {
            let after = load(&migrated).expect("kubeadm").expect("loads");
            assert_eq!(after.api_version, "kubeadm.k8s.io/v1beta4");
            let strip = |m: &kubeharden::model::Model| {
                let mut m = m.clone();
                m.config_api = None;
                m
            };
            assert_eq!(strip(&after.model), strip(&before.model), "{name}");
            // The same findings for 1.36, which reads both; for 1.37 the original alone is
            // reported for its API.
            let rules = |path: &Path, v: &str| -> Vec<String> {
                let o = kubeharden()
                    .args(["check", "--format", "json", "--kubernetes-version", v])
                    .arg(path)
                    .output()
                    .expect("runs");
                let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
                j["files"][0]["findings"]
                    .as_array()
                    .expect("findings")
                    .iter()
                    .map(|x| x["rule_id"].as_str().unwrap_or_default().to_string())
                    .collect()
            };
            assert_eq!(rules(f, "1.36"), rules(&out, "1.36"), "{name}");
            assert!(rules(f, "1.37").contains(&"kubeadm-api-version".to_string()));
            assert!(!rules(&out, "1.37").contains(&"kubeadm-api-version".to_string()));
        }
        // Nothing left to do.
        let again = kubeharden()
            .args(["migrate", "kubeadm"])
            .arg(&out)
            .args(["--to", "v1beta4"])
            .output()
            .expect("runs");
        assert_eq!(again.status.code(), Some(0), "{name}");
        assert!(again.stdout.is_empty());
        converted += 1;
    }
    assert!(converted >= 10, "{converted}");
}

/// The diff `migrate` prints applies to the original and gives what `-o` writes.
#[test]
fn the_migrate_diff_applies_with_patch() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubeadm-migrate/v1beta3-full.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&f, dir.path().join("c.yaml")).expect("copy");
    let diff = kubeharden()
        .current_dir(dir.path())
        .args(["migrate", "kubeadm", "c.yaml", "--to", "v1beta4"])
        .output()
        .expect("runs");
    assert_eq!(diff.status.code(), Some(1));
    std::fs::write(dir.path().join("p.patch"), &diff.stdout).expect("write");
    let written = kubeharden()
        .current_dir(dir.path())
        .args(["migrate", "kubeadm", "c.yaml", "--to", "v1beta4", "-o", "-"])
        .output()
        .expect("runs");
    let applied = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["apply", "p.patch"])
        .output();
    let Ok(applied) = applied else {
        return;
    };
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(
        std::fs::read(dir.path().join("c.yaml")).expect("read"),
        written.stdout
    );
}
