//! Relations are batched (API.md §1: "resolved through one batched loader"): a page of
//! dialogues with all four relations costs the page, the count and one endpoint look-up, however
//! big the page. Statements are counted with sea-orm's metric callback on a connection of our own
//! to the test database.
//!
//! A connection prefetches the endpoints its page selects in one batch before its nodes
//! resolve; relying on the `DataLoader`'s 1 ms delay alone once sent the keys out in many
//! batches (6-40 statements, different from run to run), which this test guards against.
use crate::common;

use std::sync::{Arc, Mutex};

use insights::graphql;
use insights_core::db::{self, DbOptions};
use insights_core::demo::{self, DemoOptions};

const QUERY: &str = "query($n: Int) { dialogues(first: $n) {
    totalCount
    nodes { ivr { name } queue { name } customer { name } agent { name } }
} }";

#[tokio::test]
async fn a_page_with_all_relations_takes_at_most_three_statements() {
    let mut failures = Vec::new();
    for t in common::databases().await {
        let written = demo::write_to_db(&t.db, "default", DemoOptions::new(650))
            .await
            .expect("demo data");
        assert!(written >= 600, "{}: only {written} dialogues", t.kind);

        let mut metered = db::connect(&DbOptions::new(t.url.clone()))
            .await
            .expect("second connection");
        let statements: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = statements.clone();
        metered.set_metric_callback(move |info| {
            log.lock().unwrap().push(info.statement.to_string());
        });
        let scope = common::scope(&metered, "default").await;
        let schema = common::schema();

        for n in [10, 100, 500] {
            statements.lock().unwrap().clear();
            let request = async_graphql::Request::new(QUERY).variables(
                async_graphql::Variables::from_json(serde_json::json!({ "n": n })),
            );
            let response = schema
                .execute(graphql::scoped(request, scope.clone()))
                .await;
            let response = serde_json::to_value(&response).unwrap();
            assert!(response.get("errors").is_none(), "{}: {response}", t.kind);
            let connection = &response["data"]["dialogues"];
            assert_eq!(connection["totalCount"], written, "{}", t.kind);
            let nodes = connection["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), n, "{}", t.kind);
            // The relations really resolved (every demo dialogue has a named customer or
            // agent somewhere on the page).
            let named = |slot: &str| nodes.iter().filter(|d| d[slot]["name"].is_string()).count();
            assert!(
                named("agent") > 0 && named("queue") > 0,
                "{}: {response}",
                t.kind
            );
            assert!(
                nodes.iter().all(|d| !d["customer"].is_null()),
                "{}: every demo dialogue has a customer",
                t.kind
            );

            let statements = statements.lock().unwrap();
            if statements.len() > 3 {
                failures.push(format!(
                    "{}: first: {n} took {} statements:\n{}",
                    t.kind,
                    statements.len(),
                    statements
                        .iter()
                        .map(|s| format!("  {}", s.chars().take(120).collect::<String>()))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The read path's floor: a page of dialogues with the endpoints it shows is one statement, a
/// single dialogue with all four endpoints is one statement, and `totalCount` adds exactly one.
#[tokio::test]
async fn pages_and_single_dialogues_are_one_statement_each() {
    const PAGE: &str = "{ dialogues(first: 100) { pageInfo { hasNextPage endCursor }
        nodes { id startTimestamp queue { id name } agent { id name } } } }";
    const COUNTED: &str = "{ dialogues(first: 100) { totalCount
        edges { cursor node { id queue { id name } agent { id name } } } } }";
    const DEEP: &str = "query($after: String) { dialogues(first: 100, after: $after,
        filter: { outcome: { eq: ABANDONED } }) { nodes { id queue { name } agent { name } } } }";
    const ONE: &str = "query($id: ID!) { dialogue(id: $id) { id outcome
        ivr { name } queue { name } customer { name } agent { name } } }";
    for t in common::databases().await {
        demo::write_to_db(&t.db, "default", DemoOptions::new(400))
            .await
            .expect("demo data");
        let mut metered = db::connect(&DbOptions::new(t.url.clone()))
            .await
            .expect("second connection");
        let statements: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = statements.clone();
        metered.set_metric_callback(move |info| {
            log.lock().unwrap().push(info.statement.to_string());
        });
        let scope = common::scope(&metered, "default").await;
        let schema = common::schema();
        let run = |query: &'static str, variables: serde_json::Value| {
            let schema = schema.clone();
            let scope = scope.clone();
            let statements = statements.clone();
            async move {
                statements.lock().unwrap().clear();
                let request = async_graphql::Request::new(query)
                    .variables(async_graphql::Variables::from_json(variables));
                let response = schema
                    .execute(graphql::scoped(request, scope))
                    .await
                    .into_result()
                    .unwrap_or_else(|e| panic!("{query}: {e:?}"));
                let taken = statements.lock().unwrap().clone();
                (response.data.into_json().unwrap(), taken)
            }
        };

        let (page, taken) = run(PAGE, serde_json::json!({})).await;
        let nodes = page["dialogues"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 100, "{}", t.kind);
        assert!(
            nodes.iter().any(|d| d["agent"]["name"].is_string())
                && nodes
                    .iter()
                    .all(|d| d["queue"].is_null() || d["queue"]["id"].is_string()),
            "{}: {page}",
            t.kind
        );
        assert_eq!(taken.len(), 1, "{}: {taken:#?}", t.kind);

        // Ids without their endpoints: nothing to look up.
        let (ids, taken) = run(
            "{ dialogues(first: 50) { nodes { id queueId agentId } edges { node { customerId } } } }",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(ids["dialogues"]["nodes"].as_array().unwrap().len(), 50);
        assert_eq!(taken.len(), 1, "{}: {taken:#?}", t.kind);

        let (counted, taken) = run(COUNTED, serde_json::json!({})).await;
        assert_eq!(counted["dialogues"]["totalCount"], 400, "{}", t.kind);
        assert_eq!(taken.len(), 2, "{}: {taken:#?}", t.kind);

        let cursor = page["dialogues"]["pageInfo"]["endCursor"].clone();
        let (deep, taken) = run(DEEP, serde_json::json!({ "after": cursor })).await;
        assert!(
            !deep["dialogues"]["nodes"].as_array().unwrap().is_empty(),
            "{}",
            t.kind
        );
        assert_eq!(taken.len(), 1, "{}: {taken:#?}", t.kind);

        let id = nodes[0]["id"].clone();
        let (one, taken) = run(ONE, serde_json::json!({ "id": id })).await;
        assert_eq!(one["dialogue"]["id"], id, "{}", t.kind);
        // Every demo dialogue has a customer: the joined endpoint really came back.
        assert!(one["dialogue"]["customer"].is_object(), "{}: {one}", t.kind);
        assert_eq!(taken.len(), 1, "{}: {taken:#?}", t.kind);
    }
}
