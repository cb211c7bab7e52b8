//! Connecting to the database (SQLite file by default, PostgreSQL in production) and migrating.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};

/// The embedded default: a SQLite file in the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://insights.db?mode=rwc";

#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    /// Upper bound for one statement (PostgreSQL `statement_timeout`).
    pub statement_timeout: Option<Duration>,
    /// How long a query waits for a pooled connection, including (re)connecting. While the
    /// database is down, sqlx keeps retrying a refused connection until this runs out, so it is
    /// also how long a request takes to fail then.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            statement_timeout: None,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Opens a pool. SQLite runs in WAL mode so readers never wait for an import, and waits for a
/// busy writer instead of failing.
pub async fn connect(options: &DbOptions) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(options.url.clone());
    opts.max_connections(options.max_connections)
        .min_connections(0)
        // sea-orm's `connect_timeout` is also sqlx's acquire timeout (not a TCP connect timeout):
        // set both to the one bound, which covers connecting too.
        .connect_timeout(options.acquire_timeout)
        .acquire_timeout(options.acquire_timeout)
        .sqlx_logging(false);
    if let Some(timeout) = options.statement_timeout {
        opts.statement_timeout(timeout);
    }
    if is_sqlite(&options.url) {
        opts.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    }
    Database::connect(opts).await
}

/// Connects and applies every pending migration.
pub async fn connect_and_migrate(options: &DbOptions) -> Result<DatabaseConnection, DbErr> {
    let db = connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// `$1` on PostgreSQL, `?` on SQLite: the placeholder for the n-th (1-based) bound value.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// Runs a read that sorts or hashes many rows (stats). On PostgreSQL it gets more working
/// memory than the default 4 MB for this one statement, so sorts stay in memory.
pub async fn query_all_sorting(
    db: &sea_orm::DatabaseConnection,
    stmt: sea_orm::Statement,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    if db.get_database_backend() != DbBackend::Postgres {
        return db.query_all_raw(stmt).await;
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL work_mem = '64MB'")
        .await?;
    let rows = txn.query_all_raw(stmt).await?;
    txn.commit().await?;
    Ok(rows)
}
