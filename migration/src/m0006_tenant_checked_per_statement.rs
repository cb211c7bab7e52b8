//! PostgreSQL checks the tenant of dialogues and endpoints once a statement instead of once a
//! row: a foreign key's check is one look-up of the tenant row for every row written, about a
//! tenth of an ingest call whose callers are all new. The guarantees stay those of the foreign
//! key (see the script). SQLite keeps its foreign keys. Kept as the SQL it ran (`frozen/`).
crate::frozen::frozen_migration!("m0006");
