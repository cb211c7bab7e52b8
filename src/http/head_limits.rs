//! How long a request's URI and how large its headers may be. hyper's own refusals of these
//! (414, 431) come with an empty body; the accept loop ([`super::accept`]) lets hyper read well
//! past the limits, and [`refuse_oversized`] answers with the coded JSON error every other
//! refusal has, in the shape of the route it was for.
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::config::ServeConfig;
use insights_core::error::ErrorCode;

/// Most header lines a request may have (hyper's own default, kept as it was).
pub const MAX_HEADER_LINES: usize = 100;

/// The limits [`refuse_oversized`] enforces.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Path and query, in bytes.
    pub max_uri_bytes: usize,
    /// Every header's name and value with their `: ` and line end, in bytes.
    pub max_header_bytes: usize,
}

impl HeadLimits {
    pub fn new(config: &ServeConfig) -> Self {
        Self {
            max_uri_bytes: config.max_uri_bytes,
            max_header_bytes: config.max_header_bytes,
        }
    }

    /// How much of a request head hyper buffers before it gives up with its own empty 431:
    /// several times the limits (and never below hyper's default, ~400 KiB), so that a head a
    /// little or a lot over them still reaches [`refuse_oversized`].
    pub(super) fn read_buffer_bytes(self) -> usize {
        const HYPER_DEFAULT: usize = 8192 + 4096 * 100;
        self.max_uri_bytes
            .saturating_add(self.max_header_bytes)
            .saturating_mul(4)
            .max(HYPER_DEFAULT)
    }

    /// The header lines hyper parses before its own 431: well over [`MAX_HEADER_LINES`].
    pub(super) fn hyper_header_lines() -> usize {
        MAX_HEADER_LINES * 10
    }
}

/// The bytes the headers took on the wire in HTTP/1.1: `name: value\r\n` each.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// A request over a limit gets 414 (URI) or 431 (headers) with a coded JSON error.
pub(super) async fn refuse_oversized(
    State(limits): State<HeadLimits>,
    request: Request,
    next: Next,
) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > limits.max_uri_bytes {
        let message = format!(
            "the request URI (path and query) is {uri_bytes} bytes, longer than the {} this server accepts",
            limits.max_uri_bytes
        );
        return refusal(&request, StatusCode::URI_TOO_LONG, &message);
    }
    let lines = request.headers().len();
    if lines > MAX_HEADER_LINES {
        let message = format!(
            "the request has {lines} header lines, more than the {MAX_HEADER_LINES} this server accepts"
        );
        return refusal(
            &request,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &message,
        );
    }
    let bytes = header_bytes(request.headers());
    if bytes > limits.max_header_bytes {
        let message = format!(
            "the request headers are {bytes} bytes together, more than the {} this server accepts",
            limits.max_header_bytes
        );
        return refusal(
            &request,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &message,
        );
    }
    next.run(request).await
}

fn refusal(request: &Request, status: StatusCode, message: &str) -> Response {
    super::middleware::coded_refusal(request, status, ErrorCode::BadUserInput, message)
}
