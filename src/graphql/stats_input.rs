//! The ranking and comparison arguments of `dialogueStats` and `dialogueStatsChanged`
//! (`orderBy`, `first`, `having`, `compareTo`), read into the query core's request. What they
//! mean (checks, order, thresholds, the earlier window) is the core's (`query::stats::rank`,
//! `query::stats::compare`); here they are only mapped.
use async_graphql::{Enum, InputObject};
use insights_core::query::{self, CompareOp, HavingNode, RankArgs};

use super::OrderDirection;

/// A figure of `DialogueStats` without arguments, to rank and keep groups by (`orderBy`,
/// `having`); a ratio compares by its `value`. Each is the field of the same name.
// (Not in the schema's description:) the core's `StatsMeasure` is declared by the KPI
// catalogue; `remote` makes the compiler refuse a variant on one side only.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "insights_core::query::StatsMeasure")]
pub enum StatsMeasure {
    /// `dialogues`.
    Dialogues,
    /// `inbound`.
    Inbound,
    /// `outbound`.
    Outbound,
    /// `offered`.
    Offered,
    /// `accepted`.
    Accepted,
    /// `abandoned`.
    Abandoned,
    /// `quickDrops` (the stored quickDrop flags).
    QuickDrops,
    /// `ivrDrops`.
    IvrDrops,
    /// `acceptedInSla`.
    AcceptedInSla,
    /// `serviceLevel.value` (the stored inSla flags).
    ServiceLevel,
    /// `abandonRate.value` (the stored quickDrop flags).
    AbandonRate,
    /// `answerRate.value`.
    AnswerRate,
    /// `averageSpeedOfAnswer`.
    AverageSpeedOfAnswer,
    /// `averageAbandonTime`.
    AverageAbandonTime,
    /// `averageTalkTime`.
    AverageTalkTime,
    /// `averageIvrTime`.
    AverageIvrTime,
    /// `averageSessionTime`.
    AverageSessionTime,
    /// `maxQueueTime`.
    MaxQueueTime,
    /// `totalTalkTime`.
    TotalTalkTime,
}

/// The earlier window each stats row is compared with (`previous`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "insights_core::query::Comparison")]
pub enum StatsComparison {
    /// The window of the same local length just before this one: the previous day, ISO week or
    /// calendar month for those periods; for `from`/`to`, the same local duration before `from`.
    PreviousPeriod,
    /// The same local times 7 days earlier.
    SamePeriodLastWeek,
    /// The same local dates a year earlier (with WEEK buckets, the ISO week with the same
    /// number).
    SamePeriodLastYear,
}

/// One key of a stats ranking.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct StatsOrder {
    /// The figure to rank by.
    pub measure: StatsMeasure,
    /// Ascending or descending; groups whose figure is null come last either way.
    pub direction: OrderDirection,
}

/// Which groups to keep: a `measure` with comparisons (all must hold; a null figure passes
/// none), and `and`/`or`/`not` over further conditions, all of which must hold together.
/// `or: []` keeps nothing, `and: []` everything.
#[derive(InputObject, Clone, Debug, Default)]
pub struct StatsHaving {
    /// The figure the comparisons of this condition test.
    pub measure: Option<StatsMeasure>,
    /// Greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
    /// Equal.
    pub eq: Option<f64>,
    /// Not equal (a null figure is not unequal either).
    pub ne: Option<f64>,
    /// Every one holds.
    pub and: Option<Vec<StatsHaving>>,
    /// At least one holds.
    pub or: Option<Vec<StatsHaving>>,
    /// Does not hold.
    pub not: Option<Box<StatsHaving>>,
}

impl StatsHaving {
    /// The condition as the core takes it (the core checks it).
    fn node(&self) -> HavingNode {
        let compare = [
            (CompareOp::Gt, self.gt),
            (CompareOp::Gte, self.gte),
            (CompareOp::Lt, self.lt),
            (CompareOp::Lte, self.lte),
            (CompareOp::Eq, self.eq),
            (CompareOp::Ne, self.ne),
        ]
        .into_iter()
        .filter_map(|(op, operand)| operand.map(|x| (op, x)))
        .collect();
        let list =
            |l: &Option<Vec<StatsHaving>>| l.as_ref().map(|l| l.iter().map(Self::node).collect());
        HavingNode {
            measure: self.measure.map(Into::into),
            compare,
            and: list(&self.and),
            or: list(&self.or),
            not: self.not.as_ref().map(|n| Box::new(n.node())),
        }
    }
}

/// `orderBy`, `first` and `having` as the core takes them.
pub fn rank_args(
    order_by: Option<&[StatsOrder]>,
    first: Option<i32>,
    having: Option<&StatsHaving>,
) -> RankArgs {
    RankArgs {
        order: order_by
            .unwrap_or_default()
            .iter()
            .map(|o| query::StatsOrder {
                measure: o.measure.into(),
                descending: o.direction == OrderDirection::Desc,
            })
            .collect(),
        first: first.map(i64::from),
        having: having.map(StatsHaving::node),
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    use insights_core::query::{StatsMeasure as Figure, CATALOGUE, RATIOS};

    /// `averageSpeedOfAnswer` → `AVERAGE_SPEED_OF_ANSWER`.
    fn enum_name(field: &str) -> String {
        let mut out = String::new();
        for c in field.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// The served enum's values and `DialogueStats`' fields.
    fn served() -> (Vec<String>, Vec<String>) {
        let document = parse_schema(crate::graphql::sdl()).expect("the served SDL parses");
        let (mut values, mut fields) = (Vec::new(), Vec::new());
        for definition in document.definitions {
            let TypeSystemDefinition::Type(t) = definition else {
                continue;
            };
            match (t.node.name.node.as_str(), t.node.kind) {
                ("StatsMeasure", TypeKind::Enum(e)) => {
                    values = e
                        .values
                        .iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect()
                }
                ("DialogueStats", TypeKind::Object(o)) => {
                    fields = o
                        .fields
                        .iter()
                        .map(|f| f.node.name.node.to_string())
                        .collect()
                }
                _ => {}
            }
        }
        (values, fields)
    }

    #[test]
    fn stats_measure_is_the_catalogue_and_its_ratios_and_back() {
        let (values, fields) = served();
        let catalogued: Vec<String> = CATALOGUE
            .iter()
            .map(|k| k.name)
            .chain(RATIOS.iter().map(|r| r.name))
            .map(enum_name)
            .collect();
        for name in &catalogued {
            assert!(values.contains(name), "{name} is not served");
        }
        for name in &values {
            assert!(
                catalogued.contains(name),
                "{name} is neither a catalogued measure nor a ratio"
            );
        }
        // Each value converts to the core's figure of that name, a DialogueStats field.
        for figure in Figure::ALL {
            let value: super::StatsMeasure = (*figure).into();
            let served = async_graphql::InputType::to_value(&value).to_string();
            assert_eq!(served, enum_name(figure.name()));
            assert!(
                fields.iter().any(|f| f == figure.name()),
                "{}",
                figure.name()
            );
        }
    }
}
