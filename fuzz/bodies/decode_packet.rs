// Shared by the cargo-fuzz target fuzz/fuzz_targets/decode_packet.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! Whole decode path: link layer → IP (fragments, tunnels) → UDP / TCP
//! (stream reassembly) → DNS pre-parse and full decode.
//!
//! Input layout: byte 0 picks the link type (`LINK_TYPES[b % 11]`); the rest
//! is a sequence of frames separated by `SEP` (`~pkt~`), decoded in order by
//! one `Decoder`, so fragment and TCP state carry over between them. Frames
//! are 1 ms apart in packet time; an empty frame (two separators in a row)
//! also moves the clock forward 31 s, past the fragment timeout and half the
//! TCP idle timeout, so the expiry paths run too. `flush` at the end.

use dnswatch::decode::{DecodeConfig, Decoder, LinkType};
use dnswatch::dns::{parse, wire};

pub const LINK_TYPES: [i32; 11] = [0, 1, 9, 12, 101, 108, 113, 228, 229, 239, 276];
pub const SEP: &[u8] = b"~pkt~";
const MAX_FRAMES: usize = 64;

fn frames(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match data.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                let f = &data[..i];
                data = &data[i + SEP.len()..];
                Some(f)
            }
            None => {
                done = true;
                Some(data)
            }
        }
    })
    .take(MAX_FRAMES)
}

fn check(payload: &[u8], name: &mut wire::NameBuf) {
    let peek = wire::peek(payload, name, true);
    let full = parse::message(payload);
    // The pre-parse decides what reaches the full decode: they must agree.
    assert_eq!(
        peek.is_ok(),
        full.is_ok(),
        "peek {peek:?} vs message {full:?}"
    );
}

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let link = LinkType::from_pcap(LINK_TYPES[usize::from(sel) % LINK_TYPES.len()]);
    let mut decoder = Decoder::new(&DecodeConfig::default());
    let mut name = wire::NameBuf::default();
    let mut ts: i64 = 1_700_000_000_000_000;
    let mut emit = |d: &dnswatch::decode::Datagram<'_>| check(d.payload, &mut name);
    for (i, frame) in frames(rest).enumerate() {
        ts += if frame.is_empty() { 31_000_000 } else { 1_000 };
        decoder.packet(ts, i as u64 + 1, link, frame, &mut emit);
    }
    decoder.flush(&mut emit);
}

/// The same entry point for every body (tests/fuzz_bodies.rs).
pub fn run_bytes(data: &[u8]) {
    run(data);
}
