//! The cheap pre-parse: header, first question and the addresses in the
//! answer section, read straight off the wire without allocating.
//!
//! Every DNS message on the wire goes through this; only messages that touch
//! the watch list (or all of them with `--watch .`) go on to the full decode
//! in [`super::parse`]. The conformance tests check that both agree on every
//! message of the real-capture corpus.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a message could not be pre-parsed. Each is a counter in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Fewer than 12 bytes.
    ShortHeader,
    /// The question name runs past the end, loops, is longer than 255 octets
    /// or uses a reserved label type.
    BadQuestion,
}

/// The 12-byte DNS header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Transaction id.
    pub id: u16,
    /// The flags word: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode.
    pub flags: u16,
    /// Question count.
    pub qdcount: u16,
    /// Answer count.
    pub ancount: u16,
    /// Authority count.
    pub nscount: u16,
    /// Additional count.
    pub arcount: u16,
}

impl Header {
    /// QR bit: this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// The 4-bit opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    /// The 4-bit header rcode (EDNS may extend it).
    pub fn rcode(&self) -> u16 {
        self.flags & 0xf
    }
}

/// Maximum wire length of a domain name (RFC 1035 3.1).
const MAX_NAME_WIRE: usize = 255;
/// Bound on compression pointers followed for one name; a longer chain is a loop.
const MAX_POINTERS: usize = 64;

/// A reusable buffer holding one presentation-format name and where its
/// labels start, so that watch matching can walk suffixes without allocating.
#[derive(Clone, Debug, Default)]
pub struct NameBuf {
    text: Vec<u8>,
    starts: Vec<u16>,
}

impl NameBuf {
    /// The name, lower-case, without a trailing dot; the root is `.`.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever pushed (non-printables are escaped as \DDD).
        std::str::from_utf8(&self.text).unwrap_or(".")
    }
    /// Bytes of the name.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
    /// Byte offsets where each label starts (empty for the root).
    pub fn label_starts(&self) -> &[u16] {
        &self.starts
    }
    fn clear(&mut self) {
        self.text.clear();
        self.starts.clear();
    }
    fn finish(&mut self) {
        if self.text.is_empty() {
            self.text.push(b'.');
        }
    }
    /// Appends one wire label in presentation form.
    pub fn push_label(&mut self, label: &[u8]) {
        if !self.starts.is_empty() {
            self.text.push(b'.');
        }
        self.starts.push(self.text.len() as u16);
        push_label_text(&mut self.text, label);
    }
}

/// Presentation form of one label: lower-case printable ASCII kept, `.` and
/// `\` escaped with a backslash, everything else as `\DDD` (RFC 4343).
pub fn push_label_text(out: &mut Vec<u8>, label: &[u8]) {
    out.reserve(label.len());
    for &b in label {
        match b {
            b'.' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0x21..=0x7e => out.push(b.to_ascii_lowercase()),
            _ => {
                out.push(b'\\');
                out.push(b'0' + b / 100);
                out.push(b'0' + (b / 10) % 10);
                out.push(b'0' + b % 10);
            }
        }
    }
}

/// Reads a (possibly compressed) name at `pos`, appending its labels to `out`
/// when given. Returns the offset just past the name in the original position.
/// Pointers may point anywhere inside the message (as tshark accepts), but
/// loops and names over 255 octets are errors.
pub fn read_name(msg: &[u8], mut pos: usize, mut out: Option<&mut NameBuf>) -> Option<usize> {
    let mut end = None;
    let mut wire_len = 1usize;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Some(end.unwrap_or(pos + 1));
                }
                let label = msg.get(pos + 1..pos + 1 + usize::from(len))?;
                wire_len += 1 + label.len();
                if wire_len > MAX_NAME_WIRE {
                    return None;
                }
                if let Some(o) = out.as_deref_mut() {
                    o.push_label(label);
                }
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let lo = *msg.get(pos + 1)?;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return None;
                }
                pos = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
            }
            // 0x40 (extended label, RFC 6891 deprecated) and 0x80 are reserved.
            _ => return None,
        }
    }
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads the header.
pub fn header(msg: &[u8]) -> Result<Header, WireError> {
    let h = msg.get(..12).ok_or(WireError::ShortHeader)?;
    let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    Ok(Header {
        id: w(0),
        flags: w(2),
        qdcount: w(4),
        ancount: w(6),
        nscount: w(8),
        arcount: w(10),
    })
}

/// The EDNS OPT record (RFC 6891), found by skipping the records before
/// it: bounded by the section counts and the message length, no
/// allocation. `question_end` is [`Peek::question_end`] (just past the
/// first question). `None` without an OPT record or when a record before it
/// cannot be read.
pub fn edns(msg: &[u8], h: &Header, question_end: usize) -> Option<crate::model::Edns> {
    let mut pos = question_end;
    for _ in 1..h.qdcount {
        pos = read_name(msg, pos, None)? + 4;
    }
    let records = u32::from(h.ancount) + u32::from(h.nscount) + u32::from(h.arcount);
    for i in 0..records {
        let end = read_name(msg, pos, None)?;
        let rtype = be16(msg, end)?;
        let class = be16(msg, end + 2)?;
        let ttl_hi = be16(msg, end + 4)?;
        let ttl_lo = be16(msg, end + 6)?;
        let rdlen = usize::from(be16(msg, end + 8)?);
        let additional = i >= u32::from(h.ancount) + u32::from(h.nscount);
        if rtype == 41 && additional {
            return Some(crate::model::Edns {
                version: (ttl_hi & 0xff) as u8,
                udp_size: class,
                dnssec_ok: ttl_lo & 0x8000 != 0,
                z: ttl_lo & 0x7fff,
            });
        }
        pos = end + 10 + rdlen;
        if pos > msg.len() {
            return None;
        }
    }
    None
}

/// What the pre-parse learns from one message.
#[derive(Clone, Debug, Default)]
pub struct Peek {
    /// The header.
    pub header: Header,
    /// Whether there is a question (qdcount > 0 and it decoded).
    pub has_question: bool,
    /// QTYPE of the first question (0 without one).
    pub qtype: u16,
    /// QCLASS of the first question (0 without one).
    pub qclass: u16,
    /// Offset just after the question section's first entry (12 without one).
    pub question_end: usize,
    /// A and AAAA addresses of the answer section, as far as it could be read.
    pub addrs: Vec<IpAddr>,
}

/// Pre-parses `msg`, writing the first question's name into `name`.
/// `want_addrs` skips the answer walk when nothing watches addresses.
pub fn peek(msg: &[u8], name: &mut NameBuf, want_addrs: bool) -> Result<Peek, WireError> {
    let header = header(msg)?;
    name.clear();
    let mut peek = Peek {
        header,
        question_end: 12,
        ..Peek::default()
    };
    if header.qdcount > 0 {
        let end = read_name(msg, 12, Some(name)).ok_or(WireError::BadQuestion)?;
        let qtype = be16(msg, end).ok_or(WireError::BadQuestion)?;
        let qclass = be16(msg, end + 2).ok_or(WireError::BadQuestion)?;
        name.finish();
        peek.has_question = true;
        peek.qtype = qtype;
        peek.qclass = qclass;
        peek.question_end = end + 4;
    }
    if want_addrs && header.ancount > 0 {
        answer_addrs(msg, &header, peek.question_end, &mut peek.addrs);
    }
    Ok(peek)
}

/// Collects A/AAAA data from the answer section; stops quietly at the first
/// record that does not fit (the full decode reports the error).
fn answer_addrs(msg: &[u8], header: &Header, question_end: usize, out: &mut Vec<IpAddr>) {
    let mut pos = question_end;
    // Further questions (rare, but legal on the wire) come before the answers.
    for _ in 1..header.qdcount {
        let Some(end) = read_name(msg, pos, None) else {
            return;
        };
        pos = end + 4;
    }
    for _ in 0..header.ancount {
        let Some(end) = read_name(msg, pos, None) else {
            return;
        };
        let (Some(rtype), Some(rdlen)) = (be16(msg, end), be16(msg, end + 8)) else {
            return;
        };
        let start = end + 10;
        let Some(rdata) = msg.get(start..start + usize::from(rdlen)) else {
            return;
        };
        match (rtype, rdata.len()) {
            (1, 4) => out.push(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (28, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(rdata);
                out.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
            _ => {}
        }
        pos = start + usize::from(rdlen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[&[u8]], qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name {
            m.push(l.len() as u8);
            m.extend_from_slice(l);
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    }

    #[test]
    fn reads_header_and_question() {
        let m = query(&[b"WWW", b"Example", b"com"], 28);
        let mut n = NameBuf::default();
        let p = peek(&m, &mut n, true).unwrap();
        assert_eq!(p.header.id, 0x1234);
        assert!(!p.header.is_response());
        assert_eq!((p.qtype, p.qclass), (28, 1));
        assert_eq!(n.as_str(), "www.example.com");
        assert_eq!(n.label_starts(), &[0, 4, 12]);
        assert_eq!(p.question_end, m.len());
    }

    #[test]
    fn root_and_escapes() {
        let mut n = NameBuf::default();
        peek(&query(&[], 2), &mut n, false).unwrap();
        assert_eq!(n.as_str(), ".");
        peek(
            &query(&[b"a.b", b"c\\d", &[0, 200, b' ']], 1),
            &mut n,
            false,
        )
        .unwrap();
        assert_eq!(n.as_str(), "a\\.b.c\\\\d.\\000\\200\\032");
    }

    #[test]
    fn rejects_loops_long_names_and_truncation() {
        let mut n = NameBuf::default();
        let mut looped = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(
            peek(&looped, &mut n, false).unwrap_err(),
            WireError::BadQuestion
        );
        let long: Vec<&[u8]> = vec![&[b'a'; 63]; 5];
        assert_eq!(
            peek(&query(&long, 1), &mut n, false).unwrap_err(),
            WireError::BadQuestion
        );
        let m = query(&[b"example", b"com"], 1);
        assert_eq!(
            peek(&m[..m.len() - 1], &mut n, false).unwrap_err(),
            WireError::BadQuestion
        );
        assert_eq!(
            peek(&m[..11], &mut n, false).unwrap_err(),
            WireError::ShortHeader
        );
        let mut reserved = m.clone();
        reserved[12] = 0x47;
        assert_eq!(
            peek(&reserved, &mut n, false).unwrap_err(),
            WireError::BadQuestion
        );
    }

    #[test]
    fn forward_pointer_is_followed() {
        // Question name points forward to a name stored after the question.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 18, 0, 1, 0, 1];
        m.extend_from_slice(&[3, b'f', b'o', b'o', 0]);
        let mut n = NameBuf::default();
        let p = peek(&m, &mut n, false).unwrap();
        assert_eq!(n.as_str(), "foo");
        assert_eq!(p.question_end, 18);
    }

    #[test]
    fn answer_addresses() {
        let mut m = query(&[b"a", b"b"], 1);
        m[2] = 0x81; // response
        m[7] = 2; // two answers
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 10]);
        m.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        m.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut n = NameBuf::default();
        let p = peek(&m, &mut n, true).unwrap();
        assert_eq!(
            p.addrs,
            vec![
                "192.0.2.10".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse::<IpAddr>().unwrap()
            ]
        );
        // A truncated second record: the first address is still reported.
        let p = peek(&m[..m.len() - 3], &mut n, true).unwrap();
        assert_eq!(p.addrs.len(), 1);
    }
}
