#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm tests (root and Debian's slurm-wlm + munge):
#   eval "$(bash scripts/slurm_local.sh start DIR)"    # prints: export SLURM_CONF=DIR/slurm.conf
#   bash scripts/slurm_local.sh stop DIR
# One partition "debug" with this machine's CPUs and memory; state and logs under DIR.
set -euo pipefail
action=$1 dir=$(mkdir -p "$2" && cd "$2" && pwd)
if [ "$action" = stop ]; then
    SLURM_CONF=$dir/slurm.conf scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
    pkill -f -- "-f $dir/slurm.conf" 2>/dev/null || true
    for _ in $(seq 20); do pgrep -f -- "-f $dir/slurm.conf" >/dev/null || break; sleep 0.5; done
    pkill -9 -f -- "-f $dir/slurm.conf" 2>/dev/null || true
    pkill -9 -x slurmstepd 2>/dev/null || true  # job steps outlive their slurmd; only one such cluster runs here
    if [ -f "$dir/munged-started" ]; then  # munged too, where start started it (not one the machine ran before)
        pkill -x munged 2>/dev/null || true
        for _ in $(seq 20); do pgrep -x munged >/dev/null || break; sleep 0.5; done
        rm -f "$dir/munged-started"
    fi
    exit 0
fi
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || pgrep -x slurmstepd >/dev/null; then
    echo "a Slurm daemon already runs on this machine; stop it first (scripts/slurm_local.sh stop DIR)" >&2
    exit 1
fi
host=$(hostname -s)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$dir/state" "$dir/spool"
cat > "$dir/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
KillWait=30
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=$(getconf _NPROCESSORS_ONLN) RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
[ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
mkdir -p /run/munge && chown munge:munge /run/munge /etc/munge/munge.key 2>/dev/null || true
if ! pgrep -x munged >/dev/null; then
    su -s /bin/sh munge -c /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
    touch "$dir/munged-started"
fi
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 0.5; done
sinfo -h -o %T | grep -qx idle || { echo "slurm did not come up; see $dir/*.log" >&2; exit 1; }
echo "export SLURM_CONF=$SLURM_CONF"
