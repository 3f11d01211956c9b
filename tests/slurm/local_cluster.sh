#!/usr/bin/env bash
# Single-node Slurm cluster (slurmctld + slurmd + slurmdbd/MariaDB + munge) on
# this machine, for tests and CI.  Needs root and Debian; works without systemd:
# every daemon is started by hand.
#
#   bash tests/slurm/local_cluster.sh start|stop|status
#
# Env: SLURM_MAX_ARRAY_SIZE  MaxArraySize to enforce (unset: Slurm default 1001)
#      SLURM_CLUSTER_NAME    ClusterName (default: localcluster)
set -euo pipefail

CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
SPOOL_DIR=/var/spool/slurm
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS_FILE=$CONF_DIR/slurmdbd.dbpass
CLUSTER=${SLURM_CLUSTER_NAME:-localcluster}
MAX_ARRAY=${SLURM_MAX_ARRAY_SIZE:-}
HOST=$(hostname -s)
PACKAGES=(munge slurm-wlm slurmdbd mariadb-server)

log() { printf '[local_cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Values below end up in config files; refuse anything unexpected.
[[ $HOST =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || die "odd hostname: $HOST"
[[ $CLUSTER =~ ^[a-z0-9_]+$ ]] || die "SLURM_CLUSTER_NAME must match [a-z0-9_]+"
[[ -z $MAX_ARRAY || $MAX_ARRAY =~ ^[1-9][0-9]*$ ]] || die "SLURM_MAX_ARRAY_SIZE must be a positive integer"

# Wait up to $1 seconds for the command "$@" (after shift) to succeed.
wait_for() {
  local timeout=$1 i; shift
  for ((i = 0; i < timeout * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# PID from a pid file, only if that process is alive and has the expected name
# (guards against stale pid files whose pid was reused).
pid_of() {
  local pidfile=$1 name=$2 pid
  [[ -r $pidfile ]] || return 1
  pid=$(tr -dc 0-9 <"$pidfile")
  [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
  echo "$pid"
}

# A dead daemon is reaped by PID 1, which can lag: count a zombie as gone.
is_gone() { ! grep -qsE '^State:\s+[^Z]' "/proc/$1/status"; }

stop_pidfile() {
  local pidfile=$1 name=$2 pid
  pid=$(pid_of "$pidfile" "$name") || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_for 30 is_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  # Without systemd the postinst scripts would try (and fail) to start the
  # daemons with the packaged configs; a policy-rc.d returning 101 stops that.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made_policy=1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  ((made_policy)) && rm -f "$policy"
  return 0
}

munge_works() { munge -n | unmunge; }

start_munge() {
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  pid_of /run/munge/munged.pid munged >/dev/null && return 0
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged </dev/null >>"$LOG_DIR/munged.stdout" 2>&1
  wait_for 10 munge_works || die "munge does not work"
}

start_mariadb() {
  install -d -o mysql -g mysql -m 755 /run/mysqld
  [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  # slurmdbd warns about these InnoDB settings if left at MariaDB defaults.
  printf '[mysqld]\ninnodb_buffer_pool_size=1024M\ninnodb_lock_wait_timeout=900\n' \
    >/etc/mysql/mariadb.conf.d/99-slurm.cnf
  if ! mysqladmin ping >/dev/null 2>&1; then
    log "starting mariadb"
    # setsid + redirects: fully detach, so callers waiting on our stdout return.
    setsid mysqld_safe --user=mysql </dev/null >>"$LOG_DIR/mysqld_safe.stdout" 2>&1 &
    wait_for 60 mysqladmin ping || die "mariadb did not start (see /var/log/mysql, $LOG_DIR/mysqld_safe.stdout)"
  fi
  # Password: random hex made once and kept root-only; hex is safe inside SQL.
  [[ -s $DB_PASS_FILE ]] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$DB_PASS_FILE")
  local pass; pass=$(<"$DB_PASS_FILE")
  mysql -u root <<SQL
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
SQL
}

write_slurmdbd_conf() {
  cat <<EOF
# Written by tests/slurm/local_cluster.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$(<"$DB_PASS_FILE")
StorageLoc=$DB_NAME
EOF
}

write_slurm_conf() {
  local cpus mem_total real_mem
  cpus=$(nproc)
  mem_total=$(free -m | awk '/^Mem:/ {print $2}')
  # slurmd drains a node whose RealMemory exceeds what it measures; stay ~3% under.
  real_mem=$((mem_total * 97 / 100))
  cat <<EOF
# Written by tests/slurm/local_cluster.sh
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
# Debian default /bin/mail is not installed; avoid a startup error.
MailProg=/bin/true
SwitchType=switch/none
# No systemd/cgroup delegation here: plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
StateSaveLocation=$SPOOL_DIR/ctld
SlurmdSpoolDir=$SPOOL_DIR/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# Short timeouts so tests of cancel/timeout finish quickly.
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MinJobAge=300
SchedulerParameters=sched_interval=2,bf_interval=2
MaxJobCount=20000
$( [[ -n $MAX_ARRAY ]] && echo "MaxArraySize=$MAX_ARRAY" )
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
# Jobs without --mem get a per-CPU share, so they do not each take the whole node.
DefMemPerCPU=$((real_mem / cpus))
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
# A partition with a time limit (DefaultTime) for the jobs that ask for none: tests/slurm/test_slurm.py.
PartitionName=limited Nodes=$HOST Default=NO DefaultTime=5 MaxTime=30 State=UP
EOF
}

# Install $2 as $1 if different; return 0 if the file changed.
update_file() {
  local dest=$1 new=$2
  if [[ -f $dest ]] && cmp -s "$new" "$dest"; then rm -f "$new"; return 1; fi
  mv "$new" "$dest"
  return 0
}

# Never fails (set -e): empty output when slurmctld is unreachable.
node_state() { { sinfo -h -n "$HOST" -o %T 2>/dev/null || true; } | head -n1; }
# Node states meaning "up and usable" (completing/planned occur between jobs).
is_up_state() { [[ $1 =~ ^(idle|mixed|allocated|completing|planned)$ ]]; }

start_slurm_daemons() {
  if ! pid_of /run/slurmctld.pid slurmctld >/dev/null; then
    log "starting slurmctld"
    slurmctld </dev/null >>"$LOG_DIR/slurmctld.stdout" 2>&1
  fi
  wait_for 30 scontrol ping || die "slurmctld not responding; $(tail -n 20 "$LOG_DIR/slurmctld.log" 2>/dev/null)"
  if ! pid_of /run/slurmd.pid slurmd >/dev/null; then
    log "starting slurmd"
    slurmd </dev/null >>"$LOG_DIR/slurmd.stdout" 2>&1
  fi
}

wait_node_idle() {
  local state i
  for ((i = 0; i < 120; i++)); do
    state=$(node_state)
    is_up_state "$state" && return 0
    # e.g. left down/drained by an earlier unclean stop.
    case $state in
      down* | drain* | fail*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  log "node state: '${state:-?}' after 120 s"
  local f
  for f in slurmctld.log slurmd.log slurmdbd.log slurmd.stdout slurmctld.stdout; do
    log "--- tail $LOG_DIR/$f"; tail -n 20 "$LOG_DIR/$f" 2>/dev/null >&2 || true
  done
  die "node never became idle"
}

cmd_start() {
  local t0=$SECONDS tmp restart=0
  [[ $EUID -eq 0 ]] || die "must run as root"
  install_packages
  install -d -m 755 "$CONF_DIR" "$LOG_DIR" "$SPOOL_DIR/ctld" "$SPOOL_DIR/d"
  start_munge
  start_mariadb

  tmp=$(mktemp)
  write_slurmdbd_conf >"$tmp"; chmod 600 "$tmp"
  if update_file "$CONF_DIR/slurmdbd.conf" "$tmp"; then stop_pidfile /run/slurmdbd.pid slurmdbd; fi
  tmp=$(mktemp)
  write_slurm_conf | grep -v '^$' >"$tmp"; chmod 644 "$tmp"
  # A changed slurm.conf (e.g. MaxArraySize) is applied by restarting the
  # Slurm daemons; saved state keeps queued jobs across the restart.
  if update_file "$CONF_DIR/slurm.conf" "$tmp"; then restart=1; fi

  if ! pid_of /run/slurmdbd.pid slurmdbd >/dev/null; then
    log "starting slurmdbd"
    slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.stdout" 2>&1
  fi
  wait_for 60 sacctmgr -n list cluster || die "slurmdbd not responding; $(tail -n 20 "$LOG_DIR/slurmdbd.log" 2>/dev/null)"
  if [[ -z $(sacctmgr -n -P list cluster format=cluster where name="$CLUSTER") ]]; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi

  if ((restart)) && { pid_of /run/slurmctld.pid slurmctld || pid_of /run/slurmd.pid slurmd; } >/dev/null; then
    log "slurm.conf changed: restarting slurmctld and slurmd"
    stop_slurm_daemons
  fi
  start_slurm_daemons
  wait_node_idle

  local acct=no
  sacct -n -X >/dev/null 2>&1 && acct=yes
  log "up in $((SECONDS - t0)) s: node $HOST $(node_state)," \
    "$(scontrol show config | grep -i '^MaxArraySize' | tr -s ' ')," \
    "accounting (sacct) works: $acct"
}

# slurmctld first: stopping slurmd first lets the scheduler launch jobs on a
# node that is going away, and those jobs then stay "RUNNING" after restart.
stop_slurm_daemons() {
  stop_pidfile /run/slurmctld.pid slurmctld
  stop_pidfile /run/slurmd.pid slurmd
}

cmd_stop() {
  stop_slurm_daemons
  stop_pidfile /run/slurmdbd.pid slurmdbd
  if command -v mysqladmin >/dev/null && mysqladmin ping >/dev/null 2>&1; then
    log "stopping mariadb"
    mysqladmin shutdown
  fi
  stop_pidfile /run/munge/munged.pid munged
  log "stopped"
}

cmd_status() {
  local state
  state=$(node_state)
  if is_up_state "$state"; then
    echo "slurm up: node $HOST $state"
  else
    echo "slurm not up (node state: '${state:-slurmctld unreachable}')"
    return 1
  fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
