#!/usr/bin/env bash
# A real OData client library against the server: python-odata (PyPI, pinned with its dependencies
# in requirements.txt) reads $metadata and asks Dialogues and Endpoints questions; check.py compares
# every answer with what /graphql answers. One command:
#
#   bash tests/odata-client/run.sh          # INSIGHTS_BIN=path/to/insights (default target/debug/insights)
#
# Makes a virtualenv in tests/odata-client/.venv (git-ignored) and installs requirements.txt into it,
# generates 300 demo dialogues into a fresh SQLite file, starts `insights serve --no-auth` on a free
# loopback port with OData pages of 7 (so every listing has next links), runs check.py, and stops
# the server. Fails loudly (exit 1) on the first difference. Only 127.0.0.1 and PyPI are contacted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${INSIGHTS_BIN:-$repo/target/debug/insights}
case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
[ -x "$bin" ] || { echo "FATAL: $bin is not built (cargo build, or set INSIGHTS_BIN)" >&2; exit 1; }
page_size=7

venv=$here/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || { echo "FATAL: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"

work=$(mktemp -d /tmp/insights-odata-client.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/client.db?mode=rwc"
INSIGHTS_LOG=warn "$bin" --database-url "$db" demo --dialogues 300 --days 30 --until 2026-11-01 --seed 7 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
INSIGHTS_LOG=warn "$bin" --database-url "$db" serve --no-auth --bind "127.0.0.1:$port" \
  --odata-page-size "$page_size" --rate-limit 100000 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "FATAL: the server exited" >&2; exit 1; }
  sleep 0.1
done
echo "python-odata $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("python-odata"))') against $bin on 127.0.0.1:$port"
if ! "$venv/bin/python" "$here/check.py" "http://127.0.0.1:$port" "$page_size"; then
  echo "--- server log" >&2
  tail -20 "$work/server.log" >&2
  exit 1
fi
