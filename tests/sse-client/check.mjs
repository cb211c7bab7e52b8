#!/usr/bin/env node
// The graphql-sse client (npm, pinned in package-lock.json; distinct connections mode) against a
// running server's POST /graphql/stream:
//
//   node check.mjs BASE_URL READ_INGEST_KEY INGEST_ONLY_KEY
//
// - subscribes to dialogueIngested (ABANDONED only), writes three dialogues with the
//   ingestDialogues mutation over /graphql, and expects exactly the two abandoned ones as events,
//   in the order written, with the fields written; a replay of the same call emits nothing;
// - dialogueStatsChanged's first result equals what dialogueStats answers over /graphql;
// - a query through the client: one result, equal to /graphql's, then the client completes;
// - an invalid subscription: one result with GRAPHQL_VALIDATION_FAILED, then it completes;
// - a key without the `read` scope: the client fails with the server's 403.
// Exits 1 with the reason on the first difference.
import { createClient } from 'graphql-sse';

const [base, key, ingestOnly] = process.argv.slice(2);
if (!base || !key || !ingestOnly) {
  console.error('usage: node check.mjs BASE_URL READ_INGEST_KEY INGEST_ONLY_KEY');
  process.exit(2);
}
const TIMEOUT_MS = 20_000;

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}:\n  got      ${a}\n  expected ${e}`);
}

async function graphql(query, variables = {}, withKey = key) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${withKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** Open subscriptions, as the server's /metrics counts them. */
async function openSubscriptions() {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('insights_subscriptions_open '));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function until(condition, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

const client = createClient({
  url: `${base}/graphql/stream`,
  headers: { Authorization: `Bearer ${key}` },
  retryAttempts: 0,
});

/** Runs one operation through the client: every result, and how it ended. */
function collect(request, { stopAfter = Infinity, onConnected } = {}) {
  const results = [];
  let dispose;
  const done = new Promise((resolve) => {
    dispose = client.subscribe(
      request,
      {
        next: (result) => {
          results.push(result);
          if (results.length >= stopAfter) {
            dispose();
            resolve({ results, ended: 'stopped' });
          }
        },
        error: (error) => resolve({ results, ended: 'error', error }),
        complete: () => resolve({ results, ended: 'complete' }),
      },
      { connected: () => onConnected?.() },
    );
  });
  return { results, done, dispose: () => dispose() };
}

try {
  // 1. dialogueIngested, filtered, fed by the ingest mutation.
  const stamp = Date.now();
  const records = [
    { id: `sse-${stamp}-1`, orderNumber: 1_700_000_000 + (stamp % 100_000) * 3, outcome: 'ACCEPTED' },
    { id: `sse-${stamp}-2`, orderNumber: 1_700_000_001 + (stamp % 100_000) * 3, outcome: 'ABANDONED' },
    { id: `sse-${stamp}-3`, orderNumber: 1_700_000_002 + (stamp % 100_000) * 3, outcome: 'ABANDONED' },
  ];
  const before = await openSubscriptions();
  let connected = false;
  const ingested = collect(
    {
      query: 'subscription ($filter: DialogueFilter) { dialogueIngested(filter: $filter) { id outcome orderNumber } }',
      variables: { filter: { outcome: { eq: 'ABANDONED' } } },
    },
    { onConnected: () => (connected = true) },
  );
  await until(async () => connected && (await openSubscriptions()) > before, 'the subscription to open');
  const now = new Date();
  const dialogues = records.map((r, i) => ({
    ...r,
    startTimestamp: new Date(now.getTime() - 60_000 + i * 1000).toISOString(),
    direction: 'INBOUND',
  }));
  const mutation = 'mutation ($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { received inserted unchanged } }';
  const written = await graphql(mutation, { d: dialogues });
  // The commit's position comes back for read-your-writes; an opaque token, checked for shape.
  const position = written.extensions?.commitPosition;
  if (typeof position !== 'string' || !/^[A-Za-z0-9_-]+$/.test(position)) {
    throw new Error(`the ingest: no commit position in ${JSON.stringify(written)}`);
  }
  same(
    written,
    { data: { ingestDialogues: { received: 3, inserted: 3, unchanged: 0 } }, extensions: { commitPosition: position } },
    'the ingest',
  );
  const expected = records
    .filter((r) => r.outcome === 'ABANDONED')
    .map((r) => ({ data: { dialogueIngested: { id: r.id, outcome: r.outcome, orderNumber: r.orderNumber } } }));
  await until(async () => ingested.results.length >= expected.length, `${expected.length} events`);
  // A replay changes nothing and emits nothing.
  // (It still committed, and says where: a later commit position than the first call's.)
  const replayed = await graphql(mutation, { d: dialogues });
  same(replayed.data, { ingestDialogues: { received: 3, inserted: 0, unchanged: 3 } }, 'the replay');
  if (typeof replayed.extensions?.commitPosition !== 'string' || replayed.extensions.commitPosition === position) {
    throw new Error(`the replay: expected a new commit position, got ${JSON.stringify(replayed)}`);
  }
  await new Promise((r) => setTimeout(r, 1500));
  same(ingested.results, expected, 'dialogueIngested events');
  ingested.dispose();
  console.log(`dialogueIngested over graphql-sse: ${ingested.results.length} events, as written`);

  // 2. dialogueStatsChanged: its first result is dialogueStats.
  const statsQuery = '($tz: String) { %s(period: TODAY, timeZone: $tz, groupBy: [OUTCOME]) { outcome dialogues averageSpeedOfAnswer } }';
  const first = await withTimeout(
    collect({ query: `subscription ${statsQuery.replace('%s', 'dialogueStatsChanged')}`, variables: { tz: 'UTC' } }, { stopAfter: 1 }).done,
    'the first dialogueStatsChanged result',
  );
  const stats = await graphql(`query ${statsQuery.replace('%s', 'dialogueStats')}`, { tz: 'UTC' });
  same(first.results[0], { data: { dialogueStatsChanged: stats.data.dialogueStats } }, 'dialogueStatsChanged vs dialogueStats');
  console.log(`dialogueStatsChanged over graphql-sse: ${stats.data.dialogueStats.length} groups, equal to dialogueStats`);

  // 3. A query: one result, then complete.
  const query = '{ dialogues(first: 2, orderBy: [{ field: START_TIMESTAMP, direction: DESC }]) { totalCount nodes { id } } }';
  const single = await withTimeout(collect({ query }).done, 'the query');
  same(single.ended, 'complete', 'how the query ended');
  same(single.results, [await graphql(query)], 'the query over SSE vs /graphql');

  // 4. An invalid subscription: its errors as a result, then complete.
  const invalid = await withTimeout(collect({ query: 'subscription { dialogueIngested { nope } }' }).done, 'the invalid subscription');
  same(invalid.ended, 'complete', 'how the invalid subscription ended');
  same(invalid.results.map((r) => r.errors?.[0]?.extensions?.code), ['GRAPHQL_VALIDATION_FAILED'], 'the invalid subscription');

  // 5. A key without `read`: refused before the stream opens.
  const refusedClient = createClient({
    url: `${base}/graphql/stream`,
    headers: { Authorization: `Bearer ${ingestOnly}` },
    retryAttempts: 0,
  });
  const refused = await withTimeout(
    new Promise((resolve) => {
      refusedClient.subscribe(
        { query: 'subscription { dialogueIngested { id } }' },
        { next: () => resolve('a result'), error: (e) => resolve(e), complete: () => resolve('complete') },
      );
    }),
    'the refusal',
  );
  if (!(refused instanceof Error) || refused.response?.status !== 403) {
    fail(`a key without read: expected the client to fail with 403, got ${refused?.message ?? refused}`);
  }
  refusedClient.dispose();
  client.dispose();
  console.log('ok: graphql-sse subscribed, received the ingested dialogues, and saw the refusals');
  process.exit(0);
} catch (error) {
  fail(error?.stack ?? String(error));
}
