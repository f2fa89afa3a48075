//! cargo-fuzz target; the body (what is checked, and why) is in
//! fuzz/bodies/config_parse.rs, shared with tests/fuzz_bodies.rs.
#![no_main]

#[path = "../bodies/config_parse.rs"]
#[allow(dead_code)] // run_bytes is for tests/fuzz_bodies.rs
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
