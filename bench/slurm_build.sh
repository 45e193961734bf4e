#!/bin/bash
# slurm_build.sh: the wall time of building N shards as a Slurm job array
# (contrib/slurm/build-shard.sbatch) on this machine, against one
# 'kzsearch index --threads T' of the same input, in the same run.
#
# Usage: bench/slurm_build.sh KZSEARCH [CORPUS] [RUNS]
#   CORPUS  what to index (default ../shared/data/scifact/corpus.jsonl)
#   RUNS    runs of each (default 3); the medians and their ratio are printed
# Environment:
#   SHARDS    shards of the array (default 4)
#   THREADS   --threads of the single index (default: this machine's CPUs)
#   VARIANTS  the arrays to time, each CPUS:THREADS, the task's
#             --cpus-per-task and its kzsearch --threads (default "1:1 1:2 2:2")
#
# Starts its own one-node cluster (contrib/slurm/local-cluster.sh; root,
# slurm-wlm and munge) and stops it on exit; exits 77 when it cannot. An
# array's wall time runs from just before sbatch to the end of its last
# task as the task itself records it (build-shard.sbatch's "finished at"),
# so it counts Slurm's scheduling but not the polling of the queue. The
# single index and the arrays run in turn, their order rotating from run
# to run, so that a drift of the machine's speed falls on all of them.
# Nothing is asserted: it measures.
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 KZSEARCH [CORPUS] [RUNS]" >&2
    exit 2
fi
case $1 in /*) KZ=$1 ;; *) KZ=$PWD/$1 ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${2:-$SRC/../shared/data/scifact/corpus.jsonl}
RUNS=${3:-3}
SHARDS=${SHARDS:-4}
THREADS=${THREADS:-$(nproc)}
VARIANTS=${VARIANTS:-1:1 1:2 2:2}
case $CORPUS in /*) ;; *) CORPUS=$PWD/$CORPUS ;; esac
[ -x "$KZ" ] || { echo "$0: $KZ is not a program" >&2; exit 2; }
[ -r "$CORPUS" ] || { echo "$0: cannot read $CORPUS" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kz-slurm-bench.XXXXXX") || exit 2
chmod 755 "$T"
CLUSTER=$SRC/contrib/slurm/local-cluster.sh
stop() {
    "$CLUSTER" stop "$T/cluster"
    rm -rf "$T"
}
trap stop EXIT
trap 'exit 130' INT TERM
"$CLUSTER" start "$T/cluster" || exit $?
export SLURM_CONF=$T/cluster/slurm.conf

now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# single THREADS: one kzsearch index of the corpus; prints its wall and
# CPU (user + system) seconds.
single() {
    local TIMEFORMAT='%R %U %S' times
    rm -rf "$T/single"
    times=$({ time "$KZ" index -q --threads "$1" -o "$T/single" "$CORPUS" >/dev/null 2>"$T/single.err"; } 2>&1) ||
        { echo "$0: kzsearch index failed: $(cat "$T/single.err")" >&2; exit 1; }
    echo "$times" | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }'
}

# array CPUS THREADS: the job array; prints its wall seconds (sbatch to
# the end of the last task), the sum of its tasks' wall seconds, and of
# their CPU seconds.
array() {
    local cpus=$1 threads=$2 t0 job last
    rm -rf "$T/set"
    mkdir -p "$T/set/logs"
    t0=$(now)
    job=$(KZSEARCH=$KZ KZ_THREADS=$threads sbatch --parsable --export=ALL --array=0-$((SHARDS - 1)) \
        --cpus-per-task="$cpus" --output="$T/set/logs/shard-%a.out" "$SRC/contrib/slurm/build-shard.sbatch" \
        "$T/set" "$SHARDS" "$CORPUS") || { echo "$0: sbatch failed" >&2; exit 1; }
    while [ -n "$(squeue -h -j "${job%%;*}" 2>/dev/null)" ]; do
        sleep 0.2
    done
    if [ "$(grep -l '^shard .*: built ' "$T"/set/logs/shard-*.out 2>/dev/null | wc -l)" -ne "$SHARDS" ]; then
        echo "$0: a shard was not built:" >&2
        cat "$T"/set/logs/shard-*.out >&2
        exit 1
    fi
    last=$(sed -n 's/.*(finished at \([0-9.]*\))$/\1/p' "$T"/set/logs/shard-*.out | sort -g | tail -n 1)
    echo "$(minus "$last" "$t0") $(sed -n 's/^shard .*: built .* in \([0-9.]*\) s, \([0-9.]*\) s of CPU.*/\1 \2/p' \
        "$T"/set/logs/shard-*.out | awk '{ w += $1; c += $2 } END { printf "%.3f %.3f", w, c }')"
}

echo "corpus $CORPUS ($(du -h "$CORPUS" | cut -f1)), $RUNS runs, $(nproc) CPUs, $SHARDS shards; load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall work cpu
names=(single single1)
for v in $VARIANTS; do names+=("$v"); done
for ((r = 0; r < RUNS; r++)); do
    for ((k = 0; k < ${#names[@]}; k++)); do
        name=${names[$(((k + r) % ${#names[@]}))]}
        if [ "$name" = single ] || [ "$name" = single1 ]; then
            threads=$THREADS
            [ "$name" = single1 ] && threads=1
            read -r s c < <(single "$threads")
            [ -n "${c:-}" ] || exit 1
            echo "run $((r + 1)): kzsearch index --threads $threads: $s s, $c s of CPU"
        else
            read -r s w c < <(array "${name%%:*}" "${name##*:}")
            [ -n "${c:-}" ] || exit 1
            work[$name]+=" $w"
            echo "run $((r + 1)): array of $SHARDS, --cpus-per-task ${name%%:*} --threads ${name##*:}: $s s; its tasks $w s, $c s of CPU"
        fi
        wall[$name]+=" $s"
        cpu[$name]+=" $c"
    done
done

one=$(echo "${wall[single]}" | median)
one_cpu=$(echo "${cpu[single]}" | median)
one1=$(echo "${wall[single1]}" | median)
one1_cpu=$(echo "${cpu[single1]}" | median)
echo
echo "medians of $RUNS runs; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-56s %8s %7s %9s %7s\n' "" wall ratio CPU ratio
row() { # name wall cpu
    printf '%-56s %7.2fs %6.2fx %8.2fs %6.2fx\n' "$1" "$2" "$(awk -v a="$2" -v b="$one" 'BEGIN { print a / b }')" \
        "$3" "$(awk -v a="$3" -v b="$one_cpu" 'BEGIN { print a / b }')"
}
row "kzsearch index --threads $THREADS" "$one" "$one_cpu"
row "kzsearch index --threads 1" "$one1" "$one1_cpu"
for v in $VARIANTS; do
    row "array of $SHARDS, --cpus-per-task ${v%%:*}, kzsearch --threads ${v##*:}" \
        "$(echo "${wall[$v]}" | median)" "$(echo "${cpu[$v]}" | median)"
done

# The arithmetic of N nodes, from CPU seconds (which a busy machine
# disturbs less than wall seconds), with one thread a shard: each task
# reads all the input (R) and does 1/SHARDS of the rest (I), so the tasks
# add up to SHARDS*R + I and one index in one thread to R + I. On N nodes,
# one shard each, the build takes about S + R + I/N, S the scheduling.
case " $VARIANTS " in
*" 1:1 "*)
    awk -v n="$SHARDS" -v sum="$(echo "${cpu[1:1]}" | median)" -v one1="$one1_cpu" \
        -v m="$(echo "${wall[1:1]}" | median)" -v w="$(echo "${work[1:1]}" | median)" -v c="$(nproc)" 'BEGIN {
        r = (sum - one1) / (n - 1); if (r < 0) r = 0; i = one1 - r
        s = m - w / c; if (s < 0) s = 0
        printf "\none thread, CPU seconds: each shard pays R = %.2f s whatever N (start, read and parse all the input, sync);\n", r
        printf "the rest of one index is I = %.2f s. On N nodes, one shard each: about S + R + I/N, S the scheduling\n", i
        printf "(here %.1f s: the array'"'"'s wall time less its tasks'"'"' over %d CPUs)\n", s, c
        for (k = 1; k <= 64; k *= 4)
            printf "  N = %2d: %7.2f s + S, %4.1fx one index in one thread (%.2f s)\n", k, r + i / k, one1 / (r + i / k), one1
    }'
    ;;
esac
