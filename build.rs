//! Converts the built-in data under profiles/ from YAML to JSON when the crate is built. Every
//! run reads the registry and a profile, and serde reads JSON about ten times faster than YAML
//! (docs/performance.md, "Start-up"); the YAML stays the source, and a test checks that both
//! read the same.

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
}
