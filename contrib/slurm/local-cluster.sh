#!/bin/bash
# local-cluster.sh: a throwaway Slurm cluster of one node, this machine,
# to try the recipe (submit.sh) without a cluster, and for its test
# (tests/slurm/run.sh) and benchmark (bench/slurm_build.sh).
#
#   local-cluster.sh start DIR    # then: export SLURM_CONF=DIR/slurm.conf
#   local-cluster.sh stop DIR     # cancels its jobs, stops its daemons
#
# Needs root and Debian's packages: apt-get install -y slurm-wlm munge.
# Everything lives in DIR (created; it must not hold anything else, and
# the munge user must be able to reach it): the munge key and socket, slurm.conf, state, spool, logs and pid files.
# munged runs as the munge user on its own socket and the Slurm daemons on
# two free ports, so nothing in /etc or /run is touched and a munge or a
# Slurm already running is left alone. The node, "localhost", has this
# machine's CPUs in one default partition, "main".
#
# start exits 0 once the node is idle, 77 when the cluster cannot start
# (not root, packages missing, a daemon fails: why is on stderr, with the
# tail of the logs; whatever it started is stopped again), 2 on misuse.
set -u

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
case $2 in /*) D=$2 ;; *) D=$PWD/$2 ;; esac
export SLURM_CONF=$D/slurm.conf

# Stops what start started in D, each daemon by the pid it recorded.
stop() {
    local f p i
    if [ -s "$D/run/slurmctld.pid" ] && kill -0 "$(cat "$D/run/slurmctld.pid")" 2>/dev/null; then
        scancel --quiet --full --user="$(id -un)" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            [ -z "$(squeue -h 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    for f in "$D/run/slurmd.pid" "$D/run/slurmctld.pid" "$D/munge/munged.pid"; do
        [ -s "$f" ] || continue
        p=$(cat "$f")
        if kill "$p" 2>/dev/null; then
            for ((i = 0; i < 50; i++)); do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$p" 2>/dev/null
        fi
        rm -f "$f"
    done
}

# Gives up: why, the tail of the logs, and what was started stopped.
cannot() {
    local f
    echo "local-cluster: $*" >&2
    for f in "$D"/munge/munged.log "$D"/log/*.log; do
        [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; } >&2
    done
    stop
    exit 77
}

case $cmd in
stop)
    stop
    exit 0
    ;;
start) ;;
*) usage ;;
esac

[ "$(id -u)" = 0 ] || cannot "not root: munged and slurmd need root"
for c in munged munge unmunge slurmctld slurmd sbatch sinfo squeue scancel runuser; do
    command -v $c >/dev/null || cannot "$c not found (apt-get install -y slurm-wlm munge)"
done
id munge >/dev/null 2>&1 || cannot "no munge user (apt-get install -y munge)"

mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log" "$D/run" || exit 2
# munged, as munge, must reach its folder, and refuses one others may write.
chmod 755 "$D" "$D/munge"
runuser -u munge -- test -x "$D/munge" || cannot "the munge user cannot reach $D: make its parents searchable (chmod o+x)"
mungekey --create --keyfile="$D/munge/munge.key" 2>/dev/null ||
    dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 2>/dev/null
if ! chown -R munge:munge "$D/munge" || ! chmod 400 "$D/munge/munge.key"; then
    cannot "cannot give munge its key"
fi
socket=$D/munge/munge.socket
runuser -u munge -- munged --socket="$socket" --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
    --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" || cannot "munged does not start"
munge -n -S "$socket" | unmunge -S "$socket" >/dev/null 2>&1 || cannot "munge does not answer"

# Two free TCP ports, one after the other: nothing answers on them.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=
for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 30000))
    if port_free $p && port_free $((p + 1)); then
        port=$p
        break
    fi
done
[ -n "$port" ] || cannot "no two free ports"

# batch_sched_delay=0: a job is started when submitted, not up to 3 s later.
cat >"$SLURM_CONF" <<EOF
ClusterName=kzlocal
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc)
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -i || cannot "slurmctld does not start"
slurmd -N localhost || cannot "slurmd does not start"
state=
for ((i = 0; i < 60; i++)); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || cannot "the node is not idle after 30 s (sinfo says '$state')"
echo "local-cluster: node localhost, $(nproc) CPUs, idle (slurmctld on port $port); export SLURM_CONF=$SLURM_CONF" >&2
