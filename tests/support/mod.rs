//! Shared test helpers.
#![allow(dead_code)]
pub mod scenario;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dnswatch::capture::file::FileSource;
use dnswatch::capture::PacketSource;
use dnswatch::model::Lookup;
use dnswatch::pipeline::{Pipeline, PipelineConfig};
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

/// Replays files through the library pipeline and returns all lookups.
pub fn replay_lookups(files: &[&Path], watch: &[&str]) -> Vec<Lookup> {
    replay_with(files, watch, &PipelineConfig::default()).0
}

/// Like [`replay_lookups`], also returning the pipeline for its counters.
pub fn replay_with(
    files: &[&Path],
    watch: &[&str],
    cfg: &PipelineConfig,
) -> (Vec<Lookup>, Pipeline) {
    let watch = Arc::new(Watchlist::new(watch).expect("watch list"));
    let mut p = Pipeline::new(cfg, watch);
    let mut out = Vec::new();
    for f in files {
        let mut src = FileSource::open(f).unwrap_or_else(|e| panic!("{e}"));
        p.begin_source(&f.display().to_string());
        let mut frame = 0;
        while let Ok(Some(pkt)) = src.next_packet() {
            frame += 1;
            p.packet(pkt.ts_us, frame, pkt.link, pkt.data);
            out.extend(p.take_lookups());
        }
    }
    p.finish();
    out.extend(p.take_lookups());
    (out, p)
}
