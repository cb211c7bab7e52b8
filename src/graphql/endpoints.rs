//! Endpoints: the parties a dialogue passes through — thin adapters over the query core.
use super::enums::EndpointRole;
use super::GraphqlResult;
use async_graphql::{Context, Enum, InputObject, Object, ID};
use entity::endpoint;

use super::dialogues::{self, DialogueConnection, DialogueOrder};
use super::filter::{DialogueFilter, EndpointFilter};
use super::{limits, scope, OrderDirection, PageInfo, ScopeGuard};
use insights_core::keys::Scope;
use insights_core::query::{
    self, EndpointField, EndpointListRequest, Filter, Op, Operand, PageArgs, Slot,
};

/// A party a dialogue passes through: an IVR, a queue, a customer or an agent.
pub struct Endpoint(pub endpoint::Model);

/// A party a dialogue passes through: an IVR, a queue, a customer or an agent.
#[Object]
impl Endpoint {
    /// Identifier as given by the source platform (often a GUID).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Display name; absent for e.g. customers known only by number, or endpoints that
    /// dialogues named before the endpoint itself was imported.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// IVR, queue, customer or agent.
    async fn role(&self) -> EndpointRole {
        self.0.role.into()
    }
    /// Queues only: the configured SLA threshold in seconds (null: the tenant default applies).
    async fn sla_threshold_in_sec(&self) -> Option<f64> {
        self.0.sla_threshold_in_sec
    }
    /// Queues only: the configured quick-drop threshold in seconds (null: the tenant default applies).
    async fn quick_drop_threshold_in_sec(&self) -> Option<f64> {
        self.0.quick_drop_threshold_in_sec
    }
    /// The dialogues in which this endpoint took its role; same arguments as `Query.dialogues`.
    #[graphql(complexity = "super::page_complexity(first, last, child_complexity)")]
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
        #[graphql(desc = "Page size going forward (default 50).")] first: Option<i32>,
        #[graphql(desc = "Start after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page size going backward.")] last: Option<i32>,
        #[graphql(desc = "End before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<DialogueConnection> {
        let slot = Slot::of_role(self.0.role);
        let within = Filter::Is(slot.field(), Op::Eq(Operand::Text(self.0.id.clone())));
        dialogues::list(
            ctx,
            Some(within),
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

/// What endpoints can be ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "insights_core::query::EndpointOrderField")]
pub enum EndpointOrderField {
    /// Display name (endpoints without a name sort last ascending).
    Name,
    /// Identifier.
    Id,
}

/// One key of an endpoint order.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct EndpointOrder {
    /// The field to order by.
    pub field: EndpointOrderField,
    /// Ascending or descending.
    pub direction: OrderDirection,
}

impl From<EndpointOrder> for query::EndpointOrder {
    fn from(o: EndpointOrder) -> Self {
        query::EndpointOrder {
            field: o.field.into(),
            descending: o.direction == OrderDirection::Desc,
        }
    }
}

/// A page of endpoints.
pub struct EndpointConnection {
    page: query::EndpointPage,
    matching: Option<Filter<EndpointField>>,
}

/// An endpoint and its cursor.
pub struct EndpointEdge<'a>(&'a query::EndpointPage, &'a endpoint::Model);

/// An endpoint and its cursor.
#[Object]
impl EndpointEdge<'_> {
    /// Opaque cursor of this endpoint, for `after`/`before`.
    async fn cursor(&self) -> String {
        self.0.cursor(self.1)
    }
    /// The endpoint.
    async fn node(&self) -> Endpoint {
        Endpoint(self.1.clone())
    }
}

/// A page of endpoints (Relay connection with keyset cursors).
#[Object]
impl EndpointConnection {
    /// The endpoints of this page with their cursors.
    async fn edges(&self) -> Vec<EndpointEdge<'_>> {
        self.page
            .rows
            .iter()
            .map(|e| EndpointEdge(&self.page, e))
            .collect()
    }
    /// The endpoints of this page.
    async fn nodes(&self) -> Vec<Endpoint> {
        self.page.rows.iter().map(|e| Endpoint(e.clone())).collect()
    }
    /// Where this page stands.
    async fn page_info(&self) -> PageInfo {
        PageInfo::from(&self.page.info)
    }
    /// How many endpoints match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        scope(ctx)
            .count_endpoints(self.matching.as_ref())
            .await
            .gql()
    }
}

#[derive(Default)]
pub struct EndpointQuery;

#[Object]
impl EndpointQuery {
    /// One endpoint by its id.
    #[graphql(guard = "ScopeGuard(Scope::Read)")]
    async fn endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
    ) -> async_graphql::Result<Option<Endpoint>> {
        let found = scope(ctx).endpoints_by_ids(&[id.to_string()]).await.gql()?;
        Ok(found.into_iter().next().map(Endpoint))
    }

    /// Endpoints matching `filter`, in `orderBy` order (default: by id), a page at a time.
    #[graphql(
        guard = "ScopeGuard(Scope::Read)",
        complexity = "super::page_complexity(first, last, child_complexity)"
    )]
    async fn endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which endpoints to include (all when absent).")] filter: Option<
            EndpointFilter,
        >,
        #[graphql(
            desc = "Sort keys, most significant first; `id` always breaks ties. Default: ID ASC."
        )]
        order_by: Option<Vec<EndpointOrder>>,
        #[graphql(desc = "Page size going forward (default 50).")] first: Option<i32>,
        #[graphql(desc = "Start after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page size going backward.")] last: Option<i32>,
        #[graphql(desc = "End before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<EndpointConnection> {
        let request = EndpointListRequest {
            filter: filter.map(|f| f.tree()).transpose().gql()?,
            order: order_by
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
        };
        let page = scope(ctx)
            .endpoint_page(&request, limits(ctx).page)
            .await
            .gql()?;
        Ok(EndpointConnection {
            page,
            matching: request.filter,
        })
    }
}
