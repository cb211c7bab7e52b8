//! Server configuration: one struct, read from flags and `INSIGHTS_*` environment variables.
use std::net::SocketAddr;

use clap::Args;
use ipnet::IpNet;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "INSIGHTS_BIND", default_value = "127.0.0.1:4000")]
    pub bind: SocketAddr,

    /// The tenant served with `--no-auth` (with API keys, the key decides the tenant).
    #[arg(long, env = "INSIGHTS_TENANT", default_value = "default")]
    pub tenant: String,

    /// Serve without API keys, as `--tenant`, with every scope. Only allowed on a loopback
    /// address (demo and development); `--demo` on loopback implies it.
    #[arg(long, env = "INSIGHTS_NO_AUTH")]
    pub no_auth: bool,

    /// Requests per second one API key may make (bursts of twice that are allowed); beyond it
    /// requests get HTTP 429 with Retry-After. On PostgreSQL the budget holds for all
    /// instances on the database together: each enforces its share.
    #[arg(long, env = "INSIGHTS_RATE_LIMIT", default_value_t = 50)]
    pub rate_limit: u32,

    /// Requests with a missing or bad API key one client address may make per minute; past
    /// that the address gets HTTP 429 with Retry-After until its budget refills.
    #[arg(long, env = "INSIGHTS_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
    pub auth_failures_per_minute: u32,

    /// On SIGTERM, seconds during which /readyz answers 503 (so load balancers stop sending
    /// traffic) while requests are still served, before the listener closes.
    #[arg(long, env = "INSIGHTS_DRAIN_SECS", default_value_t = 5)]
    pub drain_secs: u64,

    /// Upper bound for one request, in seconds.
    #[arg(long, env = "INSIGHTS_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Origins allowed to call the API from a browser (CORS), comma-separated; none by default.
    /// (INSIGHTS_CORS_ORIGINS, the older name, is read when INSIGHTS_CORS_ORIGIN is not set.)
    #[arg(
        long = "cors-origin",
        env = "INSIGHTS_CORS_ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Most root fields one operation may select.
    #[arg(long, env = "INSIGHTS_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Most aliases one operation may use.
    #[arg(long, env = "INSIGHTS_MAX_ALIASES", default_value_t = 200)]
    pub max_aliases: usize,

    /// Open subscriptions one API key may hold (over all its WebSocket connections and
    /// Server-Sent Events streams, on every instance on the database); more are refused with
    /// RATE_LIMITED (a WebSocket stays open).
    #[arg(
        long,
        env = "INSIGHTS_MAX_SUBSCRIPTIONS_PER_KEY",
        default_value_t = 100
    )]
    pub max_subscriptions_per_key: usize,

    /// Announcements kept for a subscriber that reads slower than commits arrive; one that
    /// falls further behind catches up from the database by change position (nothing is lost).
    #[arg(long, env = "INSIGHTS_SUBSCRIPTION_BUFFER", default_value_t = 1024)]
    pub subscription_buffer: usize,

    /// Seconds between the server's keep-alive pings on a WebSocket; a client silent for three
    /// times this long is disconnected.
    #[arg(long, env = "INSIGHTS_WS_PING_SECS", default_value_t = 15)]
    pub ws_ping_secs: u64,

    /// Seconds a new WebSocket has to be acknowledged (its `connection_init` with a valid key);
    /// later, it is closed with 4408.
    #[arg(long, env = "INSIGHTS_WS_INIT_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_init_timeout_secs: u64,

    /// WebSockets one client address may hold open before they are acknowledged; more are
    /// refused (HTTP 429 RATE_LIMITED with Retry-After) before the upgrade.
    #[arg(
        long,
        env = "INSIGHTS_MAX_PENDING_SOCKETS_PER_ADDRESS",
        default_value_t = 16
    )]
    pub max_pending_sockets_per_address: usize,

    /// Seconds between the comment lines (`:`) the server writes on an idle Server-Sent Events
    /// stream (`POST /graphql/stream`), so that proxies do not close it for being quiet.
    #[arg(long, env = "INSIGHTS_SSE_KEEPALIVE_SECS", default_value_t = 15)]
    pub sse_keepalive_secs: u64,

    /// Seconds between checks that the keys of open subscriptions are still valid: a revoked
    /// key's connections close within this long (WebSocket code 4401; an SSE stream ends with
    /// an UNAUTHENTICATED error).
    #[arg(long, env = "INSIGHTS_KEY_RECHECK_SECS", default_value_t = 2)]
    pub key_recheck_secs: u64,

    /// Fill an empty tenant with generated demo data before serving.
    #[arg(long, env = "INSIGHTS_DEMO")]
    pub demo: bool,

    /// How many dialogues `--demo` generates.
    #[arg(long, env = "INSIGHTS_DEMO_DIALOGUES", default_value_t = 20_000)]
    pub demo_dialogues: u64,

    /// Default page size of connections when `first`/`last` is not given.
    #[arg(long, env = "INSIGHTS_DEFAULT_PAGE_SIZE", default_value_t = 50)]
    pub default_page_size: usize,

    /// Largest `first`/`last` a request may ask for; more is a BAD_USER_INPUT error.
    #[arg(long, env = "INSIGHTS_MAX_PAGE_SIZE", default_value_t = 500)]
    pub max_page_size: usize,

    /// Most entities in one OData response; more are reached by its `@odata.nextLink`.
    #[arg(long, env = "INSIGHTS_ODATA_PAGE_SIZE", default_value_t = 1000)]
    pub odata_page_size: usize,

    /// Deepest query nesting accepted.
    #[arg(long, env = "INSIGHTS_MAX_DEPTH", default_value_t = 16)]
    pub max_depth: usize,

    /// Highest query complexity accepted (each field counts 1, lists count their page size).
    #[arg(long, env = "INSIGHTS_MAX_COMPLEXITY", default_value_t = 50_000)]
    pub max_complexity: usize,

    /// Largest number of rows one `dialogueStats` call may produce (buckets × groups).
    #[arg(long, env = "INSIGHTS_MAX_STATS_ROWS", default_value_t = 100_000)]
    pub max_stats_rows: usize,

    /// Serve introspection queries (GraphiQL and client generators need them).
    #[arg(long, env = "INSIGHTS_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// Largest request body in bytes.
    #[arg(long, env = "INSIGHTS_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Longest request URI (path and query) in bytes; longer: HTTP 414 with a coded JSON error.
    /// The default leaves room for an OData `$filter` at its own limit (16 KiB), percent-encoded.
    #[arg(long, env = "INSIGHTS_MAX_URI_BYTES", default_value_t = 32 << 10)]
    pub max_uri_bytes: usize,

    /// Most bytes of request headers together (names, values and their separators, as sent);
    /// more: HTTP 431 with a coded JSON error.
    #[arg(long, env = "INSIGHTS_MAX_HEADER_BYTES", default_value_t = 64 << 10)]
    pub max_header_bytes: usize,

    /// Upper bound for one database statement, in seconds (PostgreSQL).
    #[arg(long, env = "INSIGHTS_STATEMENT_TIMEOUT_SECS", default_value_t = 30)]
    pub statement_timeout_secs: u64,

    /// How long a request waits for a database connection, in milliseconds. While every
    /// connection is busy or the database is unreachable, requests are refused after this long
    /// (503 RATE_LIMITED with Retry-After) instead of hanging.
    #[arg(long, env = "INSIGHTS_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1500)]
    pub db_acquire_timeout_ms: u64,

    /// A PostgreSQL streaming replica of the database to read from (repeatable; in
    /// INSIGHTS_REPLICA_URLS comma-separated). Queries, stats, OData, the wallboard and the
    /// subscriptions' re-reads go to a healthy replica; writes, LISTEN, migrations and API
    /// keys stay on the database. Each replica gets a pool as large as the primary's.
    #[arg(
        long = "replica-url",
        env = "INSIGHTS_REPLICA_URLS",
        value_delimiter = ','
    )]
    pub replica_urls: Vec<String>,

    /// Seconds a replica may lag behind the primary (measured on WAL positions) and stay in
    /// rotation; one further behind, or not answering, gets no reads until it catches up.
    #[arg(long, env = "INSIGHTS_MAX_REPLICA_LAG", default_value_t = 5.0)]
    pub max_replica_lag: f64,

    /// Database connections in the pool.
    #[arg(long, env = "INSIGHTS_MAX_CONNECTIONS", default_value_t = 16)]
    pub max_connections: u32,

    /// Database reads one API key may run at once (each holds a connection); more wait their
    /// turn up to 2 s, then get 429 RATE_LIMITED. 0: a quarter of --max-connections (at
    /// least 1), so one key cannot take the whole pool.
    #[arg(long, env = "INSIGHTS_READS_PER_KEY", default_value_t = 0)]
    pub reads_per_key: u32,

    /// Proxies (load balancers) whose `X-Forwarded-For` is believed: an address or a network
    /// in CIDR notation, repeatable (comma-separated in the variable). From them the client is
    /// the right-most forwarded address that is not itself a trusted proxy; from any other peer
    /// the header is ignored and the socket's address counts.
    #[arg(
        long = "trusted-proxy",
        env = "INSIGHTS_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = crate::app::client::parse_network
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// How long a browser may reuse a successful `GET /graphql` answer, in seconds
    /// (`Cache-Control: private, max-age=N`, `Vary: Authorization, Accept`); 0: revalidate
    /// every time. Errors, POSTs and mutations are never stored.
    #[arg(long, env = "INSIGHTS_GET_MAX_AGE_SECS", default_value_t = 10)]
    pub get_max_age_secs: u64,
}

impl ServeConfig {
    /// How far behind the primary a replica may be (`--max-replica-lag`).
    pub fn max_replica_lag(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.max_replica_lag.clamp(0.0, 86_400.0))
    }

    /// Database reads one key may run at once (`--reads-per-key`, else a quarter of the pool).
    pub fn reads_per_key(&self) -> usize {
        match self.reads_per_key {
            0 => (self.max_connections / 4).max(1) as usize,
            n => n as usize,
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: ServeConfig,
        }
        Wrapper::parse_from(["insights"]).config
    }
}
