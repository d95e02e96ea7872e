//! The fuzz targets' entry points (`support::fuzzing`, see docs/fuzzing.md) over every
//! fixture, so that CI runs them; and the inputs the fuzzers found, each a regression test.

use crate::cli::kubeharden;
use crate::support::{fuzzing, in_parallel};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML and JSON file under `dir`, recursively, sorted.
fn inputs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a fixture directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            inputs(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

fn all_inputs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    inputs(&root().join("tests/fixtures"), &mut out);
    inputs(&root().join("examples"), &mut out);
    out.sort();
    out
}

/// Runs `f` on every file, spread over the available cores.
fn on_every_file(files: &[PathBuf], f: fn(&[u8])) {
    in_parallel(files, |path| {
        let bytes = std::fs::read(path).expect("a fixture reads");
        let run = std::panic::catch_unwind(|| f(&bytes));
        assert!(run.is_ok(), "{} breaks an invariant", path.display());
    });
}

#[test]
fn the_fuzz_entry_points_hold_on_every_fixture() {
    let files = all_inputs();
    assert!(files.len() > 400, "{} fixtures", files.len());
    on_every_file(&files, fuzzing::load);
    on_every_file(&files, fuzzing::pipeline);
}

/// kube-bench's control files, where they are beside the repository (CI): YAML that kubeharden
/// did not write, read by the YAML reader's entry point (which holds the block reader to the
/// full parser) like any fixture.
#[test]
fn the_yaml_entry_point_holds_on_kube_bench_s_control_files() {
    let Some(dir) = crate::kube_bench::shared_kube_bench_dir() else {
        return;
    };
    let mut files = Vec::new();
    inputs(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no YAML under {}", dir.display());
    on_every_file(&files, fuzzing::load);
}

fn found(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/fuzz").join(name)).expect("a reproducer")
}

/// Runs the CLI's `diff` on the bytes; returns the exit code and stderr.
fn diff(name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let dir = crate::cli::scratch(name, bytes);
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["diff", name])
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_syntax_error_at_the_end_of_a_file_without_a_final_newline_points_inside_it() {
    // `[` alone: the parser placed the error on line 2 of a one-line file.
    let name = "eof-in-flow-no-newline.yaml";
    let bytes = found(name);
    fuzzing::load(&bytes);
    fuzzing::pipeline(&bytes);
    let (code, err) = diff(name, &bytes);
    assert_eq!(code, Some(2), "{err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("kubeharden: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with(&format!("kubeharden: error: {name}:1:2: ")),
        "{err}"
    );
}

#[test]
fn a_kubeadm_file_without_a_final_newline_stays_without_one() {
    // The fuzzer's finding: lines added at the end of a kubeadm file without a final newline
    // (a new ClusterConfiguration document, or flags after the last `extraArgs` item) ended
    // with a line break, which the file then gained.
    let (registry, _, strict) = fuzzing::builtins();
    for name in [
        "kubeadm-new-document-no-final-newline.yaml",
        "kubeadm-init-crlf-no-final-newline.yaml",
        "kubeadm-extra-args-last-no-final-newline.yaml",
    ] {
        let bytes = found(name);
        fuzzing::load(&bytes);
        fuzzing::pipeline_all(&bytes);
        let text = String::from_utf8(bytes).expect("UTF-8");
        let opts = kubeharden::pipeline::Options::new(registry, strict);
        let report = kubeharden::pipeline::process(name, &text, &opts).expect("processes");
        let edited = report.edited.expect("strict changes the file");
        assert!(!edited.ends_with('\n'), "{name}: a final newline added");
        if text.contains("\r\n") {
            assert_eq!(
                edited.matches('\n').count(),
                edited.matches("\r\n").count(),
                "{name}: CRLF kept"
            );
        }
    }
}

#[test]
fn an_error_quoting_a_multi_line_value_stays_on_one_line() {
    // The fuzzer's finding: a `kind` written as a plain scalar over several lines, one of them
    // blank, is quoted with a line break in "the document is a …, not a Pod", and the error
    // took two lines (the second one chosen by the file).
    let name = "kind-spans-lines.yaml";
    let bytes = found(name);
    fuzzing::load(&bytes);
    fuzzing::pipeline_all(&bytes);
    let (code, err) = diff(name, &bytes);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.lines().next().is_some_and(|l| l.starts_with(&format!(
            "kubeharden: error: {name}:2:7: the document is a Init Configuration\\nkubeharden- 0 file(s) checked, not a Pod"
        ))),
        "{err}"
    );
    assert!(!err.lines().any(|l| l.starts_with("kubeharden- ")), "{err}");
}
