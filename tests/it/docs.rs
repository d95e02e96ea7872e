//! Generated documentation must match the data it is generated from.

use kubeharden::profile::{Profile, Registry};
use std::path::Path;

#[test]
fn rules_doc_is_current() {
    let registry = Registry::builtin().expect("registry");
    let baseline = Profile::load("baseline", &registry).expect("baseline");
    let strict = Profile::load("strict", &registry).expect("strict");
    let want = kubeharden::render::rules_markdown(&baseline, &strict);
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
