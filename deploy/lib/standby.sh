#!/usr/bin/env bash
# A private primary PostgreSQL and a hot standby streaming from it (Debian's PostgreSQL), for
# the replica tests (gateway/tests/replicas.rs runs this script itself).
#
#   bash deploy/lib/standby.sh start DIR [PRIMARY_PORT [STANDBY_PORT]]
#   bash deploy/lib/standby.sh stop DIR
#   bash deploy/lib/standby.sh stop-standby DIR
#
# `start` makes DIR (it must not hold a cluster yet), runs a primary there (initdb, trust auth on
# 127.0.0.1 only, wal_level=replica; deploy/lib/postgres.sh's `hs_private_postgres ... test`),
# copies it with `pg_basebackup -R -X stream` (standby.signal and primary_conninfo) and starts
# that copy as a hot standby on the second port, then waits until the standby accepts
# connections. Ports default to free ones picked here. It prints, one a line:
#   PRIMARY_URL=postgres://postgres@127.0.0.1:PORT/hs
#   STANDBY_URL=postgres://postgres@127.0.0.1:PORT/hs
#   STOP=bash deploy/lib/standby.sh stop DIR
# `stop` stops both servers (immediate shutdown) and removes DIR. Both are safe to repeat.
# `stop-standby` stops only the standby (immediate shutdown), as if it had crashed.
# Sourced, it defines `hs_standby_start` and `hs_standby_stop` with the same arguments.

set -u

HS_STANDBY_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=postgres.sh
. "$HS_STANDBY_LIB/postgres.sh"

# A TCP port on 127.0.0.1 nobody listens on (first of a random walk).
hs_free_port() {
  local port tries=0
  while [ $tries -lt 200 ]; do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
    tries=$((tries + 1))
  done
  echo "hs: no free port found" >&2
  return 1
}

hs_standby_start() {
  local dir=$1 primary_port=${2:-} standby_port=${3:-}
  [ -n "$primary_port" ] || primary_port=$(hs_free_port) || return 1
  [ -n "$standby_port" ] || standby_port=$(hs_free_port) || return 1
  local bin
  bin=$(hs_pg_bin) || return 1
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir" 2>/dev/null || {
      useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres &&
        chown postgres "$dir"
    } || return 1
    chmod 700 "$dir"
  fi
  # The primary: hs_private_postgres's defaults (wal_level=replica, max_wal_senders=10 and a
  # pg_hba.conf that lets 127.0.0.1 replicate, by initdb) are what streaming needs.
  hs_private_postgres "$dir/primary" "$primary_port" hs test >&2 || return 1
  hs_standby_of "$primary_port" "$dir/standby" "$standby_port" hs || return 1
  echo "PRIMARY_URL=postgres://postgres@127.0.0.1:$primary_port/hs"
  echo "STANDBY_URL=postgres://postgres@127.0.0.1:$standby_port/hs"
  echo "STOP=bash $HS_STANDBY_LIB/standby.sh stop $dir"
}

# A hot standby of the server on 127.0.0.1:PRIMARY_PORT, in DIR (its cluster, sockets and log),
# on STANDBY_PORT; returns once it answers as a hot standby (database DBNAME, default postgres).
# FEEDBACK (on, or off) is its hot_standby_feedback: a standby whose replay is paused must not
# hold back the primary's vacuum (bench/run.sh makes one of its private server with it, off).
hs_standby_of() {
  local primary_port=$1 dir=$2 standby_port=$3 db=${4:-postgres} feedback=${5:-on}
  local bin
  bin=$(hs_pg_bin) || return 1
  local standby=$dir/cluster sockets=$dir/sockets log=$dir/server.log
  hs_pg_as_owner mkdir -p "$dir" "$sockets" || return 1
  hs_pg_as_owner "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
    -D "$standby" -R -X stream --checkpoint=fast >&2 || {
    echo "hs: pg_basebackup failed" >&2
    return 1
  }
  # The standby's max_connections may not be below the primary's (hot standby refuses).
  local options="-c listen_addresses=127.0.0.1 -p $standby_port -k $sockets -c hot_standby=on"
  options="$options -c fsync=off -c max_connections=400 -c hot_standby_feedback=$feedback"
  hs_pg_as_owner "$bin/pg_ctl" -D "$standby" -l "$log" -o "$options" -w -t 60 start >/dev/null || {
    echo "hs: the standby did not start; see $log" >&2
    tail -n 20 "$log" >&2 || true
    return 1
  }
  local tries=0
  until "$bin/psql" -h 127.0.0.1 -p "$standby_port" -U postgres -d "$db" -tAc \
      "SELECT pg_is_in_recovery()" 2>/dev/null | grep -q t; do
    tries=$((tries + 1))
    if [ $tries -gt 120 ]; then
      echo "hs: the standby does not answer as a hot standby; see $log" >&2
      return 1
    fi
    sleep 0.5
  done
}

hs_standby_stop_standby() {
  local dir=$1 bin
  bin=$(hs_pg_bin) || return 1
  hs_pg_as_owner "$bin/pg_ctl" -D "$dir/standby/cluster" -m immediate -w -t 30 stop >/dev/null
}

hs_standby_stop() {
  local dir=$1 bin cluster
  bin=$(hs_pg_bin) || return 1
  for cluster in "$dir/standby/cluster" "$dir/primary/cluster"; do
    if [ -f "$cluster/postmaster.pid" ]; then
      hs_pg_as_owner "$bin/pg_ctl" -D "$cluster" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    start) shift; hs_standby_start "$@" ;;
    stop) shift; hs_standby_stop "$@" ;;
    stop-standby) shift; hs_standby_stop_standby "$@" ;;
    *) echo "usage: $0 start DIR [PRIMARY_PORT [STANDBY_PORT]] | stop DIR | stop-standby DIR" >&2
       exit 2 ;;
  esac
fi
