//! Every hand-written manifest style under tests/fixtures/styles: the patch applies with git,
//! equals `fix --output`, keeps line endings and the final newline, and a second run changes
//! nothing. Every file under tests/fixtures/styles/bad is refused with exit 2.

use crate::cli::{diff_apply_and_fix, kubeharden, styles_dir};
use crate::conformance::try_run;
use crate::support::in_parallel;
use std::path::{Path, PathBuf};

/// Fixtures kubeharden must refuse to change, with the reason it gives.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "anchor-on-volumemounts.yaml",
        "strict",
        "anchor, alias or tag",
    ), // extends volume lists that carry anchors or tags
    ("anchor-on-volumes.yaml", "strict", "anchor, alias or tag"), // extends volume lists that carry anchors or tags
    (
        "audit-dir-readonly-True.yaml",
        "strict",
        "needs a writable hostPath mount",
    ), // the audit log directory is mounted read-only
    (
        "audit-dir-readonly-yes.yaml",
        "strict",
        "needs a writable hostPath mount",
    ), // the audit log directory is mounted read-only
    (
        "audit-emptydir-r3.yaml",
        "strict",
        "needs a read-only hostPath mount",
    ), // another volume already sits at the directory
    (
        "audit-emptydir.yaml",
        "strict",
        "needs a read-only hostPath mount",
    ), // another volume already sits at the directory
    (
        "audit-log-relative.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "audit-log-root-file.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "audit-mount-readonly.yaml",
        "strict",
        "needs a writable hostPath mount",
    ), // the audit log directory is mounted read-only
    (
        "audit-policy-dotdot.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "audit-policy-relative.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "client-ca-dotdot.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "client-ca-empty.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "client-ca-relative.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    ("cr-only.yaml", "baseline", "bare carriage returns"),        // old Mac line endings
    ("cr-only.yaml", "strict", "bare carriage returns"),          // old Mac line endings
    (
        "dup-enc-relative.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    ("enc-relative.yaml", "strict", "only mounts absolute paths"), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "encryption-dotdot.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "encryption-relative.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    ("env-ref.yaml", "strict", "only mounts absolute paths"), // a file flag names a relative, `..`, `/` or $(VAR) path
    (
        "image-latest-old.yaml",
        "baseline",
        "pass --kubernetes-version",
    ), // no version in the tag, contradicted by the flags
    (
        "image-latest-old.yaml",
        "strict",
        "pass --kubernetes-version",
    ), // no version in the tag, contradicted by the flags
    (
        "podpreset-missing-noderestriction-1.21-baseline.yaml",
        "baseline",
        "would keep",
    ), // baseline will not rewrite a list naming a plugin the version lacks
    ("probe-alias.yaml", "strict", "write the probe out in full"), // the probe to change is an alias
    // (psp-dup-items-1.25-baseline.yaml: a plugin named twice is no duplicate flag, since the
    // API server takes it, so baseline has nothing to rewrite in the list any more.)
    (
        "psp-in-disable-with-sa-1.26-baseline.yaml",
        "baseline",
        "would keep",
    ), // baseline will not rewrite a list naming a plugin the version lacks
    (
        "pvl-repeated-flag-1.31-baseline.yaml",
        "baseline",
        "would keep",
    ), // baseline will not rewrite a list naming a plugin the version lacks
    (
        "scd-with-always-admit-1.30-baseline.yaml",
        "baseline",
        "would keep",
    ), // baseline will not rewrite a list naming a plugin the version lacks
    (
        "security-context-deny-only-1.31.yaml",
        "baseline",
        "would keep",
    ), // baseline will not rewrite a list naming a plugin the version lacks
    (
        "tls-cert-dotdot.yaml",
        "strict",
        "only mounts absolute paths",
    ), // a file flag names a relative, `..`, `/` or $(VAR) path
    ("v1.18.yaml", "baseline", "older than 1.19"), // older than the versions kubeharden knows
    ("v1.18.yaml", "strict", "older than 1.19"),   // older than the versions kubeharden knows
    (
        "dup-admission-removed-plugin-strict-1.30.yaml",
        "baseline",
        "would keep",
    ), // baseline will not rewrite a list naming a plugin the version lacks
    (
        "auditlog-dir-mounted-readonly-1.33.yaml",
        "strict",
        "needs a writable hostPath mount",
    ), // the audit log directory is mounted read-only
];

fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// One style fixture with one profile: refused for the stated reason, or patched cleanly.
/// True when the profile changes something.
fn style_fixture(path: &Path, profile: &str) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let bytes = std::fs::read(path).expect("read");
    let text = String::from_utf8(bytes.clone()).expect("fixtures are UTF-8");
    let refused = REFUSED.iter().find(|(f, p, _)| *f == name && *p == profile);
    let r = match (try_run(&text, profile, None, false), refused) {
        (Err(e), Some((_, _, why))) => {
            assert!(e.message.contains(why), "{name} {profile}: {}", e.message);
            return false;
        }
        (Err(e), None) => panic!("{name} {profile}: refused: {}", e.message),
        (Ok(_), Some(_)) => panic!("{name} {profile}: expected a refusal"),
        (Ok(r), None) => r,
    };
    let Some(edited) = r.edited.clone() else {
        return false;
    };
    let again = try_run(&edited, profile, None, false).expect("second run");
    assert!(
        again.edited.is_none(),
        "{name} {profile}: second run changes {:?}",
        again.changes
    );
    // A file that ends every line with CRLF keeps doing so.
    if text.contains("\r\n") && text.matches('\n').count() == text.matches("\r\n").count() {
        assert_eq!(
            edited.matches('\n').count(),
            edited.matches("\r\n").count(),
            "{name}: CRLF kept"
        );
    }
    assert_eq!(
        text.ends_with('\n'),
        edited.ends_with('\n'),
        "{name} {profile}: final newline"
    );
    let ext = if name.ends_with(".json") {
        "json"
    } else {
        "yaml"
    };
    if ext == "json" {
        serde_json::from_str::<serde_json::Value>(&edited)
            .unwrap_or_else(|e| panic!("{name} {profile}: not JSON: {e}"));
    }
    let (patched, fixed) = diff_apply_and_fix(&format!("m.{ext}"), &bytes, &["--profile", profile]);
    assert_eq!(
        patched, fixed,
        "{name} {profile}: git apply and fix --output differ"
    );
    assert_eq!(fixed, edited.into_bytes(), "{name} {profile}");
    true
}

#[test]
fn every_style_fixture_patches_cleanly_or_is_refused_for_a_stated_reason() {
    let cases: Vec<(PathBuf, &str)> = files(&styles_dir())
        .into_iter()
        .flat_map(|p| [(p.clone(), "baseline"), (p, "strict")])
        .collect();
    let checked = in_parallel(&cases, |(path, profile)| style_fixture(path, profile))
        .into_iter()
        .filter(|changed| *changed)
        .count();
    assert!(checked > 50, "only {checked} fixtures produced changes");
}

#[test]
fn every_bad_fixture_exits_2_naming_the_file_and_writes_nothing() {
    let dir = styles_dir().join("bad");
    let bad = files(&dir);
    assert!(bad.len() >= 10);
    for path in bad {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::copy(&path, work.path().join(&name)).expect("copy");
        for args in [
            vec!["check"],
            vec!["diff"],
            vec!["fix", "--output", "out.yaml"],
        ] {
            let out = kubeharden()
                .current_dir(work.path())
                .args(&args)
                .arg(&name)
                .output()
                .expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {err}");
            let first = err.lines().find(|l| l.contains("error")).unwrap_or("");
            assert!(first.contains(&name), "{name} {args:?}: {err}");
            assert!(!err.contains("panicked"), "{name}: {err}");
            assert!(
                !work.path().join("out.yaml").exists(),
                "{name}: output written"
            );
        }
    }
}

#[test]
fn user_profiles_load_or_fail_naming_their_file() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles");
    let manifest = crate::conformance::fixture_dir().join("v1.30/kube-apiserver.yaml");
    let mut loaded = 0;
    for path in files(&dir) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let out = kubeharden()
            .current_dir(&dir)
            .args(["diff", "--profile", &name])
            .arg(&manifest)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{name}: {err}");
        match out.status.code() {
            Some(0 | 1) => loaded += 1,
            // A profile error names the file; a rule that cannot apply to this manifest's
            // version is named in the manifest's error instead.
            Some(2) => assert!(
                err.lines()
                    .next()
                    .is_some_and(|l| l.contains(&name) || l.contains("rule x-")),
                "{name}: the error must name the profile file or its rule: {err}"
            ),
            other => panic!("{name}: exit {other:?}"),
        }
    }
    assert!(loaded >= 5, "only {loaded} profiles loaded");
}
