#!/usr/bin/env bash
# Fault checks on a whole fleet (scripts/fleet.sh: a PostgreSQL primary, two streaming replicas,
# three `insights serve` instances, HAProxy), with the output the closing notes quote:
#
#   bash scripts/fleet-faults.sh            # all checks; prints RESULT lines, exit 1 if any failed
#
# 1. answers: the same queries through HAProxy and through an instance on the primary alone.
# 2. read-after: 1,000 write-then-read rounds through HAProxy, each read sending the write's
#    Insights-Read-After, while replay is paused for 1 s at random on a random replica; SSE
#    subscribers on every instance must get each written dialogue exactly once, with its row.
# 3. replica-stop: readers through HAProxy while a replica is stopped; failures after 2 s fail it.
# 4. kill: readers through HAProxy while an instance is killed with SIGKILL.
# 5. rate: the instances restarted with --rate-limit 30; one key sends 90 requests/s through
#    HAProxy for 10 s; the accepted rate must be within 15% of 30/s.
# Settings: FLEET_DIR, FLEET_PORT, FLEET_PG_PORT, FLEET_DIALOGUES (see scripts/fleet.sh),
# INSIGHTS_BIN (default: a release build), FLEET_ROUNDS (default 1000), FLEET_CHECKS (default "answers read-after replica-stop kill rate=30").
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export FLEET_DIR=${FLEET_DIR:-$(mktemp -u /tmp/insights-fleet-faults.XXXXXX)}
export FLEET_PORT=${FLEET_PORT:-4700}
export FLEET_PG_PORT=${FLEET_PG_PORT:-56432}
CHECKS=${FLEET_CHECKS:-"answers read-after replica-stop kill rate=30"}
FLEET=(bash "$REPO/scripts/fleet.sh")
REFERENCE_PID=

cleanup() {
  [ -n "$REFERENCE_PID" ] && kill "$REFERENCE_PID" 2>/dev/null || true
  if [ "${KEEP_FLEET:-0}" = 1 ]; then
    echo "fleet kept in $FLEET_DIR" >&2
  else
    "${FLEET[@]}" down
  fi
}
trap cleanup EXIT

cd "$REPO"
if [ -z "${INSIGHTS_BIN:-}" ]; then
  cargo build --release --quiet --bin insights
  export INSIGHTS_BIN=$REPO/target/release/insights
fi
export INSIGHTS_LOG=${INSIGHTS_LOG:-warn}
export INSIGHTS_DRAIN_SECS=${INSIGHTS_DRAIN_SECS:-1}
# The checks send one key's requests fast; the rate check sets its own budget below.
INSIGHTS_RATE_LIMIT=100000 "${FLEET[@]}" up
# shellcheck disable=SC1091
. "$FLEET_DIR/env"

# The reference: one instance on the primary alone, no replicas.
REFERENCE_PORT=$((FLEET_PORT + 9))
INSIGHTS_RATE_LIMIT=100000 "$INSIGHTS_BIN" serve --database-url "$FLEET_PRIMARY_URL" \
  --bind "127.0.0.1:$REFERENCE_PORT" >"$FLEET_DIR/reference.log" 2>&1 &
REFERENCE_PID=$!
until curl -fsS "http://127.0.0.1:$REFERENCE_PORT/readyz" >/dev/null 2>&1; do sleep 0.1; done
echo "FLEET_REFERENCE=http://127.0.0.1:$REFERENCE_PORT" >>"$FLEET_DIR/env"

status=0
for check in $CHECKS; do
  case $check in
    rate=*)
      # The reference instance is on the same database, so it is one of the fleet: without it
      # the budget is shared by the three instances behind HAProxy.
      kill "$REFERENCE_PID" 2>/dev/null || true
      wait "$REFERENCE_PID" 2>/dev/null || true
      REFERENCE_PID=
      INSIGHTS_RATE_LIMIT=${check#rate=} "${FLEET[@]}" restart-instances
      sleep 3 # the instances hear of each other
      ;;
    kill)
      ;;
  esac
  python3 "$REPO/scripts/fleet_faults.py" "$FLEET_DIR/env" "$check" || status=1
  case $check in
    replica-stop) "${FLEET[@]}" start-pg 1 ;;
    kill) INSIGHTS_RATE_LIMIT=100000 "${FLEET[@]}" restart-instances ;;
  esac
done
exit $status
