//! The filter language's GraphQL inputs (docs/api.md): typed operator inputs per field, combined
//! with and/or/not. Each becomes the query core's [`Filter`] tree, which alone is translated to
//! SQL (the same tree OData's `$filter` becomes).
//!
//! `DialogueFilter`'s fields are the query core's catalogue (`query::fields`): its scalar
//! inputs are read by the catalogue's GraphQL names, each with the operator input of the
//! field's kind ([`operator_input`]), and its relation inputs by the names of the core's
//! [`Slot`]s. Only the struct's fields themselves are written here by hand, and the tests below
//! fail when one of them is missing from the catalogue, misnamed, of another operator type, or
//! does not reach the core's filter.
use std::borrow::Cow;

use super::enums::{Direction, EndpointRole, Outcome};
use async_graphql::indexmap::IndexMap;
use async_graphql::{InputObject, InputType, Name, Value, ID};

use super::scalars::{Date, DateTime};
use insights_core::error::{ApiError, ApiResult};
use insights_core::query::{
    DialogueField, EndpointField, Filter, Kind, Op, Operand, Slot, DIALOGUE_FIELDS,
};

/// Deepest and/or/not nesting a filter may have.
pub const MAX_FILTER_DEPTH: usize = 16;

/// Operators on an id. All given operators must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub struct IdFilter {
    /// Equal to this id.
    pub eq: Option<ID>,
    /// Not equal to this id (a missing id counts as not equal).
    pub ne: Option<ID>,
    /// One of these ids.
    #[graphql(name = "in")]
    pub in_: Option<Vec<ID>>,
    /// None of these ids (a missing id counts as none of them).
    pub not_in: Option<Vec<ID>>,
    /// `true`: the id is absent; `false`: it is present.
    pub is_null: Option<bool>,
}

/// Operators on an ordered value. All given operators must hold.
#[derive(InputObject, Clone, Debug, Default)]
#[graphql(
    concrete(name = "DateTimeFilter", params(DateTime)),
    concrete(name = "DateFilter", params(Date)),
    concrete(name = "FloatFilter", params(f64)),
    concrete(name = "IntFilter", params(i32))
)]
pub struct RangeFilter<T: InputType + ToOperand> {
    /// Equal to.
    pub eq: Option<T>,
    /// Not equal to (a missing value counts as not equal).
    pub ne: Option<T>,
    /// Greater than.
    pub gt: Option<T>,
    /// Greater than or equal to.
    pub gte: Option<T>,
    /// Less than.
    pub lt: Option<T>,
    /// Less than or equal to.
    pub lte: Option<T>,
    /// `true`: the value is absent; `false`: it is present.
    pub is_null: Option<bool>,
}

/// Operators on a boolean.
#[derive(InputObject, Clone, Debug, Default)]
pub struct BooleanFilter {
    /// Equal to (a missing value matches neither `true` nor `false`).
    pub eq: Option<bool>,
    /// `true`: the value is absent; `false`: it is present.
    pub is_null: Option<bool>,
}

/// Operators on a dialogue's direction.
#[derive(InputObject, Clone, Debug, Default)]
pub struct DirectionFilter {
    /// Equal to.
    pub eq: Option<Direction>,
    /// One of.
    #[graphql(name = "in")]
    pub in_: Option<Vec<Direction>>,
}

/// Operators on a dialogue's outcome.
#[derive(InputObject, Clone, Debug, Default)]
pub struct OutcomeFilter {
    /// Equal to.
    pub eq: Option<Outcome>,
    /// Not equal to.
    pub ne: Option<Outcome>,
    /// One of.
    #[graphql(name = "in")]
    pub in_: Option<Vec<Outcome>>,
    /// None of.
    pub not_in: Option<Vec<Outcome>>,
}

/// Operators on an endpoint's role.
#[derive(InputObject, Clone, Debug, Default)]
pub struct EndpointRoleFilter {
    /// Equal to.
    pub eq: Option<EndpointRole>,
    /// One of.
    #[graphql(name = "in")]
    pub in_: Option<Vec<EndpointRole>>,
}

/// Operators on a text. `startsWith`, `endsWith` and `contains` ignore case.
#[derive(InputObject, Clone, Debug, Default)]
pub struct StringFilter {
    /// Equal to (exact, case-sensitive).
    pub eq: Option<String>,
    /// Not equal to (a missing value counts as not equal).
    pub ne: Option<String>,
    /// One of (exact).
    #[graphql(name = "in")]
    pub in_: Option<Vec<String>>,
    /// Starts with, ignoring case.
    pub starts_with: Option<String>,
    /// Ends with, ignoring case.
    pub ends_with: Option<String>,
    /// Contains, ignoring case.
    pub contains: Option<String>,
    /// `true`: the value is absent; `false`: it is present.
    pub is_null: Option<bool>,
}

/// Which dialogues to include. Fields combine with AND; `and`, `or` and `not` nest filters.
/// `or: []` matches nothing, `and: []` everything.
// (Not in the schema's description:) each scalar field has its row in the query core's
// catalogue (`query::fields`) under its GraphQL name, which decides how it is read; the
// relations are the core's `Slot`s (see [`DialogueFilter::tree`]).
#[derive(InputObject, Clone, Debug, Default)]
pub struct DialogueFilter {
    /// The dialogue's id.
    pub id: Option<IdFilter>,
    /// The date at which the dialogue was received.
    pub start_date: Option<RangeFilter<Date>>,
    /// When the dialogue was received.
    pub start_timestamp: Option<RangeFilter<DateTime>>,
    /// When the dialogue entered the queue.
    pub queue_enter_timestamp: Option<RangeFilter<DateTime>>,
    /// When an agent accepted the dialogue.
    pub accept_timestamp: Option<RangeFilter<DateTime>>,
    /// When the dialogue ended.
    pub end_timestamp: Option<RangeFilter<DateTime>>,
    /// Seconds in the IVR.
    pub ivr_duration_in_sec: Option<RangeFilter<f64>>,
    /// Seconds in the queue.
    pub queue_duration_in_sec: Option<RangeFilter<f64>>,
    /// Seconds connected with the initial agent.
    pub initial_talk_duration_in_sec: Option<RangeFilter<f64>>,
    /// Seconds from start to end.
    pub session_duration_in_sec: Option<RangeFilter<f64>>,
    /// The IVR endpoint's id.
    pub ivr_id: Option<IdFilter>,
    /// The queue endpoint's id.
    pub queue_id: Option<IdFilter>,
    /// The customer endpoint's id.
    pub customer_id: Option<IdFilter>,
    /// The agent endpoint's id.
    pub agent_id: Option<IdFilter>,
    /// Inbound or outbound.
    pub direction: Option<DirectionFilter>,
    /// Accepted, abandoned or dropped in the IVR.
    pub outcome: Option<OutcomeFilter>,
    /// Accepted within the queue's SLA threshold.
    pub in_sla: Option<BooleanFilter>,
    /// Abandoned within the queue's quick-drop threshold.
    pub quick_drop: Option<BooleanFilter>,
    /// The readable reference number.
    pub order_number: Option<RangeFilter<i32>>,
    /// Dialogues whose IVR (the endpoint of the same tenant that routed them) matches this
    /// filter. A dialogue without an IVR never matches it, and so matches its negation:
    /// `not: { ivr: ... }` is "not routed by a matching IVR", dialogues without an IVR included
    /// (add `ivrId: { isNull: false }` to leave those out).
    pub ivr: Option<EndpointFilter>,
    /// Dialogues whose queue (the endpoint of the same tenant they waited in) matches this
    /// filter. A dialogue without a queue never matches it, and so matches its negation:
    /// `not: { queue: ... }` is "not queued in a matching queue", dialogues without a queue
    /// included (add `queueId: { isNull: false }` to leave those out).
    pub queue: Option<EndpointFilter>,
    /// Dialogues whose customer (an endpoint of the same tenant) matches this filter. A
    /// dialogue without a customer never matches it, and so matches its negation:
    /// `not: { customer: ... }` is "not with a matching customer", dialogues without a
    /// customer included (add `customerId: { isNull: false }` to leave those out).
    pub customer: Option<EndpointFilter>,
    /// Dialogues whose agent (the endpoint of the same tenant that handled them) matches this
    /// filter, e.g. `agent: { name: { contains: "jan" } }`. A dialogue without an agent never
    /// matches it, and so matches its negation: `not: { agent: ... }` is "not handled by a
    /// matching agent", unhandled dialogues included (add `agentId: { isNull: false }` to leave
    /// those out).
    pub agent: Option<EndpointFilter>,
    /// All of these filters.
    pub and: Option<Vec<DialogueFilter>>,
    /// Any of these filters.
    pub or: Option<Vec<DialogueFilter>>,
    /// Not this filter.
    pub not: Option<Box<DialogueFilter>>,
}

/// Which endpoints to include. Fields combine with AND; `and`, `or` and `not` nest filters.
#[derive(InputObject, Clone, Debug, Default)]
pub struct EndpointFilter {
    /// The endpoint's id.
    pub id: Option<IdFilter>,
    /// IVR, queue, customer or agent.
    pub role: Option<EndpointRoleFilter>,
    /// The display name.
    pub name: Option<StringFilter>,
    /// All of these filters.
    pub and: Option<Vec<EndpointFilter>>,
    /// Any of these filters.
    pub or: Option<Vec<EndpointFilter>>,
    /// Not this filter.
    pub not: Option<Box<EndpointFilter>>,
}

/// A GraphQL operand as the query core's literal.
pub trait ToOperand {
    fn operand(&self) -> Operand;
}

impl ToOperand for DateTime {
    fn operand(&self) -> Operand {
        Operand::Instant(self.0)
    }
}
impl ToOperand for Date {
    fn operand(&self) -> Operand {
        Operand::Date(self.0)
    }
}
impl ToOperand for f64 {
    fn operand(&self) -> Operand {
        Operand::Float(*self)
    }
}
impl ToOperand for i32 {
    fn operand(&self) -> Operand {
        Operand::Int(*self as i64)
    }
}
impl ToOperand for ID {
    fn operand(&self) -> Operand {
        Operand::Text(self.to_string())
    }
}
impl ToOperand for String {
    fn operand(&self) -> Operand {
        Operand::Text(self.clone())
    }
}
impl ToOperand for Direction {
    fn operand(&self) -> Operand {
        Operand::Direction((*self).into())
    }
}
impl ToOperand for Outcome {
    fn operand(&self) -> Operand {
        Operand::Outcome((*self).into())
    }
}
impl ToOperand for EndpointRole {
    fn operand(&self) -> Operand {
        Operand::Role((*self).into())
    }
}

/// The comparisons one field's operator input asks for (all must hold).
struct Atoms<F> {
    field: F,
    list: Vec<Filter<F>>,
}

impl<F: Copy> Atoms<F> {
    fn new(field: F) -> Self {
        Self {
            field,
            list: Vec::new(),
        }
    }

    fn push(&mut self, op: Op) {
        self.list.push(Filter::Is(self.field, op));
    }

    fn one<T: ToOperand>(&mut self, value: &Option<T>, op: fn(Operand) -> Op) {
        if let Some(v) = value {
            self.push(op(v.operand()));
        }
    }

    fn many<T: ToOperand>(&mut self, values: &Option<Vec<T>>, op: fn(Vec<Operand>) -> Op) {
        if let Some(list) = values {
            self.push(op(list.iter().map(ToOperand::operand).collect()));
        }
    }

    fn is_null(&mut self, is_null: Option<bool>) {
        if let Some(wanted) = is_null {
            self.push(Op::IsNull(wanted));
        }
    }
}

/// An operator input (`IdFilter`, `DateTimeFilter`, ...): the comparisons it asks for.
trait Operators {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>);
}

impl Operators for IdFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.one(&self.ne, Op::Ne);
        into.many(&self.in_, Op::In);
        into.many(&self.not_in, Op::NotIn);
        into.is_null(self.is_null);
    }
}

impl<T: InputType + ToOperand> Operators for RangeFilter<T> {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.one(&self.gt, Op::Gt);
        into.one(&self.gte, Op::Gte);
        into.one(&self.lt, Op::Lt);
        into.one(&self.lte, Op::Lte);
        into.one(&self.ne, Op::Ne);
        into.is_null(self.is_null);
    }
}

impl Operators for BooleanFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        if let Some(v) = self.eq {
            into.push(Op::Eq(Operand::Bool(v)));
        }
        into.is_null(self.is_null);
    }
}

impl Operators for DirectionFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.many(&self.in_, Op::In);
    }
}

impl Operators for OutcomeFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.one(&self.ne, Op::Ne);
        into.many(&self.in_, Op::In);
        into.many(&self.not_in, Op::NotIn);
    }
}

impl Operators for EndpointRoleFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.many(&self.in_, Op::In);
    }
}

impl Operators for StringFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.one(&self.ne, Op::Ne);
        into.many(&self.in_, Op::In);
        if let Some(v) = &self.starts_with {
            into.push(Op::StartsWith(v.clone()));
        }
        if let Some(v) = &self.ends_with {
            into.push(Op::EndsWith(v.clone()));
        }
        if let Some(v) = &self.contains {
            into.push(Op::Contains(v.clone()));
        }
        into.is_null(self.is_null);
    }
}

/// The atoms of one operator input `T` on `field`.
fn atoms_of<T: Operators, F: Copy>(input: &T, field: F) -> Vec<Filter<F>> {
    let mut atoms = Atoms::new(field);
    input.atoms(&mut atoms);
    atoms.list
}

/// An input value that GraphQL already coerced to `T` once, read as `T` again. It cannot fail
/// (the value is `T`'s own); if it did, that is a fault of this file, not of the request.
fn reparse<T: InputType>(value: &Value) -> ApiResult<T> {
    T::parse(Some(value.clone())).map_err(|e| {
        ApiError::internal(format!(
            "{} does not read back its own value: {}",
            T::type_name(),
            e.into_server_error(Default::default()).message
        ))
    })
}

/// The GraphQL operator input that fields of one kind take.
struct OperatorInput {
    /// The input type's name (the type of the field in `DialogueFilter`; the tests compare).
    #[cfg_attr(not(test), allow(dead_code))]
    type_name: fn() -> Cow<'static, str>,
    /// The atoms the input value asks for on a dialogue field.
    atoms: fn(&Value, DialogueField) -> ApiResult<Vec<Filter<DialogueField>>>,
}

impl OperatorInput {
    fn of<T: InputType + Operators>() -> Self {
        Self {
            type_name: T::type_name,
            atoms: |value, field| Ok(atoms_of(&reparse::<T>(value)?, field)),
        }
    }
}

/// The operator input of a field of `kind`: its `DialogueFilter` field has this type.
fn operator_input(kind: Kind) -> OperatorInput {
    match kind {
        Kind::Id => OperatorInput::of::<IdFilter>(),
        Kind::Name => OperatorInput::of::<StringFilter>(),
        Kind::Int => OperatorInput::of::<RangeFilter<i32>>(),
        Kind::Float => OperatorInput::of::<RangeFilter<f64>>(),
        Kind::Bool => OperatorInput::of::<BooleanFilter>(),
        Kind::Date => OperatorInput::of::<RangeFilter<Date>>(),
        Kind::Instant => OperatorInput::of::<RangeFilter<DateTime>>(),
        Kind::Direction => OperatorInput::of::<DirectionFilter>(),
        Kind::Outcome => OperatorInput::of::<OutcomeFilter>(),
        Kind::Role => OperatorInput::of::<EndpointRoleFilter>(),
    }
}

/// Shared and/or/not handling for both filter kinds.
fn combine<T, F>(
    mut all: Vec<Filter<F>>,
    and: Option<Vec<&T>>,
    or: Option<Vec<&T>>,
    not: Option<&T>,
    depth: usize,
    tree: fn(&T, usize) -> ApiResult<Filter<F>>,
) -> ApiResult<Filter<F>> {
    if depth > MAX_FILTER_DEPTH {
        return Err(ApiError::bad_input(format!(
            "the filter nests and/or/not more than {MAX_FILTER_DEPTH} levels deep"
        )));
    }
    if let Some(list) = and {
        for f in list {
            all.push(tree(f, depth + 1)?);
        }
    }
    if let Some(list) = or {
        let any = list
            .into_iter()
            .map(|f| tree(f, depth + 1))
            .collect::<ApiResult<Vec<_>>>()?;
        all.push(Filter::Any(any));
    }
    if let Some(f) = not {
        all.push(Filter::Not(Box::new(tree(f, depth + 1)?)));
    }
    Ok(Filter::All(all))
}

impl DialogueFilter {
    /// The query core's filter tree this input stands for.
    ///
    /// Read from the input's GraphQL value: each scalar field by its name in the core's
    /// catalogue, as the operator input of its kind; each relation by its slot's name. So a
    /// field declared in the catalogue and in this struct cannot be left out here; a field of
    /// the struct the catalogue does not know is refused (as an internal error, never ignored;
    /// the tests below keep it from being served).
    pub fn tree(&self) -> ApiResult<Filter<DialogueField>> {
        match self.to_value() {
            Value::Object(input) => dialogue_tree(&input, 0),
            other => Err(ApiError::internal(format!(
                "DialogueFilter is not an object: {other}"
            ))),
        }
    }
}

type Input = IndexMap<Name, Value>;

const COMBINATORS: [&str; 3] = ["and", "or", "not"];

/// The input's value of `name`, if given.
fn given<'a>(input: &'a Input, name: &str) -> Option<&'a Value> {
    input.get(name).filter(|v| **v != Value::Null)
}

fn object(value: &Value) -> ApiResult<&Input> {
    match value {
        Value::Object(input) => Ok(input),
        other => Err(ApiError::internal(format!(
            "a DialogueFilter is not an object: {other}"
        ))),
    }
}

fn objects<'a>(input: &'a Input, name: &str) -> ApiResult<Option<Vec<&'a Input>>> {
    match given(input, name) {
        None => Ok(None),
        Some(Value::List(items)) => items.iter().map(object).collect::<ApiResult<_>>().map(Some),
        Some(other) => Err(ApiError::internal(format!(
            "DialogueFilter.{name} is not a list: {other}"
        ))),
    }
}

fn dialogue_tree(input: &Input, depth: usize) -> ApiResult<Filter<DialogueField>> {
    if let Some((name, _)) = input.iter().find(|(name, value)| {
        **value != Value::Null
            && !DIALOGUE_FIELDS.iter().any(|d| d.graphql == name.as_str())
            && !Slot::ALL.iter().any(|s| s.name() == name.as_str())
            && !COMBINATORS.contains(&name.as_str())
    }) {
        return Err(ApiError::internal(format!(
            "DialogueFilter.{name} has no row in the query core's catalogue (query::fields)"
        )));
    }
    let mut all = Vec::new();
    for def in DIALOGUE_FIELDS {
        if let Some(value) = given(input, def.graphql) {
            all.extend((operator_input(def.kind).atoms)(value, def.field)?);
        }
    }
    for slot in Slot::ALL {
        if let Some(value) = given(input, slot.name()) {
            // The endpoint filter's and/or/not count towards the same nesting limit.
            let endpoint = endpoint_tree(&reparse::<EndpointFilter>(value)?, depth)?;
            all.push(Filter::Related(slot.field(), Box::new(endpoint)));
        }
    }
    let not = given(input, "not").map(object).transpose()?;
    combine(
        all,
        objects(input, "and")?,
        objects(input, "or")?,
        not,
        depth,
        dialogue_tree,
    )
}

impl EndpointFilter {
    /// The query core's filter tree this input stands for.
    pub fn tree(&self) -> ApiResult<Filter<EndpointField>> {
        endpoint_tree(self, 0)
    }
}

fn endpoint_tree(f: &EndpointFilter, depth: usize) -> ApiResult<Filter<EndpointField>> {
    let mut all = Vec::new();
    if let Some(filter) = &f.id {
        all.extend(atoms_of(filter, EndpointField::Id));
    }
    if let Some(filter) = &f.role {
        all.extend(atoms_of(filter, EndpointField::Role));
    }
    if let Some(filter) = &f.name {
        all.extend(atoms_of(filter, EndpointField::Name));
    }
    combine(
        all,
        f.and.as_ref().map(|list| list.iter().collect()),
        f.or.as_ref().map(|list| list.iter().collect()),
        f.not.as_deref(),
        depth,
        endpoint_tree,
    )
}

#[cfg(test)]
mod tests {
    //! `DialogueFilter`'s struct fields are the one part of a filter field not derived from the
    //! core's catalogue: these tests fail when one is missing, misnamed, of another operator
    //! type, or silently ignored.
    use super::*;
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    use insights_core::query::filter::Field;

    /// The input fields of `DialogueFilter` as the served schema declares them: (name, type).
    fn served_fields() -> Vec<(String, String)> {
        let document = parse_schema(crate::graphql::sdl()).expect("the served SDL parses");
        document
            .definitions
            .into_iter()
            .find_map(|definition| match definition {
                TypeSystemDefinition::Type(t) if t.node.name.node == "DialogueFilter" => {
                    match t.node.kind {
                        TypeKind::InputObject(input) => Some(
                            input
                                .fields
                                .into_iter()
                                .map(|f| (f.node.name.node.to_string(), f.node.ty.node.to_string()))
                                .collect(),
                        ),
                        _ => None,
                    }
                }
                _ => None,
            })
            .expect("DialogueFilter is served")
    }

    #[test]
    fn every_input_field_has_its_row_in_the_catalogue_and_back() {
        let served = served_fields();
        let mut problems = Vec::new();
        for (name, ty) in &served {
            let wanted: Cow<'static, str> = if COMBINATORS.contains(&name.as_str()) {
                continue;
            } else if let Some(def) = DIALOGUE_FIELDS.iter().find(|d| d.graphql == name) {
                (operator_input(def.kind).type_name)()
            } else if Slot::ALL.iter().any(|s| s.name() == name) {
                EndpointFilter::type_name()
            } else {
                problems.push(format!(
                    "DialogueFilter.{name} has no row in query::fields (it would be ignored)"
                ));
                continue;
            };
            if *ty != wanted {
                problems.push(format!(
                    "DialogueFilter.{name} is a {ty}; its kind takes a {wanted}"
                ));
            }
        }
        let names: Vec<&str> = DIALOGUE_FIELDS
            .iter()
            .map(|d| d.graphql)
            .chain(Slot::ALL.iter().map(|s| s.name()))
            .chain(COMBINATORS)
            .collect();
        for name in names {
            if !served.iter().any(|(n, _)| n == name) {
                problems.push(format!("DialogueFilter has no input field {name}"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// An input value of operator type `ty` (one `eq`), and the operand it compares with.
    fn sample(ty: &str) -> (Value, Operand) {
        let eq = |value: serde_json::Value| {
            Value::from_json(serde_json::json!({ "eq": value })).unwrap()
        };
        match ty {
            "IdFilter" | "StringFilter" => (eq("x1".into()), Operand::Text("x1".into())),
            "DateFilter" => (
                eq("2026-03-02".into()),
                Operand::Date(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
            ),
            "DateTimeFilter" => (
                eq("2026-03-02T10:00:00.250+01:00".into()),
                Operand::Instant(1_772_442_000_250),
            ),
            "FloatFilter" => (eq(2.5.into()), Operand::Float(2.5)),
            "IntFilter" => (eq(7.into()), Operand::Int(7)),
            "BooleanFilter" => (eq(false.into()), Operand::Bool(false)),
            "DirectionFilter" => (
                eq("OUTBOUND".into()),
                Operand::Direction(entity::Direction::Outbound),
            ),
            "OutcomeFilter" => (
                eq("IVR_DROP".into()),
                Operand::Outcome(entity::Outcome::IvrDrop),
            ),
            "EndpointRoleFilter" => (
                eq("AGENT".into()),
                Operand::Role(entity::EndpointRole::Agent),
            ),
            other => panic!("no sample for {other}: add one"),
        }
    }

    #[test]
    fn every_input_field_reaches_the_core_filter() {
        for (name, ty) in served_fields() {
            if COMBINATORS.contains(&name.as_str()) {
                continue;
            }
            let (value, operand, expected_field) = if ty == "EndpointFilter" {
                let (value, operand) = sample("IdFilter");
                let slot = Slot::ALL.into_iter().find(|s| s.name() == name);
                let field = slot.map(|s| s.field());
                let endpoint = Value::Object([(Name::new("id"), value)].into_iter().collect());
                (endpoint, operand, field)
            } else {
                let (value, operand) = sample(&ty);
                let field = DialogueField::ALL.into_iter().find(|f| f.name() == name);
                (value, operand, field)
            };
            let field = expected_field
                .unwrap_or_else(|| panic!("DialogueFilter.{name} is not in the catalogue"));
            let input = Value::Object([(Name::new(&name), value)].into_iter().collect());
            let filter = DialogueFilter::parse(Some(input))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                .tree()
                .unwrap_or_else(|e| panic!("{name}: {}", e.message()));
            let atom = Filter::Is(field, Op::Eq(operand.clone()));
            let expected = if ty == "EndpointFilter" {
                Filter::Related(
                    field,
                    Box::new(Filter::All(vec![Filter::Is(
                        EndpointField::Id,
                        Op::Eq(operand),
                    )])),
                )
            } else {
                atom
            };
            assert_eq!(
                filter,
                Filter::All(vec![expected]),
                "DialogueFilter.{name} does not reach the core's filter as {field:?}"
            );
        }
    }

    #[test]
    fn relations_nest_within_the_same_depth_limit() {
        // `not` 16 levels deep, then an agent filter with one more `not`: 17 levels.
        let mut endpoint = serde_json::json!({ "not": { "name": { "eq": "x" } } });
        endpoint = serde_json::json!({ "agent": endpoint });
        for _ in 0..MAX_FILTER_DEPTH {
            endpoint = serde_json::json!({ "not": endpoint });
        }
        let filter = DialogueFilter::parse(Some(Value::from_json(endpoint).unwrap())).unwrap();
        let error = filter.tree().unwrap_err();
        assert_eq!(
            error.message(),
            format!("the filter nests and/or/not more than {MAX_FILTER_DEPTH} levels deep")
        );
    }
}
