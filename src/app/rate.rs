//! The per-key rate limit (`--rate-limit` requests per second, bursts of twice that), held for
//! the whole fleet of instances on one database without a database write per request: each
//! instance enforces its share, the budget divided by the instances it counts
//! ([`Fleet::instances`]).
//!
//! One keyed GCRA limiter holds the whole budget (`rate` cells a second, a burst of `2 × rate`
//! cells), and a request costs as many cells as there are instances: with three, a request
//! takes three cells, so this instance admits a third of the rate and a third of the burst.
//! When the fleet grows or shrinks only the price changes; each key's state is kept (no
//! limiter is rebuilt, no key gets a fresh burst). A price above the burst is capped at it (a
//! fleet of more than `2 × rate` instances): each instance then admits one request per burst
//! refill, so the fleet admits somewhat more than the budget.
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use insights_core::live::fleet::Fleet;

#[derive(Clone)]
pub struct KeyRates {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    burst: NonZeroU32,
    fleet: Fleet,
}

impl KeyRates {
    /// `per_second` requests a second per key for the whole `fleet`, bursts of twice that.
    pub fn new(per_second: u32, fleet: Fleet) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).expect("non-zero");
        let burst = NonZeroU32::new(per_second.max(1).saturating_mul(2)).expect("non-zero");
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            burst,
            fleet,
        }
    }

    /// Counts one request of `key_id` against this instance's share; how long to wait when
    /// the share is spent.
    #[allow(clippy::ptr_arg)] // the limiter's keys are `String`s: no copy per request
    pub fn spend(&self, key_id: &String) -> Result<(), Duration> {
        let instances = u32::try_from(self.fleet.instances()).unwrap_or(u32::MAX);
        let price = NonZeroU32::new(instances.clamp(1, self.burst.get())).expect("non-zero");
        match self.limiter.check_key_n(key_id, price) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
            // The price is never above the burst.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use insights_core::live::fleet::Heartbeat;

    fn peer(fleet: &Fleet, id: &str) {
        let payload = Heartbeat::payload(id, &Default::default()).0;
        fleet.heard(Heartbeat::from_payload(&payload).unwrap());
    }

    /// Requests passed at once (the burst) before the first refusal.
    fn burst(rates: &KeyRates, key: &String) -> usize {
        (0..1000).take_while(|_| rates.spend(key).is_ok()).count()
    }

    #[test]
    fn each_instance_admits_its_share_of_the_burst() {
        let fleet = Fleet::new();
        let rates = KeyRates::new(30, fleet.clone());
        let key = "key_a".to_string();
        assert_eq!(burst(&rates, &key), 60, "alone: the whole burst");
        peer(&fleet, "p1");
        peer(&fleet, "p2");
        let other = "key_b".to_string();
        assert_eq!(burst(&rates, &other), 20, "one of three: a third");
        let wait = rates.spend(&other).unwrap_err();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}: three cells at 30 a second"
        );
    }

    #[test]
    fn a_price_above_the_burst_is_capped() {
        let fleet = Fleet::new();
        for i in 0..5 {
            peer(&fleet, &format!("p{i}"));
        }
        let rates = KeyRates::new(1, fleet);
        assert_eq!(burst(&rates, &"key_a".to_string()), 1);
    }
}
