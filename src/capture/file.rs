//! Capture files, read by our own streaming reader ([`super::reader`]):
//! constant memory whatever the file size, the byte offset of every record
//! known as it is read, and per-interface link types in a pcapng.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::reader::{CaptureReader, OpenError, ReadError};
use super::{CaptureError, PacketSource, RawPacket};
use crate::decode::LinkType;

/// Read buffer of a capture file (see [`FileSource::open_with_buffer`]).
pub const BUFFER: usize = 256 << 10;

/// A pcap or pcapng file (or any stream of one).
pub struct FileSource {
    reader: CaptureReader<Box<dyn BufRead + Send>>,
    path: PathBuf,
    name: String,
    packets: u64,
    /// Bytes consumed so far.
    pub bytes_read: u64,
    /// File size (0 for a stream that is not a regular file).
    pub file_len: u64,
    /// Whether [`Self::current`] holds a packet.
    has_current: bool,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("packets", &self.packets)
            .finish()
    }
}

impl FileSource {
    /// Opens a capture file. Any path the operating system accepts works,
    /// UTF-8 or not (the name shown replaces invalid bytes with U+FFFD).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        Self::open_with_buffer(path, BUFFER)
    }

    /// Like [`Self::open`] with a read buffer of `buffer` bytes (a replay of
    /// many files at once gives each a smaller one).
    pub fn open_with_buffer(path: &Path, buffer: usize) -> Result<Self, CaptureError> {
        let open_err = |reason: String| CaptureError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| open_err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| open_err(e.to_string()))?;
        if meta.is_dir() {
            return Err(open_err("is a directory".into()));
        }
        let file_len = if meta.is_file() { meta.len() } else { 0 };
        let reader: Box<dyn BufRead + Send> =
            Box::new(BufReader::with_capacity(buffer.max(4096), file));
        let mut src = Self::from_reader(path, reader)?;
        src.file_len = file_len;
        Ok(src)
    }

    /// A capture read from any buffered stream; `path` names it in messages.
    pub fn from_reader(path: &Path, reader: Box<dyn BufRead + Send>) -> Result<Self, CaptureError> {
        let reader = CaptureReader::open(reader).map_err(|e| CaptureError::Open {
            path: path.to_path_buf(),
            reason: match e {
                OpenError::NotCapture(r) => r,
                OpenError::Io(e) => format!("read error: {e}"),
            },
        })?;
        Ok(Self {
            bytes_read: reader.position(),
            reader,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            packets: 0,
            file_len: 0,
            has_current: false,
        })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next packet, kept for [`Self::current`]; `Ok(false)` at the end.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        self.has_current = false;
        let r = self.reader.advance();
        self.bytes_read = self.reader.position();
        match r {
            Ok(true) => {
                self.packets += 1;
                self.has_current = true;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    /// The packet read by the last successful [`Self::advance`].
    pub fn current(&self) -> Option<RawPacket<'_>> {
        if !self.has_current {
            return None;
        }
        let p = self.reader.packet();
        Some(RawPacket {
            ts_us: p.ts_us,
            link: p.link,
            data: p.data,
        })
    }

    fn error(&self, e: ReadError) -> CaptureError {
        let path = self.path.clone();
        let packets = self.packets;
        match e {
            ReadError::Damaged { offset, reason } => CaptureError::Damaged {
                path,
                offset,
                packets,
                lost: self.file_len.saturating_sub(offset),
                reason,
            },
            ReadError::Unsupported { offset, reason } => CaptureError::Unsupported {
                path,
                offset,
                packets,
                reason,
            },
            // A decompressor (gzip, zstd) meeting the end of a cut stream:
            // damage to the tail, as a cut plain capture is.
            ReadError::Io { offset, source }
                if source.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                CaptureError::Damaged {
                    path,
                    offset,
                    packets,
                    lost: self.file_len.saturating_sub(offset),
                    reason: format!("compressed stream cut short: {source}"),
                }
            }
            ReadError::Io { offset, source } => CaptureError::Read {
                path,
                offset,
                packets,
                source,
            },
        }
    }
}

impl PacketSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn link_type(&self) -> LinkType {
        self.reader.link_type()
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.advance()? {
            Ok(self.current())
        } else {
            Ok(None)
        }
    }
}
