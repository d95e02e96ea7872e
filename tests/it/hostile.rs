//! Hostile input: each gets a clear error (exit 2, the file named, nothing written) or correct
//! handling, in bounded time and memory. The bounds are generous ceilings on a whole run, so
//! that a hang or an exponential blow-up fails the test; speed is measured by scripts/bench.sh.
//! The runs here go through `bounded`, which caps the address space (so a blow-up in memory
//! fails too). The limits are in docs/limits.md.
//!
//! Each hostile input of issue 7 and its test:
//! - YAML alias bomb: `an_alias_bomb_is_refused_quickly`; `alias-bomb.yaml` in
//!   tests/fixtures/styles (fixtures::every_style_fixture_patches_cleanly_or_is_refused_for_a_stated_reason).
//! - deeply nested documents: `deep_nesting_is_refused_at_its_place`; `bad/deep-nesting.yaml`
//!   (fixtures::every_bad_fixture_exits_2_naming_the_file_and_writes_nothing).
//! - a 50 MB file and very long lines:
//!   `a_file_over_the_size_limit_is_refused_unread_and_a_long_line_is_fine`.
//! - invalid UTF-8, NUL bytes, tabs, duplicate keys, a UTF-8 BOM, in manifests and kubeadm
//!   files: `bad_bytes_are_refused_and_a_bom_is_kept`; also cli::bad_inputs_exit_2_name_the_file_and_write_nothing
//!   and the `bad/` fixtures (`nul-byte.yaml`, `binary.yaml`, `latin1-comment.yaml`,
//!   `tab-indent.yaml`, `tabs.yaml`, `duplicate-keys.yaml`) and `bom.yaml`.
//! - a manifest that is a symlink, inside or outside the directory:
//!   `a_manifest_that_is_a_symlink_is_read_through_it`; links to directories:
//!   walk::symlinked_directories_are_mentioned_not_followed_and_named_links_are_read.
//! - long lists in one manifest (100,000 flags, a list flag of 100,000 items, a mapping of
//!   100,000 keys, 60,000 volumes, 20,000 mounts of one directory, 100,000 volumes named as a
//!   new one would be, 200,000 admission plugins of which half are gone):
//!   `long_lists_in_a_manifest_take_time_in_proportion`.
//! - a KubeletConfiguration with 100,000 feature gates:
//!   `many_feature_gates_in_a_kubelet_configuration_take_time_in_proportion`.
//! - an `.ignore` file of 200,000 lines that are not patterns:
//!   `an_ignore_file_of_many_lines_that_are_not_patterns_is_walked_in_bounded_time`.
//! - a directory of 100,000 files: `a_directory_of_100000_files_is_checked_in_bounded_time`
//!   (and 10,000: `many_small_files_of_another_kind_are_skipped_in_bounded_time`); 20,000
//!   directories named: `many_directories_named_are_walked_in_bounded_time`.
//! - unreadable files: `an_unreadable_file_is_an_error_for_that_file_only`; unreadable
//!   directories: walk::an_unreadable_directory_is_an_error_for_that_path_only.
//! - a read-only file system for `fix`: `fix_on_a_read_only_file_system_writes_nothing`.

use std::path::Path;
use std::time::{Duration, Instant};

const CEILING: Duration = Duration::from_secs(20);

/// The address space a run may use (`ulimit -v`, in KiB): 2 GiB, with two malloc arenas so the
/// reservation does not grow with the number of cores. A check of 100,000 files peaks below
/// 100 MB of resident memory (docs/limits.md); an alias bomb expanded would need gigabytes.
const ADDRESS_SPACE_KIB: u64 = 2 * 1024 * 1024;

/// kubeharden under `sh -c 'ulimit -v ...; exec kubeharden ARGS'`: a run that tries to use more
/// memory than that fails (its allocation aborts it), instead of swapping for minutes.
fn bounded() -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_kubeharden"))
        .env("MALLOC_ARENA_MAX", "2")
        .env_remove("NO_COLOR");
    c
}

fn check(dir: &Path, args: &[&str]) -> (Option<i32>, String, String, Duration) {
    let start = Instant::now();
    let out = bounded()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        start.elapsed(),
    )
}

/// `check` and then `diff` of `file` in `dir` with strict, each inside the ceiling and exiting
/// with one of `codes`: their standard outputs.
fn check_and_diff(dir: &Path, file: &str, codes: &[i32]) -> (String, String) {
    let mut outs = Vec::new();
    for command in ["check", "diff"] {
        let (code, out, err, took) = check(dir, &[command, "--profile", "strict", file]);
        assert!(
            code.is_some_and(|c| codes.contains(&c)),
            "{command} {file}: {code:?} {err}"
        );
        assert!(took < CEILING, "{command} {file}: {took:?}");
        outs.push(out);
    }
    let diff = outs.pop().unwrap_or_default();
    (outs.pop().unwrap_or_default(), diff)
}

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"),
    )
    .expect("example")
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nine levels of nine aliases: 387 million leaves if expanded.
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text.push_str("kind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver, *a9]\n");
    std::fs::write(dir.path().join("bomb.yaml"), &text).expect("write");
    let (code, _, err, took) = check(dir.path(), &["diff", "bomb.yaml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bomb.yaml:"), "{err}");
    assert!(took < CEILING, "{took:?}");
}

#[test]
fn a_file_over_the_size_limit_is_refused_unread_and_a_long_line_is_fine() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 50 MB: over the documented 16 MiB limit.
    let big = dir.path().join("big.yaml");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(50 * 1024 * 1024).expect("size");
    let (code, _, err, took) = check(dir.path(), &["check", "big.yaml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("big.yaml") && err.contains("larger than"),
        "{err}"
    );
    assert!(took < CEILING, "{took:?}");
    // A 4 MB comment line on a real manifest: read and checked like any other.
    let long = format!("# {}\n{}", "x".repeat(4 * 1024 * 1024), example());
    std::fs::write(dir.path().join("long.yaml"), long).expect("write");
    let (code, out, err, took) = check(dir.path(), &["check", "long.yaml"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.contains("apiserver-profiling"), "{out}");
    assert!(took < CEILING, "{took:?}");
}

/// Every comparison of a flag, an item, a key, a volume or a mount with all the others
/// (repeated flags, repeated items, duplicate keys, new volumes, files held against every
/// mount) would take these files minutes: each was one once (23 to 33 s for the first three
/// in a release build). Both commands finish well
/// inside the ceiling in a debug build, file by file, and judge the files as any others.
#[test]
fn long_lists_in_a_manifest_take_time_in_proportion() {
    const N: usize = 100_000;
    const VOLUMES: usize = 60_000;
    const MOUNTS: usize = 20_000;
    const NAMES: usize = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = example();
    let put = |name: &str, at: &str, with: String| {
        assert!(base.contains(at), "{at}");
        std::fs::write(dir.path().join(name), base.replacen(at, &with, 1)).expect("write");
    };
    let flags: String = (0..N).map(|i| format!("    - --x{i}=1\n")).collect();
    put(
        "flags.yaml",
        "    - --advertise-address=",
        format!("{flags}    - --advertise-address="),
    );
    let items: Vec<String> = (0..N).map(|i| format!("P{i}")).collect();
    put(
        "items.yaml",
        "--enable-admission-plugins=NodeRestriction",
        format!(
            "--enable-admission-plugins=NodeRestriction,{}",
            items.join(",")
        ),
    );
    let keys: String = (0..N).map(|i| format!("    k{i}: v\n")).collect();
    put(
        "keys.yaml",
        "  annotations:\n",
        format!("  annotations:\n{keys}"),
    );
    // The example with more hostPath volumes, each mounted: (mount path, name, host path).
    let pod = |file: &str, rows: Vec<(String, String, String)>| {
        let mounts: String = rows
            .iter()
            .map(|(at, name, _)| format!("    - mountPath: {at}\n      name: {name}\n"))
            .collect();
        let volumes: String = rows
            .iter()
            .map(|(_, name, host)| format!("  - hostPath:\n      path: {host}\n    name: {name}\n"))
            .collect();
        let text = base
            .replacen(
                "    volumeMounts:\n",
                &format!("    volumeMounts:\n{mounts}"),
                1,
            )
            .replacen("  volumes:\n", &format!("  volumes:\n{volumes}"), 1);
        std::fs::write(dir.path().join(file), text).expect("write");
    };
    pod(
        "volumes.yaml",
        (0..VOLUMES)
            .map(|i| (format!("/v{i}"), format!("v{i}"), format!("/v{i}")))
            .collect(),
    );
    // The same directory mounted from every volume: which mount makes a flag's file visible
    // was found by looking up each covering mount's volume among all the volumes (8,000 of
    // them took 3.4 s to check in a release build, 20,000 would take 20 s).
    pod(
        "mounts.yaml",
        (0..MOUNTS)
            .map(|i| {
                (
                    "/etc/kubernetes/pki".into(),
                    format!("p{i}"),
                    format!("/p{i}"),
                )
            })
            .collect(),
    );
    // Volumes named as the audit log's new volume would be, and `-2`, `-3` ... after it: the
    // first free name was looked for among all the volumes for each number tried (60,000 took
    // 6.8 s in a release build, 17 s in a debug one).
    let names = std::iter::once("var-log-kubernetes-audit".to_string())
        .chain((2..=NAMES).map(|i| format!("var-log-kubernetes-audit-{i}")));
    pod(
        "names.yaml",
        names
            .enumerate()
            .map(|(i, n)| (format!("/q{i}"), n, format!("/q{i}")))
            .collect(),
    );
    // A list of 200,000 admission plugins, every other one a plugin the version no longer has:
    // each item was looked for among all the plugins to remove (160,000 items took 5.7 s to
    // check in a release build).
    let plugins: Vec<String> = (0..N).map(|i| format!("PodSecurityPolicy,Q{i}")).collect();
    put(
        "plugins.yaml",
        "--enable-admission-plugins=NodeRestriction",
        format!(
            "--enable-admission-plugins=NodeRestriction,{}",
            plugins.join(",")
        ),
    );
    // A file flag repeated with files in directories of their own, none of them mounted: the
    // fix mounts each directory, and each file was held against every mount, several times
    // over (20,000 took 13 s to check in a release build, over a minute in a debug one).
    let files: String = (0..MOUNTS)
        .map(|i| format!("    - --service-account-key-file=/srv/keys/d{i}/sa.pub\n"))
        .collect();
    put(
        "files.yaml",
        "    - --advertise-address=",
        format!("{files}    - --advertise-address="),
    );
    // Each file by itself, so that each run has the whole ceiling: a file whose work grew with
    // the square of its list took longer than that alone.
    let mut diffs = String::new();
    let cases = [
        "flags", "items", "keys", "volumes", "mounts", "names", "plugins", "files",
    ];
    for name in cases {
        let file = format!("{name}.yaml");
        let (out, diff) = check_and_diff(dir.path(), &file, &[1]);
        assert!(
            out.lines()
                .any(|l| l.starts_with("1 file(s) checked") && l.contains(" 0 error(s)")),
            "{name}: {out}"
        );
        assert!(diff.contains(&format!("+++ b/{file}")), "{name}");
        diffs.push_str(&diff);
    }
    // The plugins strict enables join each file's list once.
    assert_eq!(diffs.matches(",AlwaysPullImages").count(), cases.len());
    // The plugins the version no longer has are taken out, every one.
    assert!(diffs.contains("+    - --enable-admission-plugins=NodeRestriction,Q0,Q1,"));
    assert!(!diffs.contains("+    - --enable-admission-plugins=NodeRestriction,PodSecurityPolicy"));
    // Each directory of the keys is mounted by a volume of its own.
    assert_eq!(diffs.matches("+    name: srv-keys-d").count(), MOUNTS);
    assert!(diffs.contains(&format!("+      name: srv-keys-d{}\n", MOUNTS - 1)));
    // The audit log's volume takes the first name left free.
    assert!(diffs.contains(&format!(
        "+    name: var-log-kubernetes-audit-{}\n",
        NAMES + 1
    )));
}

/// A KubeletConfiguration whose feature gates set one that must go
/// (`RotateKubeletServerCertificate: false`) among 100,000 others: what setting the map anew
/// changed was found by looking each gate up among all the others, before and after (96 s to
/// check in a debug build, and `fix` of 100,000 gates on a node took 7 minutes in a release
/// build). Both commands take the gate out and keep the rest.
#[test]
fn many_feature_gates_in_a_kubelet_configuration_take_time_in_proportion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base =
        std::fs::read_to_string(root.join("tests/fixtures/kubeadm/v1.31/kubelet-config.yaml"))
            .expect("fixture");
    let gates: String = (0..100_000).map(|i| format!("  G{i}: true\n")).collect();
    let text = format!("{base}featureGates:\n  RotateKubeletServerCertificate: false\n{gates}");
    std::fs::write(dir.path().join("kubelet.yaml"), text).expect("write");
    let (out, diff) = check_and_diff(dir.path(), "kubelet.yaml", &[1]);
    assert!(out.contains("RotateKubeletServerCertificate"), "{out}");
    assert!(
        diff.contains("\n-  RotateKubeletServerCertificate: false\n"),
        "{diff}"
    );
    assert!(!diff.contains("\n-  G1: true\n") && !diff.contains("\n+  G1: true\n"));
}

/// A kubeadm ClusterConfiguration whose API server takes 20,000 key files in directories of
/// their own: the fix gives each directory an extra volume, and each file was held against
/// every mount, several times over (17.8 s to check in a release build, 67 s in a debug one).
/// Both commands finish inside the ceiling, and the diff adds a volume for each directory.
#[test]
fn many_file_flags_in_a_kubeadm_configuration_take_time_in_proportion() {
    const FILES: usize = 20_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let args: String = (0..FILES)
        .map(|i| {
            format!("    - name: service-account-key-file\n      value: /srv/keys/d{i}/sa.pub\n")
        })
        .collect();
    let text = format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.0\napiServer:\n  extraArgs:\n{args}");
    std::fs::write(dir.path().join("kubeadm.yaml"), text).expect("write");
    let (out, diff) = check_and_diff(dir.path(), "kubeadm.yaml", &[1]);
    assert!(out.contains("1 file(s) checked"), "{out}");
    assert!(diff.contains("+  extraVolumes:\n"), "{diff}");
    for d in ["d0", &format!("d{}", FILES - 1)] {
        assert!(
            diff.contains(&format!("+      hostPath: /srv/keys/{d}\n")),
            "{d}"
        );
    }
    assert_eq!(diff.matches("+      hostPath: /srv/keys/d").count(), FILES);
}

/// Suppression comments by the tens of thousands: on their own lines above the container,
/// where each looked for the start of the block of comments above the container again (100,000
/// took 66 s to check in a release build), and trailing flags of their own, where each was
/// held against every scalar of the manifest to see whether it was inside one (80,000 took
/// 6.7 s in a release build, 50 s in a debug one). Both files are checked and diffed inside
/// the ceiling, with the finding suppressed and its fix left out.
#[test]
fn many_suppression_comments_take_time_in_proportion() {
    const ABOVE: usize = 100_000;
    const TRAILING: usize = 80_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = example();
    let comment = "# kubeharden: ignore[apiserver-profiling] profiled on purpose";
    let above: String = (0..ABOVE).map(|_| format!("  {comment}\n")).collect();
    assert!(base.contains("\n  - command:\n"));
    let text = base.replacen("\n  - command:\n", &format!("\n{above}  - command:\n"), 1);
    std::fs::write(dir.path().join("above.yaml"), text).expect("write");
    let trailing: String = (0..TRAILING)
        .map(|i| format!("    - --x{i}=1  {comment}\n"))
        .collect();
    let at = "    - --advertise-address=";
    assert!(base.contains(at));
    let text = base.replacen(at, &format!("{trailing}{at}"), 1);
    std::fs::write(dir.path().join("trailing.yaml"), text).expect("write");
    for name in ["above", "trailing"] {
        let file = format!("{name}.yaml");
        let (out, diff) = check_and_diff(dir.path(), &file, &[1]);
        assert!(out.contains(", 1 suppressed"), "{name}: {out}");
        assert!(diff.contains("+    - --audit-log-maxage=30\n"), "{name}");
        assert!(!diff.contains("--profiling=false"), "{name}");
    }
}

/// An etcd manifest of 60,000 flags and 60,000 variables, one of which sets a flag the command
/// line sets too: each variable was held against every flag (13.9 s to check in a release
/// build). Both commands finish inside the ceiling, and the one conflict is found.
#[test]
fn many_flags_and_variables_of_etcd_take_time_in_proportion() {
    const N: usize = 60_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(root.join("tests/fixtures/kubeadm/v1.31/etcd.yaml"))
        .expect("fixture");
    let flags: String = (0..N).map(|i| format!("    - --x{i}=1\n")).collect();
    let vars: String = (0..N)
        .map(|i| {
            format!(
                "    - name: ETCD_{}{i}\n      value: \"1\"\n",
                ["Y", "X"][usize::from(i == 7)]
            )
        })
        .collect();
    let (command, image) = ("    - etcd\n", "    image: ");
    assert!(base.contains(command) && base.contains(image));
    let text = base
        .replacen(command, &format!("{command}{flags}"), 1)
        .replacen(image, &format!("    env:\n{vars}{image}"), 1);
    std::fs::write(dir.path().join("etcd.yaml"), text).expect("write");
    let (out, _) = check_and_diff(dir.path(), "etcd.yaml", &[0, 1]);
    assert!(out.contains("etcd-flag-and-variable"), "{out}");
    assert!(
        out.contains(": --x7 both as a flag and as a variable"),
        "{out}"
    );
    assert!(!out.contains("--x8 both"), "{out}");
}

/// Admission plugins enabled and disabled by the tens of thousands, one of the disabled ones a
/// plugin strict enables: each plugin of one list was looked for in the other, in planning and
/// again in verifying the edit (20,000 of each took 2.3 s to check and 8.6 s to diff in a
/// release build; 30,000 38 s to diff in a debug one). Both commands finish inside the
/// ceiling, and the plugin strict enables
/// leaves the list of disabled ones, which keeps the rest.
#[test]
fn long_lists_of_enabled_and_disabled_plugins_take_time_in_proportion() {
    const N: usize = 30_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let enabled: Vec<String> = (0..N).map(|i| format!("P{i}")).collect();
    let disabled: Vec<String> = (0..N).map(|i| format!("Q{i}")).collect();
    let at = "    - --enable-admission-plugins=NodeRestriction\n";
    let base = example();
    assert!(base.contains(at));
    let lists = format!(
        "    - --enable-admission-plugins=NodeRestriction,{}\n    - --disable-admission-plugins={},AlwaysPullImages\n",
        enabled.join(","),
        disabled.join(",")
    );
    std::fs::write(
        dir.path().join("plugins.yaml"),
        base.replacen(at, &lists, 1),
    )
    .expect("write");
    let (_, out) = check_and_diff(dir.path(), "plugins.yaml", &[1]);
    let kept = format!(
        "+    - --disable-admission-plugins={}\n",
        disabled.join(",")
    );
    assert!(
        out.contains(&kept),
        "the disabled plugins without AlwaysPullImages"
    );
}

/// An `.ignore` file of 200,000 lines that are not patterns: each is a problem of the walk,
/// and each was put in its place among the others one by one and taken from the front of the
/// list, which took time to the square of their number (80,000 lines: 6.3 s in a release
/// build). The file is mentioned once and the manifest beside it checked.
#[test]
fn an_ignore_file_of_many_lines_that_are_not_patterns_is_walked_in_bounded_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("d")).expect("mkdir");
    std::fs::write(dir.path().join("d/kube-apiserver.yaml"), example()).expect("write");
    let lines: String = (0..200_000).map(|i| format!("{{a{i}\n")).collect();
    std::fs::write(dir.path().join("d/.ignore"), lines).expect("write");
    let (code, out, err, took) = check(dir.path(), &["check", "d"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        out.matches("d/.ignore: skipped: line 1: ").count(),
        1,
        "{out}"
    );
    assert!(out.contains("1 file(s) checked"), "{out}");
    assert!(took < CEILING, "{took:?}");
}

#[test]
fn a_manifest_that_is_a_symlink_is_read_through_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("real.yaml"), example()).expect("write");
    std::fs::create_dir(dir.path().join("m")).expect("mkdir");
    std::fs::write(dir.path().join("m/inside.yaml"), example()).expect("write");
    std::os::unix::fs::symlink("inside.yaml", dir.path().join("m/link-in.yaml")).expect("link");
    std::os::unix::fs::symlink(
        outside.path().join("real.yaml"),
        dir.path().join("m/link-out.yaml"),
    )
    .expect("link");
    let (code, out, err, _) = check(dir.path(), &["check", "m"]);
    assert_eq!(code, Some(1), "{err}");
    // The link to a file inside is the same file: read once. The link out is read.
    assert_eq!(out.matches("kube-apiserver 1.31.0").count(), 2, "{out}");
    // fix --output through a link writes the output, never the link's target.
    let before = std::fs::read(outside.path().join("real.yaml")).expect("read");
    let (code, _, err, _) = check(
        dir.path(),
        &["fix", "m/link-out.yaml", "--output", "hardened.yaml"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        std::fs::read(outside.path().join("real.yaml")).expect("read"),
        before
    );
    assert!(dir.path().join("hardened.yaml").exists());
}

/// `n` small YAML files of another kind in `dir`: the first written, the others hard links to
/// it. Each is a file of its own to the walk and the reader, and links are made many times
/// faster than files (a file system that is slow to allocate inodes took a minute to write
/// 100,000 of them).
fn config_maps(dir: &Path, n: usize) {
    let first = dir.join("f0.yaml");
    std::fs::write(&first, "kind: ConfigMap\n").expect("write");
    for f in 1..n {
        std::fs::hard_link(&first, dir.join(format!("f{f}.yaml"))).expect("link");
    }
}

#[test]
fn many_small_files_of_another_kind_are_skipped_in_bounded_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    for d in 0..20 {
        let sub = dir.path().join(format!("d{d}"));
        std::fs::create_dir(&sub).expect("mkdir");
        config_maps(&sub, 500);
    }
    std::fs::write(dir.path().join("d0/kube-apiserver.yaml"), example()).expect("write");
    let (code, out, err, took) = check(dir.path(), &["check", "."]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        out.contains("1 file(s) checked") && out.contains("10000 skipped"),
        "{}",
        out.lines().last().unwrap_or("")
    );
    assert!(took < CEILING, "{took:?}");
}

/// Thousands of directories named on the command line (a shell's `clusters/*/manifests`):
/// each file a walk gave was looked for among the files of every walk before it, to give it
/// once, which took 33 s for these in a debug build (8 s for 10,000 directories of manifests
/// in a release build), and every walk kept its listing's room (220 MB here). A directory
/// named twice still gives its files once.
#[test]
fn many_directories_named_are_walked_in_bounded_time() {
    const DIRS: usize = 20_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("cm.yaml");
    std::fs::write(&first, "kind: ConfigMap\n").expect("write");
    let mut args = vec!["check".to_string()];
    for d in 0..DIRS {
        let sub = format!("d{d}");
        std::fs::create_dir(dir.path().join(&sub)).expect("mkdir");
        std::fs::hard_link(&first, dir.path().join(&sub).join("f.yaml")).expect("link");
        args.push(sub);
    }
    std::fs::write(dir.path().join("d7/kube-apiserver.yaml"), example()).expect("write");
    args.push("d7".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err, took) = check(dir.path(), &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        out.contains("1 file(s) checked") && out.contains(&format!("{DIRS} skipped")),
        "{}",
        out.lines().last().unwrap_or("")
    );
    assert!(took < CEILING, "{took:?}");
}

#[test]
fn deep_nesting_is_refused_at_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 1_000_000;
    let cases: Vec<(&str, String)> = vec![
        // A million flow sequences, closed and unclosed, and flow mappings.
        (
            "flow.yaml",
            format!("kind: Pod\nspec: {}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        ("unclosed.yaml", format!("kind: Pod\nspec: {}", "[".repeat(n))),
        (
            "map.yaml",
            format!(
                "kind: Pod\nspec: {}x{}\n",
                "{a: ".repeat(n / 4),
                "}".repeat(n / 4)
            ),
        ),
        // Block mappings and sequences 3,000 levels deep (4.5 MB of indentation).
        (
            "block.yaml",
            format!(
                "kind: Pod\nspec:\n{}",
                (1..3000)
                    .map(|i| format!("{}a:\n", " ".repeat(i)))
                    .collect::<String>()
            ),
        ),
        (
            "seq.yaml",
            format!(
                "kind: Pod\nspec:\n{}",
                (1..3000)
                    .map(|i| format!("{}- \n", " ".repeat(i)))
                    .collect::<String>()
            ),
        ),
        // The same depth inside a kubeadm file's extraArgs.
        (
            "kubeadm.yaml",
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs: {}{}\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ),
    ];
    for (name, text) in &cases {
        std::fs::write(dir.path().join(name), text).expect("write");
        for args in [vec!["check"], vec!["fix", "--output", "out.yaml"]] {
            let mut all = args.clone();
            all.push(name);
            let (code, _, err, took) = check(dir.path(), &all);
            assert_eq!(code, Some(2), "{name} {args:?}: {err}");
            // One error, naming the file, its line and column.
            let line = err
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or_default();
            assert!(
                line.starts_with(&format!("kubeharden: error: {name}:")),
                "{name}: {err}"
            );
            assert!(
                line.contains("nesting deeper than 64 levels") || line.contains("recursion limit"),
                "{name}: {err}"
            );
            assert!(!err.contains("panicked"), "{name}: {err}");
            assert!(took < CEILING, "{name}: {took:?}");
            assert!(!dir.path().join("out.yaml").exists(), "{name}");
        }
    }
}

#[test]
fn bad_bytes_are_refused_and_a_bom_is_kept() {
    let manifest = example();
    let kubeadm = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\napiServer:\n  extraArgs:\n  - name: profiling\n    value: \"true\"\n";
    let with = |text: &str, at: &str, insert: &[u8]| -> Vec<u8> {
        let i = text.find(at).expect("anchor");
        [&text.as_bytes()[..i], insert, &text.as_bytes()[i..]].concat()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("nul.yaml", with(&manifest, "spec:", b"\0"), "NUL bytes"),
        (
            "nul-kubeadm.yaml",
            with(kubeadm, "apiServer:", b"\0"),
            "NUL bytes",
        ),
        (
            "latin1.yaml",
            with(&manifest, "spec:", b"# caf\xe9\n"),
            "not valid UTF-8",
        ),
        (
            "latin1-kubeadm.yaml",
            with(kubeadm, "apiServer:", b"# caf\xe9\n"),
            "not valid UTF-8",
        ),
        // A tab where YAML wants spaces for indentation.
        (
            "tab.yaml",
            manifest
                .replacen("\n  containers:", "\n\tcontainers:", 1)
                .into_bytes(),
            "tab.yaml:",
        ),
        (
            "tab-kubeadm.yaml",
            kubeadm
                .replacen("\n  extraArgs:", "\n\textraArgs:", 1)
                .into_bytes(),
            "tab-kubeadm.yaml:",
        ),
        (
            "dup.yaml",
            manifest
                .replacen(
                    "spec:\n",
                    "spec:\n  hostNetwork: true\n  hostNetwork: true\n",
                    1,
                )
                .into_bytes(),
            "duplicate",
        ),
        (
            "dup-kubeadm.yaml",
            kubeadm
                .replacen(
                    "apiServer:",
                    "networking: {}\nnetworking: {}\napiServer:",
                    1,
                )
                .into_bytes(),
            "duplicate",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes, expect) in &cases {
        std::fs::write(dir.path().join(name), bytes).expect("write");
        for args in [
            vec!["check"],
            vec!["diff"],
            vec!["fix", "--output", "out.yaml"],
        ] {
            let mut all = args.clone();
            all.push(name);
            let (code, _, err, took) = check(dir.path(), &all);
            assert_eq!(code, Some(2), "{name} {args:?}: {err}");
            let line = err
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or_default();
            assert!(
                line.contains(name) && line.contains(expect),
                "{name} {args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{name}: {err}");
            assert!(took < CEILING, "{name}: {took:?}");
            assert!(!dir.path().join("out.yaml").exists(), "{name}");
            assert_eq!(&std::fs::read(dir.path().join(name)).expect("read"), bytes);
        }
    }
    // A byte-order mark: read, and kept in front of the hardened file.
    for (name, text) in [
        ("bom.yaml", manifest.as_str()),
        ("bom-kubeadm.yaml", kubeadm),
    ] {
        std::fs::write(dir.path().join(name), format!("\u{feff}{text}")).expect("write");
        let (code, _, err, _) = check(dir.path(), &["fix", name, "--output", "out.yaml"]);
        assert_eq!(code, Some(0), "{name}: {err}");
        let out = std::fs::read_to_string(dir.path().join("out.yaml")).expect("output");
        assert!(
            out.starts_with('\u{feff}') && out.matches('\u{feff}').count() == 1,
            "{name}"
        );
        assert!(
            out.contains("profiling=false") || out.contains("value: \"false\""),
            "{out}"
        );
        std::fs::remove_file(dir.path().join("out.yaml")).expect("rm");
    }
}

#[test]
#[allow(clippy::print_stderr)]
fn a_directory_of_100000_files_is_checked_in_bounded_time() {
    // Measured on the development machine (2 cores, debug build, shared with other work):
    // linking the files takes about two seconds and the check itself 2 to 20 seconds.
    const FILES: usize = 100_000;
    let ceiling = Duration::from_secs(120);
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    // Ten directories of ten directories of 1,000 small YAML files each.
    for a in 0..10 {
        for b in 0..10 {
            let sub = dir.path().join(format!("d{a}/e{b}"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            config_maps(&sub, FILES / 100);
        }
    }
    // Three real manifests among them.
    for d in ["d0/e0", "d4/e7", "d9/e9"] {
        std::fs::write(dir.path().join(d).join("kube-apiserver.yaml"), example()).expect("write");
    }
    let written = start.elapsed();
    let (code, out, err, took) = check(dir.path(), &["check", "."]);
    assert_eq!(code, Some(1), "{err}");
    let summary = out
        .lines()
        .rfind(|l| l.contains("file(s) checked"))
        .unwrap_or_default();
    assert!(
        summary.starts_with("3 file(s) checked, 12 finding(s)")
            && summary.ends_with(&format!("0 error(s), {FILES} skipped")),
        "{summary}"
    );
    for d in ["d0/e0", "d4/e7", "d9/e9"] {
        assert!(
            out.contains(&format!("{d}/kube-apiserver.yaml: kube-apiserver 1.31.0")),
            "{d}"
        );
    }
    assert_eq!(out.matches("apiserver-profiling").count(), 3);
    eprintln!("{FILES} files: written in {written:?}, checked in {took:?}");
    assert!(took < ceiling, "writing {written:?}, checking {took:?}");
}

#[test]
#[allow(clippy::print_stderr)]
fn an_unreadable_file_is_an_error_for_that_file_only() {
    use std::os::unix::fs::PermissionsExt;
    // Root reads any file: the run is made as an unprivileged user.
    let Some(mut cmd) = crate::walk::unprivileged() else {
        eprintln!("skipped: running as root, and no unprivileged user can run the binary");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    for name in ["a/kube-apiserver.yaml", "b/kube-apiserver.yaml"] {
        let p = d.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, example()).expect("write");
        std::fs::set_permissions(
            p.parent().expect("parent"),
            std::fs::Permissions::from_mode(0o777),
        )
        .expect("chmod");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let locked = d.join("a/kube-apiserver.yaml");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let start = Instant::now();
    let out = cmd
        .current_dir(d)
        .args(["check", "."])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        "kubeharden: error: ./a/kube-apiserver.yaml: cannot read: Permission denied (os error 13)"
    );
    assert!(
        stdout.contains("./b/kube-apiserver.yaml: kube-apiserver 1.31.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 file(s) checked, 4 finding(s)") && stdout.contains("1 error(s)"),
        "{stdout}"
    );
    assert!(start.elapsed() < CEILING);
    // Named, with fix --output: the same error, and no output written.
    let Some(mut cmd) = crate::walk::unprivileged() else {
        return;
    };
    let out = cmd
        .current_dir(d)
        .args(["fix", "a/kube-apiserver.yaml", "--output", "out.yaml"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a/kube-apiserver.yaml: cannot read: Permission denied"),
        "{err}"
    );
    assert!(!d.join("out.yaml").exists());
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// `unshare` can make a mount namespace with a user namespace here (without privileges), so
/// that a directory can be bind-mounted read-only for one command.
fn can_unshare() -> bool {
    std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
#[allow(clippy::print_stderr)]
fn fix_on_a_read_only_file_system_writes_nothing() {
    if !can_unshare() {
        eprintln!("skipped: `unshare --user --map-root-user --mount` is not available, so no read-only mount can be made without privileges");
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    // A node under --root: its static pod directory will be mounted read-only; a second
    // manifest lives in a writable directory and comes first in the run.
    let pods = r.join("etc/kubernetes/manifests");
    let other = r.join("srv/manifests");
    for d in [&pods, &other] {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::write(d.join("kube-apiserver.yaml"), example()).expect("write");
    }
    let backups = r.join("backups");
    let before = |p: &Path| std::fs::read(p.join("kube-apiserver.yaml")).expect("read");
    let (pods_before, other_before) = (before(&pods), before(&other));
    let run = |paths: &[&Path]| {
        let start = Instant::now();
        let out = std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(format!(
                "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\" && shift && ulimit -v {ADDRESS_SPACE_KIB} && exec \"$@\""
            ))
            .arg("sh")
            .arg(&pods)
            .arg(env!("CARGO_BIN_EXE_kubeharden"))
            .args(["fix", "--yes", "--root"])
            .arg(r)
            .arg("--backup-dir")
            .arg(&backups)
            .args(paths)
            .env_remove("NO_COLOR")
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
            start.elapsed(),
        )
    };
    let ro = pods.join("kube-apiserver.yaml");
    // The read-only manifest alone, then after the writable one: each time an error naming
    // the file, exit 2, both files as they were, and no backup set left behind.
    for paths in [vec![pods.as_path()], vec![other.as_path(), pods.as_path()]] {
        let (code, out, err, took) = run(&paths);
        assert_eq!(code, Some(2), "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(
            errors[0].starts_with(&format!("kubeharden: error: {}: ", ro.display()))
                && errors[0].contains("Read-only file system"),
            "{err}"
        );
        let undone = if paths.len() == 1 {
            "; nothing was written"
        } else {
            "; the files already written were put back: every file is as it was"
        };
        assert!(errors[0].ends_with(undone), "{err}");
        // Every file of the run was planned (the patch shows each) before the write failed.
        assert_eq!(out.matches("+++ ").count(), paths.len(), "{out}");
        assert_eq!(before(&pods), pods_before);
        assert_eq!(before(&other), other_before);
        for d in [&pods, &other] {
            let names: Vec<String> = std::fs::read_dir(d)
                .expect("read_dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
                .collect();
            assert_eq!(names, ["kube-apiserver.yaml"], "{}", d.display());
        }
        let sets = std::fs::read_dir(&backups).map_or(0, |rd| rd.count());
        assert_eq!(sets, 0, "a backup set was left behind");
        assert!(took < CEILING, "{took:?}");
    }
    // The same run without the read-only mount succeeds (the failure was the mount's).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubeharden"))
        .args(["fix", "--yes", "--root"])
        .arg(r)
        .arg("--backup-dir")
        .arg(&backups)
        .arg(&other)
        .arg(&pods)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(before(&pods), pods_before);
    assert_ne!(before(&other), other_before);
}
