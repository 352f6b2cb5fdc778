#!/usr/bin/env bash
# One-node Slurm cluster on localhost from Debian's packages, for testing a
# HealthCheckProgram.  Needs root and: munge slurmctld slurmd slurm-client.
#
#   cluster.sh start DIR PROGRAM   # PROGRAM: absolute path of the health check
#   cluster.sh stop DIR            # kills everything start started; idempotent
#   cluster.sh env DIR             # prints: export SLURM_CONF=DIR/slurm.conf
#
# Tunables (environment): LAB_HC_INTERVAL (HealthCheckInterval, default 1),
# LAB_CTLD_PORT (default 16817), LAB_SLURMD_PORT (default 16818),
# LAB_START_TIMEOUT (seconds to wait for the node to answer, default 100;
# slurmd runs PROGRAM once, synchronously, before it registers, and may wait
# up to 60 s for it), LAB_WAIT_STATE (regex the sinfo %T state must match,
# default: any responding state, e.g. idle|drained|mixed...),
# LAB_RTS (ReturnToService, default 1; 2 turns an admin DOWN back to IDLE
# within a second, because every health-check RPC counts as a response),
# LAB_ETC_CONF (default 1: symlink /etc/slurm/slurm.conf -> DIR/slurm.conf when
# /etc/slurm/slurm.conf is absent, removed by stop; PROGRAM gets an environment
# with only SLURMD_NODENAME, so scontrol inside it finds the config only there),
# LAB_EXTRA_CONF (extra lines appended to slurm.conf).
set -u

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { echo "usage: $0 start DIR PROGRAM | stop DIR | env DIR" >&2; exit 2; }

# true when pid is alive and not a zombie
alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pids of processes that belong to the cluster in DIR: our daemons carry
# SLURM_LAB_DIR=DIR; slurmstepd and job processes carry SLURM_CONF=DIR/slurm.conf
# (jobs also SLURM_JOB_ID).  This shell and its ancestors are never listed, so a
# caller that exported SLURM_CONF is safe.
marked_pids() {
    local dir=$1 p a skip=" $$ ${BASHPID:-} " env comm
    a=$$
    while [ -n "$a" ] && [ "$a" -gt 1 ]; do
        a=$(ps -o ppid= -p "$a" 2>/dev/null | tr -d ' ')
        skip="$skip$a "
    done
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        case $skip in *" $p "*) continue ;; esac
        alive "$p" || continue
        env=$({ tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null) || continue
        comm=$(cat "/proc/$p/comm" 2>/dev/null)
        if grep -qxF "SLURM_LAB_DIR=$dir" <<<"$env"; then
            echo "$p"
        elif grep -qxF "SLURM_CONF=$dir/slurm.conf" <<<"$env" &&
            { [[ $comm == slurmstepd* ]] || grep -q '^SLURM_JOB_ID=' <<<"$env"; }; then
            echo "$p"
        fi
    done
}

# kill pids: TERM, wait up to $2 s, then KILL
kill_wait() {
    local secs=$1; shift
    local p left i
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    for ((i = 0; i < secs * 10; i++)); do
        left=
        for p in "$@"; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    sleep 0.2
}

# pids of all descendants of the given pids, and the process groups they lead
descendants() {
    ps -e -o pid=,ppid= 2>/dev/null | awk -v roots=" $* " '
        { kids[$2] = kids[$2] " " $1 }
        END {
            n = split(roots, q, " ")
            for (i = 1; i <= n; i++) {
                split(kids[q[i]], k, " ")
                for (j in k) if (k[j] != "") { print k[j]; q[++n] = k[j] }
            }
        }'
}

cmd_stop() {
    local dir=$1 f p kids="" left
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd -P)
    # cancel jobs first so slurmd tears their steps down
    p=$(cat "$dir/run/slurmctld.pid" 2>/dev/null)
    if [ -n "$p" ] && alive "$p" && [ -f "$dir/slurm.conf" ]; then
        SLURM_CONF=$dir/slurm.conf timeout 5 scancel --quiet --full \
            -w "$(cat "$dir/run/nodename" 2>/dev/null)" >/dev/null 2>&1
        sleep 0.5
        # no controller, no more health-check RPCs
        kill_wait 10 "$p"
    fi
    p=$(cat "$dir/run/slurmd.pid" 2>/dev/null)
    if [ -n "$p" ] && alive "$p"; then
        # freeze slurmd, note its children (health checks run in their own
        # process groups with an empty environment), then end them all
        kill -STOP "$p" 2>/dev/null
        kids=$(descendants "$p")
        kill -TERM "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null
        for f in $kids; do
            f=$(ps -o pgid= -p "$f" 2>/dev/null | tr -d ' ')
            [ -n "$f" ] && [ "$f" != "$p" ] && kill -TERM -- "-$f" 2>/dev/null
        done
        # shellcheck disable=SC2086
        kill_wait 10 "$p" $kids
    fi
    # leftovers: slurmstepd and job processes carry SLURM_CONF=DIR/slurm.conf
    # shellcheck disable=SC2046
    kill_wait 5 $(marked_pids "$dir")
    p=$(cat "$dir/run/munged.pid" 2>/dev/null)
    [ -n "$p" ] && alive "$p" && kill_wait 5 "$p"
    # shellcheck disable=SC2046
    kill_wait 2 $(marked_pids "$dir")
    rm -f "$dir"/run/*.pid
    if [ -f "$dir/run/etc-link" ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$dir/slurm.conf" ]; then
        rm -f /etc/slurm/slurm.conf
    fi
    rm -f "$dir/run/etc-link"
    left=$(marked_pids "$dir")
    [ -z "$left" ] || { echo "cluster.sh: still running: $left" >&2; return 1; }
    return 0
}

cmd_start() {
    local dir=$1 prog=$2
    local node cpus i f b state t0=$SECONDS
    local interval=${LAB_HC_INTERVAL:-1}
    local cport=${LAB_CTLD_PORT:-16817} dport=${LAB_SLURMD_PORT:-16818}
    local tmo=${LAB_START_TIMEOUT:-100}
    local want=${LAB_WAIT_STATE:-'^(idle|drained|draining|mixed|allocated|completing)$'}
    [ "$(id -u)" = 0 ] || die "must run as root"
    for b in munged mungekey slurmctld slurmd sinfo scontrol; do
        command -v "$b" >/dev/null || die "missing $b (apt-get install munge slurmctld slurmd slurm-client)"
    done
    case $prog in /*) ;; *) prog=$(realpath -m "$prog") ;; esac
    [ -x "$prog" ] || die "PROGRAM $prog is not executable"
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd -P)
    case $dir in *[[:space:]]*) die "DIR must not contain whitespace" ;; esac
    cmd_stop "$dir" >/dev/null 2>&1
    rm -rf "$dir/munge" "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
    chmod 755 "$dir/munge"

    node=$(hostname -s 2>/dev/null); [ -n "$node" ] || node=localhost
    echo "$node" > "$dir/run/nodename"
    cpus=$(slurmd -C 2>/dev/null | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
    [ -n "$cpus" ] || cpus=$(nproc)

    local denv="SLURM_LAB_DIR=$dir SLURM_CONF=$dir/slurm.conf"
    cd / || die "cd /"   # daemons (and so PROGRAM) run with cwd /, as under systemd

    # munge: own key, socket, pid, log, seed
    mungekey -c -f -k "$dir/munge/munge.key" >/dev/null 2>&1 || die "mungekey failed"
    chmod 600 "$dir/munge/munge.key"
    env $denv setsid munged -F -f -S "$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" --log-file="$dir/log/munged.log" \
        --pid-file="$dir/run/munged.pid" --seed-file="$dir/munge/munged.seed" \
        </dev/null >>"$dir/log/munged.out" 2>&1 &
    echo $! > "$dir/run/munged.pid"
    for ((i = 0; i < 50; i++)); do
        timeout 5 munge -S "$dir/munge/munge.socket" -n 2>/dev/null |
            timeout 5 unmunge -S "$dir/munge/munge.socket" >/dev/null 2>&1 && break
        sleep 0.1
    done
    [ "$i" -lt 50 ] || { cmd_stop "$dir"; die "munged did not come up (see $dir/log/munged.*)"; }

    cat > "$dir/slurm.conf" <<EOF
ClusterName=lab
SlurmctldHost=localhost
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=debug
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=${LAB_RTS:-1}
HealthCheckProgram=$prog
HealthCheckInterval=$interval
HealthCheckNodeState=ANY
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
${LAB_EXTRA_CONF:-}
EOF

    if [ "${LAB_ETC_CONF:-1}" = 1 ]; then
        # take it only when absent or a dangling link (a stopped lab's)
        if [ ! -e /etc/slurm/slurm.conf ]; then
            mkdir -p /etc/slurm && ln -sfn "$dir/slurm.conf" /etc/slurm/slurm.conf &&
                echo "$dir/slurm.conf" > "$dir/run/etc-link"
        else
            echo "cluster.sh: /etc/slurm/slurm.conf exists; not replacing it" >&2
        fi
    fi

    env $denv setsid slurmctld -D -i -f "$dir/slurm.conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
    echo $! > "$dir/run/slurmctld.pid"
    env $denv setsid slurmd -D -N "$node" -f "$dir/slurm.conf" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
    echo $! > "$dir/run/slurmd.pid"

    state=
    while [ $((SECONDS - t0)) -lt "$tmo" ]; do
        for f in slurmctld slurmd; do
            alive "$(cat "$dir/run/$f.pid")" || {
                tail -n 5 "$dir/log/$f.log" "$dir/log/$f.out" >&2
                cmd_stop "$dir"; die "$f exited"; }
        done
        state=$(SLURM_CONF=$dir/slurm.conf timeout 5 sinfo -h -n "$node" -o %T 2>/dev/null | head -1)
        if [[ $state =~ $want ]]; then
            echo "cluster up in $((SECONDS - t0)) s: node $node state $state; export SLURM_CONF=$dir/slurm.conf"
            return 0
        fi
        sleep 0.2
    done
    cmd_stop "$dir"
    die "node $node not ready after $tmo s (last state: ${state:-none}); logs in $dir/log"
}

case ${1:-} in
start) [ $# -eq 3 ] || usage; cmd_start "$2" "$3" ;;
stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
env) [ $# -eq 2 ] || usage; echo "export SLURM_CONF=$(cd "$2" && pwd -P)/slurm.conf" ;;
*) usage ;;
esac
