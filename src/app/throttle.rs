//! Throttling clients that keep presenting missing or bad API keys: each such request costs a
//! hash and a database look-up, so an address that fails too often is refused for a while
//! before any of that work, with `RATE_LIMITED` and `Retry-After`.
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

#[derive(Clone)]
pub struct AuthFailures {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Arc<Mutex<lru::LruCache<IpAddr, Instant>>>,
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
        }
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
}
