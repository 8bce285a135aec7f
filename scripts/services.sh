#!/usr/bin/env bash
# Brings up the local services CastYou needs: PostgreSQL on 127.0.0.1:5432, Redis on
# 127.0.0.1:6379 and a MongoDB-wire server on 127.0.0.1:27017, then makes sure the development
# database exists.
#
#   scripts/services.sh          start (or reuse) both services and create the database
#   scripts/services.sh stop     stop only what this script started (pid files in .data/)
#   scripts/services.sh status   say what answers on each port and who started it
#
# A service already listening on its port is reused as it is. Otherwise the Debian packages are
# installed (apt-get, once) and the service runs from the project-local, git-ignored `.data/`
# folder: a throw-away PostgreSQL cluster with trust auth for local TCP, and a Redis that keeps
# nothing on disk. Safe to run any number of times; works as root and as a sudo-capable user.
#
# MongoDB has no Debian package; locally the wire-compatible `nx-27017` server (PyPI) stands in
# for it, installed into a project venv (.data/venv) and run with isolated in-memory databases.
# Production runs real MongoDB (MONGODB_URI).
#
# Media: `ffmpeg`/`ffprobe` (Debian's ffmpeg) probe videos and cut poster frames; an S3 API for
# the S3 storage adapter's tests is the `moto` server (PyPI, same venv) on 127.0.0.1:4569.
#
# Overrides (mostly for testing this script): CASTYOU_PG_PORT, CASTYOU_REDIS_PORT, CASTYOU_MONGO_PORT,
# CASTYOU_S3_PORT,
# CASTYOU_DB_NAME (default castyou), CASTYOU_DATA_DIR (default <repo>/.data).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_PORT="${CASTYOU_PG_PORT:-5432}"
REDIS_PORT="${CASTYOU_REDIS_PORT:-6379}"
DB_NAME="${CASTYOU_DB_NAME:-castyou}"
DATA="${CASTYOU_DATA_DIR:-$ROOT/.data}"
PG_DATA_DEFAULT="$DATA/postgres"
PG_MARKER="$DATA/postgres.started"   # holds the data directory of the cluster we started
REDIS_DIR="$DATA/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
MONGO_PORT="${CASTYOU_MONGO_PORT:-27017}"
MONGO_DIR="$DATA/mongo"
MONGO_PID="$MONGO_DIR/nx-27017.pid"
VENV="$DATA/venv"
NX_VERSION="0.8.1"
# The tests' SMTP sink (they start their own, to stop and restart it): aiosmtpd from PyPI.
AIOSMTPD_VERSION="1.4.6"
# The S3 API the storage adapter's tests run against.
MOTO_VERSION="5.2.5"
S3_PORT="${CASTYOU_S3_PORT:-4569}"
S3_DIR="$DATA/s3"
S3_PID="$S3_DIR/moto.pid"
WAIT_SECS="${CASTYOU_SERVICES_WAIT_SECS:-60}"

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# root runs everything directly; anyone else goes through sudo for apt and the postgres user.
if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, no tools needed).
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
  have apt-get || die "apt-get not found: install $* yourself, or start the services by hand"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing $*"
  # policy-rc.d 101 keeps the packages from starting their own system-wide services: we start
  # ours in .data/ (the Debian cluster would want passwords on TCP, which the app does not send).
  local policy=/usr/sbin/policy-rc.d created=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created=1
  fi
  local rc=0
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" || rc=$?
  if [[ $created -eq 1 ]]; then "${SUDO[@]}" rm -f "$policy"; fi
  [[ $rc -eq 0 ]] || die "apt-get install $* failed"
}

# The PostgreSQL server binaries: the version that made an existing cluster, else the newest.
pg_bindir() {
  local want=""
  [[ -f $1/PG_VERSION ]] && want="$(cat "$1/PG_VERSION")"
  if [[ -n $want && -x /usr/lib/postgresql/$want/bin/pg_ctl ]]; then
    echo "/usr/lib/postgresql/$want/bin"; return
  fi
  local dir
  dir="$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  [[ -n $dir && -x $dir/pg_ctl ]] || return 1
  echo "$dir"
}

# Runs a command as the OS user that owns the cluster (postgres refuses to run as root).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"
  else "$@"; fi
}

pg_ready() {
  if have pg_isready; then
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -t 2 >/dev/null 2>&1
  else
    port_open "$PG_PORT"
  fi
}

redis_ready() {
  if have redis-cli; then
    [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT; printf 'PING\r\n' >&3; read -r l <&3; [[ \$l == +PONG* ]]" 2>/dev/null
  fi
}

wait_for() { # wait_for NAME CHECK_FUNCTION
  local i
  for ((i = 0; i < WAIT_SECS * 2; i++)); do
    "$2" && return 0
    sleep 0.5
  done
  die "$1 did not answer within ${WAIT_SECS}s"
}

# Where our cluster lives: .data/postgres, unless the postgres OS user cannot reach that folder
# (e.g. the clone sits under a private home directory); then a folder under /var/tmp.
pg_datadir() {
  if [[ -f $PG_MARKER ]]; then cat "$PG_MARKER"; return; fi
  if [[ $(id -u) -ne 0 ]] || runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
    echo "$PG_DATA_DEFAULT"
  else
    echo "/var/tmp/castyou-postgres-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  fi
}

start_postgres() {
  local bindir pgdata pglog
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no postgres OS user (the postgresql package creates it)"
  fi
  pgdata="$(pg_datadir)"
  bindir="$(pg_bindir "$pgdata")" || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  pglog="$pgdata.log"
  mkdir -p "$pgdata"
  touch "$pglog"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$pgdata" "$pglog"; fi
  chmod 700 "$pgdata"
  if [[ ! -f $pgdata/PG_VERSION ]]; then
    log "initdb $pgdata"
    as_pg "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --no-locale >>"$pglog" 2>&1 \
      || die "initdb failed (see $pglog)"
    # A disposable development cluster: TCP on loopback only, no unix socket (its default folder
    # may not exist), and durability traded for speed (each test creates and migrates a database).
    as_pg tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF

# --- added by scripts/services.sh ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT ($pgdata)"
  as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$pglog" -w -t "$WAIT_SECS" -o "-p $PG_PORT" start >/dev/null 9>&- \
    || die "PostgreSQL did not start (see $pglog)"
  echo "$pgdata" >"$PG_MARKER"
}

start_redis() {
  mkdir -p "$REDIS_DIR"
  log "starting Redis on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
  redis-server --daemonize yes --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_DIR/redis.log" 9>&- \
    || die "redis-server did not start (see $REDIS_DIR/redis.log)"
}

# The MongoDB-wire server answers the handshake with a well-formed OP_MSG reply.
mongo_ready() {
  port_open "$MONGO_PORT" || return 1
  [[ -x $VENV/bin/python ]] || return 0
  "$VENV/bin/python" - "$MONGO_PORT" <<'PY' 2>/dev/null
import socket, struct, sys
# OP_MSG { hello: 1, $db: "admin" }
def bson(doc):
    body = b""
    for k, v in doc.items():
        if isinstance(v, int):
            body += b"\x10" + k.encode() + b"\x00" + struct.pack("<i", v)
        else:
            s = v.encode() + b"\x00"
            body += b"\x02" + k.encode() + b"\x00" + struct.pack("<i", len(s)) + s
    return struct.pack("<i", len(body) + 5) + body + b"\x00"
payload = struct.pack("<I", 0) + b"\x00" + bson({"hello": 1, "$db": "admin"})
msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(msg)
    header = s.recv(16)
    sys.exit(0 if len(header) == 16 and struct.unpack("<iiii", header)[3] == 2013 else 1)
PY
}

install_nx() {
  if [[ -x $VENV/bin/nx-27017 ]] && "$VENV/bin/pip" show -q nx-27017 >/dev/null 2>&1 \
    && "$VENV/bin/pip" show -q aiosmtpd >/dev/null 2>&1 \
    && "$VENV/bin/pip" show -q moto >/dev/null 2>&1 && [[ -x $VENV/bin/moto_server ]]; then return; fi
  have python3 || apt_install python3
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  log "installing nx-27017 $NX_VERSION, aiosmtpd and moto $MOTO_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "could not create $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "nx-27017==$NX_VERSION" \
    "aiosmtpd==$AIOSMTPD_VERSION" "moto[server]==$MOTO_VERSION" \
    || die "pip could not install nx-27017, aiosmtpd and moto"
}

start_s3() {
  mkdir -p "$S3_DIR"
  log "starting moto (S3 API) on 127.0.0.1:$S3_PORT"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" 9>&- >"$S3_DIR/moto.log" 2>&1 &
  echo $! >"$S3_PID"
}

s3_ready() { port_open "$S3_PORT"; }

start_mongo() {
  install_nx
  mkdir -p "$MONGO_DIR"
  log "starting nx-27017 (MongoDB wire protocol) on 127.0.0.1:$MONGO_PORT"
  # --data-dir memory: one isolated in-memory database per database name (tests use their own).
  "$VENV/bin/nx-27017" --host 127.0.0.1 -p "$MONGO_PORT" --data-dir memory \
    --log-file "$MONGO_DIR/nx-27017.log" --pid-file "$MONGO_PID" -d 9>&- >/dev/null 2>&1 \
    || die "nx-27017 did not start (see $MONGO_DIR/nx-27017.log)"
}

create_database() {
  local exists
  exists="$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" \
    || die "cannot connect as postgres to 127.0.0.1:$PG_PORT (a reused server needs trust auth, or PGPASSWORD)"
  if [[ $exists != 1 ]]; then
    log "creating database $DB_NAME"
    # Another run may create it at the same moment: only a real failure counts.
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$DB_NAME\"" >/dev/null 2>&1 \
      || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -qx 1 \
      || die "could not create database $DB_NAME"
  fi
}

cmd_start() {
  local packages=() start_pg=0 start_rd=0
  if port_open "$PG_PORT"; then
    log "PostgreSQL: something listens on 127.0.0.1:$PG_PORT, reusing it$([[ -f $PG_MARKER ]] && echo " (ours, from .data)")"
  else
    start_pg=1
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || packages+=(postgresql)
  fi
  have psql && have pg_isready || packages+=(postgresql-client)
  # Talent search uses the pg_trgm and fuzzystrmatch extensions (Debian's postgresql-contrib),
  # for our cluster or a local one we reuse.
  if [[ $start_pg -eq 1 ]] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    ls /usr/share/postgresql/*/extension/pg_trgm.control >/dev/null 2>&1 \
      && ls /usr/share/postgresql/*/extension/fuzzystrmatch.control >/dev/null 2>&1 \
      || packages+=(postgresql-contrib)
  fi
  if port_open "$REDIS_PORT"; then
    log "Redis: something listens on 127.0.0.1:$REDIS_PORT, reusing it$([[ -f $REDIS_PID ]] && echo " (ours, from .data)")"
  else
    start_rd=1
    have redis-server || packages+=(redis-server)
  fi
  # Media processing: ffprobe and ffmpeg.
  have ffmpeg && have ffprobe || packages+=(ffmpeg)
  [[ ${#packages[@]} -eq 0 ]] || apt_install "${packages[@]}"
  local start_mg=0 start_s3=0
  # The tests also run servers of their own (to stop and restart them): the venv is installed
  # even when a MongoDB already answers on the port.
  install_nx
  if port_open "$MONGO_PORT"; then
    log "MongoDB: something listens on 127.0.0.1:$MONGO_PORT, reusing it$([[ -f $MONGO_PID ]] && echo " (ours, from .data)")"
  else
    start_mg=1
  fi
  if port_open "$S3_PORT"; then
    log "S3 API: something listens on 127.0.0.1:$S3_PORT, reusing it$([[ -f $S3_PID ]] && echo " (ours, from .data)")"
  else
    start_s3=1
  fi

  # The packages' own services are kept from starting, but check again before starting ours.
  if [[ $start_pg -eq 1 ]] && ! port_open "$PG_PORT"; then start_postgres; fi
  if [[ $start_rd -eq 1 ]] && ! port_open "$REDIS_PORT"; then start_redis; fi
  if [[ $start_mg -eq 1 ]]; then start_mongo; fi
  if [[ $start_s3 -eq 1 ]]; then start_s3; fi

  wait_for PostgreSQL pg_ready
  wait_for Redis redis_ready
  wait_for MongoDB mongo_ready
  wait_for "S3 API" s3_ready
  create_database
  log "ready: postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME, redis://127.0.0.1:$REDIS_PORT, mongodb://127.0.0.1:$MONGO_PORT, s3 http://127.0.0.1:$S3_PORT"
}

# stop_pidfile NAME PIDFILE PATTERN: stops the process in PIDFILE if this script started it,
# signalling it only while its command line still matches PATTERN (pids get reused).
stop_pidfile() {
  local name=$1 pidfile=$2 pattern=$3 pid
  if [[ ! -f $pidfile ]]; then
    log "$name: not started by this script, left alone"
    return
  fi
  pid="$(cat "$pidfile")"
  if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$pattern"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 40); do [[ -d /proc/$pid ]] || break; sleep 0.25; done
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  if [[ -f $PG_MARKER ]]; then
    local pgdata bindir
    pgdata="$(cat "$PG_MARKER")"
    if [[ -f $pgdata/postmaster.pid ]] && bindir="$(pg_bindir "$pgdata")"; then
      log "stopping PostgreSQL ($pgdata)"
      as_pg "$bindir/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null || log "pg_ctl stop failed"
    fi
    rm -f "$PG_MARKER"
  else
    log "PostgreSQL: not started by this script, left alone"
  fi
  stop_pidfile Redis "$REDIS_PID" 'redis-server'
  stop_pidfile MongoDB "$MONGO_PID" 'nx.27017'
  stop_pidfile "S3 API" "$S3_PID" 'moto_server'
}

cmd_status() {
  local owner
  owner="$([[ -f $PG_MARKER ]] && echo "started by this script: $(cat "$PG_MARKER")" || echo "not ours")"
  if pg_ready; then log "PostgreSQL 127.0.0.1:$PG_PORT up ($owner)"; else log "PostgreSQL 127.0.0.1:$PG_PORT down"; fi
  owner="$([[ -f $REDIS_PID ]] && echo "started by this script: pid $(cat "$REDIS_PID")" || echo "not ours")"
  if redis_ready; then log "Redis 127.0.0.1:$REDIS_PORT up ($owner)"; else log "Redis 127.0.0.1:$REDIS_PORT down"; fi
  owner="$([[ -f $MONGO_PID ]] && echo "started by this script: pid $(cat "$MONGO_PID")" || echo "not ours")"
  if mongo_ready; then log "MongoDB 127.0.0.1:$MONGO_PORT up ($owner)"; else log "MongoDB 127.0.0.1:$MONGO_PORT down"; fi
  owner="$([[ -f $S3_PID ]] && echo "started by this script: pid $(cat "$S3_PID")" || echo "not ours")"
  if s3_ready; then log "S3 API 127.0.0.1:$S3_PORT up ($owner)"; else log "S3 API 127.0.0.1:$S3_PORT down"; fi
}

mkdir -p "$DATA"
# One run at a time: dev.sh and test.sh started together must not both install or initdb.
# (The daemons started below get `9>&-` so they do not inherit, and hold, this lock.)
exec 9>"$DATA/services.lock"
flock -w 600 9 || die "another scripts/services.sh is still running"

case "${1:-start}" in
  start | up) cmd_start ;;
  stop | down) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: scripts/services.sh [start|stop|status]" ;;
esac
