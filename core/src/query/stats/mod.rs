//! Contact-center KPIs per time bucket × group (docs/api.md), aggregated by the database with
//! GROUP BY and conditional aggregates, never by loading dialogues; exact nearest-rank
//! percentiles by window functions. Front ends name the [`Measure`]s they will show and only
//! those aggregates run; what a measure computes, over the rows and from the pre-aggregates, is
//! declared once in the KPI catalogue (`super::kpi`). The grouped results are then ranked and
//! kept (`rank`) and compared with an earlier window (`compare`).
use std::cmp::Ordering;
use std::collections::HashMap;

use entity::{dialogue, Direction, Outcome};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, QueryFilter, QueryResult, QuerySelect, QueryTrait, Select, Statement};

mod compare;
mod rank;
pub(super) mod request;

pub use compare::Comparison;
pub use rank::{CompareOp, HavingNode, RankArgs, StatsOrder};
pub use request::{validate_p, Dimension, StatsRequest};

use super::kpi::{self, Figure, Measure, Part, Partial, StatsMeasure, Value};
use super::rollups;
use super::TenantScope;
use crate::buckets::Bucketing;
use crate::error::{ApiError, ApiResult};
use crate::rollups::Grain;
use sea_orm::sea_query::Alias;

/// The rows a queue-time percentile ranks: queued dialogues with a queue duration.
fn ranked_rows() -> String {
    format!(
        "queue_enter_timestamp_ms IS NOT NULL AND outcome IN ({}, {}) AND queue_duration_in_sec IS NOT NULL",
        Outcome::Accepted.code(),
        Outcome::Abandoned.code()
    )
}

/// The group a row belongs to: its bucket key and the values of the grouped dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GroupKey {
    pub bucket: i64,
    pub queue_id: Option<String>,
    pub agent_id: Option<String>,
    pub ivr_id: Option<String>,
    pub direction: Option<Direction>,
    pub outcome: Option<Outcome>,
}

impl GroupKey {
    fn read(row: &QueryResult, groups: &[Dimension]) -> ApiResult<Self> {
        let mut key = GroupKey {
            bucket: row.try_get::<i64>("", "bucket")?,
            ..Default::default()
        };
        for dim in groups {
            match dim {
                Dimension::Queue => key.queue_id = row.try_get("", "queue_id")?,
                Dimension::Agent => key.agent_id = row.try_get("", "agent_id")?,
                Dimension::Ivr => key.ivr_id = row.try_get("", "ivr_id")?,
                Dimension::Direction => {
                    let code: Option<i16> = row.try_get("", "direction")?;
                    key.direction = code.and_then(|c| Direction::from_code(c as i64));
                }
                Dimension::Outcome => {
                    let code: Option<i16> = row.try_get("", "outcome")?;
                    key.outcome = code.and_then(|c| Outcome::from_code(c as i64));
                }
            }
        }
        Ok(key)
    }

    /// Period first, then the group keys in `groupBy` order; absent keys last; ids by their
    /// bytes, so the order is the same on every database whatever its collation.
    fn order(&self, other: &Self, groups: &[Dimension]) -> Ordering {
        fn none_last<T: Ord>(a: &Option<T>, b: &Option<T>) -> Ordering {
            match (a, b) {
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        let code = |d: &Option<Direction>| d.map(Direction::code);
        let outcome = |o: &Option<Outcome>| o.map(Outcome::code);
        groups
            .iter()
            .fold(self.bucket.cmp(&other.bucket), |order, dim| {
                order.then_with(|| match dim {
                    Dimension::Queue => none_last(&self.queue_id, &other.queue_id),
                    Dimension::Agent => none_last(&self.agent_id, &other.agent_id),
                    Dimension::Ivr => none_last(&self.ivr_id, &other.ivr_id),
                    Dimension::Direction => {
                        none_last(&code(&self.direction), &code(&other.direction))
                    }
                    Dimension::Outcome => {
                        none_last(&outcome(&self.outcome), &outcome(&other.outcome))
                    }
                })
            })
    }
}

/// The KPIs of one time bucket × group.
#[derive(Debug, Clone, Default)]
pub struct StatsRow {
    pub key: GroupKey,
    /// `[start, end)` of the bucket; none for TOTAL.
    pub period: Option<(i64, i64)>,
    counts: HashMap<Measure, i64>,
    values: HashMap<Measure, Option<f64>>,
    /// Requested p → its queue-time quantile.
    percentiles: Vec<(f64, Option<f64>)>,
    /// The same group in the matching bucket of the earlier window, with `compareTo`.
    pub previous: Option<Box<StatsRow>>,
}

impl StatsRow {
    /// A count measure (0 when it was not requested).
    pub fn count(&self, measure: Measure) -> i64 {
        self.counts.get(&measure).copied().unwrap_or(0)
    }

    /// A mean or maximum in seconds; none when no dialogue of the group has one.
    pub fn value(&self, measure: Measure) -> Option<f64> {
        self.values.get(&measure).copied().flatten()
    }

    /// A ratio's (numerator, denominator); none for a figure that is not a ratio.
    pub fn ratio(&self, figure: StatsMeasure) -> Option<(i64, i64)> {
        match figure.figure() {
            Figure::Ratio(ratio) => Some(ratio.parts(|m| self.count(m))),
            Figure::Measure(_) => None,
        }
    }

    /// A figure's value as groups are ranked and kept by it: a count, seconds, or a ratio's
    /// value (none when its denominator is 0).
    pub fn figure(&self, figure: StatsMeasure) -> Option<f64> {
        match figure.figure() {
            Figure::Ratio(ratio) => {
                let (numerator, denominator) = ratio.parts(|m| self.count(m));
                (denominator != 0).then(|| numerator as f64 / denominator as f64)
            }
            Figure::Measure(measure) => match self.counts.get(&measure) {
                Some(n) => Some(*n as f64),
                None => self.value(measure),
            },
        }
    }

    /// A group with no dialogues: counts and totals 0, averages, maxima and quantiles none.
    fn empty(
        key: GroupKey,
        period: Option<(i64, i64)>,
        measures: &[Measure],
        percentiles: &[f64],
    ) -> Self {
        let mut row = StatsRow {
            key,
            period,
            percentiles: percentiles.iter().map(|p| (*p, None)).collect(),
            ..Default::default()
        };
        row.compute(measures, &Partial::default());
        row
    }

    /// The measures' values from the group's merged parts.
    fn compute(&mut self, measures: &[Measure], partial: &Partial) {
        for measure in measures {
            match measure.formula().value(partial) {
                Value::Count(n) => {
                    self.counts.insert(*measure, n);
                }
                Value::Seconds(v) => {
                    self.values.insert(*measure, v);
                }
            }
        }
    }

    /// The queue-time quantile for `p`, if it was requested.
    pub fn percentile(&self, p: f64) -> Option<Option<f64>> {
        self.percentiles
            .iter()
            .find(|(wanted, _)| *wanted == p)
            .map(|(_, value)| *value)
    }
}

/// The dialogues of `[from, to)` matching the filter.
fn matching(
    tenant_dialogues: Select<dialogue::Entity>,
    request: &StatsRequest,
    from: i64,
    to: i64,
) -> ApiResult<Select<dialogue::Entity>> {
    let mut select = tenant_dialogues
        .filter(dialogue::Column::StartTimestampMs.gte(from))
        .filter(dialogue::Column::StartTimestampMs.lt(to));
    if let Some(filter) = &request.filter {
        select = select.filter(filter.condition()?);
    }
    Ok(select)
}

/// The stats rows of the groups: values computed once from the merged parts, percentiles
/// attached, sorted.
fn finish(
    groups: Vec<(GroupKey, Partial)>,
    request: &StatsRequest,
    bucketing: &Bucketing,
    measures: &[Measure],
    found: &HashMap<(GroupKey, u64), f64>,
) -> Vec<StatsRow> {
    let mut stats = Vec::with_capacity(groups.len());
    for (key, partial) in groups {
        let mut entry = StatsRow {
            period: bucketing.period(key.bucket),
            key,
            ..Default::default()
        };
        entry.compute(measures, &partial);
        entry.percentiles = request
            .percentiles
            .iter()
            .map(|p| (*p, found.get(&(entry.key.clone(), p.to_bits())).copied()))
            .collect();
        stats.push(entry);
    }
    stats.sort_by(|a, b| a.key.order(&b.key, &request.group_by));
    stats
}

impl TenantScope {
    /// The stats rows of a request: the groups aggregated by the database, kept and ranked
    /// within each bucket (`having`, `orderBy`, `first`; without them sorted by period, then
    /// group keys), each with its `previous` when the request compares. The earlier window is
    /// aggregated alongside, by the same path.
    pub async fn dialogue_stats(&self, request: &StatsRequest) -> ApiResult<Vec<StatsRow>> {
        let ranking = rank::Ranking::new(&request.rank)?;
        let mut measures: Vec<Measure> = Vec::new();
        for measure in request.measures.iter().chain(&ranking.measures()) {
            if !measures.contains(measure) {
                measures.push(*measure);
            }
        }
        // The aggregations are boxed: their futures are large, and every resolver that awaits
        // this one would otherwise carry them on its stack.
        let Some(earlier) = compare::Earlier::of(request) else {
            let rows = Box::pin(self.groups(request, &measures)).await?;
            return Ok(ranking.apply(rows, &request.group_by));
        };
        let earlier_request = earlier.request(request);
        let before = async {
            if earlier.from >= earlier.to {
                // The whole window is a date the earlier year or month does not have.
                return Ok(Vec::new());
            }
            Box::pin(self.groups(&earlier_request, &measures)).await
        };
        let (rows, before) = tokio::join!(Box::pin(self.groups(request, &measures)), before);
        let mut rows = ranking.apply(rows?, &request.group_by);
        earlier.attach(&mut rows, before?, &measures, &request.percentiles);
        Ok(rows)
    }

    /// Runs the aggregation and the percentile queries for `measures`; rows sorted by period,
    /// then group keys.
    async fn groups(
        &self,
        request: &StatsRequest,
        measures: &[Measure],
    ) -> ApiResult<Vec<StatsRow>> {
        let backend = self.backend();
        if request.from >= request.to {
            return Err(ApiError::bad_input("`from` must be before `to`"));
        }
        for (i, dim) in request.group_by.iter().enumerate() {
            if request.group_by[..i].contains(dim) {
                return Err(ApiError::bad_input(format!(
                    "`groupBy` names {} twice",
                    dim.name()
                )));
            }
        }
        for p in &request.percentiles {
            validate_p(*p)?;
        }
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
        let Some((first, last)) = self.data_span(request).await? else {
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

        if self.uses_rollups() {
            match rollups::stats_grain(request, measures, &bucketing) {
                Ok(grain) => {
                    if let Some(stats) = self
                        .stats_from_rollup(grain, request, &bucketing, measures)
                        .await?
                    {
                        return Ok(stats);
                    }
                    tracing::debug!(
                        reason = "rows: more groups than one call may return",
                        "dialogueStats"
                    );
                }
                Err(reason) => tracing::debug!(reason, "dialogueStats"),
            }
        } else {
            tracing::debug!(reason = "rows: pre-aggregates off", "dialogueStats");
        }

        let parts = kpi::parts(measures);
        let select = self.aggregate_rows(request, request.from, request.to, &key_sql, &parts)?;
        let grouped = select.clone();
        // The aggregation and the percentile ranking are independent scans: run them side by side.
        let aggregation = self.all(select.limit(request.max_rows as u64 + 1).build(backend));
        let ranking = async {
            if request.percentiles.is_empty() {
                return Ok(HashMap::new());
            }
            self.percentiles(request, &key_sql, &dims).await
        };
        let (rows, found) = tokio::join!(aggregation, ranking);
        let (rows, found) = (rows?, found?);
        if rows.len() > request.max_rows {
            let inner = grouped.build(backend);
            let count = self
                .one(Statement::from_sql_and_values(
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

        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            groups.push((
                GroupKey::read(row, &request.group_by)?,
                Partial::read(row, &parts)?,
            ));
        }
        Ok(finish(groups, request, &bucketing, measures, &found))
    }

    /// The GROUP BY over the rows of `[from, to)`: bucket key, grouped dimensions and the
    /// parts' aggregates ([`Part::sql`]).
    fn aggregate_rows(
        &self,
        request: &StatsRequest,
        from: i64,
        to: i64,
        key_sql: &str,
        parts: &[Part],
    ) -> ApiResult<Select<dialogue::Entity>> {
        let dims: Vec<&'static str> = request.group_by.iter().map(|d| d.column()).collect();
        let mut select = matching(self.dialogues(), request, from, to)?
            .select_only()
            .expr_as(Expr::cust(key_sql.to_string()), "bucket");
        for dim in &dims {
            select = select.expr_as(Expr::cust(*dim), *dim);
        }
        for part in parts {
            select = select.expr_as(Expr::cust(part.sql()), part.alias());
        }
        select = select.group_by(Expr::cust("bucket"));
        for dim in &dims {
            select = select.group_by(Expr::cust(*dim));
        }
        Ok(select)
    }

    /// The stats from a pre-aggregate: its whole slots inside the range, plus the rows of the
    /// partial slots at the edges, merged by group key. `None` when there are more groups than
    /// one call may return (the row path then says how many).
    async fn stats_from_rollup(
        &self,
        grain: &'static Grain,
        request: &StatsRequest,
        bucketing: &Bucketing,
        measures: &[Measure],
    ) -> ApiResult<Option<Vec<StatsRow>>> {
        let backend = self.backend();
        let (t, unit) = (grain.table, grain.slot_ms);
        let lo = rollups::ceil_to(request.from, unit);
        let hi = rollups::floor_to(request.to, unit);
        let limit = request.max_rows as u64 + 1;

        let mut select = self.rollup(t);
        select.expr_as(
            Expr::cust(bucketing.key_sql(&format!("{t}.slot_ms"))),
            Alias::new("bucket"),
        );
        for dim in &request.group_by {
            let column = rollups::dimension_of(*dim);
            select.expr_as(
                Expr::cust(rollups::group_column(t, column)),
                Alias::new(dim.column()),
            );
        }
        let parts = kpi::parts(measures);
        for part in &parts {
            let sql = part.rollup_sql(t).expect("stats_grain checked");
            select.expr_as(Expr::cust(sql), Alias::new(part.alias()));
        }
        select
            .and_where(Expr::cust(format!("{t}.slot_ms >= {lo}")))
            .and_where(Expr::cust(format!("{t}.slot_ms < {hi}")));
        if let Some(filter) = &request.filter {
            let rendered = rollups::render(grain, filter).expect("stats_grain checked the fields");
            select.cond_where(rendered.condition()?);
        }
        select.add_group_by([Expr::cust("bucket")]);
        for dim in &request.group_by {
            select.add_group_by([Expr::cust(format!("{t}.{}", rollups::dimension_of(*dim)))]);
        }
        select.limit(limit);
        let middle = self.all(backend.build(&select));

        let key_sql = bucketing.key_sql("start_timestamp_ms");
        let parts = &parts;
        let edge = |from: i64, to: i64| {
            let key_sql = key_sql.clone();
            async move {
                if from >= to {
                    return ApiResult::Ok(Vec::new());
                }
                let select = self.aggregate_rows(request, from, to, &key_sql, parts)?;
                self.all(select.limit(limit).build(backend)).await
            }
        };
        let (middle, before, after) =
            tokio::join!(middle, edge(request.from, lo), edge(hi, request.to));
        let (middle, before, after) = (middle?, before?, after?);
        if middle.len().max(before.len()).max(after.len()) > request.max_rows {
            return Ok(None);
        }
        let mut merged: HashMap<GroupKey, Partial> = HashMap::new();
        for row in middle.iter().chain(&before).chain(&after) {
            let key = GroupKey::read(row, &request.group_by)?;
            let partial = Partial::read(row, parts)?;
            match merged.get_mut(&key) {
                Some(existing) => existing.merge(partial),
                None => {
                    merged.insert(key, partial);
                }
            }
        }
        if merged.len() > request.max_rows {
            return Ok(None);
        }
        tracing::debug!(
            source = t,
            edges_from_rows = lo > request.from || hi < request.to,
            "dialogueStats from pre-aggregates"
        );
        Ok(Some(finish(
            merged.into_iter().collect(),
            request,
            bucketing,
            measures,
            &HashMap::new(),
        )))
    }

    /// The first and last start instant of the tenant's dialogues in the range (an index look-up).
    async fn data_span(&self, request: &StatsRequest) -> ApiResult<Option<(i64, i64)>> {
        let span = self
            .dialogues()
            .filter(dialogue::Column::StartTimestampMs.gte(request.from))
            .filter(dialogue::Column::StartTimestampMs.lt(request.to))
            .select_only()
            .expr_as(Expr::cust("MIN(start_timestamp_ms)"), "first")
            .expr_as(Expr::cust("MAX(start_timestamp_ms)"), "last")
            .build(self.backend());
        let Some(row) = self.one(span).await? else {
            return Ok(None);
        };
        let first: Option<i64> = row.try_get("", "first")?;
        let last: Option<i64> = row.try_get("", "last")?;
        Ok(first.zip(last))
    }

    /// Exact nearest-rank quantiles of the queue duration over Q, per group, for every requested
    /// p, in one pass: rows are ranked within their group and only the wanted ranks come back.
    async fn percentiles(
        &self,
        request: &StatsRequest,
        key_sql: &str,
        dims: &[&'static str],
    ) -> ApiResult<HashMap<(GroupKey, u64), f64>> {
        let backend = self.backend();
        let partition = std::iter::once(key_sql.to_string())
            .chain(dims.iter().map(|d| d.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut select = matching(self.dialogues(), request, request.from, request.to)?
            .filter(Expr::cust(ranked_rows()))
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
        let rows = self
            .all(Statement::from_sql_and_values(
                backend,
                sql,
                inner.values.map(|v| v.0).unwrap_or_default(),
            ))
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
