//! Packet decoding: link layer → IP (with fragment reassembly and tunnels) →
//! UDP / TCP (with stream reassembly) → DNS message payloads.
//!
//! Input: a captured frame with its link type and packet timestamp.
//! Output: zero or more [`Datagram`]s, each one DNS message with its
//! endpoints, handed to a callback. Malformed input is counted by
//! [`ErrorKind`] and skipped; nothing here panics on input.

pub mod defrag;
pub mod link;
pub mod tcp;

use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, LaxIpSlice};

pub use link::LinkType;

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
const MAX_TUNNEL_DEPTH: u8 = 4;

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

fn tcp_datagram(key: tcp::StreamKey, ts: i64, payload: &[u8]) -> Datagram<'_> {
    Datagram {
        ts,
        src: key.0,
        dst: key.1,
        transport: Transport::Tcp,
        payload,
    }
}

/// The parts of an IP packet we use.
struct IpPacket<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    /// (identification, byte offset, more fragments) when fragmented.
    fragment: Option<(u32, usize, bool)>,
    payload: &'a [u8],
}

/// IPv4 through etherparse's lax parser: a total length beyond the captured
/// bytes (a cut packet) or below the header keeps what is there.
fn ipv4(data: &[u8]) -> Option<IpPacket<'_>> {
    let (LaxIpSlice::Ipv4(v4), _) = LaxIpSlice::from_slice(data).ok()? else {
        return None;
    };
    let h = v4.header();
    let payload = v4.payload();
    let fragment = payload.fragmented.then(|| {
        (
            u32::from(h.identification()),
            usize::from(h.fragments_offset().value()) * 8,
            h.more_fragments(),
        )
    });
    Some(IpPacket {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        proto: payload.ip_number.0,
        fragment,
        payload: payload.payload,
    })
}

/// IPv6 with its extension header chain, walked by hand (etherparse 0.19
/// misreads the fragment header's offset and M bits).
fn ipv6(data: &[u8]) -> Option<IpPacket<'_>> {
    let h = data.get(..40)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(&h[8..24]);
    let src = IpAddr::from(a);
    a.copy_from_slice(&h[24..40]);
    let dst = IpAddr::from(a);
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // Payload length 0 (jumbogram) or beyond the capture: use what is there.
    let end = if plen == 0 {
        data.len()
    } else {
        (40 + plen).min(data.len())
    };
    let mut next = h[6];
    let mut pos = 40;
    let mut fragment = None;
    // Bounded: every header consumes at least 8 bytes of a finite packet.
    loop {
        match next {
            0 | 43 | 60 | 135 | 139 | 140 => {
                let e = data.get(pos..pos + 2)?;
                next = e[0];
                pos += (usize::from(e[1]) + 1) * 8;
            }
            51 => {
                let e = data.get(pos..pos + 2)?;
                next = e[0];
                pos += (usize::from(e[1]) + 2) * 4;
            }
            44 => {
                let f = data.get(pos..pos + 8)?;
                next = f[0];
                let off_flags = u16::from_be_bytes([f[2], f[3]]);
                let offset = usize::from(off_flags >> 3) * 8;
                let more = off_flags & 1 == 1;
                pos += 8;
                if offset != 0 || more {
                    fragment = Some((u32::from_be_bytes([f[4], f[5], f[6], f[7]]), offset, more));
                    // Headers after the fragment header belong to the datagram.
                    break;
                }
            }
            _ => break,
        }
        if pos > end {
            return None;
        }
    }
    Some(IpPacket {
        src,
        dst,
        proto: next,
        fragment,
        payload: data.get(pos..end)?,
    })
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

    fn ip(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        let parsed = match data.first().map(|b| b >> 4) {
            Some(6) => ipv6(data),
            _ => ipv4(data),
        };
        let Some(ip) = parsed else {
            self.stats.error(ErrorKind::IpMalformed);
            return;
        };
        if let Some((id, offset, more)) = ip.fragment {
            self.stats.fragments += 1;
            let key = defrag::FragKey {
                src: ip.src,
                dst: ip.dst,
                id,
                proto: ip.proto,
            };
            match self.defrag.add(self.ts, key, offset, more, ip.payload) {
                defrag::Outcome::Pending => {}
                defrag::Outcome::Malformed => self.stats.error(ErrorKind::FragmentMalformed),
                defrag::Outcome::Complete(whole) => {
                    self.stats.reassembled += 1;
                    self.transport(IpNumber(ip.proto), ip.src, ip.dst, &whole, depth, emit);
                }
            }
            return;
        }
        self.transport(IpNumber(ip.proto), ip.src, ip.dst, ip.payload, depth, emit);
    }

    fn tunnel_ip(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        if depth >= MAX_TUNNEL_DEPTH {
            self.stats.error(ErrorKind::TunnelTooDeep);
            return;
        }
        self.stats.tunnelled += 1;
        self.ip(data, depth + 1, emit);
    }

    fn tunnel_ethernet(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        match link::ethernet(data) {
            Ok(link::Network::Ip(ip)) => self.tunnel_ip(ip, depth, emit),
            Ok(link::Network::Other) => self.stats.non_ip += 1,
            Err(_) => self.stats.error(ErrorKind::TunnelMalformed),
        }
    }

    fn transport(
        &mut self,
        proto: IpNumber,
        src: IpAddr,
        dst: IpAddr,
        data: &[u8],
        depth: u8,
        emit: &mut Emit<'_>,
    ) {
        match proto {
            IpNumber::UDP => self.udp(src, dst, data, depth, emit),
            IpNumber::TCP => self.tcp(src, dst, data, emit),
            IpNumber::IPV4 | IpNumber::IPV6 => self.tunnel_ip(data, depth, emit),
            IpNumber::GRE => self.gre(data, depth, emit),
            _ => self.stats.non_dns += 1,
        }
    }

    fn udp(&mut self, src: IpAddr, dst: IpAddr, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        let Some(h) = data.get(..8) else {
            self.stats.error(ErrorKind::UdpMalformed);
            return;
        };
        let sport = u16::from_be_bytes([h[0], h[1]]);
        let dport = u16::from_be_bytes([h[2], h[3]]);
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        // Checksums are not checked (loopback and offloaded captures have wrong
        // ones). A length field beyond the captured data means a cut packet:
        // decode what is there. A length below 8 is invalid: use the data.
        let end = if len >= 8 {
            len.min(data.len())
        } else {
            data.len()
        };
        let payload = &data[8..end];
        if self.is_dns_port(sport) || self.is_dns_port(dport) {
            emit(&Datagram {
                ts: self.ts,
                src: SocketAddr::new(src, sport),
                dst: SocketAddr::new(dst, dport),
                transport: Transport::Udp,
                payload,
            });
            return;
        }
        if dport == VXLAN_PORT {
            // 8-byte VXLAN header, then Ethernet.
            match payload.get(8..) {
                Some(inner) if payload[0] & 0x08 != 0 => self.tunnel_ethernet(inner, depth, emit),
                _ => self.stats.error(ErrorKind::TunnelMalformed),
            }
        } else if dport == GENEVE_PORT {
            let Some(g) = payload.get(..8) else {
                self.stats.error(ErrorKind::TunnelMalformed);
                return;
            };
            let opt_len = usize::from(g[0] & 0x3f) * 4;
            let ethertype = u16::from_be_bytes([g[2], g[3]]);
            match (payload.get(8 + opt_len..), ethertype) {
                (Some(inner), 0x6558) => self.tunnel_ethernet(inner, depth, emit),
                (Some(inner), 0x0800 | 0x86dd) => self.tunnel_ip(inner, depth, emit),
                (Some(_), _) => self.stats.non_dns += 1,
                (None, _) => self.stats.error(ErrorKind::TunnelMalformed),
            }
        } else if sport == TEREDO_PORT || dport == TEREDO_PORT {
            self.teredo(payload, depth, emit);
        } else {
            self.stats.non_dns += 1;
        }
    }

    fn teredo(&mut self, mut data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        // Optional authentication indicator (0x0001) then origin indicator (0x0000).
        if data.starts_with(&[0, 1]) {
            let (Some(&id_len), Some(&au_len)) = (data.get(2), data.get(3)) else {
                self.stats.error(ErrorKind::TunnelMalformed);
                return;
            };
            let skip = 4 + usize::from(id_len) + usize::from(au_len) + 9;
            let Some(rest) = data.get(skip..) else {
                self.stats.error(ErrorKind::TunnelMalformed);
                return;
            };
            data = rest;
        }
        if data.starts_with(&[0, 0]) {
            let Some(rest) = data.get(8..) else {
                self.stats.error(ErrorKind::TunnelMalformed);
                return;
            };
            data = rest;
        }
        if data.first().is_some_and(|b| b >> 4 == 6) && data.len() >= 40 {
            self.tunnel_ip(data, depth, emit);
        } else {
            // Teredo bubbles and other traffic on the port.
            self.stats.non_dns += 1;
        }
    }

    fn gre(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        let Some(h) = data.get(..4) else {
            self.stats.error(ErrorKind::TunnelMalformed);
            return;
        };
        let flags = u16::from_be_bytes([h[0], h[1]]);
        let proto = u16::from_be_bytes([h[2], h[3]]);
        if flags & 0x7 != 0 {
            // Version 1 is PPTP's enhanced GRE: PPP inside, not mirrored traffic.
            self.stats.non_dns += 1;
            return;
        }
        let mut off = 4;
        if flags & 0x8000 != 0 {
            off += 4; // checksum + reserved
        }
        if flags & 0x2000 != 0 {
            off += 4; // key
        }
        let seq_present = flags & 0x1000 != 0;
        if seq_present {
            off += 4;
        }
        let Some(inner) = data.get(off..) else {
            self.stats.error(ErrorKind::TunnelMalformed);
            return;
        };
        match proto {
            0x0800 | 0x86dd => self.tunnel_ip(inner, depth, emit),
            0x6558 => self.tunnel_ethernet(inner, depth, emit),
            // ERSPAN type II has an 8-byte header (type I, without the
            // sequence bit, has none); type III has 12 bytes plus an optional
            // 8-byte platform sub-header flagged by the O bit.
            0x88be => {
                let skip = if seq_present { 8 } else { 0 };
                match inner.get(skip..) {
                    Some(eth) => self.tunnel_ethernet(eth, depth, emit),
                    None => self.stats.error(ErrorKind::TunnelMalformed),
                }
            }
            0x22eb => {
                let Some(&b) = inner.get(11) else {
                    self.stats.error(ErrorKind::TunnelMalformed);
                    return;
                };
                let skip = if b & 1 != 0 { 20 } else { 12 };
                match inner.get(skip..) {
                    Some(eth) => self.tunnel_ethernet(eth, depth, emit),
                    None => self.stats.error(ErrorKind::TunnelMalformed),
                }
            }
            _ => self.stats.non_dns += 1,
        }
    }

    fn tcp(&mut self, src: IpAddr, dst: IpAddr, data: &[u8], emit: &mut Emit<'_>) {
        let Some(h) = data.get(..20) else {
            self.stats.error(ErrorKind::TcpMalformed);
            return;
        };
        let sport = u16::from_be_bytes([h[0], h[1]]);
        let dport = u16::from_be_bytes([h[2], h[3]]);
        if !(self.is_dns_port(sport) || self.is_dns_port(dport)) {
            self.stats.non_dns += 1;
            return;
        }
        let seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let ack_no = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let hlen = usize::from(h[12] >> 4) * 4;
        let Some(payload) = data.get(hlen..).filter(|_| hlen >= 20) else {
            self.stats.error(ErrorKind::TcpMalformed);
            return;
        };
        let f = h[13];
        let flags = tcp::SegFlags {
            fin: f & 0x01 != 0,
            syn: f & 0x02 != 0,
            rst: f & 0x04 != 0,
            ack: f & 0x10 != 0,
        };
        let s = SocketAddr::new(src, sport);
        let d = SocketAddr::new(dst, dport);
        let mut framed =
            |key: tcp::StreamKey, ts: i64, msg: &[u8]| emit(&tcp_datagram(key, ts, msg));
        self.tcp
            .segment(self.ts, (s, d), seq, ack_no, flags, payload, &mut framed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DNS: &[u8] = &[
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
    ];

    fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(payload);
        ip
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn eth(ip: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 12];
        e.extend_from_slice(&[0x08, 0x00]);
        e.extend_from_slice(ip);
        e
    }

    /// The inner DNS query from 10.1.1.1:5353 to 10.2.2.2:53.
    fn inner() -> Vec<u8> {
        ipv4([10, 1, 1, 1], [10, 2, 2, 2], 17, &udp(5353, 53, DNS))
    }

    /// Decodes an outer IPv4 packet; returns the (src, dst) of DNS messages found.
    fn decode(outer: &[u8]) -> (Vec<(SocketAddr, SocketAddr)>, DecodeStats) {
        let mut d = Decoder::new(&DecodeConfig::default());
        let mut out = Vec::new();
        d.packet(0, 1, LinkType::Raw, outer, &mut |g| {
            assert_eq!(g.payload, DNS);
            out.push((g.src, g.dst));
        });
        (out, d.stats.clone())
    }

    fn expect_inner(outer: &[u8]) {
        let (found, stats) = decode(outer);
        assert_eq!(
            found,
            vec![(
                "10.1.1.1:5353".parse().unwrap(),
                "10.2.2.2:53".parse().unwrap()
            )],
            "{stats:?}"
        );
    }

    const OUTER_SRC: [u8; 4] = [192, 0, 2, 1];
    const OUTER_DST: [u8; 4] = [192, 0, 2, 2];

    #[test]
    fn ip_in_ip_and_gre() {
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 4, &inner()));
        // GRE with key and sequence number, IPv4 inside.
        let mut gre = vec![0x30, 0x00, 0x08, 0x00, 0, 0, 0, 7, 0, 0, 0, 1];
        gre.extend(inner());
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 47, &gre));
        // GRE transparent Ethernet bridging.
        let mut teb = vec![0x00, 0x00, 0x65, 0x58];
        teb.extend(eth(&inner()));
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 47, &teb));
    }

    #[test]
    fn erspan_type_2_and_3() {
        let mut e2 = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
        e2.extend_from_slice(&[0x10, 0, 0, 1, 0, 0, 0, 0]);
        e2.extend(eth(&inner()));
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 47, &e2));
        let mut e3 = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
        e3.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        e3.extend(eth(&inner()));
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 47, &e3));
    }

    #[test]
    fn vxlan_and_geneve() {
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend(eth(&inner()));
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 17, &udp(40000, 4789, &vx)));
        // GENEVE with one 8-byte option, Ethernet inside.
        let mut gn = vec![0x02, 0x00, 0x65, 0x58, 0, 0, 1, 0];
        gn.extend_from_slice(&[0, 1, 2, 1, 0, 0, 0, 0]);
        gn.extend(eth(&inner()));
        expect_inner(&ipv4(OUTER_SRC, OUTER_DST, 17, &udp(40000, 6081, &gn)));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut p = inner();
        for _ in 0..10 {
            p = ipv4(OUTER_SRC, OUTER_DST, 4, &p);
        }
        let (found, stats) = decode(&p);
        assert!(found.is_empty());
        assert_eq!(stats.errors[ErrorKind::TunnelTooDeep as usize], 1);
    }

    #[test]
    fn dns_ports_are_configurable() {
        let pkt = ipv4(OUTER_SRC, OUTER_DST, 17, &udp(5000, 5300, DNS));
        assert!(decode(&pkt).0.is_empty());
        let mut d = Decoder::new(&DecodeConfig {
            dns_ports: vec![5300],
            ..DecodeConfig::default()
        });
        let mut n = 0;
        d.packet(0, 1, LinkType::Raw, &pkt, &mut |_| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn ipv6_fragment_header_fields() {
        // IPv6 + fragment header (offset 0, M set), UDP inside; then the last fragment.
        let payload = udp(5353, 53, &[DNS, &[0u8; 13]].concat()); // 8 + 32 = 40 bytes
        let (first, rest) = payload.split_at(24);
        let frag = |off: u16, more: bool, data: &[u8]| {
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            p.extend_from_slice(&[44, 64]);
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            p.extend_from_slice(&[17, 0]);
            p.extend_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 9]);
            p.extend_from_slice(data);
            p
        };
        let mut d = Decoder::new(&DecodeConfig::default());
        let mut got = Vec::new();
        // last fragment first: any order reassembles
        d.packet(0, 1, LinkType::Raw, &frag(3, false, rest), &mut |g| {
            got.push(g.payload.to_vec())
        });
        d.packet(0, 2, LinkType::Raw, &frag(0, true, first), &mut |g| {
            got.push(g.payload.to_vec())
        });
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0][..DNS.len()], DNS);
        assert_eq!(d.stats.reassembled, 1);
    }
}
