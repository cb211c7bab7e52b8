//! Dialogues in a page, resolved in one pass over their selection.
//!
//! async-graphql resolves every field of every object as a future of its own, through every
//! extension's `resolve` hook: for a page of 100 dialogues with a few fields and their queue and
//! agent, that is about a thousand futures, and it was most of the server's CPU per request
//! (bench/profile.sh). A page's dialogues are plain data once the query core has fetched them,
//! so [`DialogueRow`] answers the plain selections — scalar fields, `__typename`, the endpoint
//! relations with their scalar fields, through fragments — by walking the selection once. The
//! relations still come from the request's endpoint loader (which the page's statement fed), in
//! one call for the whole page.
//! Anything else (a custom directive — the library applies @skip/@include before — a fragment
//! on another type, a field selected twice under one key, `Endpoint.dialogues` below a
//! relation) falls back to the ordinary resolver, which is the reference: both give the same
//! JSON, which tests/rows.rs checks.
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, OutputType, Positioned, ScalarType, ServerResult, Value,
};
use entity::{dialogue, endpoint};

use super::dialogues::Dialogue;
use super::loader::Endpoints;
use super::scalars::{Date, DateTime};
use crate::query::Slot;

/// How many dialogues the one pass has answered since the process started (the rest went to the
/// ordinary resolver): tells tests, and later the metrics, that the fast path is taken.
static ONE_PASS: AtomicU64 = AtomicU64::new(0);

pub fn rows_resolved_in_one_pass() -> u64 {
    ONE_PASS.load(Ordering::Relaxed)
}

/// The endpoints a page's rows show, asked of the request's loader in one call for the whole
/// page (which the page's statement fed, so it answers from its cache); `None` when that failed,
/// and the rows then go to the ordinary resolver, which reports the error at its path.
pub struct PageEndpoints(Option<HashMap<String, endpoint::Model>>);

impl PageEndpoints {
    /// The endpoints of `slots` (the relations the page's selection shows) of the `rows`.
    pub async fn load(ctx: &Context<'_>, rows: &[dialogue::Model], slots: &[Slot]) -> Arc<Self> {
        let mut ids: Vec<String> = rows
            .iter()
            .flat_map(|d| slots.iter().filter_map(|slot| slot.id(d)))
            .cloned()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Arc::new(Self(Some(HashMap::new())));
        }
        let loader = ctx.data_unchecked::<Endpoints>();
        Arc::new(Self(loader.load_many(ids).await.ok()))
    }
}

/// A dialogue of a page, as a list item of type `Dialogue`.
pub struct DialogueRow<'a> {
    pub dialogue: &'a dialogue::Model,
    pub endpoints: Arc<PageEndpoints>,
}

impl OutputType for DialogueRow<'_> {
    fn type_name() -> Cow<'static, str> {
        <Dialogue as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Dialogue as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if let Some(value) = resolve_dialogue(self.dialogue, &self.endpoints, ctx) {
            ONE_PASS.fetch_add(1, Ordering::Relaxed);
            return Ok(value);
        }
        OutputType::resolve(&Dialogue(self.dialogue.clone()), ctx, field).await
    }
}

/// The fields a selection set asks for on `type_name`, in order, through fragments; `None`
/// when anything needs the ordinary resolver.
fn plain_fields<'a>(
    ctx: &ContextSelectionSet<'a>,
    set: &'a SelectionSet,
    type_name: &str,
    out: &mut Vec<&'a Positioned<Field>>,
    depth: usize,
) -> Option<()> {
    if depth > 8 {
        return None;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() || !field.node.arguments.is_empty() {
                    return None;
                }
                let key = field.node.response_key();
                if out.iter().any(|f| f.node.response_key().node == key.node) {
                    return None;
                }
                out.push(field);
            }
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref();
                if !fragment.node.directives.is_empty()
                    || on.is_some_and(|c| c.node.on.node.as_str() != type_name)
                {
                    return None;
                }
                plain_fields(
                    ctx,
                    &fragment.node.selection_set.node,
                    type_name,
                    out,
                    depth + 1,
                )?;
            }
            Selection::FragmentSpread(spread) => {
                if !spread.node.directives.is_empty() {
                    return None;
                }
                let definition = ctx
                    .query_env
                    .fragments
                    .get(&spread.node.fragment_name.node)?;
                if definition.node.type_condition.node.on.node.as_str() != type_name {
                    return None;
                }
                plain_fields(
                    ctx,
                    &definition.node.selection_set.node,
                    type_name,
                    out,
                    depth + 1,
                )?;
            }
        }
    }
    Some(())
}

fn text(value: &Option<String>) -> Value {
    value
        .as_ref()
        .map_or(Value::Null, |s| Value::String(s.clone()))
}

fn number(value: Option<f64>) -> Value {
    value.map_or(Value::Null, |v| ScalarType::to_value(&v))
}

fn instant(value: Option<i64>) -> Value {
    value.map_or(Value::Null, |v| ScalarType::to_value(&DateTime(v)))
}

fn enum_value<T: async_graphql::InputType>(value: &T) -> Value {
    async_graphql::InputType::to_value(value)
}

fn resolve_dialogue(
    d: &dialogue::Model,
    endpoints: &PageEndpoints,
    ctx: &ContextSelectionSet<'_>,
) -> Option<Value> {
    let endpoints = endpoints.0.as_ref()?;
    let mut fields = Vec::new();
    plain_fields(ctx, &ctx.item.node, "Dialogue", &mut fields, 0)?;
    let mut object = IndexMap::with_capacity(fields.len());
    for field in fields {
        let name = field.node.name.node.as_str();
        let value = match name {
            "__typename" => Value::String("Dialogue".into()),
            "id" => Value::String(d.id.clone()),
            "startDate" => ScalarType::to_value(&Date(d.start_date)),
            "startTimestamp" => instant(Some(d.start_timestamp_ms)),
            "queueEnterTimestamp" => instant(d.queue_enter_timestamp_ms),
            "acceptTimestamp" => instant(d.accept_timestamp_ms),
            "endTimestamp" => instant(d.end_timestamp_ms),
            "ivrDurationInSec" => number(d.ivr_duration_in_sec),
            "queueDurationInSec" => number(d.queue_duration_in_sec),
            "initialTalkDurationInSec" => number(d.initial_talk_duration_in_sec),
            "sessionDurationInSec" => number(d.session_duration_in_sec),
            "ivrId" => text(&d.ivr_id),
            "queueId" => text(&d.queue_id),
            "customerId" => text(&d.customer_id),
            "agentId" => text(&d.agent_id),
            "direction" => enum_value(&d.direction),
            "outcome" => enum_value(&d.outcome),
            "inSla" => d.in_sla.map_or(Value::Null, Value::Boolean),
            "quickDrop" => d.quick_drop.map_or(Value::Null, Value::Boolean),
            "orderNumber" => ScalarType::to_value(&d.order_number),
            "ivr" => relation(ctx, endpoints, &d.ivr_id, field)?,
            "queue" => relation(ctx, endpoints, &d.queue_id, field)?,
            "customer" => relation(ctx, endpoints, &d.customer_id, field)?,
            "agent" => relation(ctx, endpoints, &d.agent_id, field)?,
            _ => return None,
        };
        object.insert(field.node.response_key().node.clone(), value);
    }
    Some(Value::Object(object))
}

/// An endpoint relation with plain fields, from what the loader gave for the page.
fn relation(
    ctx: &ContextSelectionSet<'_>,
    endpoints: &HashMap<String, endpoint::Model>,
    id: &Option<String>,
    field: &Positioned<Field>,
) -> Option<Value> {
    let mut fields = Vec::new();
    plain_fields(
        ctx,
        &field.node.selection_set.node,
        "Endpoint",
        &mut fields,
        0,
    )?;
    match id.as_ref().and_then(|id| endpoints.get(id)) {
        Some(e) => endpoint_object(e, &fields),
        None => Some(Value::Null),
    }
}

fn endpoint_object(e: &endpoint::Model, fields: &[&Positioned<Field>]) -> Option<Value> {
    let mut object = IndexMap::with_capacity(fields.len());
    for field in fields {
        let value = match field.node.name.node.as_str() {
            "__typename" => Value::String("Endpoint".into()),
            "id" => Value::String(e.id.clone()),
            "name" => text(&e.name),
            "role" => enum_value(&e.role),
            "slaThresholdInSec" => number(e.sla_threshold_in_sec),
            "quickDropThresholdInSec" => number(e.quick_drop_threshold_in_sec),
            _ => return None,
        };
        object.insert(field.node.response_key().node.clone(), value);
    }
    Some(Value::Object(object))
}
