//! Relations are batched (API.md §1: "resolved through one batched loader"): a page of
//! dialogues with all four relations costs the page, the count and one endpoint look-up, however
//! big the page. Statements are counted with sea-orm's metric callback on a connection of our own
//! to the test database.
//!
//! A connection prefetches the endpoints its page selects in one batch before its nodes
//! resolve; relying on the `DataLoader`'s 1 ms delay alone once sent the keys out in many
//! batches (6-40 statements, different from run to run), which this test guards against.
mod common;

use std::sync::{Arc, Mutex};

use insights::db::{self, DbOptions};
use insights::demo::{self, DemoOptions};
use insights::graphql;

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
