#!/usr/bin/env bash
# Watch-list build budget (issue 9 item 10): N entries (default 1,000,000; a
# quarter each IPv4 addresses, IPv6 prefixes, zones and names) compiled by
# `dnswatch check-config`, which reads the file and builds the list once.
# Prints wall time and peak RSS from /usr/bin/time -v against the budget
# (3 s, 300 MiB) and exits non-zero when over it.
#
#   bench/watchlist.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
cargo build --release --quiet --bin dnswatch
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
python3 - "$N" > "$W/list.txt" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    k = i % 4
    if k == 0:
        out.write(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
    elif k == 1:
        out.write(f"2001:db8:{(i >> 16) & 0xffff:x}:{i & 0xffff:x}::/64\n")
    elif k == 2:
        out.write(f"*.zone{i}.example\n")
    else:
        out.write(f"host{i}.example.com\n")
PY
printf '[watch]\nfiles = ["%s/list.txt"]\n' "$W" > "$W/c.toml"
/usr/bin/time -v target/release/dnswatch check-config --config "$W/c.toml" 2> "$W/time.txt"
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$W/time.txt" | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/time.txt")
mib=$((kib / 1024))
echo "entries $N  file $(($(stat -c %s "$W/list.txt") / 1024 / 1024)) MiB  wall ${secs} s  peak RSS ${mib} MiB  (budget 3 s, 300 MiB)"
awk -v s="$secs" -v m="$mib" 'BEGIN { exit !(s <= 3 && m <= 300) }'
