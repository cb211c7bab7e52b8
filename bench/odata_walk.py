#!/usr/bin/env python3
"""bench/compare.sh's OData questions (ours only: PostGraphile has no OData), asked of one running
server both through /odata and through /graphql, checked to answer alike.

    odata_walk.py page URL                 the OData page of 1,000 newest dialogues (every property)
                                           and the GraphQL page of the same; exits 1 unless the ids
                                           (in order) and the values match
    odata_walk.py walk URL FROM TO LABEL   walks the dialogues from FROM to TO (start ascending) by
                                           @odata.nextLink and by GraphQL cursors, pages of 1,000,
                                           once to warm up and once measured; exits 1 unless both
                                           walks visit the same ids in the same order, the count
                                           that $count gives; prints one TSV line per API:
                                           LABEL, api, pages, rows, total s, first/median/max/last page ms

Only the standard library; only the given URL (127.0.0.1) is contacted.
"""
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request

FIELDS = ("id startDate startTimestamp queueEnterTimestamp acceptTimestamp endTimestamp "
          "ivrDurationInSec queueDurationInSec initialTalkDurationInSec sessionDurationInSec "
          "ivrId queueId customerId agentId direction outcome inSla quickDrop orderNumber")


def get(url):
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=120) as r:
        body = r.read()
    return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def graphql(base, query, variables):
    data = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(base + "/graphql", data=data,
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        doc = json.loads(r.read())
    if doc.get("errors") or doc.get("data") is None:
        sys.exit(f"GraphQL errors: {json.dumps(doc)[:600]}")
    return doc["data"]


def odata_path(options):
    return "/odata/Dialogues?" + urllib.parse.urlencode(options, quote_via=urllib.parse.quote)


def page(base):
    od = get(base + odata_path({"$orderby": "startTimestamp desc"}))
    gq = graphql(base, "query { dialogues(first: 1000, orderBy: [{field: START_TIMESTAMP, direction: DESC}]) { nodes { %s } } }"
                 % FIELDS, {})["dialogues"]["nodes"]
    o_ids, g_ids = [d["id"] for d in od["value"]], [d["id"] for d in gq]
    if len(o_ids) != 1000 or o_ids != g_ids:
        sys.exit(f"the OData page ({len(o_ids)} rows) and the GraphQL page ({len(g_ids)}) differ: "
                 f"first ids {o_ids[:3]} / {g_ids[:3]}")
    if "@odata.nextLink" not in od:
        sys.exit("the OData page of 1,000 has no next link")
    for o, g in zip(od["value"], gq):  # a few values, in the vendor's spelling and in ours
        if (o["startTimestamp"], o["queueId"], o["orderNumber"]) != (g["startTimestamp"], g["queueId"], g["orderNumber"]):
            sys.exit(f"{o['id']}: OData {o} / GraphQL {g}")
    print(f"OData and GraphQL pages of 1,000 match ({o_ids[0]} .. {o_ids[-1]})", file=sys.stderr)


def timed(step):
    t = time.perf_counter()
    result = step()
    return result, (time.perf_counter() - t) * 1000


def walk_odata(base, since, until):
    link = base + odata_path({"$filter": f"startTimestamp ge {since} and startTimestamp lt {until}",
                              "$orderby": "startTimestamp asc"})
    ids, ms = [], []
    while link:
        body, took = timed(lambda: get(link))
        ids += [d["id"] for d in body["value"]]
        ms.append(took)
        link = body.get("@odata.nextLink")
    return ids, ms


def walk_graphql(base, since, until):
    query = ("query($after: String, $f: DialogueFilter) { dialogues(first: 1000, after: $after, filter: $f, "
             "orderBy: [{field: START_TIMESTAMP, direction: ASC}]) { nodes { %s } pageInfo { hasNextPage endCursor } } }" % FIELDS)
    f = {"startTimestamp": {"gte": since, "lt": until}}
    ids, ms, after = [], [], None
    while True:
        data, took = timed(lambda: graphql(base, query, {"after": after, "f": f}))
        conn = data["dialogues"]
        ids += [d["id"] for d in conn["nodes"]]
        ms.append(took)
        if not conn["pageInfo"]["hasNextPage"]:
            return ids, ms
        after = conn["pageInfo"]["endCursor"]


def walk(base, since, until, label):
    count = int(get(base + "/odata/Dialogues/$count?" + urllib.parse.urlencode(
        {"$filter": f"startTimestamp ge {since} and startTimestamp lt {until}"}, quote_via=urllib.parse.quote)))
    results = {}
    for api, fn in (("OData", walk_odata), ("GraphQL", walk_graphql)):
        fn(base, since, until)  # warm-up
        t = time.perf_counter()
        ids, ms = fn(base, since, until)
        total = time.perf_counter() - t
        if len(ids) != count or len(set(ids)) != count:
            sys.exit(f"{api} walk: {len(ids)} rows ({len(set(ids))} distinct), $count says {count}")
        results[api] = ids
        print("\t".join([label, api, str(len(ms)), str(len(ids)), f"{total:.2f}", f"{ms[0]:.1f}",
                         f"{statistics.median(ms):.1f}", f"{max(ms):.1f}", f"{ms[-1]:.1f}"]))
    if results["OData"] != results["GraphQL"]:
        sys.exit("the OData and GraphQL walks visit different rows or orders")
    print(f"{label}: both walks visit the same {count} dialogues in the same order", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "page":
        page(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "walk":
        walk(*sys.argv[2:])
    else:
        sys.exit(__doc__)
