//! The importer against API.md §1–2, on every database of `common::databases()`: vendor shapes,
//! derivations, endpoint stubs, idempotency, all-or-nothing, `--skip-invalid`, formats, tenants,
//! order-number conflicts, migrations and the real `insights import` command line.
use crate::common;

use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::{DateTime, NaiveDate};
use entity::{dialogue, endpoint, Direction, EndpointRole, Outcome};
use insights_core::ingest::source::Location;
use insights_core::ingest::{self, ImportError, ImportOptions, ImportSummary, Kind, RejectsFile};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};

const TENANT: &str = "default";

// ---- helpers --------------------------------------------------------------------------------

/// UTC epoch milliseconds of an instant; expected values are always written in UTC (`Z`).
fn utc(text: &str) -> i64 {
    assert!(
        text.ends_with('Z'),
        "write expected instants in UTC: {text}"
    );
    DateTime::parse_from_rfc3339(text)
        .expect("expected instant")
        .timestamp_millis()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("expected date")
}

/// A dialogue with only the key fields set: `start` (UTC) gives startTimestamp and startDate;
/// everything else is null, Inbound and Accepted until a test spells it out.
fn row(tenant_id: i32, id: &str, order_number: i32, start: &str) -> dialogue::Model {
    dialogue::Model {
        tenant_id,
        id: id.to_string(),
        order_number,
        start_date: day(&start[..10]),
        start_timestamp_ms: utc(start),
        queue_enter_timestamp_ms: None,
        accept_timestamp_ms: None,
        end_timestamp_ms: None,
        ivr_duration_in_sec: None,
        queue_duration_in_sec: None,
        initial_talk_duration_in_sec: None,
        session_duration_in_sec: None,
        ivr_id: None,
        queue_id: None,
        customer_id: None,
        agent_id: None,
        direction: Direction::Inbound,
        outcome: Outcome::Accepted,
        in_sla: None,
        quick_drop: None,
        change_position: 0,
        change_index: 0,
    }
}

fn endpoint_row(
    tenant_id: i32,
    id: &str,
    role: EndpointRole,
    name: Option<&str>,
) -> endpoint::Model {
    endpoint::Model {
        tenant_id,
        id: id.to_string(),
        name: name.map(str::to_string),
        role,
        sla_threshold_in_sec: None,
        quick_drop_threshold_in_sec: None,
    }
}

fn some(id: &str) -> Option<String> {
    Some(id.to_string())
}

async fn tenant_id(db: &DatabaseConnection, name: &str) -> i32 {
    insights_core::tenant::find(db, name)
        .await
        .expect("tenant look-up")
        .unwrap_or_else(|| panic!("tenant {name} exists"))
        .id
}

/// The tenant's stored dialogues by id, change positions left out (tests/suite/resume.rs
/// checks those).
async fn dialogues_of(db: &DatabaseConnection, tenant: &str) -> Vec<dialogue::Model> {
    let t = tenant_id(db, tenant).await;
    let mut rows = dialogue::Entity::find()
        .filter(dialogue::Column::TenantId.eq(t))
        .all(db)
        .await
        .expect("dialogues");
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    for row in &mut rows {
        row.change_position = 0;
        row.change_index = 0;
    }
    rows
}

async fn endpoints_of(db: &DatabaseConnection, tenant: &str) -> Vec<endpoint::Model> {
    let t = tenant_id(db, tenant).await;
    let mut rows = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(t))
        .all(db)
        .await
        .expect("endpoints");
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

/// Every dialogue and endpoint of every tenant, to prove that nothing was written.
#[derive(Debug, PartialEq)]
struct Snapshot {
    dialogues: Vec<dialogue::Model>,
    endpoints: Vec<endpoint::Model>,
}

async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    let mut dialogues = dialogue::Entity::find().all(db).await.expect("dialogues");
    dialogues.sort_by(|a, b| (a.tenant_id, &a.id).cmp(&(b.tenant_id, &b.id)));
    let mut endpoints = endpoint::Entity::find().all(db).await.expect("endpoints");
    endpoints.sort_by(|a, b| (a.tenant_id, &a.id).cmp(&(b.tenant_id, &b.id)));
    Snapshot {
        dialogues,
        endpoints,
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count query")
        .expect("one row")
        .try_get::<i64>("", "n")
        .expect("count")
}

/// Asserts the same rows by id, then each whole row, so that a failure names the row.
fn assert_rows<T: PartialEq + Debug>(
    db: &str,
    mut actual: Vec<T>,
    mut expected: Vec<T>,
    id: fn(&T) -> &str,
) {
    actual.sort_by(|a, b| id(a).cmp(id(b)));
    expected.sort_by(|a, b| id(a).cmp(id(b)));
    let ids = |rows: &[T]| rows.iter().map(id).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(ids(&actual), ids(&expected), "{db}: ids");
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!(a, e, "{db}: row {}", id(e));
    }
}

fn assert_dialogues(db: &str, actual: Vec<dialogue::Model>, expected: Vec<dialogue::Model>) {
    assert_rows(db, actual, expected, |d| &d.id);
}

fn assert_endpoints(db: &str, actual: Vec<endpoint::Model>, expected: Vec<endpoint::Model>) {
    assert_rows(db, actual, expected, |e| &e.id);
}

/// Only the rows of `all` whose id is in `ids`.
fn only(all: Vec<dialogue::Model>, ids: &[&str]) -> Vec<dialogue::Model> {
    all.into_iter()
        .filter(|d| ids.contains(&d.id.as_str()))
        .collect()
}

async fn import(db: &DatabaseConnection, kind: Kind, path: &Path) -> ImportSummary {
    import_into(db, kind, path, TENANT).await
}

async fn import_into(
    db: &DatabaseConnection,
    kind: Kind,
    path: &Path,
    tenant: &str,
) -> ImportSummary {
    common::import(db, kind, path, tenant)
        .await
        .unwrap_or_else(|e| panic!("importing {}: {e}", path.display()))
}

/// The expected summary: the counts given, every other count 0 (file and elapsed as `actual`).
fn counts(actual: &ImportSummary) -> ImportSummary {
    ImportSummary {
        file: actual.file.clone(),
        elapsed: actual.elapsed,
        ..ImportSummary::default()
    }
}

fn write_file(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write test file");
    path
}

/// `fixture` with `from` replaced by `to` (exactly once), written into `dir` under the same name.
fn changed_fixture(dir: &Path, fixture: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::fixture(fixture)).expect("fixture");
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` occurs once in {fixture}"
    );
    let path = dir.join(fixture);
    std::fs::write(&path, text.replace(from, to)).expect("write changed fixture");
    path
}

fn gzip(source: &Path, dir: &Path) -> PathBuf {
    let name = format!("{}.gz", source.file_name().unwrap().to_string_lossy());
    let path = dir.join(name);
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create .gz"),
        flate2::Compression::default(),
    );
    encoder
        .write_all(&std::fs::read(source).expect("read source"))
        .expect("compress");
    encoder.finish().expect("finish .gz");
    path
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---- expected rows of the fixtures ----------------------------------------------------------

/// `endpoints.ndjson`: keys and roles in any case, thresholds on queues only, unknown fields.
fn expected_endpoints(t: i32) -> Vec<endpoint::Model> {
    vec![
        endpoint_row(t, "ivr-main", EndpointRole::Ivr, Some("Main menu")),
        endpoint::Model {
            sla_threshold_in_sec: Some(30.0),
            quick_drop_threshold_in_sec: Some(10.0),
            ..endpoint_row(t, "q-own", EndpointRole::Queue, Some("Own thresholds"))
        },
        endpoint_row(
            t,
            "q-default",
            EndpointRole::Queue,
            Some("Default thresholds"),
        ),
        endpoint::Model {
            sla_threshold_in_sec: Some(10.0),
            ..endpoint_row(
                t,
                "q-sla-only",
                EndpointRole::Queue,
                Some("SLA threshold only"),
            )
        },
        endpoint_row(t, "agent-1", EndpointRole::Agent, Some("Ada")),
        endpoint_row(t, "cust-1", EndpointRole::Customer, None),
    ]
}

/// `vendor_shapes.ndjson`: every field given, in the vendor's various spellings.
fn expected_vendor_shapes(t: i32) -> Vec<dialogue::Model> {
    vec![
        // Canonical keys, direction 1, InSLA "True", `Z` timestamps.
        dialogue::Model {
            tenant_id: t,
            id: "v-1".into(),
            order_number: 1,
            start_date: day("2026-03-02"),
            start_timestamp_ms: utc("2026-03-02T09:00:00.000Z"),
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:00:30.000Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T09:00:45.500Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:05:45.500Z")),
            ivr_duration_in_sec: Some(30.0),
            queue_duration_in_sec: Some(15.5),
            initial_talk_duration_in_sec: Some(300.0),
            session_duration_in_sec: Some(345.5),
            ivr_id: some("ivr-main"),
            queue_id: some("q-own"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            direction: Direction::Inbound,
            outcome: Outcome::Accepted,
            in_sla: Some(true),
            quick_drop: None,
            change_position: 0,
            change_index: 0,
        },
        // Keys in other cases, "Inbound", QuickDrop "False", +02:00, unknown fields ignored.
        dialogue::Model {
            tenant_id: t,
            id: "v-2".into(),
            order_number: 2,
            start_date: day("2026-03-02"),
            start_timestamp_ms: utc("2026-03-02T10:00:00.000Z"),
            queue_enter_timestamp_ms: Some(utc("2026-03-02T10:00:20.250Z")),
            accept_timestamp_ms: None,
            end_timestamp_ms: Some(utc("2026-03-02T10:01:20.250Z")),
            ivr_duration_in_sec: Some(20.25),
            queue_duration_in_sec: Some(60.0),
            initial_talk_duration_in_sec: None,
            session_duration_in_sec: Some(80.25),
            ivr_id: some("ivr-main"),
            queue_id: some("q-default"),
            customer_id: some("cust-1"),
            agent_id: None,
            direction: Direction::Inbound,
            outcome: Outcome::Abandoned,
            in_sla: None,
            quick_drop: Some(false),
            change_position: 0,
            change_index: 0,
        },
        // direction 2, -05:00 on the previous local day.
        dialogue::Model {
            tenant_id: t,
            id: "v-3".into(),
            order_number: 3,
            start_date: day("2026-03-02"),
            start_timestamp_ms: utc("2026-03-02T00:30:00.125Z"),
            queue_enter_timestamp_ms: None,
            accept_timestamp_ms: Some(utc("2026-03-02T00:30:00.125Z")),
            end_timestamp_ms: Some(utc("2026-03-02T00:32:00.125Z")),
            ivr_duration_in_sec: None,
            queue_duration_in_sec: None,
            initial_talk_duration_in_sec: Some(120.0),
            session_duration_in_sec: Some(120.0),
            ivr_id: None,
            queue_id: None,
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            direction: Direction::Outbound,
            outcome: Outcome::Accepted,
            in_sla: None,
            quick_drop: None,
            change_position: 0,
            change_index: 0,
        },
        // "Outbound", InSLA as the JSON boolean false, +05:30.
        dialogue::Model {
            tenant_id: t,
            id: "v-4".into(),
            order_number: 4,
            start_date: day("2026-03-02"),
            start_timestamp_ms: utc("2026-03-02T08:30:00.000Z"),
            queue_enter_timestamp_ms: Some(utc("2026-03-02T08:30:10.000Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T08:30:50.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T08:40:50.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(40.0),
            initial_talk_duration_in_sec: Some(600.0),
            session_duration_in_sec: Some(650.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-own"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            direction: Direction::Outbound,
            outcome: Outcome::Accepted,
            in_sla: Some(false),
            quick_drop: None,
            change_position: 0,
            change_index: 0,
        },
        // QuickDrop as the JSON boolean true.
        dialogue::Model {
            tenant_id: t,
            id: "v-5".into(),
            order_number: 5,
            start_date: day("2026-03-02"),
            start_timestamp_ms: utc("2026-03-02T10:00:00.000Z"),
            queue_enter_timestamp_ms: Some(utc("2026-03-02T10:00:05.000Z")),
            accept_timestamp_ms: None,
            end_timestamp_ms: Some(utc("2026-03-02T10:00:07.000Z")),
            ivr_duration_in_sec: Some(5.0),
            queue_duration_in_sec: Some(2.0),
            initial_talk_duration_in_sec: None,
            session_duration_in_sec: Some(7.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-own"),
            customer_id: some("cust-1"),
            agent_id: None,
            direction: Direction::Inbound,
            outcome: Outcome::Abandoned,
            in_sla: None,
            quick_drop: Some(true),
            change_position: 0,
            change_index: 0,
        },
        // IvrDrop.
        dialogue::Model {
            tenant_id: t,
            id: "v-6".into(),
            order_number: 6,
            start_date: day("2026-03-02"),
            start_timestamp_ms: utc("2026-03-02T11:00:00.999Z"),
            queue_enter_timestamp_ms: None,
            accept_timestamp_ms: None,
            end_timestamp_ms: Some(utc("2026-03-02T11:00:12.999Z")),
            ivr_duration_in_sec: Some(12.0),
            queue_duration_in_sec: None,
            initial_talk_duration_in_sec: None,
            session_duration_in_sec: Some(12.0),
            ivr_id: some("ivr-main"),
            queue_id: None,
            customer_id: some("cust-1"),
            agent_id: None,
            direction: Direction::Inbound,
            outcome: Outcome::IvrDrop,
            in_sla: None,
            quick_drop: None,
            change_position: 0,
            change_index: 0,
        },
    ]
}

/// `derivations.ndjson` after `endpoints.ndjson`: every derived field left out of the file.
/// Queues: q-own (SLA 30 s, quick drop 10 s), q-default (none: tenant default 20 s / 5 s),
/// q-sla-only (SLA 10 s, quick drop from the default), q-unknown (a stub: defaults).
fn expected_derivations(t: i32) -> Vec<dialogue::Model> {
    vec![
        // Accepted after IVR and queue: every duration derived; 25 s ≤ q-own's 30 s.
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:00:12.345Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T09:00:37.345Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:03:37.345Z")),
            ivr_duration_in_sec: Some(12.345),
            queue_duration_in_sec: Some(25.0),
            initial_talk_duration_in_sec: Some(180.0),
            session_duration_in_sec: Some(217.345),
            ivr_id: some("ivr-main"),
            queue_id: some("q-own"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            in_sla: Some(true),
            ..row(t, "d-1", 101, "2026-03-02T09:00:00.000Z")
        },
        // 25 s > the default 20 s.
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:10:10.000Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T09:10:35.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:12:35.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(25.0),
            initial_talk_duration_in_sec: Some(120.0),
            session_duration_in_sec: Some(155.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-default"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            in_sla: Some(false),
            ..row(t, "d-2", 102, "2026-03-02T09:10:00.000Z")
        },
        // Exactly the default 20 s is within SLA (≤).
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:20:10.000Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T09:20:30.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:21:30.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(20.0),
            initial_talk_duration_in_sec: Some(60.0),
            session_duration_in_sec: Some(90.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-default"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            in_sla: Some(true),
            ..row(t, "d-3", 103, "2026-03-02T09:20:00.000Z")
        },
        // Abandoned: queue time runs to the end; 8 s ≤ q-own's 10 s.
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:30:10.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:30:18.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(8.0),
            session_duration_in_sec: Some(18.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-own"),
            customer_id: some("cust-1"),
            outcome: Outcome::Abandoned,
            quick_drop: Some(true),
            ..row(t, "d-4", 104, "2026-03-02T09:30:00.000Z")
        },
        // 8 s > the default 5 s.
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:40:10.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:40:18.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(8.0),
            session_duration_in_sec: Some(18.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-default"),
            customer_id: some("cust-1"),
            outcome: Outcome::Abandoned,
            quick_drop: Some(false),
            ..row(t, "d-5", 105, "2026-03-02T09:40:00.000Z")
        },
        // Exactly the default 5 s is a quick drop (≤).
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:50:10.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:50:15.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(5.0),
            session_duration_in_sec: Some(15.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-default"),
            customer_id: some("cust-1"),
            outcome: Outcome::Abandoned,
            quick_drop: Some(true),
            ..row(t, "d-6", 106, "2026-03-02T09:50:00.000Z")
        },
        // 15 s > q-sla-only's own 10 s (the default 20 s would have said true).
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T10:00:10.000Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T10:00:25.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T10:01:25.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(15.0),
            initial_talk_duration_in_sec: Some(60.0),
            session_duration_in_sec: Some(85.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-sla-only"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            in_sla: Some(false),
            ..row(t, "d-7", 107, "2026-03-02T10:00:00.000Z")
        },
        // q-sla-only has no quick-drop threshold of its own: 7 s > the default 5 s.
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T10:10:10.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T10:10:17.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(7.0),
            session_duration_in_sec: Some(17.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-sla-only"),
            customer_id: some("cust-1"),
            outcome: Outcome::Abandoned,
            quick_drop: Some(false),
            ..row(t, "d-8", 108, "2026-03-02T10:10:00.000Z")
        },
        // IvrDrop, never queued: IVR time runs to the end; no queue, talk, inSla or quickDrop.
        dialogue::Model {
            end_timestamp_ms: Some(utc("2026-03-02T10:20:42.500Z")),
            ivr_duration_in_sec: Some(42.5),
            session_duration_in_sec: Some(42.5),
            ivr_id: some("ivr-main"),
            customer_id: some("cust-1"),
            outcome: Outcome::IvrDrop,
            ..row(t, "d-9", 109, "2026-03-02T10:20:00.000Z")
        },
        // Outbound without IVR or queue: no IVR or queue time, no inSla.
        dialogue::Model {
            accept_timestamp_ms: Some(utc("2026-03-02T10:30:00.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T10:34:00.000Z")),
            initial_talk_duration_in_sec: Some(240.0),
            session_duration_in_sec: Some(240.0),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            direction: Direction::Outbound,
            ..row(t, "d-10", 110, "2026-03-02T10:30:00.000Z")
        },
        // Started 2026-03-03T00:30+02:00: startDate is the UTC date of startTimestamp.
        dialogue::Model {
            start_date: day("2026-03-02"),
            end_timestamp_ms: Some(utc("2026-03-02T22:30:05.000Z")),
            ivr_duration_in_sec: Some(5.0),
            session_duration_in_sec: Some(5.0),
            ivr_id: some("ivr-main"),
            customer_id: some("cust-1"),
            outcome: Outcome::IvrDrop,
            ..row(t, "d-11", 111, "2026-03-02T22:30:00.000Z")
        },
        // A queue first named here (a stub) has no thresholds: 6 s > the default 5 s.
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T10:40:10.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T10:40:16.000Z")),
            ivr_duration_in_sec: Some(10.0),
            queue_duration_in_sec: Some(6.0),
            session_duration_in_sec: Some(16.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-unknown"),
            customer_id: some("cust-1"),
            outcome: Outcome::Abandoned,
            quick_drop: Some(false),
            ..row(t, "d-12", 112, "2026-03-02T10:40:00.000Z")
        },
    ]
}

/// `formats.{ndjson,json,csv}`: the same four records; the nulls are derived.
fn expected_formats(t: i32) -> Vec<dialogue::Model> {
    vec![
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:00:30.000Z")),
            accept_timestamp_ms: Some(utc("2026-03-02T09:00:45.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:05:45.000Z")),
            ivr_duration_in_sec: Some(30.0),
            queue_duration_in_sec: Some(15.0),
            initial_talk_duration_in_sec: Some(300.0),
            session_duration_in_sec: Some(345.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-own"),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            in_sla: Some(true),
            ..row(t, "f-1", 1, "2026-03-02T09:00:00.000Z")
        },
        dialogue::Model {
            queue_enter_timestamp_ms: Some(utc("2026-03-02T09:10:20.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:10:24.000Z")),
            ivr_duration_in_sec: Some(20.0),
            queue_duration_in_sec: Some(4.0),
            session_duration_in_sec: Some(24.0),
            ivr_id: some("ivr-main"),
            queue_id: some("q-default"),
            customer_id: some("cust-2"),
            outcome: Outcome::Abandoned,
            quick_drop: Some(true),
            ..row(t, "f-2", 2, "2026-03-02T09:10:00.000Z")
        },
        dialogue::Model {
            end_timestamp_ms: Some(utc("2026-03-02T09:20:30.500Z")),
            ivr_duration_in_sec: Some(30.0),
            session_duration_in_sec: Some(30.0),
            ivr_id: some("ivr-main"),
            customer_id: some("cust-3"),
            outcome: Outcome::IvrDrop,
            ..row(t, "f-3", 3, "2026-03-02T09:20:00.500Z")
        },
        dialogue::Model {
            accept_timestamp_ms: Some(utc("2026-03-02T09:30:00.000Z")),
            end_timestamp_ms: Some(utc("2026-03-02T09:31:00.000Z")),
            initial_talk_duration_in_sec: Some(60.0),
            session_duration_in_sec: Some(60.0),
            customer_id: some("cust-1"),
            agent_id: some("agent-1"),
            direction: Direction::Outbound,
            ..row(t, "f-4", 4, "2026-03-02T09:30:00.000Z")
        },
    ]
}

// ---- rows land field for field --------------------------------------------------------------

#[tokio::test]
async fn endpoints_land_field_for_field() {
    for t in common::databases().await {
        let summary = import(&t.db, Kind::Endpoints, &common::fixture("endpoints.ndjson")).await;
        assert_eq!(
            summary,
            ImportSummary {
                records: 6,
                inserted: 6,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        let tenant = tenant_id(&t.db, TENANT).await;
        assert_endpoints(
            t.kind,
            endpoints_of(&t.db, TENANT).await,
            expected_endpoints(tenant),
        );
    }
}

#[tokio::test]
async fn vendor_shaped_dialogues_land_field_for_field() {
    for t in common::databases().await {
        let summary = import(
            &t.db,
            Kind::Dialogues,
            &common::fixture("vendor_shapes.ndjson"),
        )
        .await;
        assert_eq!(
            summary,
            ImportSummary {
                records: 6,
                inserted: 6,
                endpoints_created: 5,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        let tenant = tenant_id(&t.db, TENANT).await;
        assert_dialogues(
            t.kind,
            dialogues_of(&t.db, TENANT).await,
            expected_vendor_shapes(tenant),
        );
    }
}

// ---- derivations (API.md §1) ----------------------------------------------------------------

/// Imports `endpoints.ndjson` then `derivations.ndjson`; returns the tenant id.
async fn import_derivations(db: &DatabaseConnection) -> i32 {
    import(db, Kind::Endpoints, &common::fixture("endpoints.ndjson")).await;
    let summary = import(db, Kind::Dialogues, &common::fixture("derivations.ndjson")).await;
    assert_eq!(
        summary,
        ImportSummary {
            records: 12,
            inserted: 12,
            endpoints_created: 1, // q-unknown
            ..counts(&summary)
        }
    );
    tenant_id(db, TENANT).await
}

#[tokio::test]
async fn left_out_durations_are_derived() {
    let ids = ["d-1", "d-4", "d-9", "d-10"];
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        assert_dialogues(
            t.kind,
            only(dialogues_of(&t.db, TENANT).await, &ids),
            only(expected_derivations(tenant), &ids),
        );
    }
}

#[tokio::test]
async fn in_sla_uses_the_queue_threshold_else_the_tenant_default() {
    let ids = ["d-1", "d-2", "d-3", "d-7"];
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        assert_dialogues(
            t.kind,
            only(dialogues_of(&t.db, TENANT).await, &ids),
            only(expected_derivations(tenant), &ids),
        );
    }
}

#[tokio::test]
async fn quick_drop_uses_the_queue_threshold_else_the_tenant_default() {
    let ids = ["d-4", "d-5", "d-6", "d-8", "d-12"];
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        assert_dialogues(
            t.kind,
            only(dialogues_of(&t.db, TENANT).await, &ids),
            only(expected_derivations(tenant), &ids),
        );
    }
}

#[tokio::test]
async fn start_date_is_derived_from_start_timestamp_when_absent() {
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        assert_dialogues(
            t.kind,
            only(dialogues_of(&t.db, TENANT).await, &["d-11"]),
            only(expected_derivations(tenant), &["d-11"]),
        );
    }
}

#[tokio::test]
async fn the_tenant_default_thresholds_are_configurable() {
    for t in common::databases().await {
        insights_core::tenant::set_thresholds(&t.db, TENANT, Some(40.0), Some(1.0))
            .await
            .expect("set thresholds");
        let tenant = import_derivations(&t.db).await;
        let ids = ["d-2", "d-6"];
        let expected = expected_derivations(tenant)
            .into_iter()
            .filter(|d| ids.contains(&d.id.as_str()))
            .map(|d| match d.id.as_str() {
                // 25 s ≤ 40 s.
                "d-2" => dialogue::Model {
                    in_sla: Some(true),
                    ..d
                },
                // 5 s > 1 s.
                _ => dialogue::Model {
                    quick_drop: Some(false),
                    ..d
                },
            })
            .collect();
        assert_dialogues(
            t.kind,
            only(dialogues_of(&t.db, TENANT).await, &ids),
            expected,
        );
    }
}

#[tokio::test]
async fn given_values_are_kept_as_given() {
    for t in common::databases().await {
        import(&t.db, Kind::Endpoints, &common::fixture("endpoints.ndjson")).await;
        import(
            &t.db,
            Kind::Dialogues,
            &common::fixture("given_values.ndjson"),
        )
        .await;
        let tenant = tenant_id(&t.db, TENANT).await;
        let expected = vec![
            // Every duration and InSLA given, none of them what the timestamps would give.
            dialogue::Model {
                queue_enter_timestamp_ms: Some(utc("2026-03-02T11:00:10.000Z")),
                accept_timestamp_ms: Some(utc("2026-03-02T11:00:35.000Z")),
                end_timestamp_ms: Some(utc("2026-03-02T11:01:35.000Z")),
                ivr_duration_in_sec: Some(11.0),
                queue_duration_in_sec: Some(26.0),
                initial_talk_duration_in_sec: Some(61.0),
                session_duration_in_sec: Some(101.0),
                ivr_id: some("ivr-main"),
                queue_id: some("q-default"),
                customer_id: some("cust-1"),
                agent_id: some("agent-1"),
                in_sla: Some(true),
                ..row(tenant, "g-1", 201, "2026-03-02T11:00:00.000Z")
            },
            // Only queueDurationInSec given (30 s, timestamps say 10 s): inSla follows the given.
            dialogue::Model {
                queue_enter_timestamp_ms: Some(utc("2026-03-02T11:10:10.000Z")),
                accept_timestamp_ms: Some(utc("2026-03-02T11:10:20.000Z")),
                end_timestamp_ms: Some(utc("2026-03-02T11:11:20.000Z")),
                ivr_duration_in_sec: Some(10.0),
                queue_duration_in_sec: Some(30.0),
                initial_talk_duration_in_sec: Some(60.0),
                session_duration_in_sec: Some(80.0),
                ivr_id: some("ivr-main"),
                queue_id: some("q-default"),
                customer_id: some("cust-1"),
                agent_id: some("agent-1"),
                in_sla: Some(false),
                ..row(tenant, "g-2", 202, "2026-03-02T11:10:00.000Z")
            },
            // QuickDrop "False" given although 2 s ≤ q-own's 10 s.
            dialogue::Model {
                queue_enter_timestamp_ms: Some(utc("2026-03-02T11:20:10.000Z")),
                end_timestamp_ms: Some(utc("2026-03-02T11:20:12.000Z")),
                ivr_duration_in_sec: Some(10.0),
                queue_duration_in_sec: Some(2.0),
                session_duration_in_sec: Some(12.0),
                ivr_id: some("ivr-main"),
                queue_id: some("q-own"),
                customer_id: some("cust-1"),
                outcome: Outcome::Abandoned,
                quick_drop: Some(false),
                ..row(tenant, "g-3", 203, "2026-03-02T11:20:00.000Z")
            },
            // startDate given: kept even though startTimestamp's UTC date differs.
            dialogue::Model {
                start_date: day("2026-03-01"),
                end_timestamp_ms: Some(utc("2026-03-02T11:30:09.000Z")),
                ivr_duration_in_sec: Some(9.0),
                session_duration_in_sec: Some(9.0),
                ivr_id: some("ivr-main"),
                customer_id: some("cust-1"),
                outcome: Outcome::IvrDrop,
                ..row(tenant, "g-4", 204, "2026-03-02T11:30:00.000Z")
            },
        ];
        assert_dialogues(t.kind, dialogues_of(&t.db, TENANT).await, expected);
    }
}

/// Moves q-own's thresholds and the tenant defaults so that five of the derived inSla and
/// quickDrop values of `derivations.ndjson` (d-1, d-3, d-5, d-8, d-12) would come out
/// differently if they were derived again.
async fn change_every_threshold(db: &DatabaseConnection, dir: &Path) {
    insights_core::tenant::set_thresholds(db, TENANT, Some(1.0), Some(60.0))
        .await
        .expect("set thresholds");
    let changed = changed_fixture(
        dir,
        "endpoints.ndjson",
        r#""slaThresholdInSec": 30, "quickDropThresholdInSec": 10"#,
        r#""slaThresholdInSec": 1, "quickDropThresholdInSec": 60"#,
    );
    import(db, Kind::Endpoints, &changed).await;
}

#[tokio::test]
async fn a_later_threshold_change_leaves_stored_in_sla_and_quick_drop_alone() {
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        let dir = tempdir();
        change_every_threshold(&t.db, dir.path()).await;
        assert_dialogues(
            t.kind,
            dialogues_of(&t.db, TENANT).await,
            expected_derivations(tenant),
        );
    }
}

#[tokio::test]
async fn reimporting_after_a_threshold_change_changes_nothing() {
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        let dir = tempdir();
        change_every_threshold(&t.db, dir.path()).await;
        let again = import(
            &t.db,
            Kind::Dialogues,
            &common::fixture("derivations.ndjson"),
        )
        .await;
        assert_eq!(
            again,
            ImportSummary {
                records: 12,
                unchanged: 12,
                ..counts(&again)
            },
            "{}",
            t.kind
        );
        assert_dialogues(
            t.kind,
            dialogues_of(&t.db, TENANT).await,
            expected_derivations(tenant),
        );
    }
}

#[tokio::test]
async fn a_given_in_sla_still_replaces_the_stored_one() {
    for t in common::databases().await {
        let tenant = import_derivations(&t.db).await;
        let dir = tempdir();
        let changed = changed_fixture(
            dir.path(),
            "derivations.ndjson",
            r#""Outcome": "Accepted", "orderNumber": 102"#,
            r#""Outcome": "Accepted", "InSLA": "True", "orderNumber": 102"#,
        );
        let summary = import(&t.db, Kind::Dialogues, &changed).await;
        assert_eq!(
            summary,
            ImportSummary {
                records: 12,
                updated: 1,
                unchanged: 11,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        let expected = expected_derivations(tenant)
            .into_iter()
            .map(|d| match d.id.as_str() {
                "d-2" => dialogue::Model {
                    in_sla: Some(true),
                    ..d
                },
                _ => d,
            })
            .collect();
        assert_dialogues(t.kind, dialogues_of(&t.db, TENANT).await, expected);
    }
}

// ---- endpoint stubs -------------------------------------------------------------------------

#[tokio::test]
async fn unknown_endpoint_ids_become_stubs_with_the_slot_role() {
    for t in common::databases().await {
        import(&t.db, Kind::Endpoints, &common::fixture("endpoints.ndjson")).await;
        let summary = import(&t.db, Kind::Dialogues, &common::fixture("stubs.ndjson")).await;
        assert_eq!(
            summary,
            ImportSummary {
                records: 3,
                inserted: 3,
                endpoints_created: 5,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        let tenant = tenant_id(&t.db, TENANT).await;
        let mut expected = expected_endpoints(tenant);
        expected.extend([
            endpoint_row(tenant, "ivr-new", EndpointRole::Ivr, None),
            endpoint_row(tenant, "q-new", EndpointRole::Queue, None),
            endpoint_row(tenant, "cust-new", EndpointRole::Customer, None),
            endpoint_row(tenant, "agent-new", EndpointRole::Agent, None),
            endpoint_row(tenant, "cust-new-2", EndpointRole::Customer, None),
        ]);
        // The endpoints that were already known (cust-1, agent-1) are left as they were.
        assert_endpoints(t.kind, endpoints_of(&t.db, TENANT).await, expected);
    }
}

#[tokio::test]
async fn a_later_endpoint_import_fills_in_the_stubs() {
    for t in common::databases().await {
        import(&t.db, Kind::Dialogues, &common::fixture("stubs.ndjson")).await;
        let summary = import(
            &t.db,
            Kind::Endpoints,
            &common::fixture("stub_endpoints.ndjson"),
        )
        .await;
        assert_eq!(
            summary,
            ImportSummary {
                records: 3,
                updated: 3,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        // Dialogues naming them again create nothing and do not wipe the names.
        let again = import(&t.db, Kind::Dialogues, &common::fixture("stubs.ndjson")).await;
        assert_eq!(again.endpoints_created, 0, "{}", t.kind);

        let tenant = tenant_id(&t.db, TENANT).await;
        let expected = vec![
            endpoint_row(tenant, "ivr-new", EndpointRole::Ivr, Some("New IVR")),
            endpoint::Model {
                sla_threshold_in_sec: Some(15.0),
                quick_drop_threshold_in_sec: Some(3.0),
                ..endpoint_row(tenant, "q-new", EndpointRole::Queue, Some("New queue"))
            },
            endpoint_row(
                tenant,
                "cust-new",
                EndpointRole::Customer,
                Some("+31200000042"),
            ),
            endpoint_row(tenant, "agent-new", EndpointRole::Agent, None),
            endpoint_row(tenant, "cust-1", EndpointRole::Customer, None),
            endpoint_row(tenant, "cust-new-2", EndpointRole::Customer, None),
            endpoint_row(tenant, "agent-1", EndpointRole::Agent, None),
        ];
        assert_endpoints(t.kind, endpoints_of(&t.db, TENANT).await, expected);
    }
}

// ---- idempotency ----------------------------------------------------------------------------

#[tokio::test]
async fn importing_the_same_files_twice_changes_nothing() {
    let files = [
        (Kind::Endpoints, "endpoints.ndjson", 6),
        (Kind::Dialogues, "vendor_shapes.ndjson", 6),
        (Kind::Dialogues, "derivations.ndjson", 12),
        (Kind::Dialogues, "stubs.ndjson", 3),
    ];
    for t in common::databases().await {
        for (kind, name, _) in files {
            import(&t.db, kind, &common::fixture(name)).await;
        }
        let before = snapshot(&t.db).await;
        for (kind, name, records) in files {
            let again = import(&t.db, kind, &common::fixture(name)).await;
            assert_eq!(
                again,
                ImportSummary {
                    records,
                    unchanged: records,
                    ..counts(&again)
                },
                "{}: {name}",
                t.kind
            );
        }
        assert_eq!(snapshot(&t.db).await, before, "{}", t.kind);
    }
}

#[tokio::test]
async fn a_changed_record_is_updated() {
    for t in common::databases().await {
        import(
            &t.db,
            Kind::Dialogues,
            &common::fixture("vendor_shapes.ndjson"),
        )
        .await;
        let dir = tempdir();
        let changed = changed_fixture(
            dir.path(),
            "vendor_shapes.ndjson",
            r#""sessionDurationInSec": 345.5"#,
            r#""sessionDurationInSec": 346.5"#,
        );
        let summary = import(&t.db, Kind::Dialogues, &changed).await;
        assert_eq!(
            summary,
            ImportSummary {
                records: 6,
                updated: 1,
                unchanged: 5,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        let tenant = tenant_id(&t.db, TENANT).await;
        let expected = expected_vendor_shapes(tenant)
            .into_iter()
            .map(|d| match d.id.as_str() {
                "v-1" => dialogue::Model {
                    session_duration_in_sec: Some(346.5),
                    ..d
                },
                _ => d,
            })
            .collect();
        assert_dialogues(t.kind, dialogues_of(&t.db, TENANT).await, expected);
    }
}

// ---- all-or-nothing -------------------------------------------------------------------------

/// A valid dialogue naming endpoints nobody knows yet (so a leaked stub would show).
fn valid_dialogue_line(n: u32) -> String {
    format!(
        r#"{{"id": "x-{n}", "startTimestamp": "2026-03-02T15:00:00Z", "queueEnterTimestamp": "2026-03-02T15:00:10Z", "acceptTimestamp": "2026-03-02T15:00:20Z", "endTimestamp": "2026-03-02T15:02:00Z", "ivrId": "x-ivr", "queueId": "x-queue", "customerId": "x-cust-{n}", "agentId": "x-agent", "direction": 1, "Outcome": "Accepted", "orderNumber": {}}}"#,
        10_000 + n
    )
}

/// One defect each, in an otherwise valid record; the vendor field name the error must name
/// ("" for none: the record itself could not be read).
const INVALID_DIALOGUES: [(&str, &str, &str); 9] = [
    (
        "bad JSON",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "direction": 1,"#,
        // No field: the record as a whole cannot be read.
        "",
    ),
    (
        "missing id",
        r#"{"startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T15:01:00Z", "direction": 1, "Outcome": "IvrDrop", "orderNumber": 999}"#,
        "id",
    ),
    (
        "missing startTimestamp",
        r#"{"id": "bad", "endTimestamp": "2026-03-02T15:01:00Z", "direction": 1, "Outcome": "IvrDrop", "orderNumber": 999}"#,
        "startTimestamp",
    ),
    (
        "unknown Outcome",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T15:01:00Z", "direction": 1, "Outcome": "Transferred", "orderNumber": 999}"#,
        "Outcome",
    ),
    (
        "unknown Outcome under a lower-case key",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T15:01:00Z", "direction": 1, "outcome": "transferred", "orderNumber": 999}"#,
        "Outcome",
    ),
    (
        "direction 3",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T15:01:00Z", "direction": 3, "Outcome": "IvrDrop", "orderNumber": 999}"#,
        "direction",
    ),
    (
        "direction as an unknown name",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T15:01:00Z", "direction": "Sideways", "Outcome": "IvrDrop", "orderNumber": 999}"#,
        "direction",
    ),
    (
        "end before start",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T14:59:59Z", "direction": 1, "Outcome": "IvrDrop", "orderNumber": 999}"#,
        "endTimestamp",
    ),
    (
        "non-numeric duration",
        r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", "endTimestamp": "2026-03-02T15:01:00Z", "sessionDurationInSec": "long", "direction": 1, "Outcome": "IvrDrop", "orderNumber": 999}"#,
        "sessionDurationInSec",
    ),
];

/// Asserts that `result` rejected `path` at `location` naming `field`.
fn assert_rejected(
    db: &str,
    case: &str,
    result: Result<ImportSummary, ImportError>,
    path: &Path,
    location: Location,
    field: &str,
) {
    match result {
        Err(ImportError::Rejected {
            file,
            location: at,
            error,
        }) => {
            assert_eq!(file, path.display().to_string(), "{db}: {case}");
            assert_eq!(at, location, "{db}: {case}");
            let expected = (!field.is_empty()).then_some(field);
            assert_eq!(error.field, expected, "{db}: {case}: {}", error.reason);
            assert!(!error.reason.is_empty(), "{db}: {case}: a reason");
        }
        other => panic!("{db}: {case}: expected Rejected at {location}, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_dialogue_rejects_the_whole_file() {
    for t in common::databases().await {
        import(&t.db, Kind::Endpoints, &common::fixture("endpoints.ndjson")).await;
        import(
            &t.db,
            Kind::Dialogues,
            &common::fixture("vendor_shapes.ndjson"),
        )
        .await;
        let before = snapshot(&t.db).await;
        let dir = tempdir();
        for (case, bad, field) in INVALID_DIALOGUES {
            let lines = [
                valid_dialogue_line(1),
                valid_dialogue_line(2),
                bad.to_string(),
                valid_dialogue_line(4),
            ];
            let path = write_file(dir.path(), "invalid.ndjson", &lines);
            let result = common::import(&t.db, Kind::Dialogues, &path, TENANT).await;
            assert_rejected(t.kind, case, result, &path, Location::Line(3), field);
            assert_eq!(
                snapshot(&t.db).await,
                before,
                "{}: {case}: nothing written",
                t.kind
            );
        }
    }
}

#[tokio::test]
async fn an_invalid_endpoint_rejects_the_whole_file() {
    for t in common::databases().await {
        import(&t.db, Kind::Endpoints, &common::fixture("endpoints.ndjson")).await;
        let before = snapshot(&t.db).await;
        let dir = tempdir();
        let lines = [
            r#"{"id": "e-1", "Role": "Agent", "name": "Bea"}"#.to_string(),
            r#"{"id": "ivr-main", "Role": "Ivr", "name": "Renamed"}"#.to_string(),
            r#"{"id": "e-3", "Role": "Supervisor", "name": "Nope"}"#.to_string(),
            r#"{"id": "e-4", "Role": "Customer"}"#.to_string(),
        ];
        let path = write_file(dir.path(), "invalid.ndjson", &lines);
        let result = common::import(&t.db, Kind::Endpoints, &path, TENANT).await;
        assert_rejected(
            t.kind,
            "unknown Role",
            result,
            &path,
            Location::Line(3),
            "Role",
        );
        assert_eq!(snapshot(&t.db).await, before, "{}: nothing written", t.kind);
    }
}

#[tokio::test]
async fn an_invalid_record_after_several_batches_writes_nothing() {
    for t in common::databases().await {
        let before = snapshot(&t.db).await;
        let dir = tempdir();
        // Batches hold 1,000 rows: two and a half batches are written before the bad record.
        let mut lines: Vec<String> = (1..=2500).map(valid_dialogue_line).collect();
        lines.push(INVALID_DIALOGUES[3].1.to_string());
        let path = write_file(dir.path(), "late-invalid.ndjson", &lines);
        let result = common::import(&t.db, Kind::Dialogues, &path, TENANT).await;
        assert_rejected(
            t.kind,
            "line 2501",
            result,
            &path,
            Location::Line(2501),
            "Outcome",
        );
        assert_eq!(snapshot(&t.db).await, before, "{}: nothing written", t.kind);
    }
}

// ---- --skip-invalid -------------------------------------------------------------------------

#[tokio::test]
async fn skip_invalid_imports_the_rest_and_writes_the_rejects() {
    let fixture = common::fixture("skip_invalid.ndjson");
    let lines: Vec<String> = std::fs::read_to_string(&fixture)
        .expect("fixture")
        .lines()
        .map(str::to_string)
        .collect();
    for t in common::databases().await {
        let dir = tempdir();
        let rejects_path = dir.path().join("rejects.ndjson");
        let rejects = RejectsFile::create(&rejects_path).expect("rejects file");
        let options = ImportOptions {
            skip_invalid: true,
            rejects: Some(rejects_path.clone()),
            ..ImportOptions::new(TENANT)
        };
        let summary =
            ingest::import_file(&t.db, Kind::Dialogues, &fixture, &options, Some(&rejects))
                .await
                .expect("import with --skip-invalid");
        rejects.flush().expect("flush rejects");
        assert_eq!(
            summary,
            ImportSummary {
                records: 2,
                inserted: 2,
                rejected: 3,
                endpoints_created: 2,
                ..counts(&summary)
            },
            "{}",
            t.kind
        );
        let ids: Vec<String> = dialogues_of(&t.db, TENANT)
            .await
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids, ["k-1", "k-3"], "{}", t.kind);

        let entries: Vec<serde_json::Value> = std::fs::read_to_string(&rejects_path)
            .expect("rejects written")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        let found: Vec<(u64, Option<&str>, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().expect("line"),
                    e["field"].as_str(),
                    e["record"].as_str().expect("record"),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (2, Some("Outcome"), lines[1].as_str()),
                // A line that is not JSON: no field is at fault, the record as a whole is.
                (4, None, lines[3].as_str()),
                (5, Some("id"), lines[4].as_str()),
            ],
            "{}",
            t.kind
        );
        // Each entry says where its record stood: a line (NDJSON has no array elements, so no
        // `element` key), and for the unreadable one neither a field nor a JSON-internal "line 1".
        for entry in &entries {
            let keys: Vec<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(!keys.contains(&"element"), "{}: {entry}", t.kind);
            assert_eq!(
                entry["field"].is_null(),
                entry["line"] == 4,
                "{}: {entry}",
                t.kind
            );
        }
        assert_eq!(
            entries[1]["reason"], "invalid JSON: EOF while parsing a value",
            "{}",
            t.kind
        );
        for entry in &entries {
            assert!(
                entry["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{}: a reason in {entry}",
                t.kind
            );
            assert_eq!(entry["file"], fixture.display().to_string(), "{}", t.kind);
        }
    }
}

// ---- formats --------------------------------------------------------------------------------

#[tokio::test]
async fn every_format_and_its_gzip_give_the_same_rows() {
    let plain = [
        "formats.ndjson",
        "formats.json",
        "formats.csv",
        "formats-ndjson.json", // NDJSON inside a .json file
    ];
    for t in common::databases().await {
        let dir = tempdir();
        let mut files: Vec<PathBuf> = plain.iter().map(|n| common::fixture(n)).collect();
        files.extend(plain.iter().map(|n| gzip(&common::fixture(n), dir.path())));
        for file in &files {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            // Each file into its own tenant, so each one starts from nothing.
            let summary = import_into(&t.db, Kind::Dialogues, file, &name).await;
            assert_eq!(
                summary,
                ImportSummary {
                    records: 4,
                    inserted: 4,
                    endpoints_created: 7,
                    ..counts(&summary)
                },
                "{}: {name}",
                t.kind
            );
            let tenant = tenant_id(&t.db, &name).await;
            assert_dialogues(
                &format!("{} {name}", t.kind),
                dialogues_of(&t.db, &name).await,
                expected_formats(tenant),
            );
        }
    }
}

#[tokio::test]
async fn a_json_array_error_names_the_element() {
    for t in common::databases().await {
        let dir = tempdir();
        let path = dir.path().join("invalid.json");
        std::fs::write(
            &path,
            format!(
                "[\n{},\n{}\n]\n",
                valid_dialogue_line(1),
                INVALID_DIALOGUES[3].1
            ),
        )
        .unwrap();
        let result = common::import(&t.db, Kind::Dialogues, &path, TENANT).await;
        assert_rejected(
            t.kind,
            "JSON array",
            result,
            &path,
            Location::Element(2),
            "Outcome",
        );
        assert_eq!(count(&t.db, "SELECT COUNT(*) AS n FROM dialogues").await, 0);
    }
}

#[tokio::test]
async fn a_csv_error_names_the_line() {
    for t in common::databases().await {
        let dir = tempdir();
        let path = dir.path().join("invalid.csv");
        std::fs::write(
            &path,
            "id,startTimestamp,endTimestamp,direction,Outcome,orderNumber\n\
             c-1,2026-03-02T15:00:00Z,2026-03-02T15:01:00Z,1,IvrDrop,1\n\
             c-2,2026-03-02T15:00:00Z,2026-03-02T15:01:00Z,1,Transferred,2\n",
        )
        .unwrap();
        let result = common::import(&t.db, Kind::Dialogues, &path, TENANT).await;
        assert_rejected(t.kind, "CSV", result, &path, Location::Line(3), "Outcome");
        assert_eq!(count(&t.db, "SELECT COUNT(*) AS n FROM dialogues").await, 0);
    }
}

// ---- tenants --------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_ids_in_two_tenants_stay_apart() {
    for t in common::databases().await {
        let file = common::fixture("formats.ndjson");
        import_into(&t.db, Kind::Dialogues, &file, "acme").await;
        let second = import_into(&t.db, Kind::Dialogues, &file, "globex").await;
        assert_eq!(
            second,
            ImportSummary {
                records: 4,
                inserted: 4,
                endpoints_created: 7,
                ..counts(&second)
            },
            "{}: the same ids are new in another tenant",
            t.kind
        );
        // A change in one tenant stays there.
        let dir = tempdir();
        let changed = changed_fixture(
            dir.path(),
            "formats.ndjson",
            r#""sessionDurationInSec": 345"#,
            r#""sessionDurationInSec": 346"#,
        );
        let update = import_into(&t.db, Kind::Dialogues, &changed, "globex").await;
        assert_eq!(update.updated, 1, "{}", t.kind);

        let (acme, globex) = (
            tenant_id(&t.db, "acme").await,
            tenant_id(&t.db, "globex").await,
        );
        assert_ne!(acme, globex);
        assert_dialogues(
            t.kind,
            dialogues_of(&t.db, "acme").await,
            expected_formats(acme),
        );
        let globex_expected = expected_formats(globex)
            .into_iter()
            .map(|d| match d.id.as_str() {
                "f-1" => dialogue::Model {
                    session_duration_in_sec: Some(346.0),
                    ..d
                },
                _ => d,
            })
            .collect();
        assert_dialogues(t.kind, dialogues_of(&t.db, "globex").await, globex_expected);
        assert_eq!(endpoints_of(&t.db, "acme").await.len(), 7, "{}", t.kind);
        assert_eq!(endpoints_of(&t.db, "globex").await.len(), 7, "{}", t.kind);
    }
}

// ---- orderNumber is unique within a tenant ---------------------------------------------------

#[tokio::test]
async fn an_order_number_used_twice_in_a_file_is_a_conflict() {
    for t in common::databases().await {
        import(&t.db, Kind::Dialogues, &common::fixture("formats.ndjson")).await;
        let before = snapshot(&t.db).await;
        let path = common::fixture("order_collision.ndjson");
        let result = common::import(&t.db, Kind::Dialogues, &path, TENANT).await;
        assert!(
            matches!(&result, Err(ImportError::Conflict { file, .. }) if *file == path.display().to_string()),
            "{}: {result:?}",
            t.kind
        );
        assert_eq!(snapshot(&t.db).await, before, "{}: nothing written", t.kind);
    }
}

#[tokio::test]
async fn an_order_number_taken_by_another_id_is_a_conflict() {
    for t in common::databases().await {
        import(&t.db, Kind::Dialogues, &common::fixture("formats.ndjson")).await;
        let before = snapshot(&t.db).await;
        let path = common::fixture("order_taken.ndjson");
        let result = common::import(&t.db, Kind::Dialogues, &path, TENANT).await;
        assert!(
            matches!(&result, Err(ImportError::Conflict { file, .. }) if *file == path.display().to_string()),
            "{}: {result:?}",
            t.kind
        );
        assert_eq!(snapshot(&t.db).await, before, "{}: nothing written", t.kind);
    }
}

// ---- migrations -----------------------------------------------------------------------------

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    for t in common::databases().await {
        let all = Migrator::migrations().len();
        assert_eq!(
            Migrator::get_pending_migrations(&t.db).await.unwrap().len(),
            0
        );
        Migrator::down(&t.db, None).await.expect("down");
        assert_eq!(
            Migrator::get_pending_migrations(&t.db).await.unwrap().len(),
            all,
            "{}",
            t.kind
        );
        assert!(
            dialogue::Entity::find().all(&t.db).await.is_err(),
            "{}: the tables are gone",
            t.kind
        );
        Migrator::up(&t.db, None).await.expect("up again");
        assert_eq!(
            Migrator::get_pending_migrations(&t.db).await.unwrap().len(),
            0
        );
        let summary = import(&t.db, Kind::Dialogues, &common::fixture("formats.ndjson")).await;
        assert_eq!(summary.inserted, 4, "{}", t.kind);
    }
}

/// The tenant of dialogues and endpoints is checked (a foreign key on SQLite, a check a
/// statement on PostgreSQL since m0006): a row naming no tenant is refused, and a tenant that
/// has rows can be neither deleted nor renumbered; a statement that fails writes nothing.
#[tokio::test]
async fn rows_name_a_tenant_that_exists_and_keep_it() {
    for t in common::databases().await {
        let summary = import(&t.db, Kind::Dialogues, &common::fixture("formats.ndjson")).await;
        assert_eq!(summary.inserted, 4, "{}", t.kind);
        let tenant = tenant_id(&t.db, TENANT).await;
        let backend = t.db.get_database_backend();
        let run = |sql: String| {
            let db = t.db.clone();
            async move { db.execute_raw(Statement::from_string(backend, sql)).await }
        };
        let count = |table: &'static str| {
            let db = t.db.clone();
            async move {
                db.query_one_raw(Statement::from_string(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .expect("count")
                .expect("a row")
                .try_get::<i64>("", "n")
                .expect("n")
            }
        };
        let (dialogues, endpoints) = (count("dialogues").await, count("endpoints").await);
        let unknown = tenant + 1000;
        for sql in [
            format!(
                "INSERT INTO endpoints (tenant_id, id, role) VALUES ({tenant}, 'fine', 1), ({unknown}, 'orphan', 1)"
            ),
            format!(
                "INSERT INTO dialogues (tenant_id, id, order_number, start_date, start_timestamp_ms, direction, outcome) \
                 VALUES ({unknown}, 'orphan', 999, '2026-03-01', 1772323200000, 1, 1)"
            ),
            format!("UPDATE endpoints SET tenant_id = {unknown} WHERE tenant_id = {tenant}"),
            format!("DELETE FROM tenants WHERE id = {tenant}"),
            format!("UPDATE tenants SET id = {unknown} WHERE id = {tenant}"),
        ] {
            assert!(run(sql.clone()).await.is_err(), "{}: {sql} was accepted", t.kind);
        }
        assert_eq!(count("dialogues").await, dialogues, "{}", t.kind);
        assert_eq!(count("endpoints").await, endpoints, "{}", t.kind);
        assert_eq!(tenant_id(&t.db, TENANT).await, tenant, "{}", t.kind);
        // A tenant without rows can still go.
        run("INSERT INTO tenants (name, sla_threshold_in_sec, quick_drop_threshold_in_sec) VALUES ('empty', 20, 5)".into())
            .await
            .expect("a tenant");
        let empty = tenant_id(&t.db, "empty").await;
        run(format!("DELETE FROM tenants WHERE id = {empty}"))
            .await
            .expect("an empty tenant is deleted");
    }
}

// ---- the real command line ------------------------------------------------------------------

fn insights(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_insights"));
    command
        .arg("--database-url")
        .arg(database_url)
        .env_remove("INSIGHTS_TENANT")
        .env("INSIGHTS_LOG", "warn");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run insights");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output, stdout, stderr)
}

#[tokio::test]
async fn cli_import_succeeds_and_prints_a_summary() {
    for t in common::databases().await {
        let file = common::fixture("formats.ndjson");
        let (output, stdout, stderr) = run(insights(&t.url)
            .args(["import", "dialogues", "--quiet"])
            .arg(&file));
        assert!(output.status.success(), "{}: {stderr}", t.kind);
        assert!(
            stdout.contains(&file.display().to_string()) && stdout.contains("4 inserted"),
            "{}: {stdout}",
            t.kind
        );
        let tenant = tenant_id(&t.db, TENANT).await;
        assert_dialogues(
            t.kind,
            dialogues_of(&t.db, TENANT).await,
            expected_formats(tenant),
        );
    }
}

#[tokio::test]
async fn cli_import_failure_names_file_line_and_field() {
    for t in common::databases().await {
        let dir = tempdir();
        let lines = [
            valid_dialogue_line(1),
            valid_dialogue_line(2),
            INVALID_DIALOGUES[3].1.to_string(),
        ];
        let path = write_file(dir.path(), "bad.ndjson", &lines);
        let (output, _, stderr) = run(insights(&t.url)
            .args(["import", "dialogues", "--quiet"])
            .arg(&path));
        assert!(
            !output.status.success(),
            "{}: exit {}",
            t.kind,
            output.status
        );
        for needle in [
            path.display().to_string(),
            "line 3".into(),
            "`Outcome`".into(),
        ] {
            assert!(
                stderr.contains(&needle),
                "{}: `{needle}` in {stderr}",
                t.kind
            );
        }
        assert_eq!(count(&t.db, "SELECT COUNT(*) AS n FROM dialogues").await, 0);
        assert_eq!(count(&t.db, "SELECT COUNT(*) AS n FROM endpoints").await, 0);
    }
}

#[tokio::test]
async fn cli_skip_invalid_writes_the_rejects_file() {
    for t in common::databases().await {
        let dir = tempdir();
        let rejects = dir.path().join("rejects.ndjson");
        let (output, stdout, stderr) = run(insights(&t.url)
            .args([
                "import",
                "dialogues",
                "--quiet",
                "--skip-invalid",
                "--rejects",
            ])
            .arg(&rejects)
            .arg(common::fixture("skip_invalid.ndjson")));
        assert!(output.status.success(), "{}: {stderr}", t.kind);
        assert!(
            stdout.contains("2 inserted") && stdout.contains("3 rejected"),
            "{}: {stdout}",
            t.kind
        );
        let fields: Vec<String> = std::fs::read_to_string(&rejects)
            .expect("rejects file")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["field"].to_string())
            .collect();
        assert_eq!(fields, [r#""Outcome""#, "null", r#""id""#], "{}", t.kind);
    }
}

// ---- an interrupted import ------------------------------------------------------------------

const LARGE: u64 = 200_000;

/// Writes `LARGE` demo dialogues in the vendor's shape, one a line.
fn write_large_file(dir: &Path) -> PathBuf {
    let path = dir.join("large.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("large file"));
    let mut options = insights_core::demo::DemoOptions::new(LARGE);
    options.until = day("2026-04-01");
    let mut written = 0u64;
    insights_core::demo::dialogues(&options, 0, |d| {
        writeln!(out, "{}", insights_core::demo::dialogue_to_vendor_json(&d)).expect("write line");
        written += 1;
        true
    });
    out.flush().expect("flush large file");
    assert_eq!(written, LARGE);
    path
}

#[tokio::test]
async fn an_interrupted_import_writes_nothing_and_a_rerun_completes() {
    let dir = tempdir();
    let file = write_large_file(dir.path());
    for t in common::databases().await {
        let rows = "SELECT COUNT(*) AS n FROM dialogues";
        for after in [Duration::from_millis(300), Duration::from_secs(3)] {
            let mut child = insights(&t.url)
                .args(["import", "dialogues", "--quiet"])
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn insights");
            tokio::time::sleep(after).await;
            assert!(
                child.try_wait().expect("child status").is_none(),
                "{}: the import was still running after {after:?}",
                t.kind
            );
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            let n = count(&t.db, rows).await;
            assert!(
                n == 0 || n == LARGE as i64,
                "{}: killed after {after:?}, {n} rows are visible",
                t.kind
            );
        }
        let (output, stdout, stderr) = run(insights(&t.url)
            .args(["import", "dialogues", "--quiet"])
            .arg(&file));
        assert!(output.status.success(), "{}: {stderr}", t.kind);
        assert!(
            stdout.contains(&format!("{LARGE} inserted")),
            "{}: {stdout}",
            t.kind
        );
        assert_eq!(count(&t.db, rows).await, LARGE as i64, "{}", t.kind);
        assert_eq!(
            count(&t.db, "SELECT COUNT(DISTINCT id) AS n FROM dialogues").await,
            LARGE as i64,
            "{}: no duplicate ids",
            t.kind
        );
        assert_eq!(
            count(
                &t.db,
                "SELECT COUNT(DISTINCT order_number) AS n FROM dialogues"
            )
            .await,
            LARGE as i64,
            "{}: no duplicate order numbers",
            t.kind
        );
    }
}

// ---- messages (issue 11) --------------------------------------------------------------------

#[tokio::test]
async fn a_bad_json_line_is_named_by_its_line_and_column_without_a_field() {
    for t in common::databases().await {
        let dir = tempdir();
        let bad = r#"{"id": "bad", "startTimestamp": "2026-03-02T15:00:00Z", 5: "x"}"#;
        let column = bad.find(", 5:").unwrap() + 3;
        let lines = [
            valid_dialogue_line(1),
            valid_dialogue_line(2),
            bad.to_string(),
        ];
        let path = write_file(dir.path(), "bad-json.ndjson", &lines);
        let error = common::import(&t.db, Kind::Dialogues, &path, TENANT)
            .await
            .expect_err("a bad JSON line rejects the file");
        assert_eq!(
            error.to_string(),
            format!(
                "{} line 3, column {column}: invalid JSON: key must be a string; nothing was imported from this file",
                path.display()
            ),
            "{}",
            t.kind
        );
        // The same through the command line.
        let (output, _, stderr) = run(insights(&t.url)
            .args(["import", "dialogues", "--quiet"])
            .arg(&path));
        assert!(!output.status.success(), "{}", t.kind);
        assert!(
            stderr.contains(&format!(
                "line 3, column {column}: invalid JSON: key must be a string"
            )) && !stderr.contains("field `record`")
                && !stderr.contains("line 1"),
            "{}: {stderr}",
            t.kind
        );
    }
}

#[tokio::test]
async fn a_bad_element_of_a_json_array_is_named_by_its_element_in_the_rejects_file() {
    for t in common::databases().await {
        let dir = tempdir();
        let path = dir.path().join("array.json");
        std::fs::write(
            &path,
            format!("[{},\n {{\"id\": [1, 2]}}]", valid_dialogue_line(1)),
        )
        .unwrap();
        let rejects_path = dir.path().join("rejects.ndjson");
        let rejects = RejectsFile::create(&rejects_path).unwrap();
        let options = ImportOptions {
            skip_invalid: true,
            rejects: Some(rejects_path.clone()),
            ..ImportOptions::new(TENANT)
        };
        let summary = ingest::import_file(&t.db, Kind::Dialogues, &path, &options, Some(&rejects))
            .await
            .expect("import");
        rejects.flush().unwrap();
        assert_eq!((summary.inserted, summary.rejected), (1, 1), "{}", t.kind);
        let entry: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&rejects_path).unwrap().trim()).unwrap();
        assert_eq!(entry["element"], 2, "{}: {entry}", t.kind);
        assert!(entry.get("line").is_none(), "{}: {entry}", t.kind);
        assert!(entry["field"].is_null(), "{}: {entry}", t.kind);
        assert_eq!(
            entry["reason"], "invalid record: a field value must be a scalar, not an array",
            "{}",
            t.kind
        );
    }
}

#[test]
fn the_summary_counts_in_the_singular_for_one() {
    let one = ImportSummary {
        file: "one.ndjson".into(),
        records: 1,
        inserted: 1,
        endpoints_created: 1,
        ..ImportSummary::default()
    };
    let text = one.to_string();
    assert!(
        text.starts_with("one.ndjson: 1 record: 1 inserted, 0 updated, 0 unchanged, 0 rejected; 1 endpoint stub created in "),
        "{text}"
    );
    let two = ImportSummary {
        records: 2,
        endpoints_created: 2,
        ..one
    };
    let text = two.to_string();
    assert!(
        text.contains(": 2 records: ") && text.contains("2 endpoint stubs created"),
        "{text}"
    );
}

#[tokio::test]
async fn a_rejected_import_leaves_no_new_tenant_behind() {
    for t in common::databases().await {
        let dir = tempdir();
        let lines = [valid_dialogue_line(1), INVALID_DIALOGUES[3].1.to_string()];
        let path = write_file(dir.path(), "rejected.ndjson", &lines);
        let result = common::import(&t.db, Kind::Dialogues, &path, "newcomer").await;
        assert!(
            matches!(result, Err(ImportError::Rejected { .. })),
            "{}",
            t.kind
        );
        assert!(
            insights_core::tenant::find(&t.db, "newcomer")
                .await
                .unwrap()
                .is_none(),
            "{}: the rejected file created its tenant",
            t.kind
        );
        // The same file, valid, creates it.
        let path = write_file(dir.path(), "valid.ndjson", &lines[..1]);
        common::import(&t.db, Kind::Dialogues, &path, "newcomer")
            .await
            .expect("valid import");
        assert!(
            insights_core::tenant::find(&t.db, "newcomer")
                .await
                .unwrap()
                .is_some(),
            "{}",
            t.kind
        );
    }
}
