// Live updates through the `dialogueStatsChanged` subscription (API.md §5): over WebSocket
// (graphql-transport-ws on /graphql, with graphql-ws) and, when the socket cannot open (a proxy
// that drops WebSockets), over Server-Sent Events (graphql-sse's distinct connections mode on
// /graphql/stream, with graphql-sse). When neither runs, the page polls (main.ts). The
// operation is the generated, typed `WallboardTodayLive`
// (../../operations/subscriptions/wallboard-live.graphql).
import { print } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import {
  WallboardTodayLiveDocument,
  type WallboardTodayLiveSubscription,
  type WallboardTodayLiveSubscriptionVariables,
} from '../../src/generated/graphql';

const LIVE_STATS = print(WallboardTodayLiveDocument);

/** How the figures reach the page, in the order they are tried. */
export type Transport = 'websocket' | 'sse';
export const TRANSPORTS: readonly Transport[] = ['websocket', 'sse'];
export const TRANSPORT_NAMES: Record<Transport, string> = {
  websocket: 'WebSocket',
  sse: 'Server-Sent Events',
};

export interface Live {
  stop(): void;
}

export interface LiveHandlers {
  /** The server sent a (new) result over `transport`: the figures changed, or this is the
   * first one. */
  changed(transport: Transport): void;
  /** `transport` could not run or stopped (refused, blocked, closed); the next one is tried. */
  fellBack?(transport: Transport, reason: string): void;
  /** No transport runs: fall back to polling. */
  failed(reason: string): void;
}

/** What both clients hand over of a result. */
interface Result {
  data?: WallboardTodayLiveSubscription | null;
  errors?: ReadonlyArray<{ message: string }>;
}

/** One subscription over one transport: its results, and one call to `ended` when it stops. */
interface Sink {
  next(result: Result): void;
  ended(reason: string): void;
}

type Open = (apiKey: string | null, variables: WallboardTodayLiveSubscriptionVariables, sink: Sink) => () => void;

function socketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/graphql`;
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return error[0]?.message ?? 'subscription refused';
  if (typeof CloseEvent !== 'undefined' && error instanceof CloseEvent) {
    return `socket closed (${error.code}${error.reason ? `: ${error.reason}` : ''})`;
  }
  if (error instanceof Error) return error.message;
  if (typeof Event !== 'undefined' && error instanceof Event) return 'the socket could not open';
  return 'subscription failed';
}

/** graphql-transport-ws on /graphql; the key in `connection_init` (browsers cannot set headers
 * on a WebSocket). No retries: a socket that does not open means the next transport. */
const overWebSocket: Open = (apiKey, variables, sink) => {
  const client = createWsClient({
    url: socketUrl(),
    connectionParams: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
  const unsubscribe = client.subscribe<WallboardTodayLiveSubscription>(
    { query: LIVE_STATS, variables },
    {
      next: (result) => sink.next(result),
      error: (error) => sink.ended(describe(error)),
      complete: () => sink.ended('the server ended the subscription'),
    },
  );
  return () => {
    unsubscribe();
    // Stopped while the socket was still opening (a zone or key change): graphql-ws's dispose
    // awaits that opening, which a proxy that refuses the socket rejects with its error event.
    // Nothing is left to close then; unhandled, it would surface as a page error.
    Promise.resolve(client.dispose()).catch(() => undefined);
  };
};

/** graphql-sse's distinct connections mode on /graphql/stream; the key in the Authorization
 * header. */
const overServerSentEvents: Open = (apiKey, variables, sink) => {
  const client = createSseClient({
    url: `${location.origin}/graphql/stream`,
    headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
    retryAttempts: 0,
  });
  const unsubscribe = client.subscribe<WallboardTodayLiveSubscription>(
    { query: LIVE_STATS, variables },
    {
      next: (result) => sink.next(result),
      error: (error) => sink.ended(describe(error)),
      complete: () => sink.ended('the server ended the subscription'),
    },
  );
  return () => {
    unsubscribe();
    client.dispose();
  };
};

const OPEN: Record<Transport, Open> = { websocket: overWebSocket, sse: overServerSentEvents };

/** Subscribes over the first of `transports` that runs; when one stops, over the next. */
export function startLive(
  apiKey: string | null,
  timeZone: string,
  handlers: LiveHandlers,
  transports: readonly Transport[] = TRANSPORTS,
): Live {
  let stopped = false;
  let close: (() => void) | null = null;
  const variables: WallboardTodayLiveSubscriptionVariables = { timeZone };
  const tryFrom = (index: number, why: string) => {
    if (stopped) return;
    const transport = transports[index];
    if (!transport) {
      stopped = true;
      handlers.failed(why);
      return;
    }
    let over = false;
    let dispose: (() => void) | null = null;
    const end = (reason: string) => {
      if (over || stopped) return;
      over = true;
      dispose?.();
      dispose = null;
      handlers.fellBack?.(transport, reason);
      tryFrom(index + 1, `${TRANSPORT_NAMES[transport]}: ${reason}`);
    };
    dispose = OPEN[transport](apiKey, variables, {
      next: (result) => {
        if (over || stopped) return;
        if (result.errors?.length) end(result.errors[0]?.message ?? 'subscription error');
        else handlers.changed(transport);
      },
      ended: end,
    });
    if (over) dispose(); // it ended while opening: the next transport runs already
    else close = () => dispose?.();
  };
  tryFrom(0, 'no live transport');
  return {
    stop() {
      stopped = true;
      close?.();
      close = null;
    },
  };
}
