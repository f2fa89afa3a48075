// Shared by the cargo-fuzz target fuzz/fuzz_targets/capture_reader.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! The streaming pcap/pcapng reader (`capture::reader::CaptureReader`) on
//! arbitrary files, read twice: through the input as one buffer and through
//! a 7-byte `BufReader` (records split across every buffer boundary).
//!
//! Invariants: no panic; both reads give the same packets and the same
//! outcome; every packet's record starts after the previous one and lies
//! inside the file, with at most `MAX_SNAPLEN` bytes of data; the position
//! never passes the end of the file and grows with every record; errors
//! carry an offset inside the file.

use std::io::{BufRead, BufReader, Cursor};

use dnswatch::capture::reader::{CaptureReader, ReadError, MAX_SNAPLEN};

/// What reading a file gives: packets (time, link, data, offset) and how it ended.
type Outcome = (Vec<(i64, String, Vec<u8>, u64)>, String);

fn read<R: BufRead>(src: R, len: u64) -> Outcome {
    let mut r = match CaptureReader::open(src) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), format!("open: {e}")),
    };
    let mut out = Vec::new();
    let mut last_pos = r.position();
    assert!(last_pos <= len);
    loop {
        match r.advance() {
            Ok(true) => {
                let p = r.packet();
                assert!(p.data.len() <= MAX_SNAPLEN as usize);
                assert!(
                    p.offset >= last_pos,
                    "record at {} before {last_pos}",
                    p.offset
                );
                assert!(p.offset + p.data.len() as u64 <= len);
                let pos = r.position();
                assert!(pos > p.offset && pos <= len, "position {pos}");
                last_pos = pos;
                out.push((p.ts_us, format!("{:?}", p.link), p.data.to_vec(), p.offset));
            }
            Ok(false) => {
                assert_eq!(r.position(), len, "clean end before the end of the file");
                return (out, "end".into());
            }
            Err(e) => {
                let (offset, what) = match &e {
                    ReadError::Damaged { offset, reason } => (*offset, format!("damaged {reason}")),
                    ReadError::Unsupported { offset, reason } => {
                        (*offset, format!("unsupported {reason}"))
                    }
                    ReadError::Io { offset, source } => (*offset, format!("io {source}")),
                };
                assert!(offset >= last_pos && offset <= len, "error offset {offset}");
                return (out, format!("{offset}: {what}"));
            }
        }
    }
}

pub fn run(data: &[u8]) {
    let len = data.len() as u64;
    let whole = read(Cursor::new(data), len);
    let small = read(BufReader::with_capacity(7, Cursor::new(data)), len);
    assert_eq!(whole, small, "buffering changed the result");
}

/// The same entry point for every body (tests/fuzz_bodies.rs).
pub fn run_bytes(data: &[u8]) {
    run(data);
}
