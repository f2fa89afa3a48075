#!/usr/bin/env bash
# What the rrset store costs a replay: whole-process `dnswatch replay` of the
# same capture with storage.pdns = off, watched and all, measured in the same
# run, best of $RUNS, pinned to one core (taskset -c 0); ratios to `off`.
#
#   bench/pdns-replay.sh [PCAP]     (default bench-data/small.pcap, made by
#                                    bench/gen-dns-pcap.py bench-data/small.pcap 100000
#                                    when missing)
#
# Two watch lists: `nothing.invalid` (no lookup recorded: "all" is then the
# whole extra cost of decoding and aggregating every answered response) and
# `.` (every lookup recorded: "watched" and "all" aggregate the same answers).
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-bench-data/small.pcap}
RUNS=${RUNS:-3}
mkdir -p bench-data
[[ -f $PCAP ]] || python3 bench/gen-dns-pcap.py "$PCAP" 100000
if [[ -z ${DNSWATCH_BIN:-} ]]; then
  cargo build --release --quiet --bin dnswatch
fi
BIN=${DNSWATCH_BIN:-target/release/dnswatch}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
best() { # args: command; prints the best wall time in s
  local b=""
  for _ in $(seq "$RUNS"); do
    rm -f "$TMP"/x.db*
    local s e
    s=$(date +%s%N)
    taskset -c 0 "$@" >/dev/null 2>&1
    e=$(date +%s%N)
    local t=$(( (e - s) / 1000000 ))
    if [[ -z $b || $t -lt $b ]]; then b=$t; fi
  done
  awk -v t="$b" 'BEGIN { printf "%.3f", t / 1000 }'
}
echo "capture: $PCAP; best of $RUNS; $BIN"
printf '%-18s %-8s %9s %10s %10s\n' watch pdns seconds "vs off" rrsets
for watch in nothing.invalid .; do
  off=""
  for scope in off watched all; do
    printf '[capture]\ndns_ports = [53, 15353]\n[storage]\npdns = "%s"\n' "$scope" > "$TMP/$scope.toml"
    t=$(best "$BIN" replay --no-progress -c "$TMP/$scope.toml" --db "$TMP/x.db" --watch "$watch" "$PCAP")
    [[ -n $off ]] || off=$t
    n=$(sqlite3 "$TMP/x.db" "SELECT count(*) FROM pdns_rrsets")
    printf '%-18s %-8s %9s %10s %10s\n' "$watch" "$scope" "$t" \
      "$(awk -v a="$t" -v b="$off" 'BEGIN { printf "%.2fx", a / b }')" "$n"
  done
done
