#!/usr/bin/env bash
# What the ClickHouse server itself takes of dnswatch's rows on this
# machine (issue 12's goal: >= 500 k lookups/s with the server on the same
# two cores). The client's decode and detectors are taken out of the
# measurement: a replay with the server down fills the spool, then the
# server starts and a run with nothing to decode sends the spool. The time
# from that run's start to the last insert confirmed is the server's
# ingest time (plus the shipper reading spool files and POSTing them).
#
#   DNS_PORT=15353 bench/clickhouse-drain.sh bench-data/big.pcap
#
# BIN: the dnswatch binary (default: builds release). Starts its own server
# in a temp dir (scripts/clickhouse-server.sh). Not a timed test.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-bench-data/big.pcap}
dns_port=${DNS_PORT:-53}
if [[ -n ${BIN:-} ]]; then bin=$BIN; else cargo build --release -q; bin=target/release/dnswatch; fi
work=$(mktemp -d /tmp/dnswatch-bench-drain.XXXXXX)
cleanup() { scripts/clickhouse-server.sh stop "$work/ch" >/dev/null 2>&1 || true; [[ -n ${KEEP:-} ]] || rm -rf "$work"; }
trap cleanup EXIT
read -ra p <<<"$(scripts/clickhouse-server.sh free-ports 3)"
url="http://127.0.0.1:${p[0]}/"
db="drain_$(date +%s)"
printf '[storage.clickhouse]\ndatabase = "%s"\nspool_dir = "%s"\nspool_max_mb = 100000\ndrain_timeout_s = %s\n' \
  "$db" "$work/spool" 1 >"$work/fill.toml"
sed 's/^drain_timeout_s = .*/drain_timeout_s = 3600/' "$work/fill.toml" >"$work/drain.toml"
# 1. Server down: every batch stays in the spool (the replay says it could not drain).
"$bin" replay --no-progress --port "$dns_port" --watch . --no-db --config "$work/fill.toml" \
  --clickhouse "$url" --sensor drain "$capture" >"$work/fill.out" 2>"$work/fill.err" || true
spool_bytes=$(du -sb "$work/spool" | cut -f1)
# 2. Server up; a run with an empty capture sends the spool, oldest first.
scripts/clickhouse-server.sh start "$work/ch" "${p[0]}" "${p[1]}" "${p[2]}" >/dev/null
srv_pid=$(cat "$work/ch/pid")
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,1))' >"$work/empty.pcap"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
s0=$(ticks "$srv_pid")
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$work/client.time" "$bin" replay --no-progress --no-db --config "$work/drain.toml" \
  --watch . --clickhouse "$url" --sensor drain "$work/empty.pcap" >"$work/drain.out" 2>"$work/drain.err"
t1=$(date +%s.%N)
s1=$(ticks "$srv_pid")
q() { curl -sf "$url" --data-binary "$1"; }
rows=$(q "SELECT sum(rows) FROM system.parts WHERE active AND database = '$db'")
in_lookups=$(q "SELECT count() FROM $db.lookups")
read -r cu cs <"$work/client.time"
hz=$(getconf CLK_TCK)
awk -v t0="$t0" -v t1="$t1" -v n="$in_lookups" -v got="$in_lookups" -v rows="$rows" -v sb="$spool_bytes" \
  -v srv=$(( s1 - s0 )) -v hz="$hz" -v cu="$cu" -v cs="$cs" 'BEGIN {
  w = t1 - t0
  printf "lookups spooled %d (%.0f bytes/lookup in the spool), in ClickHouse %d, rows in all tables %d (%.2f per lookup)\n", n, sb / n, got, rows, rows / got
  printf "drain: %.2f s wall: %.0f lookups/s, %.0f rows/s\n", w, got / w, rows / w
  printf "server CPU %.2f s (%.0f lookups per server CPU-second), shipper process CPU %.2f s\n", srv / hz, got / (srv / hz), cu + cs
}'
