//! `dialogueStats`: contact-center KPIs per time bucket × group (API.md §4) — the GraphQL face
//! of the query core's stats, which aggregate in the database.
use std::str::FromStr;

use async_graphql::{Context, Enum, Object, ID};
use chrono_tz::Tz;
use entity::{Direction, Outcome};

use super::endpoints::Endpoint;
use super::filter::DialogueFilter;
use super::loader::{endpoint, prefetch};
use super::scalars::DateTime;
use super::ScopeGuard;
use super::{limits, scope};
use crate::auth::Scope;
use crate::buckets::Granularity;
use crate::error::ApiError;
use crate::query::{Measure, StatsRequest, StatsRow};

/// What stats rows can be grouped by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "crate::query::Dimension")]
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

/// The aggregates a selected field of `DialogueStats` needs.
fn measures(field: &str) -> &'static [Measure] {
    use Measure as M;
    match field {
        "dialogues" => &[M::Dialogues],
        "inbound" => &[M::Inbound],
        "outbound" => &[M::Outbound],
        "offered" => &[M::Offered],
        "accepted" => &[M::Accepted],
        "abandoned" => &[M::Abandoned],
        "quickDrops" => &[M::QuickDrops],
        "ivrDrops" => &[M::IvrDrops],
        "acceptedInSla" => &[M::AcceptedInSla],
        "serviceLevel" => &[M::AcceptedInSla, M::Offered, M::QuickDrops],
        "abandonRate" => &[M::Abandoned, M::Offered, M::QuickDrops],
        "answerRate" => &[M::Accepted, M::Offered],
        "averageSpeedOfAnswer" => &[M::AverageSpeedOfAnswer],
        "averageAbandonTime" => &[M::AverageAbandonTime],
        "averageTalkTime" => &[M::AverageTalkTime],
        "averageIvrTime" => &[M::AverageIvrTime],
        "averageSessionTime" => &[M::AverageSessionTime],
        "maxQueueTime" => &[M::MaxQueueTime],
        _ => &[],
    }
}

/// The KPIs of one time bucket × group.
pub struct DialogueStats(pub(crate) StatsRow);

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
        self.0.key.direction
    }
    /// The outcome of this group, when grouped by OUTCOME.
    async fn outcome(&self) -> Option<Outcome> {
        self.0.key.outcome
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
    /// Abandoned dialogues within the quick-drop threshold: |QD|.
    async fn quick_drops(&self) -> i64 {
        self.0.count(Measure::QuickDrops)
    }
    /// Dialogues that ended in the IVR: |I|.
    async fn ivr_drops(&self) -> i64 {
        self.0.count(Measure::IvrDrops)
    }
    /// Accepted dialogues within the SLA threshold.
    async fn accepted_in_sla(&self) -> i64 {
        self.0.count(Measure::AcceptedInSla)
    }
    /// acceptedInSla / (offered − quickDrops).
    async fn service_level(&self) -> Ratio {
        Ratio {
            numerator: self.0.count(Measure::AcceptedInSla),
            denominator: self.0.count(Measure::Offered) - self.0.count(Measure::QuickDrops),
        }
    }
    /// (abandoned − quickDrops) / (offered − quickDrops).
    async fn abandon_rate(&self) -> Ratio {
        let quick = self.0.count(Measure::QuickDrops);
        Ratio {
            numerator: self.0.count(Measure::Abandoned) - quick,
            denominator: self.0.count(Measure::Offered) - quick,
        }
    }
    /// accepted / offered.
    async fn answer_rate(&self) -> Ratio {
        Ratio {
            numerator: self.0.count(Measure::Accepted),
            denominator: self.0.count(Measure::Offered),
        }
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
    /// Exact p-quantile (nearest rank: the ⌈p·n⌉-th smallest) of the queue durations of queued
    /// dialogues, in seconds; null when none has one.
    async fn queue_time_percentile(
        &self,
        #[graphql(desc = "The quantile, 0 < p ≤ 1 (0.9 for the 90th percentile).")] p: f64,
    ) -> async_graphql::Result<Option<f64>> {
        self.0
            .percentile(p)
            .ok_or_else(|| ApiError::internal(format!("percentile {p} was not computed")).into())
    }
}

/// The query core's stats request for a `dialogueStats` (or `dialogueStatsChanged`) field:
/// its arguments, and the measures and quantiles its selection asks for.
pub(crate) fn stats_request(
    ctx: &Context<'_>,
    from: Option<DateTime>,
    to: Option<DateTime>,
    time_zone: Option<String>,
    granularity: Option<Granularity>,
    group_by: Option<Vec<StatsDimension>>,
    filter: Option<DialogueFilter>,
) -> async_graphql::Result<StatsRequest> {
    // An explicit null means the default, as leaving the argument out does.
    let (Some(from), Some(to)) = (from, to) else {
        return Err(ApiError::bad_input("give the range of the stats as `from` and `to`").into());
    };
    let time_zone = time_zone.unwrap_or_else(|| "UTC".to_string());
    let granularity = granularity.unwrap_or(Granularity::Total);
    let group_by = group_by.unwrap_or_default();
    let zone = Tz::from_str(time_zone.trim()).map_err(|_| {
        ApiError::bad_input(format!(
            "`{time_zone}` is not an IANA time zone name (e.g. Europe/Amsterdam, UTC)"
        ))
    })?;
    let mut wanted = Vec::new();
    let mut percentiles = Vec::new();
    for field in ctx.field().selection_set() {
        wanted.extend_from_slice(measures(field.name()));
        if field.name() == "queueTimePercentile" {
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
    }
    Ok(StatsRequest {
        from: from.0,
        to: to.0,
        zone,
        granularity,
        group_by: group_by.into_iter().map(Into::into).collect(),
        filter: filter.map(|f| f.tree()).transpose()?,
        measures: wanted,
        percentiles,
        max_rows: limits(ctx).max_stats_rows,
    })
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Contact-center KPIs per time bucket × group. Buckets are aligned to local time in
    /// `timeZone`; a dialogue belongs to the bucket of its startTimestamp; `from` is inclusive,
    /// `to` exclusive. Groups without dialogues are not returned. Sorted by period, then group keys.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn dialogue_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the range (inclusive). Required.")] from: Option<DateTime>,
        #[graphql(desc = "End of the range (exclusive). Required.")] to: Option<DateTime>,
        #[graphql(
            desc = "IANA time zone the buckets are aligned in, e.g. Europe/Amsterdam.",
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
    ) -> async_graphql::Result<Vec<DialogueStats>> {
        let request = stats_request(ctx, from, to, time_zone, granularity, group_by, filter)?;
        let rows = scope(ctx).dialogue_stats(&request).await?;
        let look = ctx.look_ahead();
        let wanted = [
            look.field("queue").exists(),
            look.field("agent").exists(),
            look.field("ivr").exists(),
        ];
        let mut ids = Vec::new();
        for row in &rows {
            for (id, wanted) in [&row.key.queue_id, &row.key.agent_id, &row.key.ivr_id]
                .into_iter()
                .zip(wanted)
            {
                if let (Some(id), true) = (id, wanted) {
                    ids.push(id.clone());
                }
            }
        }
        prefetch(ctx, ids).await?;
        Ok(rows.into_iter().map(DialogueStats).collect())
    }
}
