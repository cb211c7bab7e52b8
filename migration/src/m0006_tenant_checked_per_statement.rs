//! PostgreSQL checks the tenant of dialogues and endpoints once a statement instead of once a
//! row: a foreign key's check is one look-up of the tenant row for every row written, about a
//! tenth of an ingest call whose callers are all new. The guarantees stay those of the foreign
//! key (see the script). SQLite keeps its foreign keys. Kept as the SQL it ran (`frozen/`).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        crate::frozen::IN_ONE_TRANSACTION
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0006_up").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0006_down").await
    }
}
