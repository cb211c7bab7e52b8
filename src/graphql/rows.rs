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
use std::sync::{Arc, OnceLock};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};
use entity::{dialogue, endpoint};

use super::dialogues::Dialogue;
use super::enums::{Direction, Outcome};
use super::loader::Endpoints;
use super::scalars::{Date, DateTime};
use insights_core::live::position::ChangePosition;
use insights_core::query::filter::Field as _;
use insights_core::query::{DialogueField, Operand, Slot};

/// How many dialogues the one pass has answered since the process started (the rest went to the
/// ordinary resolver): tells tests, and later the metrics, that the fast path is taken.
static ONE_PASS: AtomicU64 = AtomicU64::new(0);

pub fn rows_resolved_in_one_pass() -> u64 {
    ONE_PASS.load(Ordering::Relaxed)
}

/// The endpoints a page's rows show, asked of the request's loader in one call for the whole
/// page (which the page's statement fed, so it answers from its cache); `None` when that failed,
/// and the rows then go to the ordinary resolver, which reports the error at its path.
pub struct PageEndpoints {
    found: Option<HashMap<String, endpoint::Model>>,
    /// What each row of the list answers: the rows of one list share their selection, so it
    /// is worked out once, for the first row (keyed by the selection's address, to be sure).
    plan: OnceLock<(usize, Option<Plan>)>,
}

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
        let found = if ids.is_empty() {
            Some(HashMap::new())
        } else {
            let loader = ctx.data_unchecked::<Endpoints>();
            loader.load_many(ids).await.ok()
        };
        Arc::new(Self {
            found,
            plan: OnceLock::new(),
        })
    }

    fn plan(&self, ctx: &ContextSelectionSet<'_>) -> Option<&Plan> {
        let at = &ctx.item.node as *const SelectionSet as usize;
        let (planned_at, plan) = self.plan.get_or_init(|| (at, Plan::of(ctx)));
        if *planned_at != at {
            return None;
        }
        plan.as_ref()
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
        let answer = match (self.endpoints.plan(ctx), &self.endpoints.found) {
            (Some(plan), Some(found)) => Some(plan.dialogue(self.dialogue, found)),
            _ => None,
        };
        if let Some(value) = answer {
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

/// A field of `Dialogue` the one pass answers.
enum DialogueColumn {
    Typename,
    ChangePosition,
    Field(DialogueField),
    /// An endpoint relation with the fields of the endpoint it shows.
    Endpoint(Slot, Vec<(Name, EndpointColumn)>),
}

/// A field of `Endpoint` the one pass answers.
enum EndpointColumn {
    Typename,
    Id,
    Name,
    Role,
    SlaThreshold,
    QuickDropThreshold,
}

/// The response keys of a list's rows and what each holds.
struct Plan(Vec<(Name, DialogueColumn)>);

impl Plan {
    /// The plan of the selection `ctx` stands for, or `None` if it needs the ordinary resolver.
    fn of(ctx: &ContextSelectionSet<'_>) -> Option<Plan> {
        use DialogueColumn as C;
        let mut fields = Vec::new();
        plain_fields(ctx, &ctx.item.node, "Dialogue", &mut fields, 0)?;
        let mut plan = Vec::with_capacity(fields.len());
        for field in fields {
            let name = field.node.name.node.as_str();
            let column = if name == "__typename" {
                C::Typename
            } else if name == "changePosition" {
                C::ChangePosition
            } else if let Some(slot) = Slot::ALL.into_iter().find(|s| s.name() == name) {
                C::Endpoint(slot, endpoint_plan(ctx, field)?)
            } else {
                C::Field(DialogueField::ALL.into_iter().find(|f| f.name() == name)?)
            };
            plan.push((field.node.response_key().node.clone(), column));
        }
        Some(Plan(plan))
    }

    fn dialogue(&self, d: &dialogue::Model, endpoints: &HashMap<String, endpoint::Model>) -> Value {
        let mut object = IndexMap::with_capacity(self.0.len());
        for (key, column) in &self.0 {
            let value = match column {
                DialogueColumn::Typename => Value::String("Dialogue".into()),
                DialogueColumn::ChangePosition => Value::String(ChangePosition::of(d).encode()),
                DialogueColumn::Field(field) => field_value(d, *field),
                DialogueColumn::Endpoint(slot, fields) => {
                    match slot.id(d).and_then(|id| endpoints.get(id)) {
                        Some(e) => endpoint_object(e, fields),
                        None => Value::Null,
                    }
                }
            };
            object.insert(key.clone(), value);
        }
        Value::Object(object)
    }
}

/// A scalar field of a dialogue as GraphQL writes it (the value the core's catalogue reads).
fn field_value(d: &dialogue::Model, field: DialogueField) -> Value {
    match field.value(d) {
        Operand::Null => Value::Null,
        Operand::Text(s) => Value::String(s),
        Operand::Int(i) => Value::from(i),
        Operand::Float(f) => number(Some(f)),
        Operand::Bool(b) => Value::Boolean(b),
        Operand::Date(date) => ScalarType::to_value(&Date(date)),
        Operand::Instant(ms) => instant(Some(ms)),
        Operand::Direction(direction) => enum_value(&Direction::from(direction)),
        Operand::Outcome(outcome) => enum_value(&Outcome::from(outcome)),
        Operand::Role(role) => enum_value(&super::enums::EndpointRole::from(role)),
    }
}

/// The plan of an endpoint relation's selection.
fn endpoint_plan(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
) -> Option<Vec<(Name, EndpointColumn)>> {
    use EndpointColumn as C;
    let mut fields = Vec::new();
    plain_fields(
        ctx,
        &field.node.selection_set.node,
        "Endpoint",
        &mut fields,
        0,
    )?;
    fields
        .into_iter()
        .map(|field| {
            let column = match field.node.name.node.as_str() {
                "__typename" => C::Typename,
                "id" => C::Id,
                "name" => C::Name,
                "role" => C::Role,
                "slaThresholdInSec" => C::SlaThreshold,
                "quickDropThresholdInSec" => C::QuickDropThreshold,
                _ => return None,
            };
            Some((field.node.response_key().node.clone(), column))
        })
        .collect()
}

fn endpoint_object(e: &endpoint::Model, fields: &[(Name, EndpointColumn)]) -> Value {
    use EndpointColumn as C;
    let mut object = IndexMap::with_capacity(fields.len());
    for (key, column) in fields {
        let value = match column {
            C::Typename => Value::String("Endpoint".into()),
            C::Id => Value::String(e.id.clone()),
            C::Name => text(&e.name),
            C::Role => enum_value(&super::enums::EndpointRole::from(e.role)),
            C::SlaThreshold => number(e.sla_threshold_in_sec),
            C::QuickDropThreshold => number(e.quick_drop_threshold_in_sec),
        };
        object.insert(key.clone(), value);
    }
    Value::Object(object)
}
