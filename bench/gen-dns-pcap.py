#!/usr/bin/env python3
"""Writes a classic pcap of DNS query/response pairs (Ethernet/IPv4/UDP), like
bench-data/big.pcap from make-dns-pcap.sh (names h1..h660.lab.test and misses),
and optionally the same packets as a pcapng with two interfaces of different
link types (queries on Ethernet, responses on raw IP)."""
import struct, sys

out, n_pairs = sys.argv[1], int(sys.argv[2])
ng_out = sys.argv[3] if len(sys.argv) > 3 else None

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def ip_udp(src, dst, sp, dp, payload):
    udp = struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, bytes(src), bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + udp

def name(i):
    labels = [f"h{i}".encode(), b"lab", b"test"] if i % 10 else [f"miss{i}".encode(), b"lab", b"test"]
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"

ETH = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
cli, srv = [127, 0, 0, 1], [127, 0, 0, 1]
x = 12345
f = open(out, "wb")
f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
g = None
if ng_out:
    g = open(ng_out, "wb")
    def blk(t, body):
        body += b"\0" * (-len(body) % 4)
        L = 12 + len(body)
        return struct.pack("<II", t, L) + body + struct.pack("<I", L)
    g.write(blk(0x0a0d0d0a, struct.pack("<IHHq", 0x1a2b3c4d, 1, 0, -1)))
    g.write(blk(1, struct.pack("<HHI", 1, 0, 65535)))
    g.write(blk(1, struct.pack("<HHI", 101, 0, 65535)))
ts = 1_700_000_000_000_000
buf, gbuf = [], []
for k in range(n_pairs):
    x = (x * 48271) % 2147483647
    i = 1 + x % 700
    qid = x & 0xffff
    sport = 1024 + (x >> 16) % 60000
    qn = name(i)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + qn + struct.pack("!HH", 1, 1) + b"\0\0\x29\x10\0\0\0\0\0\0\0"
    if i % 10:
        r = struct.pack("!HHHHHH", qid, 0x8500, 1, 1, 0, 1) + qn + struct.pack("!HH", 1, 1) + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 3600, 4) + bytes([10, 0, i // 256, i % 256]) + b"\0\0\x29\x10\0\0\0\0\0\0\0"
    else:
        r = struct.pack("!HHHHHH", qid, 0x8503, 1, 0, 0, 1) + qn + struct.pack("!HH", 1, 1) + b"\0\0\x29\x10\0\0\0\0\0\0\0"
    pq = ETH + ip_udp(cli, srv, sport, 53, q)
    rip = ip_udp(srv, cli, 53, sport, r)
    pr = ETH + rip
    for t, p in ((ts, pq), (ts + 90, pr)):
        buf.append(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(p), len(p)) + p)
    if g:
        for iface, t, p in ((0, ts, pq), (1, ts + 90, rip)):
            body = struct.pack("<IIIII", iface, t >> 32, t & 0xffffffff, len(p), len(p)) + p
            gbuf.append(blk(6, body))
    ts += 16
    if len(buf) >= 20000:
        f.write(b"".join(buf)); buf = []
        if g: g.write(b"".join(gbuf)); gbuf = []
f.write(b"".join(buf))
if g: g.write(b"".join(gbuf)); g.close()
f.close()
