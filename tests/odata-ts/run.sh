#!/usr/bin/env bash
# A second real OData client, from another ecosystem than tests/odata-client (python-odata):
# odata2ts (npm, pinned with its runtime and TypeScript by package-lock.json) generates a typed
# TypeScript client from the server's own $metadata; check.ts, compiled against that generated
# client, queries Dialogues and QueueIntervals with it and compares every answer with /graphql.
# One command:
#
#   bash tests/odata-ts/run.sh          # INSIGHTS_BIN=path/to/insights (default target/debug/insights)
#
# Installs the packages with `npm ci` into tests/odata-ts/node_modules (git-ignored), generates
# 3,000 demo dialogues (30 days to 2026-11-01, across Amsterdam's autumn DST change) into a fresh
# SQLite file, starts `insights serve --no-auth` on a free loopback port with OData pages of 7 (so
# every listing has next links), fetches /odata/$metadata into build/, runs the odata2ts generator
# on it, type-checks and compiles check.ts with tsc, runs it, and stops the server. Fails loudly
# (exit 1) on the first difference. Only 127.0.0.1 and the npm registry are contacted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${INSIGHTS_BIN:-$repo/target/debug/insights}
case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
[ -x "$bin" ] || { echo "FATAL: $bin is not built (cargo build, or set INSIGHTS_BIN)" >&2; exit 1; }
command -v npm >/dev/null || { echo "FATAL: npm is required" >&2; exit 1; }
page_size=7

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d /tmp/insights-odata-ts.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/client.db?mode=rwc"
INSIGHTS_LOG=warn "$bin" --database-url "$db" demo --dialogues 3000 --days 30 --until 2026-11-01 --seed 7 >/dev/null
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
INSIGHTS_LOG=warn "$bin" --database-url "$db" serve --no-auth --bind "127.0.0.1:$port" \
  --odata-page-size "$page_size" --rate-limit 100000 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "FATAL: the server exited" >&2; exit 1; }
  sleep 0.1
done

# The typed client, generated from what the server serves.
rm -rf "$here/build"
mkdir -p "$here/build"
curl -fsS "http://127.0.0.1:$port/odata/\$metadata" -o "$here/build/metadata.xml"
(cd "$here" && npx --no-install odata2ts -s build/metadata.xml -o build/generated -m all -e ts >"$work/generate.log" 2>&1) \
  || { cat "$work/generate.log" >&2; echo "FATAL: odata2ts could not generate a client from \$metadata" >&2; exit 1; }
(cd "$here" && npx --no-install tsc -p tsconfig.json) || { echo "FATAL: check.ts does not type-check against the generated client" >&2; exit 1; }

echo "odata2ts $(node -p 'require("'"$here"'/node_modules/@odata2ts/odata2ts/package.json").version') against $bin on 127.0.0.1:$port"
if ! node "$here/build/js/check.js" "http://127.0.0.1:$port" "$page_size"; then
  echo "--- server log" >&2
  tail -20 "$work/server.log" >&2
  exit 1
fi
