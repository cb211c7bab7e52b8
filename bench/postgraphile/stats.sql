-- The one piece of DDL bench/compare.sh adds for PostGraphile: the hand-written function a
-- PostGraphile user would write for Dialogue Insights' dialogueStats (granularity DAY, groupBy QUEUE),
-- exposed by PostGraphile as Query.dialogueStatsByQueueDay (a connection of records).
-- KPI definitions (shared/API.md §4): Q = queued dialogues (a queue enter timestamp, outcome ACCEPTED
-- or ABANDONED), A = Q ∩ ACCEPTED, B = Q ∩ ABANDONED, QD = B ∩ quick_drop;
-- offered = |Q|, accepted = |A|, service level = |A ∩ in_sla| / (offered - |QD|) (null when 0),
-- average speed of answer = mean queue duration over A. Days are local days of time_zone; a
-- dialogue counts on the day of its start; from_time inclusive, to_time exclusive.
-- outcome: 1 ACCEPTED, 2 ABANDONED, 3 IVR drop.
CREATE OR REPLACE FUNCTION public.dialogue_stats_by_queue_day(
  tenant integer,
  from_time timestamptz,
  to_time timestamptz,
  time_zone text
) RETURNS TABLE (
  period_start timestamptz,
  queue_id text,
  offered integer,
  accepted integer,
  service_level double precision,
  average_speed_of_answer double precision
)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH d AS (
    SELECT date_trunc('day', to_timestamp(start_timestamp_ms / 1000.0), time_zone) AS day,
           queue_id,
           queue_enter_timestamp_ms IS NOT NULL AND outcome IN (1, 2) AS queued,
           outcome, in_sla, quick_drop, queue_duration_in_sec
      FROM dialogues
     WHERE tenant_id = tenant
       AND start_timestamp_ms >= (extract(epoch FROM from_time) * 1000)::bigint
       AND start_timestamp_ms < (extract(epoch FROM to_time) * 1000)::bigint
  )
  SELECT day,
         queue_id,
         count(*) FILTER (WHERE queued)::integer,
         count(*) FILTER (WHERE queued AND outcome = 1)::integer,
         count(*) FILTER (WHERE queued AND outcome = 1 AND in_sla)::double precision
           / nullif(count(*) FILTER (WHERE queued) - count(*) FILTER (WHERE queued AND outcome = 2 AND quick_drop), 0),
         avg(queue_duration_in_sec) FILTER (WHERE queued AND outcome = 1)
    FROM d
   GROUP BY day, queue_id
   ORDER BY day, queue_id
$$;
