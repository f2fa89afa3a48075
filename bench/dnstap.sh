#!/usr/bin/env bash
# dnstap throughput: a recorded dnstap file streamed over a unix socket into
# the pipeline, beside the pcap of the same traffic (see README, "dnstap").
#
#   bench/dnstap.sh [PAIRS]        (default 1,000,000 query/response pairs)
#
# Traffic: bench/gen-dns-pcap.py (UDP pairs, names h1..h660.lab.test and
# misses), converted message by message to dnstap CLIENT_QUERY /
# CLIENT_RESPONSE (examples/dnstap_bench.rs convert). Watch list: 1,000
# names, 10 of them in the traffic. Pinned: the receiving process (tokio
# listener thread + pipeline thread) on core 0, the sender on core 1.
# Best of $RUNS:
#   dnstap-socket   dnstap_bench serve: listener → bounded queue → protobuf
#                   decode → Pipeline::message (what `run --dnstap-socket` does)
#   pcap-pipeline   dnstap_bench pcap: the same traffic as packets through
#                   Pipeline::packet (decode link/IP/UDP, then the same path)
#   replay-dnstap / replay-pcap   dnswatch replay of each file (whole flow:
#                   store, detectors), from the replay summary's wall time
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-1000000}
RUNS=${RUNS:-3}
scripts/ensure-deps.sh build
cargo build --release --quiet --bin dnswatch --example dnstap_bench
BIN=target/release/dnswatch
DB=target/release/examples/dnstap_bench
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
python3 bench/gen-dns-pcap.py "$W/t.pcap" "$PAIRS"
"$DB" convert "$W/t.pcap" "$W/t.dnstap"
FRAMES=$((PAIRS * 2))
{ for i in $(seq 1 990); do echo "w$i.example.net"; done; for i in $(seq 1 10); do echo "=h$i.lab.test"; done; } > "$W/ten.txt"
printf '[watch]\nfiles = ["%s"]\n' "$W/ten.txt" > "$W/ten.toml"

best() { sort -n | tail -1; }
rate() { sed -n 's/.*msgs\/s \([0-9]*\).*/\1/p'; }
serve_send() { # offered rate (0: flat out) -> "fed drops msgs/s" of the receiver
  rm -f "$W/s.sock"
  taskset -c 0 "$DB" serve "$W/s.sock" "$W/ten.txt" "$FRAMES" > "$W/serve.out" &
  pid=$!
  for _ in $(seq 1 100); do [[ -S $W/s.sock ]] && break; sleep 0.05; done
  taskset -c 1 "$DB" send "$W/t.dnstap" "$W/s.sock" "$1" >&2
  wait "$pid"
  cat "$W/serve.out" >&2
  sed -n 's/.*dns messages \([0-9]*\).*drops \([0-9]*\).*msgs\/s \([0-9]*\).*/\1 \2 \3/p' "$W/serve.out"
}
# Offered rates: the sender paced to each (messages/s), then flat out. A run
# counts when every message was fed and none dropped.
paced=()
for r in ${RATES:-500000 750000 1000000}; do
  for _ in $(seq 1 "$RUNS"); do
    read -r fed drops got < <(serve_send "$r")
    paced+=("$r $fed $drops $got")
  done
done
sock=()
flat=()
for _ in $(seq 1 "$RUNS"); do
  read -r fed drops got < <(serve_send 0)
  flat+=("$fed $drops $got"); sock+=("$got")
done
pc=()
for _ in $(seq 1 "$RUNS"); do
  out=$(taskset -c 0 "$DB" pcap "$W/t.pcap" "$W/ten.txt"); echo "$out" >&2
  pc+=("$(echo "$out" | rate)")
done
rep() { # file -> messages/s of dnswatch replay (whole flow)
  rm -f "$W/r.db"*
  out=$(taskset -c 0 "$BIN" replay --no-progress --config "$W/ten.toml" --db "$W/r.db" "$1")
  msgs=$(echo "$out" | sed -n 's/^dns messages *\([0-9]*\).*/\1/p')
  wall=$(echo "$out" | sed -n 's/^wall time *\([0-9.]*\) s/\1/p')
  python3 -c "print(round($msgs / $wall))"
}
rd=(); rp=()
for _ in $(seq 1 "$RUNS"); do rd+=("$(rep "$W/t.dnstap")"); rp+=("$(rep "$W/t.pcap")"); done
echo "dnstap bench: $PAIRS pairs ($FRAMES DNS messages), 1,000 watched names, msgs/s on one core"
echo "  socket, paced sender: offered/s  fed  dropped  pipeline msgs/s"
printf '    %s\n' "${paced[@]}"
echo "  socket, sender flat out: fed  dropped  pipeline msgs/s"
printf '    %s\n' "${flat[@]}"
echo "  best of $RUNS:"
printf '  %-15s %12s\n' dnstap-socket "$(printf '%s\n' "${sock[@]}" | best)"
printf '  %-15s %12s\n' pcap-pipeline "$(printf '%s\n' "${pc[@]}" | best)"
printf '  %-15s %12s\n' replay-dnstap "$(printf '%s\n' "${rd[@]}" | best)"
printf '  %-15s %12s\n' replay-pcap "$(printf '%s\n' "${rp[@]}" | best)"
