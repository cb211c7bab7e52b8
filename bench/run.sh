#!/usr/bin/env bash
# Benchmarks for the performance targets of the issues. One command:
#
#   bash bench/run.sh [DIALOGUES]        # default 1,000,000; writes bench/results.md
#
# Measures, on SQLite and PostgreSQL (BENCH_POSTGRES_URL, default the local server):
#   import   — 1M generated vendor-shaped dialogues: rows/s and peak memory (RSS)
#   read     — the page query (100 dialogues, all four relations, totalCount) and the same page
#              deep in the list (cursor after row 100,000): req/s, p50, p99 at 16 connections (wrk)
#   stats    — March in Europe/Amsterdam, groupBy QUEUE, DAY, every field incl. p90: latency,
#              and the server's memory before and after
# The machine is small and shared (2 cores): compare the ratios measured within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
WORK=$(mktemp -d /tmp/insights-bench.XXXXXX)
OUT=bench/results.md
DURATION=${BENCH_DURATION:-15}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin insights
BIN=$PWD/target/release/insights

echo "== generating $N dialogues (a year ending 2026-12-31)"
$BIN demo --dialogues "$N" --days 365 --until 2027-01-01 --out-dir "$WORK/data" >/dev/null
ls -la "$WORK/data"

{
  echo "# Benchmark results"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $N dialogues."
  echo "Shared, noisy machine: compare ratios within one run."
  echo
} > "$OUT"

import_one() { # name url
  local name=$1 url=$2
  $BIN --database-url "$url" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null
  /usr/bin/time -f "%M" -o "$WORK/rss" $BIN --database-url "$url" import dialogues "$WORK/data/dialogues.ndjson" --quiet > "$WORK/summary"
  local summary rate rss
  summary=$(cat "$WORK/summary")
  rate=$(grep -o '([0-9]* rows/s)' <<<"$summary" | tr -dc 0-9)
  rss=$(( $(cat "$WORK/rss") / 1024 ))
  echo "| $name | $rate | $rss MB | $summary |" >> "$OUT"
  echo "$name: $summary, peak RSS ${rss} MB"
}

PG_DB="insights_bench_$$"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" && psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
SQLITE_URL="sqlite://$WORK/bench.db?mode=rwc"
PG_URL="$PG_BASE/$PG_DB"

echo "== import"
{ echo "## Import (target: ≥ 50,000/s SQLite, ≥ 25,000/s PostgreSQL, peak memory < 100 MB)"; echo;
  echo "| database | dialogues/s | peak RSS | summary |"; echo "|---|---|---|---|"; } >> "$OUT"
import_one SQLite "$SQLITE_URL"
import_one PostgreSQL "$PG_URL"
psql "$PG_URL" -qc "VACUUM ANALYZE" >/dev/null

page_query='{ dialogues(first: 100, after: AFTER) { totalCount pageInfo { hasNextPage endCursor } nodes { id startTimestamp outcome ivr { name } queue { name } customer { name } agent { name } } } }'
stats_query='{ dialogueStats(from: "2026-03-01T00:00:00+01:00", to: "2026-04-01T00:00:00+02:00", timeZone: "Europe/Amsterdam", granularity: DAY, groupBy: [QUEUE]) { periodStart periodEnd queueId queue { name } dialogues inbound outbound offered accepted abandoned quickDrops ivrDrops acceptedInSla serviceLevel { value numerator denominator } abandonRate { value numerator denominator } answerRate { value numerator denominator } averageSpeedOfAnswer averageAbandonTime averageTalkTime averageIvrTime averageSessionTime maxQueueTime p90: queueTimePercentile(p: 0.9) } }'

body() { # query after
  python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1].replace("AFTER", sys.argv[2])}))' "$1" "$2"
}

# The cursor of row 100,000 in the default order (start DESC, id DESC), built the way the API
# builds cursors: base64url of {"o": order signature, "k": [start ms, id]}.
deep_cursor() { # start_ms id
  python3 -c 'import base64,json,sys; print(base64.urlsafe_b64encode(json.dumps({"o":"START_TIMESTAMP:D,ID:D","k":[int(sys.argv[1]),sys.argv[2]]},separators=(",",":")).encode()).decode().rstrip("="))' "$1" "$2"
}

rss_of() { awk '/VmRSS/{print int($2/1024)}' "/proc/$1/status"; }

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*a")
f:close()
LUA

run_wrk() { # label body-file
  local label=$1 file=$2 out
  out=$(BODY_FILE=$file wrk -t2 -c16 -d"${DURATION}s" --latency -s "$WORK/post.lua" http://127.0.0.1:4400/graphql)
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/{print $NF}' <<<"$out"); errors=${errors:-0}
  echo "| $label | $rps | $p50 | $p99 | $errors |" >> "$OUT"
  echo "$label: $rps req/s, p50 $p50, p99 $p99, non-2xx $errors"
}

bench_server() { # name url start_ms id
  local name=$1 url=$2
  INSIGHTS_LOG=warn $BIN --database-url "$url" serve --no-auth --bind 127.0.0.1:4400 --max-connections 16 --rate-limit 100000 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:4400/readyz >/dev/null && break; sleep 0.2; done
  body "$page_query" null > "$WORK/first.json"
  body "$page_query" "\"$(deep_cursor "$3" "$4")\"" > "$WORK/deep.json"
  body "$stats_query" x > "$WORK/stats.json"
  for f in first deep stats; do
    if curl -s -H 'content-type: application/json' --data @"$WORK/$f.json" http://127.0.0.1:4400/graphql | grep -q '"errors"'; then
      echo "the $f query failed:"; curl -s -H 'content-type: application/json' --data @"$WORK/$f.json" http://127.0.0.1:4400/graphql | head -c 600; exit 1
    fi
  done
  run_wrk "$name first page" "$WORK/first.json"
  run_wrk "$name deep page (after row 100,000)" "$WORK/deep.json"
  local before after times
  before=$(rss_of $pid)
  times=$(for _ in $(seq 1 11); do curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' --data @"$WORK/stats.json" http://127.0.0.1:4400/graphql; done | tail -n 10 | sort -n)
  after=$(rss_of $pid)
  echo "$name stats ms: $(tr '\n' ' ' <<<"$times")"
  echo "$name stats: median $(sed -n 5p <<<"$times")s max $(tail -n1 <<<"$times")s, server RSS ${before} → ${after} MB" >> "$WORK/stats.txt"
  kill $pid; wait $pid 2>/dev/null || true
}

echo "== read API and stats"
{ echo; echo "## Read API at 16 connections (target: deep page within 1.2× of the first page)"; echo;
  echo "| query | req/s | p50 | p99 | non-2xx |"; echo "|---|---|---|---|---|"; } >> "$OUT"
read -r s_ms s_id < <(sqlite3 "$WORK/bench.db" "SELECT start_timestamp_ms, id FROM dialogues ORDER BY start_timestamp_ms DESC, id DESC LIMIT 1 OFFSET 99999" 2>/dev/null | tr '|' ' ' || true)
if [[ -z "${s_ms:-}" ]]; then
  read -r s_ms s_id < <(python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("SELECT start_timestamp_ms, id FROM dialogues ORDER BY start_timestamp_ms DESC, id DESC LIMIT 1 OFFSET 99999").fetchone(); print(r[0], r[1])' "$WORK/bench.db")
fi
bench_server SQLite "$SQLITE_URL" "$s_ms" "$s_id"
read -r p_ms p_id < <(psql "$PG_URL" -Atc "SELECT start_timestamp_ms, id FROM dialogues ORDER BY start_timestamp_ms DESC, id DESC LIMIT 1 OFFSET 99999" | tr '|' ' ')
bench_server PostgreSQL "$PG_URL" "$p_ms" "$p_id"
{ echo; echo "## dialogueStats: March, Europe/Amsterdam, groupBy QUEUE, DAY, all fields incl. p90 (target: < 300 ms PostgreSQL, < 1 s SQLite)"; echo;
  sed 's/^/- /' "$WORK/stats.txt"; } >> "$OUT"

psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" || true
rm -rf "$WORK"
echo "== wrote $OUT"
cat "$OUT"
