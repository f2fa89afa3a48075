#!/usr/bin/env bash
# Side by side with passivedns (issue 13): the same capture read by
#   raw        examples/pcap_read, a libpcap read of every packet and nothing else
#   passivedns gamelinux/passivedns built from source, JSON log, every RR type
#              it knows (-X 46CDNPRSTMn), in-memory dedup as it ships
#   pdns-only  dnswatch replay watching one name that never occurs, with
#              storage.pdns = "all":
#              the rrset table, passivedns's job
#   watch-all  dnswatch replay --watch . into SQLite, detectors on: every
#              lookup recorded, plus the rrset table
# each pinned to one core, best of $RUNS by CPU time (user + system), with
# ratios to passivedns measured in the same run.
#
#   PASSIVEDNS_SRC=/path/to/passivedns bench/passivedns.sh [PCAP]
#   PASSIVEDNS=/path/to/built/passivedns bench/passivedns.sh bench-data/syn.pcap
#   DNS_PORT=15353 ... (the port the capture's DNS runs on; default 53)
#
# passivedns is not packaged by Debian: clone https://github.com/gamelinux/passivedns
# and point PASSIVEDNS_SRC at it; this script builds it in a temp dir
# (needs autoconf automake libtool libldns-dev libjansson-dev libpcap-dev).
# passivedns decides client and server per flow from the first packet it
# sees, and logs only what it decoded: its own counters are printed so a
# run where it skipped most messages is not mistaken for a fast one.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-bench-data/syn.pcap}
RUNS=${RUNS:-3}
PORT=${DNS_PORT:-53}
[[ -f $PCAP ]] || { echo "no such capture: $PCAP (python3 bench/gen-dns-pcap.py $PCAP 1000000 makes one)" >&2; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
PD=${PASSIVEDNS:-}
if [[ -z $PD ]]; then
  [[ -n ${PASSIVEDNS_SRC:-} && -d $PASSIVEDNS_SRC ]] || { echo "set PASSIVEDNS_SRC to a passivedns source checkout (or PASSIVEDNS to a built binary)" >&2; exit 2; }
  cp -r "$PASSIVEDNS_SRC" "$W/src"
  (cd "$W/src" && autoreconf --install >/dev/null 2>&1 && ./configure --enable-json >/dev/null && make -j2 >/dev/null) \
    || { echo "passivedns did not build (see its README for dependencies)" >&2; exit 1; }
  PD=$W/src/src/passivedns
fi
if [[ -z ${DNSWATCH_BIN:-} || -z ${PCAP_READ:-} ]]; then
  nice cargo build --release --quiet --bin dnswatch --example pcap_read
fi
BIN=${DNSWATCH_BIN:-target/release/dnswatch}
RAW=${PCAP_READ:-target/release/examples/pcap_read}
printf '[storage]\npdns = "all"\n' > "$W/pdns.toml"

# run NAME CMD... -> "wall cpu maxrss_kib" of the run with least CPU in $W/NAME.best
run() {
  local name=$1; shift
  local best=""
  for _ in $(seq "$RUNS"); do
    rm -f "$W"/b.db* "$W"/pd.log "$W"/pd-nx.log
    if ! /usr/bin/time -f "%e %U %S %M" -o "$W/time" taskset -c 0 "$@" > "$W/$name.out" 2>&1; then
      echo "$name failed: $*" >&2; tail -5 "$W/$name.out" >&2; exit 1
    fi
    read -r e u s m < <(tail -1 "$W/time")
    local line; line="$e $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') $m"
    if [[ -z $best ]] || awk -v a="${line#* }" -v b="${best#* }" 'BEGIN { exit !(a + 0 < b + 0) }'; then best=$line; fi
  done
  echo "$best" > "$W/$name.best"
}

packets=$($RAW "$PCAP" | awk '{print $2}')
run raw "$RAW" "$PCAP"; read -r raw_e raw_c raw_m < "$W/raw.best"
run passivedns "$PD" -r "$PCAP" -b "port $PORT" -j -l "$W/pd.log" -L "$W/pd-nx.log" -X 46CDNPRSTMn
read -r pd_e pd_c pd_m < "$W/passivedns.best"
pd_decoded=$(grep -o 'over UDP decoded *: *[0-9]*' "$W/passivedns.out" | grep -o '[0-9]*$' || echo "?")
pd_failed=$(grep -o 'over UDP failed *: *[0-9]*' "$W/passivedns.out" | grep -o '[0-9]*$' || echo "?")
run pdns-only "$BIN" replay --no-progress --port "$PORT" --config "$W/pdns.toml" --watch nothing.invalid --db "$W/b.db" "$PCAP"
read -r po_e po_c po_m < "$W/pdns-only.best"
rrsets=$(sqlite3 "$W/b.db" 'SELECT count(*) FROM pdns_rrsets' 2>/dev/null || echo "?")  # of the last pdns-only run
run watch-all "$BIN" replay --no-progress --port "$PORT" --watch . --db "$W/b.db" "$PCAP"
read -r wa_e wa_c wa_m < "$W/watch-all.best"
lookups=$(grep -o 'lookups recorded [0-9]*' "$W/watch-all.out" | awk '{print $3}')

rate() { awk -v p="$1" -v s="$2" 'BEGIN { printf "%.3f", (s > 0 ? p / s / 1e6 : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "capture: $PCAP ($packets packets), one core (taskset -c 0), best of $RUNS by CPU time"
echo "passivedns: $pd_decoded UDP messages decoded, $pd_failed failed (its counters); dnswatch: $lookups lookups with --watch ., $rrsets rrsets with pdns = \"all\""
printf '%-11s %8s %8s %10s %8s %16s\n' run wall_s cpu_s "Mpps(cpu)" "RSS MiB" "cpu/passivedns"
line() { printf '%-11s %8s %8s %10s %8s %16s\n' "$1" "$2" "$3" "$(rate "$packets" "$3")" "$(($4 / 1024))" "$(ratio "$3" "$pd_c")"; }
line raw "$raw_e" "$raw_c" "$raw_m"
line passivedns "$pd_e" "$pd_c" "$pd_m"
line pdns-only "$po_e" "$po_c" "$po_m"
line watch-all "$wa_e" "$wa_c" "$wa_m"
