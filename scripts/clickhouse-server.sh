#!/usr/bin/env bash
# Starts (or stops) Debian's clickhouse-server by hand for tests and benchmarks:
# config, data and logs under DIR, loopback only, the given ports; never the
# distro service.
#
#   scripts/clickhouse-server.sh start DIR HTTP_PORT TCP_PORT INTERSERVER_PORT [CLUSTER_TCP_PORT...]
#   scripts/clickhouse-server.sh stop DIR
#   scripts/clickhouse-server.sh free-ports [N]  # prints N distinct free loopback TCP ports
#
# `start` returns once the server answers `SELECT 1` over HTTP (within 30 s,
# else it fails and prints the server's error log). Every instance gets a
# `remote_servers` cluster named `dnswatch` with one shard per
# CLUSTER_TCP_PORT on 127.0.0.1 (give every instance the same list, its own
# port included; default: this server alone), so a `Distributed` table over
# two instances works without ZooKeeper. The server's pid is in DIR/pid.
set -euo pipefail

server=${CLICKHOUSE_SERVER:-$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)}

free_ports() {
  python3 - "${1:-1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start() {
  local dir=$1 http=$2 tcp=$3 inter=$4
  shift 4
  mkdir -p "$dir"/{data,tmp,user_files,log,format_schemas}
  dir=$(realpath "$dir")
  (($#)) || set -- "$tcp"
  local shards="" port
  for port in "$@"; do
    shards+="      <shard><replica><host>127.0.0.1</host><port>$port</port></replica></shard>"$'\n'
  done
  # HTTPS as well when CLICKHOUSE_HTTPS_PORT is set: a throw-away CA and a
  # server certificate for 127.0.0.1 under DIR/tls (the CA is DIR/tls/ca.pem,
  # for clients' tls_ca_file).
  local https=""
  if [[ -n ${CLICKHOUSE_HTTPS_PORT:-} ]]; then
    mkdir -p "$dir/tls"
    (
      cd "$dir/tls"
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dnswatch test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile ext.cnf -out server.pem 2>/dev/null
    )
    https="  <https_port>$CLICKHOUSE_HTTPS_PORT</https_port>
  <openSSL><server>
    <certificateFile>$dir/tls/server.pem</certificateFile>
    <privateKeyFile>$dir/tls/server.key</privateKeyFile>
    <verificationMode>none</verificationMode>
    <cacheSessions>true</cacheSessions>
    <disableProtocols>sslv2,sslv3</disableProtocols>
    <preferServerCiphers>true</preferServerCiphers>
  </server></openSSL>"
  fi
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/server.log</log>
    <errorlog>$dir/log/server.err.log</errorlog>
    <size>10M</size>
    <count>2</count>
  </logger>
  <http_port>$http</http_port>
$https
  <tcp_port>$tcp</tcp_port>
  <interserver_http_port>$inter</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>256</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>64</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <remote_servers>
    <dnswatch>
$shards
    </dnswatch>
  </remote_servers>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  # Users: `default` without a password (tests, loopback only) and
  # `dnswatch` with one, so a wrong password can be tested.
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <dnswatch>
      <password>${CLICKHOUSE_TEST_PASSWORD:-dnswatch-test}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </dnswatch>
  </users>
  <quotas>
    <default>
      <interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
    </default>
  </quotas>
</yandex>
EOF
  if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "clickhouse-server already running in $dir (pid $(cat "$dir/pid"))" >&2
    return 1
  fi
  "$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  local i
  for i in $(seq 1 150); do
    if curl -sf "http://127.0.0.1:$http/?query=SELECT%201" >/dev/null 2>&1; then
      echo "clickhouse-server up in $dir: http://127.0.0.1:$http/ (tcp $tcp, pid $(cat "$dir/pid"))" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  echo "error: clickhouse-server in $dir did not answer on port $http" >&2
  tail -n 30 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
  stop "$dir"
  return 1
}

stop() {
  local dir=$1 pid
  [[ -f $dir/pid ]] || return 0
  pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

cmd=${1:-}
case $cmd in
  start)
    (($# >= 5)) || { echo "usage: $0 start DIR HTTP_PORT TCP_PORT INTERSERVER_PORT [CLUSTER_TCP_PORT...]" >&2; exit 2; }
    shift
    start "$@"
    ;;
  stop)
    (($# == 2)) || { echo "usage: $0 stop DIR" >&2; exit 2; }
    stop "$2"
    ;;
  free-ports)
    free_ports "${2:-1}"
    ;;
  *)
    echo "usage: $0 start DIR HTTP TCP INTERSERVER [CLUSTER_TCP...] | stop DIR | free-ports [N]" >&2
    exit 2
    ;;
esac
