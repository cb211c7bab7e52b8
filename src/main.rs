//! `insights`: parses the command line and wires the library together.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use insights::app::config::ServeConfig;
use insights_core::db::{self, DbOptions, DEFAULT_DATABASE_URL};
use insights_core::ingest::{self, ImportOptions, Kind, RejectsFile};
use migration::{Migrator, MigratorTrait};

#[derive(Parser)]
#[command(
    name = "insights",
    version,
    about = "Dialogue Insights: GraphQL over contact-center dialogue history"
)]
struct Cli {
    /// Database of the commands that use one (all but `schema`): a SQLite file (the default) or
    /// PostgreSQL (postgres://user@host/db). Also accepted after the command.
    #[arg(long, env = "INSIGHTS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,

    /// Log filter (tracing's EnvFilter syntax, e.g. `info` or `insights=debug`).
    #[arg(long, global = true, env = "INSIGHTS_LOG", default_value = "info")]
    log: String,

    /// Log lines as human-readable text (colours only on a terminal) or as JSON objects, one a
    /// line, each with the spans it ran in (a request's lines carry its `request_id`).
    #[arg(long, global = true, env = "INSIGHTS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// `--database-url` after the command, for the commands that use a database (`schema` has none,
/// so it neither offers nor accepts one).
#[derive(Args)]
struct DatabaseArg {
    /// Database: a SQLite file or PostgreSQL (postgres://user@host/db). Default: the one given
    /// before the command, else INSIGHTS_DATABASE_URL, else sqlite://insights.db?mode=rwc.
    #[arg(long = "database-url", value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
// Parsed once at start: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the HTTP server (GraphQL at /graphql, GraphiQL in a browser); migrates first.
    Serve {
        #[command(flatten)]
        database: DatabaseArg,
        #[command(flatten)]
        config: ServeConfig,
    },
    /// Apply pending migrations (or roll back with --down).
    Migrate {
        #[command(flatten)]
        database: DatabaseArg,
        /// Roll back this many migrations instead of applying.
        #[arg(long)]
        down: Option<u32>,
        /// Print which migrations are applied.
        #[arg(long, conflicts_with = "down")]
        status: bool,
    },
    /// Import vendor-shaped records (NDJSON, JSON array or CSV; optionally .gz).
    Import {
        #[command(flatten)]
        database: DatabaseArg,
        /// What the files hold.
        kind: ImportKind,
        /// Files to import, each in its own transaction.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Tenant to import into (created if new).
        #[arg(long, env = "INSIGHTS_TENANT", default_value = "default")]
        tenant: String,
        /// Import the valid records, writing rejected ones to --rejects instead of failing.
        #[arg(long, requires = "rejects")]
        skip_invalid: bool,
        /// With --skip-invalid: where rejected records go, one JSON object a line with the reason.
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Generate realistic demo data into the database, or as vendor-shaped files with --out-dir.
    Demo {
        #[command(flatten)]
        database: DatabaseArg,
        /// Number of dialogues.
        #[arg(long, default_value_t = 20_000)]
        dialogues: u64,
        /// Whole days of history before today (Europe/Amsterdam), followed by today up to now;
        /// with --until, the days before that day instead (and nothing after).
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// End the history the day before this one (YYYY-MM-DD), office hours only: the same
        /// --until and --seed give the same data. Default: up to now, today included.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// Random seed (the same seed gives the same data).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Tenant to generate into (created if new).
        #[arg(long, env = "INSIGHTS_TENANT", default_value = "default")]
        tenant: String,
        /// Write endpoints.ndjson and dialogues.ndjson here instead of into the database.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Print the GraphQL schema (SDL). Needs no database.
    Schema,
    /// Create, list and revoke API keys.
    Keys {
        #[command(flatten)]
        database: DatabaseArg,
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// List tenants or change their default thresholds.
    Tenants {
        #[command(flatten)]
        database: DatabaseArg,
        #[command(subcommand)]
        command: TenantCommand,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// List tenants with their default thresholds.
    List,
    /// Set a tenant's default thresholds (used for queues without their own).
    Set {
        /// The tenant (created if new).
        name: String,
        /// Seconds within which an accepted dialogue counts as in SLA.
        #[arg(long)]
        sla_threshold_sec: Option<f64>,
        /// Seconds within which an abandoned dialogue counts as a quick drop.
        #[arg(long)]
        quick_drop_threshold_sec: Option<f64>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key; prints the secret alone on stdout (it is shown only this once).
    Create {
        /// The tenant the key reads and writes (created if new).
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes: read, ingest.
        #[arg(long, default_value = "read")]
        scope: String,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys (default: every tenant's).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by its id (as `keys list` shows it).
    Revoke {
        /// The key's id (not its secret).
        id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Endpoints,
    Dialogues,
}

fn main() -> ExitCode {
    // `#[tokio::main]`, with stacks sized for the deepest input the guards let through.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(insights::graphql::WORKER_STACK_BYTES)
        .build()
        .expect("the async runtime")
        .block_on(start())
}

async fn start() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Colours only on a terminal: a log written to a file or a pipe stays plain text.
        LogFormat::Pretty => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let default_url = cli.database_url;
    let db_of =
        |database: DatabaseArg| DbOptions::new(database.database_url.unwrap_or(default_url));
    match cli.command {
        Command::Serve { database, config } => serve(db_of(database), config).await,
        Command::Migrate {
            database,
            down,
            status,
        } => {
            let db_options = db_of(database);
            let db = db::connect(&db_options)
                .await
                .context("cannot connect to the database")?;
            if status {
                Migrator::status(&db).await?;
            } else if let Some(steps) = down {
                Migrator::down(&db, Some(steps)).await?;
                eprintln!("rolled back {steps} migration(s)");
            } else {
                Migrator::up(&db, None).await?;
                eprintln!("database is up to date");
            }
            Ok(())
        }
        Command::Import {
            database,
            kind,
            files,
            tenant,
            skip_invalid,
            rejects,
            quiet,
        } => {
            let db_options = db_of(database);
            let db = db::connect_and_migrate(&db_options)
                .await
                .context("cannot open the database")?;
            let kind = match kind {
                ImportKind::Endpoints => Kind::Endpoints,
                ImportKind::Dialogues => Kind::Dialogues,
            };
            let options = ImportOptions {
                tenant,
                skip_invalid,
                rejects: rejects.clone(),
                progress: !quiet,
                // Each file's transaction announces what it wrote with `NOTIFY` on PostgreSQL,
                // which reaches every server. On SQLite only subscribers of the writing process
                // could hear of it, and this process has none: keeping the ids for them would
                // only cost memory on a big file.
                announcer: None,
            };
            let rejects = rejects.as_deref().map(RejectsFile::create).transpose()?;
            let mut failed = false;
            for file in &files {
                match ingest::import_file(&db, kind, file, &options, rejects.as_ref()).await {
                    Ok(summary) => println!("{summary}"),
                    Err(error) => {
                        eprintln!("error: {error}");
                        failed = true;
                    }
                }
            }
            if let Some(rejects) = &rejects {
                rejects.flush()?;
            }
            if failed {
                anyhow::bail!("some files were not imported");
            }
            Ok(())
        }
        Command::Demo {
            database,
            dialogues,
            days,
            until,
            seed,
            tenant,
            out_dir,
        } => {
            let mut options = insights_core::demo::DemoOptions::new(dialogues);
            options.days = days;
            options.seed = seed;
            // Without --until the history reaches the present.
            let now = match until {
                Some(until) => {
                    options.until = until;
                    None
                }
                None => Some(chrono::Utc::now()),
            };
            match out_dir {
                Some(dir) => {
                    insights_core::demo::write_files(&options, now, &dir)?;
                    println!(
                        "wrote {} and {}",
                        dir.join("endpoints.ndjson").display(),
                        dir.join("dialogues.ndjson").display()
                    );
                }
                None => {
                    let db = db::connect_and_migrate(&db_of(database))
                        .await
                        .context("cannot open the database")?;
                    let written = match now {
                        Some(now) => {
                            insights_core::demo::write_to_db_up_to(&db, &tenant, options, now)
                                .await?
                        }
                        None => insights_core::demo::write_to_db(&db, &tenant, options).await?,
                    };
                    println!("generated {written} demo dialogues for tenant {tenant}");
                }
            }
            Ok(())
        }
        Command::Schema => {
            print!("{}", insights::graphql::sdl());
            Ok(())
        }
        Command::Keys { database, command } => {
            let db = db::connect_and_migrate(&db_of(database))
                .await
                .context("cannot open the database")?;
            match command {
                KeyCommand::Create {
                    tenant,
                    scope,
                    name,
                } => {
                    let scopes =
                        insights_core::keys::Scopes::parse(&scope).map_err(anyhow::Error::msg)?;
                    let created = insights_core::keys::create(&db, &tenant, &scopes, name).await?;
                    eprintln!("created {} for tenant {tenant} with scopes {scopes}; the key is shown only now:", created.key.id);
                    println!("{}", created.secret);
                }
                KeyCommand::List { tenant } => {
                    println!("id\ttenant\tscopes\tlabel\tcreated\tlast used\tstatus");
                    for listed in insights_core::keys::list(&db, tenant.as_deref()).await? {
                        let k = &listed.key;
                        let when = |ms: Option<i64>| {
                            ms.map(insights_core::time::format_ms)
                                .unwrap_or_else(|| "-".into())
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            k.id,
                            listed.tenant,
                            k.scopes,
                            k.label.as_deref().unwrap_or("-"),
                            when(Some(k.created_at_ms)),
                            when(k.last_used_at_ms),
                            if k.revoked_at_ms.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                        );
                    }
                }
                KeyCommand::Revoke { id } => {
                    if !insights_core::keys::revoke(&db, &id).await? {
                        anyhow::bail!("no API key with id {id}");
                    }
                    eprintln!("revoked {id}");
                }
            }
            Ok(())
        }
        Command::Tenants { database, command } => {
            let db = db::connect_and_migrate(&db_of(database))
                .await
                .context("cannot open the database")?;
            match command {
                TenantCommand::List => {
                    for t in insights_core::tenant::list(&db).await? {
                        println!(
                            "{}\tsla {}s\tquick drop {}s",
                            t.name, t.sla_threshold_in_sec, t.quick_drop_threshold_in_sec
                        );
                    }
                }
                TenantCommand::Set {
                    name,
                    sla_threshold_sec,
                    quick_drop_threshold_sec,
                } => {
                    let t = insights_core::tenant::set_thresholds(
                        &db,
                        &name,
                        sla_threshold_sec,
                        quick_drop_threshold_sec,
                    )
                    .await?;
                    println!(
                        "{}\tsla {}s\tquick drop {}s",
                        t.name, t.sla_threshold_in_sec, t.quick_drop_threshold_in_sec
                    );
                }
            }
            Ok(())
        }
    }
}

async fn serve(mut db_options: DbOptions, mut config: ServeConfig) -> anyhow::Result<()> {
    // The variable's older name still works.
    if config.cors_origins.is_empty() && std::env::var_os("INSIGHTS_CORS_ORIGIN").is_none() {
        if let Ok(origins) = std::env::var("INSIGHTS_CORS_ORIGINS") {
            config.cors_origins = origins
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect();
        }
    }
    // A demo on this machine needs no keys; anywhere else it still does.
    if config.demo && config.bind.ip().is_loopback() {
        config.no_auth = true;
    }
    insights::http::check_access(&config)?;
    db_options.max_connections = config.max_connections;
    db_options.acquire_timeout = Duration::from_millis(config.db_acquire_timeout_ms.max(1));
    db_options.statement_timeout = Some(Duration::from_secs(config.statement_timeout_secs));
    let db = db::connect_and_migrate(&db_options)
        .await
        .context("cannot open the database")?;
    if config.demo {
        insights::http::fill_demo_if_empty(&db, &config).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let (app, drain, hub) = insights::http::app_with_drain(db, &config).await?;
    let closing = hub.clone();
    let fleet = hub.fleet().clone();
    tracing::info!("listening on http://{}/graphql", config.bind);
    tracing::info!(
        "GraphiQL: http://{bind}/graphql (in a browser) · wallboard: http://{bind}/wallboard",
        bind = config.bind
    );
    let drain_for = Duration::from_secs(config.drain_secs);
    insights::http::serve(listener, app, &config, async move {
        insights::http::shutdown_signal().await;
        // Readiness turns 503 first, so load balancers stop sending before the listener closes.
        drain.begin();
        // The balancer stops sending here: the other instances take over this one's share
        // of the per-key limits now, not after missing its heartbeats.
        fleet.leave();
        tracing::info!(
            seconds = drain_for.as_secs(),
            "draining: /readyz answers 503"
        );
        tokio::time::sleep(drain_for).await;
        tracing::info!("closing the listener; finishing in-flight requests");
        // WebSockets get a close frame (1001, going away) rather than a dropped connection.
        closing.shutdown();
    })
    .await;
    hub.wait_closed(Duration::from_secs(5)).await;
    Ok(())
}
