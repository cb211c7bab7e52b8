//! The HTTP server around the schema: `/graphql` (POST and GET per GraphQL-over-HTTP, GraphiQL
//! for browsers), `/odata` (OData v4, [`crate::odata`]), `/healthz`, `/readyz`, `/metrics`.
pub mod ws;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::http::parse_query_string;
use async_graphql::ServerError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;

use crate::config::ServeConfig;
use crate::graphql::{self, ApiLimits, Guards, InsightsSchema};
use crate::throttle::AuthFailures;
use insights_core::error::ErrorCode;
use insights_core::keys::{self, Principal, Scopes};
use insights_core::live::hub::{Hub, LiveLimits};
use insights_core::live::{self, Announcer};
use insights_core::query::PageLimits;
use insights_core::tenant::{self, TenantScope};

/// Who may call: anyone as one tenant (`--no-auth`, loopback only), or holders of API keys.
#[derive(Clone, Debug)]
pub enum Access {
    Open { tenant_id: i32 },
    ApiKeys,
}

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: InsightsSchema,
    pub access: Access,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// When each key's `last used` was last written (written at most once a minute).
    touched: Arc<Mutex<HashMap<String, Instant>>>,
    pub(crate) request_timeout: Duration,
    /// Most entities in one OData response.
    pub(crate) odata_page_size: usize,
    /// Automatic persisted queries: texts by their SHA-256.
    pub(crate) persisted: crate::apq::PersistedQueries,
    /// `max-age` of successful GET answers.
    pub(crate) get_max_age_secs: u64,
    /// Subscriptions: the WebSocket connections of this process.
    pub hub: Hub,
    max_body_bytes: usize,
    auth_failures: AuthFailures,
    /// Set on SIGTERM: /readyz answers 503 while requests still run.
    pub drain: Drain,
}

/// Whether the process is shutting down (SIGTERM received).
#[derive(Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

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

/// The live-update side of a serving process: the one [`Announcer`] (writers announce commits
/// to it; on PostgreSQL the listener started here feeds it every process's commits) and the
/// [`Hub`] of WebSocket connections.
async fn live(db: &DatabaseConnection, config: &ServeConfig) -> Hub {
    let announcer = Announcer::new(config.subscription_buffer.max(1));
    if let Some(mut listening) = live::listener::spawn(db, announcer.clone()) {
        // Serve once the listener listens, so that no commit after start-up goes unheard.
        let wait = listening.wait_for(|listening| *listening);
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            tracing::warn!("serving before the live-update listener could listen");
        }
    }
    let hub = Hub::new(
        announcer,
        LiveLimits {
            max_subscriptions_per_key: config.max_subscriptions_per_key,
            ping_interval: Duration::from_secs(config.ws_ping_secs.max(1)),
            key_recheck: Duration::from_secs(config.key_recheck_secs.max(1)),
            send_timeout: Duration::from_secs(10),
        },
    );
    hub.spawn_key_recheck(db.clone());
    hub
}

/// The application, the switch that turns /readyz to 503 on shutdown, and the hub of its
/// WebSocket connections (closed on shutdown, see [`Hub::shutdown`]).
pub async fn app_with_drain(
    db: DatabaseConnection,
    config: &ServeConfig,
) -> anyhow::Result<(Router, Drain, Hub)> {
    check_access(config)?;
    let access = if config.no_auth {
        Access::Open {
            tenant_id: tenant::ensure(&db, &config.tenant).await?.id,
        }
    } else {
        Access::ApiKeys
    };
    let rate = NonZeroU32::new(config.rate_limit.max(1)).expect("non-zero");
    let burst = NonZeroU32::new(config.rate_limit.max(1).saturating_mul(2)).expect("non-zero");
    let hub = live(&db, config).await;
    let state = AppState {
        schema: schema_with(config, hub.announcer().clone()),
        hub: hub.clone(),
        max_body_bytes: config.max_body_bytes,
        db,
        access,
        limiter: Arc::new(RateLimiter::keyed(
            Quota::per_second(rate).allow_burst(burst),
        )),
        touched: Arc::new(Mutex::new(HashMap::new())),
        request_timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
        odata_page_size: config.odata_page_size.clamp(1, 100_000),
        persisted: crate::apq::PersistedQueries::default(),
        get_max_age_secs: config.get_max_age_secs,
        auth_failures: AuthFailures::new(config.auth_failures_per_minute),
        drain: Drain::default(),
    };
    let max_body_bytes = config.max_body_bytes;
    let drain = state.drain.clone();
    crate::metrics::recorder();
    let mut app = router(state)
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::map_response(move |response: Response| {
            coded_payload_too_large(response, max_body_bytes)
        }));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT]),
        );
    }
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
            get(graphql_get_or_subscribe)
                .post(graphql_post)
                .layer(axum::middleware::map_response(no_store_unless_cacheable)),
        )
        .merge(crate::odata::routes())
        .route("/graphiql/{name}", get(graphiql_asset))
        .merge(crate::wallboard::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn(observe_route))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            front_door,
        ))
        .with_state(state)
}

/// Counts every routed request by route, method and status, with its latency; label values
/// are the router's own paths, never the request's.
async fn observe_route(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::counter!(
        "insights_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    let elapsed = started.elapsed();
    tracing::debug!(
        %route,
        status = response.status().as_u16(),
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "answered"
    );
    metrics::histogram!("insights_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

/// Every request: an id (the client's `x-request-id` when sane) in a span around all its log
/// lines and in the response; and an address that keeps failing authentication is refused
/// before its key is hashed and looked up.
async fn front_door(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request_id(request.headers());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", value);
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let span = tracing::info_span!("request", request_id = %id);
    async move {
        // Only the routes that take a key; health, readiness and metrics stay open.
        let path = request.uri().path();
        let keyed = path.starts_with("/graphql") || path.starts_with("/odata");
        if let Some(wait) = client
            .filter(|_| keyed)
            .and_then(|c| state.auth_failures.refused_for(c))
        {
            let message = "too many requests with a missing or bad API key from this address; retry after the time in Retry-After";
            let mut response = if request.uri().path().starts_with("/odata") {
                crate::odata::error_response(StatusCode::TOO_MANY_REQUESTS, message)
            } else {
                error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::RateLimited,
                    message,
                    wants_legacy_json(request.headers()),
                )
            };
            set_retry_after(&mut response, wait);
            return with_request_id(response, &id);
        }
        let response = next.run(request).await;
        if let (Some(client), StatusCode::UNAUTHORIZED) = (client, response.status()) {
            state.auth_failures.failed(client);
        }
        with_request_id(response, &id)
    }
    .instrument(span)
    .await
}

/// Prometheus text exposition (no tenant data; bounded label values).
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state.db),
    )
        .into_response()
}

/// The media type of the answer: `application/graphql-response+json` when the client accepts
/// it by name, else `application/json` (as GraphQL over HTTP asks for `*/*`, no Accept header and
/// legacy clients). Only the former answers request errors with HTTP 4xx.
fn wants_legacy_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    !accept.contains("application/graphql-response+json")
}

fn media_type(legacy: bool) -> &'static str {
    if legacy {
        "application/json"
    } else {
        "application/graphql-response+json"
    }
}

/// The JSON of a GraphQL response: `data` (left out for request errors, which never reached
/// execution), `errors` and `extensions` (left out when empty).
#[derive(Serialize)]
struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// Serializes straight from async-graphql's values, whose objects keep their order: the keys of
/// `data` come in the order the request selected its fields (GraphQL spec, "Serialized Map
/// Ordering"). A detour through `serde_json::Value` would sort them.
fn response_body(
    data: Option<&async_graphql::Value>,
    errors: &[ServerError],
    extensions: &BTreeMap<String, async_graphql::Value>,
) -> Vec<u8> {
    let body = ResponseBody {
        data,
        errors,
        extensions,
    };
    serde_json::to_vec(&body).unwrap_or_else(|error| {
        // Only a non-finite float could fail, and the schema has none; say so rather than panic.
        tracing::error!(%error, "could not serialize a response");
        br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#
            .to_vec()
    })
}

fn error_response(status: StatusCode, code: ErrorCode, message: &str, legacy: bool) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    let body = response_body(None, &[error], &BTreeMap::new());
    let content_type = media_type(legacy);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The body limit answers 413 in plain text (tower-http, or axum while buffering a streamed
/// body); give it the coded JSON error every other refusal has.
async fn coded_payload_too_large(response: Response, max_body_bytes: usize) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BadUserInput,
        &format!("the request body is larger than the {max_body_bytes} bytes this server accepts"),
        false,
    )
}

/// The request's id: the client's `x-request-id` when it is sane, else a fresh one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            use rand::RngCore;
            let mut bytes = [0u8; 8];
            rand::rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        })
}

/// Finds who is calling; an error response (GraphQL's) when they may not.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    legacy: bool,
) -> Result<Principal, Response> {
    authenticate_with(state, headers, &|status, code, message| {
        error_response(status, code, message, legacy)
    })
    .await
}

/// Finds who is calling; when they may not, the response `refuse` makes of the status, code and
/// message (GraphQL and OData write their errors differently).
pub(crate) async fn authenticate_with(
    state: &AppState,
    headers: &HeaderMap,
    refuse: &(dyn Fn(StatusCode, ErrorCode, &str) -> Response + Sync),
) -> Result<Principal, Response> {
    if let Access::Open { tenant_id } = &state.access {
        return Ok(Principal {
            tenant_id: *tenant_id,
            scopes: Scopes::all(),
            key_id: None,
        });
    }
    let unauthenticated = |message: &str| {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthenticated("send an API key: `Authorization: Bearer <key>` (create one with `insights keys create`; for local use without keys, run `insights serve --no-auth`)"));
    };
    let secret = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    match keys::verify(&state.db, secret).await {
        Ok(Some((_, principal))) => {
            if let Some(id) = &principal.key_id {
                if let Err(not_until) = state.limiter.check_key(id) {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    let mut response = refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        ErrorCode::RateLimited,
                        "too many requests for this API key; retry after the time in Retry-After",
                    );
                    set_retry_after(&mut response, wait);
                    return Err(response);
                }
                touch_later(state, id);
            }
            Ok(principal)
        }
        Ok(None) => Err(unauthenticated(
            "the API key is not valid (unknown or revoked)",
        )),
        Err(error) => {
            tracing::error!(%error, "API key lookup failed");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::InternalServerError,
                "the service cannot check API keys right now",
            ))
        }
    }
}

/// Records a key's use, at most once a minute per key, off the request's path.
fn touch_later(state: &AppState, id: &str) {
    let due = {
        let mut touched = state.touched.lock().expect("touched lock");
        let due = touched
            .get(id)
            .is_none_or(|at| at.elapsed() > Duration::from_secs(60));
        if due {
            touched.insert(id.to_string(), Instant::now());
        }
        due
    };
    if due {
        let db = state.db.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Err(error) = keys::touch(&db, &id).await {
                tracing::warn!(%error, "could not record API key use");
            }
        });
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn set_retry_after(response: &mut Response, wait: Duration) {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Whether the operation a GET would run is a mutation or subscription (GET is for queries
/// only: it must not change anything). A document that does not parse is not one.
fn get_would_mutate(request: &async_graphql::Request) -> bool {
    async_graphql::parser::parse_query(&request.query)
        .map(|doc| {
            doc.operations.iter().any(|(name, op)| {
                let selected = request
                    .operation_name
                    .as_deref()
                    .is_none_or(|wanted| name.map(|n| n.as_str()) == Some(wanted));
                selected && op.node.ty != async_graphql::parser::types::OperationType::Query
            })
        })
        .unwrap_or(false)
}

fn get_mutation_refused(legacy: bool) -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::BadUserInput,
        "only queries can be sent with GET; use POST",
        legacy,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// Every answer of `/graphql` says `Cache-Control: no-store` unless it said otherwise (only a
/// successful GET does, see [`execute`]).
async fn no_store_unless_cacheable(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    legacy: bool,
    get: bool,
) -> Response {
    let id = request_id(headers);
    let principal = match authenticate(state, headers, legacy).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    // Persisted queries, once the caller is known (strangers do not fill the store).
    match state.persisted.resolve(&mut request) {
        Ok(crate::apq::Resolution::FromHash) if get && get_would_mutate(&request) => {
            return get_mutation_refused(legacy);
        }
        Ok(_) => {}
        Err(refusal) => {
            let status = if refusal.code == ErrorCode::PersistedQueryNotFound && legacy {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            return error_response(status, refusal.code, &refusal.message, legacy);
        }
    }
    let scope = TenantScope::new(state.db.clone(), principal.tenant_id);
    let request = graphql::authorized(request, scope, principal.scopes, Some(id.clone()));
    // The request id is on the enclosing `request` span (`front_door`).
    let span = tracing::info_span!("graphql", key = principal.key_id.as_deref().unwrap_or("-"));
    let execution = state.schema.execute(request).instrument(span);
    let response = match tokio::time::timeout(state.request_timeout, execution).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(request_id = %id, "request timed out");
            let message = format!(
                "the request took longer than {} s and was stopped (request id {id})",
                state.request_timeout.as_secs()
            );
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::InternalServerError,
                &message,
                legacy,
            );
        }
    };
    // A request error (it never reached execution: parse, validation, limits) has no `data`
    // entry and, as application/graphql-response+json, status 400; field errors keep 200.
    let request_error = graphql::is_request_error(&response);
    let status = if request_error && !legacy {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let content_type = media_type(legacy);
    let body = response_body(
        (!request_error).then_some(&response.data),
        &response.errors,
        &response.extensions,
    );
    let mut http = Response::new(Body::from(body));
    *http.status_mut() = status;
    http.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A successful GET may be reused by the caller's own browser for a little while: private
    // (the answer is the key's tenant's data) and keyed by the key and the media type.
    if get && response.errors.is_empty() {
        let cache_control = match state.get_max_age_secs {
            0 => "private, no-cache".to_string(),
            secs => format!("private, max-age={secs}"),
        };
        if let Ok(value) = HeaderValue::from_str(&cache_control) {
            http.headers_mut().insert(header::CACHE_CONTROL, value);
        }
        http.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Authorization, Accept"),
        );
    }
    // `front_door` names the request id in every response.
    http
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let legacy = wants_legacy_json(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let request =
        if content_type.starts_with("application/graphql") && !content_type.contains("json") {
            match std::str::from_utf8(&body) {
                Ok(query) => async_graphql::Request::new(query),
                Err(_) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::BadUserInput,
                        "the body is not valid UTF-8",
                        legacy,
                    )
                }
            }
        } else if content_type.starts_with("application/json") || content_type.is_empty() {
            match serde_json::from_slice::<async_graphql::Request>(&body) {
                Ok(request) => request,
                Err(e) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::BadUserInput,
                        &format!("the body is not a GraphQL request in JSON: {e}"),
                        legacy,
                    )
                }
            }
        } else {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::BadUserInput,
                "send the request as application/json",
                legacy,
            );
        };
    execute(&state, &headers, request, legacy, false).await
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions ([`ws`]), else a query.
async fn graphql_get_or_subscribe(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    if ws::is_upgrade(request.headers()) {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let (mut parts, _) = request.into_parts();
        let context = ws::WsContext {
            schema: state.schema.clone(),
            db: state.db.clone(),
            access: state.access.clone(),
            hub: state.hub.clone(),
            max_message_bytes: state.max_body_bytes,
            auth_failures: state.auth_failures.clone(),
            client,
        };
        return ws::upgrade(context, &mut parts).await;
    }
    let headers = request.headers().clone();
    let query = request.uri().query().map(str::to_string);
    graphql_get(State(state), headers, RawQuery(query)).await
}

async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = query.unwrap_or_default();
    // A browser navigating to /graphql gets GraphiQL.
    if accept.contains("text/html") && !query.contains("query=") && !query.contains("extensions=") {
        return Html(crate::graphiql::page("/graphql")).into_response();
    }
    let legacy = wants_legacy_json(&headers);
    let request = match parse_query_string(&query) {
        Ok(request) => request,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("the query string is not a GraphQL request: {e}"),
                legacy,
            )
        }
    };
    // GET is for queries only: it must not change anything (a hash-only request is checked
    // again once its text is known).
    if get_would_mutate(&request) {
        return get_mutation_refused(legacy);
    }
    execute(&state, &headers, request, legacy, true).await
}

async fn graphiql_asset(Path(name): Path<String>) -> Response {
    match crate::graphiql::asset(&name) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers (within a second), and the process is not shutting down.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.drain.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(Duration::from_secs(1), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timed out"),
    }
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
