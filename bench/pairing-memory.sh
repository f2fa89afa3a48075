#!/usr/bin/env bash
# Memory of query/response pairing under floods (bench/flood.py), the
# 10 s response timeout and 20 s late window (the defaults) against the
# earlier 5 s timeout without a late window, as a config of the same binary,
# in the same run. Prints peak RSS of each and the ratio new/old.
#
#   bench/pairing-memory.sh [N]       (flood items per scenario, default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
scripts/ensure-deps.sh build
cargo build --release --quiet --bin dnswatch
BIN=target/release/dnswatch
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
printf '[limits]\nresponse_timeout_s = 5.0\nlate_response_s = 0.0\n' > "$W/old.toml"
printf '[limits]\nresponse_timeout_s = 10.0\nlate_response_s = 20.0\n' > "$W/new.toml"
printf '%-20s %9s %12s %12s %7s %s\n' scenario items "old RSS MiB" "new RSS MiB" ratio "pending evictions old/new"
for kind in unanswered subdomain-watched subdomain-unwatched; do
  python3 bench/flood.py "$kind" "$W/f.pcap" "$N"
  declare -A rss ev
  for cfg in old new; do
    rm -f "$W"/f.db*
    /usr/bin/time -f "%M" -o "$W/rss" "$BIN" replay --no-progress --config "$W/$cfg.toml" \
      --db "$W/f.db" --watch watched.example "$W/f.pcap" > "$W/out" 2>&1 || { cat "$W/out"; exit 1; }
    rss[$cfg]=$(( $(cat "$W/rss") / 1024 ))
    ev[$cfg]=$(grep -o 'evictions .*' "$W/out" | sed 's/evictions *//' | tr -d ' ' || true)
  done
  ratio=$(awk -v a="${rss[old]}" -v b="${rss[new]}" 'BEGIN { printf "%.2f", b / a }')
  printf '%-20s %9s %12s %12s %7s %s / %s\n' "$kind" "$N" "${rss[old]}" "${rss[new]}" "$ratio" "${ev[old]:-none}" "${ev[new]:-none}"
done
