"""Drives `ingestDialogues` at 1,000 records per call for bench/mutations.sh.

    python3 bench/mutations.py URL DIALOGUES.ndjson ENDPOINTS.ndjson CONCURRENCY CUSTOMERS LABEL...

Turns the vendor-shaped demo records into GraphQL `DialogueInput`s (bodies built before the
clock starts), upserts the demo's endpoints, then for each LABEL (e.g. `insert` then `replay`)
posts every batch with CONCURRENCY client threads and prints one JSON line: records, calls,
seconds, records/s, per-call p50/p99 and the summed IngestSummary (checked: every record
accounted for, no error).

CUSTOMERS says whom the dialogues call:
- `known`: the demo's customers, all upserted with the endpoints first (no stub to create);
- `new`: a customer of its own per dialogue, never described (every call creates 1,000 stubs,
  a caller's first call); the ids are scattered like phone numbers, not in insertion order;
- `recurring:N`: N customers never described, each dialogue's drawn at random (seeded), so
  they recur across calls: the first calls create their stubs, later ones find them.
"""
import itertools
import json
import random
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PER_CALL = 1000
INGEST = ("mutation($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) "
          "{ received inserted updated unchanged } }")
UPSERT = ("mutation($e: [EndpointInput!]!) { upsertEndpoints(endpoints: $e) "
          "{ received inserted updated unchanged } }")

FIELDS = {name.lower(): name for name in [
    "id", "orderNumber", "startTimestamp", "startDate", "queueEnterTimestamp", "acceptTimestamp",
    "endTimestamp", "ivrDurationInSec", "queueDurationInSec", "initialTalkDurationInSec",
    "sessionDurationInSec", "ivrId", "queueId", "customerId", "agentId", "direction",
    "name", "slaThresholdInSec", "quickDropThresholdInSec"]}


def to_input(record):
    out = {}
    for key, value in record.items():
        k = key.lower()
        if value is None:
            continue
        if k == "outcome":
            out["outcome"] = {"accepted": "ACCEPTED", "abandoned": "ABANDONED"}.get(
                str(value).lower(), "IVR_DROP")
        elif k == "insla":
            out["inSla"] = value if isinstance(value, bool) else str(value).lower() == "true"
        elif k == "quickdrop":
            out["quickDrop"] = value if isinstance(value, bool) else str(value).lower() == "true"
        elif k == "role":
            out["role"] = str(value).upper()
        elif k == "direction":
            out["direction"] = "INBOUND" if str(value).lower() in ("1", "inbound") else "OUTBOUND"
        elif k in FIELDS:
            out[FIELDS[k]] = value
    return out


def phone_number(n):
    """The n-th of distinct, scattered caller ids (like phone numbers, not in any order)."""
    return f"+31{n * 2654435761 % 10**9:09d}"


def customers_of(mode):
    """A function giving a dialogue input its customer under CUSTOMERS `mode`."""
    if mode == "known":
        return lambda record: record
    if mode == "new":
        count = itertools.count()

        def new(record):
            record["customerId"] = phone_number(next(count))
            return record
        return new
    if mode.startswith("recurring:"):
        pool = int(mode.split(":", 1)[1])
        rng = random.Random(20)

        def recurring(record):
            record["customerId"] = phone_number(rng.randrange(pool))
            return record
        return recurring
    raise SystemExit(f"unknown CUSTOMERS {mode!r}: known, new or recurring:N")


def bodies(path, query, variable, shape=lambda record: record):
    with open(path) as f:
        records = [shape(to_input(json.loads(line))) for line in f if line.strip()]
    return [json.dumps({"query": query, "variables": {variable: records[i:i + PER_CALL]}}).encode()
            for i in range(0, len(records), PER_CALL)], len(records)


def post(url, body):
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    if "errors" in answer:
        raise SystemExit(f"error: {json.dumps(answer)[:600]}")
    return time.perf_counter() - started, next(iter(answer["data"].values()))


def run(url, batches, concurrency):
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda b: post(url, b), batches))
    return time.perf_counter() - started, results


def main():
    url, dialogues, endpoints, concurrency, customers, *labels = sys.argv[1:]
    concurrency = int(concurrency)
    endpoint_bodies, _ = bodies(endpoints, UPSERT, "e")
    run(url, endpoint_bodies, 1)
    batches, n = bodies(dialogues, INGEST, "d", customers_of(customers))
    for label in labels:
        seconds, results = run(url, batches, concurrency)
        totals = {k: sum(r[1][k] for r in results)
                  for k in ("received", "inserted", "updated", "unchanged")}
        if totals["received"] != n or totals["inserted"] + totals["updated"] + totals["unchanged"] != n:
            raise SystemExit(f"counts do not add up: {totals}, {n} records")
        latencies = sorted(r[0] for r in results)
        p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
        print(json.dumps({
            "label": label, "customers": customers, "records": n, "calls": len(batches), "concurrency": concurrency,
            "seconds": round(seconds, 3), "records_per_s": round(n / seconds),
            "call_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "call_p99_ms": round(p99 * 1000, 1), **totals,
        }), flush=True)


if __name__ == "__main__":
    main()
