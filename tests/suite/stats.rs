//! `dialogueStats` (API.md §4) checked field by field against a reference computed here, in the
//! test, from the raw dialogue rows: buckets by plain chrono-tz (local wall time truncated, then
//! turned back into an instant), groups and formulas in Rust, nearest-rank percentiles with
//! exact integer arithmetic. Nothing of `src/buckets.rs` or `src/graphql/stats.rs` is used.
//!
//! Fixture: two demo ranges (spring DST in Amsterdam and New York; autumn DST in Amsterdam),
//! hand-made edge dialogues (`tests/fixtures/stats_edges.ndjson`: bucket boundaries, local
//! midnights, the repeated fall-back hour, rows that probe the set definitions), generated
//! percentile-trap queues, and a second tenant whose rows must never show up.
use crate::common;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, Offset, SecondsFormat, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use common::TestDb;
use entity::{dialogue, endpoint, Direction, EndpointRole, Outcome};
use insights::graphql::{self, ApiLimits, Guards};
use insights_core::demo::{self, DemoOptions};
use insights_core::ingest::Kind;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

pub(crate) const TENANT: &str = "stats";
pub(crate) const OTHER_TENANT: &str = "stats-other";

/// The whole fixture, from before its first to after its last dialogue (bounds not aligned).
const ALL_FROM: &str = "2025-12-31T20:00:00.000Z";
const ALL_TO: &str = "2026-11-05T00:00:00.000Z";

const ZONES: [&str; 5] = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
];

// ---- the reference --------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Out {
    Accepted,
    Abandoned,
    IvrDrop,
}

impl Out {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Out::Accepted => "ACCEPTED",
            Out::Abandoned => "ABANDONED",
            Out::IvrDrop => "IVR_DROP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gran {
    Fifteen,
    Thirty,
    Hour,
    Day,
    Week,
    Month,
    Total,
}

impl Gran {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Gran::Fifteen => "FIFTEEN_MINUTES",
            Gran::Thirty => "THIRTY_MINUTES",
            Gran::Hour => "HOUR",
            Gran::Day => "DAY",
            Gran::Week => "WEEK",
            Gran::Month => "MONTH",
            Gran::Total => "TOTAL",
        }
    }
    fn minutes(self) -> u32 {
        match self {
            Gran::Fifteen => 15,
            Gran::Thirty => 30,
            Gran::Hour => 60,
            _ => unreachable!("not a sub-day granularity"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dim {
    Queue,
    Agent,
    Ivr,
    Direction,
    Outcome,
}

impl Dim {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dim::Queue => "QUEUE",
            Dim::Agent => "AGENT",
            Dim::Ivr => "IVR",
            Dim::Direction => "DIRECTION",
            Dim::Outcome => "OUTCOME",
        }
    }
}

/// One dialogue as stored.
#[derive(Clone, Debug)]
pub(crate) struct Dlg {
    pub(crate) start: i64,
    pub(crate) queued: bool,
    pub(crate) ivr_duration: Option<f64>,
    pub(crate) queue_duration: Option<f64>,
    pub(crate) talk_duration: Option<f64>,
    pub(crate) session_duration: Option<f64>,
    pub(crate) ivr_id: Option<String>,
    pub(crate) queue_id: Option<String>,
    pub(crate) agent_id: Option<String>,
    pub(crate) inbound: bool,
    pub(crate) outcome: Out,
    pub(crate) in_sla: Option<bool>,
    pub(crate) quick_drop: Option<bool>,
}

pub(crate) struct Fixture {
    pub(crate) dialogues: Vec<Dlg>,
    /// id → (name, role as GraphQL names it)
    pub(crate) endpoints: HashMap<String, (Option<String>, &'static str)>,
}

pub(crate) fn ms(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_millis()
}

pub(crate) fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .expect("instant")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn local_date(zone: Tz, t: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(t)
        .expect("instant")
        .with_timezone(&zone)
        .date_naive()
}

/// The instant of local midnight (none of the zones here skips or repeats midnight).
pub(crate) fn midnight(zone: Tz, date: NaiveDate) -> i64 {
    match zone.from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap()) {
        LocalResult::Single(t) => t.timestamp_millis(),
        other => panic!("local midnight of {date} in {zone} is {other:?}"),
    }
}

/// Start of the 15/30/60-minute bucket of `t`: its local wall time truncated, turned back into
/// an instant with the offset `t` has (so the two copies of a repeated hour stay apart).
pub(crate) fn sub_day_start(zone: Tz, minutes: u32, t: i64) -> i64 {
    let local = DateTime::<Utc>::from_timestamp_millis(t)
        .expect("instant")
        .with_timezone(&zone);
    let wall = local.naive_local();
    let truncated = wall
        .date()
        .and_hms_opt(wall.hour(), wall.minute() / minutes * minutes, 0)
        .unwrap();
    match zone.from_local_datetime(&truncated) {
        LocalResult::Single(start) => start.timestamp_millis(),
        LocalResult::Ambiguous(a, b) => {
            if a.offset().fix() == local.offset().fix() {
                a.timestamp_millis()
            } else {
                assert_eq!(b.offset().fix(), local.offset().fix());
                b.timestamp_millis()
            }
        }
        LocalResult::None => panic!("bucket start {truncated} does not exist in {zone}"),
    }
}

/// [periodStart, periodEnd) of the bucket holding `t`; None for TOTAL.
pub(crate) fn bucket_of(zone: Tz, gran: Gran, t: i64) -> Option<(i64, i64)> {
    let date = local_date(zone, t);
    match gran {
        Gran::Total => None,
        Gran::Fifteen | Gran::Thirty | Gran::Hour => {
            let minutes = gran.minutes();
            let start = sub_day_start(zone, minutes, t);
            // The next bucket is the one holding the instant one bucket length later.
            let end = sub_day_start(zone, minutes, start + minutes as i64 * 60_000);
            Some((start, end))
        }
        Gran::Day => Some((
            midnight(zone, date),
            midnight(zone, date.succ_opt().unwrap()),
        )),
        Gran::Week => {
            let monday = date - Duration::days(date.weekday().num_days_from_monday() as i64);
            Some((
                midnight(zone, monday),
                midnight(zone, monday + Duration::days(7)),
            ))
        }
        Gran::Month => {
            let first = date.with_day(1).unwrap();
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            }
            .unwrap();
            Some((midnight(zone, first), midnight(zone, next)))
        }
    }
}

/// One group key value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Id(Option<String>),
    Inbound(bool),
    Out(Out),
}

pub(crate) fn part(d: &Dlg, dim: Dim) -> Part {
    match dim {
        Dim::Queue => Part::Id(d.queue_id.clone()),
        Dim::Agent => Part::Id(d.agent_id.clone()),
        Dim::Ivr => Part::Id(d.ivr_id.clone()),
        Dim::Direction => Part::Inbound(d.inbound),
        Dim::Outcome => Part::Out(d.outcome),
    }
}

/// Absent ids last, ids by their bytes (Rust's `String` order), INBOUND < OUTBOUND, outcomes in
/// declaration order.
fn compare_parts(a: &Part, b: &Part) -> Ordering {
    match (a, b) {
        (Part::Id(a), Part::Id(b)) => match (a, b) {
            (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        (Part::Inbound(a), Part::Inbound(b)) => b.cmp(a),
        (Part::Out(a), Part::Out(b)) => a.cmp(b),
        _ => unreachable!("parts of different dimensions"),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) period: Option<(i64, i64)>,
    pub(crate) parts: Vec<Part>,
}

pub(crate) fn compare_keys(a: &Key, b: &Key) -> Ordering {
    let by_period = a.period.map(|p| p.0).cmp(&b.period.map(|p| p.0));
    a.parts.iter().zip(&b.parts).fold(by_period, |acc, (x, y)| {
        acc.then_with(|| compare_parts(x, y))
    })
}

/// (alias, literal as written in the query, p = numerator / denominator exactly).
/// What-if thresholds (alias suffix, literal, the threshold in milliseconds): whole seconds, a
/// fraction, zero and one above every wait. Durations are stored to the millisecond, so
/// `wait ≤ T` is compared in integer milliseconds here.
const THRESHOLDS: [(&str, &str, i64); 4] = [
    ("20", "20", 20_000),
    ("7_5", "7.5", 7_500),
    ("0", "0", 0),
    ("big", "1e9", 1_000_000_000_000),
];

fn within(duration: Option<f64>, threshold_ms: i64) -> bool {
    duration.is_some_and(|d| (d * 1000.0).round() as i64 <= threshold_ms)
}

const PERCENTILES: [(&str, &str, u64, u64); 8] = [
    ("p50", "0.5", 1, 2),
    ("p90", "0.9", 9, 10),
    ("p100", "1.0", 1, 1),
    ("p70", "0.7", 7, 10),
    ("p1", "0.01", 1, 100),
    // p·n as a double lands just above an integer: 0.07 × 100 = 7.000000000000001,
    // 0.56 × 25 = 14.000000000000002, 0.28 × 25 = 7.000000000000001.
    ("p07", "0.07", 7, 100),
    ("p56", "0.56", 56, 100),
    ("p28", "0.28", 28, 100),
];

/// The ⌈p·n⌉-th smallest (1-based), with p = num/den exactly.
fn nearest_rank(sorted: &[f64], num: u64, den: u64) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    let n = sorted.len() as u64;
    let rank = (num * n).div_ceil(den);
    json!(sorted[rank as usize - 1])
}

fn mean<'a>(values: impl Iterator<Item = &'a Option<f64>>) -> Value {
    let present: Vec<f64> = values.flatten().copied().collect();
    if present.is_empty() {
        Value::Null
    } else {
        // Durations are stored to the millisecond: the mean is their exact sum in whole
        // milliseconds over the count, divided once.
        let sum_ms: i64 = present.iter().map(|d| (d * 1000.0).round() as i64).sum();
        json!(sum_ms as f64 / (present.len() as f64 * 1000.0))
    }
}

/// The sum in seconds, 0 when nothing has the duration: the exact sum in whole milliseconds,
/// divided once.
fn total<'a>(values: impl Iterator<Item = &'a Option<f64>>) -> Value {
    let sum_ms: i64 = values.flatten().map(|d| (d * 1000.0).round() as i64).sum();
    json!(sum_ms as f64 / 1000.0)
}

fn ratio(numerator: usize, denominator: usize) -> Value {
    json!({
        "value": (denominator != 0).then(|| numerator as f64 / denominator as f64),
        "numerator": numerator,
        "denominator": denominator,
    })
}

impl Fixture {
    fn endpoint(&self, id: &Option<String>) -> Value {
        match id {
            None => Value::Null,
            Some(id) => {
                let (name, role) = self
                    .endpoints
                    .get(id)
                    .unwrap_or_else(|| panic!("endpoint {id} is not in the fixture"));
                json!({ "id": id, "name": name, "role": role })
            }
        }
    }

    /// The rows `dialogueStats` must return, every field, in order.
    pub(crate) fn expected(&self, case: &Case) -> Vec<Value> {
        let zone: Tz = case.zone.parse().expect("zone");
        let (from, to) = (ms(&case.from), ms(&case.to));
        let mut groups: HashMap<Key, Vec<&Dlg>> = HashMap::new();
        for d in &self.dialogues {
            if d.start < from || d.start >= to || !case.filter.is_none_or(|f| f.matches(d)) {
                continue;
            }
            let key = Key {
                period: bucket_of(zone, case.gran, d.start),
                parts: case.group_by.iter().map(|dim| part(d, *dim)).collect(),
            };
            groups.entry(key).or_default().push(d);
        }
        let mut keys: Vec<Key> = groups.keys().cloned().collect();
        keys.sort_by(compare_keys);
        keys.iter()
            .map(|key| self.row(case, key, &groups[key]))
            .collect()
    }

    pub(crate) fn row(&self, case: &Case, key: &Key, rows: &[&Dlg]) -> Value {
        let q: Vec<&Dlg> = rows
            .iter()
            .copied()
            .filter(|d| d.queued && matches!(d.outcome, Out::Accepted | Out::Abandoned))
            .collect();
        let a: Vec<&Dlg> = q
            .iter()
            .copied()
            .filter(|d| d.outcome == Out::Accepted)
            .collect();
        let b: Vec<&Dlg> = q
            .iter()
            .copied()
            .filter(|d| d.outcome == Out::Abandoned)
            .collect();
        let quick_drops = b.iter().filter(|d| d.quick_drop == Some(true)).count();
        let in_sla = a.iter().filter(|d| d.in_sla == Some(true)).count();
        let mut waits: Vec<f64> = q.iter().filter_map(|d| d.queue_duration).collect();
        waits.sort_by(|x, y| x.partial_cmp(y).unwrap());

        let mut row = json!({
            "periodStart": key.period.map(|p| rfc3339(p.0)),
            "periodEnd": key.period.map(|p| rfc3339(p.1)),
            "queueId": null, "agentId": null, "ivrId": null, "direction": null, "outcome": null,
            "queue": null, "agent": null, "ivr": null,
            "dialogues": rows.len(),
            "inbound": rows.iter().filter(|d| d.inbound).count(),
            "outbound": rows.iter().filter(|d| !d.inbound).count(),
            "offered": q.len(),
            "accepted": a.len(),
            "abandoned": b.len(),
            "quickDrops": quick_drops,
            "ivrDrops": rows.iter().filter(|d| d.outcome == Out::IvrDrop).count(),
            "acceptedInSla": in_sla,
            "serviceLevel": ratio(in_sla, q.len() - quick_drops),
            "abandonRate": ratio(b.len() - quick_drops, q.len() - quick_drops),
            "answerRate": ratio(a.len(), q.len()),
            "averageSpeedOfAnswer": mean(a.iter().map(|d| &d.queue_duration)),
            "averageAbandonTime": mean(b.iter().map(|d| &d.queue_duration)),
            "averageTalkTime": mean(a.iter().map(|d| &d.talk_duration)),
            "averageIvrTime": mean(rows.iter().map(|d| &d.ivr_duration)),
            "averageSessionTime": mean(rows.iter().map(|d| &d.session_duration)),
            "maxQueueTime": waits.last(),
            "totalTalkTime": total(a.iter().map(|d| &d.talk_duration)),
        });
        for (alias, _, num, den) in PERCENTILES {
            row[alias] = nearest_rank(&waits, num, den);
        }
        // What-if: only the numerator of the service level changes; quick drops by wait.
        for (suffix, _, t) in THRESHOLDS {
            let sla = a.iter().filter(|d| within(d.queue_duration, t)).count();
            let quick = b.iter().filter(|d| within(d.queue_duration, t)).count();
            row[format!("serviceLevel_{suffix}")] = ratio(sla, q.len() - quick_drops);
            row[format!("quickDrops_{suffix}")] = json!(quick);
            row[format!("abandonRate_{suffix}")] = ratio(b.len() - quick, q.len() - quick);
        }
        for (dim, value) in case.group_by.iter().zip(&key.parts) {
            match (dim, value) {
                (Dim::Queue, Part::Id(id)) => {
                    row["queueId"] = json!(id);
                    row["queue"] = self.endpoint(id);
                }
                (Dim::Agent, Part::Id(id)) => {
                    row["agentId"] = json!(id);
                    row["agent"] = self.endpoint(id);
                }
                (Dim::Ivr, Part::Id(id)) => {
                    row["ivrId"] = json!(id);
                    row["ivr"] = self.endpoint(id);
                }
                (Dim::Direction, Part::Inbound(inbound)) => {
                    row["direction"] = json!(if *inbound { "INBOUND" } else { "OUTBOUND" });
                }
                (Dim::Outcome, Part::Out(outcome)) => row["outcome"] = json!(outcome.name()),
                _ => unreachable!(),
            }
        }
        row
    }
}

// ---- cases and the comparison ---------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) enum Filter {
    Inbound,
    SomeQueues,
    NotAccepted,
    Nothing,
}

impl Filter {
    pub(crate) fn graphql(self) -> Value {
        match self {
            Filter::Inbound => json!({ "direction": { "eq": "INBOUND" } }),
            Filter::SomeQueues => {
                json!({ "queueId": { "in": ["demo-queue-1", "edge-Q", "edge-p25", "edge-stub"] } })
            }
            Filter::NotAccepted => json!({ "not": { "outcome": { "eq": "ACCEPTED" } } }),
            Filter::Nothing => json!({ "queueId": { "eq": "no-such-queue" } }),
        }
    }
    pub(crate) fn matches(self, d: &Dlg) -> bool {
        match self {
            Filter::Inbound => d.inbound,
            Filter::SomeQueues => matches!(
                d.queue_id.as_deref(),
                Some("demo-queue-1" | "edge-Q" | "edge-p25" | "edge-stub")
            ),
            Filter::NotAccepted => d.outcome != Out::Accepted,
            Filter::Nothing => false,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) zone: &'static str,
    pub(crate) gran: Gran,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) group_by: Vec<Dim>,
    pub(crate) filter: Option<Filter>,
}

impl Case {
    pub(crate) fn new(
        zone: &'static str,
        gran: Gran,
        from: &str,
        to: &str,
        group_by: &[Dim],
    ) -> Self {
        Self {
            zone,
            gran,
            from: from.to_string(),
            to: to.to_string(),
            group_by: group_by.to_vec(),
            filter: None,
        }
    }
    pub(crate) fn filtered(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }
    pub(crate) fn label(&self) -> String {
        format!(
            "{} {} [{}, {}) groupBy {:?} filter {:?}",
            self.zone,
            self.gran.name(),
            self.from,
            self.to,
            self.group_by.iter().map(|d| d.name()).collect::<Vec<_>>(),
            self.filter
        )
    }
    pub(crate) fn variables(&self) -> Value {
        json!({
            "from": self.from,
            "to": self.to,
            "tz": self.zone,
            "g": self.gran.name(),
            "by": self.group_by.iter().map(|d| d.name()).collect::<Vec<_>>(),
            "filter": self.filter.map(Filter::graphql),
        })
    }
}

/// Every field of `DialogueStats`, with the percentiles under their aliases.
pub(crate) fn all_fields() -> String {
    let mut fields = String::from(
        "periodStart periodEnd queueId agentId ivrId direction outcome \
         queue { id name role } agent { id name role } ivr { id name role } \
         dialogues inbound outbound offered accepted abandoned quickDrops ivrDrops acceptedInSla \
         serviceLevel { value numerator denominator } abandonRate { value numerator denominator } \
         answerRate { value numerator denominator } \
         averageSpeedOfAnswer averageAbandonTime averageTalkTime averageIvrTime averageSessionTime \
         maxQueueTime totalTalkTime",
    );
    for (alias, literal, _, _) in PERCENTILES {
        fields.push_str(&format!(" {alias}: queueTimePercentile(p: {literal})"));
    }
    for (suffix, literal, _) in THRESHOLDS {
        fields.push_str(&format!(
            " serviceLevel_{suffix}: serviceLevel(thresholdInSec: {literal}) {{ value numerator denominator }}\
             quickDrops_{suffix}: quickDrops(thresholdInSec: {literal})\
             abandonRate_{suffix}: abandonRate(quickDropThresholdInSec: {literal}) {{ value numerator denominator }}"
        ));
    }
    fields
}

fn stats_query(selection: &str) -> String {
    format!(
        "query($from: DateTime!, $to: DateTime!, $tz: String!, $g: Granularity!, \
                $by: [StatsDimension!]!, $filter: DialogueFilter) {{
           dialogueStats(from: $from, to: $to, timeZone: $tz, granularity: $g, groupBy: $by,
                         filter: $filter) {{ {selection} }}
         }}"
    )
}

/// Floats within a relative 1e-9, integers and everything else exactly; the path of the first
/// difference.
pub(crate) fn compare(path: &str, expected: &Value, actual: &Value) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<&String> = e.keys().collect();
            let mut ak: Vec<&String> = a.keys().collect();
            ek.sort();
            ak.sort();
            if ek != ak {
                return Err(format!("{path}: fields {ak:?}, expected {ek:?}"));
            }
            for (k, v) in e {
                compare(&format!("{path}.{k}"), v, &a[k])?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => {
            if let Some(e) = e.as_i64() {
                return if a.as_i64() == Some(e) {
                    Ok(())
                } else {
                    Err(format!("{path}: got {a}, expected {e}"))
                };
            }
            let (e, a) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            if (e - a).abs() <= 1e-9 * e.abs().max(a.abs()) {
                Ok(())
            } else {
                Err(format!("{path}: got {a:?}, expected {e:?}"))
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: got {actual}, expected {expected}")),
    }
}

/// A short description of a row's key, for messages.
pub(crate) fn row_key(row: &Value) -> String {
    [
        "periodStart",
        "queueId",
        "agentId",
        "ivrId",
        "direction",
        "outcome",
    ]
    .iter()
    .filter(|k| !row[**k].is_null())
    .map(|k| format!("{k}={}", row[*k]))
    .collect::<Vec<_>>()
    .join(" ")
}

pub(crate) fn check_rows(what: &str, expected: &[Value], response: &Value) {
    assert!(
        response.get("errors").is_none(),
        "{what}: unexpected errors {}",
        response["errors"]
    );
    let actual = response["data"]["dialogueStats"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no rows in {response}"));
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if let Err(diff) = compare("", e, a) {
            panic!(
                "{what}: row {i} (expected {}; got {}): {diff}",
                row_key(e),
                row_key(a)
            );
        }
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} rows, expected {}; first extra expected: {:?}; first extra got: {:?}",
        actual.len(),
        expected.len(),
        expected.get(actual.len()).map(row_key),
        actual.get(expected.len()).map(row_key),
    );
}

async fn run_case(t: &TestDb, fx: &Fixture, case: &Case) -> usize {
    let expected = fx.expected(case);
    let response =
        common::query(&t.db, TENANT, &stats_query(&all_fields()), case.variables()).await;
    check_rows(
        &format!("{}: {}", t.kind, case.label()),
        &expected,
        &response,
    );
    for row in &expected {
        assert!(row["dialogues"].as_u64().unwrap() > 0, "no empty groups");
    }
    expected.len()
}

async fn run_cases(t: &TestDb, fx: &Fixture, cases: &[Case]) {
    let started = Instant::now();
    let mut rows = 0;
    for case in cases {
        rows += run_case(t, fx, case).await;
    }
    eprintln!(
        "{}: {} cases, {rows} rows compared in {:.1?}",
        t.kind,
        cases.len(),
        started.elapsed()
    );
}

// ---- the fixture ----------------------------------------------------------------------------

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Queues whose queued-dialogue count makes p·n land just above an integer in floating point:
/// `edge-p25` (n = 25, waits 1..25 s) and `edge-p100` (n = 100, waits 0.5..50 s), shuffled,
/// accepted and abandoned mixed.
fn percentile_traps() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".ndjson")
        .tempfile()
        .unwrap();
    let mut order = 2_000_000;
    for (queue, n, step, day) in [
        ("edge-p25", 25u32, 1.0, "2026-03-10T10:00:00Z"),
        ("edge-p100", 100, 0.5, "2026-03-11T09:00:00Z"),
    ] {
        for i in 0..n {
            let k = (i * 7) % n + 1;
            let wait = k as f64 * step;
            let start = ms(day) + i as i64 * 37_000;
            let enter = start + 10_000;
            let waited = enter + (wait * 1000.0) as i64;
            order += 1;
            let mut record = json!({
                "id": format!("{queue}-{i:03}"),
                "orderNumber": order,
                "startTimestamp": rfc3339(start),
                "queueEnterTimestamp": rfc3339(enter),
                "ivrId": "edge-ivr",
                "queueId": queue,
                "customerId": "edge-cust-2",
                "direction": 1,
            });
            if i % 3 == 2 {
                record["Outcome"] = json!("Abandoned");
                record["endTimestamp"] = json!(rfc3339(waited));
            } else {
                record["Outcome"] = json!("Accepted");
                record["agentId"] = json!(format!("edge-agent-t{:02}", i % 11));
                record["acceptTimestamp"] = json!(rfc3339(waited));
                record["endTimestamp"] = json!(rfc3339(waited + 60_000 + i as i64 * 1_500));
            }
            writeln!(file, "{record}").unwrap();
        }
    }
    file.flush().unwrap();
    file
}

/// The hand-made rows only (fast; for the error and limit tests).
pub(crate) async fn import_edges(t: &TestDb, tenant: &str) {
    common::import(
        &t.db,
        Kind::Endpoints,
        &common::fixture("stats_endpoints.ndjson"),
        tenant,
    )
    .await
    .expect("edge endpoints");
    let summary = common::import(
        &t.db,
        Kind::Dialogues,
        &common::fixture("stats_edges.ndjson"),
        tenant,
    )
    .await
    .expect("edge dialogues");
    assert_eq!(summary.inserted, 47, "{}", t.kind);
    let traps = percentile_traps();
    let summary = common::import(&t.db, Kind::Dialogues, traps.path(), tenant)
        .await
        .expect("percentile traps");
    assert_eq!(summary.inserted, 125, "{}", t.kind);
}

pub(crate) async fn write_demo(
    t: &TestDb,
    tenant: &str,
    dialogues: u64,
    days: u32,
    until: NaiveDate,
) {
    let written = demo::write_to_db(
        &t.db,
        tenant,
        DemoOptions {
            dialogues,
            days,
            until,
            seed: dialogues ^ 0x5eed,
            first_order_number: 1,
        },
    )
    .await
    .expect("demo data");
    assert_eq!(written, dialogues);
}

/// The full fixture: demo ranges + edges in `TENANT`, a demo range in `OTHER_TENANT`.
pub(crate) async fn full_fixture(t: &TestDb) -> Fixture {
    let started = Instant::now();
    // 2026-02-14 .. 2026-04-14: both spring DST changes (New York 03-08, Amsterdam 03-29).
    write_demo(t, TENANT, 3000, 60, date(2026, 4, 15)).await;
    // 2026-10-23 .. 2026-10-26: Amsterdam's fall back on 10-25.
    write_demo(t, TENANT, 240, 4, date(2026, 10, 27)).await;
    import_edges(t, TENANT).await;
    // Same endpoint ids, same time range, another tenant: must never be counted.
    write_demo(t, OTHER_TENANT, 500, 60, date(2026, 4, 15)).await;
    let fx = read_fixture(t).await;
    assert_eq!(fx.dialogues.len(), 3000 + 240 + 47 + 125);
    eprintln!("{}: fixture written in {:.1?}", t.kind, started.elapsed());
    fx
}

async fn edge_fixture(t: &TestDb) -> Fixture {
    import_edges(t, TENANT).await;
    read_fixture(t).await
}

/// The tenant's rows as stored (read with the entities, not through the API under test).
pub(crate) async fn read_fixture(t: &TestDb) -> Fixture {
    let tenant = insights_core::tenant::ensure(&t.db, TENANT).await.unwrap();
    let dialogues = dialogue::Entity::find()
        .filter(dialogue::Column::TenantId.eq(tenant.id))
        .all(&t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| Dlg {
            start: d.start_timestamp_ms,
            queued: d.queue_enter_timestamp_ms.is_some(),
            ivr_duration: d.ivr_duration_in_sec,
            queue_duration: d.queue_duration_in_sec,
            talk_duration: d.initial_talk_duration_in_sec,
            session_duration: d.session_duration_in_sec,
            ivr_id: d.ivr_id,
            queue_id: d.queue_id,
            agent_id: d.agent_id,
            inbound: d.direction == Direction::Inbound,
            outcome: match d.outcome {
                Outcome::Accepted => Out::Accepted,
                Outcome::Abandoned => Out::Abandoned,
                Outcome::IvrDrop => Out::IvrDrop,
            },
            in_sla: d.in_sla,
            quick_drop: d.quick_drop,
        })
        .collect();
    let endpoints = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant.id))
        .all(&t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let role = match e.role {
                EndpointRole::Ivr => "IVR",
                EndpointRole::Queue => "QUEUE",
                EndpointRole::Customer => "CUSTOMER",
                EndpointRole::Agent => "AGENT",
            };
            (e.id, (e.name, role))
        })
        .collect();
    Fixture {
        dialogues,
        endpoints,
    }
}

const GROUPINGS: [&[Dim]; 5] = [
    &[],
    &[Dim::Queue],
    &[Dim::Agent],
    &[Dim::Direction, Dim::Outcome],
    &[Dim::Ivr],
];

// ---- the matrix -----------------------------------------------------------------------------

/// 15/30/60-minute buckets over a few days around each DST change, in every zone.
#[tokio::test]
async fn sub_day_buckets_match_the_reference() {
    // (zone, from, to): from/to are edge dialogues' own instants (from included, to excluded).
    let windows: [(&str, &str, &str); 8] = [
        (
            "Europe/Amsterdam",
            "2026-03-27T12:34:56.789Z",
            "2026-03-30T12:00:00.000Z",
        ),
        // The same range written with offsets.
        (
            "Europe/Amsterdam",
            "2026-03-27T13:34:56.789+01:00",
            "2026-03-30T14:00:00+02:00",
        ),
        (
            "Europe/Amsterdam",
            "2026-10-23T00:00:00.000Z",
            "2026-10-27T00:00:00.000Z",
        ),
        (
            "America/New_York",
            "2026-03-06T15:00:00.000Z",
            "2026-03-09T18:00:00.000Z",
        ),
        (
            "America/New_York",
            "2026-10-31T12:00:00.000Z",
            "2026-11-02T12:00:00.000Z",
        ),
        (
            "UTC",
            "2026-03-27T12:34:56.789Z",
            "2026-03-30T12:00:00.000Z",
        ),
        (
            "Asia/Kolkata",
            "2026-03-27T12:34:56.789Z",
            "2026-03-30T12:00:00.000Z",
        ),
        (
            "Asia/Kathmandu",
            "2026-03-27T12:34:56.789Z",
            "2026-03-30T12:00:00.000Z",
        ),
    ];
    let mut cases = Vec::new();
    for (zone, from, to) in windows {
        for gran in [Gran::Fifteen, Gran::Thirty, Gran::Hour] {
            for group_by in GROUPINGS {
                cases.push(Case::new(zone, gran, from, to, group_by));
            }
        }
    }
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        // The windows hold what they were chosen for.
        let ams = Case::new(
            "Europe/Amsterdam",
            Gran::Hour,
            "2026-10-23T00:00:00.000Z",
            "2026-10-27T00:00:00.000Z",
            &[],
        );
        let starts: Vec<String> = fx
            .expected(&ams)
            .iter()
            .map(|r| r["periodStart"].as_str().unwrap().to_string())
            .collect();
        assert!(starts.contains(&"2026-10-25T00:00:00.000Z".to_string()));
        assert!(starts.contains(&"2026-10-25T01:00:00.000Z".to_string()));
        run_cases(&t, &fx, &cases).await;
    }
}

fn month_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = ZONES
        .iter()
        .flat_map(|zone| {
            GROUPINGS
                .iter()
                .map(|group_by| Case::new(zone, Gran::Month, ALL_FROM, ALL_TO, group_by))
        })
        .collect();
    // Two id dimensions at once (absent ids last in each).
    cases.push(Case::new(
        "Europe/Amsterdam",
        Gran::Month,
        ALL_FROM,
        ALL_TO,
        &[Dim::Queue, Dim::Agent],
    ));
    for filter in [Filter::Inbound, Filter::SomeQueues, Filter::NotAccepted] {
        cases.push(
            Case::new(
                "Asia/Kathmandu",
                Gran::Month,
                ALL_FROM,
                ALL_TO,
                &[Dim::Direction, Dim::Outcome],
            )
            .filtered(filter),
        );
    }
    cases
}

/// Days and ISO weeks over the whole fixture, in every zone; months too on SQLite (on
/// PostgreSQL see `month_granularity_matches_the_reference`).
#[tokio::test]
async fn day_week_month_match_the_reference() {
    let mut cases = Vec::new();
    for zone in ZONES {
        for gran in [Gran::Day, Gran::Week] {
            for group_by in GROUPINGS {
                cases.push(Case::new(zone, gran, ALL_FROM, ALL_TO, group_by));
            }
        }
    }
    cases.push(Case::new(
        "UTC",
        Gran::Week,
        ALL_FROM,
        ALL_TO,
        &[Dim::Queue, Dim::Ivr, Dim::Direction],
    ));
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        run_cases(&t, &fx, &cases).await;
        if t.kind == "sqlite" {
            run_cases(&t, &fx, &month_cases()).await;
        }
    }
}

/// MONTH on every database.
#[tokio::test]
async fn month_granularity_matches_the_reference() {
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        run_cases(&t, &fx, &month_cases()).await;
    }
}

/// The `filter` argument narrows what is measured, buckets and groups as usual.
#[tokio::test]
async fn filtered_stats_match_the_reference() {
    let mut cases = Vec::new();
    for filter in [Filter::Inbound, Filter::SomeQueues, Filter::NotAccepted] {
        cases.push(
            Case::new(
                "Europe/Amsterdam",
                Gran::Day,
                ALL_FROM,
                ALL_TO,
                &[Dim::Queue],
            )
            .filtered(filter),
        );
        cases.push(
            Case::new(
                "America/New_York",
                Gran::Hour,
                "2026-03-06T15:00:00.000Z",
                "2026-03-09T18:00:00.000Z",
                &[],
            )
            .filtered(filter),
        );
        cases.push(
            Case::new(
                "Asia/Kathmandu",
                Gran::Week,
                ALL_FROM,
                ALL_TO,
                &[Dim::Direction, Dim::Outcome],
            )
            .filtered(filter),
        );
        cases.push(Case::new("UTC", Gran::Week, ALL_FROM, ALL_TO, &[Dim::Agent]).filtered(filter));
        cases.push(
            Case::new(
                "Europe/Amsterdam",
                Gran::Fifteen,
                "2026-10-24T20:00:00.000Z",
                "2026-10-25T04:00:00.000Z",
                &[Dim::Ivr],
            )
            .filtered(filter),
        );
    }
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        run_cases(&t, &fx, &cases).await;
    }
}

/// Each field asked for on its own (the server decides from the selection what to aggregate),
/// through fragments, with `p` as a variable, and with the argument defaults.
#[tokio::test]
async fn every_field_alone_and_through_fragments() {
    let case = Case::new(
        "Europe/Amsterdam",
        Gran::Week,
        ALL_FROM,
        ALL_TO,
        &[Dim::Queue],
    );
    let mut selections: Vec<(String, &str)> = [
        "periodStart",
        "periodEnd",
        "queueId",
        "agentId",
        "ivrId",
        "direction",
        "outcome",
        "dialogues",
        "inbound",
        "outbound",
        "offered",
        "accepted",
        "abandoned",
        "quickDrops",
        "ivrDrops",
        "acceptedInSla",
        "averageSpeedOfAnswer",
        "averageAbandonTime",
        "averageTalkTime",
        "averageIvrTime",
        "averageSessionTime",
        "maxQueueTime",
        "totalTalkTime",
    ]
    .iter()
    .map(|f| (f.to_string(), *f))
    .collect();
    for (name, sub) in [
        ("queue", "{ id name role }"),
        ("agent", "{ id name role }"),
        ("ivr", "{ id name role }"),
        ("serviceLevel", "{ value numerator denominator }"),
        ("abandonRate", "{ value numerator denominator }"),
        ("answerRate", "{ value numerator denominator }"),
    ] {
        selections.push((format!("{name} {sub}"), name));
    }
    for (alias, literal, _, _) in PERCENTILES {
        selections.push((format!("{alias}: queueTimePercentile(p: {literal})"), alias));
    }
    let what_if: Vec<(String, String)> = THRESHOLDS
        .iter()
        .flat_map(|(suffix, literal, _)| {
            [
                (
                    format!("serviceLevel_{suffix}: serviceLevel(thresholdInSec: {literal}) {{ value numerator denominator }}"),
                    format!("serviceLevel_{suffix}"),
                ),
                (
                    format!("quickDrops_{suffix}: quickDrops(thresholdInSec: {literal})"),
                    format!("quickDrops_{suffix}"),
                ),
                (
                    format!("abandonRate_{suffix}: abandonRate(quickDropThresholdInSec: {literal}) {{ value numerator denominator }}"),
                    format!("abandonRate_{suffix}"),
                ),
            ]
        })
        .collect();
    for (selection, key) in &what_if {
        selections.push((selection.clone(), key.as_str()));
    }
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        let expected = fx.expected(&case);
        for (selection, key) in &selections {
            let projected: Vec<Value> = expected.iter().map(|r| json!({ *key: r[*key] })).collect();
            let response =
                common::query(&t.db, TENANT, &stats_query(selection), case.variables()).await;
            check_rows(
                &format!("{}: {} selecting only `{selection}`", t.kind, case.label()),
                &projected,
                &response,
            );
        }
        // A ratio's value alone still needs both counts behind it.
        for ratio in ["serviceLevel", "abandonRate", "answerRate"] {
            let projected: Vec<Value> = expected
                .iter()
                .map(|r| json!({ ratio: { "value": r[ratio]["value"] } }))
                .collect();
            let response = common::query(
                &t.db,
                TENANT,
                &stats_query(&format!("{ratio} {{ value }}")),
                case.variables(),
            )
            .await;
            check_rows(
                &format!("{}: only {ratio} {{ value }}", t.kind),
                &projected,
                &response,
            );
        }

        // Everything through a named fragment and an inline fragment; p from a variable.
        let query = format!(
            "query($from: DateTime!, $to: DateTime!, $tz: String!, $g: Granularity!,
                   $by: [StatsDimension!]!, $filter: DialogueFilter, $p: Float!) {{
               dialogueStats(from: $from, to: $to, timeZone: $tz, granularity: $g, groupBy: $by,
                             filter: $filter) {{
                 ...everything
                 ... on DialogueStats {{ p90v: queueTimePercentile(p: $p) }}
               }}
             }}
             fragment everything on DialogueStats {{ {} }}",
            all_fields()
        );
        let mut variables = case.variables();
        variables["p"] = json!(0.9);
        let with_variable: Vec<Value> = expected
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["p90v"] = r["p90"].clone();
                r
            })
            .collect();
        let response = common::query(&t.db, TENANT, &query, variables).await;
        check_rows(&format!("{}: fragments", t.kind), &with_variable, &response);

        // timeZone defaults to UTC, groupBy to [] (granularity's default TOTAL: see
        // `total_granularity_matches_the_reference`).
        let defaults = Case::new("UTC", Gran::Day, ALL_FROM, ALL_TO, &[]);
        let response = common::query(
            &t.db,
            TENANT,
            &format!(
                "{{ dialogueStats(from: \"{ALL_FROM}\", to: \"{ALL_TO}\", granularity: DAY) {{ {} }} }}",
                all_fields()
            ),
            json!({}),
        )
        .await;
        check_rows(
            &format!("{}: argument defaults", t.kind),
            &fx.expected(&defaults),
            &response,
        );
    }
}

/// TOTAL (the default granularity): one row per group over the whole range, no period.
#[tokio::test]
async fn total_granularity_matches_the_reference() {
    let mut cases = Vec::new();
    for zone in ZONES {
        for group_by in GROUPINGS {
            cases.push(Case::new(zone, Gran::Total, ALL_FROM, ALL_TO, group_by));
        }
    }
    cases.push(Case::new(
        "UTC",
        Gran::Total,
        ALL_FROM,
        ALL_TO,
        &[Dim::Queue, Dim::Ivr, Dim::Direction],
    ));
    for filter in [Filter::Inbound, Filter::SomeQueues, Filter::NotAccepted] {
        cases.push(
            Case::new(
                "Asia/Kathmandu",
                Gran::Total,
                ALL_FROM,
                ALL_TO,
                &[Dim::Direction, Dim::Outcome],
            )
            .filtered(filter),
        );
    }
    for t in common::databases().await {
        let fx = full_fixture(&t).await;
        // Arguments left out: UTC, TOTAL, no grouping.
        let response = common::query(
            &t.db,
            TENANT,
            &format!(
                "{{ dialogueStats(from: \"{ALL_FROM}\", to: \"{ALL_TO}\") {{ {} }} }}",
                all_fields()
            ),
            json!({}),
        )
        .await;
        check_rows(
            &format!("{}: argument defaults", t.kind),
            &fx.expected(&Case::new("UTC", Gran::Total, ALL_FROM, ALL_TO, &[])),
            &response,
        );
        run_cases(&t, &fx, &cases).await;
        // Nothing in range: no row at all (not one row of zeros).
        let empty = Case::new(
            "UTC",
            Gran::Total,
            "2020-01-01T00:00:00Z",
            "2020-02-01T00:00:00Z",
            &[],
        );
        let response = common::query(
            &t.db,
            TENANT,
            &stats_query(&all_fields()),
            empty.variables(),
        )
        .await;
        assert_eq!(
            response,
            json!({ "data": { "dialogueStats": [] } }),
            "{}",
            t.kind
        );
    }
}

// ---- empty answers, errors, limits -----------------------------------------------------------

#[tokio::test]
async fn empty_ranges_and_filters_give_no_rows() {
    for t in common::databases().await {
        let fx = edge_fixture(&t).await;
        for case in [
            // Before any dialogue.
            Case::new(
                "Europe/Amsterdam",
                Gran::Day,
                "2020-01-01T00:00:00Z",
                "2020-02-01T00:00:00Z",
                &[],
            ),
            Case::new(
                "UTC",
                Gran::Month,
                "2020-01-01T00:00:00Z",
                "2020-02-01T00:00:00Z",
                &[Dim::Queue],
            ),
            // One millisecond that holds no dialogue, right after one that does.
            Case::new(
                "UTC",
                Gran::Fifteen,
                "2026-03-29T01:00:00.001Z",
                "2026-03-29T01:00:00.002Z",
                &[],
            ),
            // A filter nothing matches.
            Case::new("Asia/Kathmandu", Gran::Month, ALL_FROM, ALL_TO, &[])
                .filtered(Filter::Nothing),
            Case::new(
                "Europe/Amsterdam",
                Gran::Week,
                ALL_FROM,
                ALL_TO,
                &[Dim::Agent],
            )
            .filtered(Filter::Nothing),
        ] {
            assert!(fx.expected(&case).is_empty());
            let response =
                common::query(&t.db, TENANT, &stats_query(&all_fields()), case.variables()).await;
            assert_eq!(
                response,
                json!({ "data": { "dialogueStats": [] } }),
                "{}: {}",
                t.kind,
                case.label()
            );
        }
        // The single millisecond that does hold one.
        run_case(
            &t,
            &fx,
            &Case::new(
                "UTC",
                Gran::Fifteen,
                "2026-03-29T01:00:00.000Z",
                "2026-03-29T01:00:00.001Z",
                &[Dim::Queue],
            ),
        )
        .await;
    }
}

fn assert_bad_input(what: &str, response: &Value, needle: &str) {
    assert_eq!(
        common::error_codes(response),
        vec!["BAD_USER_INPUT".to_string()],
        "{what}: {response}"
    );
    let message = response["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{what}: message {message:?} should mention {needle:?}"
    );
}

#[tokio::test]
async fn invalid_arguments_are_bad_user_input() {
    for t in common::databases().await {
        edge_fixture(&t).await;
        let run = |from: &str, to: &str, zone: &str, by: Value, p: &str| {
            let query = format!(
                "query($by: [StatsDimension!]!) {{
                   dialogueStats(from: \"{from}\", to: \"{to}\", timeZone: \"{zone}\",
                                 granularity: DAY, groupBy: $by) {{
                     dialogues queueTimePercentile(p: {p})
                   }}
                 }}"
            );
            let db = t.db.clone();
            async move { common::query(&db, TENANT, &query, json!({ "by": by })).await }
        };
        let ok_from = "2026-03-01T00:00:00Z";
        let ok_to = "2026-04-01T00:00:00Z";
        let kind = t.kind;

        let r = run(ok_to, ok_from, "UTC", json!([]), "0.5").await;
        assert_bad_input(&format!("{kind}: from after to"), &r, "`from`");
        let r = run(ok_from, ok_from, "UTC", json!([]), "0.5").await;
        assert_bad_input(&format!("{kind}: from equal to to"), &r, "`from`");
        // Same instant written with two offsets is still an empty range.
        let r = run(
            "2026-03-01T01:00:00+01:00",
            "2026-03-01T00:00:00Z",
            "UTC",
            json!([]),
            "0.5",
        )
        .await;
        assert_bad_input(&format!("{kind}: from equal to to (offsets)"), &r, "`from`");

        let r = run(ok_from, ok_to, "Mars/Base", json!([]), "0.5").await;
        assert_bad_input(&format!("{kind}: unknown zone"), &r, "Mars/Base");
        let r = run(ok_from, ok_to, "", json!([]), "0.5").await;
        assert_eq!(
            common::error_codes(&r),
            vec!["BAD_USER_INPUT"],
            "{kind}: empty zone: {r}"
        );

        for p in ["0", "0.0", "1.5", "-1", "1.0000001", "-0.5"] {
            let r = run(ok_from, ok_to, "UTC", json!([]), p).await;
            assert_bad_input(&format!("{kind}: p = {p}"), &r, "`p`");
        }
        // p = 1 exactly is allowed (the maximum).
        let r = run(ok_from, ok_to, "UTC", json!([]), "1").await;
        assert!(r.get("errors").is_none(), "{kind}: p = 1: {r}");

        for by in [
            json!(["QUEUE", "QUEUE"]),
            json!(["DIRECTION", "OUTCOME", "DIRECTION"]),
        ] {
            let r = run(ok_from, ok_to, "UTC", by.clone(), "0.5").await;
            assert_bad_input(&format!("{kind}: groupBy {by}"), &r, "groupBy");
        }
    }
}

#[tokio::test]
async fn row_limit_refuses_with_the_row_count() {
    let limited = graphql::build_schema(
        ApiLimits {
            max_stats_rows: 10,
            ..Default::default()
        },
        Guards::default(),
    );
    for t in common::databases().await {
        let fx = edge_fixture(&t).await;
        let kind = t.kind;
        for case in [
            // One time bucket, many agents.
            Case::new(
                "UTC",
                Gran::Day,
                "2026-03-10T00:00:00Z",
                "2026-03-11T00:00:00Z",
                &[Dim::Agent],
            ),
            // Few time buckets × groups (the percentile-trap days: a dozen agents each).
            Case::new(
                "Europe/Amsterdam",
                Gran::Day,
                "2026-03-08T00:00:00Z",
                "2026-03-12T00:00:00Z",
                &[Dim::Agent],
            ),
        ] {
            let rows = fx.expected(&case).len();
            assert!(
                rows > 10,
                "{}: the case must exceed the limit",
                case.label()
            );
            let r = common::query_with(
                &limited,
                &t.db,
                TENANT,
                &stats_query(&all_fields()),
                case.variables(),
            )
            .await;
            assert_bad_input(
                &format!("{kind}: {}", case.label()),
                &r,
                &format!("would produce {rows} rows"),
            );
        }
        // At the limit: answered.
        let case = Case::new(
            "UTC",
            Gran::Day,
            "2026-03-10T00:00:00Z",
            "2026-03-11T00:00:00Z",
            &[Dim::Direction, Dim::Outcome],
        );
        let expected = fx.expected(&case);
        assert!(expected.len() <= 10);
        let r = common::query_with(
            &limited,
            &t.db,
            TENANT,
            &stats_query(&all_fields()),
            case.variables(),
        )
        .await;
        check_rows(&format!("{kind}: under the limit"), &expected, &r);
        let case = Case::new(
            "Europe/Amsterdam",
            Gran::Day,
            "2026-03-20T23:00:00Z",
            "2026-03-30T22:00:00Z",
            &[],
        );
        let r = common::query_with(
            &limited,
            &t.db,
            TENANT,
            &stats_query(&all_fields()),
            case.variables(),
        )
        .await;
        check_rows(
            &format!("{kind}: ten local days, limit 10"),
            &fx.expected(&case),
            &r,
        );
    }
}

/// Too many time buckets are refused before any SQL runs, however few dialogues there are.
#[tokio::test]
async fn too_many_time_buckets_are_refused_with_the_bucket_count() {
    for t in common::databases().await {
        edge_fixture(&t).await;
        // 2016-01-01 .. 2026-01-01 is 3653 days: 350,688 quarter hours.
        let case = Case::new(
            "UTC",
            Gran::Fifteen,
            "2016-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            &[],
        );
        let r = common::query(&t.db, TENANT, &stats_query("dialogues"), case.variables()).await;
        assert_bad_input(t.kind, &r, "time buckets");
        let message = r["errors"][0]["message"].as_str().unwrap();
        let count: u64 = message
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no bucket count in {message:?}"));
        assert!(
            (350_688..=350_690).contains(&count),
            "{}: {message:?}",
            t.kind
        );
    }
}

// ---- known bugs -----------------------------------------------------------------------------

/// Nearest rank is ⌈p·n⌉ for every 0 < p ≤ 1: a tiny p names the smallest value, and a p·n
/// just above an integer names the next rank.
#[tokio::test]
async fn percentile_rank_is_exact_for_any_p() {
    for t in common::databases().await {
        let fx = edge_fixture(&t).await;
        // One ISO week (Monday 2026-03-09) that holds both trap queues.
        let case = Case::new(
            "UTC",
            Gran::Week,
            "2026-03-09T00:00:00Z",
            "2026-03-16T00:00:00Z",
            &[Dim::Queue],
        );
        let expected: Vec<Value> = {
            let zone_rows = fx.expected(&case);
            // The raw, sorted waits of each queue group, for the reference ranks.
            zone_rows
                .iter()
                .map(|row| {
                    let queue = row["queueId"].as_str().map(str::to_string);
                    let mut waits: Vec<f64> = fx
                        .dialogues
                        .iter()
                        .filter(|d| {
                            d.queue_id == queue
                                && d.queued
                                && d.outcome != Out::IvrDrop
                                && d.start >= ms(&case.from)
                                && d.start < ms(&case.to)
                        })
                        .filter_map(|d| d.queue_duration)
                        .collect();
                    waits.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    json!({
                        "queueId": row["queueId"],
                        "tiny": nearest_rank(&waits, 1, 1_000_000_000_000),
                        "above": nearest_rank(&waits, 500_000_000_001, 1_000_000_000_000),
                    })
                })
                .collect()
        };
        let r = common::query(
            &t.db,
            TENANT,
            &stats_query(
                "queueId tiny: queueTimePercentile(p: 1e-12) \
                 above: queueTimePercentile(p: 0.500000000001)",
            ),
            case.variables(),
        )
        .await;
        check_rows(&format!("{}: extreme p", t.kind), &expected, &r);
    }
}

/// The bucket limit counts buckets the range can hold: ten whole hours (or weeks) are ten
/// buckets, which a limit of ten rows allows.
#[tokio::test]
async fn bucket_limit_counts_exactly() {
    let limited = graphql::build_schema(
        ApiLimits {
            max_stats_rows: 10,
            ..Default::default()
        },
        Guards::default(),
    );
    for t in common::databases().await {
        let fx = edge_fixture(&t).await;
        for case in [
            Case::new(
                "UTC",
                Gran::Hour,
                "2026-03-29T01:00:00Z",
                "2026-03-29T11:00:00Z",
                &[],
            ),
            // Ten ISO weeks, Monday to Monday.
            Case::new(
                "UTC",
                Gran::Week,
                "2026-02-02T00:00:00Z",
                "2026-04-13T00:00:00Z",
                &[],
            ),
        ] {
            let r = common::query_with(
                &limited,
                &t.db,
                TENANT,
                &stats_query(&all_fields()),
                case.variables(),
            )
            .await;
            check_rows(
                &format!("{}: {}", t.kind, case.label()),
                &fx.expected(&case),
                &r,
            );
        }
    }
}
