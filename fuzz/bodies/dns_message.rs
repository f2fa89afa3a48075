// Shared by the cargo-fuzz target fuzz/fuzz_targets/dns_message.rs and the
// seed/mutation replay in tests/fuzz_bodies.rs (run by `cargo test`).
//! One DNS message: the allocation-free pre-parse (`wire::peek`) and the full
//! decode (`parse::message`) must never panic and must agree: `message`
//! succeeds exactly when `peek` does, with the same error, and then reports
//! the same id, first question name and type.

use dnswatch::dns::{parse, wire};

pub fn run(data: &[u8]) {
    let mut name = wire::NameBuf::default();
    let peek = wire::peek(data, &mut name, true);
    let full = parse::message(data);
    match (peek, full) {
        (Ok(p), Ok(m)) => {
            assert_eq!(m.id, p.header.id);
            assert_eq!(m.qtype, p.qtype);
            assert_eq!(m.qclass, p.qclass);
            assert_eq!(m.response, p.header.is_response());
            assert_eq!(m.opcode, p.header.opcode());
            let qname = p.has_question.then(|| name.as_str().to_string());
            assert_eq!(m.qname, qname);
            if let Some(q) = &m.qname {
                // Presentation form: printable ASCII only (others are \DDD).
                assert!(q.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{q:?}");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (p, m) => panic!("pre-parse and full decode disagree: peek {p:?}, message {m:?}"),
    }
}

/// The same entry point for every body (tests/fuzz_bodies.rs).
pub fn run_bytes(data: &[u8]) {
    run(data);
}
