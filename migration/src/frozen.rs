//! Migrations kept as the SQL they ran: one file a migration, direction and database, the
//! statements separated by `--;;` lines (trigger bodies hold semicolons of their own).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

/// A migration's script for each database.
pub struct Script {
    pub name: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

macro_rules! script {
    ($name:literal) => {
        Script {
            name: $name,
            postgres: include_str!(concat!("frozen/", $name, ".postgres.sql")),
            sqlite: include_str!(concat!("frozen/", $name, ".sqlite.sql")),
        }
    };
}

/// Every frozen script, oldest first.
pub const SCRIPTS: [Script; 8] = [
    script!("m0003_up"),
    script!("m0003_down"),
    script!("m0004_up"),
    script!("m0004_down"),
    script!("m0005_up"),
    script!("m0005_down"),
    script!("m0006_up"),
    script!("m0006_down"),
];

/// The statements of a script, in order (a part holding only `--` comments is none).
pub fn statements(script: &str) -> impl Iterator<Item = &str> {
    script
        .split("\n--;;\n")
        .map(|s| s.trim().trim_end_matches(';'))
        .filter(|s| {
            !s.lines()
                .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
        })
}

/// Runs the script `name` on the connection's database, statement by statement.
pub async fn run(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let script = SCRIPTS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| DbErr::Migration(format!("no frozen script {name}")))?;
    let text = match backend {
        DbBackend::Postgres => script.postgres,
        _ => script.sqlite,
    };
    for sql in statements(text) {
        db.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
}

/// What the pre-aggregate migrations answer to sea-orm's `use_transaction`: one transaction on
/// SQLite too, so that every statement runs on one connection (a pooled connection whose view
/// of the schema is older than another's could skip a `DROP TRIGGER IF EXISTS` and fail the
/// `CREATE TRIGGER` after it) and a failed step leaves nothing half built.
pub const IN_ONE_TRANSACTION: Option<bool> = Some(true);

/// The migration of a module whose statements are kept here: `frozen_migration!("m0006")` runs
/// `m0006_up` and `m0006_down`, in one transaction. The migration's name stays the module's.
macro_rules! frozen_migration {
    ($id:literal) => {
        #[derive(sea_orm_migration::prelude::DeriveMigrationName)]
        pub struct Migration;

        #[async_trait::async_trait]
        impl sea_orm_migration::prelude::MigrationTrait for Migration {
            fn use_transaction(&self) -> Option<bool> {
                crate::frozen::IN_ONE_TRANSACTION
            }

            async fn up(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::frozen::run(manager, concat!($id, "_up")).await
            }

            async fn down(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::frozen::run(manager, concat!($id, "_down")).await
            }
        }
    };
}
pub(crate) use frozen_migration;
