#!/usr/bin/env bash
# Usage: BASE_BIN=<insights without pre-aggregates> bash bench/rollups_ab.sh [postgres|sqlite]
#   (default postgres; INSIGHTS_BIN = this release build; BENCH_POSTGRES_BASE = server; ROUNDS,
#   DIALOGUES, DAYS; MOVE=0 skips the re-import). BASE_BIN: a release build of the commit
#   before the pre-aggregates, e.g.
#   git worktree add /tmp/base 22c984e && (cd /tmp/base && cargo build --release)
# Each line is printed and appended to AB_OUT (default bench/import_ab.log) under a header
# naming the commit, the database and the file.
# The import of bench/run.sh (issue 9's "same bench command"): DIALOGUES=1000000 DAYS=365.
# Interleaved A/B import throughput: A = BASE_BIN (no pre-aggregates), B = INSIGHTS_BIN; the same
# demo file, a fresh database each time, alternating to spread the machine's noise. Then, in the
# same database, a re-import of the file with every dialogue moved to another queue (every row
# updated: each leaves its groups and joins others).
set -euo pipefail
KIND=${1:-postgres}
BIN=${INSIGHTS_BIN:-$PWD/target/release/insights}
BASE=${BASE_BIN:?BASE_BIN: a build without the pre-aggregates}
PG=${BENCH_POSTGRES_BASE:-postgres://postgres@127.0.0.1:5432}
ROUNDS=${ROUNDS:-3}
N=${DIALOGUES:-300000}
# As many dialogues a day as the 1M demo over a year (~2,700; 40 agents, ~6.5 an agent-hour):
# the groups a batch touches, and so the cost, depend on that density.
DAYS=${DAYS:-$(( N * 365 / 1000000 ))}
MOVE=${MOVE:-1}
OUT=$(realpath -m "${AB_OUT:-bench/import_ab.log}")
echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $KIND, $N dialogues over $DAYS days; A = $BASE, B = $BIN" | tee -a "$OUT"
WORK=$(mktemp -d /tmp/rollups-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
$BIN demo --dialogues "$N" --days "$DAYS" --until 2026-11-01 --seed 42 --out-dir data >/dev/null 2>&1
[ "$MOVE" = 1 ] && sed 's/"queueId":"demo-queue-\([0-9]\)"/"queueId":"demo-queue-x\1"/' data/dialogues.ndjson > data/moved.ndjson
for round in $(seq "$ROUNDS"); do
  for variant in A B; do
    bin=$BIN
    [ $variant = A ] && bin=$BASE
    if [ "$KIND" = sqlite ]; then
      rm -f ab.db ab.db-wal ab.db-shm
      url="sqlite://$WORK/ab.db?mode=rwc"
      $bin --database-url "$url" migrate >/dev/null 2>&1
    else
      db=rollup_ab_${variant,,}
      psql -X -q -At "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null
      url=$PG/$db
      $bin --database-url "$url" migrate >/dev/null 2>&1
    fi
    $bin --database-url "$url" import endpoints data/endpoints.ndjson --quiet >/dev/null 2>&1
    start=$(date +%s.%N)
    $bin --database-url "$url" import dialogues data/dialogues.ndjson --quiet >/dev/null 2>&1
    end=$(date +%s.%N)
    if [ "$MOVE" = 1 ]; then
      s2=$(date +%s.%N)
      $bin --database-url "$url" import dialogues data/moved.ndjson --quiet >/dev/null 2>&1
      e2=$(date +%s.%N)
      python3 -c "print('$KIND $variant round $round: insert', round($N/($end-$start)), '/s, update', round($N/($e2-$s2)), '/s')"
    else
      python3 -c "print('$KIND $variant round $round: insert', round($N/($end-$start)), '/s')"
    fi | tee -a "$OUT"
  done
done
if [ "$KIND" = postgres ]; then
  for v in a b; do psql -X -q -At "$PG/postgres" -c "DROP DATABASE IF EXISTS rollup_ab_$v WITH (FORCE)" 2>/dev/null; done
fi
