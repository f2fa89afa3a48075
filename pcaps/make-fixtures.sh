#!/usr/bin/env bash
# Regenerate the loopback DNS fixture captures in this directory.
#
# Runs NSD (authoritative) on 127.0.0.1@53 and [::1]@53 serving a small fixed
# zone, captures port 53 on "lo" with tcpdump, and sends fixed lists of
# queries with dig (BIND 9) and kdig (Knot DNS). Needs root on Debian 12.
#
# Usage: sudo pcaps/make-fixtures.sh
set -euo pipefail

cd "$(dirname "$0")"
OUT_DIR=$(pwd)

die() { echo "make-fixtures: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (tcpdump on lo and nsd on port 53 need it)"

# ---------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------
# command -> Debian package
declare -A NEED=(
    [nsd]=nsd
    [nsd-checkzone]=nsd
    [dig]=dnsutils
    [kdig]=knot-dnsutils
    [tcpdump]=tcpdump
    [ss]=iproute2
)
missing=()
for cmd in "${!NEED[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd ]]; then
        missing+=("${NEED[$cmd]}")
    fi
done
if ((${#missing[@]})); then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "make-fixtures: installing ${missing[*]}" >&2
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # Keep the distro units (nsd.service etc.) from starting on install.
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    install_rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } || install_rc=$?
    if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    ((install_rc == 0)) || die "apt-get install ${missing[*]} failed (rc=$install_rc)"
fi
PATH=$PATH:/usr/sbin:/sbin

# ---------------------------------------------------------------------------
# 2. Port 53 on loopback must be free
# ---------------------------------------------------------------------------
busy=$(ss -H -ln -tu 'sport = :53' | awk '
    $5 ~ /^(127\.0\.0\.1|0\.0\.0\.0|\*|\[::1\]|\[::\]|\[::ffff:127\.0\.0\.1\])(%[^:]*)?:53$/ {print}')
if [[ -n $busy ]]; then
    echo "make-fixtures: port 53 on 127.0.0.1 / ::1 is already in use:" >&2
    echo "$busy" >&2
    ss -H -lnp -tu 'sport = :53' >&2 || true
    die "stop that service (e.g. systemctl stop nsd unbound bind9 dnsmasq) and re-run"
fi

# ---------------------------------------------------------------------------
# 3. Work dir, zones, NSD config
# ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/dnswatch-fixtures.XXXXXX)
NSD_PID=""
TCPDUMP_PID=""
cleanup() {
    set +e
    if [[ -n $TCPDUMP_PID ]] && kill -0 "$TCPDUMP_PID" 2>/dev/null; then
        kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null
    fi
    if [[ -n $NSD_PID ]] && kill -0 "$NSD_PID" 2>/dev/null; then
        kill -TERM "$NSD_PID"
        for _ in $(seq 50); do kill -0 "$NSD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$NSD_PID" 2>/dev/null && kill -KILL "$NSD_PID"
        wait "$NSD_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat > "$WORK/lab.example.zone" <<'EOF'
$ORIGIN lab.example.
$TTL 3600
@       IN SOA  ns1.lab.example. hostmaster.lab.example. (
                2024010101 ; serial
                7200       ; refresh
                3600       ; retry
                1209600    ; expire
                300 )      ; negative TTL
        IN NS   ns1.lab.example.
        IN NS   ns2.lab.example.
        IN MX   10 mail1.lab.example.
        IN TXT  "v=spf1 mx -all"
        IN TXT  "dnswatch fixture zone"
ns1     IN A    192.0.2.1
ns1     IN AAAA 2001:db8::1
ns2     IN A    192.0.2.2
ns2     IN AAAA 2001:db8::2
host1   IN A    192.0.2.10
host1   IN AAAA 2001:db8::10
host2   IN A    192.0.2.11
www     IN CNAME host1.lab.example.
mail1   IN A    192.0.2.29
trump1  IN A    192.0.2.29
EOF

cat > "$WORK/2.0.192.in-addr.arpa.zone" <<'EOF'
$ORIGIN 2.0.192.in-addr.arpa.
$TTL 3600
@       IN SOA  ns1.lab.example. hostmaster.lab.example. (
                2024010101 7200 3600 1209600 300 )
        IN NS   ns1.lab.example.
        IN NS   ns2.lab.example.
29      IN PTR  mail1.lab.example.
EOF

cat > "$WORK/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@53
    ip-address: ::1@53
    do-ip4: yes
    do-ip6: yes
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    database: ""
    zonelistfile: "$WORK/zone.list"
    xfrdfile: "$WORK/xfrd.state"
    xfrdir: "$WORK"
    pidfile: "$WORK/nsd.pid"
    logfile: "$WORK/nsd.log"
    verbosity: 1
    hide-version: yes
    identity: "dnswatch-fixtures"
    rrl-ratelimit: 0
    refuse-any: no
remote-control:
    control-enable: no
zone:
    name: "lab.example"
    zonefile: "lab.example.zone"
zone:
    name: "2.0.192.in-addr.arpa"
    zonefile: "2.0.192.in-addr.arpa.zone"
EOF

nsd-checkzone lab.example "$WORK/lab.example.zone" >/dev/null
nsd-checkzone 2.0.192.in-addr.arpa "$WORK/2.0.192.in-addr.arpa.zone" >/dev/null
nsd-checkconf "$WORK/nsd.conf"

# ---------------------------------------------------------------------------
# 4. Start NSD in the foreground (backgrounded by us, PID tracked)
# ---------------------------------------------------------------------------
nsd -d -c "$WORK/nsd.conf" >"$WORK/nsd.stdout" 2>&1 &
NSD_PID=$!

listening() { # udp|tcp addr
    # With both -t and -u, ss prints the Netid column first: $1=udp|tcp, $5=local.
    ss -H -ln -tu "sport = :53" | awk -v p="$1" -v a="$2" '$1 == p && $5 == a":53" {f=1} END {exit !f}'
}
ready=0
for _ in $(seq 100); do
    kill -0 "$NSD_PID" 2>/dev/null || { cat "$WORK/nsd.stdout" "$WORK/nsd.log" >&2 2>/dev/null; die "nsd exited"; }
    if listening udp 127.0.0.1 && listening tcp 127.0.0.1 && listening udp '[::1]' && listening tcp '[::1]'; then
        ready=1; break
    fi
    sleep 0.1
done
((ready)) || { cat "$WORK/nsd.log" >&2 2>/dev/null; die "nsd did not start listening on 127.0.0.1@53 and ::1@53"; }
# Zones are loaded before the sockets serve; confirm with a probe (not captured).
dig @127.0.0.1 +short +tries=1 +time=2 lab.example SOA | grep -q 2024010101 \
    || die "nsd is not answering for lab.example"

# ---------------------------------------------------------------------------
# 5. Capture helpers
# ---------------------------------------------------------------------------
start_capture() { # file
    local file=$1
    rm -f "$OUT_DIR/$file"
    tcpdump -i lo -n -s 0 -w "$OUT_DIR/$file" 'port 53' 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$WORK/tcpdump.err" 2>/dev/null && return 0
        kill -0 "$TCPDUMP_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/tcpdump.err" >&2
    die "tcpdump did not start for $file"
}
stop_capture() {
    sleep 1
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=""
}

# Common dig options: one try, short timeout, quiet output (the capture is
# what matters). dig's default EDNS COOKIE is turned off so the query bytes
# do not carry random client cookies; everything else is dig's default
# (RD=1, EDNS0 with 1232-byte buffer, AD=1).
DIG=(dig +tries=1 +time=2 +nocookie +noall +comments)
KDIG=(kdig +retry=0 +time=2 +noall +header)

run_q() { # label, command...: run one query tool, print one status line
    local label=$1; shift
    local out status
    out=$("$@" 2>&1) || true
    status=$(grep -m1 -oE 'status: [A-Z]+' <<<"$out" || echo 'status: ?')
    printf '  %-66s %s\n' "$label" "$status" >&2
}
qd() { run_q "dig $*" "${DIG[@]}" "$@"; }
qk() { run_q "kdig $*" "${KDIG[@]}" "$@"; }

# Fixed query list: "name type" pairs, used for UDP and TCP over IPv4.
QUERIES=(
    "mail1.lab.example A"
    "mail1.lab.example AAAA"
    "mail1.lab.example MX"
    "mail1.lab.example TXT"
    "lab.example MX"
    "lab.example TXT"
    "lab.example SOA"
    "lab.example NS"
    "host1.lab.example A"
    "host1.lab.example AAAA"
    "www.lab.example A"
    "www.lab.example CNAME"
    "trump1.lab.example A"
    "29.2.0.192.in-addr.arpa PTR"
    "nothere.lab.example A"
    "mail2.lab.example A"
    "www.example.com A"
    "ns1.lab.example AAAA"
    "30.2.0.192.in-addr.arpa PTR"
    "mail1.lab.example A"
)

# ---------------------------------------------------------------------------
# 6a. UDP over IPv4
# ---------------------------------------------------------------------------
echo "== udp4.pcap" >&2
start_capture udp4.pcap
for nt in "${QUERIES[@]}"; do
    read -r name type <<<"$nt"
    qd @127.0.0.1 "$name" "$type"
done
# Same server, other clients' flavour: kdig (no RD bit) and dig +norecurse.
qk @127.0.0.1 +norecurse mail1.lab.example A
qk @127.0.0.1 +norecurse trump1.lab.example A
qd @127.0.0.1 +norecurse 29.2.0.192.in-addr.arpa PTR
stop_capture

# ---------------------------------------------------------------------------
# 6b. TCP over IPv4
# ---------------------------------------------------------------------------
echo "== tcp4.pcap" >&2
start_capture tcp4.pcap
# One TCP connection per query.
for nt in "${QUERIES[@]}"; do
    read -r name type <<<"$nt"
    qd +tcp @127.0.0.1 "$name" "$type"
done
# Several queries on ONE TCP connection (kdig keeps the connection open
# between the queries given on its command line).
qk @127.0.0.1 +tcp +keepopen \
    mail1.lab.example A mail1.lab.example AAAA lab.example MX \
    trump1.lab.example A nothere.lab.example A
# Same with dig +keepopen.
qd +tcp +keepopen @127.0.0.1 \
    mail1.lab.example A host1.lab.example AAAA 29.2.0.192.in-addr.arpa PTR www.example.com A
stop_capture

# ---------------------------------------------------------------------------
# 6c. UDP and TCP over IPv6
# ---------------------------------------------------------------------------
echo "== udp6-tcp6.pcap" >&2
start_capture udp6-tcp6.pcap
Q6=(
    "mail1.lab.example A"
    "host1.lab.example AAAA"
    "www.lab.example AAAA"
    "lab.example MX"
    "29.2.0.192.in-addr.arpa PTR"
    "nothere.lab.example AAAA"
    "www.example.com AAAA"
)
for nt in "${Q6[@]}"; do
    read -r name type <<<"$nt"
    qd @::1 "$name" "$type"
done
for nt in "${Q6[@]}"; do
    read -r name type <<<"$nt"
    qd +tcp @::1 "$name" "$type"
done
qk @::1 mail1.lab.example A
qk @::1 +tcp +keepopen mail1.lab.example A mail1.lab.example AAAA lab.example TXT
stop_capture

# ---------------------------------------------------------------------------
# 6d. EDNS Client Subnet
# ---------------------------------------------------------------------------
echo "== ecs.pcap" >&2
start_capture ecs.pcap
qd @127.0.0.1 +subnet=198.51.100.0/24 mail1.lab.example A
qd @127.0.0.1 +subnet=198.51.100.0/24 www.lab.example A
qd @::1 +subnet=2001:db8:51::/48 host1.lab.example AAAA
qk @127.0.0.1 +subnet=198.51.100.0/24 trump1.lab.example A
stop_capture

# ---------------------------------------------------------------------------
# 7. Summary
# ---------------------------------------------------------------------------
echo "== packets per file" >&2
for f in udp4.pcap tcp4.pcap udp6-tcp6.pcap ecs.pcap; do
    n=$(tcpdump -n -r "$OUT_DIR/$f" 2>/dev/null | wc -l)
    # tcpdump drops to its own user when writing; hand the file to the caller.
    chown "${SUDO_UID:-0}:${SUDO_GID:-0}" "$OUT_DIR/$f"
    chmod 644 "$OUT_DIR/$f"
    size=$(stat -c %s "$OUT_DIR/$f")
    printf '%-16s %5d packets %7d bytes\n' "$f" "$n" "$size"
    ((size < 50000)) || die "$f is larger than 50 KB"
done
