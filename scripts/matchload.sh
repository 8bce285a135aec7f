#!/usr/bin/env bash
# Matching load test of a release build on this machine: seeds a fresh database with
# `castyou seed` (100,000 talent profiles, 10,000 OPEN jobs by default), starts the server,
# and measures with tools/wsload's `matching` scenario: the index build (time, bytes per
# talent), cold discover pages, concurrent discover pages (first and deeper), concurrent job
# feeds, and the push of a newly published job to 1,000 subscribed talents.
# Only 127.0.0.1 is contacted.
#
#   scripts/matchload.sh
#   TALENTS=20000 JOBS=2000 REQUESTS=1000 scripts/matchload.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"
TALENTS="${TALENTS:-100000}"
JOBS="${JOBS:-10000}"
PRODUCERS="${PRODUCERS:-500}"
REQUESTS="${REQUESTS:-3000}"
CONCURRENCY="${CONCURRENCY:-16}"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
JWT="load-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PORT_="${LOAD_PORT:-18090}"
OPS_PORT="${LOAD_OPS_PORT:-18091}"
DB="castyou_matchload"
URL="postgres://postgres@127.0.0.1:5432/$DB"
OUT="$ROOT/.data/matchload"
BIN="$CARGO_TARGET_DIR/release/castyou"
TOOL="$CARGO_TARGET_DIR/release/castyou-wsload"

log() { printf 'matchload: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for n in "$TALENTS" "$JOBS" "$PRODUCERS" "$REQUESTS" "$CONCURRENCY" "$SUBSCRIBERS"; do
  [[ $n =~ ^[0-9]+$ ]] || die "TALENTS, JOBS, PRODUCERS, REQUESTS, CONCURRENCY and SUBSCRIBERS are whole numbers"
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v curl >/dev/null 2>&1 || die "curl is needed"

log "cargo build --release (server and load tool)"
cargo build --release -p castyou -p castyou-wsload
scripts/services.sh
mkdir -p "$OUT"

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null

SERVER_ENV=(APP_ENVIRONMENT=production HOST=127.0.0.1 PORT="$PORT_" JWT_SECRET="$JWT" \
    DATABASE_URL="$URL" REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" \
    APP_REDIS__KEY_PREFIX="castyou-matchload:" \
    MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:27017}" \
    APP_MONGODB__DATABASE="castyou_matchload_$$" \
    APP_RATE_LIMIT__GENERAL_MAX=1000000000 APP_LOG__FILTER=warn \
    APP_OPERATIONS__PORT="$OPS_PORT" APP_MAIL__TRANSPORT=file APP_MAIL__DIR="$OUT/mail" \
    APP_REALTIME__MAX_SOCKETS_PER_USER=1000000 APP_REALTIME__MAX_SOCKETS_PER_ADDRESS=1000000)

log "seeding $TALENTS talents, $JOBS open jobs, $PRODUCERS producers"
env "${SERVER_ENV[@]}" "$BIN" seed --talents "$TALENTS" --jobs "$JOBS" --producers "$PRODUCERS" | tee "$OUT/seed.txt"

SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT_") 2>/dev/null; then
  die "127.0.0.1:$PORT_ is already taken; set LOAD_PORT"
fi
# `env` execs the server: $! is the server's own process.
env "${SERVER_ENV[@]}" "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 240); do
  ready=$(curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" 2>/dev/null || true)
  if [[ $ready == *'"status":"ready","talents"'* || $ready == *'"matchIndex":{'*'"status":"ready"'* ]]; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the server exited"; }
  [[ $i -lt 240 ]] || die "the match index was not built within 120 s"
  sleep 0.5
done
rss_kib=$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
log "server up, match index built; server RSS ${rss_kib} KiB"
echo "server RSS with the index built: ${rss_kib} KiB" | tee "$OUT/matching.txt"

WSLOAD_JWT_SECRET="$JWT" "$TOOL" --url "http://127.0.0.1:$PORT_" \
  --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
  --database-url "$URL" matching --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
  --subscribers "$SUBSCRIBERS" | tee -a "$OUT/matching.txt"
