//! The driver of `bash scripts/faults.sh subscribers`: live subscribers, an ingester, a reader of
//! another tenant and a hammering key against one `insights serve` with API keys, while the
//! script restarts its PostgreSQL in the middle.
//!
//! ```text
//! soak_live --server URL --subscribe-key K --ingest-key K --page-key K --hammer-key K
//!           [--subscribers 50] [--batch 500] [--hammers 40] [--baseline-seconds 15]
//!           [--seconds 60] [--catch-up-seconds 30] [--hammer-started-file F]
//!           [--outage-file F] --out FILE.json [--summary FILE.md]
//! ```
//!
//! - Subscribers (tenant A's read key, one WebSocket each, graphql-transport-ws, the key in
//!   `connection_init`) hold `dialogueIngested(after:) { id changePosition }` and remember the last
//!   position seen. A RESUME_REQUIRED error (its `after` is used), a `complete`, an `error` or a
//!   closed socket (any close code) is followed by subscribing again, on a new socket when the old
//!   one is gone, with `after` the last position: each of those is a resume. Each subscriber also
//!   drops its socket once during the hammer phase (at a time of its own) and resumes the same way.
//! - The ingester (tenant A's ingest key) sends `ingestDialogues` batches of fresh ids in a loop;
//!   a batch counts as acknowledged on HTTP 200 with data and no errors. Anything else is sent
//!   again (same ids: if an unanswered attempt committed, the replay changes and emits nothing).
//! - Before the first batch a one-dialogue marker batch is ingested: its `changePosition` is the
//!   `after` every subscriber starts from, so no subscriber can miss a batch by subscribing late.
//! - The page reader (tenant B's read key) reads a page 20 times a second and measures latency.
//! - The hammer (its own key) keeps `--hammers` heavy `dialogueStats` calls in flight, honouring
//!   Retry-After; it runs only in the second phase.
//!
//! Phases: `baseline` (`--baseline-seconds`: everything but the hammer), then `hammer`
//! (`--seconds`; the script restarts PostgreSQL during it; `--hammer-started-file` is touched at
//! its start). Then the ingester stops and every subscriber gets up to `--catch-up-seconds` to
//! have received every acknowledged dialogue. The report (JSON, and a markdown summary) has per
//! subscriber expected/received/duplicated/missing/resumes, answers counted by source, HTTP
//! status and code, and tenant B's page latency per phase. Exit status 1 when a subscriber missed
//! or duplicated an acknowledged dialogue or any INTERNAL_SERVER_ERROR was seen.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SUBSCRIPTION: &str =
    "subscription ($after: String) { dialogueIngested(after: $after) { id changePosition } }";
const INGEST: &str = "mutation ($d: [DialogueInput!]!) {
    ingestDialogues(dialogues: $d) { received inserted updated unchanged } }";
const PAGE: &str =
    "{ dialogues(first: 50, orderBy: [{ field: START_TIMESTAMP, direction: DESC }]) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id startTimestamp outcome queue { name } agent { name } } } }";
const HAMMER: [&str; 2] = [
    r#"{ dialogueStats(from: "2025-05-01T00:00:00Z", to: "2026-05-01T00:00:00Z", timeZone: "Europe/Amsterdam",
        granularity: HOUR, groupBy: [QUEUE]) { periodStart queue { name } offered accepted abandoned
        serviceLevel { value } averageSpeedOfAnswer p90: queueTimePercentile(p: 0.9) } }"#,
    r#"{ dialogueStats(from: "2025-05-01T00:00:00Z", to: "2026-05-01T00:00:00Z", timeZone: "America/New_York",
        granularity: DAY, groupBy: [AGENT]) { periodStart agent { name } offered accepted
        abandonRate { value } p50: queueTimePercentile(p: 0.5) maxQueueTime } }"#,
];

const BASELINE: u8 = 1;
const HAMMERING: u8 = 2;
const CATCHING_UP: u8 = 3;

struct Config {
    server: String,
    subscribe_key: String,
    ingest_key: String,
    page_key: String,
    hammer_key: String,
    subscribers: usize,
    batch: usize,
    hammers: usize,
    baseline_seconds: u64,
    seconds: u64,
    catch_up_seconds: u64,
    hammer_started_file: Option<String>,
    outage_file: Option<String>,
    out: String,
    summary: Option<String>,
}

impl Config {
    fn from_args() -> Config {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut map = HashMap::new();
        for pair in args.chunks(2) {
            let name = pair[0]
                .strip_prefix("--")
                .unwrap_or_else(|| usage(&pair[0]));
            let value = pair.get(1).unwrap_or_else(|| usage(name));
            map.insert(name.to_string(), value.clone());
        }
        let take = |name: &str| map.get(name).cloned().unwrap_or_else(|| usage(name));
        let number = |name: &str, default: u64| {
            map.get(name)
                .map(|v| v.parse().unwrap_or_else(|_| usage(name)))
                .unwrap_or(default)
        };
        Config {
            server: take("server"),
            subscribe_key: take("subscribe-key"),
            ingest_key: take("ingest-key"),
            page_key: take("page-key"),
            hammer_key: take("hammer-key"),
            subscribers: number("subscribers", 50) as usize,
            batch: number("batch", 500) as usize,
            hammers: number("hammers", 40) as usize,
            baseline_seconds: number("baseline-seconds", 15),
            seconds: number("seconds", 60),
            catch_up_seconds: number("catch-up-seconds", 30),
            hammer_started_file: map.get("hammer-started-file").cloned(),
            outage_file: map.get("outage-file").cloned(),
            out: take("out"),
            summary: map.get("summary").cloned(),
        }
    }
}

fn usage(what: &str) -> ! {
    eprintln!(
        "soak_live: missing or bad `{what}` (see the comment at the top of examples/soak_live.rs)"
    );
    std::process::exit(2)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Answers counted by "source status code" (status `ws` for WebSocket messages).
#[derive(Default)]
struct Codes(Mutex<BTreeMap<String, u64>>);

impl Codes {
    fn add(&self, source: &str, status: &str, code: &str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{source} {status} {code}"))
            .or_default() += 1;
    }
}

/// The codes of a GraphQL response's errors (`UNCODED` for an error without one).
fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("UNCODED")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One HTTP GraphQL answer.
struct Answer {
    status: u16,
    body: Value,
    codes: Vec<String>,
    retry_after: Option<f64>,
    ms: f64,
}

impl Answer {
    fn ok(&self) -> bool {
        self.status == 200 && self.codes.is_empty() && !self.body["data"].is_null()
    }
}

/// POSTs one operation; counts the answer under `source`. None: no HTTP answer at all.
async fn post(
    http: &reqwest::Client,
    cfg: &Config,
    key: &str,
    body: &Value,
    source: &str,
    codes: &Codes,
) -> Option<Answer> {
    let t0 = Instant::now();
    let response = http
        .post(format!("{}/graphql", cfg.server))
        .bearer_auth(key)
        .json(body)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            let kind = if e.is_timeout() { "timeout" } else { "error" };
            codes.add(source, "transport", kind);
            return None;
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = response.text().await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let Ok(text) = text else {
        codes.add(source, "transport", "body");
        return None;
    };
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let mut errors = error_codes(&body);
    if body.is_null() {
        errors.push("NOT_JSON".into());
    }
    if errors.is_empty() {
        codes.add(source, &status.to_string(), "OK");
    }
    for code in &errors {
        codes.add(source, &status.to_string(), code);
    }
    Some(Answer {
        status,
        body,
        codes: errors,
        retry_after,
        ms,
    })
}

// --- subscribers -------------------------------------------------------------------------------

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    /// Every id received, with how many times.
    received: HashMap<String, u32>,
    /// The last changePosition seen (at first the marker's).
    last: String,
    /// Subscribing again after the subscription or the socket ended.
    resumes: u64,
    /// Why they ended: "RESUME_REQUIRED", "complete", "error CODE", "close 1001", "socket error", ...
    ends: BTreeMap<String, u64>,
    /// RESUME_REQUIRED `after`s that differed from the last position seen.
    after_differs: Vec<(String, String)>,
    /// (unix time, why, after) of each resume, the first 40.
    timeline: Vec<(f64, String, String)>,
    /// Connection attempts refused or failed before a subscription was sent.
    refused: BTreeMap<String, u64>,
    connected: bool,
}

impl Seen {
    fn ended(&mut self, why: &str) {
        *self.ends.entry(why.to_string()).or_default() += 1;
        self.resumes += 1;
        if self.timeline.len() < 40 {
            self.timeline
                .push((unix_now(), why.to_string(), self.last.clone()));
        }
    }
}

enum Opened {
    Ready(Box<Ws>),
    /// Refused or failed: why, and how long to wait before trying again.
    Failed(String, Duration),
}

async fn open_socket(cfg: &Config) -> Opened {
    let url = format!("{}/graphql", cfg.server.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let connecting = tokio_tungstenite::connect_async(request);
    let mut ws = match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Err(_) => return Opened::Failed("upgrade timeout".into(), Duration::from_millis(500)),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.5);
            return Opened::Failed(
                format!("upgrade {}", response.status().as_u16()),
                Duration::from_secs_f64(wait.min(2.0)),
            );
        }
        Ok(Err(_)) => return Opened::Failed("upgrade error".into(), Duration::from_millis(500)),
        Ok(Ok((ws, _))) => ws,
    };
    let init = json!({ "type": "connection_init",
        "payload": { "Authorization": format!("Bearer {}", cfg.subscribe_key) } });
    if ws
        .send(Message::Text(init.to_string().into()))
        .await
        .is_err()
    {
        return Opened::Failed("init send".into(), Duration::from_millis(500));
    }
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains("connection_ack") => {
                return Opened::Ready(Box::new(ws))
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                return Opened::Failed(format!("init close {code}"), Duration::from_millis(500));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(_) => return Opened::Failed("init lost".into(), Duration::from_millis(500)),
            Err(_) => return Opened::Failed("init timeout".into(), Duration::from_millis(500)),
        }
    }
}

async fn subscriber(
    n: usize,
    cfg: Arc<Config>,
    seen: Arc<Mutex<Seen>>,
    codes: Arc<Codes>,
    stop: Arc<AtomicBool>,
) {
    // Each subscriber also drops its own socket once, at a time of its own during the hammer
    // phase, so that resuming with `after:` is exercised whatever the server does.
    let mut drop_at = Some(
        Instant::now()
            + Duration::from_secs(cfg.baseline_seconds)
            + Duration::from_secs_f64(
                cfg.seconds as f64 * (n as f64 + 0.5) / cfg.subscribers as f64,
            ),
    );
    let mut operation = 0u64;
    'socket: while !stop.load(Ordering::Relaxed) {
        let mut ws = match open_socket(&cfg).await {
            Opened::Ready(ws) => ws,
            Opened::Failed(why, wait) => {
                codes.add("subscriber", "ws", &why);
                *seen.lock().unwrap().refused.entry(why).or_default() += 1;
                // Spread the retries of 50 subscribers.
                tokio::time::sleep(wait + Duration::from_millis((n as u64 * 37) % 400)).await;
                continue;
            }
        };
        loop {
            operation += 1;
            let id = format!("s{n}-{operation}");
            let after = seen.lock().unwrap().last.clone();
            let subscribe = json!({ "type": "subscribe", "id": id,
                "payload": { "query": SUBSCRIPTION, "variables": { "after": after } } });
            if ws
                .send(Message::Text(subscribe.to_string().into()))
                .await
                .is_err()
            {
                seen.lock().unwrap().ended("socket error");
                continue 'socket;
            }
            seen.lock().unwrap().connected = true;
            // Read this subscription's messages until it ends.
            let mut resume_after: Option<String> = None;
            loop {
                if stop.load(Ordering::Relaxed) {
                    let _ = SinkExt::close(&mut ws).await;
                    return;
                }
                if drop_at.is_some_and(|at| Instant::now() >= at) {
                    drop_at = None;
                    drop(ws);
                    seen.lock().unwrap().ended("dropped by the client");
                    continue 'socket;
                }
                let message =
                    match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                        Err(_) => continue,
                        Ok(m) => m,
                    };
                let text = match message {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                        codes.add("subscriber", "ws", &format!("close {code}"));
                        seen.lock().unwrap().ended(&format!("close {code}"));
                        continue 'socket;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        codes.add("subscriber", "ws", "socket lost");
                        seen.lock().unwrap().ended("socket lost");
                        continue 'socket;
                    }
                };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("ping") => {
                        let _ = ws.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                    }
                    Some("next") if v["id"] == id.as_str() => {
                        let event = &v["payload"]["data"]["dialogueIngested"];
                        if let (Some(dialogue), Some(position)) =
                            (event["id"].as_str(), event["changePosition"].as_str())
                        {
                            let mut seen = seen.lock().unwrap();
                            *seen.received.entry(dialogue.to_string()).or_default() += 1;
                            seen.last = position.to_string();
                        }
                        for error in v["payload"]["errors"].as_array().into_iter().flatten() {
                            let code = error["extensions"]["code"].as_str().unwrap_or("UNCODED");
                            codes.add("subscriber", "ws", code);
                            if code == "RESUME_REQUIRED" {
                                resume_after =
                                    error["extensions"]["after"].as_str().map(str::to_string);
                            }
                        }
                    }
                    Some("error") if v["id"] == id.as_str() => {
                        let code = v["payload"][0]["extensions"]["code"]
                            .as_str()
                            .unwrap_or("UNCODED")
                            .to_string();
                        codes.add("subscriber", "ws", &code);
                        seen.lock().unwrap().ended(&format!("error {code}"));
                        let wait = v["payload"][0]["extensions"]["retryAfter"]
                            .as_f64()
                            .unwrap_or(0.5);
                        tokio::time::sleep(Duration::from_secs_f64(wait.min(5.0))).await;
                        break;
                    }
                    Some("complete") if v["id"] == id.as_str() => {
                        let mut seen = seen.lock().unwrap();
                        match resume_after.take() {
                            Some(after) => {
                                if after != seen.last {
                                    let last = seen.last.clone();
                                    seen.after_differs.push((last, after.clone()));
                                }
                                // As the docs say: subscribe again from the error's `after`.
                                seen.last = after;
                                seen.ended("RESUME_REQUIRED");
                            }
                            None => seen.ended("complete"),
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
}

// --- the ingester --------------------------------------------------------------------------------

fn record(id: &str, order: u64) -> Value {
    let start =
        chrono::DateTime::from_timestamp(1_777_622_400 + order as i64 % 10_000_000, 0).unwrap(); // from 2026-05-01
    json!({
        "id": id,
        "orderNumber": order,
        "startTimestamp": start.to_rfc3339(),
        "endTimestamp": (start + chrono::Duration::seconds(90)).to_rfc3339(),
        "direction": "INBOUND",
        "outcome": "IVR_DROP",
    })
}

/// Sends one batch until it is acknowledged (or `until` passes): true when acknowledged.
async fn ingest_until_acked(
    http: &reqwest::Client,
    cfg: &Config,
    batch: &[Value],
    codes: &Codes,
    until: Option<Instant>,
) -> bool {
    let body = json!({ "query": INGEST, "variables": { "d": batch } });
    loop {
        if let Some(answer) = post(http, cfg, &cfg.ingest_key, &body, "ingest", codes).await {
            if answer.ok() {
                return true;
            }
            let wait = answer.retry_after.unwrap_or(0.5);
            tokio::time::sleep(Duration::from_secs_f64(wait.min(3.0))).await;
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if until.is_some_and(|u| Instant::now() >= u) {
            return false;
        }
    }
}

#[derive(Default)]
struct Ingested {
    acknowledged: Vec<String>,
    batches: u64,
    /// Ids of the batch in flight when the ingester stopped, never acknowledged.
    unacknowledged: Vec<String>,
}

async fn ingester(
    cfg: Arc<Config>,
    http: reqwest::Client,
    codes: Arc<Codes>,
    ingested: Arc<Mutex<Ingested>>,
    stop: Arc<AtomicBool>,
) {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let ids: Vec<String> = (0..cfg.batch).map(|i| format!("soak-{k}-{i}")).collect();
        let batch: Vec<Value> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| record(id, 100_000_000 + k * 1_000 + i as u64))
            .collect();
        // Once told to stop, a batch gets 10 s more to be acknowledged.
        let mut until = None;
        let acked = loop {
            let step = Instant::now() + Duration::from_secs(1);
            if ingest_until_acked(&http, &cfg, &batch, &codes, Some(step)).await {
                break true;
            }
            if stop.load(Ordering::Relaxed) {
                let u = *until.get_or_insert(Instant::now() + Duration::from_secs(10));
                if Instant::now() >= u {
                    break false;
                }
            }
        };
        let mut ingested = ingested.lock().unwrap();
        if acked {
            ingested.acknowledged.extend(ids);
            ingested.batches += 1;
        } else {
            ingested.unacknowledged.extend(ids);
        }
    }
}

// --- tenant B's page reader and the hammer -------------------------------------------------------

/// (phase, unix time sent, latency in ms, ok)
type Sample = (u8, f64, f64, bool);

async fn page_reader(
    cfg: Arc<Config>,
    http: reqwest::Client,
    codes: Arc<Codes>,
    phase: Arc<AtomicU8>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) {
    let body = json!({ "query": PAGE });
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let p = phase.load(Ordering::Relaxed);
        let t = unix_now();
        let t0 = Instant::now();
        let answer = post(&http, &cfg, &cfg.page_key, &body, "page", &codes).await;
        let ms = answer
            .as_ref()
            .map(|a| a.ms)
            .unwrap_or_else(|| t0.elapsed().as_secs_f64() * 1000.0);
        let ok = answer.as_ref().is_some_and(Answer::ok);
        samples.lock().unwrap().push((p, t, ms, ok));
    }
}

#[derive(Default)]
struct Hammered {
    /// 429/503 answers without a Retry-After header.
    limited_without_retry_after: u64,
}

async fn hammer(
    n: usize,
    cfg: Arc<Config>,
    http: reqwest::Client,
    codes: Arc<Codes>,
    hammered: Arc<Mutex<Hammered>>,
    stop: Arc<AtomicBool>,
) {
    let body = json!({ "query": HAMMER[n % HAMMER.len()] });
    while !stop.load(Ordering::Relaxed) {
        match post(&http, &cfg, &cfg.hammer_key, &body, "hammer", &codes).await {
            Some(a) if a.status == 429 || a.status == 503 => {
                if a.retry_after.is_none() {
                    hammered.lock().unwrap().limited_without_retry_after += 1;
                }
                let wait = a.retry_after.unwrap_or(1.0);
                tokio::time::sleep(Duration::from_secs_f64(wait.min(5.0))).await;
            }
            Some(_) => {}
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

// --- report ----------------------------------------------------------------------------------------

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some((sorted[rank - 1] * 10.0).round() / 10.0)
}

fn latency(samples: &[Sample], keep: impl Fn(&Sample) -> bool) -> Value {
    let chosen: Vec<&Sample> = samples.iter().filter(|s| keep(s)).collect();
    let mut ok: Vec<f64> = chosen.iter().filter(|s| s.3).map(|s| s.2).collect();
    ok.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({
        "requests": chosen.len(),
        "ok": ok.len(),
        "p50_ms": percentile(&ok, 0.5),
        "p99_ms": percentile(&ok, 0.99),
        "max_ms": ok.last().copied(),
    })
}

/// (unix time PostgreSQL was stopped, unix time it was up again), written by the script.
fn outage(cfg: &Config) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(cfg.outage_file.as_ref()?).ok()?;
    let mut numbers = text.split_whitespace().filter_map(|t| t.parse().ok());
    Some((numbers.next()?, numbers.next()?))
}

fn sample_ids(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort();
    ids.truncate(10);
    ids
}

#[tokio::main]
async fn main() {
    let cfg = Arc::new(Config::from_args());
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let codes = Arc::new(Codes::default());
    let started = unix_now();

    // The marker: its position is where every subscriber starts.
    let marker = [record("soak-marker", 99_999_999)];
    assert!(ingest_until_acked(&http, &cfg, &marker, &codes, None).await);
    let read = json!({ "query": r#"{ dialogue(id: "soak-marker") { changePosition } }"# });
    let base = post(&http, &cfg, &cfg.subscribe_key, &read, "setup", &codes)
        .await
        .and_then(|a| {
            a.body["data"]["dialogue"]["changePosition"]
                .as_str()
                .map(str::to_string)
        })
        .expect("the marker's changePosition");

    let stop_subscribers = Arc::new(AtomicBool::new(false));
    let mut seen = Vec::new();
    let mut subscribers = Vec::new();
    for n in 0..cfg.subscribers {
        let s = Arc::new(Mutex::new(Seen {
            last: base.clone(),
            ..Seen::default()
        }));
        seen.push(s.clone());
        subscribers.push(tokio::spawn(subscriber(
            n,
            cfg.clone(),
            s,
            codes.clone(),
            stop_subscribers.clone(),
        )));
    }
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until && !seen.iter().all(|s| s.lock().unwrap().connected) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subscribed = seen.iter().filter(|s| s.lock().unwrap().connected).count();
    eprintln!(
        "soak_live: {subscribed} of {} subscribers subscribed",
        cfg.subscribers
    );

    let phase = Arc::new(AtomicU8::new(BASELINE));
    let stop_load = Arc::new(AtomicBool::new(false));
    let ingested = Arc::new(Mutex::new(Ingested::default()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut load = vec![
        tokio::spawn(ingester(
            cfg.clone(),
            http.clone(),
            codes.clone(),
            ingested.clone(),
            stop_load.clone(),
        )),
        tokio::spawn(page_reader(
            cfg.clone(),
            http.clone(),
            codes.clone(),
            phase.clone(),
            samples.clone(),
            stop_load.clone(),
        )),
    ];
    let baseline_started = unix_now();
    tokio::time::sleep(Duration::from_secs(cfg.baseline_seconds)).await;

    let hammer_started = unix_now();
    phase.store(HAMMERING, Ordering::Relaxed);
    if let Some(file) = &cfg.hammer_started_file {
        std::fs::write(file, format!("{hammer_started}\n")).expect("the hammer-started file");
    }
    eprintln!("soak_live: hammer phase ({} s)", cfg.seconds);
    let hammered = Arc::new(Mutex::new(Hammered::default()));
    for n in 0..cfg.hammers {
        load.push(tokio::spawn(hammer(
            n,
            cfg.clone(),
            http.clone(),
            codes.clone(),
            hammered.clone(),
            stop_load.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(cfg.seconds)).await;
    let hammer_ended = unix_now();
    phase.store(CATCHING_UP, Ordering::Relaxed);
    stop_load.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    // Catching up: every subscriber has every acknowledged id, or the time is up.
    let (acknowledged, unacknowledged, batches) = {
        let i = ingested.lock().unwrap();
        let acked: HashSet<String> = i.acknowledged.iter().cloned().collect();
        let unacked: HashSet<String> = i.unacknowledged.iter().cloned().collect();
        (acked, unacked, i.batches)
    };
    eprintln!(
        "soak_live: {batches} batches ({} dialogues) acknowledged; catching up",
        acknowledged.len()
    );
    let catch_up_started = Instant::now();
    let missing_of = |s: &Seen| {
        acknowledged
            .iter()
            .filter(|id| !s.received.contains_key(*id))
            .count()
    };
    while catch_up_started.elapsed() < Duration::from_secs(cfg.catch_up_seconds)
        && seen.iter().any(|s| missing_of(&s.lock().unwrap()) > 0)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A moment more, so a duplicate sent right after the last expected id is counted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let catch_up_seconds = catch_up_started.elapsed().as_secs_f64();
    stop_subscribers.store(true, Ordering::Relaxed);
    for task in subscribers {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }

    // Per subscriber.
    let mut per_subscriber = Vec::new();
    let (mut missing_total, mut duplicated_total, mut resumes_total) = (0, 0, 0);
    let mut ends_total: BTreeMap<String, u64> = BTreeMap::new();
    let mut refused_total: BTreeMap<String, u64> = BTreeMap::new();
    for (n, s) in seen.iter().enumerate() {
        let s = s.lock().unwrap();
        let received = acknowledged
            .iter()
            .filter(|id| s.received.contains_key(*id))
            .count();
        let missing = sample_ids(
            acknowledged
                .iter()
                .filter(|id| !s.received.contains_key(*id))
                .cloned(),
        );
        let missing_count = acknowledged.len() - received;
        let duplicated: Vec<String> = s
            .received
            .iter()
            .filter(|(_, times)| **times > 1)
            .map(|(id, _)| id.clone())
            .collect();
        let unacked_received = s
            .received
            .keys()
            .filter(|id| unacknowledged.contains(*id))
            .count();
        let foreign = s
            .received
            .keys()
            .filter(|id| !acknowledged.contains(*id) && !unacknowledged.contains(*id))
            .count();
        missing_total += missing_count;
        duplicated_total += duplicated.len();
        resumes_total += s.resumes;
        for (why, k) in &s.ends {
            *ends_total.entry(why.clone()).or_default() += k;
        }
        for (why, k) in &s.refused {
            *refused_total.entry(why.clone()).or_default() += k;
        }
        per_subscriber.push(json!({
            "subscriber": n,
            "expected": acknowledged.len(),
            "received": received,
            "duplicated": duplicated.len(),
            "missing": missing_count,
            "resumes": s.resumes,
            "ends": s.ends,
            "refused_connections": s.refused,
            "received_unacknowledged": unacked_received,
            "received_other": foreign,
            "missing_ids": missing,
            "duplicated_ids": sample_ids(duplicated.into_iter()),
            "resume_after_differs": s.after_differs.iter().take(5).collect::<Vec<_>>(),
            "timeline": s.timeline,
        }));
    }

    let codes = codes.0.lock().unwrap().clone();
    let count = |pred: &dyn Fn(&str) -> bool| -> u64 {
        codes.iter().filter(|(k, _)| pred(k)).map(|(_, v)| *v).sum()
    };
    let internal = count(&|k| k.ends_with(" INTERNAL_SERVER_ERROR"));
    let uncoded = count(&|k| k.ends_with(" UNCODED") || k.ends_with(" NOT_JSON"));
    let status_429 = count(&|k| k.contains(" 429 "));
    let status_503 = count(&|k| k.contains(" 503 "));
    let http_5xx = count(&|k| {
        k.split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .is_some_and(|s| s >= 500)
    });

    let samples = samples.lock().unwrap().clone();
    let outage = outage(&cfg);
    let baseline = latency(&samples, |s| s.0 == BASELINE);
    let hammering = latency(&samples, |s| s.0 == HAMMERING);
    // The hammer phase without the seconds around the restart (answers then are fast failures or
    // waits for the database, not the hammer's doing).
    let hammering_calm = latency(&samples, |s| {
        s.0 == HAMMERING && outage.is_none_or(|(down, up)| s.1 < down - 1.0 || s.1 > up + 5.0)
    });
    let ratio = match (
        baseline["p99_ms"].as_f64(),
        hammering_calm["p99_ms"].as_f64(),
    ) {
        (Some(b), Some(h)) if b > 0.0 => Some((h / b * 100.0).round() / 100.0),
        _ => None,
    };
    let bad: Vec<&Value> = per_subscriber
        .iter()
        .filter(|s| s["missing"] != 0 || s["duplicated"] != 0)
        .collect();
    let mut problems = Vec::new();
    if !bad.is_empty() {
        problems.push(format!(
            "{} subscribers missed or duplicated acknowledged dialogues ({missing_total} missing, {duplicated_total} duplicated)",
            bad.len()
        ));
    }
    if internal > 0 {
        problems.push(format!("{internal} INTERNAL_SERVER_ERROR answers"));
    }
    if acknowledged.is_empty() {
        problems.push("no batch was acknowledged".into());
    }
    let report = json!({
        "ok": problems.is_empty(),
        "problems": problems,
        "config": {
            "subscribers": cfg.subscribers, "batch": cfg.batch, "hammers": cfg.hammers,
            "baseline_seconds": cfg.baseline_seconds, "hammer_seconds": cfg.seconds,
            "catch_up_limit_seconds": cfg.catch_up_seconds,
        },
        "times": {
            "started": started, "baseline_started": baseline_started,
            "hammer_started": hammer_started, "hammer_ended": hammer_ended,
            "postgres_down_up": outage, "catch_up_seconds": (catch_up_seconds * 10.0).round() / 10.0,
        },
        "ingest": {
            "batches_acknowledged": batches,
            "dialogues_acknowledged": acknowledged.len(),
            "dialogues_unacknowledged_at_stop": unacknowledged.len(),
        },
        "subscribers": {
            "subscribed_at_start": subscribed,
            "missing_total": missing_total,
            "duplicated_total": duplicated_total,
            "resumes_total": resumes_total,
            "ends": ends_total,
            "refused_connections": refused_total,
            "with_problems": bad.len(),
            "all_complete": bad.is_empty(),
        },
        "answers": {
            "internal_server_error": internal,
            "uncoded": uncoded,
            "status_429": status_429,
            "status_503": status_503,
            "http_5xx": http_5xx,
            "rate_limited_without_retry_after": hammered.lock().unwrap().limited_without_retry_after,
            "by_source_status_code": codes,
        },
        "page_tenant_b": {
            "baseline_no_hammer": baseline,
            "with_hammer": hammering,
            "with_hammer_outside_restart": hammering_calm,
            "p99_ratio": ratio,
            "within_2x": ratio.map(|r| r <= 2.0),
        },
        "per_subscriber": per_subscriber,
    });
    std::fs::write(&cfg.out, serde_json::to_string_pretty(&report).unwrap()).expect("the report");

    let md = summary(&report);
    if let Some(file) = &cfg.summary {
        std::fs::write(file, &md).expect("the summary");
    }
    println!("{md}");
    std::process::exit(if problems.is_empty() { 0 } else { 1 });
}

fn summary(r: &Value) -> String {
    let s = &r["subscribers"];
    let a = &r["answers"];
    let p = &r["page_tenant_b"];
    let mut md = format!(
        "# Live soak ({}): {} subscribers, {} s baseline + {} s with the hammer\n\n",
        if r["ok"] == true { "ok" } else { "FAIL" },
        r["config"]["subscribers"],
        r["config"]["baseline_seconds"],
        r["config"]["hammer_seconds"],
    );
    md += &format!(
        "- ingest: {} batches, {} dialogues acknowledged ({} unacknowledged at stop)\n",
        r["ingest"]["batches_acknowledged"],
        r["ingest"]["dialogues_acknowledged"],
        r["ingest"]["dialogues_unacknowledged_at_stop"],
    );
    md += &format!(
        "- subscribers: {} subscribed at start; missing {}, duplicated {}, resumes {} (ends {}); \
         connections refused {}; caught up in {} s; subscribers with problems: {}\n",
        s["subscribed_at_start"],
        s["missing_total"],
        s["duplicated_total"],
        s["resumes_total"],
        s["ends"],
        s["refused_connections"],
        r["times"]["catch_up_seconds"],
        s["with_problems"],
    );
    md += &format!(
        "- answers: INTERNAL_SERVER_ERROR {}, uncoded {}, HTTP 429 {}, HTTP 503 {}, other 5xx-with-code {}, \
         429/503 without Retry-After {}\n",
        a["internal_server_error"],
        a["uncoded"],
        a["status_429"],
        a["status_503"],
        a["http_5xx"],
        a["rate_limited_without_retry_after"],
    );
    md += &format!(
        "- tenant B page: without the hammer {}; with it {}; with it, outside the restart {}; p99 ratio {} (target <= 2)\n",
        p["baseline_no_hammer"], p["with_hammer"], p["with_hammer_outside_restart"], p["p99_ratio"],
    );
    md += "\n| subscriber | expected | received | duplicated | missing | resumes | ends |\n|---|---|---|---|---|---|---|\n";
    for sub in r["per_subscriber"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            sub["subscriber"],
            sub["expected"],
            sub["received"],
            sub["duplicated"],
            sub["missing"],
            sub["resumes"],
            sub["ends"],
        );
    }
    if let Some(problems) = r["problems"].as_array().filter(|p| !p.is_empty()) {
        md += &format!("\nproblems: {problems:?}\n");
    }
    md += &format!(
        "\nanswers by source, status and code: {}\n",
        a["by_source_status_code"]
    );
    md
}
