//! The IP layer: IPv4 and IPv6 headers (with the IPv6 extension header
//! chain), and fragments handed to [`super::defrag`] until a datagram is
//! whole. What the IP header carries goes on to [`super::transport`].

use std::net::IpAddr;

use etherparse::{IpNumber, LaxIpSlice};

use super::{defrag, Decoder, Emit, ErrorKind};

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

impl Decoder {
    /// Decodes one IP packet (`depth` tunnels deep).
    pub(super) fn ip(&mut self, data: &[u8], depth: u8, emit: &mut Emit<'_>) {
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
}
