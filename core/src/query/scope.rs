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
use crate::reads::{ReadPools, Route};

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
    /// Where reads go when there are read replicas (None: all on `db`, the primary).
    route: Option<Route>,
}

impl TenantScope {
    pub fn new(db: DatabaseConnection, tenant_id: i32) -> Self {
        Self {
            db,
            tenant_id,
            rollups: true,
            share: None,
            route: None,
        }
    }

    /// The same scope reading from the replicas of `pools` when it has any (writes, and the
    /// reads of the write service, stay on the primary).
    pub fn reading_from(mut self, pools: Option<&ReadPools>) -> Self {
        self.route = pools
            .filter(|pools| !pools.replicas().is_empty())
            .map(|pools| Route::new(pools.clone()));
        self
    }

    /// The same scope, whose reads see at least the tenant's commit `position` (read-your-
    /// writes): a replica that has replayed it, else the primary. Always true without replicas.
    pub fn reading_after(&self, position: i64) -> Self {
        let mut scope = self.clone();
        scope.route = self.route.as_ref().map(|route| route.after(position));
        scope
    }

    /// Runs a read statement where the scope's reads go.
    async fn read<T, F, Fut>(&self, statement: F) -> ApiResult<T>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, sea_orm::DbErr>>,
    {
        let _place = self.enter().await?;
        Ok(match &self.route {
            Some(route) => route.run(self.tenant_id, statement).await?,
            None => statement(self.db.clone()).await?,
        })
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

    /// The primary's connection, for the write service of the same tenant
    /// (`ingest::write::Writer`) and reads that must see the latest commit.
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
        self.read(|db| {
            let statement = statement.clone();
            async move { db.query_all_raw(statement).await }
        })
        .await
    }

    pub(super) async fn one(&self, statement: Statement) -> ApiResult<Option<QueryResult>> {
        self.read(|db| {
            let statement = statement.clone();
            async move { db.query_one_raw(statement).await }
        })
        .await
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
        self.read(|db| {
            let select = select.clone();
            async move { select.all(&db).await }
        })
        .await
    }
}
