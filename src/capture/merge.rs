//! Capture files merged by packet time: the source of `replay`.
//!
//! Every file's first packet decides its rank (first packet time, then file
//! name); packets are then merged by time across files, ties by rank, so the
//! order of the arguments changes nothing. A file that cannot be read to its
//! end stops contributing; why is kept for the summary.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;

use super::file::FileSource;
use super::input::PacketFilter;
use super::source::{Input, Item, Next, Source};
use super::{CaptureError, PacketSource};
use crate::dnstap::file::DnstapFile;

/// A file to merge: a pcap/pcapng capture or a dnstap (Frame Streams) file.
#[derive(Debug)]
pub enum MergeFile {
    /// pcap or pcapng.
    Pcap(FileSource),
    /// dnstap; its messages come from sub-sources of their own (one per
    /// identity), announced when first seen.
    Dnstap(Box<DnstapFile>),
}

impl From<FileSource> for MergeFile {
    fn from(f: FileSource) -> Self {
        Self::Pcap(f)
    }
}

impl MergeFile {
    fn name(&self) -> &str {
        match self {
            Self::Pcap(s) => s.name(),
            Self::Dnstap(s) => s.name(),
        }
    }

    /// Moves to the next packet (one `filter` passes, for a capture).
    #[inline]
    fn advance(&mut self, filter: &mut Option<PacketFilter>) -> Result<bool, CaptureError> {
        match self {
            Self::Pcap(s) => {
                let Some(f) = filter.as_mut() else {
                    return s.advance();
                };
                loop {
                    if !s.advance()? {
                        return Ok(false);
                    }
                    match s.current() {
                        Some(p) if !f.pass(p.link, p.data) => {}
                        _ => return Ok(true),
                    }
                }
            }
            Self::Dnstap(s) => s.advance().map_err(|e| dnstap_error(s, e)),
        }
    }

    fn current_ts(&self) -> Option<i64> {
        match self {
            Self::Pcap(s) => s.current().map(|p| p.ts_us),
            Self::Dnstap(s) => s.current_ts(),
        }
    }

    fn file_len(&self) -> u64 {
        match self {
            Self::Pcap(s) => s.file_len,
            Self::Dnstap(s) => s.file_len,
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            Self::Pcap(s) => s.bytes_read,
            Self::Dnstap(s) => s.bytes_read(),
        }
    }
}

/// A file that could not be read to its end.
#[derive(Debug)]
pub struct Damage {
    /// What happened, naming file and offset.
    pub message: String,
    /// Bytes not readable.
    pub lost: u64,
}

/// A dnstap file's read error as a capture error: a malformed or cut
/// stream is damage (the run goes on, the summary reports it).
fn dnstap_error(f: &DnstapFile, e: crate::dnstap::frame::FileError) -> CaptureError {
    use crate::dnstap::frame::{FileError, Malformed};
    let path = f.path().to_path_buf();
    let packets = f.frames_read();
    match e {
        FileError::Io { offset, source, .. } => CaptureError::Read {
            path,
            offset,
            packets,
            source,
        },
        FileError::Frame(fe) => CaptureError::Damaged {
            lost: f.file_len.saturating_sub(fe.offset),
            offset: fe.offset,
            packets,
            reason: match fe.kind {
                Malformed::Truncated { .. } => format!("dnstap file cut short: {}", fe.kind),
                k => format!("dnstap: {k}"),
            },
            path,
        },
    }
}

/// A dnstap message as an input of the driver.
pub fn dnstap_item(m: &crate::dnstap::Message) -> Item<'_> {
    Item {
        source: m.source,
        ts_us: m.ts_us,
        frame: m.frame,
        input: Input::Message {
            src: m.src,
            dst: m.dst,
            transport: m.transport,
            payload: &m.payload,
        },
    }
}

/// A capture being merged.
#[derive(Debug)]
struct Member {
    src: MergeFile,
    /// Time of its first packet.
    first: Option<i64>,
    /// Earliest and latest packet times read.
    min: i64,
    max: i64,
}

/// Several capture files as one time-ordered [`Source`].
#[derive(Debug)]
pub struct Merge {
    files: Vec<Member>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    /// The file whose current packet was handed out last (advanced on the
    /// next call).
    pending: Option<usize>,
    /// Files announced so far.
    announced: usize,
    damaged: Vec<Damage>,
    failed: Vec<String>,
    /// BPF filter of the capture files' packets (not of dnstap messages).
    filter: Option<PacketFilter>,
}

impl Merge {
    /// Merges `sources` (already opened); reads each one's first packet.
    pub fn new<F: Into<MergeFile>>(sources: Vec<F>) -> Self {
        Self::with_filter(sources, None)
    }

    /// Like [`Self::new`], keeping only the capture packets `filter` passes.
    pub fn with_filter<F: Into<MergeFile>>(sources: Vec<F>, filter: Option<PacketFilter>) -> Self {
        let mut m = Self {
            filter,
            files: Vec::with_capacity(sources.len()),
            heap: BinaryHeap::with_capacity(sources.len()),
            pending: None,
            announced: 0,
            damaged: Vec::new(),
            failed: Vec::new(),
        };
        for src in sources {
            let mut src: MergeFile = src.into();
            let first = match src.advance(&mut m.filter) {
                Ok(true) => src.current_ts(),
                Ok(false) => None,
                Err(e) => {
                    m.report(e);
                    None
                }
            };
            m.files.push(Member {
                src,
                min: first.unwrap_or(i64::MAX),
                max: first.unwrap_or(i64::MIN),
                first,
            });
        }
        m.files.sort_by(|a, b| {
            (a.first.is_none(), a.first, a.src.name()).cmp(&(
                b.first.is_none(),
                b.first,
                b.src.name(),
            ))
        });
        for (rank, f) in m.files.iter().enumerate() {
            if let Some(ts) = f.first {
                m.heap.push(Reverse((ts, rank)));
            }
        }
        m
    }

    fn report(&mut self, e: CaptureError) {
        if let CaptureError::Damaged { lost, .. } = &e {
            tracing::warn!("{e}");
            self.damaged.push(Damage {
                message: e.to_string(),
                lost: *lost,
            });
        } else {
            tracing::error!("{e}");
            self.failed.push(e.to_string());
        }
    }

    /// Moves the file handed out last to its next packet.
    #[inline]
    fn advance_pending(&mut self) {
        let Some(rank) = self.pending.take() else {
            return;
        };
        if self.heap.len() == 1 {
            // The heap only shrinks, so a lone file stays alone: its time
            // orders nothing and the heap is left as it is (the common
            // one-file replay pays no heap work per packet).
            match self.files[rank].src.advance(&mut self.filter) {
                Ok(true) => {}
                Ok(false) => {
                    self.heap.clear();
                }
                Err(e) => {
                    self.heap.clear();
                    self.report(e);
                }
            }
            return;
        }
        let Some(mut top) = self.heap.peek_mut() else {
            return;
        };
        debug_assert_eq!(top.0 .1, rank);
        let f = &mut self.files[rank];
        match f.src.advance(&mut self.filter) {
            Ok(true) => {
                top.0 .0 = f.src.current_ts().unwrap_or(i64::MAX);
            }
            Ok(false) => {
                PeekMut::pop(top);
            }
            Err(e) => {
                PeekMut::pop(top);
                self.report(e);
            }
        }
    }

    /// Capture packets the BPF filter rejected.
    pub fn filtered(&self) -> u64 {
        self.filter.as_ref().map_or(0, |f| f.rejected)
    }

    /// Files that ended early in damage (the run still succeeds).
    pub fn damaged(&self) -> &[Damage] {
        &self.damaged
    }

    /// Files that could not be read (the run fails).
    pub fn failed(&self) -> &[String] {
        &self.failed
    }

    /// Bytes of all files (for a progress bar; 0 for pipes).
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.src.file_len()).sum()
    }

    /// Bytes read so far over all files (for a progress bar).
    pub fn bytes_read(&self) -> u64 {
        self.files.iter().map(|f| f.src.bytes_read()).sum()
    }

    /// Warnings for files whose time spans overlap (their packets were
    /// interleaved), at most [`MAX_OVERLAPS`] and a count of the rest.
    pub fn overlaps(&self) -> Vec<String> {
        let mut spans: Vec<(i64, i64, &str)> = self
            .files
            .iter()
            .filter(|f| f.min <= f.max)
            .map(|f| (f.min, f.max, f.src.name()))
            .collect();
        spans.sort();
        let mut out = Vec::new();
        let mut more = 0usize;
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if b.0 > a.1 {
                    break;
                }
                let (from, to) = (b.0, a.1.min(b.1));
                if out.len() < MAX_OVERLAPS {
                    out.push(format!(
                        "{} and {} overlap in time from {} to {}: their packets were merged by time",
                        a.2,
                        b.2,
                        crate::time::rfc3339(from),
                        crate::time::rfc3339(to)
                    ));
                } else {
                    more += 1;
                }
            }
        }
        if more > 0 {
            out.push(format!("and {more} more overlapping pairs of files"));
        }
        out
    }
}

/// At most this many overlap warnings are listed.
pub const MAX_OVERLAPS: usize = 20;

impl Source for Merge {
    #[inline]
    fn next(&mut self) -> Next<'_> {
        if let Some(f) = self.files.get(self.announced) {
            self.announced += 1;
            return Next::Begin {
                index: self.announced - 1,
                name: f.src.name().to_string(),
                sensor: None,
            };
        }
        self.advance_pending();
        let Some(Reverse((_, rank))) = self.heap.peek().copied() else {
            return Next::End;
        };
        let f = &mut self.files[rank];
        let src = match &mut f.src {
            MergeFile::Pcap(src) => src,
            MergeFile::Dnstap(d) => {
                // A new identity is announced before its first message
                // (the same message is handed out on the next call).
                if let Some(b) = d.take_begin() {
                    return Next::Begin {
                        index: b.index,
                        name: b.name,
                        sensor: b.sensor,
                    };
                }
                self.pending = Some(rank);
                return match d.current() {
                    Some(m) => {
                        f.min = f.min.min(m.ts_us);
                        f.max = f.max.max(m.ts_us);
                        Next::Item(dnstap_item(m))
                    }
                    None => Next::Idle,
                };
            }
        };
        self.pending = Some(rank);
        let frame = src.packets();
        match src.current() {
            Some(p) => {
                f.min = f.min.min(p.ts_us);
                f.max = f.max.max(p.ts_us);
                Next::Item(Item {
                    source: rank,
                    ts_us: p.ts_us,
                    frame,
                    input: Input::Frame {
                        link: p.link,
                        data: p.data,
                    },
                })
            }
            // A file in the heap always has a current packet; if not, it
            // is advanced (and dropped) on the next call.
            None => Next::Idle,
        }
    }
}
