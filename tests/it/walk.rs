//! Directories as input: named directories are walked (hidden entries and what ignore files
//! list left out), the static pod directory is read one level deep, and one bad path anywhere
//! in the tree is an error of its own.

use crate::cli::kubeharden;
use crate::conformance::fixture_dir;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const BROKEN: &str = "kind: Pod\nspec: [\n";

fn manifest(component: &str) -> Vec<u8> {
    fs::read(
        fixture_dir()
            .join("v1.31")
            .join(format!("{component}.yaml")),
    )
    .expect("fixture")
}

fn put(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

fn run(args: &[&str], paths: &[&Path]) -> std::process::Output {
    kubeharden().args(args).args(paths).output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// The files `check` reports on, in the order of its output.
fn checked(out: &std::process::Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(", profile "))
        .map(|l| l.split(": ").next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn nested_directories_are_walked_and_reported_in_path_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Enough files for every worker to take several, in an order that differs from the
    // order of creation.
    let mut want: Vec<PathBuf> = Vec::new();
    for i in (0..12).rev() {
        for sub in ["b", "a/x/y", "a-c", "a/x"] {
            let p = d.join(sub).join(format!("m{i:02}.yaml"));
            put(&p, &manifest("kube-apiserver"));
            want.push(p);
        }
    }
    put(
        &d.join("a/kube-apiserver.yaml.bak"),
        &manifest("kube-apiserver"),
    );
    put(&d.join("a/notes.txt"), b"not yaml");
    want.sort();
    // A directory named twice (itself and inside another) gives each file once.
    let out = run(&["check"], &[d, &d.join("a")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let want: Vec<String> = want.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(checked(&out), want);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("a/kube-apiserver.yaml.bak: skipped: named like a copy of a manifest"),
        "{stdout}"
    );
    assert!(!stdout.contains("notes.txt"), "{stdout}");
    assert!(
        stdout.ends_with("48 file(s) checked, 192 finding(s) (144 fixable, 48 manual), 0 error(s), 1 skipped\n48 manual finding(s) (left to you, with the reason) do not fail the check; --fail-on low,manual makes them\nto fix: kubeharden diff FILE... | git apply, or kubeharden fix FILE --output NEW-FILE\n"),
        "{stdout}"
    );
    // JSON lists the files in the same order.
    let out = run(&["check", "--format", "json"], &[d]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let paths: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["status"] == "ok")
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, want);
}

#[test]
fn hidden_files_and_directories_are_not_read_unless_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    put(
        &d.join("sub/kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    put(&d.join(".cache/kube-apiserver.yaml"), BROKEN.as_bytes());
    put(&d.join("sub/.old/kube-apiserver.yaml"), BROKEN.as_bytes());
    put(&d.join("sub/.kube-apiserver.yaml"), BROKEN.as_bytes());
    let out = run(&["check"], &[d]);
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(
        checked(&out),
        [d.join("sub/kube-apiserver.yaml").display().to_string()]
    );
    for hidden in [".cache", ".old", ".kube-apiserver"] {
        assert!(!all.contains(hidden), "{all}");
    }
    // A hidden directory named on the command line is read.
    let out = run(&["check"], &[&d.join(".cache")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(".cache/kube-apiserver.yaml:3:1"),
        "{}",
        text(&out.stderr)
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

#[test]
fn gitignore_and_info_exclude_are_respected_inside_a_git_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    put(
        &repo.join("clusters/a/kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    put(&repo.join(".gitignore"), b"generated/\n");
    put(
        &repo.join("clusters/generated/kube-apiserver.yaml"),
        BROKEN.as_bytes(),
    );
    put(&repo.join("clusters/a/.gitignore"), b"scratch-*.yaml\n");
    put(&repo.join("clusters/a/scratch-1.yaml"), BROKEN.as_bytes());
    put(&repo.join("clusters/tmp.yaml"), BROKEN.as_bytes());
    fs::write(repo.join(".git/info/exclude"), "/clusters/tmp.yaml\n").expect("exclude");
    let want = [repo
        .join("clusters/a/kube-apiserver.yaml")
        .display()
        .to_string()];
    for walked in [repo.to_path_buf(), repo.join("clusters")] {
        // From the repository's top, and from a directory inside it (the parents' rules).
        let out = run(&["check"], &[&walked]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            walked.display(),
            text(&out.stderr)
        );
        assert_eq!(checked(&out), want);
    }
    // A file named on the command line is read whatever the ignore files say.
    let out = run(&["check"], &[&repo.join("clusters/tmp.yaml")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_gitignore_outside_a_git_repository_is_not_followed_but_an_ignore_file_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    put(&d.join("kube-apiserver.yaml"), &manifest("kube-apiserver"));
    // git ignores nothing outside a repository, and neither does kubeharden.
    put(&d.join(".gitignore"), b"drafts/\n");
    put(&d.join("drafts/kube-apiserver.yaml"), BROKEN.as_bytes());
    // An `.ignore` file is for tools like this one, repository or not.
    put(&d.join(".ignore"), b"old/\n");
    put(&d.join("old/kube-apiserver.yaml"), BROKEN.as_bytes());
    let out = run(&["check"], &[d]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("drafts/kube-apiserver.yaml:3:1"), "{err}");
    assert!(!err.contains("old/"), "{err}");
    assert_eq!(
        checked(&out),
        [d.join("kube-apiserver.yaml").display().to_string()]
    );
}

#[test]
fn the_static_pod_directory_stays_one_level_deep() {
    // fix --output takes one input: a second one found below the static pod directory would
    // make it refuse.
    let dir = tempfile::tempdir().expect("tempdir");
    let pods = dir.path().join("pods");
    put(
        &pods.join("kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    put(
        &pods.join("old/kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let out_file = scratch.path().join("out.yaml");
    let base = ["fix", "--output", &out_file.display().to_string()];
    for named in [false, true] {
        let mut args: Vec<&str> = base.to_vec();
        let pods_arg = pods.display().to_string();
        args.extend(["--manifests-dir", &pods_arg]);
        if named {
            args.push(&pods_arg);
        }
        let out = run(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    // Met inside a walk, it is still read one level deep.
    let pods_arg = pods.display().to_string();
    let out = run(
        &[&base[..], &["--manifests-dir", &pods_arg]].concat(),
        &[dir.path()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Any other directory is walked.
    let out = run(&base, &[&pods]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("takes exactly one input manifest, got 2"),
        "{}",
        text(&out.stderr)
    );

    // fix in place on a node under --root: the manifest is fixed, the one below is not read.
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let example =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"))
            .expect("example");
    put(
        &r.join("etc/kubernetes/manifests/kube-apiserver.yaml"),
        &example,
    );
    put(
        &r.join("etc/kubernetes/manifests/old/kube-apiserver.yaml"),
        BROKEN.as_bytes(),
    );
    put(&r.join("etc/kubernetes/pki/ca.crt"), b"not a certificate\n");
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(r)
        .output()
        .expect("runs");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("old"), "{err}");
    assert_ne!(
        fs::read(r.join("etc/kubernetes/manifests/kube-apiserver.yaml")).expect("read"),
        example
    );
}

#[test]
fn a_broken_file_deep_in_the_tree_is_an_error_naming_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    put(
        &d.join("a/kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    put(&d.join("a/b/c/d/broken.yaml"), BROKEN.as_bytes());
    put(
        &d.join("z/kube-scheduler.yaml"),
        &manifest("kube-scheduler"),
    );
    let out = run(&["check"], &[d]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "kubeharden: error: {}:3:1",
            d.join("a/b/c/d/broken.yaml").display()
        )),
        "{err}"
    );
    assert_eq!(checked(&out).len(), 2, "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("2 file(s) checked, 5 finding(s)")
            && text(&out.stdout).contains(", 1 error(s), 0 skipped"),
        "{}",
        text(&out.stdout)
    );
    // diff still prints the patch for the others.
    let out = run(&["diff"], &[d]);
    assert_eq!(out.status.code(), Some(2));
    let patch = text(&out.stdout);
    assert!(patch.contains("a/kube-apiserver.yaml\n"), "{patch}");
    assert!(patch.contains("z/kube-scheduler.yaml\n"), "{patch}");
}

#[test]
fn diff_ends_with_a_summary_line_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    put(&d.join("kube-apiserver.yaml"), &manifest("kube-apiserver"));
    put(&d.join("etcd.yaml"), &manifest("etcd"));
    put(
        &d.join("web/web.yaml"),
        b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [nginx]\n    name: web\n",
    );
    put(&d.join("web/broken.yaml"), BROKEN.as_bytes());
    let out = run(&["diff"], &[d]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(
        err.lines().last(),
        Some("kubeharden: 2 file(s) checked, 1 with changes, 1 error(s), 1 skipped"),
        "{err}"
    );
    // Nothing on stdout but the patch.
    assert!(
        text(&out.stdout).starts_with("--- a/"),
        "{}",
        text(&out.stdout)
    );

    // A file with nothing to change.
    let hardened = d.join("hardened.yaml");
    let out = kubeharden()
        .arg("fix")
        .arg(d.join("kube-apiserver.yaml"))
        .arg("--output")
        .arg(&hardened)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["diff"], &[&hardened]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr).lines().last(),
        Some("kubeharden: 1 file(s) checked, 0 with changes, 0 error(s), 0 skipped")
    );
}

#[test]
fn symlinked_directories_are_mentioned_not_followed_and_named_links_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = dir.path().join("elsewhere");
    put(
        &elsewhere.join("kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    let walked = dir.path().join("walked");
    fs::create_dir_all(&walked).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, walked.join("linked")).expect("link");
    std::os::unix::fs::symlink(
        elsewhere.join("kube-apiserver.yaml"),
        walked.join("apiserver.yaml"),
    )
    .expect("link");
    let out = run(&["check"], &[&walked]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        checked(&out),
        [walked.join("apiserver.yaml").display().to_string()]
    );
    assert!(
        text(&out.stdout).contains("linked: skipped: a symbolic link to a directory"),
        "{}",
        text(&out.stdout)
    );
    // Named, a link to a directory is walked and a link to a file is read.
    for named in [walked.join("linked"), walked.join("apiserver.yaml")] {
        let out = run(&["check"], &[&named]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert_eq!(checked(&out).len(), 1);
    }
}

/// A file reached more than once (through links to it inside the walk, or by a path named
/// besides the directory) is read once, where it comes first in the order of the inputs.
#[test]
fn a_file_reached_twice_is_read_once_where_it_comes_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("d");
    put(&d.join("b.yaml"), &manifest("kube-apiserver"));
    put(
        &dir.path().join("elsewhere/e.yaml"),
        &manifest("kube-scheduler"),
    );
    for (link, to) in [
        ("a-link.yaml", d.join("b.yaml")),
        ("z-link.yaml", d.join("b.yaml")),
        ("sub/y-link.yaml", d.join("b.yaml")),
        ("x-out.yaml", dir.path().join("elsewhere/e.yaml")),
        ("sub/w-out.yaml", dir.path().join("elsewhere/e.yaml")),
    ] {
        fs::create_dir_all(d.join(link).parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(&to, d.join(link)).expect("link");
    }
    let shown = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| d.join(n).display().to_string())
            .collect()
    };
    let b = d.join("b.yaml");
    let e = dir.path().join("elsewhere/e.yaml");
    for (paths, want) in [
        (vec![&d], shown(&["a-link.yaml", "sub/w-out.yaml"])),
        (vec![&d, &b], shown(&["a-link.yaml", "sub/w-out.yaml"])),
        (vec![&d, &d], shown(&["a-link.yaml", "sub/w-out.yaml"])),
        (
            vec![&b, &d],
            [vec![b.display().to_string()], shown(&["sub/w-out.yaml"])].concat(),
        ),
        (
            vec![&e, &d, &b],
            [vec![e.display().to_string()], shown(&["a-link.yaml"])].concat(),
        ),
    ] {
        let paths: Vec<&Path> = paths.into_iter().map(PathBuf::as_path).collect();
        let out = run(&["check"], &paths);
        assert_eq!(checked(&out), want, "{paths:?}: {}", text(&out.stderr));
    }
}

/// Directories named inside one another, in either order and among others, give each file
/// once: the first walk that holds a file gives it, and a later walk of a directory around it
/// or inside it does not (a walk is looked for by the directories around a file, not among all
/// the walks before).
#[test]
fn nested_directories_named_in_any_order_give_each_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p");
    let q = p.join("q");
    let other = dir.path().join("other");
    put(&q.join("x.yaml"), &manifest("kube-apiserver"));
    put(&p.join("y.yaml"), &manifest("kube-scheduler"));
    put(&other.join("z.yaml"), &manifest("etcd"));
    let (x, y, z) = (q.join("x.yaml"), p.join("y.yaml"), other.join("z.yaml"));
    let shown = |files: &[&PathBuf]| -> Vec<String> {
        files.iter().map(|f| f.display().to_string()).collect()
    };
    for (paths, want) in [
        (vec![&q, &p], shown(&[&x, &y])),
        (vec![&p, &q], shown(&[&x, &y])),
        (vec![&q, &other, &p], shown(&[&x, &z, &y])),
        (vec![&p, &other, &q, &p], shown(&[&x, &y, &z])),
        (vec![&other, &q, &other, &p, &q], shown(&[&z, &x, &y])),
    ] {
        let paths: Vec<&Path> = paths.into_iter().map(PathBuf::as_path).collect();
        let out = run(&["check"], &paths);
        assert_eq!(checked(&out), want, "{paths:?}: {}", text(&out.stderr));
    }
}

/// Runs kubeharden as a user whom file permissions bind: this user, or, as root (where they do
/// not), the unprivileged uid 65534 when it can run the binary. None when neither can be had.
pub(crate) fn unprivileged() -> Option<std::process::Command> {
    use std::os::unix::process::CommandExt;
    let bin = env!("CARGO_BIN_EXE_kubeharden");
    let mut cmd = std::process::Command::new(bin);
    if rustix::process::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
        let probe = std::process::Command::new(bin)
            .uid(65534)
            .gid(65534)
            .arg("--version")
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            return None;
        }
    }
    Some(cmd)
}

#[test]
#[allow(clippy::print_stderr)]
fn an_unreadable_directory_is_an_error_for_that_path_only() {
    let Some(mut cmd) = unprivileged() else {
        eprintln!("skipped: running as root, and no unprivileged user can run the binary");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
    put(
        &d.join("a/kube-apiserver.yaml"),
        &manifest("kube-apiserver"),
    );
    put(&d.join("locked/in/kube-apiserver.yaml"), BROKEN.as_bytes());
    put(
        &d.join("z/kube-scheduler.yaml"),
        &manifest("kube-scheduler"),
    );
    for sub in ["a", "locked/in", "z"] {
        fs::set_permissions(d.join(sub), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    fs::set_permissions(d.join("locked"), fs::Permissions::from_mode(0o000)).expect("chmod");
    let out = cmd.arg("check").arg(d).output().expect("runs");
    fs::set_permissions(d.join("locked"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "kubeharden: error: {}: cannot read directory: Permission denied",
            d.join("locked").display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        checked(&out),
        [
            d.join("a/kube-apiserver.yaml").display().to_string(),
            d.join("z/kube-scheduler.yaml").display().to_string()
        ]
    );
    assert!(
        text(&out.stdout).contains(", 1 error(s), 0 skipped"),
        "{}",
        text(&out.stdout)
    );
}
