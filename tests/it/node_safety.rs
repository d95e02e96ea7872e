//! `fix` and `rollback` on a node off the happy path: a backup location that a link leads out of
//! `--root` or that someone else can change, the lock taken before anything is read, what an
//! interrupted run left, the modes of the directories a fix creates, and what a rollback says
//! is left to do.

use crate::node::{fix, rollback};
use crate::support::copy_tree;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of `examples/node` (every control-plane manifest and the kubelet's configuration).
fn node() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node"),
        root.path(),
    );
    root
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Every entry below `dir`, relative.
fn entries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.expect("entry").path();
            out.push(p.strip_prefix(dir).expect("prefix").display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn manifest(root: &Path) -> Vec<u8> {
    fs::read(root.join("etc/kubernetes/manifests/kube-apiserver.yaml")).expect("read")
}

#[test]
fn a_link_at_the_backup_location_never_leads_out_of_root() {
    for (link, target) in [
        // The backup directory itself, and a directory above it, as absolute links to a
        // directory of this machine; and a relative link that climbs past the root.
        ("var/lib/kubeharden/backups", None),
        ("var/lib/kubeharden", None),
        (
            "var/lib/kubeharden/backups",
            Some("../../../../../../../../outside"),
        ),
    ] {
        let root = node();
        let outside = tempfile::tempdir().expect("tempdir");
        let at = root.path().join(link);
        fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        let to = target.map_or_else(|| outside.path().to_path_buf(), PathBuf::from);
        std::os::unix::fs::symlink(&to, &at).expect("symlink");
        let out = fix(root.path(), &["--yes"]);
        assert_eq!(out.status.code(), Some(0), "{link}: {}", text(&out.stderr));
        assert!(
            entries(outside.path()).is_empty(),
            "{link}: {:?}",
            entries(outside.path())
        );
        // The backup set is inside the root, where the node itself would have put it.
        let inside = match target {
            None => root
                .path()
                .join(outside.path().strip_prefix("/").expect("absolute")),
            Some(_) => root.path().join("outside"),
        };
        let inside = if link.ends_with("kubeharden") {
            inside.join("backups")
        } else {
            inside
        };
        assert_eq!(
            fs::read_dir(&inside).map(Iterator::count).unwrap_or(0),
            1,
            "{link}: {}",
            text(&out.stderr)
        );
        // And rollback finds it there.
        let back = rollback(root.path(), &[]);
        assert_eq!(
            back.status.code(),
            Some(0),
            "{link}: {}",
            text(&back.stderr)
        );
        assert!(entries(outside.path()).is_empty(), "{link}");
    }
}

#[test]
fn a_backup_directory_others_can_change_is_refused() {
    let root = node();
    let before = manifest(root.path());
    // World-writable.
    let open = root.path().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
    // Its own mode is fine, but the directory above it lets anyone rename it away.
    let loose = root.path().join("loose");
    fs::create_dir(&loose).expect("mkdir");
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o777)).expect("chmod");
    let below = loose.join("backups");
    fs::create_dir(&below).expect("mkdir");
    fs::set_permissions(&below, fs::Permissions::from_mode(0o700)).expect("chmod");
    for (dir, says) in [
        (&open, format!("{}: owned by uid", open.display())),
        (
            &below,
            format!("{} (above {})", loose.display(), below.display()),
        ),
    ] {
        let args = ["--yes", "--backup-dir", &dir.display().to_string()];
        for (cmd, out) in [
            ("fix", fix(root.path(), &args)),
            ("rollback", rollback(root.path(), &args[1..])),
        ] {
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
            assert!(err.contains(&says), "{cmd}: {err}");
            assert!(err.contains("mode 0777"), "{cmd}: {err}");
            assert!(err.contains("nothing was written"), "{cmd}: {err}");
        }
        assert!(entries(dir).is_empty());
    }
    assert_eq!(manifest(root.path()), before);
}

#[test]
#[allow(clippy::print_stderr)]
fn a_backup_directory_of_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: only root can give a directory to another user");
        return;
    }
    let root = node();
    let before = manifest(root.path());
    let theirs = root.path().join("theirs");
    fs::create_dir(&theirs).expect("mkdir");
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown");
    let out = fix(
        root.path(),
        &["--yes", "--backup-dir", &theirs.display().to_string()],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}: owned by uid 65534", theirs.display())),
        "{err}"
    );
    assert!(entries(&theirs).is_empty());
    assert_eq!(manifest(root.path()), before);
}

/// The order of the calls `kubeharden fix` makes, as strace shows them, or why it cannot.
fn traced_fix(root: &Path) -> Result<String, String> {
    let trace = root.join("trace");
    let out = Command::new("strace")
        .args(["-f", "-o"])
        .arg(&trace)
        .args(["-e", "trace=flock,openat,open"])
        .arg(env!("CARGO_BIN_EXE_kubeharden"))
        .args(["fix", "--yes", "--root"])
        .arg(root)
        .output()
        .map_err(|e| format!("strace cannot be run ({e})"))?;
    if !trace.exists() {
        return Err(format!("strace may not trace here: {}", text(&out.stderr)));
    }
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    Ok(fs::read_to_string(&trace).expect("trace"))
}

#[test]
#[allow(clippy::print_stderr)]
fn the_lock_is_taken_before_any_file_of_the_node_is_read() {
    let root = node();
    let trace = match traced_fix(root.path()) {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let lines: Vec<&str> = trace.lines().collect();
    let locked = lines
        .iter()
        .position(|l| l.contains("flock(") && l.contains("LOCK_EX"))
        .expect("a flock");
    let node_paths = ["etc/kubernetes/manifests", "var/lib/kubelet"];
    let first_read = lines
        .iter()
        .position(|l| l.contains("open") && node_paths.iter().any(|p| l.contains(p)))
        .expect("the node's files are read");
    assert!(
        locked < first_read,
        "read before the lock:\n{}",
        lines[..=first_read].join("\n")
    );
}

#[test]
fn what_an_interrupted_run_left_is_removed_by_the_next() {
    let root = node();
    let pods = root.path().join("etc/kubernetes/manifests");
    // A temporary file of a kubeharden that is gone: its process id is that of a finished
    // child. One of a live process (this test) is left alone.
    let gone = Command::new("true").spawn().expect("spawn");
    let gone_pid = gone.id();
    let mut gone = gone;
    gone.wait().expect("wait");
    let dead = pods.join(format!(".kubeharden-{gone_pid}-AbC123"));
    fs::write(&dead, "half a manifest").expect("write");
    let live = pods.join(format!(".kubeharden-{}-XyZ789", std::process::id()));
    fs::write(&live, "being written").expect("write");
    // A backup set whose run was killed before it saved the record (so before it wrote
    // anything else).
    let backups = root.path().join("var/lib/kubeharden/backups");
    let half = backups.join("20261128T153012Z");
    fs::create_dir_all(half.join("files")).expect("mkdir");
    fs::write(half.join("files/1-kube-apiserver.yaml"), "x").expect("write");
    let out = fix(root.path(), &["--yes"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!dead.exists(), "{err}");
    assert!(
        err.contains(&format!(
            "removed /etc/kubernetes/manifests/.kubeharden-{gone_pid}-AbC123, a temporary file an interrupted run left"
        )),
        "{err}"
    );
    assert!(live.exists());
    assert!(!half.exists(), "{err}");
    assert!(err.contains("a backup set an interrupted run left before it wrote anything"));
    // The next rollback is not stopped by it either.
    let back = rollback(root.path(), &[]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
}

#[test]
fn log_directories_get_the_modes_kubernetes_gives_them() {
    let root = node();
    let out = fix(root.path(), &["--yes", "--profile", "strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mode = |p: &str| {
        fs::metadata(root.path().join(p))
            .map(|m| m.mode() & 0o7777)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    // The audit log's own directory as kube-apiserver makes it, the one above it as the kubelet
    // and /var/log make theirs; a directory for a configuration file only for its owner.
    assert_eq!(mode("var/log/kubernetes/audit"), 0o700);
    assert_eq!(mode("var/log/kubernetes"), 0o755);
    assert_eq!(mode("etc/kubernetes/audit"), 0o700);
    // A rollback removes them; undoing the rollback makes them again with the same modes.
    let back = rollback(root.path(), &[]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    assert!(!root.path().join("var/log/kubernetes").exists());
    let again = rollback(root.path(), &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(mode("var/log/kubernetes/audit"), 0o700);
    assert_eq!(mode("var/log/kubernetes"), 0o755);
}

#[test]
fn a_rollback_says_what_restarts_and_what_is_left_to_do() {
    let root = node();
    let out = fix(root.path(), &["--yes", "--profile", "strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let back = rollback(root.path(), &[]);
    let err = text(&back.stderr);
    assert_eq!(back.status.code(), Some(0), "{err}");
    assert!(
        err.contains("the kubelet sees the restored manifest and restarts kube-apiserver"),
        "{err}"
    );
    assert!(err.contains("systemctl restart kubelet"), "{err}");
    // Nothing is left to restore: a second plain rollback undoes the first instead, and one
    // naming the first set again finds every file as it has it.
    let sets: Vec<String> = {
        let mut v: Vec<String> = fs::read_dir(root.path().join("var/lib/kubeharden/backups"))
            .expect("backups")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    let again = rollback(root.path(), &[&sets[0]]);
    let err = text(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{err}");
    assert!(err.contains("nothing to restore"), "{err}");
}

/// A backup set made by hand next to `like` (a set a run made): `id`, with `record` merged into
/// a copy of that set's record.
fn fake_set(like: &Path, id: &str, record: serde_json::Value) -> PathBuf {
    let dir = like.with_file_name(id);
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut r: serde_json::Value =
        serde_json::from_slice(&fs::read(like.join("record.json")).expect("record")).expect("json");
    for (k, v) in record.as_object().expect("object") {
        r[k] = v.clone();
    }
    r["id"] = id.into();
    r["created_unix"] = (r["created_unix"].as_u64().expect("unix") + 60).into();
    let path = dir.join("record.json");
    fs::write(&path, serde_json::to_vec_pretty(&r).expect("json")).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    dir
}

/// A node fixed once: its root, the API server's manifest before, and the fix's backup set.
fn fixed_node() -> (tempfile::TempDir, Vec<u8>, PathBuf) {
    let root = node();
    let before = manifest(root.path());
    let out = fix(root.path(), &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sets: Vec<PathBuf> = fs::read_dir(root.path().join("var/lib/kubeharden/backups"))
        .expect("backups")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    (root, before, sets[0].clone())
}

#[test]
fn a_plain_rollback_passes_over_a_run_that_changed_nothing() {
    let (root, before, fixed) = fixed_node();
    // A later run killed after it saved its record and before its first write.
    let empty = fake_set(
        &fixed,
        "20991231T235959Z",
        serde_json::json!({"incomplete": true, "files": [], "created_dirs": []}),
    );
    let back = rollback(root.path(), &[]);
    let err = text(&back.stderr);
    assert_eq!(back.status.code(), Some(0), "{err}");
    assert!(err.contains("stopped before it changed anything"), "{err}");
    assert!(!empty.exists());
    assert_eq!(manifest(root.path()), before, "{err}");
}

#[test]
fn a_plain_rollback_finishes_a_rollback_that_stopped() {
    let (root, before, fixed) = fixed_node();
    let id = fixed
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    // A rollback of it, killed before its first write.
    fake_set(
        &fixed,
        "20991231T235959Z",
        serde_json::json!({"command": "rollback", "restores": id, "incomplete": true, "files": [], "created_dirs": []}),
    );
    let back = rollback(root.path(), &[]);
    let err = text(&back.stderr);
    assert_eq!(back.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "backup set 20991231T235959Z is a rollback of {id} that stopped part-way; finishing it"
        )),
        "{err}"
    );
    assert_eq!(manifest(root.path()), before, "{err}");
}
