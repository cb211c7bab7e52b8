#!/usr/bin/env bash
# Headless-Chromium check of the wallboard (GET /wallboard), on servers it starts itself:
#
#   tests/browser/wallboard.sh [SCREENSHOT_DIR]     (default target/wallboard-screenshots)
#
# INSIGHTS_BIN names the binary (default target/debug/insights, built if missing). Serves demo
# data (without keys, on loopback) from a throwaway SQLite database and runs
# wallboard-check.mjs: figures equal to the API's, an `insights import` of new dialogues shown
# without a reload, another zone, screenshots. Then serves the same database with API keys and
# checks that the page asks for a key and works with one.
#
# The fallbacks, with the WebSocket really blocked: behind blocking-proxy.mjs (a reverse proxy
# that answers WebSocket upgrades 403, here after a second, so the page can change zones while its
# socket is still opening) the page must go live over Server-Sent Events; when the
# proxy refuses /graphql/stream as well, it must poll; with `?transport=sse` (no proxy) it must
# use SSE by choice; and with API keys behind the proxy, SSE must carry the key. Each run checks
# the transport the page names (body[data-transport] and the pill's text) besides the figures.
# Installs Debian's chromium if missing and playwright-core from the lockfile here (no browser
# download).
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
proxy_pid=""
stop_proxy() { if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""; fi; }
stop() { stop_proxy; if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
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

proxy() { # proxy [--block-sse] [--refuse-after-ms N]: starts blocking-proxy.mjs in front of $base, sets $proxied
  stop_proxy
  node "$here/blocking-proxy.mjs" "$base" "$@" >"$work/proxy.url" 2>"$work/proxy.log" &
  proxy_pid=$!
  proxied=""
  for _ in $(seq 1 100); do
    proxied="$(head -n1 "$work/proxy.url" 2>/dev/null || true)"
    [ -n "$proxied" ] && curl -sf "$proxied/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the proxy did not come up" >&2; cat "$work/proxy.log" >&2; return 1
}

echo "== wallboard without keys (serve --demo on loopback)"
serve --demo --demo-dialogues 20000
INSIGHTS_BIN="$bin" INSIGHTS_DATABASE_URL="$db" node "$here/wallboard-check.mjs" "$base" "$shots"
stop

echo "== wallboard behind a proxy that refuses WebSockets: live over Server-Sent Events"
serve --no-auth
proxy --refuse-after-ms 1000
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
  -H 'Sec-WebSocket-Protocol: graphql-transport-ws' "$proxied/graphql")"
[ "$code" = 403 ] || { echo "the proxy let a WebSocket upgrade through ($code)" >&2; exit 1; }
INSIGHTS_BIN="$bin" INSIGHTS_DATABASE_URL="$db" node "$here/wallboard-check.mjs" "$proxied" "$shots" \
  --expect-transport sse --blocked websocket
echo "== wallboard behind a proxy that refuses WebSockets and event streams: polling"
proxy --block-sse
INSIGHTS_BIN="$bin" INSIGHTS_DATABASE_URL="$db" node "$here/wallboard-check.mjs" "$proxied" "$shots" \
  --expect-transport polling --blocked websocket,sse
stop_proxy
echo "== wallboard with ?transport=sse (no proxy): Server-Sent Events by choice"
INSIGHTS_BIN="$bin" INSIGHTS_DATABASE_URL="$db" node "$here/wallboard-check.mjs" "$base" "$shots/sse-by-choice" \
  --expect-transport sse --page-query transport=sse
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
echo "== wallboard with API keys behind a proxy that refuses WebSockets (the key goes in the SSE request)"
proxy --refuse-after-ms 1000
node "$here/wallboard-check.mjs" "$proxied" "$shots" --key "$key" --expect-transport sse --blocked websocket
stop
echo "screenshots: $shots"
ls "$shots"
