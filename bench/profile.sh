#!/usr/bin/env bash
# Where the server spends its CPU per request, counted in instructions by callgrind (stable on a
# noisy, shared machine, unlike timings). One command:
#
#   bash bench/profile.sh [REQUESTS]     # default 300; writes bench/profile.md
#
# Generates 50,000 demo dialogues in a fresh PostgreSQL database (BENCH_POSTGRES_URL, default the
# local server), runs the release server under valgrind, warms it up, zeroes the counters, sends
# REQUESTS copies of the page query (a2) — 100 newest dialogues with queue{id name} and
# agent{id name}, no totalCount — and reports instructions per request and the functions that
# spend them (self cost, and inclusive cost of the request path's stages).
# PROFILE_QUERY=d profiles compare.sh's (d) instead, one dialogue by id with its four endpoints
# {id name}, written to bench/profile-d.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB="insights_profile_$$"
# Plain TCP on loopback, as bench/compare.sh runs it (its private cluster has no TLS).
PG_URL="${PG_ADMIN%/*}/$PG_DB?sslmode=disable"
PORT=${PROFILE_PORT:-4591}
WHICH=${PROFILE_QUERY:-a2}
case $WHICH in
  a2) OUT=${PROFILE_OUT:-bench/profile.md}; TITLE="the page query (a2)" ;;
  d) OUT=${PROFILE_OUT:-bench/profile-d.md}; TITLE="one dialogue with its four endpoints (d)" ;;
  *) echo "PROFILE_QUERY: a2 or d" >&2; exit 2 ;;
esac
WORK=$(mktemp -d /tmp/insights-profile.XXXXXX)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
# INSIGHTS_BIN: another build to profile (e.g. the one before a change), else this tree's.
if [ -z "${INSIGHTS_BIN:-}" ]; then cargo build --release --quiet --bin insights; fi
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}

psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
INSIGHTS_LOG=warn $BIN --database-url "$PG_URL" demo --dialogues 50000 --days 90 --until 2026-11-01 >/dev/null

if [ "$WHICH" = d ]; then
  D_ID=$(psql "${PG_ADMIN%/*}/$PG_DB" -Atc "SELECT id FROM dialogues WHERE ivr_id IS NOT NULL AND agent_id IS NOT NULL ORDER BY id LIMIT 1")
  QUERY='{"query":"{ dialogue(id: \"'$D_ID'\") { id ivr { id name } queue { id name } customer { id name } agent { id name } } }"}'
else
  QUERY='{"query":"{ dialogues(first: 100) { nodes { id startTimestamp outcome queueDurationInSec queue { id name } agent { id name } } pageInfo { hasNextPage endCursor } } }"}'
fi
send() { # count
  for _ in $(seq 1 "$1"); do
    curl -sf -o /dev/null -H 'content-type: application/json' --data "$QUERY" "http://127.0.0.1:$PORT/graphql"
  done
}

INSIGHTS_LOG=${INSIGHTS_LOG:-info} valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
  "$BIN" --database-url "$PG_URL" serve --no-auth --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.5; done
send 30
callgrind_control -z "$SERVER" >/dev/null
send "$N"
callgrind_control -d "$SERVER" >/dev/null
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""

# The dump taken after the requests (the final one, at exit, holds only the shutdown).
DUMP=$(ls -t "$WORK"/callgrind.out.* 2>/dev/null | tail -n 1)
[ -n "$DUMP" ] || DUMP="$WORK/callgrind.out"
if [ -n "${PROFILE_KEEP:-}" ]; then cp "$DUMP" "$PROFILE_KEEP"; fi
# The report reads only the first lines of long listings: no pipefail (head closes its pipe).
set +o pipefail
TOTAL=$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}')
# Self cost: the functions whose own instructions are spent (callgrind_annotate's default).
# Inclusive cost: the stages of the request path; runtime frames that hold everything are dropped.
annotate() { # extra options
  callgrind_annotate --threshold=100 "$@" "$DUMP" 2>/dev/null | sed -n '/^Ir /,$p' | sed '1,2d' \
    | grep -v 'PROGRAM TOTALS\|^-\|^$\|(100.0%)\|(99\.[0-9]*%)' \
    | sed -E 's/ \[[^]]*\]$//' | cut -c1-170
}
{
  echo "# Server CPU profile: $TITLE, callgrind"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $N requests after 30 warm-up ones,"
  echo "PostgreSQL, 50,000 demo dialogues. Instructions of the server process only (the database is"
  echo "another process). Log level: ${INSIGHTS_LOG:-info}."
  echo
  echo "**Instructions per request: $(( TOTAL / N ))** (total $TOTAL)"
  echo
  echo "## Top functions by self cost"
  echo
  echo '```'
  annotate --inclusive=no | head -n 30
  echo '```'
  echo
  echo "## Top functions by inclusive cost"
  echo
  echo '```'
  annotate --inclusive=yes | head -n 45
  echo '```'
} > "$OUT"
echo "instructions per request: $(( TOTAL / N )); profile in $OUT"
