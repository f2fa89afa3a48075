#!/usr/bin/env bash
# The fleet store's tests (tests/clickhouse/) against today's ClickHouse
# engine. Debian ships ClickHouse 18.16, which is what the real servers of
# .ci/run are; dnswatch writes another schema for servers from 19.3/19.6 on
# (LowCardinality columns, table TTL), and that schema needs an engine of
# that age to be tested. chdb (PyPI `chdb-core`: ClickHouse 26.9 as a
# library) runs it behind scripts/chdb-http.py, which serves the few HTTP
# requests dnswatch makes (see its header for what it does not do).
#
#   scripts/chdb-tests.sh            # after `cargo test --all-targets` built the tests
#
# Tests left out here, and where they run: the Distributed table (two
# servers over the native protocol), TLS, a wrong password (the shim has no
# authentication), a server stopped mid-stream and kill -9 (they start
# 18.16 servers of their own): all run against the 18.16 servers in the
# `cargo test` step.
set -euo pipefail
cd "$(dirname "$0")/.."
CHDB_VERSION=26.9.0
venv=${CHDB_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dnswatch/chdb-$CHDB_VERSION}
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import chdb' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "chdb-core==$CHDB_VERSION"
fi
work=$(mktemp -d /tmp/dnswatch-chdb.XXXXXX)
pid=""
cleanup() {
  # The shim dies of the TERM: its status is not this script's.
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(scripts/clickhouse-server.sh free-ports 1)
"$venv/bin/python" scripts/chdb-http.py --port "$port" --path "$work/data" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/ping" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/" --data-binary 'SELECT version()' >/dev/null || { cat "$work/log" >&2; exit 1; }
echo "chdb-tests: $(head -1 "$work/log")" >&2
DNSWATCH_CLICKHOUSE_URL="http://127.0.0.1:$port/" \
  DNSWATCH_CLICKHOUSE_URL2="" DNSWATCH_CLICKHOUSE_HTTPS_URL="" DNSWATCH_CLICKHOUSE_CA="" \
  cargo test --test clickhouse -- \
  --skip distributed_table_returns_the_union_of_both_shards \
  --skip tls_with_the_servers_ca_delivers_everything_and_without_it_is_refused \
  --skip wrong_password_is_a_clear_error \
  --skip server_stopped_mid_stream_every_row_arrives_exactly_once \
  --skip kill_9_while_batches_are_spooled_loses_nothing
