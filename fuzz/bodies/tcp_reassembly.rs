// Shared by the cargo-fuzz target fuzz/fuzz_targets/tcp_reassembly.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! DNS-over-TCP stream reassembly and length-prefix framing, driven by an
//! arbitrary sequence of segments over up to 20 connections (40 directed
//! streams, more than the cap of 16) with arbitrary flags, sequence and
//! acknowledgement numbers relative to each direction's initial sequence
//! number, and packet time that only moves forward (sometimes past the
//! 60 s idle timeout).
//!
//! Invariants: no panic; every framed message is non-empty and at most
//! 65535 bytes; the framed bytes (message + 2-byte prefix) never exceed the
//! payload bytes fed in; a message's time is never in the future; at most
//! 16 streams hold state.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use arbitrary::Arbitrary;
use dnswatch::decode::tcp::{Reassembler, SegFlags, StreamKey};

const MAX_STREAMS: usize = 16;
const MAX_PAYLOAD: usize = 300;

#[derive(Arbitrary, Debug)]
pub struct Segment {
    /// Connection (client port 40000 + conn % 20).
    conn: u8,
    /// false: client → server, true: server → client.
    dir: bool,
    /// Sequence number relative to this direction's initial sequence number.
    seq_off: u16,
    syn: bool,
    fin: bool,
    rst: bool,
    ack: bool,
    /// Ack number relative to the other direction's initial sequence number.
    ack_off: u32,
    /// Packet time advance in ms (up to ~65 s).
    ts_step_ms: u16,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Initial sequence numbers (client, server): exercise wrap-around.
    isn: (u32, u32),
    segments: Vec<Segment>,
}

pub fn run(input: Input) {
    let mut r = Reassembler::new(MAX_STREAMS, 60_000_000);
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)), 53);
    let mut ts: i64 = 1_700_000_000_000_000;
    let mut fed = 0usize;
    let mut framed = 0usize;
    let check = |_key: StreamKey, at: i64, msg: &[u8], now: i64, framed: &mut usize| {
        assert!(!msg.is_empty(), "empty message emitted");
        assert!(msg.len() <= 65_535, "message of {} bytes", msg.len());
        assert!(at <= now, "message time {at} after packet time {now}");
        *framed += msg.len() + 2;
    };
    for seg in input.segments.iter().take(256) {
        ts += i64::from(seg.ts_step_ms) * 1_000;
        let client = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            40_000 + u16::from(seg.conn % 20),
        );
        let (key, isn, peer_isn) = if seg.dir {
            ((server, client), input.isn.1, input.isn.0)
        } else {
            ((client, server), input.isn.0, input.isn.1)
        };
        let payload = &seg.payload[..seg.payload.len().min(MAX_PAYLOAD)];
        fed += payload.len();
        let flags = SegFlags {
            syn: seg.syn,
            fin: seg.fin,
            rst: seg.rst,
            ack: seg.ack,
        };
        r.segment(
            ts,
            key,
            isn.wrapping_add(u32::from(seg.seq_off)),
            peer_isn.wrapping_add(seg.ack_off),
            flags,
            payload,
            &mut |k, at, msg| check(k, at, msg, ts, &mut framed),
        );
        assert!(r.in_use() <= MAX_STREAMS, "{} streams", r.in_use());
        assert!(framed <= fed, "framed {framed} bytes from {fed} fed");
    }
    r.flush(&mut |k, at, msg| check(k, at, msg, ts, &mut framed));
    assert!(framed <= fed, "framed {framed} bytes from {fed} fed");
    assert_eq!(r.in_use(), 0, "flush left streams");
}

/// Bytes to the structured input, as libFuzzer's `fuzz_target!` does it.
pub fn run_bytes(data: &[u8]) {
    if let Ok(input) =
        <Input as arbitrary::Arbitrary>::arbitrary_take_rest(arbitrary::Unstructured::new(data))
    {
        run(input);
    }
}
