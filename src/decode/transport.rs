//! The transport layer: what the IP header says comes next (UDP, TCP, or a
//! tunnel), UDP datagrams on a DNS port, and TCP segments handed to
//! [`super::tcp`] reassembly, which frames the length-prefixed messages.

use std::net::{IpAddr, SocketAddr};

use etherparse::IpNumber;

use super::{tcp, Datagram, Decoder, Emit, ErrorKind, Transport};

/// A DNS message framed by TCP reassembly.
pub(super) fn tcp_datagram(key: tcp::StreamKey, ts: i64, payload: &[u8]) -> Datagram<'_> {
    Datagram {
        ts,
        src: key.0,
        dst: key.1,
        transport: Transport::Tcp,
        payload,
    }
}

impl Decoder {
    /// Dispatches the payload of an IP packet on its protocol number.
    pub(super) fn transport(
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

    /// UDP: DNS on a DNS port, else perhaps a tunnel.
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
        self.udp_tunnel(sport, dport, payload, depth, emit);
    }

    /// TCP: segments on a DNS port go to stream reassembly.
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
