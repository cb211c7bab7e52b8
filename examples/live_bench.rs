//! The client side of `bench/live.sh` (a graphql-transport-ws client, tokio-tungstenite):
//!
//! - `latency SERVER DATABASE_URL SUBSCRIPTIONS COMMITS`: opens SUBSCRIPTIONS connections with one
//!   `dialogueIngested` each, then commits COMMITS single-dialogue transactions to the database
//!   (announced as a writer does: NOTIFY inside the transaction), 20 a second, and measures for
//!   every subscriber the time from the commit's return to the event's arrival.
//! - `idle SERVER PID SUBSCRIPTIONS`: the server's RSS before and after opening SUBSCRIPTIONS
//!   idle subscriptions (one connection each).
//!
//! Prints one JSON object with the figures.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entity::{dialogue, Direction, Outcome};
use futures::{SinkExt, StreamExt};
use insights_core::live::{Announcer, DialoguesCommitted};
use sea_orm::{ActiveModelTrait, TransactionTrait};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(server: &str, id: usize) -> Ws {
    let url = format!("{}/graphql", server.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    ws.send(Message::Text(
        json!({ "type": "connection_init", "payload": {} })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            other => panic!("no ack: {other:?}"),
        }
    }
    ws.send(Message::Text(
        json!({ "type": "subscribe", "id": format!("s{id}"),
                "payload": { "query": "subscription { dialogueIngested { id } }" } })
        .to_string()
        .into(),
    ))
    .await
    .unwrap();
    ws
}

fn rss_kb(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn latency(server: &str, database_url: &str, subscriptions: usize, commits: usize) -> Value {
    let db = insights_core::db::connect(&insights_core::db::DbOptions::new(database_url))
        .await
        .expect("database");
    let tenant = insights_core::tenant::ensure(&db, "default").await.unwrap();
    let committed_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let samples: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut readers = Vec::new();
    for i in 0..subscriptions {
        let mut ws = subscribe(server, i).await;
        let committed_at = committed_at.clone();
        let samples = samples.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < commits {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let now = Instant::now();
                        let v: Value = serde_json::from_str(&t).unwrap();
                        match v["type"].as_str() {
                            Some("next") => {
                                let id = v["payload"]["data"]["dialogueIngested"]["id"]
                                    .as_str()
                                    .expect("an event")
                                    .to_string();
                                // The commit's return is recorded right after it; an event
                                // can arrive first, so wait for the record.
                                let at = loop {
                                    if let Some(at) = committed_at.lock().unwrap().get(&id) {
                                        break *at;
                                    }
                                    tokio::task::yield_now().await;
                                };
                                let ms = now.saturating_duration_since(at).as_secs_f64() * 1000.0;
                                samples.lock().unwrap().push(ms);
                                seen += 1;
                            }
                            Some("ping") => {
                                let _ = ws.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("subscriber {i} ended: {other:?}"),
                }
            }
        }));
    }
    // Let the server open every subscription.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_ms = chrono::Utc::now().timestamp_millis();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let run = chrono::Utc::now().timestamp_millis();
    for n in 0..commits {
        tick.tick().await;
        let id = format!("bench-{run}-{n}");
        let row = dialogue::Model {
            tenant_id: tenant.id,
            id: id.clone(),
            order_number: 1_000_000 + n as i32,
            start_date: chrono::Utc::now().date_naive(),
            start_timestamp_ms: base_ms + n as i64,
            queue_enter_timestamp_ms: None,
            accept_timestamp_ms: None,
            end_timestamp_ms: Some(base_ms + n as i64 + 1000),
            ivr_duration_in_sec: None,
            queue_duration_in_sec: None,
            initial_talk_duration_in_sec: None,
            session_duration_in_sec: Some(1.0),
            ivr_id: None,
            queue_id: None,
            customer_id: None,
            agent_id: None,
            direction: Direction::Inbound,
            outcome: Outcome::IvrDrop,
            in_sla: None,
            quick_drop: None,
        };
        let txn = db.begin().await.unwrap();
        let active: dialogue::ActiveModel = row.into();
        active.reset_all().insert(&txn).await.unwrap();
        let event = DialoguesCommitted {
            tenant_id: tenant.id,
            ids: vec![id.clone()],
        };
        Announcer::within(&txn, &event).await.unwrap();
        txn.commit().await.unwrap();
        committed_at.lock().unwrap().insert(id, Instant::now());
    }
    for reader in readers {
        tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .expect("every event arrives")
            .unwrap();
    }
    let mut samples = samples.lock().unwrap().clone();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({
        "subscriptions": subscriptions,
        "commits": commits,
        "events": samples.len(),
        "p50_ms": percentile(&samples, 0.5),
        "p99_ms": percentile(&samples, 0.99),
        "max_ms": samples.last().copied().unwrap_or(0.0),
    })
}

async fn idle(server: &str, pid: &str, subscriptions: usize) -> Value {
    // Warm up: the first connections allocate the server's lasting structures.
    let mut warm = Vec::new();
    for i in 0..10 {
        warm.push(subscribe(server, i).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kb(pid);
    let mut open = Vec::new();
    for i in 0..subscriptions {
        open.push(subscribe(server, i).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kb(pid);
    // The server's own count, to be sure every subscription is open.
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{server}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: f64 = metrics
        .lines()
        .find(|l| l.starts_with("insights_subscriptions_open "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0);
    let per = (after.saturating_sub(before)) as f64 / subscriptions as f64;
    drop(open);
    drop(warm);
    json!({
        "subscriptions": subscriptions,
        "open_per_server_metrics": counted,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_idle_subscription": (per * 10.0).round() / 10.0,
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("latency") => {
            latency(
                &args[2],
                &args[3],
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
            )
            .await
        }
        Some("idle") => idle(&args[2], &args[3], args[4].parse().unwrap()).await,
        _ => {
            eprintln!("usage: live_bench latency SERVER DATABASE_URL SUBSCRIPTIONS COMMITS | idle SERVER PID SUBSCRIPTIONS");
            std::process::exit(2);
        }
    };
    println!("{result}");
}
