#!/usr/bin/env bash
# Runs every input of the committed minimized corpora once under
# AddressSanitizer (and its leak checker): the memory check of what the
# campaigns without a sanitizer found, including the dependencies' unsafe
# code, which tests/fuzz_corpus.rs replays on the stable toolchain without
# one. No fuzzing: each target reads its corpus and stops.
#
#   tests/fuzz/asan-replay.sh [TARGET...]      (default: every target)
#
# Needs the nightly toolchain, cargo-fuzz (see run-fuzz.sh), python3 and
# zstd. A line per target: inputs run, seconds, and whether all ran clean;
# the exit status is non-zero if any target failed. The logs stay in
# target/fuzz-asan-replay/.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
work="$root/target/fuzz-asan-replay"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decode fragments reassembly reassembler tls_stream datagrams certificate capture_file)
fi
mkdir -p "$work"
# Every check on, those the campaigns leave off for speed included.
export ASAN_OPTIONS="detect_stack_use_after_return=1:malloc_context_size=30:detect_leaks=1"
for t in "${targets[@]}"; do
    cargo +nightly fuzz build --fuzz-dir . --sanitizer address --debug-assertions "$t" >/dev/null
done
status=0
for t in "${targets[@]}"; do
    packed="./corpus/$t.bin.zst"
    if [ ! -f "$packed" ]; then
        echo "$t: no committed corpus ($packed)"
        status=1
        continue
    fi
    rm -rf "${work:?}/$t" && mkdir -p "$work/$t"
    zstd -dc "$packed" >"$work/$t.bin"
    python3 ./corpus-pack.py unpack "$work/$t.bin" "$work/$t"
    rm -f "$work/$t.bin"
    inputs=$(find "$work/$t" -type f | wc -l)
    start=$(date +%s)
    # -runs=0: the corpus is read and run, then the fuzzer stops.
    if "target/x86_64-unknown-linux-gnu/release/$t" "$work/$t" -runs=0 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$t-" >"$work/$t.log" 2>&1 && grep -q "INITED" "$work/$t.log"; then
        echo "$t: $inputs inputs in $(( $(date +%s) - start )) s under AddressSanitizer, all clean"
    else
        echo "$t: FAILED after $(( $(date +%s) - start )) s, see $work/$t.log"
        status=1
    fi
done
exit "$status"
