//! What a new frontend developer meets in the first hour: a local dev server's calls (CORS), and
//! what `serve --demo` says when it starts. Through real HTTP and the real binary.
use crate::common;
use crate::live::{free_port, in_process};

use std::process::Stdio;
use std::time::Duration;

use insights::app::config::ServeConfig;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const VITE: &str = "http://localhost:5173";

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A browser's preflight for a JSON POST with a key, from `origin`.
async fn preflight(base: &str, origin: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_demo_on_loopback_lets_local_dev_servers_in() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        demo: true,
        no_auth: true,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    for origin in [VITE, "http://127.0.0.1:3000"] {
        let response = preflight(&base, origin).await;
        assert!(
            response.status().is_success(),
            "{origin}: {}",
            response.status()
        );
        assert_eq!(allowed_origin(&response).as_deref(), Some(origin));
        let allowed_headers = response
            .headers()
            .get("access-control-allow-headers")
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default();
        assert!(
            allowed_headers.contains("authorization"),
            "{allowed_headers}"
        );
        // The request itself then carries the header the browser checks.
        let answered = client()
            .post(format!("{base}/graphql"))
            .header("Origin", origin)
            .json(&serde_json::json!({ "query": "{ dialogues(first: 1) { totalCount } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(allowed_origin(&answered).as_deref(), Some(origin));
        let body: Value = answered.json().await.unwrap();
        assert_eq!(body["data"]["dialogues"]["totalCount"], 0, "{body}");
    }
    // Not a local origin: refused even in a demo.
    let response = preflight(&base, "http://evil.example").await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_refused_origin_is_told_which_flag_allows_it() {
    let db = common::sqlite().await;
    let (base, _hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let response = preflight(&base, VITE).await;
    assert_eq!(response.status(), 403);
    assert_eq!(allowed_origin(&response), None);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("--cors-origin http://localhost:5173"),
        "{message}"
    );

    // Listed origins are let in, others still refused; the server's own pages are not
    // cross-origin at all.
    let config = ServeConfig {
        cors_origins: vec!["https://app.example.com".into()],
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    let response = preflight(&base, "https://app.example.com").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        allowed_origin(&response).as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(preflight(&base, VITE).await.status(), 403);
    let own = client()
        .get(format!("{base}/graphql"))
        .header("Origin", &base)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
}

/// `serve --demo` says at start that keys are not checked, and why, and where to point a
/// browser.
#[tokio::test]
async fn serve_demo_says_auth_is_off_and_where_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
        .args([
            "--database-url",
            &url,
            "--log",
            "info",
            "--log-format",
            "pretty",
        ])
        .args(["serve", "--demo", "--demo-dialogues", "200"])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env_remove("INSIGHTS_DATABASE_URL")
        .env_remove("INSIGHTS_NO_AUTH")
        .env_remove("INSIGHTS_CORS_ORIGIN")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    let wallboard = format!("http://127.0.0.1:{port}/wallboard");
    while !lines.iter().any(|l: &String| l.contains(&wallboard)) {
        let line = tokio::time::timeout_at(until, async {
            tokio::select! {
                Ok(Some(l)) = stdout.next_line() => Some(l),
                Ok(Some(l)) = stderr.next_line() => Some(l),
                else => None,
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no wallboard URL within 60 s; output: {lines:#?}"));
        match line {
            Some(line) => lines.push(line),
            None => panic!("the server ended; output: {lines:#?}"),
        }
    }
    let text = lines.join("\n");
    for said in [
        "authentication is off (--demo on a loopback address)",
        "whatever key it sends or none",
        &format!("GraphiQL: http://127.0.0.1:{port}/graphql"),
        "browser apps on this machine",
    ] {
        assert!(
            text.contains(said),
            "the start should say {said:?}:\n{text}"
        );
    }
}

/// While the server drains before it stops (`/readyz` 503), it opens no new subscription,
/// over WebSocket or Server-Sent Events: it would only be cut off again. The client is told
/// to go elsewhere (503, Retry-After) instead of being accepted and then closed.
#[tokio::test]
async fn no_new_subscription_while_draining() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        no_auth: true,
        ..ServeConfig::default()
    };
    let (base, _hub, drain, _task) = crate::live::in_process_with_drain(&db.db, config).await;
    let sse = || {
        client()
            .post(format!("{base}/graphql/stream"))
            .header("Accept", "text/event-stream")
            .json(&serde_json::json!({ "query": "subscription { dialogueIngested { id } }" }))
            .send()
    };
    // Before the drain both transports open.
    let open = sse().await.unwrap();
    assert_eq!(open.status(), 200);
    drop(open);
    crate::live::Client::ready(&base, None).await;

    drain.begin();
    assert_eq!(
        client()
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let refused = sse().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("draining"),
        "{body}"
    );
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/graphql", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected HTTP 503, got {:?}", other.map(|r| r.1.status())),
    }
}
