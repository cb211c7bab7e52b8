//! One vendor-shaped record: its loosely typed cells, and the validation and derivation rules
//! (docs/api.md) that turn it into a row. The file importer and the ingest mutations both turn
//! their records into [`Cells`] and through these rules, so they validate and derive alike.
use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use entity::{dialogue, endpoint, Direction, EndpointRole, Outcome};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::time::{parse_rfc3339_ms, seconds_between, utc_date};

/// A scalar as it arrived: JSON gives types, CSV gives text (an empty cell is null). A front
/// door whose own types already read an instant or a date (GraphQL's `DateTime` and `Date`)
/// hands it over as read, rather than as text to be read again.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Num(f64),
    Text(String),
    /// Milliseconds since the Unix epoch.
    Instant(i64),
    Date(NaiveDate),
}

impl Cell {
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// Why one record is invalid: one of its fields, or the record as a whole (it could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The vendor's field name (`startTimestamp`, `Outcome`, ...); `None` when the record
    /// itself could not be read (bad JSON, a CSV row of the wrong width).
    pub field: Option<&'static str>,
    /// Where in the record's line reading failed (1-based), when the parser says.
    pub column: Option<u64>,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            column: None,
            reason: reason.into(),
        }
    }

    /// The record could not be read at all (`column`: where, when known).
    pub fn unreadable(column: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            field: None,
            column,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// The name a vendor field has in the GraphQL inputs (`Outcome` → `outcome`, `InSLA` →
/// `inSla`, ...): the mutations name the field their caller wrote.
pub fn graphql_field_name(vendor: &'static str) -> &'static str {
    match vendor {
        "Outcome" => "outcome",
        "InSLA" => "inSla",
        "QuickDrop" => "quickDrop",
        "Role" => "role",
        other => other,
    }
}

/// Longest endpoint name stored (a name is indexed; PostgreSQL's index rows hold ~2.7 kB).
pub const MAX_NAME_BYTES: usize = 1000;

/// The vendor's field names of one record kind, in a fixed order that indexes [`Cells`].
pub trait RecordKind {
    const FIELDS: &'static [&'static str];
}

pub struct DialogueKind;
pub struct EndpointKind;

impl RecordKind for DialogueKind {
    const FIELDS: &'static [&'static str] = &[
        "id",
        "startDate",
        "startTimestamp",
        "queueEnterTimestamp",
        "acceptTimestamp",
        "endTimestamp",
        "ivrDurationInSec",
        "queueDurationInSec",
        "initialTalkDurationInSec",
        "sessionDurationInSec",
        "ivrId",
        "queueId",
        "customerId",
        "agentId",
        "direction",
        "Outcome",
        "InSLA",
        "QuickDrop",
        "orderNumber",
    ];
}

impl RecordKind for EndpointKind {
    const FIELDS: &'static [&'static str] = &[
        "id",
        "name",
        "Role",
        "slaThresholdInSec",
        "quickDropThresholdInSec",
    ];
}

/// Position of a field name (case-insensitive) among `fields`.
pub fn field_index(fields: &[&str], name: &str) -> Option<usize> {
    // Most names come spelled as declared (always from the GraphQL door): an exact match first
    // costs a length check a field, where a case-insensitive one folds every byte.
    if let Some(index) = fields.iter().position(|f| *f == name) {
        return Some(index);
    }
    let name = name.trim();
    fields.iter().position(|f| f.eq_ignore_ascii_case(name))
}

/// The cells of one record, indexed like its kind's `FIELDS`; unknown fields are ignored.
#[derive(Debug, Clone)]
pub struct Cells {
    fields: &'static [&'static str],
    values: Vec<Cell>,
}

impl Cells {
    pub fn new(fields: &'static [&'static str]) -> Self {
        Self {
            fields,
            values: vec![Cell::Null; fields.len()],
        }
    }

    pub fn set(&mut self, index: usize, cell: Cell) {
        self.values[index] = cell;
    }

    /// Sets a field by name (case-insensitive); returns false for a name the kind does not have.
    pub fn set_named(&mut self, name: &str, cell: Cell) -> bool {
        match field_index(self.fields, name) {
            Some(index) => {
                self.values[index] = cell;
                true
            }
            None => false,
        }
    }

    fn take(&mut self, index: usize) -> (&'static str, Cell) {
        (
            self.fields[index],
            std::mem::replace(&mut self.values[index], Cell::Null),
        )
    }
}

/// Deserializes one JSON object into [`Cells`] without building a generic JSON tree.
pub struct CellsSeed(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for CellsSeed {
    type Value = Cells;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cells, D::Error> {
        deserializer.deserialize_map(CellsVisitor(self.0))
    }
}

struct CellsVisitor(&'static [&'static str]);

impl<'de> Visitor<'de> for CellsVisitor {
    type Value = Cells;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cells, A::Error> {
        let mut cells = Cells::new(self.0);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match field_index(self.0, &key) {
                Some(index) => cells.set(index, map.next_value::<Cell>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(cells)
    }
}

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cell, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_unit<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Cell, E> {
                Ok(Cell::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell, E> {
                Ok(Cell::Text(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Cell, A::Error> {
                Err(de::Error::custom(
                    "a field value must be a scalar, not an array",
                ))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Cell, A::Error> {
                Err(de::Error::custom(
                    "a field value must be a scalar, not an object",
                ))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

// ---- typed readers of one cell -------------------------------------------------------------

fn text(field: &'static str, cell: Cell) -> Result<Option<String>, FieldError> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => Ok(Some(s)),
        // Ids are opaque strings, but some exports write numeric ids as numbers.
        Cell::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Ok(Some(format!("{}", n as i64))),
        other => Err(FieldError::new(
            field,
            format!("expected a string, got {}", describe(&other)),
        )),
    }
}

fn required_text(field: &'static str, cell: Cell) -> Result<String, FieldError> {
    text(field, cell)?.ok_or_else(|| FieldError::new(field, "is required"))
}

fn identifier(field: &'static str, cell: Cell) -> Result<Option<String>, FieldError> {
    let value = text(field, cell)?;
    if let Some(v) = &value {
        if v.len() > 255 {
            return Err(FieldError::new(field, "is longer than 255 bytes"));
        }
        if v.contains('\0') {
            return Err(FieldError::new(field, "contains a NUL character"));
        }
    }
    Ok(value)
}

fn timestamp(field: &'static str, cell: Cell) -> Result<Option<i64>, FieldError> {
    if let Cell::Instant(ms) = cell {
        return Ok(Some(ms));
    }
    match text(field, cell)? {
        None => Ok(None),
        Some(s) => parse_rfc3339_ms(&s).map(Some).ok_or_else(|| {
            FieldError::new(
                field,
                format!("`{s}` is not an RFC 3339 timestamp with an offset (e.g. 2026-03-26T09:55:53.376Z)"),
            )
        }),
    }
}

fn date(field: &'static str, cell: Cell) -> Result<Option<NaiveDate>, FieldError> {
    if let Cell::Date(day) = cell {
        return Ok(Some(day));
    }
    match text(field, cell)? {
        None => Ok(None),
        Some(s) => {
            // OData exports sometimes write a date as midnight of that date.
            let day = s.trim().get(..10).unwrap_or(s.trim());
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| FieldError::new(field, format!("`{s}` is not a date (YYYY-MM-DD)")))
        }
    }
}

fn number(field: &'static str, cell: Cell) -> Result<Option<f64>, FieldError> {
    let value = match cell {
        Cell::Null => return Ok(None),
        Cell::Num(n) => n,
        Cell::Text(s) if s.trim().is_empty() => return Ok(None),
        Cell::Text(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| FieldError::new(field, format!("`{s}` is not a number")))?,
        other => {
            return Err(FieldError::new(
                field,
                format!("expected a number, got {}", describe(&other)),
            ))
        }
    };
    if !value.is_finite() {
        return Err(FieldError::new(field, "must be a finite number"));
    }
    Ok(Some(value))
}

fn duration(field: &'static str, cell: Cell) -> Result<Option<f64>, FieldError> {
    match number(field, cell)? {
        Some(v) if v < 0.0 => Err(FieldError::new(field, format!("{v} is negative"))),
        other => Ok(other),
    }
}

fn boolean(field: &'static str, cell: Cell) -> Result<Option<bool>, FieldError> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Bool(b) => Ok(Some(b)),
        Cell::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "null" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(FieldError::new(
                field,
                format!("`{s}` is not True, False or null"),
            )),
        },
        other => Err(FieldError::new(
            field,
            format!("expected True/False, got {}", describe(&other)),
        )),
    }
}

fn describe(cell: &Cell) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Bool(b) => format!("the boolean {b}"),
        Cell::Num(n) => format!("the number {n}"),
        Cell::Text(s) => format!("`{s}`"),
        Cell::Instant(ms) => format!("the instant {}", crate::time::format_ms(*ms)),
        Cell::Date(day) => format!("the date {day}"),
    }
}

// ---- thresholds and derivation -----------------------------------------------------------------

/// The thresholds that decide `inSla` and `quickDrop`: per queue, else the tenant default.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    pub default_sla_sec: f64,
    pub default_quick_drop_sec: f64,
    /// Queue id → (slaThresholdInSec, quickDropThresholdInSec) as configured on the queue.
    pub queues: HashMap<String, (Option<f64>, Option<f64>)>,
}

impl Thresholds {
    pub fn sla_for(&self, queue_id: Option<&str>) -> f64 {
        queue_id
            .and_then(|q| self.queues.get(q))
            .and_then(|(sla, _)| *sla)
            .unwrap_or(self.default_sla_sec)
    }

    pub fn quick_drop_for(&self, queue_id: Option<&str>) -> f64 {
        queue_id
            .and_then(|q| self.queues.get(q))
            .and_then(|(_, quick)| *quick)
            .unwrap_or(self.default_quick_drop_sec)
    }
}

/// Which threshold-dependent values of a dialogue the record left out, so that they were derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Derived {
    pub in_sla: bool,
    pub quick_drop: bool,
}

/// Validates one dialogue record and fills in what it leaves out (docs/api.md derivation rules),
/// telling which of `inSla`/`quickDrop` were derived. Values the record gives are kept as given:
/// they are the platform's history.
pub fn dialogue_from_cells(
    mut cells: Cells,
    tenant_id: i32,
    thresholds: &Thresholds,
) -> Result<(dialogue::Model, Derived), FieldError> {
    macro_rules! take {
        ($index:expr, $reader:ident) => {{
            let (field, cell) = cells.take($index);
            $reader(field, cell)?
        }};
    }
    let id = take!(0, identifier).ok_or_else(|| FieldError::new("id", "is required"))?;
    let start_date = take!(1, date);
    let start =
        take!(2, timestamp).ok_or_else(|| FieldError::new("startTimestamp", "is required"))?;
    let queue_enter = take!(3, timestamp);
    let accept = take!(4, timestamp);
    let end = take!(5, timestamp);
    let ivr_duration = take!(6, duration);
    let queue_duration = take!(7, duration);
    let talk_duration = take!(8, duration);
    let session_duration = take!(9, duration);
    let ivr_id = take!(10, identifier);
    let queue_id = take!(11, identifier);
    let customer_id = take!(12, identifier);
    let agent_id = take!(13, identifier);
    let direction = {
        let (field, cell) = cells.take(14);
        match cell {
            Cell::Num(n) if n.fract() == 0.0 => Direction::from_code(n as i64),
            Cell::Null => {
                return Err(FieldError::new(
                    field,
                    "is required (1 = Inbound, 2 = Outbound)",
                ))
            }
            other => Direction::parse(&required_text(field, other.clone())?),
        }
        .ok_or_else(|| FieldError::new("direction", "must be 1 (Inbound) or 2 (Outbound)"))?
    };
    let outcome = {
        let (field, cell) = cells.take(15);
        let raw = text(field, cell)?.ok_or_else(|| {
            FieldError::new(field, "is required (Accepted, Abandoned or IvrDrop)")
        })?;
        Outcome::parse(&raw).ok_or_else(|| {
            FieldError::new(
                field,
                format!("`{raw}` is not one of Accepted, Abandoned, IvrDrop"),
            )
        })?
    };
    let in_sla = take!(16, boolean);
    let quick_drop = take!(17, boolean);
    let order_number = {
        let (field, cell) = cells.take(18);
        let n = number(field, cell)?.ok_or_else(|| FieldError::new(field, "is required"))?;
        if n.fract() != 0.0 || n < i32::MIN as f64 || n > i32::MAX as f64 {
            return Err(FieldError::new(
                field,
                format!("{n} is not a 32-bit integer"),
            ));
        }
        n as i32
    };

    // Instants must follow the dialogue's life: start ≤ queue enter ≤ accept ≤ end.
    let ordered = [
        (
            "queueEnterTimestamp",
            queue_enter,
            "startTimestamp",
            Some(start),
        ),
        ("acceptTimestamp", accept, "startTimestamp", Some(start)),
        (
            "acceptTimestamp",
            accept,
            "queueEnterTimestamp",
            queue_enter,
        ),
        ("endTimestamp", end, "startTimestamp", Some(start)),
        ("endTimestamp", end, "queueEnterTimestamp", queue_enter),
        ("endTimestamp", end, "acceptTimestamp", accept),
    ];
    for (later_name, later, earlier_name, earlier) in ordered {
        if let (Some(l), Some(e)) = (later, earlier) {
            if l < e {
                return Err(FieldError::new(
                    later_name,
                    format!("is before {earlier_name}"),
                ));
            }
        }
    }
    if in_sla.is_some() && outcome != Outcome::Accepted {
        return Err(FieldError::new(
            "InSLA",
            "must be null unless Outcome is Accepted",
        ));
    }
    if quick_drop.is_some() && outcome != Outcome::Abandoned {
        return Err(FieldError::new(
            "QuickDrop",
            "must be null unless Outcome is Abandoned",
        ));
    }

    let start_date = match start_date {
        Some(d) => d,
        None => {
            utc_date(start).ok_or_else(|| FieldError::new("startTimestamp", "is out of range"))?
        }
    };
    let mut model = dialogue::Model {
        tenant_id,
        id,
        order_number,
        start_date,
        start_timestamp_ms: start,
        queue_enter_timestamp_ms: queue_enter,
        accept_timestamp_ms: accept,
        end_timestamp_ms: end,
        ivr_duration_in_sec: ivr_duration,
        queue_duration_in_sec: queue_duration,
        initial_talk_duration_in_sec: talk_duration,
        session_duration_in_sec: session_duration,
        ivr_id,
        queue_id,
        customer_id,
        agent_id,
        direction,
        outcome,
        in_sla,
        quick_drop,
        // The write service sets the position of the commit that writes it.
        change_position: 0,
        change_index: 0,
    };
    let derived = Derived {
        in_sla: in_sla.is_none() && outcome == Outcome::Accepted,
        quick_drop: quick_drop.is_none() && outcome == Outcome::Abandoned,
    };
    derive_missing(&mut model, thresholds);
    Ok((model, derived))
}

/// Fills in the values a dialogue leaves out, by docs/api.md rules. Given values stay.
pub fn derive_missing(d: &mut dialogue::Model, thresholds: &Thresholds) {
    let start = d.start_timestamp_ms;
    let (queue_enter, accept, end) = (
        d.queue_enter_timestamp_ms,
        d.accept_timestamp_ms,
        d.end_timestamp_ms,
    );
    if d.ivr_duration_in_sec.is_none() && d.ivr_id.is_some() {
        d.ivr_duration_in_sec = queue_enter
            .or(end)
            .map(|until| seconds_between(start, until));
    }
    if d.queue_duration_in_sec.is_none() {
        if let Some(entered) = queue_enter {
            d.queue_duration_in_sec = accept.or(end).map(|until| seconds_between(entered, until));
        }
    }
    if d.session_duration_in_sec.is_none() {
        d.session_duration_in_sec = end.map(|e| seconds_between(start, e));
    }
    if d.initial_talk_duration_in_sec.is_none() && d.outcome == Outcome::Accepted {
        if let (Some(a), Some(e)) = (accept, end) {
            d.initial_talk_duration_in_sec = Some(seconds_between(a, e));
        }
    }
    let queue = d.queue_id.as_deref();
    match d.outcome {
        Outcome::Accepted => {
            if d.in_sla.is_none() {
                d.in_sla = d
                    .queue_duration_in_sec
                    .map(|q| q <= thresholds.sla_for(queue));
            }
            d.quick_drop = None;
        }
        Outcome::Abandoned => {
            if d.quick_drop.is_none() {
                d.quick_drop = d
                    .queue_duration_in_sec
                    .map(|q| q <= thresholds.quick_drop_for(queue));
            }
            d.in_sla = None;
        }
        Outcome::IvrDrop => {
            d.in_sla = None;
            d.quick_drop = None;
        }
    }
}

/// Validates one endpoint record.
pub fn endpoint_from_cells(
    mut cells: Cells,
    tenant_id: i32,
) -> Result<endpoint::Model, FieldError> {
    let (field, cell) = cells.take(0);
    let id = identifier(field, cell)?.ok_or_else(|| FieldError::new("id", "is required"))?;
    let (field, cell) = cells.take(1);
    let name = text(field, cell)?;
    if name.as_deref().is_some_and(|n| n.contains('\0')) {
        return Err(FieldError::new("name", "contains a NUL character"));
    }
    if name.as_deref().is_some_and(|n| n.len() > MAX_NAME_BYTES) {
        return Err(FieldError::new(
            "name",
            format!("is longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    let (field, cell) = cells.take(2);
    let raw_role = text(field, cell)?
        .ok_or_else(|| FieldError::new("Role", "is required (Ivr, Queue, Customer or Agent)"))?;
    let role = EndpointRole::parse(&raw_role).ok_or_else(|| {
        FieldError::new(
            "Role",
            format!("`{raw_role}` is not one of Ivr, Queue, Customer, Agent"),
        )
    })?;
    let (field, cell) = cells.take(3);
    let sla = duration(field, cell)?;
    let (field, cell) = cells.take(4);
    let quick = duration(field, cell)?;
    if role != EndpointRole::Queue && (sla.is_some() || quick.is_some()) {
        return Err(FieldError::new(
            if sla.is_some() {
                "slaThresholdInSec"
            } else {
                "quickDropThresholdInSec"
            },
            "only queues have thresholds",
        ));
    }
    Ok(endpoint::Model {
        tenant_id,
        id,
        name,
        role,
        sla_threshold_in_sec: sla,
        quick_drop_threshold_in_sec: quick,
    })
}

/// The endpoints a dialogue names, each with the role its slot implies.
pub fn endpoint_refs(d: &dialogue::Model) -> impl Iterator<Item = (&str, EndpointRole)> {
    [
        (d.ivr_id.as_deref(), EndpointRole::Ivr),
        (d.queue_id.as_deref(), EndpointRole::Queue),
        (d.customer_id.as_deref(), EndpointRole::Customer),
        (d.agent_id.as_deref(), EndpointRole::Agent),
    ]
    .into_iter()
    .filter_map(|(id, role)| id.map(|id| (id, role)))
}
