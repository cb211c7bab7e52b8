//! A page's dialogues are resolved in one pass over their selection (src/graphql/rows.rs), with
//! the ordinary resolver as the fallback for anything unusual. The ordinary resolver is the
//! reference: the same selection, forced onto it by a field selected twice, gives the same JSON.
use crate::common;

use insights::graphql;
use insights_core::demo::{self, DemoOptions};

const ALL_FIELDS: &str = "__typename id startDate startTimestamp queueEnterTimestamp
    acceptTimestamp endTimestamp ivrDurationInSec queueDurationInSec initialTalkDurationInSec
    sessionDurationInSec ivrId queueId customerId agentId direction outcome inSla quickDrop
    orderNumber";
const ENDPOINT: &str = "{ __typename id name role slaThresholdInSec quickDropThresholdInSec }";

#[tokio::test]
async fn one_pass_rows_equal_the_ordinary_resolver() {
    for t in common::databases().await {
        demo::write_to_db(&t.db, "default", DemoOptions::new(300))
            .await
            .expect("demo data");
        let scope = common::scope(&t.db, "default").await;
        let schema = common::schema();
        // `fast` is answered by the one-pass resolver; `reference` asks for the same with one
        // field selected twice under one key (which GraphQL merges), which sends every dialogue
        // to the ordinary resolver.
        let all = format!(
            "{ALL_FIELDS} ivr {ENDPOINT} queue {ENDPOINT} customer {ENDPOINT} agent {ENDPOINT}"
        );
        let pairs = [
            (
                format!("nodes {{ {all} }}"),
                format!("nodes {{ {} }}", all.replacen(" id ", " id id ", 1)),
            ),
            (
                "edges { cursor node { ...D q: queue { n: name ... on Endpoint { id } } } }".into(),
                "edges { cursor node { id ...D q: queue { n: name ... on Endpoint { id } } } }"
                    .into(),
            ),
            (
                "nodes { ... on Dialogue { id outcome } agent { name } customer { id } }".into(),
                "nodes { ... on Dialogue { id outcome } id agent { name } customer { id } }".into(),
            ),
        ];
        for (shape, reference_shape) in pairs {
            let fragment = if shape.contains("...D") {
                "fragment D on Dialogue { id startTimestamp queueDurationInSec inSla agent { id name } }"
            } else {
                ""
            };
            let query = format!(
                "{{ fast: dialogues(first: 120, orderBy: [{{field: QUEUE_DURATION, direction: DESC}}]) {{ {shape} }}
                   reference: dialogues(first: 120, orderBy: [{{field: QUEUE_DURATION, direction: DESC}}]) {{ {reference_shape} }} }}
                 {fragment}"
            );
            let before = graphql::rows_resolved_in_one_pass();
            let response = schema
                .execute(graphql::scoped(query.as_str(), scope.clone()))
                .await;
            // Only `fast` went through the one pass: 120 rows of it, none of `reference`.
            assert_eq!(
                graphql::rows_resolved_in_one_pass() - before,
                120,
                "{}: {shape}",
                t.kind
            );
            assert!(
                response.errors.is_empty(),
                "{}: {:?}",
                t.kind,
                response.errors
            );
            let data = response.data.into_json().unwrap();
            assert_eq!(data["fast"], data["reference"], "{}: {shape}", t.kind);
            let rows = data["fast"]
                .get("nodes")
                .or_else(|| data["fast"].get("edges"))
                .and_then(|v| v.as_array())
                .map_or(0, |a| a.len());
            assert_eq!(rows, 120, "{}: {shape}", t.kind);
            // The relations really resolved.
            assert!(
                data["fast"].to_string().contains("\"name\":\""),
                "{}",
                t.kind
            );
        }
    }
}
