use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    SlaThresholdInSec,
    QuickDropThresholdInSec,
}

#[derive(DeriveIden)]
enum Endpoints {
    Table,
    TenantId,
    Id,
    Name,
    Role,
    SlaThresholdInSec,
    QuickDropThresholdInSec,
}

#[derive(DeriveIden)]
enum Dialogues {
    Table,
    TenantId,
    Id,
    OrderNumber,
    StartDate,
    StartTimestampMs,
    QueueEnterTimestampMs,
    AcceptTimestampMs,
    EndTimestampMs,
    IvrDurationInSec,
    QueueDurationInSec,
    InitialTalkDurationInSec,
    SessionDurationInSec,
    IvrId,
    QueueId,
    CustomerId,
    AgentId,
    Direction,
    Outcome,
    InSla,
    QuickDrop,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    SecretHash,
    Scopes,
    Label,
    CreatedAtMs,
    LastUsedAtMs,
    RevokedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(
                        ColumnDef::new(Tenants::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Tenants::Name)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Tenants::SlaThresholdInSec)
                            .double()
                            .not_null()
                            .default(20.0),
                    )
                    .col(
                        ColumnDef::new(Tenants::QuickDropThresholdInSec)
                            .double()
                            .not_null()
                            .default(5.0),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Endpoints::Table)
                    .col(ColumnDef::new(Endpoints::TenantId).integer().not_null())
                    .col(ColumnDef::new(Endpoints::Id).string().not_null())
                    .col(ColumnDef::new(Endpoints::Name).string().null())
                    .col(ColumnDef::new(Endpoints::Role).small_integer().not_null())
                    .col(ColumnDef::new(Endpoints::SlaThresholdInSec).double().null())
                    .col(
                        ColumnDef::new(Endpoints::QuickDropThresholdInSec)
                            .double()
                            .null(),
                    )
                    .primary_key(Index::create().col(Endpoints::TenantId).col(Endpoints::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Endpoints::Table, Endpoints::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_endpoints_tenant_name",
                vec![Endpoints::TenantId, Endpoints::Name, Endpoints::Id],
            ),
            (
                "ix_endpoints_tenant_role",
                vec![Endpoints::TenantId, Endpoints::Role, Endpoints::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Endpoints::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Dialogues::Table)
                    .col(ColumnDef::new(Dialogues::TenantId).integer().not_null())
                    .col(ColumnDef::new(Dialogues::Id).string().not_null())
                    .col(ColumnDef::new(Dialogues::OrderNumber).integer().not_null())
                    .col(ColumnDef::new(Dialogues::StartDate).date().not_null())
                    .col(
                        ColumnDef::new(Dialogues::StartTimestampMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Dialogues::QueueEnterTimestampMs)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Dialogues::AcceptTimestampMs)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Dialogues::EndTimestampMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(Dialogues::IvrDurationInSec).double().null())
                    .col(
                        ColumnDef::new(Dialogues::QueueDurationInSec)
                            .double()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Dialogues::InitialTalkDurationInSec)
                            .double()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Dialogues::SessionDurationInSec)
                            .double()
                            .null(),
                    )
                    .col(ColumnDef::new(Dialogues::IvrId).string().null())
                    .col(ColumnDef::new(Dialogues::QueueId).string().null())
                    .col(ColumnDef::new(Dialogues::CustomerId).string().null())
                    .col(ColumnDef::new(Dialogues::AgentId).string().null())
                    .col(
                        ColumnDef::new(Dialogues::Direction)
                            .small_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Dialogues::Outcome)
                            .small_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Dialogues::InSla).boolean().null())
                    .col(ColumnDef::new(Dialogues::QuickDrop).boolean().null())
                    .primary_key(Index::create().col(Dialogues::TenantId).col(Dialogues::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Dialogues::Table, Dialogues::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Every list is tenant-scoped and ordered by time (or order number) with id as the final
        // tie-breaker, so each index ends in the sort keys and id: keyset pages are index range scans.
        let dialogue_indexes: [(&str, Vec<Dialogues>, bool); 7] = [
            (
                "ux_dialogues_tenant_order_number",
                vec![Dialogues::TenantId, Dialogues::OrderNumber],
                true,
            ),
            (
                "ix_dialogues_tenant_start",
                vec![
                    Dialogues::TenantId,
                    Dialogues::StartTimestampMs,
                    Dialogues::Id,
                ],
                false,
            ),
            (
                "ix_dialogues_tenant_queue_start",
                vec![
                    Dialogues::TenantId,
                    Dialogues::QueueId,
                    Dialogues::StartTimestampMs,
                ],
                false,
            ),
            (
                "ix_dialogues_tenant_agent_start",
                vec![
                    Dialogues::TenantId,
                    Dialogues::AgentId,
                    Dialogues::StartTimestampMs,
                ],
                false,
            ),
            (
                "ix_dialogues_tenant_ivr_start",
                vec![
                    Dialogues::TenantId,
                    Dialogues::IvrId,
                    Dialogues::StartTimestampMs,
                ],
                false,
            ),
            (
                "ix_dialogues_tenant_customer_start",
                vec![
                    Dialogues::TenantId,
                    Dialogues::CustomerId,
                    Dialogues::StartTimestampMs,
                ],
                false,
            ),
            (
                "ix_dialogues_tenant_start_date",
                vec![Dialogues::TenantId, Dialogues::StartDate],
                false,
            ),
        ];
        for (name, cols, unique) in dialogue_indexes {
            let mut index = Index::create();
            index.name(name).table(Dialogues::Table);
            if unique {
                index.unique();
            }
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(
                        ColumnDef::new(ApiKeys::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiKeys::TenantId).integer().not_null())
                    .col(
                        ColumnDef::new(ApiKeys::SecretHash)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(ApiKeys::Scopes).string().not_null())
                    .col(ColumnDef::new(ApiKeys::Label).string().null())
                    .col(
                        ColumnDef::new(ApiKeys::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiKeys::LastUsedAtMs).big_integer().null())
                    .col(ColumnDef::new(ApiKeys::RevokedAtMs).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiKeys::Table.into_iden(),
            Dialogues::Table.into_iden(),
            Endpoints::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
