//! Every cargo-fuzz target's body (fuzz/bodies/, the same code libFuzzer
//! drives) run by `cargo test` over seeds and their mutants: what the fuzz
//! smoke's seed replay did in CI, without a second, instrumented build of
//! every dependency (half the CI time on a fresh machine went to building).
//! Coverage-guided fuzzing stays `scripts/fuzz-smoke.sh` / `cargo fuzz run`
//! (docs/fuzzing.md); a crash it finds is saved in fuzz/regressions/, which
//! this test replays too.
//!
//! Seeds: the real-capture corpus (`$DNSWATCH_CORPUS`) and pcaps/ for the
//! capture reader, frames (as `[link index] + frame`) for the packet decoder,
//! every DNS payload the decoder yields for the message decoder, config/
//! for the config parser, tests/data/*.dnstap for dnstap, and pseudo-random
//! bytes for the structured targets. Each seed is run as is and as
//! deterministic mutants (bit flips, cuts, a duplicated chunk): the same
//! inputs on every run.

use std::path::{Path, PathBuf};

use dnswatch::capture::reader::CaptureReader;
use dnswatch::decode::{DecodeConfig, Decoder};

mod support;

#[path = "../fuzz/bodies/capture_reader.rs"]
mod capture_reader;
#[path = "../fuzz/bodies/config_parse.rs"]
mod config_parse;
#[path = "../fuzz/bodies/decode_packet.rs"]
mod decode_packet;
#[path = "../fuzz/bodies/defrag.rs"]
mod defrag;
#[path = "../fuzz/bodies/dns_message.rs"]
mod dns_message;
#[path = "../fuzz/bodies/dnssec_rdata.rs"]
mod dnssec_rdata;
#[path = "../fuzz/bodies/dnstap.rs"]
mod dnstap;
#[path = "../fuzz/bodies/tcp_reassembly.rs"]
mod tcp_reassembly;

/// xorshift64*: deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `n` mutants of `seed`: flipped bits, a cut, a duplicated chunk.
fn mutants(seed: &[u8], n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut m = seed.to_vec();
            if m.is_empty() {
                return rng.bytes(16);
            }
            match i % 3 {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(m.len());
                        m[at] ^= 1 << rng.below(8);
                    }
                }
                1 => m.truncate(rng.below(m.len())),
                _ => {
                    let a = rng.below(m.len());
                    let b = (a + 1 + rng.below(64)).min(m.len());
                    let chunk = m[a..b].to_vec();
                    let at = rng.below(m.len());
                    m.splice(at..at, chunk);
                }
            }
            m
        })
        .collect()
}

/// Saved crashes of `target` (fuzz/regressions/TARGET-*).
fn regressions(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{target}-"))
            {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// Runs `body` over the regressions, the seeds and `per_seed` mutants of
/// each; returns how many inputs ran.
fn exercise(target: &str, seeds: &[Vec<u8>], per_seed: usize, body: fn(&[u8])) -> usize {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    let mut n = 0;
    for input in regressions(target).iter().chain(seeds) {
        body(input);
        n += 1;
    }
    for s in seeds {
        for m in mutants(s, per_seed, &mut rng) {
            body(&m);
            n += 1;
        }
    }
    n
}

/// Capture files: the corpus and the repository's fixtures.
fn captures() -> Vec<PathBuf> {
    let mut files = support::corpus_files(&support::corpus_dir());
    files.extend(support::corpus_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps"),
    ));
    assert!(files.len() > 10, "too few captures: {files:?}");
    files
}

/// Every frame of every capture, with its link type.
fn frames() -> Vec<(i32, Vec<u8>)> {
    let mut out = Vec::new();
    for f in captures() {
        let bytes = std::fs::read(&f).unwrap();
        let Ok(mut r) = CaptureReader::open(std::io::Cursor::new(bytes)) else {
            continue;
        };
        while let Ok(true) = r.advance() {
            let p = r.packet();
            out.push((p.link.to_pcap(), p.data.to_vec()));
        }
    }
    assert!(out.len() > 1000, "only {} frames in the corpus", out.len());
    out
}

#[test]
fn capture_reader_body_over_captures_and_mutants() {
    let seeds: Vec<Vec<u8>> = captures()
        .iter()
        .map(|f| {
            let mut b = std::fs::read(f).unwrap();
            b.truncate(64 * 1024);
            b
        })
        .collect();
    let n = exercise("capture_reader", &seeds, 20, capture_reader::run_bytes);
    assert!(n > 1000, "{n}");
}

#[test]
fn decode_packet_body_over_frames_and_mutants() {
    let mut seeds = Vec::new();
    let all = frames();
    for (link, frame) in &all {
        if let Some(i) = decode_packet::LINK_TYPES.iter().position(|l| l == link) {
            let mut s = vec![i as u8];
            s.extend_from_slice(frame);
            seeds.push(s);
        }
    }
    // Runs of consecutive frames (fragments and TCP streams need several).
    for run in all.chunks(16).step_by(7) {
        let Some(i) = decode_packet::LINK_TYPES
            .iter()
            .position(|l| *l == run[0].0)
        else {
            continue;
        };
        let mut s = vec![i as u8];
        for (k, (_, f)) in run.iter().enumerate() {
            if k > 0 {
                s.extend_from_slice(decode_packet::SEP);
            }
            s.extend_from_slice(f);
        }
        seeds.push(s);
    }
    assert!(seeds.len() > 1000, "{} seeds", seeds.len());
    exercise("decode_packet", &seeds, 2, decode_packet::run_bytes);
}

#[test]
fn dns_message_body_over_every_corpus_payload_and_mutants() {
    let mut seeds = Vec::new();
    let mut decoder = Decoder::new(&DecodeConfig::default());
    for (i, (link, frame)) in frames().iter().enumerate() {
        let link = dnswatch::decode::LinkType::from_pcap(*link);
        decoder.packet(i as i64, i as u64, link, frame, &mut |d| {
            seeds.push(d.payload.to_vec())
        });
    }
    decoder.flush(&mut |d| seeds.push(d.payload.to_vec()));
    seeds.sort();
    seeds.dedup();
    assert!(seeds.len() > 500, "{} DNS payloads", seeds.len());
    exercise("dns_message", &seeds, 4, dns_message::run_bytes);
}

#[test]
fn config_parse_body_over_shipped_configs_and_mutants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(seeds.len() >= 2, "{} configs", seeds.len());
    exercise("config_parse", &seeds, 300, config_parse::run_bytes);
}

#[test]
fn dnstap_body_over_unbound_output_and_mutants() {
    let stream =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unbound-1.17.dnstap"))
            .unwrap();
    let mut seeds = vec![stream.clone()];
    for cut in [stream.len() / 3, stream.len() / 2, stream.len() - 1] {
        seeds.push(stream[..cut].to_vec());
    }
    exercise("dnstap", &seeds, 500, dnstap::run_bytes);
}

#[test]
fn structured_bodies_over_pseudo_random_inputs() {
    let mut rng = Rng(0x2016_0923);
    let seeds: Vec<Vec<u8>> = (0..600)
        .map(|i| {
            let n = 1 + i % 512;
            rng.bytes(n)
        })
        .collect();
    exercise("dnssec_rdata", &seeds, 2, dnssec_rdata::run_bytes);
    exercise("defrag", &seeds, 2, defrag::run_bytes);
    exercise("tcp_reassembly", &seeds, 2, tcp_reassembly::run_bytes);
}
