//! Micro-benchmarks of the per-packet path (criterion, stable toolchain):
//!
//! * the DNS pre-parse of a typical query and response;
//! * watch-list matching with 10 and with 10,000 entries (the cost must not
//!   grow with the list: both are hash lookups per label suffix);
//! * the full decode (`parse::message`, wire fast path plus hickory for the
//!   rest) against the all-hickory reference (`parse::message_reference`)
//!   on real answered responses: those of the conformance corpus
//!   (`$DNSWATCH_CORPUS`, default `../shared/pcaps/real`) and, when
//!   `DNSWATCH_BENCH_PCAP` names a capture, its first 20,000 answered
//!   responses on `DNSWATCH_BENCH_PORT` (default 53);
//! * the whole pipeline over the bundled loopback fixtures.
//!
//! ```text
//! cargo bench --bench decode
//! DNSWATCH_BENCH_PCAP=bench-data/big.pcap DNSWATCH_BENCH_PORT=15353 \
//!     cargo bench --bench decode -- 'full decode'
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dnswatch::capture::file::FileSource;
use dnswatch::capture::PacketSource;
use dnswatch::decode::{DecodeConfig, Decoder};
use dnswatch::dns::parse;
use dnswatch::dns::wire::{self, NameBuf};
use dnswatch::pipeline::{Pipeline, PipelineConfig};
use dnswatch::watch::Watchlist;

fn response() -> Vec<u8> {
    let mut m = vec![0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 10]);
    m
}

fn bench_preparse(c: &mut Criterion) {
    let msg = response();
    let mut name = NameBuf::default();
    c.bench_function("wire::peek response", |b| {
        b.iter(|| black_box(wire::peek(black_box(&msg), &mut name, true).is_ok()))
    });
}

fn bench_watch(c: &mut Criterion) {
    let mut name = NameBuf::default();
    wire::peek(&response(), &mut name, false).ok();
    let mut g = c.benchmark_group("watch match (no hit)");
    for n in [10usize, 10_000] {
        let entries: Vec<String> = (0..n).map(|i| format!("w{i}.example.net")).collect();
        let w = Watchlist::new(&entries).unwrap_or_default();
        g.bench_function(format!("{n} entries"), |b| {
            b.iter(|| black_box(w.match_name(black_box(&name))))
        });
    }
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let mut packets: Vec<(i64, dnswatch::decode::LinkType, Vec<u8>)> = Vec::new();
    for f in ["udp4.pcap", "tcp4.pcap", "udp6-tcp6.pcap", "ecs.pcap"] {
        let Ok(mut src) = FileSource::open(&dir.join(f)) else {
            continue;
        };
        while let Ok(Some(p)) = src.next_packet() {
            packets.push((p.ts_us, p.link, p.data.to_vec()));
        }
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function("fixtures, 1 watched zone", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(
                &PipelineConfig::default(),
                Arc::new(Watchlist::new(["lab.example"]).unwrap_or_default()),
            );
            p.begin_source("bench");
            for (i, (ts, link, data)) in packets.iter().enumerate() {
                p.packet(*ts, i as u64, *link, data);
            }
            p.finish();
            black_box(p.take_lookups().len())
        })
    });
    g.finish();
}

/// Answered responses (QR set, at least one answer) of the captures in
/// `files`, at most `max`.
fn answered_responses(files: &[std::path::PathBuf], ports: &[u16], max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let cfg = DecodeConfig {
        dns_ports: ports.to_vec(),
        ..DecodeConfig::default()
    };
    let keep = |p: &[u8], out: &mut Vec<Vec<u8>>| {
        if out.len() < max && wire::header(p).is_ok_and(|h| h.is_response() && h.ancount > 0) {
            out.push(p.to_vec());
        }
    };
    for f in files {
        let Ok(mut src) = FileSource::open(f) else {
            continue;
        };
        let mut dec = Decoder::new(&cfg);
        let mut frame = 0;
        while let Ok(Some(p)) = src.next_packet() {
            frame += 1;
            dec.packet(p.ts_us, frame, p.link, p.data, &mut |d| {
                keep(d.payload, &mut out)
            });
            if out.len() >= max {
                break;
            }
        }
        dec.flush(&mut |d| keep(d.payload, &mut out));
    }
    out
}

fn bench_full_decode(c: &mut Criterion) {
    let corpus = std::env::var_os("DNSWATCH_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/real"));
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"));
    files.sort();
    let mut sets = vec![("corpus", answered_responses(&files, &[53], usize::MAX))];
    if let Some(pcap) = std::env::var_os("DNSWATCH_BENCH_PCAP") {
        let port = std::env::var("DNSWATCH_BENCH_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(53);
        sets.push((
            "capture",
            answered_responses(&[pcap.into()], &[port], 20_000),
        ));
    }
    let mut g = c.benchmark_group("full decode");
    for (set, msgs) in sets {
        if msgs.is_empty() {
            continue;
        }
        g.throughput(Throughput::Elements(msgs.len() as u64));
        g.bench_function(
            format!("{set} ({} responses), fast path", msgs.len()),
            |b| {
                b.iter(|| {
                    msgs.iter()
                        .map(|m| parse::message(black_box(m)).map_or(0, |m| m.answers.len()))
                        .sum::<usize>()
                })
            },
        );
        g.bench_function(format!("{set} ({} responses), hickory", msgs.len()), |b| {
            b.iter(|| {
                msgs.iter()
                    .map(|m| parse::message_reference(black_box(m)).map_or(0, |m| m.answers.len()))
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_preparse,
    bench_watch,
    bench_full_decode,
    bench_pipeline
);
criterion_main!(benches);
