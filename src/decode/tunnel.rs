//! Tunnels followed to the traffic inside: IP in IP, GRE (with transparent
//! Ethernet bridging and ERSPAN types II and III), VXLAN, GENEVE and Teredo,
//! nested at most [`MAX_TUNNEL_DEPTH`] deep.

use super::{link, Decoder, Emit, ErrorKind, GENEVE_PORT, TEREDO_PORT, VXLAN_PORT};

/// Tunnels nested deeper than this are counted as [`ErrorKind::TunnelTooDeep`].
const MAX_TUNNEL_DEPTH: u8 = 4;

impl Decoder {
    /// Decodes the IP packet inside a tunnel.
    pub(super) fn tunnel_ip(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        if depth >= MAX_TUNNEL_DEPTH {
            self.stats.error(ErrorKind::TunnelTooDeep);
            return;
        }
        self.stats.tunnelled += 1;
        self.ip(data, depth + 1, emit);
    }

    /// Decodes the Ethernet frame inside a tunnel.
    fn tunnel_ethernet(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
        match link::ethernet(data) {
            Ok(link::Network::Ip(ip)) => self.tunnel_ip(ip, depth, emit),
            Ok(link::Network::Other) => self.stats.non_ip += 1,
            Err(_) => self.stats.error(ErrorKind::TunnelMalformed),
        }
    }

    /// A UDP datagram on no DNS port: follows the tunnel on its port
    /// (VXLAN, GENEVE, Teredo), else counts it as not DNS.
    pub(super) fn udp_tunnel(
        &mut self,
        sport: u16,
        dport: u16,
        payload: &[u8],
        depth: u8,
        emit: &mut Emit<'_>,
    ) {
        if dport == VXLAN_PORT {
            // 8-byte VXLAN header, then Ethernet.
            match payload.get(8..) {
                Some(inner) if payload[0] & 0x08 != 0 => self.tunnel_ethernet(inner, depth, emit),
                _ => self.stats.error(ErrorKind::TunnelMalformed),
            }
        } else if dport == GENEVE_PORT {
            self.geneve(payload, depth, emit);
        } else if sport == TEREDO_PORT || dport == TEREDO_PORT {
            self.teredo(payload, depth, emit);
        } else {
            self.stats.non_dns += 1;
        }
    }

    /// GENEVE: an 8-byte header and its options, then Ethernet or IP.
    fn geneve(&mut self, payload: &[u8], depth: u8, emit: &mut Emit<'_>) {
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
    }

    /// Teredo: IPv6 in UDP behind optional authentication and origin indicators.
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

    /// GRE: IP, Ethernet or ERSPAN inside.
    pub(super) fn gre(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
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
}
