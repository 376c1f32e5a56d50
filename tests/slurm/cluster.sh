#!/usr/bin/env bash
# A real single-machine SLURM cluster for the tests: munged, slurmctld and slurmd on
# this host (no cgroups: proctrack/linuxproc, task/none), one partition of this
# machine's CPUs, its state in DIR. Debian's slurm-wlm and munge must be installed.
#
#   cluster.sh start DIR   start (or restart) it; prints `export SLURM_CONF=DIR/slurm.conf`
#   cluster.sh stop DIR    stop its daemons
#
# Exits 77 (the tests' skip code) when the packages are missing or this is not root;
# a daemon that does not start is an error (exit 1) with its log.
set -euo pipefail
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
chmod 755 "$dir" "$(dirname "$dir")" # munged runs as munge: it must reach DIR/munge
conf=$dir/slurm.conf

stop() {
  local p sig
  for sig in TERM KILL; do
    for p in slurmd slurmctld munged; do
      if [[ -f $dir/$p.pid ]]; then
        kill -s "$sig" "$(cat "$dir/$p.pid")" 2>/dev/null || true
      fi
    done
    [[ $sig == TERM ]] && sleep 1
  done
  for p in slurmd slurmctld munged; do
    rm -f "$dir/$p.pid"
  done
}

if [[ $cmd == stop ]]; then
  stop
  exit 0
fi

for b in munged slurmctld slurmd sbatch srun scontrol; do
  command -v "$b" >/dev/null || { echo "SKIP: $b not installed (apt-get install slurm-wlm munge)"; exit 77; }
done
[[ $(id -u) == 0 ]] || { echo "SKIP: the test cluster's daemons need root"; exit 77; }
stop

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
mkdir -p "$dir"/{state,spool,log,munge}
# munge: a key of our own, its socket in DIR (the system's munged may be absent)
if [[ ! -f $dir/munge/munge.key ]]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
chown -R munge:munge "$dir/munge" 2>/dev/null || true
chmod 700 "$dir/munge"
chmod 400 "$dir/munge/munge.key"
sock=$dir/munge/munge.socket
# munged refuses group/world-writable parents of its socket: DIR/munge is 0700, owned
# by munge; it runs as munge
runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$sock" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" --force 2>"$dir/log/munged.err" ||
  { echo "munged does not start: $(cat "$dir/log/munged.err")"; exit 1; }
cp "$dir/munge/munged.pid" "$dir/munged.pid"

cat >"$conf" <<CONF
ClusterName=r50test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock,cred_expire=5
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=10
OverTimeLimit=0
JobRequeue=1
MaxJobCount=1000
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF=$conf
slurmctld -i 2>"$dir/log/slurmctld.err" || { echo "slurmctld does not start"; cat "$dir/log/slurmctld.err"; exit 1; }
slurmd 2>"$dir/log/slurmd.err" || { echo "slurmd does not start"; cat "$dir/log/slurmd.err"; exit 1; }
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 1
done
echo "the node never became idle:"
sinfo 2>&1 || true
tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null || true
exit 1
