#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan and UBSan), writes their seed
# corpora from the sample articles, and runs each target for SECONDS
# (default 60). A crash, a leak, a sanitizer report or an input slower
# than 10 s (KZ_FUZZ_TIMEOUT, for a campaign that shares a busy machine)
# fails the run; the input that did it is kept in
# build-fuzz/artifacts/. The last lines say how many inputs each ran.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     TARGET: query index jsonl text manifest html warc stats http
#   fuzz/run.sh --runs N [TARGET...]      N mutated inputs a target instead (10000000 for a long campaign)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time="${1:-60}")
what="${1:-60} s"
if [ "${1:-}" = "--runs" ]; then
    [ -n "${2:-}" ] || { echo "fuzz/run.sh: --runs takes a number of inputs" >&2; exit 2; }
    limit=(-runs="$2")
    what="$2 mutated inputs, after the corpus"
    shift
fi
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(query index jsonl text manifest html warc stats http)

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DKZ_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2 >/dev/null
rm -rf build-fuzz/seeds
python3 fuzz/make_seeds.py build-fuzz/kzsearch build-fuzz/seeds
mkdir -p build-fuzz/artifacts

declare -A max_len=([query]=512 [index]=65536 [jsonl]=8192 [text]=8192 [manifest]=4096 [html]=65536 [warc]=65536 [stats]=8192 [http]=16384)
summary=()
for t in "${targets[@]}"; do
    corpus=build-fuzz/corpus/$t
    mkdir -p "$corpus"
    log=build-fuzz/fuzz_$t.log
    echo "fuzz_$t: $what"
    status=0
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ./build-fuzz/fuzz_$t "${limit[@]}" -timeout="${KZ_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
        -max_len="${max_len[$t]}" -artifact_prefix=build-fuzz/artifacts/$t- -print_final_stats=1 \
        "$corpus" "build-fuzz/seeds/$t" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$status" -ne 0 ]; then
        tail -60 "$log"
        echo "fuzz_$t FAILED (exit $status) after ${runs:-?} inputs; see $log and build-fuzz/artifacts/"
        exit 1
    fi
    summary+=("fuzz_$t: ${runs:-?} inputs in $(( $(date +%s) - start )) s, no crash")
done
printf '%s\n' "${summary[@]}"
