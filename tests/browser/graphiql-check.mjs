#!/usr/bin/env node
// Smoke test of the self-hosted GraphiQL page in headless Chromium.
//
//   node graphiql-check.mjs [BASE_URL] [SCREENSHOT] [--render-only]
//
// Opens BASE_URL/graphql as a normal browser navigation, waits for GraphiQL's
// editor, runs the default query and waits for a `"data"` result, then saves a
// screenshot. Fails if the page requested anything from another host (i.e. a
// CDN), if an asset failed to load, or if any step times out.
// Then it runs `subscription { dialogueIngested { id } }` over GraphiQL's WebSocket, writes
// one dialogue with an `ingestDialogues` mutation sent from here, and waits for its id in the
// result pane. --key KEY puts `Authorization: Bearer KEY` in GraphiQL's Headers tab first
// (which GraphiQL also sends in the socket's connection_init); the key needs `read` and
// `ingest`.
// --render-only stops after the run button is clicked (for checking the page
// served statically, where there is no GraphQL server to answer).
// CHROMIUM=/path/to/chromium overrides the browser (default /usr/bin/chromium).

import { chromium } from 'playwright-core';

const argv = process.argv.slice(2);
const keyAt = argv.indexOf('--key');
const key = keyAt >= 0 ? argv[keyAt + 1] : undefined;
if (keyAt >= 0) argv.splice(keyAt, 2);
if (keyAt >= 0 && !key) {
  console.error('--key needs a value');
  process.exit(2);
}
const flags = argv.filter((a) => a.startsWith('--'));
const positional = argv.filter((a) => !a.startsWith('--'));
const base = (positional[0] ?? 'http://127.0.0.1:4000').replace(/\/+$/, '');
const screenshot = positional[1] ?? 'graphiql.png';
const renderOnly = flags.includes('--render-only');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const timeout = Number(process.env.GRAPHIQL_CHECK_TIMEOUT_MS ?? 30000);

const unknown = flags.filter((f) => f !== '--render-only');
if (unknown.length) {
  console.error(`unknown option(s): ${unknown.join(' ')}`);
  process.exit(2);
}

const baseHost = new URL(base).host;
const foreign = []; // requests to hosts other than the server
const failedAssets = []; // same-origin GETs answered with >= 400 or not at all
const pageErrors = [];
const consoleErrors = [];
const sentFrames = []; // what the page sent on its WebSockets
let step = 'launching chromium';
let browser;
let page;

function isLocalScheme(url) {
  return /^(data|blob|about|chrome|chrome-extension|devtools):/.test(url);
}

try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  if (key) {
    // GraphiQL keeps its Headers tab in localStorage (shouldPersistHeaders) and starts from it.
    const headers = JSON.stringify({ Authorization: `Bearer ${key}` });
    await context.addInitScript((value) => localStorage.setItem('graphiql:headers', value), headers);
  }
  page = await context.newPage();
  page.setDefaultTimeout(timeout);

  page.on('request', (request) => {
    const url = request.url();
    if (isLocalScheme(url)) return;
    if (new URL(url).host !== baseHost) foreign.push(`${request.method()} ${url}`);
  });
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== baseHost) foreign.push(`WEBSOCKET ${ws.url()}`);
    ws.on('framesent', (frame) => sentFrames.push(String(frame.payload)));
  });
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() === 'GET' && response.status() >= 400 && !isLocalScheme(response.url())) {
      failedAssets.push(`${response.status()} ${response.url()}`);
    }
  });
  page.on('requestfailed', (request) => {
    if (request.method() === 'GET' && !isLocalScheme(request.url())) {
      failedAssets.push(`${request.failure()?.errorText ?? 'failed'} ${request.url()}`);
    }
  });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });

  step = `opening ${base}/graphql`;
  const response = await page.goto(`${base}/graphql`, { waitUntil: 'load' });
  if (!response) throw new Error('navigation produced no response');
  const contentType = response.headers()['content-type'] ?? '';
  if (!response.ok() || !contentType.includes('text/html')) {
    const body = (await response.text().catch(() => '')).slice(0, 300);
    throw new Error(`GET /graphql answered ${response.status()} ${contentType || '(no content-type)'}: ${body}`);
  }

  step = 'waiting for .graphiql-container';
  await page.waitForSelector('.graphiql-container', { state: 'visible' });
  step = 'waiting for the CodeMirror query editor';
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { state: 'visible' });
  step = 'waiting for the default query in the editor';
  await page.waitForFunction(() => {
    const cm = document.querySelector('.graphiql-query-editor .CodeMirror');
    const text = cm?.CodeMirror?.getValue?.() ?? cm?.textContent ?? '';
    return text.includes('dialogues');
  });

  step = 'clicking the execute button';
  await page.click('.graphiql-execute-button');

  if (!renderOnly) {
    step = 'waiting for "data" in the result pane';
    const handle = await page
      .waitForFunction(() => {
        const cm = document.querySelector('.graphiql-response .CodeMirror');
        const text = cm?.CodeMirror?.getValue?.() ?? cm?.textContent ?? '';
        return text.includes('"data"') || text.includes('"errors"') ? text : false;
      })
      .catch(async (error) => {
        const shown = await page
          .evaluate(() => {
            const cm = document.querySelector('.graphiql-response .CodeMirror');
            return cm?.CodeMirror?.getValue?.() ?? cm?.textContent ?? '(no result pane)';
          })
          .catch(() => '(could not read the result pane)');
        throw new Error(`${error.message.split('\n')[0]}\nresult pane shows:\n${shown.slice(0, 2000)}`);
      });
    const text = await handle.jsonValue();
    if (!text.includes('"data"')) throw new Error(`the query failed; the result pane shows:\n${text.slice(0, 2000)}`);
    let result;
    try {
      result = JSON.parse(text);
    } catch {
      result = undefined; // the pane may show something other than plain JSON
    }
    if (result && (result.data === null || result.data === undefined)) {
      throw new Error(`the query returned no data:\n${text.slice(0, 2000)}`);
    }
    if (result?.errors) console.error(`warning: the result carries errors:\n${JSON.stringify(result.errors, null, 2)}`);

    step = 'running a subscription in GraphiQL';
    await page.evaluate(() => {
      const cm = document.querySelector('.graphiql-query-editor .CodeMirror');
      cm.CodeMirror.setValue('subscription { dialogueIngested { id } }');
    });
    // GraphiQL picks the transport from the document it parsed, which trails the editor a
    // little; clicking at once would send the previous (query) document's way.
    await page.waitForTimeout(1500);
    await page.click('.graphiql-execute-button');
    // GraphiQL opens a socket, sends connection_init with its headers, and once acknowledged
    // sends the subscribe.
    const until = Date.now() + timeout;
    while (!sentFrames.some((f) => f.includes('"subscribe"'))) {
      if (Date.now() > until) throw new Error(`no subscribe message on a socket; sent: ${JSON.stringify(sentFrames)}`);
      await page.waitForTimeout(100);
    }
    if (key && !sentFrames.some((f) => f.includes('connection_init') && f.includes(key))) {
      throw new Error(`connection_init did not carry the key from the Headers tab: ${JSON.stringify(sentFrames)}`);
    }
    await page.waitForTimeout(300);

    step = 'writing a dialogue with ingestDialogues';
    const id = `graphiql-subscription-${Date.now()}`;
    const now = new Date().toISOString();
    const written = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      body: JSON.stringify({
        query: 'mutation ($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted } }',
        variables: { d: [{ id, orderNumber: 1_500_000_000 + Math.floor(Math.random() * 500_000_000), startTimestamp: now, endTimestamp: now, direction: 'INBOUND', outcome: 'ACCEPTED' }] },
      }),
    }).then((r) => r.json());
    if (written?.data?.ingestDialogues?.inserted !== 1) {
      throw new Error(`the mutation did not insert the dialogue: ${JSON.stringify(written)}`);
    }

    step = `waiting for ${id} in the subscription's result pane`;
    await page
      .waitForFunction((wanted) => {
        const cm = document.querySelector('.graphiql-response .CodeMirror');
        const text = cm?.CodeMirror?.getValue?.() ?? cm?.textContent ?? '';
        return text.includes(wanted);
      }, id)
      .catch(async (error) => {
        const shown = await page
          .evaluate(() => {
            const cm = document.querySelector('.graphiql-response .CodeMirror');
            return cm?.CodeMirror?.getValue?.() ?? cm?.textContent ?? '(no result pane)';
          })
          .catch(() => '(could not read the result pane)');
        throw new Error(`${error.message.split('\n')[0]}\nresult pane shows:\n${shown.slice(0, 2000)}`);
      });
  } else {
    // Give GraphiQL a moment to show the (expected) fetch error before the screenshot.
    await page.waitForTimeout(1000);
  }

  step = 'checking requests';
  if (foreign.length) throw new Error(`the page made requests to hosts other than ${baseHost}:\n  ${foreign.join('\n  ')}`);
  if (failedAssets.length) throw new Error(`some GET requests failed:\n  ${failedAssets.join('\n  ')}`);

  step = `saving the screenshot to ${screenshot}`;
  await page.screenshot({ path: screenshot });
  for (const e of pageErrors) console.error(`warning: page error: ${e}`);
  console.log(`ok: GraphiQL at ${base}/graphql rendered${renderOnly ? '' : ' and ran the query and a subscription'}; screenshot: ${screenshot}`);
  await browser.close();
  process.exit(0);
} catch (error) {
  console.error(`FAILED while ${step}: ${error?.message ?? error}`);
  if (foreign.length) console.error(`requests to other hosts:\n  ${foreign.join('\n  ')}`);
  if (failedAssets.length) console.error(`failed GET requests:\n  ${failedAssets.join('\n  ')}`);
  for (const e of pageErrors) console.error(`page error: ${e}`);
  for (const e of consoleErrors) console.error(`console error: ${e}`);
  if (page) {
    await page
      .screenshot({ path: screenshot })
      .then(() => console.error(`screenshot of the failure: ${screenshot}`))
      .catch(() => {});
  }
  await browser?.close().catch(() => {});
  process.exit(1);
}
