//! The KPI catalogue: every measure of `dialogueStats` declared once, in `catalogue!` below —
//! the name clients ask for it by, and its [`Formula`]: what it computes over which set of
//! dialogues (docs/api.md). Everything else derives from that declaration:
//!
//! - the [`Part`]s the database computes per group (a mean is an exact sum of whole
//!   milliseconds and a count, a total the sum alone; KPIs that read the same part share it:
//!   averageTalkTime and totalTalkTime read one talk-time sum);
//! - each part's SQL aggregate over the rows (the row path, `stats.rs`);
//! - each part's pre-aggregate column, found by its definition among the rollup aggregate
//!   columns (`crate::rollups::aggregate_column`: the same set, the same sum), so a KPI never
//!   reads a column that adds up something else; a part no column holds (the what-if
//!   thresholds) sends the request to the rows;
//! - how the partial results of one group merge (pre-aggregate slots and the rows at the edges
//!   of the range): counts and sums add, maxima take the larger;
//! - the value, computed once from the merged parts;
//! - its [`StatsMeasure`], by which groups are ranked and kept (`orderBy`, `having`), with
//!   the ratios of counts (`serviceLevel`, ...) declared in the same list (`ratios`).
//!
//! Adding a KPI: one line in `catalogue!`, and its field on `DialogueStats` in
//! `src/graphql/stats.rs` (`docs/architecture.md`, "Adding a KPI"); its value of the GraphQL
//! enum `StatsMeasure` follows from the compiler (`src/graphql/stats_input.rs`).
use std::collections::HashMap;

use sea_orm::QueryResult;

use crate::error::{ApiError, ApiResult};
use crate::rollups::{aggregate_column, Duration, Set, Sum, MAX_QUEUE};

/// What a KPI computes, over a set of dialogues.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Formula {
    /// How many dialogues the set holds.
    Count(Set),
    /// The mean of the duration over the set's dialogues that have one; null when none has.
    Mean(Set, Duration),
    /// The sum of the duration over the set; 0 when none has one.
    Total(Set, Duration),
    /// The largest duration over the set; null when none has one.
    Max(Set, Duration),
    /// What-if: how many of the set's dialogues have the duration at most T.
    CountWithin(Set, Duration, Threshold),
}

/// One KPI of the catalogue.
#[derive(Copy, Clone, Debug)]
pub struct Kpi {
    pub measure: Measure,
    /// The name clients ask for it by (the `DialogueStats` field).
    pub name: &'static str,
    pub(crate) formula: Formula,
}

/// Declares the measures: the [`Measure`] enum (with the two what-if counts, which take a
/// threshold) and the [`CATALOGUE`] of those without an argument; the ratios of their counts
/// ([`RATIOS`]); and [`StatsMeasure`], every figure without an argument that groups can be
/// ranked and kept by (the measures, then the ratios). All from one list.
macro_rules! catalogue {
    (
        measures {
            $($(#[doc = $doc:literal])* $measure:ident = $name:literal, $formula:expr;)*
        }
        ratios {
            $($(#[doc = $rdoc:literal])* $ratio:ident = $rname:literal,
                ($num:ident $(- $num_less:ident)?) / ($den:ident $(- $den_less:ident)?);)*
        }
    ) => {
        /// One aggregate of a group: a count, or a mean, total or maximum in seconds.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Measure {
            $($(#[doc = $doc])* $measure,)*
            /// What-if service level: |A with queueDuration ≤ T|.
            AcceptedWithin(Threshold),
            /// What-if quick drops: |B with queueDuration ≤ T|.
            AbandonedWithin(Threshold),
        }

        /// Every measure without an argument, in the order of `DialogueStats`.
        pub const CATALOGUE: &[Kpi] = &[$(Kpi {
            measure: Measure::$measure,
            name: $name,
            formula: $formula,
        },)*];

        /// Every ratio of counts.
        pub const RATIOS: &[RatioKpi] = &[$(RatioKpi {
            figure: StatsMeasure::$ratio,
            name: $rname,
            numerator: Difference(Measure::$num, catalogue!(@less $($num_less)?)),
            denominator: Difference(Measure::$den, catalogue!(@less $($den_less)?)),
        },)*];

        /// A figure of a stats row without an argument: a catalogued measure or a ratio of
        /// them. Groups are ranked (`orderBy`) and kept (`having`) by these.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum StatsMeasure {
            $($(#[doc = $doc])* $measure,)*
            $($(#[doc = $rdoc])* $ratio,)*
        }

        impl StatsMeasure {
            /// Every figure: the catalogue's measures, then the ratios.
            pub const ALL: &'static [StatsMeasure] = &[
                $(Self::$measure,)*
                $(Self::$ratio,)*
            ];

            /// The name clients ask for it by (the `DialogueStats` field).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$measure => $name,)*
                    $(Self::$ratio => $rname,)*
                }
            }

            /// What it is computed from.
            pub fn figure(self) -> Figure {
                match self {
                    $(Self::$measure => Figure::Measure(Measure::$measure),)*
                    _ => Figure::Ratio(
                        RATIOS
                            .iter()
                            .find(|r| r.figure == self)
                            .expect("catalogue! declares every ratio in RATIOS"),
                    ),
                }
            }
        }
    };
    (@less $less:ident) => { Some(Measure::$less) };
    (@less) => { None };
}

catalogue! {
    measures {
        /// All dialogues.
        Dialogues = "dialogues", Formula::Count(Set::All);
        Inbound = "inbound", Formula::Count(Set::Inbound);
        Outbound = "outbound", Formula::Count(Set::Outbound);
        /// |Q|: queued, then accepted or abandoned.
        Offered = "offered", Formula::Count(Set::Offered);
        /// |A|.
        Accepted = "accepted", Formula::Count(Set::Accepted);
        /// |B|.
        Abandoned = "abandoned", Formula::Count(Set::Abandoned);
        /// |QD|: abandoned within the quick-drop threshold.
        QuickDrops = "quickDrops", Formula::Count(Set::QuickDrop);
        /// |I|: ended in the IVR.
        IvrDrops = "ivrDrops", Formula::Count(Set::IvrDrop);
        AcceptedInSla = "acceptedInSla", Formula::Count(Set::AcceptedInSla);
        AverageSpeedOfAnswer = "averageSpeedOfAnswer", Formula::Mean(Set::Accepted, Duration::Queue);
        AverageAbandonTime = "averageAbandonTime", Formula::Mean(Set::Abandoned, Duration::Queue);
        AverageTalkTime = "averageTalkTime", Formula::Mean(Set::Accepted, Duration::Talk);
        AverageIvrTime = "averageIvrTime", Formula::Mean(Set::All, Duration::Ivr);
        AverageSessionTime = "averageSessionTime", Formula::Mean(Set::All, Duration::Session);
        MaxQueueTime = "maxQueueTime", Formula::Max(Set::Offered, Duration::Queue);
        /// Σ initialTalkDuration over A, 0 when A is empty: what workforce planners add up.
        TotalTalkTime = "totalTalkTime", Formula::Total(Set::Accepted, Duration::Talk);
    }
    ratios {
        /// acceptedInSla / (offered − quickDrops).
        ServiceLevel = "serviceLevel", (AcceptedInSla) / (Offered - QuickDrops);
        /// (abandoned − quickDrops) / (offered − quickDrops).
        AbandonRate = "abandonRate", (Abandoned - QuickDrops) / (Offered - QuickDrops);
        /// accepted / offered.
        AnswerRate = "answerRate", (Accepted) / (Offered);
    }
}

/// A count, less another count or nothing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Difference(pub Measure, pub Option<Measure>);

impl Difference {
    /// The measures it reads.
    fn measures(self) -> impl Iterator<Item = Measure> {
        std::iter::once(self.0).chain(self.1)
    }

    /// Its value, given the group's counts.
    pub fn of(self, count: impl Fn(Measure) -> i64) -> i64 {
        count(self.0) - self.1.map_or(0, count)
    }
}

/// A ratio of counts, declared in `catalogue!` (`serviceLevel`, ...).
#[derive(Copy, Clone, Debug)]
pub struct RatioKpi {
    pub figure: StatsMeasure,
    /// The name clients ask for it by (the `DialogueStats` field).
    pub name: &'static str,
    pub numerator: Difference,
    pub denominator: Difference,
}

impl RatioKpi {
    /// (numerator, denominator), given the group's counts.
    pub fn parts(&self, count: impl Fn(Measure) -> i64 + Copy) -> (i64, i64) {
        (self.numerator.of(count), self.denominator.of(count))
    }

    /// The counted measures it reads.
    pub fn measures(&self) -> impl Iterator<Item = Measure> {
        self.numerator.measures().chain(self.denominator.measures())
    }

    /// numerator / denominator; none when the denominator is 0.
    pub fn value(&self, count: impl Fn(Measure) -> i64 + Copy) -> Option<f64> {
        let (numerator, denominator) = self.parts(count);
        (denominator != 0).then(|| numerator as f64 / denominator as f64)
    }
}

/// What a [`StatsMeasure`] is computed from.
#[derive(Copy, Clone, Debug)]
pub enum Figure {
    Measure(Measure),
    Ratio(&'static RatioKpi),
}

impl StatsMeasure {
    /// The figure clients ask for by `name`, if any.
    pub fn named(name: &str) -> Option<StatsMeasure> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The measures the figure is computed from.
    pub fn measures(self) -> Vec<Measure> {
        match self.figure() {
            Figure::Measure(measure) => vec![measure],
            Figure::Ratio(ratio) => ratio
                .numerator
                .measures()
                .chain(ratio.denominator.measures())
                .collect(),
        }
    }
}

impl Kpi {
    /// Whether the KPI counts dialogues (an integer), rather than measuring seconds.
    pub const fn is_count(&self) -> bool {
        matches!(self.formula, Formula::Count(_) | Formula::CountWithin(..))
    }

    /// Whether it can be absent: a mean or a maximum over a group where no dialogue of its set
    /// has the duration. Counts and totals always have a value (0 over nothing).
    pub const fn nullable(&self) -> bool {
        matches!(self.formula, Formula::Mean(..) | Formula::Max(..))
    }
}

impl Measure {
    /// The catalogued measure clients ask for by `name`, if any.
    pub fn named(name: &str) -> Option<Measure> {
        CATALOGUE.iter().find(|k| k.name == name).map(|k| k.measure)
    }

    pub(crate) fn formula(self) -> Formula {
        match self {
            Self::AcceptedWithin(t) => Formula::CountWithin(Set::Accepted, Duration::Queue, t),
            Self::AbandonedWithin(t) => Formula::CountWithin(Set::Abandoned, Duration::Queue, t),
            measure => {
                CATALOGUE
                    .iter()
                    .find(|k| k.measure == measure)
                    .expect("catalogue! declares every measure without an argument")
                    .formula
            }
        }
    }
}

/// A what-if threshold in seconds (finite, ≥ 0), kept as its bits so measures can be hashed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Threshold(u64);

impl Threshold {
    /// Checks a threshold given as `argument`.
    pub fn new(seconds: f64, argument: &str) -> ApiResult<Self> {
        if seconds.is_finite() && seconds >= 0.0 {
            // -0.0 and 0.0 are the same threshold.
            Ok(Self((seconds + 0.0).to_bits()))
        } else {
            Err(ApiError::bad_input(format!(
                "`{argument}` must be a number of seconds, 0 or more (got {seconds})"
            )))
        }
    }

    pub fn seconds(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// One aggregate the database computes per group, over the rows or from a pre-aggregate.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    /// How many dialogues the set holds.
    Count(Set),
    /// Σ `ROUND(duration * 1000)` over the set: exact whole milliseconds, the same on every
    /// database and in any order of summation (an SQL AVG over floats prints
    /// 59.028999999999996 for 59.029).
    SumMs(Set, Duration),
    /// How many of the set's dialogues have the duration.
    Having(Set, Duration),
    /// The largest duration over the set.
    Max(Set, Duration),
    /// How many of the set's dialogues have the duration at most T.
    Within(Set, Duration, Threshold),
}

impl Formula {
    fn parts(self) -> Vec<Part> {
        match self {
            Self::Count(set) => vec![Part::Count(set)],
            Self::Mean(set, d) => vec![Part::SumMs(set, d), Part::Having(set, d)],
            Self::Total(set, d) => vec![Part::SumMs(set, d)],
            Self::Max(set, d) => vec![Part::Max(set, d)],
            Self::CountWithin(set, d, t) => vec![Part::Within(set, d, t)],
        }
    }

    /// The value of one group from its merged parts.
    pub(crate) fn value(self, partial: &Partial) -> Value {
        match self {
            Self::Count(set) => Value::Count(partial.count(Part::Count(set))),
            Self::CountWithin(set, d, t) => Value::Count(partial.count(Part::Within(set, d, t))),
            Self::Mean(set, d) => {
                let n = partial.count(Part::Having(set, d));
                let mean = partial
                    .float(Part::SumMs(set, d))
                    .filter(|_| n > 0)
                    .map(|sum_ms| sum_ms / (n as f64 * 1000.0));
                Value::Seconds(mean)
            }
            // The same sum of whole milliseconds a mean divides, divided by 1000 once: the
            // pre-aggregates and the rows give the same bits.
            Self::Total(set, d) => {
                let sum_ms = partial.float(Part::SumMs(set, d)).unwrap_or(0.0);
                Value::Seconds(Some(sum_ms / 1000.0))
            }
            Self::Max(set, d) => Value::Seconds(partial.float(Part::Max(set, d))),
        }
    }
}

/// A measure's value in one group.
pub(crate) enum Value {
    Count(i64),
    /// Seconds; none when no dialogue of the group has the duration.
    Seconds(Option<f64>),
}

/// The distinct parts of `measures`, in order.
pub(crate) fn parts(measures: &[Measure]) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for part in measures.iter().flat_map(|m| m.formula().parts()) {
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts
}

fn name(set: Set, duration: Duration) -> String {
    format!("{set:?}_{duration:?}").to_lowercase()
}

impl Part {
    /// The column alias the part is read under, on both paths.
    pub(crate) fn alias(self) -> String {
        match self {
            Self::Count(set) => format!("n_{set:?}").to_lowercase(),
            Self::SumMs(set, d) => format!("sum_ms_{}", name(set, d)),
            Self::Having(set, d) => format!("n_{}", name(set, d)),
            Self::Max(set, d) => format!("max_{}", name(set, d)),
            Self::Within(set, d, t) => format!("n_{}_within_{}", name(set, d), t.0),
        }
    }

    /// The aggregate over one group's dialogue rows.
    pub(crate) fn sql(self) -> String {
        match self {
            Self::Count(Set::All) => "COUNT(*)".into(),
            Self::Count(set) => format!("SUM(CASE WHEN {} THEN 1 ELSE 0 END)", set.sql("")),
            Self::SumMs(set, d) => format!(
                "SUM(CASE WHEN {} THEN ROUND({} * 1000) END)",
                set.sql(""),
                d.column()
            ),
            Self::Having(set, d) => {
                format!("COUNT(CASE WHEN {} THEN {} END)", set.sql(""), d.column())
            }
            Self::Max(set, d) => format!("MAX(CASE WHEN {} THEN {} END)", set.sql(""), d.column()),
            // A dialogue without the duration never counts as within T (NULL <= T is not true).
            Self::Within(set, d, t) => format!(
                "SUM(CASE WHEN {} AND {} <= {:?} THEN 1 ELSE 0 END)",
                set.sql(""),
                d.column(),
                t.seconds()
            ),
        }
    }

    /// The pre-aggregate column that holds the part, if any.
    pub(crate) fn rollup_column(self) -> Option<&'static str> {
        match self {
            Self::Count(set) => aggregate_column(set, Sum::Count),
            Self::SumMs(set, d) => aggregate_column(set, Sum::Ms(d)),
            Self::Having(set, d) => aggregate_column(set, Sum::Having(d)),
            Self::Max(set, d) => (MAX_QUEUE == (set, d)).then_some("max_queue"),
            Self::Within(..) => None,
        }
    }

    /// The aggregate over the slots of pre-aggregate table `t` (the part has a column).
    pub(crate) fn rollup_sql(self, t: &str) -> Option<String> {
        let column = self.rollup_column()?;
        Some(match self {
            Self::SumMs(..) => format!("CAST(SUM({t}.{column}) AS DOUBLE PRECISION)"),
            Self::Max(..) => format!("MAX({t}.{column})"),
            Self::Count(_) | Self::Having(..) | Self::Within(..) => {
                format!("CAST(SUM({t}.{column}) AS BIGINT)")
            }
        })
    }
}

/// What one source (pre-aggregate slots, or rows) read of a part for one group.
#[derive(Debug, Clone, Copy)]
enum Reading {
    Count(i64),
    Sum(Option<f64>),
    Max(Option<f64>),
}

impl Reading {
    /// Partials of one group from different sources merge exactly: counts and sums of whole
    /// milliseconds add, maxima take the larger (a null is no value).
    fn merge(self, other: Reading) -> Reading {
        let either = |a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64| match (a, b) {
            (Some(a), Some(b)) => Some(f(a, b)),
            (a, b) => a.or(b),
        };
        match (self, other) {
            (Self::Count(a), Self::Count(b)) => Self::Count(a + b),
            (Self::Sum(a), Self::Sum(b)) => Self::Sum(either(a, b, |a, b| a + b)),
            (Self::Max(a), Self::Max(b)) => Self::Max(either(a, b, f64::max)),
            (a, b) => unreachable!("one part reads as one kind: {a:?} and {b:?}"),
        }
    }
}

/// One group's parts as read from one source, before the values are computed.
#[derive(Debug, Default)]
pub(crate) struct Partial(HashMap<Part, Reading>);

impl Partial {
    /// Reads the parts under their aliases.
    pub(crate) fn read(row: &QueryResult, parts: &[Part]) -> ApiResult<Self> {
        let mut partial = HashMap::with_capacity(parts.len());
        for part in parts {
            let alias = part.alias();
            let reading = match part {
                Part::Count(_) | Part::Having(..) | Part::Within(..) => {
                    Reading::Count(row.try_get::<Option<i64>>("", &alias)?.unwrap_or(0))
                }
                Part::SumMs(..) => Reading::Sum(row.try_get("", &alias)?),
                Part::Max(..) => Reading::Max(row.try_get("", &alias)?),
            };
            partial.insert(*part, reading);
        }
        Ok(Self(partial))
    }

    pub(crate) fn merge(&mut self, other: Partial) {
        for (part, reading) in other.0 {
            self.0
                .entry(part)
                .and_modify(|mine| *mine = mine.merge(reading))
                .or_insert(reading);
        }
    }

    fn count(&self, part: Part) -> i64 {
        match self.0.get(&part) {
            Some(Reading::Count(n)) => *n,
            _ => 0,
        }
    }

    fn float(&self, part: Part) -> Option<f64> {
        match self.0.get(&part) {
            Some(Reading::Sum(x) | Reading::Max(x)) => *x,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_measures_are_declared_once() {
        for (i, kpi) in CATALOGUE.iter().enumerate() {
            assert!(
                CATALOGUE[..i]
                    .iter()
                    .all(|k| k.name != kpi.name && k.measure != kpi.measure),
                "{} is declared twice",
                kpi.name
            );
            assert_eq!(Measure::named(kpi.name), Some(kpi.measure));
            assert_eq!(kpi.measure.formula(), kpi.formula);
        }
    }

    #[test]
    fn ratios_read_catalogued_counts_and_have_names_of_their_own() {
        for ratio in RATIOS {
            assert!(CATALOGUE.iter().all(|k| k.name != ratio.name));
            for measure in ratio.measures() {
                let kpi = CATALOGUE.iter().find(|k| k.measure == measure);
                assert!(
                    kpi.is_some_and(Kpi::is_count),
                    "{}: {measure:?}",
                    ratio.name
                );
            }
        }
        let count = |m: Measure| match m {
            Measure::Offered => 10,
            Measure::QuickDrops => 2,
            Measure::AcceptedInSla => 6,
            Measure::Abandoned => 3,
            Measure::Accepted => 7,
            _ => 0,
        };
        let values: Vec<_> = RATIOS.iter().map(|r| r.value(count)).collect();
        assert_eq!(values, [Some(0.75), Some(0.125), Some(0.7)]);
        assert_eq!(RATIOS[0].value(|_| 0), None);
    }

    #[test]
    fn every_figure_is_a_catalogued_measure_or_a_ratio_and_back() {
        // Every measure without an argument has its figure, of the same name, and back.
        for kpi in CATALOGUE {
            let figure = StatsMeasure::named(kpi.name).expect("a figure per measure");
            assert!(
                matches!(figure.figure(), Figure::Measure(m) if m == kpi.measure),
                "{}",
                kpi.name
            );
            assert_eq!(figure.measures(), [kpi.measure]);
        }
        for ratio in RATIOS {
            assert_eq!(StatsMeasure::named(ratio.name), Some(ratio.figure));
            assert!(matches!(ratio.figure.figure(), Figure::Ratio(r) if r.name == ratio.name));
        }
        assert_eq!(StatsMeasure::ALL.len(), CATALOGUE.len() + RATIOS.len());
        for (i, figure) in StatsMeasure::ALL.iter().enumerate() {
            assert!(
                StatsMeasure::ALL[..i]
                    .iter()
                    .all(|f| f.name() != figure.name()),
                "{} is declared twice",
                figure.name()
            );
            let named_measure = CATALOGUE.iter().any(|k| k.name == figure.name());
            let named_ratio = RATIOS.iter().any(|r| r.name == figure.name());
            assert!(named_measure != named_ratio, "{}", figure.name());
        }
    }

    #[test]
    fn ratios_read_their_counts() {
        let count = |m: Measure| match m {
            Measure::AcceptedInSla => 7,
            Measure::Offered => 20,
            Measure::QuickDrops => 2,
            Measure::Abandoned => 5,
            Measure::Accepted => 15,
            _ => 1000,
        };
        let parts = |f: StatsMeasure| match f.figure() {
            Figure::Ratio(r) => r.parts(count),
            Figure::Measure(m) => panic!("{m:?} is not a ratio"),
        };
        assert_eq!(parts(StatsMeasure::ServiceLevel), (7, 18));
        assert_eq!(parts(StatsMeasure::AbandonRate), (3, 18));
        assert_eq!(parts(StatsMeasure::AnswerRate), (15, 20));
        assert_eq!(
            StatsMeasure::ServiceLevel.measures(),
            [
                Measure::AcceptedInSla,
                Measure::Offered,
                Measure::QuickDrops
            ]
        );
    }

    #[test]
    fn aliases_are_distinct() {
        let t = Threshold::new(20.0, "t").unwrap();
        let mut measures: Vec<Measure> = CATALOGUE.iter().map(|k| k.measure).collect();
        measures.extend([Measure::AcceptedWithin(t), Measure::AbandonedWithin(t)]);
        let parts = parts(&measures);
        for (i, part) in parts.iter().enumerate() {
            assert!(
                parts[..i].iter().all(|p| p.alias() != part.alias()),
                "{part:?}: alias {} is taken",
                part.alias()
            );
        }
    }

    #[test]
    fn totals_and_means_share_their_sums() {
        let shared = parts(&[Measure::AverageTalkTime, Measure::TotalTalkTime]);
        assert_eq!(
            shared,
            [
                Part::SumMs(Set::Accepted, Duration::Talk),
                Part::Having(Set::Accepted, Duration::Talk)
            ]
        );
        assert_eq!(
            parts(&[Measure::TotalTalkTime]),
            [Part::SumMs(Set::Accepted, Duration::Talk)]
        );
    }

    #[test]
    fn parts_find_their_columns_by_definition() {
        let parts = parts(&[Measure::AverageTalkTime, Measure::MaxQueueTime]);
        let columns: Vec<_> = parts.iter().map(|p| p.rollup_column()).collect();
        assert_eq!(
            columns,
            [Some("talk_sum_ms"), Some("talk_n"), Some("max_queue")]
        );
        let t = Threshold::new(20.0, "t").unwrap();
        assert_eq!(
            Part::Within(Set::Accepted, Duration::Queue, t).rollup_column(),
            None
        );
    }

    #[test]
    fn a_total_over_nothing_is_zero_and_a_mean_is_none() {
        let empty = Partial::default();
        assert!(matches!(
            Formula::Total(Set::Accepted, Duration::Talk).value(&empty),
            Value::Seconds(Some(0.0))
        ));
        assert!(matches!(
            Formula::Mean(Set::Accepted, Duration::Talk).value(&empty),
            Value::Seconds(None)
        ));
    }
}
