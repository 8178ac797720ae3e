#!/usr/bin/env bash
# Checks the units of deploy/systemd/ with `systemd-analyze verify` (unknown keys, bad values,
# missing programs): a copy of each, with /opt/healing-space/bin/ pointed at the built binaries
# (BIN_DIR, default ${CARGO_TARGET_DIR:-target}/debug) and the gateway template instantiated as
# @1. Any complaint fails. Skipped (exit 0, saying so) where systemd-analyze is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$root/target}/debug}
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd units: skipped (no systemd-analyze on this machine)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "$root"/deploy/systemd/*.service; do
  name=$(basename "$unit")
  name=${name/@.service/@1.service}
  sed "s|/opt/healing-space/bin/|$bin/|" "$unit" >"$tmp/$name"
done
cd "$tmp"
if ! systemd-analyze verify --man=no ./*.service >"$tmp/verify.log" 2>&1 || [ -s "$tmp/verify.log" ]; then
  cat "$tmp/verify.log" >&2
  echo "systemd units: systemd-analyze verify complained" >&2
  exit 1
fi
echo "systemd units: $(ls ./*.service | wc -l) verified by $(systemd-analyze --version | head -n 1)"
