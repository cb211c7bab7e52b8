//! A `dialogueStats` question as the core takes it: the window, zone, buckets, groups, filter,
//! the measures to compute, how groups are ranked and kept, and what they are compared with.
use chrono_tz::Tz;

use crate::buckets::Granularity;
use crate::error::{ApiError, ApiResult};
use crate::query::filter::{DialogueField, Filter};
use crate::query::kpi::Measure;
use crate::query::period::Period;

use super::compare::Comparison;
use super::rank::RankArgs;

/// What stats rows can be grouped by.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    Queue,
    Agent,
    Ivr,
    Direction,
    Outcome,
}

impl Dimension {
    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Queue => "queue_id",
            Self::Agent => "agent_id",
            Self::Ivr => "ivr_id",
            Self::Direction => "direction",
            Self::Outcome => "outcome",
        }
    }

    /// The name in messages (as GraphQL spells it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Queue => "QUEUE",
            Self::Agent => "AGENT",
            Self::Ivr => "IVR",
            Self::Direction => "DIRECTION",
            Self::Outcome => "OUTCOME",
        }
    }
}

/// One `dialogueStats` question.
#[derive(Debug, Clone)]
pub struct StatsRequest {
    pub from: i64,
    pub to: i64,
    pub zone: Tz,
    pub granularity: Granularity,
    pub group_by: Vec<Dimension>,
    pub filter: Option<Filter<DialogueField>>,
    /// The aggregates to compute.
    pub measures: Vec<Measure>,
    /// Queue-time quantiles to compute, each 0 < p ≤ 1.
    pub percentiles: Vec<f64>,
    pub max_rows: usize,
    /// `orderBy`, `first` and `having` (nothing: every group, in the order of its keys).
    pub rank: RankArgs,
    /// The earlier window each row is compared with, if any.
    pub compare: Option<Comparison>,
    /// The `period` the window was resolved from, if it was (`compare` follows it).
    pub period: Option<Period>,
}

/// Checks a quantile's `p`.
pub fn validate_p(p: f64) -> ApiResult<f64> {
    if p.is_finite() && p > 0.0 && p <= 1.0 {
        Ok(p)
    } else {
        Err(ApiError::bad_input(format!(
            "`p` must be greater than 0 and at most 1 (got {p})"
        )))
    }
}
