//! `dialogueStats(period: ...)` (API.md §4): each relative period answers exactly what the same
//! question with an explicit `from`/`to` answers, where that window is computed here, in the
//! test, from the clock with plain chrono-tz (nothing of `src/query/period.rs`). Dialogues sit
//! on both sides of every boundary: a millisecond before and at local midnights, Mondays and
//! month starts in Amsterdam, Kolkata (+05:30) and New York. The DST days themselves, which a
//! test cannot wait for, are pinned in `src/query/period.rs`'s unit tests at fixed instants.
use crate::common;

use std::io::Write;

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use insights_core::ingest::Kind;
use serde_json::{json, Value};

const TENANT: &str = "periods";
const ZONES: [&str; 3] = ["Europe/Amsterdam", "Asia/Kolkata", "America/New_York"];

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The first instant of a local date (zones here have no DST change at midnight).
fn midnight(zone: Tz, date: NaiveDate) -> i64 {
    zone.from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .timestamp_millis()
}

fn previous_month(first: NaiveDate) -> NaiveDate {
    if first.month() == 1 {
        NaiveDate::from_ymd_opt(first.year() - 1, 12, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() - 1, 1).unwrap()
    }
}

fn next_month(first: NaiveDate) -> NaiveDate {
    if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1).unwrap()
    }
}

/// (period, from, to) for every day-aligned period, as API.md §4 defines them, at `now`.
fn windows(zone: Tz, now: i64) -> Vec<(&'static str, i64, i64)> {
    let today = DateTime::<Utc>::from_timestamp_millis(now)
        .unwrap()
        .with_timezone(&zone)
        .date_naive();
    let day = |n: i64| today + Duration::days(n);
    let monday = today - Duration::days(today.weekday().num_days_from_monday() as i64);
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let m = |d: NaiveDate| midnight(zone, d);
    vec![
        ("TODAY", m(today), m(day(1))),
        ("YESTERDAY", m(day(-1)), m(today)),
        ("THIS_WEEK", m(monday), m(monday + Duration::days(7))),
        ("LAST_WEEK", m(monday - Duration::days(7)), m(monday)),
        ("THIS_MONTH", m(first), m(next_month(first))),
        ("LAST_MONTH", m(previous_month(first)), m(first)),
        ("LAST_7_DAYS", m(day(-7)), m(today)),
        ("LAST_30_DAYS", m(day(-30)), m(today)),
    ]
}

/// Dialogues one millisecond before and at each boundary of each zone's windows, plus a few
/// inside; queued and accepted, so every KPI has something to count.
fn fixture(now: i64) -> tempfile::NamedTempFile {
    let mut instants = Vec::new();
    for zone in ZONES {
        for (_, from, to) in windows(zone.parse().unwrap(), now) {
            instants.extend([from - 1, from, from + 3_600_000, to - 1, to]);
        }
    }
    instants.extend([now - 86_400_000 - 1, now - 86_400_000, now - 60_000]);
    instants.sort();
    instants.dedup();
    let mut file = tempfile::Builder::new()
        .suffix(".ndjson")
        .tempfile()
        .unwrap();
    for (i, start) in instants.iter().enumerate() {
        let outcome = if i % 3 == 0 { "Abandoned" } else { "Accepted" };
        let wait = 5_000 + (i as i64 % 7) * 4_000;
        let mut record = json!({
            "id": format!("p-{i}"), "orderNumber": i, "direction": 1,
            "startTimestamp": rfc3339(*start),
            "queueId": format!("q-{}", i % 2),
            "queueEnterTimestamp": rfc3339(start + 1_000),
            "endTimestamp": rfc3339(start + 1_000 + wait + 60_000),
            "Outcome": outcome,
        });
        if outcome == "Accepted" {
            record["acceptTimestamp"] = json!(rfc3339(start + 1_000 + wait));
            record["agentId"] = json!("agent-1");
        }
        writeln!(file, "{record}").unwrap();
    }
    file
}

const FIELDS: &str = "periodStart periodEnd queueId dialogues offered accepted abandoned \
    serviceLevel { value numerator denominator } averageSpeedOfAnswer";

async fn stats(t: &common::TestDb, window: &str, zone: &str) -> Value {
    common::query(
        &t.db,
        TENANT,
        &format!(
            "{{ dialogueStats({window}, timeZone: \"{zone}\", granularity: DAY, groupBy: [QUEUE]) {{ {FIELDS} }} }}"
        ),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn each_period_answers_its_explicit_window() {
    for t in common::databases().await {
        let now = Utc::now().timestamp_millis();
        let file = fixture(now);
        common::import(&t.db, Kind::Dialogues, file.path(), TENANT)
            .await
            .unwrap();
        for zone in ZONES {
            for (period, from, to) in windows(zone.parse().unwrap(), now) {
                let by_period = stats(&t, &format!("period: {period}"), zone).await;
                let explicit = stats(
                    &t,
                    &format!("from: \"{}\", to: \"{}\"", rfc3339(from), rfc3339(to)),
                    zone,
                )
                .await;
                // Recompute the window after the call: a test running across midnight retries.
                if windows(zone.parse().unwrap(), Utc::now().timestamp_millis())
                    .iter()
                    .any(|(p, f, _)| *p == period && *f != from)
                {
                    eprintln!("{period} in {zone} moved during the test; skipped");
                    continue;
                }
                assert_eq!(by_period, explicit, "{}: {period} in {zone}", t.kind);
                let rows = by_period["data"]["dialogueStats"].as_array().unwrap();
                let total: u64 = rows.iter().map(|r| r["dialogues"].as_u64().unwrap()).sum();
                // Each window holds its `from` and `from + 1 h` and `to − 1` dialogues of this
                // zone (and maybe others' boundaries), never the one at `to` or before `from`.
                assert!(total >= 3, "{}: {period} in {zone}: {by_period}", t.kind);
                for row in rows {
                    let start = DateTime::parse_from_rfc3339(row["periodStart"].as_str().unwrap())
                        .unwrap()
                        .timestamp_millis();
                    assert!(start >= from && start < to, "{period} in {zone}: {row}");
                }
            }
        }
        // LAST_24_HOURS is [now − 24 h, now): of the three dialogues around it, the one just
        // before its start is out and the minute-old one is in.
        let response = common::query(
            &t.db,
            TENANT,
            "{ dialogueStats(period: LAST_24_HOURS) { dialogues } }",
            json!({}),
        )
        .await;
        // Asked between `now` and `later`; no fixture dialogue starts in (now − 24 h, later − 24 h].
        let later = Utc::now().timestamp_millis();
        let expected = fixture_starts(now)
            .into_iter()
            .filter(|s| *s >= later - 86_400_000 && *s < later)
            .count();
        assert_eq!(
            response["data"]["dialogueStats"][0]["dialogues"].as_u64(),
            Some(expected as u64),
            "{}: {response}",
            t.kind
        );
    }
}

/// The start instants [`fixture`] writes for `now`.
fn fixture_starts(now: i64) -> Vec<i64> {
    let file = fixture(now);
    std::fs::read_to_string(file.path())
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            DateTime::parse_from_rfc3339(v["startTimestamp"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect()
}

#[tokio::test]
async fn a_window_is_a_period_or_from_and_to() {
    let t = common::sqlite().await;
    for (args, needle) in [
        ("", "`from` and `to`, or as a `period`"),
        (
            "from: \"2026-01-01T00:00:00Z\"",
            "`from` and `to`, or as a `period`",
        ),
        (
            "to: \"2026-01-01T00:00:00Z\"",
            "`from` and `to`, or as a `period`",
        ),
        (
            "period: TODAY, from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\"",
            "not both",
        ),
        ("period: TODAY, from: \"2026-01-01T00:00:00Z\"", "not both"),
        (
            "period: TODAY, timeZone: \"Mars/Olympus\"",
            "not an IANA time zone",
        ),
    ] {
        let query = format!("{{ dialogueStats({args}) {{ dialogues }} }}");
        let response = common::query(&t.db, TENANT, &query.replace("()", ""), json!({})).await;
        assert_eq!(
            common::error_codes(&response),
            vec!["BAD_USER_INPUT"],
            "{args}: {response}"
        );
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{args}: {message}");
    }
    // A period that is not one of the enum's values is a validation error.
    let response = common::query(
        &t.db,
        TENANT,
        "{ dialogueStats(period: TOMORROW) { dialogues } }",
        json!({}),
    )
    .await;
    assert_eq!(
        common::error_codes(&response),
        vec!["GRAPHQL_VALIDATION_FAILED"],
        "{response}"
    );
}

#[tokio::test]
async fn what_if_thresholds_must_be_seconds() {
    let t = common::sqlite().await;
    for field in [
        "serviceLevel(thresholdInSec: -1) { value }",
        "quickDrops(thresholdInSec: -0.001)",
        "abandonRate(quickDropThresholdInSec: -5) { value }",
    ] {
        let query = format!("{{ dialogueStats(period: TODAY) {{ dialogues {field} }} }}");
        let response = common::query(&t.db, TENANT, &query, json!({})).await;
        assert_eq!(
            common::error_codes(&response),
            vec!["BAD_USER_INPUT"],
            "{field}: {response}"
        );
        assert!(
            response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("must be a number of seconds, 0 or more"),
            "{field}: {response}"
        );
    }
}
