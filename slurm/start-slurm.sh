#!/usr/bin/env bash
# start-slurm.sh - start a REAL single-node Slurm cluster (Debian 12 packages, Slurm 22.05)
# without systemd, for tests/CI.  Everything (config, keys, state, logs, PID files)
# lives under $SLURM_CI_DIR.  Must run as root.  Idempotent: if the cluster recorded
# in $SLURM_CI_DIR is already up and answering, it only prints the environment.
#
# Usage:   sudo slurm/start-slurm.sh        # then:  source /tmp/slurm-ci/env.sh
# (adapted from a verified single-node recipe: Debian 12, Slurm 22.05, no systemd)
# Env knobs (all optional):
#   SLURM_CI_DIR=/tmp/slurm-ci     where everything lives
#   SLURM_CI_CPUS=$(nproc)         CPUs advertised for the node (may exceed nproc:
#                                  config_overrides lets more array tasks run at once)
#   SLURM_CI_MEM_MB=<90% of RAM>   RealMemory advertised for the node
#   SLURM_CI_ACCOUNTING=0|1        1 = also run MariaDB + slurmdbd so that `sacct` works
#   SLURM_CI_CGROUP=0|1            1 = proctrack/cgroup + task/cgroup (memory/core limits
#                                  enforced, OUT_OF_MEMORY state); needs a writable cgroup
#                                  tree (worked here with cgroup v1; fails in most
#                                  unprivileged Docker containers) - default 0 = no cgroups
#   SLURM_CI_INSTALL=1|0           1 = apt-get install missing packages
#   SLURM_CI_PROBE=1|0             1 = run one probe job and wait for COMPLETED before
#                                  returning (slurmctld's first scheduling pass comes ~3 s
#                                  after start; the probe makes "ready" mean "runs jobs")
#   SLURM_CI_LINK_ETC=0|1          1 = symlink /etc/slurm/slurm.conf -> our slurm.conf so
#                                  sbatch/squeue/... work without SLURM_CONF in the env
#   SLURM_CI_NODES=1               >1 = that many nodes on this machine, one slurmd each
#                                  (node1..nodeN at 127.0.0.1..N, slurmd ports SLURMD_PORT+i;
#                                  Slurm 22.05's packaged slurmd takes -N NODE and a port per
#                                  node), for the multi-node tests; 1 = one node, "localhost"
#   SLURM_CI_CTLD_PORT=6817 SLURM_CI_SLURMD_PORT=6818 SLURM_CI_DBD_PORT=6819
#   SLURM_CI_DB_PORT=3307          MariaDB TCP port (127.0.0.1 only)
#   SLURM_CI_TIMEOUT=60            seconds to wait for each daemon
# Stop with stop-slurm.sh (kills only the PIDs recorded in $SLURM_CI_DIR/run).
set -euo pipefail

DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
CPUS=${SLURM_CI_CPUS:-$(nproc)}
MEM_TOTAL_MB=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 ))
MEM_MB=${SLURM_CI_MEM_MB:-$(( MEM_TOTAL_MB * 9 / 10 ))}
ACCT=${SLURM_CI_ACCOUNTING:-0}
CGROUP=${SLURM_CI_CGROUP:-0}
INSTALL=${SLURM_CI_INSTALL:-1}
PROBE=${SLURM_CI_PROBE:-1}
LINK_ETC=${SLURM_CI_LINK_ETC:-0}
CTLD_PORT=${SLURM_CI_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_CI_SLURMD_PORT:-6818}
DBD_PORT=${SLURM_CI_DBD_PORT:-6819}
DB_PORT=${SLURM_CI_DB_PORT:-3307}
TIMEOUT=${SLURM_CI_TIMEOUT:-60}
NNODES=${SLURM_CI_NODES:-1}
NODES=()
if [ "$NNODES" = 1 ]; then NODES=(localhost); else for i in $(seq 1 "$NNODES"); do NODES+=("node$i"); done; fi
NODE=${NODES[0]}
NODE_LIST=$(IFS=,; echo "${NODES[*]}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "[start-slurm] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (slurmd has to be able to switch to the job's user)"

# ---------------------------------------------------------------- packages
pkgs=(slurmctld slurmd slurm-client munge)
[ "$ACCT" = 1 ] && pkgs+=(slurmdbd mariadb-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$INSTALL" = 1 ] || die "missing packages: ${missing[*]}"
  log "installing: ${missing[*]}"
  t0=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The postinst scripts try to start the system services (munge, slurmd, slurmctld,
  # mariadb).  We run our own copies, so forbid that with a temporary policy-rc.d
  # (Docker images usually already ship one that says 101 = "don't start").
  tmp_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; tmp_policy=1
  fi
  rc=0; apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  if [ "$tmp_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" = 0 ] || die "apt-get install failed (rc=$rc)"
  log "install took $(( $(date +%s) - t0 ))s"
fi

# ---------------------------------------------------------------- helpers
pid_alive() {  # pid_alive NAME [FILE] -> 0 if $DIR/run/FILE.pid (FILE=NAME) names a live process with comm NAME
  local f="$DIR/run/${2:-$1}.pid" pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' < "$f"); [ -n "$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  # a zombie (state Z) is not running; some container inits never reap them
  [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}
wait_for() {  # wait_for DESCRIPTION CMD...
  local what=$1; shift
  local end=$(( $(date +%s) + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { log "timeout waiting for $what; last log lines:"; tail -n 30 "$DIR"/log/*.log >&2 || true; return 1; }
    sleep 0.2
  done
}
node_idle() { sinfo -h -n "${1:-$NODE}" -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }
slurmd_pidfile() { if [ "$NNODES" = 1 ]; then echo slurmd; else echo "slurmd-$1"; fi; }
link_etc() {
  [ "$LINK_ETC" = 1 ] || return 0
  if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    log "WARNING: /etc/slurm/slurm.conf is a real file - not replacing it; use SLURM_CONF"
  else
    mkdir -p /etc/slurm && ln -sfn "$DIR/slurm.conf" /etc/slurm/slurm.conf
  fi
}
write_env() {
  cat > "$DIR/env.sh" <<EOF
# source this file to talk to the CI Slurm cluster
export SLURM_CONF=$DIR/slurm.conf
EOF
}

export SLURM_CONF="$DIR/slurm.conf"

# ---------------------------------------------------------------- already running?
daemons=(munged slurmctld)
[ "$ACCT" = 1 ] && daemons=(munged mariadbd slurmdbd slurmctld)
all_up=1
for d in "${daemons[@]}"; do pid_alive "$d" || all_up=0; done
for n in "${NODES[@]}"; do pid_alive slurmd "$(slurmd_pidfile "$n")" || all_up=0; done
if [ "$all_up" = 1 ] && node_idle; then
  write_env; link_etc
  log "cluster already running in $DIR"
  echo "export SLURM_CONF=$DIR/slurm.conf"
  exit 0
fi

# something is half up (or stale PID files): stop what we recorded, then start clean
if [ -d "$DIR/run" ]; then
  log "stale/partial cluster in $DIR - stopping recorded PIDs first"
  SLURM_CI_DIR="$DIR" bash "$HERE/stop-slurm.sh" || true
fi
for port in "$CTLD_PORT" $(seq "$SLURMD_PORT" $(( SLURMD_PORT + NNODES - 1 ))); do
  if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then die "TCP port $port already in use (another slurm?)"; fi
done

T_START=$(date +%s.%N)
# on any failure from here on, stop whatever this run started (by recorded PID)
# shellcheck disable=SC2154
trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed (rc=$rc) - stopping what was started"; SLURM_CI_DIR="$DIR" bash "$HERE/stop-slurm.sh" || true; fi' EXIT
rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/munge" "$DIR/mysql" "$DIR/slurmdbd.conf"
mkdir -p "$DIR/state" "$DIR/log" "$DIR/run" \
         "$DIR/munge/etc" "$DIR/munge/lib" "$DIR/munge/run"
chmod 755 "$DIR" "$DIR/munge" "$DIR/munge/run" "$DIR/log"
chmod 700 "$DIR/munge/etc" "$DIR/munge/lib"
for n in "${NODES[@]}"; do mkdir -p "$DIR/spool/$n"; done

# ---------------------------------------------------------------- munge
# munged insists on: key dir/key not readable by others, socket dir world-executable.
dd if=/dev/urandom of="$DIR/munge/etc/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/etc/munge.key"
MUNGE_SOCKET="$DIR/munge/run/munge.socket"
munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/etc/munge.key" \
       --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
       --seed-file="$DIR/munge/lib/munged.seed"          # daemonizes, writes its PID file
wait_for "munged" bash -c "munge -n -S '$MUNGE_SOCKET' | unmunge -S '$MUNGE_SOCKET'"
log "munged up (pid $(cat "$DIR/run/munged.pid"))"

# ---------------------------------------------------------------- optional: MariaDB + slurmdbd
ACCT_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
if [ "$ACCT" = 1 ]; then
  DB_SOCK="$DIR/mysql/mysqld.sock"
  mkdir -p "$DIR/mysql/data"
  mariadb-install-db --no-defaults --user=root --datadir="$DIR/mysql/data" \
      --auth-root-authentication-method=socket --skip-test-db > "$DIR/log/mariadb-install.log" 2>&1
  # mariadbd does not daemonize by itself: run it in the background with its own log.
  nohup mariadbd --no-defaults --user=root --datadir="$DIR/mysql/data" \
      --socket="$DB_SOCK" --port="$DB_PORT" --bind-address=127.0.0.1 \
      --pid-file="$DIR/run/mariadbd.pid" --log-error="$DIR/log/mariadbd.log" \
      --innodb-buffer-pool-size=1G --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 \
      --skip-name-resolve </dev/null >/dev/null 2>&1 &
  wait_for "mariadbd" mariadb --no-defaults -S "$DB_SOCK" -u root -e 'SELECT 1'
  mariadb --no-defaults -S "$DB_SOCK" -u root <<'SQL'
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmci';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
  log "mariadbd up (pid $(cat "$DIR/run/mariadbd.pid"))"
  cat > "$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DIR/slurmdbd.conf"
  slurmdbd   # daemonizes; reads slurmdbd.conf from the directory of $SLURM_CONF
  wait_for "slurmdbd" bash -c "ss -ltnH 'sport = :$DBD_PORT' | grep -q ."
  log "slurmdbd up (pid $(cat "$DIR/run/slurmdbd.pid"))"
  ACCT_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# for slurmdbd connections the munge socket is taken from AccountingStoragePass, not AuthInfo
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
fi

# ---------------------------------------------------------------- slurm.conf
if [ "$CGROUP" = 1 ]; then
  PROC_CONF="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity"
  printf 'CgroupPlugin=autodetect\nConstrainCores=yes\nConstrainRAMSpace=yes\n' > "$DIR/cgroup.conf"
else
  # no cgroups: works in containers without a delegated cgroup tree (limits not enforced)
  PROC_CONF="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
  rm -f "$DIR/cgroup.conf"
fi
cat > "$DIR/slurm.conf" <<EOF
# single-node CI cluster generated by start-slurm.sh
ClusterName=ci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/$(if [ "$NNODES" = 1 ]; then echo slurmd; else echo 'slurmd-%n'; fi).pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/$(if [ "$NNODES" = 1 ]; then echo slurmd; else echo 'slurmd-%n'; fi).log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
$PROC_CONF
MpiDefault=none
SwitchType=switch/none
$ACCT_CONF
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( MEM_MB / CPUS ))
SlurmdParameters=config_overrides
ReturnToService=2
MaxArraySize=10001
MaxJobCount=100000
MinJobAge=300
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=30
$(if [ "$NNODES" = 1 ]; then
  echo "NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN"
else
  # several slurmd on one machine: each its own loopback address and port
  for i in $(seq 1 "$NNODES"); do
    echo "NodeName=node$i NodeHostname=$(hostname) NodeAddr=127.0.0.$i Port=$(( SLURMD_PORT + i - 1 )) CPUs=$CPUS RealMemory=$(( MEM_MB / NNODES )) State=UNKNOWN"
  done
fi)
PartitionName=debug Nodes=$NODE_LIST Default=YES MaxTime=INFINITE State=UP
# a partition with a time limit, for the MaxTime check
PartitionName=short Nodes=$NODE_LIST MaxTime=00:30:00 State=UP
EOF
chmod 644 "$DIR/slurm.conf"

# ---------------------------------------------------------------- slurmctld + slurmd
slurmctld -i          # daemonizes, writes SlurmctldPidFile
wait_for "slurmctld" scontrol ping
log "slurmctld up (pid $(cat "$DIR/run/slurmctld.pid"))"
for n in "${NODES[@]}"; do
  slurmd -N "$n"      # daemonizes, writes SlurmdPidFile
  wait_for "node $n idle" node_idle "$n"
  log "slurmd of $n up (pid $(cat "$DIR/run/$(slurmd_pidfile "$n").pid"))"
done
if [ "$ACCT" = 1 ]; then
  wait_for "cluster registered in slurmdbd" bash -c "sacctmgr -n -P list cluster format=cluster | grep -qx ci"
fi

if [ "$PROBE" = 1 ]; then
  probe=$(sbatch --parsable -J ci-probe -o /dev/null -e /dev/null --wrap true)
  probe_done() { ! squeue -h -j "$probe" 2>/dev/null | grep -q . ; }
  wait_for "probe job $probe" probe_done
  state=$(scontrol show job "$probe" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  [ "$state" = COMPLETED ] || die "probe job $probe ended in state '${state:-?}'"
  log "probe job $probe COMPLETED"
fi

write_env; link_etc
log "cluster ready in $(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s  (dir $DIR)"
echo "export SLURM_CONF=$DIR/slurm.conf"
