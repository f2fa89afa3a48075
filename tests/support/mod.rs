//! Shared test helpers.
#![allow(dead_code)]
pub mod daemon;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dnswatch::capture::file::FileSource;
use dnswatch::capture::merge::Merge;
use dnswatch::config::Config;
use dnswatch::driver::Runner;
use dnswatch::model::{Lookup, Preload};
use dnswatch::watch::Watchlist;

/// The real-capture corpus: `$DNSWATCH_CORPUS` or `../shared/pcaps/real`.
/// Missing corpus is a test failure, not a skip.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("DNSWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/real"));
    assert!(
        dir.join("expected").is_dir(),
        "conformance corpus not found at {} (set DNSWATCH_CORPUS)",
        dir.display()
    );
    dir
}

/// Capture files of the corpus, sorted.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    files
}

/// Lookups of `files` (merged by packet time, as `replay` does) through
/// the same driver as `replay` and `run`, collected in memory (no store).
pub fn replay_lookups(files: &[&Path], watch: &[&str]) -> Vec<Lookup> {
    let watch = Arc::new(Watchlist::new(watch).expect("watch list"));
    let config = Config::default();
    let mut runner = Runner::new(&config, watch, None, None, &Preload::default()).expect("runner");
    let sources = files
        .iter()
        .map(|f| FileSource::open(f).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut merge = Merge::new(sources);
    runner
        .drive(&mut merge, |_, _| std::ops::ControlFlow::Continue(()))
        .expect("drive");
    assert!(merge.failed().is_empty(), "{:?}", merge.failed());
    runner.finish().expect("finish").1
}
