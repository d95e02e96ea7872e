//! Any choice among the offered changes is a complete, verified manifest: over every kubeadm
//! fixture and both built-in profiles, answers drawn at random (seeded) accept some rules and
//! decline others; each accepted rule then holds, a declined one is not written, and every file
//! a flag names is mounted.

use crate::conformance::{builtins, kubeadm_fixtures};
use kubeharden::apply::select::{self as fix, Answer, Decide, Node, Offer};
use kubeharden::check::{self, Env};
use kubeharden::document::manifest;
use kubeharden::load::node::Root;
use kubeharden::model::report::COMPONENT;
use kubeharden::pipeline::Options;
use kubeharden::profile::version::Version;
use std::io;

/// Answers from a small deterministic generator; every offer is recorded.
struct Scripted {
    state: u64,
    offered: Vec<String>,
}

impl Scripted {
    fn next(&mut self) -> u64 {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
}

impl Decide for Scripted {
    fn offer(&mut self, o: &Offer) -> io::Result<Answer> {
        self.offered.push(o.rule.id.clone());
        assert!(!o.diff.is_empty(), "{}: an offer without a diff", o.rule.id);
        Ok(match self.next() % 10 {
            0 => Answer::All,
            1..=5 => Answer::Yes,
            _ => Answer::No,
        })
    }
    fn tell(&mut self, _: &str) {}
}

#[test]
fn every_partial_selection_is_a_complete_verified_manifest() {
    let (registry, baseline, strict) = builtins();
    let root_dir = tempfile::tempdir().expect("tempdir");
    let root = Root::new(root_dir.path()).expect("root");
    let pods = vec![root.resolve("/etc/kubernetes/manifests").expect("resolves")];
    let node = Node {
        root: &root,
        pod_dirs: &pods,
    };
    let mut runs = 0;
    let mut partial = 0;
    for (name, minor, text) in kubeadm_fixtures() {
        for profile in [baseline, strict] {
            for seed in 1..=6u64 {
                let opts = Options::new(registry, profile);
                let mut who = Scripted {
                    state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(minor),
                    offered: Vec::new(),
                };
                let mut answers = None;
                let sel = fix::select("m.yaml", &text, &opts, &node, &mut who, &mut answers)
                    .unwrap_or_else(|e| panic!("{name} {} seed {seed}: {e}", profile.name));
                runs += 1;
                let Some(edited) = &sel.edited else {
                    assert!(sel.accepted.is_empty());
                    continue;
                };
                if !sel.declined.is_empty() {
                    partial += 1;
                }
                let m = manifest::load(edited, COMPONENT, registry)
                    .unwrap_or_else(|e| panic!("{name}: the result does not load: {e:?}"));
                let env = Env {
                    registry,
                    version: Version { minor, patch: None },
                    new_cluster: false,
                };
                for id in &sel.accepted {
                    let rule = profile.rule(id).expect("rule");
                    assert!(
                        check::evaluate(rule, &m.model, env).is_none(),
                        "{name} {} seed {seed}: accepted {id} does not hold",
                        profile.name
                    );
                }
                assert!(
                    check::unmounted_files(&m.model, env).is_empty(),
                    "{name} {} seed {seed}: a file is not mounted",
                    profile.name
                );
                // A rule declined and satisfied by nothing else stays failing.
                let full = profile.only(&sel.accepted);
                let opts = Options::new(registry, &full);
                let again = kubeharden::pipeline::process("m.yaml", edited, &opts).expect("again");
                assert!(
                    again.edited.is_none(),
                    "{name} {} seed {seed}: planning the accepted rules again changes the result",
                    profile.name
                );
            }
        }
    }
    assert!(runs > 100, "{runs}");
    assert!(partial > 50, "only {partial} runs declined anything");
}
