//! Tenants: their names and default thresholds. Reads of a tenant's rows go through
//! [`TenantScope`] (in the query core), which adds the tenant's predicate to every statement.
use entity::tenant;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

/// Out-of-the-box defaults for queues without thresholds of their own (docs/api.md).
pub const DEFAULT_SLA_THRESHOLD_SEC: f64 = 20.0;
pub const DEFAULT_QUICK_DROP_THRESHOLD_SEC: f64 = 5.0;

pub async fn find<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find()
        .filter(tenant::Column::Name.eq(name))
        .one(db)
        .await
}

/// The tenant named `name`, created with the default thresholds if it does not exist yet.
/// Safe inside a transaction (a concurrent creation is not an error that aborts it), so the
/// importer creates a new tenant within the file's transaction.
pub async fn ensure<C: ConnectionTrait>(db: &C, name: &str) -> Result<tenant::Model, DbErr> {
    if let Some(found) = find(db, name).await? {
        return Ok(found);
    }
    let created = tenant::ActiveModel {
        name: Set(name.to_string()),
        sla_threshold_in_sec: Set(DEFAULT_SLA_THRESHOLD_SEC),
        quick_drop_threshold_in_sec: Set(DEFAULT_QUICK_DROP_THRESHOLD_SEC),
        ..Default::default()
    };
    // Another process may create it between our look-up and insert: then there is nothing to do.
    tenant::Entity::insert(created)
        .on_conflict(
            OnConflict::column(tenant::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    find(db, name)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("tenant `{name}` after creating it")))
}

/// The tenant with id `id`.
pub async fn by_id<C: ConnectionTrait>(db: &C, id: i32) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find_by_id(id).one(db).await
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
