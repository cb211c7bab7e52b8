#!/usr/bin/env bash
# GraphQL-over-HTTP compliance: graphql-http's auditServer (version pinned in scripts/package.json
# and package-lock.json) against `insights serve --no-auth` on a throwaway SQLite database, plus the
# Accept negotiation the API promises (application/graphql-response+json when accepted by name;
# application/json for `application/json`, `*/*` and no Accept header, as the spec's SHOULDs ask).
#   bash scripts/http-audit.sh          # builds the release binary unless INSIGHTS_BIN is set
# Exit 1 if any MUST audit fails or a negotiation check fails; SHOULD findings print as warn.
SCRIPT_NAME=http-audit
source "$(dirname "$0")/lib.sh"
START=$SECONDS

need_cmd curl curl jq jq node nodejs npm npm python3 python3
build_binary
log "installing the pinned audit tools (npm ci)"
(cd "$REPO/scripts" && npm ci --silent --no-audit --no-fund >/dev/null)

start_server audit "sqlite://$WORK/audit.db?mode=rwc"

AUDIT_RC=0
node "$REPO/scripts/http-audit.mjs" "$URL/graphql" | tee "$WORK/audit.txt" || AUDIT_RC=$?

# Content negotiation (API.md §6).
NEG_FAIL=0
NEG_OK=0
check_ct() { # description expected-media-type curl-args...
  local what=$1 want=$2
  shift 2
  local got status
  read -r status got < <(curl -sS -o /dev/null -w '%{http_code} %{content_type}\n' "$@")
  got=${got%%;*}
  if [ "$got" = "$want" ] && [ "$status" = 200 ]; then
    echo "ok     negotiation: $what -> $status $got"
    NEG_OK=$((NEG_OK + 1))
  else
    echo "error  negotiation: $what -> $status $got (expected 200 $want)"
    NEG_FAIL=$((NEG_FAIL + 1))
  fi
}
Q='{"query":"{ __typename }"}'
check_ct "POST, no Accept header" application/json \
  -H 'Content-Type: application/json' -H 'Accept:' --data "$Q" "$URL/graphql"
check_ct "POST, Accept: */*" application/json \
  -H 'Content-Type: application/json' -H 'Accept: */*' --data "$Q" "$URL/graphql"
check_ct "POST, Accept: application/json" application/json \
  -H 'Content-Type: application/json' -H 'Accept: application/json' --data "$Q" "$URL/graphql"
check_ct "POST, Accept: application/graphql-response+json" application/graphql-response+json \
  -H 'Content-Type: application/json' -H 'Accept: application/graphql-response+json' --data "$Q" "$URL/graphql"
check_ct "GET, no Accept header" application/json \
  -H 'Accept:' "$URL/graphql?query=%7B__typename%7D"
check_ct "GET, Accept: */*" application/json \
  -H 'Accept: */*' "$URL/graphql?query=%7B__typename%7D"

SUMMARY=$(grep '^audit:' "$WORK/audit.txt" || echo "audit: no summary")
echo "http-audit: ${SUMMARY#audit: }; negotiation $NEG_OK ok, $NEG_FAIL failed; $((SECONDS - START)) s"
[ "$AUDIT_RC" = 0 ] && [ "$NEG_FAIL" = 0 ]
