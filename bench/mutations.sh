#!/usr/bin/env bash
# Mutation throughput: `ingestDialogues` at 1,000 records per call, on SQLite and PostgreSQL.
#
#   bash bench/mutations.sh [DIALOGUES]     # default 300,000 (300 calls); writes bench/mutations.md
#
# 300,000 by default so that the tables grow large enough for a plan that reads all the
# tenant's rows to show (about 8 minutes on 2 cores; twice that with a baseline).
# Three cases, each on a fresh database with the demo's endpoints first (`upsertEndpoints`),
# then every dialogue through `ingestDialogues` in calls of 1,000 — into an empty tenant (all
# inserted), then the same calls again (a replay: all unchanged, nothing written):
#   known          the dialogues' customers are among the endpoints upserted first;
#   new            every dialogue calls a customer never seen (a caller's first call: a stub each);
#   recurring:5000 5,000 customers never described recur across calls (stubs made on first sight).
# On PostgreSQL the planner has no statistics, as on a server without autovacuum: the bench
# migrates each fresh database, turns autovacuum off on every table, and nothing runs ANALYZE
# (a call writes far fewer rows than the writer's own ANALYZE threshold); the `stats` column
# counts the pg_stats rows after the passes (0: none). Client threads: BENCH_CONCURRENCY
# (default 1); cases: BENCH_CASES. records/s is records over the wall time of the pass; the
# client (bench/mutations.py) builds its request bodies before the clock starts and checks
# every call's IngestSummary. `endpoints` is how many the tenant has after the passes.
# A/B in one run: BENCH_BASELINE=/path/to/another/insights runs each case with that binary
# too, right before this tree's (rows `baseline` and `this`).
# Target (issue 20): ≥ 15,000 records/s on PostgreSQL with every customer new, and recurring
# customers no slower. The machine is small and shared (2 cores): compare figures within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300000}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
WORK=$(mktemp -d /tmp/insights-mutations.XXXXXX)
OUT=bench/mutations.md
PORT=${BENCH_PORT:-4410}
CONCURRENCY=${BENCH_CONCURRENCY:-1}
CASES=${BENCH_CASES:-"known new recurring:5000"}
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet --bin insights
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}
BUILDS=("this=$BIN")
if [ -n "${BENCH_BASELINE:-}" ]; then BUILDS=("baseline=$BENCH_BASELINE" "${BUILDS[@]}"); fi

echo "== generating $N dialogues"
$BIN demo --dialogues "$N" --days 90 --until 2026-04-01 --out-dir "$WORK/data" >/dev/null

{
  echo "# Mutation throughput"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the start, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $N demo dialogues in calls of 1,000 (\`bash bench/mutations.sh $N\`)."
  echo "Shared, noisy machine: compare figures within one run. Target: ≥ 15,000 records/s on PostgreSQL with every customer new, recurring customers no slower. PostgreSQL without planner statistics (autovacuum off on every table, nothing analyzed)."
  echo
  echo "| database | customers | build | client threads | pass | records/s | wall time | call p50 | call p99 | inserted | updated | unchanged | endpoints | stats |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$OUT"

# What the passes left: endpoints of the tenant, and on PostgreSQL the planner's statistics.
after() { # name url
  if [ "$1" = PostgreSQL ]; then
    psql "$2" -qAtc "SELECT (SELECT count(*) FROM endpoints) || ' ' || (SELECT count(*) FROM pg_stats WHERE schemaname = 'public')"
  else
    echo "$(sqlite3 "${2#sqlite://}" 'SELECT count(*) FROM endpoints' 2>/dev/null || echo '?') -"
  fi
}

one() { # name url concurrency customers build bin
  local name=$1 url=$2 threads=$3 customers=$4 build=$5 bin=$6
  INSIGHTS_LOG=warn $bin --database-url "$url" serve --no-auth --bind "127.0.0.1:$PORT" \
    --rate-limit 100000 --max-body-bytes 8000000 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
  local lines
  lines=$(python3 bench/mutations.py "http://127.0.0.1:$PORT/graphql" "$WORK/data/dialogues.ndjson" \
    "$WORK/data/endpoints.ndjson" "$threads" "$customers" insert replay)
  kill $pid; wait $pid 2>/dev/null || true
  local left
  left=$(after "$name" "${url%%\?*}")
  while read -r line; do
    echo "$name, $customers, $build ($threads threads): $line"
    python3 - "$name" "$build" "$left" "$line" >> "$OUT" <<'PY'
import json, sys
name, build, left, r = sys.argv[1], sys.argv[2], sys.argv[3].split(), json.loads(sys.argv[4])
print(f"| {name} | {r['customers']} | {build} | {r['concurrency']} | {r['label']} | {r['records_per_s']:,} | "
      f"{r['seconds']} s | {r['call_p50_ms']} ms | {r['call_p99_ms']} ms | {r['inserted']:,} | "
      f"{r['updated']:,} | {r['unchanged']:,} | {int(left[0]):,} | {left[1]} |")
PY
  done <<< "$lines"
}

# A fresh PostgreSQL database, migrated, with autovacuum off on every table: the planner gets
# no statistics unless someone runs ANALYZE.
fresh_pg() { # db bin
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" && psql "$PG_ADMIN" -qc "CREATE DATABASE $1"
  INSIGHTS_LOG=warn $2 --database-url "$PG_BASE/$1" migrate >/dev/null
  psql "$PG_BASE/$1" -qc "DO \$\$ DECLARE t text; BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
      EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)', t);
    END LOOP; END \$\$"
}

n=0
for threads in $CONCURRENCY; do
  for customers in $CASES; do
    for build in "${BUILDS[@]}"; do
      label=${build%%=*} bin=${build#*=}
      n=$((n + 1))
      echo "== SQLite, customers $customers, $label, $threads client threads"
      one SQLite "sqlite://$WORK/bench-$n.db?mode=rwc" "$threads" "$customers" "$label" "$bin"
      rm -f "$WORK/bench-$n.db"*
      echo "== PostgreSQL, customers $customers, $label, $threads client threads"
      PG_DB="insights_mutations_$$_$n"
      fresh_pg "$PG_DB" "$bin"
      one PostgreSQL "$PG_BASE/$PG_DB" "$threads" "$customers" "$label" "$bin"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
    done
  done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end" | tee -a "$OUT"
echo "== wrote $OUT"
cat "$OUT"
