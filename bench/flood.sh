#!/usr/bin/env bash
# Bounded memory under floods: replays generated flood captures (bench/flood.py)
# through the release binary and reports peak RSS against the budget, the
# canary lookups recorded during the flood, and the evictions.
#
#   bench/flood.sh [N]          (N flood items per scenario, default 1000000)
# Budget: BUDGET_MIB (default 256, below the unit's MemoryHigh=384M).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BUDGET_MIB=${BUDGET_MIB:-256}
scripts/ensure-deps.sh build
cargo build --release --quiet --bin dnswatch
BIN=target/release/dnswatch
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
printf '%-20s %9s %9s %8s %8s %s\n' scenario items "RSS MiB" budget canaries evictions
fail=0
for kind in subdomain-watched subdomain-unwatched queriers fragments tcp unanswered; do
  n=$N
  [[ $kind == queriers ]] && n=$(( N / 10 ))   # 100k distinct queriers for N = 1M
  [[ $kind == tcp ]] && n=$(( N / 5 ))
  python3 bench/flood.py "$kind" "$W/f.pcap" "$n"
  rm -f "$W"/f.db*
  /usr/bin/time -f "%M" -o "$W/rss" "$BIN" replay --no-progress --db "$W/f.db" \
    --watch watched.example "$W/f.pcap" > "$W/out" 2>&1 || { cat "$W/out"; exit 1; }
  rss=$(( $(cat "$W/rss") / 1024 ))
  expect=$(( (n + 9999) / 10000 ))
  canaries=$("$BIN" lookups --db "$W/f.db" --format csv --name canary.watched.example --querier 198.51.100.1 | tail -n +2 | wc -l)
  ev=$(grep -o 'evictions .*' "$W/out" | sed 's/evictions *//' || true)
  ok=ok; (( rss <= BUDGET_MIB )) || ok=OVER; (( canaries == expect )) || ok="$ok canaries-missing"
  printf '%-20s %9s %9s %8s %8s %s %s\n' "$kind" "$n" "$rss" "$BUDGET_MIB" "$canaries/$expect" "${ev:-none}" "$ok"
  [[ $ok == ok ]] || fail=1
done
exit $fail
