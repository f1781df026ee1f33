#!/usr/bin/env bash
# Builds and runs every fuzz target for SECONDS_PER_TARGET seconds (default 60), one after the
# other. Fails on the first crash, leak, timeout or out-of-memory, leaving the input in
# fuzz/artifacts/<target>/. Prints each target's execution count and corpus size.
#
#   fuzz/run.sh            # about a minute per target (what CI runs)
#   fuzz/run.sh 600        # the ten-minute runs SECURITY.md cites
#   TARGETS="bearer" fuzz/run.sh 30
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz if absent.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
targets="${TARGETS:-report cluster_objects bearer}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
cargo +nightly fuzz build

summary=()
for target in $targets; do
    # libFuzzer adds what it finds to the first directory; the committed seeds stay as they are.
    work="work/$target"
    mkdir -p "$work"
    log="work/$target.log"
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    corpus=$(find "$work" -type f | wc -l)
    line="$target: ${runs:-?} executions in ${seconds}s, corpus of $corpus inputs (+ $(find "corpus/$target" -type f | wc -l) seeds)"
    echo "$line"
    summary+=("$line")
done
echo "== no crash"
printf '%s\n' "${summary[@]}"
