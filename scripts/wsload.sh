#!/usr/bin/env bash
# Websocket load test of a release build on this machine (tools/wsload): memory per idle
# subscribed connection, fan-out of pipeline events to many subscribers of one job, live
# notifications to many connected users, and the inbox with many stored notifications.
# Starts its own server on a fresh database per scenario; only 127.0.0.1 is contacted.
#
#   scripts/wsload.sh                    # idle, fanout, notify (10,000 each), inbox (100,000)
#   SCENARIOS=fanout SUBSCRIBERS=2000 EVENTS=20 INTERVAL_MS=1000 scripts/wsload.sh
#   SCENARIOS=fanout INTERVAL_MS=0 scripts/wsload.sh     # events back to back (throughput)
#   SCENARIOS=idle OPEN_CONCURRENCY=16 scripts/wsload.sh  # open connections 16 at a time
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"
SCENARIOS="${SCENARIOS:-idle fanout notify inbox}"
CONNECTIONS="${CONNECTIONS:-10000}"
SUBSCRIBERS="${SUBSCRIBERS:-10000}"
EVENTS="${EVENTS:-30}"
INTERVAL_MS="${INTERVAL_MS:-1000}"
LANES="${LANES:-4}"   # applications moved in turn: a slow mutation does not hold the next back
USERS="${USERS:-10000}"
NOTIFICATIONS="${NOTIFICATIONS:-100000}"
REQUESTS="${REQUESTS:-2000}"
JWT="load-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PORT_="${LOAD_PORT:-18090}"
OPS_PORT="${LOAD_OPS_PORT:-18091}"   # the operations listener (/metrics)
DB="castyou_wsload"
OUT="$ROOT/.data/wsload"
BIN="$CARGO_TARGET_DIR/release/castyou"
TOOL="$CARGO_TARGET_DIR/release/castyou-wsload"

log() { printf 'wsload: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for n in "$CONNECTIONS" "$SUBSCRIBERS" "$EVENTS" "$INTERVAL_MS" "$LANES" "$USERS" "$NOTIFICATIONS" "$REQUESTS"; do
  [[ $n =~ ^[0-9]+$ ]] || die "CONNECTIONS, SUBSCRIBERS, EVENTS, INTERVAL_MS, LANES, USERS, NOTIFICATIONS and REQUESTS are whole numbers"
done
# Each connection is one descriptor in the server and one in the tool.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( CONNECTIONS > SUBSCRIBERS ? CONNECTIONS : SUBSCRIBERS ))
need=$(( (need > USERS ? need : USERS) + 200 ))
(( $(ulimit -n) >= need )) || die "open-file limit $(ulimit -n) is below the $need needed"
command -v curl >/dev/null 2>&1 || die "curl is needed"

log "cargo build --release (server and load tool)"
cargo build --release -p castyou -p castyou-wsload

scripts/services.sh

mkdir -p "$OUT"
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# A fresh server (and database) per scenario, so one's memory does not colour the other's.
start_server() {
  stop_server
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT_") 2>/dev/null; then
    die "127.0.0.1:$PORT_ is already taken; set LOAD_PORT"
  fi
  APP_ENVIRONMENT=production \
    HOST=127.0.0.1 \
    PORT="$PORT_" \
    JWT_SECRET="$JWT" \
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" \
    REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" \
    APP_REDIS__KEY_PREFIX="castyou-wsload-$1-$$:" \
    MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:27017}" \
    APP_MONGODB__DATABASE="castyou_wsload_$1_$$" \
    APP_RATE_LIMIT__GENERAL_MAX=1000000000 \
    APP_LOG__FILTER="${APP_LOG__FILTER:-warn}" \
    APP_OPERATIONS__PORT="$OPS_PORT" \
    APP_MAIL__TRANSPORT=file APP_MAIL__DIR="$OUT/mail" \
    APP_REALTIME__MAX_SOCKETS_PER_USER=1000000 \
    APP_REALTIME__MAX_SOCKETS_PER_ADDRESS=1000000 \
    "$BIN" serve >"$OUT/server-$1.log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 120); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT_/readyz" 2>/dev/null; then return; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server-$1.log" >&2; die "the server exited"; }
    [[ $i -lt 120 ]] || die "/readyz did not answer within 60s"
    sleep 0.5
  done
}

for scenario in $SCENARIOS; do
  start_server "$scenario"
  case $scenario in
    idle)
      log "idle: $CONNECTIONS subscribed connections"
      "$TOOL" --url "http://127.0.0.1:$PORT_" --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
        --open-concurrency "${OPEN_CONCURRENCY:-256}" idle \
        --connections "$CONNECTIONS" | tee "$OUT/idle.txt"
      ;;
    fanout)
      log "fanout: $SUBSCRIBERS subscribers, $EVENTS events, one every $INTERVAL_MS ms"
      "$TOOL" --url "http://127.0.0.1:$PORT_" --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" fanout \
        --subscribers "$SUBSCRIBERS" --events "$EVENTS" --interval-ms "$INTERVAL_MS" --lanes "$LANES" \
        | tee "$OUT/fanout.txt"
      ;;
    notify)
      log "notify: $USERS connected applicants notified by one job closing"
      WSLOAD_JWT_SECRET="$JWT" "$TOOL" --url "http://127.0.0.1:$PORT_" --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
        --database-url "postgres://postgres@127.0.0.1:5432/$DB" notify --users "$USERS" \
        | tee "$OUT/notify.txt"
      ;;
    inbox)
      log "inbox: $NOTIFICATIONS stored notifications, $REQUESTS requests per query"
      "$TOOL" --url "http://127.0.0.1:$PORT_" --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
        --database-url "postgres://postgres@127.0.0.1:5432/$DB" inbox \
        --notifications "$NOTIFICATIONS" --requests "$REQUESTS" | tee "$OUT/inbox.txt"
      ;;
    *) die "unknown scenario $scenario (idle, fanout, notify, inbox)" ;;
  esac
done
