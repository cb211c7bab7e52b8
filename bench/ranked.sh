#!/usr/bin/env bash
# Ranked, thresholded and compared KPIs (`dialogueStats` with orderBy/first/having/compareTo):
# does ranking cost more than the same question without it? The target: a ranked, thresholded
# question over a year of data within 1.5× of the same question without ranking, flat from 1M to
# 5M dialogues. One command:
#
#   bash bench/ranked.sh [SIZES...]      # default: 1000000 5000000
#
# For each size N and each database of BENCH_DATABASES (default "postgres sqlite"):
#   1. generates the demo (`insights demo --dialogues N --days 365 --until 2026-11-01 --seed 42`)
#      as NDJSON and imports it with `insights import` (PostgreSQL: database ranked_bench_<N> on
#      BENCH_POSTGRES_URL, default the local server, dropped again unless KEEP_DB=1; SQLite: a
#      file in a temporary folder);
#   2. serves it (`serve --no-auth`) and times, one request at a time, 5 times each after a
#      warm-up (median, end to end over HTTP), two pairs of questions in Europe/Amsterdam:
#        (y)   Nov 2025 - Oct 2026, MONTH x AGENT: offered, serviceLevel, averageSpeedOfAnswer
#        (y-r) the same, ranked and thresholded: having offered >= 50, orderBy SERVICE_LEVEL ASC
#              then AVERAGE_SPEED_OF_ANSWER DESC, first 5 (per month)
#        (h)   May - Oct 2026, MONTH x QUEUE, the same fields
#        (h-c) the same, ranked (having offered >= 50, orderBy SERVICE_LEVEL ASC, first 3) and
#              compared (compareTo PREVIOUS_PERIOD: the six months before, a second aggregation)
#      and checks that each ranked answer is the plain answer kept, ordered and cut as docs/api.md
#      says (and, for (h-c), that every row has its `previous`);
#   3. writes the section between <!-- ranked:start --> and <!-- ranked:end --> of OUT (default
#      bench/ranked-results.md): the times, (y-r)/(y) and (h-c)/(h), and the growth from the
#      first size to the last.
# INSIGHTS_BIN skips the build. The machine may be small and shared: compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 5000000)
read -r -a DATABASES <<<"${BENCH_DATABASES:-postgres sqlite}"
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
OUT=${OUT:-bench/ranked-results.md}
WORK=$(mktemp -d /tmp/ranked-bench.XXXXXX)
PORT=${BENCH_PORT:-4792}
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

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
body() { jq -cn --arg q "$2" '{query: $q}' >"$1"; }
post() { curl -sS -H 'Content-Type: application/json' --data @"$1" "http://127.0.0.1:$PORT/graphql"; }
time_request() { # BODY: median of 5 (after one warm-up) in seconds
  post "$1" >/dev/null
  for _ in 1 2 3 4 5; do
    curl -sS -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' --data @"$1" \
      "http://127.0.0.1:$PORT/graphql"
  done | median
}

FIELDS='periodStart queueId agentId offered serviceLevel { value } averageSpeedOfAnswer'
YEAR='from: "2025-11-01T00:00:00+01:00", to: "2026-11-01T00:00:00+01:00", timeZone: "Europe/Amsterdam", granularity: MONTH, groupBy: [AGENT]'
HALF='from: "2026-05-01T00:00:00+02:00", to: "2026-11-01T00:00:00+01:00", timeZone: "Europe/Amsterdam", granularity: MONTH, groupBy: [QUEUE]'
Y_RANK='having: { measure: OFFERED, gte: 50 }, orderBy: [{ measure: SERVICE_LEVEL, direction: ASC }, { measure: AVERAGE_SPEED_OF_ANSWER, direction: DESC }], first: 5'
H_RANK='having: { measure: OFFERED, gte: 50 }, orderBy: [{ measure: SERVICE_LEVEL, direction: ASC }], first: 3, compareTo: PREVIOUS_PERIOD'
body "$WORK/y.json" "{ dialogueStats($YEAR) { $FIELDS } }"
body "$WORK/yr.json" "{ dialogueStats($YEAR, $Y_RANK) { $FIELDS } }"
body "$WORK/h.json" "{ dialogueStats($HALF) { $FIELDS } }"
body "$WORK/hc.json" "{ dialogueStats($HALF, $H_RANK) { $FIELDS previous { periodStart offered serviceLevel { value } } } }"

# check PLAIN RANKED GROUP ORDER FIRST COMPARED: the ranked answer is the plain one kept
# (offered >= 50), ordered within each month (figures, nulls last, then the group key) and cut.
check() {
  python3 - "$@" <<'PY'
import json, sys
plain = json.load(open(sys.argv[1]))["data"]["dialogueStats"]
ranked = json.load(open(sys.argv[2]))["data"]["dialogueStats"]
group, order, first, compared = sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
fig = lambda r, m: r["serviceLevel"]["value"] if m == "SERVICE_LEVEL" else r["averageSpeedOfAnswer"]
def key(r):
    k = []
    for m, desc in order:
        v = fig(r, m)
        k.append((v is None, 0 if v is None else (-v if desc else v)))
    g = r[group]
    k.append((g is None, (g or "").encode()))
    return k
kept = [r for r in plain if r["offered"] >= 50]
want = []
for period in sorted({r["periodStart"] for r in kept}):
    want += sorted([r for r in kept if r["periodStart"] == period], key=key)[:first]
strip = lambda r: {k: v for k, v in r.items() if k != "previous"}
assert [strip(r) for r in ranked] == want, "the ranked answer is not the plain one kept, ordered and cut"
if compared:
    assert all(r["previous"] is not None and r["previous"]["periodStart"] < r["periodStart"] for r in ranked)
print(f"ranked answer checked: {len(ranked)} of {len(plain)} rows", file=sys.stderr)
PY
}

ROWS_FILE=$WORK/rows.tsv
for N in "${SIZES[@]}"; do
  log "$N dialogues: generating"
  rm -rf "$WORK/data"
  "$BIN" demo --dialogues "$N" --days 365 --until 2026-11-01 --seed 42 --out-dir "$WORK/data" >/dev/null 2>&1
  for KIND in "${DATABASES[@]}"; do
    case $KIND in
      postgres)
        DB=ranked_bench_$N
        URL=$PG_BASE/$DB
        psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
        psql_admin -c "CREATE DATABASE $DB" ;;
      sqlite)
        rm -f "$WORK"/bench.db*
        URL="sqlite://$WORK/bench.db?mode=rwc" ;;
      *) echo "unknown database $KIND (postgres or sqlite)" >&2; exit 1 ;;
    esac
    log "$N: import ($KIND)"
    "$BIN" --database-url "$URL" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null 2>&1
    "$BIN" --database-url "$URL" import dialogues "$WORK/data/dialogues.ndjson" --quiet >/dev/null 2>"$WORK/import.log" \
      || { cat "$WORK/import.log" >&2; exit 1; }
    [ "$KIND" = postgres ] && psql -X -q "$URL" -c "VACUUM ANALYZE" >/dev/null

    log "$N: serving ($KIND)"
    "$BIN" --database-url "$URL" serve --no-auth --bind "127.0.0.1:$PORT" --rate-limit 1000000 >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
      sleep 0.2
    done
    for q in y yr h hc; do
      post "$WORK/$q.json" >"$WORK/$q.answer.json"
      jq -e '.errors == null' "$WORK/$q.answer.json" >/dev/null || { cat "$WORK/$q.answer.json" >&2; exit 1; }
    done
    check "$WORK/y.answer.json" "$WORK/yr.answer.json" agentId '[["SERVICE_LEVEL", false], ["AVERAGE_SPEED_OF_ANSWER", true]]' 5 0
    check "$WORK/h.answer.json" "$WORK/hc.answer.json" queueId '[["SERVICE_LEVEL", false]]' 3 1
    Y=$(time_request "$WORK/y.json")
    YR=$(time_request "$WORK/yr.json")
    H=$(time_request "$WORK/h.json")
    HC=$(time_request "$WORK/hc.json")
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    echo "$N	$KIND	$Y	$YR	$H	$HC" >>"$ROWS_FILE"
    log "$N $KIND: (y) $Y s, (y-r) $YR s, (h) $H s, (h-c) $HC s"
    if [ "$KIND" = postgres ]; then
      [ "${KEEP_DB:-0}" = 1 ] || psql_admin -c "DROP DATABASE $DB WITH (FORCE)"
    else
      rm -f "$WORK"/bench.db*
    fi
  done
done
rm -rf "$WORK/data"

SECTION=$WORK/section.md
python3 - "$ROWS_FILE" "$SECTION" <<PY
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
out = []
w = out.append
w("<!-- ranked:start -->")
w("## Ranked, thresholded and compared KPIs")
w("")
w("$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, "
  "\`bash bench/ranked.sh ${SIZES[*]}\`. One request at a time, median of 5 after a warm-up, end to end over HTTP. "
  "(y) a year, MONTH × AGENT; (y-r) the same with having offered ≥ 50, orderBy SERVICE_LEVEL ASC then "
  "AVERAGE_SPEED_OF_ANSWER DESC, first 5; (h) six months, MONTH × QUEUE; (h-c) the same with having, orderBy, "
  "first 3 and compareTo PREVIOUS_PERIOD. Target: (y-r)/(y) ≤ 1.5, flat from the first size to the last.")
w("")
w("| dialogues | database | (y) | (y-r) | (y-r)/(y) | (h) | (h-c) | (h-c)/(h) |")
w("|---|---|---|---|---|---|---|---|")
for n, kind, y, yr, h, hc in rows:
    y, yr, h, hc = map(float, (y, yr, h, hc))
    w(f"| {int(n):,} | {kind} | {y:.4f} s | {yr:.4f} s | {yr / y:.2f}× | {h:.4f} s | {hc:.4f} s | {hc / h:.2f}× |")
for kind in sorted({r[1] for r in rows}):
    mine = [r for r in rows if r[1] == kind]
    if len(mine) > 1:
        base, last = mine[0], mine[-1]
        g = lambda i: float(last[i]) / float(base[i])
        w(f"| {int(last[0]):,} / {int(base[0]):,} | {kind} | {g(2):.2f}× | {g(3):.2f}× | | {g(4):.2f}× | {g(5):.2f}× | |")
w("<!-- ranked:end -->")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
touch "$OUT"
python3 - "$OUT" "$SECTION" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = open(sys.argv[2]).read()
pattern = re.compile(r"<!-- ranked:start -->.*?<!-- ranked:end -->\n?", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(sys.argv[1], "w").write(text.lstrip("\n"))
PY
cat "$SECTION"
