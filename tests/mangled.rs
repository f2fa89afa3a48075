//! Hostile captures: every corpus file and mangled variants of it (cut at
//! every packet boundary and in the middle of packets, random byte flips,
//! wrong record lengths, a pcapng block with a bad length) replay without a
//! panic; what is readable is processed and damage is reported with the file
//! and byte offset.

mod support;

use std::path::Path;
use std::sync::Arc;

use dnswatch::capture::file::FileSource;
use dnswatch::capture::{CaptureError, PacketSource};
use dnswatch::pipeline::{Pipeline, PipelineConfig};
use dnswatch::watch::Watchlist;
use support::{corpus_dir, corpus_files};

/// Replays a file watching everything; returns (packets read, damage offset).
fn replay(path: &Path) -> Result<(u64, Option<u64>), String> {
    let mut src = match FileSource::open(path) {
        Ok(s) => s,
        Err(e) => return Err(e.to_string()),
    };
    let mut p = Pipeline::new(
        &PipelineConfig::default(),
        Arc::new(Watchlist::new(["."]).unwrap()),
    );
    p.begin_source("x");
    let mut n = 0;
    let damage = loop {
        match src.next_packet() {
            Ok(Some(pkt)) => {
                n += 1;
                p.packet(pkt.ts_us, n, pkt.link, pkt.data);
                let _ = p.take_lookups();
            }
            Ok(None) => break None,
            Err(CaptureError::Damaged {
                offset, path: f, ..
            }) => {
                assert_eq!(f, path, "damage names the file");
                break Some(offset);
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    p.finish();
    Ok((n, damage))
}

/// Record boundaries of a classic little/big-endian pcap (offsets of each record).
fn pcap_records(data: &[u8]) -> Option<Vec<usize>> {
    let le = match data.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return None,
    };
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        out.push(off);
        let b = [data[off + 8], data[off + 9], data[off + 10], data[off + 11]];
        let caplen = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize;
        off += 16 + caplen;
    }
    Some(out)
}

#[test]
fn every_corpus_file_and_its_truncations_replay_without_panic() {
    let dir = corpus_dir();
    let tmp = tempfile::tempdir().unwrap();
    let mut cuts_tested = 0;
    for file in corpus_files(&dir) {
        let data = std::fs::read(&file).unwrap();
        let whole = replay(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let Some(records) = pcap_records(&data) else {
            continue;
        };
        // At most 40 records per file, spread over it: boundary cuts and mid-record cuts.
        let step = records.len().div_ceil(40).max(1);
        for (i, &rec) in records.iter().enumerate().step_by(step) {
            for cut in [rec, rec + 7, rec + 20] {
                if cut >= data.len() {
                    continue;
                }
                let path = tmp.path().join("cut.pcap");
                std::fs::write(&path, &data[..cut]).unwrap();
                let (n, damage) = replay(&path)
                    .unwrap_or_else(|e| panic!("{} cut at {cut}: {e}", file.display()));
                // Every complete record before the cut was read.
                assert_eq!(n, i as u64, "{} cut at {cut}", file.display());
                if cut == rec {
                    assert_eq!(damage, None, "a cut on a boundary is a clean end");
                } else {
                    assert_eq!(
                        damage,
                        Some(rec as u64),
                        "{} cut at {cut}: damage offset",
                        file.display()
                    );
                }
                cuts_tested += 1;
            }
        }
        assert!(
            whole.1.is_none() || file.display().to_string().contains("truncated"),
            "{}",
            file.display()
        );
    }
    assert!(cuts_tested > 500, "{cuts_tested}");
}

#[test]
fn byte_flips_and_bad_record_lengths_never_panic() {
    let dir = corpus_dir();
    let tmp = tempfile::tempdir().unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut variants = 0;
    for file in corpus_files(&dir) {
        let data = std::fs::read(&file).unwrap();
        for round in 0..8 {
            let mut m = data.clone();
            // Flip bytes past the file header (a broken file header is just "not a capture").
            let flips = 1 + (rnd() % 16) as usize;
            for _ in 0..flips {
                let at = 24 + (rnd() as usize) % m.len().saturating_sub(24).max(1);
                if at < m.len() {
                    m[at] ^= (rnd() as u8) | 1;
                }
            }
            if round == 0 {
                if let Some(recs) = pcap_records(&data) {
                    // A record header claiming far more bytes than exist.
                    if let Some(&r) = recs.get(recs.len() / 2) {
                        m[r + 8..r + 12].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
                    }
                }
            }
            let path = tmp.path().join(format!("flip{round}.pcap"));
            std::fs::write(&path, &m).unwrap();
            // Ok or a clean error; what matters is no panic.
            let _ = replay(&path);
            variants += 1;
        }
    }
    assert!(variants >= 600);
}

#[test]
fn pcapng_block_with_a_bad_length_is_reported_with_its_offset() {
    let dir = corpus_dir();
    let data = std::fs::read(dir.join("zeek-pcapng-multi-interface.pcapng")).unwrap();
    // Walk the blocks, break the length of the third packet block.
    let mut off = 0usize;
    let mut packets = 0;
    let mut target = None;
    while off + 8 <= data.len() {
        let btype = u32::from_le_bytes(data[off..off + 4].try_into().unwrap());
        let len = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap()) as usize;
        if btype == 6 {
            packets += 1;
            if packets == 3 {
                target = Some(off);
                break;
            }
        }
        off += len;
    }
    let at = target.expect("three packet blocks");
    let mut m = data.clone();
    m[at + 4..at + 8].copy_from_slice(&7u32.to_le_bytes());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.pcapng");
    std::fs::write(&path, &m).unwrap();
    let (n, damage) = replay(&path).expect("opens");
    assert_eq!(n, 2);
    assert_eq!(damage, Some(at as u64));
}
