//! A graphql-transport-ws client (tokio-tungstenite), a graphql-sse client (reqwest, reading the
//! raw event stream) and the writers and servers the subscription tests need.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use entity::{dialogue, Direction, Outcome};
use futures::{SinkExt, StreamExt};
use insights_core::live::{Announcer, DialoguesCommitted};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How long an expected message may take (generous: a loaded CI machine).
pub const DEADLINE: Duration = Duration::from_secs(20);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server sent.
#[derive(Debug)]
pub enum Frame {
    Json(Value),
    Closed(u16, String),
}

pub struct Client {
    ws: Ws,
    /// The text of the last message [`Client::recv`] returned (to check the order of keys).
    pub last_text: String,
}

impl Client {
    /// Opens a WebSocket to `base`'s /graphql with the graphql-transport-ws subprotocol.
    pub async fn connect(base: &str) -> Client {
        let url = format!("{}/graphql", base.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connect");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
        Client {
            ws,
            last_text: String::new(),
        }
    }

    /// Connects and initialises with `Authorization: Bearer <key>`; panics unless acknowledged.
    pub async fn ready(base: &str, key: Option<&str>) -> Client {
        let mut client = Client::connect(base).await;
        let payload = match key {
            Some(key) => json!({ "Authorization": format!("Bearer {key}") }),
            None => json!({}),
        };
        client
            .init(payload)
            .await
            .unwrap_or_else(|e| panic!("connection refused: {e:?}"));
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
    }

    /// The next protocol message within `within` (answering the server's pings), or None.
    pub async fn recv(&mut self, within: Duration) -> Option<Frame> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(until, self.ws.next()).await.ok()?;
            match next {
                None => return Some(Frame::Closed(1006, "closed without a close frame".into())),
                Some(Err(e)) => return Some(Frame::Closed(1006, e.to_string())),
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON from the server");
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    self.last_text = text.to_string();
                    return Some(Frame::Json(value));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(match frame {
                        Some(f) => Frame::Closed(u16::from(f.code), f.reason.to_string()),
                        None => Frame::Closed(1005, String::new()),
                    })
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next protocol message within `within`, pings included and not answered.
    pub async fn recv_raw(&mut self, within: Duration) -> Option<Frame> {
        let next = tokio::time::timeout(within, self.ws.next()).await.ok()?;
        Some(match next {
            None => Frame::Closed(1006, "closed without a close frame".into()),
            Some(Err(e)) => Frame::Closed(1006, e.to_string()),
            Some(Ok(Message::Text(text))) => {
                Frame::Json(serde_json::from_str(&text).expect("JSON"))
            }
            Some(Ok(Message::Close(Some(f)))) => {
                Frame::Closed(u16::from(f.code), f.reason.to_string())
            }
            Some(Ok(Message::Close(None))) => Frame::Closed(1005, String::new()),
            Some(Ok(other)) => Frame::Json(serde_json::json!({ "frame": other.to_string() })),
        })
    }

    /// `connection_init`; Ok on `connection_ack`, the close code and reason otherwise.
    pub async fn init(&mut self, payload: Value) -> Result<(), (u16, String)> {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match self.recv(DEADLINE).await {
            Some(Frame::Json(v)) if v["type"] == "connection_ack" => Ok(()),
            Some(Frame::Closed(code, reason)) => Err((code, reason)),
            other => panic!("expected connection_ack or a close, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "type": "subscribe",
            "id": id,
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// The payload of the next message, which must be `next` for `id`.
    pub async fn next_payload(&mut self, id: &str) -> Value {
        match self.recv(DEADLINE).await {
            Some(Frame::Json(v)) if v["type"] == "next" && v["id"] == id => v["payload"].clone(),
            other => panic!("expected `next` for {id}, got {other:?}"),
        }
    }

    /// The `data` of the next message for `id`, which must carry no errors.
    pub async fn next_data(&mut self, id: &str) -> Value {
        let payload = self.next_payload(id).await;
        assert!(payload.get("errors").is_none(), "errors: {payload}");
        payload["data"].clone()
    }

    /// Waits for the server to close the socket; its code and reason.
    pub async fn closed(&mut self, within: Duration) -> (u16, String) {
        let until = tokio::time::Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Some(Frame::Closed(code, reason)) => return (code, reason),
                Some(Frame::Json(_)) => continue,
                None => panic!("the server did not close the socket within {within:?}"),
            }
        }
    }

    /// Asserts that nothing but pings arrives for `quiet`.
    pub async fn silent(&mut self, quiet: Duration) {
        if let Some(frame) = self.recv(quiet).await {
            panic!("expected nothing, got {frame:?}");
        }
    }
}

/// A dialogue row as a writer stores it.
pub fn dialogue(
    tenant_id: i32,
    id: &str,
    order_number: i32,
    start_ms: i64,
    outcome: Outcome,
) -> dialogue::Model {
    dialogue::Model {
        tenant_id,
        id: id.to_string(),
        order_number,
        start_date: chrono::DateTime::from_timestamp_millis(start_ms)
            .unwrap()
            .date_naive(),
        start_timestamp_ms: start_ms,
        queue_enter_timestamp_ms: None,
        accept_timestamp_ms: None,
        end_timestamp_ms: Some(start_ms + 60_000),
        ivr_duration_in_sec: None,
        queue_duration_in_sec: None,
        initial_talk_duration_in_sec: None,
        session_duration_in_sec: Some(60.0),
        ivr_id: None,
        queue_id: None,
        customer_id: None,
        agent_id: None,
        direction: Direction::Inbound,
        outcome,
        in_sla: None,
        quick_drop: None,
        change_position: 0,
        change_index: 0,
    }
}

/// Writes `rows` in one transaction the way a writer does: take the tenant's next change
/// position, upsert, announce inside the transaction (NOTIFY on PostgreSQL), commit, announce
/// after the commit (in-process on SQLite, to `announcer` when this process serves). The
/// commit's position.
pub async fn commit(
    db: &DatabaseConnection,
    announcer: Option<&Announcer>,
    rows: &[dialogue::Model],
) -> i64 {
    let tenant_id = rows[0].tenant_id;
    let txn = db.begin().await.expect("begin");
    let position = insights_core::live::position::take(&txn, tenant_id)
        .await
        .expect("change position");
    for (index, row) in rows.iter().enumerate() {
        let mut row = row.clone();
        row.change_position = position;
        row.change_index = index as i64;
        dialogue::Entity::delete_many()
            .filter(dialogue::Column::TenantId.eq(row.tenant_id))
            .filter(dialogue::Column::Id.eq(row.id.as_str()))
            .exec(&txn)
            .await
            .expect("delete");
        let active: dialogue::ActiveModel = row.into();
        active.reset_all().insert(&txn).await.expect("insert");
    }
    let event = DialoguesCommitted {
        tenant_id,
        position,
        ids: rows.iter().map(|r| r.id.clone()).collect(),
    };
    Announcer::within(&txn, &event).await.expect("announce");
    txn.commit().await.expect("commit");
    if let Some(announcer) = announcer {
        announcer.committed(db.get_database_backend(), event);
    }
    position
}

/// Waits until `hub` counts `n` open subscriptions.
pub async fn wait_for_subscriptions(hub: &insights_core::live::hub::Hub, n: usize) {
    let until = tokio::time::Instant::now() + DEADLINE;
    while hub.open_subscriptions() != n {
        assert!(
            tokio::time::Instant::now() < until,
            "{} subscriptions open, not {n}",
            hub.open_subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Commits dialogues `x-0`..`x-{n-1}` of `tenant_id` (starting at `start_ms`), one per commit,
/// each followed by ten announcements of nothing new: far more than a small subscription
/// buffer holds while its subscriber reads.
pub async fn commit_past_the_buffer(
    db: &DatabaseConnection,
    hub: &insights_core::live::hub::Hub,
    tenant_id: i32,
    n: i32,
    start_ms: i64,
) {
    for i in 0..n {
        commit(
            db,
            Some(hub.announcer()),
            &[dialogue(
                tenant_id,
                &format!("x-{i}"),
                i + 1,
                start_ms,
                Outcome::Accepted,
            )],
        )
        .await;
        for _ in 0..10 {
            hub.announcer().deliver(DialoguesCommitted {
                tenant_id,
                position: 0,
                ids: Vec::new(),
            });
        }
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `insights serve` process, killed on drop.
pub struct Serve {
    pub child: tokio::process::Child,
    pub base: String,
}

impl Serve {
    pub async fn start(database_url: &str, args: &[&str]) -> Serve {
        let port = free_port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
            .arg("--database-url")
            .arg(database_url)
            .arg("--log")
            .arg(std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env_remove("INSIGHTS_DATABASE_URL")
            .env_remove("INSIGHTS_TENANT")
            .env_remove("INSIGHTS_NO_AUTH")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start insights serve");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < until,
                "insights serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Serve { child, base }
    }
}

/// The real application in this process on a free port; its hub (to announce, as a writer in
/// this process would).
pub async fn in_process(
    db: &DatabaseConnection,
    config: insights::app::config::ServeConfig,
) -> (
    String,
    insights_core::live::hub::Hub,
    tokio::task::JoinHandle<()>,
) {
    let (base, hub, _drain, task) = in_process_with_drain(db, config).await;
    (base, hub, task)
}

/// [`in_process`], with the switch that starts the shutdown drain.
pub async fn in_process_with_drain(
    db: &DatabaseConnection,
    config: insights::app::config::ServeConfig,
) -> (
    String,
    insights_core::live::hub::Hub,
    insights::app::Drain,
    tokio::task::JoinHandle<()>,
) {
    let (app, drain, hub) = insights::http::app_with_drain(db.clone(), &config)
        .await
        .expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The accept loop of `insights serve`, never told to stop (the task is aborted).
    let task = tokio::spawn(async move {
        insights::http::serve(listener, app, &config, std::future::pending()).await;
    });
    (format!("http://{addr}"), hub, drain, task)
}

/// What the server wrote on the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Sse {
    /// `event: next`, its data parsed.
    Next(Value),
    /// `event: complete`.
    Complete,
    /// A comment line (keep-alive, or why the stream was cut).
    Comment(String),
    /// The response body ended.
    End,
}

/// A graphql-sse client of the distinct connections mode, reading the raw event stream.
pub struct Stream {
    pub response: reqwest::Response,
    pub buffer: Vec<u8>,
    pub ended: bool,
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// `POST /graphql/stream` with `Accept: text/event-stream` (and the key, if any).
pub async fn post(
    base: &str,
    key: Option<&str>,
    query: &str,
    variables: Value,
) -> reqwest::Response {
    let mut request = http()
        .post(format!("{base}/graphql/stream"))
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("request")
}

impl Stream {
    /// Opens a stream; panics unless the server answers 200 with an event stream.
    pub async fn open(base: &str, key: Option<&str>, query: &str, variables: Value) -> Stream {
        let response = post(base, key, query, variables).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next thing written within `within`, comments included; `None` if nothing came.
    pub async fn recv(&mut self, within: Duration) -> Option<Sse> {
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..at + 2).collect();
                return Some(parse(&String::from_utf8(block).expect("UTF-8")));
            }
            if self.ended {
                return Some(Sse::End);
            }
            match tokio::time::timeout_at(until, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buffer.extend_from_slice(&bytes),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
    }

    /// The next event (comments skipped), within the deadline.
    pub async fn event(&mut self) -> Sse {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Some(Sse::Comment(_)) => continue,
                Some(other) => return other,
                None => panic!("nothing within {DEADLINE:?}"),
            }
        }
    }

    /// The data of the next event, a `next` without errors.
    pub async fn next_data(&mut self) -> Value {
        match self.event().await {
            Sse::Next(payload) => {
                assert!(payload.get("errors").is_none(), "errors: {payload}");
                payload["data"].clone()
            }
            other => panic!("expected `next`, got {other:?}"),
        }
    }

    /// Asserts that nothing but comments comes for `quiet`.
    pub async fn silent(&mut self, quiet: Duration) {
        let until = tokio::time::Instant::now() + quiet;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                None => return,
                Some(Sse::Comment(_)) => continue,
                Some(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }

    /// Asserts the rest of the stream: `complete`, then the end of the body.
    pub async fn completes(&mut self) {
        assert_eq!(self.event().await, Sse::Complete);
        assert_eq!(self.event().await, Sse::End);
    }
}

/// One event block of the stream (its lines without the blank line that ends it).
pub fn parse(block: &str) -> Sse {
    let mut event = None;
    let mut data: Option<String> = None;
    let mut comments = Vec::new();
    for line in block.lines().filter(|l| !l.is_empty()) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => comments.push(value.to_string()),
            "event" => event = Some(value.to_string()),
            "data" => {
                data = Some(match data {
                    Some(before) => format!("{before}\n{value}"),
                    None => value.to_string(),
                })
            }
            other => panic!("unexpected field {other:?} in {block:?}"),
        }
    }
    match event.as_deref() {
        Some("next") => {
            Sse::Next(serde_json::from_str(data.as_deref().expect("data")).expect("JSON data"))
        }
        Some("complete") => {
            assert_eq!(
                data.as_deref(),
                Some(""),
                "complete carries an empty data line"
            );
            Sse::Complete
        }
        None if !comments.is_empty() => Sse::Comment(comments.join("\n")),
        _ => panic!("not a graphql-sse event: {block:?}"),
    }
}
