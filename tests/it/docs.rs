//! Generated documentation must match the data it is generated from.

use kubeharden::profile::Registry;
use kubeharden::render::ruledoc;
use std::path::Path;

#[test]
fn rules_doc_is_current() {
    let registry = Registry::builtin().expect("registry");
    let profiles = ruledoc::builtin_profiles(&registry).expect("profiles");
    let want = ruledoc::markdown(&profiles, &registry);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
    if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/rules.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/rules.md is stale: run `KUBEHARDEN_BLESS=1 cargo test --test it rules_doc`"
    );
    // Every rule the profiles define has a section, and the ids are unique.
    let strict = profiles.last().expect("strict");
    let mut seen = std::collections::BTreeSet::new();
    for r in &strict.rules {
        assert!(seen.insert(r.id.clone()), "duplicate rule id {}", r.id);
        assert!(
            have.contains(&format!("\n## {}\n", r.id)),
            "no section for {}",
            r.id
        );
    }
}

/// Every rule a built-in profile fixes has an example diff, made by its fix alone; the data
/// that changes kubeadm's files for it makes the rule fail, and is there only where kubeadm's
/// file passes.
#[test]
fn every_fixed_rule_has_an_example_diff() {
    let registry = Registry::builtin().expect("registry");
    let profiles = ruledoc::builtin_profiles(&registry).expect("profiles");
    let mut problems = Vec::new();
    for r in ruledoc::all_rules(&profiles) {
        // The node's files get modes and owners, not text: no example diff
        // (tests/it/node_files.rs shows them).
        let fixed = r.component != kubeharden::profile::NODE_FILES
            && profiles
                .iter()
                .any(|p| p.rule(&r.id).is_some_and(|x| x.fixes_running_clusters()));
        match ruledoc::example_checked(r, &profiles, &registry) {
            Err(e) => problems.push(e),
            Ok(ruledoc::Example::None(why)) if fixed => {
                problems.push(format!("{}: no example: {why}", r.id))
            }
            Ok(ruledoc::Example::Diff { diff, .. }) => {
                assert!(diff.contains("\n@@ "), "{}: {diff}", r.id);
                assert!(fixed, "{}: an example for a rule nothing fixes", r.id);
            }
            Ok(ruledoc::Example::None(_)) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `kubeharden explain RULE` prints exactly the rule's section of docs/rules.md.
#[test]
fn explain_prints_the_rules_section_of_the_docs() {
    let registry = Registry::builtin().expect("registry");
    let profiles = ruledoc::builtin_profiles(&registry).expect("profiles");
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md"))
        .expect("docs/rules.md");
    let sections: std::collections::BTreeMap<&str, String> = doc
        .split("\n## ")
        .skip(1)
        .map(|part| {
            let id = part.split('\n').next().unwrap_or_default();
            (id, format!("## {part}"))
        })
        .collect();
    let rules = ruledoc::all_rules(&profiles);
    assert_eq!(sections.len(), rules.len(), "one section per rule");
    for r in rules {
        let out = crate::cli::kubeharden()
            .args(["explain", &r.id])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "explain {}", r.id);
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let want = sections.get(r.id.as_str()).expect("a section");
        assert!(
            &text == want,
            "explain {} differs from its section in docs/rules.md:\n--- explain\n{text}\n--- docs\n{want}",
            r.id
        );
    }
}
