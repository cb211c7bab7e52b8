//! Fair use of the connection pool: each caller (an API key; the one tenant without keys) may
//! run at most its share of database reads at once. A statement waits for one of its caller's
//! places — not for a connection — so one key firing dozens of heavy stats calls queues behind
//! itself while other keys, ingest and the subscriptions still find free connections. A read
//! that cannot get a place within [`QUEUE_WAIT`] is refused with `RATE_LIMITED` and a wait.
//!
//! The cost counted is what is scarce: a statement holds one pooled connection while it runs,
//! so a place is one statement in flight, whatever the operation (a page, a count, a stats
//! call, an OData walk).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use sea_orm::DatabaseConnection;

use super::TenantScope;
use crate::error::{ApiError, ApiResult, Busy, ErrorCode};
use crate::keys::Principal;
use crate::reads::ReadPools;

/// How long a read waits for one of its caller's places before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// The caller name of the one tenant served without keys.
pub const NO_KEY: &str = "(no key)";
/// Callers remembered before idle ones are forgotten.
const MAX_CALLERS: usize = 10_000;

/// One caller's places.
#[derive(Clone, Debug)]
pub struct ReadShare {
    places: Arc<Semaphore>,
    size: usize,
    wait: Duration,
}

impl ReadShare {
    pub fn new(size: usize) -> Self {
        Self::with_wait(size, QUEUE_WAIT)
    }

    pub fn with_wait(size: usize, wait: Duration) -> Self {
        let size = size.max(1);
        Self {
            places: Arc::new(Semaphore::new(size)),
            size,
            wait,
        }
    }

    /// A place for one statement, held while it runs; refused after waiting too long.
    pub async fn enter(&self) -> ApiResult<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.places.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a timeout means every place stayed taken.
            _ => Err(ApiError::busy(
                ErrorCode::RateLimited,
                format!(
                    "this API key already runs {} database reads at once and more are waiting; \
                     retry after the time in Retry-After",
                    self.size
                ),
                Busy {
                    retry_after: Duration::from_secs(1),
                    server: false,
                },
            )),
        }
    }

    fn idle(&self) -> bool {
        self.places.available_permits() == self.size
    }
}

/// Every caller's share, by caller name.
#[derive(Clone, Debug)]
pub struct ReadShares {
    size: usize,
    callers: Arc<Mutex<HashMap<String, ReadShare>>>,
    /// The read replicas the callers' reads go to, if any.
    replicas: Option<ReadPools>,
}

impl ReadShares {
    /// `size` places per caller.
    pub fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            callers: Arc::default(),
            replicas: None,
        }
    }

    /// The same shares, the scopes they give reading from the replicas of `pools`.
    pub fn with_replicas(mut self, pools: Option<ReadPools>) -> Self {
        self.replicas = pools;
        self
    }

    /// A scope of `principal`'s tenant for reads the server makes itself (a subscription's
    /// re-reads): no share taken, routed like the caller's.
    pub fn unshared_scope(&self, db: DatabaseConnection, principal: &Principal) -> TenantScope {
        TenantScope::new(db, principal.tenant_id).reading_from(self.replicas.as_ref())
    }

    /// Places per caller.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The scope `principal`'s reads run in: confined to its tenant, each statement taking one
    /// of its key's places (the keyless tenant's reads share one set).
    pub fn scope_for(&self, db: DatabaseConnection, principal: &Principal) -> TenantScope {
        let caller = principal.key_id.as_deref().unwrap_or(NO_KEY);
        TenantScope::new(db, principal.tenant_id)
            .sharing(self.of(caller))
            .reading_from(self.replicas.as_ref())
    }

    /// The share of `caller` (an API key's id, or [`NO_KEY`]).
    pub fn of(&self, caller: &str) -> ReadShare {
        let mut callers = self.callers.lock().expect("read shares lock");
        if let Some(share) = callers.get(caller) {
            return share.clone();
        }
        if callers.len() >= MAX_CALLERS {
            callers.retain(|_, share| !share.idle());
        }
        let share = ReadShare::new(self.size);
        callers.insert(caller.to_string(), share.clone());
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_waits_for_its_own_places_and_others_do_not() {
        let shares = ReadShares::new(2);
        let busy = ReadShare::with_wait(2, Duration::from_millis(50));
        let held = [busy.enter().await.unwrap(), busy.enter().await.unwrap()];
        let refused = busy.enter().await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        let wait = refused.busy_for().expect("a wait");
        assert!(!wait.server);
        assert!(
            refused.message().contains("2 database reads"),
            "{}",
            refused.message()
        );
        // Another caller is not affected; a place given back is taken again.
        let _other = shares.of("other").enter().await.unwrap();
        drop(held);
        let _again = busy.enter().await.unwrap();
        // One caller, one share.
        let a = shares.of("a");
        let _first = a.enter().await.unwrap();
        assert_eq!(shares.of("a").places.available_permits(), 1);
    }
}
