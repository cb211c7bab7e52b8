//! `dialogueStats`: contact-center KPIs per time bucket × group (API.md §4), aggregated by the
//! database with GROUP BY and conditional aggregates, never by loading dialogues.
use std::cmp::Ordering;
use std::collections::HashMap;
use std::str::FromStr;

use async_graphql::{Context, Enum, Object, ID};
use chrono_tz::Tz;
use entity::{dialogue, Direction, Outcome};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, QueryFilter, QueryResult, QuerySelect, QueryTrait, Select,
    Statement,
};

use super::endpoints::Endpoint;
use super::filter::DialogueFilter;
use super::loader::{endpoint, prefetch};
use super::scalars::DateTime;
use super::ScopeGuard;
use super::{limits, scope};
use crate::auth::Scope;
use crate::buckets::{Bucketing, Granularity};
use crate::error::{ApiError, ApiResult};

/// What stats rows can be grouped by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
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

impl StatsDimension {
    fn column(self) -> &'static str {
        match self {
            Self::Queue => "queue_id",
            Self::Agent => "agent_id",
            Self::Ivr => "ivr_id",
            Self::Direction => "direction",
            Self::Outcome => "outcome",
        }
    }
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

// Sets of API.md §4 as SQL predicates on one dialogue row.
const Q: &str = "queue_enter_timestamp_ms IS NOT NULL AND outcome IN (1, 2)";
const A: &str = "queue_enter_timestamp_ms IS NOT NULL AND outcome = 1";
const B: &str = "queue_enter_timestamp_ms IS NOT NULL AND outcome = 2";

/// One aggregate column: its alias, its SQL, and the GraphQL fields that need it.
struct Aggregate {
    alias: &'static str,
    sql: String,
    needed_by: &'static [&'static str],
}

fn count_where(condition: &str) -> String {
    format!("SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)")
}

fn aggregates() -> Vec<Aggregate> {
    let agg = |alias, sql: String, needed_by| Aggregate {
        alias,
        sql,
        needed_by,
    };
    vec![
        agg("dialogues", "COUNT(*)".into(), &["dialogues"]),
        agg("inbound", count_where("direction = 1"), &["inbound"]),
        agg("outbound", count_where("direction = 2"), &["outbound"]),
        agg(
            "offered",
            count_where(Q),
            &["offered", "serviceLevel", "abandonRate", "answerRate"],
        ),
        agg("accepted", count_where(A), &["accepted", "answerRate"]),
        agg("abandoned", count_where(B), &["abandoned", "abandonRate"]),
        agg(
            "quick_drops",
            count_where(&format!("{B} AND quick_drop = TRUE")),
            &["quickDrops", "serviceLevel", "abandonRate"],
        ),
        agg("ivr_drops", count_where("outcome = 3"), &["ivrDrops"]),
        agg(
            "accepted_in_sla",
            count_where(&format!("{A} AND in_sla = TRUE")),
            &["acceptedInSla", "serviceLevel"],
        ),
        agg(
            "avg_speed_of_answer",
            format!("AVG(CASE WHEN {A} THEN queue_duration_in_sec END)"),
            &["averageSpeedOfAnswer"],
        ),
        agg(
            "avg_abandon_time",
            format!("AVG(CASE WHEN {B} THEN queue_duration_in_sec END)"),
            &["averageAbandonTime"],
        ),
        agg(
            "avg_talk_time",
            format!("AVG(CASE WHEN {A} THEN initial_talk_duration_in_sec END)"),
            &["averageTalkTime"],
        ),
        agg(
            "avg_ivr_time",
            "AVG(ivr_duration_in_sec)".into(),
            &["averageIvrTime"],
        ),
        agg(
            "avg_session_time",
            "AVG(session_duration_in_sec)".into(),
            &["averageSessionTime"],
        ),
        agg(
            "max_queue_time",
            format!("MAX(CASE WHEN {Q} THEN queue_duration_in_sec END)"),
            &["maxQueueTime"],
        ),
    ]
}

/// The group a row belongs to: its bucket key and the values of the grouped dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct GroupKey {
    bucket: i64,
    queue_id: Option<String>,
    agent_id: Option<String>,
    ivr_id: Option<String>,
    direction: Option<i16>,
    outcome: Option<i16>,
}

impl GroupKey {
    fn read(row: &QueryResult, groups: &[StatsDimension]) -> ApiResult<Self> {
        let mut key = GroupKey {
            bucket: row.try_get::<i64>("", "bucket")?,
            ..Default::default()
        };
        for dim in groups {
            match dim {
                StatsDimension::Queue => key.queue_id = row.try_get("", "queue_id")?,
                StatsDimension::Agent => key.agent_id = row.try_get("", "agent_id")?,
                StatsDimension::Ivr => key.ivr_id = row.try_get("", "ivr_id")?,
                StatsDimension::Direction => key.direction = row.try_get("", "direction")?,
                StatsDimension::Outcome => key.outcome = row.try_get("", "outcome")?,
            }
        }
        Ok(key)
    }

    /// Period first, then the group keys in `groupBy` order; absent keys last; ids by their
    /// bytes, so the order is the same on every database whatever its collation.
    fn order(&self, other: &Self, groups: &[StatsDimension]) -> Ordering {
        fn none_last<T: Ord>(a: &Option<T>, b: &Option<T>) -> Ordering {
            match (a, b) {
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        groups
            .iter()
            .fold(self.bucket.cmp(&other.bucket), |order, dim| {
                order.then_with(|| match dim {
                    StatsDimension::Queue => none_last(&self.queue_id, &other.queue_id),
                    StatsDimension::Agent => none_last(&self.agent_id, &other.agent_id),
                    StatsDimension::Ivr => none_last(&self.ivr_id, &other.ivr_id),
                    StatsDimension::Direction => none_last(&self.direction, &other.direction),
                    StatsDimension::Outcome => none_last(&self.outcome, &other.outcome),
                })
            })
    }
}

/// The KPIs of one time bucket × group.
#[derive(Debug, Clone, Default)]
pub struct DialogueStats {
    key: GroupKey,
    period: Option<(i64, i64)>,
    counts: HashMap<&'static str, i64>,
    values: HashMap<&'static str, Option<f64>>,
    /// Requested p → its queue-time quantile.
    percentiles: Vec<(f64, Option<f64>)>,
}

impl DialogueStats {
    fn count(&self, alias: &str) -> i64 {
        self.counts.get(alias).copied().unwrap_or(0)
    }
    fn value(&self, alias: &str) -> Option<f64> {
        self.values.get(alias).copied().flatten()
    }
}

/// The KPIs of one time bucket × group.
#[Object]
impl DialogueStats {
    /// Start of the time bucket (null for TOTAL).
    async fn period_start(&self) -> Option<DateTime> {
        self.period.map(|(start, _)| DateTime(start))
    }
    /// End of the time bucket, exclusive (null for TOTAL).
    async fn period_end(&self) -> Option<DateTime> {
        self.period.map(|(_, end)| DateTime(end))
    }
    /// The queue of this group, when grouped by QUEUE.
    async fn queue_id(&self) -> Option<ID> {
        self.key.queue_id.clone().map(ID)
    }
    /// The agent of this group, when grouped by AGENT.
    async fn agent_id(&self) -> Option<ID> {
        self.key.agent_id.clone().map(ID)
    }
    /// The IVR of this group, when grouped by IVR.
    async fn ivr_id(&self) -> Option<ID> {
        self.key.ivr_id.clone().map(ID)
    }
    /// The direction of this group, when grouped by DIRECTION.
    async fn direction(&self) -> Option<Direction> {
        self.key
            .direction
            .and_then(|code| Direction::from_code(code as i64))
    }
    /// The outcome of this group, when grouped by OUTCOME.
    async fn outcome(&self) -> Option<Outcome> {
        match self.key.outcome {
            Some(1) => Some(Outcome::Accepted),
            Some(2) => Some(Outcome::Abandoned),
            Some(3) => Some(Outcome::IvrDrop),
            _ => None,
        }
    }
    /// The queue endpoint of this group, when grouped by QUEUE.
    async fn queue(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.key.queue_id).await
    }
    /// The agent endpoint of this group, when grouped by AGENT.
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.key.agent_id).await
    }
    /// The IVR endpoint of this group, when grouped by IVR.
    async fn ivr(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.key.ivr_id).await
    }
    /// All dialogues in the group.
    async fn dialogues(&self) -> i64 {
        self.count("dialogues")
    }
    /// Inbound dialogues.
    async fn inbound(&self) -> i64 {
        self.count("inbound")
    }
    /// Outbound dialogues.
    async fn outbound(&self) -> i64 {
        self.count("outbound")
    }
    /// Dialogues that were queued (accepted or abandoned): |Q|.
    async fn offered(&self) -> i64 {
        self.count("offered")
    }
    /// Queued dialogues an agent accepted: |A|.
    async fn accepted(&self) -> i64 {
        self.count("accepted")
    }
    /// Queued dialogues never accepted: |B|.
    async fn abandoned(&self) -> i64 {
        self.count("abandoned")
    }
    /// Abandoned dialogues within the quick-drop threshold: |QD|.
    async fn quick_drops(&self) -> i64 {
        self.count("quick_drops")
    }
    /// Dialogues that ended in the IVR: |I|.
    async fn ivr_drops(&self) -> i64 {
        self.count("ivr_drops")
    }
    /// Accepted dialogues within the SLA threshold.
    async fn accepted_in_sla(&self) -> i64 {
        self.count("accepted_in_sla")
    }
    /// acceptedInSla / (offered − quickDrops).
    async fn service_level(&self) -> Ratio {
        Ratio {
            numerator: self.count("accepted_in_sla"),
            denominator: self.count("offered") - self.count("quick_drops"),
        }
    }
    /// (abandoned − quickDrops) / (offered − quickDrops).
    async fn abandon_rate(&self) -> Ratio {
        let quick = self.count("quick_drops");
        Ratio {
            numerator: self.count("abandoned") - quick,
            denominator: self.count("offered") - quick,
        }
    }
    /// accepted / offered.
    async fn answer_rate(&self) -> Ratio {
        Ratio {
            numerator: self.count("accepted"),
            denominator: self.count("offered"),
        }
    }
    /// Mean queue duration of accepted dialogues, in seconds.
    async fn average_speed_of_answer(&self) -> Option<f64> {
        self.value("avg_speed_of_answer")
    }
    /// Mean queue duration of abandoned dialogues, in seconds.
    async fn average_abandon_time(&self) -> Option<f64> {
        self.value("avg_abandon_time")
    }
    /// Mean initial talk duration of accepted dialogues, in seconds.
    async fn average_talk_time(&self) -> Option<f64> {
        self.value("avg_talk_time")
    }
    /// Mean IVR duration where present, in seconds.
    async fn average_ivr_time(&self) -> Option<f64> {
        self.value("avg_ivr_time")
    }
    /// Mean session duration where present, in seconds.
    async fn average_session_time(&self) -> Option<f64> {
        self.value("avg_session_time")
    }
    /// Longest queue duration of queued dialogues, in seconds.
    async fn max_queue_time(&self) -> Option<f64> {
        self.value("max_queue_time")
    }
    /// Exact p-quantile (nearest rank: the ⌈p·n⌉-th smallest) of the queue durations of queued
    /// dialogues, in seconds; null when none has one.
    async fn queue_time_percentile(
        &self,
        #[graphql(desc = "The quantile, 0 < p ≤ 1 (0.9 for the 90th percentile).")] p: f64,
    ) -> async_graphql::Result<Option<f64>> {
        self.percentiles
            .iter()
            .find(|(wanted, _)| *wanted == p)
            .map(|(_, value)| *value)
            .ok_or_else(|| ApiError::internal(format!("percentile {p} was not computed")).into())
    }
}

/// The arguments of one `dialogueStats` call.
pub struct StatsRequest {
    pub from: i64,
    pub to: i64,
    pub zone: Tz,
    pub granularity: Granularity,
    pub group_by: Vec<StatsDimension>,
    pub filter: Option<DialogueFilter>,
    /// GraphQL field names selected on the rows (decides which aggregates run).
    pub selected: Vec<String>,
    pub percentiles: Vec<f64>,
    pub max_rows: usize,
}

fn validate_p(p: f64) -> ApiResult<f64> {
    if p.is_finite() && p > 0.0 && p <= 1.0 {
        Ok(p)
    } else {
        Err(ApiError::bad_input(format!(
            "`p` must be greater than 0 and at most 1 (got {p})"
        )))
    }
}

/// The tenant's dialogues of `[from, to)` matching the filter.
fn matching(
    scope_select: Select<dialogue::Entity>,
    request: &StatsRequest,
) -> ApiResult<Select<dialogue::Entity>> {
    let mut select = scope_select
        .filter(dialogue::Column::StartTimestampMs.gte(request.from))
        .filter(dialogue::Column::StartTimestampMs.lt(request.to));
    if let Some(filter) = &request.filter {
        select = select.filter(filter.condition()?);
    }
    Ok(select)
}

/// Runs the aggregation and the percentile queries; rows sorted by period, then group keys.
pub async fn compute(ctx: &Context<'_>, request: StatsRequest) -> ApiResult<Vec<DialogueStats>> {
    let scope = scope(ctx);
    let db = scope.connection();
    let backend = db.get_database_backend();
    let buckets = Bucketing::count(request.zone, request.granularity, request.from, request.to);
    if buckets > request.max_rows as u64 {
        return Err(ApiError::bad_input(format!(
            "this request would produce {buckets} time buckets, more than the {} rows one call may return; \
             use a coarser granularity or a shorter range",
            request.max_rows
        )));
    }
    // Buckets are only needed where the tenant has dialogues: a range of centuries around a
    // year of data costs what that year costs (the month boundaries, the offset changes).
    let Some((first, last)) = data_span(db, scope.dialogues(), &request).await? else {
        return Ok(Vec::new());
    };
    let bucketing = Bucketing::new(
        request.zone,
        request.granularity,
        request.from.max(first),
        request.to.min(last + 1),
    );
    let key_sql = bucketing.key_sql("start_timestamp_ms");
    let dims: Vec<&'static str> = request.group_by.iter().map(|d| d.column()).collect();

    let mut select = matching(scope.dialogues(), &request)?
        .select_only()
        .expr_as(Expr::cust(key_sql.clone()), "bucket");
    for dim in &dims {
        select = select.expr_as(Expr::cust(*dim), *dim);
    }
    let chosen: Vec<Aggregate> = aggregates()
        .into_iter()
        .filter(|a| {
            a.needed_by
                .iter()
                .any(|f| request.selected.iter().any(|s| s == f))
        })
        .collect();
    for aggregate in &chosen {
        select = select.expr_as(Expr::cust(aggregate.sql.clone()), aggregate.alias);
    }
    select = select.group_by(Expr::cust("bucket"));
    for dim in &dims {
        select = select.group_by(Expr::cust(*dim));
    }
    let grouped = select.clone();
    // The aggregation and the percentile ranking are independent scans: run them side by side.
    let aggregation =
        crate::db::query_all_sorting(db, select.limit(request.max_rows as u64 + 1).build(backend));
    let ranking = async {
        if request.percentiles.is_empty() {
            return Ok(HashMap::new());
        }
        percentiles(db, scope.dialogues(), &request, &key_sql, &dims).await
    };
    let (rows, found) = tokio::join!(aggregation, ranking);
    let (rows, found) = (rows?, found?);
    if rows.len() > request.max_rows {
        let inner = grouped.build(backend);
        let count = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT COUNT(*) AS n FROM ({}) AS grouped", inner.sql),
                inner.values.map(|v| v.0).unwrap_or_default(),
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        return Err(ApiError::bad_input(format!(
            "this request would produce {count} rows (time buckets × groups), more than the {} one call may return; \
             narrow the range or the filter, group by fewer dimensions, or use a coarser granularity",
            request.max_rows
        )));
    }

    let mut stats = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = GroupKey::read(row, &request.group_by)?;
        let mut entry = DialogueStats {
            period: bucketing.period(key.bucket),
            key,
            ..Default::default()
        };
        for aggregate in &chosen {
            if aggregate.alias.starts_with("avg_") || aggregate.alias.starts_with("max_") {
                entry.values.insert(
                    aggregate.alias,
                    row.try_get::<Option<f64>>("", aggregate.alias)?,
                );
            } else {
                entry.counts.insert(
                    aggregate.alias,
                    row.try_get::<Option<i64>>("", aggregate.alias)?
                        .unwrap_or(0),
                );
            }
        }
        stats.push(entry);
    }

    if !request.percentiles.is_empty() {
        for entry in &mut stats {
            entry.percentiles = request
                .percentiles
                .iter()
                .map(|p| (*p, found.get(&(entry.key.clone(), p.to_bits())).copied()))
                .collect();
        }
    }
    stats.sort_by(|a, b| a.key.order(&b.key, &request.group_by));
    Ok(stats)
}

/// The first and last start instant of the tenant's dialogues in the range (an index look-up).
async fn data_span(
    db: &sea_orm::DatabaseConnection,
    tenant_dialogues: Select<dialogue::Entity>,
    request: &StatsRequest,
) -> ApiResult<Option<(i64, i64)>> {
    let span = tenant_dialogues
        .filter(dialogue::Column::StartTimestampMs.gte(request.from))
        .filter(dialogue::Column::StartTimestampMs.lt(request.to))
        .select_only()
        .expr_as(Expr::cust("MIN(start_timestamp_ms)"), "first")
        .expr_as(Expr::cust("MAX(start_timestamp_ms)"), "last")
        .build(db.get_database_backend());
    let Some(row) = db.query_one_raw(span).await? else {
        return Ok(None);
    };
    let first: Option<i64> = row.try_get("", "first")?;
    let last: Option<i64> = row.try_get("", "last")?;
    Ok(first.zip(last))
}

/// ⌈p·n⌉, at least 1, computed exactly for `p` as the decimal the client wrote (0.07 is 7%,
/// not the binary float just above it).
pub fn nearest_rank(p: f64, n: u64) -> u64 {
    // Rust prints the shortest decimal that reads back as the same float, never in exponent form.
    let text = format!("{p}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let rank = match (whole.parse::<u128>(), fraction.len() <= 30) {
        (Ok(whole), true) => {
            let scale = 10u128.pow(fraction.len() as u32);
            let numerator = whole * scale + fraction.parse::<u128>().unwrap_or(0);
            (numerator * n as u128).div_ceil(scale)
        }
        // A p too small to write in 30 decimals: p·n < 1 for any realistic n.
        _ => ((p * n as f64).ceil()) as u128,
    };
    (rank as u64).max(1)
}

/// Exact nearest-rank quantiles of the queue duration over Q, per group, for every requested
/// p, in one pass: rows are ranked within their group and only the wanted ranks come back.
async fn percentiles(
    db: &sea_orm::DatabaseConnection,
    tenant_dialogues: Select<dialogue::Entity>,
    request: &StatsRequest,
    key_sql: &str,
    dims: &[&'static str],
) -> ApiResult<HashMap<(GroupKey, u64), f64>> {
    let backend = db.get_database_backend();
    let partition = std::iter::once(key_sql.to_string())
        .chain(dims.iter().map(|d| d.to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut select = matching(tenant_dialogues, request)?
        .filter(Expr::cust(Q))
        .filter(dialogue::Column::QueueDurationInSec.is_not_null())
        .select_only()
        .expr_as(Expr::cust(key_sql.to_string()), "bucket");
    for dim in dims {
        select = select.expr_as(Expr::cust(*dim), *dim);
    }
    select = select
        .expr_as(Expr::cust("queue_duration_in_sec"), "v")
        .expr_as(
            Expr::cust(format!(
                "ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY queue_duration_in_sec)"
            )),
            "rn",
        )
        .expr_as(
            Expr::cust(format!("COUNT(*) OVER (PARTITION BY {partition})")),
            "n",
        );
    let inner = select.build(backend);
    // The database narrows each group to the ranks near p·n (float arithmetic is close
    // enough for that); the exact rank ⌈p·n⌉ is then chosen here, in integers.
    let wanted: Vec<String> = request
        .percentiles
        .iter()
        .map(|p| format!("(rn >= {p:?} * n - 1 AND rn <= {p:?} * n + 1)"))
        .collect();
    let sql = format!(
        "SELECT * FROM ({}) AS ranked WHERE {}",
        inner.sql,
        wanted.join(" OR ")
    );
    let rows = crate::db::query_all_sorting(
        db,
        Statement::from_sql_and_values(backend, sql, inner.values.map(|v| v.0).unwrap_or_default()),
    )
    .await?;
    let mut found = HashMap::new();
    for row in &rows {
        let key = GroupKey::read(row, &request.group_by)?;
        let value: f64 = row.try_get("", "v")?;
        let rank: i64 = row.try_get("", "rn")?;
        let n: i64 = row.try_get("", "n")?;
        for p in &request.percentiles {
            if nearest_rank(*p, n as u64) == rank as u64 {
                found.insert((key.clone(), p.to_bits()), value);
            }
        }
    }
    Ok(found)
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
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime,
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
        // An explicit null means the default, as leaving the argument out does.
        let time_zone = time_zone.unwrap_or_else(|| "UTC".to_string());
        let granularity = granularity.unwrap_or(Granularity::Total);
        let group_by = group_by.unwrap_or_default();
        if from.0 >= to.0 {
            return Err(ApiError::bad_input("`from` must be before `to`").into());
        }
        let zone = Tz::from_str(time_zone.trim()).map_err(|_| {
            ApiError::bad_input(format!(
                "`{time_zone}` is not an IANA time zone name (e.g. Europe/Amsterdam, UTC)"
            ))
        })?;
        for (i, dim) in group_by.iter().enumerate() {
            if group_by[..i].contains(dim) {
                return Err(ApiError::bad_input(format!(
                    "`groupBy` names {} twice",
                    async_graphql::InputType::to_value(dim)
                ))
                .into());
            }
        }
        let mut selected = Vec::new();
        let mut percentiles = Vec::new();
        for field in ctx.field().selection_set() {
            selected.push(field.name().to_string());
            if field.name() == "queueTimePercentile" {
                for (name, value) in field.arguments()? {
                    if name.as_str() == "p" {
                        let p = match value {
                            async_graphql::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                            _ => f64::NAN,
                        };
                        let p = validate_p(p)?;
                        if !percentiles.contains(&p) {
                            percentiles.push(p);
                        }
                    }
                }
            }
        }
        let request = StatsRequest {
            from: from.0,
            to: to.0,
            zone,
            granularity,
            group_by,
            filter,
            selected,
            percentiles,
            max_rows: limits(ctx).max_stats_rows,
        };
        let rows = compute(ctx, request).await?;
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
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_is_exact() {
        assert_eq!(nearest_rank(0.7, 10), 7);
        assert_eq!(nearest_rank(0.07, 100), 7);
        assert_eq!(nearest_rank(0.56, 25), 14);
        assert_eq!(nearest_rank(0.5, 100), 50);
        assert_eq!(nearest_rank(0.500000000001, 100), 51);
        assert_eq!(nearest_rank(1e-12, 100), 1);
        assert_eq!(nearest_rank(1.0, 100), 100);
        assert_eq!(nearest_rank(0.9, 10), 9);
    }
}
