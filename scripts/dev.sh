#!/usr/bin/env bash
# Runs CastYou locally: brings up PostgreSQL, Redis and the MongoDB-wire server
# (scripts/services.sh), then builds and
# starts the server, which applies pending migrations and serves
# http://127.0.0.1:8080/graphql (GraphiQL on GET /graphql in development).
#
#   scripts/dev.sh                       # APP_ENVIRONMENT=development unless set
#   APP_LOG__FILTER=debug scripts/dev.sh # any APP_SECTION__KEY / DATABASE_URL / PORT ... works
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# One shared build folder outside the clone, so fresh clones and CI reuse compiled crates.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"
export APP_ENVIRONMENT="${APP_ENVIRONMENT:-development}"

scripts/services.sh
exec cargo run --bin castyou -- serve "$@"
