// Shared by the cargo-fuzz target fuzz/fuzz_targets/dnstap.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! dnstap input: Frame Streams parsing (file reader and the bidirectional
//! session) and protobuf decoding into DNS messages. Invariants: no panic;
//! every frame the parser returns lies inside the input and re-encodes to
//! the bytes it was parsed from; a control frame round-trips through
//! `encode`; a mapped DNS message is part of the frame it came from and
//! has a time.

use bytes::Bytes;
use dnswatch::dnstap::frame::{self, FileReader, Frame, Session};
use dnswatch::dnstap::map;

const MAX: usize = 4096;

fn payloads(frame_bytes: &[u8]) {
    let total = frame_bytes.len();
    let Ok(d) = map::decode(Bytes::copy_from_slice(frame_bytes)) else {
        return;
    };
    let _ = map::map(&d, true, &mut |m| {
        assert!(m.payload.len() <= total);
        assert!(m.ts_us > i64::MIN);
    });
}

pub fn run(data: &[u8]) {
    // As a file.
    let mut r = FileReader::new(data, "fuzz", MAX);
    let mut n = 0;
    while let Ok(Some(p)) = r.next_payload() {
        assert!(p.len() <= MAX && p.len() < data.len());
        let p = p.to_vec();
        payloads(&p);
        n += 1;
        assert!(n <= data.len() / 4);
    }
    assert!(r.offset() as usize <= data.len());

    // As a socket stream (the receiving end of the handshake).
    let mut s = Session::bidirectional();
    let mut at = 0usize;
    while at < data.len() {
        let Ok(Some((f, used))) = frame::parse(&data[at..], MAX) else {
            break;
        };
        assert!(used >= 4 && at + used <= data.len());
        match &f {
            Frame::Data(d) => {
                let mut enc = Vec::new();
                frame::encode_data(d, &mut enc);
                assert_eq!(&enc[..], &data[at..at + used]);
            }
            Frame::Control(c) => {
                let enc = c.encode();
                match frame::parse(&enc, MAX) {
                    Ok(Some((Frame::Control(c2), u2))) => {
                        assert_eq!(&c2, c);
                        assert_eq!(u2, enc.len());
                    }
                    other => panic!("control frame does not round-trip: {other:?}"),
                }
            }
        }
        if s.step(f).is_err() {
            break;
        }
        at += used;
    }
}

/// The same entry point for every body (tests/fuzz_bodies.rs).
pub fn run_bytes(data: &[u8]) {
    run(data);
}
