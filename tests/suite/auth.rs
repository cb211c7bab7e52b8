//! API keys and the HTTP guard around them (API.md §6): keys made, listed and revoked through the
//! real `insights` binary; 401/403/429 over a real socket; `--no-auth` only on loopback; CORS,
//! introspection switch and request ids.
use crate::common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::Server;
use insights::app::config::ServeConfig;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    AUTHORIZATION, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{json, Value};

const COUNT: &str = "{ dialogues { totalCount } }";

/// Runs the real binary against `database_url`; returns (success, stdout, stderr).
async fn cli(database_url: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
        .arg("--database-url")
        .arg(database_url)
        .arg("--log")
        .arg("warn")
        .args(args)
        .env_remove("INSIGHTS_DATABASE_URL")
        .env_remove("INSIGHTS_TENANT")
        .output()
        .await
        .expect("run insights");
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("utf-8 stdout"),
        String::from_utf8(output.stderr).expect("utf-8 stderr"),
    )
}

/// `insights keys create`: the secret alone on stdout.
async fn create_key(database_url: &str, tenant: &str, scope: &str, name: Option<&str>) -> String {
    let mut args = vec!["keys", "create", "--tenant", tenant, "--scope", scope];
    if let Some(name) = name {
        args.extend(["--name", name]);
    }
    let (ok, stdout, stderr) = cli(database_url, &args).await;
    assert!(ok, "keys create failed: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be the key alone: {stdout:?}");
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    let key = lines[0].to_string();
    assert!(!stderr.contains(&key), "the key must not also go to stderr");
    key
}

/// One row of `insights keys list`.
#[derive(Debug, Clone)]
struct Listed {
    id: String,
    tenant: String,
    scopes: String,
    label: String,
    created: String,
    last_used: String,
    status: String,
}

async fn list_keys(database_url: &str, tenant: Option<&str>) -> (String, Vec<Listed>) {
    let mut args = vec!["keys", "list"];
    if let Some(tenant) = tenant {
        args.extend(["--tenant", tenant]);
    }
    let (ok, stdout, stderr) = cli(database_url, &args).await;
    assert!(ok, "keys list failed: {stderr}");
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    assert_eq!(
        header,
        [
            "id",
            "tenant",
            "scopes",
            "label",
            "created",
            "last used",
            "status"
        ],
        "{stdout}"
    );
    let rows = lines
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            assert_eq!(c.len(), 7, "{line:?}");
            Listed {
                id: c[0].into(),
                tenant: c[1].into(),
                scopes: c[2].into(),
                label: c[3].into(),
                created: c[4].into(),
                last_used: c[5].into(),
                status: c[6].into(),
            }
        })
        .collect();
    (stdout, rows)
}

async fn load_a(db: &DatabaseConnection) {
    common::load(
        db,
        "a",
        "isolation_a_endpoints.ndjson",
        "isolation_a_dialogues.ndjson",
    )
    .await;
}

fn with_keys() -> ServeConfig {
    ServeConfig {
        no_auth: false,
        ..ServeConfig::default()
    }
}

fn is_base64url(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_listed_used_and_revoked_through_the_cli() {
    for t in common::databases().await {
        load_a(&t.db).await;
        let key = create_key(&t.url, "a", "read", Some("dashboard")).await;
        // ≥128 random bits after the prefix: at least 22 base64url characters.
        let (prefix, random) = key.split_once('_').expect("prefixed key");
        assert_eq!(prefix, "dik", "{key}");
        assert!(
            random.len() >= 22 && is_base64url(random),
            "{}: {key}",
            t.kind
        );
        let bytes = URL_SAFE_NO_PAD.decode(random).expect("base64url");
        assert!(bytes.len() >= 16, "{} random bytes", bytes.len());
        // Keys differ every time.
        let mut keys = vec![key.clone()];
        for _ in 0..3 {
            keys.push(create_key(&t.url, "a", "read,ingest", None).await);
        }
        let ingest_only = create_key(&t.url, "b", "ingest", Some("loader")).await;
        keys.push(ingest_only.clone());
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");

        // Stored only hashed: no column of any key row holds a secret.
        let rows = entity::api_key::Entity::find().all(&t.db).await.unwrap();
        assert_eq!(rows.len(), 5, "{}", t.kind);
        let stored = format!("{rows:?}");
        for secret in &keys {
            assert!(!stored.contains(secret.as_str()), "{}: {stored}", t.kind);
            assert!(!stored.contains(&secret[4..]), "{}: {stored}", t.kind);
        }
        // Not even in the SQLite file's bytes.
        if let Some(path) = t
            .url
            .strip_prefix("sqlite://")
            .and_then(|p| p.split('?').next())
        {
            for suffix in ["", "-wal"] {
                if let Ok(raw) = std::fs::read(format!("{path}{suffix}")) {
                    for secret in &keys {
                        assert!(
                            !raw.windows(secret.len() - 4)
                                .any(|w| w == &secret.as_bytes()[4..]),
                            "the secret is in {path}{suffix}"
                        );
                    }
                }
            }
        }

        // Listing shows every key, never a secret; filtered by tenant.
        let (text, listed) = list_keys(&t.url, None).await;
        assert_eq!(listed.len(), 5, "{text}");
        assert!(!text.contains("dik_"), "{}: {text}", t.kind);
        for secret in &keys {
            assert!(!text.contains(&secret[4..]), "{text}");
        }
        let first = listed[0].clone();
        assert_eq!(
            (
                first.tenant.as_str(),
                first.scopes.as_str(),
                first.label.as_str(),
                first.last_used.as_str(),
                first.status.as_str()
            ),
            ("a", "read", "dashboard", "-", "active"),
            "{text}"
        );
        assert!(
            first.created.ends_with('Z') && first.created.starts_with("20"),
            "{text}"
        );
        let (text_b, listed_b) = list_keys(&t.url, Some("b")).await;
        assert_eq!(listed_b.len(), 1, "{text_b}");
        assert_eq!(
            (
                listed_b[0].scopes.as_str(),
                listed_b[0].label.as_str(),
                listed_b[0].tenant.as_str()
            ),
            ("ingest", "loader", "b")
        );
        let (text_none, listed_none) = list_keys(&t.url, Some("nobody")).await;
        assert!(listed_none.is_empty(), "{text_none}");

        // The key works over HTTP, and `last used` shows it afterwards.
        let server = Server::start(&t.db, with_keys()).await;
        let (status, body) = server.query(&key, COUNT, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.kind);
        assert_eq!(
            body,
            json!({ "data": { "dialogues": { "totalCount": 5 } } })
        );
        let mut last_used = String::new();
        for _ in 0..50 {
            let (_, listed) = list_keys(&t.url, Some("a")).await;
            last_used = listed
                .iter()
                .find(|k| k.id == first.id)
                .unwrap()
                .last_used
                .clone();
            if last_used != "-" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            last_used.starts_with("20") && last_used.ends_with('Z'),
            "{}: last used {last_used:?}",
            t.kind
        );
        // Keys never used still show none.
        let (_, listed) = list_keys(&t.url, None).await;
        assert!(listed[1..].iter().all(|k| k.last_used == "-"), "{listed:?}");

        // Revoked: 401 from then on, listed as revoked; unknown ids are an error.
        let (ok, stdout, stderr) = cli(&t.url, &["keys", "revoke", &first.id]).await;
        assert!(ok, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let (status, body) = server.query(&key, COUNT, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}: {body}", t.kind);
        assert_eq!(common::error_codes(&body), ["UNAUTHENTICATED"], "{body}");
        let (_, listed) = list_keys(&t.url, None).await;
        assert_eq!(listed[0].status, "revoked");
        assert!(listed[1..].iter().all(|k| k.status == "active"));
        // The other keys still work.
        let (status, body) = server.query(&keys[1], COUNT, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (ok, _, stderr) = cli(&t.url, &["keys", "revoke", "key_doesnotexist"]).await;
        assert!(!ok, "revoking an unknown id must fail");
        assert!(stderr.contains("key_doesnotexist"), "{stderr}");
    }
}

#[tokio::test]
async fn keys_create_refuses_bad_scopes_without_printing_a_key() {
    let t = common::sqlite().await;
    for scope in ["admin", "", "read,write"] {
        let (ok, stdout, stderr) = cli(
            &t.url,
            &["keys", "create", "--tenant", "a", "--scope", scope],
        )
        .await;
        assert!(!ok, "scope {scope:?} accepted");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains("scope"), "{stderr}");
    }
    let rows = entity::api_key::Entity::find().all(&t.db).await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn body(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    for t in common::databases().await {
        load_a(&t.db).await;
        let read = common::key(&t.db, "a", "read").await;
        let server = Server::start(&t.db, with_keys()).await;
        // Flip the last character of a real key.
        let mut near = read.clone();
        let last = near.pop().unwrap();
        near.push(if last == 'A' { 'B' } else { 'A' });
        let fresh = format!("dik_{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        let long = format!("dik_{}", "A".repeat(10_000));
        let attempts: Vec<(&str, Option<String>)> = vec![
            ("no header", None),
            ("empty", Some(String::new())),
            ("Bearer only", Some("Bearer ".into())),
            ("garbage", Some("Bearer garbage".into())),
            ("unknown key", Some(format!("Bearer {fresh}"))),
            ("near miss", Some(format!("Bearer {near}"))),
            ("long", Some(format!("Bearer {long}"))),
            ("basic", Some(format!("Basic {read}"))),
            ("bare key", Some(read.clone())),
            ("hash of a key", {
                let rows = entity::api_key::Entity::find().all(&t.db).await.unwrap();
                Some(format!("Bearer {}", rows[0].secret_hash))
            }),
        ];
        for (what, authorization) in attempts {
            for method in [Method::POST, Method::GET] {
                let mut request = if method == Method::POST {
                    server.post(json!({ "query": COUNT }))
                } else {
                    server
                        .client
                        .get(server.url("/graphql"))
                        .query(&[("query", COUNT)])
                };
                if let Some(value) = &authorization {
                    request = request.header(AUTHORIZATION, value);
                }
                let response = request.send().await.unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{}: {what} {method}",
                    t.kind
                );
                let challenge = header(&response, WWW_AUTHENTICATE).unwrap_or_default();
                assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
                assert!(header(&response, reqwest::header::CONTENT_TYPE)
                    .is_some_and(|c| c.contains("json")));
                let body = body(response).await;
                assert_eq!(
                    common::error_codes(&body),
                    ["UNAUTHENTICATED"],
                    "{what}: {body}"
                );
                assert!(body.get("data").is_none(), "{what}: {body}");
                let message = body["errors"][0]["message"].as_str().unwrap();
                assert!(!message.contains(&read), "{message}");
            }
        }
        // The real key, also with a lower-case scheme.
        for authorization in [format!("Bearer {read}"), format!("bearer {read}")] {
            let response = server
                .post(json!({ "query": COUNT }))
                .header(AUTHORIZATION, authorization)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", t.kind);
            assert_eq!(
                body(response).await,
                json!({ "data": { "dialogues": { "totalCount": 5 } } })
            );
        }
        // Health checks need no key.
        for path in ["/healthz", "/readyz"] {
            let response = server.client.get(server.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
    }
}

#[tokio::test]
async fn scopes_decide_what_a_key_may_do() {
    for t in common::databases().await {
        load_a(&t.db).await;
        let ingest = common::key(&t.db, "a", "ingest").await;
        let read = common::key(&t.db, "a", "read").await;
        let both = common::key(&t.db, "a", "read,ingest").await;
        let server = Server::start(&t.db, with_keys()).await;
        for query in [
            COUNT,
            r#"{ dialogue(id: "d1") { id } }"#,
            "{ dialogueByOrderNumber(orderNumber: 1) { id } }",
            "{ endpoints { totalCount } }",
            r#"{ endpoint(id: "q-1") { name } }"#,
            r#"{ dialogueStats(from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z") { dialogues } }"#,
        ] {
            let (status, body) = server.query(&ingest, query, json!({})).await;
            assert_eq!(status, StatusCode::OK, "{}: {query}: {body}", t.kind);
            assert_eq!(
                common::error_codes(&body),
                ["FORBIDDEN"],
                "{}: {query}: {body}",
                t.kind
            );
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("read"), "{message}");
            // No data of the tenant comes with the refusal.
            let data = body["data"].to_string();
            assert!(
                !data.contains("d1") && !data.contains("A "),
                "{query}: {body}"
            );
            for key in [&read, &both] {
                let (status, body) = server.query(key, query, json!({})).await;
                assert_eq!(status, StatusCode::OK, "{query}: {body}");
                assert!(body.get("errors").is_none(), "{query}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn each_key_has_a_rate_limit() {
    let t = common::sqlite().await;
    load_a(&t.db).await;
    let key = common::key(&t.db, "a", "read").await;
    let other = common::key(&t.db, "a", "read").await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            rate_limit: 2,
            ..with_keys()
        },
    )
    .await;
    // 2 per second with bursts of 4: ten at once cannot all pass.
    let mut limited = None;
    let mut passed = 0;
    for _ in 0..10 {
        let response = server
            .post_with_key(&key, json!({ "query": COUNT }))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        passed += 1;
    }
    assert!(passed >= 2, "{passed} passed");
    let response = limited.expect("no 429 after 10 requests at a limit of 2/s");
    let retry_after: u64 = header(&response, RETRY_AFTER)
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
    assert!(response.headers().get("x-request-id").is_some());
    let body = body(response).await;
    assert_eq!(common::error_codes(&body), ["RATE_LIMITED"], "{body}");
    // Another key is not affected.
    let (status, body) = server.query(&other, COUNT, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // After the wait, the key works again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, body) = server.query(&key, COUNT, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn no_auth_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    for bind in ["0.0.0.0:0", "[::]:0", "192.0.2.1:4000"] {
        let started = std::time::Instant::now();
        let (ok, stdout, stderr) = cli(&url, &["serve", "--no-auth", "--bind", bind]).await;
        assert!(!ok, "serve --no-auth --bind {bind} started");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "it must refuse at once"
        );
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("--no-auth") && stderr.contains("loopback"),
            "{bind}: {stderr}"
        );
    }
    // The library refuses too.
    let t = common::sqlite().await;
    let config = ServeConfig {
        no_auth: true,
        bind: "0.0.0.0:4000".parse().unwrap(),
        ..ServeConfig::default()
    };
    assert!(insights::http::check_access(&config).is_err());
    assert!(insights::http::app(t.db.clone(), &config).await.is_err());
}

/// Kills the child on drop (by its own handle), so a failing test leaves no server behind.
struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_on_loopback_needs_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let bind = format!("127.0.0.1:{port}");
    let mut child = Child(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
            .args(["--database-url", &url, "--log", "warn"])
            .args([
                "serve",
                "--demo",
                "--demo-dialogues",
                "200",
                "--bind",
                &bind,
            ])
            .env_remove("INSIGHTS_NO_AUTH")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start insights serve --demo"),
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{bind}");
    let mut up = false;
    for _ in 0..600 {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("serve --demo exited: {status}");
        }
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve --demo did not come up within a minute");
    let response = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": COUNT }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        json!({ "data": { "dialogues": { "totalCount": 200 } } })
    );
    child.0.kill().await.expect("kill");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let t = common::sqlite().await;
    load_a(&t.db).await;
    let key = common::key(&t.db, "a", "read").await;
    let preflight = |server: &Server, origin: &str| {
        server
            .client
            .request(Method::OPTIONS, server.url("/graphql"))
            .header(ORIGIN, origin)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type")
            .send()
    };
    // Default: no origin is allowed, neither in a preflight nor on the answer itself.
    let server = Server::start(&t.db, with_keys()).await;
    for origin in ["https://app.example", "https://evil.example", "null"] {
        let response = preflight(&server, origin).await.unwrap();
        assert!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{origin}: {:?}",
            response.headers()
        );
        let response = server
            .post_with_key(&key, json!({ "query": COUNT }))
            .header(ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }
    // An allow-list: exactly those origins.
    let server = Server::start(
        &t.db,
        ServeConfig {
            cors_origins: vec!["https://app.example".into()],
            ..with_keys()
        },
    )
    .await;
    let response = preflight(&server, "https://app.example").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("https://app.example")
    );
    let allowed_headers = header(&response, reqwest::header::ACCESS_CONTROL_ALLOW_HEADERS)
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let response = server
        .post_with_key(&key, json!({ "query": COUNT }))
        .header(ORIGIN, "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("https://app.example")
    );
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "http://app.example",
        "null",
    ] {
        let response = preflight(&server, origin).await.unwrap();
        assert!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{origin}"
        );
        let response = server
            .post_with_key(&key, json!({ "query": COUNT }))
            .header(ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{origin}"
        );
    }
    // A preflight needs no key; an unauthenticated request from an allowed origin is still 401.
    let response = server
        .post(json!({ "query": COUNT }))
        .header(ORIGIN, "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let t = common::sqlite().await;
    let key = common::key(&t.db, "a", "read").await;
    let introspection = [
        "{ __schema { queryType { name } } }",
        r#"{ __type(name: "Dialogue") { name } }"#,
        "query { a: __schema { types { name } } }",
    ];
    let on = Server::start(&t.db, with_keys()).await;
    for query in introspection {
        let (status, body) = on.query(&key, query, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert!(body.get("errors").is_none(), "{query}: {body}");
    }
    let off = Server::start(
        &t.db,
        ServeConfig {
            introspection: false,
            ..with_keys()
        },
    )
    .await;
    for query in introspection {
        let (status, body) = off.query(&key, query, json!({})).await;
        let codes = common::error_codes(&body);
        assert!(!codes.is_empty(), "{query}: {body}");
        assert!(
            codes.iter().all(|c| c == "GRAPHQL_VALIDATION_FAILED"),
            "{query}: {body}"
        );
        assert!(status.is_client_error(), "{query}: {status}");
        let text = body.to_string();
        assert!(
            !text.contains("Dialogue\"") && !text.contains("queryType\":"),
            "{text}"
        );
    }
    // Ordinary queries and __typename still work.
    let (status, body) = off
        .query(&key, "{ __typename dialogues { totalCount } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "__typename": "Query", "dialogues": { "totalCount": 0 } } })
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let t = common::sqlite().await;
    let key = common::key(&t.db, "a", "read").await;
    let server = Server::start(&t.db, with_keys()).await;
    let request_id =
        |response: &reqwest::Response| header(response, "x-request-id".parse().unwrap());
    // A sane id is echoed, with and without a valid key.
    for authorization in [Some(key.as_str()), None] {
        let mut request = server
            .post(json!({ "query": COUNT }))
            .header("x-request-id", "abc-123_XYZ");
        if let Some(key) = authorization {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(request_id(&response).as_deref(), Some("abc-123_XYZ"));
    }
    // Without one, or with one that is not sane, the server makes its own.
    let mut seen = Vec::new();
    let sent_ids: Vec<Option<String>> = vec![
        None,
        Some("has spaces in it".into()),
        Some("x".repeat(65)),
        Some("semi;colon".into()),
    ];
    for sent in sent_ids {
        let mut request = server.post_with_key(&key, json!({ "query": COUNT }));
        if let Some(sent) = &sent {
            request = request.header("x-request-id", sent.as_str());
        }
        let response = request.send().await.unwrap();
        let id = request_id(&response).expect("x-request-id");
        assert!(Some(&id) != sent.as_ref(), "{id}");
        assert!(
            !id.is_empty() && id.len() <= 64 && is_base64url(&id),
            "{id:?}"
        );
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "request ids must differ: {seen:?}");
}

/// An address blocked for failed keys is refused without a look-up, but never with a valid
/// key: everyone behind one NAT is not locked out by one bad script.
#[tokio::test]
async fn a_blocked_address_still_gets_in_with_a_valid_key() {
    let db = common::sqlite().await;
    let config = insights::app::config::ServeConfig {
        auth_failures_per_minute: 2,
        ..insights::app::config::ServeConfig::default()
    };
    let (base, _hub, _task) = crate::live::in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let ask = |bearer: Option<String>| {
        let mut request = http
            .post(format!("{base}/graphql"))
            .json(&serde_json::json!({ "query": "{ dialogues(first: 1) { totalCount } }" }));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    let bad = || Some(format!("dik_{}", "x".repeat(43)));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            ask(Some("dik_wrong".to_string()))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 401],
        "the third failure is over a budget of 2 a minute"
    );
    // Blocked: no key, or one that cannot be a key, is refused before any look-up.
    for bearer in [
        None,
        Some("junk".to_string()),
        Some("dik_wrong".to_string()),
    ] {
        let response = ask(bearer.clone()).await.unwrap();
        assert_eq!(response.status(), 429, "{bearer:?}");
        assert!(response.headers().contains_key("retry-after"));
    }
    // A key of the right shape is still looked up (a few at a time for all blocked addresses):
    // a wrong one is told so.
    assert_eq!(ask(bad()).await.unwrap().status(), 401);
    // The valid key, new to this process, is looked up and served; then it passes at once.
    for _ in 0..3 {
        let response = ask(Some(key.clone())).await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["data"]["dialogues"]["totalCount"], 0, "{body}");
    }
    // And the block still stands for what cannot be a key.
    assert_eq!(ask(None).await.unwrap().status(), 429);
}
