#!/usr/bin/env python3
"""Writes the demo capture of scripts/demo.sh: two weeks of a watched mail
host in the shape of the 2016 case, so the demo shows real alerts.

Twelve days of steady lookups of mail1.lab.example (A 192.0.2.29) by two
resolvers, then the name fails (NXDOMAIN, an rcode_change alert), and four
days later a new name, mail.contact-lab.example, resolves to the same
address (a new_name alert for the watched 192.0.2.29). Deterministic (fixed
seed); real DNS wire format over Ethernet/IPv4/UDP via bench/detect_eval.

Usage: scripts/demo-capture.py OUT.pcap
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from detect_eval import pcap  # noqa: E402

DAY = 86_400_000_000
HOUR = 3_600_000_000
T0 = 1_473_552_000_000_000  # 2016-09-11T00:00:00Z
NAME, NEW_NAME, ADDR = "mail1.lab.example", "mail.contact-lab.example", "192.0.2.29"
RESOLVERS = ["198.51.100.7", "198.51.100.8"]
SERVER = "192.0.2.53"


def lookup(ts, querier, name, rcode, qid):
    answers = ((pcap.T_A, pcap.ip4(ADDR)),) if rcode == pcap.NOERROR else ()
    return (ts, pcap.ip4(querier), 20000 + qid % 40000, pcap.ip4(SERVER), qid & 0xFFFF,
            name, pcap.T_A, rcode, answers, 300, 2000, 0)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rng = random.Random(2016)
    evs = []
    t = T0
    while True:
        t += int(rng.expovariate(20 / DAY))
        if t >= T0 + 12 * DAY:
            break
        evs.append(lookup(t, rng.choice(RESOLVERS), NAME, pcap.NOERROR, len(evs)))
    for i in range(5):
        evs.append(lookup(T0 + 12 * DAY + i * HOUR, RESOLVERS[0], NAME, pcap.NXDOMAIN, len(evs)))
    evs.append(lookup(T0 + 16 * DAY, RESOLVERS[0], NEW_NAME, pcap.NOERROR, len(evs)))
    evs.sort(key=lambda e: e[pcap.TS])
    w = pcap.PcapWriter(sys.argv[1])
    for e in evs:
        w.add(e)
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
