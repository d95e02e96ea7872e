//! The YAML reader and the loaders of manifests, kubeadm and component configuration files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kubeharden::fuzzing::load(data);
});
