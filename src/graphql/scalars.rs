//! `DateTime` (RFC 3339, output in UTC with `Z` and milliseconds) and `Date` (YYYY-MM-DD).
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use insights_core::time::{format_ms, parse_rfc3339_ms};

/// What a `DateTime` input must look like, told with every refusal of one.
pub const DATE_TIME_HINT: &str =
    "an RFC 3339 date-time with an offset, e.g. 2026-03-01T00:00:00Z or 2026-03-01T01:00:00+01:00";

/// What a `Date` input must look like.
pub const DATE_HINT: &str = "a date in the form YYYY-MM-DD, e.g. 2026-03-01";

/// An instant, held as UTC epoch milliseconds like the database holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub i64);

/// RFC 3339 instant. Output always UTC with a Z suffix and millisecond precision; input accepts any offset.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse_rfc3339_ms(text).map(DateTime).ok_or_else(|| {
                InputValueError::custom(format!("`{text}` is not {DATE_TIME_HINT}"))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(text) if parse_rfc3339_ms(text).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(format_ms(self.0))
    }
}

/// Calendar date, YYYY-MM-DD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
}

/// Calendar date, YYYY-MM-DD.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse_date(text)
                .map(Date)
                .ok_or_else(|| InputValueError::custom(format!("`{text}` is not {DATE_HINT}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(text) if parse_date(text).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
