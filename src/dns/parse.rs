//! Full decode with `hickory-proto`: the only module that names it.
//!
//! Header and first question come from the pre-parse ([`super::wire`]), which
//! is lenient where tshark is (forward compression pointers); the resource
//! records are then read one at a time with hickory's `Record` decoder, so a
//! bad record late in a message loses only what follows it.

use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::wire::{self, NameBuf, WireError};
use super::{dnssec, fast, Answer, Flags, Message};
use crate::model::Counts;

/// Mnemonic of a record type, `TYPEnnn` for values hickory does not name.
pub fn type_mnemonic(value: u16) -> String {
    // The types of nearly all answers first, as hickory names them.
    let common = match value {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        _ => "",
    };
    if !common.is_empty() {
        return common.to_string();
    }
    match RecordType::from(value) {
        RecordType::Unknown(v) => format!("TYPE{v}"),
        RecordType::ZERO => "TYPE0".into(),
        known => <&'static str>::from(known).to_string(),
    }
}

fn name_text(name: &Name, buf: &mut NameBuf) -> String {
    *buf = NameBuf::default();
    for label in name.iter() {
        buf.push_label(label);
    }
    if buf.as_bytes().is_empty() {
        ".".into()
    } else {
        buf.as_str().to_string()
    }
}

/// Zone-file text of record data. Types hickory does not decode (DNSSEC
/// among them: the `dnssec` features are off) come as raw bytes, which
/// [`super::dnssec`] prints in their presentation form. Some of hickory's
/// `Display` impls fail (an OPT record outside the additional section:
/// `to_string()` panicked, found by the mangled-capture test); those fall
/// back to the RFC 3597 generic form `\# LEN HEX`.
fn rdata_text(data: &RData) -> String {
    use std::fmt::Write;
    if let RData::Unknown { code, rdata } = data {
        return dnssec::rdata_text(u16::from(*code), &rdata.anything);
    }
    let mut s = String::new();
    if write!(s, "{data}").is_ok() {
        return s;
    }
    let bytes = hickory_proto::serialize::binary::BinEncodable::to_bytes(data).unwrap_or_default();
    dnssec::generic(&bytes)
}

fn record(record: &Record<RData>, scratch: &mut NameBuf) -> Answer {
    Answer {
        name: name_text(&record.name, scratch),
        rtype: type_mnemonic(u16::from(record.record_type())),
        ttl: record.ttl,
        data: rdata_text(&record.data),
    }
}

/// Decodes one message completely: the fast path ([`super::fast`]) for the
/// common record types, hickory for every other record.
pub fn message(msg: &[u8]) -> Result<Message, WireError> {
    let mut qname = NameBuf::default();
    let peek = wire::peek(msg, &mut qname, false)?;
    Ok(decode(msg, &peek, &qname, true, &mut Scratch::default()))
}

/// [`message`] for a message already pre-parsed: `peek` and `qname` are
/// what [`wire::peek`] gave for `msg` (the pipeline has them at hand).
pub fn message_peeked(msg: &[u8], peek: &wire::Peek, qname: &NameBuf) -> Message {
    decode(msg, peek, qname, true, &mut Scratch::default())
}

/// Buffers of the full decode, reusable from one message to the next
/// (see [`message_peeked_with`]).
#[derive(Debug, Default)]
pub struct Scratch {
    fast: fast::Scratch,
}

/// [`message_peeked`] with buffers kept by the caller: gives the same
/// message, without allocating them for every message.
pub fn message_peeked_with(
    msg: &[u8],
    peek: &wire::Peek,
    qname: &NameBuf,
    scratch: &mut Scratch,
) -> Message {
    decode(msg, peek, qname, true, scratch)
}

/// The reference decode: every record through hickory. Gives exactly what
/// [`message`] gives (checked by the property test below and the
/// `dns_message` fuzz target); kept for those comparisons and benchmarks.
pub fn message_reference(msg: &[u8]) -> Result<Message, WireError> {
    let mut qname = NameBuf::default();
    let peek = wire::peek(msg, &mut qname, false)?;
    Ok(decode(msg, &peek, &qname, false, &mut Scratch::default()))
}

fn decode(
    msg: &[u8],
    peek: &wire::Peek,
    qname: &NameBuf,
    fast: bool,
    buffers: &mut Scratch,
) -> Message {
    let h = peek.header;
    // Room for the counted records, bounded by what fits (11 octets at
    // least per record).
    let room = |count: u16| usize::from(count).min(msg.len() / 11);
    let mut out = Message {
        id: h.id,
        response: h.is_response(),
        opcode: h.opcode(),
        flags: Flags(h.flags & 0x07b0),
        rcode: h.rcode(),
        qname: peek.has_question.then(|| qname.as_str().to_string()),
        qtype: peek.qtype,
        qclass: peek.qclass,
        answers: Vec::with_capacity(room(h.ancount)),
        authority: Vec::with_capacity(room(h.nscount)),
        ecs: None,
        bailiwick: String::new(),
        edns: wire::edns(msg, &h, peek.question_end),
        counts: Counts {
            qd: h.qdcount,
            an: h.ancount,
            ns: h.nscount,
            ar: h.arcount,
        },
        size: u32::try_from(msg.len()).unwrap_or(u32::MAX),
        complete: true,
    };
    if peek.question_end > msg.len() {
        out.complete = false;
        return out;
    }
    let mut scratch = NameBuf::default();
    let fast_scratch = &mut buffers.fast;
    fast_scratch.reset();
    // Further questions: skipped with our own reader (they may use pointers
    // hickory refuses, and only the first question is kept).
    let mut pos = peek.question_end;
    for _ in 1..h.qdcount {
        match wire::read_name(msg, pos, None) {
            Some(end) if end + 4 <= msg.len() => pos = end + 4,
            _ => {
                out.complete = false;
                return out;
            }
        }
    }
    let sections = [(0u8, h.ancount), (1u8, h.nscount), (2u8, h.arcount)];
    for (section, count) in sections {
        for _ in 0..count {
            if fast {
                if section == 2 {
                    if let Some(rr) = fast::additional(msg, pos) {
                        if let Some(ttl) = rr.opt_ttl {
                            out.rcode |= ((ttl >> 24) as u16) << 4;
                        }
                        pos = rr.end;
                        continue;
                    }
                } else if let Some(rr) = fast::record(msg, pos, fast_scratch) {
                    let answer = Answer {
                        name: rr.owner,
                        rtype: type_mnemonic(rr.rtype),
                        ttl: rr.ttl,
                        data: rr.data,
                    };
                    pos = rr.end;
                    if section == 0 {
                        out.answers.push(answer);
                    } else {
                        if out.bailiwick.is_empty()
                            && matches!(
                                RecordType::from(rr.rtype),
                                RecordType::SOA | RecordType::NS
                            )
                        {
                            out.bailiwick.clone_from(&answer.name);
                        }
                        out.authority.push(answer);
                    }
                    continue;
                }
            }
            // hickory's decoder, started where this record starts (it
            // holds nothing but its position in `msg`).
            let mut decoder = BinDecoder::new(msg);
            let record = match decoder
                .read_slice(pos)
                .map(|_| Record::<RData>::read(&mut decoder))
            {
                Ok(Ok(r)) => r,
                _ => {
                    out.complete = false;
                    return out;
                }
            };
            pos = decoder.index();
            match section {
                0 => out.answers.push(self::record(&record, &mut scratch)),
                1 => {
                    if out.bailiwick.is_empty()
                        && matches!(record.record_type(), RecordType::SOA | RecordType::NS)
                    {
                        out.bailiwick = name_text(&record.name, &mut scratch);
                    }
                    out.authority.push(self::record(&record, &mut scratch));
                }
                2 => {
                    if let RData::OPT(opt) = &record.data {
                        // Extended rcode: upper 8 bits live in the TTL field.
                        let high = (record.ttl >> 24) as u16;
                        out.rcode |= high << 4;
                        for (_, option) in &opt.options {
                            if let EdnsOption::Subnet(subnet) = option {
                                out.ecs =
                                    Some(format!("{}/{}", subnet.addr(), subnet.source_prefix()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_with_a() -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0x85, 0x80, 0, 1, 0, 2, 0, 0, 0, 1];
        m.extend_from_slice(&[
            4, b'M', b'a', b'i', b'l', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ]);
        m.extend_from_slice(&[
            0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 0x2c, 0, 5, 2, b'm', b'x', 0xc0, 17,
        ]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 66, 216, 133, 29]);
        // OPT with ECS 198.51.100.0/24 and extended rcode high bits 1 (-> BADVERS when low is 0)
        m.extend_from_slice(&[0, 0, 41, 0x10, 0, 1, 0, 0, 0, 0, 11]);
        m.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100]);
        m
    }

    #[test]
    fn decodes_answers_ecs_and_extended_rcode() {
        let m = message(&response_with_a()).unwrap();
        assert!(m.response);
        assert!(m.complete);
        assert_eq!(m.qname.as_deref(), Some("mail.com"));
        assert_eq!(m.flags.mnemonics(), "aa rd ra");
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].rtype, "CNAME");
        assert_eq!(m.answers[0].data, "mx.com.");
        assert_eq!(m.answers[1].name, "mail.com");
        assert_eq!(m.answers[1].data, "66.216.133.29");
        assert_eq!(m.answers[1].ttl, 60);
        assert_eq!(m.ecs.as_deref(), Some("198.51.100.0/24"));
        assert_eq!(m.rcode, 16);
        assert_eq!(
            m.counts,
            Counts {
                qd: 1,
                an: 2,
                ns: 0,
                ar: 1
            }
        );
        assert_eq!(m.size as usize, response_with_a().len());
        assert_eq!(
            m.edns,
            Some(crate::model::Edns {
                version: 0,
                udp_size: 4096,
                dnssec_ok: false,
                z: 0
            })
        );
    }

    #[test]
    fn authority_section_edns_do_bit_and_small_payload_size() {
        // NXDOMAIN for nx.com with the SOA in authority and an OPT record of
        // payload size 400 (kept as sent, not raised to 512), version 0, DO.
        let mut m = vec![0, 7, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 1];
        m.extend_from_slice(&[2, b'n', b'x', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 15, 0, 6, 0, 1, 0, 0, 0, 60, 0, 28]);
        m.extend_from_slice(&[1, b'a', 0xc0, 15, 1, b'b', 0xc0, 15]);
        m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
        m.extend_from_slice(&[0, 0, 41, 0x01, 0x90, 0, 0, 0x80, 0x01, 0, 0]);
        let msg = message(&m).unwrap();
        assert!(msg.complete);
        assert_eq!(msg.rcode, 3);
        assert_eq!(msg.authority.len(), 1);
        assert_eq!(msg.authority[0].rtype, "SOA");
        assert_eq!(msg.authority[0].name, "com");
        assert!(
            msg.authority[0].data.starts_with("a.com. b.com. 1"),
            "{}",
            msg.authority[0].data
        );
        let e = msg.edns.unwrap();
        assert_eq!((e.udp_size, e.version, e.dnssec_ok, e.z), (400, 0, true, 1));
    }

    /// The authority section's NS owner is the bailiwick; without an
    /// authority section it stays empty.
    #[test]
    fn bailiwick_from_the_authority_section() {
        let mut m = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 1, 0, 0];
        m.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        // example. NS ns.example. (owner: a pointer to "example" at 14)
        m.extend_from_slice(&[
            0xc0, 14, 0, 2, 0, 1, 0, 0, 0, 60, 0, 5, 2, b'n', b's', 0xc0, 14,
        ]);
        let msg = message(&m).unwrap();
        assert!(msg.complete);
        assert_eq!(msg.answers.len(), 1);
        assert_eq!(msg.bailiwick, "example");
        assert_eq!(message(&response_with_a()).unwrap().bailiwick, "");
    }

    /// Every DNS payload of the real-capture corpus.
    fn corpus_payloads() -> Vec<Vec<u8>> {
        use crate::capture::{file::FileSource, PacketSource};
        use crate::decode::{DecodeConfig, Decoder};
        let dir = std::env::var_os("DNSWATCH_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/real")
            });
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let mut src = FileSource::open(&f).unwrap();
            let mut dec = Decoder::new(&DecodeConfig::default());
            let mut frame = 0;
            while let Ok(Some(p)) = src.next_packet() {
                frame += 1;
                dec.packet(p.ts_us, frame, p.link, p.data, &mut |d| {
                    out.push(d.payload.to_vec())
                });
            }
            dec.flush(&mut |d| out.push(d.payload.to_vec()));
        }
        out
    }

    /// The pre-parse must be exact: wherever hickory decodes a whole message,
    /// header, first question and answer addresses agree, and so do our
    /// full decode's answers.
    #[test]
    fn pre_parse_agrees_with_hickory_on_the_corpus() {
        use hickory_proto::op::Message as HMessage;
        let payloads = corpus_payloads();
        assert!(payloads.len() > 1000, "{} payloads", payloads.len());
        let mut compared = 0;
        let mut name = NameBuf::default();
        let mut scratch = NameBuf::default();
        for p in &payloads {
            let Ok(h) = HMessage::from_vec(p) else {
                continue;
            };
            compared += 1;
            let peek =
                wire::peek(p, &mut name, true).expect("hickory decoded it, so must the pre-parse");
            assert_eq!(peek.header.id, h.metadata.id);
            assert_eq!(
                peek.header.is_response(),
                h.metadata.message_type == hickory_proto::op::MessageType::Response
            );
            assert_eq!(peek.header.opcode(), u8::from(h.metadata.op_code));
            assert_eq!(peek.header.qdcount as usize, h.queries.len());
            if let Some(q) = h.queries.first() {
                assert_eq!(name.as_str(), name_text(q.name(), &mut scratch));
                assert_eq!(peek.qtype, u16::from(q.query_type()));
                assert_eq!(peek.qclass, u16::from(q.query_class()));
            }
            let addrs: Vec<std::net::IpAddr> = h
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect();
            assert_eq!(peek.addrs, addrs);
            let ours = message(p).unwrap();
            assert!(ours.complete);
            assert_eq!(ours.answers.len(), h.answers.len());
        }
        assert!(compared > 1000, "only {compared} messages compared");
    }

    /// The fast path gives exactly the all-hickory decode on every message
    /// of the corpus, and takes nearly all answer records of its responses.
    #[test]
    fn fast_path_equals_hickory_on_the_corpus() {
        let payloads = corpus_payloads();
        let (mut records, mut fast_records) = (0usize, 0usize);
        for p in &payloads {
            let ours = message(p);
            assert_eq!(ours, message_reference(p), "payload {p:02x?}");
            let Ok(m) = ours else { continue };
            // Count the answer records the fast path takes on its own.
            let mut pos = wire::peek(p, &mut NameBuf::default(), false)
                .map(|k| k.question_end)
                .unwrap_or(usize::MAX);
            for _ in 1..m.counts.qd {
                pos = wire::read_name(p, pos, None).map_or(usize::MAX, |e| e + 4);
            }
            records += m.answers.len();
            let mut s = fast::Scratch::default();
            for _ in 0..m.answers.len() {
                match fast::record(p, pos, &mut s) {
                    Some(rr) => {
                        fast_records += 1;
                        pos = rr.end;
                    }
                    None => break,
                }
            }
        }
        eprintln!("corpus: {fast_records} of {records} answer records on the fast path");
        assert!(
            fast_records * 10 >= records * 9,
            "{fast_records} of {records}"
        );
    }

    /// Buffers kept from one message to the next change nothing: every
    /// message of the corpus, decoded in turn with one scratch (forwards
    /// and backwards), gives what a decode of its own gives.
    #[test]
    fn a_reused_scratch_gives_what_a_fresh_one_gives() {
        let payloads = corpus_payloads();
        let mut scratch = Scratch::default();
        let mut name = NameBuf::default();
        for p in payloads.iter().chain(payloads.iter().rev()) {
            let Ok(peek) = wire::peek(p, &mut name, false) else {
                continue;
            };
            assert_eq!(
                message_peeked_with(p, &peek, &name, &mut scratch),
                message_peeked(p, &peek, &name),
                "payload {p:02x?}"
            );
        }
    }

    /// Regression: an OPT pseudo-record in the answer section made hickory's
    /// `Display` fail and `to_string()` panic (byte-flipped corpus capture).
    #[test]
    fn regression_opt_record_in_answer_section() {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
        let msg = message(&m).unwrap();
        assert_eq!(msg.answers.len(), 1);
        assert_eq!(msg.answers[0].rtype, "OPT");
        assert!(
            msg.answers[0].data.starts_with("\\#"),
            "{}",
            msg.answers[0].data
        );
    }

    #[test]
    fn bad_record_keeps_what_came_before() {
        let full = response_with_a();
        // Cut inside the second answer's rdata.
        let m = message(&full[..52]).unwrap();
        assert!(!m.complete);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.qname.as_deref(), Some("mail.com"));
    }
}
