//! Calls from browser apps on other origins (CORS). The origins named by `--cors-origin` are
//! allowed; a demo on a loopback address also allows local development servers (a Vite app on
//! `http://localhost:5173`, say), since nothing but this machine can reach it. Any other
//! origin is refused and told why: once per origin in the log, and a refused preflight gets a
//! coded JSON error naming the flag that would allow it (not a bare 405).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::graphql_http::error_response;
use crate::app::config::ServeConfig;
use crate::app::state::{COMMIT_POSITION, READ_AFTER};
use insights_core::error::ErrorCode;

/// Distinct refused origins logged; past that, refusals are no longer logged (a flood of
/// made-up origins must not flood the log).
const MAX_LOGGED: usize = 64;

/// Which origins may call the API from a browser.
#[derive(Debug)]
pub struct CorsPolicy {
    listed: Vec<HeaderValue>,
    local_development: bool,
    logged: Mutex<HashSet<String>>,
}

impl CorsPolicy {
    pub fn new(config: &ServeConfig) -> Arc<Self> {
        Arc::new(Self {
            listed: config
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
                .collect(),
            local_development: config.demo && config.bind.ip().is_loopback(),
            logged: Mutex::new(HashSet::new()),
        })
    }

    /// Whether local development origins are allowed without being listed (said at startup).
    pub fn allows_local_development(&self) -> bool {
        self.local_development
    }

    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.listed.contains(origin) || (self.local_development && is_local(origin))
    }

    /// The layer answering allowed preflights and marking allowed responses; none when no
    /// origin can be allowed.
    pub fn layer(self: &Arc<Self>) -> Option<CorsLayer> {
        if self.listed.is_empty() && !self.local_development {
            return None;
        }
        let policy = Arc::clone(self);
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::predicate(move |origin, _| {
                    policy.allows(origin)
                }))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::ACCEPT,
                    HeaderName::from_static(READ_AFTER),
                ])
                // A browser app reads the commit position to send it back (read-your-writes).
                .expose_headers([HeaderName::from_static(COMMIT_POSITION)]),
        )
    }

    fn log_once(&self, origin: &str) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() < MAX_LOGGED && logged.insert(origin.to_string()) {
            tracing::warn!(
                %origin,
                "refused a call from a browser page on {origin}: start the server with \
                 --cors-origin {origin} (or INSIGHTS_CORS_ORIGIN) to allow it"
            );
        }
    }
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, any port.
fn is_local(origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_string),
    };
    let port_ok = |rest: &str| rest.is_empty() || rest.parse::<u16>().is_ok();
    match host.as_deref() {
        Some(h @ ("localhost" | "127.0.0.1" | "[::1]")) => {
            let rest = &authority[h.len()..];
            port_ok(rest.strip_prefix(':').unwrap_or(rest))
        }
        _ => false,
    }
}

/// A page of this server itself (GraphiQL, the wallboard) sends its own origin too.
fn same_origin(origin: &HeaderValue, headers: &HeaderMap) -> bool {
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(HeaderValue::to_str),
    ) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// Outside the CORS layer: says why a request from a page on an origin that is not allowed
/// will fail in the browser.
pub(super) async fn explain_refusals(
    State(policy): State<Arc<CorsPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let refused = request.headers().get(header::ORIGIN).and_then(|origin| {
        (!policy.allows(origin) && !same_origin(origin, request.headers()))
            .then(|| String::from_utf8_lossy(origin.as_bytes()).into_owned())
    });
    let Some(origin) = refused else {
        return next.run(request).await;
    };
    policy.log_once(&origin);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            &format!(
                "browser pages on {origin} may not call this server; start it with \
                 --cors-origin {origin} (or INSIGHTS_CORS_ORIGIN) to allow them"
            ),
            false,
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_origins_are_loopback_hosts_on_any_port() {
        for local in [
            "http://localhost:5173",
            "http://localhost",
            "https://127.0.0.1:8443",
            "http://[::1]:3000",
        ] {
            assert!(is_local(&HeaderValue::from_static(local)), "{local}");
        }
        for other in [
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io:80",
            "http://example.com",
            "file://",
            "null",
            "http://localhost:notaport",
            "http://[::2]:80",
        ] {
            assert!(!is_local(&HeaderValue::from_static(other)), "{other}");
        }
    }

    #[test]
    fn a_page_of_the_server_itself_is_same_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:4000"));
        assert!(same_origin(
            &HeaderValue::from_static("http://127.0.0.1:4000"),
            &headers
        ));
        assert!(!same_origin(
            &HeaderValue::from_static("http://127.0.0.1:5173"),
            &headers
        ));
    }
}
