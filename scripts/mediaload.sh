#!/usr/bin/env bash
# Media load test of a release build on this machine: a fresh database and a server with the
# local store, then tools/wsload's `media` scenario:
#   - 12-megapixel JPEGs (made here with ffmpeg): images per CPU-second of the server, and its
#     peak resident memory while CONCURRENT are completed at once;
#   - a 60-second 1080p MP4 (made here): the time from completion to READY (probe + poster);
#   - a 1 GiB upload streamed to the server's signed URL: MB/s and resident memory growth.
# Only 127.0.0.1 is contacted.
#
#   scripts/mediaload.sh
#   IMAGES=20 UPLOAD_MIB=256 scripts/mediaload.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"
IMAGES="${IMAGES:-40}"
CONCURRENT="${CONCURRENT:-20}"
UPLOAD_MIB="${UPLOAD_MIB:-1024}"
VIDEO_SECS="${VIDEO_SECS:-60}"
JWT="load-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PORT_="${LOAD_PORT:-18090}"
OPS_PORT="${LOAD_OPS_PORT:-18091}"
DB="castyou_mediaload"
URL="postgres://postgres@127.0.0.1:5432/$DB"
OUT="$ROOT/.data/mediaload"
BIN="$CARGO_TARGET_DIR/release/castyou"
TOOL="$CARGO_TARGET_DIR/release/castyou-wsload"

log() { printf 'mediaload: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for n in "$IMAGES" "$CONCURRENT" "$UPLOAD_MIB" "$VIDEO_SECS"; do
  [[ $n =~ ^[0-9]+$ ]] || die "IMAGES, CONCURRENT, UPLOAD_MIB and VIDEO_SECS are whole numbers"
done
command -v curl >/dev/null 2>&1 || die "curl is needed"

log "cargo build --release (server and load tool)"
cargo build --release -p castyou -p castyou-wsload
scripts/services.sh
rm -rf "$OUT/media"
mkdir -p "$OUT/fixtures" "$OUT/media"

if [[ ! -s $OUT/fixtures/photo-12mp.jpg ]]; then
  log "making a 12-megapixel JPEG"
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=4000x3000,noise=alls=12:allf=t" \
    -frames:v 1 -q:v 3 "$OUT/fixtures/photo-12mp.jpg"
fi
if [[ ! -s $OUT/fixtures/reel-${VIDEO_SECS}s-1080p.mp4 ]]; then
  log "making a ${VIDEO_SECS}-second 1080p MP4"
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$VIDEO_SECS" \
    -f lavfi -i "sine=frequency=440:duration=$VIDEO_SECS" -c:v libx264 -preset veryfast \
    -pix_fmt yuv420p -c:a aac -shortest "$OUT/fixtures/reel-${VIDEO_SECS}s-1080p.mp4"
fi

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null

SERVER_ENV=(APP_ENVIRONMENT=production HOST=127.0.0.1 PORT="$PORT_" JWT_SECRET="$JWT" \
    DATABASE_URL="$URL" REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" \
    APP_REDIS__KEY_PREFIX="castyou-mediaload-$$:" \
    MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:27017}" \
    APP_MONGODB__DATABASE="castyou_mediaload_$$" \
    APP_RATE_LIMIT__GENERAL_MAX=1000000000 APP_LOG__FILTER=warn \
    APP_OPERATIONS__PORT="$OPS_PORT" APP_MAIL__TRANSPORT=file APP_MAIL__DIR="$OUT/mail" \
    APP_MEDIA__DIR="$OUT/media" APP_MEDIA__QUOTA_ITEMS=1000 APP_MEDIA__QUOTA_BYTES=1099511627776)

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT_") 2>/dev/null; then
  die "127.0.0.1:$PORT_ is already taken; set LOAD_PORT"
fi
env "${SERVER_ENV[@]}" "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for i in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the server exited"; }
  [[ $i -lt 120 ]] || die "the server was not ready within 60 s"
  sleep 0.5
done

"$TOOL" --url "http://127.0.0.1:$PORT_" --operations-url "http://127.0.0.1:$OPS_PORT" \
  --server-pid "$SERVER_PID" media --jpeg "$OUT/fixtures/photo-12mp.jpg" \
  --video "$OUT/fixtures/reel-${VIDEO_SECS}s-1080p.mp4" --images "$IMAGES" \
  --concurrent "$CONCURRENT" --upload-mib "$UPLOAD_MIB" | tee "$OUT/media.txt"
log "figures in $OUT/media.txt"
