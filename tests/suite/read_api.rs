//! The read API (API.md §1, §3) against small hand-written fixtures, compared as whole JSON
//! responses: single look-ups with every field and relation, every filter operator, the
//! endpoint string operators, relations from endpoints, and every order.
//!
//! Fixtures (tests/fixtures/read_*.ndjson, vendor shape) in tenant `default`:
//!
//! | id | # | start (UTC)           | end          | queue | talk | session | ivr   | queue   | cust   | agent   | dir | outcome  | inSla | quickDrop |
//! |----|---|-----------------------|--------------|-------|------|---------|-------|---------|--------|---------|-----|----------|-------|-----------|
//! | d1 |101| 03-02 09:00:00        | 03-02 09:05:45 | 15  | 300  | 345     | ivr-1 | q-sales | cust-1 | ag-ann  | IN  | ACCEPTED | true  |           |
//! | d2 |102| 03-03 01:30:00        | 03-03 01:30:24 | 4   |      | 24      | ivr-1 | q-sales | cust-2 |         | IN  | ABANDONED|       | true      |
//! | d3 |103| 03-03 08:00:00.123    | 03-03 08:00:40.123 |  |      | 40      | ivr-1 |         | cust-3 |         | IN  | IVR_DROP |       |           |
//! | d4 |104| 03-04 12:00:00        | 03-04 12:10:00 |     | 600  | 600     |       |         | cust-1 | ag-bob  | OUT | ACCEPTED |       |           |
//! | d5 |105| 03-05 10:00:00        | (none)       | 30    |      |         | ivr-1 | q-vip   | cust-9 | ag-zoe  | IN  | ACCEPTED | false |           |
//! | d6 |106| 03-05 10:00:00        | 03-05 10:00:07.5 | 7.5 |    | 7.5     |       | q-1000  | cust-2 |         | IN  | ABANDONED|       | false     |
//! | d7 |107| 03-05 22:30:00 (date 03-06 given) | 03-05 22:31:10 | 5 | 60 | 70 | ivr-1 | q-sales | cust-3 | ag-anna | IN | ACCEPTED | false (given) | |
//! | d8 |108| 03-07 09:00:00        | 03-07 09:20:00 | 10   | 1190 | 1200    |       | q-vip   | cust-1 | ag-back | IN  | ACCEPTED | true  |           |
//!
//! Tenant `other` holds endpoints and dialogues with the same ids, which must never show.
use crate::common;

use insights_core::ingest::Kind;
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

const ALL: [&str; 8] = ["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"];

async fn load(db: &DatabaseConnection) {
    for (kind, file, tenant) in [
        (Kind::Endpoints, "read_endpoints.ndjson", "default"),
        (Kind::Dialogues, "read_dialogues.ndjson", "default"),
        (Kind::Endpoints, "other_tenant_endpoints.ndjson", "other"),
        (Kind::Dialogues, "other_tenant_dialogues.ndjson", "other"),
    ] {
        common::import(db, kind, &common::fixture(file), tenant)
            .await
            .unwrap_or_else(|e| panic!("import {file}: {e:?}"));
    }
}

async fn run(db: &DatabaseConnection, query: &str, variables: Value) -> Value {
    common::query(db, "default", query, variables).await
}

const ENDPOINT_FIELDS: &str = "id name role slaThresholdInSec quickDropThresholdInSec";

fn dialogue_fields() -> String {
    format!(
        "id startDate startTimestamp queueEnterTimestamp acceptTimestamp endTimestamp
         ivrDurationInSec queueDurationInSec initialTalkDurationInSec sessionDurationInSec
         ivrId queueId customerId agentId
         ivr {{ {ENDPOINT_FIELDS} }} queue {{ {ENDPOINT_FIELDS} }}
         customer {{ {ENDPOINT_FIELDS} }} agent {{ {ENDPOINT_FIELDS} }}
         direction outcome inSla quickDrop orderNumber"
    )
}

fn endpoint(id: &str, name: Option<&str>, role: &str) -> Value {
    json!({ "id": id, "name": name, "role": role, "slaThresholdInSec": null, "quickDropThresholdInSec": null })
}

fn queue(id: &str, name: &str, sla: Option<f64>, quick_drop: Option<f64>) -> Value {
    json!({ "id": id, "name": name, "role": "QUEUE", "slaThresholdInSec": sla, "quickDropThresholdInSec": quick_drop })
}

fn d1() -> Value {
    json!({
        "id": "d1",
        "startDate": "2026-03-02",
        "startTimestamp": "2026-03-02T09:00:00.000Z",
        "queueEnterTimestamp": "2026-03-02T09:00:30.000Z",
        "acceptTimestamp": "2026-03-02T09:00:45.000Z",
        "endTimestamp": "2026-03-02T09:05:45.000Z",
        "ivrDurationInSec": 30.0,
        "queueDurationInSec": 15.0,
        "initialTalkDurationInSec": 300.0,
        "sessionDurationInSec": 345.0,
        "ivrId": "ivr-1",
        "queueId": "q-sales",
        "customerId": "cust-1",
        "agentId": "ag-ann",
        "ivr": endpoint("ivr-1", Some("Main Menu"), "IVR"),
        "queue": queue("q-sales", "Sales NL", Some(20.0), Some(5.0)),
        "customer": endpoint("cust-1", Some("Jan de Vries"), "CUSTOMER"),
        "agent": endpoint("ag-ann", Some("Ann_Lee"), "AGENT"),
        "direction": "INBOUND",
        "outcome": "ACCEPTED",
        "inSla": true,
        "quickDrop": null,
        "orderNumber": 101
    })
}

#[tokio::test]
async fn dialogue_by_id_with_every_field_and_relation() {
    for t in common::databases().await {
        load(&t.db).await;
        let query = format!(
            "query($id: ID!) {{ dialogue(id: $id) {{ {} }} }}",
            dialogue_fields()
        );
        let response = run(&t.db, &query, json!({ "id": "d1" })).await;
        assert_eq!(
            response,
            json!({ "data": { "dialogue": d1() } }),
            "{}",
            t.kind
        );

        // Absent relations are null; an endpoint only named by a dialogue exists without a
        // name; sub-millisecond input is truncated; a record's own startDate is kept.
        let response = run(
            &t.db,
            &format!(
                "{{ d3: dialogue(id: \"d3\") {{ {f} }} d5: dialogue(id: \"d5\") {{ {f} }}
                    d6: dialogue(id: \"d6\") {{ {f} }} missing: dialogue(id: \"x9\") {{ id }} }}",
                f = dialogue_fields()
            ),
            json!({}),
        )
        .await;
        let expected = json!({ "data": {
            "d3": {
                "id": "d3",
                "startDate": "2026-03-03",
                "startTimestamp": "2026-03-03T08:00:00.123Z",
                "queueEnterTimestamp": null,
                "acceptTimestamp": null,
                "endTimestamp": "2026-03-03T08:00:40.123Z",
                "ivrDurationInSec": 40.0,
                "queueDurationInSec": null,
                "initialTalkDurationInSec": null,
                "sessionDurationInSec": 40.0,
                "ivrId": "ivr-1",
                "queueId": null,
                "customerId": "cust-3",
                "agentId": null,
                "ivr": endpoint("ivr-1", Some("Main Menu"), "IVR"),
                "queue": null,
                "customer": endpoint("cust-3", Some("+31 20 555 0101"), "CUSTOMER"),
                "agent": null,
                "direction": "INBOUND",
                "outcome": "IVR_DROP",
                "inSla": null,
                "quickDrop": null,
                "orderNumber": 103
            },
            "d5": {
                "id": "d5",
                "startDate": "2026-03-05",
                "startTimestamp": "2026-03-05T10:00:00.000Z",
                "queueEnterTimestamp": "2026-03-05T10:00:10.000Z",
                "acceptTimestamp": "2026-03-05T10:00:40.000Z",
                "endTimestamp": null,
                "ivrDurationInSec": 10.0,
                "queueDurationInSec": 30.0,
                "initialTalkDurationInSec": null,
                "sessionDurationInSec": null,
                "ivrId": "ivr-1",
                "queueId": "q-vip",
                "customerId": "cust-9",
                "agentId": "ag-zoe",
                "ivr": endpoint("ivr-1", Some("Main Menu"), "IVR"),
                "queue": queue("q-vip", "100% VIP", Some(10.0), None),
                "customer": endpoint("cust-9", None, "CUSTOMER"),
                "agent": endpoint("ag-zoe", Some("ZOË ÄRZTE"), "AGENT"),
                "direction": "INBOUND",
                "outcome": "ACCEPTED",
                "inSla": false,
                "quickDrop": null,
                "orderNumber": 105
            },
            "d6": {
                "id": "d6",
                "startDate": "2026-03-05",
                "startTimestamp": "2026-03-05T10:00:00.000Z",
                "queueEnterTimestamp": "2026-03-05T10:00:00.000Z",
                "acceptTimestamp": null,
                "endTimestamp": "2026-03-05T10:00:07.500Z",
                "ivrDurationInSec": null,
                "queueDurationInSec": 7.5,
                "initialTalkDurationInSec": null,
                "sessionDurationInSec": 7.5,
                "ivrId": null,
                "queueId": "q-1000",
                "customerId": "cust-2",
                "agentId": null,
                "ivr": null,
                "queue": {
                    "id": "q-1000", "name": "1000 VIP", "role": "QUEUE",
                    "slaThresholdInSec": null, "quickDropThresholdInSec": null
                },
                "customer": endpoint("cust-2", None, "CUSTOMER"),
                "agent": null,
                "direction": "INBOUND",
                "outcome": "ABANDONED",
                "inSla": null,
                "quickDrop": false,
                "orderNumber": 106
            },
            "missing": null
        }});
        assert_eq!(response, expected, "{}", t.kind);
    }
}

#[tokio::test]
async fn dialogue_by_order_number() {
    for t in common::databases().await {
        load(&t.db).await;
        let query = format!(
            "{{ d7: dialogueByOrderNumber(orderNumber: 107) {{ {} }}
                none: dialogueByOrderNumber(orderNumber: 999) {{ id }}
                d1: dialogueByOrderNumber(orderNumber: 101) {{ id orderNumber queue {{ name }} }} }}",
            dialogue_fields()
        );
        let response = run(&t.db, &query, json!({})).await;
        let expected = json!({ "data": {
            "d7": {
                "id": "d7",
                "startDate": "2026-03-06",
                "startTimestamp": "2026-03-05T22:30:00.000Z",
                "queueEnterTimestamp": "2026-03-05T22:30:05.000Z",
                "acceptTimestamp": "2026-03-05T22:30:10.000Z",
                "endTimestamp": "2026-03-05T22:31:10.000Z",
                "ivrDurationInSec": 5.0,
                "queueDurationInSec": 5.0,
                "initialTalkDurationInSec": 60.0,
                "sessionDurationInSec": 70.0,
                "ivrId": "ivr-1",
                "queueId": "q-sales",
                "customerId": "cust-3",
                "agentId": "ag-anna",
                "ivr": endpoint("ivr-1", Some("Main Menu"), "IVR"),
                "queue": queue("q-sales", "Sales NL", Some(20.0), Some(5.0)),
                "customer": endpoint("cust-3", Some("+31 20 555 0101"), "CUSTOMER"),
                "agent": endpoint("ag-anna", Some("AnnaLee"), "AGENT"),
                "direction": "INBOUND",
                "outcome": "ACCEPTED",
                // Given as "False" by the record although 5 s is within the SLA: kept.
                "inSla": false,
                "quickDrop": null,
                "orderNumber": 107
            },
            "none": null,
            // Tenant `other` also has an order number 101 (and a d1 with another queue).
            "d1": { "id": "d1", "orderNumber": 101, "queue": { "name": "Sales NL" } }
        }});
        assert_eq!(response, expected, "{}", t.kind);
    }
}

/// The whole response of a filtered, order-number-ordered dialogue list with these ids.
fn dialogue_ids(ids: &[&str]) -> Value {
    let nodes: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    json!({ "data": { "dialogues": { "totalCount": ids.len(), "nodes": nodes } } })
}

const FILTERED: &str = "query($filter: DialogueFilter) {
    dialogues(filter: $filter, orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) {
        totalCount nodes { id }
    }
}";

fn complement(ids: &[&'static str]) -> Vec<&'static str> {
    ALL.iter().copied().filter(|id| !ids.contains(id)).collect()
}

/// Every operator kind of API.md §3, with the ids (by order number) it must select. Each case
/// is also checked wrapped in `not`, which must select exactly the other dialogues.
fn dialogue_filter_cases() -> Vec<(Value, Vec<&'static str>)> {
    vec![
        // IdFilter on the (non-null) id
        (json!({ "id": { "eq": "d3" } }), vec!["d3"]),
        (json!({ "id": { "ne": "d3" } }), complement(&["d3"])),
        (
            json!({ "id": { "in": ["d8", "d1", "x9"] } }),
            vec!["d1", "d8"],
        ),
        (
            json!({ "id": { "notIn": ["d1", "d2"] } }),
            complement(&["d1", "d2"]),
        ),
        (json!({ "id": { "isNull": true } }), vec![]),
        (json!({ "id": { "isNull": false } }), ALL.to_vec()),
        // IdFilter on nullable ids: ne / notIn include the rows without one
        (json!({ "agentId": { "eq": "ag-ann" } }), vec!["d1"]),
        (
            json!({ "agentId": { "ne": "ag-ann" } }),
            complement(&["d1"]),
        ),
        (
            json!({ "agentId": { "in": ["ag-bob", "ag-zoe"] } }),
            vec!["d4", "d5"],
        ),
        (
            json!({ "agentId": { "notIn": ["ag-bob", "ag-zoe"] } }),
            vec!["d1", "d2", "d3", "d6", "d7", "d8"],
        ),
        (
            json!({ "agentId": { "isNull": true } }),
            vec!["d2", "d3", "d6"],
        ),
        (
            json!({ "agentId": { "isNull": false } }),
            vec!["d1", "d4", "d5", "d7", "d8"],
        ),
        (
            json!({ "ivrId": { "isNull": true } }),
            vec!["d4", "d6", "d8"],
        ),
        (
            json!({ "queueId": { "eq": "q-sales" } }),
            vec!["d1", "d2", "d7"],
        ),
        (json!({ "queueId": { "in": [] } }), vec![]),
        (json!({ "queueId": { "notIn": [] } }), ALL.to_vec()),
        (json!({ "customerId": { "eq": "cust-9" } }), vec!["d5"]),
        (
            json!({ "customerId": { "ne": "cust-1", "notIn": ["cust-2"] } }),
            vec!["d3", "d5", "d7"],
        ),
        // DateTimeFilter: input with any offset, millisecond precision
        (
            json!({ "startTimestamp": { "eq": "2026-03-05T11:00:00+01:00" } }),
            vec!["d5", "d6"],
        ),
        (
            json!({ "startTimestamp": { "ne": "2026-03-05T05:00:00-05:00" } }),
            complement(&["d5", "d6"]),
        ),
        (
            json!({ "startTimestamp": { "gt": "2026-03-05T10:00:00Z" } }),
            vec!["d7", "d8"],
        ),
        (
            json!({ "startTimestamp": { "gte": "2026-03-05T10:00:00.000+00:00" } }),
            vec!["d5", "d6", "d7", "d8"],
        ),
        (
            json!({ "startTimestamp": { "lt": "2026-03-03T09:00:00+01:00" } }),
            vec!["d1", "d2"],
        ),
        (
            json!({ "startTimestamp": { "lt": "2026-03-03T08:00:00.123Z" } }),
            vec!["d1", "d2"],
        ),
        (
            json!({ "startTimestamp": { "lte": "2026-03-03T13:30:00.123+05:30" } }),
            vec!["d1", "d2", "d3"],
        ),
        (
            json!({ "startTimestamp": { "gte": "2026-03-03T00:00:00Z", "lt": "2026-03-05T00:00:00Z" } }),
            vec!["d2", "d3", "d4"],
        ),
        (json!({ "startTimestamp": { "isNull": true } }), vec![]),
        (json!({ "endTimestamp": { "isNull": true } }), vec!["d5"]),
        (
            json!({ "endTimestamp": { "isNull": false } }),
            complement(&["d5"]),
        ),
        (
            json!({ "endTimestamp": { "ne": "2026-03-02T10:05:45+01:00" } }),
            complement(&["d1"]),
        ),
        (
            json!({ "endTimestamp": { "lt": "2026-03-04T00:00:00Z" } }),
            vec!["d1", "d2", "d3"],
        ),
        (
            json!({ "queueEnterTimestamp": { "isNull": true } }),
            vec!["d3", "d4"],
        ),
        (
            json!({ "queueEnterTimestamp": { "gte": "2026-03-05T10:00:00Z" } }),
            vec!["d5", "d6", "d7", "d8"],
        ),
        (
            json!({ "acceptTimestamp": { "eq": "2026-03-04T13:00:00+01:00" } }),
            vec!["d4"],
        ),
        (
            json!({ "acceptTimestamp": { "isNull": true } }),
            vec!["d2", "d3", "d6"],
        ),
        // DateFilter
        (
            json!({ "startDate": { "eq": "2026-03-05" } }),
            vec!["d5", "d6"],
        ),
        (
            json!({ "startDate": { "ne": "2026-03-03" } }),
            complement(&["d2", "d3"]),
        ),
        (
            json!({ "startDate": { "gt": "2026-03-05" } }),
            vec!["d7", "d8"],
        ),
        (
            json!({ "startDate": { "gte": "2026-03-05" } }),
            vec!["d5", "d6", "d7", "d8"],
        ),
        (json!({ "startDate": { "lt": "2026-03-03" } }), vec!["d1"]),
        (
            json!({ "startDate": { "lte": "2026-03-03" } }),
            vec!["d1", "d2", "d3"],
        ),
        (json!({ "startDate": { "isNull": false } }), ALL.to_vec()),
        // FloatFilter
        (json!({ "queueDurationInSec": { "eq": 5 } }), vec!["d7"]),
        (
            json!({ "queueDurationInSec": { "ne": 5.0 } }),
            complement(&["d7"]),
        ),
        (
            json!({ "queueDurationInSec": { "gt": 7.5 } }),
            vec!["d1", "d5", "d8"],
        ),
        (
            json!({ "queueDurationInSec": { "gte": 7.5 } }),
            vec!["d1", "d5", "d6", "d8"],
        ),
        (
            json!({ "queueDurationInSec": { "lt": 7.5 } }),
            vec!["d2", "d7"],
        ),
        (
            json!({ "queueDurationInSec": { "lte": 10 } }),
            vec!["d2", "d6", "d7", "d8"],
        ),
        (
            json!({ "queueDurationInSec": { "gt": 4, "lt": 15 } }),
            vec!["d6", "d7", "d8"],
        ),
        (
            json!({ "queueDurationInSec": { "isNull": true } }),
            vec!["d3", "d4"],
        ),
        (
            json!({ "sessionDurationInSec": { "isNull": true } }),
            vec!["d5"],
        ),
        (
            json!({ "sessionDurationInSec": { "lt": 24.5 } }),
            vec!["d2", "d6"],
        ),
        (
            json!({ "initialTalkDurationInSec": { "gte": 600 } }),
            vec!["d4", "d8"],
        ),
        (json!({ "ivrDurationInSec": { "eq": 10 } }), vec!["d5"]),
        (
            json!({ "ivrDurationInSec": { "isNull": true } }),
            vec!["d4", "d6", "d8"],
        ),
        // IntFilter
        (json!({ "orderNumber": { "eq": 103 } }), vec!["d3"]),
        (json!({ "orderNumber": { "ne": 103 } }), complement(&["d3"])),
        (json!({ "orderNumber": { "gt": 106 } }), vec!["d7", "d8"]),
        (
            json!({ "orderNumber": { "gte": 106 } }),
            vec!["d6", "d7", "d8"],
        ),
        (json!({ "orderNumber": { "lt": 102 } }), vec!["d1"]),
        (json!({ "orderNumber": { "lte": 102 } }), vec!["d1", "d2"]),
        (
            json!({ "orderNumber": { "gt": 102, "lt": 105 } }),
            vec!["d3", "d4"],
        ),
        (json!({ "orderNumber": { "isNull": true } }), vec![]),
        // DirectionFilter
        (json!({ "direction": { "eq": "OUTBOUND" } }), vec!["d4"]),
        (
            json!({ "direction": { "in": ["INBOUND"] } }),
            complement(&["d4"]),
        ),
        (
            json!({ "direction": { "in": ["INBOUND", "OUTBOUND"] } }),
            ALL.to_vec(),
        ),
        (json!({ "direction": { "in": [] } }), vec![]),
        // OutcomeFilter
        (
            json!({ "outcome": { "eq": "ABANDONED" } }),
            vec!["d2", "d6"],
        ),
        (
            json!({ "outcome": { "ne": "ACCEPTED" } }),
            vec!["d2", "d3", "d6"],
        ),
        (
            json!({ "outcome": { "in": ["IVR_DROP", "ABANDONED"] } }),
            vec!["d2", "d3", "d6"],
        ),
        (
            json!({ "outcome": { "notIn": ["ACCEPTED", "IVR_DROP"] } }),
            vec!["d2", "d6"],
        ),
        // BooleanFilter: a missing value matches neither true nor false
        (json!({ "inSla": { "eq": true } }), vec!["d1", "d8"]),
        (json!({ "inSla": { "eq": false } }), vec!["d5", "d7"]),
        (
            json!({ "inSla": { "isNull": true } }),
            vec!["d2", "d3", "d4", "d6"],
        ),
        (
            json!({ "inSla": { "isNull": false } }),
            vec!["d1", "d5", "d7", "d8"],
        ),
        (json!({ "quickDrop": { "eq": true } }), vec!["d2"]),
        (json!({ "quickDrop": { "eq": false } }), vec!["d6"]),
        (
            json!({ "quickDrop": { "isNull": false } }),
            vec!["d2", "d6"],
        ),
        // and / or / not, and fields combined with them
        (
            json!({ "or": [{ "outcome": { "eq": "IVR_DROP" } }, { "direction": { "eq": "OUTBOUND" } }] }),
            vec!["d3", "d4"],
        ),
        (
            json!({ "and": [{ "queueId": { "eq": "q-sales" } }, { "not": { "inSla": { "eq": true } } }] }),
            vec!["d2", "d7"],
        ),
        (
            json!({
                "or": [
                    { "and": [{ "queueId": { "eq": "q-vip" } }, { "inSla": { "eq": true } }] },
                    { "not": { "or": [{ "outcome": { "eq": "ACCEPTED" } }, { "ivrId": { "isNull": true } }] } }
                ]
            }),
            vec!["d2", "d3", "d8"],
        ),
        (
            json!({ "direction": { "eq": "INBOUND" }, "and": [{ "outcome": { "eq": "ACCEPTED" } }] }),
            vec!["d1", "d5", "d7", "d8"],
        ),
        (
            json!({ "not": { "not": { "endTimestamp": { "isNull": true } } } }),
            vec!["d5"],
        ),
        (
            json!({ "not": { "endTimestamp": { "lt": "2026-03-04T00:00:00Z" } } }),
            vec!["d4", "d5", "d6", "d7", "d8"],
        ),
        (json!({ "and": [] }), ALL.to_vec()),
        (json!({ "or": [] }), vec![]),
        (json!({ "not": {} }), vec![]),
        (json!({ "not": { "or": [] } }), ALL.to_vec()),
        (json!({}), ALL.to_vec()),
    ]
}

#[tokio::test]
async fn dialogue_filters_every_operator_and_their_complements() {
    for t in common::databases().await {
        load(&t.db).await;
        let mut failures = Vec::new();
        for (filter, ids) in dialogue_filter_cases() {
            let response = run(&t.db, FILTERED, json!({ "filter": filter })).await;
            if response != dialogue_ids(&ids) {
                failures.push(format!("{filter}\n  expected {ids:?}\n  got {response}"));
            }
            let negated = json!({ "not": filter });
            let others = complement(&ids);
            let response = run(&t.db, FILTERED, json!({ "filter": negated })).await;
            if response != dialogue_ids(&others) {
                failures.push(format!(
                    "{negated}\n  expected {others:?}\n  got {response}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} filter(s) wrong:\n{}",
            t.kind,
            failures.len(),
            failures.join("\n")
        );
    }
}

#[tokio::test]
async fn filters_as_literals_in_the_document() {
    // The same operators written inline (not through variables), offsets included.
    for t in common::databases().await {
        load(&t.db).await;
        let response = run(
            &t.db,
            r#"{
                dialogues(
                    filter: {
                        startTimestamp: { gte: "2026-03-05T11:00:00+01:00", lt: "2026-03-07T00:00:00-03:00" }
                        startDate: { lte: "2026-03-06" }
                        outcome: { notIn: [IVR_DROP] }
                        or: [{ inSla: { eq: false } }, { quickDrop: { isNull: false } }]
                        not: { queueDurationInSec: { eq: 5 } }
                    }
                    orderBy: [{ field: ORDER_NUMBER, direction: DESC }]
                ) { totalCount nodes { id } }
            }"#,
            json!({}),
        )
        .await;
        assert_eq!(response, dialogue_ids(&["d6", "d5"]), "{}", t.kind);
    }
}

#[tokio::test]
async fn every_datetime_is_utc_with_milliseconds() {
    for t in common::databases().await {
        load(&t.db).await;
        let response = run(
            &t.db,
            "{ dialogues(first: 100) { nodes { startTimestamp queueEnterTimestamp acceptTimestamp endTimestamp } } }",
            json!({}),
        )
        .await;
        let nodes = response["data"]["dialogues"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 8, "{}: {response}", t.kind);
        let mut seen = 0;
        for node in nodes {
            for value in node.as_object().unwrap().values() {
                let Some(text) = value.as_str() else {
                    assert!(value.is_null(), "{value}");
                    continue;
                };
                seen += 1;
                let ok = text.len() == 24
                    && text.ends_with('Z')
                    && text.as_bytes()[19] == b'.'
                    && text[20..23].bytes().all(|b| b.is_ascii_digit())
                    && chrono::DateTime::parse_from_rfc3339(text).is_ok();
                assert!(ok, "{}: `{text}` is not YYYY-MM-DDTHH:MM:SS.mmmZ", t.kind);
            }
        }
        assert_eq!(seen, 26, "{}", t.kind);
    }
}

fn orders() -> Vec<(Value, Vec<&'static str>)> {
    let o = |field: &str, direction: &str| json!({ "field": field, "direction": direction });
    vec![
        // The default: START_TIMESTAMP DESC, id DESC on the d5/d6 tie.
        (
            Value::Null,
            vec!["d8", "d7", "d6", "d5", "d4", "d3", "d2", "d1"],
        ),
        (
            json!([]),
            vec!["d8", "d7", "d6", "d5", "d4", "d3", "d2", "d1"],
        ),
        (
            json!([o("START_TIMESTAMP", "ASC")]),
            vec!["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"],
        ),
        (
            json!([o("END_TIMESTAMP", "ASC")]),
            vec!["d1", "d2", "d3", "d4", "d6", "d7", "d8", "d5"],
        ),
        (
            json!([o("END_TIMESTAMP", "DESC")]),
            vec!["d5", "d8", "d7", "d6", "d4", "d3", "d2", "d1"],
        ),
        (
            json!([o("ORDER_NUMBER", "DESC")]),
            vec!["d8", "d7", "d6", "d5", "d4", "d3", "d2", "d1"],
        ),
        (
            json!([o("QUEUE_DURATION", "ASC")]),
            vec!["d2", "d7", "d6", "d8", "d1", "d5", "d3", "d4"],
        ),
        (
            json!([o("QUEUE_DURATION", "DESC")]),
            vec!["d4", "d3", "d5", "d1", "d8", "d6", "d7", "d2"],
        ),
        (
            json!([o("SESSION_DURATION", "ASC")]),
            vec!["d6", "d2", "d3", "d7", "d1", "d4", "d8", "d5"],
        ),
        (
            json!([o("INITIAL_TALK_DURATION", "DESC")]),
            vec!["d6", "d5", "d3", "d2", "d8", "d4", "d1", "d7"],
        ),
        (
            json!([o("START_TIMESTAMP", "ASC"), o("QUEUE_DURATION", "ASC")]),
            vec!["d1", "d2", "d3", "d4", "d6", "d5", "d7", "d8"],
        ),
        (
            json!([o("START_TIMESTAMP", "DESC"), o("ORDER_NUMBER", "ASC")]),
            vec!["d8", "d7", "d5", "d6", "d4", "d3", "d2", "d1"],
        ),
    ]
}

#[tokio::test]
async fn dialogue_orders() {
    for t in common::databases().await {
        load(&t.db).await;
        for (order_by, ids) in orders() {
            let response = run(
                &t.db,
                "query($o: [DialogueOrder!]) { dialogues(orderBy: $o) { totalCount nodes { id } } }",
                json!({ "o": order_by }),
            )
            .await;
            assert_eq!(
                response,
                dialogue_ids(&ids),
                "{}: orderBy {order_by}",
                t.kind
            );
        }
    }
}

fn endpoint_ids(ids: &[&str]) -> Value {
    let nodes: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    json!({ "data": { "endpoints": { "totalCount": ids.len(), "nodes": nodes } } })
}

/// All endpoints of tenant `default` by id (the default order).
const ENDPOINTS: [&str; 13] = [
    "ag-ann", "ag-anna", "ag-back", "ag-bob", "ag-zoe", "cust-1", "cust-2", "cust-3", "cust-9",
    "ivr-1", "q-1000", "q-sales", "q-vip",
];

fn endpoints_except(ids: &[&str]) -> Vec<&'static str> {
    ENDPOINTS
        .iter()
        .copied()
        .filter(|id| !ids.contains(id))
        .collect()
}

const ENDPOINTS_FILTERED: &str =
    "query($filter: EndpointFilter) { endpoints(filter: $filter) { totalCount nodes { id } } }";

#[tokio::test]
async fn endpoint_filters() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // case-insensitive text operators; %, _ and \ match themselves
        (
            json!({ "name": { "startsWith": "ann" } }),
            vec!["ag-ann", "ag-anna"],
        ),
        (json!({ "name": { "startsWith": "ANN_" } }), vec!["ag-ann"]),
        (json!({ "name": { "contains": "n_l" } }), vec!["ag-ann"]),
        (json!({ "name": { "contains": "0%" } }), vec!["q-vip"]),
        (json!({ "name": { "startsWith": "100%" } }), vec!["q-vip"]),
        (json!({ "name": { "contains": "%" } }), vec!["q-vip"]),
        (json!({ "name": { "contains": "_" } }), vec!["ag-ann"]),
        (
            json!({ "name": { "endsWith": "vip" } }),
            vec!["q-1000", "q-vip"],
        ),
        (json!({ "name": { "endsWith": "% VIP" } }), vec!["q-vip"]),
        (json!({ "name": { "contains": "\\" } }), vec!["ag-back"]),
        (json!({ "name": { "contains": "K\\S" } }), vec!["ag-back"]),
        (json!({ "name": { "contains": "SMITH" } }), vec!["ag-bob"]),
        (
            json!({ "name": { "contains": "" } }),
            endpoints_except(&["cust-2", "cust-9"]),
        ),
        (
            json!({ "name": { "startsWith": "a", "endsWith": "E" } }),
            vec!["ag-ann", "ag-anna"],
        ),
        // exact operators
        (json!({ "name": { "eq": "Sales NL" } }), vec!["q-sales"]),
        (json!({ "name": { "eq": "sales nl" } }), vec![]),
        (
            json!({ "name": { "ne": "Sales NL" } }),
            endpoints_except(&["q-sales"]),
        ),
        (
            json!({ "name": { "in": ["Bob Smith", "AnnaLee", "nobody"] } }),
            vec!["ag-anna", "ag-bob"],
        ),
        (json!({ "name": { "in": [] } }), vec![]),
        (
            json!({ "name": { "isNull": true } }),
            vec!["cust-2", "cust-9"],
        ),
        (
            json!({ "not": { "name": { "startsWith": "ann" } } }),
            endpoints_except(&["ag-ann", "ag-anna"]),
        ),
        // role and id
        (
            json!({ "role": { "eq": "QUEUE" } }),
            vec!["q-1000", "q-sales", "q-vip"],
        ),
        (
            json!({ "role": { "in": ["IVR", "CUSTOMER"] } }),
            vec!["cust-1", "cust-2", "cust-3", "cust-9", "ivr-1"],
        ),
        (
            json!({ "id": { "in": ["q-vip", "ivr-1"] } }),
            vec!["ivr-1", "q-vip"],
        ),
        (
            json!({ "id": { "ne": "q-vip" } }),
            endpoints_except(&["q-vip"]),
        ),
        // and / or / not
        (
            json!({ "role": { "eq": "AGENT" }, "or": [{ "name": { "startsWith": "b" } }, { "name": { "endsWith": "lee" } }] }),
            vec!["ag-ann", "ag-anna", "ag-back", "ag-bob"],
        ),
        (
            json!({ "and": [{ "role": { "eq": "CUSTOMER" } }, { "not": { "name": { "isNull": true } } }] }),
            vec!["cust-1", "cust-3"],
        ),
        (json!({ "or": [] }), vec![]),
        (json!({ "not": {} }), vec![]),
    ];
    for t in common::databases().await {
        load(&t.db).await;
        let mut failures = Vec::new();
        for (filter, ids) in &cases {
            let response = run(&t.db, ENDPOINTS_FILTERED, json!({ "filter": filter })).await;
            if response != endpoint_ids(ids) {
                failures.push(format!("{filter}\n  expected {ids:?}\n  got {response}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} filter(s) wrong:\n{}",
            t.kind,
            failures.len(),
            failures.join("\n")
        );
    }
}

#[tokio::test]
async fn endpoint_text_operators_ignore_non_ascii_case() {
    // API.md §3: the three text operators are case-insensitive; `ZOË ÄRZTE` must match
    // `zoë` and `ärzte` on both databases.
    for t in common::databases().await {
        load(&t.db).await;
        for filter in [
            json!({ "name": { "contains": "ärzte" } }),
            json!({ "name": { "startsWith": "zoë" } }),
            json!({ "name": { "endsWith": "Ë ärzte" } }),
        ] {
            let response = run(&t.db, ENDPOINTS_FILTERED, json!({ "filter": filter })).await;
            assert_eq!(response, endpoint_ids(&["ag-zoe"]), "{}: {filter}", t.kind);
        }
    }
}

#[tokio::test]
async fn endpoint_orders() {
    let o = |field: &str, direction: &str| json!({ "field": field, "direction": direction });
    let by_name = vec![
        "cust-3", "q-vip", "q-1000", "ag-ann", "ag-anna", "ag-bob", "cust-1", "ivr-1", "q-sales",
        "ag-zoe", "ag-back", "cust-2", "cust-9",
    ];
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (Value::Null, ENDPOINTS.to_vec()),
        (json!([o("ID", "ASC")]), ENDPOINTS.to_vec()),
        (
            json!([o("ID", "DESC")]),
            ENDPOINTS.iter().rev().copied().collect(),
        ),
        // Names in code-point order, nameless last; id breaks ties.
        (json!([o("NAME", "ASC")]), by_name.clone()),
        // Exactly reversed: nameless first (id descending).
        (
            json!([o("NAME", "DESC")]),
            by_name.iter().rev().copied().collect(),
        ),
        (
            json!([o("NAME", "DESC"), o("ID", "ASC")]),
            vec![
                "cust-2", "cust-9", "ag-back", "ag-zoe", "q-sales", "ivr-1", "cust-1", "ag-bob",
                "ag-anna", "ag-ann", "q-1000", "q-vip", "cust-3",
            ],
        ),
    ];
    for t in common::databases().await {
        load(&t.db).await;
        for (order_by, ids) in &cases {
            let response = run(
                &t.db,
                "query($o: [EndpointOrder!]) { endpoints(orderBy: $o) { totalCount nodes { id } } }",
                json!({ "o": order_by }),
            )
            .await;
            assert_eq!(
                response,
                endpoint_ids(ids),
                "{}: orderBy {order_by}",
                t.kind
            );
        }
    }
}

#[tokio::test]
async fn endpoint_with_its_dialogues() {
    for t in common::databases().await {
        load(&t.db).await;
        let response = run(
            &t.db,
            "{
                vip: endpoint(id: \"q-vip\") {
                    id name role slaThresholdInSec quickDropThresholdInSec
                    dialogues(orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) {
                        totalCount nodes { id queue { id } }
                        pageInfo { hasNextPage hasPreviousPage }
                    }
                }
                customer: endpoint(id: \"cust-1\") {
                    id name role
                    all: dialogues { totalCount nodes { id } }
                    inbound: dialogues(filter: { direction: { eq: INBOUND }, outcome: { eq: ACCEPTED } }) {
                        totalCount nodes { id }
                    }
                    firstPage: dialogues(first: 1, orderBy: [{ field: START_TIMESTAMP, direction: ASC }]) {
                        totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage }
                    }
                }
                stub: endpoint(id: \"cust-9\") { id name role dialogues { totalCount nodes { id agent { name } } } }
                ivr: endpoint(id: \"ivr-1\") { dialogues(filter: { queueId: { isNull: true } }) { totalCount nodes { id } } }
                agent: endpoint(id: \"ag-ann\") { name dialogues { nodes { id agent { dialogues { totalCount } } } } }
                missing: endpoint(id: \"x9\") { id }
            }",
            json!({}),
        )
        .await;
        let expected = json!({ "data": {
            "vip": {
                "id": "q-vip", "name": "100% VIP", "role": "QUEUE",
                "slaThresholdInSec": 10.0, "quickDropThresholdInSec": null,
                "dialogues": {
                    "totalCount": 2,
                    "nodes": [{ "id": "d5", "queue": { "id": "q-vip" } }, { "id": "d8", "queue": { "id": "q-vip" } }],
                    "pageInfo": { "hasNextPage": false, "hasPreviousPage": false }
                }
            },
            "customer": {
                "id": "cust-1", "name": "Jan de Vries", "role": "CUSTOMER",
                // Default order: newest first. Tenant `other` has a dialogue for its cust-1 too.
                "all": { "totalCount": 3, "nodes": [{ "id": "d8" }, { "id": "d4" }, { "id": "d1" }] },
                "inbound": { "totalCount": 2, "nodes": [{ "id": "d8" }, { "id": "d1" }] },
                "firstPage": {
                    "totalCount": 3, "nodes": [{ "id": "d1" }],
                    "pageInfo": { "hasNextPage": true, "hasPreviousPage": false }
                }
            },
            "stub": {
                "id": "cust-9", "name": null, "role": "CUSTOMER",
                "dialogues": { "totalCount": 1, "nodes": [{ "id": "d5", "agent": { "name": "ZOË ÄRZTE" } }] }
            },
            "ivr": { "dialogues": { "totalCount": 1, "nodes": [{ "id": "d3" }] } },
            "agent": {
                "name": "Ann_Lee",
                "dialogues": { "nodes": [{ "id": "d1", "agent": { "dialogues": { "totalCount": 1 } } }] }
            },
            "missing": null
        }});
        assert_eq!(response, expected, "{}", t.kind);
    }
}

#[tokio::test]
async fn another_tenants_rows_never_show() {
    for t in common::databases().await {
        load(&t.db).await;
        let response = run(
            &t.db,
            "{
                dialogues { totalCount }
                endpoints { totalCount }
                x9: dialogue(id: \"x9\") { id }
                d1: dialogue(id: \"d1\") { outcome queue { name slaThresholdInSec } agent { name } }
                ann: endpoint(id: \"ag-ann\") { name dialogues { totalCount } }
                byNumber: dialogueByOrderNumber(orderNumber: 999) { id }
                custX: endpoint(id: \"cust-x\") { id }
            }",
            json!({}),
        )
        .await;
        let expected = json!({ "data": {
            "dialogues": { "totalCount": 8 },
            "endpoints": { "totalCount": 13 },
            "x9": null,
            "d1": {
                "outcome": "ACCEPTED",
                "queue": { "name": "Sales NL", "slaThresholdInSec": 20.0 },
                "agent": { "name": "Ann_Lee" }
            },
            "ann": { "name": "Ann_Lee", "dialogues": { "totalCount": 1 } },
            "byNumber": null,
            "custX": null
        }});
        assert_eq!(response, expected, "{}", t.kind);

        // And the other way round.
        let response = common::query(
            &t.db,
            "other",
            "{ dialogues { totalCount } d1: dialogue(id: \"d1\") { queue { name } } d5: dialogue(id: \"d5\") { id } }",
            json!({}),
        )
        .await;
        assert_eq!(
            response,
            json!({ "data": {
                "dialogues": { "totalCount": 2 },
                "d1": { "queue": { "name": "Other tenant's queue" } },
                "d5": null
            }}),
            "{}",
            t.kind
        );
    }
}
