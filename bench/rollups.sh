#!/usr/bin/env bash
# Issue 9's figures (pre-aggregates). One command:
#
#   bash bench/rollups.sh [SIZES...]     # default: 1000000 5000000
#
# For each size N, on the PostgreSQL server BENCH_POSTGRES_URL (default the local one; databases
# rollup_bench_<N> are created, and dropped again unless KEEP_DB=1):
#   1. generates the demo (`insights demo --dialogues N --days 365 --until 2026-11-01 --seed 42`)
#      as NDJSON and imports it with `insights import` (the import figure, pre-aggregates
#      maintained by the triggers); at the first size also into a database migrated without them
#      (`migrate --down 1`), then migrated up again (m0003 builds them for the existing rows,
#      timed), and the same two imports on SQLite: import rows/s before and after;
#   2. serves it (`serve --no-auth`) and asks, one request at a time, 5 times each (median):
#        (a)      100 newest dialogues with queue{id name}, agent{id name} and totalCount
#        (e)      dialogueStats March 2026, Europe/Amsterdam, DAY x QUEUE (offered, accepted,
#                 serviceLevel, averageSpeedOfAnswer)
#        (e-year) the same over Nov 2025 - Oct 2026
#      and (e) as one hand-written statement over the rows, bench/e_rows.sql (psql, median of 5,
#      server time as psql's \timing reports it), after checking it gives the same figures;
#   3. writes the section between <!-- rollups:start --> and <!-- rollups:end --> of
#      bench/results.md: the scale table (1M and 5M), the ratios and the import figures.
# (a) against PostGraphile at 16 connections is bench/compare.sh's table (same database there).
# INSIGHTS_BIN skips the build. The machine is small and shared: compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 5000000)
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
OUT=bench/results.md
WORK=$(mktemp -d /tmp/rollup-bench.XXXXXX)
PORT=${BENCH_PORT:-4791}
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "== $*" >&2; }

if [ -z "${INSIGHTS_BIN:-}" ]; then
  cargo build --release --quiet --bin insights
  INSIGHTS_BIN=$PWD/target/release/insights
fi
BIN=$INSIGHTS_BIN
psql_admin() { psql -X -q -At -v ON_ERROR_STOP=1 "$PG_ADMIN" "$@"; }

now() { date +%s.%N; }
# import_rate URL FILE: imports, prints rows/s
import_rate() {
  local start end rows bin=${3:-$BIN}
  "$bin" --database-url "$1" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null 2>&1
  start=$(now)
  "$bin" --database-url "$1" import dialogues "$2" --quiet >/dev/null 2>"$WORK/import.log" \
    || { cat "$WORK/import.log" >&2; exit 1; }
  end=$(now)
  rows=$(wc -l <"$2")
  python3 -c "print(round($rows / ($end - $start)))"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

body() { jq -cn --arg q "$2" '{query: $q}' >"$1"; }
time_request() { # BODY: median of 5 (after one warm-up) in seconds
  curl -sS -o /dev/null -H 'Content-Type: application/json' --data @"$1" "http://127.0.0.1:$PORT/graphql"
  for _ in 1 2 3 4 5; do
    curl -sS -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' --data @"$1" \
      "http://127.0.0.1:$PORT/graphql"
  done | median
}

body "$WORK/a.json" '{ dialogues(first: 100, orderBy: [{field: START_TIMESTAMP, direction: DESC}]) { totalCount nodes { id queue { id name } agent { id name } } } }'
E_FIELDS='periodStart queueId offered accepted serviceLevel { value } averageSpeedOfAnswer'
body "$WORK/e.json" "{ dialogueStats(from: \"2026-03-01T00:00:00+01:00\", to: \"2026-04-01T00:00:00+02:00\", timeZone: \"Europe/Amsterdam\", granularity: DAY, groupBy: [QUEUE]) { $E_FIELDS } }"
body "$WORK/ey.json" "{ dialogueStats(from: \"2025-11-01T00:00:00+01:00\", to: \"2026-11-01T00:00:00+01:00\", timeZone: \"Europe/Amsterdam\", granularity: DAY, groupBy: [QUEUE]) { $E_FIELDS } }"

ROWS_FILE=$WORK/rows.tsv
N_FIRST=${SIZES[0]}
IMPORT_LINES=()
for N in "${SIZES[@]}"; do
  DB=rollup_bench_$N
  URL=$PG_BASE/$DB
  log "$N dialogues: generating"
  rm -rf "$WORK/data"
  "$BIN" demo --dialogues "$N" --days 365 --until 2026-11-01 --seed 42 --out-dir "$WORK/data" >/dev/null 2>&1
  psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  if [ "$N" = "${SIZES[0]}" ]; then
    log "$N: import without pre-aggregates (PostgreSQL)"
    psql_admin -c "CREATE DATABASE $DB"
    # `import` migrates first, so "without" = the triggers dropped (the tables stay, unused:
    # on PostgreSQL only the triggers write them); afterwards m0004 and m0003 are rolled back
    # and applied again over the imported rows (timed).
    "$BIN" --database-url "$URL" migrate >/dev/null 2>&1
    psql -X -q "$URL" -c "DROP TRIGGER rollups_insert ON dialogues; DROP TRIGGER rollups_update ON dialogues; DROP TRIGGER rollups_delete ON dialogues"
    PG_BEFORE=$(import_rate "$URL" "$WORK/data/dialogues.ndjson")
    "$BIN" --database-url "$URL" migrate --down 2 >"$WORK/migrate.log" 2>&1
    for m in m0004_rollup_dimensions m0003_rollups; do
      grep -q "$m' has been rolled back" "$WORK/migrate.log" || { cat "$WORK/migrate.log" >&2; exit 1; }
    done
    start=$(now)
    "$BIN" --database-url "$URL" migrate >"$WORK/migrate.log" 2>&1
    end=$(now)
    for m in m0003_rollups m0004_rollup_dimensions; do
      grep -q "$m' has been applied" "$WORK/migrate.log" || { cat "$WORK/migrate.log" >&2; exit 1; }
    done
    MIGRATE_S=$(python3 -c "print(round($end - $start, 1))")
    psql_admin -c "DROP DATABASE $DB WITH (FORCE)"
    log "$N: SQLite without and with pre-aggregates"
    SQLITE_URL="sqlite://$WORK/bench.db?mode=rwc"
    rm -f "$WORK"/bench.db*
    # On SQLite the importer itself sums the rows it inserts: "without" needs a build from
    # before the pre-aggregates (BASE_BIN, see bench/rollups_ab.sh).
    if [ -n "${BASE_BIN:-}" ]; then
      "$BASE_BIN" --database-url "$SQLITE_URL" migrate >/dev/null 2>&1
      SQLITE_BEFORE=$(import_rate "$SQLITE_URL" "$WORK/data/dialogues.ndjson" "$BASE_BIN")
    else
      SQLITE_BEFORE="n/a (set BASE_BIN)"
    fi
    log "import before: PostgreSQL ${PG_BEFORE}/s, SQLite ${SQLITE_BEFORE}/s; m0003+m0004 ${MIGRATE_S} s"
    rm -f "$WORK"/bench.db*
    SQLITE_AFTER=$(import_rate "$SQLITE_URL" "$WORK/data/dialogues.ndjson")
    rm -f "$WORK"/bench.db*
  fi
  log "$N: import with pre-aggregates (PostgreSQL)"
  psql_admin -c "CREATE DATABASE $DB"
  "$BIN" --database-url "$URL" migrate >/dev/null 2>&1
  PG_AFTER=$(import_rate "$URL" "$WORK/data/dialogues.ndjson")
  rm -rf "$WORK/data"
  psql -X -q "$URL" -c "VACUUM ANALYZE" >/dev/null
  IMPORT_LINES+=("$N|$PG_AFTER")
  [ "$N" = "${SIZES[0]}" ] && FIRST_PG_AFTER=$PG_AFTER
  TENANT=$(psql -X -At "$URL" -c "SELECT id FROM tenants WHERE name = 'default'")
  GRAINS=$(psql -X -At "$URL" -c "SELECT string_agg(t || ' ' || to_char(n, 'FM9,999,999'), ', ') FROM (
    SELECT 'day×queue' t, count(*) n FROM rollup_day_queue UNION ALL SELECT 'hour×queue', count(*) FROM rollup_hour_queue
    UNION ALL SELECT 'hour×agent', count(*) FROM rollup_hour_agent UNION ALL SELECT 'hour×queue/ivr/direction/outcome/flags', count(*) FROM rollup_hour_dims
    UNION ALL SELECT '15min', count(*) FROM rollup_15m) g")

  log "$N: serving"
  "$BIN" --database-url "$URL" serve --no-auth --bind "127.0.0.1:$PORT" --rate-limit 1000000 >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
    sleep 0.2
  done
  A=$(time_request "$WORK/a.json")
  E=$(time_request "$WORK/e.json")
  EY=$(time_request "$WORK/ey.json")
  curl -sS -H 'Content-Type: application/json' --data @"$WORK/e.json" "http://127.0.0.1:$PORT/graphql" >"$WORK/e.answer.json"
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  # The hand-written statement: same figures, then its time.
  psql -X -q -At -F '|' "$URL" -v tenant="$TENANT" -f bench/e_rows.sql >"$WORK/e.sql.txt"
  python3 - "$WORK/e.answer.json" "$WORK/e.sql.txt" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["data"]["dialogueStats"]
sql = [l.split("|") for l in open(sys.argv[2]).read().splitlines() if l]
assert len(ours) == len(sql), (len(ours), len(sql))
for o, s in zip(ours, sql):
    assert o["queueId"] == (s[1] or None) and o["offered"] == int(s[2]) and o["accepted"] == int(s[3]), (o, s)
    sl = float(s[4]) if s[4] else None
    assert (o["serviceLevel"]["value"] is None) == (sl is None) and (sl is None or abs(o["serviceLevel"]["value"] - sl) < 1e-12), (o, s)
    asa = float(s[5]) if s[5] else None
    assert (o["averageSpeedOfAnswer"] is None) == (asa is None) and (asa is None or abs(o["averageSpeedOfAnswer"] - asa) < 1e-9), (o, s)
print(f"(e): dialogueStats and bench/e_rows.sql agree on {len(ours)} rows", file=sys.stderr)
PY
  psql -X -q -At "$URL" -c "SELECT 1" >/dev/null
  SQL=$(for _ in 1 2 3 4 5 6; do
    psql -X -q -At "$URL" -v tenant="$TENANT" -c '\timing on' -f bench/e_rows.sql | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
  done | tail -5 | median)
  SQL_S=$(python3 -c "print($SQL / 1000)")
  echo "$N	$A	$E	$EY	$SQL_S	$GRAINS" >>"$ROWS_FILE"
  log "$N: (a) $A s, (e) $E s, (e-year) $EY s, (e) as SQL $SQL_S s; import ${PG_AFTER}/s"
  [ "${KEEP_DB:-0}" = 1 ] || psql_admin -c "DROP DATABASE $DB WITH (FORCE)"
done

SECTION=$WORK/section.md
python3 - "$ROWS_FILE" "$SECTION" <<PY
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
out = []
w = out.append
w("<!-- rollups:start -->")
w("## Pre-aggregates (issue 9)")
w("")
w("$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores (shared), PostgreSQL $(psql_admin -c 'SHOW server_version' | awk '{print $1}'), "
  "\`bash bench/rollups.sh\`. One request at a time, median of 5 after a warm-up, end to end over HTTP; "
  "the hand-written statement's time is PostgreSQL's (psql \\\\timing).")
w("")
w("| dialogues | (a) 100 newest + totalCount | (e) March DAY×QUEUE | (e-year) Nov–Oct DAY×QUEUE | (e) as one SQL statement over the rows | SQL / (e) |")
w("|---|---|---|---|---|---|")
for n, a, e, ey, sql, grains in rows:
    w(f"| {int(n):,} | {float(a):.4f} s | {float(e):.4f} s | {float(ey):.4f} s | {float(sql):.4f} s | {float(sql)/float(e):.1f}× |")
if len(rows) > 1:
    base, last = rows[0], rows[-1]
    ratio = lambda i: float(last[i]) / float(base[i])
    w(f"| {int(last[0]):,} / {int(base[0]):,} | {ratio(1):.2f}× | {ratio(2):.2f}× | {ratio(3):.2f}× | {ratio(4):.2f}× | |")
w("")
for n, *_, grains in rows:
    w(f"Pre-aggregate rows at {int(n):,}: {grains}.")
w("")
w("Import (\`insights import dialogues\`, $N_FIRST generated dialogues, rows/s): PostgreSQL $PG_BEFORE before → $FIRST_PG_AFTER with the triggers; "
  "SQLite $SQLITE_BEFORE → $SQLITE_AFTER. Migrations m0003 and m0004 over the existing rows: $MIGRATE_S s.")
w("<!-- rollups:end -->")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
touch "$OUT"
python3 - "$OUT" "$SECTION" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = open(sys.argv[2]).read()
pattern = re.compile(r"<!-- rollups:start -->.*?<!-- rollups:end -->\n?", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(sys.argv[1], "w").write(text)
PY
cat "$SECTION"
