//! A tenant: one contact center's data, isolated from every other's.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    /// Default SLA threshold for queues that have none of their own.
    pub sla_threshold_in_sec: f64,
    /// Default quick-drop threshold for queues that have none of their own.
    pub quick_drop_threshold_in_sec: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
