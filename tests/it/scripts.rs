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
