// A second real OData client, from the TypeScript ecosystem: odata2ts generated the typed client in
// build/generated from the server's own $metadata (run.sh); this script queries Dialogues and
// QueueIntervals through it (typed filters, orders, $top/$skip/$count, $select, $expand, keys, the
// custom options `interval` and `timeZone` as request params), follows every @odata.nextLink with
// the library's fetch client, and compares each answer with what /graphql answers.
//
//   node build/js/check.js BASE_URL PAGE_SIZE      (run by run.sh; exits 1 on the first difference)
import { FetchClient } from "@odata2ts/http-client-fetch";
import type { ODataCollectionResponseV4 } from "@odata2ts/odata-core";
import { InsightsService } from "./build/generated/InsightsService";
import type { Dialogue, QueueInterval } from "./build/generated/InsightsModel";

const [BASE, PAGE_SIZE_ARG] = process.argv.slice(2);
const PAGE_SIZE = Number(PAGE_SIZE_ARG);
const client = new FetchClient();
const service = new InsightsService(client, `${BASE}/odata`);
let passed = 0;

function fail(message: string): never {
  console.error(`FAIL ${message}`);
  process.exit(1);
}

function check(name: string, got: unknown, expected: unknown): void {
  const [g, e] = [JSON.stringify(got), JSON.stringify(expected)];
  if (g !== e) {
    fail(`${name}:\n  OData (odata2ts): ${g.slice(0, 600)}\n  GraphQL:          ${e.slice(0, 600)}`);
  }
  passed += 1;
  const size = Array.isArray(got) ? ` (${got.length} rows)` : "";
  console.log(`ok   ${name}${size}`);
}

async function graphql(query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(`${BASE}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body: any = await response.json();
  if (body.errors) fail(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Every row of a collection: the first page the service answered, then each @odata.nextLink
 * fetched with the library's client. */
async function walk<T>(first: ODataCollectionResponseV4<T>): Promise<{ rows: T[]; pages: number }> {
  const rows = [...first.value];
  let next = first["@odata.nextLink"];
  let pages = 1;
  while (next) {
    if (!next.includes("%24skiptoken=")) fail(`a next link without $skiptoken: ${next}`);
    const page = await client.get<ODataCollectionResponseV4<T>>(next);
    rows.push(...page.data.value);
    next = page.data["@odata.nextLink"];
    pages += 1;
    if (pages > 1000) fail("the walk does not end");
  }
  return { rows, pages };
}

async function graphqlIds(filter: unknown, orderBy: unknown): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const data: any = await graphql(
      `query($f: DialogueFilter, $o: [DialogueOrder!], $a: String) {
         dialogues(first: 500, after: $a, filter: $f, orderBy: $o) { nodes { id } pageInfo { hasNextPage endCursor } } }`,
      { f: filter, o: orderBy, a: after },
    );
    ids.push(...data.dialogues.nodes.map((n: { id: string }) => n.id));
    if (!data.dialogues.pageInfo.hasNextPage) return ids;
    after = data.dialogues.pageInfo.endCursor;
  }
}

async function main(): Promise<void> {
  // --- Dialogues -----------------------------------------------------------------------------------
  const since = "2026-10-15T00:00:00Z";
  const abandoned = await service.Dialogues().query((b, q) =>
    b
      .filter(q.Outcome.eq("Abandoned").and(q.startTimestamp.ge(since)))
      .orderBy(q.startTimestamp.descending())
      .count(),
  );
  const expectedIds = await graphqlIds(
    { outcome: { eq: "ABANDONED" }, startTimestamp: { gte: since } },
    [{ field: "START_TIMESTAMP", direction: "DESC" }],
  );
  if (expectedIds.length <= 2 * PAGE_SIZE) fail(`only ${expectedIds.length} abandoned dialogues: too few to page`);
  const walked = await walk(abandoned.data);
  check("Dialogues: Outcome eq 'Abandoned' and startTimestamp ge ..., newest first, by next links",
    walked.rows.map((d) => d.id), expectedIds);
  check("... @odata.count", abandoned.data["@odata.count"], expectedIds.length);
  if (walked.pages < expectedIds.length / PAGE_SIZE) fail(`${walked.pages} pages for ${expectedIds.length} rows`);

  const window = await service.Dialogues().query((b, q) =>
    b.filter(q.queueId.isNotNull()).orderBy(q.orderNumber.descending()).top(5).skip(3).select("id", "orderNumber", "queueId"),
  );
  const byOrder = await graphqlIds({ queueId: { isNull: false } }, [{ field: "ORDER_NUMBER", direction: "DESC" }]);
  check("Dialogues: queueId ne null, orderNumber desc, $top 5 $skip 3, $select",
    window.data.value.map((d) => d.id), byOrder.slice(3, 8));

  const oneId = byOrder[0];
  const one = await service.Dialogues(oneId).query();
  const g = (await graphql(
    `query($id: ID!) { dialogue(id: $id) { id startTimestamp queueId orderNumber direction outcome queueDurationInSec } }`,
    { id: oneId },
  )).dialogue;
  const d: Dialogue = one.data;
  check("Dialogues(id): the values as typed",
    { id: d.id, start: Date.parse(d.startTimestamp), queueId: d.queueId, orderNumber: d.orderNumber,
      direction: d.direction, outcome: d.Outcome, queueDurationInSec: d.queueDurationInSec },
    { id: g.id, start: Date.parse(g.startTimestamp), queueId: g.queueId, orderNumber: g.orderNumber,
      direction: { INBOUND: 1, OUTBOUND: 2 }[g.direction as "INBOUND"],
      outcome: { ACCEPTED: "Accepted", ABANDONED: "Abandoned", IVR_DROP: "IvrDrop" }[g.outcome as "ACCEPTED"],
      queueDurationInSec: g.queueDurationInSec });

  // --- QueueIntervals ------------------------------------------------------------------------------
  // The entity type's measures: every one the generated type declares (the compiler checks each name),
  // and the object each row comes as must have exactly these members.
  const COUNTS = ["dialogues", "inbound", "outbound", "offered", "accepted", "abandoned", "quickDrops", "ivrDrops",
    "acceptedInSla"] as const satisfies readonly (keyof QueueInterval)[];
  const RATIOS = ["serviceLevel", "abandonRate", "answerRate"] as const satisfies readonly (keyof QueueInterval)[];
  const SECONDS = ["averageSpeedOfAnswer", "averageAbandonTime", "averageTalkTime", "averageIvrTime",
    "averageSessionTime", "maxQueueTime", "totalTalkTime"] as const satisfies readonly (keyof QueueInterval)[];
  const GRANULARITY: Record<number, string> = { 15: "FIFTEEN_MINUTES", 30: "THIRTY_MINUTES", 60: "HOUR", 1440: "DAY" };

  async function intervalsAgainstGraphql(zone: string, minutes: number, from: string, to: string, offsets: string[]) {
    const label = `QueueIntervals, interval=${minutes}, timeZone=${zone}, ${from} .. ${to}`;
    const first = await service.QueueIntervals().query(
      (b, q) => b.filter(q.intervalStart.ge(from).and(q.intervalStart.lt(to))).count(),
      { params: { interval: minutes, timeZone: zone } },
    );
    const { rows, pages } = await walk(first.data);
    const data = await graphql(
      `query($from: DateTime!, $to: DateTime!, $zone: String!) {
         dialogueStats(from: $from, to: $to, timeZone: $zone, granularity: ${GRANULARITY[minutes]}, groupBy: [QUEUE]) {
           periodStart periodEnd queueId ${COUNTS.join(" ")} ${RATIOS.map((r) => `${r} { value }`).join(" ")} ${SECONDS.join(" ")} } }`,
      { from, to, zone },
    );
    const expected = data.dialogueStats
      .filter((r: any) => r.queueId !== null)
      .map((r: any) => ({
        intervalStart: Date.parse(r.periodStart),
        intervalEnd: Date.parse(r.periodEnd),
        queueId: r.queueId,
        ...Object.fromEntries(COUNTS.map((c) => [c, r[c]])),
        ...Object.fromEntries(RATIOS.map((c) => [c, r[c].value])),
        ...Object.fromEntries(SECONDS.map((c) => [c, r[c]])),
      }));
    if (expected.length <= 2 * PAGE_SIZE) fail(`${label}: only ${expected.length} intervals, too few to page`);
    const members = ["intervalStart", "intervalEnd", "queueId", ...COUNTS, ...RATIOS, ...SECONDS].sort();
    for (const row of rows) {
      const keys = Object.keys(row).sort();
      if (JSON.stringify(keys) !== JSON.stringify(members)) fail(`${label}: members ${keys} are not ${members}`);
      for (const at of [row.intervalStart, row.intervalEnd]) {
        if (!offsets.some((o) => at.endsWith(o))) fail(`${label}: ${at} is not written in ${zone}'s offset`);
      }
    }
    const got = rows.map((r: QueueInterval) => ({
      intervalStart: Date.parse(r.intervalStart),
      intervalEnd: Date.parse(r.intervalEnd),
      queueId: r.queueId,
      ...Object.fromEntries(COUNTS.map((c) => [c, r[c]])),
      ...Object.fromEntries(RATIOS.map((c) => [c, r[c]])),
      ...Object.fromEntries(SECONDS.map((c) => [c, r[c]])),
    }));
    check(`${label}, by ${pages} pages`, got, expected);
    check(`... @odata.count`, first.data["@odata.count"], expected.length);
    return rows;
}

// Three days in Amsterdam around the autumn change (a 25-hour day), and three in Kolkata (+05:30).
const amsterdam = await intervalsAgainstGraphql("Europe/Amsterdam", 60, "2026-10-24T00:00:00+02:00",
  "2026-10-27T00:00:00+01:00", ["+01:00", "+02:00"]);
await intervalsAgainstGraphql("Europe/Amsterdam", 1440, "2026-10-12T00:00:00+02:00", "2026-10-31T00:00:00+02:00",
  ["+01:00", "+02:00"]);
await intervalsAgainstGraphql("Asia/Kolkata", 30, "2026-10-19T00:00:00+05:30", "2026-10-22T00:00:00+05:30",
  ["+05:30"]);
await intervalsAgainstGraphql("UTC", 15, "2026-10-20T00:00:00Z", "2026-10-22T00:00:00Z", ["Z"]);

// $select, $expand, an order on both keys, and one interval by its composite key.
const params = { params: { interval: 60, timeZone: "Europe/Amsterdam" } };
const selected = await service.QueueIntervals().query(
  (b, q) =>
    b.select("intervalStart", "queueId", "offered")
      .expand("queue")
      .filter(q.intervalStart.ge("2026-10-24T00:00:00+02:00").and(q.intervalStart.lt("2026-10-27T00:00:00+01:00")))
      .orderBy(q.queueId.descending(), q.intervalStart.ascending()),
  params,
);
const selectedRows = (await walk(selected.data)).rows;
const byQueue = [...amsterdam].sort((a, b) =>
  a.queueId === b.queueId ? Date.parse(a.intervalStart) - Date.parse(b.intervalStart) : a.queueId < b.queueId ? 1 : -1);
const queues = (await graphql(`{ endpoints(filter: { role: { eq: QUEUE } }) { nodes { id name } } }`)).endpoints.nodes;
const names = new Map(queues.map((e: { id: string; name: string }) => [e.id, e.name]));
check("QueueIntervals: $select, $expand=queue, $orderby=queueId desc,intervalStart",
  selectedRows.map((r) => [r.intervalStart, r.queueId, r.offered, r.queue?.id, r.queue?.name]),
  byQueue.map((r) => [r.intervalStart, r.queueId, r.offered, r.queueId, names.get(r.queueId)]));

const key = { intervalStart: amsterdam[3].intervalStart, queueId: amsterdam[3].queueId };
const single = await service.QueueIntervals(key).query(undefined, params);
const { ["@odata.context"]: _context, ...entity } = single.data as QueueInterval & { "@odata.context"?: string };
check("QueueIntervals(intervalStart=...,queueId='...'): the generated key path", entity, amsterdam[3]);

console.log(`${passed} passed, 0 failed`);
}

main().catch((error) => fail(String(error?.stack ?? error)));
