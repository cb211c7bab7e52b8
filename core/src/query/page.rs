//! Relay connections over keyset cursors (never OFFSET): a cursor holds the sort-key values of
//! its row, and the next page starts strictly after them, so page 10,000 costs what page 1 costs.
//!
//! NULLs sort last in ascending and first in descending order on both databases; that rule is
//! closed under reversal, which lets `last`/`before` reuse the forward machinery on the
//! reversed order.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sea_orm::sea_query::{Expr, ExprTrait, NullOrdering, Order};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Select, Value};
use serde_json::json;

use crate::error::{ApiError, ApiResult, Arg, Wording};

/// Where a page stands (Relay's page information).
#[derive(Clone, Debug, Default)]
pub struct PageInfo {
    /// More items follow the last one returned.
    pub has_next_page: bool,
    /// More items precede the first one returned.
    pub has_previous_page: bool,
    /// Cursor of the first item returned.
    pub start_cursor: Option<String>,
    /// Cursor of the last item returned.
    pub end_cursor: Option<String>,
}

/// How a sort key's values are held in a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Float,
    Text,
}

/// One column of a sort order.
#[derive(Debug, Clone, Copy)]
pub struct SortKey<C> {
    pub col: C,
    pub name: &'static str,
    pub nullable: bool,
    pub kind: KeyKind,
    pub descending: bool,
}

/// A sort-key value of one row, as it goes into a cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

impl From<Option<i64>> for KeyValue {
    fn from(v: Option<i64>) -> Self {
        v.map_or(KeyValue::Null, KeyValue::Int)
    }
}
impl From<Option<f64>> for KeyValue {
    fn from(v: Option<f64>) -> Self {
        v.map_or(KeyValue::Null, KeyValue::Float)
    }
}
impl From<Option<String>> for KeyValue {
    fn from(v: Option<String>) -> Self {
        v.map_or(KeyValue::Null, KeyValue::Text)
    }
}

impl KeyValue {
    fn json(&self) -> serde_json::Value {
        match self {
            KeyValue::Null => serde_json::Value::Null,
            KeyValue::Int(i) => json!(i),
            KeyValue::Float(f) => json!(f),
            KeyValue::Text(s) => json!(s),
        }
    }

    fn from_json(kind: KeyKind, nullable: bool, value: &serde_json::Value) -> Option<Self> {
        match (kind, value) {
            (_, serde_json::Value::Null) if nullable => Some(KeyValue::Null),
            (KeyKind::Int, v) => v.as_i64().map(KeyValue::Int),
            (KeyKind::Float, v) => v.as_f64().map(KeyValue::Float),
            (KeyKind::Text, v) => v.as_str().map(|s| KeyValue::Text(s.to_string())),
        }
    }

    fn sql(&self) -> Value {
        match self {
            KeyValue::Null => Value::String(None),
            KeyValue::Int(i) => Value::from(*i),
            KeyValue::Float(f) => Value::from(*f),
            KeyValue::Text(s) => Value::from(s.clone()),
        }
    }
}

/// `first`/`after`/`last`/`before` as a request gives them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    pub size: usize,
    pub backward: bool,
    pub cursor: Option<Vec<KeyValue>>,
}

/// Page-size bounds in force.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default_size: usize,
    pub max_size: usize,
}

/// The signature of an order: a cursor is only valid for the order it was made in.
pub fn signature<C>(keys: &[SortKey<C>]) -> String {
    keys.iter()
        .map(|k| format!("{}:{}", k.name, if k.descending { "D" } else { "A" }))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn encode_cursor<C>(keys: &[SortKey<C>], values: &[KeyValue]) -> String {
    let body =
        json!({ "o": signature(keys), "k": values.iter().map(KeyValue::json).collect::<Vec<_>>() });
    URL_SAFE_NO_PAD.encode(body.to_string())
}

fn decode_cursor<C>(keys: &[SortKey<C>], cursor: &str, argument: Arg) -> ApiResult<Vec<KeyValue>> {
    let malformed = || {
        ApiError::bad_input(
            Wording::arg(argument)
                .then(" is not a ")
                .then_arg(Arg::Cursor)
                .then(" this API handed out"),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| malformed())?;
    let body: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    if body.get("o").and_then(|o| o.as_str()) != Some(signature(keys).as_str()) {
        return Err(ApiError::bad_input(
            Wording::arg(argument)
                .then(" is a ")
                .then_arg(Arg::Cursor)
                .then(" of a different ")
                .then_arg(Arg::OrderBy)
                .then("; keep the ")
                .then_arg(Arg::OrderBy)
                .then(" the ")
                .then_arg(Arg::Cursor)
                .then(" was made with"),
        ));
    }
    let values = body
        .get("k")
        .and_then(|k| k.as_array())
        .ok_or_else(malformed)?;
    if values.len() != keys.len() {
        return Err(malformed());
    }
    keys.iter()
        .zip(values)
        .map(|(key, value)| {
            KeyValue::from_json(key.kind, key.nullable, value).ok_or_else(malformed)
        })
        .collect()
}

/// Validates the page arguments (docs/api.md).
pub fn page<C>(args: &PageArgs, keys: &[SortKey<C>], limits: PageLimits) -> ApiResult<Page> {
    let forward_args = args.first.is_some() || args.after.is_some();
    let backward_args = args.last.is_some() || args.before.is_some();
    if forward_args && backward_args {
        return Err(ApiError::bad_input(
            Wording::text("use either ")
                .then_arg(Arg::First)
                .then("/")
                .then_arg(Arg::After)
                .then(" (forward) or ")
                .then_arg(Arg::Last)
                .then("/")
                .then_arg(Arg::Before)
                .then(" (backward), not both"),
        ));
    }
    let check = |name: Arg, n: Option<i32>| -> ApiResult<usize> {
        match n {
            None => Ok(limits.default_size),
            Some(n) if n < 0 => Err(ApiError::bad_input(
                Wording::arg(name).then(format!(" must not be negative (got {n})")),
            )),
            Some(n) if n as usize > limits.max_size => Err(ApiError::bad_input(
                Wording::arg(name)
                    .then(format!(
                        " is {n}; at most {} items can be asked for at once: page with the ",
                        limits.max_size
                    ))
                    .then_arg(Arg::Cursor)
                    .then("s"),
            )),
            Some(n) => Ok(n as usize),
        }
    };
    if backward_args {
        Ok(Page {
            size: check(Arg::Last, args.last)?,
            backward: true,
            cursor: args
                .before
                .as_deref()
                .map(|c| decode_cursor(keys, c, Arg::Before))
                .transpose()?,
        })
    } else {
        Ok(Page {
            size: check(Arg::First, args.first)?,
            backward: false,
            cursor: args
                .after
                .as_deref()
                .map(|c| decode_cursor(keys, c, Arg::After))
                .transpose()?,
        })
    }
}

/// The rows strictly after `values` in the order `keys` (directions already effective).
fn seek<C: ColumnTrait>(keys: &[(SortKey<C>, bool)], values: &[KeyValue]) -> Condition {
    // Fast path: every key present and in one direction becomes a row-value comparison, which
    // both databases answer with one index range scan.
    let all_present = keys
        .iter()
        .zip(values)
        .all(|((k, _), v)| !k.nullable || *v != KeyValue::Null);
    let one_direction = keys.windows(2).all(|w| w[0].1 == w[1].1);
    if all_present && one_direction && keys.iter().all(|(k, _)| !k.nullable) {
        let cols = Expr::tuple(keys.iter().map(|(k, _)| Expr::col(k.col.as_column_ref())));
        let vals = Expr::tuple(values.iter().map(|v| Expr::value(v.sql())));
        return Condition::all().add(if keys[0].1 {
            cols.lt(vals)
        } else {
            cols.gt(vals)
        });
    }
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let (key, descending) = keys[i];
        let value = &values[i];
        // The i-th key moves past its value while all before it stay equal.
        let after = match (descending, value) {
            (false, KeyValue::Null) => None, // nulls come last ascending: nothing after
            (false, v) => Some(if key.nullable {
                Condition::any()
                    .add(key.col.gt(v.sql()))
                    .add(key.col.is_null())
            } else {
                Condition::all().add(key.col.gt(v.sql()))
            }),
            (true, KeyValue::Null) => Some(Condition::all().add(key.col.is_not_null())),
            (true, v) => Some(Condition::all().add(key.col.lt(v.sql()))),
        };
        let Some(after) = after else { continue };
        let mut branch = Condition::all();
        for j in 0..i {
            let (prior, _) = keys[j];
            branch = branch.add(match &values[j] {
                KeyValue::Null => prior.col.is_null(),
                v => prior.col.eq(v.sql()),
            });
        }
        any = any.add(branch.add(after));
    }
    any
}

/// Applies order and seek; the statement built from it gets [`limit_clause`] at its end.
pub fn apply<E: EntityTrait>(
    mut select: Select<E>,
    keys: &[SortKey<E::Column>],
    page: &Page,
) -> Select<E> {
    let effective: Vec<(SortKey<E::Column>, bool)> = keys
        .iter()
        .map(|k| (*k, k.descending != page.backward))
        .collect();
    if let Some(values) = &page.cursor {
        select = select.filter(seek(&effective, values));
    }
    for (key, descending) in &effective {
        let (order, nulls) = if *descending {
            (Order::Desc, NullOrdering::First)
        } else {
            (Order::Asc, NullOrdering::Last)
        };
        select = select.order_by_with_nulls(key.col, order, nulls);
    }
    select
}

/// ` LIMIT n` for a page (one extra row tells whether more follow), written into the SQL text
/// rather than bound: with the limit a literal, PostgreSQL's plan for a prepared page statement
/// no longer depends on a parameter's value, so it plans once per connection instead of on every
/// execution. The size is validated and bounded, never free text.
pub fn limit_clause(page: &Page) -> String {
    format!(" LIMIT {}", page.size + 1)
}

/// ` OFFSET n` when rows are to be skipped (OData's `$skip`), else nothing; after
/// [`limit_clause`]. A number, never free text.
pub fn offset_clause(skip: u64) -> String {
    if skip == 0 {
        String::new()
    } else {
        format!(" OFFSET {skip}")
    }
}

/// Trims the extra row, restores forward order and computes the page info.
/// Only the first and last rows' cursors are made here; the others only when asked for (most
/// clients read `nodes` and `pageInfo`, not every edge's cursor).
pub fn finish<T>(
    mut rows: Vec<T>,
    page: &Page,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, PageInfo) {
    let more = rows.len() > page.size;
    rows.truncate(page.size);
    if page.backward {
        rows.reverse();
    }
    // A cursor stands for a row that exists, so there is something on its other side.
    let info = PageInfo {
        has_next_page: if page.backward {
            page.cursor.is_some()
        } else {
            more
        },
        has_previous_page: if page.backward {
            more
        } else {
            page.cursor.is_some()
        },
        start_cursor: rows.first().map(&cursor_of),
        end_cursor: rows.last().map(&cursor_of),
    };
    (rows, info)
}
