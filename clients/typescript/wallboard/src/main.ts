// The wallboard served at /wallboard: per queue for today in a chosen time zone (offered,
// accepted, service level, abandon rate, average speed of answer) and the day by hour, from the
// generated typed client. Live through `dialogueStatsChanged` when the server has it (over
// WebSocket, else over Server-Sent Events), else it polls; the pill in the header says which.
// Asks for an API key (kept in localStorage) only when the server answers 401.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  Tooltip,
} from 'chart.js';
import { GraphQLRequestError, InsightsClient } from '../../src/client';
import { percent, seconds } from '../../src/dashboard';
import {
  WallboardCapabilitiesDocument,
  WallboardTodayDocument,
  type QueueFiguresFragment,
  type WallboardTodayQuery,
} from '../../src/generated/graphql';
import { startLive, TRANSPORT_NAMES, TRANSPORTS, type Live, type Transport } from './live';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const KEY_STORAGE = 'insights.wallboard.apiKey';
const ZONE_STORAGE = 'insights.wallboard.timeZone';
const params = new URLSearchParams(location.search);
/** Seconds between polls (`?poll=N`, at least 1; default 10). */
const POLL_SECONDS = Math.max(1, Number(params.get('poll')) || 10);
/** While live, a slower poll anyway: on SQLite the server hears only its own process's writes
 * (an `insights import` from another process emits nothing), and a missed event or a new day
 * should not leave the board stale for long. */
const LIVE_SAFETY_POLL_SECONDS = POLL_SECONDS * 3;
/** The live transports to try, in order (`?transport=websocket|sse|poll` keeps to one; by
 * default WebSocket, then Server-Sent Events), before polling. */
const LIVE_TRANSPORTS: readonly Transport[] = (() => {
  const asked = params.get('transport');
  if (asked === 'poll' || asked === 'polling') return [];
  return TRANSPORTS.includes(asked as Transport) ? [asked as Transport] : TRANSPORTS;
})();

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
};

function storedKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function isZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function storedZone(): string | null {
  try {
    return localStorage.getItem(ZONE_STORAGE);
  } catch {
    return null;
  }
}

function initialZone(): string {
  const candidates = [params.get('tz'), storedZone(), browserZone(), 'UTC'];
  return candidates.find((z): z is string => !!z && isZone(z)) ?? 'UTC';
}

const state = {
  apiKey: storedKey(),
  zone: initialZone(),
  live: null as Live | null,
  /** The transport of the last live result, until it stops. */
  liveTransport: null as Transport | null,
  pollTimer: 0 as number | ReturnType<typeof setTimeout>,
  refreshing: false,
  again: false,
  chart: null as Chart<'bar'> | null,
  stopped: false,
};

// Polling wants today's figures, not the few seconds' old answer the browser may keep.
const client = new InsightsClient({ endpoint: '/graphql', apiKey: state.apiKey, cache: 'no-cache' });

// ---- figures ---------------------------------------------------------------------------------

type Figure = {
  field: string;
  label: string;
  text: string;
  value: number | null;
  tone?: 'good' | 'warn' | 'bad';
};

function tone(value: number | null, good: number, warn: number, higherIsBetter: boolean) {
  if (value == null) return undefined;
  if (higherIsBetter) return value >= good ? 'good' : value >= warn ? 'warn' : 'bad';
  return value <= good ? 'good' : value <= warn ? 'warn' : 'bad';
}

function figures(row: QueueFiguresFragment): Figure[] {
  return [
    { field: 'offered', label: 'Offered', text: String(row.offered), value: row.offered },
    { field: 'accepted', label: 'Accepted', text: String(row.accepted), value: row.accepted },
    {
      field: 'serviceLevel',
      label: 'Service level',
      text: percent(row.serviceLevel),
      value: row.serviceLevel.value,
      tone: tone(row.serviceLevel.value, 0.8, 0.6, true),
    },
    {
      field: 'abandonRate',
      label: 'Abandoned',
      text: percent(row.abandonRate),
      value: row.abandonRate.value,
      tone: tone(row.abandonRate.value, 0.05, 0.1, false),
    },
    {
      field: 'averageSpeedOfAnswer',
      label: 'Avg. answer',
      text: seconds(row.averageSpeedOfAnswer),
      value: row.averageSpeedOfAnswer,
    },
  ];
}

function fillFigures(list: HTMLElement, row: QueueFiguresFragment): void {
  list.replaceChildren(
    ...figures(row).map((figure) => {
      const item = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = figure.label;
      const dd = document.createElement('dd');
      dd.dataset.field = figure.field;
      dd.dataset.value = figure.value == null ? '' : String(figure.value);
      dd.textContent = figure.text;
      if (figure.tone) dd.className = figure.tone;
      item.append(dt, dd);
      return item;
    }),
  );
}

function queueCard(row: WallboardTodayQuery['queues'][number]): HTMLElement {
  const card = document.createElement('article');
  card.className = 'card queue';
  card.dataset.queueId = row.queueId ?? '';
  const title = document.createElement('h2');
  title.textContent = row.queue?.name ?? row.queueId ?? 'No queue';
  const list = document.createElement('dl');
  list.className = 'figures';
  fillFigures(list, row);
  card.append(title, list);
  return card;
}

// ---- chart -----------------------------------------------------------------------------------

function hourOf(instant: string, zone: string): number {
  const text = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone: zone }).format(
    new Date(instant),
  );
  return Number(text) % 24;
}

function renderChart(rows: WallboardTodayQuery['byHour']): void {
  const labels = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`);
  const series = { offered: new Array<number>(24).fill(0), accepted: new Array<number>(24).fill(0), abandoned: new Array<number>(24).fill(0) };
  for (const row of rows) {
    if (!row.periodStart) continue;
    const hour = hourOf(row.periodStart, state.zone);
    series.offered[hour] = (series.offered[hour] ?? 0) + row.offered;
    series.accepted[hour] = (series.accepted[hour] ?? 0) + row.accepted;
    series.abandoned[hour] = (series.abandoned[hour] ?? 0) + row.abandoned;
  }
  const canvas = $<HTMLCanvasElement>('by-hour');
  canvas.dataset.offered = series.offered.join(',');
  const datasets = [
    { label: 'Offered', data: series.offered, backgroundColor: '#58a6ff' },
    { label: 'Accepted', data: series.accepted, backgroundColor: '#3fb950' },
    { label: 'Abandoned', data: series.abandoned, backgroundColor: '#f85149' },
  ];
  if (!state.chart) {
    const fontSize = Math.round(Math.min(28, Math.max(12, window.innerWidth / 90)));
    state.chart = new Chart(canvas, {
      type: 'bar',
      data: { labels, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        responsive: true,
        scales: {
          x: { ticks: { color: '#8b949e', font: { size: fontSize }, maxRotation: 0, autoSkip: true }, grid: { color: '#30363d' } },
          y: { beginAtZero: true, ticks: { color: '#8b949e', precision: 0, font: { size: fontSize } }, grid: { color: '#30363d' } },
        },
        plugins: { legend: { labels: { color: '#e6edf3', font: { size: fontSize } } } },
      },
    });
  } else {
    state.chart.data.labels = labels;
    state.chart.data.datasets = datasets;
    state.chart.update();
  }
}

// ---- page states -----------------------------------------------------------------------------

function setMode(text: string, kind: 'live' | 'polling' | 'error' | '', transport: Transport | 'polling' | '' = ''): void {
  const mode = $('mode');
  mode.textContent = text;
  mode.className = `pill ${kind}`.trim();
  document.body.dataset.mode = kind;
  document.body.dataset.transport = transport;
}

function showMessage(text: string | null): void {
  const message = $('message');
  message.hidden = text == null;
  message.textContent = text ?? '';
}

function showKeyForm(error: string | null): void {
  $('board').hidden = true;
  $('key-form').hidden = false;
  const problem = $('key-error');
  problem.hidden = error == null;
  problem.textContent = error ?? '';
  $<HTMLInputElement>('key').focus();
}

function render(data: WallboardTodayQuery): void {
  $('key-form').hidden = true;
  showMessage(null);
  $('board').hidden = false;
  $('day').textContent = new Intl.DateTimeFormat(undefined, {
    timeZone: state.zone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
  }).format(new Date());
  const total = data.total[0];
  const totalList = $('total').querySelector('dl');
  if (totalList) {
    fillFigures(
      totalList,
      total ?? {
        offered: 0,
        accepted: 0,
        abandoned: 0,
        serviceLevel: { value: null, numerator: 0, denominator: 0 },
        abandonRate: { value: null, numerator: 0, denominator: 0 },
        averageSpeedOfAnswer: null,
      },
    );
  }
  // Dialogues that never reached a queue (outbound, IVR drops) form a group without one.
  const queues = data.queues.filter((row) => row.queueId != null).sort((a, b) =>
    (a.queue?.name ?? a.queueId ?? '').localeCompare(b.queue?.name ?? b.queueId ?? ''),
  );
  const container = $('queues');
  if (queues.length) container.replaceChildren(...queues.map(queueCard));
  else {
    const empty = document.createElement('p');
    empty.className = 'empty';
    empty.textContent = 'No dialogues yet today.';
    container.replaceChildren(empty);
  }
  renderChart(data.byHour);
  $('updated').textContent = `updated ${new Intl.DateTimeFormat(undefined, {
    timeZone: state.zone,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(new Date())}`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates ?? '0') + 1);
}

// ---- updates ---------------------------------------------------------------------------------

async function refresh(): Promise<void> {
  if (state.refreshing) {
    state.again = true;
    return;
  }
  state.refreshing = true;
  try {
    render(await client.request(WallboardTodayDocument, { timeZone: state.zone }));
    if (!state.live && !state.pollTimer) void startUpdates();
  } catch (error) {
    if (error instanceof GraphQLRequestError && (error.status === 401 || error.code === 'UNAUTHENTICATED')) {
      stopUpdates();
      setMode('needs a key', 'error');
      showKeyForm(state.apiKey ? `The saved key was refused: ${error.message}` : null);
      return;
    }
    const text = error instanceof Error ? error.message : String(error);
    setMode('error', 'error');
    showMessage(`Could not load the figures: ${text}`);
  } finally {
    state.refreshing = false;
    if (state.again) {
      state.again = false;
      void refresh();
    }
  }
}

function schedulePoll(seconds: number): void {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(() => {
    void refresh().finally(() => {
      if (!state.stopped) schedulePoll(seconds);
    });
  }, seconds * 1000);
}

function startPolling(reason: string): void {
  state.live?.stop();
  state.live = null;
  state.liveTransport = null;
  setMode(`polling every ${POLL_SECONDS} s`, 'polling', 'polling');
  $('mode').title = reason;
  schedulePoll(POLL_SECONDS);
}

async function serverHasLiveStats(): Promise<boolean> {
  try {
    const data = await client.request(WallboardCapabilitiesDocument, {});
    return !!data.__schema.subscriptionType?.fields?.some((f) => f.name === 'dialogueStatsChanged');
  } catch {
    return false; // e.g. introspection switched off: poll
  }
}

async function startUpdates(): Promise<void> {
  state.stopped = false;
  // Something to show meanwhile, and the fallback should the subscription not come up.
  schedulePoll(POLL_SECONDS);
  if (!LIVE_TRANSPORTS.length) {
    startPolling('polling, as ?transport=poll asks');
    return;
  }
  if (!(await serverHasLiveStats())) {
    startPolling('the server has no dialogueStatsChanged subscription');
    return;
  }
  state.liveTransport = null;
  state.live = startLive(
    state.apiKey,
    state.zone,
    {
      changed: (transport) => {
        if (state.liveTransport !== transport) {
          state.liveTransport = transport;
          setMode(`live · ${TRANSPORT_NAMES[transport]}`, 'live', transport);
          $('mode').title = `updated by the dialogueStatsChanged subscription over ${TRANSPORT_NAMES[transport]}`;
          schedulePoll(LIVE_SAFETY_POLL_SECONDS);
        }
        void refresh();
      },
      fellBack: (transport, reason) => {
        // Poll at the usual pace until the next transport is live.
        if (state.liveTransport === transport) {
          state.liveTransport = null;
          schedulePoll(POLL_SECONDS);
        }
        console.info(`wallboard: live updates over ${TRANSPORT_NAMES[transport]} stopped (${reason})`);
      },
      failed: (reason) => startPolling(`live updates failed: ${reason}`),
    },
    LIVE_TRANSPORTS,
  );
}

function stopUpdates(): void {
  state.stopped = true;
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
  state.live?.stop();
  state.live = null;
  state.liveTransport = null;
}

function restart(): void {
  stopUpdates();
  void refresh();
}

// ---- controls --------------------------------------------------------------------------------

function fillZones(): void {
  const select = $<HTMLSelectElement>('zone');
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const zones = new Set<string>(intl.supportedValuesOf?.('timeZone') ?? []);
  zones.add('UTC');
  zones.add(browserZone());
  zones.add(state.zone);
  select.replaceChildren(
    ...[...zones].sort().map((zone) => {
      const option = document.createElement('option');
      option.value = zone;
      option.textContent = zone;
      option.selected = zone === state.zone;
      return option;
    }),
  );
  select.addEventListener('change', () => {
    state.zone = select.value;
    try {
      localStorage.setItem(ZONE_STORAGE, state.zone);
    } catch {
      // private mode: the choice lasts this page only
    }
    restart();
  });
}

function wireKeyForm(): void {
  const forget = $<HTMLButtonElement>('forget-key');
  forget.hidden = !state.apiKey;
  $<HTMLFormElement>('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $<HTMLInputElement>('key').value.trim();
    if (!key) return;
    state.apiKey = key;
    client.setApiKey(key);
    try {
      localStorage.setItem(KEY_STORAGE, key);
    } catch {
      // kept for this page only
    }
    forget.hidden = false;
    restart();
  });
  forget.addEventListener('click', () => {
    try {
      localStorage.removeItem(KEY_STORAGE);
    } catch {
      // nothing was stored
    }
    state.apiKey = null;
    client.setApiKey(null);
    forget.hidden = true;
    restart();
  });
}

fillZones();
wireKeyForm();
void refresh();
