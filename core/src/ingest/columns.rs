//! The columns the batch writer writes, and PostgreSQL's way of taking a batch: one array a
//! column, unpacked by `unnest` and bound in binary. PostgreSQL unpacks typed arrays faster
//! than it parses a JSON text of the same rows (bench/mutations.md), and the server writes no
//! JSON. The array binding (sea-query's) takes no null elements, so a null travels as a value
//! its column never holds (an empty id, the smallest BIGINT, NaN, -1 for a flag) and the SELECT
//! turns it back into null; a row that holds such a value itself is refused, never altered.
use sea_orm::sea_query::ArrayType;
use sea_orm::{DbErr, Value};

/// What a column holds, as the writer binds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Int,
    SmallInt,
    BigInt,
    NullableBigInt,
    NullableDouble,
    Text,
    NullableText,
    Date,
    NullableFlag,
}

/// One column: its name and what it holds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

pub(super) const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// The names of `columns`, in order.
pub(super) fn names(columns: &[Column]) -> Vec<&'static str> {
    columns.iter().map(|c| c.name).collect()
}

impl Kind {
    /// The array's SQL type.
    fn array(self) -> &'static str {
        match self {
            Kind::Int => "int4[]",
            Kind::SmallInt | Kind::NullableFlag => "int2[]",
            Kind::BigInt | Kind::NullableBigInt => "int8[]",
            Kind::NullableDouble => "float8[]",
            Kind::Text | Kind::NullableText => "text[]",
            Kind::Date => "date[]",
        }
    }

    fn array_type(self) -> ArrayType {
        match self {
            Kind::Int => ArrayType::Int,
            Kind::SmallInt | Kind::NullableFlag => ArrayType::SmallInt,
            Kind::BigInt | Kind::NullableBigInt => ArrayType::BigInt,
            Kind::NullableDouble => ArrayType::Double,
            Kind::Text | Kind::NullableText => ArrayType::String,
            Kind::Date => ArrayType::ChronoDate,
        }
    }

    /// The column's value from the array element `element`, null restored.
    fn select(self, element: &str) -> String {
        match self {
            Kind::NullableBigInt => format!("NULLIF({element}, {})", i64::MIN),
            Kind::NullableDouble => format!("NULLIF({element}, 'NaN'::float8)"),
            Kind::NullableText => format!("NULLIF({element}, '')"),
            Kind::NullableFlag => format!("CASE {element} WHEN 1 THEN TRUE WHEN 0 THEN FALSE END"),
            _ => element.to_string(),
        }
    }

    /// `value` as an element of this column's array: a null as its stand-in.
    fn element(self, column: &str, value: Value) -> Result<Value, DbErr> {
        let stands_for_null = || {
            DbErr::Custom(format!(
                "{column}: the value stands for null in a batch and cannot be written"
            ))
        };
        let never_null = || DbErr::Custom(format!("{column}: null in a column that is never"));
        Ok(match (self, value) {
            (Kind::Int, Value::Int(Some(v))) => Value::Int(Some(v)),
            (Kind::SmallInt, Value::SmallInt(Some(v))) => Value::SmallInt(Some(v)),
            (Kind::BigInt, Value::BigInt(Some(v))) => Value::BigInt(Some(v)),
            (Kind::NullableBigInt, Value::BigInt(Some(i64::MIN))) => return Err(stands_for_null()),
            (Kind::NullableBigInt, Value::BigInt(v)) => Value::BigInt(Some(v.unwrap_or(i64::MIN))),
            (Kind::NullableDouble, Value::Double(Some(v))) if v.is_nan() => {
                return Err(stands_for_null())
            }
            (Kind::NullableDouble, Value::Double(v)) => Value::Double(Some(v.unwrap_or(f64::NAN))),
            (Kind::Text, Value::String(Some(v))) => Value::String(Some(v)),
            (Kind::NullableText, Value::String(Some(v))) if v.is_empty() => {
                return Err(stands_for_null())
            }
            (Kind::NullableText, Value::String(v)) => Value::String(Some(v.unwrap_or_default())),
            (Kind::Date, Value::ChronoDate(Some(v))) => Value::ChronoDate(Some(v)),
            (Kind::NullableFlag, Value::Bool(v)) => Value::SmallInt(Some(v.map_or(-1, i16::from))),
            (Kind::Int, Value::Int(None))
            | (Kind::SmallInt, Value::SmallInt(None))
            | (Kind::BigInt, Value::BigInt(None))
            | (Kind::Text, Value::String(None))
            | (Kind::Date, Value::ChronoDate(None)) => return Err(never_null()),
            (kind, value) => {
                return Err(DbErr::Custom(format!(
                    "{column}: {value:?} is not a value of a {kind:?} column"
                )))
            }
        })
    }
}

/// `INSERT INTO table (columns) SELECT … FROM unnest($1::…[], …) AS r(…)`, the arrays bound
/// as parameters 1 to `columns.len()`.
pub(super) fn insert_from_arrays(table: &str, columns: &[Column]) -> String {
    let elements: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
    let selected: Vec<String> = columns
        .iter()
        .zip(&elements)
        .map(|(c, e)| c.kind.select(e))
        .collect();
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.kind.array()))
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS r({})",
        names(columns).join(", "),
        selected.join(", "),
        arrays.join(", "),
        elements.join(", ")
    )
}

/// The arrays of `rows`, one a column: `values_of` gives a row's values in column order.
pub(super) fn arrays<R>(
    columns: &[Column],
    rows: &[R],
    values_of: impl Fn(&R, &mut Vec<Value>),
) -> Result<Vec<Value>, DbErr> {
    let mut arrays: Vec<Vec<Value>> = columns
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    let mut row_values = Vec::with_capacity(columns.len());
    for row in rows {
        row_values.clear();
        values_of(row, &mut row_values);
        if row_values.len() != columns.len() {
            return Err(DbErr::Custom(format!(
                "{} values for {} columns",
                row_values.len(),
                columns.len()
            )));
        }
        for ((array, c), value) in arrays.iter_mut().zip(columns).zip(row_values.drain(..)) {
            array.push(c.kind.element(c.name, value)?);
        }
    }
    Ok(arrays
        .into_iter()
        .zip(columns)
        .map(|(array, c)| Value::Array(c.kind.array_type(), Some(Box::new(array))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_travel_as_stand_ins_and_a_stand_in_itself_is_refused() {
        let c = |kind| column("c", kind);
        let columns = [
            c(Kind::NullableBigInt),
            c(Kind::NullableDouble),
            c(Kind::NullableText),
            c(Kind::NullableFlag),
        ];
        let nulls = |_: &(), out: &mut Vec<Value>| {
            out.extend([
                Value::BigInt(None),
                Value::Double(None),
                Value::String(None),
                Value::Bool(None),
            ])
        };
        let arrays = arrays(&columns, &[()], nulls).expect("nulls");
        let element = |i: usize| match &arrays[i] {
            Value::Array(_, Some(elements)) => elements[0].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(element(0), Value::BigInt(Some(i64::MIN)));
        assert!(matches!(element(1), Value::Double(Some(v)) if v.is_nan()));
        assert_eq!(element(2), Value::String(Some(String::new())));
        assert_eq!(element(3), Value::SmallInt(Some(-1)));
        for (kind, value) in [
            (Kind::NullableBigInt, Value::BigInt(Some(i64::MIN))),
            (Kind::NullableDouble, Value::Double(Some(f64::NAN))),
            (Kind::NullableText, Value::String(Some(String::new()))),
            (Kind::Text, Value::String(None)),
            (Kind::Int, Value::BigInt(Some(1))),
        ] {
            assert!(
                kind.element("c", value.clone()).is_err(),
                "{kind:?} {value:?}"
            );
        }
        assert_eq!(
            insert_from_arrays("t", &[c(Kind::Int), column("d", Kind::NullableFlag)]),
            "INSERT INTO t (c, d) SELECT c1, CASE c2 WHEN 1 THEN TRUE WHEN 0 THEN FALSE END \
             FROM unnest($1::int4[], $2::int2[]) AS r(c1, c2)"
        );
    }
}
