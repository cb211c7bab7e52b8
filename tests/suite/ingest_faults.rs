//! A real `insights serve` process killed with SIGKILL while an `ingestDialogues` call of 1,000
//! large records is in flight, on PostgreSQL (TEST_POSTGRES_URL): afterwards the batch is stored
//! whole or not at all, and replaying the call finishes the job.
//!
//! "In flight" is observed, not guessed: the test watches `pg_stat_activity` and kills the
//! server once one of its connections is inside a transaction running the dialogues' upsert
//! (`INSERT INTO dialogues`): the batch's 4,000 endpoint stubs are written, its dialogues are
//! being written, nothing is committed.
use crate::common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};

const BATCH: usize = 1000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["serve", "--no-auth", "--tenant", "faults", "--log", "warn"])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--max-body-bytes", "20000000"])
        .args(["--database-url", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn insights serve")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the server did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 1,000 dialogues with long ids, each naming four endpoints of its own (so the call also
/// creates 4,000 endpoint stubs): about 1.5 MB of request.
fn batch(attempt: usize) -> Value {
    let pad = "x".repeat(180);
    let records: Vec<Value> = (0..BATCH)
        .map(|i| {
            json!({
                "id": format!("k{attempt}-{i}-{pad}"),
                "orderNumber": (attempt * BATCH + i) as i64,
                "startTimestamp": "2026-03-02T15:00:00Z",
                "queueEnterTimestamp": "2026-03-02T15:00:20Z",
                "acceptTimestamp": "2026-03-02T15:00:31Z",
                "endTimestamp": "2026-03-02T15:04:00Z",
                "ivrId": format!("k{attempt}-ivr-{i}-{pad}"),
                "queueId": format!("k{attempt}-queue-{i}-{pad}"),
                "customerId": format!("k{attempt}-cust-{i}-{pad}"),
                "agentId": format!("k{attempt}-agent-{i}-{pad}"),
                "direction": "INBOUND",
                "outcome": "ACCEPTED"
            })
        })
        .collect();
    json!({
        "query": "mutation($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { received inserted updated unchanged } }",
        "variables": { "d": records }
    })
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// Transactions open on this database (the killed server's, until PostgreSQL notices).
const OPEN: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL";

/// A transaction of the server's in the middle of writing the batch's dialogues.
const WRITING: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND xact_start IS NOT NULL AND query LIKE 'INSERT INTO dialogues%'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_ingest_leaves_the_batch_all_or_nothing() {
    let Some(t) = common::postgres().await else {
        println!("note: TEST_POSTGRES_URL is not set; the kill -9 test runs on PostgreSQL only");
        return;
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut killed_mid_write = 0;
    let mut outcomes = Vec::new();
    for attempt in 0..10 {
        if killed_mid_write >= 2 {
            break;
        }
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut server = serve(&t.url, port);
        wait_ready(&client, &base).await;
        let body = batch(attempt);
        let request = {
            let client = client.clone();
            let url = format!("{base}/graphql");
            tokio::spawn(async move { client.post(url).json(&body).send().await })
        };
        // Kill the moment the server's transaction has written; if it commits first, the
        // answer comes back and this attempt is a completed call.
        let mut mid_write = false;
        while !request.is_finished() {
            if count(&t.db, WRITING).await > 0 {
                server.kill().expect("SIGKILL");
                mid_write = true;
                break;
            }
        }
        if !mid_write {
            server.kill().expect("SIGKILL");
        }
        server.wait().expect("reap");
        let answered = request.await.unwrap();
        // PostgreSQL rolls back a killed client's transaction once it notices the connection
        // is gone: wait for the server's connections to disappear before looking.
        let deadline = Instant::now() + Duration::from_secs(30);
        while count(&t.db, OPEN).await > 0 {
            assert!(
                Instant::now() < deadline,
                "the killed server's transaction lingers"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dialogues = count(
            &t.db,
            &format!("SELECT COUNT(*) AS n FROM dialogues WHERE id LIKE 'k{attempt}-%'"),
        )
        .await;
        let stubs = count(
            &t.db,
            &format!("SELECT COUNT(*) AS n FROM endpoints WHERE id LIKE 'k{attempt}-%'"),
        )
        .await;
        outcomes.push(format!(
            "attempt {attempt}: killed mid-write {mid_write}, answered {}, {dialogues} dialogues, {stubs} stubs",
            answered.is_ok()
        ));
        assert!(
            (dialogues, stubs) == (0, 0) || (dialogues, stubs) == (BATCH as i64, 4 * BATCH as i64),
            "not all or nothing: {outcomes:?}"
        );
        // A kill seen mid-write can still race the commit (then all is stored); one that
        // left nothing proves the rollback of a half-written batch.
        if mid_write && dialogues == 0 {
            killed_mid_write += 1;
            assert!(answered.is_err(), "a killed server answered: {outcomes:?}");
        }
    }
    println!("{}", outcomes.join("\n"));
    assert!(
        killed_mid_write >= 2,
        "no kill landed while the batch was being written, before its commit: {outcomes:?}"
    );

    // A restarted server takes the replay of a killed call and finishes the job.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(&t.url, port);
    wait_ready(&client, &base).await;
    let response: Value = client
        .post(format!("{base}/graphql"))
        .json(&batch(0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.kill().ok();
    server.wait().ok();
    let summary = &response["data"]["ingestDialogues"];
    assert_eq!(summary["received"], BATCH, "{response}");
    assert_eq!(
        summary["inserted"].as_i64().unwrap() + summary["unchanged"].as_i64().unwrap(),
        BATCH as i64,
        "{response}"
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) AS n FROM dialogues WHERE id LIKE 'k0-%'"
        )
        .await,
        BATCH as i64
    );
}
