#!/usr/bin/env bash
# Property-based fuzzing of the GraphQL API with Schemathesis (GraphQL mode: it reads the schema by
# introspection at /graphql and generates valid and invalid queries) against `insights serve
# --no-auth` on a throwaway SQLite database with demo data.
#   bash scripts/fuzz.sh [SECONDS]     # default 30 (CI); 300 for the benchmark run
# FUZZ_SEED=N replays a run's generation (Schemathesis prints the seed); INSIGHTS_BIN skips the build.
# Fails on: any HTTP 5xx, a GraphQL server error (INTERNAL_SERVER_ERROR), any GraphQL error without
# extensions.code, a malformed response, invalid input accepted, or the server crashing/panicking.
# Positive queries the server rejects with a client code (e.g. BAD_USER_INPUT for `first: 100000`)
# are counted, not failed: GraphQL types cannot express those bounds. --max-time is Schemathesis's
# budget for generating; a slow request and shrinking come on top (hard stop at SECONDS + 180).
SCRIPT_NAME=fuzz
DURATION=${1:-30}
source "$(dirname "$0")/lib.sh"
START=$SECONDS
SCHEMATHESIS_VERSION=4.32.5
VENV=/tmp/insights-schemathesis-$SCHEMATHESIS_VERSION

need_cmd curl curl jq jq python3 python3
python3 -c 'import venv, ensurepip' 2>/dev/null || need_cmd __venv__ python3-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
build_binary

DB="sqlite://$WORK/fuzz.db?mode=rwc"
"$BIN" --database-url "$DB" demo --dialogues 5000 --days 60 --until 2026-05-01 >/dev/null 2>&1
start_server fuzz "$DB"

log "schemathesis for ${DURATION} s"
ST_RC=0
(cd "$WORK" && FUZZ_STATS="$WORK/stats.json" SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH="$REPO/scripts" \
  PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=10 $((DURATION + 180)) "$VENV/bin/schemathesis" run "$URL/graphql" \
  --max-time "$DURATION" --workers 2 --request-timeout 30 ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
  --checks not_a_server_error,response_schema_conformance,negative_data_rejection,error_has_code \
  --report junit,har --report-dir "$WORK/report" --no-color \
  >"$WORK/schemathesis.txt" 2>&1) || ST_RC=$?
tail -40 "$WORK/schemathesis.txt"

ALIVE=yes
kill -0 "$SERVER_PID" 2>/dev/null && curl -fsS --max-time 5 -o /dev/null "$URL/healthz" || ALIVE=no
PANICS=$(grep -c 'panicked' "$WORK/fuzz.log" || true)
[ -f "$WORK/stats.json" ] || echo '{}' >"$WORK/stats.json"
jq -r '"status codes: \(.by_status // {} | tojson)", "error codes: \(.errors_by_code // {} | tojson)"' "$WORK/stats.json"
jq -r '(.uncoded_samples // [])[] | "uncoded error: \(tojson)"' "$WORK/stats.json"
read -r RESPONSES ERRS FIVEXX UNCODED INTERNAL < <(jq -r \
  '"\(.responses // 0) \(.with_errors // 0) \(.server_errors // 0) \(.uncoded_errors // 0) \(.errors_by_code.INTERNAL_SERVER_ERROR // 0)"' "$WORK/stats.json")
CASES=$(grep -oE '[0-9]+ generated' "$WORK/schemathesis.txt" | tail -1 | tr -dc 0-9 || true)
FAILURES=$(grep -oE '[0-9]+ failures?' "$WORK/schemathesis.txt" | tail -1 | tr -dc 0-9 || true)

echo "fuzz: ${DURATION} s budget, $((SECONDS - START)) s total; schemathesis exit $ST_RC, test cases ${CASES:-?}, failures ${FAILURES:-0}; responses $RESPONSES, with GraphQL errors $ERRS, 5xx $FIVEXX, INTERNAL_SERVER_ERROR $INTERNAL, uncoded $UNCODED; server alive $ALIVE, panics $PANICS"
[ "$ST_RC" = 0 ] && [ "$FIVEXX" = 0 ] && [ "$UNCODED" = 0 ] && [ "$INTERNAL" = 0 ] \
  && [ "$ALIVE" = yes ] && [ "$PANICS" = 0 ] && [ "$RESPONSES" -gt 0 ]
