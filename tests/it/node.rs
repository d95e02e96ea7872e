//! `fix` in place and `rollback` on a node laid out under a scratch `--root`: backups, atomic
//! writes, supporting files, the lock, and the interactive flow through a pseudo-terminal.

use crate::cli::kubeharden;
use kubeharden::apply::node::sha256_hex;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const MANIFEST: &str = "etc/kubernetes/manifests/kube-apiserver.yaml";

fn example() -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"))
        .expect("example")
}

/// A node under a scratch root: the example manifest (mode 0640) and the cluster CA.
fn node() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let m = root.path().join(MANIFEST);
    fs::create_dir_all(m.parent().expect("dir")).expect("mkdir");
    fs::write(&m, example()).expect("write");
    fs::set_permissions(&m, fs::Permissions::from_mode(0o640)).expect("chmod");
    let pki = root.path().join("etc/kubernetes/pki");
    fs::create_dir_all(&pki).expect("mkdir");
    fs::write(pki.join("ca.crt"), b"not really a certificate\n").expect("write");
    root
}

/// Every file and directory under `dir`: relative path -> (mode, sha256 of the content).
fn tree(dir: &Path) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let meta = fs::symlink_metadata(&p).expect("meta");
            let rel = p.strip_prefix(dir).expect("prefix").display().to_string();
            if meta.file_type().is_symlink() {
                let to = fs::read_link(&p).expect("link");
                out.insert(rel, (0, format!("-> {}", to.display())));
            } else if meta.is_dir() {
                out.insert(rel, (meta.mode() & 0o7777, String::from("dir")));
                stack.push(p);
            } else {
                let hash = sha256_hex(&fs::read(&p).expect("read"));
                out.insert(rel, (meta.mode() & 0o7777, hash));
            }
        }
    }
    out
}

pub(crate) fn fix(root: &Path, args: &[&str]) -> std::process::Output {
    kubeharden()
        .arg("fix")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// The one backup set directory under the root's default backup location.
fn backup_sets(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("var/lib/kubeharden/backups");
    let mut sets: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    sets.sort();
    sets
}

fn record(set: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(set.join("record.json")).expect("record")).expect("json")
}

#[test]
fn without_a_terminal_and_without_yes_fix_refuses_and_writes_nothing() {
    let root = node();
    let before = tree(root.path());
    for extra in [&[][..], &["--interactive"][..]] {
        let out = fix(root.path(), extra);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("terminal"), "{err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(tree(root.path()), before);
}

#[test]
fn yes_hardens_in_place_with_a_backup_and_supporting_files() {
    let root = node();
    let out = fix(root.path(), &["--profile", "strict", "--yes", "--risky"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The combined diff is printed, and the result passes the profile.
    assert!(text(&out.stdout).contains("+    - --profiling=false"));
    let manifest = root.path().join(MANIFEST);
    let check = kubeharden()
        .args(["check", "--profile", "strict"])
        .arg(&manifest)
        .output()
        .expect("runs");
    // Encryption at rest is turned on only in a new cluster's configuration.
    assert_eq!(
        crate::cli::left_after_fix(&check.stdout),
        ["apiserver-encryption-at-rest"],
        "{}",
        text(&check.stdout)
    );

    // The mode tightened to CIS 1.1.1's 600 (a node scan judges the files too); nothing but
    // the manifest in the static pod directory.
    let meta = fs::metadata(&manifest).expect("meta");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    let names: Vec<String> = fs::read_dir(manifest.parent().expect("dir"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["kube-apiserver.yaml".to_string()]);

    // The supporting files, from the templates, mode 0600; directories created 0700.
    let hardened = fs::read_to_string(&manifest).expect("read");
    for (flag, template) in [
        ("--audit-policy-file=", "audit-policy"),
        ("--admission-control-config-file=", "admission-config"),
    ] {
        let line = hardened
            .lines()
            .find(|l| l.contains(flag))
            .unwrap_or_else(|| panic!("{flag} in {hardened}"));
        let host = line.split_once('=').expect("=").1.trim();
        let local = root.path().join(host.trim_start_matches('/'));
        let want = kubeharden()
            .args([
                "profiles",
                "template",
                template,
                "--kubernetes-version",
                "1.31",
            ])
            .args(["--profile", "strict"])
            .output()
            .expect("runs");
        assert_eq!(fs::read(&local).expect("supporting file"), want.stdout);
        assert_eq!(fs::metadata(&local).expect("meta").mode() & 0o7777, 0o600);
        let dir = fs::metadata(local.parent().expect("dir")).expect("meta");
        assert_eq!(dir.mode() & 0o7777, 0o700, "{host}");
    }
    let logs = root.path().join("var/log/kubernetes/audit");
    assert!(logs.is_dir());
    assert_eq!(fs::metadata(&logs).expect("meta").mode() & 0o7777, 0o700);

    // One backup set, 0700, with the original bytes (0600) and a record of them.
    let sets = backup_sets(root.path());
    assert_eq!(sets.len(), 1);
    assert_eq!(fs::metadata(&sets[0]).expect("meta").mode() & 0o7777, 0o700);
    let rec = record(&sets[0]);
    assert_eq!(rec["command"], "fix");
    assert_eq!(rec["profile"], "strict");
    let files = rec["files"].as_array().expect("files");
    let m = files
        .iter()
        .find(|f| f["path"] == "/etc/kubernetes/manifests/kube-apiserver.yaml")
        .expect("manifest recorded");
    assert_eq!(m["existed"], true);
    assert_eq!(m["perms"]["mode"], 0o640);
    assert_eq!(m["perms"]["uid"], meta.uid());
    let original = example();
    assert_eq!(m["sha256"], sha256_hex(&original));
    assert_eq!(m["written_sha256"], sha256_hex(hardened.as_bytes()));
    let saved = sets[0].join(m["backup"].as_str().expect("backup"));
    assert_eq!(fs::read(&saved).expect("backup"), original);
    assert_eq!(fs::metadata(&saved).expect("meta").mode() & 0o7777, 0o600);
    let created: Vec<&str> = files
        .iter()
        .filter(|f| f["existed"] == false)
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");

    // What happens next, and how to undo it.
    assert!(err.contains("kubelet"), "{err}");
    assert!(err.contains("kubeadm upgrade"), "{err}");
    let id = rec["id"].as_str().expect("id");
    assert!(
        err.contains(&format!("kubeharden rollback {id} --root")),
        "{err}"
    );
    // The lock file is the state directory's, not the manifest directory's.
    assert!(root.path().join("var/lib/kubeharden/lock").exists());
}

#[test]
fn rollback_restores_the_exact_bytes_and_can_itself_be_undone() {
    let root = node();
    let manifest = root.path().join(MANIFEST);
    let before = tree(root.path());
    let out = fix(root.path(), &["--profile", "strict", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hardened = fs::read(&manifest).expect("read");
    let after_fix = tree(root.path());

    let list = rollback(root.path(), &["--list"]);
    assert_eq!(list.status.code(), Some(0));
    let listing = text(&list.stdout);
    let id = backup_sets(root.path())[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(listing.contains(&id), "{listing}");
    assert!(listing.contains("fix --profile strict"), "{listing}");
    assert!(
        listing.contains("changed /etc/kubernetes/manifests/kube-apiserver.yaml"),
        "{listing}"
    );

    let undo = rollback(root.path(), &[]);
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stderr));
    assert_eq!(fs::read(&manifest).expect("read"), example());
    // Everything the fix made is gone again; only kubeharden's own state remains.
    let restored: BTreeMap<_, _> = tree(root.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var"))
        .collect();
    let original: BTreeMap<_, _> = before
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var"))
        .collect();
    assert_eq!(restored, original);
    assert!(!root.path().join("var/log").exists());

    // The rollback made a backup set of its own; rolling that back brings the fix back.
    let sets = backup_sets(root.path());
    assert_eq!(sets.len(), 2);
    let second = record(&sets[1]);
    assert_eq!(second["restores"], id.as_str());
    let again = rollback(root.path(), &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(fs::read(&manifest).expect("read"), hardened);
    let redone: BTreeMap<_, _> = tree(root.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var/lib"))
        .collect();
    let fixed: BTreeMap<_, _> = after_fix
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var/lib"))
        .collect();
    assert_eq!(redone, fixed);
}

#[test]
fn rollback_refuses_a_damaged_backup() {
    let root = node();
    let out = fix(root.path(), &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let manifest = root.path().join(MANIFEST);
    let hardened = fs::read(&manifest).expect("read");
    let set = &backup_sets(root.path())[0];
    let rec = record(set);
    let backup = set.join(rec["files"][0]["backup"].as_str().expect("backup"));
    let mut bytes = fs::read(&backup).expect("read");
    bytes[0] ^= 1;
    fs::write(&backup, bytes).expect("write");
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("sha256"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read(&manifest).expect("read"), hardened);
    assert_eq!(backup_sets(root.path()).len(), 1);
}

#[test]
fn a_missing_file_without_a_template_refuses_that_change_only() {
    let root = node();
    fs::remove_file(root.path().join("etc/kubernetes/pki/ca.crt")).expect("rm");
    let out = fix(root.path(), &["--profile", "strict", "--yes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("apiserver-kubelet-certificate-authority")
            && err.contains("/etc/kubernetes/pki/ca.crt")
            && err.contains("does not exist"),
        "{err}"
    );
    let hardened = fs::read_to_string(root.path().join(MANIFEST)).expect("read");
    assert!(!hardened.contains("--kubelet-certificate-authority"));
    assert!(hardened.contains("--profiling=false"));
}

#[test]
fn an_existing_supporting_file_is_never_overwritten() {
    let root = node();
    let policy = root.path().join("etc/kubernetes/audit/policy.yaml");
    fs::create_dir_all(policy.parent().expect("dir")).expect("mkdir");
    fs::write(&policy, b"# the site's own policy\n").expect("write");
    let out = fix(root.path(), &["--profile", "strict", "--yes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        fs::read(&policy).expect("read"),
        b"# the site's own policy\n"
    );
    assert!(err.contains("keeps it"), "{err}");
    let rec = record(&backup_sets(root.path())[0]);
    let paths: Vec<&str> = rec["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert!(
        !paths.contains(&"/etc/kubernetes/audit/policy.yaml"),
        "{paths:?}"
    );
}

#[test]
fn a_second_run_waits_for_the_lock() {
    let root = node();
    let state = root.path().join("var/lib/kubeharden");
    fs::create_dir_all(&state).expect("mkdir");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("lock"))
        .expect("open");
    lock.lock().expect("lock");
    let before = tree(root.path());
    let out = fix(root.path(), &["--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("another kubeharden run holds the lock"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(root.path()), before);
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    drop(lock);
    let out = fix(root.path(), &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn backups_never_go_into_the_static_pod_directory() {
    let root = node();
    let before = tree(root.path());
    let inside = root.path().join("etc/kubernetes/manifests/backups");
    let out = fix(
        root.path(),
        &["--yes", "--backup-dir", &inside.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("static pod"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(root.path()), before);
}

#[test]
fn named_files_and_manifests_dir_and_backup_dir() {
    let root = node();
    // A static pod directory elsewhere, named with --manifests-dir (a node path under --root).
    let moved = root.path().join("srv/pods/kube-apiserver.yaml");
    fs::create_dir_all(moved.parent().expect("dir")).expect("mkdir");
    fs::rename(root.path().join(MANIFEST), &moved).expect("mv");
    let backups = tempfile::tempdir().expect("tempdir");
    let out = fix(
        root.path(),
        &[
            "--yes",
            "--manifests-dir",
            "/srv/pods",
            "--backup-dir",
            &backups.path().display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fs::read_to_string(&moved)
        .expect("read")
        .contains("--profiling=false"));
    let sets: Vec<_> = fs::read_dir(backups.path()).expect("read").collect();
    assert_eq!(sets.len(), 1);
    assert!(backup_sets(root.path()).is_empty());

    // A file named on the command line (outside the root) is fixed and rolled back too.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let named = elsewhere.path().join("apiserver.yaml");
    fs::write(&named, example()).expect("write");
    let out = fix(root.path(), &["--yes", &named.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_ne!(fs::read(&named).expect("read"), example());
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&named).expect("read"), example());
}

#[test]
fn ownership_is_kept_when_run_as_root() {
    let root = node();
    let manifest = root.path().join(MANIFEST);
    let me = fs::metadata(&manifest).expect("meta");
    if me.uid() != 0 {
        // Only root can give a file to someone else; the mode is checked in every run.
        return;
    }
    std::os::unix::fs::chown(&manifest, Some(4321), Some(4322)).expect("chown");
    // The manifest named: its content is fixed, and the node's files are not judged (a node
    // scan would give it to root:root, CIS 1.1.2).
    let out = fix(root.path(), &["--yes", &manifest.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = fs::metadata(&manifest).expect("meta");
    assert_eq!((after.uid(), after.gid()), (4321, 4322));
    let rec = record(&backup_sets(root.path())[0]);
    assert_eq!(rec["files"][0]["perms"]["uid"], 4321);
    std::os::unix::fs::chown(&manifest, Some(0), Some(0)).expect("chown");
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let back = fs::metadata(&manifest).expect("meta");
    assert_eq!((back.uid(), back.gid()), (4321, 4322));
}

pub(crate) fn rollback(root: &Path, args: &[&str]) -> std::process::Output {
    kubeharden()
        .arg("rollback")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn under_root_links_are_followed_inside_the_root_only() {
    let root = node();
    let host = tempfile::tempdir().expect("tempdir");
    // An absolute link in the image to a path that exists both on this machine and inside
    // the image: the image's file is the one edited.
    let target = host.path().join("k.yaml");
    fs::write(&target, example()).expect("write");
    let inside = root.path().join(target.strip_prefix("/").expect("abs"));
    fs::create_dir_all(inside.parent().expect("dir")).expect("mkdir");
    let m = root.path().join(MANIFEST);
    fs::rename(&m, &inside).expect("mv");
    std::os::unix::fs::symlink(&target, &m).expect("symlink");
    // The audit directory is an absolute link too.
    let other = tempfile::tempdir().expect("tempdir");
    let audit_host = other.path().join("audit");
    fs::create_dir_all(&audit_host).expect("mkdir");
    std::os::unix::fs::symlink(&audit_host, root.path().join("etc/kubernetes/audit"))
        .expect("symlink");
    let out = fix(root.path(), &["--yes", "--profile", "strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&target).expect("host file"), example());
    assert!(fs::read_to_string(&inside)
        .expect("image file")
        .contains("--profiling=false"));
    assert_eq!(fs::read_dir(&audit_host).expect("dir").count(), 0);
    let in_image = root
        .path()
        .join(audit_host.strip_prefix("/").expect("abs"))
        .join("policy.yaml");
    assert!(in_image.is_file(), "{}", text(&out.stderr));
    // The record names node paths, so the rollback stays inside the root as well.
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&inside).expect("image file"), example());
    assert!(!in_image.exists());

    // `..` does not climb out of the root.
    let escape = host.path().join("escape");
    fs::create_dir_all(&escape).expect("mkdir");
    fs::write(escape.join("kube-apiserver.yaml"), example()).expect("write");
    let climb = format!("/../../../../../../..{}", escape.display());
    let out = fix(root.path(), &["--yes", "--manifests-dir", &climb]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(escape.join("kube-apiserver.yaml")).expect("read"),
        example()
    );
}

#[test]
fn a_lock_file_that_is_a_link_is_refused() {
    let root = node();
    let victim = tempfile::NamedTempFile::new().expect("tempfile");
    fs::write(victim.path(), b"important\n").expect("write");
    let state = root.path().join("var/lib/kubeharden");
    fs::create_dir_all(&state).expect("mkdir");
    std::os::unix::fs::symlink(victim.path(), state.join("lock")).expect("symlink");
    let out = fix(root.path(), &["--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("lock"), "{}", text(&out.stderr));
    assert_eq!(fs::read(victim.path()).expect("read"), b"important\n");
    assert_eq!(
        fs::read(root.path().join(MANIFEST)).expect("read"),
        example()
    );
}

#[test]
fn a_backup_dir_reaching_the_static_pod_directory_through_a_link_is_refused() {
    let root = node();
    let link = root.path().join("lnk");
    std::os::unix::fs::symlink(root.path().join("etc/kubernetes/pki"), &link).expect("symlink");
    let sneaky = format!("{}/../manifests/bk", link.display());
    let before = tree(root.path());
    let out = fix(root.path(), &["--yes", "--backup-dir", &sneaky]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("static pod"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(root.path()), before);
}

#[test]
fn a_damaged_or_foreign_backup_set_is_not_trusted() {
    let root = node();
    let manifest = root.path().join(MANIFEST);
    assert_eq!(fix(root.path(), &["--yes"]).status.code(), Some(0));
    let hardened = fs::read(&manifest).expect("read");
    assert_eq!(
        fix(root.path(), &["--yes", "--profile", "strict"])
            .status
            .code(),
        Some(0)
    );
    let stricter = fs::read(&manifest).expect("read");
    let sets = backup_sets(root.path());
    assert_eq!(sets.len(), 2);
    let newest = &sets[1];

    // A truncated newest record: no silent fallback to the older set.
    let rec = newest.join("record.json");
    let good = fs::read(&rec).expect("read");
    fs::write(&rec, &good[..100]).expect("truncate");
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("record.json"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read(&manifest).expect("read"), stricter);
    let out = rollback(root.path(), &["--list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    fs::write(&rec, &good).expect("restore");

    // A set anyone may write to is not trusted.
    fs::set_permissions(newest, fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nobody else"),
        "{}",
        text(&out.stderr)
    );
    fs::set_permissions(newest, fs::Permissions::from_mode(0o700)).expect("chmod");

    // A record whose paths climb out is not trusted.
    let tampered = String::from_utf8(good.clone()).expect("utf8").replace(
        "\"/etc/kubernetes/manifests/",
        "\"/../etc/kubernetes/manifests/",
    );
    fs::write(&rec, tampered).expect("write");
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("clean absolute"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read(&manifest).expect("read"), stricter);
    fs::write(&rec, &good).expect("restore");

    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&manifest).expect("read"), hardened);
}

#[test]
fn a_root_reached_through_a_link_records_node_paths() {
    let root = node();
    let links = tempfile::tempdir().expect("tempdir");
    let link = links.path().join("node");
    std::os::unix::fs::symlink(root.path(), &link).expect("symlink");
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(&link)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rec = record(&backup_sets(root.path())[0]);
    assert_eq!(
        rec["files"][0]["path"],
        "/etc/kubernetes/manifests/kube-apiserver.yaml"
    );
    assert!(rec["files"][0].get("outside_root").is_none());
}

#[test]
fn setuid_and_setgid_bits_survive_fix_and_rollback() {
    let root = node();
    let m = root.path().join(MANIFEST);
    fs::set_permissions(&m, fs::Permissions::from_mode(0o6750)).expect("chmod");
    // Named, so that only the content changes (a node scan would take the bits, CIS 1.1.1).
    let named = m.display().to_string();
    assert_eq!(fix(root.path(), &["--yes", &named]).status.code(), Some(0));
    assert_eq!(fs::metadata(&m).expect("meta").mode() & 0o7777, 0o6750);
    fs::set_permissions(&m, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(rollback(root.path(), &[]).status.code(), Some(0));
    assert_eq!(fs::metadata(&m).expect("meta").mode() & 0o7777, 0o6750);
}

#[test]
fn a_supporting_file_that_is_a_dangling_link_is_not_written_through() {
    let root = node();
    let audit = root.path().join("etc/kubernetes/audit");
    fs::create_dir_all(&audit).expect("mkdir");
    std::os::unix::fs::symlink("/nonexistent/policy.yaml", audit.join("policy.yaml"))
        .expect("symlink");
    let out = fix(root.path(), &["--yes", "--profile", "strict"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("apiserver-audit-policy"), "{err}");
    assert!(!root.path().join("nonexistent").exists());
    assert!(!fs::read_to_string(root.path().join(MANIFEST))
        .expect("read")
        .contains("--audit-policy-file"));
}

#[test]
fn a_link_loop_under_root_is_an_error_not_a_way_out() {
    let root = node();
    let host = tempfile::tempdir().expect("tempdir");
    let m = root.path().join(MANIFEST);
    let policy = host.path().join("policy.yaml");
    let manifest = String::from_utf8(example()).expect("utf8").replace(
        "    - --authorization-mode=Node,RBAC\n",
        &format!(
            "    - --authorization-mode=Node,RBAC\n    - --audit-policy-file={}\n",
            policy.display()
        ),
    );
    fs::write(&m, &manifest).expect("write");
    // Inside the image, the directory is a link to itself: a loop on the node.
    let inside = root
        .path()
        .join(host.path().strip_prefix("/").expect("abs"));
    fs::create_dir_all(inside.parent().expect("dir")).expect("mkdir");
    std::os::unix::fs::symlink(host.path(), &inside).expect("symlink");
    let out = fix(root.path(), &["--yes", "--profile", "strict"]);
    let err = text(&out.stderr);
    assert!(err.contains("too many levels of symbolic links"), "{err}");
    assert!(!policy.exists(), "written on this machine: {err}");
    assert_eq!(fs::read_dir(host.path()).expect("dir").count(), 0);
}

#[test]
fn manifests_needing_one_file_with_different_content_are_refused() {
    let root = node();
    let dir = root.path().join("etc/kubernetes/manifests");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm");
    fs::copy(
        fixtures.join("v1.32/kube-apiserver.yaml"),
        dir.join("kube-apiserver.yaml"),
    )
    .expect("copy");
    fs::copy(
        fixtures.join("v1.35/kube-apiserver.yaml"),
        dir.join("kube-apiserver-2.yaml"),
    )
    .expect("copy");
    let before = tree(root.path());
    let out = fix(root.path(), &["--yes", "--profile", "strict"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("different content"), "{err}");
    // Only kubeharden's own lock appeared.
    let now: BTreeMap<_, _> = tree(root.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var"))
        .collect();
    assert_eq!(now, before);
}

#[test]
fn rollback_list_names_what_a_rollback_removed() {
    let root = node();
    assert_eq!(
        fix(root.path(), &["--yes", "--profile", "strict"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(rollback(root.path(), &[]).status.code(), Some(0));
    let list = rollback(root.path(), &["--list"]);
    let listing = text(&list.stdout);
    assert!(
        listing.contains("removed /etc/kubernetes/audit/policy.yaml"),
        "{listing}"
    );
    assert!(
        listing.contains("created /etc/kubernetes/audit/policy.yaml"),
        "{listing}"
    );
}

#[test]
fn kubeadm_config_gets_the_same_changes_and_rolls_back_with_the_manifest() {
    let root = node();
    let kc = root.path().join("etc/kubernetes/kubeadm.yaml");
    let original = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kubeadm-config/v1beta3-init-cluster.yaml"),
    )
    .expect("fixture");
    fs::write(&kc, &original).expect("write");
    let out = fix(
        root.path(),
        &["--yes", "--kubeadm-config", &kc.display().to_string()],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let hardened = fs::read_to_string(&kc).expect("read");
    assert!(hardened.contains("profiling: \"false\""), "{hardened}");
    // The manifest and the kubeadm file now agree: nothing left to change in either.
    for path in [kc.clone(), root.path().join(MANIFEST)] {
        let again = kubeharden().arg("diff").arg(&path).output().expect("runs");
        assert_eq!(again.status.code(), Some(0), "{}", path.display());
    }
    let rec = record(&backup_sets(root.path())[0]);
    let paths: Vec<&str> = rec["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert!(paths.contains(&"/etc/kubernetes/kubeadm.yaml"), "{paths:?}");
    assert_eq!(rollback(root.path(), &[]).status.code(), Some(0));
    assert_eq!(fs::read(&kc).expect("read"), original);
    assert_eq!(
        fs::read(root.path().join(MANIFEST)).expect("read"),
        example()
    );

    // Not a kubeadm file: refused, nothing written.
    let before = tree(root.path());
    let out = fix(
        root.path(),
        &[
            "--yes",
            "--kubeadm-config",
            &root.path().join(MANIFEST).display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let now: BTreeMap<_, _> = tree(root.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var"))
        .collect();
    let was: BTreeMap<_, _> = before
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var"))
        .collect();
    assert_eq!(now, was);
}

#[test]
fn a_kubeadm_file_fixed_in_place_is_not_a_static_pod_directory() {
    let root = node();
    fs::remove_file(root.path().join(MANIFEST)).expect("rm");
    let kc = root.path().join("etc/kubernetes/kubeadm.yaml");
    let original = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kubeadm-config/v1beta4-crlf.yaml"),
    )
    .expect("fixture");
    fs::write(&kc, &original).expect("write");
    let out = fix(
        root.path(),
        &["--yes", "--profile", "strict", &kc.display().to_string()],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Its directory, /etc/kubernetes, takes the supporting files.
    assert!(
        root.path()
            .join("etc/kubernetes/audit/policy.yaml")
            .is_file(),
        "{err}"
    );
    assert!(fs::read_to_string(&kc)
        .expect("read")
        .contains("name: audit-policy-file"));
    assert_eq!(rollback(root.path(), &[]).status.code(), Some(0));
    assert_eq!(fs::read(&kc).expect("read"), original);
}

#[test]
fn the_whole_node_is_fixed_and_rolled_back_with_every_component() {
    let root = node();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node");
    for f in [
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        "etc/kubernetes/manifests/kube-scheduler.yaml",
        "etc/kubernetes/manifests/etcd.yaml",
        "var/lib/kubelet/config.yaml",
    ] {
        let to = root.path().join(f);
        fs::create_dir_all(to.parent().expect("dir")).expect("mkdir");
        fs::copy(examples.join(f), &to).expect("copy");
    }
    let before = tree(root.path());
    let out = fix(root.path(), &["--profile", "strict", "--yes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for (file, rule) in [
        (
            "etc/kubernetes/manifests/kube-controller-manager.yaml",
            "--profiling=false",
        ),
        (
            "etc/kubernetes/manifests/kube-scheduler.yaml",
            "--profiling=false",
        ),
        ("var/lib/kubelet/config.yaml", "podPidsLimit: 4096"),
    ] {
        let now = fs::read_to_string(root.path().join(file)).expect("read");
        assert!(now.contains(rule), "{file}: {now}");
    }
    // kubeadm's etcd manifest already passes: untouched.
    assert_eq!(
        fs::read(root.path().join("etc/kubernetes/manifests/etcd.yaml")).expect("read"),
        fs::read(examples.join("etc/kubernetes/manifests/etcd.yaml")).expect("read")
    );
    assert!(err.contains("systemctl restart kubelet"), "{err}");
    assert!(
        err.contains("restarts kube-scheduler"),
        "each restarted component is named: {err}"
    );
    // The kubelet's file and etcd take the node's version from the API server's manifest.
    let again = kubeharden()
        .arg("check")
        .arg(root.path().join("etc/kubernetes/manifests"))
        .arg(root.path().join("var/lib/kubelet/config.yaml"))
        .args(["--profile", "strict"])
        .output()
        .expect("runs");
    let report = text(&again.stdout);
    assert!(
        report.contains("kubelet 1.31.0 (from a manifest of the same run"),
        "{report}"
    );
    // One rollback puts every file back, byte for byte, and removes what the fix created.
    let out = rollback(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = tree(root.path());
    for (path, entry) in &before {
        assert_eq!(after.get(path), Some(entry), "{path}");
    }
    for path in after.keys() {
        assert!(
            before.contains_key(path) || path.starts_with("var/lib/kubeharden"),
            "left behind: {path}"
        );
    }
}

/// `fix --yes` makes the safe changes only: the risky ones are left, each named with what can
/// go wrong and what must hold first; `--risky` makes them too.
#[test]
fn yes_makes_only_safe_changes_and_lists_the_risky_ones() {
    let root = node();
    let out = fix(root.path(), &["--profile", "strict", "--yes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let manifest = root.path().join(MANIFEST);
    let after = fs::read_to_string(&manifest).expect("manifest");
    assert!(after.contains("--profiling=false"), "a safe change is made");
    assert!(
        !after.contains("--kubelet-certificate-authority"),
        "a risky change is not"
    );
    for rule in [
        "apiserver-kubelet-certificate-authority",
        "apiserver-anonymous-auth",
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(&format!(": {rule}: not made, risky: ")))
            .unwrap_or_else(|| panic!("{rule} not listed: {err}"));
        assert!(line.contains("make sure first: "), "{line}");
    }
    let check = kubeharden()
        .args(["check", "--profile", "strict", "--format", "json"])
        .arg(&manifest)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&check.stdout).expect("json");
    let left: Vec<(&str, &str)> = v["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default(),
                f["applicability"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        left.contains(&("apiserver-kubelet-certificate-authority", "risky")),
        "{left:?}"
    );
    assert!(
        left.iter()
            .all(|(r, a)| *a == "risky" || *r == "apiserver-encryption-at-rest"),
        "{left:?}"
    );
    // Then --risky makes the rest.
    let out = fix(root.path(), &["--profile", "strict", "--yes", "--risky"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fs::read_to_string(&manifest)
        .expect("manifest")
        .contains("--kubelet-certificate-authority"));
}
