#!/usr/bin/env bash
# ClickHouse store benchmark (issue 12): `replay --watch . --clickhouse URL`
# of a capture, reporting lookups/s delivered into ClickHouse and bytes per
# lookup on disk (system.parts, after merging the parts).
#
#   bench/clickhouse.sh [CAPTURE]
#
# CAPTURE defaults to bench-data/big.pcap (made by
# ../shared/bench/make-dns-pcap.sh when missing; DNS_PORT is the DNS port
# of the capture, default 53). A ClickHouse server is started for the run
# in a temp dir (scripts/clickhouse-server.sh) unless URL is set. Builds the
# release binary, or runs BIN when set (to compare two builds in one
# sitting). Not a timed test: run by hand, figures go in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-bench-data/big.pcap}
dns_port=${DNS_PORT:-53}
if [[ ! -f $capture ]]; then
  bash ../shared/bench/make-dns-pcap.sh bench-data
fi
if [[ -n ${BIN:-} ]]; then
  bin=$BIN
else
  cargo build --release -q
  bin=target/release/dnswatch
fi
work=$(mktemp -d /tmp/dnswatch-bench-ch.XXXXXX)
cleanup() {
  [[ -z ${URL:-} || -n ${own_server:-} ]] && scripts/clickhouse-server.sh stop "$work/ch" || true
  rm -rf "$work"
}
trap cleanup EXIT
if [[ -z ${URL:-} ]]; then
  read -ra p <<<"$(scripts/clickhouse-server.sh free-ports 3)"
  scripts/clickhouse-server.sh start "$work/ch" "${p[0]}" "${p[1]}" "${p[2]}"
  URL="http://127.0.0.1:${p[0]}/"
  own_server=1
fi
db="bench_$(date +%s)"
printf '[storage.clickhouse]\ndatabase = "%s"\n' "$db" >"$work/c.toml"
q() { curl -sf "$URL" --data-binary "$1"; }

run() { # label, extra args...
  local label=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" replay --no-progress --port "$dns_port" --watch . --db "$work/$label.db" "$@" "$capture" \
    >"$work/$label.out" 2>"$work/$label.err"
  t1=$(date +%s.%N)
  echo "$t0 $t1"
}

echo "capture: $capture ($(stat -c %s "$capture") bytes), server: $URL, $(nproc) cores shared by replay and server"
read -r a0 a1 <<<"$(run sqlite)"
lookups=$(awk '/^lookups recorded/ {print $3}' "$work/sqlite.out")
read -r b0 b1 <<<"$(run both --config "$work/c.toml" --clickhouse "$URL" --sensor bench)"
delivery_both=$(grep -o 'ClickHouse delivery.*' "$work/both.err" | sed 's/\x1b\[[0-9;]*m//g' || true)
q "DROP DATABASE $db" >/dev/null
read -r c0 c1 <<<"$(run chonly --no-db --config "$work/c.toml" --clickhouse "$URL" --sensor bench)"
rows=$(q "SELECT count() FROM $db.lookups")
delivery=$(grep -o 'ClickHouse delivery.*' "$work/chonly.err" | sed 's/\x1b\[[0-9;]*m//g' || true)
q "OPTIMIZE TABLE $db.lookups FINAL" >/dev/null
q "OPTIMIZE TABLE $db.lookups_by_querier FINAL" >/dev/null
awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" -v c0="$c0" -v c1="$c1" -v n="$lookups" -v rows="$rows" 'BEGIN {
  sa = a1 - a0; sb = b1 - b0; sc = c1 - c0
  printf "lookups recorded:              %d (in ClickHouse: %d)\n", n, rows
  printf "replay into SQLite only:       %6.2f s  %8.0f lookups/s\n", sa, n / sa
  printf "replay into SQLite+ClickHouse: %6.2f s  %8.0f lookups/s (replay start to last insert confirmed)\n", sb, n / sb
  printf "replay into ClickHouse only:   %6.2f s  %8.0f lookups/s (--no-db; replay start to last insert confirmed)\n", sc, rows / sc
}'
echo "shipper, SQLite+ClickHouse: $delivery_both"
echo "shipper, ClickHouse only:   $delivery"
q "SELECT table, sum(rows), sum(bytes), round(sum(bytes) / $rows, 1) FROM system.parts WHERE active AND database = '$db' GROUP BY table ORDER BY table FORMAT PrettyCompactNoEscapes"
q "SELECT 'lookups + lookups_by_querier bytes/lookup', round(sum(bytes) / $rows, 1) FROM system.parts WHERE active AND database = '$db' AND table IN ('lookups', 'lookups_by_querier') FORMAT TabSeparated"
q "SELECT 'all tables bytes/lookup', round(sum(bytes) / $rows, 1) FROM system.parts WHERE active AND database = '$db' FORMAT TabSeparated"
q "DROP DATABASE $db" >/dev/null
