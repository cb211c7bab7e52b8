//! Keyset pagination (API.md §3): for every order, walk all pages forward (`first`/`after`) and
//! backward (`last`/`before`) three rows at a time, and check that every matching row shows up
//! exactly once, in the order this test computes on its own from the documented rule (NULLs
//! last ascending and first descending; `id` breaks ties in the direction of the last key),
//! with correct `pageInfo` on every page and the right `totalCount`.
//!
//! Fixtures: tests/fixtures/paging_*.ndjson: 25 dialogues with ties on every key but the order
//! number (some written with non-UTC offsets) and nulls in every nullable key; 22 endpoints with
//! tied and missing names.
use crate::common;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

const PAGE: usize = 3;

async fn load(db: &DatabaseConnection) {
    common::load(
        db,
        "default",
        "paging_endpoints.ndjson",
        "paging_dialogues.ndjson",
    )
    .await;
}

/// A connection page as the test sees it.
#[derive(Debug)]
struct Page {
    ids: Vec<String>,
    cursors: Vec<String>,
    total: i64,
    has_next: bool,
    has_previous: bool,
    start_cursor: Value,
    end_cursor: Value,
}

/// Which connection to page through: `dialogues` or `endpoints`.
#[derive(Clone, Copy)]
enum Conn {
    Dialogues,
    Endpoints,
}

impl Conn {
    fn query(self) -> String {
        let (field, order, filter) = match self {
            Conn::Dialogues => ("dialogues", "DialogueOrder", "DialogueFilter"),
            Conn::Endpoints => ("endpoints", "EndpointOrder", "EndpointFilter"),
        };
        format!(
            "query($first: Int, $after: String, $last: Int, $before: String,
                   $orderBy: [{order}!], $filter: {filter}) {{
                conn: {field}(first: $first, after: $after, last: $last, before: $before,
                              orderBy: $orderBy, filter: $filter) {{
                    totalCount
                    edges {{ cursor node {{ id }} }}
                    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                }}
            }}"
        )
    }
}

async fn fetch(db: &DatabaseConnection, conn: Conn, variables: Value) -> Page {
    let response = common::query(db, "default", &conn.query(), variables.clone()).await;
    assert!(response.get("errors").is_none(), "{variables}: {response}");
    let c = &response["data"]["conn"];
    let edges = c["edges"].as_array().unwrap();
    Page {
        ids: edges
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_string())
            .collect(),
        cursors: edges
            .iter()
            .map(|e| e["cursor"].as_str().unwrap().to_string())
            .collect(),
        total: c["totalCount"].as_i64().unwrap(),
        has_next: c["pageInfo"]["hasNextPage"].as_bool().unwrap(),
        has_previous: c["pageInfo"]["hasPreviousPage"].as_bool().unwrap(),
        start_cursor: c["pageInfo"]["startCursor"].clone(),
        end_cursor: c["pageInfo"]["endCursor"].clone(),
    }
}

fn check_cursors(page: &Page, what: &str) {
    assert_eq!(
        page.start_cursor,
        page.cursors.first().map_or(Value::Null, |c| json!(c)),
        "{what}: startCursor"
    );
    assert_eq!(
        page.end_cursor,
        page.cursors.last().map_or(Value::Null, |c| json!(c)),
        "{what}: endCursor"
    );
}

/// Walks `conn` in `order_by` (with `filter`) both ways and checks it against `expected`;
/// with `neighbours`, also pages from every row's cursor.
async fn walk(
    db: &DatabaseConnection,
    conn: Conn,
    order_by: &Value,
    filter: &Value,
    expected: &[String],
    label: &str,
    neighbours: bool,
) {
    let n = expected.len();

    // Forward: first/after.
    let mut seen: Vec<String> = Vec::new();
    let mut cursors: Vec<String> = Vec::new();
    let mut after = Value::Null;
    for page_no in 0.. {
        assert!(
            page_no <= n / PAGE + 1,
            "{label}: forward walk does not end"
        );
        let page = fetch(
            db,
            conn,
            json!({ "first": PAGE, "after": after, "orderBy": order_by, "filter": filter }),
        )
        .await;
        let what = format!("{label}: forward page {page_no}");
        let start = seen.len();
        let end = (start + PAGE).min(n);
        assert_eq!(page.total, n as i64, "{what}: totalCount");
        assert_eq!(page.ids, expected[start..end], "{what}: rows");
        assert_eq!(page.has_next, end < n, "{what}: hasNextPage");
        assert_eq!(page.has_previous, start > 0, "{what}: hasPreviousPage");
        check_cursors(&page, &what);
        seen.extend(page.ids);
        cursors.extend(page.cursors);
        if !page.has_next {
            break;
        }
        after = page.end_cursor;
    }
    assert_eq!(seen, expected, "{label}: forward walk");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), n, "{label}: a row showed up twice");

    // Backward: last/before, from the end.
    let mut seen_backward: Vec<String> = Vec::new();
    let mut before = Value::Null;
    for page_no in 0.. {
        assert!(
            page_no <= n / PAGE + 1,
            "{label}: backward walk does not end"
        );
        let page = fetch(
            db,
            conn,
            json!({ "last": PAGE, "before": before, "orderBy": order_by, "filter": filter }),
        )
        .await;
        let what = format!("{label}: backward page {page_no}");
        let end = n - seen_backward.len();
        let start = end.saturating_sub(PAGE);
        assert_eq!(page.total, n as i64, "{what}: totalCount");
        assert_eq!(page.ids, expected[start..end], "{what}: rows");
        assert_eq!(page.has_previous, start > 0, "{what}: hasPreviousPage");
        assert_eq!(page.has_next, end < n, "{what}: hasNextPage");
        check_cursors(&page, &what);
        let mut ids = page.ids;
        ids.extend(seen_backward);
        seen_backward = ids;
        if !page.has_previous {
            break;
        }
        before = page.start_cursor;
    }
    assert_eq!(seen_backward, expected, "{label}: backward walk");

    // From any row's cursor, either way: the neighbours in the expected order.
    if !neighbours {
        return;
    }
    for (k, cursor) in cursors.iter().enumerate() {
        let page = fetch(
            db,
            conn,
            json!({ "first": 4, "after": cursor, "orderBy": order_by, "filter": filter }),
        )
        .await;
        let what = format!("{label}: first 4 after row {k}");
        let end = (k + 5).min(n);
        assert_eq!(page.ids, expected[k + 1..end], "{what}");
        assert_eq!(page.has_next, end < n, "{what}: hasNextPage");
        assert!(page.has_previous, "{what}: hasPreviousPage");
        let page = fetch(
            db,
            conn,
            json!({ "last": 4, "before": cursor, "orderBy": order_by, "filter": filter }),
        )
        .await;
        let what = format!("{label}: last 4 before row {k}");
        let start = k.saturating_sub(4);
        assert_eq!(page.ids, expected[start..k], "{what}");
        assert_eq!(page.has_previous, start > 0, "{what}: hasPreviousPage");
        assert!(page.has_next, "{what}: hasNextPage");
    }
}

// ---- dialogues ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Dialogue {
    id: String,
    order_number: i64,
    start_ms: i64,
    end_ms: Option<i64>,
    queue: Option<f64>,
    session: Option<f64>,
    talk: Option<f64>,
    outcome: String,
    direction: String,
    agent_id: Option<String>,
    customer_id: Option<String>,
}

fn ms(value: &Value) -> Option<i64> {
    value.as_str().map(|text| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .timestamp_millis()
    })
}

async fn all_dialogues(db: &DatabaseConnection) -> Vec<Dialogue> {
    let response = common::query(
        db,
        "default",
        "{ dialogues(first: 500) { totalCount nodes {
            id orderNumber startTimestamp endTimestamp queueDurationInSec sessionDurationInSec
            initialTalkDurationInSec outcome direction agentId customerId
        } } }",
        json!({}),
    )
    .await;
    let nodes = response["data"]["dialogues"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 25, "{response}");
    nodes
        .iter()
        .map(|d| Dialogue {
            id: d["id"].as_str().unwrap().to_string(),
            order_number: d["orderNumber"].as_i64().unwrap(),
            start_ms: ms(&d["startTimestamp"]).unwrap(),
            end_ms: ms(&d["endTimestamp"]),
            queue: d["queueDurationInSec"].as_f64(),
            session: d["sessionDurationInSec"].as_f64(),
            talk: d["initialTalkDurationInSec"].as_f64(),
            outcome: d["outcome"].as_str().unwrap().to_string(),
            direction: d["direction"].as_str().unwrap().to_string(),
            agent_id: d["agentId"].as_str().map(str::to_string),
            customer_id: d["customerId"].as_str().map(str::to_string),
        })
        .collect()
}

/// A sort-key value; `None` is NULL.
fn key(d: &Dialogue, field: &str) -> Option<f64> {
    match field {
        "START_TIMESTAMP" => Some(d.start_ms as f64),
        "END_TIMESTAMP" => d.end_ms.map(|v| v as f64),
        "ORDER_NUMBER" => Some(d.order_number as f64),
        "QUEUE_DURATION" => d.queue,
        "SESSION_DURATION" => d.session,
        "INITIAL_TALK_DURATION" => d.talk,
        other => panic!("unknown field {other}"),
    }
}

/// Ascending with NULLs last; descending is the exact reverse (NULLs first).
fn compare(a: Option<f64>, b: Option<f64>, descending: bool) -> Ordering {
    let ascending = match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap(),
    };
    if descending {
        ascending.reverse()
    } else {
        ascending
    }
}

fn sort_dialogues(rows: &[Dialogue], order: &[(&str, &str)]) -> Vec<String> {
    let mut sorted = rows.to_vec();
    let last_desc = order.last().is_some_and(|(_, dir)| *dir == "DESC");
    sorted.sort_by(|a, b| {
        for (field, dir) in order {
            let o = compare(key(a, field), key(b, field), *dir == "DESC");
            if o != Ordering::Equal {
                return o;
            }
        }
        let by_id = a.id.cmp(&b.id);
        if last_desc {
            by_id.reverse()
        } else {
            by_id
        }
    });
    sorted.into_iter().map(|d| d.id).collect()
}

fn dialogue_orders() -> Vec<Vec<(&'static str, &'static str)>> {
    let fields = [
        "START_TIMESTAMP",
        "END_TIMESTAMP",
        "ORDER_NUMBER",
        "QUEUE_DURATION",
        "SESSION_DURATION",
        "INITIAL_TALK_DURATION",
    ];
    let mut orders = Vec::new();
    for field in fields {
        for dir in ["ASC", "DESC"] {
            orders.push(vec![(field, dir)]);
        }
    }
    // Several keys, mixed directions, nullable keys after the first.
    orders.push(vec![("START_TIMESTAMP", "ASC"), ("QUEUE_DURATION", "DESC")]);
    orders.push(vec![
        ("END_TIMESTAMP", "DESC"),
        ("INITIAL_TALK_DURATION", "ASC"),
    ]);
    orders.push(vec![("SESSION_DURATION", "ASC"), ("QUEUE_DURATION", "ASC")]);
    orders.push(vec![
        ("INITIAL_TALK_DURATION", "DESC"),
        ("START_TIMESTAMP", "DESC"),
        ("ORDER_NUMBER", "ASC"),
    ]);
    orders
}

fn order_json(order: &[(&str, &str)]) -> Value {
    json!(order
        .iter()
        .map(|(field, direction)| json!({ "field": field, "direction": direction }))
        .collect::<Vec<_>>())
}

/// The filter used during filtered walks, and the same rule in Rust.
fn dialogue_filter() -> Value {
    json!({ "or": [
        { "outcome": { "ne": "IVR_DROP" }, "direction": { "eq": "INBOUND" } },
        { "endTimestamp": { "isNull": true } }
    ] })
}

fn dialogue_filter_matches(d: &Dialogue) -> bool {
    (d.outcome != "IVR_DROP" && d.direction == "INBOUND") || d.end_ms.is_none()
}

#[tokio::test]
async fn dialogues_every_order_both_ways() {
    for t in common::databases().await {
        load(&t.db).await;
        let rows = all_dialogues(&t.db).await;
        let filtered: Vec<Dialogue> = rows
            .iter()
            .filter(|d| dialogue_filter_matches(d))
            .cloned()
            .collect();
        assert!(
            filtered.len() > 10 && filtered.len() < rows.len(),
            "the filter should keep some rows: {}",
            filtered.len()
        );
        for order in dialogue_orders() {
            let order_by = order_json(&order);
            let expected = sort_dialogues(&rows, &order);
            let label = format!("{}: dialogues {order_by}", t.kind);
            walk(
                &t.db,
                Conn::Dialogues,
                &order_by,
                &Value::Null,
                &expected,
                &label,
                true,
            )
            .await;

            let expected = sort_dialogues(&filtered, &order);
            let label = format!("{}: filtered dialogues {order_by}", t.kind);
            walk(
                &t.db,
                Conn::Dialogues,
                &order_by,
                &dialogue_filter(),
                &expected,
                &label,
                false,
            )
            .await;
        }
    }
}

/// A relation filter for filtered walks, and the same rule in Rust over the endpoint fixture:
/// the agent's name starts with "ALE" (any case; `pa-7` is a stub without a name), or the
/// customer has no name (absent customers would match too: there are none).
fn relation_filter() -> Value {
    json!({ "or": [
        { "agent": { "name": { "startsWith": "ALE" } } },
        { "not": { "customer": { "name": { "isNull": false } } } }
    ] })
}

fn relation_filter_matches(d: &Dialogue, names: &HashMap<String, Option<String>>) -> bool {
    let name = |id: &Option<String>| id.as_ref().and_then(|id| names.get(id).cloned().flatten());
    name(&d.agent_id).is_some_and(|n| n.to_lowercase().starts_with("ale"))
        || name(&d.customer_id).is_none()
}

#[tokio::test]
async fn relation_filtered_dialogues_every_order_both_ways() {
    let names: HashMap<String, Option<String>> =
        std::fs::read_to_string(common::fixture("paging_endpoints.ndjson"))
            .unwrap()
            .lines()
            .map(|line| {
                let e: Value = serde_json::from_str(line).unwrap();
                let name = e["name"].as_str().map(str::to_string);
                (e["id"].as_str().unwrap().to_string(), name)
            })
            .collect();
    for t in common::databases().await {
        load(&t.db).await;
        let rows = all_dialogues(&t.db).await;
        let filtered: Vec<Dialogue> = rows
            .iter()
            .filter(|d| relation_filter_matches(d, &names))
            .cloned()
            .collect();
        assert!(
            filtered.len() > 8 && filtered.len() < rows.len(),
            "the filter should keep some rows: {}",
            filtered.len()
        );
        for (i, order) in dialogue_orders().into_iter().enumerate() {
            let order_by = order_json(&order);
            let expected = sort_dialogues(&filtered, &order);
            let label = format!("{}: relation-filtered dialogues {order_by}", t.kind);
            walk(
                &t.db,
                Conn::Dialogues,
                &order_by,
                &relation_filter(),
                &expected,
                &label,
                i == 0,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn the_fixture_has_ties_and_nulls_on_every_key() {
    // Guards the point of the walks above: every nullable key has NULLs, every key but the
    // order number has ties.
    for t in common::databases().await {
        load(&t.db).await;
        let rows = all_dialogues(&t.db).await;
        for field in [
            "START_TIMESTAMP",
            "END_TIMESTAMP",
            "QUEUE_DURATION",
            "SESSION_DURATION",
            "INITIAL_TALK_DURATION",
        ] {
            let values: Vec<Option<f64>> = rows.iter().map(|d| key(d, field)).collect();
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            let distinct: HashSet<u64> = present.iter().map(|v| v.to_bits()).collect();
            assert!(distinct.len() < present.len(), "{field}: no ties");
            if field != "START_TIMESTAMP" {
                assert!(values.iter().any(Option::is_none), "{field}: no NULLs");
            }
        }
    }
}

#[tokio::test]
async fn page_edges() {
    for t in common::databases().await {
        load(&t.db).await;
        let order_by = order_json(&[("ORDER_NUMBER", "ASC")]);
        // No page arguments: the default page of 50 holds all 25.
        let page = fetch(&t.db, Conn::Dialogues, json!({ "orderBy": order_by })).await;
        assert_eq!(page.ids.len(), 25, "{}", t.kind);
        assert!(!page.has_next && !page.has_previous, "{}", t.kind);
        // After the last row: an empty page that knows what precedes it.
        let last = page.cursors.last().unwrap().clone();
        let page = fetch(
            &t.db,
            Conn::Dialogues,
            json!({ "first": 3, "after": last, "orderBy": order_by }),
        )
        .await;
        assert!(page.ids.is_empty(), "{}: {page:?}", t.kind);
        assert!(!page.has_next && page.has_previous, "{}: {page:?}", t.kind);
        assert_eq!(
            (page.start_cursor, page.end_cursor),
            (Value::Null, Value::Null)
        );
        // A filter nothing matches.
        let page = fetch(
            &t.db,
            Conn::Dialogues,
            json!({ "first": 3, "filter": { "id": { "eq": "nope" } } }),
        )
        .await;
        assert_eq!((page.ids.len(), page.total), (0, 0), "{}", t.kind);
        assert!(!page.has_next && !page.has_previous, "{}", t.kind);
        // first: 500 (the maximum) is fine.
        let page = fetch(&t.db, Conn::Dialogues, json!({ "first": 500 })).await;
        assert_eq!(page.ids.len(), 25, "{}", t.kind);
    }
}

// ---- endpoints ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Endpoint {
    id: String,
    name: Option<String>,
    role: String,
}

async fn all_endpoints(db: &DatabaseConnection) -> Vec<Endpoint> {
    let response = common::query(
        db,
        "default",
        "{ endpoints(first: 500) { nodes { id name role } } }",
        json!({}),
    )
    .await;
    let nodes = response["data"]["endpoints"]["nodes"].as_array().unwrap();
    // 21 from the file and pa-7, which only a dialogue names.
    assert_eq!(nodes.len(), 22, "{response}");
    nodes
        .iter()
        .map(|e| Endpoint {
            id: e["id"].as_str().unwrap().to_string(),
            name: e["name"].as_str().map(str::to_string),
            role: e["role"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn sort_endpoints(rows: &[Endpoint], order: &[(&str, &str)]) -> Vec<String> {
    let mut sorted = rows.to_vec();
    let last_desc = order.last().is_some_and(|(_, dir)| *dir == "DESC");
    sorted.sort_by(|a, b| {
        for (field, dir) in order {
            let ascending = match *field {
                // Code-point order, NULLs last.
                "NAME" => match (&a.name, &b.name) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) => x.cmp(y),
                },
                "ID" => a.id.cmp(&b.id),
                other => panic!("unknown field {other}"),
            };
            let o = if *dir == "DESC" {
                ascending.reverse()
            } else {
                ascending
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        let by_id = a.id.cmp(&b.id);
        if last_desc {
            by_id.reverse()
        } else {
            by_id
        }
    });
    sorted.into_iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn endpoints_by_name_and_id_both_ways() {
    let orders: Vec<Vec<(&str, &str)>> = vec![
        vec![("NAME", "ASC")],
        vec![("NAME", "DESC")],
        vec![("ID", "ASC")],
        vec![("ID", "DESC")],
        vec![("NAME", "DESC"), ("ID", "ASC")],
        vec![("NAME", "ASC"), ("ID", "DESC")],
    ];
    for t in common::databases().await {
        load(&t.db).await;
        let rows = all_endpoints(&t.db).await;
        assert!(rows.iter().filter(|e| e.name.is_none()).count() >= 3);
        let filter = json!({ "role": { "in": ["AGENT", "CUSTOMER"] }, "name": { "ne": "Alex" } });
        let filtered: Vec<Endpoint> = rows
            .iter()
            .filter(|e| {
                (e.role == "AGENT" || e.role == "CUSTOMER") && e.name.as_deref() != Some("Alex")
            })
            .cloned()
            .collect();
        for order in &orders {
            let order_by = order_json(order);
            let expected = sort_endpoints(&rows, order);
            let label = format!("{}: endpoints {order_by}", t.kind);
            walk(
                &t.db,
                Conn::Endpoints,
                &order_by,
                &Value::Null,
                &expected,
                &label,
                true,
            )
            .await;

            let expected = sort_endpoints(&filtered, order);
            let label = format!("{}: filtered endpoints {order_by}", t.kind);
            walk(
                &t.db,
                Conn::Endpoints,
                &order_by,
                &filter,
                &expected,
                &label,
                false,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn first_defaults_to_50() {
    for t in common::databases().await {
        insights_core::demo::write_to_db(
            &t.db,
            "default",
            insights_core::demo::DemoOptions::new(60),
        )
        .await
        .expect("demo data");
        for conn in [Conn::Dialogues, Conn::Endpoints] {
            let page = fetch(&t.db, conn, json!({})).await;
            assert_eq!(page.ids.len(), 50, "{}", t.kind);
            assert!(page.has_next && !page.has_previous, "{}: {page:?}", t.kind);
            let page = fetch(&t.db, conn, json!({ "before": page.end_cursor })).await;
            assert_eq!(page.ids.len(), 49, "{}: last defaults to 50 too", t.kind);
        }
    }
}
