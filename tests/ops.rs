//! Operating the server: `/metrics` (Prometheus text, bounded labels, no tenant data), the
//! per-address throttle on bad API keys, the SIGTERM drain of `/readyz`, and the log formats,
//! over real HTTP and, where the behaviour is the process's, a real `insights serve`.
#[path = "suite/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Server;
use insights::app::config::ServeConfig;
use insights_core::ingest::Kind;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_text(server: &Server) -> String {
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_operations_by_name_and_outcome_without_tenant_data() {
    let t = common::sqlite().await;
    let tenant = "metrics-tenant-secret-name";
    let key = common::key(&t.db, tenant, "read").await;
    common::import(
        &t.db,
        Kind::Dialogues,
        &common::samples("dialogues.ndjson"),
        tenant,
    )
    .await
    .unwrap();
    let server = Server::start(&t.db, ServeConfig::default()).await;
    let before = metrics_text(&server).await;
    let batches = "insights_loader_batch_size_count";
    let ok = r#"insights_graphql_requests_total{operation="MetricsQueues",outcome="ok"}"#;
    let anonymous_ok = r#"insights_graphql_requests_total{operation="anonymous",outcome="ok"}"#;
    let bad =
        r#"insights_graphql_requests_total{operation="MetricsBroken",outcome="request_error"}"#;
    for _ in 0..3 {
        let r = server
            .post_with_key(
                &key,
                json!({ "query": "query MetricsQueues { endpoints(first: 5) { nodes { id } } }" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    server
        .post_with_key(
            &key,
            json!({ "query": "{ dialogues(first: 1) { nodes { id queue { id } } } }" }),
        )
        .send()
        .await
        .unwrap();
    server
        .post_with_key(&key, json!({ "query": "query MetricsBroken { nope }" }))
        .send()
        .await
        .unwrap();
    // Stats rows load their queues through the batched loader: one batch.
    let r: Value = server
        .post_with_key(&key, json!({ "query": "{ dialogueStats(from: \"2000-01-01T00:00:00Z\", to: \"2100-01-01T00:00:00Z\", groupBy: [QUEUE]) { queue { id } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        r["data"]["dialogueStats"][0]["queue"]["id"].is_string(),
        "{r}"
    );
    // Records written through the mutation, by result.
    let writer = common::key(&t.db, tenant, "ingest").await;
    let ingest = json!({ "query": "mutation { ingestDialogues(dialogues: [
        { id: \"m-1\", orderNumber: 900001, startTimestamp: \"2026-05-01T10:00:00Z\", direction: INBOUND, outcome: IVR_DROP },
        { id: \"m-2\", orderNumber: 900002, startTimestamp: \"2026-05-01T10:05:00Z\", direction: INBOUND, outcome: IVR_DROP }
      ]) { inserted } }" });
    let r: Value = server
        .post_with_key(&writer, ingest.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["ingestDialogues"]["inserted"], 2, "{r}");
    server.post_with_key(&writer, ingest).send().await.unwrap();
    let after = metrics_text(&server).await;
    let inserted =
        r#"insights_records_ingested_total{kind="dialogues",source="mutation",result="inserted"}"#;
    let unchanged =
        r#"insights_records_ingested_total{kind="dialogues",source="mutation",result="unchanged"}"#;
    assert_eq!(
        sample(&after, inserted) - sample(&before, inserted),
        2.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, unchanged) - sample(&before, unchanged),
        2.0,
        "{after}"
    );
    assert!(
        sample(&after, batches) > sample(&before, batches),
        "{after}"
    );
    assert_eq!(sample(&after, ok) - sample(&before, ok), 3.0, "{after}");
    assert!(sample(&after, anonymous_ok) - sample(&before, anonymous_ok) >= 1.0);
    assert_eq!(sample(&after, bad) - sample(&before, bad), 1.0, "{after}");
    for name in [
        "insights_graphql_request_duration_seconds_bucket{operation=\"MetricsQueues\",le=\"0.005\"}",
        "insights_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"}",
        "insights_db_pool_connections{state=\"idle\"}",
        "insights_db_pool_connections{state=\"in_use\"}",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(name)),
            "{name} missing from\n{after}"
        );
    }
    assert!(after
        .contains("insights_graphql_request_duration_seconds_count{operation=\"MetricsQueues\"}"));
    assert!(
        !after.contains(tenant),
        "a tenant name leaked into /metrics"
    );
    assert!(!after.contains(&key), "an API key leaked into /metrics");
}

#[tokio::test]
async fn operation_names_are_bounded_label_values() {
    let t = common::sqlite().await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            ..ServeConfig::default()
        },
    )
    .await;
    for i in 0..(insights::app::metrics::MAX_OPERATION_NAMES + 50) {
        server
            .post(json!({ "query": format!("query Flood{i} {{ endpoints(first: 1) {{ nodes {{ id }} }} }}") }))
            .send()
            .await
            .unwrap();
    }
    let long = format!(
        "query {} {{ endpoints(first: 1) {{ nodes {{ id }} }} }}",
        "L".repeat(100)
    );
    server.post(json!({ "query": long })).send().await.unwrap();
    let text = metrics_text(&server).await;
    // Other tests in this process add their own names; this one's flood is cut at the bound.
    let operations: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("insights_graphql_requests_total{"))
        .filter_map(|l| l.split("operation=\"").nth(1)?.split('"').next())
        .collect();
    let flood = operations.iter().filter(|o| o.starts_with("Flood")).count();
    assert!(
        flood > 0 && flood <= insights::app::metrics::MAX_OPERATION_NAMES,
        "{flood} distinct Flood* labels"
    );
    assert!(operations.contains("other"), "{operations:?}");
    assert!(!text.contains(&"L".repeat(100)));
}

#[tokio::test]
async fn an_address_that_keeps_sending_bad_keys_is_throttled() {
    let t = common::sqlite().await;
    let good = common::key(&t.db, "throttle", "read").await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            auth_failures_per_minute: 3,
            ..ServeConfig::default()
        },
    )
    .await;
    let query = json!({ "query": "{ endpoints(first: 1) { nodes { id } } }" });
    // The budget (3) and the failure that exceeds it are still answered 401.
    for i in 0..4 {
        let r = server
            .post_with_key("not-a-key", query.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "failure {i}");
    }
    // Now the address is refused without a key, with a coded error and Retry-After.
    let r = server.post(query.clone()).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(common::error_codes(&body), vec!["RATE_LIMITED"], "{body}");
    let r = server
        .post_with_key(&good, query.clone())
        .send()
        .await
        .unwrap();
    // A valid key still gets in (everyone behind one NAT is not locked out by one bad script).
    assert_eq!(
        r.status(),
        200,
        "a good key is served from a blocked address"
    );
    let r = server
        .client
        .get(server.url("/odata/Dialogues"))
        .bearer_auth("not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad API key"),
        "{body}"
    );
    // Health and readiness never need a key and are not refused.
    let r = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Another server (another address budget) with good keys only is never throttled.
    let server = Server::start(
        &t.db,
        ServeConfig {
            auth_failures_per_minute: 3,
            ..ServeConfig::default()
        },
    )
    .await;
    for _ in 0..10 {
        let r = server
            .post_with_key(&good, query.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// `insights serve` on a fresh SQLite file and a free port; its stderr lines come through `lines`.
async fn spawn_server(
    extra: &[&str],
    env: &[(&str, &str)],
) -> (
    tokio::process::Child,
    String,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("sqlite://{}/ops.db?mode=rwc", dir.path().display());
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"));
    command
        .args(["--database-url", &url, "serve", "--no-auth", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .env_remove("INSIGHTS_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return (child, base, rx, dir);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("insights serve did not become ready");
}

#[tokio::test]
async fn sigterm_turns_readiness_off_while_requests_are_still_served() {
    let (mut child, base, _lines, _dir) = spawn_server(&["--drain-secs", "3"], &[]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let pid = child.id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut saw_draining = false;
    for _ in 0..40 {
        let r = client.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() == 503 {
            assert_eq!(r.text().await.unwrap(), "shutting down");
            saw_draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(saw_draining, "/readyz never answered 503 after SIGTERM");
    // During the drain, queries are still answered.
    let r = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": "{ endpoints(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the server exits after the drain")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Lines until `done` holds or the stream is quiet for two seconds.
async fn collect_lines(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(2), lines.recv()).await {
        seen.push(line);
        if done(&seen) {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let (_child, base, mut lines, _dir) =
        spawn_server(&["--log-format", "json"], &[("INSIGHTS_LOG", "debug")]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .post(format!("{base}/graphql"))
        .header("x-request-id", "ops-test-1234")
        .json(&json!({ "query": "{ endpoints(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "ops-test-1234");
    let seen = collect_lines(&mut lines, |seen| {
        seen.iter()
            .any(|l| l.contains("ops-test-1234") && l.contains("answered"))
    })
    .await;
    let mut of_request = 0;
    for line in &seen {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let in_request = value["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s["name"] == "request"));
        if in_request {
            let ids: Vec<&Value> = value["spans"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s.get("request_id"))
                .collect();
            assert_eq!(ids.len(), 1, "one request id on {line}");
            if ids[0] == "ops-test-1234" {
                of_request += 1;
            }
        }
    }
    assert!(of_request >= 1, "no log line of the request among {seen:?}");
}

#[tokio::test]
async fn pretty_logs_written_to_a_pipe_have_no_colour_codes() {
    let (_child, base, mut lines, _dir) = spawn_server(&[], &[("INSIGHTS_LOG", "debug")]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .post(format!("{base}/graphql"))
        .header("x-request-id", "ops-test-5678")
        .json(&json!({ "query": "{ endpoints(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    let seen = collect_lines(&mut lines, |seen| {
        seen.iter()
            .any(|l| l.contains("ops-test-5678") && l.contains("answered"))
    })
    .await;
    assert!(
        seen.iter()
            .any(|l| l.contains("request_id=ops-test-5678") && l.contains("answered")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains('\u{1b}')),
        "ANSI escapes in {seen:?}"
    );
}
