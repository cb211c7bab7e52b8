//! The one error type of the API. Client errors carry a stable `extensions.code`; internal
//! errors are logged with their details and reach the client only as INTERNAL_SERVER_ERROR.
use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// Stable error codes (API.md §6); tests pin them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    GraphqlParseFailed,
    GraphqlValidationFailed,
    BadUserInput,
    Unauthenticated,
    Forbidden,
    QueryTooComplex,
    RateLimited,
    /// A hash-only persisted query whose text the server does not know (yet).
    PersistedQueryNotFound,
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::RateLimited => "RATE_LIMITED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// An error a resolver or service returns. Deliberately not `Display`, so it can only reach a
/// client through the conversion below, never through async-graphql's blanket `Display` one.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadUserInput,
            message: message.into(),
        }
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Logs `detail` and returns an error that says nothing about it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self {
            code: ErrorCode::InternalServerError,
            message: "internal server error".to_string(),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(error: DbErr) -> Self {
        if unstorable_text(&error) {
            return ApiError::bad_input(
                "a text argument contains a character no stored value can hold (NUL, \\u0000)",
            );
        }
        ApiError::internal(error)
    }
}

/// PostgreSQL refuses text it cannot hold, such as a NUL character in an id or a filter
/// (SQLSTATE 22021 character_not_in_repertoire, 22P05 untranslatable_character): that is the
/// client's input, not an internal failure.
fn unstorable_text(error: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(error)) | DbErr::Exec(RuntimeErr::SqlxError(error))) =
        error
    else {
        return false;
    };
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "22021" || code == "22P05")
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code.as_str();
        async_graphql::Error::new(error.message).extend_with(|_, e| e.set("code", code))
    }
}
