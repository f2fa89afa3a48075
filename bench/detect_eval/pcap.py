"""Classic pcap writer with real DNS wire format over Ethernet/IPv4/IPv6/UDP.

A lookup is one tuple (see ``Ev`` fields below); the writer turns it into a
query packet and, unless unanswered, a response packet ``rtt`` µs later, in
time order across lookups (responses are held in a small heap until the next
query is later). IPv4 header checksums and IPv6 UDP checksums are correct and IPv4 UDP
checksums are 0 ("not computed", RFC 768), so tshark decodes the files
without complaint.
"""
import heapq
import socket
import struct
from array import array

# Lookup tuple field indexes.
TS, QADDR, SPORT, SADDR, QID, QNAME, QTYPE, RCODE, ANSWERS, TTL, RTT, MODE = range(12)
# MODE: 0 = resolver → authoritative (no RD, EDNS DO, AA answers);
#       1 = stub → recursive resolver (RD, RA answers).

T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT, T_AAAA, T_OPT, T_HTTPS = 1, 2, 5, 6, 12, 15, 16, 28, 41, 65
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 65: "HTTPS"}
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5

_MAC_Q = b"\x02\x00\x00\x00\x00\x01"
_MAC_S = b"\x02\x00\x00\x00\x00\x02"
_ETH4_QS = _MAC_S + _MAC_Q + b"\x08\x00"
_ETH4_SQ = _MAC_Q + _MAC_S + b"\x08\x00"
_ETH6_QS = _MAC_S + _MAC_Q + b"\x86\xdd"
_ETH6_SQ = _MAC_Q + _MAC_S + b"\x86\xdd"
_OPT_DO = b"\x00" + struct.pack("!HHIH", T_OPT, 1232, 0x8000, 0)
_OPT_PLAIN = b"\x00" + struct.pack("!HHIH", T_OPT, 1232, 0, 0)

_pack = struct.pack
_name_cache = {}


def wire_name(name):
    """Uncompressed wire encoding of a dotted name (cached)."""
    w = _name_cache.get(name)
    if w is None:
        out = bytearray()
        for label in name.strip(".").split("."):
            if label:
                b = label.encode()
                out.append(len(b))
                out += b
        out.append(0)
        w = bytes(out)
        _name_cache[name] = w
    return w


def ip4(s):
    return socket.inet_pton(socket.AF_INET, s)


def ip6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def ip(s):
    return ip6(s) if ":" in s else ip4(s)


def ip_str(b):
    return socket.inet_ntop(socket.AF_INET6 if len(b) == 16 else socket.AF_INET, b)


def ptr_name(addr):
    """in-addr.arpa / ip6.arpa owner name of a packed address."""
    if len(addr) == 4:
        return ".".join(str(x) for x in reversed(addr)) + ".in-addr.arpa"
    nib = addr.hex()
    return ".".join(reversed(nib)) + ".ip6.arpa"


def rr_a(addr):
    return (T_A, addr) if len(addr) == 4 else (T_AAAA, addr)


def rr_mx(pref, host):
    return (T_MX, _pack("!H", pref) + wire_name(host))


def rr_txt(text):
    b = text.encode()
    out = bytearray()
    for i in range(0, len(b), 255):
        chunk = b[i:i + 255]
        out.append(len(chunk))
        out += chunk
    return (T_TXT, bytes(out))


def rr_name(rtype, host):
    return (rtype, wire_name(host))


def soa_rdata(zone, minimum=300):
    return wire_name("ns1." + zone) + wire_name("hostmaster." + zone) + _pack("!IIIII", 2016050401, 7200, 900, 1209600, minimum)


def _csum(data):
    if len(data) & 1:
        data += b"\0"
    s = sum(array("H", data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF  # in host (little-endian) order: write with "<H"


def _udp_ip(src, dst, sport, dport, payload):
    """Ethernet-less IP+UDP datagram; returns (ethertype_v6, bytes)."""
    ulen = 8 + len(payload)
    if len(src) == 4:
        # UDP over IPv4: checksum 0, "not computed" (RFC 768), as many
        # stacks send it; computing it was a tenth of the benchmark's time.
        udp = _pack("!HHHH", sport, dport, ulen, 0)
        hdr = _pack("!BBHHHBBH", 0x45, 0, 20 + ulen, sport ^ dport, 0x4000, 60, 17, 0) + src + dst
        hdr = hdr[:10] + _pack("<H", _csum(hdr)) + hdr[12:]
        return False, hdr + udp + payload
    pseudo = src + dst + _pack("!IxxxB", ulen, 17)
    udp = _pack("!HHH", sport, dport, ulen)
    c = _csum(pseudo + udp + b"\0\0" + payload) or 0xFFFF
    udp = udp + _pack("<H", c)
    hdr = _pack("!IHBB", 0x60000000, ulen, 17, 60) + src + dst
    return True, hdr + udp + payload


def dns_query(ev):
    mode = ev[MODE]
    qname = wire_name(ev[QNAME])
    if mode == 0:
        return _pack("!HHHHHH", ev[QID], 0x0010, 1, 0, 0, 1) + qname + _pack("!HH", ev[QTYPE], 1) + _OPT_DO
    return _pack("!HHHHHH", ev[QID], 0x0100, 1, 0, 0, 1) + qname + _pack("!HH", ev[QTYPE], 1) + _OPT_PLAIN


def dns_response(ev, soa=None):
    mode = ev[MODE]
    rcode = ev[RCODE]
    qname = wire_name(ev[QNAME])
    answers = ev[ANSWERS] if rcode == NOERROR else ()
    flags = (0x8400 if mode == 0 else 0x8180) | rcode
    ttl = ev[TTL]
    parts = [b"", qname, _pack("!HH", ev[QTYPE], 1)]
    for rtype, rdata in answers:
        parts.append(b"\xc0\x0c" + _pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata)
    ns = 0
    if soa is not None and (rcode == NXDOMAIN or (rcode == NOERROR and not answers)):
        zone_wire, rdata = soa
        parts.append(zone_wire + _pack("!HHIH", T_SOA, 1, 300, len(rdata)) + rdata)
        ns = 1
    parts.append(_OPT_DO if mode == 0 else _OPT_PLAIN)
    parts[0] = _pack("!HHHHHH", ev[QID], flags, 1, len(answers), ns, 1)
    return b"".join(parts)


class PcapWriter:
    """Writes lookups (sorted by query time) as query + response packets."""

    def __init__(self, path, soa_for=None):
        self.f = open(path, "wb", buffering=1 << 20)
        self.f.write(_pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.pending = []
        self.seq = 0
        self.packets = 0
        self.soa_for = soa_for  # qname -> (zone_wire, soa_rdata) or None

    def _write(self, ts, frame):
        self.f.write(_pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)
        self.packets += 1

    def _flush_until(self, ts):
        p = self.pending
        while p and p[0][0] <= ts:
            t, _, frame = heapq.heappop(p)
            self._write(t, frame)

    def add(self, ev):
        ts = ev[TS]
        self._flush_until(ts)
        q, s = ev[QADDR], ev[SADDR]
        v6, ipq = _udp_ip(q, s, ev[SPORT], 53, dns_query(ev))
        self._write(ts, (_ETH6_QS if v6 else _ETH4_QS) + ipq)
        if ev[RCODE] is not None:
            soa = self.soa_for(ev[QNAME]) if self.soa_for else None
            v6, ipr = _udp_ip(s, q, 53, ev[SPORT], dns_response(ev, soa))
            self.seq += 1
            heapq.heappush(self.pending, (ts + ev[RTT], self.seq, (_ETH6_SQ if v6 else _ETH4_SQ) + ipr))

    def close(self):
        self._flush_until(1 << 62)
        self.f.close()
