#!/usr/bin/env bash
# Compares the checked-in schema.graphql with the API contract (../shared/contract.graphql) using
# GraphQL Inspector: breaking changes fail (exit 1), additions are fine. Parts of the contract that
# open issues will add are listed in scripts/contract-pending.cjs and not counted.
#   scripts/contract-diff.sh            # from anywhere in the repo
# Regenerate schema.graphql first if the code changed: cargo run -q -- schema > /tmp/schema.graphql && mv /tmp/schema.graphql schema.graphql
# The version is pinned so the verdict does not change under our feet; npx downloads it once.
set -euo pipefail
cd "$(dirname "$0")/.."

INSPECTOR_VERSION="7.0.0"
CONTRACT="../shared/contract.graphql"

if [ ! -f "$CONTRACT" ]; then
  echo "contract-diff: $CONTRACT not found; nothing to compare" >&2
  exit 2
fi
command -v npx >/dev/null || { echo "contract-diff: npx (Node.js) is required" >&2; exit 2; }

exec npx --yes "@graphql-inspector/cli@${INSPECTOR_VERSION}" diff "$CONTRACT" schema.graphql \
  --rule "$PWD/scripts/contract-pending.cjs" "$@"
