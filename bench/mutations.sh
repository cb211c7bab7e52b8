#!/usr/bin/env bash
# Mutation throughput: `ingestDialogues` at 1,000 records per call, on SQLite and PostgreSQL.
#
#   bash bench/mutations.sh [DIALOGUES]     # default 100,000 (100 calls); writes bench/mutations.md
#
# For each database: a fresh database, a release server (no auth, loopback), the demo's endpoints
# through `upsertEndpoints`, then every dialogue through `ingestDialogues` in calls of 1,000 —
# first into an empty tenant (all inserted), then the same calls again (a replay: all unchanged,
# nothing written) — by BENCH_CONCURRENCY client threads (default 1, then 4). records/s is
# records over the wall time of the pass; the client (bench/mutations.py) builds its request
# bodies before the clock starts and checks every call's IngestSummary.
# Target (issue 10): ≥ 20,000 records/s on PostgreSQL. The machine is small and shared (2 cores):
# compare figures within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
WORK=$(mktemp -d /tmp/insights-mutations.XXXXXX)
OUT=bench/mutations.md
PORT=${BENCH_PORT:-4410}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 4"}
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet --bin insights
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}

echo "== generating $N dialogues"
$BIN demo --dialogues "$N" --days 90 --until 2026-04-01 --out-dir "$WORK/data" >/dev/null

{
  echo "# Mutation throughput"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $N demo dialogues in calls of 1,000 (\`bash bench/mutations.sh $N\`)."
  echo "Shared, noisy machine: compare figures within one run. Target: ≥ 20,000 records/s through the mutation on PostgreSQL."
  echo
  echo "| database | client threads | pass | records/s | wall time | call p50 | call p99 | inserted | updated | unchanged |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$OUT"

one() { # name url concurrency
  local name=$1 url=$2 threads=$3
  INSIGHTS_LOG=warn $BIN --database-url "$url" serve --no-auth --bind "127.0.0.1:$PORT" \
    --rate-limit 100000 --max-body-bytes 8000000 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
  python3 bench/mutations.py "http://127.0.0.1:$PORT/graphql" "$WORK/data/dialogues.ndjson" \
    "$WORK/data/endpoints.ndjson" "$threads" insert replay | while read -r line; do
    echo "$name ($threads threads): $line"
    python3 - "$name" "$line" >> "$OUT" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
print(f"| {name} | {r['concurrency']} | {r['label']} | {r['records_per_s']:,} | {r['seconds']} s | "
      f"{r['call_p50_ms']} ms | {r['call_p99_ms']} ms | {r['inserted']:,} | {r['updated']:,} | {r['unchanged']:,} |")
PY
  done
  kill $pid; wait $pid 2>/dev/null || true
}

for threads in $CONCURRENCY; do
  echo "== SQLite, $threads client threads"
  one SQLite "sqlite://$WORK/bench-$threads.db?mode=rwc" "$threads"
  echo "== PostgreSQL, $threads client threads"
  PG_DB="insights_mutations_$$_$threads"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" && psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
  one PostgreSQL "$PG_BASE/$PG_DB" "$threads"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
done
echo "== wrote $OUT"
cat "$OUT"
