#!/usr/bin/env python3
"""Writes tests/data/asn-test.mmdb: a tiny ASN database in MaxMind format
(GeoLite2-ASN layout: autonomous_system_number, autonomous_system_organization)
for the detectors' organisation tests. Needs `pip install mmdb-writer netaddr`;
the output is committed, so the tests do not.

    python3 tests/data/make-asn-mmdb.py
"""
import os

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPSet

NETS = [
    ("217.12.96.0/23", 15632, "Alfa Bank"),
    ("198.51.100.0/24", 64500, "Example Health"),
    ("2001:db8:100::/40", 64501, "Example v6 Carrier"),
]

w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN", description={"en": "dnswatch test ASN data"})
for net, asn, org in NETS:
    w.insert_network(IPSet([net]), {"autonomous_system_number": MmdbU32(asn),
                                    "autonomous_system_organization": org})
w.to_db_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "asn-test.mmdb"))
