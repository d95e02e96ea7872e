
#![no_main]

use libfuzzer_sys::fuzz_target;

// The entry points live with the tests, which run them over every fixture.
#[path = "../../tests/it/support/fuzzing.rs"]
#[allow(dead_code)]
mod fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::pipeline(data);
});
