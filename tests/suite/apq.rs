//! Automatic persisted queries over real HTTP (API.md §6): a hash alone is refused with
//! PERSISTED_QUERY_NOT_FOUND until the text was sent once with its hash; then GETs with the hash
//! alone answer as the text would, with a private, short `Cache-Control`. Hash mismatches are
//! BAD_USER_INPUT; errors and POSTs are `no-store`; a hash cannot smuggle a mutation into a GET.
use crate::common;

use common::Server;
use insights::app::config::ServeConfig;
use insights::graphql::apq::sha256_hex;
use reqwest::header::{ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, VARY};
use reqwest::StatusCode;
use serde_json::{json, Value};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

const QUERY: &str = r#"query Queue($q: ID!) {
  dialogues(first: 3, filter: { queueId: { eq: $q } }, orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) {
    totalCount
    nodes { id orderNumber queue { name } }
  }
}"#;

async fn load(db: &sea_orm::DatabaseConnection, tenant: &str) {
    common::load(db, tenant, "read_endpoints.ndjson", "read_dialogues.ndjson").await;
}

fn extensions(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// `GET /graphql?extensions=...&variables=...` with the hash alone.
fn hash_only_get(server: &Server, hash: &str, variables: &Value) -> reqwest::RequestBuilder {
    server.client.get(server.url("/graphql")).query(&[
        ("extensions", extensions(hash).to_string()),
        ("variables", variables.to_string()),
    ])
}

async fn parts(response: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {status} {text}"));
    (status, headers, body)
}

fn header(headers: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn codes(body: &Value) -> Vec<String> {
    common::error_codes(body)
}

#[tokio::test]
async fn hash_alone_works_after_the_text_was_sent_once() {
    for t in common::databases().await {
        load(&t.db, "default").await;
        let server = Server::start(
            &t.db,
            ServeConfig {
                no_auth: true,
                ..ServeConfig::default()
            },
        )
        .await;
        let hash = sha256_hex(QUERY);
        let variables = json!({ "q": "q-sales" });

        // Unknown hash: PERSISTED_QUERY_NOT_FOUND, by GET and POST, in both media types.
        let (status, headers, body) = parts(
            hash_only_get(&server, &hash, &variables)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(header(&headers, CACHE_CONTROL), "no-store");
        let (status, _, body) = parts(
            hash_only_get(&server, &hash, &variables)
                .header(ACCEPT, GRAPHQL_RESPONSE)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");
        let (_, _, body) = parts(
            server
                .post(json!({ "extensions": extensions(&hash), "variables": variables }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");

        // The text once, with its hash (POST, as Apollo's clients retry): it runs.
        let (status, headers, registered) = parts(
            server
                .post(json!({ "query": QUERY, "variables": variables, "extensions": extensions(&hash) }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(registered.get("errors").is_none(), "{registered}");
        assert!(
            registered["data"]["dialogues"]["totalCount"]
                .as_i64()
                .unwrap()
                > 0,
            "{}: {registered}",
            t.kind
        );
        assert_eq!(header(&headers, CACHE_CONTROL), "no-store", "POST");
        // The same answer as without persisted queries at all.
        let (_, _, plain) = parts(
            server
                .post(json!({ "query": QUERY, "variables": variables }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(registered, plain);

        // Now the hash alone works by GET, with the variables of the URL, cacheably.
        let (status, headers, body) = parts(
            hash_only_get(&server, &hash, &variables)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, plain, "{}", t.kind);
        assert_eq!(header(&headers, CACHE_CONTROL), "private, max-age=10");
        let vary = header(&headers, VARY).to_ascii_lowercase();
        assert!(
            vary.contains("authorization") && vary.contains("accept"),
            "{vary}"
        );
        // Other variables, other answer.
        let (_, _, other) = parts(
            hash_only_get(&server, &hash, &json!({ "q": "q-vip" }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(other.get("errors").is_none(), "{other}");
        assert_ne!(other, body);
        // And by POST, and with the hash in capitals.
        let (_, _, body) = parts(
            server
                .post(json!({ "extensions": extensions(&hash.to_ascii_uppercase()), "variables": variables }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(body, plain);

        // A GET whose query fails is not cacheable.
        let (_, headers, body) = parts(
            hash_only_get(&server, &hash, &json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(!codes(&body).is_empty(), "{body}");
        assert_eq!(header(&headers, CACHE_CONTROL), "no-store");
    }
}

#[tokio::test]
async fn a_wrong_hash_is_refused_and_nothing_is_kept() {
    let t = common::sqlite().await;
    load(&t.db, "default").await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            ..ServeConfig::default()
        },
    )
    .await;
    let wrong = sha256_hex("{ dialogues { totalCount } }");
    let (status, headers, body) = parts(
        server
            .post(json!({ "query": QUERY, "variables": { "q": "q-sales" }, "extensions": extensions(&wrong) }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("provided sha does not match query"),
        "{body}"
    );
    assert_eq!(header(&headers, CACHE_CONTROL), "no-store");
    for hash in [wrong, sha256_hex(QUERY)] {
        let (_, _, body) = parts(
            hash_only_get(&server, &hash, &json!({ "q": "q-sales" }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");
    }
    // Malformed extension, other version.
    for extension in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256_hex(QUERY) } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let (status, _, body) = parts(
            server
                .post(json!({ "query": QUERY, "variables": { "q": "q-sales" }, "extensions": extension }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extension}: {body}");
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
}

/// A mutation registered by POST cannot then be run by a hash-only GET.
#[tokio::test]
async fn a_hash_cannot_turn_a_get_into_a_mutation() {
    let t = common::sqlite().await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            ..ServeConfig::default()
        },
    )
    .await;
    let mutation = "mutation M { ingestDialogues(dialogues: []) { received } }";
    let hash = sha256_hex(mutation);
    // Registered (whatever the schema then says of it).
    server
        .post(json!({ "query": mutation, "extensions": extensions(&hash) }))
        .send()
        .await
        .unwrap();
    let response = hash_only_get(&server, &hash, &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(response.headers(), ALLOW), "GET, POST");
    let (_, _, body) = parts(response).await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
}

/// With API keys: no key, no persisted query (neither lookup nor registration); a text
/// registered under one tenant's key answers with another tenant's own rows under its key.
#[tokio::test]
async fn persisted_queries_need_a_key_and_stay_in_the_tenant() {
    let t = common::sqlite().await;
    load(&t.db, "a").await;
    let key_a = common::key(&t.db, "a", "read").await;
    let key_b = common::key(&t.db, "b", "read").await;
    let server = Server::start(&t.db, ServeConfig::default()).await;
    let hash = sha256_hex(QUERY);
    let variables = json!({ "q": "q-sales" });
    let response = server
        .post(json!({ "query": QUERY, "variables": variables, "extensions": extensions(&hash) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(response.headers(), CACHE_CONTROL), "no-store");
    let (_, _, body) = parts(
        hash_only_get(&server, &hash, &variables)
            .header(AUTHORIZATION, format!("Bearer {key_a}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        codes(&body),
        ["PERSISTED_QUERY_NOT_FOUND"],
        "the stranger registered it"
    );
    let (_, _, registered) = parts(
        server
            .post_with_key(
                &key_a,
                json!({ "query": QUERY, "variables": variables, "extensions": extensions(&hash) }),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        registered["data"]["dialogues"]["totalCount"]
            .as_i64()
            .unwrap()
            > 0
    );
    let (status, headers, body) = parts(
        hash_only_get(&server, &hash, &variables)
            .header(AUTHORIZATION, format!("Bearer {key_a}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, registered);
    assert_eq!(header(&headers, CACHE_CONTROL), "private, max-age=10");
    let (_, _, body) = parts(
        hash_only_get(&server, &hash, &variables)
            .header(AUTHORIZATION, format!("Bearer {key_b}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["data"]["dialogues"]["totalCount"], 0, "{body}");
    // Unauthenticated hash-only GET: 401, never the cached text's answer.
    let response = hash_only_get(&server, &hash, &variables)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(response.headers(), CACHE_CONTROL), "no-store");
}

/// `--get-max-age-secs 0`: successful GETs must be revalidated.
#[tokio::test]
async fn max_age_is_configurable() {
    let t = common::sqlite().await;
    load(&t.db, "default").await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            get_max_age_secs: 0,
            ..ServeConfig::default()
        },
    )
    .await;
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", "{ dialogues { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), CACHE_CONTROL),
        "private, no-cache"
    );
}
