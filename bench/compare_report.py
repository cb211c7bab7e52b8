#!/usr/bin/env python3
"""Writes bench/compare.sh's figures into bench/results.md, between <!-- compare:start --> and
<!-- compare:end --> (appended when the markers are absent; the rest of the file is left alone).

    compare_report.py RESULTS.TSV RESULTS.MD [STATEMENTS_DIR]   (metadata in the environment, see compare.sh)

RESULTS.TSV: engine, query, req/s, p50 ms, p99 ms, errors, server CPU ms/req, PostgreSQL CPU ms/req,
statements/req, RSS MB before, RSS MB after, requests completed, requests sent.
"""
import os
import re
import sys

START, END = "<!-- compare:start -->", "<!-- compare:end -->"
QUESTIONS = {
    "a": "(a) 100 newest + totalCount",
    "a2": "(a2) 100 newest",
    "b": "(b) one queue, ABANDONED, 7 days",
    "c": "(c) 100 after row {deep}",
    "d": "(d) one dialogue + 4 endpoints",
    "e": "(e) stats March, DAY × QUEUE",
}


def odata_section(rows, env):
    """OData next to GraphQL, ours only (PostGraphile has no OData): (f) the page of 1,000, (g) the walk."""
    out = ["", "### OData next to GraphQL (ours only: PostGraphile has no OData)", ""]
    out.append("(f) a page of the 1,000 newest dialogues with every property: "
               "`GET /odata/Dialogues?$orderby=startTimestamp desc` (the default OData page size) and "
               "`dialogues(first: 1000, orderBy: START_TIMESTAMP DESC) { nodes { <the 19 fields> } }`; "
               "both were checked to answer the same rows first.")
    out.append("")
    out.append("| (f) page of 1,000 | OData req/s | GraphQL req/s | p50 ms OData / GraphQL | p99 ms OData / GraphQL "
               "| errors OData / GraphQL | server CPU ms/req OData / GraphQL | PostgreSQL CPU ms/req OData / GraphQL "
               "| statements/req OData / GraphQL |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for engine, name in (("ours", "PostgreSQL"), ("sqlite", "SQLite")):
        o, g = rows.get((engine, "of")), rows.get((engine, "gf"))
        if not o or not g:
            continue
        out.append(f"| {name} | {float(o['rps']):.1f} | {float(g['rps']):.1f} | {o['p50']} / {g['p50']} "
                   f"| {o['p99']} / {g['p99']} | {o['errors']} / {g['errors']} | {o['cpu']} / {g['cpu']} "
                   f"| {o['pgcpu']} / {g['pgcpu']} | {o['stmts']} / {g['stmts']} |")
    walks = env.get("WALKS")
    if walks and os.path.exists(walks):
        out.append("")
        out.append(f"(g) a walk of {env.get('WALK_FROM', '?')[:10]} .. {env.get('WALK_TO', '?')[:10]} (start ascending, "
                   "every property, pages of 1,000) by `@odata.nextLink` (keyset `$skiptoken`) and by GraphQL "
                   "cursors, one request after the other, timed after one warm-up walk; both walks were checked "
                   "to visit the rows `$count` gives, in the same order.")
        out.append("")
        out.append("| (g) walk | API | pages | rows | total s | first page ms | median page ms | slowest page ms | last page ms |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for line in open(walks):
            f = line.rstrip("\n").split("\t")
            if len(f) == 9:
                out.append(f"| {f[0]} | {f[1]} | {f[2]} | {int(f[3]):,} | {f[4]} | {f[5]} | {f[6]} | {f[7]} | {f[8]} |")
    out.append("")
    return out


def main():
    tsv, md = sys.argv[1:3]
    stmt_dir = sys.argv[3] if len(sys.argv) > 3 else None
    env = os.environ
    rows = {}
    for line in open(tsv):
        f = line.rstrip("\n").split("\t")
        rows[(f[0], f[1])] = dict(zip(
            ["rps", "p50", "p99", "errors", "cpu", "pgcpu", "stmts", "rss0", "rss1", "requests", "sent"], f[2:]))
    label = lambda q: QUESTIONS[q].format(deep=f"{int(env['DEEP']):,}")
    out = [START, "## PostGraphile side by side (`bash bench/compare.sh`)", ""]
    out.append(
        f"{env['DATE']}, commit {env['COMMIT']}, {int(env['N']):,} dialogues (one tenant), "
        f"{env['CORES']} cores / {env['MEM']} GiB, shared with other work: compare the ratios within one run, "
        f"not the absolute figures across runs. PostgreSQL {env['PG_VERSION']} (private cluster, "
        f"shared_buffers 1GB), PostGraphile {env['PGL_VERSION']} (amber preset, connection-filter "
        f"{env['FILTER_VERSION']}, Node {env['NODE_VERSION']}); both pools 16 connections; "
        f"`wrk -t2 -c16 -d{env['DURATION']}s` per query after {env['WARMUP']} s of warm-up, one engine "
        f"after the other. Both engines' answers were checked to be the same before measuring.")
    out.append("")
    out.append("| query | ours req/s | PostGraphile req/s | ratio | p50 ms ours / theirs | p99 ms ours / theirs "
               "| errors ours / theirs | server CPU ms/req ours / theirs | PostgreSQL CPU ms/req ours / theirs "
               "| statements/req ours / theirs | RSS MB ours / theirs (before → after) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for q in QUESTIONS:
        o, t = rows.get(("ours", q)), rows.get(("theirs", q))
        if not o or not t:
            continue
        ratio = float(o["rps"]) / float(t["rps"]) if float(t["rps"]) else float("inf")
        out.append(
            f"| {label(q)} | {float(o['rps']):.1f} | {float(t['rps']):.1f} | {ratio:.2f}× "
            f"| {o['p50']} / {t['p50']} | {o['p99']} / {t['p99']} | {o['errors']} / {t['errors']} "
            f"| {o['cpu']} / {t['cpu']} | {o['pgcpu']} / {t['pgcpu']} | {o['stmts']} / {t['stmts']} "
            f"| {o['rss0']} → {o['rss1']} / {t['rss0']} → {t['rss1']} |")
    out.append("")
    out.append(
        f"Idle RSS after start and the answer check: ours {env['IDLE_OURS']} MB, PostGraphile "
        f"{env['IDLE_THEIRS']} MB. Ratio = ours req/s ÷ PostGraphile req/s. Errors = socket errors + "
        "non-2xx + responses with GraphQL errors or without data (every response is checked). CPU = "
        "utime+stime (server: the process with all its threads; PostgreSQL: every process of the "
        "cluster) over the run ÷ requests sent (the run's requests still in flight when wrk stops are "
        "waited for and counted; the warm-up's are not). Statements = top-level pg_stat_statements "
        "calls in the bench database over the run (BEGIN/COMMIT and pings included) ÷ requests sent. "
        f"(b) is queue `{env['B_QUEUE']}` from 2026-09-01 to 2026-09-08 UTC; (c) uses each engine's own "
        f"cursor of row {int(env['DEEP']):,} (ours walked in pages of 500, PostGraphile's from "
        f"`first: 1, offset: {int(env['DEEP']) - 1}`); (d) is dialogue `{env['D_ID']}`; PostGraphile's (e) is "
        "the SQL function in bench/postgraphile/stats.sql.")
    out.append("")
    if stmt_dir and os.path.isdir(stmt_dir):
        out.append("<details><summary>The most frequent statements of each run (top-level calls, text cut at 160 characters)</summary>")
        out.append("")
        for q in QUESTIONS:
            for engine, name in (("ours", "ours"), ("theirs", "PostGraphile")):
                path = os.path.join(stmt_dir, f"{engine}-{q}.tsv")
                if not os.path.exists(path):
                    continue
                r = rows.get((engine, q), {})
                out.append(f"{label(q)}, {name}, {r.get('sent', '?')} requests sent ({r.get('requests', '?')} completed):")
                out.append("```")
                for line in open(path):
                    calls, _, text = line.rstrip("\n").partition("\t")
                    out.append(f"{calls:>8}  {text}")
                out.append("```")
        out.append("</details>")
        out.append("")
    out.append("### Ours on SQLite (the same data and questions; no peer)")
    out.append("")
    out.append("| query | req/s | p50 ms | p99 ms | errors | server CPU ms/req | RSS MB (before → after) |")
    out.append("|---|---|---|---|---|---|---|")
    for q in QUESTIONS:
        s = rows.get(("sqlite", q))
        if s:
            out.append(f"| {label(q)} | {float(s['rps']):.1f} | {s['p50']} | {s['p99']} | {s['errors']} "
                       f"| {s['cpu']} | {s['rss0']} → {s['rss1']} |")
    out.append("")
    out.append(f"Idle RSS after start: {env['IDLE_SQLITE']} MB. SQLite's answers were checked to equal ours on PostgreSQL.")
    out.extend(odata_section(rows, env))
    out.append(END)
    section = "\n".join(out)

    text = open(md).read() if os.path.exists(md) else "# Benchmark results\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, count=1, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(md, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
