#!/usr/bin/env bash
# A fleet on one machine: a private PostgreSQL primary, two streaming replicas made from it with
# pg_basebackup -R, three `insights serve` instances reading from the replicas, and HAProxy in
# front of the instances.
#
#   bash scripts/fleet.sh up [--db-only]   # start it (--db-only: the three databases only)
#   bash scripts/fleet.sh status           # what runs, each replica's lag
#   bash scripts/fleet.sh restart-instances  # the three instances again, with today's INSIGHTS_*
#   bash scripts/fleet.sh start-pg N       # start database N again (0 primary, 1-2 replicas)
#   bash scripts/fleet.sh down             # stop everything and delete the directory
#
# Everything lives in FLEET_DIR (default /tmp/insights-fleet) and listens on 127.0.0.1 only:
# PostgreSQL on FLEET_PG_PORT (default 55432) and the two ports after it, the instances on
# FLEET_PORT+1..+3 and HAProxy on FLEET_PORT (default 4600). `up` writes FLEET_DIR/env, which
# names the URLs and an API key (scopes read and ingest) of tenant `default`:
#
#   . /tmp/insights-fleet/env; curl -H "Authorization: Bearer $FLEET_KEY" "$FLEET_URL/readyz"
#
# FLEET_DIALOGUES (default 20000) demo dialogues are generated on the primary. The databases run
# with fsync off: this is a fleet to try things on, not to keep data in. initdb and pg_ctl run as
# the user `postgres` when the script runs as root. INSIGHTS_BIN picks the binary (default: a
# release build of this checkout). HAProxy comes from Debian's package (installed when missing
# and the script runs as root).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${FLEET_DIR:-/tmp/insights-fleet}
PG_PORT=${FLEET_PG_PORT:-55432}
PORT=${FLEET_PORT:-4600}
DIALOGUES=${FLEET_DIALOGUES:-20000}
PG_BIN=${FLEET_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
export INSIGHTS_LOG=${INSIGHTS_LOG:-info}

log() { printf '%s [fleet] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_port() { echo $((PG_PORT + $1)); }            # 0: primary, 1 and 2: replicas
pg_url() { echo "postgres://postgres@127.0.0.1:$(pg_port "$1")/insights"; }
node_dir() { if [ "$1" = 0 ]; then echo "$DIR/primary"; else echo "$DIR/replica$1"; fi; }

start_pg() {
  as_pg "$PG_BIN/pg_ctl" -D "$(node_dir "$1")" -l "$DIR/pg$1.log" -w -t 60 start >/dev/null
}

databases_up() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  local primary
  primary=$(node_dir 0)
  log "initdb the primary on port $(pg_port 0)"
  as_pg "$PG_BIN/initdb" -D "$primary" -U postgres --auth=trust -E UTF8 --no-sync >"$DIR/initdb.log"
  cat >>"$primary/postgresql.conf" <<EOF
port = $(pg_port 0)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
wal_level = replica
max_wal_senders = 10
hot_standby = on
hot_standby_feedback = on
fsync = off
full_page_writes = off
max_connections = 200
EOF
  start_pg 0
  as_pg "$PG_BIN/psql" -q -h 127.0.0.1 -p "$(pg_port 0)" -U postgres -c "CREATE DATABASE insights" postgres
  for r in 1 2; do
    log "pg_basebackup replica $r on port $(pg_port "$r")"
    as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(pg_port 0)" -U postgres \
      -D "$(node_dir "$r")" -R -X stream --checkpoint=fast
    echo "port = $(pg_port "$r")" >>"$(node_dir "$r")/postgresql.conf"
    start_pg "$r"
  done
  {
    echo "FLEET_PRIMARY_URL=$(pg_url 0)"
    echo "FLEET_REPLICA_URLS=$(pg_url 1),$(pg_url 2)"
  } >"$DIR/env"
}

binary() {
  if [ -z "${INSIGHTS_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet --bin insights)
    INSIGHTS_BIN=$REPO/target/release/insights
  fi
  echo "$INSIGHTS_BIN"
}

instances_up() {
  local bin primary key
  bin=$(binary)
  primary=$(pg_url 0)
  "$bin" migrate --database-url "$primary" >/dev/null
  log "generating $DIALOGUES demo dialogues on the primary"
  "$bin" demo --database-url "$primary" --dialogues "$DIALOGUES" >/dev/null 2>&1
  key=$("$bin" --database-url "$primary" keys create --tenant default --scope read,ingest --name fleet 2>/dev/null)
  start_instances
  if ! command -v haproxy >/dev/null; then
    [ "$(id -u)" = 0 ] || die "HAProxy is not installed (apt-get install haproxy)"
    log "installing HAProxy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null
  fi
  cat >"$DIR/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option forwardfor
frontend insights
  bind 127.0.0.1:$PORT
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  retry-on conn-failure empty-response
  retries 2
  option redispatch
  server i1 127.0.0.1:$((PORT + 1)) check inter 500 fall 2 rise 2
  server i2 127.0.0.1:$((PORT + 2)) check inter 500 fall 2 rise 2
  server i3 127.0.0.1:$((PORT + 3)) check inter 500 fall 2 rise 2
EOF
  haproxy -f "$DIR/haproxy.cfg" -D -p "$DIR/haproxy.pid"
  {
    echo "FLEET_URL=http://127.0.0.1:$PORT"
    echo "FLEET_INSTANCES=http://127.0.0.1:$((PORT + 1)),http://127.0.0.1:$((PORT + 2)),http://127.0.0.1:$((PORT + 3))"
    echo "FLEET_KEY=$key"
    echo "FLEET_DIR=$DIR"
    echo "FLEET_PG_BIN=$PG_BIN"
  } >>"$DIR/env"
}

# Starts the three instances (again), with the INSIGHTS_* settings of the environment, and
# waits until each is ready.
start_instances() {
  local bin i
  bin=$(binary)
  for i in 1 2 3; do
    INSIGHTS_DATABASE_URL=$(pg_url 0) INSIGHTS_REPLICA_URLS="$(pg_url 1),$(pg_url 2)" \
      INSIGHTS_TRUSTED_PROXIES=${INSIGHTS_TRUSTED_PROXIES:-127.0.0.1/32} \
      nohup "$bin" serve --bind "127.0.0.1:$((PORT + i))" >>"$DIR/insights$i.log" 2>&1 &
    echo $! >"$DIR/insights$i.pid"
  done
  for i in 1 2 3; do
    local port=$((PORT + i)) tries=0
    until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
      tries=$((tries + 1))
      [ $tries -lt 300 ] || die "instance $i did not become ready; see $DIR/insights$i.log"
      sleep 0.1
    done
  done
}

stop_instances() {
  local f pid
  for f in "$DIR"/insights*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
}

down() {
  [ -d "$DIR" ] || return 0
  for f in "$DIR"/insights*.pid "$DIR/haproxy.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for n in 2 1 0; do
    [ -d "$(node_dir "$n")" ] && as_pg "$PG_BIN/pg_ctl" -D "$(node_dir "$n")" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$DIR"
}

status() {
  [ -f "$DIR/env" ] || die "no fleet in $DIR"
  cat "$DIR/env"
  for r in 1 2; do
    as_pg "$PG_BIN/psql" -qAt -h 127.0.0.1 -p "$(pg_port "$r")" -U postgres -d insights \
      -c "SELECT 'replica $r: in recovery ' || pg_is_in_recovery() || ', replayed ' || pg_last_wal_replay_lsn()" || true
  done
  for i in 1 2 3; do
    printf 'instance %s: ' "$i"
    curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$((PORT + i))/readyz" || echo down
  done
}

case "${1:-}" in
  up)
    [ -e "$DIR" ] && die "$DIR exists: run \`bash scripts/fleet.sh down\` first"
    trap 'rc=$?; [ $rc = 0 ] || { log "failed; stopping what started"; down; }' EXIT
    databases_up
    [ "${2:-}" = --db-only ] || instances_up
    trap - EXIT
    log "up: . $DIR/env"
    cat "$DIR/env"
    ;;
  down) down ;;
  restart-instances)
    INSIGHTS_DRAIN_SECS=${INSIGHTS_DRAIN_SECS:-0} stop_instances
    start_instances
    ;;
  start-pg) start_pg "$2" ;;
  status) status ;;
  *) echo "usage: $0 up [--db-only] | status | restart-instances | start-pg N | down" >&2; exit 2 ;;
esac
