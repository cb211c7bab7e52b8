//! Pre-aggregates keyed by agent and by the other dimensions (queue, ivr, direction, outcome,
//! inSla, quickDrop) at the hour, built for the dialogues already stored; the triggers are
//! re-created over every grain (see [`crate::rollups`]).
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
        crate::rollups::install(manager.get_connection(), 4).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::rollups::uninstall(manager.get_connection(), 4).await
    }
}
