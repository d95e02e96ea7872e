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
