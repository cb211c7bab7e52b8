//! The filter language's GraphQL inputs (docs/api.md): typed operator inputs per field, combined
//! with and/or/not. Each becomes the query core's [`Filter`] tree, which alone is translated to
//! SQL (the same tree OData's `$filter` becomes).
use super::enums::{Direction, EndpointRole, Outcome};
use async_graphql::{InputObject, InputType, ID};

use super::scalars::{Date, DateTime};
use insights_core::error::{ApiError, ApiResult};
use insights_core::query::{DialogueField, EndpointField, Filter, Op, Operand};

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

impl IdFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        into.one(&self.eq, Op::Eq);
        into.one(&self.ne, Op::Ne);
        into.many(&self.in_, Op::In);
        into.many(&self.not_in, Op::NotIn);
        into.is_null(self.is_null);
    }
}

impl<T: InputType + ToOperand> RangeFilter<T> {
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

impl BooleanFilter {
    fn atoms<F: Copy>(&self, into: &mut Atoms<F>) {
        if let Some(v) = self.eq {
            into.push(Op::Eq(Operand::Bool(v)));
        }
        into.is_null(self.is_null);
    }
}

impl StringFilter {
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

/// Shared and/or/not handling for both filter kinds.
fn combine<T, F>(
    mut all: Vec<Filter<F>>,
    and: Option<&Vec<T>>,
    or: Option<&Vec<T>>,
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
            .iter()
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
    pub fn tree(&self) -> ApiResult<Filter<DialogueField>> {
        dialogue_tree(self, 0)
    }
}

fn dialogue_tree(f: &DialogueFilter, depth: usize) -> ApiResult<Filter<DialogueField>> {
    use DialogueField as D;
    let mut all = Vec::new();
    let mut add = |atoms: Atoms<D>| all.extend(atoms.list);
    let ids = [
        (&f.id, D::Id),
        (&f.ivr_id, D::IvrId),
        (&f.queue_id, D::QueueId),
        (&f.customer_id, D::CustomerId),
        (&f.agent_id, D::AgentId),
    ];
    for (filter, field) in ids {
        if let Some(filter) = filter {
            let mut atoms = Atoms::new(field);
            filter.atoms(&mut atoms);
            add(atoms);
        }
    }
    if let Some(filter) = &f.start_date {
        let mut atoms = Atoms::new(D::StartDate);
        filter.atoms(&mut atoms);
        add(atoms);
    }
    let instants = [
        (&f.start_timestamp, D::StartTimestamp),
        (&f.queue_enter_timestamp, D::QueueEnterTimestamp),
        (&f.accept_timestamp, D::AcceptTimestamp),
        (&f.end_timestamp, D::EndTimestamp),
    ];
    for (filter, field) in instants {
        if let Some(filter) = filter {
            let mut atoms = Atoms::new(field);
            filter.atoms(&mut atoms);
            add(atoms);
        }
    }
    let durations = [
        (&f.ivr_duration_in_sec, D::IvrDuration),
        (&f.queue_duration_in_sec, D::QueueDuration),
        (&f.initial_talk_duration_in_sec, D::InitialTalkDuration),
        (&f.session_duration_in_sec, D::SessionDuration),
    ];
    for (filter, field) in durations {
        if let Some(filter) = filter {
            let mut atoms = Atoms::new(field);
            filter.atoms(&mut atoms);
            add(atoms);
        }
    }
    if let Some(filter) = &f.order_number {
        let mut atoms = Atoms::new(D::OrderNumber);
        filter.atoms(&mut atoms);
        add(atoms);
    }
    if let Some(filter) = &f.direction {
        let mut atoms = Atoms::new(D::Direction);
        atoms.one(&filter.eq, Op::Eq);
        atoms.many(&filter.in_, Op::In);
        add(atoms);
    }
    if let Some(filter) = &f.outcome {
        let mut atoms = Atoms::new(D::Outcome);
        atoms.one(&filter.eq, Op::Eq);
        atoms.one(&filter.ne, Op::Ne);
        atoms.many(&filter.in_, Op::In);
        atoms.many(&filter.not_in, Op::NotIn);
        add(atoms);
    }
    for (filter, field) in [(&f.in_sla, D::InSla), (&f.quick_drop, D::QuickDrop)] {
        if let Some(filter) = filter {
            let mut atoms = Atoms::new(field);
            filter.atoms(&mut atoms);
            add(atoms);
        }
    }
    combine(
        all,
        f.and.as_ref(),
        f.or.as_ref(),
        f.not.as_deref(),
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
        let mut atoms = Atoms::new(EndpointField::Id);
        filter.atoms(&mut atoms);
        all.extend(atoms.list);
    }
    if let Some(filter) = &f.role {
        let mut atoms = Atoms::new(EndpointField::Role);
        atoms.one(&filter.eq, Op::Eq);
        atoms.many(&filter.in_, Op::In);
        all.extend(atoms.list);
    }
    if let Some(filter) = &f.name {
        let mut atoms = Atoms::new(EndpointField::Name);
        filter.atoms(&mut atoms);
        all.extend(atoms.list);
    }
    combine(
        all,
        f.and.as_ref(),
        f.or.as_ref(),
        f.not.as_deref(),
        depth,
        endpoint_tree,
    )
}
