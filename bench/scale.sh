#!/usr/bin/env bash
# Scale: the same questions at two sizes on PostgreSQL, side by side in one run.
#
#   bash bench/scale.sh [SMALL] [LARGE]     # default 1,000,000 and 10,000,000; writes bench/scale.md
#
# For each size: a fresh database on the local PostgreSQL (BENCH_POSTGRES_URL), SIZE demo
# dialogues over a year (365 days until 2026-11-01, seed 42) generated as NDJSON and imported with
# `insights import` (rows/s), VACUUM ANALYZE, then a release server (no auth, loopback) and, each
# with wrk -t2 -c8 for BENCH_DURATION seconds (default 10, after 2 s of warm-up; bench/post.lua
# checks every answer):
#   page   the 100 newest dialogues with queue and agent {id name}
#   count  the same with totalCount
#   year   dialogueStats of the whole year, MONTH x QUEUE, in Europe/Amsterdam
# The NDJSON of the large size takes about 600 bytes a dialogue in a temp directory (deleted).
# 2 shared cores: compare the two sizes within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${1:-1000000}
LARGE=${2:-10000000}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
DURATION=${BENCH_DURATION:-10}
PORT=${BENCH_PORT:-4420}
OUT=bench/scale.md
WORK=$(mktemp -d /tmp/insights-scale.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin insights
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}

declare -A QUERY=(
  [page]='{ dialogues(first: 100) { nodes { id startTimestamp outcome queue { id name } agent { id name } } } }'
  [count]='{ dialogues(first: 100) { totalCount nodes { id startTimestamp outcome queue { id name } agent { id name } } } }'
  [year]='{ dialogueStats(from: "2025-11-01T00:00:00+01:00", to: "2026-11-01T00:00:00+01:00", timeZone: "Europe/Amsterdam", granularity: MONTH, groupBy: [QUEUE]) { periodStart queueId offered accepted abandoned serviceLevel { value } averageSpeedOfAnswer totalTalkTime } }'
)

{
  echo "# Scale: $SMALL against $LARGE dialogues"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load before: $(cut -d' ' -f1-3 /proc/loadavg) (\`bash bench/scale.sh $SMALL $LARGE\`)."
  echo "PostgreSQL $(psql "$PG_ADMIN" -tAc 'SHOW server_version'), wrk -t2 -c8, $DURATION s a query. Shared machine: compare the sizes within this run."
  echo
  echo "| dialogues | import rows/s | database size | page req/s | page p50 | page p99 | count req/s | count p50 | count p99 | year req/s | year p50 | year p99 |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

measure() { # name -> "rps p50 p99"
  local name=$1
  python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "${QUERY[$name]}" >"$WORK/$name.json"
  BODY_FILE=$WORK/$name.json wrk -t2 -c8 -d2s -s bench/post.lua "http://127.0.0.1:$PORT/graphql" >/dev/null
  local line
  line=$(BODY_FILE=$WORK/$name.json wrk -t2 -c8 -d"${DURATION}s" --latency -s bench/post.lua "http://127.0.0.1:$PORT/graphql" | grep '^wrk-result:')
  echo "$line" >&2
  case $line in *"non2xx=0 graphql_errors=0 socket_errors=0"*) ;; *) echo "errors in $name: $line" >&2; exit 1 ;; esac
  local rps p50 p99
  rps=$(grep -o 'rps=[0-9.]*' <<<"$line" | cut -d= -f2)
  p50=$(grep -o 'p50_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
  p99=$(grep -o 'p99_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
  printf '%.1f | %s ms | %s ms' "$rps" "$p50" "$p99"
}

for n in $SMALL $LARGE; do
  db="insights_scale_${n}_$$"
  url="$PG_BASE/$db"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db" && psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
  echo "== $n dialogues: generating" >&2
  rm -rf "$WORK/data"
  $BIN demo --dialogues "$n" --days 365 --until 2026-11-01 --seed 42 --out-dir "$WORK/data" >/dev/null
  $BIN --database-url "$url" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null
  echo "== $n dialogues: importing" >&2
  summary=$($BIN --database-url "$url" import dialogues "$WORK/data/dialogues.ndjson" --quiet)
  rate=$(grep -o '([0-9]* rows/s)' <<<"$summary" | tr -dc 0-9)
  rm -rf "$WORK/data"
  psql "$url" -qc "VACUUM ANALYZE" >/dev/null
  size=$(psql "$url" -tAc "SELECT pg_size_pretty(pg_database_size(current_database()))")
  $BIN --database-url "$url" --log warn serve --no-auth --bind "127.0.0.1:$PORT" --max-connections 16 --rate-limit 1000000 &
  SERVER=$!
  until curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do sleep 0.2; done
  row="| $n | $rate | $size"
  for q in page count year; do
    row="$row | $(measure $q)"
  done
  echo "$row |" >>"$OUT"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  [ "${KEEP_DB:-0}" = 1 ] || psql "$PG_ADMIN" -qc "DROP DATABASE $db"
done
cat "$OUT"
