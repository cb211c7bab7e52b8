//! Tenant isolation (API.md §6): two tenants whose ids collide — the same dialogue ids, endpoint
//! ids and order numbers, with different names, timestamps and outcomes — and every read path
//! run as each of them, through the schema and over HTTP with that tenant's key.
//!
//! The oracle: what a query answers for tenant A in the shared database must be exactly what
//! it answers in a database that holds A's data alone (and likewise for B). A few answers are
//! also pinned by hand, so the oracle cannot be vacuous.
mod common;

use common::{Server, TestDb};
use insights::config::ServeConfig;
use insights::ingest::Kind;
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
