//! The write path (API.md §5): `upsertEndpoints` and `ingestDialogues` through the real schema
//! (and real HTTP where HTTP matters), on SQLite and on PostgreSQL when configured. Counts come
//! from the batch, a call is atomic, what a commit changed is announced (in-process on SQLite,
//! by `NOTIFY` on PostgreSQL, heard here by a `LISTEN` of our own) and nothing else is, and the
//! mutations store exactly what importing the same records from a file stores.
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Server, TestDb};
use entity::{dialogue, endpoint};
use insights::app::config::ServeConfig;
use insights::graphql::{self, ApiLimits, Guards, InsightsSchema};
use insights_core::ingest::Kind;
use insights_core::live::{Announcement, Announcer, DialoguesCommitted, CHANNEL};
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{json, Value};

const INGEST: &str = "mutation($d: [DialogueInput!]!) {
    ingestDialogues(dialogues: $d) { received inserted updated unchanged } }";
const UPSERT: &str = "mutation($e: [EndpointInput!]!) {
    upsertEndpoints(endpoints: $e) { received inserted updated unchanged } }";

// ---- announcements --------------------------------------------------------------------------

/// What commits announce, heard as a subscriber hears it: the announcer's channel on SQLite,
/// `LISTEN` on PostgreSQL (where the announcer of the writing process delivers nothing itself).
enum Events {
    InProcess(tokio::sync::broadcast::Receiver<std::sync::Arc<Announcement>>),
    Listen(sea_orm::sqlx::postgres::PgListener),
}

impl Events {
    async fn new(t: &TestDb, announcer: &Announcer) -> Events {
        if t.kind == "postgres" {
            let mut listener = sea_orm::sqlx::postgres::PgListener::connect(&t.url)
                .await
                .expect("listen connection");
            listener.listen(CHANNEL).await.expect("LISTEN");
            Events::Listen(listener)
        } else {
            Events::InProcess(announcer.subscribe())
        }
    }

    /// The next announcement (a commit's ids; PostgreSQL chunks a big one into several).
    async fn next(&mut self) -> DialoguesCommitted {
        let wait = Duration::from_secs(10);
        match self {
            Events::InProcess(rx) => {
                let heard = tokio::time::timeout(wait, rx.recv())
                    .await
                    .expect("an announcement within 10 s")
                    .expect("announcer open");
                match heard.as_ref() {
                    Announcement::Committed(event) => event.clone(),
                    other => panic!("not a commit: {other:?}"),
                }
            }
            Events::Listen(listener) => {
                let n = tokio::time::timeout(wait, listener.recv())
                    .await
                    .expect("a notification within 10 s")
                    .expect("notification");
                DialoguesCommitted::from_payload(n.payload()).expect("payload")
            }
        }
    }

    /// The ids of the next commit of `tenant_id`, gathered over as many chunks as `n` ids take.
    async fn next_ids(&mut self, tenant_id: i32, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        while ids.len() < n {
            let event = self.next().await;
            assert_eq!(event.tenant_id, tenant_id, "{event:?}");
            ids.extend(event.ids);
        }
        ids
    }
}

// ---- helpers --------------------------------------------------------------------------------

fn schema_with(announcer: &Announcer) -> InsightsSchema {
    graphql::build_schema_with(ApiLimits::default(), Guards::default(), announcer.clone())
}

async fn run(
    schema: &InsightsSchema,
    db: &DatabaseConnection,
    tenant: &str,
    query: &str,
    variables: Value,
) -> Value {
    common::query_with(schema, db, tenant, query, variables).await
}

fn summary(response: &Value, field: &str) -> [i64; 4] {
    let s = &response["data"][field];
    assert!(response.get("errors").is_none(), "{response}");
    ["received", "inserted", "updated", "unchanged"].map(|k| s[k].as_i64().unwrap())
}

/// A valid dialogue in GraphQL input shape, naming endpoints of its own.
fn dialogue_input(n: usize) -> Value {
    common::dialogue_input("m", 50_000, n)
}

async fn dialogues_of(db: &DatabaseConnection, tenant: &str) -> Vec<dialogue::Model> {
    let id = insights_core::tenant::find(db, tenant)
        .await
        .unwrap()
        .unwrap()
        .id;
    dialogue::Entity::find()
        .filter(dialogue::Column::TenantId.eq(id))
        .order_by_asc(dialogue::Column::Id)
        .all(db)
        .await
        .unwrap()
}

async fn endpoints_of(db: &DatabaseConnection, tenant: &str) -> Vec<endpoint::Model> {
    let id = insights_core::tenant::find(db, tenant)
        .await
        .unwrap()
        .unwrap()
        .id;
    endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(id))
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await
        .unwrap()
}

async fn tenant_id(db: &DatabaseConnection, tenant: &str) -> i32 {
    insights_core::tenant::ensure(db, tenant).await.unwrap().id
}

/// Rows of a table, all tenants, as text (to show nothing else changed).
async fn all_rows(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    db.query_all_raw(sea_orm::Statement::from_string(
        backend,
        format!("SELECT * FROM {table} ORDER BY tenant_id, id"),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| format!("{row:?}"))
    .collect()
}

// ---- counts, replay, announcements ----------------------------------------------------------

#[tokio::test]
async fn counts_come_from_the_batch_and_a_replay_changes_and_announces_nothing() {
    for t in common::databases().await {
        let announcer = Announcer::default();
        let schema = schema_with(&announcer);
        let mut events = Events::new(&t, &announcer).await;
        let tenant = tenant_id(&t.db, "a").await;
        // Another tenant's rows must not count: same ids, stored first.
        let other = json!({ "d": (0..3).map(dialogue_input).collect::<Vec<_>>() });
        let r = run(&schema, &t.db, "b", INGEST, other).await;
        assert_eq!(summary(&r, "ingestDialogues"), [3, 3, 0, 0], "{}", t.kind);
        let b = tenant_id(&t.db, "b").await;
        assert_eq!(events.next_ids(b, 3).await, ["m-0", "m-1", "m-2"]);

        let batch: Vec<Value> = (0..3).map(dialogue_input).collect();
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
        assert_eq!(summary(&r, "ingestDialogues"), [3, 3, 0, 0], "{}", t.kind);
        assert_eq!(
            events.next_ids(tenant, 3).await,
            ["m-0", "m-1", "m-2"],
            "{}",
            t.kind
        );

        // A replay: all unchanged, and no announcement (the next one heard is the next write's).
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
        assert_eq!(summary(&r, "ingestDialogues"), [3, 0, 0, 3], "{}", t.kind);

        // One changed, one new, one as stored, and a duplicate id (the later one wins).
        let mut changed = batch.clone();
        changed[1]["endTimestamp"] = json!("2026-03-02T14:05:00Z");
        changed.push(dialogue_input(7));
        let mut again = changed[1].clone();
        again["agentId"] = json!("m-agent-2");
        changed.push(again);
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": changed })).await;
        assert_eq!(summary(&r, "ingestDialogues"), [5, 1, 1, 3], "{}", t.kind);
        assert_eq!(
            events.next_ids(tenant, 2).await,
            ["m-1", "m-7"],
            "{}",
            t.kind
        );
        let stored = dialogues_of(&t.db, "a").await;
        let m1 = stored.iter().find(|d| d.id == "m-1").unwrap();
        assert_eq!(m1.agent_id.as_deref(), Some("m-agent-2"), "{}", t.kind);
        assert_eq!(
            m1.session_duration_in_sec,
            Some(300.0),
            "{}: derived from the new end",
            t.kind
        );
        assert_eq!(stored.len(), 4, "{}", t.kind);
        // Tenant b still has its three, as written.
        assert_eq!(dialogues_of(&t.db, "b").await.len(), 3, "{}", t.kind);

        // Endpoints: the stubs the dialogues created get filled in; a replay is unchanged.
        let endpoints = json!({ "e": [
            { "id": "m-queue", "role": "QUEUE", "name": "Sales", "slaThresholdInSec": 15 },
            { "id": "m-new", "role": "AGENT", "name": "Ada" },
        ] });
        let r = run(&schema, &t.db, "a", UPSERT, endpoints.clone()).await;
        assert_eq!(summary(&r, "upsertEndpoints"), [2, 1, 1, 0], "{}", t.kind);
        let r = run(&schema, &t.db, "a", UPSERT, endpoints).await;
        assert_eq!(summary(&r, "upsertEndpoints"), [2, 0, 0, 2], "{}", t.kind);
        let r = run(&schema, &t.db, "a", UPSERT, json!({ "e": [] })).await;
        assert_eq!(summary(&r, "upsertEndpoints"), [0, 0, 0, 0], "{}", t.kind);
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": [] })).await;
        assert_eq!(summary(&r, "ingestDialogues"), [0, 0, 0, 0], "{}", t.kind);

        // Nothing was announced by the replays, the endpoint calls or the empty calls: the next
        // announcement is this write's.
        let r = run(
            &schema,
            &t.db,
            "a",
            INGEST,
            json!({ "d": [dialogue_input(9)] }),
        )
        .await;
        assert_eq!(summary(&r, "ingestDialogues"), [1, 1, 0, 0], "{}", t.kind);
        assert_eq!(events.next_ids(tenant, 1).await, ["m-9"], "{}", t.kind);
    }
}

// ---- atomicity ------------------------------------------------------------------------------

#[tokio::test]
async fn an_invalid_record_at_index_7_writes_nothing_and_announces_nothing() {
    for t in common::databases().await {
        let announcer = Announcer::default();
        let schema = schema_with(&announcer);
        let mut events = Events::new(&t, &announcer).await;
        let tenant = tenant_id(&t.db, "a").await;
        let before = (
            all_rows(&t.db, "dialogues").await,
            all_rows(&t.db, "endpoints").await,
        );
        let cases = [
            (
                "endTimestamp",
                "2026-03-02T13:59:59Z",
                "endTimestamp",
                "is before startTimestamp",
            ),
            (
                "inSla",
                "true",
                "inSla",
                "must be null unless Outcome is Accepted",
            ),
            ("id", "", "id", "is required"),
            (
                "sessionDurationInSec",
                "-1",
                "sessionDurationInSec",
                "-1 is negative",
            ),
            ("agentId", "long", "agentId", "is longer than 255 bytes"),
            ("id", "nul", "id", "contains a NUL character"),
        ];
        for (key, value, field, reason) in cases {
            let mut batch: Vec<Value> = (0..10).map(dialogue_input).collect();
            batch[7][key] = match (key, value) {
                ("inSla", _) => {
                    batch[7]["outcome"] = json!("ABANDONED");
                    json!(true)
                }
                ("sessionDurationInSec", _) => json!(-1),
                (_, "long") => json!("x".repeat(256)),
                (_, "nul") => json!("m-\u{0}"),
                _ => json!(value),
            };
            let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
            assert!(r["data"].is_null(), "{}: {r}", t.kind);
            let errors = r["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{}: {r}", t.kind);
            let e = &errors[0];
            assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{}: {r}", t.kind);
            assert_eq!(e["extensions"]["index"], 7, "{}: {r}", t.kind);
            assert_eq!(e["extensions"]["field"], field, "{}: {r}", t.kind);
            assert_eq!(
                e["message"],
                format!("dialogues[7].{field}: {reason}"),
                "{}: {r}",
                t.kind
            );
            assert_eq!(e["path"], json!(["ingestDialogues"]), "{}", t.kind);
            assert_eq!(
                (
                    all_rows(&t.db, "dialogues").await,
                    all_rows(&t.db, "endpoints").await
                ),
                before,
                "{}: {key}: nothing written, no endpoint stub either",
                t.kind
            );
        }
        // An endpoint call too.
        let r = run(
            &schema,
            &t.db,
            "a",
            UPSERT,
            json!({ "e": [
                { "id": "e-0", "role": "QUEUE" },
                { "id": "e-1", "role": "AGENT", "slaThresholdInSec": 20 },
            ] }),
        )
        .await;
        let e = &r["errors"][0];
        assert_eq!(
            (
                e["extensions"]["code"].clone(),
                e["extensions"]["index"].clone(),
                e["extensions"]["field"].clone()
            ),
            (
                json!("BAD_USER_INPUT"),
                json!(1),
                json!("slaThresholdInSec")
            ),
            "{}: {r}",
            t.kind
        );
        assert_eq!(
            e["message"],
            "endpoints[1].slaThresholdInSec: only queues have thresholds"
        );
        assert_eq!(all_rows(&t.db, "endpoints").await, before.1, "{}", t.kind);
        // No announcement came of any of it: the next one is this write's.
        let r = run(
            &schema,
            &t.db,
            "a",
            INGEST,
            json!({ "d": [dialogue_input(3)] }),
        )
        .await;
        assert_eq!(summary(&r, "ingestDialogues"), [1, 1, 0, 0], "{}", t.kind);
        assert_eq!(events.next_ids(tenant, 1).await, ["m-3"], "{}", t.kind);
    }
}

#[tokio::test]
async fn an_order_number_taken_by_another_dialogue_names_the_record() {
    for t in common::databases().await {
        let schema = common::schema();
        let r = run(
            &schema,
            &t.db,
            "a",
            INGEST,
            json!({ "d": [dialogue_input(1)] }),
        )
        .await;
        assert_eq!(summary(&r, "ingestDialogues"), [1, 1, 0, 0], "{}", t.kind);
        let before = all_rows(&t.db, "dialogues").await;
        // Index 2 takes m-1's number.
        let mut batch: Vec<Value> = (10..13).map(dialogue_input).collect();
        batch[2]["orderNumber"] = json!(50_001);
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
        let e = &r["errors"][0];
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{}: {r}", t.kind);
        assert_eq!(e["extensions"]["index"], 2, "{}: {r}", t.kind);
        assert_eq!(e["extensions"]["field"], "orderNumber", "{}: {r}", t.kind);
        assert!(
            e["message"].as_str().unwrap().contains("`m-1`"),
            "{}: {r}",
            t.kind
        );
        // Two records of the call with one number: the second is named.
        let mut batch: Vec<Value> = (20..23).map(dialogue_input).collect();
        batch[1]["orderNumber"] = json!(1);
        batch[2]["orderNumber"] = json!(1);
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
        let e = &r["errors"][0];
        assert_eq!(
            (
                e["extensions"]["index"].clone(),
                e["extensions"]["field"].clone()
            ),
            (json!(2), json!("orderNumber")),
            "{}: {r}",
            t.kind
        );
        assert_eq!(all_rows(&t.db, "dialogues").await, before, "{}", t.kind);
    }
}

#[tokio::test]
async fn more_than_1000_records_are_refused_and_1000_are_accepted() {
    for t in common::databases().await {
        let schema = common::schema();
        let batch: Vec<Value> = (0..1001).map(dialogue_input).collect();
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
        assert_eq!(
            common::error_codes(&r),
            ["BAD_USER_INPUT"],
            "{}: {r}",
            t.kind
        );
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("1001 records; at most 1000"),
            "{r}"
        );
        assert_eq!(
            all_rows(&t.db, "dialogues").await,
            Vec::<String>::new(),
            "{}",
            t.kind
        );
        let endpoints: Vec<Value> = (0..1001)
            .map(|i| json!({ "id": format!("e-{i}"), "role": "AGENT" }))
            .collect();
        let r = run(&schema, &t.db, "a", UPSERT, json!({ "e": endpoints })).await;
        assert_eq!(
            common::error_codes(&r),
            ["BAD_USER_INPUT"],
            "{}: {r}",
            t.kind
        );
        assert_eq!(
            all_rows(&t.db, "endpoints").await,
            Vec::<String>::new(),
            "{}",
            t.kind
        );

        let batch: Vec<Value> = (0..1000).map(dialogue_input).collect();
        let r = run(&schema, &t.db, "a", INGEST, json!({ "d": batch })).await;
        assert_eq!(
            summary(&r, "ingestDialogues"),
            [1000, 1000, 0, 0],
            "{}",
            t.kind
        );
        assert_eq!(dialogues_of(&t.db, "a").await.len(), 1000, "{}", t.kind);
    }
}

// ---- the importer's rules, through the same code --------------------------------------------

/// A vendor-shaped record (as in the importer's fixtures) as a GraphQL input object.
fn to_input(vendor: &Value) -> Value {
    const FIELDS: [&str; 24] = [
        "id",
        "orderNumber",
        "startTimestamp",
        "startDate",
        "queueEnterTimestamp",
        "acceptTimestamp",
        "endTimestamp",
        "ivrDurationInSec",
        "queueDurationInSec",
        "initialTalkDurationInSec",
        "sessionDurationInSec",
        "ivrId",
        "queueId",
        "customerId",
        "agentId",
        "direction",
        "outcome",
        "inSla",
        "quickDrop",
        "name",
        "role",
        "slaThresholdInSec",
        "quickDropThresholdInSec",
        "id",
    ];
    let mut out = serde_json::Map::new();
    for (key, value) in vendor.as_object().unwrap() {
        // Vendor names in any case; unknown fields left out (the importer ignores them).
        let Some(name) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(key)) else {
            continue;
        };
        let name = name.to_string();
        let value = match (name.as_str(), value) {
            (_, Value::Null) => continue,
            ("direction", v) => json!(match v
                .to_string()
                .trim_matches('"')
                .to_ascii_lowercase()
                .as_str()
            {
                "1" | "inbound" => "INBOUND",
                _ => "OUTBOUND",
            }),
            ("outcome", Value::String(s)) => json!(match s.to_ascii_lowercase().as_str() {
                "accepted" => "ACCEPTED",
                "abandoned" => "ABANDONED",
                _ => "IVR_DROP",
            }),
            ("role", Value::String(s)) => json!(s.to_ascii_uppercase()),
            ("inSla" | "quickDrop", Value::String(s)) => json!(s.eq_ignore_ascii_case("true")),
            _ => value.clone(),
        };
        out.insert(name, value);
    }
    Value::Object(out)
}

fn fixture_records(name: &str) -> Vec<Value> {
    std::fs::read_to_string(common::fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn without_tenant<T: std::fmt::Debug>(rows: Vec<T>) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let text = format!("{r:?}");
            // `tenant_id: N,` is the only difference allowed.
            let start = text.find("tenant_id: ").unwrap();
            let end = start + text[start..].find(',').unwrap();
            format!("{}{}", &text[..start], &text[end + 1..])
        })
        .collect()
}

#[tokio::test]
async fn mutations_store_what_importing_the_same_records_stores() {
    let dir = tempfile::tempdir().unwrap();
    for t in common::databases().await {
        let schema = common::schema();
        // Step by step: endpoints, dialogues (derived values, stubs), given values, stubs,
        // then a threshold change and a re-ingest of changed records (stored derivations kept
        // where nothing they derive from changed).
        let mut steps: Vec<(Kind, Vec<Value>)> = vec![
            (Kind::Endpoints, fixture_records("endpoints.ndjson")),
            (Kind::Dialogues, fixture_records("derivations.ndjson")),
            (Kind::Dialogues, fixture_records("given_values.ndjson")),
            (Kind::Dialogues, fixture_records("stubs.ndjson")),
            (Kind::Dialogues, fixture_records("vendor_shapes.ndjson")),
        ];
        let mut changed = fixture_records("derivations.ndjson");
        for record in changed.iter_mut() {
            record["customerId"] = json!("cust-changed");
        }
        changed[0]["queueEnterTimestamp"] = json!("2026-03-02T09:00:02Z");
        steps.push((Kind::Dialogues, changed));
        steps.push((Kind::Endpoints, fixture_records("stub_endpoints.ndjson")));

        for (n, (kind, records)) in steps.iter().enumerate() {
            if n == 5 {
                for tenant in ["file", "api"] {
                    insights_core::tenant::set_thresholds(&t.db, tenant, Some(1.0), Some(100.0))
                        .await
                        .unwrap();
                }
            }
            let path = dir.path().join(format!("{}-step{n}.ndjson", t.kind));
            let lines: Vec<String> = records.iter().map(Value::to_string).collect();
            std::fs::write(&path, lines.join("\n")).unwrap();
            let imported = common::import(&t.db, *kind, &path, "file")
                .await
                .unwrap_or_else(|e| panic!("{}: step {n}: {e}", t.kind));
            let inputs: Vec<Value> = records.iter().map(to_input).collect();
            let (query, variables, field) = match kind {
                Kind::Dialogues => (INGEST, json!({ "d": inputs }), "ingestDialogues"),
                Kind::Endpoints => (UPSERT, json!({ "e": inputs }), "upsertEndpoints"),
            };
            let r = run(&schema, &t.db, "api", query, variables).await;
            assert_eq!(
                summary(&r, field),
                [
                    imported.records as i64,
                    imported.inserted as i64,
                    imported.updated as i64,
                    imported.unchanged as i64
                ],
                "{}: step {n}: the same counts",
                t.kind
            );
            assert_eq!(
                without_tenant(dialogues_of(&t.db, "api").await),
                without_tenant(dialogues_of(&t.db, "file").await),
                "{}: step {n}: the same dialogues",
                t.kind
            );
            assert_eq!(
                without_tenant(endpoints_of(&t.db, "api").await),
                without_tenant(endpoints_of(&t.db, "file").await),
                "{}: step {n}: the same endpoints (stubs included)",
                t.kind
            );
        }
        let stored = dialogues_of(&t.db, "api").await;
        assert!(stored.len() >= 20, "{}: {} dialogues", t.kind, stored.len());
        // The comparison above covers the stored-derivation rule for real: d-3 waited 20 s
        // (in SLA at the 20 s default), the default is now 1 s, and its re-ingested record
        // changed only its customer, so its stored inSla stays; d-1's queue entry changed, so
        // its inSla was derived anew (at its queue's own 30 s threshold).
        let d3 = stored.iter().find(|d| d.id == "d-3").unwrap();
        assert_eq!(
            (d3.queue_duration_in_sec, d3.in_sla),
            (Some(20.0), Some(true)),
            "{}",
            t.kind
        );
        assert_eq!(
            d3.customer_id.as_deref(),
            Some("cust-changed"),
            "{}",
            t.kind
        );
        // Likewise quickDrop: d-5 was abandoned after 8 s (not quick at the 5 s default); the
        // default is now 100 s, and its stored quickDrop stays.
        let d5 = stored.iter().find(|d| d.id == "d-5").unwrap();
        assert_eq!(
            (
                d5.queue_duration_in_sec,
                d5.quick_drop,
                d5.customer_id.as_deref()
            ),
            (Some(8.0), Some(false), Some("cust-changed")),
            "{}",
            t.kind
        );
    }
}

// ---- over HTTP: scopes, tenants -------------------------------------------------------------

#[tokio::test]
async fn a_read_key_is_forbidden_to_write_and_an_ingest_key_writes_its_own_tenant_only() {
    for t in common::databases().await {
        // Tenant b holds the same ids first; a's writes must leave every row of b alone.
        for (kind, file) in [
            (Kind::Endpoints, "isolation_b_endpoints.ndjson"),
            (Kind::Dialogues, "isolation_b_dialogues.ndjson"),
        ] {
            common::import(&t.db, kind, &common::fixture(file), "b")
                .await
                .unwrap();
        }
        let b_before = (
            dialogues_of(&t.db, "b").await,
            endpoints_of(&t.db, "b").await,
        );
        let colliding: Vec<Value> = fixture_records("isolation_b_dialogues.ndjson")
            .iter()
            .map(|r| {
                let mut input = to_input(r);
                input["endTimestamp"] = Value::Null;
                input["sessionDurationInSec"] = json!(1.5);
                input
            })
            .collect();
        let read = common::key(&t.db, "a", "read").await;
        let ingest = common::key(&t.db, "a", "ingest").await;
        let server = Server::start(
            &t.db,
            ServeConfig {
                no_auth: false,
                ..ServeConfig::default()
            },
        )
        .await;
        let a_before = all_rows(&t.db, "dialogues").await;

        let (status, body) = server.query(&read, INGEST, json!({ "d": colliding })).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert_eq!(
            common::error_codes(&body),
            ["FORBIDDEN"],
            "{}: {body}",
            t.kind
        );
        assert!(body["data"].is_null(), "{body}");
        let (_, body) = server
            .query(
                &read,
                UPSERT,
                json!({ "e": [{ "id": "x", "role": "AGENT" }] }),
            )
            .await;
        assert_eq!(
            common::error_codes(&body),
            ["FORBIDDEN"],
            "{}: {body}",
            t.kind
        );
        assert_eq!(all_rows(&t.db, "dialogues").await, a_before, "{}", t.kind);

        let (status, body) = server
            .query(&ingest, INGEST, json!({ "d": colliding }))
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        let n = colliding.len() as i64;
        assert_eq!(
            summary(&body, "ingestDialogues"),
            [n, n, 0, 0],
            "{}: all new in a",
            t.kind
        );
        // An ingest-only key cannot read.
        let (_, body) = server
            .query(&ingest, "{ dialogues { totalCount } }", json!({}))
            .await;
        assert_eq!(
            common::error_codes(&body),
            ["FORBIDDEN"],
            "{}: {body}",
            t.kind
        );
        let (_, body) = server
            .query(&read, "{ dialogues { totalCount } }", json!({}))
            .await;
        assert_eq!(
            body["data"]["dialogues"]["totalCount"], n,
            "{}: {body}",
            t.kind
        );

        assert_eq!(
            (
                dialogues_of(&t.db, "b").await,
                endpoints_of(&t.db, "b").await
            ),
            b_before,
            "{}: tenant b untouched",
            t.kind
        );
        let a: BTreeMap<String, Option<f64>> = dialogues_of(&t.db, "a")
            .await
            .into_iter()
            .map(|d| (d.id, d.session_duration_in_sec))
            .collect();
        assert!(a.values().all(|s| *s == Some(1.5)), "{}: {a:?}", t.kind);

        // A mutation over GET is refused before anything runs.
        let response = server
            .client
            .get(server.url("/graphql"))
            .bearer_auth(&ingest)
            .query(&[(
                "query",
                "mutation { upsertEndpoints(endpoints: [{id: \"g\", role: AGENT}]) { inserted } }",
            )])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{}",
            t.kind
        );
        assert!(
            endpoints_of(&t.db, "a").await.iter().all(|e| e.id != "g"),
            "{}",
            t.kind
        );
    }
}

// ---- the importer announces too -------------------------------------------------------------

#[tokio::test]
async fn an_import_announces_the_dialogues_it_changed_and_a_replay_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for t in common::databases().await {
        let announcer = Announcer::default();
        let mut events = Events::new(&t, &announcer).await;
        let tenant = tenant_id(&t.db, "default").await;
        // On PostgreSQL through the real command (another process: its NOTIFY reaches us);
        // on SQLite in this process, with this process's announcer.
        let import = |path: std::path::PathBuf| {
            let url = t.url.clone();
            let announcer = announcer.clone();
            let kind = t.kind;
            let db = t.db.clone();
            async move {
                if kind == "postgres" {
                    let status = std::process::Command::new(env!("CARGO_BIN_EXE_insights"))
                        .args(["--database-url", &url, "import", "dialogues", "--quiet"])
                        .arg(&path)
                        .stdout(std::process::Stdio::null())
                        .status()
                        .unwrap();
                    assert!(status.success());
                } else {
                    let options = insights_core::ingest::ImportOptions {
                        announcer: Some(announcer),
                        ..insights_core::ingest::ImportOptions::new("default")
                    };
                    insights_core::ingest::import_file(&db, Kind::Dialogues, &path, &options, None)
                        .await
                        .unwrap();
                }
            }
        };
        let records = fixture_records("derivations.ndjson");
        let ids: Vec<String> = records
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let path = dir.path().join(format!("{}-announce.ndjson", t.kind));
        let lines: Vec<String> = records.iter().map(Value::to_string).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        import(path.clone()).await;
        assert_eq!(events.next_ids(tenant, ids.len()).await, ids, "{}", t.kind);
        // The same file again: unchanged, announced by nothing; the next announcement is the
        // next file's, which changes one dialogue.
        import(path.clone()).await;
        let mut changed = records.clone();
        changed[4]["customerId"] = json!("cust-other");
        let lines: Vec<String> = changed.iter().map(Value::to_string).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        import(path).await;
        assert_eq!(
            events.next_ids(tenant, 1).await,
            [ids[4].clone()],
            "{}",
            t.kind
        );
    }
}
