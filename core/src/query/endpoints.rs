//! Endpoints: pages with keyset cursors, counts, and look-ups by id (single or batched).
use entity::endpoint;
use sea_orm::{ColumnTrait, FromQueryResult, QueryFilter, QueryTrait};

use super::filter::{EndpointField, Filter};
use super::page::{self, KeyKind, KeyValue, PageArgs, PageInfo, PageLimits, SortKey};
use super::TenantScope;
use crate::error::{ApiError, ApiResult, Arg, Wording};

/// Most ids in one batched look-up.
pub const MAX_BATCH: usize = 1000;

/// What endpoints can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointOrderField {
    Name,
    Id,
}

impl EndpointOrderField {
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "NAME",
            Self::Id => "ID",
        }
    }
}

/// One key of an endpoint order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointOrder {
    pub field: EndpointOrderField,
    pub descending: bool,
}

/// A request for one page of endpoints.
#[derive(Debug, Clone, Default)]
pub struct EndpointListRequest {
    pub filter: Option<Filter<EndpointField>>,
    /// Sort keys, most significant first; empty means by id.
    pub order: Vec<EndpointOrder>,
    pub page: PageArgs,
}

/// A page of endpoints.
#[derive(Debug, Clone)]
pub struct EndpointPage {
    pub rows: Vec<endpoint::Model>,
    pub info: PageInfo,
    fields: Vec<EndpointOrderField>,
    keys: Vec<SortKey<endpoint::Column>>,
}

impl EndpointPage {
    /// The cursor of an endpoint of this page.
    pub fn cursor(&self, e: &endpoint::Model) -> String {
        cursor(&self.fields, &self.keys, e)
    }
}

fn cursor(
    fields: &[EndpointOrderField],
    keys: &[SortKey<endpoint::Column>],
    e: &endpoint::Model,
) -> String {
    let values: Vec<KeyValue> = fields
        .iter()
        .map(|f| match f {
            EndpointOrderField::Name => e.name.clone().into(),
            EndpointOrderField::Id => KeyValue::Text(e.id.clone()),
        })
        .collect();
    page::encode_cursor(keys, &values)
}

fn sort_keys(
    requested: &[EndpointOrder],
) -> ApiResult<(Vec<EndpointOrderField>, Vec<SortKey<endpoint::Column>>)> {
    let order = if requested.is_empty() {
        vec![EndpointOrder {
            field: EndpointOrderField::Id,
            descending: false,
        }]
    } else {
        requested.to_vec()
    };
    let key = |field: EndpointOrderField, descending: bool| match field {
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
    };
    let mut fields = Vec::new();
    let mut keys = Vec::new();
    for entry in &order {
        if fields.contains(&entry.field) {
            return Err(ApiError::bad_input(
                Wording::arg(Arg::OrderBy).then(format!(" names {} twice", entry.field.name())),
            ));
        }
        fields.push(entry.field);
        keys.push(key(entry.field, entry.descending));
    }
    if !fields.contains(&EndpointOrderField::Id) {
        let descending = keys.last().is_some_and(|k| k.descending);
        fields.push(EndpointOrderField::Id);
        keys.push(key(EndpointOrderField::Id, descending));
    }
    Ok((fields, keys))
}

impl TenantScope {
    /// One page of the tenant's endpoints matching the request's filter, in its order.
    pub async fn endpoint_page(
        &self,
        request: &EndpointListRequest,
        limits: PageLimits,
    ) -> ApiResult<EndpointPage> {
        self.endpoint_page_skipping(request, limits, 0).await
    }

    /// [`Self::endpoint_page`] after skipping `skip` matching rows (OData's `$skip`).
    pub async fn endpoint_page_skipping(
        &self,
        request: &EndpointListRequest,
        limits: PageLimits,
        skip: u64,
    ) -> ApiResult<EndpointPage> {
        let (fields, keys) = sort_keys(&request.order)?;
        let page = page::page(&request.page, &keys, limits)?;
        let mut select = self.endpoints();
        if let Some(filter) = &request.filter {
            select = select.filter(filter.condition()?);
        }
        let mut statement = page::apply(select, &keys, &page).build(self.backend());
        statement.sql.push_str(&page::limit_clause(&page));
        statement.sql.push_str(&page::offset_clause(skip));
        let rows = self
            .all(statement)
            .await?
            .iter()
            .map(|row| endpoint::Model::from_query_result(row, ""))
            .collect::<Result<Vec<_>, _>>()?;
        let (rows, info) = page::finish(rows, &page, |e| cursor(&fields, &keys, e));
        Ok(EndpointPage {
            rows,
            info,
            fields,
            keys,
        })
    }

    /// How many of the tenant's endpoints match `filter`.
    pub async fn count_endpoints(&self, filter: Option<&Filter<EndpointField>>) -> ApiResult<i64> {
        self.count(self.endpoints(), filter).await
    }

    /// The tenant's endpoints among `ids` (at most [`MAX_BATCH`] at once).
    pub async fn endpoints_by_ids(&self, ids: &[String]) -> ApiResult<Vec<endpoint::Model>> {
        if ids.len() > MAX_BATCH {
            return Err(ApiError::internal(format!(
                "{} endpoint ids in one look-up, more than {MAX_BATCH}",
                ids.len()
            )));
        }
        self.models(
            self.endpoints()
                .filter(endpoint::Column::Id.is_in(ids.iter().cloned())),
        )
        .await
    }
}
