//! Subscriptions across real `insights serve` processes: two servers on one PostgreSQL database
//! (a commit made anywhere reaches the subscribers of both, once, in commit order, filtered and
//! confined to the tenant), PostgreSQL restarted under an open subscription, SIGTERM closing
//! sockets cleanly, keep-alive pings. The PostgreSQL tests run when TEST_POSTGRES_URL is set;
//! the restart test starts a private cluster (never the shared server).
use crate::cluster::Cluster;
use crate::common;
use crate::live;

use std::time::Duration;

use entity::Outcome;
use live::{commit, dialogue, Client, Frame, Serve, DEADLINE};
use serde_json::{json, Value};

const INGESTED: &str =
    "subscription ($filter: DialogueFilter) { dialogueIngested(filter: $filter) { id outcome } }";
const T0: i64 = 1_772_445_600_000;

fn id_of(data: &Value) -> String {
    data["dialogueIngested"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn two_servers_on_one_postgres_deliver_every_commit_once_in_order_to_both() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let a = Serve::start(&db.url, &[]).await;
    let b = Serve::start(&db.url, &[]).await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let beta = common::scope(&db.db, "beta").await.tenant_id();
    let acme_key = common::key(&db.db, "acme", "read").await;
    let beta_key = common::key(&db.db, "beta", "read").await;

    let mut on_a = Client::ready(&a.base, Some(&acme_key)).await;
    on_a.subscribe(
        "a",
        INGESTED,
        json!({ "filter": { "outcome": { "in": ["ABANDONED", "IVR_DROP"] } } }),
    )
    .await;
    let mut on_b = Client::ready(&b.base, Some(&acme_key)).await;
    on_b.subscribe("b", INGESTED, json!({})).await;
    let mut beta_on_a = Client::ready(&a.base, Some(&beta_key)).await;
    beta_on_a.subscribe("x", INGESTED, json!({})).await;
    // The servers open the subscriptions as they read the messages; give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // This test process is a third writer on the same database.
    let mut expected_all = Vec::new();
    for i in 0..20 {
        let outcome = [Outcome::Abandoned, Outcome::Accepted, Outcome::IvrDrop][i % 3];
        let rows = vec![
            dialogue(
                acme,
                &format!("p-{i}-b"),
                2 * i as i32 + 1,
                T0 + i as i64,
                outcome,
            ),
            dialogue(
                acme,
                &format!("p-{i}-a"),
                2 * i as i32 + 2,
                T0 + i as i64,
                outcome,
            ),
        ];
        expected_all.extend(rows.iter().map(|r| (r.id.clone(), outcome)));
        commit(&db.db, None, &rows).await;
    }
    let expected_filtered: Vec<String> = expected_all
        .iter()
        .filter(|(_, o)| *o != Outcome::Accepted)
        .map(|(id, _)| id.clone())
        .collect();
    let mut got_a = Vec::new();
    for _ in 0..expected_filtered.len() {
        got_a.push(id_of(&on_a.next_data("a").await));
    }
    assert_eq!(got_a, expected_filtered);
    let mut got_b = Vec::new();
    for _ in 0..expected_all.len() {
        got_b.push(id_of(&on_b.next_data("b").await));
    }
    let all: Vec<String> = expected_all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got_b, all);

    // The other tenant writes colliding ids: only its subscriber hears, and only of its rows.
    commit(
        &db.db,
        None,
        &[dialogue(beta, "p-0-a", 1, T0, Outcome::Abandoned)],
    )
    .await;
    assert_eq!(id_of(&beta_on_a.next_data("x").await), "p-0-a");
    on_a.silent(Duration::from_millis(1500)).await;
    on_b.silent(Duration::from_millis(200)).await;
    beta_on_a.silent(Duration::from_millis(200)).await;

    // Server A's metrics: its two open subscriptions, and the events it delivered.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let text = http
        .get(format!("{}/metrics", a.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    };
    assert_eq!(value("insights_subscriptions_open"), 2.0);
    assert_eq!(
        value("insights_subscription_events_delivered_total"),
        (expected_filtered.len() + 1) as f64
    );
}

/// `ingestDialogues` on one server and `insights import` reach the subscribers of another;
/// replays and a rejected batch emit nothing. NEEDS THE WRITE BRANCH (the mutation, and the
/// importer announcing its commits).
#[tokio::test]
async fn ingest_mutation_and_import_on_other_processes_reach_subscribers_and_replays_emit_nothing()
{
    let Some(db) = common::postgres().await else {
        return;
    };
    let a = Serve::start(&db.url, &[]).await;
    let b = Serve::start(&db.url, &[]).await;
    let read = common::key(&db.db, "acme", "read").await;
    let ingest = common::key(&db.db, "acme", "read,ingest").await;
    let beta_read = common::key(&db.db, "beta", "read").await;
    let mut on_a = Client::ready(&a.base, Some(&read)).await;
    on_a.subscribe(
        "a",
        INGESTED,
        json!({ "filter": { "outcome": { "eq": "ABANDONED" } } }),
    )
    .await;
    let mut beta = Client::ready(&a.base, Some(&beta_read)).await;
    beta.subscribe("x", INGESTED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let input = |id: &str, n: i32, outcome: &str| {
        json!({
        "id": id, "orderNumber": n, "startTimestamp": "2026-03-02T10:00:00Z",
        "endTimestamp": "2026-03-02T10:01:00Z", "direction": "INBOUND", "outcome": outcome,
        "queueId": "q-1", "queueEnterTimestamp": "2026-03-02T10:00:10Z" })
    };
    let batch = json!([
        input("m-1", 1, "ABANDONED"),
        input("m-2", 2, "ACCEPTED"),
        input("m-3", 3, "ABANDONED")
    ]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mutation = "mutation ($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted unchanged } }";
    let post = |body: Value| {
        http.post(format!("{}/graphql", b.base))
            .bearer_auth(&ingest)
            .json(&body)
            .send()
    };
    let r: Value = post(json!({ "query": mutation, "variables": { "d": batch } }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["ingestDialogues"]["inserted"], 3, "{r}");
    assert_eq!(id_of(&on_a.next_data("a").await), "m-1");
    assert_eq!(id_of(&on_a.next_data("a").await), "m-3");
    // A replay changes nothing and emits nothing.
    let r: Value = post(json!({ "query": mutation, "variables": { "d": batch } }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["ingestDialogues"]["unchanged"], 3, "{r}");
    on_a.silent(Duration::from_millis(1500)).await;
    // A batch invalid at index 7 writes and emits nothing.
    let mut bad: Vec<Value> = (0..8)
        .map(|i| input(&format!("v-{i}"), 100 + i, "ABANDONED"))
        .collect();
    bad[7]["outcome"] = json!("NOPE");
    let _ = post(json!({ "query": mutation, "variables": { "d": bad } }))
        .await
        .unwrap();
    on_a.silent(Duration::from_millis(1500)).await;

    // `insights import` (another process) on the same database.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.ndjson");
    std::fs::write(&file, r#"{"id": "i-1", "startTimestamp": "2026-03-02T11:00:00Z", "orderNumber": 50, "direction": 1, "queueId": "q-1", "queueEnterTimestamp": "2026-03-02T11:00:10Z", "endTimestamp": "2026-03-02T11:00:30Z", "Outcome": "Abandoned"}
{"id": "i-2", "startTimestamp": "2026-03-02T11:01:00Z", "orderNumber": 51, "direction": 1, "endTimestamp": "2026-03-02T11:01:30Z", "Outcome": "IvrDrop"}
"#).unwrap();
    let import = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
            .args([
                "--database-url",
                &db.url,
                "import",
                "dialogues",
                "--quiet",
                "--tenant",
                "acme",
            ])
            .arg(&file)
            .output()
    };
    assert!(import().await.unwrap().status.success());
    assert_eq!(id_of(&on_a.next_data("a").await), "i-1");
    // Importing the same file again changes nothing and emits nothing.
    assert!(import().await.unwrap().status.success());
    on_a.silent(Duration::from_millis(1500)).await;
    beta.silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn sigterm_closes_open_sockets_with_going_away_and_the_server_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut server = Serve::start(&url, &["--no-auth"]).await;
    let mut client = Client::ready(&server.base, None).await;
    client.subscribe("s", INGESTED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let (code, reason) = client.closed(DEADLINE).await;
    assert_eq!(code, 1001, "{reason}");
    let status = tokio::time::timeout(DEADLINE, server.child.wait())
        .await
        .expect("exit")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_server_pings_and_drops_a_client_that_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let server = Serve::start(&url, &["--no-auth", "--ws-ping-secs", "1"]).await;
    // A client that answers pings stays connected past three intervals.
    let mut alive = Client::ready(&server.base, None).await;
    alive.subscribe("s", INGESTED, json!({})).await;
    alive.silent(Duration::from_secs(5)).await;
    // A raw client that never answers sees pings, then a close.
    let mut mute = Client::connect(&server.base).await;
    mute.send(json!({ "type": "connection_init" })).await;
    let mut pings = 0;
    let closed = loop {
        match mute.recv_raw(DEADLINE).await {
            Some(Frame::Json(v)) if v["type"] == "ping" => pings += 1,
            Some(Frame::Json(v)) => assert_eq!(v["type"], "connection_ack"),
            Some(Frame::Closed(code, reason)) => break (code, reason),
            None => panic!("neither ping nor close"),
        }
    };
    assert!(pings >= 1, "{pings} pings");
    assert_eq!(closed.0, 1001, "{closed:?}");
}

/// PostgreSQL restarted under an open subscription: the socket stays open and the subscription
/// keeps delivering once the database is back (the listener reconnects).
#[tokio::test]
async fn a_postgres_restart_keeps_the_subscription_delivering() {
    if std::env::var("TEST_POSTGRES_URL").map_or(true, |u| u.is_empty()) {
        return;
    }
    let Some(cluster) = Cluster::start() else {
        eprintln!("no PostgreSQL binaries: skipped");
        return;
    };
    let (url, db) = cluster.migrated_database("live").await;
    let server = Serve::start(&url, &[]).await;
    let acme = common::scope(&db, "acme").await.tenant_id();
    let key = common::key(&db, "acme", "read").await;
    let mut client = Client::ready(&server.base, Some(&key)).await;
    client.subscribe("s", INGESTED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    commit(
        &db,
        None,
        &[dialogue(acme, "before", 1, T0, Outcome::Accepted)],
    )
    .await;
    assert_eq!(id_of(&client.next_data("s").await), "before");

    cluster.pg_ctl("restart");

    // Commit (a new dialogue each time) until the subscriber hears one: commits made before the
    // server's listener is back are not announced (NOTIFY keeps nothing), later ones are.
    let mut n = 1;
    let heard = loop {
        n += 1;
        assert!(n < 60, "no event reached the subscriber after the restart");
        let written = tokio::spawn({
            let db = db.clone();
            async move {
                use sea_orm::TransactionTrait;
                // The test's own pool reconnects too; a failed attempt is simply retried.
                if db.begin().await.is_err() {
                    return false;
                }
                commit(
                    &db,
                    None,
                    &[dialogue(
                        acme,
                        &format!("after-{n}"),
                        n,
                        T0,
                        Outcome::Accepted,
                    )],
                )
                .await;
                true
            }
        })
        .await
        .unwrap_or(false);
        if written {
            if let Some(Frame::Json(v)) = client.recv(Duration::from_millis(700)).await {
                assert_eq!(v["type"], "next", "{v}");
                break id_of(&v["payload"]["data"]);
            }
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    assert!(heard.starts_with("after-"), "{heard}");
    // And it keeps delivering, each commit once.
    commit(
        &db,
        None,
        &[dialogue(acme, "later", 1000, T0, Outcome::Accepted)],
    )
    .await;
    let mut next = id_of(&client.next_data("s").await);
    // The commit heard last may be followed by the ones written before it was read.
    while next != "later" {
        assert!(next.starts_with("after-"), "{next}");
        next = id_of(&client.next_data("s").await);
    }
    client.silent(Duration::from_millis(500)).await;
    drop(server);
}
