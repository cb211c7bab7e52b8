//! Subscriptions (docs/api.md): `dialogueIngested` and `dialogueStatsChanged`, served over
//! graphql-transport-ws ([`crate::http::ws`]) and graphql-sse (`http::sse`), which share what
//! runs them (`http::subscriptions`). Both hear of commits through the process's
//! [`Announcer`](insights_core::live::Announcer) and read what changed through the subscriber's
//! [`TenantScope`] with the same query core as `dialogues` and `dialogueStats`: a subscriber's
//! filter is never evaluated anywhere but in SQL.
use super::{GraphqlError, GraphqlResult};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Subscription};
use chrono_tz::Tz;
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use super::dialogues::Dialogue;
use super::enums::Granularity;
use super::filter::DialogueFilter;
use super::scalars::DateTime;
use super::stats::{DialogueStats, StatsArgs, StatsDimension, StatsPeriod};
use super::stats_input::{StatsComparison, StatsHaving, StatsOrder};
use super::ScopeGuard;
use insights_core::error::{ApiError, Arg, ErrorCode};
use insights_core::keys::Scope;
use insights_core::live::follow::{retrying, Followed, Follower};
use insights_core::live::hub::{Control, Hub, SubscriptionPermit};
use insights_core::live::position::ChangePosition;
use insights_core::live::Announcement;
use insights_core::query::{DialogueField, Filter, Op, Operand, StatsRequest, TenantScope};

/// Ids checked per statement.
const READ_CHUNK: usize = 500;
/// At most one stats result per second per subscription.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// How long a stats subscriber waits before trying again a read that keeps failing.
const STATS_RETRY: Duration = Duration::from_secs(2);

/// What a subscription transport's connection (a WebSocket, an event stream) puts into its
/// requests' data: the hub, the key the subscriptions count against, and the connection's
/// control (to close it from a subscriber).
#[derive(Clone)]
pub struct LiveSession {
    pub hub: Hub,
    pub key_id: Option<String>,
    pub control: Arc<Control>,
    /// The tenant scope the subscriptions read through, without the key's share of the pool:
    /// a re-read after a commit must not be refused for the key's own queries (a subscriber
    /// would miss the change). Queries and mutations on the connection take the shared scope.
    pub scope: TenantScope,
}

fn session<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a LiveSession> {
    ctx.data_opt::<LiveSession>().ok_or_else(|| {
        ApiError::bad_input(
            "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql and over \
             Server-Sent Events (graphql-sse) at /graphql/stream",
        )
        .graphql()
    })
}

fn delivered() {
    metrics::counter!("insights_subscription_events_delivered_total").increment(1);
}

fn ids_in(ids: &[String]) -> Filter<DialogueField> {
    Filter::Is(
        DialogueField::Id,
        Op::In(ids.iter().cloned().map(Operand::Text).collect()),
    )
}

/// One `dialogueIngested` subscriber: its place in the tenant's changes, and its place under
/// the key's cap. Ended after a RESUME_REQUIRED.
struct Ingested {
    follower: Follower,
    ended: bool,
    _permit: SubscriptionPermit,
}

impl Ingested {
    async fn next(&mut self) -> Option<async_graphql::Result<Dialogue>> {
        if self.ended {
            return None;
        }
        match self.follower.next().await {
            Followed::Dialogue(row) => {
                delivered();
                Some(Ok(Dialogue(*row)))
            }
            Followed::Resume(after) => {
                self.ended = true;
                Some(Err(resume_required(&after)))
            }
            Followed::End => None,
        }
    }
}

/// The error that ends a subscription which could not deliver a change: the client
/// subscribes again with `after`.
fn resume_required(after: &ChangePosition) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    let after = after.encode();
    ApiError::new(
        ErrorCode::ResumeRequired,
        "the server could not deliver the next change; subscribe again with `after` from this error's extensions",
    )
    .graphql()
    .extend_with(|_, e| e.set("after", after))
}

/// One `dialogueStatsChanged` subscriber's state between results.
struct StatsChanged {
    events: tokio::sync::broadcast::Receiver<Arc<Announcement>>,
    scope: TenantScope,
    args: StatsArgs,
    zone: Tz,
    /// The request, its window as resolved last.
    request: StatsRequest,
    /// When a moving `period` next resolves to another window.
    moves_at: Option<i64>,
    first: Option<Vec<DialogueStats>>,
    last_sent: Instant,
    _permit: SubscriptionPermit,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl StatsChanged {
    /// Resolves a moving `period` again at `now` (a fixed window stays as it is).
    fn resolve(&mut self, now: i64) -> async_graphql::Result<()> {
        if self.args.period.is_some() {
            let window = self.args.window(self.zone, now)?;
            self.request.from = window.from;
            self.request.to = window.to;
            self.moves_at = window.moves_at;
        }
        Ok(())
    }

    /// Whether the commit changed a dialogue that the filter matches inside the window, or
    /// inside the earlier window the rows are compared with.
    async fn touches(&mut self, announcement: &Announcement) -> async_graphql::Result<bool> {
        let event = match announcement {
            // Missed commits may have touched the window: recompute.
            Announcement::MayHaveMissed => return Ok(true),
            Announcement::Committed(event) => event,
        };
        if event.tenant_id != self.scope.tenant_id() {
            return Ok(false);
        }
        // LAST_24_HOURS ends now: resolve it at the commit.
        if self.moves_at.is_none() && self.args.period.is_some() {
            self.resolve(now_ms())?;
        }
        let within = |(from, to): (i64, i64)| {
            Filter::All(vec![
                Filter::Is(
                    DialogueField::StartTimestamp,
                    Op::Gte(Operand::Instant(from)),
                ),
                Filter::Is(DialogueField::StartTimestamp, Op::Lt(Operand::Instant(to))),
            ])
        };
        let mut windows = vec![within((self.request.from, self.request.to))];
        windows.extend(self.request.earlier_window().map(within));
        for chunk in event.ids.chunks(READ_CHUNK) {
            let mut filter = Filter::All(vec![ids_in(chunk), Filter::Any(windows.clone())]);
            if let Some(f) = &self.request.filter {
                filter = filter.and(f.clone());
            }
            if retrying(|| self.scope.count_dialogues(Some(&filter)))
                .await
                .gql()?
                > 0
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// When the window moves next, as a deadline: the period's next boundary, or for
    /// LAST_24_HOURS (which moves all the time) a minute after the last result.
    fn next_move(&self) -> Option<Instant> {
        self.args.period?;
        let wait = match self.moves_at {
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64),
            None => Duration::from_secs(60).saturating_sub(self.last_sent.elapsed()),
        };
        Some(Instant::now() + wait)
    }

    async fn next(&mut self) -> Option<async_graphql::Result<Vec<DialogueStats>>> {
        if let Some(first) = self.first.take() {
            self.last_sent = Instant::now();
            delivered();
            return Some(Ok(first));
        }
        // Wait for a commit that touches the window, or for the window to move.
        loop {
            let moves = self.next_move();
            let event = tokio::select! {
                event = self.events.recv() => event,
                _ = async { tokio::time::sleep_until(moves.expect("a moving window")).await }, if moves.is_some() => break,
            };
            let touched = match event {
                // When it cannot tell: recompute, which waits until the database answers.
                Ok(event) => self.touches(&event).await.unwrap_or(true),
                // Missed commits may have touched the window: recompute.
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return None,
            };
            if touched {
                break;
            }
        }
        // Coalesce: at most one result a second; commits heard meanwhile are in it.
        tokio::time::sleep_until(self.last_sent + STATS_EVERY).await;
        loop {
            match self.events.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return None,
            }
        }
        if let Err(error) = self.resolve(now_ms()) {
            return Some(Err(error));
        }
        // A whole result, once the database answers again: no error in between, and commits
        // heard while it did not are in the result.
        loop {
            match retrying(|| self.scope.dialogue_stats(&self.request)).await {
                Ok(rows) => {
                    self.last_sent = Instant::now();
                    delivered();
                    return Some(Ok(rows.into_iter().map(DialogueStats).collect()));
                }
                Err(error) if error.code == ErrorCode::InternalServerError => {
                    tracing::warn!("a stats subscriber cannot read; trying again");
                    tokio::time::sleep(STATS_RETRY).await;
                    if let Err(error) = self.resolve(now_ms()) {
                        return Some(Err(error));
                    }
                }
                Err(error) => return Some(Err(error.graphql())),
            }
        }
    }
}

#[derive(Default)]
pub struct Subscription;

/// Live updates, over WebSocket (graphql-transport-ws) at /graphql, or over Server-Sent Events
/// (graphql-sse) at /graphql/stream.
#[Subscription]
impl Subscription {
    /// Each dialogue that a commit inserted or changed and that matches `filter` (the same
    /// filter as `dialogues`), in commit order, whoever wrote it (a mutation or an import, on
    /// any instance sharing the database). Replays that change nothing emit nothing. With
    /// `after`, first every matching dialogue whose last change comes after that position, in
    /// position order and in its latest state, then live, with no gap and no duplicate.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn dialogue_ingested(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which dialogues to emit (all when absent).")] filter: Option<
            DialogueFilter,
        >,
        #[graphql(
            desc = "A `changePosition` (or the `after` of a RESUME_REQUIRED error): first emit every matching dialogue changed after it."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Dialogue>>> {
        let live = session(ctx)?;
        let scope = live.scope.clone();
        let filter = filter.map(|f| f.tree()).transpose().gql()?;
        let after = after
            .map(|text| ChangePosition::decode(&text, scope.tenant_id(), Arg::After))
            .transpose()
            .gql()?;
        // Listen before reading anything, so no commit falls between the read and the listening.
        let events = live.hub.announcer().subscribe();
        let follower = Follower::start(events, scope, filter, after).await.gql()?;
        // Counted as open (under the key's cap) once its start is fixed: a client that sees it
        // open (the metrics, the tests) knows every later commit reaches it.
        let permit = live.hub.subscribe(live.key_id.as_deref()).gql()?;
        let state = Ingested {
            follower,
            ended: false,
            _permit: permit,
        };
        Ok(stream::unfold(state, |mut state| async move {
            state.next().await.map(|item| (item, state))
        }))
    }

    /// A live `dialogueStats` for wallboards: the whole result at once, then again whenever a
    /// commit changes dialogues inside the window, or inside the earlier window of
    /// `compareTo` (at most once a second). With `period` the
    /// window moves with the clock: the result is emitted again when it does (at local midnight
    /// for TODAY; every minute for LAST_24_HOURS).
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    #[allow(clippy::too_many_arguments)]
    async fn dialogue_stats_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the window (inclusive); with `to`, instead of `period`.")]
        from: Option<DateTime>,
        #[graphql(desc = "End of the window (exclusive); with `from`, instead of `period`.")]
        to: Option<DateTime>,
        #[graphql(
            desc = "A window that moves with the clock (TODAY, LAST_7_DAYS, ...), resolved in `timeZone`; the result is emitted again when it moves. Instead of `from` and `to`."
        )]
        period: Option<StatsPeriod>,
        #[graphql(
            desc = "IANA time zone the buckets and `period` are aligned in, e.g. Europe/Amsterdam.",
            default_with = "Some(\"UTC\".to_string())"
        )]
        time_zone: Option<String>,
        #[graphql(
            desc = "Size of the time buckets.",
            default_with = "Some(Granularity::Total)"
        )]
        granularity: Option<Granularity>,
        #[graphql(
            desc = "Dimensions to group by, besides time.",
            default_with = "Some(Vec::new())"
        )]
        group_by: Option<Vec<StatsDimension>>,
        #[graphql(desc = "Which dialogues to measure (the same filter as `dialogues`).")]
        filter: Option<DialogueFilter>,
        #[graphql(
            desc = "Rank the groups of each time bucket by these figures (nulls last in both directions), then by their group keys."
        )]
        order_by: Option<Vec<StatsOrder>>,
        #[graphql(
            desc = "Keep the first N groups of each time bucket in the `orderBy` ranking (at least 1; needs `orderBy`)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Keep only the groups whose figures pass these conditions (before `orderBy` and `first`)."
        )]
        having: Option<StatsHaving>,
        #[graphql(
            desc = "Give each row its `previous`: the same group in the matching bucket of this earlier window. A commit inside either window emits the result again."
        )]
        compare_to: Option<StatsComparison>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Vec<DialogueStats>>>> {
        let live = session(ctx)?;
        let args = StatsArgs {
            from,
            to,
            period,
            time_zone,
            granularity,
            group_by,
            filter,
            order_by,
            first,
            having,
            compare_to,
        };
        let zone = args.zone()?;
        let (request, window) = args.request(ctx, now_ms())?;
        let permit = live.hub.subscribe(live.key_id.as_deref()).gql()?;
        // Listen before computing, so no commit falls between the result and the listening.
        let events = live.hub.announcer().subscribe();
        let scope = live.scope.clone();
        // Errors in the arguments (a window too large, ...) refuse the subscription itself.
        let first = scope.dialogue_stats(&request).await.gql()?;
        let state = StatsChanged {
            events,
            scope,
            args,
            zone,
            request,
            moves_at: window.moves_at,
            first: Some(first.into_iter().map(DialogueStats).collect()),
            last_sent: Instant::now(),
            _permit: permit,
        };
        Ok(stream::unfold(state, |mut state| async move {
            state.next().await.map(|item| (item, state))
        }))
    }
}
