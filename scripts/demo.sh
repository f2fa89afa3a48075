#!/usr/bin/env bash
# Quick start: build dnswatch (installing libpcap-dev if missing), replay the
# bundled loopback captures with a small watch list into a fresh SQLite
# database, then print the recorded lookups and alerts.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
demo.sh: cargo (Rust) is not installed. dnswatch needs Rust >= 1.85:
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
  . "$HOME/.cargo/env"
then run scripts/demo.sh again (it installs libpcap-dev itself; see README "Install").
MSG
  exit 1
fi
scripts/ensure-deps.sh build
cargo build --release --quiet
out=${DEMO_DIR:-$(mktemp -d)}
db="$out/demo.db"
rm -f "$db" "$db-wal" "$db-shm"
echo "== dnswatch replay (database: $db)"
./target/release/dnswatch replay --db "$db" --alerts "$out/alerts.jsonl" \
  --watch lab.example --watch 192.0.2.29 pcaps/*.pcap
echo
echo "== dnswatch lookups"
./target/release/dnswatch lookups --db "$db"
