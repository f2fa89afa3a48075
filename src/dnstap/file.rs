//! A dnstap file (Frame Streams, as `fstrm_capture`, `dnstap -w` or a
//! resolver's file output write it) as a source of `replay`: one decoded
//! dnstap message at a time, with its time for merging with other files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::frame::{FileError, FileReader, Malformed, DEFAULT_MAX_FRAME};
use super::proto::Dnstap;
use super::{count_frame, map, PeerStats};
use crate::capture::CaptureError;

/// A dnstap file being read.
pub struct DnstapFile {
    reader: FileReader<std::io::BufReader<std::fs::File>>,
    path: PathBuf,
    name: String,
    current: Option<(i64, Dnstap)>,
    /// Its counters.
    pub peer: Arc<PeerStats>,
    /// File size.
    pub file_len: u64,
    /// Frames that did not decode (skipped).
    pub decode_errors: u64,
}

impl std::fmt::Debug for DnstapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnstapFile")
            .field("path", &self.path)
            .finish()
    }
}

impl DnstapFile {
    /// Opens a file already recognised by [`super::is_dnstap_file`].
    pub fn open(path: &Path, peer: Arc<PeerStats>) -> Result<Self, CaptureError> {
        let reader = FileReader::open(path, DEFAULT_MAX_FRAME).map_err(|e| CaptureError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let file_len = std::fs::metadata(path).map_or(0, |m| m.len());
        Ok(Self {
            reader,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            current: None,
            peer,
            file_len,
            decode_errors: 0,
        })
    }

    /// Name in provenance and messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes read.
    pub fn bytes_read(&self) -> u64 {
        self.reader.offset()
    }

    /// Frames read.
    pub fn frames(&self) -> u64 {
        self.reader.frames
    }

    /// Reads up to the next dnstap message that decodes (the others are
    /// counted and skipped); `Ok(false)` at the end of the file.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        self.current = None;
        loop {
            let payload = match self.reader.next_payload() {
                Ok(Some(p)) => Bytes::copy_from_slice(p),
                Ok(None) => return Ok(false),
                Err(e) => return Err(self.error(e)),
            };
            count_frame(&self.peer, payload.len());
            match map::decode(payload) {
                Ok(d) => {
                    let ts = time_of(&d);
                    self.current = Some((ts, d));
                    return Ok(true);
                }
                Err(e) => {
                    self.decode_errors += 1;
                    PeerStats::add(&self.peer.decode_errors, 1);
                    tracing::debug!("{}: frame {}: {e}", self.name, self.reader.frames);
                }
            }
        }
    }

    /// Time of the current message (µs; `i64::MIN` when it has none).
    pub fn current_ts(&self) -> Option<i64> {
        self.current.as_ref().map(|c| c.0)
    }

    /// Takes the current message.
    pub fn take(&mut self) -> Option<Dnstap> {
        self.current.take().map(|c| c.1)
    }

    fn error(&self, e: FileError) -> CaptureError {
        let path = self.path.clone();
        let packets = self.reader.frames;
        match e {
            FileError::Io { offset, source, .. } => CaptureError::Read {
                path,
                offset,
                packets,
                source,
            },
            FileError::Frame(f) => CaptureError::Damaged {
                lost: self.file_len.saturating_sub(f.offset),
                offset: f.offset,
                packets,
                reason: match f.kind {
                    Malformed::Truncated { .. } => format!("dnstap file cut short: {}", f.kind),
                    k => format!("dnstap: {k}"),
                },
                path,
            },
        }
    }
}

/// Earliest time a dnstap message carries (µs).
pub fn time_of(d: &Dnstap) -> i64 {
    let Some(m) = &d.message else {
        return i64::MIN;
    };
    let t = |s: Option<u64>, n: Option<u32>| {
        let s = i64::try_from(s?).ok()?;
        s.checked_mul(1_000_000)?
            .checked_add(i64::from(n.unwrap_or(0).min(999_999_999) / 1000))
    };
    match (
        t(m.query_time_sec, m.query_time_nsec),
        t(m.response_time_sec, m.response_time_nsec),
    ) {
        (Some(q), Some(r)) => q.min(r),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => i64::MIN,
    }
}
