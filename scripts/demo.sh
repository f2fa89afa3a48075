#!/usr/bin/env bash
# Quick start: build dnswatch (installing libpcap-dev if missing), replay the
# bundled loopback captures with a small watch list into a fresh SQLite
# database and print the recorded lookups; then replay a generated two-week
# capture shaped like the 2016 case and print its alerts (the name going
# NXDOMAIN, a new name for the watched address) and the report.
# Needs: Rust >= 1.85 (rustup), libpcap-dev, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
demo.sh: cargo (Rust) is not installed. dnswatch needs Rust >= 1.85:
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
  . "$HOME/.cargo/env"
and the libpcap headers (sudo apt-get install libpcap-dev pkg-config),
then run scripts/demo.sh again (it installs libpcap-dev itself; see README "Install").
MSG
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "demo.sh: python3 is needed to write the demo capture (sudo apt-get install python3)" >&2
  exit 1
fi
scripts/ensure-deps.sh build
cargo build --release --quiet
out=${DEMO_DIR:-$(mktemp -d)}
mkdir -p "$out"
db="$out/demo.db"
rm -f "$db" "$db-wal" "$db-shm"
echo "== dnswatch replay (database: $db)"
./target/release/dnswatch replay --db "$db" --alerts "$out/alerts.jsonl" \
  --watch lab.example --watch 192.0.2.29 pcaps/*.pcap
echo
echo "== dnswatch lookups"
./target/release/dnswatch lookups --db "$db"
echo
case="$out/case2016.db"
rm -f "$case" "$case-wal" "$case-shm"
python3 scripts/demo-capture.py "$out/case2016.pcap"
echo "== dnswatch replay of a two-week capture shaped like the 2016 case (database: $case)"
./target/release/dnswatch replay --db "$case" --alerts "$out/case2016-alerts.jsonl" \
  --watch mail1.lab.example --watch 192.0.2.29 "$out/case2016.pcap"
echo
echo "== dnswatch alerts (expect rcode_change: mail1.lab.example now answers NXDOMAIN; new_name: mail.contact-lab.example resolves to 192.0.2.29)"
./target/release/dnswatch alerts --db "$case"
n=$(./target/release/dnswatch alerts --db "$case" --format csv | grep -c -E ',(rcode_change|new_name),' || true)
if [ "$n" -lt 2 ]; then
  echo "demo.sh: expected the rcode_change and new_name alerts, got $n of them" >&2
  exit 1
fi
echo
echo "== dnswatch report mail1.lab.example"
./target/release/dnswatch report mail1.lab.example --db "$case" --svg "$out/case2016.svg" | head -40
echo "(timeline chart: $out/case2016.svg)"
