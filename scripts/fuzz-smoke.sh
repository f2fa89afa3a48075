#!/usr/bin/env bash
# CI smoke run of the cargo-fuzz targets (see docs/fuzzing.md):
#   1. installs cargo-fuzz if missing,
#   2. builds every target on the stable toolchain (no sanitizer: ASan needs
#      nightly's -Zsanitizer; set FUZZ_SANITIZER=address on nightly), as an
#      unoptimised dev build by default: a cold dev build takes under 2 min on
#      2 cores against 6-7 min for release, and 20 s of unoptimised fuzzing
#      still replays the whole seed corpus (FUZZ_PROFILE=release for speed),
#   3. seeds fuzz/corpus/ from the captures (scripts/fuzz-seeds.sh),
#   4. replays every saved crash in fuzz/regressions/<target>-*,
#   5. fuzzes each target for FUZZ_SECONDS (default 20) seconds.
# Exits non-zero on a build failure or any crash, leak, timeout or OOM; the
# input that failed is left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh                       # all targets, 20 s each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh dns_message defrag
#
# Environment: FUZZ_SECONDS, FUZZ_PROFILE (dev or release, default dev),
# FUZZ_JOBS (targets fuzzed at once, default 2), FUZZ_SANITIZER (default none), FUZZ_TIMEOUT
# (seconds per input before libFuzzer calls it a hang, default 10),
# DNSWATCH_CORPUS (capture directory for the seeds).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
timeout_s="${FUZZ_TIMEOUT:-10}"
case "${FUZZ_PROFILE:-dev}" in
    dev) profile=--dev ;;
    release) profile=--release ;;
    *) echo "fuzz-smoke: FUZZ_PROFILE must be dev or release" >&2; exit 2 ;;
esac
all_targets=(decode_packet dns_message tcp_reassembly defrag config_parse capture_reader dnstap dnssec_rdata)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

# Extra libFuzzer options per target.
opts_for() {
    case "$1" in
        decode_packet) echo "-max_len=16384 -dict=dicts/decode_packet.dict" ;;
        capture_reader) echo "-max_len=65536 -dict=dicts/capture_reader.dict" ;;
        dnstap) echo "-max_len=16384" ;;
        *) echo "" ;;
    esac
}

start=$(date +%s)
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    # A dev build: it only drives cargo and libFuzzer, and compiles in a
    # fraction of a release install's CPU on a fresh CI machine.
    cargo install cargo-fuzz --locked --debug
fi

echo "fuzz-smoke: building ${targets[*]} ($profile, sanitizer: $sanitizer)"
if [ "$#" -gt 0 ]; then
    for t in "${targets[@]}"; do cargo fuzz build "$profile" -s "$sanitizer" "$t"; done
else
    cargo fuzz build "$profile" -s "$sanitizer" # all targets in one cargo run
fi
built=$(date +%s)
echo "fuzz-smoke: build took $((built - start)) s"

"$root/scripts/fuzz-seeds.sh"

# One target: its saved regressions, then FUZZ_SECONDS of fuzzing. Output
# goes to a log printed when the target ends (two run at once); a failure
# leaves a file in $status.
status="$(mktemp -d)"
trap 'rm -rf "$status"' EXIT
smoke_one() {
    local t=$1 log="$status/$1.log" regs=()
    while IFS= read -r f; do regs+=("$f"); done < <(find regressions -maxdepth 1 -type f -name "$t-*" | sort)
    if [ "${#regs[@]}" -gt 0 ]; then
        echo "fuzz-smoke: $t: replaying ${#regs[@]} regression input(s)" >>"$log"
        # shellcheck disable=SC2046
        if ! cargo fuzz run "$profile" -s "$sanitizer" "$t" "${regs[@]}" -- -runs=1 $(opts_for "$t") >>"$log" 2>&1; then
            tail -n 60 "$log"
            echo "$t (regression)" >"$status/$t.failed"
        fi
    fi
    mkdir -p "corpus/$t"
    # shellcheck disable=SC2046
    if cargo fuzz run "$profile" -s "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout="$timeout_s" -print_final_stats=1 \
        $(opts_for "$t") >"$log.run" 2>&1; then
        echo "fuzz-smoke: $t: fuzzed for ${seconds} s"
        grep -E '^(Done|stat::|#[0-9]+ +DONE)' "$log.run" || true
    else
        echo "fuzz-smoke: $t: FAILED after fuzzing"
        tail -n 60 "$log.run"
        echo "$t" >>"$status/$t.failed"
    fi
}

# libFuzzer runs one process per target: two targets at a time use both
# cores of the CI machine, each still fuzzed for the full FUZZ_SECONDS.
jobs="${FUZZ_JOBS:-2}"
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    smoke_one "$t" &
done
wait
failed=()
for f in "$status"/*.failed; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do failed+=("$line"); done <"$f"
done

echo "fuzz-smoke: total $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets, no crash"
