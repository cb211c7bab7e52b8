//! Instants as stored (UTC epoch milliseconds) and their text forms.
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Parses RFC 3339 with any offset into UTC epoch milliseconds (sub-millisecond digits truncated).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// RFC 3339 in UTC with a `Z` and millisecond precision, as every `DateTime` is output.
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The UTC calendar date of an instant.
pub fn utc_date(ms: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.date_naive())
}

/// Seconds between two instants, at the millisecond precision they are stored with.
pub fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    (to_ms - from_ms) as f64 / 1000.0
}
