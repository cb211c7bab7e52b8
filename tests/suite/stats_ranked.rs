//! `dialogueStats(orderBy:, first:, having:)` (API.md §4, "Ranking and thresholds") checked
//! against a reference computed here from the raw rows: the rows of `stats.rs`'s reference
//! (every field, from the dialogues), kept by the `having` conditions evaluated on those rows,
//! ordered within each period by the figures (nulls last both ways, a stable sort so ties keep
//! the group-key order), and cut to `first` per period. Nothing of the core's ranking is used.
//!
//! Each case runs twice: with every field (queue-time percentiles and what-if thresholds, so
//! from the rows) and without those (from the pre-aggregates); and once selecting only the
//! group keys, to show that the figures ranked on are computed when they are not selected.
use crate::common;
use crate::stats::{self, all_fields, check_rows, full_fixture, Case, Dim, Fixture, Gran, TENANT};

use std::cmp::Ordering;
use std::sync::{Arc, Mutex};

use insights::graphql;
use insights_core::db::{self, DbOptions};
use serde_json::{json, Value};

/// Every `StatsMeasure`: its name, the `DialogueStats` field, and whether that is a ratio
/// (ranked by its `value`).
pub(crate) const FIGURES: [(&str, &str, bool); 19] = [
    ("DIALOGUES", "dialogues", false),
    ("INBOUND", "inbound", false),
    ("OUTBOUND", "outbound", false),
    ("OFFERED", "offered", false),
    ("ACCEPTED", "accepted", false),
    ("ABANDONED", "abandoned", false),
    ("QUICK_DROPS", "quickDrops", false),
    ("IVR_DROPS", "ivrDrops", false),
    ("ACCEPTED_IN_SLA", "acceptedInSla", false),
    ("SERVICE_LEVEL", "serviceLevel", true),
    ("ABANDON_RATE", "abandonRate", true),
    ("ANSWER_RATE", "answerRate", true),
    ("AVERAGE_SPEED_OF_ANSWER", "averageSpeedOfAnswer", false),
    ("AVERAGE_ABANDON_TIME", "averageAbandonTime", false),
    ("AVERAGE_TALK_TIME", "averageTalkTime", false),
    ("AVERAGE_IVR_TIME", "averageIvrTime", false),
    ("AVERAGE_SESSION_TIME", "averageSessionTime", false),
    ("MAX_QUEUE_TIME", "maxQueueTime", false),
    ("TOTAL_TALK_TIME", "totalTalkTime", false),
];

/// A figure of a reference row; null when the row has none (a ratio over 0, an empty mean).
fn figure(row: &Value, name: &str) -> Option<f64> {
    let (_, field, ratio) = FIGURES
        .iter()
        .find(|f| f.0 == name)
        .unwrap_or_else(|| panic!("{name} is not a figure"));
    if *ratio {
        row[field]["value"].as_f64()
    } else {
        row[field].as_f64()
    }
}

/// A `having` condition, as the test writes it and as it evaluates on reference rows.
#[derive(Clone, Debug)]
pub(crate) enum Cond {
    /// A figure and its comparisons (`gt`, `gte`, ...), all of which must hold.
    Is(&'static str, Vec<(&'static str, f64)>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    pub(crate) fn graphql(&self) -> Value {
        match self {
            Cond::Is(measure, ops) => {
                let mut input = json!({ "measure": measure });
                for (op, x) in ops {
                    input[*op] = json!(x);
                }
                input
            }
            Cond::And(list) => json!({ "and": list.iter().map(Cond::graphql).collect::<Vec<_>>() }),
            Cond::Or(list) => json!({ "or": list.iter().map(Cond::graphql).collect::<Vec<_>>() }),
            Cond::Not(inner) => json!({ "not": inner.graphql() }),
        }
    }

    fn passes(&self, row: &Value) -> bool {
        match self {
            Cond::Is(measure, ops) => match figure(row, measure) {
                None => false,
                Some(v) => ops.iter().all(|(op, x)| match *op {
                    "gt" => v > *x,
                    "gte" => v >= *x,
                    "lt" => v < *x,
                    "lte" => v <= *x,
                    "eq" => v == *x,
                    "ne" => v != *x,
                    other => panic!("no operator {other}"),
                }),
            },
            Cond::And(list) => list.iter().all(|c| c.passes(row)),
            Cond::Or(list) => list.iter().any(|c| c.passes(row)),
            Cond::Not(inner) => !inner.passes(row),
        }
    }
}

/// `orderBy` (figure, descending), `first` and `having` of a request.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ranking {
    pub(crate) order: Vec<(&'static str, bool)>,
    pub(crate) first: Option<usize>,
    pub(crate) having: Option<Cond>,
}

impl Ranking {
    pub(crate) fn arguments(&self) -> Value {
        json!({
            "orderBy": (!self.order.is_empty()).then(|| self.order.iter().map(|(m, desc)| json!({
                "measure": m, "direction": if *desc { "DESC" } else { "ASC" }
            })).collect::<Vec<_>>()),
            "first": self.first,
            "having": self.having.as_ref().map(Cond::graphql),
        })
    }

    /// The reference: keep, order within each period, cut per period. `rows` come sorted by
    /// period, then group keys.
    pub(crate) fn apply(&self, mut rows: Vec<Value>) -> Vec<Value> {
        if let Some(having) = &self.having {
            rows.retain(|r| having.passes(r));
        }
        if self.order.is_empty() {
            return rows;
        }
        let by_figures = |a: &Value, b: &Value| {
            for (measure, desc) in &self.order {
                let order = match (figure(a, measure), figure(b, measure)) {
                    (Some(x), Some(y)) if *desc => y.partial_cmp(&x).unwrap(),
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap(),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            Ordering::Equal
        };
        // Stable: equal figures keep the group-key order of the reference.
        rows.sort_by(|a, b| {
            a["periodStart"]
                .as_str()
                .cmp(&b["periodStart"].as_str())
                .then_with(|| by_figures(a, b))
        });
        if let Some(first) = self.first {
            let mut kept: Vec<Value> = Vec::new();
            let mut in_period = 0;
            for row in rows {
                if kept
                    .last()
                    .is_none_or(|last| last["periodStart"] != row["periodStart"])
                {
                    in_period = 0;
                }
                in_period += 1;
                if in_period <= first {
                    kept.push(row);
                }
            }
            return kept;
        }
        rows
    }
}

/// The selection without the quantiles and what-if thresholds (answered from the
/// pre-aggregates).
pub(crate) fn rollup_fields() -> &'static str {
    "periodStart periodEnd queueId agentId ivrId direction outcome \
     queue { id name role } agent { id name role } ivr { id name role } \
     dialogues inbound outbound offered accepted abandoned quickDrops ivrDrops acceptedInSla \
     serviceLevel { value numerator denominator } abandonRate { value numerator denominator } \
     answerRate { value numerator denominator } \
     averageSpeedOfAnswer averageAbandonTime averageTalkTime averageIvrTime averageSessionTime \
     maxQueueTime totalTalkTime"
}

/// A reference row without the quantiles' and thresholds' aliases (`p50`, `serviceLevel_20`).
pub(crate) fn without_aliases(row: &Value) -> Value {
    let mut row = row.clone();
    if let Value::Object(fields) = &mut row {
        fields.retain(|k, _| {
            !(k.contains('_') || (k.starts_with('p') && k[1..].chars().all(|c| c.is_ascii_digit())))
        });
        if let Some(previous) = fields.get_mut("previous") {
            if !previous.is_null() {
                *previous = without_aliases(previous);
            }
        }
    }
    row
}

fn ranked_query(selection: &str) -> String {
    format!(
        "query($from: DateTime!, $to: DateTime!, $tz: String!, $g: Granularity!,
                $by: [StatsDimension!]!, $filter: DialogueFilter, $orderBy: [StatsOrder!],
                $first: Int, $having: StatsHaving) {{
           dialogueStats(from: $from, to: $to, timeZone: $tz, granularity: $g, groupBy: $by,
                         filter: $filter, orderBy: $orderBy, first: $first, having: $having) {{
             {selection} previous {{ dialogues }}
           }}
         }}"
    )
}

/// Runs one case with one ranking three ways (every field; the pre-aggregates' fields; the
/// group keys only) against the reference; the number of rows.
async fn run(t: &common::TestDb, fx: &Fixture, case: &Case, ranking: &Ranking) -> usize {
    let mut expected = ranking.apply(fx.expected(case));
    for row in &mut expected {
        // Without compareTo there is no earlier row.
        row["previous"] = Value::Null;
    }
    let mut variables = case.variables();
    for (k, v) in ranking.arguments().as_object().unwrap() {
        variables[k] = v.clone();
    }
    let what = format!("{}: {} {ranking:?}", t.kind, case.label());
    let response = common::query(
        &t.db,
        TENANT,
        &ranked_query(&all_fields()),
        variables.clone(),
    )
    .await;
    check_rows(&format!("{what} (every field)"), &expected, &response);
    let response = common::query(
        &t.db,
        TENANT,
        &ranked_query(rollup_fields()),
        variables.clone(),
    )
    .await;
    let plain: Vec<Value> = expected.iter().map(without_aliases).collect();
    check_rows(&format!("{what} (pre-aggregates)"), &plain, &response);
    let keys = "periodStart queueId agentId ivrId direction outcome";
    let response = common::query(&t.db, TENANT, &ranked_query(keys), variables).await;
    let only_keys: Vec<Value> = expected
        .iter()
        .map(|row| {
            let mut out = json!({ "previous": null });
            for k in keys.split(' ') {
                out[k] = row[k].clone();
            }
            out
        })
        .collect();
    check_rows(&format!("{what} (keys only)"), &only_keys, &response);
    expected.len()
}

fn order(list: &[(&'static str, bool)]) -> Ranking {
    Ranking {
        order: list.to_vec(),
        ..Default::default()
    }
}

/// Conditions that keep some groups, none, all; nulls; nesting.
fn conditions() -> Vec<Cond> {
    use Cond::*;
    vec![
        Is("OFFERED", vec![("gte", 20.0)]),
        Is("SERVICE_LEVEL", vec![("gt", 0.5), ("lte", 0.9)]),
        // A null figure passes no comparison, `ne` included; `not` keeps it.
        Is("MAX_QUEUE_TIME", vec![("ne", 0.0)]),
        Not(Box::new(Is("AVERAGE_TALK_TIME", vec![("lt", 250.0)]))),
        Or(vec![
            Is("ABANDON_RATE", vec![("gt", 0.2)]),
            And(vec![
                Is("ACCEPTED", vec![("eq", 3.0)]),
                Is("ANSWER_RATE", vec![("lt", 1.0)]),
            ]),
        ]),
        Or(Vec::new()),
        And(Vec::new()),
        Is("DIALOGUES", vec![("gt", 1e12)]),
    ]
}

#[tokio::test]
async fn ranked_and_thresholded_stats_match_the_reference() {
    // Amsterdam across its spring DST change (a 23-hour day), Kolkata (+05:30) hours and weeks.
    let day = Case::new(
        "Europe/Amsterdam",
        Gran::Day,
        "2026-03-26T00:00:00+01:00",
        "2026-04-02T00:00:00+02:00",
        &[Dim::Queue],
    );
    let hour = Case::new(
        "Europe/Amsterdam",
        Gran::Hour,
        "2026-03-28T12:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
        &[Dim::Agent],
    );
    let kolkata = Case::new(
        "Asia/Kolkata",
        Gran::Thirty,
        "2026-03-10T09:30:00+05:30",
        "2026-03-11T21:00:00+05:30",
        &[Dim::Direction, Dim::Outcome],
    );
    let weeks = Case::new(
        "Asia/Kolkata",
        Gran::Week,
        "2026-02-14T00:00:00+05:30",
        "2026-04-15T00:00:00+05:30",
        &[Dim::Queue],
    )
    .filtered(stats::Filter::Inbound);
    let total = Case::new(
        "UTC",
        Gran::Total,
        "2026-02-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
        &[Dim::Agent],
    );
    let mut runs: Vec<(Case, Ranking)> = Vec::new();
    // Every figure, both ways, keeping the first 3 (ties, nulls and the key order show up).
    for (i, (measure, _, _)) in FIGURES.iter().enumerate() {
        for desc in [false, true] {
            let case = if i % 2 == 0 { &day } else { &total };
            runs.push((
                case.clone(),
                Ranking {
                    order: vec![(*measure, desc)],
                    first: Some(3),
                    having: None,
                },
            ));
        }
    }
    // Several keys; no `first`; `first` larger than any bucket; within sub-day buckets.
    for case in [&day, &hour, &kolkata, &weeks, &total] {
        runs.push((
            case.clone(),
            order(&[("ABANDONED", true), ("AVERAGE_SPEED_OF_ANSWER", false)]),
        ));
        runs.push((
            case.clone(),
            Ranking {
                order: vec![("SERVICE_LEVEL", false), ("OFFERED", true)],
                first: Some(2),
                having: Some(Cond::Is("OFFERED", vec![("gte", 2.0)])),
            },
        ));
        runs.push((
            case.clone(),
            Ranking {
                order: vec![("MAX_QUEUE_TIME", true)],
                first: Some(100_000),
                having: None,
            },
        ));
    }
    // Every condition, alone (groups in key order) and under a ranking.
    for cond in conditions() {
        for case in [&day, &total] {
            runs.push((
                case.clone(),
                Ranking {
                    having: Some(cond.clone()),
                    ..Default::default()
                },
            ));
        }
        runs.push((
            kolkata.clone(),
            Ranking {
                order: vec![("TOTAL_TALK_TIME", true)],
                first: Some(1),
                having: Some(cond),
            },
        ));
    }
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        let (mut rows, mut kept_some) = (0, 0);
        for (case, ranking) in &runs {
            let n = run(&t, &fx, case, ranking).await;
            rows += n;
            kept_some += usize::from(n > 0);
        }
        assert!(
            kept_some * 10 >= runs.len() * 8,
            "{}: most runs should keep groups ({kept_some} of {})",
            t.kind,
            runs.len()
        );
        eprintln!(
            "{}: {} ranked runs, {rows} rows compared",
            t.kind,
            runs.len()
        );
    }
}

fn bad(response: &Value) -> (Vec<String>, &str) {
    (
        common::error_codes(response),
        response["errors"][0]["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn bad_rankings_are_bad_user_input_naming_the_argument() {
    let cases: [(&str, &str); 8] = [
        (
            "orderBy: [{ measure: OFFERED, direction: DESC }], first: 0",
            "`first` must be at least 1 (got 0)",
        ),
        (
            "orderBy: [{ measure: OFFERED, direction: DESC }], first: -2",
            "`first` must be at least 1 (got -2)",
        ),
        (
            "first: 5",
            "`first` keeps the first groups of a ranking: give `orderBy` too (the measures to rank the groups by)",
        ),
        (
            "orderBy: [], first: 5",
            "`first` keeps the first groups of a ranking: give `orderBy` too (the measures to rank the groups by)",
        ),
        (
            "having: { measure: SERVICE_LEVEL }",
            "`having` names the measure SERVICE_LEVEL but no comparison: give at least one of gt, gte, lt, lte, eq, ne",
        ),
        (
            "having: { and: [{ measure: OFFERED, gt: 1 }, { gt: 1, lte: 4 }] }",
            "`having.and[1]` compares (gt, lte) but names no `measure` to compare",
        ),
        (
            "having: {}",
            "`having` is empty: give a `measure` and at least one of gt, gte, lt, lte, eq, ne, or combine conditions with `and`, `or`, `not`",
        ),
        (
            "having: { or: [{ measure: OFFERED, gt: 1 }, { not: { measure: ACCEPTED } }] }",
            "`having.or[1].not` names the measure ACCEPTED but no comparison: give at least one of gt, gte, lt, lte, eq, ne",
        ),
    ];
    for t in common::databases().await {
        stats::import_edges(&t, TENANT).await;
        for (arguments, message) in cases {
            for selection in ["dialogues", "dialogues previous { dialogues }"] {
                let query = format!(
                    "{{ dialogueStats(from: \"2026-03-01T00:00:00Z\", to: \"2026-04-01T00:00:00Z\", \
                     groupBy: [QUEUE], {arguments}) {{ {selection} }} }}"
                );
                let response = common::query(&t.db, TENANT, &query, json!({})).await;
                assert_eq!(
                    bad(&response),
                    (vec!["BAD_USER_INPUT".to_string()], message),
                    "{}: {arguments}: {response}",
                    t.kind
                );
                assert!(response["data"].is_null(), "{}: {response}", t.kind);
            }
        }
    }
}

/// A ranked, thresholded and compared question over aligned days is answered from the
/// pre-aggregates: every aggregating statement reads a pre-aggregate table.
#[tokio::test]
async fn ranked_and_compared_stats_aggregate_the_pre_aggregates() {
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        let mut metered = db::connect(&DbOptions::new(t.url.clone())).await.unwrap();
        let statements: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = statements.clone();
        metered.set_metric_callback(move |info| {
            log.lock().unwrap().push(info.statement.to_string());
        });
        let scope = common::scope(&metered, TENANT).await;
        let query = "{ dialogueStats(from: \"2026-03-23T00:00:00+01:00\", to: \"2026-04-06T00:00:00+02:00\",
            timeZone: \"Europe/Amsterdam\", granularity: DAY, groupBy: [QUEUE],
            orderBy: [{ measure: SERVICE_LEVEL, direction: ASC }], first: 2,
            having: { measure: OFFERED, gte: 5 }, compareTo: SAME_PERIOD_LAST_WEEK) {
              periodStart queueId dialogues previous { periodStart dialogues } } }";
        let response = common::schema()
            .execute(graphql::scoped(async_graphql::Request::new(query), scope))
            .await;
        let response = serde_json::to_value(&response).unwrap();
        assert!(response.get("errors").is_none(), "{}: {response}", t.kind);
        let rows = response["data"]["dialogueStats"].as_array().unwrap();
        assert!(rows.len() > 14, "{}: {response}", t.kind);
        assert!(rows
            .iter()
            .all(|r| r["previous"]["periodStart"].is_string()));
        assert!(fx.dialogues.len() > 3000);
        let statements = statements.lock().unwrap();
        let grouped: Vec<&String> = statements
            .iter()
            .filter(|s| s.contains("GROUP BY"))
            .collect();
        assert_eq!(grouped.len(), 2, "{}: {statements:#?}", t.kind);
        for statement in grouped {
            assert!(statement.contains("rollup_"), "{}: {statement}", t.kind);
        }
    }
}
