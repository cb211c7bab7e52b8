use crate::common;

use insights_core::ingest::Kind;
use serde_json::json;

#[tokio::test]
async fn samples_import_and_query() {
    for t in common::databases().await {
        common::import(
            &t.db,
            Kind::Endpoints,
            &common::samples("endpoints.ndjson"),
            "default",
        )
        .await
        .unwrap();
        let summary = common::import(
            &t.db,
            Kind::Dialogues,
            &common::samples("dialogues.ndjson"),
            "default",
        )
        .await
        .unwrap();
        assert_eq!(summary.inserted, 6, "{}", t.kind);
        let response = common::query(
            &t.db,
            "default",
            "{ dialogues(first: 2) { totalCount nodes { id } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            response["data"]["dialogues"]["totalCount"], 6,
            "{}: {response}",
            t.kind
        );
    }
}
