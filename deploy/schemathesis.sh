#!/usr/bin/env bash
# The OpenAPI document against the real gateway, as a client generator would meet it:
#   1. /api/openapi.json is validated against the OpenAPI 3.1 schema (openapi-spec-validator);
#   2. schemathesis generates requests for every documented operation, logged in as each demo
#      role (patient alice, clinician dr_carol, auditor, admin), and checks that no answer is a
#      server error and that every status, content type and body is the documented one.
# Called by test.sh. Needs DATABASE_URL (a server where a database may be created) and the
# debug binaries (HS_PROFILE=release for the release ones).
#
# The tools are pinned in deploy/schemathesis-requirements.txt and installed once into a venv
# under HS_TOOLS_DIR (default /tmp/hs-tools), named by the requirements' hash. The gateway
# listens on loopback only, on a fresh database with the demo users and a few messages, with the
# rate limits raised so that fuzzing is not throttled. Generated usernames and message ids are
# half the time real ones (schemathesis dictionaries), so requests get past 404, and a fifth of
# the texts are ones known to break servers (NUL, control and invisible characters). Each role's run
# (coverage, then fuzzing) is bounded by SCHEMATHESIS_SECONDS (default 30); logout is left out
# (it would end the session the run uses). Reports go to test-output/schemathesis/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# The tests' public key-encryption key (deploy/dev/test-kek), unless one is set.
export HS_KEK_FILE=${HS_KEK_FILE:-$root/deploy/dev/test-kek}
: "${DATABASE_URL:?DATABASE_URL must point at a server where a database may be created}"

bin="${CARGO_TARGET_DIR:-$root/target}/${HS_PROFILE:-debug}"
requirements=deploy/schemathesis-requirements.txt
venv="${HS_TOOLS_DIR:-/tmp/hs-tools}/schemathesis-$(sha256sum "$requirements" | cut -c1-12)"
if [ ! -x "$venv/bin/st" ]; then
  echo "schemathesis: installing the pinned tools into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
fi
# Hypothesis keeps its caches beside the tools, not in the checkout.
export HYPOTHESIS_STORAGE_DIRECTORY="$venv/hypothesis"

server=${DATABASE_URL%%\?*}
server=${server%/*}
db="hs_st_$(date +%s)_$$"
psql "$server/postgres" -qc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$server/$db"
out="$root/test-output/schemathesis"
rm -rf "$out"
mkdir -p "$out"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ]; then kill -TERM "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin/hs-admin" migrate >/dev/null
"$bin/hs-admin" seed-demo >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
HOST=127.0.0.1 PORT=$port METRICS_ADDR=off WEB_DIR="$root/web" RUST_LOG=warn \
  RATE_LIMIT_IP_PER_SECOND=1000000 RATE_LIMIT_IP_BURST=1000000 \
  RATE_LIMIT_USER_PER_SECOND=1000000 RATE_LIMIT_USER_BURST=1000000 \
  CONSISTENCY_WAIT_MS=200 \
  "$bin/gateway" >"$out/gateway.log" 2>&1 &
gateway_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null

echo "schemathesis: validating $base/api/openapi.json against the OpenAPI 3.1 schema"
curl -fsS "$base/api/openapi.json" -o "$out/openapi.json"
"$venv/bin/python" -m openapi_spec_validator --schema 3.1.0 "$out/openapi.json"

# Logs in; prints "COOKIE CSRF" of the new session.
login() {
  curl -fsS -c - -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"healing-demo\"}" "$base/api/auth/login" -o "$out/login-$1.json" |
    awk '$6 ~ /hs_session$/ {print $6 "=" $7}' | tr '\n' ' '
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$out/login-$1.json"
}

# Posts `$3` to `$2` as `$1` (a session "COOKIE CSRF"); prints the new message's id.
send() {
  local session=($1)
  curl -fsS -H 'Content-Type: application/json' -H "Cookie: ${session[0]}" \
    -H "X-CSRF-Token: ${session[1]}" -d "$3" "$base$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["message_id"])'
}

declare -A sessions
for user in alice dr_carol auditor admin; do
  sessions[$user]=$(login "$user")
done
ids=("$(send "${sessions[alice]}" /api/messages/send '{"recipient":"bob","subject":"Hi","content":"Budget"}')")
ids+=("$(send "${sessions[dr_carol]}" /api/messages/send '{"recipient":"alice","subject":"Check-in","content":"How are you?"}')")
ids+=("$(send "${sessions[alice]}" "/api/messages/${ids[1]}/reply" '{"content":"Fine, thanks"}')")
quoted() { printf '"%s", ' "$@"; }
cat >"$out/schemathesis.toml" <<EOF
# Every run starts from nothing: no state kept in the checkout between runs.
[cache]
enabled = false
[generation]
database = "none"
[dictionaries.users]
values = ["alice", "bob", "dr_carol", "dr_dave", "admin", "auditor"]
[dictionaries.messages]
values = [$(quoted "${ids[@]}")]
# Text that has broken servers before: NUL, other control characters, invisible-only text.
[dictionaries.text]
values = ["a\u0000b", "\u0000", "x\u0007y", "\u200b", "\u200b\u200b", " \t\n"]
[parameters]
"body.content" = { dictionary = "text", probability = 0.2 }
"body.message" = { dictionary = "text", probability = 0.2 }
"body.subject" = { dictionary = "text", probability = 0.2 }
"body.display_name" = { dictionary = "text", probability = 0.2 }
"query.q" = { dictionary = "text", probability = 0.2 }
"path.id" = { dictionary = "messages", probability = 0.5 }
"path.user" = { dictionary = "users", probability = 0.5 }
"query.actor" = { dictionary = "users", probability = 0.5 }
"query.message_id" = { dictionary = "messages", probability = 0.5 }
"body.recipient" = { dictionary = "users", probability = 0.5 }
"body.recipient_username" = { dictionary = "users", probability = 0.5 }
EOF

failed=()
# The admin goes last: its run may disable or revoke the other demo users.
# Logout would end the session the run uses. The notification stream never ends by itself (a
# request would hang until the timeout); its statuses and events are tested in
# query-service/tests/notifications.rs.
for user in alice dr_carol auditor admin; do
  session=(${sessions[$user]})
  echo "schemathesis: as $user"
  if ! "$venv/bin/st" --config-file "$out/schemathesis.toml" run "$out/openapi.json" --url "$base" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    -H "Cookie: ${session[0]}" -H "X-CSRF-Token: ${session[1]}" \
    --exclude-path /api/auth/logout \
    --exclude-path /api/notifications/stream \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" --max-time "${SCHEMATHESIS_SECONDS:-30}" \
    --seed "${SCHEMATHESIS_SEED:-1}" --workers 1 --request-timeout 10 \
    --report junit --report-junit-path "$out/$user.xml" \
    >"$out/$user.log" 2>&1; then
    failed+=("$user")
    cat "$out/$user.log"
  else
    tail -n 12 "$out/$user.log"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "schemathesis: failures as ${failed[*]} (logs in $out), in:" >&2
  for user in "${failed[@]}"; do
    sed -n 's/^_* \([A-Z]* \/[^ ]*\) _*$/  \1/p' "$out/$user.log"
  done | sort -u >&2
  exit 1
fi
echo "schemathesis: no failure for any role"
