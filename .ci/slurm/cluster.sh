# Single-node SLURM "cluster" for CI: source this file, then
#   slurm_install; slurm_start <state dir>; ...; slurm_stop
# munged, slurmctld and slurmd run in the foreground as background jobs of this shell, so
# slurm_stop ends exactly the processes slurm_start started, by PID. Needs root.

SLURM_CONF_PATH=/etc/slurm/slurm.conf   # fixed: the plugin's job step unsets SLURM_CONF
SLURM_MARK="# written by ecg-recon .ci/slurm/cluster.sh"
SLURM_PIDS=()

slurm_install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    echo "== installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

_slurm_write_conf() {  # $1 = state dir
    local dir=$1 cpus mem
    cpus=$(nproc)
    # Memory is only booked, not enforced (no cgroups): announce at least 64 GB so the
    # profile's full-PTB-XL requests (up to 32 GB) fit on a small CI machine.
    mem=$(awk '/MemTotal/ {m = int($2 / 1024 * 0.9); print (m > 64000 ? m : 64000)}' /proc/meminfo)
    cat >"$SLURM_CONF_PATH" <<EOF
$SLURM_MARK (state in $dir); removed by slurm_stop
ClusterName=ecgrecon-ci
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

slurm_start() {  # $1 = state dir (created; holds config state, spool, logs, munge socket)
    local dir=$1 i
    if [ -e "$SLURM_CONF_PATH" ] && ! grep -q "^$SLURM_MARK" "$SLURM_CONF_PATH"; then
        echo "ERROR: $SLURM_CONF_PATH exists and is not ours; refusing to overwrite it" >&2
        return 1
    fi
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge" /etc/slurm
    chmod 755 "$dir"
    if ! setpriv --reuid=munge --regid=munge --clear-groups -- test -x "$dir"; then
        echo "ERROR: user munge cannot reach $dir (make its parents world-searchable)" >&2
        return 1
    fi
    chown munge:munge "$dir/munge"
    chmod 755 "$dir/munge"   # munged requires o+x on its socket dir
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
    _slurm_write_conf "$dir"

    setpriv --reuid=munge --regid=munge --clear-groups -- /usr/sbin/munged --foreground \
        --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" --log-file="$dir/munge/munged.log" 2>>"$dir/munge/munged.out" &
    SLURM_PIDS+=($!)
    for i in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
    munge --socket="$dir/munge/munge.socket" -n | unmunge --socket="$dir/munge/munge.socket" >/dev/null

    /usr/sbin/slurmctld -D -i >>"$dir/slurmctld.out" 2>&1 &
    SLURM_PIDS+=($!)
    /usr/sbin/slurmd -D -N localhost >>"$dir/slurmd.out" 2>&1 &
    SLURM_PIDS+=($!)
    echo "== started munged, slurmctld, slurmd: PIDs ${SLURM_PIDS[*]} (state in $dir)"

    for i in $(seq 60); do
        if [ "$(sinfo -h -n localhost -o %t 2>/dev/null)" = "idle" ]; then
            sinfo
            return 0
        fi
        sleep 1
    done
    echo "ERROR: node never became idle; slurmctld log tail:" >&2
    tail -n 30 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir"/*.out >&2 || true
    return 1
}

slurm_stop() {  # end the daemons slurm_start started (by PID), remove our slurm.conf
    local pid i
    trap '' PIPE  # a closed stdout (e.g. a killed pager) must not abort the clean-up
    if [ ${#SLURM_PIDS[@]} -gt 0 ]; then timeout 10 scancel --user "$(id -un)" 2>/dev/null || true; fi
    for pid in "${SLURM_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${SLURM_PIDS[@]}"; do
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ ${#SLURM_PIDS[@]} -gt 0 ]; then echo "== stopped SLURM daemons ${SLURM_PIDS[*]}"; fi
    SLURM_PIDS=()
    if [ -e "$SLURM_CONF_PATH" ] && grep -q "^$SLURM_MARK" "$SLURM_CONF_PATH"; then rm -f "$SLURM_CONF_PATH"; fi
}
