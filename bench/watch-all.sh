#!/usr/bin/env bash
# Record-everything benchmark (issue 13): `replay --watch .` side by side
# with a raw libpcap read of the same file, in the same run, each pinned to
# one core; prints packets/s, CPU seconds, peak RSS and bytes per lookup,
# and ratios to the raw read.
#
#   bench/watch-all.sh [PCAP]          (default bench-data/big.pcap)
#   DNS_PORT=15353 RUNS=3 bench/watch-all.sh
#   DNSWATCH_BIN=old/dnswatch bench/watch-all.sh     # another build
#
# Runs (best of $RUNS by CPU time, user + system):
#   raw        examples/pcap_read: libpcap read of every packet, nothing else
#   all        dnswatch replay --watch . into SQLite, detectors on
#   all-nodet  the same with every detector off
#   watched    1,000 watched names, none matching (the watched-names path)
# CPU seconds are the stable figure on a shared machine: wall time also
# counts time the core spent on other processes.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-bench-data/big.pcap}
RUNS=${RUNS:-3}
PORT=${DNS_PORT:-53}
if [[ ! -f $PCAP ]]; then
  [[ $PCAP == bench-data/big.pcap ]] || { echo "no such capture: $PCAP" >&2; exit 1; }
  bash ../shared/bench/make-dns-pcap.sh bench-data
fi
if [[ -z ${DNSWATCH_BIN:-} || -z ${PCAP_READ:-} ]]; then
  nice cargo build --release --quiet --bin dnswatch --example pcap_read
fi
BIN=${DNSWATCH_BIN:-target/release/dnswatch}
RAW=${PCAP_READ:-target/release/examples/pcap_read}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
for i in $(seq 1 1000); do echo "w$i.example.net"; done > "$W/none.txt"
printf '[watch]\nfiles = ["%s"]\n' "$W/none.txt" > "$W/none.toml"
{ for d in new_querier concentration burst quiet rcode_change answer_change new_name periodic; do
    printf '[detectors.%s]\nenabled = false\n' "$d"; done; } > "$W/nodet.toml"

# run NAME CMD... -> "wall cpu maxrss_kib dbbytes" of the run with least CPU
run() {
  local name=$1; shift
  local best=""
  for _ in $(seq "$RUNS"); do
    rm -f "$W"/b.db*
    /usr/bin/time -f "%e %U %S %M" -o "$W/time" taskset -c 0 "$@" > "$W/$name.out" 2>&1
    read -r e u s m < "$W/time"
    local db=0; [[ -f $W/b.db ]] && db=$(du -cb "$W"/b.db* | tail -1 | cut -f1)
    local line; line="$e $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') $m $db"
    if [[ -z $best ]] || awk -v a="${line#* }" -v b="${best#* }" 'BEGIN { exit !(a + 0 < b + 0) }'; then best=$line; fi
  done
  echo "$best"
}

packets=$($RAW "$PCAP" | awk '{print $2}')
read -r raw_e raw_c raw_m _ < <(run raw "$RAW" "$PCAP")
read -r all_e all_c all_m all_d < <(run all "$BIN" replay --no-progress --port "$PORT" --watch . --db "$W/b.db" "$PCAP")
lookups=$(grep -o 'lookups recorded [0-9]*' "$W/all.out" | awk '{print $3}')
read -r nod_e nod_c nod_m nod_d < <(run nodet "$BIN" replay --no-progress --port "$PORT" --watch . --config "$W/nodet.toml" --db "$W/b.db" "$PCAP")
read -r wat_e wat_c wat_m _ < <(run watched "$BIN" replay --no-progress --port "$PORT" --config "$W/none.toml" --db "$W/b.db" "$PCAP")

rate() { awk -v p="$1" -v s="$2" 'BEGIN { printf "%.3f", (s > 0 ? p / s / 1e6 : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }'; }
echo "capture: $PCAP ($packets packets, $lookups lookups with --watch .), one core (taskset -c 0), best of $RUNS by CPU time"
printf '%-10s %8s %8s %10s %10s %8s %9s %12s\n' run wall_s cpu_s "Mpps(cpu)" "Mpps(wall)" "RSS MiB" "B/lookup" "raw/this cpu"
line() { # name wall cpu rss db
  local bpl="-"; [[ $5 != - ]] && bpl=$(awk -v d="$5" -v n="$lookups" 'BEGIN { printf "%.0f", d / n }')
  printf '%-10s %8s %8s %10s %10s %8s %9s %12s\n' "$1" "$2" "$3" "$(rate "$packets" "$3")" "$(rate "$packets" "$2")" "$(($4 / 1024))" "$bpl" "$(ratio "$raw_c" "$3")"
}
line raw "$raw_e" "$raw_c" "$raw_m" -
line all "$all_e" "$all_c" "$all_m" "$all_d"
line all-nodet "$nod_e" "$nod_c" "$nod_m" "$nod_d"
line watched "$wat_e" "$wat_c" "$wat_m" -
echo "lookups/s recorded (all, cpu): $(awk -v n="$lookups" -v s="$all_c" 'BEGIN { printf "%.0f", n / s }')"
echo "detector cost (all / all-nodet cpu): $(ratio "$all_c" "$nod_c")"
