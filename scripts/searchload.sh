#!/usr/bin/env bash
# Search load test of a release build on this machine: seeds a fresh database with
# `castyou seed` (100,000 talent profiles by default), starts a stand-in embeddings endpoint
# (tools/fake-openai: fixed latency, 5 ms by default) and the server against it, waits until
# every profile is embedded and in the semantic index, then measures with tools/wsload:
# `searchTalents` p50/p99 at 16 concurrent clients for lexical and for semantic queries
# (each query's embedding cached after its first use), and the HNSW index alone (`recall`:
# build time, memory per vector, recall@10 against brute force) over the stored vectors.
# Only 127.0.0.1 is contacted. SEMANTIC=0 measures the lexical lists alone: no endpoint, no
# embedding, the wait is for the lexical index only (its build time and size are reported).
# Then the start times: the server is stopped (SIGTERM: it saves a copy of each index) and
# started again on the same disk (it opens its copies), then on an empty index folder (it
# downloads the copies published to the media store); each is timed from start to the public
# /readyz answering 200 (every index answers) and to the first search answered.
#
#   scripts/searchload.sh
#   TALENTS=20000 REQUESTS=1000 scripts/searchload.sh
#   SEMANTIC=0 TALENTS=1000000 scripts/searchload.sh
#   RECALL=0 scripts/searchload.sh   # without the HNSW recall measurement
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"
TALENTS="${TALENTS:-100000}"
JOBS="${JOBS:-2000}"
PRODUCERS="${PRODUCERS:-200}"
REQUESTS="${REQUESTS:-3000}"
CONCURRENCY="${CONCURRENCY:-16}"
DIMS="${DIMS:-512}"
LATENCY_MS="${LATENCY_MS:-5}"
SEMANTIC="${SEMANTIC:-1}"
JWT="load-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PORT_="${LOAD_PORT:-18090}"
OPS_PORT="${LOAD_OPS_PORT:-18091}"
AI_PORT="${LOAD_AI_PORT:-18099}"
DB="castyou_searchload"
URL="postgres://postgres@127.0.0.1:5432/$DB"
OUT="$ROOT/.data/searchload"
BIN="$CARGO_TARGET_DIR/release/castyou"
TOOL="$CARGO_TARGET_DIR/release/castyou-wsload"

log() { printf 'searchload: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for n in "$TALENTS" "$JOBS" "$PRODUCERS" "$REQUESTS" "$CONCURRENCY" "$DIMS"; do
  [[ $n =~ ^[0-9]+$ ]] || die "TALENTS, JOBS, PRODUCERS, REQUESTS, CONCURRENCY and DIMS are whole numbers"
done
command -v curl >/dev/null 2>&1 || die "curl is needed"

log "cargo build --release (server and load tool)"
cargo build --release -p castyou -p castyou-wsload
scripts/services.sh
mkdir -p "$OUT"

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null

SERVER_ENV=(APP_ENVIRONMENT=production HOST=127.0.0.1 PORT="$PORT_" JWT_SECRET="$JWT" \
    DATABASE_URL="$URL" REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" \
    APP_REDIS__KEY_PREFIX="castyou-searchload-$$:" \
    MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:27017}" \
    APP_MONGODB__DATABASE="castyou_searchload_$$" \
    APP_RATE_LIMIT__GENERAL_MAX=1000000000 APP_LOG__FILTER=warn \
    APP_OPERATIONS__PORT="$OPS_PORT" APP_MAIL__TRANSPORT=file APP_MAIL__DIR="$OUT/mail" \
    APP_SEARCH__DIR="$OUT/index" APP_MEDIA__DIR="$OUT/media")
if [[ $SEMANTIC == 1 ]]; then
  SERVER_ENV+=(OPENAI_BASE_URL="http://127.0.0.1:$AI_PORT/v1" APP_AI__EMBEDDING_MODEL=fake-embedder \
    APP_AI__EMBEDDING_DIMENSIONS="$DIMS" APP_AI__EMBEDDING_BATCH=256)
fi

log "seeding $TALENTS talents, $JOBS open jobs, $PRODUCERS producers"
env "${SERVER_ENV[@]}" "$BIN" seed --talents "$TALENTS" --jobs "$JOBS" --producers "$PRODUCERS" | tee "$OUT/seed.txt"

# As autovacuum would after a bulk load: statistics for the planner, and visibility maps so
# the covering indexes answer without visiting the heap.
psql "$URL" -qc "VACUUM ANALYZE" >/dev/null

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # A server stopping saves copies of its indexes (seconds at 100,000 vectors).
    for _ in $(seq 1 480); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

for port in "$PORT_" "$AI_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is already taken; set LOAD_PORT / LOAD_AI_PORT"
  fi
done
if [[ $SEMANTIC == 1 ]]; then
  python3 tools/fake-openai/server.py --port "$AI_PORT" --dims "$DIMS" --latency-ms "$LATENCY_MS" &
  PIDS+=($!)
fi
env "${SERVER_ENV[@]}" "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")

# Stops the server as SIGTERM does (it saves a copy of each index), waiting up to 5 minutes.
stop_server() {
  kill -TERM "$SERVER_PID"
  for _ in $(seq 1 1200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$SERVER_PID" 2>/dev/null && die "the server did not stop within 5 minutes"
  wait "$SERVER_PID" 2>/dev/null || true
}

# Starts the server with its indexes under $2 and reports, as $1, the time to the public
# /readyz answering 200 and to the first search answered, and where each index came from.
timed_start() {
  local label=$1 dir=$2 t0 ready_at searched_at body
  t0=$(date +%s%N)
  env "${SERVER_ENV[@]}" APP_SEARCH__DIR="$dir" "$BIN" serve >>"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for i in $(seq 1 12000); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT_/readyz" 2>/dev/null; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the server exited"; }
    [[ $i -lt 12000 ]] || die "not ready within 10 minutes"
    sleep 0.05
  done
  ready_at=$(date +%s%N)
  WSLOAD_JWT_SECRET="$JWT" "$TOOL" --url "http://127.0.0.1:$PORT_" \
    --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
    --database-url "$URL" search --concurrency 1 --requests 1 >/dev/null
  searched_at=$(date +%s%N)
  body=$(curl -fsS "http://127.0.0.1:$OPS_PORT/readyz")
  {
    printf '%s: ready %.1f s after start, first search answered at %.1f s; ' "$label" \
      "$(( (ready_at - t0) / 1000000 ))e-3" "$(( (searched_at - t0) / 1000000 ))e-3"
    printf 'lexical %s; ' "$(grep -o '"lexicalIndex":{[^}]*}' <<<"$body" | grep -o '"lastBuildMs":[0-9]*\|"loadedFrom":[^,]*,"caughtUp":[0-9]*' | tr '\n' ' ')"
    printf 'semantic %s; ' "$(grep -o '"semanticIndex":{[^}]*}' <<<"$body" | grep -o '"lastBuildMs":[0-9]*\|"loadedFrom":[^,]*,"caughtUp":[0-9]*' | tr '\n' ' ' || echo off)"
    printf 'match index %s\n' "$(grep -o '"matchIndex":{[^}]*}' <<<"$body" | grep -o '"lastBuildMs":[0-9]*')"
  } | tee -a "$OUT/search.txt"
}

# The restarts: on the same disk (its own copies), then on an empty disk (the published ones).
restarts() {
  log "stopping (each index saves a copy) and starting again on the same disk"
  stop_server
  timed_start "restart with its own copies" "$OUT/index"
  stop_server
  log "starting on an empty disk (copies from the media store)"
  rm -rf "$OUT/index-empty"
  timed_start "new instance, copies from the object store" "$OUT/index-empty"
  du -sb "$OUT/index/snapshots"/* | tee -a "$OUT/search.txt"
}

rm -rf "$OUT/index" "$OUT/index-empty" "$OUT/media"
started=$(date +%s)
log "waiting for the lexical index"
for i in $(seq 1 1800); do
  ready=$(curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" 2>/dev/null || true)
  lexical=$(sed -n 's/.*"lexicalIndex":{\([^}]*\)}.*/\1/p' <<<"$ready")
  talents=$(sed -n 's/.*"talents":\([0-9]*\).*/\1/p' <<<"$lexical")
  if [[ -n $talents && $talents -ge $TALENTS ]]; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the server exited"; }
  [[ $i -lt 1800 ]] || die "the lexical index was not built within 15 minutes"
  sleep 0.5
done
{
  echo "lexical index of $TALENTS talents ready $(( $(date +%s) - started )) s after start: $lexical"
} | tee "$OUT/search.txt"
if [[ $SEMANTIC == 0 ]]; then
  WSLOAD_JWT_SECRET="$JWT" "$TOOL" --url "http://127.0.0.1:$PORT_" \
    --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
    --database-url "$URL" search --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
    | tee -a "$OUT/search.txt"
  restarts
  log "figures in $OUT/search.txt"
  exit 0
fi

log "waiting for every profile to be embedded and indexed"
for i in $(seq 1 1800); do
  ready=$(curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" 2>/dev/null || true)
  vectors=$(sed -n 's/.*"semanticIndex":{[^}]*"vectors":\([0-9]*\).*/\1/p' <<<"$ready")
  backlog=$(sed -n 's/.*"embeddingBacklog":\([0-9]*\).*/\1/p' <<<"$ready")
  if [[ -n $vectors && $vectors -ge $TALENTS && $backlog == 0 ]]; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the server exited"; }
  [[ $i -lt 1800 ]] || die "not embedded within 15 minutes (vectors ${vectors:-?}, backlog ${backlog:-?})"
  if (( i % 20 == 0 )); then log "vectors ${vectors:-0}, backlog ${backlog:-?}"; fi
  sleep 0.5
done
took=$(( $(date +%s) - started ))
rss_kib=$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
{
  echo "embedded and indexed $TALENTS profiles in ${took} s (fake endpoint, ${LATENCY_MS} ms per call, 256 texts per call)"
  echo "server RSS with the match and semantic indexes: ${rss_kib} KiB"
} | tee -a "$OUT/search.txt"

WSLOAD_JWT_SECRET="$JWT" "$TOOL" --url "http://127.0.0.1:$PORT_" \
  --operations-url "http://127.0.0.1:$OPS_PORT" --server-pid "$SERVER_PID" \
  --database-url "$URL" search --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
  | tee -a "$OUT/search.txt"

if [[ ${RECALL:-1} == 0 ]]; then
  restarts
  log "figures in $OUT/search.txt"
  exit 0
fi
log "exporting the profile vectors for the index measurement"
psql "$URL" -qAt -c "COPY (SELECT translate(encode(vector, 'base64'), E'\\n', '')
    FROM talent_embeddings WHERE part = 'PROFILE' ORDER BY talent_id) TO STDOUT" >"$OUT/vectors.b64"
"$TOOL" --url "http://127.0.0.1:$PORT_" --server-pid "$SERVER_PID" recall --file "$OUT/vectors.b64" --dims "$DIMS" \
  | tee -a "$OUT/search.txt"
restarts
log "figures in $OUT/search.txt"
