//! OData v4 at /odata (API.md §8) over a real socket, on SQLite and on PostgreSQL when
//! `TEST_POSTGRES_URL` is set: the vendor's examples each compared with the same question asked
//! through GraphQL on the same data, `$filter` semantics (precedence, `''`, offsets, names matched
//! case-insensitively, nulls), orders with ties, next-link walks, `$count`, `$select`, `$expand`,
//! errors in OData's format, hostile options, and tenant isolation.
use crate::common;

use std::io::Write;

use common::{Server, TestDb};
use insights::app::config::ServeConfig;
use insights_core::ingest::Kind;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `path?k=v&...` with the values percent-encoded as a client would.
fn url(path: &str, options: &[(&str, &str)]) -> String {
    if options.is_empty() {
        return path.to_string();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in options {
        query.append_pair(k, v);
    }
    format!("{path}?{}", query.finish())
}

async fn import_text(db: &sea_orm::DatabaseConnection, kind: Kind, text: &str, tenant: &str) {
    let mut file = tempfile::Builder::new()
        .suffix(".ndjson")
        .tempfile()
        .expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    common::import(db, kind, file.path(), tenant)
        .await
        .unwrap_or_else(|e| panic!("import: {e:?}"));
}

/// The read fixtures in the `default` tenant, plus an endpoint with a quote in its id and name.
async fn load(db: &sea_orm::DatabaseConnection) {
    common::load(
        db,
        "default",
        "read_endpoints.ndjson",
        "read_dialogues.ndjson",
    )
    .await;
    import_text(
        db,
        Kind::Endpoints,
        r#"{"id": "ag-o'brien", "Role": "Agent", "name": "O'Brien"}"#,
        "default",
    )
    .await;
}

async fn servers(config: ServeConfig) -> (Vec<TestDb>, Vec<Server>) {
    let config = ServeConfig {
        no_auth: true,
        ..config
    };
    let dbs = common::databases().await;
    let mut servers = Vec::new();
    for t in &dbs {
        load(&t.db).await;
        servers.push(Server::start(&t.db, config.clone()).await);
    }
    (dbs, servers)
}

/// Status, content type and body text of a GET (with `key` when given); every answer carries
/// `OData-Version: 4.0`.
async fn fetch(server: &Server, path: &str, key: Option<&str>) -> (StatusCode, String, String) {
    let target = if path.starts_with("http") {
        path.to_string()
    } else {
        server.url(path)
    };
    let mut request = server.client.get(target);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("the request is sent");
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get("OData-Version")
            .and_then(|v| v.to_str().ok()),
        Some("4.0"),
        "{path}: {status}"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, response.text().await.unwrap())
}

async fn get(server: &Server, path: &str) -> (StatusCode, Value) {
    get_with(server, path, None).await
}

async fn get_with(server: &Server, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let (status, _, text) = fetch(server, path, key).await;
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, body)
}

/// The ids of a 200 answer's `value`.
async fn odata_ids(server: &Server, path: &str) -> Vec<String> {
    let (status, body) = get(server, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    ids(&body["value"])
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

/// The ids GraphQL answers for `dialogues(filter, orderBy)` in the `default` tenant.
async fn graphql_dialogues(t: &TestDb, filter: Value, order: Value) -> Vec<String> {
    let response = common::query(
        &t.db,
        "default",
        "query($f: DialogueFilter, $o: [DialogueOrder!]) { dialogues(first: 500, filter: $f, orderBy: $o) { nodes { id } } }",
        json!({ "f": filter, "o": order }),
    )
    .await;
    assert!(response.get("errors").is_none(), "{response}");
    ids(&response["data"]["dialogues"]["nodes"])
}

async fn graphql_endpoints(t: &TestDb, filter: Value) -> Vec<String> {
    let response = common::query(
        &t.db,
        "default",
        "query($f: EndpointFilter) { endpoints(first: 500, filter: $f) { nodes { id } } }",
        json!({ "f": filter }),
    )
    .await;
    assert!(response.get("errors").is_none(), "{response}");
    ids(&response["data"]["endpoints"]["nodes"])
}

fn newest_first() -> Value {
    json!([{ "field": "START_TIMESTAMP", "direction": "DESC" }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_examples_answer_as_graphql_does() {
    let (dbs, servers) = servers(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        // /Dialogues?$count=true
        let (status, body) = get(server, "/odata/Dialogues?$count=true").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut all = graphql_dialogues(t, Value::Null, Value::Null).await;
        assert_eq!(body["@odata.count"], json!(all.len()), "{}", t.kind);
        all.sort();
        assert_eq!(ids(&body["value"]), all, "{}: stable order by id", t.kind);
        assert_eq!(
            body["@odata.context"],
            json!(format!("{}/odata/$metadata#Dialogues", server.base))
        );

        // /Dialogues?$orderby=StartTimestamp desc (ties broken by id, as in GraphQL)
        assert_eq!(
            odata_ids(
                server,
                &url("/odata/Dialogues", &[("$orderby", "StartTimestamp desc")])
            )
            .await,
            graphql_dialogues(t, Value::Null, newest_first()).await,
            "{}",
            t.kind
        );

        // /Endpoints?$filter=startswith(name,'L') and its siblings
        for (odata, graphql) in [
            (
                "startswith(name,'L')",
                json!({ "name": { "startsWith": "L" } }),
            ),
            (
                "startsWith(name,'ann')",
                json!({ "name": { "startsWith": "ann" } }),
            ),
            (
                "endswith(name,'VIP')",
                json!({ "name": { "endsWith": "VIP" } }),
            ),
            ("contains(name,'%')", json!({ "name": { "contains": "%" } })),
            (
                "Role eq 'Agent' and not contains(name,'lee')",
                json!({ "role": { "eq": "AGENT" }, "not": { "name": { "contains": "lee" } } }),
            ),
            (
                "id in ('q-sales','q-vip','nope')",
                json!({ "id": { "in": ["q-sales", "q-vip", "nope"] } }),
            ),
        ] {
            let path = url("/odata/Endpoints", &[("$filter", odata)]);
            assert_eq!(
                odata_ids(server, &path).await,
                graphql_endpoints(t, graphql).await,
                "{}: {odata}",
                t.kind
            );
        }

        // $filter with each operator, $top and $skip, against GraphQL in the same order.
        for (odata, graphql) in [
            (
                "Outcome eq 'Accepted' and queueId ne 'q-vip'",
                json!({ "outcome": { "eq": "ACCEPTED" }, "queueId": { "ne": "q-vip" } }),
            ),
            (
                "orderNumber ge 103 and orderNumber lt 106",
                json!({ "orderNumber": { "gte": 103, "lt": 106 } }),
            ),
            (
                "orderNumber gt 106 or orderNumber le 101",
                json!({ "or": [{ "orderNumber": { "gt": 106 } }, { "orderNumber": { "lte": 101 } }] }),
            ),
            (
                "Outcome in ('Abandoned','IvrDrop')",
                json!({ "outcome": { "in": ["ABANDONED", "IVR_DROP"] } }),
            ),
            (
                "not (direction eq 2)",
                json!({ "not": { "direction": { "eq": "OUTBOUND" } } }),
            ),
            (
                "direction eq 2",
                json!({ "direction": { "eq": "OUTBOUND" } }),
            ),
            ("InSLA eq 'True'", json!({ "inSla": { "eq": true } })),
            (
                "InSLA eq 'False' or QuickDrop eq 'True'",
                json!({ "or": [{ "inSla": { "eq": false } }, { "quickDrop": { "eq": true } }] }),
            ),
            (
                "queueDurationInSec gt 10.5",
                json!({ "queueDurationInSec": { "gt": 10.5 } }),
            ),
            (
                "sessionDurationInSec le 40",
                json!({ "sessionDurationInSec": { "lte": 40 } }),
            ),
        ] {
            let path = url(
                "/odata/Dialogues",
                &[("$filter", odata), ("$orderby", "startTimestamp desc")],
            );
            assert_eq!(
                odata_ids(server, &path).await,
                graphql_dialogues(t, graphql, newest_first()).await,
                "{}: {odata}",
                t.kind
            );
        }
        let everything = graphql_dialogues(t, Value::Null, newest_first()).await;
        let path = url(
            "/odata/Dialogues",
            &[
                ("$orderby", "startTimestamp desc"),
                ("$top", "3"),
                ("$skip", "2"),
                ("$select", "id"),
            ],
        );
        assert_eq!(
            odata_ids(server, &path).await,
            everything[2..5].to_vec(),
            "{}",
            t.kind
        );

        // /Endpoints/$count and /Dialogues/$count with a filter: plain-text integers.
        let (status, content_type, text) = fetch(server, "/odata/Endpoints/$count", None).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/plain")
        );
        assert_eq!(
            text,
            graphql_endpoints(t, Value::Null).await.len().to_string()
        );
        let path = url(
            "/odata/Dialogues/$count",
            &[("$filter", "Outcome eq 'Accepted'")],
        );
        let (_, _, text) = fetch(server, &path, None).await;
        let accepted =
            graphql_dialogues(t, json!({ "outcome": { "eq": "ACCEPTED" } }), Value::Null).await;
        assert_eq!(text, accepted.len().to_string(), "{}", t.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_mean_what_odata_says() {
    let (dbs, servers) = servers(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let cases: &[(&str, &[&str])] = &[
            // not, then and, then or; parentheses first.
            (
                "orderNumber eq 101 or orderNumber eq 102 and Outcome eq 'Abandoned'",
                &["d1", "d2"],
            ),
            (
                "(orderNumber eq 101 or orderNumber eq 102) and Outcome eq 'Abandoned'",
                &["d2"],
            ),
            (
                "orderNumber eq 101 or orderNumber eq 102 and Outcome eq 'Accepted'",
                &["d1"],
            ),
            (
                "not orderNumber eq 101 and orderNumber le 103",
                &["d2", "d3"],
            ),
            ("not (orderNumber eq 101 or orderNumber ge 103)", &["d2"]),
            ("not not orderNumber eq 101", &["d1"]),
            ("((orderNumber eq 101))", &["d1"]),
            // Date-times with any offset mean the same instant.
            (
                "startTimestamp ge 2026-03-05T11:00:00+01:00",
                &["d5", "d6", "d7", "d8"],
            ),
            (
                "startTimestamp ge 2026-03-05T10:00:00Z",
                &["d5", "d6", "d7", "d8"],
            ),
            (
                "startTimestamp ge 2026-03-05T08:00:00.000-02:00",
                &["d5", "d6", "d7", "d8"],
            ),
            ("startTimestamp lt 2026-03-02T23:30:00-02:00", &["d1"]),
            ("startTimestamp eq 2026-03-03T08:00:00.123Z", &["d3"]),
            ("startDate eq 2026-03-06", &["d7"]),
            // d2 began on 2 March in its own zone, 3 March in UTC: startDate is the UTC date.
            ("startDate lt 2026-03-03", &["d1"]),
            // Property names and functions in any case; vendor values.
            ("OUTCOME eq 'IvrDrop'", &["d3"]),
            ("queueid eq 'q-vip' and AGENTID eq 'ag-back'", &["d8"]),
            ("Direction eq 2", &["d4"]),
            // Nulls.
            ("agentId eq null", &["d2", "d3", "d6"]),
            ("endTimestamp eq null", &["d5"]),
            ("agentId ne null and queueId eq null", &["d4"]),
            (
                "agentId ne 'ag-ann' and queueId eq 'q-sales'",
                &["d2", "d7"],
            ),
            ("QuickDrop eq null and Outcome eq 'Abandoned'", &[]),
        ];
        for (filter, expected) in cases {
            let path = url("/odata/Dialogues", &[("$filter", filter)]);
            assert_eq!(
                odata_ids(server, &path).await,
                *expected,
                "{}: {filter}",
                t.kind
            );
        }
        // '' in string literals, in a filter and in a key.
        let path = url("/odata/Endpoints", &[("$filter", "name eq 'O''Brien'")]);
        assert_eq!(odata_ids(server, &path).await, ["ag-o'brien"], "{}", t.kind);
        let (status, body) = get(server, "/odata/Endpoints('ag-o''brien')").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], json!("O'Brien"));
        // A `+` sent unescaped (form-decoded into a space) still reads as an offset.
        let raw = "/odata/Dialogues?$filter=startTimestamp%20ge%202026-03-05T11:00:00+01:00";
        assert_eq!(
            odata_ids(server, raw).await,
            ["d5", "d6", "d7", "d8"],
            "{}",
            t.kind
        );
    }
}

/// Follows `@odata.nextLink` from `first` to the end; every page's ids in order.
async fn walk(server: &Server, first: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(link) = next {
        let (status, body) = get(server, &link).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages.push(ids(&body["value"]));
        next = body["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(n.contains("%24skiptoken="), "{n}");
            assert!(!n.contains("%24skip="), "{n}");
        }
        assert!(pages.len() < 20, "the walk does not end");
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_links_visit_every_row_once_in_order() {
    let (dbs, servers) = servers(ServeConfig {
        odata_page_size: 3,
        ..ServeConfig::default()
    })
    .await;
    for (t, server) in dbs.iter().zip(&servers) {
        // Newest first (d5 and d6 tie on startTimestamp), and nullable keys with ties.
        for (orderby, graphql) in [
            ("startTimestamp desc", newest_first()),
            (
                "StartTimestamp asc",
                json!([{ "field": "START_TIMESTAMP", "direction": "ASC" }]),
            ),
            (
                "queueDurationInSec asc,orderNumber desc",
                json!([{ "field": "QUEUE_DURATION", "direction": "ASC" }, { "field": "ORDER_NUMBER", "direction": "DESC" }]),
            ),
            (
                "endTimestamp desc",
                json!([{ "field": "END_TIMESTAMP", "direction": "DESC" }]),
            ),
        ] {
            let pages = walk(server, &url("/odata/Dialogues", &[("$orderby", orderby)])).await;
            assert_eq!(
                pages.iter().map(Vec::len).collect::<Vec<_>>(),
                [3, 3, 2],
                "{orderby}"
            );
            let walked: Vec<String> = pages.concat();
            assert_eq!(
                walked,
                graphql_dialogues(t, Value::Null, graphql).await,
                "{}: {orderby}",
                t.kind
            );
        }
        // Without $orderby: by id; with $filter, $select and $count carried along.
        let first = url(
            "/odata/Dialogues",
            &[
                ("$filter", "orderNumber ne 104"),
                ("$select", "id,orderNumber"),
                ("$count", "true"),
            ],
        );
        let (_, body) = get(server, &first).await;
        assert_eq!(body["@odata.count"], json!(7));
        assert_eq!(
            body["value"][0],
            json!({ "id": "d1", "orderNumber": 101 }),
            "{}",
            t.kind
        );
        let walked = walk(server, &first).await.concat();
        assert_eq!(
            walked,
            ["d1", "d2", "d3", "d5", "d6", "d7", "d8"],
            "{}",
            t.kind
        );
        // $top across pages, and $skip before the first.
        let pages = walk(
            server,
            &url("/odata/Dialogues", &[("$top", "5"), ("$skip", "1")]),
        )
        .await;
        assert_eq!(
            pages,
            [vec!["d2", "d3", "d4"], vec!["d5", "d6"]],
            "{}",
            t.kind
        );
        let pages = walk(server, &url("/odata/Dialogues", &[("$top", "3")])).await;
        assert_eq!(pages, [vec!["d1", "d2", "d3"]], "{}", t.kind);
        let (_, body) = get(
            server,
            &url("/odata/Dialogues", &[("$top", "0"), ("$count", "true")]),
        )
        .await;
        assert_eq!(body["value"], json!([]));
        assert_eq!(body["@odata.count"], json!(8));
        // Endpoints page too (13 in all), in id order.
        let walked = walk(server, "/odata/Endpoints").await.concat();
        let mut expected = graphql_endpoints(t, Value::Null).await;
        expected.sort();
        assert_eq!(walked, expected, "{}", t.kind);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_select_expand_and_the_service_documents() {
    let (dbs, servers) = servers(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let base = format!("{}/odata", server.base);
        let (status, body) = get(
            server,
            "/odata/Dialogues('d1')?$select=id,Outcome,InSLA,direction&$expand=queue,agent",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({
                "@odata.context": format!("{base}/$metadata#Dialogues(id,direction,Outcome,InSLA,queue(),agent())/$entity"),
                "id": "d1", "direction": 1, "Outcome": "Accepted", "InSLA": "True",
                "queue": { "id": "q-sales", "name": "Sales NL", "Role": "Queue", "slaThresholdInSec": 20.0, "quickDropThresholdInSec": 5.0 },
                "agent": { "id": "ag-ann", "name": "Ann_Lee", "Role": "Agent", "slaThresholdInSec": null, "quickDropThresholdInSec": null },
            }),
            "{}",
            t.kind
        );
        // A full entity has every property, nulls included, in the vendor's names.
        let (_, body) = get(server, "/odata/Dialogues(id='d3')").await;
        assert_eq!(
            body,
            json!({
                "@odata.context": format!("{base}/$metadata#Dialogues/$entity"),
                "id": "d3", "startDate": "2026-03-03", "startTimestamp": "2026-03-03T08:00:00.123Z",
                "queueEnterTimestamp": null, "acceptTimestamp": null, "endTimestamp": "2026-03-03T08:00:40.123Z",
                "ivrDurationInSec": 40.0, "queueDurationInSec": null, "initialTalkDurationInSec": null,
                "sessionDurationInSec": 40.0, "ivrId": "ivr-1", "queueId": null, "customerId": "cust-3",
                "agentId": null, "direction": 1, "Outcome": "IvrDrop", "InSLA": null, "QuickDrop": null,
                "orderNumber": 103,
            }),
            "{}",
            t.kind
        );
        // A collection with $select, $expand (an empty slot is null) and $count.
        let path = url(
            "/odata/Dialogues",
            &[
                ("$filter", "id eq 'd2' or id eq 'd4'"),
                ("$select", "id,agentId"),
                ("$expand", "agent,ivr"),
                ("$count", "true"),
            ],
        );
        let (_, body) = get(server, &path).await;
        assert_eq!(
            body,
            json!({
                "@odata.context": format!("{base}/$metadata#Dialogues(id,agentId,agent(),ivr())"),
                "@odata.count": 2,
                "value": [
                    { "id": "d2", "agentId": null, "agent": null,
                      "ivr": { "id": "ivr-1", "name": "Main Menu", "Role": "Ivr", "slaThresholdInSec": null, "quickDropThresholdInSec": null } },
                    { "id": "d4", "agentId": "ag-bob", "agent": { "id": "ag-bob", "name": "Bob Smith", "Role": "Agent", "slaThresholdInSec": null, "quickDropThresholdInSec": null }, "ivr": null },
                ],
            }),
            "{}",
            t.kind
        );
        let (_, body) = get(server, "/odata/Endpoints('q-vip')").await;
        assert_eq!(
            body,
            json!({
                "@odata.context": format!("{base}/$metadata#Endpoints/$entity"),
                "id": "q-vip", "name": "100% VIP", "Role": "Queue", "slaThresholdInSec": 10.0, "quickDropThresholdInSec": null,
            })
        );
        // The service document and $metadata.
        let (status, body) = get(server, "/odata").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({
                "@odata.context": format!("{base}/$metadata"),
                "value": [
                    { "name": "Dialogues", "kind": "EntitySet", "url": "Dialogues" },
                    { "name": "Endpoints", "kind": "EntitySet", "url": "Endpoints" },
                    { "name": "QueueIntervals", "kind": "EntitySet", "url": "QueueIntervals" },
                ],
            })
        );
        let (status, content_type, xml) = fetch(server, "/odata/$metadata", None).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "application/xml")
        );
        for needle in [
            r#"<edmx:Edmx Version="4.0""#,
            r#"<Property Name="startDate" Type="Edm.Date" Nullable="false"/>"#,
            r#"<Property Name="acceptTimestamp" Type="Edm.DateTimeOffset" Nullable="true"/>"#,
            r#"<Property Name="sessionDurationInSec" Type="Edm.Double" Nullable="true"/>"#,
            r#"<Property Name="direction" Type="Edm.Int32" Nullable="false"/>"#,
            r#"<Property Name="Outcome" Type="Edm.String" Nullable="false"/>"#,
            r#"<Property Name="QuickDrop" Type="Edm.String" Nullable="true"/>"#,
            r#"<Property Name="Role" Type="Edm.String" Nullable="false"/>"#,
            r#"<NavigationProperty Name="ivr" Type="Insights.Endpoint" Nullable="true"/>"#,
            r#"<NavigationProperty Name="customer" Type="Insights.Endpoint" Nullable="true"/>"#,
            r#"<NavigationPropertyBinding Path="agent" Target="Endpoints"/>"#,
            r#"<EntitySet Name="Endpoints" EntityType="Insights.Endpoint"/>"#,
        ] {
            assert!(xml.contains(needle), "{needle} in {xml}");
        }
        // Unknown sets and ids: 404 in OData's error format.
        for path in [
            "/odata/Calls",
            "/odata/Dialogues('nope')",
            "/odata/Endpoints('d1')",
        ] {
            let (status, body) = get(server, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body["error"]["code"], json!("NotFound"), "{body}");
            assert!(body["error"]["message"].is_string());
        }
    }
}

/// Query options as name and value.
type Options<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_options_are_refused_and_the_server_keeps_answering() {
    let (_dbs, servers) = servers(ServeConfig::default()).await;
    let deep = format!("{}id eq 'd1'{}", "(".repeat(5_000), ")".repeat(5_000));
    let nots = format!("{}id eq 'd1'", "not ".repeat(3_000));
    // Longer than a filter may be (16 KB), yet short enough percent-encoded (27 KB) for a URI
    // (--max-uri-bytes, 32 KiB; longer ones are refused before OData, see request_head.rs).
    let long = format!("id in ({})", vec!["'dxxxxxxxx'"; 1_500].join(","));
    assert!(long.len() > 16_384);
    let cases: Vec<(Options, StatusCode, &str)> = vec![
        (
            vec![("$filter", "Outcome eq")],
            StatusCode::BAD_REQUEST,
            "`$filter` at position 11: ",
        ),
        (
            vec![("$filter", "Outcome eq 'Nope'")],
            StatusCode::BAD_REQUEST,
            "`$filter` at position 12: `Outcome` is compared with",
        ),
        (
            vec![("$filter", "orderNumber eq 1 and (id eq 'x'")],
            StatusCode::BAD_REQUEST,
            "`$filter` at position 32: expected `)`",
        ),
        (
            vec![("$filter", "nosuch eq 1")],
            StatusCode::BAD_REQUEST,
            "there is no property `nosuch`",
        ),
        (
            vec![("$filter", "frobnicate(id)")],
            StatusCode::BAD_REQUEST,
            "there is no function `frobnicate`",
        ),
        (
            vec![("$filter", "name eq 'unclosed")],
            StatusCode::BAD_REQUEST,
            "not closed",
        ),
        (
            vec![("$filter", "startTimestamp gt 2026-03-05T10:00:00")],
            StatusCode::BAD_REQUEST,
            "offset",
        ),
        (
            vec![("$filter", deep.as_str())],
            StatusCode::BAD_REQUEST,
            "nests more than",
        ),
        (
            vec![("$filter", nots.as_str())],
            StatusCode::BAD_REQUEST,
            "nests more than",
        ),
        (
            vec![("$filter", long.as_str())],
            StatusCode::BAD_REQUEST,
            "`$filter` is",
        ),
        (
            vec![("$filter", "tolower(id) eq 'd1'")],
            StatusCode::NOT_IMPLEMENTED,
            "not supported",
        ),
        (
            vec![("$filter", "queue/name eq 'x'")],
            StatusCode::NOT_IMPLEMENTED,
            "not supported",
        ),
        (
            vec![("$orderby", "id sideways")],
            StatusCode::BAD_REQUEST,
            "`$orderby` at position 1",
        ),
        (
            vec![("$orderby", "id,id")],
            StatusCode::BAD_REQUEST,
            "twice",
        ),
        (
            vec![("$orderby", "direction")],
            StatusCode::NOT_IMPLEMENTED,
            "ordering by `direction`",
        ),
        (vec![("$top", "-1")], StatusCode::BAD_REQUEST, "`$top`"),
        (vec![("$skip", "ten")], StatusCode::BAD_REQUEST, "`$skip`"),
        (
            vec![("$count", "maybe")],
            StatusCode::BAD_REQUEST,
            "`$count`",
        ),
        (
            vec![("$select", "id,nope")],
            StatusCode::BAD_REQUEST,
            "`$select` at position 4",
        ),
        (
            vec![("$expand", "nope")],
            StatusCode::BAD_REQUEST,
            "`$expand` at position 1",
        ),
        (
            vec![("$expand", "queue($select=name)")],
            StatusCode::NOT_IMPLEMENTED,
            "not supported",
        ),
        (
            vec![("$skiptoken", "garbage")],
            StatusCode::BAD_REQUEST,
            "`$skiptoken`",
        ),
        (
            vec![("$search", "x")],
            StatusCode::NOT_IMPLEMENTED,
            "`$search`",
        ),
        (vec![("$bogus", "1")], StatusCode::BAD_REQUEST, "`$bogus`"),
        (
            vec![("$top", "1"), ("$top", "2")],
            StatusCode::BAD_REQUEST,
            "twice",
        ),
    ];
    for server in &servers {
        for (options, status, needle) in &cases {
            let path = url("/odata/Dialogues", options);
            let (got, body) = get(server, &path).await;
            let shown: String = path.chars().take(120).collect();
            assert_eq!(got, *status, "{shown}: {body}");
            let code = if *status == StatusCode::BAD_REQUEST {
                "BadRequest"
            } else {
                "NotImplemented"
            };
            assert_eq!(body["error"]["code"], json!(code), "{shown}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains(needle), "{shown}: {message}");
        }
        // A skip token of another order is refused too.
        let (_, body) = get(
            server,
            &url(
                "/odata/Dialogues",
                &[("$top", "1"), ("$orderby", "orderNumber")],
            ),
        )
        .await;
        assert!(body["value"].is_array(), "{body}");
        let (_, first) = get(server, "/odata/Dialogues?$top=1").await;
        assert_eq!(
            first["@odata.nextLink"],
            Value::Null,
            "$top=1 leaves nothing to follow"
        );
        // A 100 KB filter is refused before routing (414, as the request target is longer than
        // HTTP/1 allows here), without harm.
        let address = server.base.trim_start_matches("http://").to_string();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request = format!(
            "GET /odata/Dialogues?$filter=id%20in%20({}) HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
            vec!["'dxxxxxxxx'"; 10_000].join(",")
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        let status_line = answer.lines().next().unwrap_or("").to_string();
        assert!(
            status_line.starts_with("HTTP/1.1 4"),
            "a 100 KB request target: {status_line}"
        );
        // Still answering.
        assert_eq!(
            odata_ids(server, "/odata/Dialogues?$filter=id%20eq%20'd1'").await,
            ["d1"]
        );
        let health = server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_tenants_confine_odata() {
    for t in common::databases().await {
        load(&t.db).await;
        // A second tenant whose ids collide with the first's.
        import_text(
            &t.db,
            Kind::Dialogues,
            r#"{"id": "d1", "orderNumber": 9001, "direction": 2, "Outcome": "IvrDrop", "startTimestamp": "2026-04-01T10:00:00Z", "ivrId": "ivr-other"}"#,
            "other",
        )
        .await;
        let default_key = common::key(&t.db, "default", "read").await;
        let other_key = common::key(&t.db, "other", "read").await;
        let server = Server::start(
            &t.db,
            ServeConfig {
                no_auth: false,
                ..ServeConfig::default()
            },
        )
        .await;

        // No key, a bad key: 401 in OData's format.
        for key in [None, Some("dik_not_a_key")] {
            let (status, body) = get_with(&server, "/odata/Dialogues", key).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert_eq!(body["error"]["code"], json!("Unauthorized"), "{body}");
        }
        let (status, _, _) = fetch(&server, "/odata/$metadata", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // A key without the `read` scope reads nothing; nothing is written through OData.
        let ingest_only = common::key(&t.db, "default", "ingest").await;
        let (status, body) = get_with(&server, "/odata/Dialogues", Some(&ingest_only)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], json!("Forbidden"));
        let response = server
            .client
            .post(server.url("/odata/Dialogues"))
            .bearer_auth(&default_key)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["OData-Version"], "4.0");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], json!("MethodNotAllowed"));

        let (status, body) =
            get_with(&server, "/odata/Dialogues?$count=true", Some(&default_key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["@odata.count"], json!(8), "{}", t.kind);

        let (_, body) = get_with(
            &server,
            "/odata/Dialogues?$count=true&$expand=ivr",
            Some(&other_key),
        )
        .await;
        assert_eq!(body["@odata.count"], json!(1), "{}", t.kind);
        assert_eq!(body["value"][0]["orderNumber"], json!(9001));
        assert_eq!(body["value"][0]["ivr"]["id"], json!("ivr-other"));
        let (_, body) = get_with(
            &server,
            "/odata/Dialogues('d1')?$expand=queue,customer",
            Some(&other_key),
        )
        .await;
        assert_eq!(body["orderNumber"], json!(9001), "{body}");
        assert_eq!(body["queue"], Value::Null);
        for path in ["/odata/Dialogues('d2')", "/odata/Endpoints('q-sales')"] {
            let (status, _) = get_with(&server, path, Some(&other_key)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{}: {path}", t.kind);
        }
        let path = url(
            "/odata/Endpoints",
            &[("$filter", "Role eq 'Queue' or startswith(name,'S')")],
        );
        let (_, body) = get_with(&server, &path, Some(&other_key)).await;
        assert_eq!(body["value"], json!([]), "{}", t.kind);
        let (_, _, text) = fetch(&server, "/odata/Endpoints/$count", Some(&other_key)).await;
        assert_eq!(text, "1", "{}: only its own IVR", t.kind);
        let (_, _, text) = fetch(
            &server,
            "/odata/Dialogues/$count?$filter=orderNumber%20lt%20200",
            Some(&other_key),
        )
        .await;
        assert_eq!(text, "0", "{}", t.kind);
    }
}
