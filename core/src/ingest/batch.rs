//! Applying one batch of validated records to a tenant inside a transaction: the rules that
//! follow validation (endpoint stubs, stored derivations kept, idempotent upsert, counts of what
//! the batch itself inserted and changed). The file importer ([`super::import_file`]) and the
//! ingest mutations both write through here, so they cannot drift apart.
use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use entity::{dialogue, endpoint};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use super::record::Derived;
use super::writer::{self, EndpointStubs, Touched};
use crate::rollups;

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`, waiting for another writer up to the busy timeout): a deferred transaction that
/// reads first could not upgrade to writing once another connection committed meanwhile.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rows of the batch that were not stored before.
    pub inserted: u64,
    /// Rows of the batch that were stored with other values and now have the batch's.
    pub updated: u64,
    /// Endpoints created as stubs because dialogues named them.
    pub endpoints_created: u64,
    /// The ids of the rows inserted or changed, in the batch's order (unchanged rows are not
    /// here: they are what the announcement of a commit carries).
    pub changed: Vec<String>,
    /// The tenant's change position the commit took (its commit position, which a read after
    /// it waits for on a replica); None before the commit, or for a write that takes none.
    pub commit_position: Option<i64>,
}

impl Applied {
    fn from_touched<T>(rows: &[T], id_of: impl Fn(&T) -> &str, touched: Vec<Touched>) -> Self {
        let position: HashMap<&str, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| (id_of(row), i))
            .collect();
        let mut touched = touched;
        touched.sort_by_key(|t| position.get(t.id.as_str()).copied().unwrap_or(usize::MAX));
        let inserted = touched.iter().filter(|t| t.inserted).count() as u64;
        Self {
            inserted,
            updated: touched.len() as u64 - inserted,
            endpoints_created: 0,
            changed: touched.into_iter().map(|t| t.id).collect(),
            commit_position: None,
        }
    }

    /// Counts a committed write in the process's metrics (`/metrics`): records by kind
    /// (`dialogues`, `endpoints`), source (`mutation`, `import`) and result.
    pub fn record_committed(&self, kind: &'static str, source: &'static str, received: u64) {
        let unchanged = received.saturating_sub(self.inserted + self.updated);
        for (result, n) in [
            ("inserted", self.inserted),
            ("updated", self.updated),
            ("unchanged", unchanged),
        ] {
            metrics::counter!("insights_records_ingested_total", "kind" => kind, "source" => source, "result" => result)
                .increment(n);
        }
    }

    /// Adds a later batch of the same transaction.
    pub fn add(&mut self, other: Applied) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.endpoints_created += other.endpoints_created;
        self.changed.extend(other.changed);
    }
}

/// Collects validated records into a batch, keeping the last occurrence of an id (one
/// statement may not touch a row twice; a later record of the same id wins, as it would if the
/// records were written one after another).
pub struct Dedup<T> {
    rows: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Dedup<T> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            rows: Vec::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, id: &str, row: T) {
        match self.index.get(id) {
            Some(&at) => self.rows[at] = row,
            None => {
                self.index.insert(id.to_string(), self.rows.len());
                self.rows.push(row);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn take(&mut self) -> Vec<T> {
        let capacity = self.rows.capacity();
        self.index.clear();
        std::mem::replace(&mut self.rows, Vec::with_capacity(capacity))
    }
}

/// Writes batches of one tenant's dialogues within one transaction.
pub struct DialogueBatches {
    stubs: EndpointStubs,
    /// The tenant had no dialogues when the transaction began: every stored row then comes from
    /// this same transaction, derived with the same thresholds, so there is no history to keep
    /// (SQLite, whose upsert looks the stored rows up for that; always false on PostgreSQL).
    fresh: bool,
    /// The statements that give inserts and updates back to the triggers, which
    /// [`Self::for_import`] took from them for the whole transaction (SQLite); [`Self::finish`]
    /// runs them.
    triggers_back: Option<Vec<Statement>>,
}

impl DialogueBatches {
    /// For `tenant_id`, looking at what it holds now (within `txn`).
    pub async fn new<C: ConnectionTrait>(txn: &C, tenant_id: i32) -> Result<Self, DbErr> {
        let backend = txn.get_database_backend();
        if backend == DbBackend::Postgres {
            // The upsert keeps stored derivations itself, at no cost for new rows: nothing
            // to spare by knowing the tenant is fresh.
            return Ok(Self {
                stubs: EndpointStubs::new(tenant_id),
                fresh: false,
                triggers_back: None,
            });
        }
        let any = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT 1 AS found FROM dialogues WHERE tenant_id = {} LIMIT 1",
                    crate::db::placeholder(backend, 1)
                ),
                [tenant_id.into()],
            ))
            .await?;
        Ok(Self {
            stubs: EndpointStubs::new(tenant_id),
            fresh: any.is_none(),
            triggers_back: None,
        })
    }

    /// As [`Self::new`], for a transaction of many batches (an import): on SQLite the writer
    /// keeps the pre-aggregates for every insert and update of the transaction, the triggers
    /// set aside until [`Self::finish`] (see [`rollups::writer_takes_over_writes`]).
    pub async fn for_import<C: ConnectionTrait>(txn: &C, tenant_id: i32) -> Result<Self, DbErr> {
        let mut batches = Self::new(txn, tenant_id).await?;
        if let Some((set_aside, back)) =
            rollups::writer_takes_over_writes(txn.get_database_backend())
        {
            for statement in set_aside {
                txn.execute_raw(statement).await?;
            }
            batches.triggers_back = Some(back);
        }
        Ok(batches)
    }

    /// Before the transaction commits: gives inserts and updates back to the triggers.
    pub async fn finish<C: ConnectionTrait>(self, txn: &C) -> Result<(), DbErr> {
        for statement in self.triggers_back.into_iter().flatten() {
            txn.execute_raw(statement).await?;
        }
        Ok(())
    }

    /// Applies one batch of validated dialogues (ids unique within it; `derived[i]` tells which
    /// of `rows[i]`'s `inSla`/`quickDrop` the record left out): creates the endpoints they name
    /// that do not exist yet, keeps stored `inSla`/`quickDrop` where the record left them out and
    /// nothing they derive from changed (docs/api.md), and upserts by id. `presummed`, when given,
    /// is [`presum`] of these rows, taken ahead on another thread (the importer's parser).
    pub async fn apply<C: ConnectionTrait>(
        &mut self,
        txn: &C,
        rows: &mut [dialogue::Model],
        derived: &[Derived],
        presummed: Option<Vec<Statement>>,
    ) -> Result<Applied, DbErr> {
        if rows.is_empty() {
            return Ok(Applied::default());
        }
        let endpoints_created = self.stubs.ensure(txn, rows).await?;
        let backend = txn.get_database_backend();
        let touched = if self.triggers_back.is_some() {
            // The writer keeps the pre-aggregates for changed rows too: it needs every stored
            // version (on a fresh tenant, of rows an earlier batch of this file wrote).
            let stored = writer::stored_versions(txn, rows, |_| true).await?;
            let touched = writer::upsert_dialogues(txn, rows, Some(derived), Some(&stored)).await?;
            add_to_rollups(txn, rows, &touched, Some(&stored), presummed).await?;
            touched
        } else {
            let keep = (!self.fresh).then_some(derived);
            match rollups::writer_adds_inserts(backend) {
                None => writer::upsert_dialogues(txn, rows, keep, None).await?,
                Some((mark, unmark)) => {
                    txn.execute_raw(mark).await?;
                    let written = writer::upsert_dialogues(txn, rows, keep, None).await;
                    txn.execute_raw(unmark).await?;
                    let touched = written?;
                    add_to_rollups(txn, rows, &touched, None, presummed).await?;
                    touched
                }
            }
        };
        let mut applied = Applied::from_touched(rows, |d| &d.id, touched);
        applied.endpoints_created = endpoints_created;
        Ok(applied)
    }
}

/// The upserts that add `rows` to the pre-aggregates where the writer sums them itself
/// (SQLite; see [`rollups::writer_adds_inserts`]), else None.
pub fn presum(backend: DbBackend, rows: &[dialogue::Model]) -> Option<Vec<Statement>> {
    rollups::writer_adds_inserts(backend)?;
    Some(sum_rows(rows.iter()).take_statements())
}

fn sum_rows<'a>(rows: impl Iterator<Item = &'a dialogue::Model>) -> rollups::Deltas {
    let mut deltas = rollups::Deltas::default();
    for d in rows {
        deltas.add(&rollup_row(d));
    }
    deltas
}

/// The columns of a dialogue the pre-aggregates read.
fn rollup_row(d: &dialogue::Model) -> rollups::Dialogue<'_> {
    use sea_orm::ActiveEnum;
    rollups::Dialogue {
        tenant_id: d.tenant_id,
        start_timestamp_ms: d.start_timestamp_ms,
        queue_enter_timestamp_ms: d.queue_enter_timestamp_ms,
        ivr_duration_in_sec: d.ivr_duration_in_sec,
        queue_duration_in_sec: d.queue_duration_in_sec,
        initial_talk_duration_in_sec: d.initial_talk_duration_in_sec,
        session_duration_in_sec: d.session_duration_in_sec,
        ivr_id: d.ivr_id.as_deref(),
        queue_id: d.queue_id.as_deref(),
        agent_id: d.agent_id.as_deref(),
        direction: d.direction.to_value(),
        outcome: d.outcome.to_value(),
        in_sla: d.in_sla,
        quick_drop: d.quick_drop,
    }
}

/// SQLite: brings the pre-aggregates up to date with what the batch wrote, summed by the writer
/// rather than by the row-level triggers: the rows it inserted, and, given `stored` (the
/// versions before the batch, while [`rollups::writer_takes_over_writes`] holds the update
/// trigger), the rows it changed, their stored versions taken out. Without `stored` the update
/// trigger handles changed rows and only inserts are added ([`rollups::writer_adds_inserts`]
/// turned the insert trigger off for the batch). `presummed` adds every row of the batch:
/// right when every row was inserted (no row was stored before, so none had its derivations
/// replaced either), else the batch is summed anew.
async fn add_to_rollups<C: ConnectionTrait>(
    txn: &C,
    rows: &[dialogue::Model],
    touched: &[Touched],
    stored: Option<&HashMap<String, dialogue::Model>>,
    presummed: Option<Vec<Statement>>,
) -> Result<(), DbErr> {
    let all_inserted = touched.len() == rows.len() && touched.iter().all(|t| t.inserted);
    let statements = match presummed {
        Some(statements) if all_inserted => statements,
        _ => {
            let by_id: HashMap<&str, &dialogue::Model> =
                rows.iter().map(|d| (d.id.as_str(), d)).collect();
            let mut deltas = rollups::Deltas::default();
            for t in touched {
                if !t.inserted {
                    let Some(stored) = stored else {
                        continue;
                    };
                    let old = stored.get(&t.id).ok_or_else(|| {
                        DbErr::Custom(format!("dialogue {} changed but was not stored", t.id))
                    })?;
                    deltas.remove(&rollup_row(old));
                }
                let new = by_id.get(t.id.as_str()).ok_or_else(|| {
                    DbErr::Custom(format!("dialogue {} written but not in the batch", t.id))
                })?;
                deltas.add(&rollup_row(new));
            }
            deltas.take_statements()
        }
    };
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

/// Applies one batch of validated endpoints (ids unique within it): upserts by id; an endpoint
/// that a dialogue created as a stub gets its name, role and thresholds.
pub async fn apply_endpoints<C: ConnectionTrait>(
    txn: &C,
    rows: &[endpoint::Model],
) -> Result<Applied, DbErr> {
    if rows.is_empty() {
        return Ok(Applied::default());
    }
    let touched = writer::upsert_endpoints(txn, rows).await?;
    Ok(Applied::from_touched(rows, |e| &e.id, touched))
}

/// After a batch failed on the unique order number: the first row whose order number another
/// row of the batch or a stored dialogue of another id holds, with that other id.
pub async fn order_number_conflict<C: ConnectionTrait>(
    db: &C,
    tenant_id: i32,
    rows: &[dialogue::Model],
) -> Result<Option<(usize, String)>, DbErr> {
    let mut seen: HashMap<i32, &str> = HashMap::new();
    for (at, row) in rows.iter().enumerate() {
        if let Some(other) = seen.insert(row.order_number, &row.id) {
            return Ok(Some((at, other.to_string())));
        }
    }
    let mut first: Option<(usize, String)> = None;
    for (offset, chunk) in rows.chunks(writer::MAX_BATCH_ROWS).enumerate() {
        let stored: HashMap<i32, String> = dialogue::Entity::find()
            .filter(dialogue::Column::TenantId.eq(tenant_id))
            .filter(dialogue::Column::OrderNumber.is_in(chunk.iter().map(|d| d.order_number)))
            .all(db)
            .await?
            .into_iter()
            .map(|d| (d.order_number, d.id))
            .collect();
        for (i, row) in chunk.iter().enumerate() {
            if let Some(other) = stored.get(&row.order_number).filter(|id| **id != row.id) {
                let at = offset * writer::MAX_BATCH_ROWS + i;
                if first.as_ref().is_none_or(|(f, _)| at < *f) {
                    first = Some((at, other.clone()));
                }
            }
        }
    }
    Ok(first)
}
