//! The client side of `bench/live.sh`, over either transport: `ws` (graphql-transport-ws,
//! tokio-tungstenite) or `sse` (graphql-sse's distinct connections mode on /graphql/stream,
//! reqwest reading the event stream):
//!
//! - `latency SERVER DATABASE_URL SUBSCRIPTIONS COMMITS [ws|sse]`: opens SUBSCRIPTIONS connections
//!   with one `dialogueIngested` each, then commits COMMITS single-dialogue transactions to the
//!   database (announced as a writer does: NOTIFY inside the transaction), 20 a second, and
//!   measures for every subscriber the time from the commit's return to the event's arrival.
//! - `idle SERVER PID SUBSCRIPTIONS [ws|sse]`: the server's RSS before and after opening
//!   SUBSCRIPTIONS idle subscriptions (one connection each).
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

const SUBSCRIPTION: &str = "subscription { dialogueIngested { id } }";

/// One open subscription, over either transport.
enum Sub {
    Ws(Box<Ws>),
    Sse {
        response: reqwest::Response,
        buffer: Vec<u8>,
    },
}

impl Sub {
    async fn open(server: &str, id: usize, transport: &str, http: &reqwest::Client) -> Sub {
        match transport {
            "ws" => Sub::Ws(Box::new(subscribe(server, id).await)),
            "sse" => {
                let response = http
                    .post(format!("{server}/graphql/stream"))
                    .header("accept", "text/event-stream")
                    .json(&json!({ "query": SUBSCRIPTION }))
                    .send()
                    .await
                    .expect("open the event stream");
                assert_eq!(response.status(), 200, "the event stream");
                Sub::Sse {
                    response,
                    buffer: Vec::new(),
                }
            }
            other => panic!("transport `{other}`: ws or sse"),
        }
    }

    /// The id of the next `dialogueIngested` event, as soon as it has arrived.
    async fn next_id(&mut self) -> String {
        match self {
            Sub::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        match v["type"].as_str() {
                            Some("next") => {
                                return v["payload"]["data"]["dialogueIngested"]["id"]
                                    .as_str()
                                    .expect("an event")
                                    .to_string()
                            }
                            Some("ping") => {
                                let _ = ws.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("a subscriber ended: {other:?}"),
                }
            },
            Sub::Sse { response, buffer } => loop {
                if let Some(at) = buffer.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = buffer.drain(..at + 2).collect();
                    let block = String::from_utf8(block).unwrap();
                    if let Some(data) = block
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .filter(|_| block.starts_with("event: next"))
                    {
                        let v: Value = serde_json::from_str(data).unwrap();
                        return v["data"]["dialogueIngested"]["id"]
                            .as_str()
                            .expect("an event")
                            .to_string();
                    }
                    continue; // a keep-alive comment
                }
                match response.chunk().await {
                    Ok(Some(bytes)) => buffer.extend_from_slice(&bytes),
                    other => panic!("a subscriber's stream ended: {other:?}"),
                }
            },
        }
    }
}

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
                "payload": { "query": SUBSCRIPTION } })
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

async fn latency(
    server: &str,
    database_url: &str,
    subscriptions: usize,
    commits: usize,
    transport: &str,
) -> Value {
    let db = insights_core::db::connect(&insights_core::db::DbOptions::new(database_url))
        .await
        .expect("database");
    let tenant = insights_core::tenant::ensure(&db, "default").await.unwrap();
    let committed_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let samples: Arc<Mutex<Vec<f64>>> = Arc::default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut readers = Vec::new();
    for i in 0..subscriptions {
        let mut sub = Sub::open(server, i, transport, &http).await;
        let committed_at = committed_at.clone();
        let samples = samples.clone();
        readers.push(tokio::spawn(async move {
            for _ in 0..commits {
                let id = sub.next_id().await;
                let now = Instant::now();
                // The commit's return is recorded right after it; an event can arrive first,
                // so wait for the record.
                let at = loop {
                    if let Some(at) = committed_at.lock().unwrap().get(&id) {
                        break *at;
                    }
                    tokio::task::yield_now().await;
                };
                let ms = now.saturating_duration_since(at).as_secs_f64() * 1000.0;
                samples.lock().unwrap().push(ms);
            }
        }));
    }
    // Let the server open every subscription.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_ms = chrono::Utc::now().timestamp_millis();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let run = chrono::Utc::now().timestamp_millis();
    // Order numbers are unique per tenant: each run (one per transport) takes a range of its own.
    let first_order = 1_000_000 + ((run / 1000) % 100_000) as i32 * 10_000;
    for n in 0..commits {
        tick.tick().await;
        let id = format!("bench-{run}-{n}");
        let txn = db.begin().await.unwrap();
        // A writer's commit takes the tenant's next change position for what it writes.
        let position = insights_core::live::position::take(&txn, tenant.id)
            .await
            .unwrap();
        let row = dialogue::Model {
            tenant_id: tenant.id,
            id: id.clone(),
            order_number: first_order + n as i32,
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
            change_position: position,
            change_index: 0,
        };
        let active: dialogue::ActiveModel = row.into();
        active.reset_all().insert(&txn).await.unwrap();
        let event = DialoguesCommitted {
            tenant_id: tenant.id,
            position,
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
        "transport": transport,
        "subscriptions": subscriptions,
        "commits": commits,
        "events": samples.len(),
        "p50_ms": percentile(&samples, 0.5),
        "p99_ms": percentile(&samples, 0.99),
        "max_ms": samples.last().copied().unwrap_or(0.0),
    })
}

async fn idle(server: &str, pid: &str, subscriptions: usize, transport: &str) -> Value {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Warm up: the first connections allocate the server's lasting structures.
    let mut warm = Vec::new();
    for i in 0..10 {
        warm.push(Sub::open(server, i, transport, &http).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kb(pid);
    let mut open = Vec::new();
    for i in 0..subscriptions {
        open.push(Sub::open(server, i, transport, &http).await);
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
        "transport": transport,
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
                args.get(6).map(String::as_str).unwrap_or("ws"),
            )
            .await
        }
        Some("idle") => {
            idle(
                &args[2],
                &args[3],
                args[4].parse().unwrap(),
                args.get(5).map(String::as_str).unwrap_or("ws"),
            )
            .await
        }
        _ => {
            eprintln!("usage: live_bench latency SERVER DATABASE_URL SUBSCRIPTIONS COMMITS [ws|sse] | idle SERVER PID SUBSCRIPTIONS [ws|sse]");
            std::process::exit(2);
        }
    };
    println!("{result}");
}
