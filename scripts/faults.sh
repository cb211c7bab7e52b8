#!/usr/bin/env bash
# Fault and soak checks against real servers on loopback (each part starts its own server on a free
# port with a throwaway database; PostgreSQL is a private cluster initdb'ed into the work dir):
#   bash scripts/faults.sh                      # all parts
#   bash scripts/faults.sh pg-outage sigterm    # some parts: pg-outage import sigterm soak subscribers
# Environment: SOAK_SECONDS (60), SOAK_CONNECTIONS (32), SOAK_BASELINE_SECONDS (15),
# SOAK_PG_DOWN_SECONDS (5), INSIGHTS_BIN (skip the build), SOAK_LIVE_BIN (skip building the
# subscribers' driver, examples/soak_live.rs).
#
#   pg-outage  PostgreSQL stopped under a steady load: requests fail fast (< 2 s) with a coded
#              error, /readyz answers 503; after PostgreSQL is back the same server process serves
#              again within 5 s.
#   import     `insights import dialogues` while serving, on SQLite and PostgreSQL: readers never
#              see an error and never a half-imported file (totalCount only jumps old -> old + N).
#   sigterm    SIGTERM under load: every request in flight finishes with 200, the process exits 0.
#   soak       wrk, SOAK_CONNECTIONS connections for SOAK_SECONDS of mixed lists, stats and lookups
#              (every body checked): zero non-2xx, zero GraphQL errors; RSS sampled every 5 s does
#              not grow after warm-up.
#   subscribers  One server with API keys on the private PostgreSQL (pool 16), tenants A and B with
#              the demo data. examples/soak_live.rs holds 50 WebSocket subscribers of
#              `dialogueIngested { id changePosition }` (tenant A), each resuming with `after:` =
#              the last position seen whenever its subscription or socket ends (each also drops
#              its socket once during the hammer phase, to exercise that); an ingester
#              sends batches of 500 fresh dialogues (tenant A) all along; tenant B reads a page 20
#              times a second. First SOAK_BASELINE_SECONDS without, then SOAK_SECONDS with a
#              hammering key (40 heavy `dialogueStats` in flight); PostgreSQL is stopped for
#              SOAK_PG_DOWN_SECONDS in the middle of the hammer phase. Fails when a subscriber
#              misses or duplicates an acknowledged dialogue (after up to 30 s to catch up) or
#              any answer is INTERNAL_SERVER_ERROR; reports tenant B's page p99 without and with
#              the hammer and the 429/503 counts. Figures: target/soak-live.json and .md.
SCRIPT_NAME=faults
source "$(dirname "$0")/lib.sh"
START=$SECONDS
PARTS=${*:-pg-outage import sigterm soak subscribers}
SOAK_BASELINE_SECONDS=${SOAK_BASELINE_SECONDS:-15}
SOAK_PG_DOWN_SECONDS=${SOAK_PG_DOWN_SECONDS:-5}
SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-32}
BASE_N=20000  # dialogues served
BATCH_N=50000 # dialogues per import batch
LOAD="python3 $REPO/scripts/faults_load.py"

need_cmd curl curl jq jq python3 python3 wrk wrk runuser util-linux
build_binary

FAILED=0
SUMMARY=()
result() { # PART OK|FAIL LINE
  SUMMARY+=("$1 $2")
  echo "$1: $2 -- $3"
  [ "$2" = ok ] || FAILED=1
}
now() { date +%s.%N; }

# --- data ------------------------------------------------------------------------------------
log "generating $BASE_N demo dialogues and two import batches of $BATCH_N (vendor NDJSON)"
"$BIN" demo --out-dir "$WORK/data" --dialogues "$BASE_N" --days 60 --until 2026-05-01 >/dev/null
"$BIN" demo --out-dir "$WORK/batch" --dialogues "$BATCH_N" --days 60 --until 2026-05-01 --seed 7 >/dev/null
for k in 1 2; do # fresh ids and order numbers, so each batch adds exactly BATCH_N dialogues
  jq -c --arg p "imp$k-" --argjson off $((k * 10000000)) '.id = $p + .id | .orderNumber += $off' \
    "$WORK/batch/dialogues.ndjson" >"$WORK/batch$k.ndjson"
done

load_base() { # DATABASE_URL: endpoints and the base dialogues
  "$BIN" --database-url "$1" import endpoints "$WORK/data/endpoints.ndjson" --quiet >/dev/null
  "$BIN" --database-url "$1" import dialogues "$WORK/data/dialogues.ndjson" --quiet >/dev/null
}

# --- request bodies ----------------------------------------------------------------------------
# mixed_bodies URL FILE: lists, stats and lookups (ids taken from the server).
mixed_bodies() {
  local ids
  ids=$(gql "$1" '{ dialogues(first: 8, orderBy: [{field: ORDER_NUMBER, direction: ASC}]) { nodes { id orderNumber queueId agentId } } }')
  python3 - "$ids" >"$2" <<'PY'
import json, sys
nodes = json.loads(sys.argv[1])["data"]["dialogues"]["nodes"]
queues = sorted({n["queueId"] for n in nodes if n["queueId"]}) or ["demo-queue-1"]
agents = sorted({n["agentId"] for n in nodes if n["agentId"]}) or ["demo-agent-001"]
R = 'from: "2026-03-01T00:00:00+01:00", to: "2026-05-01T00:00:00+02:00"'
STATS = 'dialogues offered accepted abandoned serviceLevel { value numerator denominator } abandonRate { value } averageSpeedOfAnswer maxQueueTime p90: queueTimePercentile(p: 0.9)'
q = [
    '{ dialogues(first: 50) { totalCount pageInfo { hasNextPage endCursor } nodes { id startTimestamp outcome ivr { name } queue { name } customer { name } agent { name } } } }',
    '{ dialogues(first: 100, filter: { outcome: { eq: ABANDONED } }, orderBy: [{ field: QUEUE_DURATION, direction: DESC }]) { pageInfo { hasNextPage } nodes { id queueDurationInSec queue { name } } } }',
    '{ dialogues(first: 20, filter: { queueId: { in: %s }, inSla: { eq: false } }) { totalCount nodes { id orderNumber agent { name } } } }' % json.dumps(queues),
    '{ endpoints(first: 100) { totalCount nodes { id name role slaThresholdInSec } } }',
    '{ dialogueStats(%s, timeZone: "Europe/Amsterdam", granularity: DAY, groupBy: [QUEUE]) { periodStart queue { name } %s } }' % (R, STATS),
    '{ dialogueStats(%s, groupBy: [AGENT]) { agent { name } %s } }' % (R, STATS),
    '{ dialogueStats(%s, timeZone: "America/New_York", granularity: HOUR, filter: { direction: { eq: INBOUND } }) { periodStart %s } }' % (R, STATS),
    '{ dialogueStats(%s, granularity: WEEK, groupBy: [OUTCOME, DIRECTION]) { periodStart outcome direction dialogues } }' % R,
]
for n in nodes:
    q.append('{ dialogue(id: %s) { id orderNumber outcome queue { name } agent { name } customer { name } } }' % json.dumps(n["id"]))
    q.append('{ dialogueByOrderNumber(orderNumber: %d) { id startTimestamp inSla } }' % n["orderNumber"])
for e in queues + agents:
    q.append('{ endpoint(id: %s) { id name role dialogues(first: 10) { nodes { id } } } }' % json.dumps(e))
for query in q:
    print(json.dumps({"query": query}))
PY
}

# check_bodies URL FILE: each body answers 200 with data and no errors (so the load measures the
# server, not a broken query).
check_bodies() {
  local body out
  while IFS= read -r body; do
    out=$(curl -sS --max-time 30 -H 'Content-Type: application/json' --data "$body" "$1/graphql")
    if ! jq -e '(.errors | not) and (.data != null)' >/dev/null <<<"$out"; then
      log "query failed before the load: $body -> ${out:0:300}"
      return 1
    fi
  done <"$2"
}

# --- private PostgreSQL ------------------------------------------------------------------------
PG_READY=0
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }
pg_ctl_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
}
pg_ctl_stop() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null; }
pg_setup() {
  [ "$PG_READY" = 1 ] && return 0
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$PG_BIN" ]; then
    need_cmd __postgresql__ postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  PG_USER=$(id -un)
  if [ "$(id -u)" = 0 ]; then # initdb refuses root
    PG_USER=postgres
    id postgres >/dev/null 2>&1 || { PG_USER=insights-pg; id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"; }
  fi
  PG_DIR="$WORK/pg"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown "$PG_USER" "$PG_DIR"
  PG_PORT=$(free_port)
  log "private PostgreSQL ($PG_BIN) as $PG_USER on 127.0.0.1:$PG_PORT in $PG_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  pg_ctl_start
  CLEANUPS+=("as_pg \"$PG_BIN/pg_ctl\" -D \"$PG_DIR/data\" -m immediate stop >/dev/null 2>&1")
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"
  PG_READY=1
}
pg_createdb() { "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $1" >/dev/null; }

# --- (a) PostgreSQL outage ---------------------------------------------------------------------
part_pg_outage() {
  pg_setup
  pg_createdb outage
  local db="$PG_URL/outage"
  load_base "$db"
  start_server outage "$db"
  local pid=$SERVER_PID url=$URL
  mixed_bodies "$url" "$WORK/outage-bodies.jsonl"
  check_bodies "$url" "$WORK/outage-bodies.jsonl" || { result pg-outage FAIL "queries fail before the outage"; stop_server "$pid" >/dev/null; return; }
  rm -f "$WORK/outage.stop"
  $LOAD --url "$url/graphql" --bodies "$WORK/outage-bodies.jsonl" --threads 4 --pause 0.02 --timeout 20 \
    --duration 90 --stop-file "$WORK/outage.stop" --out "$WORK/outage.jsonl" &
  local load=$!
  PIDS+=("$load")
  sleep 4
  local t_stop t_down t_restart t_up t_ready="" readyz=()
  t_stop=$(now)
  pg_ctl_stop
  t_down=$(now)
  log "PostgreSQL stopped ($(python3 -c "print(round($t_down-$t_stop,2))") s); load goes on"
  sleep 1
  local i
  for i in 1 2 3; do
    readyz+=("$(curl -s -o /dev/null -w '%{http_code}/%{time_total}s' --max-time 10 "$url/readyz")")
    sleep 1
  done
  sleep 3
  t_restart=$(now)
  pg_ctl_start
  t_up=$(now)
  log "PostgreSQL started again"
  for i in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/readyz")" = 200 ]; then t_ready=$(now); break; fi
    sleep 0.1
  done
  sleep 8
  touch "$WORK/outage.stop"
  wait "$load" || true
  local alive=no
  kill -0 "$pid" 2>/dev/null && alive=yes
  local line rc=0
  line=$(python3 - "$WORK/outage.jsonl" "$t_stop" "$t_down" "$t_up" "${t_ready:-0}" "${readyz[*]}" "$alive" "$t_restart" <<'PY'
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
t_stop, t_down, t_up, t_ready = map(float, sys.argv[2:6])
readyz = sys.argv[6].split()
alive = sys.argv[7] == "yes"
t_restart = float(sys.argv[8])
ok = lambda r: r["status"] == 200 and not r["code"] and not r["error"]
dur = lambda r: r["t1"] - r["t0"]
before = [r for r in recs if r["t1"] < t_stop]
# Requests sent while PostgreSQL was down (after pg_ctl stop returned, until 2 s before it is
# started again: a request may wait that long and then succeed) must fail with a coded error;
# every request alive during the outage must end within 2 s of the later of its start and the stop.
down = [r for r in recs if r["t0"] >= t_down and r["t0"] < t_restart - 2.0]
overlapping = [r for r in recs if r["t1"] > t_stop and r["t0"] < t_restart]
hung = [r for r in overlapping if r["t1"] - max(r["t0"], t_stop) >= 2.0]
after = [r for r in recs if r["t0"] >= t_up]
first_ok = min((r["t1"] for r in after if ok(r)), default=None)
recovery = (first_ok - t_up) if first_ok else None
late = [r for r in after if r["t0"] >= t_up + 5]
problems = []
if not before or not all(ok(r) for r in before):
    problems.append("baseline requests failed")
if not down:
    problems.append("no requests during the outage")
uncoded = [r for r in down if ok(r) or not r["code"] or r["code"] == "UNCODED"]
slow = hung
if uncoded:
    problems.append(f"{len(uncoded)} outage answers without a coded error (e.g. {uncoded[0]})")
if slow:
    problems.append(f"{len(slow)} requests hung >= 2 s into the outage (longest {max(r['t1'] - max(r['t0'], t_stop) for r in slow):.2f} s)")
rz = [x.split("/") for x in readyz]
if not rz or any(code != "503" or float(t.rstrip("s")) >= 2.0 for code, t in rz):
    problems.append(f"/readyz during the outage: {readyz}")
if recovery is None or recovery > 5:
    problems.append(f"no successful request within 5 s of PostgreSQL's start (first after {recovery})")
if t_ready == 0 or t_ready - t_up > 5:
    problems.append("/readyz not 200 within 5 s of PostgreSQL's start")
if not late or not all(ok(r) for r in late):
    problems.append(f"{sum(not ok(r) for r in late)} of {len(late)} requests failed 5 s after recovery")
if not alive:
    problems.append("server process died")
durs = sorted(dur(r) for r in down) or [0]
codes = collections.Counter(f'{r["status"]} {r["code"]}' for r in down)
print(("ok" if not problems else "FAIL") + " -- " +
      f"before: {len(before)} requests all ok; during outage: {len(down)} requests, "
      f"answers {dict(codes)}, time p50 {durs[len(durs)//2]:.3f} s max {durs[-1]:.3f} s; "
      f"/readyz {' '.join(readyz)}; after restart: first success {recovery if recovery is None else round(recovery, 2)} s, "
      f"/readyz 200 after {round(t_ready - t_up, 2) if t_ready else None} s, {len(late)} later requests "
      f"{sum(ok(r) for r in late)} ok; same process {alive}" + ("; " + "; ".join(problems) if problems else ""))
PY
) || rc=$?
  result pg-outage "${line%% -- *}" "${line#* -- }"
  stop_server "$pid" >/dev/null
}

# --- (b) import while serving ------------------------------------------------------------------
import_while_serving() { # NAME DATABASE_URL
  local name=$1 db=$2
  load_base "$db"
  start_server "import-$name" "$db"
  local pid=$SERVER_PID url=$URL
  local old
  old=$(gql "$url" '{ dialogues(first: 1) { totalCount } }' | jq -r '.data.dialogues.totalCount')
  echo '{"query":"{ dialogues(first: 1) { totalCount } }"}' >"$WORK/count-body.jsonl"
  rm -f "$WORK/import-$name.stop"
  $LOAD --url "$url/graphql" --bodies "$WORK/count-body.jsonl" --threads 3 --timeout 20 \
    --duration 300 --stop-file "$WORK/import-$name.stop" --out "$WORK/import-$name.jsonl" &
  local load=$!
  PIDS+=("$load")
  sleep 1
  local k t0 times=() import_failed=0
  for k in 1 2; do
    t0=$(now)
    "$BIN" --database-url "$db" import dialogues "$WORK/batch$k.ndjson" --quiet >"$WORK/import-$name-$k.txt" 2>&1 || import_failed=1
    times+=("$(python3 -c "print(round($(now)-$t0,1))")")
    sleep 1
  done
  touch "$WORK/import-$name.stop"
  wait "$load" || true
  local final
  final=$(gql "$url" '{ dialogues(first: 1) { totalCount } }' | jq -r '.data.dialogues.totalCount')
  local line
  line=$(python3 - "$WORK/import-$name.jsonl" "$old" "$BATCH_N" "$final" "${times[*]}" "$import_failed" <<'PY'
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
old, n, final = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
times, import_failed = sys.argv[5], sys.argv[6] == "1"
allowed = {old, old + n, old + 2 * n}
errors = [r for r in recs if r["status"] != 200 or r["code"] or r["error"]]
counts = collections.Counter(r["count"] for r in recs if not r["code"])
odd = {c: k for c, k in counts.items() if c not in allowed}
backwards = 0
by_thread = collections.defaultdict(list)
for r in sorted(recs, key=lambda r: r["t0"]):
    if r["count"] is not None:
        by_thread[r["thread"]].append(r["count"])
for seq in by_thread.values():
    backwards += sum(1 for a, b in zip(seq, seq[1:]) if b < a)
problems = []
if errors: problems.append(f"{len(errors)} reads failed (e.g. {errors[0]})")
if odd: problems.append(f"counts outside old/old+N/old+2N: {odd}")
if backwards: problems.append(f"{backwards} times a thread's count went back")
if final != old + 2 * n: problems.append(f"final count {final} != {old + 2 * n}")
if import_failed: problems.append("an import failed")
print(("ok" if not problems else "FAIL") + " -- " +
      f"{len(recs)} reads, {len(errors)} errors, counts seen {dict(sorted(counts.items()))} "
      f"(old {old}, +{n} per file), imports took {times} s" + ("; " + "; ".join(problems) if problems else ""))
PY
) || true
  result "import-$name" "${line%% -- *}" "${line#* -- }"
  stop_server "$pid" >/dev/null
}

part_import() {
  import_while_serving sqlite "sqlite://$WORK/import.db?mode=rwc"
  pg_setup
  pg_createdb import
  import_while_serving postgres "$PG_URL/import"
}

# --- (c) SIGTERM under load --------------------------------------------------------------------
part_sigterm() {
  local db="sqlite://$WORK/sigterm.db?mode=rwc"
  load_base "$db"
  "$BIN" --database-url "$db" import dialogues "$WORK/batch1.ndjson" --quiet >/dev/null
  start_server sigterm "$db"
  local pid=$SERVER_PID url=$URL
  # Heavier requests, so several are in flight when the signal arrives.
  python3 - >"$WORK/sigterm-bodies.jsonl" <<'PY'
import json
R = 'from: "2026-03-01T00:00:00Z", to: "2026-05-01T00:00:00Z"'
for q in [
    '{ dialogueStats(%s, timeZone: "Europe/Amsterdam", granularity: DAY, groupBy: [QUEUE, AGENT]) { periodStart queue { name } agent { name } offered serviceLevel { value } p90: queueTimePercentile(p: 0.9) } }' % R,
    '{ dialogues(first: 500, filter: { outcome: { ne: IVR_DROP } }) { totalCount nodes { id ivr { name } queue { name } customer { name } agent { name } } } }',
    '{ dialogueStats(%s, granularity: HOUR, groupBy: [OUTCOME]) { periodStart dialogues averageTalkTime p50: queueTimePercentile(p: 0.5) } }' % R,
]:
    print(json.dumps({"query": q}))
PY
  check_bodies "$url" "$WORK/sigterm-bodies.jsonl" || { result sigterm FAIL "queries fail before the signal"; stop_server "$pid" >/dev/null; return; }
  rm -f "$WORK/sigterm.stop"
  $LOAD --url "$url/graphql" --bodies "$WORK/sigterm-bodies.jsonl" --threads 8 --timeout 30 \
    --duration 60 --stop-file "$WORK/sigterm.stop" --out "$WORK/sigterm.jsonl" &
  local load=$!
  PIDS+=("$load")
  sleep 4
  local t_term t_exit rc=0
  t_term=$(now)
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  t_exit=$(now)
  local kept=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  PIDS=("${kept[@]}")
  sleep 1
  touch "$WORK/sigterm.stop"
  wait "$load" || true
  local line
  line=$(python3 - "$WORK/sigterm.jsonl" "$t_term" "$t_exit" "$rc" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
t_term, t_exit, rc = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ok = lambda r: r["status"] == 200 and not r["code"] and not r["error"]
# In flight: sent at least 0.5 s before the signal, so the server has accepted and read it even
# on a loaded 2-core machine. A request sent just before the signal can still sit unread in the
# listen backlog, or in a connection hyper has accepted but not yet read, which graceful shutdown
# closes: those are counted apart ("racing") and not failed.
sent = [r for r in recs if r["t0"] < t_term - 0.5]
in_flight = [r for r in sent if r["t1"] > t_term]
lost = [r for r in sent if not ok(r)]
racing = [r for r in recs if t_term - 0.5 <= r["t0"] <= t_term]
racing_lost = [r for r in racing if not ok(r)]
refused = [r for r in recs if r["t0"] > t_term and not ok(r)]
problems = []
if lost: problems.append(f"{len(lost)} requests sent before SIGTERM failed (e.g. {lost[0]})")
if not in_flight: problems.append("no request was in flight at SIGTERM (test proves nothing)")
if rc != 0: problems.append(f"exit status {rc}")
print(("ok" if not problems else "FAIL") + " -- " +
      f"{len(sent)} requests sent before SIGTERM, {len(in_flight)} in flight at the signal, "
      f"{len(sent) - len(lost)} finished ok; exit status {rc} after {t_exit - t_term:.2f} s; "
      f"sent in the last 0.5 s before it: {len(racing)}, {len(racing_lost)} closed unanswered; "
      f"{len(refused)} later requests refused (listener closed)" + ("; " + "; ".join(problems) if problems else ""))
PY
) || true
  result sigterm "${line%% -- *}" "${line#* -- }"
}

# --- (d) soak ----------------------------------------------------------------------------------
part_soak() {
  local db="sqlite://$WORK/soak.db?mode=rwc"
  load_base "$db"
  start_server soak "$db"
  local pid=$SERVER_PID url=$URL
  mixed_bodies "$url" "$WORK/soak-bodies.jsonl"
  check_bodies "$url" "$WORK/soak-bodies.jsonl" || { result soak FAIL "queries fail before the soak"; stop_server "$pid" >/dev/null; return; }
  local nbodies
  nbodies=$(wc -l <"$WORK/soak-bodies.jsonl")
  log "soak: $SOAK_CONNECTIONS connections, $SOAK_SECONDS s, $nbodies bodies"
  (
    t=0
    while [ "$t" -le "$SOAK_SECONDS" ] && kill -0 "$pid" 2>/dev/null; do
      echo "$t $(rss_mb "$pid")"
      sleep 5
      t=$((t + 5))
    done
  ) >"$WORK/rss.txt" &
  local sampler=$!
  PIDS+=("$sampler")
  rm -f "$WORK/soak-bodies.jsonl.failures"
  BODIES="$WORK/soak-bodies.jsonl" wrk -t2 -c"$SOAK_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 10s --latency \
    -s "$REPO/scripts/soak.lua" "$url/graphql" >"$WORK/wrk.txt" 2>&1 || true
  wait "$sampler" 2>/dev/null || true
  cat "$WORK/wrk.txt"
  [ -f "$WORK/soak-bodies.jsonl.failures" ] && { echo "failing bodies:"; head -5 "$WORK/soak-bodies.jsonl.failures"; }
  # A sample of bodies after the load, checked in full with jq.
  local sample_bad=0
  check_bodies "$url" "$WORK/soak-bodies.jsonl" || sample_bad=1
  local alive=yes
  kill -0 "$pid" 2>/dev/null || alive=no
  local line
  line=$(python3 - "$WORK/wrk.txt" "$WORK/rss.txt" "$sample_bad" "$alive" "$SOAK_SECONDS" <<'PY'
import re, sys
wrk = open(sys.argv[1]).read()
m = re.search(r"soak-lua: (.*)", wrk)
f = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
samples = [tuple(map(int, l.split())) for l in open(sys.argv[2]) if len(l.split()) == 2]
sample_bad, alive, secs = sys.argv[3] == "1", sys.argv[4] == "yes", int(sys.argv[5])
warm = min(20, secs // 3)
post = [(t, r) for t, r in samples if t >= warm]
problems = []
if not f:
    problems.append("wrk printed no soak-lua summary")
else:
    for k in ("non2xx", "graphql_errors", "no_data", "socket_errors", "timeouts"):
        if int(f[k]) != 0:
            problems.append(f"{k}={f[k]}")
    if int(f["requests"]) == 0:
        problems.append("no requests")
growth = None
if len(post) >= 2:
    base = post[0][1]
    end = max(r for _, r in post[-2:])
    growth = end - base
    if growth > max(8, base * 0.10):
        problems.append(f"RSS grew {growth} MB after warm-up ({base} -> {end} MB)")
else:
    problems.append("too few RSS samples")
if sample_bad: problems.append("a query failed after the soak")
if not alive: problems.append("server died")
print(("ok" if not problems else "FAIL") + " -- " +
      f"{f.get('requests', '?')} requests ({rps.group(1) if rps else '?'} req/s), every body checked: "
      f"non-2xx {f.get('non2xx', '?')}, GraphQL errors {f.get('graphql_errors', '?')}, socket errors {f.get('socket_errors', '?')}, "
      f"timeouts {f.get('timeouts', '?')}; latency p50 {f.get('p50_ms', '?')} ms p99 {f.get('p99_ms', '?')} ms max {f.get('max_ms', '?')} ms; "
      f"RSS MB every 5 s {[r for _, r in samples]}, growth after {warm} s warm-up {growth} MB"
      + ("; " + "; ".join(problems) if problems else ""))
PY
) || true
  result soak "${line%% -- *}" "${line#* -- }"
  stop_server "$pid" >/dev/null
}

# --- (e) live subscribers through a PostgreSQL restart, with a hammering key --------------------
# The driver: examples/soak_live.rs (built here, debug profile, unless SOAK_LIVE_BIN is given).
soak_live_binary() {
  if [ -n "${SOAK_LIVE_BIN:-}" ]; then
    echo "$SOAK_LIVE_BIN"
    return
  fi
  log "building the subscribers' driver (cargo build --example soak_live)"
  (cd "$REPO" && cargo build --quiet --example soak_live >&2)
  echo "${CARGO_TARGET_DIR:-$REPO/target}/debug/examples/soak_live"
}

part_subscribers() {
  local driver
  driver=$(soak_live_binary)
  pg_setup
  pg_createdb live
  local db="$PG_URL/live" t
  for t in tenant-a tenant-b; do
    "$BIN" --database-url "$db" import endpoints "$WORK/data/endpoints.ndjson" --tenant "$t" --quiet >/dev/null
    "$BIN" --database-url "$db" import dialogues "$WORK/data/dialogues.ndjson" --tenant "$t" --quiet >/dev/null
  done
  local sub_key ingest_key page_key hammer_key
  sub_key=$("$BIN" --database-url "$db" keys create --tenant tenant-a --scope read --name soak-subscribers)
  ingest_key=$("$BIN" --database-url "$db" keys create --tenant tenant-a --scope ingest --name soak-ingest)
  page_key=$("$BIN" --database-url "$db" keys create --tenant tenant-b --scope read --name soak-pages)
  hammer_key=$("$BIN" --database-url "$db" keys create --tenant tenant-a --scope read --name soak-hammer)
  start_keyed_server live "$db" --max-connections 16
  local pid=$SERVER_PID url=$URL
  local out_dir="${CARGO_TARGET_DIR:-$REPO/target}"
  rm -f "$WORK/hammer-started" "$WORK/outage.times" "$out_dir/soak-live.json" "$out_dir/soak-live.md"
  "$driver" --server "$url" --subscribe-key "$sub_key" --ingest-key "$ingest_key" \
    --page-key "$page_key" --hammer-key "$hammer_key" --subscribers 50 --batch 500 --hammers 40 \
    --baseline-seconds "$SOAK_BASELINE_SECONDS" --seconds "$SOAK_SECONDS" --catch-up-seconds 30 \
    --hammer-started-file "$WORK/hammer-started" --outage-file "$WORK/outage.times" \
    --out "$out_dir/soak-live.json" --summary "$out_dir/soak-live.md" >"$WORK/soak-live.out" 2>&1 &
  local driver_pid=$!
  PIDS+=("$driver_pid")
  local i
  for i in $(seq 1 1200); do
    [ -f "$WORK/hammer-started" ] && break
    kill -0 "$driver_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -f "$WORK/hammer-started" ]; then
    sleep $((SOAK_SECONDS / 2))
    local t_down t_up
    t_down=$(now)
    pg_ctl_stop
    log "PostgreSQL stopped; starting it again in $SOAK_PG_DOWN_SECONDS s"
    sleep "$SOAK_PG_DOWN_SECONDS"
    pg_ctl_start
    t_up=$(now)
    echo "$t_down $t_up" >"$WORK/outage.times"
    log "PostgreSQL started again"
  fi
  local rc=0
  wait "$driver_pid" || rc=$?
  local kept=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$driver_pid" ] || kept+=("$p"); done
  PIDS=("${kept[@]}")
  cat "$WORK/soak-live.out"
  local alive=yes
  kill -0 "$pid" 2>/dev/null || alive=no
  cp "$WORK/live.log" "$out_dir/soak-live-server.log" 2>/dev/null || true
  local line
  if [ -f "$out_dir/soak-live.json" ] && [ "$rc" -le 1 ]; then
    line=$(python3 - "$out_dir/soak-live.json" "$alive" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
problems = list(r["problems"])
if sys.argv[2] != "yes":
    problems.append("server died")
s, a, p = r["subscribers"], r["answers"], r["page_tenant_b"]
print(("ok" if not problems else "FAIL") + " -- " +
      f"{r['ingest']['dialogues_acknowledged']} dialogues acknowledged in {r['ingest']['batches_acknowledged']} batches; "
      f"{r['config']['subscribers']} subscribers: missing {s['missing_total']}, duplicated {s['duplicated_total']}, "
      f"resumes {s['resumes_total']} {s['ends']}, caught up in {r['times']['catch_up_seconds']} s; "
      f"INTERNAL_SERVER_ERROR {a['internal_server_error']}, 429 {a['status_429']}, 503 {a['status_503']}; "
      f"tenant B page p99 {p['baseline_no_hammer']['p99_ms']} ms without the hammer, "
      f"{p['with_hammer_outside_restart']['p99_ms']} ms with it outside the restart "
      f"({p['with_hammer']['p99_ms']} ms all of it), ratio {p['p99_ratio']}"
      + ("; " + "; ".join(problems) if problems else ""))
PY
) || true
  else
    line="FAIL -- the driver ended with status $rc and no report (see $WORK/soak-live.out)"
  fi
  result subscribers "${line%% -- *}" "${line#* -- }"
  stop_server "$pid" >/dev/null
}

for part in $PARTS; do
  t=$SECONDS
  log "== $part"
  case $part in
    pg-outage) part_pg_outage ;;
    import) part_import ;;
    sigterm) part_sigterm ;;
    soak) part_soak ;;
    subscribers) part_subscribers ;;
    *) die "unknown part $part (pg-outage import sigterm soak subscribers)" ;;
  esac
  log "== $part took $((SECONDS - t)) s"
done

echo "faults: ${SUMMARY[*]}; $((SECONDS - START)) s"
[ "$FAILED" = 0 ]
