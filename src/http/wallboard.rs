//! The wallboard at `GET /wallboard`: a page for a TV or a laptop showing today per queue and by
//! hour, live. Its HTML and CSS are the files in `clients/typescript/wallboard/`; its script is
//! bundled by `build.rs` (TypeScript on the generated client, Chart.js, graphql-ws and
//! graphql-sse) into `OUT_DIR`. All embedded: the page loads nothing from another host. It keeps
//! current over WebSocket, over Server-Sent Events when the socket cannot open, else by polling,
//! and says which.
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The page.
pub const PAGE: &str = include_str!("../../clients/typescript/wallboard/index.html");
const CSS: &str = include_str!("../../clients/typescript/wallboard/wallboard.css");
static JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wallboard.js"));

/// File names servable under `/wallboard/`.
pub const ASSET_NAMES: [&str; 2] = ["wallboard.js", "wallboard.css"];

/// `(content type, bytes)` of an asset by file name; `None` if unknown.
pub fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        "wallboard.js" => Some(("text/javascript; charset=utf-8", JS)),
        "wallboard.css" => Some(("text/css; charset=utf-8", CSS.as_bytes())),
        _ => None,
    }
}

/// `GET /wallboard` and its assets. The names carry no version, so browsers revalidate.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/wallboard", get(page))
        .route("/wallboard/{name}", get(serve_asset))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

async fn serve_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match asset(&name) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_loads_only_its_own_assets() {
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
        for name in ASSET_NAMES {
            assert!(
                PAGE.contains(&format!("\"/wallboard/{name}\"")),
                "the page does not load {name}"
            );
            let (_, bytes) = asset(name).unwrap();
            assert!(!bytes.is_empty(), "{name} is empty");
        }
        assert!(asset("../Cargo.toml").is_none() && asset("").is_none());
    }

    /// The bundle holds the chart library, the WebSocket and Server-Sent Events clients and the
    /// generated operations, and fetches nothing from a CDN.
    #[test]
    fn bundle_is_self_contained() {
        let js = String::from_utf8_lossy(JS);
        assert!(js.contains("WallboardToday"), "the generated operation");
        assert!(js.contains("graphql-transport-ws"), "graphql-ws");
        assert!(
            js.contains("/graphql/stream"),
            "graphql-sse on the SSE path"
        );
        assert!(js.contains("text/event-stream"), "graphql-sse");
        assert!(js.contains("dialogueStatsChanged"));
        assert!(
            js.contains("Chart.js") || js.contains("chart.js"),
            "Chart.js"
        );
        for cdn in ["unpkg.com", "jsdelivr", "cdnjs", "googleapis"] {
            assert!(!js.contains(cdn), "{cdn}");
        }
    }
}
