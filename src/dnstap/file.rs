//! A dnstap file (Frame Streams, as `fstrm_capture`, `dnstap -w` or a
//! resolver's file output write it) as a source of `replay`: one decoded
//! dnstap message at a time, with its time for merging with other files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::frame::{FileError, FileReader, DEFAULT_MAX_FRAME};
use super::{count_frame, Begin, Expander, Message, PeerStats};

/// A dnstap file being read: one DNS message at a time, in file order.
pub struct DnstapFile {
    reader: FileReader<Box<dyn std::io::Read + Send>>,
    path: PathBuf,
    name: String,
    expander: Expander,
    current: Option<Message>,
    /// Its counters.
    pub peer: Arc<PeerStats>,
    /// File size.
    pub file_len: u64,
}

impl std::fmt::Debug for DnstapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnstapFile")
            .field("path", &self.path)
            .finish()
    }
}

impl DnstapFile {
    /// Opens a file already recognised by [`super::is_dnstap_file`]; its
    /// messages are expanded by `expander`.
    pub fn open(path: &Path, peer: Arc<PeerStats>, expander: Expander) -> Result<Self, FileError> {
        let f = std::fs::File::open(path).map_err(|source| FileError::Io {
            path: path.display().to_string(),
            offset: 0,
            source,
        })?;
        let file_len = f.metadata().map_or(0, |m| m.len());
        let reader = Box::new(std::io::BufReader::with_capacity(1 << 16, f));
        Ok(Self::from_reader(path, reader, file_len, peer, expander))
    }

    /// A dnstap stream read from `reader` (stdin, a decompressed file);
    /// `path` names it, `file_len` sizes it for a progress bar (0: unknown).
    pub fn from_reader(
        path: &Path,
        reader: Box<dyn std::io::Read + Send>,
        file_len: u64,
        peer: Arc<PeerStats>,
        expander: Expander,
    ) -> Self {
        Self {
            reader: FileReader::new(reader, &path.display().to_string(), DEFAULT_MAX_FRAME),
            path: path.to_path_buf(),
            name: path.display().to_string(),
            expander,
            current: None,
            peer,
            file_len,
        }
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

    /// Frames that did not decode (counted and skipped).
    pub fn decode_errors(&self) -> u64 {
        self.expander.errors
    }

    /// Moves to the next DNS message (reading frames as needed; frames that
    /// give none are counted and skipped); `Ok(false)` at the end.
    pub fn advance(&mut self) -> Result<bool, FileError> {
        self.current = None;
        loop {
            if let Some(m) = self.expander.pop() {
                self.current = Some(m);
                return Ok(true);
            }
            let payload = match self.reader.next_payload() {
                Ok(Some(p)) => Bytes::copy_from_slice(p),
                Ok(None) => return Ok(false),
                Err(e) => return Err(e),
            };
            count_frame(&self.peer, payload.len());
            self.expander.load_frame(&self.peer, payload);
        }
    }

    /// A sub-source to announce before [`Self::current`] is handed out.
    pub fn take_begin(&mut self) -> Option<Begin> {
        self.expander.take_begin()
    }

    /// The current message.
    pub fn current(&self) -> Option<&Message> {
        self.current.as_ref()
    }

    /// Time of the current message.
    pub fn current_ts(&self) -> Option<i64> {
        self.current.as_ref().map(|m| m.ts_us)
    }
}

impl DnstapFile {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames read before the current position.
    pub fn frames_read(&self) -> u64 {
        self.reader.frames
    }
}
