//! The write path's GraphQL door: `upsertEndpoints` and `ingestDialogues`. A thin adapter:
//! each input becomes the same loosely typed record the file importer reads ([`Cells`]), and the
//! core's write service ([`Writer`]) validates, writes, commits and announces it; this door
//! only words a refusal in GraphQL's terms.
use super::enums::{Direction, EndpointRole, Outcome};
use super::GraphqlError;
use std::borrow::Cow;
use std::sync::LazyLock;

use async_graphql::registry::{MetaType, Registry};
use async_graphql::{
    Context, ErrorExtensions, InputObject, InputType, InputValueError, InputValueResult, Object,
    SimpleObject, Value, ID,
};

use super::scalars::{Date, DateTime};
use super::{scope, ScopeGuard};
use insights_core::error::{ApiError, ErrorCode};
use insights_core::ingest::batch::Applied;
use insights_core::ingest::record::{self, Cell, Cells, DialogueKind, EndpointKind, RecordKind};
use insights_core::ingest::write::{Refusal, Writer};
use insights_core::keys::Scope;
use insights_core::live::Announcer;

pub use insights_core::ingest::write::MAX_RECORDS_PER_CALL;

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
    Cell::Instant(value.0)
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
        set(
            &mut cells,
            "Role",
            text(entity::EndpointRole::from(self.role).vendor_name().into()),
        );
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
            opt(self.start_date, |d| Cell::Date(d.0)),
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
            Cell::Num(f64::from(entity::Direction::from(self.direction).code())),
        );
        set(
            &mut cells,
            "Outcome",
            text(entity::Outcome::from(self.outcome).vendor_name().into()),
        );
        set(&mut cells, "InSLA", opt(self.in_sla, Cell::Bool));
        set(&mut cells, "QuickDrop", opt(self.quick_drop, Cell::Bool));
        cells
    }
}

/// A `DialogueInput` as `ingestDialogues` reads it: each field's value is moved out of the input
/// rather than copied. The derived parse looks every field up by a hashed name and clones its
/// value, which for a call of 1,000 records is tens of thousands of look-ups and string copies
/// the call throws away. The schema, the validation before this parse and every error stay
/// `DialogueInput`'s.
#[derive(Debug)]
pub struct DialogueRecord(DialogueInput);

/// `DialogueInput`'s field names as the schema declares them, in the struct's order (which is
/// the order [`DialogueRecord::parse`] builds it in): read once from the type's own
/// registration, so that no second list of them can drift.
static DIALOGUE_INPUT_FIELDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut registry = Registry::default();
    DialogueInput::create_type_info(&mut registry);
    match registry.types.get(&*DialogueInput::type_name()) {
        Some(MetaType::InputObject { input_fields, .. }) => input_fields.keys().cloned().collect(),
        _ => unreachable!("DialogueInput registers itself as an input object"),
    }
});

/// The next field's value, parsed as the derived parse would (absent: `None`).
fn next_field<T: InputType>(
    values: &mut impl Iterator<Item = Option<Value>>,
) -> Result<T, InputValueError<DialogueRecord>> {
    T::parse(values.next().flatten()).map_err(InputValueError::propagate)
}

impl InputType for DialogueRecord {
    type RawValueType = DialogueInput;

    fn type_name() -> Cow<'static, str> {
        DialogueInput::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        DialogueInput::create_type_info(registry)
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let Some(Value::Object(fields)) = value else {
            return Err(InputValueError::expected_type(value.unwrap_or_default()));
        };
        let order = &*DIALOGUE_INPUT_FIELDS;
        let mut slots: Vec<Option<Value>> = Vec::with_capacity(order.len());
        slots.resize_with(order.len(), || None);
        for (name, value) in fields {
            if let Some(at) = order.iter().position(|f| f == name.as_str()) {
                slots[at] = Some(value);
            }
        }
        // A struct expression evaluates its fields in the order written: this one's is the
        // struct's declaration order (a test parses a whole input back to itself).
        let v = &mut slots.into_iter();
        Ok(Self(DialogueInput {
            id: next_field(v)?,
            order_number: next_field(v)?,
            start_timestamp: next_field(v)?,
            start_date: next_field(v)?,
            queue_enter_timestamp: next_field(v)?,
            accept_timestamp: next_field(v)?,
            end_timestamp: next_field(v)?,
            ivr_duration_in_sec: next_field(v)?,
            queue_duration_in_sec: next_field(v)?,
            initial_talk_duration_in_sec: next_field(v)?,
            session_duration_in_sec: next_field(v)?,
            ivr_id: next_field(v)?,
            queue_id: next_field(v)?,
            customer_id: next_field(v)?,
            agent_id: next_field(v)?,
            direction: next_field(v)?,
            outcome: next_field(v)?,
            in_sla: next_field(v)?,
            quick_drop: next_field(v)?,
        }))
    }

    fn to_value(&self) -> Value {
        self.0.to_value()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }
}

/// The GraphQL door's wording of a refused call: the record's place as `argument[index].field`
/// in the message and as `index` and `field` in `extensions`.
fn refusal(argument: &str, refusal: Refusal) -> async_graphql::Error {
    match refusal {
        Refusal::Api(error) => error.graphql(),
        Refusal::TooMany { received } => ApiError::bad_input(format!(
            "`{argument}` holds {received} records; at most {MAX_RECORDS_PER_CALL} are accepted per call (send the rest in further calls)"
        ))
        .graphql(),
        Refusal::Record { index, error } => {
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

fn writer(ctx: &Context<'_>) -> async_graphql::Result<Writer> {
    let announcer = ctx.data::<Announcer>()?.clone();
    Ok(Writer::for_scope(scope(ctx), announcer))
}

/// Records the write's commit position for the response (`commits`).
fn committed(ctx: &Context<'_>, applied: &Applied) {
    if let (Some(position), Some(commits)) = (
        applied.commit_position,
        ctx.data_opt::<super::commits::Commits>(),
    ) {
        commits.record(scope(ctx).tenant_id(), position);
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
        let received = endpoints.len();
        let records = endpoints
            .into_iter()
            .map(EndpointInput::into_cells)
            .collect();
        let applied = writer(ctx)?
            .upsert_endpoints(records)
            .await
            .map_err(|r| refusal("endpoints", r))?;
        committed(ctx, &applied);
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
        #[graphql(desc = "The dialogues, at most 1,000.")] dialogues: Vec<DialogueRecord>,
    ) -> async_graphql::Result<IngestSummary> {
        let received = dialogues.len();
        let records = dialogues.into_iter().map(|d| d.0.into_cells()).collect();
        let applied = writer(ctx)?
            .ingest_dialogues(records)
            .await
            .map_err(|r| refusal("dialogues", r))?;
        committed(ctx, &applied);
        Ok(IngestSummary::of(received, &applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// Every field set, no two of one type alike: a field parsed into another's place shows.
    fn whole_input() -> DialogueInput {
        DialogueInput {
            id: ID("d-1".into()),
            order_number: 7,
            start_timestamp: DateTime(1_000),
            start_date: Some(Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())),
            queue_enter_timestamp: Some(DateTime(2_000)),
            accept_timestamp: Some(DateTime(3_000)),
            end_timestamp: Some(DateTime(4_000)),
            ivr_duration_in_sec: Some(1.5),
            queue_duration_in_sec: Some(2.5),
            initial_talk_duration_in_sec: Some(3.5),
            session_duration_in_sec: Some(4.5),
            ivr_id: Some(ID("ivr".into())),
            queue_id: Some(ID("queue".into())),
            customer_id: Some(ID("customer".into())),
            agent_id: Some(ID("agent".into())),
            direction: Direction::Outbound,
            outcome: Outcome::Abandoned,
            in_sla: Some(false),
            quick_drop: Some(true),
        }
    }

    #[test]
    fn a_dialogue_record_parses_every_field_into_its_own_place() {
        let input = whole_input();
        let parsed = DialogueRecord::parse(Some(input.to_value())).expect("a valid input");
        assert_eq!(format!("{:?}", parsed.0), format!("{input:?}"));
    }

    #[test]
    fn a_dialogue_record_refuses_what_the_derived_parse_refuses() {
        let mut missing = whole_input().to_value();
        if let Value::Object(fields) = &mut missing {
            fields.shift_remove("startTimestamp");
        }
        let ours = DialogueRecord::parse(Some(missing.clone())).err().unwrap();
        let derived = DialogueInput::parse(Some(missing)).err().unwrap();
        assert_eq!(
            ours.into_server_error(Default::default()).message,
            derived.into_server_error(Default::default()).message
        );
    }
}
