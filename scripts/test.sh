#!/usr/bin/env bash
# Runs every test of the workspace against real PostgreSQL, Redis and the MongoDB-wire server:
# brings the services up
# (scripts/services.sh), then cargo-nextest when installed, plain `cargo test` otherwise.
# Extra arguments go to the test runner, e.g. `scripts/test.sh pipeline` to filter by name.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# One shared build folder outside the clone, so fresh clones and CI reuse compiled crates.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"

scripts/services.sh

# In CI every failure is worth seeing in one run, not only the first.
extra=()
if [[ -n ${CI:-} ]]; then extra+=(--no-fail-fast); fi

if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace "${extra[@]}" "$@"
else
  exec cargo test --workspace "${extra[@]}" "$@"
fi
