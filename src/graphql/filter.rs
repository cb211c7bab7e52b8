//! The filter language (API.md §3): typed operator inputs per field, combined with and/or/not,
//! translated to one SQL condition. Nothing is ever filtered in Rust after fetching.
//!
//! Every atom is two-valued (true or false, never SQL NULL), so `not` is the exact complement
//! of what it wraps; `ne` and `notIn` therefore match rows where the field is null, as OData's
//! `ne` does.
use async_graphql::{InputObject, InputType, ID};
use entity::{dialogue, endpoint, Direction, EndpointRole, Outcome};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LikeExpr};
use sea_orm::{ColumnTrait, Condition, Value};

use super::scalars::{Date, DateTime};
use crate::error::{ApiError, ApiResult};

/// Deepest and/or/not nesting a filter may have.
pub const MAX_FILTER_DEPTH: usize = 16;
/// Most conditions (operators) one filter may hold in all.
pub const MAX_FILTER_CONDITIONS: usize = 1_000;
/// Longest `in`/`notIn` list.
pub const MAX_IN_LIST: usize = 5_000;

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
pub struct RangeFilter<T: InputType + SqlValue> {
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

/// A filter operand as it is stored.
pub trait SqlValue {
    fn sql_value(&self) -> Value;
}

impl SqlValue for DateTime {
    fn sql_value(&self) -> Value {
        Value::from(self.0)
    }
}
impl SqlValue for Date {
    fn sql_value(&self) -> Value {
        Value::from(self.0)
    }
}
impl SqlValue for f64 {
    fn sql_value(&self) -> Value {
        Value::from(*self)
    }
}
impl SqlValue for i32 {
    fn sql_value(&self) -> Value {
        Value::from(*self)
    }
}

/// Counts what a filter costs while it is translated, to refuse hostile ones.
struct Budget {
    conditions: usize,
}

impl Budget {
    fn spend(&mut self, n: usize) -> ApiResult<()> {
        self.conditions += n;
        if self.conditions > MAX_FILTER_CONDITIONS {
            return Err(ApiError::bad_input(format!(
                "the filter has more than {MAX_FILTER_CONDITIONS} conditions"
            )));
        }
        Ok(())
    }

    fn list<T>(&mut self, field: &str, list: &[T]) -> ApiResult<()> {
        if list.len() > MAX_IN_LIST {
            return Err(ApiError::bad_input(format!(
                "the `in`/`notIn` list of `{field}` has {} values; at most {MAX_IN_LIST} are allowed",
                list.len()
            )));
        }
        self.spend(1)
    }
}

fn never() -> Expr {
    Expr::cust("1 = 0")
}

fn always() -> Expr {
    Expr::cust("1 = 1")
}

/// One column's conditions, made two-valued: positive operators require the value present,
/// negative ones accept it absent.
struct Atoms<C: ColumnTrait> {
    col: C,
    nullable: bool,
    all: Condition,
}

impl<C: ColumnTrait> Atoms<C> {
    fn new(col: C, nullable: bool) -> Self {
        Self {
            col,
            nullable,
            all: Condition::all(),
        }
    }

    fn positive(&mut self, expr: Expr) {
        self.all = std::mem::replace(&mut self.all, Condition::all()).add(if self.nullable {
            Condition::all().add(self.col.is_not_null()).add(expr)
        } else {
            Condition::all().add(expr)
        });
    }

    fn negative(&mut self, expr: Expr) {
        self.all = std::mem::replace(&mut self.all, Condition::all()).add(if self.nullable {
            Condition::any().add(self.col.is_null()).add(expr)
        } else {
            Condition::all().add(expr)
        });
    }

    fn is_null(&mut self, is_null: bool) {
        let expr = match (is_null, self.nullable) {
            (true, true) => self.col.is_null(),
            (false, true) => self.col.is_not_null(),
            (true, false) => never(),
            (false, false) => always(),
        };
        self.all = std::mem::replace(&mut self.all, Condition::all()).add(expr);
    }

    fn is_in(&mut self, values: Vec<Value>) {
        if values.is_empty() {
            self.positive(never());
        } else {
            let col = self.col;
            self.positive(col.is_in(values));
        }
    }

    fn not_in(&mut self, values: Vec<Value>) {
        if !values.is_empty() {
            let col = self.col;
            self.negative(col.is_not_in(values));
        }
    }
}

fn id_condition<C: ColumnTrait>(
    col: C,
    nullable: bool,
    field: &str,
    f: &IdFilter,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    let mut atoms = Atoms::new(col, nullable);
    let text = |id: &ID| Value::from(id.to_string());
    if let Some(v) = &f.eq {
        budget.spend(1)?;
        atoms.positive(col.eq(text(v)));
    }
    if let Some(v) = &f.ne {
        budget.spend(1)?;
        atoms.negative(col.ne(text(v)));
    }
    if let Some(list) = &f.in_ {
        budget.list(field, list)?;
        atoms.is_in(list.iter().map(text).collect());
    }
    if let Some(list) = &f.not_in {
        budget.list(field, list)?;
        atoms.not_in(list.iter().map(text).collect());
    }
    if let Some(is_null) = f.is_null {
        budget.spend(1)?;
        atoms.is_null(is_null);
    }
    Ok(atoms.all)
}

fn range_condition<C: ColumnTrait, T: InputType + SqlValue>(
    col: C,
    nullable: bool,
    f: &RangeFilter<T>,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    let mut atoms = Atoms::new(col, nullable);
    type Comparison<C> = fn(C, Value) -> Expr;
    let ops: [(&Option<T>, Comparison<C>); 5] = [
        (&f.eq, |c, v| c.eq(v)),
        (&f.gt, |c, v| c.gt(v)),
        (&f.gte, |c, v| c.gte(v)),
        (&f.lt, |c, v| c.lt(v)),
        (&f.lte, |c, v| c.lte(v)),
    ];
    for (operand, op) in ops {
        if let Some(v) = operand {
            budget.spend(1)?;
            atoms.positive(op(col, v.sql_value()));
        }
    }
    if let Some(v) = &f.ne {
        budget.spend(1)?;
        atoms.negative(col.ne(v.sql_value()));
    }
    if let Some(is_null) = f.is_null {
        budget.spend(1)?;
        atoms.is_null(is_null);
    }
    Ok(atoms.all)
}

fn boolean_condition<C: ColumnTrait>(
    col: C,
    f: &BooleanFilter,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    let mut atoms = Atoms::new(col, true);
    if let Some(v) = f.eq {
        budget.spend(1)?;
        atoms.positive(col.eq(v));
    }
    if let Some(is_null) = f.is_null {
        budget.spend(1)?;
        atoms.is_null(is_null);
    }
    Ok(atoms.all)
}

/// `eq`, `ne`, `in`, `notIn` on a non-null enum column.
fn enum_condition<C: ColumnTrait, E: sea_orm::ActiveEnum + Copy>(
    col: C,
    field: &str,
    eq: Option<E>,
    ne: Option<E>,
    in_: Option<&Vec<E>>,
    not_in: Option<&Vec<E>>,
    budget: &mut Budget,
) -> ApiResult<Condition>
where
    E::Value: Into<Value>,
{
    let mut atoms = Atoms::new(col, false);
    let value = |e: &E| -> Value { e.to_value().into() };
    if let Some(v) = eq {
        budget.spend(1)?;
        atoms.positive(col.eq(value(&v)));
    }
    if let Some(v) = ne {
        budget.spend(1)?;
        atoms.negative(col.ne(value(&v)));
    }
    if let Some(list) = in_ {
        budget.list(field, list)?;
        atoms.is_in(list.iter().map(value).collect());
    }
    if let Some(list) = not_in {
        budget.list(field, list)?;
        atoms.not_in(list.iter().map(value).collect());
    }
    Ok(atoms.all)
}

/// `%`, `_` and `\` in user text match themselves in a LIKE pattern.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// `folded` is the column's case-folded copy, which the case-insensitive operators match.
fn string_condition<C: ColumnTrait>(
    col: C,
    folded: Expr,
    f: &StringFilter,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    let mut atoms = Atoms::new(col, true);
    if let Some(v) = &f.eq {
        budget.spend(1)?;
        atoms.positive(col.eq(v.as_str()));
    }
    if let Some(v) = &f.ne {
        budget.spend(1)?;
        atoms.negative(col.ne(v.as_str()));
    }
    if let Some(list) = &f.in_ {
        budget.list("name", list)?;
        atoms.is_in(list.iter().map(|s| Value::from(s.clone())).collect());
    }
    let patterns = [
        f.starts_with
            .as_ref()
            .map(|v| format!("{}%", like_escape(v))),
        f.ends_with.as_ref().map(|v| format!("%{}", like_escape(v))),
        f.contains.as_ref().map(|v| format!("%{}%", like_escape(v))),
    ];
    for pattern in patterns.into_iter().flatten() {
        budget.spend(1)?;
        atoms.positive(folded.clone().like(LikeExpr::new(pattern).escape('\\')));
    }
    if let Some(is_null) = f.is_null {
        budget.spend(1)?;
        atoms.is_null(is_null);
    }
    Ok(atoms.all)
}

/// Shared and/or/not handling for both filter kinds.
fn combine<F>(
    own: Condition,
    and: Option<&Vec<F>>,
    or: Option<&Vec<F>>,
    not: Option<&F>,
    depth: usize,
    budget: &mut Budget,
    translate: fn(&F, usize, &mut Budget) -> ApiResult<Condition>,
) -> ApiResult<Condition> {
    if depth > MAX_FILTER_DEPTH {
        return Err(ApiError::bad_input(format!(
            "the filter nests and/or/not more than {MAX_FILTER_DEPTH} levels deep"
        )));
    }
    let mut all = own;
    if let Some(list) = and {
        for f in list {
            all = all.add(translate(f, depth + 1, budget)?);
        }
    }
    if let Some(list) = or {
        let mut any = Condition::any();
        for f in list {
            any = any.add(translate(f, depth + 1, budget)?);
        }
        all = all.add(if list.is_empty() {
            Condition::all().add(never())
        } else {
            any
        });
    }
    if let Some(f) = not {
        all = all.add(translate(f, depth + 1, budget)?.not());
    }
    Ok(all)
}

impl DialogueFilter {
    /// The SQL condition this filter stands for.
    pub fn condition(&self) -> ApiResult<Condition> {
        dialogue_condition(self, 0, &mut Budget { conditions: 0 })
    }
}

fn dialogue_condition(
    f: &DialogueFilter,
    depth: usize,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    use dialogue::Column as C;
    let mut all = Condition::all();
    let ids = [
        (&f.id, C::Id, false, "id"),
        (&f.ivr_id, C::IvrId, true, "ivrId"),
        (&f.queue_id, C::QueueId, true, "queueId"),
        (&f.customer_id, C::CustomerId, true, "customerId"),
        (&f.agent_id, C::AgentId, true, "agentId"),
    ];
    for (filter, col, nullable, field) in ids {
        if let Some(filter) = filter {
            all = all.add(id_condition(col, nullable, field, filter, budget)?);
        }
    }
    if let Some(filter) = &f.start_date {
        all = all.add(range_condition(C::StartDate, false, filter, budget)?);
    }
    let instants = [
        (&f.start_timestamp, C::StartTimestampMs, false),
        (&f.queue_enter_timestamp, C::QueueEnterTimestampMs, true),
        (&f.accept_timestamp, C::AcceptTimestampMs, true),
        (&f.end_timestamp, C::EndTimestampMs, true),
    ];
    for (filter, col, nullable) in instants {
        if let Some(filter) = filter {
            all = all.add(range_condition(col, nullable, filter, budget)?);
        }
    }
    let durations = [
        (&f.ivr_duration_in_sec, C::IvrDurationInSec),
        (&f.queue_duration_in_sec, C::QueueDurationInSec),
        (&f.initial_talk_duration_in_sec, C::InitialTalkDurationInSec),
        (&f.session_duration_in_sec, C::SessionDurationInSec),
    ];
    for (filter, col) in durations {
        if let Some(filter) = filter {
            all = all.add(range_condition(col, true, filter, budget)?);
        }
    }
    if let Some(filter) = &f.order_number {
        all = all.add(range_condition(C::OrderNumber, false, filter, budget)?);
    }
    if let Some(filter) = &f.direction {
        all = all.add(enum_condition(
            C::Direction,
            "direction",
            filter.eq,
            None,
            filter.in_.as_ref(),
            None,
            budget,
        )?);
    }
    if let Some(filter) = &f.outcome {
        all = all.add(enum_condition(
            C::Outcome,
            "outcome",
            filter.eq,
            filter.ne,
            filter.in_.as_ref(),
            filter.not_in.as_ref(),
            budget,
        )?);
    }
    if let Some(filter) = &f.in_sla {
        all = all.add(boolean_condition(C::InSla, filter, budget)?);
    }
    if let Some(filter) = &f.quick_drop {
        all = all.add(boolean_condition(C::QuickDrop, filter, budget)?);
    }
    combine(
        all,
        f.and.as_ref(),
        f.or.as_ref(),
        f.not.as_deref(),
        depth,
        budget,
        dialogue_condition,
    )
}

impl EndpointFilter {
    /// The SQL condition this filter stands for.
    pub fn condition(&self) -> ApiResult<Condition> {
        endpoint_condition(self, 0, &mut Budget { conditions: 0 })
    }
}

fn endpoint_condition(
    f: &EndpointFilter,
    depth: usize,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    use endpoint::Column as C;
    let mut all = Condition::all();
    if let Some(filter) = &f.id {
        all = all.add(id_condition(C::Id, false, "id", filter, budget)?);
    }
    if let Some(filter) = &f.role {
        all = all.add(enum_condition(
            C::Role,
            "role",
            filter.eq,
            None,
            filter.in_.as_ref(),
            None,
            budget,
        )?);
    }
    if let Some(filter) = &f.name {
        all = all.add(string_condition(
            C::Name,
            Expr::col((endpoint::Entity, Alias::new("name_search"))),
            filter,
            budget,
        )?);
    }
    combine(
        all,
        f.and.as_ref(),
        f.or.as_ref(),
        f.not.as_deref(),
        depth,
        budget,
        endpoint_condition,
    )
}
