#!/usr/bin/env python3
"""A real OData client library, python-odata (pinned in requirements.txt), against a running server
(`insights serve --no-auth`, small OData pages): it reads $metadata, builds its entity classes from
it, queries Dialogues, Endpoints and QueueIntervals with filters, orders and $top, follows
@odata.nextLink, reads single entities by key; each answer is compared with what /graphql answers
to the same question.

    check.py BASE_URL PAGE_SIZE     (run by run.sh; exits 1 with the first difference)
"""
import datetime
import sys

import requests
from odata import ODataService
from odata.query import Query

BASE = sys.argv[1].rstrip("/")
PAGE_SIZE = int(sys.argv[2])
CHECKS = []


def check(name, got, expected):
    if got != expected:
        shown = lambda v: repr(v)[:400]
        sys.exit(f"FAIL {name}:\n  OData (python-odata): {shown(got)}\n  GraphQL:              {shown(expected)}")
    CHECKS.append(name)
    size = f" ({len(got)} rows)" if isinstance(got, list) else ""
    print(f"ok   {name}{size}", flush=True)


def graphql(query, variables=None):
    r = requests.post(f"{BASE}/graphql", json={"query": query, "variables": variables or {}},
                      headers={"Accept": "application/json"}, timeout=60)
    r.raise_for_status()
    doc = r.json()
    if doc.get("errors"):
        sys.exit(f"GraphQL errors: {doc['errors']}")
    return doc["data"]


def graphql_ids(field, type_, filter_=None, order=None):
    """Every id GraphQL lists for `field` (pages of 500, by cursor)."""
    ids, after = [], None
    while True:
        data = graphql(
            f"query($f: {type_}Filter, $o: [{type_}Order!], $a: String) {{ {field}(first: 500, after: $a, filter: $f, orderBy: $o) "
            "{ totalCount nodes { id } pageInfo { hasNextPage endCursor } } }",
            {"f": filter_, "o": order, "a": after})[field]
        ids += [n["id"] for n in data["nodes"]]
        if not data["pageInfo"]["hasNextPage"]:
            assert len(ids) == data["totalCount"], (len(ids), data["totalCount"])
            return ids
        after = data["pageInfo"]["endCursor"]


# Requests made by the library, to see that it followed the server's next links.
SEEN = []
session = requests.Session()
session.hooks["response"].append(lambda r, *a, **k: SEEN.append(r.url))

# 1. $metadata: the library builds its classes from it.
service = ODataService(f"{BASE}/odata/", reflect_entities=True, session=session, quiet_progress=True)
check("$metadata: entity sets", sorted(service.entities), ["Dialogues", "Endpoints", "QueueIntervals"])
Dialogue, Endpoint = service.entities["Dialogues"], service.entities["Endpoints"]
for prop in ("id", "startDate", "startTimestamp", "queueEnterTimestamp", "acceptTimestamp", "endTimestamp",
             "ivrDurationInSec", "queueDurationInSec", "initialTalkDurationInSec", "sessionDurationInSec",
             "ivrId", "queueId", "customerId", "agentId", "direction", "Outcome", "InSLA", "QuickDrop",
             "orderNumber", "ivr", "queue", "customer", "agent"):
    if not hasattr(Dialogue, prop):
        sys.exit(f"FAIL $metadata: the reflected Dialogue has no `{prop}`")
CHECKS.append("$metadata: every Dialogue property and navigation property")
print(f"ok   {CHECKS[-1]}", flush=True)

# 2. Everything, walked by next links: the same ids as GraphQL (the OData default order is by id).
SEEN.clear()
all_ids = [d.id for d in service.query(Dialogue).order_by(Dialogue.id.asc()).all()]
pages = [u for u in SEEN if "/odata/Dialogues" in u]
check("Dialogues, all, by next links", all_ids, sorted(graphql_ids("dialogues", "Dialogue")))
if len(pages) < len(all_ids) // PAGE_SIZE or not any("skiptoken" in u for u in pages):
    sys.exit(f"FAIL the library did not follow next links: {len(pages)} requests for {len(all_ids)} dialogues")
CHECKS.append(f"the library followed {len(pages) - 1} next links ($skiptoken) for {len(all_ids)} dialogues")
print(f"ok   {CHECKS[-1]}", flush=True)

# 3. A filter and an order, across pages (the library follows the next links), then with $top
# (the library asks for one page then, as the client pages itself).
since = datetime.datetime(2026, 10, 15, tzinfo=datetime.timezone.utc)
q = (service.query(Dialogue)
     .filter(Dialogue.Outcome == "Abandoned")
     .filter(Dialogue.startTimestamp >= since)
     .order_by(Dialogue.startTimestamp.desc()))
expected = graphql_ids("dialogues", "Dialogue",
                       {"outcome": {"eq": "ABANDONED"}, "startTimestamp": {"gte": "2026-10-15T00:00:00Z"}},
                       [{"field": "START_TIMESTAMP", "direction": "DESC"}])
if len(expected) <= 2 * PAGE_SIZE:
    sys.exit(f"FAIL the demo data has only {len(expected)} abandoned dialogues since {since}: too few to page")
check("Dialogues: Outcome eq 'Abandoned' and startTimestamp ge ..., newest first", [d.id for d in q], expected)
check("... with $top 5", [d.id for d in q.limit(5)], expected[:5])
check("... with $top 5 and $skip 3", [d.id for d in q.limit(5).offset(3)], expected[3:8])

got = [d.id for d in service.query(Dialogue)
       .filter(Query.grouped(Query.or_(Dialogue.direction == 2, Dialogue.orderNumber <= 50)))
       .order_by(Dialogue.orderNumber.desc())]
expected = graphql_ids("dialogues", "Dialogue",
                       {"or": [{"direction": {"eq": "OUTBOUND"}}, {"orderNumber": {"lte": 50}}]},
                       [{"field": "ORDER_NUMBER", "direction": "DESC"}])
check("Dialogues: direction eq 2 or orderNumber le 50, orderNumber desc", got, expected)

# 4. Values as the library reads them, against GraphQL's.
first = service.query(Dialogue).filter(Dialogue.queueId != None).order_by(Dialogue.startTimestamp.asc()).first()  # noqa: E711
g = graphql("query($id: ID!) { dialogue(id: $id) { id startTimestamp queueId orderNumber direction outcome } }",
            {"id": first.id})["dialogue"]
check("a dialogue's values",
      (first.id, first.startTimestamp, first.queueId, first.orderNumber, first.direction, first.Outcome),
      (g["id"], datetime.datetime.fromisoformat(g["startTimestamp"].replace("Z", "+00:00")), g["queueId"],
       g["orderNumber"], {"INBOUND": 1, "OUTBOUND": 2}[g["direction"]],
       {"ACCEPTED": "Accepted", "ABANDONED": "Abandoned", "IVR_DROP": "IvrDrop"}[g["outcome"]]))

# 5. A single entity by key, and $expand of a navigation property.
one = service.query(Dialogue).get(first.id)
check("Query.get(id) (python-odata asks `$filter=id eq ...`)", one.id, first.id)
expanded = service.query(Dialogue).filter(Dialogue.id == first.id).expand(Dialogue.queue).first()
g = graphql("query($id: ID!) { dialogue(id: $id) { queue { id name } } }", {"id": first.id})["dialogue"]
check("$expand=queue", (expanded.queue.id, expanded.queue.name), (g["queue"]["id"], g["queue"]["name"]))

# 6. Endpoints: startswith and a role, as GraphQL answers them.
queues = [e.id for e in service.query(Endpoint).filter(Endpoint.Role == "Queue")]
check("Endpoints: Role eq 'Queue'", queues, graphql_ids("endpoints", "Endpoint", {"role": {"eq": "QUEUE"}}))
names = [e for e in service.query(Endpoint).filter(Endpoint.Role == "Agent").order_by(Endpoint.name.asc()).limit(1)]
prefix = names[0].name[:2]
got = [e.id for e in service.query(Endpoint).filter(Endpoint.name.startswith(prefix))]
check(f"Endpoints: startswith(name, '{prefix}')", got,
      graphql_ids("endpoints", "Endpoint", {"name": {"startsWith": prefix}}))

# 7. The counts.
count = requests.get(f"{BASE}/odata/Dialogues/$count", timeout=60).text
check("/Dialogues/$count", int(count), graphql("{ dialogues { totalCount } }")["dialogues"]["totalCount"])

# 8. Queue intervals (15 minutes, UTC: the defaults) of a week, walked by next links, against
# dialogueStats(granularity: FIFTEEN_MINUTES, groupBy: [QUEUE]) over the same window.
QueueInterval = service.entities["QueueIntervals"]
start = datetime.datetime(2026, 10, 15, tzinfo=datetime.timezone.utc)
end = datetime.datetime(2026, 10, 22, tzinfo=datetime.timezone.utc)
SEEN.clear()
got = [(i.intervalStart, i.queueId, i.offered, i.accepted, i.serviceLevel, i.averageSpeedOfAnswer)
       for i in service.query(QueueInterval)
       .filter(QueueInterval.intervalStart >= start)
       .filter(QueueInterval.intervalStart < end)]
rows = graphql("""query { dialogueStats(from: "2026-10-15T00:00:00Z", to: "2026-10-22T00:00:00Z",
                  granularity: FIFTEEN_MINUTES, groupBy: [QUEUE]) {
                  periodStart queueId offered accepted serviceLevel { value } averageSpeedOfAnswer } }""")["dialogueStats"]
expected = [(datetime.datetime.fromisoformat(r["periodStart"].replace("Z", "+00:00")), r["queueId"], r["offered"],
             r["accepted"], r["serviceLevel"]["value"], r["averageSpeedOfAnswer"]) for r in rows if r["queueId"]]
if len(expected) <= 2 * PAGE_SIZE:
    sys.exit(f"FAIL only {len(expected)} queue intervals in the week: too few to page")
check("QueueIntervals: intervalStart ge ... and lt ..., by next links", got, expected)
if not any("QueueIntervals" in u and "skiptoken" in u for u in SEEN):
    sys.exit("FAIL the library did not follow the QueueIntervals next links")

print(f"{len(CHECKS)} passed, 0 failed")
