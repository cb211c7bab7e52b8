//! Pre-aggregated counts and sums of the dialogues, kept exact by triggers (as the SQL it ran, `frozen/`),
//! built here for the dialogues already stored.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        crate::frozen::IN_ONE_TRANSACTION
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0003_up").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0003_down").await
    }
}
