//! Dialogues: the object, its connection, and the queries that list and look them up.
use async_graphql::{Context, Enum, InputObject, Object, ID};
use entity::{dialogue, Direction, Outcome};
use sea_orm::{ColumnTrait, Condition, PaginatorTrait, QueryFilter, Select};

use super::endpoints::Endpoint;
use super::filter::DialogueFilter;
use super::loader::{endpoint, prefetch};
use super::pagination::{self, KeyKind, KeyValue, PageArgs, PageInfo, SortKey};
use super::scalars::{Date, DateTime};
use super::ScopeGuard;
use super::{limits, scope, OrderDirection};
use crate::auth::Scope;
use crate::error::{ApiError, ApiResult};

/// One call or chat of contact history.
pub struct Dialogue(pub dialogue::Model);

/// One call or chat of contact history: it enters an IVR, waits in a queue, is accepted by an
/// agent or abandoned, and ends.
#[Object]
impl Dialogue {
    /// Unique identifier of the dialogue, as the platform gave it.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The date at which the dialogue was received on the platform.
    async fn start_date(&self) -> Date {
        Date(self.0.start_date)
    }
    /// When the dialogue was received on the platform.
    async fn start_timestamp(&self) -> DateTime {
        DateTime(self.0.start_timestamp_ms)
    }
    /// When the dialogue entered the queue; null if it never queued.
    async fn queue_enter_timestamp(&self) -> Option<DateTime> {
        self.0.queue_enter_timestamp_ms.map(DateTime)
    }
    /// When the initial agent accepted the dialogue; null if never accepted.
    async fn accept_timestamp(&self) -> Option<DateTime> {
        self.0.accept_timestamp_ms.map(DateTime)
    }
    /// When the dialogue ended.
    async fn end_timestamp(&self) -> Option<DateTime> {
        self.0.end_timestamp_ms.map(DateTime)
    }
    /// Seconds in the IVR (start until queue enter, or until end when it never queued).
    async fn ivr_duration_in_sec(&self) -> Option<f64> {
        self.0.ivr_duration_in_sec
    }
    /// Seconds in the queue (queue enter until accept, or until end when never accepted).
    async fn queue_duration_in_sec(&self) -> Option<f64> {
        self.0.queue_duration_in_sec
    }
    /// Seconds the customer was connected with the initial agent.
    async fn initial_talk_duration_in_sec(&self) -> Option<f64> {
        self.0.initial_talk_duration_in_sec
    }
    /// Seconds from start until end.
    async fn session_duration_in_sec(&self) -> Option<f64> {
        self.0.session_duration_in_sec
    }
    /// Id of the IVR endpoint that routed the dialogue.
    async fn ivr_id(&self) -> Option<ID> {
        self.0.ivr_id.clone().map(ID)
    }
    /// Id of the queue endpoint in which the customer waited.
    async fn queue_id(&self) -> Option<ID> {
        self.0.queue_id.clone().map(ID)
    }
    /// Id of the customer endpoint.
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.clone().map(ID)
    }
    /// Id of the agent endpoint that handled the dialogue.
    async fn agent_id(&self) -> Option<ID> {
        self.0.agent_id.clone().map(ID)
    }
    /// The IVR that routed the dialogue.
    async fn ivr(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.ivr_id).await
    }
    /// The queue in which the customer waited.
    async fn queue(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.queue_id).await
    }
    /// The customer.
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.customer_id).await
    }
    /// The agent who handled the dialogue.
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        endpoint(ctx, &self.0.agent_id).await
    }
    /// Initiated by the customer (inbound) or by an agent (outbound).
    async fn direction(&self) -> Direction {
        self.0.direction
    }
    /// How the dialogue ended.
    async fn outcome(&self) -> Outcome {
        self.0.outcome
    }
    /// Accepted within the queue's SLA threshold; null unless the outcome is ACCEPTED.
    async fn in_sla(&self) -> Option<bool> {
        self.0.in_sla
    }
    /// Abandoned within the queue's quick-drop threshold; null unless the outcome is ABANDONED.
    async fn quick_drop(&self) -> Option<bool> {
        self.0.quick_drop
    }
    /// A readable reference, unique within the tenant.
    async fn order_number(&self) -> i32 {
        self.0.order_number
    }
}

/// What dialogues can be ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DialogueOrderField {
    /// When the dialogue was received.
    StartTimestamp,
    /// When the dialogue ended (dialogues without an end sort last ascending).
    EndTimestamp,
    /// The readable reference number.
    OrderNumber,
    /// Seconds in the queue (dialogues that never queued sort last ascending).
    QueueDuration,
    /// Seconds from start to end.
    SessionDuration,
    /// Seconds with the initial agent.
    InitialTalkDuration,
}

/// One key of a dialogue order.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct DialogueOrder {
    /// The field to order by.
    pub field: DialogueOrderField,
    /// Ascending or descending.
    pub direction: OrderDirection,
}

fn sort_key(field: DialogueOrderField, descending: bool) -> SortKey<dialogue::Column> {
    use dialogue::Column as C;
    let (col, name, nullable, kind) = match field {
        DialogueOrderField::StartTimestamp => {
            (C::StartTimestampMs, "START_TIMESTAMP", false, KeyKind::Int)
        }
        DialogueOrderField::EndTimestamp => {
            (C::EndTimestampMs, "END_TIMESTAMP", true, KeyKind::Int)
        }
        DialogueOrderField::OrderNumber => (C::OrderNumber, "ORDER_NUMBER", false, KeyKind::Int),
        DialogueOrderField::QueueDuration => (
            C::QueueDurationInSec,
            "QUEUE_DURATION",
            true,
            KeyKind::Float,
        ),
        DialogueOrderField::SessionDuration => (
            C::SessionDurationInSec,
            "SESSION_DURATION",
            true,
            KeyKind::Float,
        ),
        DialogueOrderField::InitialTalkDuration => (
            C::InitialTalkDurationInSec,
            "INITIAL_TALK_DURATION",
            true,
            KeyKind::Float,
        ),
    };
    SortKey {
        col,
        name,
        nullable,
        kind,
        descending,
    }
}

fn key_value(field: DialogueOrderField, d: &dialogue::Model) -> KeyValue {
    match field {
        DialogueOrderField::StartTimestamp => KeyValue::Int(d.start_timestamp_ms),
        DialogueOrderField::EndTimestamp => d.end_timestamp_ms.into(),
        DialogueOrderField::OrderNumber => KeyValue::Int(d.order_number as i64),
        DialogueOrderField::QueueDuration => d.queue_duration_in_sec.into(),
        DialogueOrderField::SessionDuration => d.session_duration_in_sec.into(),
        DialogueOrderField::InitialTalkDuration => d.initial_talk_duration_in_sec.into(),
    }
}

/// The requested order (default: newest first) with `id` as the final tie-breaker, in the
/// direction of the last entry.
fn order(order_by: Option<Vec<DialogueOrder>>) -> ApiResult<Vec<DialogueOrder>> {
    let order = match order_by {
        Some(list) if !list.is_empty() => list,
        _ => vec![DialogueOrder {
            field: DialogueOrderField::StartTimestamp,
            direction: OrderDirection::Desc,
        }],
    };
    for (i, entry) in order.iter().enumerate() {
        if order[..i].iter().any(|prior| prior.field == entry.field) {
            return Err(ApiError::bad_input(format!(
                "`orderBy` names {} twice",
                async_graphql::InputType::to_value(&entry.field)
            )));
        }
    }
    Ok(order)
}

fn sort_keys(order: &[DialogueOrder]) -> Vec<SortKey<dialogue::Column>> {
    let mut keys: Vec<_> = order
        .iter()
        .map(|o| sort_key(o.field, o.direction == OrderDirection::Desc))
        .collect();
    let last_desc = keys.last().is_some_and(|k| k.descending);
    keys.push(SortKey {
        col: dialogue::Column::Id,
        name: "ID",
        nullable: false,
        kind: KeyKind::Text,
        descending: last_desc,
    });
    keys
}

/// A page of dialogues.
pub struct DialogueConnection {
    edges: Vec<(String, dialogue::Model)>,
    page_info: PageInfo,
    /// The filtered (unpaged) query, counted only when `totalCount` is selected.
    matching: Select<dialogue::Entity>,
}

/// A dialogue and its cursor.
pub struct DialogueEdge<'a>(&'a str, &'a dialogue::Model);

/// A dialogue and its cursor.
#[Object]
impl DialogueEdge<'_> {
    /// Opaque cursor of this dialogue, for `after`/`before`.
    async fn cursor(&self) -> &str {
        self.0
    }
    /// The dialogue.
    async fn node(&self) -> Dialogue {
        Dialogue(self.1.clone())
    }
}

/// A page of dialogues (Relay connection with keyset cursors).
#[Object]
impl DialogueConnection {
    /// The dialogues of this page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DialogueEdge<'_>>> {
        self.prefetch(ctx, ctx.look_ahead().field("node")).await?;
        Ok(self.edges.iter().map(|(c, d)| DialogueEdge(c, d)).collect())
    }
    /// The dialogues of this page.
    async fn nodes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Dialogue>> {
        self.prefetch(ctx, ctx.look_ahead()).await?;
        Ok(self
            .edges
            .iter()
            .map(|(_, d)| Dialogue(d.clone()))
            .collect())
    }
    /// Where this page stands.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many dialogues match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let scope = scope(ctx);
        let count = self
            .matching
            .clone()
            .count(scope.connection())
            .await
            .map_err(ApiError::from)?;
        Ok(count as i64)
    }
}

impl DialogueConnection {
    /// Loads the endpoints of every relation the page's dialogues select, in one batch.
    async fn prefetch(
        &self,
        ctx: &Context<'_>,
        node: async_graphql::Lookahead<'_>,
    ) -> async_graphql::Result<()> {
        let wanted = ["ivr", "queue", "customer", "agent"].map(|name| node.field(name).exists());
        let mut ids = Vec::new();
        for (_, d) in &self.edges {
            let slots = [&d.ivr_id, &d.queue_id, &d.customer_id, &d.agent_id];
            for (id, wanted) in slots.into_iter().zip(wanted) {
                if let (Some(id), true) = (id, wanted) {
                    ids.push(id.clone());
                }
            }
        }
        prefetch(ctx, ids).await
    }
}

/// Lists the tenant's dialogues matching `filter` (and `within`, a condition of the caller).
pub async fn list(
    ctx: &Context<'_>,
    within: Option<Condition>,
    filter: Option<DialogueFilter>,
    order_by: Option<Vec<DialogueOrder>>,
    args: PageArgs,
) -> async_graphql::Result<DialogueConnection> {
    let scope = scope(ctx);
    let order = order(order_by)?;
    let keys = sort_keys(&order);
    let page = pagination::page(&args, &keys, limits(ctx).page)?;
    let mut matching = scope.dialogues();
    if let Some(within) = within {
        matching = matching.filter(within);
    }
    if let Some(filter) = &filter {
        matching = matching.filter(filter.condition()?);
    }
    let rows = pagination::apply(matching.clone(), &keys, &page)
        .all(scope.connection())
        .await
        .map_err(ApiError::from)?;
    let (edges, page_info) = pagination::finish(rows, &page, |d| {
        let mut values: Vec<KeyValue> = order.iter().map(|o| key_value(o.field, d)).collect();
        values.push(KeyValue::Text(d.id.clone()));
        pagination::encode_cursor(&keys, &values)
    });
    Ok(DialogueConnection {
        edges,
        page_info,
        matching,
    })
}

#[derive(Default)]
pub struct DialogueQuery;

#[Object]
impl DialogueQuery {
    /// One dialogue by its id.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn dialogue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dialogue's id.")] id: ID,
    ) -> async_graphql::Result<Option<Dialogue>> {
        let scope = scope(ctx);
        let found = scope
            .dialogues()
            .filter(dialogue::Column::Id.eq(id.as_str()))
            .one(scope.connection())
            .await
            .map_err(ApiError::from)?;
        Ok(found.map(Dialogue))
    }

    /// One dialogue by its readable order number.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn dialogue_by_order_number(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The readable reference number.")] order_number: i32,
    ) -> async_graphql::Result<Option<Dialogue>> {
        let scope = scope(ctx);
        let found = scope
            .dialogues()
            .filter(dialogue::Column::OrderNumber.eq(order_number))
            .one(scope.connection())
            .await
            .map_err(ApiError::from)?;
        Ok(found.map(Dialogue))
    }

    /// Dialogues matching `filter`, in `orderBy` order (default: newest first), a page at a time.
    #[graphql(
        guard = "ScopeGuard(Scope::Read)",
        complexity = "super::page_complexity(first, last, child_complexity)"
    )]
    async fn dialogues(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which dialogues to include (all when absent).")] filter: Option<
            DialogueFilter,
        >,
        #[graphql(
            desc = "Sort keys, most significant first; `id` always breaks ties. Default: START_TIMESTAMP DESC."
        )]
        order_by: Option<Vec<DialogueOrder>>,
        #[graphql(
            desc = "Page size going forward (default 50, at most the configured maximum, 500 by default)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Start after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page size going backward.")] last: Option<i32>,
        #[graphql(desc = "End before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<DialogueConnection> {
        list(
            ctx,
            None,
            filter,
            order_by,
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }
}
