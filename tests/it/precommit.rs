//! `.pre-commit-hooks.yaml`: its structure, and that the command it runs does what
//! docs/pre-commit.md says. `scripts/try-pre-commit.sh` runs the hooks with pre-commit itself.

use crate::cli::kubeharden;
use clap::Parser;
use serde::Deserialize;
use std::path::Path;

/// The keys a hook of `.pre-commit-hooks.yaml` may have that ours use; a misspelt one fails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hook {
    id: String,
    name: String,
    description: String,
    entry: String,
    language: String,
    files: String,
    pass_filenames: bool,
    #[serde(default)]
    require_serial: bool,
    #[serde(default)]
    args: Vec<String>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hooks() -> Vec<Hook> {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).expect("read");
    yaml_serde::from_str(&text).expect(".pre-commit-hooks.yaml is a list of hooks")
}

#[test]
fn pre_commit_hooks_are_well_formed() {
    let hooks = hooks();
    let ids: Vec<&str> = hooks.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["kubeharden-check", "kubeharden-check-strict"]);
    for h in &hooks {
        assert!(!h.name.is_empty() && !h.description.is_empty(), "{}", h.id);
        assert_eq!(
            h.language, "rust",
            "{}: pre-commit builds it with cargo",
            h.id
        );
        assert!(h.pass_filenames, "{}", h.id);
        // pre-commit splits the files into parallel batches otherwise, and a KubeletConfiguration
        // or etcd's manifest in another batch than the kube-apiserver manifest loses its version.
        assert!(h.require_serial, "{}", h.id);
        assert!(h.entry.starts_with("kubeharden check"), "{}", h.id);
        // pre-commit searches each file name with the pattern (Python's re.search).
        let files = regex::Regex::new(&h.files).expect("`files` is a regular expression");
        for name in [
            "kube-apiserver.yaml",
            "m/etcd.yml",
            "kubeadm.json",
            "a/b/config.yaml",
        ] {
            assert!(
                files.is_match(name),
                "{}: `{}` misses {name}",
                h.id,
                h.files
            );
        }
        for name in ["README.md", "kube-apiserver.yaml.bak", "yaml", "Cargo.toml"] {
            assert!(
                !files.is_match(name),
                "{}: `{}` takes {name}",
                h.id,
                h.files
            );
        }
        // pre-commit runs `entry args... FILE...`: a command line kubeharden accepts.
        let mut argv: Vec<String> = h.entry.split_whitespace().map(str::to_string).collect();
        argv.extend(h.args.iter().cloned());
        argv.push("kube-apiserver.yaml".into());
        let cli = kubeharden::cmd::args::Cli::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{}: {argv:?}: {e}", h.id));
        let kubeharden::cmd::args::Command::Check(check) = cli.command else {
            panic!("{}: not `kubeharden check`", h.id);
        };
        assert!(
            check.skip_unrecognized,
            "{}: other YAML must not fail",
            h.id
        );
        let want = if h.id.ends_with("-strict") {
            "strict"
        } else {
            "baseline"
        };
        assert_eq!(check.common.profile, want, "{}", h.id);
    }
    // Where pre-commit is installed, it must accept the file too.
    if let Ok(out) = std::process::Command::new("pre-commit")
        .arg("validate-manifest")
        .arg(root().join(".pre-commit-hooks.yaml"))
        .output()
    {
        assert!(
            out.status.success(),
            "pre-commit validate-manifest: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The hooks' command on what pre-commit passes it: other YAML skipped, manifests checked.
#[test]
fn pre_commit_hooks_skip_other_yaml_and_fail_on_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("values.yaml"), "replicaCount: 2\n").expect("write");
    std::fs::write(
        dir.path().join("workflow.yml"),
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
    )
    .expect("write");
    std::fs::copy(
        root().join("examples/node/etc/kubernetes/manifests/kube-apiserver.yaml"),
        dir.path().join("kube-apiserver.yaml"),
    )
    .expect("copy");
    for h in hooks() {
        let run = |files: &[&str]| {
            kubeharden()
                .current_dir(dir.path())
                .args(h.entry.split_whitespace().skip(1))
                .args(&h.args)
                .args(files)
                .output()
                .expect("runs")
        };
        let out = run(&["values.yaml", "workflow.yml"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            h.id,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("values.yaml: skipped"), "{}: {text}", h.id);
        assert!(text.contains("workflow.yml: skipped"), "{}: {text}", h.id);
        let out = run(&["values.yaml", "kube-apiserver.yaml"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: kubeadm's manifest has findings",
            h.id
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("apiserver-profiling"));
    }
}

/// docs/pre-commit.md's configuration names hooks that exist.
#[test]
fn pre_commit_docs_use_the_hooks_there_are() {
    let doc = std::fs::read_to_string(root().join("docs/pre-commit.md")).expect("doc");
    let ids: Vec<String> = hooks().into_iter().map(|h| h.id).collect();
    let config = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an example .pre-commit-config.yaml");
    let parsed: yaml_serde::Value = yaml_serde::from_str(config).expect("valid YAML");
    let used: Vec<String> = parsed["repos"][0]["hooks"]
        .as_sequence()
        .expect("hooks")
        .iter()
        .filter_map(|h| h["id"].as_str().map(str::to_string))
        .collect();
    assert!(!used.is_empty());
    for id in used {
        assert!(ids.contains(&id), "docs/pre-commit.md uses {id}");
    }
}
