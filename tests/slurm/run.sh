#!/bin/bash
# run.sh: the Slurm recipe (contrib/slurm/) on a real, single-node Slurm
# cluster started here from Debian's packages (slurm-wlm, munge).
#
# Usage: tests/slurm/run.sh KZSEARCH [SCIFACT_DIR]
#
# Starts munged and a one-node cluster (slurmctld, slurmd) with
# contrib/slurm/local-cluster.sh, all state under a temporary folder and
# every daemon on its own socket or port, so that nothing in /etc or /run
# is touched and a Slurm or munge already running is left alone. Runs contrib/slurm/submit.sh on scifact with 4 shards (a
# job array, then the job that checks every shard and writes the set),
# builds one index of the same corpus, and compares, for the first 50
# scifact queries, 'kzsearch --index SET --json -n 10 Q' with the same
# search of the single index, byte for byte after removing two fields that
# legitimately differ: took_ms (time) and docid (a set numbers documents in
# shard order, one index in input order). Stops every daemon it started
# and removes its folder, on any exit.
#
# Exit status: 0 passed, 1 failed, 77 skipped (not root, Slurm or munge not
# installed, no scifact, or the cluster does not start), 2 a usage error.
# The last line is "N passed, N failed" (or "SKIP: why").
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 KZSEARCH [SCIFACT_DIR]" >&2
    exit 2
fi
case $1 in /*) KZ=$1 ;; *) KZ=$PWD/$1 ;; esac
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${2:-$SRC/../shared/data/scifact}
SHARDS=4
QUERIES=50

skip() {
    echo "SKIP: $*"
    exit 77
}
[ -x "$KZ" ] || { echo "$0: $KZ is not a program" >&2; exit 2; }
if [ ! -r "$DATA/corpus.jsonl" ] || [ ! -r "$DATA/queries.tsv" ]; then
    skip "no scifact corpus in $DATA"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/kz-slurm.XXXXXX") || exit 2
chmod 755 "$T" # munged runs as munge and must reach the cluster's folder in it
CLUSTER=$SRC/contrib/slurm/local-cluster.sh
stop() {
    "$CLUSTER" stop "$T/cluster"
    rm -rf "$T"
}
trap stop EXIT
trap 'exit 130' INT TERM

"$CLUSTER" start "$T/cluster"
status=$?
[ $status -eq 77 ] && skip "the Slurm cluster does not start (above)"
[ $status -eq 0 ] || exit 2
export SLURM_CONF=$T/cluster/slurm.conf

# ---------------------------------------------------------------- the recipe

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "ok   $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     | /'
}
# verdict STATUS OK_WHAT FAIL_WHAT [DETAIL]: pass when STATUS is 0.
verdict() {
    if [ "$1" -eq 0 ]; then
        pass "$2"
    else
        fail "$3" "${4:-}"
    fi
}

# The shared input: on a cluster, a file on the filesystem every node sees.
mkdir -p "$T/input" && cp "$DATA/corpus.jsonl" "$T/input/scifact.jsonl" || exit 2
SET=$T/set
start=$(date +%s.%N)
KZSEARCH=$KZ "$SRC/contrib/slurm/submit.sh" -n $SHARDS -w "$SET" "$T/input/scifact.jsonl" >"$T/submit.out" 2>&1
status=$?
end=$(date +%s.%N)
cat "$T/submit.out"
if [ $status -eq 0 ]; then
    pass "submit.sh: $SHARDS shards and the set in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
else
    fail "submit.sh: exit $status" "$(tail -n 20 "$T"/set/logs/* "$T"/cluster/log/* 2>/dev/null)"
fi
built=$(grep -l "^shard [0-9]* of $SHARDS: built" "$SET"/logs/shard-*.out 2>/dev/null | wc -l)
[ "$built" -eq $SHARDS ]
verdict $? "every task of the array built its shard" "$built of $SHARDS shards built" \
    "$(cat "$SET"/logs/shard-*.out 2>/dev/null)"
checked=$(grep -c '^ok' "$SET/logs/set.out" 2>/dev/null)
[ "${checked:-0}" -eq $SHARDS ]
verdict $? "the dependent job checked every shard" "the dependent job checked ${checked:-0} of $SHARDS shards" \
    "$(cat "$SET/logs/set.out" 2>/dev/null)"

"$KZ" index -q --threads 2 -o "$T/single" "$T/input/scifact.jsonl" || fail "kzsearch index of the single index"
docs_set=$("$KZ" stats --index "$SET" 2>/dev/null | awk '$1 == "documents" { print $2; exit }')
docs_one=$("$KZ" stats --index "$T/single" 2>/dev/null | awk '$1 == "documents" { print $2; exit }')
[ -n "$docs_set" ] && [ "$docs_set" = "$docs_one" ]
verdict $? "the set holds the $docs_one documents" "the set holds '$docs_set' documents, the single index '$docs_one'"

# The same search of both, less the two fields that may differ.
strip() { sed -e 's/"took_ms": [0-9.e+-]*, //' -e 's/"docid": [0-9]*, //g'; }
same=0
differ=0
while IFS= read -r q; do
    "$KZ" --index "$SET" --json -n 10 -- "$q" | strip >"$T/a.json"
    "$KZ" --index "$T/single" --json -n 10 -- "$q" | strip >"$T/b.json"
    if [ -s "$T/b.json" ] && cmp -s "$T/a.json" "$T/b.json"; then
        same=$((same + 1))
    else
        differ=$((differ + 1))
        [ $differ -le 3 ] && fail "the set answers \"$q\" otherwise" "$(diff "$T/b.json" "$T/a.json" | head -n 20)"
    fi
done < <(head -n $QUERIES "$DATA/queries.tsv" | cut -f 2)
[ $same -eq $QUERIES ]
verdict $? "the set answers the first $QUERIES scifact queries as the single index (JSON, -n 10)" \
    "$differ of $QUERIES queries answered otherwise"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
