// Shared by the cargo-fuzz target fuzz/fuzz_targets/defrag.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! IPv4/IPv6 fragment reassembly with a 4096-byte memory cap and a 1 s
//! timeout, driven by arbitrary fragments of up to 8 datagrams (ids), with
//! aligned or arbitrary offsets and packet time moving forward.
//!
//! Invariants: no panic; buffered bytes never exceed the cap after an add;
//! nothing buffered when no datagram is pending; a completed datagram is at
//! most 65535 bytes and exactly as long as its last fragment's end.

use std::net::{IpAddr, Ipv4Addr};

use arbitrary::Arbitrary;
use dnswatch::decode::defrag::{Defragmenter, FragKey, Outcome};

const CAP: usize = 4096;
const MAX_DATA: usize = 200;

#[derive(Arbitrary, Debug)]
pub enum Offset {
    /// Offset in 8-byte units, as on the wire (decoder inputs).
    Units(u16),
    /// Any byte offset (the API accepts them).
    Bytes(u16),
}

#[derive(Arbitrary, Debug)]
pub struct Fragment {
    id: u8,
    offset: Offset,
    more: bool,
    /// Packet time advance in units of 10 ms (up to 2.55 s).
    ts_step: u8,
    data: Vec<u8>,
}

pub fn run(frags: Vec<Fragment>) {
    let mut d = Defragmenter::new(CAP, 1_000_000);
    let mut ts: i64 = 1_700_000_000_000_000;
    for f in frags.iter().take(512) {
        ts += i64::from(f.ts_step) * 10_000;
        let key = FragKey {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            id: u32::from(f.id % 8),
            proto: 17,
        };
        let offset = match f.offset {
            Offset::Units(u) => usize::from(u & 0x1fff) * 8,
            Offset::Bytes(b) => usize::from(b),
        };
        let data = &f.data[..f.data.len().min(MAX_DATA)];
        match d.add(ts, key, offset, f.more, data) {
            Outcome::Complete(whole) => {
                assert!(whole.len() <= 65_535, "datagram of {} bytes", whole.len());
                if !f.more {
                    assert_eq!(
                        whole.len(),
                        offset + data.len(),
                        "length != last fragment's end"
                    );
                }
            }
            Outcome::Pending | Outcome::Malformed => {}
        }
        assert!(d.bytes() <= CAP, "{} bytes buffered, cap {CAP}", d.bytes());
        if d.in_use() == 0 {
            assert_eq!(d.bytes(), 0, "bytes buffered with no datagram pending");
        }
    }
}

/// Bytes to the structured input, as libFuzzer's `fuzz_target!` does it.
pub fn run_bytes(data: &[u8]) {
    if let Ok(input) = <Vec<Fragment> as arbitrary::Arbitrary>::arbitrary_take_rest(
        arbitrary::Unstructured::new(data),
    ) {
        run(input);
    }
}
