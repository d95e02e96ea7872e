//! `# kubeharden: ignore[RULE-ID] reason` comments, `--no-ignores`, and `check --fail-on`.

use crate::cli::{kubeharden, scratch};
use crate::conformance::fixture_dir;
use serde_json::Value;
use std::path::Path;

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(rel)).expect("fixture")
}

fn kubeadm_config(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kubeadm-config")
            .join(name),
    )
    .expect("fixture")
}

/// Runs kubeharden in `dir`; (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubeharden()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let (_, out, err) = run(dir, &[&["check", "--format", "json"], args].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).expect(needle) as u64 + 1
}

fn finding<'a>(report: &'a Value, rule: &str) -> Option<&'a Value> {
    report["files"][0]["findings"]
        .as_array()?
        .iter()
        .find(|f| f["rule_id"] == rule)
}

fn unused_kinds(report: &Value) -> Vec<(String, u64)> {
    report["files"][0]["unused_suppressions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["kind"].as_str().unwrap_or("").to_string(),
                u["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// kubeadm's 1.31 manifest with `--profiling=true` and a suppression of apiserver-profiling
/// at the end of its line.
fn profiled() -> String {
    fixture("v1.31/kube-apiserver.yaml").replacen(
        "    - --allow-privileged=true\n",
        "    - --allow-privileged=true\n    - --profiling=true  # kubeharden: ignore[apiserver-profiling] scraped by the team's profiler\n",
        1,
    )
}

#[test]
fn a_suppressed_finding_is_reported_but_neither_counted_nor_changed() {
    let text = profiled();
    let dir = scratch("kube-apiserver.yaml", text.as_bytes());
    let file = "kube-apiserver.yaml";

    let report = json(dir.path(), &[file]);
    let f = finding(&report, "apiserver-profiling").expect("still in the JSON report");
    let comment = line_of(&text, "kubeharden: ignore");
    assert_eq!(f["suppressed"]["reason"], "scraped by the team's profiler");
    assert_eq!(f["suppressed"]["line"], comment);
    assert_eq!(f["line"], comment, "the finding is on the flag's line");
    assert_eq!(report["summary"]["suppressed"], 1);
    assert!(unused_kinds(&report).is_empty());

    let (code, out, _) = run(dir.path(), &["check", file]);
    assert_eq!(code, Some(1), "other findings remain: {out}");
    assert!(!out.contains("apiserver-profiling"), "{out}");
    assert!(out.contains("1 suppressed"), "{out}");

    // diff and fix leave the suppressed flag alone and make the other changes.
    let (_, fixed, _) = run(dir.path(), &["fix", file, "--output", "-"]);
    assert!(
        fixed.contains("- --profiling=true  # kubeharden"),
        "{fixed}"
    );
    assert!(fixed.contains("--tls-min-version=VersionTLS12"), "{fixed}");
    let (code, patch, err) = run(dir.path(), &["diff", file]);
    assert_eq!(code, Some(1));
    assert!(!patch.contains("profiling"), "{patch}");
    assert!(
        err.contains("not changed: apiserver-profiling: suppressed by the comment"),
        "{err}"
    );

    // --no-ignores: everything is reported and fixed.
    let (_, out, _) = run(dir.path(), &["check", "--no-ignores", file]);
    assert!(out.contains("apiserver-profiling"), "{out}");
    let report = json(dir.path(), &["--no-ignores", file]);
    assert!(finding(&report, "apiserver-profiling").is_some_and(|f| f.get("suppressed").is_none()));
    let (_, fixed, _) = run(dir.path(), &["fix", "--no-ignores", file, "--output", "-"]);
    assert!(fixed.contains("- --profiling=false"), "{fixed}");
    let (_, patch, _) = run(dir.path(), &["diff", "--no-ignores", file]);
    assert!(patch.contains("-    - --profiling=true"), "{patch}");

    // A file whose only findings are suppressed passes the check.
    let (code, hardened, _) = run(dir.path(), &["fix", "--no-ignores", file, "--output", "-"]);
    assert_eq!(code, Some(0));
    // (The comment stays where it was.) baseline leaves anonymous access to the user: that
    // finding is silenced too, on the program's line.
    let silenced = hardened
        .replacen(
            "- --profiling=false  # kubeharden",
            "- --profiling=true  # kubeharden",
            1,
        )
        .replacen(
            "    - kube-apiserver\n",
            "    - kube-apiserver # kubeharden: ignore[apiserver-anonymous-auth] the probes need it\n",
            1,
        );
    assert_ne!(silenced, hardened);
    let dir = scratch(file, silenced.as_bytes());
    assert_eq!(run(dir.path(), &["check", file]).0, Some(0));
    assert_eq!(run(dir.path(), &["check", "--no-ignores", file]).0, Some(1));
    assert_eq!(
        run(dir.path(), &["diff", file]).0,
        Some(0),
        "nothing to change"
    );
}

#[test]
fn a_comment_above_the_container_silences_its_rules_and_mistakes_are_reported() {
    let text = fixture("v1.31/kube-apiserver.yaml")
        .replacen(
            "  - command:\n",
            "  # kubeharden: ignore[apiserver-tls-min-version, apiserver-tls-cipher-suites] the load balancer terminates TLS\n  - command:\n",
            1,
        )
        .replacen(
            "    - --allow-privileged=true\n",
            "    # kubeharden: ignore[apiserver-anonymous-auth] a comment between flags binds to nothing\n    - --allow-privileged=true\n    - --authorization-mode=Node,RBAC # kubeharden: ignore[apiserver-anonymous-auth]\n",
            1,
        )
        .replacen("    - --authorization-mode=Node,RBAC\n", "", 1)
        .replacen(
            "    image: ",
            "    # kubeharden: ignore apiserver-profiling\n    image: ",
            1,
        );
    let dir = scratch("kube-apiserver.yaml", text.as_bytes());
    let report = json(dir.path(), &["kube-apiserver.yaml"]);
    for rule in ["apiserver-tls-min-version", "apiserver-tls-cipher-suites"] {
        let f = finding(&report, rule).expect(rule);
        assert_eq!(
            f["suppressed"]["reason"],
            "the load balancer terminates TLS"
        );
        assert_eq!(f["suppressed"]["line"], line_of(&text, "load balancer"));
    }
    // The other comments silence nothing and say why, where they are.
    let anon = finding(&report, "apiserver-anonymous-auth").expect("anonymous-auth");
    assert!(anon.get("suppressed").is_none(), "{anon}");
    assert_eq!(
        unused_kinds(&report),
        [
            ("misplaced".to_string(), line_of(&text, "binds to nothing")),
            ("no_reason".to_string(), line_of(&text, "Node,RBAC # kube")),
            (
                "malformed".to_string(),
                line_of(&text, "ignore apiserver-profiling")
            ),
        ]
    );
    let (code, out, _) = run(dir.path(), &["check", "kube-apiserver.yaml"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("suppression without a reason is ignored"),
        "{out}"
    );
    assert!(out.contains("2 suppressed"), "{out}");
    let (_, fixed, _) = run(dir.path(), &["fix", "kube-apiserver.yaml", "--output", "-"]);
    assert!(!fixed.contains("--tls-min-version"), "{fixed}");
    // A blank line between the comment and the container detaches it.
    let detached = text.replacen("TLS\n  - command:", "TLS\n\n  - command:", 1);
    let dir = scratch("kube-apiserver.yaml", detached.as_bytes());
    let report = json(dir.path(), &["kube-apiserver.yaml"]);
    assert!(finding(&report, "apiserver-tls-min-version")
        .is_some_and(|f| f.get("suppressed").is_none()));
    assert_eq!(unused_kinds(&report)[0].0, "misplaced");
}

#[test]
fn configuration_files_take_suppressions_on_the_setting_line_or_above_the_document() {
    // A kubeadm file: the extraArgs entry's line, and above the KubeletConfiguration.
    let text = kubeadm_config("v1beta4-kubelet.yaml")
        .replacen(
            "    - name: profiling\n",
            "    - name: profiling # kubeharden: ignore[apiserver-profiling] scraped by the team's profiler\n",
            1,
        )
        .replacen(
            "---\napiVersion: kubelet.config.k8s.io/v1beta1\n",
            "---\n# kubeharden: ignore[kubelet-protect-kernel-defaults] set by the node image\napiVersion: kubelet.config.k8s.io/v1beta1\n",
            1,
        )
        .replacen(
            "kubernetesVersion: 1.31.2\n",
            "kubernetesVersion: 1.31.2 # kubeharden: ignore[kubelet-seccomp-default] not this line's\n",
            1,
        );
    assert_eq!(text.matches("kubeharden:").count(), 3, "{text}");
    let dir = scratch("kubeadm.yaml", text.as_bytes());
    let args = ["--profile", "strict", "kubeadm.yaml"];
    let report = json(dir.path(), &args);
    for (rule, reason) in [
        ("apiserver-profiling", "scraped by the team's profiler"),
        ("kubelet-protect-kernel-defaults", "set by the node image"),
    ] {
        let f = finding(&report, rule).expect(rule);
        assert_eq!(f["suppressed"]["reason"], reason, "{f}");
    }
    assert!(
        finding(&report, "kubelet-seccomp-default").is_some_and(|f| f.get("suppressed").is_none())
    );
    assert_eq!(
        unused_kinds(&report),
        [("unused".to_string(), line_of(&text, "not this line's"))]
    );
    let (_, fixed, err) = run(dir.path(), &[&["fix", "--output", "-"], &args[..]].concat());
    assert!(
        fixed.contains("- name: profiling # kubeharden"),
        "{fixed}{err}"
    );
    assert!(fixed.contains("value: \"true\""), "{fixed}");
    assert!(!fixed.contains("protectKernelDefaults"), "{fixed}");
    assert!(fixed.contains("seccompDefault: true"), "{fixed}");

    // A KubeletConfiguration file: above its first key.
    let text = format!(
        "# kubeharden: ignore[kubelet-pod-pids-limit] limited by the container runtime\n{}",
        fixture("v1.31/kubelet-config.yaml")
    );
    let dir = scratch("config.yaml", text.as_bytes());
    let args = [
        "--profile",
        "strict",
        "--kubernetes-version",
        "1.31",
        "config.yaml",
    ];
    let report = json(dir.path(), &args);
    let f = finding(&report, "kubelet-pod-pids-limit").expect("pids");
    assert_eq!(f["suppressed"]["line"], 1);
    let (_, fixed, _) = run(dir.path(), &[&["fix", "--output", "-"], &args[..]].concat());
    assert!(!fixed.contains("podPidsLimit"), "{fixed}");
    let (_, fixed, _) = run(
        dir.path(),
        &[&["fix", "--output", "-", "--no-ignores"], &args[..]].concat(),
    );
    assert!(fixed.contains("podPidsLimit"), "{fixed}");
}

#[test]
fn fail_on_sets_the_lowest_severity_that_fails_the_check() {
    let dir = scratch(
        "kube-apiserver.yaml",
        fixture("v1.31/kube-apiserver.yaml").as_bytes(),
    );
    let levels = ["low", "medium", "high", "critical"];
    let report = json(dir.path(), &["kube-apiserver.yaml"]);
    let severities: Vec<usize> = report["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| levels.iter().position(|l| f["severity"] == *l))
        .collect();
    let worst = *severities.iter().max().expect("the fixture has findings");
    assert!(
        worst < 3,
        "some level must pass for this test to mean anything"
    );
    for (i, level) in levels.iter().enumerate() {
        let (code, out, _) = run(
            dir.path(),
            &["check", "--fail-on", level, "kube-apiserver.yaml"],
        );
        let want = if i <= worst { 1 } else { 0 };
        assert_eq!(code, Some(want), "--fail-on {level}: {out}");
        // Findings below the threshold are still reported.
        assert!(out.contains("apiserver-tls-min-version"), "{out}");
        let below = severities.iter().any(|s| *s < i);
        assert_eq!(out.contains("below --fail-on"), below, "{out}");
        let (code, _, _) = run(
            dir.path(),
            &[
                "check",
                "--format",
                "sarif",
                "--fail-on",
                level,
                "kube-apiserver.yaml",
            ],
        );
        assert_eq!(code, Some(want), "sarif, --fail-on {level}");
    }
    // Errors still exit 2.
    std::fs::write(dir.path().join("broken.yaml"), "kind: Pod\nspec: [\n").expect("write");
    let (code, _, _) = run(dir.path(), &["check", "--fail-on", "critical", "."]);
    assert_eq!(code, Some(2));
    let (code, _, err) = run(dir.path(), &["check", "--fail-on", "severe", "."]);
    assert_eq!(code, Some(2), "{err}");
    // The help names the new options.
    let (_, help, _) = run(dir.path(), &["check", "--help"]);
    for word in ["--fail-on", "--no-ignores", "sarif"] {
        assert!(help.contains(word), "{help}");
    }
}
