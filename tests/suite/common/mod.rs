//! Shared test harness: every storage-touching test runs on a fresh SQLite file, and on a fresh
//! PostgreSQL database too when `TEST_POSTGRES_URL` is set (e.g. postgres://postgres@127.0.0.1:5432/postgres).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use insights::graphql::{self, ApiLimits, Guards, InsightsSchema};
use insights_core::db::{self, DbOptions};
use insights_core::ingest::{self, ImportOptions, ImportSummary, Kind};
use insights_core::tenant::{self, TenantScope};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;

pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    /// `sqlite` or `postgres`, for assertion messages.
    pub kind: &'static str,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Drops the test databases of test processes that no longer run (their names carry the pid),
/// so that runs do not pile databases up on the server. Databases of running processes, this
/// one's included, are left alone.
async fn drop_abandoned_databases(admin: &DatabaseConnection) {
    let backend = admin.get_database_backend();
    let Ok(rows) = admin
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT datname FROM pg_database WHERE datname LIKE 'insights\\_test\\_%'",
        ))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let pid = name
            .strip_prefix("insights_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // Only names we made ourselves reach this point: no quoting needed.
        let _ = admin
            .execute_raw(Statement::from_string(
                backend,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ))
            .await;
    }
}

/// A fresh, migrated SQLite database in a temporary folder.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let db = db::connect_and_migrate(&DbOptions::new(url.clone()))
        .await
        .expect("sqlite");
    TestDb {
        db,
        url,
        kind: "sqlite",
        _dir: Some(dir),
    }
}

/// The migrated database each PostgreSQL test database is copied from (one per process).
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn create_database(admin: &DatabaseConnection, name: &str, template: Option<&str>) {
    let template = template
        .map(|t| format!(" TEMPLATE {t}"))
        .unwrap_or_default();
    admin
        .execute_raw(Statement::from_string(
            admin.get_database_backend(),
            format!("CREATE DATABASE {name}{template}"),
        ))
        .await
        .expect("create test database");
}

/// A fresh, migrated PostgreSQL database (created on the server `TEST_POSTGRES_URL` names).
pub async fn postgres() -> Option<TestDb> {
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!(
        "insights_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut admin_opts = DbOptions::new(admin_url.clone());
    admin_opts.max_connections = 1;
    let admin = db::connect(&admin_opts)
        .await
        .expect("TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
    if !CLEANED.swap(true, Ordering::SeqCst) {
        drop_abandoned_databases(&admin).await;
    }
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url)
        .to_string();
    // Migrating costs several times what copying does: migrate one database per process,
    // then copy it for each test.
    let template = TEMPLATE
        .get_or_init(|| async {
            let name = format!("insights_test_{}_template", std::process::id());
            create_database(&admin, &name, None).await;
            let migrated = db::connect_and_migrate(&DbOptions::new(format!("{base}/{name}")))
                .await
                .expect("postgres template database");
            // A template must have no open connection while it is copied.
            migrated.close().await.ok();
            name
        })
        .await;
    create_database(&admin, &name, Some(template)).await;
    admin.close().await.ok();
    let url = format!("{base}/{name}");
    let mut opts = DbOptions::new(url.clone());
    opts.max_connections = 8;
    let db = db::connect_and_migrate(&opts)
        .await
        .expect("postgres test database");
    Some(TestDb {
        db,
        url,
        kind: "postgres",
        _dir: None,
    })
}

/// SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        all.push(pg);
    }
    all
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn samples(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/samples")
        .join(name)
}

/// Imports a fixture's endpoints, then its dialogues, into `tenant` (as `insights import` does).
pub async fn load(db: &DatabaseConnection, tenant: &str, endpoints: &str, dialogues: &str) {
    for (kind, file) in [(Kind::Endpoints, endpoints), (Kind::Dialogues, dialogues)] {
        import(db, kind, &fixture(file), tenant)
            .await
            .unwrap_or_else(|e| panic!("import {file}: {e:?}"));
    }
}

/// Imports a file into `tenant` through the same code path as `insights import`.
pub async fn import(
    db: &DatabaseConnection,
    kind: Kind,
    path: &Path,
    tenant: &str,
) -> Result<ImportSummary, ingest::ImportError> {
    ingest::import_file(db, kind, path, &ImportOptions::new(tenant), None).await
}

/// The schema with default limits.
pub fn schema() -> InsightsSchema {
    graphql::build_schema(ApiLimits::default(), Guards::default())
}

/// The scope of `tenant` (created if new).
pub async fn scope(db: &DatabaseConnection, tenant: &str) -> TenantScope {
    let t = tenant::ensure(db, tenant).await.expect("tenant");
    TenantScope::new(db.clone(), t.id)
}

/// Runs a query as `tenant` through the real schema; returns the whole response as JSON.
pub async fn query(db: &DatabaseConnection, tenant: &str, query: &str, variables: Value) -> Value {
    query_with(&schema(), db, tenant, query, variables).await
}

pub async fn query_with(
    schema: &InsightsSchema,
    db: &DatabaseConnection,
    tenant: &str,
    query: &str,
    variables: Value,
) -> Value {
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let response = schema
        .execute(graphql::scoped(request, scope(db, tenant).await))
        .await;
    serde_json::to_value(&response).expect("response as JSON")
}

/// The `extensions.code` of every error in a response.
pub fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The real HTTP application on a real socket (127.0.0.1, a free port), stopped on drop.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start(
        db: &DatabaseConnection,
        config: insights::app::config::ServeConfig,
    ) -> Server {
        let app = insights::http::app(db.clone(), &config).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        // The accept loop of `insights serve`, never told to stop (the task is aborted).
        let task = tokio::spawn(async move {
            insights::http::serve(listener, app, &config, std::future::pending()).await;
        });
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a JSON body to /graphql (no API key).
    pub fn post(&self, body: Value) -> reqwest::RequestBuilder {
        self.client.post(self.url("/graphql")).json(&body)
    }

    /// POSTs a JSON body to /graphql with `Authorization: Bearer <key>`.
    pub fn post_with_key(&self, key: &str, body: Value) -> reqwest::RequestBuilder {
        self.post(body).bearer_auth(key)
    }

    /// Runs a query with `key` as a current client does (accepting
    /// application/graphql-response+json, so request errors are HTTP 4xx); returns status and
    /// JSON body.
    pub async fn query(
        &self,
        key: &str,
        query: &str,
        variables: Value,
    ) -> (reqwest::StatusCode, Value) {
        let response = self
            .post_with_key(
                key,
                serde_json::json!({ "query": query, "variables": variables }),
            )
            .header(reqwest::header::ACCEPT, "application/graphql-response+json")
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {status} {text}"));
        (status, body)
    }
}

/// Creates an API key for `tenant` with `scopes` (e.g. "read" or "read,ingest"); returns the secret.
pub async fn key(db: &DatabaseConnection, tenant: &str, scopes: &str) -> String {
    let scopes = insights_core::keys::Scopes::parse(scopes).expect("scopes");
    insights_core::keys::create(db, tenant, &scopes, None)
        .await
        .expect("create key")
        .secret
}

/// The object keys of a JSON text, in the order they are written (keys are the strings
/// followed by a colon; the values here hold no `":`).
pub fn keys_in_order(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"').expect("closing quote");
        let string = &after[..end];
        rest = &after[end + 1..];
        if rest.trim_start().starts_with(':') {
            keys.push(string.to_string());
        }
    }
    keys
}

/// A valid dialogue in GraphQL input shape, accepted, with ivr, queue, customer and agent of its
/// own: ids and endpoints start with `prefix`, the order number is `order_base + n`.
pub fn dialogue_input(prefix: &str, order_base: usize, n: usize) -> Value {
    serde_json::json!({
        "id": format!("{prefix}-{n}"),
        "orderNumber": order_base + n,
        "startTimestamp": "2026-03-02T15:00:00+01:00",
        "queueEnterTimestamp": "2026-03-02T14:00:10Z",
        "acceptTimestamp": "2026-03-02T14:00:22.5Z",
        "endTimestamp": "2026-03-02T14:02:00Z",
        "ivrId": format!("{prefix}-ivr"),
        "queueId": format!("{prefix}-queue"),
        "customerId": format!("{prefix}-cust-{n}"),
        "agentId": format!("{prefix}-agent"),
        "direction": "INBOUND",
        "outcome": "ACCEPTED"
    })
}
