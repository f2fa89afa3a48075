// Shared by the cargo-fuzz target fuzz/fuzz_targets/dnssec_rdata.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! DNSSEC record data in presentation form (`dns::dnssec`): whatever the
//! bytes, no panic, and the text is printable ASCII on one line (it goes
//! into JSON, CSV and the alert log). The first byte picks the type among
//! those with a reader of their own (DS, CDS, RRSIG, NSEC, DNSKEY, CDNSKEY,
//! NSEC3, NSEC3PARAM) or a type read generically; the rest is the rdata.

use dnswatch::dns::dnssec;

const TYPES: [u16; 9] = [43, 59, 46, 47, 48, 60, 50, 51, 65280];

pub fn run(data: &[u8]) {
    let Some((&pick, rd)) = data.split_first() else {
        return;
    };
    let rtype = TYPES[usize::from(pick) % TYPES.len()];
    let text = dnssec::rdata_text(rtype, rd);
    assert!(
        text.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "type {rtype}: {text:?}"
    );
    // Whatever cannot be read as the type is kept whole, never dropped.
    if text.starts_with("\\# ") {
        assert_eq!(text, dnssec::generic(rd));
    }
}

/// The same entry point for every body (tests/fuzz_bodies.rs).
pub fn run_bytes(data: &[u8]) {
    run(data);
}
