//! Realistic generated contact-center history: several IVRs and queues with thresholds, dozens
//! of agents, thousands of customers, office-hours traffic in Europe/Amsterdam, all three
//! outcomes and both directions. Written to the database or to vendor-shaped NDJSON files.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
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
            name: Some(format!(
                "{} {}",
                FIRST_NAMES[i % 20],
                LAST_NAMES[(i * 7) % 10]
            )),
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

/// Calls `emit` with every generated dialogue, in start order, day by day (memory stays flat).
pub fn dialogues(
    options: &DemoOptions,
    tenant_id: i32,
    mut emit: impl FnMut(dialogue::Model) -> bool,
) {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let thresholds = thresholds();
    let days: Vec<NaiveDate> = (0..options.days.max(1))
        .rev()
        .map(|back| options.until - Duration::days(back as i64 + 1))
        .collect();
    let weight = |d: &NaiveDate| match d.weekday() {
        Weekday::Sat => 0.3,
        Weekday::Sun => 0.15,
        _ => 1.0,
    };
    let total_weight: f64 = days.iter().map(weight).sum();
    // Hourly traffic curve, 08:00–21:00 local time.
    let hours: [(u32, f64); 13] = [
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
    let hour_total: f64 = hours.iter().map(|(_, w)| w).sum();
    let mut order_number = options.first_order_number;
    let mut produced = 0u64;
    let mut carry = 0.0;
    for (index, day) in days.iter().enumerate() {
        let exact = options.dialogues as f64 * weight(day) / total_weight + carry;
        let mut count = exact.floor() as u64;
        carry = exact - count as f64;
        if index == days.len() - 1 {
            count = options.dialogues - produced;
        }
        let mut starts: Vec<i64> = (0..count)
            .map(|_| {
                let mut pick = rng.random::<f64>() * hour_total;
                let mut hour = 8;
                for (h, w) in hours {
                    hour = h;
                    if pick < w {
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

/// A dialogue in the vendor's shape (API.md §2), as the vendor API exports it.
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

/// Writes `endpoints.ndjson` and `dialogues.ndjson` into `dir`.
pub fn write_files(options: &DemoOptions, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut out = BufWriter::new(File::create(dir.join("endpoints.ndjson"))?);
    for e in endpoints(0) {
        writeln!(out, "{}", endpoint_to_vendor_json(&e))?;
    }
    out.flush()?;
    let mut out = BufWriter::new(File::create(dir.join("dialogues.ndjson"))?);
    let mut result = Ok(());
    dialogues(options, 0, |d| {
        result = writeln!(out, "{}", dialogue_to_vendor_json(&d));
        result.is_ok()
    });
    result?;
    out.flush()
}

/// Writes the demo contact center into `tenant` of the database; order numbers continue after
/// the tenant's highest. Returns how many dialogues were written.
pub async fn write_to_db(
    db: &DatabaseConnection,
    tenant: &str,
    mut options: DemoOptions,
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
        dialogues(&options, tenant.id, |mut d| {
            if options.first_order_number > 1 {
                d.id = format!("dlg-{prefix}{}", d.order_number);
            }
            batch.push(d);
            if batch.len() == IMPORT_BATCH_ROWS {
                return tx.blocking_send(std::mem::take(&mut batch)).is_ok();
            }
            true
        });
        let _ = tx.blocking_send(batch);
    });
    let mut stubs = EndpointStubs::new(tenant.id);
    let mut written = 0;
    while let Some(batch) = rx.recv().await {
        stubs.ensure(&txn, &batch).await?;
        writer::upsert_dialogues(&txn, &batch).await?;
        written += batch.len() as u64;
    }
    generator
        .await
        .map_err(|e| DbErr::Custom(format!("demo generator failed: {e}")))?;
    txn.commit().await?;
    Ok(written)
}
