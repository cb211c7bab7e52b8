#!/usr/bin/env bash
# The real graphql-sse client (npm, pinned with its lockfile here) against the server's
# Server-Sent Events transport (POST /graphql/stream). One command:
#
#   bash tests/sse-client/run.sh          # INSIGHTS_BIN=path/to/insights (default target/debug/insights)
#
# Installs the pinned packages (`npm ci`), makes a fresh SQLite database with two API keys
# (read+ingest, and ingest only), starts `insights serve` with API keys on a free loopback port,
# runs check.mjs (subscribe, ingest through the mutation, receive the events; single results,
# errors, a refused key) and stops the server. Fails loudly (exit 1) on the first difference.
# Only 127.0.0.1 and the npm registry are contacted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${INSIGHTS_BIN:-$repo/target/debug/insights}
case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
[ -x "$bin" ] || { echo "FATAL: $bin is not built (cargo build, or set INSIGHTS_BIN)" >&2; exit 1; }
command -v node >/dev/null || { echo "FATAL: node is required" >&2; exit 1; }

(cd "$here" && npm ci --no-audit --no-fund >/dev/null)

work=$(mktemp -d /tmp/insights-sse-client.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/client.db?mode=rwc"
key=$(INSIGHTS_LOG=warn "$bin" --database-url "$db" keys create --tenant acme --scope read,ingest --name sse-client 2>/dev/null)
ingest_only=$(INSIGHTS_LOG=warn "$bin" --database-url "$db" keys create --tenant acme --scope ingest --name sse-client-ingest 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
INSIGHTS_LOG=warn "$bin" --database-url "$db" serve --bind "127.0.0.1:$port" --rate-limit 1000 \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "FATAL: the server exited" >&2; exit 1; }
  sleep 0.1
done
echo "graphql-sse $(node -p 'require("'"$here"'/node_modules/graphql-sse/package.json").version') against $bin on 127.0.0.1:$port"
if ! node "$here/check.mjs" "http://127.0.0.1:$port" "$key" "$ingest_only"; then
  echo "--- server log" >&2
  tail -20 "$work/server.log" >&2
  exit 1
fi
