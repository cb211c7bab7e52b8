//! Several instances behind one load balancer: `--trusted-proxy` decides when `X-Forwarded-For`
//! names the client (the failed-key throttle, WebSockets waiting for their `connection_init`),
//! on SQLite and PostgreSQL; and, on PostgreSQL (TEST_POSTGRES_URL), instances on one database
//! see each other and hold one key's rate limit and subscription cap together, in this process
//! (three applications on one database) and as real `insights serve` processes (`/metrics`, a
//! goodbye on SIGTERM).
use crate::common;
use crate::live;

use std::time::{Duration, Instant};

use insights::app::client::parse_network;
use insights::app::config::ServeConfig;
use insights_core::live::hub::Hub;
use live::{in_process, Client, Frame, Serve, DEADLINE};
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const INGESTED: &str = "subscription { dialogueIngested { id } }";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POST /graphql with a bad key, as if forwarded for `forwarded` (when given).
async fn bad_key(base: &str, forwarded: Option<&str>) -> StatusCode {
    let mut request = http()
        .post(format!("{base}/graphql"))
        .bearer_auth("dik_wrong")
        .json(&json!({ "query": "{ __typename }" }));
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    request.send().await.unwrap().status()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket upgrade on /graphql forwarded for `forwarded`, left unacknowledged; the socket,
/// or the HTTP status it was refused with.
async fn pending_socket(base: &str, forwarded: &str) -> Result<Socket, StatusCode> {
    let url = format!("{}/graphql", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    headers.insert("X-Forwarded-For", forwarded.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
        }
        Err(other) => panic!("WebSocket upgrade failed: {other}"),
    }
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    for db in common::databases().await {
        let kind = db.kind;
        // This test's requests come from 127.0.0.1: a trusted proxy for one server, not for
        // the other.
        let config = |trusted: &str| ServeConfig {
            auth_failures_per_minute: 2,
            max_pending_sockets_per_address: 1,
            trusted_proxies: vec![parse_network(trusted).unwrap()],
            ..ServeConfig::default()
        };
        let (trusting, _hub, _task) = in_process(&db.db, config("127.0.0.0/8")).await;
        let (wary, _hub2, _task2) = in_process(&db.db, config("10.0.0.0/8")).await;

        // Behind the trusted proxy, each forwarded client has its own failed-key budget.
        for _ in 0..3 {
            assert_eq!(
                bad_key(&trusting, Some("198.51.100.1")).await,
                401,
                "{kind}"
            );
        }
        assert_eq!(
            bad_key(&trusting, Some("198.51.100.1")).await,
            429,
            "{kind}: blocked"
        );
        assert_eq!(
            bad_key(&trusting, Some("198.51.100.2")).await,
            401,
            "{kind}: another client"
        );
        // A client cannot step out of its block by writing an address of its own to the left:
        // the right-most untrusted address counts.
        assert_eq!(
            bad_key(&trusting, Some("198.51.100.9, 198.51.100.1")).await,
            429,
            "{kind}"
        );
        // The proxy's own address (no header) is a client of its own.
        assert_eq!(bad_key(&trusting, None).await, 401, "{kind}");

        // From a peer that is not trusted the header is ignored: the socket's address counts,
        // whatever address each request claims.
        for i in 0..3 {
            let forwarded = format!("203.0.113.{i}");
            assert_eq!(bad_key(&wary, Some(&forwarded)).await, 401, "{kind}");
        }
        assert_eq!(
            bad_key(&wary, Some("203.0.113.200")).await,
            429,
            "{kind}: a fresh X-Forwarded-For does not help from an untrusted peer"
        );

        // WebSockets waiting for their connection_init are counted per forwarded client too.
        let _first = pending_socket(&trusting, "198.51.100.5")
            .await
            .expect("first socket");
        assert_eq!(
            pending_socket(&trusting, "198.51.100.5").await.err(),
            Some(StatusCode::TOO_MANY_REQUESTS),
            "{kind}"
        );
        let _other = pending_socket(&trusting, "198.51.100.6")
            .await
            .expect("another client's socket");
        let _wary = pending_socket(&wary, "198.51.100.7")
            .await
            .expect("first on wary");
        assert_eq!(
            pending_socket(&wary, "198.51.100.8").await.err(),
            Some(StatusCode::TOO_MANY_REQUESTS),
            "{kind}: one address from an untrusted peer"
        );
    }
}

/// Waits until every hub counts `n` instances.
async fn wait_for_fleet(hubs: &[&Hub], n: usize) {
    let until = tokio::time::Instant::now() + DEADLINE;
    while hubs.iter().any(|h| h.fleet().instances() != n) {
        let seen: Vec<usize> = hubs.iter().map(|h| h.fleet().instances()).collect();
        assert!(
            tokio::time::Instant::now() < until,
            "instances seen: {seen:?}, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `hub` has heard that the other instances hold `n` subscriptions of `key_id`.
async fn wait_for_peer_subscriptions(hub: &Hub, key_id: &str, n: usize) {
    let until = tokio::time::Instant::now() + DEADLINE;
    while hub.fleet().peer_subscriptions(key_id) != n {
        assert!(
            tokio::time::Instant::now() < until,
            "{} subscriptions elsewhere, not {n}",
            hub.fleet().peer_subscriptions(key_id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `per_second` requests a second with `key` for `seconds`, round-robin over `bases`,
/// without waiting for answers before the next; the statuses.
async fn round_robin(bases: &[String], key: &str, per_second: u32, seconds: u32) -> Vec<u16> {
    let client = http();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
    let mut requests = Vec::new();
    for i in 0..(per_second * seconds) as usize {
        tick.tick().await;
        let request = client
            .post(format!("{}/graphql", bases[i % bases.len()]))
            .bearer_auth(key)
            .json(&json!({ "query": "{ __typename }" }))
            .send();
        requests.push(tokio::spawn(async move {
            request.await.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn three_instances_on_one_database_hold_one_keys_rate_limit_together() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let budget = 20;
    let config = || ServeConfig {
        rate_limit: budget,
        ..ServeConfig::default()
    };
    let (a, hub_a, _ta) = in_process(&db.db, config()).await;
    let (b, hub_b, _tb) = in_process(&db.db, config()).await;
    let (c, hub_c, _tc) = in_process(&db.db, config()).await;
    wait_for_fleet(&[&hub_a, &hub_b, &hub_c], 3).await;
    let bases = [a, b, c];
    let key = common::key(&db.db, "acme", "read").await;

    // The burst: twice the budget for the fleet, not on each instance. In the first second
    // the fleet admits the burst and a second's refill, 3 × budget (each instance alone
    // would admit three times that).
    let burst = round_robin(&bases, &key, 200, 1).await;
    assert!(burst.iter().all(|s| *s == 200 || *s == 429), "{burst:?}");
    let admitted = burst.iter().filter(|s| **s == 200).count();
    assert!(
        (2 * budget as usize..=4 * budget as usize).contains(&admitted),
        "admitted {admitted} of 200 in the first second, expected about {}",
        3 * budget
    );

    // Then the sustained rate: three times the budget offered, the budget admitted.
    let seconds = 5;
    let started = Instant::now();
    let statuses = round_robin(&bases, &key, 3 * budget, seconds).await;
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = statuses.iter().filter(|s| **s == 200).count() as f64;
    let rate = admitted / elapsed;
    eprintln!(
        "fleet rate limit: 3 instances, budget {budget}/s, offered {}/s round-robin for {elapsed:.2} s: \
         admitted {admitted} ({rate:.1}/s, {:+.1}% of the budget); load {}",
        3 * budget,
        (rate / budget as f64 - 1.0) * 100.0,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    assert!(
        (rate - budget as f64).abs() <= budget as f64 * 0.15,
        "admitted {rate:.1}/s against a budget of {budget}/s (three instances each alone would admit {}/s)",
        3 * budget
    );

    // An instance that leaves says so: the others count two at once and take over its share.
    hub_c.shutdown();
    wait_for_fleet(&[&hub_a, &hub_b], 2).await;
}

#[tokio::test]
async fn the_subscription_cap_holds_across_instances() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let config = || ServeConfig {
        max_subscriptions_per_key: 3,
        ..ServeConfig::default()
    };
    let (a, hub_a, _ta) = in_process(&db.db, config()).await;
    let (b, hub_b, _tb) = in_process(&db.db, config()).await;
    let (c, hub_c, _tc) = in_process(&db.db, config()).await;
    wait_for_fleet(&[&hub_a, &hub_b, &hub_c], 3).await;
    let scopes = insights_core::keys::Scopes::parse("read").unwrap();
    let created = insights_core::keys::create(&db.db, "acme", &scopes, None)
        .await
        .unwrap();
    let (key, key_id) = (created.secret, created.key.id);
    let other = common::key(&db.db, "acme", "read").await;

    let mut on_a = Client::ready(&a, Some(&key)).await;
    on_a.subscribe("a1", INGESTED, json!({})).await;
    on_a.subscribe("a2", INGESTED, json!({})).await;
    live::wait_for_subscriptions(&hub_a, 2).await;
    wait_for_peer_subscriptions(&hub_b, &key_id, 2).await;

    // B holds the third; the fourth is refused on B and, once C has heard, on C.
    let mut on_b = Client::ready(&b, Some(&key)).await;
    on_b.subscribe("b1", INGESTED, json!({})).await;
    live::wait_for_subscriptions(&hub_b, 1).await;
    on_b.subscribe("b2", INGESTED, json!({})).await;
    assert_refused(&mut on_b, "b2").await;
    wait_for_peer_subscriptions(&hub_c, &key_id, 3).await;
    let mut on_c = Client::ready(&c, Some(&key)).await;
    on_c.subscribe("c1", INGESTED, json!({})).await;
    assert_refused(&mut on_c, "c1").await;

    // Another key is not affected.
    let mut other_on_c = Client::ready(&c, Some(&other)).await;
    other_on_c.subscribe("o", INGESTED, json!({})).await;
    live::wait_for_subscriptions(&hub_c, 1).await;

    // Completing one on A frees a place on C, once C has heard.
    on_a.send(json!({ "type": "complete", "id": "a1" })).await;
    wait_for_peer_subscriptions(&hub_c, &key_id, 2).await;
    on_c.subscribe("c2", INGESTED, json!({})).await;
    live::wait_for_subscriptions(&hub_c, 2).await;
    on_c.silent(Duration::from_millis(300)).await;
}

/// The next message for `id` is a RATE_LIMITED error naming the cap, then `complete`.
async fn assert_refused(client: &mut Client, id: &str) {
    let payload = client.next_payload(id).await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{payload}"
    );
    assert!(
        payload["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("3 open subscriptions"),
        "{payload}"
    );
    match client.recv(DEADLINE).await {
        Some(Frame::Json(v)) => assert_eq!(v, json!({ "type": "complete", "id": id })),
        other => panic!("{other:?}"),
    }
}

/// `insights_fleet_instances` in a server's /metrics.
async fn fleet_instances(base: &str) -> Option<f64> {
    let text = http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("insights_fleet_instances "))
        .and_then(|v| v.parse().ok())
}

async fn wait_for_metric(base: &str, n: f64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let seen = fleet_instances(base).await;
        if seen == Some(n) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "insights_fleet_instances is {seen:?} at {base}, not {n}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_processes_count_each_other_and_say_goodbye_on_sigterm() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let a = Serve::start(&db.url, &["--drain-secs", "10"]).await;
    let b = Serve::start(&db.url, &[]).await;
    wait_for_metric(&a.base, 2.0, DEADLINE).await;
    wait_for_metric(&b.base, 2.0, DEADLINE).await;
    // SIGTERM: A drains for 10 s, but says goodbye at once; B does not wait for A's heartbeats
    // to stop (that would take 3 s).
    let pid = a.child.id().expect("pid");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let took = wait_for_metric(&b.base, 1.0, DEADLINE).await;
    assert!(
        took < Duration::from_millis(2500),
        "B counted A for {took:?} after its SIGTERM"
    );
}
