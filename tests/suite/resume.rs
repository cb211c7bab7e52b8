//! Resuming subscriptions (docs/api.md, "Resuming"): change positions, `Dialogue.changePosition`,
//! `dialogueIngested(after:)` replaying what changed then going live with no gap and no
//! duplicate, positions of another tenant or malformed refused, and RESUME_REQUIRED when the
//! server cannot read, through a real WebSocket against the real server, on SQLite and (with
//! TEST_POSTGRES_URL) on PostgreSQL.
use crate::common;
use crate::live::{commit, dialogue, in_process, wait_for_subscriptions, Client, Frame, DEADLINE};

use std::time::Duration;

use entity::Outcome;
use insights::app::config::ServeConfig;
use insights_core::error::Arg;
use insights_core::live::position::ChangePosition;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

const INGESTED: &str = "subscription ($filter: DialogueFilter, $after: String) {
    dialogueIngested(filter: $filter, after: $after) { id outcome changePosition } }";

const INGEST: &str = "mutation($d: [DialogueInput!]!) {
    ingestDialogues(dialogues: $d) { received inserted updated unchanged } }";

const POSITIONS: &str =
    "{ dialogues(first: 500, orderBy: [{ field: ORDER_NUMBER, direction: ASC }]) { nodes { id changePosition } } }";

/// 2026-03-02T10:00:00Z.
const T0: i64 = 1_772_445_600_000;

fn record(id: &str, order: i32, outcome: &str) -> Value {
    json!({
        "id": id,
        "orderNumber": order,
        "startTimestamp": "2026-03-02T10:00:00Z",
        "direction": "INBOUND",
        "outcome": outcome,
    })
}

fn decode(text: &str, tenant_id: i32) -> ChangePosition {
    ChangePosition::decode(text, tenant_id, Arg::After).expect("a position of the tenant")
}

/// The position (commit, place in the commit) of each of the tenant's dialogues, by id.
async fn positions(
    db: &sea_orm::DatabaseConnection,
    tenant: &str,
) -> std::collections::BTreeMap<String, (i64, i64)> {
    let tenant_id = common::scope(db, tenant).await.tenant_id();
    let r = common::query(db, tenant, POSITIONS, json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
    r["data"]["dialogues"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let p = decode(n["changePosition"].as_str().unwrap(), tenant_id);
            (
                n["id"].as_str().unwrap().to_string(),
                (
                    p.commit,
                    p.index.expect("a dialogue's position names its place"),
                ),
            )
        })
        .collect()
}

fn ingested_id(data: &Value) -> String {
    data["dialogueIngested"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn positions_follow_commit_order_per_tenant_and_a_replay_keeps_its_position() {
    for db in common::databases().await {
        let kind = db.kind;
        let ingest = |tenant: &'static str, records: Vec<Value>| {
            let db = db.db.clone();
            async move {
                let r = common::query(&db, tenant, INGEST, json!({ "d": records })).await;
                assert!(r.get("errors").is_none(), "{r}");
                r["data"]["ingestDialogues"].clone()
            }
        };
        ingest(
            "acme",
            vec![record("a-2", 2, "ACCEPTED"), record("a-1", 1, "ABANDONED")],
        )
        .await;
        // Another tenant's commits have positions of their own.
        ingest("beta", vec![record("b-1", 1, "ACCEPTED")]).await;
        ingest("acme", vec![record("a-3", 3, "ACCEPTED")]).await;
        let first = positions(&db.db, "acme").await;
        let (a2, a1, a3) = (first["a-2"], first["a-1"], first["a-3"]);
        // One commit, one position; its changes in the order it wrote them.
        assert_eq!(a2.0, a1.0, "{kind}");
        assert!(a2.1 < a1.1, "{kind}: {first:?}");
        assert!(a3.0 > a1.0, "{kind}: {first:?}");
        let beta = positions(&db.db, "beta").await;
        assert_eq!(beta["b-1"].0, 1, "{kind}: each tenant counts from 1");

        // A replay changes nothing: every position stays.
        let replay = ingest(
            "acme",
            vec![record("a-2", 2, "ACCEPTED"), record("a-1", 1, "ABANDONED")],
        )
        .await;
        assert_eq!(replay["unchanged"], 2, "{kind}");
        assert_eq!(positions(&db.db, "acme").await, first, "{kind}");

        // A change moves the dialogue after everything committed before it.
        ingest(
            "acme",
            vec![record("a-2", 2, "ACCEPTED"), record("a-1", 1, "ACCEPTED")],
        )
        .await;
        let after = positions(&db.db, "acme").await;
        assert_eq!(after["a-2"], a2, "{kind}: unchanged in the call, kept");
        assert!(after["a-1"].0 > a3.0, "{kind}: {after:?}");

        // The one-pass rows and the ordinary resolver show the same position.
        let tenant_id = common::scope(&db.db, "acme").await.tenant_id();
        let one = common::query(
            &db.db,
            "acme",
            "{ dialogue(id: \"a-1\") { changePosition } }",
            json!({}),
        )
        .await;
        let p = decode(
            one["data"]["dialogue"]["changePosition"].as_str().unwrap(),
            tenant_id,
        );
        assert_eq!((p.commit, p.index.unwrap()), after["a-1"], "{kind}");
    }
}

#[tokio::test]
async fn after_replays_what_changed_once_each_filtered_then_goes_live_without_gap_or_duplicate() {
    for db in common::databases().await {
        let kind = db.kind;
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let key = common::key(&db.db, "acme", "read").await;
        let announcer = hub.announcer().clone();
        let outcome = |abandoned: bool| {
            if abandoned {
                Outcome::Abandoned
            } else {
                Outcome::Accepted
            }
        };

        commit(
            &db.db,
            Some(&announcer),
            &[
                dialogue(acme, "x-1", 1, T0, Outcome::Accepted),
                dialogue(acme, "x-2", 2, T0, Outcome::Abandoned),
            ],
        )
        .await;
        commit(
            &db.db,
            Some(&announcer),
            &[dialogue(acme, "x-3", 3, T0, Outcome::Abandoned)],
        )
        .await;
        // What the client saw last before it went away.
        let seen = positions(&db.db, "acme").await["x-3"];
        let after = ChangePosition {
            tenant_id: acme,
            commit: seen.0,
            index: Some(seen.1),
        }
        .encode();
        // Meanwhile: a commit larger than a page of the replay, x-1 changed, and b-5 changed
        // twice (it comes once, in its latest state).
        let big: Vec<_> = (0..600)
            .map(|i| dialogue(acme, &format!("b-{i}"), 100 + i, T0, outcome(i % 2 == 0)))
            .collect();
        commit(&db.db, Some(&announcer), &big).await;
        commit(
            &db.db,
            Some(&announcer),
            &[dialogue(acme, "x-1", 1, T0, Outcome::Abandoned)],
        )
        .await;
        commit(
            &db.db,
            Some(&announcer),
            &[dialogue(acme, "b-5", 105, T0 + 1, Outcome::Abandoned)],
        )
        .await;

        let mut client = Client::ready(&base, Some(&key)).await;
        client
            .subscribe(
                "r",
                INGESTED,
                json!({ "filter": { "outcome": { "eq": "ABANDONED" } }, "after": after }),
            )
            .await;
        // Writes keep arriving while it replays.
        let writer = {
            let db = db.db.clone();
            let announcer = announcer.clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    commit(
                        &db,
                        Some(&announcer),
                        &[dialogue(
                            acme,
                            &format!("c-{i}"),
                            1000 + i,
                            T0,
                            outcome(i % 3 != 0),
                        )],
                    )
                    .await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let mut got = Vec::new();
        // Read while the writer writes; then exactly what the database says is due.
        while !writer.is_finished() {
            match client.recv(Duration::from_millis(50)).await {
                Some(Frame::Json(v)) if v["type"] == "next" => {
                    assert!(v["payload"].get("errors").is_none(), "{kind}: {v}");
                    got.push(v["payload"]["data"].clone());
                }
                Some(other) => panic!("{kind}: {other:?}"),
                None => {}
            }
        }
        writer.await.unwrap();
        let mut due: Vec<(i64, i64, String)> = Vec::new();
        let stored = entity::dialogue::Entity::find()
            .filter(entity::dialogue::Column::TenantId.eq(acme))
            .all(&db.db)
            .await
            .unwrap();
        for d in &stored {
            let (id, c, i) = (&d.id, &d.change_position, &d.change_index);
            // Which dialogues are abandoned in their latest state (every x is).
            let abandoned = match id.split_once('-').unwrap() {
                ("x", _) => true,
                ("b", n) => n.parse::<i32>().unwrap() % 2 == 0 || n == "5",
                ("c", n) => n.parse::<i32>().unwrap() % 3 != 0,
                _ => unreachable!(),
            };
            if abandoned && (*c, *i) > seen {
                due.push((*c, *i, id.clone()));
            }
        }
        due.sort();
        let due: Vec<String> = due.into_iter().map(|(_, _, id)| id).collect();
        while got.len() < due.len() {
            got.push(client.next_data("r").await);
        }
        let ids: Vec<String> = got.iter().map(ingested_id).collect();
        assert_eq!(ids.len(), due.len(), "{kind}");
        assert_eq!(ids, due, "{kind}: in position order, each once");
        assert!(got
            .iter()
            .all(|d| d["dialogueIngested"]["outcome"] == "ABANDONED"));
        // Each carries its position, increasing.
        let emitted: Vec<(i64, Option<i64>)> = got
            .iter()
            .map(|d| {
                let p = decode(
                    d["dialogueIngested"]["changePosition"].as_str().unwrap(),
                    acme,
                );
                (p.commit, p.index)
            })
            .collect();
        assert!(emitted.windows(2).all(|w| w[0] < w[1]), "{kind}");
        client.silent(Duration::from_millis(500)).await;

        // Resuming from the last position seen misses nothing and repeats nothing.
        let last = got.last().unwrap()["dialogueIngested"]["changePosition"]
            .as_str()
            .unwrap()
            .to_string();
        client.send(json!({ "type": "complete", "id": "r" })).await;
        match client.recv(DEADLINE).await {
            Some(Frame::Json(v)) => assert_eq!(v, json!({ "type": "complete", "id": "r" })),
            other => panic!("{kind}: expected complete, got {other:?}"),
        }
        wait_for_subscriptions(&hub, 0).await;
        commit(
            &db.db,
            Some(&announcer),
            &[dialogue(acme, "d-1", 5000, T0, Outcome::Abandoned)],
        )
        .await;
        client
            .subscribe(
                "again",
                INGESTED,
                json!({ "filter": { "outcome": { "eq": "ABANDONED" } }, "after": last }),
            )
            .await;
        assert_eq!(
            ingested_id(&client.next_data("again").await),
            "d-1",
            "{kind}"
        );
        client.silent(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_position_of_another_tenant_or_a_malformed_one_is_bad_user_input() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let beta = common::scope(&db.db, "beta").await.tenant_id();
        let key = common::key(&db.db, "acme", "read").await;
        let theirs = ChangePosition::after_commit(beta, 1).encode();
        let mut client = Client::ready(&base, Some(&key)).await;
        for (n, after) in [theirs.as_str(), "not-a-position", "", "MS54LjM"]
            .into_iter()
            .enumerate()
        {
            let id = format!("s{n}");
            client
                .subscribe(&id, INGESTED, json!({ "after": after }))
                .await;
            let payload = client.next_payload(&id).await;
            assert_eq!(
                payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{}: {after:?} {payload}",
                db.kind
            );
            let message = payload["errors"][0]["message"].as_str().unwrap();
            assert!(message.starts_with("`after` "), "{message}");
            match client.recv(DEADLINE).await {
                Some(Frame::Json(v)) => assert_eq!(v, json!({ "type": "complete", "id": id })),
                other => panic!("expected complete, got {other:?}"),
            }
        }
        assert_eq!(hub.open_subscriptions(), 0);
    }
}

#[tokio::test]
async fn reads_that_keep_failing_end_with_resume_required_and_resuming_misses_nothing() {
    for db in common::databases().await {
        let kind = db.kind;
        // The server reads through a pool of one connection, which the test takes away.
        let options = insights_core::db::DbOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(300),
            ..insights_core::db::DbOptions::new(db.url.clone())
        };
        let server_db = insights_core::db::connect(&options)
            .await
            .expect("pool of one");
        let (base, hub, _task) = in_process(&server_db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let key = common::key(&db.db, "acme", "read").await;
        let announcer = hub.announcer().clone();

        let mut client = Client::ready(&base, Some(&key)).await;
        client.subscribe("s", INGESTED, json!({})).await;
        wait_for_subscriptions(&hub, 1).await;
        // Delivered: the subscriber reads.
        let mut delivered_up_to = 0;
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            // The first commit may come before the subscriber took its start position.
            delivered_up_to = commit(
                &db.db,
                Some(&announcer),
                &[dialogue(acme, "d-1", 1, T0, Outcome::Accepted)],
            )
            .await
            .max(delivered_up_to);
            if let Some(Frame::Json(v)) = client.recv(Duration::from_millis(500)).await {
                assert_eq!(v["payload"]["data"]["dialogueIngested"]["id"], "d-1", "{v}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{kind}: d-1 never came"
            );
        }
        // Drain any second delivery of d-1 (a rewrite is a change too).
        while let Some(Frame::Json(v)) = client.recv(Duration::from_millis(300)).await {
            assert_eq!(v["payload"]["data"]["dialogueIngested"]["id"], "d-1", "{v}");
        }

        let held = sea_orm::TransactionTrait::begin(&server_db)
            .await
            .expect("the pool's one connection");
        commit(
            &db.db,
            Some(&announcer),
            &[
                dialogue(acme, "d-2", 2, T0, Outcome::Accepted),
                dialogue(acme, "d-3", 3, T0, Outcome::Abandoned),
            ],
        )
        .await;
        let payload = client.next_payload("s").await;
        let error = &payload["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "RESUME_REQUIRED",
            "{kind}: {payload}"
        );
        let after = error["extensions"]["after"]
            .as_str()
            .expect("after")
            .to_string();
        let resume_at = decode(&after, acme);
        assert_eq!(resume_at.commit, delivered_up_to, "{kind}: {resume_at:?}");
        match client.recv(DEADLINE).await {
            Some(Frame::Json(v)) => assert_eq!(v, json!({ "type": "complete", "id": "s" })),
            other => panic!("{kind}: expected complete, got {other:?}"),
        }
        wait_for_subscriptions(&hub, 0).await;

        // The database answers again: resuming delivers exactly what was missed, on the same
        // socket.
        held.rollback().await.expect("give the connection back");
        client
            .subscribe("s2", INGESTED, json!({ "after": after }))
            .await;
        let missed = [
            ingested_id(&client.next_data("s2").await),
            ingested_id(&client.next_data("s2").await),
        ];
        assert_eq!(missed, ["d-2", "d-3"], "{kind}");
        client.silent(Duration::from_millis(500)).await;
    }
}

/// Runs `sql` on the server `TEST_POSTGRES_URL` names (the maintenance database).
async fn as_admin(sql: &str) {
    use sea_orm::ConnectionTrait;
    let url = std::env::var("TEST_POSTGRES_URL").expect("TEST_POSTGRES_URL");
    let mut options = insights_core::db::DbOptions::new(url);
    options.max_connections = 1;
    let admin = insights_core::db::connect(&options).await.expect("admin");
    admin
        .execute_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql.to_string(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    admin.close().await.ok();
}

async fn readyz(base: &str) -> (u16, String) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn wait_ready(base: &str, status: u16) -> String {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (now, text) = readyz(base).await;
        if now == status {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "/readyz stayed {now} ({text}), not {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_listener_that_lost_the_database_is_not_ready_and_catches_up_when_back() {
    // Only PostgreSQL has a listener (SQLite announces within the writing process).
    let Some(db) = common::postgres().await else {
        return;
    };
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let key = common::key(&db.db, "acme", "read").await;
    let mut client = Client::ready(&base, Some(&key)).await;
    client.subscribe("s", INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 1).await;
    assert_eq!(readyz(&base).await.0, 200);
    // Warm the test's own pool, so its commit below needs no new connection.
    commit(
        &db.db,
        None,
        &[dialogue(acme, "before", 1, T0, Outcome::Accepted)],
    )
    .await;
    assert_eq!(ingested_id(&client.next_data("s").await), "before");

    // The database turns away new connections, and the listener loses its own.
    as_admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    as_admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND query ILIKE 'LISTEN%'"
    ))
    .await;
    let why = wait_ready(&base, 503).await;
    assert!(why.contains("not listening"), "{why}");
    // A commit nobody here hears of.
    commit(
        &db.db,
        None,
        &[dialogue(acme, "unheard", 2, T0, Outcome::Abandoned)],
    )
    .await;
    client.silent(Duration::from_millis(500)).await;

    // Back: ready again, and the subscriber gets what it missed, once, without another commit.
    as_admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    assert_eq!(wait_ready(&base, 200).await, "ready");
    assert_eq!(ingested_id(&client.next_data("s").await), "unheard");
    client.silent(Duration::from_millis(500)).await;
}
