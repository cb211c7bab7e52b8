//! Throttling clients that keep presenting missing or bad API keys: each such request costs a
//! hash and a database look-up, so an address that fails too often is refused for a while
//! before any of that work, with `RATE_LIMITED` and `Retry-After`. A block never refuses a
//! valid key, though: everyone behind one NAT must not be locked out by one bad script. Keys
//! this process has seen to be valid pass a block at once; any other well-formed key is still
//! looked up, but only [`BLOCKED_LOOKUPS`] at a time for all blocked addresses together, so a
//! flood from them costs at most that many database connections.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Addresses remembered as refused at once (least recently refused forgotten first).
const MAX_BLOCKED: usize = 10_000;
/// Addresses whose failures the limiter tracks before forgetting quiet ones.
const MAX_TRACKED: usize = 100_000;
/// Valid keys remembered (by a hash of the secret) to let through a block.
const MAX_PROVED: usize = 10_000;
/// How long a key seen valid passes blocks without a look-up first (it is still verified).
const PROVED_FOR: Duration = Duration::from_secs(600);
/// Keys from blocked addresses looked up at once, for all of them together.
pub const BLOCKED_LOOKUPS: usize = 2;

/// What a request from a client address may do.
pub enum Admission {
    /// Not blocked, or blocked but with a key seen valid lately: served as usual.
    Open,
    /// Blocked, with a key worth looking up: served while it holds this permit.
    LookUp(tokio::sync::OwnedSemaphorePermit),
    /// Blocked: refused for this long.
    Refused(Duration),
}

#[derive(Clone)]
pub struct AuthFailures {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Arc<Mutex<lru::LruCache<IpAddr, Instant>>>,
    proved: Arc<Mutex<lru::LruCache<[u8; 32], Instant>>>,
    lookups: Arc<tokio::sync::Semaphore>,
}

fn fingerprint(secret: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes()).into()
}

impl AuthFailures {
    /// Allows `per_minute` failed authentications per address (a burst of as many), then
    /// refuses that address until its budget refills.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("non-zero");
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            blocked: Arc::new(Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(MAX_BLOCKED).expect("non-zero"),
            ))),
            proved: Arc::new(Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(MAX_PROVED).expect("non-zero"),
            ))),
            lookups: Arc::new(tokio::sync::Semaphore::new(BLOCKED_LOOKUPS)),
        }
    }

    /// Whether a request from `client` presenting `secret` (the bearer key, if any) is served.
    pub fn admit(&self, client: IpAddr, secret: Option<&str>) -> Admission {
        let Some(wait) = self.refused_for(client) else {
            return Admission::Open;
        };
        let Some(secret) = secret.filter(|s| insights_core::keys::well_formed(s)) else {
            return Admission::Refused(wait);
        };
        let proved = self
            .proved
            .lock()
            .expect("proved lock")
            .get(&fingerprint(secret))
            .is_some_and(|at| at.elapsed() < PROVED_FOR);
        if proved {
            return Admission::Open;
        }
        match Arc::clone(&self.lookups).try_acquire_owned() {
            Ok(permit) => Admission::LookUp(permit),
            Err(_) => Admission::Refused(wait),
        }
    }

    /// Remembers that `secret` was just found valid.
    pub fn proved(&self, secret: &str) {
        self.proved
            .lock()
            .expect("proved lock")
            .put(fingerprint(secret), Instant::now());
    }

    /// How long `client` must still wait, if it is refused now.
    pub fn refused_for(&self, client: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().expect("blocked lock");
        let until = *blocked.get(&client)?;
        let now = Instant::now();
        if until > now {
            Some(until - now)
        } else {
            blocked.pop(&client);
            None
        }
    }

    /// Counts a failed authentication of `client`; past its budget it is refused for a while.
    pub fn failed(&self, client: IpAddr) {
        if self.limiter.len() > MAX_TRACKED {
            self.limiter.retain_recent();
        }
        if let Err(not_until) = self.limiter.check_key(&client) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(%client, wait_secs = wait.as_secs_f64(), "too many requests with a missing or bad API key; refusing this address for a while");
            self.blocked
                .lock()
                .expect("blocked lock")
                .put(client, Instant::now() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_budget_and_others_are_not() {
        let failures = AuthFailures::new(3);
        let bad: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(failures.refused_for(bad), None);
            failures.failed(bad);
        }
        assert_eq!(failures.refused_for(bad), None, "the budget is 3 a minute");
        failures.failed(bad);
        let wait = failures
            .refused_for(bad)
            .expect("refused after the 4th failure");
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(20));
        assert_eq!(failures.refused_for(other), None);
    }

    #[tokio::test]
    async fn a_block_lets_proved_keys_in_and_looks_up_others_a_few_at_a_time() {
        let failures = AuthFailures::new(1);
        let nat: IpAddr = "203.0.113.9".parse().unwrap();
        failures.failed(nat);
        failures.failed(nat);
        let good = format!("dik_{}", "a".repeat(43));
        let unknown = format!("dik_{}", "b".repeat(43));
        assert!(matches!(failures.admit(nat, None), Admission::Refused(_)));
        assert!(matches!(
            failures.admit(nat, Some("junk")),
            Admission::Refused(_)
        ));
        let mut permits = Vec::new();
        for _ in 0..BLOCKED_LOOKUPS {
            match failures.admit(nat, Some(&unknown)) {
                Admission::LookUp(permit) => permits.push(permit),
                _ => panic!("a well-formed key is looked up"),
            }
        }
        assert!(matches!(
            failures.admit(nat, Some(&unknown)),
            Admission::Refused(_)
        ));
        failures.proved(&good);
        assert!(matches!(failures.admit(nat, Some(&good)), Admission::Open));
        drop(permits);
        assert!(matches!(
            failures.admit(nat, Some(&unknown)),
            Admission::LookUp(_)
        ));
    }
}
