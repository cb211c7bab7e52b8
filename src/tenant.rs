//! Tenants, and the one tenant-scoped gate to their rows.
//!
//! Every read goes through [`TenantScope`]: it hands out queries that already carry the tenant's
//! predicate, so no resolver, loader or stats query can forget it.
use entity::{dialogue, endpoint, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Select, Set,
};

/// Out-of-the-box defaults for queues without thresholds of their own (API.md §1).
pub const DEFAULT_SLA_THRESHOLD_SEC: f64 = 20.0;
pub const DEFAULT_QUICK_DROP_THRESHOLD_SEC: f64 = 5.0;

pub async fn find<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find()
        .filter(tenant::Column::Name.eq(name))
        .one(db)
        .await
}

/// The tenant named `name`, created with the default thresholds if it does not exist yet.
pub async fn ensure<C: ConnectionTrait>(db: &C, name: &str) -> Result<tenant::Model, DbErr> {
    if let Some(found) = find(db, name).await? {
        return Ok(found);
    }
    let created = tenant::ActiveModel {
        name: Set(name.to_string()),
        sla_threshold_in_sec: Set(DEFAULT_SLA_THRESHOLD_SEC),
        quick_drop_threshold_in_sec: Set(DEFAULT_QUICK_DROP_THRESHOLD_SEC),
        ..Default::default()
    }
    .insert(db)
    .await;
    match created {
        Ok(model) => Ok(model),
        // Another process created it between our look-up and insert.
        Err(err) => find(db, name).await?.ok_or(err),
    }
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<tenant::Model>, DbErr> {
    tenant::Entity::find()
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await
}

/// Changes a tenant's default thresholds. Stored `inSla`/`quickDrop` values are history and
/// are not recomputed: only dialogues ingested afterwards use the new defaults.
pub async fn set_thresholds<C: ConnectionTrait>(
    db: &C,
    name: &str,
    sla_threshold_in_sec: Option<f64>,
    quick_drop_threshold_in_sec: Option<f64>,
) -> Result<tenant::Model, DbErr> {
    let current = ensure(db, name).await?;
    let mut active: tenant::ActiveModel = current.into();
    if let Some(value) = sla_threshold_in_sec {
        active.sla_threshold_in_sec = Set(value);
    }
    if let Some(value) = quick_drop_threshold_in_sec {
        active.quick_drop_threshold_in_sec = Set(value);
    }
    active.update(db).await
}

/// Read access confined to one tenant.
#[derive(Clone, Debug)]
pub struct TenantScope {
    db: DatabaseConnection,
    tenant_id: i32,
}

impl TenantScope {
    pub fn new(db: DatabaseConnection, tenant_id: i32) -> Self {
        Self { db, tenant_id }
    }

    pub fn tenant_id(&self) -> i32 {
        self.tenant_id
    }

    /// The connection to run the scoped queries below on.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// All of this tenant's dialogues; callers add their own filters and order.
    pub fn dialogues(&self) -> Select<dialogue::Entity> {
        dialogue::Entity::find().filter(dialogue::Column::TenantId.eq(self.tenant_id))
    }

    /// All of this tenant's endpoints.
    pub fn endpoints(&self) -> Select<endpoint::Entity> {
        endpoint::Entity::find().filter(endpoint::Column::TenantId.eq(self.tenant_id))
    }
}
