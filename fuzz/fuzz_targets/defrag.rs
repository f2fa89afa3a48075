//! cargo-fuzz target; the body (what is checked, and why) is in
//! fuzz/bodies/defrag.rs, shared with tests/fuzz_bodies.rs.
#![no_main]

#[path = "../bodies/defrag.rs"]
#[allow(dead_code)] // run_bytes is for tests/fuzz_bodies.rs
mod body;

libfuzzer_sys::fuzz_target!(|frags: Vec<body::Fragment>| body::run(frags));
