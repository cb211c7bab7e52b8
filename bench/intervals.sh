#!/usr/bin/env bash
# The BI interval feed's target: "a day of 15-minute intervals for all queues from /odata: one
# request, < 50 ms on 1M rows". One command:
#
#   bash bench/intervals.sh [DIALOGUES]     # default 1,000,000; writes bench/intervals.md
#
# Environment: BENCH_ROUNDS (measured rounds over the days, default 5), BENCH_DAYS (consecutive days
# asked, from 2026-09-01, default 30), BENCH_POSTGRES_URL (an admin URL such as
# postgres://postgres@127.0.0.1:5432/postgres: also measure on PostgreSQL, in a database created
# for the run and dropped after it), INSIGHTS_BIN (skip the build), KEEP_WORK=1.
#
# What it does, on 127.0.0.1: generates DIALOGUES demo dialogues (365 days until 2026-11-01, seed
# 42, as bench/compare.sh does), imports them into a SQLite file (and PostgreSQL when asked),
# starts `insights serve --no-auth` on each, then bench/intervals.py asks
# `GET /odata/QueueIntervals?interval=15&timeZone=Europe/Amsterdam&$filter=intervalStart ge <day>
# and intervalStart lt <next day>` for each day: first checked (one request, no next link, and the
# rows equal dialogueStats FIFTEEN_MINUTES × QUEUE over the day, every measure), then one unmeasured
# round and BENCH_ROUNDS measured rounds, one request after the other: latency p50/p90/p99/max.
# The figures go to bench/intervals.md (the whole file is rewritten).
SCRIPT_NAME=intervals
source "$(dirname "$0")/../scripts/lib.sh"
START=$SECONDS
N=${1:-1000000}
ROUNDS=${BENCH_ROUNDS:-5}
DAYS=${BENCH_DAYS:-30}
FIRST_DAY=2026-09-01
OUT=$REPO/bench/intervals.md
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1000 ] || die "DIALOGUES must be a number >= 1000 (got $N)"
need_cmd curl curl python3 python3

build_binary
log "generating $N demo dialogues (365 days until 2026-11-01, seed 42)"
"$BIN" demo --dialogues "$N" --days 365 --until 2026-11-01 --seed 42 --out-dir "$WORK/data" >/dev/null
targets=("SQLite|sqlite://$WORK/bench.db?mode=rwc")
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
  command -v psql >/dev/null || die "BENCH_POSTGRES_URL needs psql"
  db=insights_bench_intervals_$$
  psql "$BENCH_POSTGRES_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
  CLEANUPS+=("psql \"$BENCH_POSTGRES_URL\" -X -q -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)' >/dev/null 2>&1")
  targets+=("PostgreSQL|${BENCH_POSTGRES_URL%/*}/$db")
fi
: >"$WORK/results.tsv"
for target in "${targets[@]}"; do
  name=${target%%|*} url=${target#*|}
  log "importing into $name"
  "$BIN" --database-url "$url" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null
  "$BIN" --database-url "$url" import dialogues "$WORK/data/dialogues.ndjson" --quiet >&2
  if [ "$name" = PostgreSQL ]; then psql "$url" -X -q -c "VACUUM ANALYZE" >/dev/null; fi
  start_server "intervals-$name" "$url" --rate-limit 1000000
  log "$name: checking and timing $DAYS days x $ROUNDS rounds"
  python3 "$REPO/bench/intervals.py" "$URL" "$FIRST_DAY" "$DAYS" "$ROUNDS" "$name" >>"$WORK/results.tsv" \
    || die "the interval answers on $name differ from dialogueStats (or a day took more than one request)"
  tail -1 "$WORK/results.tsv" >&2
  stop_server "$SERVER_PID" >/dev/null
done

{
  echo "# OData interval feed: a day of 15-minute intervals for all queues"
  echo
  echo "\`bash bench/intervals.sh $N\` at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores."
  echo "$N demo dialogues (365 days until 2026-11-01, seed 42, 6 queues). Each request:"
  echo "\`GET /odata/QueueIntervals?interval=15&timeZone=Europe/Amsterdam&\$filter=intervalStart ge <day>T00:00 and intervalStart lt <next day>T00:00\`"
  echo "(every property), for the $DAYS days from $FIRST_DAY, each checked first to be one request (no next link) equal to"
  echo "\`dialogueStats(granularity: FIFTEEN_MINUTES, groupBy: [QUEUE])\` over the day; then one unmeasured round and"
  echo "$ROUNDS measured rounds, one request after the other (latency as the client sees it, HTTP included)."
  echo "Target: one request, < 50 ms on 1M rows."
  echo
  echo "| database | requests | rows per answer (median) | p50 ms | p90 ms | p99 ms | max ms | mean ms |"
  echo "|---|---|---|---|---|---|---|---|"
  while IFS=$'\t' read -r label requests rows p50 p90 p99 max mean; do
    echo "| $label | $requests | $rows | $p50 | $p90 | $p99 | $max | $mean |"
  done <"$WORK/results.tsv"
} >"$OUT"
log "wrote bench/intervals.md in $((SECONDS - START)) s"
cat "$OUT"
