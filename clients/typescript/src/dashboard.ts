// What a dashboard does with the operations in ../operations: each function names the types it
// relies on, so a schema change that breaks a dashboard fails `npm run check`.
import type { InsightsClient } from './client';
import {
  AbandonedDialoguesDocument,
  AgentDayDocument,
  QueueServiceLevelTodayDocument,
  type AbandonedDialoguesQuery,
  type AgentDayQuery,
  type QueueFiguresFragment,
} from './generated/graphql';

export interface QueueServiceLevel {
  queueId: string;
  name: string;
  /** Share accepted within the queue's threshold, 0..1; null when nothing was offered. */
  serviceLevel: number | null;
  offered: number;
  averageSpeedOfAnswerSec: number | null;
}

/** Service level per queue today, in `timeZone`, worst first. */
export async function queueServiceLevelToday(
  client: InsightsClient,
  timeZone: string,
): Promise<QueueServiceLevel[]> {
  const data = await client.request(QueueServiceLevelTodayDocument, { timeZone });
  return data.dialogueStats
    .map((row) => ({
      queueId: row.queueId ?? '',
      name: row.queue?.name ?? row.queueId ?? '(no queue)',
      serviceLevel: row.serviceLevel.value,
      offered: row.offered,
      averageSpeedOfAnswerSec: row.averageSpeedOfAnswer,
    }))
    .sort((a, b) => (a.serviceLevel ?? 1) - (b.serviceLevel ?? 1));
}

export type AbandonedDialogue = AbandonedDialoguesQuery['dialogues']['nodes'][number];

/** Monday 00:00 of this ISO week in the browser's zone, as an instant. */
export function startOfThisWeek(now: Date = new Date()): Date {
  const monday = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  monday.setDate(monday.getDate() - ((monday.getDay() + 6) % 7));
  return monday;
}

/** Abandoned dialogues since `since`, newest first, page by page (keyset cursors). */
export async function* abandonedSince(
  client: InsightsClient,
  since: Date,
  pageSize = 25,
): AsyncGenerator<AbandonedDialogue[], void, void> {
  let after: string | null = null;
  for (;;) {
    const data: AbandonedDialoguesQuery = await client.request(AbandonedDialoguesDocument, {
      since: since.toISOString(),
      first: pageSize,
      after,
    });
    yield data.dialogues.nodes;
    const { hasNextPage, endCursor } = data.dialogues.pageInfo;
    if (!hasNextPage || !endCursor) return;
    after = endCursor;
  }
}

export interface AgentDaySummary {
  name: string | null;
  dialogues: AgentDayQuery['dialogues']['nodes'];
  total: number;
  acceptedByHour: Array<{ periodStart: string; accepted: number; averageTalkTimeSec: number | null }>;
}

/** One agent's day [from, to) with their figures by hour in `timeZone`. */
export async function agentDay(
  client: InsightsClient,
  agentId: string,
  from: Date,
  to: Date,
  timeZone: string,
): Promise<AgentDaySummary> {
  const data = await client.request(AgentDayDocument, {
    agentId,
    from: from.toISOString(),
    to: to.toISOString(),
    timeZone,
  });
  return {
    name: data.agent?.name ?? null,
    dialogues: data.dialogues.nodes,
    total: data.dialogues.totalCount,
    acceptedByHour: data.byHour.map((row) => ({
      periodStart: row.periodStart ?? '',
      accepted: row.accepted,
      averageTalkTimeSec: row.averageTalkTime,
    })),
  };
}

/** Percent with one decimal, or an en dash when there is no value. */
export function percent(ratio: { value: number | null }): string {
  return ratio.value == null ? '–' : `${(ratio.value * 100).toFixed(1)}%`;
}

/** Seconds with one decimal, or an en dash. */
export function seconds(value: number | null): string {
  return value == null ? '–' : `${value.toFixed(1)} s`;
}

export type { QueueFiguresFragment };
