#!/usr/bin/env python3
"""A small, bounded load generator for scripts/faults.sh (standard library only).

Sends GraphQL POSTs to one loopback URL from a few threads, rotating through request bodies,
until --duration seconds pass or --stop-file appears, and writes one JSON line per request:
  {"t0": start (epoch s), "t1": end, "status": HTTP status or 0, "code": first error's
   extensions.code or "", "error": transport error or "", "count": data.dialogues.totalCount}
Each request uses its own connection, so a stopped server shows as a transport error.
"""

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse


def one(url, body, timeout):
    parts = urllib.parse.urlsplit(url)
    t0 = time.time()
    rec = {"t0": t0, "t1": t0, "status": 0, "code": "", "error": "", "count": None}
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            parts.path or "/graphql",
            body=body,
            headers={"Content-Type": "application/json", "Accept": "application/graphql-response+json"},
        )
        resp = conn.getresponse()
        data = resp.read()
        rec["status"] = resp.status
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
            rec["error"] = "body is not JSON: " + data[:100].decode("utf-8", "replace")
        if isinstance(payload, dict):
            errors = payload.get("errors") or []
            if errors:
                ext = errors[0].get("extensions") or {}
                rec["code"] = ext.get("code") or "UNCODED"
                rec["message"] = str(errors[0].get("message", ""))[:200]
            d = payload.get("data")
            if isinstance(d, dict) and isinstance(d.get("dialogues"), dict):
                rec["count"] = d["dialogues"].get("totalCount")
    except Exception as e:  # noqa: BLE001 - every transport failure is a data point
        rec["error"] = f"{type(e).__name__}: {e}"[:200]
    finally:
        conn.close()
    rec["t1"] = time.time()
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--bodies", required=True, help="file with one JSON request body a line")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=float, default=60.0, help="hard upper bound in seconds")
    ap.add_argument("--stop-file", help="stop when this file exists")
    ap.add_argument("--timeout", type=float, default=15.0, help="per request, seconds")
    ap.add_argument("--pause", type=float, default=0.0, help="seconds between a thread's requests")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    host = urllib.parse.urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("faults_load.py only targets loopback addresses")
    with open(args.bodies) as f:
        bodies = [line.strip().encode() for line in f if line.strip()]
    deadline = time.time() + args.duration
    lock = threading.Lock()
    out = open(args.out, "w", buffering=1)

    def worker(k):
        i = k
        while time.time() < deadline and not (args.stop_file and os.path.exists(args.stop_file)):
            rec = one(args.url, bodies[i % len(bodies)], args.timeout)
            rec["thread"] = k
            with lock:
                out.write(json.dumps(rec) + "\n")
            i += 1
            if rec["error"] and rec["status"] == 0:
                time.sleep(0.05)  # the server is gone: do not spin
            elif args.pause:
                time.sleep(args.pause)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()


if __name__ == "__main__":
    main()
