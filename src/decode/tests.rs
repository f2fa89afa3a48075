//! Decoder tests: tunnels, DNS ports and IPv6 fragments, from hand-built packets.

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
