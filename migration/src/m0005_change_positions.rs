//! Change positions (docs/api.md, resuming subscriptions): a per-tenant counter that every
//! commit changing dialogues increments, and on each dialogue the position of the commit that
//! changed it last with its place among that commit's changes, indexed for "what changed after
//! position p" in position order. Dialogues stored before this migration keep 0, which is
//! before any position. Kept as the SQL it ran (`frozen/`).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        crate::frozen::IN_ONE_TRANSACTION
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0005_up").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::frozen::run(manager, "m0005_down").await
    }
}
