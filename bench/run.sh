#!/usr/bin/env bash
# Runs the benchmark harness (see docs/benchmarks.md): builds the release binaries, then
# `bench` creates a fresh database on the server, loads generated data, measures the service
# and raw PostgreSQL, prints the table and writes bench/out/bench-<time>.json. Arguments are
# passed on to `bench` (e.g. `bench/run.sh --messages 1000000`; `bench/run.sh --help`).
#
# Uses DATABASE_URL (a server on this machine where databases may be created) when set;
# otherwise starts a private PostgreSQL with its data in bench/out/pgdata (port
# ${HS_BENCH_PG_PORT:-55434}) and stops it at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=deploy/lib/postgres.sh
source deploy/lib/postgres.sh

# shellcheck source=deploy/lib/standby.sh
source deploy/lib/standby.sh

HS_PG_STOP=""
standby_dir=""
cleanup() {
  if [ -n "$standby_dir" ]; then
    hs_pg_as_owner "$(hs_pg_bin)/pg_ctl" -D "$standby_dir/cluster" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$standby_dir"
  fi
  if [ -n "$HS_PG_STOP" ]; then eval "$HS_PG_STOP" >/dev/null || true; fi
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  mkdir -p "$root/bench/out"
  port=${HS_BENCH_PG_PORT:-55434}
  hs_private_postgres "$root/bench/out/pgdata" "$port" postgres
  echo "private PostgreSQL at ${DATABASE_URL}"
  # A hot standby of it, for the reads through a replica (docs/scaling.md); HS_BENCH_STANDBY=0
  # leaves it out.
  if [ "${HS_BENCH_STANDBY:-1}" = 1 ]; then
    standby_dir=$(mktemp -d /tmp/hs-bench-standby.XXXXXX)
    chmod 755 "$standby_dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$standby_dir"; fi
    standby_port=${HS_BENCH_STANDBY_PORT:-55435}
    # Paused until its own step: replaying the run's WAL would take CPU from every other step.
    # Without hot_standby_feedback, or the paused standby's snapshot would hold back the
    # primary's vacuum for the whole run (a first try of 2026-12-04 showed the lag at 500
    # sends/s ten times higher).
    hs_standby_of "$port" "$standby_dir" "$standby_port" postgres off
    "$(hs_pg_bin)/psql" -h 127.0.0.1 -p "$standby_port" -U postgres -d postgres -qtAc \
      "SELECT pg_wal_replay_pause()" >/dev/null
    export HS_BENCH_STANDBY_URL="postgres://postgres@127.0.0.1:$standby_port"
    echo "hot standby of it at ${HS_BENCH_STANDBY_URL}"
  fi
fi

# The history is sealed and the services run with a key-encryption key (docs/privacy.md): a key
# of the bench's own in bench/out/kek unless HS_KEK_FILE is set. The same run measures send and
# replay without sealing (HS_ENCRYPTION=off) for the comparison.
if [ -z "${HS_KEK_FILE:-}" ]; then
  mkdir -p "$root/bench/out"
  if [ ! -s "$root/bench/out/kek" ]; then
    (umask 077 && printf 'bench-kek %s\n' "$(head -c 32 /dev/urandom | base64)" >"$root/bench/out/kek")
  fi
  export HS_KEK_FILE="$root/bench/out/kek"
fi

cargo build --release --locked -p bench -p gateway -p projections --bins
export HS_BENCH_COMMAND="bench/run.sh${*:+ $*}"
target/release/bench "$@"
