-- (e) as one hand-written statement over the rows (issue 9's reference): March 2026 in
-- Europe/Amsterdam, one row per local day × queue, offered, accepted, service level
-- (acceptedInSla / (offered - quickDrops)) and average speed of answer, as dialogueStats
-- defines them (API.md §4). :tenant is the tenant id (psql -v tenant=1).
-- 2026-03-01T00:00:00+01:00 = 1772319600000, 2026-04-01T00:00:00+02:00 = 1774994400000.
SELECT day, queue_id, offered, accepted,
       accepted_in_sla::float8 / NULLIF(offered - quick_drops, 0) AS service_level,
       asa
FROM (
  SELECT date_trunc('day', to_timestamp(start_timestamp_ms / 1000.0) AT TIME ZONE 'Europe/Amsterdam') AS day,
         queue_id,
         count(*) FILTER (WHERE queue_enter_timestamp_ms IS NOT NULL AND outcome IN (1, 2)) AS offered,
         count(*) FILTER (WHERE queue_enter_timestamp_ms IS NOT NULL AND outcome = 1) AS accepted,
         count(*) FILTER (WHERE queue_enter_timestamp_ms IS NOT NULL AND outcome = 1 AND in_sla) AS accepted_in_sla,
         count(*) FILTER (WHERE queue_enter_timestamp_ms IS NOT NULL AND outcome = 2 AND quick_drop) AS quick_drops,
         avg(queue_duration_in_sec) FILTER (WHERE queue_enter_timestamp_ms IS NOT NULL AND outcome = 1) AS asa
  FROM dialogues
  WHERE tenant_id = :tenant
    AND start_timestamp_ms >= 1772319600000 AND start_timestamp_ms < 1774994400000
  GROUP BY 1, 2
) AS per_day
ORDER BY day, queue_id NULLS LAST;
