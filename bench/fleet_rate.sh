#!/usr/bin/env bash
# Fleet-wide per-key rate limit (issue 20): three `insights serve` instances on one PostgreSQL
# database behind HAProxy (round-robin, http mode, `option forwardfor`, health checks on
# /readyz), one API key at a fixed offered rate, open loop; how much of it the fleet admits
# against the key's budget (`--rate-limit`).
#
#   bash bench/fleet_rate.sh [BUDGET] [SECONDS]       # defaults 50 req/s, 20 s per scenario
#
# Scenarios (a fresh key each, so each starts with its full burst of 2 × BUDGET). Reported: the
# steady rate, the mean admitted per second over the second half of the run, against the
# budget; and the whole run less one burst, (admitted − 2 × BUDGET) / time sent:
#   over3x    3 × BUDGET offered through the balancer
#   over1.5x  1.5 × BUDGET offered through the balancer
#   under     0.8 × BUDGET offered through the balancer (everything should be admitted)
#   sticky    3 × BUDGET offered to one instance directly (a key whose traffic all reaches one
#             instance gets that instance's share: BUDGET / 3)
#   sigterm   3 × BUDGET through the balancer; halfway, instance 3 gets SIGTERM (it says goodbye
#             and drains for 5 s while HAProxy's check takes it out): admitted per second
# PostgreSQL: BENCH_POSTGRES_URL (default the local server; a throwaway database is created and
# dropped). Needs haproxy and psql. FLEET_PROFILE=debug uses the debug build (the limit's
# accuracy does not need an optimised server; say so with the figures). Figures go to
# bench/fleet-rate.md (FLEET_RESULTS=FILE writes them elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-50}
SECONDS_EACH=${2:-20}
PROFILE=${FLEET_PROFILE:-release}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
OUT=${FLEET_RESULTS:-bench/fleet-rate.md}
PG_DB="insights_fleet_bench_$$"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v haproxy >/dev/null || { echo "haproxy is needed (apt-get install haproxy)"; exit 1; }

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin insights --example fleet_rate
else
  cargo build --quiet --bin insights --example fleet_rate
fi
BIN=$PWD/target/$PROFILE/insights
CLIENT=$PWD/target/$PROFILE/examples/fleet_rate
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
URL="$PG_BASE/$PG_DB"
$BIN --database-url "$URL" --log warn migrate
key() { $BIN --database-url "$URL" --log warn keys create --tenant bench --scope read --name "$1" 2>/dev/null; }

PORTS=()
INSTANCE_PIDS=()
for i in 1 2 3; do
  PORT=$(free_port)
  PORTS+=("$PORT")
  $BIN --database-url "$URL" --log warn serve --bind "127.0.0.1:$PORT" --rate-limit "$BUDGET" \
    --trusted-proxy 127.0.0.1 --drain-secs 5 2>"$WORK/instance$i.log" &
  PIDS+=($!)
  INSTANCE_PIDS+=($!)
done
LB_PORT=$(free_port)
cat >"$WORK/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option forwardfor
frontend insights
  bind 127.0.0.1:$LB_PORT
  default_backend fleet
backend fleet
  balance roundrobin
  option httpchk GET /readyz
  server i1 127.0.0.1:${PORTS[0]} check inter 500ms fall 2 rise 2
  server i2 127.0.0.1:${PORTS[1]} check inter 500ms fall 2 rise 2
  server i3 127.0.0.1:${PORTS[2]} check inter 500ms fall 2 rise 2
EOF
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)

instances() { curl -fs "http://127.0.0.1:$1/metrics" | awk '$1 == "insights_fleet_instances" { print $2 }'; }
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 300); do [ "$(instances "$port" 2>/dev/null)" = 3 ] && break; sleep 0.2; done
  [ "$(instances "$port")" = 3 ] || { echo "instance on $port does not count 3 instances"; exit 1; }
done
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$LB_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 1 # every HAProxy check up

# /graphql POSTs answered by one instance so far (any status).
served() {
  curl -fs "http://127.0.0.1:$1/metrics" |
    awk '/^insights_http_requests_total\{/ && /route="\/graphql"/ && /method="POST"/ { n += $2 } END { print n + 0 }'
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RESULT
run() { # name url rate
  local name=$1 url=$2 rate=$3
  local k; k=$(key "$name")
  echo "== $name: $rate req/s to $url for $SECONDS_EACH s" >&2
  RESULT[$name]=$($CLIENT "$url" "$k" "$rate" "$SECONDS_EACH")
  echo "${RESULT[$name]}" >&2
  sleep 2
}
LB="http://127.0.0.1:$LB_PORT/graphql"
before=(); for port in "${PORTS[@]}"; do before+=("$(served "$port")"); done
run over3x "$LB" $((3 * BUDGET))
SPLIT=""; for i in 0 1 2; do SPLIT+="$(( $(served "${PORTS[$i]}") - before[i] )) "; done
run over1.5x "$LB" $((3 * BUDGET / 2))
run under "$LB" $((4 * BUDGET / 5))
run sticky "http://127.0.0.1:${PORTS[0]}/graphql" $((3 * BUDGET))
( sleep $((SECONDS_EACH / 2)); kill -TERM "${INSTANCE_PIDS[2]}" ) &
run sigterm "$LB" $((3 * BUDGET))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

field() { python3 -c "import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(v if not isinstance(v, list) else ' '.join(map(str, v)))" "$1" "$2"; }
# One table row: offered, the first second, the steady rate (mean admitted per second over the
# second half of the run) against the budget (or, when less than the budget was offered, the
# share admitted), the whole run less one burst, refused, failed.
row() {
  python3 - "$1" "$2" "$BUDGET" <<'PY'
import json, sys
name, r, budget = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
offered, admitted = r["offered_per_second"], r["admitted"]
half = admitted[len(admitted) // 2:]
steady = sum(half) / len(half)
if offered > budget:
    versus = f"{(steady / budget - 1) * 100:+.1f}% of the budget"
else:
    versus = f"{r['admitted_total'] / (offered * r['seconds']) * 100:.1f}% of what was offered"
if offered > budget and name != "sticky":
    whole = f"{(r['admitted_total'] - 2 * budget) / r['sent_for_seconds']:.1f}"
else:
    whole = "—"
print(f"| {name} | {offered} | {admitted[0]} | {steady:.1f} | {versus} | {whole} | {r['refused_total']} | {r['failed_total']} |")
PY
}
{
  echo "# Fleet-wide rate limit (bench/fleet_rate.sh)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared with other work, load average $LOAD_BEFORE before and $LOAD_AFTER after;"
  echo "$PROFILE build; three \`insights serve\` on one PostgreSQL database behind HAProxy $(haproxy -v | head -1 | awk '{print $3}') (roundrobin,"
  echo "http mode, forwardfor, checks on /readyz every 500 ms); \`--rate-limit $BUDGET\` (bursts of $((2 * BUDGET)));"
  echo "one key per scenario, \`{ __typename }\` POSTs sent open loop for $SECONDS_EACH s (examples/fleet_rate.rs)."
  echo
  echo "| scenario | offered/s | admitted in the first second | steady admitted/s | vs budget $BUDGET/s | whole run less one burst, /s | refused | failed |"
  echo "|---|---|---|---|---|---|---|---|"
  for name in over3x over1.5x under sticky sigterm; do row "$name" "${RESULT[$name]}"; done
  echo
  echo "The first second holds a fresh key's burst and that second's refill: $((3 * BUDGET)) for the fleet (three"
  echo "instances each on its own would admit three times that). Steady: mean admitted per second over the"
  echo "second half of the run. Whole run less one burst: (admitted − $((2 * BUDGET))) / time sent. sticky sends everything"
  echo "to one instance, whose share is a third of the budget ($(python3 -c "print(f'{$BUDGET / 3:.1f}')")/s)."
  echo
  echo "over3x: requests each instance answered: $SPLIT(round-robin)."
  echo
  echo "sigterm, admitted per second (instance 3 gets SIGTERM after $((SECONDS_EACH / 2)) s): $(field "${RESULT[sigterm]}" admitted)"
  echo
  echo "Raw:"
  echo
  for name in over3x over1.5x under sticky sigterm; do echo "- $name: \`${RESULT[$name]}\`"; done
} >"$OUT"
cat "$OUT"
