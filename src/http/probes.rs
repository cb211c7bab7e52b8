//! The operator's endpoints: `/healthz` (the process), `/readyz` (the database, and not
//! draining), `/metrics` (Prometheus text).
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Prometheus text exposition (no tenant data; bounded label values).
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::app::metrics::render(&state.db),
    )
        .into_response()
}

/// The process is up.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// The database answers (within a second), the live-update listener listens (PostgreSQL),
/// and the process is not shutting down.
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.drain.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    if state.listening.as_ref().is_some_and(|l| !*l.borrow()) {
        // Subscribers here would hear of no commit until it listens again.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not listening for live updates (reconnecting to the database)",
        );
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
