//! Relation filters (API.md §3): `DialogueFilter.ivr`, `queue`, `customer` and `agent` take an
//! `EndpointFilter` and match the dialogues whose endpoint of that relation, in the same tenant,
//! matches it. Checked through the real schema against an evaluator written here, in Rust, over
//! the fixture files themselves (tests/fixtures/read_*.ndjson for tenant `default`,
//! other_tenant_*.ndjson for `other`, which reuses the endpoint ids `q-sales`, `ag-ann` and
//! `cust-1` with other names): every case and its complement (`not`), in both tenants, as lists,
//! `totalCount`s, pages walked with cursors, `Endpoint.dialogues` and `dialogueStats` (from the
//! pre-aggregates where a grain holds the relation, else from the rows). A few answers are also
//! pinned by hand, so the evaluator cannot be vacuous. The subscriptions are at the end.
use crate::common;
use crate::live;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use entity::Outcome;
use insights::app::config::ServeConfig;
use insights_core::ingest::Kind;
use live::{commit, dialogue, in_process, Client, DEADLINE};
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

const TENANTS: [(&str, &str, &str); 2] = [
    ("default", "read_endpoints.ndjson", "read_dialogues.ndjson"),
    (
        "other",
        "other_tenant_endpoints.ndjson",
        "other_tenant_dialogues.ndjson",
    ),
];

async fn load(db: &DatabaseConnection) {
    for (tenant, endpoints, dialogues) in TENANTS {
        for (kind, file) in [(Kind::Endpoints, endpoints), (Kind::Dialogues, dialogues)] {
            common::import(db, kind, &common::fixture(file), tenant)
                .await
                .unwrap_or_else(|e| panic!("import {file}: {e:?}"));
        }
    }
}

// ---- the evaluator ----------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Endpoint {
    id: String,
    name: Option<String>,
    /// IVR, QUEUE, CUSTOMER or AGENT.
    role: String,
}

#[derive(Debug, Clone)]
struct Dialogue {
    id: String,
    order_number: i64,
    /// INBOUND or OUTBOUND.
    direction: String,
    /// ACCEPTED, ABANDONED or IVR_DROP.
    outcome: String,
    /// The endpoint ids by relation name (ivr, queue, customer, agent).
    ids: HashMap<&'static str, String>,
}

/// One tenant's rows, read from its fixture files.
struct Tenant {
    dialogues: Vec<Dialogue>,
    endpoints: HashMap<String, Endpoint>,
}

const RELATIONS: [(&str, &str, &str); 4] = [
    ("ivr", "ivrId", "IVR"),
    ("queue", "queueId", "QUEUE"),
    ("customer", "customerId", "CUSTOMER"),
    ("agent", "agentId", "AGENT"),
];

fn lines(file: &str) -> Vec<Value> {
    std::fs::read_to_string(common::fixture(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tenant(index: usize) -> Tenant {
    let (_, endpoints_file, dialogues_file) = TENANTS[index];
    let mut endpoints: HashMap<String, Endpoint> = lines(endpoints_file)
        .into_iter()
        .map(|e| {
            let id = e["id"].as_str().unwrap().to_string();
            let endpoint = Endpoint {
                id: id.clone(),
                name: e["name"].as_str().map(str::to_string),
                role: e["Role"].as_str().unwrap().to_uppercase(),
            };
            (id, endpoint)
        })
        .collect();
    let dialogues = lines(dialogues_file)
        .into_iter()
        .map(|d| {
            let mut ids = HashMap::new();
            for (relation, column, role) in RELATIONS {
                if let Some(id) = d[column].as_str() {
                    ids.insert(relation, id.to_string());
                    // An endpoint only named by a dialogue exists, without a name.
                    endpoints.entry(id.to_string()).or_insert(Endpoint {
                        id: id.to_string(),
                        name: None,
                        role: role.to_string(),
                    });
                }
            }
            Dialogue {
                id: d["id"].as_str().unwrap().to_string(),
                order_number: d["orderNumber"].as_i64().unwrap(),
                direction: match &d["direction"] {
                    Value::Number(n) if n.as_i64() == Some(2) => "OUTBOUND",
                    Value::String(s) if s.eq_ignore_ascii_case("outbound") => "OUTBOUND",
                    _ => "INBOUND",
                }
                .to_string(),
                outcome: match d["Outcome"].as_str().unwrap() {
                    "Accepted" => "ACCEPTED",
                    "Abandoned" => "ABANDONED",
                    _ => "IVR_DROP",
                }
                .to_string(),
                ids,
            }
        })
        .collect();
    Tenant {
        dialogues,
        endpoints,
    }
}

fn list(value: &Value) -> Vec<&Value> {
    value.as_array().unwrap().iter().collect()
}

/// Every operator of `ops` holds for `value` (API.md §3: positive operators need the value
/// present, `ne`/`notIn` accept it absent; the text operators ignore case).
fn operators_hold(ops: &Value, value: Option<&str>) -> bool {
    let lower = |s: &str| s.to_lowercase();
    ops.as_object()
        .unwrap()
        .iter()
        .all(|(op, arg)| match op.as_str() {
            "eq" => value == arg.as_str(),
            "ne" => value != arg.as_str(),
            "in" => value.is_some_and(|v| list(arg).iter().any(|a| a.as_str() == Some(v))),
            "notIn" => !value.is_some_and(|v| list(arg).iter().any(|a| a.as_str() == Some(v))),
            "isNull" => value.is_none() == arg.as_bool().unwrap(),
            "startsWith" => {
                value.is_some_and(|v| lower(v).starts_with(&lower(arg.as_str().unwrap())))
            }
            "endsWith" => value.is_some_and(|v| lower(v).ends_with(&lower(arg.as_str().unwrap()))),
            "contains" => value.is_some_and(|v| lower(v).contains(&lower(arg.as_str().unwrap()))),
            other => panic!("the evaluator has no operator {other}"),
        })
}

fn endpoint_matches(filter: &Value, e: &Endpoint) -> bool {
    filter
        .as_object()
        .unwrap()
        .iter()
        .all(|(key, arg)| match key.as_str() {
            "id" => operators_hold(arg, Some(&e.id)),
            "name" => operators_hold(arg, e.name.as_deref()),
            "role" => operators_hold(arg, Some(&e.role)),
            "and" => list(arg).iter().all(|f| endpoint_matches(f, e)),
            "or" => list(arg).iter().any(|f| endpoint_matches(f, e)),
            "not" => !endpoint_matches(arg, e),
            other => panic!("the evaluator has no endpoint field {other}"),
        })
}

impl Tenant {
    fn matches(&self, filter: &Value, d: &Dialogue) -> bool {
        filter.as_object().unwrap().iter().all(|(key, arg)| {
            if let Some((relation, _, _)) = RELATIONS.iter().find(|(r, _, _)| r == key) {
                // Without that relation, never (so its complement, always).
                return d
                    .ids
                    .get(relation)
                    .is_some_and(|id| endpoint_matches(arg, &self.endpoints[id]));
            }
            if let Some((relation, _, _)) = RELATIONS.iter().find(|(_, c, _)| c == key) {
                return operators_hold(arg, d.ids.get(relation).map(String::as_str));
            }
            match key.as_str() {
                "outcome" => operators_hold(arg, Some(&d.outcome)),
                "direction" => operators_hold(arg, Some(&d.direction)),
                "orderNumber" => arg.as_object().unwrap().iter().all(|(op, n)| {
                    let n = n.as_i64().unwrap();
                    match op.as_str() {
                        "gte" => d.order_number >= n,
                        "lt" => d.order_number < n,
                        other => panic!("the evaluator has no orderNumber {other}"),
                    }
                }),
                "and" => list(arg).iter().all(|f| self.matches(f, d)),
                "or" => list(arg).iter().any(|f| self.matches(f, d)),
                "not" => !self.matches(arg, d),
                other => panic!("the evaluator has no dialogue field {other}"),
            }
        })
    }

    /// The matching dialogues by order number.
    fn matching(&self, filter: &Value) -> Vec<&Dialogue> {
        let mut rows: Vec<&Dialogue> = self
            .dialogues
            .iter()
            .filter(|d| self.matches(filter, d))
            .collect();
        rows.sort_by_key(|d| d.order_number);
        rows
    }

    fn ids(&self, filter: &Value) -> Vec<String> {
        self.matching(filter)
            .into_iter()
            .map(|d| d.id.clone())
            .collect()
    }
}

// ---- the cases --------------------------------------------------------------------------------

/// Each relation with name operators (case-insensitive), id, role and and/or/not inside, and
/// combined with other filters and with each other. Each also runs wrapped in `not`.
fn cases() -> Vec<Value> {
    vec![
        json!({ "agent": { "name": { "contains": "ann" } } }),
        json!({ "agent": { "name": { "contains": "ANN" } } }),
        json!({ "agent": { "name": { "contains": "_" } } }),
        json!({ "agent": { "name": { "contains": "\\" } } }),
        json!({ "agent": { "name": { "startsWith": "zoë" } } }),
        json!({ "agent": { "name": { "endsWith": "ärzte" } } }),
        json!({ "agent": { "name": { "contains": "other" } } }),
        json!({ "agent": { "id": { "eq": "ag-bob" } } }),
        json!({ "agent": { "id": { "eq": "ag-ann" } } }),
        json!({ "agent": { "id": { "in": ["ag-bob", "ag-zoe", "nobody"] } } }),
        json!({ "agent": { "id": { "ne": "ag-bob" } } }),
        json!({ "agent": { "role": { "eq": "AGENT" } } }),
        json!({ "agent": { "role": { "eq": "QUEUE" } } }),
        json!({ "agent": {} }),
        json!({ "agent": { "not": { "name": { "contains": "ann" } } } }),
        json!({ "agent": { "or": [{ "name": { "startsWith": "bob" } }, { "id": { "eq": "ag-zoe" } }] } }),
        json!({ "agent": { "and": [{ "name": { "contains": "ann" } }, { "name": { "contains": "_" } }] } }),
        json!({ "queue": { "name": { "contains": "vip" } } }),
        json!({ "queue": { "name": { "contains": "%" } } }),
        json!({ "queue": { "name": { "startsWith": "1000" } } }),
        json!({ "queue": { "name": { "eq": "Sales NL" } } }),
        json!({ "queue": { "name": { "eq": "sales nl" } } }),
        json!({ "queue": { "name": { "in": ["Sales NL", "1000 VIP"] } } }),
        json!({ "queue": { "name": { "ne": "Sales NL" } } }),
        json!({ "queue": { "name": { "contains": "other" } } }),
        json!({ "queue": { "id": { "eq": "q-sales" } } }),
        json!({ "queue": { "role": { "in": ["QUEUE", "IVR"] } } }),
        json!({ "customer": { "name": { "isNull": true } } }),
        json!({ "customer": { "name": { "isNull": false } } }),
        json!({ "customer": { "name": { "contains": "jan" } } }),
        json!({ "customer": { "name": { "startsWith": "+31" } } }),
        json!({ "customer": { "id": { "notIn": ["cust-1", "cust-2"] } } }),
        json!({ "customer": { "id": { "eq": "cust-1" } } }),
        json!({ "customer": { "role": { "eq": "CUSTOMER" } } }),
        json!({ "ivr": { "id": { "eq": "ivr-1" } } }),
        json!({ "ivr": { "name": { "endsWith": "MENU" } } }),
        json!({ "ivr": { "role": { "eq": "IVR" } } }),
        json!({ "ivr": { "not": { "role": { "eq": "IVR" } } } }),
        // combined with other fields, and/or/not, and each other
        json!({ "queue": { "name": { "contains": "vip" } }, "outcome": { "eq": "ACCEPTED" } }),
        json!({ "or": [{ "agent": { "name": { "startsWith": "bob" } } }, { "customer": { "name": { "startsWith": "+31" } } }] }),
        json!({ "not": { "agent": {} } }),
        json!({ "agentId": { "isNull": false }, "not": { "agent": { "name": { "contains": "ann" } } } }),
        json!({ "and": [{ "ivr": { "id": { "eq": "ivr-1" } } }, { "not": { "queue": { "name": { "contains": "sales" } } } }] }),
        json!({
            "ivr": { "id": { "eq": "ivr-1" } },
            "queue": { "name": { "eq": "Sales NL" } },
            "customer": { "name": { "contains": "jan" } },
            "agent": { "name": { "contains": "ann" } }
        }),
        json!({ "orderNumber": { "gte": 105 }, "agent": { "name": { "isNull": false } } }),
        json!({ "direction": { "eq": "INBOUND" }, "or": [{ "queue": { "id": { "eq": "q-vip" } } }, { "customer": { "name": { "isNull": true } } }] }),
    ]
}

#[test]
fn the_evaluator_is_not_vacuous() {
    let default = tenant(0);
    let other = tenant(1);
    let ids = |t: &Tenant, f: Value| t.ids(&f);
    assert_eq!(
        ids(
            &default,
            json!({ "agent": { "name": { "contains": "ANN" } } })
        ),
        ["d1", "d7"]
    );
    assert_eq!(
        ids(
            &default,
            json!({ "customer": { "name": { "contains": "jan" } } })
        ),
        ["d1", "d4", "d8"]
    );
    assert_eq!(
        ids(
            &default,
            json!({ "agent": { "name": { "contains": "_" } } })
        ),
        ["d1"]
    );
    assert_eq!(
        ids(
            &default,
            json!({ "customer": { "name": { "isNull": true } } })
        ),
        ["d2", "d5", "d6"]
    );
    assert_eq!(
        ids(
            &default,
            json!({ "not": { "agent": { "name": { "contains": "ann" } } } })
        ),
        ["d2", "d3", "d4", "d5", "d6", "d8"]
    );
    assert_eq!(
        ids(
            &default,
            json!({ "agent": { "not": { "name": { "contains": "ann" } } } })
        ),
        ["d4", "d5", "d8"]
    );
    // The ids both tenants use, each with its own names.
    assert!(ids(
        &default,
        json!({ "agent": { "name": { "contains": "other" } } })
    )
    .is_empty());
    assert_eq!(
        ids(
            &other,
            json!({ "agent": { "name": { "contains": "other" } } })
        ),
        ["x9"]
    );
    assert!(ids(
        &other,
        json!({ "queue": { "name": { "contains": "sales" } } })
    )
    .is_empty());
    assert_eq!(
        ids(&other, json!({ "customer": { "id": { "eq": "cust-1" } } })),
        ["x9"]
    );
    // Every relation's cases select some rows and leave some out, in the default tenant.
    for (relation, _, _) in RELATIONS {
        let counts: Vec<usize> = cases()
            .iter()
            .filter(|f| f.get(relation).is_some())
            .map(|f| default.ids(f).len())
            .collect();
        assert!(
            counts.iter().any(|n| *n > 0 && *n < 8),
            "{relation}: {counts:?}"
        );
    }
}

fn ids_of(response: &Value, path: &[&str]) -> Vec<String> {
    let mut at = &response["data"];
    for key in path {
        at = &at[key];
    }
    at["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

const FILTERED: &str = "query($filter: DialogueFilter) {
    dialogues(filter: $filter, first: 100, orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) {
        totalCount nodes { id }
    }
}";

#[tokio::test]
async fn each_relation_matches_its_endpoint_in_its_own_tenant_and_not_the_complement() {
    for t in common::databases().await {
        load(&t.db).await;
        let mut failures = Vec::new();
        for (index, (name, _, _)) in TENANTS.iter().enumerate() {
            let tenant = tenant(index);
            for case in cases() {
                for filter in [case.clone(), json!({ "not": case })] {
                    let expected = tenant.ids(&filter);
                    let response =
                        common::query(&t.db, name, FILTERED, json!({ "filter": filter })).await;
                    let got = response["data"]["dialogues"]["totalCount"].as_u64();
                    if response.get("errors").is_some()
                        || ids_of(&response, &["dialogues"]) != expected
                        || got != Some(expected.len() as u64)
                    {
                        failures.push(format!(
                            "{name}: {filter}\n  expected {expected:?}\n  got {response}"
                        ));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} case(s) wrong:\n{}",
            t.kind,
            failures.len(),
            failures.join("\n")
        );
    }
}

#[tokio::test]
async fn relation_filters_as_literals_in_the_document() {
    for t in common::databases().await {
        load(&t.db).await;
        let response = common::query(
            &t.db,
            "default",
            r#"{ dialogues(
                    filter: { agent: { name: { contains: "jan" } } or: [{ customer: { name: { contains: "jan" } } }] }
                    orderBy: [{ field: ORDER_NUMBER, direction: ASC }]
                ) { totalCount nodes { id agent { name } customer { name } } } }"#,
            json!({}),
        )
        .await;
        // No agent's name holds "jan": nothing, whatever the customer.
        assert_eq!(
            response,
            json!({ "data": { "dialogues": { "totalCount": 0, "nodes": [] } } }),
            "{}",
            t.kind
        );
        let response = common::query(
            &t.db,
            "default",
            r#"{ dialogues(
                    filter: { customer: { name: { contains: "JAN" } }, agent: { role: { eq: AGENT } } }
                    orderBy: [{ field: ORDER_NUMBER, direction: ASC }]
                ) { totalCount nodes { id agent { name } customer { name } } } }"#,
            json!({}),
        )
        .await;
        assert_eq!(
            response,
            json!({ "data": { "dialogues": { "totalCount": 3, "nodes": [
                { "id": "d1", "agent": { "name": "Ann_Lee" }, "customer": { "name": "Jan de Vries" } },
                { "id": "d4", "agent": { "name": "Bob Smith" }, "customer": { "name": "Jan de Vries" } },
                { "id": "d8", "agent": { "name": "back\\slash" }, "customer": { "name": "Jan de Vries" } }
            ] } } }),
            "{}",
            t.kind
        );
    }
}

const PAGE: &str =
    "query($filter: DialogueFilter, $first: Int, $after: String, $last: Int, $before: String) {
    dialogues(filter: $filter, first: $first, after: $after, last: $last, before: $before,
              orderBy: [{ field: ORDER_NUMBER, direction: DESC }]) {
        totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

#[tokio::test]
async fn relation_filtered_pages_walk_with_cursors_both_ways() {
    for t in common::databases().await {
        load(&t.db).await;
        let tenant = tenant(0);
        let mut walked = 0;
        for case in cases() {
            for filter in [case.clone(), json!({ "not": case })] {
                let mut expected = tenant.ids(&filter);
                expected.reverse();
                if expected.len() < 3 {
                    continue;
                }
                walked += 1;
                let label = format!("{}: {filter}", t.kind);
                // Forward, two at a time.
                let (mut seen, mut after) = (Vec::new(), Value::Null);
                loop {
                    let r = common::query(
                        &t.db,
                        "default",
                        PAGE,
                        json!({ "filter": filter, "first": 2, "after": after }),
                    )
                    .await;
                    let c = &r["data"]["dialogues"];
                    assert_eq!(c["totalCount"], expected.len(), "{label}: {r}");
                    assert_eq!(
                        c["pageInfo"]["hasPreviousPage"],
                        !seen.is_empty(),
                        "{label}"
                    );
                    seen.extend(ids_of(&r, &["dialogues"]));
                    assert_eq!(
                        c["pageInfo"]["hasNextPage"],
                        seen.len() < expected.len(),
                        "{label}"
                    );
                    if seen.len() >= expected.len() {
                        break;
                    }
                    after = c["pageInfo"]["endCursor"].clone();
                }
                assert_eq!(seen, expected, "{label}: forward");
                // Backward, two at a time.
                let (mut seen, mut before) = (Vec::<String>::new(), Value::Null);
                loop {
                    let r = common::query(
                        &t.db,
                        "default",
                        PAGE,
                        json!({ "filter": filter, "last": 2, "before": before }),
                    )
                    .await;
                    let c = &r["data"]["dialogues"];
                    let mut page = ids_of(&r, &["dialogues"]);
                    page.extend(seen);
                    seen = page;
                    assert_eq!(
                        c["pageInfo"]["hasPreviousPage"],
                        seen.len() < expected.len(),
                        "{label}"
                    );
                    if seen.len() >= expected.len() {
                        break;
                    }
                    before = c["pageInfo"]["startCursor"].clone();
                }
                assert_eq!(seen, expected, "{label}: backward");
            }
        }
        assert!(walked > 20, "{walked}");
    }
}

#[tokio::test]
async fn endpoint_dialogues_take_relation_filters() {
    for t in common::databases().await {
        load(&t.db).await;
        for (index, (name, _, _)) in TENANTS.iter().enumerate() {
            let tenant = tenant(index);
            let filters = [
                json!({ "agent": { "name": { "contains": "ann" } } }),
                json!({ "not": { "queue": { "name": { "contains": "vip" } } } }),
                json!({ "customer": { "name": { "isNull": false } }, "ivr": { "id": { "eq": "ivr-1" } } }),
                json!({ "agent": { "name": { "contains": "other" } } }),
            ];
            for endpoint in tenant.endpoints.values() {
                let (relation, _, _) = RELATIONS
                    .iter()
                    .find(|(_, _, role)| *role == endpoint.role)
                    .unwrap();
                for filter in &filters {
                    let own =
                        json!({ "and": [{ *relation: { "id": { "eq": endpoint.id } } }, filter] });
                    let expected = tenant.ids(&own);
                    let response = common::query(
                        &t.db,
                        name,
                        "query($id: ID!, $f: DialogueFilter) { endpoint(id: $id) {
                            dialogues(filter: $f, orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) { totalCount nodes { id } } } }",
                        json!({ "id": endpoint.id, "f": filter }),
                    )
                    .await;
                    assert_eq!(
                        ids_of(&response, &["endpoint", "dialogues"]),
                        expected,
                        "{}, {name}: {} {filter}: {response}",
                        t.kind,
                        endpoint.id
                    );
                    assert_eq!(
                        response["data"]["endpoint"]["dialogues"]["totalCount"],
                        expected.len(),
                        "{}",
                        t.kind
                    );
                }
            }
        }
    }
}

/// The stats of one group: dialogues, inbound, outbound, ivrDrops.
type Counts = [i64; 4];

fn counts(
    rows: &[&Dialogue],
    key: impl Fn(&Dialogue) -> Option<String>,
) -> BTreeMap<Option<String>, Counts> {
    let mut groups: BTreeMap<Option<String>, Counts> = BTreeMap::new();
    for d in rows {
        let c = groups.entry(key(d)).or_default();
        c[0] += 1;
        c[1] += i64::from(d.direction == "INBOUND");
        c[2] += i64::from(d.direction == "OUTBOUND");
        c[3] += i64::from(d.outcome == "IVR_DROP");
    }
    groups
}

#[tokio::test]
async fn dialogue_stats_take_relation_filters() {
    // Ungrouped and grouped by queue, agent and ivr: the grains keyed by a filter's relation
    // answer some (an agent filter by agent, a queue filter by queue), the rows the rest.
    for t in common::databases().await {
        load(&t.db).await;
        for (index, (name, _, _)) in TENANTS.iter().enumerate() {
            let tenant = tenant(index);
            for case in cases() {
                for filter in [case.clone(), json!({ "not": case })] {
                    let rows = tenant.matching(&filter);
                    for (group_by, column, relation) in [
                        ("[]", "queueId", None),
                        ("[QUEUE]", "queueId", Some("queue")),
                        ("[AGENT]", "agentId", Some("agent")),
                        ("[IVR]", "ivrId", Some("ivr")),
                    ] {
                        let expected =
                            counts(&rows, |d| relation.and_then(|r| d.ids.get(r).cloned()));
                        let response = common::query(
                            &t.db,
                            name,
                            &format!(
                                "query($f: DialogueFilter) {{ dialogueStats(from: \"2026-03-01T00:00:00Z\",
                                    to: \"2026-04-01T00:00:00Z\", groupBy: {group_by}, filter: $f) {{
                                    {column} dialogues inbound outbound ivrDrops }} }}"
                            ),
                            json!({ "f": filter }),
                        )
                        .await;
                        let got: BTreeMap<Option<String>, Counts> = response["data"]
                            ["dialogueStats"]
                            .as_array()
                            .unwrap_or_else(|| panic!("{response}"))
                            .iter()
                            .map(|s| {
                                let key = relation.and(s[column].as_str().map(str::to_string));
                                let n = |m: &str| s[m].as_i64().unwrap();
                                (
                                    key,
                                    [n("dialogues"), n("inbound"), n("outbound"), n("ivrDrops")],
                                )
                            })
                            .collect();
                        assert_eq!(
                            got, expected,
                            "{}, {name}: groupBy {group_by}, {filter}",
                            t.kind
                        );
                    }
                }
            }
        }
    }
}

// ---- subscriptions ----------------------------------------------------------------------------

/// 2026-03-02T10:00:00Z and the day's bounds.
const T0: i64 = 1_772_445_600_000;

fn handled_by(mut d: entity::dialogue::Model, agent: Option<&str>) -> entity::dialogue::Model {
    d.agent_id = agent.map(str::to_string);
    d
}

#[tokio::test]
async fn subscriptions_take_relation_filters() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        // Both tenants have an agent `ag-ann`, with other names.
        for (tenant, endpoints, _) in TENANTS {
            common::import(&db.db, Kind::Endpoints, &common::fixture(endpoints), tenant)
                .await
                .unwrap();
        }
        let acme = common::scope(&db.db, "default").await.tenant_id();
        let key = common::key(&db.db, "default", "read").await;
        let announcer = hub.announcer().clone();

        let ingested = "subscription ($filter: DialogueFilter) { dialogueIngested(filter: $filter) { id agentId } }";
        let mut ann = Client::ready(&base, Some(&key)).await;
        ann.subscribe(
            "ann",
            ingested,
            json!({ "filter": { "agent": { "name": { "startsWith": "ANN" } } } }),
        )
        .await;
        let mut not_ann = Client::ready(&base, Some(&key)).await;
        not_ann
            .subscribe(
                "not",
                ingested,
                json!({ "filter": { "not": { "agent": { "name": { "startsWith": "ann" } } } } }),
            )
            .await;
        let mut foreign = Client::ready(&base, Some(&key)).await;
        foreign
            .subscribe(
                "foreign",
                ingested,
                json!({ "filter": { "agent": { "name": { "contains": "other tenant" } } } }),
            )
            .await;
        let mut stats = Client::ready(&base, Some(&key)).await;
        stats
            .subscribe(
                "stats",
                "subscription ($f: DialogueFilter) { dialogueStatsChanged(from: \"2026-03-02T00:00:00Z\",
                    to: \"2026-03-03T00:00:00Z\", filter: $f) { dialogues } }",
                json!({ "f": { "agent": { "name": { "contains": "bob" } } } }),
            )
            .await;
        assert_eq!(
            stats.next_data("stats").await,
            json!({ "dialogueStatsChanged": [] }),
            "{}",
            db.kind
        );
        let until = tokio::time::Instant::now() + DEADLINE;
        while hub.open_subscriptions() < 4 {
            assert!(
                tokio::time::Instant::now() < until,
                "subscriptions did not open"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        commit(
            &db.db,
            Some(&announcer),
            &[
                handled_by(
                    dialogue(acme, "s-1", 1, T0, Outcome::Accepted),
                    Some("ag-ann"),
                ),
                handled_by(
                    dialogue(acme, "s-2", 2, T0 + 1_000, Outcome::Accepted),
                    Some("ag-anna"),
                ),
                handled_by(
                    dialogue(acme, "s-3", 3, T0 + 2_000, Outcome::Accepted),
                    Some("ag-zoe"),
                ),
                handled_by(
                    dialogue(acme, "s-4", 4, T0 + 3_000, Outcome::Abandoned),
                    None,
                ),
            ],
        )
        .await;
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(ann.next_data("ann").await["dialogueIngested"]["id"].clone());
        }
        assert_eq!(got, [json!("s-1"), json!("s-2")], "{}", db.kind);
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(not_ann.next_data("not").await["dialogueIngested"]["id"].clone());
        }
        // The dialogue without an agent matches the negation.
        assert_eq!(got, [json!("s-3"), json!("s-4")], "{}", db.kind);
        // No change in bob's dialogues: no new stats.
        stats.silent(Duration::from_millis(2_500)).await;

        commit(
            &db.db,
            Some(&announcer),
            &[handled_by(
                dialogue(acme, "s-5", 5, T0 + 4_000, Outcome::Accepted),
                Some("ag-bob"),
            )],
        )
        .await;
        assert_eq!(
            stats.next_data("stats").await,
            json!({ "dialogueStatsChanged": [{ "dialogues": 1 }] }),
            "{}",
            db.kind
        );
        assert_eq!(
            not_ann.next_data("not").await["dialogueIngested"]["id"],
            "s-5",
            "{}",
            db.kind
        );
        // `ag-ann` of the other tenant is "Other tenant's agent": never this tenant's s-1.
        foreign.silent(Duration::from_millis(500)).await;
        ann.silent(Duration::from_millis(200)).await;
    }
}
