//! Packet sources: capture files (pcap/pcapng through libpcap) and live
//! interfaces. [`PacketSource`] is the seam a dnstap input slots into.

pub mod file;
pub mod live;

use std::path::PathBuf;

use thiserror::Error;

use crate::decode::LinkType;

/// Capture failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened as a capture.
    #[error("{path}: not a readable pcap or pcapng capture: {reason}")]
    Open {
        /// File.
        path: PathBuf,
        /// libpcap's reason.
        reason: String,
    },
    /// The file ends (or breaks) in the middle of a record.
    #[error("{path}: capture damaged at byte offset {offset} after {packets} packets ({lost} bytes not readable): {reason}")]
    Damaged {
        /// File.
        path: PathBuf,
        /// Byte offset of the first record that could not be read.
        offset: u64,
        /// Packets read before it.
        packets: u64,
        /// Bytes from the offset to the end of the file.
        lost: u64,
        /// libpcap's reason.
        reason: String,
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

/// µs since the epoch from a libpcap timeval.
pub(crate) fn timeval_us(sec: i64, usec: i64) -> i64 {
    sec.saturating_mul(1_000_000).saturating_add(usec)
}
