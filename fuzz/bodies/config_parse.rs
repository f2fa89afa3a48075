// Shared by the cargo-fuzz target fuzz/fuzz_targets/config_parse.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! The TOML configuration: `Config::from_str` returns Ok or Err on any text,
//! and a config that loads yields its pipeline settings.
//!
//! `from_str` validates the watch list, which reads every `[watch] files`
//! entry from disk. To keep runs hermetic (a fuzzer that found
//! `files = ["/dev/zero"]` would hang or exhaust memory), inputs whose
//! `watch.files` name an absolute path or a `..` component are skipped;
//! relative paths resolve against the working directory and are read.

use std::path::{Component, Path};

fn reads_outside(text: &str) -> bool {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return false; // the real parse fails on the same syntax, before any read
    };
    let Some(files) = table
        .get("watch")
        .and_then(|w| w.get("files"))
        .and_then(|f| f.as_array())
    else {
        return false;
    };
    files.iter().filter_map(|f| f.as_str()).any(|f| {
        Path::new(f)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    })
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if reads_outside(&text) {
        return;
    }
    if let Ok(cfg) = dnswatch::config::Config::from_str(&text, Path::new("fuzz.toml")) {
        let _ = cfg.pipeline();
    }
}

/// The same entry point for every body (tests/fuzz_bodies.rs).
pub fn run_bytes(data: &[u8]) {
    run(data);
}
