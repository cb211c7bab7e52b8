"""Schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Adds the check `error_has_code`: every GraphQL error in a response must carry a string
`extensions.code` (API.md section 6). Also counts every response it sees (status, errors by code)
and writes the counts to $FUZZ_STATS when the run ends.
"""

import atexit
import collections
import json
import os
import threading

import schemathesis

_lock = threading.Lock()
_stats = {
    "responses": 0,
    "by_status": collections.Counter(),
    "with_errors": 0,
    "errors_by_code": collections.Counter(),
    "uncoded_errors": 0,
    "uncoded_samples": [],
    "server_errors": 0,
}


def _dump():
    path = os.environ.get("FUZZ_STATS")
    if not path:
        return
    with _lock:
        out = dict(_stats)
        out["by_status"] = dict(_stats["by_status"])
        out["errors_by_code"] = dict(_stats["errors_by_code"])
    with open(path, "w") as f:
        json.dump(out, f)


atexit.register(_dump)


@schemathesis.check
def error_has_code(ctx, response, case):
    """Every GraphQL error carries extensions.code; no response is a 5xx."""
    try:
        payload = response.json()
    except Exception:
        payload = None
    errors = payload.get("errors") if isinstance(payload, dict) else None
    uncoded = []
    with _lock:
        _stats["responses"] += 1
        _stats["by_status"][str(response.status_code)] += 1
        if response.status_code >= 500:
            _stats["server_errors"] += 1
        if errors:
            _stats["with_errors"] += 1
            for error in errors:
                ext = error.get("extensions") if isinstance(error, dict) else None
                code = ext.get("code") if isinstance(ext, dict) else None
                if isinstance(code, str) and code:
                    _stats["errors_by_code"][code] += 1
                else:
                    _stats["uncoded_errors"] += 1
                    uncoded.append(error)
            if uncoded and len(_stats["uncoded_samples"]) < 5:
                _stats["uncoded_samples"].append({"query": str(case.body)[:500], "error": uncoded[0]})
    if payload is None and response.status_code != 200:
        raise AssertionError(f"status {response.status_code} with a body that is not JSON")
    if uncoded:
        raise AssertionError(f"GraphQL error without extensions.code: {json.dumps(uncoded[0])[:300]}")
