#!/usr/bin/env bash
# Whole-process replay benchmark, reported as ratios to a raw libpcap read of
# the same file measured in the same run.
#
#   bench/replay.sh [PCAP]      (default bench-data/big.pcap, made on demand by
#                                ../shared/bench/make-dns-pcap.sh, which needs root;
#                                bench/gen-dns-pcap.py writes a synthetic one without)
#   DNSWATCH_BIN=old/dnswatch PCAP_READ=old/pcap_read bench/replay.sh   # another build
#
# Runs, each pinned to one core (taskset -c 0), best of $RUNS:
#   raw        examples/pcap_read: libpcap read of every packet, nothing else
#   replay     dnswatch replay, 1,000 watched names, none matching
#   detect     dnswatch replay, 1,000 watched names, 10 matching, detectors on
#   nodetect   the same with every detector off (detector overhead = detect/nodetect)
#   tshark     tshark -r on small.pcap (first 200k packets), if tshark is installed
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-bench-data/big.pcap}
RUNS=${RUNS:-3}
if [[ ! -f $PCAP ]]; then
  [[ $PCAP == bench-data/big.pcap ]] || { echo "no such capture: $PCAP" >&2; exit 1; }
  bash ../shared/bench/make-dns-pcap.sh bench-data
fi
scripts/ensure-deps.sh build
# DNSWATCH_BIN / PCAP_READ: measure given builds (e.g. before and after a
# change, alternately) instead of building the work tree.
if [[ -z ${DNSWATCH_BIN:-} || -z ${PCAP_READ:-} ]]; then
  cargo build --release --quiet --bin dnswatch --example pcap_read
fi
BIN=${DNSWATCH_BIN:-target/release/dnswatch}
RAW=${PCAP_READ:-target/release/examples/pcap_read}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

# 1,000 names that never match, and the same list with 10 real names of the zone.
for i in $(seq 1 1000); do echo "w$i.example.net"; done > "$W/none.txt"
{ for i in $(seq 1 990); do echo "w$i.example.net"; done; for i in $(seq 1 10); do echo "=h$i.lab.test"; done; } > "$W/ten.txt"
printf '[watch]\nfiles = ["%s"]\n' "$W/none.txt" > "$W/none.toml"
printf '[watch]\nfiles = ["%s"]\n' "$W/ten.txt" > "$W/ten.toml"
{ printf '[watch]\nfiles = ["%s"]\n' "$W/ten.txt"
  for d in new_querier concentration burst quiet rcode_change answer_change new_name periodic; do
    printf '[detectors.%s]\nenabled = false\n' "$d"; done; } > "$W/nodetect.toml"

best() { sort -n | head -1; }
# time_run NAME CMD... -> prints "seconds maxrss_kib" of the best run
time_run() {
  local name=$1; shift
  local t=() m=()
  for _ in $(seq "$RUNS"); do
    rm -f "$W"/b.db*
    /usr/bin/time -f "%e %M" -o "$W/time" taskset -c 0 "$@" > "$W/$name.out" 2>&1
    read -r s k < "$W/time"; t+=("$s"); m+=("$k")
  done
  printf '%s %s\n' "$(printf '%s\n' "${t[@]}" | best)" "$(printf '%s\n' "${m[@]}" | sort -n | tail -1)"
}

packets=$($RAW "$PCAP" | awk '{print $2}')
read -r raw_s raw_m < <(time_run raw $RAW "$PCAP")
read -r rep_s rep_m < <(time_run replay $BIN replay --no-progress --config "$W/none.toml" --db "$W/b.db" "$PCAP")
read -r det_s det_m < <(time_run detect $BIN replay --no-progress --config "$W/ten.toml" --db "$W/b.db" "$PCAP")
read -r nod_s nod_m < <(time_run nodetect $BIN replay --no-progress --config "$W/nodetect.toml" --db "$W/b.db" "$PCAP")
lookups=$(grep -o 'lookups recorded [0-9]*' "$W/detect.out" | awk '{print $3}')

pps() { awk -v p="$packets" -v s="$1" 'BEGIN { printf "%.2f", p / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "capture: $PCAP ($packets packets), one core (taskset -c 0), best of $RUNS"
printf '%-10s %8s %10s %10s %14s\n' run seconds "Mpps" "RSS MiB" "vs raw read"
printf '%-10s %8s %10s %10s %14s\n' raw "$raw_s" "$(pps "$raw_s")" "$((raw_m / 1024))" 1.000
printf '%-10s %8s %10s %10s %14s\n' replay "$rep_s" "$(pps "$rep_s")" "$((rep_m / 1024))" "$(ratio "$raw_s" "$rep_s")"
printf '%-10s %8s %10s %10s %14s\n' detect "$det_s" "$(pps "$det_s")" "$((det_m / 1024))" "$(ratio "$raw_s" "$det_s")"
printf '%-10s %8s %10s %10s %14s\n' nodetect "$nod_s" "$(pps "$nod_s")" "$((nod_m / 1024))" "$(ratio "$raw_s" "$nod_s")"
echo "lookups recorded with 10 matching names: $lookups"
echo "detector overhead (detect / nodetect time): $(ratio "$det_s" "$nod_s")"
SMALL=$(dirname "$PCAP")/small.pcap
if command -v tshark >/dev/null && [[ -f $SMALL ]]; then
  sp=$($RAW "$SMALL" | awk '{print $2}')
  read -r ts_s _ < <(RUNS=1 time_run tshark tshark -n -r "$SMALL")
  read -r sr_s _ < <(time_run small $BIN replay --no-progress --config "$W/none.toml" --db "$W/b.db" "$SMALL")
  echo "tshark on $SMALL ($sp packets): $(awk -v p="$sp" -v s="$ts_s" 'BEGIN { printf "%.3f", p / s / 1e6 }') Mpps; dnswatch replay is $(ratio "$ts_s" "$sr_s")x faster"
fi
