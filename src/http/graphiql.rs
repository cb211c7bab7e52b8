//! Self-hosted GraphiQL: the HTML page plus its JS/CSS, embedded in the binary
//! so the playground works without internet access (no CDN).
//!
//! The assets come from the npm packages pinned in `graphiql/package-lock.json`;
//! `build.rs` installs them (`npm ci`) when needed and copies them into
//! `OUT_DIR`. Only std types here: the HTTP layer serves [`page`] as
//! `text/html; charset=utf-8` and `GET /graphiql/{name}` via [`asset`].

/// URL prefix (with trailing slash) under which [`page`] loads the assets.
pub const ASSET_PREFIX: &str = "/graphiql/";

/// File names servable by [`asset`], i.e. `/graphiql/<name>`.
pub const ASSET_NAMES: [&str; 4] = [
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static REACT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/react.production.min.js"));
static REACT_DOM_JS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/react-dom.production.min.js"));
static GRAPHIQL_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/graphiql.min.js"));
static GRAPHIQL_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/graphiql.min.css"));

/// Query shown in the editor until the user has one of their own (GraphiQL
/// keeps the user's last query in localStorage).
const DEFAULT_QUERY: &str = r#"# Dialogue Insights. Run: play button or Ctrl-Enter.
# Needs auth? In the Headers tab below, add
#   { "Authorization": "Bearer <token>" }
# (headers are kept in this browser across reloads).
{
  dialogues(first: 10) {
    totalCount
    nodes {
      id
      startTimestamp
      outcome
      queue { name }
      agent { name }
    }
  }
}
"#;

/// `(content type, bytes)` of an embedded asset, by file name (e.g.
/// `"graphiql.min.js"`, without the `/graphiql/` prefix); `None` if unknown.
pub fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        "react.production.min.js" => Some((JS, REACT_JS)),
        "react-dom.production.min.js" => Some((JS, REACT_DOM_JS)),
        "graphiql.min.js" => Some((JS, GRAPHIQL_JS)),
        "graphiql.min.css" => Some((CSS, GRAPHIQL_CSS)),
        _ => None,
    }
}

/// The GraphiQL HTML page, sending queries to `endpoint` (e.g. `"/graphql"`).
pub fn page(endpoint: &str) -> String {
    let endpoint = js_string(endpoint);
    let query = js_string(DEFAULT_QUERY);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>Dialogue Insights — GraphiQL</title>
<style>
  html, body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
  #graphiql {{ height: 100vh; }}
</style>
<link rel="stylesheet" href="{p}graphiql.min.css">
<script src="{p}react.production.min.js"></script>
<script src="{p}react-dom.production.min.js"></script>
<script src="{p}graphiql.min.js"></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script>
  (function () {{
    // Subscriptions go over a WebSocket on the same path; GraphiQL puts the headers of its
    // Headers tab (the API key) into the socket's connection_init payload.
    var socket = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + {endpoint};
    var fetcher = GraphiQL.createFetcher({{ url: {endpoint}, subscriptionUrl: socket }});
    var root = ReactDOM.createRoot(document.getElementById('graphiql'));
    root.render(React.createElement(GraphiQL, {{
      fetcher: fetcher,
      defaultQuery: {query},
      shouldPersistHeaders: true,
      isHeadersEditorEnabled: true
    }}));
  }})();
</script>
</body>
</html>
"#,
        p = ASSET_PREFIX,
    )
}

/// A double-quoted JavaScript string literal that is also safe inside an HTML
/// `<script>` element (no `<`, `>`, `&`, or raw line separators).
fn js_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\'' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_hosted() {
        let html = page("/graphql");
        assert!(
            !html.contains("http://"),
            "page must not load anything over http://"
        );
        assert!(
            !html.contains("https://"),
            "page must not load anything over https://"
        );
        assert!(!html.contains("//unpkg") && !html.contains("//cdn"));
        for name in ASSET_NAMES {
            assert!(
                html.contains(&format!("\"/graphiql/{name}\"")),
                "page does not load {name}"
            );
        }
        assert!(html.contains(r#"url: "/graphql""#));
        assert!(html.contains("shouldPersistHeaders: true"));
        assert!(html.contains("<title>Dialogue Insights — GraphiQL</title>"));
    }

    #[test]
    fn assets_are_embedded() {
        for name in ASSET_NAMES {
            let (content_type, bytes) = asset(name).unwrap_or_else(|| panic!("no asset {name}"));
            assert!(!bytes.is_empty(), "{name} is empty");
            let expected = if name.ends_with(".css") { CSS } else { JS };
            assert_eq!(content_type, expected, "{name}");
        }
        assert!(asset("graphiql.min.js.map").is_none());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("").is_none());
    }

    #[test]
    fn endpoint_cannot_break_out_of_the_script() {
        let html = page("/x\"</script><script>alert(1)//");
        assert_eq!(
            html.matches("</script>").count(),
            4,
            "only the page's own script tags close"
        );
        assert!(html.contains(r#"url: "/x\"\u003c/script\u003e\u003cscript\u003ealert(1)//""#));
    }
}
