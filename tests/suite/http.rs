//! The HTTP server (API.md §6) over a real socket: GraphQL over HTTP (POST and GET, media types,
//! status codes), GraphiQL with embedded assets, health and readiness, the body size limit.
use crate::common;

use common::Server;

use insights::app::config::ServeConfig;
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn loaded_server(config: ServeConfig) -> (Vec<common::TestDb>, Vec<Server>) {
    // These tests are about HTTP, not keys: serve the `default` tenant without them.
    let config = ServeConfig {
        no_auth: true,
        ..config
    };
    let dbs = common::databases().await;
    let mut servers = Vec::new();
    for t in &dbs {
        common::load(
            &t.db,
            "default",
            "read_endpoints.ndjson",
            "read_dialogues.ndjson",
        )
        .await;
        servers.push(Server::start(&t.db, config.clone()).await);
    }
    (dbs, servers)
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Status, content type and JSON body.
async fn parts(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let content_type = content_type(&response);
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, content_type, body)
}

const D1: &str = r#"{ dialogue(id: "d1") { id orderNumber startTimestamp queue { name } } }"#;

fn d1() -> Value {
    json!({ "data": { "dialogue": {
        "id": "d1", "orderNumber": 101, "startTimestamp": "2026-03-02T09:00:00.000Z",
        "queue": { "name": "Sales NL" }
    } } })
}

#[tokio::test]
async fn post_negotiates_the_media_type() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        // application/graphql-response+json to clients that name it; application/json to the
        // rest, `*/*` and no Accept header included (GraphQL over HTTP's SHOULDs).
        for (accept, media_type) in [
            (None, "application/json"),
            (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                GRAPHQL_RESPONSE,
            ),
            (Some("*/*"), "application/json"),
        ] {
            let mut request = server.post(json!({ "query": D1 }));
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            let (status, content_type, body) = parts(request.send().await.unwrap()).await;
            assert_eq!(status, StatusCode::OK, "{}: Accept {accept:?}", t.kind);
            assert!(
                content_type.starts_with(media_type),
                "{}: Accept {accept:?}: {content_type}",
                t.kind
            );
            assert_eq!(body, d1(), "{}", t.kind);
        }
        // Variables and operationName in the body.
        let (status, _, body) = parts(
            server
                .post(json!({
                    "query": "query A { endpoints { totalCount } } query B($id: ID!) { dialogue(id: $id) { id } }",
                    "operationName": "B",
                    "variables": { "id": "d2" }
                }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", t.kind);
        assert_eq!(
            body,
            json!({ "data": { "dialogue": { "id": "d2" } } }),
            "{}",
            t.kind
        );
        // The query as an application/graphql body.
        let (status, content_type, body) = parts(
            server
                .client
                .post(server.url("/graphql"))
                .header(CONTENT_TYPE, "application/graphql")
                .header(ACCEPT, GRAPHQL_RESPONSE)
                .body(D1)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", t.kind);
        assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
        assert_eq!(body, d1(), "{}", t.kind);
    }
}

#[tokio::test]
async fn accept_application_json_gets_application_json() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let (status, content_type, body) = parts(
            server
                .post(json!({ "query": D1 }))
                .header(ACCEPT, "application/json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", t.kind);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(body, d1(), "{}", t.kind);
        // With application/json, request errors still come with 200 (GraphQL over HTTP,
        // appendix A) and a code.
        let (status, content_type, body) = parts(
            server
                .post(json!({ "query": "{ dialogues {" }))
                .header(ACCEPT, "application/json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(
            common::error_codes(&body),
            ["GRAPHQL_PARSE_FAILED"],
            "{body}"
        );
    }
}

#[tokio::test]
async fn get_runs_queries() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let (status, content_type, body) = parts(
            server
                .client
                .get(server.url("/graphql"))
                .query(&[("query", D1)])
                .header(ACCEPT, GRAPHQL_RESPONSE)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
        assert_eq!(body, d1(), "{}", t.kind);
        // With variables, and from a browser (Accept: text/html) as long as there is a query.
        let (status, _, body) = parts(
            server
                .client
                .get(server.url("/graphql"))
                .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
                .query(&[
                    (
                        "query",
                        "query($n: Int!) { dialogueByOrderNumber(orderNumber: $n) { id } }",
                    ),
                    ("variables", r#"{"n": 108}"#),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert_eq!(
            body,
            json!({ "data": { "dialogueByOrderNumber": { "id": "d8" } } }),
            "{}",
            t.kind
        );
    }
}

#[tokio::test]
async fn get_refuses_mutations() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        for query in [
            "mutation { x }",
            "query Q { dialogues { totalCount } } mutation M { x }",
        ] {
            let response = server
                .client
                .get(server.url("/graphql"))
                .query(&[("query", query), ("operationName", "M")])
                .send()
                .await
                .unwrap();
            let status = response.status();
            let allow = response
                .headers()
                .get(ALLOW)
                .map(|v| v.to_str().unwrap().to_string());
            let body = response.text().await.unwrap();
            assert_ne!(status, StatusCode::OK, "{}: {query}: {body}", t.kind);
            // GraphQL over HTTP: 405, and say what is allowed.
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{}: {query}",
                t.kind
            );
            assert!(
                allow.is_some_and(|a| a.contains("POST")),
                "{}: Allow",
                t.kind
            );
        }
    }
}

#[tokio::test]
async fn request_errors_are_400_with_a_code() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        for (query, code) in [
            ("{ dialogues { totalCount }", "GRAPHQL_PARSE_FAILED"),
            ("{ dialogues { noSuchField } }", "GRAPHQL_VALIDATION_FAILED"),
            (
                r#"{ dialogues(filter: { startDate: { eq: "5 March" } }) { totalCount } }"#,
                "GRAPHQL_VALIDATION_FAILED",
            ),
        ] {
            let (status, content_type, body) = parts(
                server
                    .post(json!({ "query": query }))
                    .header(ACCEPT, GRAPHQL_RESPONSE)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{}: {query}: {body}",
                t.kind
            );
            assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
            assert_eq!(common::error_codes(&body), [code], "{}: {body}", t.kind);
        }
        // A body that is not a GraphQL request at all.
        let response = server
            .client
            .post(server.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .body("{\"query\":")
            .send()
            .await
            .unwrap();
        let (status, _, body) = parts(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", t.kind);
        assert_eq!(common::error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        // A media type the server does not take.
        let response = server
            .client
            .post(server.url("/graphql"))
            .header(CONTENT_TYPE, "text/plain")
            .body(D1)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{}",
            t.kind
        );
        // Partial data with a field error is a successful execution: 200.
        let (status, _, body) = parts(
            server
                .post(json!({ "query": r#"{ dialogue(id: "d1") { id } endpoint(id: "q-vip") { dialogues(first: 501) { totalCount } } }"# }))
                .header(ACCEPT, GRAPHQL_RESPONSE)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert_eq!(body["data"]["dialogue"], json!({ "id": "d1" }), "{body}");
        assert_eq!(common::error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
}

#[tokio::test]
async fn execution_errors_with_null_data_are_200() {
    // GraphQL over HTTP, application/graphql-response+json: "If the GraphQL response contains
    // the data entry and it is null, then the server SHOULD reply with a 2xx status code"; and
    // "Field errors encountered during execution ... SHOULD respond with 200". The page-size
    // error below is raised during execution; today the answer is 400.
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let (status, _, body) = parts(
            server
                .post(json!({ "query": "{ dialogues(first: 501) { totalCount } }" }))
                .header(ACCEPT, GRAPHQL_RESPONSE)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(common::error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
    }
}

#[tokio::test]
async fn request_errors_have_no_data_entry() {
    // GraphQL spec, Response Format: "If an error was raised before execution begins, the data
    // entry should not be present in the result"; GraphQL over HTTP ties 4xx to exactly that.
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let (status, _, body) = parts(
            server
                .post(json!({ "query": "{ dialogues {" }))
                .header(ACCEPT, GRAPHQL_RESPONSE)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", t.kind);
        assert!(body.get("data").is_none(), "{}: {body}", t.kind);
    }
}

/// Every `/graphiql/...` URL in `src="..."` or `href="..."` attributes of the page.
fn asset_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attribute) {
            let rest = &html[i + attribute.len()..];
            let url = &rest[..rest.find('"').unwrap()];
            urls.push(url.to_string());
        }
    }
    urls
}

#[tokio::test]
async fn graphiql_is_served_with_embedded_assets() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        let response = server
            .client
            .get(server.url("/graphql"))
            .header(
                ACCEPT,
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", t.kind);
        assert!(
            content_type(&response).starts_with("text/html"),
            "{}",
            t.kind
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("GraphiQL"), "{html}");
        assert!(
            html.contains("\"/graphql\""),
            "the page must send queries to /graphql"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "the page must not load anything from the internet:\n{html}"
        );
        let urls = asset_urls(&html);
        let assets: Vec<&String> = urls
            .iter()
            .filter(|u| u.starts_with("/graphiql/"))
            .collect();
        assert!(
            assets.iter().any(|u| u.ends_with(".js")) && assets.iter().any(|u| u.ends_with(".css")),
            "{urls:?}"
        );
        for url in urls.iter().filter(|u| !u.starts_with("data:")) {
            assert!(
                url.starts_with("/graphiql/"),
                "{url} is not an embedded asset"
            );
            let response = server.client.get(server.url(url)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let content_type = content_type(&response);
            let expected = if url.ends_with(".css") {
                content_type.starts_with("text/css")
            } else {
                content_type.starts_with("text/javascript")
                    || content_type.starts_with("application/javascript")
            };
            assert!(expected, "{url}: {content_type}");
            assert!(
                response.bytes().await.unwrap().len() > 1000,
                "{url} looks empty"
            );
        }
        let response = server
            .client
            .get(server.url("/graphiql/no-such-asset.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    for (t, server) in dbs.iter().zip(&servers) {
        for path in ["/healthz", "/readyz"] {
            let response = server.client.get(server.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}: {path}", t.kind);
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let config = ServeConfig {
        max_body_bytes: 512,
        ..ServeConfig::default()
    };
    let (dbs, servers) = loaded_server(config).await;
    for (t, server) in dbs.iter().zip(&servers) {
        // Under the limit: fine.
        let (status, _, body) =
            parts(server.post(json!({ "query": D1 })).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        // Over it, with a Content-Length...
        let padded = format!("{D1}{}", " ".repeat(1024));
        let response = server
            .post(json!({ "query": padded }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            t.kind
        );
        // ...and streamed without one (chunked, written by hand on the socket).
        let status_line = chunked_post(
            &server.base,
            &[
                br#"{"query": ""#,
                &[b' '; 1024],
                br#"{ dialogues { totalCount } }"}"#,
            ],
        )
        .await;
        assert!(
            status_line.contains(" 413 "),
            "{}: chunked: {status_line}",
            t.kind
        );
    }
}

/// POSTs `chunks` to /graphql with `Transfer-Encoding: chunked`; returns the status line.
async fn chunked_post(base: &str, chunks: &[&[u8]]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in chunks {
        request.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
        request.extend_from_slice(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    // The server may answer (and close) before reading everything: ignore write errors.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or("").to_string()
}

/// Every answer from /graphql names its request id, even a refusal before any GraphQL runs;
/// a sane id the client sends is kept.
#[tokio::test]
async fn every_graphql_answer_names_its_request_id() {
    let (_dbs, servers) = loaded_server(ServeConfig::default()).await;
    let server = &servers[0];
    let malformed = server
        .client
        .post(server.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let id = malformed
        .headers()
        .get("x-request-id")
        .expect("x-request-id on a refusal");
    assert_eq!(id.len(), 16, "a fresh id is 8 random bytes in hex");
    let echoed = server
        .post(json!({ "query": "{ __typename }" }))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers().get("x-request-id").unwrap(),
        "client-chosen-42"
    );
}

#[tokio::test]
async fn response_keys_follow_the_order_of_the_request() {
    // GraphQL spec, "Serialized Map Ordering": the result's keys come in the order the
    // request selected the fields, not sorted.
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    let query = "{ dialogues(first: 2, orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) { \
                 pageInfo { hasNextPage endCursor } \
                 nodes { startTimestamp id queue { name id } } totalCount } }";
    for (t, server) in dbs.iter().zip(&servers) {
        for accept in ["application/json", GRAPHQL_RESPONSE] {
            let response = server
                .post(json!({ "query": query }))
                .header(ACCEPT, accept)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", t.kind);
            let text = response.text().await.unwrap();
            let node = ["startTimestamp", "id", "queue", "name", "id"];
            let mut expected = vec!["data", "dialogues", "pageInfo", "hasNextPage", "endCursor"];
            expected.push("nodes");
            expected.extend(node);
            expected.extend(node);
            expected.push("totalCount");
            assert_eq!(common::keys_in_order(&text), expected, "{}: {text}", t.kind);
        }
        // A request error has no `data`; an error says its message first.
        let response = server
            .post(json!({ "query": "{ dialogues { noSuchField } }" }))
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{}", t.kind);
        let text = response.text().await.unwrap();
        assert!(
            text.starts_with(r#"{"errors":[{"message":"#),
            "{}: {text}",
            t.kind
        );
        assert!(
            !common::keys_in_order(&text).contains(&"data".to_string()),
            "{text}"
        );
        // So do the errors the server raises before GraphQL runs.
        let response = server
            .client
            .post(server.url("/graphql"))
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .header(CONTENT_TYPE, "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{}", t.kind);
        let text = response.text().await.unwrap();
        assert_eq!(
            common::keys_in_order(&text),
            ["errors", "message", "extensions", "code"],
            "{}: {text}",
            t.kind
        );
    }
}

/// A refused request's variables are read again from the JSON text it was posted as (they are
/// not copied before every execution): the refusal says the same over HTTP as through the
/// schema, whether the variables make the query too complex or hold an invalid record.
#[tokio::test]
async fn a_refusal_is_explained_from_the_posted_text_as_through_the_schema() {
    let (dbs, servers) = loaded_server(ServeConfig::default()).await;
    let pages = "query($n: Int) { dialogues(first: $n) { nodes { agent { dialogues(first: $n) { nodes { id } } } } } }";
    let ingest = "mutation($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { received } }";
    let record = |i: u32, start: &str| {
        json!({ "id": format!("refused-{i}"), "orderNumber": 900 + i, "startTimestamp": start,
                "direction": "INBOUND", "outcome": "ACCEPTED" })
    };
    let cases = [
        (pages, json!({ "n": 300 }), "QUERY_TOO_COMPLEX", "300 items"),
        (
            ingest,
            json!({ "d": [record(1, "2026-03-02T09:00:00Z"), record(2, "2026-03-02T09:01:00Z"),
                          record(3, "yesterday")] }),
            "GRAPHQL_VALIDATION_FAILED",
            "startTimestamp",
        ),
    ];
    for (t, server) in dbs.iter().zip(&servers) {
        for (query, variables, code, names) in &cases {
            let through_schema = common::query(&t.db, "default", query, variables.clone()).await;
            let (status, _, over_http) = parts(
                server
                    .post(json!({ "query": query, "variables": variables }))
                    .header(ACCEPT, GRAPHQL_RESPONSE)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {over_http}", t.kind);
            assert_eq!(over_http["errors"], through_schema["errors"], "{}", t.kind);
            assert_eq!(
                common::error_codes(&over_http),
                [*code],
                "{}: {over_http}",
                t.kind
            );
            let message = over_http["errors"][0]["message"].as_str().unwrap_or("");
            assert!(message.contains(names), "{}: {message}", t.kind);
        }
    }
}
