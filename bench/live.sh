#!/usr/bin/env bash
# Live capture at rising rates: replays the benchmark capture onto lo with
# tcpreplay while `dnswatch run -i lo` captures, and reports for each rate the
# packets sent, received, kernel drops, queue drops and dnswatch's CPU use.
#
#   sudo bench/live.sh [PCAP] [RATES...]   (default bench-data/small.pcap; 50k..400k pps)
# RATES may include `max` (tcpreplay --topspeed). Needs root and tcpreplay.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${1:-bench-data/small.pcap}; shift || true
RATES=("$@"); ((${#RATES[@]})) || RATES=(50000 100000 200000 300000 400000)
SECS=${SECS:-5}
command -v tcpreplay >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null; }
scripts/ensure-deps.sh build
[[ -n ${NO_BUILD:-} ]] || cargo build --release --quiet --bin dnswatch
W=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[capture]\nbuffer_mib = 64\n%b[metrics]\nlisten = "127.0.0.1:%s"\nlog_interval_s = 0\n' "${CAPTURE_EXTRA:-}" "$PORT" > "$W/c.toml"
target/release/dnswatch run -i lo --config "$W/c.toml" --db "$W/l.db" --watch w1.example.net 2> "$W/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do grep -q capturing "$W/log" && break; sleep 0.1; done
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {print s+0}'; }
cpu() { awk '{print $14 + $15}' /proc/$PID/stat; }
HZ=$(getconf CLK_TCK)
N=$(tcpdump -r "$PCAP" 2>/dev/null | wc -l)
printf '%9s %9s %10s %10s %10s %10s %8s\n' "asked/s" "got/s" sent received "k-drops" "q-drops" "CPU %"
for rate in "${RATES[@]}"; do
  r0=$(metric dnswatch_packets_received_total); k0=$(metric dnswatch_kernel_drops_total); q0=$(metric dnswatch_queue_drops_total)
  c0=$(cpu); t0=$(date +%s.%N)
  if [[ $rate == max ]]; then
    loops=$(( (400000 * SECS + N - 1) / N ))
    # PARALLEL senders (default 1), each on its own core if there is one.
    senders=()
    for j in $(seq "${PARALLEL:-1}"); do
      tcpreplay -i lo --topspeed --preload-pcap --loop="$loops" "$PCAP" > "$W/tr$j" 2>&1 &
      senders+=($!)
    done
    wait "${senders[@]}"
    cat "$W"/tr[0-9]* > "$W/tr"
  else
    loops=$(( (rate * SECS + N - 1) / N ))
    tcpreplay -i lo --pps="$rate" --preload-pcap --loop="$loops" "$PCAP" > "$W/tr" 2>&1
  fi
  sent=$(awk '/Successful packets:/ {s += $3} END {print s}' "$W/tr")
  achieved=$(awk '/Rated:/ {for (i = 1; i <= NF; i++) if ($(i) ~ /^pps/) s += int($(i-1))} END {print s}' "$W/tr")
  t1=$(date +%s.%N); c1=$(cpu)
  sleep 2   # metrics are refreshed every second
  r1=$(metric dnswatch_packets_received_total); k1=$(metric dnswatch_kernel_drops_total); q1=$(metric dnswatch_queue_drops_total)
  pct=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')
  printf '%9s %9s %10s %10s %10s %10s %8s\n' "$rate" "${achieved:-?}" "$sent" "$((r1 - r0))" "$((k1 - k0))" "$((q1 - q0))" "$pct"
done
