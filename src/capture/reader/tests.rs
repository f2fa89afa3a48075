use super::*;
use std::io::{BufReader, Cursor, Read};

/// Writes pcapng blocks in either byte order.
struct Ng {
    le: bool,
    out: Vec<u8>,
}

impl Ng {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }
    fn block(&mut self, t: u32, mut body: Vec<u8>) -> usize {
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = u32::try_from(12 + body.len()).unwrap();
        let at = self.out.len();
        let (t, l) = (self.u32(t), self.u32(len));
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&l);
        self.out.extend(body);
        self.out.extend_from_slice(&l);
        at
    }
    fn shb(&mut self, major: u16) -> usize {
        let mut b = self.u32(0x1a2b_3c4d).to_vec();
        b.extend_from_slice(&self.u16(major));
        b.extend_from_slice(&self.u16(0));
        b.extend_from_slice(&[0xff; 8]);
        // An option (shb_userappl) to skip.
        b.extend_from_slice(&self.u16(4));
        b.extend_from_slice(&self.u16(5));
        b.extend_from_slice(b"test\0\0\0\0");
        b.extend_from_slice(&[0; 4]);
        self.block(SHB, b)
    }
    fn idb(&mut self, link: u16, tsresol: Option<u8>, tsoffset: Option<i64>) {
        let mut b = self.u16(link).to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.u32(0));
        // if_name, to skip.
        b.extend_from_slice(&self.u16(2));
        b.extend_from_slice(&self.u16(3));
        b.extend_from_slice(b"lo0\0");
        if let Some(r) = tsresol {
            b.extend_from_slice(&self.u16(9));
            b.extend_from_slice(&self.u16(1));
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            b.extend_from_slice(&self.u16(14));
            b.extend_from_slice(&self.u16(8));
            b.extend_from_slice(&if self.le {
                o.to_le_bytes()
            } else {
                o.to_be_bytes()
            });
        }
        b.extend_from_slice(&[0; 4]);
        self.block(1, b);
    }
    fn epb(&mut self, iface: u32, t: u64, data: &[u8]) -> usize {
        let mut b = self.u32(iface).to_vec();
        b.extend_from_slice(&self.u32((t >> 32) as u32));
        b.extend_from_slice(&self.u32(t as u32));
        b.extend_from_slice(&self.u32(data.len() as u32));
        b.extend_from_slice(&self.u32(data.len() as u32 + 100));
        b.extend_from_slice(data);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        // epb_flags option.
        b.extend_from_slice(&self.u16(2));
        b.extend_from_slice(&self.u16(4));
        b.extend_from_slice(&self.u32(1));
        b.extend_from_slice(&[0; 4]);
        self.block(6, b)
    }
    fn pb(&mut self, iface: u16, t: u64, data: &[u8]) {
        let mut b = self.u16(iface).to_vec();
        b.extend_from_slice(&self.u16(0));
        b.extend_from_slice(&self.u32((t >> 32) as u32));
        b.extend_from_slice(&self.u32(t as u32));
        b.extend_from_slice(&self.u32(data.len() as u32));
        b.extend_from_slice(&self.u32(data.len() as u32));
        b.extend_from_slice(data);
        self.block(2, b);
    }
    fn spb(&mut self, wire: u32, data: &[u8]) {
        let mut b = self.u32(wire).to_vec();
        b.extend_from_slice(data);
        self.block(3, b);
    }
}

/// (time, link type, data, record offset) of a packet read.
type Read1 = (i64, LinkType, Vec<u8>, u64);

fn read_all(bytes: &[u8]) -> (Vec<Read1>, Option<ReadError>) {
    let mut r = CaptureReader::open(Cursor::new(bytes)).expect("opens");
    let mut out = Vec::new();
    loop {
        match r.advance() {
            Ok(true) => {
                let p = r.packet();
                out.push((p.ts_us, p.link, p.data.to_vec(), p.offset));
            }
            Ok(false) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn sample(le: bool) -> (Vec<u8>, usize) {
    let mut n = Ng {
        le,
        out: Vec::new(),
    };
    n.shb(1);
    n.block(0x0bad, vec![1, 2, 3, 4, 5]); // unknown block: skipped
    n.idb(1, None, None); // Ethernet, µs
    n.idb(101, Some(9), Some(10)); // raw IP, ns, +10 s
    n.idb(228, Some(0x80 | 20), None); // IPv4, 2^-20 s
    n.epb(0, 1_700_000_000_123_456, b"eth");
    n.epb(1, 1_700_000_000_123_456_789, b"raw-ip");
    n.epb(2, (5 << 20) | (1 << 19), b"ipv4!"); // 5.5 s
    n.spb(9, b"simple!!!"); // no time: the previous packet's
    n.pb(1, 2_000_000_000, b"old");
    // A second section in the other byte order, its own interfaces.
    let mut m = Ng {
        le: !le,
        out: Vec::new(),
    };
    m.shb(1);
    m.idb(113, None, None);
    let second = m.epb(0, 42, b"sll");
    let at = n.out.len();
    n.out.extend(m.out);
    (n.out, at + second)
}

#[test]
fn pcapng_in_both_byte_orders_with_sections_and_resolutions() {
    for le in [true, false] {
        let (bytes, last) = sample(le);
        let (pkts, err) = read_all(&bytes);
        assert!(err.is_none(), "{err:?}");
        let got: Vec<(i64, LinkType, &[u8])> =
            pkts.iter().map(|p| (p.0, p.1, p.2.as_slice())).collect();
        assert_eq!(
            got,
            vec![
                (1_700_000_000_123_456, LinkType::Ethernet, &b"eth"[..]),
                (1_700_000_010_123_456, LinkType::Raw, &b"raw-ip"[..]),
                (5_500_000, LinkType::Ipv4, &b"ipv4!"[..]),
                (5_500_000, LinkType::Ethernet, &b"simple!!!"[..]),
                (12_000_000, LinkType::Raw, &b"old"[..]),
                (42, LinkType::LinuxSll, &b"sll"[..]),
            ],
            "le={le}"
        );
        assert_eq!(pkts[5].3, last as u64);
    }
}

#[test]
fn simple_packet_block_is_cut_to_the_wire_length() {
    let mut n = Ng {
        le: true,
        out: Vec::new(),
    };
    n.shb(1);
    n.idb(101, None, None);
    n.spb(3, b"abcdefgh");
    let (pkts, err) = read_all(&n.out);
    assert!(err.is_none());
    assert_eq!(pkts[0].2, b"abc");
}

#[test]
fn damage_and_unsupported_records_are_told_apart() {
    let (bytes, last) = sample(true);
    // Cut inside the last block: damage at its offset.
    let (pkts, err) = read_all(&bytes[..last + 10]);
    assert_eq!(pkts.len(), 5);
    assert!(
        matches!(err, Some(ReadError::Damaged { offset, .. }) if offset == last as u64),
        "{err:?}"
    );
    // Trailer disagreeing with the header.
    let mut b = bytes.clone();
    let end = b.len();
    b[end - 4] ^= 0x40;
    let (_, err) = read_all(&b);
    assert!(
        matches!(err, Some(ReadError::Damaged { offset, ref reason }) if offset == last as u64 && reason.contains("trailer")),
        "{err:?}"
    );
    // A packet on an interface never described.
    let mut n = Ng {
        le: true,
        out: Vec::new(),
    };
    n.shb(1);
    n.idb(1, None, None);
    let at = n.epb(1, 0, b"x");
    let (_, err) = read_all(&n.out);
    assert!(
        matches!(err, Some(ReadError::Damaged { offset, ref reason }) if offset == at as u64 && reason.contains("interface 1")),
        "{err:?}"
    );
    // A section of version 2: well formed, not readable.
    let mut n = Ng {
        le: true,
        out: Vec::new(),
    };
    n.shb(1);
    n.idb(1, None, None);
    n.epb(0, 0, b"x");
    let at = n.shb(2);
    let (pkts, err) = read_all(&n.out);
    assert_eq!(pkts.len(), 1);
    assert!(
        matches!(err, Some(ReadError::Unsupported { offset, .. }) if offset == at as u64),
        "{err:?}"
    );
    // if_tsresol out of range.
    let mut n = Ng {
        le: true,
        out: Vec::new(),
    };
    n.shb(1);
    n.idb(1, Some(20), None);
    let (_, err) = read_all(&n.out);
    assert!(
        matches!(err, Some(ReadError::Unsupported { .. })),
        "{err:?}"
    );
}

fn pcap(
    magic: [u8; 4],
    le: bool,
    version: (u16, u16),
    link: u32,
    snaplen: u32,
    recs: &[(u32, u32, &[u8], u32)],
) -> Vec<u8> {
    let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let mut f = magic.to_vec();
    f.extend_from_slice(&u16b(version.0));
    f.extend_from_slice(&u16b(version.1));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&u32b(snaplen));
    f.extend_from_slice(&u32b(link));
    let patched = magic == [0x34, 0xcd, 0xb2, 0xa1] || magic == [0xa1, 0xb2, 0xcd, 0x34];
    for (sec, frac, data, wire) in recs {
        f.extend_from_slice(&u32b(*sec));
        f.extend_from_slice(&u32b(*frac));
        f.extend_from_slice(&u32b(data.len() as u32));
        f.extend_from_slice(&u32b(*wire));
        if patched {
            f.extend_from_slice(&[0; 8]);
        }
        f.extend_from_slice(data);
    }
    f
}

#[test]
fn pcap_magics_versions_and_snapshot() {
    let recs: &[(u32, u32, &[u8], u32)] = &[(3_000_000_000, 500_000, b"abcdef", 6)];
    for (magic, le, nanos) in [
        ([0xd4, 0xc3, 0xb2, 0xa1], true, false),
        ([0xa1, 0xb2, 0xc3, 0xd4], false, false),
        ([0x4d, 0x3c, 0xb2, 0xa1], true, true),
        ([0xa1, 0xb2, 0x3c, 0x4d], false, true),
        ([0x34, 0xcd, 0xb2, 0xa1], true, false),
        ([0xa1, 0xb2, 0xcd, 0x34], false, false),
    ] {
        let (pkts, err) = read_all(&pcap(magic, le, (2, 4), 101, 65535, recs));
        assert!(err.is_none());
        let frac = if nanos { 500 } else { 500_000 };
        // Seconds past 2038 read unsigned.
        assert_eq!(pkts[0].0, 3_000_000_000 * 1_000_000 + frac, "{magic:x?}");
        assert_eq!(pkts[0].2, b"abcdef");
        assert_eq!(pkts[0].1, LinkType::Raw);
    }
    // Captured length above the snapshot length: cut to it (libpcap).
    let (pkts, _) = read_all(&pcap(
        [0xd4, 0xc3, 0xb2, 0xa1],
        true,
        (2, 4),
        1,
        4,
        &[(1, 0, b"abcdefgh", 8), (2, 0, b"xy", 2)],
    ));
    assert_eq!(pkts[0].2, b"abcd");
    assert_eq!(pkts[1].2, b"xy");
    // Version 2.2: captured and wire lengths swapped.
    let mut f = pcap(
        [0xd4, 0xc3, 0xb2, 0xa1],
        true,
        (2, 2),
        1,
        0,
        &[(1, 0, b"abc", 3)],
    );
    f[24 + 8..24 + 12].copy_from_slice(&100u32.to_le_bytes());
    f[24 + 12..24 + 16].copy_from_slice(&3u32.to_le_bytes());
    let (pkts, err) = read_all(&f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(pkts[0].2, b"abc");
    // Not captures.
    for bad in [
        &b"GIF89a..."[..],
        b"ab",
        &pcap([0xd4, 0xc3, 0xb2, 0xa1], true, (1, 0), 1, 0, &[])[..],
        &pcap([0xd4, 0xc3, 0xb2, 0xa1], true, (3, 0), 1, 0, &[])[..],
    ] {
        assert!(matches!(
            CaptureReader::open(Cursor::new(bad)),
            Err(OpenError::NotCapture(_))
        ));
    }
    // Too long a record is damage at its offset; a cut header too.
    let mut f = pcap(
        [0xd4, 0xc3, 0xb2, 0xa1],
        true,
        (2, 4),
        1,
        0,
        &[(1, 0, b"abc", 3), (2, 0, b"abc", 3)],
    );
    let (_, err) = read_all(&f[..f.len() - 10]);
    assert!(
        matches!(err, Some(ReadError::Damaged { offset: 43, .. })),
        "{err:?}"
    );
    f[43 + 8..43 + 12].copy_from_slice(&(MAX_SNAPLEN + 1).to_le_bytes());
    let (pkts, err) = read_all(&f);
    assert_eq!(pkts.len(), 1);
    assert!(
        matches!(err, Some(ReadError::Damaged { offset: 43, .. })),
        "{err:?}"
    );
}

#[test]
fn nflog_of_a_big_endian_file_is_swapped_to_what_the_decoder_reads() {
    // NFLOG header (family, version 0, resource id), one TLV of 8 bytes.
    let be_tlv = [2u8, 0, 0, 0, 0, 8, 0, 9, 0xaa, 0xbb, 0xcc, 0xdd];
    let f = pcap(
        [0xa1, 0xb2, 0xc3, 0xd4],
        false,
        (2, 4),
        239,
        0,
        &[(1, 0, &be_tlv, 12)],
    );
    let (pkts, _) = read_all(&f);
    assert_eq!(pkts[0].2, [2, 0, 0, 0, 8, 0, 9, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
}

/// Fails with an I/O error after `ok` bytes.
struct Failing {
    data: Vec<u8>,
    at: usize,
    ok: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.ok {
            return Err(io::Error::other("injected EIO"));
        }
        let n = buf
            .len()
            .min(self.ok - self.at)
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn io_errors_are_errors_with_the_offset_of_the_record() {
    let f = pcap(
        [0xd4, 0xc3, 0xb2, 0xa1],
        true,
        (2, 4),
        1,
        0,
        &[(1, 0, b"abc", 3), (2, 0, b"abc", 3)],
    );
    let src = BufReader::with_capacity(
        16,
        Failing {
            data: f,
            at: 0,
            ok: 50,
        },
    );
    let mut r = CaptureReader::open(src).expect("header reads");
    assert!(r.advance().expect("first record"));
    match r.advance() {
        Err(ReadError::Io { offset: 43, source }) => {
            assert!(source.to_string().contains("EIO"))
        }
        other => panic!("{other:?}"),
    }
}
