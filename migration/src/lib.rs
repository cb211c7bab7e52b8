//! Schema migrations. The same migrations run on SQLite and PostgreSQL.
//!
//! A migration is frozen in time: once released it creates the same schema forever, whatever
//! the code that reads the schema becomes. m0003 and m0004 (the pre-aggregates) were rendered
//! from the definitions of their day and are kept as the SQL they ran (`frozen/`), so a change
//! to the core's definitions can only reach a database through a new migration; the core's
//! tests fail until one holds the new statements. m0005 (change positions) and m0006 (the tenant
//! checked once a statement on PostgreSQL) are kept as SQL too.
pub use sea_orm_migration::prelude::*;

mod frozen;
mod m0001_initial;
mod m0002_endpoint_name_search;
mod m0003_rollups;
mod m0004_rollup_dimensions;
mod m0005_change_positions;
mod m0006_tenant_checked_per_statement;

pub use frozen::{statements as frozen_statements, SCRIPTS as FROZEN_SCRIPTS};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_endpoint_name_search::Migration),
            Box::new(m0003_rollups::Migration),
            Box::new(m0004_rollup_dimensions::Migration),
            Box::new(m0005_change_positions::Migration),
            Box::new(m0006_tenant_checked_per_statement::Migration),
        ]
    }
}
