#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it with dpkg -i, checks
# what it installed (files, conffiles, user, directory modes, the unit with
# systemd-analyze verify, the binary, man pages), then purges it and checks
# nothing is left. Needs root (or sudo) and a Debian-like system; run after
# `cargo build --release` (.ci/run does), which it reuses.
#   scripts/deb-test.sh            # build, install, check, purge
#   KEEP=1 scripts/deb-test.sh     # leave the package installed
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }

if ! cargo deb --version >/dev/null 2>&1; then
  echo "deb-test: installing cargo-deb from crates.io (once; cached in ~/.cargo/bin)" >&2
  # A dev build without the default features (liblzma and ELF debug ids
  # built from source): it compresses with the system's xz, and takes a
  # fraction of a release install's CPU on a fresh CI machine.
  cargo install --locked --debug --no-default-features cargo-deb
fi
if dpkg-query -W -f='${Status}' dnswatch 2>/dev/null | grep -q "install ok installed"; then
  fail "a dnswatch package is already installed; remove it first (dpkg --purge dnswatch)"
fi

# --no-build: the release binary of this tree (built by .ci/run just before).
[[ -x target/release/dnswatch ]] || cargo build --release
deb=$(cargo deb --no-build --strip 2>/dev/null | tail -n 1)
[[ -f $deb ]] || fail "cargo deb did not produce a package ($deb)"
echo "deb-test: built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | grep -E "Package|Version|Depends" >&2

cleanup() {
  if [[ -z ${KEEP:-} ]] && dpkg-query -W dnswatch >/dev/null 2>&1; then
    $SUDO dpkg --purge dnswatch >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
$SUDO dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"

# Files.
for f in /usr/bin/dnswatch /lib/systemd/system/dnswatch.service \
  /etc/dnswatch/dnswatch.toml /etc/dnswatch/watchlist.txt /etc/logrotate.d/dnswatch \
  /usr/lib/sysusers.d/dnswatch.conf /usr/lib/tmpfiles.d/dnswatch.conf \
  /usr/share/bash-completion/completions/dnswatch /usr/share/zsh/vendor-completions/_dnswatch \
  /usr/share/fish/vendor_completions.d/dnswatch.fish \
  /usr/share/doc/dnswatch/prometheus/dnswatch-rules.yml; do
  [[ -e $f ]] || fail "$f not installed"
done
for page in dnswatch dnswatch-run dnswatch-replay dnswatch-check-config; do
  compgen -G "/usr/share/man/man1/$page.1*" >/dev/null || fail "man page $page.1 not installed"
done
conffiles=$(dpkg-query --control-show dnswatch conffiles 2>/dev/null || cat /var/lib/dpkg/info/dnswatch.conffiles)
grep -qx "/etc/dnswatch/dnswatch.toml" <<<"$conffiles" || fail "dnswatch.toml is not a conffile: $conffiles"
grep -qx "/etc/logrotate.d/dnswatch" <<<"$conffiles" || fail "logrotate snippet is not a conffile"

# User and directories: logs readable by group adm, state private.
getent passwd dnswatch >/dev/null || fail "no user dnswatch"
[[ $(stat -c '%U:%G %a' /var/log/dnswatch) == "dnswatch:adm 2750" ]] ||
  fail "/var/log/dnswatch is $(stat -c '%U:%G %a' /var/log/dnswatch), want dnswatch:adm 2750"
[[ $(stat -c '%U:%G %a' /var/lib/dnswatch) == "dnswatch:dnswatch 750" ]] ||
  fail "/var/lib/dnswatch is $(stat -c '%U:%G %a' /var/lib/dnswatch), want dnswatch:dnswatch 750"
# A file the service creates there (as the unit's user, umask and mode) is
# readable by group adm.
runuser -u dnswatch -- sh -c 'umask 0027; : > /var/log/dnswatch/probe.jsonl'
[[ $(stat -c '%G %a' /var/log/dnswatch/probe.jsonl) == "adm 640" ]] ||
  fail "a new log file is $(stat -c '%G %a' /var/log/dnswatch/probe.jsonl), want adm 640"
rm -f /var/log/dnswatch/probe.jsonl

# The unit and the programs it runs.
out=$(systemd-analyze verify /lib/systemd/system/dnswatch.service 2>&1) || fail "systemd-analyze verify: $out"
grep -q "dnswatch.service:" <<<"$out" && fail "systemd-analyze verify: $out"
/usr/bin/dnswatch --version | grep -q "^dnswatch " || fail "dnswatch --version"
/usr/bin/dnswatch check-config --config /etc/dnswatch/dnswatch.toml || fail "shipped config does not check"
if command -v logrotate >/dev/null; then
  logrotate --debug /etc/logrotate.d/dnswatch >/dev/null 2>&1 || fail "logrotate rejects its snippet"
fi
if command -v man >/dev/null; then
  man -P cat dnswatch-run 2>/dev/null | grep -q "dnswatch" || fail "man dnswatch-run"
fi

[[ -n ${KEEP:-} ]] && { echo "deb-test: installed (KEEP=1)"; trap - EXIT; exit 0; }
$SUDO dpkg --purge dnswatch >/dev/null || fail "dpkg --purge"
for f in /usr/bin/dnswatch /lib/systemd/system/dnswatch.service /etc/dnswatch /var/log/dnswatch /var/lib/dnswatch; do
  [[ ! -e $f ]] || fail "$f left after purge"
done
echo "deb-test: OK (installed, verified, purged)"
