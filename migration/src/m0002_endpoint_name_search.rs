//! A case-folded copy of each endpoint's name, written by the importer with Unicode case
//! folding, because SQLite's LOWER() folds ASCII only and name filters must ignore case alike
//! on both databases.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Endpoints {
    Table,
    NameSearch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Endpoints::Table)
                    .add_column(ColumnDef::new(Endpoints::NameSearch).string().null())
                    .to_owned(),
            )
            .await?;
        // Fill it for endpoints imported before this column existed.
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT tenant_id, id, name FROM endpoints WHERE name IS NOT NULL",
            ))
            .await?;
        for row in rows {
            let tenant_id: i32 = row.try_get("", "tenant_id")?;
            let id: String = row.try_get("", "id")?;
            let name: String = row.try_get("", "name")?;
            let sql = match backend {
                sea_orm_migration::sea_orm::DbBackend::Postgres => {
                    "UPDATE endpoints SET name_search = $1 WHERE tenant_id = $2 AND id = $3"
                }
                _ => "UPDATE endpoints SET name_search = ? WHERE tenant_id = ? AND id = ?",
            };
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [name.to_lowercase().into(), tenant_id.into(), id.into()],
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Endpoints::Table)
                    .drop_column(Endpoints::NameSearch)
                    .to_owned(),
            )
            .await
    }
}
