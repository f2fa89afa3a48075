//! Micro-benchmarks of the per-packet path (criterion, stable toolchain):
//!
//! * the DNS pre-parse of a typical query and response;
//! * watch-list matching with 10 and with 10,000 entries (the cost must not
//!   grow with the list: both are hash lookups per label suffix);
//! * the whole pipeline over the bundled loopback fixtures.
//!
//!     cargo bench --bench decode

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dnswatch::capture::file::FileSource;
use dnswatch::capture::PacketSource;
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

criterion_group!(benches, bench_preparse, bench_watch, bench_pipeline);
criterion_main!(benches);
