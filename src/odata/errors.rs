//! OData's error answers: `{"error": {"code", "message"}}` with the status, and the core's
//! errors worded in OData's terms (`$orderby`, `$top`, `$skiptoken`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::parser::ParseError;
use insights_core::error::{ApiError, Arg, ErrorCode};

use super::handlers::*;

/// An OData error answer: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
    /// For a refusal for lack of capacity: how long to wait (`Retry-After`).
    retry_after: Option<std::time::Duration>,
}

impl Failure {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<ParseError> for Failure {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::Invalid(m) => Failure::new(StatusCode::BAD_REQUEST, m),
            ParseError::Unsupported(m) => Failure::new(StatusCode::NOT_IMPLEMENTED, m),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        let busy = error.busy_for();
        let status = match error.code {
            _ if busy.is_some_and(|b| b.server) => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        Failure {
            retry_after: busy.map(|b| b.retry_after),
            ..Failure::new(status, error.render(&odata_name))
        }
    }
}

/// OData's words for the list arguments a core error names.
pub(super) fn odata_name(arg: Arg) -> &'static str {
    match arg {
        Arg::OrderBy => "`$orderby`",
        Arg::First | Arg::Last => "`$top`",
        Arg::After | Arg::Before => "`$skiptoken`",
        Arg::Cursor => "skip token",
    }
}

pub fn error_response(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::NOT_IMPLEMENTED => "NotImplemented",
        StatusCode::URI_TOO_LONG => "UriTooLong",
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "RequestHeaderFieldsTooLarge",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        _ => "InternalServerError",
    };
    let body = json!({ "error": { "code": code, "message": message } });
    (status, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = error_response(self.status, &self.message);
        if let Some(wait) = self.retry_after {
            crate::app::auth::set_retry_after(&mut response, wait);
        }
        response
    }
}
