// Live updates through the `dialogueStatsChanged` subscription (API.md §5) over
// graphql-transport-ws on /graphql, with graphql-ws. The operation is the generated, typed
// `WallboardTodayLive` (../../operations/subscriptions/wallboard-live.graphql).
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import {
  WallboardTodayLiveDocument,
  type WallboardTodayLiveSubscription,
  type WallboardTodayLiveSubscriptionVariables,
} from '../../src/generated/graphql';

const LIVE_STATS = print(WallboardTodayLiveDocument);

export interface Live {
  stop(): void;
}

export interface LiveHandlers {
  /** The server sent a (new) result: the figures changed, or this is the first one. */
  changed(): void;
  /** The subscription cannot run (refused, closed, unsupported): fall back to polling. */
  failed(reason: string): void;
}

function socketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/graphql`;
}

export function startLive(apiKey: string | null, timeZone: string, handlers: LiveHandlers): Live {
  let stopped = false;
  const client: Client = createClient({
    url: socketUrl(),
    connectionParams: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
    retryAttempts: 3,
    lazy: true,
  });
  const fail = (reason: string) => {
    if (stopped) return;
    stopped = true;
    void client.dispose();
    handlers.failed(reason);
  };
  const variables: WallboardTodayLiveSubscriptionVariables = { timeZone };
  client.subscribe<WallboardTodayLiveSubscription>(
    { query: LIVE_STATS, variables },
    {
      next: (result) => {
        if (result.errors?.length) fail(result.errors[0]?.message ?? 'subscription error');
        else handlers.changed();
      },
      error: (error) => {
        const reason = Array.isArray(error)
          ? (error[0]?.message ?? 'subscription refused')
          : error instanceof CloseEvent
            ? `socket closed (${error.code}${error.reason ? `: ${error.reason}` : ''})`
            : error instanceof Error
              ? error.message
              : 'subscription failed';
        fail(reason);
      },
      complete: () => fail('the server ended the subscription'),
    },
  );
  return {
    stop() {
      stopped = true;
      void client.dispose();
    },
  };
}
