#!/usr/bin/env bash
# Server instructions per `ingestDialogues` call, counted by callgrind (stable on a noisy, shared
# machine, unlike the timings of bench/mutations.sh). One command:
#
#   bash bench/ingest_profile.sh          # writes bench/ingest-profile.md
#
# Runs the release server under valgrind twice on fresh PostgreSQL databases (BENCH_POSTGRES_URL,
# default the local server) and ingests, in calls of 1,000 through bench/mutations.py with every
# customer new, 2,000 dialogues the first time and 5,000 the second: the difference of the two
# totals over 3 is one call's instructions, start-up and the endpoints' upsert taken out. Then
# the functions of the second run that spend them (inclusive), for where to look next.
# INSIGHTS_BIN (another build) compares a build against this tree's figure in bench/mutations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PROFILE_PORT:-4592}
OUT=${PROFILE_OUT:-bench/ingest-profile.md}
WORK=$(mktemp -d /tmp/insights-ingest-profile.XXXXXX)
SERVER="" DB=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  [ -n "$DB" ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
if [ -z "${INSIGHTS_BIN:-}" ]; then cargo build --release --quiet --bin insights; fi
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}

$BIN demo --dialogues 5000 --days 90 --until 2026-04-01 --out-dir "$WORK/data" >/dev/null
head -n 2000 "$WORK/data/dialogues.ndjson" > "$WORK/2000.ndjson"
cp "$WORK/data/dialogues.ndjson" "$WORK/5000.ndjson"

total() { # records -> the server's instructions for ingesting them (callgrind output kept)
  DB="insights_ingest_profile_$$_$1"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $DB"
  local url="${PG_ADMIN%/*}/$DB"
  INSIGHTS_LOG=warn $BIN --database-url "$url" migrate >/dev/null
  INSIGHTS_LOG=error valgrind --tool=callgrind --callgrind-out-file="$WORK/$1.out" \
    $BIN --database-url "$url" serve --no-auth --bind "127.0.0.1:$PORT" --rate-limit 100000 \
    --max-body-bytes 8000000 2>/dev/null &
  SERVER=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.3; done
  python3 bench/mutations.py "http://127.0.0.1:$PORT/graphql" "$WORK/$1.ndjson" \
    "$WORK/data/endpoints.ndjson" 1 new insert >/dev/null
  kill -INT "$SERVER"; wait "$SERVER" 2>/dev/null || true
  SERVER=""
  psql "$PG_ADMIN" -qc "DROP DATABASE $DB WITH (FORCE)"
  DB=""
  callgrind_annotate "$WORK/$1.out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen { gsub(",", "", $1); print $1; seen = 1 }'
}

# Not in $( ): a subshell would hide SERVER and DB from the clean-up.
total 2000 > "$WORK/2000.total"
total 5000 > "$WORK/5000.total"
small=$(tail -n 1 "$WORK/2000.total")
large=$(tail -n 1 "$WORK/5000.total")
per_call=$(( (large - small) / 3 ))
{
  echo "# Server instructions per ingestDialogues call, callgrind"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), binary $BIN, PostgreSQL, calls of 1,000 dialogues, every customer new (\`bash bench/ingest_profile.sh\`)."
  echo
  echo "**Instructions per call: $per_call** (2,000 dialogues: $small in all; 5,000: $large)"
  echo
  echo "## Where the 5,000-dialogue run spent them (inclusive, our code and the libraries' stages)"
  echo
  echo '```'
  callgrind_annotate --inclusive=yes "$WORK/5000.out" 2>/dev/null \
    | grep -v "'[0-9]" \
    | grep -E '\?\?\?:(insights::|insights_core::|async_graphql::validation::check_rules|serde_json::de::from_trait|core::ptr::drop_in_place<async_graphql_value|sea_query_sqlx|<sea_orm::database::transaction)' \
    | sed -e 's/ \[[^]]*\]$//' -e 's/???://' \
    | head -40 | cut -c1-200 || true # head leaves early: not a failure
  echo '```'
} > "$OUT"
echo "== wrote $OUT"
cat "$OUT"
