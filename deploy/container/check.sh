#!/usr/bin/env bash
# Checks deploy/compose.yaml as far as this machine allows, with placeholder secrets:
#   1. `docker compose config` (the Compose v2 plugin) when it exists;
#   2. else `docker-compose config` (Debian's docker-compose 1.29), on a copy without the
#      top-level `name:` (a Compose-spec key 1.29 does not know);
#   3. else only that the YAML parses (python3 with PyYAML) and names the expected services;
# and that the container scripts parse (bash -n). Building the image needs a Docker daemon: not
# done here (docs/deploy.md says how to check it where one runs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root/deploy"
export HS_DB_PASSWORD=placeholder HS_REPLICATION_PASSWORD=placeholder HS_CURSOR_SECRET=placeholder
for script in container/primary-init.sh container/standby-entrypoint.sh; do
  bash -n "$script"
done
if docker compose version >/dev/null 2>&1; then
  docker compose -f compose.yaml config -q
  echo "compose.yaml: valid ($(docker compose version --short 2>/dev/null || echo 'docker compose'))"
elif command -v docker-compose >/dev/null 2>&1; then
  copy=$(mktemp "$root/deploy/.compose-check.XXXXXX.yaml")
  trap 'rm -f "$copy"' EXIT
  grep -v '^name: ' compose.yaml >"$copy"
  docker-compose -f "$copy" config -q
  echo "compose.yaml: valid for $(docker-compose version --short) (without its name: key); no docker compose v2 here"
elif python3 -c 'import yaml' 2>/dev/null; then
  python3 - <<'PY'
import yaml
d = yaml.safe_load(open("compose.yaml"))
expected = {"db-primary", "db-standby", "redis", "migrate", "gateway1", "gateway2", "nginx"}
missing = expected - set(d["services"])
assert not missing, f"services missing: {missing}"
print("compose.yaml: parses as YAML with the expected services (no docker compose here to check more)")
PY
else
  echo "compose.yaml: skipped (neither docker compose, docker-compose nor PyYAML here)"
fi
