//! OData JSON Format 4.0: entities written member by member in the vendor's property order.
use std::fmt::Write as _;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use entity::{dialogue, endpoint};
use serde_json::{json, Value};

use super::parser::{DIALOGUE_PROPS, ENDPOINT_PROPS};
use insights_core::query::{DialogueField, Operand, Slot};

use super::handlers::*;

pub(super) fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, JSON)], body).into_response()
}

/// A JSON object written in the order its members are put (the vendor's property order, and
/// `@odata.context` first as OData JSON asks).
pub(super) struct Obj(String);

impl Obj {
    pub(super) fn new() -> Self {
        Obj(String::from("{"))
    }

    pub(super) fn put(&mut self, key: &str, value: &Value) {
        self.put_raw(key, &value.to_string());
    }

    /// A member whose value is JSON text already.
    pub(super) fn put_raw(&mut self, key: &str, json_text: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        let _ = write!(self.0, "{}:{json_text}", json!(key));
    }

    pub(super) fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

pub(super) fn tri(value: Option<bool>) -> Value {
    match value {
        Some(true) => json!("True"),
        Some(false) => json!("False"),
        None => Value::Null,
    }
}

pub(super) fn instant(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| json!(insights_core::time::format_ms(ms)))
}

/// A dialogue's selected properties (vendor names and values, nulls included) and its expanded
/// endpoints (null when the slot is empty), put into `obj`.
pub(super) fn dialogue_members(
    obj: &mut Obj,
    d: &dialogue::Model,
    selected: &[usize],
    expand: &[Slot],
    endpoints: &[endpoint::Model],
) {
    for i in selected {
        let value = match DialogueField::ALL[*i].value(d) {
            Operand::Null => Value::Null,
            Operand::Text(s) => json!(s),
            Operand::Int(n) => json!(n),
            Operand::Float(f) => json!(f),
            Operand::Bool(b) => tri(Some(b)),
            Operand::Date(date) => json!(date.format("%Y-%m-%d").to_string()),
            Operand::Instant(ms) => instant(Some(ms)),
            Operand::Direction(direction) => json!(direction.code()),
            Operand::Outcome(outcome) => json!(outcome.vendor_name()),
            Operand::Role(role) => json!(role.vendor_name()),
        };
        obj.put(DIALOGUE_PROPS[*i].name, &value);
    }
    let all: Vec<usize> = (0..ENDPOINT_PROPS.len()).collect();
    for slot in expand {
        let found = slot
            .id(d)
            .and_then(|id| endpoints.iter().find(|e| &e.id == id));
        match found {
            Some(e) => {
                let mut inner = Obj::new();
                endpoint_members(&mut inner, e, &all);
                obj.put_raw(slot_name(*slot), &inner.finish());
            }
            None => obj.put(slot_name(*slot), &Value::Null),
        }
    }
}

pub(super) fn endpoint_members(obj: &mut Obj, e: &endpoint::Model, selected: &[usize]) {
    for i in selected {
        let value = match ENDPOINT_PROPS[*i].name {
            "id" => json!(e.id),
            "name" => json!(e.name),
            "Role" => json!(e.role.vendor_name()),
            "slaThresholdInSec" => json!(e.sla_threshold_in_sec),
            _ => json!(e.quick_drop_threshold_in_sec),
        };
        obj.put(ENDPOINT_PROPS[*i].name, &value);
    }
}
