//! The per-(entry, querier) and per-(entry, name) summaries, which the
//! SQLite store aggregates in memory per batch, equal what one upsert per
//! lookup gives: every key's first and last sighting and its count,
//! computed here independently from the lookups of the real-capture corpus.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dnswatch::capture::file::FileSource;
use dnswatch::capture::PacketSource;
use dnswatch::model::Lookup;
use dnswatch::pipeline::{Pipeline, PipelineConfig};
use dnswatch::store::sqlite::SqliteStore;
use dnswatch::store::{Batch, Sink};
use dnswatch::watch::Watchlist;

/// Every lookup of every corpus file through the pipeline (no detectors:
/// they are not what is tested, and their hourly models over the corpus's
/// years-long gaps are slow in a debug build).
fn corpus_lookups(watch: &[&str]) -> Vec<Lookup> {
    let mut out = Vec::new();
    for path in support::corpus_files(&support::corpus_dir()) {
        let mut src = FileSource::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut p = Pipeline::new(
            &PipelineConfig::default(),
            Arc::new(Watchlist::new(watch).expect("watch list")),
        );
        p.begin_source(&path.display().to_string());
        let mut n = 0;
        // Damaged files end at the damage: what was read counts.
        while let Ok(Some(pkt)) = src.next_packet() {
            n += 1;
            p.packet(pkt.ts_us, n, pkt.link, pkt.data);
            out.extend(p.take_lookups());
        }
        p.finish();
        out.extend(p.take_lookups());
    }
    out
}

type Rows = BTreeMap<(String, String), (i64, i64, i64)>;

/// The reference: one update per lookup and entry, as a per-row upsert does.
fn per_row(lookups: &[Lookup]) -> (Rows, Rows) {
    let (mut q, mut n) = (Rows::new(), Rows::new());
    for l in lookups {
        for e in l.entries() {
            for (map, key) in [
                (&mut q, l.querier.ip().to_string()),
                (&mut n, l.qname.clone()),
            ] {
                let r = map
                    .entry((e.to_string(), key))
                    .or_insert((l.ts_us, l.ts_us, 0));
                r.0 = r.0.min(l.ts_us);
                r.1 = r.1.max(l.ts_us);
                r.2 += 1;
            }
        }
    }
    (q, n)
}

fn stored(path: &Path) -> (Rows, Rows) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let read = |sql: &str| {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?, r.get(4)?)))
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Rows>()
    };
    (
        read("SELECT entry, querier, first_seen_us, last_seen_us, count FROM querier_summary"),
        read("SELECT entry, qname, first_seen_us, last_seen_us, count FROM name_summary"),
    )
}

#[test]
fn batched_summaries_equal_per_row_upserts_on_the_corpus() {
    let mut lookups = corpus_lookups(&[".", "com", "org", "net"]);
    assert!(lookups.len() > 500, "{} lookups", lookups.len());
    // A lookup also counted under a watched address it was answered with
    // (`also`): give every third one such an entry, so keys of two
    // entries interleave.
    for (i, l) in lookups.iter_mut().enumerate() {
        if i % 3 == 0 {
            l.also.push("192.0.2.0/24".into());
        }
    }
    let (want_q, want_n) = per_row(&lookups);
    let tmp = tempfile::tempdir().unwrap();
    // Batches of one lookup (per-row), of 97 (keys repeat within and
    // across batches) and one batch of everything.
    for size in [1, 97, lookups.len()] {
        let path = tmp.path().join(format!("s{size}.db"));
        let mut store = SqliteStore::open(&path).unwrap();
        for chunk in lookups.chunks(size) {
            store
                .write(&Batch {
                    lookups: chunk.to_vec(),
                    ..Batch::default()
                })
                .unwrap();
        }
        drop(store);
        let (q, n) = stored(&path);
        assert_eq!(q, want_q, "querier_summary, batches of {size}");
        assert_eq!(n, want_n, "name_summary, batches of {size}");
    }
}
