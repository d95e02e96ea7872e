//! The benchmark scripts parse (`bash -n`; running them takes minutes and Checkov), and the list
//! of Checkov checks they pass is well formed.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn scripts_are_valid_bash() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("scripts")).expect("scripts/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sh") {
            let out = Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("bash runs");
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected bench.sh, bench-checkov.sh and bench-criterion.sh"
    );
}

#[test]
fn checkov_check_list_is_well_formed() {
    let text = std::fs::read_to_string(root().join("scripts/checkov-control-plane-checks.txt"))
        .expect("check list");
    let mut ids = std::collections::BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let id = line.split_whitespace().next().expect("an id");
        let number = id.strip_prefix("CKV_K8S_").expect("a CKV_K8S_ id");
        assert!(number.parse::<u32>().is_ok(), "{line}");
        assert!(ids.insert(id.to_string()), "{id} twice");
    }
    assert!(ids.len() >= 40, "{} checks", ids.len());
}

/// `scripts/gate-sources.sh` lays a kubernetes clone's gate registrations out by release, and
/// `scripts/feature-gates.py` turns them (with the website's pages) into the lifecycle file:
/// run on a small made-up history, with a gate added, one made GA and locked, one removed.
/// Skipped, and said, where python3 or git is missing.
#[test]
#[allow(clippy::print_stderr)]
fn the_feature_gate_scripts_turn_sources_into_lifecycles() {
    let have = |c: &str| Command::new(c).arg("--version").output().is_ok();
    if !have("python3") || !have("git") {
        eprintln!("skipped: python3 and git are needed to run scripts/feature-gates.py");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let k = tmp.path().join("kubernetes");
    let features = k.join("pkg/features");
    std::fs::create_dir_all(&features).expect("mkdir");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&k)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    let release = |minor: u32, specs: &[(&str, &str, bool)]| {
        let mut go = String::from("package features\n\nconst (\n");
        for (name, _, _) in specs {
            go.push_str(&format!("\t{name} featuregate.Feature = \"{name}\"\n"));
        }
        go.push_str(")\n\nvar defaultKubernetesFeatureGates = map[featuregate.Feature]featuregate.FeatureSpec{\n");
        for (name, stage, locked) in specs {
            go.push_str(&format!(
                "\t{name}: {{Default: true, PreRelease: featuregate.{stage}, LockToDefault: {locked}}},\n"
            ));
        }
        go.push_str("}\n");
        std::fs::write(features.join("kube_features.go"), go).expect("write");
        git(&["add", "-A"]);
        git(&["commit", "-qm", &format!("1.{minor}")]);
        git(&["tag", &format!("v1.{minor}.0")]);
    };
    release(19, &[("OldGate", "GA", true), ("NewGate", "Alpha", false)]);
    release(
        20,
        &[
            ("OldGate", "GA", true),
            ("NewGate", "Beta", false),
            ("AddedGate", "Alpha", false),
        ],
    );
    release(
        21,
        &[("NewGate", "GA", true), ("AddedGate", "Deprecated", false)],
    );
    let out = tmp.path().join("releases");
    let laid = Command::new("sh")
        .arg(root().join("scripts/gate-sources.sh"))
        .arg(&k)
        .arg(&out)
        .args(["19", "21"])
        .output()
        .expect("sh runs");
    assert!(
        laid.status.success(),
        "{}",
        String::from_utf8_lossy(&laid.stderr)
    );
    let pages = tmp.path().join("website");
    std::fs::create_dir_all(&pages).expect("mkdir");
    std::fs::write(
        pages.join("OldGate.md"),
        "---\ntitle: OldGate\nstages:\n  - stage: alpha\n    defaultValue: false\n    fromVersion: \"1.10\"\n    toVersion: \"1.11\"\n  - stage: stable\n    defaultValue: true\n    locked: true\n    fromVersion: \"1.12\"\n    toVersion: \"1.20\"\nremoved: true\n---\n",
    )
    .expect("write");
    let gen = Command::new("python3")
        .arg(root().join("scripts/feature-gates.py"))
        .arg(&pages)
        .arg("--releases")
        .arg(&out)
        .args(["--oldest", "19", "--newest", "21"])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&gen.stdout);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    // Already in the oldest release and without a page: where it started is not known.
    assert!(
        text.contains("\n  NewGate: { ga: 21, locked: 21 }\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  AddedGate: { since: 20, deprecated: 21 }\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  OldGate: { since: 10, ga: 12, locked: 12, removed: 21 }\n"),
        "{text}"
    );
    // A removal known from a pull request, for a release whose files are not at hand.
    let removals = tmp.path().join("removals.txt");
    std::fs::write(&removals, "# note\nNewGate 21 k/k#1 (made up)\n").expect("write");
    let gen = Command::new("python3")
        .arg(root().join("scripts/feature-gates.py"))
        .arg(&pages)
        .arg("--releases")
        .arg(&out)
        .arg("--removals")
        .arg(&removals)
        .args(["--oldest", "19", "--newest", "21"])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&gen.stdout);
    assert!(text.contains("\n  NewGate: { removed: 21 }\n"), "{text}");
    // No pages: a clear error.
    let empty = tempfile::tempdir().expect("tempdir");
    let none = Command::new("python3")
        .arg(root().join("scripts/feature-gates.py"))
        .arg(empty.path())
        .output()
        .expect("python3 runs");
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no feature-gate pages"));
}
