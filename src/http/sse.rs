//! Subscriptions over Server-Sent Events: the graphql-sse protocol in its "distinct connections
//! mode" at `POST /graphql/stream`, for networks whose proxies drop WebSockets.
//!
//! The request is a GraphQL request in JSON (`application/json`) sent with
//! `Accept: text/event-stream` and the key in `Authorization: Bearer <key>`. Before the stream
//! opens, the caller is checked as on `/graphql` (the same [`Caller`] extractor, so the same
//! rate limit): a missing or bad key answers 401, a key without the `read` scope 403, with the
//! JSON error bodies of `/graphql`; a body that is not a GraphQL request in JSON 400 (415 under
//! a media type other than JSON), an `Accept` without `text/event-stream` 406.
//!
//! The response is `text/event-stream`: one `event: next` per result (its `data:` line is the
//! GraphQL response, as on `/graphql`), then `event: complete`. A subscription runs exactly as
//! over WebSocket ([`super::subscriptions`]): the same resolvers, filters, tenant scope, per-key cap and
//! guards; what cannot run (a validation error, the cap reached) is one `next` with the errors,
//! then `complete`. A query or a mutation sent here is one `next` (its answer) then `complete`.
//!
//! The stream ends, besides the client closing it:
//! - when the subscription ends (`complete`);
//! - on shutdown: `complete` (a WebSocket gets close code 1001);
//! - when the key is revoked: a `next` with an `UNAUTHENTICATED` error, then `complete` (4401);
//! - when the subscriber fell further behind than its buffer: a comment line with the reason,
//!   and the stream ends without `complete` (1013), which clients take as a dropped connection
//!   to reconnect.
//!
//! A comment line (`:`) every `sse_keepalive` keeps idle proxies from closing a quiet stream.
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use futures::stream::{BoxStream, StreamExt};
use futures::FutureExt;
use tokio::time::{Interval, MissedTickBehavior};

use super::graphql_http::{error_response, response_body, wants_legacy_json};
use super::subscriptions::{self as live, Registration};
use crate::app::{request_id, AppState, Caller, Refusal};
use crate::graphql::{self, RequestId};
use insights_core::error::ErrorCode;
use insights_core::live::hub::{close, ConnectionGuard, Control};

/// The media type of the stream.
const EVENT_STREAM: &str = "text/event-stream";
/// What a keep-alive writes: a comment line, and the blank line that ends it.
const KEEP_ALIVE: &[u8] = b":\n\n";
/// The end of an operation. The empty `data:` line makes the event one that a browser's
/// `EventSource` dispatches too (it drops events without data).
const COMPLETE: &[u8] = b"event: complete\ndata:\n\n";

/// `POST /graphql/stream`.
pub(super) async fn stream(
    State(state): State<AppState>,
    caller: Result<Caller, Refusal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let legacy = wants_legacy_json(&headers);
    let principal = match caller {
        Ok(Caller(principal)) => principal,
        Err(refusal) => {
            return refusal
                .respond(|status, code, message| error_response(status, code, message, legacy))
        }
    };
    if let Err(why) = live::may_subscribe(&principal) {
        return error_response(StatusCode::FORBIDDEN, ErrorCode::Forbidden, why, legacy);
    }
    if !accepts_event_stream(&headers) {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::BadUserInput,
            "/graphql/stream answers with an event stream: send `Accept: text/event-stream` \
             (or POST the request to /graphql for a single JSON answer)",
            legacy,
        );
    }
    let request = match read_request(&headers, &body) {
        Ok(request) => request,
        Err((status, message)) => {
            return error_response(status, ErrorCode::BadUserInput, &message, legacy)
        }
    };
    if state.drain.draining() {
        return super::graphql_http::draining();
    }
    let Some((guard, registration)) = live::register(&state.hub, principal.key_id.clone()) else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalServerError,
            "the server is shutting down; reconnect (to another instance)",
            legacy,
        );
    };
    let request = request.data(RequestId(request_id(&headers)));
    let session = registration.session(
        &principal,
        state
            .read_shares
            .unshared_scope(state.db.clone(), &principal),
        state.scope_for(&principal),
    );
    let results = state
        .schema
        .execute_stream(request, Some(Arc::new(session)));
    let events = Streaming::new(results, guard, &registration, state.sse_keepalive);
    let body = Body::from_stream(futures::stream::unfold(events, |mut events| async move {
        let bytes = events.next().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), events))
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies that buffer responses (nginx) pass this one on as it comes.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Whether the client's `Accept` names the event stream.
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            range
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case(EVENT_STREAM))
        })
}

/// The GraphQL request of the body: JSON, as graphql-sse clients send it. A body that is a JSON
/// request under another media type is taken too (`curl -d` labels its body as a form).
fn read_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<async_graphql::Request, (StatusCode, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = content_type.is_empty() || content_type.starts_with("application/json");
    serde_json::from_slice::<async_graphql::Request>(body).map_err(|e| {
        if json {
            (
                StatusCode::BAD_REQUEST,
                format!("the body is not a GraphQL request in JSON: {e}"),
            )
        } else {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the request as application/json".to_string(),
            )
        }
    })
}

/// A `next` event: the GraphQL response on one `data:` line (compact JSON has no line breaks).
fn next_event(response: &async_graphql::Response) -> Bytes {
    let request_error = graphql::is_request_error(response);
    let json = response_body(
        (!request_error).then_some(&response.data),
        &response.errors,
        &response.extensions,
    );
    let mut event = Vec::with_capacity(json.len() + 20);
    event.extend_from_slice(b"event: next\ndata: ");
    event.extend_from_slice(&json);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// A `next` event with one error of `code`.
fn error_event(code: ErrorCode, message: &str) -> Bytes {
    let mut error = async_graphql::ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    let json = response_body(None, &[error], &BTreeMap::new());
    let mut event = b"event: next\ndata: ".to_vec();
    event.extend_from_slice(&json);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// A comment line (ignored by clients), on one line whatever `text` holds.
fn comment(text: &str) -> Bytes {
    let line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    Bytes::from(format!(": {line}\n\n"))
}

/// What the stream writes last when the hub asks the connection to close with `code`.
fn ending(code: u16, reason: &str) -> Vec<Bytes> {
    match code {
        close::GOING_AWAY => vec![Bytes::from_static(COMPLETE)],
        close::UNAUTHORIZED => vec![
            error_event(ErrorCode::Unauthenticated, reason),
            Bytes::from_static(COMPLETE),
        ],
        // Cut short (a subscriber that fell behind): no `complete`, so that clients reconnect
        // as after a dropped connection.
        _ => vec![comment(reason)],
    }
}

/// One stream's state: the operation's results, the connection's registration, the last words.
struct Streaming {
    /// `None` once the operation ended (the rest is `ending`).
    results: Option<BoxStream<'static, async_graphql::Response>>,
    control: Arc<Control>,
    keep_alive: Interval,
    ending: VecDeque<Bytes>,
    /// Unregisters from the hub when the stream is dropped (written out, or the client left).
    _guard: ConnectionGuard,
}

enum Step {
    Result(Option<async_graphql::Response>),
    Close(u16, String),
    KeepAlive,
}

impl Streaming {
    fn new(
        results: BoxStream<'static, async_graphql::Response>,
        guard: ConnectionGuard,
        registration: &Registration,
        every: Duration,
    ) -> Self {
        let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            results: Some(results),
            control: registration.control().clone(),
            keep_alive,
            ending: VecDeque::new(),
            _guard: guard,
        }
    }

    /// The next bytes to write; `None` when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(last) = self.ending.pop_front() {
            return Some(last);
        }
        let results = self.results.as_mut()?;
        let step = tokio::select! {
            biased;
            (code, reason) = self.control.closed() => Step::Close(code, reason),
            result = results.next() => Step::Result(result),
            _ = self.keep_alive.tick() => Step::KeepAlive,
        };
        match step {
            Step::Result(Some(response)) => Some(next_event(&response)),
            Step::Result(None) => {
                self.results = None;
                // A subscription that ends because it asked the connection to close (it fell
                // behind) ends as the close says.
                match self.control.closed().now_or_never() {
                    Some((code, reason)) => self.end(code, reason),
                    None => Some(Bytes::from_static(COMPLETE)),
                }
            }
            Step::Close(code, reason) => self.end(code, reason),
            Step::KeepAlive => Some(Bytes::from_static(KEEP_ALIVE)),
        }
    }

    /// Ends the stream as the hub asked (`code`, `reason`); the first bytes of the ending.
    fn end(&mut self, code: u16, reason: String) -> Option<Bytes> {
        tracing::info!(code, %reason, "ending a Server-Sent Events stream");
        // Dropping the operation frees its place under the key's cap at once.
        self.results = None;
        self.ending = ending(code, &reason).into();
        self.ending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_must_name_the_event_stream() {
        let with = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            accepts_event_stream(&headers)
        };
        assert!(with("text/event-stream"));
        assert!(with("application/json, Text/Event-Stream; q=0.9"));
        assert!(!with("application/json"));
        assert!(!with("*/*"));
        assert!(!accepts_event_stream(&HeaderMap::new()));
    }

    #[test]
    fn endings_by_close_code() {
        let text = |parts: Vec<Bytes>| {
            parts
                .iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect::<String>()
        };
        assert_eq!(
            text(ending(close::GOING_AWAY, "shutting down")),
            "event: complete\ndata:\n\n"
        );
        let revoked = text(ending(close::UNAUTHORIZED, "the API key was revoked"));
        assert!(
            revoked.starts_with(
                "event: next\ndata: {\"errors\":[{\"message\":\"the API key was revoked\""
            ),
            "{revoked}"
        );
        assert!(
            revoked.contains("\"code\":\"UNAUTHENTICATED\""),
            "{revoked}"
        );
        assert!(
            revoked.ends_with("\n\nevent: complete\ndata:\n\n"),
            "{revoked}"
        );
        assert_eq!(
            text(ending(close::TRY_AGAIN_LATER, "fell\nbehind")),
            ": fell behind\n\n"
        );
    }
}
