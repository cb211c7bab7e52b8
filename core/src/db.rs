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
    if !is_sqlite(&options.url) {
        probe_postgres(options).await?;
    }
    Database::connect(connect_options(options)).await
}

/// A PostgreSQL pool that connects when first used (a read replica that may be down at start).
pub async fn connect_lazy(options: &DbOptions) -> Result<DatabaseConnection, DbErr> {
    let mut opts = connect_options(options);
    opts.connect_lazy(true);
    Database::connect(opts).await
}

fn connect_options(options: &DbOptions) -> ConnectOptions {
    let mut opts = ConnectOptions::new(options.url.clone());
    opts.max_connections(options.max_connections)
        .min_connections(0)
        // sea-orm's `connect_timeout` is also sqlx's acquire timeout (not a TCP connect timeout):
        // set both to the one bound, which covers connecting too.
        .connect_timeout(options.acquire_timeout)
        .acquire_timeout(options.acquire_timeout)
        // No ping on every checkout (a round trip per request); only a connection idle long
        // enough to have been dropped by the server or a firewall is tested first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if let Some(timeout) = options.statement_timeout {
        opts.statement_timeout(timeout);
    }
    if !is_sqlite(&options.url) {
        // Stats sort and hash many rows: 64 MB keeps those sorts in memory (default 4 MB).
        opts.map_sqlx_postgres_opts(|o| o.options([("work_mem", "64MB")]));
        // sqlx 0.9.0 no longer disables Nagle's algorithm on its sockets (sqlx issue #4335,
        // fixed after 0.9.0): a statement whose parameters span an odd number of TCP segments
        // then waits ~40 ms for the server's delayed ACK — half of all big ingest batches.
        opts.map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|_, _| {
                Box::pin(async {
                    tcp_nodelay_everywhere();
                    Ok(())
                })
            })
        });
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
    opts
}

/// Where a PostgreSQL URL points, for logs and metrics: `host:port/database`, never the user's
/// password.
pub fn place(url: &str) -> String {
    use sea_orm::sqlx::postgres::PgConnectOptions;
    match url.parse::<PgConnectOptions>() {
        Ok(target) => format!(
            "{}:{}/{}",
            target.get_host(),
            target.get_port(),
            target.get_database().unwrap_or(target.get_username())
        ),
        Err(_) => redacted(url),
    }
}

/// A URL with its password (if any) replaced, for error messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// One plain connection before the pool is built. A pool that cannot connect only says that
/// it timed out, after the whole acquire timeout; this says at once why, and where it tried
/// (never the password).
async fn probe_postgres(options: &DbOptions) -> Result<(), DbErr> {
    use sea_orm::sqlx::postgres::PgConnectOptions;
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let target: PgConnectOptions = options
        .url
        .parse()
        .map_err(|e| DbErr::Custom(format!("the database URL is not valid: {e}")))?;
    let place = format!(
        "PostgreSQL at {}:{} (database `{}`, user `{}`)",
        target.get_host(),
        target.get_port(),
        target.get_database().unwrap_or(target.get_username()),
        target.get_username()
    );
    let reason = match tokio::time::timeout(options.acquire_timeout, target.connect()).await {
        Ok(Ok(connection)) => {
            connection.close().await.ok();
            return Ok(());
        }
        Ok(Err(sea_orm::sqlx::Error::Database(e))) => e.message().to_string(),
        Ok(Err(sea_orm::sqlx::Error::Io(e))) => e.to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no answer within {} s",
            options.acquire_timeout.as_secs_f64()
        ),
    };
    // Custom: a `Conn` error would carry its text twice (as itself and as its source).
    Err(DbErr::Custom(format!("{place}: {reason}")))
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

/// Sets `TCP_NODELAY` on every TCP socket of this process (the one sqlx just opened among them;
/// sqlx offers no handle on it). Harmless for the others: the HTTP server's sockets want it too.
#[cfg(target_os = "linux")]
fn tcp_nodelay_everywhere() {
    use std::os::fd::BorrowedFd;
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed for two socket options and never closed; if
        // it was closed and reused meanwhile, the calls fail or set the option on another socket.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket
            .local_addr()
            .is_ok_and(|addr| addr.as_socket().is_some())
        {
            let _ = socket.set_tcp_nodelay(true);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn tcp_nodelay_everywhere() {}
