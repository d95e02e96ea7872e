//! Prepares the built-in data under profiles/ when the crate is built.
//!
//! - Converts each YAML file to JSON. Every run reads the registry, and serde reads JSON about
//!   ten times faster than YAML (docs/performance.md, "Start-up"); the YAML stays the source,
//!   and a test checks that both read the same.
//! - Builds and validates the built-in profiles with the crate's own profile code (included
//!   below from src/profile), and writes each built profile as JSON: a run reads a built-in
//!   profile ready to use instead of merging, building and validating it again. A built-in
//!   profile the registry refuses stops the build with the profile's error.

use std::{env, fs, path::PathBuf};

const DATA: &[&str] = &["registry", "feature-gates", "kubeadm", "baseline", "strict"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in DATA {
        let source = format!("profiles/{name}.yaml");
        println!("cargo::rerun-if-changed={source}");
        let text = fs::read_to_string(&source).unwrap_or_else(|e| panic!("{source}: {e}"));
        let value: serde_json::Value =
            yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
        let json = serde_json::to_string(&value).expect("a JSON value serializes");
        fs::write(out.join(format!("{name}.json")), json)
            .unwrap_or_else(|e| panic!("{name}.json: {e}"));
    }
    println!("cargo::rerun-if-changed=profiles/templates");
    let registry = profile::Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    for (name, _) in profile::BUILTIN {
        let built = profile::Profile::builtin_from_source(name, &registry)
            .expect("a built-in profile is listed")
            .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&built).expect("a profile serializes");
        fs::write(out.join(format!("{name}.built.json")), json)
            .unwrap_or_else(|e| panic!("{name}.built.json: {e}"));
    }
}

/// The crate's paths module, which profile validation uses.
#[allow(dead_code)]
#[path = "src/paths.rs"]
mod paths;

/// The crate's profile code, as it is, except the module that holds the compiled-in data,
/// which the build itself is making: here the same names read the YAML sources.
#[allow(dead_code, unused_imports)]
#[path = "src/profile"]
mod profile {
    mod build;
    mod compose;
    mod error;
    pub(crate) mod kubeadm;
    mod raw;
    mod registry;
    mod rule;
    mod template;
    pub(crate) mod values;
    pub mod version;

    pub(crate) use compose::Profile;
    pub(crate) use registry::Registry;
    pub(crate) use rule::{Applicability, Cond, Op, Rule, Step};

    /// The built-in data read from its YAML source.
    mod builtin {
        use super::error::{yaml_err, ProfileError};
        use serde::de::DeserializeOwned;

        pub(crate) const REGISTRY: &str = include_str!("profiles/registry.yaml");
        pub(crate) const FEATURE_GATES: &str = include_str!("profiles/feature-gates.yaml");
        pub(crate) const KUBEADM_FACTS: &str = include_str!("profiles/kubeadm.yaml");
        pub(crate) const BUILTIN: &[(&str, &str)] = &[
            ("baseline", include_str!("profiles/baseline.yaml")),
            ("strict", include_str!("profiles/strict.yaml")),
        ];

        /// None is built yet: that is what the build is doing.
        pub(crate) fn built(_: &str) -> Option<&'static str> {
            None
        }

        pub(crate) fn read<T: DeserializeOwned>(
            origin: &str,
            yaml: &str,
        ) -> Result<T, ProfileError> {
            yaml_serde::from_str(yaml).map_err(|e| yaml_err(origin, e))
        }
    }
    pub(crate) use builtin::BUILTIN;
}
