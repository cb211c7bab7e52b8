#!/usr/bin/env bash
# Headless-Chromium check of the wallboard (GET /wallboard), on servers it starts itself:
#
#   tests/browser/wallboard.sh [SCREENSHOT_DIR]     (default target/wallboard-screenshots)
#
# INSIGHTS_BIN names the binary (default target/debug/insights, built if missing). Serves demo
# data (without keys, on loopback) from a throwaway SQLite database and runs
# wallboard-check.mjs: figures equal to the API's, an `insights import` of new dialogues shown
# without a reload, another zone, screenshots. Then serves the same database with API keys and
# checks that the page asks for a key and works with one. Installs Debian's chromium if missing
# and playwright-core from the lockfile here (no browser download).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shots="$(mkdir -p "${1:-$root/target/wallboard-screenshots}" && cd "${1:-$root/target/wallboard-screenshots}" && pwd)"
bin="${INSIGHTS_BIN:-$root/target/debug/insights}"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --quiet)
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
fi
(cd "$here" && npm ci --no-audit --no-fund >/dev/null)

work="$(mktemp -d)"
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -rf "$work"' EXIT
db="sqlite://$work/wallboard.db?mode=rwc"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() { # serve ARGS...: starts the server on a free port, sets $base
  local p; p="$(port)"
  INSIGHTS_LOG=warn "$bin" --database-url "$db" serve --bind "127.0.0.1:$p" "$@" >"$work/server.log" 2>&1 &
  pid=$!
  base="http://127.0.0.1:$p"
  for _ in $(seq 1 300); do
    curl -sf "$base/readyz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; return 1; }
    sleep 0.2
  done
  echo "the server did not come up" >&2; cat "$work/server.log" >&2; return 1
}

echo "== wallboard without keys (serve --demo on loopback)"
serve --demo --demo-dialogues 20000
INSIGHTS_BIN="$bin" INSIGHTS_DATABASE_URL="$db" node "$here/wallboard-check.mjs" "$base" "$shots"
stop

if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  # On PostgreSQL an import in another process reaches a live subscription (LISTEN/NOTIFY).
  echo "== wallboard without keys, on PostgreSQL"
  pg_db="insights_wallboard_$$"
  psql "$TEST_POSTGRES_URL" -qc "create database $pg_db" >/dev/null
  sqlite_db="$db"
  db="${TEST_POSTGRES_URL%/*}/$pg_db"
  serve --demo --demo-dialogues 5000
  INSIGHTS_BIN="$bin" INSIGHTS_DATABASE_URL="$db" node "$here/wallboard-check.mjs" "$base" "$shots/postgres"
  stop
  psql "$TEST_POSTGRES_URL" -qc "drop database $pg_db with (force)" >/dev/null
  db="$sqlite_db"
fi

echo "== wallboard with API keys"
key="$("$bin" --database-url "$db" keys create --tenant default --scope read --name wallboard-check 2>/dev/null)"
serve
node "$here/wallboard-check.mjs" "$base" "$shots" --key "$key"
stop
echo "screenshots: $shots"
ls "$shots"
