//! Relative stats windows (docs/api.md): `TODAY`, `LAST_WEEK`, ... resolved in the caller's zone at
//! the moment of the request, on local calendar days, so a DST day is 23 or 25 hours long.
use chrono::{Datelike, Duration, NaiveDate};
use chrono_tz::Tz;

use crate::buckets::{first_of_next_month, local_date, local_midnight};

const DAY_MS: i64 = 86_400_000;

/// A window that moves with the clock.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    /// Local midnight to the next local midnight.
    Today,
    /// The whole local day before today.
    Yesterday,
    /// The current ISO week, Monday 00:00 to the next Monday 00:00.
    ThisWeek,
    /// The whole ISO week before this one.
    LastWeek,
    /// The current calendar month, whole.
    ThisMonth,
    /// The whole calendar month before this one.
    LastMonth,
    /// The 24 hours before now: `[now − 24 h, now)`.
    Last24Hours,
    /// The 7 whole local days before today.
    Last7Days,
    /// The 30 whole local days before today.
    Last30Days,
}

/// A period resolved at one instant.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start instant (epoch ms).
    pub from: i64,
    /// Exclusive end instant (epoch ms).
    pub to: i64,
    /// When the same period next resolves to another window (a local midnight, Monday or 1st of
    /// a month); none for `LAST_24_HOURS`, which moves continuously.
    pub moves_at: Option<i64>,
}

impl Period {
    /// The window this period names at `now` (epoch ms) in `zone`.
    pub fn window(self, zone: Tz, now: i64) -> Window {
        let today = local_date(zone, now);
        let midnight = |date: NaiveDate| local_midnight(zone, date);
        let days = |n: i64| Duration::days(n);
        let monday = today - days(today.weekday().num_days_from_monday() as i64);
        let first = today.with_day(1).expect("day 1");
        let previous_first = (first - days(1)).with_day(1).expect("day 1");
        let next_first = first_of_next_month(first);
        let tomorrow = midnight(today + days(1));
        let (from, to, moves_at) = match self {
            Self::Today => (midnight(today), tomorrow, Some(tomorrow)),
            Self::Yesterday => (midnight(today - days(1)), midnight(today), Some(tomorrow)),
            Self::ThisWeek => {
                let next = midnight(monday + days(7));
                (midnight(monday), next, Some(next))
            }
            Self::LastWeek => (
                midnight(monday - days(7)),
                midnight(monday),
                Some(midnight(monday + days(7))),
            ),
            Self::ThisMonth => {
                let next = midnight(next_first);
                (midnight(first), next, Some(next))
            }
            Self::LastMonth => (
                midnight(previous_first),
                midnight(first),
                Some(midnight(next_first)),
            ),
            Self::Last24Hours => (now - DAY_MS, now, None),
            Self::Last7Days => (midnight(today - days(7)), midnight(today), Some(tomorrow)),
            Self::Last30Days => (midnight(today - days(30)), midnight(today), Some(tomorrow)),
        };
        Window { from, to, moves_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    fn window(period: Period, zone: &str, now: &str) -> (i64, i64, Option<i64>) {
        let w = period.window(zone.parse().unwrap(), ms(now));
        (w.from, w.to, w.moves_at)
    }

    #[test]
    fn today_on_amsterdam_spring_forward_day_is_23_hours() {
        let (from, to, moves) = window(Period::Today, "Europe/Amsterdam", "2026-03-29T12:00:00Z");
        assert_eq!(from, ms("2026-03-29T00:00:00+01:00"));
        assert_eq!(to, ms("2026-03-30T00:00:00+02:00"));
        assert_eq!(to - from, 23 * 3_600_000);
        assert_eq!(moves, Some(to));
    }

    #[test]
    fn local_day_is_not_the_utc_day() {
        // 20:00 UTC on the 10th is already the 11th in Kolkata (+05:30).
        let (from, to, _) = window(Period::Today, "Asia/Kolkata", "2026-06-10T20:00:00Z");
        assert_eq!(from, ms("2026-06-11T00:00:00+05:30"));
        assert_eq!(to, ms("2026-06-12T00:00:00+05:30"));
        let (from, to, _) = window(
            Period::Yesterday,
            "America/New_York",
            "2026-06-10T02:00:00Z",
        );
        assert_eq!(from, ms("2026-06-08T00:00:00-04:00"));
        assert_eq!(to, ms("2026-06-09T00:00:00-04:00"));
    }

    #[test]
    fn weeks_and_months() {
        // Wednesday 2026-11-04 in New York; the week crosses the November DST change.
        let now = "2026-11-04T15:00:00Z";
        let (from, to, moves) = window(Period::ThisWeek, "America/New_York", now);
        assert_eq!(from, ms("2026-11-02T00:00:00-05:00"));
        assert_eq!(to, ms("2026-11-09T00:00:00-05:00"));
        assert_eq!(moves, Some(to));
        let (from, to, moves) = window(Period::LastWeek, "America/New_York", now);
        assert_eq!(from, ms("2026-10-26T00:00:00-04:00"));
        assert_eq!(to, ms("2026-11-02T00:00:00-05:00"));
        assert_eq!(to - from, 7 * 86_400_000 + 3_600_000);
        assert_eq!(moves, Some(ms("2026-11-09T00:00:00-05:00")));
        let (from, to, _) = window(
            Period::ThisMonth,
            "Europe/Amsterdam",
            "2026-01-15T10:00:00Z",
        );
        assert_eq!(from, ms("2026-01-01T00:00:00+01:00"));
        assert_eq!(to, ms("2026-02-01T00:00:00+01:00"));
        let (from, to, moves) = window(
            Period::LastMonth,
            "Europe/Amsterdam",
            "2026-01-15T10:00:00Z",
        );
        assert_eq!(from, ms("2025-12-01T00:00:00+01:00"));
        assert_eq!(to, ms("2026-01-01T00:00:00+01:00"));
        assert_eq!(moves, Some(ms("2026-02-01T00:00:00+01:00")));
    }

    #[test]
    fn rolling_days_and_hours() {
        let now = "2026-03-31T06:30:00Z";
        let (from, to, _) = window(Period::Last7Days, "Europe/Amsterdam", now);
        assert_eq!(from, ms("2026-03-24T00:00:00+01:00"));
        assert_eq!(to, ms("2026-03-31T00:00:00+02:00"));
        let (from, to, _) = window(Period::Last30Days, "Asia/Kathmandu", now);
        assert_eq!(from, ms("2026-03-01T00:00:00+05:45"));
        assert_eq!(to, ms("2026-03-31T00:00:00+05:45"));
        let (from, to, moves) = window(Period::Last24Hours, "Asia/Kathmandu", now);
        assert_eq!((from, to, moves), (ms(now) - DAY_MS, ms(now), None));
    }
}
