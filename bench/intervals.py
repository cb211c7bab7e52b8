#!/usr/bin/env python3
"""bench/intervals.sh's question: a day of 15-minute intervals for all queues from /odata
(`QueueIntervals`, Europe/Amsterdam), one request per day, for DAYS consecutive days.

    intervals.py URL FIRST_DAY DAYS ROUNDS LABEL

First every day is asked once and checked: one request answers it (no @odata.nextLink), and its
rows equal dialogueStats(granularity: FIFTEEN_MINUTES, groupBy: [QUEUE], timeZone:
"Europe/Amsterdam") over the same day, every measure (exit 1 otherwise). Then one unmeasured round
and ROUNDS measured rounds over the days, one request after the other; prints one TSV line:
LABEL, requests, median rows per answer, p50 ms, p90 ms, p99 ms, max ms, mean ms.

Only the standard library; only the given URL (127.0.0.1) is contacted.
"""
import datetime
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Amsterdam")
RATIOS = ("serviceLevel", "abandonRate", "answerRate")


def get(url):
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=120) as r:
        return json.loads(r.read())


def graphql(base, query, variables):
    data = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(base + "/graphql", data=data,
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        doc = json.loads(r.read())
    if doc.get("errors"):
        sys.exit(f"GraphQL errors: {doc['errors']}")
    return doc["data"]


def local_midnight(day):
    return datetime.datetime(day.year, day.month, day.day, tzinfo=ZONE)


def path(base, day):
    lo, hi = local_midnight(day), local_midnight(day + datetime.timedelta(days=1))
    query = urllib.parse.urlencode({
        "interval": "15",
        "timeZone": "Europe/Amsterdam",
        "$filter": f"intervalStart ge {lo.isoformat()} and intervalStart lt {hi.isoformat()}",
    }, quote_via=urllib.parse.quote)
    return f"{base}/odata/QueueIntervals?{query}", lo, hi


def check(base, day):
    url, lo, hi = path(base, day)
    body = get(url)
    if "@odata.nextLink" in body:
        sys.exit(f"FAIL {day}: the day takes more than one request")
    rows = body["value"]
    if not rows:
        sys.exit(f"FAIL {day}: no intervals (no data that day?)")
    measures = [k for k in rows[0] if k not in ("intervalStart", "intervalEnd", "queueId")]
    fields = " ".join(f"{m} {{ value }}" if m in RATIOS else m for m in measures)
    stats = graphql(base, "query($from: DateTime!, $to: DateTime!) { dialogueStats(from: $from, to: $to, "
                          "timeZone: \"Europe/Amsterdam\", granularity: FIFTEEN_MINUTES, groupBy: [QUEUE]) "
                          f"{{ periodStart periodEnd queueId {fields} }} }}",
                    {"from": lo.isoformat(), "to": hi.isoformat()})["dialogueStats"]

    def instant(text):
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    expected = [[instant(r["periodStart"]), instant(r["periodEnd"]), r["queueId"]]
                + [r[m]["value"] if m in RATIOS else r[m] for m in measures]
                for r in stats if r["queueId"] is not None]
    got = [[instant(r["intervalStart"]), instant(r["intervalEnd"]), r["queueId"]] + [r[m] for m in measures]
           for r in rows]
    if got != expected:
        sys.exit(f"FAIL {day}: OData and dialogueStats differ\n  {got[:2]}\n  {expected[:2]}")
    return len(rows)


def main():
    base, first, days, rounds, label = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    start = datetime.date.fromisoformat(first)
    all_days = [start + datetime.timedelta(days=i) for i in range(days)]
    sizes = [check(base, d) for d in all_days]
    print(f"checked {days} days against dialogueStats: {sum(sizes)} intervals, one request each", file=sys.stderr)
    urls = [path(base, d)[0] for d in all_days]
    for url in urls:  # warm-up
        get(url)
    times = []
    for _ in range(rounds):
        for url in urls:
            t = time.perf_counter()
            get(url)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    print("\t".join([label, str(len(times)), str(int(statistics.median(sizes))), f"{q(0.5):.1f}", f"{q(0.9):.1f}",
                     f"{q(0.99):.1f}", f"{times[-1]:.1f}", f"{statistics.mean(times):.1f}"]))


if __name__ == "__main__":
    main()
