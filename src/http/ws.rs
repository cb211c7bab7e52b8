//! Subscriptions over WebSocket: the `graphql-transport-ws` protocol on `GET /graphql` with
//! `Upgrade: websocket`, executed by async-graphql's WebSocket transport.
//!
//! Around the library this adds what docs/api.md asks of the transport:
//! - the API key from the `connection_init` payload (`{"Authorization": "Bearer <key>"}`),
//!   refused with close code 4401 (no valid key) or 4403 (no `read` scope); the requests of the
//!   connection are then confined to the key's tenant like every query;
//! - the protocol's own close codes for messages that break it (4400 not a protocol message,
//!   4401 subscribe before the acknowledgement, 4408 no `connection_init` in time, 4409 an id
//!   in use, 4429 a second `connection_init`), and RFC 6455's for frames that break WebSocket
//!   itself (1002 a broken frame, 1007 text that is not UTF-8, 1009 over the size limit);
//! - keep-alive: a `ping` every `ping_interval`, and a client that sends nothing (not even the
//!   `pong`) for three intervals is disconnected;
//! - closing on request of the [`Hub`]: a revoked key (4401), shutdown (1001), a subscriber
//!   that fell behind its buffer (1013); a client that does not read its socket for
//!   `send_timeout` is dropped.
//!
//! Registering with the hub and the data a subscription runs with are shared with the
//! Server-Sent Events transport ([`super::subscriptions`]); this module only speaks the protocol.
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;

use super::subscriptions as shared;
use crate::app::auth::{bearer_secret, identify, spend};
use crate::app::rate::KeyRates;
use crate::app::throttle::{Admission, AuthFailures};
use crate::app::Access;
use crate::graphql::InsightsSchema;
use insights_core::error::ErrorCode;
use insights_core::keys::Principal;
use insights_core::live::hub::{close, Hub};

/// The one subprotocol served.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// What a connection needs from the server.
#[derive(Clone)]
pub struct WsContext {
    pub schema: InsightsSchema,
    pub db: DatabaseConnection,
    pub access: Access,
    pub hub: Hub,
    /// Largest message a client may send.
    pub max_message_bytes: usize,
    /// Refused keys count against the client's address as on HTTP (the HTTP layer refuses
    /// an address over its budget before the upgrade).
    pub auth_failures: AuthFailures,
    pub client: Option<IpAddr>,
    /// The per-key rate limit every door spends from: each operation sent counts once.
    pub limiter: KeyRates,
    /// Each key's share of the pool, which the connection's queries and mutations take.
    pub read_shares: insights_core::query::ReadShares,
    /// How long the socket has to be acknowledged (`connection_init` with a valid key).
    pub init_timeout: std::time::Duration,
}

/// Whether a request asks to upgrade to a WebSocket.
pub fn is_upgrade(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers an upgrade request on `/graphql`.
/// `pending` is the socket's place among its address's sockets not acknowledged yet.
pub async fn upgrade(
    context: WsContext,
    pending: Option<super::pending::Pending>,
    parts: &mut Parts,
) -> Response {
    let offers_protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == PROTOCOL));
    if !offers_protocol {
        return (
            StatusCode::BAD_REQUEST,
            format!("subscriptions need the WebSocket subprotocol `{PROTOCOL}` (Sec-WebSocket-Protocol)"),
        )
            .into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols([PROTOCOL])
        .max_message_size(context.max_message_bytes)
        .max_frame_size(context.max_message_bytes)
        // Small buffers: an idle subscription should cost little (bench/live.sh measures it).
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(context, pending, socket))
}

/// What becomes of a message from the client.
enum Verdict {
    /// On to the library.
    Pass,
    /// Answered here with this message instead (an operation over the key's rate limit).
    Answered(String),
    /// The socket closes ([`Tracker::close`] says why).
    Close,
}

/// The protocol state the library does not check, kept from both directions.
struct Tracker {
    init_seen: bool,
    acked: bool,
    /// Ids of the client's operations still running.
    ids: HashSet<String>,
    /// Why the server closes (a broken protocol rule, a refused `connection_init`).
    close: Option<(u16, String)>,
    /// The key the connection was accepted with, whose rate limit its operations spend.
    key_id: Option<String>,
    limiter: KeyRates,
}

impl Tracker {
    fn new(limiter: KeyRates) -> Self {
        Self {
            init_seen: false,
            acked: false,
            ids: HashSet::new(),
            close: None,
            key_id: None,
            limiter,
        }
    }

    /// Records why the socket closes (the first reason wins).
    fn closing(&mut self, code: u16, reason: impl Into<String>) {
        if self.close.is_none() {
            self.close = Some((code, reason.into()));
        }
    }

    fn refuse<T>(&mut self, code: u16, reason: impl Into<String>) -> Result<T, ()> {
        self.closing(code, reason);
        Err(())
    }

    /// Whether a client message goes on to the library, is answered here, or closes the socket.
    fn admit(&mut self, bytes: &[u8]) -> Verdict {
        match self.check(bytes) {
            Ok(None) => Verdict::Pass,
            Ok(Some(answer)) => Verdict::Answered(answer),
            Err(()) => Verdict::Close,
        }
    }

    /// [`Tracker::admit`]: `Ok(None)` passes, `Ok(Some(answer))` is answered, `Err` closes.
    fn check(&mut self, bytes: &[u8]) -> Result<Option<String>, ()> {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return self.refuse(close::BAD_REQUEST, "Invalid message received: not JSON");
        };
        let Some(kind) = message.get("type").and_then(|t| t.as_str()) else {
            return self.refuse(close::BAD_REQUEST, "Invalid message received: no `type`");
        };
        match kind {
            "connection_init" => {
                if self.init_seen {
                    return self.refuse(4429, "Too many initialisation requests");
                }
                if message
                    .get("payload")
                    .is_some_and(|p| !p.is_object() && !p.is_null())
                {
                    return self.refuse(
                        close::BAD_REQUEST,
                        "Invalid message received: the connection_init payload is not an object",
                    );
                }
                self.init_seen = true;
                Ok(None)
            }
            "ping" | "pong" => Ok(None),
            "subscribe" => {
                if !self.acked {
                    return self.refuse(close::UNAUTHORIZED, "Unauthorized");
                }
                let Some(id) = message.get("id").and_then(|i| i.as_str()) else {
                    return self.refuse(
                        close::BAD_REQUEST,
                        "Invalid message received: subscribe without an `id`",
                    );
                };
                let payload = message.get("payload").cloned().unwrap_or_default();
                if serde_json::from_value::<async_graphql::Request>(payload).is_err() {
                    return self.refuse(
                        close::BAD_REQUEST,
                        "Invalid message received: the subscribe payload is not a GraphQL request",
                    );
                }
                if self.ids.contains(id) {
                    return self.refuse(
                        close::SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    );
                }
                if let Some(key_id) = &self.key_id {
                    if let Err(refusal) = spend(&self.limiter, key_id) {
                        return Ok(Some(rate_limited(id, &refusal)));
                    }
                }
                self.ids.insert(id.to_string());
                Ok(None)
            }
            "complete" => {
                let Some(id) = message.get("id").and_then(|i| i.as_str()) else {
                    return self.refuse(
                        close::BAD_REQUEST,
                        "Invalid message received: complete without an `id`",
                    );
                };
                self.ids.remove(id);
                Ok(None)
            }
            other => self.refuse(
                close::BAD_REQUEST,
                format!(
                    "Invalid message received: `{}` is not a graphql-transport-ws message",
                    other.chars().take(40).collect::<String>()
                ),
            ),
        }
    }

    /// Notes what the server is about to send.
    fn sent(&mut self, text: &str) {
        if text.starts_with(r#"{"type":"connection_ack""#) {
            self.acked = true;
        } else if text.starts_with(r#"{"type":"complete""#) {
            if let Ok(message) = serde_json::from_str::<serde_json::Value>(text) {
                if let Some(id) = message.get("id").and_then(|i| i.as_str()) {
                    self.ids.remove(id);
                }
            }
        }
    }
}

/// The `error` message that answers operation `id` when its key is over its rate limit: the
/// same code as over HTTP, and the wait (in `retryAfter`, seconds) since there is no header.
fn rate_limited(id: &str, refusal: &crate::app::Refusal) -> String {
    let seconds = insights_core::error::retry_after_secs(refusal.retry_after().unwrap_or_default());
    serde_json::json!({
        "id": id,
        "type": "error",
        "payload": [{
            "message": refusal.message,
            "extensions": { "code": refusal.code.as_str(), "retryAfter": seconds },
        }],
    })
    .to_string()
}

/// A close frame's reason holds at most 123 bytes.
fn close_message(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].to_string().into(),
    }))
}

/// The close code and reason for a read that failed because of what the client sent (RFC 6455:
/// 1002 a broken frame, 1007 text that is not UTF-8, 1009 over the size limit); `None` when the
/// connection itself failed, so there is nobody to tell.
fn read_refusal(error: &axum::Error, max_message_bytes: usize) -> Option<(u16, String)> {
    use tungstenite::Error;
    let error = std::error::Error::source(error)?.downcast_ref::<Error>()?;
    match error {
        Error::Capacity(_) => Some((
            close::MESSAGE_TOO_BIG,
            format!("message too big: the limit is {max_message_bytes} bytes"),
        )),
        Error::Protocol(why) => Some((close::PROTOCOL_ERROR, format!("protocol error: {why}"))),
        Error::Utf8(_) => Some((
            close::INVALID_PAYLOAD,
            "a text message that is not valid UTF-8".to_string(),
        )),
        _ => None,
    }
}

/// Who the `connection_init` payload says the client is; the close code and reason otherwise.
async fn authenticate(
    context: &WsContext,
    payload: &serde_json::Value,
) -> Result<Principal, (u16, String)> {
    let authorization = payload
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v)
        })
        .and_then(|v| v.as_str());
    // An address blocked for failed keys gets in only with a key (`throttle`).
    let _permit = match context.client {
        Some(client) if matches!(context.access, Access::ApiKeys) => {
            match context
                .auth_failures
                .admit(client, authorization.map(bearer_secret))
            {
                Admission::Open => None,
                Admission::LookUp(permit) => Some(permit),
                Admission::Refused(wait) => {
                    return Err((
                        close::TRY_AGAIN_LATER,
                        format!(
                            "too many connections with a missing or bad API key from this \
                             address; retry in {} s",
                            wait.as_secs().max(1)
                        ),
                    ))
                }
            }
        }
        _ => None,
    };
    if authorization.is_none() && matches!(context.access, Access::ApiKeys) {
        return Err((
            close::UNAUTHORIZED,
            r#"send the API key in connection_init: {"Authorization": "Bearer <key>"}"#.to_string(),
        ));
    }
    let principal = identify(&context.db, &context.access, authorization)
        .await
        .map_err(|refusal| match refusal.code {
            ErrorCode::Unauthenticated => (close::UNAUTHORIZED, refusal.message.to_string()),
            _ => (close::INTERNAL, refusal.message.to_string()),
        })?;
    if let (Some(_), Some(value)) = (&principal.key_id, authorization) {
        context.auth_failures.proved(bearer_secret(value));
    }
    shared::may_subscribe(&principal).map_err(|why| (close::FORBIDDEN, why.to_string()))?;
    Ok(principal)
}

async fn serve(
    context: WsContext,
    mut pending: Option<super::pending::Pending>,
    socket: WebSocket,
) {
    let Some((guard, registration)) = shared::register(&context.hub, None) else {
        let (mut sink, _) = socket.split();
        let _ = sink
            .send(close_message(
                close::GOING_AWAY,
                "the server is shutting down",
            ))
            .await;
        return;
    };
    let limits = context.hub.limits();
    let tracker = Arc::new(Mutex::new(Tracker::new(context.limiter.clone())));
    let (mut sink, receiver) = socket.split();
    // Answers given here rather than by the library, sent in the loop below.
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel::<String>();

    let admitting = tracker.clone();
    let reading = tracker.clone();
    let max_message_bytes = context.max_message_bytes;
    let input = receiver
        .take_while(move |message| {
            if let Err(error) = message {
                if let Some((code, reason)) = read_refusal(error, max_message_bytes) {
                    reading.lock().expect("tracker lock").closing(code, reason);
                }
            }
            futures::future::ready(message.is_ok())
        })
        .filter_map(|message| {
            futures::future::ready(match message {
                Ok(Message::Text(text)) => Some(axum::body::Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        })
        .map(move |bytes| {
            let verdict = admitting.lock().expect("tracker lock").admit(&bytes);
            (verdict, bytes)
        })
        .take_while(|(verdict, _)| futures::future::ready(!matches!(verdict, Verdict::Close)))
        .filter_map(move |(verdict, bytes)| {
            futures::future::ready(match verdict {
                Verdict::Pass => Some(bytes),
                Verdict::Answered(answer) => {
                    let _ = answers.send(answer);
                    None
                }
                Verdict::Close => None,
            })
        });

    let init = {
        let context = context.clone();
        let tracker = tracker.clone();
        move |payload: serde_json::Value| async move {
            match authenticate(&context, &payload).await {
                Ok(principal) => {
                    tracker.lock().expect("tracker lock").key_id = principal.key_id.clone();
                    let shared = context
                        .read_shares
                        .scope_for(context.db.clone(), &principal);
                    let own = context
                        .read_shares
                        .unshared_scope(context.db.clone(), &principal);
                    Ok(registration.session(&principal, own, shared))
                }
                Err((code, reason)) => {
                    tracing::info!(code, %reason, "refused a WebSocket connection");
                    if let (close::UNAUTHORIZED, Some(client)) = (code, context.client) {
                        context.auth_failures.failed(client);
                    }
                    tracker
                        .lock()
                        .expect("tracker lock")
                        .closing(code, reason.clone());
                    Err(async_graphql::Error::new(reason))
                }
            }
        }
    };

    let mut out =
        GraphQLWebSocket::new(context.schema.clone(), input, WebSocketProtocols::GraphQLWS)
            .on_connection_init(init)
            .keepalive_timeout(limits.ping_interval * 3);
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.tick().await;
    let send_timeout = limits.send_timeout;
    let control = guard.control.clone();
    let init_deadline = tokio::time::sleep(context.init_timeout);
    tokio::pin!(init_deadline);
    let mut acknowledged = false;

    loop {
        let message = tokio::select! {
            biased;
            (code, reason) = control.closed() => {
                let _ = tokio::time::timeout(send_timeout, sink.send(close_message(code, &reason))).await;
                break;
            }
            Some(answer) = answered.recv() => Message::Text(answer.into()),
            () = &mut init_deadline, if !acknowledged => {
                let reason = "Connection initialisation timeout";
                let _ = tokio::time::timeout(send_timeout, sink.send(close_message(close::INIT_TIMEOUT, reason))).await;
                break;
            }
            _ = ping.tick() => {
                if !tracker.lock().expect("tracker lock").acked {
                    continue;
                }
                Message::Text(r#"{"type":"ping"}"#.into())
            }
            next = out.next() => match next {
                Some(WsMessage::Text(text)) => {
                    let mut tracker = tracker.lock().expect("tracker lock");
                    tracker.sent(&text);
                    if tracker.acked && !acknowledged {
                        acknowledged = true;
                        drop(pending.take()); // no longer waiting: its address's place is free
                    }
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => {
                    let (code, reason) = {
                        let tracker = tracker.lock().expect("tracker lock");
                        match (&tracker.close, code) {
                            (Some(ours), _) => ours.clone(),
                            (None, 3008) if !tracker.acked => {
                                (close::INIT_TIMEOUT, "Connection initialisation timeout".to_string())
                            }
                            (None, 3008) => (1001, "no message from the client for too long".to_string()),
                            (None, 1011) => (close::UNAUTHORIZED, "Unauthorized".to_string()),
                            (None, 1002) => (close::BAD_REQUEST, reason),
                            (None, code) => (code, reason),
                        }
                    };
                    let _ = tokio::time::timeout(send_timeout, sink.send(close_message(code, &reason))).await;
                    break;
                }
                None => {
                    // The input ended: the client went away, or broke the protocol.
                    let refusal = tracker.lock().expect("tracker lock").close.clone();
                    if let Some((code, reason)) = refusal {
                        let _ = tokio::time::timeout(send_timeout, sink.send(close_message(code, &reason))).await;
                    }
                    break;
                }
            }
        };
        match tokio::time::timeout(send_timeout, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::info!("dropping a WebSocket client that stopped reading");
                break;
            }
        }
    }
    drop(out);
    drop(guard);
}
