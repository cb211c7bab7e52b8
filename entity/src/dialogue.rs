//! A dialogue: one call or chat of contact history, field for field the vendor's entity.
use sea_orm::entity::prelude::*;

use crate::{Direction, Outcome};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dialogues")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_number: i32,
    pub start_date: Date,
    pub start_timestamp_ms: i64,
    pub queue_enter_timestamp_ms: Option<i64>,
    pub accept_timestamp_ms: Option<i64>,
    pub end_timestamp_ms: Option<i64>,
    pub ivr_duration_in_sec: Option<f64>,
    pub queue_duration_in_sec: Option<f64>,
    pub initial_talk_duration_in_sec: Option<f64>,
    pub session_duration_in_sec: Option<f64>,
    pub ivr_id: Option<String>,
    pub queue_id: Option<String>,
    pub customer_id: Option<String>,
    pub agent_id: Option<String>,
    pub direction: Direction,
    pub outcome: Outcome,
    pub in_sla: Option<bool>,
    pub quick_drop: Option<bool>,
    /// The change position of the commit that inserted or last changed the row (per tenant,
    /// increasing with commit order; 0: stored before positions existed). Set by the write
    /// service; see `insights_core::live::position`.
    pub change_position: i64,
    /// The row's place among the changes of that commit, in the order the commit wrote them.
    pub change_index: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
