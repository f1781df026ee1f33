#!/usr/bin/env bash
# Builds and runs every fuzz target for SECONDS_PER_TARGET seconds (default 60), one after the
# other. Fails on the first crash, leak, timeout or out-of-memory, leaving the input in
# fuzz/artifacts/<target>/. Prints each target's execution count and corpus size.
#
#   fuzz/run.sh            # about a minute per target (what CI runs)
#   fuzz/run.sh 600        # the ten-minute runs SECURITY.md cites
#   TARGETS="bearer" fuzz/run.sh 30
#   FUZZ_FLAGS="--dev --sanitizer none" fuzz/run.sh 60   # what CI runs: builds in a few minutes
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz if absent.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
targets="${TARGETS:-report cluster_objects bearer}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
# Extra `cargo fuzz build/run` flags. Every crate here forbids `unsafe`, so AddressSanitizer (the
# default) guards only dependencies; CI trades it and optimisation for a shorter build.
read -r -a flags <<<"${FUZZ_FLAGS:-}"
cargo +nightly fuzz build "${flags[@]}"

summary=()
for target in $targets; do
    # libFuzzer adds what it finds to the first directory; the committed seeds stay as they are.
    work="work/$target"
    mkdir -p "$work"
    log="work/$target.log"
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    # libFuzzer's last status line: `cov: <edges> ... corp: <inputs>/<bytes>`.
    corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    line="$target: ${runs:-?} executions in ${seconds}s, corpus ${corpus:-?} (inputs/size), coverage ${coverage:-?} edges"
    echo "$line"
    summary+=("$line")
done
echo "== no crash"
printf '%s\n' "${summary[@]}"
