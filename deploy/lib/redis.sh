# shellcheck shell=bash
# A Redis for the tests of the shared rate limits: REDIS_URL when set, else the machine's on
# 6379 when it answers, else a private redis-server (installed from Debian's package when
# missing) in `$1` on port `$2`, without persistence. Exports REDIS_URL and, for a private
# server, HS_REDIS_STOP (the command that stops it).
hs_redis() {
  local dir=$1 port=$2
  HS_REDIS_STOP=""
  if [ -n "${REDIS_URL:-}" ]; then return 0; fi
  if command -v redis-cli >/dev/null 2>&1 && redis-cli -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL=redis://127.0.0.1:6379
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    local sudo=sudo
    if [ "$(id -u)" -eq 0 ]; then sudo=""; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  fi
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  for _ in $(seq 1 50); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null
  export REDIS_URL="redis://127.0.0.1:$port"
  HS_REDIS_STOP="redis-cli -p $port shutdown nosave"
}
