//! Ranking and thresholds of `dialogueStats` (docs/api.md): `having` keeps the groups whose
//! figures pass it, `orderBy` orders the groups of each time bucket by figures (nulls last in
//! both directions, then by the group keys ascending, so the order is total), and `first` keeps
//! the first N of each bucket. Buckets stay in time order.
//!
//! All of it runs over the grouped results, after the database (pre-aggregates or rows)
//! aggregated them: groups are few, and the figures ranked on are computed with the others
//! ([`Ranking::measures`] adds them to the request's, selected or not).
use std::cmp::Ordering;

use super::request::Dimension;
use super::StatsRow;
use crate::error::{ApiError, ApiResult, Arg, Wording};
use crate::query::kpi::{Measure, StatsMeasure};

/// One key of `orderBy`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StatsOrder {
    pub measure: StatsMeasure,
    pub descending: bool,
}

/// A comparison of a `having` condition.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

impl CompareOp {
    fn holds(self, value: f64, operand: f64) -> bool {
        match self {
            Self::Gt => value > operand,
            Self::Gte => value >= operand,
            Self::Lt => value < operand,
            Self::Lte => value <= operand,
            Self::Eq => value == operand,
            Self::Ne => value != operand,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Eq => "eq",
            Self::Ne => "ne",
        }
    }
}

/// One `having` condition as a door received it: a measure with its comparisons (all must
/// hold), and nested conditions; [`Ranking::new`] checks it.
#[derive(Clone, Debug, Default)]
pub struct HavingNode {
    pub measure: Option<StatsMeasure>,
    pub compare: Vec<(CompareOp, f64)>,
    pub and: Option<Vec<HavingNode>>,
    pub or: Option<Vec<HavingNode>>,
    pub not: Option<Box<HavingNode>>,
}

/// `orderBy`, `first` and `having` of a stats request, as given.
#[derive(Clone, Debug, Default)]
pub struct RankArgs {
    pub order: Vec<StatsOrder>,
    pub first: Option<i64>,
    pub having: Option<HavingNode>,
}

/// A checked `having` condition.
#[derive(Clone, Debug)]
enum Having {
    /// The figure is not null and compares so.
    Is(StatsMeasure, CompareOp, f64),
    All(Vec<Having>),
    Any(Vec<Having>),
    Not(Box<Having>),
}

impl Having {
    /// Checks a condition at `path` (`having`, `having.and[1]`, ...).
    fn check(node: &HavingNode, path: &str) -> ApiResult<Having> {
        let mut all = Vec::new();
        match (node.measure, node.compare.is_empty()) {
            (Some(measure), false) => {
                for (op, operand) in &node.compare {
                    if !operand.is_finite() {
                        return Err(ApiError::bad_input(format!(
                            "`{path}.{}` must be a finite number (got {operand})",
                            op.name()
                        )));
                    }
                    all.push(Having::Is(measure, *op, *operand));
                }
            }
            (Some(measure), true) => {
                return Err(ApiError::bad_input(format!(
                    "`{path}` names the measure {} but no comparison: give at least one of \
                     gt, gte, lt, lte, eq, ne",
                    screaming(measure.name())
                )))
            }
            (None, false) => {
                let ops: Vec<&str> = node.compare.iter().map(|(op, _)| op.name()).collect();
                return Err(ApiError::bad_input(format!(
                    "`{path}` compares ({}) but names no `measure` to compare",
                    ops.join(", ")
                )));
            }
            (None, true) => {
                if node.and.is_none() && node.or.is_none() && node.not.is_none() {
                    return Err(ApiError::bad_input(format!(
                        "`{path}` is empty: give a `measure` and at least one of gt, gte, lt, \
                         lte, eq, ne, or combine conditions with `and`, `or`, `not`"
                    )));
                }
            }
        }
        if let Some(list) = &node.and {
            for (i, inner) in list.iter().enumerate() {
                all.push(Having::check(inner, &format!("{path}.and[{i}]"))?);
            }
        }
        if let Some(list) = &node.or {
            let any = list
                .iter()
                .enumerate()
                .map(|(i, inner)| Having::check(inner, &format!("{path}.or[{i}]")))
                .collect::<ApiResult<Vec<_>>>()?;
            all.push(Having::Any(any));
        }
        if let Some(inner) = &node.not {
            all.push(Having::Not(Box::new(Having::check(
                inner,
                &format!("{path}.not"),
            )?)));
        }
        Ok(match all.len() {
            1 => all.pop().expect("one"),
            _ => Having::All(all),
        })
    }

    /// Whether a group passes; a null figure passes no comparison.
    fn passes(&self, row: &StatsRow) -> bool {
        match self {
            Having::Is(measure, op, operand) => row
                .figure(*measure)
                .is_some_and(|value| op.holds(value, *operand)),
            Having::All(list) => list.iter().all(|h| h.passes(row)),
            Having::Any(list) => list.iter().any(|h| h.passes(row)),
            Having::Not(inner) => !inner.passes(row),
        }
    }

    fn measures(&self, out: &mut Vec<StatsMeasure>) {
        match self {
            Having::Is(measure, ..) => out.push(*measure),
            Having::All(list) | Having::Any(list) => list.iter().for_each(|h| h.measures(out)),
            Having::Not(inner) => inner.measures(out),
        }
    }
}

/// `SERVICE_LEVEL` for `serviceLevel`: a figure as the enum names it, in messages.
fn screaming(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The checked `orderBy`, `first` and `having` of a request.
#[derive(Clone, Debug)]
pub(super) struct Ranking {
    order: Vec<StatsOrder>,
    first: Option<usize>,
    having: Option<Having>,
}

impl Ranking {
    pub(super) fn new(args: &RankArgs) -> ApiResult<Self> {
        let first = match args.first {
            None => None,
            Some(n) if n < 1 => {
                return Err(ApiError::bad_input(
                    Wording::arg(Arg::First).then(format!(" must be at least 1 (got {n})")),
                ))
            }
            Some(_) if args.order.is_empty() => {
                return Err(ApiError::bad_input(
                    Wording::arg(Arg::First)
                        .then(" keeps the first groups of a ranking: give ")
                        .then_arg(Arg::OrderBy)
                        .then(" too (the measures to rank the groups by)"),
                ))
            }
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let having = args
            .having
            .as_ref()
            .map(|node| Having::check(node, "having"))
            .transpose()?;
        Ok(Self {
            order: args.order.clone(),
            first,
            having,
        })
    }

    /// The measures the ranking reads (computed whether or not they are selected).
    pub(super) fn measures(&self) -> Vec<Measure> {
        let mut figures: Vec<StatsMeasure> = self.order.iter().map(|o| o.measure).collect();
        if let Some(having) = &self.having {
            having.measures(&mut figures);
        }
        figures.into_iter().flat_map(|f| f.measures()).collect()
    }

    /// Keeps, orders and cuts `rows` (sorted by period, then group keys): `having`, then the
    /// order within each bucket, then the first N of each bucket.
    pub(super) fn apply(&self, mut rows: Vec<StatsRow>, groups: &[Dimension]) -> Vec<StatsRow> {
        if let Some(having) = &self.having {
            rows.retain(|row| having.passes(row));
        }
        if self.order.is_empty() {
            return rows;
        }
        rows.sort_by(|a, b| {
            a.key
                .bucket
                .cmp(&b.key.bucket)
                .then_with(|| self.compare(a, b))
                .then_with(|| a.key.order(&b.key, groups))
        });
        if let Some(first) = self.first {
            let mut kept = 0;
            let mut bucket = None;
            rows.retain(|row| {
                if bucket != Some(row.key.bucket) {
                    bucket = Some(row.key.bucket);
                    kept = 0;
                }
                kept += 1;
                kept <= first
            });
        }
        rows
    }

    /// By the `orderBy` figures: nulls last in both directions.
    fn compare(&self, a: &StatsRow, b: &StatsRow) -> Ordering {
        for order in &self.order {
            let by = match (a.figure(order.measure), b.figure(order.measure)) {
                (Some(x), Some(y)) => {
                    let by = x.total_cmp(&y);
                    if order.descending {
                        by.reverse()
                    } else {
                        by
                    }
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if by != Ordering::Equal {
                return by;
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::graphql_name;

    fn leaf(measure: Option<StatsMeasure>, compare: Vec<(CompareOp, f64)>) -> HavingNode {
        HavingNode {
            measure,
            compare,
            ..Default::default()
        }
    }

    fn refused(args: RankArgs) -> String {
        Ranking::new(&args).unwrap_err().render(&graphql_name)
    }

    #[test]
    fn arguments_are_checked_with_their_names() {
        let order = vec![StatsOrder {
            measure: StatsMeasure::Offered,
            descending: true,
        }];
        assert_eq!(
            refused(RankArgs {
                order: order.clone(),
                first: Some(0),
                having: None
            }),
            "`first` must be at least 1 (got 0)"
        );
        assert!(refused(RankArgs {
            first: Some(3),
            ..Default::default()
        })
        .contains("give `orderBy` too"));
        let nested = HavingNode {
            and: Some(vec![
                leaf(Some(StatsMeasure::Offered), vec![(CompareOp::Gte, 20.0)]),
                leaf(Some(StatsMeasure::ServiceLevel), vec![]),
            ]),
            ..Default::default()
        };
        assert_eq!(
            refused(RankArgs {
                having: Some(nested),
                ..Default::default()
            }),
            "`having.and[1]` names the measure SERVICE_LEVEL but no comparison: give at least \
             one of gt, gte, lt, lte, eq, ne"
        );
        assert!(refused(RankArgs {
            having: Some(leaf(None, vec![(CompareOp::Lt, 1.0)])),
            ..Default::default()
        })
        .starts_with("`having` compares (lt) but names no `measure`"));
        assert!(refused(RankArgs {
            having: Some(HavingNode::default()),
            ..Default::default()
        })
        .starts_with("`having` is empty"));
    }

    #[test]
    fn figures_ranked_on_are_computed() {
        let ranking = Ranking::new(&RankArgs {
            order: vec![StatsOrder {
                measure: StatsMeasure::AverageTalkTime,
                descending: false,
            }],
            first: Some(1),
            having: Some(HavingNode {
                not: Some(Box::new(leaf(
                    Some(StatsMeasure::AnswerRate),
                    vec![(CompareOp::Gt, 0.5)],
                ))),
                ..Default::default()
            }),
        })
        .unwrap();
        assert_eq!(
            ranking.measures(),
            [
                Measure::AverageTalkTime,
                Measure::Accepted,
                Measure::Offered
            ]
        );
    }

    #[test]
    fn screaming_names() {
        assert_eq!(screaming("averageSpeedOfAnswer"), "AVERAGE_SPEED_OF_ANSWER");
        assert_eq!(screaming("dialogues"), "DIALOGUES");
    }
}
