//! Pre-aggregated counts and sums of the dialogues, kept exact by triggers (see [`crate::rollups`]),
//! built here for the dialogues already stored.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too: on one connection (a connection whose view of the
    /// schema is older than another's could skip a `DROP TRIGGER IF EXISTS` and fail the
    /// `CREATE TRIGGER` after it), and a failed step leaves nothing half built.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::rollups::install(manager.get_connection(), 3).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::rollups::uninstall(manager.get_connection(), 3).await
    }
}
