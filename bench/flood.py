#!/usr/bin/env python3
"""Flood captures for the bounded-memory runs (bench/flood.sh).

usage: flood.py KIND OUT.pcap [N]

KIND is one of
  subdomain-watched    N queries+NXDOMAIN answers for unique random names under watched.example
  subdomain-unwatched  the same under other.example (not watched)
  queriers             N distinct querier addresses each looking up canary.watched.example once
  fragments            N first fragments of IPv4 datagrams that never complete
  tcp                  N TCP streams (SYN + a partial DNS message) that never finish
  unanswered           N queries for unique watched names that never get an answer

Every 10,000th packet slot also carries a canary lookup (query and answer) of
canary.watched.example by 198.51.100.1, so the run can check that watched
lookups are still recorded during the flood. Timestamps advance 10 µs per
packet. Deterministic (fixed seed).
"""
import random
import struct
import sys

T0 = 1_700_000_000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, frag, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def eth(ip):
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip


def name(n):
    out = b""
    for label in n.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns(ident, qname, response=False, rcode=0, answer=None):
    flags = 0x8180 | rcode if response else 0x0100
    an = 1 if answer else 0
    m = struct.pack("!HHHHHH", ident, flags, 1, an, 0, 0) + name(qname) + struct.pack("!HH", 1, 1)
    if answer:
        m += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + answer
    return m


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def addr(i):
    return struct.pack("!I", 0x0A000000 + (i % 0xFFFFFF) + 1)


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t = 0

    def pkt(self, data):
        self.t += 10
        s, us = divmod(self.t, 1_000_000)
        self.f.write(struct.pack("<IIII", T0 + s, us, len(data), len(data)) + data)

    def close(self):
        self.f.close()


SERVER = bytes([192, 0, 2, 53])
CANARY = bytes([198, 51, 100, 1])
WATCHED_ADDR = bytes([192, 0, 2, 29])


def canary(w, i):
    q = dns(i & 0xFFFF, "canary.watched.example")
    r = dns(i & 0xFFFF, "canary.watched.example", True, 0, WATCHED_ADDR)
    w.pkt(eth(ipv4(CANARY, SERVER, 17, udp(40000, 53, q))))
    w.pkt(eth(ipv4(SERVER, CANARY, 17, udp(53, 40000, r))))


def main():
    kind, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    rnd = random.Random(20161027)
    w = Writer(out)
    for i in range(n):
        if i % 10_000 == 0:
            canary(w, i)
        src = addr(i % 5000)
        sport = 1024 + i % 60000
        ident = i & 0xFFFF
        if kind in ("subdomain-watched", "subdomain-unwatched", "unanswered"):
            zone = "other.example" if kind == "subdomain-unwatched" else "watched.example"
            qn = "%016x.%s" % (rnd.getrandbits(64), zone)
            w.pkt(eth(ipv4(src, SERVER, 17, udp(sport, 53, dns(ident, qn)))))
            if kind != "unanswered":
                w.pkt(eth(ipv4(SERVER, src, 17, udp(53, sport, dns(ident, qn, True, 3)))))
        elif kind == "queriers":
            src = addr(i)
            w.pkt(eth(ipv4(src, SERVER, 17, udp(sport, 53, dns(ident, "canary.watched.example")))))
            w.pkt(eth(ipv4(SERVER, src, 17, udp(53, sport, dns(ident, "canary.watched.example", True, 0, WATCHED_ADDR)))))
        elif kind == "fragments":
            # First fragment (MF set, offset 0) of a UDP/53 datagram that never completes.
            payload = (udp(sport, 53, dns(ident, "frag.watched.example") + b"\0" * 1400) + b"\0" * 80)[:1480]
            w.pkt(eth(ipv4(src, SERVER, 17, payload, ident=i, frag=0x2000)))
        elif kind == "tcp":
            sport = 1024 + i % 64000
            src = addr(i)
            syn = struct.pack("!HHIIBBHHH", sport, 53, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
            w.pkt(eth(ipv4(src, SERVER, 6, syn)))
            # Announces a 2,000-byte message and sends 600 bytes of it.
            data = struct.pack("!H", 2000) + b"\x07" * 600
            seg = struct.pack("!HHIIBBHHH", sport, 53, 1001, 0, 5 << 4, 0x18, 65535, 0, 0) + data
            w.pkt(eth(ipv4(src, SERVER, 6, seg)))
        else:
            sys.exit("unknown kind " + kind)
    w.close()


if __name__ == "__main__":
    main()
