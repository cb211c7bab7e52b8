//! What the two subscription transports share: WebSocket (graphql-transport-ws, [`super::ws`])
//! and Server-Sent Events (graphql-sse, [`super::sse`]) run a subscription the same way.
//!
//! - A transport connection registers with the process's [`Hub`] ([`register`]): that is what
//!   shutdown closes, what the revocation re-check walks, and what `wait_closed` waits for.
//! - Once the caller is known ([`Registration::session`]), the connection's key is recorded
//!   for the re-check and the operation's data is built: the tenant scope, an endpoint loader
//!   without cache, the key's scopes, and the [`LiveSession`] through which the subscription
//!   resolvers take a place under the key's cap and can ask the connection to close.
//! - The operation then runs through the schema's own stream
//!   ([`crate::graphql::InsightsSchema::execute_stream`], the same guards as every request); each transport only
//!   words its results and its endings (a close frame, or an SSE `complete`).
use std::sync::Arc;

use async_graphql::Data;

use crate::graphql::loader::EndpointLoader;
use crate::graphql::subscription::LiveSession;
use insights_core::keys::{Principal, Scope};
use insights_core::live::hub::{ConnectionGuard, Control, Hub};
use insights_core::query::TenantScope;

/// Why a key may not subscribe although it is valid.
pub const NO_READ_SCOPE: &str = "this API key lacks the `read` scope";

/// Whether a principal may open subscriptions at all (the subscriptions read: `read` scope).
pub fn may_subscribe(principal: &Principal) -> Result<(), &'static str> {
    if principal.scopes.contains(Scope::Read) {
        Ok(())
    } else {
        Err(NO_READ_SCOPE)
    }
}

/// A connection's registration as its operations see it (cheap to clone into callbacks); the
/// [`ConnectionGuard`] that [`register`] returns with it unregisters when dropped.
#[derive(Clone)]
pub struct Registration {
    hub: Hub,
    control: Arc<Control>,
    id: u64,
}

/// Registers a connection with the hub, its key not known yet (WebSocket: before
/// `connection_init`) or known (SSE); `None` once the server is shutting down.
pub fn register(hub: &Hub, key_id: Option<String>) -> Option<(ConnectionGuard, Registration)> {
    let guard = hub.register(key_id)?;
    let registration = Registration {
        hub: hub.clone(),
        control: guard.control.clone(),
        id: guard.id(),
    };
    Some((guard, registration))
}

impl Registration {
    /// What asks this connection to close (shutdown, a revoked key, a subscriber that fell
    /// behind), with a close code and a reason.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// The data every operation of the connection runs with, once `principal` is known; the
    /// key is recorded for the revocation re-check. Queries and mutations sent on the
    /// connection read through `shared` (the key's share of the pool, as over HTTP); the
    /// subscriptions' own reads go through `own`, which takes no share.
    pub fn session(&self, principal: &Principal, own: TenantScope, shared: TenantScope) -> Data {
        self.hub.identify(self.id, principal.key_id.clone());
        let scope = own;
        // No cache across events: every event reads current endpoints, and a long-lived
        // connection holds none of them.
        let loader = EndpointLoader::new(scope.clone());
        loader.enable_all_cache(false);
        let mut data = Data::default();
        data.insert(LiveSession {
            hub: self.hub.clone(),
            key_id: principal.key_id.clone(),
            control: self.control.clone(),
            scope,
        });
        data.insert(shared);
        data.insert(loader);
        data.insert(principal.scopes.clone());
        data
    }
}
