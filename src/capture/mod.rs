//! Inputs: capture files (pcap/pcapng, our own streaming reader, merged
//! by time), live interfaces (libpcap). Every input is a [`Source`] of
//! [`Input`]s (frames, or DNS messages with endpoints for dnstap), which
//! the driver feeds to the pipeline in one loop.

pub mod file;
pub mod input;
pub mod live;
pub mod merge;
pub mod reader;
mod source;

pub use source::{Input, Item, Next, OwnedInput, Source};

use std::path::PathBuf;

use thiserror::Error;

use crate::decode::LinkType;

/// Capture failures. Only [`CaptureError::Damaged`] lets a replay go on
/// with exit status 0 (the damaged tail is reported); every other error
/// makes it fail.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened, or is not a capture.
    #[error("{}: not a readable pcap or pcapng capture: {reason}", path.display())]
    Open {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file ends (or breaks) in the middle of a record: what follows
    /// cannot be trusted.
    #[error("{}: capture damaged at byte offset {offset} after {packets} packets ({lost} bytes not readable): {reason}", path.display())]
    Damaged {
        /// File.
        path: PathBuf,
        /// Byte offset of the first record that could not be read.
        offset: u64,
        /// Packets read before it.
        packets: u64,
        /// Bytes from the offset to the end of the file.
        lost: u64,
        /// What is wrong.
        reason: String,
    },
    /// A well-formed record that cannot be read (a pcapng section of an
    /// unknown version, a timestamp resolution out of range).
    #[error("{}: cannot read the record at byte offset {offset} after {packets} packets: {reason}", path.display())]
    Unsupported {
        /// File.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// Packets read before it.
        packets: u64,
        /// What it is.
        reason: String,
    },
    /// The operating system failed to read the file.
    #[error("{}: read error at byte offset {offset} after {packets} packets: {source}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// Byte offset of the record being read.
        offset: u64,
        /// Packets read before it.
        packets: u64,
        /// The error.
        source: std::io::Error,
    },
    /// An interface could not be opened.
    #[error("cannot capture on {iface}: {reason}")]
    Interface {
        /// Interface.
        iface: String,
        /// libpcap's reason.
        reason: String,
    },
}

/// One captured frame.
#[derive(Debug)]
pub struct RawPacket<'a> {
    /// Packet time, µs since the Unix epoch.
    pub ts_us: i64,
    /// Link type of this packet (a pcapng may mix interfaces of several).
    pub link: LinkType,
    /// Captured bytes.
    pub data: &'a [u8],
}

/// Where frames come from.
pub trait PacketSource {
    /// Name used in provenance (file path or `iface:NAME`).
    fn name(&self) -> &str;
    /// Link type of the frames (of the first interface, for a mixed pcapng;
    /// each [`RawPacket`] carries its own).
    fn link_type(&self) -> LinkType;
    /// The next frame; `Ok(None)` at the end of a file (or on a read timeout
    /// of a live capture).
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;
}

impl CaptureError {
    /// Whether this is damage to the file's tail (reported; a replay goes
    /// on and exits 0), rather than a failure to read.
    pub fn is_damage(&self) -> bool {
        matches!(self, Self::Damaged { .. })
    }
}

/// µs since the epoch from a libpcap timeval.
pub(crate) fn timeval_us(sec: i64, usec: i64) -> i64 {
    sec.saturating_mul(1_000_000).saturating_add(usec)
}
