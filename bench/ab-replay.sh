#!/usr/bin/env bash
# Interleaved A/B of two dnswatch builds on the "replay" case of
# bench/replay.sh (1,000 watched names, none matching), with a raw libpcap
# read of the file after each pair, all pinned to core 0. Alternating the
# builds run by run keeps a busy machine from favouring either.
#
#   N=15 bench/ab-replay.sh CAPTURE OLD/dnswatch NEW/dnswatch [PCAP_READ]
#
# Prints one line per run: "A seconds" (old), "B seconds" (new), "R seconds"
# (raw read); compare the best (or median) of each.
set -euo pipefail
PCAP=$1; A=$2; B=$3; RAW=${4:-target/release/examples/pcap_read}; N=${N:-15}
W=$(mktemp -d)
for i in $(seq 1 1000); do echo "w$i.example.net"; done > "$W/none.txt"
printf '[watch]\nfiles = ["%s"]\n' "$W/none.txt" > "$W/none.toml"
TIMEFORMAT=%R
for i in $(seq "$N"); do
  for x in A B; do
    bin=$A; [[ $x == B ]] && bin=$B
    rm -f "$W"/b.db*
    t=$( { time taskset -c 0 "$bin" replay --no-progress --config "$W/none.toml" --db "$W/b.db" "$PCAP" >/dev/null 2>&1; } 2>&1 )
    echo "$x $t"
  done
  rm -f "$W"/b.db*
  t=$( { time taskset -c 0 "$RAW" "$PCAP" >/dev/null 2>&1; } 2>&1 ); echo "R $t"
done
rm -rf "$W"
