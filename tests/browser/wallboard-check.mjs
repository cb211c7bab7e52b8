#!/usr/bin/env node
// The wallboard (GET /wallboard) in headless Chromium, against a running server with demo data.
//
//   node wallboard-check.mjs BASE_URL SCREENSHOT_DIR [--key KEY] [--expect-transport T]
//                            [--blocked websocket[,sse]] [--page-query Q]
//
// Opens BASE_URL/wallboard in a browser whose zone is Europe/Amsterdam and checks that:
// - it renders with no console error and no page error, loading nothing from another host;
// - the zone selector defaults to the browser's zone;
// - every figure shown (per queue and for all queues: offered, accepted, service level, abandon
//   rate, average speed of answer) equals what /graphql answers for TODAY in that zone, as
//   numbers and as the text shown; the chart's hourly offered counts equal the API's;
// - after `insights import` of a few new dialogues for today (INSIGHTS_BIN, INSIGHTS_DATABASE_URL
//   name the binary and database), the page shows the new figures by itself (live or polling);
// - after choosing another zone, it shows that zone's figures; behind a proxy that refuses
//   WebSockets, also when the zone changes back while the page's socket is still opening;
// and saves screenshots (TV 1920x1080 and laptop 1366x768) into SCREENSHOT_DIR.
// With --key KEY the server needs API keys: the page must ask for one (the expected 401 is the
// only console error allowed), and show the board once KEY is entered.
// The page must say how it keeps current (body[data-transport] and the pill's text): by default
// `websocket` when the server has the subscription, else `polling`; --expect-transport sse|
// websocket|polling says otherwise. --blocked names what a proxy in front of the server refuses
// (blocking-proxy.mjs): the browser's own messages about those refusals (a WebSocket that failed,
// a 502 from /graphql/stream) are then expected rather than errors. --page-query adds to the
// page's query string (e.g. transport=sse).
// CHROMIUM=/path/to/chromium overrides the browser (default /usr/bin/chromium).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const VALUED = ['--key', '--expect-transport', '--blocked', '--page-query'];
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : null;
};
const key = option('--key');
const expectTransport = option('--expect-transport');
const blocked = new Set((option('--blocked') ?? '').split(',').filter(Boolean));
const pageQuery = option('--page-query');
const values = new Set(VALUED.map((n) => args.indexOf(n)).filter((i) => i >= 0).map((i) => i + 1));
const positional = args.filter((a, i) => !a.startsWith('--') && !values.has(i));
const base = (positional[0] ?? 'http://127.0.0.1:4000').replace(/\/+$/, '');
const shots = positional[1] ?? '.';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const timeout = Number(process.env.WALLBOARD_CHECK_TIMEOUT_MS ?? 30000);
const ZONE = 'Europe/Amsterdam';
const OTHER_ZONE = 'America/New_York';
const suffix = `${key ? '-with-key' : ''}${expectTransport ? `-${expectTransport}` : ''}`;
const TRANSPORT_TEXT = { websocket: 'live · WebSocket', sse: 'live · Server-Sent Events' };

const QUERY = `query Check($timeZone: String!) {
  queues: dialogueStats(period: TODAY, timeZone: $timeZone, groupBy: [QUEUE]) {
    queueId offered accepted serviceLevel { value } abandonRate { value } averageSpeedOfAnswer
  }
  total: dialogueStats(period: TODAY, timeZone: $timeZone) {
    offered accepted serviceLevel { value } abandonRate { value } averageSpeedOfAnswer
  }
  byHour: dialogueStats(period: TODAY, timeZone: $timeZone, granularity: HOUR) { periodStart offered }
}`;

async function api(timeZone) {
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: QUERY, variables: { timeZone } }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`the API answered errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const percent = (v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`);
const seconds = (v) => (v == null ? '–' : `${v.toFixed(1)} s`);
function expected(row) {
  return {
    offered: [row.offered, String(row.offered)],
    accepted: [row.accepted, String(row.accepted)],
    serviceLevel: [row.serviceLevel.value, percent(row.serviceLevel.value)],
    abandonRate: [row.abandonRate.value, percent(row.abandonRate.value)],
    averageSpeedOfAnswer: [row.averageSpeedOfAnswer, seconds(row.averageSpeedOfAnswer)],
  };
}

/** What the page shows: per card (queue id, '' for all queues), field → [value, text]. */
async function shown(page) {
  return page.evaluate(() => {
    const cards = {};
    for (const card of document.querySelectorAll('[data-queue-id]')) {
      const figures = {};
      for (const dd of card.querySelectorAll('dd[data-field]')) {
        figures[dd.dataset.field] = [dd.dataset.value === '' ? null : Number(dd.dataset.value), dd.textContent];
      }
      cards[card.dataset.queueId] = figures;
    }
    const offeredByHour = (document.getElementById('by-hour')?.dataset.offered ?? '').split(',').map(Number);
    return { cards, offeredByHour };
  });
}

function hourOf(instant, zone) {
  const text = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone: zone }).format(new Date(instant));
  return Number(text) % 24;
}

/** Differences between the page and the API's answer (empty when equal). */
function compare(view, data, zone) {
  const problems = [];
  const want = { '': expected(data.total[0] ?? {
    offered: 0, accepted: 0, serviceLevel: { value: null }, abandonRate: { value: null }, averageSpeedOfAnswer: null,
  }) };
  for (const row of data.queues) if (row.queueId != null) want[row.queueId] = expected(row);
  const wantIds = Object.keys(want).sort();
  const haveIds = Object.keys(view.cards).sort();
  if (JSON.stringify(wantIds) !== JSON.stringify(haveIds)) {
    problems.push(`cards ${JSON.stringify(haveIds)}, API ${JSON.stringify(wantIds)}`);
  }
  for (const id of wantIds) {
    for (const [field, [value, text]] of Object.entries(want[id])) {
      const [haveValue, haveText] = view.cards[id]?.[field] ?? [];
      if (haveValue !== value || haveText !== text) {
        problems.push(`${id || 'all queues'} ${field}: shows ${haveValue} "${haveText}", API ${value} "${text}"`);
      }
    }
  }
  const hours = new Array(24).fill(0);
  for (const row of data.byHour) hours[hourOf(row.periodStart, zone)] += row.offered;
  if (JSON.stringify(hours) !== JSON.stringify(view.offeredByHour)) {
    problems.push(`chart offered by hour ${view.offeredByHour}, API ${hours}`);
  }
  return problems;
}

/** Waits until the page shows the API's figures for `zone`; returns the API's answer. */
async function waitForAgreement(page, zone, what) {
  const deadline = Date.now() + timeout;
  let problems = [];
  let data;
  while (Date.now() < deadline) {
    data = await api(zone);
    problems = compare(await shown(page), data, zone);
    if (!problems.length) return data;
    await page.waitForTimeout(500);
  }
  throw new Error(`${what}: the wallboard does not show the API's figures:\n  ${problems.join('\n  ')}`);
}

/** A few dialogues of the last minutes, for today, in the vendor's shape. */
function newDialogues(count) {
  const now = Date.now();
  const tag = `${now}`;
  const lines = [];
  for (let i = 0; i < count; i++) {
    const start = now - 90_000 + i * 1000;
    const iso = (ms) => new Date(ms).toISOString();
    lines.push(JSON.stringify({
      id: `wallboard-check-${tag}-${i}`,
      orderNumber: 1_500_000_000 + (Math.floor(now / 1000) % 100_000) * 10 + i,
      startTimestamp: iso(start),
      direction: 1,
      ivrId: 'demo-ivr-0',
      queueId: 'demo-queue-0',
      agentId: 'demo-agent-001',
      queueEnterTimestamp: iso(start + 10_000),
      acceptTimestamp: i % 2 ? null : iso(start + 15_000 + i * 1000),
      endTimestamp: iso(start + 60_000),
      Outcome: i % 2 ? 'Abandoned' : 'Accepted',
    }));
  }
  return lines.join('\n') + '\n';
}

const foreign = [];
const failed = [];
const pageErrors = [];
const consoleErrors = [];
let step = 'launching chromium';
let browser;
let page;

try {
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, timezoneId: ZONE, locale: 'en-GB' });
  page = await context.newPage();
  page.setDefaultTimeout(timeout);
  const baseHost = new URL(base).host;
  page.on('request', (request) => {
    const url = request.url();
    if (/^(data|blob|about):/.test(url)) return;
    if (new URL(url).host !== baseHost) foreign.push(url);
  });
  page.on('response', (response) => {
    const expectedUnauthorized = key && response.status() === 401;
    const blockedStream = blocked.has('sse') && response.status() === 502 && response.url().endsWith('/graphql/stream');
    if (response.status() >= 400 && !expectedUnauthorized && !blockedStream) failed.push(`${response.status()} ${response.url()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (key && /status of 401/.test(text)) return; // the page finding out that it needs a key
    // What the proxy refuses, as the browser reports it.
    if (blocked.has('websocket') && /^WebSocket connection to 'ws:\/\/[^']*\/graphql' failed/.test(text)) return;
    if (blocked.has('sse') && /status of 502/.test(text) && message.location().url.endsWith('/graphql/stream')) return;
    consoleErrors.push(text);
  });

  step = `opening ${base}/wallboard`;
  const response = await page.goto(`${base}/wallboard?poll=2${pageQuery ? `&${pageQuery}` : ''}`, { waitUntil: 'load' });
  if (!response?.ok()) throw new Error(`GET /wallboard answered ${response?.status()}`);

  if (key) {
    step = 'waiting for the API key form';
    await page.waitForSelector('#key-form:not([hidden])');
    await page.screenshot({ path: join(shots, `wallboard-asks-for-key${suffix}.png`) });
    await page.fill('#key', key);
    await page.click('#key-form button[type=submit]');
  }

  step = 'waiting for the queue cards';
  await page.waitForSelector('#board:not([hidden]) .card.queue');
  if (await page.isVisible('#key-form')) throw new Error('the API key form is shown next to the board');
  const zone = await page.$eval('#zone', (select) => select.value);
  if (zone !== ZONE) throw new Error(`the zone selector shows ${zone}, not the browser's ${ZONE}`);

  step = 'checking how the page keeps current';
  const introspection = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query: '{ __schema { subscriptionType { fields { name } } } }' }),
  }).then((r) => r.json());
  const hasSubscription = !!introspection.data?.__schema?.subscriptionType?.fields?.some((f) => f.name === 'dialogueStatsChanged');
  // With the subscription in the schema the page must go live (over WebSocket unless told
  // otherwise); without, it polls.
  const transport = expectTransport ?? (hasSubscription ? 'websocket' : 'polling');
  const live = transport !== 'polling';
  await page.waitForFunction(
    ([mode, transport]) => document.body.dataset.mode === mode && document.body.dataset.transport === transport,
    [live ? 'live' : 'polling', transport],
  );
  const pill = await page.$eval('#mode', (m) => m.textContent);
  const wantPill = live ? TRANSPORT_TEXT[transport] : 'polling every 2 s';
  if (pill !== wantPill) throw new Error(`the page says "${pill}", not "${wantPill}"`);

  step = 'comparing the figures with the API';
  const before = await waitForAgreement(page, ZONE, 'on load');
  if (!before.total[0] || before.total[0].offered === 0) {
    throw new Error('the demo data has nothing offered today: nothing to compare');
  }
  const mode = await page.$eval('#mode', (m) => m.textContent);
  const queues = await page.$$eval('.card.queue', (cards) => cards.length);
  console.log(`wallboard: ${queues} queues, ${before.total[0].offered} offered today in ${ZONE}; updates: ${mode} (data-transport=${transport})`);
  await page.screenshot({ path: join(shots, `wallboard-tv${suffix}.png`) });

  if (!key) {
    step = 'importing new dialogues for today';
    const bin = process.env.INSIGHTS_BIN;
    const db = process.env.INSIGHTS_DATABASE_URL;
    if (!bin || !db) throw new Error('INSIGHTS_BIN and INSIGHTS_DATABASE_URL must name the server\'s binary and database');
    const dir = mkdtempSync(join(tmpdir(), 'wallboard-check-'));
    const file = join(dir, 'today.ndjson');
    writeFileSync(file, newDialogues(6));
    const updatesBefore = await page.evaluate(() => Number(document.body.dataset.updates ?? 0));
    console.log(execFileSync(bin, ['--database-url', db, '--log', 'warn', 'import', 'dialogues', file, '--quiet'], { encoding: 'utf8' }).trim());
    step = 'waiting for the wallboard to show the import';
    const imported = Date.now();
    const after = await waitForAgreement(page, ZONE, 'after the import');
    if (after.total[0].offered !== before.total[0].offered + 6) {
      throw new Error(`offered went from ${before.total[0].offered} to ${after.total[0].offered}, not up by 6`);
    }
    const updatesAfter = await page.evaluate(() => Number(document.body.dataset.updates ?? 0));
    if (updatesAfter <= updatesBefore) throw new Error('the page did not update');
    const took = (Date.now() - imported) / 1000;
    // ?poll=2: polling shows it within a poll; live within the safety poll (3 polls) even when
    // the import's process cannot notify this server (SQLite); plus time for the requests.
    const bound = (live ? 3 * 2 : 2) + 4;
    if (took > bound) throw new Error(`the import took ${took.toFixed(1)} s to show, more than ${bound} s`);
    const mode2 = await page.$eval('#mode', (m) => m.textContent);
    console.log(`after the import: ${after.total[0].offered} offered, shown without a reload within ${((Date.now() - imported) / 1000).toFixed(1)} s (${mode2})`);

    step = `choosing ${OTHER_ZONE}`;
    await page.selectOption('#zone', OTHER_ZONE);
    await waitForAgreement(page, OTHER_ZONE, `in ${OTHER_ZONE}`);

    step = 'the laptop screenshot';
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.selectOption('#zone', ZONE);
    await waitForAgreement(page, ZONE, 'back in Amsterdam');
    await page.screenshot({ path: join(shots, `wallboard-laptop${suffix}.png`) });
  }

  if (blocked.has('websocket') && live) {
    // The page starts over on a zone change, trying WebSocket first again. Changing back while
    // that socket is still opening (run with blocking-proxy.mjs --refuse-after-ms, so there is
    // time) must stop it without a page error, and end live over the same transport.
    step = 'changing zones while the WebSocket is still opening';
    const opening = page.waitForEvent('websocket');
    await page.selectOption('#zone', OTHER_ZONE);
    await opening;
    await page.selectOption('#zone', ZONE);
    await waitForAgreement(page, ZONE, 'after changing zones mid-connect');
    await page.waitForFunction(
      ([transport]) => document.body.dataset.mode === 'live' && document.body.dataset.transport === transport,
      [transport],
    );
    await page.waitForTimeout(1500); // the refusal of the abandoned socket arrives meanwhile
  }

  step = 'checking requests and console';
  if (foreign.length) throw new Error(`requests to other hosts:\n  ${foreign.join('\n  ')}`);
  if (failed.length) throw new Error(`failed requests:\n  ${failed.join('\n  ')}`);
  if (pageErrors.length) throw new Error(`page errors:\n  ${pageErrors.join('\n  ')}`);
  if (consoleErrors.length) throw new Error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  console.log(`ok: the wallboard${key ? ' (with an API key)' : ''} shows the API's figures; screenshots in ${shots}`);
  await browser.close();
  process.exit(0);
} catch (error) {
  console.error(`FAILED while ${step}: ${error?.message ?? error}`);
  for (const e of pageErrors) console.error(`page error: ${e}`);
  for (const e of consoleErrors) console.error(`console error: ${e}`);
  for (const e of failed) console.error(`failed request: ${e}`);
  if (page) {
    await page.screenshot({ path: join(shots, `wallboard-failure${suffix}.png`), fullPage: true }).catch(() => {});
  }
  await browser?.close().catch(() => {});
  process.exit(1);
}
