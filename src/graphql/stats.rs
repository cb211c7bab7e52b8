//! `dialogueStats`: contact-center KPIs per time bucket × group (docs/api.md) — the GraphQL face
//! of the query core's stats, which aggregate in the database.
use super::{GraphqlError, GraphqlResult};
use std::str::FromStr;

use super::enums::{Direction, Outcome};
use async_graphql::{Context, Enum, Object, ID};
use chrono_tz::Tz;

use super::endpoints::Endpoint;
use super::enums::Granularity;
use super::filter::DialogueFilter;
use super::loader::{endpoint, prefetch};
use super::scalars::DateTime;
use super::stats_input::{rank_args, StatsComparison, StatsHaving, StatsOrder};
use super::ScopeGuard;
use super::{limits, scope};
use insights_core::error::ApiError;
use insights_core::keys::Scope;
use insights_core::query::{
    Measure, Period, StatsMeasure, StatsRequest, StatsRow, Threshold, Window,
};

/// What stats rows can be grouped by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "insights_core::query::Dimension")]
pub enum StatsDimension {
    /// The queue the dialogue waited in.
    Queue,
    /// The agent who handled it.
    Agent,
    /// The IVR that routed it.
    Ivr,
    /// Inbound or outbound.
    Direction,
    /// How it ended.
    Outcome,
}

/// A window that moves with the clock, resolved in the request's `timeZone` when it is asked.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "insights_core::query::Period")]
pub enum StatsPeriod {
    /// Local midnight to the next local midnight (23 or 25 hours on a DST change day).
    Today,
    /// The whole local day before today.
    Yesterday,
    /// The current ISO week, Monday 00:00 to the next Monday 00:00, whole.
    ThisWeek,
    /// The whole ISO week before this one.
    LastWeek,
    /// The current calendar month, whole.
    ThisMonth,
    /// The whole calendar month before this one.
    LastMonth,
    /// The 24 hours before now.
    Last24Hours,
    /// The 7 whole local days before today.
    Last7Days,
    /// The 30 whole local days before today.
    Last30Days,
}

/// A fraction with its parts, so clients can re-aggregate exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub numerator: i64,
    pub denominator: i64,
}

/// A fraction with its parts, so clients can re-aggregate exactly (sum numerators and
/// denominators across rows).
#[Object]
impl Ratio {
    /// numerator / denominator; null when the denominator is 0.
    async fn value(&self) -> Option<f64> {
        (self.denominator != 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
    /// The counted part.
    async fn numerator(&self) -> i64 {
        self.numerator
    }
    /// The whole it is a part of.
    async fn denominator(&self) -> i64 {
        self.denominator
    }
}

/// A what-if threshold argument of a selected field, if given (null means not given).
fn threshold_argument(
    field: &async_graphql::SelectionField<'_>,
    argument: &str,
) -> async_graphql::Result<Option<Threshold>> {
    for (name, value) in field.arguments()? {
        if name.as_str() == argument {
            return match value {
                async_graphql::Value::Null => Ok(None),
                async_graphql::Value::Number(n) => Ok(Some(
                    Threshold::new(n.as_f64().unwrap_or(f64::NAN), argument).gql()?,
                )),
                _ => Err(ApiError::bad_input(format!("`{argument}` must be a number")).graphql()),
            };
        }
    }
    Ok(None)
}

/// The aggregates a selected field of `DialogueStats` needs, given its arguments: the what-if
/// arguments here, every other figure (a KPI or a ratio) by its name in the core's catalogue.
fn measures(field: &async_graphql::SelectionField<'_>) -> async_graphql::Result<Vec<Measure>> {
    use Measure as M;
    let what_if = match field.name() {
        "quickDrops" => {
            threshold_argument(field, "thresholdInSec")?.map(|t| vec![M::AbandonedWithin(t)])
        }
        "serviceLevel" => threshold_argument(field, "thresholdInSec")?
            .map(|t| vec![M::AcceptedWithin(t), M::Offered, M::QuickDrops]),
        "abandonRate" => threshold_argument(field, "quickDropThresholdInSec")?
            .map(|t| vec![M::Abandoned, M::Offered, M::AbandonedWithin(t)]),
        _ => None,
    };
    Ok(what_if.unwrap_or_else(|| {
        StatsMeasure::named(field.name())
            .map(StatsMeasure::measures)
            .unwrap_or_default()
    }))
}

/// What the selection of `DialogueStats` asks for, `previous` included: the aggregates and
/// the queue-time quantiles (both windows compute the same).
fn wanted<'a>(
    selection: impl Iterator<Item = async_graphql::SelectionField<'a>>,
    measures_out: &mut Vec<Measure>,
    percentiles: &mut Vec<f64>,
) -> async_graphql::Result<()> {
    for field in selection {
        measures_out.extend(measures(&field)?);
        match field.name() {
            "queueTimePercentile" => {
                for (name, value) in field.arguments()? {
                    if name.as_str() == "p" {
                        let p = match value {
                            async_graphql::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                            _ => f64::NAN,
                        };
                        // The query core checks each p (0 < p ≤ 1).
                        if !percentiles.contains(&p) {
                            percentiles.push(p);
                        }
                    }
                }
            }
            "previous" => wanted(field.selection_set(), measures_out, percentiles)?,
            _ => {}
        }
    }
    Ok(())
}

/// The quick-drop count a figure uses: the stored `quickDrop` flags, or a what-if threshold.
fn quick_drop_measure(threshold: Option<f64>, argument: &str) -> async_graphql::Result<Measure> {
    Ok(match threshold {
        Some(t) => Measure::AbandonedWithin(Threshold::new(t, argument).gql()?),
        None => Measure::QuickDrops,
    })
}

/// The KPIs of one time bucket × group.
pub struct DialogueStats(pub(crate) StatsRow);

impl DialogueStats {
    /// A ratio of the catalogue, from this group's counts.
    fn ratio(&self, figure: StatsMeasure) -> Ratio {
        let (numerator, denominator) = self.0.ratio(figure).unwrap_or_default();
        Ratio {
            numerator,
            denominator,
        }
    }
}

/// The KPIs of one time bucket × group.
#[Object]
impl DialogueStats {
    /// Start of the time bucket (null for TOTAL).
    async fn period_start(&self) -> Option<DateTime> {
        self.0.period.map(|(start, _)| DateTime(start))
    }
    /// End of the time bucket, exclusive (null for TOTAL).
    async fn period_end(&self) -> Option<DateTime> {
        self.0.period.map(|(_, end)| DateTime(end))
    }
    /// The queue of this group, when grouped by QUEUE.
    async fn queue_id(&self) -> Option<ID> {
        self.0.key.queue_id.clone().map(ID)
    }
    /// The agent of this group, when grouped by AGENT.
    async fn agent_id(&self) -> Option<ID> {
        self.0.key.agent_id.clone().map(ID)
    }
    /// The IVR of this group, when grouped by IVR.
    async fn ivr_id(&self) -> Option<ID> {
        self.0.key.ivr_id.clone().map(ID)
    }
    /// The direction of this group, when grouped by DIRECTION.
    async fn direction(&self) -> Option<Direction> {
        self.0.key.direction.map(Into::into)
    }
    /// The outcome of this group, when grouped by OUTCOME.
    async fn outcome(&self) -> Option<Outcome> {
        self.0.key.outcome.map(Into::into)
    }
    /// The queue endpoint of this group, when grouped by QUEUE.
    async fn queue(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.key.queue_id).await
    }
    /// The agent endpoint of this group, when grouped by AGENT.
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.key.agent_id).await
    }
    /// The IVR endpoint of this group, when grouped by IVR.
    async fn ivr(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.key.ivr_id).await
    }
    /// All dialogues in the group.
    async fn dialogues(&self) -> i64 {
        self.0.count(Measure::Dialogues)
    }
    /// Inbound dialogues.
    async fn inbound(&self) -> i64 {
        self.0.count(Measure::Inbound)
    }
    /// Outbound dialogues.
    async fn outbound(&self) -> i64 {
        self.0.count(Measure::Outbound)
    }
    /// Dialogues that were queued (accepted or abandoned): |Q|.
    async fn offered(&self) -> i64 {
        self.0.count(Measure::Offered)
    }
    /// Queued dialogues an agent accepted: |A|.
    async fn accepted(&self) -> i64 {
        self.0.count(Measure::Accepted)
    }
    /// Queued dialogues never accepted: |B|.
    async fn abandoned(&self) -> i64 {
        self.0.count(Measure::Abandoned)
    }
    /// Abandoned dialogues within the quick-drop threshold: |QD|. With `thresholdInSec`, the
    /// abandoned dialogues that waited at most that long instead (what-if).
    async fn quick_drops(
        &self,
        #[graphql(
            desc = "What-if: count the abandoned dialogues whose queue duration is at most this many seconds, instead of the stored quickDrop flags."
        )]
        threshold_in_sec: Option<f64>,
    ) -> async_graphql::Result<i64> {
        Ok(self
            .0
            .count(quick_drop_measure(threshold_in_sec, "thresholdInSec")?))
    }
    /// Dialogues that ended in the IVR: |I|.
    async fn ivr_drops(&self) -> i64 {
        self.0.count(Measure::IvrDrops)
    }
    /// Accepted dialogues within the SLA threshold.
    async fn accepted_in_sla(&self) -> i64 {
        self.0.count(Measure::AcceptedInSla)
    }
    /// acceptedInSla / (offered − quickDrops). With `thresholdInSec`, the numerator is the
    /// accepted dialogues that waited at most that long instead (what-if; the denominator keeps
    /// the stored quick drops).
    async fn service_level(
        &self,
        #[graphql(
            desc = "What-if: count as within the service level the accepted dialogues whose queue duration is at most this many seconds, instead of the stored inSla flags."
        )]
        threshold_in_sec: Option<f64>,
    ) -> async_graphql::Result<Ratio> {
        let Some(t) = threshold_in_sec else {
            return Ok(self.ratio(StatsMeasure::ServiceLevel));
        };
        Ok(Ratio {
            numerator: self.0.count(Measure::AcceptedWithin(
                Threshold::new(t, "thresholdInSec").gql()?,
            )),
            denominator: self.0.count(Measure::Offered) - self.0.count(Measure::QuickDrops),
        })
    }
    /// (abandoned − quickDrops) / (offered − quickDrops). With `quickDropThresholdInSec`, the
    /// quick drops are the abandoned dialogues that waited at most that long (what-if).
    async fn abandon_rate(
        &self,
        #[graphql(
            desc = "What-if: count as quick drops the abandoned dialogues whose queue duration is at most this many seconds, instead of the stored quickDrop flags."
        )]
        quick_drop_threshold_in_sec: Option<f64>,
    ) -> async_graphql::Result<Ratio> {
        if quick_drop_threshold_in_sec.is_none() {
            return Ok(self.ratio(StatsMeasure::AbandonRate));
        }
        let quick = self.0.count(quick_drop_measure(
            quick_drop_threshold_in_sec,
            "quickDropThresholdInSec",
        )?);
        Ok(Ratio {
            numerator: self.0.count(Measure::Abandoned) - quick,
            denominator: self.0.count(Measure::Offered) - quick,
        })
    }
    /// accepted / offered.
    async fn answer_rate(&self) -> Ratio {
        self.ratio(StatsMeasure::AnswerRate)
    }
    /// Mean queue duration of accepted dialogues, in seconds.
    async fn average_speed_of_answer(&self) -> Option<f64> {
        self.0.value(Measure::AverageSpeedOfAnswer)
    }
    /// Mean queue duration of abandoned dialogues, in seconds.
    async fn average_abandon_time(&self) -> Option<f64> {
        self.0.value(Measure::AverageAbandonTime)
    }
    /// Mean initial talk duration of accepted dialogues, in seconds.
    async fn average_talk_time(&self) -> Option<f64> {
        self.0.value(Measure::AverageTalkTime)
    }
    /// Mean IVR duration where present, in seconds.
    async fn average_ivr_time(&self) -> Option<f64> {
        self.0.value(Measure::AverageIvrTime)
    }
    /// Mean session duration where present, in seconds.
    async fn average_session_time(&self) -> Option<f64> {
        self.0.value(Measure::AverageSessionTime)
    }
    /// Longest queue duration of queued dialogues, in seconds.
    async fn max_queue_time(&self) -> Option<f64> {
        self.0.value(Measure::MaxQueueTime)
    }
    /// Sum of initialTalkDurationInSec over the accepted dialogues (0 when there are none):
    /// what workforce planners add up.
    async fn total_talk_time(&self) -> Option<f64> {
        self.0.value(Measure::TotalTalkTime)
    }
    /// Exact p-quantile (nearest rank: the ⌈p·n⌉-th smallest) of the queue durations of queued
    /// dialogues, in seconds; null when none has one.
    async fn queue_time_percentile(
        &self,
        #[graphql(desc = "The quantile, 0 < p ≤ 1 (0.9 for the 90th percentile).")] p: f64,
    ) -> async_graphql::Result<Option<f64>> {
        self.0
            .percentile(p)
            .ok_or_else(|| ApiError::internal(format!("percentile {p} was not computed")).graphql())
    }
    /// With `compareTo`: the same group in the matching bucket of the earlier window (its
    /// `periodStart`/`periodEnd` are that bucket's); zeros and null averages when it had no
    /// dialogues there. Null without `compareTo`.
    async fn previous(&self) -> Option<DialogueStats> {
        self.0
            .previous
            .as_deref()
            .map(|row| DialogueStats(row.clone()))
    }
}

/// The arguments of `dialogueStats` (and of the live `dialogueStatsChanged`).
#[derive(Debug, Clone, Default)]
pub struct StatsArgs {
    pub from: Option<DateTime>,
    pub to: Option<DateTime>,
    pub period: Option<StatsPeriod>,
    pub time_zone: Option<String>,
    pub granularity: Option<Granularity>,
    pub group_by: Option<Vec<StatsDimension>>,
    pub filter: Option<DialogueFilter>,
    pub order_by: Option<Vec<StatsOrder>>,
    pub first: Option<i32>,
    pub having: Option<StatsHaving>,
    pub compare_to: Option<StatsComparison>,
}

impl StatsArgs {
    /// The zone the buckets and a `period` are aligned in (UTC when left out or null).
    pub fn zone(&self) -> async_graphql::Result<Tz> {
        let name = self.time_zone.as_deref().unwrap_or("UTC");
        Tz::from_str(name.trim()).map_err(|_| {
            ApiError::bad_input(format!(
                "`{name}` is not an IANA time zone name (e.g. Europe/Amsterdam, UTC)"
            ))
            .graphql()
        })
    }

    /// The window asked for, resolved at `now` (epoch ms): `from` + `to`, or a `period`.
    pub fn window(&self, zone: Tz, now: i64) -> async_graphql::Result<Window> {
        match (self.from, self.to, self.period) {
            (Some(from), Some(to), None) => Ok(Window {
                from: from.0,
                to: to.0,
                moves_at: None,
            }),
            (None, None, Some(period)) => Ok(Period::from(period).window(zone, now)),
            (_, _, Some(_)) => Err(ApiError::bad_input(
                "give the window either as `period` or as `from` and `to`, not both",
            )
            .graphql()),
            _ => Err(ApiError::bad_input(
                "give the window of the stats as `from` and `to`, or as a `period` such as TODAY",
            )
            .graphql()),
        }
    }

    /// The query core's request for the selection of the current field (`dialogueStats` or
    /// `dialogueStatsChanged`) at `now`, and the window it resolved to.
    pub fn request(
        &self,
        ctx: &Context<'_>,
        now: i64,
    ) -> async_graphql::Result<(StatsRequest, Window)> {
        let zone = self.zone()?;
        let window = self.window(zone, now)?;
        let mut measures = Vec::new();
        let mut percentiles = Vec::new();
        wanted(ctx.field().selection_set(), &mut measures, &mut percentiles)?;
        let request = StatsRequest {
            from: window.from,
            to: window.to,
            zone,
            granularity: self.granularity.unwrap_or(Granularity::Total).into(),
            group_by: self
                .group_by
                .iter()
                .flatten()
                .map(|d| (*d).into())
                .collect(),
            filter: self.filter.as_ref().map(|f| f.tree()).transpose().gql()?,
            measures,
            percentiles,
            max_rows: limits(ctx).max_stats_rows,
            rank: rank_args(self.order_by.as_deref(), self.first, self.having.as_ref()),
            compare: self.compare_to.map(Into::into),
            period: self.period.map(Into::into),
        };
        Ok((request, window))
    }

    /// The stats rows for the selection of the current field, with the endpoints it shows
    /// prefetched in one batch.
    pub async fn rows(
        &self,
        ctx: &Context<'_>,
        now: i64,
    ) -> async_graphql::Result<Vec<DialogueStats>> {
        let (request, _) = self.request(ctx, now)?;
        let rows = scope(ctx).dialogue_stats(&request).await.gql()?;
        let look = ctx.look_ahead();
        let previous = look.field("previous");
        let shown = ["queue", "agent", "ivr"]
            .map(|name| look.field(name).exists() || previous.field(name).exists());
        let mut ids = Vec::new();
        for row in &rows {
            for (id, shown) in [&row.key.queue_id, &row.key.agent_id, &row.key.ivr_id]
                .into_iter()
                .zip(shown)
            {
                if let (Some(id), true) = (id, shown) {
                    ids.push(id.clone());
                }
            }
        }
        prefetch(ctx, ids).await?;
        Ok(rows.into_iter().map(DialogueStats).collect())
    }
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Contact-center KPIs per time bucket × group. The window is `from` (inclusive) + `to`
    /// (exclusive), or a `period` resolved in `timeZone` now. Buckets are aligned to local time
    /// in `timeZone`; a dialogue belongs to the bucket of its startTimestamp. Groups without
    /// dialogues are not returned. Sorted by period, then group keys; with `orderBy`, the
    /// groups of each period by those figures (`having` and `first` keep some of them).
    /// `compareTo` adds each row's `previous`, from an earlier window.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    #[allow(clippy::too_many_arguments)]
    async fn dialogue_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the window (inclusive); with `to`, instead of `period`.")]
        from: Option<DateTime>,
        #[graphql(desc = "End of the window (exclusive); with `from`, instead of `period`.")]
        to: Option<DateTime>,
        #[graphql(
            desc = "A window that moves with the clock (TODAY, LAST_7_DAYS, ...), resolved in `timeZone` at the moment of the request; instead of `from` and `to`."
        )]
        period: Option<StatsPeriod>,
        #[graphql(
            desc = "IANA time zone the buckets and `period` are aligned in, e.g. Europe/Amsterdam.",
            default_with = "Some(\"UTC\".to_string())"
        )]
        time_zone: Option<String>,
        #[graphql(
            desc = "Size of the time buckets.",
            default_with = "Some(Granularity::Total)"
        )]
        granularity: Option<Granularity>,
        #[graphql(
            desc = "Dimensions to group by, besides time.",
            default_with = "Some(Vec::new())"
        )]
        group_by: Option<Vec<StatsDimension>>,
        #[graphql(desc = "Which dialogues to measure (the same filter as `dialogues`).")]
        filter: Option<DialogueFilter>,
        #[graphql(
            desc = "Rank the groups of each time bucket by these figures (nulls last in both directions), then by their group keys."
        )]
        order_by: Option<Vec<StatsOrder>>,
        #[graphql(
            desc = "Keep the first N groups of each time bucket in the `orderBy` ranking (at least 1; needs `orderBy`)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Keep only the groups whose figures pass these conditions (before `orderBy` and `first`)."
        )]
        having: Option<StatsHaving>,
        #[graphql(
            desc = "Give each row its `previous`: the same group in the matching bucket of this earlier window."
        )]
        compare_to: Option<StatsComparison>,
    ) -> async_graphql::Result<Vec<DialogueStats>> {
        let args = StatsArgs {
            from,
            to,
            period,
            time_zone,
            granularity,
            group_by,
            filter,
            order_by,
            first,
            having,
            compare_to,
        };
        args.rows(ctx, chrono::Utc::now().timestamp_millis()).await
    }
}
