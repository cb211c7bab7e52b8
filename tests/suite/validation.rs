//! Validation and limits on top of async-graphql's (issue 8): strings are not enum values,
//! depth and complexity say how far over their limits a query is, connections without a page
//! size cost the configured default, and the keys of `data` follow the request.
use crate::common;

use insights::graphql::{self, ApiLimits, Guards};
use insights_core::query::PageLimits;
use serde_json::{json, Value};

async fn loaded() -> Vec<common::TestDb> {
    let all = common::databases().await;
    for t in &all {
        common::load(
            &t.db,
            "default",
            "read_endpoints.ndjson",
            "read_dialogues.ndjson",
        )
        .await;
    }
    all
}

fn message(response: &Value) -> &str {
    response["errors"][0]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn strings_are_not_enum_values() {
    for t in loaded().await {
        for (query, names) in [
            (
                r#"{ dialogueStats(from: "2026-01-01T00:00:00Z", to: "2026-12-01T00:00:00Z", granularity: "DAY") { dialogues } }"#,
                [
                    "argument `granularity` of `Query.dialogueStats`",
                    "`Granularity`",
                ],
            ),
            (
                r#"{ dialogues(filter: { outcome: { eq: "ABANDONED" } }) { totalCount } }"#,
                [
                    "`filter.outcome.eq` in argument `filter` of `Query.dialogues`",
                    "`Outcome`",
                ],
            ),
            (
                r#"{ dialogues(filter: { outcome: { in: [ACCEPTED, "ABANDONED"] } }) { totalCount } }"#,
                ["`filter.outcome.in`", "`Outcome`"],
            ),
            (
                r#"{ dialogues(filter: { or: [{ outcome: { notIn: "ABANDONED" } }] }) { totalCount } }"#,
                ["`filter.or.outcome.notIn`", "`Outcome`"],
            ),
            (
                r#"{ dialogues(orderBy: [{ field: "START_TIMESTAMP", direction: DESC }]) { totalCount } }"#,
                ["`orderBy.field`", "`DialogueOrderField`"],
            ),
            (
                r#"{ dialogues(orderBy: { field: START_TIMESTAMP, direction: "DESC" }) { totalCount } }"#,
                ["`orderBy.direction`", "`OrderDirection`"],
            ),
            (
                r#"query($o: Outcome = "ABANDONED") { dialogues(filter: { outcome: { eq: $o } }) { totalCount } }"#,
                ["the default value of `$o`", "`Outcome`"],
            ),
            (
                r#"query($f: DialogueFilter = { outcome: { eq: "ABANDONED" } }) { dialogues(filter: $f) { totalCount } }"#,
                ["`$f.outcome.eq` in the default value of `$f`", "`Outcome`"],
            ),
            (
                r#"query { ...F } fragment F on Query { endpoints(filter: { role: { eq: "QUEUE" } }) { totalCount } }"#,
                [
                    "`filter.role.eq` in argument `filter` of `Query.endpoints`",
                    "`EndpointRole`",
                ],
            ),
            (
                r#"{ endpoint(id: "q-sales") { dialogues(filter: { outcome: { eq: "ABANDONED" } }) { totalCount } } }"#,
                ["of `Endpoint.dialogues`", "`Outcome`"],
            ),
        ] {
            let response = common::query(&t.db, "default", query, json!({})).await;
            assert_eq!(
                common::error_codes(&response),
                ["GRAPHQL_VALIDATION_FAILED"],
                "{}: {query}: {response}",
                t.kind
            );
            assert!(
                response.get("data").is_none_or(Value::is_null),
                "{response}"
            );
            for name in names {
                assert!(
                    message(&response).contains(name),
                    "{}: {query}: the message should name {name}: {response}",
                    t.kind
                );
            }
            assert!(
                response["errors"][0]["locations"][0]["line"].is_number(),
                "{}: {query}: no location: {response}",
                t.kind
            );
        }

        // Enum values written as enum values, and strings in JSON variables (JSON has no
        // enums), keep working and mean the same.
        let literal = common::query(
            &t.db,
            "default",
            "{ dialogues(filter: { outcome: { eq: ABANDONED } }) { totalCount } }",
            json!({}),
        )
        .await;
        assert!(literal.get("errors").is_none(), "{literal}");
        let count = &literal["data"]["dialogues"]["totalCount"];
        assert!(count.as_i64().is_some_and(|n| n > 0), "{literal}");
        for (query, variables) in [
            (
                "query($o: Outcome) { dialogues(filter: { outcome: { eq: $o } }) { totalCount } }",
                json!({ "o": "ABANDONED" }),
            ),
            (
                "query($o: [Outcome!]) { dialogues(filter: { outcome: { in: $o } }) { totalCount } }",
                json!({ "o": ["ABANDONED"] }),
            ),
            (
                "query($f: DialogueFilter) { dialogues(filter: $f) { totalCount } }",
                json!({ "f": { "outcome": { "eq": "ABANDONED" } } }),
            ),
            (
                "query($o: Outcome = ABANDONED) { dialogues(filter: { outcome: { eq: $o } }) { totalCount } }",
                json!({}),
            ),
        ] {
            let response = common::query(&t.db, "default", query, variables).await;
            assert!(response.get("errors").is_none(), "{}: {query}: {response}", t.kind);
            assert_eq!(&response["data"]["dialogues"]["totalCount"], count, "{query}");
        }
        // A string where a string is expected is fine.
        let response = common::query(
            &t.db,
            "default",
            r#"{ dialogueStats(from: "2026-01-01T00:00:00Z", to: "2026-12-01T00:00:00Z", timeZone: "Europe/Amsterdam", granularity: DAY) { dialogues } }"#,
            json!({}),
        )
        .await;
        assert!(response.get("errors").is_none(), "{response}");
    }
}

#[tokio::test]
async fn too_complex_says_the_cost_the_limit_and_where() {
    let t = common::sqlite().await;
    let query = "{ dialogues(first: 200) { totalCount nodes { id agent { dialogues(first: 300) { nodes { id } } } } } }";
    let response = common::query(&t.db, "default", query, json!({})).await;
    assert_eq!(
        common::error_codes(&response),
        ["QUERY_TOO_COMPLEX"],
        "{response}"
    );
    let text = message(&response);
    assert!(text.contains("it costs 121001,"), "{text}");
    assert!(text.contains("more than the limit of 50000"), "{text}");
    assert!(
        text.contains("300 items of `dialogues` at line 1, column 57"),
        "{text}"
    );
    assert!(
        text.contains("ask for smaller pages or fewer fields"),
        "{text}"
    );
    assert_eq!(
        response["errors"][0]["locations"],
        json!([{ "line": 1, "column": 57 }]),
        "{response}"
    );
}

#[tokio::test]
async fn selections_nested_past_the_recursion_limit_are_query_too_complex() {
    let t = common::sqlite().await;
    // 40 levels of selections: within the document nesting limit (64), past async-graphql's
    // recursion limit (32), which is checked before depth (16).
    let mut selection = String::from("id");
    for _ in 0..13 {
        selection = format!("dialogues {{ nodes {{ agent {{ {selection} }} }} }}");
    }
    let query = format!("{{ {selection} }}");
    let response = common::query(&t.db, "default", &query, json!({})).await;
    assert_eq!(
        common::error_codes(&response),
        ["QUERY_TOO_COMPLEX"],
        "{response}"
    );
    assert!(
        message(&response).contains("39 levels deep, more than the limit of 32"),
        "{response}"
    );
    // Depth 19 over the default 16 names both.
    let mut selection = String::from("id");
    for _ in 0..6 {
        selection = format!("dialogues(first: 1) {{ nodes {{ agent {{ {selection} }} }} }}");
    }
    let response = common::query(&t.db, "default", &format!("{{ {selection} }}"), json!({})).await;
    assert_eq!(
        common::error_codes(&response),
        ["QUERY_TOO_COMPLEX"],
        "{response}"
    );
    assert!(
        message(&response).contains("19 levels, more than the limit of 16"),
        "{response}"
    );
}

fn schema(default_page_size: usize, max_complexity: usize) -> graphql::InsightsSchema {
    graphql::build_schema(
        ApiLimits {
            page: PageLimits {
                default_size: default_page_size,
                max_size: 500,
            },
            ..ApiLimits::default()
        },
        Guards {
            max_complexity,
            ..Guards::default()
        },
    )
}

#[tokio::test]
async fn connections_without_a_page_size_cost_the_configured_default() {
    let t = common::sqlite().await;
    // `dialogues { nodes { id } }` costs page × 2 + 1: 21 with pages of 10, 101 with 50.
    let small = schema(10, 100);
    let large = schema(50, 100);
    let query = "{ dialogues { nodes { id } } }";
    // Both in one process, validated at the same time: each schema uses its own default.
    for _ in 0..20 {
        let (a, b) = tokio::join!(
            common::query_with(&small, &t.db, "default", query, json!({})),
            common::query_with(&large, &t.db, "default", query, json!({})),
        );
        assert!(a.get("errors").is_none(), "default 10: {a}");
        assert_eq!(
            common::error_codes(&b),
            ["QUERY_TOO_COMPLEX"],
            "default 50: {b}"
        );
        assert!(
            message(&b).contains("it costs 101, more than the limit of 100"),
            "{b}"
        );
        assert!(message(&b).contains("50 items of `dialogues`"), "{b}");
    }
    // An explicit page size counts as given, whatever the default.
    let response = common::query_with(
        &large,
        &t.db,
        "default",
        "{ dialogues(first: 10) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert!(response.get("errors").is_none(), "{response}");
    let response = common::query_with(
        &small,
        &t.db,
        "default",
        "{ dialogues(first: 50) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert!(message(&response).contains("it costs 101"), "{response}");
}

#[tokio::test]
async fn data_keys_follow_the_request_through_aliases_and_fragments() {
    for t in loaded().await {
        let schema = common::schema();
        let query = r#"query Q {
            z: dialogues(first: 1, orderBy: { field: ORDER_NUMBER, direction: ASC }) {
                ...Counted
                nodes { orderNumber ... on Dialogue { id } queue { ...Named } }
            }
            a: endpoints(first: 1) { totalCount }
            m: dialogue(id: "d1") { id }
        }
        fragment Counted on DialogueConnection { totalCount pageInfo { hasNextPage } }
        fragment Named on Endpoint { name id }"#;
        let request = graphql::scoped(
            async_graphql::Request::new(query),
            common::scope(&t.db, "default").await,
        );
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let text = serde_json::to_string(&response).unwrap();
        assert_eq!(
            common::keys_in_order(&text),
            [
                "data",
                "z",
                "totalCount",
                "pageInfo",
                "hasNextPage",
                "nodes",
                "orderNumber",
                "id",
                "queue",
                "name",
                "id",
                "a",
                "totalCount",
                "m",
                "id"
            ],
            "{}: {text}",
            t.kind
        );
    }
}

/// A date-time without an offset (the first thing a frontend sends, from a date picker) is
/// refused with what would be accepted, literal or variable alike.
#[tokio::test]
async fn a_date_time_without_an_offset_is_told_what_is_expected() {
    let hint = "an RFC 3339 date-time with an offset, e.g. 2026-03-01T00:00:00Z";
    for t in common::databases().await {
        for (query, variables, names) in [
            (
                r#"{ dialogueStats(from: "2026-03-01T00:00:00", to: "2026-03-02T00:00:00Z") { dialogues } }"#,
                json!({}),
                vec!["\"from\"", "expected type \"DateTime\"", hint],
            ),
            (
                r#"{ dialogues(filter: { startTimestamp: { gte: "2026-03-01 08:00" } }) { totalCount } }"#,
                json!({}),
                vec!["startTimestamp.gte", "expected type \"DateTime\"", hint],
            ),
            (
                "query($f: DateTime) { dialogueStats(from: $f, to: \"2026-03-02T00:00:00Z\") { dialogues } }",
                json!({ "f": "2026-03-01T00:00:00" }),
                vec!["\"from\"", "expected type \"DateTime\"", hint],
            ),
            (
                r#"{ dialogues(filter: { startDate: { eq: "1.3.2026" } }) { totalCount } }"#,
                json!({}),
                vec!["expected type \"Date\"", "a date in the form YYYY-MM-DD, e.g. 2026-03-01"],
            ),
        ] {
            let response = common::query(&t.db, "default", query, variables).await;
            assert_eq!(
                common::error_codes(&response),
                ["GRAPHQL_VALIDATION_FAILED"],
                "{}: {query}: {response}",
                t.kind
            );
            for name in names {
                assert!(
                    message(&response).contains(name),
                    "{}: {query}: the message should say {name}: {response}",
                    t.kind
                );
            }
        }
    }
}
