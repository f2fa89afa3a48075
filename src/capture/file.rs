//! Capture files through libpcap, with the byte offset of damage found by
//! walking the file's record structure ourselves.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use pcap::{Capture, Offline};

use super::{timeval_us, CaptureError, PacketSource, RawPacket};
use crate::decode::LinkType;

/// One interface of a pcapng that mixes link types, read on its own.
struct Part {
    cap: Capture<Offline>,
    link: LinkType,
    /// File-order index of each packet of this part, in order.
    order: VecDeque<u64>,
}

/// A pcap or pcapng file.
pub struct FileSource {
    cap: Capture<Offline>,
    /// Set when libpcap refused the file for mixing link types: the file is
    /// read per interface and the parts are merged back into file order.
    parts: Option<Vec<Part>>,
    path: PathBuf,
    name: String,
    link: LinkType,
    packets: u64,
    /// Approximate bytes consumed (record headers + captured bytes), for progress.
    pub bytes_read: u64,
    /// File size.
    pub file_len: u64,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .finish()
    }
}

impl FileSource {
    /// Opens a capture file.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let meta = std::fs::metadata(path).map_err(|e| CaptureError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if meta.is_dir() {
            return Err(CaptureError::Open {
                path: path.to_path_buf(),
                reason: "is a directory".into(),
            });
        }
        let cap = Capture::from_file(path).map_err(|e| CaptureError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let link = LinkType::from_pcap(cap.get_datalink().0);
        Ok(Self {
            cap,
            parts: None,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            link,
            packets: 0,
            bytes_read: 24,
            file_len: meta.len(),
        })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }
}

impl PacketSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.parts.is_none() {
            match self.cap.next_packet() {
                Ok(p) => {
                    self.packets += 1;
                    self.bytes_read += 16 + u64::from(p.header.caplen);
                    return Ok(Some(RawPacket {
                        ts_us: timeval_us(p.header.ts.tv_sec, p.header.ts.tv_usec),
                        link: self.link,
                        data: p.data,
                    }));
                }
                Err(pcap::Error::NoMorePackets) => return Ok(None),
                Err(e)
                    if e.to_string()
                        .contains("different from the type of the first interface") =>
                {
                    // libpcap 1.10 reads one link type per pcapng: split the
                    // file per interface and merge the parts back in file order.
                    let parts =
                        split_by_interface(&self.path).map_err(|reason| CaptureError::Open {
                            path: self.path.clone(),
                            reason,
                        })?;
                    self.parts = Some(parts);
                }
                Err(e) => {
                    let offset = damage_offset(&self.path, self.packets).unwrap_or(self.bytes_read);
                    return Err(CaptureError::Damaged {
                        path: self.path.clone(),
                        offset,
                        packets: self.packets,
                        lost: self.file_len.saturating_sub(offset),
                        reason: e.to_string(),
                    });
                }
            }
        }
        let Some(parts) = self.parts.as_mut() else {
            return Ok(None);
        };
        next_from_parts(
            parts,
            &mut self.packets,
            &mut self.bytes_read,
            &self.path,
            self.file_len,
        )
    }
}

/// The part whose next packet comes first in file order.
fn first_part(parts: &[Part]) -> Option<usize> {
    (0..parts.len())
        .filter(|i| !parts[*i].order.is_empty())
        .min_by_key(|i| parts[*i].order.front().copied().unwrap_or(u64::MAX))
}

/// The next packet in file order from the per-interface parts, skipping
/// those read before the split.
fn next_from_parts<'a>(
    parts: &'a mut [Part],
    packets: &mut u64,
    bytes_read: &mut u64,
    path: &Path,
    file_len: u64,
) -> Result<Option<RawPacket<'a>>, CaptureError> {
    let damaged = |packets: u64, bytes_read: u64, reason: String| {
        let offset = damage_offset(path, packets).unwrap_or(bytes_read);
        CaptureError::Damaged {
            path: path.to_path_buf(),
            offset,
            packets,
            lost: file_len.saturating_sub(offset),
            reason,
        }
    };
    loop {
        let Some(i) = first_part(parts) else {
            return Ok(None);
        };
        if parts[i].order.front().copied().unwrap_or(u64::MAX) >= *packets {
            break;
        }
        parts[i].order.pop_front();
        if let Err(e) = parts[i].cap.next_packet() {
            return Err(damaged(*packets, *bytes_read, e.to_string()));
        }
    }
    let Some(i) = first_part(parts) else {
        return Ok(None);
    };
    parts[i].order.pop_front();
    let link = parts[i].link;
    match parts[i].cap.next_packet() {
        Ok(p) => {
            *packets += 1;
            *bytes_read += 16 + u64::from(p.header.caplen);
            Ok(Some(RawPacket {
                ts_us: timeval_us(p.header.ts.tv_sec, p.header.ts.tv_usec),
                link,
                data: p.data,
            }))
        }
        Err(e) => Err(damaged(*packets, *bytes_read, e.to_string())),
    }
}

/// A part being built: (section, interface), file bytes, link type, packet indices.
type SplitPart = ((usize, u32), Vec<u8>, LinkType, VecDeque<u64>);

/// Splits a pcapng into one temporary pcapng per interface (interface ids
/// rewritten to 0), opens each with libpcap and deletes the files (the open
/// handles keep them readable). Sections are handled; packets of blocks
/// after damage are not included (the damage is reported when reached).
fn split_by_interface(path: &Path) -> Result<Vec<Part>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut off = 0usize;
    let mut le = true;
    let mut shb: &[u8] = &[];
    // (section, interface) -> (bytes of the part file, link type, packet indices)
    let mut parts: Vec<SplitPart> = Vec::new();
    let mut section = 0usize;
    let mut section_ifaces = 0u32;
    let mut index = 0u64;
    let u32_at = |d: &[u8], at: usize, le: bool| -> Option<u32> {
        let b = d.get(at..at + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    while off + 12 <= data.len() {
        if data[off..off + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            le = data.get(off + 8..off + 12) == Some(&[0x4d, 0x3c, 0x2b, 0x1a][..]);
        }
        let Some(btype) = u32_at(&data, off, le) else {
            break;
        };
        let Some(len) = u32_at(&data, off + 4, le).map(|l| l as usize) else {
            break;
        };
        if len < 12 || len % 4 != 0 || off + len > data.len() {
            break;
        }
        let block = &data[off..off + len];
        match btype {
            0x0a0d_0d0a => {
                shb = block;
                section += 1;
                section_ifaces = 0;
            }
            1 => {
                let link = block.get(8..10).map_or(0, |b| {
                    if le {
                        u16::from_le_bytes([b[0], b[1]])
                    } else {
                        u16::from_be_bytes([b[0], b[1]])
                    }
                });
                let mut file = shb.to_vec();
                file.extend_from_slice(block);
                parts.push((
                    (section, section_ifaces),
                    file,
                    LinkType::from_pcap(i32::from(link)),
                    VecDeque::new(),
                ));
                section_ifaces += 1;
            }
            2 | 3 | 6 => {
                let iface = match btype {
                    6 => u32_at(block, 8, le).unwrap_or(0),
                    2 => block.get(8..10).map_or(0, |b| {
                        u32::from(if le {
                            u16::from_le_bytes([b[0], b[1]])
                        } else {
                            u16::from_be_bytes([b[0], b[1]])
                        })
                    }),
                    _ => 0,
                };
                if let Some(part) = parts.iter_mut().find(|p| p.0 == (section, iface)) {
                    let mut b = block.to_vec();
                    match btype {
                        6 => b[8..12].copy_from_slice(&[0; 4]),
                        2 => b[8..10].copy_from_slice(&[0; 2]),
                        _ => {}
                    }
                    part.1.extend_from_slice(&b);
                    part.3.push_back(index);
                }
                index += 1;
            }
            _ => {}
        }
        off += len;
    }
    let dir = std::env::temp_dir();
    let mut out = Vec::new();
    for (n, ((sec, iface), bytes, link, order)) in parts.into_iter().enumerate() {
        let tmp = dir.join(format!(
            "dnswatch-{}-{n}-{sec}-{iface}.pcapng",
            std::process::id()
        ));
        std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let cap = Capture::from_file(&tmp);
        let _ = std::fs::remove_file(&tmp);
        let cap = cap.map_err(|e| format!("interface {iface} of section {sec}: {e}"))?;
        out.push(Part { cap, link, order });
    }
    Ok(out)
}

/// Byte offset of the record after the `packets`-th packet record: where
/// libpcap stopped. Walks the classic pcap record headers or pcapng blocks.
pub fn damage_offset(path: &Path, packets: u64) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    walk(&data, packets)
}

fn walk(data: &[u8], packets: u64) -> Option<u64> {
    let magic = data.get(..4)?;
    let u32_at = |at: usize, le: bool| -> Option<u32> {
        let b = data.get(at..at + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xa1, 0xb2, 0x3c, 0x4d] => {
            let le = magic[0] != 0xa1;
            let mut off = 24usize;
            for _ in 0..packets {
                let caplen = u32_at(off + 8, le)? as usize;
                off = off.checked_add(16 + caplen)?;
            }
            Some(off as u64)
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut off = 0usize;
            let mut le = true;
            let mut seen = 0u64;
            loop {
                if off >= data.len() {
                    return Some(off as u64);
                }
                let btype = u32_at(off, true)?;
                if btype == 0x0a0d_0d0a {
                    le = data.get(off + 8..off + 12)? == [0x4d, 0x3c, 0x2b, 0x1a];
                }
                let len = u32_at(off + 4, le)? as usize;
                if len < 12 || len % 4 != 0 {
                    return Some(off as u64);
                }
                let btype = u32_at(off, le)?;
                if matches!(btype, 2 | 3 | 6) {
                    if seen == packets {
                        return Some(off as u64);
                    }
                    seen += 1;
                }
                off = off.checked_add(len)?;
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_offsets() {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1];
        f.extend_from_slice(&[0; 20]);
        for caplen in [10u32, 20] {
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&caplen.to_le_bytes());
            f.extend_from_slice(&caplen.to_le_bytes());
            f.extend(std::iter::repeat_n(0, caplen as usize));
        }
        assert_eq!(walk(&f, 0), Some(24));
        assert_eq!(walk(&f, 1), Some(24 + 26));
        assert_eq!(walk(&f, 2), Some(24 + 26 + 36));
        assert_eq!(walk(b"GIF89a", 0), None);
    }
}
