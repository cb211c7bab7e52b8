//! Subscriptions over Server-Sent Events (graphql-sse, distinct connections mode) at
//! `POST /graphql/stream`, through real HTTP against the real server: events as over WebSocket
//! (filtered, confined to the key's tenant, the same payloads), refusals before the stream
//! opens (401, 403, 406, 400, 415, 429), single results, the per-key cap shared with WebSocket,
//! keep-alive comments, revocation, a subscriber that falls behind, shutdown and SIGTERM. On
//! PostgreSQL (TEST_POSTGRES_URL) the writer is this test process and the server hears it
//! through LISTEN/NOTIFY.
use crate::common;
use crate::live::{
    commit, commit_past_the_buffer, dialogue, http, in_process, post, wait_for_subscriptions,
    Client, Serve, Sse, Stream, DEADLINE,
};

use std::time::Duration;

use entity::{dialogue as dialogue_row, Outcome};
use insights::app::config::ServeConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

const INGESTED: &str = "subscription ($filter: DialogueFilter) { dialogueIngested(filter: $filter) { id outcome orderNumber } }";

/// 2026-03-02T10:00:00Z and the day's bounds.
const T0: i64 = 1_772_445_600_000;
const DAY_START: &str = "2026-03-02T00:00:00Z";
const DAY_END: &str = "2026-03-03T00:00:00Z";

fn fields(row: &dialogue_row::Model) -> Value {
    json!({ "dialogueIngested": {
        "id": row.id,
        "outcome": match row.outcome {
            Outcome::Abandoned => "ABANDONED",
            Outcome::Accepted => "ACCEPTED",
            other => panic!("not used here: {other:?}"),
        },
        "orderNumber": row.order_number,
    } })
}

#[tokio::test]
async fn dialogue_ingested_over_sse_emits_each_matching_commit_like_websocket_confined_to_the_tenant(
) {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let beta = common::scope(&db.db, "beta").await.tenant_id();
        let acme_key = common::key(&db.db, "acme", "read").await;
        let beta_key = common::key(&db.db, "beta", "read").await;
        let abandoned_only = json!({ "filter": { "outcome": { "eq": "ABANDONED" } } });
        let mut abandoned = Stream::open(&base, Some(&acme_key), INGESTED, abandoned_only).await;
        let mut everything = Stream::open(&base, Some(&acme_key), INGESTED, json!({})).await;
        let mut theirs = Stream::open(&base, Some(&beta_key), INGESTED, json!({})).await;
        // The same subscription over WebSocket, to compare the payloads.
        let mut socket = Client::ready(&base, Some(&acme_key)).await;
        socket.subscribe("w", INGESTED, json!({})).await;
        wait_for_subscriptions(&hub, 4).await;

        let commits = vec![
            vec![
                dialogue(acme, "d-1", 1, T0, Outcome::Abandoned),
                dialogue(acme, "d-2", 2, T0 + 1000, Outcome::Accepted),
            ],
            vec![dialogue(acme, "d-3", 3, T0 + 2000, Outcome::Abandoned)],
            // d-1 changes again (its start; a second change is emitted again), after d-4: the
            // commit's own order counts.
            vec![
                dialogue(acme, "d-4", 4, T0 + 3000, Outcome::Abandoned),
                dialogue(acme, "d-1", 1, T0 + 500, Outcome::Abandoned),
            ],
        ];
        // Each commit's events are read before the next commit: a subscriber that reads after
        // a later change of the same dialogue gets it once, in its latest state.
        let (mut got_all, mut want_all) = (Vec::new(), Vec::new());
        let (mut got_abandoned, mut want_abandoned) = (Vec::new(), Vec::new());
        let mut over_ws = Vec::new();
        for rows in &commits {
            commit(&db.db, Some(hub.announcer()), rows).await;
            // The reference: the committed rows in commit order, filtered as each subscriber
            // asked.
            for row in rows {
                want_all.push(fields(row));
                got_all.push(everything.next_data().await);
                over_ws.push(socket.next_data("w").await);
                if row.outcome == Outcome::Abandoned {
                    want_abandoned.push(fields(row));
                    got_abandoned.push(abandoned.next_data().await);
                }
            }
        }
        assert_eq!(got_all, want_all, "{}", db.kind);
        assert_eq!(got_abandoned, want_abandoned, "{}", db.kind);
        assert_eq!(
            over_ws, got_all,
            "WebSocket and SSE deliver the same ({})",
            db.kind
        );

        // The other tenant writes an id acme has: only its own subscriber hears of it.
        let beta_row = dialogue(beta, "d-1", 1, T0, Outcome::Abandoned);
        commit(
            &db.db,
            Some(hub.announcer()),
            std::slice::from_ref(&beta_row),
        )
        .await;
        assert_eq!(theirs.next_data().await, fields(&beta_row), "{}", db.kind);
        abandoned.silent(Duration::from_millis(1500)).await;
        everything.silent(Duration::from_millis(200)).await;
        theirs.silent(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_ingest_mutation_is_seen_as_a_next_event_and_a_replay_emits_nothing() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let key = common::key(&db.db, "acme", "read,ingest").await;
        let mut stream = Stream::open(
            &base,
            Some(&key),
            INGESTED,
            json!({ "filter": { "outcome": { "eq": "ABANDONED" } } }),
        )
        .await;
        wait_for_subscriptions(&hub, 1).await;
        let records = [
            ("q-1", 1, "ACCEPTED"),
            ("q-2", 2, "ABANDONED"),
            ("q-3", 3, "ABANDONED"),
        ];
        let batch: Vec<Value> = records
            .iter()
            .map(|(id, n, outcome)| {
                json!({ "id": id, "orderNumber": n, "startTimestamp": "2026-03-02T10:00:00Z",
                        "endTimestamp": "2026-03-02T10:01:00Z", "direction": "INBOUND", "outcome": outcome })
            })
            .collect();
        let mutation = "mutation ($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted unchanged } }";
        for _ in 0..2 {
            let r: Value = http()
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
        for (id, n, outcome) in records.iter().filter(|r| r.2 == "ABANDONED") {
            assert_eq!(
                stream.next_data().await,
                json!({ "dialogueIngested": { "id": id, "outcome": outcome, "orderNumber": n } }),
                "{}",
                db.kind
            );
        }
        stream.silent(Duration::from_millis(1500)).await;
    }
}

#[tokio::test]
async fn refusals_come_before_the_stream_opens_with_the_bodies_of_graphql() {
    let db = common::sqlite().await;
    let (base, _hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let ingest_only = common::key(&db.db, "acme", "ingest").await;
    let read = common::key(&db.db, "acme", "read").await;
    let query = "subscription { dialogueIngested { id } }";

    // The answer /graphql gives the same key, for comparison.
    let graphql_answer = |key: Option<String>| {
        let base = base.clone();
        async move {
            let mut request = http()
                .post(format!("{base}/graphql"))
                .json(&json!({ "query": "{ dialogues { totalCount } }" }));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    for (key, status, code) in [
        (None, 401, "UNAUTHENTICATED"),
        (Some("dik_nope".to_string()), 401, "UNAUTHENTICATED"),
    ] {
        let response = post(&base, key.as_deref(), query, json!({})).await;
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        assert_eq!(
            (StatusCode::from_u16(status).unwrap(), body),
            graphql_answer(key).await
        );
    }
    // A key without `read`: 403, as a subscription over WebSocket is refused with 4403.
    let response = post(&base, Some(&ingest_only), query, json!({})).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`read`"));

    // Not asking for an event stream, a body that is not a request, another media type, GET.
    let no_accept = http()
        .post(format!("{base}/graphql/stream"))
        .bearer_auth(&read)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 406);
    let body: Value = no_accept.json().await.unwrap();
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("text/event-stream"));
    let not_json = http()
        .post(format!("{base}/graphql/stream"))
        .bearer_auth(&read)
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let text = http()
        .post(format!("{base}/graphql/stream"))
        .bearer_auth(&read)
        .header("accept", "text/event-stream")
        .header("content-type", "text/plain")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let get = http()
        .get(format!("{base}/graphql/stream"))
        .bearer_auth(&read)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn errors_and_single_results_are_one_next_then_complete() {
    let db = common::sqlite().await;
    common::load(
        &db.db,
        "acme",
        "read_endpoints.ndjson",
        "read_dialogues.ndjson",
    )
    .await;
    let (base, _hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let read = common::key(&db.db, "acme", "read").await;
    let both = common::key(&db.db, "acme", "read,ingest").await;

    // An invalid operation: its errors in a `next`, as graphql-sse asks, then `complete`.
    let mut invalid = Stream::open(
        &base,
        Some(&read),
        "subscription { dialogueIngested { nope } }",
        json!({}),
    )
    .await;
    match invalid.event().await {
        Sse::Next(payload) => {
            assert_eq!(
                payload["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
                "{payload}"
            );
            assert!(payload.get("data").is_none(), "{payload}");
        }
        other => panic!("{other:?}"),
    }
    invalid.completes().await;
    let mut unparsable = Stream::open(&base, Some(&read), "subscription {", json!({})).await;
    match unparsable.event().await {
        Sse::Next(payload) => assert_eq!(
            payload["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED",
            "{payload}"
        ),
        other => panic!("{other:?}"),
    }
    unparsable.completes().await;

    // A query: its answer, the same as /graphql's, then `complete`.
    let query = "{ dialogues(first: 3, orderBy: [{ field: START_TIMESTAMP, direction: ASC }]) { totalCount nodes { id outcome } } }";
    let answer: Value = http()
        .post(format!("{base}/graphql"))
        .bearer_auth(&read)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
    let mut single = Stream::open(&base, Some(&read), query, json!({})).await;
    assert_eq!(single.event().await, Sse::Next(answer.clone()));
    single.completes().await;
    // As `curl -d` sends it: a JSON body labelled as a form.
    let response = http()
        .post(format!("{base}/graphql/stream"))
        .bearer_auth(&read)
        .header("accept", "text/event-stream")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut curl = Stream {
        response,
        buffer: Vec::new(),
        ended: false,
    };
    assert_eq!(curl.event().await, Sse::Next(answer));
    curl.completes().await;

    // A mutation (the key needs `ingest` as well): its summary, then `complete`.
    let mutation = "mutation { ingestDialogues(dialogues: [{ id: \"m-1\", orderNumber: 900, startTimestamp: \"2026-03-02T10:00:00Z\", direction: INBOUND, outcome: ACCEPTED }]) { received inserted } }";
    let mut written = Stream::open(&base, Some(&both), mutation, json!({})).await;
    assert_eq!(
        written.next_data().await,
        json!({ "ingestDialogues": { "received": 1, "inserted": 1 } })
    );
    written.completes().await;
    let mut refused = Stream::open(&base, Some(&read), mutation, json!({})).await;
    match refused.event().await {
        Sse::Next(payload) => {
            assert_eq!(
                payload["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{payload}"
            )
        }
        other => panic!("{other:?}"),
    }
    refused.completes().await;
}

#[tokio::test]
async fn the_cap_counts_sse_and_websocket_subscriptions_of_a_key_together() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        max_subscriptions_per_key: 2,
        sse_keepalive_secs: 1,
        ..ServeConfig::default()
    };
    let (base, hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let other_key = common::key(&db.db, "acme", "read").await;
    let mut socket = Client::ready(&base, Some(&key)).await;
    socket.subscribe("w", INGESTED, json!({})).await;
    let first = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 2).await;

    // A third for the key: refused in the stream, with the code and message of WebSocket.
    let mut third = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    match third.event().await {
        Sse::Next(payload) => {
            assert_eq!(
                payload["errors"][0]["extensions"]["code"], "RATE_LIMITED",
                "{payload}"
            );
            assert!(payload["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("2 open subscriptions"));
        }
        other => panic!("{other:?}"),
    }
    third.completes().await;
    // Another key is not affected.
    let _other = Stream::open(&base, Some(&other_key), INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 3).await;

    // A client that goes away frees its place (found at the latest by the next keep-alive).
    drop(first);
    wait_for_subscriptions(&hub, 2).await;
    let mut again = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 3).await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let row = dialogue(acme, "c-1", 1, T0, Outcome::Accepted);
    commit(&db.db, Some(hub.announcer()), std::slice::from_ref(&row)).await;
    assert_eq!(again.next_data().await, fields(&row));
    assert_eq!(socket.next_data("w").await, fields(&row));
}

#[tokio::test]
async fn an_idle_stream_gets_a_comment_line_every_keep_alive_interval() {
    assert_eq!(ServeConfig::default().sse_keepalive_secs, 15);
    let db = common::sqlite().await;
    let config = ServeConfig {
        sse_keepalive_secs: 1,
        ..ServeConfig::default()
    };
    let (base, hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let mut stream = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 1).await;
    let started = std::time::Instant::now();
    let mut at = Vec::new();
    while started.elapsed() < Duration::from_millis(3500) {
        match stream
            .recv(Duration::from_millis(3600).saturating_sub(started.elapsed()))
            .await
        {
            Some(Sse::Comment(text)) => {
                assert_eq!(text, "");
                at.push(started.elapsed());
            }
            None => break,
            Some(other) => panic!("expected only comments, got {other:?}"),
        }
    }
    assert!(at.len() >= 2, "comments at {at:?}");
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] < Duration::from_millis(1800), "{at:?}");
    }
    // The stream still delivers.
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let row = dialogue(acme, "k-1", 1, T0, Outcome::Accepted);
    commit(&db.db, Some(hub.announcer()), std::slice::from_ref(&row)).await;
    assert_eq!(stream.next_data().await, fields(&row));
}

#[tokio::test]
async fn revoking_a_key_ends_its_streams_with_unauthenticated_then_complete() {
    let db = common::sqlite().await;
    let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let scopes = insights_core::keys::Scopes::parse("read").unwrap();
    let created = insights_core::keys::create(&db.db, "acme", &scopes, None)
        .await
        .unwrap();
    let kept = common::key(&db.db, "acme", "read").await;
    let mut revoked = Stream::open(&base, Some(&created.secret), INGESTED, json!({})).await;
    let mut other = Stream::open(&base, Some(&kept), INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 2).await;
    insights_core::keys::revoke(&db.db, &created.key.id)
        .await
        .unwrap();
    match revoked.event().await {
        Sse::Next(payload) => {
            assert_eq!(
                payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{payload}"
            );
            assert!(payload["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("revoked"));
        }
        other => panic!("{other:?}"),
    }
    revoked.completes().await;
    wait_for_subscriptions(&hub, 1).await;
    other.silent(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_stream_that_falls_behind_catches_up_and_misses_nothing() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        subscription_buffer: 4,
        ..ServeConfig::default()
    };
    let (base, hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    let acme = common::scope(&db.db, "acme").await.tenant_id();
    let mut slow = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    wait_for_subscriptions(&hub, 1).await;
    commit_past_the_buffer(&db.db, &hub, acme, 40, T0).await;
    for i in 0..40 {
        let data = slow.next_data().await;
        assert_eq!(data["dialogueIngested"]["id"], format!("x-{i}"));
    }
    slow.silent(Duration::from_millis(500)).await;
    assert_eq!(hub.open_subscriptions(), 1, "the stream is still open");
}

#[tokio::test]
async fn the_per_key_rate_limit_refuses_a_stream_before_it_opens() {
    let db = common::sqlite().await;
    let config = ServeConfig {
        rate_limit: 1,
        ..ServeConfig::default()
    };
    let (base, _hub, _task) = in_process(&db.db, config).await;
    let key = common::key(&db.db, "acme", "read").await;
    // A burst of twice the rate is allowed; the next request at once is not.
    let _a = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    let _b = Stream::open(&base, Some(&key), INGESTED, json!({})).await;
    let refused = post(&base, Some(&key), INGESTED, json!({})).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
}

#[tokio::test]
async fn shutdown_ends_open_streams_with_complete_and_refuses_new_ones() {
    let db = common::sqlite().await;
    let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
    let key = common::key(&db.db, "acme", "read").await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(Stream::open(&base, Some(&key), INGESTED, json!({})).await);
    }
    wait_for_subscriptions(&hub, 3).await;
    hub.shutdown();
    for stream in &mut streams {
        stream.completes().await;
    }
    hub.wait_closed(DEADLINE).await;
    assert_eq!(hub.open_connections(), 0);
    let late = post(&base, Some(&key), INGESTED, json!({})).await;
    assert_eq!(late.status(), 503);
}

#[tokio::test]
async fn sigterm_completes_open_streams_and_the_server_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut server = Serve::start(&url, &["--no-auth", "--drain-secs", "1"]).await;
    let mut stream = Stream::open(&server.base, None, INGESTED, json!({})).await;
    let mut socket = Client::ready(&server.base, None).await;
    socket.subscribe("s", INGESTED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    stream.completes().await;
    assert_eq!(socket.closed(DEADLINE).await.0, 1001);
    let status = tokio::time::timeout(DEADLINE, server.child.wait())
        .await
        .expect("exit")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn dialogue_stats_changed_over_sse_emits_at_once_then_after_commits_inside_its_window() {
    for db in common::databases().await {
        let (base, hub, _task) = in_process(&db.db, ServeConfig::default()).await;
        let acme = common::scope(&db.db, "acme").await.tenant_id();
        let key = common::key(&db.db, "acme", "read").await;
        let mut rows = vec![
            dialogue(acme, "s-1", 1, T0, Outcome::Abandoned),
            dialogue(acme, "s-2", 2, T0 + 60_000, Outcome::Accepted),
            // The next day: outside the window.
            dialogue(acme, "s-3", 3, T0 + 86_400_000, Outcome::Accepted),
        ];
        // Stored before anyone subscribes, unannounced: a NOTIFY arriving late on a loaded
        // machine would make the stream emit its first result twice.
        for row in &rows {
            use sea_orm::ActiveModelTrait;
            let active: dialogue_row::ActiveModel = row.clone().into();
            active.reset_all().insert(&db.db).await.unwrap();
        }
        // The reference: dialogues per outcome inside the window, from the rows written.
        let reference = |rows: &[dialogue_row::Model]| {
            let mut counts = std::collections::BTreeMap::<String, i64>::new();
            let (day_start, day_end) = (T0 - 10 * 3_600_000, T0 + 14 * 3_600_000);
            let inside = |r: &&dialogue_row::Model| {
                r.start_timestamp_ms >= day_start && r.start_timestamp_ms < day_end
            };
            for row in rows.iter().filter(inside) {
                let outcome = fields(row)["dialogueIngested"]["outcome"]
                    .as_str()
                    .unwrap()
                    .to_string();
                *counts.entry(outcome).or_default() += 1;
            }
            counts
        };
        let shown = |data: &Value| {
            data["dialogueStatsChanged"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["outcome"].as_str().unwrap().to_string(),
                        r["dialogues"].as_i64().unwrap(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let mut stream = Stream::open(
            &base,
            Some(&key),
            "subscription ($from: DateTime, $to: DateTime) { dialogueStatsChanged(from: $from, to: $to, groupBy: [OUTCOME]) { outcome dialogues } }",
            json!({ "from": DAY_START, "to": DAY_END }),
        )
        .await;
        assert_eq!(
            shown(&stream.next_data().await),
            reference(&rows),
            "{}",
            db.kind
        );
        // Outside the window: nothing.
        let outside = dialogue(acme, "s-4", 4, T0 + 2 * 86_400_000, Outcome::Abandoned);
        commit(&db.db, Some(hub.announcer()), &[outside]).await;
        stream.silent(Duration::from_millis(2500)).await;
        // Inside: the whole result again.
        let inside = dialogue(acme, "s-5", 5, T0 + 120_000, Outcome::Abandoned);
        commit(&db.db, Some(hub.announcer()), std::slice::from_ref(&inside)).await;
        rows.push(inside);
        assert_eq!(
            shown(&stream.next_data().await),
            reference(&rows),
            "{}",
            db.kind
        );
    }
}
