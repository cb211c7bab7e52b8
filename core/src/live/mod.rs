//! Live updates: what a commit changed, delivered to the subscribers of every process.
//!
//! A writer (the importer, the ingest mutations) announces the dialogues a transaction inserted or
//! changed *inside* that transaction ([`Announcer::within`]) and again after it commits
//! ([`Announcer::committed`]). On PostgreSQL the first is a `NOTIFY`, which the database delivers
//! when, and only if, the transaction commits, in commit order, to every process listening on
//! [`CHANNEL`] (this one included); the second then does nothing. SQLite has no `NOTIFY`, so there
//! the second hands the event to this process's own subscribers. Either way subscribers see each
//! committed change once, through [`Announcer::subscribe`].
//!
//! An announcement is only a nudge: it names the commit's change position ([`position`]), and a
//! subscriber reads what changed from the database, in position order, from the last position it
//! delivered ([`follow`]). So an announcement heard late, out of order or not at all (a
//! subscriber that fell behind its buffer, a listener that lost the database) loses nothing:
//! the next read catches up.
//!
//! The same listener hears the heartbeats of the other instances on the database ([`fleet`]),
//! over which the per-key rate limit and subscription cap hold.
pub mod fleet;
pub mod follow;
pub mod hub;
pub mod listener;
pub mod position;

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "insights_dialogues";

/// PostgreSQL refuses a payload of 8,000 bytes or more; ids are chunked below that.
const MAX_PAYLOAD_BYTES: usize = 7000;

/// Dialogues that one committed transaction inserted or changed, in the order it wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialoguesCommitted {
    #[serde(rename = "t")]
    pub tenant_id: i32,
    /// The commit's change position ([`position`]).
    #[serde(rename = "p")]
    pub position: i64,
    pub ids: Vec<String>,
}

/// What subscribers hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// A commit changed dialogues.
    Committed(DialoguesCommitted),
    /// Commits may have gone unannounced (the PostgreSQL listener lost the database and listens
    /// again): every subscriber catches up from the database.
    MayHaveMissed,
}

impl DialoguesCommitted {
    /// The event as `NOTIFY` payloads, each under PostgreSQL's limit (ids are at most 255 bytes).
    pub fn payloads(&self) -> Vec<String> {
        let mut payloads = Vec::new();
        let mut chunk: Vec<&str> = Vec::new();
        let mut size = 0;
        for id in &self.ids {
            let encoded = serde_json::to_string(id)
                .map(|s| s.len())
                .unwrap_or(id.len());
            if !chunk.is_empty() && size + encoded + 1 > MAX_PAYLOAD_BYTES {
                payloads.push(self.payload(&chunk));
                chunk.clear();
                size = 0;
            }
            size += encoded + 1;
            chunk.push(id);
        }
        if !chunk.is_empty() {
            payloads.push(self.payload(&chunk));
        }
        payloads
    }

    fn payload(&self, ids: &[&str]) -> String {
        serde_json::json!({ "t": self.tenant_id, "p": self.position, "ids": ids }).to_string()
    }

    /// Reads one payload written by [`DialoguesCommitted::payloads`].
    pub fn from_payload(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

/// The in-process side of announcements: one per process, shared by writers and subscribers.
#[derive(Clone)]
pub struct Announcer {
    events: broadcast::Sender<Arc<Announcement>>,
}

impl Default for Announcer {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl Announcer {
    /// `capacity` events are kept for a slow subscriber before it lags.
    pub fn new(capacity: usize) -> Self {
        let (events, _) = broadcast::channel(capacity.max(1));
        Self { events }
    }

    /// Committed changes from now on, from every writer this process hears of.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Announcement>> {
        self.events.subscribe()
    }

    /// Inside the writing transaction, before it commits. On PostgreSQL this is the `NOTIFY`
    /// that reaches every listening process at commit; elsewhere it does nothing.
    pub async fn within<C: ConnectionTrait>(
        txn: &C,
        event: &DialoguesCommitted,
    ) -> Result<(), DbErr> {
        if txn.get_database_backend() != DbBackend::Postgres || event.ids.is_empty() {
            return Ok(());
        }
        for payload in event.payloads() {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// After the transaction committed. SQLite has no `NOTIFY`: the event goes to this
    /// process's subscribers here. On PostgreSQL they hear it from the listener instead.
    pub fn committed(&self, backend: DbBackend, event: DialoguesCommitted) {
        if backend != DbBackend::Postgres && !event.ids.is_empty() {
            self.deliver(event);
        }
    }

    /// Hands an event to this process's subscribers (the PostgreSQL listener calls this for
    /// each notification it receives).
    pub fn deliver(&self, event: DialoguesCommitted) {
        // No receiver is not an error: nobody is subscribed.
        let _ = self.events.send(Arc::new(Announcement::Committed(event)));
    }

    /// Tells this process's subscribers that commits may have gone unannounced.
    pub fn may_have_missed(&self) {
        let _ = self.events.send(Arc::new(Announcement::MayHaveMissed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_the_limit_and_keep_every_id_in_order() {
        let ids: Vec<String> = (0..1000).map(|i| format!("{i:0>40}\"\\")).collect();
        let event = DialoguesCommitted {
            tenant_id: 7,
            position: 12,
            ids: ids.clone(),
        };
        let payloads = event.payloads();
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < 8000, "payload of {} bytes", p.len());
            let e = DialoguesCommitted::from_payload(p).unwrap();
            assert_eq!(e.tenant_id, 7);
            assert_eq!(e.position, 12);
            back.extend(e.ids);
        }
        assert_eq!(back, ids);
    }
}
