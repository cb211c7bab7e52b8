//! Realistic generated contact-center history: several IVRs and queues with thresholds, dozens
//! of agents, thousands of customers, office-hours traffic in Europe/Amsterdam, all three
//! outcomes and both directions. Written to the database or to vendor-shaped NDJSON files.
//!
//! Two spans: a fixed one, `days` whole days ending the day before `until` (office hours only;
//! the same seed and `until` give the same data, which the benchmarks rely on), or one that
//! reaches the present ([`dialogues_up_to`]): `days` whole days before today in Amsterdam, then
//! today until the moment given, with a trickle of night traffic (a 24/7 line), so that "today"
//! and "today by hour" have figures at any time of day. No generated dialogue ends after that
//! moment.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Amsterdam;
use entity::{dialogue, endpoint, Direction, EndpointRole, Outcome};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait};
use serde_json::json;

use crate::ingest::record::{derive_missing, Thresholds};
use crate::ingest::writer::{self, EndpointStubs, IMPORT_BATCH_ROWS};
use crate::time::format_ms;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub dialogues: u64,
    /// The generated history covers this many days, ending with `until` (exclusive).
    pub days: u32,
    pub until: NaiveDate,
    pub seed: u64,
    /// The first order number handed out.
    pub first_order_number: i32,
}

impl DemoOptions {
    pub fn new(dialogues: u64) -> Self {
        Self {
            dialogues,
            days: 90,
            until: Utc::now().date_naive(),
            seed: 42,
            first_order_number: 1,
        }
    }
}

const IVRS: [&str; 3] = ["Main menu", "Support line", "Sales line"];
/// (name, slaThresholdInSec, quickDropThresholdInSec, mean wait in seconds)
const QUEUES: [(&str, Option<f64>, Option<f64>, f64); 6] = [
    ("Sales NL", Some(20.0), Some(5.0), 15.0),
    ("Sales EN", Some(20.0), Some(5.0), 25.0),
    ("Support NL", Some(30.0), Some(8.0), 35.0),
    ("Support EN", Some(30.0), Some(8.0), 45.0),
    ("Billing", Some(60.0), Some(10.0), 60.0),
    ("VIP", Some(10.0), None, 8.0),
];
const AGENTS: usize = 40;
const CUSTOMERS: usize = 3000;
const FIRST_NAMES: [&str; 20] = [
    "Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Giulia", "Hugo", "Iris", "Jesse", "Kim",
    "Lars", "Mila", "Noah", "Olivia", "Pieter", "Quinten", "Roos", "Sem", "Tess",
];
const LAST_NAMES: [&str; 10] = [
    "de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "de Boer", "Bos", "Vos",
];

/// Agent `i`'s name: unique among the agents (agents 20 apart share a first name, so their last
/// names are shifted by one).
fn agent_name(i: usize) -> String {
    format!(
        "{} {}",
        FIRST_NAMES[i % FIRST_NAMES.len()],
        LAST_NAMES[(i * 7 + i / FIRST_NAMES.len()) % LAST_NAMES.len()]
    )
}

/// The endpoints of the demo contact center.
pub fn endpoints(tenant_id: i32) -> Vec<endpoint::Model> {
    let mut out = Vec::new();
    for (i, name) in IVRS.iter().enumerate() {
        out.push(endpoint::Model {
            tenant_id,
            id: format!("demo-ivr-{i}"),
            name: Some(name.to_string()),
            role: EndpointRole::Ivr,
            sla_threshold_in_sec: None,
            quick_drop_threshold_in_sec: None,
        });
    }
    for (i, (name, sla, quick, _)) in QUEUES.iter().enumerate() {
        out.push(endpoint::Model {
            tenant_id,
            id: format!("demo-queue-{i}"),
            name: Some(name.to_string()),
            role: EndpointRole::Queue,
            sla_threshold_in_sec: *sla,
            quick_drop_threshold_in_sec: *quick,
        });
    }
    for i in 0..AGENTS {
        out.push(endpoint::Model {
            tenant_id,
            id: format!("demo-agent-{i:03}"),
            name: Some(agent_name(i)),
            role: EndpointRole::Agent,
            sla_threshold_in_sec: None,
            quick_drop_threshold_in_sec: None,
        });
    }
    for i in 0..CUSTOMERS {
        // Most customers are known only by number.
        let name =
            (i % 4 == 0).then(|| format!("{} {}", FIRST_NAMES[(i / 4) % 20], LAST_NAMES[i % 10]));
        out.push(endpoint::Model {
            tenant_id,
            id: format!("demo-cust-{i:05}"),
            name,
            role: EndpointRole::Customer,
            sla_threshold_in_sec: None,
            quick_drop_threshold_in_sec: None,
        });
    }
    out
}

fn thresholds() -> Thresholds {
    Thresholds {
        default_sla_sec: crate::tenant::DEFAULT_SLA_THRESHOLD_SEC,
        default_quick_drop_sec: crate::tenant::DEFAULT_QUICK_DROP_THRESHOLD_SEC,
        queues: QUEUES
            .iter()
            .enumerate()
            .map(|(i, (_, sla, quick, _))| (format!("demo-queue-{i}"), (*sla, *quick)))
            .collect(),
    }
}

/// Exponentially distributed seconds with the given mean.
fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Hourly traffic curve, 08:00–21:00 local time: (hour, weight).
const OFFICE_HOURS: [(u32, f64); 13] = [
    (8, 6.0),
    (9, 9.0),
    (10, 10.0),
    (11, 9.0),
    (12, 6.0),
    (13, 8.0),
    (14, 9.0),
    (15, 8.0),
    (16, 7.0),
    (17, 5.0),
    (18, 2.0),
    (19, 1.0),
    (20, 0.5),
];
/// Weight of each hour outside office hours in the span that reaches the present.
const NIGHT_WEIGHT: f64 = 0.4;
/// Today holds at least this many dialogues (when the whole span has twice as many).
const TODAY_AT_LEAST: u64 = 12;
/// Dialogues of today start at least this long before the present.
const TODAY_MARGIN_MS: i64 = 60_000;

/// Calls `emit` with every generated dialogue, in start order, day by day (memory stays flat):
/// `options.days` whole days ending the day before `options.until`.
pub fn dialogues(options: &DemoOptions, tenant_id: i32, emit: impl FnMut(dialogue::Model) -> bool) {
    generate(options, None, tenant_id, emit)
}

/// Like [`dialogues`], but the history reaches `now`: `options.days` whole days before today
/// (in Europe/Amsterdam), then today up to `now` (`options.until` is not used). Every dialogue
/// has ended by `now`.
pub fn dialogues_up_to(
    options: &DemoOptions,
    now: DateTime<Utc>,
    tenant_id: i32,
    emit: impl FnMut(dialogue::Model) -> bool,
) {
    generate(options, Some(now.timestamp_millis()), tenant_id, emit)
}

/// The instant of a local time in Amsterdam (the earlier one when ambiguous; a time skipped by
/// DST is read as UTC+1 would have it).
fn amsterdam_ms(local: NaiveDateTime) -> i64 {
    Amsterdam
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| (local - Duration::hours(1)).and_utc().timestamp_millis())
}

fn generate(
    options: &DemoOptions,
    now_ms: Option<i64>,
    tenant_id: i32,
    mut emit: impl FnMut(dialogue::Model) -> bool,
) {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let thresholds = thresholds();
    // With a present, the span is the days before today plus today; without, it ends the day
    // before `until`.
    let today = now_ms.map(|ms| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .expect("valid now")
            .with_timezone(&Amsterdam)
            .date_naive()
    });
    let until = today.unwrap_or(options.until);
    let days: Vec<NaiveDate> = (0..options.days.max(1))
        .rev()
        .map(|back| until - Duration::days(back as i64 + 1))
        .collect();
    let weight = |d: &NaiveDate| match d.weekday() {
        Weekday::Sat => 0.3,
        Weekday::Sun => 0.15,
        _ => 1.0,
    };
    let hours: Vec<(u32, f64)> = if now_ms.is_some() {
        (0..24)
            .map(|h| {
                let office = OFFICE_HOURS.iter().find(|(oh, _)| *oh == h);
                (h, office.map_or(NIGHT_WEIGHT, |(_, w)| *w))
            })
            .collect()
    } else {
        OFFICE_HOURS.to_vec()
    };
    let hour_total: f64 = hours.iter().map(|(_, w)| w).sum();
    // Today's share: the part of its traffic curve that lies before the present.
    let today_plan = today.zip(now_ms).map(|(today, now)| {
        let midnight = amsterdam_ms(today.and_hms_opt(0, 0, 0).expect("midnight"));
        let latest = now - TODAY_MARGIN_MS;
        let mut elapsed = 0.0;
        let mut windows = Vec::new();
        for (h, w) in &hours {
            let from = amsterdam_ms(today.and_hms_opt(*h, 0, 0).expect("hour"));
            let to = from + 3_600_000;
            let end = to.min(latest);
            if end > from && from >= midnight {
                let part = w * (end - from) as f64 / 3_600_000.0;
                elapsed += part;
                windows.push((from, end, part));
            }
        }
        (elapsed / hour_total * weight(&today), windows)
    });
    let past_weight: f64 = days.iter().map(weight).sum();
    let today_count = match &today_plan {
        Some((share, windows)) if !windows.is_empty() => {
            let natural = (options.dialogues as f64 * share / (past_weight + share)).round() as u64;
            let floor = if options.dialogues >= 2 * TODAY_AT_LEAST {
                TODAY_AT_LEAST
            } else {
                0
            };
            natural.max(floor).min(options.dialogues)
        }
        _ => 0,
    };
    let past_count = options.dialogues - today_count;
    let mut order_number = options.first_order_number;
    let mut produced = 0u64;
    let mut carry = 0.0;
    for (index, day) in days.iter().enumerate() {
        let exact = past_count as f64 * weight(day) / past_weight + carry;
        let mut count = exact.floor() as u64;
        carry = exact - count as f64;
        if index == days.len() - 1 {
            count = past_count - produced;
        }
        let mut starts: Vec<i64> = (0..count)
            .map(|_| {
                let mut pick = rng.random::<f64>() * hour_total;
                let mut hour = hours[0].0;
                for (h, w) in &hours {
                    hour = *h;
                    if pick < *w {
                        break;
                    }
                    pick -= w;
                }
                let local = day
                    .and_hms_milli_opt(
                        hour,
                        rng.random_range(0..60),
                        rng.random_range(0..60),
                        rng.random_range(0..1000),
                    )
                    .expect("valid local time");
                Amsterdam
                    .from_local_datetime(&local)
                    .earliest()
                    .map(|t| t.timestamp_millis())
                    .unwrap_or_else(|| local.and_utc().timestamp_millis())
            })
            .collect();
        starts.sort_unstable();
        for start in starts {
            let d = one_dialogue(&mut rng, tenant_id, order_number, start, &thresholds);
            order_number += 1;
            produced += 1;
            if !emit(d) {
                return;
            }
        }
    }
    let (Some((_, windows)), Some(now)) = (today_plan, now_ms) else {
        return;
    };
    if today_count == 0 {
        return;
    }
    let window_total: f64 = windows.iter().map(|(_, _, w)| w).sum();
    let pick_start = |rng: &mut StdRng| {
        let mut pick = rng.random::<f64>() * window_total;
        let mut chosen = windows[0];
        for window in &windows {
            chosen = *window;
            if pick < window.2 {
                break;
            }
            pick -= window.2;
        }
        rng.random_range(chosen.0..chosen.1)
    };
    // Draw today's dialogues; one that would still be running at `now` is drawn again (a few
    // times at most; the last draw is cut short to end at `now`).
    let mut today_dialogues: Vec<dialogue::Model> = (0..today_count)
        .map(|_| {
            let start = pick_start(&mut rng);
            let mut d = one_dialogue(&mut rng, tenant_id, 0, start, &thresholds);
            for _ in 0..20 {
                if d.end_timestamp_ms.is_none_or(|end| end <= now) {
                    break;
                }
                let start = pick_start(&mut rng);
                d = one_dialogue(&mut rng, tenant_id, 0, start, &thresholds);
            }
            if d.end_timestamp_ms.is_some_and(|end| end > now) {
                end_at(&mut d, now, &thresholds);
            }
            d
        })
        .collect();
    today_dialogues.sort_by_key(|d| d.start_timestamp_ms);
    for mut d in today_dialogues {
        d.order_number = order_number;
        d.id = format!("dlg-{order_number:08}");
        order_number += 1;
        if !emit(d) {
            return;
        }
    }
}

/// Ends a dialogue that would still run at `now` at `now` instead (its talk, or its wait, is
/// cut short), and derives its durations again.
fn end_at(d: &mut dialogue::Model, now: i64, thresholds: &Thresholds) {
    if d.queue_enter_timestamp_ms
        .is_some_and(|entered| entered > now)
    {
        // Still in the IVR at `now`: the caller hangs up there.
        d.queue_enter_timestamp_ms = None;
        d.queue_id = None;
        d.accept_timestamp_ms = None;
        d.agent_id = None;
        d.outcome = Outcome::IvrDrop;
    } else if d.accept_timestamp_ms.is_some_and(|accept| accept > now) {
        // Still waiting at `now`: it becomes an abandon at `now`.
        d.accept_timestamp_ms = None;
        d.agent_id = None;
        d.outcome = Outcome::Abandoned;
    }
    d.end_timestamp_ms = Some(now.max(d.start_timestamp_ms));
    d.ivr_duration_in_sec = None;
    d.queue_duration_in_sec = None;
    d.initial_talk_duration_in_sec = None;
    d.session_duration_in_sec = None;
    d.in_sla = None;
    d.quick_drop = None;
    derive_missing(d, thresholds);
}

fn one_dialogue(
    rng: &mut StdRng,
    tenant_id: i32,
    order_number: i32,
    start: i64,
    thresholds: &Thresholds,
) -> dialogue::Model {
    let ms = |secs: f64| (secs * 1000.0).round() as i64;
    let customer = format!("demo-cust-{:05}", rng.random_range(0..CUSTOMERS));
    let inbound = rng.random_bool(0.85);
    let mut d = dialogue::Model {
        tenant_id,
        id: format!("dlg-{order_number:08}"),
        order_number,
        start_date: Utc
            .timestamp_millis_opt(start)
            .single()
            .expect("valid start")
            .date_naive(),
        start_timestamp_ms: start,
        queue_enter_timestamp_ms: None,
        accept_timestamp_ms: None,
        end_timestamp_ms: None,
        ivr_duration_in_sec: None,
        queue_duration_in_sec: None,
        initial_talk_duration_in_sec: None,
        session_duration_in_sec: None,
        ivr_id: None,
        queue_id: None,
        customer_id: Some(customer),
        agent_id: None,
        direction: if inbound {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        outcome: Outcome::Accepted,
        in_sla: None,
        quick_drop: None,
        change_position: 0,
        change_index: 0,
    };
    let talk = 30.0 + exponential(rng, 240.0);
    if !inbound {
        // An agent calls the customer: no IVR, no queue.
        d.agent_id = Some(format!("demo-agent-{:03}", rng.random_range(0..AGENTS)));
        d.accept_timestamp_ms = Some(start);
        d.end_timestamp_ms = Some(start + ms(talk));
    } else {
        let ivr = rng.random_range(0..IVRS.len());
        d.ivr_id = Some(format!("demo-ivr-{ivr}"));
        let ivr_secs = 8.0 + exponential(rng, 30.0);
        let after_ivr = start + ms(ivr_secs);
        if rng.random_bool(0.06) {
            d.outcome = Outcome::IvrDrop;
            d.end_timestamp_ms = Some(after_ivr);
        } else {
            let queue = match ivr {
                0 => rng.random_range(0..QUEUES.len()),
                1 => 2 + rng.random_range(0..2),
                _ => rng.random_range(0..2),
            };
            d.queue_id = Some(format!("demo-queue-{queue}"));
            d.queue_enter_timestamp_ms = Some(after_ivr);
            let wait = exponential(rng, QUEUES[queue].3);
            let patience = exponential(rng, 120.0);
            if wait > patience {
                d.outcome = Outcome::Abandoned;
                d.end_timestamp_ms = Some(after_ivr + ms(patience));
            } else {
                // Agents are spread over queues, a few of them on several.
                let agent = (queue * 6 + rng.random_range(0..10)) % AGENTS;
                d.agent_id = Some(format!("demo-agent-{agent:03}"));
                let accepted = after_ivr + ms(wait);
                d.accept_timestamp_ms = Some(accepted);
                d.end_timestamp_ms = Some(accepted + ms(talk));
            }
        }
    }
    derive_missing(&mut d, thresholds);
    d
}

/// A dialogue in the vendor's shape (docs/api.md), as the vendor API exports it.
pub fn dialogue_to_vendor_json(d: &dialogue::Model) -> serde_json::Value {
    json!({
        "id": d.id,
        "startDate": d.start_date.to_string(),
        "startTimestamp": format_ms(d.start_timestamp_ms),
        "queueEnterTimestamp": d.queue_enter_timestamp_ms.map(format_ms),
        "acceptTimestamp": d.accept_timestamp_ms.map(format_ms),
        "endTimestamp": d.end_timestamp_ms.map(format_ms),
        "ivrDurationInSec": d.ivr_duration_in_sec,
        "queueDurationInSec": d.queue_duration_in_sec,
        "initialTalkDurationInSec": d.initial_talk_duration_in_sec,
        "sessionDurationInSec": d.session_duration_in_sec,
        "ivrId": d.ivr_id,
        "queueId": d.queue_id,
        "customerId": d.customer_id,
        "agentId": d.agent_id,
        "direction": d.direction.code(),
        "Outcome": d.outcome.vendor_name(),
        "InSLA": d.in_sla.map(|b| if b { "True" } else { "False" }),
        "QuickDrop": d.quick_drop.map(|b| if b { "True" } else { "False" }),
        "orderNumber": d.order_number,
    })
}

/// An endpoint in the vendor's shape.
pub fn endpoint_to_vendor_json(e: &endpoint::Model) -> serde_json::Value {
    let mut value = json!({ "id": e.id, "name": e.name, "Role": e.role.vendor_name() });
    if let Some(sla) = e.sla_threshold_in_sec {
        value["slaThresholdInSec"] = json!(sla);
    }
    if let Some(quick) = e.quick_drop_threshold_in_sec {
        value["quickDropThresholdInSec"] = json!(quick);
    }
    value
}

/// Writes `endpoints.ndjson` and `dialogues.ndjson` into `dir`: the span of [`dialogues`], or
/// with `now`, the one of [`dialogues_up_to`].
pub fn write_files(
    options: &DemoOptions,
    now: Option<DateTime<Utc>>,
    dir: &Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut out = BufWriter::new(File::create(dir.join("endpoints.ndjson"))?);
    for e in endpoints(0) {
        writeln!(out, "{}", endpoint_to_vendor_json(&e))?;
    }
    out.flush()?;
    let mut out = BufWriter::new(File::create(dir.join("dialogues.ndjson"))?);
    let mut result = Ok(());
    generate(options, now.map(|t| t.timestamp_millis()), 0, |d| {
        result = writeln!(out, "{}", dialogue_to_vendor_json(&d));
        result.is_ok()
    });
    result?;
    out.flush()
}

/// Writes the demo contact center into `tenant` of the database; order numbers continue after
/// the tenant's highest. Returns how many dialogues were written. The span is [`dialogues`]'s.
pub async fn write_to_db(
    db: &DatabaseConnection,
    tenant: &str,
    options: DemoOptions,
) -> Result<u64, DbErr> {
    write(db, tenant, options, None).await
}

/// As [`write_to_db`], with the span of [`dialogues_up_to`]: history up to `now`, today included.
pub async fn write_to_db_up_to(
    db: &DatabaseConnection,
    tenant: &str,
    options: DemoOptions,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    write(db, tenant, options, Some(now)).await
}

async fn write(
    db: &DatabaseConnection,
    tenant: &str,
    mut options: DemoOptions,
    now: Option<DateTime<Utc>>,
) -> Result<u64, DbErr> {
    let tenant = crate::tenant::ensure(db, tenant).await?;
    let backend = db.get_database_backend();
    let max = db
        .query_one_raw(Statement::from_string(
            backend,
            format!(
                "SELECT MAX(order_number) AS n FROM dialogues WHERE tenant_id = {}",
                tenant.id
            ),
        ))
        .await?
        .and_then(|row| row.try_get::<Option<i32>>("", "n").ok().flatten())
        .unwrap_or(0);
    options.first_order_number = max + 1;
    // Ids must not collide with earlier demo runs either.
    let prefix = format!("{}-", options.first_order_number);
    let txn = db.begin().await?;
    writer::upsert_endpoints(&txn, &endpoints(tenant.id)).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<dialogue::Model>>(4);
    let generator = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(IMPORT_BATCH_ROWS);
        generate(
            &options,
            now.map(|t| t.timestamp_millis()),
            tenant.id,
            |mut d| {
                if options.first_order_number > 1 {
                    d.id = format!("dlg-{prefix}{}", d.order_number);
                }
                batch.push(d);
                if batch.len() == IMPORT_BATCH_ROWS {
                    return tx.blocking_send(std::mem::take(&mut batch)).is_ok();
                }
                true
            },
        );
        let _ = tx.blocking_send(batch);
    });
    let mut stubs = EndpointStubs::new(tenant.id);
    let mut written = 0;
    // Like every writer, the demo's commit takes a change position for what it writes.
    let position = crate::live::position::take(&txn, tenant.id).await?;
    while let Some(mut batch) = rx.recv().await {
        for (i, d) in batch.iter_mut().enumerate() {
            d.change_position = position;
            d.change_index = (written + i as u64) as i64;
        }
        stubs.ensure(&txn, &batch).await?;
        writer::upsert_dialogues(&txn, &mut batch, None, None).await?;
        written += batch.len() as u64;
    }
    generator
        .await
        .map_err(|e| DbErr::Custom(format!("demo generator failed: {e}")))?;
    txn.commit().await?;
    if written >= crate::ingest::write::ANALYZE_AFTER_ROWS {
        crate::ingest::write::refresh_statistics(db).await;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(options: &DemoOptions, now: Option<DateTime<Utc>>) -> Vec<dialogue::Model> {
        let mut out = Vec::new();
        generate(options, now.map(|t| t.timestamp_millis()), 1, |d| {
            out.push(d);
            true
        });
        out
    }

    fn options(dialogues: u64, days: u32) -> DemoOptions {
        DemoOptions {
            days,
            ..DemoOptions::new(dialogues)
        }
    }

    #[test]
    fn agents_have_unique_names() {
        let names: Vec<_> = endpoints(1)
            .into_iter()
            .filter(|e| e.role == EndpointRole::Agent)
            .map(|e| e.name.expect("named"))
            .collect();
        assert_eq!(names.len(), AGENTS);
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    /// At any time of day, also on DST days and just after midnight, the history reaches the
    /// present: today (in Amsterdam) has dialogues, none ends after now, the count is exact.
    #[test]
    fn history_up_to_now_includes_today() {
        for now in [
            "2026-11-30T08:09:00Z",
            "2026-11-29T23:30:00Z", // 00:30 in Amsterdam, on a Monday
            "2026-11-30T22:59:00Z", // 23:59 in Amsterdam
            "2026-03-29T01:30:00Z", // 03:30 on the spring DST day
            "2026-10-25T01:30:00Z", // the second 02:30 of the autumn DST day
            "2026-11-28T12:00:00Z", // a Saturday
        ] {
            let now: DateTime<Utc> = now.parse().unwrap();
            let midnight = amsterdam_ms(
                now.with_timezone(&Amsterdam)
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .unwrap(),
            );
            for (n, days) in [(3000, 30), (200, 7)] {
                let all = collect(&options(n, days), Some(now));
                assert_eq!(all.len() as u64, n, "{now}");
                let now_ms = now.timestamp_millis();
                assert!(
                    all.iter().all(|d| d.end_timestamp_ms.unwrap() <= now_ms
                        && d.start_timestamp_ms <= d.end_timestamp_ms.unwrap()),
                    "{now}: a dialogue ends after now"
                );
                let today = all
                    .iter()
                    .filter(|d| d.start_timestamp_ms >= midnight)
                    .count() as u64;
                assert!(today >= TODAY_AT_LEAST, "{now}, {n}: {today} today");
                let first = midnight - i64::from(days) * 86_400_000 - 3_600_000;
                assert!(all.iter().all(|d| d.start_timestamp_ms >= first), "{now}");
                // In start order, with increasing order numbers and unique ids.
                assert!(all
                    .windows(2)
                    .all(|w| w[0].start_timestamp_ms <= w[1].start_timestamp_ms
                        && w[0].order_number < w[1].order_number));
                let ids: std::collections::HashSet<_> = all.iter().map(|d| &d.id).collect();
                assert_eq!(ids.len(), all.len());
                // Cut-short dialogues are still consistent.
                for d in &all {
                    if let (Some(q), Some(e)) = (d.queue_enter_timestamp_ms, d.end_timestamp_ms) {
                        assert!(q <= e, "{d:?}");
                    }
                    match d.outcome {
                        Outcome::Accepted => assert!(d.accept_timestamp_ms.is_some()),
                        Outcome::Abandoned => assert!(d.quick_drop.is_some(), "{d:?}"),
                        Outcome::IvrDrop => assert!(d.queue_id.is_none(), "{d:?}"),
                    }
                    if d.queue_id.is_some() && d.outcome == Outcome::Accepted {
                        assert!(d.in_sla.is_some(), "{d:?}");
                    }
                }
            }
        }
    }

    /// With a fixed `until`, the same options give the same data, all before `until`.
    #[test]
    fn fixed_history_is_deterministic() {
        let mut fixed = options(2000, 20);
        fixed.until = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let a = collect(&fixed, None);
        let b = collect(&fixed, None);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2000);
        let until = amsterdam_ms(fixed.until.and_hms_opt(0, 0, 0).unwrap());
        assert!(a.iter().all(|d| d.start_timestamp_ms < until));
        fixed.seed += 1;
        assert_ne!(collect(&fixed, None), a);
    }
}
