#!/usr/bin/env bash
# Starts a private PostgreSQL for deploy/run.sh and deploy/test.sh (sourced, not run).
#
#   hs_private_postgres DATA_DIR PORT DBNAME [test]
#
# Installs Debian's `postgresql` package when no server binaries exist, runs `initdb` into
# DATA_DIR (trust auth on 127.0.0.1 only), starts the server on PORT unless it already runs
# there, creates DBNAME, and exports DATABASE_URL and HS_PG_STOP (a command that stops it).
# With `test`, durability is traded for speed (fsync off) and more connections are allowed.

hs_pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "hs: installing PostgreSQL (Debian package postgresql)" >&2
    if [ "$(id -u)" -eq 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    else
      sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  [ -x "$bin/initdb" ] || { echo "hs: no PostgreSQL server binaries found" >&2; return 1; }
  echo "$bin"
}

# Runs a command as the database owner: root may not run PostgreSQL itself.
hs_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

hs_private_postgres() {
  local data=$1 port=$2 db=$3 mode=${4:-}
  local bin
  bin=$(hs_pg_bin) || return 1
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  mkdir -p "$data"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$data"
    chmod 700 "$data"
    if ! runuser -u postgres -- test -w "$data"; then
      # The checkout is not reachable by the postgres user (e.g. under /root): use /tmp.
      data=$(mktemp -d /tmp/hs-pgdata.XXXXXX)
      chown postgres "$data"
      echo "hs: checkout not accessible to the postgres user; data in $data" >&2
    fi
  fi
  local cluster=$data/cluster sockets=$data/sockets log=$data/server.log
  hs_pg_as_owner mkdir -p "$sockets"
  if [ ! -f "$cluster/PG_VERSION" ]; then
    hs_pg_as_owner "$bin/initdb" -D "$cluster" --username=postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null || return 1
  fi
  local options="-c listen_addresses=127.0.0.1 -p $port -k $sockets"
  if [ "$mode" = test ]; then
    options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
  fi
  if ! hs_pg_as_owner "$bin/pg_ctl" -D "$cluster" status >/dev/null 2>&1; then
    hs_pg_as_owner "$bin/pg_ctl" -D "$cluster" -l "$log" -o "$options" -w -t 60 start >/dev/null || {
      echo "hs: PostgreSQL did not start; see $log" >&2
      tail -n 20 "$log" >&2 || true
      return 1
    }
    HS_PG_STOP="$(printf '%q ' hs_pg_as_owner "$bin/pg_ctl" -D "$cluster" -m fast -w stop)"
  else
    HS_PG_STOP=""
  fi
  export HS_PG_STOP
  if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/$db"
}
