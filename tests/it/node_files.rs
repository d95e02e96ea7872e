//! The modes and owners of a node's files (CIS 1.1.x and 4.1.x), on a node laid out under a
//! scratch `--root` with loose modes: `check` lists each with its CIS id, `fix --root --yes`
//! tightens them, kube-bench's own tests (restated in tests/data/cis-files.yaml, checked
//! against kube-bench's files when ../shared has them) then pass for every scored check, and
//! `rollback` gives every mode and owner back.

use crate::cli::kubeharden;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

#[derive(Deserialize)]
struct Data {
    checks: Vec<FileCheck>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct FileCheck {
    id: String,
    scored: bool,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    under: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    etcd_data_dir: bool,
    #[serde(default)]
    bitmask: Option<String>,
    #[serde(default)]
    owner: Option<String>,
}

fn data() -> Vec<FileCheck> {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cis-files.yaml"))
            .expect("cis-files.yaml");
    yaml_serde::from_str::<Data>(&text).expect("parses").checks
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A kubeadm control-plane node with loose modes: manifests 0644, keys 0755, etcd's data
/// 0755, admin.conf owned by someone else (when the test runs as root), and an etcd account.
fn loose_node() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    crate::support::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node"),
        root,
    );
    let put = |p: &str, text: &str, mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    for m in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "etcd",
    ] {
        let p = root.join(format!("etc/kubernetes/manifests/{m}.yaml"));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    fs::set_permissions(
        root.join("var/lib/kubelet/config.yaml"),
        fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    for f in [
        "admin.conf",
        "super-admin.conf",
        "scheduler.conf",
        "controller-manager.conf",
        "kubelet.conf",
    ] {
        put(
            &format!("etc/kubernetes/{f}"),
            "apiVersion: v1\nkind: Config\n",
            0o644,
        );
    }
    for c in [
        "ca",
        "apiserver",
        "front-proxy-ca",
        "etcd/ca",
        "etcd/server",
    ] {
        put(
            &format!("etc/kubernetes/pki/{c}.crt"),
            "certificate\n",
            0o666,
        );
        put(&format!("etc/kubernetes/pki/{c}.key"), "key\n", 0o755);
    }
    put("etc/kubernetes/pki/sa.pub", "public key\n", 0o644);
    put(
        "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "[Service]\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS\n",
        0o644,
    );
    put(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\netcd:x:996:996::/var/lib/etcd:/usr/sbin/nologin\n",
        0o644,
    );
    put("etc/group", "root:x:0:\netcd:x:996:\n", 0o644);
    let data_dir = root.join("var/lib/etcd");
    fs::create_dir_all(data_dir.join("member")).expect("mkdir");
    fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    if is_root() {
        std::os::unix::fs::chown(
            root.join("etc/kubernetes/admin.conf"),
            Some(1000),
            Some(1000),
        )
        .expect("chown");
    }
    dir
}

/// The owner as the node names it (its /etc/passwd and /etc/group; root for 0).
fn owner(root: &Path, meta: &fs::Metadata) -> String {
    let name = |file: &str, id: u32| {
        fs::read_to_string(root.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == id.to_string()).then(|| f[0].to_string())
            })
            .unwrap_or(if id == 0 {
                "root".into()
            } else {
                id.to_string()
            })
    };
    format!(
        "{}:{}",
        name("etc/passwd", meta.uid()),
        name("etc/group", meta.gid())
    )
}

/// The paths a check stats on the node under `root`, as kube-bench finds them.
fn stated(check: &FileCheck, root: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = check
        .paths
        .iter()
        .map(|p| root.join(p.trim_start_matches('/')))
        .collect();
    if check.etcd_data_dir {
        let etcd =
            fs::read_to_string(root.join("etc/kubernetes/manifests/etcd.yaml")).expect("etcd");
        let dir = etcd
            .lines()
            .find_map(|l| l.trim().strip_prefix("- --data-dir="))
            .expect("--data-dir");
        out.push(root.join(dir.trim_start_matches('/')));
    }
    if let Some(under) = &check.under {
        let base = root.join(under.trim_start_matches('/'));
        if check.all {
            out.push(base.clone());
        }
        let mut stack = vec![base];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().to_string();
                if check.all || check.name.as_deref().is_some_and(|n| name.ends_with(n)) {
                    out.push(p.clone());
                }
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
    }
    out.into_iter().filter(|p| p.exists()).collect()
}

/// kube-bench's verdict on `check`: every file passes its test (and there is one).
fn passes(check: &FileCheck, root: &Path) -> bool {
    let paths = stated(check, root);
    !paths.is_empty()
        && paths.iter().all(|p| {
            let meta = fs::metadata(p).expect("meta");
            let mode_ok = check.bitmask.as_deref().is_none_or(|m| {
                let max = u32::from_str_radix(m, 8).expect("octal");
                let actual = meta.mode() & 0o7777;
                max & actual == actual
            });
            let owner_ok = check
                .owner
                .as_deref()
                .is_none_or(|o| owner(root, &meta) == o);
            mode_ok && owner_ok
        })
}

/// Every file and directory under `dir`: relative path -> (mode, uid, gid, content).
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).expect("prefix").display().to_string();
            if rel.starts_with("var/lib/kubeharden") {
                continue;
            }
            let meta = fs::symlink_metadata(&p).expect("meta");
            let content = if meta.is_file() {
                fs::read(&p).expect("read")
            } else {
                Vec::new()
            };
            out.insert(rel, (meta.mode() & 0o7777, meta.uid(), meta.gid(), content));
            if meta.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

fn cis_of_findings(root: &Path) -> (Option<i32>, BTreeSet<String>, serde_json::Value) {
    let out = kubeharden()
        .args(["check", "--format", "json", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut ids = BTreeSet::new();
    for f in v["files"].as_array().expect("files") {
        for x in f["findings"].as_array().into_iter().flatten() {
            if x["rule_id"].as_str().unwrap_or("").starts_with("file-") {
                for c in x["cis"].as_array().expect("cis") {
                    ids.insert(c.as_str().expect("id").to_string());
                }
            }
        }
    }
    (out.status.code(), ids, v)
}

#[test]
fn loose_modes_are_found_fixed_as_kube_bench_wants_and_rolled_back() {
    let node = loose_node();
    let root = node.path();
    let checks = data();
    let before = snapshot(root);

    // check: exactly the checks kube-bench fails, each with its CIS id.
    let failing: BTreeSet<String> = checks
        .iter()
        .filter(|c| !stated(c, root).is_empty() && !passes(c, root))
        .map(|c| c.id.clone())
        .collect();
    let (code, found, report) = cis_of_findings(root);
    assert_eq!(code, Some(1));
    assert_eq!(found, failing, "{report}");
    let schema = crate::schema::load_schema("docs/report.schema.json");
    assert_eq!(
        crate::schema::errors(&schema, &report),
        Vec::<String>::new()
    );
    let sarif = kubeharden()
        .args(["check", "--format", "sarif", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    let sarif: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("sarif");
    let schema = crate::schema::load_schema("tests/data/sarif-2.1.0-subset.schema.json");
    assert_eq!(crate::schema::errors(&schema, &sarif), Vec::<String>::new());
    for id in ["1.1.1", "1.1.11", "1.1.21", "4.1.9"] {
        assert!(found.contains(id), "{id} in {found:?}");
    }
    let text = kubeharden()
        .args(["check", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("file-pki-keys-mode [CIS 1.1.21]: /etc/kubernetes/pki/ca.key (a private key in the PKI directory) mode 0755 → mode 0600 or stricter"),
        "{text}"
    );

    // fix: every mode tightened, never loosened; contents unchanged where no rule edits them.
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("diff --git a/etc/kubernetes/pki/ca.key b/etc/kubernetes/pki/ca.key\nold mode 100755\nnew mode 100600\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let after = snapshot(root);
    for (path, (mode, ..)) in &after {
        if let Some((was, ..)) = before.get(path) {
            assert_eq!(mode & !was, 0, "{path}: {was:o} → {mode:o} added a bit");
        }
    }
    assert_eq!(
        before["etc/kubernetes/pki/ca.key"].3,
        after["etc/kubernetes/pki/ca.key"].3
    );
    // kube-bench's scored checks pass (1.1.12 too: the node has an etcd account).
    for c in checks.iter().filter(|c| c.scored) {
        assert!(
            passes(c, root),
            "{} fails after fix: {:?}",
            c.id,
            stated(c, root)
        );
    }
    let (_, left, report) = cis_of_findings(root);
    assert!(left.is_empty(), "{left:?}: {report}");

    // rollback: every byte, mode and owner as before.
    let out = kubeharden()
        .args(["rollback", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(root), before);
}

/// The owner CIS wants for etcd's data directory needs an account the node has: without one
/// (kubeadm runs etcd as root) the finding is manual, says why, and nothing is forced.
#[test]
fn an_owner_the_node_has_no_account_for_is_reported_not_forced() {
    let node = loose_node();
    let root = node.path();
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("write");
    fs::write(root.join("etc/group"), "root:x:0:\n").expect("write");
    let (_, _, v) = cis_of_findings(root);
    let f = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .flat_map(|f| f["findings"].as_array().into_iter().flatten())
        .find(|x| x["rule_id"] == "file-etcd-data-dir-owner")
        .expect("1.1.12 found")
        .clone();
    assert_eq!(f["status"], "manual", "{f}");
    assert!(
        f["manual"]
            .as_str()
            .unwrap_or("")
            .contains("no etcd account"),
        "{f}"
    );
    let out = kubeharden()
        .args(["fix", "--yes", "--root"])
        .arg(root)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let meta = fs::metadata(root.join("var/lib/etcd")).expect("meta");
    assert_eq!(meta.mode() & 0o7777, 0o700, "the mode is still tightened");
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "the owner is not forced");
}

/// Run as someone who may not give files away: the change of owner is reported, not made, and
/// the run changes nothing it cannot finish.
#[test]
#[allow(clippy::print_stderr)]
fn a_fix_without_root_on_files_it_cannot_chown_reports_and_changes_nothing() {
    if !is_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv to run kubeharden as another user");
        return;
    }
    let node = loose_node();
    let root = node.path();
    let backups = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(backups.path(), Some(65534), Some(65534)).expect("chown");
    // The run's own state (its lock) is the user's; the node's files stay root's.
    let state = root.join("var/lib/kubeharden");
    fs::create_dir_all(&state).expect("mkdir");
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).expect("chown");
    let before = snapshot(root);
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_kubeharden"))
        .args(["fix", "--yes", "--root"])
        .arg(root)
        .arg("--backup-dir")
        .arg(backups.path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "/etc/kubernetes/admin.conf: file-admin-kubeconfig-owner: not made: only root can give the file another owner"
        ),
        "{err}"
    );
    assert_eq!(snapshot(root), before, "{err}");
}

/// The restated checks are kube-bench's: ids, scoring, bitmask and owner (cis-1.12, and
/// cis-2.0 when there), and the profile's rules want the same for the same ids.
#[test]
#[allow(clippy::print_stderr)]
fn file_checks_agree_with_kube_bench_and_the_rules() {
    let checks = data();
    let (_, baseline, _) = crate::support::fuzzing::builtins();
    for c in &checks {
        let rules: Vec<_> = baseline
            .rules
            .iter()
            .filter(|r| r.cis().contains(&c.id))
            .collect();
        assert!(!rules.is_empty(), "{}: no rule", c.id);
        let docs = kubeharden()
            .args(["explain", &c.id])
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&docs.stdout);
        if let Some(m) = &c.bitmask {
            assert!(
                text.contains(&format!("mode {m} or stricter")),
                "{}: {text}",
                c.id
            );
        }
        if let Some(o) = &c.owner {
            assert!(text.contains(&format!("to {o}")), "{}: {text}", c.id);
        }
    }
    let Some(dir) = crate::kube_bench::shared_kube_bench_dir() else {
        eprintln!(
            "skipped: kube-bench control files (../shared/peers/kube-bench) are not available"
        );
        return;
    };
    for bench in ["cis-1.12", "cis-2.0"] {
        let mut theirs: BTreeMap<String, (bool, Option<String>, Option<String>)> = BTreeMap::new();
        for file in ["master.yaml", "node.yaml"] {
            let Ok(text) = fs::read_to_string(dir.join(bench).join(file)) else {
                continue;
            };
            let v: serde_json::Value = yaml_serde::from_str(&text).expect("yaml");
            for g in v["groups"].as_array().into_iter().flatten() {
                let gid = match &g["id"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if gid != "1.1" && gid != "4.1" {
                    continue;
                }
                for c in g["checks"].as_array().into_iter().flatten() {
                    let id = c["id"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| c["id"].to_string());
                    let items = c["tests"]["test_items"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let bitmask = items.iter().find_map(|i| {
                        (i["compare"]["op"] == "bitmask")
                            .then(|| i["compare"]["value"].as_str().unwrap_or("").to_string())
                    });
                    let owner = items.iter().find_map(|i| {
                        let f = i["flag"].as_str().unwrap_or("");
                        if f.contains(':') {
                            Some(f.to_string())
                        } else if i["compare"]["op"] == "eq" {
                            i["compare"]["value"].as_str().map(str::to_string)
                        } else {
                            None
                        }
                    });
                    theirs.insert(id, (c["scored"].as_bool().unwrap_or(false), bitmask, owner));
                }
            }
        }
        if theirs.is_empty() {
            continue;
        }
        for c in &checks {
            let Some((scored, bitmask, owner)) = theirs.get(&c.id) else {
                panic!("{bench}: no check {}", c.id);
            };
            assert_eq!(*scored, c.scored, "{bench} {}", c.id);
            assert_eq!(bitmask, &c.bitmask, "{bench} {}", c.id);
            assert_eq!(owner, &c.owner, "{bench} {}", c.id);
        }
    }
}

/// Paths come from the node's own files: the kubelet's command line (`--kubeconfig`, a
/// `--client-ca-file` that wins over its configuration file) and etcd's `--data-dir`; a
/// profile disables a file rule like any other.
#[test]
fn a_non_default_layout_is_judged_where_the_files_name_it() {
    let node = loose_node();
    let root = node.path();
    let put = |p: &str, text: &str, mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    put(
        "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubelet/node.conf --client-ca-file=/etc/kubelet/ca.pem\"\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS\n",
        0o600,
    );
    put("etc/kubelet/node.conf", "apiVersion: v1\n", 0o640);
    put("etc/kubelet/ca.pem", "certificate\n", 0o666);
    let etcd = root.join("etc/kubernetes/manifests/etcd.yaml");
    let text = fs::read_to_string(&etcd)
        .expect("etcd")
        .replace("--data-dir=/var/lib/etcd", "--data-dir=/data/etcd");
    fs::write(&etcd, text).expect("write");
    fs::create_dir_all(root.join("data/etcd")).expect("mkdir");
    fs::set_permissions(root.join("data/etcd"), fs::Permissions::from_mode(0o750)).expect("chmod");
    let (_, _, v) = cis_of_findings(root);
    let current = |rule: &str| -> Vec<String> {
        v["files"]
            .as_array()
            .expect("files")
            .iter()
            .flat_map(|f| f["findings"].as_array().into_iter().flatten())
            .filter(|x| x["rule_id"] == rule)
            .map(|x| x["current"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        current("file-kubelet-client-ca-mode"),
        ["/etc/kubelet/ca.pem (the CA the kubelet verifies client certificates with) mode 0666"]
    );
    assert_eq!(
        current("file-kubelet-kubeconfig-mode"),
        ["/etc/kubelet/node.conf (the kubelet's kubeconfig) mode 0640"]
    );
    assert_eq!(
        current("file-etcd-data-dir-mode"),
        ["/data/etcd (etcd's data directory) mode 0750"]
    );
    // Disabled by a profile: not judged.
    let profile = root.join("ours.yaml");
    fs::write(
        &profile,
        "name: ours\ndescription: baseline without 1.1.21\nextends: baseline\ndisable: [file-pki-keys-mode]\nrules: []\n",
    )
    .expect("write");
    let (_, ids, _) = {
        let out = kubeharden()
            .args(["check", "--format", "json", "--profile"])
            .arg(&profile)
            .arg("--root")
            .arg(root)
            .output()
            .expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let ids: BTreeSet<String> = v["files"]
            .as_array()
            .expect("files")
            .iter()
            .flat_map(|f| f["findings"].as_array().into_iter().flatten())
            .map(|x| x["rule_id"].as_str().unwrap_or("").to_string())
            .collect();
        (out.status.code(), ids, v)
    };
    assert!(!ids.contains("file-pki-keys-mode"), "{ids:?}");
    assert!(ids.contains("file-apiserver-manifest-mode"), "{ids:?}");
}
