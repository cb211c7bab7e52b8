//! Prometheus metrics (docs/api.md): `GET /metrics` renders what the `metrics` facade recorded.
//!
//! Every label value is bounded: routes are the router's own paths, outcomes a fixed set, and
//! GraphQL operation names are kept only for the first [`MAX_OPERATION_NAMES`] distinct names a
//! process sees (later ones count as `other`; a request without a name is `anonymous`). Nothing
//! names a tenant or a key.
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DbBackend};

/// Distinct operation names kept as label values.
pub const MAX_OPERATION_NAMES: usize = 200;
/// Longest operation name kept as a label value.
const MAX_OPERATION_NAME_LEN: usize = 64;

const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const SIZE_BUCKETS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder (the `metrics` facade has one per process), installed on first use.
pub fn recorder() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_size".into()), &SIZE_BUCKETS)
                })
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            // Histograms keep raw samples until upkeep folds them in, scraped or not.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("spawn the metrics upkeep thread");
            handle
        })
        .clone()
}

/// The exposition text, with the pool gauges sampled now.
pub fn render(db: &DatabaseConnection) -> String {
    let handle = recorder();
    let (size, idle) = pool_use(db);
    metrics::gauge!("insights_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("insights_db_pool_connections", "state" => "in_use")
        .set((size as usize).saturating_sub(idle) as f64);
    handle.render()
}

/// (open connections, idle ones) of the pool.
fn pool_use(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}

/// Operation names as label values, bounded per process.
#[derive(Default)]
pub struct OperationNames {
    seen: Mutex<HashSet<String>>,
}

impl OperationNames {
    /// The label value for an operation name.
    pub fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "anonymous".into();
        };
        if name.len() > MAX_OPERATION_NAME_LEN {
            return "other".into();
        }
        let mut seen = self.seen.lock().expect("operation names lock");
        if seen.contains(name) {
            return name.to_string();
        }
        if seen.len() < MAX_OPERATION_NAMES {
            seen.insert(name.to_string());
            return name.to_string();
        }
        "other".into()
    }
}
