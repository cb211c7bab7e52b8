//! Tenant isolation (API.md §6): two tenants whose ids collide — the same dialogue ids, endpoint
//! ids and order numbers, with different names, timestamps and outcomes — and every read path
//! run as each of them, through the schema and over HTTP with that tenant's key: GraphQL, and
//! every `/odata` route (API.md §8) with its next links, including links and skip tokens forged
//! from the other tenant's data.
//!
//! The oracle: what a query answers for tenant A in the shared database must be exactly what
//! it answers in a database that holds A's data alone (and likewise for B). A few answers are
//! also pinned by hand, so the oracle cannot be vacuous.
use crate::common;

use common::{Server, TestDb};
use insights::app::config::ServeConfig;
use insights_core::ingest::Kind;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TENANTS: [&str; 2] = ["a", "b"];

async fn load(db: &sea_orm::DatabaseConnection, tenant: &str) {
    for (kind, file) in [
        (
            Kind::Endpoints,
            format!("isolation_{tenant}_endpoints.ndjson"),
        ),
        (
            Kind::Dialogues,
            format!("isolation_{tenant}_dialogues.ndjson"),
        ),
    ] {
        common::import(db, kind, &common::fixture(&file), tenant)
            .await
            .unwrap_or_else(|e| panic!("import {file}: {e:?}"));
    }
}

/// A fresh database of the same kind as `t`.
async fn fresh_like(t: &TestDb) -> TestDb {
    match t.kind {
        "postgres" => common::postgres().await.expect("postgres"),
        _ => common::sqlite().await,
    }
}

/// The shared database (both tenants), one database per tenant alone, a server with a read
/// key per tenant.
struct World {
    shared: TestDb,
    alone: Vec<TestDb>,
    server: Server,
    keys: Vec<String>,
}

async fn worlds() -> Vec<World> {
    let mut worlds = Vec::new();
    for shared in common::databases().await {
        // Import order must not matter: B first into the shared database.
        load(&shared.db, "b").await;
        load(&shared.db, "a").await;
        let mut alone = Vec::new();
        for tenant in TENANTS {
            let db = fresh_like(&shared).await;
            load(&db.db, tenant).await;
            alone.push(db);
        }
        let mut keys = Vec::new();
        for tenant in TENANTS {
            keys.push(common::key(&shared.db, tenant, "read").await);
        }
        let server = Server::start(
            &shared.db,
            ServeConfig {
                no_auth: false,
                rate_limit: 1_000_000,
                ..ServeConfig::default()
            },
        )
        .await;
        worlds.push(World {
            shared,
            alone,
            server,
            keys,
        });
    }
    worlds
}

/// Every string anywhere in a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Fails if `response` (for `tenant`) holds anything only the other tenant has.
fn assert_nothing_foreign(tenant: &str, what: &str, response: &Value) {
    let (prefix, ids): (&str, &[&str]) = match tenant {
        "a" => ("B ", &["b1", "b2", "q-b"]),
        _ => ("A ", &["a1", "q-a"]),
    };
    let mut all = Vec::new();
    strings(response, &mut all);
    for s in all {
        assert!(
            !s.starts_with(prefix) && !ids.contains(&s.as_str()),
            "tenant {tenant} sees {s:?} of the other tenant: {what}\n{response}"
        );
    }
}

impl World {
    fn tenant_index(tenant: &str) -> usize {
        TENANTS.iter().position(|t| *t == tenant).unwrap()
    }

    /// Runs `query` as `tenant` in the shared database through the schema and over HTTP; both
    /// must equal the answer of the tenant's own database. Returns that answer.
    async fn check(&self, tenant: &str, query: &str, variables: Value) -> Value {
        let i = Self::tenant_index(tenant);
        let kind = self.shared.kind;
        let expected = common::query(&self.alone[i].db, tenant, query, variables.clone()).await;
        assert!(
            expected.get("errors").is_none(),
            "{kind}: the reference answer has errors: {query} {variables}\n{expected}"
        );
        let direct = common::query(&self.shared.db, tenant, query, variables.clone()).await;
        assert_eq!(
            direct, expected,
            "{kind}: tenant {tenant}, schema: {query} {variables}"
        );
        let (status, over_http) = self
            .server
            .query(&self.keys[i], query, variables.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{kind}: {query}: {over_http}");
        // serde_json parses floats to within an ulp only (without `float_roundtrip`): compare
        // with the reference as it reads back from its own text.
        let expected_as_read: Value = serde_json::from_str(&expected.to_string()).unwrap();
        assert_eq!(
            over_http, expected_as_read,
            "{kind}: tenant {tenant}, HTTP: {query} {variables}"
        );
        assert_nothing_foreign(tenant, &format!("{query} {variables}"), &expected);
        expected
    }

    /// Runs `query` as `tenant` in the shared database only (for cursors of the other tenant).
    async fn shared(&self, tenant: &str, query: &str, variables: Value) -> Value {
        let response = common::query(&self.shared.db, tenant, query, variables).await;
        assert!(response.get("errors").is_none(), "{query}: {response}");
        response
    }
}

const ENDPOINT: &str = "id name role slaThresholdInSec quickDropThresholdInSec";

fn dialogue_fields() -> String {
    format!(
        "id startDate startTimestamp queueEnterTimestamp acceptTimestamp endTimestamp
         ivrDurationInSec queueDurationInSec initialTalkDurationInSec sessionDurationInSec
         ivrId queueId customerId agentId
         ivr {{ {ENDPOINT} }} queue {{ {ENDPOINT} }} customer {{ {ENDPOINT} }} agent {{ {ENDPOINT} }}
         direction outcome inSla quickDrop orderNumber"
    )
}

const PAGE_INFO: &str = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }";

const ORDER_FIELDS: [&str; 6] = [
    "START_TIMESTAMP",
    "END_TIMESTAMP",
    "ORDER_NUMBER",
    "QUEUE_DURATION",
    "SESSION_DURATION",
    "INITIAL_TALK_DURATION",
];

/// Every dialogue order: the default, and each field in each direction.
fn dialogue_orders() -> Vec<Value> {
    let mut orders = vec![Value::Null];
    for field in ORDER_FIELDS {
        for direction in ["ASC", "DESC"] {
            orders.push(json!([{ "field": field, "direction": direction }]));
        }
    }
    orders.push(json!([
        { "field": "QUEUE_DURATION", "direction": "ASC" },
        { "field": "START_TIMESTAMP", "direction": "DESC" }
    ]));
    orders
}

fn endpoint_orders() -> Vec<Value> {
    vec![
        Value::Null,
        json!([{ "field": "NAME", "direction": "ASC" }]),
        json!([{ "field": "NAME", "direction": "DESC" }]),
        json!([{ "field": "ID", "direction": "DESC" }]),
    ]
}

const ALL_ENDPOINT_IDS: [&str; 8] = [
    "ivr-1", "q-1", "q-a", "q-b", "ag-1", "ag-b", "cust-1", "nobody",
];
const ALL_DIALOGUE_IDS: [&str; 8] = ["d1", "d2", "d3", "d4", "a1", "b1", "b2", "zz"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_lookups_see_only_their_tenant() {
    let d = dialogue_fields();
    for w in worlds().await {
        let kind = w.shared.kind;
        for tenant in TENANTS {
            // The full listing, every field and relation.
            let all = w
                .check(
                    tenant,
                    &format!(
                        "{{ dialogues(first: 100) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {d} }} }} nodes {{ id }} }} }}"
                    ),
                    json!({}),
                )
                .await;
            let ids: Vec<&str> = all["data"]["dialogues"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap())
                .collect();
            let expected_ids: &[&str] = match tenant {
                "a" => &["a1", "d4", "d3", "d2", "d1"],
                _ => &["b2", "d3", "d2", "d1", "d4", "b1"],
            };
            assert_eq!(ids, expected_ids, "{kind}: tenant {tenant}");

            // Every order, with relations.
            for order in dialogue_orders() {
                w.check(
                    tenant,
                    &format!(
                        "query($o: [DialogueOrder!]) {{ dialogues(orderBy: $o, first: 3) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ id orderNumber queue {{ name }} agent {{ name }} }} }} }} }}"
                    ),
                    json!({ "o": order }),
                )
                .await;
                w.check(
                    tenant,
                    &format!(
                        "query($o: [DialogueOrder!]) {{ dialogues(orderBy: $o, last: 2) {{ {PAGE_INFO} nodes {{ id ivr {{ name }} customer {{ name }} }} }} }}"
                    ),
                    json!({ "o": order }),
                )
                .await;
            }

            // Look-ups by id, colliding or not, and by order number.
            let mut lookups = String::from("{");
            for (i, id) in ALL_DIALOGUE_IDS.iter().enumerate() {
                lookups.push_str(&format!(" x{i}: dialogue(id: \"{id}\") {{ {d} }}"));
            }
            lookups.push('}');
            let found = w.check(tenant, &lookups, json!({})).await;
            let mut numbers = String::from("{");
            for n in [1, 2, 3, 4, 10, 21, 99] {
                numbers.push_str(&format!(
                    " n{n}: dialogueByOrderNumber(orderNumber: {n}) {{ {d} }}"
                ));
            }
            numbers.push('}');
            let by_number = w.check(tenant, &numbers, json!({})).await;

            // Pinned by hand: the colliding rows are each tenant's own.
            let data = &found["data"];
            match tenant {
                "a" => {
                    assert_eq!(data["x0"]["outcome"], "ACCEPTED");
                    assert_eq!(data["x0"]["queue"]["name"], "A Sales");
                    assert_eq!(data["x0"]["queue"]["slaThresholdInSec"], json!(20.0));
                    assert_eq!(data["x0"]["agent"]["name"], "A Ann");
                    assert_eq!(data["x0"]["ivr"]["name"], "A Menu");
                    assert_eq!(data["x0"]["customer"]["name"], "A Customer");
                    assert_eq!(data["x0"]["startTimestamp"], "2026-03-02T09:00:00.000Z");
                    // A's d3 names agent ag-b, which only B has in full: A gets its own stub.
                    assert_eq!(
                        data["x2"]["agent"],
                        json!({ "id": "ag-b", "name": null, "role": "AGENT",
                                "slaThresholdInSec": null, "quickDropThresholdInSec": null })
                    );
                    assert_eq!(data["x4"]["id"], "a1");
                    assert_eq!(data["x5"], Value::Null);
                    assert_eq!(data["x6"], Value::Null);
                    assert_eq!(by_number["data"]["n10"]["id"], "a1");
                    assert_eq!(by_number["data"]["n21"], Value::Null);
                    assert_eq!(by_number["data"]["n1"]["outcome"], "ACCEPTED");
                }
                _ => {
                    assert_eq!(data["x0"]["outcome"], "ABANDONED");
                    assert_eq!(data["x0"]["direction"], "OUTBOUND");
                    assert_eq!(data["x0"]["queue"]["name"], "B Support");
                    assert_eq!(data["x0"]["queue"]["slaThresholdInSec"], json!(99.0));
                    assert_eq!(data["x0"]["startTimestamp"], "2026-03-02T10:00:00.000Z");
                    assert_eq!(data["x4"], Value::Null);
                    assert_eq!(data["x5"]["agent"]["name"], "B Only Agent");
                    assert_eq!(by_number["data"]["n10"]["id"], "b1");
                    assert_eq!(by_number["data"]["n21"]["id"], "b2");
                    assert_eq!(by_number["data"]["n1"]["outcome"], "ABANDONED");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_their_dialogues_see_only_their_tenant() {
    for w in worlds().await {
        let kind = w.shared.kind;
        for tenant in TENANTS {
            for order in endpoint_orders() {
                w.check(
                    tenant,
                    &format!(
                        "query($o: [EndpointOrder!]) {{ endpoints(orderBy: $o, first: 20) {{ totalCount {PAGE_INFO}
                            edges {{ cursor node {{ {ENDPOINT}
                                dialogues(first: 10) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ id orderNumber outcome
                                    ivr {{ name }} queue {{ name }} customer {{ name }} agent {{ name }} }} }} }} }} }} }} }}"
                    ),
                    json!({ "o": order }),
                )
                .await;
            }
            // Endpoint look-ups, colliding, foreign and unknown, with their dialogues in every order.
            for id in ALL_ENDPOINT_IDS {
                for order in dialogue_orders() {
                    w.check(
                        tenant,
                        &format!(
                            "query($id: ID!, $o: [DialogueOrder!]) {{ endpoint(id: $id) {{ {ENDPOINT}
                                dialogues(orderBy: $o) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ id startTimestamp
                                    queue {{ {ENDPOINT} dialogues {{ totalCount nodes {{ id }} }} }} agent {{ name }} }} }} }} }} }}"
                        ),
                        json!({ "id": id, "o": order }),
                    )
                    .await;
                }
            }
            // Relations of relations, several levels down.
            w.check(
                tenant,
                "{ dialogue(id: \"d1\") { queue { dialogues(first: 5) { nodes { id agent { name dialogues(first: 5) { nodes { id
                    ivr { name dialogues(first: 2) { totalCount nodes { id customer { name dialogues { totalCount } } } } } } } } } } } } }",
                json!({}),
            )
            .await;
            // Filters on endpoints.
            for filter in [
                json!({ "name": { "startsWith": "b" } }),
                json!({ "name": { "startsWith": "a" } }),
                json!({ "name": { "contains": "only" } }),
                json!({ "name": { "isNull": true } }),
                json!({ "name": { "in": ["A Sales", "B Support", "A Ann", "B Bob"] } }),
                json!({ "name": { "eq": "B Only Queue" } }),
                json!({ "name": { "ne": "A Menu" } }),
                json!({ "role": { "eq": "QUEUE" } }),
                json!({ "id": { "in": ALL_ENDPOINT_IDS } }),
                json!({ "id": { "notIn": ["q-1"] } }),
                json!({ "or": [{ "id": { "eq": "q-b" } }, { "id": { "eq": "q-a" } }] }),
                json!({ "not": { "role": { "in": ["CUSTOMER", "IVR"] } } }),
            ] {
                w.check(
                    tenant,
                    &format!(
                        "query($f: EndpointFilter) {{ endpoints(filter: $f) {{ totalCount nodes {{ {ENDPOINT} dialogues {{ totalCount }} }} }} }}"
                    ),
                    json!({ "f": filter }),
                )
                .await;
            }

            // Pinned by hand.
            let pinned = w
                .check(
                    tenant,
                    "{ endpoints { totalCount }
                       q1: endpoint(id: \"q-1\") { name dialogues { totalCount nodes { id } } }
                       qa: endpoint(id: \"q-a\") { name }
                       qb: endpoint(id: \"q-b\") { name }
                       agb: endpoint(id: \"ag-b\") { name dialogues { nodes { id } } } }",
                    json!({}),
                )
                .await;
            let expected = match tenant {
                "a" => json!({ "data": {
                    "endpoints": { "totalCount": 6 },
                    "q1": { "name": "A Sales", "dialogues": { "totalCount": 2, "nodes": [{ "id": "d2" }, { "id": "d1" }] } },
                    "qa": { "name": "A Only Queue" },
                    "qb": null,
                    "agb": { "name": null, "dialogues": { "nodes": [{ "id": "d3" }] } }
                }}),
                _ => json!({ "data": {
                    "endpoints": { "totalCount": 6 },
                    "q1": { "name": "B Support", "dialogues": { "totalCount": 3, "nodes": [{ "id": "b2" }, { "id": "d2" }, { "id": "d1" }] } },
                    "qa": null,
                    "qb": { "name": "B Only Queue" },
                    "agb": { "name": "B Only Agent", "dialogues": { "nodes": [{ "id": "b1" }] } }
                }}),
            };
            assert_eq!(pinned, expected, "{kind}: tenant {tenant}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_see_only_their_tenant() {
    let filters = [
        json!({ "id": { "in": ALL_DIALOGUE_IDS } }),
        json!({ "id": { "eq": "b1" } }),
        json!({ "id": { "eq": "a1" } }),
        json!({ "id": { "ne": "d1" } }),
        json!({ "id": { "notIn": ["d1", "d2"] } }),
        json!({ "queueId": { "eq": "q-1" } }),
        json!({ "queueId": { "in": ["q-1", "q-a", "q-b"] } }),
        json!({ "queueId": { "eq": "q-b" } }),
        json!({ "queueId": { "isNull": true } }),
        json!({ "agentId": { "eq": "ag-b" } }),
        json!({ "agentId": { "in": ["ag-1", "ag-b"] } }),
        json!({ "ivrId": { "eq": "ivr-1" } }),
        json!({ "customerId": { "eq": "cust-1" } }),
        json!({ "orderNumber": { "gte": 4 } }),
        json!({ "orderNumber": { "eq": 10 } }),
        json!({ "orderNumber": { "lte": 21, "ne": 2 } }),
        json!({ "outcome": { "eq": "ABANDONED" } }),
        json!({ "outcome": { "in": ["ACCEPTED", "IVR_DROP"] } }),
        json!({ "direction": { "eq": "OUTBOUND" } }),
        json!({ "inSla": { "eq": true } }),
        json!({ "inSla": { "isNull": true } }),
        json!({ "quickDrop": { "eq": true } }),
        json!({ "startTimestamp": { "gte": "2026-03-02T09:00:00Z", "lt": "2026-03-02T12:00:00Z" } }),
        json!({ "startDate": { "eq": "2026-03-02" } }),
        json!({ "queueDurationInSec": { "gt": 2 } }),
        json!({ "endTimestamp": { "isNull": false } }),
        json!({ "not": { "id": { "in": ["d1", "d2", "d3", "d4"] } } }),
        json!({ "or": [{ "id": { "eq": "b2" } }, { "queueId": { "eq": "q-a" } }, { "agentId": { "eq": "ag-b" } }] }),
        json!({ "and": [{ "outcome": { "ne": "IVR_DROP" } }, { "not": { "queueId": { "isNull": true } } }] }),
        // Relation filters: the endpoint ids collide, their names do not.
        json!({ "queue": { "name": { "contains": "sales" } } }),
        json!({ "queue": { "id": { "eq": "q-1" }, "name": { "contains": "support" } } }),
        json!({ "agent": { "name": { "startsWith": "b " } } }),
        json!({ "agent": { "name": { "isNull": true } } }),
        json!({ "not": { "agent": { "name": { "contains": "ann" } } } }),
        json!({ "ivr": { "name": { "endsWith": "MENU" } }, "customer": { "name": { "eq": "A Customer" } } }),
        json!({ "or": [{ "customer": { "name": { "startsWith": "b" } } }, { "queue": { "role": { "eq": "QUEUE" }, "name": { "contains": "only" } } }] }),
    ];
    for w in worlds().await {
        for tenant in TENANTS {
            for filter in &filters {
                w.check(
                    tenant,
                    "query($f: DialogueFilter) { dialogues(filter: $f) { totalCount nodes { id orderNumber queue { name } agent { name } } }
                       endpoint(id: \"q-1\") { dialogues(filter: $f) { totalCount nodes { id } } }
                       dialogueStats(from: \"2026-03-01T00:00:00Z\", to: \"2026-04-01T00:00:00Z\", filter: $f) { dialogues offered accepted } }",
                    json!({ "f": filter }),
                )
                .await;
            }
        }
    }
}

const STATS_FIELDS: &str = "periodStart periodEnd queueId agentId ivrId direction outcome
    dialogues inbound outbound offered accepted abandoned quickDrops ivrDrops acceptedInSla
    serviceLevel { value numerator denominator } abandonRate { value numerator denominator }
    answerRate { value numerator denominator }
    averageSpeedOfAnswer averageAbandonTime averageTalkTime averageIvrTime averageSessionTime
    maxQueueTime p50: queueTimePercentile(p: 0.5) p100: queueTimePercentile(p: 1)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_only_their_tenant() {
    for w in worlds().await {
        let kind = w.shared.kind;
        for tenant in TENANTS {
            for (granularity, group_by) in [
                ("TOTAL", json!([])),
                ("DAY", json!([])),
                ("HOUR", json!([])),
                ("TOTAL", json!(["QUEUE"])),
                ("TOTAL", json!(["AGENT"])),
                ("TOTAL", json!(["IVR"])),
                (
                    "DAY",
                    json!(["QUEUE", "AGENT", "IVR", "DIRECTION", "OUTCOME"]),
                ),
                ("WEEK", json!(["DIRECTION", "OUTCOME"])),
            ] {
                w.check(
                    tenant,
                    &format!(
                        "query($g: Granularity, $by: [StatsDimension!]) {{ dialogueStats(from: \"2026-03-01T00:00:00Z\", to: \"2026-04-01T00:00:00Z\",
                            timeZone: \"Europe/Amsterdam\", granularity: $g, groupBy: $by) {{ {STATS_FIELDS}
                            queue {{ {ENDPOINT} dialogues {{ totalCount }} }} agent {{ {ENDPOINT} }} ivr {{ {ENDPOINT} }} }} }}"
                    ),
                    json!({ "g": granularity, "by": group_by }),
                )
                .await;
            }
            // Totals pinned by hand.
            let totals = w
                .check(
                    tenant,
                    "{ dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") {
                        dialogues inbound outbound offered accepted abandoned quickDrops ivrDrops acceptedInSla } }",
                    json!({}),
                )
                .await;
            let expected = match tenant {
                "a" => {
                    json!({ "dialogues": 5, "inbound": 4, "outbound": 1, "offered": 3, "accepted": 2,
                               "abandoned": 1, "quickDrops": 1, "ivrDrops": 1, "acceptedInSla": 1 })
                }
                _ => {
                    json!({ "dialogues": 6, "inbound": 5, "outbound": 1, "offered": 5, "accepted": 3,
                             "abandoned": 2, "quickDrops": 1, "ivrDrops": 1, "acceptedInSla": 3 })
                }
            };
            assert_eq!(
                totals,
                json!({ "data": { "dialogueStats": [expected] } }),
                "{kind}: tenant {tenant}"
            );
            // Grouped by queue: only the tenant's queues, with the tenant's names.
            let by_queue = w
                .check(
                    tenant,
                    "{ dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\", groupBy: [QUEUE]) {
                        queueId dialogues queue { name } } }",
                    json!({}),
                )
                .await;
            let expected = match tenant {
                "a" => json!([
                    { "queueId": "q-1", "dialogues": 2, "queue": { "name": "A Sales" } },
                    { "queueId": "q-a", "dialogues": 1, "queue": { "name": "A Only Queue" } },
                    { "queueId": null, "dialogues": 2, "queue": null }
                ]),
                _ => json!([
                    { "queueId": "q-1", "dialogues": 3, "queue": { "name": "B Support" } },
                    { "queueId": "q-b", "dialogues": 2, "queue": { "name": "B Only Queue" } },
                    { "queueId": null, "dialogues": 1, "queue": null }
                ]),
            };
            assert_eq!(
                by_queue["data"]["dialogueStats"], expected,
                "{kind}: tenant {tenant}"
            );
        }
    }
}

/// Every cursor a tenant's listing hands out, for `query` (which takes `$o` and `$after`).
async fn all_cursors(w: &World, tenant: &str, list: &str, order: &Value) -> Vec<String> {
    let response = w
        .shared(
            tenant,
            &format!(
                "query($o: {}) {{ {list}(orderBy: $o, first: 100) {{ edges {{ cursor }} }} }}",
                order_type(list)
            ),
            json!({ "o": order }),
        )
        .await;
    response["data"][list]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().to_string())
        .collect()
}

fn order_type(list: &str) -> &'static str {
    if list == "endpoints" {
        "[EndpointOrder!]"
    } else {
        "[DialogueOrder!]"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_of_the_other_tenant_only_ever_page_through_ones_own_rows() {
    for w in worlds().await {
        for (tenant, other) in [("a", "b"), ("b", "a")] {
            for order in dialogue_orders() {
                let cursors = all_cursors(&w, other, "dialogues", &order).await;
                assert!(cursors.len() >= 5, "{cursors:?}");
                for cursor in &cursors {
                    for (size_arg, cursor_arg) in [("first", "after"), ("last", "before")] {
                        let vars = json!({ "o": order, "c": cursor });
                        w.check(
                            tenant,
                            &format!(
                                "query($o: [DialogueOrder!], $c: String) {{
                                    dialogues(orderBy: $o, {size_arg}: 50, {cursor_arg}: $c) {{ totalCount {PAGE_INFO}
                                        edges {{ cursor node {{ id orderNumber queue {{ name }} agent {{ name }} }} }} }}
                                    q1: endpoint(id: \"q-1\") {{ dialogues(orderBy: $o, {size_arg}: 50, {cursor_arg}: $c) {{ {PAGE_INFO} nodes {{ id }} }} }}
                                    c1: endpoint(id: \"cust-1\") {{ dialogues(orderBy: $o, {size_arg}: 2, {cursor_arg}: $c) {{ {PAGE_INFO} nodes {{ id }} }} }} }}"
                            ),
                            vars,
                        )
                        .await;
                    }
                }
            }
            for order in endpoint_orders() {
                let cursors = all_cursors(&w, other, "endpoints", &order).await;
                assert!(cursors.len() >= 6, "{cursors:?}");
                for cursor in &cursors {
                    for (size_arg, cursor_arg) in [("first", "after"), ("last", "before")] {
                        w.check(
                            tenant,
                            &format!(
                                "query($o: [EndpointOrder!], $c: String) {{
                                    endpoints(orderBy: $o, {size_arg}: 50, {cursor_arg}: $c) {{ totalCount {PAGE_INFO}
                                        edges {{ cursor node {{ {ENDPOINT} dialogues {{ totalCount }} }} }} }} }}"
                            ),
                            json!({ "o": order, "c": cursor }),
                        )
                        .await;
                    }
                }
            }
        }
        // A forged cursor naming another tenant's row by its exact sort values (here B's b1,
        // which ties with A's d1 on startTimestamp) pages A's rows only.
        let forged = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                json!({ "o": "START_TIMESTAMP:D,ID:D", "k": [1772442000000i64, "b1"] }).to_string(),
            )
        };
        let page = w
            .check(
                "a",
                "query($c: String) { before: dialogues(last: 10, before: $c) { nodes { id } } after: dialogues(first: 10, after: $c) { nodes { id } } }",
                json!({ "c": forged }),
            )
            .await;
        assert_eq!(
            page,
            json!({ "data": {
                "before": { "nodes": [{ "id": "a1" }, { "id": "d4" }, { "id": "d3" }, { "id": "d2" }, { "id": "d1" }] },
                "after": { "nodes": [] }
            }}),
            "{}",
            w.shared.kind
        );
    }
}

#[tokio::test]
async fn a_key_cannot_choose_another_tenant() {
    // Nothing in a request can move it to another tenant: not a header, not an extension,
    // not a variable the schema does not know.
    for w in worlds().await {
        let key_a = &w.keys[0];
        for (name, value) in [
            ("x-tenant", "b"),
            ("x-insights-tenant", "b"),
            ("tenant", "b"),
        ] {
            let response = w
                .server
                .post_with_key(
                    key_a,
                    json!({
                        "query": "{ dialogues { totalCount } d1: dialogue(id: \"d1\") { outcome } }",
                        "extensions": { "tenant": "b" },
                        "variables": { "tenant": "b" }
                    }),
                )
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body,
                json!({ "data": { "dialogues": { "totalCount": 5 }, "d1": { "outcome": "ACCEPTED" } } }),
                "{}",
                w.shared.kind
            );
        }
        // Two keys of two tenants on one connection, interleaved.
        for round in 0..3 {
            for (i, expected) in [(0usize, 5), (1, 6)] {
                let (_, body) = w
                    .server
                    .query(&w.keys[i], "{ dialogues { totalCount } }", json!({}))
                    .await;
                assert_eq!(
                    body["data"]["dialogues"]["totalCount"], expected,
                    "round {round}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /odata (API.md §8): the same oracle over HTTP with each tenant's key. Every OData answer of the
// shared database must be byte for byte the answer of the tenant's own database (with the service
// root written as BASE), on every page its next links lead to.

/// `path?k=v&...`, percent-encoded as a client would.
fn odata_url(path: &str, options: &[(&str, &str)]) -> String {
    if options.is_empty() {
        return path.to_string();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in options {
        query.append_pair(k, v);
    }
    format!("{path}?{}", query.finish())
}

/// OData servers with pages of 2 (so every listing has next links): over the shared database,
/// with each tenant's key, and over each tenant's own database, with a key of its own.
struct OData<'a> {
    w: &'a World,
    shared: Server,
    alone: Vec<(Server, String)>,
}

/// One OData answer: status, body with the service root written as `BASE`, raw next link.
struct Answer {
    status: StatusCode,
    body: String,
    next: Option<String>,
}

fn small_pages() -> ServeConfig {
    ServeConfig {
        no_auth: false,
        rate_limit: 1_000_000,
        odata_page_size: 2,
        ..ServeConfig::default()
    }
}

impl<'a> OData<'a> {
    async fn new(w: &'a World) -> OData<'a> {
        let shared = Server::start(&w.shared.db, small_pages()).await;
        let mut alone = Vec::new();
        for (i, tenant) in TENANTS.iter().enumerate() {
            let key = common::key(&w.alone[i].db, tenant, "read").await;
            alone.push((Server::start(&w.alone[i].db, small_pages()).await, key));
        }
        OData { w, shared, alone }
    }

    async fn get(server: &Server, key: &str, link: &str) -> Answer {
        let target = if link.starts_with("http") {
            link.to_string()
        } else {
            server.url(link)
        };
        let response = server
            .client
            .get(&target)
            .bearer_auth(key)
            .send()
            .await
            .expect("the request is sent");
        let status = response.status();
        assert_eq!(
            response
                .headers()
                .get("OData-Version")
                .and_then(|v| v.to_str().ok()),
            Some("4.0"),
            "{target}"
        );
        let text = response.text().await.expect("body");
        let next = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["@odata.nextLink"].as_str().map(str::to_string));
        Answer {
            status,
            body: text.replace(&format!("{}/odata", server.base), "BASE"),
            next,
        }
    }

    /// GETs `path` as `tenant` in the shared database and in the tenant's own, following next
    /// links to the end; both must answer the same on every page, and nothing of the other
    /// tenant. Returns every page's status and body.
    async fn check(&self, tenant: &str, path: &str) -> Vec<(StatusCode, String)> {
        let i = World::tenant_index(tenant);
        let kind = self.w.shared.kind;
        let (alone, alone_key) = &self.alone[i];
        let mut links = (path.to_string(), path.to_string());
        let mut pages = Vec::new();
        loop {
            let shared = Self::get(&self.shared, &self.w.keys[i], &links.0).await;
            let own = Self::get(alone, alone_key, &links.1).await;
            assert_eq!(
                (shared.status, &shared.body),
                (own.status, &own.body),
                "{kind}: tenant {tenant}, OData page {} of {path}",
                pages.len() + 1
            );
            if let Ok(json) = serde_json::from_str::<Value>(&shared.body) {
                assert_nothing_foreign(tenant, path, &json);
            } else if path.starts_with("/odata/$metadata") {
                assert!(shared.body.starts_with("<?xml"), "{kind}: {}", shared.body);
            } else {
                assert!(
                    shared.body.parse::<u64>().is_ok(),
                    "{kind}: {path}: neither JSON nor a count: {}",
                    shared.body
                );
            }
            pages.push((shared.status, shared.body));
            assert!(pages.len() < 20, "{kind}: {path}: the walk does not end");
            match (shared.next, own.next) {
                (Some(a), Some(b)) => links = (a, b),
                (None, None) => return pages,
                (a, b) => panic!("{kind}: {path}: next links differ: {a:?} / {b:?}"),
            }
        }
    }

    /// The ids of every page of `path`, walked as `tenant` (checked as by [`OData::check`]).
    async fn ids(&self, tenant: &str, path: &str) -> Vec<Vec<String>> {
        self.check(tenant, path)
            .await
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, StatusCode::OK, "{path}: {body}");
                let body: Value = serde_json::from_str(body).unwrap();
                body["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }

    /// Every next link the shared server hands `tenant` for `path`.
    async fn next_links(&self, tenant: &str, path: &str) -> Vec<String> {
        let i = World::tenant_index(tenant);
        let mut links = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(link) = next {
            let answer = Self::get(&self.shared, &self.w.keys[i], &link).await;
            assert_eq!(answer.status, StatusCode::OK, "{link}: {}", answer.body);
            next = answer.next;
            if let Some(n) = &next {
                links.push(n.clone());
            }
            assert!(links.len() < 20, "{path}: the walk does not end");
        }
        links
    }
}

/// The OData filters of `filters_see_only_their_tenant`, in OData's syntax.
const ODATA_DIALOGUE_FILTERS: [&str; 27] = [
    "id in ('d1','d2','d3','d4','a1','b1','b2','zz')",
    "id eq 'b1'",
    "id eq 'a1'",
    "id ne 'd1'",
    "not (id in ('d1','d2'))",
    "queueId eq 'q-1'",
    "queueId in ('q-1','q-a','q-b')",
    "queueId eq 'q-b'",
    "queueId eq null",
    "agentId eq 'ag-b'",
    "agentId in ('ag-1','ag-b')",
    "ivrId eq 'ivr-1'",
    "customerId eq 'cust-1'",
    "orderNumber ge 4",
    "orderNumber eq 10",
    "orderNumber le 21 and orderNumber ne 2",
    "Outcome eq 'Abandoned'",
    "Outcome in ('Accepted','IvrDrop') and direction eq 1",
    "direction eq 2",
    "InSLA eq 'True' or QuickDrop eq 'True'",
    "InSLA eq null",
    "startTimestamp ge 2026-03-02T10:00:00+01:00 and startTimestamp lt 2026-03-02T12:00:00Z",
    "startDate eq 2026-03-02",
    "queueDurationInSec gt 2",
    "endTimestamp ne null",
    "id eq 'b2' or queueId eq 'q-a' or agentId eq 'ag-b'",
    "Outcome ne 'IvrDrop' and not (queueId eq null)",
];

const ODATA_ENDPOINT_FILTERS: [&str; 12] = [
    "startswith(name,'B')",
    "startswith(name,'a')",
    "contains(name,'Only')",
    "name eq null",
    "name in ('A Sales','B Support','A Ann','B Bob')",
    "name eq 'B Only Queue'",
    "name ne 'A Menu'",
    "Role eq 'Queue'",
    "id in ('ivr-1','q-1','q-a','q-b','ag-1','ag-b','cust-1','nobody')",
    "not (id in ('q-1'))",
    "id eq 'q-b' or id eq 'q-a'",
    "not (Role in ('Customer','Ivr'))",
];

/// The `$orderby` values OData can order dialogues by (and none: by id).
const ODATA_DIALOGUE_ORDERS: [&str; 10] = [
    "",
    "startTimestamp desc",
    "StartTimestamp asc",
    "endTimestamp desc",
    "orderNumber desc",
    "queueDurationInSec asc",
    "sessionDurationInSec desc",
    "initialTalkDurationInSec asc",
    "queueDurationInSec asc,startTimestamp desc",
    "id desc",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odata_sees_only_its_tenant() {
    for w in worlds().await {
        let kind = w.shared.kind;
        let o = OData::new(&w).await;
        for tenant in TENANTS {
            // The service document and $metadata (no data, but through the key).
            o.check(tenant, "/odata").await;
            o.check(tenant, "/odata/$metadata").await;

            // Dialogues in every order, every page, with $count, $select and $expand.
            for order in ODATA_DIALOGUE_ORDERS {
                let mut options = vec![("$count", "true"), ("$expand", "*")];
                if !order.is_empty() {
                    options.push(("$orderby", order));
                }
                o.check(tenant, &odata_url("/odata/Dialogues", &options))
                    .await;
                options[1] = ("$select", "id,orderNumber,queueId,agentId");
                options.push(("$expand", "queue,agent"));
                o.check(tenant, &odata_url("/odata/Dialogues", &options))
                    .await;
            }
            for options in [
                vec![],
                vec![("$top", "3"), ("$skip", "1")],
                vec![("$skip", "4"), ("$expand", "ivr,customer")],
                vec![("$top", "0"), ("$count", "true")],
            ] {
                o.check(tenant, &odata_url("/odata/Dialogues", &options))
                    .await;
            }
            // Filters, as a listing and as a /$count.
            for filter in ODATA_DIALOGUE_FILTERS {
                o.check(
                    tenant,
                    &odata_url(
                        "/odata/Dialogues",
                        &[
                            ("$filter", filter),
                            ("$count", "true"),
                            ("$expand", "queue,agent"),
                            ("$orderby", "startTimestamp desc"),
                        ],
                    ),
                )
                .await;
                o.check(
                    tenant,
                    &odata_url("/odata/Dialogues/$count", &[("$filter", filter)]),
                )
                .await;
            }
            // Single dialogues, colliding, foreign and unknown, with and without $expand.
            for id in ALL_DIALOGUE_IDS {
                o.check(tenant, &format!("/odata/Dialogues('{id}')")).await;
                o.check(tenant, &format!("/odata/Dialogues(id='{id}')?$expand=*"))
                    .await;
            }

            // Endpoints: listings in every order, filters, counts, single entities.
            for order in ["", "name asc", "name desc", "id desc"] {
                let mut options = vec![("$count", "true")];
                if !order.is_empty() {
                    options.push(("$orderby", order));
                }
                o.check(tenant, &odata_url("/odata/Endpoints", &options))
                    .await;
            }
            for filter in ODATA_ENDPOINT_FILTERS {
                o.check(
                    tenant,
                    &odata_url(
                        "/odata/Endpoints",
                        &[("$filter", filter), ("$count", "true")],
                    ),
                )
                .await;
                o.check(
                    tenant,
                    &odata_url("/odata/Endpoints/$count", &[("$filter", filter)]),
                )
                .await;
            }
            for id in ALL_ENDPOINT_IDS {
                o.check(tenant, &format!("/odata/Endpoints('{id}')")).await;
            }

            // Queue intervals: cuts, orders, queue conditions, $expand, counts, next links.
            let march =
                "intervalStart ge 2026-03-01T00:00:00Z and intervalStart lt 2026-04-01T00:00:00Z";
            let some_queues = format!("{march} and queueId in ('q-1','q-a','q-b')");
            for options in [
                vec![("$filter", march), ("$count", "true"), ("$expand", "queue")],
                vec![
                    ("$filter", march),
                    ("interval", "1440"),
                    ("timeZone", "Europe/Amsterdam"),
                ],
                vec![
                    ("$filter", march),
                    ("interval", "60"),
                    ("$orderby", "queueId desc"),
                ],
                vec![
                    ("$filter", some_queues.as_str()),
                    ("$select", "intervalStart,queueId,offered"),
                ],
            ] {
                let pages = o
                    .check(tenant, &odata_url("/odata/QueueIntervals", &options))
                    .await;
                assert!(
                    pages[0].0 == StatusCode::OK && pages[0].1.contains("\"queueId\":\"q-"),
                    "{kind}: tenant {tenant}: {pages:?}"
                );
            }
            o.check(
                tenant,
                &odata_url("/odata/QueueIntervals/$count", &[("$filter", march)]),
            )
            .await;

            // Pinned by hand, so the oracle cannot be vacuous.
            let pages = o
                .ids(tenant, "/odata/Dialogues?$select=id&$count=true")
                .await;
            let expected: &[&[&str]] = match tenant {
                "a" => &[&["a1", "d1"], &["d2", "d3"], &["d4"]],
                _ => &[&["b1", "b2"], &["d1", "d2"], &["d3", "d4"]],
            };
            assert_eq!(pages, expected, "{kind}: tenant {tenant}");
            let (dialogues, endpoints) = match tenant {
                "a" => ("5", "6"),
                _ => ("6", "6"),
            };
            for (path, expected) in [
                ("/odata/Dialogues/$count", dialogues),
                ("/odata/Endpoints/$count", endpoints),
            ] {
                let pages = o.check(tenant, path).await;
                assert_eq!(
                    pages,
                    [(StatusCode::OK, expected.to_string())],
                    "{kind}: tenant {tenant}: {path}"
                );
            }
            let pages = o
                .check(tenant, "/odata/Dialogues('d1')?$expand=queue,agent")
                .await;
            let d1: Value = serde_json::from_str(&pages[0].1).unwrap();
            let (queue, agent) = match tenant {
                "a" => ("A Sales", json!("A Ann")),
                _ => ("B Support", Value::Null),
            };
            assert_eq!(d1["queue"]["name"], queue, "{kind}: tenant {tenant}");
            assert_eq!(d1["agent"]["name"], agent, "{kind}: tenant {tenant}");
            let foreign: &[&str] = match tenant {
                "a" => &[
                    "/odata/Dialogues('b1')",
                    "/odata/Dialogues('b2')",
                    "/odata/Endpoints('q-b')",
                ],
                _ => &["/odata/Dialogues('a1')", "/odata/Endpoints('q-a')"],
            };
            for path in foreign {
                let pages = o.check(tenant, path).await;
                assert_eq!(pages[0].0, StatusCode::NOT_FOUND, "{kind}: {path}");
            }
            let b_only = o
                .ids(
                    tenant,
                    &odata_url("/odata/Endpoints", &[("$filter", "startswith(name,'B')")]),
                )
                .await;
            let expected: &[&[&str]] = match tenant {
                "a" => &[&[]],
                _ => &[&["ag-1", "ag-b"], &["cust-1", "ivr-1"], &["q-1", "q-b"]],
            };
            assert_eq!(b_only, expected, "{kind}: tenant {tenant}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odata_next_links_of_the_other_tenant_only_page_through_ones_own_rows() {
    for w in worlds().await {
        let kind = w.shared.kind;
        let o = OData::new(&w).await;
        for (tenant, other) in [("a", "b"), ("b", "a")] {
            // Every next link the other tenant was handed, followed with this tenant's key.
            let mut walked = 0;
            for order in ODATA_DIALOGUE_ORDERS {
                let mut options = vec![("$expand", "*")];
                if !order.is_empty() {
                    options.push(("$orderby", order));
                }
                let path = odata_url("/odata/Dialogues", &options);
                for link in o.next_links(other, &path).await {
                    let relative = link
                        .strip_prefix(&o.shared.base)
                        .expect("a link of this server")
                        .to_string();
                    o.check(tenant, &relative).await;
                    walked += 1;
                }
            }
            for order in ["", "name desc", "id desc"] {
                let options: Vec<(&str, &str)> = if order.is_empty() {
                    vec![]
                } else {
                    vec![("$orderby", order)]
                };
                let path = odata_url("/odata/Endpoints", &options);
                for link in o.next_links(other, &path).await {
                    let relative = link.strip_prefix(&o.shared.base).unwrap().to_string();
                    o.check(tenant, &relative).await;
                    walked += 1;
                }
            }
            assert!(walked >= 20, "{kind}: only {walked} next links");
        }

        // Skip tokens forged to name B's b1 by its exact sort values (b1 ties with A's d1 on
        // startTimestamp): A pages through A's rows only.
        let token = |order: &str, values: Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({ "o": order, "k": values }).to_string())
        };
        let ts = 1_772_442_000_000i64;
        for (orderby, forged, expected) in [
            (
                "startTimestamp desc",
                token("START_TIMESTAMP:D,ID:D", json!([ts, "b1"])),
                vec![],
            ),
            (
                "startTimestamp asc",
                token("START_TIMESTAMP:A,ID:A", json!([ts, "b1"])),
                vec!["d1", "d2", "d3", "d4", "a1"],
            ),
            (
                "",
                token("ID:A", json!(["b1"])),
                vec!["d1", "d2", "d3", "d4"],
            ),
            (
                "",
                token("ID:A", json!(["a0"])),
                vec!["a1", "d1", "d2", "d3", "d4"],
            ),
        ] {
            let mut options = vec![("$skiptoken", forged.as_str()), ("$expand", "*")];
            if !orderby.is_empty() {
                options.push(("$orderby", orderby));
            }
            let pages = o
                .ids("a", &odata_url("/odata/Dialogues", &options))
                .await
                .concat();
            assert_eq!(pages, expected, "{kind}: {orderby} {forged}");
        }
        // An endpoint token naming B's q-b: A's endpoints after it only.
        let forged = token("ID:A", json!(["q-b"]));
        let walked = o
            .ids(
                "a",
                &odata_url("/odata/Endpoints", &[("$skiptoken", forged.as_str())]),
            )
            .await
            .concat();
        assert_eq!(
            walked,
            Vec::<String>::new(),
            "{kind}: nothing of A after q-b"
        );
        let forged = token("ID:A", json!(["ag-a"]));
        let walked = o
            .ids(
                "a",
                &odata_url("/odata/Endpoints", &[("$skiptoken", forged.as_str())]),
            )
            .await
            .concat();
        assert_eq!(
            walked,
            ["ag-b", "cust-1", "ivr-1", "q-1", "q-a"],
            "{kind}: A's own after ag-a"
        );
    }
}
