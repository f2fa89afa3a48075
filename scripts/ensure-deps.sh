#!/usr/bin/env bash
# Installs the Debian packages dnswatch needs to build and to run its tests,
# only those that are missing. Needs root (or sudo) when something is missing.
#   scripts/ensure-deps.sh build   # libpcap-dev only
#   scripts/ensure-deps.sh test    # plus the real DNS software the tests drive
set -euo pipefail
mode=${1:-build}
pkgs=(libpcap-dev pkg-config)
if [[ $mode == test ]]; then
  pkgs+=(tcpdump nsd unbound fstrm-bin dnsutils knot-dnsutils iproute2 sqlite3 openssl util-linux curl prometheus xz-utils python3-venv)
  # ClickHouse for the fleet store's tests: started by hand by
  # scripts/clickhouse-server.sh, never as the distro service.
  pkgs+=(clickhouse-server clickhouse-client)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
# Keep distro services (nsd, unbound, clickhouse-server) from starting during install.
made_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
((made_policy)) && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
