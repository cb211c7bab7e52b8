//! Where reads go: the primary, or one of its streaming replicas (PostgreSQL's own physical
//! replication; nothing is copied by the service).
//!
//! A [`ReadPools`] holds a pool per replica and each replica's health, which [`health`]
//! refreshes twice a second from WAL positions. A [`Route`] is one request's choice among them,
//! made at its first statement and kept for the request's later statements (one request reads
//! one replica, so its page and its count agree), re-made when the replica leaves rotation.
//!
//! Read-your-writes: a route may have to see a commit (`after`, the tenant's change position a
//! mutation returned, see `live::position`). The replica chosen must have replayed it: its
//! `change_positions` row for the tenant has reached the number. Replicas are asked in turn,
//! for at most [`READ_AFTER_WAIT`]; then the primary answers, which always has.
//!
//! A statement that loses its replica connection (the replica stopped, restarted, or
//! unreachable) takes the replica out of rotation at once and runs again on the primary: reads
//! change nothing, so running one twice is safe, and the caller sees no error.
pub mod health;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};

use crate::db::{self, DbOptions};
use crate::error::connection_lost;
use health::{Health, State};

/// How long a read that must see a commit waits for a replica to replay it before the primary
/// answers it.
pub const READ_AFTER_WAIT: Duration = Duration::from_secs(2);
/// How long a request's choice of replica holds; longer-lived scopes (a WebSocket's) choose
/// again, so they spread and come back to a replica that recovered.
const ROUTE_HOLD: Duration = Duration::from_secs(1);
/// How long a statement waits for a connection of a replica before it reads the primary
/// instead: a replica that went away fails fast instead of holding the request.
const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);

/// The primary and its replicas. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReadPools {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    primary: DatabaseConnection,
    replicas: Vec<Replica>,
    /// Where the next route starts looking (round robin).
    next: AtomicUsize,
    max_lag: Duration,
}

/// One replica: its pool and what the last health check found.
#[derive(Debug)]
pub struct Replica {
    /// `host:port/database`, for logs and metrics (never the password).
    pub name: String,
    db: DatabaseConnection,
    health: Mutex<Health>,
}

impl Replica {
    pub fn health(&self) -> Health {
        self.health.lock().expect("replica health lock").clone()
    }

    fn in_rotation(&self) -> bool {
        self.health().state == State::Healthy
    }
}

impl ReadPools {
    /// Pools for the replicas at `urls` of the primary `primary`. Connections are made when
    /// first needed: a replica that is down at start only starts out of rotation.
    pub async fn connect(
        primary: DatabaseConnection,
        urls: &[String],
        options: &DbOptions,
        max_lag: Duration,
    ) -> Result<Self, DbErr> {
        let mut replicas = Vec::with_capacity(urls.len());
        for url in urls {
            if db::is_sqlite(url) || !url.starts_with("postgres") {
                return Err(DbErr::Custom(format!(
                    "a read replica must be a PostgreSQL URL (postgres://…), not `{}`",
                    db::redacted(url)
                )));
            }
            let mut replica_options = options.clone();
            replica_options.url = url.clone();
            replica_options.acquire_timeout = options.acquire_timeout.min(REPLICA_ACQUIRE_TIMEOUT);
            replicas.push(Replica {
                name: db::place(url),
                db: db::connect_lazy(&replica_options).await?,
                health: Mutex::new(Health::unchecked()),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                primary,
                replicas,
                next: AtomicUsize::new(0),
                max_lag,
            }),
        })
    }

    pub fn primary(&self) -> &DatabaseConnection {
        &self.inner.primary
    }

    pub fn replicas(&self) -> &[Replica] {
        &self.inner.replicas
    }

    pub fn max_lag(&self) -> Duration {
        self.inner.max_lag
    }

    /// Takes a replica out of rotation now (its connection was lost); the next health check
    /// puts it back when it answers again.
    fn lost(&self, index: usize) {
        let replica = &self.inner.replicas[index];
        let mut health = replica.health.lock().expect("replica health lock");
        if health.state == State::Healthy {
            tracing::warn!(replica = %replica.name, "lost a read replica's connection; reading the primary until it answers again");
        }
        health.state = State::Unreachable;
        health::publish(&replica.name, &health);
    }

    /// Chooses where a tenant's read goes: a replica in rotation (in turn), which has replayed
    /// the tenant's commit `after` when one is given, else the primary.
    async fn choose(&self, tenant_id: i32, after: Option<i64>) -> Target {
        let replicas = &self.inner.replicas;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let in_turn = || {
            (0..replicas.len())
                .map(move |k| (start + k) % replicas.len())
                .filter(|&i| replicas[i].in_rotation())
        };
        let Some(after) = after.filter(|&n| n > 0) else {
            return in_turn().next().map_or(Target::Primary, Target::Replica);
        };
        let deadline = Instant::now() + READ_AFTER_WAIT;
        let mut pause = Duration::from_millis(5);
        loop {
            let mut any = false;
            for i in in_turn() {
                any = true;
                if replayed(&replicas[i].db, tenant_id)
                    .await
                    .is_some_and(|n| n >= after)
                {
                    return Target::Replica(i);
                }
            }
            if !any || Instant::now() + pause > deadline {
                metrics::counter!("insights_read_after_on_primary_total").increment(1);
                return Target::Primary;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

/// The tenant's last change position a replica has replayed (None: it did not answer).
async fn replayed(replica: &DatabaseConnection, tenant_id: i32) -> Option<i64> {
    let read = crate::live::position::current(replica, tenant_id);
    match tokio::time::timeout(REPLICA_ACQUIRE_TIMEOUT, read).await {
        Ok(Ok(position)) => Some(position),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Primary,
    Replica(usize),
}

/// One request's reads: where they go, and the commit they must see.
#[derive(Clone, Debug)]
pub struct Route {
    pools: ReadPools,
    after: Option<i64>,
    chosen: Arc<tokio::sync::Mutex<Option<(Target, Instant)>>>,
}

impl Route {
    pub fn new(pools: ReadPools) -> Self {
        Self {
            pools,
            after: None,
            chosen: Default::default(),
        }
    }

    /// The same reads, which must also see the tenant's commit `position` (a fresh choice).
    pub fn after(&self, position: i64) -> Self {
        Self {
            pools: self.pools.clone(),
            after: Some(self.after.unwrap_or(0).max(position)),
            chosen: Default::default(),
        }
    }

    async fn target(&self, tenant_id: i32) -> Target {
        let mut chosen = self.chosen.lock().await;
        if let Some((target, at)) = *chosen {
            let still = match target {
                Target::Replica(i) => self.pools.inner.replicas[i].in_rotation(),
                Target::Primary => true,
            };
            if still && at.elapsed() < ROUTE_HOLD {
                return target;
            }
        }
        let target = self.pools.choose(tenant_id, self.after).await;
        *chosen = Some((target, Instant::now()));
        target
    }

    /// Runs the read `statement` where this route goes; on a replica whose connection is lost,
    /// again on the primary.
    pub async fn run<T, F, Fut>(&self, tenant_id: i32, statement: F) -> Result<T, DbErr>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let target = self.target(tenant_id).await;
        if let Target::Replica(i) = target {
            let replica = &self.pools.inner.replicas[i];
            metrics::counter!("insights_db_reads_total", "pool" => replica.name.clone())
                .increment(1);
            match statement(replica.db.clone()).await {
                Err(error) if unavailable(&error) => {
                    self.pools.lost(i);
                    *self.chosen.lock().await = Some((Target::Primary, Instant::now()));
                }
                done => return done,
            }
        }
        metrics::counter!("insights_db_reads_total", "pool" => "primary").increment(1);
        statement(self.pools.inner.primary.clone()).await
    }
}

/// Whether a replica failed as a server, not the statement: its connection broke or none
/// could be had in time.
fn unavailable(error: &DbErr) -> bool {
    connection_lost(error) || matches!(error, DbErr::ConnectionAcquire(_))
}

/// Checks that each replica is a replica of the primary (in recovery) at start, so that a
/// wrong URL is reported at once; an unreachable one is only logged.
pub async fn check_at_start(pools: &ReadPools) {
    for replica in pools.replicas() {
        match health::replay_position(&replica.db).await {
            Ok(Some(_)) => tracing::info!(replica = %replica.name, "read replica configured"),
            Ok(None) => {
                tracing::warn!(replica = %replica.name, "the read replica is not in recovery (not a standby); it stays out of rotation")
            }
            Err(error) => {
                tracing::warn!(replica = %replica.name, %error, "the read replica does not answer yet; it joins the rotation when it does")
            }
        }
    }
}
