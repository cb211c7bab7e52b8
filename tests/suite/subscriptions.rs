//! Subscriptions over graphql-transport-ws (API.md §5), with a real WebSocket client against the
//! real server: `dialogueIngested` (once each, in commit order, filtered, confined to the key's
//! tenant), `dialogueStatsChanged`, the close codes of keys and of the protocol, the per-key
//! cap, revocation, a subscriber that falls behind. On SQLite the writer is in the serving
//! process; on PostgreSQL (TEST_POSTGRES_URL) it is this test process, a separate connection
//! whose NOTIFY reaches the server through its listener.
use crate::common;
use crate::live;

use std::time::Duration;

use entity::Outcome;
use insights::app::config::ServeConfig;
use live::{commit, dialogue, in_process, Client, DEADLINE};
use serde_json::{json, Value};

const INGESTED: &str = "subscription ($filter: DialogueFilter) { dialogueIngested(filter: $filter) { id outcome orderNumber } }";

/// 2026-03-02T10:00:00Z and the day's bounds.
const T0: i64 = 1_772_445_600_000;
const DAY_START: &str = "2026-03-02T00:00:00Z";
const DAY_END: &str = "2026-03-03T00:00:00Z";

fn ids(received: &[Value]) -> Vec<String> {
    received
        .iter()
        .map(|d| d["dialogueIngested"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn dialogue_ingested_emits_each_matching_commit_once_in_order_confined_to_the_tenant() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let beta = common::scope(&db.db, "beta").await.tenant_id();
        let acme_key = common::key(&db.db, "acme", "read").await;
        let beta_key = common::key(&db.db, "beta", "read").await;
        // The writer of this process announces to the hub's announcer (SQLite); on PostgreSQL
        // the server hears the NOTIFY of this test's transaction through its listener.
        let announcer = hub.announcer().clone();

        let mut abandoned = Client::ready(&base, Some(&acme_key)).await;
        abandoned
            .subscribe(
                "a",
                INGESTED,
                json!({ "filter": { "outcome": { "eq": "ABANDONED" } } }),
            )
            .await;
        let mut everything = Client::ready(&base, Some(&acme_key)).await;
        everything.subscribe("e", INGESTED, json!({})).await;
        let mut other_tenant = Client::ready(&base, Some(&beta_key)).await;
        other_tenant.subscribe("b", INGESTED, json!({})).await;
        // Subscriptions are open once the hub counts them.
        let until = tokio::time::Instant::now() + DEADLINE;
        while hub.open_subscriptions() < 3 {
            assert!(
                tokio::time::Instant::now() < until,
                "subscriptions did not open"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        commit(
            &db.db,
            Some(&announcer),
            &[
                dialogue(acme, "d-1", 1, T0, Outcome::Abandoned),
                dialogue(acme, "d-2", 2, T0 + 1000, Outcome::Accepted),
            ],
        )
        .await;
        commit(
            &db.db,
            Some(&announcer),
            &[dialogue(acme, "d-3", 3, T0 + 2000, Outcome::Abandoned)],
        )
        .await;
        // Read before d-1 changes again: one that reads after gets d-1 once, in its latest state.
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(abandoned.next_data("a").await);
        }
        let mut all = Vec::new();
        for _ in 0..3 {
            all.push(everything.next_data("e").await);
        }
        // A later commit changes d-1 again (it is emitted again: a second change) and adds d-4,
        // listed first: the commit's own order counts, not the ids'.
        commit(
            &db.db,
            Some(&announcer),
            &[
                dialogue(acme, "d-4", 4, T0 + 3000, Outcome::Abandoned),
                dialogue(acme, "d-1", 1, T0 + 500, Outcome::Abandoned),
            ],
        )
        .await;

        for _ in 0..2 {
            got.push(abandoned.next_data("a").await);
        }
        assert_eq!(ids(&got), ["d-1", "d-3", "d-4", "d-1"], "{}", db.kind);
        assert!(got
            .iter()
            .all(|d| d["dialogueIngested"]["outcome"] == "ABANDONED"));
        for _ in 0..2 {
            all.push(everything.next_data("e").await);
        }
        assert_eq!(
            ids(&all),
            ["d-1", "d-2", "d-3", "d-4", "d-1"],
            "{}",
            db.kind
        );
        assert_eq!(all[1]["dialogueIngested"]["orderNumber"], 2);

        // The other tenant writes the same ids: only its own subscriber hears of them.
        commit(
            &db.db,
            Some(&announcer),
            &[dialogue(beta, "d-1", 1, T0, Outcome::Abandoned)],
        )
        .await;
        let theirs = other_tenant.next_data("b").await;
        assert_eq!(ids(&[theirs]), ["d-1"]);
        // Nothing more for anyone: acme's subscribers saw no beta row, beta saw no acme row.
        abandoned.silent(Duration::from_millis(1500)).await;
        everything.silent(Duration::from_millis(200)).await;
        other_tenant.silent(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn keys_and_protocol_errors_close_with_the_protocols_codes_and_the_server_stays_healthy() {
    let db = common::sqlite().await;
    let (base, _hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let read = common::key(&db.db, "acme", "read").await;
    let ingest_only = common::key(&db.db, "acme", "ingest").await;

    let refused = |payload: Value| {
        let base = base.clone();
        async move {
            Client::connect(&base)
                .await
                .init(payload)
                .await
                .unwrap_err()
        }
    };
    assert_eq!(refused(json!({})).await.0, 4401, "no key");
    assert_eq!(
        refused(json!({ "Authorization": "Bearer dik_nope" }))
            .await
            .0,
        4401,
        "bad key"
    );
    assert_eq!(
        refused(json!({ "Authorization": read.clone() })).await.0,
        4401,
        "no Bearer"
    );
    let (code, reason) = refused(json!({ "Authorization": format!("Bearer {ingest_only}") })).await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("read"), "{reason}");
    // Any case of the header name, as HTTP headers.
    Client::connect(&base)
        .await
        .init(json!({ "authorization": format!("Bearer {read}") }))
        .await
        .unwrap();

    // Subscribe before connection_init: 4401 (the protocol's "Unauthorized").
    let mut early = Client::connect(&base).await;
    early.subscribe("1", INGESTED, json!({})).await;
    assert_eq!(early.closed(DEADLINE).await.0, 4401);

    // Not JSON, no type, an unknown type, a subscribe without id: 4400.
    for bad in [
        "{nope",
        r#"{"id":"1"}"#,
        r#"{"type":"start","id":"1","payload":{"query":"{a}"}}"#,
        r#"{"type":"subscribe","payload":{"query":"subscription { dialogueIngested { id } }"}}"#,
    ] {
        let mut client = Client::ready(&base, Some(&read)).await;
        client.send_text(bad).await;
        assert_eq!(client.closed(DEADLINE).await.0, 4400, "{bad}");
    }
    // A second connection_init: 4429.
    let mut twice = Client::ready(&base, Some(&read)).await;
    twice
        .send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    assert_eq!(twice.closed(DEADLINE).await.0, 4429);
    // An id still in use: 4409.
    let mut dup = Client::ready(&base, Some(&read)).await;
    dup.subscribe("x", INGESTED, json!({})).await;
    dup.subscribe("x", INGESTED, json!({})).await;
    let (code, reason) = dup.closed(DEADLINE).await;
    assert_eq!(code, 4409, "{reason}");

    // An invalid operation is an error for that operation; the socket stays usable.
    let mut client = Client::ready(&base, Some(&read)).await;
    client
        .subscribe(
            "bad",
            "subscription { dialogueIngested { nope } }",
            json!({}),
        )
        .await;
    let payload = client.next_payload("bad").await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{payload}"
    );
    match client.recv(DEADLINE).await {
        Some(live::Frame::Json(v)) => assert_eq!(v, json!({ "type": "complete", "id": "bad" })),
        other => panic!("{other:?}"),
    }
    client.subscribe("good", INGESTED, json!({})).await;
    client.silent(Duration::from_millis(300)).await;

    // The server still answers queries and new connections.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http
        .post(format!("{base}/graphql"))
        .bearer_auth(&read)
        .json(&json!({ "query": "{ dialogues { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    Client::ready(&base, Some(&read)).await;

    // A WebSocket upgrade without the subprotocol is refused with 400.
    let plain = http
        .get(format!("{base}/graphql"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
}

#[tokio::test]
async fn a_key_over_its_subscription_cap_gets_an_error_and_keeps_its_socket() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        max_subscriptions_per_key: 2,
        ..ServeConfig::default()
    };
    let (base, hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let other_key = common::key(&db.db, "acme", "read").await;
    let mut first = Client::ready(&base, Some(&key)).await;
    first.subscribe("1", INGESTED, json!({})).await;
    let mut second = Client::ready(&base, Some(&key)).await;
    second.subscribe("2", INGESTED, json!({})).await;
    let until = tokio::time::Instant::now() + DEADLINE;
    while hub.open_subscriptions() < 2 {
        assert!(tokio::time::Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The third for the same key, on either connection, is refused with a code.
    second.subscribe("3", INGESTED, json!({})).await;
    let payload = second.next_payload("3").await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{payload}"
    );
    assert!(payload["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("2 open subscriptions"));
    match second.recv(DEADLINE).await {
        Some(live::Frame::Json(v)) => assert_eq!(v, json!({ "type": "complete", "id": "3" })),
        other => panic!("{other:?}"),
    }
    // Another key is not affected.
    let mut other = Client::ready(&base, Some(&other_key)).await;
    other.subscribe("o", INGESTED, json!({})).await;
    // Completing one frees a place, on the same socket.
    first.send(json!({ "type": "complete", "id": "1" })).await;
    live::wait_for_subscriptions(&hub, 2).await;
    second.subscribe("4", INGESTED, json!({})).await;
    live::wait_for_subscriptions(&hub, 3).await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    commit(
        &db.db,
        Some(hub.announcer()),
        &[dialogue(acme, "c-1", 1, T0, Outcome::Accepted)],
    )
    .await;
    // Both subscriptions of the socket hear of it (in either order).
    let mut heard = Vec::new();
    for _ in 0..2 {
        match second.recv(DEADLINE).await {
            Some(live::Frame::Json(v)) if v["type"] == "next" => {
                assert_eq!(v["payload"]["data"]["dialogueIngested"]["id"], "c-1");
                heard.push(v["id"].as_str().unwrap().to_string());
            }
            other => panic!("{other:?}"),
        }
    }
    heard.sort();
    assert_eq!(heard, ["2", "4"]);
}

#[tokio::test]
async fn revoking_a_key_ends_its_subscriptions_within_seconds() {
    let db = common::sqlite().await;
    let (base, _hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let scopes = insights_core::keys::Scopes::parse("read").unwrap();
    let created = insights_core::keys::create(&db.db, "acme", &scopes, None)
        .await
        .unwrap();
    let kept = common::key(&db.db, "acme", "read").await;
    let mut revoked = Client::ready(&base, Some(&created.secret)).await;
    revoked.subscribe("r", INGESTED, json!({})).await;
    let mut other = Client::ready(&base, Some(&kept)).await;
    other.subscribe("k", INGESTED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    insights_core::keys::revoke(&db.db, &created.key.id)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (code, reason) = revoked.closed(DEADLINE).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("revoked"), "{reason}");
    println!("closed {:?} after the revocation", started.elapsed());
    other.silent(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_its_buffer_catches_up_and_misses_nothing() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        subscription_buffer: 4,
        ..ServeConfig::default()
    };
    let (base, hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let mut slow = Client::ready(&base, Some(&key)).await;
    slow.subscribe("s", INGESTED, json!({})).await;
    live::wait_for_subscriptions(&hub, 1).await;
    // Forty commits, each followed by announcements of nothing new: far more than the
    // subscriber's 4 can hold while it reads. The dropped announcements lose nothing: it reads
    // what changed from the database.
    live::commit_past_the_buffer(&db.db, &hub, acme, 40, T0).await;
    let mut got = Vec::new();
    for _ in 0..40 {
        got.push(slow.next_data("s").await);
    }
    let expected: Vec<String> = (0..40).map(|i| format!("x-{i}")).collect();
    assert_eq!(ids(&got), expected);
    slow.silent(Duration::from_millis(500)).await;
    assert_eq!(
        hub.open_subscriptions(),
        1,
        "the subscription is still open"
    );
}

#[tokio::test]
async fn dialogue_stats_changed_emits_at_once_then_after_commits_inside_its_window() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let key = common::key(&db.db, "acme", "read").await;
        // Stored before anyone subscribes, unannounced: a NOTIFY arriving late on a loaded
        // machine would make the subscription emit its first result twice.
        {
            use sea_orm::ActiveModelTrait;
            let row: entity::dialogue::ActiveModel =
                dialogue(acme, "s-1", 1, T0, Outcome::Abandoned).into();
            row.reset_all().insert(&db.db).await.unwrap();
        }
        let mut client = Client::ready(&base, Some(&key)).await;
        client.subscribe("s", "subscription ($from: DateTime, $to: DateTime) { dialogueStatsChanged(from: $from, to: $to, groupBy: [OUTCOME], filter: { direction: { eq: INBOUND } }) { outcome dialogues } }",
            json!({ "from": DAY_START, "to": DAY_END })).await;
        let first = client.next_data("s").await;
        assert_eq!(
            first,
            json!({ "dialogueStatsChanged": [{ "outcome": "ABANDONED", "dialogues": 1 }] }),
            "{}",
            db.kind
        );
        // Outside the window (the next day): nothing.
        commit(
            &db.db,
            Some(hub.announcer()),
            &[dialogue(acme, "s-2", 2, T0 + 86_400_000, Outcome::Accepted)],
        )
        .await;
        client.silent(Duration::from_millis(2500)).await;
        // Inside: the whole result again.
        commit(
            &db.db,
            Some(hub.announcer()),
            &[dialogue(acme, "s-3", 3, T0 + 60_000, Outcome::Accepted)],
        )
        .await;
        let second = client.next_data("s").await;
        assert_eq!(
            second,
            json!({ "dialogueStatsChanged": [
            { "outcome": "ACCEPTED", "dialogues": 1 }, { "outcome": "ABANDONED", "dialogues": 1 }] }),
            "{}",
            db.kind
        );
        // A burst of commits inside the window gives at most one result a second.
        let started = std::time::Instant::now();
        for i in 0..5 {
            commit(
                &db.db,
                Some(hub.announcer()),
                &[dialogue(
                    acme,
                    &format!("b-{i}"),
                    10 + i,
                    T0 + 120_000,
                    Outcome::Accepted,
                )],
            )
            .await;
        }
        let mut results = Vec::new();
        loop {
            let data = client.next_data("s").await;
            let accepted = data["dialogueStatsChanged"][0]["dialogues"]
                .as_i64()
                .unwrap();
            results.push(started.elapsed());
            if accepted == 6 {
                break;
            }
        }
        for pair in results.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(900),
                "{results:?}"
            );
        }
        // Another tenant's commit in the same window: nothing.
        let beta = common::scope(&db.db, "beta").await.tenant_id();
        commit(
            &db.db,
            Some(hub.announcer()),
            &[dialogue(beta, "s-9", 1, T0, Outcome::Accepted)],
        )
        .await;
        client.silent(Duration::from_millis(2000)).await;
    }
}

/// Every result of `dialogueStatsChanged` keeps the request's field order, the first and the
/// ones after commits alike (GraphQL's ordered maps; a wallboard diffing results relies on it).
#[tokio::test]
async fn dialogue_stats_changed_keeps_the_requests_field_order_in_every_result() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let key = common::key(&db.db, "acme", "read").await;
        let queued = |id: &str, n: i32, queue: &str, outcome: Outcome| {
            let mut row = dialogue(acme, id, n, T0 + i64::from(n) * 1000, outcome);
            row.queue_id = Some(queue.to_string());
            row.queue_enter_timestamp_ms = Some(row.start_timestamp_ms);
            row.queue_duration_in_sec = Some(5.0);
            row
        };
        commit(
            &db.db,
            Some(hub.announcer()),
            &[queued("o-1", 1, "q-a", Outcome::Abandoned)],
        )
        .await;
        let mut client = Client::ready(&base, Some(&key)).await;
        client.subscribe("s", "subscription ($from: DateTime, $to: DateTime) { dialogueStatsChanged(from: $from, to: $to, groupBy: [QUEUE]) { offered queue { id } abandoned averageAbandonTime dialogues } }",
            json!({ "from": DAY_START, "to": DAY_END })).await;
        let selected = [
            "offered",
            "queue",
            "abandoned",
            "averageAbandonTime",
            "dialogues",
        ];
        let order = |text: &str| -> Vec<String> {
            common::keys_in_order(text)
                .into_iter()
                .filter(|k| selected.contains(&k.as_str()))
                .collect()
        };
        for (round, rows) in [(0, 1), (1, 2), (2, 2)] {
            if round > 0 {
                let queue = if round == 1 { "q-b" } else { "q-a" };
                commit(
                    &db.db,
                    Some(hub.announcer()),
                    &[queued(
                        &format!("o-{}", round + 1),
                        round + 1,
                        queue,
                        Outcome::Accepted,
                    )],
                )
                .await;
            }
            let data = client.next_data("s").await;
            assert_eq!(
                data["dialogueStatsChanged"].as_array().map(Vec::len),
                Some(rows),
                "{}: {data}",
                db.kind
            );
            let expected: Vec<String> = (0..rows)
                .flat_map(|_| selected.iter().map(|k| k.to_string()))
                .collect();
            assert_eq!(
                order(&client.last_text),
                expected,
                "{} round {round}: {}",
                db.kind,
                client.last_text
            );
        }
    }
}

#[tokio::test]
async fn dialogue_stats_changed_with_a_moving_period_reads_today_and_follows_commits() {
    let db = common::sqlite().await;
    let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let key = common::key(&db.db, "acme", "read").await;
    let now = chrono::Utc::now().timestamp_millis();
    // Yesterday's dialogue is outside TODAY (UTC); one from a minute ago is inside.
    commit(
        &db.db,
        Some(hub.announcer()),
        &[
            dialogue(
                acme,
                "y-1",
                1,
                now - 86_400_000 - 3_600_000,
                Outcome::Accepted,
            ),
            dialogue(acme, "t-1", 2, now - 60_000, Outcome::Accepted),
        ],
    )
    .await;
    let mut client = Client::ready(&base, Some(&key)).await;
    client
        .subscribe(
            "p",
            "subscription { dialogueStatsChanged(period: TODAY) { periodStart dialogues } }",
            json!({}),
        )
        .await;
    let first = client.next_data("p").await;
    assert_eq!(first["dialogueStatsChanged"][0]["dialogues"], 1, "{first}");
    commit(
        &db.db,
        Some(hub.announcer()),
        &[dialogue(acme, "t-2", 3, now - 30_000, Outcome::Abandoned)],
    )
    .await;
    let second = client.next_data("p").await;
    assert_eq!(
        second["dialogueStatsChanged"][0]["dialogues"], 2,
        "{second}"
    );
    // Both a window and a period: refused on subscribe.
    client.subscribe("bad", "subscription { dialogueStatsChanged(period: TODAY, from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\") { dialogues } }", json!({})).await;
    let payload = client.next_payload("bad").await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{payload}"
    );
}

#[tokio::test]
async fn refused_keys_on_websockets_count_against_the_address_like_http() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        auth_failures_per_minute: 2,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    for _ in 0..3 {
        let refused = Client::connect(&base)
            .await
            .init(json!({ "Authorization": "Bearer dik_wrong" }))
            .await;
        assert_eq!(refused.unwrap_err().0, 4401);
    }
    // Past its budget the address's bad keys are refused before any look-up (1013, try again
    // later), while a valid key from the same address still gets in (one bad script behind a
    // NAT must not lock everyone out).
    let refused = Client::connect(&base)
        .await
        .init(json!({ "Authorization": "Bearer dik_wrong" }))
        .await;
    assert_eq!(refused.unwrap_err().0, 1013);
    let key = common::key(&db.db, "acme", "read").await;
    for _ in 0..3 {
        Client::ready(&base, Some(&key)).await;
    }
}

/// On SQLite, `ingestDialogues` reaches the subscribers of the process that wrote. NEEDS THE
/// WRITE BRANCH (the mutation announcing through the process's announcer).
#[tokio::test]
async fn on_sqlite_ingest_dialogues_reaches_the_writing_processs_subscribers() {
    let db = common::sqlite().await;
    let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let key = common::key(&db.db, "acme", "read,ingest").await;
    let mut client = Client::ready(&base, Some(&key)).await;
    client
        .subscribe(
            "s",
            INGESTED,
            json!({ "filter": { "outcome": { "eq": "ABANDONED" } } }),
        )
        .await;
    live::wait_for_subscriptions(&hub, 1).await;
    let input = |id: &str, n: i32, outcome: &str| {
        json!({ "id": id, "orderNumber": n, "startTimestamp": "2026-03-02T10:00:00Z",
                "endTimestamp": "2026-03-02T10:01:00Z", "direction": "INBOUND", "outcome": outcome })
    };
    let batch = json!([
        input("q-1", 1, "ACCEPTED"),
        input("q-2", 2, "ABANDONED"),
        input("q-3", 3, "ABANDONED")
    ]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mutation = "mutation ($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted unchanged } }";
    for _ in 0..2 {
        let r: Value = http
            .post(format!("{base}/graphql"))
            .bearer_auth(&key)
            .json(&json!({ "query": mutation, "variables": { "d": batch } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r.get("errors").is_none(), "{r}");
    }
    // The first call emits its two abandoned dialogues in order; the replay nothing.
    let got = [client.next_data("s").await, client.next_data("s").await];
    assert_eq!(ids(&got), ["q-2", "q-3"]);
    client.silent(Duration::from_millis(1500)).await;
}

/// Opens /graphql as a WebSocket by hand, so the test can send frames no client library would;
/// the stream after the `101` answer.
async fn raw_socket(base: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET /graphql HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read the answer's head byte by byte, so no frame after it is swallowed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// The code and reason of the close frame the server sends on `stream`, skipping other frames.
async fn raw_close(stream: &mut tokio::net::TcpStream) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let read = async {
        loop {
            let opcode = stream.read_u8().await.expect("a frame") & 0x0f;
            let length = match stream.read_u8().await.unwrap() & 0x7f {
                126 => u64::from(stream.read_u16().await.unwrap()),
                127 => stream.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut payload = vec![0; length as usize];
            stream.read_exact(&mut payload).await.unwrap();
            if opcode == 0x8 {
                assert!(payload.len() >= 2, "a close frame without a code");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
        }
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("the server sent no close frame")
}

#[tokio::test]
async fn frames_that_break_websocket_itself_close_with_rfc_6455_codes() {
    use tokio::io::AsyncWriteExt;
    let db = common::sqlite().await;
    let config = ServeConfig {
        max_body_bytes: 64 * 1024,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    let read = common::key(&db.db, "acme", "read").await;

    // A client frame without a mask: 1002.
    let mut unmasked = raw_socket(&base).await;
    unmasked.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let (code, reason) = raw_close(&mut unmasked).await;
    assert_eq!(code, 1002, "{reason}");
    assert!(reason.starts_with("protocol error"), "{reason}");

    // A text frame that is not UTF-8 (masked with a zero key, so the bytes go as they are): 1007.
    let mut not_utf8 = raw_socket(&base).await;
    not_utf8
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe])
        .await
        .unwrap();
    assert_eq!(raw_close(&mut not_utf8).await.0, 1007);

    // A message over the limit, before and after the acknowledgement: 1009, naming the limit.
    let big = format!(
        r#"{{"type":"connection_init","payload":{{"pad":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let mut client = Client::connect(&base).await;
    client.send_text(&big).await;
    let (code, reason) = client.closed(DEADLINE).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("65536 bytes"), "{reason}");
    let mut client = Client::ready(&base, Some(&read)).await;
    client.send_text(&"y".repeat(100 * 1024)).await;
    assert_eq!(client.closed(DEADLINE).await.0, 1009);

    // The server still serves new connections.
    Client::ready(&base, Some(&read)).await;
}

#[tokio::test]
async fn operations_over_a_websocket_spend_the_keys_rate_limit_like_http_and_sse() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        rate_limit: 5,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let count = "{ dialogues { totalCount } }";

    // 5 a second with bursts of 10: of 40 operations sent at once, about 10 run.
    let mut client = Client::ready(&base, Some(&key)).await;
    for i in 0..40 {
        client.subscribe(&format!("q{i}"), count, json!({})).await;
    }
    let (mut ran, mut limited, mut retry_after) = (0, 0, 0);
    while ran + limited < 40 {
        match client.recv(DEADLINE).await {
            Some(live::Frame::Json(v)) if v["type"] == "next" => {
                assert!(v["payload"].get("errors").is_none(), "{v}");
                ran += 1;
            }
            Some(live::Frame::Json(v)) if v["type"] == "error" => {
                let error = &v["payload"][0];
                assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{v}");
                retry_after = error["extensions"]["retryAfter"]
                    .as_u64()
                    .expect("retryAfter");
                limited += 1;
            }
            Some(live::Frame::Json(v)) if v["type"] == "complete" => {}
            other => panic!("{other:?} after {ran} ran and {limited} limited"),
        }
    }
    assert!((10..=13).contains(&ran), "{ran} of 40 ran at a burst of 10");
    assert!((1..=5).contains(&retry_after), "retryAfter {retry_after}");

    // The same budget holds over HTTP and SSE: spent, both are refused now.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http
        .post(format!("{base}/graphql"))
        .bearer_auth(&key)
        .json(&json!({ "query": count }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let response = http
        .post(format!("{base}/graphql/stream"))
        .bearer_auth(&key)
        .header("Accept", "text/event-stream")
        .json(&json!({ "query": INGESTED }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);

    // The socket stays open, and after the wait its operations run again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    client.subscribe("later", count, json!({})).await;
    loop {
        match client.recv(DEADLINE).await {
            Some(live::Frame::Json(v)) if v["type"] == "complete" && v["id"] != "later" => {}
            Some(live::Frame::Json(v)) if v["type"] == "next" && v["id"] == "later" => {
                assert!(v["payload"].get("errors").is_none(), "{v}");
                break;
            }
            other => panic!("expected `next` for later, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sockets_waiting_for_their_connection_init_are_few_per_address_and_time_out() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        max_pending_sockets_per_address: 3,
        ws_init_timeout_secs: 1,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    // Acknowledged sockets do not count.
    let mut acknowledged = Vec::new();
    for _ in 0..3 {
        acknowledged.push(Client::ready(&base, Some(&key)).await);
    }
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(Client::connect(&base).await);
    }
    // A fourth that says nothing: refused before the upgrade, in JSON with a code and a wait.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let refused = http
        .get(format!("{base}/graphql"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Protocol", "graphql-transport-ws")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(common::error_codes(&body), ["RATE_LIMITED"], "{body}");

    // Silent past the init timeout: closed with 4408, and their places are free again.
    let started = std::time::Instant::now();
    for client in &mut waiting {
        let (code, reason) = client.closed(DEADLINE).await;
        assert_eq!(code, 4408, "{reason}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    Client::ready(&base, Some(&key)).await;
    // The acknowledged ones are still served.
    for client in &mut acknowledged {
        client
            .subscribe("q", "{ dialogues { totalCount } }", json!({}))
            .await;
        client.next_data("q").await;
    }
}
