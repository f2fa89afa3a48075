//! Capture files through libpcap, with the byte offset of damage found by
//! walking the file's record structure ourselves.

use std::path::{Path, PathBuf};

use pcap::{Capture, Offline};

use super::{timeval_us, CaptureError, PacketSource, RawPacket};
use crate::decode::LinkType;

/// A pcap or pcapng file.
pub struct FileSource {
    cap: Capture<Offline>,
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
        match self.cap.next_packet() {
            Ok(p) => {
                self.packets += 1;
                self.bytes_read += 16 + u64::from(p.header.caplen);
                Ok(Some(RawPacket {
                    ts_us: timeval_us(p.header.ts.tv_sec, p.header.ts.tv_usec),
                    data: p.data,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => {
                let offset = damage_offset(&self.path, self.packets).unwrap_or(self.bytes_read);
                Err(CaptureError::Damaged {
                    path: self.path.clone(),
                    offset,
                    packets: self.packets,
                    lost: self.file_len.saturating_sub(offset),
                    reason: e.to_string(),
                })
            }
        }
    }
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
