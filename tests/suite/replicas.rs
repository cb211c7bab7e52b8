//! Read replicas (PostgreSQL streaming replication) behind real `insights serve` processes: a
//! private primary and replica made with initdb and pg_basebackup -R, replay paused and resumed
//! with `pg_wal_replay_pause()`, the replica stopped under reads. Reads go to the replica; after
//! a write, a read that sends back `Insights-Read-After` sees it however far the replica lags; a
//! lagging or stopped replica leaves the rotation and costs no request; a subscriber gets every
//! event once, with its row, while the replica is paused. Run when TEST_POSTGRES_URL is set.
//! Without replicas (SQLite and PostgreSQL) the two headers still work.
use crate::cluster::Cluster;
use crate::common;
use crate::live::{Client, Serve};

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{json, Value};

const INGEST: &str = "mutation($d: [DialogueInput!]!) {
    ingestDialogues(dialogues: $d) { inserted } }";
const COUNT: &str = "{ dialogues(first: 1) { totalCount } }";
const INGESTED: &str = "subscription { dialogueIngested { id outcome } }";

/// A valid dialogue in GraphQL input shape, naming endpoints of its own.
fn dialogue_input(n: usize) -> Value {
    common::dialogue_input("r", 70_000, n)
}

/// A primary with one replica, a migrated database `fleet` on both, and a key of tenant `acme`.
struct Fleet {
    primary: Cluster,
    replica: Cluster,
    db: DatabaseConnection,
    key: String,
}

impl Fleet {
    async fn start() -> Option<Fleet> {
        if std::env::var("TEST_POSTGRES_URL").map_or(true, |u| u.is_empty()) {
            return None;
        }
        let primary = Cluster::start()?;
        let (_, db) = primary.migrated_database("fleet").await;
        let key = common::key(&db, "acme", "read,ingest").await;
        let replica = primary.replica();
        let fleet = Fleet {
            primary,
            replica,
            db,
            key,
        };
        fleet.wait_replayed().await;
        Some(fleet)
    }

    fn replica_url(&self) -> String {
        self.replica.url("fleet")
    }

    async fn serve(&self, max_lag: &str) -> Serve {
        let replica = self.replica_url();
        // Reads as fast as they come: no request is refused for the key's rate.
        let args = ["--replica-url", &replica, "--max-replica-lag", max_lag];
        Serve::start(
            &self.primary.url("fleet"),
            &[&args[..], &["--rate-limit", "100000"]].concat(),
        )
        .await
    }

    async fn on_replica(&self, sql: &str) {
        execute_on(self.replica_url(), sql).await;
    }

    /// Waits until the replica has replayed everything the primary wrote so far.
    async fn wait_replayed(&self) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let lsn = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT pg_current_wal_lsn()::text AS lsn",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<String>("", "lsn")
                .unwrap();
            let replica = insights_core::db::connect(&insights_core::db::DbOptions::new(
                self.replica.url("postgres"),
            ))
            .await;
            if let Ok(replica) = replica {
                let caught_up = replica
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn AS ok"),
                    ))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|r| r.try_get::<bool>("", "ok").ok())
                    .unwrap_or(false);
                replica.close().await.ok();
                if caught_up {
                    return;
                }
            }
            assert!(Instant::now() < until, "the replica did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs `sql` on the database at `url` (a replica's: pausing or resuming its replay).
async fn execute_on(url: String, sql: &str) {
    let db = insights_core::db::connect(&insights_core::db::DbOptions::new(url))
        .await
        .unwrap();
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.ok();
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(
    base: &str,
    key: &str,
    query: &str,
    variables: Value,
    read_after: Option<&str>,
) -> reqwest::Response {
    let mut request = http()
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(position) = read_after {
        request = request.header("Insights-Read-After", position);
    }
    request.send().await.unwrap()
}

/// Writes dialogue `n`; the commit position from the header, which the body repeats.
async fn write(base: &str, key: &str, n: usize) -> String {
    let response = post(base, key, INGEST, json!({ "d": [dialogue_input(n)] }), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = response
        .headers()
        .get("insights-commit-position")
        .expect("a mutation's response names its commit")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["ingestDialogues"]["inserted"], 1, "{body}");
    assert_eq!(
        body["extensions"]["commitPosition"],
        header.as_str(),
        "{body}"
    );
    header
}

async fn count(base: &str, key: &str, read_after: Option<&str>) -> i64 {
    let response = post(base, key, COUNT, json!({}), read_after).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["data"]["dialogues"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"))
}

async fn metrics(base: &str) -> String {
    http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the metric line starting with `prefix` (its labels included), 0 if absent.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for_state(base: &str, replica: &str, state: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    let line = format!("insights_replica_state{{replica=\"{replica}\",state=\"{state}\"}}");
    loop {
        if metric(&metrics(base).await, &line) == 1.0 {
            return;
        }
        assert!(Instant::now() < until, "the replica never became {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn replica_label(fleet: &Fleet) -> String {
    format!("127.0.0.1:{}/fleet", fleet.replica.port)
}

#[tokio::test]
async fn reads_go_to_the_replica_and_a_read_after_a_write_sees_it_while_replay_is_paused() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let server = fleet.serve("60").await;
    let base = &server.base;
    let label = replica_label(&fleet);
    wait_for_state(base, &label, "healthy").await;
    assert_eq!(count(base, &fleet.key, None).await, 0);
    let reads = format!("insights_db_reads_total{{pool=\"{label}\"}}");
    assert!(
        metric(&metrics(base).await, &reads) >= 1.0,
        "the read went to the replica"
    );

    fleet.on_replica("SELECT pg_wal_replay_pause()").await;
    let first = write(base, &fleet.key, 1).await;
    // The replica has not replayed the write and is within the allowed lag: a plain read
    // does not see it (which shows that reads go there) ...
    assert_eq!(count(base, &fleet.key, None).await, 0);
    // ... and a read after the write does: the replica cannot reach it, so after the wait the
    // primary answers.
    let started = Instant::now();
    assert_eq!(count(base, &fleet.key, Some(&first)).await, 1);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let on_primary = metric(&metrics(base).await, "insights_read_after_on_primary_total");
    assert!(on_primary >= 1.0);

    // Replay resumes while a read waits: the replica answers it, before the wait is out.
    let second = write(base, &fleet.key, 2).await;
    let resume = {
        let url = fleet.replica_url();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            execute_on(url, "SELECT pg_wal_replay_resume()").await;
        })
    };
    let started = Instant::now();
    assert_eq!(count(base, &fleet.key, Some(&second)).await, 2);
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    resume.await.unwrap();
    assert_eq!(
        metric(&metrics(base).await, "insights_read_after_on_primary_total"),
        on_primary,
        "the second read was answered by the replica"
    );
    // An older position is reached at once.
    assert_eq!(count(base, &fleet.key, Some(&first)).await, 2);
}

#[tokio::test]
async fn a_lagging_replica_leaves_the_rotation_and_comes_back() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let server = fleet.serve("1").await;
    let base = &server.base;
    let label = replica_label(&fleet);
    wait_for_state(base, &label, "healthy").await;
    fleet.on_replica("SELECT pg_wal_replay_pause()").await;
    write(base, &fleet.key, 1).await;
    wait_for_state(base, &label, "lagging").await;
    // Out of rotation: a plain read goes to the primary and sees the write.
    assert_eq!(count(base, &fleet.key, None).await, 1);
    let text = metrics(base).await;
    assert!(
        metric(
            &text,
            &format!("insights_replica_lag_seconds{{replica=\"{label}\"}}")
        ) >= 1.0,
        "{text}"
    );
    fleet.on_replica("SELECT pg_wal_replay_resume()").await;
    wait_for_state(base, &label, "healthy").await;
    assert_eq!(
        metric(
            &metrics(base).await,
            &format!("insights_replica_lag_bytes{{replica=\"{label}\"}}")
        ),
        0.0
    );
}

#[tokio::test]
async fn a_stopped_replica_costs_no_request_and_rejoins_when_back() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    write_some(&fleet, 3).await;
    let server = fleet.serve("5").await;
    let base = server.base.clone();
    let label = replica_label(&fleet);
    wait_for_state(&base, &label, "healthy").await;
    let reader = {
        let (base, key) = (base.clone(), fleet.key.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0, Vec::new());
            let until = Instant::now() + Duration::from_secs(4);
            while Instant::now() < until {
                let response = post(&base, &key, COUNT, json!({}), None).await;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status == StatusCode::OK && body["data"]["dialogues"]["totalCount"] == 3 {
                    ok += 1;
                } else {
                    failed.push(format!("{status} {body}"));
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    fleet.replica.pg_ctl("stop");
    let (ok, failed) = reader.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 10, "{ok}");
    wait_for_state(&base, &label, "unreachable").await;
    fleet.replica.pg_ctl("start");
    wait_for_state(&base, &label, "healthy").await;
    let reads = format!("insights_db_reads_total{{pool=\"{label}\"}}");
    let before = metric(&metrics(&base).await, &reads);
    assert_eq!(count(&base, &fleet.key, None).await, 3);
    assert!(
        metric(&metrics(&base).await, &reads) > before,
        "reads reach the replica again"
    );
}

async fn write_some(fleet: &Fleet, n: usize) {
    let server = Serve::start(&fleet.primary.url("fleet"), &[]).await;
    for i in 0..n {
        write(&server.base, &fleet.key, 100 + i).await;
    }
    fleet.wait_replayed().await;
}

#[tokio::test]
async fn subscribers_get_every_event_once_with_its_row_while_replay_is_paused() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let server = fleet.serve("60").await;
    let base = &server.base;
    wait_for_state(base, &replica_label(&fleet), "healthy").await;
    let mut client = Client::ready(base, Some(&fleet.key)).await;
    client.subscribe("s", INGESTED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    fleet.on_replica("SELECT pg_wal_replay_pause()").await;
    for n in 0..5 {
        write(base, &fleet.key, n).await;
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        let data = client.next_data("s").await;
        assert_eq!(data["dialogueIngested"]["outcome"], "ACCEPTED", "{data}");
        ids.push(data["dialogueIngested"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids, (0..5).map(|n| format!("r-{n}")).collect::<Vec<_>>());
    client.silent(Duration::from_millis(500)).await;
    fleet.on_replica("SELECT pg_wal_replay_resume()").await;
}

/// Without replicas the headers work the same: the position is always reached.
#[tokio::test]
async fn without_replicas_a_commit_position_comes_back_and_is_honoured() {
    for t in common::databases().await {
        let server = Serve::start(&t.url, &[]).await;
        let key = common::key(&t.db, "acme", "read,ingest").await;
        let position = write(&server.base, &key, 1).await;
        assert_eq!(
            count(&server.base, &key, Some(&position)).await,
            1,
            "{}",
            t.kind
        );

        let other = common::key(&t.db, "beta", "read").await;
        for (key, header, says) in [
            (&key, "nonsense", "is not a change position"),
            (&other, position.as_str(), "another tenant"),
        ] {
            let response = post(&server.base, key, COUNT, json!({}), Some(header)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{}", t.kind);
            let body: Value = response.json().await.unwrap();
            assert_eq!(common::error_codes(&body), ["BAD_USER_INPUT"], "{body}");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains("Insights-Read-After") && message.contains(says),
                "{message}"
            );
        }
        // OData honours it too.
        let response = http()
            .get(format!(
                "{}/odata/Dialogues?$count=true&$top=1",
                server.base
            ))
            .bearer_auth(&key)
            .header("Insights-Read-After", &position)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", t.kind);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["@odata.count"], 1, "{body}");
    }
}

#[tokio::test]
async fn a_replica_on_sqlite_is_refused_at_start() {
    let t = common::sqlite().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["--database-url", &t.url, "serve", "--bind", "127.0.0.1:0"])
        .args(["--replica-url", "postgres://postgres@127.0.0.1:1/x"])
        .env_remove("INSIGHTS_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--replica-url") && stderr.contains("SQLite"),
        "{stderr}"
    );
}
