//! Pre-aggregates keyed by agent and by the other dimensions (queue, ivr, direction, outcome,
//! inSla, quickDrop) at the hour, built for the dialogues already stored; the triggers are
//! re-created over every grain (as the SQL it ran, `frozen/`).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        crate::frozen::IN_ONE_TRANSACTION
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0004_up").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0004_down").await
    }
}
