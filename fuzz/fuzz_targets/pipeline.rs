//! load → check → plan → edit → verify, as check, check --format sarif, diff and fix run it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kubeharden::fuzzing::pipeline(data);
});
