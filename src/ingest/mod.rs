//! Importing vendor-shaped records (API.md §2): files streamed through a parser thread into
//! batched upserts, one transaction per file, so a rejected or interrupted file writes nothing.
pub mod record;
pub mod source;
pub mod writer;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entity::{dialogue, endpoint, EndpointRole};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};
use tokio::sync::mpsc;

use record::{Cells, Derived, DialogueKind, EndpointKind, FieldError, RecordKind, Thresholds};
use source::{Location, SourceError};
use writer::{EndpointStubs, IMPORT_BATCH_ROWS};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dialogues,
    Endpoints,
}

impl Kind {
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Dialogues => DialogueKind::FIELDS,
            Kind::Endpoints => EndpointKind::FIELDS,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Kind::Dialogues => "dialogues",
            Kind::Endpoints => "endpoints",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub tenant: String,
    /// Import the valid records and write the rejected ones, with reasons, to `rejects`.
    pub skip_invalid: bool,
    pub rejects: Option<PathBuf>,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
}

impl ImportOptions {
    pub fn new(tenant: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            skip_invalid: false,
            rejects: None,
            progress: false,
        }
    }
}

/// The outcome of importing one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    pub file: String,
    /// Valid records read (duplicates of an id within the file count once per occurrence).
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Endpoints created as stubs because dialogues named them.
    pub endpoints_created: u64,
    pub elapsed: Duration,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "{}: {} records: {} inserted, {} updated, {} unchanged, {} rejected",
            self.file, self.records, self.inserted, self.updated, self.unchanged, self.rejected
        )?;
        if self.endpoints_created > 0 {
            write!(f, "; {} endpoint stubs created", self.endpoints_created)?;
        }
        write!(
            f,
            " in {:.2}s ({:.0} rows/s)",
            secs,
            (self.records + self.rejected) as f64 / secs
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A record is invalid and the import is all-or-nothing.
    #[error("{file} {location}: {error}; nothing was imported from this file")]
    Rejected {
        file: String,
        location: Location,
        error: FieldError,
    },
    #[error("{file}: {error}; nothing was imported from this file")]
    Source { file: String, error: SourceError },
    #[error("{file}: {message}; nothing was imported from this file")]
    Conflict { file: String, message: String },
    #[error("cannot write the rejects file {path}: {error}")]
    Rejects { path: String, error: std::io::Error },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Where rejected records go with `--skip-invalid`: one JSON object a line.
#[derive(Clone)]
pub struct RejectsFile {
    path: String,
    out: Arc<Mutex<BufWriter<File>>>,
}

impl RejectsFile {
    pub fn create(path: &Path) -> Result<Self, ImportError> {
        let file = File::create(path).map_err(|error| ImportError::Rejects {
            path: path.display().to_string(),
            error,
        })?;
        Ok(Self {
            path: path.display().to_string(),
            out: Arc::new(Mutex::new(BufWriter::new(file))),
        })
    }

    fn write(
        &self,
        file: &str,
        location: Location,
        error: &FieldError,
        record: String,
    ) -> Result<(), ImportError> {
        let (line, element) = match location {
            Location::Line(n) => (Some(n), None),
            Location::Element(n) => (None, Some(n)),
        };
        let entry = serde_json::json!({
            "file": file,
            "line": line,
            "element": element,
            "field": error.field,
            "reason": error.reason,
            "record": record,
        });
        let mut out = self.out.lock().expect("rejects file lock");
        writeln!(out, "{entry}").map_err(|error| ImportError::Rejects {
            path: self.path.clone(),
            error,
        })
    }

    pub fn flush(&self) -> Result<(), ImportError> {
        self.out
            .lock()
            .expect("rejects file lock")
            .flush()
            .map_err(|error| ImportError::Rejects {
                path: self.path.clone(),
                error,
            })
    }
}

/// Rows of one kind, validated, on their way from the parser thread to the writer.
enum Rows {
    /// With which of each row's `inSla`/`quickDrop` were derived rather than given.
    Dialogues(Vec<dialogue::Model>, Vec<Derived>),
    Endpoints(Vec<endpoint::Model>),
}

enum Message {
    Batch(Rows),
    Fail(ImportError),
}

/// The thresholds in force for `tenant_id`: its defaults and every queue's own.
pub async fn thresholds<C: ConnectionTrait>(
    db: &C,
    tenant: &entity::tenant::Model,
) -> Result<Thresholds, DbErr> {
    let queues = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant.id))
        .filter(endpoint::Column::Role.eq(EndpointRole::Queue))
        .filter(
            sea_orm::Condition::any()
                .add(endpoint::Column::SlaThresholdInSec.is_not_null())
                .add(endpoint::Column::QuickDropThresholdInSec.is_not_null()),
        )
        .all(db)
        .await?;
    Ok(Thresholds {
        default_sla_sec: tenant.sla_threshold_in_sec,
        default_quick_drop_sec: tenant.quick_drop_threshold_in_sec,
        queues: queues
            .into_iter()
            .map(|q| {
                (
                    q.id,
                    (q.sla_threshold_in_sec, q.quick_drop_threshold_in_sec),
                )
            })
            .collect(),
    })
}

/// Collects validated rows into batches, keeping the last occurrence of an id within a batch
/// (one statement may not touch a row twice).
struct Batcher<T> {
    rows: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Batcher<T> {
    fn new() -> Self {
        Self {
            rows: Vec::with_capacity(IMPORT_BATCH_ROWS),
            index: HashMap::with_capacity(IMPORT_BATCH_ROWS),
        }
    }

    fn push(&mut self, id: &str, row: T) {
        match self.index.get(id) {
            Some(&at) => self.rows[at] = row,
            None => {
                self.index.insert(id.to_string(), self.rows.len());
                self.rows.push(row);
            }
        }
    }

    fn full(&self) -> bool {
        self.rows.len() >= IMPORT_BATCH_ROWS
    }

    fn take(&mut self) -> Vec<T> {
        self.index.clear();
        std::mem::replace(&mut self.rows, Vec::with_capacity(IMPORT_BATCH_ROWS))
    }
}

fn dialogue_rows(batch: Vec<(dialogue::Model, Derived)>) -> Rows {
    let (rows, derived) = batch.into_iter().unzip();
    Rows::Dialogues(rows, derived)
}

/// Imports one file into `tenant` (created if new), in one transaction.
pub async fn import_file(
    db: &DatabaseConnection,
    kind: Kind,
    path: &Path,
    options: &ImportOptions,
    rejects: Option<&RejectsFile>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let file_name = path.display().to_string();
    let tenant = crate::tenant::ensure(db, &options.tenant).await?;
    let thresholds = match kind {
        Kind::Dialogues => thresholds(db, &tenant).await?,
        Kind::Endpoints => Thresholds::default(),
    };
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let progress = if options.progress {
        let bar = ProgressBar::with_draw_target(Some(file_len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("progress template")
            .progress_chars("=> "),
        );
        bar.set_message(file_name.clone());
        bar
    } else {
        ProgressBar::hidden()
    };

    let (format, reader) = {
        let bar = progress.clone();
        source::open(path, move |file| {
            Box::new(bar.wrap_read(file)) as Box<dyn Read + Send>
        })
    }
    .map_err(|error| ImportError::Source {
        file: file_name.clone(),
        error,
    })?;

    // The parser runs on a blocking thread and hands bounded batches to the writer below.
    let (tx, mut rx) = mpsc::channel::<Message>(4);
    let parser = {
        let file_name = file_name.clone();
        let skip_invalid = options.skip_invalid;
        let rejects = rejects.cloned();
        let tenant_id = tenant.id;
        tokio::task::spawn_blocking(move || -> (u64, u64) {
            let mut dialogues = Batcher::new();
            let mut endpoints = Batcher::new();
            let (mut valid, mut rejected) = (0u64, 0u64);
            let mut sink = |location: Location,
                            raw: source::RawText<'_>,
                            cells: Result<Cells, String>| {
                let row = cells
                    .map_err(|reason| FieldError::new("record", reason))
                    .and_then(|cells| match kind {
                        Kind::Dialogues => {
                            record::dialogue_from_cells(cells, tenant_id, &thresholds).map(
                                |(d, derived)| {
                                    let id = d.id.clone();
                                    dialogues.push(&id, (d, derived));
                                },
                            )
                        }
                        Kind::Endpoints => record::endpoint_from_cells(cells, tenant_id).map(|e| {
                            let id = e.id.clone();
                            endpoints.push(&id, e);
                        }),
                    });
                match row {
                    Ok(()) => valid += 1,
                    Err(error) => {
                        rejected += 1;
                        match (&rejects, skip_invalid) {
                            (Some(rejects), true) => {
                                if let Err(e) =
                                    rejects.write(&file_name, location, &error, raw.render())
                                {
                                    let _ = tx.blocking_send(Message::Fail(e));
                                    return ControlFlow::Break(());
                                }
                            }
                            (None, true) => {}
                            (_, false) => {
                                let _ = tx.blocking_send(Message::Fail(ImportError::Rejected {
                                    file: file_name.clone(),
                                    location,
                                    error,
                                }));
                                return ControlFlow::Break(());
                            }
                        }
                    }
                }
                let batch = if dialogues.full() {
                    Some(dialogue_rows(dialogues.take()))
                } else if endpoints.full() {
                    Some(Rows::Endpoints(endpoints.take()))
                } else {
                    None
                };
                match batch.map(|rows| tx.blocking_send(Message::Batch(rows))) {
                    Some(Err(_)) => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            };
            let result = source::read_records(format, reader, kind.fields(), &mut sink);
            match result {
                Err(error) => {
                    let _ = tx.blocking_send(Message::Fail(ImportError::Source {
                        file: file_name.clone(),
                        error,
                    }));
                }
                Ok(()) => {
                    let last = match kind {
                        Kind::Dialogues => dialogue_rows(dialogues.take()),
                        Kind::Endpoints => Rows::Endpoints(endpoints.take()),
                    };
                    let _ = tx.blocking_send(Message::Batch(last));
                }
            }
            (valid, rejected)
        })
    };

    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // A larger page cache (default 2 MiB) keeps the indexes hot during a big import; it
        // stays within the importer's memory budget and is the importer's connection only.
        txn.execute_unprepared("PRAGMA cache_size = -32000").await?;
    }
    let count_sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE tenant_id = {}",
        kind.table(),
        tenant.id
    );
    let count = |row: Option<sea_orm::QueryResult>| -> Result<u64, DbErr> {
        Ok(row
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0) as u64)
    };
    let backend = txn.get_database_backend();
    let before = count(
        txn.query_one_raw(Statement::from_string(backend, count_sql.clone()))
            .await?,
    )?;
    let mut stubs = EndpointStubs::new(tenant.id);
    let mut affected = 0u64;
    let mut endpoints_created = 0u64;
    let mut failure = None;
    while let Some(message) = rx.recv().await {
        let written = match message {
            Message::Fail(error) => {
                failure = Some(error);
                break;
            }
            Message::Batch(Rows::Dialogues(mut rows, derived)) => {
                match stubs.ensure(&txn, &rows).await {
                    Ok(created) => endpoints_created += created,
                    Err(e) => {
                        failure = Some(e.into());
                        break;
                    }
                }
                // Into a tenant that had no dialogues, every stored row comes from this same
                // import with the same thresholds: there is no history to keep.
                if before > 0 {
                    if let Err(e) = writer::keep_stored_derivations(&txn, &mut rows, &derived).await
                    {
                        failure = Some(e.into());
                        break;
                    }
                }
                writer::upsert_dialogues(&txn, &rows).await
            }
            Message::Batch(Rows::Endpoints(rows)) => writer::upsert_endpoints(&txn, &rows).await,
        };
        match written {
            Ok(n) => affected += n,
            Err(e) => {
                failure = Some(classify_db_error(&file_name, e));
                break;
            }
        }
    }
    drop(rx);
    let (records, rejected) = parser.await.unwrap_or((0, 0));
    progress.finish_and_clear();
    if let Some(error) = failure {
        txn.rollback().await?;
        return Err(error);
    }
    let after = count(
        txn.query_one_raw(Statement::from_string(backend, count_sql))
            .await?,
    )?;
    txn.commit().await?;
    let inserted = after.saturating_sub(before);
    let updated = affected.saturating_sub(inserted);
    Ok(ImportSummary {
        file: file_name,
        records,
        inserted,
        updated,
        unchanged: records.saturating_sub(inserted + updated),
        rejected,
        endpoints_created,
        elapsed: started.elapsed(),
    })
}

/// A unique-key violation on the order number is the user's data, not our bug: say so.
fn classify_db_error(file: &str, error: DbErr) -> ImportError {
    let text = error.to_string();
    if text.contains("order_number") || text.contains("ux_dialogues_tenant_order_number") {
        ImportError::Conflict {
            file: file.to_string(),
            message: "an orderNumber in this file is already used by another dialogue of the tenant (orderNumber is unique within a tenant)".to_string(),
        }
    } else {
        ImportError::Db(error)
    }
}
