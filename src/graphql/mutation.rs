//! The write path (API.md §5): `upsertEndpoints` and `ingestDialogues`. A thin adapter: each
//! input becomes the same loosely typed record the file importer reads ([`Cells`]), goes through
//! the importer's validation and derivation ([`record`]) and is written by the importer's batch
//! function ([`batch`]), in one transaction per call, announced to subscribers at commit.
use async_graphql::{Context, ErrorExtensions, InputObject, Object, SimpleObject, ID};
use entity::{dialogue, Direction, EndpointRole, Outcome};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use super::scalars::{Date, DateTime};
use super::{scope, ScopeGuard};
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::ingest::batch::{self, Applied, Dedup, DialogueBatches};
use crate::ingest::record::{
    self, Cell, Cells, DialogueKind, EndpointKind, FieldError, RecordKind,
};
use crate::live::{Announcer, DialoguesCommitted};
use crate::query::TenantScope;
use crate::time::format_ms;

/// Most records one call may carry (API.md §5).
pub const MAX_RECORDS_PER_CALL: usize = 1000;

/// What one ingest call did, counted from its own records.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestSummary {
    /// Records in the call.
    pub received: i32,
    /// Records whose id the tenant did not have yet.
    pub inserted: i32,
    /// Records that changed a stored row.
    pub updated: i32,
    /// Records identical to what was stored (a replayed call is all `unchanged`), including
    /// earlier records of an id that a later record of the same call replaced.
    pub unchanged: i32,
}

impl IngestSummary {
    fn of(received: usize, applied: &Applied) -> Self {
        let received = received as i64;
        let inserted = applied.inserted as i64;
        let updated = applied.updated as i64;
        Self {
            received: received as i32,
            inserted: inserted as i32,
            updated: updated as i32,
            unchanged: (received - inserted - updated).max(0) as i32,
        }
    }
}

/// An endpoint in the vendor's Endpoints shape: created, or updated when its id exists (an
/// endpoint that dialogues created as a stub gets its name and role here).
#[derive(InputObject, Debug, Clone)]
pub struct EndpointInput {
    /// Identifier as given by the source platform (at most 255 bytes).
    pub id: ID,
    /// Display name (at most 1,000 bytes).
    pub name: Option<String>,
    /// IVR, queue, customer or agent.
    pub role: EndpointRole,
    /// Queues only: the SLA threshold in seconds (null: the tenant default applies).
    pub sla_threshold_in_sec: Option<f64>,
    /// Queues only: the quick-drop threshold in seconds (null: the tenant default applies).
    pub quick_drop_threshold_in_sec: Option<f64>,
}

/// A dialogue in the vendor's Dialogues shape. Values left out are derived as the importer
/// derives them (durations from the timestamps, `inSla`/`quickDrop` from the queue's thresholds,
/// else the tenant's defaults); values given are kept as given.
#[derive(InputObject, Debug, Clone)]
pub struct DialogueInput {
    /// Identifier as given by the source platform (at most 255 bytes); the upsert key.
    pub id: ID,
    /// Readable reference number, unique within the tenant.
    pub order_number: i32,
    /// When the dialogue started (any offset; stored in UTC, to the millisecond).
    pub start_timestamp: DateTime,
    /// The start's date (default: the UTC date of `startTimestamp`).
    pub start_date: Option<Date>,
    /// When it entered the queue; absent: it was never queued.
    pub queue_enter_timestamp: Option<DateTime>,
    /// When an agent accepted it; absent: it was never accepted.
    pub accept_timestamp: Option<DateTime>,
    /// When it ended.
    pub end_timestamp: Option<DateTime>,
    /// Seconds in the IVR (derived when absent and the dialogue had an IVR).
    pub ivr_duration_in_sec: Option<f64>,
    /// Seconds in the queue (derived when absent and it was queued).
    pub queue_duration_in_sec: Option<f64>,
    /// Seconds from accept to end (derived when absent and it was accepted).
    pub initial_talk_duration_in_sec: Option<f64>,
    /// Seconds from start to end (derived when absent).
    pub session_duration_in_sec: Option<f64>,
    /// The IVR it passed through (created as an endpoint when unknown).
    pub ivr_id: Option<ID>,
    /// The queue it waited in (created as an endpoint when unknown).
    pub queue_id: Option<ID>,
    /// The customer (created as an endpoint when unknown).
    pub customer_id: Option<ID>,
    /// The agent who accepted it (created as an endpoint when unknown).
    pub agent_id: Option<ID>,
    /// Who initiated it.
    pub direction: Direction,
    /// How it ended.
    pub outcome: Outcome,
    /// ACCEPTED only: answered within the queue's SLA threshold (derived when absent).
    pub in_sla: Option<bool>,
    /// ABANDONED only: abandoned within the quick-drop threshold (derived when absent).
    pub quick_drop: Option<bool>,
}

fn text(value: String) -> Cell {
    Cell::Text(value)
}

fn opt<T>(value: Option<T>, cell: impl FnOnce(T) -> Cell) -> Cell {
    value.map_or(Cell::Null, cell)
}

fn instant(value: DateTime) -> Cell {
    Cell::Text(format_ms(value.0))
}

/// Sets the cell of `name`, one of the kind's vendor field names.
fn set(cells: &mut Cells, name: &str, cell: Cell) {
    let known = cells.set_named(name, cell);
    debug_assert!(known, "`{name}` is a field of its record kind");
}

impl EndpointInput {
    /// The record the importer would read for this endpoint.
    fn into_cells(self) -> Cells {
        let mut cells = Cells::new(EndpointKind::FIELDS);
        set(&mut cells, "id", text(self.id.0));
        set(&mut cells, "name", opt(self.name, text));
        set(&mut cells, "Role", text(self.role.vendor_name().into()));
        set(
            &mut cells,
            "slaThresholdInSec",
            opt(self.sla_threshold_in_sec, Cell::Num),
        );
        set(
            &mut cells,
            "quickDropThresholdInSec",
            opt(self.quick_drop_threshold_in_sec, Cell::Num),
        );
        cells
    }
}

impl DialogueInput {
    /// The record the importer would read for this dialogue.
    fn into_cells(self) -> Cells {
        let mut cells = Cells::new(DialogueKind::FIELDS);
        let id = |v: Option<ID>| opt(v, |v| text(v.0));
        set(&mut cells, "id", text(self.id.0));
        set(
            &mut cells,
            "orderNumber",
            Cell::Num(f64::from(self.order_number)),
        );
        set(&mut cells, "startTimestamp", instant(self.start_timestamp));
        set(
            &mut cells,
            "startDate",
            opt(self.start_date, |d| {
                text(d.0.format("%Y-%m-%d").to_string())
            }),
        );
        set(
            &mut cells,
            "queueEnterTimestamp",
            opt(self.queue_enter_timestamp, instant),
        );
        set(
            &mut cells,
            "acceptTimestamp",
            opt(self.accept_timestamp, instant),
        );
        set(&mut cells, "endTimestamp", opt(self.end_timestamp, instant));
        set(
            &mut cells,
            "ivrDurationInSec",
            opt(self.ivr_duration_in_sec, Cell::Num),
        );
        set(
            &mut cells,
            "queueDurationInSec",
            opt(self.queue_duration_in_sec, Cell::Num),
        );
        set(
            &mut cells,
            "initialTalkDurationInSec",
            opt(self.initial_talk_duration_in_sec, Cell::Num),
        );
        set(
            &mut cells,
            "sessionDurationInSec",
            opt(self.session_duration_in_sec, Cell::Num),
        );
        set(&mut cells, "ivrId", id(self.ivr_id));
        set(&mut cells, "queueId", id(self.queue_id));
        set(&mut cells, "customerId", id(self.customer_id));
        set(&mut cells, "agentId", id(self.agent_id));
        set(
            &mut cells,
            "direction",
            Cell::Num(f64::from(self.direction.code())),
        );
        set(
            &mut cells,
            "Outcome",
            text(self.outcome.vendor_name().into()),
        );
        set(&mut cells, "InSLA", opt(self.in_sla, Cell::Bool));
        set(&mut cells, "QuickDrop", opt(self.quick_drop, Cell::Bool));
        cells
    }
}

/// Why a call was refused: a client error (with the record's index and field when one record
/// is at fault) or a database failure.
enum Refusal {
    Record {
        argument: &'static str,
        index: usize,
        error: FieldError,
    },
    Api(ApiError),
}

impl From<DbErr> for Refusal {
    fn from(error: DbErr) -> Self {
        Refusal::Api(error.into())
    }
}

impl From<Refusal> for async_graphql::Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Api(error) => error.into(),
            Refusal::Record {
                argument,
                index,
                error,
            } => {
                let field = error.field.map(record::graphql_field_name);
                let message = match field {
                    Some(field) => format!("{argument}[{index}].{field}: {}", error.reason),
                    None => format!("{argument}[{index}]: {}", error.reason),
                };
                async_graphql::Error::new(message).extend_with(|_, e| {
                    e.set("code", ErrorCode::BadUserInput.as_str());
                    e.set("index", index as u64);
                    if let Some(field) = field {
                        e.set("field", field);
                    }
                })
            }
        }
    }
}

fn check_size(argument: &str, n: usize) -> Result<(), ApiError> {
    if n > MAX_RECORDS_PER_CALL {
        return Err(ApiError::bad_input(format!(
            "`{argument}` holds {n} records; at most {MAX_RECORDS_PER_CALL} are accepted per call (send the rest in further calls)"
        )));
    }
    Ok(())
}

/// Runs a write to its end even when the request is dropped (client gone, request timeout):
/// a transaction that commits is also announced, and one that fails is rolled back.
async fn to_completion<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T, Refusal>> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::spawn(write)
        .await
        .unwrap_or_else(|e| Err(Refusal::Api(ApiError::internal(e))))
}

fn tenant_missing(tenant_id: i32) -> Refusal {
    Refusal::Api(ApiError::internal(format!(
        "tenant {tenant_id} of the request does not exist"
    )))
}

/// Writes `inputs` as one batch of `scope`'s dialogues, atomically: everything happens in one
/// transaction, which is rolled back explicitly (releasing SQLite's write lock at once) when
/// anything fails, and announced when it commits.
async fn ingest_dialogues(
    scope: TenantScope,
    announcer: Announcer,
    inputs: Vec<DialogueInput>,
) -> Result<Applied, Refusal> {
    let tenant_id = scope.tenant_id();
    let txn = scope.begin_write().await?;
    let backend = txn.get_database_backend();
    let mut written = Written::default();
    match write_dialogues(&txn, tenant_id, inputs, &mut written).await {
        Ok(applied) => {
            txn.commit().await?;
            announcer.committed(
                backend,
                DialoguesCommitted {
                    tenant_id,
                    ids: applied.changed.clone(),
                },
            );
            Ok(applied)
        }
        Err(failure) => {
            txn.rollback().await.ok();
            Err(match failure {
                Failure::Refused(refusal) => refusal,
                Failure::Upsert(error) => {
                    order_number_refusal(&scope, &written.indexes, &written.rows, error).await
                }
            })
        }
    }
}

/// The validated batch, kept to explain a failed upsert.
#[derive(Default)]
struct Written {
    /// Each row's index in the call.
    indexes: Vec<usize>,
    rows: Vec<dialogue::Model>,
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

/// Validates, derives and writes the batch within `txn` and announces it there (the `NOTIFY`
/// that PostgreSQL delivers at commit); `written` keeps the rows for [`order_number_refusal`].
async fn write_dialogues(
    txn: &DatabaseTransaction,
    tenant_id: i32,
    inputs: Vec<DialogueInput>,
    written: &mut Written,
) -> Result<Applied, Failure> {
    let tenant = crate::tenant::by_id(txn, tenant_id)
        .await?
        .ok_or_else(|| tenant_missing(tenant_id))?;
    let thresholds = crate::ingest::thresholds(txn, &tenant).await?;
    let mut rows = Dedup::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let (row, derived) =
            record::dialogue_from_cells(input.into_cells(), tenant_id, &thresholds).map_err(
                |error| Refusal::Record {
                    argument: "dialogues",
                    index,
                    error,
                },
            )?;
        let id = row.id.clone();
        rows.push(&id, (index, row, derived));
    }
    let (indexes, (rows, derived)): (Vec<usize>, (Vec<dialogue::Model>, Vec<_>)) = rows
        .take()
        .into_iter()
        .map(|(index, row, derived)| (index, (row, derived)))
        .unzip();
    *written = Written { indexes, rows };
    let mut batches = DialogueBatches::new(txn, tenant_id).await?;
    let applied = batches
        .apply(txn, &mut written.rows, &derived, None)
        .await
        .map_err(Failure::Upsert)?;
    Announcer::within(
        txn,
        &DialoguesCommitted {
            tenant_id,
            ids: applied.changed.clone(),
        },
    )
    .await?;
    Ok(applied)
}

/// A failed upsert: when an order number collides (with another record of the call, or with a
/// stored dialogue of another id), the record that carries it; any other failure is internal.
async fn order_number_refusal(
    scope: &TenantScope,
    indexes: &[usize],
    rows: &[dialogue::Model],
    error: DbErr,
) -> Refusal {
    let text = error.to_string();
    if !text.contains("order_number") {
        return error.into();
    }
    let found = async {
        let txn = scope.begin_write().await?;
        let found = batch::order_number_conflict(&txn, scope.tenant_id(), rows).await;
        txn.rollback().await.ok();
        found
    }
    .await;
    match found {
        Ok(Some((at, other))) => Refusal::Record {
            argument: "dialogues",
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

/// Writes `inputs` as one batch of `scope`'s endpoints, atomically.
async fn upsert_endpoints(
    scope: TenantScope,
    inputs: Vec<EndpointInput>,
) -> Result<Applied, Refusal> {
    let tenant_id = scope.tenant_id();
    let mut rows = Dedup::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let row = record::endpoint_from_cells(input.into_cells(), tenant_id).map_err(|error| {
            Refusal::Record {
                argument: "endpoints",
                index,
                error,
            }
        })?;
        let id = row.id.clone();
        rows.push(&id, row);
    }
    let txn = scope.begin_write().await?;
    match batch::apply_endpoints(&txn, &rows.take()).await {
        Ok(applied) => {
            txn.commit().await?;
            Ok(applied)
        }
        Err(error) => {
            txn.rollback().await.ok();
            Err(error.into())
        }
    }
}

#[derive(Default)]
pub struct IngestMutation;

/// Writes, with the `ingest` scope.
#[Object]
impl IngestMutation {
    /// Creates or updates endpoints by `id` (at most 1,000 per call), by the importer's rules.
    /// Atomic: one invalid record rejects the call with BAD_USER_INPUT naming its `index` and
    /// `field` in `extensions`, and nothing is written. Needs the `ingest` scope.
    #[graphql(guard = "ScopeGuard(Scope::Ingest)")]
    async fn upsert_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoints, at most 1,000.")] endpoints: Vec<EndpointInput>,
    ) -> async_graphql::Result<IngestSummary> {
        check_size("endpoints", endpoints.len())?;
        let received = endpoints.len();
        let applied = to_completion(upsert_endpoints(scope(ctx).clone(), endpoints)).await?;
        applied.record_committed("endpoints", "mutation", received as u64);
        Ok(IngestSummary::of(received, &applied))
    }

    /// Creates or updates dialogues by `id` (at most 1,000 per call), by the importer's rules:
    /// the same validation, derivation of left-out values, endpoint stubs for unknown ids, and
    /// stored `inSla`/`quickDrop` kept. Atomic: one invalid record rejects the call with
    /// BAD_USER_INPUT naming its `index` (0-based) and `field` in `extensions`, and nothing is
    /// written. The dialogues inserted or changed reach `dialogueIngested` subscribers at commit;
    /// a replay changes nothing and emits nothing. Needs the `ingest` scope.
    #[graphql(guard = "ScopeGuard(Scope::Ingest)")]
    async fn ingest_dialogues(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dialogues, at most 1,000.")] dialogues: Vec<DialogueInput>,
    ) -> async_graphql::Result<IngestSummary> {
        check_size("dialogues", dialogues.len())?;
        let received = dialogues.len();
        let announcer = ctx.data::<Announcer>()?.clone();
        let applied =
            to_completion(ingest_dialogues(scope(ctx).clone(), announcer, dialogues)).await?;
        applied.record_committed("dialogues", "mutation", received as u64);
        Ok(IngestSummary::of(received, &applied))
    }
}
