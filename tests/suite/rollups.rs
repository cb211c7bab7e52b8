//! The pre-aggregates (issue 9) are exact through every write: a seeded random walk of imports,
//! re-imports that move dialogues to another queue, agent, outcome and start time (across an
//! hour, a day and Amsterdam's DST change), rejected imports, deletes, an UPDATE statement and
//! `ingestDialogues` (the write path's mutation), and after each step
//! - every grain table equals the same aggregate rebuilt from the rows (key by key, column by
//!   column, the maximum queue time included), and
//! - every `totalCount` and every `dialogueStats` field the core answers (from the
//!   pre-aggregates where it can) equals the same figure computed from the rows
//!   (`TenantScope::without_rollups`), bit for bit, in UTC, Europe/Amsterdam, Asia/Kolkata and
//!   Asia/Kathmandu, every granularity, grouped by each dimension, with filters the
//!   pre-aggregates can and cannot answer, over ranges aligned and not aligned to their slots.
//!
//! tests/stats.rs checks the stats against an independent reference (now through the
//! pre-aggregates); this suite checks the pre-aggregates against the rows.
use crate::common;

use std::io::Write;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use common::TestDb;
use insights_core::buckets::Granularity;
use insights_core::ingest::Kind;
use insights_core::query::{
    DialogueField, Dimension, EndpointField, Filter, Measure, Op, Operand, StatsRequest,
    TenantScope, Threshold, CATALOGUE,
};
use insights_core::rollups::{rebuilt_select, table_columns, GRAINS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const TENANT: &str = "rollups";
const OTHER: &str = "rollups-other";

fn ms(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One generated dialogue, as the vendor exports it.
#[derive(Clone, Debug)]
struct Dlg {
    id: String,
    order: i64,
    start: i64,
    direction: u8,
    ivr: Option<String>,
    queue: Option<String>,
    customer: Option<String>,
    agent: Option<String>,
    outcome: &'static str,
    /// ms after start: queue enter, accept, end.
    enter_after: i64,
    wait: i64,
    talk: i64,
    in_sla: Option<bool>,
    quick_drop: Option<bool>,
}

/// Spring forward in Amsterdam is 2026-03-29 01:00 UTC; the data spans the days around it.
const SPAN_FROM: &str = "2026-03-26T18:00:00Z";
const SPAN_DAYS: i64 = 6;

fn pick<T: Clone>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())].clone()
}

fn maybe(rng: &mut StdRng, prefix: &str, n: usize, none_one_in: u32) -> Option<String> {
    (rng.random_range(0..none_one_in) != 0).then(|| format!("{prefix}-{}", rng.random_range(0..n)))
}

fn random_dialogue(rng: &mut StdRng, id: usize) -> Dlg {
    let start = ms(SPAN_FROM) + rng.random_range(0..SPAN_DAYS * 86_400_000);
    let mut d = Dlg {
        id: format!("d-{id}"),
        order: id as i64 + 1,
        start,
        direction: 1,
        ivr: None,
        queue: None,
        customer: None,
        agent: None,
        outcome: "Accepted",
        enter_after: 0,
        wait: 0,
        talk: 0,
        in_sla: None,
        quick_drop: None,
    };
    reshape(rng, &mut d);
    d
}

/// New random attributes for a dialogue (its id and order number stay).
fn reshape(rng: &mut StdRng, d: &mut Dlg) {
    d.direction = rng.random_range(1..=2);
    d.ivr = maybe(rng, "ivr", 2, 4);
    d.queue = maybe(rng, "q", 3, 6);
    d.customer = maybe(rng, "c", 5, 3);
    d.outcome = pick(rng, &["Accepted", "Accepted", "Abandoned", "IvrDrop"]);
    d.agent = (d.outcome == "Accepted")
        .then(|| maybe(rng, "a", 4, 8))
        .flatten();
    d.enter_after = rng.random_range(0..90_000);
    // Durations with millisecond parts, some equal (ties for the maximum).
    let any_wait = rng.random_range(0..400_000);
    d.wait = pick(rng, &[0, 5_000, 20_000, any_wait]);
    d.talk = rng.random_range(0..900_000);
    d.in_sla = pick(rng, &[None, Some(true), Some(false)]);
    d.quick_drop = pick(rng, &[None, Some(true), Some(false)]);
}

fn record(d: &Dlg) -> Value {
    let enter = d.start + d.enter_after;
    let (queue_enter, accept, end) = match d.outcome {
        "IvrDrop" => (None, None, enter),
        "Abandoned" => (Some(enter), None, enter + d.wait),
        _ => (Some(enter), Some(enter + d.wait), enter + d.wait + d.talk),
    };
    json!({
        "id": d.id,
        "startTimestamp": rfc3339(d.start),
        "orderNumber": d.order,
        "direction": d.direction,
        "ivrId": d.ivr,
        "queueId": d.queue,
        "customerId": d.customer,
        "agentId": d.agent,
        "queueEnterTimestamp": queue_enter.map(rfc3339),
        "acceptTimestamp": accept.map(rfc3339),
        "endTimestamp": rfc3339(end),
        "Outcome": d.outcome,
        "InSLA": d.in_sla.filter(|_| d.outcome == "Accepted"),
        "QuickDrop": d.quick_drop.filter(|_| d.outcome == "Abandoned"),
    })
}

/// A dialogue as `ingestDialogues` takes it (API.md §5).
fn graphql_input(d: &Dlg) -> Value {
    let mut v = record(d);
    let object = v.as_object_mut().unwrap();
    let outcome = object.remove("Outcome").unwrap();
    let in_sla = object.remove("InSLA").unwrap();
    let quick_drop = object.remove("QuickDrop").unwrap();
    object.insert(
        "outcome".into(),
        json!(match outcome.as_str().unwrap() {
            "Accepted" => "ACCEPTED",
            "Abandoned" => "ABANDONED",
            _ => "IVR_DROP",
        }),
    );
    object.insert("inSla".into(), in_sla);
    object.insert("quickDrop".into(), quick_drop);
    object.insert(
        "direction".into(),
        json!(if d.direction == 1 {
            "INBOUND"
        } else {
            "OUTBOUND"
        }),
    );
    v
}

fn write_file(records: &[Value]) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".ndjson")
        .tempfile()
        .unwrap();
    for r in records {
        writeln!(file, "{r}").unwrap();
    }
    file.flush().unwrap();
    file
}

async fn import(t: &TestDb, tenant: &str, dialogues: &[&Dlg]) {
    let records: Vec<Value> = dialogues.iter().map(|d| record(d)).collect();
    let file = write_file(&records);
    common::import(&t.db, Kind::Dialogues, file.path(), tenant)
        .await
        .unwrap_or_else(|e| panic!("{}: import failed: {e}", t.kind));
}

/// Every grain table equals its aggregate rebuilt from the rows, both ways.
async fn check_tables(t: &TestDb, step: &str) {
    let backend = t.db.get_database_backend();
    for grain in &GRAINS {
        let columns = table_columns(grain).join(", ");
        let rebuilt = rebuilt_select(grain);
        for (what, sql) in [
            (
                "stored but not rebuilt",
                format!(
                    "SELECT COUNT(*) AS n FROM (SELECT {columns} FROM {} EXCEPT SELECT * FROM ({rebuilt}) AS r) AS x",
                    grain.table
                ),
            ),
            (
                "rebuilt but not stored",
                format!(
                    "SELECT COUNT(*) AS n FROM (SELECT * FROM ({rebuilt}) AS r EXCEPT SELECT {columns} FROM {}) AS x",
                    grain.table
                ),
            ),
        ] {
            let row = t
                .db
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .unwrap()
                .unwrap();
            let n: i64 = row.try_get("", "n").unwrap();
            assert_eq!(n, 0, "{}, {step}: {} has {n} rows {what}", t.kind, grain.table);
        }
    }
}

fn same_f64(a: Option<f64>, b: Option<f64>) -> bool {
    a.map(f64::to_bits) == b.map(f64::to_bits)
}

/// Every measure of the KPI catalogue (a KPI added there is compared here without a word).
fn all_measures() -> Vec<Measure> {
    CATALOGUE.iter().map(|kpi| kpi.measure).collect()
}

fn text(s: &str) -> Operand {
    Operand::Text(s.to_string())
}

/// Filters: the first ones touch only grain dimensions (relation filters on the agent, queue
/// and ivr among them: the grains keyed by those answer them; the endpoints are the stubs the
/// import made, named nothing, so they compare ids and roles), the last ones cannot be
/// answered by any grain (the rows answer).
fn filters() -> Vec<Option<Filter<DialogueField>>> {
    use DialogueField as F;
    let related = |field, inner| Filter::Related(field, Box::new(inner));
    vec![
        None,
        Some(Filter::Is(F::QueueId, Op::Eq(text("q-1")))),
        Some(Filter::Is(F::QueueId, Op::Ne(text("q-0")))),
        Some(Filter::All(vec![
            Filter::Is(
                F::Outcome,
                Op::In(vec![
                    Operand::Outcome(entity::Outcome::Accepted),
                    Operand::Outcome(entity::Outcome::Abandoned),
                ]),
            ),
            Filter::Not(Box::new(Filter::Is(F::IvrId, Op::IsNull(true)))),
        ])),
        Some(Filter::Any(vec![
            Filter::Is(F::AgentId, Op::Eq(text("a-2"))),
            Filter::Is(
                F::Direction,
                Op::Eq(Operand::Direction(entity::Direction::Outbound)),
            ),
        ])),
        Some(Filter::Is(F::QueueId, Op::IsNull(true))),
        Some(Filter::Is(F::InSla, Op::Eq(Operand::Bool(true)))),
        Some(Filter::All(vec![
            Filter::Is(F::QuickDrop, Op::IsNull(false)),
            Filter::Is(F::QueueId, Op::Ne(text("q-0"))),
        ])),
        Some(Filter::Is(
            F::AgentId,
            Op::In(vec![text("a-1"), text("a-2")]),
        )),
        Some(related(
            F::AgentId,
            Filter::Any(vec![
                Filter::Is(EndpointField::Id, Op::In(vec![text("a-1"), text("a-3")])),
                Filter::Is(EndpointField::Name, Op::IsNull(false)),
            ]),
        )),
        Some(Filter::Not(Box::new(related(
            F::QueueId,
            Filter::Is(EndpointField::Id, Op::Ne(text("q-0"))),
        )))),
        Some(Filter::All(vec![
            related(
                F::IvrId,
                Filter::Is(
                    EndpointField::Role,
                    Op::Eq(Operand::Role(entity::EndpointRole::Ivr)),
                ),
            ),
            Filter::Is(
                F::Direction,
                Op::Eq(Operand::Direction(entity::Direction::Inbound)),
            ),
        ])),
        Some(Filter::Is(F::CustomerId, Op::Eq(text("c-1")))),
        Some(Filter::Is(F::QueueDuration, Op::Gt(Operand::Float(20.0)))),
        Some(related(
            F::CustomerId,
            Filter::Is(EndpointField::Id, Op::Eq(text("c-2"))),
        )),
    ]
}

const GROUPS: [&[Dimension]; 8] = [
    &[],
    &[Dimension::Queue],
    &[Dimension::Agent],
    &[Dimension::Ivr],
    &[Dimension::Direction],
    &[Dimension::Outcome],
    &[Dimension::Queue, Dimension::Outcome],
    &[Dimension::Ivr, Dimension::Direction, Dimension::Outcome],
];

const GRANULARITIES: [Granularity; 7] = [
    Granularity::FifteenMinutes,
    Granularity::ThirtyMinutes,
    Granularity::Hour,
    Granularity::Day,
    Granularity::Week,
    Granularity::Month,
    Granularity::Total,
];

const ZONES: [Tz; 4] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Amsterdam,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Asia::Kathmandu,
];

fn local_midnight(zone: Tz, y: i32, m: u32, d: u32) -> i64 {
    zone.from_local_datetime(
        &NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    )
    .earliest()
    .unwrap()
    .timestamp_millis()
}

async fn compare_stats(
    t: &TestDb,
    step: &str,
    fast: &TenantScope,
    rows: &TenantScope,
    request: &StatsRequest,
) {
    let label = format!(
        "{}, {step}: {} {:?} {:?} group {:?} filter {:?} [{}, {})",
        t.kind,
        request.zone.name(),
        request.granularity,
        request.measures.len(),
        request.group_by,
        request.filter,
        rfc3339(request.from),
        rfc3339(request.to)
    );
    let a = fast.dialogue_stats(request).await.unwrap();
    let b = rows.dialogue_stats(request).await.unwrap();
    assert_eq!(a.len(), b.len(), "{label}: row counts differ");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.key, y.key, "{label}");
        assert_eq!(x.period, y.period, "{label}");
        for m in &request.measures {
            assert_eq!(x.count(*m), y.count(*m), "{label}: {m:?} of {:?}", x.key);
            assert!(
                same_f64(x.value(*m), y.value(*m)),
                "{label}: {m:?} of {:?}: {:?} vs {:?}",
                x.key,
                x.value(*m),
                y.value(*m)
            );
        }
        for p in &request.percentiles {
            assert_eq!(
                x.percentile(*p).map(|v| v.map(f64::to_bits)),
                y.percentile(*p).map(|v| v.map(f64::to_bits)),
                "{label}: p{p}"
            );
        }
    }
}

/// Every count and stat of the core, pre-aggregates against rows.
async fn check_answers(t: &TestDb, step: &str, fast: &TenantScope, rows: &TenantScope) -> i64 {
    // totalCount: no filter, ranges aligned to days/hours/15 minutes and not, with dimensions.
    let filters = filters();
    let ranges: Vec<(Option<i64>, Option<i64>)> = vec![
        (None, None),
        (
            Some(ms("2026-03-28T00:00:00Z")),
            Some(ms("2026-03-30T00:00:00Z")),
        ),
        (Some(ms("2026-03-28T05:00:00Z")), None),
        (None, Some(ms("2026-03-29T01:15:00Z"))),
        (
            Some(ms("2026-03-27T10:07:13.5Z")),
            Some(ms("2026-03-30T22:59:59.999Z")),
        ),
        (
            Some(ms("2026-03-29T00:01:00Z")),
            Some(ms("2026-03-29T00:02:00Z")),
        ),
    ];
    let mut total = 0;
    for (i, (from, to)) in ranges.iter().enumerate() {
        for filter in &filters {
            let mut parts = Vec::new();
            if let Some(from) = from {
                let op = if i % 2 == 0 {
                    Op::Gte(Operand::Instant(*from))
                } else {
                    Op::Gt(Operand::Instant(from - 1))
                };
                parts.push(Filter::Is(DialogueField::StartTimestamp, op));
            }
            if let Some(to) = to {
                let op = if i % 2 == 0 {
                    Op::Lt(Operand::Instant(*to))
                } else {
                    Op::Lte(Operand::Instant(to - 1))
                };
                parts.push(Filter::Is(DialogueField::StartTimestamp, op));
            }
            parts.extend(filter.clone());
            let whole = (!parts.is_empty()).then_some(Filter::All(parts));
            let a = fast.count_dialogues(whole.as_ref()).await.unwrap();
            let b = rows.count_dialogues(whole.as_ref()).await.unwrap();
            assert_eq!(a, b, "{}, {step}: totalCount of {whole:?}", t.kind);
            if from.is_none() && to.is_none() && filter.is_none() {
                total = b;
            }
        }
    }

    // dialogueStats: each zone × granularity, cycling through the groupings and filters, over
    // the whole local days around the DST change and over a range cut at odd minutes.
    let mut case = 0usize;
    for zone in ZONES {
        let from = local_midnight(zone, 2026, 3, 27);
        let to = local_midnight(zone, 2026, 4, 1);
        for granularity in GRANULARITIES {
            for (from, to) in [(from, to), (from + 7 * 60_000 + 13_000, to - 11 * 60_000)] {
                case += 1;
                let group_by = GROUPS[case % GROUPS.len()].to_vec();
                let filter = filters[case % filters.len()].clone();
                let request = StatsRequest {
                    from,
                    to,
                    zone,
                    granularity,
                    group_by,
                    filter,
                    measures: all_measures(),
                    percentiles: Vec::new(),
                    max_rows: 100_000,
                    rank: Default::default(),
                    compare: None,
                    period: None,
                };
                compare_stats(t, step, fast, rows, &request).await;
            }
        }
    }
    // Every grouping and filter at one granularity per zone.
    for zone in ZONES {
        for group_by in GROUPS {
            for filter in &filters {
                let request = StatsRequest {
                    from: local_midnight(zone, 2026, 3, 27),
                    to: local_midnight(zone, 2026, 3, 31),
                    zone,
                    granularity: Granularity::Day,
                    group_by: group_by.to_vec(),
                    filter: filter.clone(),
                    measures: all_measures(),
                    percentiles: Vec::new(),
                    max_rows: 100_000,
                    rank: Default::default(),
                    compare: None,
                    period: None,
                };
                compare_stats(t, step, fast, rows, &request).await;
            }
        }
    }
    // What-if thresholds and percentiles (the rows answer them, mixed with the rest).
    let mut measures = all_measures();
    measures.push(Measure::AcceptedWithin(Threshold::new(20.0, "t").unwrap()));
    let request = StatsRequest {
        from: ms("2026-03-27T00:00:00Z"),
        to: ms("2026-04-01T00:00:00Z"),
        zone: chrono_tz::Europe::Amsterdam,
        granularity: Granularity::Day,
        group_by: vec![Dimension::Queue],
        filter: None,
        measures,
        percentiles: vec![0.9],
        max_rows: 100_000,
        rank: Default::default(),
        compare: None,
        period: None,
    };
    compare_stats(t, step, fast, rows, &request).await;
    total
}

async fn check(t: &TestDb, step: &str, fast: &TenantScope, rows: &TenantScope) -> i64 {
    check_tables(t, step).await;
    check_answers(t, step, fast, rows).await
}

#[tokio::test]
async fn pre_aggregates_stay_exact_through_every_write() {
    for t in common::databases().await {
        let mut rng = StdRng::seed_from_u64(9);
        let fast = common::scope(&t.db, TENANT).await;
        let rows = fast.clone().without_rollups();
        // Another tenant's rows land in the same tables and must never count.
        let other: Vec<Dlg> = (0..40)
            .map(|i| random_dialogue(&mut rng, 10_000 + i))
            .collect();
        import(&t, OTHER, &other.iter().collect::<Vec<_>>()).await;

        // 1. A first import.
        let mut all: Vec<Dlg> = (0..300).map(|i| random_dialogue(&mut rng, i)).collect();
        import(&t, TENANT, &all.iter().collect::<Vec<_>>()).await;
        assert_eq!(check(&t, "first import", &fast, &rows).await, 300);

        // 2. Re-imports: new queue/agent/outcome; start moved across an hour, a day and the
        //    DST change; unchanged ones; and new ones, all in one file.
        for round in 0..3 {
            let mut changed = Vec::new();
            for (i, d) in all.iter_mut().enumerate() {
                match rng.random_range(0..6) {
                    0 => reshape(&mut rng, d),
                    1 => {
                        d.start += pick(
                            &mut rng,
                            &[
                                37 * 60_000,
                                -50 * 60_000,
                                86_400_000 + 13 * 60_000,
                                -86_400_000,
                            ],
                        )
                    }
                    2 => {
                        reshape(&mut rng, d);
                        d.start = ms("2026-03-29T00:59:59.999Z")
                            + rng.random_range(0..2) * (i as i64 % 3);
                    }
                    _ => continue,
                }
                changed.push(i);
            }
            let fresh: Vec<Dlg> = (0..30)
                .map(|i| random_dialogue(&mut rng, 1_000 + round * 100 + i))
                .collect();
            let mut batch: Vec<&Dlg> = changed.iter().map(|i| &all[*i]).collect();
            batch.extend(fresh.iter());
            // Some unchanged rows too: they must change nothing.
            batch.extend(all.iter().take(20));
            import(&t, TENANT, &batch).await;
            all.extend(fresh);
            let n = check(&t, &format!("re-import {round}"), &fast, &rows).await;
            assert_eq!(n as usize, all.len(), "{}", t.kind);
        }

        // 3. A rejected import: valid changes, then an invalid record. Nothing is applied.
        let before = rows.count_dialogues(None).await.unwrap();
        let mut records: Vec<Value> = all
            .iter()
            .take(50)
            .map(|d| {
                let mut moved = d.clone();
                moved.queue = Some("q-moved".into());
                moved.start += 3_600_000;
                record(&moved)
            })
            .collect();
        let mut bad = record(&all[60]);
        bad["Outcome"] = json!("NotAnOutcome");
        records.push(bad);
        let file = write_file(&records);
        let result = common::import(&t.db, Kind::Dialogues, file.path(), TENANT).await;
        assert!(result.is_err(), "{}: the invalid record is refused", t.kind);
        assert_eq!(rows.count_dialogues(None).await.unwrap(), before);
        check(&t, "rejected import", &fast, &rows).await;

        // 4. Deletes (any writer: the triggers see them), including a group's maximum.
        let backend = t.db.get_database_backend();
        let tenant_id = fast.tenant_id();
        t.db
            .execute_raw(Statement::from_string(
                backend,
                format!(
                    "DELETE FROM dialogues WHERE tenant_id = {tenant_id} AND (order_number % 7 = 0 OR queue_duration_in_sec = \
                     (SELECT MAX(queue_duration_in_sec) FROM dialogues WHERE tenant_id = {tenant_id}))"
                ),
            ))
            .await
            .unwrap();
        let after_delete = check(&t, "deletes", &fast, &rows).await;
        assert!(after_delete < all.len() as i64);

        // 4b. An insert by plain SQL (the insert trigger: on SQLite only the batch writer's
        //     own inserts skip it; neither its mark nor an import's setting the trigger aside
        //     outlives the batch or the file).
        t.db
            .execute_raw(Statement::from_string(
                backend,
                format!(
                    "INSERT INTO dialogues SELECT tenant_id, id || '-copy', order_number + 1000000, start_date, \
                     start_timestamp_ms + 3600000, queue_enter_timestamp_ms, accept_timestamp_ms, end_timestamp_ms, \
                     ivr_duration_in_sec, queue_duration_in_sec, initial_talk_duration_in_sec, session_duration_in_sec, \
                     ivr_id, queue_id, customer_id, agent_id, direction, outcome, in_sla, quick_drop, \
                     change_position, change_index FROM dialogues WHERE tenant_id = {tenant_id} AND order_number % 3 = 0"
                ),
            ))
            .await
            .unwrap();
        let after_insert = check(&t, "insert statement", &fast, &rows).await;
        assert!(after_insert > after_delete);

        // 5. An update statement that moves many rows at once.
        t.db
            .execute_raw(Statement::from_string(
                backend,
                format!(
                    "UPDATE dialogues SET start_timestamp_ms = start_timestamp_ms + 900000, queue_id = NULL \
                     WHERE tenant_id = {tenant_id} AND order_number % 5 = 1"
                ),
            ))
            .await
            .unwrap();
        check(&t, "update statement", &fast, &rows).await;

        // 5b. ingestDialogues (the write path's mutation): moves and new rows in one call.
        let mut moved: Vec<Dlg> = all.iter().skip(100).take(40).cloned().collect();
        for d in &mut moved {
            reshape(&mut rng, d);
            d.start += 45 * 60_000;
        }
        let inputs: Vec<Value> = moved.iter().map(graphql_input).collect();
        let response = common::query(
            &t.db,
            TENANT,
            "mutation($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted updated } }",
            json!({ "d": inputs }),
        )
        .await;
        assert!(response["errors"].is_null(), "{}: {response}", t.kind);
        let summary = &response["data"]["ingestDialogues"];
        assert_eq!(
            summary["inserted"].as_i64().unwrap() + summary["updated"].as_i64().unwrap(),
            40,
            "{}: every ingested dialogue was moved: {summary}",
            t.kind
        );
        check(&t, "ingestDialogues", &fast, &rows).await;

        // 6. The answers above did come from the pre-aggregates: each grain, once tampered
        //    with, changes the answer of a question it is the coarsest for (and the comparison
        //    above would have failed).
        let amsterdam = chrono_tz::Europe::Amsterdam;
        let probes: [(&str, Tz, &[Dimension]); 5] = [
            ("rollup_day_queue", chrono_tz::UTC, &[Dimension::Queue]),
            ("rollup_hour_queue", amsterdam, &[Dimension::Queue]),
            ("rollup_hour_agent", amsterdam, &[Dimension::Agent]),
            (
                "rollup_hour_dims",
                amsterdam,
                &[Dimension::Ivr, Dimension::Outcome],
            ),
            ("rollup_15m", chrono_tz::Asia::Kathmandu, &[]),
        ];
        assert_eq!(probes.len(), GRAINS.len(), "every grain is probed");
        for (table, zone, group_by) in probes {
            let tamper = |delta: i64| {
                Statement::from_string(
                    backend,
                    format!("UPDATE {table} SET n = n + {delta} WHERE tenant_id = {tenant_id}"),
                )
            };
            t.db.execute_raw(tamper(1_000)).await.unwrap();
            let request = StatsRequest {
                from: local_midnight(zone, 2026, 3, 27),
                to: local_midnight(zone, 2026, 4, 1),
                zone,
                granularity: Granularity::Day,
                group_by: group_by.to_vec(),
                filter: None,
                measures: vec![Measure::Dialogues],
                percentiles: Vec::new(),
                max_rows: 100_000,
                rank: Default::default(),
                compare: None,
                period: None,
            };
            let sum = |stats: Vec<insights_core::query::StatsRow>| {
                stats
                    .iter()
                    .map(|r| r.count(Measure::Dialogues))
                    .sum::<i64>()
            };
            let tampered = sum(fast.dialogue_stats(&request).await.unwrap());
            let exact = sum(rows.dialogue_stats(&request).await.unwrap());
            assert!(
                tampered > exact,
                "{}: {table} did not answer ({tampered} vs {exact})",
                t.kind
            );
            if table == "rollup_day_queue" {
                let tampered = fast.count_dialogues(None).await.unwrap();
                let exact = rows.count_dialogues(None).await.unwrap();
                assert!(tampered > exact, "{}: totalCount not from {table}", t.kind);
            }
            t.db.execute_raw(tamper(-1_000)).await.unwrap();
        }
        check(&t, "after the probes", &fast, &rows).await;
    }
}

/// PostgreSQL: two imports at once, of different dialogues that move between the same groups in
/// opposite directions, both commit (the aggregate rows are locked in one order) and leave the
/// pre-aggregates exact.
#[tokio::test]
async fn concurrent_imports_sharing_groups_both_commit() {
    let Some(t) = common::postgres().await else {
        return;
    };
    let fast = common::scope(&t.db, TENANT).await;
    let rows = fast.clone().without_rollups();
    let mut rng = StdRng::seed_from_u64(11);
    let mut left: Vec<Dlg> = (0..200).map(|i| random_dialogue(&mut rng, i)).collect();
    let mut right: Vec<Dlg> = (0..200)
        .map(|i| random_dialogue(&mut rng, 500 + i))
        .collect();
    for (i, d) in left.iter_mut().chain(right.iter_mut()).enumerate() {
        d.start = ms("2026-03-28T10:00:00Z") + (i as i64 % 4) * 3_600_000;
    }
    import(&t, TENANT, &left.iter().chain(&right).collect::<Vec<_>>()).await;
    for round in 0..6 {
        // Left moves its dialogues one hour later and to q-0, right one hour earlier and to q-1.
        for d in &mut left {
            d.start =
                ms("2026-03-28T10:00:00Z") + (d.start / 3_600_000 + 1 + round) % 4 * 3_600_000;
            d.queue = Some("q-0".into());
        }
        for d in &mut right {
            d.start =
                ms("2026-03-28T10:00:00Z") + (d.start / 3_600_000 + 3 + round) % 4 * 3_600_000;
            d.queue = Some("q-1".into());
        }
        let file_left = write_file(&left.iter().map(record).collect::<Vec<_>>());
        let file_right = write_file(&right.iter().map(record).collect::<Vec<_>>());
        let (a, b) = tokio::join!(
            common::import(&t.db, Kind::Dialogues, file_left.path(), TENANT),
            common::import(&t.db, Kind::Dialogues, file_right.path(), TENANT),
        );
        a.expect("left import");
        b.expect("right import");
        check_tables(&t, &format!("concurrent round {round}")).await;
        assert_eq!(
            fast.count_dialogues(None).await.unwrap(),
            rows.count_dialogues(None).await.unwrap()
        );
    }
}
