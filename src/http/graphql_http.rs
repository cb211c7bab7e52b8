//! GraphQL over HTTP at `/graphql`: POST and GET per the GraphQL-over-HTTP spec (both media
//! types), automatic persisted queries, GraphiQL for browsers, and the WebSocket upgrade for
//! subscriptions ([`super::ws`]).
use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::http::parse_query_string;
use async_graphql::ServerError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use tracing::Instrument;

use super::ws;
use crate::app::client::ClientAddress;
use crate::app::state::COMMIT_POSITION;
use crate::app::{request_id, AppState, Caller, Refusal};
use crate::graphql;
use insights_core::error::ErrorCode;

/// The media type of the answer: `application/graphql-response+json` when the client accepts
/// it by name, else `application/json` (as GraphQL over HTTP asks for `*/*`, no Accept header and
/// legacy clients). Only the former answers request errors with HTTP 4xx.
pub(super) fn wants_legacy_json(headers: &HeaderMap) -> bool {
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
pub(super) fn response_body(
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

pub(super) fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    legacy: bool,
) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    let body = response_body(None, &[error], &BTreeMap::new());
    let content_type = media_type(legacy);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A new subscription while the server drains before it stops (`/readyz` already says 503): it
/// would only be cut off again, so the client is sent to another instance at once.
pub(super) fn draining() -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InternalServerError,
        "the server is draining before it stops: subscribe at another instance, or again in a moment",
        false,
    );
    crate::app::auth::set_retry_after(&mut response, std::time::Duration::from_secs(1));
    response
}

/// The body limit answers 413 in plain text (tower-http, or axum while buffering a streamed
/// body); give it the coded JSON error every other refusal has.
pub(super) async fn coded_payload_too_large(response: Response, max_body_bytes: usize) -> Response {
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
pub(super) async fn no_store_unless_cacheable(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    caller: Result<Caller, Refusal>,
    mut request: async_graphql::Request,
    legacy: bool,
    get: bool,
) -> Response {
    let id = request_id(headers);
    let principal = match caller {
        Ok(Caller(principal)) => principal,
        Err(refusal) => {
            return refusal
                .respond(|status, code, message| error_response(status, code, message, legacy))
        }
    };
    // Persisted queries, once the caller is known (strangers do not fill the store).
    match state.persisted.resolve(&mut request) {
        Ok(crate::graphql::apq::Resolution::FromHash) if get && get_would_mutate(&request) => {
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
    let scope = match state.scope_for_request(&principal, headers) {
        Ok(scope) => scope,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                error.code,
                &error.message(),
                legacy,
            )
        }
    };
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
    let busy = graphql::busy_in(&response);
    let status = match busy {
        // Nothing answered, only refused for lack of capacity: say so in the status too.
        Some(busy) if graphql::only_refused_for_capacity(&response) => {
            if busy.server {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::TOO_MANY_REQUESTS
            }
        }
        _ if request_error && !legacy => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
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
    if let Some(busy) = busy {
        crate::app::auth::set_retry_after(&mut http, busy.retry_after);
    }
    if let Some(value) = graphql::commits::of(&response).and_then(|p| HeaderValue::from_str(p).ok())
    {
        http.headers_mut().insert(COMMIT_POSITION, value);
    }
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

pub(super) async fn graphql_post(
    State(state): State<AppState>,
    caller: Result<Caller, Refusal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
                // The text stays at hand to explain a refusal (see `RequestJson`).
                Ok(request) => request.data(graphql::RequestJson(Arc::from(&body[..]))),
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
    execute(&state, &headers, caller, request, legacy, false).await
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions ([`ws`]), else a query.
pub(super) async fn graphql_get_or_subscribe(
    State(state): State<AppState>,
    caller: Result<Caller, Refusal>,
    request: axum::extract::Request,
) -> Response {
    if ws::is_upgrade(request.headers()) {
        if state.drain.draining() {
            return draining();
        }
        // The client's address as the front door found it (behind a trusted proxy, the
        // forwarded one).
        let client = ClientAddress::recorded(request.extensions());
        // A place among the address's sockets not acknowledged yet.
        let pending = match client.map(|address| state.pending_sockets.admit(address)) {
            Some(None) => {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::RateLimited,
                    "too many WebSockets from this address are waiting for their connection_init; \
                     retry after the time in Retry-After",
                    false,
                );
                crate::app::auth::set_retry_after(&mut response, state.ws_init_timeout);
                return response;
            }
            Some(pending) => pending,
            None => None,
        };
        let (mut parts, _) = request.into_parts();
        let context = ws::WsContext {
            schema: state.schema.clone(),
            db: state.db.clone(),
            access: state.access.clone(),
            hub: state.hub.clone(),
            max_message_bytes: state.max_body_bytes,
            auth_failures: state.auth_failures.clone(),
            client,
            limiter: state.limiter.clone(),
            init_timeout: state.ws_init_timeout,
            read_shares: state.read_shares.clone(),
        };
        return ws::upgrade(context, pending, &mut parts).await;
    }
    let headers = request.headers().clone();
    let query = request.uri().query().map(str::to_string);
    graphql_get(&state, caller, headers, query).await
}

async fn graphql_get(
    state: &AppState,
    caller: Result<Caller, Refusal>,
    headers: HeaderMap,
    query: Option<String>,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = query.unwrap_or_default();
    // A browser navigating to /graphql gets GraphiQL.
    if accept.contains("text/html") && !query.contains("query=") && !query.contains("extensions=") {
        return Html(crate::http::graphiql::page("/graphql")).into_response();
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
    execute(state, &headers, caller, request, legacy, true).await
}

pub(super) async fn graphiql_asset(Path(name): Path<String>) -> Response {
    match crate::http::graphiql::asset(&name) {
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
