//! The serving process's side of subscriptions: the open WebSocket connections and the
//! subscriptions on them, the per-key cap (over the whole fleet on PostgreSQL, see
//! [`super::fleet`]), the re-check that ends a revoked key's connections, and closing every
//! connection on shutdown.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::api_key;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::Notify;

use super::fleet::{self, Fleet};
use super::Announcer;
use crate::error::{ApiError, ErrorCode};

/// How subscriptions are bounded.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// Open subscriptions one API key may hold, over all its connections on every instance of
    /// the fleet.
    pub max_subscriptions_per_key: usize,
    /// How often the server pings a connection (graphql-transport-ws `ping`); a client that
    /// sends nothing for three times this long is disconnected.
    pub ping_interval: Duration,
    /// How often the keys of open connections are checked for revocation.
    pub key_recheck: Duration,
    /// How long one message may take to reach the client's socket before the connection is
    /// dropped as stuck.
    pub send_timeout: Duration,
}

impl Default for LiveLimits {
    fn default() -> Self {
        Self {
            max_subscriptions_per_key: 100,
            ping_interval: Duration::from_secs(15),
            key_recheck: Duration::from_secs(2),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// WebSocket close codes this server uses (graphql-transport-ws's own, and RFC 6455's).
pub mod close {
    /// The server is going away (shutdown): reconnect, perhaps to another instance.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame that breaks the WebSocket protocol itself (RFC 6455), e.g. an unmasked frame.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message or frame over the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// A subscriber fell further behind than its buffer: reconnect and catch up by a query.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// graphql-transport-ws: a message that is not one of the protocol's.
    pub const BAD_REQUEST: u16 = 4400;
    /// graphql-transport-ws: no valid key (also: subscribe before the acknowledgement, a key
    /// revoked while connected).
    pub const UNAUTHORIZED: u16 = 4401;
    /// A key without the `read` scope.
    pub const FORBIDDEN: u16 = 4403;
    /// graphql-transport-ws: no `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// graphql-transport-ws: a second subscription with an id still in use.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// graphql-transport-ws: an unexpected server error.
    pub const INTERNAL: u16 = 4500;
}

/// Asks one connection to close: set by whoever decides (revocation, shutdown, a lagging
/// subscriber), acted on by the connection's task.
#[derive(Default)]
pub struct Control {
    reason: Mutex<Option<(u16, String)>>,
    notify: Notify,
}

impl Control {
    /// Closes the connection with `code` and `reason` (the first request wins).
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let mut current = self.reason.lock().expect("control lock");
        if current.is_none() {
            *current = Some((code, reason.into()));
        }
        drop(current);
        self.notify.notify_one();
    }

    /// Waits until [`Self::close`] is called; gives its code and reason.
    pub async fn closed(&self) -> (u16, String) {
        loop {
            if let Some(reason) = self.reason.lock().expect("control lock").clone() {
                return reason;
            }
            self.notify.notified().await;
        }
    }
}

struct Connection {
    key_id: Option<String>,
    control: Arc<Control>,
}

#[derive(Default)]
struct State {
    connections: HashMap<u64, Connection>,
    /// Open subscriptions per key (the key's id, or `-` without auth).
    subscriptions: HashMap<String, usize>,
    shutting_down: bool,
}

/// One per serving process.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    announcer: Announcer,
    limits: LiveLimits,
    /// The instances on the same database, whose subscriptions count against the cap too.
    fleet: Fleet,
    state: Mutex<State>,
    next_id: AtomicU64,
    /// Notified whenever a connection goes away (for [`Hub::wait_closed`]).
    gone: Notify,
}

/// A registered connection; unregisters on drop.
pub struct ConnectionGuard {
    hub: Hub,
    id: u64,
    pub control: Arc<Control>,
}

impl ConnectionGuard {
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.hub
            .inner
            .state
            .lock()
            .expect("hub lock")
            .connections
            .remove(&self.id);
        self.hub.inner.gone.notify_waiters();
    }
}

/// One open subscription, counted against its key while it lives.
pub struct SubscriptionPermit {
    hub: Hub,
    key: String,
}

impl Drop for SubscriptionPermit {
    fn drop(&mut self) {
        let mut state = self.hub.inner.state.lock().expect("hub lock");
        if let Some(n) = state.subscriptions.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.subscriptions.remove(&self.key);
            }
        }
        drop(state);
        self.hub.inner.fleet.nudge();
        metrics::gauge!("insights_subscriptions_open").decrement(1.0);
    }
}

impl Hub {
    /// A hub whose fleet is this instance alone until it hears of peers.
    pub fn new(announcer: Announcer, limits: LiveLimits) -> Self {
        Self::with_fleet(announcer, limits, Fleet::new())
    }

    /// A hub counting its subscription cap over `fleet`.
    pub fn with_fleet(announcer: Announcer, limits: LiveLimits, fleet: Fleet) -> Self {
        Self {
            inner: Arc::new(Inner {
                announcer,
                limits,
                fleet,
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(1),
                gone: Notify::new(),
            }),
        }
    }

    pub fn announcer(&self) -> &Announcer {
        &self.inner.announcer
    }

    pub fn limits(&self) -> LiveLimits {
        self.inner.limits
    }

    /// The instances on the same database, as this one sees them.
    pub fn fleet(&self) -> &Fleet {
        &self.inner.fleet
    }

    /// Registers a connection (with the key it authenticated with, if any); `None` once the
    /// server is shutting down.
    pub fn register(&self, key_id: Option<String>) -> Option<ConnectionGuard> {
        let mut state = self.inner.state.lock().expect("hub lock");
        if state.shutting_down {
            return None;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let control = Arc::new(Control::default());
        state.connections.insert(
            id,
            Connection {
                key_id,
                control: control.clone(),
            },
        );
        Some(ConnectionGuard {
            hub: self.clone(),
            id,
            control,
        })
    }

    /// Records the key a connection authenticated with (for the revocation re-check).
    pub fn identify(&self, id: u64, key_id: Option<String>) {
        if let Some(connection) = self
            .inner
            .state
            .lock()
            .expect("hub lock")
            .connections
            .get_mut(&id)
        {
            connection.key_id = key_id;
        }
    }

    /// Opens a subscription for `key`, or refuses it when the key holds its cap already: its
    /// subscriptions here and those the fleet's other instances last announced.
    pub fn subscribe(&self, key: Option<&str>) -> Result<SubscriptionPermit, ApiError> {
        let key = key.unwrap_or("-").to_string();
        let max = self.inner.limits.max_subscriptions_per_key;
        let elsewhere = self.inner.fleet.peer_subscriptions(&key);
        let mut state = self.inner.state.lock().expect("hub lock");
        let open = state.subscriptions.entry(key.clone()).or_insert(0);
        if *open + elsewhere >= max {
            if *open == 0 {
                state.subscriptions.remove(&key);
            }
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "this API key has {max} open subscriptions, the most it may hold (on all \
                     instances together); complete one before starting another"
                ),
            ));
        }
        *open += 1;
        drop(state);
        self.inner.fleet.nudge();
        metrics::gauge!("insights_subscriptions_open").increment(1.0);
        Ok(SubscriptionPermit {
            hub: self.clone(),
            key,
        })
    }

    /// Open subscriptions in this process.
    pub fn open_subscriptions(&self) -> usize {
        self.inner
            .state
            .lock()
            .expect("hub lock")
            .subscriptions
            .values()
            .sum()
    }

    /// Open connections in this process.
    pub fn open_connections(&self) -> usize {
        self.inner.state.lock().expect("hub lock").connections.len()
    }

    /// Closes every connection (1001, going away) and refuses new ones; leaves the fleet.
    pub fn shutdown(&self) {
        self.inner.fleet.leave();
        let mut state = self.inner.state.lock().expect("hub lock");
        state.shutting_down = true;
        for connection in state.connections.values() {
            connection
                .control
                .close(close::GOING_AWAY, "the server is shutting down");
        }
    }

    /// Waits until every connection has gone, at most `limit`.
    pub async fn wait_closed(&self, limit: Duration) {
        let wait = async {
            loop {
                let gone = self.inner.gone.notified();
                if self.open_connections() == 0 {
                    return;
                }
                gone.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Starts this instance's fleet heartbeat (PostgreSQL), announcing its open subscriptions
    /// per key; it says goodbye when the hub is dropped by everyone else.
    pub fn spawn_fleet_heartbeat(&self, db: &DatabaseConnection) {
        let weak = Arc::downgrade(&self.inner);
        fleet::spawn(db, &self.inner.fleet, move || {
            let inner = weak.upgrade()?;
            let state = inner.state.lock().expect("hub lock");
            Some(state.subscriptions.clone())
        });
    }

    /// Every `key_recheck`, closes the connections whose key was revoked (or deleted) since
    /// they authenticated. Runs until the hub is dropped by everyone else.
    pub fn spawn_key_recheck(&self, db: DatabaseConnection) {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.limits.key_recheck;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let hub = Hub { inner };
                hub.recheck_keys(&db).await;
            }
        });
    }

    async fn recheck_keys(&self, db: &DatabaseConnection) {
        let mut keys: Vec<String> = {
            let state = self.inner.state.lock().expect("hub lock");
            state
                .connections
                .values()
                .filter_map(|c| c.key_id.clone())
                .collect()
        };
        if keys.is_empty() {
            return;
        }
        keys.sort_unstable();
        keys.dedup();
        let mut live = std::collections::HashSet::new();
        for chunk in keys.chunks(500) {
            match api_key::Entity::find()
                .filter(api_key::Column::Id.is_in(chunk.iter().cloned()))
                .filter(api_key::Column::RevokedAtMs.is_null())
                .all(db)
                .await
            {
                Ok(rows) => live.extend(rows.into_iter().map(|k| k.id)),
                Err(error) => {
                    // The database is away: check again next time rather than closing everyone.
                    tracing::warn!(%error, "could not re-check the keys of open subscriptions");
                    return;
                }
            }
        }
        let state = self.inner.state.lock().expect("hub lock");
        for connection in state.connections.values() {
            if let Some(key) = &connection.key_id {
                if !live.contains(key) {
                    tracing::info!(key = %key, "closing a connection of a revoked API key");
                    connection
                        .control
                        .close(close::UNAUTHORIZED, "the API key was revoked");
                }
            }
        }
    }
}
