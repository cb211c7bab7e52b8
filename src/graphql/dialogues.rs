//! Dialogues: the object, its connection, and the queries that list and look them up — thin
//! adapters over the query core, which answers each with one SQL statement.
use super::GraphqlResult;
use std::sync::Arc;

use super::enums::{Direction, Outcome};
use async_graphql::{Context, Enum, InputObject, Lookahead, Object, ID};
use entity::dialogue;

use super::endpoints::Endpoint;
use super::filter::DialogueFilter;
use super::loader::{endpoint, Endpoints};
use super::rows::{DialogueRow, PageEndpoints};
use super::scalars::{Date, DateTime};
use super::{limits, scope, OrderDirection, PageInfo, ScopeGuard};
use insights_core::keys::Scope;
use insights_core::live::position::ChangePosition;
use insights_core::query::{
    self, DialogueField, DialogueKey, DialogueListRequest, DialogueSelection, Filter, PageArgs,
    Slot,
};

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
        self.0.direction.into()
    }
    /// How the dialogue ended.
    async fn outcome(&self) -> Outcome {
        self.0.outcome.into()
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
    /// Where the dialogue's last change stands in its tenant's changes (opaque): give it as
    /// `dialogueIngested(after:)` to receive every change after this one.
    async fn change_position(&self) -> String {
        ChangePosition::of(&self.0).encode()
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

// One way only: the core also orders by `Id` (OData's default), which GraphQL does not offer.
impl From<DialogueOrderField> for query::DialogueOrderField {
    fn from(f: DialogueOrderField) -> Self {
        match f {
            DialogueOrderField::StartTimestamp => Self::StartTimestamp,
            DialogueOrderField::EndTimestamp => Self::EndTimestamp,
            DialogueOrderField::OrderNumber => Self::OrderNumber,
            DialogueOrderField::QueueDuration => Self::QueueDuration,
            DialogueOrderField::SessionDuration => Self::SessionDuration,
            DialogueOrderField::InitialTalkDuration => Self::InitialTalkDuration,
        }
    }
}

/// One key of a dialogue order.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct DialogueOrder {
    /// The field to order by.
    pub field: DialogueOrderField,
    /// Ascending or descending.
    pub direction: OrderDirection,
}

impl From<DialogueOrder> for query::DialogueOrder {
    fn from(o: DialogueOrder) -> Self {
        query::DialogueOrder {
            field: o.field.into(),
            descending: o.direction == OrderDirection::Desc,
        }
    }
}

/// The fields of `Dialogue` a selection reads, and the endpoints it shows: what the query core
/// fetches, in one statement.
pub fn selection(node: Lookahead<'_>) -> DialogueSelection {
    use insights_core::query::filter::Field;
    DialogueSelection {
        fields: DialogueField::ALL
            .into_iter()
            .filter(|field| node.field(field.name()).exists())
            .collect(),
        endpoints: Slot::ALL
            .into_iter()
            .filter(|slot| node.field(slot.name()).exists())
            .collect(),
    }
}

/// A page of dialogues.
pub struct DialogueConnection {
    page: query::DialoguePage,
    /// The filter of the page, counted only when `totalCount` is selected.
    matching: Option<Filter<DialogueField>>,
    /// The relations the page's selection shows.
    slots: Vec<Slot>,
}

/// A dialogue and its cursor.
pub struct DialogueEdge<'a>(
    &'a query::DialoguePage,
    &'a dialogue::Model,
    Arc<PageEndpoints>,
);

/// A dialogue and its cursor.
#[Object]
impl DialogueEdge<'_> {
    /// Opaque cursor of this dialogue, for `after`/`before`.
    async fn cursor(&self) -> String {
        self.0.cursor(self.1)
    }
    /// The dialogue.
    async fn node(&self) -> DialogueRow<'_> {
        DialogueRow {
            dialogue: self.1,
            endpoints: self.2.clone(),
        }
    }
}

/// A page of dialogues (Relay connection with keyset cursors).
#[Object]
impl DialogueConnection {
    /// The dialogues of this page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> Vec<DialogueEdge<'_>> {
        let endpoints = PageEndpoints::load(ctx, &self.page.rows, &self.slots).await;
        self.page
            .rows
            .iter()
            .map(|d| DialogueEdge(&self.page, d, endpoints.clone()))
            .collect()
    }
    /// The dialogues of this page.
    async fn nodes(&self, ctx: &Context<'_>) -> Vec<DialogueRow<'_>> {
        let endpoints = PageEndpoints::load(ctx, &self.page.rows, &self.slots).await;
        self.page
            .rows
            .iter()
            .map(|dialogue| DialogueRow {
                dialogue,
                endpoints: endpoints.clone(),
            })
            .collect()
    }
    /// Where this page stands.
    async fn page_info(&self) -> PageInfo {
        PageInfo::from(&self.page.info)
    }
    /// How many dialogues match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        scope(ctx)
            .count_dialogues(self.matching.as_ref())
            .await
            .gql()
    }
}

/// What a connection field's nodes select (through `nodes` or `edges.node`).
fn page_selection(ctx: &Context<'_>) -> DialogueSelection {
    let look = ctx.look_ahead();
    let mut wanted = selection(look.field("nodes"));
    let through_edges = selection(look.field("edges").field("node"));
    for field in through_edges.fields {
        if !wanted.fields.contains(&field) {
            wanted.fields.push(field);
        }
    }
    for slot in through_edges.endpoints {
        if !wanted.endpoints.contains(&slot) {
            wanted.endpoints.push(slot);
        }
    }
    wanted
}

/// Lists the tenant's dialogues matching `filter` (and `within`, a condition of the caller).
pub async fn list(
    ctx: &Context<'_>,
    within: Option<Filter<DialogueField>>,
    filter: Option<DialogueFilter>,
    order_by: Option<Vec<DialogueOrder>>,
    page: PageArgs,
) -> async_graphql::Result<DialogueConnection> {
    let filter = filter.map(|f| f.tree()).transpose().gql()?;
    let filter = match (within, filter) {
        (Some(within), Some(filter)) => Some(within.and(filter)),
        (within, filter) => within.or(filter),
    };
    let request = DialogueListRequest {
        filter,
        order: order_by
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect(),
        page,
        selection: page_selection(ctx),
    };
    // Boxed, as in `find`.
    let page = Box::pin(scope(ctx).dialogue_page(&request, limits(ctx).page))
        .await
        .gql()?;
    feed(ctx, &page.endpoints).await;
    Ok(DialogueConnection {
        page,
        matching: request.filter,
        slots: request.selection.endpoints,
    })
}

/// Puts endpoints a statement already joined into the request's loader, so the relation
/// resolvers find them without another query.
async fn feed(ctx: &Context<'_>, endpoints: &[entity::endpoint::Model]) {
    if !endpoints.is_empty() {
        ctx.data_unchecked::<Endpoints>()
            .feed_many(endpoints.iter().map(|e| (e.id.clone(), e.clone())))
            .await;
    }
}

/// One dialogue, with the endpoints its selection shows.
async fn find(ctx: &Context<'_>, key: DialogueKey) -> async_graphql::Result<Option<Dialogue>> {
    // Boxed: a query object's field future is as large as its largest field's, the page
    // and the look-up hold the database call's whole state, and async-graphql copies each
    // field's future as it sets it to run; a pointer costs less to copy (bench/profile-d.md).
    let found = Box::pin(scope(ctx).find_dialogue(&key, &selection(ctx.look_ahead())))
        .await
        .gql()?;
    Ok(match found {
        Some((dialogue, endpoints)) => {
            feed(ctx, &endpoints).await;
            Some(Dialogue(dialogue))
        }
        None => None,
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
        find(ctx, DialogueKey::Id(id.to_string())).await
    }

    /// One dialogue by its readable order number.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn dialogue_by_order_number(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The readable reference number.")] order_number: i32,
    ) -> async_graphql::Result<Option<Dialogue>> {
        find(ctx, DialogueKey::OrderNumber(order_number)).await
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
