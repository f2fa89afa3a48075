//! Wire-level fast path of the full decode ([`super::parse::message`]).
//!
//! Nearly every record of real answers is an A, AAAA, CNAME, NS, PTR, MX,
//! SOA or TXT record with plain names. For those this module reads the record
//! straight off the wire and writes the presentation text the hickory path
//! would have produced, without building hickory's `Record`, `Name` and
//! `RData` values and without going through `Display`.
//!
//! The rule is: the fast path accepts a record only when hickory's decoder
//! would accept it too, and then produces exactly the same text. Whatever
//! it is not sure about (another type, a name hickory would refuse or print
//! with escapes or IDNA, an EDNS option hickory parses) it declines with
//! `None`, and the caller decodes that record with hickory. The property
//! test in [`super::parse`] and the `dns_message` fuzz target compare both
//! paths on arbitrary input.
//!
//! What is mirrored from hickory-proto 0.26 (`Name::read`, `Record::read`,
//! `RData::read`, the `Display` impls):
//!
//! * names: a compression pointer must point before the start of the run of
//!   labels containing it, and the labels reached through it must end
//!   before that start; at most 255 octets on the wire; label types 01 and
//!   10 are refused;
//! * RDLENGTH 0 is RFC 2136's "empty" data, printed `UPDATE`, for every type
//!   (an OPT record with RDLENGTH 0 therefore carries no extended rcode);
//! * the record data must be read to exactly RDLENGTH octets;
//! * owner names in the project's own form (lower-case, `\DDD`, see
//!   [`super::wire::push_label_text`]); names inside record data in
//!   hickory's form: case kept, trailing dot;
//! * SOA refresh, retry and expire are signed; TXT strings are joined with
//!   nothing between them, invalid UTF-8 replaced (`from_utf8_lossy`).

use super::wire::push_label_text;

/// Maximum wire length of a name, the terminating root octet included.
const MAX_NAME_WIRE: usize = 255;

const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const PTR: u16 = 12;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const OPT: u16 = 41;

/// One answer or authority record decoded by the fast path.
#[derive(Debug)]
pub(super) struct Rr {
    /// Owner name in the project's presentation form.
    pub owner: String,
    /// TYPE.
    pub rtype: u16,
    /// TTL.
    pub ttl: u32,
    /// Record data as hickory's `Display` prints it.
    pub data: String,
    /// Offset just past the record.
    pub end: usize,
}

/// Walks the name at `pos` under hickory's rules, handing each label to
/// `label` (which may decline with `false`). Returns the offset just past the
/// name where it is stored and whether it had no label (the root).
fn walk_name(
    msg: &[u8],
    pos: usize,
    mut label: impl FnMut(&[u8]) -> bool,
) -> Option<(usize, bool)> {
    // Start of the run of labels being read; a pointer must go below it.
    let mut run_start = pos;
    // After a pointer, reading must stay below the run the pointer was in.
    let mut limit = usize::MAX;
    let mut cur = pos;
    let mut end = None;
    let mut wire_len = 1usize;
    loop {
        if cur >= limit {
            return None;
        }
        let len = *msg.get(cur)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some((end.unwrap_or(cur + 1), wire_len == 1)),
            0x00 => {
                let n = usize::from(len);
                let data = msg.get(cur + 1..cur + 1 + n)?;
                wire_len += 1 + n;
                if wire_len > MAX_NAME_WIRE || !label(data) {
                    return None;
                }
                cur += 1 + n;
            }
            0xc0 => {
                let lo = *msg.get(cur + 1)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                if target >= run_start {
                    return None;
                }
                end.get_or_insert(cur + 2);
                limit = run_start;
                run_start = target;
                cur = target;
            }
            _ => return None,
        }
    }
}

/// A label hickory's `Display` prints as it is: ASCII letters and digits,
/// `_` anywhere, `-` except first, `*` only first, and no `xn--` prefix
/// (those are turned into Unicode).
fn plain_label(label: &[u8]) -> bool {
    let Some((&first, rest)) = label.split_first() else {
        return false;
    };
    !label.starts_with(b"xn--")
        && (first.is_ascii_alphanumeric() || first == b'_' || first == b'*')
        && rest
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A name inside record data, appended to `out` as hickory prints it
/// (`label.label.`, the root as `.`). Declines names needing escapes.
fn rdata_name(msg: &[u8], pos: usize, out: &mut String) -> Option<usize> {
    let (end, root) = walk_name(msg, pos, |l| {
        if !plain_label(l) {
            return false;
        }
        // Checked above: ASCII only.
        out.extend(l.iter().map(|&b| char::from(b)));
        out.push('.');
        true
    })?;
    if root {
        out.push('.');
    }
    Some(end)
}

/// Owner name in the project's presentation form, as
/// [`super::wire::NameBuf`] renders it (the root as `.`), written to `buf`.
fn owner_name(msg: &[u8], pos: usize, buf: &mut Vec<u8>) -> Option<usize> {
    buf.clear();
    let (end, root) = walk_name(msg, pos, |l| {
        if !buf.is_empty() {
            buf.push(b'.');
        }
        push_label_text(buf, l);
        true
    })?;
    if root {
        buf.push(b'.');
    }
    Some(end)
}

/// Reusable buffers of one message's fast-path decode.
#[derive(Debug)]
pub(super) struct Scratch {
    name: Vec<u8>,
    text: String,
    /// The last owner given as a bare compression pointer: its target
    /// (`None`: no such owner yet in this message) and, in `pointer_text`,
    /// its text. Owners of one message mostly point at the same name.
    pointer_target: Option<usize>,
    pointer_text: String,
}

impl Default for Scratch {
    /// Empty: most messages (queries) have no record the buffers are for,
    /// so they get their room at the first record ([`Scratch::ready`]).
    fn default() -> Self {
        Self {
            name: Vec::new(),
            text: String::new(),
            pointer_target: None,
            pointer_text: String::new(),
        }
    }
}

impl Scratch {
    /// Ready for another message: the remembered owner is of the last one.
    pub(super) fn reset(&mut self) {
        self.pointer_target = None;
    }

    /// Room for most names and record data: no growing on the way.
    fn ready(&mut self) {
        if self.name.capacity() == 0 {
            self.name.reserve(256);
            self.text.reserve(256);
        }
    }
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(msg: &[u8], at: usize) -> Option<u32> {
    let b = msg.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// TYPE, TTL, start and end of the data of the record whose fixed part starts
/// at `at` (just past the owner name); `None` when it does not fit.
fn fixed(msg: &[u8], at: usize) -> Option<(u16, u32, usize, usize)> {
    let rtype = be16(msg, at)?;
    let ttl = be32(msg, at + 4)?;
    let rdlen = usize::from(be16(msg, at + 8)?);
    let start = at + 10;
    let end = start + rdlen;
    (end <= msg.len()).then_some((rtype, ttl, start, end))
}

/// Appends the decimal form of `v` (what `Display` writes, without the
/// formatting machinery).
fn push_u32(out: &mut String, v: u32) {
    if v >= 10 {
        push_u32(out, v / 10);
    }
    // A digit: 0..=9.
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends the decimal form of a signed value.
fn push_i32(out: &mut String, v: i32) {
    if v < 0 {
        out.push('-');
    }
    push_u32(out, v.unsigned_abs());
}

/// Appends `a.b.c.d`.
fn push_ipv4(out: &mut String, octets: [u8; 4]) {
    for (i, o) in octets.into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_u32(out, u32::from(o));
    }
}

/// Appends `v` in lower-case hex without leading zeros (`{:x}`).
fn push_hex(out: &mut String, v: u16) {
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let d = (v >> shift) & 0xf;
        if d != 0 || started || shift == 0 {
            started = true;
            out.push(char::from_digit(u32::from(d), 16).unwrap_or('0'));
        }
    }
}

/// Appends the address as the standard library's `Display` writes it
/// (RFC 5952: the first longest run of two or more zero groups as `::`,
/// `::ffff:a.b.c.d` for IPv4-mapped addresses); the unit test compares
/// the two on special and random addresses.
fn push_ipv6(out: &mut String, b: [u8; 16]) {
    let mut seg = [0u16; 8];
    for (s, pair) in seg.iter_mut().zip(b.chunks_exact(2)) {
        *s = u16::from_be_bytes([pair[0], pair[1]]);
    }
    if seg[..5] == [0; 5] && seg[5] == 0xffff {
        out.push_str("::ffff:");
        push_ipv4(out, [b[12], b[13], b[14], b[15]]);
        return;
    }
    // The first longest run of zero groups.
    let (mut best, mut best_len, mut cur, mut cur_len) = (0, 0, 0, 0);
    for (i, &g) in seg.iter().enumerate() {
        if g == 0 {
            if cur_len == 0 {
                cur = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                (best, best_len) = (cur, cur_len);
            }
        } else {
            cur_len = 0;
        }
    }
    let groups = |out: &mut String, part: &[u16]| {
        for (i, &g) in part.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            push_hex(out, g);
        }
    };
    if best_len > 1 {
        groups(out, &seg[..best]);
        out.push_str("::");
        groups(out, &seg[best + best_len..]);
    } else {
        groups(out, &seg);
    }
}

/// The record data of an answer or authority record, as hickory prints it.
fn rdata_text(msg: &[u8], rtype: u16, start: usize, end: usize, out: &mut String) -> Option<()> {
    let rdata = msg.get(start..end)?;
    out.clear();
    match rtype {
        A => push_ipv4(out, <[u8; 4]>::try_from(rdata).ok()?),
        AAAA => push_ipv6(out, <[u8; 16]>::try_from(rdata).ok()?),
        NS | CNAME | PTR => {
            if rdata_name(msg, start, out)? != end {
                return None;
            }
        }
        MX => {
            push_u32(out, u32::from(be16(msg, start)?));
            out.push(' ');
            if rdata_name(msg, start + 2, out)? != end {
                return None;
            }
        }
        SOA => {
            let mname_end = rdata_name(msg, start, out)?;
            out.push(' ');
            let at = rdata_name(msg, mname_end, out)?;
            if at + 20 != end {
                return None;
            }
            // serial, then refresh, retry and expire (signed), minimum.
            for (i, off) in [0, 4, 8, 12, 16].into_iter().enumerate() {
                let v = be32(msg, at + off)?;
                out.push(' ');
                if (1..=3).contains(&i) {
                    push_i32(out, v as i32);
                } else {
                    push_u32(out, v);
                }
            }
        }
        TXT => {
            let mut rest = rdata;
            while let Some((&len, tail)) = rest.split_first() {
                let s = tail.get(..usize::from(len))?;
                out.push_str(&String::from_utf8_lossy(s));
                rest = tail.get(usize::from(len)..)?;
            }
        }
        _ => return None,
    }
    Some(())
}

/// The owner name of the record at `pos` and where it ends.
fn owner(msg: &[u8], pos: usize, s: &mut Scratch) -> Option<(String, usize)> {
    // A bare pointer to the target of the last one: the same name. The
    // walk from the target stays valid at a later position (it only had to
    // stay below the earlier one).
    if let [hi, lo] = *msg.get(pos..pos + 2)? {
        if hi & 0xc0 == 0xc0 {
            let target = usize::from(u16::from_be_bytes([hi & 0x3f, lo]));
            if s.pointer_target == Some(target) {
                return Some((s.pointer_text.clone(), pos + 2));
            }
            let end = owner_name(msg, pos, &mut s.name)?;
            let text = std::str::from_utf8(&s.name).ok()?;
            // Kept in the buffer of the last one (no allocation).
            s.pointer_text.clear();
            s.pointer_text.push_str(text);
            s.pointer_target = Some(target);
            return Some((s.pointer_text.clone(), end));
        }
    }
    let end = owner_name(msg, pos, &mut s.name)?;
    Some((std::str::from_utf8(&s.name).ok()?.to_owned(), end))
}

/// Decodes the answer or authority record at `pos`, or declines. `s` must
/// be used for one message only ([`Scratch::reset`] before the next).
pub(super) fn record(msg: &[u8], pos: usize, s: &mut Scratch) -> Option<Rr> {
    s.ready();
    let (owner, name_end) = owner(msg, pos, s)?;
    let (rtype, ttl, start, end) = fixed(msg, name_end)?;
    let data = if start == end {
        // An OPT record needs a root owner; leave that case to hickory.
        if rtype == OPT {
            return None;
        }
        "UPDATE".to_string()
    } else {
        rdata_text(msg, rtype, start, end, &mut s.text)?;
        s.text.as_str().to_owned()
    };
    Some(Rr {
        owner,
        rtype,
        ttl,
        data,
        end,
    })
}

/// The EDNS options of an OPT record hold nothing the decode keeps: each
/// option fits, and none is one hickory parses (NSID 3, DAU 5, client
/// subnet 8), which may fail or carry the ECS.
fn plain_options(mut rest: &[u8]) -> bool {
    while !rest.is_empty() {
        let Some(head) = rest.get(..4) else {
            return false;
        };
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if matches!(code, 3 | 5 | 8) {
            return false;
        }
        let Some(tail) = rest.get(4 + len..) else {
            return false;
        };
        rest = tail;
    }
    true
}

/// Whether hickory decodes this (non-OPT) record data: the same checks as
/// [`rdata_text`] without writing anything.
fn rdata_valid(msg: &[u8], rtype: u16, start: usize, end: usize) -> bool {
    let name = |at: usize| walk_name(msg, at, |_| true).map(|(e, _)| e);
    match rtype {
        _ if start == end => true,
        A => end - start == 4,
        AAAA => end - start == 16,
        NS | CNAME | PTR => name(start) == Some(end),
        MX => name(start + 2) == Some(end) && end >= start + 2,
        SOA => name(start).and_then(name).is_some_and(|at| at + 20 == end),
        TXT => msg.get(start..end).is_some_and(|mut rest| loop {
            let Some((&len, tail)) = rest.split_first() else {
                break true;
            };
            match tail.get(usize::from(len)..) {
                Some(t) => rest = t,
                None => break false,
            }
        }),
        _ => false,
    }
}

/// An additional-section record the fast path read: where it ends, and for
/// an OPT record with data its TTL field (extended rcode and flags).
#[derive(Debug)]
pub(super) struct Additional {
    /// Offset just past the record.
    pub end: usize,
    /// TTL field of an OPT record that hickory would decode as OPT data.
    pub opt_ttl: Option<u32>,
}

/// Reads the additional-section record at `pos` (only OPT records matter
/// there), or declines.
pub(super) fn additional(msg: &[u8], pos: usize) -> Option<Additional> {
    let (name_end, root) = walk_name(msg, pos, |_| true)?;
    let (rtype, ttl, start, end) = fixed(msg, name_end)?;
    if rtype == OPT {
        if !root {
            return None;
        }
        if start == end {
            return Some(Additional { end, opt_ttl: None });
        }
        return plain_options(msg.get(start..end)?).then_some(Additional {
            end,
            opt_ttl: Some(ttl),
        });
    }
    rdata_valid(msg, rtype, start, end).then_some(Additional { end, opt_ttl: None })
}

#[cfg(test)]
mod tests {
    use super::super::parse::{message, message_reference};
    use super::*;
    use proptest::prelude::*;

    /// Both decodes agree on `m`.
    fn same(m: &[u8]) {
        assert_eq!(message(m), message_reference(m), "message {m:02x?}");
    }

    fn header(an: u16, ns: u16, ar: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1];
        for c in [an, ns, ar] {
            m.extend_from_slice(&c.to_be_bytes());
        }
        // www.Example.com A IN, the name at 12.
        m.extend_from_slice(b"\x03www\x07Example\x03com\x00\x00\x01\x00\x01");
        m
    }

    fn rr(m: &mut Vec<u8>, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        m.extend_from_slice(owner);
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
    }

    #[test]
    fn common_records_take_the_fast_path() {
        let mut m = header(7, 1, 0);
        rr(&mut m, &[0xc0, 12], CNAME, 300, b"\x03CDN\x03net\x00");
        rr(&mut m, &[0xc0, 12], A, 60, &[192, 0, 2, 1]);
        rr(
            &mut m,
            &[0xc0, 12],
            AAAA,
            60,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        rr(&mut m, &[0xc0, 16], MX, 60, b"\x00\x0a\x02mx\xc0\x10");
        rr(&mut m, &[0xc0, 16], TXT, 60, b"\x05v=spf\x02 1\x01\xff");
        rr(&mut m, &[0xc0, 16], NS, 60, b"\x02ns\xc0\x10");
        rr(&mut m, &[0xc0, 12], PTR, 60, b"\x00");
        rr(&mut m, &[0xc0, 16], SOA, 60, b"\x02ns\xc0\x10\x04host\xc0\x10\x00\x00\x00\x01\xff\xff\xff\xff\x00\x00\x00\x03\x80\x00\x00\x00\x00\x00\x00\x05");
        let mut pos = 33;
        let mut data = Vec::new();
        for _ in 0..8 {
            let r = record(&m, pos, &mut Scratch::default()).expect("fast path");
            data.push((r.owner, r.data));
            pos = r.end;
        }
        assert_eq!(pos, m.len());
        let want = [
            ("www.example.com", "CDN.net."),
            ("www.example.com", "192.0.2.1"),
            ("www.example.com", "2001:db8::1"),
            ("example.com", "10 mx.Example.com."),
            ("example.com", "v=spf 1\u{fffd}"),
            ("example.com", "ns.Example.com."),
            ("www.example.com", "."),
            (
                "example.com",
                "ns.Example.com. host.Example.com. 1 -1 3 -2147483648 5",
            ),
        ];
        for (got, want) in data.iter().zip(want) {
            assert_eq!((got.0.as_str(), got.1.as_str()), want);
        }
        same(&m);
        let msg = message(&m).unwrap();
        assert!(msg.complete);
        assert_eq!(msg.bailiwick, "example.com");
    }

    /// Names hickory prints differently (escapes, IDNA, a leading `-`) or
    /// refuses (a pointer to itself or forward) are left to hickory.
    #[test]
    fn unusual_names_are_declined() {
        for rdata in [
            &b"\x0bxn--bcher-kva\x00"[..],
            b"\x04-abc\x00",
            b"\x03a.b\x00",
            b"\x03a\\b\x00",
            b"\x03a*b\x00",
            b"\x02\x00\xff\x00",
            b"\xc0\x2d",
            b"\xc0\x30",
            b"\x40\x00",
        ] {
            let mut m = header(1, 0, 0);
            rr(&mut m, &[0xc0, 12], CNAME, 1, rdata);
            assert!(
                record(&m, 33, &mut Scratch::default()).is_none(),
                "{rdata:02x?}"
            );
            same(&m);
        }
        // `*` first and `_` anywhere print as they are.
        let mut m = header(1, 0, 0);
        rr(&mut m, &[0xc0, 12], CNAME, 1, b"\x01*\x04_tcp\x03a-b\x00");
        assert_eq!(
            record(&m, 33, &mut Scratch::default()).unwrap().data,
            "*._tcp.a-b."
        );
        same(&m);
    }

    /// The hickory quirks the fast path copies.
    #[test]
    fn quirks_match_the_reference() {
        // RDLENGTH 0 prints UPDATE; an OPT record without data carries no
        // extended rcode, one with a cookie option does.
        let mut m = header(1, 0, 2);
        rr(&mut m, &[0xc0, 12], A, 1, &[]);
        rr(&mut m, &[0], OPT, 0x0100_0000, &[]);
        rr(&mut m, &[0], OPT, 0x0200_0000, &[0, 10, 0, 2, 1, 2]);
        same(&m);
        let msg = message(&m).unwrap();
        assert_eq!(msg.answers[0].data, "UPDATE");
        assert_eq!(msg.rcode, 0x20);
        // A wrong RDLENGTH for A, a name not filling the data, a TXT string
        // running past the data: hickory refuses, and so the message is
        // incomplete on both paths.
        for (rtype, rdata) in [
            (A, &[1u8, 2, 3][..]),
            (AAAA, &[0; 15][..]),
            (NS, b"\x01a\x00\x00"),
            (TXT, b"\x05abc"),
            (MX, b"\x00"),
        ] {
            let mut m = header(1, 0, 0);
            rr(&mut m, &[0xc0, 12], rtype, 1, rdata);
            m.extend_from_slice(&[0; 8]);
            same(&m);
        }
    }

    /// Addresses are written as the standard library writes them.
    #[test]
    fn addresses_as_std_writes_them() {
        let mut cases: Vec<[u8; 16]> = [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1::1",
            "::ffff:192.0.2.1",
            "::192.0.2.1",
            "64:ff9b::c000:201",
            "fe80::1:0:0:0",
            "1:0:1:0:1:0:1:0",
            "0:0:1::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:0:0",
            "0:0:0:0:0:ffff:0:1",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
        ]
        .iter()
        .map(|a| a.parse::<std::net::Ipv6Addr>().unwrap().octets())
        .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut b = [0u8; 16];
            for pair in b.chunks_exact_mut(2) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Mostly zero groups, to make runs of them.
                let g = match x >> 61 {
                    0..=3 => 0,
                    4 => 0xffff,
                    _ => (x >> 40) as u16,
                };
                pair.copy_from_slice(&g.to_be_bytes());
            }
            cases.push(b);
        }
        for b in cases {
            let mut s = String::new();
            push_ipv6(&mut s, b);
            assert_eq!(s, std::net::Ipv6Addr::from(b).to_string());
        }
        for v in [0u32, 9, 10, 99, 100, 255, 65535, u32::MAX] {
            let mut s = String::new();
            push_u32(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        for v in [0i32, -1, 7, i32::MIN, i32::MAX] {
            let mut s = String::new();
            push_i32(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    /// A label hickory prints as it is, or an escape-worthy one.
    fn label() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                &b"www"[..], b"Example", b"com", b"xn--bcher-kva", b"-dash", b"_srv",
                b"*", b"a.b", b"UP", b"a-", b"a*b", b"\x00\xff", b"\\", b"0",
            ])
            .prop_map(<[u8]>::to_vec),
            1 => proptest::collection::vec(any::<u8>(), 1..64),
        ]
    }

    /// A name: labels, then the root, a pointer to the question name or an
    /// arbitrary pointer.
    fn name() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(label(), 0..4),
            prop_oneof![Just(None), Just(Some(12u16)), (0u16..400).prop_map(Some)],
        )
            .prop_map(|(labels, ptr)| {
                let mut n = Vec::new();
                for l in labels {
                    n.push(l.len() as u8);
                    n.extend_from_slice(&l);
                }
                match ptr {
                    Some(p) => n.extend_from_slice(&(0xc000 | p).to_be_bytes()),
                    None => n.push(0),
                }
                n
            })
    }

    /// Record data for `rtype` (sometimes of another shape).
    fn rdata(rtype: u16) -> BoxedStrategy<Vec<u8>> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..40);
        match rtype {
            A => proptest::collection::vec(any::<u8>(), 4..=4).boxed(),
            AAAA => proptest::collection::vec(any::<u8>(), 16..=16).boxed(),
            NS | CNAME | PTR => name().boxed(),
            MX => (any::<u16>(), name())
                .prop_map(|(p, n)| [&p.to_be_bytes()[..], &n].concat())
                .boxed(),
            SOA => (
                name(),
                name(),
                proptest::collection::vec(any::<u8>(), 20..=20),
            )
                .prop_map(|(a, b, c)| [a, b, c].concat())
                .boxed(),
            OPT => proptest::collection::vec(
                (
                    proptest::sample::select(vec![3u16, 8, 10, 12, 65001]),
                    proptest::collection::vec(any::<u8>(), 0..12),
                ),
                0..3,
            )
            .prop_map(|opts| {
                let mut d = Vec::new();
                for (code, data) in opts {
                    d.extend_from_slice(&code.to_be_bytes());
                    d.extend_from_slice(&(data.len() as u16).to_be_bytes());
                    d.extend_from_slice(&data);
                }
                d
            })
            .boxed(),
            _ => bytes.boxed(),
        }
    }

    /// A record: owner, type, TTL, data, and an optional RDLENGTH error.
    fn record_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::sample::select(vec![A, AAAA, NS, CNAME, PTR, MX, SOA, TXT, OPT, 0, 99, 257])
            .prop_flat_map(|rtype| {
                (
                    prop_oneof![3 => Just(vec![0xc0u8, 12]), 1 => Just(vec![0u8]), 1 => name()],
                    Just(rtype),
                    any::<u32>(),
                    rdata(rtype),
                    prop_oneof![8 => Just(0i32), 1 => -3i32..4],
                )
            })
            .prop_map(|(owner, rtype, ttl, data, skew)| {
                let mut m = owner;
                m.extend_from_slice(&rtype.to_be_bytes());
                m.extend_from_slice(&[0, 1]);
                m.extend_from_slice(&ttl.to_be_bytes());
                let len = (data.len() as i32 + skew).clamp(0, 0xffff) as u16;
                m.extend_from_slice(&len.to_be_bytes());
                m.extend_from_slice(&data);
                m
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Well-formed and damaged messages alike: the fast path and the
        /// hickory path give the same `Message`.
        #[test]
        fn fast_path_equals_hickory(
            records in proptest::collection::vec((0u8..3, record_bytes()), 0..8),
            flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..3),
            cut in any::<u16>(),
        ) {
            let count = |s: u8| records.iter().filter(|r| r.0 == s).count() as u16;
            let mut m = header(count(0), count(1), count(2));
            let mut sorted = records.clone();
            sorted.sort_by_key(|r| r.0);
            for (_, r) in &sorted {
                m.extend_from_slice(r);
            }
            for (at, x) in flips {
                let i = usize::from(at) % m.len();
                // Keep the header and question (only records are compared).
                if i >= 33 {
                    m[i] ^= x;
                }
            }
            if cut % 4 == 0 {
                m.truncate(usize::from(cut) % (m.len() + 1));
            }
            prop_assert_eq!(message(&m), message_reference(&m));
        }

        /// Arbitrary bytes after a valid header and question.
        #[test]
        fn fast_path_equals_hickory_on_noise(
            counts in (0u16..6, 0u16..4, 0u16..4),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut m = header(counts.0, counts.1, counts.2);
            m.extend_from_slice(&tail);
            prop_assert_eq!(message(&m), message_reference(&m));
        }
    }
}
