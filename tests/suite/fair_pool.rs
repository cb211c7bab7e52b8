//! Fair use of the connection pool, through real HTTP: a saturated pool answers 503
//! `RATE_LIMITED` with `Retry-After` (never `INTERNAL_SERVER_ERROR`), on GraphQL and OData, with
//! a key or without, and so does a statement whose database connection is lost (PostgreSQL
//! restarted); and a key whose reads queue behind its own share (`--reads-per-key`) is
//! refused with 429 after its wait while another key's reads still run.
use crate::common;
use crate::live::in_process;

use std::time::{Duration, Instant};

use insights::app::config::ServeConfig;
use insights_core::db::{self, DbOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use serde_json::{json, Value};

const COUNT: &str = "{ dialogues { totalCount } }";
/// Reads dialogue rows (a count may come from the pre-aggregates instead).
const ROWS: &str = "{ dialogues(first: 1) { nodes { id } } }";

/// A pool of one connection that gives up waiting for it after 300 ms.
async fn pool_of_one(url: &str) -> DatabaseConnection {
    let mut options = DbOptions::new(url);
    options.max_connections = 1;
    options.acquire_timeout = Duration::from_millis(300);
    db::connect(&options).await.expect("pool of one")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(base: &str, key: Option<&str>, query: &str) -> (u16, Option<String>, Value) {
    let mut request = http()
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn a_saturated_pool_answers_503_rate_limited_with_retry_after() {
    for t in common::databases().await {
        let key = common::key(&t.db, "acme", "read").await;
        let pool = pool_of_one(&t.url).await;
        let (keyed, _hub, _task) = in_process(&pool, ServeConfig::default()).await;
        let open_config = ServeConfig {
            no_auth: true,
            tenant: "acme".into(),
            ..ServeConfig::default()
        };
        let (open, _hub2, _task2) = in_process(&pool, open_config).await;
        let (status, _, body) = post(&keyed, Some(&key), COUNT).await;
        assert_eq!(
            (status, &body["data"]),
            (200, &json!({ "dialogues": { "totalCount": 0 } }))
        );

        // The test holds the only connection: nothing can be read for a while.
        let held = pool.begin().await.unwrap();
        let with_key = "with a key (checking it needs a connection)";
        let without_key = "without keys (the query needs a connection)";
        for (what, base, key) in [
            (with_key, &keyed, Some(key.as_str())),
            (without_key, &open, None),
        ] {
            let (status, retry_after, body) = post(base, key, COUNT).await;
            assert_eq!(status, 503, "{}: {what}: {body}", t.kind);
            assert_eq!(retry_after.as_deref(), Some("2"), "{}: {what}", t.kind);
            assert_eq!(
                common::error_codes(&body),
                ["RATE_LIMITED"],
                "{}: {what}: {body}",
                t.kind
            );
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("busy"), "{}: {what}: {message}", t.kind);
        }
        // The GraphQL error says the wait too, for clients that do not see headers.
        let (_, _, body) = post(&open, None, COUNT).await;
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 2, "{body}");
        // OData words it its own way, with the same status and header.
        let response = http()
            .get(format!("{open}/odata/Dialogues"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{}", t.kind);
        assert_eq!(response.headers()["retry-after"], "2");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");

        // Given back, the connection serves again.
        held.rollback().await.unwrap();
        let (status, _, body) = post(&open, None, COUNT).await;
        assert_eq!(status, 200, "{}: {body}", t.kind);
    }
}

#[tokio::test]
async fn a_key_queued_behind_its_own_reads_is_refused_while_another_key_reads() {
    // Needs a read that stays in flight: on PostgreSQL a table lock held by the test makes the
    // reads of `dialogues` wait. SQLite readers never wait for a lock (WAL); the share itself is
    // tested on both in the core (`query::share`).
    let Some(t) = common::postgres().await else {
        return;
    };
    let hammer = common::key(&t.db, "acme", "read").await;
    let other = common::key(&t.db, "acme", "read").await;
    let config = ServeConfig {
        reads_per_key: 1,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&t.db, config).await;
    // A warm-up, so the keys are known before the lock.
    assert_eq!(post(&base, Some(&hammer), ROWS).await.0, 200);

    let locker = pool_of_one(&t.url).await;
    let lock = locker.begin().await.unwrap();
    lock.execute_raw(Statement::from_string(
        lock.get_database_backend(),
        "LOCK TABLE dialogues IN ACCESS EXCLUSIVE MODE",
    ))
    .await
    .unwrap();

    // The hammering key's first read takes its only place and waits for the lock; the next
    // ones wait for that place.
    let first = tokio::spawn({
        let base = base.clone();
        let hammer = hammer.clone();
        async move { post(&base, Some(&hammer), ROWS).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let base = base.clone();
            let hammer = hammer.clone();
            tokio::spawn(async move { post(&base, Some(&hammer), ROWS).await })
        })
        .collect();
    // Meanwhile another key reads what is not locked, at once.
    let (status, _, body) = post(&base, Some(&other), "{ endpoints { totalCount } }").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A query sent over a WebSocket by the same key waits for the same places.
    let mut socket = crate::live::Client::ready(&base, Some(&hammer)).await;
    socket.subscribe("q", ROWS, json!({})).await;
    let payload = socket.next_payload("q").await;
    assert_eq!(common::error_codes(&payload), ["RATE_LIMITED"], "{payload}");
    assert_eq!(
        payload["errors"][0]["extensions"]["retryAfter"], 1,
        "{payload}"
    );

    for queued in queued {
        let (status, retry_after, body) = queued.await.unwrap();
        assert_eq!(status, 429, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(common::error_codes(&body), ["RATE_LIMITED"], "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("1 database reads at once"), "{message}");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "refused before the 2 s wait: {waited:?}"
    );

    // The lock given back, the first read is answered.
    lock.rollback().await.unwrap();
    let (status, _, body) = first.await.unwrap();
    assert_eq!(
        (status, &body["data"]),
        (200, &json!({ "dialogues": { "nodes": [] } }))
    );
}

/// A statement whose database connection breaks under it (PostgreSQL restarted or the backend
/// killed, as `pg_ctl restart -m fast` does to every session) is answered like a saturated pool:
/// 503 `RATE_LIMITED` with `Retry-After`, never `INTERNAL_SERVER_ERROR`; the pool then connects
/// anew and serves. (On SQLite, which has no connection to lose, the same classification is
/// checked on the I/O error a broken socket gives.)
#[tokio::test]
async fn a_lost_database_connection_answers_503_rate_limited_not_internal() {
    use insights_core::error::{connection_lost, ApiError, ErrorCode};
    use sea_orm::{DbErr, RuntimeErr};
    use std::sync::Arc;

    let broken = DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
        std::io::Error::from(std::io::ErrorKind::ConnectionReset),
    ))));
    assert!(connection_lost(&broken));
    let error = ApiError::from(broken);
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(
        error.busy_for().map(|b| b.retry_after),
        Some(Duration::from_secs(2))
    );

    for t in common::databases().await {
        let pool = pool_of_one(&t.url).await;
        let open_config = ServeConfig {
            no_auth: true,
            tenant: "acme".into(),
            ..ServeConfig::default()
        };
        let (open, _hub, _task) = in_process(&pool, open_config).await;
        let (status, _, body) = post(&open, None, ROWS).await;
        assert_eq!(status, 200, "{}: {body}", t.kind);
        if t.kind != "postgres" {
            continue;
        }
        // The pool's only connection, ended by the database while a request's statement runs
        // on it (held up by a table lock, so it is surely in flight).
        let pid = pool
            .query_one_raw(Statement::from_string(
                pool.get_database_backend(),
                "SELECT pg_backend_pid() AS pid",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i32>("", "pid")
            .unwrap();
        let lock = t.db.begin().await.unwrap();
        lock.execute_raw(Statement::from_string(
            lock.get_database_backend(),
            "LOCK TABLE dialogues IN ACCESS EXCLUSIVE MODE",
        ))
        .await
        .unwrap();
        let request = tokio::spawn({
            let open = open.clone();
            async move { post(&open, None, ROWS).await }
        });
        let waiting = format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {pid} AND wait_event_type = 'Lock'"
        );
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let n =
                t.db.query_one_raw(Statement::from_string(
                    t.db.get_database_backend(),
                    &*waiting,
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap();
            if n == 1 {
                break;
            }
            assert!(
                Instant::now() < until,
                "the request's statement never waited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t.db.execute_raw(Statement::from_string(
            t.db.get_database_backend(),
            format!("SELECT pg_terminate_backend({pid})"),
        ))
        .await
        .unwrap();

        let (status, retry_after, body) = request.await.unwrap();
        lock.rollback().await.unwrap();
        assert_eq!(
            common::error_codes(&body),
            ["RATE_LIMITED"],
            "{}: {status} {body}",
            t.kind
        );
        assert_eq!(status, 503, "{}: {body}", t.kind);
        assert_eq!(retry_after.as_deref(), Some("2"), "{}", t.kind);
        // A new connection serves again.
        let (status, _, body) = post(&open, None, ROWS).await;
        assert_eq!(status, 200, "{}: {body}", t.kind);
    }
}
