#!/usr/bin/env bash
# Runs every test against real PostgreSQL, Redis and the MongoDB-wire server: brings the
# services up (scripts/services.sh), runs the client-compatibility suite (the real
# @apollo/client from Node, scripts/client-tests.sh), then every test of the workspace with
# cargo-nextest when installed, plain `cargo test` otherwise.
# Extra arguments go to the Rust test runner, e.g. `scripts/test.sh pipeline` to filter by name
# (the client suite is then skipped unless CLIENT_TESTS=1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# One shared build folder outside the clone, so fresh clones and CI reuse compiled crates.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/castyou-target}"

scripts/services.sh

# In CI every failure is worth seeing in one run, not only the first.
extra=()
if [[ -n ${CI:-} ]]; then extra+=(--no-fail-fast); fi

clients=0
if [[ $# -eq 0 || -n ${CLIENT_TESTS:-} ]]; then
  scripts/client-tests.sh || clients=$?
fi

rust=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace "${extra[@]}" "$@" || rust=$?
else
  cargo test --workspace "${extra[@]}" "$@" || rust=$?
fi
if [[ $clients -ne 0 ]]; then
  echo "the client-compatibility suite failed (see above)" >&2
fi
[[ $clients -eq 0 && $rust -eq 0 ]]
