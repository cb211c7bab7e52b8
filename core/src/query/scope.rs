//! The one door to a tenant's rows. Every read of the query core starts from a [`TenantScope`]:
//! the tenant predicate is added here, and the connection never leaves the query core, so no
//! resolver, loader, stats query or OData handler can forget it.
use entity::{dialogue, endpoint};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryResult, QuerySelect, QueryTrait, Select, Statement,
};

use tokio::sync::OwnedSemaphorePermit;

use super::filter::{Field, Filter};
use super::share::ReadShare;
use crate::error::ApiResult;

/// Read access confined to one tenant.
#[derive(Clone, Debug)]
pub struct TenantScope {
    db: DatabaseConnection,
    tenant_id: i32,
    /// Whether counts and stats may come from the pre-aggregates (`rollups`).
    rollups: bool,
    /// The caller's places in the pool ([`super::share`]); every statement takes one. None:
    /// reads the server makes itself (subscription re-reads, the command line).
    share: Option<ReadShare>,
}

impl TenantScope {
    pub fn new(db: DatabaseConnection, tenant_id: i32) -> Self {
        Self {
            db,
            tenant_id,
            rollups: true,
            share: None,
        }
    }

    /// The same scope, each statement of it taking one of `share`'s places while it runs.
    pub fn sharing(mut self, share: ReadShare) -> Self {
        self.share = Some(share);
        self
    }

    /// A place for one statement, if the scope has a share.
    async fn enter(&self) -> ApiResult<Option<OwnedSemaphorePermit>> {
        match &self.share {
            Some(share) => share.enter().await.map(Some),
            None => Ok(None),
        }
    }

    /// The same scope answering every count and stat from the dialogue rows, never from the
    /// pre-aggregates: the reference the pre-aggregates are tested and benchmarked against.
    pub fn without_rollups(mut self) -> Self {
        self.rollups = false;
        self
    }

    pub(super) fn uses_rollups(&self) -> bool {
        self.rollups
    }

    pub fn tenant_id(&self) -> i32 {
        self.tenant_id
    }

    /// The connection, for the write service of the same tenant (`ingest::write::Writer`).
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// All of this tenant's dialogues; the core adds filters and order.
    pub(super) fn dialogues(&self) -> Select<dialogue::Entity> {
        dialogue::Entity::find().filter(dialogue::Column::TenantId.eq(self.tenant_id))
    }

    /// This tenant's rows of a pre-aggregate table (`rollups::GRAINS`), nothing selected yet.
    pub(super) fn rollup(&self, table: &'static str) -> SelectStatement {
        Query::select()
            .from(Alias::new(table))
            .and_where(Expr::col((Alias::new(table), Alias::new("tenant_id"))).eq(self.tenant_id))
            .to_owned()
    }

    /// All of this tenant's endpoints.
    pub(super) fn endpoints(&self) -> Select<endpoint::Entity> {
        endpoint::Entity::find().filter(endpoint::Column::TenantId.eq(self.tenant_id))
    }

    /// Runs a statement built from [`Self::dialogues`] or [`Self::endpoints`].
    pub(super) async fn all(&self, statement: Statement) -> ApiResult<Vec<QueryResult>> {
        let _place = self.enter().await?;
        Ok(self.db.query_all_raw(statement).await?)
    }

    pub(super) async fn one(&self, statement: Statement) -> ApiResult<Option<QueryResult>> {
        let _place = self.enter().await?;
        Ok(self.db.query_one_raw(statement).await?)
    }

    /// How many rows of `select` (one of the scoped selects above) match `filter`.
    pub(super) async fn count<E: EntityTrait, F: Field>(
        &self,
        select: Select<E>,
        filter: Option<&Filter<F>>,
    ) -> ApiResult<i64> {
        let mut select = select;
        if let Some(filter) = filter {
            select = select.filter(filter.condition()?);
        }
        let statement = select
            .select_only()
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .build(self.backend());
        let row = self.one(statement).await?;
        Ok(row
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0))
    }

    pub(super) async fn models<E: EntityTrait>(
        &self,
        select: Select<E>,
    ) -> ApiResult<Vec<E::Model>> {
        let _place = self.enter().await?;
        Ok(select.all(&self.db).await?)
    }
}
