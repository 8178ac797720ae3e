#!/usr/bin/env bash
# Two gateways behind Debian's nginx, configured with the very files of deploy/nginx/ (the test
# site deploy/nginx/test-site.conf.in includes the production site's http.conf and locations.conf,
# with proxy.conf and static.conf): plain HTTP on a free loopback port, an unprivileged nginx
# master with its prefix, pid, logs and temporary files in a temporary folder. Checks with curl:
#   0. the production site (healing-space.conf, TLS) passes `nginx -t` (throw-away certificate);
#   a. a message sent through one instance is read with its X-Consistency-Token through the other
#      (directly at each gateway, both ways, and through nginx), and a page cursor signed by one
#      instance is accepted by the other (the shared CURSOR_SECRET);
#   b. the gateway records the real client's IP (a client on 127.0.0.2 that forges
#      X-Forwarded-For): in the event's metadata and in the access log;
#   c. a stream opened through nginx gets each `message` event less than 2 s after the send's 201
#      (no buffering; 5 s for the one sent while the stream reconnects), survives the restart of the instance that does not hold it on the same
#      connection, and after the restart of the one that holds it reconnects through nginx with
#      Last-Event-ID and misses nothing (every message exactly once);
#   d. static files: / and SPA routes answer index.html, Cache-Control as designed (no-cache for
#      the fixed names, a year and immutable for content-hashed names), the gateway's security
#      headers, 304 on revalidation, the SPA's tests and READMEs not served; every /api answer
#      carries exactly `Cache-Control: no-store`; a body over 64 KiB is refused by nginx with 413
#      in the API's envelope; with both gateways down nginx answers 503 `unavailable`.
# Called by test.sh (HS_SKIP_NGINX=1 leaves it out). Needs DATABASE_URL (a server where a database
# may be created) and the debug binaries gateway and hs-admin (HS_PROFILE=release for the release
# ones) under CARGO_TARGET_DIR (default target/). Installs Debian's nginx when missing. Logs of
# the run go to test-output/nginx/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# The tests' public key-encryption key (deploy/dev/test-kek), unless one is set.
export HS_KEK_FILE=${HS_KEK_FILE:-$root/deploy/dev/test-kek}
: "${DATABASE_URL:?DATABASE_URL must point at a server where a database may be created}"

bin="${CARGO_TARGET_DIR:-$root/target}/${HS_PROFILE:-debug}"
for program in gateway hs-admin; do
  if [ ! -x "$bin/$program" ]; then
    echo "nginx-test: $bin/$program is missing (cargo build --bins first)" >&2
    exit 1
  fi
done
for tool in curl psql python3; do
  command -v "$tool" >/dev/null || { echo "nginx-test: needs $tool" >&2; exit 1; }
done
nginx_bin=$(command -v nginx || true)
if [ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ]; then nginx_bin=/usr/sbin/nginx; fi
if [ -z "$nginx_bin" ]; then
  # (The package may start its own nginx service on port 80 where systemd runs; this test does
  # not use it.)
  echo "nginx-test: installing nginx (Debian package nginx)"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi

out="$root/test-output/nginx"
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/hs-nginx-test.XXXXXX)
chmod 755 "$tmp"
server=${DATABASE_URL%%\?*}
server=${server%/*}
db="hs_nginx_$(date +%s)_$$"

declare -A gateway_pid=()
nginx_pid=""
sse_pid=""
cleanup() {
  local status=$?
  trap '' INT TERM PIPE
  if [ -n "$sse_pid" ]; then kill "$sse_pid" 2>/dev/null || true; wait "$sse_pid" 2>/dev/null || true; fi
  if [ -n "$nginx_pid" ]; then kill -QUIT "$nginx_pid" 2>/dev/null || true; fi
  for n in "${!gateway_pid[@]}"; do
    kill -TERM "${gateway_pid[$n]}" 2>/dev/null || true
  done
  for n in "${!gateway_pid[@]}"; do
    wait "${gateway_pid[$n]}" 2>/dev/null || true
  done
  if [ -n "$nginx_pid" ]; then
    for _ in $(seq 1 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  cp "$tmp"/*.log "$out/" 2>/dev/null || true
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
ok() { echo "  ok: $*"; }
fail() {
  echo "  FAILED: $*" >&2
  failures=$((failures + 1))
}
# Stops the test at once (a precondition of the remaining checks does not hold).
die() {
  echo "nginx-test: $*" >&2
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
now() { date +%s.%N; }
# The value of header $2 in the header dump $1 (last one wins; empty when absent).
header() {
  tr -d '\r' <"$1" | awk -v name="$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" -F': ' \
    'tolower($1) == name { value = substr($0, length($1) + 3) } END { print value }'
}
# How many times header $2 appears in the header dump $1.
header_count() {
  tr -d '\r' <"$1" | awk -v name="$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" -F': ' \
    'tolower($1) == name { n++ } END { print n + 0 }'
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- the database and the two gateways ------------------------------------------------------
psql "$server/postgres" -qc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$server/$db"
"$bin/hs-admin" migrate >/dev/null
"$bin/hs-admin" seed-demo >/dev/null

cursor_secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
declare -A gateway_port=() metrics_port=()
for n in 1 2; do
  gateway_port[$n]=$(free_port)
  metrics_port[$n]=$(free_port)
done
start_gateway() {
  local n=$1
  HOST=127.0.0.1 PORT=${gateway_port[$n]} METRICS_ADDR=127.0.0.1:${metrics_port[$n]} \
    WEB_DIR="$root/web" TRUSTED_PROXIES=127.0.0.1 CURSOR_SECRET=$cursor_secret \
    SHUTDOWN_GRACE_SECS=2 RUST_LOG=info LOG_FORMAT=json \
    "$bin/gateway" >>"$tmp/gateway$n.log" 2>&1 &
  gateway_pid[$n]=$!
}
wait_ready() {
  local n=$1
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:${gateway_port[$n]}/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "${gateway_pid[$n]}" 2>/dev/null || die "gateway $n exited; see $out/gateway$n.log"
    sleep 0.2
  done
  die "gateway $n not ready after 30 s; see $out/gateway$n.log"
}
stop_gateway() {
  local n=$1
  kill -TERM "${gateway_pid[$n]}" 2>/dev/null || true
  wait "${gateway_pid[$n]}" 2>/dev/null || true
  unset "gateway_pid[$n]"
}
start_gateway 1
start_gateway 2
wait_ready 1
wait_ready 2
g1="http://127.0.0.1:${gateway_port[1]}"
g2="http://127.0.0.1:${gateway_port[2]}"

# --- nginx ------------------------------------------------------------------------------------
echo "== 0. nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), configured from deploy/nginx/"
mkdir -p "$tmp/conf" "$tmp/web"
ln -s "$root/deploy/nginx" "$tmp/conf/healing-space"
# The SPA's files as a release would ship them, plus one content-hashed asset (the SPA has none
# yet: it has no build step) to check the long-cache rule.
cp -R "$root/web/." "$tmp/web/"
mkdir -p "$tmp/web/assets"
echo 'export const probe = 1;' >"$tmp/web/assets/probe.0123abcd89.js"
port=$(free_port)
sed -e "s|@TMP@|$tmp|g" -e "s|@PORT@|$port|g" -e "s|@WEB@|$tmp/web|g" \
  -e "s|@GATEWAY1@|${gateway_port[1]}|g" -e "s|@GATEWAY2@|${gateway_port[2]}|g" \
  deploy/nginx/test-site.conf.in >"$tmp/conf/nginx.conf"

# An unprivileged master: when this script runs as root, nginx runs as nobody.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  chown -R nobody "$tmp"
  if ! "${as_user[@]}" test -r "$root/deploy/nginx/locations.conf"; then
    # The checkout is not readable by nobody (e.g. under /root): use a copy of the files.
    rm "$tmp/conf/healing-space"
    cp -R "$root/deploy/nginx" "$tmp/conf/healing-space"
    chown -R nobody "$tmp/conf/healing-space"
  fi
fi

# The production site parses: its pieces with a throw-away certificate in place of the
# placeholders (and its own upstream.conf with the placeholder addresses).
if command -v openssl >/dev/null; then
  mkdir -p "$tmp/prod"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$tmp/prod/privkey.pem" -out "$tmp/prod/fullchain.pem" >/dev/null 2>&1
  # nginx -t binds the listeners: ports 80 and 443 become free loopback ports (IPv6 left out).
  sed -e "s|/etc/ssl/healing-space/|$tmp/prod/|g" \
    -e "s|listen 80;|listen 127.0.0.1:$(free_port);|" -e "s|listen 443 |listen 127.0.0.1:$(free_port) |" \
    -e 's|^\( *listen \[::\]\)|# \1|' deploy/nginx/healing-space.conf >"$tmp/prod/site.conf"
  cat >"$tmp/prod/nginx.conf" <<EOF
pid $tmp/prod/nginx.pid;
error_log $tmp/prod/error.log;
events {}
http {
    include /etc/nginx/mime.types;
    access_log $tmp/prod/access.log;
    client_body_temp_path $tmp/prod; proxy_temp_path $tmp/prod; fastcgi_temp_path $tmp/prod;
    uwsgi_temp_path $tmp/prod; scgi_temp_path $tmp/prod;
    include $tmp/prod/site.conf;
}
EOF
  ln -s "$tmp/conf/healing-space" "$tmp/prod/healing-space"
  [ "$(id -u)" -ne 0 ] || chown -R nobody "$tmp/prod"
  if "${as_user[@]}" "$nginx_bin" -t -q -e "$tmp/prod/error.log" -p "$tmp/prod" -c "$tmp/prod/nginx.conf" \
    >"$tmp/nginx-t-prod.log" 2>&1; then
    ok "deploy/nginx/healing-space.conf (TLS, upstream.conf's placeholders) passes nginx -t"
  else
    fail "nginx -t of the production site: $(cat "$tmp/nginx-t-prod.log")"
  fi
else
  echo "  skipped: nginx -t of the production site (no openssl for a throw-away certificate)"
fi

"${as_user[@]}" "$nginx_bin" -t -q -e "$tmp/error.log" -p "$tmp" -c "$tmp/conf/nginx.conf" ||
  die "nginx -t of the test site failed"
"${as_user[@]}" "$nginx_bin" -e "$tmp/error.log" -p "$tmp" -c "$tmp/conf/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
  if curl -fsS -o /dev/null "$base/healthz" 2>/dev/null; then break; fi
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited; see $out/error.log"
  sleep 0.1
done
curl -fsS -o /dev/null "$base/healthz" || die "nginx does not answer on $base"
echo "nginx at $base (as $("${as_user[@]}" id -un)), gateways at $g1 and $g2"

# Logs in through nginx; prints "COOKIE CSRF".
login() {
  local hdr="$tmp/login-$1.h" body="$tmp/login-$1.json"
  curl -sS -D "$hdr" -o "$body" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"healing-demo\"}" "$base/api/auth/login" >/dev/null
  local status
  status=$(head -n 1 "$hdr" | awk '{print $2}')
  [ "$status" = 200 ] || die "login of $1 through nginx answered $status: $(cat "$body")"
  printf '%s %s\n' "$(header "$hdr" set-cookie | sed 's/;.*//')" "$(json "$body" 'd["csrf_token"]')"
}
# send URL SESSION RECIPIENT TEXT [curl options...]: sends a message; sets sent_id, sent_token,
# sent_at (the time the 201 arrived).
send() {
  local url=$1 session=($2) recipient=$3 text=$4
  shift 4
  curl -sS -D "$tmp/send.h" -o "$tmp/send.json" "$@" -H 'Content-Type: application/json' \
    -H "Cookie: ${session[0]}" -H "X-CSRF-Token: ${session[1]}" \
    -d "{\"recipient\":\"$recipient\",\"subject\":\"nginx test\",\"content\":\"$text\"}" \
    "$url/api/messages/send" >/dev/null
  sent_at=$(now)
  local status
  status=$(head -n 1 "$tmp/send.h" | awk '{print $2}')
  [ "$status" = 201 ] || die "send through $url answered $status: $(cat "$tmp/send.json")"
  sent_id=$(json "$tmp/send.json" 'd["message_id"]')
  sent_token=$(header "$tmp/send.h" x-consistency-token)
  [ -n "$sent_token" ] || die "send through $url answered no X-Consistency-Token"
}
# reads_with_token URL SESSION WHAT: bob's conversation with alice, read with the token of the
# last send, must hold the sent message.
reads_with_token() {
  local url=$1 session=($2) what=$3
  local status
  status=$(curl -sS -o "$tmp/read.json" -w '%{http_code}' -H "Cookie: ${session[0]}" \
    -H "X-Consistency-Token: $sent_token" "$url/api/messages/conversation/alice?limit=100")
  if [ "$status" = 200 ] && json "$tmp/read.json" "'$sent_id' in [m['message_id'] for m in d['messages']]" | grep -qx True; then
    ok "$what"
  else
    fail "$what: answered $status $(head -c 300 "$tmp/read.json")"
  fi
}

alice=$(login alice)
bob=$(login bob)

# --- a. read-your-writes across the instances ---------------------------------------------------
echo "== a. a message sent through one instance is read with its token through the other"
send "$g1" "$alice" bob "sent at gateway 1"
reads_with_token "$g2" "$bob" "sent at gateway 1, read with its token at gateway 2"
send "$g2" "$alice" bob "sent at gateway 2"
reads_with_token "$g1" "$bob" "sent at gateway 2, read with its token at gateway 1"
send "$base" "$alice" bob "sent through nginx"
reads_with_token "$g1" "$bob" "sent through nginx, read with its token at gateway 1"
reads_with_token "$g2" "$bob" "sent through nginx, read with its token at gateway 2"
reads_with_token "$base" "$bob" "sent through nginx, read with its token through nginx"
session=($bob)
curl -sS -o "$tmp/page1.json" -H "Cookie: ${session[0]}" "$g1/api/messages/conversation/alice?limit=1"
cursor=$(json "$tmp/page1.json" 'd["next_cursor"] or ""')
status=$(curl -sS -o "$tmp/page2.json" -w '%{http_code}' -G -H "Cookie: ${session[0]}" \
  --data-urlencode "cursor=$cursor" --data-urlencode limit=1 "$g2/api/messages/conversation/alice")
if [ -n "$cursor" ] && [ "$status" = 200 ]; then
  ok "a page cursor of gateway 1 is accepted by gateway 2 (shared CURSOR_SECRET)"
else
  fail "cursor of gateway 1 at gateway 2: $status $(head -c 300 "$tmp/page2.json")"
fi

# --- b. the client's IP -----------------------------------------------------------------------
echo "== b. the gateway sees the real client's address (X-Forwarded-For from nginx only)"
if curl -fsS -o /dev/null --interface 127.0.0.2 "$base/healthz" 2>/dev/null; then
  client=127.0.0.2
else
  client=127.0.0.1
  echo "  (cannot connect from 127.0.0.2 here: the client is 127.0.0.1, like nginx)"
fi
send "$base" "$alice" bob "from $client" --interface "$client" -H 'X-Forwarded-For: 203.0.113.7'
recorded=$(psql "$DATABASE_URL" -tAc \
  "SELECT metadata->>'client_ip' FROM events WHERE aggregate_id = '$sent_id' AND sequence = 1")
if [ "$recorded" = "$client" ]; then
  ok "the send's event records client_ip $recorded (not the forged 203.0.113.7, not nginx's address)"
else
  fail "the send's event records client_ip '$recorded', expected $client"
fi
request_id="nginx-test-$$-$RANDOM"
session=($bob)
curl -sS -o /dev/null --interface "$client" -H 'X-Forwarded-For: 198.51.100.9' \
  -H "X-Request-Id: $request_id" -H "Cookie: ${session[0]}" "$base/api/messages/conversation/alice"
recorded=""
for _ in $(seq 1 50); do
  recorded=$(psql "$DATABASE_URL" -tAc "SELECT client_ip FROM access_log WHERE request_id = '$request_id'")
  [ -z "$recorded" ] || break
  sleep 0.1
done
if [ "$recorded" = "$client" ]; then
  ok "the access log records client_ip $recorded for a read through nginx"
else
  fail "the access log records client_ip '$recorded' for request $request_id, expected $client"
fi

# --- c. a live stream through nginx -----------------------------------------------------------
echo "== c. live notifications through nginx: no buffering, surviving restarts"
session=($bob)
python3 deploy/nginx/sse-client.py "$base/api/notifications/stream" "${session[0]}" "$tmp/sse.jsonl" &
sse_pid=$!
streams() {
  curl -fsS "http://127.0.0.1:${metrics_port[$1]}/metrics" 2>/dev/null |
    awk '$1 == "notification_streams" { print int($2) }'
}
holder=""
for _ in $(seq 1 100); do
  if [ "$(streams 1)" = 1 ]; then holder=1; break; fi
  if [ "$(streams 2)" = 1 ]; then holder=2; break; fi
  sleep 0.1
done
[ -n "$holder" ] || die "no gateway reports the stream (notification_streams); see $out/sse.jsonl"
other=$((3 - holder))
first=$(head -n 1 "$tmp/sse.jsonl")
if json <(echo "$first") 'd["status"] == 200 and d["content_type"].startswith("text/event-stream")' | grep -qx True; then
  ok "the stream opened through nginx (held by gateway $holder): $first"
else
  fail "the stream's first answer: $first"
fi
expected=()
# expect_event WHAT [CONNECTION [BOUND]]: the `message` event of the last send arrives within
# BOUND seconds (default 2) of its 201, on connection CONNECTION when given (not empty).
expect_event() {
  local what=$1 connection=${2:-} bound=${3:-2}
  expected+=("$sent_id")
  local line=""
  for _ in $(seq 1 50); do
    line=$(grep -F "\"event\": \"message\"" "$tmp/sse.jsonl" | grep -F "$sent_id" | head -n 1 || true)
    [ -z "$line" ] || break
    sleep 0.1
  done
  if [ -z "$line" ]; then
    fail "$what: no message event for $sent_id within 5 s"
    return
  fi
  local delay conn
  delay=$(json <(echo "$line") "round(d['t'] - $sent_at, 3)")
  conn=$(json <(echo "$line") 'd["connection"]')
  if python3 -c "import sys; sys.exit(0 if $delay < $bound else 1)" &&
    { [ -z "$connection" ] || [ "$conn" = "$connection" ]; }; then
    ok "$what: event after ${delay}s on connection $conn"
  else
    fail "$what: event after ${delay}s on connection $conn (expected < $bound s${connection:+, connection $connection})"
  fi
}
send "$base" "$alice" bob "live 1"
expect_event "message event through nginx" 1

stop_gateway "$other"
start_gateway "$other"
wait_ready "$other"
echo "  (restarted gateway $other, which does not hold the stream)"
send "$base" "$alice" bob "live 2"
expect_event "after gateway $other's restart, on the same connection" 1
send "$g1" "$alice" bob "live 3"
expect_event "sent at gateway 1 directly" 1
send "$g2" "$alice" bob "live 4"
expect_event "sent at gateway 2 directly" 1

echo "  (stopping gateway $holder, which holds the stream)"
stop_gateway "$holder"
if grep -F '"event": "closed"' "$tmp/sse.jsonl" | grep -q shutdown; then
  ok "the stream ended with closed/shutdown"
else
  fail "no closed/shutdown event when gateway $holder stopped"
fi
# Sent while the holder is down: reaches the client on its next connection (live, or replayed
# from Last-Event-ID if it is sent before the reconnect). Up to 5 s: when the stopped gateway led
# the mailbox projection, the other takes the lead first (PROJECTOR_STANDBY_MS, 1 s).
send "$base" "$alice" bob "live 5"
expect_event "while gateway $holder is down, after the reconnect through nginx" "" 5
start_gateway "$holder"
wait_ready "$holder"
echo "  (gateway $holder is back)"
send "$base" "$alice" bob "live 6"
expect_event "after both restarts"
send "$base" "$alice" bob "live 7"
expect_event "after both restarts, again"
sleep 0.5
python3 - "$tmp/sse.jsonl" "${expected[@]}" <<'EOF' || fail "the stream's events over the restarts (see above)"
import collections, json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
expected = sys.argv[2:]
seen = collections.Counter(json.loads(r["data"])["message_id"] for r in records if r.get("event") == "message")
connections = [r for r in records if "status" in r]
resumed = [r for r in connections if r["status"] == 200 and r["last_event_id"]]
problems = [f"{m} seen {seen[m]} times" for m in expected if seen[m] != 1]
problems += [f"unexpected {m}" for m in seen if m not in expected]
if not resumed:
    problems.append("no reconnect carried Last-Event-ID")
print(f"  {len(connections)} connection(s) ({len([c for c in connections if c['status'] == 200])} answered 200), "
      f"{sum(seen.values())} message events for {len(expected)} sends")
if problems:
    print("  " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print("  ok: every message exactly once across the restarts; the reconnect resumed with Last-Event-ID")
EOF
kill "$sse_pid" 2>/dev/null || true
wait "$sse_pid" 2>/dev/null || true
sse_pid=""
cp "$tmp/sse.jsonl" "$out/"

# --- d. static files, cache headers, limits ----------------------------------------------------
echo "== d. static files and cache headers"
# fetch PATH [curl options...]: headers into $tmp/h, body into $tmp/b; prints the status.
fetch() {
  local path=$1
  shift
  curl -sS -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$@" "$base$path"
}
check_static() {
  local path=$1 cache=$2 what=$3
  local status
  status=$(fetch "$path")
  if [ "$status" = 200 ] && [ "$(header "$tmp/h" cache-control)" = "$cache" ]; then
    ok "$path: 200, Cache-Control: $cache ($what)"
  else
    fail "$path: $status, Cache-Control: '$(header "$tmp/h" cache-control)', expected 200 and '$cache'"
  fi
}
check_static / no-cache "index.html from disk"
if grep -q '<title>Healing Space' "$tmp/b" && [ "$(header "$tmp/h" content-type)" = text/html ]; then
  ok "/ answers index.html (text/html)"
else
  fail "/ is not index.html: $(header "$tmp/h" content-type) $(head -c 200 "$tmp/b")"
fi
curl -sS -D "$tmp/gateway.h" -o /dev/null "$g1/"
for name in content-security-policy x-content-type-options x-frame-options referrer-policy permissions-policy; do
  if [ -n "$(header "$tmp/h" "$name")" ] && [ "$(header "$tmp/h" "$name")" = "$(header "$tmp/gateway.h" "$name")" ]; then
    ok "$name of nginx's / equals the gateway's"
  else
    fail "$name: nginx '$(header "$tmp/h" "$name")', gateway '$(header "$tmp/gateway.h" "$name")'"
  fi
done
if [ -z "$(header "$tmp/h" strict-transport-security)" ]; then
  ok "no Strict-Transport-Security over plain HTTP (the TLS site sends it)"
else
  fail "Strict-Transport-Security over plain HTTP: $(header "$tmp/h" strict-transport-security)"
fi
check_static /inbox no-cache "an SPA route"
grep -q '<title>Healing Space' "$tmp/b" || fail "/inbox is not index.html"
check_static /js/main.js no-cache "a module under a fixed name"
etag=$(header "$tmp/h" etag)
status=$(fetch /js/main.js -H "If-None-Match: $etag")
if [ -n "$etag" ] && [ "$status" = 304 ]; then
  ok "/js/main.js revalidates: 304 for its ETag"
else
  fail "/js/main.js with If-None-Match $etag answered $status"
fi
check_static /assets/probe.0123abcd89.js "public, max-age=31536000, immutable" "a content-hashed name"
for path in /README.md /e2e/package.json /js/../e2e/mock-api.mjs /.gitignore /%65%32%65/package.json; do
  status=$(fetch "$path" --path-as-is)
  if [ "$status" = 404 ] && grep -q '"not_found"' "$tmp/b"; then
    ok "$path: 404 (the gateway's envelope), not served from disk"
  else
    fail "$path: $status $(head -c 200 "$tmp/b")"
  fi
done

echo "== d. /api answers: no-store; body limit; all gateways down"
check_no_store() {
  local what=$1 status=$2
  if [ "$(header "$tmp/h" cache-control)" = no-store ] && [ "$(header_count "$tmp/h" cache-control)" = 1 ]; then
    ok "$what: $status, Cache-Control: no-store (once)"
  else
    fail "$what: $status, Cache-Control x$(header_count "$tmp/h" cache-control): '$(header "$tmp/h" cache-control)'"
  fi
}
check_no_store "GET /api/auth/me without a session" "$(fetch /api/auth/me)"
session=($bob)
check_no_store "GET /api/messages/inbox" "$(fetch /api/messages/inbox -H "Cookie: ${session[0]}")"
check_no_store "GET /api/openapi.json" "$(fetch /api/openapi.json)"
session=($alice)
python3 -c 'import json; print(json.dumps({"recipient": "bob", "content": "x" * 70000}))' >"$tmp/big.json"
status=$(fetch /api/messages/send -H 'Content-Type: application/json' -H "Cookie: ${session[0]}" \
  -H "X-CSRF-Token: ${session[1]}" --data-binary "@$tmp/big.json")
if [ "$status" = 413 ] && grep -q '"payload_too_large"' "$tmp/b" &&
  [ "$(header "$tmp/h" content-type)" = application/json ]; then
  ok "a 70 kB body: 413 payload_too_large (JSON) from nginx"
else
  fail "a 70 kB body answered $status $(header "$tmp/h" content-type) $(head -c 200 "$tmp/b")"
fi
python3 -c 'import json; print(json.dumps({"recipient": "bob", "content": "y" * 9000}))' >"$tmp/fits.json"
status=$(fetch /api/messages/send -H 'Content-Type: application/json' -H "Cookie: ${session[0]}" \
  -H "X-CSRF-Token: ${session[1]}" --data-binary "@$tmp/fits.json")
if [ "$status" = 201 ]; then ok "a 9 kB body passes (201)"; else fail "a 9 kB body answered $status $(head -c 200 "$tmp/b")"; fi

stop_gateway 1
stop_gateway 2
status=$(fetch /api/auth/me)
if [ "$status" = 503 ] && grep -q '"unavailable"' "$tmp/b" && [ "$(header "$tmp/h" retry-after)" = 1 ]; then
  ok "both gateways down: 503 unavailable with Retry-After: 1 (JSON)"
else
  fail "both gateways down: $status $(head -c 200 "$tmp/b")"
fi

if [ "$failures" -gt 0 ]; then
  echo "nginx-test: $failures check(s) failed (logs in $out)" >&2
  exit 1
fi
echo "nginx-test: every check passed (logs in $out)"
