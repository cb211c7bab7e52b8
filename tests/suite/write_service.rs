//! The core's write service called directly, as any door calls it (no GraphQL): a call's
//! records validated by the importer's rules, written atomically, announced at commit, and
//! refused with the record's index and field.
use entity::dialogue;
use insights_core::ingest::record::{Cells, CellsSeed, DialogueKind, EndpointKind, RecordKind};
use insights_core::ingest::write::{Refusal, Writer, MAX_RECORDS_PER_CALL};
use insights_core::live::Announcer;
use insights_core::tenant;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::de::DeserializeSeed;
use serde_json::{json, Value};

use crate::common;

fn cells(fields: &'static [&'static str], record: Value) -> Cells {
    CellsSeed(fields)
        .deserialize(record)
        .expect("a JSON object")
}

fn dialogue_record(id: &str, order: i64, outcome: &str) -> Cells {
    cells(
        DialogueKind::FIELDS,
        json!({
            "id": id, "orderNumber": order, "direction": 1, "Outcome": outcome,
            "startTimestamp": "2026-03-02T09:00:00Z", "queueEnterTimestamp": "2026-03-02T09:00:30Z",
            "acceptTimestamp": "2026-03-02T09:00:42Z", "endTimestamp": "2026-03-02T09:05:00Z",
            "queueId": "q-1", "agentId": "a-1",
        }),
    )
}

async fn stored(db: &DatabaseConnection, tenant_id: i32) -> u64 {
    dialogue::Entity::find()
        .filter(dialogue::Column::TenantId.eq(tenant_id))
        .count(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_call_is_written_once_announced_and_replayed_as_unchanged() {
    for t in common::databases().await {
        let tenant = tenant::ensure(&t.db, "writer").await.unwrap();
        let announcer = Announcer::default();
        let mut heard = announcer.subscribe();
        let writer = Writer::new(t.db.clone(), tenant.id, announcer);
        let call = || {
            vec![
                dialogue_record("d-1", 1, "Accepted"),
                dialogue_record("d-2", 2, "Accepted"),
            ]
        };
        let applied = writer.ingest_dialogues(call()).await.unwrap();
        assert_eq!((applied.inserted, applied.updated), (2, 0), "{}", t.kind);
        assert_eq!(stored(&t.db, tenant.id).await, 2, "{}", t.kind);
        // Both endpoints the dialogues name exist now, as stubs.
        let endpoints = entity::endpoint::Entity::find()
            .filter(entity::endpoint::Column::TenantId.eq(tenant.id))
            .count(&t.db)
            .await
            .unwrap();
        assert_eq!(endpoints, 2, "{}", t.kind);
        if t.kind == "sqlite" {
            // SQLite has no NOTIFY: the writer hands the commit to this process's announcer.
            let heard = heard.try_recv().expect("the commit was announced");
            let insights_core::live::Announcement::Committed(event) = heard.as_ref() else {
                panic!("not a commit: {heard:?}");
            };
            assert_eq!(event.tenant_id, tenant.id);
            assert_eq!(event.ids, ["d-1", "d-2"]);
        }
        let replay = writer.ingest_dialogues(call()).await.unwrap();
        assert_eq!((replay.inserted, replay.updated), (0, 0), "{}", t.kind);
        // A replay changes nothing, so nothing is announced.
        assert!(
            heard.try_recv().is_err(),
            "{}: a replay was announced",
            t.kind
        );
    }
}

/// A dialogue of `customer` (an endpoint nobody has described).
fn call_of(id: &str, order: i64, customer: &str) -> Cells {
    cells(
        DialogueKind::FIELDS,
        json!({
            "id": id, "orderNumber": order, "direction": 1, "Outcome": "Accepted",
            "startTimestamp": "2026-03-02T09:00:00Z", "queueEnterTimestamp": "2026-03-02T09:00:30Z",
            "acceptTimestamp": "2026-03-02T09:00:42Z", "endTimestamp": "2026-03-02T09:05:00Z",
            "queueId": "q-1", "agentId": "a-1", "customerId": customer,
        }),
    )
}

async fn endpoints_of(db: &DatabaseConnection, tenant_id: i32) -> Vec<entity::endpoint::Model> {
    entity::endpoint::Entity::find()
        .filter(entity::endpoint::Column::TenantId.eq(tenant_id))
        .order_by_asc(entity::endpoint::Column::Id)
        .all(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_callers_stub_is_created_once_found_by_later_calls_and_filled_by_a_full_upsert() {
    for t in common::databases().await {
        let tenant = tenant::ensure(&t.db, "callers").await.unwrap();
        let writer = Writer::new(t.db.clone(), tenant.id, Announcer::default());
        // First calls of c-1 and c-2 (c-1 twice within the call), with the queue and agent.
        let first = writer
            .ingest_dialogues(vec![
                call_of("d-1", 1, "c-1"),
                call_of("d-2", 2, "c-2"),
                call_of("d-3", 3, "c-1"),
            ])
            .await
            .unwrap();
        assert_eq!(
            (first.inserted, first.endpoints_created),
            (3, 4),
            "{}: c-1, c-2, q-1, a-1",
            t.kind
        );
        let stubs = endpoints_of(&t.db, tenant.id).await;
        let c2 = stubs.iter().find(|e| e.id == "c-2").unwrap().clone();
        assert_eq!(
            (c2.role, c2.name.as_deref()),
            (entity::EndpointRole::Customer, None),
            "{}",
            t.kind
        );
        // c-2 calls again and c-3 for the first time: only c-3 is created.
        let second = writer
            .ingest_dialogues(vec![call_of("d-4", 4, "c-2"), call_of("d-5", 5, "c-3")])
            .await
            .unwrap();
        assert_eq!(
            (second.inserted, second.endpoints_created),
            (2, 1),
            "{}",
            t.kind
        );
        let after = endpoints_of(&t.db, tenant.id).await;
        assert_eq!(
            after.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["a-1", "c-1", "c-2", "c-3", "q-1"],
            "{}",
            t.kind
        );
        // The full record fills c-2's stub; a later call of c-2 leaves it as described.
        let full = cells(
            EndpointKind::FIELDS,
            json!({ "id": "c-2", "Role": "Customer", "name": "Ben Bakker" }),
        );
        let upserted = writer.upsert_endpoints(vec![full]).await.unwrap();
        assert_eq!((upserted.inserted, upserted.updated), (0, 1), "{}", t.kind);
        let third = writer
            .ingest_dialogues(vec![call_of("d-6", 6, "c-2")])
            .await
            .unwrap();
        assert_eq!(
            (third.inserted, third.endpoints_created),
            (1, 0),
            "{}",
            t.kind
        );
        let c2 = endpoints_of(&t.db, tenant.id)
            .await
            .into_iter()
            .find(|e| e.id == "c-2")
            .unwrap();
        assert_eq!(
            (c2.role, c2.name.as_deref()),
            (entity::EndpointRole::Customer, Some("Ben Bakker")),
            "{}",
            t.kind
        );
    }
}

#[tokio::test]
async fn one_bad_record_refuses_the_call_and_writes_nothing() {
    for t in common::databases().await {
        let tenant = tenant::ensure(&t.db, "writer").await.unwrap();
        let writer = Writer::new(t.db.clone(), tenant.id, Announcer::default());
        let refusal = writer
            .ingest_dialogues(vec![
                dialogue_record("d-1", 1, "Accepted"),
                dialogue_record("d-2", 2, "Maybe"),
            ])
            .await
            .unwrap_err();
        match refusal {
            Refusal::Record { index, error } => {
                assert_eq!(index, 1, "{}", t.kind);
                assert_eq!(error.field, Some("Outcome"), "{}", t.kind);
            }
            other => panic!("{}: {other:?}", t.kind),
        }
        assert_eq!(stored(&t.db, tenant.id).await, 0, "{}", t.kind);
    }
}

#[tokio::test]
async fn an_order_number_taken_names_the_record_that_carries_it() {
    for t in common::databases().await {
        let tenant = tenant::ensure(&t.db, "writer").await.unwrap();
        let writer = Writer::new(t.db.clone(), tenant.id, Announcer::default());
        writer
            .ingest_dialogues(vec![dialogue_record("d-1", 7, "Accepted")])
            .await
            .unwrap();
        let refusal = writer
            .ingest_dialogues(vec![
                dialogue_record("d-2", 8, "Accepted"),
                dialogue_record("d-3", 7, "Accepted"),
            ])
            .await
            .unwrap_err();
        match refusal {
            Refusal::Record { index, error } => {
                assert_eq!(index, 1, "{}", t.kind);
                assert_eq!(error.field, Some("orderNumber"), "{}", t.kind);
                assert!(
                    error.reason.contains("`d-1`"),
                    "{}: {}",
                    t.kind,
                    error.reason
                );
            }
            other => panic!("{}: {other:?}", t.kind),
        }
        assert_eq!(stored(&t.db, tenant.id).await, 1, "{}", t.kind);
    }
}

#[tokio::test]
async fn more_records_than_a_call_may_carry_are_refused_before_any_work() {
    let t = common::sqlite().await;
    let tenant = tenant::ensure(&t.db, "writer").await.unwrap();
    let writer = Writer::new(t.db.clone(), tenant.id, Announcer::default());
    let records = (0..=MAX_RECORDS_PER_CALL as i64)
        .map(|i| dialogue_record(&format!("d-{i}"), i, "Accepted"))
        .collect();
    match writer.ingest_dialogues(records).await.unwrap_err() {
        Refusal::TooMany { received } => assert_eq!(received, MAX_RECORDS_PER_CALL + 1),
        other => panic!("{other:?}"),
    }
    let endpoints = vec![cells(
        EndpointKind::FIELDS,
        json!({ "id": "q-1", "Role": "Sideways" }),
    )];
    match writer.upsert_endpoints(endpoints).await.unwrap_err() {
        Refusal::Record { index, error } => {
            assert_eq!(index, 0);
            assert_eq!(error.field, Some("Role"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stored(&t.db, tenant.id).await, 0);
}

/// Whether the planner's statistics of `dialogues` were refreshed by an explicit ANALYZE (on
/// PostgreSQL `last_analyze`, which autovacuum leaves alone; on SQLite a row in sqlite_stat1).
async fn analyzed(db: &DatabaseConnection) -> bool {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_stat_user_tables WHERE relname = 'dialogues' AND last_analyze IS NOT NULL"
        }
        _ => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1' AND EXISTS (SELECT 1 FROM sqlite_master)"
        }
    };
    // PostgreSQL's statistics views trail the commands a little.
    for _ in 0..50 {
        let row = db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() > 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// A bulk write (an import, a demo fill) refreshes the planner's statistics itself, so pages
/// keep their index plans on a server whose autovacuum is slow or off; a small call does not.
#[tokio::test]
async fn a_bulk_write_refreshes_the_planners_statistics() {
    let threshold = insights_core::ingest::write::ANALYZE_AFTER_ROWS;
    for t in common::databases().await {
        // A call of a few records: no ANALYZE.
        let tenant = tenant::ensure(&t.db, "acme").await.unwrap();
        let writer = Writer::new(t.db.clone(), tenant.id, Announcer::default());
        writer
            .ingest_dialogues(vec![dialogue_record("small-1", 1, "Accepted")])
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.kind));
        assert!(
            !analyzed(&t.db).await,
            "{}: analyzed after one record",
            t.kind
        );

        // The demo fill of `serve --demo`.
        insights_core::demo::write_to_db(
            &t.db,
            "demo",
            insights_core::demo::DemoOptions::new(threshold),
        )
        .await
        .unwrap();
        assert!(
            analyzed(&t.db).await,
            "{}: not analyzed after the demo fill",
            t.kind
        );
    }

    // `insights import` of a file over the threshold, into a fresh database.
    let dir = tempfile::tempdir().unwrap();
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["demo", "--dialogues", &threshold.to_string(), "--out-dir"])
        .arg(dir.path())
        .env_remove("INSIGHTS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    for t in common::databases().await {
        for kind in ["endpoints", "dialogues"] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_insights"))
                .args(["--database-url", &t.url, "import", kind])
                .arg(dir.path().join(format!("{kind}.ndjson")))
                .env_remove("INSIGHTS_DATABASE_URL")
                .output()
                .unwrap();
            assert!(out.status.success(), "{}: {out:?}", t.kind);
        }
        assert!(
            analyzed(&t.db).await,
            "{}: not analyzed after the import",
            t.kind
        );
    }
}
