#!/usr/bin/env bash
# Replay of one capture given as a plain file (the reference), gzip, zstd,
# on stdin, and with a BPF filter passing every packet, interleaved run by
# run and pinned to core 0, 1,000 watched names none matching (the replay
# case of bench/replay.sh). Prints the best wall time of each and its ratio
# to the plain file's.
#
#   N=5 bench/replay-inputs.sh CAPTURE.pcap [target/release/dnswatch [REFERENCE/dnswatch]]
#   CALLGRIND=1 bench/replay-inputs.sh CAPTURE.pcap [BIN [REFERENCE]]
#
# Makes CAPTURE.gz and CAPTURE.zst in a temporary directory. With
# CALLGRIND=1 each case runs once under valgrind's callgrind and the
# instructions executed (all threads) are compared instead of wall times,
# which a machine shared with other builds makes noisy; a REFERENCE binary
# adds its plain-file replay (e.g. the main branch's build) as `ref`.
set -euo pipefail
PCAP=$1; BIN=${2:-target/release/dnswatch}; REF=${3:-}; N=${N:-5}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for i in $(seq 1 1000); do echo "w$i.example.net"; done > "$W/none.txt"
printf '[watch]\nfiles = ["%s"]\n' "$W/none.txt" > "$W/none.toml"
gzip -6 -c "$PCAP" > "$W/c.gz"
zstd -q -3 -c "$PCAP" > "$W/c.zst"
if [[ -n ${CALLGRIND:-} ]]; then
  instr() { # BIN ARGS... (stdin passed through): instructions executed
    local b=$1; shift
    rm -f "$W"/b.db*
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$b" replay --no-progress \
      --config "$W/none.toml" --db "$W/b.db" "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'
  }
  declare -A n
  n[plain]=$(instr "$BIN" "$PCAP")
  n[gzip]=$(instr "$BIN" "$W/c.gz")
  n[zstd]=$(instr "$BIN" "$W/c.zst")
  n[stdin]=$(instr "$BIN" - < "$PCAP")
  n[bpf]=$(instr "$BIN" --bpf "udp or tcp" "$PCAP")
  cases=(plain gzip zstd stdin bpf)
  if [[ -n $REF ]]; then n[ref]=$(instr "$REF" "$PCAP"); cases+=(ref); fi
  echo "instructions (callgrind, all threads) and ratio to plain:"
  for c in "${cases[@]}"; do
    awk -v c="$c" -v t="${n[$c]}" -v p="${n[plain]}" 'BEGIN{printf "%-6s %13d  %.3f\n", c, t, t/p}'
  done
  exit 0
fi
TIMEFORMAT=%R
declare -A best
cases=(plain gzip zstd stdin bpf)
for i in $(seq "$N"); do
  for c in "${cases[@]}"; do
    rm -f "$W"/b.db*
    args=(replay --no-progress --config "$W/none.toml" --db "$W/b.db")
    case $c in
      plain) t=$( { time taskset -c 0 "$BIN" "${args[@]}" "$PCAP" >/dev/null 2>&1; } 2>&1 ) ;;
      gzip) t=$( { time taskset -c 0 "$BIN" "${args[@]}" "$W/c.gz" >/dev/null 2>&1; } 2>&1 ) ;;
      zstd) t=$( { time taskset -c 0 "$BIN" "${args[@]}" "$W/c.zst" >/dev/null 2>&1; } 2>&1 ) ;;
      stdin) t=$( { time taskset -c 0 "$BIN" "${args[@]}" - < "$PCAP" >/dev/null 2>&1; } 2>&1 ) ;;
      bpf) t=$( { time taskset -c 0 "$BIN" "${args[@]}" --bpf "udp or tcp" "$PCAP" >/dev/null 2>&1; } 2>&1 ) ;;
    esac
    echo "$c $t"
    if [[ -z ${best[$c]:-} ]] || awk "BEGIN{exit !($t < ${best[$c]})}"; then best[$c]=$t; fi
  done
done
echo "best of $N (s) and ratio to plain:"
for c in "${cases[@]}"; do
  awk -v c="$c" -v t="${best[$c]}" -v p="${best[plain]}" 'BEGIN{printf "%-6s %7.3f  %.3f\n", c, t, t/p}'
done
