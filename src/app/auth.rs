//! Who is calling, found one way for every door: the `Authorization: Bearer <key>` header of a
//! request ([`Caller`], an axum extractor) or the same text in a WebSocket's `connection_init`
//! payload ([`identify`]). A refusal ([`Refusal`]) is worded by the door that answers it
//! (GraphQL's error JSON, OData's, or a WebSocket close code).
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use sea_orm::DatabaseConnection;

use super::rate::KeyRates;
use super::state::{Access, AppState};
use insights_core::error::ErrorCode;
use insights_core::keys::{self, Principal, Scopes};

/// The principal of a request whose key was accepted (and counted against its rate limit).
pub struct Caller(pub Principal);

/// Why a caller was refused: the status, code and message a door words, and the headers that
/// go with them.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: &'static str,
    retry_after: Option<Duration>,
}

impl Refusal {
    fn new(status: StatusCode, code: ErrorCode, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    /// How long the caller should wait before trying again, if the refusal says.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    fn unauthenticated(message: &'static str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    /// The response `render` makes of the status, code and message, with `WWW-Authenticate`
    /// or `Retry-After` as the refusal calls for.
    pub fn respond(self, render: impl FnOnce(StatusCode, ErrorCode, &str) -> Response) -> Response {
        let mut response = render(self.status, self.code, self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            set_retry_after(&mut response, wait);
        }
        response
    }
}

/// A door that takes `Caller` without wording the refusal itself answers in plain text.
impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.respond(|status, _, message| (status, message.to_string()).into_response())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let principal = identify(&state.db, &state.access, authorization).await?;
        if let (Some(_), Some(value)) = (&principal.key_id, authorization) {
            // Lets this key through a block of its address (`throttle`).
            state.auth_failures.proved(bearer_secret(value));
        }
        if let Some(id) = &principal.key_id {
            spend(&state.limiter, id)?;
            touch_later(state, id);
        }
        Ok(Caller(principal))
    }
}

/// Counts one request of key `key_id` against its rate limit (this instance's share of it);
/// refused past the budget. Every door spends from the same budget: an HTTP request, an SSE
/// stream, each operation sent over a WebSocket.
#[allow(clippy::ptr_arg)] // the limiter's keys are `String`s: no copy per request
pub fn spend(rates: &KeyRates, key_id: &String) -> Result<(), Refusal> {
    let Err(wait) = rates.spend(key_id) else {
        return Ok(());
    };
    let mut refusal = Refusal::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "too many requests for this API key; retry after the time in Retry-After",
    );
    refusal.retry_after = Some(wait);
    Err(refusal)
}

/// The key of an `Authorization` value (`Bearer <key>`); empty when it names none.
pub fn bearer_secret(value: &str) -> &str {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("")
}

/// The principal an `Authorization` value (`Bearer <key>`) names, under `access`.
pub async fn identify(
    db: &DatabaseConnection,
    access: &Access,
    authorization: Option<&str>,
) -> Result<Principal, Refusal> {
    if let Access::Open { tenant_id } = access {
        return Ok(Principal {
            tenant_id: *tenant_id,
            scopes: Scopes::all(),
            key_id: None,
        });
    }
    let Some(value) = authorization else {
        return Err(Refusal::unauthenticated(
            "send an API key: `Authorization: Bearer <key>` (create one with `insights keys create`; for local use without keys, run `insights serve --no-auth`)",
        ));
    };
    let secret = bearer_secret(value);
    match keys::verify(db, secret).await {
        Ok(Some((_, principal))) => Ok(principal),
        Ok(None) => Err(Refusal::unauthenticated(
            "the API key is not valid (unknown or revoked)",
        )),
        Err(error) => {
            let error = insights_core::error::ApiError::from(error);
            if let Some(busy) = error.busy_for() {
                // Every connection busy, or the database's connection lost: the caller can
                // wait that out.
                let mut refusal = Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::RateLimited,
                    "the server is busy or its database unavailable for the moment: the API key could not be checked; retry after the time in Retry-After",
                );
                refusal.retry_after = Some(busy.retry_after);
                return Err(refusal);
            }
            Err(Refusal::new(
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
pub fn set_retry_after(response: &mut Response, wait: Duration) {
    let seconds = insights_core::error::retry_after_secs(wait);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}
