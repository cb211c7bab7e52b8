# Shared by scripts/http-audit.sh, fuzz.sh and faults.sh (sourced, not run).
#
# Builds the release binary once (or takes INSIGHTS_BIN), makes a throwaway work directory, and
# starts/stops servers on free loopback ports. Everything a script starts is stopped by its EXIT
# trap, by process id. Only 127.0.0.1 is ever contacted.
set -euo pipefail

export INSIGHTS_LOG=${INSIGHTS_LOG:-warn}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "/tmp/insights-${SCRIPT_NAME:-script}.XXXXXX")
chmod 755 "$WORK"
PIDS=()
CLEANUPS=()

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${SCRIPT_NAME:-script}" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  local c
  for c in "${CLEANUPS[@]}"; do
    eval "$c" || true
  done
  if [ "${KEEP_WORK:-0}" = 1 ] || [ "$rc" != 0 ]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# apt-get install the packages whose command is missing: need_cmd CMD PACKAGE [CMD PACKAGE]...
APT_UPDATED=0
need_cmd() {
  local missing=()
  while [ $# -ge 2 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ "$APT_UPDATED" = 0 ]; then
    $sudo apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing ${missing[*]} (Debian)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The release binary: $INSIGHTS_BIN if given, else built here (once; cargo skips it when fresh).
build_binary() {
  if [ -n "${INSIGHTS_BIN:-}" ]; then
    [ -x "$INSIGHTS_BIN" ] || die "INSIGHTS_BIN=$INSIGHTS_BIN is not executable"
    BIN=$INSIGHTS_BIN
  else
    command -v cargo >/dev/null || die "cargo is required to build the binary (or set INSIGHTS_BIN)"
    need_cmd npm npm # build.rs installs the pinned GraphiQL assets
    log "building the release binary (cargo build --release --bin insights)"
    (cd "$REPO" && cargo build --release --quiet --bin insights)
    BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/insights"
    case "$BIN" in /*) ;; *) BIN="$REPO/$BIN" ;; esac
  fi
  log "binary: $BIN"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server NAME DATABASE_URL [extra serve flags...]: starts `insights serve --no-auth` on a
# free loopback port; sets SERVER_PID, PORT, URL (http://127.0.0.1:PORT). Log: $WORK/NAME.log
start_server() {
  local name=$1 db=$2
  shift 2
  start_keyed_server "$name" "$db" --no-auth "$@"
}

# start_keyed_server NAME DATABASE_URL [extra serve flags...]: the same, with API keys (make them
# with `insights keys create` first).
start_keyed_server() {
  local name=$1 db=$2
  shift 2
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  "$BIN" --database-url "$db" serve --bind "127.0.0.1:$PORT" "$@" \
    >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 600); do
    if curl -fsS -o /dev/null --max-time 1 "$URL/healthz" 2>/dev/null; then
      log "server $name up on $URL (pid $SERVER_PID)"
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "server $name exited during start"; }
    sleep 0.1
  done
  die "server $name did not answer /healthz within 60 s"
}

# stop_server PID: SIGTERM and wait; prints the exit status.
stop_server() {
  local pid=$1 rc=0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || rc=$?
  local kept=()
  local p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  PIDS=("${kept[@]}")
  echo "$rc"
}

# gql URL QUERY: POSTs one query, prints the body.
gql() {
  curl -sS --max-time 30 -H 'Content-Type: application/json' \
    --data "$(jq -cn --arg q "$2" '{query: $q}')" "$1/graphql"
}

rss_mb() { awk '/VmRSS/{printf "%d", $2/1024}' "/proc/$1/status"; }
