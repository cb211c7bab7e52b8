#!/usr/bin/env bash
# Headless-Chromium check of the self-hosted GraphiQL page of a running server.
#
#   tests/browser/run.sh [BASE_URL] [SCREENSHOT]   (default http://127.0.0.1:4000, graphiql.png)
#
# Installs Debian's chromium if /usr/bin/chromium is missing (needs root), then
# playwright-core from the lockfile here (no browser download), then runs
# graphiql-check.mjs. Extra arguments (e.g. --render-only) are passed along.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${1:-http://127.0.0.1:4000}"
shift || true

if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y chromium; then
    apt-get update
    apt-get install -y chromium
  fi
fi

# playwright-core downloads no browser; it drives the chromium above.
(cd "$here" && npm ci --no-audit --no-fund)

# Not cd'ing there: a relative SCREENSHOT path stays relative to the caller's directory.
exec node "$here/graphiql-check.mjs" "$base" "$@"
