//! The command line as a user meets it: exit codes, output streams, files written or not.

use crate::conformance::fixture_dir;
use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub fn kubeharden() -> Command {
    let mut c = Command::cargo_bin("kubeharden").expect("binary");
    c.env_remove("NO_COLOR");
    c
}

fn fixture(version: &str) -> PathBuf {
    fixture_dir().join(version).join("kube-apiserver.yaml")
}

pub fn styles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/styles")
}

/// A scratch directory holding `name` with the given bytes.
pub fn scratch(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(name), bytes).expect("write");
    dir
}

/// Runs kubeharden with `args` in the current directory.
fn run(args: &[&str]) -> std::process::Output {
    kubeharden().args(args).output().expect("runs")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs `kubeharden diff` in a scratch copy, then `git apply` on the patch, and returns
/// (patched bytes, the `fix --output` bytes).
pub fn diff_apply_and_fix(name: &str, bytes: &[u8], args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let dir = scratch(name, bytes);
    let out = kubeharden()
        .current_dir(dir.path())
        .arg("diff")
        .arg(name)
        .args(args)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "diff {name}: {}", stderr(&out));
    let patch = dir.path().join("p.patch");
    std::fs::write(&patch, &out.stdout).expect("patch");
    let check = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["apply", "--check", "p.patch"])
        .output()
        .expect("git runs");
    assert!(
        check.status.success(),
        "git apply --check {name}: {}\n{}",
        stderr(&check),
        stdout(&out)
    );
    // In a directory of its own: fix --output may write files beside its output (the probe
    // patch of a kubeadm file) that the patch creates beside the input.
    std::fs::create_dir(dir.path().join("fixed")).expect("mkdir");
    let fixed = dir.path().join("fixed/fixed.out");
    let fix = kubeharden()
        .current_dir(dir.path())
        .arg("fix")
        .arg(name)
        .args(args)
        .arg("--output")
        .arg(&fixed)
        .output()
        .expect("runs");
    assert_eq!(fix.status.code(), Some(0), "fix {name}: {}", stderr(&fix));
    assert_eq!(
        std::fs::read(dir.path().join(name)).expect("input"),
        bytes,
        "fix --output touched the input"
    );
    let apply = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["apply", "p.patch"])
        .output()
        .expect("git runs");
    assert!(
        apply.status.success(),
        "git apply {name}: {}",
        stderr(&apply)
    );
    (
        std::fs::read(dir.path().join(name)).expect("patched"),
        std::fs::read(fixed).expect("fixed"),
    )
}

#[test]
fn check_reports_findings_with_exit_1_and_a_hardened_file_with_exit_0() {
    let out = kubeharden()
        .args(["check", "--profile", "strict"])
        .arg(fixture("v1.30"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("apiserver-profiling [CIS 1.2.15]"), "{text}");
    assert!(
        text.contains("--profiling not set → --profiling=false"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );

    let hardened = kubeharden()
        .args(["fix", "--profile", "strict", "-o", "-"])
        .arg(fixture("v1.30"))
        .output()
        .expect("runs");
    assert_eq!(hardened.status.code(), Some(0));
    let dir = scratch("kube-apiserver.yaml", &hardened.stdout);
    let again = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--profile", "strict", "kube-apiserver.yaml"])
        .output()
        .expect("runs");
    // What is left is what strict turns on only in a new cluster's configuration.
    assert_eq!(
        left_after_fix(&again.stdout),
        ["apiserver-encryption-at-rest"],
        "{}",
        stdout(&again)
    );
    // A manual finding does not fail the check, unless --fail-on asks.
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(
        stdout(&again).contains("1 finding(s) (0 fixable, 1 manual)"),
        "{}",
        stdout(&again)
    );
    let asked = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--profile", "strict", "--fail-on", "high,manual"])
        .arg("kube-apiserver.yaml")
        .output()
        .expect("runs");
    assert_eq!(asked.status.code(), Some(1), "{}", stdout(&asked));
    let critical = kubeharden()
        .current_dir(dir.path())
        .args([
            "check",
            "--profile",
            "strict",
            "--fail-on",
            "critical,manual",
        ])
        .arg("kube-apiserver.yaml")
        .output()
        .expect("runs");
    assert_eq!(critical.status.code(), Some(0), "{}", stdout(&critical));
    let baseline = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--profile", "baseline", "kube-apiserver.yaml"])
        .output()
        .expect("runs");
    assert_eq!(baseline.status.code(), Some(0), "{}", stdout(&baseline));
    let diff = kubeharden()
        .current_dir(dir.path())
        .args(["diff", "--profile", "strict", "kube-apiserver.yaml"])
        .output()
        .expect("runs");
    assert_eq!(diff.status.code(), Some(0));
    assert!(diff.stdout.is_empty(), "nothing left to change");
}

#[test]
fn diff_applies_with_git_and_matches_fix_output() {
    for v in ["v1.19", "v1.25", "v1.31", "v1.34", "v1.30-rhel"] {
        let bytes = std::fs::read(fixture(v)).expect("fixture");
        for profile in ["baseline", "strict"] {
            let (patched, fixed) =
                diff_apply_and_fix("kube-apiserver.yaml", &bytes, &["--profile", profile]);
            assert_eq!(
                patched, fixed,
                "{v} {profile}: git apply result differs from fix --output"
            );
        }
    }
}

#[test]
fn diff_headers_use_the_path_as_given() {
    let out = kubeharden()
        .args(["diff", "--profile", "strict"])
        .arg(fixture("v1.31"))
        .output()
        .expect("runs");
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or("");
    assert!(
        first.starts_with("--- a/")
            && first.ends_with("tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml"),
        "{first}"
    );
    assert!(!first.contains("a//"), "{first}");
    // Required files go to stderr, so stdout stays a clean patch.
    assert!(stderr(&out).contains("/etc/kubernetes/audit/policy.yaml"));
    assert!(!text.contains("kubeharden:"));
}

#[test]
fn json_output_follows_schema_version_1() {
    let out = kubeharden()
        .args(["check", "--profile", "strict", "--format", "json"])
        .arg(fixture("v1.28"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["profile"], "strict");
    let file = &v["files"][0];
    assert_eq!(file["status"], "ok");
    assert_eq!(file["kubernetes_version"], "1.28.0");
    assert_eq!(file["version_source"], "image");
    let f = file["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule_id"] == "apiserver-profiling")
        .expect("profiling finding");
    assert_eq!(f["cis"][0], "1.2.15");
    assert_eq!(f["severity"], "medium");
    assert_eq!(f["fixable"], true);
    assert!(f["line"].as_u64().expect("line") > 10);
    assert!(file["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .any(|c| c["kind"] == "add_volume"));
    assert_eq!(v["summary"]["errors"], 0);
    assert_eq!(
        v["summary"]["findings"].as_u64(),
        file["findings"].as_array().map(|a| a.len() as u64)
    );
}

/// A rule's texts are written into the JSON report escaped once per run and reused: they read
/// back exactly, with quotes, backslashes, tabs, line breaks, a line separator, a control
/// character and non-ASCII letters, in every file that has the finding.
#[test]
fn json_reports_a_rules_texts_exactly_in_every_file() {
    let bytes = std::fs::read(fixture("v1.30")).expect("fixture");
    let dir = scratch("a.yaml", &bytes);
    std::fs::write(dir.path().join("b.yaml"), &bytes).expect("write");
    let texts = [
        ("title", "Say \"no\" to C:\\pprof\tnow"),
        (
            "rationale",
            "Line one\nline two: caf\u{e9} \u{2713}, a separator \u{2028} and a control \u{1} char",
        ),
        ("risk", "Backslash \\ and slash / and quote \" at the end\""),
        ("risky_because", "it is \"risky\"\tindeed"),
        ("precondition", "\u{e9}t\u{e9} \\ \"ok\""),
    ];
    // The YAML double-quoted form of each text, in ASCII: a line separator written as it is
    // would be a line break to the profile's YAML reader.
    let yaml = |t: &str| {
        let mut q = String::from("\"");
        for c in t.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                ' '..='~' => q.push(c),
                c => q.push_str(&format!("\\u{:04x}", u32::from(c))),
            }
        }
        q + "\""
    };
    let profile = format!(
        "name: ours\ndescription: texts that need escaping\nextends: baseline\n\
         disable: [apiserver-profiling]\nrules:\n  - id: ours-profiling\n    \
         component: kube-apiserver\n    cis: []\n    severity: low\n    title: {}\n    \
         rationale: {}\n    risk: {}\n    check: {{ flag: profiling, equals: \"false\" }}\n    \
         applicability:\n      risky: {}\n      precondition: {}\n    fix:\n      - steps:\n          \
         - set: {{ flag: profiling, value: \"false\" }}\n",
        yaml(texts[0].1),
        yaml(texts[1].1),
        yaml(texts[2].1),
        yaml(texts[3].1),
        yaml(texts[4].1),
    );
    std::fs::write(dir.path().join("ours.yaml"), profile).expect("write");
    let out = kubeharden()
        .current_dir(dir.path())
        .args([
            "check",
            "--format",
            "json",
            "--profile",
            "ours.yaml",
            "a.yaml",
            "b.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    for file in files {
        let f = file["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule_id"] == "ours-profiling")
            .expect("the profile's finding");
        for (field, text) in texts {
            assert_eq!(f[field].as_str(), Some(text), "{field} in {}", file["path"]);
        }
        assert_eq!(f["docs"], "docs/rules.md#ours-profiling");
        assert_eq!(f["applicability"], "risky");
    }
}

#[test]
fn fix_output_leaves_the_input_untouched() {
    let bytes = std::fs::read(fixture("v1.29")).expect("fixture");
    let dir = scratch("kube-apiserver.yaml", &bytes);
    let out = kubeharden()
        .current_dir(dir.path())
        .args([
            "fix",
            "kube-apiserver.yaml",
            "--profile",
            "strict",
            "--output",
            "hardened.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("kube-apiserver.yaml")).expect("input"),
        bytes
    );
    let hardened = std::fs::read_to_string(dir.path().join("hardened.yaml")).expect("output");
    assert!(hardened.contains("- --profiling=false"));
    assert!(stderr(&out).contains("wrote hardened.yaml"));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn fix_refuses_to_write_over_its_input() {
    let bytes = std::fs::read(fixture("v1.29")).expect("fixture");
    let dir = scratch("kube-apiserver.yaml", &bytes);
    let out = kubeharden()
        .current_dir(dir.path())
        .args([
            "fix",
            "kube-apiserver.yaml",
            "--output",
            "./kube-apiserver.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is the input file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dir.path().join("kube-apiserver.yaml")).expect("input"),
        bytes
    );
}

#[test]
fn bad_inputs_exit_2_name_the_file_and_write_nothing() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("syntax.yaml", b"apiVersion: v1\nkind: Pod\nspec: [\n", "syntax.yaml:"),
        ("deploy.yaml", b"apiVersion: apps/v1\nkind: Deployment\nspec: {}\n", "is a Deployment, not a Pod"),
        ("empty.yaml", b"", "empty"),
        ("binary.yaml", b"\xff\xfe\x00garbage", "not valid UTF-8"),
        ("dup.yaml", b"kind: Pod\nspec:\n  containers: []\n  containers: []\n", "dup.yaml:4:3: duplicate mapping key"),
        ("shell.yaml", b"kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [sh, -c, \"exec kube-apiserver --profiling=true\"]\n", "shell"),
        ("stray.yaml", b"kind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --profiling\n    - \"false\"\n", "stray.yaml:7:7:"),
        ("nope.yaml", b"kind: Pod\nspec:\n  containers:\n  - name: web\n    command: [nginx]\n", "runs no control-plane component"),
        ("label.yaml", b"kind: Pod\nmetadata:\n  labels:\n    component: kube-apiserver\nspec:\n  containers:\n  - name: etcd\n    command: [etcd]\n", "label.yaml:4:16: the Pod is labelled `component: kube-apiserver` but runs etcd"),
        ("two.yaml", b"kind: Pod\n---\nkind: Pod\n", "2 YAML documents"),
    ];
    for (name, bytes, expect) in cases {
        let dir = scratch(name, bytes);
        for args in [
            vec!["check"],
            vec!["diff"],
            vec!["fix", "--output", "out.yaml"],
        ] {
            let out = kubeharden()
                .current_dir(dir.path())
                .args(&args)
                .arg(name)
                .output()
                .expect("runs");
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} {args:?}: {}",
                stderr(&out)
            );
            let err = stderr(&out);
            assert!(err.contains(name), "{name}: {err}");
            assert!(
                err.contains(expect),
                "{name} {args:?}: expected `{expect}` in {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            assert!(
                !dir.path().join("out.yaml").exists(),
                "{name}: fix wrote output"
            );
        }
    }
}

#[test]
fn a_directory_skips_other_manifests_and_keeps_going_after_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixture("v1.30"), dir.path().join("kube-apiserver.yaml")).expect("copy");
    std::fs::write(
        dir.path().join("etcd.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [etcd]\n    name: etcd\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("web.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [nginx]\n    name: web\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("broken.yaml"), "kind: Pod\nspec: [\n").expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not yaml").expect("write");
    std::fs::write(dir.path().join(".hidden.yaml"), "kind: Pod\n").expect("write");
    let out = kubeharden()
        .args(["check", "--profile", "strict"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an error in one file makes the run fail"
    );
    let text = stdout(&out);
    assert!(text.contains("web.yaml: skipped"), "{text}");
    // etcd's manifest is checked with etcd's rules.
    assert!(text.contains("etcd-client-cert-auth [CIS 2.2]"), "{text}");
    assert!(
        text.contains("apiserver-profiling"),
        "the good file is still checked: {text}"
    );
    assert!(stderr(&out).contains("broken.yaml:3:1"), "{}", stderr(&out));
    assert!(
        !text.contains("notes.txt") && !text.contains(".hidden"),
        "{text}"
    );
}

#[test]
fn kubernetes_version_override_and_bad_values() {
    let out = kubeharden()
        .args([
            "check",
            "--format",
            "json",
            "--kubernetes-version",
            "v1.23.4",
        ])
        .arg(fixture("v1.30"))
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["files"][0]["kubernetes_version"], "1.23.4");
    assert_eq!(v["files"][0]["version_source"], "option");
    let out = kubeharden()
        .args(["check", "--kubernetes-version", "latest"])
        .arg(fixture("v1.30"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a Kubernetes 1.x version"));
}

#[test]
fn no_version_anywhere_assumes_the_newest_and_says_so() {
    let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --profiling=false\n    image: example.com/kube-apiserver\n    name: kube-apiserver\n";
    let dir = scratch("m.yaml", text.as_bytes());
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "m.yaml"])
        .output()
        .expect("runs");
    let newest = crate::conformance::builtins().0.versions.newest;
    assert!(
        stdout(&out).contains(&format!("assuming 1.{newest}")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn profiles_and_explain() {
    let out = run(&["profiles", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("baseline") && text.contains("strict"),
        "{text}"
    );
    let out = run(&["profiles", "show", "strict"]);
    let text = stdout(&out);
    assert!(
        text.contains("apiserver-audit-policy") && text.contains("audit_log_maxage: 30"),
        "{text}"
    );
    let out = run(&["explain", "apiserver-anonymous-auth"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("## apiserver-anonymous-auth\n")
            && text.contains("- CIS (CIS Kubernetes Benchmark v2.0.1): 1.2.1")
            && text.contains("Risk:")
            && text.contains("```diff\n"),
        "{text}"
    );
    let out = run(&["explain", "no-such-rule"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown rule `no-such-rule`"));
}

#[test]
fn user_profile_errors_point_at_the_line() {
    let dir = scratch(
        "mine.yaml",
        b"name: mine\ndescription: mine\nextends: strict\nparamters:\n  x: y\n",
    );
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--profile", "mine.yaml"])
        .arg(fixture("v1.30"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("mine.yaml:4:1") && err.contains("paramters"),
        "{err}"
    );
}

#[test]
fn user_profile_disables_and_overrides() {
    let dir = scratch(
        "mine.yaml",
        b"name: mine\ndescription: strict without AlwaysPullImages, longer audit retention\nextends: strict\nparameters:\n  audit_log_maxage: \"90\"\ndisable: [apiserver-admission-always-pull-images]\n",
    );
    std::fs::copy(fixture("v1.30"), dir.path().join("kube-apiserver.yaml")).expect("copy");
    let out = kubeharden()
        .current_dir(dir.path())
        .args([
            "fix",
            "kube-apiserver.yaml",
            "--profile",
            "mine.yaml",
            "-o",
            "-",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("--audit-log-maxage=90"));
    assert!(!text.contains("AlwaysPullImages"));
}

#[test]
fn help_describes_the_commands_and_exit_codes() {
    let out = kubeharden().arg("--help").output().expect("runs");
    let text = stdout(&out);
    for word in ["check", "diff", "fix", "profiles", "explain", "Exit codes"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let out = run(&["check", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "bad usage is exit 2");
}

#[test]
fn profiles_template_prints_the_supporting_file_for_a_version() {
    let out = run(&[
        "profiles",
        "template",
        "authentication-config",
        "--kubernetes-version",
        "1.34",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let v: serde_json::Value = yaml_serde::from_str(&text).expect("renders to YAML");
    assert_eq!(v["apiVersion"], "apiserver.config.k8s.io/v1");
    assert_eq!(v["anonymous"]["conditions"][0]["path"], "/livez");
    let out = run(&[
        "profiles",
        "template",
        "admission-config",
        "--kubernetes-version",
        "1.22",
    ]);
    assert!(
        !stdout(&out).contains("PodSecurity"),
        "no Pod Security configuration before 1.23"
    );
    let out = run(&["profiles", "template", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    // diff points at the command that prints each template it relies on.
    let out = kubeharden()
        .args(["diff", "--profile", "strict"])
        .arg(fixture("v1.31"))
        .output()
        .expect("runs");
    assert!(
        stderr(&out)
            .contains("kubeharden profiles template audit-policy --kubernetes-version 1.31.0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn nothing_to_check_is_an_error() {
    // Only files that are not manifests, and manifests where the walk does not look.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sub/.old")).expect("mkdir");
    std::fs::write(dir.path().join("sub/notes.txt"), "not yaml").expect("write");
    std::fs::copy(
        fixture("v1.31"),
        dir.path().join("sub/.old/kube-apiserver.yaml"),
    )
    .expect("copy");
    std::fs::write(
        dir.path().join("sub/web.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [nginx]\n    name: web\n",
    )
    .expect("write");
    let out = kubeharden()
        .args(["check"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no control-plane manifest or kubelet configuration found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_plugin_the_fix_enables_leaves_the_disable_list() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --enable-admission-plugins=PodSecurity\n    - --disable-admission-plugins=NodeRestriction,AlwaysPullImages,DefaultStorageClass\n    image: registry.k8s.io/kube-apiserver:v1.31.0\n    name: kube-apiserver\n";
    for profile in ["baseline", "strict"] {
        let (_, fixed) = diff_apply_and_fix(
            "kube-apiserver.yaml",
            text.as_bytes(),
            &["--profile", profile],
        );
        let fixed = String::from_utf8(fixed).expect("utf8");
        let list = |flag: &str| -> Vec<String> {
            fixed
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("- --{flag}=")))
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        };
        let enabled = list("enable-admission-plugins");
        let disabled = list("disable-admission-plugins");
        assert!(enabled.contains(&"NodeRestriction".to_string()), "{fixed}");
        assert!(
            disabled.iter().all(|p| !enabled.contains(p)),
            "{profile}: {enabled:?} / {disabled:?}"
        );
        assert!(
            disabled.contains(&"DefaultStorageClass".to_string()),
            "{fixed}"
        );
    }
}

#[test]
fn check_shows_control_characters_from_files_escaped() {
    let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.31.0\n    command:\n    - kube-apiserver\n    - \"--profiling=\\e]0;TITLE\\a\"\n";
    let dir = scratch("kube-apiserver.yaml", text.as_bytes());
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "kube-apiserver.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !out.stdout.contains(&0x1b),
        "a raw escape reached the output"
    );
    assert!(
        stdout(&out).contains("--profiling=\\x1b]0;TITLE\\x07"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn fix_output_to_a_pipe_writes_into_it_and_leaves_it_a_pipe() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch(
        "kube-apiserver.yaml",
        &std::fs::read(fixture("v1.31")).expect("fixture"),
    );
    let fifo = dir.path().join("out.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).expect("read fifo"))
    };
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["fix", "kube-apiserver.yaml", "--output"])
        .arg(&fifo)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Checked before waiting for the reader, which would wait for ever on a replaced pipe.
    assert!(
        std::fs::symlink_metadata(&fifo)
            .expect("meta")
            .file_type()
            .is_fifo(),
        "the pipe was replaced by a file"
    );
    let got = reader.join().expect("reader");
    assert!(String::from_utf8_lossy(&got).contains("--profiling=false"));
}

#[test]
fn skip_unrecognized_skips_named_files_that_are_not_ours() {
    let dir = scratch("values.yaml", b"replicaCount: 2\nimage: nginx\n");
    std::fs::copy(fixture("v1.30"), dir.path().join("kube-apiserver.yaml")).expect("copy");
    // Named, a file that is not ours is an error...
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "values.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    // ...unless --skip-unrecognized: then it is skipped, and with nothing else it passes.
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--skip-unrecognized", "values.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("values.yaml: skipped:"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // The manifest beside it is still checked.
    let out = kubeharden()
        .current_dir(dir.path())
        .args([
            "check",
            "--skip-unrecognized",
            "values.yaml",
            "kube-apiserver.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("apiserver-profiling"));
    // Several documents none of which is a Pod are someone else's; with a Pod, an error.
    std::fs::write(
        dir.path().join("app.yaml"),
        b"kind: Deployment\n---\nkind: Service\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("pods.yaml"),
        b"kind: Pod\n---\nkind: Service\n",
    )
    .expect("write");
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--skip-unrecognized", "app.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--skip-unrecognized", "pods.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    // A file that is not YAML at all is still an error.
    std::fs::write(dir.path().join("broken.yaml"), b"a: [1\n").expect("write");
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "--skip-unrecognized", "broken.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

/// The rules of the findings in `check`'s text output.
pub fn left_after_fix(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (pos, _sev, rule) = (w.next()?, w.next()?, w.next()?);
            pos.contains(':')
                .then(|| rule.trim_end_matches(':').to_string())
                .filter(|r| r.contains('-'))
        })
        .collect()
}

/// A report or diff written to a full device: one line naming what could not be written, exit
/// code 2, no panic, whatever the format (the run stops reading files when its output fails).
#[cfg(target_os = "linux")]
#[test]
fn a_full_output_device_is_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = std::fs::read_to_string(fixture("v1.30")).expect("fixture");
    for i in 0..200 {
        std::fs::write(dir.path().join(format!("m{i:03}.yaml")), &manifest).expect("write");
    }
    let d = dir.path().to_str().expect("utf8");
    let runs: [(&[&str], &str); 6] = [
        (&["check", d], "the report"),
        (&["check", d, "--format", "json"], "the report"),
        (&["check", d, "--format", "sarif"], "the report"),
        (&["check", d, "--format", "gitlab"], "the report"),
        (&["check", d, "--format", "github"], "the report"),
        (&["diff", d, "--profile", "strict"], "the diff"),
    ];
    for (args, what) in runs {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubeharden"))
            .args(args)
            .stdout(full)
            .output()
            .expect("runs");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("kubeharden: error: cannot write {what}: "))
                && err.contains("No space left on device"),
            "{args:?}: {err}"
        );
    }
}
