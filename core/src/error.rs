//! The one error type of the core and the one table of error codes. Client errors carry a
//! stable code; internal errors are logged with their details and reach the client only as
//! INTERNAL_SERVER_ERROR. Each door words the message in its own terms ([`Arg`]).
use std::time::Duration;

use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

/// Stable error codes (docs/api.md); tests pin them.
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
    /// A subscription could not deliver a change: it ends, and the client subscribes again
    /// from the position the error names (`after`).
    ResumeRequired,
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
            Self::ResumeRequired => "RESUME_REQUIRED",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// An argument of a list request that a message names. The core does not know what a door
/// calls it (GraphQL says `orderBy` and `after`, OData `$orderby` and `$skiptoken`): each door
/// renders these in its own words ([`ApiError::render`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// The requested order.
    OrderBy,
    /// The page size going forward.
    First,
    /// The position to page forward from.
    After,
    /// The page size going backward.
    Last,
    /// The position to page backward from.
    Before,
    /// What a position is called (a noun, not an argument).
    Cursor,
}

/// A piece of a message: plain text, or an argument a door words.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Arg(Arg),
}

/// A message in the core's words, with the arguments it names left for the door to word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wording(Vec<Piece>);

impl Wording {
    /// Text naming no argument.
    pub fn text(text: impl Into<String>) -> Self {
        Self(vec![Piece::Text(text.into())])
    }

    /// Starts with the name of `arg`.
    pub fn arg(arg: Arg) -> Self {
        Self(vec![Piece::Arg(arg)])
    }

    /// Adds text.
    pub fn then(mut self, text: impl Into<String>) -> Self {
        self.0.push(Piece::Text(text.into()));
        self
    }

    /// Adds the name of `arg`.
    pub fn then_arg(mut self, arg: Arg) -> Self {
        self.0.push(Piece::Arg(arg));
        self
    }

    fn render(&self, name: &dyn Fn(Arg) -> &'static str) -> String {
        self.0
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.as_str(),
                Piece::Arg(arg) => name(*arg),
            })
            .collect()
    }
}

impl From<String> for Wording {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<&str> for Wording {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

/// An error a query or a write returns. Deliberately not `Display`: it reaches a client only
/// through a door, which words it ([`Self::render`]) and sets its code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    wording: Wording,
    busy: Option<Busy>,
}

/// A refusal for lack of capacity rather than for what was asked: the caller should try again
/// after `retry_after`. `server`: the whole server is saturated (HTTP 503), not only the
/// caller's share (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub retry_after: Duration,
    pub server: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_input(message: impl Into<Wording>) -> Self {
        Self::new(ErrorCode::BadUserInput, message)
    }

    pub fn new(code: ErrorCode, message: impl Into<Wording>) -> Self {
        Self {
            code,
            wording: message.into(),
            busy: None,
        }
    }

    /// A refusal for lack of capacity: try again after the wait `busy` names.
    pub fn busy(code: ErrorCode, message: impl Into<Wording>, busy: Busy) -> Self {
        Self {
            busy: Some(busy),
            ..Self::new(code, message)
        }
    }

    /// Whether this is a refusal for lack of capacity, and how long to wait.
    pub fn busy_for(&self) -> Option<Busy> {
        self.busy
    }

    /// Logs `detail` and returns an error that says nothing about it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::InternalServerError, "internal server error")
    }

    /// The message, with each argument it names worded by `name`.
    pub fn render(&self, name: &dyn Fn(Arg) -> &'static str) -> String {
        self.wording.render(name)
    }

    /// The message with the arguments in GraphQL's words (`orderBy`, `first`, `after`, …),
    /// which the command line and the logs use too.
    pub fn message(&self) -> String {
        self.render(&graphql_name)
    }
}

/// GraphQL's names of the arguments, in backticks as messages quote them.
pub fn graphql_name(arg: Arg) -> &'static str {
    match arg {
        Arg::OrderBy => "`orderBy`",
        Arg::First => "`first`",
        Arg::After => "`after`",
        Arg::Last => "`last`",
        Arg::Before => "`before`",
        Arg::Cursor => "cursor",
    }
}

/// A wait as every door tells it (`Retry-After`, `retryAfter`): whole seconds, rounded up, at
/// least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// How long a caller refused for a saturated pool is asked to wait.
pub const POOL_RETRY_AFTER: Duration = Duration::from_secs(2);

impl From<DbErr> for ApiError {
    fn from(error: DbErr) -> Self {
        if let DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) = error {
            // Every connection stayed in use (or the database did not answer) for the whole
            // acquire timeout: a matter of capacity, which the caller can wait out.
            tracing::warn!("no database connection became free in time; answering RATE_LIMITED");
            return ApiError::busy(
                ErrorCode::RateLimited,
                "the server is busy: no database connection became free in time; retry after \
                 the time in Retry-After",
                Busy {
                    retry_after: POOL_RETRY_AFTER,
                    server: true,
                },
            );
        }
        if connection_lost(&error) {
            // The database went away under the statement (a restart, a failover, a killed
            // backend): the pool replaces the connection, so the caller can retry shortly, as
            // for a saturated pool. Not an internal fault of the service.
            tracing::warn!(error = %error, "lost the database connection; answering RATE_LIMITED");
            return ApiError::busy(
                ErrorCode::RateLimited,
                "the database is unavailable for the moment (its connection was lost); retry \
                 after the time in Retry-After",
                Busy {
                    retry_after: POOL_RETRY_AFTER,
                    server: true,
                },
            );
        }
        if unstorable_text(&error) {
            return ApiError::bad_input(
                "a text argument contains a character no stored value can hold (NUL, \\u0000)",
            );
        }
        ApiError::internal(error)
    }
}

/// Whether the connection to the database broke: an I/O failure on it, or PostgreSQL ending the
/// session (SQLSTATE class 08 connection_exception, 57P01 admin_shutdown, 57P02 crash_shutdown,
/// 57P03 cannot_connect_now).
pub fn connection_lost(error: &DbErr) -> bool {
    let (DbErr::Conn(RuntimeErr::SqlxError(error))
    | DbErr::Query(RuntimeErr::SqlxError(error))
    | DbErr::Exec(RuntimeErr::SqlxError(error))) = error
    else {
        return matches!(
            error,
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
        );
    };
    match &**error {
        sea_orm::sqlx::Error::Io(_) => true,
        other => other
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
            }),
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
