#!/bin/bash
# submit.sh: builds a kzsearch index as N shards on a Slurm cluster and
# records them as one shard set (README.md beside this file).
#
#   submit.sh [-n N] [-c CPUS] [-w] SET_DIR SOURCE...
#
# Submits a job array of N tasks (build-shard.sbatch), task I building
# SET_DIR/shard.I, and a job that depends on all of them (make-set.sbatch,
# --dependency=afterok) checking every shard and writing the set SET_DIR.
# SET_DIR and the sources must be on a filesystem every node sees, at the
# same paths: relative paths are made absolute here.
#
#   -n N      shards (default 4)
#   -c CPUS   CPUs of each shard's task, its kzsearch --threads (default 1)
#   -w        wait until the set is written; exit with its job's status
#
# Environment: KZSEARCH (the kzsearch command on the nodes, default
# kzsearch), KZ_THREADS, KZ_MEMORY, KZ_INDEX_OPTS (build-shard.sbatch),
# KZ_SBATCH_OPTS (more sbatch options for both jobs, split on spaces:
# --partition=..., --time=..., --mem=...), and sbatch's own SBATCH_*
# variables. Logs go to SET_DIR/logs/.
set -u

here=$(cd "$(dirname "$0")" && pwd)
shards=4
cpus=1
wait=
usage() {
    echo "usage: $0 [-n SHARDS] [-c CPUS_PER_SHARD] [-w] SET_DIR SOURCE..." >&2
    exit 2
}
while getopts n:c:wh opt; do
    case $opt in
    n) shards=$OPTARG ;;
    c) cpus=$OPTARG ;;
    w) wait=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
case $shards in '' | *[!0-9]* | 0) echo "$0: -n wants a number of shards" >&2; exit 2 ;; esac
case $cpus in '' | *[!0-9]* | 0) echo "$0: -c wants a number of CPUs" >&2; exit 2 ;; esac
if [ "$shards" -gt 65536 ]; then
    echo "$0: at most 65,536 shards" >&2
    exit 2
fi

absolute() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
set_dir=$(absolute "$1")
shift
sources=()
for s in "$@"; do
    if [ "$s" = - ]; then
        echo "$0: standard input cannot be read by every node: name files or folders" >&2
        exit 2
    fi
    [ -e "$s" ] || echo "$0: warning: $s is not here; the nodes must see it" >&2
    sources+=("$(absolute "$s")")
done

mkdir -p "$set_dir/logs" || exit 2
export KZSEARCH=${KZSEARCH:-kzsearch}
# shellcheck disable=SC2086 # KZ_SBATCH_OPTS is a list of options
array=$(sbatch --parsable --export=ALL ${KZ_SBATCH_OPTS:-} --array=0-$((shards - 1)) --cpus-per-task="$cpus" \
    --output="$set_dir/logs/shard-%a.out" "$here/build-shard.sbatch" "$set_dir" "$shards" "${sources[@]}") || exit 2
array=${array%%;*} # "jobid;cluster" on a federation
echo "shards: job array $array, $shards tasks building $set_dir/shard.0 .. shard.$((shards - 1))"
# shellcheck disable=SC2086
set_job=$(sbatch --parsable --export=ALL ${KZ_SBATCH_OPTS:-} --dependency=afterok:"$array" --kill-on-invalid-dep=yes \
    --output="$set_dir/logs/set.out" ${wait:+--wait} "$here/make-set.sbatch" "$set_dir" "$shards")
status=$?
set_job=${set_job%%;*}
echo "set: job $set_job, after every shard: kzsearch check of each, then kzsearch shards create $set_dir"
[ -n "$wait" ] || exit $((status ? 2 : 0))

# sbatch --wait says 0 of a job cancelled before it started, as the set's
# is when a shard fails (--kill-on-invalid-dep): ask for its state (kept
# MinJobAge, 300 s by default, after it ends).
job_states() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
state=$(job_states "$set_job" | head -n 1)
if [ $status -ne 0 ] || { [ -n "$state" ] && [ "$state" != COMPLETED ]; }; then
    tasks=$(job_states "$array" | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')
    echo "$0: the set was not written (set job ${state:-exit $status}; shard tasks: ${tasks:-unknown}): see $set_dir/logs/" >&2
    exit 1
fi
echo "search them with: $KZSEARCH --index $set_dir QUERY"
