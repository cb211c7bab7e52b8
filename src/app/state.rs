//! The application's state, shared by every front door (GraphQL over HTTP and WebSocket,
//! OData): the database, the schema, who may call, and the limits that hold for every door.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use sea_orm::DatabaseConnection;

use super::throttle::AuthFailures;
use crate::graphql::InsightsSchema;
use insights_core::error::ApiResult;
use insights_core::keys::Principal;
use insights_core::live::hub::Hub;
use insights_core::live::position::ChangePosition;
use insights_core::query::{ReadShares, TenantScope};

/// The response header naming the commit a mutation made (its tenant's commit position).
pub const COMMIT_POSITION: &str = "insights-commit-position";
/// The request header asking for reads that see a commit.
pub const READ_AFTER: &str = "insights-read-after";

/// Who may call: anyone as one tenant (`--no-auth`, loopback only), or holders of API keys.
#[derive(Clone, Debug)]
pub enum Access {
    Open { tenant_id: i32 },
    ApiKeys,
}

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: InsightsSchema,
    pub access: Access,
    /// The per-key rate limit, this instance's share of it (`--rate-limit`).
    pub(crate) limiter: super::rate::KeyRates,
    /// Whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub(crate) trusted_proxies: super::client::TrustedProxies,
    /// When each key's `last used` was last written (written at most once a minute).
    pub(crate) touched: Arc<Mutex<HashMap<String, Instant>>>,
    pub(crate) request_timeout: Duration,
    /// Most entities in one OData response.
    pub(crate) odata_page_size: usize,
    /// Most rows one stats call may produce (`--max-stats-rows`), for OData's `QueueIntervals`.
    pub(crate) max_stats_rows: usize,
    /// Automatic persisted queries: texts by their SHA-256.
    pub(crate) persisted: crate::graphql::apq::PersistedQueries,
    /// `max-age` of successful GET answers.
    pub(crate) get_max_age_secs: u64,
    /// Subscriptions: the WebSocket connections and SSE streams of this process.
    pub hub: Hub,
    pub(crate) max_body_bytes: usize,
    /// How often an idle Server-Sent Events stream gets a comment line.
    pub(crate) sse_keepalive: Duration,
    pub(crate) auth_failures: AuthFailures,
    /// Set on SIGTERM: /readyz answers 503 while requests still run.
    pub drain: Drain,
    /// On PostgreSQL: whether the live-update listener listens (see `/readyz`).
    pub(crate) listening: Option<tokio::sync::watch::Receiver<bool>>,
    /// WebSockets not acknowledged yet, per client address.
    pub(crate) pending_sockets: crate::http::pending::PendingSockets,
    /// How long a new WebSocket has to be acknowledged.
    pub(crate) ws_init_timeout: Duration,
    /// Each caller's places in the pool (`--reads-per-key`).
    pub(crate) read_shares: ReadShares,
    /// Longest URI and most header bytes a request may have.
    pub(crate) head_limits: crate::http::head_limits::HeadLimits,
}

impl AppState {
    /// The tenant scope a caller's reads run in: confined to its tenant, each statement taking
    /// one of the caller's places in the pool.
    pub fn scope_for(&self, principal: &Principal) -> TenantScope {
        self.read_shares.scope_for(self.db.clone(), principal)
    }

    /// The scope of a request: [`Self::scope_for`], whose reads see the commit the request names
    /// in `Insights-Read-After`, if it names one (read-your-writes across replicas). A header
    /// that is not one of the tenant's commit positions is BAD_USER_INPUT.
    pub fn scope_for_request(
        &self,
        principal: &Principal,
        headers: &HeaderMap,
    ) -> ApiResult<TenantScope> {
        let scope = self.scope_for(principal);
        let Some(value) = headers.get(READ_AFTER) else {
            return Ok(scope);
        };
        let text = value.to_str().unwrap_or("").trim();
        let position = ChangePosition::decode_commit(text, principal.tenant_id)?;
        Ok(scope.reading_after(position.commit))
    }
}

/// Whether the process is shutting down (SIGTERM received).
#[derive(Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The request's id: the client's `x-request-id` when it is sane, else a fresh one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            use rand::RngCore;
            let mut bytes = [0u8; 8];
            rand::rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        })
}
