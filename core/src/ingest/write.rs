//! The write service: validate → batch-apply → commit → announce, the one way records reach
//! the database. The file importer streams many batches through one [`WriteTransaction`]; a door that
//! writes one call at a time (the GraphQL mutations, any later one) calls [`Writer`], which
//! validates the call's records by the importer's rules and writes them as one [`WriteTransaction`].
use entity::dialogue;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr};

use super::batch::{self, Applied, Dedup, DialogueBatches};
use super::record::{self, Cells, Derived, FieldError};
use crate::error::ApiError;
use crate::live::{position, Announcer, DialoguesCommitted};

/// Most records one call may carry.
pub const MAX_RECORDS_PER_CALL: usize = 1000;

/// How a transaction's dialogue batches keep the pre-aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batches {
    /// A few batches (a call): the triggers keep what the writer does not.
    Few,
    /// Many batches (an import): on SQLite the writer takes over every insert and update of
    /// the transaction (see `rollups::writer_takes_over_writes`).
    Many,
}

/// One transaction writing a tenant's records. Each batch of dialogues is announced within it
/// (PostgreSQL's `NOTIFY`, delivered at commit to every process); [`Self::commit`] then hands
/// the ids to this process's subscribers where the database cannot (SQLite).
pub struct WriteTransaction {
    db: DatabaseConnection,
    txn: DatabaseTransaction,
    backend: DbBackend,
    /// The tenant, its batches, and the change position this transaction took for it.
    dialogues: Option<(i32, DialogueBatches, i64)>,
    /// The place of the next dialogue among this transaction's changes.
    next_index: i64,
    /// What this process's subscribers hear at commit (ids kept only where they must be, so
    /// that an import's memory stays flat on PostgreSQL).
    committed: Option<DialoguesCommitted>,
    /// The tenant's change position this transaction took, if any.
    position: Option<i64>,
    total: Applied,
}

impl WriteTransaction {
    /// Begins the transaction (on SQLite taking the write lock at once).
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let txn = batch::begin_write(db).await?;
        let backend = txn.get_database_backend();
        Ok(Self {
            db: db.clone(),
            txn,
            backend,
            dialogues: None,
            next_index: 0,
            committed: None,
            position: None,
            total: Applied::default(),
        })
    }

    /// The transaction, for what a write reads or sets up first (the tenant, its thresholds).
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Prepares the dialogue batches of `tenant_id`; `announcer` is this process's, when its
    /// subscribers must hear of the commit.
    ///
    /// Takes the tenant's next change position first (`live::position`), before anything is
    /// written, so that writers of one tenant always lock the counter before any row: every
    /// dialogue the transaction inserts or changes gets that position, and the counter row
    /// stays locked until the commit, which makes position order commit order. A transaction
    /// that ends up changing nothing leaves its number unused (positions are not dense).
    pub async fn dialogues_of(
        &mut self,
        tenant_id: i32,
        batches: Batches,
        announcer: bool,
    ) -> Result<(), DbErr> {
        let position = position::take(&self.txn, tenant_id).await?;
        self.position = Some(position);
        let prepared = match batches {
            Batches::Few => DialogueBatches::new(&self.txn, tenant_id).await?,
            Batches::Many => DialogueBatches::for_import(&self.txn, tenant_id).await?,
        };
        self.dialogues = Some((tenant_id, prepared, position));
        if announcer && self.backend != DbBackend::Postgres {
            self.committed = Some(DialoguesCommitted {
                tenant_id,
                position,
                ids: Vec::new(),
            });
        }
        Ok(())
    }

    /// Applies one batch of validated dialogues (see [`DialogueBatches::apply`]) and announces
    /// the ones it inserted or changed within the transaction.
    pub async fn dialogues(
        &mut self,
        rows: &mut [dialogue::Model],
        derived: &[Derived],
        presummed: Option<Vec<sea_orm::Statement>>,
    ) -> Result<(), DbErr> {
        let (tenant_id, batches, position) = self
            .dialogues
            .as_mut()
            .expect("dialogues_of before dialogues");
        // Written on the rows the batch inserts or changes, with their order in the
        // transaction; an unchanged row keeps its own.
        for row in rows.iter_mut() {
            row.change_position = *position;
            row.change_index = self.next_index;
            self.next_index += 1;
        }
        let mut applied = batches.apply(&self.txn, rows, derived, presummed).await?;
        let event = DialoguesCommitted {
            tenant_id: *tenant_id,
            position: *position,
            ids: std::mem::take(&mut applied.changed),
        };
        Announcer::within(&self.txn, &event).await?;
        if let Some(committed) = &mut self.committed {
            committed.ids.extend(event.ids);
        }
        self.total.add(applied);
        Ok(())
    }

    /// Takes the tenant's next change position for a write that changes no dialogue (endpoints),
    /// so that its commit too has a position a later read can wait for.
    pub async fn position_of(&mut self, tenant_id: i32) -> Result<(), DbErr> {
        self.position = Some(position::take(&self.txn, tenant_id).await?);
        Ok(())
    }

    /// Applies one batch of validated endpoints.
    pub async fn endpoints(&mut self, rows: &[entity::endpoint::Model]) -> Result<(), DbErr> {
        let mut applied = batch::apply_endpoints(&self.txn, rows).await?;
        applied.changed.clear();
        self.total.add(applied);
        Ok(())
    }

    /// Commits, then announces to this process's subscribers; what the transaction did.
    pub async fn commit(self, announcer: Option<&Announcer>) -> Result<Applied, DbErr> {
        if let Some((_, batches, _)) = self.dialogues {
            batches.finish(&self.txn).await?;
        }
        self.txn.commit().await?;
        if let (Some(announcer), Some(committed)) = (announcer, self.committed) {
            announcer.committed(self.backend, committed);
        }
        if self.total.inserted + self.total.updated >= ANALYZE_AFTER_ROWS {
            refresh_statistics(&self.db).await;
        }
        let mut total = self.total;
        total.commit_position = self.position;
        Ok(total)
    }

    /// Rolls back explicitly, releasing SQLite's write lock at once.
    pub async fn rollback(self) {
        self.txn.rollback().await.ok();
    }
}

/// Rows one commit must write for the planner's statistics to be refreshed right after it.
pub const ANALYZE_AFTER_ROWS: u64 = 10_000;

/// After a bulk write the planner's row counts are stale until autovacuum gets to them (later,
/// or never where it is off), and a plan made for an almost empty table can turn a 10 ms page
/// into a full scan. So the writer refreshes them itself: `ANALYZE` of the tables a write
/// touches on PostgreSQL, a sampled `ANALYZE` on SQLite. A failure is logged, not raised: the
/// data is committed either way.
pub async fn refresh_statistics(db: &DatabaseConnection) {
    let mut tables = vec!["dialogues", "endpoints"];
    tables.extend(crate::rollups::GRAINS.iter().map(|g| g.table));
    let statements = match db.get_database_backend() {
        DbBackend::Postgres => vec![format!("ANALYZE {}", tables.join(", "))],
        // A sample of each index is enough for SQLite's planner and keeps this fast.
        _ => vec![
            "PRAGMA analysis_limit = 1000".to_string(),
            "ANALYZE".to_string(),
        ],
    };
    let started = std::time::Instant::now();
    let mut done = Ok(());
    for statement in statements {
        done = done.and(db.execute_unprepared(&statement).await.map(|_| ()));
    }
    match done {
        Ok(_) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "refreshed the planner's statistics after a bulk write"
        ),
        Err(error) => tracing::warn!(%error, "could not refresh the planner's statistics"),
    }
}

/// Why a call was refused: one record (its 0-based index in the call and what is wrong with
/// it), too many records, or anything else (an internal failure among them).
#[derive(Debug)]
pub enum Refusal {
    Record { index: usize, error: FieldError },
    TooMany { received: usize },
    Api(ApiError),
}

impl From<DbErr> for Refusal {
    fn from(error: DbErr) -> Self {
        Refusal::Api(error.into())
    }
}

/// Writes one call's records for one tenant, atomically, by the importer's rules.
#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    tenant_id: i32,
    announcer: Announcer,
}

impl Writer {
    pub fn new(db: DatabaseConnection, tenant_id: i32, announcer: Announcer) -> Self {
        Self {
            db,
            tenant_id,
            announcer,
        }
    }

    /// The writer of the tenant `scope` reads.
    pub fn for_scope(scope: &crate::query::TenantScope, announcer: Announcer) -> Self {
        Self::new(scope.connection().clone(), scope.tenant_id(), announcer)
    }

    /// Validates, derives and writes `records` as one batch of dialogues in one transaction,
    /// announced when it commits. Runs to its end even when the caller goes away (a
    /// transaction that commits is also announced; one that fails is rolled back).
    pub async fn ingest_dialogues(&self, records: Vec<Cells>) -> Result<Applied, Refusal> {
        check_size(records.len())?;
        let received = records.len() as u64;
        let writer = self.clone();
        let applied = to_completion(async move { writer.write_dialogues(records).await }).await?;
        applied.record_committed("dialogues", "mutation", received);
        Ok(applied)
    }

    /// Validates and writes `records` as one batch of endpoints in one transaction.
    pub async fn upsert_endpoints(&self, records: Vec<Cells>) -> Result<Applied, Refusal> {
        check_size(records.len())?;
        let received = records.len() as u64;
        let writer = self.clone();
        let applied = to_completion(async move { writer.write_endpoints(records).await }).await?;
        applied.record_committed("endpoints", "mutation", received);
        Ok(applied)
    }

    async fn write_dialogues(self, records: Vec<Cells>) -> Result<Applied, Refusal> {
        let mut write = WriteTransaction::begin(&self.db).await?;
        let mut rows = Vec::new();
        let mut indexes = Vec::new();
        match self
            .validate_and_apply(&mut write, records, &mut indexes, &mut rows)
            .await
        {
            Ok(()) => Ok(write.commit(Some(&self.announcer)).await?),
            Err(failure) => {
                write.rollback().await;
                Err(match failure {
                    Failure::Refused(refusal) => refusal,
                    Failure::Upsert(error) => {
                        self.order_number_refusal(&indexes, &rows, error).await
                    }
                })
            }
        }
    }

    /// Validates the records; `indexes` and `rows` keep the batch to explain a failed upsert.
    async fn validate_and_apply(
        &self,
        write: &mut WriteTransaction,
        records: Vec<Cells>,
        indexes: &mut Vec<usize>,
        rows: &mut Vec<dialogue::Model>,
    ) -> Result<(), Failure> {
        let tenant = crate::tenant::by_id(write.txn(), self.tenant_id)
            .await?
            .ok_or_else(|| tenant_missing(self.tenant_id))?;
        let thresholds = super::thresholds(write.txn(), &tenant).await?;
        let mut batch = Dedup::with_capacity(records.len());
        for (index, cells) in records.into_iter().enumerate() {
            let (row, derived) = record::dialogue_from_cells(cells, self.tenant_id, &thresholds)
                .map_err(|error| Refusal::Record { index, error })?;
            let id = row.id.clone();
            batch.push(&id, (index, row, derived));
        }
        let mut derived = Vec::new();
        for (index, row, derivation) in batch.take() {
            indexes.push(index);
            rows.push(row);
            derived.push(derivation);
        }
        write
            .dialogues_of(self.tenant_id, Batches::Few, true)
            .await?;
        write
            .dialogues(rows, &derived, None)
            .await
            .map_err(Failure::Upsert)
    }

    /// A failed upsert: when an order number collides (with another record of the call, or
    /// with a stored dialogue of another id), the record that carries it; any other failure is
    /// internal.
    async fn order_number_refusal(
        &self,
        indexes: &[usize],
        rows: &[dialogue::Model],
        error: DbErr,
    ) -> Refusal {
        if !error.to_string().contains("order_number") {
            return error.into();
        }
        let found = async {
            let txn = batch::begin_write(&self.db).await?;
            let found = batch::order_number_conflict(&txn, self.tenant_id, rows).await;
            txn.rollback().await.ok();
            found
        }
        .await;
        match found {
            Ok(Some((at, other))) => Refusal::Record {
                index: indexes[at],
                error: FieldError::new(
                    "orderNumber",
                    format!(
                        "{} is already the order number of dialogue `{other}` (order numbers are unique within a tenant)",
                        rows[at].order_number
                    ),
                ),
            },
            Ok(None) => Refusal::Api(ApiError::bad_input(
                "the call's order numbers collide with dialogues stored meanwhile (order numbers are unique within a tenant)",
            )),
            Err(lookup) => {
                tracing::error!(error = %lookup, "looking up an order number conflict failed");
                error.into()
            }
        }
    }

    async fn write_endpoints(self, records: Vec<Cells>) -> Result<Applied, Refusal> {
        let mut rows = Dedup::with_capacity(records.len());
        for (index, cells) in records.into_iter().enumerate() {
            let row = record::endpoint_from_cells(cells, self.tenant_id)
                .map_err(|error| Refusal::Record { index, error })?;
            let id = row.id.clone();
            rows.push(&id, row);
        }
        let mut write = WriteTransaction::begin(&self.db).await?;
        let applied = async {
            write.position_of(self.tenant_id).await?;
            write.endpoints(&rows.take()).await
        }
        .await;
        match applied {
            Ok(()) => Ok(write.commit(None).await?),
            Err(error) => {
                write.rollback().await;
                Err(error.into())
            }
        }
    }
}

enum Failure {
    Refused(Refusal),
    /// The batch's own statements failed (e.g. an order number taken).
    Upsert(DbErr),
}

impl<T: Into<Refusal>> From<T> for Failure {
    fn from(error: T) -> Self {
        Failure::Refused(error.into())
    }
}

fn check_size(received: usize) -> Result<(), Refusal> {
    if received > MAX_RECORDS_PER_CALL {
        return Err(Refusal::TooMany { received });
    }
    Ok(())
}

fn tenant_missing(tenant_id: i32) -> Refusal {
    Refusal::Api(ApiError::internal(format!(
        "tenant {tenant_id} of the request does not exist"
    )))
}

/// Runs a write to its end even when the request is dropped (client gone, request timeout).
async fn to_completion<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T, Refusal>> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::spawn(write)
        .await
        .unwrap_or_else(|e| Err(Refusal::Api(ApiError::internal(e))))
}
