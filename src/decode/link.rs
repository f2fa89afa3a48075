//! Link layers: from a captured frame to the network-layer packet inside it.
//!
//! Every parser here works on a borrowed slice and never panics: a frame
//! that is too short or carries something other than IP returns an error
//! kind that the caller counts.

use super::ErrorKind;

/// Link types we decode (the `LINKTYPE_*` values of the pcap format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    Null,
    /// Ethernet II, with any number of 802.1Q / 802.1ad tags.
    Ethernet,
    /// PPP (RFC 1661 protocol field, optionally behind HDLC address/control).
    Ppp,
    /// Raw IP (version taken from the first nibble).
    Raw,
    /// OpenBSD loopback: 4-byte address family in network byte order.
    Loop,
    /// Linux cooked capture v1.
    LinuxSll,
    /// Raw IPv4 only.
    Ipv4,
    /// Raw IPv6 only.
    Ipv6,
    /// Linux netfilter NFLOG.
    Nflog,
    /// Linux cooked capture v2.
    LinuxSll2,
    /// Anything else: counted, never decoded.
    Unsupported(i32),
}

impl LinkType {
    /// Maps a pcap `LINKTYPE_*` / `DLT_*` value.
    pub fn from_pcap(value: i32) -> Self {
        match value {
            0 => Self::Null,
            1 => Self::Ethernet,
            9 | 50 => Self::Ppp,
            // 12 and 14 are the historical DLT_RAW values of BSDs, 101 the LINKTYPE_RAW.
            12 | 14 | 101 => Self::Raw,
            108 => Self::Loop,
            113 => Self::LinuxSll,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            239 => Self::Nflog,
            276 => Self::LinuxSll2,
            other => Self::Unsupported(other),
        }
    }

    /// The `DLT_*` value libpcap compiles filters for (the inverse of
    /// [`Self::from_pcap`]; raw IP is Linux's `DLT_RAW`, 12).
    pub fn to_pcap(self) -> i32 {
        match self {
            Self::Null => 0,
            Self::Ethernet => 1,
            Self::Ppp => 9,
            Self::Raw => 12,
            Self::Loop => 108,
            Self::LinuxSll => 113,
            Self::Ipv4 => 228,
            Self::Ipv6 => 229,
            Self::Nflog => 239,
            Self::LinuxSll2 => 276,
            Self::Unsupported(v) => v,
        }
    }
}

/// A network-layer packet found inside a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Network<'a> {
    /// An IPv4 or IPv6 packet (version decided by the IP parser).
    Ip(&'a [u8]),
    /// Something that is not IP (ARP, LLDP, ...): not an error, just not ours.
    Other,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_PPPOE_SESSION: u16 = 0x8864;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn ethertype_payload(ethertype: u16, payload: &[u8]) -> Result<Network<'_>, ErrorKind> {
    match ethertype {
        ETH_IPV4 | ETH_IPV6 => Ok(Network::Ip(payload)),
        ETH_PPPOE_SESSION => {
            // PPPoE session header (6 bytes) followed by a PPP protocol field.
            let rest = payload.get(6..).ok_or(ErrorKind::LinkTruncated)?;
            ppp_payload(rest)
        }
        _ => Ok(Network::Other),
    }
}

/// Ethernet II with VLAN tags (802.1Q, 802.1ad QinQ and the old 0x9100).
pub fn ethernet(data: &[u8]) -> Result<Network<'_>, ErrorKind> {
    let mut ethertype = be16(data, 12).ok_or(ErrorKind::LinkTruncated)?;
    let mut offset = 14;
    // Bounded: each tag consumes 4 bytes of a finite frame.
    while matches!(ethertype, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
        ethertype = be16(data, offset + 2).ok_or(ErrorKind::LinkTruncated)?;
        offset += 4;
    }
    if ethertype < 0x0600 {
        // 802.3 length field: LLC/SNAP frames never carry our IP traffic.
        return Ok(Network::Other);
    }
    ethertype_payload(
        ethertype,
        data.get(offset..).ok_or(ErrorKind::LinkTruncated)?,
    )
}

fn ppp_payload(data: &[u8]) -> Result<Network<'_>, ErrorKind> {
    let mut data = data;
    if data.starts_with(&[0xff, 0x03]) {
        data = &data[2..];
    }
    // The protocol field may be compressed to one byte (odd first byte).
    let (proto, rest) = match data.first() {
        Some(b) if b & 1 == 1 => (u16::from(*b), &data[1..]),
        Some(_) => (be16(data, 0).ok_or(ErrorKind::LinkTruncated)?, &data[2..]),
        None => return Err(ErrorKind::LinkTruncated),
    };
    match proto {
        0x0021 | 0x0057 => Ok(Network::Ip(rest)),
        _ => Ok(Network::Other),
    }
}

fn address_family(af: u32, data: &[u8]) -> Network<'_> {
    // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD),
    // 28 (FreeBSD) or 30 (macOS).
    match af {
        2 | 10 | 24 | 28 | 30 => Network::Ip(data),
        _ => Network::Other,
    }
}

fn nflog(data: &[u8]) -> Result<Network<'_>, ErrorKind> {
    // 4-byte header (family, version, resource id), then TLVs whose length
    // and type are in host byte order (little-endian on every capture we know
    // of) and padded to 4 bytes. Type 9 (NFULA_PAYLOAD) carries the packet.
    let mut offset = 4;
    if data.len() < offset {
        return Err(ErrorKind::LinkTruncated);
    }
    while offset + 4 <= data.len() {
        let len = usize::from(u16::from_le_bytes([data[offset], data[offset + 1]]));
        let kind = u16::from_le_bytes([data[offset + 2], data[offset + 3]]) & 0x7fff;
        if len < 4 {
            return Err(ErrorKind::LinkMalformed);
        }
        let end = offset.checked_add(len).ok_or(ErrorKind::LinkMalformed)?;
        let value = data.get(offset + 4..end).ok_or(ErrorKind::LinkTruncated)?;
        if kind == 9 {
            return Ok(Network::Ip(value));
        }
        offset = end.div_ceil(4) * 4;
    }
    Ok(Network::Other)
}

/// Strips the link layer of a frame.
pub fn network(link: LinkType, data: &[u8]) -> Result<Network<'_>, ErrorKind> {
    match link {
        LinkType::Ethernet => ethernet(data),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Ok(Network::Ip(data)),
        LinkType::Null => {
            let b = data.get(..4).ok_or(ErrorKind::LinkTruncated)?;
            let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            // The value is small, so whichever reading is below 256 is right.
            let af = if le < 256 { le } else { be };
            Ok(address_family(af, &data[4..]))
        }
        LinkType::Loop => {
            let b = data.get(..4).ok_or(ErrorKind::LinkTruncated)?;
            let af = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            Ok(address_family(af, &data[4..]))
        }
        LinkType::LinuxSll => {
            let proto = be16(data, 14).ok_or(ErrorKind::LinkTruncated)?;
            ethertype_payload(proto, data.get(16..).ok_or(ErrorKind::LinkTruncated)?)
        }
        LinkType::LinuxSll2 => {
            let proto = be16(data, 0).ok_or(ErrorKind::LinkTruncated)?;
            ethertype_payload(proto, data.get(20..).ok_or(ErrorKind::LinkTruncated)?)
        }
        LinkType::Ppp => ppp_payload(data),
        LinkType::Nflog => nflog(data),
        LinkType::Unsupported(_) => Err(ErrorKind::LinkUnsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &[u8] = &[0x45, 0, 0, 20];

    #[test]
    fn ethernet_plain_and_tagged() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(IP);
        assert_eq!(ethernet(&f), Ok(Network::Ip(IP)));

        let mut q = vec![0u8; 12];
        q.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x86, 0xdd]);
        q.extend_from_slice(IP);
        assert_eq!(ethernet(&q), Ok(Network::Ip(IP)));

        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 1, 2]);
        assert_eq!(ethernet(&arp), Ok(Network::Other));
        assert_eq!(ethernet(&q[..15]), Err(ErrorKind::LinkTruncated));
        assert_eq!(ethernet(&[0; 13]), Err(ErrorKind::LinkTruncated));
    }

    #[test]
    fn null_both_byte_orders_and_loop() {
        let le = [&[2u8, 0, 0, 0][..], IP].concat();
        let be = [&[0u8, 0, 0, 2][..], IP].concat();
        let v6 = [&[0u8, 0, 0, 30][..], IP].concat();
        assert_eq!(network(LinkType::Null, &le), Ok(Network::Ip(IP)));
        assert_eq!(network(LinkType::Null, &be), Ok(Network::Ip(IP)));
        assert_eq!(network(LinkType::Null, &v6), Ok(Network::Ip(IP)));
        assert_eq!(network(LinkType::Loop, &be), Ok(Network::Ip(IP)));
        assert_eq!(network(LinkType::Loop, &le), Ok(Network::Other));
        assert_eq!(network(LinkType::Null, &[2]), Err(ErrorKind::LinkTruncated));
    }

    #[test]
    fn linux_cooked_v1_v2() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(IP);
        assert_eq!(network(LinkType::LinuxSll, &sll), Ok(Network::Ip(IP)));
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(IP);
        assert_eq!(network(LinkType::LinuxSll2, &sll2), Ok(Network::Ip(IP)));
        assert_eq!(
            network(LinkType::LinuxSll2, &sll2[..10]),
            Err(ErrorKind::LinkTruncated)
        );
    }

    #[test]
    fn raw_types_and_ppp() {
        for lt in [12, 14, 101, 228, 229] {
            assert_eq!(network(LinkType::from_pcap(lt), IP), Ok(Network::Ip(IP)));
        }
        let ppp = [&[0xffu8, 0x03, 0x00, 0x21][..], IP].concat();
        assert_eq!(network(LinkType::Ppp, &ppp), Ok(Network::Ip(IP)));
        let compressed = [&[0x21u8][..], IP].concat();
        assert_eq!(network(LinkType::Ppp, &compressed), Ok(Network::Ip(IP)));
        assert_eq!(network(LinkType::Ppp, &[0xc0, 0x21, 1]), Ok(Network::Other));
    }

    #[test]
    fn nflog_payload_tlv() {
        // header, a 5-byte TLV (padded to 8), then the payload TLV.
        let mut f = vec![2u8, 0, 0, 0];
        f.extend_from_slice(&[5, 0, 1, 0, 0xaa, 0, 0, 0]);
        f.extend_from_slice(&[8, 0, 9, 0]);
        f.extend_from_slice(IP);
        assert_eq!(network(LinkType::Nflog, &f), Ok(Network::Ip(IP)));
        let bad = [2u8, 0, 0, 0, 2, 0, 9, 0];
        assert_eq!(
            network(LinkType::Nflog, &bad),
            Err(ErrorKind::LinkMalformed)
        );
        let cut = [2u8, 0, 0, 0, 40, 0, 9, 0, 1];
        assert_eq!(
            network(LinkType::Nflog, &cut),
            Err(ErrorKind::LinkTruncated)
        );
    }

    #[test]
    fn unsupported_is_an_error_kind_not_a_panic() {
        assert_eq!(
            network(LinkType::from_pcap(147), IP),
            Err(ErrorKind::LinkUnsupported)
        );
    }
}
