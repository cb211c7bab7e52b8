//! The command line as a user meets it: which flags each command offers, and the environment
//! variables they read.
use std::process::{Command, Stdio};
use std::time::Duration;

fn insights(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(args)
        .env_remove("INSIGHTS_DATABASE_URL")
        .output()
        .expect("run insights")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn schema_neither_offers_nor_takes_a_database() {
    let help = insights(&["schema", "--help"]);
    assert!(help.status.success());
    assert!(
        !text(&help.stdout).contains("--database-url"),
        "{}",
        text(&help.stdout)
    );
    let refused = insights(&["schema", "--database-url", "sqlite://x.db"]);
    assert!(!refused.status.success(), "schema accepted --database-url");
    // It prints the SDL without touching any database (this one cannot be opened).
    let sdl = insights(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "schema",
    ]);
    assert!(sdl.status.success(), "{}", text(&sdl.stderr));
    assert!(text(&sdl.stdout).contains("type Query"));
}

#[test]
fn commands_with_a_database_offer_it_before_and_after_the_command() {
    for command in ["serve", "migrate", "import", "demo", "keys", "tenants"] {
        let help = insights(&[command, "--help"]);
        assert!(
            text(&help.stdout).contains("--database-url"),
            "{command}: {}",
            text(&help.stdout)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let before = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let after = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    assert!(insights(&["--database-url", &before, "migrate"])
        .status
        .success());
    assert!(insights(&["migrate", "--database-url", &after])
        .status
        .success());
    assert!(dir.path().join("a.db").exists() && dir.path().join("b.db").exists());
    // After the command wins over before it.
    let c = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    assert!(
        insights(&["--database-url", &c, "migrate", "--database-url", &after])
            .status
            .success()
    );
    assert!(!dir.path().join("c.db").exists());
}

#[test]
fn cors_origin_reads_the_variable_of_its_name() {
    let help = insights(&["serve", "--help"]);
    let help = text(&help.stdout);
    assert!(help.contains("--cors-origin"), "{help}");
    assert!(help.contains("[env: INSIGHTS_CORS_ORIGIN="), "{help}");
}

/// A served origin is allowed by a CORS preflight through INSIGHTS_CORS_ORIGIN and through its
/// older name INSIGHTS_CORS_ORIGINS; another origin is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origin_variables_reach_the_server() {
    for variable in ["INSIGHTS_CORS_ORIGIN", "INSIGHTS_CORS_ORIGINS"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("cors.db").display());
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let bind = format!("127.0.0.1:{port}");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_insights"))
            .args(["--database-url", &url, "--log", "warn"])
            .args(["serve", "--no-auth", "--bind", &bind])
            .env_remove("INSIGHTS_CORS_ORIGIN")
            .env_remove("INSIGHTS_CORS_ORIGINS")
            .env(variable, "https://board.example, https://other.example")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start insights serve");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://{bind}");
        let mut up = false;
        for _ in 0..300 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up, "serve did not come up");
        for (origin, allowed) in [
            ("https://board.example", true),
            ("https://other.example", true),
            ("https://evil.example", false),
        ] {
            let response = client
                .request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .send()
                .await
                .unwrap();
            let echoed = response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            assert_eq!(
                echoed.as_deref() == Some(origin),
                allowed,
                "{variable}, {origin}: {echoed:?}"
            );
        }
        child.kill().await.ok();
    }
}

/// A database that cannot be reached is said once, at once, with where it was tried and why
/// (not a pool timeout after ten seconds, not the same text twice).
#[tokio::test]
async fn an_unreachable_database_is_told_at_once_with_where_and_why() {
    let port = crate::live::free_port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/x");
    let started = std::time::Instant::now();
    let out = insights(&["--database-url", &url, "migrate"]);
    let took = started.elapsed();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "took {took:?}: {err}"
    );
    let said = format!("PostgreSQL at 127.0.0.1:{port} (database `x`, user `nobody`): ");
    assert!(err.contains(&said), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert_eq!(
        err.matches("connection refused").count() + err.matches("Connection refused").count(),
        1,
        "{err}"
    );
    assert!(!err.contains("pool timed out"), "{err}");

    if let Ok(admin) = std::env::var("TEST_POSTGRES_URL") {
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let missing = format!("insights_missing_{}", std::process::id());
        let out = insights(&["--database-url", &format!("{base}/{missing}"), "migrate"]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert_eq!(
            err.matches(&format!("database \"{missing}\" does not exist"))
                .count(),
            1,
            "{err}"
        );
        assert!(!err.contains("at line"), "{err}");
    }
}
