//! cargo-fuzz target; the body (what is checked, and why) is in
//! fuzz/bodies/tcp_reassembly.rs, shared with tests/fuzz_bodies.rs.
#![no_main]

#[path = "../bodies/tcp_reassembly.rs"]
#[allow(dead_code)] // run_bytes is for tests/fuzz_bodies.rs
mod body;

libfuzzer_sys::fuzz_target!(|input: body::Input| body::run(input));
