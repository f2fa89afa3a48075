//! A streaming reader of pcap and pcapng capture files, without libpcap.
//!
//! Memory does not grow with the file: one record is held at a time (at
//! most [`MAX_SNAPLEN`] bytes of packet data), blocks that are not packets
//! are skipped without being buffered, and every offset is known as it is
//! read, so damage is reported where it is met.
//!
//! What libpcap 1.10 does is followed where it decides what a packet is:
//!
//! * pcap: all four magics (µs and ns, both byte orders) and the patched
//!   "Kuznetzov" format (24-byte record headers); versions 2.0–2.4 and
//!   543.0, lengths swapped in versions before 2.3 (and in 2.3 when the
//!   captured length exceeds the wire length); a record longer than the
//!   file's snapshot length is cut to it, one longer than 262,144 bytes is
//!   damage. Seconds are read unsigned (dates up to 2106).
//! * pcapng: any number of sections, each in its own byte order; interface
//!   description blocks with their own link type, snapshot length and
//!   timestamp resolution (`if_tsresol`, decimal or binary) and offset
//!   (`if_tsoffset`); enhanced, simple and obsolete packet blocks; every
//!   other block skipped. A simple packet block has no timestamp: it gets
//!   the previous packet's time (libpcap gives it 0, 1970).
//! * NFLOG headers of a big-endian file are swapped to the host order the
//!   decoder reads (as libpcap does).

use std::io::{self, BufRead};

use crate::decode::LinkType;

/// Largest captured length accepted (libpcap's `MAXIMUM_SNAPLEN`).
pub const MAX_SNAPLEN: u32 = 262_144;
/// Interfaces per pcapng section.
pub const MAX_INTERFACES: usize = 65_536;

/// Why reading stopped before the end of the file.
#[derive(Debug)]
pub enum ReadError {
    /// The record at `offset` is broken (truncated, impossible length): the
    /// rest of the file cannot be trusted.
    Damaged {
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The record at `offset` is well formed but cannot be read (a pcapng
    /// section of another major version, a timestamp resolution out of range).
    Unsupported {
        /// Byte offset of the record.
        offset: u64,
        /// What it is.
        reason: String,
    },
    /// The operating system failed to read the record at `offset`.
    Io {
        /// Byte offset of the record.
        offset: u64,
        /// The error.
        source: io::Error,
    },
}

/// Why a file could not be opened as a capture.
#[derive(Debug)]
pub enum OpenError {
    /// Not a pcap or pcapng file (or a header we do not read).
    NotCapture(String),
    /// Reading the header failed.
    Io(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotCapture(r) => f.write_str(r),
            Self::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// The packet last read.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Time, µs since the Unix epoch.
    pub ts_us: i64,
    /// Link type of its interface.
    pub link: LinkType,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Byte offset of its record in the file.
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LengthSwap {
    No,
    Maybe,
    Yes,
}

#[derive(Debug)]
struct Pcap {
    le: bool,
    nanos: bool,
    header: usize,
    link: LinkType,
    snapshot: u32,
    swap: LengthSwap,
}

#[derive(Debug, Clone, Copy)]
struct Iface {
    link: LinkType,
    snapshot: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

#[derive(Debug)]
struct Pcapng {
    le: bool,
    ifaces: Vec<Iface>,
}

#[derive(Debug)]
enum Format {
    Pcap(Pcap),
    Pcapng(Pcapng),
}

/// Reads records one at a time from any buffered byte stream.
pub struct CaptureReader<R> {
    src: R,
    /// Offset of the next unread byte.
    pos: u64,
    format: Format,
    buf: Vec<u8>,
    cur_ts: i64,
    cur_link: LinkType,
    cur_len: usize,
    cur_offset: u64,
}

impl<R> std::fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("pos", &self.pos)
            .field("format", &self.format)
            .finish()
    }
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

/// Reads until `buf` is full or the stream ends; the count read.
fn read_full<R: BufRead>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Skips up to `n` bytes; the count skipped (less only at the end).
fn skip<R: BufRead>(r: &mut R, n: u64) -> io::Result<u64> {
    let mut done = 0u64;
    while done < n {
        let avail = match r.fill_buf() {
            Ok(b) => b.len(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail == 0 {
            break;
        }
        let k = usize::try_from(n - done).map_or(avail, |left| left.min(avail));
        r.consume(k);
        done += k as u64;
    }
    Ok(done)
}

/// libpcap's `pcap_adjust_snapshot`: 0 or anything above the maximum means the maximum.
fn adjust_snapshot(snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > MAX_SNAPLEN {
        MAX_SNAPLEN
    } else {
        snaplen
    }
}

/// NFLOG TLV headers are in the byte order of the host that wrote the file;
/// the decoder reads little-endian (libpcap's `swap_nflog_header`).
fn swap_nflog(data: &mut [u8], wire_len: u32) {
    let mut caplen = data.len();
    let mut length = usize::try_from(wire_len).unwrap_or(usize::MAX);
    if caplen < 4 || length < 4 || data[1] != 0 {
        return;
    }
    caplen -= 4;
    length -= 4;
    let mut p = 4usize;
    while caplen >= 4 {
        data.swap(p, p + 1);
        data.swap(p + 2, p + 3);
        let mut size = usize::from(u16::from_le_bytes([data[p], data[p + 1]]));
        if size % 4 != 0 {
            size += 4 - size % 4;
        }
        if size < 4 || caplen < size || length < size {
            return;
        }
        caplen -= size;
        length -= size;
        p += size;
    }
}

const SHB: u32 = 0x0a0d_0d0a;
const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];
const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];

impl<R: BufRead> CaptureReader<R> {
    /// Reads the file header (pcap) or first section header (pcapng).
    pub fn open(mut src: R) -> Result<Self, OpenError> {
        let mut h = [0u8; 24];
        let n = read_full(&mut src, &mut h[..4]).map_err(OpenError::Io)?;
        if n < 4 {
            return Err(OpenError::NotCapture(format!(
                "file of {n} bytes is too short for a capture header"
            )));
        }
        let mut reader = Self {
            src,
            pos: 4,
            format: Format::Pcap(Pcap {
                le: true,
                nanos: false,
                header: 16,
                link: LinkType::Unsupported(-1),
                snapshot: MAX_SNAPLEN,
                swap: LengthSwap::No,
            }),
            buf: Vec::new(),
            cur_ts: 0,
            cur_link: LinkType::Unsupported(-1),
            cur_len: 0,
            cur_offset: 0,
        };
        if h[..4] == SHB.to_le_bytes() {
            reader.format = Format::Pcapng(Pcapng {
                le: true,
                ifaces: Vec::new(),
            });
            match reader.section_header(0) {
                Ok(()) => return Ok(reader),
                Err(ReadError::Io { source, .. }) => return Err(OpenError::Io(source)),
                Err(ReadError::Damaged { reason, .. } | ReadError::Unsupported { reason, .. }) => {
                    return Err(OpenError::NotCapture(format!("pcapng: {reason}")))
                }
            }
        }
        let (le, nanos, header) = match [h[0], h[1], h[2], h[3]] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (true, false, 16),
            [0xa1, 0xb2, 0xc3, 0xd4] => (false, false, 16),
            [0x4d, 0x3c, 0xb2, 0xa1] => (true, true, 16),
            [0xa1, 0xb2, 0x3c, 0x4d] => (false, true, 16),
            [0x34, 0xcd, 0xb2, 0xa1] => (true, false, 24),
            [0xa1, 0xb2, 0xcd, 0x34] => (false, false, 24),
            m => {
                return Err(OpenError::NotCapture(format!(
                    "unknown file format (magic {:02x}{:02x}{:02x}{:02x}: neither pcap nor pcapng)",
                    m[0], m[1], m[2], m[3]
                )))
            }
        };
        let n = read_full(&mut reader.src, &mut h[4..24]).map_err(OpenError::Io)?;
        reader.pos += n as u64;
        if n < 20 {
            return Err(OpenError::NotCapture(format!(
                "truncated pcap file header: {} of 24 bytes",
                n + 4
            )));
        }
        let major = u16_at(&h, 4, le);
        let minor = u16_at(&h, 6, le);
        if major < 2 {
            return Err(OpenError::NotCapture(format!(
                "archaic pcap version {major}.{minor}"
            )));
        }
        if !((major == 2 && minor <= 4) || (major == 543 && minor == 0)) {
            return Err(OpenError::NotCapture(format!(
                "unsupported pcap version {major}.{minor}"
            )));
        }
        let snaplen = u32_at(&h, 16, le);
        let linktype = u32_at(&h, 20, le) & 0x03ff_ffff;
        let link = LinkType::from_pcap(i32::try_from(linktype).unwrap_or(i32::MAX));
        let mut snapshot = adjust_snapshot(snaplen);
        if header == 24 && link == LinkType::Ethernet {
            snapshot = snapshot.saturating_add(14);
        }
        let swap = match (major, minor) {
            (2, 0..=2) | (543, _) => LengthSwap::Yes,
            (2, 3) => LengthSwap::Maybe,
            _ => LengthSwap::No,
        };
        reader.format = Format::Pcap(Pcap {
            le,
            nanos,
            header,
            link,
            snapshot,
            swap,
        });
        Ok(reader)
    }

    /// Bytes consumed so far (the offset of the next record).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Link type of the file (of its first interface for a pcapng; each
    /// packet carries its own).
    pub fn link_type(&self) -> LinkType {
        match &self.format {
            Format::Pcap(p) => p.link,
            Format::Pcapng(n) => n
                .ifaces
                .first()
                .map_or(LinkType::Unsupported(-1), |i| i.link),
        }
    }

    /// The packet read by the last successful [`advance`](Self::advance).
    pub fn packet(&self) -> Packet<'_> {
        Packet {
            ts_us: self.cur_ts,
            link: self.cur_link,
            data: self.buf.get(..self.cur_len).unwrap_or(&[]),
            offset: self.cur_offset,
        }
    }

    /// Reads the next packet; `Ok(false)` at a clean end of file.
    pub fn advance(&mut self) -> Result<bool, ReadError> {
        if matches!(self.format, Format::Pcap(_)) {
            self.next_pcap()
        } else {
            self.next_pcapng()
        }
    }

    fn io(&self, offset: u64) -> impl FnOnce(io::Error) -> ReadError {
        move |source| ReadError::Io { offset, source }
    }

    /// Reads exactly `buf.len()` bytes of the record at `start`.
    fn exact(&mut self, start: u64, what: &str, len: usize) -> Result<(), ReadError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let n = read_full(&mut self.src, &mut self.buf[..len]).map_err(self.io(start))?;
        self.pos += n as u64;
        if n < len {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("truncated {what}: {n} of {len} bytes"),
            });
        }
        Ok(())
    }

    fn exact_small<const N: usize>(
        &mut self,
        start: u64,
        what: &str,
    ) -> Result<[u8; N], ReadError> {
        let mut b = [0u8; N];
        let n = read_full(&mut self.src, &mut b).map_err(self.io(start))?;
        self.pos += n as u64;
        if n < N {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("truncated {what}: {n} of {N} bytes"),
            });
        }
        Ok(b)
    }

    fn skip_exact(&mut self, start: u64, what: &str, n: u64) -> Result<(), ReadError> {
        let k = skip(&mut self.src, n).map_err(self.io(start))?;
        self.pos += k;
        if k < n {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("truncated {what}: {k} of {n} bytes"),
            });
        }
        Ok(())
    }

    fn next_pcap(&mut self) -> Result<bool, ReadError> {
        let Format::Pcap(p) = &self.format else {
            return Ok(false);
        };
        let (le, nanos, header, link, snapshot, swap) =
            (p.le, p.nanos, p.header, p.link, p.snapshot, p.swap);
        let start = self.pos;
        let mut h = [0u8; 24];
        let n = read_full(&mut self.src, &mut h[..header]).map_err(self.io(start))?;
        self.pos += n as u64;
        if n == 0 {
            return Ok(false);
        }
        if n < header {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("truncated record header: {n} of {header} bytes"),
            });
        }
        let sec = u32_at(&h, 0, le);
        let mut usec = u32_at(&h, 4, le);
        let mut caplen = u32_at(&h, 8, le);
        let mut len = u32_at(&h, 12, le);
        if nanos {
            usec /= 1000;
        }
        if swap == LengthSwap::Yes || (swap == LengthSwap::Maybe && caplen > len) {
            std::mem::swap(&mut caplen, &mut len);
        }
        if caplen > MAX_SNAPLEN {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("invalid captured length {caplen} (maximum {MAX_SNAPLEN})"),
            });
        }
        let keep = caplen.min(snapshot);
        self.exact(start, "record", keep as usize)?;
        if caplen > keep {
            self.skip_exact(start, "record", u64::from(caplen - keep))?;
        }
        if link == LinkType::Nflog && !le {
            swap_nflog(&mut self.buf[..keep as usize], len);
        }
        self.cur_ts = i64::from(sec) * 1_000_000 + i64::from(usec);
        self.cur_link = link;
        self.cur_len = keep as usize;
        self.cur_offset = start;
        Ok(true)
    }

    /// Reads a section header block whose 4-byte type at `start` was consumed.
    fn section_header(&mut self, start: u64) -> Result<(), ReadError> {
        let h = self.exact_small::<8>(start, "section header block")?;
        let le = if h[4..8] == BOM_LE {
            true
        } else if h[4..8] == BOM_BE {
            false
        } else {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!(
                    "section header with a bad byte-order magic {:02x}{:02x}{:02x}{:02x}",
                    h[4], h[5], h[6], h[7]
                ),
            });
        };
        let len = u32_at(&h, 0, le);
        if len < 28 || len % 4 != 0 {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("section header block of length {len}"),
            });
        }
        let v = self.exact_small::<4>(start, "section header block")?;
        let (major, minor) = (u16_at(&v, 0, le), u16_at(&v, 2, le));
        // Section length (8) and options, up to the trailer.
        self.skip_exact(start, "section header block", u64::from(len) - 20)?;
        self.trailer(start, len, le)?;
        if major != 1 {
            return Err(ReadError::Unsupported {
                offset: start,
                reason: format!("pcapng section of version {major}.{minor}"),
            });
        }
        if let Format::Pcapng(n) = &mut self.format {
            n.le = le;
            n.ifaces.clear();
        }
        Ok(())
    }

    fn trailer(&mut self, start: u64, len: u32, le: bool) -> Result<(), ReadError> {
        let t = self.exact_small::<4>(start, "block trailer")?;
        let tl = u32_at(&t, 0, le);
        if tl != len {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("block length {len} in its header but {tl} in its trailer"),
            });
        }
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<bool, ReadError> {
        loop {
            let Format::Pcapng(ng) = &self.format else {
                return Ok(false);
            };
            let le = ng.le;
            let start = self.pos;
            let mut t = [0u8; 4];
            let n = read_full(&mut self.src, &mut t).map_err(self.io(start))?;
            self.pos += n as u64;
            if n == 0 {
                return Ok(false);
            }
            if n < 4 {
                return Err(ReadError::Damaged {
                    offset: start,
                    reason: format!("truncated block header: {n} of 8 bytes"),
                });
            }
            if t == SHB.to_le_bytes() {
                self.section_header(start)?;
                continue;
            }
            let btype = u32_at(&t, 0, le);
            let l = self.exact_small::<4>(start, "block header")?;
            let len = u32_at(&l, 0, le);
            if len < 12 || len % 4 != 0 {
                return Err(ReadError::Damaged {
                    offset: start,
                    reason: format!("block of type {btype} with length {len}"),
                });
            }
            let body = len - 12;
            match btype {
                1 => {
                    self.interface(start, body, le)?;
                    self.trailer(start, len, le)?;
                }
                2 | 3 | 6 => {
                    self.packet_block(start, btype, body, le)?;
                    self.trailer(start, len, le)?;
                    return Ok(true);
                }
                _ => {
                    self.skip_exact(start, "block", u64::from(body))?;
                    self.trailer(start, len, le)?;
                }
            }
        }
    }

    /// An interface description block's body.
    fn interface(&mut self, start: u64, body: u32, le: bool) -> Result<(), ReadError> {
        if body < 8 {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("interface description block of length {}", body + 12),
            });
        }
        let f = self.exact_small::<8>(start, "interface description block")?;
        let link = LinkType::from_pcap(i32::from(u16_at(&f, 0, le)));
        let snapshot = adjust_snapshot(u32_at(&f, 4, le));
        let mut units = 1_000_000u64;
        let mut offset_s = 0i64;
        let mut left = body - 8;
        while left >= 4 {
            let o = self.exact_small::<4>(start, "interface option")?;
            left -= 4;
            let (code, olen) = (u16_at(&o, 0, le), u32::from(u16_at(&o, 2, le)));
            let padded = (olen + 3) & !3;
            if padded > left {
                return Err(ReadError::Damaged {
                    offset: start,
                    reason: format!("interface option {code} of length {olen} overruns its block"),
                });
            }
            match (code, olen) {
                (0, _) => break,
                (9, 1) => {
                    let v = self.exact_small::<4>(start, "if_tsresol")?;
                    let r = v[0];
                    units = if r & 0x80 != 0 {
                        let shift = r & 0x7f;
                        if shift > 63 {
                            return Err(ReadError::Unsupported {
                                offset: start,
                                reason: format!("timestamp resolution 2^-{shift}"),
                            });
                        }
                        1u64 << shift
                    } else {
                        if r > 19 {
                            return Err(ReadError::Unsupported {
                                offset: start,
                                reason: format!("timestamp resolution 10^-{r}"),
                            });
                        }
                        10u64.pow(u32::from(r))
                    };
                }
                (14, 8) => {
                    let v = self.exact_small::<8>(start, "if_tsoffset")?;
                    let b = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                    offset_s = if le {
                        i64::from_le_bytes(b)
                    } else {
                        i64::from_be_bytes(b)
                    };
                }
                _ => self.skip_exact(start, "interface option", u64::from(padded))?,
            }
            left -= padded;
        }
        self.skip_exact(start, "interface description block", u64::from(left))?;
        if let Format::Pcapng(n) = &mut self.format {
            if n.ifaces.len() >= MAX_INTERFACES {
                return Err(ReadError::Unsupported {
                    offset: start,
                    reason: format!("more than {MAX_INTERFACES} interfaces in one section"),
                });
            }
            n.ifaces.push(Iface {
                link,
                snapshot,
                units,
                offset_s,
            });
        }
        Ok(())
    }

    /// An enhanced (6), simple (3) or obsolete (2) packet block's body.
    fn packet_block(
        &mut self,
        start: u64,
        btype: u32,
        body: u32,
        le: bool,
    ) -> Result<(), ReadError> {
        let fixed: u32 = if btype == 3 { 4 } else { 20 };
        if body < fixed {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("packet block of type {btype} of length {}", body + 12),
            });
        }
        let mut f = [0u8; 20];
        let n = read_full(&mut self.src, &mut f[..fixed as usize]).map_err(self.io(start))?;
        self.pos += n as u64;
        if n < fixed as usize {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("truncated packet block: {n} of {fixed} bytes"),
            });
        }
        let room = body - fixed;
        let (iface, ts, caplen, wire) = match btype {
            6 => (
                u32_at(&f, 0, le),
                Some(u64::from(u32_at(&f, 4, le)) << 32 | u64::from(u32_at(&f, 8, le))),
                u32_at(&f, 12, le),
                u32_at(&f, 16, le),
            ),
            2 => (
                u32::from(u16_at(&f, 0, le)),
                Some(u64::from(u32_at(&f, 4, le)) << 32 | u64::from(u32_at(&f, 8, le))),
                u32_at(&f, 12, le),
                u32_at(&f, 16, le),
            ),
            _ => {
                let wire = u32_at(&f, 0, le);
                (0, None, wire.min(room), wire)
            }
        };
        let Format::Pcapng(ng) = &self.format else {
            return Ok(());
        };
        let Some(i) = ng.ifaces.get(iface as usize).copied() else {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!(
                    "packet on interface {iface}, which has no interface description block"
                ),
            });
        };
        if caplen > room {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("captured length {caplen} overruns its block ({room} bytes)"),
            });
        }
        if caplen > MAX_SNAPLEN {
            return Err(ReadError::Damaged {
                offset: start,
                reason: format!("invalid captured length {caplen} (maximum {MAX_SNAPLEN})"),
            });
        }
        let keep = if btype == 3 {
            caplen.min(i.snapshot)
        } else {
            caplen
        };
        self.exact(start, "packet data", keep as usize)?;
        self.skip_exact(start, "packet block", u64::from(room - keep))?;
        if i.link == LinkType::Nflog && !le {
            swap_nflog(&mut self.buf[..keep as usize], wire);
        }
        if let Some(t) = ts {
            self.cur_ts = ts_us(t, i.units, i.offset_s);
        }
        self.cur_link = i.link;
        self.cur_len = keep as usize;
        self.cur_offset = start;
        Ok(())
    }
}

/// µs since the epoch from a pcapng timestamp of `units` per second, plus
/// `offset_s` seconds.
fn ts_us(t: u64, units: u64, offset_s: i64) -> i64 {
    let units = units.max(1);
    let sec = i64::try_from(t / units).unwrap_or(i64::MAX);
    let frac = u128::from(t % units) * 1_000_000 / u128::from(units);
    let frac = i64::try_from(frac).unwrap_or(0);
    sec.saturating_add(offset_s)
        .saturating_mul(1_000_000)
        .saturating_add(frac)
}

#[cfg(test)]
mod tests;
