#!/usr/bin/env bash
# Runs fuzz targets until their coverage stops growing, starting from the
# committed corpora and the seeds: each target runs
# until no new coverage has been found for PLATEAU seconds (default 600),
# or for at most LIMIT seconds (default 3600); then its corpus is minimized
# (libFuzzer's set-cover merge) and packed into tests/fuzz/corpus/<target>.bin.zst,
# which tests/fuzz_corpus.rs replays on the stable toolchain in CI. Needs
# python3 and zstd besides.
#
#   tests/fuzz/plateau.sh [TARGET...]        (default: every target)
#   PLATEAU=600 LIMIT=3600 JOBS=2 SANITIZER=none tests/fuzz/plateau.sh
#
# Needs the nightly toolchain and cargo-fuzz (see run-fuzz.sh). A line per
# target in target/fuzz-plateau/<target>.log: inputs run, coverage at the
# start and the end, and when coverage last grew.
set -euo pipefail
plateau="${PLATEAU:-600}"
limit="${LIMIT:-3600}"
jobs="${JOBS:-2}"
sanitizer="${SANITIZER:-none}"
# Under AddressSanitizer, campaigns run without its fake stacks (stack use
# after return, which safe Rust cannot express) and without recording where
# each allocation was made (a report still shows the bad access's stack):
# together 1.2x to 1.5x the inputs per second on the flow-table targets.
# asan-replay.sh runs every input kept with both checks on. ASAN_OPTIONS
# set by the caller wins.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=0:malloc_context_size=0}"
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
corpus="$root/target/fuzz-corpus"
logs="$root/target/fuzz-plateau"
mkdir -p "$logs"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decode fragments reassembly reassembler tls_stream datagrams certificate capture_file)
fi
cargo +nightly run --quiet --release --bin seed -- "$corpus"
# Resume from the committed minimized corpora: each input (after its length)
# becomes a file of the target's corpus, named by its content.
for t in "${targets[@]}"; do
    packed="./corpus/$t.bin.zst"
    [ -f "$packed" ] || continue
    zstd -dc "$packed" >"$corpus/$t.bin"
    python3 ./corpus-pack.py unpack "$corpus/$t.bin" "$corpus/$t"
    rm -f "$corpus/$t.bin"
done
for t in "${targets[@]}"; do
    cargo +nightly fuzz build --fuzz-dir . --sanitizer "$sanitizer" --debug-assertions "$t" >/dev/null
done
binary() { echo "target/x86_64-unknown-linux-gnu/release/$1"; }

# One target until its plateau: libFuzzer prints "cov: N" on every status
# line; the run is stopped once N has not grown for $plateau seconds.
run_one() {
    local t="$1" log="$logs/$1.log"
    local start last_growth best=-1 first=-1 now execs=0
    start=$(date +%s)
    last_growth=$start
    "$(binary "$t")" "$corpus/$t" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -max_total_time="$limit" -print_pcs=0 >"$log.raw" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 5
        now=$(date +%s)
        local line cov
        line=$(grep -E "cov: [0-9]+" "$log.raw" | tail -1 || true)
        cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$line")
        if [ -n "$cov" ]; then
            [ "$first" -lt 0 ] && first=$cov
            if [ "$cov" -gt "$best" ]; then
                best=$cov
                last_growth=$now
            fi
        fi
        if [ $((now - last_growth)) -ge "$plateau" ]; then
            kill -INT "$pid" 2>/dev/null || true
            break
        fi
    done
    wait "$pid" 2>/dev/null || true
    execs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log.raw" | tail -1)
    local speed
    speed=$(sed -nE 's/^stat::average_exec_per_sec: +([0-9]+)/\1/p' "$log.raw" | tail -1)
    echo "$t: ${execs:-?} inputs in $(( $(date +%s) - start )) s (${speed:-?}/s), coverage $first -> $best, last growth $((last_growth - start)) s after the start; sanitizer $sanitizer" | tee "$log"
    if grep -q "ERROR: libFuzzer\|==ERROR\|panicked" "$log.raw"; then
        echo "$t: the fuzzer found a crash, see $log.raw and tests/fuzz/artifacts/$t/" | tee -a "$log"
        return 1
    fi
    # Minimize into a fresh directory (the smallest set of inputs that keeps
    # every feature), then pack it for the repository: one file per target,
    # each input after its length (u32, little endian), zstd-compressed.
    local min="$corpus/$t.min"
    rm -rf "$min" && mkdir -p "$min"
    "$(binary "$t")" -set_cover_merge=1 -timeout=10 -rss_limit_mb=2048 "$min" "$corpus/$t" >"$log.merge" 2>&1
    mkdir -p ./corpus
    python3 ./corpus-pack.py pack "$min" "./corpus/$t.bin"
    zstd -19 -q -f --rm "./corpus/$t.bin" -o "./corpus/$t.bin.zst"
    echo "$t: minimized corpus of $(ls "$min" | wc -l) inputs, $(du -k "./corpus/$t.bin.zst" | cut -f1) KiB packed" | tee -a "$log"
}

running=0
status=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit "$status"
