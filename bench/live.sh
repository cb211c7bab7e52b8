#!/usr/bin/env bash
# Live updates (issue 10): event latency and the memory of idle subscriptions, over WebSocket
# (graphql-transport-ws) and over Server-Sent Events (graphql-sse at /graphql/stream).
#
#   bash bench/live.sh [SUBSCRIPTIONS] [COMMITS] [IDLE]     # defaults 100, 200, 1000
#
# Against a release `insights serve` on PostgreSQL (BENCH_POSTGRES_URL, default the local server;
# a throwaway database is created and dropped), once per transport (a fresh server each, so the
# memory of one does not serve the other):
#   latency — SUBSCRIPTIONS open `dialogueIngested` subscriptions (one WebSocket each), COMMITS
#             single-dialogue transactions written 20 a second by another process (announced as
#             a writer does, NOTIFY inside the transaction): time from each commit's return to
#             its event at each subscriber, p50/p99 over all of them. Targets: p99 < 250 ms;
#             SSE within 2x WebSocket's.
#   memory  — the server's RSS before and after IDLE more idle subscriptions (one connection
#             each), per subscription. Target: < 50 KB, for either transport.
# The client is examples/live_bench.rs. Figures go to bench/live-results.md (LIVE_RESULTS=FILE
# writes them elsewhere, e.g. for a small trial run). The machine is small and shared (2 cores,
# client and server on it): absolute figures are pessimistic.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBS=${1:-100}
COMMITS=${2:-200}
IDLE=${3:-1000}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
OUT=${LIVE_RESULTS:-bench/live-results.md}
PG_DB="insights_live_bench_$$"
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" || true

cargo build --release --quiet --bin insights --example live_bench
BIN=$PWD/target/release/insights
CLIENT=$PWD/target/release/examples/live_bench

psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
URL="$PG_BASE/$PG_DB"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER="http://127.0.0.1:$PORT"
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

declare -A LAT MEM
for T in ws sse; do
  $BIN --database-url "$URL" --log warn serve --bind "127.0.0.1:$PORT" --no-auth \
    --max-subscriptions-per-key $((SUBS + IDLE + 100)) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fs "$SERVER/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  echo "== $T latency: $SUBS subscriptions, $COMMITS commits"
  LAT[$T]=$($CLIENT latency "$SERVER" "$URL" "$SUBS" "$COMMITS" "$T")
  echo "${LAT[$T]}"
  echo "== $T memory: $IDLE idle subscriptions"
  MEM[$T]=$($CLIENT idle "$SERVER" "$SERVER_PID" "$IDLE" "$T")
  echo "${MEM[$T]}"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done

NAME_ws="WebSocket"; NAME_sse="Server-Sent Events"
name() { local v="NAME_$1"; echo "${!v}"; }
{
  echo "# Live updates: benchmark results"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores (shared; client and server on the same cores), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), PostgreSQL, release build. \`bash bench/live.sh $SUBS $COMMITS $IDLE\`."
  echo
  echo "## Event latency, commit → client (targets: p99 < 250 ms; SSE within 2× WebSocket)"
  echo
  echo "| transport | subscriptions | commits | events received | p50 | p99 | max |"
  echo "|---|---|---|---|---|---|---|"
  for T in ws sse; do
    L=${LAT[$T]}
    printf '| %s | %s | %s | %s | %.1f ms | %.1f ms | %.1f ms |\n' "$(name $T)" "$(field "$L" subscriptions)" "$(field "$L" commits)" \
      "$(field "$L" events)" "$(field "$L" p50_ms)" "$(field "$L" p99_ms)" "$(field "$L" max_ms)"
  done
  python3 - "${LAT[ws]}" "${LAT[sse]}" <<'PY'
import json, sys
ws, sse = (json.loads(a) for a in sys.argv[1:3])
print()
print("SSE / WebSocket: p50 %.2f×, p99 %.2f×." % (sse["p50_ms"] / max(ws["p50_ms"], 1e-9), sse["p99_ms"] / max(ws["p99_ms"], 1e-9)))
PY
  echo
  echo "## Memory of idle subscriptions (target: < 50 KB each)"
  echo
  echo "| transport | idle subscriptions | open (server's /metrics, 10 warm-up ones included) | server RSS before | after | per subscription |"
  echo "|---|---|---|---|---|---|"
  for T in ws sse; do
    M=${MEM[$T]}
    echo "| $(name $T) | $(field "$M" subscriptions) | $(field "$M" open_per_server_metrics) | $(field "$M" rss_before_kb) KB | $(field "$M" rss_after_kb) KB | $(field "$M" kb_per_idle_subscription) KB |"
  done
} > "$OUT"
echo "== written to $OUT"
cat "$OUT"
