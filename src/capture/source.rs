//! What every input hands the driver: frames or already-decoded DNS
//! messages, with their packet time, from one of several sub-sources.

use std::net::SocketAddr;

use crate::decode::{LinkType, Transport};

/// One unit of input.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A link-layer frame (files, interfaces).
    Frame {
        /// Its link type.
        link: LinkType,
        /// The captured bytes.
        data: &'a [u8],
    },
    /// A DNS message already taken off its transport (dnstap).
    Message {
        /// Sender.
        src: SocketAddr,
        /// Receiver.
        dst: SocketAddr,
        /// Transport it travelled on.
        transport: Transport,
        /// The DNS message.
        payload: &'a [u8],
    },
}

/// An input with where and when it was seen.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// Index of the sub-source (file, interface, dnstap peer) within the
    /// [`Source`], announced earlier by [`Next::Begin`].
    pub source: usize,
    /// Packet time, µs since the Unix epoch: the only clock downstream.
    pub ts_us: i64,
    /// Number of the frame or message within its sub-source (provenance).
    pub frame: u64,
    /// The input.
    pub input: Input<'a>,
}

/// What a source has next.
#[derive(Debug)]
pub enum Next<'a> {
    /// A sub-source starts (a file, an interface, a dnstap peer that
    /// connected): announced once, before its first item.
    Begin {
        /// Its index in [`Item::source`].
        index: usize,
        /// Name used in provenance (`file`, `iface:NAME`, `dnstap:PEER`).
        name: String,
        /// Its own sensor name (a dnstap identity); `None` means the
        /// configured sensor.
        sensor: Option<String>,
    },
    /// An input.
    Item(Item<'a>),
    /// Nothing right now (a live source's read timeout): the driver does its
    /// periodic work and asks again.
    Idle,
    /// The input has ended.
    End,
}

/// Inputs in packet-time order from one or more sub-sources. Read errors
/// are the source's own business: it logs or collects them and goes on
/// (or ends); [`crate::capture::merge::Merge`] keeps them for the summary.
pub trait Source {
    /// The next input.
    fn next(&mut self) -> Next<'_>;
}

/// An owned [`Input`], for queues between threads.
#[derive(Clone, Debug)]
pub enum OwnedInput {
    /// See [`Input::Frame`].
    Frame {
        /// Link type.
        link: LinkType,
        /// Bytes.
        data: Vec<u8>,
    },
    /// See [`Input::Message`].
    Message {
        /// Sender.
        src: SocketAddr,
        /// Receiver.
        dst: SocketAddr,
        /// Transport.
        transport: Transport,
        /// DNS message.
        payload: Vec<u8>,
    },
}

impl OwnedInput {
    /// Borrowed view.
    pub fn as_input(&self) -> Input<'_> {
        match self {
            Self::Frame { link, data } => Input::Frame { link: *link, data },
            Self::Message {
                src,
                dst,
                transport,
                payload,
            } => Input::Message {
                src: *src,
                dst: *dst,
                transport: *transport,
                payload,
            },
        }
    }
}
