#!/usr/bin/env bash
# Load test of a release build on this machine: seeds a fresh database, then drives
# authenticated `me` and `jobs(first: 20)` queries with wrk (64 connections, 2 threads) and
# prints requests/s, p50 and p99 per scenario. Only 127.0.0.1 is targeted; every run is
# bounded by DURATION.
#
#   scripts/load.sh                      # 20 s per scenario
#   DURATION=60s CONNECTIONS=128 LOAD_PORT=18081 scripts/load.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-3s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PORT_="${LOAD_PORT:-18080}"
OPS_PORT="${LOAD_OPS_PORT:-18081}"   # the operations listener (/metrics)
DB="castyou_load"
URL="http://127.0.0.1:$PORT_/graphql"
OUT="$ROOT/.data/load"
BIN="$CARGO_TARGET_DIR/release/castyou"

log() { printf 'load: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $DURATION =~ ^[0-9]+[smh]?$ ]] || die "DURATION must look like 20s, 2m or 30"
[[ $WARMUP =~ ^[0-9]+[smh]?$ ]] || die "WARMUP must look like 3s"

# --- tools -----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  log "installing wrk"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi
command -v curl >/dev/null 2>&1 || die "curl is needed"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

log "cargo build --release --bin castyou"
cargo build --release --bin castyou

scripts/services.sh

# --- fresh database ----------------------------------------------------------------------------
log "recreating database $DB"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null

# --- server ----------------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT_") 2>/dev/null; then
  die "127.0.0.1:$PORT_ is already taken; set LOAD_PORT"
fi
mkdir -p "$OUT"
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping the server (pid $SERVER_PID)"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Its own Redis key prefix: the server still counts requests with limits off, and the counters
# must not spill into the window of a development server on the same machine.
log "starting $BIN on $URL (production settings, rate limits off)"
APP_ENVIRONMENT=production \
  HOST=127.0.0.1 \
  PORT="$PORT_" \
  JWT_SECRET="load-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz" \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" \
  REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" \
  APP_REDIS__KEY_PREFIX="castyou-load:" \
  APP_RATE_LIMIT__GENERAL_MAX=1000000000 \
  APP_LOG__FILTER=warn \
  APP_OPERATIONS__PORT="$OPS_PORT" \
  APP_MAIL__TRANSPORT=file APP_MAIL__DIR="${TMPDIR:-/tmp}/castyou-load-mail" \
  "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

for i in $(seq 1 120); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT_/readyz" 2>/dev/null; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the server exited"; }
  [[ $i -lt 120 ]] || die "/readyz did not answer within 60s"
  sleep 0.5
done

# --- seed: two users, a producer profile, 40 open jobs ---------------------------------------
log "seeding users and 40 published jobs"
TOKEN="$(python3 - "$URL" <<'PY'
import json, sys, urllib.request
from datetime import datetime, timedelta, timezone

url = sys.argv[1]

def gql(query, variables=None, token=None):
    req = urllib.request.Request(url, data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.load(resp)
    if body.get("errors"):
        sys.exit(f"load: seeding failed on {query.split('(')[0]}: {json.dumps(body['errors'])}")
    return body["data"]

register = """mutation($email: String!, $role: Role!, $name: String!) {
  register(email: $email, password: "load-password-123", role: $role, displayName: $name) { accessToken } }"""
talent = gql(register, {"email": "talent@load.test", "role": "TALENT", "name": "Load Talent"})["register"]["accessToken"]
producer = gql(register, {"email": "producer@load.test", "role": "PRODUCER", "name": "Load Producer"})["register"]["accessToken"]
gql('mutation { upsertProducerProfile(input: {company: "Load Pictures"}) { id } }', token=producer)
deadline = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
for n in range(1, 41):
    job = gql("""mutation($input: JobInput!) { createJob(input: $input) { id } }""",
              {"input": {"title": f"Lead role #{n}", "description": f"Casting call number {n} for a feature film.",
                         "productionType": "FILM", "applicationDeadline": deadline}}, token=producer)
    gql("mutation($id: UUID!) { publishJob(id: $id) { id } }", {"id": job["createJob"]["id"]}, token=producer)
print(talent)
PY
)"
[[ -n $TOKEN ]] || die "seeding returned no token"

# --- scenarios -------------------------------------------------------------------------------
# wrk prints latencies as 812.00us, 1.52ms, 1.02s or 1.00m: normalise to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

SUMMARY=()
run_scenario() { # run_scenario NAME QUERY
  local name=$1 query=$2 body resp file
  body="$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1]}))' "$query")"
  # One request first: a scenario that answers with errors would measure nothing useful.
  resp="$(curl -sS --max-time 10 -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
    --data-binary "$body" "$URL")"
  if ! python3 -c '
import json, sys
body = json.loads(sys.argv[1])
sys.exit(0 if isinstance(body, dict) and not body.get("errors") and body.get("data") else 1)
' "$resp" 2>/dev/null; then
    die "$name did not answer with data: $resp"
  fi
  log "$name: warm-up $WARMUP"
  LOAD_BODY="$body" LOAD_TOKEN="$TOKEN" timeout 120 \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout 5s -s scripts/load/graphql.lua "$URL" >/dev/null
  log "$name: ${CONNECTIONS} connections, ${THREADS} threads, $DURATION"
  file="$OUT/$name.txt"
  LOAD_BODY="$body" LOAD_TOKEN="$TOKEN" timeout 3600 \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency -s scripts/load/graphql.lua "$URL" \
    | tee "$file"
  local rps p50 p99 non2xx errors
  rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$file")"
  p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")"
  non2xx="$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$file")"
  errors="$(awk '/Socket errors/ {print}' "$file" | sed 's/^ *//')"
  SUMMARY+=("$name: $rps req/s, p50 $p50 ms, p99 $p99 ms${non2xx:+, $non2xx non-2xx}${errors:+ ($errors)}")
}

run_scenario me '{ me { id email role displayName } }'
run_scenario jobs '{ jobs(first: 20) { totalCount edges { node { id title status applicationDeadline producer { company } } } } }'

printf '\n' >&2
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
