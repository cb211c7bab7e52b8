//! Following one tenant's changed dialogues from a change position: first everything changed
//! after it (replay), then each change as it is committed (live), with no gap and no duplicate.
//!
//! The follower listens before it reads anything, and reads only from the database: each read
//! asks for what changed after the last position it delivered, in position order,
//! in bounded pages, so a dialogue changed twice meanwhile comes once, in its latest state.
//! Announcements only say that there is something to read; one heard late, out of order (two
//! commits announced by different tasks) or not at all (a subscriber behind its buffer, a
//! listener that lost the database) costs nothing, because position order is commit order and
//! every read sees all positions up to the largest it sees. When reads keep failing, the
//! follower stops with the position a client resumes from ([`Followed::Resume`]).
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use entity::dialogue;
use tokio::sync::broadcast::{error::RecvError, Receiver};

use super::position::{self, ChangePosition};
use super::Announcement;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::query::{DialogueField, Filter, TenantScope};

/// Dialogues read per statement.
pub const PAGE: usize = 500;

/// Runs a read, again after 0.1, 0.3, 1 and 2 s when it fails: the first statements after a
/// database restart meet pooled connections the restart closed, which the pool then replaces.
/// A subscriber should not have to resume for that.
pub async fn retrying<T, F, Fut>(mut read: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    let mut waits = [100, 300, 1000, 2000]
        .into_iter()
        .map(Duration::from_millis);
    loop {
        match read().await {
            // A failed read, or no connection free in time (a saturated pool): worth waiting.
            Err(error)
                if error.code == ErrorCode::InternalServerError || error.busy_for().is_some() =>
            {
                match waits.next() {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(error),
                }
            }
            other => return other,
        }
    }
}

/// What a follower yields.
#[derive(Debug)]
pub enum Followed {
    /// The next changed dialogue (its position is [`ChangePosition::of`] it).
    Dialogue(Box<dialogue::Model>),
    /// Reads keep failing: nothing more comes; a client resumes after this position, which
    /// everything before was delivered up to.
    Resume(ChangePosition),
    /// The process stops announcing (shutdown).
    End,
}

/// One subscriber's place in its tenant's changes.
pub struct Follower {
    events: Receiver<Arc<Announcement>>,
    scope: TenantScope,
    filter: Option<Filter<DialogueField>>,
    /// Every matching change up to here was delivered.
    delivered: ChangePosition,
    /// The largest position announced for the tenant.
    heard: i64,
    /// A read is due (something was announced after `delivered`, or may have been).
    due: bool,
    /// Announcements may have been missed: `heard` is refreshed from the primary before the
    /// next read, so that a read on a lagging replica cannot settle short of a missed commit.
    unsure: bool,
    /// Rows read and not yet delivered, in position order.
    ready: VecDeque<dialogue::Model>,
    /// Once `ready` is delivered: the read that filled it saw everything up to this position.
    settled: Option<i64>,
}

impl Follower {
    /// Follows the tenant of `scope` from `after` (replaying what changed since), or, without
    /// it, from its last committed position (live only). `events` must be subscribed before this
    /// is called, so that nothing committed in between goes unheard.
    pub async fn start(
        events: Receiver<Arc<Announcement>>,
        scope: TenantScope,
        filter: Option<Filter<DialogueField>>,
        after: Option<ChangePosition>,
    ) -> ApiResult<Self> {
        let tenant_id = scope.tenant_id();
        let (delivered, due) = match after {
            Some(after) => (after, true),
            None => {
                let now = retrying(|| async {
                    position::current(scope.connection(), tenant_id)
                        .await
                        .map_err(ApiError::from)
                })
                .await?;
                (ChangePosition::after_commit(tenant_id, now), false)
            }
        };
        Ok(Self {
            events,
            scope,
            filter,
            heard: delivered.commit,
            delivered,
            due,
            unsure: false,
            ready: VecDeque::new(),
            settled: None,
        })
    }

    /// The position everything before was delivered up to.
    pub fn delivered(&self) -> &ChangePosition {
        &self.delivered
    }

    /// The next changed dialogue, waiting for one as long as it takes.
    pub async fn next(&mut self) -> Followed {
        loop {
            if let Some(row) = self.ready.pop_front() {
                self.delivered = ChangePosition::of(&row);
                return Followed::Dialogue(Box::new(row));
            }
            if let Some(seen) = self.settled.take() {
                // The page was not full: it held every matching row after the last position
                // delivered, up to what the read saw, so the commits up to there are done.
                self.delivered = ChangePosition::after_commit(
                    self.scope.tenant_id(),
                    seen.max(self.delivered.commit),
                );
            }
            if self.due {
                if let Err(error) = self.read().await {
                    tracing::warn!(
                        code = error.code.as_str(),
                        "a subscriber's read of changed dialogues keeps failing; it must resume"
                    );
                    return Followed::Resume(self.delivered.clone());
                }
                continue;
            }
            match self.events.recv().await {
                Ok(announcement) => match announcement.as_ref() {
                    Announcement::Committed(event) => {
                        if event.tenant_id == self.scope.tenant_id()
                            && event.position > self.delivered.commit
                        {
                            self.heard = self.heard.max(event.position);
                            self.due = true;
                        }
                    }
                    Announcement::MayHaveMissed => {
                        self.due = true;
                        self.unsure = true;
                    }
                },
                // Announcements were dropped: whatever they said is in the database.
                Err(RecvError::Lagged(_)) => {
                    self.due = true;
                    self.unsure = true;
                }
                Err(RecvError::Closed) => return Followed::End,
            }
        }
    }

    /// Reads the next page after the last position delivered.
    ///
    /// The read sees at least every commit heard of (on a replica that has replayed them, else
    /// on the primary), so an announced change is never read before its row is there.
    async fn read(&mut self) -> ApiResult<()> {
        if self.unsure {
            let tenant_id = self.scope.tenant_id();
            let now = retrying(|| async {
                position::current(self.scope.connection(), tenant_id)
                    .await
                    .map_err(ApiError::from)
            })
            .await?;
            self.heard = self.heard.max(now);
            self.unsure = false;
        }
        let heard = self.heard;
        let scope = self.scope.reading_after(heard);
        let rows =
            retrying(|| scope.dialogues_changed_after(&self.delivered, self.filter.as_ref(), PAGE))
                .await?;
        if rows.len() < PAGE {
            self.due = false;
            self.settled = Some(
                rows.last()
                    .map_or(heard, |last| last.change_position.max(heard)),
            );
        }
        self.ready.extend(rows);
        Ok(())
    }
}
