#!/usr/bin/env bash
# Client compatibility: drives a CastYou server with the real JavaScript clients the apps use
# (@apollo/client and graphql-ws, versions pinned by tests/clients/package-lock.json).
# Expects the services up (scripts/test.sh runs scripts/services.sh first); builds the server,
# starts it on a free port with its own database, runs `node --test`, and cleans up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"

log() { printf 'clients: %s\n' "$*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing Node.js and npm (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
cargo build --quiet --bin castyou

PORT_="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DB="castyou_clients_$$"
JWT="client-tests-secret-that-is-long-enough-0123456789"
PG_URL="postgres://postgres@127.0.0.1:5432"
psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB" >/dev/null

SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

APP_ENVIRONMENT=test \
  HOST=127.0.0.1 \
  PORT="$PORT_" \
  JWT_SECRET="$JWT" \
  DATABASE_URL="$PG_URL/$DB" \
  APP_REDIS__KEY_PREFIX="castyou-clients:$$:" \
  APP_MONGODB__DATABASE="$DB" \
  APP_OPERATIONS__PORT=0 \
  "$CARGO_TARGET_DIR/debug/castyou" serve >"${TMPDIR:-/tmp}/castyou-clients-$$.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 120); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$PORT_/readyz" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 30 "${TMPDIR:-/tmp}/castyou-clients-$$.log" >&2
    log "the server exited"
    exit 1
  fi
  [[ $i -lt 120 ]] || { log "/readyz did not answer within 60 s"; exit 1; }
  sleep 0.5
done

log "running the Apollo Client suite against http://127.0.0.1:$PORT_"
(cd tests/clients && CASTYOU_URL="http://127.0.0.1:$PORT_" CASTYOU_JWT_SECRET="$JWT" npm test --silent)
