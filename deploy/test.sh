#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL.
#
# Uses DATABASE_URL when set (each test creates and drops its own database there); otherwise
# starts a private PostgreSQL in a temporary folder and stops it afterwards.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=deploy/lib/postgres.sh
source deploy/lib/postgres.sh

HS_PG_STOP=""
scratch=""
cleanup() {
  trap '' INT TERM PIPE
  if [ -n "$HS_PG_STOP" ]; then eval "$HS_PG_STOP" >/dev/null || true; fi
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  scratch=$(mktemp -d /tmp/hs-test-pg.XXXXXX)
  chmod 755 "$scratch"
  hs_private_postgres "$scratch" "${HS_TEST_PG_PORT:-55433}" postgres test
  echo "private test PostgreSQL at ${DATABASE_URL}"
fi

# Every binary first: the black-box tests start the real processes (gateway, services,
# projector, hs-admin, audit) from target/debug.
cargo build --workspace --bins --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

# The SPA in a real browser against the real gateway (skip with HS_SKIP_BROWSER=1).
if [ "${HS_SKIP_BROWSER:-0}" != 1 ]; then
  bash deploy/e2e.sh
fi
