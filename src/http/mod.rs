//! The HTTP server around the schema: `/graphql` (POST and GET per GraphQL-over-HTTP, GraphiQL
//! for browsers, subscriptions over WebSocket), `/graphql/stream` (subscriptions over
//! Server-Sent Events), `/odata` (OData v4, [`crate::odata`]), `/healthz`, `/readyz`, `/metrics`.
mod accept;
mod cors;
pub mod graphiql;
mod graphql_http;
pub mod head_limits;
mod middleware;
pub mod pending;
mod probes;
mod sse;
mod subscriptions;
pub mod wallboard;
pub mod ws;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;

use crate::app::client::TrustedProxies;
use crate::app::config::ServeConfig;
use crate::app::rate::KeyRates;
use crate::app::throttle::AuthFailures;
use crate::app::{Access, AppState, Drain};
use crate::graphql::{self, ApiLimits, Guards, InsightsSchema};
use cors::CorsPolicy;
use insights_core::db::DbOptions;
use insights_core::live::fleet::Fleet;
use insights_core::live::hub::{Hub, LiveLimits};
use insights_core::live::{self, Announcer};
use insights_core::query::{PageLimits, ReadShares};
use insights_core::reads::ReadPools;
use insights_core::tenant::{self, TenantScope};

/// Builds the schema from the configuration.
pub fn schema(config: &ServeConfig) -> InsightsSchema {
    schema_with(config, Announcer::default())
}

/// Builds the schema from the configuration, with the process's announcer in its data.
pub fn schema_with(config: &ServeConfig, announcer: Announcer) -> InsightsSchema {
    graphql::build_schema_with(
        ApiLimits {
            page: PageLimits {
                default_size: config.default_page_size.min(config.max_page_size),
                max_size: config.max_page_size,
            },
            max_stats_rows: config.max_stats_rows,
        },
        Guards {
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            max_root_fields: config.max_root_fields,
            max_aliases: config.max_aliases,
            introspection: config.introspection,
        },
        announcer,
    )
}

/// Whether the configuration may run without API keys: only bound to a loopback address.
pub fn check_access(config: &ServeConfig) -> anyhow::Result<()> {
    if config.no_auth && !config.bind.ip().is_loopback() {
        anyhow::bail!(
            "refusing --no-auth on {}: without API keys the server may only listen on a loopback address \
             (127.0.0.1 or ::1); create keys with `insights keys create` instead",
            config.bind
        );
    }
    Ok(())
}

/// The whole application for a migrated database.
pub async fn app(db: DatabaseConnection, config: &ServeConfig) -> anyhow::Result<Router> {
    Ok(app_with_drain(db, config).await?.0)
}

/// The read replicas of `--replica-url`, watched from now on; None without any. Refused on
/// SQLite, which has none.
async fn read_replicas(
    db: &DatabaseConnection,
    config: &ServeConfig,
) -> anyhow::Result<Option<ReadPools>> {
    if config.replica_urls.is_empty() {
        return Ok(None);
    }
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        anyhow::bail!(
            "--replica-url (INSIGHTS_REPLICA_URLS) needs PostgreSQL: the database is SQLite, \
             which has no replicas; remove the option or serve from PostgreSQL"
        );
    }
    let mut options = DbOptions::new(String::new());
    options.max_connections = config.max_connections;
    options.acquire_timeout = Duration::from_millis(config.db_acquire_timeout_ms.max(1));
    options.statement_timeout = Some(Duration::from_secs(config.statement_timeout_secs));
    let pools = ReadPools::connect(
        db.clone(),
        &config.replica_urls,
        &options,
        config.max_replica_lag(),
    )
    .await?;
    insights_core::reads::check_at_start(&pools).await;
    tokio::spawn(insights_core::reads::health::watch(pools.clone()));
    Ok(Some(pools))
}

/// The live-update side of a serving process: the one [`Announcer`] (writers announce commits
/// to it; on PostgreSQL the listener started here feeds it every process's commits), the
/// [`Hub`] of WebSocket connections, and its [`Fleet`] (on PostgreSQL, the instances on the
/// same database, heard through the same listener, over which the per-key limits hold).
/// On PostgreSQL also whether the listener listens (`/readyz` is not ready while it does not).
async fn live(
    db: &DatabaseConnection,
    config: &ServeConfig,
) -> (Hub, Option<tokio::sync::watch::Receiver<bool>>) {
    let announcer = Announcer::new(config.subscription_buffer.max(1));
    let fleet = Fleet::new();
    let listening = live::listener::spawn(db, announcer.clone(), fleet.clone());
    if let Some(mut listening) = listening.clone() {
        // Serve once the listener listens, so that no commit after start-up goes unheard.
        let wait = listening.wait_for(|listening| *listening);
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            tracing::warn!("serving before the live-update listener could listen");
        }
    }
    let hub = Hub::with_fleet(
        announcer,
        LiveLimits {
            max_subscriptions_per_key: config.max_subscriptions_per_key,
            ping_interval: Duration::from_secs(config.ws_ping_secs.max(1)),
            key_recheck: Duration::from_secs(config.key_recheck_secs.max(1)),
            send_timeout: Duration::from_secs(10),
        },
        fleet,
    );
    hub.spawn_key_recheck(db.clone());
    // After the listener listens: the peers' answers to the first heartbeat are heard.
    hub.spawn_fleet_heartbeat(db);
    (hub, listening)
}

/// The application, the switch that turns /readyz to 503 on shutdown, and the hub of its
/// WebSocket connections (closed on shutdown, see [`Hub::shutdown`]).
pub async fn app_with_drain(
    db: DatabaseConnection,
    config: &ServeConfig,
) -> anyhow::Result<(Router, Drain, Hub)> {
    check_access(config)?;
    let access = if config.no_auth {
        tracing::warn!(
            tenant = %config.tenant,
            "authentication is off ({}): every request is served as tenant `{}` with every \
             scope, whatever key it sends or none; serve with API keys (insights keys create) \
             anywhere else",
            if config.demo { "--demo on a loopback address" } else { "--no-auth" },
            config.tenant
        );
        Access::Open {
            tenant_id: tenant::ensure(&db, &config.tenant).await?.id,
        }
    } else {
        Access::ApiKeys
    };
    if !config.trusted_proxies.is_empty() {
        let proxies: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        tracing::info!(proxies = %proxies.join(", "), "X-Forwarded-For names the client on connections from these proxies");
    }
    let (hub, listening) = live(&db, config).await;
    let replicas = read_replicas(&db, config).await?;
    let state = AppState {
        schema: schema_with(config, hub.announcer().clone()),
        hub: hub.clone(),
        max_body_bytes: config.max_body_bytes,
        sse_keepalive: Duration::from_secs(config.sse_keepalive_secs.max(1)),
        db,
        access,
        limiter: KeyRates::new(config.rate_limit, hub.fleet().clone()),
        trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
        touched: Arc::new(Mutex::new(HashMap::new())),
        read_shares: ReadShares::new(config.reads_per_key()).with_replicas(replicas),
        pending_sockets: pending::PendingSockets::new(config.max_pending_sockets_per_address),
        ws_init_timeout: Duration::from_secs(config.ws_init_timeout_secs.max(1)),
        listening,
        request_timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
        odata_page_size: config.odata_page_size.clamp(1, 100_000),
        max_stats_rows: config.max_stats_rows,
        persisted: crate::graphql::apq::PersistedQueries::default(),
        get_max_age_secs: config.get_max_age_secs,
        auth_failures: AuthFailures::new(config.auth_failures_per_minute),
        drain: Drain::default(),
        head_limits: head_limits::HeadLimits::new(config),
    };
    let max_body_bytes = config.max_body_bytes;
    let drain = state.drain.clone();
    crate::app::metrics::recorder();
    let mut app = router(state)
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::map_response(move |response: Response| {
            graphql_http::coded_payload_too_large(response, max_body_bytes)
        }));
    let cors = CorsPolicy::new(config);
    if cors.allows_local_development() {
        tracing::info!(
            "browser apps on this machine (http://localhost:<port>, http://127.0.0.1:<port>) \
             may call this demo; elsewhere only the origins given with --cors-origin may"
        );
    }
    if let Some(layer) = cors.layer() {
        app = app.layer(layer);
    }
    let app = app.layer(axum::middleware::from_fn_with_state(
        cors,
        cors::explain_refusals,
    ));
    Ok((app, drain, hub))
}

/// `serve --demo`: generate demo data when the tenant has no dialogues yet.
pub async fn fill_demo_if_empty(
    db: &DatabaseConnection,
    config: &ServeConfig,
) -> anyhow::Result<()> {
    let tenant = tenant::ensure(db, &config.tenant).await?;
    let scope = TenantScope::new(db.clone(), tenant.id);
    let existing = scope
        .count_dialogues(None)
        .await
        .map_err(|e| anyhow::anyhow!("counting the demo tenant's dialogues: {}", e.message()))?;
    if existing == 0 {
        tracing::info!(dialogues = config.demo_dialogues, tenant = %config.tenant, "generating demo data");
        insights_core::demo::write_to_db_up_to(
            db,
            &config.tenant,
            insights_core::demo::DemoOptions::new(config.demo_dialogues),
            chrono::Utc::now(),
        )
        .await?;
    }
    Ok(())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_http::graphql_get_or_subscribe)
                .post(graphql_http::graphql_post)
                .layer(axum::middleware::map_response(
                    graphql_http::no_store_unless_cacheable,
                )),
        )
        .route(
            "/graphql/stream",
            axum::routing::post(sse::stream).layer(axum::middleware::map_response(
                graphql_http::no_store_unless_cacheable,
            )),
        )
        .merge(crate::odata::routes())
        .route("/graphiql/{name}", get(graphql_http::graphiql_asset))
        .merge(crate::http::wallboard::routes())
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .route_layer(axum::middleware::from_fn(middleware::observe_route))
        .layer(axum::middleware::from_fn_with_state(
            state.head_limits,
            head_limits::refuse_oversized,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::front_door,
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// (see [`accept::serve`]). `insights serve` and the tests' servers both start here.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    config: &ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    accept::serve(
        listener,
        app,
        head_limits::HeadLimits::new(config),
        shutdown,
    )
    .await
}

/// Resolves on SIGINT or SIGTERM, to stop accepting and drain in-flight requests.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
