//! kubeharden: audit and harden Kubernetes control-plane configuration.
//!
//! The folders follow the data, one way: [`load`] reads files and the node; [`document`] knows
//! each kind of file (static pod manifest, kubeadm configuration, component configuration) and
//! turns its text into a [`model`] with source spans; [`check`] evaluates a [`profile`] against
//! it; [`plan`] turns findings into symbolic changes; [`edit`] turns those into byte splices;
//! [`verify`] re-reads the result before anything is written; [`pipeline`] runs these steps
//! for one file, the same for every kind. [`render`] shows the reports, [`apply`] is the only
//! code that writes, and [`cmd`] holds one file per subcommand. [`yaml`] is the YAML reader
//! underneath them all. docs/architecture.md draws the picture.

pub mod apply;
pub mod check;
pub mod cmd;
pub mod document;
pub(crate) mod edit;
pub mod load;
pub mod model;
pub(crate) mod paths;
pub mod pipeline;
pub(crate) mod plan;
pub mod profile;
pub mod render;
pub(crate) mod verify;
pub mod yaml;

/// What the unit tests share: a seeded sequence of numbers and the repository's YAML files.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    /// Numbers below `n`, each call the next of a sequence that is the same on every run (a
    /// linear congruential generator with Knuth's MMIX constants): a failing case comes again.
    pub(crate) fn seeded() -> impl FnMut(usize) -> usize {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        move |n| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n.max(1)
        }
    }

    /// The texts of the `.yaml` and `.yml` files under `dir`, in the order of their paths.
    pub(crate) fn yaml_texts(dir: &Path) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    out.extend(std::fs::read_to_string(&p));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, &mut out);
        out
    }
}
