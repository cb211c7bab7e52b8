//! Endpoints: the parties a dialogue passes through.
use async_graphql::{Context, Enum, InputObject, Object, ID};
use entity::{dialogue, endpoint, EndpointRole};
use sea_orm::{ColumnTrait, Condition, PaginatorTrait, QueryFilter, Select};

use super::dialogues::{self, DialogueConnection, DialogueOrder};
use super::filter::{DialogueFilter, EndpointFilter};
use super::pagination::{self, KeyKind, KeyValue, PageArgs, PageInfo, SortKey};
use super::ScopeGuard;
use super::{limits, scope, OrderDirection};
use crate::auth::Scope;
use crate::error::{ApiError, ApiResult};

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
        self.0.role
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
        let slot = match self.0.role {
            EndpointRole::Ivr => dialogue::Column::IvrId,
            EndpointRole::Queue => dialogue::Column::QueueId,
            EndpointRole::Customer => dialogue::Column::CustomerId,
            EndpointRole::Agent => dialogue::Column::AgentId,
        };
        let within = Condition::all().add(slot.eq(self.0.id.as_str()));
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

fn sort_keys(
    order_by: Option<Vec<EndpointOrder>>,
) -> ApiResult<(Vec<EndpointOrderField>, Vec<SortKey<endpoint::Column>>)> {
    let order = match order_by {
        Some(list) if !list.is_empty() => list,
        _ => vec![EndpointOrder {
            field: EndpointOrderField::Id,
            direction: OrderDirection::Asc,
        }],
    };
    let mut fields = Vec::new();
    let mut keys = Vec::new();
    for entry in &order {
        if fields.contains(&entry.field) {
            return Err(ApiError::bad_input(format!(
                "`orderBy` names {} twice",
                async_graphql::InputType::to_value(&entry.field)
            )));
        }
        fields.push(entry.field);
        let descending = entry.direction == OrderDirection::Desc;
        keys.push(match entry.field {
            EndpointOrderField::Name => SortKey {
                col: endpoint::Column::Name,
                name: "NAME",
                nullable: true,
                kind: KeyKind::Text,
                descending,
            },
            EndpointOrderField::Id => SortKey {
                col: endpoint::Column::Id,
                name: "ID",
                nullable: false,
                kind: KeyKind::Text,
                descending,
            },
        });
    }
    if !fields.contains(&EndpointOrderField::Id) {
        let descending = keys.last().is_some_and(|k| k.descending);
        fields.push(EndpointOrderField::Id);
        keys.push(SortKey {
            col: endpoint::Column::Id,
            name: "ID",
            nullable: false,
            kind: KeyKind::Text,
            descending,
        });
    }
    Ok((fields, keys))
}

/// A page of endpoints.
pub struct EndpointConnection {
    edges: Vec<(String, endpoint::Model)>,
    page_info: PageInfo,
    matching: Select<endpoint::Entity>,
}

/// An endpoint and its cursor.
pub struct EndpointEdge<'a>(&'a str, &'a endpoint::Model);

/// An endpoint and its cursor.
#[Object]
impl EndpointEdge<'_> {
    /// Opaque cursor of this endpoint, for `after`/`before`.
    async fn cursor(&self) -> &str {
        self.0
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
        self.edges.iter().map(|(c, e)| EndpointEdge(c, e)).collect()
    }
    /// The endpoints of this page.
    async fn nodes(&self) -> Vec<Endpoint> {
        self.edges
            .iter()
            .map(|(_, e)| Endpoint(e.clone()))
            .collect()
    }
    /// Where this page stands.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many endpoints match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let count = self
            .matching
            .clone()
            .count(scope(ctx).connection())
            .await
            .map_err(ApiError::from)?;
        Ok(count as i64)
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
        let scope = scope(ctx);
        let found = scope
            .endpoints()
            .filter(endpoint::Column::Id.eq(id.as_str()))
            .one(scope.connection())
            .await
            .map_err(ApiError::from)?;
        Ok(found.map(Endpoint))
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
        let scope = scope(ctx);
        let (fields, keys) = sort_keys(order_by)?;
        let page = pagination::page(
            &PageArgs {
                first,
                after,
                last,
                before,
            },
            &keys,
            limits(ctx).page,
        )?;
        let mut matching = scope.endpoints();
        if let Some(filter) = &filter {
            matching = matching.filter(filter.condition()?);
        }
        let rows = pagination::apply(matching.clone(), &keys, &page)
            .all(scope.connection())
            .await
            .map_err(ApiError::from)?;
        let (edges, page_info) = pagination::finish(rows, &page, |e| {
            let values: Vec<KeyValue> = fields
                .iter()
                .map(|f| match f {
                    EndpointOrderField::Name => e.name.clone().into(),
                    EndpointOrderField::Id => KeyValue::Text(e.id.clone()),
                })
                .collect();
            pagination::encode_cursor(&keys, &values)
        });
        Ok(EndpointConnection {
            edges,
            page_info,
            matching,
        })
    }
}
