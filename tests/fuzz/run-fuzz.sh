#!/usr/bin/env bash
# Runs every fuzz target for a fixed time (default 60 s each) from seed
# corpora made from captures/, keeping what the fuzzer learns under
# target/fuzz-corpus/. Needs the nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Crashes land in tests/fuzz/artifacts/<target>/; turn each into a
# regression test before fixing it.
#
# By default the targets are built without a sanitizer but with debug
# assertions (overflow checks, std's UB checks): the crate forbids unsafe
# code, and this runs 4 to 6 times faster than AddressSanitizer. Set
# SANITIZER=address for a pass that also checks the dependencies' unsafe
# code for memory errors.
set -euo pipefail
seconds="${1:-60}"
sanitizer="${SANITIZER:-none}"
# Faster AddressSanitizer campaigns: see plateau.sh.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=0:malloc_context_size=0}"
cd "$(dirname "$0")"
corpus="$(cd ../.. && pwd)/target/fuzz-corpus"
cargo +nightly run --quiet --release --bin seed -- "$corpus"
for target in ${TARGETS:-decode fragments reassembly reassembler tls_stream datagrams certificate capture_file}; do
    echo "== $target: ${seconds}s, sanitizer $sanitizer"
    cargo +nightly fuzz run --fuzz-dir . --sanitizer "$sanitizer" --debug-assertions "$target" "$corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 2>&1 \
        | grep -E "^(stat::|Done|==|INFO: seed corpus|#[0-9]+ +DONE)" || true
done
