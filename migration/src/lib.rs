//! Schema migrations. The same migrations run on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_endpoint_name_search;
mod m0003_rollups;
mod m0004_rollup_dimensions;
pub mod rollups;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_endpoint_name_search::Migration),
            Box::new(m0003_rollups::Migration),
            Box::new(m0004_rollup_dimensions::Migration),
        ]
    }
}
