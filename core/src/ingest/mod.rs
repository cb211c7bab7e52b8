//! Importing vendor-shaped records (docs/api.md): files streamed through a parser thread into
//! batched upserts, one transaction per file, so a rejected or interrupted file writes nothing.
//! The file pipeline lives here; what happens to a batch of validated records is
//! [`batch`]'s, shared with the ingest mutations.
pub mod batch;
mod columns;
pub mod record;
pub mod source;
pub mod write;
pub mod writer;

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
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    Statement,
};
use tokio::sync::mpsc;

use crate::live::Announcer;
use batch::Dedup;
use record::{Cells, Derived, DialogueKind, EndpointKind, FieldError, RecordKind, Thresholds};
use source::{Location, SourceError};
use write::{Batches, WriteTransaction};
use writer::IMPORT_BATCH_ROWS;

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
}

#[derive(Clone)]
pub struct ImportOptions {
    pub tenant: String,
    /// Import the valid records and write the rejected ones, with reasons, to `rejects`.
    pub skip_invalid: bool,
    pub rejects: Option<PathBuf>,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// This process's announcer, when subscribers in this process should hear of the import
    /// on SQLite (on PostgreSQL every process hears of it through `NOTIFY` anyway).
    pub announcer: Option<Announcer>,
}

impl fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOptions")
            .field("tenant", &self.tenant)
            .field("skip_invalid", &self.skip_invalid)
            .field("rejects", &self.rejects)
            .field("progress", &self.progress)
            .field("announcer", &self.announcer.is_some())
            .finish()
    }
}

impl ImportOptions {
    pub fn new(tenant: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            skip_invalid: false,
            rejects: None,
            progress: false,
            announcer: None,
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
        let plural =
            |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(
            f,
            "{}: {} {}: {} inserted, {} updated, {} unchanged, {} rejected",
            self.file,
            self.records,
            plural(self.records, "record", "records"),
            self.inserted,
            self.updated,
            self.unchanged,
            self.rejected
        )?;
        if self.endpoints_created > 0 {
            write!(
                f,
                "; {} endpoint {} created",
                self.endpoints_created,
                plural(self.endpoints_created, "stub", "stubs")
            )?;
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
    #[error(
        "{file} {location}{}: {error}; nothing was imported from this file",
        column_of(error)
    )]
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

/// `, column N` when the parser said where in the line a record could not be read.
fn column_of(error: &FieldError) -> String {
    error
        .column
        .map(|c| format!(", column {c}"))
        .unwrap_or_default()
}

/// Where rejected records go with `--skip-invalid`: one JSON object a line, with `file`, the
/// record's `line` (or, in a JSON array file, its 1-based `element`), `column` when the record
/// could not be read and the parser said where, `field` (null when the record as a whole could
/// not be read), `reason` and the `record`'s text.
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
        let mut entry = serde_json::Map::new();
        entry.insert("file".into(), file.into());
        match location {
            Location::Line(n) => entry.insert("line".into(), n.into()),
            Location::Element(n) => entry.insert("element".into(), n.into()),
        };
        if let Some(column) = error.column {
            entry.insert("column".into(), column.into());
        }
        entry.insert("field".into(), error.field.into());
        entry.insert("reason".into(), error.reason.clone().into());
        entry.insert("record".into(), record.into());
        let entry = serde_json::Value::Object(entry);
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
    /// With which of each row's `inSla`/`quickDrop` were derived rather than given, and what
    /// the upserts that add the rows to the pre-aggregates where the writer sums them
    /// ([`batch::presum`]).
    Dialogues(Vec<dialogue::Model>, Vec<Derived>, Option<Vec<Statement>>),
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

fn full<T>(batch: &Dedup<T>) -> bool {
    batch.len() >= IMPORT_BATCH_ROWS
}

/// A batch of dialogues for the writer, with its pre-aggregate upserts where the writer adds
/// those itself: summed here, on the parser's thread, they cost the writer's thread nothing.
fn dialogue_rows(backend: DbBackend, batch: Vec<(dialogue::Model, Derived)>) -> Rows {
    let (rows, derived): (Vec<dialogue::Model>, Vec<Derived>) = batch.into_iter().unzip();
    let sums = batch::presum(backend, &rows);
    Rows::Dialogues(rows, derived, sums)
}

/// Imports one file into `tenant` (created if new, within the file's transaction: a rejected
/// file leaves no tenant behind), in one transaction.
pub async fn import_file(
    db: &DatabaseConnection,
    kind: Kind,
    path: &Path,
    options: &ImportOptions,
    rejects: Option<&RejectsFile>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let file_name = path.display().to_string();
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

    let mut write = WriteTransaction::begin(db).await?;
    let txn = write.txn();
    let backend = txn.get_database_backend();
    if backend == sea_orm::DbBackend::Sqlite {
        // A larger page cache (default 2 MiB) keeps the indexes hot during a big import; it
        // stays within the importer's memory budget and is the importer's connection only.
        txn.execute_unprepared("PRAGMA cache_size = -32000").await?;
    }
    let tenant = crate::tenant::ensure(txn, &options.tenant).await?;
    let thresholds = match kind {
        Kind::Dialogues => thresholds(txn, &tenant).await?,
        Kind::Endpoints => Thresholds::default(),
    };

    // The parser runs on a blocking thread and hands bounded batches to the writer below.
    let (tx, mut rx) = mpsc::channel::<Message>(4);
    let parser = {
        let file_name = file_name.clone();
        let skip_invalid = options.skip_invalid;
        let rejects = rejects.cloned();
        let tenant_id = tenant.id;
        tokio::task::spawn_blocking(move || -> (u64, u64) {
            let mut dialogues = Dedup::with_capacity(IMPORT_BATCH_ROWS);
            let mut endpoints = Dedup::with_capacity(IMPORT_BATCH_ROWS);
            let (mut valid, mut rejected) = (0u64, 0u64);
            let mut sink = |location: Location,
                            raw: source::RawText<'_>,
                            cells: Result<Cells, FieldError>| {
                let row = cells.and_then(|cells| match kind {
                    Kind::Dialogues => record::dialogue_from_cells(cells, tenant_id, &thresholds)
                        .map(|(d, derived)| {
                            let id = d.id.clone();
                            dialogues.push(&id, (d, derived));
                        }),
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
                let batch = if full(&dialogues) {
                    Some(dialogue_rows(backend, dialogues.take()))
                } else if full(&endpoints) {
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
                        Kind::Dialogues => dialogue_rows(backend, dialogues.take()),
                        Kind::Endpoints => Rows::Endpoints(endpoints.take()),
                    };
                    let _ = tx.blocking_send(Message::Batch(last));
                }
            }
            (valid, rejected)
        })
    };

    if kind == Kind::Dialogues {
        let announcing = options.announcer.is_some();
        write
            .dialogues_of(tenant.id, Batches::Many, announcing)
            .await?;
    } else {
        // Every commit of a tenant takes a position, endpoints too (as `upsertEndpoints` does).
        write.position_of(tenant.id).await?;
    }
    let mut failure = None;
    while let Some(message) = rx.recv().await {
        let written = match message {
            Message::Fail(error) => {
                failure = Some(error);
                break;
            }
            Message::Batch(Rows::Dialogues(mut rows, derived, sums)) => {
                write.dialogues(&mut rows, &derived, sums).await
            }
            Message::Batch(Rows::Endpoints(rows)) => write.endpoints(&rows).await,
        };
        if let Err(e) = written {
            failure = Some(classify_db_error(&file_name, e));
            break;
        }
    }
    drop(rx);
    let (records, rejected) = parser.await.unwrap_or((0, 0));
    progress.finish_and_clear();
    if let Some(error) = failure {
        write.rollback().await;
        return Err(error);
    }
    let total = write.commit(options.announcer.as_ref()).await?;
    total.record_committed(
        match kind {
            Kind::Dialogues => "dialogues",
            Kind::Endpoints => "endpoints",
        },
        "import",
        records,
    );
    Ok(ImportSummary {
        file: file_name,
        records,
        inserted: total.inserted,
        updated: total.updated,
        unchanged: records.saturating_sub(total.inserted + total.updated),
        rejected,
        endpoints_created: total.endpoints_created,
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
