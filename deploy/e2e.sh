#!/usr/bin/env bash
# Browser tests of the SPA (web/e2e/*.test.mjs): headless Debian Chromium driven by
# playwright-core, against the real gateway (debug build) on a fresh database of the server in
# DATABASE_URL. Called by test.sh.
#
# Installs Debian's `chromium` when missing and the test's npm packages (web/e2e, from its
# package-lock.json). Screenshots go to test-output/screenshots/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# The tests' public key-encryption key (deploy/dev/test-kek), unless one is set.
export HS_KEK_FILE=${HS_KEK_FILE:-$root/deploy/dev/test-kek}
: "${DATABASE_URL:?DATABASE_URL must point at a server where a database may be created}"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing Debian's chromium"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd web/e2e && npm ci --no-audit --no-fund --loglevel=error)

server=${DATABASE_URL%%\?*}
server=${server%/*}
db="hs_e2e_$(date +%s)_$$"
psql "$server/postgres" -qc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$server/$db"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ]; then kill -TERM "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

bin="${CARGO_TARGET_DIR:-target}/debug"
"$bin/hs-admin" migrate >/dev/null
"$bin/hs-admin" seed-demo >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
mkdir -p test-output
PORT=$port METRICS_ADDR=off WEB_DIR="$root/web" RUST_LOG=warn "$bin/gateway" >test-output/e2e-gateway.log 2>&1 &
gateway_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null

# One file at a time: each starts its own Chromium, and the machine may be small.
BASE_URL="http://127.0.0.1:$port" SCREENSHOT_DIR="$root/test-output/screenshots" \
  node --test --test-concurrency=1 --test-reporter=spec web/e2e/flows.test.mjs web/e2e/errors.test.mjs web/e2e/live.test.mjs \
    web/e2e/compose.test.mjs web/e2e/triage.test.mjs web/e2e/templates.test.mjs \
    web/e2e/scheduled.test.mjs web/e2e/broadcast.test.mjs web/e2e/auditor.test.mjs \
    web/e2e/blocking.test.mjs web/e2e/archive.test.mjs web/e2e/export.test.mjs \
    web/e2e/access-log.test.mjs web/e2e/erasure.test.mjs
