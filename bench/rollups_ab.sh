#!/usr/bin/env bash
# Usage: bash bench/rollups_ab.sh   (INSIGHTS_BIN = a release build; BENCH_POSTGRES_BASE = server)
# Interleaved A/B import throughput: A = m0003's triggers dropped, B = with them; same binary,
# same 300k-dialogue file, fresh database each time, alternating to spread the machine's noise.
set -euo pipefail
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}
PG=${BENCH_POSTGRES_BASE:-postgres://postgres@127.0.0.1:5432}
WORK=$(mktemp -d /tmp/rollups-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
$BIN demo --dialogues 300000 --days 365 --until 2026-11-01 --seed 42 --out-dir data >/dev/null 2>&1
for round in 1 2 3; do
  for variant in A B; do
    db=rollup_ab_${variant,,}
    psql -X -q -At $PG/postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    $BIN --database-url $PG/$db migrate >/dev/null 2>&1
    [ $variant = A ] && psql -X -q $PG/$db -c "DROP TRIGGER rollups_insert ON dialogues; DROP TRIGGER rollups_update ON dialogues; DROP TRIGGER rollups_delete ON dialogues"
    $BIN --database-url $PG/$db import endpoints data/endpoints.ndjson --quiet >/dev/null 2>&1
    start=$(date +%s.%N)
    $BIN --database-url $PG/$db import dialogues data/dialogues.ndjson --quiet >/dev/null 2>&1
    end=$(date +%s.%N)
    # and a re-import that changes every row's queue (the update trigger)
    sed 's/"queueId":"demo-queue-\([0-9]\)"/"queueId":"demo-queue-x\1"/' data/dialogues.ndjson > data/moved.ndjson
    s2=$(date +%s.%N)
    $BIN --database-url $PG/$db import dialogues data/moved.ndjson --quiet >/dev/null 2>&1
    e2=$(date +%s.%N)
    python3 -c "print('$variant round $round: insert', round(300000/($end-$start)), '/s, update', round(300000/($e2-$s2)), '/s')"
  done
done
for v in A B; do psql -X -q -At $PG/postgres -c "DROP DATABASE IF EXISTS rollup_ab_${v,,} WITH (FORCE)"; done
