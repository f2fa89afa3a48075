//! Packet decoding: link layer → IP (with fragment reassembly and tunnels) →
//! UDP / TCP (with stream reassembly) → DNS message payloads.
//!
//! Input: a captured frame with its link type and packet timestamp.
//! Output: zero or more [`Datagram`]s, each one DNS message with its
//! endpoints, handed to a callback. Malformed input is counted by
//! [`ErrorKind`] and skipped; nothing here panics on input.

pub mod defrag;
mod ip;
pub mod link;
pub mod tcp;
#[cfg(test)]
mod tests;
mod transport;
mod tunnel;

use std::net::SocketAddr;

pub use link::LinkType;
use transport::tcp_datagram;

/// Kinds of undecodable input, each counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum ErrorKind {
    /// A link type we do not decode.
    LinkUnsupported,
    /// Frame shorter than its link header.
    LinkTruncated,
    /// Link header inconsistent.
    LinkMalformed,
    /// IP header unusable.
    IpMalformed,
    /// Fragment that cannot belong to any datagram.
    FragmentMalformed,
    /// UDP header unusable.
    UdpMalformed,
    /// TCP header unusable.
    TcpMalformed,
    /// Tunnel header unusable.
    TunnelMalformed,
    /// Tunnels nested deeper than we follow.
    TunnelTooDeep,
    /// DNS message shorter than its header.
    DnsShortHeader,
    /// DNS question undecodable (bad name, loop, cut short).
    DnsBadQuestion,
    /// DNS records after the question undecodable (the lookup is kept).
    DnsBadRecords,
}

impl ErrorKind {
    /// Number of kinds.
    pub const COUNT: usize = 12;
    /// All kinds in order.
    pub const ALL: [ErrorKind; Self::COUNT] = [
        Self::LinkUnsupported,
        Self::LinkTruncated,
        Self::LinkMalformed,
        Self::IpMalformed,
        Self::FragmentMalformed,
        Self::UdpMalformed,
        Self::TcpMalformed,
        Self::TunnelMalformed,
        Self::TunnelTooDeep,
        Self::DnsShortHeader,
        Self::DnsBadQuestion,
        Self::DnsBadRecords,
    ];

    /// Stable snake_case name (metrics label, summary, database column value).
    pub fn name(self) -> &'static str {
        match self {
            Self::LinkUnsupported => "link_unsupported",
            Self::LinkTruncated => "link_truncated",
            Self::LinkMalformed => "link_malformed",
            Self::IpMalformed => "ip_malformed",
            Self::FragmentMalformed => "fragment_malformed",
            Self::UdpMalformed => "udp_malformed",
            Self::TcpMalformed => "tcp_malformed",
            Self::TunnelMalformed => "tunnel_malformed",
            Self::TunnelTooDeep => "tunnel_too_deep",
            Self::DnsShortHeader => "dns_short_header",
            Self::DnsBadQuestion => "dns_bad_question",
            Self::DnsBadRecords => "dns_bad_records",
        }
    }
}

/// Transport of a DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP (length-prefixed messages).
    Tcp,
    /// DNS over TLS (seen only through dnstap).
    Dot,
    /// DNS over HTTPS (seen only through dnstap).
    Doh,
    /// DNS over QUIC (seen only through dnstap).
    Doq,
}

impl Transport {
    /// `udp`, `tcp`, `dot`, `doh` or `doq`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Dot => "dot",
            Self::Doh => "doh",
            Self::Doq => "doq",
        }
    }
}

/// One DNS message found in the traffic.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// Packet timestamp (µs since the Unix epoch) of the frame that completed it.
    pub ts: i64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The DNS message.
    pub payload: &'a [u8],
}

/// Decoder settings.
#[derive(Clone, Debug)]
pub struct DecodeConfig {
    /// Ports that carry DNS (either end).
    pub dns_ports: Vec<u16>,
    /// Cap on buffered fragment bytes.
    pub fragment_memory: usize,
    /// Fragment reassembly timeout (µs of packet time).
    pub fragment_timeout_us: i64,
    /// Cap on TCP streams with state.
    pub tcp_max_streams: usize,
    /// Cap on bytes buffered by TCP reassembly over all streams.
    pub tcp_memory: usize,
    /// TCP idle timeout (µs of packet time).
    pub tcp_timeout_us: i64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            dns_ports: vec![53],
            fragment_memory: 16 << 20,
            fragment_timeout_us: 30_000_000,
            tcp_max_streams: 10_000,
            tcp_memory: 64 << 20,
            tcp_timeout_us: 60_000_000,
        }
    }
}

/// UDP port of VXLAN (RFC 7348), decoded as a tunnel.
pub const VXLAN_PORT: u16 = 4789;
/// UDP port of GENEVE (RFC 8926), decoded as a tunnel.
pub const GENEVE_PORT: u16 = 6081;
/// UDP port of Teredo (RFC 4380), decoded as a tunnel.
pub const TEREDO_PORT: u16 = 3544;
/// Counters of what the decoder saw.
#[derive(Clone, Debug, Default)]
pub struct DecodeStats {
    /// Frames in.
    pub packets: u64,
    /// Frames that carried no IP (ARP, ...).
    pub non_ip: u64,
    /// IP packets that were not DNS on a watched port.
    pub non_dns: u64,
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Packets found inside tunnels.
    pub tunnelled: u64,
    /// Errors by kind.
    pub errors: [u64; ErrorKind::COUNT],
}

impl DecodeStats {
    /// Counts one error.
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }
    /// Total errors of all kinds.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Stateful packet decoder (fragments and TCP streams live here).
#[derive(Debug)]
pub struct Decoder {
    ports: Box<[u64; 1024]>,
    /// Fragment reassembly state.
    pub defrag: defrag::Defragmenter,
    /// TCP reassembly state.
    pub tcp: tcp::Reassembler,
    /// Counters.
    pub stats: DecodeStats,
    ts: i64,
    frame: u64,
}

/// Callback for decoded DNS messages.
pub type Emit<'e> = dyn FnMut(&Datagram<'_>) + 'e;

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(cfg: &DecodeConfig) -> Self {
        let mut ports = Box::new([0u64; 1024]);
        for &p in &cfg.dns_ports {
            ports[usize::from(p) / 64] |= 1 << (p % 64);
        }
        Self {
            ports,
            defrag: defrag::Defragmenter::new(cfg.fragment_memory, cfg.fragment_timeout_us),
            tcp: tcp::Reassembler::with_memory(
                cfg.tcp_max_streams,
                cfg.tcp_memory,
                cfg.tcp_timeout_us,
            ),
            stats: DecodeStats::default(),
            ts: 0,
            frame: 0,
        }
    }

    /// Replaces the DNS ports (SIGHUP); streams and fragments in flight
    /// are kept.
    pub fn set_dns_ports(&mut self, dns_ports: &[u16]) {
        let mut ports = Box::new([0u64; 1024]);
        for &p in dns_ports {
            ports[usize::from(p) / 64] |= 1 << (p % 64);
        }
        self.ports = ports;
    }

    fn is_dns_port(&self, p: u16) -> bool {
        self.ports[usize::from(p) / 64] & (1 << (p % 64)) != 0
    }

    /// Frame number of the packet being decoded (1-based within its source).
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Decodes one frame.
    pub fn packet(
        &mut self,
        ts: i64,
        frame: u64,
        link: LinkType,
        data: &[u8],
        emit: &mut Emit<'_>,
    ) {
        self.stats.packets += 1;
        self.ts = ts;
        self.frame = frame;
        match link::network(link, data) {
            Ok(link::Network::Ip(ip)) => self.ip(ip, 0, emit),
            Ok(link::Network::Other) => self.stats.non_ip += 1,
            Err(kind) => self.stats.error(kind),
        }
    }

    /// End of input: hand out what TCP reassembly still holds.
    pub fn flush(&mut self, emit: &mut Emit<'_>) {
        self.tcp
            .flush(&mut |key, ts, msg| emit(&tcp_datagram(key, ts, msg)));
    }
}
