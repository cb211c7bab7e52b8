//! Each replica's health, from WAL positions.
//!
//! Twice a second the primary's current WAL position is sampled and kept for a while; each
//! replica reports how far it has replayed. A replica's lag is the age of the oldest primary
//! sample it has not replayed yet: zero when it has replayed everything the primary had written
//! at the last sample, however long ago the last write was. (`pg_last_xact_replay_timestamp()`
//! alone would grow while the primary is idle.) A replica lagging more than the allowed lag,
//! not answering within a second, or not in recovery (promoted, or not a standby) leaves the
//! rotation; it comes back at the first check that finds it well.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

use super::{ReadPools, Replica};

/// How often the primary and every replica are checked.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);
/// A check that takes longer finds the server unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In rotation.
    Healthy,
    /// Answering, but further behind than the allowed lag.
    Lagging,
    /// Not answering (or its connection was just lost).
    Unreachable,
    /// Answering but not a standby: never read from.
    NotStandby,
    /// Not checked yet.
    Unchecked,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Lagging => "lagging",
            State::Unreachable => "unreachable",
            State::NotStandby => "not_standby",
            State::Unchecked => "unchecked",
        }
    }

    pub const ALL: [State; 5] = [
        State::Healthy,
        State::Lagging,
        State::Unreachable,
        State::NotStandby,
        State::Unchecked,
    ];
}

/// What the last check of a replica found.
#[derive(Debug, Clone)]
pub struct Health {
    pub state: State,
    /// How long ago the primary had written what the replica has not replayed (None: unknown).
    pub lag: Option<Duration>,
    /// Bytes of WAL the replica is behind the primary's last sample.
    pub lag_bytes: Option<u64>,
}

impl Health {
    pub(super) fn unchecked() -> Self {
        Self {
            state: State::Unchecked,
            lag: None,
            lag_bytes: None,
        }
    }
}

/// The primary's WAL positions of the last while, oldest first.
struct Samples {
    samples: VecDeque<(Instant, u64)>,
    keep: Duration,
}

impl Samples {
    fn push(&mut self, at: Instant, lsn: u64) {
        self.samples.push_back((at, lsn));
        while self.samples.len() > 1
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| at.duration_since(*t) > self.keep)
        {
            self.samples.pop_front();
        }
    }

    /// The lag of a replica that has replayed up to `replayed`, seen at `now`.
    fn lag(&self, replayed: u64, now: Instant) -> (Option<Duration>, Option<u64>) {
        let Some(&(_, latest)) = self.samples.back() else {
            return (None, None);
        };
        if replayed >= latest {
            return (Some(Duration::ZERO), Some(0));
        }
        // The oldest sample the replica has not reached: it has been missing since then (and
        // for at least as long as the history goes back, when that is the first sample).
        let since = self
            .samples
            .iter()
            .find(|(_, lsn)| *lsn > replayed)
            .map(|(t, _)| *t)
            .unwrap_or(now);
        (Some(now.duration_since(since)), Some(latest - replayed))
    }
}

/// Checks the replicas of `pools` every [`CHECK_EVERY`], for as long as the process runs.
pub async fn watch(pools: ReadPools) {
    let mut samples = Samples {
        samples: VecDeque::new(),
        keep: pools.max_lag() * 2 + Duration::from_secs(5),
    };
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        match tokio::time::timeout(CHECK_TIMEOUT, primary_position(pools.primary())).await {
            Ok(Ok(lsn)) => samples.push(now, lsn),
            Ok(Err(error)) => tracing::debug!(%error, "sampling the primary's WAL position failed"),
            Err(_) => tracing::debug!("sampling the primary's WAL position timed out"),
        }
        let checks = pools
            .replicas()
            .iter()
            .map(|replica| check(replica, &samples, pools.max_lag()));
        futures::future::join_all(checks).await;
    }
}

async fn check(replica: &Replica, samples: &Samples, max_lag: Duration) {
    let found = tokio::time::timeout(CHECK_TIMEOUT, replay_position(&replica.db)).await;
    let now = Instant::now();
    let next = match found {
        Ok(Ok(Some(replayed))) => {
            let (lag, lag_bytes) = samples.lag(replayed, now);
            let state = match lag {
                Some(lag) if lag <= max_lag => State::Healthy,
                // No primary sample yet: the replica answers, but how far behind is unknown.
                None => State::Unchecked,
                Some(_) => State::Lagging,
            };
            Health {
                state,
                lag,
                lag_bytes,
            }
        }
        Ok(Ok(None)) => Health {
            state: State::NotStandby,
            lag: None,
            lag_bytes: None,
        },
        Ok(Err(_)) | Err(_) => Health {
            state: State::Unreachable,
            lag: None,
            lag_bytes: None,
        },
    };
    let mut health = replica.health.lock().expect("replica health lock");
    if health.state != next.state {
        match next.state {
            State::Healthy => tracing::info!(replica = %replica.name, "read replica in rotation"),
            state => tracing::warn!(
                replica = %replica.name,
                state = state.as_str(),
                lag_seconds = next.lag.map(|l| l.as_secs_f64()),
                "read replica out of rotation"
            ),
        }
    }
    *health = next;
    publish(&replica.name, &health);
}

/// Sets the replica's gauges (`/metrics`).
pub(super) fn publish(name: &str, health: &Health) {
    for state in State::ALL {
        metrics::gauge!("insights_replica_state", "replica" => name.to_string(), "state" => state.as_str())
            .set(if state == health.state { 1.0 } else { 0.0 });
    }
    if let Some(lag) = health.lag {
        metrics::gauge!("insights_replica_lag_seconds", "replica" => name.to_string())
            .set(lag.as_secs_f64());
    }
    if let Some(bytes) = health.lag_bytes {
        metrics::gauge!("insights_replica_lag_bytes", "replica" => name.to_string())
            .set(bytes as f64);
    }
}

/// The primary's current WAL position, as a byte offset.
async fn primary_position(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no WAL position".into()))?;
    Ok(row.try_get::<i64>("", "lsn")? as u64)
}

/// How far a replica has replayed, as a byte offset; None when it is not a standby.
pub(super) async fn replay_position(db: &DatabaseConnection) -> Result<Option<u64>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_is_in_recovery() AS recovering, \
             (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS lsn",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no replay position".into()))?;
    if !row.try_get::<bool>("", "recovering")? {
        return Ok(None);
    }
    Ok(row.try_get::<Option<i64>>("", "lsn")?.map(|l| l as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_write_not_replayed() {
        let t0 = Instant::now();
        let mut samples = Samples {
            samples: VecDeque::new(),
            keep: Duration::from_secs(60),
        };
        for (s, lsn) in [(0, 100), (1, 100), (2, 250), (3, 400), (4, 400)] {
            samples.push(t0 + Duration::from_secs(s), lsn);
        }
        let now = t0 + Duration::from_secs(5);
        // Replayed everything the primary had: no lag, however old the last write is.
        assert_eq!(samples.lag(400, now), (Some(Duration::ZERO), Some(0)));
        assert_eq!(samples.lag(500, now), (Some(Duration::ZERO), Some(0)));
        // Missing what was written by the sample at 2 s: behind since then.
        assert_eq!(
            samples.lag(100, now),
            (Some(Duration::from_secs(3)), Some(300))
        );
        assert_eq!(
            samples.lag(300, now),
            (Some(Duration::from_secs(2)), Some(100))
        );
        // Behind even the oldest sample: at least as old as the history.
        assert_eq!(
            samples.lag(50, now),
            (Some(Duration::from_secs(5)), Some(350))
        );
    }

    #[test]
    fn old_samples_are_dropped_but_one_is_kept() {
        let t0 = Instant::now();
        let mut samples = Samples {
            samples: VecDeque::new(),
            keep: Duration::from_secs(2),
        };
        for s in 0..10 {
            samples.push(t0 + Duration::from_secs(s), s * 10);
        }
        assert_eq!(samples.samples.len(), 3);
        assert_eq!(samples.samples.front().map(|(_, l)| *l), Some(70));
    }
}
