#!/usr/bin/env bash
# `dnswatch pdns` query benchmark on a store of 10 M synthetic rrsets.
#
#   bench/pdns-query.sh            (store built once in bench-data/pdns-10m.db;
#                                   ROWS=1000000 for a smaller one, RUNS=21)
#   DNSWATCH_BIN=other/dnswatch bench/pdns-query.sh
#
# The store: dnswatch creates the schema (a replay of pcaps/udp4.pcap), then
# sqlite3 fills pdns_rrsets with ROWS rows (indexes dropped and rebuilt with
# dnswatch's own definitions, for speed): zones d<k>.com with ten hosts each,
# h0..h8 A records on 2 M addresses of 10.0.0.0/9 (about 4.3 names per
# address), h9 a CNAME to edge<k mod 100000>.cdn.net (10 names per target).
#
# Whole-process times (median of $RUNS runs of `dnswatch pdns ... --format
# json`) for: an exact name, a zone wildcard, an address, a /24, a CNAME
# target. Reference, measured in the same run: the same command on a store
# with the same schema and no rrsets (process start, open, an empty index
# lookup), and each query's SQL with NOT INDEXED (a table scan, once) in
# sqlite3. Printed: ms and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-21}
if [[ -z ${DNSWATCH_BIN:-} ]]; then
  cargo build --release --quiet --bin dnswatch
fi
BIN=${DNSWATCH_BIN:-target/release/dnswatch}
mkdir -p bench-data
DB=bench-data/pdns-$ROWS.db
EMPTY=bench-data/pdns-empty.db

schema() { # $1: database to create with dnswatch's schema
  rm -f "$1" "$1-wal" "$1-shm"
  "$BIN" replay --no-progress --db "$1" --watch nothing.invalid pcaps/udp4.pcap >/dev/null 2>&1
}

if [[ ! -f $DB ]]; then
  echo "building $DB ($ROWS rrsets) ..." >&2
  schema "$DB.tmp"
  t0=$(date +%s)
  idx=$(sqlite3 "$DB.tmp" "SELECT group_concat(sql, ';') FROM sqlite_master WHERE type='index' AND tbl_name='pdns_rrsets' AND sql IS NOT NULL")
  sqlite3 "$DB.tmp" >/dev/null <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
DROP INDEX pdns_rrsets_key; DROP INDEX pdns_rrsets_rkey; DROP INDEX pdns_rrsets_last;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $ROWS),
 r AS (SELECT i, i / 10 AS k, i % 10 AS j, (i * 7919) % 2097152 AS m FROM n)
INSERT INTO pdns_rrsets (rname, rrtype, rdata, bailiwick, sensor, rkey, time_first, time_last, count)
SELECT 'com.d' || k || '.h' || j || '.',
       CASE WHEN j < 9 THEN 'A' ELSE 'CNAME' END,
       CASE WHEN j < 9 THEN '10.' || (m >> 14) || '.' || ((m >> 7) & 127) || '.' || (m & 127)
            ELSE 'edge' || (k % 100000) || '.cdn.net.' END,
       '', 's1',
       CASE WHEN j < 9 THEN CAST(x'00000000000000000000ffff' || CAST(char(10, m >> 14, (m >> 7) & 127, m & 127) AS BLOB) AS BLOB)
            ELSE 'net.cdn.edge' || (k % 100000) || '.' END,
       1462320000000000 + i * 1000, 1462320000000000 + i * 1000 + 86400000000, 1 + i % 50
FROM r;
$idx;
SQL
  mv "$DB.tmp" "$DB"
  echo "built in $(( $(date +%s) - t0 )) s, $(du -h "$DB" | cut -f1)" >&2
fi
[[ -f $EMPTY ]] || schema "$EMPTY"

median_ms() { # args: command; prints the median wall time in ms over $RUNS runs
  local times=()
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null
    e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2) { printf "%.2f", $1 / 1000 }'
}

scan_ms() { # $1: WHERE clause; one run of the query as a table scan
  local s e
  s=$(date +%s%N)
  sqlite3 "$DB" "SELECT count(*) FROM pdns_rrsets NOT INDEXED WHERE $1" >/dev/null
  e=$(date +%s%N)
  awk -v d=$(( (e - s) / 1000 )) 'BEGIN { printf "%.1f", d / 1000 }'
}

rows=$(sqlite3 "$DB" "SELECT count(*) FROM pdns_rrsets")
Z=$(( ROWS / 20 ))  # a zone in the middle of the store
echo "store: $DB, $rows rrsets, $(du -h "$DB" | cut -f1); $RUNS runs each, median; $BIN"
base=$(median_ms "$BIN" pdns --db "$EMPTY" "h3.d$Z.com" --format json)
echo "reference: same command on an empty store: $base ms"
printf '%-34s %7s %8s %10s %10s %12s\n' query rows ms "ms-empty" "scan ms" "scan/query"
run() { # label, where-clause for the scan, dnswatch pdns arguments...
  local label=$1 where=$2; shift 2
  local n ms scan
  n=$("$BIN" pdns --db "$DB" "$@" --format json | wc -l)
  ms=$(median_ms "$BIN" pdns --db "$DB" "$@" --format json)
  scan=$(scan_ms "$where")
  printf '%-34s %7s %8s %10s %10s %12s\n' "$label" "$n" "$ms" \
    "$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.2f", a - b }')" "$scan" \
    "$(awk -v a="$scan" -v b="$ms" 'BEGIN { printf "%.0fx", a / b }')"
}
run "exact h3.d$Z.com" "rname = 'com.d$Z.h3.'" "h3.d$Z.com"
run "wildcard *.d$Z.com" "rname >= 'com.d$Z.' AND rname < 'com.d$Z/'" "*.d$Z.com"
run "--rdata 10.1.2.3" "rdata = '10.1.2.3'" --rdata 10.1.2.3
run "--rdata 10.1.2.0/24" "rdata LIKE '10.1.2.%'" --rdata 10.1.2.0/24
run "--rdata edge4242.cdn.net" "rdata = 'edge4242.cdn.net.'" --rdata edge4242.cdn.net
