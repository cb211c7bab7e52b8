//! Pre-aggregated counts and sums of the dialogues, kept exact by triggers (see [`crate::rollups`]),
//! built here for the dialogues already stored.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        crate::rollups::IN_ONE_TRANSACTION
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::rollups::install(manager.get_connection(), 3).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::rollups::uninstall(manager.get_connection(), 3).await
    }
}
