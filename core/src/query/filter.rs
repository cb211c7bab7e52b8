//! Filters as plain data, and their one translation to SQL (docs/api.md). GraphQL's input objects,
//! OData's `$filter` and the subscriptions' filters all become a [`Filter`] tree, so every
//! front end means the same rows by the same words. Nothing is ever filtered in Rust after
//! fetching.
//!
//! Every atom is two-valued (true or false, never SQL NULL), so [`Filter::Not`] is the exact
//! complement of what it wraps; `Ne` and `NotIn` therefore match rows where the field is
//! absent, as OData's `ne` does. A relation filter ([`Filter::Related`]) is an `EXISTS`
//! semi-join, two-valued too.
//!
//! The dialogue's fields are declared in [`super::fields`].
use chrono::NaiveDate;
use entity::{endpoint, Direction, EndpointRole, Outcome};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{Condition, Value};

pub use super::fields::DialogueField;
use crate::error::{ApiError, ApiResult};

/// Most conditions (atoms) one filter may hold in all.
pub const MAX_FILTER_CONDITIONS: usize = 1_000;
/// Longest `in`/`notIn` list.
pub const MAX_IN_LIST: usize = 5_000;
/// Deepest nesting of all/any/not the core accepts (front ends set tighter limits of their own).
pub const MAX_TREE_DEPTH: usize = 64;

/// A boolean combination of comparisons on the fields `F`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter<F> {
    /// Every one holds (`All(vec![])` matches everything).
    All(Vec<Filter<F>>),
    /// At least one holds (`Any(vec![])` matches nothing).
    Any(Vec<Filter<F>>),
    /// The exact complement.
    Not(Box<Filter<F>>),
    /// One comparison on one field.
    Is(F, Op),
    /// The endpoint whose id the field `F` holds (an endpoint of the row's own tenant) matches
    /// the endpoint filter. False when the field is absent, so `Not` of it holds for rows
    /// without that endpoint. One `EXISTS` semi-join in the same statement.
    Related(F, Box<Filter<EndpointField>>),
}

impl<F> Filter<F> {
    /// `self AND other`.
    pub fn and(self, other: Filter<F>) -> Self {
        match self {
            Filter::All(mut list) => {
                list.push(other);
                Filter::All(list)
            }
            single => Filter::All(vec![single, other]),
        }
    }
}

impl<F: Copy> Filter<F> {
    /// The same tree over other fields (`None` from `map` for any field stops it: `Err` with
    /// that field).
    pub fn try_map<G>(&self, map: &impl Fn(F) -> Option<G>) -> Result<Filter<G>, F> {
        Ok(match self {
            Filter::All(list) => Filter::All(
                list.iter()
                    .map(|f| f.try_map(map))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Any(list) => Filter::Any(
                list.iter()
                    .map(|f| f.try_map(map))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Not(inner) => Filter::Not(Box::new(inner.try_map(map)?)),
            Filter::Is(field, op) => Filter::Is(map(*field).ok_or(*field)?, op.clone()),
            Filter::Related(field, inner) => {
                Filter::Related(map(*field).ok_or(*field)?, inner.clone())
            }
        })
    }
}

/// A comparison. Positive ones (`Eq`, `Gt`, `In`, `StartsWith`, ...) never match an absent
/// value; negative ones (`Ne`, `NotIn`) always do.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Operand),
    Ne(Operand),
    Gt(Operand),
    Gte(Operand),
    Lt(Operand),
    Lte(Operand),
    In(Vec<Operand>),
    NotIn(Vec<Operand>),
    /// `true`: the value is absent; `false`: it is present.
    IsNull(bool),
    /// Case-insensitive text operators (Unicode case folding).
    StartsWith(String),
    EndsWith(String),
    Contains(String),
}

/// A literal a field is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    /// An instant as epoch milliseconds.
    Instant(i64),
    Direction(Direction),
    Outcome(Outcome),
    Role(EndpointRole),
}

/// What a field holds, which decides the operands it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An identifier: exact text.
    Id,
    /// A name: exact text, and the case-insensitive text operators.
    Name,
    Int,
    Float,
    Bool,
    Date,
    Instant,
    Direction,
    Outcome,
    Role,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Id => "an id (text)",
            Kind::Name => "a text",
            Kind::Int => "an integer",
            Kind::Float => "a number",
            Kind::Bool => "true or false",
            Kind::Date => "a date",
            Kind::Instant => "a date-time",
            Kind::Direction => "a direction (INBOUND, OUTBOUND)",
            Kind::Outcome => "an outcome (ACCEPTED, ABANDONED, IVR_DROP)",
            Kind::Role => "a role (IVR, QUEUE, CUSTOMER, AGENT)",
        }
    }
}

/// A field a filter can compare: its column, whether it may be absent and what it holds.
pub trait Field: Copy + std::fmt::Debug {
    fn column(self) -> Expr;
    fn nullable(self) -> bool;
    fn kind(self) -> Kind;
    /// The name front ends use, for error messages.
    fn name(self) -> &'static str;
    /// The case-folded copy the case-insensitive operators match, for names.
    fn folded(self) -> Option<Expr> {
        None
    }
    /// For a field holding the id of an endpoint: the column of the row's tenant, which that
    /// endpoint shares ([`Filter::Related`]). `None`: the field refers to no endpoint.
    fn endpoint_tenant(self) -> Option<Expr> {
        None
    }
}

/// The fields of an endpoint a filter can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointField {
    Id,
    Role,
    Name,
}

impl Field for EndpointField {
    fn column(self) -> Expr {
        Expr::col((
            endpoint::Entity,
            match self {
                Self::Id => endpoint::Column::Id,
                Self::Role => endpoint::Column::Role,
                Self::Name => endpoint::Column::Name,
            },
        ))
    }

    fn nullable(self) -> bool {
        self == Self::Name
    }

    fn kind(self) -> Kind {
        match self {
            Self::Id => Kind::Id,
            Self::Role => Kind::Role,
            Self::Name => Kind::Name,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Role => "role",
            Self::Name => "name",
        }
    }

    fn folded(self) -> Option<Expr> {
        // Written by the importer with Unicode case folding (migration m0002).
        (self == Self::Name).then(|| Expr::col((endpoint::Entity, Alias::new("name_search"))))
    }
}

/// Counts what a filter costs while it is translated, to refuse hostile ones.
struct Budget {
    conditions: usize,
}

impl Budget {
    fn spend(&mut self) -> ApiResult<()> {
        self.conditions += 1;
        if self.conditions > MAX_FILTER_CONDITIONS {
            return Err(ApiError::bad_input(format!(
                "the filter has more than {MAX_FILTER_CONDITIONS} conditions"
            )));
        }
        Ok(())
    }
}

fn never() -> Expr {
    Expr::cust("1 = 0")
}

fn always() -> Expr {
    Expr::cust("1 = 1")
}

impl<F: Field> Filter<F> {
    /// The SQL condition this filter stands for.
    pub fn condition(&self) -> ApiResult<Condition> {
        translate(self, 0, &mut Budget { conditions: 0 })
    }
}

fn translate<F: Field>(
    filter: &Filter<F>,
    depth: usize,
    budget: &mut Budget,
) -> ApiResult<Condition> {
    if depth > MAX_TREE_DEPTH {
        return Err(ApiError::bad_input(format!(
            "the filter nests more than {MAX_TREE_DEPTH} levels deep"
        )));
    }
    Ok(match filter {
        Filter::All(list) => {
            let mut all = Condition::all().add(always());
            for f in list {
                all = all.add(translate(f, depth + 1, budget)?);
            }
            all
        }
        Filter::Any(list) => {
            let mut any = Condition::any().add(never());
            for f in list {
                any = any.add(translate(f, depth + 1, budget)?);
            }
            any
        }
        Filter::Not(inner) => translate(inner, depth + 1, budget)?.not(),
        Filter::Is(field, op) => {
            budget.spend()?;
            atom(*field, op)?
        }
        Filter::Related(field, inner) => {
            budget.spend()?;
            related(*field, translate(inner, depth + 1, budget)?)?
        }
    })
}

/// `EXISTS (SELECT 1 FROM endpoints WHERE endpoints.tenant_id = <the row's tenant> AND
/// endpoints.id = <field> AND <matching>)`: the database's semi-join (an index look-up by the
/// endpoints' key per row, or a hash of the matching endpoints), never ids fetched into the
/// server. The tenant is the row's own, so another tenant's endpoint of the same id never
/// matches; an absent id (NULL) matches no endpoint, so the atom is false, never NULL.
fn related<F: Field>(field: F, matching: Condition) -> ApiResult<Condition> {
    let tenant = field.endpoint_tenant().ok_or_else(|| {
        ApiError::bad_input(format!("`{}` does not refer to an endpoint", field.name()))
    })?;
    let endpoints = Query::select()
        .expr(Expr::cust("1"))
        .from(endpoint::Entity)
        .and_where(Expr::col((endpoint::Entity, endpoint::Column::TenantId)).eq(tenant))
        .and_where(Expr::col((endpoint::Entity, endpoint::Column::Id)).eq(field.column()))
        .cond_where(matching)
        .to_owned();
    Ok(Condition::all().add(Expr::exists(endpoints)))
}

/// The stored value of an operand compared with `field`, or why it cannot be compared.
fn value<F: Field>(field: F, operand: &Operand) -> ApiResult<Value> {
    let kind = field.kind();
    let value = match (kind, operand) {
        (Kind::Id | Kind::Name, Operand::Text(s)) => Some(Value::from(s.clone())),
        (Kind::Int, Operand::Int(i)) => Some(Value::from(*i)),
        (Kind::Float, Operand::Float(f)) => Some(Value::from(*f)),
        (Kind::Float, Operand::Int(i)) => Some(Value::from(*i as f64)),
        (Kind::Bool, Operand::Bool(b)) => Some(Value::from(*b)),
        (Kind::Date, Operand::Date(d)) => Some(Value::from(*d)),
        (Kind::Instant, Operand::Instant(ms)) => Some(Value::from(*ms)),
        (Kind::Direction, Operand::Direction(d)) => Some(Value::from(d.code())),
        (Kind::Outcome, Operand::Outcome(o)) => Some(Value::from(o.code())),
        (Kind::Role, Operand::Role(r)) => Some(Value::from(r.code())),
        _ => None,
    };
    value.ok_or_else(|| {
        ApiError::bad_input(format!(
            "`{}` is compared with {}, not with {operand:?}",
            field.name(),
            kind.describe()
        ))
    })
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

/// One comparison, two-valued: positive operators require the value present, negative ones
/// accept it absent.
fn atom<F: Field>(field: F, op: &Op) -> ApiResult<Condition> {
    let col = field.column();
    let nullable = field.nullable();
    let positive = |expr: Expr| -> Condition {
        if nullable {
            Condition::all().add(col.clone().is_not_null()).add(expr)
        } else {
            Condition::all().add(expr)
        }
    };
    let negative = |expr: Expr| -> Condition {
        if nullable {
            Condition::any().add(col.clone().is_null()).add(expr)
        } else {
            Condition::all().add(expr)
        }
    };
    let is_null = |wanted: bool| -> Condition {
        Condition::all().add(match (wanted, nullable) {
            (true, true) => col.clone().is_null(),
            (false, true) => col.clone().is_not_null(),
            (true, false) => never(),
            (false, false) => always(),
        })
    };
    let list = |operands: &[Operand]| -> ApiResult<Vec<Value>> {
        if operands.len() > MAX_IN_LIST {
            return Err(ApiError::bad_input(format!(
                "the `in`/`notIn` list of `{}` has {} values; at most {MAX_IN_LIST} are allowed",
                field.name(),
                operands.len()
            )));
        }
        operands.iter().map(|o| value(field, o)).collect()
    };
    let text = |pattern: String| -> ApiResult<Condition> {
        let folded = field.folded().ok_or_else(|| {
            ApiError::bad_input(format!(
                "`{}` is {}: startsWith, endsWith and contains are for names",
                field.name(),
                field.kind().describe()
            ))
        })?;
        Ok(positive(folded.like(LikeExpr::new(pattern).escape('\\'))))
    };
    Ok(match op {
        Op::Eq(Operand::Null) => is_null(true),
        Op::Ne(Operand::Null) => is_null(false),
        Op::Eq(v) => positive(col.clone().eq(value(field, v)?)),
        Op::Gt(v) => positive(col.clone().gt(value(field, v)?)),
        Op::Gte(v) => positive(col.clone().gte(value(field, v)?)),
        Op::Lt(v) => positive(col.clone().lt(value(field, v)?)),
        Op::Lte(v) => positive(col.clone().lte(value(field, v)?)),
        Op::Ne(v) => negative(col.clone().ne(value(field, v)?)),
        Op::In(operands) => {
            let values = list(operands)?;
            if values.is_empty() {
                Condition::all().add(never())
            } else {
                positive(col.clone().is_in(values))
            }
        }
        Op::NotIn(operands) => {
            let values = list(operands)?;
            if values.is_empty() {
                Condition::all().add(always())
            } else {
                negative(col.clone().is_not_in(values))
            }
        }
        Op::IsNull(wanted) => is_null(*wanted),
        Op::StartsWith(s) => text(format!("{}%", like_escape(s)))?,
        Op::EndsWith(s) => text(format!("%{}", like_escape(s)))?,
        Op::Contains(s) => text(format!("%{}%", like_escape(s)))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::dialogue;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    fn sql(filter: &Filter<DialogueField>) -> String {
        Query::select()
            .column(dialogue::Column::Id)
            .from(dialogue::Entity)
            .cond_where(filter.condition().unwrap())
            .to_string(PostgresQueryBuilder)
    }

    #[test]
    fn negative_operators_match_absent_values() {
        let text = sql(&Filter::Is(
            DialogueField::QueueId,
            Op::Ne(Operand::Text("q".into())),
        ));
        assert!(
            text.contains(r#""dialogues"."queue_id" IS NULL OR"#),
            "{text}"
        );
    }

    #[test]
    fn an_operand_of_the_wrong_kind_is_refused() {
        let error = Filter::Is(DialogueField::Outcome, Op::Eq(Operand::Text("x".into())))
            .condition()
            .unwrap_err();
        assert!(error
            .message()
            .contains("`outcome` is compared with an outcome"));
    }

    #[test]
    fn a_relation_is_a_semi_join_on_the_rows_own_tenant() {
        let filter = Filter::Not(Box::new(Filter::Related(
            DialogueField::AgentId,
            Box::new(Filter::Is(EndpointField::Name, Op::Contains("Jan".into()))),
        )));
        let text = sql(&filter);
        assert!(
            text.contains(
                r#"NOT EXISTS(SELECT 1 FROM "endpoints" WHERE "endpoints"."tenant_id" = "dialogues"."tenant_id" AND "endpoints"."id" = "dialogues"."agent_id" AND "endpoints"."name" IS NOT NULL AND "endpoints"."name_search" LIKE '%jan%' ESCAPE E'\\')"#
            ),
            "{text}"
        );
        let sqlite = Query::select()
            .column(dialogue::Column::Id)
            .from(dialogue::Entity)
            .cond_where(filter.condition().unwrap())
            .to_string(SqliteQueryBuilder);
        assert!(
            sqlite.contains("NOT EXISTS(SELECT 1 FROM \"endpoints\""),
            "{sqlite}"
        );
        // An `or` inside keeps its parentheses under the ANDs of the semi-join.
        let text = sql(&Filter::Related(
            DialogueField::QueueId,
            Box::new(Filter::Any(vec![
                Filter::Is(EndpointField::Id, Op::Eq(Operand::Text("a".into()))),
                Filter::Is(EndpointField::Id, Op::Eq(Operand::Text("b".into()))),
            ])),
        ));
        let inner = text
            .split(r#""dialogues"."queue_id" AND "#)
            .nth(1)
            .expect("the relation's condition");
        assert!(
            inner.starts_with('(')
                && inner.ends_with(r#" OR "endpoints"."id" = 'a' OR "endpoints"."id" = 'b'))"#),
            "{text}"
        );
    }

    #[test]
    fn only_endpoint_ids_have_relations() {
        let error = Filter::Related(DialogueField::Outcome, Box::new(Filter::All(Vec::new())))
            .condition()
            .unwrap_err();
        assert!(error
            .message()
            .contains("`outcome` does not refer to an endpoint"));
        let nested: Filter<EndpointField> =
            Filter::Related(EndpointField::Id, Box::new(Filter::All(Vec::new())));
        assert!(nested.condition().is_err());
    }

    #[test]
    fn empty_any_matches_nothing_and_its_complement_everything() {
        let none = sql(&Filter::Any(Vec::new()));
        assert!(none.contains("1 = 0"), "{none}");
        let all = sql(&Filter::Not(Box::new(Filter::Any(Vec::new()))));
        assert!(all.contains("NOT"), "{all}");
    }
}
