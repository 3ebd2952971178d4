#!/usr/bin/env bash
# tests/slurm/cluster.sh start|stop|status|env - a real one-node Slurm cluster on
# localhost for the Slurm backend's tests (test_slurm), with two fake GPUs
# (character devices named in gres.conf, so slurmd sets CUDA_VISIBLE_DEVICES).
#
# Everything lives under $RESECG_SLURM_DIR (default /var/tmp/resecg-slurm):
# its own slurm.conf on its own ports (16817/16818, or RESECG_SLURM_PORT), spool, logs and pid
# files, so a Slurm already on the machine is neither used nor touched.
# Clients find it through SLURM_CONF=<dir>/slurm.conf (`cluster.sh env`).
# Needs root (it installs the test packages of scripts/packages.txt when
# slurm-wlm or munge is missing, and
# starts munged if none answers); exits 77 with the reason when it cannot
# run, so the tests skip rather than fail. `stop` stops what `start` started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${RESECG_SLURM_DIR:-/var/tmp/resecg-slurm}
# slurmctld listens on PORT, slurmd on PORT+1 (RESECG_SLURM_PORT, default
# 16817): another cluster of these tests on the machine, such as the host's
# while tests/fresh_root.sh runs them in a chroot, needs other ports.
PORT=${RESECG_SLURM_PORT:-16817}
CONF=$DIR/slurm.conf
NODE=$(hostname -s)
log() { echo "[slurm-test $(date +%T)] $*" >&2; }
skip() { echo "SKIP: $*" >&2; exit 77; }
alive() { # alive PIDFILE COMM
  local pid; [ -s "$1" ] || return 1; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$2" ]
}

start() {
  [ "$(id -u)" -eq 0 ] || skip "the Slurm tests start slurmctld, slurmd and munged, which needs root"
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
     || ! command -v munged >/dev/null; then
    log "slurm-wlm or munge missing: installing the test packages (scripts/packages.txt)"
    "$ROOT/scripts/install-packages.sh" test >&2 \
      || skip "slurm-wlm and munge are not installed and scripts/install-packages.sh test could not install them"
  fi
  mkdir -p "$DIR/ctld" "$DIR/d" "$DIR/log"

  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already answers; using it"
  else
    if [ ! -s /etc/munge/munge.key ]; then
      install -d -o munge -g munge -m 0700 /etc/munge
      if command -v mungekey >/dev/null; then mungekey -c -f -k /etc/munge/munge.key
      else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
      chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null 2>&1 || skip "munged did not start"
    cp /run/munge/munged.pid "$DIR/munged.pid"
  fi

  local gres=""
  for i in 0 1; do
    [ -c "$DIR/fakegpu$i" ] || { rm -f "$DIR/fakegpu$i"; mknod "$DIR/fakegpu$i" c 1 3; }   # like /dev/null
  done
  printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s/fakegpu[0-1]\n' "$NODE" "$DIR" > "$DIR/gres.conf"
  cat > "$CONF" <<CONF
# written by resecg tests/slurm/cluster.sh
ClusterName=resecgtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
KillWait=5
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$CONF
  local started=0
  if alive "$DIR/slurmctld.pid" slurmctld; then log "slurmctld already running"
  else rm -rf "${DIR:?}/ctld/"*; slurmctld -f "$CONF"; started=1; fi
  if alive "$DIR/slurmd.pid" slurmd; then log "slurmd already running"
  else slurmd -f "$CONF" -N "$NODE"; started=1; fi

  local st=""
  for _ in $(seq 300); do
    st=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
    case "$st" in idle|mix|alloc) break ;; down*|drain*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;; esac
    sleep 0.2
  done
  case "$st" in idle|mix|alloc) ;; *) tail -n 5 "$DIR"/log/*.log >&2; echo "node $NODE not ready ('$st')" >&2; exit 1 ;; esac
  if [ "$started" = 1 ]; then
    # idle is reported before slurmd registers and the first scheduling pass: prove it with a job
    local pj
    pj=$(sbatch --parsable -t 1 -J resecg-probe -o /dev/null --wrap true)
    for _ in $(seq 300); do [ -z "$(squeue -h -j "$pj" 2>/dev/null)" ] && break; sleep 0.2; done
    [ -z "$(squeue -h -j "$pj" 2>/dev/null)" ] || { tail -n 5 "$DIR"/log/*.log >&2; echo "probe job $pj did not run" >&2; exit 1; }
  fi
  log "Slurm up: node $NODE ($st), 2 fake GPUs, SLURM_CONF=$CONF"
}

stop() {
  export SLURM_CONF=$CONF
  if alive "$DIR/slurmctld.pid" slurmctld; then
    local jobs; jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    [ -n "${jobs// /}" ] && scancel $jobs 2>/dev/null || true
  fi
  for d in slurmd slurmctld munged; do
    alive "$DIR/$d.pid" "$d" || { rm -f "$DIR/$d.pid"; continue; }
    local pid; pid=$(cat "$DIR/$d.pid"); kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true; rm -f "$DIR/$d.pid"
  done
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  status) alive "$DIR/slurmctld.pid" slurmctld && alive "$DIR/slurmd.pid" slurmd ;;
  stop) stop ;;
  env) echo "SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
