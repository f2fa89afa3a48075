"""Detection benchmark for dnswatch: realistic DNS traffic with injected
anomalies written as real pcap files, replayed through the CLI and scored
against ground truth (issue 8, "Proof")."""
