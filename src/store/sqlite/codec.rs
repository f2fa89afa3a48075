//! The compact column encodings of the lookups table (schema 8).
//!
//! Every encoding is exact: a value is stored in its compact form only when
//! decoding that form gives the very same value back, and in its plain form
//! (text) otherwise. SQLite columns are dynamically typed, so one column
//! holds either: an INTEGER code for the common mnemonics and a TEXT for the
//! rest (`TYPE65534`, an unusual flags string). The code tables are part of
//! the schema: entries may be added, never changed or removed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rusqlite::types::{Value, ValueRef};

/// Query and record type mnemonics and their numbers (RFC 6895 registry).
const QTYPES: &[(i64, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (13, "HINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (24, "SIG"),
    (25, "KEY"),
    (28, "AAAA"),
    (29, "LOC"),
    (33, "SRV"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (39, "DNAME"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
];

/// Class mnemonics.
const QCLASSES: &[(i64, &str)] = &[(1, "IN"), (3, "CH"), (4, "HS"), (254, "NONE"), (255, "ANY")];

/// Rcode mnemonics (the unambiguous ones: 16 is BADVERS or BADSIG).
const RCODES: &[(i64, &str)] = &[
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
];

/// Transports.
const TRANSPORTS: &[(i64, &str)] = &[(0, "udp"), (1, "tcp"), (2, "dot"), (3, "doh"), (4, "doq")];

/// Header flag mnemonics in the order `Lookup.flags` lists them; bit `i`
/// of the stored code is `FLAGS[i]`.
const FLAGS: [&str; 6] = ["aa", "tc", "rd", "ra", "ad", "cd"];

/// A column that holds a code of one of the tables above or, for a value
/// outside it, the text itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coded {
    /// `qtype`.
    Qtype,
    /// `qclass`.
    Qclass,
    /// `rcode`.
    Rcode,
    /// `transport`.
    Transport,
    /// `flags` (a bit set).
    Flags,
}

impl Coded {
    fn table(self) -> &'static [(i64, &'static str)] {
        match self {
            Self::Qtype => QTYPES,
            Self::Qclass => QCLASSES,
            Self::Rcode => RCODES,
            Self::Transport => TRANSPORTS,
            Self::Flags => &[],
        }
    }

    /// The stored form of `s`.
    pub fn encode(self, s: &str) -> Value {
        let code = match self {
            Self::Flags => flags_code(s),
            _ => self
                .table()
                .iter()
                .find(|(_, name)| *name == s)
                .map(|(c, _)| *c),
        };
        match code {
            Some(c) => Value::Integer(c),
            None => Value::Text(s.to_string()),
        }
    }

    /// The value of a stored form; `None` for an integer that is no code.
    pub fn decode(self, v: ValueRef<'_>) -> Result<String, String> {
        match v {
            ValueRef::Integer(c) => match self {
                Self::Flags => flags_text(c).ok_or_else(|| format!("flags code {c}")),
                _ => self
                    .table()
                    .iter()
                    .find(|(code, _)| *code == c)
                    .map(|(_, name)| (*name).to_string())
                    .ok_or_else(|| format!("{self:?} code {c}")),
            },
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(str::to_string)
                .map_err(|_| format!("{self:?} is not UTF-8")),
            other => Err(format!("{self:?} of type {:?}", other.data_type())),
        }
    }
}

/// The bit set of a flags string, when its canonical rendering is `s`.
fn flags_code(s: &str) -> Option<i64> {
    let mut code = 0i64;
    let mut next = 0;
    for word in s.split(' ') {
        if word.is_empty() && s.is_empty() {
            break;
        }
        // Each flag once, in the fixed order, single spaces.
        let i = FLAGS[next..].iter().position(|f| *f == word)? + next;
        code |= 1 << i;
        next = i + 1;
    }
    Some(code)
}

fn flags_text(code: i64) -> Option<String> {
    if !(0..64).contains(&code) {
        return None;
    }
    let mut out = String::new();
    for (i, f) in FLAGS.iter().enumerate() {
        if code & (1 << i) != 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(f);
        }
    }
    Some(out)
}

/// An address as 4 (IPv4) or 16 (IPv6) bytes.
pub fn ip_blob(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// [`ip_blob`] without the allocation: the bytes of an address, to bind.
pub enum IpBytes {
    /// 4 bytes.
    V4([u8; 4]),
    /// 16 bytes.
    V6([u8; 16]),
}

impl IpBytes {
    /// The stored form of `ip` (the same bytes as [`ip_blob`]).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => Self::V6(v6.octets()),
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::V4(b) => b,
            Self::V6(b) => b,
        }
    }
}

/// The address of a stored blob.
pub fn blob_ip(v: ValueRef<'_>) -> Result<IpAddr, String> {
    match v {
        ValueRef::Blob(b) => {
            if let Ok(a) = <[u8; 4]>::try_from(b) {
                Ok(IpAddr::V4(Ipv4Addr::from(a)))
            } else if let Ok(a) = <[u8; 16]>::try_from(b) {
                Ok(IpAddr::V6(Ipv6Addr::from(a)))
            } else {
                Err(format!("address of {} bytes", b.len()))
            }
        }
        other => Err(format!("address of type {:?}", other.data_type())),
    }
}

/// A port as stored since schema 9: its 16 bits read as a signed number,
/// so that a port from 32768 up (most client ports) takes 2 bytes instead
/// of 3. Schema 8 stored the port itself; [`port_of`] reads both, and 0
/// (what scrubbing writes) is 0 in both.
pub fn port_code(port: u16) -> i64 {
    i64::from(port as i16)
}

/// The port of a stored value ([`port_code`] or the port itself).
pub fn port_of(v: i64) -> Result<u16, String> {
    let bad = || format!("port {v}");
    if (-32768..0).contains(&v) {
        u16::try_from(v + 65536).map_err(|_| bad())
    } else {
        u16::try_from(v).map_err(|_| bad())
    }
}

/// `file#packet` split into the file part and the packet number, when the
/// number is written canonically (no sign, no leading zero).
pub fn split_source(s: &str) -> Option<(&str, i64)> {
    let (file, n) = s.rsplit_once('#')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    Some((file, n.parse().ok()?))
}

/// EDNS packed into one integer: UDP size, DO bit, version, Z.
pub fn edns_code(e: &crate::model::Edns) -> i64 {
    i64::from(e.udp_size)
        | i64::from(e.dnssec_ok) << 16
        | i64::from(e.version) << 17
        | i64::from(e.z) << 25
}

/// The EDNS of a packed integer.
pub fn edns_of(code: i64) -> Result<crate::model::Edns, String> {
    let bad = || format!("edns code {code}");
    if !(0..1 << 41).contains(&code) {
        return Err(bad());
    }
    Ok(crate::model::Edns {
        udp_size: u16::try_from(code & 0xffff).map_err(|_| bad())?,
        dnssec_ok: code >> 16 & 1 == 1,
        version: u8::try_from(code >> 17 & 0xff).map_err(|_| bad())?,
        z: u16::try_from(code >> 25 & 0xffff).map_err(|_| bad())?,
    })
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and crate
/// versions (the answer-set table is keyed by it on disk).
pub fn fnv64(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// The header fields of a lookup that no query filters on, packed into
/// one blob column (`hdr`): a presence byte, then LEB128 varints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hdr {
    /// `Lookup.query_seen`.
    pub query_seen: bool,
    /// `Lookup.answered`.
    pub answered: bool,
    /// `Lookup.opcode`.
    pub opcode: u8,
    /// `Lookup.dns_id`.
    pub dns_id: u16,
    /// `Lookup.counts`.
    pub counts: crate::model::Counts,
    /// `Lookup.edns`.
    pub edns: Option<crate::model::Edns>,
    /// `Lookup.query_size`.
    pub query_size: Option<u32>,
    /// `Lookup.response_size`.
    pub response_size: Option<u32>,
}

const SEEN: u8 = 1;
const ANSWERED: u8 = 2;
const HAS_EDNS: u8 = 4;
const HAS_QSIZE: u8 = 8;
const HAS_RSIZE: u8 = 16;
/// Opcode 0 (QUERY) and qdcount 1, by far the usual pair: neither is
/// written (schema 9; a form without the bit has both).
const USUAL: u8 = 32;

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take(b: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first().ok_or("hdr ends in a number")?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("hdr number too long".into())
}

impl Hdr {
    /// The packed form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut present = 0;
        for (set, bit) in [
            (self.query_seen, SEEN),
            (self.answered, ANSWERED),
            (self.edns.is_some(), HAS_EDNS),
            (self.query_size.is_some(), HAS_QSIZE),
            (self.response_size.is_some(), HAS_RSIZE),
        ] {
            if set {
                present |= bit;
            }
        }
        let c = self.counts;
        let usual = self.opcode == 0 && c.qd == 1;
        if usual {
            present |= USUAL;
        }
        out.push(present);
        if !usual {
            put(out, self.opcode.into());
        }
        put(out, self.dns_id.into());
        if !usual {
            put(out, c.qd.into());
        }
        for v in [c.an, c.ns, c.ar] {
            put(out, v.into());
        }
        if let Some(e) = &self.edns {
            put(out, edns_code(e) as u64);
        }
        for v in [self.query_size, self.response_size].into_iter().flatten() {
            put(out, v.into());
        }
    }

    /// The fields of a packed form.
    pub fn decode(mut b: &[u8]) -> Result<Self, String> {
        let (&present, rest) = b.split_first().ok_or("empty hdr")?;
        b = rest;
        if present & !(SEEN | ANSWERED | HAS_EDNS | HAS_QSIZE | HAS_RSIZE | USUAL) != 0 {
            return Err(format!("hdr presence byte {present:#x}"));
        }
        let n = |b: &mut &[u8], what: &str, max: u64| -> Result<u64, String> {
            let v = take(b)?;
            if v > max {
                return Err(format!("hdr {what} {v}"));
            }
            Ok(v)
        };
        let u16_max = u64::from(u16::MAX);
        let usual = present & USUAL != 0;
        let opcode = if usual {
            0
        } else {
            n(&mut b, "opcode", u8::MAX.into())? as u8
        };
        let dns_id = n(&mut b, "dns_id", u16_max)? as u16;
        let counts = crate::model::Counts {
            qd: if usual {
                1
            } else {
                n(&mut b, "qdcount", u16_max)? as u16
            },
            an: n(&mut b, "ancount", u16_max)? as u16,
            ns: n(&mut b, "nscount", u16_max)? as u16,
            ar: n(&mut b, "arcount", u16_max)? as u16,
        };
        let edns = if present & HAS_EDNS != 0 {
            Some(edns_of(n(&mut b, "edns", i64::MAX as u64)? as i64)?)
        } else {
            None
        };
        let mut size = |bit: u8, what: &str| -> Result<Option<u32>, String> {
            if present & bit == 0 {
                return Ok(None);
            }
            Ok(Some(n(&mut b, what, u32::MAX.into())? as u32))
        };
        let query_size = size(HAS_QSIZE, "query_size")?;
        let response_size = size(HAS_RSIZE, "response_size")?;
        if !b.is_empty() {
            return Err(format!("{} bytes after hdr", b.len()));
        }
        Ok(Self {
            query_seen: present & SEEN != 0,
            answered: present & ANSWERED != 0,
            opcode,
            dns_id,
            counts,
            edns,
            query_size,
            response_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_columns_round_trip_and_keep_unknown_text() {
        for (col, s, int) in [
            (Coded::Qtype, "AAAA", true),
            (Coded::Qtype, "TYPE65534", false),
            (Coded::Qtype, "aaaa", false),
            (Coded::Qclass, "IN", true),
            (Coded::Qclass, "CLASS9", false),
            (Coded::Rcode, "NXDOMAIN", true),
            (Coded::Rcode, "BADVERS", false),
            (Coded::Transport, "tcp", true),
            (Coded::Transport, "quic?", false),
            (Coded::Flags, "", true),
            (Coded::Flags, "rd ra", true),
            (Coded::Flags, "aa tc rd ra ad cd", true),
            (Coded::Flags, "ra rd", false),
            (Coded::Flags, "rd  ra", false),
            (Coded::Flags, "rd rd", false),
            (Coded::Flags, " rd", false),
            (Coded::Flags, "rd ", false),
            (Coded::Flags, "xx", false),
        ] {
            let v = col.encode(s);
            assert_eq!(matches!(v, Value::Integer(_)), int, "{col:?} {s:?}");
            assert_eq!(
                col.decode(ValueRef::from(&v)).as_deref(),
                Ok(s),
                "{col:?} {s:?}"
            );
        }
        assert!(Coded::Qtype.decode(ValueRef::Integer(3)).is_err());
        assert!(Coded::Flags.decode(ValueRef::Integer(64)).is_err());
        assert!(Coded::Rcode.decode(ValueRef::Real(1.0)).is_err());
    }

    #[test]
    fn addresses_sources_and_edns_round_trip() {
        for ip in ["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "::"] {
            let ip: IpAddr = ip.parse().unwrap();
            let b = ip_blob(ip);
            assert_eq!(IpBytes::of(ip).as_slice(), &b[..]);
            assert_eq!(blob_ip(ValueRef::Blob(&b)), Ok(ip));
        }
        for p in [0u16, 53, 32767, 32768, 40000, 65535] {
            assert_eq!(port_of(port_code(p)), Ok(p), "{p}");
            // Schema 8 stored the port itself.
            assert_eq!(port_of(i64::from(p)), Ok(p), "{p}");
        }
        assert_eq!(port_code(65535), -1);
        assert_eq!(port_code(32768), -32768);
        assert_eq!(port_code(32767), 32767);
        for bad in [-32769, 65536, i64::MIN, i64::MAX] {
            assert!(port_of(bad).is_err(), "{bad}");
        }
        assert!(blob_ip(ValueRef::Blob(&[1, 2, 3])).is_err());
        assert!(blob_ip(ValueRef::Text(b"192.0.2.1")).is_err());
        assert_eq!(split_source("a#b.pcap#12"), Some(("a#b.pcap", 12)));
        assert_eq!(split_source("iface:eth0#0"), Some(("iface:eth0", 0)));
        for plain in [
            "x.pcap#012",
            "x.pcap#",
            "x.pcap",
            "x#+1",
            "x#99999999999999999999",
        ] {
            assert_eq!(split_source(plain), None, "{plain}");
        }
        for e in [
            crate::model::Edns {
                version: 0,
                udp_size: 1232,
                dnssec_ok: true,
                z: 0,
            },
            crate::model::Edns {
                version: 255,
                udp_size: 65535,
                dnssec_ok: false,
                z: 0x7fff,
            },
        ] {
            assert_eq!(edns_of(edns_code(&e)), Ok(e));
        }
        assert!(edns_of(-1).is_err());
        let full = Hdr {
            query_seen: true,
            answered: false,
            opcode: 255,
            dns_id: 65535,
            counts: crate::model::Counts {
                qd: 1,
                an: 65535,
                ns: 0,
                ar: 300,
            },
            edns: Some(crate::model::Edns {
                version: 1,
                udp_size: 4096,
                dnssec_ok: true,
                z: 3,
            }),
            query_size: Some(u32::MAX),
            response_size: Some(0),
        };
        let none = Hdr {
            edns: None,
            query_size: None,
            response_size: None,
            ..full
        };
        let usual = Hdr { opcode: 0, ..full };
        let mut buf = Vec::new();
        usual.encode(&mut buf);
        // No opcode and no qdcount: presence, id, an, ns, ar, EDNS, sizes.
        assert_eq!(buf.len(), 1 + 3 + 3 + 1 + 2 + 4 + 5 + 1);
        assert_eq!(buf[0] & USUAL, USUAL);
        // A schema-8 form (no USUAL bit) of the same header still reads.
        let mut v8 = vec![buf[0] & !USUAL, 0];
        v8.extend_from_slice(&buf[1..4]);
        v8.push(1);
        v8.extend_from_slice(&buf[4..]);
        assert_eq!(Hdr::decode(&v8), Ok(usual));
        let two = Hdr {
            opcode: 0,
            counts: crate::model::Counts {
                qd: 2,
                ..full.counts
            },
            ..full
        };
        for h in [full, none, usual, two] {
            h.encode(&mut buf);
            assert_eq!(buf[0] & USUAL != 0, h == usual);
            assert_eq!(Hdr::decode(&buf), Ok(h));
            for cut in 0..buf.len() {
                assert!(Hdr::decode(&buf[..cut]).is_err(), "{cut}");
            }
        }
        buf.push(0);
        assert!(Hdr::decode(&buf).is_err());
        assert!(Hdr::decode(&[0x40, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Hdr::decode(&[0, 0, 0x80, 0x80, 0x04, 0, 0, 0, 0]).is_err());
        assert!(edns_of(1 << 41).is_err());
    }
}
