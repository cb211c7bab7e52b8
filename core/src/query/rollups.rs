//! The pre-aggregates as one more source of the query core (issue 9). The tables, the grains
//! and the triggers that keep them exact are in `crate::rollups`; here the core decides,
//! per question, whether a grain can answer it, and renders the question against the grain.
//!
//! - `totalCount`: from a grain when the filter is a start-time range (top-level `gte`/`gt`/
//!   `lt`/`lte`/`eq` on `startTimestamp`) AND conditions on the grain's dimensions only; the
//!   whole slots inside the range come from the grain, the partial slots at its edges from the
//!   rows. The coarsest grain whose slots the bounds fall on is used, else the finest (least
//!   rows at the edges).
//! - `dialogueStats`: from a grain for every measure whose parts a pre-aggregate column holds
//!   (found by definition: `super::kpi`), so all but the queue-time percentiles and the
//!   what-if thresholds, which need each dialogue's duration: a request asking for either is
//!   answered wholly from the rows (simple, and exact; those requests cost what they cost
//!   before). Otherwise the coarsest grain that holds the `groupBy` and filter dimensions and
//!   whose slots do not straddle a bucket boundary in the zone over the range
//!   ([`Bucketing::aligned_to`]); the slots at the range's edges come from the rows and both
//!   are merged by group key (counts and sums of whole milliseconds add exactly). The flags
//!   (`inSla`, `quickDrop`) are keys of one grain, stored as -1/0/1 and read back as nullable
//!   booleans, so a filter on them compares as on the rows.
//!
//! A filter is the same [`Filter`] tree, rendered against the grain's columns by
//! [`RollupField`]: one translation to SQL. A field's grain column is declared in its row of
//! the catalogue (`query::fields`). A relation filter (`agent: {name: ...}`) on a relation the
//! grain is keyed by is the same semi-join to the endpoints, from the grain's key instead of
//! the row's (every dialogue of a group has that endpoint, so it is exact); on the customer,
//! which no grain holds, the rows answer. Every choice is logged (`tracing` debug, target
//! `insights::query::rollups`) with its reason.
use crate::rollups::{dim_kind, DimKind, Grain, GRAINS};
use sea_orm::sea_query::{Alias, Expr};

use super::filter::{DialogueField, Field, Filter, Kind, Op, Operand};
use super::kpi::{self, Measure};
use super::stats::request::{Dimension, StatsRequest};
use crate::buckets::Bucketing;
use crate::error::ApiResult;

/// A dialogue field as a pre-aggregate table holds it.
#[derive(Debug, Clone, Copy)]
pub(super) struct RollupField {
    table: &'static str,
    field: DialogueField,
}

impl Field for RollupField {
    fn column(self) -> Expr {
        let column = self
            .field
            .rollup_column()
            .expect("only dimensions are mapped");
        let t = self.table;
        Expr::cust(match dim_kind(column) {
            DimKind::Id => format!("NULLIF({t}.{column}, '')"),
            DimKind::Code => format!("{t}.{column}"),
            // Back to a nullable boolean, compared as the row path compares `in_sla`.
            DimKind::Flag => format!("(CASE {t}.{column} WHEN 1 THEN TRUE WHEN 0 THEN FALSE END)"),
        })
    }

    fn nullable(self) -> bool {
        self.field.nullable()
    }

    fn kind(self) -> Kind {
        self.field.kind()
    }

    fn name(self) -> &'static str {
        self.field.name()
    }

    fn endpoint_tenant(self) -> Option<Expr> {
        let t = self.table;
        self.field
            .slot()
            .map(|_| Expr::cust(format!("{t}.tenant_id")))
    }
}

pub(super) fn dimension_of(dim: Dimension) -> &'static str {
    match dim {
        Dimension::Queue => "queue_id",
        Dimension::Agent => "agent_id",
        Dimension::Ivr => "ivr_id",
        Dimension::Direction => "direction",
        Dimension::Outcome => "outcome",
    }
}

/// The select expression of a grouped dimension read from a grain (absent ids back to NULL;
/// the groupBy dimensions are ids and codes).
pub(super) fn group_column(table: &str, column: &str) -> String {
    match dim_kind(column) {
        DimKind::Id => format!("NULLIF({table}.{column}, '')"),
        DimKind::Code | DimKind::Flag => format!("{table}.{column}"),
    }
}

/// The fields a filter compares.
fn fields(filter: &Filter<DialogueField>, out: &mut Vec<DialogueField>) {
    match filter {
        Filter::All(list) | Filter::Any(list) => list.iter().for_each(|f| fields(f, out)),
        Filter::Not(inner) => fields(inner, out),
        Filter::Is(field, _) | Filter::Related(field, _) => {
            if !out.contains(field) {
                out.push(*field)
            }
        }
    }
}

/// The filter over a grain's columns, or the first field the grain does not hold.
pub(super) fn render(
    grain: &Grain,
    filter: &Filter<DialogueField>,
) -> Result<Filter<RollupField>, DialogueField> {
    filter.try_map(&|field| {
        field
            .rollup_column()
            .filter(|c| grain.dims.contains(c))
            .map(|_| RollupField {
                table: grain.table,
                field,
            })
    })
}

/// A count question split into a start-time range and the rest of the filter.
#[derive(Debug, Default)]
pub(super) struct TimeSplit {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub rest: Vec<Filter<DialogueField>>,
}

/// Takes the top-level conjuncts on `startTimestamp` out of a filter.
pub(super) fn split_time(filter: Option<&Filter<DialogueField>>) -> TimeSplit {
    fn walk(filter: &Filter<DialogueField>, split: &mut TimeSplit) {
        if let Filter::All(list) = filter {
            return list.iter().for_each(|f| walk(f, split));
        }
        let bound = match filter {
            Filter::Is(DialogueField::StartTimestamp, op) => match op {
                Op::Gte(Operand::Instant(t)) => Some((Some(*t), None)),
                Op::Gt(Operand::Instant(t)) => Some((Some(t + 1), None)),
                Op::Lt(Operand::Instant(t)) => Some((None, Some(*t))),
                Op::Lte(Operand::Instant(t)) => Some((None, Some(t + 1))),
                Op::Eq(Operand::Instant(t)) => Some((Some(*t), Some(t + 1))),
                _ => None,
            },
            _ => None,
        };
        match bound {
            Some((from, to)) => {
                if let Some(from) = from {
                    split.from = Some(split.from.map_or(from, |f| f.max(from)));
                }
                if let Some(to) = to {
                    split.to = Some(split.to.map_or(to, |t| t.min(to)));
                }
            }
            None => split.rest.push(filter.clone()),
        }
    }
    let mut split = TimeSplit::default();
    if let Some(filter) = filter {
        walk(filter, &mut split);
    }
    split
}

/// The first multiple of `unit` at or after `t`, and the last at or before.
pub(super) fn ceil_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit + if t.rem_euclid(unit) == 0 { 0 } else { unit }
}

pub(super) fn floor_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

/// The grain for a count, or why the rows answer.
pub(super) fn count_grain(split: &TimeSplit) -> Result<&'static Grain, String> {
    let mut used = Vec::new();
    split.rest.iter().for_each(|f| fields(f, &mut used));
    if let Some(field) = used.iter().find(|f| f.rollup_column().is_none()) {
        return Err(format!("rows: filter on {}", field.name()));
    }
    let covering: Vec<&'static Grain> = GRAINS
        .iter()
        .filter(|g| {
            used.iter()
                .all(|f| f.rollup_column().is_some_and(|c| g.dims.contains(&c)))
        })
        .collect();
    let aligned = |g: &Grain| {
        split.from.is_none_or(|t| t % g.slot_ms == 0) && split.to.is_none_or(|t| t % g.slot_ms == 0)
    };
    let grain = covering
        .iter()
        .find(|g| aligned(g))
        .or(covering.last())
        .copied()
        .ok_or_else(|| "rows: no grain holds the filter's dimensions together".to_string())?;
    if let (Some(from), Some(to)) = (split.from, split.to) {
        if ceil_to(from, grain.slot_ms) >= floor_to(to, grain.slot_ms) {
            return Err("rows: the range holds no whole slot".into());
        }
    }
    Ok(grain)
}

/// The grain for a stats request, or why the rows answer.
pub(super) fn stats_grain(
    request: &StatsRequest,
    measures: &[Measure],
    bucketing: &Bucketing,
) -> Result<&'static Grain, String> {
    if !request.percentiles.is_empty() {
        return Err("rows: queue-time percentiles rank each dialogue".into());
    }
    if let Some(m) = measures.iter().find(|m| {
        kpi::parts(&[**m])
            .iter()
            .any(|p| p.rollup_column().is_none())
    }) {
        return Err(format!("rows: no pre-aggregate column holds {m:?}"));
    }
    let mut used = Vec::new();
    if let Some(filter) = &request.filter {
        fields(filter, &mut used);
    }
    if let Some(field) = used.iter().find(|f| f.rollup_column().is_none()) {
        return Err(format!("rows: filter on {}", field.name()));
    }
    let mut columns: Vec<&'static str> = used.iter().filter_map(|f| f.rollup_column()).collect();
    columns.extend(request.group_by.iter().map(|d| dimension_of(*d)));
    let mut reason = "rows: no grain holds the dimensions together".to_string();
    for grain in &GRAINS {
        if !columns.iter().all(|c| grain.dims.contains(c)) {
            continue;
        }
        if !bucketing.aligned_to(grain.slot_ms) {
            reason = format!(
                "rows: the buckets in {} are not aligned to {}-minute slots",
                request.zone.name(),
                grain.slot_ms / 60_000
            );
            continue;
        }
        if ceil_to(request.from, grain.slot_ms) >= floor_to(request.to, grain.slot_ms) {
            reason = "rows: the range holds no whole slot".into();
            continue;
        }
        return Ok(grain);
    }
    Err(reason)
}

impl super::TenantScope {
    /// `count_dialogues` from the pre-aggregates where a grain can answer, else `None`.
    pub(super) async fn count_from_rollups(
        &self,
        filter: Option<&Filter<DialogueField>>,
    ) -> ApiResult<Option<i64>> {
        use entity::dialogue;
        use sea_orm::{ColumnTrait, QueryFilter};

        let split = split_time(filter);
        let grain = match count_grain(&split) {
            Ok(grain) => grain,
            Err(reason) => {
                tracing::debug!(reason, "totalCount");
                return Ok(None);
            }
        };
        let (t, unit) = (grain.table, grain.slot_ms);
        let lo = split.from.map(|from| ceil_to(from, unit));
        let hi = split.to.map(|to| floor_to(to, unit));
        let mut select = self.rollup(t);
        select.expr_as(
            Expr::cust(format!("CAST(COALESCE(SUM({t}.n), 0) AS BIGINT)")),
            Alias::new("n"),
        );
        if let Some(lo) = lo {
            select.and_where(Expr::cust(format!("{t}.slot_ms >= {lo}")));
        }
        if let Some(hi) = hi {
            select.and_where(Expr::cust(format!("{t}.slot_ms < {hi}")));
        }
        for part in &split.rest {
            let rendered = render(grain, part).expect("count_grain checked the fields");
            select.cond_where(rendered.condition()?);
        }
        let statement = self.backend().build(&select);
        let middle = async {
            let row = self.one(statement).await?;
            ApiResult::Ok(
                row.map(|r| r.try_get::<i64>("", "n"))
                    .transpose()?
                    .unwrap_or(0),
            )
        };
        // The partial slots at the edges, from the rows (the filter as given, time included).
        let edge = |from: i64, to: i64| async move {
            if from >= to {
                return ApiResult::Ok(0);
            }
            let rows = self
                .dialogues()
                .filter(dialogue::Column::StartTimestampMs.gte(from))
                .filter(dialogue::Column::StartTimestampMs.lt(to));
            self.count(rows, filter).await
        };
        let (middle, before, after) = tokio::join!(
            middle,
            edge(split.from.unwrap_or(0), lo.unwrap_or(0)),
            edge(hi.unwrap_or(0), split.to.unwrap_or(0)),
        );
        tracing::debug!(
            source = t,
            from = ?split.from,
            to = ?split.to,
            "totalCount from pre-aggregates, partial slots from rows"
        );
        Ok(Some(middle? + before? + after?))
    }
}

#[cfg(test)]
mod tests {
    //! Which source answers which question: the exactness of each source is pinned by
    //! `tests/rollups.rs`, which compares them; here, that the grains are actually chosen.
    use super::*;
    use crate::buckets::Granularity;
    use chrono_tz::Tz;

    const MARCH: i64 = 1_772_323_200_000; // 2026-03-01T00:00:00Z
    const APRIL: i64 = 1_775_001_600_000; // 2026-04-01T00:00:00Z

    fn grain_for(
        zone: Tz,
        granularity: Granularity,
        group_by: &[Dimension],
        filter: Option<Filter<DialogueField>>,
    ) -> Result<&'static str, String> {
        let request = StatsRequest {
            from: MARCH,
            to: APRIL,
            zone,
            granularity,
            group_by: group_by.to_vec(),
            filter,
            measures: vec![Measure::Offered, Measure::AverageSpeedOfAnswer],
            percentiles: Vec::new(),
            max_rows: 100_000,
            rank: Default::default(),
            compare: None,
            period: None,
        };
        let bucketing = Bucketing::new(zone, granularity, MARCH, APRIL);
        stats_grain(&request, &request.measures, &bucketing).map(|g| g.table)
    }

    /// The grain for all of `measures`, UTC days by queue over March.
    fn grain_measuring(measures: Vec<Measure>) -> Result<&'static str, String> {
        let request = StatsRequest {
            from: MARCH,
            to: APRIL,
            zone: chrono_tz::UTC,
            granularity: Granularity::Day,
            group_by: vec![Dimension::Queue],
            filter: None,
            measures,
            percentiles: Vec::new(),
            max_rows: 100_000,
            rank: Default::default(),
            compare: None,
            period: None,
        };
        let bucketing = Bucketing::new(request.zone, request.granularity, MARCH, APRIL);
        stats_grain(&request, &request.measures, &bucketing).map(|g| g.table)
    }

    #[test]
    fn every_catalogued_kpi_is_served_from_the_pre_aggregates() {
        // A KPI whose parts no aggregate column holds is answered from the rows: one that
        // should be fast needs its column in `crate::rollups::AGGREGATES` (and a migration).
        for kpi in kpi::CATALOGUE {
            assert_eq!(
                grain_measuring(vec![kpi.measure]),
                Ok("rollup_day_queue"),
                "{}",
                kpi.name
            );
        }
        let all = kpi::CATALOGUE.iter().map(|k| k.measure).collect();
        assert_eq!(grain_measuring(all), Ok("rollup_day_queue"));
        let t = kpi::Threshold::new(20.0, "t").unwrap();
        assert!(grain_measuring(vec![Measure::Offered, Measure::AcceptedWithin(t)]).is_err());
        assert!(grain_measuring(vec![Measure::AbandonedWithin(t)]).is_err());
    }

    fn is(field: DialogueField, op: Op) -> Option<Filter<DialogueField>> {
        Some(Filter::Is(field, op))
    }

    #[test]
    fn stats_take_the_coarsest_grain_holding_their_dimensions() {
        use chrono_tz::{Asia, Europe, UTC};
        use DialogueField as F;
        use Dimension as D;
        let ams = Europe::Amsterdam;
        assert_eq!(
            grain_for(UTC, Granularity::Day, &[D::Queue], None),
            Ok("rollup_day_queue")
        );
        assert_eq!(
            grain_for(ams, Granularity::Day, &[D::Queue], None),
            Ok("rollup_hour_queue")
        );
        assert_eq!(
            grain_for(ams, Granularity::Day, &[D::Agent], None),
            Ok("rollup_hour_agent")
        );
        assert_eq!(
            grain_for(
                ams,
                Granularity::Month,
                &[D::Ivr, D::Direction, D::Outcome],
                None
            ),
            Ok("rollup_hour_dims")
        );
        let in_sla = is(F::InSla, Op::Eq(Operand::Bool(true)));
        assert_eq!(
            grain_for(ams, Granularity::Hour, &[D::Queue], in_sla.clone()),
            Ok("rollup_hour_dims")
        );
        let no_quick_drop = is(F::QuickDrop, Op::IsNull(true));
        assert_eq!(
            grain_for(UTC, Granularity::Total, &[D::Outcome], no_quick_drop),
            Ok("rollup_hour_dims")
        );
        let agent = is(F::AgentId, Op::Eq(Operand::Text("a-1".into())));
        assert_eq!(
            grain_for(ams, Granularity::Week, &[], agent.clone()),
            Ok("rollup_hour_agent")
        );
        // +05:30 days start on half hours: the 15-minute grain, which holds no dimension.
        assert_eq!(
            grain_for(Asia::Kolkata, Granularity::Day, &[], None),
            Ok("rollup_15m")
        );
        assert_eq!(
            grain_for(ams, Granularity::FifteenMinutes, &[], None),
            Ok("rollup_15m")
        );
        assert!(grain_for(Asia::Kolkata, Granularity::Day, &[D::Queue], None).is_err());
        // The rows answer: dimensions no grain holds together, a zone no hour grain aligns
        // with, a filter on a measure.
        assert!(grain_for(ams, Granularity::Day, &[D::Agent], in_sla).is_err());
        assert!(grain_for(ams, Granularity::Day, &[D::Queue, D::Agent], None).is_err());
        assert!(grain_for(Asia::Kathmandu, Granularity::Day, &[D::Agent], None).is_err());
        let slow = is(F::QueueDuration, Op::Gt(Operand::Float(20.0)));
        assert!(grain_for(UTC, Granularity::Day, &[], slow).is_err());
        // A relation filter: from a grain keyed by the relation, else from the rows.
        let named = |field| {
            Some(Filter::Not(Box::new(Filter::Related(
                field,
                Box::new(Filter::Is(
                    super::super::EndpointField::Name,
                    Op::Contains("jan".into()),
                )),
            ))))
        };
        assert_eq!(
            grain_for(UTC, Granularity::Day, &[], named(F::AgentId)),
            Ok("rollup_hour_agent")
        );
        assert_eq!(
            grain_for(UTC, Granularity::Day, &[D::Queue], named(F::QueueId)),
            Ok("rollup_day_queue")
        );
        assert!(grain_for(UTC, Granularity::Day, &[], named(F::CustomerId)).is_err());
        assert!(grain_for(UTC, Granularity::Day, &[D::Queue], named(F::AgentId)).is_err());
    }

    #[test]
    fn counts_take_a_grain_holding_the_filter() {
        let count = |filter: Option<Filter<DialogueField>>| {
            let split = split_time(filter.as_ref());
            count_grain(&split).map(|g| g.table)
        };
        let range = |rest: Filter<DialogueField>| {
            Some(Filter::All(vec![
                Filter::Is(
                    DialogueField::StartTimestamp,
                    Op::Gte(Operand::Instant(MARCH)),
                ),
                Filter::Is(
                    DialogueField::StartTimestamp,
                    Op::Lt(Operand::Instant(APRIL + 3_600_000)),
                ),
                rest,
            ]))
        };
        assert_eq!(count(None), Ok("rollup_day_queue"));
        let outcome = Filter::Is(
            DialogueField::Outcome,
            Op::Eq(Operand::Outcome(entity::Outcome::Abandoned)),
        );
        assert_eq!(count(range(outcome)), Ok("rollup_hour_dims"));
        let agent = Filter::Is(DialogueField::AgentId, Op::IsNull(false));
        assert_eq!(count(range(agent)), Ok("rollup_hour_agent"));
        let customer = Filter::Is(DialogueField::CustomerId, Op::IsNull(false));
        assert!(count(range(customer)).is_err());
    }
}
