#!/usr/bin/env bash
# Runs the whole messaging system locally at http://127.0.0.1:${PORT:-8080}.
#
# Uses DATABASE_URL when set; otherwise starts a private PostgreSQL (data in .pgdata/ under the
# checkout, port ${HS_PG_PORT:-55432}). Applies migrations, creates the demo users where missing
# (password `healing-demo`, local use only), builds in release mode every binary that
# docs/operations.md names (gateway, hs-admin, projector, audit, command-service, query-service:
# the first build takes about 8 minutes) and runs the gateway in the foreground. Ctrl-C stops
# everything this script started.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=deploy/lib/postgres.sh
source deploy/lib/postgres.sh
if ! command -v cargo >/dev/null 2>&1; then
  echo "deploy/run.sh needs Rust (cargo): see https://rustup.rs" >&2
  exit 1
fi

HS_PG_STOP=""
cleanup() {
  trap '' INT TERM PIPE  # finish cleaning up even if the terminal or a pipe goes away
  if [ -n "${gateway_pid:-}" ]; then kill -TERM "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  if [ -n "$HS_PG_STOP" ]; then eval "$HS_PG_STOP" >/dev/null 2>&1 || true; echo "stopped the private PostgreSQL" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  hs_private_postgres "$root/.pgdata" "${HS_PG_PORT:-55432}" healing_space
  echo "private PostgreSQL at ${DATABASE_URL}"
fi

# The key-encryption key that seals message text (docs/privacy.md): HS_KEK_FILE when set,
# otherwise a key of this checkout's own, made once in .keys/ (kept out of git). Lose it and the
# local messages cannot be read again.
if [ -z "${HS_KEK_FILE:-}" ]; then
  mkdir -p "$root/.keys"
  chmod 700 "$root/.keys"
  if [ ! -s "$root/.keys/kek" ]; then
    (umask 077 && printf 'local-%s %s\n' "$(date +%Y%m%d)" "$(head -c 32 /dev/urandom | base64)" >"$root/.keys/kek")
    echo "made a key-encryption key for this checkout: .keys/kek"
  fi
  export HS_KEK_FILE="$root/.keys/kek"
fi

# Every operator command of docs/operations.md, so that they are all there after this script.
cargo build --release --locked --bin gateway --bin hs-admin --bin projector --bin audit \
  --bin command-service --bin query-service
target/release/hs-admin migrate
target/release/hs-admin seed-demo

export PORT=${PORT:-8080}
export WEB_DIR=${WEB_DIR:-$root/web}
echo "operator commands: target/release/{hs-admin,projector,audit} (see docs/operations.md)"
echo "Healing Space messaging: http://127.0.0.1:${PORT} (log in as alice / healing-demo)"
target/release/gateway &
gateway_pid=$!
wait "$gateway_pid"
