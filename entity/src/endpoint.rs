//! An endpoint: a party a dialogue passes through (IVR, queue, customer, agent).
use sea_orm::entity::prelude::*;

use crate::EndpointRole;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: Option<String>,
    pub role: EndpointRole,
    pub sla_threshold_in_sec: Option<f64>,
    pub quick_drop_threshold_in_sec: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
