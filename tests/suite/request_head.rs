//! Requests whose URI or headers are over the server's limits (`--max-uri-bytes`,
//! `--max-header-bytes`, 100 header lines), over a real socket through the accept loop of
//! `insights serve`: a coded JSON 414 or 431 in the shape of the route asked for (OData's error
//! on /odata, GraphQL's elsewhere), where hyper alone answered with an empty body.
use crate::common;

use common::Server;
use insights::app::config::ServeConfig;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A server per database, without keys (these tests are about the request's head).
async fn servers() -> (Vec<common::TestDb>, Vec<Server>) {
    let config = ServeConfig {
        no_auth: true,
        ..ServeConfig::default()
    };
    let dbs = common::databases().await;
    let mut servers = Vec::new();
    for t in &dbs {
        servers.push(Server::start(&t.db, config.clone()).await);
    }
    (dbs, servers)
}

/// Status, content type and JSON body (a body that is not JSON fails the test, showing it).
async fn answer(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    assert!(
        response.headers().contains_key("x-request-id"),
        "{status}: no x-request-id"
    );
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} {content_type}: not JSON ({e}): {text:?}"));
    (status, content_type, body)
}

/// The `OData-Version` header, which every answer on /odata carries.
fn odata_version(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("odata-version")
        .and_then(|v| v.to_str().ok())
}

/// The OData error's code and message.
fn odata_error(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or("<none>"),
        body["error"]["message"].as_str().unwrap_or(""),
    )
}

/// The one GraphQL error's code and message.
fn graphql_error(body: &Value) -> (&str, &str) {
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["extensions"]["code"].as_str().unwrap_or("<none>"),
        errors[0]["message"].as_str().unwrap_or(""),
    )
}

/// `$filter=queue/name eq 'q' or ...` about `bytes` long.
fn long_filter(bytes: usize) -> String {
    let term = "queue/name eq 'q'";
    let mut filter = term.to_string();
    while filter.len() < bytes {
        filter.push_str(" or ");
        filter.push_str(term);
    }
    filter
}

/// A GraphQL query padded with spaces to `bytes`.
fn padded_query(bytes: usize) -> String {
    let query = "{ dialogues(first: 1) { totalCount } }";
    format!("{query}{}", " ".repeat(bytes.saturating_sub(query.len())))
}

#[tokio::test]
async fn a_uri_over_the_limit_is_a_coded_414_in_the_shape_of_its_door() {
    let (dbs, servers) = servers().await;
    for (t, server) in dbs.iter().zip(&servers) {
        // 40 KB: over the 32 KiB limit, under what hyper itself refuses (64 KiB).
        let response = server
            .client
            .get(server.url("/odata/Dialogues"))
            .query(&[("$filter", long_filter(40_000))])
            .send()
            .await
            .unwrap();
        assert_eq!(odata_version(&response), Some("4.0"), "{}", t.kind);
        let (status, content_type, body) = answer(response).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG, "{}: {body}", t.kind);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let (code, message) = odata_error(&body);
        assert_eq!(code, "UriTooLong", "{}: {body}", t.kind);
        assert!(
            message.contains("URI") && message.contains("32768"),
            "{}: {message}",
            t.kind
        );

        for accept in [GRAPHQL_RESPONSE, "application/json"] {
            let response = server
                .client
                .get(server.url("/graphql"))
                .query(&[("query", padded_query(40_000))])
                .header(ACCEPT, accept)
                .send()
                .await
                .unwrap();
            let (status, content_type, body) = answer(response).await;
            assert_eq!(status, StatusCode::URI_TOO_LONG, "{}: {body}", t.kind);
            assert_eq!(content_type, accept, "{}", t.kind);
            let (code, message) = graphql_error(&body);
            assert_eq!(code, "BAD_USER_INPUT", "{}: {body}", t.kind);
            assert!(message.contains("32768"), "{}: {message}", t.kind);
        }

        // Under the limit the same request runs.
        let response = server
            .client
            .get(server.url("/graphql"))
            .query(&[("query", padded_query(30_000))])
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .send()
            .await
            .unwrap();
        let (status, _, body) = answer(response).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert_eq!(body["data"]["dialogues"]["totalCount"], 0, "{}", t.kind);
    }
}

#[tokio::test]
async fn headers_over_the_limit_are_a_coded_431_in_the_shape_of_their_door() {
    let (dbs, servers) = servers().await;
    // A 100 KB cookie: over the 64 KiB of headers.
    let cookie = format!("session={}", "x".repeat(100_000));
    for (t, server) in dbs.iter().zip(&servers) {
        let response = server
            .client
            .get(server.url("/odata/Dialogues"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(odata_version(&response), Some("4.0"), "{}", t.kind);
        let (status, _, body) = answer(response).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{}: {body}",
            t.kind
        );
        let (code, message) = odata_error(&body);
        assert_eq!(code, "RequestHeaderFieldsTooLarge", "{}: {body}", t.kind);
        assert!(
            message.contains("headers") && message.contains("65536"),
            "{}: {message}",
            t.kind
        );

        let response = server
            .post(serde_json::json!({ "query": "{ dialogues { totalCount } }" }))
            .header("cookie", &cookie)
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .send()
            .await
            .unwrap();
        let (status, content_type, body) = answer(response).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{}: {body}",
            t.kind
        );
        assert_eq!(content_type, GRAPHQL_RESPONSE, "{}", t.kind);
        let (code, message) = graphql_error(&body);
        assert_eq!(code, "BAD_USER_INPUT", "{}: {body}", t.kind);
        assert!(message.contains("65536"), "{}: {message}", t.kind);

        // Elsewhere (here a route that takes no key) the GraphQL shape too.
        let response = server
            .client
            .get(server.url("/healthz"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let (status, _, body) = answer(response).await;
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(graphql_error(&body).0, "BAD_USER_INPUT", "{}", t.kind);
    }
}

#[tokio::test]
async fn more_header_lines_than_allowed_are_a_coded_431() {
    let (dbs, servers) = servers().await;
    for (t, server) in dbs.iter().zip(&servers) {
        // 150 short lines: few bytes, but more lines than the 100 hyper parses by default.
        let mut request = server.client.get(server.url("/odata/Dialogues"));
        for i in 0..150 {
            request = request.header(format!("x-pad-{i}"), "1");
        }
        let (status, _, body) = answer(request.send().await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{}: {body}",
            t.kind
        );
        let (code, message) = odata_error(&body);
        assert_eq!(code, "RequestHeaderFieldsTooLarge", "{}: {body}", t.kind);
        assert!(message.contains("100 "), "{}: {message}", t.kind);
    }
}

#[tokio::test]
async fn the_limits_are_configurable() {
    let config = ServeConfig {
        no_auth: true,
        max_uri_bytes: 100,
        max_header_bytes: 200,
        ..ServeConfig::default()
    };
    let t = common::sqlite().await;
    let server = Server::start(&t.db, config).await;
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", padded_query(150))])
        .send()
        .await
        .unwrap();
    let (status, _, body) = answer(response).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG, "{body}");
    assert!(graphql_error(&body).1.contains(" 100 "), "{body}");
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("x-pad", "y".repeat(300))
        .send()
        .await
        .unwrap();
    let (status, _, body) = answer(response).await;
    assert_eq!(
        status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{body}"
    );
    assert!(graphql_error(&body).1.contains(" 200 "), "{body}");
}
