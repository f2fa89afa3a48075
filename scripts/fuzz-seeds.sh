#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs taken from real captures and
# the shipped configs (see docs/fuzzing.md). Corpora are gitignored.
#
#   scripts/fuzz-seeds.sh            # seeds from ${DNSWATCH_CORPUS:-../shared/pcaps/real} and pcaps/
#   DNSWATCH_CORPUS=/some/dir scripts/fuzz-seeds.sh
#
# Seeds are named by the SHA-1 of their content (as libFuzzer names corpus
# files), so re-running adds nothing twice and keeps what fuzzing found.
#
#   decode_packet   one seed per frame: [link-type index] + frame, where the
#                   index is the frame's position in the target's list
#                   [0, 1, 9, 12, 101, 108, 113, 228, 229, 239, 276]; plus
#                   runs of up to 16 consecutive frames of a capture joined
#                   by the separator "~pkt~" (fragment and TCP state).
#   dns_message     every DNS message found in UDP (any port tshark calls DNS,
#                   mDNS or LLMNR, and 53/5353/5355 by port) and single-
#                   segment DNS-over-TCP messages (length prefix stripped).
#   config_parse    config/*.toml.
#   capture_reader  every capture file (its first 64 KiB), plus synthetic
#                   pcapng files: mixed link types, both byte orders, two
#                   sections, if_tsresol/if_tsoffset, simple and obsolete
#                   packet blocks, an unknown block.
#   dnstap          tests/data/*.dnstap (unbound's Frame Streams output), the
#                   same stream with a READY frame first, and truncated cuts.
#   tcp_reassembly, defrag, dnssec_rdata: structured inputs; the directories are
#                   created empty and the fuzzer grows them.
#
# Needs python3; uses tshark too when installed (more DNS payloads: tunnels,
# reassembled fragments), but works without it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
caps="${DNSWATCH_CORPUS:-$root/../shared/pcaps/real}"
out="$root/fuzz/corpus"

for t in decode_packet dns_message tcp_reassembly defrag config_parse capture_reader dnstap dnssec_rdata; do
    mkdir -p "$out/$t"
done

files=()
if [ -d "$caps" ]; then
    while IFS= read -r f; do files+=("$f"); done < <(find "$caps" -maxdepth 1 -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
else
    echo "fuzz-seeds: no capture directory $caps (set DNSWATCH_CORPUS); using pcaps/ only" >&2
fi
for f in "$root"/pcaps/*.pcap "$root"/pcaps/*.pcapng; do
    [ -f "$f" ] && files+=("$f")
done

tshark_payloads=""
if command -v tshark >/dev/null 2>&1; then
    tshark_payloads="$(mktemp)"
    trap 'rm -f "$tshark_payloads"' EXIT
    for f in "${files[@]}"; do
        # The last udp.payload of a frame is the innermost (tunnels).
        tshark -r "$f" -Y 'udp && (dns || mdns || llmnr)' -T fields -e udp.payload 2>/dev/null \
            | awk -F, 'NF { print $NF }' >>"$tshark_payloads" || true
    done
fi

python3 - "$out" "$tshark_payloads" "${files[@]}" <<'PY'
import hashlib, os, struct, sys

out, tshark_file, files = sys.argv[1], sys.argv[2], sys.argv[3:]
LINK_TYPES = [0, 1, 9, 12, 101, 108, 113, 228, 229, 239, 276]
SEP = b"~pkt~"
RUN = 16            # frames per multi-frame seed
RUN_BYTES = 16384   # and at most this many bytes
DNS_PORTS = {53, 5353, 5355}
counts = {}

def save(target, data):
    d = os.path.join(out, target)
    p = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)
        counts[target] = counts.get(target, 0) + 1

def read_pcap(buf):
    magic = buf[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    link = struct.unpack(e + "I", buf[20:24])[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(buf):
        _, _, incl, _ = struct.unpack(e + "IIII", buf[pos:pos + 16])
        pos += 16
        if pos + incl > len(buf):
            break
        yield link, buf[pos:pos + incl]
        pos += incl

def read_pcapng(buf):
    pos, e, links = 0, "<", []
    while pos + 12 <= len(buf):
        btype = struct.unpack(e + "I", buf[pos:pos + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = buf[pos + 8:pos + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack(e + "I", buf[pos + 4:pos + 8])[0]
        if blen < 12 or pos + blen > len(buf):
            break
        body = buf[pos + 8:pos + blen - 4]
        if btype == 1:  # interface description
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6:  # enhanced packet
            iface, _, _, cap, _ = struct.unpack(e + "IIIII", body[:20])
            if iface < len(links):
                yield links[iface], body[20:20 + cap]
        elif btype == 3:  # simple packet
            if links:
                orig = struct.unpack(e + "I", body[:4])[0]
                yield links[0], body[4:4 + min(orig, len(body) - 4)]
        elif btype == 2:  # obsolete packet block
            iface = struct.unpack(e + "H", body[:2])[0]
            cap = struct.unpack(e + "I", body[12:16])[0]
            if iface < len(links):
                yield links[iface], body[20:20 + cap]
        pos += blen

def packets(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        return list(read_pcapng(buf))
    return list(read_pcap(buf) or [])

# --- a small network-layer walk, enough to find plain UDP/TCP DNS ---------
def network(link, f):
    if link in (0, 108):
        return f[4:]
    if link == 1:
        pos, et = 12, None
        while pos + 2 <= len(f):
            et = struct.unpack(">H", f[pos:pos + 2])[0]
            if et in (0x8100, 0x88A8, 0x9100):
                pos += 4
                continue
            break
        return f[pos + 2:] if et in (0x0800, 0x86DD) else None
    if link in (12, 14, 101, 228, 229):
        return f
    if link == 113:
        return f[16:]
    if link == 276:
        return f[20:]
    if link in (9, 50):
        g = f[2:] if f[:2] == b"\xff\x03" else f
        return g[2:] if g[:2] in (b"\x00\x21", b"\x00\x57") else None
    return None

def transport(ip):
    if not ip:
        return None
    v = ip[0] >> 4
    if v == 4 and len(ip) >= 20:
        ihl = (ip[0] & 15) * 4
        flags_off = struct.unpack(">H", ip[6:8])[0]
        if flags_off & 0x3FFF:
            return None  # fragment
        total = struct.unpack(">H", ip[2:4])[0]
        return ip[9], ip[ihl:total if ihl <= total <= len(ip) else len(ip)]
    if v == 6 and len(ip) >= 40:
        plen = struct.unpack(">H", ip[4:6])[0]
        return ip[6], ip[40:40 + plen if plen else len(ip)]
    return None

def dns_payloads(link, f):
    t = transport(network(link, f))
    if not t:
        return
    proto, seg = t
    if proto == 17 and len(seg) >= 8:
        sp, dp = struct.unpack(">HH", seg[:4])
        if sp in DNS_PORTS or dp in DNS_PORTS:
            yield seg[8:]
    elif proto == 6 and len(seg) >= 20:
        sp, dp = struct.unpack(">HH", seg[:4])
        if sp in DNS_PORTS or dp in DNS_PORTS:
            data = seg[(seg[12] >> 4) * 4:]
            while len(data) >= 2:
                n = struct.unpack(">H", data[:2])[0]
                if n == 0 or n + 2 > len(data):
                    break
                yield data[2:2 + n]
                data = data[2 + n:]

CAPTURE_SEED = 65536  # bytes of each capture file kept as a capture_reader seed

def ng_blocks(le):
    e = "<" if le else ">"
    def blk(t, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(e + "II", t, n) + body + struct.pack(e + "I", n)
    def opt(code, val):
        return struct.pack(e + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)
    shb = blk(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + opt(4, b"seed") + opt(0, b""))
    idb_eth = blk(1, struct.pack(e + "HHI", 1, 0, 65535) + opt(9, b"\x06") + opt(0, b""))
    idb_raw = blk(1, struct.pack(e + "HHI", 101, 0, 0) + opt(9, b"\x89") + opt(14, struct.pack(e + "q", 10)) + opt(0, b""))
    ip = bytes.fromhex("4500001d000100004011000ac0000201c000020204d2003500090000") + b"x"
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
    epb0 = blk(6, struct.pack(e + "IIIII", 0, 0x60000, 1, len(eth), len(eth)) + eth + b"\0" * (-len(eth) % 4) + opt(2, struct.pack(e + "I", 1)) + opt(0, b""))
    epb1 = blk(6, struct.pack(e + "IIIII", 1, 0, 1000, len(ip), len(ip)) + ip)
    spb = blk(3, struct.pack(e + "I", len(eth)) + eth)
    pb = blk(2, struct.pack(e + "HHIIII", 1, 0, 0, 5, len(ip), len(ip)) + ip)
    unknown = blk(0xBAD, b"\x01\x02\x03")
    return shb + idb_eth + idb_raw + unknown + epb0 + epb1 + spb + pb

for le in (True, False):
    save("capture_reader", ng_blocks(le))
    save("capture_reader", ng_blocks(le) + ng_blocks(not le))

for path in files:
    with open(path, "rb") as f:
        save("capture_reader", f.read(CAPTURE_SEED))
    try:
        pkts = packets(path)
    except Exception as e:  # a damaged capture: keep going
        print(f"fuzz-seeds: {path}: {e}", file=sys.stderr)
        continue
    run, run_link = [], None
    def flush_run():
        if len(run) > 1:
            save("decode_packet", bytes([LINK_TYPES.index(run_link)]) + SEP.join(run))
    for link, frame in pkts:
        if link == 14:
            link = 12
        if link == 50:
            link = 9
        if link in LINK_TYPES:
            save("decode_packet", bytes([LINK_TYPES.index(link)]) + frame)
            if link != run_link or len(run) >= RUN or sum(map(len, run)) + len(frame) > RUN_BYTES:
                flush_run()
                run, run_link = [], link
            run.append(frame)
        for p in dns_payloads(link, frame):
            if p:
                save("dns_message", p)
    flush_run()

if tshark_file:
    with open(tshark_file) as f:
        for line in f:
            h = line.strip()
            if h:
                try:
                    save("dns_message", bytes.fromhex(h))
                except ValueError:
                    pass

# dnstap: the Frame Streams files shipped in tests/data (real unbound
# output), the same stream as a socket sends it (READY first), and cuts of it.
import glob, struct as _s
for path in sorted(glob.glob(os.path.join(os.path.dirname(out), "..", "tests", "data", "*.dnstap"))):
    with open(path, "rb") as f:
        buf = f.read()
    save("dnstap", buf)
    ct = b"protobuf:dnstap.Dnstap"
    ready = _s.pack(">III", 0, 12 + len(ct), 4) + _s.pack(">II", 1, len(ct)) + ct
    save("dnstap", ready + buf)
    for cut in (len(buf) // 3, len(buf) // 2, len(buf) - 3):
        save("dnstap", buf[:cut])

for t in sorted(counts):
    print(f"fuzz-seeds: {t}: {counts[t]} new seeds")
PY

for f in "$root"/config/*.toml; do
    [ -f "$f" ] || continue
    cp "$f" "$out/config_parse/$(sha1sum "$f" | cut -d' ' -f1)"
done
for t in decode_packet dns_message tcp_reassembly defrag config_parse capture_reader dnstap; do
    echo "fuzz-seeds: $t: $(find "$out/$t" -type f | wc -l) files in fuzz/corpus/$t"
done
