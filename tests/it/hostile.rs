//! Hostile input: each gets a clear error (exit 2, the file named, nothing written) or correct
//! handling, in bounded time and memory. The bounds are generous ceilings on a whole run, so
//! that a hang or an exponential blow-up fails the test; speed is measured by scripts/bench.sh.

use crate::cli::kubeharden;
use std::path::Path;
use std::time::{Duration, Instant};

const CEILING: Duration = Duration::from_secs(20);

fn check(dir: &Path, args: &[&str]) -> (Option<i32>, String, String, Duration) {
    let start = Instant::now();
    let out = kubeharden()
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

#[test]
fn many_small_files_of_another_kind_are_skipped_in_bounded_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    for d in 0..20 {
        let sub = dir.path().join(format!("d{d}"));
        std::fs::create_dir(&sub).expect("mkdir");
        for f in 0..500 {
            std::fs::write(sub.join(format!("f{f}.yaml")), "kind: ConfigMap\n").expect("write");
        }
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
