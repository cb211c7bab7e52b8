//! What every request passes through: its id and log span, its client's address (behind a
//! trusted proxy, from `X-Forwarded-For`: `app::client`), the per-address throttle of failed
//! authentications, and the route metrics.
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tracing::Instrument;

use super::graphql_http::{error_response, wants_legacy_json};
use crate::app::auth::{bearer_secret, set_retry_after};
use crate::app::client::ClientAddress;
use crate::app::throttle::Admission;
use crate::app::{request_id, AppState};
use insights_core::error::ErrorCode;

/// Counts every routed request by route, method and status, with its latency; label values
/// are the router's own paths, never the request's.
pub(super) async fn observe_route(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
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
/// lines and in the response; its client's address, recorded for the handlers and in the
/// span; and an address that keeps failing authentication is refused before its key is hashed
/// and looked up.
pub(super) async fn front_door(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request_id(request.headers());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", value);
    }
    let client = ClientAddress::of(
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
        request.headers(),
        &state.trusted_proxies,
    );
    if let Some(client) = client {
        request.extensions_mut().insert(client);
    }
    let client = client.map(|c| c.0);
    let span = tracing::info_span!("request", request_id = %id, client = tracing::field::Empty);
    if let Some(client) = client {
        span.record("client", tracing::field::display(client));
    }
    async move {
        // Only the routes that take a key; health, readiness and metrics stay open.
        let path = request.uri().path();
        // A WebSocket's key comes in its connection_init, which checks the block itself.
        let upgrade = request.headers().contains_key(axum::http::header::UPGRADE);
        let keyed = (path.starts_with("/graphql") || path.starts_with("/odata")) && !upgrade;
        let secret = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(bearer_secret);
        let admission = match client.filter(|_| keyed) {
            Some(client) => state.auth_failures.admit(client, secret),
            None => Admission::Open,
        };
        // A blocked address's key being looked up holds a permit until answered.
        let _permit = match admission {
            Admission::Open => None,
            Admission::LookUp(permit) => Some(permit),
            Admission::Refused(wait) => return refused(&request, wait, &id),
        };
        let response = next.run(request).await;
        if let (Some(client), StatusCode::UNAUTHORIZED) = (client, response.status()) {
            state.auth_failures.failed(client);
        }
        with_request_id(response, &id)
    }
    .instrument(span)
    .await
}

/// The answer to an address blocked for failed keys.
fn refused(request: &axum::extract::Request, wait: std::time::Duration, id: &str) -> Response {
    let message = "too many requests with a missing or bad API key from this address; retry after the time in Retry-After";
    let mut response = coded_refusal(
        request,
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        message,
    );
    set_retry_after(&mut response, wait);
    with_request_id(response, id)
}

/// A request refused before any door handles it, answered in its door's shape: OData's error
/// (with `OData-Version`, as the door's own answers) on `/odata`, GraphQL's (with `code`)
/// everywhere else.
pub(super) fn coded_refusal(
    request: &axum::extract::Request,
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> Response {
    if request.uri().path().starts_with("/odata") {
        let mut response = crate::odata::error_response(status, message);
        response
            .headers_mut()
            .insert("OData-Version", HeaderValue::from_static("4.0"));
        response
    } else {
        error_response(status, code, message, wants_legacy_json(request.headers()))
    }
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
