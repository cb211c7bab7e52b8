#!/usr/bin/env python3
"""Checks that Dialogue Insights and PostGraphile answered the same question alike (bench/compare.sh).

    compare_answers.py KIND OURS.json THEIRS.json

KIND is `list` (data.dialogues: ids in order, queue/agent id+name, totalCount when asked),
`one` (data.dialogue: id and the four endpoints' id+name) or `stats` (data.dialogueStats: one row
per day x queue: period start as an instant, queue id, offered, accepted, service level, average
speed of answer; floats within 1e-9). PostGraphile's answers are expected under the same aliases
(dialogues / dialogue / dialogueStats) with `nodes` where it returns a connection. Prints a one-line
summary and exits 0 when they match; prints the first differences and exits 1 otherwise.
"""
import json
import math
import sys
from datetime import datetime


def load(path):
    with open(path) as f:
        doc = json.load(f)
    if doc.get("errors") or doc.get("data") is None:
        sys.exit(f"{path}: GraphQL errors: {json.dumps(doc)[:600]}")
    return doc["data"]


def ep(e):
    return None if e is None else (e["id"], e.get("name"))


def norm_list(data):
    conn = data["dialogues"]
    rows = [(n["id"], ep(n.get("queue")), ep(n.get("agent"))) for n in conn["nodes"]]
    return {"totalCount": conn.get("totalCount"), "rows": rows}


def norm_one(data):
    d = data["dialogue"]
    if d is None:
        return None
    return [d["id"]] + [ep(d.get(k)) for k in ("ivr", "queue", "customer", "agent")]


def instant(s):
    # 2026-03-01T00:00:00+01:00, 2026-02-28T23:00:00Z, 2026-02-28T23:00:00.000000+00:00
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def value(x):
    return x.get("value") if isinstance(x, dict) else x


def norm_stats(data):
    s = data["dialogueStats"]
    rows = s["nodes"] if isinstance(s, dict) else s
    out = [(instant(r["periodStart"]), r["queueId"], r["offered"], r["accepted"],
            value(r["serviceLevel"]), r["averageSpeedOfAnswer"]) for r in rows]
    return sorted(out, key=lambda r: (r[0], r[1] is not None, r[1] or ""))


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def main():
    kind, ours_path, theirs_path = sys.argv[1:4]
    norm = {"list": norm_list, "one": norm_one, "stats": norm_stats}[kind]
    ours, theirs = norm(load(ours_path)), norm(load(theirs_path))
    if kind == "list":
        if not ours["rows"]:
            sys.exit("no rows: the question selects nothing, pick another")
        ok = same(ours, theirs)
        summary = f"{len(ours['rows'])} rows, first {ours['rows'][0][0]}, last {ours['rows'][-1][0]}, totalCount {ours['totalCount']}"
    elif kind == "one":
        if ours is None:
            sys.exit("no dialogue: pick another id")
        ok = same(ours, theirs)
        summary = f"dialogue {ours[0]} with {sum(e is not None for e in ours[1:])} endpoints"
    else:
        if not ours:
            sys.exit("no stats rows: the range selects nothing")
        ok = same(ours, theirs)
        summary = f"{len(ours)} day x queue rows, offered {sum(r[2] for r in ours)}, accepted {sum(r[3] for r in ours)}"
    if ok:
        print(f"same answer: {summary}")
        return
    a = ours["rows"] if kind == "list" else ours
    b = theirs["rows"] if kind == "list" else theirs
    print(f"DIFFERENT answers ({kind}): ours {len(a) if a else 0} rows vs theirs {len(b) if b else 0}", file=sys.stderr)
    if kind == "list" and ours["totalCount"] != theirs["totalCount"]:
        print(f"  totalCount ours {ours['totalCount']} theirs {theirs['totalCount']}", file=sys.stderr)
    shown = 0
    for i in range(max(len(a or []), len(b or []))):
        x = a[i] if a and i < len(a) else None
        y = b[i] if b and i < len(b) else None
        if not same(x, y):
            print(f"  [{i}] ours {x}\n  [{i}] theirs {y}", file=sys.stderr)
            shown += 1
            if shown >= 5:
                break
    sys.exit(1)


if __name__ == "__main__":
    main()
