//! The HTTP server around the schema: `/graphql` (POST and GET per GraphQL-over-HTTP, GraphiQL
//! for browsers), `/healthz`, `/readyz`.
use std::time::Duration;

use async_graphql::http::parse_query_string;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;

use crate::config::ServeConfig;
use crate::error::ErrorCode;
use crate::graphql::pagination::PageLimits;
use crate::graphql::{self, ApiLimits, Guards, InsightsSchema};
use crate::tenant::{self, TenantScope};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: InsightsSchema,
    /// The scope of requests (the server's `--tenant`; API keys will choose it per request).
    pub scope: TenantScope,
}

/// Builds the schema from the configuration.
pub fn schema(config: &ServeConfig) -> InsightsSchema {
    graphql::build_schema(
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
            introspection: config.introspection,
        },
    )
}

/// The whole application for a migrated database.
pub async fn app(db: DatabaseConnection, config: &ServeConfig) -> anyhow::Result<Router> {
    let tenant = tenant::ensure(&db, &config.tenant).await?;
    let state = AppState {
        scope: TenantScope::new(db.clone(), tenant.id),
        schema: schema(config),
        db,
    };
    Ok(router(state).layer(RequestBodyLimitLayer::new(config.max_body_bytes)))
}

/// `serve --demo`: generate demo data when the tenant has no dialogues yet.
pub async fn fill_demo_if_empty(
    db: &DatabaseConnection,
    config: &ServeConfig,
) -> anyhow::Result<()> {
    use sea_orm::PaginatorTrait;
    let tenant = tenant::ensure(db, &config.tenant).await?;
    let scope = TenantScope::new(db.clone(), tenant.id);
    if scope.dialogues().count(db).await? == 0 {
        tracing::info!(dialogues = config.demo_dialogues, tenant = %config.tenant, "generating demo data");
        crate::demo::write_to_db(
            db,
            &config.tenant,
            crate::demo::DemoOptions::new(config.demo_dialogues),
        )
        .await?;
    }
    Ok(())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphiql/{name}", get(graphiql_asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The media type of the answer: `application/graphql-response+json` unless the client asks
/// for `application/json` only.
fn wants_legacy_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    accept.contains("application/json")
        && !accept.contains("application/graphql-response+json")
        && !accept.contains("*/*")
}

fn error_response(status: StatusCode, code: ErrorCode, message: &str, legacy: bool) -> Response {
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    let content_type = if legacy {
        "application/json"
    } else {
        "application/graphql-response+json"
    };
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response()
}

async fn execute(state: &AppState, request: async_graphql::Request, legacy: bool) -> Response {
    let response = state
        .schema
        .execute(graphql::scoped(request, state.scope.clone()))
        .await;
    // A request that never reached execution (parse or validation failure) has no data.
    let status = if !legacy && response.data == async_graphql::Value::Null && response.is_err() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let content_type = if legacy {
        "application/json"
    } else {
        "application/graphql-response+json"
    };
    let body = serde_json::to_string(&response).unwrap_or_else(|_| "{}".into());
    let mut http = Response::new(Body::from(body));
    *http.status_mut() = status;
    http.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
    execute(&state, request, legacy).await
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
    if accept.contains("text/html") && !query.contains("query=") {
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
    // GET is for queries only: it must not change anything.
    let is_mutation = async_graphql::parser::parse_query(&request.query)
        .map(|doc| {
            doc.operations.iter().any(|(name, op)| {
                let selected = request
                    .operation_name
                    .as_deref()
                    .is_none_or(|wanted| name.map(|n| n.as_str()) == Some(wanted));
                selected && op.node.ty != async_graphql::parser::types::OperationType::Query
            })
        })
        .unwrap_or(false);
    if is_mutation {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadUserInput,
            "only queries can be sent with GET; use POST",
            legacy,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return response;
    }
    execute(&state, request, legacy).await
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

/// The database answers (within a second).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
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
    tracing::info!("shutting down: finishing in-flight requests");
}
