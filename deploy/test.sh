#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL: the Rust tests, the browser tests
# (deploy/e2e.sh) and schemathesis against the OpenAPI document (deploy/schemathesis.sh).
#
# Uses DATABASE_URL when set (each test creates and drops its own database there); otherwise
# starts a private PostgreSQL in a temporary folder and stops it afterwards. A failing part does
# not skip the others: every part runs, and the script exits non-zero at the end, naming the
# parts that failed. HS_SKIP_BROWSER=1 or HS_SKIP_SCHEMATHESIS=1 leave a part out.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=deploy/lib/postgres.sh
source deploy/lib/postgres.sh
# shellcheck source=deploy/lib/redis.sh
source deploy/lib/redis.sh

HS_PG_STOP=""
HS_REDIS_STOP=""
scratch=""
cleanup() {
  trap '' INT TERM PIPE
  if [ -n "$HS_PG_STOP" ]; then eval "$HS_PG_STOP" >/dev/null || true; fi
  if [ -n "$HS_REDIS_STOP" ]; then eval "$HS_REDIS_STOP" >/dev/null 2>&1 || true; fi
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  scratch=$(mktemp -d /tmp/hs-test-pg.XXXXXX)
  chmod 755 "$scratch"
  hs_private_postgres "$scratch" "${HS_TEST_PG_PORT:-55433}" postgres test
  echo "private test PostgreSQL at ${DATABASE_URL}"
fi

# Redis for the shared rate limits (gateway/tests/shared_limits.rs).
if [ -z "$scratch" ]; then scratch=$(mktemp -d /tmp/hs-test.XXXXXX); fi
hs_redis "$scratch/redis" "${HS_TEST_REDIS_PORT:-56379}"
echo "Redis for the tests at ${REDIS_URL}"

failed=()
passed=0
# Runs one part; a failure is recorded, not fatal.
part() {
  local name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    echo "== $name FAILED" >&2
    failed+=("$name")
  else
    passed=$((passed + 1))
  fi
}

rust_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
  else
    cargo test --workspace --locked --no-fail-fast
  fi
}

# Every binary first: the black-box tests, the browser tests and schemathesis start the real
# processes (gateway, services, projector, hs-admin, audit) from target/debug. Without them no
# other part can run.
cargo build --workspace --bins --locked
part "rust tests" rust_tests
# The SPA in a real browser against the real gateway.
if [ "${HS_SKIP_BROWSER:-0}" != 1 ]; then
  part "browser tests (deploy/e2e.sh)" bash deploy/e2e.sh
fi
# The OpenAPI document: validated, and every operation fuzzed as each role.
if [ "${HS_SKIP_SCHEMATHESIS:-0}" != 1 ]; then
  part "schemathesis (deploy/schemathesis.sh)" bash deploy/schemathesis.sh
fi
# Two gateways behind Debian's nginx, configured with the files of deploy/nginx/.
if [ "${HS_SKIP_NGINX:-0}" != 1 ]; then
  part "nginx (deploy/nginx-test.sh)" bash deploy/nginx-test.sh
fi

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
fi
echo "parts: $passed passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
