//! OData's `QueueIntervals` (KPIs per interval × queue for BI tools) over a real socket, on SQLite
//! and on PostgreSQL when `TEST_POSTGRES_URL` is set. The reference is GraphQL's `dialogueStats`
//! with the matching granularity and `groupBy: [QUEUE]` over the same window, asked over HTTP of
//! the same server: every interval walked by next links must equal it, whole, across
//! Amsterdam's autumn DST change (the repeated hour holds dialogues on both sides) and in
//! Asia/Kolkata (+05:30). The measures asked of GraphQL are the core's KPI catalogue, so a KPI
//! missing from the entity type fails here. Also: orders, `$top`/`$skip`, filters, `$select`,
//! `$expand`, `$count`, keys, the 400s naming their limits, and `$metadata`.
use crate::common;

use std::io::Write;

use chrono::{DateTime, SecondsFormat};
use chrono_tz::Tz;
use common::{Server, TestDb};
use insights::app::config::ServeConfig;
use insights_core::demo::{self, DemoOptions};
use insights_core::ingest::Kind;
use insights_core::query::{CATALOGUE, RATIOS};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Dialogues placed where cuts are delicate: in Amsterdam's repeated hour of 2026-10-25 (02:20
/// summer time and 02:20 winter time), around midnight in Kolkata (18:30 UTC), and one never
/// queued (it belongs to no queue interval).
const EXTRA: &str = r#"{"id": "x-dst-1", "orderNumber": 900001, "direction": 1, "Outcome": "Accepted", "startTimestamp": "2026-10-25T02:20:00+02:00", "queueEnterTimestamp": "2026-10-25T00:20:10Z", "acceptTimestamp": "2026-10-25T00:20:40Z", "endTimestamp": "2026-10-25T00:25:00Z", "queueId": "demo-queue-0", "customerId": "x-c"}
{"id": "x-dst-2", "orderNumber": 900002, "direction": 1, "Outcome": "Abandoned", "startTimestamp": "2026-10-25T02:20:00+01:00", "queueEnterTimestamp": "2026-10-25T01:20:05Z", "endTimestamp": "2026-10-25T01:21:00Z", "queueId": "demo-queue-0", "customerId": "x-c"}
{"id": "x-dst-3", "orderNumber": 900003, "direction": 2, "Outcome": "Accepted", "startTimestamp": "2026-10-25T00:59:59.999Z", "queueEnterTimestamp": "2026-10-25T01:00:00Z", "acceptTimestamp": "2026-10-25T01:00:02Z", "endTimestamp": "2026-10-25T01:04:00Z", "queueId": "demo-queue-3", "customerId": "x-c"}
{"id": "x-ist-1", "orderNumber": 900004, "direction": 1, "Outcome": "Accepted", "startTimestamp": "2026-10-20T18:29:59Z", "queueEnterTimestamp": "2026-10-20T18:30:09Z", "acceptTimestamp": "2026-10-20T18:30:30Z", "endTimestamp": "2026-10-20T18:40:00Z", "queueId": "demo-queue-2", "customerId": "x-c"}
{"id": "x-ist-2", "orderNumber": 900005, "direction": 1, "Outcome": "Abandoned", "startTimestamp": "2026-10-21T00:00:00+05:30", "queueEnterTimestamp": "2026-10-20T18:30:01Z", "endTimestamp": "2026-10-20T18:30:03Z", "queueId": "demo-queue-2", "customerId": "x-c"}
{"id": "x-noq", "orderNumber": 900006, "direction": 1, "Outcome": "IvrDrop", "startTimestamp": "2026-10-25T02:40:00+01:00", "endTimestamp": "2026-10-25T01:41:00Z", "ivrId": "demo-ivr-0", "customerId": "x-c"}
"#;

async fn load(db: &sea_orm::DatabaseConnection) {
    let mut options = DemoOptions::new(3_000);
    options.days = 30;
    options.until = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    options.seed = 11;
    demo::write_to_db(db, "default", options)
        .await
        .expect("demo data");
    let mut file = tempfile::Builder::new()
        .suffix(".ndjson")
        .tempfile()
        .unwrap();
    file.write_all(EXTRA.as_bytes()).unwrap();
    common::import(db, Kind::Dialogues, file.path(), "default")
        .await
        .expect("import");
}

/// Per database: a server with small OData pages, and one that also cuts every stats call to
/// 25 rows (so a walk takes many chunks); both must answer alike.
async fn servers() -> Vec<(TestDb, Server, Server)> {
    let mut out = Vec::new();
    for t in common::databases().await {
        load(&t.db).await;
        let config = ServeConfig {
            no_auth: true,
            odata_page_size: 40,
            ..ServeConfig::default()
        };
        let small = Server::start(&t.db, config.clone()).await;
        let chunked = Server::start(
            &t.db,
            ServeConfig {
                odata_page_size: 17,
                max_stats_rows: 25,
                ..config
            },
        )
        .await;
        out.push((t, small, chunked));
    }
    out
}

fn url(path: &str, options: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in options {
        query.append_pair(k, v);
    }
    format!("{path}?{}", query.finish())
}

async fn get(server: &Server, path: &str) -> (StatusCode, Value) {
    let target = if path.starts_with("http") {
        path.to_string()
    } else {
        server.url(path)
    };
    let response = server.client.get(target).send().await.expect("sent");
    let status = response.status();
    assert_eq!(
        response.headers().get("OData-Version").unwrap(),
        "4.0",
        "{path}"
    );
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, body)
}

/// Every row of a collection, following `@odata.nextLink`; and how many pages it took.
async fn walk(server: &Server, first: &str) -> (Vec<Value>, usize) {
    let (mut rows, mut pages) = (Vec::new(), 0);
    let mut next = Some(first.to_string());
    while let Some(link) = next {
        let (status, body) = get(server, &link).await;
        assert_eq!(status, StatusCode::OK, "{link}: {body}");
        rows.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(
                n.contains("%24skiptoken=") && !n.contains("%24skip="),
                "{n}"
            );
        }
        pages += 1;
        assert!(pages < 500, "the walk does not end");
    }
    (rows, pages)
}

/// A window and a cut.
struct Case {
    zone: &'static str,
    minutes: u32,
    from: &'static str,
    to: &'static str,
}

impl Case {
    fn granularity(&self) -> &'static str {
        match self.minutes {
            15 => "FIFTEEN_MINUTES",
            30 => "THIRTY_MINUTES",
            60 => "HOUR",
            _ => "DAY",
        }
    }

    fn bounds(&self) -> String {
        format!(
            "intervalStart ge {} and intervalStart lt {}",
            self.from, self.to
        )
    }

    fn path(&self, extra: &[(&str, &str)]) -> String {
        let minutes = self.minutes.to_string();
        let bounds = self.bounds();
        let mut options = vec![
            ("interval", minutes.as_str()),
            ("timeZone", self.zone),
            ("$filter", bounds.as_str()),
        ];
        options.extend_from_slice(extra);
        url("/odata/QueueIntervals", &options)
    }

    /// GraphQL's answer for the window, as the intervals OData must give: its rows with a queue,
    /// bounds written in the zone's offset, each measure under its name (a ratio's value).
    async fn expected(&self, server: &Server) -> Vec<Value> {
        let measures: Vec<String> = CATALOGUE
            .iter()
            .map(|k| k.name.to_string())
            .chain(RATIOS.iter().map(|r| format!("{} {{ value }}", r.name)))
            .collect();
        let query = format!(
            "query($from: DateTime!, $to: DateTime!, $zone: String!) {{ dialogueStats(from: $from, to: $to, timeZone: $zone, granularity: {}, groupBy: [QUEUE]) {{ periodStart periodEnd queueId {} }} }}",
            self.granularity(),
            measures.join(" ")
        );
        let body = json!({ "query": query, "variables": { "from": self.from, "to": self.to, "zone": self.zone } });
        let response: Value = server
            .post(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(response["errors"].is_null(), "{response}");
        let zone: Tz = self.zone.parse().unwrap();
        let local = |v: &Value| {
            DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .with_timezone(&zone)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        };
        let rows = response["data"]["dialogueStats"].as_array().unwrap();
        rows.iter()
            .filter(|r| !r["queueId"].is_null())
            .map(|r| {
                let mut row = serde_json::Map::new();
                row.insert("intervalStart".into(), json!(local(&r["periodStart"])));
                row.insert("intervalEnd".into(), json!(local(&r["periodEnd"])));
                row.insert("queueId".into(), r["queueId"].clone());
                for k in CATALOGUE {
                    row.insert(k.name.into(), r[k.name].clone());
                }
                for ratio in RATIOS {
                    row.insert(ratio.name.into(), r[ratio.name]["value"].clone());
                }
                Value::Object(row)
            })
            .collect()
    }
}

const CASES: [(&str, &str, &str); 3] = [
    // Three local days around the autumn change (the middle one has 25 hours).
    (
        "Europe/Amsterdam",
        "2026-10-24T00:00:00+02:00",
        "2026-10-27T00:00:00+01:00",
    ),
    (
        "Asia/Kolkata",
        "2026-10-19T00:00:00+05:30",
        "2026-10-22T00:00:00+05:30",
    ),
    ("UTC", "2026-10-12T00:00:00Z", "2026-10-14T00:00:00Z"),
];

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (zone, from, to) in CASES {
        for minutes in [15, 30, 60, 1440] {
            out.push(Case {
                zone,
                minutes,
                from,
                to,
            });
        }
    }
    out
}

fn instant(v: &Value) -> i64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interval_equals_dialogue_stats_across_dst_and_in_kolkata() {
    for (t, small, chunked) in servers().await {
        for case in cases() {
            let label = format!("{} {} min on {}", case.zone, case.minutes, t.kind);
            let expected = case.expected(&small).await;
            assert!(expected.len() > 5, "{label}: too little data to compare");
            for (server, page_size) in [(&small, 40), (&chunked, 17)] {
                let (rows, pages) = walk(server, &case.path(&[])).await;
                assert_eq!(rows, expected, "{label}");
                assert_eq!(pages, expected.len().div_ceil(page_size), "{label}");
            }
            // Independently of the stats: the intervals hold every queued dialogue of the window.
            let total: i64 = expected
                .iter()
                .map(|r| r["dialogues"].as_i64().unwrap())
                .sum();
            let count = json!({ "query": "query($f: DialogueFilter) { dialogues(filter: $f) { totalCount } }",
                "variables": { "f": { "startTimestamp": { "gte": case.from, "lt": case.to }, "queueId": { "isNull": false } } } });
            let response: Value = small
                .post(count)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                json!(total),
                response["data"]["dialogues"]["totalCount"],
                "{label}"
            );
            // The cuts themselves: whole local intervals, in the zone's offset.
            for row in &expected {
                let (start, end) = (instant(&row["intervalStart"]), instant(&row["intervalEnd"]));
                let length = end - start;
                if case.minutes == 1440 {
                    assert!(
                        [23, 24, 25].contains(&(length / 3_600_000)),
                        "{label}: {row}"
                    );
                } else {
                    assert_eq!(length, i64::from(case.minutes) * 60_000, "{label}");
                }
            }
        }
        // The repeated hour of 2026-10-25 in Amsterdam is two intervals, both with the queue's
        // dialogue; the day has 25 hours; Kolkata's hours start at :30 UTC.
        let hour = Case {
            zone: "Europe/Amsterdam",
            minutes: 60,
            from: CASES[0].1,
            to: CASES[0].2,
        };
        let rows = hour.expected(&small).await;
        let starts: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r["intervalStart"].as_str().unwrap(),
                    r["queueId"].as_str().unwrap(),
                )
            })
            .collect();
        for key in [
            ("2026-10-25T02:00:00+02:00", "demo-queue-0"),
            ("2026-10-25T02:00:00+01:00", "demo-queue-0"),
            // 00:59:59.999Z is the last instant of summer time.
            ("2026-10-25T02:00:00+02:00", "demo-queue-3"),
        ] {
            assert!(starts.contains(&key), "{key:?} in {starts:?}");
        }
        let day = Case {
            minutes: 1440,
            ..hour
        };
        let days = day.expected(&small).await;
        assert!(days
            .iter()
            .any(|r| r["intervalStart"] == "2026-10-25T00:00:00+02:00"
                && r["intervalEnd"] == "2026-10-26T00:00:00+01:00"));
        let ist = Case {
            zone: "Asia/Kolkata",
            minutes: 1440,
            from: CASES[1].1,
            to: CASES[1].2,
        };
        let q2: Vec<Value> = ist
            .expected(&small)
            .await
            .into_iter()
            .filter(|r| r["queueId"] == "demo-queue-2")
            .map(|r| r["intervalStart"].clone())
            .collect();
        assert!(q2.contains(&json!("2026-10-20T00:00:00+05:30")));
        assert!(q2.contains(&json!("2026-10-21T00:00:00+05:30")));
    }
}

/// Which expected rows a filter keeps.
type Keep = Box<dyn Fn(&Value) -> bool>;

/// The expected rows in the order `$orderby` names: (start descending?, queue descending?,
/// queue first?).
fn sorted(rows: &[Value], queue_first: bool, start_desc: bool, queue_desc: bool) -> Vec<Value> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| {
        let mut s = instant(&a["intervalStart"]).cmp(&instant(&b["intervalStart"]));
        let mut q = a["queueId"]
            .as_str()
            .unwrap()
            .cmp(b["queueId"].as_str().unwrap());
        if start_desc {
            s = s.reverse();
        }
        if queue_desc {
            q = q.reverse();
        }
        if queue_first {
            q.then(s)
        } else {
            s.then(q)
        }
    });
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_paging_filters_select_expand_count_and_keys() {
    for (t, small, chunked) in servers().await {
        let case = Case {
            zone: "Europe/Amsterdam",
            minutes: 60,
            from: CASES[0].1,
            to: CASES[0].2,
        };
        let all = case.expected(&small).await;
        let kind = t.kind;
        for server in [&small, &chunked] {
            // Orders: each walked to the end by next links, no row skipped or repeated.
            for (orderby, queue_first, start_desc, queue_desc) in [
                ("intervalStart desc", false, true, true),
                ("intervalStart desc,queueId", false, true, false),
                ("queueId", true, false, false),
                ("queueId desc,intervalStart", true, false, true),
                ("QUEUEID,intervalStart desc", true, true, false),
            ] {
                let (rows, _) = walk(server, &case.path(&[("$orderby", orderby)])).await;
                let want = sorted(&all, queue_first, start_desc, queue_desc);
                assert_eq!(rows, want, "{orderby} on {kind}");
            }
            // $top and $skip, across next links.
            let (rows, _) = walk(server, &case.path(&[("$top", "25"), ("$skip", "10")])).await;
            assert_eq!(rows, all[10..35], "$top/$skip on {kind}");
            let (rows, _) = walk(
                server,
                &case.path(&[("$skip", "30"), ("$orderby", "queueId desc")]),
            )
            .await;
            assert_eq!(rows, sorted(&all, true, true, true)[30..], "{kind}");

            // Filters beyond the bounds, each against the rows it must keep.
            let mid = "2026-10-26T12:00:00+01:00";
            let filters: Vec<(String, Keep)> = vec![
                (
                    "queueId eq 'demo-queue-1'".into(),
                    Box::new(|r: &Value| r["queueId"] == "demo-queue-1"),
                ),
                (
                    "queueId in ('demo-queue-0','demo-queue-5') and offered ge 2".into(),
                    Box::new(|r: &Value| {
                        ["demo-queue-0", "demo-queue-5"].contains(&r["queueId"].as_str().unwrap())
                            && r["offered"].as_i64().unwrap() >= 2
                    }),
                ),
                (
                    "serviceLevel lt 0.8 or abandonRate eq null".into(),
                    Box::new(|r: &Value| {
                        r["serviceLevel"].as_f64().is_some_and(|v| v < 0.8)
                            || r["abandonRate"].is_null()
                    }),
                ),
                (
                    format!("not (queueId eq 'demo-queue-2') and intervalStart ge {mid}"),
                    Box::new(move |r: &Value| {
                        r["queueId"] != "demo-queue-2"
                            && instant(&r["intervalStart"]) >= instant(&json!(mid))
                    }),
                ),
                (
                    "averageSpeedOfAnswer ge 20 and maxQueueTime ne null".into(),
                    Box::new(|r: &Value| {
                        r["averageSpeedOfAnswer"]
                            .as_f64()
                            .is_some_and(|v| v >= 20.0)
                    }),
                ),
            ];
            for (filter, keep) in &filters {
                let text = format!("{} and ({filter})", case.bounds());
                let path = url(
                    "/odata/QueueIntervals",
                    &[
                        ("interval", "60"),
                        ("timeZone", case.zone),
                        ("$filter", &text),
                        ("$count", "true"),
                    ],
                );
                let want: Vec<Value> = all.iter().filter(|r| keep(r)).cloned().collect();
                assert!(
                    !want.is_empty() && want.len() < all.len(),
                    "{filter}: a weak case"
                );
                let (rows, _) = walk(server, &path).await;
                assert_eq!(rows, want, "{filter} on {kind}");
                let (_, first) = get(server, &path).await;
                assert_eq!(first["@odata.count"], json!(want.len()), "{filter}");
                let count_path = path.replacen("QueueIntervals?", "QueueIntervals/$count?", 1);
                let text = server
                    .client
                    .get(server.url(&count_path))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert_eq!(text, want.len().to_string(), "{filter} /$count");
            }
            // Two disjoint ranges: the rows of both and nothing between.
            let text = "(intervalStart ge 2026-10-26T09:00:00+01:00 and intervalStart lt 2026-10-26T11:00:00+01:00) \
                        or intervalStart eq 2026-10-24T10:00:00+02:00";
            let (rows, _) = walk(
                server,
                &url(
                    "/odata/QueueIntervals",
                    &[
                        ("interval", "60"),
                        ("timeZone", case.zone),
                        ("$filter", text),
                    ],
                ),
            )
            .await;
            let want: Vec<Value> = all
                .iter()
                .filter(|r| {
                    let s = r["intervalStart"].as_str().unwrap();
                    s.starts_with("2026-10-26T09")
                        || s.starts_with("2026-10-26T10")
                        || s == "2026-10-24T10:00:00+02:00"
                })
                .cloned()
                .collect();
            assert!(want.len() > 2);
            assert_eq!(rows, want, "ranges on {kind}");
        }

        // $select and $expand, and the context URL that names them.
        let path = case.path(&[
            ("$select", "queueId,offered,intervalStart,serviceLevel"),
            ("$expand", "queue"),
            ("$top", "3"),
        ]);
        let (status, body) = get(&small, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["@odata.context"],
            json!(format!("{}/odata/$metadata#QueueIntervals(intervalStart,queueId,offered,serviceLevel,queue())", small.base))
        );
        assert!(body["@odata.nextLink"].is_null(), "$top=3 fits one page");
        for (row, full) in body["value"].as_array().unwrap().iter().zip(&all) {
            let (_, endpoint) = get(
                &small,
                &format!("/odata/Endpoints('{}')", full["queueId"].as_str().unwrap()),
            )
            .await;
            let mut endpoint = endpoint.as_object().unwrap().clone();
            endpoint.remove("@odata.context");
            assert_eq!(
                row,
                &json!({ "intervalStart": full["intervalStart"], "queueId": full["queueId"], "offered": full["offered"],
                         "serviceLevel": full["serviceLevel"], "queue": endpoint }),
                "{kind}"
            );
        }

        // One interval by its key; a start that is not an interval's, or a queue without
        // dialogues there, is 404.
        let row = all
            .iter()
            .find(|r| r["intervalStart"] == "2026-10-25T02:00:00+01:00")
            .unwrap();
        let key = format!(
            "/odata/QueueIntervals(intervalStart={},queueId='{}')?interval=60&timeZone=Europe/Amsterdam",
            row["intervalStart"].as_str().unwrap(),
            row["queueId"].as_str().unwrap()
        );
        let (status, body) = get(&small, &key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut with_context = row.as_object().unwrap().clone();
        with_context.insert(
            "@odata.context".into(),
            json!(format!(
                "{}/odata/$metadata#QueueIntervals/$entity",
                small.base
            )),
        );
        assert_eq!(body, Value::Object(with_context), "{kind}");
        let (status, body) = get(&small, &format!("{key}&$select=queueId,intervalStart")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({
                "@odata.context": format!("{}/odata/$metadata#QueueIntervals(intervalStart,queueId)/$entity", small.base),
                "intervalStart": row["intervalStart"], "queueId": row["queueId"],
            }),
            "{kind}"
        );
        for missing in [
            key.replace("02:00:00+01:00", "02:30:00+01:00"),
            key.replace(row["queueId"].as_str().unwrap(), "no-such-queue"),
        ] {
            let (status, body) = get(&small, &missing).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        }
    }
}

#[tokio::test]
async fn refusals_name_the_option_and_the_limit() {
    let t = common::sqlite().await;
    load(&t.db).await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            ..ServeConfig::default()
        },
    )
    .await;
    let bounds = "intervalStart ge 2026-10-13T00:00:00Z and intervalStart lt 2026-10-14T00:00:00Z";
    // $top=2 with $count: two rows, the count of them all, and no next link once $top is reached.
    let page = url(
        "/odata/QueueIntervals",
        &[("$filter", bounds), ("$top", "2"), ("$count", "true")],
    );
    let (status, two) = get(&server, &page).await;
    assert_eq!(status, StatusCode::OK, "{two}");
    assert_eq!(two["value"].as_array().unwrap().len(), 2);
    assert!(two["@odata.count"].as_u64().unwrap() > 2, "{two}");
    assert!(
        two["@odata.nextLink"].is_null(),
        "$top=2 is reached: no next link"
    );

    let cases: Vec<(String, StatusCode, &str)> = vec![
        (url("/odata/QueueIntervals", &[]), StatusCode::BAD_REQUEST, "400 days"),
        (url("/odata/QueueIntervals", &[("$filter", "intervalStart ge 2026-10-01T00:00:00Z")]), StatusCode::BAD_REQUEST, "400 days"),
        (url("/odata/QueueIntervals", &[("$filter", "intervalStart lt 2026-10-01T00:00:00Z and queueId eq 'demo-queue-1'")]), StatusCode::BAD_REQUEST, "400 days"),
        (url("/odata/QueueIntervals", &[("$filter", "intervalStart ge 2025-01-01T00:00:00Z and intervalStart lt 2026-02-06T00:00:00Z")]), StatusCode::BAD_REQUEST, "more than 400 days"),
        (url("/odata/QueueIntervals/$count", &[("$filter", "queueId eq 'demo-queue-1'")]), StatusCode::BAD_REQUEST, "400 days"),
        (url("/odata/QueueIntervals", &[("$filter", bounds), ("interval", "20")]), StatusCode::BAD_REQUEST, "`interval` must be 15, 30, 60 or 1440"),
        (url("/odata/QueueIntervals", &[("$filter", bounds), ("timeZone", "Mars/Olympus")]), StatusCode::BAD_REQUEST, "`timeZone`"),
        (url("/odata/QueueIntervals", &[("$filter", bounds), ("$skiptoken", "bm9uc2Vuc2U")]), StatusCode::BAD_REQUEST, "`$skiptoken`"),
        (url("/odata/QueueIntervals", &[("$filter", bounds), ("$orderby", "offered desc")]), StatusCode::NOT_IMPLEMENTED, "`$orderby` at position 1"),
        (url("/odata/QueueIntervals", &[("$filter", "intervalStart ge 2026-10-01 and intervalStart lt 2026-10-02T00:00:00Z")]), StatusCode::BAD_REQUEST, "`$filter` at position 18"),
        (url("/odata/QueueIntervals", &[("$filter", bounds), ("$expand", "agent")]), StatusCode::BAD_REQUEST, "`queue`"),
        (url("/odata/QueueIntervals", &[("$filter", bounds), ("$select", "nope")]), StatusCode::BAD_REQUEST, "`$select` at position 1"),
        ("/odata/QueueIntervals(intervalStart=2026-10-01T00:00:00Z)".into(), StatusCode::BAD_REQUEST, "queueId"),
    ];
    for (path, status, needle) in cases {
        let (got, body) = get(&server, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{path}: {message}");
    }
    // A token is bound to the cut and order it was made for.
    let tiny = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            odata_page_size: 2,
            ..ServeConfig::default()
        },
    )
    .await;
    let (_, body) = get(&tiny, &url("/odata/QueueIntervals", &[("$filter", bounds)])).await;
    let next = body["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(
        next.contains("interval=15") && next.contains("timeZone=UTC"),
        "{next}"
    );
    for changed in [
        next.replace("interval=15", "interval=30"),
        format!("{next}&%24orderby=queueId"),
    ] {
        let (status, body) = get(&tiny, &changed).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{changed}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`$skiptoken`"));
    }
}

#[tokio::test]
async fn metadata_declares_the_set_with_its_key_and_is_well_formed() {
    let t = common::sqlite().await;
    let server = Server::start(
        &t.db,
        ServeConfig {
            no_auth: true,
            ..ServeConfig::default()
        },
    )
    .await;
    let response = server
        .client
        .get(server.url("/odata/$metadata"))
        .send()
        .await
        .unwrap();
    let xml = response.text().await.unwrap();
    well_formed(&xml);
    for needle in [
        r#"<EntityType Name="QueueInterval">"#,
        r#"<Key><PropertyRef Name="intervalStart"/><PropertyRef Name="queueId"/></Key>"#,
        r#"<Property Name="intervalStart" Type="Edm.DateTimeOffset" Nullable="false"/>"#,
        r#"<Property Name="intervalEnd" Type="Edm.DateTimeOffset" Nullable="false"/>"#,
        r#"<Property Name="queueId" Type="Edm.String" Nullable="false"/>"#,
        r#"<Property Name="offered" Type="Edm.Int32" Nullable="false"/>"#,
        r#"<Property Name="serviceLevel" Type="Edm.Double" Nullable="true"/>"#,
        r#"<Property Name="averageSpeedOfAnswer" Type="Edm.Double" Nullable="true"/>"#,
        r#"<Property Name="totalTalkTime" Type="Edm.Double" Nullable="false"/>"#,
        r#"<NavigationProperty Name="queue" Type="Insights.Endpoint" Nullable="false"/>"#,
        r#"<EntitySet Name="QueueIntervals" EntityType="Insights.QueueInterval">"#,
        r#"<NavigationPropertyBinding Path="queue" Target="Endpoints"/>"#,
    ] {
        assert!(xml.contains(needle), "{needle} in {xml}");
    }
    // Every catalogued measure and ratio is a property of the entity type.
    let start = xml.find(r#"<EntityType Name="QueueInterval">"#).unwrap();
    let end = start + xml[start..].find("</EntityType>").unwrap();
    for name in CATALOGUE
        .iter()
        .map(|k| k.name)
        .chain(RATIOS.iter().map(|r| r.name))
    {
        assert!(
            xml[start..end].contains(&format!(r#"<Property Name="{name}" "#)),
            "{name}"
        );
    }
    let (status, body) = get(&server, "/odata").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["value"].as_array().unwrap().contains(
        &json!({ "name": "QueueIntervals", "kind": "EntitySet", "url": "QueueIntervals" })
    ));
}

/// Tags open and close in order, attributes are quoted: the document is well-formed XML.
fn well_formed(xml: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find('<') {
        let end = rest[at..].find('>').expect("a tag ends") + at;
        let tag = &rest[at + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') {
            assert!(tag.ends_with('?'), "{tag}");
            continue;
        }
        assert_eq!(tag.matches('"').count() % 2, 0, "{tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name.trim()), "closing {name}");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap());
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert!(rest.trim().is_empty());
}
