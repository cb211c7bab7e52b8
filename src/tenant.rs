//! Tenants: their names and default thresholds. Reads of a tenant's rows go through
//! [`TenantScope`] (in the query core), which adds the tenant's predicate to every statement.
use entity::tenant;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
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

pub use crate::query::TenantScope;
