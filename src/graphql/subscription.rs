//! Subscriptions (docs/api.md): `dialogueIngested` and `dialogueStatsChanged`, served over
//! graphql-transport-ws ([`crate::http::ws`]) and graphql-sse (`http::sse`), which share what
//! runs them (`http::subscriptions`). Both hear of commits through the process's
//! [`Announcer`](insights_core::live::Announcer) and read what changed through the subscriber's
//! [`TenantScope`] with the same query core as `dialogues` and `dialogueStats`: a subscriber's
//! filter is never evaluated anywhere but in SQL.
use super::{GraphqlError, GraphqlResult};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Subscription};
use chrono_tz::Tz;
use entity::dialogue;
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use super::dialogues::Dialogue;
use super::enums::Granularity;
use super::filter::DialogueFilter;
use super::scalars::DateTime;
use super::stats::{DialogueStats, StatsArgs, StatsDimension, StatsPeriod};
use super::stats_input::{StatsComparison, StatsHaving, StatsOrder};
use super::{scope, ScopeGuard};
use insights_core::error::{ApiError, ApiResult, ErrorCode};
use insights_core::keys::Scope;
use insights_core::live::hub::{close, Control, Hub, SubscriptionPermit};
use insights_core::live::DialoguesCommitted;
use insights_core::query::{
    DialogueField, DialogueListRequest, DialogueSelection, Filter, Op, Operand, PageArgs,
    PageLimits, StatsRequest, TenantScope,
};

/// Ids re-read per statement.
const READ_CHUNK: usize = 500;
/// At most one stats result per second per subscription.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Runs a read of the query core, again after 0.1, 0.3, 1 and 2 s when it fails: the first
/// statements after a database restart meet pooled connections the restart closed, which the
/// pool then replaces. A subscriber should not lose a commit to that.
async fn retrying<T, F, Fut>(mut read: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    let mut waits = [100, 300, 1000, 2000]
        .into_iter()
        .map(Duration::from_millis);
    loop {
        match read().await {
            Err(error) if error.code == ErrorCode::InternalServerError => match waits.next() {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(error),
            },
            other => return other,
        }
    }
}

/// What a subscription transport's connection (a WebSocket, an event stream) puts into its
/// requests' data: the hub, the key the subscriptions count against, and the connection's
/// control (to close it from a subscriber).
#[derive(Clone)]
pub struct LiveSession {
    pub hub: Hub,
    pub key_id: Option<String>,
    pub control: Arc<Control>,
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

/// One `dialogueIngested` subscriber's state between events.
struct Ingested {
    events: tokio::sync::broadcast::Receiver<Arc<DialoguesCommitted>>,
    scope: TenantScope,
    filter: Option<Filter<DialogueField>>,
    control: Arc<Control>,
    /// The event being re-read, and how far.
    current: Option<(Arc<DialoguesCommitted>, usize)>,
    /// Ids of the current event already emitted (an event names each once, but be sure).
    seen: HashSet<String>,
    /// Rows read and not yet emitted, in the event's order.
    ready: VecDeque<dialogue::Model>,
    _permit: SubscriptionPermit,
}

impl Ingested {
    /// The next chunk of the current event's ids that matches the filter, in the event's order.
    /// The chunk is only consumed when it was read.
    async fn read_chunk(&mut self) -> ApiResult<()> {
        let Some((event, at)) = &self.current else {
            return Ok(());
        };
        let (event, at) = (event.clone(), *at);
        let end = (at + READ_CHUNK).min(event.ids.len());
        let mut chunk: Vec<String> = Vec::new();
        for id in &event.ids[at..end] {
            if !self.seen.contains(id) && !chunk.contains(id) {
                chunk.push(id.clone());
            }
        }
        if !chunk.is_empty() {
            let within = ids_in(&chunk);
            let request = DialogueListRequest {
                filter: Some(match &self.filter {
                    Some(filter) => within.and(filter.clone()),
                    None => within,
                }),
                order: Vec::new(),
                page: PageArgs {
                    first: Some(chunk.len() as i32),
                    ..Default::default()
                },
                selection: DialogueSelection {
                    fields: DialogueField::ALL.to_vec(),
                    endpoints: Vec::new(),
                },
            };
            let limits = PageLimits {
                default_size: READ_CHUNK,
                max_size: READ_CHUNK,
            };
            let page = retrying(|| self.scope.dialogue_page(&request, limits)).await?;
            let mut by_id: HashMap<String, dialogue::Model> =
                page.rows.into_iter().map(|d| (d.id.clone(), d)).collect();
            for id in chunk {
                if let Some(row) = by_id.remove(&id) {
                    self.seen.insert(id);
                    self.ready.push_back(row);
                }
            }
        }
        if end >= event.ids.len() {
            self.current = None;
            self.seen.clear();
        } else {
            self.current = Some((event, end));
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<async_graphql::Result<Dialogue>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                delivered();
                return Some(Ok(Dialogue(row)));
            }
            if self.current.is_some() {
                if let Err(error) = self.read_chunk().await {
                    // Skip the rest of this event rather than retrying it forever.
                    self.current = None;
                    self.seen.clear();
                    return Some(Err(error.graphql()));
                }
                continue;
            }
            match self.events.recv().await {
                Ok(event) => {
                    if event.tenant_id == self.scope.tenant_id() {
                        self.current = Some((event, 0));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    self.control.close(
                        close::TRY_AGAIN_LATER,
                        format!(
                            "a subscriber fell {missed} commits behind (it reads slower than \
                             dialogues arrive); reconnect and catch up with a query"
                        ),
                    );
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// One `dialogueStatsChanged` subscriber's state between results.
struct StatsChanged {
    events: tokio::sync::broadcast::Receiver<Arc<DialoguesCommitted>>,
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
    async fn touches(&mut self, event: &DialoguesCommitted) -> async_graphql::Result<bool> {
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
                Ok(event) => match self.touches(&event).await {
                    Ok(touched) => touched,
                    Err(error) => return Some(Err(error)),
                },
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
        self.last_sent = Instant::now();
        match retrying(|| self.scope.dialogue_stats(&self.request)).await {
            Ok(rows) => {
                delivered();
                Some(Ok(rows.into_iter().map(DialogueStats).collect()))
            }
            Err(error) => Some(Err(error.graphql())),
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
    /// any instance sharing the database). Replays that change nothing emit nothing.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn dialogue_ingested(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which dialogues to emit (all when absent).")] filter: Option<
            DialogueFilter,
        >,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Dialogue>>> {
        let live = session(ctx)?;
        let filter = filter.map(|f| f.tree()).transpose().gql()?;
        let permit = live.hub.subscribe(live.key_id.as_deref()).gql()?;
        let state = Ingested {
            events: live.hub.announcer().subscribe(),
            scope: scope(ctx).clone(),
            filter,
            control: live.control.clone(),
            current: None,
            seen: HashSet::new(),
            ready: VecDeque::new(),
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
        let scope = scope(ctx).clone();
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
