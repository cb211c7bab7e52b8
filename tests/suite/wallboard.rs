//! GET /wallboard over real HTTP: the page and its embedded assets, served without a key (the
//! page asks for one itself), nothing else under /wallboard/.
use crate::common;

use common::Server;
use insights::app::config::ServeConfig;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use reqwest::StatusCode;

#[tokio::test]
async fn page_and_assets_are_served_without_a_key() {
    let t = common::sqlite().await;
    // A server with API keys: the static page needs none.
    let server = Server::start(&t.db, ServeConfig::default()).await;
    let get = |path: &str| server.client.get(server.url(path)).send();
    let page = get("/wallboard").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"src="/wallboard/wallboard.js""#), "{html}");
    for (path, media) in [
        ("/wallboard/wallboard.js", "text/javascript"),
        ("/wallboard/wallboard.css", "text/css"),
    ] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(media),
            "{path}"
        );
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
    for path in ["/wallboard/nope.js", "/wallboard/..%2FCargo.toml"] {
        assert_eq!(
            get(path).await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // The data itself still needs a key.
    let response = server
        .post(serde_json::json!({ "query": "{ dialogues { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
