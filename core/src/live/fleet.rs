//! The fleet: the `insights serve` instances on one PostgreSQL database, as one instance sees
//! them. Per-key limits hold for the fleet together, without a database write per request:
//!
//! - Each instance has a random id and sends a heartbeat `NOTIFY` on [`FLEET_CHANNEL`] every
//!   [`HEARTBEAT`], with its open subscriptions per key ([`Heartbeat`]). The PostgreSQL listener
//!   (`listener.rs`) hands every heartbeat it hears to [`Fleet::heard`]; a peer not heard for
//!   [`PEER_TIMEOUT`] no longer counts, and one that says goodbye (`bye`, when it starts to
//!   drain) stops counting at once.
//! - The per-key rate limit: each instance enforces `1 / instances()` of the budget (the service
//!   crate's `app::rate`). Behind a balancer that spreads a key's requests evenly the shares add
//!   up to the budget; a key whose requests all reach one instance gets that instance's share.
//! - The per-key subscription cap: a new subscription counts this instance's own subscriptions of
//!   the key plus what the live peers last announced ([`Fleet::peer_subscriptions`]).
//! - A newcomer is answered at once: an instance that hears an id it does not count yet sends its
//!   own heartbeat early, so a new instance learns of its peers within milliseconds, not a
//!   heartbeat later. Own changes (a subscription opened or closed) are announced early too,
//!   at most every [`MIN_GAP`].
//!
//! On SQLite there is one serving process and no `NOTIFY`: the fleet is this instance alone.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgPool, PgPoolOptions};
use sea_orm::{DatabaseConnection, DbBackend};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The PostgreSQL notification channel of heartbeats.
pub const FLEET_CHANNEL: &str = "insights_fleet";
/// How often an instance announces itself.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A peer not heard for this long no longer counts (three heartbeats missed).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(3);
/// The shortest time between two heartbeats of one instance (early ones included).
pub const MIN_GAP: Duration = Duration::from_millis(100);
/// PostgreSQL refuses a payload of 8,000 bytes or more; a heartbeat stays below this.
const MAX_PAYLOAD_BYTES: usize = 7000;

/// What an instance announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The instance's random id.
    #[serde(rename = "i")]
    pub instance: String,
    /// Open subscriptions per key (only keys that hold some), the most first.
    #[serde(rename = "s", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subscriptions: BTreeMap<String, usize>,
    /// Keys were left out to stay under the payload limit (those with the fewest).
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// The instance is leaving (draining): count it no more.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bye: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Heartbeat {
    /// The heartbeat of `instance` holding `subscriptions`, as a `NOTIFY` payload: keys with
    /// the most subscriptions first, as many as fit under PostgreSQL's limit (`truncated` says
    /// when some did not; key ids are short, so that takes some 300 keys with subscriptions
    /// open on one instance).
    pub fn payload(instance: &str, subscriptions: &HashMap<String, usize>) -> (String, bool) {
        let mut keys: Vec<(&String, &usize)> =
            subscriptions.iter().filter(|(_, n)| **n > 0).collect();
        keys.sort_unstable_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        // `{"i":"…","s":{},"truncated":true}`, then `"key":n,` per key.
        let mut size = instance.len() + 40;
        let mut kept = BTreeMap::new();
        let mut truncated = false;
        for (key, n) in keys {
            let entry = serde_json::to_string(key).map_or(key.len() + 2, |k| k.len())
                + n.to_string().len()
                + 2;
            if size + entry > MAX_PAYLOAD_BYTES {
                truncated = true;
                break;
            }
            size += entry;
            kept.insert(key.clone(), *n);
        }
        let heartbeat = Heartbeat {
            instance: instance.to_string(),
            subscriptions: kept,
            truncated,
            bye: false,
        };
        (heartbeat.to_payload(), truncated)
    }

    /// The goodbye of `instance`.
    pub fn bye(instance: &str) -> String {
        Heartbeat {
            instance: instance.to_string(),
            subscriptions: BTreeMap::new(),
            truncated: false,
            bye: true,
        }
        .to_payload()
    }

    fn to_payload(&self) -> String {
        serde_json::to_string(self).expect("a heartbeat serialises")
    }

    /// Reads one payload written by [`Heartbeat::payload`] or [`Heartbeat::bye`].
    pub fn from_payload(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

struct Peer {
    heard: Instant,
    subscriptions: HashMap<String, usize>,
}

struct Inner {
    id: String,
    peers: Mutex<HashMap<String, Peer>>,
    /// Wakes the heartbeat early: own subscriptions changed, a newcomer, leaving.
    nudge: Notify,
    leaving: AtomicBool,
}

/// This instance's view of the fleet. One per serving process (cheap to clone).
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

impl Fleet {
    /// A fleet of this instance alone so far, under a fresh random id.
    pub fn new() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            inner: Arc::new(Inner {
                id: hex::encode(bytes),
                peers: Mutex::new(HashMap::new()),
                nudge: Notify::new(),
                leaving: AtomicBool::new(false),
            }),
        }
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Instances counted now: this one and every peer heard within [`PEER_TIMEOUT`].
    pub fn instances(&self) -> usize {
        let peers = self.inner.peers.lock().expect("fleet lock");
        1 + peers.values().filter(|p| live(p)).count()
    }

    /// Subscriptions of `key` the live peers last announced.
    pub fn peer_subscriptions(&self, key: &str) -> usize {
        let peers = self.inner.peers.lock().expect("fleet lock");
        peers
            .values()
            .filter(|p| live(p))
            .filter_map(|p| p.subscriptions.get(key))
            .sum()
    }

    /// Records a heartbeat heard on the channel (this instance's own are ignored).
    pub fn heard(&self, heartbeat: Heartbeat) {
        if heartbeat.instance == self.inner.id {
            return;
        }
        let mut peers = self.inner.peers.lock().expect("fleet lock");
        if heartbeat.bye {
            if peers.remove(&heartbeat.instance).is_some_and(|p| live(&p)) {
                let instances = 1 + peers.values().filter(|p| live(p)).count();
                tracing::info!(peer = %heartbeat.instance, instances, "fleet: an instance left");
                metrics::gauge!("insights_fleet_instances").set(instances as f64);
            }
            return;
        }
        let newcomer = !peers.get(&heartbeat.instance).is_some_and(live);
        peers.insert(
            heartbeat.instance.clone(),
            Peer {
                heard: Instant::now(),
                subscriptions: heartbeat.subscriptions.into_iter().collect(),
            },
        );
        if newcomer {
            let instances = 1 + peers.values().filter(|p| live(p)).count();
            drop(peers);
            tracing::info!(peer = %heartbeat.instance, instances, "fleet: an instance joined");
            metrics::gauge!("insights_fleet_instances").set(instances as f64);
            // Answer at once, so the newcomer counts this instance before its next heartbeat.
            self.nudge();
        }
    }

    /// This instance's subscriptions changed: announce them soon rather than a heartbeat later.
    pub fn nudge(&self) {
        self.inner.nudge.notify_one();
    }

    /// This instance stops announcing itself and says goodbye (on shutdown, as it starts to
    /// drain), so that its peers take over its share at once.
    pub fn leave(&self) {
        self.inner.leaving.store(true, Ordering::SeqCst);
        self.nudge();
    }

    /// Forgets peers long gone; logs those that stopped counting; the gauges.
    fn expire(&self) {
        let mut peers = self.inner.peers.lock().expect("fleet lock");
        peers.retain(|id, peer| {
            let silent = peer.heard.elapsed();
            if silent >= PEER_TIMEOUT && silent < PEER_TIMEOUT + HEARTBEAT {
                tracing::warn!(peer = %id, silent_ms = silent.as_millis() as u64, "fleet: an instance is no longer heard; it counts no more");
            }
            silent < PEER_TIMEOUT * 10
        });
        let live_peers: Vec<&Peer> = peers.values().filter(|p| live(p)).collect();
        metrics::gauge!("insights_fleet_instances").set((1 + live_peers.len()) as f64);
        let subscriptions: usize = live_peers
            .iter()
            .map(|p| p.subscriptions.values().sum::<usize>())
            .sum();
        metrics::gauge!("insights_fleet_peer_subscriptions").set(subscriptions as f64);
    }
}

fn live(peer: &Peer) -> bool {
    peer.heard.elapsed() < PEER_TIMEOUT
}

/// Starts this instance's heartbeat when `db` is PostgreSQL (on SQLite the fleet is this
/// instance alone). `own` gives this instance's open subscriptions per key, `None` once the
/// serving side is gone (the heartbeat then says goodbye and stops). Call once the listener
/// listens, so that the answers to the first heartbeat are heard.
pub fn spawn(
    db: &DatabaseConnection,
    fleet: &Fleet,
    own: impl Fn() -> Option<HashMap<String, usize>> + Send + 'static,
) {
    metrics::gauge!("insights_fleet_instances").set(1.0);
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let options = db.get_postgres_connection_pool().connect_options();
    // A connection of its own: a heartbeat never waits behind the requests' pool.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(HEARTBEAT)
        .connect_lazy_with((*options).clone());
    let fleet = fleet.clone();
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            let counts = own().filter(|_| !fleet.inner.leaving.load(Ordering::SeqCst));
            let (payload, truncated) = match &counts {
                Some(counts) => Heartbeat::payload(fleet.id(), counts),
                None => (Heartbeat::bye(fleet.id()), false),
            };
            if truncated {
                metrics::counter!("insights_fleet_heartbeats_truncated_total").increment(1);
            }
            match send(&pool, &payload).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("fleet: heartbeats sent again");
                }
                Ok(()) => {}
                Err(error) => {
                    metrics::counter!("insights_fleet_heartbeats_failed_total").increment(1);
                    if !failing {
                        failing = true;
                        tracing::warn!(%error, "fleet: cannot send this instance's heartbeat; peers stop counting it after {} s", PEER_TIMEOUT.as_secs());
                    }
                }
            }
            if counts.is_none() {
                tracing::info!(instance = %fleet.id(), "fleet: left");
                pool.close().await;
                return;
            }
            fleet.expire();
            tokio::time::sleep(MIN_GAP).await;
            tokio::select! {
                () = tokio::time::sleep(HEARTBEAT - MIN_GAP) => {}
                () = fleet.inner.nudge.notified() => {}
            }
        }
    });
}

async fn send(pool: &PgPool, payload: &str) -> Result<(), sea_orm::sqlx::Error> {
    sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
        .bind(FLEET_CHANNEL)
        .bind(payload)
        .execute(pool)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_stays_under_the_limit_keeping_the_keys_with_most_subscriptions() {
        let counts: HashMap<String, usize> = (0..2000)
            .map(|i| (format!("key_{i:012x}"), 1 + i % 97))
            .collect();
        let (payload, truncated) = Heartbeat::payload("0123456789abcdef", &counts);
        assert!(truncated);
        assert!(payload.len() < 8000, "{} bytes", payload.len());
        let back = Heartbeat::from_payload(&payload).unwrap();
        assert!(back.truncated);
        assert!(
            back.subscriptions.len() > 250,
            "{}",
            back.subscriptions.len()
        );
        let least_kept = back.subscriptions.values().min().unwrap();
        let most_left_out = counts
            .iter()
            .filter(|(k, _)| !back.subscriptions.contains_key(*k))
            .map(|(_, n)| n)
            .max()
            .unwrap();
        assert!(least_kept >= most_left_out);

        let few: HashMap<String, usize> = [("key_a".to_string(), 3), ("key_b".to_string(), 0)]
            .into_iter()
            .collect();
        let (payload, truncated) = Heartbeat::payload("x", &few);
        assert!(!truncated);
        let back = Heartbeat::from_payload(&payload).unwrap();
        assert_eq!(back.subscriptions, [("key_a".to_string(), 3)].into());
        assert!(!back.bye);
        assert!(Heartbeat::from_payload(&Heartbeat::bye("x")).unwrap().bye);
    }

    #[test]
    fn peers_count_while_heard_and_stop_on_goodbye() {
        let fleet = Fleet::new();
        assert_eq!(fleet.instances(), 1);
        let own = Heartbeat::from_payload(&Heartbeat::payload(fleet.id(), &HashMap::new()).0);
        fleet.heard(own.unwrap());
        assert_eq!(fleet.instances(), 1, "its own heartbeat is not a peer");
        for (peer, n) in [("p1", 2), ("p2", 5)] {
            let counts = [("key_a".to_string(), n)].into_iter().collect();
            fleet.heard(Heartbeat::from_payload(&Heartbeat::payload(peer, &counts).0).unwrap());
        }
        assert_eq!(fleet.instances(), 3);
        assert_eq!(fleet.peer_subscriptions("key_a"), 7);
        assert_eq!(fleet.peer_subscriptions("key_b"), 0);
        fleet.heard(Heartbeat::from_payload(&Heartbeat::bye("p2")).unwrap());
        assert_eq!(fleet.instances(), 2);
        assert_eq!(fleet.peer_subscriptions("key_a"), 2);
        // Silent too long: no longer counted.
        fleet
            .inner
            .peers
            .lock()
            .unwrap()
            .get_mut("p1")
            .unwrap()
            .heard -= PEER_TIMEOUT;
        assert_eq!(fleet.instances(), 1);
        assert_eq!(fleet.peer_subscriptions("key_a"), 0);
    }
}
